/*
 * bench_yield.c -- workload 1 of BENCHMARKS.md: the cost of one switch.
 *
 * Two goroutines call rt_yield on one processor (run.sh sets MAXPROCS=1);
 * the figure is nanoseconds per yield, i.e. per goroutine switch.  A
 * Go-style benchmark (bench.h): one operation is one yield of either
 * goroutine, so b->n yields are split between the two, half each, and
 * ns/op is the time per switch; BENCHMARKS.md's 2 x 10M yields are
 * -benchtime=20000000x, the default.  go/yield/yield_test.go is the same
 * benchmark with runtime.Gosched.
 *
 * Shape: the benchmark's goroutine is one of the two yielders and the
 * spawned goroutine the other, so no third goroutine takes part in the
 * rotation (rt_bench_main's runner is parked on a WaitGroup, not
 * runnable).  When the benchmark's goroutine has done its share it keeps
 * yielding until the other one says it is done; those extra yields (about
 * one at P=1) are not counted in b->n, which moves ns/op by one part in
 * ten million at the defined size.
 *
 * Check: a yield that does not switch would make the numbers meaningless,
 * so at P=1 the other goroutine records how far the benchmark's goroutine
 * had got when it finished; with real switches the two run in lock step
 * and that is near its share.  We require at least half of it.  (At P>1
 * the two may run in parallel and nothing is checked but completion.)
 */
#include <stdatomic.h>

#include "bench.h"

/* Set by the benchmark's goroutine before it starts the other one. */
static int64_t other_iters;
/* The benchmark goroutine's yield count; written by it only, read by the
 * other goroutine.  Relaxed: a progress sample, no data is published
 * through it. */
static _Atomic int64_t main_progress;
/* main_progress as seen by the other goroutine when it finished; then
 * other_done is set with release, read by the benchmark with acquire. */
static int64_t seen_at_done;
static _Atomic int other_done;

static void yielder(void *arg)
{
    (void)arg;
    const int64_t n = other_iters;
    for (int64_t i = 0; i < n; i++)
        rt_yield();
    seen_at_done = atomic_load_explicit(&main_progress, memory_order_relaxed);
    atomic_store_explicit(&other_done, 1, memory_order_release);
}

static void bench_yield(rt_b *b)
{
    const int64_t mine = b->n - b->n / 2;
    other_iters = b->n / 2;
    atomic_store_explicit(&main_progress, 0, memory_order_relaxed);
    atomic_store_explicit(&other_done, 0, memory_order_relaxed);

    int64_t id = rt_go(yielder, NULL);
    if (id < 0)
        rt_b_fatalf(b, "rt_go: %s", strerror((int)-id));
    for (int64_t i = 0; i < mine; i++) {
        rt_yield();
        atomic_store_explicit(&main_progress, i + 1, memory_order_relaxed);
    }
    while (!atomic_load_explicit(&other_done, memory_order_acquire))
        rt_yield();
    rt_b_stop_timer(b);

    if (rt_maxprocs(0) == 1 && seen_at_done < mine / 2)
        rt_b_fatalf(b,
                    "yield did not switch: the other goroutine finished %" PRId64
                    " yields while this one had done %" PRId64,
                    other_iters, seen_at_done);
}

static const rt_benchmark benchmarks[] = {{"Yield", bench_yield}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 20 * 1000 * 1000, argc, argv);
}
