/*
 * tests/stress/stress_sync.c -- many goroutines hammering the sync
 * primitives, with exact counts at the end.  CTest runs it at MAXPROCS 1,
 * 2 and 4; each run takes a few seconds on two cores.
 *
 *   mutex      200 goroutines x 4000 increments (some holding the lock
 *              across a yield or a sleep, which drives the mutex into
 *              starvation mode and out again), mixed with trylock
 *   rwmutex    readers check an invariant that writers break and repair
 *              inside their critical section; writers count exactly
 *   waitgroup  rounds of fan-out/fan-in with several waiters per round,
 *              nested Adds, and reuse
 *   cond       a bounded buffer (two conds on one mutex) moving 200 000
 *              numbers with an exact sum, and a broadcast barrier
 *   once       many onces hit by many goroutines
 *   pool       objects are never handed to two goroutines at once
 *
 * Randomness is a per-goroutine xorshift seeded by the goroutine's index,
 * so every run makes the same choices (the schedule still varies).
 */
#include <check.h>
#include <stdatomic.h>
#include <string.h>

#include "rt.h"
#include "harness.h"

/* ------------------------------------------------------------ harness -- */


static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* --------------------------------------------------------------- mutex -- */

#define MU_G 200
#define MU_ITERS 4000

static rt_mutex mu;
static long mu_counter;         /* under mu */
static _Atomic int mu_inside;
static _Atomic long mu_trylocked;
static rt_waitgroup mu_wg;

static void mu_worker(void *p)
{
    uint32_t rnd = (uint32_t)(uintptr_t)p * 2654435761u + 1;
    for (int i = 0; i < MU_ITERS; i++) {
        uint32_t r = xorshift(&rnd);
        bool tried = false;
        if (r % 8 == 0 && rt_mutex_trylock(&mu)) {
            tried = true;
        } else {
            rt_mutex_lock(&mu);
        }
        ck_assert_int_eq(atomic_fetch_add(&mu_inside, 1), 0);
        long c = mu_counter;
        if (r % 61 == 0)
            rt_yield();
        else if (r % 4001 == 0)
            rt_sleep(2 * RT_MILLISECOND); /* waiters starve: handoff mode */
        mu_counter = c + 1;
        atomic_fetch_sub(&mu_inside, 1);
        rt_mutex_unlock(&mu);
        if (tried)
            atomic_fetch_add(&mu_trylocked, 1);
    }
    rt_waitgroup_done(&mu_wg);
}

RT_TEST(stress_mutex)
{
    rt_waitgroup_add(&mu_wg, MU_G);
    for (intptr_t i = 0; i < MU_G; i++)
        ck_assert_int_gt(rt_go(mu_worker, (void *)i), 0);
    rt_waitgroup_wait(&mu_wg);
    ck_assert_int_eq(mu_counter, (long)MU_G * MU_ITERS);
    ck_assert_int_gt(atomic_load(&mu_trylocked), 0);
    ck_assert_int_eq(__atomic_load_n(&mu.state_, __ATOMIC_SEQ_CST), 0);
    ck_assert_uint_eq(__atomic_load_n(&mu.sema_, __ATOMIC_SEQ_CST), 0);
}

/* ------------------------------------------------------------- rwmutex -- */

#define RW_READERS 64
#define RW_WRITERS 16
#define RW_RITERS 3000
#define RW_WITERS 1500

static rt_rwmutex rw;
static long rw_a, rw_b;          /* equal outside a writer's section */
static _Atomic int rw_writers_in, rw_readers_in;
static _Atomic long rw_reads;
static rt_waitgroup rw_wg;

static void rw_reader(void *p)
{
    uint32_t rnd = (uint32_t)(uintptr_t)p * 40503u + 7;
    for (int i = 0; i < RW_RITERS; i++) {
        rt_rwmutex_rlock(&rw);
        atomic_fetch_add(&rw_readers_in, 1);
        ck_assert_int_eq(atomic_load(&rw_writers_in), 0);
        long a = __atomic_load_n(&rw_a, __ATOMIC_RELAXED);
        if (xorshift(&rnd) % 32 == 0)
            rt_yield(); /* readers hold it across a reschedule */
        ck_assert_int_eq(a, __atomic_load_n(&rw_b, __ATOMIC_RELAXED));
        atomic_fetch_sub(&rw_readers_in, 1);
        rt_rwmutex_runlock(&rw);
        atomic_fetch_add(&rw_reads, 1);
    }
    rt_waitgroup_done(&rw_wg);
}

static void rw_writer(void *p)
{
    uint32_t rnd = (uint32_t)(uintptr_t)p * 69069u + 3;
    for (int i = 0; i < RW_WITERS; i++) {
        rt_rwmutex_lock(&rw);
        ck_assert_int_eq(atomic_fetch_add(&rw_writers_in, 1), 0);
        ck_assert_int_eq(atomic_load(&rw_readers_in), 0);
        __atomic_store_n(&rw_a, rw_a + 1, __ATOMIC_RELAXED);
        if (xorshift(&rnd) % 16 == 0)
            rt_yield(); /* a == b + 1 while we are switched out */
        __atomic_store_n(&rw_b, rw_b + 1, __ATOMIC_RELAXED);
        atomic_fetch_sub(&rw_writers_in, 1);
        rt_rwmutex_unlock(&rw);
    }
    rt_waitgroup_done(&rw_wg);
}

RT_TEST(stress_rwmutex)
{
    rt_waitgroup_add(&rw_wg, RW_READERS + RW_WRITERS);
    for (intptr_t i = 0; i < RW_READERS + RW_WRITERS; i++) {
        if (i % 5 == 0 && i / 5 < RW_WRITERS)
            ck_assert_int_gt(rt_go(rw_writer, (void *)i), 0);
        else
            ck_assert_int_gt(rt_go(rw_reader, (void *)i), 0);
    }
    rt_waitgroup_wait(&rw_wg);
    ck_assert_int_eq(rw_a, (long)RW_WRITERS * RW_WITERS);
    ck_assert_int_eq(rw_b, rw_a);
    ck_assert_int_eq(atomic_load(&rw_reads), (long)RW_READERS * RW_RITERS);
    ck_assert_int_eq(__atomic_load_n(&rw.reader_count_, __ATOMIC_SEQ_CST), 0);
    ck_assert_int_eq(__atomic_load_n(&rw.reader_wait_, __ATOMIC_SEQ_CST), 0);
    ck_assert_int_eq(__atomic_load_n(&rw.w_.state_, __ATOMIC_SEQ_CST), 0);
}

/* ----------------------------------------------------------- waitgroup -- */

#define WG_ROUNDS 300

static rt_waitgroup wg, wg_waiters_done;
static _Atomic int wg_work, wg_seen_complete;
static int wg_expected;

static void wg_child(void *p)
{
    (void)p;
    atomic_fetch_add(&wg_work, 1);
    rt_waitgroup_done(&wg);
}

static void wg_worker(void *p)
{
    uint32_t rnd = (uint32_t)(uintptr_t)p + 11;
    uint32_t r = xorshift(&rnd);
    if (r % 3 == 0) {
        /* Nested Add: the counter is > 0 (we have not called Done). */
        rt_waitgroup_add(&wg, 1);
        rt_go(wg_child, NULL);
    }
    if (r % 5 == 0)
        rt_yield();
    atomic_fetch_add(&wg_work, 1);
    rt_waitgroup_done(&wg);
}

static void wg_extra_waiter(void *p)
{
    (void)p;
    rt_waitgroup_wait(&wg);
    /* Everything the round did is visible once Wait returns. */
    if (atomic_load(&wg_work) == wg_expected)
        atomic_fetch_add(&wg_seen_complete, 1);
    rt_waitgroup_done(&wg_waiters_done);
}

RT_TEST(stress_waitgroup)
{
    uint32_t rnd = 12345;
    int extra_total = 0;
    for (int round = 0; round < WG_ROUNDS; round++) {
        int n = 1 + (int)(xorshift(&rnd) % 64);
        int extra = (int)(xorshift(&rnd) % 4);
        /* Workers that nest an Add do two units of work. */
        int expect = 0;
        for (int i = 0; i < n; i++) {
            uint32_t s = (uint32_t)(round * 64 + i) + 11;
            expect += xorshift(&s) % 3 == 0 ? 2 : 1;
        }
        atomic_store(&wg_work, 0);
        wg_expected = expect;
        rt_waitgroup_add(&wg, n);
        rt_waitgroup_add(&wg_waiters_done, extra);
        for (int i = 0; i < extra; i++)
            rt_go(wg_extra_waiter, NULL);
        for (int i = 0; i < n; i++)
            rt_go(wg_worker, (void *)(intptr_t)(round * 64 + i));
        rt_waitgroup_wait(&wg);
        ck_assert_int_eq(atomic_load(&wg_work), expect);
        /* Reuse only after every Wait of this round has returned. */
        rt_waitgroup_wait(&wg_waiters_done);
        extra_total += extra;
    }
    ck_assert_int_eq(atomic_load(&wg_seen_complete), extra_total);
    ck_assert_uint_eq(__atomic_load_n(&wg.state_, __ATOMIC_SEQ_CST), 0);
}

/* ---------------------------------------------------------------- cond -- */

#define BUF_CAP 16
#define PRODUCERS 8
#define CONSUMERS 8
#define PER_PRODUCER 25000

static rt_mutex bmu;
static rt_cond not_full, not_empty;
static long buf[BUF_CAP];
static int bhead, blen;        /* under bmu */
static int producers_left;     /* under bmu */
static _Atomic long consumed_sum, consumed_n;
static rt_waitgroup cond_wg;

static void producer(void *p)
{
    long base = (long)(intptr_t)p * PER_PRODUCER;
    for (long i = 0; i < PER_PRODUCER; i++) {
        rt_mutex_lock(&bmu);
        while (blen == BUF_CAP)
            rt_cond_wait(&not_full);
        buf[(bhead + blen) % BUF_CAP] = base + i;
        blen++;
        rt_cond_signal(&not_empty);
        rt_mutex_unlock(&bmu);
    }
    rt_mutex_lock(&bmu);
    if (--producers_left == 0)
        rt_cond_broadcast(&not_empty); /* consumers: no more items */
    rt_mutex_unlock(&bmu);
    rt_waitgroup_done(&cond_wg);
}

static void consumer(void *p)
{
    (void)p;
    long sum = 0, n = 0;
    for (;;) {
        rt_mutex_lock(&bmu);
        while (blen == 0 && producers_left > 0)
            rt_cond_wait(&not_empty);
        if (blen == 0) {
            rt_mutex_unlock(&bmu);
            break;
        }
        long v = buf[bhead];
        bhead = (bhead + 1) % BUF_CAP;
        blen--;
        rt_cond_signal(&not_full);
        rt_mutex_unlock(&bmu);
        sum += v;
        n++;
    }
    atomic_fetch_add(&consumed_sum, sum);
    atomic_fetch_add(&consumed_n, n);
    rt_waitgroup_done(&cond_wg);
}

RT_TEST(stress_cond_bounded_buffer)
{
    rt_cond_init(&not_full, &bmu);
    rt_cond_init(&not_empty, &bmu);
    producers_left = PRODUCERS;
    rt_waitgroup_add(&cond_wg, PRODUCERS + CONSUMERS);
    for (intptr_t i = 0; i < CONSUMERS; i++)
        rt_go(consumer, (void *)i);
    for (intptr_t i = 0; i < PRODUCERS; i++)
        rt_go(producer, (void *)i);
    rt_waitgroup_wait(&cond_wg);
    long total = (long)PRODUCERS * PER_PRODUCER;
    ck_assert_int_eq(atomic_load(&consumed_n), total);
    ck_assert_int_eq(atomic_load(&consumed_sum), total * (total - 1) / 2);
    ck_assert_int_eq(blen, 0);
}

/* A reusable barrier on a cond: generation counter plus broadcast. */
#define BAR_G 32
#define BAR_ROUNDS 400

static rt_mutex bar_mu;
static rt_cond bar_cond;
static int bar_arrived, bar_gen;        /* under bar_mu */
static long bar_round_sum[BAR_ROUNDS];  /* under bar_mu */
static rt_waitgroup bar_wg;

static void barrier_wait(void)
{
    rt_mutex_lock(&bar_mu);
    int gen = bar_gen;
    if (++bar_arrived == BAR_G) {
        bar_arrived = 0;
        bar_gen++;
        rt_cond_broadcast(&bar_cond);
    } else {
        while (gen == bar_gen)
            rt_cond_wait(&bar_cond);
    }
    rt_mutex_unlock(&bar_mu);
}

static void bar_worker(void *p)
{
    long id = (long)(intptr_t)p;
    for (int r = 0; r < BAR_ROUNDS; r++) {
        rt_mutex_lock(&bar_mu);
        /* Nobody may be in round r+1 before everyone finished round r. */
        ck_assert_int_eq(bar_gen, r);
        bar_round_sum[r] += id + 1;
        rt_mutex_unlock(&bar_mu);
        barrier_wait();
    }
    rt_waitgroup_done(&bar_wg);
}

RT_TEST(stress_cond_barrier)
{
    rt_cond_init(&bar_cond, &bar_mu);
    rt_waitgroup_add(&bar_wg, BAR_G);
    for (intptr_t i = 0; i < BAR_G; i++)
        rt_go(bar_worker, (void *)i);
    rt_waitgroup_wait(&bar_wg);
    for (int r = 0; r < BAR_ROUNDS; r++)
        ck_assert_int_eq(bar_round_sum[r], (long)BAR_G * (BAR_G + 1) / 2);
    ck_assert_int_eq(bar_gen, BAR_ROUNDS);
}

/* ---------------------------------------------------------------- once -- */

#define ONCES 64
#define ONCE_G 40

static rt_once onces[ONCES];
static _Atomic int once_runs[ONCES];
static _Atomic int once_done[ONCES];
static rt_waitgroup once_wg;

/* rt_once_do takes a void(void): one function per once, via a table. */
#define ONCE_FN(i)                                                            \
    static void once_fn_##i(void)                                             \
    {                                                                         \
        atomic_fetch_add(&once_runs[i], 1);                                   \
        if (i % 4 == 0)                                                       \
            rt_yield();                                                       \
        atomic_store(&once_done[i], 1);                                       \
    }
ONCE_FN(0) ONCE_FN(1) ONCE_FN(2) ONCE_FN(3) ONCE_FN(4) ONCE_FN(5)
ONCE_FN(6) ONCE_FN(7) ONCE_FN(8) ONCE_FN(9) ONCE_FN(10) ONCE_FN(11)
ONCE_FN(12) ONCE_FN(13) ONCE_FN(14) ONCE_FN(15) ONCE_FN(16) ONCE_FN(17)
ONCE_FN(18) ONCE_FN(19) ONCE_FN(20) ONCE_FN(21) ONCE_FN(22) ONCE_FN(23)
ONCE_FN(24) ONCE_FN(25) ONCE_FN(26) ONCE_FN(27) ONCE_FN(28) ONCE_FN(29)
ONCE_FN(30) ONCE_FN(31) ONCE_FN(32) ONCE_FN(33) ONCE_FN(34) ONCE_FN(35)
ONCE_FN(36) ONCE_FN(37) ONCE_FN(38) ONCE_FN(39) ONCE_FN(40) ONCE_FN(41)
ONCE_FN(42) ONCE_FN(43) ONCE_FN(44) ONCE_FN(45) ONCE_FN(46) ONCE_FN(47)
ONCE_FN(48) ONCE_FN(49) ONCE_FN(50) ONCE_FN(51) ONCE_FN(52) ONCE_FN(53)
ONCE_FN(54) ONCE_FN(55) ONCE_FN(56) ONCE_FN(57) ONCE_FN(58) ONCE_FN(59)
ONCE_FN(60) ONCE_FN(61) ONCE_FN(62) ONCE_FN(63)
static void (*once_fns[ONCES])(void);

static void once_init_table(void)
{
    void (*t[ONCES])(void) = {
#define R(i) once_fn_##i
        R(0), R(1), R(2), R(3), R(4), R(5), R(6), R(7), R(8), R(9), R(10),
        R(11), R(12), R(13), R(14), R(15), R(16), R(17), R(18), R(19), R(20),
        R(21), R(22), R(23), R(24), R(25), R(26), R(27), R(28), R(29), R(30),
        R(31), R(32), R(33), R(34), R(35), R(36), R(37), R(38), R(39), R(40),
        R(41), R(42), R(43), R(44), R(45), R(46), R(47), R(48), R(49), R(50),
        R(51), R(52), R(53), R(54), R(55), R(56), R(57), R(58), R(59), R(60),
        R(61), R(62), R(63)
#undef R
    };
    memcpy(once_fns, t, sizeof t);
}

static void once_worker(void *p)
{
    int start = (int)(intptr_t)p;
    for (int k = 0; k < ONCES; k++) {
        int i = (start + k) % ONCES;
        rt_once_do(&onces[i], once_fns[i]);
        ck_assert_int_eq(atomic_load(&once_done[i]), 1);
    }
    rt_waitgroup_done(&once_wg);
}

RT_TEST(stress_once)
{
    once_init_table();
    rt_waitgroup_add(&once_wg, ONCE_G);
    for (intptr_t i = 0; i < ONCE_G; i++)
        rt_go(once_worker, (void *)(i * 7));
    rt_waitgroup_wait(&once_wg);
    for (int i = 0; i < ONCES; i++)
        ck_assert_int_eq(atomic_load(&once_runs[i]), 1);
}

/* ---------------------------------------------------------------- pool -- */

#define POOL_G 64
#define POOL_ITERS 5000

typedef struct {
    _Atomic int owned; /* 1 while some goroutine holds it */
    long uses;
} pobj;

/* Objects come from a static array, so that the ones a pool drops are not
 * leaks (there is no collector to take them yet).  Running out of it means
 * the pool reused far too little. */
#define POOL_OBJS (POOL_G * POOL_ITERS / 4)
static pobj pool_objs[POOL_OBJS];
static _Atomic int pool_allocs;
static void *pool_new(void)
{
    int i = atomic_fetch_add(&pool_allocs, 1);
    ck_assert_int_lt(i, POOL_OBJS);
    return &pool_objs[i];
}
static rt_pool pool = {.new_fn = pool_new};
static rt_waitgroup pool_wg;

static void pool_worker(void *p)
{
    uint32_t rnd = (uint32_t)(uintptr_t)p * 1103515245u + 12345;
    for (int i = 0; i < POOL_ITERS; i++) {
        pobj *o = rt_pool_get(&pool);
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(atomic_exchange(&o->owned, 1), 0);
        o->uses++;
        if (xorshift(&rnd) % 16 == 0)
            rt_yield();
        atomic_store(&o->owned, 0);
        rt_pool_put(&pool, o);
    }
    rt_waitgroup_done(&pool_wg);
}

RT_TEST(stress_pool)
{
    rt_waitgroup_add(&pool_wg, POOL_G);
    for (intptr_t i = 0; i < POOL_G; i++)
        rt_go(pool_worker, (void *)i);
    rt_waitgroup_wait(&pool_wg);
    /* Objects were reused: far fewer made than taken. */
    ck_assert_int_lt(atomic_load(&pool_allocs), POOL_OBJS);
    long uses = 0;
    for (int i = 0; i < atomic_load(&pool_allocs); i++) {
        ck_assert_int_eq(atomic_load(&pool_objs[i].owned), 0);
        uses += pool_objs[i].uses;
    }
    ck_assert_int_eq(uses, (long)POOL_G * POOL_ITERS);
}

int main(void)
{
    Suite *s = suite_create("stress_sync");
    TCase *tc = tcase_create("stress_sync");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, stress_mutex);
    tcase_add_test(tc, stress_rwmutex);
    tcase_add_test(tc, stress_waitgroup);
    tcase_add_test(tc, stress_cond_bounded_buffer);
    tcase_add_test(tc, stress_cond_barrier);
    tcase_add_test(tc, stress_once);
    tcase_add_test(tc, stress_pool);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
