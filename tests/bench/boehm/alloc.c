/*
 * boehm/alloc.c -- workload 13 of BENCHMARKS.md (alloc) over Boehm GC: the
 * same loop as ../bench_alloc.c with GC_MALLOC(16) (32 bytes with Boehm's
 * extra byte; settings in boehm_bench.h: 2 parallel markers, otherwise
 * defaults).  value is ns per GC_MALLOC.
 *
 * The optional second figure of the table, malloc+free, is malloc_ns: the
 * same loop with glibc malloc(16) and free() of the previous object (the
 * sink keeps one object alive, as in the collected loop), N iterations,
 * same checks (malloc does not zero, so the loop clears each object as
 * calloc would, which is what the other versions get for free).
 */
#include "boehm_bench.h"

typedef struct pair {
    struct pair *a, *b;
} pair;
_Static_assert(sizeof(pair) == 16, "a 16-byte object");

static pair *volatile sink;
static pair one_obj;

int main(int argc, char **argv)
{
    boehm_init();
    int64_t n = bench_size(argc, argv, 50 * 1000 * 1000);

    GC_word gc0 = GC_get_gc_no();
    boehm_reset_pauses();
    int64_t dirty = 0, sum = 0;
    int64_t t0 = bench_now();
    for (int64_t i = 0; i < n; i++) {
        pair *p = GC_MALLOC(sizeof(pair));
        if (p == NULL)
            bench_fail("out of memory");
        if (p->a != NULL || p->b != NULL)
            dirty++;
        p->b = &one_obj;
        sink = p;
        sum += p->b != NULL;
    }
    int64_t elapsed = bench_now() - t0;
    sink = NULL;
    int64_t num_gc = (int64_t)(GC_get_gc_no() - gc0);

    if (dirty != 0)
        bench_fail("%" PRId64 " of %" PRId64 " fresh objects were not zeroed", dirty, n);
    if (sum != n)
        bench_fail("%" PRId64 " iterations, want %" PRId64, sum, n);

    /* malloc + free */
    int64_t msum = 0;
    int64_t t1 = bench_now();
    for (int64_t i = 0; i < n; i++) {
        pair *p = malloc(sizeof(pair));
        if (p == NULL)
            bench_fail("out of memory");
        p->a = NULL;
        p->b = &one_obj;
        free(sink);
        sink = p;
        msum += p->b != NULL;
    }
    int64_t melapsed = bench_now() - t1;
    free(sink);
    sink = NULL;
    if (msum != n)
        bench_fail("malloc loop: %" PRId64 " iterations, want %" PRId64, msum, n);

    char extra[256];
    snprintf(extra, sizeof extra,
             "n=%" PRId64 " num_gc=%" PRId64 " maxpause_us=%.1f rss_mb=%.1f malloc_ns=%.3f",
             n, num_gc, (double)boehm_gc_max_ns / 1e3, (double)bench_peak_rss() / 1e6,
             (double)melapsed / (double)n);
    bench_result("alloc", "ns", (double)elapsed / (double)n, extra);
    return 0;
}
