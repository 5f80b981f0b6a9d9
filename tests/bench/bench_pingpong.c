/*
 * bench_pingpong.c -- workload 2 of BENCHMARKS.md: unbuffered hand-off.
 *
 * N round trips (default 5M) between two goroutines over two unbuffered
 * channels of int64_t, on one processor (MAXPROCS=1).  Main sends i on
 * ping; the ponger answers i+1 on pong.  The figure is nanoseconds per
 * round trip (two sends, two receives, two switches).
 *
 * Check: every answer is i+1, and after main closes ping the ponger reports
 * (on pong, closed by it) that it saw exactly N values.
 */
#include "bench.h"

static rt_chan *ping, *pong;

static void ponger(void *arg)
{
    (void)arg;
    int64_t v, seen = 0;
    while (rt_chan_recv(ping, &v)) {
        v++;
        seen++;
        rt_chan_send(pong, &v);
    }
    rt_chan_send(pong, &seen);
    rt_chan_close(pong);
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 5 * 1000 * 1000);
    ping = rt_chan_make(sizeof(int64_t), 0);
    pong = rt_chan_make(sizeof(int64_t), 0);
    if (ping == NULL || pong == NULL)
        bench_fail("rt_chan_make returned NULL");

    int64_t t0 = rt_nanotime();
    int64_t id = rt_go(ponger, NULL);
    if (id < 0)
        bench_fail("rt_go: %s", strerror((int)-id));
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        rt_chan_send(ping, &v);
        if (!rt_chan_recv(pong, &v) || v != i + 1)
            bench_fail("round trip %" PRId64 ": got %" PRId64, i, v);
    }
    int64_t elapsed = rt_nanotime() - t0;

    rt_chan_close(ping);
    int64_t seen = -1;
    if (!rt_chan_recv(pong, &seen) || seen != n)
        bench_fail("ponger saw %" PRId64 " values, want %" PRId64, seen, n);
    if (rt_chan_recv(pong, &seen))
        bench_fail("pong not closed after the count");

    char extra[64];
    snprintf(extra, sizeof extra, "n=%" PRId64, n);
    bench_result("pingpong", "ns/op", (double)elapsed / (double)n, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
