/*
 * bench_skynet.c -- workload 6 of BENCHMARKS.md: skynet.
 *
 * A 10-ary tree of goroutines with N leaves (default 1M, a power of ten):
 * each inner node makes an unbuffered channel, starts its ten children and
 * sums what they send; a leaf sends its number.  The root's sum must be
 * N(N-1)/2 (499999500000 for 1M).  1,111,111 goroutines and 111,111
 * channels in all; two processors (MAXPROCS=2).  The figure is the whole
 * run in milliseconds.
 *
 * argv[2], R (default 1), grows R trees one after the other and reports
 * their mean; every sum is checked.  Workload 15 uses it (run.sh's skynet
 * variants, R = 10): one tree is about 0.4 s of CPU, and GNU time's
 * 10 ms steps would then be 2.5 % of the figure that is held to 3 %.
 * Row 6 keeps R = 1: BENCHMARKS.md's figure is a tree in a fresh process,
 * stacks and channels not yet cached, which is also why skynet is not a
 * Go-style benchmark (bench.h): its b->n trees after a run of n=1 would
 * all be warm.
 *
 * A child's arguments live in its parent's frame (an array of ten nodes):
 * the child copies them before anything else, and the parent cannot return
 * before all ten children have sent, so the frame outlives every read.
 * Stacks never move, so the pointer is stable.  The Go version passes the
 * same three values as arguments of the go statement.
 */
#include "bench.h"

typedef struct node {
    rt_chan *out; /* where to send this subtree's sum */
    int64_t num;  /* first leaf number of the subtree */
    int64_t size; /* leaves in the subtree */
} node;

enum { FANOUT = 10 };

static void skynet(void *arg)
{
    node me = *(const node *)arg;
    if (me.size == 1) {
        rt_chan_send(me.out, &me.num);
        return;
    }
    rt_chan *rc = rt_chan_make(sizeof(int64_t), 0);
    if (rc == NULL)
        bench_fail("rt_chan_make returned NULL");
    node kids[FANOUT];
    int64_t sub = me.size / FANOUT;
    for (int i = 0; i < FANOUT; i++) {
        kids[i] = (node){.out = rc, .num = me.num + i * sub, .size = sub};
        int64_t id = rt_go(skynet, &kids[i]);
        if (id <= 0)
            bench_fail("rt_go: %s", id < 0 ? strerror((int)-id) : "id 0");
    }
    int64_t sum = 0, v;
    for (int i = 0; i < FANOUT; i++) {
        if (!rt_chan_recv(rc, &v))
            bench_fail("child channel closed");
        sum += v;
    }
    rt_chan_send(me.out, &sum);
}

static int bench_main(int argc, char **argv)
{
    int64_t n = bench_size(argc, argv, 1000 * 1000);
    int64_t rounds = bench_arg(argc, argv, 2, 1);
    for (int64_t p = n; p > 1; p /= FANOUT)
        if (p % FANOUT != 0)
            bench_fail("size %" PRId64 " is not a power of %d", n, FANOUT);

    int64_t want = n * (n - 1) / 2, sum = -1;
    int64_t t0 = rt_nanotime();
    for (int64_t r = 0; r < rounds; r++) {
        rt_chan *root = rt_chan_make(sizeof(int64_t), 0);
        if (root == NULL)
            bench_fail("rt_chan_make returned NULL");
        node top = {.out = root, .num = 0, .size = n};
        int64_t id = rt_go(skynet, &top);
        if (id <= 0)
            bench_fail("rt_go: %s", id < 0 ? strerror((int)-id) : "id 0");
        sum = -1;
        if (!rt_chan_recv(root, &sum))
            bench_fail("root channel closed");
        if (sum != want)
            bench_fail("tree %" PRId64 ": sum %" PRId64 ", want %" PRId64, r, sum, want);
    }
    int64_t elapsed = rt_nanotime() - t0;

    char extra[128];
    snprintf(extra, sizeof extra, "n=%" PRId64 " sum=%" PRId64 " trees=%" PRId64, n, sum,
             rounds);
    bench_result("skynet", "ms", (double)elapsed / 1e6 / (double)rounds, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
