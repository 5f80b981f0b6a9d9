/*
 * tests/stress/stress_wake.c -- deferred wake-ups and their backstop
 * (sched/proc.c, "Waking an idle P"; sched/sysmon.c).  Run by CTest at
 * MAXPROCS 1, 2 and 4 (and under TSan and ASan in CI).
 *
 * A goroutine readied into runnext by a buffered channel's peer while it
 * is the only queued one does not wake an idle P: its waker will usually
 * block soon and run it on the same P.  If the waker never blocks, only
 * sysmon's backstop gets the readied goroutine to another P.  Each case
 * readies a goroutine in one way and then busy-waits *without any
 * scheduling point* for that goroutine to run and answer:
 *   - a buffered send (deferred): at MAXPROCS >= 2, without the backstop
 *     (or with one that misses a P, or a sysmon that sleeps through it)
 *     a round ends only by sysmon's 10 ms rescue of goroutines stuck behind
 *     C code, and the median round over 2 ms fails the test (checked:
 *     with the backstop's wakep removed, the median is ~10 ms); with no
 *     rescue at all, the busy-wait gives up after SPIN_LIMIT ("never ran");
 *   - an unbuffered send, a mutex unlock, rt_go (Go's wake-up): the same
 *     must hold, should deferring ever be extended to them.
 * Every 500th round first sleeps long enough for sysmon to back off to its
 * slow tick, when a ready must not defer (it wakes as before).  The
 * answer times are printed (p50, p99, max).
 * At MAXPROCS 1 there is no other P: the waiter yields instead, which
 * checks the same hand-offs on one P.
 *
 * Goroutines readied by a thread with no P (rt_file_pread's pool thread
 * puts its goroutine on the global queue) while every other goroutine is
 * parked and the Ms go idle: a spinning M that gives up its P must look at
 * the global queue once more after it stops counting as a spinner, or a
 * pool thread that saw it spinning wakes nobody and the goroutine waits
 * for ever (met once in CI; an injected 50 us delay in that window hung
 * this case at once).  Debug builds (RT_DEBUG 3, the ASan build) yield
 * in the window a quarter of the times to widen it.  A lost goroutine
 * would wait for sysmon's backstop (sysmon.c), which counts it: the case
 * requires the count to stay 0.
 */
#include <fcntl.h>
#include <unistd.h>
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"
#include "harness.h"
#include "sched/sched.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 400
#else
#define ROUNDS 3000
#endif
#define SPIN_LIMIT (10 * RT_SECOND)

enum { BUFFERED, UNBUFFERED, MUTEX, SPAWN };

static rt_chan *req;      /* the waiter's request channel */
static rt_mutex mu;
static _Atomic int answered;
static rt_waitgroup done;

/* Busy-waits for the answer: no scheduling point at MAXPROCS >= 2. */
static void await_answer(const char *how, int round)
{
    bool one = rt_maxprocs(0) == 1;
    int64_t start = rt_nanotime();
    while (!atomic_load_explicit(&answered, memory_order_acquire)) {
        if (one) {
            rt_yield();
            continue;
        }
        for (int i = 0; i < 64; i++)
            __asm__ volatile("" ::: "memory");
        if (rt_nanotime() - start > SPIN_LIMIT)
            ck_abort_msg("%s round %d: the readied goroutine never ran "
                         "(a deferred wake-up without a backstop)", how, round);
    }
    atomic_store_explicit(&answered, 0, memory_order_relaxed);
}

static void answer(void)
{
    atomic_store_explicit(&answered, 1, memory_order_release);
}

static _Atomic int receiving; /* the waiter is about to block in recv */

static void chan_waiter(void *arg)
{
    (void)arg;
    int v;
    for (;;) {
        atomic_store_explicit(&receiving, 1, memory_order_release);
        if (!rt_chan_recv(req, &v))
            break;
        answer();
    }
    rt_waitgroup_done(&done);
}

/* Busy-waits ns without a scheduling point. */
static void busy(int64_t ns)
{
    int64_t until = rt_nanotime() + ns;
    while (rt_nanotime() < until)
        __asm__ volatile("" ::: "memory");
}

static _Atomic int turn = -1; /* the round whose unlock is next */

static void mutex_waiter(void *arg)
{
    int rounds = (int)(intptr_t)arg;
    for (int i = 0; i < rounds; i++) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != i)
            rt_yield();
        rt_mutex_lock(&mu); /* parks: main holds it until its unlock */
        rt_mutex_unlock(&mu);
        answer();
    }
    rt_waitgroup_done(&done);
}

static void spawned(void *arg)
{
    (void)arg;
    answer();
}

/* Every 500th round, first give sysmon time to back off (its tick doubles
 * after 1 ms of nothing to do). */
static void maybe_idle(int round)
{
    if (round % 500 == 250)
        rt_sleep(30 * RT_MILLISECOND);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t lat[ROUNDS];

static void run(int how)
{
    const char *names[] = {"buffered", "unbuffered", "mutex", "spawn"};
    atomic_store(&answered, 0);
    if (how == BUFFERED || how == UNBUFFERED) {
        req = rt_chan_make(sizeof(int), how == BUFFERED ? 4 : 0);
        rt_waitgroup_add(&done, 1);
        rt_go(chan_waiter, NULL);
    } else if (how == MUTEX) {
        rt_mutex_lock(&mu);
        rt_waitgroup_add(&done, 1);
        rt_go(mutex_waiter, (void *)(intptr_t)ROUNDS);
    }
    for (int r = 0; r < ROUNDS; r++) {
        maybe_idle(r);
        if (how == MUTEX) {
            /* let the waiter park on the mutex: it then needs a wake-up */
            atomic_store_explicit(&turn, r, memory_order_release);
            rt_sleep(RT_MICROSECOND);
        } else if (how != SPAWN) {
            /* Let the waiter block in its receive, and the other P's M go
             * back to sleep (a ready while an M spins wakes nobody). */
            while (!atomic_load_explicit(&receiving, memory_order_acquire))
                rt_yield();
            atomic_store_explicit(&receiving, 0, memory_order_relaxed);
            if (rt_maxprocs(0) > 1)
                busy(50 * RT_MICROSECOND);
        }
        int64_t t0 = rt_nanotime();
        if (how == BUFFERED || how == UNBUFFERED) {
            int v = r;
            rt_chan_send(req, &v);
        } else if (how == MUTEX) {
            rt_mutex_unlock(&mu);
        } else {
            REQUIRE_GT(rt_go(spawned, NULL), 0);
        }
        await_answer(names[how], r);
        lat[r] = rt_nanotime() - t0;
        if (how == MUTEX)
            rt_mutex_lock(&mu);
    }
    if (how == BUFFERED || how == UNBUFFERED)
        rt_chan_close(req);
    if (how == MUTEX)
        rt_mutex_unlock(&mu);
    rt_waitgroup_wait(&done);
    qsort(lat, ROUNDS, sizeof lat[0], cmp64);
    /* Without the 20 us backstop, sysmon's 10 ms one (goroutines stuck in
     * C code) would end every deferred round. */
    if (how == BUFFERED && rt_maxprocs(0) > 1)
        REQUIRE_LT(lat[ROUNDS / 2], 2 * RT_MILLISECOND);
    printf("stress_wake %s MAXPROCS=%d: %d rounds, answered in (us) p50 %lld "
           "p99 %lld max %lld\n", names[how], rt_maxprocs(0), ROUNDS,
           (long long)(lat[ROUNDS / 2] / RT_MICROSECOND),
           (long long)(lat[ROUNDS * 99 / 100] / RT_MICROSECOND),
           (long long)(lat[ROUNDS - 1] / RT_MICROSECOND));
}

#define FILE_READS 20000

static int zero_fd;

static void file_reader(void *arg)
{
    int n = (int)(intptr_t)arg;
    uint64_t buf;
    for (int i = 0; i < n; i++)
        REQUIRE_EQ(rt_file_pread(zero_fd, &buf, sizeof buf, -1), (ssize_t)sizeof buf);
    rt_waitgroup_done(&done);
}

/* One reader, then two: each read parks its goroutine and readies it
 * from a pool thread, so at one reader every completion finds all Ps on
 * their way to idle. */
static void run_file_readers(void)
{
    zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    REQUIRE_GE(zero_fd, 0);
    for (int readers = 1; readers <= 2; readers++) {
        int64_t t0 = rt_nanotime();
        rt_waitgroup_add(&done, readers);
        for (int i = 0; i < readers; i++)
            REQUIRE_GT(rt_go(file_reader, (void *)(intptr_t)(FILE_READS / readers)), 0);
        rt_waitgroup_wait(&done);
        printf("stress_wake file-pool readies MAXPROCS=%d: %d readers, %d reads in %lld ms\n",
               rt_maxprocs(0), readers, FILE_READS,
               (long long)((rt_nanotime() - t0) / RT_MILLISECOND));
    }
    close(zero_fd);
    /* sysmon's backstop would have turned a lost wake-up into a 100 ms
     * delay; it must not have had to. */
    REQUIRE_EQ(atomic_load(&rt__sched.stranded_count), 0);
}

RT_TEST(test_buffered_send_then_spin) { run(BUFFERED); }
RT_TEST(test_unbuffered_send_then_spin) { run(UNBUFFERED); }
RT_TEST(test_mutex_unlock_then_spin) { run(MUTEX); }
RT_TEST(test_spawn_then_spin) { run(SPAWN); }
RT_TEST(test_readied_by_pool_thread) { run_file_readers(); }

int main(void)
{
    Suite *s = suite_create("stress_wake");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_buffered_send_then_spin);
    tcase_add_test(tc, test_unbuffered_send_then_spin);
    tcase_add_test(tc, test_mutex_unlock_then_spin);
    tcase_add_test(tc, test_spawn_then_spin);
    tcase_add_test(tc, test_readied_by_pool_thread);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
