/*
 * tests/api/test_conformance_time.c -- timers as a Go programmer expects
 * them, from rt.h and API.md alone, beyond the single-timer rules of
 * test_time.c: Stop/Reset's results through a timer's whole life, a
 * ticker's k-th tick never before k periods, timers and sleepers that
 * live only in the runtime (rt_after's timer, nobody holding it) while
 * collections run and freed memory is reused, and timers that outlive the
 * processor they were armed on (rt_maxprocs shrinking).
 *
 * Time is only ever checked from below ("not before the deadline"); a
 * late timer can never fail these tests.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"

static int64_t recv_time(rt_chan *c)
{
    int64_t v = -1;
    REQUIRE(rt_chan_recv(c, &v));
    return v;
}

/* --------------------------------------------------------- stop/reset -- */

/* time.Timer's Stop and Reset report whether the timer was pending, at
 * every point of its life; the channel holds at most the one value. */
RT_TEST(test_stop_reset_through_a_timers_life)
{
    rt_timer *t = rt_timer_new(3600 * RT_SECOND);
    rt_chan *c = rt_timer_chan(t);
    REQUIRE(rt_timer_reset(t, 3600 * RT_SECOND)); /* pending */
    REQUIRE(rt_timer_stop(t));                    /* pending -> stopped */
    REQUIRE(!rt_timer_stop(t));                   /* stopped */
    REQUIRE(!rt_timer_reset(t, 3600 * RT_SECOND)); /* stopped -> pending */
    REQUIRE(rt_timer_reset(t, 0));                /* pending -> due now */
    int64_t v = recv_time(c);                      /* it fired */
    REQUIRE_GT(v, 0);
    REQUIRE(!rt_timer_stop(t));                   /* fired: not pending */
    REQUIRE(!rt_timer_reset(t, -RT_SECOND));      /* re-armed, due now */
    REQUIRE_GE(recv_time(c), v);                  /* fires again */
    REQUIRE_EQ(rt_chan_len(c), 0);
    REQUIRE_EQ(rt_chan_cap(c), 1);
    /* Fired and not received: the value waits, a reset adds no second. */
    REQUIRE(!rt_timer_reset(t, 0));
    WAIT_UNTIL(rt_chan_len(c) == 1);
    REQUIRE(!rt_timer_reset(t, 0));
    /* Stopped in time, or fired into the full channel and was dropped
     * there (the runtime's send never waits): one value either way. */
    (void)rt_timer_stop(t);
    REQUIRE_EQ(rt_chan_len(c), 1);
    (void)recv_time(c);
    REQUIRE_EQ(rt_chan_try_recv(c, NULL), -EAGAIN);
}

/* ------------------------------------------------------------- ticker -- */

/* The k-th tick received is never earlier than k periods after the ticker
 * was made, dropped ticks or not, and tick values increase. */
RT_TEST(test_ticker_kth_tick_not_before_k_periods)
{
    const int64_t period = 300 * RT_MICROSECOND;
    int64_t t0 = rt_nanotime();
    rt_ticker *tk = rt_ticker_new(period);
    int64_t prev = 0;
    for (int k = 1; k <= 15; k++) {
        if (k % 5 == 0)
            rt_sleep(3 * period); /* a slow receiver now and then */
        int64_t v = recv_time(rt_ticker_chan(tk));
        REQUIRE_GE(v, t0 + k * period);
        REQUIRE_GT(v, prev);
        prev = v;
    }
    rt_ticker_stop(tk);
}

/* ------------------------------------------- timers only the runtime holds */

static _Atomic int churn_stop;

/* Makes garbage and collects, overwriting everything it allocates, so
 * that a timer freed while still pending would be clobbered. */
static void churn(void *arg)
{
    rt_chan *done = arg;
    while (!atomic_load(&churn_stop)) {
        for (int i = 0; i < 200; i++) {
            unsigned char *p = rt_alloc(16 + (size_t)(i % 8) * 16);
            memset(p, 0xff, 16 + (size_t)(i % 8) * 16);
        }
        rt_gc();
    }
    rt_chan_send(done, NULL);
}

/* rt_after's timer is referenced only by the runtime's timer heap until it
 * fires: collections in between must keep it, and every channel must get
 * exactly its one value, not before its deadline. */
RT_TEST(test_after_timers_survive_collections)
{
    enum { N = 64 };
    rt_chan *done = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(churn, done), 0);
    rt_chan *cs[N];
    int64_t due[N], vals[N];
    rt_select_case sel[N];
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < N; i++) {
        int64_t d = (int64_t)(i % 16) * 250 * RT_MICROSECOND;
        due[i] = t0 + d;
        cs[i] = rt_after(d);
        sel[i] = RT_RECV(cs[i], &vals[i]);
    }
    rt_gc();
    for (int got = 0; got < N; got++) {
        int k = rt_select(sel, N, true);
        REQUIRE(k >= 0 && k < N);
        REQUIRE(sel[k].ok);
        REQUIRE_GE(vals[k], due[k]);
        sel[k].chan = NULL;
    }
    atomic_store(&churn_stop, 1);
    REQUIRE(rt_chan_recv(done, NULL));
    rt_gc();
    for (int i = 0; i < N; i++)
        REQUIRE_EQ(rt_chan_try_recv(cs[i], NULL), -EAGAIN); /* one-shot */
}

static _Atomic int gc_loop_stop;

static void gc_loop(void *arg)
{
    while (!atomic_load(&gc_loop_stop))
        rt_gc();
    rt_chan_send(arg, NULL);
}

/* runtime.GC is a scheduling point (Go parks its caller for the cycle):
 * with one P, a goroutine collecting in a loop must still let a due timer
 * wake goroutine 1.  A runtime where it does not hangs here until Check's
 * timeout. */
RT_TEST(test_gc_loop_does_not_starve_timers)
{
    rt_maxprocs(1);
    rt_chan *done = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(gc_loop, done), 0);
    rt_yield(); /* the loop runs first */
    for (int i = 0; i < 3; i++)
        REQUIRE(rt_chan_recv(rt_after(RT_MILLISECOND), NULL));
    atomic_store(&gc_loop_stop, 1);
    REQUIRE(rt_chan_recv(done, NULL));
}

/* ----------------------------------------------------- maxprocs shrink -- */

typedef struct {
    rt_chan *armed, *fired;
    int64_t d;
} arm_arg;

/* Arms a timer and a sleep on whatever P runs this goroutine, says so, and
 * reports the timer's value once both are over. */
static void arm_and_wait(void *p)
{
    arm_arg a = *(arm_arg *)p;
    int64_t t0 = rt_nanotime();
    rt_timer *t = rt_timer_new(a.d);
    rt_chan_send(a.armed, NULL);
    rt_sleep(a.d);
    REQUIRE_GE(rt_nanotime(), t0 + a.d);
    int64_t v = recv_time(rt_timer_chan(t));
    REQUIRE_GE(v, t0 + a.d);
    rt_chan_send(a.fired, &v);
}

/* Timers and sleepers armed on Ps that rt_maxprocs then takes away still
 * fire (they move to the Ps that remain), and again after growing back. */
RT_TEST(test_timers_outlive_their_processor)
{
    enum { N = 32 };
    rt_maxprocs(4);
    rt_chan *armed = rt_chan_make(0, N), *fired = rt_chan_make(sizeof(int64_t), N);
    arm_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (arm_arg){armed, fired, (int64_t)(1 + i % 4) * RT_MILLISECOND};
        REQUIRE_GT(rt_go(arm_and_wait, &args[i]), 0);
    }
    for (int i = 0; i < N; i++)
        REQUIRE(rt_chan_recv(armed, NULL));
    REQUIRE_EQ(rt_maxprocs(1), 4);
    for (int i = 0; i < N / 2; i++)
        (void)recv_time(fired);
    REQUIRE_EQ(rt_maxprocs(3), 1);
    for (int i = N / 2; i < N; i++)
        (void)recv_time(fired);
}

int main(void)
{
    Suite *s = suite_create("conformance_time");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_stop_reset_through_a_timers_life);
    tcase_add_test(tc, test_ticker_kth_tick_not_before_k_periods);
    tcase_add_test(tc, test_after_timers_survive_collections);
    tcase_add_test(tc, test_gc_loop_does_not_starve_timers);
    tcase_add_test(tc, test_timers_outlive_their_processor);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
