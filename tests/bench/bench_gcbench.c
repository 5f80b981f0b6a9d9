/*
 * bench_gcbench.c -- workload 11 of BENCHMARKS.md: GCBench.
 *
 * The Ellis / Kovac / Boehm collector benchmark, written here from its
 * description.  A node is two child pointers and two 32-bit ints (24
 * bytes).  With L the long-lived depth (default 16; argv[1], smaller in
 * quick mode) and S = L + 2 the stretch depth:
 *   1. stretch the heap: build a full tree of depth S bottom-up, drop it;
 *   2. a long-lived tree of depth L, built top-down (Populate: a node gets
 *      two fresh children, each then populated), kept to the end;
 *   3. a long-lived array of 500,000 doubles (pointer-free: rt_alloc_noscan)
 *      whose first half is filled with 1/i, kept to the end;
 *   4. for d = 4, 6, ..., L: NumIters(d) = 2 * TreeSize(S) / TreeSize(d)
 *      trees of depth d built top-down and dropped one by one, then as many
 *      built bottom-up (MakeTree: children before their parent) and
 *      dropped; TreeSize(d) = 2^(d+1) - 1 nodes;
 *   5. the long-lived tree and array must still be there.
 * One goroutine does the work on two processors (MAXPROCS=2); the figure
 * is the whole run in milliseconds, as GCBench reports it.  The targets
 * compare it with Boehm's (boehm/gcbench.c) as well as Go's.
 *
 * Check: the long-lived tree has TreeSize(L) nodes, the array holds 1/i
 * in its first half and zeros in the second, and the last tree of every
 * top-down and bottom-up round has TreeSize(d) nodes (counting one tree
 * per round costs nothing next to the round).
 */
#include "bench.h"

enum { MIN_DEPTH = 4, ARRAY_SIZE = 500000 };

typedef struct gnode {
    struct gnode *left, *right;
    int32_t i, j;
} gnode;

static int stretch_depth;

static int64_t tree_size(int d)
{
    return ((int64_t)1 << (d + 1)) - 1;
}

static int64_t num_iters(int d)
{
    return 2 * tree_size(stretch_depth) / tree_size(d);
}

/* Top-down: n gets two fresh children, each populated to depth - 1. */
static void populate(int depth, gnode *n)
{
    if (depth <= 0)
        return;
    depth--;
    n->left = rt_new(gnode);
    n->right = rt_new(gnode);
    populate(depth, n->left);
    populate(depth, n->right);
}

/* Bottom-up: both subtrees first, then their parent. */
static gnode *make_tree(int depth)
{
    if (depth <= 0)
        return rt_new(gnode);
    gnode *l = make_tree(depth - 1);
    gnode *r = make_tree(depth - 1);
    gnode *n = rt_new(gnode);
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
    int64_t t0 = rt_nanotime();
    gnode *t = NULL;
    for (int64_t i = 0; i < iters; i++) {
        t = rt_new(gnode);
        populate(depth, t);
    }
    if (count(t) != tree_size(depth))
        bench_fail("top-down tree of depth %d: %" PRId64 " nodes, want %" PRId64,
                   depth, count(t), tree_size(depth));
    int64_t t1 = rt_nanotime();
    for (int64_t i = 0; i < iters; i++)
        t = make_tree(depth);
    if (count(t) != tree_size(depth))
        bench_fail("bottom-up tree of depth %d: %" PRId64 " nodes, want %" PRId64,
                   depth, count(t), tree_size(depth));
    int64_t t2 = rt_nanotime();
    fprintf(stderr, "depth %d: %" PRId64 " trees, top-down %.1f ms, bottom-up %.1f ms\n",
            depth, iters, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
}

static rt_memstats ms;

static int bench_main(int argc, char **argv)
{
    int long_lived_depth = (int)bench_size(argc, argv, 16);
    if (long_lived_depth < MIN_DEPTH || long_lived_depth > 24)
        bench_fail("long-lived depth %d out of range 4..24", long_lived_depth);
    stretch_depth = long_lived_depth + 2;

    int64_t t0 = rt_nanotime();

    /* 1. Stretch the heap. */
    gnode *tmp = make_tree(stretch_depth);
    if (count(tmp) != tree_size(stretch_depth))
        bench_fail("stretch tree: %" PRId64 " nodes", count(tmp));
    tmp = NULL;

    /* 2. The long-lived tree. */
    gnode *long_lived = rt_new(gnode);
    populate(long_lived_depth, long_lived);

    /* 3. The long-lived array, half filled. */
    double *array = rt_alloc_noscan(sizeof(double) * ARRAY_SIZE);
    for (int i = 0; i < ARRAY_SIZE / 2; i++)
        array[i] = 1.0 / i;

    /* 4. Short-lived trees. */
    for (int d = MIN_DEPTH; d <= long_lived_depth; d += 2)
        time_construction(d);

    /* 5. The long-lived data is still there. */
    if (long_lived == NULL || array[1000] != 1.0 / 1000)
        bench_fail("long-lived data lost");
    int64_t elapsed = rt_nanotime() - t0;

    int64_t n = count(long_lived);
    if (n != tree_size(long_lived_depth))
        bench_fail("long-lived tree: %" PRId64 " nodes, want %" PRId64, n,
                   tree_size(long_lived_depth));
    for (int i = 0; i < ARRAY_SIZE; i++)
        if (array[i] != (i < ARRAY_SIZE / 2 ? 1.0 / i : 0.0))
            bench_fail("array[%d] = %g", i, array[i]);

    rt_read_memstats(&ms);
    char extra[256];
    snprintf(extra, sizeof extra,
             "depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%" PRIu32, long_lived_depth,
             (double)bench_peak_rss() / 1e6, (double)bench_max_pause_ns(&ms, 0) / 1e3,
             ms.num_gc);
    bench_result("gcbench", "ms", (double)elapsed / 1e6, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
