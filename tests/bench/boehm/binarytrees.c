/*
 * boehm/binarytrees.c -- workload 10 of BENCHMARKS.md (binary-trees) over
 * Boehm GC: the same program as ../bench_binarytrees.c with GC_MALLOC for
 * the 16-byte nodes (32 bytes each with Boehm's extra byte; see
 * boehm_bench.h for the settings: 2 parallel markers from GC_MARKERS,
 * otherwise defaults).  The one thread does the work.
 *
 * maxpause_us is the longest collection, GC_EVENT_START to GC_EVENT_END
 * (boehm_bench.h): in Boehm's default mode the program is stopped for all
 * of it, so it is what the program sees as a pause.
 */
#include "boehm_bench.h"

enum { MIN_DEPTH = 4 };

typedef struct tnode {
    struct tnode *left, *right;
} tnode;

static tnode *bottom_up(int depth)
{
    if (depth <= 0)
        return GC_MALLOC(sizeof(tnode));
    tnode *l = bottom_up(depth - 1);
    tnode *r = bottom_up(depth - 1);
    tnode *n = GC_MALLOC(sizeof(tnode));
    if (n == NULL)
        bench_fail("out of memory");
    n->left = l;
    n->right = r;
    return n;
}

static int64_t check(const tnode *n)
{
    if (n == NULL)
        bench_fail("out of memory");
    if (n->left == NULL)
        return 1;
    return 1 + check(n->left) + check(n->right);
}

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

int main(int argc, char **argv)
{
    boehm_init();
    int max_depth = (int)bench_size(argc, argv, 21);
    if (max_depth < MIN_DEPTH + 2)
        max_depth = MIN_DEPTH + 2;
    if (max_depth > 30)
        bench_fail("depth %d too large", max_depth);

    int64_t t0 = bench_now();

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

    int64_t elapsed = bench_now() - t0;
    if (max_depth == 21 && nlines != (int)(sizeof want21 / sizeof want21[0]))
        bench_fail("%d check lines, want %zu", nlines,
                   sizeof want21 / sizeof want21[0]);

    int64_t rss = bench_peak_rss();
    char extra[256];
    snprintf(extra, sizeof extra,
             "depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%" PRId64
             " gc_total_ms=%.1f checksum=%" PRId64,
             max_depth, (double)rss / 1e6, (double)boehm_gc_max_ns / 1e3,
             boehm_gc_count, (double)boehm_gc_total_ns / 1e6, checksum);
    bench_result("binarytrees", "s", (double)elapsed / 1e9, extra);
    return 0;
}
