/*
 * sched/gcstop.c -- stopping the world for the collector, and the roots
 * the scheduler owns.
 *
 * What
 *   rt__gc_stopworld (proc.c: stop_world(true)) returns once no thread but
 *   the caller runs goroutine code; rt__gc_sched_roots then reports every
 *   range of memory the scheduler owns that may hold a pointer into the GC
 *   heap; rt__gc_startworld lets everything go again.  These ranges plus
 *   the data segments and the heap itself are everything the collector
 *   needs to see when it finishes a mark with the world stopped (gc/).  A
 *   concurrent mark's first stop takes the stable subset
 *   (rt__gc_sched_roots_stable: no goroutines, no timer heaps), and the
 *   goroutines are listed once the world runs again
 *   (rt__gc_goroutine_roots_running), each stack read as it is then.
 *
 * How the world stops
 *   Every P is counted once in rt__sched.stopwait as it moves to GCSTOP,
 *   by exactly one party (the move is a CAS, or happens under the
 *   scheduler lock on a P nobody else owns):
 *     - the initiator's own P, idle Ps (off the idle list), and Ps in
 *       SYSCALL (CAS SYSCALL -> GCSTOP) are taken by the initiator; a P
 *       that sysmon took from a syscall first is counted by handoffp;
 *     - a P whose M reaches a scheduling point is stopped there: the
 *       switch goes to g0, and findrunnable's gcstopm releases the P
 *       (CAS RUNNING -> GCSTOP) and parks the M -- the cooperative stop,
 *       all that rt__stop_the_world and a shrinking rt_maxprocs use (they
 *       take Ps away from their Ms, which a thread stopped in C code
 *       cannot give up; a growing rt_maxprocs uses the signal too);
 *     - a P whose M runs C code that reaches no scheduling point (a loop
 *       over an array, a call into a library) is stopped with a signal:
 *       the handler, on that M, moves its P RUNNING -> GCSTOP by CAS,
 *       saves the interrupted registers and stack pointer in the M, counts
 *       the P and waits on the stop epoch.  That M keeps its P
 *       (p->sigstopped), and start the world gives it back to it.
 *   Only the M holding a RUNNING P moves it out of RUNNING, so the handler
 *   and gcstopm never both count one P: the one that comes second finds
 *   the P GCSTOP (handler: returns) or the world restarted (gcstopm: it
 *   re-tests gcwaiting under the lock).  The initiator signals the M of
 *   every P still RUNNING every 100 us until stopwait is 0: a thread may
 *   get the signal while it holds no P (leaving a syscall: CAS SYSCALL ->
 *   RUNNING done, m->p not yet set) and not stop, and the next round
 *   catches it.
 *
 *   The stop epoch is odd while a signal stop is in progress.  A handler
 *   stops only at an odd epoch e, and only if its CAS on its own RUNNING
 *   P succeeds; the stop of epoch e cannot end without that P, so the
 *   stop is e's.  Start the world makes sigstopped Ps RUNNING again and
 *   then the epoch even, under the scheduler lock, before any other P
 *   leaves the idle list: no M can take a P and stop at the old epoch.
 *   Stopped threads wait on the epoch word with FUTEX_WAIT and leave when
 *   it changes.  Outside a handler (a no-stop region's end) the signal is
 *   not blocked, so: a handler nested in a stop returns at once
 *   (mp->gcstopping), or it could read epoch e just before start the world
 *   moves it, CAS the P just after it became RUNNING again, and count it
 *   twice; and the epoch is read again after the CAS, an even one undoing
 *   it (a handler that came between the load and the CAS already stopped
 *   and released this thread).  The handler wakes the initiator after its
 *   decrement, without the lock, so that wake-up may arrive in the next
 *   stop: the initiator trusts only the count (TSan's delays found this).
 *
 *   Threads the runtime did not create are no part of this stop: the
 *   ones registered as roots (foreign.c) are stopped later by the
 *   collector, for the part of its pause that reads roots and marks, with
 *   the same signal (the handler hands a thread without an M to
 *   rt__foreign_on_signal), and released at the end of that mark run or,
 *   at the latest, by rt__gcstop_end.
 *
 *   Idle Ms (no P), threads in syscalls (no P) and sysmon are not
 *   signalled and keep running; so is the idle M blocked in the network
 *   poller's libuv loop (netpoll.c: it holds no P, and whatever it
 *   readies meanwhile waits on the global queue for the restart).  None can run goroutine code: that needs a
 *   P, and every P is GCSTOP; rt_syscall_exit's fast path CAS (SYSCALL ->
 *   RUNNING) fails on a taken P, the slow path sees gcwaiting and queues
 *   the goroutine, and sysmon hands a retaken P to the stop (handoffp).
 *
 * Why a signal
 *   C code has no safe points, and goroutines in tight loops are the very
 *   ones a cooperative stop waits for forever.  Boehm GC stops threads the
 *   same way on Linux.  The signal is SIGURG, as Go's preemption signal:
 *   its default action is to ignore it (a stray one is harmless), programs
 *   rarely use it (it reports out-of-band socket data; a program that
 *   installs its own SIGURG handler breaks the collector), and debuggers
 *   pass it silently (gdb stops on Boehm's SIGPWR by default).  The
 *   handler runs with every signal blocked and on the thread's alternate
 *   signal stack (fatal.c's), so it takes no room on a goroutine stack;
 *   SA_RESTART restarts interrupted system calls, but calls the kernel
 *   never restarts (nanosleep, poll, epoll_wait) return EINTR to a
 *   goroutine that made them while holding its P -- as they do in Go.
 *
 * No-stop regions
 *   A thread must not stop while it holds a runtime lock (the initiator and
 *   the collector take them with the world stopped) or is half-way through
 *   an update the collector reads (the allocator's fast path).  Those are
 *   no-stop regions (mp->nostop > 0; every rt__lock holder is in one, see
 *   lock.c).  The handler only sets mp->stop_pending there; the region's
 *   end calls rt__nostop_stop_pending, which stops the thread as the
 *   handler would, from a frame that spilled every callee-saved register
 *   (caller-saved ones hold nothing live across that call).  Cost: two
 *   plain increments and a test per region, and a TLS load per lock; the
 *   uncontended lock path did not get measurably slower (4.4-4.5 ns per
 *   acquire and release before and after, and bench_mutex unchanged; see
 *   the commit that added them).  A thread that must wait for a lock in
 *   the kernel leaves its region for the wait and first stops itself if
 *   a stop is in progress (rt__gcstop_poll).
 *
 * Rules for the initiator
 *   It holds no runtime lock when it calls rt__gc_stopworld (a thread
 *   holding one lock and waiting for another that the initiator holds
 *   cannot stop).  While the world is stopped it must not park (its P is
 *   GCSTOP: no scheduling point may run), and must not call malloc, stdio
 *   or anything else that takes a libc lock: a stopped thread may hold it.
 *
 * Where a goroutine's live words can be, and why each is reported
 *   The initiator: its registers are spilled into the frame of
 *   roots_self (__builtin_unwind_init), which reports its stack from there
 *   up.  Every other G with a stack (not DEAD), in this order:
 *   1. On a stopped thread: the thread's stop sp lies inside the G's
 *      stack.  Reported from that sp (minus the 128-byte red zone) up; the
 *      interrupted registers (all general ones, and the vector registers a
 *      memcpy may carry pointers in) are reported from the M.
 *      This covers a thread stopped anywhere in a context switch
 *      (runtime/asm_*.S): before rt__ctx_switch stores the old G's sp the
 *      stop sp is in the old G's stack, whose saved sp is stale and
 *      unused; after it loads the new G's sp the stop sp is in the new
 *      G's stack, and the old G's saved sp is already valid, with every
 *      callee-saved register pushed above it.  The handler checks that the
 *      sp is on the current G's, the G being switched from or g0's stack,
 *      and otherwise does not stop (it interrupted a handler running on
 *      the alternate stack): the next round of signals stops it.
 *   2. In a system call (SYSCALL): from the caller's sp at
 *      rt_syscall_enter up, plus the callee-saved registers saved there
 *      (m->syscallregs).  Its thread keeps running below
 *      that sp, and is never stopped.  Code between rt_syscall_enter and
 *      rt_syscall_exit must not create the only reference to a GC object
 *      (the same rule as Go's for cgo calls).
 *   3. Otherwise from its saved sp (no red zone: a switch is a call, and
 *      nothing below the frame it pushed is live): RUNNABLE, WAITING, and
 *      a G switched out by a thread stopped before after_switch published
 *      its new status.
 *      A G that has a stack but no saved sp is starting on a stopped
 *      thread before its first frame exists (or 1. applies).
 *   g0: a thread stopped on its own stack (scheduler code, timer
 *   callbacks) has it reported from the stop sp up to the top, which
 *   init_g0 took from pthread_getattr_np.  Parked g0s hold no pointer
 *   into the GC heap.  The main thread only sleeps in rt__sched_run_main;
 *   its stack is reported from there up (main()'s frames below rt_main
 *   included).  Registered threads the runtime did not create, while the
 *   collector holds them stopped: their registers and stacks
 *   (rt__foreign_roots), in the full set only -- the stable set is read
 *   by a concurrent mark while they run, and their stacks may go away.
 *   Records: every live G record (param, waiting, arg, sudog links), every
 *   M (but its register blocks only while current: stale ones would pin
 *   what they last held), every P, and each P's timer heap array --
 *   whole, or in a concurrent cycle's final stop only the slots changed
 *   since the cycle's start copied it (timer.c, "The collector's view");
 *   the timers themselves are read where they live (sched_roots says
 *   why that is enough).  Dead G records are skipped, so
 *   that an exited goroutine's arg does not keep its object alive.
 *
 * Goroutines at the final stop
 *   Every live G's record and stack is read again, parked or not, as
 *   Boehm's mostly-parallel collector does.  C hands pointers to stack
 *   variables to other goroutines (rt.h promises they stay valid), so a
 *   goroutine that stays parked through the whole cycle can have a
 *   pointer written into its frame by another, which takes the object out
 *   of a heap structure the mark has not reached yet and drops its own
 *   copy; nothing records such a write (stacks are not write-tracked:
 *   collector.c says why).  Session 28 skipped the Gs parked and not
 *   switched to since the concurrent scan read them (1M parked: 107 ms
 *   -> 8 ms in this stop) on the premise that only the runtime writes
 *   into a parked frame, readying the G first; test_parked_frame_written
 *   (tests/gc/test_api_reclaim.c) moves objects that way and found 4,141
 *   of 305,664 freed under it in 10 s, none with every stack read.  So
 *   100k parked goroutines cost ~11 ms here (Go: under 0.1 ms; Go's
 *   stacks cannot be written by other goroutines -- escape analysis moves
 *   such variables to the heap).
 *
 * Sanitizers
 *   ASan: the handler touches only the M and globals.  A collector that
 *   reads these ranges reads through ASan's redzones on goroutine stacks
 *   and must not be instrumented (no_sanitize("address")), as the test's
 *   scanner is not.  TSan defers an asynchronous signal until the thread
 *   reaches one of its interception points (a libc call), and then calls
 *   the handler with a context that is no longer current.  So under TSan
 *   the handler runs on the thread's own stack (no SA_ONSTACK) and stops
 *   as a no-stop region's end does, from its own spilled frame; a
 *   goroutine spinning in pure computation is not stopped until it
 *   reaches such a point (a libc call; atomics seem to do too), so TSan
 *   runs only the stress tests, whose goroutines make runtime calls.  A
 *   thread TSan keeps in a raw futex wait never sees the signal: lock
 *   waiters there wake every millisecond to poll (lock.c).
 *
 * Rejected
 *   - Cooperative only (the step-1 version): a goroutine in a C loop
 *     stalls every collection until the loop ends.
 *   - Suspending threads with ptrace or SIGSTOP: the whole process stops.
 *   - Scanning running threads without stopping them: a conservative
 *     collector cannot see a pointer moving from a register into an
 *     already scanned frame.
 */
#include <errno.h>
#include <stddef.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sched/sched.h"

extern _Atomic uint32_t rt__sweepgen; /* gc/collector.c: the cycle, for timer.c */

#if defined(__SANITIZE_THREAD__)
#define RT_TSAN 1
#endif

#define RED_ZONE 128 /* x86-64 SysV: a leaf may use 128 bytes below sp */
#define MAX_STOPPED 256

/* Odd while a signal stop is in progress (see the essay).  Written under
 * rt__sched.lock (seq_cst); read by handlers (acquire); stopped threads
 * FUTEX_WAIT on it. */
_Atomic uint32_t rt__gcstop_epoch;

/* The main thread while it sleeps in rt__sched_run_main. */
static uintptr_t main_sp, main_hi;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    return rt__futex(addr, op | FUTEX_PRIVATE_FLAG, val, NULL);
}

static inline bool in_stack(const rt__stack *st, uintptr_t a)
{
    return a >= st->lo && a < st->hi;
}

/* ---------------------------------------------------------- stopping --- */

void rt__gcstop_begin(void)
{
    uint32_t e = atomic_load(&rt__gcstop_epoch);
    rt__assert((e & 1) == 0);
    atomic_store(&rt__gcstop_epoch, e + 1);
}

uintptr_t rt__ucontext_sp(const void *ucv)
{
    const ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

void rt__gcstop_save_regs(uintptr_t *r, const void *ucv)
{
    const ucontext_t *uc = ucv;
    memset(r, 0, RT_GCSTOP_NREGS * sizeof *r);
    if (uc == NULL)
        return;
#if defined(__x86_64__)
    for (int i = 0; i <= REG_RIP; i++)
        r[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
    if (uc->uc_mcontext.fpregs != NULL)
        memcpy(r + REG_RIP + 1, uc->uc_mcontext.fpregs->_xmm, 16 * 16);
#elif defined(__aarch64__)
    for (int i = 0; i < 31; i++)
        r[i] = (uintptr_t)uc->uc_mcontext.regs[i];
    r[31] = (uintptr_t)uc->uc_mcontext.sp;
    r[32] = (uintptr_t)uc->uc_mcontext.pc;
    /* The first record of __reserved is the FP/SIMD one: a header
     * {magic, size}, fpsr, fpcr, then v0-v31. */
    const uint32_t *rec = (const uint32_t *)uc->uc_mcontext.__reserved;
    if (rec[0] == 0x46508001u /* FPSIMD_MAGIC */)
        memcpy(r + 33, rec + 4, 32 * 16);
#endif
}

void rt__gcstop_end(void)
{
    rt__foreign_release(); /* normally done when the stopped mark ended */
    uint32_t e = atomic_load(&rt__gcstop_epoch);
    if ((e & 1) == 0)
        return; /* a cooperative stop */
    atomic_store(&rt__gcstop_epoch, e + 1);
    futex(&rt__gcstop_epoch, FUTEX_WAKE, INT32_MAX);
}

void rt__gcstop_signal_running(rt_m *self)
{
    pid_t pid = getpid();
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        if (atomic_load_explicit(&pp->status, memory_order_relaxed) != RT_PRUNNING)
            continue;
        rt_m *mp = __atomic_load_n(&pp->m, __ATOMIC_RELAXED);
        if (mp == NULL || mp == self)
            continue;
        pid_t tid = __atomic_load_n(&mp->tid, __ATOMIC_RELAXED);
        if (tid != 0)
            (void)syscall(SYS_tgkill, pid, tid, RT_SIG_GCSTOP);
    }
}

/* Whether sp lies on a stack this M may be running on: its current G's,
 * the one it is switching away from, or its own. */
static bool on_known_stack(rt_m *mp, uintptr_t sp)
{
    if (in_stack(&mp->g0.stack, sp))
        return true;
    rt_g *gp = mp->curg;
    if (gp != NULL && in_stack(&gp->stack, sp))
        return true;
    gp = mp->after != RT_AFTER_NONE ? mp->after_g : NULL;
    return gp != NULL && in_stack(&gp->stack, sp);
}

/*
 * The stop, on the stopping thread (signal handler or no-stop region end).
 * Only async-signal-safe operations: atomics and raw futex calls.  regs:
 * the interrupted context (NULL: the caller spilled them below sp).
 */
static void stop_here_once(rt_m *mp, uintptr_t sp, const ucontext_t *uc);

static void stop_here(rt_m *mp, uintptr_t sp, const ucontext_t *uc)
{
    /* Outside a handler (a no-stop region's end) the signal is not
     * blocked: a handler nested in this stop must not stop again.  Were
     * it to read the epoch just before start the world moves it on, and
     * CAS the P just after it was made RUNNING again, it would count the
     * P a second time and leave it GCSTOP in a running world. */
    if (mp->gcstopping)
        return;
    mp->gcstopping = 1;
    atomic_signal_fence(memory_order_seq_cst);
    /* Stopped between a lock's futex wake-up and its retry: pass the
     * wake-up on (sched.h, rt_m.lockwait).  A spurious one is harmless:
     * the woken waiter only retries. */
    rt__lock *lw = mp->lockwait;
    if (lw != NULL)
        futex(&lw->key, FUTEX_WAKE, 1);
    stop_here_once(mp, sp, uc);
    atomic_signal_fence(memory_order_seq_cst);
    mp->gcstopping = 0;
}

static void stop_here_once(rt_m *mp, uintptr_t sp, const ucontext_t *uc)
{
    uint32_t e = atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire);
    if ((e & 1) == 0)
        return;
    rt_p *pp = mp->p;
    if (pp == NULL)
        return;
    uint32_t expect = RT_PRUNNING;
    if (!atomic_compare_exchange_strong(&pp->status, &expect, RT_PGCSTOP))
        return;
    /* Outside a handler a signal may have come between the load and the
     * CAS, stopped this thread for epoch e and let it go at e + 1: then
     * the P is ours again and no stop wants it.  A new stop (odd again)
     * does want it. */
    e = atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire);
    if ((e & 1) == 0) {
        atomic_store_explicit(&pp->status, RT_PRUNNING, memory_order_relaxed);
        return;
    }
    rt__assert(pp->m == mp);
    rt__gcstop_save_regs(mp->gcstop_regs, uc);
    mp->gcstop_sp = sp;
    pp->sigstopped = true;
    atomic_store_explicit(&mp->gcstop_epoch, e, memory_order_relaxed);
    /* seq_cst RMW: the initiator that sees 0 sees all of the above. */
    if (atomic_fetch_sub(&rt__sched.stopwait, 1) == 1)
        rt__note_wakeup(&rt__sched.stopnote);
    while (atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire) == e)
        futex(&rt__gcstop_epoch, FUTEX_WAIT, e);
}

/* Stops from a frame that holds every callee-saved register of its
 * callers (the prologue saves them all for __builtin_unwind_init); the
 * reported range starts below them. */
static __attribute__((noinline)) void stop_self(rt_m *mp)
{
    __builtin_unwind_init();
    uintptr_t sp = rt__current_sp();
    if (on_known_stack(mp, sp))
        stop_here(mp, sp, NULL);
    __asm__ volatile("" ::: "memory");
}

void rt__nostop_stop_pending(rt_m *mp)
{
    mp->stop_pending = 0;
    stop_self(mp);
}

void rt__gcstop_poll(rt_m *mp)
{
    if ((atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire) & 1) &&
        mp->p != NULL && mp->nostop == 0)
        stop_self(mp);
}

static void gcstop_handler(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    int saved_errno = errno;
    rt_m *mp = rt__tls_m;
    if (mp == NULL) {
        /* a thread the runtime did not create (foreign.c) */
        rt__foreign_on_signal(ucv);
        errno = saved_errno;
        return;
    }
    if (mp->p != NULL && !mp->is_sysmon &&
        (atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire) & 1)) {
        if (mp->nostop > 0) {
            mp->stop_pending = 1; /* rt__nostop_end stops it */
        } else {
#ifdef RT_TSAN
            (void)ucv;
            stop_self(mp);
#else
            const ucontext_t *uc = ucv;
            uintptr_t sp = rt__ucontext_sp(uc);
            if (on_known_stack(mp, sp))
                stop_here(mp, sp, uc);
#endif
        }
    }
    errno = saved_errno;
}

void rt__gcstop_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = gcstop_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
#ifndef RT_TSAN
    sa.sa_flags |= SA_ONSTACK;
#endif
    sigfillset(&sa.sa_mask);
    if (sigaction(RT_SIG_GCSTOP, &sa, NULL) != 0)
        rt__throw("cannot install the collector's stop signal handler");
}

/* ------------------------------------------------------- main thread --- */

__attribute__((noinline)) void rt__gcstop_main_sleep(rt__note *n)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
        main_hi = (uintptr_t)addr + size;
    }
    /* kill -QUIT goes to a thread that does not block it, the main thread
     * first: blocked here, its dump comes from an M and names it (m=N) as
     * Go's does, not m=-1 (an outside tester's note).  Every thread the
     * runtime starts later is started by an M, with the M's mask. */
    sigset_t quit, old;
    sigemptyset(&quit);
    sigaddset(&quit, SIGQUIT);
    bool masked = pthread_sigmask(SIG_BLOCK, &quit, &old) == 0;
    __builtin_unwind_init();
    __atomic_store_n(&main_sp, rt__current_sp(), __ATOMIC_RELEASE);
    rt__note_sleep(n);
    __atomic_store_n(&main_sp, 0, __ATOMIC_RELAXED);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------- roots --- */

static inline uintptr_t word_down(uintptr_t a)
{
    return a & ~(uintptr_t)(sizeof(uintptr_t) - 1);
}

static inline uintptr_t word_up(uintptr_t a)
{
    return (a + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
}

static void report(rt__root_fn fn, void *ctx, uintptr_t lo, uintptr_t hi)
{
    lo = word_up(lo);
    hi = word_down(hi);
    if (lo < hi)
        fn(lo, hi, ctx);
}

/* [sp - red zone, hi) of a stack [lo, hi), clamped to it. */
static void report_stack_from(rt__root_fn fn, void *ctx, const rt__stack *st,
                              uintptr_t sp)
{
    uintptr_t lo = sp < st->lo + RED_ZONE ? st->lo : sp - RED_ZONE;
    report(fn, ctx, lo, st->hi);
}

/* The initiator's own stack, from below its spilled registers up. */
rt_g *rt__gc_entry_g;
uintptr_t rt__gc_entry_sp;

static __attribute__((noinline)) void roots_self(rt__root_fn fn, void *ctx,
                                                 rt_g *self)
{
    __builtin_unwind_init();
    uintptr_t sp = rt__current_sp();
    if (!in_stack(&self->stack, sp))
        rt__throw("gc_sched_roots: initiator not on its goroutine stack");
    uintptr_t entry = rt__gc_entry_sp;
    if (rt__gc_entry_g == self && entry > sp && in_stack(&self->stack, entry))
        sp = entry;
    report(fn, ctx, sp, self->stack.hi);
    __asm__ volatile("" ::: "memory"); /* the frame lives until here */
}

typedef struct stopped_set {
    int n;
    uintptr_t sp[MAX_STOPPED];
} stopped_set;

/* An M record without its two register blocks: they keep the values of
 * the last syscall and the last stop, and would pin whatever those pointed
 * at for good.  Each is reported only while it is current. */
static void report_m(rt__root_fn fn, void *ctx, rt_m *mp)
{
    _Static_assert(offsetof(rt_m, syscallregs) < offsetof(rt_m, gcstop_regs),
                   "rt_m: register blocks out of order");
    report(fn, ctx, (uintptr_t)mp, (uintptr_t)mp->syscallregs);
    report(fn, ctx, (uintptr_t)(mp->syscallregs + RT_SYSCALL_NREGS),
           (uintptr_t)mp->gcstop_regs);
    report(fn, ctx, (uintptr_t)(mp->gcstop_regs + RT_GCSTOP_NREGS),
           (uintptr_t)(mp + 1));
}

/* The stack of one G other than the initiator; allg_lock held. */
static void roots_g(rt__root_fn fn, void *ctx, rt_g *gp, const stopped_set *ss)
{
    for (int i = 0; i < ss->n; i++) {
        if (in_stack(&gp->stack, ss->sp[i])) {
            report_stack_from(fn, ctx, &gp->stack, ss->sp[i]); /* case 1 */
            return;
        }
    }
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st == RT_GSYSCALL) { /* case 2 */
        rt_m *mp = gp->m;
        if (mp != NULL)
            report(fn, ctx, (uintptr_t)mp->syscallregs,
                   (uintptr_t)(mp->syscallregs + RT_SYSCALL_NREGS));
        report(fn, ctx, gp->syscallsp, gp->stack.hi);
        return;
    }
    uintptr_t sp = (uintptr_t)gp->sp;
    if (sp == 0)
        return; /* starting: no frame yet */
    /* The collector's goroutines hold no pointer the program needs while
     * parked (when one runs a cycle it is the initiator, scanned from the
     * cycle's entry), but their switch frames keep the callee-saved
     * registers the marking left in them: a witness object stayed for 400
     * cycles behind bggc's gswitch frame (gc_test_api_memstats, 3 runs in
     * 10 under ASan on a busy host). */
    if (gp->noroots)
        return;
    if (!in_stack(&gp->stack, sp))
        rt__throwf("gc_sched_roots: goroutine %lld (status %u): saved sp %#lx "
                   "outside its stack",
                   (long long)gp->goid, st, (unsigned long)sp);
    /* From sp itself: the switch frame (callee-saved registers) is all
     * that is live at the bottom; below it lie dead words of leaves the G
     * ran before it switched, and a stale pointer there kept an object
     * (and its finalizer) waiting for good -- the sweeper's goroutine
     * parks for whole cycles. */
    report(fn, ctx, sp, gp->stack.hi); /* case 3 */
}

static void sched_roots(rt__root_fn fn, void *ctx, bool timers);

void rt__gc_sched_roots(rt__root_fn fn, void *ctx)
{
    sched_roots(fn, ctx, true);
}

void rt__gc_sched_roots_stable(rt__root_fn fn, void *ctx)
{
    sched_roots(fn, ctx, false);
}

/* One G for rt__gc_goroutine_roots_running: its record, and its stack
 * from the stack pointer it last saved (from its system call's, in one)
 * to the top.  Both are read while the G may run, exit or be reused: the
 * pointer is used only if it lies in the top's stack (a slot's stack, or
 * nothing, is all a top can be), so the range is always inside one
 * stack -- never a guard, never unmapped (stack.c). */
__attribute__((no_sanitize("address", "thread"))) static void
roots_g_running(rt__root_fn fn, void *ctx, rt_g *gp, const rt_g *self)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
    if (st == RT_GDEAD || st == RT_GIDLE)
        return;
    report(fn, ctx, (uintptr_t)gp, (uintptr_t)(gp + 1));
    uintptr_t hi = __atomic_load_n(&gp->stack.hi, __ATOMIC_RELAXED);
    uintptr_t sp = st == RT_GSYSCALL ? __atomic_load_n(&gp->syscallsp, __ATOMIC_RELAXED)
                                     : (uintptr_t)__atomic_load_n(&gp->sp, __ATOMIC_RELAXED);
    if (gp == self || gp->noroots || hi == 0 || sp == 0 || sp >= hi ||
        hi - sp > RT_STACK_SIZE)
        return;
    report(fn, ctx, sp, hi);
}

void rt__gc_goroutine_roots_running(rt__root_fn fn, void *ctx)
{
    rt_m *mp = rt__getm();
    const rt_g *self = mp ? mp->curg : NULL;
    /* In batches: allg_lock holds up goroutine creation, and 100k
     * goroutines take ~1.5 ms to list. */
    enum { BATCH = 4096 };
    for (uint32_t i = 0;;) {
        rt__lock_acquire(&rt__sched.allg_lock);
        uint32_t n = rt__sched.allglen;
        uint32_t end = n - i > BATCH ? i + BATCH : n;
        for (; i < end; i++)
            roots_g_running(fn, ctx, rt__sched.allg[i], self);
        rt__lock_release(&rt__sched.allg_lock);
        if (i >= n)
            return;
    }
}

#if RT_DEBUG >= 3
/* A pending timer outside the GC heap and the goroutine stacks must hold
 * no pointer into the GC heap: nothing reads it as a root (sched_roots). */
static void check_timer_home(const rt__timer *t)
{
    extern uintptr_t rt__arena_lo;
    extern size_t rt__arena_bytes;
    uintptr_t a = (uintptr_t)t;
    if (a - rt__arena_lo < rt__arena_bytes)
        return; /* in a GC object */
    bool on_stack = false;
    rt__lock_acquire(&rt__sched.allg_lock); /* (after the timer lock: ranked) */
    for (uint32_t i = 0; i < rt__sched.allglen && !on_stack; i++) {
        const rt_g *gp = rt__sched.allg[i];
        on_stack = a >= gp->stack.lo && a < gp->stack.hi;
    }
    rt__lock_release(&rt__sched.allg_lock);
    if (!on_stack && (uintptr_t)t->arg - rt__arena_lo < rt__arena_bytes)
        rt__throwf("gc_sched_roots: timer %p in runtime memory points into the GC heap",
                   (const void *)t);
}
#endif

#define PREFETCH_AHEAD 16

static void sched_roots(rt__root_fn fn, void *ctx, bool timers)
{
    rt_m *self_m = rt__getm();
    rt_g *self = self_m ? self_m->curg : NULL;
    if (self == NULL)
        rt__throw("gc_sched_roots: not on a goroutine");
    if (!atomic_load_explicit(&rt__sched.gcwaiting, memory_order_acquire))
        rt__throw("gc_sched_roots: the world is not stopped");

    roots_self(fn, ctx, self);

    /* Ms: the records (register blocks included), and the stopped ones. */
    uint32_t e = atomic_load_explicit(&rt__gcstop_epoch, memory_order_acquire);
    static stopped_set ss; /* one stop at a time (worldsema) */
    ss.n = 0;
    for (rt_m *mp = atomic_load_explicit(&rt__sched.allm, memory_order_acquire);
         mp; mp = mp->alllink) {
        report_m(fn, ctx, mp);
        if ((e & 1) == 0 || mp == self_m ||
            atomic_load_explicit(&mp->gcstop_epoch, memory_order_relaxed) != e)
            continue;
        report(fn, ctx, (uintptr_t)mp->gcstop_regs,
               (uintptr_t)(mp->gcstop_regs + RT_GCSTOP_NREGS));
        uintptr_t sp = mp->gcstop_sp;
        if (in_stack(&mp->g0.stack, sp))
            report_stack_from(fn, ctx, &mp->g0.stack, sp);
        else if (ss.n < MAX_STOPPED)
            ss.sp[ss.n++] = sp;
        else
            rt__throw("gc_sched_roots: too many stopped threads");
    }

    /* Goroutines: only in the final set.  The stable set, read at a
     * concurrent mark's start, leaves them to
     * rt__gc_goroutine_roots_running once the world runs again: 100k
     * parked goroutines took that stop 1.5 ms (15 ns each, next to
     * ~1 us for the rest), and every stack is read again at the final
     * stop anyway. */
    rt__lock_acquire(&rt__sched.allg_lock);
    uint32_t nallg = rt__sched.allglen;
    for (uint32_t i = 0; timers && i < nallg; i++) {
        rt_g *gp = rt__sched.allg[i];
        /* The records lie apart (each beside its stack): a miss and a page
         * walk apiece, overlapped by asking for those ahead. */
        if (i + PREFETCH_AHEAD < nallg)
            __builtin_prefetch(rt__sched.allg[i + PREFETCH_AHEAD]);
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
        if (st == RT_GDEAD || st == RT_GIDLE)
            continue;
        report(fn, ctx, (uintptr_t)gp, (uintptr_t)(gp + 1));
        if (gp != self && gp->stack.hi != 0)
            roots_g(fn, ctx, gp, &ss);
    }
    rt__lock_release(&rt__sched.allg_lock);

    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        report(fn, ctx, (uintptr_t)pp, (uintptr_t)(pp + 1));
        if (!timers)
            continue;
#if RT_DEBUG >= 3
        rt__lock_acquire(&pp->timers.lock);
        for (uint32_t j = 0; j < pp->timers.len; j++)
            check_timer_home(pp->timers.heap[j].t);
        rt__lock_release(&pp->timers.lock);
#endif
    }
    /* The timer heaps' arrays, not each timer: a timer lives in a GC
     * object (rt_timer, rt_ticker: time.c), which the array's interior
     * pointer keeps and the marking reads whole; on a goroutine's stack
     * (rt_sleep), read with the stack; or in a poll descriptor
     * (netpoll.c), runtime memory whose timer holds no pointer into the
     * GC heap (its arg is the descriptor).  Reported one by one, the
     * timers were a root range each, a cache miss apiece in this stop.
     * And of a concurrent cycle's final stop only the slots changed since
     * the copy its start took (timer.c, "The collector's view"). */
    if (timers)
        rt__timer_roots_stopped(fn, ctx, atomic_load_explicit(&rt__sweepgen,
                                                              memory_order_relaxed));

    uintptr_t msp = __atomic_load_n(&main_sp, __ATOMIC_ACQUIRE);
    if (msp != 0 && msp < main_hi)
        report(fn, ctx, msp, main_hi);

    /* Registered threads the runtime did not create, while stopped
     * (foreign.c): never in the stable set, their stacks are neither
     * write-tracked nor sure to stay mapped. */
    if (timers)
        rt__foreign_roots(fn, ctx);
}
