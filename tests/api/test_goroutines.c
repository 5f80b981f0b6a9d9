/*
 * tests/api/test_goroutines.c -- the goroutine half of rt.h: rt_main,
 * rt_go, rt_yield, rt_exit, rt_goid, rt_num_goroutine, rt_sleep,
 * rt_maxprocs, rt_syscall_enter/exit and RT_BLOCKING, and errno travelling
 * with its goroutine.  Each test body runs as goroutine 1 under rt_main in
 * the process Check forks for it.  Nothing asserts on elapsed time except
 * lower bounds ("slept at least").
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt.h"
#include "harness.h"


/* Joins by polling an atomic counter with rt_sleep (the test must not
 * depend on the sync package it is not about). */
static void wait_for(_Atomic int *n, int want)
{
    while (atomic_load(n) < want)
        rt_sleep(100 * RT_MICROSECOND);
}

static _Atomic int done;
static _Atomic int64_t seen_id;

static void record_id(void *arg)
{
    (void)arg;
    atomic_store(&seen_id, rt_goid());
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_goid_and_go)
{
    ck_assert_int_eq(rt_goid(), 1);
    int64_t id = rt_go(record_id, NULL);
    ck_assert_int_gt(id, 1);
    wait_for(&done, 1);
    ck_assert_int_eq(atomic_load(&seen_id), id);
    ck_assert_int_eq(rt_go(NULL, NULL), -EINVAL);
}

static _Atomic int release;

static void parked_until_release(void *arg)
{
    (void)arg;
    while (!atomic_load(&release))
        rt_sleep(RT_MILLISECOND);
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_num_goroutine)
{
    ck_assert_int_eq(rt_num_goroutine(), 1);
    for (int i = 0; i < 50; i++)
        ck_assert_int_gt(rt_go(parked_until_release, NULL), 0);
    ck_assert_int_eq(rt_num_goroutine(), 51);
    atomic_store(&release, 1);
    wait_for(&done, 50);
    /* The last ones may still be on their way out. */
    for (int i = 0; i < 1000 && rt_num_goroutine() != 1; i++)
        rt_sleep(RT_MILLISECOND);
    ck_assert_int_eq(rt_num_goroutine(), 1);
}

static int order[8];
static _Atomic int norder;

static void yielder(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 2; i++) {
        order[atomic_fetch_add(&norder, 1)] = id;
        rt_yield();
    }
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_yield_interleaves)
{
    /* One P: a yield hands the processor to the other goroutine. */
    rt_maxprocs(1);
    rt_go(yielder, (void *)(intptr_t)1);
    rt_go(yielder, (void *)(intptr_t)2);
    wait_for(&done, 2);
    ck_assert_int_eq(atomic_load(&norder), 4);
    /* Each ran once before either ran twice. */
    ck_assert_int_ne(order[0], order[1]);
    ck_assert_int_ne(order[2], order[3]);
}

static _Atomic int after_exit;

static void exits_early(void *arg)
{
    (void)arg;
    atomic_fetch_add(&done, 1);
    rt_exit();
    atomic_store(&after_exit, 1);
}

RT_TEST(test_exit)
{
    for (int i = 0; i < 10; i++)
        rt_go(exits_early, NULL);
    wait_for(&done, 10);
    rt_sleep(RT_MILLISECOND);
    ck_assert_int_eq(atomic_load(&after_exit), 0);
}

RT_TEST(test_sleep)
{
    int64_t t0 = rt_nanotime();
    rt_sleep(20 * RT_MILLISECOND);
    int64_t t1 = rt_nanotime();
    ck_assert_int_ge(t1 - t0, 20 * RT_MILLISECOND);
    rt_sleep(0);
    rt_sleep(-5);
    ck_assert_int_ge(rt_nanotime(), t1);
}

static void errno_keeper(void *arg)
{
    int mine = (int)(intptr_t)arg;
    errno = mine;
    for (int i = 0; i < 2000; i++) {
        rt_yield();
        ck_assert_int_eq(errno, mine);
        if (i % 100 == 0) {
            rt_sleep(10 * RT_MICROSECOND);
            ck_assert_int_eq(errno, mine);
        }
    }
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_errno_travels)
{
    rt_maxprocs(4);
    for (int i = 1; i <= 16; i++)
        rt_go(errno_keeper, (void *)(intptr_t)(1000 + i));
    errno = 77;
    wait_for(&done, 16);
    ck_assert_int_eq(errno, 77);
}

/* The runtime's own waits must not leak into a goroutine's errno: a
 * contended runtime lock waited in futex(2) through libc's syscall(),
 * which set errno to EAGAIN when the lock word had changed, inside
 * rt_sleep, a channel operation or a mutex, and a goroutine that had set
 * errno found EAGAIN there afterwards (1 run in 600 of test_errno_travels;
 * 1 in 2 of this one before rt__futex).  Lock contention needs many
 * goroutines on several Ps going through the same channel, mutex and
 * timers. */
static rt_mutex contended_mu;
static rt_chan *contended_ch;
static _Atomic int errno_lost;

static void errno_under_contention(void *arg)
{
    int mine = (int)(intptr_t)arg;
    errno = mine;
    for (int i = 0; i < 20000; i++) {
        switch (i % 4) {
        case 0: rt_yield(); break;
        case 1: rt_sleep((i % 7) * RT_MICROSECOND); break;
        case 2:
            rt_mutex_lock(&contended_mu);
            rt_mutex_unlock(&contended_mu);
            break;
        default: {
            int v = i;
            if (mine & 1)
                rt_chan_send(contended_ch, &v);
            else
                rt_chan_recv(contended_ch, &v);
        }
        }
        if (errno != mine) {
            atomic_fetch_add(&errno_lost, 1);
            errno = mine;
        }
    }
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_errno_travels_through_contention)
{
    rt_maxprocs(4);
    contended_ch = rt_chan_make(sizeof(int), 4);
    for (int i = 0; i < 64; i++) /* as many senders as receivers */
        rt_go(errno_under_contention, (void *)(intptr_t)(2000 + i));
    wait_for(&done, 64);
    REQUIRE_EQ(atomic_load(&errno_lost), 0);
}

RT_TEST(test_maxprocs)
{
    int n = rt_maxprocs(0);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(rt_maxprocs(-1), n);
    ck_assert_int_eq(rt_maxprocs(3), n);
    ck_assert_int_eq(rt_maxprocs(0), 3);
    ck_assert_int_eq(rt_maxprocs(1000), 3);
    ck_assert_int_eq(rt_maxprocs(0), 256);
    ck_assert_int_eq(rt_maxprocs(2), 256);
    ck_assert_int_eq(rt_maxprocs(0), 2);
    /* goroutines still run on the new set of Ps */
    for (int i = 0; i < 100; i++)
        rt_go(record_id, NULL);
    wait_for(&done, 100);
}

static int pipefd[2];

static void blocked_reader(void *arg)
{
    (void)arg;
    char c = 0;
    ssize_t r = RT_BLOCKING(read(pipefd[0], &c, 1));
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(c, 'x');
    atomic_fetch_add(&done, 1);
}

static void writer(void *arg)
{
    (void)arg;
    ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
    atomic_fetch_add(&done, 1);
}

RT_TEST(test_syscall_handoff)
{
    /* One P.  The reader blocks its thread in read(2); only if its P is
     * handed to another thread can the writer run and unblock it. */
    rt_maxprocs(1);
    ck_assert_int_eq(pipe(pipefd), 0);
    rt_go(blocked_reader, NULL);
    rt_sleep(5 * RT_MILLISECOND); /* let the reader block */
    rt_go(writer, NULL);
    wait_for(&done, 2);
    close(pipefd[0]);
    close(pipefd[1]);
}

RT_TEST(test_blocking_keeps_errno)
{
    errno = 0;
    ssize_t r = RT_BLOCKING(read(-1, NULL, 0));
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(errno, EBADF);
}

static rt_chan *foreign_ch;

static void send_one(void *arg)
{
    (void)arg;
    int v = 1;
    rt_chan_send(foreign_ch, &v);
}

static void *foreign_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_gt(rt_go(send_one, NULL), 0);
    return NULL;
}

RT_TEST(test_go_from_foreign_thread)
{
    /* Goroutine 1 blocks before the foreign thread has started anything:
     * that must not be taken for a deadlock. */
    foreign_ch = rt_chan_make(sizeof(int), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, foreign_thread, NULL), 0);
    int sum = 0;
    for (int i = 0; i < 1000; i++) {
        int v = 0;
        ck_assert(rt_chan_recv(foreign_ch, &v));
        sum += v;
    }
    ck_assert_int_eq(sum, 1000);
    ck_assert_int_eq(RT_BLOCKING(pthread_join(t, NULL)), 0);
}

static int main_result_fn(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 7;
}

START_TEST(test_main_result)
{
    char *argv[] = {(char *)"x", NULL};
    ck_assert_int_eq(rt_main(main_result_fn, 1, argv), 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("goroutines");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_goid_and_go);
    tcase_add_test(tc, test_num_goroutine);
    tcase_add_test(tc, test_yield_interleaves);
    tcase_add_test(tc, test_exit);
    tcase_add_test(tc, test_sleep);
    tcase_add_test(tc, test_errno_travels);
    tcase_add_test(tc, test_errno_travels_through_contention);
    tcase_add_test(tc, test_maxprocs);
    tcase_add_test(tc, test_syscall_handoff);
    tcase_add_test(tc, test_blocking_keeps_errno);
    tcase_add_test(tc, test_main_result);
    tcase_add_test(tc, test_go_from_foreign_thread);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
