/*
 * tests/api/test_conformance_sync.c -- the sync package as a Go programmer
 * expects it, from rt.h and API.md alone, beyond test_sync.c: a Mutex is
 * not owned by a goroutine (another one may unlock it, and RUnlock too),
 * TryLock fails while anyone holds the lock, Cond.Wait returns with the
 * lock held, a Once inside another Once's function, a Pool emptied by the
 * collector, and misuse from a goroutine other than main: the fatal error
 * names the culprit's goroutine first, then lists the others.
 *
 * Nothing asserts on time.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"

/* --------------------------------------------------------------- mutex -- */

typedef struct {
    rt_mutex *mu;
    rt_rwmutex *rw;
    rt_chan *done;
} unlock_arg;

static void unlock_for_someone(void *p)
{
    unlock_arg a = *(unlock_arg *)p;
    if (a.mu != NULL)
        rt_mutex_unlock(a.mu);
    if (a.rw != NULL)
        rt_rwmutex_runlock(a.rw);
    rt_chan_send(a.done, NULL);
}

static void try_from_other(void *p)
{
    unlock_arg a = *(unlock_arg *)p;
    bool got = rt_mutex_trylock(a.mu);
    if (got)
        rt_mutex_unlock(a.mu);
    rt_chan_send(a.done, &got);
}

/* "A locked Mutex is not associated with a particular goroutine": one
 * goroutine may lock it and another unlock it; RLock/RUnlock likewise.
 * TryLock fails, from any goroutine, while it is held. */
RT_TEST(test_mutex_is_not_owned)
{
    rt_mutex mu = {0};
    rt_chan *done = rt_chan_make(sizeof(bool), 0);
    unlock_arg a = {&mu, NULL, done};
    rt_mutex_lock(&mu);
    REQUIRE(!rt_mutex_trylock(&mu));
    REQUIRE_GT(rt_go(try_from_other, &a), 0);
    bool got = true;
    REQUIRE(rt_chan_recv(done, &got));
    REQUIRE(!got);
    REQUIRE_GT(rt_go(unlock_for_someone, &a), 0);
    REQUIRE(rt_chan_recv(done, NULL));
    REQUIRE(rt_mutex_trylock(&mu)); /* free again */
    rt_mutex_unlock(&mu);

    rt_rwmutex rw = {0};
    unlock_arg r = {NULL, &rw, done};
    rt_rwmutex_rlock(&rw);
    rt_rwmutex_rlock(&rw);
    REQUIRE_GT(rt_go(unlock_for_someone, &r), 0);
    REQUIRE(rt_chan_recv(done, NULL));
    rt_rwmutex_runlock(&rw);
    rt_rwmutex_lock(&rw); /* no reader left: does not block */
    rt_rwmutex_unlock(&rw);
}

/* ---------------------------------------------------------------- cond -- */

typedef struct {
    rt_mutex mu;
    rt_cond cond;
    bool ready;       /* under mu */
    int waiting;      /* under mu */
    rt_chan *checked; /* each waiter sends what it saw */
} cond_arg;

static void cond_waiter(void *p)
{
    cond_arg *a = p; /* static storage: outlives every waiter */
    rt_mutex_lock(&a->mu);
    a->waiting++;
    while (!a->ready)
        rt_cond_wait(&a->cond);
    /* Wait returned with the lock held: nobody can take it now. */
    bool held = !rt_mutex_trylock(&a->mu);
    rt_mutex_unlock(&a->mu);
    rt_chan_send(a->checked, &held);
}

RT_TEST(test_cond_wait_returns_with_lock_held)
{
    enum { N = 8 };
    static cond_arg a;
    rt_cond_init(&a.cond, &a.mu);
    a.checked = rt_chan_make(sizeof(bool), N);
    rt_cond_signal(&a.cond);    /* nobody waits: no effect */
    rt_cond_broadcast(&a.cond); /* likewise */
    for (int i = 0; i < N; i++)
        REQUIRE_GT(rt_go(cond_waiter, &a), 0);
    for (;;) {
        rt_mutex_lock(&a.mu);
        int w = a.waiting;
        rt_mutex_unlock(&a.mu);
        if (w == N)
            break;
        rt_yield();
    }
    rt_mutex_lock(&a.mu);
    a.ready = true;
    rt_cond_broadcast(&a.cond);
    rt_mutex_unlock(&a.mu);
    for (int i = 0; i < N; i++) {
        bool held = false;
        REQUIRE(rt_chan_recv(a.checked, &held));
        REQUIRE(held);
    }
}

/* ---------------------------------------------------------------- once -- */

static rt_once outer_once, inner_once;
static int outer_runs, inner_runs;
static char trail[8];
static int ntrail;

static void inner_fn(void)
{
    inner_runs++;
    trail[ntrail++] = 'i';
}

static void outer_fn(void)
{
    outer_runs++;
    trail[ntrail++] = '(';
    rt_once_do(&inner_once, inner_fn);
    rt_once_do(&inner_once, inner_fn); /* done: returns at once */
    trail[ntrail++] = ')';
}

/* A Once's function may use another Once; each function runs exactly once
 * and the inner one completes inside the outer. */
RT_TEST(test_nested_once)
{
    rt_once_do(&outer_once, outer_fn);
    rt_once_do(&outer_once, outer_fn);
    rt_once_do(&inner_once, inner_fn);
    REQUIRE_EQ(outer_runs, 1);
    REQUIRE_EQ(inner_runs, 1);
    REQUIRE_EQ(ntrail, 3);
    REQUIRE(memcmp(trail, "(i)", 3) == 0);
}

/* ---------------------------------------------------------------- pool -- */

static rt_pool plain_pool;
static _Atomic int made;

static void *make_obj(void)
{
    atomic_fetch_add(&made, 1);
    return rt_alloc(32);
}

static rt_pool new_pool = {.new_fn = make_obj};

/* Get on an empty pool: new_fn's object, or NULL without one; Put(NULL)
 * is ignored; after collections the pool holds nothing (sync.Pool's
 * contents are dropped by the collector, at the latest by the second
 * cycle since Go 1.13). */
RT_TEST(test_pool_empty_new_and_collected)
{
    REQUIRE(rt_pool_get(&plain_pool) == NULL);
    rt_pool_put(&plain_pool, NULL);
    REQUIRE(rt_pool_get(&plain_pool) == NULL);
    void *x = rt_alloc(32);
    rt_pool_put(&plain_pool, x);
    rt_gc();
    rt_gc();
    REQUIRE(rt_pool_get(&plain_pool) == NULL);

    void *y = rt_pool_get(&new_pool);
    REQUIRE(y != NULL);
    REQUIRE_EQ(atomic_load(&made), 1);
    rt_pool_put(&new_pool, y);
    rt_gc();
    rt_gc();
    void *z = rt_pool_get(&new_pool);
    REQUIRE(z != NULL);
    REQUIRE_EQ(atomic_load(&made), 2); /* the pooled one was dropped */
}

/* ------------------------------------------------ misuse in a goroutine -- */

static void misuse(void *arg)
{
    const char *s = arg;
    if (strcmp(s, "unlock") == 0) {
        rt_mutex mu = {0};
        rt_mutex_unlock(&mu);
    } else if (strcmp(s, "runlock") == 0) {
        rt_rwmutex rw = {0};
        rt_rwmutex_runlock(&rw);
    } else if (strcmp(s, "wg") == 0) {
        rt_waitgroup wg = {0};
        rt_waitgroup_add(&wg, 1);
        rt_waitgroup_done(&wg);
        rt_waitgroup_done(&wg);
    }
    abort(); /* not reached */
}

static int scenario_main(int argc, char **argv)
{
    /* goroutine 1 waits on a channel while another goroutine misuses; one
     * P, so that goroutine 1 has parked (else its traceback is "running on
     * other thread", as in Go) */
    rt_maxprocs(1);
    rt_go(misuse, argv[argc - 1]);
    if (rt_chan_recv(rt_chan_make(0, 0), NULL))
        abort();
    return 0;
}

START_TEST(test_misuse_in_goroutine_is_fatal_with_tracebacks)
{
    static const char *const cases[][2] = {
        {"unlock", "sync: unlock of unlocked mutex"},
        {"runlock", "sync: RUnlock of unlocked RWMutex"},
        {"wg", "sync: negative WaitGroup counter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the culprit first, running, in misuse(), then goroutine 1 */
        expect_fatal_with(cases[i][0], cases[i][1], " [running]:\nmisuse(...)\n");
        expect_fatal_with(cases[i][0], cases[i][1],
                          "\n\ngoroutine 1 [chan receive]:\nscenario_main(...)\n");
    }
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("conformance_sync");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mutex_is_not_owned);
    tcase_add_test(tc, test_cond_wait_returns_with_lock_held);
    tcase_add_test(tc, test_nested_once);
    tcase_add_test(tc, test_pool_empty_new_and_collected);
    tcase_add_test(tc, test_misuse_in_goroutine_is_fatal_with_tracebacks);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
