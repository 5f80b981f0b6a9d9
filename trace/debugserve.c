/*
 * trace/debugserve.c -- rt_debug_serve: the socket transport of the debug
 * server.  What is served, and how a request is parsed, is debughttp.c's
 * business; this file accepts connections, gives each one a thread, and
 * enforces what only a transport can: the read deadline, the number of
 * connections, and writes that cannot block forever or raise SIGPIPE.
 *
 * Threads, not goroutines (docs/debug-server.md): grt cannot preempt C
 * code, so a server on goroutines would not answer while every P runs a
 * busy goroutine -- exactly when one wants a CPU profile -- nor while the
 * program is deadlocked or stuck in a long cgo-like call.  The server's
 * threads are plain pthreads, not Ms: they never run goroutines, never
 * hold a P, and reach the runtime only through the paths it offers to
 * foreign threads (rt_pprof_write walks goroutine stacks while their
 * goroutines stay parked, rt_read_memstats reads racily, rt_gc hands the
 * cycle to a goroutine and waits).  They block every signal, so SIGPROF
 * and the collector's SIGURG only ever land on Ms.
 *
 * One listener thread accepts; each connection gets a detached thread and
 * is closed after one response.  Limits:
 *   - RT_DH_READ_TIMEOUT_NS from accept to a complete request, however
 *     the bytes trickle in (slow loris): poll() against one absolute
 *     deadline, then 408 and close.
 *   - MAX_CONNS connections at once: the listener answers the next one
 *     with 503 itself (a non-blocking send of a few hundred bytes) and
 *     closes it, so a flood costs no threads.
 *   - Writes go out with MSG_NOSIGNAL (a client that hangs up must not
 *     kill the program with SIGPIPE) and SO_SNDTIMEO (a client that stops
 *     reading frees its thread after WRITE_TIMEOUT).
 * The CPU profile's wait polls the socket, so a client that hangs up ends
 * the profile early, as Go's request context does.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "trace/trace.h"

#define MAX_CONNS 16            /* connections served at once; more: 503 */
#define WRITE_TIMEOUT_S 30      /* a client that stops reading */

static _Atomic int nconns; /* connection threads alive, all servers */

typedef struct conn {
    int fd;
    int64_t deadline; /* rt_nanotime() by which the request must be in */
} conn;

static ssize_t conn_read(void *ctx, void *buf, size_t n)
{
    conn *c = ctx;
    for (;;) {
        int64_t left = c->deadline - rt_nanotime();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int ms = (int)((left + RT_MILLISECOND - 1) / RT_MILLISECOND);
        int k = poll(&pfd, 1, ms);
        if (k < 0 && errno != EINTR)
            return -errno;
        if (k <= 0)
            continue; /* the deadline check above decides */
        ssize_t got = recv(c->fd, buf, n, 0);
        if (got >= 0)
            return got;
        if (errno != EINTR && errno != EAGAIN)
            return -errno;
    }
}

static int conn_write(void *ctx, const void *buf, size_t n)
{
    conn *c = ctx;
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno; /* EAGAIN: SO_SNDTIMEO ran out */
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sleeps ns; false as soon as the client hangs up (readable with nothing
 * to read, or an error). */
static bool conn_wait(void *ctx, int64_t ns)
{
    conn *c = ctx;
    int64_t end = rt_nanotime() + ns;
    for (;;) {
        int64_t left = end - rt_nanotime();
        if (left <= 0)
            return true;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
        int64_t ms = (left + RT_MILLISECOND - 1) / RT_MILLISECOND;
        int k = poll(&pfd, 1, ms > 1000 ? 1000 : (int)ms);
        if (k > 0) {
            char b[256];
            if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
                return false;
            /* bytes after the request (pipelining): drop them */
            if (recv(c->fd, b, sizeof b, MSG_DONTWAIT) == 0)
                return false;
        }
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    rt__dh_io io = {conn_read, conn_write, conn_wait, c};
    (void)rt__dh_serve_conn(&io);
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    free(c);
    atomic_fetch_sub(&nconns, 1);
    return NULL;
}

static ssize_t no_read(void *ctx, void *buf, size_t n)
{
    (void)ctx, (void)buf, (void)n;
    return 0;
}

static bool no_wait(void *ctx, int64_t ns)
{
    (void)ctx, (void)ns;
    return false;
}

static void refuse(int fd)
{
    /* the listener must not block: the 503 fits any socket buffer, and a
     * peer that cannot take it loses it */
    struct timeval t = {.tv_sec = 0, .tv_usec = 100000};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
    conn c = {fd, 0};
    rt__dh_io io = {no_read, conn_write, no_wait, &c};
    rt__dh_send_error(&io, 503, "too many connections");
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *listen_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                errno == ENFILE || errno == ENOBUFS || errno == ENOMEM || errno == EPROTO) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
            break;
        }
        if (atomic_fetch_add(&nconns, 1) >= MAX_CONNS) {
            atomic_fetch_sub(&nconns, 1);
            refuse(fd);
            continue;
        }
        struct timeval wt = {.tv_sec = WRITE_TIMEOUT_S};
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof wt);
        conn *c = malloc(sizeof *c);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (c != NULL) {
            c->fd = fd;
            c->deadline = rt_nanotime() + RT_DH_READ_TIMEOUT_NS;
        }
        if (c == NULL || pthread_create(&t, &attr, conn_main, c) != 0) {
            free(c);
            atomic_fetch_sub(&nconns, 1);
            refuse(fd);
        }
        pthread_attr_destroy(&attr);
    }
    close(lfd);
    return NULL;
}

int rt_debug_serve(const char *addr)
{
    if (addr == NULL)
        return -EINVAL;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return -EINVAL;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:6060 */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (gai != 0)
        return gai == EAI_SYSTEM ? -errno : -EINVAL;
    int lfd = -1, err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        lfd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (lfd < 0) {
            err = -errno;
            continue;
        }
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(lfd, 64) == 0)
            break;
        err = -errno;
        close(lfd);
        lfd = -1;
    }
    freeaddrinfo(res);
    if (lfd < 0)
        return err;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = 0;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* no signals for the server's threads (they inherit this mask) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, listen_main, (void *)(intptr_t)lfd);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(lfd);
        return -rc;
    }
    /* The collector takes GOGC from the environment on first use; make
     * that happen now, so that /debug/grt/settings reads the percent in
     * force (a goroutine caller stops the world once, briefly). */
    rt_memstats *ms = malloc(sizeof *ms);
    if (ms != NULL)
        rt_read_memstats(ms);
    free(ms);
    return port;
}
