/*
 * trace/bench.c -- the benchmark runner: `go test -bench` for C programs.
 *
 * A benchmark program lists its benchmarks in a table and hands argv to
 * rt_bench_main, which starts the runtime and runs each selected benchmark
 * on goroutine 1 the way Go's testing package does:
 *
 *   - b->n iterations, starting at 1 and predicted from the previous run
 *     (goal / time-per-op, +20 %, at most x100, at least +1, at most 1e9)
 *     until one run lasts -benchtime (or exactly Nx iterations);
 *   - a collection before every run; the timer (rt_b_reset_timer,
 *     _start_timer, _stop_timer) also counts allocations and bytes from
 *     rt_read_memstats, for B/op and allocs/op;
 *   - one result line per run, byte for byte Go's:
 *       BenchmarkName-P \t       N\t  123.4 ns/op\t  12.34 MB/s\t  16 B/op\t  1 allocs/op
 *     (names padded to the longest, -P the MAXPROCS when it is not 1, the
 *     ns/op field with Go's prettyPrint widths), after goos/goarch/cpu
 *     header lines, and "PASS" at the end, so that benchstat reads it;
 *     rt_b_report_metric's figures (b.ReportMetric) after MB/s;
 *   - each run on a goroutine of its own, the runner (goroutine 1) waiting
 *     on a WaitGroup, as Go's run1 and doBench start `go b.launch()`: that
 *     is what lets rt_b_fatalf end a run with rt_exit (Goexit) and the
 *     runner go on.  The waiting runner is parked, not runnable, so it
 *     takes no part in a run's scheduling (workload 1 of BENCHMARKS.md,
 *     two goroutines yielding at P=1, still rotates between exactly two);
 *   - a failed benchmark (rt_b_errorf, rt_b_fatalf) prints Go's
 *     "--- FAIL: BenchmarkName-P" and its messages, indented, instead of a
 *     result line and is not run again; the program then ends with "FAIL"
 *     and status 1 rather than "PASS" and 0, so a benchmark's own check
 *     fails the program as a test's would.
 *
 * Flags (Go's names, with - or --, "-flag=value" or "-flag value", and the
 * "test." prefix accepted): -bench REGEX (POSIX extended, unanchored,
 * matched against "BenchmarkName"; default "." -- a benchmark program is
 * run to benchmark), -benchtime D|Nx (1s), -count N, -benchmem,
 * -cpuprofile F, -memprofile F (the allocs profile after a collection, as
 * go test writes it), -memprofilerate N, -blockprofile F (rate 1 unless
 * -blockprofilerate), -mutexprofile F (fraction 1 unless
 * -mutexprofilefraction).
 */
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

typedef struct bench_opts {
    const char *bench;
    int64_t benchtime_ns; /* 0: fixed iterations */
    int64_t benchtime_n;
    int count;
    bool benchmem;
    const char *cpuprofile, *memprofile, *blockprofile, *mutexprofile;
    int memprofilerate;   /* -1: unset */
    int blockprofilerate;
    int mutexfraction;
} bench_opts;

static const rt_benchmark *bench_table;
static bench_opts opts;
/* Guards every rt_b's failed_ and log_: rt_b_errorf may be called from any
 * goroutine of a run. */
static rt_mutex fail_mu;
/* The benchmark being run and its name as printed ("BenchmarkSend-2"):
 * written by the runner before a run's rt_go, read by the run. */
static const rt_benchmark *running;
static char running_name[256];

/* --------------------------------------------------------------- timer -- */

static void read_allocs(uint64_t *mallocs, uint64_t *bytes)
{
    rt_memstats *ms = malloc(sizeof *ms);
    if (ms == NULL) {
        *mallocs = *bytes = 0;
        return;
    }
    rt_read_memstats(ms);
    *mallocs = ms->mallocs;
    *bytes = ms->total_alloc;
    free(ms);
}

void rt_b_start_timer(rt_b *b)
{
    if (b->timer_on_)
        return;
    read_allocs(&b->start_allocs_, &b->start_bytes_);
    b->start_ = rt_nanotime();
    b->timer_on_ = true;
}

void rt_b_stop_timer(rt_b *b)
{
    if (!b->timer_on_)
        return;
    b->duration_ += rt_nanotime() - b->start_;
    uint64_t m, by;
    read_allocs(&m, &by);
    b->net_allocs_ += m - b->start_allocs_;
    b->net_bytes_ += by - b->start_bytes_;
    b->timer_on_ = false;
}

void rt_b_reset_timer(rt_b *b)
{
    if (b->timer_on_) {
        read_allocs(&b->start_allocs_, &b->start_bytes_);
        b->start_ = rt_nanotime();
    }
    b->duration_ = 0;
    b->net_allocs_ = b->net_bytes_ = 0;
    b->nmetrics_ = 0; /* as Go's ResetTimer clears b.extra */
}

void rt_b_report_metric(rt_b *b, double value, const char *unit)
{
    size_t len = unit ? strlen(unit) : 0;
    if (len == 0 || len >= sizeof b->metrics_[0].unit || strpbrk(unit, " \t\n") != NULL) {
        fprintf(stderr, "grt bench: metric unit \"%s\" is empty, too long or has blanks\n",
                unit ? unit : "(null)");
        return;
    }
    for (int i = 0; i < b->nmetrics_; i++) {
        if (strcmp(b->metrics_[i].unit, unit) == 0) {
            b->metrics_[i].value = value;
            return;
        }
    }
    int max = (int)(sizeof b->metrics_ / sizeof b->metrics_[0]);
    if (b->nmetrics_ == max) {
        fprintf(stderr, "grt bench: more than %d metrics; \"%s\" dropped\n", max, unit);
        return;
    }
    memcpy(b->metrics_[b->nmetrics_].unit, unit, len + 1);
    b->metrics_[b->nmetrics_++].value = value;
}

/* The reported metric of this unit, or NULL. */
static const double *metric(const rt_b *b, const char *unit)
{
    for (int i = 0; i < b->nmetrics_; i++)
        if (strcmp(b->metrics_[i].unit, unit) == 0)
            return &b->metrics_[i].value;
    return NULL;
}

void rt_b_set_bytes(rt_b *b, int64_t n)
{
    b->bytes_ = n;
}

void rt_b_report_allocs(rt_b *b)
{
    b->report_allocs_ = true;
}

/* ------------------------------------------------------------ failures -- */

static void add_failure(rt_b *b, const char *fmt, va_list ap)
{
    rt_mutex_lock(&fail_mu);
    b->failed_ = true;
    if (b->log_ == NULL)
        b->log_ = calloc(1, sizeof(rt__pbuf));
    rt__pbuf *log = b->log_;
    if (log != NULL) {
        /* Go indents a benchmark's messages by four spaces under its
         * "--- FAIL" line. */
        rt__pbuf_put(log, "    ", 4);
        rt__pbuf_vprintf(log, fmt, ap);
        rt__pbuf_put(log, "\n", 1);
    }
    rt_mutex_unlock(&fail_mu);
}

/* "--- FAIL: name" and the messages, on stdout as go test prints them;
 * frees the messages.  Called once the run has ended. */
static void print_failure(const char *name, rt_b *b)
{
    rt_mutex_lock(&fail_mu);
    rt__pbuf *log = b->log_;
    b->log_ = NULL;
    rt_mutex_unlock(&fail_mu);
    printf("--- FAIL: %s\n", name);
    fflush(stdout);
    if (log != NULL) {
        if (!log->oom)
            rt__write_all(1, log->b, log->n);
        rt__pbuf_free(log);
        free(log);
    }
}

void rt_b_errorf(rt_b *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_failure(b, fmt, ap);
    va_end(ap);
}

bool rt_b_failed(rt_b *b)
{
    rt_mutex_lock(&fail_mu);
    bool f = b->failed_;
    rt_mutex_unlock(&fail_mu);
    return f;
}

/* The end of a run, by return or by rt_b_fatalf on its goroutine. */
static void end_run(rt_b *b)
{
    rt_b_stop_timer(b);
    rt_waitgroup_done(b->done_);
}

void rt_b_fatalf(rt_b *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_failure(b, fmt, ap);
    va_end(ap);
    if (rt_goid() == b->goid_) {
        end_run(b);
        rt_exit();
    }
    /* Another goroutine of the run: ending it would leave the run's
     * goroutine waiting for it forever, so the program ends here, with
     * the verdict it would have reached. */
    print_failure(running_name, b);
    printf("FAIL\n");
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------- running -- */

static void run_goroutine(void *arg)
{
    rt_b *b = arg;
    b->goid_ = rt_goid();
    rt_b_start_timer(b);
    running->fn(b);
    end_run(b);
}

static void run_n(const rt_benchmark *bm, rt_b *b, int64_t n)
{
    rt_gc();
    b->n = n;
    b->timer_on_ = false;
    rt_b_reset_timer(b);
    rt_waitgroup done = {0};
    b->done_ = &done;
    running = bm;
    rt_waitgroup_add(&done, 1);
    /* The timer starts and stops on the run's goroutine, as in Go's runN:
     * neither the spawn nor the runner's wake-up is in the time. */
    if (rt_go(run_goroutine, b) < 0) {
        /* No goroutine to be had: run it here.  goid_ 0 is no
         * goroutine's, so that rt_b_fatalf ends the process rather than
         * rt_exit the runner. */
        b->goid_ = 0;
        rt_b_start_timer(b);
        bm->fn(b);
        end_run(b);
    }
    rt_waitgroup_wait(&done);
    b->done_ = NULL;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static void launch(const rt_benchmark *bm, rt_b *b)
{
    run_n(bm, b, 1);
    if (rt_b_failed(b))
        return;
    if (opts.benchtime_ns == 0) {
        if (opts.benchtime_n > 1)
            run_n(bm, b, opts.benchtime_n);
        return;
    }
    for (int64_t n = 1;
         b->duration_ < opts.benchtime_ns && n < 1000000000 && !rt_b_failed(b);) {
        int64_t last = n, prev = b->n, prevns = b->duration_ > 0 ? b->duration_ : 1;
        /* goal * prev / prevns without overflow for long goals */
        n = (int64_t)((double)opts.benchtime_ns * (double)prev / (double)prevns);
        n += n / 5;
        n = min64(n, 100 * last);
        n = max64(n, last + 1);
        n = min64(n, 1000000000);
        run_n(bm, b, n);
    }
}

/* Go's prettyPrint: ten places before the point, four significant figures
 * for small numbers. */
static void pretty(rt__pbuf *o, double x, const char *unit)
{
    double y = x < 0 ? -x : x;
    int w, p;
    if (y == 0 || y >= 999.95)
        w = 10, p = 0;
    else if (y >= 99.995)
        w = 12, p = 1;
    else if (y >= 9.9995)
        w = 13, p = 2;
    else if (y >= 0.99995)
        w = 14, p = 3;
    else if (y >= 0.099995)
        w = 15, p = 4;
    else if (y >= 0.0099995)
        w = 16, p = 5;
    else if (y >= 0.00099995)
        w = 17, p = 6;
    else
        w = 18, p = 7;
    rt__pbuf_printf(o, "%*.*f %s", w, p, x, unit);
}

static void result_line(const char *name, int width, const rt_b *b)
{
    rt__pbuf o = {0};
    rt__pbuf_printf(&o, "%-*s\t%8lld", width, name, (long long)b->n);
    const double *ns_metric = metric(b, "ns/op");
    double ns = ns_metric ? *ns_metric : (double)b->duration_ / (double)b->n;
    if (ns != 0) {
        rt__pbuf_put(&o, "\t", 1);
        pretty(&o, ns, "ns/op");
    }
    if (b->bytes_ > 0 && b->duration_ > 0) {
        double mbs = ((double)b->bytes_ * (double)b->n / 1e6) / ((double)b->duration_ / 1e9);
        rt__pbuf_printf(&o, "\t%7.2f MB/s", mbs);
    }
    /* The other reported metrics in unit order, as Go sorts b.extra's
     * keys: a selection of the smallest not yet printed (eight at most). */
    const char *last = "";
    for (int k = 0; k < b->nmetrics_; k++) {
        int next = -1;
        for (int i = 0; i < b->nmetrics_; i++) {
            const char *u = b->metrics_[i].unit;
            if (strcmp(u, last) > 0 && (next < 0 || strcmp(u, b->metrics_[next].unit) < 0))
                next = i;
        }
        if (next < 0)
            break;
        last = b->metrics_[next].unit;
        if (strcmp(last, "ns/op") == 0 || strcmp(last, "MB/s") == 0 ||
            strcmp(last, "B/op") == 0 || strcmp(last, "allocs/op") == 0)
            continue;
        rt__pbuf_put(&o, "\t", 1);
        pretty(&o, b->metrics_[next].value, last);
    }
    if (opts.benchmem || b->report_allocs_)
        rt__pbuf_printf(&o, "\t%8llu B/op\t%8llu allocs/op",
                        (unsigned long long)(b->net_bytes_ / (uint64_t)b->n),
                        (unsigned long long)(b->net_allocs_ / (uint64_t)b->n));
    rt__pbuf_put(&o, "\n", 1);
    if (!o.oom)
        rt__write_all(1, o.b, o.n);
    rt__pbuf_free(&o);
}

static void bench_name(char *out, size_t n, const char *name)
{
    int procs = rt_maxprocs(0);
    const char *pre = strncmp(name, "Benchmark", 9) == 0 ? "" : "Benchmark";
    if (procs != 1)
        snprintf(out, n, "%s%s-%d", pre, name, procs);
    else
        snprintf(out, n, "%s%s", pre, name);
}

static void cpu_model(char *out, size_t n)
{
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            const char *v = strchr(line, ':') + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)strcspn(v, "\n"), v);
            break;
        }
    }
    fclose(f);
}

static int open_profile(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fprintf(stderr, "grt bench: cannot create %s\n", path);
    return fd;
}

static void write_named(const char *path, const char *name)
{
    if (path == NULL)
        return;
    int fd = open_profile(path);
    if (fd < 0)
        return;
    rt_pprof_write(name, fd, 0);
    close(fd);
}

static int bench_goroutine(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    regex_t re;
    if (regcomp(&re, opts.bench, REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "grt bench: bad -bench regular expression \"%s\"\n", opts.bench);
        return 2;
    }
    if (opts.memprofilerate >= 0)
        rt_set_memprofile_rate(opts.memprofilerate);
    if (opts.blockprofile)
        rt_set_block_profile_rate(opts.blockprofilerate);
    if (opts.mutexprofile)
        rt_set_mutex_profile_fraction(opts.mutexfraction);
    int cpufd = -1;
    if (opts.cpuprofile) {
        cpufd = open_profile(opts.cpuprofile);
        if (cpufd >= 0 && rt_pprof_start_cpu(cpufd) != 0) {
            close(cpufd);
            cpufd = -1;
        }
    }

    char name[256], cpu[256];
    int width = 0;
    bool failed = false;
    for (const rt_benchmark *bm = bench_table; bm->name; bm++) {
        bench_name(name, sizeof name, bm->name);
        char full[256];
        snprintf(full, sizeof full, "%s%s",
                 strncmp(bm->name, "Benchmark", 9) == 0 ? "" : "Benchmark", bm->name);
        if (regexec(&re, full, 0, NULL, 0) == 0 && (int)strlen(name) > width)
            width = (int)strlen(name);
    }
    cpu_model(cpu, sizeof cpu);
    printf("goos: linux\n");
#if defined(__x86_64__)
    printf("goarch: amd64\n");
#elif defined(__aarch64__)
    printf("goarch: arm64\n");
#endif
    if (cpu[0])
        printf("cpu: %s\n", cpu);
    fflush(stdout);
    for (const rt_benchmark *bm = bench_table; bm->name; bm++) {
        char full[256];
        snprintf(full, sizeof full, "%s%s",
                 strncmp(bm->name, "Benchmark", 9) == 0 ? "" : "Benchmark", bm->name);
        if (regexec(&re, full, 0, NULL, 0) != 0)
            continue;
        bench_name(name, sizeof name, bm->name);
        snprintf(running_name, sizeof running_name, "%s", name);
        for (int k = 0; k < opts.count; k++) {
            rt_b b;
            memset(&b, 0, sizeof b);
            launch(bm, &b);
            if (rt_b_failed(&b)) {
                print_failure(name, &b);
                failed = true;
                break;
            }
            result_line(name, width, &b);
        }
    }
    regfree(&re);
    if (cpufd >= 0) {
        rt_pprof_stop_cpu();
        close(cpufd);
    }
    if (opts.memprofile) {
        rt_gc();
        write_named(opts.memprofile, "allocs");
    }
    write_named(opts.blockprofile, "block");
    write_named(opts.mutexprofile, "mutex");
    printf(failed ? "FAIL\n" : "PASS\n");
    fflush(stdout);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- flags -- */

static int64_t parse_duration(const char *s, bool *ok)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},      {"us", 1e3},  {"\xc2\xb5s", 1e3}, {"ms", 1e6},
                 {"s", 1e9},     {"m", 60e9},  {"h", 3600e9}};
    double total = 0;
    *ok = false;
    while (*s) {
        char *e;
        double v = strtod(s, &e);
        if (e == s)
            return 0;
        size_t best = 0;
        double mul = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(e, units[i].unit, l) == 0 && l > best) {
                best = l;
                mul = units[i].ns;
            }
        }
        if (best == 0)
            return 0;
        total += v * mul;
        s = e + best;
    }
    *ok = total > 0;
    return (int64_t)total;
}

static bool take(const char *flag, const char *want, int *i, int argc, char **argv,
                 const char **val)
{
    const char *f = flag;
    while (*f == '-')
        f++;
    if (strncmp(f, "test.", 5) == 0)
        f += 5;
    size_t l = strlen(want);
    if (strncmp(f, want, l) != 0)
        return false;
    if (val == NULL) /* a boolean flag: -x or -x=true */
        return f[l] == 0 || strcmp(f + l, "=true") == 0;
    if (f[l] == '=') {
        *val = f + l + 1;
        return true;
    }
    if (f[l] != 0)
        return false;
    if (*i + 1 >= argc)
        return false;
    *val = argv[++*i];
    return true;
}

static int usage(const char *arg)
{
    fprintf(stderr,
            "grt bench: bad flag %s\n"
            "usage: %s [-bench regex] [-benchtime 1s|Nx] [-count n] [-benchmem]\n"
            "       [-cpuprofile f] [-memprofile f] [-memprofilerate n]\n"
            "       [-blockprofile f] [-blockprofilerate n] [-mutexprofile f]\n"
            "       [-mutexprofilefraction n]\n",
            arg, "benchmark");
    return 2;
}

int rt_bench_main(const rt_benchmark *benchmarks, int argc, char **argv)
{
    bench_table = benchmarks;
    opts = (bench_opts){.bench = ".",
                        .benchtime_ns = 1000000000,
                        .count = 1,
                        .memprofilerate = -1,
                        .blockprofilerate = 1,
                        .mutexfraction = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (a[0] != '-')
            return usage(a);
        if (take(a, "benchtime", &i, argc, argv, &v)) {
            size_t l = strlen(v);
            if (l > 1 && v[l - 1] == 'x') {
                opts.benchtime_ns = 0;
                opts.benchtime_n = atoll(v);
                if (opts.benchtime_n <= 0)
                    return usage(a);
            } else {
                bool ok;
                opts.benchtime_ns = parse_duration(v, &ok);
                if (!ok)
                    return usage(a);
            }
        } else if (take(a, "benchmem", &i, argc, argv, NULL)) {
            opts.benchmem = true;
        } else if (take(a, "bench", &i, argc, argv, &v)) {
            opts.bench = v;
        } else if (take(a, "count", &i, argc, argv, &v)) {
            opts.count = atoi(v);
            if (opts.count <= 0)
                return usage(a);
        } else if (take(a, "cpuprofile", &i, argc, argv, &v)) {
            opts.cpuprofile = v;
        } else if (take(a, "memprofilerate", &i, argc, argv, &v)) {
            opts.memprofilerate = atoi(v);
        } else if (take(a, "memprofile", &i, argc, argv, &v)) {
            opts.memprofile = v;
        } else if (take(a, "blockprofilerate", &i, argc, argv, &v)) {
            opts.blockprofilerate = atoi(v);
        } else if (take(a, "blockprofile", &i, argc, argv, &v)) {
            opts.blockprofile = v;
        } else if (take(a, "mutexprofilefraction", &i, argc, argv, &v)) {
            opts.mutexfraction = atoi(v);
        } else if (take(a, "mutexprofile", &i, argc, argv, &v)) {
            opts.mutexprofile = v;
        } else {
            return usage(a);
        }
    }
    return rt_main(bench_goroutine, argc, argv);
}
