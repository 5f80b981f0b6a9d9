/*
 * bench_manyparked.c -- workload 17, grt's own (not in BENCHMARKS.md): a
 * small heap beside many parked goroutines.
 *
 * N goroutines (default 100k, argv[1]) each allocate a 16-byte object and
 * park on one unbuffered channel, keeping the object on their stacks;
 * goroutine 1 then makes A 16-byte allocations (default 20M, argv[2]),
 * keeping the last 1024, and the figure is the time they take, in ms.  The
 * live heap is a few MB, the goroutines' stacks and records tens of MB:
 * a collector paced by the heap alone collects every few MB and rereads
 * every stack each time.  Go's pacer counts the stacks since 1.18, and so
 * does grt's (gc/collector.c, goal_for).  Also reported: the number of
 * collections and the longest stop (every parked stack is reread in it,
 * gc/collector.c says why).
 *
 * Checks: every rt_go succeeds; each parked goroutine finds its object
 * intact when the channel is closed; the WaitGroup of exits completes.
 */
#include <stdatomic.h>

#include "bench.h"

typedef struct node {
    struct node *next;
    int64_t v;
} node;

static rt_chan *gate;
static rt_waitgroup parked, exited;
static _Atomic int64_t bad;
node *volatile manyparked_keep[1024]; /* (extern: the last allocations stay live) */

static void parker(void *arg)
{
    node *mine = rt_new(node);
    mine->v = (intptr_t)arg;
    rt_waitgroup_done(&parked);
    (void)rt_chan_recv(gate, NULL);
    if (mine->v != (intptr_t)arg)
        atomic_fetch_add_explicit(&bad, 1, memory_order_relaxed);
    rt_waitgroup_done(&exited);
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_arg(argc, argv, 1, 100000);
    int64_t allocs = bench_arg(argc, argv, 2, 20000000);
    if (n > INT32_MAX)
        bench_fail("size %" PRId64 " too large for one WaitGroup add", n);
    gate = rt_chan_make(0, 0);
    rt_waitgroup_add(&parked, (int)n);
    rt_waitgroup_add(&exited, (int)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = rt_go(parker, (void *)(intptr_t)i);
        if (id <= 0)
            bench_fail("rt_go #%" PRId64 ": %s", i, id < 0 ? strerror((int)-id) : "id 0");
    }
    rt_waitgroup_wait(&parked);

    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t t0 = rt_nanotime();
    for (int64_t i = 0; i < allocs; i++) {
        node *p = rt_new(node);
        p->v = i;
        manyparked_keep[i & 1023] = p;
    }
    int64_t t1 = rt_nanotime();
    rt_read_memstats(&ms);

    rt_chan_close(gate);
    rt_waitgroup_wait(&exited);
    if (atomic_load(&bad) != 0)
        bench_fail("%" PRId64 " parked goroutines found their object changed", atomic_load(&bad));

    char extra[256];
    snprintf(extra, sizeof extra,
             "n=%" PRId64 " allocs=%" PRId64 " num_gc=%u maxpause_us=%.1f", n, allocs,
             ms.num_gc - gc0, (double)bench_max_pause_ns(&ms, gc0) / 1e3);
    bench_result("manyparked", "ms", (double)(t1 - t0) / 1e6, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
