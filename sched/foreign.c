/*
 * sched/foreign.c -- threads the runtime did not create, as roots.
 *
 * What
 *   API.md promises that every thread's registers and stack are roots.
 *   Ms are stopped and scanned by gcstop.c; this file does the same for
 *   the program's own threads (plain pthread_create threads, and main()
 *   before and after rt_main) once they use the GC heap -- what Boehm GC
 *   does for registered threads and Go for cgo threads that call back
 *   into it.
 *
 * Registration
 *   A thread that is not an M is registered the first time it allocates
 *   from the GC heap or receives from a channel (rt_chan_recv,
 *   rt_chan_try_recv, rt_select: a received value may be a heap pointer
 *   nothing else holds) (rt__foreign_self, on the allocator's path for
 *   threads without an M in gc/malloc.c: rt_alloc, rt_alloc_noscan,
 *   rt_new, rt_new_array, rt_chan_make, the timers' records and every
 *   other runtime allocation made on such a thread), or makes any other
 *   call a thread outside the runtime may make (rt__foreign_note: rt_go,
 *   rt_yield, rt_sleep, channel sends and close).  A heap pointer handed
 *   to a new thread as pthread_create's argument is held by a thread that
 *   never allocated: an outside tester's thread called rt_yield, or
 *   rt_sleep, or rt_go, and then held such an object across collections,
 *   which freed it.  The
 *   record (never freed, reused after the thread's exit) holds the
 *   thread's id and its stack bounds from pthread_getattr_np; the stop
 *   signal is unblocked in the thread; a pthread key's destructor
 *   unregisters it at exit.  One TLS load (rt__tls_ft) on the allocation
 *   path of threads without an M: the goroutine fast paths do not change.
 *
 * The stop
 *   The collector stops registered threads only for the part of a pause
 *   that reads roots and marks with the world stopped (gc/mark.c's
 *   rt__mark, gc/collector.c's final pause): after the Ms are stopped
 *   (rt__gc_stopworld), the caches flushed and the registered and
 *   finalizer roots taken, and until that mark run ends.  rt__foreign_stop
 *   makes the foreign epoch odd and sends the stop signal (SIGURG,
 *   gcstop.c) to each registered thread, again every 100 us to those not
 *   yet stopped.  The handler (rt__foreign_on_signal) copies the
 *   interrupted registers into the record, records the interrupted stack
 *   pointer, publishes the epoch it stopped in (release) and waits on the
 *   epoch word with FUTEX_WAIT until rt__foreign_release makes it even.
 *   SA_RESTART: a thread interrupted in a restartable system call (a
 *   read on a pipe) goes back into it; the call itself holds no pointer
 *   that is not also in the saved registers or on the stack.
 *   A thread is not stopped where the collector would wait for it:
 *     - in a no-stop region of its record (the allocator's locked part in
 *       malloc.c): the handler only sets stop_pending and the region's
 *       end stops it from a frame that spilled its callee-saved registers
 *       (__builtin_unwind_init), as Ms do;
 *     - while the locks the stopped mark takes (allg_lock and the P timer
 *       locks, read by gcstop.c's roots) are held by anyone -- it may be
 *       this thread, which takes them without a region (rt_go, timers):
 *       it returns and the next round of signals tries again.
 *   The shared cache's lock is held by the collector across the whole
 *   stop, so a foreign allocator waits for it outside its region
 *   (malloc.c: foreign_lock), parked (rt__foreign_wait_lock): registers
 *   spilled in the waiting frame, its sp published, parked 0 -> 1; the
 *   initiator counts a parked thread as stopped there by CAS 1 -> 2,
 *   without the signal's round trip (50-100 us on a loaded 2-CPU VM), and
 *   the thread, woken, sees 2 and waits for that stop's end before it
 *   returns.  The stop ends before anything
 *   else that takes a runtime lock runs (finalizers, the world's
 *   restart): once marking is over a thread can only reach marked objects,
 *   and its allocations wait for the shared cache's lock.  Threads that
 *   stopped are released by rt__foreign_release, and in any case by the
 *   world's restart (gcstop.c's rt__gcstop_end).
 *
 * Scanning
 *   rt__foreign_roots reports, for each record stopped in the current
 *   epoch, its saved registers and [sp - 128-byte red zone, stack top) --
 *   clamped to the stack, and only the registers when sp lies outside the
 *   stack it registered with (a handler on an alternate stack, or a
 *   user-level coroutine stack).  Concurrent marking: a foreign thread's
 *   stack is not write-tracked, and may be unmapped when the thread
 *   exits, so it is never queued for a concurrent run; the final pause
 *   reads it with the thread stopped (and does so again after each
 *   return to concurrent marking), which is what completeness needs: the
 *   final pause reads every root while nothing runs.  Heap writes a
 *   foreign thread makes during concurrent marking are tracked like
 *   anyone's; its allocations come from the shared cache, which is black
 *   while marking runs.
 *
 * Races
 *   Registration publishes ACTIVE (seq_cst) and then, when a stop is in
 *   progress, stops itself at once (the initiator may have read the list
 *   before it).  Exit: the record leaves with its region open (the
 *   handler only marks it), rt__tls_ft cleared, then FREE: a stop that
 *   reads FREE does not wait for it, and a signal sent to a thread id that
 *   exited meanwhile goes nowhere or to a thread that ignores SIGURG or
 *   treats it as a stray.  A record is reused only via FREE -> CLAIMED;
 *   its stop_epoch can equal the running stop's epoch only while its
 *   thread sits stopped in that stop, so no scan reads a reused record.
 *   A thread id the signal no longer finds (ESRCH) is remembered in its
 *   record (dead_tid), which the stop then skips while it still names
 *   that id -- not freed: by then the record may be a new thread's; a
 *   fork's child frees every record but its own thread's; a thread that
 *   makes a stop wait a second gets one line on stderr (SIGURG blocked
 *   again after registration would hang the collector).
 *
 * Cost
 *   Nothing until a thread registers (ft_all NULL).  Then each stopped
 *   mark pays the stop: a parked thread a CAS, a running one the signal's
 *   round trip -- 65-125 us mean per pause on this 2-CPU VM with a
 *   thread allocating in a loop (the reproducer's pauses: ~95 us before,
 *   ~200 us after).
 *
 * Not covered
 *   A thread that never called the runtime (it read a pointer from a
 *   global, or was handed one by pthread_create) is not a root until it
 *   does (README: call anything first).  Finding such threads would take
 *   a walk of /proc/self/task at every stop and signals to threads that
 *   never asked for them: their sleeps and polls would return EINTR.
 *   Runtime locks a registered thread takes outside the allocator
 *   (rt_gc_add_root's, rt_set_finalizer's, channel and scheduler locks)
 *   are not no-stop regions: the collector takes none of them while such
 *   threads are stopped, which is why the stop is as short as it is.  A
 *   range a thread registers with rt_gc_add_root between the pause's
 *   reading of the registered roots and its stop is not read in that
 *   pause: a pointer the thread moves from its stack into such a range in
 *   that window (microseconds) is missed, as it was for every thread
 *   before this file.
 *
 * Rejected
 *   - Giving foreign threads an M record (rt__tls_m): every "not an M"
 *     test in the runtime (deadlock detection's foreign_go, the
 *     allocator, sleeps, profiling) would change meaning.
 *   - Stopping them for the whole pause: the world's restart and the
 *     finalizer queue take locks such a thread may hold (sched.lock from
 *     rt_go, the finalizer lock from rt_set_finalizer).
 *   - Scanning them running: a conservative collector cannot see a
 *     pointer moving from a register into an already scanned frame.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sched/sched.h"

#if defined(__SANITIZE_THREAD__)
#define RT_TSAN 1
#endif

#define RED_ZONE 128

__thread rt__fthread *rt__tls_ft;

static rt__fthread *_Atomic ft_all;
/* Odd while a foreign stop is in progress (written by the initiator,
 * one stop at a time: the world is stopped); threads wait on it. */
static _Atomic uint32_t ft_epoch;
/* Bumped by each thread that stops: the initiator's futex word. */
static _Atomic uint32_t ft_nstopped;
static pthread_key_t ft_key;
static pthread_once_t ft_once = PTHREAD_ONCE_INIT;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return rt__futex(addr, op | FUTEX_PRIVATE_FLAG, val, ts);
}

/* ------------------------------------------------------ registration --- */

static void unregister(void *arg)
{
    rt__fthread *f = arg;
    if (f == NULL || rt__tls_ft != f)
        return;
    /* The region stays open: a signal now only marks the record. */
    rt__foreign_nostop_begin(f);
    rt__tls_ft = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    f->stop_pending = 0;
    f->nostop = 0;
    atomic_store(&f->state, RT_FT_FREE);
}

/* A fork's child has only the forking thread: the others' records would
 * have the next stop signal thread ids that are gone (or someone else's)
 * and wait for them for ever. */
static void atfork_child(void)
{
    for (rt__fthread *f = atomic_load(&ft_all); f != NULL; f = f->next) {
        if (f == rt__tls_ft)
            f->tid = (pid_t)syscall(SYS_gettid);
        else
            atomic_store(&f->state, RT_FT_FREE);
    }
}

static void ft_init(void)
{
    if (pthread_key_create(&ft_key, unregister) != 0)
        rt__throw("foreign threads: pthread_key_create failed");
    pthread_atfork(NULL, NULL, atfork_child);
}

static void stop_self(rt__fthread *f);

__attribute__((noinline)) rt__fthread *rt__foreign_register(void)
{
    rt__fthread *f = rt__tls_ft;
    if (f != NULL)
        return f;
    pthread_once(&ft_once, ft_init);
    for (f = atomic_load(&ft_all); f != NULL; f = f->next) {
        uint32_t expect = RT_FT_FREE;
        if (atomic_load_explicit(&f->state, memory_order_relaxed) == RT_FT_FREE &&
            atomic_compare_exchange_strong(&f->state, &expect, RT_FT_CLAIMED))
            break;
    }
    if (f == NULL) {
        f = calloc(1, sizeof *f);
        if (f == NULL)
            rt__throw("foreign threads: out of memory");
        atomic_store_explicit(&f->state, RT_FT_CLAIMED, memory_order_relaxed);
        rt__fthread *head = atomic_load(&ft_all);
        do
            f->next = head;
        while (!atomic_compare_exchange_weak(&ft_all, &head, f));
    }
    __atomic_store_n(&f->dead_tid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&f->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    f->nostop = 0;
    f->stop_pending = 0;
    f->stopping = 0;
    f->stack_lo = f->stack_hi = 0;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            f->stack_lo = (uintptr_t)addr;
            f->stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
    /* A thread that blocks the stop signal could never be stopped. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG_GCSTOP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    rt__tls_ft = f;
    pthread_setspecific(ft_key, f);
    atomic_store(&f->state, RT_FT_ACTIVE);
    /* A stop that read the list before it saw us: stop now. */
    if (atomic_load(&ft_epoch) & 1)
        stop_self(f);
    return f;
}

int rt__foreign_count(void)
{
    int n = 0;
    for (rt__fthread *f = atomic_load(&ft_all); f != NULL; f = f->next)
        n += atomic_load(&f->state) == RT_FT_ACTIVE;
    return n;
}

/* ----------------------------------------------------- the stopped side */

/* Only async-signal-safe operations: atomics and raw futex calls. */
static void stop_here(rt__fthread *f, uintptr_t sp, const ucontext_t *uc)
{
    if (f->stopping)
        return; /* a handler nested in the stop of a region's end */
    f->stopping = 1;
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t e = atomic_load_explicit(&ft_epoch, memory_order_acquire);
    if ((e & 1) && atomic_load_explicit(&f->stop_epoch, memory_order_relaxed) != e &&
        atomic_load_explicit(&f->state, memory_order_relaxed) == RT_FT_ACTIVE) {
        rt__gcstop_save_regs(f->regs, uc);
        f->stop_sp = sp;
        atomic_store_explicit(&f->stop_epoch, e, memory_order_release);
        atomic_fetch_add(&ft_nstopped, 1);
        futex(&ft_nstopped, FUTEX_WAKE, 1, NULL);
        while (atomic_load_explicit(&ft_epoch, memory_order_acquire) == e)
            futex(&ft_epoch, FUTEX_WAIT, e, NULL);
    }
    atomic_signal_fence(memory_order_seq_cst);
    f->stopping = 0;
}

/* From a frame that holds every callee-saved register of its callers. */
static __attribute__((noinline)) void stop_self(rt__fthread *f)
{
    __builtin_unwind_init();
    stop_here(f, rt__current_sp(), NULL);
    __asm__ volatile("" ::: "memory");
}

void rt__foreign_stop_pending(rt__fthread *f)
{
    f->stop_pending = 0;
    stop_self(f);
}

/* Parked: the frame holds every callee-saved register of its callers
 * (__builtin_unwind_init) above the sp it publishes, and the wait runs in
 * it, so they stay there.  The initiator may count a parked thread as
 * stopped (parked 1 -> 2) without signalling it; such a thread, woken,
 * waits for that stop's end before it returns. */
__attribute__((noinline)) void rt__foreign_wait_lock(rt__fthread *f, _Atomic uint32_t *key,
                                                     uint32_t val)
{
    __builtin_unwind_init();
    memset(f->regs, 0, sizeof f->regs); /* (all spilled in this frame) */
    f->stop_sp = rt__current_sp();
    atomic_store(&f->parked, 1);
    futex(key, FUTEX_WAIT, val, NULL);
    uint32_t expect = 1;
    if (!atomic_compare_exchange_strong(&f->parked, &expect, 0)) {
        /* counted by a stop (expect == 2), whose epoch is odd since
         * before it counted us: wait for its end */
        uint32_t e = atomic_load_explicit(&ft_epoch, memory_order_acquire);
        while ((e & 1) && atomic_load_explicit(&ft_epoch, memory_order_acquire) == e)
            futex(&ft_epoch, FUTEX_WAIT, e, NULL);
        atomic_store(&f->parked, 0);
    }
    __asm__ volatile("" ::: "memory");
}

/* Whether a lock the stopped mark takes is held (maybe by this thread). */
static bool mark_locks_held(void)
{
    if (atomic_load_explicit(&rt__sched.allg_lock.key, memory_order_relaxed) != 0)
        return true;
    rt_p **allp = rt__sched.allp;
    if (allp == NULL)
        return false;
    int32_t n = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_RELAXED);
    for (int32_t i = 0; i < n; i++) {
        rt_p *pp = __atomic_load_n(&allp[i], __ATOMIC_RELAXED);
        if (pp != NULL && atomic_load_explicit(&pp->timers.lock.key, memory_order_relaxed) != 0)
            return true;
    }
    return false;
}

void rt__foreign_on_signal(void *ucv)
{
    rt__fthread *f = rt__tls_ft;
    if (f == NULL || !(atomic_load_explicit(&ft_epoch, memory_order_acquire) & 1))
        return;
    if (f->nostop > 0) {
        f->stop_pending = 1; /* rt__foreign_nostop_end stops it */
        return;
    }
    if (mark_locks_held())
        return; /* the next round of signals tries again */
#ifdef RT_TSAN
    (void)ucv;
    stop_self(f);
#else
    const ucontext_t *uc = ucv;
    stop_here(f, rt__ucontext_sp(uc), uc);
#endif
}

/* --------------------------------------------------------- the initiator */

/* Once per stop that waits a second for a thread: the likely cause.  No
 * stdio with the world stopped (a stopped thread may hold its lock). */
static void warn_slow(pid_t tid)
{
    char buf[160], num[16];
    int n = 0, k = 0;
    unsigned v = (unsigned)tid;
    do
        num[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0 && k < (int)sizeof num);
    static const char a[] = "runtime: the collector waits for thread ";
    static const char b[] = " to stop (does it block SIGURG?)\n";
    memcpy(buf, a, sizeof a - 1);
    n = sizeof a - 1;
    while (k > 0)
        buf[n++] = num[--k];
    memcpy(buf + n, b, sizeof b - 1);
    n += sizeof b - 1;
    (void)write(2, buf, (size_t)n);
}

void rt__foreign_stop(void)
{
    if (atomic_load(&ft_all) == NULL)
        return;
    if (!atomic_load_explicit(&rt__sched.gcwaiting, memory_order_acquire) ||
        !(atomic_load(&rt__gcstop_epoch) & 1))
        return; /* not a signal stop of the world (tests that mark alone) */
    uint32_t e = atomic_load(&ft_epoch);
    if (e & 1)
        return; /* already stopped */
    e++;
    atomic_store(&ft_epoch, e);
    pid_t pid = getpid();
    for (int round = 0;; round++) {
        uint32_t seen = atomic_load(&ft_nstopped);
        bool all = true;
        for (rt__fthread *f = atomic_load(&ft_all); f != NULL; f = f->next) {
            if (atomic_load(&f->state) != RT_FT_ACTIVE ||
                atomic_load_explicit(&f->stop_epoch, memory_order_acquire) == e)
                continue;
            uint32_t expect = 1;
            if (atomic_compare_exchange_strong(&f->parked, &expect, 2)) {
                /* parked on a lock: stopped where it waits */
                atomic_store_explicit(&f->stop_epoch, e, memory_order_release);
                continue;
            }
            pid_t tid = __atomic_load_n(&f->tid, __ATOMIC_ACQUIRE);
            if (tid != 0 && tid == __atomic_load_n(&f->dead_tid, __ATOMIC_RELAXED))
                continue; /* gone without its key's destructor: nothing to stop */
            all = false;
            if (round % 4 == 0 && tid != 0 &&
                syscall(SYS_tgkill, pid, tid, RT_SIG_GCSTOP) != 0 && errno == ESRCH) {
                /* The thread is gone.  Not FREE: the record may be another
                 * thread's by now (it unregistered, a new thread claimed
                 * the record and made it ACTIVE with its own tid), and
                 * freeing it then left that thread unstopped and
                 * unscanned for good -- a node of a live list freed, 1 CI
                 * run in many (gc_test_foreign_roots, short-lived threads).
                 * Its tid is remembered instead: a record still naming it
                 * is skipped; one a new thread took names another. */
                __atomic_store_n(&f->dead_tid, tid, __ATOMIC_RELAXED);
            }
            if (round == 40000) /* about a second */
                warn_slow(tid);
        }
        if (all)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 25000};
        futex(&ft_nstopped, FUTEX_WAIT, seen, &ts);
    }
}

void rt__foreign_release(void)
{
    uint32_t e = atomic_load(&ft_epoch);
    if ((e & 1) == 0)
        return;
    atomic_store(&ft_epoch, e + 1);
    futex(&ft_epoch, FUTEX_WAKE, INT32_MAX, NULL);
}

/* ------------------------------------------------------------- roots --- */

static void report(rt__root_fn fn, void *ctx, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (lo < hi)
        fn(lo, hi, ctx);
}

void rt__foreign_roots(rt__root_fn fn, void *ctx)
{
    uint32_t e = atomic_load(&ft_epoch);
    if ((e & 1) == 0)
        return;
    for (rt__fthread *f = atomic_load(&ft_all); f != NULL; f = f->next) {
        if (atomic_load_explicit(&f->stop_epoch, memory_order_acquire) != e)
            continue;
        report(fn, ctx, (uintptr_t)f->regs, (uintptr_t)(f->regs + RT_GCSTOP_NREGS));
        uintptr_t sp = f->stop_sp, lo = f->stack_lo, hi = f->stack_hi;
        if (sp < lo || sp >= hi)
            continue; /* not on its own stack: only the registers */
        report(fn, ctx, sp - RED_ZONE < lo ? lo : sp - RED_ZONE, hi);
    }
}
