/*
 * bench_binarytrees.c -- workload 10 of BENCHMARKS.md: binary-trees.
 *
 * The benchmarks-game program at depth N (default 21), with one goroutine
 * doing all the work (the table's rule) on two processors (MAXPROCS=2),
 * so the second processor is the collector's:
 *   - a stretch tree of depth N+1 is built, checked and dropped;
 *   - a long-lived tree of depth N is built and kept to the end;
 *   - for d = 4, 6, ..., N: 2^(N - d + 4) trees of depth d are built
 *     bottom-up (children before their parent), checked (nodes counted)
 *     and dropped;
 *   - the long-lived tree is checked.
 * A node is two pointers (16 bytes), allocated with rt_new.
 *
 * Figures: value is the whole run in seconds; rss_mb the peak resident set
 * (VmHWM) at the end in MB (10^6 bytes); maxpause_us the longest
 * stop-the-world pause of the memstats pause ring (the last 256 cycles,
 * as Go's PauseNs); num_gc the cycles.
 *
 * Check: the benchmarks-game output lines go to stderr, and every check
 * figure must equal the node count it stands for (a tree of depth d has
 * 2^(d+1) - 1 nodes); at depth 21 they must also equal the published
 * expected output, line for line.  A collector that frees a live node
 * makes a count come out wrong (or crashes).
 */
#include "bench.h"

enum { MIN_DEPTH = 4 };

typedef struct tnode {
    struct tnode *left, *right;
} tnode;

static tnode *bottom_up(int depth)
{
    if (depth <= 0)
        return rt_new(tnode);
    tnode *l = bottom_up(depth - 1);
    tnode *r = bottom_up(depth - 1);
    tnode *n = rt_new(tnode);
    n->left = l;
    n->right = r;
    return n;
}

static int64_t check(const tnode *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + check(n->left) + check(n->right);
}

/* The check figures of the benchmarks-game output for depth 21: stretch,
 * depths 4..20, long-lived. */
static const int64_t want21[] = {8388607,  65011712, 66584576, 66977792,
                                 67076096, 67100672, 67106816, 67108352,
                                 67108736, 67108832, 4194303};

static int nlines;
static int64_t checksum;

static void line_check(int max_depth, int64_t got, int64_t want)
{
    if (got != want)
        bench_fail("check line %d: %" PRId64 ", want %" PRId64, nlines + 1, got,
                   want);
    if (max_depth == 21 && got != want21[nlines])
        bench_fail("check line %d: %" PRId64 ", the expected output says %" PRId64,
                   nlines + 1, got, want21[nlines]);
    nlines++;
    checksum += got;
}

static rt_memstats ms; /* ~4 KiB: static rather than on the stack */

static int bench_main(int argc, char **argv)
{
    int max_depth = (int)bench_size(argc, argv, 21);
    if (max_depth < MIN_DEPTH + 2)
        max_depth = MIN_DEPTH + 2;
    if (max_depth > 30)
        bench_fail("depth %d too large", max_depth);

    int64_t t0 = rt_nanotime();

    int stretch = max_depth + 1;
    int64_t c = check(bottom_up(stretch));
    fprintf(stderr, "stretch tree of depth %d\t check: %" PRId64 "\n", stretch, c);
    line_check(max_depth, c, ((int64_t)1 << (stretch + 1)) - 1);

    tnode *long_lived = bottom_up(max_depth);

    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        int64_t iters = (int64_t)1 << (max_depth - d + MIN_DEPTH);
        int64_t sum = 0;
        for (int64_t i = 0; i < iters; i++)
            sum += check(bottom_up(d));
        fprintf(stderr, "%" PRId64 "\t trees of depth %d\t check: %" PRId64 "\n",
                iters, d, sum);
        line_check(max_depth, sum, iters * (((int64_t)1 << (d + 1)) - 1));
    }

    c = check(long_lived);
    fprintf(stderr, "long lived tree of depth %d\t check: %" PRId64 "\n", max_depth,
            c);
    line_check(max_depth, c, ((int64_t)1 << (max_depth + 1)) - 1);

    int64_t elapsed = rt_nanotime() - t0;
    if (max_depth == 21 && nlines != (int)(sizeof want21 / sizeof want21[0]))
        bench_fail("%d check lines, want %zu", nlines,
                   sizeof want21 / sizeof want21[0]);

    rt_read_memstats(&ms);
    int64_t rss = bench_peak_rss();
    char extra[256];
    snprintf(extra, sizeof extra,
             "depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%" PRIu32
             " checksum=%" PRId64,
             max_depth, (double)rss / 1e6,
             (double)bench_max_pause_ns(&ms, 0) / 1e3, ms.num_gc, checksum);
    bench_result("binarytrees", "s", (double)elapsed / 1e9, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
