/*
 * tests/stress/stress_ring.c -- the lock-free ring of buffered channels
 * (sched/chan.c) against racing producers, consumers and a closer.  Run by
 * CTest at MAXPROCS 1, 2 and 4 (and under TSan and ASan in CI).
 *
 * What the ring's protocol must get right, and how each round checks it:
 *   - no value lost or doubled: every value 0..N-1 is marked once in a
 *     bitmap; count and sum are compared at the end;
 *   - FIFO: values a producer sends arrive in the order it sent them, so
 *     each consumer sees every producer's values in increasing order;
 *   - close races with the last sends' completions, with receivers that
 *     are spinning, parked, retrying after a wake-up or polling with
 *     try_recv and select: the closer closes the moment the last producer
 *     returns from its last send, and every value sent before must still
 *     arrive, every consumer must then see ok == false, and the drained
 *     channel must read len 0;
 *   - waking: consumers that block on an empty ring and producers that
 *     block on a full one must all be woken (a lost wake-up hangs the
 *     round, and CTest's timeout fails it);
 *   - len never exceeds cap (a monitor samples it throughout).
 * Capacities 1, 2, 3, 7 and 128 take the ring's positions through many
 * laps, with and without a power-of-two capacity.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

enum { NPROD = 6, NCONS = 6 };

/* TSan makes every fiber switch and atomic expensive (the full size takes
 * minutes at MAXPROCS 4 there): smaller rounds keep its CI run short; the
 * races are the same. */
#if defined(__SANITIZE_THREAD__)
#define SCALE 4
#else
#define SCALE 1
#endif

typedef struct {
    rt_chan *c;     /* the buffered channel under test */
    rt_chan *never; /* unbuffered, never ready: a select's other case */
    int64_t per_producer;
    rt_waitgroup producers, consumers, monitor;
    _Atomic uint64_t *seen; /* bitmap of received values */
    _Atomic int64_t count;
    _Atomic uint64_t sum;
    _Atomic int monitor_stop;
} round_t;

typedef struct {
    round_t *r;
    int id;
} worker;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Value v of producer p is p * per + i: producer and sequence number are
 * recoverable from the value. */
static void producer(void *arg)
{
    worker *w = arg;
    round_t *r = w->r;
    uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
    int64_t base = w->id * r->per_producer;
    for (int64_t i = 0; i < r->per_producer; i++) {
        int64_t v = base + i;
        switch (rnd(&rs) % 8) {
        case 0: /* a non-blocking try, then block if it failed */
            if (!rt_chan_try_send(r->c, &v))
                rt_chan_send(r->c, &v);
            break;
        case 1: { /* select: the ring or a channel that is never ready */
            rt_select_case cs[] = {RT_SEND(r->c, &v), RT_RECV(r->never, NULL)};
            REQUIRE_EQ(rt_select(cs, 2, true), 0);
            break;
        }
        default:
            rt_chan_send(r->c, &v);
        }
        if (rnd(&rs) % 128 == 0)
            rt_yield();
    }
    rt_waitgroup_done(&r->producers);
}

/* One received value: marked once, and after every earlier value of its
 * producer that this consumer saw. */
static void take(round_t *r, int64_t *last, int64_t v, int64_t *n,
                 uint64_t *sum)
{
    REQUIRE_GE(v, 0);
    REQUIRE_LT(v, NPROD * r->per_producer);
    int64_t p = v / r->per_producer;
    REQUIRE_MSG(v > last[p], "producer %lld's value %lld after %lld (not FIFO)",
                (long long)p, (long long)v, (long long)last[p]);
    last[p] = v;
    uint64_t bit = 1ull << (v % 64);
    uint64_t old = atomic_fetch_or(&r->seen[v / 64], bit);
    REQUIRE_MSG((old & bit) == 0, "value %lld received twice", (long long)v);
    (*n)++;
    *sum += (uint64_t)v;
}

static void consumer(void *arg)
{
    worker *w = arg;
    round_t *r = w->r;
    uint64_t rs = 0x2545f4914f6cdd1dull * (uint64_t)(w->id + 1);
    int64_t last[NPROD];
    for (int p = 0; p < NPROD; p++)
        last[p] = -1;
    int64_t n = 0;
    uint64_t sum = 0;
    for (;;) {
        int64_t v = -1;
        bool ok;
        switch (rnd(&rs) % 8) {
        case 0: { /* poll: try_recv, yielding between tries */
            int t;
            while ((t = rt_chan_try_recv(r->c, &v)) == -EAGAIN)
                rt_yield();
            REQUIRE(t == 0 || t == 1);
            ok = t == 1;
            break;
        }
        case 1: { /* select, blocking */
            rt_select_case cs[] = {RT_RECV(r->never, NULL), RT_RECV(r->c, &v)};
            REQUIRE_EQ(rt_select(cs, 2, true), 1);
            ok = cs[1].ok;
            break;
        }
        case 2: { /* select with a default, then block */
            rt_select_case cs[] = {RT_RECV(r->c, &v)};
            int k = rt_select(cs, 1, false);
            if (k < 0)
                k = rt_select(cs, 1, true);
            REQUIRE_EQ(k, 0);
            ok = cs[0].ok;
            break;
        }
        default:
            ok = rt_chan_recv(r->c, &v);
        }
        if (!ok) {
            REQUIRE_EQ(v, 0); /* the zero value */
            break;
        }
        take(r, last, v, &n, &sum);
    }
    /* Closed and drained for good. */
    REQUIRE_EQ(rt_chan_try_recv(r->c, NULL), 0);
    REQUIRE(!rt_chan_recv(r->c, NULL));
    atomic_fetch_add(&r->count, n);
    atomic_fetch_add(&r->sum, sum);
    rt_waitgroup_done(&r->consumers);
}

/* Closes the channel the moment the last producer is done. */
static void closer(void *arg)
{
    round_t *r = arg;
    rt_waitgroup_wait(&r->producers);
    rt_chan_close(r->c);
}

static void monitor(void *arg)
{
    round_t *r = arg;
    while (!atomic_load(&r->monitor_stop)) {
        size_t len = rt_chan_len(r->c);
        REQUIRE_LE(len, rt_chan_cap(r->c));
        rt_yield();
    }
    rt_waitgroup_done(&r->monitor);
}

static void run_round(size_t cap, int64_t per)
{
    static round_t r;
    static worker prods[NPROD], cons[NCONS];
    const int64_t n = NPROD * per;
    r = (round_t){.c = rt_chan_make(sizeof(int64_t), cap),
                  .never = rt_chan_make(0, 0),
                  .per_producer = per};
    REQUIRE_EQ(rt_chan_cap(r.c), cap);
    size_t words = (size_t)(n + 63) / 64;
    r.seen = calloc(words, sizeof *r.seen);
    REQUIRE(NULL != r.seen);

    rt_waitgroup_add(&r.producers, NPROD);
    rt_waitgroup_add(&r.consumers, NCONS);
    rt_waitgroup_add(&r.monitor, 1);
    REQUIRE_GT(rt_go(monitor, &r), 0);
    for (int i = 0; i < NCONS; i++) {
        cons[i] = (worker){&r, i};
        REQUIRE_GT(rt_go(consumer, &cons[i]), 0);
    }
    REQUIRE_GT(rt_go(closer, &r), 0);
    for (int i = 0; i < NPROD; i++) {
        prods[i] = (worker){&r, i};
        REQUIRE_GT(rt_go(producer, &prods[i]), 0);
    }
    /* The consumers end only once the closer has closed and they have
     * drained the ring. */
    rt_waitgroup_wait(&r.consumers);
    atomic_store(&r.monitor_stop, 1);
    rt_waitgroup_wait(&r.monitor);

    REQUIRE_EQ(atomic_load(&r.count), n);
    REQUIRE(atomic_load(&r.sum) == (uint64_t)n * (uint64_t)(n - 1) / 2);
    for (size_t i = 0; i < words; i++) {
        uint64_t want = ~0ull;
        if (i == words - 1 && n % 64 != 0)
            want = (1ull << (n % 64)) - 1;
        REQUIRE_MSG(atomic_load(&r.seen[i]) == want,
                    "values %zu..%zu: bitmap %#llx", i * 64, i * 64 + 63,
                    (unsigned long long)atomic_load(&r.seen[i]));
    }
    REQUIRE_EQ(rt_chan_len(r.c), 0);
    free(r.seen);
}

RT_TEST(stress_ring_close_races)
{
    static const size_t caps[] = {1, 2, 3, 7, 128};
    for (int rep = 0; rep < 8; rep++)
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
            run_round(caps[i], 30000 / SCALE);
}

/*
 * Close against receivers parked on an empty ring, plain and in selects:
 * close must wake every one of them with ok == false.  The parked check is
 * by goroutine count: each waiter counts itself out once woken.
 */
typedef struct {
    rt_chan *c;
    _Atomic int woken;
    rt_waitgroup wg;
} closewake_t;

static void parked_recv(void *arg)
{
    closewake_t *cw = arg;
    int64_t v = 42;
    REQUIRE(!rt_chan_recv(cw->c, &v));
    REQUIRE_EQ(v, 0);
    atomic_fetch_add(&cw->woken, 1);
    rt_waitgroup_done(&cw->wg);
}

static void parked_select(void *arg)
{
    closewake_t *cw = arg;
    int64_t v = 42;
    rt_chan *never = rt_chan_make(0, 0);
    rt_select_case cs[] = {RT_RECV(never, NULL), RT_RECV(cw->c, &v)};
    REQUIRE_EQ(rt_select(cs, 2, true), 1);
    REQUIRE(!cs[1].ok);
    REQUIRE_EQ(v, 0);
    atomic_fetch_add(&cw->woken, 1);
    rt_waitgroup_done(&cw->wg);
}

RT_TEST(stress_ring_close_wakes_all)
{
    enum { WAITERS = 200 };
    for (int rep = 0; rep < 20; rep++) {
        static closewake_t cw;
        cw = (closewake_t){.c = rt_chan_make(sizeof(int64_t), 5)};
        rt_waitgroup_add(&cw.wg, WAITERS);
        int before = rt_num_goroutine();
        for (int i = 0; i < WAITERS; i++)
            REQUIRE_GT(rt_go(i % 2 ? parked_select : parked_recv, &cw), 0);
        /* Close while some are still on their way into the park. */
        for (int i = 0; i < rep; i++)
            rt_yield();
        rt_chan_close(cw.c);
        rt_waitgroup_wait(&cw.wg);
        REQUIRE_EQ(atomic_load(&cw.woken), WAITERS);
        WAIT_UNTIL(rt_num_goroutine() == before);
    }
}

/*
 * A select with a send and a receive case on the same full-or-empty ring,
 * on both sides: each select parks with two sudogs on one channel's two
 * queues, and a ring wake-up must find it through either.
 */
typedef struct {
    rt_chan *c;
    int64_t rounds;
    _Atomic int64_t sent, received;
    rt_waitgroup wg;
} both_t;

static void both_ways(void *arg)
{
    both_t *b = arg;
    int64_t out = 1, in = 0;
    for (int64_t i = 0; i < b->rounds; i++) {
        rt_select_case cs[] = {RT_SEND(b->c, &out), RT_RECV(b->c, &in)};
        int k = rt_select(cs, 2, true);
        REQUIRE(k == 0 || k == 1);
        if (k == 0) {
            atomic_fetch_add(&b->sent, 1);
        } else {
            REQUIRE(cs[1].ok);
            REQUIRE_EQ(in, 1);
            atomic_fetch_add(&b->received, 1);
        }
    }
    rt_waitgroup_done(&b->wg);
}

RT_TEST(stress_ring_select_both_ways)
{
    static both_t b;
    b = (both_t){.c = rt_chan_make(sizeof(int64_t), 2), .rounds = 100000 / SCALE};
    rt_waitgroup_add(&b.wg, 4);
    for (int i = 0; i < 4; i++)
        REQUIRE_GT(rt_go(both_ways, &b), 0);
    rt_waitgroup_wait(&b.wg);
    /* What was sent and not received is still in the ring. */
    int64_t left = atomic_load(&b.sent) - atomic_load(&b.received);
    REQUIRE_GE(left, 0);
    REQUIRE_LE(left, 2);
    REQUIRE_EQ((int64_t)rt_chan_len(b.c), left);
}

int main(int argc, char **argv)
{
    Suite *s = suite_create("stress_ring");
    TCase *tc = tcase_create("stress_ring");
    tcase_add_test(tc, stress_ring_close_races);
    tcase_add_test(tc, stress_ring_close_wakes_all);
    tcase_add_test(tc, stress_ring_select_both_ways);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
