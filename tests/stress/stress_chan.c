/*
 * tests/stress/stress_chan.c -- many producers and consumers over buffered
 * and unbuffered channels and through selects.  Run by CTest at MAXPROCS
 * 1, 2 and 4.
 *
 * Every value 0..N-1 is sent exactly once; consumers add them up, count
 * them and mark them in a shared bitmap.  At the end the count must be N,
 * the sum N(N-1)/2 and every bit set exactly once (a duplicate or a lost
 * value fails even when sums happen to match).  Producers finish, then the
 * channels are closed and the consumers drain them and stop on ok == false.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"

enum { NPROD = 8, NCONS = 8 };

typedef struct {
    /* the channels under test; NULL ones are not used by a scenario */
    rt_chan *a, *b;
    rt_chan *prod_done, *cons_done; /* completion reports */
    int64_t per_producer;
    _Atomic uint64_t *seen; /* bitmap of received values */
    _Atomic int64_t count;
    _Atomic uint64_t sum;
    bool use_select;
} stress;

typedef struct {
    stress *st;
    int id;
} worker;

static void mark(stress *st, int64_t v)
{
    REQUIRE_GE(v, 0);
    REQUIRE_LT(v, NPROD * st->per_producer);
    uint64_t bit = 1ull << (v % 64);
    uint64_t old = atomic_fetch_or(&st->seen[v / 64], bit);
    REQUIRE_MSG((old & bit) == 0, "value %lld received twice", (long long)v);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void producer(void *p)
{
    worker *w = p;
    stress *st = w->st;
    uint64_t rs = 0x2545f4914f6cdd1dull * (uint64_t)(w->id + 1);
    int64_t base = w->id * st->per_producer;
    for (int64_t i = 0; i < st->per_producer; i++) {
        int64_t v = base + i;
        if (!st->use_select) {
            rt_chan_send(st->a, &v);
        } else {
            /* Both channels, or a non-blocking try first now and then. */
            rt_select_case cs[] = {RT_SEND(st->a, &v), RT_SEND(st->b, &v)};
            int k;
            if (rnd(&rs) % 4 == 0 && (k = rt_select(cs, 2, false)) >= 0)
                continue;
            k = rt_select(cs, 2, true);
            REQUIRE(k == 0 || k == 1);
        }
        if (rnd(&rs) % 64 == 0)
            rt_yield();
    }
    rt_chan_send(st->prod_done, &w->id);
}

static void consumer(void *p)
{
    worker *w = p;
    stress *st = w->st;
    int64_t n = 0;
    uint64_t sum = 0;
    if (!st->use_select) {
        int64_t v;
        while (rt_chan_recv(st->a, &v)) {
            mark(st, v);
            n++;
            sum += (uint64_t)v;
        }
    } else {
        int64_t va, vb;
        rt_select_case cs[] = {RT_RECV(st->a, &va), RT_RECV(st->b, &vb)};
        while (cs[0].chan != NULL || cs[1].chan != NULL) {
            int k = rt_select(cs, 2, true);
            REQUIRE(k == 0 || k == 1);
            if (!cs[k].ok) {
                cs[k].chan = NULL; /* closed and drained: skip it now */
                continue;
            }
            int64_t v = k == 0 ? va : vb;
            mark(st, v);
            n++;
            sum += (uint64_t)v;
        }
    }
    atomic_fetch_add(&st->count, n);
    atomic_fetch_add(&st->sum, sum);
    rt_chan_send(st->cons_done, &w->id);
}

static void run_stress(rt_chan *a, rt_chan *b, bool use_select, int64_t per)
{
    static stress st;
    static worker prods[NPROD], cons[NCONS];
    const int64_t n = NPROD * per;
    st = (stress){.a = a, .b = b, .per_producer = per, .use_select = use_select};
    st.prod_done = rt_chan_make(sizeof(int), NPROD);
    st.cons_done = rt_chan_make(sizeof(int), NCONS);
    size_t words = (size_t)(n + 63) / 64;
    st.seen = calloc(words, sizeof *st.seen);
    REQUIRE(NULL != st.seen);

    for (int i = 0; i < NCONS; i++) {
        cons[i] = (worker){&st, i};
        REQUIRE_GT(rt_go(consumer, &cons[i]), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        prods[i] = (worker){&st, i};
        REQUIRE_GT(rt_go(producer, &prods[i]), 0);
    }
    for (int i = 0; i < NPROD; i++)
        REQUIRE(rt_chan_recv(st.prod_done, NULL));
    rt_chan_close(a);
    if (b != NULL && b != a)
        rt_chan_close(b);
    for (int i = 0; i < NCONS; i++)
        REQUIRE(rt_chan_recv(st.cons_done, NULL));

    REQUIRE_EQ(atomic_load(&st.count), n);
    REQUIRE(atomic_load(&st.sum) == (uint64_t)n * (uint64_t)(n - 1) / 2);
    for (size_t i = 0; i < words; i++) {
        uint64_t want = ~0ull;
        if (i == words - 1 && n % 64 != 0)
            want = (1ull << (n % 64)) - 1;
        REQUIRE_MSG(atomic_load(&st.seen[i]) == want,
                      "values %zu..%zu: bitmap %#llx", i * 64, i * 64 + 63,
                      (unsigned long long)atomic_load(&st.seen[i]));
    }
    free(st.seen);
}

RT_TEST(stress_buffered)
{
    run_stress(rt_chan_make(sizeof(int64_t), 64), NULL, false, 2000000);
}

RT_TEST(stress_buffered_tiny)
{
    /* cap 1: senders wait on a full ring all the time. */
    run_stress(rt_chan_make(sizeof(int64_t), 1), NULL, false, 600000);
}

RT_TEST(stress_unbuffered)
{
    run_stress(rt_chan_make(sizeof(int64_t), 0), NULL, false, 600000);
}

RT_TEST(stress_select)
{
    /* One unbuffered and one buffered channel, selected on both sides. */
    run_stress(rt_chan_make(sizeof(int64_t), 0),
               rt_chan_make(sizeof(int64_t), 16), true, 600000);
}

RT_TEST(stress_select_same_channel)
{
    /* Both cases of every select on one unbuffered channel: each parked
     * select has two sudogs on the same queue(s). */
    rt_chan *c = rt_chan_make(sizeof(int64_t), 0);
    run_stress(c, c, true, 400000);
}

int main(int argc, char **argv)
{
    Suite *s = suite_create("stress_chan");
    TCase *tc = tcase_create("stress_chan");
    tcase_add_test(tc, stress_buffered);
    tcase_add_test(tc, stress_buffered_tiny);
    tcase_add_test(tc, stress_unbuffered);
    tcase_add_test(tc, stress_select);
    tcase_add_test(tc, stress_select_same_channel);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
