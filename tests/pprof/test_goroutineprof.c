/*
 * tests/pprof/test_goroutineprof.c -- the goroutine and threadcreate
 * profiles.
 *
 *   - 10 goroutines parked in parked_worker: the proto's total, the text
 *     header's total and the debug=2 dump's goroutine count all equal
 *     rt_num_goroutine(); parked_worker's stack holds all 10 (one record
 *     per label set in the text form, whichever path each parked
 *     through, with Go 1.19's "# labels:" line); the labels a
 *     worker set show in -tags, and so do the ones it inherited;
 *   - debug=2: every line is the crash dump's (header, frame, file line
 *     without fp=, created by, blank), the caller first and [running],
 *     no trailing blank line;
 *   - a goroutine running on another thread shows its real stack (its
 *     thread walks itself from a signal) in debug=0, 1 and 2;
 *   - threadcreate: one record per thread, total >= 1, readable by pprof.
 */
#include <regex.h>
#include <stdatomic.h>

#include "pprof_test.h"

#define NOINLINE __attribute__((noinline))

static void write_profile(const char *name, const char *file, int debug)
{
    int fd = pp_create(file);
    REQUIRE_EQ(rt_pprof_write(name, fd, debug), 0);
    close(fd);
}

typedef struct wctx {
    rt_chan *gate, *started;
} wctx;

NOINLINE static void parked_worker(void *p)
{
    wctx *w = p;
    static _Atomic int n;
    if (atomic_fetch_add(&n, 1) == 0)
        REQUIRE_EQ(rt_set_label("worker", "first"), 0);
    rt_chan_send(w->started, NULL);
    rt_chan_recv(w->gate, NULL);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

/* Parks at once: spawned in a row, most switch to a goroutine that never
 * ran (the switch's gswitch_first path), the last to one that did. */
NOINLINE static void fresh_waiter(void *gate)
{
    rt_chan_recv(gate, NULL);
    __asm__ volatile("" ::: "memory");
}

/* The records of the text form txt whose listing names fn: how many, and
 * their goroutines in all. */
static int records_of(const char *txt, const char *fn, int *records)
{
    int total = 0;
    *records = 0;
    for (const char *rec = txt; (rec = strstr(rec, "\n")) != NULL; rec++) {
        if (rec[1] < '1' || rec[1] > '9')
            continue;
        const char *end = strstr(rec + 1, "\n\n");
        const char *pw = strstr(rec + 1, fn);
        if (pw != NULL && (end == NULL || pw < end)) {
            total += atoi(rec + 1);
            (*records)++;
        }
    }
    return total;
}

static int count_matches(const char *text, const char *re_s)
{
    regex_t re;
    REQUIRE_EQ(regcomp(&re, re_s, REG_EXTENDED | REG_NEWLINE), 0);
    int n = 0;
    regmatch_t m;
    const char *s = text;
    while (regexec(&re, s, 1, &m, 0) == 0) {
        n++;
        s += m.rm_eo;
    }
    regfree(&re);
    return n;
}

/* TRACE_FORMATS.md §7, debug >= 2: the crash-style dump and nothing
 * else -- the caller's goroutine first, [running]; then blank line,
 * header, frames at GOTRACEBACK's level (1: no fp=), created by; no
 * "goroutine profile:" header, no blank line at the very end. */
static void check_debug2_lines(const char *txt)
{
    static const char *const res[] = {
        "^goroutine [0-9]+ \\[[^]]+\\]:$",
        "^[A-Za-z_][A-Za-z0-9_.]*\\(\\.\\.\\.\\)$|^\\?\\(\\)$",
        "^\t[^ \t]+:[0-9]+( \\+0x[0-9a-f]+)?$",
        "^created by [A-Za-z_][A-Za-z0-9_.]*$",
        "^\tgoroutine running on other thread; stack unavailable$",
        "^\\.\\.\\.additional frames elided\\.\\.\\.$",
        "^$",
    };
    enum { NRES = sizeof res / sizeof res[0] };
    regex_t re[NRES];
    for (int i = 0; i < NRES; i++)
        REQUIRE_EQ(regcomp(&re[i], res[i], REG_EXTENDED | REG_NOSUB), 0);
    size_t len = strlen(txt);
    REQUIRE_MSG(len > 2 && txt[len - 1] == '\n' && txt[len - 2] != '\n',
                "debug=2 must end with one newline:\n%s", txt);
    char first[128];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(txt, "\n"), txt);
    REQUIRE_MSG(count_matches(first, "^goroutine [0-9]+ \\[running\\]:$") == 1,
                "debug=2 starts with the caller, running:\n%.300s", txt);
    char *copy = strdup(txt), *save = NULL;
    REQUIRE(copy != NULL);
    int lineno = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        int i = 0;
        while (i < NRES && regexec(&re[i], line, 0, NULL, 0) != 0)
            i++;
        REQUIRE_MSG(i < NRES, "debug=2 line %d: \"%s\"", lineno, line);
    }
    free(copy);
    for (int i = 0; i < NRES; i++)
        regfree(&re[i]);
}

RT_TEST(test_goroutine_counts)
{
    REQUIRE_EQ(rt_set_label("suite", "goroutineprof"), 0);
    wctx w = {rt_chan_make(0, 0), rt_chan_make(0, 10)};
    for (int i = 0; i < 10; i++)
        REQUIRE_GT(rt_go(parked_worker, &w), 0);
    for (int i = 0; i < 10; i++)
        REQUIRE(rt_chan_recv(w.started, NULL));
    rt_sleep(10 * RT_MILLISECOND); /* all parked on the gate */
    int ng = rt_num_goroutine();
    REQUIRE_EQ(ng, 11);

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("goroutine.pb.gz"));
    write_profile("goroutine", file, 0);
    char *top = pp_tool("-top %s", file);
    REQUIRE_MSG(pp_total(top) == ng, "total != %d:\n%s", ng, top);
    double f, c;
    REQUIRE_MSG(pp_row(top, "parked_worker", &f, &c) && c == 10, "parked_worker:\n%s", top);
    free(top);
    char *tags = pp_tool("-tags %s", file);
    REQUIRE_MSG(strstr(tags, "worker:") && strstr(tags, "first"), "labels:\n%s", tags);
    /* the workers inherited goroutine 1's label */
    REQUIRE_MSG(strstr(tags, "suite: Total 11") && strstr(tags, "): goroutineprof"),
                "inherited labels:\n%s", tags);
    free(tags);

    snprintf(file, sizeof file, "%s", pp_path("goroutine.txt"));
    write_profile("goroutine", file, 1);
    char *txt = pp_read(file);
    char want[64];
    snprintf(want, sizeof want, "goroutine profile: total %d\n", ng);
    REQUIRE_MSG(strncmp(txt, want, strlen(want)) == 0, "header:\n%.500s", txt);
    /* the workers are two records, by their labels (Go 1.19's "# labels:"
     * line): the first one's 1 and the others' 9.  The switch's own
     * frames, which differ by the path a goroutine parked through, are
     * not part of a record's stack. */
    int records;
    int workers = records_of(txt, "parked_worker+0x", &records);
    REQUIRE_MSG(workers == 10 && records == 2, "%d workers in %d records:\n%s", workers,
                records, txt);
    REQUIRE_MSG(strstr(txt, "\n1 @ ") && strstr(txt, "\n9 @ ") &&
                    strstr(txt, "\n# labels: {\"suite\":\"goroutineprof\", "
                                "\"worker\":\"first\"}\n#\t") &&
                    strstr(txt, "\n# labels: {\"suite\":\"goroutineprof\"}\n#\t"),
                "labels in the text form:\n%s", txt);
    free(txt);

    snprintf(file, sizeof file, "%s", pp_path("goroutine2.txt"));
    write_profile("goroutine", file, 2);
    txt = pp_read(file);
    REQUIRE_MSG(count_matches(txt, "^goroutine [0-9]+ \\[[^]]+\\]:$") == ng,
                "debug=2 goroutines != %d:\n%s", ng, txt);
    REQUIRE_MSG(count_matches(txt, "^goroutine [0-9]+ \\[chan receive\\]:$") == 10,
                "debug=2 waits:\n%s", txt);
    check_debug2_lines(txt);
    free(txt);
    rt_chan_close(w.gate);

    /* goroutines that park on their first run merge too */
    rt_chan *gate = rt_chan_make(0, 0);
    for (int i = 0; i < 10; i++)
        REQUIRE_GT(rt_go(fresh_waiter, gate), 0);
    /* until all ten have parked (a slow host -- CI's ASan build, twice
     * loaded -- may profile one before its first run: its record is its
     * entry function alone, a record of its own, as it should be) */
    snprintf(file, sizeof file, "%s", pp_path("goroutine_fresh.txt"));
    for (int tries = 0;; tries++) {
        rt_sleep(10 * RT_MILLISECOND);
        write_profile("goroutine", file, 1);
        txt = pp_read(file);
        workers = records_of(txt, "fresh_waiter+0x", &records);
        if (workers == 10 && records == 1)
            break;
        REQUIRE_MSG(tries < 100, "%d fresh waiters in %d records:\n%s", workers, records, txt);
        free(txt);
    }
    free(txt);
    rt_chan_close(gate);
}

/* A goroutine in a system call shows from its RT_BLOCKING line up, in
 * both the profile and the dump, as Go's from its system call: it was a
 * one-frame record of its entry function (at the function's first line)
 * and "goroutine running on other thread; stack unavailable" (an outside
 * tester's find). */
static int pipefd[2];
static _Atomic int in_read;

NOINLINE static void blocked_read_inner(void)
{
    char c;
    atomic_store(&in_read, 1);
    ssize_t k = RT_BLOCKING(read(pipefd[0], &c, 1)); /* BLOCKED_READ_LINE */
    REQUIRE_EQ(k, 1);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

NOINLINE static void blocked_reader(void *p)
{
    rt_chan *done = p;
    blocked_read_inner();
    rt_chan_send(done, NULL);
}

RT_TEST(test_syscall_stack)
{
    REQUIRE_EQ(pipe(pipefd), 0);
    rt_chan *done = rt_chan_make(0, 1);
    REQUIRE_GT(rt_go(blocked_reader, done), 0);
    while (!atomic_load(&in_read))
        rt_sleep(RT_MILLISECOND);
    rt_sleep(20 * RT_MILLISECOND); /* inside read(2) by now */

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("syscall.txt"));
    write_profile("goroutine", file, 1);
    char *txt = pp_read(file);
    /* the record holds the whole chain, the inner function first */
    REQUIRE_MSG(pp_before(txt, "\tblocked_read_inner+0x", "\tblocked_reader+0x"),
                "debug=1:\n%s", txt);
    free(txt);

    snprintf(file, sizeof file, "%s", pp_path("syscall2.txt"));
    write_profile("goroutine", file, 2);
    txt = pp_read(file);
    REQUIRE_MSG(strstr(txt, "[syscall]:\nmain.blocked_read_inner(") != NULL ||
                    strstr(txt, "[syscall]:\nblocked_read_inner(") != NULL,
                "debug=2:\n%s", txt);
    REQUIRE_MSG(strstr(txt, "stack unavailable") == NULL, "debug=2:\n%s", txt);
    free(txt);

    REQUIRE_EQ(write(pipefd[1], "x", 1), 1);
    REQUIRE(rt_chan_recv(done, NULL));
    close(pipefd[0]);
    close(pipefd[1]);
}

/* A goroutine running on another thread was a one-frame record of its
 * entry function at its first line, and "goroutine running on other
 * thread; stack unavailable" in debug=2 (an outside tester's find; Go
 * stops the world and shows where it runs).  Tried until its thread
 * answers: on a loaded host it may not be on a CPU when asked. */
static _Atomic int spin_stop, spinning;

NOINLINE static void spin_leaf(void)
{
    atomic_store(&spinning, 1);
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        __asm__ volatile("" ::: "memory");
}

NOINLINE static void spinner(void *p)
{
    spin_leaf();
    rt_chan_send(p, NULL);
}

/* Whether the debug=2 dump has fn in the frames of a goroutine shown
 * [runnable] -- Go's runtime.Stack(all) stops the world, which preempts a
 * goroutine running elsewhere (TRACE_FORMATS.md 7) -- that is not the
 * dump's first (the caller's [running]) block.  fn: its first frame or
 * below (under TSan the interrupted leaf is often the sanitizer's atomic
 * load inside it). */
static bool runnable_block_has(const char *txt, const char *fn)
{
    const char *f = strstr(txt, fn);
    if (f == NULL)
        return false;
    const char *hdr = NULL;
    for (const char *p = txt; (p = strstr(p, "goroutine ")) != NULL && p < f; p++)
        if (p == txt || p[-1] == '\n')
            hdr = p;
    if (hdr == NULL)
        return false;
    const char *eol = strchr(hdr, '\n');
    return hdr != txt && eol != NULL && eol < f &&
           memmem(hdr, (size_t)(eol - hdr), "[runnable]", 10) != NULL;
}

RT_TEST(test_running_stack)
{
    int old = rt_maxprocs(2);
    rt_chan *done = rt_chan_make(0, 1);
    REQUIRE_GT(rt_go(spinner, done), 0);
    while (!atomic_load(&spinning))
        rt_sleep(RT_MILLISECOND);

    char file[512], file2[512], file0[512];
    snprintf(file, sizeof file, "%s", pp_path("running.txt"));
    snprintf(file2, sizeof file2, "%s", pp_path("running2.txt"));
    snprintf(file0, sizeof file0, "%s", pp_path("running.pb.gz"));
    bool ok1 = false, ok2 = false, ok0 = false;
    char *txt = NULL, *txt2 = NULL, *traces = NULL;
    for (int tries = 0; tries < 50 && !(ok1 && ok2 && ok0); tries++) {
        free(txt);
        free(txt2);
        free(traces);
        write_profile("goroutine", file, 1);
        txt = pp_read(file);
        ok1 = ok1 || pp_before(txt, "\tspin_leaf+0x", "\tspinner+0x");
        write_profile("goroutine", file2, 2);
        txt2 = pp_read(file2);
        /* the caller alone is [running], in the first block */
        ok2 = ok2 || (runnable_block_has(txt2, "spin_leaf(") &&
                      count_matches(txt2, "^goroutine [0-9]+ \\[running\\]:$") == 1 &&
                      strstr(txt2, " [running]:\n") != NULL &&
                      strstr(txt2, " [running]:\n") < strchr(txt2, '\n'));
        write_profile("goroutine", file0, 0);
        traces = pp_tool("-traces %s", file0);
        ok0 = ok0 || pp_before(traces, "spin_leaf", "spinner");
        if (!(ok1 && ok2 && ok0))
            rt_sleep(10 * RT_MILLISECOND);
    }
    REQUIRE_MSG(ok1, "debug=1:\n%s", txt);
    REQUIRE_MSG(ok2, "debug=2:\n%s", txt2);
    REQUIRE_MSG(ok0, "debug=0 (-traces):\n%s", traces);
    free(txt);
    free(txt2);
    free(traces);
    atomic_store(&spin_stop, 1);
    REQUIRE(rt_chan_recv(done, NULL));
    rt_maxprocs(old);
}

RT_TEST(test_threadcreate)
{
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("threadcreate.txt"));
    write_profile("threadcreate", file, 1);
    char *txt = pp_read(file);
    REQUIRE_MSG(count_matches(txt, "^threadcreate profile: total [1-9][0-9]*$") == 1,
                "header:\n%s", txt);
    REQUIRE_MSG(count_matches(txt, "^[1-9][0-9]* @( 0x[0-9a-f]+)+$") >= 1, "record:\n%s", txt);
    REQUIRE_MSG(strstr(txt, "newm+0x") || strstr(txt, "rt_main+0x"), "listing:\n%s", txt);
    free(txt);
    snprintf(file, sizeof file, "%s", pp_path("threadcreate.pb.gz"));
    write_profile("threadcreate", file, 0);
    char *raw = pp_tool("-raw %s", file);
    REQUIRE_MSG(strstr(raw, "threadcreate/count") != NULL, "raw:\n%s", raw);
    free(raw);
}

static Suite *suite(void)
{
    Suite *s = suite_create("goroutineprof");
    TCase *tc = tcase_create("goroutineprof");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_goroutine_counts);
    tcase_add_test(tc, test_syscall_stack);
    tcase_add_test(tc, test_running_stack);
    tcase_add_test(tc, test_threadcreate);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), NULL);
}
