/*
 * tests/bench/bench.h -- helpers shared by the C benchmark programs.
 *
 * Each bench_<name>.c is one workload of BENCHMARKS.md written against rt.h
 * alone; go/<name>/ (main.go, or <name>_test.go for a Go-style benchmark)
 * is the same workload in Go.  The two must do the same work in the same
 * shape (same goroutines, same channels, same checks) so that the ratio
 * between their times says something about the runtimes and nothing about
 * the programs.  run.sh builds both, runs them alternately and prints
 * medians.
 *
 * Two kinds of program, for two kinds of figure.
 *
 * Per-operation workloads -- yield, pingpong, buffered, spawn, threadring,
 * chameneos, mutex (and its sharded twin), alloc: every figure of
 * BENCHMARKS.md that is nanoseconds per operation -- are Go-style
 * benchmarks: a function of rt_b that does b->n operations, run by
 * rt_bench_main (trace/bench.c, `go test -bench` for C), and on the Go
 * side a testing.B benchmark (go/<name>/<name>_test.go, built with
 * `go test -c`).  Both print Go's result line,
 *         BenchmarkYield-P \t N \t 17.01 ns/op [\t 16 B/op \t 1 allocs/op]
 * so their outputs can be set side by side (benchstat, or by eye) and
 * the ratio of the two ns/op figures is the ratio BENCHMARKS.md states.
 * Both runners do the same things around the function -- a collection,
 * a run of n=1, then the real run, each on a goroutine of its own with
 * the timer started there -- and nothing inside it: the loop that
 * is measured is the workload's own `for (i = 0; i < n; i++)`, with n
 * read from b->n once, as tight as when each program timed itself.  What
 * an operation is, when it takes two goroutines (a yield of either one, a
 * lock of either one, a chameneos meeting of either game), is said in
 * each program: b->n counts operations, split between the goroutines, so
 * ns/op keeps BENCHMARKS.md's meaning.  A wrong answer is rt_b_fatalf
 * (b.Fatalf): the program prints "--- FAIL", then "FAIL", and exits 1.
 *   - `bench_yield` alone runs the size BENCHMARKS.md defines
 *     (-benchtime=<N>x, see bench_run below), not go test's one second;
 *     `bench_yield 100000` runs 100000 operations (argv[1] = N is
 *     -benchtime=Nx), and go test's flags work as they do for Go:
 *         bench_mutex -bench=Shards -benchtime=2s -count=5 -cpuprofile=c.pb.gz
 *   - run.sh runs both versions with `-test.bench=. -test.benchtime=Nx
 *     -test.count=1` (N from its table) and turns their result lines
 *     into its own result line (below): the benchmark named after the
 *     program gives value=, one named longer (MutexShards) gives its
 *     suffix (shards=), other metrics their unit (B/op: B_op=).
 *
 * Whole-program workloads stay programs with a main of their own:
 * parked (bytes per parked goroutine, read from RSS once a million are
 * parked: no operation to repeat); skynet (milliseconds for one tree of a
 * million goroutines in a fresh process: a BenchmarkSkynet doing b->n
 * trees would fit the form, but after the runners' run of n=1 every tree
 * it timed would find stacks and records cached, a warmer figure than
 * BENCHMARKS.md's); binary-trees, GCBench and GC latency (seconds, peak
 * RSS, pauses and stalls of one run of a fixed shape, where repeating it
 * inside one process would measure a heap the previous run left behind);
 * echo (a server measured by a client from outside).  None of their
 * figures is per operation, and a b->n would not change what they do.
 *
 * Protocol between a whole program and run.sh
 *   - argv[1], if present, is the workload size N (run.sh passes a small N
 *     in quick mode); otherwise the size BENCHMARKS.md defines is used.
 *   - The program checks its own answer and exits non-zero (after a line
 *     "FAIL: ..." on stderr) when it is wrong.
 *   - On success it prints exactly one line on stdout:
 *         result name=<workload> unit=<unit> value=<number> [key=value ...]
 *     value is the headline figure; the extra keys carry the rest (the
 *     size, the processors, second figures).  go/internal/bench prints
 *     the same line for the Go programs; run.sh builds the same line from
 *     a Go-style benchmark's output, so that the table is one code path.
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

/*
 * rt_bench_main with the size conventions above: argv[1], when it is a
 * bare positive number N, becomes -benchtime=Nx; without any -benchtime,
 * -benchtime=<dflt_n>x is added (the size BENCHMARKS.md defines, so that a
 * run by hand measures the defined workload).  Every other argument goes
 * to rt_bench_main as is.  Call it from main, before the runtime starts.
 */
BENCH_UNUSED
static int bench_run(const rt_benchmark *benchmarks, int64_t dflt_n, int argc,
                     char **argv)
{
    static char benchtime[48];
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (args == NULL)
        bench_fail("out of memory");
    int n = 0;
    args[n++] = argv[0];
    bool have_benchtime = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        long long v = i == 1 ? strtoll(argv[i], &end, 10) : 0;
        if (i == 1 && end != argv[i] && *end == '\0') {
            if (v <= 0)
                bench_fail("bad size '%s' (want a positive integer)", argv[i]);
            snprintf(benchtime, sizeof benchtime, "-benchtime=%lldx", v);
            args[n++] = benchtime;
            have_benchtime = true;
            continue;
        }
        if (argv[i][0] == '-' && strstr(argv[i], "benchtime") != NULL)
            have_benchtime = true;
        args[n++] = argv[i];
    }
    if (!have_benchtime) {
        snprintf(benchtime, sizeof benchtime, "-benchtime=%" PRId64 "x", dflt_n);
        args[n++] = benchtime;
    }
    args[n] = NULL;
    return rt_bench_main(benchmarks, n, args);
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

/* A benchmark that streams the values 0 .. n-1 checks that it received
 * all of them: got values summing to n(n-1)/2. */
BENCH_UNUSED
static void bench_check_stream(rt_b *b, int64_t got, int64_t sum, int64_t n)
{
    if (got != n || sum != n * (n - 1) / 2)
        rt_b_fatalf(b,
                    "received %" PRId64 " elements summing to %" PRId64
                    ", want %" PRId64 " summing to %" PRId64,
                    got, sum, n, n * (n - 1) / 2);
}

#endif /* GRT_BENCH_H */
