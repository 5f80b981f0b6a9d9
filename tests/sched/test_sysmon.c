/*
 * tests/sched/test_sysmon.c -- sysmon (sched/sysmon.c): a goroutine that
 * runs for more than 10 ms without a scheduling point is counted, and the
 * goroutines queued behind it on its P still run (another P takes them);
 * a P stuck in a system call is handed to another thread.
 */
#include <check.h>
#include <stdatomic.h>
#include <unistd.h>

#include "harness.h"
#include "sched/sched.h"

static _Atomic int queued_ran;
static _Atomic int64_t queued_ran_at;

static void queued(void *arg)
{
    (void)arg;
    atomic_store(&queued_ran_at, rt_nanotime());
    atomic_store(&queued_ran, 1);
}

static _Atomic int hog_done;
static _Atomic int64_t hog_end;

static void hog(void *arg)
{
    (void)arg;
    /* Queued on this P (runnext), then 60 ms without a scheduling point. */
    rt_go(queued, NULL);
    int64_t end = rt_nanotime() + 60 * RT_MILLISECOND;
    while (rt_nanotime() < end)
        ;
    atomic_store(&hog_end, rt_nanotime());
    atomic_store(&hog_done, 1);
}

RT_TEST(test_stuck_goroutine_counted_and_queue_drained)
{
    rt_maxprocs(2);
    uint64_t before = atomic_load(&rt__sched.stuck_count);
    rt_go(hog, NULL);
    while (!atomic_load(&hog_done))
        rt_sleep(RT_MILLISECOND);
    ck_assert_uint_gt(atomic_load(&rt__sched.stuck_count), before);
    ck_assert(atomic_load(&queued_ran));
    /* ... and it ran while the hog still held its P. */
    ck_assert_int_lt(atomic_load(&queued_ran_at), atomic_load(&hog_end));
}

static _Atomic int sys_done, other_ran;

static void in_syscall(void *arg)
{
    (void)arg;
    rt_syscall_enter();
    usleep(50 * 1000); /* 50 ms blocked in the kernel, holding the P */
    rt_syscall_exit();
    atomic_store(&sys_done, 1);
}

static void other(void *arg)
{
    (void)arg;
    if (!atomic_load(&sys_done))
        atomic_store(&other_ran, 1); /* ran while the syscall blocked */
}

RT_TEST(test_syscall_p_handed_off)
{
    rt_maxprocs(1);
    uint32_t ticks = atomic_load(&rt__sched.allp[0]->syscalltick);
    rt_go(in_syscall, NULL);
    rt_sleep(5 * RT_MILLISECOND);
    rt_go(other, NULL);
    while (!atomic_load(&sys_done))
        rt_sleep(RT_MILLISECOND);
    ck_assert(atomic_load(&other_ran));
    ck_assert_uint_ge(atomic_load(&rt__sched.allp[0]->syscalltick) - ticks, 1);
}

int main(void)
{
    Suite *s = suite_create("sysmon");
    TCase *tc = tcase_create("sysmon");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stuck_goroutine_counted_and_queue_drained);
    tcase_add_test(tc, test_syscall_p_handed_off);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
