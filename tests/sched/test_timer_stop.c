/*
 * tests/sched/test_timer_stop.c -- stopping rt_timers (sched/timer.c,
 * "Stopping"): a stopped timer stays in the heap as a zombie (the stop is
 * O(1)), is never fired, is re-armed in place by a reset, and is dropped
 * when it comes to the top or when zombies pass a quarter of the heap (a
 * rebuild).  Through all of it the heap stays a heap, every index is
 * right, when0 is the top's, the live count is right, and a P holding
 * only stopped timers has none live (the deadlock check reads that).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>

#include "harness.h"
#include "sched/sched.h"

/* The heap of the only P, checked whole. */
static void check_heap(rt_p *pp)
{
    rt__lock_acquire(&pp->timers.lock);
    uint32_t n = pp->timers.len, zombies = 0;
    for (uint32_t i = 0; i < n; i++) {
        rt__timer *t = pp->timers.heap[i].t;
        ck_assert_uint_eq(t->idx, i);
        ck_assert_int_eq(pp->timers.heap[i].when, t->when);
        ck_assert_ptr_eq(atomic_load(&t->pp), pp);
        if (i > 0)
            ck_assert_int_le(pp->timers.heap[(i - 1) / 4].when, pp->timers.heap[i].when);
        zombies += t->zombie;
    }
    ck_assert_uint_eq(zombies, pp->timers.nzombie);
    ck_assert_uint_eq(atomic_load(&pp->timers.nlive), n - zombies);
    if (n > 0) {
        ck_assert_int_eq(atomic_load(&pp->timers.when0), pp->timers.heap[0].when);
    } else {
        ck_assert_int_eq(atomic_load(&pp->timers.when0), 0);
    }
    rt__lock_release(&pp->timers.lock);
}

enum { N = 1000 };

RT_TEST(test_stopped_timers_left_reset_and_dropped)
{
    rt_maxprocs(1);
    rt_p *pp = rt__sched.allp[0];
    uint32_t base = pp->timers.len;
    ck_assert_uint_eq(pp->timers.nzombie, 0);
    static rt_timer *t[N]; /* bss: scanned, keeps them */
    for (int i = 0; i < N; i++)
        t[i] = rt_timer_new(3600 * RT_SECOND + i * RT_MICROSECOND);
    check_heap(pp);
    ck_assert_uint_eq(pp->timers.len, base + N);

    /* 200 stops: left in the heap */
    for (int i = N - 1; i >= N - 200; i--)
        ck_assert(rt_timer_stop(t[i]));
    ck_assert_uint_eq(pp->timers.len, base + N);
    ck_assert_uint_eq(pp->timers.nzombie, 200);
    check_heap(pp);
    ck_assert(!rt_timer_stop(t[N - 1])); /* stopped already */

    /* a reset re-arms a zombie in place: not pending, then pending */
    ck_assert(!rt_timer_reset(t[N - 1], 3600 * RT_SECOND));
    ck_assert_uint_eq(pp->timers.nzombie, 199);
    check_heap(pp);
    ck_assert(rt_timer_stop(t[N - 1]));
    ck_assert_uint_eq(pp->timers.nzombie, 200);

    /* past a quarter of the heap: rebuilt without them */
    for (int i = N - 201; i >= N - 300; i--)
        ck_assert(rt_timer_stop(t[i]));
    ck_assert_uint_lt(pp->timers.nzombie, 100);
    ck_assert_uint_ge(pp->timers.len, base + N - 300);
    ck_assert_uint_le(pp->timers.len, base + N - 300 + 100);
    check_heap(pp);

    /* stopping the rest from the top down: zombies, rebuilt away as they
     * pass a quarter; what is left holds no live timer of ours */
    for (int i = 0; i < N - 300; i++) {
        ck_assert(rt_timer_stop(t[i]));
        if (i % 97 == 0)
            check_heap(pp);
    }
    check_heap(pp);
    ck_assert_uint_eq(atomic_load(&pp->timers.nlive), base);
    ck_assert_uint_le(pp->timers.nzombie, 64);
    for (int i = 0; i < N; i++)
        ck_assert(!rt_timer_stop(t[i]));
}

/* Stopped zombies never fire, a re-armed one fires at its new time, a P
 * left with only zombies has no live timer, and zombies whose time came
 * are dropped. */
RT_TEST(test_zombies_never_fire_nor_count_as_pending)
{
    rt_maxprocs(1);
    rt_p *pp = rt__sched.allp[0];
    ck_assert(!rt__timers_live());
    enum { M = 60 }; /* fewer than the 64 zombies a rebuild needs */
    static rt_timer *t[M];
    for (int i = 0; i < M; i++)
        t[i] = rt_timer_new((10 + i) * RT_MILLISECOND);
    for (int i = M - 1; i >= 1; i--)
        ck_assert(rt_timer_stop(t[i]));
    ck_assert_uint_eq(pp->timers.nzombie, M - 1);
    ck_assert(rt__timers_live()); /* t[0] */
    ck_assert(!rt_timer_reset(t[50], 30 * RT_MILLISECOND)); /* re-armed */
    int64_t t0 = rt_nanotime();
    int64_t fired = 0;
    ck_assert(rt_chan_recv(rt_timer_chan(t[50]), &fired));
    ck_assert_int_ge(fired, t0 + 25 * RT_MILLISECOND);
    ck_assert(rt_chan_recv(rt_timer_chan(t[0]), &fired)); /* never stopped */
    rt_sleep(100 * RT_MILLISECOND); /* past every deadline */
    for (int i = 1; i < M; i++)
        if (i != 50)
            ck_assert_int_eq(rt_chan_try_recv(rt_timer_chan(t[i]), NULL), -EAGAIN);
    ck_assert(!rt__timers_live());
    ck_assert_int_eq(rt__timers_next(), 0);
    ck_assert_uint_eq(pp->timers.nzombie, 0);
    check_heap(pp);
}

/* The same with the zombies stopped before their first-stopped neighbour
 * reaches the top by firing: the fire path drops them too. */
RT_TEST(test_zombies_dropped_when_their_neighbour_fires)
{
    rt_maxprocs(1);
    rt_p *pp = rt__sched.allp[0];
    rt_timer *first = rt_timer_new(5 * RT_MILLISECOND);
    static rt_timer *z[64];
    for (int i = 0; i < 64; i++)
        z[i] = rt_timer_new((6 + i) * RT_MILLISECOND);
    for (int i = 0; i < 64; i++)
        ck_assert(rt_timer_stop(z[i]));
    ck_assert_uint_eq(pp->timers.nzombie, 64);
    ck_assert(rt__timers_live()); /* first */
    ck_assert(rt_chan_recv(rt_timer_chan(first), NULL));
    rt_yield();
    ck_assert_int_eq(rt__timers_next(), 0);
    ck_assert_uint_eq(pp->timers.nzombie, 0);
    check_heap(pp);
}

int main(void)
{
    Suite *s = suite_create("timer_stop");
    TCase *tc = tcase_create("timer_stop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stopped_timers_left_reset_and_dropped);
    tcase_add_test(tc, test_zombies_never_fire_nor_count_as_pending);
    tcase_add_test(tc, test_zombies_dropped_when_their_neighbour_fires);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
