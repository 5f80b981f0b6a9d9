/*
 * bench_yield.c -- workload 1 of BENCHMARKS.md: the cost of one switch.
 *
 * Two goroutines each call rt_yield N times (default 10M) on one processor
 * (run.sh sets MAXPROCS=1); the figure is elapsed time divided by the number
 * of yields, i.e. nanoseconds per goroutine switch.  go/yield/main.go is the
 * same program with runtime.Gosched.
 *
 * Shape: goroutine 1 (the main function) is one of the two yielders and the
 * spawned goroutine the other, so no third goroutine (a waiter) takes part
 * in the rotation.  When main has done its N yields it keeps yielding until
 * the other one says it is done; those extra yields are counted too (at P=1
 * there is about one).  A separate waiter parked on a WaitGroup would also
 * avoid the third party, but would make this workload depend on sync, and
 * the point of workload 1 is the bare scheduler.
 *
 * Check: a yield that does not switch would make the numbers meaningless,
 * so at P=1 the other goroutine records how far main had got when it
 * finished; with real switches the two run in lock step and main is near N.
 * We require at least N/2.  (At P>1 the two may run in parallel and
 * nothing is checked but completion.)
 */
#include <stdatomic.h>

#include "bench.h"

static int64_t iters;
/* Main's yield count; written by main only, read by the other goroutine.
 * Relaxed: a progress sample, no data is published through it. */
static _Atomic int64_t main_progress;
/* main_progress as seen by the other goroutine when it finished; then
 * other_done is set with release, read by main with acquire. */
static int64_t seen_at_done;
static _Atomic int other_done;

static void yielder(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < iters; i++)
        rt_yield();
    seen_at_done = atomic_load_explicit(&main_progress, memory_order_relaxed);
    atomic_store_explicit(&other_done, 1, memory_order_release);
}

static int bench_main(int argc, char **argv)
{
    iters = bench_size(argc, argv, 10 * 1000 * 1000);

    int64_t t0 = rt_nanotime();
    int64_t id = rt_go(yielder, NULL);
    if (id < 0)
        bench_fail("rt_go: %s", strerror((int)-id));
    for (int64_t i = 0; i < iters; i++) {
        rt_yield();
        atomic_store_explicit(&main_progress, i + 1, memory_order_relaxed);
    }
    int64_t extra = 0;
    while (!atomic_load_explicit(&other_done, memory_order_acquire)) {
        rt_yield();
        extra++;
    }
    int64_t elapsed = rt_nanotime() - t0;

    int procs = rt_maxprocs(0);
    if (procs == 1 && seen_at_done < iters / 2)
        bench_fail("yield did not switch: the other goroutine finished %" PRId64
                   " yields while main had done %" PRId64, iters, seen_at_done);

    int64_t yields = 2 * iters + extra;
    char extra_kv[128];
    snprintf(extra_kv, sizeof extra_kv, "n=%" PRId64 " yields=%" PRId64, iters,
             yields);
    bench_result("yield", "ns/op", (double)elapsed / (double)yields, extra_kv);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
