/*
 * tests/sched/test_sync.c -- the internals of sched/sync.c that rt.h
 * cannot reach: rt_pool's per-P caches (stealing from another P, the
 * array growing when MAXPROCS rises, rt__pool_clear_all under a stopped
 * world, use from a thread that is not running goroutines), and the
 * ordering guarantees of rt_rwmutex and rt_mutex on several Ps, where
 * rt__sema_waiters tells for certain that a goroutine is queued.
 *
 * Bodies run as goroutine 1 under rt_main in the process Check forks for
 * each test.  No timing assertions.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "harness.h"

/* ------------------------------------------------------------ harness -- */


static int32_t my_pid(void)
{
    return rt__getm()->p->id;
}

/*
 * Runs fn(arg) in a new goroutine on a P other than the caller's.  We
 * keep our P busy, without a scheduling point, until it is done, so that
 * an idle P steals it from our queue (the goroutine still checks, and
 * yields while it finds itself on our P).  We yielded every 200 us once:
 * a yield at MAXPROCS > 1 queues the yielder globally and wakes an idle
 * P, which could take *us* -- then the goroutine, alone on the P it had
 * to avoid, found nothing else to run at each yield and stayed there,
 * and we spun on the other P: "no other P ran the goroutine" after 20 s
 * (CI, twice, release and ASan).
 */
typedef struct {
    void (*fn)(void *);
    void *arg;
    int32_t avoid;
    _Atomic int done;
} elsewhere_arg;

static void elsewhere_tramp(void *p)
{
    elsewhere_arg *a = p;
    while (my_pid() == a->avoid)
        rt_yield();
    a->fn(a->arg);
    atomic_store(&a->done, 1);
}

static void run_elsewhere(void (*fn)(void *), void *arg)
{
    elsewhere_arg a = {fn, arg, my_pid(), 0};
    ck_assert_int_gt(rt_go(elsewhere_tramp, &a), 0);
    int64_t give_up = rt_nanotime() + 20 * RT_SECOND;
    while (!atomic_load(&a.done))
        ck_assert_msg(rt_nanotime() < give_up, "no other P ran the goroutine");
}

/* ---------------------------------------------------------------- pool -- */

static int objs[64];

static rt_pool steal_pool;
static void *stolen;

static void steal_get(void *p)
{
    (void)p;
    stolen = rt_pool_get(&steal_pool);
}

RT_TEST(test_pool_steal)
{
    rt_maxprocs(2);
    /* Ours: objs[0] in the private slot, objs[1..10] in the shared ring. */
    for (int i = 0; i <= 10; i++)
        rt_pool_put(&steal_pool, &objs[i]);
    /* Another P has nothing of its own: it steals our oldest shared one;
     * the private slot is not stealable. */
    run_elsewhere(steal_get, NULL);
    ck_assert_ptr_eq(stolen, &objs[1]);
    /* We get the private one, then the newest of our ring. */
    ck_assert_ptr_eq(rt_pool_get(&steal_pool), &objs[0]);
    ck_assert_ptr_eq(rt_pool_get(&steal_pool), &objs[10]);
    ck_assert_ptr_eq(rt_pool_get(&steal_pool), &objs[9]);
}

static rt_pool grow_pool;
static void *grow_got;
static int32_t grow_pid;

static void grow_put_get(void *p)
{
    grow_pid = my_pid();
    rt_pool_put(&grow_pool, p);
    grow_got = rt_pool_get(&grow_pool);
}

RT_TEST(test_pool_grows_with_maxprocs)
{
    rt_maxprocs(1);
    rt_pool_put(&grow_pool, &objs[0]); /* the array is sized for one P */
    ck_assert_ptr_nonnull(grow_pool.local_);
    void *first = grow_pool.local_;
    rt_maxprocs(4);
    /* A P beyond the array: a new array replaces it (the old one, with
     * objs[0], is retired until the next clear). */
    run_elsewhere(grow_put_get, &objs[1]);
    ck_assert_int_ge(grow_pid, 1);
    ck_assert_ptr_eq(grow_got, &objs[1]);
    ck_assert_ptr_ne(grow_pool.local_, first);
    /* objs[0] went with the old array: dropped, as a pool may. */
    ck_assert_ptr_null(rt_pool_get(&grow_pool));
    rt_pool_put(&grow_pool, &objs[2]);
    ck_assert_ptr_eq(rt_pool_get(&grow_pool), &objs[2]);
    /* The clear frees the retired array (ASan builds check that). */
    rt__stop_the_world("test");
    rt__pool_clear_all();
    rt__start_the_world();
    ck_assert_ptr_null(rt_pool_get(&grow_pool));
}

static _Atomic int news;
static void *new_obj(void)
{
    atomic_fetch_add(&news, 1);
    return &objs[63];
}
static rt_pool clear_a, clear_b = {.new_fn = new_obj};

RT_TEST(test_pool_clear_all)
{
    rt_maxprocs(2);
    for (int i = 0; i < 20; i++) {
        rt_pool_put(&clear_a, &objs[i]);
        rt_pool_put(&clear_b, &objs[20 + i]);
    }
    rt__stop_the_world("test");
    rt__pool_clear_all();
    rt__start_the_world();
    /* Everything dropped, in every registered pool. */
    ck_assert_ptr_null(rt_pool_get(&clear_a));
    ck_assert_ptr_eq(rt_pool_get(&clear_b), &objs[63]);
    ck_assert_int_eq(atomic_load(&news), 1);
    /* And they work as before afterwards. */
    rt_pool_put(&clear_a, &objs[5]);
    ck_assert_ptr_eq(rt_pool_get(&clear_a), &objs[5]);
}

static rt_pool thread_pool;
static void *thread_result = (void *)1;

static void *plain_thread(void *arg)
{
    (void)arg;
    rt_pool_put(&thread_pool, &objs[7]); /* no P: dropped */
    thread_result = rt_pool_get(&thread_pool);
    return NULL;
}

RT_TEST(test_pool_outside_goroutines)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, plain_thread, NULL), 0);
    ck_assert_int_eq(RT_BLOCKING(pthread_join(t, NULL)), 0);
    ck_assert_ptr_null(thread_result);
    ck_assert_ptr_null(thread_pool.local_); /* never made */
}

/* ------------------------------------------------------------- rwmutex -- */

static rt_rwmutex rw;
static char rw_log[8];
static _Atomic int rw_claim, rw_n; /* log slots taken / written */

static void rw_note(char c)
{
    rw_log[atomic_fetch_add(&rw_claim, 1)] = c;
    atomic_fetch_add(&rw_n, 1);
}

static void rw_writer(void *p)
{
    (void)p;
    rt_rwmutex_lock(&rw);
    rw_note('W');
    rt_rwmutex_unlock(&rw);
}

static void rw_reader(void *p)
{
    (void)p;
    rt_rwmutex_rlock(&rw);
    rw_note('R');
    rt_rwmutex_runlock(&rw);
}

/* Writer preference on several Ps: the writer is queued on writer_sem_ for
 * certain, and then a new reader queues on reader_sem_ although only a
 * reader holds the lock. */
RT_TEST(test_rwmutex_writer_preference_mp)
{
    rt_maxprocs(4);
    rt_rwmutex_rlock(&rw);
    rt_go(rw_writer, NULL);
    WAIT_UNTIL(rt__sema_waiters(&rw.writer_sem_) == 1);
    /* new readers are kept out */
    ck_assert_int_lt(__atomic_load_n(&rw.reader_count_, __ATOMIC_SEQ_CST), 0);
    for (int i = 0; i < 3; i++)
        rt_go(rw_reader, NULL);
    WAIT_UNTIL(rt__sema_waiters(&rw.reader_sem_) == 3);
    ck_assert_int_eq(atomic_load(&rw_n), 0);
    rt_rwmutex_runlock(&rw);
    WAIT_UNTIL(atomic_load(&rw_n) == 4);
    ck_assert_str_eq(rw_log, "WRRR");
    ck_assert_int_eq(__atomic_load_n(&rw.reader_count_, __ATOMIC_SEQ_CST), 0);
    ck_assert_int_eq(__atomic_load_n(&rw.reader_wait_, __ATOMIC_SEQ_CST), 0);
    ck_assert_uint_eq(rt__sema_check(), 0);
}

/* --------------------------------------------------------------- mutex -- */

static rt_mutex fmu;
static int flog[16];
static int fclaim;      /* under fmu */
static _Atomic int fn_; /* entries written, counted after unlocking */

static void fifo_locker(void *p)
{
    rt_mutex_lock(&fmu);
    flog[fclaim++] = (int)(intptr_t)p;
    rt_mutex_unlock(&fmu);
    atomic_fetch_add(&fn_, 1);
}

/* Waiters are woken FIFO: with the lock held, queue 8 goroutines one after
 * the other (each certainly queued before the next starts), then unlock.
 * Nobody else wants the lock, so each woken waiter takes it, and its
 * unlock wakes the next: the log is the arrival order.  (They all waited
 * > 1 ms, so this also runs the starving waiter's plain-CAS path.) */
RT_TEST(test_mutex_waiters_fifo_mp)
{
    rt_maxprocs(4);
    rt_mutex_lock(&fmu);
    for (int i = 0; i < 8; i++) {
        rt_go(fifo_locker, (void *)(intptr_t)i);
        WAIT_UNTIL(rt__sema_waiters(&fmu.sema_) == (uint32_t)i + 1);
    }
    ck_assert_int_eq(__atomic_load_n(&fmu.state_, __ATOMIC_SEQ_CST) >> 3, 8);
    rt_sleep(2 * RT_MILLISECOND);
    rt_mutex_unlock(&fmu);
    WAIT_UNTIL(atomic_load(&fn_) == 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(flog[i], i);
    ck_assert_int_eq(__atomic_load_n(&fmu.state_, __ATOMIC_SEQ_CST), 0);
}

/* A waiter woken without the semaphore's count.  MAXPROCS=1: the waiter
 * queued more than 1 ms ago; this goroutine's unlock wakes it (into
 * runnext: it cannot run yet), this goroutine locks again and starts a
 * second locker (runnext now, the waiter goes to the ring), which finds
 * the mutex held, takes the count the unlock left for the waiter at its
 * first look at the semaphore, and queues (at the head: it waited).  The
 * waiter then runs and finds no count.  Queued again at the tail without
 * a look at the mutex (Go's semacquire), it never switched the mutex to
 * starvation mode and the second locker went first; under load, waiters
 * lost wake-up after wake-up this way for 0.1-1.7 s (an outside tester's
 * find).  Now it marks the mutex starving and queues at the head: the
 * next unlock hands it the lock. */
static rt_mutex smu;
static int sorder[2], sn; /* under smu */
static _Atomic int sdone;

static void starve_locker(void *p)
{
    rt_mutex_lock(&smu);
    sorder[sn++] = (int)(intptr_t)p;
    rt_mutex_unlock(&smu);
    atomic_fetch_add(&sdone, 1);
}

RT_TEST(test_mutex_waiter_woken_without_count_starves_it)
{
    int old = rt_maxprocs(1);
    rt_mutex_lock(&smu);
    rt_go(starve_locker, (void *)(intptr_t)1);
    WAIT_UNTIL(rt__sema_waiters(&smu.sema_) == 1);
    rt_sleep(2 * RT_MILLISECOND);
    rt_mutex_unlock(&smu); /* wakes the waiter (runnext) */
    ck_assert_int_eq(rt__sema_waiters(&smu.sema_), 0);
    rt_mutex_lock(&smu); /* WOKEN set, LOCKED clear: ours again */
    ck_assert_int_eq(__atomic_load_n(&smu.state_, __ATOMIC_SEQ_CST), 1 | 2);
    rt_go(starve_locker, (void *)(intptr_t)2);
    WAIT_UNTIL(rt__sema_waiters(&smu.sema_) == 2);
    int32_t st = __atomic_load_n(&smu.state_, __ATOMIC_SEQ_CST);
    ck_assert_msg(st == (1 | 4 | 2 << 3), "mutex state %#x, want locked, starving, 2 waiters",
                  (unsigned)st);
    rt_mutex_unlock(&smu);
    WAIT_UNTIL(atomic_load(&sdone) == 2);
    rt_maxprocs(old);
    ck_assert_int_eq(sorder[0], 1);
    ck_assert_int_eq(sorder[1], 2);
    ck_assert_int_eq(__atomic_load_n(&smu.state_, __ATOMIC_SEQ_CST), 0);
}

int main(void)
{
    Suite *s = suite_create("sync-internal");
    TCase *tc = tcase_create("sync-internal");
    tcase_add_test(tc, test_pool_steal);
    tcase_add_test(tc, test_pool_grows_with_maxprocs);
    tcase_add_test(tc, test_pool_clear_all);
    tcase_add_test(tc, test_pool_outside_goroutines);
    tcase_add_test(tc, test_rwmutex_writer_preference_mp);
    tcase_add_test(tc, test_mutex_waiters_fifo_mp);
    tcase_add_test(tc, test_mutex_waiter_woken_without_count_starves_it);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
