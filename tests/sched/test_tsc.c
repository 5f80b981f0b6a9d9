/*
 * tests/sched/test_tsc.c -- the TSC shortcut of the timer check
 * (sched/timer.c, proc.c check_timers): sysmon calibrates the counter's
 * rate when the kernel's clock source is the counter, and the rate it
 * publishes is a lower bound (so a P that skips the clock read is never
 * late); a P that never idles, whose timers are found only by the checks
 * on its schedules, still runs them on time, also when a timer earlier
 * than the one its shortcut remembers is added.
 */
#include <check.h>
#include <stdatomic.h>

#include "harness.h"
#include "sched/sched.h"

/* A (counter, clock) pair, tight (sysmon's own sampler, retried). */
static void pair(uint64_t *tsc, int64_t *ns)
{
    while (!rt__tsc_pair(tsc, ns)) {
    }
}

RT_TEST(test_rate_calibrated_and_a_lower_bound)
{
#if defined(__x86_64__)
    if (!rt__tsc_is_clocksource()) {
        /* the shortcut must stay off: every check reads the clock */
        rt_sleep(200 * RT_MILLISECOND);
        REQUIRE_EQ(atomic_load(&rt__tsc_per_ns), 0);
        return;
    }
    WAIT_UNTIL(atomic_load(&rt__tsc_per_ns) != 0);
    for (int round = 0; round < 5; round++) {
        uint64_t t0, t1;
        int64_t n0, n1;
        pair(&t0, &n0);
        rt_sleep(20 * RT_MILLISECOND);
        pair(&t1, &n1);
        uint64_t rate = atomic_load(&rt__tsc_per_ns);
        uint64_t predicted = ((uint64_t)(n1 - n0) * rate) >> 32;
        /* the counter advanced at least as far as the published rate
         * says it could have: a deadline turned into a counter value is
         * reached no later on the counter than on the clock */
        REQUIRE_LE(predicted, t1 - t0);
        /* and the bound is tight (1/256 low, plus the pairs' skew) */
        REQUIRE_GE(predicted, (t1 - t0) - (t1 - t0) / 64);
    }
#else
    rt_sleep(200 * RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&rt__tsc_per_ns), 0);
#endif
}

static _Atomic int stop_spinning;

static void spinner(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop_spinning, memory_order_relaxed))
        rt_yield();
}

static _Atomic int64_t late_far, late_near;

static void far_sleeper(void *arg)
{
    (void)arg;
    int64_t due = rt_nanotime() + 300 * RT_MILLISECOND;
    rt_sleep(300 * RT_MILLISECOND);
    atomic_store(&late_far, rt_nanotime() - due);
}

static void near_sleeper(void *arg)
{
    (void)arg;
    int64_t due = rt_nanotime() + 20 * RT_MILLISECOND;
    rt_sleep(20 * RT_MILLISECOND);
    atomic_store(&late_near, rt_nanotime() - due);
}

/* One P kept busy by a goroutine that yields without end: the P never
 * idles, so its timers run only from the checks its schedules make --
 * the shortcut's path.  The far sleeper's deadline is remembered first;
 * the near one, added 10 ms later with an earlier deadline, must not wait
 * for the far one's. */
RT_TEST(test_busy_p_runs_timers_on_time)
{
    rt_maxprocs(1);
    WAIT_UNTIL(!rt__tsc_is_clocksource() || atomic_load(&rt__tsc_per_ns) != 0);
    atomic_store(&late_far, -1);
    atomic_store(&late_near, -1);
    atomic_store(&stop_spinning, 0);
    rt_go(spinner, NULL);
    rt_go(far_sleeper, NULL);
    rt_sleep(10 * RT_MILLISECOND);
    rt_go(near_sleeper, NULL);
    WAIT_UNTIL(atomic_load(&late_far) >= 0);
    atomic_store(&stop_spinning, 1);
    REQUIRE_GE(atomic_load(&late_near), 0);
    /* Generous bounds for a loaded CI host; a shortcut that trusted the
     * far deadline would make the near sleeper ~270 ms late. */
    REQUIRE_LT(atomic_load(&late_near), 50 * RT_MILLISECOND);
    REQUIRE_LT(atomic_load(&late_far), 50 * RT_MILLISECOND);
}

int main(void)
{
    Suite *s = suite_create("tsc");
    TCase *tc = tcase_create("tsc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rate_calibrated_and_a_lower_bound);
    tcase_add_test(tc, test_busy_p_runs_timers_on_time);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
