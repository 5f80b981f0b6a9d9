/*
 * tests/pprof/pprof_test.h -- helpers of the profiler tests: every profile
 * is checked through `go tool pprof` itself (Go 1.19, which CI installs;
 * a missing `go` is a test failure, not a skip).
 *
 * pp_dir()                     a fresh temporary directory for this test,
 *                              removed with what it holds when the process
 *                              that made it exits (a failed check's exit
 *                              too).
 * pp_path(name)                a file in it (static buffer, one at a time).
 * pp_create(path)              opens path for writing (asserted).
 * pp_tool(fmt, ...)            runs "go tool pprof <args> 2>&1", asserts
 *                              that it exits 0, returns its output (malloc).
 * pp_total(out)                N of "... of N<unit> total" (units forced
 *                              with -unit=ns / -unit=B by the caller).
 * pp_row(out, prefix, &flat, &cum)
 *                              the -top row of the first function whose
 *                              name starts with prefix; false if none.
 * pp_first(out, buf, n)        the function name of the first -top row.
 * pp_read(path)                a file's contents (malloc, NUL-terminated).
 */
#ifndef GRT_TESTS_PPROF_TEST_H
#define GRT_TESTS_PPROF_TEST_H

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char pp_tmpdir[256];
static char pp_pathbuf[512];
static pid_t pp_tmpdir_owner;

static inline int pp_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    (void)remove(path);
    return 0;
}

/* At exit, in the process that made the directory only: Check runs each
 * test in a forked child, which inherits the handler of a directory its
 * parent made and must leave it alone. */
static inline void pp_rm_tmpdir(void)
{
    if (pp_tmpdir[0] != 0 && getpid() == pp_tmpdir_owner)
        (void)nftw(pp_tmpdir, pp_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *pp_dir(void)
{
    if (pp_tmpdir[0] == 0) {
        const char *t = getenv("TMPDIR");
        snprintf(pp_tmpdir, sizeof pp_tmpdir, "%s/grt-pprof-XXXXXX", t && *t ? t : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(pp_tmpdir));
        pp_tmpdir_owner = getpid();
        static bool registered;
        if (!registered) {
            atexit(pp_rm_tmpdir);
            registered = true;
        }
    }
    return pp_tmpdir;
}

static inline const char *pp_path(const char *name)
{
    snprintf(pp_pathbuf, sizeof pp_pathbuf, "%s/%s", pp_dir(), name);
    return pp_pathbuf;
}

static inline int pp_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "cannot create %s", path);
    return fd;
}

/* Whether text holds a and, after it, b (a stack's inner frame before
 * its caller). */
static inline bool pp_before(const char *text, const char *a, const char *b)
{
    const char *x = strstr(text, a);
    return x != NULL && strstr(x + strlen(a), b) != NULL;
}

static inline char *pp_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    size_t k;
    while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) {
            cap *= 2;
            b = realloc(b, cap);
            ck_assert_ptr_nonnull(b);
        }
    }
    fclose(f);
    b[n] = 0;
    return b;
}

/* Runs a shell command, returns its output; *status its exit status. */
static inline char *pp_shell(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    size_t k;
    while ((k = fread(b + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (n + 1 == cap) {
            cap *= 2;
            b = realloc(b, cap);
            ck_assert_ptr_nonnull(b);
        }
    }
    b[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return b;
}

static inline char *pp_tool(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *pp_tool(const char *fmt, ...)
{
    char args[2048], cmd[2048 + 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int st;
    char *v = pp_shell("go version 2>&1", &st);
    ck_assert_msg(st == 0,
                  "`go` is needed to read the profiles (apt-get install golang-go): %s", v);
    free(v);
    /* HOME: pprof keeps its history there; a test must not depend on it.
     * cd: pprof guesses a source path prefix to trim from the basename of
     * its working directory ("/pprof/" in the build tree's tests/pprof
     * would turn /src/tests/pprof/x.c into x.c); the temporary directory's
     * name appears in no source path. */
    snprintf(cmd, sizeof cmd, "cd %s && HOME=%s PPROF_TMPDIR=%s go tool pprof %s 2>&1",
             pp_dir(), pp_dir(), pp_dir(), args);
    char *out = pp_shell(cmd, &st);
    ck_assert_msg(st == 0, "go tool pprof %s: exit %d:\n%.3000s", args, st, out);
    return out;
}

static inline double pp_total(const char *out)
{
    const char *s = strstr(out, "% of ");
    ck_assert_msg(s != NULL, "no total in:\n%.2000s", out);
    return strtod(s + 5, NULL);
}

/* Rows: "FLAT[unit] FLAT% SUM% CUM[unit] CUM%  NAME". */
static inline bool pp_row_at(const char *line, double *flat, double *cum, const char **name)
{
    char *e;
    double f = strtod(line, &e);
    if (e == line)
        return false;
    while (*e && *e != ' ')
        e++; /* unit */
    strtod(e, &e); /* flat% */
    if (*e != '%')
        return false;
    e++;
    strtod(e, &e); /* sum% */
    if (*e != '%')
        return false;
    e++;
    double c = strtod(e, &e);
    while (*e && *e != ' ')
        e++;
    strtod(e, &e); /* cum% */
    if (*e != '%')
        return false;
    e++;
    while (*e == ' ')
        e++;
    *flat = f;
    *cum = c;
    *name = e;
    return true;
}

static inline bool pp_row(const char *out, const char *prefix, double *flat, double *cum)
{
    const char *s = strstr(out, "flat%");
    if (s == NULL)
        return false;
    for (s = strchr(s, '\n'); s != NULL; s = strchr(s + 1, '\n')) {
        const char *name;
        if (pp_row_at(s + 1, flat, cum, &name) &&
            strncmp(name, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

static inline void pp_first(const char *out, char *buf, size_t n)
{
    buf[0] = 0;
    const char *s = strstr(out, "flat%");
    ck_assert_msg(s != NULL, "no rows in:\n%.2000s", out);
    s = strchr(s, '\n');
    double f, c;
    const char *name;
    ck_assert_msg(s != NULL && pp_row_at(s + 1, &f, &c, &name), "no rows in:\n%.2000s", out);
    size_t k = strcspn(name, "\n");
    if (k >= n)
        k = n - 1;
    memcpy(buf, name, k);
    buf[k] = 0;
}

/* CPU seconds of the calling thread. */
static inline double pp_thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif /* GRT_TESTS_PPROF_TEST_H */
