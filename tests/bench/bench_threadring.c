/*
 * bench_threadring.c -- workload 7 of BENCHMARKS.md: thread-ring.
 *
 * The benchmarks-game thread-ring: 503 goroutines in a ring, goroutine i
 * receiving on channel i and sending on channel i+1 (mod 503), all
 * unbuffered.  A token N (default 10M) is given to goroutine 1; each holder
 * passes token-1 on, and the one that receives 0 reports its number, which
 * must be N mod 503 + 1.  Two processors (MAXPROCS=2).  The figure is
 * nanoseconds per hop (N hops).
 *
 * The ring's goroutines other than the winner stay blocked when main
 * returns; as in Go, the program ends anyway.
 */
#include "bench.h"

enum { RING = 503 };

typedef struct ring_link {
    int64_t id;   /* 1..503, as the benchmarks game numbers them */
    rt_chan *in;  /* written once by main before the goroutine starts */
    rt_chan *out;
} ring_link;

static ring_link ring[RING];
static rt_chan *done;

static void ringer(void *arg)
{
    const ring_link *l = arg;
    for (;;) {
        int64_t token;
        if (!rt_chan_recv(l->in, &token))
            bench_fail("ring channel %" PRId64 " closed", l->id);
        if (token == 0) {
            rt_chan_send(done, &l->id);
            return;
        }
        token--;
        rt_chan_send(l->out, &token);
    }
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 10 * 1000 * 1000);

    int64_t t0 = rt_nanotime();
    done = rt_chan_make(sizeof(int64_t), 0);
    for (int i = 0; i < RING; i++) {
        ring[i].id = i + 1;
        ring[i].in = rt_chan_make(sizeof(int64_t), 0);
        if (ring[i].in == NULL || done == NULL)
            bench_fail("rt_chan_make returned NULL");
    }
    for (int i = 0; i < RING; i++) {
        ring[i].out = ring[(i + 1) % RING].in;
        int64_t id = rt_go(ringer, &ring[i]);
        if (id <= 0)
            bench_fail("rt_go: %s", id < 0 ? strerror((int)-id) : "id 0");
    }
    rt_chan_send(ring[0].in, &n);
    int64_t winner = -1;
    if (!rt_chan_recv(done, &winner))
        bench_fail("done channel closed");
    int64_t elapsed = rt_nanotime() - t0;

    if (winner != n % RING + 1)
        bench_fail("goroutine %" PRId64 " got the last token, want %" PRId64,
                   winner, n % RING + 1);

    char extra[96];
    snprintf(extra, sizeof extra, "n=%" PRId64 " winner=%" PRId64, n, winner);
    bench_result("threadring", "ns/op", (double)elapsed / (double)n, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
