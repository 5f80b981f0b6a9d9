/*
 * bench_spawn.c -- workload 4 of BENCHMARKS.md: goroutine creation.
 *
 * Main adds N (default 1M) to a WaitGroup, starts N goroutines whose only
 * work is rt_waitgroup_done, and waits; two processors (MAXPROCS=2).  The
 * figure is nanoseconds per goroutine: creation, first run, exit and
 * reuse of its stack and record, plus the WaitGroup.  The Go version starts
 * `go done(&wg)` (a function with an argument, no closure to allocate).
 *
 * Check: every rt_go succeeds (id > 0), and the wait returns.  (Ids are
 * not checked for order: like Go's, they may be handed out in per-processor
 * batches.)  The WaitGroup itself is the count: a
 * missing Done would hang (the lead's run would time out), an extra one is
 * fatal ("negative WaitGroup counter").
 */
#include "bench.h"

static void signal_done(void *arg)
{
    rt_waitgroup_done(arg);
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 1000 * 1000);
    if (n > INT32_MAX)
        bench_fail("size %" PRId64 " too large for one WaitGroup add", n);
    rt_waitgroup wg = {0};

    int64_t t0 = rt_nanotime();
    rt_waitgroup_add(&wg, (int)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = rt_go(signal_done, &wg);
        if (id <= 0)
            bench_fail("rt_go #%" PRId64 ": %s", i,
                       id < 0 ? strerror((int)-id) : "id 0");
    }
    rt_waitgroup_wait(&wg);
    int64_t elapsed = rt_nanotime() - t0;

    char extra[64];
    snprintf(extra, sizeof extra, "n=%" PRId64, n);
    bench_result("spawn", "ns/op", (double)elapsed / (double)n, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
