/*
 * tests/sched/test_runq.c -- the per-P run queues (sched/runq.c).
 *
 * The property that matters: under concurrent owner pushes/pops and thief
 * steals, every G put on a queue comes out exactly once.  G records here
 * are plain structs (the queue never looks inside them), and each is
 * stamped by whoever takes it; a G taken twice or never is a failure.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "harness.h"

#define NTHIEVES 3
#define NG 200000

static rt_g *gs;
static _Atomic uint32_t *taken; /* how many times each G came out */
static _Atomic int owner_done;
static rt_p *owner;

static void take(rt_g *gp)
{
    size_t i = (size_t)(gp - gs);
    ck_assert_uint_lt(i, NG);
    atomic_fetch_add(&taken[i], 1);
}

static void teardown(void)
{
    free(gs);
    free(taken);
    free(owner);
    gs = NULL;
    taken = NULL;
    owner = NULL;
}

static void setup(void)
{
    teardown();
    memset(&rt__sched, 0, sizeof rt__sched);
    rt__sched.gomaxprocs = NTHIEVES + 1; /* >1: the CAS path */
    gs = calloc(NG, sizeof *gs);
    taken = calloc(NG, sizeof *taken);
    ck_assert_ptr_nonnull(gs);
    ck_assert_ptr_nonnull(taken);
    owner = aligned_alloc(64, sizeof(rt_p) + 64);
    memset(owner, 0, sizeof *owner);
    atomic_store(&owner_done, 0);
}

static void drain_global(rt_p *pp)
{
    rt__lock_acquire(&rt__sched.lock);
    rt_g *gp;
    while (rt__sched.runqhead != rt__sched.runqtail) {
        gp = rt__sched.runq[rt__sched.runqhead++ & (rt__sched.runqcap - 1)];
        atomic_fetch_sub(&rt__sched.runqsize, 1);
        take(gp);
    }
    rt__lock_release(&rt__sched.lock);
    while ((gp = rt__runq_get(pp)) != NULL)
        take(gp);
}

START_TEST(test_fifo_and_runnext)
{
    setup();
    for (int i = 0; i < 10; i++)
        rt__runq_put(owner, &gs[i], false);
    rt__runq_put(owner, &gs[10], true);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[10]); /* runnext first */
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_eq(rt__runq_get(owner), &gs[i]); /* then FIFO */
    ck_assert_ptr_null(rt__runq_get(owner));
    ck_assert(rt__runq_empty(owner));
    /* A second runnext kicks the first to the tail. */
    rt__runq_put(owner, &gs[1], true);
    rt__runq_put(owner, &gs[2], true);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[2]);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[1]);
    ck_assert(rt__runq_empty(owner));
}
END_TEST

/* A G put in runnext during an earlier schedule keeps it: a later ready
 * goes to the tail (a woken sleeper pushed there waited behind a chain of
 * hand-offs for a whole time slice).  Within one schedule the newest
 * ready takes runnext, as in Go. */
START_TEST(test_runnext_kept_across_schedules)
{
    setup();
    owner->schedtick = 5;
    rt__runq_put(owner, &gs[1], true);
    owner->schedtick = 6;
    rt__runq_put(owner, &gs[2], true);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[1]);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[2]);
    ck_assert(rt__runq_empty(owner));
    rt__runq_put(owner, &gs[3], true);
    rt__runq_put(owner, &gs[4], true); /* same schedule: the newest */
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[4]);
    ck_assert_ptr_eq(rt__runq_get(owner), &gs[3]);
    ck_assert(rt__runq_empty(owner));
}
END_TEST

START_TEST(test_overflow_goes_global)
{
    setup();
    for (int i = 0; i < 1000; i++)
        rt__runq_put(owner, &gs[i], false);
    ck_assert_uint_le(rt__runq_len(owner), RT_RUNQ_SIZE);
    ck_assert_int_gt(atomic_load(&rt__sched.runqsize), 0);
    ck_assert_int_eq((int)rt__runq_len(owner) + atomic_load(&rt__sched.runqsize), 1000);
    drain_global(owner);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(atomic_load(&taken[i]), 1);
}
END_TEST

/* The global queue is a ring that grows: FIFO order must survive wrapping
 * around and growing while wrapped, through single puts, linked-list
 * batches, array batches and batch takes into a P. */
START_TEST(test_global_ring_fifo)
{
    setup();
    rt__sched.gomaxprocs = 1; /* batch takes of up to half a ring */
    int put = 0, got = 0;
    rt__lock_acquire(&rt__sched.lock);
    for (int round = 0; round < 40; round++) {
        /* put 3 * 100 (grows past 1024 while wrapped), take ~250 */
        for (int i = 0; i < 100; i++)
            rt__globrunq_put(&gs[put++]);
        rt_g *arr[100];
        for (int i = 0; i < 100; i++)
            arr[i] = &gs[put++];
        rt__globrunq_put_array(arr, 100);
        for (int i = 0; i < 100; i++)
            gs[put + i].schedlink = i < 99 ? &gs[put + i + 1] : NULL;
        rt__globrunq_put_batch(&gs[put], &gs[put + 99], 100);
        put += 100;
        for (int k = 0; k < 2; k++) {
            rt_g *gp = rt__globrunq_get(owner, 0);
            ck_assert_ptr_eq(gp, &gs[got++]);
            while ((gp = rt__runq_get(owner)) != NULL)
                ck_assert_ptr_eq(gp, &gs[got++]);
        }
        ck_assert_int_eq(atomic_load(&rt__sched.runqsize), put - got);
    }
    while (atomic_load(&rt__sched.runqsize) > 0) {
        rt_g *gp = rt__globrunq_get(owner, 1);
        ck_assert_ptr_eq(gp, &gs[got++]);
    }
    rt__lock_release(&rt__sched.lock);
    ck_assert_int_eq(got, put);
    ck_assert_uint_ge(rt__sched.runqcap, 2048);
}
END_TEST

static void *thief(void *arg)
{
    rt_p *pp = arg;
    for (;;) {
        bool done = atomic_load(&owner_done);
        rt_g *gp = rt__runq_steal(pp, owner, true);
        if (gp) {
            take(gp);
            while ((gp = rt__runq_get(pp)) != NULL)
                take(gp);
        } else if (done && rt__runq_empty(owner)) {
            return NULL;
        }
    }
}

START_TEST(test_concurrent_steal)
{
    setup();
    pthread_t th[NTHIEVES];
    rt_p *ps[NTHIEVES];
    for (int i = 0; i < NTHIEVES; i++) {
        ps[i] = aligned_alloc(64, sizeof(rt_p) + 64);
        memset(ps[i], 0, sizeof(rt_p));
        ck_assert_int_eq(pthread_create(&th[i], NULL, thief, ps[i]), 0);
    }
    /* The owner pushes everything, sometimes into runnext, and pops some
     * itself, as a running P does. */
    for (int i = 0; i < NG; i++) {
        rt__runq_put(owner, &gs[i], (i % 7) == 0);
        if (i % 3 == 0) {
            rt_g *gp = rt__runq_get(owner);
            if (gp)
                take(gp);
        }
    }
    atomic_store(&owner_done, 1);
    rt_g *gp;
    while ((gp = rt__runq_get(owner)) != NULL)
        take(gp);
    for (int i = 0; i < NTHIEVES; i++)
        pthread_join(th[i], NULL);
    drain_global(owner);
    for (int i = 0; i < NTHIEVES; i++)
        while ((gp = rt__runq_get(ps[i])) != NULL)
            take(gp);
    for (int i = 0; i < NG; i++)
        ck_assert_msg(atomic_load(&taken[i]) == 1, "G %d taken %u times", i,
                      atomic_load(&taken[i]));
    for (int i = 0; i < NTHIEVES; i++)
        free(ps[i]);
}
END_TEST

START_TEST(test_single_p_pop)
{
    setup();
    rt__sched.gomaxprocs = 1; /* the owner-only, CAS-free pop */
    for (int i = 0; i < 300; i++)
        rt__runq_put(owner, &gs[i], false);
    drain_global(owner);
    for (int i = 0; i < 300; i++)
        ck_assert_uint_eq(atomic_load(&taken[i]), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runq");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_fifo_and_runnext);
    tcase_add_test(tc, test_runnext_kept_across_schedules);
    tcase_add_test(tc, test_overflow_goes_global);
    tcase_add_test(tc, test_global_ring_fifo);
    tcase_add_test(tc, test_concurrent_steal);
    tcase_add_test(tc, test_single_p_pop);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
