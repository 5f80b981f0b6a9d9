/*
 * tests/golden/test_schedtrace.c -- DEBUG=schedtrace=X and scheddetail=1
 * against TRACE_FORMATS.md §2 (the Go 1.3 forms).
 *
 * The test binary re-executes itself (/proc/self/exe --child) with DEBUG and
 * MAXPROCS set; the child keeps a few goroutines busy for ~450 ms and exits.
 * Every stderr line must match one of the patterns below exactly (POSIX
 * extended regular expressions anchored at both ends), and the fields must
 * agree with each other: SCHED times start at 0 and grow by about X,
 * gomaxprocs equals MAXPROCS, the bracket list has gomaxprocs entries, the
 * idle counts never exceed their totals, and the detailed dump lists every
 * P once, at least one M per thread, and G lines with Go's status numbers.
 */
#include <check.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"
#include "harness.h"

extern char **environ;

/* ------------------------------------------------------------- child -- */

static rt_waitgroup wg;

static void busy(void *arg)
{
    (void)arg;
    int64_t end = rt_nanotime() + 450 * RT_MILLISECOND;
    while (rt_nanotime() < end)
        rt_sleep(RT_MILLISECOND);
    rt_waitgroup_done(&wg);
}

static int child_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    rt_waitgroup_add(&wg, 4);
    for (int i = 0; i < 4; i++)
        rt_go(busy, NULL);
    rt_waitgroup_wait(&wg);
    return 0;
}

/* ------------------------------------------------------------ parent -- */

/* Runs the child with env additions; returns its stderr (malloc'd). */
static char *run_child(const char *debug, const char *maxprocs)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char dbg[128], mp[64];
    snprintf(dbg, sizeof dbg, "DEBUG=%s", debug);
    snprintf(mp, sizeof mp, "MAXPROCS=%s", maxprocs);
    char *envp[] = {dbg, mp, NULL};
    char *argv[] = {(char *)"test_schedtrace", (char *)"--child", NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp), 0);
    close(fds[1]);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fds[0], out + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 4096)
            out = realloc(out, cap *= 2);
    }
    out[n] = 0;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    posix_spawn_file_actions_destroy(&fa);
    return out;
}

static bool match(const char *pattern, const char *line, regmatch_t *m, size_t nm)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    bool ok = regexec(&re, line, nm, m, 0) == 0;
    regfree(&re);
    return ok;
}

static long field(const char *line, const regmatch_t *m)
{
    return strtol(line + m->rm_so, NULL, 10);
}

#define HEAD "^SCHED ([0-9]+)ms: gomaxprocs=([0-9]+) idleprocs=([0-9]+) threads=([0-9]+) idlethreads=([0-9]+) runqueue=([0-9]+)"

START_TEST(test_plain_lines)
{
    char *out = run_child("schedtrace=100", "2");
    int nlines = 0;
    long last_ms = -1;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[9];
        ck_assert_msg(match(HEAD " \\[([0-9]+) ([0-9]+)\\]$", line, m, 9),
                      "line does not match: '%s'", line);
        long ms = field(line, &m[1]);
        if (nlines == 0)
            ck_assert_int_eq(ms, 0); /* the first line is SCHED 0ms */
        else
            /* about X apart: sysmon ticks every <= 10 ms around it */
            ck_assert_msg(ms - last_ms >= 90 && ms - last_ms <= 250,
                          "SCHED times %ld then %ld", last_ms, ms);
        last_ms = ms;
        ck_assert_int_eq(field(line, &m[2]), 2);
        ck_assert_int_le(field(line, &m[3]), 2);
        ck_assert_int_le(field(line, &m[5]), field(line, &m[4]));
        ck_assert_int_ge(field(line, &m[4]), 2); /* an M and sysmon at least */
        nlines++;
    }
    ck_assert_int_ge(nlines, 3);
    free(out);
}
END_TEST

START_TEST(test_one_proc_bracket)
{
    char *out = run_child("schedtrace=100", "1");
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    regmatch_t m[8];
    ck_assert_msg(match(HEAD " \\[([0-9]+)\\]$", out, m, 8), "'%s'", out);
    ck_assert_int_eq(field(out, &m[2]), 1);
    free(out);
}
END_TEST

START_TEST(test_detail_dump)
{
    char *out = run_child("schedtrace=150,scheddetail=1", "3");
    int heads = 0, ps = 0, ms = 0, gs = 0;
    int last_p = -1;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[12];
        if (match(HEAD " gcwaiting=([0-9]+) nmidlelocked=([0-9]+) nmspinning=([0-9]+) "
                       "stopwait=([0-9]+) sysmonwait=([0-9]+)$",
                  line, m, 12)) {
            ck_assert_int_eq(field(line, &m[2]), 3);
            heads++;
            last_p = -1;
        } else if (match("^  P([0-9]+): status=([0-4]) schedtick=[0-9]+ syscalltick=[0-9]+ "
                         "m=(-1|[0-9]+) runqsize=[0-9]+ gfreecnt=[0-9]+$",
                         line, m, 4)) {
            long p = field(line, &m[1]);
            ck_assert_int_eq(p, last_p + 1); /* P0, P1, P2 in order */
            last_p = (int)p;
            ps++;
        } else if (match("^  M([0-9]+): p=(-1|[0-9]+) curg=(-1|[0-9]+) mallocing=[0-9]+ "
                         "throwing=[0-9]+ gcing=[0-9]+ locks=[0-9]+ dying=[0-9]+ "
                         "helpgc=-?[0-9]+ spinning=[01] blocked=[01] lockedg=(-1|[0-9]+)$",
                         line, m, 5)) {
            ms++;
        } else if (match("^  G([0-9]+): status=([0-6])\\(([a-z ()]*)\\) m=(-1|[0-9]+) "
                         "lockedm=(-1|[0-9]+)$",
                         line, m, 6)) {
            long st = field(line, &m[2]);
            ck_assert(st != 5);
            gs++;
        } else {
            ck_abort_msg("line does not match: '%s'", line);
        }
    }
    ck_assert_int_ge(heads, 2);
    ck_assert_int_eq(ps, 3 * heads);
    ck_assert_int_ge(ms, 2 * heads);
    /* goroutine 1, then (from the second dump on) the 4 busy ones too */
    ck_assert_int_ge(gs, 5 * (heads - 1) + 1);
    free(out);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return rt_main(child_main, argc, argv);
    Suite *s = suite_create("schedtrace");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_plain_lines);
    tcase_add_test(tc, test_one_proc_bracket);
    tcase_add_test(tc, test_detail_dump);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
