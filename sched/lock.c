/*
 * sched/lock.c -- the runtime's own thread-level locks and notes, on futexes.
 *
 * rt__lock is Drepper's three-state futex mutex ("Futexes Are Tricky",
 * mutex #2): 0 unlocked, 1 locked, 2 locked and maybe contended.  Lock spins
 * briefly with a CPU pause before sleeping, because every critical section
 * it guards is a handful of instructions (a queue splice, a counter); the
 * unlock path does a futex wake only when the word was 2.  Taking one
 * makes the M unstoppable until it is released (a no-stop region:
 * gcstop.c); rt__lock_try_dying/rt__lock_release_dying skip that, for the
 * dumps of a dying process (fatal.c), which may run on any thread.  The
 * uncontended paths live in sched.h (rt__lock_acquire_inl/_release_inl:
 * the channel operations inline them; everyone else calls the two
 * functions here, built on them); the spin-and-sleep path and the wake
 * stay here (rt__lock_slow, rt__lock_wake).
 *
 * rt__note is a one-shot event (Go's note): 0 clear, 1 woken.  sleep waits
 * until the word is 1; wakeup sets it and wakes the sleeper.  Exactly one
 * thread sleeps on a given note (its M), so FUTEX_WAKE of 1 is enough.
 *
 * Both block the OS thread: goroutine-level blocking goes through
 * rt__gopark (proc.c) and the sema table (sema.c).
 *
 * Rejected: pthread_mutex_t (40 bytes, no zero-value readiness guarantee
 * across libcs, no control over spinning) and spin-only locks (a preempted
 * holder stalls every spinner for a whole time slice).
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
                  const struct timespec *ts)
{
    return rt__futex(addr, op | FUTEX_PRIVATE_FLAG, val, ts);
}


#ifndef SPIN_ITERS
#define SPIN_ITERS 100
#endif

/*
 * Every holder of a runtime lock is inside a no-stop region (gcstop.c):
 * the collector's stop signal only marks such a thread, which stops itself
 * when it leaves the region, so the world never stops with a runtime lock
 * held by a stopped thread (the initiator and the collector take those
 * locks while the world is stopped).  A thread *waiting* for a lock in the
 * kernel leaves its region for the wait: it holds nothing (unless it
 * holds another lock, and then its region stays open), and the initiator
 * may be the holder it waits for.  Threads that are not Ms (rt__tls_m is
 * NULL) are never stopped and skip the bookkeeping.  Cost on the
 * uncontended path: a TLS load, an increment and a decrement on each side
 * (the decrement tests stop_pending), next to the CAS.
 */
void rt__lock_slow(rt__lock *l, rt_m *mp)
{
    uint32_t c;
    for (int i = 0; i < SPIN_ITERS; i++) {
        rt__cpu_relax();
        c = 0;
        if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->key, &c, 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* Mark contended and sleep until we take it in state 2. */
    while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0) {
        if (mp != NULL) {
            rt__nostop_end(mp); /* stoppable while it waits */
            rt__gcstop_poll(mp);
            mp->lockwait = l;
            atomic_signal_fence(memory_order_seq_cst);
        }
#if defined(__SANITIZE_THREAD__)
        /* TSan holds a signal back while the thread sleeps in a raw
         * syscall: wake now and then to poll for a stop. */
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
        futex(&l->key, FUTEX_WAIT, 2, &ts);
#else
        futex(&l->key, FUTEX_WAIT, 2, NULL);
#endif
        if (mp != NULL) {
            rt__nostop_begin(mp);
            atomic_signal_fence(memory_order_seq_cst);
            mp->lockwait = NULL;
        }
    }
}

/* (Out of line: whatever the caller does around it, the M is read from
 * TLS here, after any switch the caller made.) */
void rt__lock_acquire(rt__lock *l)
{
    rt__lock_acquire_inl(l);
}

bool rt__lock_try_dying(rt__lock *l)
{
    uint32_t c = 0;
    return atomic_compare_exchange_strong_explicit(&l->key, &c, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

void rt__lock_release_dying(rt__lock *l)
{
    if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
        futex(&l->key, FUTEX_WAKE, 1, NULL);
}

void rt__lock_wake(rt__lock *l)
{
    futex(&l->key, FUTEX_WAKE, 1, NULL);
}

void rt__lock_release(rt__lock *l)
{
    rt__lock_release_inl(l);
}

void rt__note_clear(rt__note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void rt__note_wakeup(rt__note *n)
{
    /* Release: what the waker wrote before is visible to the sleeper.
     * seq_cst, not just release: rt__wake_m (proc.c) follows it with a
     * seq_cst load of the network poller's word, the Dekker pair of
     * rt__netpoll_block (a plain xchg on x86-64 either way). */
    uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_seq_cst);
    if (old != 0)
        return; /* already woken */
    futex(&n->key, FUTEX_WAKE, 1, NULL);
}

void rt__note_sleep(rt__note *n)
{
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        futex(&n->key, FUTEX_WAIT, 0, NULL);
}

bool rt__note_tsleep(rt__note *n, int64_t ns)
{
    if (ns < 0) {
        rt__note_sleep(n);
        return true;
    }
    int64_t deadline = rt_nanotime() + ns;
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = deadline - rt_nanotime();
        if (left <= 0)
            return false;
        struct timespec ts = {.tv_sec = left / RT_SECOND,
                              .tv_nsec = left % RT_SECOND};
        futex(&n->key, FUTEX_WAIT, 0, &ts);
    }
    return true;
}
