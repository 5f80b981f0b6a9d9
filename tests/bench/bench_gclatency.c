/*
 * bench_gclatency.c -- workload 12 of BENCHMARKS.md: collector latency.
 *
 * A live heap of L (default 16M, argv[1]) linked 64-byte objects -- 1 GiB,
 * one singly linked list from a global -- then T seconds (default 10,
 * argv[2]) of 64-byte garbage paced at 512 MiB/s, in 16 KiB batches of 256
 * objects, by one goroutine on two processors (MAXPROCS=2).  Quick mode
 * runs "1048576 1" (64 MiB live, 1 s).
 *
 * Pacing: batch k (from 0) is due at t0 + k / 32768 s (32768 batches of
 * 16 KiB make 512 MiB).  After each batch the goroutine reads the clock;
 * if the next batch is due at least SLEEP_MIN away it sleeps until then,
 * otherwise (on time, or behind after a stall) it goes straight on, so it
 * catches up after a stall.  A batch allocates 256 objects, links them into
 * a chain and stores the chain's head in a global, dropping the previous
 * batch.
 *
 * Figures (the same definitions in the Go and Boehm versions):
 *   value      longest mutator stall, ms: the longest gap between the ends
 *              of two consecutive batches, minus the sleep the goroutine
 *              asked for in between (so pacing is not a stall; late
 *              wake-ups, pauses, assists and the batch itself are).  This
 *              is the fair latency figure across the three systems
 *              (BENCHMARKS.md's note).
 *   stw_us     longest stop-the-world pause of the cycles that ran during
 *              the paced phase (memstats pause_ns; Go: PauseNs, which sums
 *              a cycle's two pauses; Boehm: the longest collection).
 *   gccpu_pct  GC CPU, % of one CPU: (process CPU time of the paced phase
 *              - batches x the CPU time per batch of the same paced loop
 *              with the collector off) / wall time of the phase.  The
 *              no-collector cost per batch is measured in this process
 *              beforehand (the calibration, max(0.25 s, T/10) of the same
 *              loop), on a heap warmed first: garbage as large as the
 *              calibration's is allocated and collected, so the
 *              calibration reuses memory already faulted in rather than
 *              charging page faults to the mutator.  Process CPU time is
 *              getrusage(RUSAGE_SELF) user + system, all threads.
 *   Others: batch_max_ms (the longest single batch: the stall inside an
 *   allocation, without wake-up lateness), stall_nogc_ms (the longest
 *   stall of the calibration: the floor set by sleep/wake-up latency),
 *   mutator_pct (the calibration's CPU per batch as % of the batch
 *   interval), num_gc, rate_mibs (garbage rate achieved), build_s (time
 *   to build the live list), rss_mb (peak RSS).
 *
 * Checks: the list still holds L nodes with values 0..L-1 (sum
 * L(L-1)/2) at the end; every fresh object came zeroed (a collector that
 * frees a live object or hands one out twice shows here).  A phase that
 * falls short of 512 MiB/s (the collector, or the host, slows the
 * goroutine down) is not a wrong result: rate_mibs reports the rate
 * reached and a warning goes to stderr.
 */
#include "bench.h"

enum {
    OBJ = 64,
    BATCH_BYTES = 16 * 1024,
    PER_BATCH = BATCH_BYTES / OBJ,
    BATCHES_PER_SEC = 32768, /* 512 MiB/s in 16 KiB batches */
};
#define SLEEP_MIN (50 * RT_MICROSECOND)

typedef struct lnode {
    struct lnode *next;
    int64_t val;
    int64_t pad[6];
} lnode;
_Static_assert(sizeof(lnode) == OBJ, "a 64-byte object");

static lnode *live;   /* the live list */
static lnode *sink;   /* the last batch of garbage */
static int64_t dirty; /* fresh objects that were not zeroed */

static void batch(void)
{
    lnode *h = NULL;
    for (int i = 0; i < PER_BATCH; i++) {
        lnode *n = rt_new(lnode);
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
    int64_t max_gap_ns;   /* longest stall */
    int64_t max_batch_ns; /* longest batch */
} pace;

static void paced(int64_t dur_ns, pace *st)
{
    int64_t cpu0 = bench_cpu_ns();
    int64_t t0 = rt_nanotime(), prev_end = t0, asked = 0, k = 0, e;
    st->max_gap_ns = st->max_batch_ns = 0;
    for (;;) {
        int64_t s = rt_nanotime();
        batch();
        k++;
        e = rt_nanotime();
        if (e - prev_end - asked > st->max_gap_ns)
            st->max_gap_ns = e - prev_end - asked;
        if (e - s > st->max_batch_ns)
            st->max_batch_ns = e - s;
        prev_end = e;
        asked = 0;
        if (e - t0 >= dur_ns)
            break;
        int64_t due = t0 + k * RT_SECOND / BATCHES_PER_SEC;
        if (due - e >= SLEEP_MIN) {
            asked = due - e;
            rt_sleep(asked);
        }
    }
    st->cpu_ns = bench_cpu_ns() - cpu0;
    st->wall_ns = e - t0;
    st->batches = k;
    sink = NULL;
}

static rt_memstats ms;

static int bench_main(int argc, char **argv)
{
    int64_t nlive = bench_arg(argc, argv, 1, 16 * 1024 * 1024);
    int64_t secs = bench_arg(argc, argv, 2, 10);
    int64_t dur = secs * RT_SECOND;
    int64_t cal = dur / 10 > RT_SECOND / 4 ? dur / 10 : RT_SECOND / 4;

    /* Warm the heap: as much garbage as the calibration will make, with
     * the collector off, then collected. */
    int old = rt_set_gc_percent(-1);
    for (int64_t i = 0; i < cal * BATCHES_PER_SEC / RT_SECOND; i++)
        batch();
    sink = NULL;
    rt_set_gc_percent(old);
    rt_gc();

    /* Calibrate: the paced loop with the collector off. */
    pace c;
    rt_set_gc_percent(-1);
    paced(cal, &c);
    rt_set_gc_percent(old);
    rt_gc();
    double cpu_per_batch = (double)c.cpu_ns / (double)c.batches;

    /* The live list, built with the collector on. */
    int64_t tb = rt_nanotime();
    lnode *h = NULL;
    for (int64_t i = 0; i < nlive; i++) {
        lnode *n = rt_new(lnode);
        if (n->next != NULL || n->val != 0)
            dirty++;
        n->next = h;
        n->val = i;
        h = n;
    }
    live = h;
    h = NULL;
    int64_t build = rt_nanotime() - tb;
    rt_gc();

    /* The measured phase. */
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    pace p;
    paced(dur, &p);
    rt_read_memstats(&ms);
    uint32_t ngc = ms.num_gc - gc0;
    uint64_t stw = bench_max_pause_ns(&ms, gc0);

    /* Checks. */
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
             " mutator_pct=%.2f num_gc=%" PRIu32 " rate_mibs=%.0f build_s=%.2f"
             " rss_mb=%.0f live=%" PRId64 " secs=%" PRId64,
             (double)stw / 1e3, gccpu, (double)p.max_batch_ns / 1e6,
             (double)c.max_gap_ns / 1e6,
             cpu_per_batch * BATCHES_PER_SEC / 1e9 * 100, ngc, rate,
             (double)build / 1e9, (double)bench_peak_rss() / 1e6, nlive, secs);
    bench_result("gclatency", "ms", (double)p.max_gap_ns / 1e6, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
