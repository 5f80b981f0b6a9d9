/*
 * boehm/gclatency.c -- workload 12 of BENCHMARKS.md (GC latency) over
 * Boehm GC: the same program as ../bench_gclatency.c, which defines the
 * figures, with GC_MALLOC(64) (80 bytes with Boehm's extra byte, so the
 * live list takes 1.25 GiB), nanosleep for the pacing, GC_disable /
 * GC_enable for the calibration and GC_gcollect for the full collections.
 * Settings in boehm_bench.h: 2 parallel markers (GC_MARKERS), otherwise
 * defaults -- in particular not incremental.
 *
 * stw_us is the longest collection during the paced phase (GC_EVENT_START
 * to GC_EVENT_END, boehm_bench.h): a Boehm collection stops the program
 * for all of its marking.  Boehm's incremental mode (BENCHMARKS.md quotes
 * it too, 142 ms) is not measured here.
 */
#include "boehm_bench.h"

enum {
    OBJ = 64,
    BATCH_BYTES = 16 * 1024,
    PER_BATCH = BATCH_BYTES / OBJ,
    BATCHES_PER_SEC = 32768, /* 512 MiB/s in 16 KiB batches */
};
#define SECOND ((int64_t)1000000000)
#define SLEEP_MIN ((int64_t)50000)

typedef struct lnode {
    struct lnode *next;
    int64_t val;
    int64_t pad[6];
} lnode;
_Static_assert(sizeof(lnode) == OBJ, "a 64-byte object");

static lnode *live;
static lnode *sink;
static int64_t dirty;

static lnode *new_node(void)
{
    lnode *n = GC_MALLOC(sizeof(lnode));
    if (n == NULL)
        bench_fail("out of memory");
    return n;
}

static void batch(void)
{
    lnode *h = NULL;
    for (int i = 0; i < PER_BATCH; i++) {
        lnode *n = new_node();
        if (n->next != NULL || n->val != 0)
            dirty++;
        n->next = h;
        n->val = i;
        h = n;
    }
    sink = h;
}

typedef struct pace {
    int64_t batches;
    int64_t wall_ns;
    int64_t cpu_ns;
    int64_t max_gap_ns;
    int64_t max_batch_ns;
} pace;

static void paced(int64_t dur_ns, pace *st)
{
    int64_t cpu0 = bench_cpu_ns();
    int64_t t0 = bench_now(), prev_end = t0, asked = 0, k = 0, e;
    st->max_gap_ns = st->max_batch_ns = 0;
    for (;;) {
        int64_t s = bench_now();
        batch();
        k++;
        e = bench_now();
        if (e - prev_end - asked > st->max_gap_ns)
            st->max_gap_ns = e - prev_end - asked;
        if (e - s > st->max_batch_ns)
            st->max_batch_ns = e - s;
        prev_end = e;
        asked = 0;
        if (e - t0 >= dur_ns)
            break;
        int64_t due = t0 + k * SECOND / BATCHES_PER_SEC;
        if (due - e >= SLEEP_MIN) {
            asked = due - e;
            bench_sleep(asked);
        }
    }
    st->cpu_ns = bench_cpu_ns() - cpu0;
    st->wall_ns = e - t0;
    st->batches = k;
    sink = NULL;
}

int main(int argc, char **argv)
{
    boehm_init();
    int64_t nlive = bench_arg(argc, argv, 1, 16 * 1024 * 1024);
    int64_t secs = bench_arg(argc, argv, 2, 10);
    int64_t dur = secs * SECOND;
    int64_t cal = dur / 10 > SECOND / 4 ? dur / 10 : SECOND / 4;

    /* Warm the heap (see ../bench_gclatency.c). */
    GC_disable();
    for (int64_t i = 0; i < cal * BATCHES_PER_SEC / SECOND; i++)
        batch();
    sink = NULL;
    GC_enable();
    GC_gcollect();

    /* Calibrate: the paced loop with the collector off. */
    pace c;
    GC_disable();
    paced(cal, &c);
    GC_enable();
    GC_gcollect();
    double cpu_per_batch = (double)c.cpu_ns / (double)c.batches;

    /* The live list, built with the collector on. */
    int64_t tb = bench_now();
    lnode *h = NULL;
    for (int64_t i = 0; i < nlive; i++) {
        lnode *n = new_node();
        if (n->next != NULL || n->val != 0)
            dirty++;
        n->next = h;
        n->val = i;
        h = n;
    }
    live = h;
    h = NULL;
    int64_t build = bench_now() - tb;
    GC_gcollect();

    /* The measured phase. */
    boehm_reset_pauses();
    pace p;
    paced(dur, &p);
    int64_t ngc = boehm_gc_count, stw = boehm_gc_max_ns;

    int64_t count = 0, sum = 0;
    for (lnode *n = live; n != NULL; n = n->next) {
        count++;
        sum += n->val;
    }
    if (count != nlive || sum != nlive * (nlive - 1) / 2)
        bench_fail("live list: %" PRId64 " nodes summing to %" PRId64
                   ", want %" PRId64 " and %" PRId64,
                   count, sum, nlive, nlive * (nlive - 1) / 2);
    if (dirty != 0)
        bench_fail("%" PRId64 " fresh objects were not zeroed", dirty);
    double rate = (double)p.batches * BATCH_BYTES / ((double)p.wall_ns / 1e9) /
                  (1024.0 * 1024.0);
    if (rate < 500) /* a finding, not a wrong result: rate_mibs shows it */
        fprintf(stderr, "warning: the paced phase reached %.0f MiB/s, not 512\n", rate);

    double gccpu = ((double)p.cpu_ns - cpu_per_batch * (double)p.batches) /
                   (double)p.wall_ns * 100;
    char extra[512];
    snprintf(extra, sizeof extra,
             "stw_us=%.1f gccpu_pct=%.2f batch_max_ms=%.3f stall_nogc_ms=%.3f"
             " mutator_pct=%.2f num_gc=%" PRId64 " rate_mibs=%.0f build_s=%.2f"
             " rss_mb=%.0f live=%" PRId64 " secs=%" PRId64,
             (double)stw / 1e3, gccpu, (double)p.max_batch_ns / 1e6,
             (double)c.max_gap_ns / 1e6,
             cpu_per_batch * BATCHES_PER_SEC / 1e9 * 100, ngc, rate,
             (double)build / 1e9, (double)bench_peak_rss() / 1e6, nlive, secs);
    bench_result("gclatency", "ms", (double)p.max_gap_ns / 1e6, extra);
    return 0;
}
