/*
 * tests/gc/test_api_gogc.c -- GOGC and rt_set_gc_percent as Go's GOGC and
 * debug.SetGCPercent (black-box: rt.h and the harness only).
 *
 * GOGC=off: no cycle however much is allocated (rt_gc still runs one, as
 * runtime.GC does); rt_set_gc_percent returns the previous value, -1 turns
 * collection off and 100 back on; a malformed GOGC warns once on stderr
 * and keeps 100; with GOGC=100 the goal after a collection is twice the
 * live heap (at least 4 MB) and a cycle starts when the heap reaches it;
 * goroutine stacks count toward it as in Go 1.18+.
 *
 * Tests that need an environment set it in Check's per-test child before
 * rt_main reads it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MiB ((size_t)1 << 20)

static rt_memstats *stats(void)
{
    static rt_memstats ms;
    rt_read_memstats(&ms);
    return &ms;
}

/* Allocates n bytes of garbage in 64 KiB pieces, written. */
static void garbage(size_t n)
{
    for (size_t done = 0; done < n; done += 64 << 10) {
        volatile char *p = rt_alloc(64 << 10);
        p[0] = 1;
    }
}

static void set_gogc(const char *val)
{
    if (val == NULL)
        unsetenv("GOGC");
    else
        setenv("GOGC", val, 1);
}

/* Like RT_TEST, with GOGC set to val (NULL: unset) before rt_main. */
#define GOGC_TEST(name, val)                                                  \
    static void name##_body(void);                                            \
    START_TEST(name)                                                          \
    {                                                                         \
        set_gogc(val);                                                        \
        run_in_rt(name##_body);                                               \
    }                                                                         \
    END_TEST                                                                  \
    static void name##_body(void)

/* ------------------------------------------------------------ GOGC=off -- */

GOGC_TEST(test_gogc_off_means_no_cycles, "off")
{
    REQUIRE(!stats()->enable_gc);
    REQUIRE_EQ(stats()->num_gc, 0);
    garbage(256 * MiB); /* far beyond the 4 MB minimum */
    /* no heap size starts a cycle: next_gc says so, as Go's ~2^63 does */
    REQUIRE_EQ(stats()->next_gc, (uint64_t)INT64_MAX);
    REQUIRE_MSG(stats()->num_gc == 0, "%u cycles with GOGC=off",
                stats()->num_gc);
    /* runtime.GC still collects */
    rt_gc();
    REQUIRE_EQ(stats()->num_gc, 1);
    garbage(64 * MiB);
    REQUIRE_EQ(stats()->num_gc, 1);
    /* and turning it on works */
    REQUIRE_EQ(rt_set_gc_percent(100), -1);
    REQUIRE(stats()->enable_gc);
    garbage(64 * MiB);
    REQUIRE_GT(stats()->num_gc, 1);
}

/* ------------------------------------------------- rt_set_gc_percent -- */

GOGC_TEST(test_set_gc_percent_off_and_on, NULL)
{
    REQUIRE(stats()->enable_gc);
    REQUIRE_EQ(rt_set_gc_percent(-1), 100); /* the default */
    REQUIRE(!stats()->enable_gc);
    REQUIRE_EQ(stats()->next_gc, (uint64_t)INT64_MAX);
    uint32_t n0 = stats()->num_gc;
    garbage(128 * MiB);
    REQUIRE_MSG(stats()->num_gc == n0, "%u cycles with collection off",
                stats()->num_gc - n0);
    REQUIRE_EQ(rt_set_gc_percent(100), -1);
    REQUIRE(stats()->enable_gc);
    garbage(64 * MiB);
    REQUIRE_GT(stats()->num_gc, n0);
    /* other values round-trip; any negative value is off, reported -1 */
    REQUIRE_EQ(rt_set_gc_percent(50), 100);
    REQUIRE_EQ(rt_set_gc_percent(250), 50);
    REQUIRE_EQ(rt_set_gc_percent(-7), 250);
    REQUIRE(!stats()->enable_gc);
    REQUIRE_EQ(rt_set_gc_percent(100), -1);
}

GOGC_TEST(test_gogc_env_value, "50")
{
    REQUIRE(stats()->enable_gc);
    REQUIRE_EQ(rt_set_gc_percent(100), 50);
    REQUIRE_EQ(rt_set_gc_percent(50), 100);
}

/* A malformed GOGC prints one line on stderr and keeps 100. */
static int gogc_abc_prev;

static void gogc_abc_body(void)
{
    gogc_abc_prev = rt_set_gc_percent(100);
    garbage(64 * MiB);
    REQUIRE_GT(stats()->num_gc, 0);
}

START_TEST(test_malformed_gogc_warns_and_keeps_100)
{
    setenv("GOGC", "abc", 1);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    dup2(fileno(tmp), 2);
    run_in_rt(gogc_abc_body);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char out[4096] = {0};
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    fclose(tmp);
    out[n] = '\0';
    ck_assert_int_eq(gogc_abc_prev, 100);
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    ck_assert_msg(lines == 1 && strstr(out, "GOGC") && strstr(out, "abc"),
                  "stderr with GOGC=abc:\n%s", out);
}
END_TEST

/* -------------------------------------------------------------- pacing -- */

enum { LIVE_N = 512, LIVE_PIECE = 64 << 10 }; /* 32 MiB */
static void *volatile g_live[LIVE_N];

static void check_goal(int pct)
{
    rt_gc();
    uint64_t ha = stats()->heap_alloc, goal = stats()->next_gc;
    double want = (double)ha * (1 + pct / 100.0);
    REQUIRE_MSG(goal >= 0.9 * want && goal <= 1.1 * want,
                "GOGC=%d: next_gc %llu after rt_gc with heap_alloc %llu", pct,
                (unsigned long long)goal, (unsigned long long)ha);
    /* the heap grows to the goal before the next cycle */
    uint32_t n0 = stats()->num_gc;
    size_t done = 0;
    while (stats()->num_gc == n0 && done < 1024 * MiB) {
        garbage(LIVE_PIECE);
        done += LIVE_PIECE;
    }
    REQUIRE_GT(stats()->num_gc, n0);
    double room = (double)(goal - ha);
    REQUIRE_MSG(done >= 0.5 * room && done <= 1.1 * room + LIVE_PIECE,
                "GOGC=%d: a cycle after %zu bytes of garbage; goal %llu, "
                "heap_alloc %llu", pct, done, (unsigned long long)goal,
                (unsigned long long)ha);
}

GOGC_TEST(test_heap_grows_to_twice_live, NULL)
{
    for (int i = 0; i < LIVE_N; i++)
        g_live[i] = rt_alloc_noscan(LIVE_PIECE);
    check_goal(100);
    rt_set_gc_percent(50);
    check_goal(50);
    rt_set_gc_percent(200);
    check_goal(200);
}

GOGC_TEST(test_goal_is_at_least_4mb, NULL)
{
    rt_gc();
    REQUIRE_GE(stats()->next_gc, 4 * MiB);
    /* With nearly nothing live, cycles come about every 4 MB: not after
     * every allocation, and not never. */
    uint32_t n0 = stats()->num_gc;
    garbage(128 * MiB);
    uint32_t cycles = stats()->num_gc - n0;
    REQUIRE_MSG(cycles >= 8 && cycles <= 64, "%u cycles for 128 MiB of "
                "garbage with little live", cycles);
}

/* The minimum goal scales with GOGC, as Go's heapMinimum: 4 MiB * GOGC/100
 * from the start and after a cycle that found almost nothing live. */
GOGC_TEST(test_min_goal_scales_with_gogc_400, "400")
{
    REQUIRE_EQ(stats()->next_gc, 16 * MiB);
    rt_gc();
    REQUIRE_EQ(stats()->next_gc, 16 * MiB);
    uint32_t n0 = stats()->num_gc;
    garbage(128 * MiB);
    uint32_t cycles = stats()->num_gc - n0;
    REQUIRE_MSG(cycles >= 2 && cycles <= 16, "%u cycles for 128 MiB of garbage at GOGC=400",
                cycles);
}

GOGC_TEST(test_min_goal_scales_with_gogc_50, "50")
{
    REQUIRE_EQ(stats()->next_gc, 2 * MiB);
    rt_gc();
    REQUIRE_EQ(stats()->next_gc, 2 * MiB);
    REQUIRE_EQ(rt_set_gc_percent(200), 50);
    REQUIRE_EQ(stats()->next_gc, 8 * MiB);
}

/* Goroutine stacks count toward the goal as Go 1.18+ counts them: the
 * goal is live + (live + stacks) x GOGC/100.  512 goroutines parked over
 * 32 KiB of written locals each hold 16 MiB of stack that every cycle
 * reads; with a heap under 1 MiB the goal was the 4 MiB floor, a cycle
 * (rereading all of it) every few MB of allocation. */
enum { PARKED_N = 512, PARKED_LOCALS = 32 << 10 };
static rt_chan *parked_release;
static rt_waitgroup parked_ready;

static void parked_deep(void *arg)
{
    (void)arg;
    volatile char locals[PARKED_LOCALS];
    for (size_t i = 0; i < sizeof locals; i += 512)
        locals[i] = (char)i;
    rt_waitgroup_done(&parked_ready);
    int v;
    (void)rt_chan_recv(parked_release, &v);
    locals[0] = 0; /* live across the park */
}

GOGC_TEST(test_goal_counts_goroutine_stacks, NULL)
{
    parked_release = rt_chan_make(sizeof(int), 0);
    rt_waitgroup_add(&parked_ready, PARKED_N);
    for (int i = 0; i < PARKED_N; i++)
        REQUIRE_GT(rt_go(parked_deep, NULL), 0);
    rt_waitgroup_wait(&parked_ready);
    rt_gc();
    uint64_t ha = stats()->heap_alloc, goal = stats()->next_gc;
    uint64_t stacks = (uint64_t)PARKED_N * PARKED_LOCALS;
    REQUIRE_MSG(goal >= 2 * ha + stacks * 9 / 10 && goal <= 2 * ha + stacks * 3 / 2 + 4 * MiB,
                "next_gc %llu with heap_alloc %llu and %llu bytes of parked stacks",
                (unsigned long long)goal, (unsigned long long)ha, (unsigned long long)stacks);
    /* GOGC scales the stacks' share too */
    rt_set_gc_percent(200);
    uint64_t goal200 = stats()->next_gc;
    REQUIRE_MSG(goal200 >= 3 * ha + stacks * 18 / 10, "GOGC=200: next_gc %llu",
                (unsigned long long)goal200);
    rt_set_gc_percent(100);
    /* gone with the goroutines */
    rt_chan_close(parked_release);
    while (rt_num_goroutine() > 1)
        rt_sleep(RT_MILLISECOND);
    rt_gc();
    goal = stats()->next_gc;
    REQUIRE_MSG(goal < 2 * stats()->heap_alloc + stacks / 4 + 4 * MiB,
                "next_gc %llu after the parked goroutines exited",
                (unsigned long long)goal);
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("gc_api_gogc");
    TCase *tc = tcase_create("gogc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gogc_off_means_no_cycles);
    tcase_add_test(tc, test_set_gc_percent_off_and_on);
    tcase_add_test(tc, test_gogc_env_value);
    tcase_add_test(tc, test_malformed_gogc_warns_and_keeps_100);
    tcase_add_test(tc, test_heap_grows_to_twice_live);
    tcase_add_test(tc, test_goal_is_at_least_4mb);
    tcase_add_test(tc, test_min_goal_scales_with_gogc_400);
    tcase_add_test(tc, test_min_goal_scales_with_gogc_50);
    tcase_add_test(tc, test_goal_counts_goroutine_stacks);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
