/*
 * tests/bench/bench_common.h -- the benchmark helpers that need no runtime.
 *
 * Included by bench.h (the grt programs) and boehm/boehm_bench.h (the Boehm
 * GC programs, which do not link grt), so the three versions of a
 * workload -- grt, Boehm, Go -- share one protocol: argv sizes, "FAIL: ..."
 * and exit status 1, and the same memory and CPU readings.  Static and
 * marked unused, for the reasons bench.h gives.
 */
#ifndef GRT_BENCH_COMMON_H
#define GRT_BENCH_COMMON_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_UNUSED __attribute__((unused))

/* Prints "FAIL: ..." to stderr and ends the process with status 1.  Called
 * from any goroutine or thread: exit() ends every thread, as the program is
 * done. */
BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2)))
static void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    exit(1);
}

/* argv[i] as a positive integer if present, else dflt (for programs with
 * more than one size argument: run.sh splits a row's size on spaces). */
BENCH_UNUSED
static int64_t bench_arg(int argc, char **argv, int i, int64_t dflt)
{
    if (argc <= i)
        return dflt;
    char *end = NULL;
    long long n = strtoll(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || n <= 0)
        bench_fail("bad argument %d '%s' (want a positive integer)", i, argv[i]);
    return (int64_t)n;
}

/* The workload size: argv[1] if given, else dflt. */
BENCH_UNUSED
static int64_t bench_size(int argc, char **argv, int64_t dflt)
{
    return bench_arg(argc, argv, 1, dflt);
}

/* One "Key:  <n> kB" field of /proc/self/status, in bytes; -1 if absent. */
BENCH_UNUSED
static int64_t bench_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    size_t klen = strlen(key);
    int64_t v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtoll(line + klen + 1, NULL, 10) * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

/* Peak resident set size of this process in bytes (VmHWM). */
BENCH_UNUSED
static int64_t bench_peak_rss(void)
{
    return bench_status_kb("VmHWM");
}

/* CPU time of the whole process (every thread, user + system) in ns,
 * from getrusage(RUSAGE_SELF), as the Go versions read it. */
BENCH_UNUSED
static int64_t bench_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

#endif
