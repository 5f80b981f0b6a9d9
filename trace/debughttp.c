/*
 * trace/debughttp.c -- rt_debug_serve: Go's net/http/pprof endpoints, so
 * that `go tool pprof http://HOST:PORT/debug/pprof/heap` works against a
 * running C program.
 *
 * Endpoints (PPROF.md "HTTP"):
 *   /debug/pprof/                   an index page
 *   /debug/pprof/cmdline            the arguments, NUL-separated
 *   /debug/pprof/profile?seconds=N  a CPU profile of N seconds (30 when
 *                                   absent, as Go); 500 if one is running
 *   /debug/pprof/{heap,allocs,block,mutex,goroutine,threadcreate}?debug=N
 *                                   rt_pprof_write; heap?gc=1 collects first
 *   /debug/pprof/symbol             GET: "num_symbols: 1"; POST "0xA+0xB":
 *                                   "0xA name" lines.  pprof fails the whole
 *                                   fetch if this is missing.
 *   anything else                   404 (/debug/pprof/trace included: grt
 *                                   has no execution tracer).
 *
 * Threads, not goroutines: the server must answer while every goroutine
 * is busy or blocked (that is when one profiles), it blocks in accept and
 * read, and a CPU profile request sleeps for seconds.  One listener thread
 * accepts; each connection gets a detached thread of its own and is
 * closed after one response (HTTP/1.0 style, Connection: close).  The
 * threads block every signal (SIGPROF goes to Ms only).  They are not Ms:
 * rt_pprof_write from them takes the unstopped paths (goroutine stacks are
 * walked while their goroutines stay parked, memstats read racily), as Go
 * 1.3 does for tracebacks outside a stopped world.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "trace/trace.h"

#define REQ_MAX (64 * 1024)

static void send_str(int fd, const char *s)
{
    (void)rt__write_all(fd, s, strlen(s));
}

static void send_head(int fd, int code, const char *reason, const char *type)
{
    char h[256];
    snprintf(h, sizeof h,
             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n"
             "Connection: close\r\n\r\n",
             code, reason, type);
    send_str(fd, h);
}

static void send_error(int fd, int code, const char *reason, const char *msg)
{
    send_head(fd, code, reason, "text/plain; charset=utf-8");
    send_str(fd, msg);
    send_str(fd, "\n");
}

/* The value of key in a query string ("a=1&b=2"), or NULL; copied to out. */
static const char *query_get(const char *q, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    for (const char *s = q; s && *s; s = strchr(s, '&') ? strchr(s, '&') + 1 : NULL) {
        if (strncmp(s, key, kl) == 0 && s[kl] == '=') {
            size_t l = strcspn(s + kl + 1, "&");
            if (l >= n)
                l = n - 1;
            memcpy(out, s + kl + 1, l);
            out[l] = 0;
            return out;
        }
    }
    return NULL;
}

static void serve_cmdline(int fd)
{
    send_head(fd, 200, "OK", "text/plain; charset=utf-8");
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f == NULL)
        return;
    char buf[4096];
    size_t k = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (k > 0 && buf[k - 1] == 0)
        k--; /* Go joins the arguments with NULs, no trailing one */
    (void)rt__write_all(fd, buf, k);
}

static void serve_index(int fd)
{
    static const char *const names[] = {"allocs", "block",        "cmdline", "goroutine",
                                        "heap",   "mutex",        "profile", "symbol",
                                        "threadcreate"};
    send_head(fd, 200, "OK", "text/html; charset=utf-8");
    send_str(fd, "<html><head><title>/debug/pprof/</title></head><body>\n"
                 "/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<ul>\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "<li><a href=\"%s?debug=1\">%s</a></li>\n", names[i],
                 names[i]);
        send_str(fd, line);
    }
    send_str(fd, "</ul>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n"
                 "</body></html>\n");
}

static void serve_profile(int fd, const char *query)
{
    char v[32];
    long secs = 30;
    if (query_get(query, "seconds", v, sizeof v)) {
        secs = atol(v);
        if (secs <= 0)
            secs = 30;
    }
    send_head(fd, 200, "OK", "application/octet-stream");
    int err = rt_pprof_start_cpu(fd);
    if (err != 0) {
        /* headers are out: Go answers 500 before them; here the body
         * carries the reason and pprof rejects it as not a profile */
        send_str(fd, "Could not enable CPU profiling: cpu profiling already in use\n");
        return;
    }
    struct timespec ts = {secs, 0};
    while (nanosleep(&ts, &ts) != 0)
        ;
    rt_pprof_stop_cpu();
}

/* POST body "0x1+0x2" (or GET query) -> "0x1 name" lines. */
static void serve_symbol(int fd, const char *body)
{
    send_head(fd, 200, "OK", "text/plain; charset=utf-8");
    if (body == NULL || *body == 0) {
        send_str(fd, "num_symbols: 1\n");
        return;
    }
    rt__pbuf out = {0};
    const char *s = body;
    while (*s) {
        char *e;
        unsigned long long pc = strtoull(s, &e, 0);
        if (e == s)
            break;
        rt__sym sym;
        if (rt__symbolize((uintptr_t)pc, &sym) && sym.name != NULL)
            rt__pbuf_printf(&out, "%#llx %s\n", pc, sym.name);
        s = e;
        while (*s == '+' || *s == ' ' || *s == '\n' || *s == '\r')
            s++;
    }
    if (!out.oom && out.n > 0)
        (void)rt__write_all(fd, out.b, out.n);
    rt__pbuf_free(&out);
}

static void serve_named(int fd, const char *name, const char *query)
{
    char v[32];
    int debug = query_get(query, "debug", v, sizeof v) ? atoi(v) : 0;
    if (strcmp(name, "heap") == 0 && query_get(query, "gc", v, sizeof v) && atoi(v) > 0)
        rt_gc();
    send_head(fd, 200, "OK",
              debug > 0 ? "text/plain; charset=utf-8" : "application/octet-stream");
    (void)rt_pprof_write(name, fd, debug);
}

static void handle(int fd)
{
    char *req = malloc(REQ_MAX + 1);
    if (req == NULL)
        return;
    size_t n = 0;
    char *body = NULL;
    size_t clen = 0;
    for (;;) {
        ssize_t k = read(fd, req + n, REQ_MAX - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        req[n] = 0;
        char *end = strstr(req, "\r\n\r\n");
        if (end == NULL) {
            if (n == REQ_MAX)
                break;
            continue;
        }
        body = end + 4;
        const char *cl = strcasestr(req, "\r\nContent-Length:");
        clen = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
        if ((size_t)(req + n - body) >= clen || n == REQ_MAX)
            break;
    }
    req[n] = 0;
    char method[8] = "", target[2048] = "";
    if (body == NULL || sscanf(req, "%7s %2047s", method, target) != 2) {
        send_error(fd, 400, "Bad Request", "bad request");
        free(req);
        return;
    }
    if (clen < (size_t)(req + n - body))
        body[clen] = 0;
    char *query = strchr(target, '?');
    if (query != NULL)
        *query++ = 0;
    const char *prefix = "/debug/pprof/";
    size_t pl = strlen(prefix);
    const char *name = strncmp(target, prefix, pl) == 0 ? target + pl : NULL;
    if (name == NULL) {
        send_error(fd, 404, "Not Found", "404 page not found");
    } else if (*name == 0) {
        serve_index(fd);
    } else if (strcmp(name, "cmdline") == 0) {
        serve_cmdline(fd);
    } else if (strcmp(name, "profile") == 0) {
        serve_profile(fd, query);
    } else if (strcmp(name, "symbol") == 0) {
        serve_symbol(fd, strcmp(method, "POST") == 0 ? body : query);
    } else if (strcmp(name, "heap") == 0 || strcmp(name, "allocs") == 0 ||
               strcmp(name, "block") == 0 || strcmp(name, "mutex") == 0 ||
               strcmp(name, "goroutine") == 0 || strcmp(name, "threadcreate") == 0) {
        serve_named(fd, name, query);
    } else {
        send_error(fd, 404, "Not Found", "Unknown profile");
    }
    free(req);
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    handle(fd);
    shutdown(fd, SHUT_WR);
    close(fd);
    return NULL;
}

static void *listen_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
            break;
        }
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, (void *)(intptr_t)fd) != 0)
            close(fd);
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
    return port;
}
