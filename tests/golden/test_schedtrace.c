/*
 * tests/golden/test_schedtrace.c -- DEBUG=schedtrace=X and scheddetail=1
 * against TRACE_FORMATS.md §2 (the Go 1.3 forms).
 *
 * The test binary re-executes itself (/proc/self/exe --child) with DEBUG and
 * MAXPROCS set; the child keeps a few goroutines busy for ~450 ms and exits.
 * Every stderr line must match one of the patterns below exactly (POSIX
 * extended regular expressions anchored at both ends), and the fields must
 * agree with each other: SCHED times start at 0 and grow by about X,
 * gomaxprocs equals MAXPROCS, the bracket list has gomaxprocs entries (the
 * " [a", " b", " c]" forms of 1, 2 and 3 Ps), the idle counts never exceed
 * their totals, and the detailed dump lists every P once in order, one M
 * line per thread of the head (allm order: newest first), each M's p a P
 * that exists, and G lines with Go's status numbers, where a waiting G
 * (status 4) names one of Go's wait reasons.
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

static void in_syscall(void *arg)
{
    (void)arg;
    rt_syscall_enter();
    usleep(2000 * 1000);
    rt_syscall_exit();
}

static void nothing(void *arg)
{
    (void)arg;
}

static harness_tnode *volatile live_tree;

static int child_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (getenv("SCHED_TEST_GC") != NULL) {
        /* collections that stop the world (gcstoptheworld=1) for a few ms
         * each, for 400 ms */
        live_tree = harness_tree(17);
        int64_t end = rt_nanotime() + 400 * RT_MILLISECOND;
        while (rt_nanotime() < end)
            (void)harness_tree(12);
        return 0;
    }
    if (getenv("SCHED_TEST_QUEUED") != NULL) {
        /* five goroutines queued on the only P, which this one keeps busy
         * without a scheduling point for 450 ms */
        for (int i = 0; i < 5; i++)
            rt_go(nothing, NULL);
        int64_t end = rt_nanotime() + 450 * RT_MILLISECOND;
        while (rt_nanotime() < end)
            ;
        return 0;
    }
    if (getenv("SCHED_TEST_FATAL") != NULL) {
        /* a throw while one goroutine sits in a system call */
        rt_go(in_syscall, NULL);
        rt_sleep(50 * RT_MILLISECOND);
        rt_chan_close(NULL);
    }
    rt_waitgroup_add(&wg, 4);
    for (int i = 0; i < 4; i++)
        rt_go(busy, NULL);
    rt_waitgroup_wait(&wg);
    return 0;
}

/* ------------------------------------------------------------ parent -- */

/* Runs the child with env additions (extra: one more "NAME=value" or
 * NULL); it must exit with status want; returns its stderr (malloc'd). */
static char *run_child_ex(const char *debug, const char *maxprocs, const char *extra, int want)
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
    char *envp[] = {dbg, mp, (char *)extra, NULL};
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
    ck_assert_int_eq(WEXITSTATUS(status), want);
    posix_spawn_file_actions_destroy(&fa);
    return out;
}

static char *run_child(const char *debug, const char *maxprocs)
{
    return run_child_ex(debug, maxprocs, NULL, 0);
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

/* The plain lines at MAXPROCS=procs: the bracket list holds procs
 * unpadded decimals, one space apart. */
static void check_plain_lines(int procs)
{
    char mp[16], bracket[128] = " \\[[0-9]+";
    snprintf(mp, sizeof mp, "%d", procs);
    for (int i = 1; i < procs; i++)
        strcat(bracket, " [0-9]+");
    strcat(bracket, "\\]$");
    char pattern[512];
    snprintf(pattern, sizeof pattern, "%s%s", HEAD, bracket);
    char *out = run_child("schedtrace=100", mp);
    int nlines = 0;
    long last_ms = -1;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[9];
        ck_assert_msg(match(pattern, line, m, 9), "line does not match: '%s'", line);
        long ms = field(line, &m[1]);
        if (nlines == 0)
            ck_assert_int_eq(ms, 0); /* the first line is SCHED 0ms */
        else
            /* about X apart: sysmon ticks every <= 10 ms around it */
            ck_assert_msg(ms - last_ms >= 90 && ms - last_ms <= 250,
                          "SCHED times %ld then %ld", last_ms, ms);
        last_ms = ms;
        ck_assert_int_eq(field(line, &m[2]), procs);
        ck_assert_int_le(field(line, &m[3]), procs);
        ck_assert_int_le(field(line, &m[5]), field(line, &m[4]));
        ck_assert_int_ge(field(line, &m[4]), 2); /* an M and sysmon at least */
        nlines++;
    }
    ck_assert_int_ge(nlines, 3);
    free(out);
}

START_TEST(test_plain_lines)
{
    check_plain_lines(2);
}
END_TEST

/* Three Ps: the middle P's " %d" form. */
START_TEST(test_plain_lines_three)
{
    check_plain_lines(3);
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

/* Go's wait reasons (TRACE_FORMATS.md §2.2, both versions and 1.3's
 * "stack unsplit", 1.4's "force gc (idle)"), plus later Go's
 * "GC worker (idle)", which grt's background collector goroutine uses. */
static bool go_wait_reason(const char *r, size_t n)
{
    static const char *const reasons[] = {
        "chan send", "chan receive", "chan send (nil chan)", "chan receive (nil chan)",
        "select", "select (no cases)", "sleep", "IO wait", "semacquire", "semarelease",
        "timer goroutine (idle)", "finalizer wait", "GC sweep wait", "garbage collection",
        "stack growth", "dumping heap", "panicwait", "stack unsplit", "force gc (idle)",
        "GC worker (idle)"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strlen(reasons[i]) == n && strncmp(reasons[i], r, n) == 0)
            return true;
    return false;
}

/* The end of one detailed dump: its M lines against its head. */
static void check_dump_ms(int ms_in_dump, long threads)
{
    if (threads >= 0)
        ck_assert_msg(ms_in_dump == threads, "%d M lines for threads=%ld", ms_in_dump,
                      threads);
}

START_TEST(test_detail_dump)
{
    char *out = run_child("schedtrace=150,scheddetail=1", "3");
    int heads = 0, ps = 0, ms = 0, gs = 0;
    int last_p = -1, ms_in_dump = 0;
    long threads = -1, last_m = -1;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[12];
        if (match(HEAD " gcwaiting=([0-9]+) nmidlelocked=([0-9]+) nmspinning=([0-9]+) "
                       "stopwait=([0-9]+) sysmonwait=([0-9]+)$",
                  line, m, 12)) {
            check_dump_ms(ms_in_dump, threads);
            ck_assert_int_eq(field(line, &m[2]), 3);
            ck_assert_int_le(field(line, &m[3]), 3);                   /* idleprocs */
            ck_assert_int_le(field(line, &m[5]), field(line, &m[4])); /* idlethreads */
            ck_assert_int_le(field(line, &m[11]), 3);                  /* stopwait */
            threads = field(line, &m[4]);
            heads++;
            last_p = -1;
            last_m = -1;
            ms_in_dump = 0;
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
            long id = field(line, &m[1]);
            /* allm order: newest first, so ids fall; all below mcount */
            ck_assert_msg(last_m < 0 || id < last_m, "M%ld after M%ld", id, last_m);
            ck_assert_msg(id < threads, "M%ld with threads=%ld", id, threads);
            ck_assert_msg(field(line, &m[2]) < 3, "no such P: '%s'", line);
            last_m = id;
            ms_in_dump++;
            ms++;
        } else if (match("^  G([0-9]+): status=([0-6])\\(([A-Za-z ()]*)\\) m=(-1|[0-9]+) "
                         "lockedm=(-1|[0-9]+)$",
                         line, m, 6)) {
            long st = field(line, &m[2]);
            ck_assert(st != 5);
            /* a waiting G says why, in Go's words; others may show a
             * stale reason or none (Go clears it only at exit) */
            size_t rn = (size_t)(m[3].rm_eo - m[3].rm_so);
            ck_assert_msg(rn == 0 || go_wait_reason(line + m[3].rm_so, rn),
                          "not one of Go's wait reasons: '%s'", line);
            if (st == 4)
                ck_assert_msg(rn > 0, "waiting without a reason: '%s'", line);
            ck_assert_msg(field(line, &m[4]) < threads, "no such M: '%s'", line);
            gs++;
        } else {
            ck_abort_msg("line does not match: '%s'", line);
        }
    }
    check_dump_ms(ms_in_dump, threads);
    ck_assert_int_ge(heads, 2);
    ck_assert_int_eq(ps, 3 * heads);
    ck_assert_int_ge(ms, 2 * heads);
    /* goroutine 1, then (from the second dump on) the 4 busy ones too */
    ck_assert_int_ge(gs, 5 * (heads - 1) + 1);
    free(out);
}
END_TEST

/* A P's count is every goroutine queued on it, the one in runnext too:
 * five started on a busy P showed as [4] and runqsize=4 beside five
 * status=1 lines (an outside tester's find). A loaded machine can hold
 * the child back past the first dump before it queues any (CI saw
 * schedtick=1 runqsize=0), so a dump may show none; never four. */
START_TEST(test_local_queue_counts_runnext)
{
    char *out = run_child_ex("schedtrace=100,scheddetail=1", "1", "SCHED_TEST_QUEUED=1", 0);
    int dumps = 0;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[2];
        if (match("^  P0: status=1 .* runqsize=([0-9]+) ", line, m, 2)) {
            long n = field(line, &m[1]);
            ck_assert_msg(n == 5 || (n == 0 && dumps == 0), "five queued: '%s'", line);
            dumps += n == 5;
        }
    }
    ck_assert_msg(dumps >= 2, "%d dumps with P0 running:\n%s", dumps, out);
    free(out);
    out = run_child_ex("schedtrace=100", "1", "SCHED_TEST_QUEUED=1", 0);
    ck_assert_msg(strstr(out, " [5]\n") != NULL && strstr(out, " [4]\n") == NULL,
                  "five queued:\n%s", out);
    free(out);
}
END_TEST

/* Go's startpanic: with either scheduler tracer on, a throw prints one
 * detailed dump before "fatal error:" (TRACE_FORMATS.md section 2), and
 * a goroutine in a system call names its M there. */
START_TEST(test_detail_dump_at_throw)
{
    static const char *const debugs[] = {"schedtrace=100000", "scheddetail=1"};
    for (int k = 0; k < 2; k++) {
        char *out = run_child_ex(debugs[k], "2", "SCHED_TEST_FATAL=1", 2);
        char *fatal = strstr(out, "fatal error: close of nil channel\n");
        ck_assert_msg(fatal != NULL, "DEBUG=%s: no fatal line:\n%s", debugs[k], out);
        *fatal = 0;
        int heads = 0, syscall_gs = 0;
        long sys_m = -1;
        char *copy = strdup(out);
        for (char *save, *line = strtok_r(out, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            regmatch_t m[6];
            if (match(HEAD " gcwaiting=", line, m, 1)) {
                heads++;
            } else if (match("^  G[0-9]+: status=3\\(\\) m=([0-9]+) lockedm=-1$", line, m, 2)) {
                syscall_gs++;
                sys_m = field(line, &m[1]);
            } else if (match("^  P[0-9]+: status=2 .* m=([-0-9]+) ", line, m, 2)) {
                /* Go 1.3's entersyscall clears p->m */
                ck_assert_msg(field(line, &m[1]) == -1, "P in syscall with an M: '%s'", line);
            }
        }
        /* ... and keeps m->p: the M of the G in the system call names a P */
        char want[32];
        snprintf(want, sizeof want, "\n  M%ld: p=", sys_m);
        const char *ml = strstr(copy, want);
        ck_assert_msg(sys_m < 0 || (ml != NULL && ml[strlen(want)] != '-'),
                      "DEBUG=%s: M%ld in a syscall without its P:\n%s", debugs[k], sys_m, copy);
        free(copy);
        /* schedtrace=100000's first line is a plain one at 0 ms */
        ck_assert_msg(heads == 1 && syscall_gs == 1,
                      "DEBUG=%s: %d detailed heads, %d G in syscall with its M:\n%s",
                      debugs[k], heads, syscall_gs, out);
        free(out);
    }
}
END_TEST

/* As in Go 1.3, a dump taken while the world is stopped for a collection
 * shows the collecting goroutine waiting in "garbage collection" and its M
 * with gcing=1 (grt's collector runs on that goroutine's own stack). */
START_TEST(test_detail_dump_during_collection)
{
    char *out = run_child_ex("schedtrace=1,scheddetail=1,gcstoptheworld=1", "2",
                             "SCHED_TEST_GC=1", 0);
    int stopped_dumps = 0, collecting = 0, gcing = 0;
    bool in_stopped = false;
    int dump_collecting = 0, dump_gcing = 0;
    for (char *save, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[8]; /* HEAD's six groups, then gcwaiting's */
        if (match(HEAD " gcwaiting=([01]) ", line, m, 8)) {
            if (in_stopped)
                ck_assert_msg(dump_collecting == dump_gcing && dump_collecting <= 1,
                              "a stopped dump with %d collecting Gs, %d gcing Ms",
                              dump_collecting, dump_gcing);
            in_stopped = line[m[7].rm_so] == '1';
            stopped_dumps += in_stopped;
            dump_collecting = dump_gcing = 0;
        } else if (strstr(line, ": status=4(garbage collection) m=-1 ") != NULL) {
            ck_assert_msg(in_stopped, "collecting outside a stop: '%s'", line);
            dump_collecting++;
            collecting++;
        } else if (strstr(line, " gcing=1 ") != NULL) {
            ck_assert_msg(in_stopped, "gcing outside a stop: '%s'", line);
            dump_gcing++;
            gcing++;
        }
    }
    ck_assert_msg(stopped_dumps > 0 && collecting > 0 && collecting == gcing,
                  "%d dumps with the world stopped, %d collecting Gs, %d gcing Ms",
                  stopped_dumps, collecting, gcing);
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
    tcase_add_test(tc, test_plain_lines_three);
    tcase_add_test(tc, test_one_proc_bracket);
    tcase_add_test(tc, test_detail_dump);
    tcase_add_test(tc, test_detail_dump_at_throw);
    tcase_add_test(tc, test_local_queue_counts_runnext);
    tcase_add_test(tc, test_detail_dump_during_collection);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
