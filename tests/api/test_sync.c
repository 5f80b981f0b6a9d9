/*
 * tests/api/test_sync.c -- the sync primitives through rt.h alone: mutual
 * exclusion under contention, the mutex's starvation mode, trylock,
 * RWMutex sharing / exclusion / writer preference, WaitGroup wait and
 * reuse, Cond signal order and broadcast, Once under contention, Pool, and
 * the fatal errors (in child processes re-executing this binary).
 *
 * Each test runs its body as goroutine 1 under rt_main in the process
 * Check forks for it.  Tests about ordering set MAXPROCS to 1, where the
 * scheduler is deterministic enough that "the other goroutine has
 * blocked by now" is a fact after a few yields; the contention tests use
 * several Ps.  Nothing asserts on time; the one statistical test (mutex
 * fairness) counts iterations with a bound two orders of magnitude loose.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"
#include "harness.h"

/* ------------------------------------------------------------ harness -- */


static void yield_n(int n)
{
    for (int i = 0; i < n; i++)
        rt_yield();
}

/* Waits until *v reaches want: yields first, then naps.  The bound (at
 * least 20 s of naps) turns a lost wake-up into a failure, not a hang; it
 * is not a timing assertion. */
static void wait_for(_Atomic int *v, int want)
{
    for (long i = 0; atomic_load(v) < want; i++) {
        ck_assert_msg(i < 201000, "waited too long for %d (at %d)", want,
                      atomic_load(v));
        if (i < 1000)
            rt_yield();
        else
            rt_sleep(100 * RT_MICROSECOND);
    }
}

/* --------------------------------------------------------------- mutex -- */

typedef struct {
    rt_mutex mu;
    long counter;       /* under mu */
    _Atomic int inside; /* goroutines between lock and unlock */
    _Atomic int done;
    int iters;
} excl_arg;

static void excl_worker(void *p)
{
    excl_arg *a = p;
    for (int i = 0; i < a->iters; i++) {
        rt_mutex_lock(&a->mu);
        ck_assert_int_eq(atomic_fetch_add(&a->inside, 1), 0);
        long c = a->counter;
        if (i % 16 == 0)
            rt_yield(); /* hold the lock across a reschedule sometimes */
        a->counter = c + 1;
        atomic_fetch_sub(&a->inside, 1);
        rt_mutex_unlock(&a->mu);
    }
    atomic_fetch_add(&a->done, 1);
}

static void mutex_exclusion(int procs)
{
    rt_maxprocs(procs);
    static excl_arg a;
    memset(&a, 0, sizeof a);
    a.iters = 3000;
    const int n = 40;
    for (int i = 0; i < n; i++)
        ck_assert_int_gt(rt_go(excl_worker, &a), 0);
    wait_for(&a.done, n);
    ck_assert_int_eq(a.counter, (long)n * a.iters);
    /* unlocked, no waiters, no flags */
    ck_assert_int_eq(__atomic_load_n(&a.mu.state_, __ATOMIC_SEQ_CST), 0);
    ck_assert_uint_eq(__atomic_load_n(&a.mu.sema_, __ATOMIC_SEQ_CST), 0);
}

RT_TEST(test_mutex_exclusion_1p) { mutex_exclusion(1); }
RT_TEST(test_mutex_exclusion_4p) { mutex_exclusion(4); }

/* Zero value and static storage are ready to use. */
static rt_mutex static_mu;

RT_TEST(test_mutex_zero_value)
{
    rt_mutex mu = {0};
    rt_mutex_lock(&mu);
    rt_mutex_unlock(&mu);
    rt_mutex_lock(&static_mu);
    rt_mutex_unlock(&static_mu);
    ck_assert(rt_mutex_trylock(&mu));
    rt_mutex_unlock(&mu);
}

typedef struct {
    rt_mutex *mu;
    _Atomic int result; /* 0 not run, 1 true, 2 false */
} try_arg;

static void try_other(void *p)
{
    try_arg *a = p;
    bool ok = rt_mutex_trylock(a->mu);
    if (ok)
        rt_mutex_unlock(a->mu);
    atomic_store(&a->result, ok ? 1 : 2);
}

RT_TEST(test_mutex_trylock)
{
    rt_mutex mu = {0};
    ck_assert(rt_mutex_trylock(&mu));
    ck_assert(!rt_mutex_trylock(&mu));
    try_arg a = {&mu, 0};
    rt_go(try_other, &a);
    wait_for(&a.result, 1);
    ck_assert_int_eq(atomic_load(&a.result), 2); /* held by us */
    rt_mutex_unlock(&mu);
    atomic_store(&a.result, 0);
    rt_go(try_other, &a);
    wait_for(&a.result, 1);
    ck_assert_int_eq(atomic_load(&a.result), 1);
    ck_assert(rt_mutex_trylock(&mu));
    rt_mutex_unlock(&mu);
}

/*
 * Starvation mode, deterministically (MAXPROCS=1): a waiter queues while
 * we hold the lock for 5 ms.  We unlock and at once lock again (barging:
 * in normal mode the newcomer wins) and yield; the woken waiter finds the
 * lock taken after waiting > 1 ms and switches the mutex to starvation
 * mode.  From then our unlock hands the lock to the waiter, so it gets it
 * before our next lock.  A mutex without starvation mode lets us win
 * again: the log would read "MW".
 */
typedef struct {
    rt_mutex mu;
    char log[8];
    _Atomic int n;
} starve_arg;

static void starve_waiter(void *p)
{
    starve_arg *a = p;
    rt_mutex_lock(&a->mu);
    a->log[atomic_fetch_add(&a->n, 1)] = 'W';
    rt_mutex_unlock(&a->mu);
}

RT_TEST(test_mutex_starvation_handoff)
{
    rt_maxprocs(1);
    static starve_arg a;
    memset(&a, 0, sizeof a);
    rt_mutex_lock(&a.mu);
    rt_go(starve_waiter, &a);
    rt_sleep(5 * RT_MILLISECOND); /* the waiter queues and waits > 1 ms */
    rt_mutex_unlock(&a.mu);       /* wakes it (normal mode) */
    rt_mutex_lock(&a.mu);         /* we barge in before it runs */
    ck_assert_int_eq(atomic_load(&a.n), 0);
    rt_yield(); /* it runs, loses, starves: starvation mode, re-queued */
    ck_assert_int_eq(atomic_load(&a.n), 0);
    /* mutexStarving */
    ck_assert_int_ne(__atomic_load_n(&a.mu.state_, __ATOMIC_SEQ_CST) & 4, 0);
    rt_mutex_unlock(&a.mu); /* hands off to the waiter */
    rt_mutex_lock(&a.mu);
    a.log[atomic_fetch_add(&a.n, 1)] = 'M';
    rt_mutex_unlock(&a.mu);
    ck_assert_str_eq(a.log, "WM");
    /* back to normal mode, free */
    ck_assert_int_eq(__atomic_load_n(&a.mu.state_, __ATOMIC_SEQ_CST), 0);
}

/*
 * Fairness, statistically (Go's TestMutexFairness), on several Ps: a hog
 * re-locks the mutex in a loop holding it across a 100 us sleep; another
 * goroutine wants it 10 times.  With starvation mode it gets through within
 * a few ms per acquisition, i.e. tens to hundreds of hog iterations; the
 * bound is 20000 (2 s of hogging at least).
 */
typedef struct {
    rt_mutex mu;
    _Atomic int stop, hog_iters, done;
} fair_arg;

static void fair_hog(void *p)
{
    fair_arg *a = p;
    while (!atomic_load(&a->stop)) {
        rt_mutex_lock(&a->mu);
        rt_sleep(100 * RT_MICROSECOND);
        rt_mutex_unlock(&a->mu);
        atomic_fetch_add(&a->hog_iters, 1);
    }
    atomic_fetch_add(&a->done, 1);
}

static void fair_other(void *p)
{
    fair_arg *a = p;
    for (int i = 0; i < 10; i++) {
        rt_sleep(100 * RT_MICROSECOND);
        rt_mutex_lock(&a->mu);
        rt_mutex_unlock(&a->mu);
    }
    atomic_store(&a->stop, 1);
    atomic_fetch_add(&a->done, 1);
}

RT_TEST(test_mutex_fairness)
{
    rt_maxprocs(2);
    static fair_arg a;
    rt_go(fair_hog, &a);
    rt_go(fair_other, &a);
    while (atomic_load(&a.done) < 2) {
        ck_assert_msg(atomic_load(&a.hog_iters) < 20000,
                      "mutex starved a waiter for %d hog iterations",
                      atomic_load(&a.hog_iters));
        rt_sleep(RT_MILLISECOND);
    }
}

/* ------------------------------------------------------------- rwmutex -- */

typedef struct {
    rt_rwmutex rw;
    _Atomic int got;
    _Atomic int n;
    char log[8];
} rw_arg;

static void rw_reader(void *p)
{
    rw_arg *a = p;
    rt_rwmutex_rlock(&a->rw);
    a->log[atomic_fetch_add(&a->n, 1)] = 'R';
    atomic_fetch_add(&a->got, 1);
    rt_rwmutex_runlock(&a->rw);
}

static void rw_writer(void *p)
{
    rw_arg *a = p;
    rt_rwmutex_lock(&a->rw);
    a->log[atomic_fetch_add(&a->n, 1)] = 'W';
    atomic_fetch_add(&a->got, 1);
    rt_rwmutex_unlock(&a->rw);
}

RT_TEST(test_rwmutex_readers_share)
{
    static rw_arg a;
    rt_rwmutex_rlock(&a.rw);
    rt_rwmutex_rlock(&a.rw); /* recursive read locking is allowed */
    rt_go(rw_reader, &a);
    wait_for(&a.got, 1); /* a reader gets in while we hold two */
    rt_rwmutex_runlock(&a.rw);
    rt_rwmutex_runlock(&a.rw);
    rt_rwmutex_lock(&a.rw);
    rt_rwmutex_unlock(&a.rw);
    ck_assert_int_eq(__atomic_load_n(&a.rw.reader_count_, __ATOMIC_SEQ_CST), 0);
    ck_assert_int_eq(__atomic_load_n(&a.rw.reader_wait_, __ATOMIC_SEQ_CST), 0);
}

RT_TEST(test_rwmutex_writer_excludes)
{
    rt_maxprocs(1);
    static rw_arg a;
    /* A reader holds it: the writer waits. */
    rt_rwmutex_rlock(&a.rw);
    rt_go(rw_writer, &a);
    yield_n(100);
    ck_assert_int_eq(atomic_load(&a.got), 0);
    rt_rwmutex_runlock(&a.rw); /* the last reader wakes the writer */
    wait_for(&a.got, 1);
    /* A writer holds it: readers and writers wait. */
    rt_rwmutex_lock(&a.rw);
    rt_go(rw_reader, &a);
    rt_go(rw_writer, &a);
    yield_n(100);
    ck_assert_int_eq(atomic_load(&a.got), 1);
    rt_rwmutex_unlock(&a.rw);
    wait_for(&a.got, 3);
}

/*
 * Writer preference: with a reader inside and a writer waiting, a new
 * reader must wait too (behind the writer), although the lock is only
 * read-held.  Then: the writer goes first, the new reader after it.
 */
RT_TEST(test_rwmutex_writer_preference)
{
    rt_maxprocs(1);
    static rw_arg a;
    rt_rwmutex_rlock(&a.rw);
    rt_go(rw_writer, &a);
    yield_n(100); /* the writer is blocked waiting for us */
    rt_go(rw_reader, &a);
    yield_n(100);
    ck_assert_int_eq(atomic_load(&a.got), 0); /* the new reader waits too */
    rt_rwmutex_runlock(&a.rw);
    wait_for(&a.got, 2);
    ck_assert_str_eq(a.log, "WR");
    ck_assert_int_eq(__atomic_load_n(&a.rw.reader_count_, __ATOMIC_SEQ_CST), 0);
}

/*
 * Goroutines that never block but keep calling the runtime -- readers
 * taking the lock in a loop -- yield to waiting goroutines after ~10 ms
 * (sysmon's preemption request, sched.h): a writer and a sleeper that
 * wakes get their turn.  Without it both waited for ever at MAXPROCS 1
 * and 2 (every P busy with a reader).
 */
typedef struct {
    rt_rwmutex rw;
    _Atomic int stop;
    _Atomic long reads;
    rt_waitgroup wg;
} spin_arg;

static void spin_reader(void *p)
{
    spin_arg *a = p;
    while (!atomic_load(&a->stop)) {
        rt_rwmutex_rlock(&a->rw);
        atomic_fetch_add(&a->reads, 1);
        rt_rwmutex_runlock(&a->rw);
    }
    rt_waitgroup_done(&a->wg);
}

static void spin_writer(void *p)
{
    spin_arg *a = p;
    rt_rwmutex_lock(&a->rw);
    atomic_store(&a->stop, 1);
    rt_rwmutex_unlock(&a->rw);
    rt_waitgroup_done(&a->wg);
}

RT_TEST(test_busy_readers_yield_to_waiting_goroutines)
{
    for (int procs = 1; procs <= 2; procs++) {
        int old = rt_maxprocs(procs);
        static spin_arg a;
        memset(&a, 0, sizeof a);
        rt_waitgroup_add(&a.wg, procs + 1);
        for (int i = 0; i < procs; i++)
            rt_go(spin_reader, &a);
        rt_sleep(RT_MILLISECOND); /* a timer on a busy P: wakes only if
                                   * a reader yields */
        rt_go(spin_writer, &a); /* runnable behind busy readers */
        rt_waitgroup_wait(&a.wg);
        ck_assert_int_eq(atomic_load(&a.stop), 1);
        ck_assert_int_gt(atomic_load(&a.reads), 0);
        rt_maxprocs(old);
    }
}

/* ----------------------------------------------------------- waitgroup -- */

typedef struct {
    rt_waitgroup *wg;
    _Atomic int *count;
    int sleep_us;
} wg_arg;

static void wg_worker(void *p)
{
    wg_arg *a = p;
    if (a->sleep_us)
        rt_sleep(a->sleep_us * RT_MICROSECOND);
    else
        rt_yield();
    atomic_fetch_add(a->count, 1);
    rt_waitgroup_done(a->wg);
}

RT_TEST(test_waitgroup_wait_and_reuse)
{
    rt_waitgroup wg = {0};
    rt_waitgroup_wait(&wg); /* zero counter: returns at once */
    _Atomic int count = 0;
    wg_arg args[50];
    for (int round = 0; round < 10; round++) {
        atomic_store(&count, 0);
        rt_waitgroup_add(&wg, 50);
        for (int i = 0; i < 50; i++) {
            args[i] = (wg_arg){&wg, &count, (i * 37 + round) % 5 * 100};
            ck_assert_int_gt(rt_go(wg_worker, &args[i]), 0);
        }
        rt_waitgroup_wait(&wg);
        ck_assert_int_eq(atomic_load(&count), 50);
        /* reset, ready for reuse */
        ck_assert_uint_eq(__atomic_load_n(&wg.state_, __ATOMIC_SEQ_CST), 0);
    }
}

typedef struct {
    rt_waitgroup *wg;
    _Atomic int *released;
} wg_waiter_arg;

static void wg_waiter(void *p)
{
    wg_waiter_arg *a = p;
    rt_waitgroup_wait(a->wg);
    atomic_fetch_add(a->released, 1);
}

RT_TEST(test_waitgroup_many_waiters)
{
    rt_maxprocs(2);
    rt_waitgroup wg = {0};
    _Atomic int released = 0;
    wg_waiter_arg wa = {&wg, &released};
    rt_waitgroup_add(&wg, 3);
    for (int i = 0; i < 20; i++)
        rt_go(wg_waiter, &wa);
    yield_n(50);
    ck_assert_int_eq(atomic_load(&released), 0);
    rt_waitgroup_done(&wg);
    rt_waitgroup_add(&wg, -1);
    yield_n(50);
    ck_assert_int_eq(atomic_load(&released), 0);
    rt_waitgroup_done(&wg);
    wait_for(&released, 20);
}

/* ---------------------------------------------------------------- cond -- */

typedef struct {
    rt_mutex mu;
    rt_cond cond;
    int arrived;     /* under mu */
    int tokens;      /* under mu */
    bool go;         /* under mu */
    int woke[16];    /* under mu: arrival index of each woken waiter */
    _Atomic int nwoke;
} cond_arg;

static void cond_token_waiter(void *p)
{
    cond_arg *a = p;
    rt_mutex_lock(&a->mu);
    int me = a->arrived++;
    while (a->tokens == 0)
        rt_cond_wait(&a->cond);
    a->tokens--;
    a->woke[atomic_load(&a->nwoke)] = me;
    atomic_fetch_add(&a->nwoke, 1);
    rt_mutex_unlock(&a->mu);
}

static void wait_arrived(cond_arg *a, int n)
{
    for (;;) {
        rt_mutex_lock(&a->mu);
        int k = a->arrived;
        rt_mutex_unlock(&a->mu);
        if (k == n)
            return;
        rt_yield();
    }
}

/* Signal wakes the oldest waiter: one token at a time, the waiters get
 * them in arrival order. */
RT_TEST(test_cond_signal_order)
{
    rt_maxprocs(2);
    static cond_arg a;
    rt_cond_init(&a.cond, &a.mu);
    const int n = 8;
    for (int i = 0; i < n; i++) {
        rt_go(cond_token_waiter, &a);
        wait_arrived(&a, i + 1); /* arrival order == ticket order */
    }
    yield_n(20);
    ck_assert_int_eq(atomic_load(&a.nwoke), 0);
    for (int i = 0; i < n; i++) {
        rt_mutex_lock(&a.mu);
        a.tokens++;
        rt_cond_signal(&a.cond);
        rt_mutex_unlock(&a.mu);
        wait_for(&a.nwoke, i + 1);
        ck_assert_int_eq(a.woke[i], i);
    }
    rt_cond_signal(&a.cond); /* no waiters: a no-op */
}

static void cond_go_waiter(void *p)
{
    cond_arg *a = p;
    rt_mutex_lock(&a->mu);
    a->arrived++;
    while (!a->go)
        rt_cond_wait(&a->cond);
    atomic_fetch_add(&a->nwoke, 1);
    rt_mutex_unlock(&a->mu);
}

RT_TEST(test_cond_broadcast)
{
    rt_maxprocs(2);
    static cond_arg a;
    rt_cond_init(&a.cond, &a.mu);
    /* A signal with nobody waiting is not remembered. */
    rt_cond_signal(&a.cond);
    rt_cond_broadcast(&a.cond);
    const int n = 12;
    for (int i = 0; i < n; i++)
        rt_go(cond_go_waiter, &a);
    wait_arrived(&a, n);
    yield_n(50);
    ck_assert_int_eq(atomic_load(&a.nwoke), 0);
    /* A spurious-looking signal wakes one, which goes back to waiting. */
    rt_cond_signal(&a.cond);
    yield_n(50);
    ck_assert_int_eq(atomic_load(&a.nwoke), 0);
    rt_mutex_lock(&a.mu);
    a.go = true;
    rt_cond_broadcast(&a.cond);
    rt_mutex_unlock(&a.mu);
    wait_for(&a.nwoke, n);
}

/* ---------------------------------------------------------------- once -- */

static rt_once once;
static _Atomic int once_calls, once_finished, once_returned;

static void once_fn(void)
{
    atomic_fetch_add(&once_calls, 1);
    rt_sleep(2 * RT_MILLISECOND); /* park: the others pile up on the once */
    atomic_store(&once_finished, 1);
}

static void once_caller(void *p)
{
    (void)p;
    rt_once_do(&once, once_fn);
    /* Nobody returns before fn has returned. */
    ck_assert_int_eq(atomic_load(&once_finished), 1);
    ck_assert_int_eq(atomic_load(&once_calls), 1);
    atomic_fetch_add(&once_returned, 1);
}

RT_TEST(test_once_contention)
{
    rt_maxprocs(4);
    const int n = 50;
    for (int i = 0; i < n; i++)
        rt_go(once_caller, NULL);
    wait_for(&once_returned, n);
    rt_once_do(&once, once_fn);
    ck_assert_int_eq(atomic_load(&once_calls), 1);
}

/* rt_exit inside a once's function (Go: Goexit inside f) leaves the once
 * done and unlocked, nested onces too: later callers return at once. */
static rt_once outer_once, inner_once;
static _Atomic int outer_calls, inner_calls, exit_after;

static void inner_fn(void)
{
    atomic_fetch_add(&inner_calls, 1);
    rt_exit();
}

static void outer_fn(void)
{
    atomic_fetch_add(&outer_calls, 1);
    rt_once_do(&inner_once, inner_fn);
    atomic_store(&exit_after, 1); /* not reached */
}

static void once_exiter(void *done)
{
    rt_once_do(&outer_once, outer_fn);
    atomic_store(&exit_after, 1); /* not reached */
    rt_chan_close(done);
}

RT_TEST(test_once_goexit)
{
    rt_chan *done = rt_chan_make(0, 0);
    rt_go(once_exiter, done);
    WAIT_UNTIL(atomic_load(&inner_calls) == 1 && rt_num_goroutine() == 1);
    rt_once_do(&outer_once, outer_fn);
    rt_once_do(&inner_once, inner_fn);
    ck_assert_int_eq(atomic_load(&outer_calls), 1);
    ck_assert_int_eq(atomic_load(&inner_calls), 1);
    ck_assert_int_eq(atomic_load(&exit_after), 0);
    ck_assert_int_eq(rt_chan_try_recv(done, NULL), -EAGAIN); /* never closed */
}

/* ---------------------------------------------------------------- pool -- */

static _Atomic int pool_news;

static void *pool_new(void)
{
    atomic_fetch_add(&pool_news, 1);
    return malloc(64);
}

static rt_pool plain_pool;
static rt_pool new_pool = {.new_fn = pool_new};

RT_TEST(test_pool_get_put)
{
    rt_maxprocs(1);
    static int objs[100];
    ck_assert_ptr_null(rt_pool_get(&plain_pool)); /* empty, no new_fn */
    rt_pool_put(&plain_pool, NULL);               /* ignored */
    ck_assert_ptr_null(rt_pool_get(&plain_pool));
    rt_pool_put(&plain_pool, &objs[0]);
    ck_assert_ptr_eq(rt_pool_get(&plain_pool), &objs[0]);
    ck_assert_ptr_null(rt_pool_get(&plain_pool));

    /* Many objects: each comes back at most once, none invented. */
    for (int i = 0; i < 100; i++)
        rt_pool_put(&plain_pool, &objs[i]);
    bool seen[100] = {0};
    int got = 0;
    void *x;
    while ((x = rt_pool_get(&plain_pool)) != NULL) {
        int i = (int)((int *)x - objs);
        ck_assert(i >= 0 && i < 100);
        ck_assert(!seen[i]);
        seen[i] = true;
        got++;
    }
    /* Until a collection, what was put comes back (as Go's pools). */
    ck_assert_int_eq(got, 100);
    ck_assert(seen[0]); /* the first put went to the private slot */
}

/* 10,000 objects put by one goroutine all come back, and a
 * collection empties the pool (and gives its grown ring back; the next
 * puts grow it again).  The shared ring held 32: 1,000 puts gave back 33
 * (an outside tester's find; Go's sync.Pool gives back all of them). */
RT_TEST(test_pool_keeps_what_it_is_given)
{
    enum { N = 10000 };
    static rt_pool pool;
    static int objs[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++)
            rt_pool_put(&pool, &objs[i]);
        static bool seen[N];
        memset(seen, 0, sizeof seen);
        int got = 0;
        void *x;
        while ((x = rt_pool_get(&pool)) != NULL) {
            int i = (int)((int *)x - objs);
            ck_assert(i >= 0 && i < N);
            ck_assert(!seen[i]);
            seen[i] = true;
            got++;
        }
        ck_assert_int_eq(got, N);
        for (int i = 0; i < N; i++)
            rt_pool_put(&pool, &objs[i]);
        rt_gc();
        ck_assert_ptr_null(rt_pool_get(&pool));
    }
}

RT_TEST(test_pool_new_fn)
{
    void *a = rt_pool_get(&new_pool);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(atomic_load(&pool_news), 1);
    rt_pool_put(&new_pool, a);
    ck_assert_ptr_eq(rt_pool_get(&new_pool), a); /* reused, no new */
    ck_assert_int_eq(atomic_load(&pool_news), 1);
    void *b = rt_pool_get(&new_pool); /* empty again: new_fn */
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(atomic_load(&pool_news), 2);
    free(a);
    free(b);
}

/* -------------------------------------------------------- fatal errors -- */

static void runlock_it(void *p)
{
    rt_rwmutex_runlock(p);
}

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    if (strcmp(s, "mutex-unlock-unlocked") == 0) {
        rt_mutex mu = {0};
        rt_mutex_unlock(&mu);
    } else if (strcmp(s, "mutex-double-unlock") == 0) {
        rt_mutex mu = {0};
        rt_mutex_lock(&mu);
        rt_mutex_unlock(&mu);
        rt_mutex_unlock(&mu);
    } else if (strcmp(s, "rwmutex-runlock-unlocked") == 0) {
        rt_rwmutex rw = {0};
        rt_rwmutex_runlock(&rw);
    } else if (strcmp(s, "rwmutex-runlock-write-locked") == 0) {
        static rt_rwmutex rw;
        rt_rwmutex_lock(&rw);
        rt_go(runlock_it, &rw);
        for (;;)
            rt_yield();
    } else if (strcmp(s, "rwmutex-unlock-unlocked") == 0) {
        rt_rwmutex rw = {0};
        rt_rwmutex_unlock(&rw);
    } else if (strcmp(s, "rwmutex-unlock-read-locked") == 0) {
        rt_rwmutex rw = {0};
        rt_rwmutex_rlock(&rw);
        rt_rwmutex_unlock(&rw);
    } else if (strcmp(s, "waitgroup-negative") == 0) {
        rt_waitgroup wg = {0};
        rt_waitgroup_add(&wg, 1);
        rt_waitgroup_done(&wg);
        rt_waitgroup_done(&wg);
    }
    return 0;
}

START_TEST(test_fatal_mutex)
{
    expect_fatal("mutex-unlock-unlocked", "sync: unlock of unlocked mutex");
    expect_fatal("mutex-double-unlock", "sync: unlock of unlocked mutex");
}
END_TEST

START_TEST(test_fatal_rwmutex)
{
    expect_fatal("rwmutex-runlock-unlocked",
                 "sync: RUnlock of unlocked RWMutex");
    expect_fatal("rwmutex-runlock-write-locked",
                 "sync: RUnlock of unlocked RWMutex");
    expect_fatal("rwmutex-unlock-unlocked", "sync: Unlock of unlocked RWMutex");
    expect_fatal("rwmutex-unlock-read-locked",
                 "sync: Unlock of unlocked RWMutex");
}
END_TEST

START_TEST(test_fatal_waitgroup)
{
    expect_fatal("waitgroup-negative", "sync: negative WaitGroup counter");
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("sync");
    tcase_add_test(tc, test_mutex_exclusion_1p);
    tcase_add_test(tc, test_mutex_exclusion_4p);
    tcase_add_test(tc, test_mutex_zero_value);
    tcase_add_test(tc, test_mutex_trylock);
    tcase_add_test(tc, test_mutex_starvation_handoff);
    tcase_add_test(tc, test_mutex_fairness);
    tcase_add_test(tc, test_rwmutex_readers_share);
    tcase_add_test(tc, test_rwmutex_writer_excludes);
    tcase_add_test(tc, test_rwmutex_writer_preference);
    tcase_add_test(tc, test_busy_readers_yield_to_waiting_goroutines);
    tcase_add_test(tc, test_waitgroup_wait_and_reuse);
    tcase_add_test(tc, test_waitgroup_many_waiters);
    tcase_add_test(tc, test_cond_signal_order);
    tcase_add_test(tc, test_cond_broadcast);
    tcase_add_test(tc, test_once_contention);
    tcase_add_test(tc, test_once_goexit);
    tcase_add_test(tc, test_pool_get_put);
    tcase_add_test(tc, test_pool_keeps_what_it_is_given);
    tcase_add_test(tc, test_pool_new_fn);
    tcase_add_test(tc, test_fatal_mutex);
    tcase_add_test(tc, test_fatal_rwmutex);
    tcase_add_test(tc, test_fatal_waitgroup);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
