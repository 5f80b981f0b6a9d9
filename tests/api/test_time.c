/*
 * tests/api/test_time.c -- the public timers through rt.h alone: rt_after,
 * rt_timer_* and rt_ticker_*.
 *
 * The assertions are about order and causality, never about how late a
 * timer may be: a fire time is never before its deadline, a timer whose
 * stop returned true never fires, a reset that returned true fires once
 * at the new deadline, a stop that returned false means a value comes.
 * The one exception is test_ticker_drops_ticks, see there.
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

/* xorshift64*: deterministic per-goroutine randomness for the race tests. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* ------------------------------------------------------------ rt_after -- */

RT_TEST(test_after_not_before_deadline)
{
    static const int64_t ds[] = {-5, 0, 1, 50 * RT_MICROSECOND, RT_MILLISECOND,
                                 5 * RT_MILLISECOND, 20 * RT_MILLISECOND};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        int64_t t0 = rt_nanotime();
        rt_chan *c = rt_after(ds[i]);
        REQUIRE_EQ(rt_chan_cap(c), 1);
        int64_t v = recv_time(c);
        int64_t t1 = rt_nanotime();
        int64_t d = ds[i] > 0 ? ds[i] : 0;
        REQUIRE_GE(v, t0 + d);  /* fired at or after the deadline */
        REQUIRE_LE(v, t1);      /* and before we got it */
        REQUIRE_GE(t1, t0 + d);
        /* One-shot: nothing more comes. */
        REQUIRE_EQ(rt_chan_try_recv(c, &v), -EAGAIN);
    }
}

/* Many rt_after channels at once, in a select: each value respects its own
 * deadline, and they all arrive. */
RT_TEST(test_after_many_in_select)
{
    enum { N = 20 };
    rt_chan *cs[N];
    int64_t due[N], vals[N];
    rt_select_case sel[N];
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < N; i++) {
        int64_t d = (int64_t)((i * 7) % N) * 200 * RT_MICROSECOND;
        due[i] = t0 + d;
        cs[i] = rt_after(d);
        sel[i] = RT_RECV(cs[i], &vals[i]);
    }
    for (int got = 0; got < N; got++) {
        int k = rt_select(sel, N, true);
        REQUIRE(k >= 0 && k < N);
        REQUIRE(sel[k].ok);
        REQUIRE_GE(vals[k], due[k]);
        sel[k].chan = NULL; /* fired once: drop the case */
    }
}

/* -------------------------------------------------------------- timers -- */

RT_TEST(test_timer_stop_before_fire)
{
    rt_timer *t = rt_timer_new(3600 * RT_SECOND);
    rt_chan *c = rt_timer_chan(t);
    REQUIRE_EQ(rt_chan_cap(c), 1);
    REQUIRE(rt_timer_stop(t));   /* it was pending */
    REQUIRE(!rt_timer_stop(t));  /* no longer */
    REQUIRE_EQ(rt_chan_try_recv(c, NULL), -EAGAIN);

    /* Reset of a stopped timer: not active, fires at the new deadline. */
    int64_t t0 = rt_nanotime();
    REQUIRE(!rt_timer_reset(t, RT_MILLISECOND));
    int64_t v = recv_time(c);
    REQUIRE_GE(v, t0 + RT_MILLISECOND);
    REQUIRE(!rt_timer_stop(t));  /* it fired */
}

RT_TEST(test_timer_reset_active)
{
    rt_timer *t = rt_timer_new(3600 * RT_SECOND);
    int64_t t0 = rt_nanotime();
    REQUIRE(rt_timer_reset(t, 2 * RT_MILLISECOND)); /* was pending */
    int64_t v = recv_time(rt_timer_chan(t));
    REQUIRE_GE(v, t0 + 2 * RT_MILLISECOND);
    /* Fired: reset reports inactive and re-arms. */
    t0 = rt_nanotime();
    REQUIRE(!rt_timer_reset(t, 0));
    v = recv_time(rt_timer_chan(t));
    REQUIRE_GE(v, t0);
    /* Pushing a pending timer far out keeps it from firing. */
    REQUIRE(!rt_timer_reset(t, 3600 * RT_SECOND));
    REQUIRE(rt_timer_reset(t, 3600 * RT_SECOND));
    rt_sleep(2 * RT_MILLISECOND);
    REQUIRE_EQ(rt_chan_try_recv(rt_timer_chan(t), NULL), -EAGAIN);
    REQUIRE(rt_timer_stop(t));
}

RT_TEST(test_timer_fired_value_waits_in_channel)
{
    rt_timer *t = rt_timer_new(100 * RT_MICROSECOND);
    rt_sleep(2 * RT_MILLISECOND);
    /* Stop after the fire: false, and the value is (or will be) there, so
     * Go's idiom `if !t.Stop() { <-t.C }` cannot hang. */
    if (!rt_timer_stop(t))
        (void)recv_time(rt_timer_chan(t));
    REQUIRE_EQ(rt_chan_try_recv(rt_timer_chan(t), NULL), -EAGAIN);
}

/*
 * Stop and reset racing with the fire.  G goroutines each run ROUNDS
 * timers with random tiny durations and stop or reset them after a random
 * number of yields, so that the calls land before, during and after the
 * fire.  Invariants checked:
 *   stop == true   -> the timer never delivers (checked at the end, after
 *                     every deadline has long passed);
 *   stop == false  -> a value is delivered (a blocking receive returns);
 *   reset == true  -> exactly one value, not before the new deadline;
 *   reset == false -> the old fire delivers (a blocking receive returns).
 */
enum { RACE_G = 8, RACE_ROUNDS = 300 };

typedef struct {
    rt_chan *done;
    int id;
    rt_timer *stopped[RACE_ROUNDS]; /* stop returned true */
    int nstopped;
    rt_timer *reset_once[RACE_ROUNDS]; /* reset returned true, value taken */
    int nreset;
} race_arg;

static void timer_racer(void *p)
{
    race_arg *a = p;
    uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(a->id + 1);
    for (int i = 0; i < RACE_ROUNDS; i++) {
        int64_t d = (int64_t)(next_rand(&rs) % 100) * RT_MICROSECOND / 2;
        rt_timer *t = rt_timer_new(d);
        int yields = (int)(next_rand(&rs) % 40);
        for (int k = 0; k < yields; k++)
            rt_yield();
        if (next_rand(&rs) & 1) {
            if (rt_timer_stop(t))
                a->stopped[a->nstopped++] = t;
            else
                (void)recv_time(rt_timer_chan(t));
        } else {
            int64_t d2 = (int64_t)(next_rand(&rs) % 100) * RT_MICROSECOND / 2;
            int64_t t0 = rt_nanotime();
            if (rt_timer_reset(t, d2)) {
                int64_t v = recv_time(rt_timer_chan(t));
                REQUIRE_GE(v, t0 + d2);
                a->reset_once[a->nreset++] = t;
            } else {
                (void)recv_time(rt_timer_chan(t));
            }
        }
    }
    rt_chan_send(a->done, &a->id);
}

RT_TEST(test_timer_stop_reset_races)
{
    static race_arg args[RACE_G];
    rt_chan *done = rt_chan_make(sizeof(int), RACE_G);
    for (int i = 0; i < RACE_G; i++) {
        args[i] = (race_arg){.done = done, .id = i};
        REQUIRE_GT(rt_go(timer_racer, &args[i]), 0);
    }
    for (int i = 0; i < RACE_G; i++)
        REQUIRE(rt_chan_recv(done, NULL));
    /* Every deadline above was <= 50 us away; give any wrong fire the
     * chance to show (a longer wait can only find more bugs, never fail a
     * correct runtime). */
    rt_sleep(5 * RT_MILLISECOND);
    int nstopped = 0, nreset = 0;
    for (int i = 0; i < RACE_G; i++) {
        for (int k = 0; k < args[i].nstopped; k++)
            REQUIRE_EQ(rt_chan_try_recv(rt_timer_chan(args[i].stopped[k]), NULL),
                             -EAGAIN);
        for (int k = 0; k < args[i].nreset; k++)
            REQUIRE_EQ(rt_chan_try_recv(rt_timer_chan(args[i].reset_once[k]), NULL),
                             -EAGAIN);
        nstopped += args[i].nstopped;
        nreset += args[i].nreset;
    }
    /* Not assertions on timing: just report how the races fell. */
    fprintf(stderr, "timer races: %d stopped in time, %d reset in time of %d\n",
            nstopped, nreset, RACE_G * RACE_ROUNDS);
}

RT_TEST(test_timer_zero_and_negative)
{
    int64_t t0 = rt_nanotime();
    rt_timer *a = rt_timer_new(0);
    rt_timer *b = rt_timer_new(-RT_SECOND);
    REQUIRE_GE(recv_time(rt_timer_chan(a)), t0);
    REQUIRE_GE(recv_time(rt_timer_chan(b)), t0);
    /* A huge duration must not overflow into the past. */
    rt_timer *c = rt_timer_new(INT64_MAX);
    rt_yield();
    REQUIRE_EQ(rt_chan_try_recv(rt_timer_chan(c), NULL), -EAGAIN);
    REQUIRE(rt_timer_stop(c));
}

/* rt_sleep of a duration whose deadline overflows sleeps "for ever", as
 * Go's when() clamps it: the deadline was computed with a signed overflow
 * (UBSan stopped the program in the sanitized build; an outside tester's
 * find), while rt_after and the rest clamped. */
static _Atomic int huge_woke;
static void huge_sleeper(void *arg)
{
    rt_sleep((int64_t)(intptr_t)arg);
    atomic_fetch_add(&huge_woke, 1);
}

RT_TEST(test_sleep_huge_durations)
{
    REQUIRE_GT(rt_go(huge_sleeper, (void *)(intptr_t)INT64_MAX), 0);
    REQUIRE_GT(rt_go(huge_sleeper, (void *)(intptr_t)(INT64_MAX - rt_nanotime() + 1)), 0);
    REQUIRE_GT(rt_go(huge_sleeper, (void *)(intptr_t)((int64_t)1 << 62)), 0);
    rt_sleep(20 * RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&huge_woke), 0);
}

/* ------------------------------------------------------------- tickers -- */

RT_TEST(test_ticker_ticks_in_order)
{
    const int64_t period = 500 * RT_MICROSECOND;
    int64_t t0 = rt_nanotime();
    rt_ticker *tk = rt_ticker_new(period);
    rt_chan *c = rt_ticker_chan(tk);
    REQUIRE_EQ(rt_chan_cap(c), 1);
    int64_t prev = 0;
    for (int i = 0; i < 20; i++) {
        int64_t v = recv_time(c);
        if (i == 0)
            REQUIRE_GE(v, t0 + period);
        else
            REQUIRE_GT(v, prev);
        REQUIRE_LE(v, rt_nanotime());
        prev = v;
    }
    rt_ticker_stop(tk);
}

/*
 * A slow receiver loses ticks: the channel holds one tick and the timer's
 * send does not wait.  The receiver sleeps 60 periods, then takes v1 (the
 * oldest undelivered tick) and v2.  v2 was sent after v1 was taken, i.e.
 * after `b1` (read just before that receive), so v2 >= b1 - slack, where
 * slack bounds the gap between the timer code reading the clock and its
 * send (normally well under a microsecond; we allow 30 periods).  A runtime
 * that queued ticks (or sent them from a blocked goroutine) would deliver
 * v2 = t0 + 2 periods, about 58 periods too early.  A callback that blocked
 * on the full channel would hang the scheduler instead.
 */
RT_TEST(test_ticker_drops_ticks)
{
    const int64_t period = RT_MILLISECOND;
    int64_t t0 = rt_nanotime();
    rt_ticker *tk = rt_ticker_new(period);
    rt_chan *c = rt_ticker_chan(tk);
    rt_sleep(60 * period);
    REQUIRE_LE(rt_chan_len(c), 1);
    int64_t b1 = rt_nanotime();
    int64_t v1 = recv_time(c);
    int64_t v2 = recv_time(c);
    REQUIRE_GE(v1, t0 + period);
    REQUIRE_GT(v2, v1);
    REQUIRE_GE(v2, b1 - 30 * period);
    rt_ticker_stop(tk);
}

/* After stop, at most one tick (one already in flight when stop ran) can
 * still arrive, and then nothing. */
RT_TEST(test_ticker_stop)
{
    const int64_t period = 200 * RT_MICROSECOND;
    rt_ticker *tk = rt_ticker_new(period);
    rt_chan *c = rt_ticker_chan(tk);
    for (int i = 0; i < 5; i++)
        (void)recv_time(c);
    rt_ticker_stop(tk);
    int late = 0;
    for (int i = 0; i < 20; i++) {
        rt_sleep(period);
        if (rt_chan_try_recv(c, NULL) == 1)
            late++;
    }
    REQUIRE_LE(late, 1);
}

/* --------------------------------------------------------- fatal error -- */

static int scenario_main(int argc, char **argv)
{
    if (strcmp(argv[argc - 1], "ticker-zero") == 0)
        rt_ticker_new(0);
    return 0;
}


/* What a timeout costs the heap: rt_after allocates a timer and a channel
 * of capacity 1, whose ring has no cache-line pads (a capacity-1 channel's
 * two sides use the one slot in turn).  312 + 88 = 400 bytes with the pads;
 * 224 without; Go's time.After, 209 (Go 1.19 here). */
RT_TEST(test_after_allocates_little)
{
    enum { N = 10000 };
    rt_memstats a, b;
    rt_read_memstats(&a);
    for (int i = 0; i < N; i++)
        rt_timer_stop(rt_timer_new(RT_SECOND));
    rt_read_memstats(&b);
    uint64_t per = (b.total_alloc - a.total_alloc) / N;
    REQUIRE_LE(per, 256);
    REQUIRE_GE(per, 100);
}

/* A capacity-1 channel (the compact ring) as a token between goroutines
 * on every P: each takes the token, checks that nobody else holds it,
 * and puts it back; every value sent is received exactly once. */
static rt_chan *g_token;
static _Atomic int g_holders;
static _Atomic int64_t g_passes;

static void token_user(void *arg)
{
    rt_waitgroup *wg = arg;
    for (int i = 0; i < 20000; i++) {
        int64_t v;
        REQUIRE(rt_chan_recv(g_token, &v));
        REQUIRE_EQ(atomic_fetch_add(&g_holders, 1), 0);
        atomic_fetch_add(&g_passes, 1);
        atomic_fetch_sub(&g_holders, 1);
        v++;
        rt_chan_send(g_token, &v);
    }
    rt_waitgroup_done(wg);
}

RT_TEST(test_cap1_channel_as_token)
{
    enum { USERS = 8 };
    g_token = rt_chan_make(sizeof(int64_t), 1);
    REQUIRE_EQ(rt_chan_cap(g_token), 1);
    int64_t v = 0;
    rt_chan_send(g_token, &v);
    REQUIRE_EQ(rt_chan_len(g_token), 1);
    REQUIRE(!rt_chan_try_send(g_token, &v)); /* full */
    rt_waitgroup wg = {0};
    rt_waitgroup_add(&wg, USERS);
    for (int i = 0; i < USERS; i++)
        rt_go(token_user, &wg);
    rt_waitgroup_wait(&wg);
    REQUIRE(rt_chan_recv(g_token, &v));
    REQUIRE_EQ(v, (int64_t)USERS * 20000);
    REQUIRE_EQ(atomic_load(&g_passes), (int64_t)USERS * 20000);
    REQUIRE_EQ(rt_chan_len(g_token), 0);
    rt_chan_close(g_token);
    REQUIRE(!rt_chan_recv(g_token, &v));
}

START_TEST(test_ticker_nonpositive_period)
{
    expect_fatal("ticker-zero", "non-positive interval for rt_ticker_new");
}
END_TEST

/* ---------------------------------------------------------------- main -- */

/*
 * Timers fire inside scheduling (a yield runs the P's due timers), so a
 * ticker's send must not be a preemption point: with concurrent cycles
 * asking every running goroutine to yield (the collector, about to stop
 * the world), a tick sent from inside rt_yield once yielded inside that
 * yield -- a nil dereference in the scheduler within a second here.
 */
typedef struct tnode {
    struct tnode *next;
    long pad[3];
} tnode;
static tnode *volatile g_ballast;
static void *volatile g_tsink;
static _Atomic int g_tstop;

static void tick_drain(void *arg)
{
    rt_ticker *t = arg;
    int64_t v;
    while (!atomic_load(&g_tstop))
        rt_chan_recv(rt_ticker_chan(t), &v);
    rt_ticker_stop(t);
}

RT_TEST(test_ticks_inside_yields_while_collecting)
{
    int old = rt_maxprocs(1);
    for (int i = 0; i < 1000000; i++) { /* ~32 MiB: concurrent cycles */
        tnode *n = rt_new(tnode);
        n->next = g_ballast;
        g_ballast = n;
    }
    for (int i = 0; i < 64; i++)
        rt_go(tick_drain, rt_ticker_new(50 * RT_MICROSECOND + i * RT_MICROSECOND));
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t t0 = rt_nanotime();
    while (rt_nanotime() - t0 < 2 * RT_SECOND) {
        g_tsink = rt_alloc(4096);
        rt_yield();
    }
    atomic_store(&g_tstop, 1);
    rt_read_memstats(&ms);
    ck_assert_int_ge(ms.num_gc - gc0, 5);
    g_ballast = NULL;
    rt_sleep(10 * RT_MILLISECOND); /* the drainers see the stop at their next tick */
    rt_maxprocs(old);
}

int main(int argc, char **argv)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("time");
    tcase_add_test(tc, test_after_not_before_deadline);
    tcase_add_test(tc, test_after_many_in_select);
    tcase_add_test(tc, test_timer_stop_before_fire);
    tcase_add_test(tc, test_timer_reset_active);
    tcase_add_test(tc, test_timer_fired_value_waits_in_channel);
    tcase_add_test(tc, test_timer_stop_reset_races);
    tcase_add_test(tc, test_timer_zero_and_negative);
    tcase_add_test(tc, test_sleep_huge_durations);
    tcase_add_test(tc, test_ticker_ticks_in_order);
    tcase_add_test(tc, test_ticker_drops_ticks);
    tcase_add_test(tc, test_ticker_stop);
    tcase_add_test(tc, test_ticker_nonpositive_period);
    tcase_add_test(tc, test_after_allocates_little);
    tcase_add_test(tc, test_cap1_channel_as_token);
    tcase_add_test(tc, test_ticks_inside_yields_while_collecting);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
