/*
 * tests/api/test_chan.c -- channels through rt.h alone: rendezvous,
 * buffered FIFO order, close and drain, the non-blocking forms, zero-size
 * and large elements, and the fatal errors (in child processes).
 *
 * Each test runs its body as goroutine 1 under rt_main, in the process
 * Check forks for it, and asserts inside (a failed assertion exits the
 * forked process, which Check reports).  Nothing here asserts on time.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"


/* Receives one int, asserting ok. */
static int recv_int(rt_chan *c)
{
    int v = -1;
    REQUIRE(rt_chan_recv(c, &v));
    return v;
}

static void send_int(rt_chan *c, int v)
{
    rt_chan_send(c, &v);
}

/* ---------------------------------------------------------- unbuffered -- */

typedef struct {
    rt_chan *c, *done;
    _Atomic int sent;
    int n;
} rendezvous_arg;

static void rendezvous_sender(void *p)
{
    rendezvous_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        send_int(a->c, i);
        atomic_store(&a->sent, i + 1);
    }
    send_int(a->done, 1);
}

RT_TEST(test_unbuffered_rendezvous)
{
    rendezvous_arg a = {.c = rt_chan_make(sizeof(int), 0),
                        .done = rt_chan_make(sizeof(int), 1),
                        .n = 1000};
    REQUIRE_EQ(rt_chan_cap(a.c), 0);
    REQUIRE_GT(rt_go(rendezvous_sender, &a), 0);
    /* No receiver yet: the first send cannot have completed, however long
     * we let the sender run. */
    for (int i = 0; i < 200; i++)
        rt_yield();
    REQUIRE_EQ(atomic_load(&a.sent), 0);
    for (int i = 0; i < a.n; i++) {
        REQUIRE_EQ(recv_int(a.c), i);
        /* Send i+1 cannot complete before we receive it. */
        REQUIRE_LE(atomic_load(&a.sent), i + 1);
    }
    REQUIRE_EQ(recv_int(a.done), 1);
    REQUIRE_EQ(atomic_load(&a.sent), a.n);
    REQUIRE_EQ(rt_chan_len(a.c), 0);
}

/* Ping-pong: two goroutines bounce a counter through two unbuffered
 * channels (direct hand-off both ways). */
typedef struct {
    rt_chan *ping, *pong;
    int rounds;
} pingpong_arg;

static void ponger(void *p)
{
    /* A copy, as `go f(args)` evaluates them: goroutine 1 may return from
     * the test (popping *p) as soon as it has the last pong, before this
     * loop tests its bound once more. */
    pingpong_arg a = *(pingpong_arg *)p;
    for (int i = 0; i < a.rounds; i++) {
        int v = recv_int(a.ping);
        send_int(a.pong, v + 1);
    }
}

RT_TEST(test_unbuffered_pingpong)
{
    pingpong_arg a = {rt_chan_make(sizeof(int), 0), rt_chan_make(sizeof(int), 0),
                      20000};
    REQUIRE_GT(rt_go(ponger, &a), 0);
    int v = 0;
    for (int i = 0; i < a.rounds; i++) {
        send_int(a.ping, v);
        v = recv_int(a.pong);
        REQUIRE_EQ(v, 2 * i + 1);
        v++;
    }
}

/* ------------------------------------------------------------ buffered -- */

RT_TEST(test_buffered_fifo_single)
{
    rt_chan *c = rt_chan_make(sizeof(int), 8);
    REQUIRE_EQ(rt_chan_cap(c), 8);
    for (int i = 0; i < 8; i++) {
        send_int(c, 100 + i); /* room: must not block */
        REQUIRE_EQ(rt_chan_len(c), (size_t)i + 1);
    }
    int x = 7;
    REQUIRE(!rt_chan_try_send(c, &x));
    for (int round = 0; round < 3; round++) {
        /* Wrap the ring around a few times. */
        for (int i = 0; i < 5; i++) {
            REQUIRE_EQ(recv_int(c), 100 + round * 5 + i);
            send_int(c, 100 + 8 + round * 5 + i);
        }
    }
    for (int i = 0; i < 8; i++)
        REQUIRE_EQ(recv_int(c), 115 + i);
    REQUIRE_EQ(rt_chan_len(c), 0);
}

/* A capacity that is not a power of two, through many laps of the ring:
 * FIFO, len and the full/empty answers at every fill level, and close
 * with values still in the ring (len keeps counting them; they drain
 * before ok == false). */
RT_TEST(test_buffered_laps_len)
{
    rt_chan *c = rt_chan_make(sizeof(int), 3);
    int next_in = 0, next_out = 0;
    for (int lap = 0; lap < 200; lap++) {
        int fill = lap % 4; /* 0..3 values, then drain */
        for (int i = 0; i < fill; i++) {
            REQUIRE(rt_chan_try_send(c, &next_in));
            next_in++;
            REQUIRE_EQ(rt_chan_len(c), (size_t)i + 1);
        }
        int x = -1;
        if (fill == 3)
            REQUIRE(!rt_chan_try_send(c, &x));
        for (int i = fill; i > 0; i--) {
            REQUIRE_EQ(rt_chan_try_recv(c, &x), 1);
            REQUIRE_EQ(x, next_out);
            next_out++;
            REQUIRE_EQ(rt_chan_len(c), (size_t)i - 1);
        }
        REQUIRE_EQ(rt_chan_try_recv(c, &x), -EAGAIN);
    }
    send_int(c, 1);
    send_int(c, 2);
    rt_chan_close(c);
    REQUIRE_EQ(rt_chan_len(c), 2);
    REQUIRE_EQ(rt_chan_cap(c), 3);
    REQUIRE_EQ(recv_int(c), 1);
    REQUIRE_EQ(rt_chan_len(c), 1);
    int x = 9;
    REQUIRE_EQ(rt_chan_try_recv(c, &x), 1);
    REQUIRE_EQ(x, 2);
    REQUIRE_EQ(rt_chan_len(c), 0);
    REQUIRE_EQ(rt_chan_try_recv(c, &x), 0);
    REQUIRE_EQ(x, 0);
    REQUIRE(!rt_chan_recv(c, &x));
}

typedef struct {
    rt_chan *c;
    int from, n;
} producer_arg;

static void producer(void *p)
{
    /* A copy (see ponger): the receiver may return, popping *p, as soon as
     * it has the last value. */
    producer_arg a = *(producer_arg *)p;
    for (int i = 0; i < a.n; i++)
        send_int(a.c, a.from + i);
}

RT_TEST(test_buffered_fifo_goroutines)
{
    /* A small ring, so that the producer often waits on a full channel and
     * the receiver takes the head while moving the parked sender's value
     * to the tail. */
    producer_arg a = {rt_chan_make(sizeof(int), 3), 0, 50000};
    REQUIRE_GT(rt_go(producer, &a), 0);
    for (int i = 0; i < a.n; i++) {
        if (i % 100 == 0)
            for (int k = 0; k < 3; k++)
                rt_yield(); /* let the producer fill up and park */
        REQUIRE_EQ(recv_int(a.c), i);
    }
}

/* Several senders parked on a full ring: each one's values stay in its own
 * order, and buffered values come out before parked ones. */
RT_TEST(test_buffered_parked_senders)
{
    enum { NPROD = 4, PER = 5000 };
    rt_chan *c = rt_chan_make(sizeof(int), 2);
    producer_arg a[NPROD];
    for (int p = 0; p < NPROD; p++) {
        a[p] = (producer_arg){c, p * PER, PER};
        REQUIRE_GT(rt_go(producer, &a[p]), 0);
    }
    int next[NPROD] = {0};
    for (int i = 0; i < NPROD * PER; i++) {
        int v = recv_int(c);
        int p = v / PER;
        REQUIRE_GE(p, 0);
        REQUIRE_LT(p, NPROD);
        REQUIRE_EQ(v % PER, next[p]);
        next[p]++;
    }
    for (int p = 0; p < NPROD; p++)
        REQUIRE_EQ(next[p], PER);
    REQUIRE_EQ(rt_chan_try_recv(c, NULL), -EAGAIN);
}

/* Goroutines parked on a buffered channel are served in the order they
 * parked, as Go serves them: a receive from a full ring moves the first
 * parked sender's value in (so len stays at cap and the senders' values
 * follow in parking order), and a send that finds receivers parked on an
 * empty ring hands its value to the first one (the ring stays empty, and
 * a try_send succeeds as Go's does).  Before, woken waiters retried in
 * whatever order they ran: senders 0 1 3 4 5 2, receivers 2 3 4 0 1. */
static rt_chan *wfifo_c;
static int wfifo_got[8];
static _Atomic int wfifo_done;

static void wfifo_sender(void *p)
{
    send_int(wfifo_c, (int)(intptr_t)p);
}

static void wfifo_receiver(void *p)
{
    wfifo_got[(intptr_t)p] = recv_int(wfifo_c);
    atomic_fetch_add(&wfifo_done, 1);
}

/* With one P, the goroutine just started runs (and parks) before we go on. */
static void wfifo_settle(void)
{
    for (int k = 0; k < 4; k++)
        rt_yield();
}

RT_TEST(test_buffered_waiters_fifo)
{
    rt_maxprocs(1);
    wfifo_c = rt_chan_make(sizeof(int), 2);
    send_int(wfifo_c, 0);
    send_int(wfifo_c, 1);
    for (int i = 2; i < 8; i++) {
        REQUIRE_GT(rt_go(wfifo_sender, (void *)(intptr_t)i), 0);
        wfifo_settle();
    }
    for (int i = 0; i < 8; i++) {
        REQUIRE_EQ(recv_int(wfifo_c), i);
        if (i < 6)
            REQUIRE_EQ(rt_chan_len(wfifo_c), 2);
    }

    wfifo_c = rt_chan_make(sizeof(int), 4);
    for (int i = 0; i < 5; i++) {
        REQUIRE_GT(rt_go(wfifo_receiver, (void *)(intptr_t)i), 0);
        wfifo_settle();
    }
    for (int i = 0; i < 5; i++) {
        send_int(wfifo_c, 10 + i);
        REQUIRE_EQ(rt_chan_len(wfifo_c), 0);
    }
    while (atomic_load(&wfifo_done) < 5)
        rt_yield();
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(wfifo_got[i], 10 + i);

    wfifo_c = rt_chan_make(sizeof(int), 1);
    REQUIRE_GT(rt_go(wfifo_receiver, (void *)(intptr_t)7), 0);
    wfifo_settle();
    int v = 21;
    REQUIRE(rt_chan_try_send(wfifo_c, &v));
    REQUIRE_EQ(rt_chan_len(wfifo_c), 0);
    v = 22;
    REQUIRE(rt_chan_try_send(wfifo_c, &v)); /* room: the first went to the receiver */
    while (atomic_load(&wfifo_done) < 6)
        rt_yield();
    REQUIRE_EQ(wfifo_got[7], 21);
    REQUIRE_EQ(recv_int(wfifo_c), 22);
}

/* --------------------------------------------------------------- close -- */

RT_TEST(test_close_then_drain)
{
    rt_chan *c = rt_chan_make(sizeof(int), 4);
    send_int(c, 1);
    send_int(c, 2);
    send_int(c, 3);
    rt_chan_close(c);
    REQUIRE_EQ(rt_chan_len(c), 3);
    for (int i = 1; i <= 3; i++) {
        int v = -1;
        REQUIRE(rt_chan_recv(c, &v));
        REQUIRE_EQ(v, i);
    }
    REQUIRE_EQ(rt_chan_len(c), 0);
    for (int i = 0; i < 3; i++) {
        int v = 12345;
        REQUIRE(!rt_chan_recv(c, &v));
        REQUIRE_EQ(v, 0); /* the zero value */
        v = 12345;
        REQUIRE_EQ(rt_chan_try_recv(c, &v), 0);
        REQUIRE_EQ(v, 0);
    }
    REQUIRE(!rt_chan_recv(c, NULL));
}

typedef struct {
    rt_chan *c, *results;
} closewait_arg;

typedef struct {
    int v;
    bool ok;
} result;

static void close_waiter(void *p)
{
    closewait_arg *a = p;
    result r = {.v = 999};
    r.ok = rt_chan_recv(a->c, &r.v);
    rt_chan_send(a->results, &r);
}

/* Receivers parked on a channel all wake with ok false and the zero value
 * when it is closed. */
RT_TEST(test_close_wakes_receivers)
{
    enum { N = 50 };
    closewait_arg a = {rt_chan_make(sizeof(int), 0),
                       rt_chan_make(sizeof(result), N)};
    for (int i = 0; i < N; i++)
        REQUIRE_GT(rt_go(close_waiter, &a), 0);
    for (int i = 0; i < 100; i++)
        rt_yield();
    rt_chan_close(a.c);
    for (int i = 0; i < N; i++) {
        result r;
        REQUIRE(rt_chan_recv(a.results, &r));
        REQUIRE(!r.ok);
        REQUIRE_EQ(r.v, 0);
    }
}

/* Values sent before close are received with ok true, then ok false. */
RT_TEST(test_ok_false_after_close)
{
    rt_chan *c = rt_chan_make(sizeof(int), 0);
    producer_arg a = {c, 10, 5};
    REQUIRE_GT(rt_go(producer, &a), 0);
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(recv_int(c), 10 + i);
    rt_chan_close(c);
    int v = 7;
    REQUIRE(!rt_chan_recv(c, &v));
    REQUIRE_EQ(v, 0);
    REQUIRE_EQ(rt_chan_len(c), 0);
    REQUIRE_EQ(rt_chan_cap(c), 0);
}

/* --------------------------------------------------------- try_* forms -- */

static void one_recv(void *p)
{
    closewait_arg *a = p;
    result r = {0};
    r.ok = rt_chan_recv(a->c, &r.v);
    rt_chan_send(a->results, &r);
}

static void one_send(void *p)
{
    closewait_arg *a = p;
    int v = 77;
    rt_chan_send(a->c, &v);
    result r = {.v = 1, .ok = true};
    rt_chan_send(a->results, &r);
}

RT_TEST(test_try_send_recv)
{
    int v = 5;

    /* nil channel: never ready. */
    REQUIRE(!rt_chan_try_send(NULL, &v));
    REQUIRE_EQ(rt_chan_try_recv(NULL, &v), -EAGAIN);
    REQUIRE_EQ(rt_chan_len(NULL), 0);
    REQUIRE_EQ(rt_chan_cap(NULL), 0);

    /* Unbuffered without a peer. */
    rt_chan *u = rt_chan_make(sizeof(int), 0);
    REQUIRE(!rt_chan_try_send(u, &v));
    REQUIRE_EQ(rt_chan_try_recv(u, &v), -EAGAIN);
    REQUIRE_EQ(v, 5);

    /* Unbuffered with a parked receiver: try_send succeeds once it has
     * parked (retry until then). */
    closewait_arg a = {u, rt_chan_make(sizeof(result), 1)};
    REQUIRE_GT(rt_go(one_recv, &a), 0);
    v = 31;
    int tries = 0;
    while (!rt_chan_try_send(u, &v)) {
        rt_yield();
        REQUIRE_LT(++tries, 10000000);
    }
    result r;
    REQUIRE(rt_chan_recv(a.results, &r));
    REQUIRE(r.ok);
    REQUIRE_EQ(r.v, 31);

    /* Unbuffered with a parked sender: try_recv gets its value. */
    REQUIRE_GT(rt_go(one_send, &a), 0);
    v = 0;
    tries = 0;
    int got;
    while ((got = rt_chan_try_recv(u, &v)) == -EAGAIN) {
        rt_yield();
        REQUIRE_LT(++tries, 10000000);
    }
    REQUIRE_EQ(got, 1);
    REQUIRE_EQ(v, 77);
    REQUIRE(rt_chan_recv(a.results, &r));

    /* Buffered: room, full, values, empty. */
    rt_chan *b = rt_chan_make(sizeof(int), 2);
    v = 1;
    REQUIRE(rt_chan_try_send(b, &v));
    v = 2;
    REQUIRE(rt_chan_try_send(b, &v));
    v = 3;
    REQUIRE(!rt_chan_try_send(b, &v));
    REQUIRE_EQ(rt_chan_len(b), 2);
    REQUIRE_EQ(rt_chan_try_recv(b, &v), 1);
    REQUIRE_EQ(v, 1);
    REQUIRE_EQ(rt_chan_try_recv(b, NULL), 1); /* discards 2 */
    REQUIRE_EQ(rt_chan_try_recv(b, &v), -EAGAIN);
    REQUIRE_EQ(v, 1);

    /* Closed: values first (1), then closed and drained (0, zero value). */
    v = 9;
    REQUIRE(rt_chan_try_send(b, &v));
    rt_chan_close(b);
    v = 0;
    REQUIRE_EQ(rt_chan_try_recv(b, &v), 1);
    REQUIRE_EQ(v, 9);
    v = 4;
    REQUIRE_EQ(rt_chan_try_recv(b, &v), 0);
    REQUIRE_EQ(v, 0);
    rt_chan_close(u);
    v = 4;
    REQUIRE_EQ(rt_chan_try_recv(u, &v), 0);
    REQUIRE_EQ(v, 0);
}

/* --------------------------------------------------------- element size -- */

static void zero_sender(void *p)
{
    rt_chan *c = p;
    for (int i = 0; i < 1000; i++)
        rt_chan_send(c, NULL);
    rt_chan_close(c);
}

RT_TEST(test_zero_size_elements)
{
    /* Buffered chan struct{}: only the count matters. */
    rt_chan *b = rt_chan_make(0, 5);
    REQUIRE_EQ(rt_chan_cap(b), 5);
    for (int i = 0; i < 5; i++)
        REQUIRE(rt_chan_try_send(b, NULL));
    REQUIRE(!rt_chan_try_send(b, NULL));
    REQUIRE_EQ(rt_chan_len(b), 5);
    char dummy = 'x';
    REQUIRE_EQ(rt_chan_try_recv(b, &dummy), 1);
    REQUIRE_EQ(dummy, 'x'); /* nothing is written for size 0 */
    REQUIRE_EQ(rt_chan_len(b), 4);

    /* Unbuffered: a signal channel closed at the end. */
    rt_chan *u = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(zero_sender, u), 0);
    int n = 0;
    while (rt_chan_recv(u, NULL))
        n++;
    REQUIRE_EQ(n, 1000);
}

typedef struct {
    unsigned char bytes[1000];
} big;

static void big_sender(void *p)
{
    rt_chan *c = p;
    for (int i = 0; i < 300; i++) {
        big b;
        memset(b.bytes, i & 0xff, sizeof b.bytes);
        rt_chan_send(c, &b);
    }
}

RT_TEST(test_large_elements)
{
    for (size_t cap = 0; cap <= 7; cap += 7) {
        rt_chan *c = rt_chan_make(sizeof(big), cap);
        REQUIRE_GT(rt_go(big_sender, c), 0);
        for (int i = 0; i < 300; i++) {
            big b;
            memset(&b, 0xee, sizeof b);
            REQUIRE(rt_chan_recv(c, &b));
            for (size_t k = 0; k < sizeof b.bytes; k++)
                REQUIRE_EQ(b.bytes[k], i & 0xff);
        }
    }
}

RT_TEST(test_send_null_elem_sends_zero)
{
    rt_chan *c = rt_chan_make(sizeof(long), 1);
    rt_chan_send(c, NULL);
    long v = 99;
    REQUIRE(rt_chan_recv(c, &v));
    REQUIRE_EQ(v, 0);
}

/* A goroutine blocked forever on a nil channel does not stop the program:
 * rt_main returns once goroutine 1 does. */
static void nil_sender(void *p)
{
    (void)p;
    int v = 1;
    rt_chan_send(NULL, &v);
    abort(); /* never reached */
}

static void nil_receiver(void *p)
{
    (void)p;
    rt_chan_recv(NULL, NULL);
    abort();
}

RT_TEST(test_nil_channel_blocks)
{
    int before = rt_num_goroutine();
    REQUIRE_GT(rt_go(nil_sender, NULL), 0);
    REQUIRE_GT(rt_go(nil_receiver, NULL), 0);
    for (int i = 0; i < 100; i++)
        rt_yield();
    REQUIRE_EQ(rt_num_goroutine(), before + 2);
}

/* --------------------------------------------------------- fatal errors -- */

static void blocked_sender(void *p)
{
    int v = 1;
    rt_chan_send(p, &v);
}

static __attribute__((noinline)) void blocked_receiver(void *p)
{
    int v;
    rt_chan_recv(p, &v);
}

/* To the process, as kill(1) sends it: any thread that does not block it
 * takes it (an M or the main thread).  After 20 ms, so that goroutine 1
 * is asleep, not running, when the dump reads it. */
static void quitter(void *arg)
{
    (void)arg;
    rt_sleep(20 * RT_MILLISECOND);
    kill(getpid(), SIGQUIT);
    for (;;)
        rt_sleep(RT_MILLISECOND);
}

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    int v = 1;
    if (strcmp(s, "send-closed") == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 1);
        rt_chan_close(c);
        rt_chan_send(c, &v);
    } else if (strcmp(s, "try-send-closed") == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 0);
        rt_chan_close(c);
        rt_chan_try_send(c, &v);
    } else if (strcmp(s, "close-closed") == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 0);
        rt_chan_close(c);
        rt_chan_close(c);
    } else if (strcmp(s, "close-nil") == 0) {
        rt_chan_close(NULL);
    } else if (strcmp(s, "make-huge") == 0) {
        /* 2^60 bytes: a size no heap can hold (Go: size out of range) */
        (void)rt_chan_make((size_t)1 << 20, (size_t)1 << 40);
    } else if (strcmp(s, "deadlock-nil-recv") == 0) {
        rt_chan_recv(NULL, NULL); /* parks forever: nothing else can run */
    } else if (strcmp(s, "deadlock-nil-send") == 0) {
        rt_chan_send(NULL, &v);
    } else if (strcmp(s, "deadlock-send") == 0) {
        rt_chan_send(rt_chan_make(sizeof(int), 0), &v);
    } else if (strcmp(s, "deadlock-recv") == 0) {
        rt_chan_recv(rt_chan_make(sizeof(int), 3), &v);
    } else if (strcmp(s, "blocked-send-closed") == 0) {
        /* A sender parked on the channel when it is closed. */
        rt_chan *c = rt_chan_make(sizeof(int), 0);
        rt_go(blocked_sender, c);
        for (int i = 0; i < 100; i++)
            rt_yield();
        rt_chan_close(c);
        for (;;)
            rt_yield(); /* the sender's fatal error ends the process */
    } else if (strcmp(s, "sigquit") == 0) {
        /* kill -QUIT: every goroutine's stack, as Go prints them. */
        rt_chan *c = rt_chan_make(sizeof(int), 0);
        rt_go(blocked_receiver, c);
        rt_go(quitter, NULL); /* sends it once this goroutine sleeps */
        /* one long sleep: in a loop of short ones this goroutine was now
         * and then runnable when the dump was taken */
        rt_sleep(10 * RT_SECOND);
        return 3;
    } else if (strcmp(s, "blocked-send-closed-buffered") == 0) {
        /* The same on a full buffered channel: the woken sender retries
         * its ring operation and finds the channel closed. */
        rt_chan *c = rt_chan_make(sizeof(int), 2);
        rt_chan_send(c, &v);
        rt_chan_send(c, &v);
        rt_go(blocked_sender, c);
        for (int i = 0; i < 100; i++)
            rt_yield();
        if (rt_chan_len(c) != 2)
            return 3; /* the sender got in: not what this scenario tests */
        rt_chan_close(c);
        for (;;)
            rt_yield();
    }
    return 0;
}


START_TEST(test_fatal_send_closed)
{
    expect_fatal("send-closed", "send on closed channel");
    expect_fatal("try-send-closed", "send on closed channel");
    expect_fatal("blocked-send-closed", "send on closed channel");
    expect_fatal("blocked-send-closed-buffered", "send on closed channel");
}
END_TEST

START_TEST(test_fatal_close_closed)
{
    expect_fatal("close-closed", "close of closed channel");
}
END_TEST

START_TEST(test_fatal_close_nil)
{
    expect_fatal("close-nil", "close of nil channel");
}
END_TEST

START_TEST(test_fatal_make_size_out_of_range)
{
    expect_fatal("make-huge", "makechan: size out of range");
}
END_TEST

/* SIGQUIT ends the program with every goroutine's stack, as in Go: the
 * header, then each goroutine with its wait reason; exit status 2. */
START_TEST(test_sigquit_dumps_goroutines)
{
    static char err[1 << 16];
    int st = run_scenario("sigquit", (const char *const[]){NULL}, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "wait status %#x; stderr:\n%.2000s",
                  st, err);
    ck_assert_msg(strncmp(err, "SIGQUIT: quit\nPC=0x", 19) == 0, "stderr:\n%.500s", err);
    ck_assert_msg(strstr(err, " m=") != NULL && strstr(err, " sigcode=") != NULL,
                  "stderr:\n%.500s", err);
    /* taken by an M, as in Go: the main thread, which only waits for the
     * program's end and is no M, blocks it (it showed m=-1) */
    ck_assert_msg(strstr(err, " m=")[3] >= '0' && strstr(err, " m=")[3] <= '9',
                  "stderr:\n%.500s", err);
    ck_assert_msg(strstr(err, "\n\ngoroutine 1 [sleep]:\n") != NULL, "stderr:\n%.2000s", err);
    ck_assert_msg(strstr(err, "[chan receive]:\n") != NULL, "stderr:\n%.2000s", err);
    ck_assert_msg(strstr(err, "blocked_receiver") != NULL, "stderr:\n%.2000s", err);
}
END_TEST

/* A goroutine parked on a channel is asleep: with nothing else left to
 * run, the runtime reports the deadlock as Go does. */
START_TEST(test_fatal_deadlock)
{
    /* The traceback header shows each park's wait reason. */
    static const char *const scenarios[][2] = {
        {"deadlock-nil-recv", "goroutine 1 [chan receive (nil chan)]:"},
        {"deadlock-nil-send", "goroutine 1 [chan send (nil chan)]:"},
        {"deadlock-send", "goroutine 1 [chan send]:"},
        {"deadlock-recv", "goroutine 1 [chan receive]:"},
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        expect_fatal_with(scenarios[i][0], "all goroutines are asleep - deadlock!",
                          scenarios[i][1]);
}
END_TEST

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("chan");
    TCase *tc = tcase_create("chan");
    tcase_add_test(tc, test_unbuffered_rendezvous);
    tcase_add_test(tc, test_unbuffered_pingpong);
    tcase_add_test(tc, test_buffered_fifo_single);
    tcase_add_test(tc, test_buffered_laps_len);
    tcase_add_test(tc, test_buffered_fifo_goroutines);
    tcase_add_test(tc, test_buffered_parked_senders);
    tcase_add_test(tc, test_buffered_waiters_fifo);
    tcase_add_test(tc, test_close_then_drain);
    tcase_add_test(tc, test_close_wakes_receivers);
    tcase_add_test(tc, test_ok_false_after_close);
    tcase_add_test(tc, test_try_send_recv);
    tcase_add_test(tc, test_zero_size_elements);
    tcase_add_test(tc, test_large_elements);
    tcase_add_test(tc, test_send_null_elem_sends_zero);
    tcase_add_test(tc, test_nil_channel_blocks);
    tcase_add_test(tc, test_fatal_send_closed);
    tcase_add_test(tc, test_fatal_close_closed);
    tcase_add_test(tc, test_fatal_close_nil);
    tcase_add_test(tc, test_fatal_make_size_out_of_range);
    tcase_add_test(tc, test_fatal_deadlock);
    tcase_add_test(tc, test_sigquit_dumps_goroutines);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
