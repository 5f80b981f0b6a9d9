/*
 * bench_alloc.c -- workload 13 of BENCHMARKS.md: small-object allocation.
 *
 * N (default 50M) objects of 16 bytes (two pointers, allocated scanned
 * with rt_new), each stored to a global and dropped at the next
 * iteration, by one goroutine on two processors (MAXPROCS=2).  The figure
 * is nanoseconds per allocation, the collector's cycles included: nothing
 * survives, so this is the allocator's fast path plus the cost of sweeping
 * what it hands out again.
 *
 * Check: every object comes zeroed (a fresh object with a non-null field
 * is a freed object handed out dirty, or a live one handed out twice), and
 * the loop ran N times (counted through a field written into each object).
 */
#include "bench.h"

typedef struct pair {
    struct pair *a, *b;
} pair;
_Static_assert(sizeof(pair) == 16, "a 16-byte object");

/* The global each object is stored to; volatile so that the stores stay
 * in the loop as they do in Go. */
static pair *volatile sink;
/* A non-null pointer stored into every object (not a heap object). */
static pair one_obj;

static rt_memstats ms;

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 50 * 1000 * 1000);

    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t dirty = 0, sum = 0;
    int64_t t0 = rt_nanotime();
    for (int64_t i = 0; i < n; i++) {
        pair *p = rt_new(pair);
        if (p->a != NULL || p->b != NULL)
            dirty++;
        p->b = &one_obj;
        sink = p;
        sum += p->b != NULL;
    }
    int64_t elapsed = rt_nanotime() - t0;
    sink = NULL;

    if (dirty != 0)
        bench_fail("%" PRId64 " of %" PRId64 " fresh objects were not zeroed", dirty, n);
    if (sum != n)
        bench_fail("%" PRId64 " iterations, want %" PRId64, sum, n);

    rt_read_memstats(&ms);
    char extra[256];
    snprintf(extra, sizeof extra,
             "n=%" PRId64 " num_gc=%" PRIu32 " maxpause_us=%.1f rss_mb=%.1f", n,
             ms.num_gc - gc0, (double)bench_max_pause_ns(&ms, gc0) / 1e3,
             (double)bench_peak_rss() / 1e6);
    bench_result("alloc", "ns", (double)elapsed / (double)n, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
