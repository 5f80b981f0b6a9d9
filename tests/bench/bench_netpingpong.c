/*
 * bench_netpingpong.c -- request-response pairs over loopback TCP, in one
 * process, at MAXPROCS=2 (run.sh's row "netpingpong", next to workload
 * 14; not one of BENCHMARKS.md's figures).
 *
 * Four pairs of goroutines, each a client and a server on one TCP
 * connection over 127.0.0.1: the client writes 64 bytes and reads the 64
 * the server echoes back.  b->n round trips in all, split evenly between
 * the pairs; the figure is nanoseconds per round trip of the whole (wall
 * time / n), so two processors that both stay busy halve it.  Every
 * round trip wakes a goroutine parked on a socket: the runtime's part is
 * the network poller and handing what it readies to the processors (an
 * M that found the poller busy and went to sleep meant one CPU's worth of
 * round trips: sched/netpoll.c, rt__netpoll_poll).  A Go-style benchmark
 * (bench.h); go/netpingpong/netpingpong_test.go is the same in Go.
 *
 * Check: each echo carries the client's round-trip number back, and the
 * servers count what they echoed: n in all.
 */
#include <stdatomic.h>

#include "bench.h"

#define PAIRS 4
#define MSG 64

typedef struct pair {
    rt_conn *c;     /* the client's end */
    int64_t rounds; /* this pair's share of b->n */
    int64_t bad;    /* round trips that came back wrong (-1: I/O failed) */
} pair;

static pair pairs[PAIRS];
static _Atomic int64_t echoed;
static rt_waitgroup clients, servers;

static bool read_full(rt_conn *c, char *buf)
{
    for (size_t got = 0; got < MSG;) {
        ssize_t r = rt_conn_read(c, buf + got, MSG - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static void server(void *arg)
{
    rt_conn *c = arg;
    char buf[MSG];
    int64_t n = 0;
    while (read_full(c, buf) && rt_conn_write(c, buf, MSG) == MSG)
        n++;
    atomic_fetch_add(&echoed, n);
    rt_conn_close(c);
    rt_waitgroup_done(&servers);
}

static void client(void *arg)
{
    pair *p = arg;
    char buf[MSG] = {0};
    for (int64_t i = 0; i < p->rounds; i++) {
        memcpy(buf, &i, sizeof i);
        if (rt_conn_write(p->c, buf, MSG) != MSG || !read_full(p->c, buf)) {
            p->bad = -1;
            break;
        }
        int64_t back;
        memcpy(&back, buf, sizeof back);
        if (back != i)
            p->bad++;
    }
    rt_waitgroup_done(&clients);
}

static void bench_netpingpong(rt_b *b)
{
    const int64_t n = b->n;
    rt_listener *ln;
    int e = rt_net_listen("tcp", "127.0.0.1:0", &ln);
    if (e != 0)
        rt_b_fatalf(b, "listen: %s", strerror(-e));
    char addr[64];
    if (rt_listener_addr(ln, addr, sizeof addr) < 0)
        rt_b_fatalf(b, "listener address");
    atomic_store(&echoed, 0);
    rt_waitgroup_add(&servers, PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        rt_conn *sc;
        if ((e = rt_net_dial("tcp", addr, &pairs[i].c)) != 0 || (e = rt_net_accept(ln, &sc)) != 0)
            rt_b_fatalf(b, "connect: %s", strerror(-e));
        pairs[i].rounds = n / PAIRS + (i < n % PAIRS);
        pairs[i].bad = 0;
        if (rt_go(server, sc) < 0)
            rt_b_fatalf(b, "rt_go failed");
    }
    rt_listener_close(ln);
    rt_waitgroup_add(&clients, PAIRS);
    rt_b_reset_timer(b);
    for (int i = 0; i < PAIRS; i++)
        if (rt_go(client, &pairs[i]) < 0)
            rt_b_fatalf(b, "rt_go failed");
    rt_waitgroup_wait(&clients);
    rt_b_stop_timer(b);
    for (int i = 0; i < PAIRS; i++)
        rt_conn_close(pairs[i].c); /* the servers read the end and stop */
    rt_waitgroup_wait(&servers);
    for (int i = 0; i < PAIRS; i++)
        if (pairs[i].bad != 0)
            rt_b_fatalf(b, "pair %d: %" PRId64 " bad round trips", i, pairs[i].bad);
    if (atomic_load(&echoed) != n)
        rt_b_fatalf(b, "servers echoed %" PRId64 " messages, want %" PRId64,
                    atomic_load(&echoed), n);
}

static const rt_benchmark benchmarks[] = {{"NetPingPong", bench_netpingpong}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 400 * 1000, argc, argv);
}
