/*
 * tests/sched/test_stack_shed.c -- pooled stacks give back their deep pages
 * (runtime/stack.c, rt__stack_pool_shed, run by sysmon once a second):
 * goroutines that went 64 KiB deep and exited leave their stacks in the
 * hot pool, which the trim leaves alone (fewer than 1024 of them); within
 * a few seconds every pooled one has its pages below the top two back
 * with the kernel (mincore), all but those still in the P's own cache.
 * A stack taken again works as before (its deep pages come back zeroed).
 */
#include <check.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "sched/sched.h"

#define NG 300
#define DEEP ((size_t)64 << 10)

static uintptr_t his[NG];
static rt_waitgroup wg, touched;
static rt_chan *gate;

__attribute__((noinline)) static void touch_deep(void)
{
    volatile unsigned char buf[DEEP - 4096];
    memset((void *)buf, 0x5a, sizeof buf);
    __asm__ volatile("" ::"r"(buf) : "memory");
}

static void deep(void *arg)
{
    his[(intptr_t)arg] = rt__getg()->stack.hi;
    touch_deep();
    rt_waitgroup_done(&touched);
    rt_chan_recv(gate, NULL); /* all alive at once: NG stacks */
    rt_waitgroup_done(&wg);
}

/* Stacks with a page resident in [hi - DEEP, hi - 2 pages). */
static int deep_resident(void)
{
    int n = 0;
    const size_t len = DEEP - 2 * RT_PAGE_SIZE;
    unsigned char vec[DEEP / 4096];
    for (int i = 0; i < NG; i++) {
        void *lo = (void *)(his[i] - DEEP);
        ck_assert_int_eq(mincore(lo, len, vec), 0);
        for (size_t k = 0; k < len / RT_PAGE_SIZE; k++)
            if (vec[k] & 1) {
                n++;
                break;
            }
    }
    return n;
}

static void run_deep(void)
{
    gate = rt_chan_make(0, 0);
    rt_waitgroup_add(&wg, NG);
    rt_waitgroup_add(&touched, NG);
    for (intptr_t i = 0; i < NG; i++)
        rt_go(deep, (void *)i);
    rt_waitgroup_wait(&touched);
    rt_chan_close(gate);
    rt_waitgroup_wait(&wg);
}

RT_TEST(test_pooled_stacks_shed_deep_pages)
{
    rt_maxprocs(1);
    run_deep();
    int n = deep_resident();
    REQUIRE_EQ(n, NG); /* their pages are there to shed */
    /* Two passes of sysmon's once a second; the P's cache keeps up to
     * RT_STACKCACHE_MAX stacks, untouched. */
    for (int i = 0; i < 150 && n > RT_STACKCACHE_MAX; i++) {
        rt_sleep(100 * RT_MILLISECOND);
        n = deep_resident();
    }
    REQUIRE_LE(n, RT_STACKCACHE_MAX);
    /* reused stacks still work: deep again, all of them */
    run_deep();
    REQUIRE_EQ(deep_resident(), NG);
}

int main(void)
{
    Suite *s = suite_create("stack_shed");
    TCase *tc = tcase_create("stack_shed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pooled_stacks_shed_deep_pages);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
