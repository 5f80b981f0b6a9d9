/*
 * bench_parked.c -- workload 5 of BENCHMARKS.md: memory per parked goroutine.
 *
 * Main reads VmRSS, starts N goroutines (default 1M) that each block
 * receiving from one unbuffered channel, waits until all have reached the
 * receive, lets them settle, and reads VmRSS again; the figure is
 * (RSS parked - RSS before) / N in bytes.  Then it closes the channel, which
 * wakes every one of them, and waits for all to exit.  Two processors
 * (MAXPROCS=2), as the machine has.
 *
 * grt's target (<= 4300 B) counts one page of stack plus the goroutine
 * record; its stacks have guard pages.  If each guard page were its own
 * mapping (mprotect), 1M goroutines would need ~1M VMAs and run into
 * vm.max_map_count (65530 by default) long before the end: rt_go would
 * fail or the runtime would die.  So the program prints the process's
 * mapping count while parked and vm.max_map_count, and fails if the count
 * reached the limit.
 *
 * How "all parked" is known: each goroutine increments an atomic counter
 * just before its receive; main yields until the counter reaches N, then
 * sleeps 20 ms so that the last ones finish parking.  rt_num_goroutine()
 * must then be at least N + 1.
 *
 * Checks: every rt_go succeeds, every goroutine wakes with ok == false (the
 * close), the WaitGroup of exits completes, and the mapping count stayed
 * below vm.max_map_count.
 */
#include <stdatomic.h>

#include "bench.h"

static rt_chan *gate;
static rt_waitgroup exited;
/* Counters bumped by the N goroutines and read by main after they have
 * all been counted; relaxed, as the WaitGroup / polling orders the rest. */
static _Atomic int64_t arrived;
static _Atomic int64_t woke_closed;

static void parker(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&arrived, 1, memory_order_relaxed);
    if (!rt_chan_recv(gate, NULL))
        atomic_fetch_add_explicit(&woke_closed, 1, memory_order_relaxed);
    rt_waitgroup_done(&exited);
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 1000 * 1000);
    if (n > INT32_MAX)
        bench_fail("size %" PRId64 " too large for one WaitGroup add", n);
    gate = rt_chan_make(0, 0);
    if (gate == NULL)
        bench_fail("rt_chan_make returned NULL");
    int64_t max_maps = bench_max_map_count();

    int64_t rss0 = bench_rss();
    if (rss0 <= 0)
        bench_fail("cannot read VmRSS from /proc/self/status");
    int64_t t0 = rt_nanotime();
    rt_waitgroup_add(&exited, (int)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = rt_go(parker, NULL);
        if (id <= 0)
            bench_fail("rt_go #%" PRId64 ": %s (mappings %" PRId64
                       ", vm.max_map_count %" PRId64 ")",
                       i, id < 0 ? strerror((int)-id) : "id 0",
                       bench_map_count(), max_maps);
    }
    while (atomic_load_explicit(&arrived, memory_order_relaxed) < n)
        rt_yield();
    int64_t t_parked = rt_nanotime() - t0;
    rt_sleep(20 * RT_MILLISECOND);

    int64_t rss1 = bench_rss();
    int64_t maps = bench_map_count();
    int ngor = rt_num_goroutine();
    if (ngor < n + 1)
        bench_fail("rt_num_goroutine() = %d with %" PRId64 " parked", ngor, n);
    if (max_maps > 0 && maps >= max_maps)
        bench_fail("hit vm.max_map_count: %" PRId64 " mappings of %" PRId64,
                   maps, max_maps);

    rt_chan_close(gate);
    rt_waitgroup_wait(&exited);
    int64_t closed = atomic_load_explicit(&woke_closed, memory_order_relaxed);
    if (closed != n)
        bench_fail("%" PRId64 " of %" PRId64 " goroutines saw the close",
                   closed, n);

    char extra[256];
    snprintf(extra, sizeof extra,
             "n=%" PRId64 " rss_before=%" PRId64 " rss_parked=%" PRId64
             " spawn_park_ns=%.1f maps=%" PRId64 " max_map_count=%" PRId64
             " hit_max_map_count=no",
             n, rss0, rss1, (double)t_parked / (double)n, maps, max_maps);
    bench_result("parked", "B/g", (double)(rss1 - rss0) / (double)n, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
