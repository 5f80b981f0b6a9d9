/*
 * sched/sched.h -- internal header of the sched/ folder.
 *
 * sched/ owns: goroutines (G), threads (M) and processors (P) and the
 * scheduler that joins them (proc.c), the per-P run queues (runq.c), sysmon
 * (sysmon.c), timers (timer.c, time.c), channels and select (chan.c,
 * select.c), the semaphore table and the sync primitives (sema.c, sync.c),
 * signals relayed to channels (signal.c).
 *
 * Glossary (as in Go's proc.go)
 *   G  a goroutine: a stack, saved registers and a status.
 *   M  an OS thread.  It runs Gs only while it holds a P.  Each M has a g0:
 *      the context of its own thread stack, where the scheduler loop runs
 *      when no G can be switched to directly.
 *   P  a processor: the right to run Go code, with a local run queue, a
 *      free list of dead Gs and a timer heap.  There are exactly MAXPROCS.
 *
 * Lock order (a lock may be taken while holding only locks above it):
 *   0. the signal watchers' lock (signal.c: held across try-sends)
 *   1. channel locks (in address order, see select.c)
 *   2. sema root locks
 *   2b. a poll descriptor's lock (netpoll.c), then the request queue's
 *   3. pp->timers.lock
 *   4. rt__sched.lock   (global run queue, idle Ms, idle Ps)
 *   5. rt__sched.allg_lock
 *   6. rt__sched.gfree_lock
 *   7. m->note (futex word: not a lock)
 */
#ifndef RT_SCHED_H
#define RT_SCHED_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../runtime/runtime.h"

/* ------------------------------------------------------- small locks ---- */

/*
 * rt__lock: a futex-based mutex for the runtime's own short critical
 * sections (Drepper's three-state mutex; spins a little first).  It blocks
 * the thread, not the goroutine: hold it only around bounded work, never
 * across a park.  The zero value is unlocked.
 */
typedef struct rt__lock {
    _Atomic uint32_t key; /* 0 unlocked, 1 locked, 2 locked with waiters */
} rt__lock;
void rt__lock_acquire(rt__lock *l);
void rt__lock_release(rt__lock *l);
/* (rt__lock_acquire_inl / rt__lock_release_inl, below with the no-stop
 * regions they need: the same pair inline, for functions that cannot
 * switch goroutines before their last use.) */
/* For a dying process only (fatal.c's dumps): one attempt, and its
 * release, without the no-stop bookkeeping of the two above (the dump may
 * run on a thread that is not an M, or whose M must not stop now). */
bool rt__lock_try_dying(rt__lock *l);
void rt__lock_release_dying(rt__lock *l);

/* A one-shot wake-up for a sleeping thread (Go's note).  sleep returns once
 * wakeup was called after the last clear. */
typedef struct rt__note {
    _Atomic uint32_t key;
} rt__note;
void rt__note_clear(rt__note *n);
void rt__note_wakeup(rt__note *n);
void rt__note_sleep(rt__note *n);
/* Returns true if woken, false on timeout (ns < 0 sleeps without limit). */
bool rt__note_tsleep(rt__note *n, int64_t ns);

/* gc.h needs rt__lock; sched.h needs gc.h's rt__mcache (in rt_p). */
#include "../gc/gc.h"

/* -------------------------------------------------------------- G ------- */

/* G status values, numbered as in Go so that scheddetail prints them. */
enum {
    RT_GIDLE = 0,     /* just allocated, not yet initialised */
    RT_GRUNNABLE = 1, /* on a run queue; not executing; stack not owned */
    RT_GRUNNING = 2,  /* executing on g->m; owns its stack */
    RT_GSYSCALL = 3,  /* between rt_syscall_enter and _exit; owns its M */
    RT_GWAITING = 4,  /* parked: on some wait queue, not on a run queue */
    RT_GDEAD = 6,     /* exited; on a free list */
};

typedef struct rt_sudog rt_sudog;

/* A thread's C++ exception state, as the C++ ABI's __cxa_get_globals()
 * returns it (libsupc++ and libc++abi alike, outside ARM EHABI): the
 * exceptions being handled, innermost first, and how many are thrown and
 * not yet caught.  Per thread in the C++ runtime; per goroutine here
 * (proc.c, gswitch): a goroutine that parked inside a catch block found
 * another goroutine's exception as its own after it resumed -- a rethrow
 * ended in "terminate called without an active exception", an exception
 * was freed by another's catch (an outside tester's find; Go's panics are
 * per goroutine). */
typedef struct rt__eh_state {
    void *caught;
    unsigned int uncaught;
} rt__eh_state;

struct rt_g {
    /* The fields are grouped by cache line (the record is a 192-byte slab
     * slot, 64-byte aligned): what a spawn, the first switch to the G and
     * its exit touch fills the first two lines, so that a record reused on
     * another processor moves two lines between caches, not three
     * (workload 4: the records go round between the spawning P and the
     * P that runs and frees them). */
    /* --- line 0: switching, starting --- */
    /* Saved stack pointer (rt__ctx_switch frame).  Valid while the G is not
     * running; written by the G itself as it switches out.  NULL for a G
     * that has not run yet: the switch to it starts fn(arg) on a fresh
     * stack (rt__ctx_switch_fresh). */
    void *sp;
    rt__stack stack; /* its stack while it has one: from its first run to
                      * its exit ({0,0} before and after); g0: the thread's */
    /* Status: written by whoever owns the G at that moment (the M running
     * it, or the waker that moves it from waiting to runnable).  Read
     * without lock by tracers and the deadlock check (relaxed). */
    _Atomic uint32_t status;
    int saved_errno;        /* errno while switched out */
    int64_t goid;
    rt_m *m;                /* the M running it; NULL when not running */
    void *arg;              /* entry function's argument */
    /* --- line 1: the rest a spawn writes --- */
    uintptr_t gopc;         /* return address of the rt_go call that made it */
    const char *waitreason; /* set when parking; kept until the next park */
    int64_t waitsince;      /* rt_nanotime when it last parked */
    void *param;            /* wake-up parameter set by the waker (chan.c,
                             * sema.c) */
    /* rt_once_do calls in progress, innermost first (frames on this G's
     * stack): rt_exit completes them, as Go's deferred unlock does (sync.c) */
    struct rt__once_frame *onces;
    void (*fn)(void *);     /* entry function */
    bool is_system;         /* a runtime goroutine (hidden in tracebacks) */
    /* A runtime goroutine running the program's code (the finalizer
     * goroutine inside a finalizer): listed in tracebacks and profiles
     * then, as Go lists runfinq while fingRunning.  Relaxed atomics. */
    bool in_user;
    bool is_g0;
    /* The collector's own goroutines (bggc, bgsweep): their stacks are no
     * roots while parked (see gcstop.c's roots_g) */
    bool noroots;
    /* The collector's initiator: back from a system call with no P free,
     * it waits in rt__sched.prio_g, which every scheduling takes first,
     * not on the global queue (61 schedules deep: 8-36 ms at MAXPROCS=1,
     * the program writing pages meanwhile for the final pause) */
    bool gcprio;
    uint32_t allg_index;
    /* --- line 2 --- */
    void *tsan_fiber;      /* __tsan_create_fiber, or the thread's own */
    /* Stack pointer of the caller of rt_syscall_enter once that call
     * returns: while the G is in SYSCALL its thread runs below it, and the
     * collector scans [syscallsp, stack.hi) (gcstop.c).  Written by the G
     * itself before it publishes SYSCALL. */
    uintptr_t syscallsp;
    /* The C++ runtime's exception state while switched out (rt__eh_state:
     * the exceptions being handled by its catch blocks; the count of those
     * thrown and not yet caught is eh_uncaught, below), saved and restored
     * as errno is, in a program that links the C++ runtime. */
    void *eh_caught;
    rt_g *schedlink; /* lists a waker builds before readying (close, netpoll) */
    /* --- used by channels, select and semaphores (chan.c, sema.c) --- */
    rt_sudog *waiting;    /* sudogs of a select in progress, in lock order */
    _Atomic uint32_t selectdone; /* CAS 0->1 by the case that wins a select */
    uint32_t eh_uncaught;        /* with eh_caught above */
    void *asan_fake_stack; /* __sanitizer_start_switch_fiber's save slot */
    uintptr_t asan_low;    /* ASan: lowest stack address its last life's
                            * unreturned frames may have poisoned */
};

/* Records are 192-byte slab slots: a parked goroutine costs one stack page
 * plus this (BENCHMARKS.md's 4,300-byte budget); a queued goroutine that has
 * not run yet costs only this. */
_Static_assert(sizeof(struct rt_g) <= 192, "rt_g outgrew its slab slot");
_Static_assert(offsetof(struct rt_g, arg) < 64 && offsetof(struct rt_g, fn) < 128 &&
                   offsetof(struct rt_g, allg_index) < 128,
               "a spawn's fields fill the record's first two cache lines");

/*
 * A sudog is a G waiting on a wait queue (channel or semaphore).  It lives
 * on the waiting goroutine's stack: stacks never move, and a parked G's
 * stack stays put until it is readied.
 */
struct rt_sudog {
    rt_g *g;
    rt_sudog *next, *prev; /* wait queue links */
    void *elem;            /* data element (may point into a stack) */
    int64_t acquiretime;
    int64_t releasetime;
    uint32_t ticket;
    bool isselect;
    bool success;          /* woken by a real operation, not by close */
    bool ringwait;         /* a plain send/receive parked on a buffered
                            * channel: a peer may complete it (chan.c) */
    bool handed;           /* ... and did: the value went to elem, or from
                            * it into the ring */
    rt_sudog *waitlink;    /* g->waiting list */
    struct rt_chan *c;     /* the channel it waits on */
    uint32_t *sema_addr;   /* the semaphore it waits on */
    /* sema.c's treap/list fields */
    rt_sudog *parent, *waittail;
};

/* -------------------------------------------------------------- P ------- */

enum {
    RT_PIDLE = 0,
    RT_PRUNNING = 1,
    RT_PSYSCALL = 2,
    RT_PGCSTOP = 3,
    RT_PDEAD = 4,
};

#define RT_RUNQ_SIZE 256
#define RT_GFREE_LOCAL_MAX 64 /* a P's free G records */

typedef struct rt__timer rt__timer;
/* A heap entry keeps its timer's deadline inline, so sifting compares
 * within the contiguous array instead of chasing a pointer per compare
 * (with 100,000 sleepers those pointers land on 100,000 stacks). */
struct rt__timer_slot {
    int64_t when;
    rt__timer *t;
};

struct rt_p {
    int32_t id;
    _Atomic uint32_t status; /* CAS PSYSCALL->PIDLE by sysmon to retake */
    rt_m *m;                 /* back-link to the M holding it (NULL if idle) */
    uint32_t schedtick;      /* incremented on every schedule; owner only */
    /* Incremented when a schedule starts a new time slice: every one but
     * those that run runnext, which inherit the slice of the goroutine
     * that readied them (Go's inheritTime) -- unless a timer did.  sysmon preempts by it; the
     * 61st-tick fairness and schedtrace count schedtick.  Owner only. */
    uint32_t slicetick;
    /* schedtick when runnext was last filled: a G put there during an
     * earlier schedule (or by a timer) keeps its place against the
     * readies of the goroutine running now (rt__runq_put).  Owner only. */
    uint32_t runnext_tick;
    /* runnext's G was readied by a timer: it starts a slice of its own
     * instead of inheriting one (rt__runq_get_inh).  Owner only. */
    bool runnext_timer;
    /* A timer batch left goroutines queued behind runnext: if they are
     * still queued when the TSC reaches this, wake an idle P (proc.c,
     * check_timers).  0: none owed.  Owner only. */
    uint64_t timer_wake_tsc;
    _Atomic uint32_t syscalltick; /* incremented on syscall enter and exit */
    rt_p *link;              /* idle P list, under rt__sched.lock */

    /*
     * Local run queue: a bounded ring.  Only the owner writes runqtail
     * (store-release); the owner and thieves advance runqhead with CAS
     * (acq_rel).  runnext: a G readied by the running G that should run
     * next; other Ps may atomically CAS it to NULL (steal), only the owner
     * CASes it to a valid G.
     */
    _Alignas(64) _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    _Atomic(rt_g *) runnext;
    /* Slots are read by thieves before their CAS on runqhead decides
     * whether the read counted, racing with the owner's writes after a
     * wrap: relaxed atomics (plain moves on x86-64 and aarch64). */
    _Atomic(rt_g *) runq[RT_RUNQ_SIZE];

    /* Dead G records for reuse (stackless), a LIFO array: the most
     * recently freed -- cache-hot -- record is reused first, and taking one
     * reads no field of a record (a list linked through the records would
     * make every take a dependent miss on a line another P last wrote).
     * Owner only; the count is read racily by tracers. */
    rt_g *gfree[RT_GFREE_LOCAL_MAX];
    int32_t gfreecnt;
    /* Free stacks, LIFO; owner only (runtime/stack.c). */
    rt__stackcache stackcache;

    /* Timers of goroutines that ran on this P (timer.c). */
    struct {
        rt__lock lock;
        struct rt__timer_slot *heap; /* 4-ary min-heap ordered by when */
        uint32_t len, cap;
        uint32_t nzombie; /* stopped timers left in the heap (timer.c) */
        _Atomic uint32_t nlive; /* len - nzombie, read without the lock */
        /* For the collector (timer.c, "The collector's view"): a byte per
         * RT_TIMER_CARD slots, set when a slot's timer changes; the
         * timers copied at a concurrent mark's start, and that cycle's
         * sweepgen (0: none) */
        uint8_t *cards;
        struct rt__timer **snap;
        uint32_t snapcap, snapgen;
        _Atomic int64_t when0; /* when of heap[0], 0 if empty; read without lock */
        /* The TSC shortcut (timer.c): while when0 == fast_when, nothing
         * is due before the time-stamp counter reaches fast_tsc.  Written
         * and read only by the M holding the P. */
        int64_t fast_when;
        uint64_t fast_tsc;
    } timers;

    /* sysmon's view, written only by sysmon */
    uint32_t sysmon_schedtick, sysmon_syscalltick, sysmon_slicetick;
    int64_t sysmon_schedwhen, sysmon_syscallwhen;
    int64_t sysmon_schedsince; /* sysmon_schedwhen, never cleared */
    int64_t sysmon_slicesince; /* when slicetick was last seen to move */
    uint32_t sysmon_deferred;
    /* the thread CPU time of this P's M at sysmon_cpu_at, while every P
     * is stuck (sysmon.c, ps_held_for_good); sysmon_cpu_at 0: none yet */
    pid_t sysmon_cpu_tid;
    int64_t sysmon_cpu, sysmon_cpu_at;

    /* Deferred wake-ups (proc.c, "Waking an idle P"): wakes_deferred
     * counts readies that left an idle P asleep (written by the owner,
     * read by sysmon, which keeps ticking fast while it moves);
     * defer_off is how many more readies must wake as before, set by
     * sysmon when its backstop had to wake a P for this one.  Relaxed
     * atomics: hints, on the owner's own line. */
    _Atomic uint32_t wakes_deferred;
    _Atomic uint32_t defer_off;
    /* Set by sysmon when this P's time slice (slicetick) ran > 10 ms
     * while work waits for a P; cleared by the goroutine at its next
     * preemption point (rt__preempt_point), which then yields, or by
     * sysmon once a new slice started. */
    _Atomic uint32_t preempt;
    /* Owner only: the G last readied that way while it waits in runnext,
     * sysmon's clock then, and the decaying score of long waits. */
    rt_g *defer_g;
    int64_t defer_stamp;
    uint32_t defer_score;

    uint64_t fastrand; /* owner only */
    rt__mcache mcache; /* allocation cache (gc/malloc.c); owner only */
    int64_t goidcache, goidcacheend; /* goids handed out in batches; owner only */
    void *pool_cache;  /* rt_pool's per-P slot index base (sync.c) */
    /* GCSTOP because its M was stopped by the collector's signal and
     * keeps it (gcstop.c): start the world gives it back to that M instead
     * of the idle list.  Set by the M (in the handler) before it counts
     * the P in stopwait; cleared by start the world. */
    bool sigstopped;
};

/* -------------------------------------------------------------- M ------- */

/* What the context switched into must do with the one switched out of
 * (see "After the switch" in proc.c). */
enum {
    RT_AFTER_NONE = 0,
    RT_AFTER_READY,  /* put prev on the local run queue (rt_yield) */
    RT_AFTER_GLOBAL, /* put prev on the global run queue */
    RT_AFTER_PARK,   /* call unlockf(prev, arg); if false, make prev runnable */
    RT_AFTER_DEAD,   /* prev exited: put it on the free list */
    RT_AFTER_SYSCALL_BLOCK, /* prev could not get a P back: global queue */
};

/* Callee-saved registers rt_syscall_enter saves: x86-64 rbx rbp r12-r15;
 * aarch64 x19-x28 and x29/x30.  Registers a stop signal's handler copies
 * from the interrupted context: x86-64 the 16 general registers and rip,
 * and xmm0-15; aarch64 x0-x30, sp, pc and v0-v31. */
#if defined(__aarch64__)
#define RT_SYSCALL_NREGS 12
#define RT_GCSTOP_NREGS 97
#else
#define RT_SYSCALL_NREGS 6
#define RT_GCSTOP_NREGS 49
#endif

struct rt_m {
    rt_g g0;          /* scheduler context on the thread's own stack */
    rt_g *curg;       /* the G running on this M, or NULL (on g0) */
    rt_p *p;          /* the P held, or NULL */
    _Atomic(rt_p *) nextp; /* a P handed over by the M that woke this one:
                            * store-release by startm, then the wakeup */
    rt_p *oldp;       /* the P held before entering a syscall */
    int64_t id;
    pid_t tid;
    pthread_t thread;
    rt__note park;    /* sleeps here when idle */
    rt_m *schedlink;  /* idle M list, under rt__sched.lock */
    rt_m *alllink;    /* all Ms, newest first; immutable once linked */
    bool spinning;    /* looking for work (counted in rt__sched.nmspinning) */
    bool running_timers; /* inside check_timers (proc.c): readies from a
                          * timer's callback need no deferred wake-up */
    int64_t park_timer_seen; /* for a park, switch_out saw the P's
                              * earliest timer, due at this, not due yet
                              * (proc.c); 0 if it did not look */
    bool blocked;     /* asleep on park */
    bool is_sysmon;
    int locks, mallocing, gcing, dying, helpgc; /* for scheddetail */
    _Atomic int throwing;
    uint64_t fastrand;
    int *errno_addr;  /* this thread's errno, saved on every switch */
    rt__eh_state *eh; /* this thread's C++ exception state, saved on every
                       * switch; NULL where no C++ runtime is linked */
    volatile int nostop;       /* no-stop region depth (gcstop.c) */
    volatile int stop_pending; /* a stop signal came inside one */
    /* The lock this M sleeps on in rt__lock_acquire's slow path (or may
     * just have been woken from), else NULL.  A stop that catches the
     * thread there passes the wake-up on (gcstop.c): the unlock's single
     * futex wake may have gone to this thread, and the other waiters would
     * sleep through the stop while the lock is free -- with one of them
     * holding a P the stop waits for. */
    struct rt__lock *volatile lockwait;
    /* The callee-saved registers of curg as rt_syscall_enter found them
     * (RT_SYSCALL_NREGS words, see asm_*.S); valid while curg is in
     * SYSCALL.  Written by this M before it publishes SYSCALL. */
    uintptr_t syscallregs[RT_SYSCALL_NREGS];
    /* ... and the return address of its rt_syscall_enter call: with
     * curg's syscallsp and these registers, where a walk of its stack
     * starts (traceback.c: profiles and dumps show a goroutine in a
     * system call from its RT_BLOCKING line up, as Go's from the call). */
    uintptr_t syscallpc;
    /* Stopped for the collector (gcstop.c), by its signal or at the end of
     * a no-stop region: the stop epoch it stopped in (a stop is the
     * current one only while the epoch is unchanged), the stack pointer it
     * stopped at and, for a signal, the interrupted registers.  Written by
     * this M before it counts its P in stopwait (seq_cst), read by the
     * initiator once stopwait is 0. */
    _Atomic uint32_t gcstop_epoch;
    volatile int gcstopping; /* inside the stop (a nested handler leaves) */
    uintptr_t gcstop_sp;
    uintptr_t gcstop_regs[RT_GCSTOP_NREGS];

    /* the deferred action for the context just switched out of */
    int after;
    rt_g *after_g;
    bool (*after_fn)(rt_g *gp, void *arg);
    void *after_arg;
};

/* ---------------------------------------------------- global state ------ */

typedef struct rt__schedt {
    rt__lock lock;
    rt_m *midle;            /* idle Ms */
    int32_t nmidle;
    int32_t mcount;         /* Ms created (sysmon included) */
    int64_t mnext;          /* next M id */
    rt_p *pidle;            /* idle Ps */
    _Atomic int32_t npidle;
    _Atomic int32_t nmspinning;
    /* Global run queue: a ring of G pointers under lock, grown by doubling
     * (mmap: it may grow with the world stopped).  A ring, not a list
     * through g->schedlink: a spill or a batch take is a copy of pointers,
     * with no dependent read of each record (another core's lines) while
     * the lock is held. */
    rt_g **runq;
    uint32_t runqcap;          /* a power of two, or 0 before first use */
    uint32_t runqhead, runqtail; /* free-running indices, mod runqcap */
    _Atomic int32_t runqsize;
    _Atomic(rt_g *) prio_g; /* a runnable G that goes before any queue (gcprio) */
    int32_t gomaxprocs;
    rt_p **allp;            /* [gomaxprocs] */
    _Atomic(rt_m *) allm;

    rt__lock allg_lock;
    rt_g **allg;            /* every G ever made (dead ones too) */
    uint32_t allglen, allgcap;
    _Atomic int64_t goidgen;
    _Atomic int32_t ngoroutines; /* live user Gs (not dead, not system) */
    _Atomic int32_t nsyscall;    /* Gs in rt_syscall_enter */
    _Atomic int32_t nsystem;     /* live runtime (system) goroutines */
    /* Gs parked in netpoll.c (sockets, names, files), from the commit of
     * their park until they are on a run queue; relaxed atomics.
     * While any exist checkdead reports no deadlock: I/O may wake them. */
    _Atomic int32_t external_waiters;
    int32_t newprocs;            /* rt_maxprocs request, applied at start
                                  * the world; under lock */
    _Atomic int64_t coarse_now;  /* rt_nanotime as of sysmon's last tick;
                                  * stamps waitsince without a clock read */
    _Atomic uint64_t block_events; /* passes through rt__block_event */
    /* sysmon's current sleep is at most RT_WAKE_WAIT_NS: a ready may
     * leave the idle Ps asleep (proc.c, "Waking an idle P"). */
    _Atomic int sysmon_fast;
    /* sysmon sleeps on sysmon_note while every P is idle (sysmon.c, "Deep
     * sleep"); a P taken off the idle list wakes it (proc.c, npidle_dec).
     * seq_cst against npidle. */
    _Atomic int sysmon_wait;
    rt__note sysmon_note;
    _Atomic int sysmon_kick; /* rt__sysmon_kick since sysmon last looked */
    _Atomic int64_t sysmon_delay; /* its current tick, ns (tests) */

    rt__lock gfree_lock;    /* global free G records (stackless) */
    rt_g **gfree;           /* array of ngfree of them, gfreecap slots
                             * (mmap/mremap: it grows with the world
                             * stopped too, when malloc may be locked) */
    int32_t gfreecap;
    _Atomic int32_t ngfree; /* written under the lock, peeked without */

    _Atomic int stopping;   /* rt_main's function returned: run nothing new */
    _Atomic uint64_t stuck_count; /* Gs seen running > 10 ms by sysmon */
    _Atomic uint64_t preempt_count; /* yields at preemption points */
    _Atomic uint64_t stranded_count; /* sysmon's rescues of a global queue
                                      * left full with every P idle: each
                                      * one a lost wake-up (sysmon.c) */
    _Atomic int orphan_timers; /* a stuck P has due timers: running Ps run
                                * them at their next 61st schedule */

    /* The idle M sleeping until the earliest timer (at most one), and that
     * deadline; under lock.  A timer added earlier wakes it. */
    rt_m *timer_sleeper;
    _Atomic int64_t timer_sleep_until;
    bool sleeper_polls;     /* it sleeps in the network poller; under lock */
    _Atomic uint64_t timer_naps; /* its sleeps that ran to their end, each
                                  * at least RT_TIMER_NAP_MIN (proc.c) */

    /* Stop-the-world (rt__stop_the_world): gcwaiting is written under
     * lock.  stopwait counts the Ps not yet stopped; every decrement is an
     * atomic RMW (the stop signal's handler cannot take the lock); whoever
     * brings it to 0 wakes stopnote. */
    _Atomic int gcwaiting;
    _Atomic int32_t stopwait;
    rt__note stopnote;

    _Atomic int main_started; /* goroutine 1 and sysmon exist: rt_go works
                               * from any thread from here on */
    _Atomic int foreign_go; /* a thread outside the runtime called rt_go:
                             * deadlock detection is off from then on */
    _Atomic int running;    /* the first M is started (sysmon may report);
                             * set after that M may already run goroutine
                             * 1: not a test of whether rt_go works */
    bool main_goexit;       /* goroutine 1 called rt_exit */
    int main_result;
    rt__note main_done;
} rt__schedt;

extern rt__schedt rt__sched;

/* Relaxed atomic: sysmon and other P-less threads ask while rt_maxprocs
 * may be resizing (the store in procresize is atomic too). */
/* Whether tracebacks, deadlock reports and the goroutine profile leave gp
 * out (below GOTRACEBACK=system): a runtime goroutine, unless it runs the
 * program's code. */
static inline bool rt__g_hidden(rt_g *gp)
{
    return __atomic_load_n(&gp->is_system, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&gp->in_user, __ATOMIC_RELAXED);
}

static inline bool rt__sched_gomaxprocs_is_one(void)
{
    return __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_RELAXED) == 1;
}

/* ---------------------------------------------------------- proc.c ------ */

/* The calling thread's M (or NULL), read directly: only where no switch
 * can happen between the read and the use (lock.c, signal handlers). */
extern __thread rt_m *rt__tls_m;
/* The M of the calling thread, or NULL on threads the runtime did not make.
 * Never inlined: a goroutine may resume on another thread after any call
 * that can switch, and the compiler must not reuse an old TLS address. */
rt_m *rt__getm(void);
/* Whether entry is the first instruction of one of the switch's own
 * functions (gswitch, gswitch_first, switch_out), whose frames are the
 * innermost of a parked goroutine and differ by the path it parked
 * through: the goroutine profile leaves them out so identical stacks
 * merge. */
bool rt__is_switch_fn(uintptr_t entry);
/* Whether entry is the first instruction of the frames every goroutine's
 * stack starts from (the trampoline and goentry): grt's runtime.goexit,
 * which profiles leave out as Go's do. */
bool rt__is_goroutine_root(uintptr_t entry);
/* Threads the runtime made that are not Ms and never run goroutines (the
 * collector's mark threads, the CPU profile's writer, rt_debug_serve's
 * pre-rt_main helper): checkdead counts them among its own, so that their
 * existence does not read as a thread of the program that might call
 * rt_go.  Each adds 1 before it can run and subtracts 1 when it ends. */
extern _Atomic int rt__aux_threads;
/* rt_exit: completes the rt_once_do calls the goroutine is inside (sync.c). */
void rt__once_goexit(rt_g *gp);

/* The running goroutine, or NULL when not on a goroutine. */
rt_g *rt__getg(void);

/*
 * Parks the calling goroutine with Go's wait reason (a string literal).
 * After the switch away from it, unlockf(gp, arg) runs on the next context;
 * if it returns false the G is made runnable again at once.  unlockf may be
 * NULL.  Returns when the G has been readied by rt__goready.
 */
void rt__gopark(bool (*unlockf)(rt_g *gp, void *arg), void *arg,
                const char *reason);
/* Parks and releases l after the switch (Go's goparkunlock). */
void rt__goparkunlock(rt__lock *l, const char *reason);
/* Makes a waiting G runnable: it goes to runnext of the caller's P (as Go's
 * ready(gp, next=true)) and an idle P is woken if there is one. */
void rt__goready(rt_g *gp);
/* rt__goready for a waker that will usually block soon (a channel
 * partner): when gp is the only G queued, no idle P is woken for it
 * (proc.c, "Waking an idle P"). */
void rt__goready_handoff(rt_g *gp);
/* Owner only: pp is about to run pp->defer_g (proc.c). */
void rt__defer_resolved(rt_p *pp);
/* Above it, readies on a P wake an idle P as Go does (proc.c). */
#define DEFER_SCORE_MAX 256u
/* Makes a waiting G runnable on the global queue and wakes an idle P for
 * it, whether or not the caller holds a P: for a G that should run beside
 * the caller, not after it (the background collector's start). */
void rt__goready_idle_p(rt_g *gp);
/* Like rt__goready but puts gp at the tail of a run queue instead. */
void rt__goready_tail(rt_g *gp);
/* Makes n WAITING goroutines (linked by schedlink) runnable: onto the
 * caller's P if it holds one, else the global queue; idle Ps are woken
 * for them (Go's injectglist). */
void rt__injectglist(rt_g *head, rt_g *tail, int32_t n);
/* Wakes mp from its idle sleep, wherever it sleeps (its note, or the
 * network poller's loop). */
void rt__wake_m(rt_m *mp);

/* Calls fn for every G in allg order with the allg lock held; fn must not
 * block or allocate. */
void rt__for_each_g(void (*fn)(rt_g *gp, void *arg), void *arg);
/* The world stopped: the tops of stacks goroutines hold, for memstats'
 * stack_inuse -- every one (*all set) when there are at most max goroutine
 * records, else up to max found by random probes of them (the same stack
 * may come twice).  Returns how many were written to his. */
int rt__stacks_sample(uintptr_t *his, int max, bool *all);
/* The same for a dying process's dump (fatal.c): without the lock if it
 * does not come within ~50 ms. */
void rt__for_each_g_dying(void (*fn)(rt_g *gp, void *arg), void *arg);
/* For every M (newest first). */
void rt__for_each_m(void (*fn)(rt_m *mp, void *arg), void *arg);

/* Cheap per-M/per-P random numbers (wyrand). */
/* wyrand: the generator behind rt__fastrand, on a state the caller owns. */
static inline uint64_t rt__wyrand(uint64_t *s)
{
    *s += 0xa0761d6478bd642fULL;
    __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbULL);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}
uint32_t rt__fastrand(void);
uint32_t rt__fastrandn(uint32_t n);

/* Wakes an idle P to run work, if there is an idle P and no spinning M. */
void rt__wakep(void);
/* How long a goroutine readied into runnext may wait for its P while
 * another P sleeps, before sysmon wakes that P (proc.c, "Waking an idle
 * P"; sysmon.c). */
#define RT_WAKE_WAIT_NS (20 * RT_MICROSECOND)
/* Bytes mapped for goroutine records so far (proc.c: slabs of 64 KiB
 * doubling to 1 MiB). */
size_t rt__gslab_bytes(void);
/* The shortest sleep of an idle M for a timer (proc.c, stopm). */
#define RT_TIMER_NAP_MIN (50 * RT_MICROSECOND)
/* Stops every P (the calling goroutine keeps running on its own); the
 * caller must be a goroutine.  Goroutines stop at their next scheduling
 * point: C code is not preempted.  start restarts them, and returns when
 * it let them go (rt__gc_startworld). */
void rt__stop_the_world(const char *reason);
int64_t rt__start_the_world(void);
/* RT_DEBUG >= 3: validates the scheduler's lists and counters (sysmon). */
void rt__sched_check(void);
/* Number of live goroutines (rt_num_goroutine). */
int32_t rt__gcount(void);
/* rt_go for runtime goroutines (finalizers, sweeper, ...): not counted by
 * rt_num_goroutine and hidden in tracebacks below level 2. */
int64_t rt__go_system(void (*fn)(void *arg), void *arg);
/* The C half of rt_syscall_enter (asm_*.S): regs are the caller's
 * callee-saved registers (RT_SYSCALL_NREGS words), sp the caller's stack
 * pointer once rt_syscall_enter returns. */
void rt__syscall_enter(const uintptr_t *regs, uintptr_t sp);
/* Gives pp, whose M is stuck in a syscall, to another M (sysmon). */
void rt__handoffp(rt_p *pp);
/* After rt_syscall_enter: gives the P away at once (a long call). */
void rt__syscall_handoff(void);
/* Moves every timer of `from` onto `to` (procresize). */
void rt__timers_move(rt_p *from, rt_p *to);
/* sysmon's thread body (sysmon.c), started by rt__sysmon_start. */
void rt__sysmon_main(rt_m *mp);
/* Cuts sysmon's sleep short and puts it back on its 20 us tick (sysmon.c,
 * "Kicks"): a system call began with work queued behind it. */
void rt__sysmon_kick(void);

/* Scheduler start-up, called by rt_main. */
void rt__sched_init(int maxprocs);
/* Starts goroutine 1 running fn and blocks the calling (main) thread until
 * it returns; returns its result. */
int rt__sched_run_main(int (*fn)(int, char **), int argc, char **argv);

/* Go's wait reason strings. */
#define RT_WAIT_CHAN_SEND         "chan send"
#define RT_WAIT_CHAN_RECV         "chan receive"
#define RT_WAIT_CHAN_SEND_NIL     "chan send (nil chan)"
#define RT_WAIT_CHAN_RECV_NIL     "chan receive (nil chan)"
#define RT_WAIT_SELECT            "select"
#define RT_WAIT_SELECT_NO_CASES   "select (no cases)"
#define RT_WAIT_SLEEP             "sleep"
#define RT_WAIT_SEMACQUIRE        "semacquire"
#define RT_WAIT_IO                "IO wait"

/*
 * The block-profile hook: every blocking operation that parked passes
 * through here once it is woken, with the time it started blocking (taken
 * before parking, 0 if the profile was off).  The block profiler (trace/)
 * records the event here; until it exists this only counts.
 */
void rt__block_event(int64_t start_ns, int skip);
extern _Atomic int64_t rt__block_profile_rate;

/* --------------------------------------------------------- runq.c ------- */

bool rt__runq_put_slow(rt_p *pp, rt_g *gp, uint32_t h, uint32_t t);
void rt__runq_put_full(rt_p *pp, rt_g *gp);

/* Owner only.  Puts gp on pp's local queue (runnext if next); on overflow
 * moves half of the queue to the global queue.  Inline: it is on every
 * hand-off's path. */
static inline void rt__runq_put(rt_p *pp, rt_g *gp, bool next)
{
    if (next) {
        rt_g *old = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
        /* The newest ready takes runnext, as in Go, from a G readied
         * during this same schedule; one readied before it (or by a
         * timer: proc.c, runq_put_timer) keeps its place and gp goes to
         * the tail.  Pushed to the tail, a woken sleeper waited behind a
         * chain of hand-offs for a whole slice whenever the 61st tick's
         * pick had passed it over (find_fast) -- often here, where that
         * tick counts every schedule (Go's counts slices).  Cost: a
         * compare and two stores on the P's own line.  (A thief may empty
         * runnext meanwhile: gp then waits in the ring, harmlessly.) */
        if (old == NULL || pp->runnext_tick == pp->schedtick) {
            while (!atomic_compare_exchange_weak_explicit(
                &pp->runnext, &old, gp, memory_order_release, memory_order_relaxed))
                ;
            pp->runnext_tick = pp->schedtick;
            pp->runnext_timer = false;
            if (old == NULL)
                return;
            gp = old; /* kick the old runnext to the tail */
        }
    }
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (rt__likely(t - h < RT_RUNQ_SIZE)) {
        atomic_store_explicit(&pp->runq[t % RT_RUNQ_SIZE], gp, memory_order_relaxed);
        atomic_store_explicit(&pp->runqtail, t + 1, memory_order_release);
        return;
    }
    /* Full: out of line, so that callers on the switch path keep no
     * registers live across a call they almost never make. */
    rt__runq_put_full(pp, gp);
}

/* Owner only.  The head of the ring, leaving runnext alone (fairness). */
static inline rt_g *rt__runq_get_ring(rt_p *pp)
{
    if (rt__sched_gomaxprocs_is_one()) {
        /* One P: there are no thieves (stealing needs a P of one's own, and
         * the P count only changes with the world stopped), so the owner
         * pops without a CAS. */
        uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
        uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (t == h)
            return NULL;
        rt_g *gp = atomic_load_explicit(&pp->runq[h % RT_RUNQ_SIZE], memory_order_relaxed);
        atomic_store_explicit(&pp->runqhead, h + 1, memory_order_release);
        return gp;
    }
    for (;;) {
        uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (t == h)
            return NULL;
        rt_g *gp = atomic_load_explicit(&pp->runq[h % RT_RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &h, h + 1,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            /* Start fetching the next G's record: it was written on
             * another processor, most likely (spawned there, or stolen
             * from there), and this one will switch to it next unless
             * something is readied meanwhile (workload 4: the switch to
             * a fresh G waited on its record's line).  Cost: a load of a
             * ring slot this P just read the neighbour of, and a
             * prefetch. */
            if (h + 1 != t)
                __builtin_prefetch(atomic_load_explicit(&pp->runq[(h + 1) % RT_RUNQ_SIZE],
                                                        memory_order_relaxed));
            return gp;
        }
    }
}

/* Owner only.  runnext first, then the head of the ring.  *inherit is
 * set when the G is runnext's (its caller leaves it false otherwise): it
 * runs in the current time slice (slicetick) -- but for one a timer
 * readied, which the running goroutine did not hand anything to.  Right
 * after a preemption that slice is spent: inherited, it had the
 * timer-woken goroutine (and the one it handed to) asked to yield at once
 * and queued behind the preempted goroutines, 12-44 ms for a wake-up
 * beside select-with-default loops (Go 0.1 ms). */
static inline rt_g *rt__runq_get_inh(rt_p *pp, bool *inherit)
{
    rt_g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (next != NULL &&
        atomic_compare_exchange_strong_explicit(&pp->runnext, &next, NULL,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        if (rt__unlikely(next == pp->defer_g))
            rt__defer_resolved(pp);
        *inherit = !pp->runnext_timer;
        return next;
    }
    return rt__runq_get_ring(pp);
}
static inline rt_g *rt__runq_get(rt_p *pp)
{
    bool inherit;
    return rt__runq_get_inh(pp, &inherit);
}
/* Thief: steals about half of victim's queue into pp's and returns one G
 * to run, or NULL.  steal_next: may take victim's runnext too. */
rt_g *rt__runq_steal(rt_p *pp, rt_p *victim, bool steal_next);
/* Any thread (sysmon): moves everything queued on victim, runnext too,
 * to the global queue (takes rt__sched.lock); returns how many. */
uint32_t rt__runq_drain_global(rt_p *victim);
bool rt__runq_empty(rt_p *pp);
uint32_t rt__runq_len(rt_p *pp);
uint32_t rt__runq_count(rt_p *pp); /* the ring and runnext */
/* Global queue; rt__sched.lock must be held. */
void rt__globrunq_put(rt_g *gp);
void rt__globrunq_put_batch(rt_g *head, rt_g *tail, int32_t n);
void rt__globrunq_put_array(rt_g *const *gs, int32_t n);
rt_g *rt__globrunq_get(rt_p *pp, int32_t max);

/* -------------------------------------------------------- timer.c ------- */

/*
 * Runtime timers, kept in per-P heaps (Go >= 1.14 design).  f(arg, seq, now)
 * runs on the scheduler of whichever M finds the timer due: it must not
 * block, park or take channel locks for long (it may ready goroutines and
 * do non-blocking channel sends).  A timer belongs to at most one heap.
 */
struct rt__timer {
    int64_t when;    /* monotonic ns */
    int64_t period;  /* > 0: re-armed at when + period after firing */
    void (*f)(void *arg, uintptr_t seq, int64_t now);
    void *arg;
    uintptr_t seq;
    /* private to timer.c */
    _Atomic uint32_t busy; /* add/del/mod of this timer hold it (spin) */
    _Atomic(rt_p *) pp; /* heap it is on, or NULL; written under that
                         * heap's lock, read without to find the lock */
    uint32_t idx;       /* index in that heap; under the heap's lock */
    /* Set by its owner before the first add: t lives in GC memory, so a
     * stop may leave it in the heap, marked (timer.c, "Stopping"). */
    bool lazy;
    bool zombie;        /* stopped, still in the heap; under its lock */
};
/* Adds t (not on a heap) to the current P's heap. */
void rt__timer_add(rt__timer *t);
/* Stops t if it is pending; returns true if it was.  A lazy t may stay in
 * its heap as a zombie, never fired (timer.c, "Stopping"). */
bool rt__timer_del(rt__timer *t);
/* Changes when (and period) of t: re-armed in place on the heap it is on
 * (a zombie too), else added to the current P's; returns true if it was
 * pending. */
bool rt__timer_mod(rt__timer *t, int64_t when, int64_t period);
/* Runs pp's due timers (pp must be held by the caller's M); returns the
 * when of the earliest remaining timer or 0. */
int64_t rt__timers_run(rt_p *pp, int64_t now);
/* The earliest when over all Ps' heaps, 0 if none (a stopped timer's,
 * maybe: timer.c, "Stopping"). */
int64_t rt__timers_next(void);
/* Whether any P holds a timer not stopped (checkdead). */
bool rt__timers_live(void);
/* Bytes of the Ps' timer heap arrays (memstats other_sys). */
extern _Atomic uint64_t rt__timer_table_bytes;

/* The TSC shortcut of "any timer due?" (timer.c).  rt__tsc_per_ns is the
 * time-stamp counter's rate in ticks per nanosecond, 32.32 fixed point,
 * lowered by RT_TSC_MARGIN; 0 while uncalibrated or where the counter
 * cannot be trusted (the shortcut is then off). */
extern _Atomic uint64_t rt__tsc_per_ns;
/* sysmon, every tick, with the time it just read. */
void rt__tsc_calibrate(int64_t now);
/* Whether the kernel's clock source is the TSC (the shortcut's condition). */
bool rt__tsc_is_clocksource(void);
/* A (counter, clock) pair read within a few microseconds of each other,
 * the counter's value the midpoint of two reads around the clock's; false
 * if four tries were all descheduled in between. */
bool rt__tsc_pair(uint64_t *tsc, int64_t *ns);
#if defined(__x86_64__)
static inline uint64_t rt__tsc(void) { return __builtin_ia32_rdtsc(); }
#else
static inline uint64_t rt__tsc(void) { return 0; } /* shortcut off */
#endif

/* ---------------------------------------------------------- sync.c ------ */

/* Drops the contents of every rt_pool (the collector calls it at the start
 * of each cycle, with the world stopped). */
void rt__pool_clear_all(void);
/* Frees what the last clear retired (after the world restarts: no malloc
 * or free while it is stopped). */
void rt__pool_free_retired(void);
/* Whether a sync primitive may spin (iter spins done so far): only while
 * other Ps are running goroutines and the local run queue is empty. */
bool rt__sync_can_spin(int iter);

/* ---------------------------------------------------------- sema.c ------ */

/* Profiles a semacquire may report to (bit set). */
#define RT_SEMA_PROFILE_BLOCK 1
#define RT_SEMA_PROFILE_MUTEX 2
/* Not a profile: return false after a wake-up that found the count taken
 * (by a goroutine that came by meanwhile) instead of queueing again. */
#define RT_SEMA_WAKE_ONCE 4
/* Go's semacquire1: waits until *addr > 0 and decrements it, parking the
 * goroutine (never the thread).  lifo queues at the head of addr's waiters;
 * flags is a mask of RT_SEMA_PROFILE_* and RT_SEMA_WAKE_ONCE; skip is for
 * profile stacks.  Returns whether it took the count (always, without
 * RT_SEMA_WAKE_ONCE). */
bool rt__semacquire(uint32_t *addr, bool lifo, int flags, int skip);
/* Increments *addr and wakes the first waiter on addr, if any.  handoff:
 * the count goes directly to that waiter and the caller yields to it. */
void rt__semrelease(uint32_t *addr, bool handoff, int skip);
/* Goroutines queued on addr (takes the root lock; for tests/debugging). */
uint32_t rt__sema_waiters(const uint32_t *addr);
/* Validates every root (treap order, heap order, links, counts) and throws
 * on a broken invariant; returns the number of queued waiters. */
uint32_t rt__sema_check(void);
/* rt_cond's wait list (Go's notifyList): add takes a ticket (with the
 * cond's mutex held), wait parks until that ticket is notified. */
uint32_t rt__notify_list_add(rt_cond *c);
void rt__notify_list_wait(rt_cond *c, uint32_t ticket);
void rt__notify_list_notify_one(rt_cond *c);
void rt__notify_list_notify_all(rt_cond *c);
/* The mutex-profile hook, called where Go's semrelease calls mutexevent:
 * wait_ns is how long the woken waiter was queued.  It only counts for now
 * (rt__mutex_contention_stats); the mutex profiler fills it in.  Waiters
 * ask for it only while rt__mutex_profile_fraction > 0 (set by
 * rt_set_mutex_profile_fraction). */
void rt__mutex_contention_event(int64_t wait_ns, int skip);
void rt__mutex_contention_stats(uint64_t *events, int64_t *total_ns);
extern _Atomic int32_t rt__mutex_profile_fraction;

/* -------------------------------------------------------- gcstop.c ------ */

/*
 * Stopping the world for the collector, and the roots the scheduler owns.
 *
 * rt__gc_stopworld is called on a goroutine (the collector's initiator)
 * holding no runtime lock.  It returns once no other thread runs goroutine
 * code or touches runtime state the collector reads: Ms at a scheduling
 * point park there; Ms running user code are stopped by a signal whose
 * handler spills their registers and waits; Ps in syscalls are taken (their
 * goroutine's registers were saved by rt_syscall_enter); a thread inside a
 * no-stop region (below) is stopped as soon as it leaves it.
 * rt__gc_startworld resumes them all, and returns when it let them go
 * (rt_nanotime just before the wake-ups): the end of the pause.  Taken
 * before the wakes, as Go takes a mark termination's end before
 * startTheWorldWithSema: a futex wake may hand the waker's CPU to the
 * thread it wakes, and the initiator then sits preempted for a time
 * slice (3-4 ms seen in workload 12) while the program runs.
 *
 * rt__gc_sched_roots (world stopped, on the initiator) calls fn(lo, hi,
 * ctx) for every range that may hold pointers into the GC heap and that
 * the scheduler owns: each goroutine's stack from its saved stack pointer
 * (for a stopped thread, its interrupted one minus the red zone) up to its
 * top; each stopped thread's spilled registers and the stack it was on;
 * the initiator's own registers and stack; the G, M and P records and the
 * P timer heaps.  Ranges are word-aligned.  fn is called with some
 * runtime locks held (allg, a P's timers) and must not take them.
 *
 * While the world is stopped the initiator must not park, and must not
 * call malloc, stdio or anything else that takes a libc lock (a stopped
 * thread may hold it).  A scanner that reads the reported ranges reads
 * goroutine stacks through ASan's redzones and memory other threads wrote
 * without synchronisation: it must be __attribute__((no_sanitize("address",
 * "thread"))).  Threads the runtime did not create are not stopped by
 * rt__gc_stopworld; the registered ones (foreign.c) are stopped by the
 * collector for its stopped mark, with the same signal.
 * rt__gc_stopworld and rt__gc_startworld are defined in proc.c (they share
 * the stop machinery of rt__stop_the_world); the signal side, the roots
 * and the essay are in gcstop.c.
 */
typedef void (*rt__root_fn)(uintptr_t lo, uintptr_t hi, void *ctx);
/* The collector's reading of the timer heaps (timer.c): at a concurrent
 * mark's start, with the world running, a copy of every heap's timers;
 * with the world stopped, the slots changed since that copy (the whole
 * heaps if no copy was taken in this cycle, gen being rt__sweepgen). */
#define RT_TIMER_CARD 256
void rt__timer_roots_concurrent(rt__root_fn fn, void *ctx, uint32_t gen);
void rt__timer_roots_stopped(rt__root_fn fn, void *ctx, uint32_t gen);
extern _Atomic uint64_t rt__timer_stop_slots; /* the last stopped read's slots (tests) */
void rt__gc_stopworld(void);
int64_t rt__gc_startworld(void);
void rt__gc_sched_roots(rt__root_fn fn, void *ctx);
/* The same ranges but the P timer heaps and the goroutines: what stays
 * mapped after the world restarts (M and P records are never freed, the
 * stopped threads' stacks stay), so that a concurrent marker may read
 * them later (a timer heap's array is reallocated as it grows; its
 * timers live in the GC heap). */
void rt__gc_sched_roots_stable(rt__root_fn fn, void *ctx);
/* With the world running (a concurrent mark's start, after the stop):
 * every live G's record and its stack from the stack pointer it last
 * saved, read without stopping it -- stacks are never unmapped and G
 * records never freed; what is read stale is read again at the final
 * stop, which reports every stack in full (rt__gc_sched_roots). */
void rt__gc_goroutine_roots_running(rt__root_fn fn, void *ctx);
/* The collector's entry (gc/collector.c; written under its cycle
 * semaphore): its goroutine and the stack pointer below its spill of the
 * caller's callee-saved registers.  The initiator's stack is then a root
 * from there up, not from the collector's deepest frame: the collector's
 * frames hold no program pointer, but their unwritten slots may hold dead
 * ones. */
extern rt_g *rt__gc_entry_g;
extern uintptr_t rt__gc_entry_sp;

/* The signal that stops threads running goroutine code (SIGURG, see
 * gcstop.c); Ms keep it unblocked. */
#define RT_SIG_GCSTOP SIGURG
/* Installs its handler (rt__sched_init). */
void rt__gcstop_init(void);
/* proc.c's stop and start of the world call these, rt__sched.lock held:
 * begin makes the stop epoch odd (a signal stop is in progress), end makes
 * it even again and releases every thread stopped in it. */
void rt__gcstop_begin(void);
void rt__gcstop_end(void);
/* Sends the stop signal to the M of every P still RUNNING, except self. */
void rt__gcstop_signal_running(rt_m *self);
/* Stops the calling M here if a signal stop is in progress and it holds
 * a P outside any no-stop region (a lock waiter about to sleep: under
 * TSan the signal would not reach it in the kernel). */
void rt__gcstop_poll(rt_m *mp);
/* Odd while a stop of the world is in progress (gcstop.c). */
extern _Atomic uint32_t rt__gcstop_epoch;
/* rt__sched_run_main: the main thread sleeps on n, its stack (from here
 * up, registers spilled) reported as a root meanwhile. */
void rt__gcstop_main_sleep(rt__note *n);

/* No-stop regions: a thread whose M is inside one is not stopped there
 * (the allocator's fast path, every held runtime lock).  Nest freely; two
 * plain memory operations each (the signal handler runs on the same
 * thread, so a compiler barrier is all the ordering needed). */
static inline void rt__nostop_begin(rt_m *mp)
{
    mp->nostop++;
    atomic_signal_fence(memory_order_seq_cst);
}
void rt__nostop_stop_pending(rt_m *mp);
static inline void rt__nostop_end(rt_m *mp)
{
    atomic_signal_fence(memory_order_seq_cst);
    if (--mp->nostop == 0 && rt__unlikely(mp->stop_pending))
        rt__nostop_stop_pending(mp);
}

/* rt__lock_acquire and rt__lock_release with their uncontended paths
 * inline, for the channel operations' hot paths (chan.c: the calls were
 * 5-7 % of an unbuffered round trip).  They read the thread's M from TLS
 * where they stand, and the compiler may keep a TLS address from a
 * function's start to its end (GCC takes the thread pointer as invariant
 * within a function): use them only in a function that cannot switch
 * goroutines -- park, yield, be preempted at a call -- before its last
 * use of them.  Everywhere else, the out-of-line pair. */
void rt__lock_slow(rt__lock *l, rt_m *mp);
void rt__lock_wake(rt__lock *l);
static inline void rt__lock_acquire_inl(rt__lock *l)
{
    rt_m *mp = rt__tls_m;
    if (mp != NULL)
        rt__nostop_begin(mp);
    uint32_t c = 0;
    /* Uncontended: one CAS (acquire). */
    if (rt__likely(atomic_compare_exchange_strong_explicit(&l->key, &c, 1, memory_order_acquire,
                                                           memory_order_relaxed)))
        return;
    rt__lock_slow(l, mp);
}
static inline void rt__lock_release_inl(rt__lock *l)
{
    /* Release: publishes the critical section to the next holder. */
    if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
        rt__lock_wake(l);
    rt_m *mp = rt__tls_m;
    if (mp != NULL) {
        /* Released on another thread than it was taken on: the lock was
         * held across a park (never allowed). */
        rt__assert_lvl(2, mp->nostop > 0);
        rt__nostop_end(mp);
    }
}

/* -------------------------------------------------------- foreign.c ----- */

/*
 * Threads the runtime did not create (the program's own pthreads, main()
 * before rt_main) that use the GC heap: registered on their first call into
 * it, stopped with the stop signal during the collector's marking pauses,
 * their registers and stacks scanned then (the essay is in foreign.c).
 */
typedef struct rt__fthread rt__fthread;
struct rt__fthread {
    rt__fthread *next;      /* every record, newest first; never freed */
    _Atomic uint32_t state; /* RT_FT_FREE, RT_FT_CLAIMED, RT_FT_ACTIVE */
    pid_t tid;                    /* written by the thread, read by stops */
    pid_t dead_tid;               /* the initiator's: a tid found gone */
    uintptr_t stack_lo, stack_hi; /* pthread_getattr_np at registration */
    volatile int nostop;          /* no-stop region depth (as rt_m's) */
    volatile int stop_pending;    /* a stop signal came inside one */
    volatile int stopping;        /* inside the stop (a nested handler leaves) */
    /* The foreign stop epoch it is stopped in (written last, release), the
     * stack pointer it stopped at and the interrupted registers. */
    _Atomic uint32_t stop_epoch;
    uintptr_t stop_sp;
    uintptr_t regs[RT_GCSTOP_NREGS];
    /* Waiting for a runtime lock in rt__foreign_wait_lock: 1 parked there
     * (stop_sp valid, registers spilled above it), 2 counted as stopped
     * by the initiator without a signal. */
    _Atomic uint32_t parked;
};
enum { RT_FT_FREE, RT_FT_CLAIMED, RT_FT_ACTIVE };

/* The calling thread's record, or NULL (Ms and unregistered threads). */
extern __thread rt__fthread *rt__tls_ft;
/* Registers the calling thread (not an M) and returns its record. */
rt__fthread *rt__foreign_register(void);
/* The record of the calling thread, which is not an M, registering it on
 * its first call: one TLS load on the path of threads without an M. */
static inline rt__fthread *rt__foreign_self(void)
{
    rt__fthread *f = rt__tls_ft;
    return rt__likely(f != NULL) ? f : rt__foreign_register();
}
/* A call into the runtime from the calling thread: one that is neither
 * an M nor registered registers (its stack and registers are roots from
 * then on).  Every public entry a thread outside the runtime may use
 * calls it, or allocates (which does the same); one TLS load for Ms. */
static inline void rt__foreign_note(void)
{
    if (rt__unlikely(rt__tls_m == NULL))
        (void)rt__foreign_self();
}
/* No-stop regions of a registered thread, as rt__nostop_begin/end for an
 * M: the stop signal only marks a thread inside one, which stops itself
 * at the region's end. */
static inline void rt__foreign_nostop_begin(rt__fthread *f)
{
    f->nostop++;
    atomic_signal_fence(memory_order_seq_cst);
}
void rt__foreign_stop_pending(rt__fthread *f);
static inline void rt__foreign_nostop_end(rt__fthread *f)
{
    atomic_signal_fence(memory_order_seq_cst);
    if (--f->nostop == 0 && rt__unlikely(f->stop_pending))
        rt__foreign_stop_pending(f);
}
/* Waits (FUTEX_WAIT) while the futex word *key is val, outside any
 * no-stop region, parked: a stop counts the thread stopped at once, without
 * a signal, and it does not return before that stop ends. */
void rt__foreign_wait_lock(rt__fthread *f, _Atomic uint32_t *key, uint32_t val);
/* Stops every registered thread (the collector, world stopped by
 * rt__gc_stopworld, no runtime lock held but the shared cache's).  No-op
 * outside a signal stop of the world or when no thread ever registered. */
void rt__foreign_stop(void);
/* Lets them go (also done by the world's restart: rt__gcstop_end). */
void rt__foreign_release(void);
/* While they are stopped: fn over each one's registers and its stack from
 * its stop sp (less the red zone) to its top (gcstop.c's sched roots). */
void rt__foreign_roots(rt__root_fn fn, void *ctx);
/* Copies the interrupted registers of a signal context (general and
 * vector: a pointer may sit in either) into r[RT_GCSTOP_NREGS]; zeros for
 * a NULL context.  Async-signal-safe (gcstop.c). */
void rt__gcstop_save_regs(uintptr_t *r, const void *ucontext);
/* The interrupted stack pointer of a signal context. */
uintptr_t rt__ucontext_sp(const void *ucontext);
/* The stop signal's handler on a thread that is not an M (gcstop.c). */
void rt__foreign_on_signal(void *ucontext);
/* Registered threads now (a test aid). */
int rt__foreign_count(void);

/* -------------------------------------------------------- netpoll.c ----- */

/*
 * The network poller on libuv (the essay is in netpoll.c).  net.c builds
 * the public network and file API on these.
 */
typedef struct rt__pollfd rt__pollfd;
/* A request for the loop's owner: run(r) runs on whichever thread owns the
 * loop, soon.  r must stay valid until run returns. */
typedef struct rt__req rt__req;
struct rt__req {
    rt__req *next;
    void (*run)(rt__req *r);
};
struct addrinfo;

bool rt__netpoll_inited(void);
/* Hands r to the loop's owner (or runs it here if nobody owns the loop). */
void rt__netpoll_submit(rt__req *r);
/* Wakes the thread blocked in the loop, if one is. */
void rt__netpoll_break(void);
/* Whether mp is the M blocked in the loop. */
bool rt__netpoll_is_poller(rt_m *mp);

/* A poll descriptor for non-blocking socket fd, or NULL (out of memory). */
rt__pollfd *rt__pollfd_open(int fd);
/* 0, or why an operation must fail now: -ECANCELED (evicted), -ETIMEDOUT
 * (deadline passed). */
int rt__pollfd_check(rt__pollfd *pd);
/* Whether an event reported the end of the stream (or an error) on fd: a
 * read after a short one must not wait for another edge then (net.c). */
bool rt__pollfd_read_ended(rt__pollfd *pd);
/* Parks the calling goroutine until fd is ready for mode 'r' or 'w', the
 * deadline passes or the descriptor is evicted; returns rt__pollfd_check's
 * verdict.  One goroutine per mode at a time (net.c serialises them). */
int rt__pollfd_wait(rt__pollfd *pd, int mode);
/* Absolute rt_nanotime deadline for both modes (0 clears; a past one
 * fails waiters at once). */
void rt__pollfd_set_deadline(rt__pollfd *pd, int64_t when);
/* Close, step 1: later and parked operations fail with -ECANCELED. */
void rt__pollfd_evict(rt__pollfd *pd);
/* Close, step 2 (no goroutine uses pd any more): the loop stops watching
 * the fd, closes it, and the descriptor returns to the pool. */
void rt__pollfd_release(rt__pollfd *pd);
/* Go's Close returns once the descriptor is really closed (fd.csema), and
 * so does an operation that ends after the close began (Go's decref runs
 * destroy, and the woken operation runs only once the closer waits): each
 * registers an entry on its own stack while it still holds its reference,
 * then drops it, then calls rt__pollfd_close_wait, which returns once the
 * loop has closed the fd.  prepare returns false, and the close stays in
 * the background, where the caller cannot park (not a goroutine, or inside
 * rt_syscall_enter). */
typedef struct rt__close_waiter {
    _Atomic uintptr_t w;
    struct rt__close_waiter *next;
} rt__close_waiter;
bool rt__pollfd_close_prepare(rt__pollfd *pd, rt__close_waiter *w);
void rt__pollfd_close_wait(rt__close_waiter *w);

/* pread/pwrite on libuv's thread pool while the goroutine parks; bytes or
 * a negative errno. */
ssize_t rt__netpoll_file(int fd, void *buf, size_t n, int64_t off, bool write);
/* File calls sent to libuv's pool so far (tests: the cached ones are not). */
extern _Atomic uint64_t rt__netpoll_file_calls;
/* Whether reads of regular files still try RWF_NOWAIT first (net.c). */
bool rt__file_nowait_reads(void);
/* getaddrinfo on libuv's thread pool while the goroutine parks; 0 or a
 * negative errno (libuv's UV_EAI_* for resolver errors).  *res is freed
 * with rt__netpoll_freeaddrinfo. */
int rt__netpoll_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints, struct addrinfo **res);
void rt__netpoll_freeaddrinfo(struct addrinfo *res);

/* net.c: wraps fd, a bound, listening, non-blocking TCP or unix socket,
 * in a listener (net.FileListener in small); on failure fd is closed.
 * For a caller that must bind before a goroutine can run: rt_debug_serve
 * (trace/debugserve.c) returns its port at once, from any thread, also
 * before rt_main, and hands the socket to its listener goroutine. */
int rt__net_listener_fd(int fd, rt_listener **out);

/* The scheduler's side (proc.c, sysmon.c). */
/* Goroutines wait on I/O, so an idle M should sleep in the loop. */
bool rt__netpoll_wanted(void);
/* rt__netpoll_wanted, and no M is blocked in the loop (Go's lastpoll != 0). */
bool rt__netpoll_pollable(void);
/* Go's netpoll(0): the goroutines I/O made ready, as a list linked by
 * schedlink, or NULL.  They are still WAITING and still counted in
 * external_waiters: the caller queues them, then subtracts *n. */
rt_g *rt__netpoll_poll(rt_g **tail, int32_t *n);
/* rt__netpoll_poll for a P whose own queue ran dry (find_fast): only if
 * nobody polled for 100 us, and only if the loop is free at once. */
rt_g *rt__netpoll_poll_busy(rt_g **tail, int32_t *n);
/* Go's netpoll(delay), by the idle M mp that holds no P: blocks in the
 * loop until a goroutine is ready, mp->park is woken (wake_m in proc.c
 * also breaks the loop) or `until` (0: no limit) passes.  -EBUSY if
 * another thread owns the loop. */
int rt__netpoll_block(rt_m *mp, int64_t until, rt_g **list, rt_g **tail, int32_t *n);
/* n goroutines taken from the poller are on run queues now: they stop
 * counting in external_waiters (the last one breaks the loop, so that its
 * M goes back through checkdead). */
void rt__netpoll_waiters_done(int32_t n);
/* sysmon: polls if nobody did for 10 ms. */
void rt__netpoll_sysmon(int64_t now);
/* Threads libuv's pool has started (checkdead discounts them). */
int rt__netpoll_threads(void);

/* -------------------------------------------------------- sysmon.c ------ */

void rt__sysmon_start(void);

/* ------------------------------------------------- preemption points --- */

/*
 * C code cannot be preempted (no safe points), but a goroutine that keeps
 * calling the runtime without ever blocking -- readers taking an RWMutex in
 * a loop, a producer whose buffered channel never fills -- can be asked to
 * yield at those calls: sysmon sets its P's `preempt` when it ran 10 ms
 * while goroutines wait for a processor, and rt__preempt_pending while any
 * P has it.  The points (the unlocks of rt_mutex and rt_rwmutex, channel
 * operations that did not block, file and connection calls that did not
 * park, rt_go, the allocation slow path) read that one
 * global word; only a set one looks further.  Go preempts such loops
 * asynchronously; without this the waiting goroutines never ran (a
 * helper's skip list: writers runnable for minutes behind two readers).
 * A goroutine that yields there goes to the global queue, as Go's
 * preempted ones do (proc.c, rt__preempt_slow).
 */
extern _Atomic uint32_t rt__preempt_pending;
void rt__preempt_slow(void);
/* Asks every running P's goroutine to yield at its next preemption point
 * (the collector, about to wait for a P; sysmon clears what no one took
 * once the P schedules). */
void rt__preempt_all(void);
static inline void rt__preempt_point(void)
{
    if (rt__unlikely(atomic_load_explicit(&rt__preempt_pending, memory_order_relaxed)))
        rt__preempt_slow();
}

#endif /* RT_SCHED_H */
