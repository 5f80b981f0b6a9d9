/*
 * tests/pprof/test_bench.c -- the benchmark runner (rt_bench_main).
 *
 * The child is this program re-executed with "--bench" and go test's
 * flags; its stdout must be Go's: goos/goarch header lines, one result
 * line per benchmark and run (name padded, -P suffix, N, ns/op in Go's
 * widths, B/op and allocs/op), PASS.  Measured values: a benchmark that
 * spins 20 us of wall time per op reports what it measured itself, +-5 %
 * (a loaded host stretches both alike); one that allocates one
 * 64-byte object per op reports 64 B/op and 1 allocs/op; -benchtime Nx
 * runs exactly N; -count repeats; -cpuprofile and -memprofile are
 * readable by go tool pprof and name the benchmarks.  A failed benchmark
 * (rt_b_errorf, rt_b_fatalf, also from another goroutine) prints Go's
 * "--- FAIL" block instead of its result line, and the program "FAIL" and
 * status 1.
 */
#include <regex.h>
#include <spawn.h>

#include "pprof_test.h"

#define NOINLINE __attribute__((noinline))

static volatile uintptr_t sink;

/* Spins 20 us of wall time per op and reports what it measured (stderr,
 * merged into the output): the runner's ns/op must agree with it. */
NOINLINE static void bench_spin(rt_b *b)
{
    int64_t t0 = rt_nanotime();
    for (int64_t i = 0; i < b->n; i++) {
        int64_t end = rt_nanotime() + 20 * RT_MICROSECOND;
        while (rt_nanotime() < end)
            sink++;
    }
    fprintf(stderr, "spin-measured %lld %lld\n", (long long)b->n,
            (long long)(rt_nanotime() - t0));
}

NOINLINE static void bench_alloc(rt_b *b)
{
    rt_b_report_allocs(b);
    for (int64_t i = 0; i < b->n; i++)
        sink += (uintptr_t)rt_alloc(64);
}

NOINLINE static void bench_bytes(rt_b *b)
{
    static char buf[4096];
    rt_b_set_bytes(b, sizeof buf);
    for (int64_t i = 0; i < b->n; i++)
        memset(buf, (int)i, sizeof buf);
    sink += (uintptr_t)buf[1];
}

/* Failures: Errorf goes on (the loop still ends), Fatalf ends the run
 * mid-loop (the line after it must never print), Fatalf from another
 * goroutine ends the program. */
NOINLINE static void bench_errorf(rt_b *b)
{
    if (b->n > 1)
        rt_b_errorf(b, "errorf at n=%lld", (long long)b->n);
    sink += rt_b_failed(b);
}

NOINLINE static void bench_fatalf(rt_b *b)
{
    if (b->n > 1) {
        rt_b_fatalf(b, "fatalf at n=%lld", (long long)b->n);
        fprintf(stderr, "after fatalf\n");
    }
}

static void fatal_elsewhere(void *arg)
{
    rt_b_fatalf(arg, "fatalf from another goroutine");
}

NOINLINE static void bench_fatalf_elsewhere(rt_b *b)
{
    rt_go(fatal_elsewhere, b);
    rt_sleep(10 * RT_SECOND);
}

/* Metrics: reported out of order and one twice, ns/op overridden, one
 * reported before a timer reset (dropped, as Go's ResetTimer drops it). */
NOINLINE static void bench_metric(rt_b *b)
{
    rt_b_report_metric(b, 1, "gone/op");
    rt_b_reset_timer(b);
    rt_b_report_metric(b, 1, "zeta/op");
    rt_b_report_metric(b, 42, "zeta/op");
    rt_b_report_metric(b, 0.5, "alpha");
    rt_b_report_metric(b, 7, "ns/op");
    rt_b_report_metric(b, 1, "has blank");
}

static void wait_done(void *wg)
{
    rt_sleep(100 * RT_MICROSECOND);
    rt_waitgroup_done(wg);
}

/* Blocks on a WaitGroup once per op (the runner blocks on its own too). */
NOINLINE static void bench_wait(rt_b *b)
{
    static rt_waitgroup wg;
    for (int64_t i = 0; i < b->n; i++) {
        rt_waitgroup_add(&wg, 1);
        rt_go(wait_done, &wg);
        rt_waitgroup_wait(&wg);
    }
}

static const rt_benchmark benchmarks[] = {
    {"Metric", bench_metric},
    {"Wait", bench_wait},
    {"Spin", bench_spin},
    {"AllocObject", bench_alloc},
    {"Bytes", bench_bytes},
    {"FailErrorf", bench_errorf},
    {"FailFatalf", bench_fatalf},
    {"FailElsewhere", bench_fatalf_elsewhere},
    {NULL, NULL},
};

/* Runs the child with args; returns its stdout (malloc). */
static char *run_bench(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --bench %s 2>&1", (int)getpid(), args);
    int st;
    char *out = pp_shell(cmd, &st);
    REQUIRE_MSG(st == 0, "%s: exit %d:\n%s", cmd, st, out);
    return out;
}

static double field(const char *line, const char *unit)
{
    const char *u = strstr(line, unit);
    REQUIRE_MSG(u != NULL, "no %s in %s", unit, line);
    const char *s = u - 1;
    while (s > line && s[-1] != '\t' && s[-1] != ' ')
        s--;
    return strtod(s, NULL);
}

static const char *line_of(const char *out, const char *name)
{
    const char *l = strstr(out, name);
    REQUIRE_MSG(l != NULL, "no %s in:\n%s", name, out);
    return l;
}

#define RESULT_RE                                                                         \
    "^Benchmark[A-Za-z]+(-[0-9]+)? *\t *[0-9]+\t *[0-9.]+ ns/op(\t *[0-9.]+ MB/s)?"        \
    "(\t *[0-9]+ B/op\t *[0-9]+ allocs/op)?$"

START_TEST(test_result_lines)
{
    char *out = run_bench("-bench='Spin|Alloc|Bytes' -benchtime=200ms -benchmem");
    regex_t re;
    REQUIRE_EQ(regcomp(&re, RESULT_RE, REG_EXTENDED | REG_NOSUB), 0);
    int results = 0;
    bool pass = false;
    char *copy = strdup(out), *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "Benchmark", 9) == 0) {
            REQUIRE_MSG(regexec(&re, l, 0, NULL, 0) == 0, "result line: \"%s\"", l);
            results++;
        } else if (strcmp(l, "PASS") == 0) {
            pass = true;
        } else if (strncmp(l, "spin-measured ", 14) == 0) {
            /* the benchmark's own report (stderr) */
        } else {
            REQUIRE_MSG(strncmp(l, "goos: ", 6) == 0 || strncmp(l, "goarch: ", 8) == 0 ||
                            strncmp(l, "cpu: ", 5) == 0,
                        "unexpected line \"%s\" in:\n%s", l, out);
        }
    }
    free(copy);
    regfree(&re);
    REQUIRE_MSG(results == 3 && pass, "%d results:\n%s", results, out);
    double ns = field(line_of(out, "BenchmarkSpin"), "ns/op");
    /* the last run's own measurement (wall time: a loaded host stretches
     * it, and the runner must report exactly that) */
    long long mn = 0, mt = 0;
    for (const char *m = out; (m = strstr(m, "spin-measured ")) != NULL; m++)
        REQUIRE_EQ(sscanf(m, "spin-measured %lld %lld", &mn, &mt), 2);
    REQUIRE_GT(mn, 0);
    double truth = (double)mt / (double)mn;
    REQUIRE_MSG(ns >= 20000 * 0.99 && ns > truth * 0.95 && ns < truth * 1.05,
                "Spin %.0f ns/op, measured %.0f:\n%s", ns, truth, out);
    const char *al = line_of(out, "BenchmarkAllocObject");
    REQUIRE_MSG(field(al, "B/op") == 64 && field(al, "allocs/op") == 1, "alloc:\n%s", out);
    REQUIRE_MSG(field(line_of(out, "BenchmarkBytes"), "MB/s") > 0, "MB/s:\n%s", out);
    fprintf(stderr, "pprof bench: Spin %.0f ns/op, measured %.0f\n", ns, truth);
    free(out);
}
END_TEST

START_TEST(test_fixed_count_profiles)
{
    char cpu[512], mem[512], args[1400];
    snprintf(cpu, sizeof cpu, "%s", pp_path("bench-cpu.pb.gz"));
    snprintf(mem, sizeof mem, "%s", pp_path("bench-mem.pb.gz"));
    snprintf(args, sizeof args,
             "-test.bench 'Spin|Alloc' -benchtime 5000x -count=2 -cpuprofile %s "
             "--memprofile=%s -memprofilerate=1",
             cpu, mem);
    char *out = run_bench(args);
    int spins = 0, allocs = 0;
    for (const char *s = out; (s = strstr(s, "BenchmarkSpin")) != NULL; s++)
        spins++;
    for (const char *s = out; (s = strstr(s, "BenchmarkAllocObject")) != NULL; s++)
        allocs++;
    REQUIRE_MSG(spins == 2 && allocs == 2 && !strstr(out, "BenchmarkBytes"), "%s", out);
    REQUIRE_MSG(field(line_of(out, "BenchmarkSpin"), "ns/op") > 0 &&
                    strstr(line_of(out, "BenchmarkSpin"), "\t    5000\t"),
                "5000x:\n%s", out);
    free(out);
    char *top = pp_tool("-top %s", cpu);
    double f, c;
    REQUIRE_MSG(pp_row(top, "bench_spin", &f, &c), "cpu profile:\n%s", top);
    free(top);
    top = pp_tool("-top -sample_index=alloc_objects %s", mem);
    /* 2 runs x (1 + 5000) iterations, every allocation sampled */
    REQUIRE_MSG(pp_row(top, "bench_alloc", &f, &c) && f == 10002, "mem profile:\n%s", top);
    free(top);
}
END_TEST

/* -blockprofile: every stack starts at the blocking call, the runner's
 * own wait too (its rt_waitgroup_wait, as go test's runner shows
 * sync.(*WaitGroup).Wait), never inside the runtime. */
START_TEST(test_block_profile)
{
    char blk[512], args[700];
    snprintf(blk, sizeof blk, "%s", pp_path("bench-block.pb.gz"));
    snprintf(args, sizeof args, "-test.bench=Wait -benchtime=20x -blockprofile %s", blk);
    free(run_bench(args));
    char *traces = pp_tool("-traces %s", blk);
    REQUIRE_MSG(pp_before(traces, "rt_waitgroup_wait", "bench_wait") &&
                    !strstr(traces, "rt__block_event") && !strstr(traces, "rt__semacquire"),
                "block profile:\n%s", traces);
    free(traces);
}
END_TEST

START_TEST(test_failures)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/proc/%d/exe --bench -bench='Spin|Fail(Errorf|Fatalf)' -benchtime=3x 2>&1",
             (int)getpid());
    int st;
    char *out = pp_shell(cmd, &st);
    /* Spin passes; both failures print their header and message and no
     * result line; the program says FAIL and exits 1. */
    REQUIRE_MSG(st == 1 && strstr(out, "\nBenchmarkSpin") &&
                    strstr(out, "--- FAIL: BenchmarkFailErrorf") &&
                    strstr(out, "\n    errorf at n=3\n") &&
                    strstr(out, "--- FAIL: BenchmarkFailFatalf") &&
                    strstr(out, "\n    fatalf at n=3\n") && !strstr(out, "after fatalf") &&
                    !strstr(out, "BenchmarkFailErrorf \t") && !strstr(out, "PASS") &&
                    strstr(out, "\nFAIL\n"),
                "exit %d:\n%s", st, out);
    free(out);
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --bench -bench=Elsewhere -benchtime=1x 2>&1",
             (int)getpid());
    out = pp_shell(cmd, &st);
    REQUIRE_MSG(st == 1 && strstr(out, "--- FAIL: BenchmarkFailElsewhere") &&
                    strstr(out, "\n    fatalf from another goroutine\n") &&
                    strstr(out, "\nFAIL\n"),
                "exit %d:\n%s", st, out);
    free(out);
}
END_TEST

START_TEST(test_metrics)
{
    char *out = run_bench("-bench=Metric -benchtime=2x");
    /* Go's widths: 7 -> %14.3f, 0.5 -> %15.4f, 42 -> %13.2f */
    REQUIRE_MSG(strstr(out, "\t       2\t         7.000 ns/op\t         0.5000 alpha"
                           "\t        42.00 zeta/op\n") &&
                    !strstr(out, "gone/op") && strstr(out, "has blank"),
                "%s", out);
    free(out);
}
END_TEST

START_TEST(test_bad_flag)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --bench -nosuchflag 2>&1", (int)getpid());
    int st;
    char *out = pp_shell(cmd, &st);
    REQUIRE_MSG(st == 2 && strstr(out, "bad flag"), "exit %d:\n%s", st, out);
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_result_lines);
    tcase_add_test(tc, test_fixed_count_profiles);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_block_profile);
    tcase_add_test(tc, test_failures);
    tcase_add_test(tc, test_bad_flag);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
        argv[1] = argv[0];
        return rt_bench_main(benchmarks, argc - 1, argv + 1);
    }
    return harness_run_suite(suite());
}
