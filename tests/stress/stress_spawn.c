/*
 * tests/stress/stress_spawn.c -- the scheduler under load (CTest runs it at
 * MAXPROCS 1, 2 and 4): a million goroutines spawned and joined; a tree of
 * goroutines spawning goroutines; yield storms across Ps; and blocking
 * syscalls mixed in.  Every goroutine is counted; nothing asserts on time.
 */
#include <check.h>
#include <stdatomic.h>
#include <unistd.h>

#include "rt.h"
#include "harness.h"


static rt_waitgroup wg;
static _Atomic long ran;

static void leaf(void *arg)
{
    atomic_fetch_add_explicit(&ran, (long)(intptr_t)arg, memory_order_relaxed);
    rt_waitgroup_done(&wg);
}

/* TSan makes every fiber switch, create and destroy expensive: smaller
 * sizes keep its CI run within minutes. */
#if defined(__SANITIZE_THREAD__)
#define SCALE 10
#else
#define SCALE 1
#endif

RT_TEST(test_million_spawn_join)
{
    const long n = 1000000 / SCALE;
    rt_waitgroup_add(&wg, (int)n);
    for (long i = 0; i < n; i++)
        ck_assert_int_gt(rt_go(leaf, (void *)(intptr_t)1), 0);
    rt_waitgroup_wait(&wg);
    ck_assert_int_eq(atomic_load(&ran), n);
}

static _Atomic long nodes;

static void tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    atomic_fetch_add_explicit(&nodes, 1, memory_order_relaxed);
    if (depth > 0) {
        rt_waitgroup_add(&wg, 2);
        rt_go(tree, (void *)(depth - 1));
        rt_go(tree, (void *)(depth - 1));
    }
    rt_waitgroup_done(&wg);
}

RT_TEST(test_spawning_tree)
{
    const int depth = SCALE == 1 ? 17 : 14; /* 2^(depth+1) - 1 goroutines */
    rt_waitgroup_add(&wg, 1);
    rt_go(tree, (void *)(intptr_t)depth);
    rt_waitgroup_wait(&wg);
    ck_assert_int_eq(atomic_load(&nodes), (1L << (depth + 1)) - 1);
}

static _Atomic long yields;

static void yield_storm(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000 / SCALE; i++) {
        rt_yield();
        atomic_fetch_add_explicit(&yields, 1, memory_order_relaxed);
    }
    rt_waitgroup_done(&wg);
}

static void syscaller(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        RT_BLOCKING(usleep(50));
    rt_waitgroup_done(&wg);
}

RT_TEST(test_yield_and_syscalls)
{
    rt_waitgroup_add(&wg, 64 + 8);
    for (int i = 0; i < 64; i++)
        rt_go(yield_storm, NULL);
    for (int i = 0; i < 8; i++)
        rt_go(syscaller, NULL);
    rt_waitgroup_wait(&wg);
    ck_assert_int_eq(atomic_load(&yields), 64L * (20000 / SCALE));
}

/* Goroutines leaving blocking calls while the other Ps run out of work:
 * sysmon has handed each caller's P away, the caller finds no idle P and
 * queues itself globally, and an M whose P goes idle at that moment must
 * not miss it.  A goroutine left on the global queue with every P idle
 * would hang the round.  (The window is narrow: this did not catch the
 * one exitsyscall had -- in 24 runs; the collector's own syscall hand-off
 * in gc_test_api_reclaim under ASan did, about 1 run in 10.) */
static _Atomic long exits;

static void exiter(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 20; i++) {
        seed = seed * 1103515245u + 12345u;
        RT_BLOCKING(usleep(30 + seed % 120)); /* past sysmon's 20 us */
        volatile unsigned x = 0;
        for (unsigned k = 0; k < (seed >> 8) % 20000; k++) /* a CPU burst */
            x += k;
        atomic_fetch_add_explicit(&exits, 1, memory_order_relaxed);
    }
    rt_waitgroup_done(&wg);
}

RT_TEST(test_syscall_exits_as_ps_go_idle)
{
    const int rounds = 200 / SCALE, per = 6;
    for (int r = 0; r < rounds; r++) {
        rt_waitgroup_add(&wg, per);
        for (int i = 0; i < per; i++)
            rt_go(exiter, (void *)(uintptr_t)(r * per + i + 1));
        rt_waitgroup_wait(&wg);
    }
    ck_assert_int_eq(atomic_load(&exits), (long)rounds * per * 20);
}

static void sleeper(void *arg)
{
    rt_sleep((int64_t)(intptr_t)arg * RT_MICROSECOND);
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    rt_waitgroup_done(&wg);
}

RT_TEST(test_many_sleepers)
{
#if defined(__SANITIZE_THREAD__)
    const int n = 4000; /* TSan: at most 8,128 fibers (live goroutines) */
#else
    const int n = 100000;
#endif
    rt_waitgroup_add(&wg, n);
    for (int i = 0; i < n; i++)
        rt_go(sleeper, (void *)(intptr_t)((i * 7919) % 20000));
    rt_waitgroup_wait(&wg);
    ck_assert_int_eq(atomic_load(&ran), n);
}

int main(void)
{
    Suite *s = suite_create("stress_spawn");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_million_spawn_join);
    tcase_add_test(tc, test_spawning_tree);
    tcase_add_test(tc, test_yield_and_syscalls);
    tcase_add_test(tc, test_syscall_exits_as_ps_go_idle);
    tcase_add_test(tc, test_many_sleepers);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
