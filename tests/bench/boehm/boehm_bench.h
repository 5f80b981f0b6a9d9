/*
 * tests/bench/boehm/boehm_bench.h -- helpers shared by the Boehm GC versions
 * of the collector workloads (10-13 of BENCHMARKS.md).
 *
 * boehm/<name>.c is workload <name> in plain C over Boehm GC (Debian's
 * libgc-dev, pkg-config bdw-gc): GC_MALLOC for objects with pointers,
 * GC_MALLOC_ATOMIC for objects without, no threads of its own.  It is the
 * collector anchor of BENCHMARKS.md next to Go: same work in the same
 * shape as bench_<name>.c and go/<name>/main.go.  It does not link grt, so
 * it cannot use ../bench.h; it shares ../bench_common.h (argv sizes,
 * "FAIL: ..." and exit 1, memory and CPU readings) and the helpers here
 * have bench.h's names (one result line with impl=boehm).
 *
 * Collector settings, the same for every Boehm program (boehm_init):
 *   - parallel marking ON with P markers, P from the environment variable
 *     GC_MARKERS (run.sh sets it to the row's P, as it sets MAXPROCS and
 *     GOMAXPROCS), default 2: GC_set_markers_count(P) before GC_INIT, then
 *     GC_start_mark_threads(), because a program that starts no thread of
 *     its own otherwise marks alone (BENCHMARKS.md's note).  The result
 *     line's procs= is the number of markers actually running
 *     (GC_get_parallel() + 1).
 *   - everything else at Boehm's defaults: not incremental, free-space
 *     divisor 3, and all-interior-pointers on, which adds one byte to every
 *     object (a 16-byte node takes 32 bytes, a 64-byte one 80): that is
 *     the configuration BENCHMARKS.md's Boehm anchors were measured with.
 *
 * Pauses: Boehm has no pause record.  boehm_init installs a collection
 * event callback (GC_set_on_collection_event) that timestamps
 * GC_EVENT_START and GC_EVENT_END of every collection with
 * CLOCK_MONOTONIC and keeps the longest and the total.  In the default
 * (non-incremental) mode a collection runs start to end on the allocating
 * thread with the world stopped (the sweep is lazy, done later a block at
 * a time by the allocator), so START..END is the pause the program sees
 * -- the figure compared with grt's and Go's stop-the-world pause_ns.
 */
#ifndef GRT_BOEHM_BENCH_H
#define GRT_BOEHM_BENCH_H

#define GC_THREADS 1 /* for GC_set_markers_count and the parallel marker */
#include <gc/gc.h>

#include <time.h>

#include "../bench_common.h"

/* CLOCK_MONOTONIC in ns, like rt_nanotime. */
BENCH_UNUSED
static int64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps at least ns (nanosleep; Linux adds its 50 us timer slack). */
BENCH_UNUSED
static void bench_sleep(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---------------------------------------------------- collections -- */

/* Written by the event callback, which runs with the allocation lock held
 * on the collecting thread (the program's only thread of its own); read
 * by the program between allocations. */
static int64_t boehm_gc_start_ns;    /* start of the running collection */
static int64_t boehm_gc_count;       /* collections completed */
static int64_t boehm_gc_max_ns;      /* longest START..END */
static int64_t boehm_gc_total_ns;    /* sum of START..END */
static int boehm_markers;            /* markers asked for */

static void GC_CALLBACK boehm_on_event(GC_EventType ev)
{
    if (ev == GC_EVENT_START) {
        boehm_gc_start_ns = bench_now();
    } else if (ev == GC_EVENT_END && boehm_gc_start_ns != 0) {
        int64_t d = bench_now() - boehm_gc_start_ns;
        boehm_gc_start_ns = 0;
        boehm_gc_count++;
        boehm_gc_total_ns += d;
        if (d > boehm_gc_max_ns)
            boehm_gc_max_ns = d;
    }
}

/* Forget the collections so far (to measure one phase of a program). */
BENCH_UNUSED
static void boehm_reset_pauses(void)
{
    boehm_gc_count = 0;
    boehm_gc_max_ns = 0;
    boehm_gc_total_ns = 0;
}

/* GC_INIT with the settings of the header comment. */
BENCH_UNUSED
static void boehm_init(void)
{
    const char *env = getenv("GC_MARKERS");
    boehm_markers = env != NULL && atoi(env) > 0 ? atoi(env) : 2;
    GC_set_markers_count((unsigned)boehm_markers);
    GC_INIT();
    GC_start_mark_threads();
    GC_set_on_collection_event(boehm_on_event);
    if (boehm_markers > 1 && GC_get_parallel() + 1 != boehm_markers)
        fprintf(stderr, "warning: asked for %d markers, Boehm runs %d\n",
                boehm_markers, GC_get_parallel() + 1);
}

BENCH_UNUSED
static void bench_result(const char *name, const char *unit, double value,
                         const char *extra)
{
    printf("result name=%s impl=boehm unit=%s value=%.3f procs=%d%s%s\n", name,
           unit, value, GC_get_parallel() + 1, extra && extra[0] ? " " : "",
           extra ? extra : "");
    fflush(stdout);
}

#endif /* GRT_BOEHM_BENCH_H */
