/*
 * tests/golden/test_gctrace.c -- DEBUG=gctrace=1 and 2 and the scavenger's
 * lines against TRACE_FORMATS.md §1 (Go 1.3 forms).
 *
 * The test binary re-executes itself (/proc/self/exe --child MODE) with
 * DEBUG, GOGC and MAXPROCS set.  Every stderr line must match one of the
 * patterns below exactly (every literal pinned, every field an unpadded
 * decimal), and the fields must agree with each other and with the
 * rt_read_memstats figures the child prints on stdout:
 *   - gc numbers run 1, 2, 3, ... and the last is memstats' num_gc;
 *   - objects = mallocs - frees; mallocs and frees never decrease;
 *   - nproc is at least 1 and at most min(8, MAXPROCS, CPUs);
 *   - heap0 of gc1 is 0; sweeps a/b/c (TRACE_FORMATS.md Part A): a, the
 *     spans in use at the cycle's start, is at least 1 (the child keeps a
 *     tree); gc1's b and c are 0 (no cycle before it left spans to
 *     sweep); with the world stopped to mark (gcstoptheworld=1) a cycle
 *     sweeps exactly the spans it started with, so b + c <= the previous
 *     line's a (both sweepers only sweep the spans the previous cycle
 *     left, and allocating goroutines sweep some of them too);
 *   - the cycle after an rt_gc() that the child followed with
 *     rt_read_memstats shows that reading: heap0 is its next_gc x 100 /
 *     (GOGC + 100) in MB (§1.1 field 7: its heap_alloc, unless the goal
 *     sits on its 4 MB floor), heap1 its heap_alloc in MB, mallocs and
 *     frees are its counts (nothing ran in
 *     between); the rt_gc's own line has the same mallocs; the later
 *     cycle's b + c is exactly the rt_gc's a (nothing allocated since that
 *     cycle started, so it swept what it started with, all of it before
 *     the later one began) and its a is at most that;
 *   - the scvg-1 lines follow rt_free_os_memory's gc line and show the
 *     memstats read right after it: inuse, idle, sys, released, consumed.
 * gctrace=2 runs each collection twice: two lines per rt_gc().  GOGC=off
 * prints no gc line for 64 MB of garbage.  The periodic scavenger runs with
 * shortened periods (rt__scvg_periods, an internal knob) and must print
 * scvg0, scvg1, ... in order, with forced cycles as "gc line, scvgK: GC
 * forced, scvgK lines".
 */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "golden.h"
#include "harness.h"

#include "gc/gc.h"

/* ------------------------------------------------------------- child -- */

typedef struct node {
    struct node *left, *right;
    long value;
} node;

static node *tree(int depth)
{
    node *n = rt_new(node);
    n->value = depth;
    if (depth > 0) {
        n->left = tree(depth - 1);
        n->right = tree(depth - 1);
    }
    return n;
}

static long count(const node *n)
{
    return n == NULL ? 0 : 1 + count(n->left) + count(n->right);
}

static rt_waitgroup wg;

/* About 24 MB of garbage per goroutine in objects of 16 B to 64 KiB. */
static void churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[64] = {0};
    for (int i = 0; i < 6000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (size_t)16 << (seed >> 16) % 13; /* 16 B .. 64 KiB */
        if (n > 8192 && seed % 4 != 0)
            n = 100;
        void *p = (seed >> 8) & 1 ? rt_alloc(n) : rt_alloc_noscan(n);
        memset(p, 1, n < 64 ? n : 64);
        keep[seed % 64] = p;
        if (i % 1000 == 0)
            rt_yield();
    }
    (void)keep;
    rt_waitgroup_done(&wg);
}

static void print_ms(const char *tag)
{
    rt_memstats ms;
    rt_read_memstats(&ms);
    printf("%s num_gc=%u mallocs=%llu frees=%llu heap_alloc=%llu heap_objects=%llu "
           "heap_inuse=%llu heap_idle=%llu heap_sys=%llu heap_released=%llu next_gc=%llu\n",
           tag, ms.num_gc, (unsigned long long)ms.mallocs, (unsigned long long)ms.frees,
           (unsigned long long)ms.heap_alloc, (unsigned long long)ms.heap_objects,
           (unsigned long long)ms.heap_inuse, (unsigned long long)ms.heap_idle,
           (unsigned long long)ms.heap_sys, (unsigned long long)ms.heap_released,
           (unsigned long long)ms.next_gc);
    fflush(stdout);
}

static int child_cycles(void)
{
    node *kept = tree(12);
    rt_waitgroup_add(&wg, 3);
    for (uintptr_t i = 1; i <= 3; i++)
        rt_go(churn, (void *)i);
    for (int i = 0; i < 20; i++)
        (void)tree(10);
    rt_gc();
    for (int i = 0; i < 20; i++)
        (void)tree(10);
    rt_waitgroup_wait(&wg);
    rt_gc();
    print_ms("after-gc");
    rt_gc();
    rt_free_os_memory();
    print_ms("after-free");
    if (count(kept) != 8191)
        return 1;
    return 0;
}

static int child_bigalloc(void)
{
    for (int i = 0; i < 64 * 16; i++) {
        char *p = rt_alloc_noscan(64 << 10);
        p[0] = 1;
    }
    for (int i = 0; i < 64 * 1024; i++)
        (void)rt_new(node);
    print_ms("after-alloc");
    return 0;
}

static int child_scvg(void)
{
    for (int i = 0; i < 10; i++)
        (void)tree(10);
    rt_gc();
    rt_sleep(1300 * RT_MILLISECOND);
    print_ms("after-sleep");
    return 0;
}

static int child_main(int argc, char **argv)
{
    const char *mode = argc > 2 ? argv[2] : "";
    if (strcmp(mode, "cycles") == 0)
        return child_cycles();
    if (strcmp(mode, "bigalloc") == 0)
        return child_bigalloc();
    if (strcmp(mode, "scvg") == 0)
        return child_scvg();
    return 3;
}

/* ------------------------------------------------------------ parent -- */

#define GC_LINE                                                                        \
    "^gc" GN "\\(" GN "\\): " GN "\\+" GN "\\+" GN "\\+" GN " us, " GN " -> " GN " MB, " \
    GN " \\(" GN "-" GN "\\) objects, " GN "/" GN "/" GN " sweeps, " GN "\\(" GN           \
    "\\) handoff, " GN "\\(" GN "\\) steal, " GN "/" GN "/" GN " yields$"
#define SCVG_K "(-1|" GN ")"
#define SCVG_RELEASED "^scvg" SCVG_K ": " GN " MB released$"
#define SCVG_INUSE                                                                     \
    "^scvg" SCVG_K ": inuse: " GN ", idle: " GN ", sys: " GN ", released: " GN          \
    ", consumed: " GN " \\(MB\\)$"
#define SCVG_FORCED "^scvg" GN ": GC forced$"

enum { F_N = 1, F_NPROC, F_A, F_B, F_C, F_D, F_HEAP0, F_HEAP1, F_OBJ, F_MALLOCS, F_FREES,
       F_SWA, F_SWB, F_SWC, F_HANDOFF, F_HANDOFFCNT, F_STEAL, F_STEALCNT, F_PROCY,
       F_OSY, F_SLEEP, F_COUNT };

typedef struct gcline {
    long long f[F_COUNT];
} gcline;

typedef struct memstats_line {
    bool seen;
    unsigned long long num_gc, mallocs, frees, heap_alloc, heap_objects, heap_inuse,
        heap_idle, heap_sys, heap_released, next_gc;
} memstats_line;

static memstats_line read_ms(const char *out, const char *tag)
{
    memstats_line m = {0};
    char key[64];
    snprintf(key, sizeof key, "%s num_gc=", tag);
    const char *p = strstr(out, key);
    if (p == NULL)
        return m;
    int k = sscanf(p + strlen(tag),
                   " num_gc=%llu mallocs=%llu frees=%llu heap_alloc=%llu heap_objects=%llu "
                   "heap_inuse=%llu heap_idle=%llu heap_sys=%llu heap_released=%llu "
                   "next_gc=%llu",
                   &m.num_gc, &m.mallocs, &m.frees, &m.heap_alloc, &m.heap_objects,
                   &m.heap_inuse, &m.heap_idle, &m.heap_sys, &m.heap_released, &m.next_gc);
    ck_assert_int_eq(k, 10);
    m.seen = true;
    return m;
}

static int ncpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

static long long min3(long long a, long long b, long long c)
{
    long long m = a < b ? a : b;
    return m < c ? m : c;
}

/* Checks one gc line's own fields and its consistency with the previous
 * one; returns the parsed line. */
static gcline check_gc_line(const char *line, const regmatch_t *m, const gcline *prev,
                            int maxprocs, bool stw)
{
    gcline g;
    for (int i = 1; i < F_COUNT; i++)
        g.f[i] = golden_num(line, &m[i]);
    ck_assert_msg(g.f[F_N] == (prev ? prev->f[F_N] + 1 : 1), "gc numbers: '%s'", line);
    ck_assert_msg(g.f[F_NPROC] >= 1 && g.f[F_NPROC] <= min3(8, maxprocs, ncpu()),
                  "nproc: '%s'", line);
    ck_assert_msg(g.f[F_OBJ] == g.f[F_MALLOCS] - g.f[F_FREES], "objects: '%s'", line);
    ck_assert_msg(g.f[F_HANDOFFCNT] >= g.f[F_HANDOFF], "handoff: '%s'", line);
    ck_assert_msg(g.f[F_STEALCNT] >= g.f[F_STEAL], "steal: '%s'", line);
    /* steals and hand-offs happen between mark threads: none with one */
    ck_assert_msg(g.f[F_NPROC] > 1 || (g.f[F_STEAL] == 0 && g.f[F_HANDOFF] == 0),
                  "steals or hand-offs with one mark thread: '%s'", line);
    /* a pause (A + C + D) over 10 s is no plausible reading */
    ck_assert_msg(g.f[F_A] + g.f[F_C] + g.f[F_D] < 10000000, "phases: '%s'", line);
    ck_assert_msg(g.f[F_SWA] >= 1, "no spans at the start: '%s'", line);
    if (prev == NULL) {
        ck_assert_msg(g.f[F_HEAP0] == 0, "gc1 heap0: '%s'", line);
        ck_assert_msg(g.f[F_SWB] == 0 && g.f[F_SWC] == 0, "gc1 sweeps: '%s'", line);
    } else {
        ck_assert_msg(g.f[F_MALLOCS] >= prev->f[F_MALLOCS] && g.f[F_FREES] >= prev->f[F_FREES],
                      "counts went down: '%s'", line);
        /* Concurrent marking lets spans be created between a cycle's
         * start and the end of its marking, and the cycle sweeps those
         * too: the bound holds when the world stops to mark. */
        if (stw)
            ck_assert_msg(g.f[F_SWB] + g.f[F_SWC] <= prev->f[F_SWA],
                          "sweeps: '%s' after a = %lld", line, prev->f[F_SWA]);
    }
    return g;
}

typedef struct run_result {
    gcline lines[512];
    int ngc;
    int scvg_neg1_at; /* index (in stderr lines) of the scvg-1 inuse line, -1 */
    long long scvg_neg1[5]; /* inuse idle sys released consumed */
    int gc_before_scvg;     /* gc lines seen before it */
} run_result;

/* Runs mode "cycles" and checks every line; fills r. */
static void check_cycles(const char *debug, int maxprocs, run_result *r, memstats_line *m1,
                         memstats_line *m2)
{
    char dbg[64], mp[32];
    snprintf(dbg, sizeof dbg, "DEBUG=%s", debug);
    snprintf(mp, sizeof mp, "MAXPROCS=%d", maxprocs);
    char *env[] = {dbg, mp, NULL};
    golden_out o = golden_run("test_gctrace", "cycles", env);
    ck_assert(o.err_ends_nl);
    *m1 = read_ms(o.out, "after-gc");
    *m2 = read_ms(o.out, "after-free");
    ck_assert(m1->seen && m2->seen);
    size_t n;
    char **lines = golden_lines(o.err, &n);
    r->ngc = 0;
    r->scvg_neg1_at = -1;
    bool released_pending = false;
    for (size_t i = 0; i < n; i++) {
        const char *line = lines[i];
        regmatch_t m[F_COUNT + 1];
        if (golden_match(GC_LINE, line, m, F_COUNT)) {
            ck_assert_msg(!released_pending, "'MB released' not followed by inuse");
            ck_assert_int_lt(r->ngc, 512);
            r->lines[r->ngc] = check_gc_line(line, m, r->ngc ? &r->lines[r->ngc - 1] : NULL,
                                             maxprocs, strstr(debug, "gcstoptheworld=1"));
            r->ngc++;
        } else if (golden_match(SCVG_RELEASED, line, m, 4)) {
            ck_assert_msg(strncmp(line, "scvg-1:", 7) == 0, "'%s'", line);
            released_pending = true;
        } else if (golden_match(SCVG_INUSE, line, m, 8)) {
            ck_assert_msg(strncmp(line, "scvg-1:", 7) == 0, "'%s'", line);
            ck_assert_int_eq(r->scvg_neg1_at, -1); /* one rt_free_os_memory */
            r->scvg_neg1_at = (int)i;
            r->gc_before_scvg = r->ngc;
            for (int k = 0; k < 5; k++)
                r->scvg_neg1[k] = golden_num(line, &m[3 + k]);
            released_pending = false;
        } else {
            ck_abort_msg("line does not match: '%s'", line);
        }
    }
    ck_assert(!released_pending);
    free(lines);
    golden_free(&o);
    ck_assert_int_ge(r->ngc, 4);
    /* every cycle printed a line */
    ck_assert_int_eq(r->ngc, (int)m2->num_gc);
    ck_assert_int_ne(r->scvg_neg1_at, -1);
    /* rt_free_os_memory's cycle came right before its scvg lines */
    ck_assert_int_eq(r->gc_before_scvg, r->ngc);
}

/* The rt_gc pair, the scvg-1 lines: see the file's head. */
static void check_gctrace1(const char *debug)
{
    static run_result r;
    memstats_line m1, m2;
    check_cycles(debug, 4, &r, &m1, &m2);
    ck_assert_int_ge(r.ngc, 6); /* the churn alone crosses 4 MB many times */
    /* m1 was read right after rt_gc number m1.num_gc; then rt_gc, then
     * rt_free_os_memory: two more cycles. */
    ck_assert_int_eq(m2.num_gc, m1.num_gc + 2);
    const gcline *x = &r.lines[m1.num_gc - 1], *y = &r.lines[m1.num_gc];
    ck_assert_int_eq(x->f[F_MALLOCS], m1.mallocs);
    ck_assert_int_le(x->f[F_FREES], m1.frees);
    ck_assert_int_ge(x->f[F_HEAP1], m1.heap_alloc >> 20);
    /* heap0 is Go 1.3's next_gc x 100 / (GOGC + 100) (GOGC=100 here): the
     * live heap, or 2 MB while the goal sits on its 4 MB floor */
    ck_assert_int_eq(y->f[F_HEAP0], (m1.next_gc * 100 / 200) >> 20);
    if (m1.next_gc > (4u << 20))
        ck_assert_int_eq(y->f[F_HEAP0], m1.heap_alloc >> 20);
    ck_assert_int_eq(y->f[F_HEAP1], m1.heap_alloc >> 20);
    ck_assert_int_eq(y->f[F_MALLOCS], m1.mallocs);
    ck_assert_int_eq(y->f[F_FREES], m1.frees);
    ck_assert_int_eq(y->f[F_OBJ], m1.heap_objects);
    /* From x's start to y nothing allocated, so x swept the spans it
     * started with (a), each either by rt_gc's eager sweep or by y's
     * leftover sweeping (c) or by the background sweeper running
     * alongside them (b); y starts with those of them still in use. */
    ck_assert_int_gt(x->f[F_SWA], 0);
    ck_assert_int_eq(y->f[F_SWB] + y->f[F_SWC], x->f[F_SWA]);
    ck_assert_int_le(y->f[F_SWA], x->f[F_SWA]);
    /* scvg-1 against the memstats read right after rt_free_os_memory */
    ck_assert_int_eq(r.scvg_neg1[0], m2.heap_inuse >> 20);
    ck_assert_int_eq(r.scvg_neg1[1], m2.heap_idle >> 20);
    ck_assert_int_eq(r.scvg_neg1[2], m2.heap_sys >> 20);
    ck_assert_int_eq(r.scvg_neg1[3], m2.heap_released >> 20);
    ck_assert_int_eq(r.scvg_neg1[4], (m2.heap_sys - m2.heap_released) >> 20);
}

START_TEST(test_gctrace1)
{
    check_gctrace1("gctrace=1");
}
END_TEST

/* Marking with the world stopped: each cycle sweeps the spans it started
 * with, so every line's b + c is bounded by the previous line's a. */
START_TEST(test_gctrace1_stw)
{
    check_gctrace1("gctrace=1,gcstoptheworld=1");
}
END_TEST

START_TEST(test_gctrace2)
{
    static run_result r;
    memstats_line m1, m2;
    check_cycles("gctrace=2", 2, &r, &m1, &m2);
    /* rt_gc and rt_free_os_memory: two collections, four lines */
    ck_assert_int_eq(m2.num_gc, m1.num_gc + 4);
    ck_assert_int_eq(r.ngc % 2, 0);
    /* each pass of the rt_gc pair sees the same allocations */
    const gcline *a = &r.lines[m1.num_gc], *b = &r.lines[m1.num_gc + 1];
    ck_assert_int_eq(a->f[F_MALLOCS], m1.mallocs);
    ck_assert_int_eq(b->f[F_MALLOCS], m1.mallocs);
    ck_assert_int_eq(a->f[F_FREES], m1.frees);
}
END_TEST

START_TEST(test_gogc_off)
{
    char *env[] = {(char *)"DEBUG=gctrace=1", (char *)"GOGC=off", (char *)"MAXPROCS=2", NULL};
    golden_out o = golden_run("test_gctrace", "bigalloc", env);
    ck_assert_msg(o.nerr == 0, "GOGC=off printed: %s", o.err);
    memstats_line m = read_ms(o.out, "after-alloc");
    ck_assert(m.seen);
    ck_assert_int_eq(m.num_gc, 0);
    ck_assert_uint_ge(m.heap_alloc, (unsigned long long)64 << 20);
    golden_free(&o);
}
END_TEST

START_TEST(test_gctrace_off)
{
    char *env[] = {(char *)"MAXPROCS=2", NULL};
    golden_out o = golden_run("test_gctrace", "cycles", env);
    ck_assert_msg(o.nerr == 0, "no DEBUG printed: %s", o.err);
    golden_free(&o);
}
END_TEST

/* The periodic scavenger with periods of 100 ms, a forced cycle after
 * 250 ms without one, and no age limit for releasing. */
START_TEST(test_scvg_periodic)
{
    char *env[] = {(char *)"DEBUG=gctrace=1", (char *)"MAXPROCS=2", NULL};
    golden_out o = golden_run("test_gctrace", "scvg", env);
    memstats_line m = read_ms(o.out, "after-sleep");
    ck_assert(m.seen);
    size_t n;
    char **lines = golden_lines(o.err, &n);
    long long next_k = 0, ngc = 0, forced = 0, released = 0;
    bool gc_just_before = false;
    long long forced_k = -1, released_k = -1;
    for (size_t i = 0; i < n; i++) {
        const char *line = lines[i];
        regmatch_t mm[F_COUNT + 1];
        if (golden_match(GC_LINE, line, mm, F_COUNT)) {
            ck_assert_int_eq(golden_num(line, &mm[F_N]), ++ngc);
            ck_assert_int_eq(forced_k, -1);
            gc_just_before = true;
            continue;
        }
        if (golden_match(SCVG_FORCED, line, mm, 2)) {
            long long k = golden_num(line, &mm[1]);
            ck_assert_msg(gc_just_before, "'%s' without its gc line", line);
            ck_assert_int_eq(k, next_k);
            forced_k = k;
            forced++;
        } else if (golden_match(SCVG_RELEASED, line, mm, 4)) {
            long long k = golden_num(line, &mm[2]);
            ck_assert_int_eq(k, next_k);
            ck_assert(forced_k == -1 || forced_k == k);
            released_k = k;
            released++;
        } else if (golden_match(SCVG_INUSE, line, mm, 8)) {
            ck_assert_msg(mm[2].rm_so >= 0, "'%s': scvg-1 without rt_free_os_memory", line);
            long long k = golden_num(line, &mm[2]);
            ck_assert_int_eq(k, next_k);
            ck_assert(forced_k == -1 || forced_k == k);
            ck_assert(released_k == -1 || released_k == k);
            long long sys = golden_num(line, &mm[5]), rel = golden_num(line, &mm[6]);
            long long consumed = golden_num(line, &mm[7]);
            /* (sys - released) >> 20 vs the difference of the truncations */
            ck_assert(consumed == sys - rel || consumed == sys - rel - 1);
            next_k++;
            forced_k = released_k = -1;
        } else {
            ck_abort_msg("line does not match: '%s'", line);
        }
        gc_just_before = false;
    }
    /* ~13 passes in 1.3 s; allow a slow host half of them */
    ck_assert_int_ge(next_k, 6);
    ck_assert_int_ge(forced, 2);
    ck_assert_int_ge(released, 1); /* no age limit: the first pass releases */
    ck_assert_int_eq(ngc, (long long)m.num_gc);
    ck_assert_int_eq(ngc, 1 + forced); /* rt_gc, then only forced cycles */
    free(lines);
    golden_free(&o);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        if (argc > 2 && strcmp(argv[2], "scvg") == 0) {
            rt__scvg_periods.period = 100 * RT_MILLISECOND;
            rt__scvg_periods.forcegc = 250 * RT_MILLISECOND;
            rt__scvg_periods.limit = 0;
        }
        return rt_main(child_main, argc, argv);
    }
    Suite *s = suite_create("gctrace");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gctrace1);
    tcase_add_test(tc, test_gctrace1_stw);
    tcase_add_test(tc, test_gctrace2);
    tcase_add_test(tc, test_gogc_off);
    tcase_add_test(tc, test_gctrace_off);
    tcase_add_test(tc, test_scvg_periodic);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
