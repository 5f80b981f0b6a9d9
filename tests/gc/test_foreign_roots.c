/*
 * tests/gc/test_foreign_roots.c -- threads the runtime did not create are
 * roots (API.md: "every thread's registers and stack"; sched/foreign.c).
 *
 * Each case runs a scenario child (its own MAXPROCS and DEBUG) in which,
 * while goroutine 1 allocates garbage of the same size class and calls
 * rt_gc() in a loop:
 *   - a plain pthread builds rt_alloc'd lists whose only reference is a
 *     local, and holds each one across two collections while checking it;
 *   - another pthread builds a list and blocks in read(2) on a pipe with
 *     the list's head only in a register or its stack, until goroutine 1
 *     has run two collections and writes the pipe; then it checks the
 *     list (a thread blocked in a system call must be stopped and
 *     scanned);
 *   - a third pthread keeps starting short-lived threads that allocate,
 *     check and exit (registration and unregistration racing with stops);
 *   - a fourth never allocates: it receives lists over a channel from a
 *     goroutine that keeps no reference (a receive registers it);
 *   - a fifth gives every list it builds a finalizer (rt_set_finalizer
 *     on a thread without an M, racing with the collector's reads of the
 *     finalizer table), keeps the last few thousand, drops the rest; each
 *     finalizer checks its list, and all of them must run once the window
 *     is dropped too;
 *   - two more hold a list handed over as pthread_create's argument
 *     across collections, after one call into the runtime that neither
 *     allocates nor receives (rt_yield, rt_sleep): any call registers;
 *   - main() allocates a list before rt_main and checks it after: the
 *     main thread's stack below rt_main counts too.
 * A freed node is reused by goroutine 1's garbage, which overwrites it, so
 * a list the collector missed shows bad values (before foreign threads
 * were scanned: thousands per run).  In concurrent mode a ~16 MiB live
 * ballast makes every cycle concurrent (checked), so the foreign stacks
 * must be read in the final pause; DEBUG=gcstoptheworld=1 marks stopped.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "harness.h"

typedef struct node {
    struct node *next;
    long v, chk;
} node;

#define NLIST 2000
#define NBALLAST 500000 /* 32-byte nodes: ~16 MiB, too big for a stopped mark */

static node *volatile g_ballast;
static _Atomic long g_bad, g_rounds_a, g_rounds_b, g_rounds_c;
static _Atomic long g_gcs;
static _Atomic int g_stop;
static _Atomic int g_b_waiting; /* B is blocked in read since g_gcs == value-1 */
static _Atomic long g_b_since;
static int g_pipe[2];
static void *volatile g_sink;

static node *build(int n, long salt)
{
    node *h = NULL;
    for (int i = 0; i < n; i++) {
        node *x = rt_alloc(sizeof *x);
        x->next = h;
        x->v = i + salt;
        x->chk = ~(i + salt);
        h = x;
    }
    return h;
}

/* Bad values in a list build(n, salt) made (a cycle or a short list counts). */
static long check(const node *h, int n, long salt)
{
    long bad = 0;
    int i = n - 1, steps = 0;
    for (const node *p = h; p != NULL && steps <= n; p = p->next, i--, steps++)
        if (p->v != i + salt || p->chk != ~(i + salt))
            bad++;
    if (steps != n)
        bad++;
    return bad;
}

static void *thread_a(void *arg)
{
    (void)arg;
    for (long r = 0; !atomic_load(&g_stop); r++) {
        node *h = build(NLIST, r * 7);
        long until = atomic_load(&g_gcs) + 2;
        while (atomic_load(&g_gcs) < until && !atomic_load(&g_stop)) {
            atomic_fetch_add(&g_bad, check(h, NLIST, r * 7));
            usleep(200);
        }
        atomic_fetch_add(&g_bad, check(h, NLIST, r * 7));
        atomic_fetch_add(&g_rounds_a, 1);
    }
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    for (long r = 0;; r++) {
        node *h = build(NLIST / 4, r * 13 + 5);
        atomic_store(&g_b_since, atomic_load(&g_gcs));
        atomic_store(&g_b_waiting, 1);
        char c;
        ssize_t n;
        do
            n = read(g_pipe[0], &c, 1);
        while (n < 0);
        atomic_fetch_add(&g_bad, check(h, NLIST / 4, r * 13 + 5));
        if (n == 0 || c == 'q')
            return NULL;
        atomic_fetch_add(&g_rounds_b, 1);
    }
}

static void *short_lived(void *arg)
{
    long salt = (long)(intptr_t)arg;
    node *h = build(200, salt);
    usleep(100);
    atomic_fetch_add(&g_bad, check(h, 200, salt));
    return NULL;
}

static void *thread_c(void *arg)
{
    (void)arg;
    for (long r = 0; !atomic_load(&g_stop); r++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, (void *)(intptr_t)(r * 3 + 1)) != 0)
            continue;
        pthread_join(t, NULL);
        atomic_fetch_add(&g_rounds_c, 1);
    }
    return NULL;
}

/* D never allocates: it receives each list over a channel from a
 * goroutine that keeps no reference, and holds it across two
 * collections.  A receive registers the thread, as an allocation does. */
static rt_chan *g_handoff;
static _Atomic long g_rounds_d, g_d_wants;

static void *thread_d(void *arg)
{
    (void)arg;
    for (long r = 0; !atomic_load(&g_stop); r++) {
        node *h = NULL;
        atomic_store(&g_d_wants, r + 1);
        while (rt_chan_try_recv(g_handoff, &h) != 1) {
            if (atomic_load(&g_stop))
                return NULL;
            usleep(100);
        }
        long until = atomic_load(&g_gcs) + 2;
        while (atomic_load(&g_gcs) < until && !atomic_load(&g_stop)) {
            atomic_fetch_add(&g_bad, check(h, NLIST / 4, r * 11 + 3));
            usleep(200);
        }
        atomic_fetch_add(&g_bad, check(h, NLIST / 4, r * 11 + 3));
        atomic_fetch_add(&g_rounds_d, 1);
    }
    return NULL;
}

/* E: lists of 8 with finalizers (the head holds the finalizer). */
#define E_KEEP 4096
static node *volatile *g_e_keep; /* rt_alloc'd window, from a global */
static _Atomic long g_made_e, g_fin_e, g_fin_bad;

static void on_fin_e(void *p)
{
    node *h = p;
    atomic_fetch_add(&g_fin_bad, check(h, 8, h->v - 7));
    atomic_fetch_add(&g_fin_e, 1);
}

static void *thread_e(void *arg)
{
    (void)arg;
    for (long j = 0; !atomic_load(&g_stop); j++) {
        node *h = build(8, j * 16);
        rt_set_finalizer(h, on_fin_e);
        g_e_keep[j % E_KEEP] = h;
        atomic_fetch_add(&g_made_e, 1);
        if (j % 256 == 255)
            usleep(100);
    }
    return NULL;
}

/* F and G: a list handed over as pthread_create's argument, held in a
 * local across collections; F's first call into the runtime is rt_yield,
 * G's rt_sleep -- neither allocates nor receives, and each makes its
 * thread a root all the same.  The creator keeps the list in a global
 * until that first call has been made (before it, the thread is unknown
 * to the collector: README), then drops it. */
static _Atomic long g_rounds_fg;
static node *volatile g_handover[2];
static _Atomic int g_called[2];

static void hold_across_gcs(node *h, long salt, int i)
{
    node *volatile keep = h;
    atomic_store(&g_called[i], 1);
    while (g_handover[i] != NULL && !atomic_load(&g_stop))
        usleep(100); /* dropped by the creator */
    long until = atomic_load(&g_gcs) + 3;
    while (atomic_load(&g_gcs) < until && !atomic_load(&g_stop))
        usleep(200);
    atomic_fetch_add(&g_bad, check(keep, NLIST, salt));
    atomic_fetch_add(&g_rounds_fg, 1);
}

static void *thread_f(void *arg)
{
    rt_yield();
    hold_across_gcs(arg, 1001, 0);
    return NULL;
}

static void *thread_g(void *arg)
{
    rt_sleep(RT_MILLISECOND);
    hold_across_gcs(arg, 2002, 1);
    return NULL;
}

/* Starts fn with a fresh list from a frame that is dead once it returns;
 * the list stays in g_handover[i] until the thread has called in. */
static __attribute__((noinline)) void start_with_list(pthread_t *t, void *(*fn)(void *),
                                                      long salt, int i)
{
    node *h = build(NLIST, salt);
    g_handover[i] = h;
    pthread_create(t, NULL, fn, h);
    h = NULL;
}

/* Builds and sends D's list r from a frame that is dead once it returns. */
static __attribute__((noinline)) void hand_one(long r)
{
    node *h = build(NLIST / 4, r * 11 + 3);
    rt_chan_send(g_handoff, &h);
    h = NULL;
}

static void producer(void *arg)
{
    (void)arg;
    for (long r = 0; !atomic_load(&g_stop); r++) {
        while (atomic_load(&g_d_wants) != r + 1 && !atomic_load(&g_stop))
            rt_sleep(RT_MILLISECOND);
        if (atomic_load(&g_stop))
            return;
        hand_one(r);
        volatile char scrub[4096]; /* the dead frame's words */
        memset((char *)scrub, 0, sizeof scrub);
    }
}

static int scenario(int argc, char **argv)
{
    (void)argc;
    bool conc = strcmp(argv[2], "conc") == 0;
    if (conc) {
        node *b = build(NBALLAST, 0);
        g_ballast = b;
    }
    if (pipe(g_pipe) != 0)
        return 3;
    int fd_before = rt__foreign_count();
    pthread_t a, b, c, d, e;
    g_handoff = rt_chan_make(sizeof(node *), 1);
    g_e_keep = rt_alloc(E_KEEP * sizeof(node *));
    pthread_create(&a, NULL, thread_a, NULL);
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_create(&c, NULL, thread_c, NULL);
    pthread_create(&d, NULL, thread_d, NULL);
    pthread_create(&e, NULL, thread_e, NULL);
    pthread_t f, g;
    start_with_list(&f, thread_f, 1001, 0);
    start_with_list(&g, thread_g, 2002, 1);
    {
        volatile char scrub[4096]; /* the dead frame's words */
        memset((char *)scrub, 0, sizeof scrub);
    }
    while (!atomic_load(&g_called[0]) || !atomic_load(&g_called[1]))
        rt_sleep(100 * RT_MICROSECOND);
    g_handover[0] = g_handover[1] = NULL;
    rt_go(producer, NULL);
    int64_t start = rt_nanotime();
    uint32_t nconc0 = atomic_load(&rt__gc_nconcurrent);
    for (;;) {
        int64_t el = rt_nanotime() - start;
        if (el > 8 * RT_SECOND ||
            (el > 1 * RT_SECOND && atomic_load(&g_rounds_a) >= 5 &&
             atomic_load(&g_rounds_b) >= 3 && atomic_load(&g_rounds_c) >= 3 &&
             atomic_load(&g_rounds_d) >= 5))
            break;
        /* garbage of the lists' size class: reuses what the collector
         * frees, and overwrites it */
        for (int i = 0; i < 3000; i++) {
            long *x = rt_alloc(sizeof(node));
            x[0] = 0; /* a reused node ends its list early */
            x[1] = x[2] = -1;
            g_sink = x;
        }
        rt_gc();
        long gcs = atomic_fetch_add(&g_gcs, 1) + 1;
        if (atomic_load(&g_b_waiting) && gcs >= atomic_load(&g_b_since) + 2) {
            atomic_store(&g_b_waiting, 0);
            char ch = 'x';
            (void)RT_BLOCKING(write(g_pipe[1], &ch, 1));
        }
    }
    atomic_store(&g_stop, 1);
    while (!atomic_load(&g_b_waiting))
        rt_sleep(RT_MILLISECOND);
    char q = 'q';
    (void)RT_BLOCKING(write(g_pipe[1], &q, 1));
    RT_BLOCKING(pthread_join(a, NULL));
    RT_BLOCKING(pthread_join(b, NULL));
    RT_BLOCKING(pthread_join(c, NULL));
    RT_BLOCKING(pthread_join(d, NULL));
    RT_BLOCKING(pthread_join(e, NULL));
    RT_BLOCKING(pthread_join(f, NULL));
    RT_BLOCKING(pthread_join(g, NULL));
    memset((void *)g_e_keep, 0, E_KEEP * sizeof(node *)); /* every E list goes */
    for (int i = 0; i < 400 && atomic_load(&g_fin_e) < atomic_load(&g_made_e); i++) {
        rt_gc();
        rt_sleep(RT_MILLISECOND);
    }
    atomic_fetch_add(&g_bad, atomic_load(&g_fin_bad));
    uint32_t nconc = atomic_load(&rt__gc_nconcurrent) - nconc0;
    if (conc && g_ballast != NULL)
        atomic_fetch_add(&g_bad, check(g_ballast, NBALLAST, 0));
    fprintf(stderr, "gcs=%ld concurrent=%u rounds a=%ld b=%ld c=%ld d=%ld e=%ld/%ld fg=%ld "
                    "bad=%ld\n",
            (long)atomic_load(&g_gcs), nconc, (long)atomic_load(&g_rounds_a),
            (long)atomic_load(&g_rounds_b), (long)atomic_load(&g_rounds_c),
            (long)atomic_load(&g_rounds_d), (long)atomic_load(&g_fin_e),
            (long)atomic_load(&g_made_e), (long)atomic_load(&g_rounds_fg),
            (long)atomic_load(&g_bad));
    if (atomic_load(&g_bad) != 0)
        return 1;
    if (conc ? nconc < 3 : nconc != 0)
        return 4; /* not the marking mode the case is about */
    if (atomic_load(&g_rounds_b) < 3 || atomic_load(&g_rounds_d) < 3 || atomic_load(&g_gcs) < 10 ||
        atomic_load(&g_rounds_fg) != 2)
        return 5;
    if (rt__foreign_count() != fd_before)
        return 6; /* exited threads unregistered */
    if (atomic_load(&g_fin_e) != atomic_load(&g_made_e) || atomic_load(&g_made_e) < E_KEEP)
        return 7; /* E's finalizers: each once, all of them */
    return 0;
}

static void run(const char *name, const char *maxprocs, const char *debug)
{
    const char *env[4] = {maxprocs, debug, NULL, NULL};
    char err[4096];
    int st = run_scenario(name, env, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s %s: status %#x; stderr:\n%s",
                  name, maxprocs, debug ? debug : "", st, err);
}

START_TEST(test_concurrent_p1) { run("conc", "MAXPROCS=1", NULL); }
END_TEST
START_TEST(test_concurrent_p2) { run("conc", "MAXPROCS=2", NULL); }
END_TEST
START_TEST(test_stoptheworld_p1) { run("stw", "MAXPROCS=1", "DEBUG=gcstoptheworld=1"); }
END_TEST
START_TEST(test_stoptheworld_p2) { run("stw", "MAXPROCS=2", "DEBUG=gcstoptheworld=1"); }
END_TEST

static int scenario_main(int argc, char **argv)
{
    harness_watchdog_start();
    return scenario(argc, argv);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
        harness_deadline_init();
        if (harness_deadline_ns != 0)
            harness_deadline_ns -= 3 * 1000000000LL;
        /* main()'s own list, from before rt_main to after it */
        node *m = build(NLIST, 99);
        int rc = rt_main(scenario_main, argc, argv);
        long bad = check(m, NLIST, 99);
        if (bad != 0) {
            fprintf(stderr, "main thread's list: %ld bad\n", bad);
            return 2;
        }
        return rc;
    }
    Suite *s = suite_create("foreign_roots");
    TCase *tc = tcase_create("foreign_roots");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_p1);
    tcase_add_test(tc, test_concurrent_p2);
    tcase_add_test(tc, test_stoptheworld_p1);
    tcase_add_test(tc, test_stoptheworld_p2);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
