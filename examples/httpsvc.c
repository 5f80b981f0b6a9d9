/*
 * examples/httpsvc.c -- a small HTTP service with the debug server on, the
 * way a Go service does `import _ "net/http/pprof"`:
 *
 *     go func() { log.Println(http.ListenAndServe("localhost:6060", nil)) }()
 *
 * What it does
 *   Serves a toy "prime counting" API on -addr (default 127.0.0.1:8080):
 *     GET /primes?n=N   the number of primes below N (trial division: the
 *                       CPU-hot function count_primes)
 *     GET /recent       the last results, kept in GC-allocated records
 *                       (the allocating function remember_result)
 *   and the debug server on -debug (default 127.0.0.1:6060):
 *     go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=5
 *     curl http://127.0.0.1:6060/debug/pprof/goroutine?debug=1
 *     curl http://127.0.0.1:6060/debug/vars
 *     curl -d gctrace=1 http://127.0.0.1:6060/debug/grt/settings
 *   -load N starts N goroutines that keep calling the service's work
 *   function themselves, so a profile has something to show without a
 *   client; -duration S exits after S seconds (0: run until killed).
 *   The first line printed says where both servers listen (port 0 picks
 *   free ports; the tests use that).
 *
 * Design notes
 *   - One goroutine per connection, as Go's net/http, on grt's netpoller
 *     (rt_net_listen, rt_net_accept, rt_conn_read/write): a goroutine
 *     waiting for a client parks in "IO wait" and holds no thread.  A
 *     request must arrive within REQUEST_TIMEOUT (the conn's deadline).
 *   - The debug server runs on goroutines too, as net/http/pprof's does
 *     (docs/debug-server.md).  grt cannot preempt C code, so the load
 *     goroutines call rt_yield after each count: the server then gets a P
 *     even while every P is busy in count_primes.
 *   - The service's own HTTP is deliberately minimal (one request per
 *     connection, GET only); the debug server is the complete one.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define NOINLINE __attribute__((noinline))
#define REQUEST_TIMEOUT (10 * RT_SECOND)

static _Atomic int64_t served; /* requests answered, /recent reports it */

/* The work: primes below n by trial division (deliberately slow). */
NOINLINE static int64_t count_primes(int64_t n)
{
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) {
        bool prime = true;
        for (int64_t d = 2; d * d <= k; d++) {
            if (k % d == 0) {
                prime = false;
                break;
            }
        }
        count += prime;
    }
    return count;
}

/* The last results, newest first: a GC-allocated list (no free). */
typedef struct result {
    struct result *next;
    int64_t n, primes;
} result;

static rt_mutex recent_mu;
static result *recent; /* under recent_mu; a root in .bss */
static int nrecent;

NOINLINE static void remember_result(int64_t n, int64_t primes)
{
    result *r = rt_new(result);
    r->n = n;
    r->primes = primes;
    rt_mutex_lock(&recent_mu);
    r->next = recent;
    recent = r;
    if (++nrecent > 64) { /* keep 64: cut the tail, the collector frees it */
        result *p = recent;
        for (int i = 1; i < 64; i++)
            p = p->next;
        p->next = NULL;
        nrecent = 64;
    }
    rt_mutex_unlock(&recent_mu);
}

static int64_t work(int64_t n)
{
    int64_t p = count_primes(n);
    remember_result(n, p);
    return p;
}

/* ---------------------------------------------------------- the service -- */

static void reply(rt_conn *c, int code, const char *body)
{
    char h[256];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, code == 200 ? "OK" : code == 404 ? "Not Found" : "Bad Request",
                     strlen(body));
    /* (a client that hung up is -EPIPE here, never SIGPIPE) */
    if (rt_conn_write(c, h, (size_t)n) >= 0)
        (void)rt_conn_write(c, body, strlen(body));
}

static void handle(void *arg)
{
    rt_conn *c = arg;
    char req[4096];
    size_t n = 0;
    /* a client gets this long to send its request (slow clients must not
     * hold goroutines for ever) */
    rt_conn_set_deadline(c, rt_nanotime() + REQUEST_TIMEOUT);
    while (n < sizeof req - 1) {
        ssize_t k = rt_conn_read(c, req + n, sizeof req - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[n] = 0;
    char body[4096];
    long long arg_n;
    if (sscanf(req, "GET /primes?n=%lld ", &arg_n) == 1 && arg_n >= 0 && arg_n <= 10000000) {
        snprintf(body, sizeof body, "%lld primes below %lld\n", (long long)work(arg_n), arg_n);
        reply(c, 200, body);
    } else if (strncmp(req, "GET /recent ", 12) == 0) {
        size_t k = (size_t)snprintf(body, sizeof body, "served %lld\n",
                                    (long long)atomic_load(&served));
        rt_mutex_lock(&recent_mu);
        for (result *r = recent; r != NULL && k < sizeof body - 64; r = r->next)
            k += (size_t)snprintf(body + k, sizeof body - k, "%lld primes below %lld\n",
                                  (long long)r->primes, (long long)r->n);
        rt_mutex_unlock(&recent_mu);
        reply(c, 200, body);
    } else if (strncmp(req, "GET ", 4) == 0) {
        reply(c, 404, "not found\n");
    } else {
        reply(c, 400, "bad request\n");
    }
    atomic_fetch_add(&served, 1);
    rt_conn_close(c);
}

static void accept_loop(void *arg)
{
    rt_listener *l = arg;
    for (;;) {
        rt_conn *c;
        int err = rt_net_accept(l, &c);
        if (err < 0) {
            if (err == -ECANCELED)
                return; /* closed */
            rt_sleep(10 * RT_MILLISECOND); /* EMFILE and friends */
            continue;
        }
        if (rt_go(handle, c) < 0)
            rt_conn_close(c);
    }
}

/* The port at the end of a listener's address ("127.0.0.1:8080",
 * "[::1]:8080"), or -1. */
static int port_of(rt_listener *l)
{
    char a[128];
    if (rt_listener_addr(l, a, sizeof a) < 0)
        return -1;
    const char *colon = strrchr(a, ':');
    return colon ? atoi(colon + 1) : -1;
}

static void load(void *arg)
{
    (void)arg;
    for (int64_t i = 0;; i++) {
        work(100000 + i % 1000);
        rt_yield();
    }
}

static int app(int argc, char **argv)
{
    const char *addr = "127.0.0.1:8080", *debug = "127.0.0.1:6060";
    int nload = 0;
    int64_t duration = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-addr") == 0)
            addr = argv[i + 1];
        else if (strcmp(argv[i], "-debug") == 0)
            debug = argv[i + 1];
        else if (strcmp(argv[i], "-load") == 0)
            nload = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-duration") == 0)
            duration = atoll(argv[i + 1]);
        else
            break;
    }
    int dport = rt_debug_serve(debug);
    if (dport < 0) {
        fprintf(stderr, "httpsvc: debug server on %s: %s\n", debug, strerror(-dport));
        return 1;
    }
    rt_listener *l;
    int err = rt_net_listen("tcp", addr, &l);
    if (err < 0) {
        fprintf(stderr, "httpsvc: cannot listen on %s: %s\n", addr, strerror(-err));
        return 1;
    }
    int port = port_of(l);
    char host[64] = "127.0.0.1";
    sscanf(debug, "%63[^:]", host);
    printf("httpsvc: service on port %d, debug server on port %d "
           "(http://%s:%d/debug/pprof/)\n",
           port, dport, host, dport);
    fflush(stdout);
    rt_go(accept_loop, l);
    for (int i = 0; i < nload; i++)
        rt_go(load, NULL);
    for (int64_t t = 0; duration == 0 || t < duration; t++)
        rt_sleep(RT_SECOND);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(app, argc, argv);
}
