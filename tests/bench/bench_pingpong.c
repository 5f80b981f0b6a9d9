/*
 * bench_pingpong.c -- workload 2 of BENCHMARKS.md: unbuffered hand-off.
 *
 * b->n round trips (BENCHMARKS.md: 5M, the default) between two goroutines
 * over two unbuffered channels of int64_t, on one processor (MAXPROCS=1).
 * The benchmark's goroutine sends i on ping; the ponger answers i+1 on
 * pong.  The figure is nanoseconds per round trip (two sends, two
 * receives, two switches).  A Go-style benchmark (bench.h);
 * go/pingpong/pingpong_test.go is the same in Go.
 *
 * PingPongTimer is the same with a timer pending (an hour away, stopped
 * at the end), as in a program with a ticker or a timeout running: every
 * schedule of the P then asks whether a timer is due (sched/timer.c, the
 * TSC shortcut).  Not one of BENCHMARKS.md's figures; run.sh reports it
 * next to workload 2 (pingpong-timer).
 *
 * Check: every answer is i+1, and after the benchmark closes ping the
 * ponger reports (on pong, closed by it) that it saw exactly n values.
 */
#include "bench.h"

static rt_chan *ping, *pong; /* one pair per run, made before the ponger */

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

static void bench_pingpong(rt_b *b)
{
    const int64_t n = b->n;
    ping = rt_chan_make(sizeof(int64_t), 0);
    pong = rt_chan_make(sizeof(int64_t), 0);
    if (ping == NULL || pong == NULL)
        rt_b_fatalf(b, "rt_chan_make returned NULL");

    int64_t id = rt_go(ponger, NULL);
    if (id < 0)
        rt_b_fatalf(b, "rt_go: %s", strerror((int)-id));
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        rt_chan_send(ping, &v);
        if (!rt_chan_recv(pong, &v) || v != i + 1)
            rt_b_fatalf(b, "round trip %" PRId64 ": got %" PRId64, i, v);
    }
    rt_b_stop_timer(b);

    rt_chan_close(ping);
    int64_t seen = -1;
    if (!rt_chan_recv(pong, &seen) || seen != n)
        rt_b_fatalf(b, "ponger saw %" PRId64 " values, want %" PRId64, seen, n);
    if (rt_chan_recv(pong, &seen))
        rt_b_fatalf(b, "pong not closed after the count");
}

static void bench_pingpong_timer(rt_b *b)
{
    rt_timer *t = rt_timer_new(3600 * RT_SECOND);
    if (t == NULL)
        rt_b_fatalf(b, "rt_timer_new returned NULL");
    rt_b_reset_timer(b);
    bench_pingpong(b);
    if (!rt_timer_stop(t))
        rt_b_fatalf(b, "the hour-long timer was not pending at the end");
}

static const rt_benchmark benchmarks[] = {
    {"PingPong", bench_pingpong}, {"PingPongTimer", bench_pingpong_timer}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 5 * 1000 * 1000, argc, argv);
}
