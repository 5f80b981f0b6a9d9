/*
 * tests/bench/bench.h -- helpers shared by the C benchmark programs.
 *
 * Each bench_<name>.c is one workload of BENCHMARKS.md written against rt.h
 * alone; go/<name>/main.go is the same workload in Go.  The two must do the
 * same work in the same shape (same goroutines, same channels, same checks)
 * so that the ratio between their times says something about the runtimes
 * and nothing about the programs.  run.sh builds both, runs them
 * alternately and prints medians.
 *
 * Protocol between a program and run.sh
 *   - argv[1], if present, is the workload size N (run.sh passes a small N
 *     in quick mode); otherwise the size BENCHMARKS.md defines is used.
 *   - The program checks its own answer and exits non-zero (after a line
 *     "FAIL: ..." on stderr) when it is wrong.
 *   - On success it prints exactly one line on stdout:
 *         result name=<workload> unit=<unit> value=<number> [key=value ...]
 *     value is the headline figure; the extra keys carry the rest (the
 *     size, the processors, second figures such as the sharded mutex).
 *     go/internal/bench prints the same line for the Go programs.
 *
 * Why a header of static functions rather than a small library: every
 * program is one translation unit built by its own CMake target, and the
 * helpers are a handful of lines; a library would add a target for nothing.
 * They are static (not inline) so -Wmissing-prototypes stays quiet, and
 * marked unused so a program that needs only some of them compiles clean.
 */
#ifndef GRT_BENCH_H
#define GRT_BENCH_H

#include <rt.h>

#include "bench_common.h"

/*
 * Prints the one result line.  extra (may be NULL or "") is appended as is:
 * space-separated key=value pairs built by the caller.  procs is the
 * MAXPROCS the workload ran with, so a mis-set environment shows in the
 * output.
 */
BENCH_UNUSED
static void bench_result(const char *name, const char *unit, double value,
                         const char *extra)
{
    printf("result name=%s impl=grt unit=%s value=%.3f procs=%d%s%s\n", name,
           unit, value, rt_maxprocs(0), extra && extra[0] ? " " : "",
           extra ? extra : "");
    fflush(stdout);
}

/* Resident set size of this process in bytes (VmRSS). */
BENCH_UNUSED
static int64_t bench_rss(void)
{
    return bench_status_kb("VmRSS");
}

/* Number of memory mappings (VMAs) of this process: lines of
 * /proc/self/maps.  The kernel refuses new mappings past vm.max_map_count. */
BENCH_UNUSED
static int64_t bench_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    int64_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* vm.max_map_count, or -1 if unreadable. */
BENCH_UNUSED
static int64_t bench_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f == NULL)
        return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* ------------------------------------------ the collector workloads -- */
/*
 * Helpers for workloads 10-13 (binary-trees, GCBench, GC latency, alloc).
 * The Boehm versions of those (boehm/<name>.c) cannot include this header (it
 * needs grt for rt_maxprocs); they share bench_common.h with it, and
 * boehm/boehm_bench.h adds the rest under the same names, so the three
 * versions of a workload read alike.
 */

/*
 * The longest stop-the-world pause of the cycles after cycle `after` (0:
 * all) up to ms->num_gc, from the pause_ns ring (cycle n wrote
 * [(n - 1) % 256]); only the last 256 cycles are still there, as in Go.
 * Takes the memstats as read by the caller: this header must not call
 * rt_read_memstats itself, or every benchmark would need the collector
 * to link.
 */
BENCH_UNUSED
static uint64_t bench_max_pause_ns(const rt_memstats *ms, uint32_t after)
{
    uint64_t max = 0;
    uint32_t first = after + 1;
    if (ms->num_gc > 256 && first < ms->num_gc - 255)
        first = ms->num_gc - 255;
    for (uint32_t n = first; n >= 1 && n <= ms->num_gc; n++) {
        uint64_t p = ms->pause_ns[(n - 1) % 256];
        if (p > max)
            max = p;
    }
    return max;
}

#endif /* GRT_BENCH_H */
