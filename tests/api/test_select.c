/*
 * tests/api/test_select.c -- rt_select through rt.h alone: non-blocking and
 * blocking selects, nil cases, uniform choice among ready cases, mixed
 * send and receive cases, wake-ups by peers and by close, duplicate
 * channels, many cases, and many goroutines selecting on overlapping
 * channels.  Fatal errors run in child processes.
 *
 * Each test runs as goroutine 1 under rt_main in Check's forked process.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"


#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------- non-blocking -- */

RT_TEST(test_select_nonblocking)
{
    REQUIRE_EQ(rt_select(NULL, 0, false), -1);

    rt_chan *a = rt_chan_make(sizeof(int), 0);
    rt_chan *b = rt_chan_make(sizeof(int), 1);
    int x = 5, y = 6;
    rt_select_case cs[] = {RT_RECV(a, &x), RT_RECV(b, &y)};
    REQUIRE_EQ(rt_select(cs, 2, false), -1);
    REQUIRE_EQ(x, 5);
    REQUIRE_EQ(y, 6);

    int v = 11;
    REQUIRE(rt_chan_try_send(b, &v));
    REQUIRE_EQ(rt_select(cs, 2, false), 1);
    REQUIRE(cs[1].ok);
    REQUIRE_EQ(y, 11);
    REQUIRE_EQ(rt_chan_len(b), 0);
    REQUIRE_EQ(rt_select(cs, 2, false), -1);
}

/* One case: the channel operation itself (Go compiles such a select to
 * it): ok for a receive, -1 when it would block, nil channels never
 * ready, blocking ones hand off. */
static void one_case_sender(void *p)
{
    int v = 42;
    rt_select_case cs[] = {RT_SEND((rt_chan *)p, &v)};
    rt_select(cs, 1, true);
}

RT_TEST(test_select_one_case)
{
    rt_chan *b = rt_chan_make(sizeof(int), 1);
    int x = 0, v = 7;
    rt_select_case r[] = {RT_RECV(b, &x)};
    rt_select_case w[] = {RT_SEND(b, &v)};
    REQUIRE_EQ(rt_select(r, 1, false), -1);
    REQUIRE_EQ(rt_select(w, 1, false), 0);
    REQUIRE_EQ(rt_select(w, 1, false), -1); /* full */
    r[0].ok = false;
    REQUIRE_EQ(rt_select(r, 1, false), 0);
    REQUIRE(r[0].ok);
    REQUIRE_EQ(x, 7);
    rt_chan_close(b);
    x = 5;
    r[0].ok = true;
    REQUIRE_EQ(rt_select(r, 1, true), 0); /* closed: zero value, not ok */
    REQUIRE(!r[0].ok);
    REQUIRE_EQ(x, 0);

    rt_select_case nil[] = {RT_RECV(NULL, &x)};
    REQUIRE_EQ(rt_select(nil, 1, false), -1);

    rt_chan *u = rt_chan_make(sizeof(int), 0);
    REQUIRE_GT(rt_go(one_case_sender, u), 0);
    rt_select_case ur[] = {RT_RECV(u, &x)};
    REQUIRE_EQ(rt_select(ur, 1, true), 0);
    REQUIRE(ur[0].ok);
    REQUIRE_EQ(x, 42);
}

RT_TEST(test_select_nil_cases_skipped)
{
    rt_chan *c = rt_chan_make(sizeof(int), 1);
    int v = 0, w = 3;
    rt_select_case cs[] = {
        RT_RECV(NULL, &v),
        RT_SEND(NULL, &w),
        RT_RECV(c, &v),
        RT_SEND((rt_chan *)NULL, &w),
    };
    /* Only nil cases and nothing ready: -1. */
    REQUIRE_EQ(rt_select(cs, 2, false), -1);
    REQUIRE_EQ(rt_select(cs, NCASES(cs), false), -1);
    for (int i = 0; i < 1000; i++) {
        int s = i;
        REQUIRE(rt_chan_try_send(c, &s));
        REQUIRE_EQ(rt_select(cs, NCASES(cs), true), 2);
        REQUIRE(cs[2].ok);
        REQUIRE_EQ(v, i);
    }
}

/* ----------------------------------------------------------- fairness -- */

/* Two always-ready cases (receives from closed channels) over 100k selects:
 * each must win between 45% and 55%.  With p = 1/2 the standard deviation
 * of the count is ~158, so the bound is ~30 sigma: it cannot flake, and a
 * biased poll order (say, always case 0 first) fails it. */
RT_TEST(test_select_fairness_two)
{
    enum { N = 100000 };
    rt_chan *a = rt_chan_make(sizeof(int), 0);
    rt_chan *b = rt_chan_make(sizeof(int), 0);
    rt_chan_close(a);
    rt_chan_close(b);
    int x, y;
    rt_select_case cs[] = {RT_RECV(a, &x), RT_RECV(b, &y)};
    int count[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        int k = rt_select(cs, 2, i & 1);
        REQUIRE(k == 0 || k == 1);
        REQUIRE(!cs[k].ok);
        count[k]++;
    }
    REQUIRE_GE(count[0], N * 45 / 100);
    REQUIRE_LE(count[0], N * 55 / 100);
    REQUIRE_GE(count[1], N * 45 / 100);
    REQUIRE_LE(count[1], N * 55 / 100);
}

/* Four cases of mixed kinds, three ready (a buffered value, room to send, a
 * closed channel) and one never ready: the ready ones each win ~1/3.
 * Bounds 30%..36.7% are > 10 sigma (sigma ~ 0.15% at 100k draws). */
RT_TEST(test_select_fairness_mixed)
{
    enum { N = 100000 };
    rt_chan *full = rt_chan_make(sizeof(int), 1);  /* always has a value */
    rt_chan *room = rt_chan_make(sizeof(int), 1);  /* always has room */
    rt_chan *closed = rt_chan_make(sizeof(int), 0);
    rt_chan *never = rt_chan_make(sizeof(int), 0); /* nobody ever sends */
    rt_chan_close(closed);
    int v = 1, r, z, n;
    REQUIRE(rt_chan_try_send(full, &v));
    rt_select_case cs[] = {RT_RECV(never, &n), RT_RECV(full, &r),
                           RT_SEND(room, &v), RT_RECV(closed, &z)};
    int count[4] = {0};
    for (int i = 0; i < N; i++) {
        int k = rt_select(cs, 4, true);
        REQUIRE(k >= 1 && k <= 3);
        count[k]++;
        if (k == 1)
            REQUIRE(rt_chan_try_send(full, &v)); /* refill */
        else if (k == 2)
            REQUIRE_EQ(rt_chan_try_recv(room, NULL), 1); /* empty */
    }
    REQUIRE_EQ(count[0], 0);
    for (int k = 1; k <= 3; k++) {
        REQUIRE_GE(count[k], N * 30 / 100);
        REQUIRE_LE(count[k], N * 367 / 1000);
    }
}

/* ------------------------------------------------------ send and recv -- */

RT_TEST(test_select_send_recv_mixed_nonblocking)
{
    rt_chan *out = rt_chan_make(sizeof(int), 1);
    rt_chan *in = rt_chan_make(sizeof(int), 1);
    int sv = 17, rv = 0;
    rt_select_case cs[] = {RT_SEND(out, &sv), RT_RECV(in, &rv)};
    REQUIRE_EQ(rt_select(cs, 2, false), 0); /* room in out */
    REQUIRE_EQ(rt_chan_len(out), 1);
    REQUIRE_EQ(rt_select(cs, 2, false), -1); /* out full, in empty */
    int v = 23;
    REQUIRE(rt_chan_try_send(in, &v));
    REQUIRE_EQ(rt_select(cs, 2, false), 1);
    REQUIRE(cs[1].ok);
    REQUIRE_EQ(rv, 23);
    REQUIRE_EQ(rt_chan_try_recv(out, &v), 1);
    REQUIRE_EQ(v, 17);
}

typedef struct {
    rt_chan *to, *from; /* the partner receives on `to`, sends on `from` */
    int n;
} partner_arg;

/* Echoes: receives x on `to`, then sends x * 10 on `from`. */
static void echo_partner(void *p)
{
    /* A copy, as `go f(args)` evaluates them: the test may return (popping
     * *p) as soon as it has the last answer, before this loop tests its
     * bound once more. */
    partner_arg a = *(partner_arg *)p;
    for (int i = 0; i < a.n; i++) {
        int x;
        REQUIRE(rt_chan_recv(a.to, &x));
        x *= 10;
        rt_chan_send(a.from, &x);
    }
}

/* Blocking selects with a send and a receive case over unbuffered
 * channels: each select is woken by the partner through exactly one of
 * them, alternately. */
RT_TEST(test_select_send_recv_mixed_blocking)
{
    partner_arg a = {rt_chan_make(sizeof(int), 0), rt_chan_make(sizeof(int), 0),
                     5000};
    REQUIRE_GT(rt_go(echo_partner, &a), 0);
    for (int i = 0; i < a.n; i++) {
        int sv = i, rv = -1;
        rt_select_case cs[] = {RT_RECV(a.from, &rv), RT_SEND(a.to, &sv)};
        REQUIRE_EQ(rt_select(cs, 2, true), 1); /* partner receives */
        REQUIRE_EQ(rt_select(cs, 2, true), 0); /* partner answers */
        REQUIRE(cs[0].ok);
        REQUIRE_EQ(rv, i * 10);
    }
}

/* ---------------------------------------------------------- wake-ups -- */

typedef struct {
    rt_chan *c;
    int yields;
} closer_arg;

static void closer(void *p)
{
    closer_arg *a = p;
    for (int i = 0; i < a->yields; i++)
        rt_yield();
    rt_chan_close(a->c);
}

RT_TEST(test_select_woken_by_close)
{
    for (int round = 0; round < 200; round++) {
        rt_chan *never = rt_chan_make(sizeof(int), 0);
        closer_arg a = {rt_chan_make(sizeof(long), 0), round % 7};
        int x = 3;
        long y = 99;
        rt_select_case cs[] = {RT_RECV(never, &x), RT_RECV(a.c, &y),
                               RT_RECV(NULL, &x)};
        REQUIRE_GT(rt_go(closer, &a), 0);
        REQUIRE_EQ(rt_select(cs, 3, true), 1);
        REQUIRE(!cs[1].ok);
        REQUIRE_EQ(y, 0);
        REQUIRE_EQ(x, 3);
    }
}

static void slow_receiver(void *p)
{
    partner_arg a = *(partner_arg *)p; /* a copy: see echo_partner */
    for (int i = 0; i < a.n; i++) {
        for (int k = 0; k < i % 5; k++)
            rt_yield();
        int v;
        REQUIRE(rt_chan_recv(a.to, &v));
        rt_chan_send(a.from, &v);
    }
}

/* A select parked on a send case hands its value over when the receiver
 * comes; the other (receive) case stays untouched. */
RT_TEST(test_select_send_woken_by_receiver)
{
    partner_arg a = {rt_chan_make(sizeof(int), 0), rt_chan_make(sizeof(int), 5000),
                     5000};
    rt_chan *never = rt_chan_make(sizeof(int), 0);
    REQUIRE_GT(rt_go(slow_receiver, &a), 0);
    for (int i = 0; i < a.n; i++) {
        int v = i, r = -7;
        rt_select_case cs[] = {RT_RECV(never, &r), RT_SEND(a.to, &v)};
        REQUIRE_EQ(rt_select(cs, 2, true), 1);
        REQUIRE_EQ(r, -7);
    }
    for (int i = 0; i < a.n; i++) {
        int v;
        REQUIRE(rt_chan_recv(a.from, &v));
        REQUIRE_EQ(v, i);
    }
}

/* The same channel in several cases, in both directions. */
RT_TEST(test_select_duplicate_channels)
{
    rt_chan *c = rt_chan_make(sizeof(int), 1);
    int r1 = 0, r2 = 0, s = 8;
    rt_select_case cs[] = {RT_RECV(c, &r1), RT_SEND(c, &s), RT_RECV(c, &r2)};
    /* Empty with room: only the send can go. */
    REQUIRE_EQ(rt_select(cs, 3, true), 1);
    /* Full: only the receives can go; both get chosen sometimes. */
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++) {
        int k = rt_select(cs, 3, true);
        REQUIRE(k == 0 || k == 2);
        REQUIRE_EQ(k == 0 ? r1 : r2, 8);
        seen[k]++;
        REQUIRE_EQ(rt_select(cs, 3, true), 1); /* refill */
    }
    REQUIRE_GT(seen[0], 0);
    REQUIRE_GT(seen[2], 0);

    /* Unbuffered, parked on the same channel twice (send and receive):
     * a peer takes exactly one of them. */
    rt_chan *u = rt_chan_make(sizeof(int), 0);
    partner_arg a = {u, rt_chan_make(sizeof(int), 1), 1};
    REQUIRE_GT(rt_go(echo_partner, &a), 0);
    int rv = -1, sv = 4;
    rt_select_case us[] = {RT_RECV(u, &rv), RT_SEND(u, &sv), RT_RECV(u, &rv)};
    REQUIRE_EQ(rt_select(us, 3, true), 1);
    REQUIRE_EQ(rv, -1);
    int back;
    REQUIRE(rt_chan_recv(a.from, &back));
    REQUIRE_EQ(back, 40);
}

typedef struct {
    rt_chan **chans;
    int which;
    int value;
} many_arg;

static void send_one(void *p)
{
    many_arg *a = p;
    for (int k = 0; k < 10; k++)
        rt_yield();
    rt_chan_send(a->chans[a->which], &a->value);
}

/* More cases than fit in select's on-stack arrays. */
RT_TEST(test_select_many_cases)
{
    enum { N = 300 };
    static rt_chan *chans[N];
    static rt_select_case cs[N];
    static int vals[N];
    for (int i = 0; i < N; i++) {
        chans[i] = i % 3 == 2 ? NULL : rt_chan_make(sizeof(int), 0);
        vals[i] = -1;
        cs[i] = RT_RECV(chans[i], &vals[i]);
    }
    REQUIRE_EQ(rt_select(cs, N, false), -1);
    for (int round = 0; round < 50; round++) {
        int which = (round * 37) % N;
        if (chans[which] == NULL)
            which--;
        many_arg a = {chans, which, round + 1000};
        REQUIRE_GT(rt_go(send_one, &a), 0);
        REQUIRE_EQ(rt_select(cs, N, true), which);
        REQUIRE(cs[which].ok);
        REQUIRE_EQ(vals[which], round + 1000);
        vals[which] = -1;
    }
}

/* ---------------------------------------------- overlapping selectors -- */

/*
 * W workers on a ring of W unbuffered channels: worker w selects over
 * sending to and receiving from channels w and w+1 (mod W), plus a receive
 * from `quit`.  Neighbours share a channel, so whenever two neighbours are
 * parked, the later one finds the earlier one's sudog: the system cannot
 * get stuck while quit is open.  Every worker reports once it has done its
 * quota of transfers, and keeps serving until quit is closed.  Each value
 * sent is received exactly once: the sums and counts must match.
 */
enum { W = 16, QUOTA = 3000 };

typedef struct {
    rt_chan *ring[W];
    rt_chan *quit, *report;
    _Atomic long long sent_sum, recv_sum;
    _Atomic long sent_n, recv_n;
} ring_state;

typedef struct {
    ring_state *st;
    int w;
} ring_arg;

static void ring_worker(void *p)
{
    ring_arg *a = p;
    ring_state *st = a->st;
    rt_chan *c0 = st->ring[a->w], *c1 = st->ring[(a->w + 1) % W];
    long long seq = (long long)a->w << 32;
    int done = 0;
    bool reported = false;
    for (;;) {
        long long s0 = seq + 1, s1 = seq + 2, r0 = 0, r1 = 0;
        rt_select_case cs[] = {RT_SEND(c0, &s0), RT_RECV(c0, &r0),
                               RT_SEND(c1, &s1), RT_RECV(c1, &r1),
                               RT_RECV(st->quit, NULL)};
        int k = rt_select(cs, NCASES(cs), true);
        switch (k) {
        case 0: case 2:
            atomic_fetch_add(&st->sent_sum, k == 0 ? s0 : s1);
            atomic_fetch_add(&st->sent_n, 1);
            seq += 2;
            break;
        case 1: case 3:
            REQUIRE(cs[k].ok);
            atomic_fetch_add(&st->recv_sum, k == 1 ? r0 : r1);
            atomic_fetch_add(&st->recv_n, 1);
            break;
        case 4:
            REQUIRE(!cs[4].ok);
            rt_chan_send(st->report, &a->w);
            return;
        default:
            ck_abort_msg("select returned %d", k);
        }
        if (++done == QUOTA && !reported) {
            reported = true;
            rt_chan_send(st->report, &a->w);
        }
    }
}

RT_TEST(test_select_overlapping_no_deadlock)
{
    static ring_state st;
    static ring_arg args[W];
    for (int i = 0; i < W; i++)
        st.ring[i] = rt_chan_make(sizeof(long long), 0);
    st.quit = rt_chan_make(0, 0);
    st.report = rt_chan_make(sizeof(int), 2 * W);
    for (int i = 0; i < W; i++) {
        args[i] = (ring_arg){&st, i};
        REQUIRE_GT(rt_go(ring_worker, &args[i]), 0);
    }
    for (int i = 0; i < W; i++) /* everyone reached its quota */
        REQUIRE(rt_chan_recv(st.report, NULL));
    rt_chan_close(st.quit);
    for (int i = 0; i < W; i++) /* everyone saw quit */
        REQUIRE(rt_chan_recv(st.report, NULL));
    REQUIRE_EQ(atomic_load(&st.sent_n), atomic_load(&st.recv_n));
    REQUIRE(atomic_load(&st.sent_sum) == atomic_load(&st.recv_sum));
    REQUIRE_GE(atomic_load(&st.sent_n) + atomic_load(&st.recv_n),
                     (long)W * QUOTA);
}

/* A select with no cases, or only nil cases, blocks forever without
 * stopping the program. */
static void select_forever(void *p)
{
    if (p == NULL) {
        rt_select(NULL, 0, true);
    } else {
        rt_select_case cs[] = {RT_RECV(NULL, NULL), RT_SEND(NULL, NULL)};
        rt_select(cs, 2, true);
    }
    abort();
}

RT_TEST(test_select_blocks_forever)
{
    int before = rt_num_goroutine();
    REQUIRE_GT(rt_go(select_forever, NULL), 0);
    REQUIRE_GT(rt_go(select_forever, (void *)1), 0);
    for (int i = 0; i < 100; i++)
        rt_yield();
    REQUIRE_EQ(rt_num_goroutine(), before + 2);
}

/* --------------------------------------------------------- fatal errors -- */

static void select_sender(void *p)
{
    int v = 1;
    rt_chan *never = rt_chan_make(sizeof(int), 0);
    rt_select_case cs[] = {RT_RECV(never, NULL), RT_SEND((rt_chan *)p, &v)};
    rt_select(cs, 2, true);
}

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    int v = 1;
    if (strcmp(s, "select-send-closed") == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 4);
        rt_chan_close(c);
        rt_select_case cs[] = {RT_SEND(c, &v)};
        rt_select(cs, 1, false);
    } else if (strcmp(s, "deadlock-select-no-cases") == 0) {
        rt_select(NULL, 0, true);
    } else if (strcmp(s, "deadlock-select-nil-cases") == 0) {
        rt_select_case cs[] = {RT_RECV(NULL, NULL), RT_SEND(NULL, &v)};
        rt_select(cs, 2, true);
    } else if (strcmp(s, "deadlock-select-one-case") == 0) {
        rt_chan *a = rt_chan_make(sizeof(int), 0);
        rt_select_case cs[] = {RT_RECV(a, &v)};
        rt_select(cs, 1, true);
    } else if (strcmp(s, "deadlock-select") == 0) {
        rt_chan *a = rt_chan_make(sizeof(int), 0), *b = rt_chan_make(sizeof(int), 1);
        rt_select_case cs[] = {RT_RECV(a, NULL), RT_RECV(b, &v), RT_SEND(a, &v)};
        rt_select(cs, 3, true);
    } else if (strcmp(s, "select-blocked-send-closed") == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 0);
        rt_go(select_sender, c);
        for (int i = 0; i < 100; i++)
            rt_yield();
        rt_chan_close(c);
        for (;;)
            rt_yield();
    }
    return 0;
}


START_TEST(test_select_fatal_send_closed)
{
    expect_fatal("select-send-closed", "send on closed channel");
    expect_fatal("select-blocked-send-closed", "send on closed channel");
}
END_TEST

START_TEST(test_select_fatal_deadlock)
{
    const char *dl = "all goroutines are asleep - deadlock!";
    expect_fatal_with("deadlock-select-no-cases", dl, "goroutine 1 [select (no cases)]:");
    expect_fatal_with("deadlock-select-nil-cases", dl, "goroutine 1 [select]:");
    expect_fatal_with("deadlock-select", dl, "goroutine 1 [select]:");
    /* a select of one case is that case's operation, as in Go */
    expect_fatal_with("deadlock-select-one-case", dl, "goroutine 1 [chan receive]:");
}
END_TEST

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("select");
    TCase *tc = tcase_create("select");
    tcase_add_test(tc, test_select_nonblocking);
    tcase_add_test(tc, test_select_one_case);
    tcase_add_test(tc, test_select_nil_cases_skipped);
    tcase_add_test(tc, test_select_fairness_two);
    tcase_add_test(tc, test_select_fairness_mixed);
    tcase_add_test(tc, test_select_send_recv_mixed_nonblocking);
    tcase_add_test(tc, test_select_send_recv_mixed_blocking);
    tcase_add_test(tc, test_select_woken_by_close);
    tcase_add_test(tc, test_select_send_woken_by_receiver);
    tcase_add_test(tc, test_select_duplicate_channels);
    tcase_add_test(tc, test_select_many_cases);
    tcase_add_test(tc, test_select_overlapping_no_deadlock);
    tcase_add_test(tc, test_select_blocks_forever);
    tcase_add_test(tc, test_select_fatal_send_closed);
    tcase_add_test(tc, test_select_fatal_deadlock);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
