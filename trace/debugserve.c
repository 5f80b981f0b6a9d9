/*
 * trace/debugserve.c -- rt_debug_serve: the transport of the debug server,
 * on goroutines and grt's own netpoller, the way net/http serves Go's
 * net/http/pprof.  What is served, and how a request is parsed, is
 * debughttp.c's business; this file binds the socket, accepts connections,
 * gives each one a goroutine, and enforces what only a transport can: the
 * read deadline, the number of connections, and writes that cannot block
 * forever or raise SIGPIPE.
 *
 * The shape is Go's http.Server:
 *   - rt_debug_serve binds and listens on the calling thread with plain
 *     socket calls, so that it returns the port (or why not) at once from
 *     wherever it is called: a goroutine, a thread of the program's own, or
 *     main() before rt_main.  The socket then goes to a listener goroutine,
 *     which wraps it in an rt_listener (rt__net_listener_fd, Go's
 *     net.FileListener) and parks in rt_net_accept: "IO wait" in its
 *     traceback, no thread held.
 *   - Each connection gets a goroutine, which serves one request through
 *     rt__dh_serve_conn and closes the connection ("Connection: close").
 *   - Before rt_main there is no scheduler to run the listener: a helper
 *     thread (signals blocked, not an M) waits for rt_main to start its
 *     first M, starts the listener goroutine and ends.  Until then
 *     connections wait in the socket's backlog.
 *
 * Limits, all with the conn's deadline (rt_conn_set_deadline), whose timer
 * wakes the parked goroutine; no poll(), no thread waits:
 *   - RT_DH_READ_TIMEOUT_NS from accept to a complete request, however
 *     the bytes trickle in (slow loris): one absolute deadline, set by the
 *     listener at accept; the read then says -ETIMEDOUT and the request
 *     layer answers 408.
 *   - Each write gets WRITE_TIMEOUT from its start (a client that stops
 *     reading frees its goroutine), and the request's deadline is put back
 *     after it, so that a "100 Continue" written mid-request does not give
 *     the client more time.  rt_conn_write sends with MSG_NOSIGNAL: a
 *     client that hangs up is -EPIPE, never SIGPIPE.
 *   - MAX_CONNS connection goroutines at once: the listener answers the
 *     next connection with 503 itself (a few hundred bytes into a fresh
 *     socket's empty buffer, with a REFUSE_TIMEOUT deadline in case even
 *     that does not fit) and closes it, so a flood costs no goroutine.
 *   - The CPU profile's wait is a read with the deadline at the profile's
 *     end: -ETIMEDOUT means the seconds are up, end of stream or an error
 *     means the client hung up, and the profile stops early, as Go's
 *     request context stops it.  Bytes sent after the request are dropped.
 *
 * Rejected: threads of its own (grt's first server: a listener thread and
 * a thread per connection, with poll() against the deadlines).  They
 * answered while every P ran a goroutine that never yields, but they were
 * a second I/O stack beside the netpoller, their handlers reached the
 * runtime only through the paths it keeps for foreign threads, and the
 * server was invisible in the goroutine profile, unlike Go's.  The price
 * of goroutines (docs/debug-server.md): grt cannot preempt C code, so
 * while every P runs a goroutine that never yields no server goroutine
 * runs -- the rescue thread below answers then, the one thread kept from
 * that first design; and a program whose goroutines are all
 * blocked for good is not reported as deadlocked while the listener waits
 * for connections (Go with net/http/pprof likewise) -- the server shows
 * where they are stuck in goroutine?debug=2 instead.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"
#include "trace/trace.h"

#define MAX_CONNS 256                           /* served at once; more: 503 */
#define WRITE_TIMEOUT (30 * RT_SECOND)          /* one write to a client */
#define REFUSE_TIMEOUT (100 * RT_MILLISECOND)   /* the listener's 503 */

/* Connection goroutines alive, all servers: the listener that admits one
 * adds, the goroutine subtracts as it ends. */
static _Atomic int nconns;

/* One connection, as the request layer's rt__dh_io sees it.  In the GC
 * heap (rt_alloc): it is the connection goroutine's argument, which the
 * collector scans, and it holds the rt_conn, a GC object. */
typedef struct conn {
    rt_conn *c;
    int64_t read_deadline; /* rt_nanotime() by which the request must be in */
    int64_t write_timeout; /* what each write may take */
} conn;

static ssize_t conn_read(void *ctx, void *buf, size_t n)
{
    conn *cx = ctx;
    return rt_conn_read(cx->c, buf, n); /* -ETIMEDOUT past read_deadline */
}

static int conn_write(void *ctx, const void *buf, size_t n)
{
    conn *cx = ctx;
    (void)rt_conn_set_deadline(cx->c, rt_nanotime() + cx->write_timeout);
    ssize_t k = rt_conn_write(cx->c, buf, n);
    (void)rt_conn_set_deadline(cx->c, cx->read_deadline);
    return k < 0 ? (int)k : 0;
}

/* Sleeps ns in a read; false as soon as the client hangs up. */
static bool conn_wait(void *ctx, int64_t ns)
{
    conn *cx = ctx;
    int64_t now = rt_nanotime();
    (void)rt_conn_set_deadline(cx->c, ns > INT64_MAX - now ? INT64_MAX : now + ns);
    char b[256];
    for (;;) {
        ssize_t k = rt_conn_read(cx->c, b, sizeof b);
        if (k == -ETIMEDOUT)
            return true;
        if (k <= 0)
            return false; /* end of stream, reset */
        /* bytes after the request (pipelining): dropped */
    }
}

static void conn_main(void *arg)
{
    conn *cx = arg;
    rt__dh_io io = {conn_read, conn_write, conn_wait, cx};
    (void)rt__dh_serve_conn(&io);
    (void)rt_conn_close(cx->c);
    atomic_fetch_sub(&nconns, 1);
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

/* The listener's own 503: it must not wait on the client for long. */
static void refuse(rt_conn *c)
{
    conn cx = {c, rt_nanotime(), REFUSE_TIMEOUT};
    rt__dh_io io = {no_read, conn_write, no_wait, &cx};
    rt__dh_send_error(&io, 503, "too many connections");
    (void)rt_conn_close(c);
}

/* ------------------------------------------------------- the rescue ---
 *
 * grt cannot preempt C code: while every P runs a goroutine that never
 * calls into the runtime, no P is free for the listener and the
 * connection goroutines, and the server would not answer -- just when a
 * program pegged at 100 % CPU is the one its user wants to profile (an
 * outside tester's find; Go 1.14+ preempts and answers).  So sysmon, when
 * it sees every P running and none scheduling for STUCK_NS, their
 * threads computing or blocked (rt__dh_rescue_check, sysmon.c), looks
 * whether a connection waits on a server's socket (registered by
 * rt_debug_serve, before its listener goroutine first runs), and if one
 * does, wakes the rescue thread: a plain
 * thread, not an M, that accepts what is queued and serves it itself, one
 * connection at a time, through the same request layer with a transport
 * of poll() and deadlines.  The handlers reach the runtime the way any
 * thread outside it does (stopping the world, the profiles, rt_gc); a
 * delta profile that another request is computing answers 503 instead of
 * waiting.  Whatever the rescue does not take -- Ps free again -- the
 * listener goroutine accepts, as before: accept hands each connection to
 * exactly one of them.
 */
#define MAX_SERVERS 8
static _Atomic int rescue_fd[MAX_SERVERS]; /* listening sockets; 0: none */
static rt__note rescue_note;               /* sysmon's "look": a waiting connection */
static _Atomic int rescue_started;         /* the thread exists */

static void rescue_register(int fd)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        int zero = 0;
        if (atomic_compare_exchange_strong(&rescue_fd[i], &zero, fd + 1))
            return;
    }
}

static void rescue_unregister(int fd)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        int want = fd + 1;
        if (atomic_compare_exchange_strong(&rescue_fd[i], &want, 0))
            return;
    }
}

typedef struct fdconn {
    int fd;
    int64_t read_deadline;
    int64_t write_timeout;
} fdconn;

/* poll for ev until deadline (absolute, rt_nanotime); 1 ready, 0 timed
 * out, -errno. */
static int poll_until(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - rt_nanotime();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int ms = (int)((left + RT_MILLISECOND - 1) / RT_MILLISECOND);
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
    fdconn *fc = ctx;
    for (;;) {
        ssize_t k = read(fc->fd, buf, n);
        if (k >= 0)
            return k;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int r = poll_until(fc->fd, POLLIN, fc->read_deadline);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0)
            return r;
    }
}

static int fd_write(void *ctx, const void *buf, size_t n)
{
    fdconn *fc = ctx;
    int64_t deadline = rt_nanotime() + fc->write_timeout;
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fc->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int r = poll_until(fc->fd, POLLOUT, deadline);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0)
            return r;
    }
    return 0;
}

static bool fd_wait(void *ctx, int64_t ns)
{
    fdconn *fc = ctx;
    int64_t now = rt_nanotime();
    int64_t deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    char b[256];
    for (;;) {
        int r = poll_until(fc->fd, POLLIN, deadline);
        if (r == 0)
            return true;
        if (r < 0)
            return false;
        ssize_t k = read(fc->fd, b, sizeof b);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
            return false; /* end of stream, reset */
        /* bytes after the request (pipelining): dropped */
    }
}

_Thread_local bool rt__dh_rescuing;
_Atomic uint64_t rt__debug_rescues;

static void rescue_serve_pending(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        int fd = atomic_load(&rescue_fd[i]) - 1;
        if (fd < 0)
            continue;
        for (;;) {
            int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0)
                break; /* EAGAIN: nothing queued (or the listener took it) */
            fdconn fc = {c, rt_nanotime() + RT_DH_READ_TIMEOUT_NS, WRITE_TIMEOUT};
            rt__dh_io io = {fd_read, fd_write, fd_wait, &fc};
            atomic_fetch_add_explicit(&rt__debug_rescues, 1, memory_order_relaxed);
            (void)rt__dh_serve_conn(&io);
            close(c);
        }
    }
}

static void *rescue_main(void *arg)
{
    (void)arg;
    rt__dh_rescuing = true;
    for (;;) {
        rt__note_sleep(&rescue_note);
        /* cleared before serving: a nudge that comes meanwhile (sysmon
         * sees the same waiting connection each tick) means one more
         * look, which finds nothing queued if it was this one */
        rt__note_clear(&rescue_note);
        rescue_serve_pending();
    }
    return NULL;
}

void rt__dh_rescue_check(void)
{
    struct pollfd p[MAX_SERVERS];
    int n = 0;
    for (int i = 0; i < MAX_SERVERS; i++) {
        int fd = atomic_load_explicit(&rescue_fd[i], memory_order_relaxed) - 1;
        if (fd >= 0)
            p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    if (n == 0 || poll(p, (nfds_t)n, 0) <= 0)
        return;
    int zero = 0;
    if (atomic_compare_exchange_strong(&rescue_started, &zero, 1)) {
        /* the first time: the thread, every signal blocked (SIGPROF and
         * the collector's stop are for Ms; a thread outside the runtime
         * that is stopped is stopped by its own paths, sched/foreign.c) */
        sigset_t all, old;
        sigfillset(&all);
        sigdelset(&all, RT_SIG_GCSTOP);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, rescue_main, NULL) != 0)
            atomic_store(&rescue_started, 0); /* the next tick tries again */
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    rt__note_wakeup(&rescue_note); /* (already set while it serves: free) */
}

/* An accept error worth waiting out (Go's Serve retries Temporary ones):
 * out of descriptors or memory, or a connection that died in the queue. */
static bool accept_retry(int err)
{
    switch (-err) {
    case EINTR:
    case ECONNABORTED:
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EPROTO:
        return true;
    }
    return false;
}

static void listen_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    /* The collector takes GOGC from the environment on first use; make
     * that happen before the first request, so that /debug/grt/settings
     * reads the percent in force (this stops the world once, briefly). */
    rt_memstats *ms = malloc(sizeof *ms);
    if (ms != NULL)
        rt_read_memstats(ms);
    free(ms);
    rt_listener *l;
    if (rt__net_listener_fd(fd, &l) != 0) {
        rescue_unregister(fd);
        return; /* out of memory; fd is closed */
    }
    int64_t backoff = 0;
    for (;;) {
        rt_conn *c;
        int err = rt_net_accept(l, &c);
        if (err != 0) {
            if (!accept_retry(err))
                break;
            /* Go's Serve: 5 ms, doubling, at most 1 s */
            backoff = backoff == 0 ? 5 * RT_MILLISECOND : backoff * 2;
            if (backoff > RT_SECOND)
                backoff = RT_SECOND;
            rt_sleep(backoff);
            continue;
        }
        backoff = 0;
        if (atomic_fetch_add(&nconns, 1) >= MAX_CONNS) {
            atomic_fetch_sub(&nconns, 1);
            refuse(c);
            continue;
        }
        conn *cx = rt_alloc(sizeof *cx);
        cx->c = c;
        cx->read_deadline = rt_nanotime() + RT_DH_READ_TIMEOUT_NS;
        cx->write_timeout = WRITE_TIMEOUT;
        (void)rt_conn_set_deadline(c, cx->read_deadline);
        if (rt_go(conn_main, cx) < 0) {
            atomic_fetch_sub(&nconns, 1);
            refuse(c);
        }
    }
    rescue_unregister(fd);
    (void)rt_listener_close(l);
}

/* Before rt_main: waits until rt_main has set the scheduler up, then
 * starts the listener goroutine from here, as any thread outside the
 * runtime may. */
static void *await_main(void *arg)
{
    int64_t pause = RT_MILLISECOND;
    while (!atomic_load(&rt__sched.main_started)) {
        struct timespec ts = {0, (long)pause};
        nanosleep(&ts, NULL);
        if (pause < 50 * RT_MILLISECOND)
            pause *= 2;
    }
    if (rt_go(listen_main, arg) < 0)
        close((int)(intptr_t)arg);
    atomic_fetch_sub_explicit(&rt__aux_threads, 1, memory_order_relaxed); /* checkdead */
    return NULL;
}

/* A bound, listening, non-blocking socket for addr: the fd, or -errno. */
static int bind_addr(const char *addr)
{
    if (addr == NULL)
        return -EINVAL;
    if (*addr == '\0')
        addr = ":0"; /* as rt_net_listen's "" */
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
    /* A decimal port up to 65535, none (0: any free port), or a service
     * name ("http"), as Go's net.Listen and rt_net_listen; getaddrinfo
     * would take "70000" modulo 65536, and "-1" is no name. */
    const char *port = colon + 1;
    long pv = 0;
    bool numeric = true;
    for (const char *q = port; *q; q++) {
        if (*q < '0' || *q > '9') {
            numeric = false;
            continue;
        }
        pv = pv * 10 + (*q - '0');
        if (numeric && pv > 65535)
            return -EINVAL;
    }
    if (!numeric && (port[0] < 'a' || port[0] > 'z') && (port[0] < 'A' || port[0] > 'Z'))
        return -EINVAL;
    if (*port == '\0')
        port = "0";
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | (numeric ? AI_NUMERICSERV : 0);
    /* a host name may take a DNS round trip: a goroutine lets its P go */
    bool on_g = rt__getg() != NULL;
    if (on_g)
        rt_syscall_enter();
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    int gai_errno = errno;
    if (on_g)
        rt_syscall_exit();
    if (gai != 0) {
        /* rt_net_listen's answers: a name that does not resolve (host
         * or service) is -ENOENT */
        switch (gai) {
        case EAI_SYSTEM: return -gai_errno;
        case EAI_NONAME:
        case EAI_NODATA:
        case EAI_FAMILY:
        case EAI_SERVICE: return -ENOENT;
        case EAI_AGAIN: return -EAGAIN;
        case EAI_MEMORY: return -ENOMEM;
        default: return -EINVAL;
        }
    }
    int fd = -1, err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
            break;
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : err;
}

int rt_debug_serve(const char *addr)
{
    RT__KEEP_ERRNO;
    int fd = bind_addr(addr);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    void *arg = (void *)(intptr_t)fd;
    /* Registered for the rescue thread now, not when the listener
     * goroutine first runs: goroutines that took every P right after this
     * call (blocked in calls the runtime was not told of) kept it from
     * ever running, and the rescue had no socket to look at. */
    rescue_register(fd);
    /* main_started, not running: goroutine 1 may run before rt_main sets
     * running, and a listener left to the helper thread from there counted
     * late in rt_num_goroutine (pprof_test_debughttp, 1 run in 20 under
     * load) */
    if (atomic_load(&rt__sched.main_started)) {
        /* a goroutine, or a thread outside the runtime once rt_main runs */
        int64_t id = rt_go(listen_main, arg);
        if (id < 0) {
            rescue_unregister(fd);
            close(fd);
            return (int)id;
        }
        return port;
    }
    /* before rt_main: the helper thread takes no signal (SIGPROF and the
     * collector's SIGURG are for Ms) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add_explicit(&rt__aux_threads, 1, memory_order_relaxed);
    int rc = pthread_create(&t, &attr, await_main, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_fetch_sub_explicit(&rt__aux_threads, 1, memory_order_relaxed);
        rescue_unregister(fd);
        close(fd);
        return -rc;
    }
    return port;
}
