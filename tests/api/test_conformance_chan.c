/*
 * tests/api/test_conformance_chan.c -- channels and select as a Go
 * programmer expects them, from rt.h and API.md alone: values of every
 * size arrive exactly (no byte more or less written, whichever path
 * carries them: ring, hand-off to a parked receiver or from a parked
 * sender, select, try forms), a closed channel gives its buffered values
 * with ok true and then zero values with ok false, len and cap of nil,
 * unbuffered and closed channels, nil cases, and select over no case.
 *
 * Each body runs as goroutine 1 in the process Check forks for the test.
 * Nothing asserts on time.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"

/* Element sizes with every remainder modulo 8 and 16, and a large one. */
static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17,
                               24, 31, 33, 48, 63, 100, 257, 1000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

enum { GUARD = 16, MAXELEM = 1000 };

/* A destination with guard bytes on both sides: a copy of the wrong size
 * shows as a changed guard. */
typedef struct {
    unsigned char b[GUARD + MAXELEM + GUARD];
} slot;

static void *slot_elem(slot *s) { return s->b + GUARD; }

static void slot_fill(slot *s, unsigned char v)
{
    memset(s->b, v, sizeof s->b);
}

/* The value number k of an element of n bytes: no two neighbours equal. */
static void make_value(unsigned char *p, size_t n, int k)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(k * 31 + (int)i * 7 + 1);
}

/* dst holds value k of n bytes (or zeros if k < 0), guards untouched. */
static void check_slot(slot *s, size_t n, int k, unsigned char guard)
{
    unsigned char want[MAXELEM];
    if (k < 0)
        memset(want, 0, n);
    else
        make_value(want, n, k);
    for (size_t i = 0; i < GUARD; i++) {
        REQUIRE_MSG(s->b[i] == guard, "size %zu: guard before value hit", n);
        REQUIRE_MSG(s->b[GUARD + n + i] == guard,
                    "size %zu: guard after value hit at %zu", n, i);
    }
    REQUIRE_MSG(memcmp(slot_elem(s), want, n) == 0, "size %zu: value %d wrong",
                n, k);
}

typedef struct {
    rt_chan *c;
    size_t n;
    int count;
    bool use_select;
} sender_arg;

static void sender(void *p)
{
    sender_arg a = *(sender_arg *)p; /* a copy: the test frame may go */
    for (int k = 0; k < a.count; k++) {
        unsigned char v[MAXELEM];
        make_value(v, a.n, k);
        if (a.use_select) {
            rt_select_case cs[] = {RT_RECV(NULL, NULL), RT_SEND(a.c, v)};
            REQUIRE_EQ(rt_select(cs, 2, true), 1);
        } else {
            rt_chan_send(a.c, v);
        }
    }
}

/* Receives a.count values of a.n bytes from a.c in every way the API
 * offers, alternating, and checks each one and its guards. */
static void receive_all(const sender_arg *a)
{
    for (int k = 0; k < a->count; k++) {
        slot s;
        slot_fill(&s, 0xA5);
        switch (k % 3) {
        case 0:
            REQUIRE(rt_chan_recv(a->c, slot_elem(&s)));
            break;
        case 1: {
            rt_select_case cs[] = {RT_RECV(a->c, slot_elem(&s))};
            REQUIRE_EQ(rt_select(cs, 1, true), 0);
            REQUIRE(cs[0].ok);
            break;
        }
        default: {
            int r;
            while ((r = rt_chan_try_recv(a->c, slot_elem(&s))) == -EAGAIN)
                rt_yield();
            REQUIRE_EQ(r, 1);
        }
        }
        check_slot(&s, a->n, k, 0xA5);
    }
}

/* Every size through an unbuffered channel (hand-off from the sender's
 * stack, both sender kinds) and through a small ring that fills up (ring
 * copies and parked senders' values moved into the ring). */
RT_TEST(test_every_element_size_arrives_exactly)
{
    for (size_t i = 0; i < NSIZES; i++) {
        for (size_t cap = 0; cap <= 2; cap += 2) {
            for (int sel = 0; sel < 2; sel++) {
                sender_arg a = {rt_chan_make(sizes[i], cap), sizes[i], 30,
                                sel == 1};
                REQUIRE_GT(rt_go(sender, &a), 0);
                /* Let the sender fill the ring and park. */
                for (int y = 0; y < 5; y++)
                    rt_yield();
                receive_all(&a);
                REQUIRE_EQ(rt_chan_len(a.c), 0);
            }
        }
    }
}

typedef struct {
    rt_chan *c;
    size_t n;
    rt_chan *done;
} receiver_arg;

static void parked_receiver(void *p)
{
    receiver_arg a = *(receiver_arg *)p;
    slot s;
    slot_fill(&s, 0x5A);
    REQUIRE(rt_chan_recv(a.c, slot_elem(&s)));
    check_slot(&s, a.n, 7, 0x5A);
    rt_chan_send(a.done, NULL);
}

/* A sender that finds a parked receiver writes straight into its slot:
 * exactly n bytes. */
RT_TEST(test_send_to_parked_receiver_writes_exactly)
{
    rt_chan *done = rt_chan_make(0, 0);
    for (size_t i = 0; i < NSIZES; i++) {
        receiver_arg a = {rt_chan_make(sizes[i], 0), sizes[i], done};
        REQUIRE_GT(rt_go(parked_receiver, &a), 0);
        unsigned char v[MAXELEM];
        make_value(v, sizes[i], 7);
        rt_chan_send(a.c, v);
        REQUIRE(rt_chan_recv(done, NULL));
    }
}

/* Receiving from a closed, drained channel writes the zero value: exactly
 * n zero bytes, by every form of receive. */
RT_TEST(test_closed_channel_gives_zero_values_of_elem_size)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        rt_chan *c = rt_chan_make(n, 1);
        rt_chan_close(c);
        slot s;
        slot_fill(&s, 0x77);
        REQUIRE(!rt_chan_recv(c, slot_elem(&s)));
        check_slot(&s, n, -1, 0x77);
        slot_fill(&s, 0x77);
        REQUIRE_EQ(rt_chan_try_recv(c, slot_elem(&s)), 0);
        check_slot(&s, n, -1, 0x77);
        slot_fill(&s, 0x77);
        rt_select_case cs[] = {RT_RECV(c, slot_elem(&s))};
        cs[0].ok = true;
        REQUIRE_EQ(rt_select(cs, 1, false), 0);
        REQUIRE(!cs[0].ok);
        check_slot(&s, n, -1, 0x77);
    }
}

/* ------------------------------------------------------------- close ---- */

/* v, ok := <-c on a closed buffered channel: the buffered values first,
 * each with ok true, by every form; then zero values with ok false.  len
 * counts what is left, cap stays. */
RT_TEST(test_close_keeps_buffered_values)
{
    rt_chan *c = rt_chan_make(sizeof(long), 4);
    for (long v = 1; v <= 4; v++)
        rt_chan_send(c, &v);
    rt_chan_close(c);
    REQUIRE_EQ(rt_chan_len(c), 4);
    REQUIRE_EQ(rt_chan_cap(c), 4);
    long v = 0;
    REQUIRE(rt_chan_recv(c, &v));
    REQUIRE_EQ(v, 1);
    REQUIRE_EQ(rt_chan_try_recv(c, &v), 1);
    REQUIRE_EQ(v, 2);
    rt_select_case cs[] = {RT_RECV(c, &v)};
    REQUIRE_EQ(rt_select(cs, 1, true), 0);
    REQUIRE(cs[0].ok);
    REQUIRE_EQ(v, 3);
    cs[0].ok = false;
    REQUIRE_EQ(rt_select(cs, 1, false), 0);
    REQUIRE(cs[0].ok);
    REQUIRE_EQ(v, 4);
    REQUIRE_EQ(rt_chan_len(c), 0);
    for (int i = 0; i < 3; i++) {
        v = 99;
        REQUIRE(!rt_chan_recv(c, &v));
        REQUIRE_EQ(v, 0);
        v = 99;
        REQUIRE_EQ(rt_chan_try_recv(c, &v), 0);
        REQUIRE_EQ(v, 0);
    }
    REQUIRE_EQ(rt_chan_cap(c), 4);
}

typedef struct {
    rt_chan *c, *results;
    bool use_select;
} closewait_arg;

typedef struct {
    long v;
    bool ok;
} outcome;

static void wait_for_close(void *p)
{
    closewait_arg a = *(closewait_arg *)p;
    outcome o = {.v = 55, .ok = true};
    if (a.use_select) {
        rt_chan *never = rt_chan_make(sizeof(long), 0);
        long other = 66;
        rt_select_case cs[] = {RT_RECV(never, &other), RT_RECV(a.c, &o.v),
                               RT_SEND(NULL, &other)};
        REQUIRE_EQ(rt_select(cs, 3, true), 1);
        o.ok = cs[1].ok;
        REQUIRE_EQ(other, 66); /* the other cases untouched */
    } else {
        o.ok = rt_chan_recv(a.c, &o.v);
    }
    rt_chan_send(a.results, &o);
}

/* Closing wakes every parked receiver, plain and in select, with the zero
 * value and ok false. */
RT_TEST(test_close_wakes_parked_receivers_and_selects)
{
    enum { N = 20 };
    rt_chan *c = rt_chan_make(sizeof(long), 0);
    rt_chan *results = rt_chan_make(sizeof(outcome), N);
    closewait_arg args[N]; /* each lives until its goroutine copied it */
    for (int i = 0; i < N; i++) {
        args[i] = (closewait_arg){c, results, i % 2 == 1};
        REQUIRE_GT(rt_go(wait_for_close, &args[i]), 0);
    }
    /* Whether they are parked yet or not, each must see the close. */
    for (int i = 0; i < 50; i++)
        rt_yield();
    rt_chan_close(c);
    for (int i = 0; i < N; i++) {
        outcome o;
        REQUIRE(rt_chan_recv(results, &o));
        REQUIRE(!o.ok);
        REQUIRE_EQ(o.v, 0);
    }
}

/* --------------------------------------------------- nil, len, select ---- */

RT_TEST(test_nil_channel_and_empty_select)
{
    int v = 3;
    REQUIRE_EQ(rt_chan_len(NULL), 0);
    REQUIRE_EQ(rt_chan_cap(NULL), 0);
    REQUIRE(!rt_chan_try_send(NULL, &v));
    REQUIRE_EQ(rt_chan_try_recv(NULL, &v), -EAGAIN);
    REQUIRE_EQ(v, 3);
    /* select {} with a default, and a select whose cases are all nil */
    REQUIRE_EQ(rt_select(NULL, 0, false), -1);
    rt_select_case cs[] = {RT_RECV(NULL, &v), RT_SEND(NULL, &v)};
    REQUIRE_EQ(rt_select(cs, 2, false), -1);
    REQUIRE_EQ(v, 3);
    /* A nil case next to a ready one never wins. */
    rt_chan *c = rt_chan_make(sizeof(int), 1);
    rt_select_case mix[] = {RT_RECV(NULL, &v), RT_SEND(c, &v),
                            RT_SEND(NULL, &v)};
    for (int i = 0; i < 100; i++) {
        REQUIRE_EQ(rt_select(mix, 3, true), 1);
        REQUIRE(rt_chan_recv(c, NULL));
    }
}

typedef struct {
    rt_chan *c;
    int n;
} n_sender_arg;

static void send_n_ints(void *p)
{
    n_sender_arg a = *(n_sender_arg *)p;
    for (int i = 0; i < a.n; i++)
        rt_chan_send(a.c, &i);
}

/* len of an unbuffered channel is 0 even with senders parked on it; a
 * buffered one reports its ring, never more than cap. */
RT_TEST(test_len_counts_the_ring_only)
{
    rt_chan *u = rt_chan_make(sizeof(int), 0);
    rt_chan *b = rt_chan_make(sizeof(int), 2);
    n_sender_arg au = {u, 3}, ab = {b, 5};
    for (int i = 0; i < 3; i++)
        REQUIRE_GT(rt_go(send_n_ints, &au), 0);
    REQUIRE_GT(rt_go(send_n_ints, &ab), 0);
    WAIT_UNTIL(rt_chan_len(b) == 2); /* then the sender parks on it */
    for (int i = 0; i < 100; i++)
        rt_yield();
    REQUIRE_EQ(rt_chan_len(u), 0);
    REQUIRE_EQ(rt_chan_cap(u), 0);
    REQUIRE_EQ(rt_chan_len(b), 2);
    REQUIRE_EQ(rt_chan_cap(b), 2);
    for (int i = 0; i < 9; i++)
        REQUIRE(rt_chan_recv(u, NULL));
    for (int i = 0; i < 5; i++) {
        int v = -1;
        REQUIRE(rt_chan_recv(b, &v));
        REQUIRE_EQ(v, i);
        REQUIRE_LE(rt_chan_len(b), 2);
    }
    REQUIRE_EQ(rt_chan_len(b), 0);
}

/* chan struct{}: elem pointers are never read or written, NULL or not. */
RT_TEST(test_zero_size_elements_touch_nothing)
{
    rt_chan *c = rt_chan_make(0, 1);
    slot s;
    slot_fill(&s, 0x3C);
    REQUIRE(rt_chan_try_send(c, slot_elem(&s)));
    REQUIRE_EQ(rt_chan_len(c), 1);
    REQUIRE(rt_chan_recv(c, slot_elem(&s)));
    rt_chan_close(c);
    REQUIRE(!rt_chan_recv(c, slot_elem(&s)));
    REQUIRE_EQ(rt_chan_try_recv(c, slot_elem(&s)), 0);
    for (size_t i = 0; i < sizeof s.b; i++)
        REQUIRE_EQ(s.b[i], 0x3C);
}

int main(void)
{
    Suite *s = suite_create("conformance_chan");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_element_size_arrives_exactly);
    tcase_add_test(tc, test_send_to_parked_receiver_writes_exactly);
    tcase_add_test(tc, test_closed_channel_gives_zero_values_of_elem_size);
    tcase_add_test(tc, test_close_keeps_buffered_values);
    tcase_add_test(tc, test_close_wakes_parked_receivers_and_selects);
    tcase_add_test(tc, test_nil_channel_and_empty_select);
    tcase_add_test(tc, test_len_counts_the_ring_only);
    tcase_add_test(tc, test_zero_size_elements_touch_nothing);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
