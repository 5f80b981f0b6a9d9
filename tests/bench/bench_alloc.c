/*
 * bench_alloc.c -- workload 13 of BENCHMARKS.md: small-object allocation.
 *
 * b->n (BENCHMARKS.md: 50M, the default) objects of 16 bytes (two
 * pointers, allocated scanned with rt_new), each stored to a global and
 * dropped at the next iteration, by one goroutine on two processors
 * (MAXPROCS=2).  The figure is nanoseconds per allocation, the collector's
 * cycles included: nothing survives, so this is the allocator's fast path
 * plus the cost of sweeping what it hands out again.  A Go-style benchmark
 * (bench.h) with allocations reported (16 B/op, 1 allocs/op: a check
 * by eye that the loop allocates what it should) and three metrics:
 * num_gc (cycles during the run), maxpause_us (the longest pause) and
 * rss_mb (peak RSS); go/alloc/alloc_test.go reports the same.
 *
 * Check: every object comes zeroed (a fresh object with a non-null field
 * is a freed object handed out dirty, or a live one handed out twice), and
 * the loop ran n times (counted through a field written into each object).
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

static void bench_alloc(rt_b *b)
{
    const int64_t n = b->n;
    rt_b_report_allocs(b);
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t dirty = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        pair *p = rt_new(pair);
        if (p->a != NULL || p->b != NULL)
            dirty++;
        p->b = &one_obj;
        sink = p;
        sum += p->b != NULL;
    }
    rt_b_stop_timer(b);
    sink = NULL;

    if (dirty != 0)
        rt_b_fatalf(b, "%" PRId64 " of %" PRId64 " fresh objects were not zeroed", dirty, n);
    if (sum != n)
        rt_b_fatalf(b, "%" PRId64 " iterations, want %" PRId64, sum, n);

    rt_read_memstats(&ms);
    rt_b_report_metric(b, ms.num_gc - gc0, "num_gc");
    rt_b_report_metric(b, (double)bench_max_pause_ns(&ms, gc0) / 1e3, "maxpause_us");
    rt_b_report_metric(b, (double)bench_peak_rss() / 1e6, "rss_mb");
}

static const rt_benchmark benchmarks[] = {{"Alloc", bench_alloc}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 50 * 1000 * 1000, argc, argv);
}
