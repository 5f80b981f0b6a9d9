/*
 * tests/sched/test_gslab.c -- goroutine records come from slabs that
 * double from 64 KiB to 1 MiB (sched/proc.c, gslot_alloc): the first one,
 * which holds the main goroutine's record, is 64 KiB -- a first slab of
 * 1 MiB, populated when mapped, was an eighth of a small program's
 * resident memory -- and records of many goroutines are all usable.
 */
#include <check.h>

#include "harness.h"
#include "sched/sched.h"

static rt_waitgroup wg;
static rt_chan *gate;

static void child(void *arg)
{
    (void)arg;
    rt_g *gp = rt__getg();
    REQUIRE(gp->goid > 0);
    rt_chan_recv(gate, NULL); /* all alive at once: N records */
    rt_waitgroup_done(&wg);
}

RT_TEST(test_first_slab_small)
{
    /* the runtime's goroutines and this one: the first slab only */
    REQUIRE_EQ(rt__gslab_bytes(), (size_t)64 << 10);
    enum { N = 20000 }; /* several slabs, up to the 1 MiB ones */
    gate = rt_chan_make(0, 0);
    rt_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++)
        REQUIRE_GT(rt_go(child, NULL), 0);
    rt_chan_close(gate);
    rt_waitgroup_wait(&wg);
    size_t total = rt__gslab_bytes();
    REQUIRE_GE(total, (size_t)N * 192);
    REQUIRE_LE(total, (size_t)N * 192 * 2 + ((size_t)1 << 20));
}

int main(void)
{
    Suite *s = suite_create("gslab");
    TCase *tc = tcase_create("gslab");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_first_slab_small);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
