/*
 * tests/api/test_conformance_goroutines.c -- goroutines as a Go programmer
 * expects them, written against rt.h and API.md alone: the ids rt_go
 * returns, rt_exit from nested calls and from goroutine 1 (Go's Goexit on
 * main: the others run on; when none is left, "no goroutines (main called
 * runtime.Goexit) - deadlock!"), rt_main's result while other goroutines
 * still exist, rt_maxprocs' query/set/cap rules (also before rt_main),
 * rt_num_goroutine's count, and rt_sleep with no positive duration.
 *
 * The outcomes that end a process run in a child (--scenario NAME, this
 * file's own main): a fatal error is checked by expect_fatal_with, an exit
 * status by run_scenario.  Nothing asserts on elapsed time.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"

/* ----------------------------------------------------------------- ids -- */

static _Atomic int64_t ids_seen[64];
static _Atomic int ids_done;

static void record_own_id(void *arg)
{
    atomic_store(&ids_seen[(intptr_t)arg], rt_goid());
    atomic_fetch_add(&ids_done, 1);
}

/* rt_go returns the id the goroutine then sees as rt_goid(); ids are
 * positive, never reused while the program runs, and increase (Go's goids
 * come from a counter). */
RT_TEST(test_go_returns_the_goroutines_id)
{
    REQUIRE_EQ(rt_goid(), 1);
    int64_t ids[64];
    for (int i = 0; i < 64; i++) {
        ids[i] = rt_go(record_own_id, (void *)(intptr_t)i);
        REQUIRE_GT(ids[i], 1);
        if (i > 0)
            REQUIRE_GT(ids[i], ids[i - 1]);
    }
    WAIT_UNTIL(atomic_load(&ids_done) == 64);
    for (int i = 0; i < 64; i++)
        REQUIRE_EQ(atomic_load(&ids_seen[i]), ids[i]);
    /* Those 64 are gone: new ids are still new. */
    REQUIRE_GT(rt_go(record_own_id, (void *)(intptr_t)0), ids[63]);
    WAIT_UNTIL(atomic_load(&ids_done) == 65);
}

/* ------------------------------------------------------------- rt_exit -- */

static _Atomic int exit_reached, exit_after;

__attribute__((noinline)) static void exit_deep(int depth)
{
    if (depth > 0) {
        exit_deep(depth - 1);
        atomic_store(&exit_after, 1); /* never: rt_exit does not return */
        return;
    }
    /* Always true; the return keeps GCC from calling the recursion
     * infinite (rt_exit never returns). */
    if (atomic_fetch_add(&exit_reached, 1) >= 0)
        rt_exit();
}

static void exit_from_nested_calls(void *arg)
{
    (void)arg;
    exit_deep(5);
    atomic_store(&exit_after, 1);
}

/* Goexit ends the goroutine from any depth of calls; none of its callers
 * runs on, and it no longer counts. */
RT_TEST(test_exit_from_nested_calls)
{
    for (int i = 0; i < 20; i++)
        REQUIRE_GT(rt_go(exit_from_nested_calls, NULL), 0);
    WAIT_UNTIL(atomic_load(&exit_reached) == 20);
    WAIT_UNTIL(rt_num_goroutine() == 1);
    REQUIRE_EQ(atomic_load(&exit_after), 0);
}

/* ------------------------------------------------------ num_goroutine -- */

static _Atomic int gate_open;

static void wait_for_gate(void *arg)
{
    (void)arg;
    while (!atomic_load(&gate_open))
        rt_sleep(100 * RT_MICROSECOND);
}

static void discard_finalizer(void *obj)
{
    (void)obj;
}

/* NumGoroutine counts goroutines that exist, started or not, and none of
 * the runtime's own (collector, finalizers, timers). */
RT_TEST(test_num_goroutine_counts_user_goroutines_only)
{
    rt_maxprocs(1); /* nothing else runs while we count */
    REQUIRE_EQ(rt_num_goroutine(), 1);
    for (int i = 0; i < 10; i++)
        REQUIRE_GT(rt_go(wait_for_gate, NULL), 0);
    REQUIRE_EQ(rt_num_goroutine(), 11); /* none has run yet */
    atomic_store(&gate_open, 1);
    WAIT_UNTIL(rt_num_goroutine() == 1);

    /* Wake the runtime's own goroutines: a cycle with a finalizer to run,
     * a timer and a ticker. */
    rt_set_finalizer(rt_alloc(64), discard_finalizer);
    rt_gc();
    rt_gc();
    REQUIRE(rt_chan_recv(rt_after(RT_MICROSECOND), NULL));
    rt_ticker *tk = rt_ticker_new(RT_MICROSECOND);
    REQUIRE(rt_chan_recv(rt_ticker_chan(tk), NULL));
    rt_ticker_stop(tk);
    REQUIRE_EQ(rt_num_goroutine(), 1);
}

/* ------------------------------------------------------------ maxprocs -- */

RT_TEST(test_maxprocs_query_set_cap)
{
    int start = rt_maxprocs(0);
    REQUIRE_GE(start, 1);
    REQUIRE_EQ(rt_maxprocs(-1), start); /* any n <= 0 queries */
    REQUIRE_EQ(rt_maxprocs(3), start);  /* set: returns the previous */
    REQUIRE_EQ(rt_maxprocs(0), 3);
    REQUIRE_EQ(rt_maxprocs(3), 3);      /* same value: no change */
    REQUIRE_EQ(rt_maxprocs(100000), 3);
    REQUIRE_EQ(rt_maxprocs(0), 256);    /* capped */
    REQUIRE_EQ(rt_maxprocs(1), 256);
    REQUIRE_EQ(rt_maxprocs(0), 1);
}

static void maxprocs_is_three(void)
{
    REQUIRE_EQ(rt_maxprocs(0), 3);
}

/* A count set before rt_main is the one it starts with, over MAXPROCS (a
 * Go program's GOMAXPROCS call at the top of main wins over the
 * variable). */
START_TEST(test_maxprocs_before_main)
{
    ck_assert_int_eq(setenv("MAXPROCS", "1", 1), 0);
    ck_assert_int_eq(rt_maxprocs(0), 0); /* nothing asked for yet */
    ck_assert_int_eq(rt_maxprocs(3), 0);
    ck_assert_int_eq(rt_maxprocs(-1), 3);
    run_in_rt(maxprocs_is_three);
}
END_TEST

/* rt_go before rt_main (from the thread that will call it): goroutine 1
 * is still rt_main's function, and the early one has an id of its own
 * that it sees as rt_goid(). */
static int64_t early_id;
static _Atomic int64_t early_saw;

static void early(void *arg)
{
    (void)arg;
    atomic_store(&early_saw, rt_goid());
}

static void main_is_goroutine_1(void)
{
    REQUIRE_EQ(rt_goid(), 1);
    while (atomic_load(&early_saw) == 0)
        rt_sleep(RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&early_saw), early_id);
}

START_TEST(test_go_before_main_ids)
{
    early_id = rt_go(early, NULL);
    ck_assert_int_gt(early_id, 1);
    run_in_rt(main_is_goroutine_1);
}
END_TEST

/* The overflow message names a 262144-byte limit: a goroutine may use
 * nearly all of it (224 KiB in 4 KiB frames here; the guard below the
 * 256 KiB once came out of them, and this overflowed at 192 KiB). */
static __attribute__((noinline)) int deep_frames(int n)
{
    volatile char buf[4096];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = (char)n;
    if (n == 0)
        return buf[0];
    return deep_frames(n - 1) + buf[sizeof buf - 1];
}

static void use_deep_stack(void *arg)
{
    atomic_store((_Atomic int *)arg, deep_frames(56) + 1000);
}

RT_TEST(test_stack_limit_usable)
{
    static _Atomic int done;
    REQUIRE_GT(rt_go(use_deep_stack, (void *)&done), 0);
    while (atomic_load(&done) == 0)
        rt_sleep(RT_MILLISECOND);
    REQUIRE_GT(atomic_load(&done), 0);
}

/* ----------------------------------------------------------- rt_sleep --- */

/* time.Sleep(d) with d <= 0 returns at once; so does an after-the-fact
 * deadline.  (Only that they return is checked: no timing.) */
RT_TEST(test_sleep_nonpositive_returns)
{
    rt_sleep(0);
    rt_sleep(-1);
    rt_sleep(-RT_SECOND);
    rt_sleep(INT64_MIN);
    rt_yield();
    REQUIRE_EQ(rt_goid(), 1);
}

/* ---------------------------------------------------------- scenarios -- */

static void finish_soon(void *arg)
{
    (void)arg;
    rt_sleep(RT_MILLISECOND);
}

static void block_forever(void *arg)
{
    (void)arg;
    if (rt_chan_recv(rt_chan_make(sizeof(int), 0), NULL)) /* not a tail call */
        abort();
}

static void exit_process(void *arg)
{
    (void)arg;
    rt_sleep(RT_MILLISECOND);
    exit(0); /* os.Exit(0) from another goroutine */
}

static void spin_forever(void *arg)
{
    (void)arg;
    for (;;)
        rt_yield();
}

__attribute__((noinline)) static void goexit_from_helper(void)
{
    rt_exit();
}

/* A port of Go's `go reader(&args)` from main: the reader goes on reading
 * main's frame after main returns, while the process exits (an atexit
 * handler holds the exit for 50 ms).  Go keeps such arguments in the
 * heap; grt keeps main's frame as it was (proc.c, main_goroutine). */
typedef struct {
    int64_t tag[64];
} frame_args;
static _Atomic int frame_reader_started;

static void read_main_frame(void *arg)
{
    volatile frame_args *a = arg;
    atomic_store(&frame_reader_started, 1);
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (a->tag[i] != 1000 + i) {
                static const char msg[] = "main's frame was overwritten\n";
                if (write(2, msg, sizeof msg - 1) < 0)
                    abort();
                _exit(4);
            }
        }
    }
}

static void hold_exit(void)
{
    usleep(50 * 1000);
}

__attribute__((noinline)) static int return_with_frame_reader(void)
{
    frame_args a;
    for (int i = 0; i < 64; i++)
        a.tag[i] = 1000 + i;
    atexit(hold_exit);
    rt_go(read_main_frame, &a);
    while (!atomic_load(&frame_reader_started))
        rt_yield(); /* (the reader keeps its P; this goroutine moves) */
    return 5;
}

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    if (strcmp(s, "main-returns-frame-read") == 0)
        return return_with_frame_reader();
    if (strcmp(s, "goexit-main-last") == 0) {
        /* main exits; the other goroutine finishes; nothing is left */
        rt_go(finish_soon, NULL);
        goexit_from_helper();
    } else if (strcmp(s, "goexit-main-blocked") == 0) {
        /* main exits; the other goroutine can never run again */
        rt_go(block_forever, NULL);
        rt_exit();
    } else if (strcmp(s, "goexit-main-then-exit") == 0) {
        rt_go(exit_process, NULL);
        rt_exit();
    } else if (strcmp(s, "main-returns-7") == 0) {
        /* rt_main returns main's result without waiting for the others */
        rt_go(block_forever, NULL);
        rt_go(spin_forever, NULL);
        rt_yield();
        return 7;
    }
    return 3; /* "goexit" scenarios never get here */
}

START_TEST(test_goexit_main_then_nothing_left)
{
    expect_fatal("goexit-main-last",
                 "no goroutines (main called runtime.Goexit) - deadlock!");
}
END_TEST

START_TEST(test_goexit_main_then_others_asleep)
{
    expect_fatal_with("goexit-main-blocked",
                      "all goroutines are asleep - deadlock!",
                      " [chan receive]:\nblock_forever(...)\n");
}
END_TEST

START_TEST(test_goexit_main_program_exits_normally)
{
    char err[4096];
    int st = run_scenario("goexit-main-then-exit", NULL, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "status %#x; stderr:\n%s", st, err);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_main_result_with_goroutines_left)
{
    static const char *env[] = {"MAXPROCS=2", NULL};
    char err[4096];
    int st = run_scenario("main-returns-7", env, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 7,
                  "status %#x; stderr:\n%s", st, err);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_main_frame_survives_its_return)
{
    static const char *env[] = {"MAXPROCS=2", NULL};
    char err[4096];
    int st = run_scenario("main-returns-frame-read", env, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 5,
                  "status %#x; stderr:\n%s", st, err);
    ck_assert_str_eq(err, "");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0)
        return rt_main(scenario_main, argc, argv);

    Suite *s = suite_create("conformance_goroutines");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_go_returns_the_goroutines_id);
    tcase_add_test(tc, test_main_frame_survives_its_return);
    tcase_add_test(tc, test_exit_from_nested_calls);
    tcase_add_test(tc, test_num_goroutine_counts_user_goroutines_only);
    tcase_add_test(tc, test_maxprocs_query_set_cap);
    tcase_add_test(tc, test_maxprocs_before_main);
    tcase_add_test(tc, test_go_before_main_ids);
    tcase_add_test(tc, test_stack_limit_usable);
    tcase_add_test(tc, test_sleep_nonpositive_returns);
    tcase_add_test(tc, test_goexit_main_then_nothing_left);
    tcase_add_test(tc, test_goexit_main_then_others_asleep);
    tcase_add_test(tc, test_goexit_main_program_exits_normally);
    tcase_add_test(tc, test_main_result_with_goroutines_left);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
