/*
 * boehm/gcbench.c -- workload 11 of BENCHMARKS.md (GCBench) over Boehm GC:
 * the same program as ../bench_gcbench.c (see there for the steps and the
 * checks), with GC_MALLOC for the 24-byte nodes and GC_MALLOC_ATOMIC for
 * the array of doubles, as Boehm's own GCBench does.  Settings in
 * boehm_bench.h: 2 parallel markers (GC_MARKERS), otherwise defaults.
 * This is the anchor of the row's target (grt <= Boehm).
 */
#include "boehm_bench.h"

enum { MIN_DEPTH = 4, ARRAY_SIZE = 500000 };

typedef struct gnode {
    struct gnode *left, *right;
    int32_t i, j;
} gnode;

static int stretch_depth;

static gnode *new_node(void)
{
    gnode *n = GC_MALLOC(sizeof(gnode));
    if (n == NULL)
        bench_fail("out of memory");
    return n;
}

static int64_t tree_size(int d)
{
    return ((int64_t)1 << (d + 1)) - 1;
}

static int64_t num_iters(int d)
{
    return 2 * tree_size(stretch_depth) / tree_size(d);
}

static void populate(int depth, gnode *n)
{
    if (depth <= 0)
        return;
    depth--;
    n->left = new_node();
    n->right = new_node();
    populate(depth, n->left);
    populate(depth, n->right);
}

static gnode *make_tree(int depth)
{
    if (depth <= 0)
        return new_node();
    gnode *l = make_tree(depth - 1);
    gnode *r = make_tree(depth - 1);
    gnode *n = new_node();
    n->left = l;
    n->right = r;
    return n;
}

static int64_t count(const gnode *n)
{
    if (n == NULL)
        return 0;
    return 1 + count(n->left) + count(n->right);
}

static void time_construction(int depth)
{
    int64_t iters = num_iters(depth);
    int64_t t0 = bench_now();
    gnode *t = NULL;
    for (int64_t i = 0; i < iters; i++) {
        t = new_node();
        populate(depth, t);
    }
    if (count(t) != tree_size(depth))
        bench_fail("top-down tree of depth %d: %" PRId64 " nodes, want %" PRId64,
                   depth, count(t), tree_size(depth));
    int64_t t1 = bench_now();
    for (int64_t i = 0; i < iters; i++)
        t = make_tree(depth);
    if (count(t) != tree_size(depth))
        bench_fail("bottom-up tree of depth %d: %" PRId64 " nodes, want %" PRId64,
                   depth, count(t), tree_size(depth));
    int64_t t2 = bench_now();
    fprintf(stderr, "depth %d: %" PRId64 " trees, top-down %.1f ms, bottom-up %.1f ms\n",
            depth, iters, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
}

int main(int argc, char **argv)
{
    boehm_init();
    int long_lived_depth = (int)bench_size(argc, argv, 16);
    if (long_lived_depth < MIN_DEPTH || long_lived_depth > 24)
        bench_fail("long-lived depth %d out of range 4..24", long_lived_depth);
    stretch_depth = long_lived_depth + 2;

    int64_t t0 = bench_now();

    gnode *tmp = make_tree(stretch_depth);
    if (count(tmp) != tree_size(stretch_depth))
        bench_fail("stretch tree: %" PRId64 " nodes", count(tmp));
    tmp = NULL;

    gnode *long_lived = new_node();
    populate(long_lived_depth, long_lived);

    /* GC_MALLOC_ATOMIC does not clear: the second half is zeroed by hand,
     * as the grt and Go arrays come zeroed. */
    double *array = GC_MALLOC_ATOMIC(sizeof(double) * ARRAY_SIZE);
    if (array == NULL)
        bench_fail("out of memory");
    for (int i = 0; i < ARRAY_SIZE / 2; i++)
        array[i] = 1.0 / i;
    memset(array + ARRAY_SIZE / 2, 0, sizeof(double) * (ARRAY_SIZE - ARRAY_SIZE / 2));

    for (int d = MIN_DEPTH; d <= long_lived_depth; d += 2)
        time_construction(d);

    if (long_lived == NULL || array[1000] != 1.0 / 1000)
        bench_fail("long-lived data lost");
    int64_t elapsed = bench_now() - t0;

    int64_t n = count(long_lived);
    if (n != tree_size(long_lived_depth))
        bench_fail("long-lived tree: %" PRId64 " nodes, want %" PRId64, n,
                   tree_size(long_lived_depth));
    for (int i = 0; i < ARRAY_SIZE; i++)
        if (array[i] != (i < ARRAY_SIZE / 2 ? 1.0 / i : 0.0))
            bench_fail("array[%d] = %g", i, array[i]);

    char extra[256];
    snprintf(extra, sizeof extra,
             "depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%" PRId64 " gc_total_ms=%.1f",
             long_lived_depth, (double)bench_peak_rss() / 1e6,
             (double)boehm_gc_max_ns / 1e3, boehm_gc_count,
             (double)boehm_gc_total_ns / 1e6);
    bench_result("gcbench", "ms", (double)elapsed / 1e6, extra);
    return 0;
}
