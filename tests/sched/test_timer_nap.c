/*
 * tests/sched/test_timer_nap.c -- an idle M sleeping for timers (sched/
 * proc.c, stopm) sleeps at least RT_TIMER_NAP_MIN, however close the next
 * deadline: with timers due every few microseconds it slept for each
 * one (a system call and a wake-up a few microseconds apart, a whole CPU
 * busy), now it serves them in batches.  The goroutines' sleeps are
 * never short.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>

#include "harness.h"
#include "sched/sched.h"

#define NSLEEPERS 100
#define PERIOD (1 * RT_MILLISECOND)
#define RUN (300 * RT_MILLISECOND)

static _Atomic int64_t end_at;
static _Atomic int early, done;
static rt_waitgroup wg;

/* Periods spread over [PERIOD / 2, 3 * PERIOD / 2): deadlines that do
 * not fall together. */
static void sleeper(void *arg)
{
    uint32_t x = 2654435761u * (uint32_t)(uintptr_t)arg + 1;
    while (rt_nanotime() < atomic_load(&end_at)) {
        x = x * 1664525u + 1013904223u;
        int64_t d = PERIOD / 2 + (int64_t)(x >> 8) % PERIOD;
        int64_t t0 = rt_nanotime();
        rt_sleep(d);
        if (rt_nanotime() - t0 < d)
            atomic_fetch_add(&early, 1);
        atomic_fetch_add(&done, 1);
    }
    rt_waitgroup_done(&wg);
}

RT_TEST(test_dense_timers_batched)
{
    rt_maxprocs(1);
    atomic_store(&end_at, rt_nanotime() + RUN);
    rt_waitgroup_add(&wg, NSLEEPERS);
    for (int i = 0; i < NSLEEPERS; i++)
        rt_go(sleeper, (void *)(uintptr_t)i);
    uint64_t n0 = atomic_load(&rt__sched.timer_naps);
    int64_t t0 = rt_nanotime();
    rt_waitgroup_wait(&wg);
    int64_t elapsed = rt_nanotime() - t0;
    uint64_t naps = atomic_load(&rt__sched.timer_naps) - n0;
    printf("%d sleeps in %lld ms: %llu timer naps of the idle M\n", atomic_load(&done),
           (long long)(elapsed / RT_MILLISECOND), (unsigned long long)naps);
    REQUIRE_EQ(atomic_load(&early), 0);
    /* a timer due every ~10 us */
    REQUIRE_GT(atomic_load(&done), NSLEEPERS * 50);
    REQUIRE_GT(naps, 0);
    /* each nap that ran its course lasted RT_TIMER_NAP_MIN at least, one
     * at a time (a sleep per deadline: ~9,000 in 300 ms on the
     * development VM, where a sleep costs ~30 us; more where it costs
     * less) */
    REQUIRE_LE(naps, (uint64_t)(elapsed / RT_TIMER_NAP_MIN) + 1);
}

int main(void)
{
    Suite *s = suite_create("timer_nap");
    TCase *tc = tcase_create("timer_nap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dense_timers_batched);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
