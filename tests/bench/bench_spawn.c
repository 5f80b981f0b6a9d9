/*
 * bench_spawn.c -- workload 4 of BENCHMARKS.md: goroutine creation.
 *
 * The benchmark adds b->n (BENCHMARKS.md: 1M, the default) to a WaitGroup,
 * starts that many goroutines whose only work is rt_waitgroup_done, and
 * waits; two processors (MAXPROCS=2).  The figure is nanoseconds per
 * goroutine: creation, first run, exit and reuse of its stack and record,
 * plus the WaitGroup.  A Go-style benchmark (bench.h);
 * go/spawn/spawn_test.go starts `go done(&wg)` (a function with an
 * argument, no closure to allocate).
 *
 * Check: every rt_go succeeds (id > 0), and the wait returns.  (Ids are
 * not checked for order: like Go's, they may be handed out in
 * per-processor batches.)  The WaitGroup itself is the count: a missing
 * Done would hang (run.sh's run would time out), an extra one is fatal
 * ("negative WaitGroup counter").
 */
#include "bench.h"

static void signal_done(void *arg)
{
    rt_waitgroup_done(arg);
}

static void bench_spawn(rt_b *b)
{
    const int64_t n = b->n;
    if (n > INT32_MAX)
        rt_b_fatalf(b, "b->n %" PRId64 " too large for one WaitGroup add", n);
    rt_waitgroup wg = {0};

    rt_waitgroup_add(&wg, (int)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = rt_go(signal_done, &wg);
        if (id <= 0)
            rt_b_fatalf(b, "rt_go #%" PRId64 ": %s", i,
                        id < 0 ? strerror((int)-id) : "id 0");
    }
    rt_waitgroup_wait(&wg);
}

static const rt_benchmark benchmarks[] = {{"Spawn", bench_spawn}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 1000 * 1000, argc, argv);
}
