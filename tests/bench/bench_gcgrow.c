/*
 * bench_gcgrow.c -- a companion of workload 12 (collector latency): a
 * heap that grows to b->n live 64-byte objects and then churns.
 *
 * One goroutine (MAXPROCS=1 in run.sh) fills an array of b->n pointers
 * (BENCHMARKS.md-sized runs: 8M objects, a 512 MiB live heap) with fresh
 * objects, each pointing at one of 1024 fixed ones, then replaces b->n
 * random slots (xorshift) with fresh objects, reading the old one first.
 * The heap doubles again and again while it is built: every cycle has
 * more to mark than the one before it, which is what the collector's
 * pacing must keep up with (gc/collector.c, assist_revise).
 *
 * The figure (stall_ms) is the longest gap between two checkpoints 1024
 * allocations apart, over both phases: an allocation that waits out a
 * mark phase shows here (tester 26b's program, of this shape, stalled
 * 205-241 ms at MAXPROCS=1 before the assist rate was revised; Go 23-109
 * ms).  ns/op (the headline) is the time of one object built and one
 * replaced; num_gc, maxpause_us and rss_mb as elsewhere.  go/gcgrow is
 * the same program.
 *
 * Check: the sum of the values read from replaced objects and of those
 * left at the end equals what was stored, and every object read still
 * points at a fixed one (a collector that frees a live object, or hands
 * one out twice, changes either).
 */
#include "bench.h"

typedef struct obj {
    struct obj *l, *r;
    int64_t v[6];
} obj;
_Static_assert(sizeof(obj) == 64, "a 64-byte object");

static obj *fixed[1024];
static obj **arr;

static void bench_gcgrow(rt_b *b)
{
    const int64_t n = b->n;
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    for (int i = 0; i < 1024; i++) {
        fixed[i] = rt_new(obj);
        fixed[i]->v[0] = i;
    }
    arr = rt_alloc(sizeof(obj *) * (size_t)n);
    int64_t stored = 0, read = 0, worst = 0, bad = 0;
    int64_t prev = rt_nanotime();
    for (int64_t i = 0; i < 2 * n; i++) {
        obj *o = rt_new(obj);
        o->l = fixed[i & 1023];
        if (i < n) {
            o->v[0] = i;
            arr[i] = o;
        } else {
            static uint64_t x = 88172645463325252ULL;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t k = (int64_t)(x % (uint64_t)n);
            obj *old = arr[k];
            read += old->v[0];
            int64_t f = old->l != NULL ? old->l->v[0] : -1;
            if (f < 0 || f > 1023 || fixed[f] != old->l)
                bad++;
            o->v[0] = i & 0xffff;
            arr[k] = o;
        }
        stored += o->v[0];
        if ((i & 1023) == 0) {
            int64_t now = rt_nanotime();
            if (now - prev > worst)
                worst = now - prev;
            prev = now;
        }
    }
    rt_b_stop_timer(b);
    for (int64_t k = 0; k < n; k++)
        read += arr[k]->v[0];
    arr = NULL;
    if (read != stored || bad != 0)
        rt_b_fatalf(b, "values read %" PRId64 ", stored %" PRId64 "; %" PRId64 " bad links", read,
                    stored, bad);

    rt_read_memstats(&ms);
    rt_b_report_metric(b, (double)worst / 1e6, "stall_ms");
    rt_b_report_metric(b, ms.num_gc - gc0, "num_gc");
    rt_b_report_metric(b, (double)bench_max_pause_ns(&ms, gc0) / 1e3, "maxpause_us");
    rt_b_report_metric(b, (double)bench_peak_rss() / 1e6, "rss_mb");
}

static const rt_benchmark benchmarks[] = {{"GCGrow", bench_gcgrow}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 8 * 1000 * 1000, argc, argv);
}
