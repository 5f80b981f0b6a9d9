/*
 * sched/proc.c -- the M:N scheduler: goroutines (G) on threads (M) holding
 * processors (P).
 *
 * The design is Go's (runtime/proc.go), transposed to C:
 *
 *   - There are exactly MAXPROCS Ps.  An M must hold a P to run goroutines.
 *     Each P has a local run queue (runq.c), a free list of dead Gs and a
 *     timer heap (timer.c), so the common operations touch no shared state.
 *   - A goroutine made runnable goes on the local queue of the P that made it
 *     runnable (a readied channel partner or a new goroutine goes into
 *     runnext, so it runs next).  Idle Ps are put to work by "spinning" Ms
 *     that steal half of another P's queue.
 *
 * Why spinning Ms (Go's argument, which holds here too): the scheduler must
 * neither leave runnable goroutines waiting while a CPU is idle, nor wake
 * threads needlessly.  Three simpler schemes fail one of these: (1) one
 * global queue under a lock contends on every operation; (2) waking a
 * thread every time a goroutine is made runnable burns CPU on futex calls
 * and thundering herds; (3) handing work to a specific idle P at ready time
 * cannot see that the current M is about to block and would run it itself.
 * Instead: when a goroutine is made runnable and there is an idle P but no
 * spinning M, one M is woken and spins (looks for work in every P's queue).
 * At most half of the busy Ps' worth of Ms spin.  A spinning M that finds
 * work stops spinning and wakes another spinning M if none is left, so
 * bursts fan out; a spinning M that finds nothing re-checks every queue
 * after giving up its P -- the local ones and the global one, which threads
 * with no P fill (ready_no_p) -- so work submitted in between is never
 * stranded (sysmon counts and rescues any that is: a lost wake-up).
 *
 * Waking an idle P.  Go wakes one for every goroutine made runnable while
 * a P is idle and no M spins.  That is right when the waker goes on
 * running, and wasted when it is about to block: the readied goroutine
 * would have run on this P a moment later, and the woken M either finds
 * nothing (a futex wake and sleep, microseconds on both sides) or steals
 * it, splitting a pair that hands off through a buffered channel over two
 * CPUs that then pass the ring's cache lines back and forth at every value
 * (workload 3: 16-17 ns a value on one P; 21-38 ns split, and over 100 ns
 * when the host puts the two vCPUs far apart).  So a waker that will
 * usually block soon (rt__goready_handoff: a buffered channel's peer, a
 * mutex handing itself off) puts the readied G into runnext *without*
 * waking anyone when it is the only G queued on the P -- a "deferred"
 * wake-up.  (A timer's callback readying its receiver is no such waker:
 * it runs inside scheduling, whose P runs the G next, so it defers
 * nothing and keeps sysmon off its fast tick -- check_timers sets
 * m->running_timers.)  If the waker blocks, yields or exits, its own P runs the G.
 * If it does not, two things bound the wait:
 *   - the backstop: sysmon wakes an idle P for any running P that has work
 *     queued and has not scheduled for RT_WAKE_WAIT_NS (20 us), and that
 *     P's next few readies wake as before (sysmon.c).  A deferral is made
 *     only while sysmon's current sleep is that short (sysmon_fast), and
 *     sysmon keeps its fast tick while Ps defer densely (sysmon.c:
 *     deferrals_dense: sparse deferrals do not pay for its wake-ups);
 *   - the score: when the P runs a deferred G itself, it checks whether
 *     sysmon's clock ticked meanwhile.  Waits of a microsecond or two
 *     cross a tick now and then; a P whose deferred Gs cross often (waits
 *     of ~5 us and more: wakers that go on computing, whose partners an
 *     idle P should have run in parallel) stops deferring, and tries again
 *     only after its score has decayed (rt__defer_resolved).
 * Unbuffered channels keep Go's wake: their senders often go on working
 * until the next send, and a receiver held back until then would run
 * serially with them (tried, with the thief rule below: workload 7 gained
 * 6 %, workload 8 lost 15 %, medians of 5).  Rejected: Go's other half, a
 * thief that leaves a running P's runnext alone for 3 us (runqgrab's
 * usleep(3)): with deferral it made no difference on workload 3, and it
 * cost workload 7 (thread-ring) about 17 % (64-65 against 55 ns a hop):
 * thieves that gave up went back to sleep and were woken again, three
 * times as many wake-ups.  And stamping every deferral and every pick-up
 * with the clock (to tell a long wait from a short one exactly): two
 * clock_gettime calls, ~46 ns here, on a hand-off whose switch costs ~20.
 *
 * Switching.  A goroutine that blocks, yields or exits switches *directly*
 * to the next goroutine when its own P has one (after the P's due timers:
 * runnext, the local queue, the global queue -- a batch of it onto the
 * local queue when that is empty; every 61st tick a G from the ring or
 * the global queue, each first in turn, takes runnext's place, runnext's
 * G running first), without a detour through a scheduler
 * stack: that is one register switch per hand-off.  Only when the local P
 * has nothing does it switch to its M's g0 (the thread's own stack), which
 * runs the full search (findrunnable: timers, global queue, stealing) and
 * may put the thread to sleep.
 *
 * After the switch.  A goroutine cannot make itself runnable, or release
 * the lock that lets others make it runnable, while it still runs on its
 * stack: another M could resume it on that stack at once.  So the action on
 * the goroutine switched *out of* (put it on a run queue, call the park's
 * unlock function, put it on the free list) is recorded in the M
 * (mp->after*) and performed by whatever context runs next on that M, right
 * after the switch: a resumed goroutine (in gswitch), a new goroutine (in
 * goentry) or g0.  Every switch happens within one thread, so that M's
 * record is the right one.
 *
 * States.  A G is RUNNING on exactly one M (g->m, m->curg), RUNNABLE on
 * exactly one run queue, WAITING on exactly one wait queue (or none, for a
 * nil channel), SYSCALL on its M without a P, or DEAD on a free list.  A P
 * is RUNNING with exactly one M (p->m, m->p), IDLE on rt__sched.pidle,
 * SYSCALL while its M is in rt_syscall_enter (sysmon may take it), or
 * GCSTOP during a stop-the-world.
 *
 * Goroutine records are 192-byte slots in dense slabs, reused from a per-P
 * free array (64 at most, the rest in batches of 32 to a global array; an
 * array, not a list through the records, so taking one never waits on a
 * line another core wrote last -- spawn-heavy programs free on one P and
 * spawn on another).  The global run queue is a ring of pointers for the
 * same reason (runq.c).  A
 * goroutine has a stack only while it lives *and has run*: rt_go writes
 * nothing but the record, the first switch to it takes a stack from the
 * P's LIFO stack cache (runtime/stack.c) and builds the first frame there
 * (rt__ctx_switch_fresh), and its exit returns the stack to the cache.  So
 * a spawner that runs a million goroutines ahead of their consumers costs
 * 192 bytes each, not a stack page each, and a stream of short goroutines
 * runs on the same few cache-hot stacks.  (Go binds a stack to each G at
 * creation; its stacks can move and shrink, ours cannot.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"
#include "trace/trace.h"

#if defined(__SANITIZE_ADDRESS__)
#define RT_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define RT_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

/* Id 1 is the main goroutine's, whenever rt_main starts it: a goroutine
 * that a thread started before rt_main (rt_go from outside the runtime)
 * takes 2 and up -- it took 1 once, and goroutine 1 appeared twice in a
 * deadlock's dump. */
#define MAIN_GOID 1

rt__schedt rt__sched = {.goidgen = MAIN_GOID}; /* the first id handed out is 2 */
_Atomic int64_t rt__block_profile_rate;

#define MAX_PROCS 256
#define GFREE_BATCH 32 /* records moved between a P and the global array */

__thread rt_m *rt__tls_m;

/* Noinline and no IPA: the compiler must re-read TLS after every call that
 * may have moved the goroutine to another thread. */
__attribute__((noinline, noipa)) rt_m *rt__getm(void) { return rt__tls_m; }

__attribute__((noinline, noipa)) rt_g *rt__getg(void)
{
    rt_m *mp = rt__tls_m;
    return mp ? mp->curg : NULL;
}

/* rt.h defines errno as *rt_errno_location(): glibc declares
 * __errno_location const, so compilers keep its result across calls, and
 * a goroutine that resumed on another thread would read the old thread's
 * errno.  This function is opaque to the optimiser, so every use of errno
 * in code that includes rt.h asks the current thread. */
__attribute__((noinline, noipa)) int *rt_errno_location(void)
{
    return __errno_location();
}

static inline void after_switch(rt_m *mp);
static void goentry(void *arg);
static void stack_attach(rt_p *pp, rt_g *gp);
static void schedule_loop(rt_m *mp) __attribute__((noreturn));
static void stopm(rt_m *mp);
static void startm(rt_p *pp, bool spinning);
static void ready_no_p(rt_g *head, rt_g *tail, int32_t n);
static void checkdead(void);
static void gcstopm(rt_m *mp);

/* ------------------------------------------------------------ random ---- */

uint32_t rt__fastrand(void)
{
    rt_m *mp = rt__getm();
    if (mp)
        return (uint32_t)rt__wyrand(&mp->fastrand);
    static _Atomic uint64_t shared = 0x9e3779b97f4a7c15ULL;
    uint64_t s = atomic_fetch_add_explicit(&shared, 0xa0761d6478bd642fULL,
                                           memory_order_relaxed);
    return (uint32_t)rt__wyrand(&s);
}

uint32_t rt__fastrandn(uint32_t n)
{
    return (uint32_t)(((uint64_t)rt__fastrand() * n) >> 32);
}

/* ------------------------------------------------------- sanitizers ---- */

static inline uintptr_t g_stack_top(rt_g *gp)
{
    return gp->stack.hi;
}

static inline void san_before(rt_g *from, rt_g *to, bool from_dying)
{
#ifdef RT_ASAN
    __sanitizer_start_switch_fiber(from_dying ? NULL : &from->asan_fake_stack,
                                   (const void *)to->stack.lo,
                                   g_stack_top(to) - to->stack.lo);
#endif
#ifdef RT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
    (void)from_dying;
}

static inline void san_after(rt_g *self)
{
#ifdef RT_ASAN
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
#endif
    (void)self;
}

/* ------------------------------------------------------------ switch ---- */

static void gswitch_first(rt_m *mp, rt_g *from, rt_g *to);

/* The C++ runtime's exception state travels with the goroutine, as errno
 * does (sched.h, rt__eh_state).  Out of line: a C program (mp->eh NULL)
 * pays one test per switch. */
static __attribute__((noinline)) void eh_save(rt_m *mp, rt_g *gp)
{
    gp->eh_caught = mp->eh->caught;
    gp->eh_uncaught = mp->eh->uncaught;
}

static __attribute__((noinline)) void eh_restore(rt_m *mp, rt_g *gp)
{
    mp->eh->caught = gp->eh_caught;
    mp->eh->uncaught = gp->eh_uncaught;
}

/*
 * Switches from the context `from` (the caller's) to `to` on mp.  The
 * caller has set mp->after* for `from`.  Returns when `from` is resumed,
 * possibly on another M, after running that M's pending after-action.
 * Its rare cases (a G's first run, after-actions other than a yield's
 * requeue) are out of line, so the common path keeps one register live
 * across the switch.  Not inlined into its callers: that changed their
 * frames so that the ASan build kept a stale pointer to a finalizable
 * object (test_finalizer_may_allocate failed 12 runs in 20).
 */
static __attribute__((noinline)) void gswitch(rt_m *mp, rt_g *from, rt_g *to)
{
    /* A C frame larger than the guard below a goroutine's stack (a 400
     * KiB local array, in a program built without
     * -fstack-clash-protection) steps over the guard into the next slot
     * without a fault.  The damage is done by then, but the goroutine
     * leaves its stack through a switch sooner or later: stop there, as
     * a stack overflow, rather than run on with another goroutine's stack
     * overwritten.  (One compare: the frame is this function's, on the
     * stack of from, g0's included.) */
    if (rt__unlikely((uintptr_t)__builtin_frame_address(0) < from->stack.lo))
        rt__throw_stack_overflow();
    from->saved_errno = *mp->errno_addr;
    if (rt__unlikely(mp->eh != NULL))
        eh_save(mp, from);
    if (rt__unlikely(to->sp == NULL)) {
        gswitch_first(mp, from, to);
        return;
    }
    if (to->is_g0) {
        __atomic_store_n(&mp->curg, NULL, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&mp->curg, to, __ATOMIC_RELAXED);
        __atomic_store_n(&to->m, mp, __ATOMIC_RELAXED);
    }
    san_before(from, to, mp->after == RT_AFTER_DEAD);
    /* The M that resumes us (maybe on another thread) hands itself over
     * as the switch's return value: no TLS look-up on the hot path. */
    rt_m *nm = rt__ctx_switch(&from->sp, to->sp, mp);
    san_after(from);
    after_switch(nm);
    *nm->errno_addr = from->saved_errno;
    if (rt__unlikely(nm->eh != NULL))
        eh_restore(nm, from);
}

/* gswitch to a G that has never run: give it a stack (and under TSan a
 * fiber) and start it on goentry.  Out of line: rare next to switches
 * between running goroutines, and it keeps gswitch's hot path short. */
static __attribute__((noinline)) void gswitch_first(rt_m *mp, rt_g *from, rt_g *to)
{
    if (to->stack.hi == 0)
        stack_attach(mp->p, to);
#ifdef RT_TSAN
    /* TSan counts fibers as threads (at most 8,128 at once): a goroutine
     * has one from its first run to its exit, like its stack. */
    if (to->tsan_fiber == NULL)
        to->tsan_fiber = __tsan_create_fiber(0);
#endif
    rt__assert(!to->is_g0);
    __atomic_store_n(&mp->curg, to, __ATOMIC_RELAXED);
    __atomic_store_n(&to->m, mp, __ATOMIC_RELAXED);
    san_before(from, to, mp->after == RT_AFTER_DEAD);
    rt_m *nm = rt__ctx_switch_fresh(&from->sp, g_stack_top(to), goentry, to);
    san_after(from);
    after_switch(nm);
    *nm->errno_addr = from->saved_errno;
    if (rt__unlikely(nm->eh != NULL))
        eh_restore(nm, from);
}

/* ------------------------------------------------------ G bookkeeping --- */

static void allg_add(rt_g *gp)
{
    rt__lock_acquire(&rt__sched.allg_lock);
    if (rt__sched.allglen == rt__sched.allgcap) {
        uint32_t cap = rt__sched.allgcap ? rt__sched.allgcap * 2 : 1024;
        /* (not realloc: holding a lock, no malloc -- gc.h, meta) */
        rt_g **a = rt__meta_realloc(rt__sched.allg, rt__sched.allgcap * sizeof *a,
                                    cap * sizeof *a);
        rt__sched.allg = a;
        rt__sched.allgcap = cap;
    }
    gp->allg_index = rt__sched.allglen;
    rt__sched.allg[rt__sched.allglen] = gp;
    __atomic_store_n(&rt__sched.allglen, rt__sched.allglen + 1, __ATOMIC_RELAXED);
    rt__lock_release(&rt__sched.allg_lock);
}

void rt__for_each_g(void (*fn)(rt_g *gp, void *arg), void *arg)
{
    rt__lock_acquire(&rt__sched.allg_lock);
    for (uint32_t i = 0; i < rt__sched.allglen; i++)
        fn(rt__sched.allg[i], arg);
    rt__lock_release(&rt__sched.allg_lock);
}

int rt__stacks_sample(uintptr_t *his, int max, bool *all)
{
    int n = 0;
    rt__lock_acquire(&rt__sched.allg_lock);
    uint32_t len = rt__sched.allglen;
    *all = len <= (uint32_t)max;
    if (*all) {
        for (uint32_t i = 0; i < len; i++)
            if (rt__sched.allg[i]->stack.hi != 0)
                his[n++] = rt__sched.allg[i]->stack.hi;
    } else {
        /* Bounded: among many dead records few probes find a stack. */
        for (int k = 0; k < 16 * max && n < max; k++) {
            uintptr_t hi = rt__sched.allg[rt__fastrandn(len)]->stack.hi;
            if (hi != 0)
                his[n++] = hi;
        }
    }
    rt__lock_release(&rt__sched.allg_lock);
    return n;
}

void rt__for_each_g_dying(void (*fn)(rt_g *gp, void *arg), void *arg)
{
    /* The lock if it comes within ~50 ms; else without it, as Go's
     * forEachGRace: the holder may be the thread that hung. */
    bool locked = false;
    int64_t t0 = rt_nanotime();
    while (!(locked = rt__lock_try_dying(&rt__sched.allg_lock)) &&
           rt_nanotime() - t0 < 50 * RT_MILLISECOND)
        sched_yield();
    uint32_t n = __atomic_load_n(&rt__sched.allglen, __ATOMIC_ACQUIRE);
    rt_g **a = __atomic_load_n(&rt__sched.allg, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++)
        fn(a[i], arg);
    if (locked)
        rt__lock_release_dying(&rt__sched.allg_lock);
}

void rt__for_each_m(void (*fn)(rt_m *mp, void *arg), void *arg)
{
    for (rt_m *mp = atomic_load_explicit(&rt__sched.allm, memory_order_acquire);
         mp; mp = mp->alllink)
        fn(mp, arg);
}

/* Goroutine records: 192-byte slots carved from slabs, never freed (dead
 * Gs are pooled with their stacks).  A slab is carved front to back, so it
 * is populated when mapped: one system call instead of a page fault per
 * 21 records on the spawning thread (a spawner that runs far ahead of its
 * consumers allocates a 1 MiB slab per 5,461 goroutines).  Slabs double
 * from 64 KiB (341 records) to 1 MiB: a first slab of 1 MiB was an eighth
 * of a small program's resident memory, for the three or four goroutines
 * it ran. */
#define G_SLOT 192
#define G_SLAB_MIN ((size_t)64 << 10)
#define G_SLAB ((size_t)1 << 20)

static rt__lock gslab_lock;
static char *gslab_next, *gslab_end;
static size_t gslab_size = G_SLAB_MIN;
static _Atomic size_t gslab_total; /* bytes mapped for records */

size_t rt__gslab_bytes(void)
{
    return atomic_load_explicit(&gslab_total, memory_order_relaxed);
}

static rt_g *gslot_alloc(void)
{
    rt__lock_acquire(&gslab_lock);
    if (gslab_next == gslab_end) {
        size_t size = gslab_size;
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) {
            rt__lock_release(&gslab_lock);
            return NULL;
        }
        atomic_fetch_add_explicit(&gslab_total, size, memory_order_relaxed);
        if (gslab_size < G_SLAB)
            gslab_size *= 2;
        gslab_next = p;
        gslab_end = gslab_next + size / G_SLOT * G_SLOT;
    }
    rt_g *gp = (rt_g *)gslab_next;
    gslab_next += G_SLOT;
    rt__lock_release(&gslab_lock);
    return gp;
}

static rt_g *galloc(void)
{
    rt_g *gp = gslot_alloc();
    if (gp == NULL)
        return NULL;
    memset(gp, 0, sizeof *gp);
    atomic_store_explicit(&gp->status, RT_GDEAD, memory_order_relaxed);
    allg_add(gp);
    return gp;
}

/* Gives gp, about to run for the first time, a stack from pp's cache.
 * A system goroutine (the finalizer goroutine, the sweeper, the GC
 * goroutine) lives as long as the program and parks for good in frames
 * near the top of its stack, whose unwritten slots hold whatever the
 * stack's last user left there -- read as roots at every cycle: the
 * finalizer goroutine kept a test's object alive for 400 cycles through
 * one such slot.  Its top STACK_SCRUB bytes are zeroed first (a few
 * goroutines per program; user goroutines, whose recycled stacks live
 * only as long as they do, pay nothing). */
#define STACK_SCRUB ((size_t)8 << 10)
static void stack_attach(rt_p *pp, rt_g *gp)
{
    if (!rt__stack_get(&pp->stackcache, &gp->stack))
        rt__throw("out of memory: cannot allocate a goroutine stack");
    if (rt__unlikely(gp->is_system))
        memset((void *)(gp->stack.hi - STACK_SCRUB), 0, STACK_SCRUB);
}

/* Takes the stack of dead gp back (we run on another stack by now). */
static void stack_detach(rt_p *pp, rt_g *gp)
{
    if (pp) {
        rt__stack_put(&pp->stackcache, &gp->stack, gp->asan_low);
    } else {
        rt__stackcache tmp = {0};
        rt__stack_put(&tmp, &gp->stack, gp->asan_low);
        rt__stack_cache_flush(&tmp);
    }
    gp->stack.lo = gp->stack.hi = 0;
    gp->asan_low = 0;
}

/* rt__sched.gfree_lock held: makes room for n more global free records. */
static void gfree_global_reserve(int32_t n)
{
    int32_t have = atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed);
    if (have + n <= rt__sched.gfreecap)
        return;
    int32_t cap = rt__sched.gfreecap ? rt__sched.gfreecap * 2 : 4096;
    while (cap < have + n)
        cap *= 2;
    size_t oldsz = (size_t)rt__sched.gfreecap * sizeof(rt_g *);
    size_t newsz = (size_t)cap * sizeof(rt_g *);
    void *p = rt__sched.gfree
                  ? mremap(rt__sched.gfree, oldsz, newsz, MREMAP_MAYMOVE)
                  : mmap(NULL, newsz, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        rt__throw("out of memory growing the free goroutine table");
    rt__sched.gfree = p;
    rt__sched.gfreecap = cap;
}

/* rt__sched.gfree_lock held.  Appends n records. */
static void gfree_push_global(rt_g *const *gs, int32_t n)
{
    if (n == 0)
        return;
    gfree_global_reserve(n);
    int32_t have = atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed);
    memcpy(rt__sched.gfree + have, gs, (size_t)n * sizeof *gs);
    atomic_store_explicit(&rt__sched.ngfree, have + n, memory_order_relaxed);
}

/* rt__sched.gfree_lock held.  Takes up to max records (the most recently
 * freed) into out; returns how many. */
static int32_t gfree_pop_global(rt_g **out, int32_t max)
{
    int32_t have = atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed);
    int32_t n = have < max ? have : max;
    if (n == 0)
        return 0; /* the array may not exist yet: no memcpy from NULL */
    memcpy(out, rt__sched.gfree + (have - n), (size_t)n * sizeof *out);
    atomic_store_explicit(&rt__sched.ngfree, have - n, memory_order_relaxed);
    return n;
}

/* Puts a dead G on pp's free array; a full array sends its older half
 * (the coldest records) to the global one. */
static void gfput(rt_p *pp, rt_g *gp)
{
    rt__assert(atomic_load_explicit(&gp->status, memory_order_relaxed) == RT_GDEAD);
    rt__assert(gp->stack.hi == 0);
    if (rt__unlikely(pp->gfreecnt == RT_GFREE_LOCAL_MAX)) {
        rt__lock_acquire(&rt__sched.gfree_lock);
        gfree_push_global(pp->gfree, GFREE_BATCH);
        rt__lock_release(&rt__sched.gfree_lock);
        memmove(pp->gfree, pp->gfree + GFREE_BATCH,
                (RT_GFREE_LOCAL_MAX - GFREE_BATCH) * sizeof pp->gfree[0]);
        __atomic_store_n(&pp->gfreecnt, RT_GFREE_LOCAL_MAX - GFREE_BATCH,
                         __ATOMIC_RELAXED);
    }
    pp->gfree[pp->gfreecnt] = gp;
    __atomic_store_n(&pp->gfreecnt, pp->gfreecnt + 1, __ATOMIC_RELAXED);
}

static rt_g *gfget(rt_p *pp)
{
    /* Racy peek (relaxed): the lock decides. */
    if (pp->gfreecnt == 0 && atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed) > 0) {
        rt__lock_acquire(&rt__sched.gfree_lock);
        int32_t n = gfree_pop_global(pp->gfree, GFREE_BATCH);
        rt__lock_release(&rt__sched.gfree_lock);
        __atomic_store_n(&pp->gfreecnt, n, __ATOMIC_RELAXED);
    }
    if (pp->gfreecnt == 0)
        return NULL;
    int32_t i = pp->gfreecnt - 1;
    __atomic_store_n(&pp->gfreecnt, i, __ATOMIC_RELAXED);
    /* The caller writes the record at once; start fetching the next one
     * for the next spawn (it may be in another core's cache). */
    if (i > 0) {
        /* both lines a spawn writes (sched.h, struct rt_g) */
        const char *nx = (const char *)pp->gfree[i - 1];
        __builtin_prefetch(nx, 1);
        __builtin_prefetch(nx + 64, 1);
    }
    return pp->gfree[i];
}

int32_t rt__gcount(void)
{
    /* allglen minus dead and system Gs; per-P counts read racily, as Go's
     * gcount does.  Never below 1 while goroutine 1 runs. */
    int32_t n = (int32_t)__atomic_load_n(&rt__sched.allglen, __ATOMIC_RELAXED) -
                atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed);
    /* (a thread outside the scheduler may ask while rt_main is still
     * setting the Ps up: gomaxprocs can be ahead of allp -- a null P was
     * dereferenced here, UBSan in fuzz_http_replay, whose main thread
     * polls rt_num_goroutine while rt_main starts in another) */
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    rt_p **allp = __atomic_load_n(&rt__sched.allp, __ATOMIC_ACQUIRE);
    for (int i = 0; allp != NULL && i < procs; i++) {
        rt_p *pp = __atomic_load_n(&allp[i], __ATOMIC_ACQUIRE);
        if (pp != NULL)
            n -= __atomic_load_n(&pp->gfreecnt, __ATOMIC_RELAXED);
    }
    n -= atomic_load_explicit(&rt__sched.nsystem, memory_order_relaxed);
    return n < 1 ? 1 : n;
}

/* ----------------------------------------------------------- P and M ---- */

/* pp->m is read without lock by the stop signal's sender (gcstop.c) and by
 * tracers: relaxed atomic stores. */
static inline void p_set_m(rt_p *pp, rt_m *mp)
{
    __atomic_store_n(&pp->m, mp, __ATOMIC_RELAXED);
}

static void acquirep(rt_m *mp, rt_p *pp)
{
    if (pp->m != NULL || atomic_load_explicit(&pp->status, memory_order_relaxed) != RT_PIDLE)
        rt__throwf("acquirep: invalid p state (status %u)",
                   atomic_load(&pp->status));
    __atomic_store_n(&mp->p, pp, __ATOMIC_RELAXED); /* schedtrace */
    p_set_m(pp, mp);
    atomic_store_explicit(&pp->status, RT_PRUNNING, memory_order_relaxed);
}

static rt_p *releasep(rt_m *mp)
{
    rt_p *pp = mp->p;
    __atomic_store_n(&mp->p, NULL, __ATOMIC_RELAXED); /* schedtrace */
    p_set_m(pp, NULL);
    atomic_store_explicit(&pp->status, RT_PIDLE, memory_order_relaxed);
    return pp;
}

/*
 * The earliest timer on an idle P, 0 if none; rt__sched.lock held.  Only
 * idle Ps' timers are the timer sleeper's business: a running P runs its
 * own at every schedule, and a sleeper woken for one it cannot take (its P
 * is busy) would spin on the scheduler lock.  A P that goes idle with
 * timers wakes the sleeper if it has the earlier deadline (pidleput).
 */
static int64_t timers_next_idle(rt_p **which)
{
    int64_t next = 0;
    *which = NULL;
    /* The idle list, not the status: a P handed to a waking M (startm)
     * is off the list but still says idle until that M acquires it. */
    for (rt_p *pp = rt__sched.pidle; pp != NULL; pp = pp->link) {
        /* seq_cst: the load half of the Dekker pair with wake_sleeper */
        int64_t w = atomic_load_explicit(&pp->timers.when0, memory_order_seq_cst);
        if (w != 0 && (next == 0 || w < next)) {
            next = w;
            *which = pp;
        }
    }
    return next;
}

/* rt__sched.lock held: one P fewer idle.  A sysmon in its deep sleep
 * (every P idle for a while: sysmon.c) is woken, as Go's entersyscall and
 * exitsyscall wake a sysmon in sysmonwait: the P's goroutines may now
 * need it (a system call to retake, a goroutine stuck in C code).  Dekker
 * with sysmon's announcement: our decrement and its store precede the
 * other side's load, all seq_cst. */
static inline void npidle_dec(void)
{
    atomic_fetch_sub_explicit(&rt__sched.npidle, 1, memory_order_seq_cst);
    if (rt__unlikely(atomic_load_explicit(&rt__sched.sysmon_wait, memory_order_seq_cst)) &&
        atomic_exchange_explicit(&rt__sched.sysmon_wait, 0, memory_order_seq_cst))
        rt__note_wakeup(&rt__sched.sysmon_note);
}

/* rt__sched.lock held.  Takes pp off the idle list if it is there. */
static bool pidleget_this(rt_p *pp)
{
    for (rt_p **link = &rt__sched.pidle; *link; link = &(*link)->link) {
        if (*link == pp) {
            *link = pp->link;
            npidle_dec();
            return true;
        }
    }
    return false;
}

void rt__wake_m(rt_m *mp)
{
    /* Dekker with rt__netpoll_block, which publishes itself as the poller
     * and then reads the note: the note's exchange and the poller load
     * are both seq_cst, so one of us sees the other. */
    rt__note_wakeup(&mp->park);
    if (rt__netpoll_is_poller(mp))
        rt__netpoll_break();
}

/* rt__sched.lock held. */
static void pidleput(rt_p *pp)
{
    pp->link = rt__sched.pidle;
    rt__sched.pidle = pp;
    atomic_fetch_add_explicit(&rt__sched.npidle, 1, memory_order_relaxed);
    int64_t w = atomic_load_explicit(&pp->timers.when0, memory_order_acquire);
    rt_m *sl = rt__sched.timer_sleeper;
    if (w != 0 && sl != NULL &&
        w < atomic_load_explicit(&rt__sched.timer_sleep_until, memory_order_relaxed))
        rt__wake_m(sl); /* it re-reads the idle Ps' heaps */
}

/* rt__sched.lock held. */
static rt_p *pidleget(void)
{
    rt_p *pp = rt__sched.pidle;
    if (pp) {
        rt__sched.pidle = pp->link;
        npidle_dec();
    }
    return pp;
}

/* rt__sched.lock held. */
static void mput(rt_m *mp)
{
    mp->schedlink = rt__sched.midle;
    rt__sched.midle = mp;
    rt__sched.nmidle++;
}

/* rt__sched.lock held.  Takes an idle M, preferring one that is not the
 * timer sleeper: handing out the sleeper would leave the timers of idle Ps
 * unwatched (until sysmon's backstop, milliseconds later). */
static rt_m *mget(void)
{
    rt_m **link = &rt__sched.midle;
    rt_m *mp = *link;
    if (mp == NULL)
        return NULL;
    if (mp == rt__sched.timer_sleeper && mp->schedlink != NULL) {
        link = &mp->schedlink;
        mp = *link;
    }
    *link = mp->schedlink;
    rt__sched.nmidle--;
    if (mp == rt__sched.timer_sleeper) {
        /* The only idle M: whoever idles next watches the timers. */
        rt__sched.timer_sleeper = NULL;
        rt__sched.sleeper_polls = false;
        atomic_store_explicit(&rt__sched.timer_sleep_until, 0, memory_order_relaxed);
    }
    return mp;
}

/* rt__sched.lock held.  Removes mp from the idle list if it is there. */
static bool mremove(rt_m *mp)
{
    for (rt_m **pp = &rt__sched.midle; *pp; pp = &(*pp)->schedlink) {
        if (*pp == mp) {
            *pp = mp->schedlink;
            rt__sched.nmidle--;
            return true;
        }
    }
    return false;
}

static void *mstart(void *arg);

/* Creates a thread that starts with pp (may be NULL for sysmon). */
/* The signal mask of the thread that started the runtime (the first M is
 * made by rt_main's thread): the mask every M runs the program with. */
static sigset_t m_sigmask;
static pthread_once_t m_sigmask_once = PTHREAD_ONCE_INIT;

static void capture_sigmask(void)
{
    pthread_sigmask(SIG_SETMASK, NULL, &m_sigmask);
}

static rt_m *newm(rt_p *pp, bool spinning, bool is_sysmon)
{
    rt_m *mp = calloc(1, sizeof *mp);
    if (mp == NULL)
        rt__throw("out of memory allocating an M");
    mp->nextp = pp;
    __atomic_store_n(&mp->spinning, spinning, __ATOMIC_RELAXED);
    mp->is_sysmon = is_sysmon;
    mp->g0.is_g0 = true;
    mp->g0.goid = 0;
    mp->fastrand = (uint64_t)(uintptr_t)mp ^ (uint64_t)rt_nanotime();
    /* Counted and listed under one hold of the lock, so that a reader
     * holding it (schedtrace's detail dump) finds exactly mcount Ms on the
     * list; lock-free readers still see a list that only grows. */
    rt__lock_acquire(&rt__sched.lock);
    mp->id = rt__sched.mnext++;
    __atomic_store_n(&rt__sched.mcount, rt__sched.mcount + 1, __ATOMIC_RELAXED); /* read_memstats */
    mp->alllink = atomic_load_explicit(&rt__sched.allm, memory_order_relaxed);
    atomic_store_explicit(&rt__sched.allm, mp, memory_order_release); /* for lock-free readers */
    rt__lock_release(&rt__sched.lock);
    rt__threadcreate_event(mp->id); /* the threadcreate profile's stack */

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* An M runs the program's code, so it has the program's signal mask
     * -- the one the runtime started with, as Go's Ms do: a signal the
     * program blocked stays blocked (sigwait designs), and the ones a
     * thread raises for itself reach it (SIGPIPE from a write to a closed
     * pipe, raise(), abort()); with every signal blocked they stayed
     * pending for ever (`prog | head` never ended).  The signals the
     * runtime itself relies on are always open.  sysmon runs none of the
     * program's code and takes none but those. */
    sigset_t set, old;
    pthread_once(&m_sigmask_once, capture_sigmask); /* (the first newm: rt_main's thread) */
    if (is_sysmon)
        sigfillset(&set);
    else
        set = m_sigmask;
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGPROF);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, RT_SIG_GCSTOP); /* the collector stops Ms with it */
    pthread_sigmask(SIG_SETMASK, &set, &old);
    int err = pthread_create(&mp->thread, &attr, mstart, mp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0)
        rt__throwf("newosproc: pthread_create failed: %s", strerror(err));
    return mp;
}

static void init_g0(rt_m *mp)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
        mp->g0.stack.lo = (uintptr_t)addr;
        mp->g0.stack.hi = (uintptr_t)addr + size;
    }
    atomic_store_explicit(&mp->g0.status, RT_GRUNNING, memory_order_relaxed);
    mp->g0.m = mp;
#ifdef RT_TSAN
    mp->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* The name the program's threads carry (the thread that called rt_main's,
 * read before sysmon starts): every M takes it, as all of a Go program's
 * threads have its name -- a thread inherits its creator's, and an M
 * started by sysmon (a P handed on from a system call) was "grt-sysmon"
 * in top -H. */
static char proc_thread_name[16];

extern rt__eh_state *__cxa_get_globals(void) __attribute__((weak));

static void *mstart(void *arg)
{
    rt_m *mp = arg;
    rt__tls_m = mp;
    mp->errno_addr = &errno;
    /* the C++ ABI's per-thread exception state, if the program links a
     * C++ runtime (a weak reference: NULL in a C program) */
    if (__cxa_get_globals != NULL)
        mp->eh = __cxa_get_globals();
    /* release: the CPU profiler's writer thread reads it (acquire) to aim
     * the M's timer */
    __atomic_store_n(&mp->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    init_g0(mp);
    rt__fatal_thread_init();
    rt__cpuprof_thread_start(mp); /* after the signal stack SIGPROF uses */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    if (mp->is_sysmon) {
        /* Named, so that top -H, perf sched and gdb tell it from the Ms. */
        (void)prctl(PR_SET_NAME, "grt-sysmon", 0, 0, 0);
        rt__sysmon_main(mp);
        return NULL;
    }
    if (proc_thread_name[0] != '\0')
        (void)prctl(PR_SET_NAME, proc_thread_name, 0, 0, 0);
    rt_p *pp = atomic_exchange(&mp->nextp, NULL);
    if (pp)
        acquirep(mp, pp);
    schedule_loop(mp);
}

/* RT_TIMER_NAP_MIN, the shortest sleep of an idle M for a timer.  A
 * sleep costs ~20 us of CPU on this VM whatever its length (arming the
 * timer, the wake-up, two switches); one for a deadline a microsecond
 * away returned at once and the M went round again: 2,000 goroutines on
 * 2 ms tickers (a timer due every microsecond) kept a whole CPU busy at
 * MAXPROCS=1, 1.4-1.7 s of system time in 3 s against Go's 0.01 (an
 * outside tester's find; Go sleeps in epoll_wait, whole milliseconds, so
 * its timers are up to 1 ms late).  Sleeping at least 50 us serves every
 * timer due meanwhile in one wake-up, each at most that late: that run
 * now takes 1.8 CPU-seconds (Go 1.4-1.6; 20 us: 2.2), and test_timer_latency's
 * p50 went from 20-25 to 33-35 us.  A P that is running serves its timers
 * at every schedule (check_timers), on time. */

/*
 * Puts the calling M to sleep until another M hands it a P (mp->nextp).
 * The M holds no P.  The first M to go idle while timers are pending or
 * goroutines wait for I/O is the "sleeper": it sleeps only until the
 * earliest timer of an idle P (RT_TIMER_NAP_MIN at least), then takes that
 * P to run it; and while
 * goroutines wait for I/O it sleeps inside the network poller's loop
 * instead of on its note (netpoll.c), taking an idle P when I/O readies
 * goroutines.  rt__wake_m wakes it either way.
 */
static void stopm(rt_m *mp)
{
    /* No runtime lock is held across a park: every region has ended. */
    rt__assert(mp->nostop == 0);
    for (;;) {
        rt__lock_acquire(&rt__sched.lock);
        mput(mp);
        checkdead(); /* may throw; releases nothing */
        int64_t until = 0;
        rt_p *for_p = NULL; /* the idle P whose timer we sleep for */
        bool poll = false;  /* sleep in the network poller */
        if (rt__sched.timer_sleeper == NULL) {
            /* Dekker with wake_sleeper (timer.c): announce a sleeper
             * first, then read the heaps.  A timer added concurrently
             * either shows in rt__timers_next or sees the announcement
             * and wakes us; with the order reversed it could do neither. */
            rt__sched.timer_sleeper = mp;
            atomic_store_explicit(&rt__sched.timer_sleep_until, INT64_MAX,
                                  memory_order_seq_cst);
            until = timers_next_idle(&for_p);
            poll = rt__netpoll_wanted();
            if (until != 0) {
                atomic_store_explicit(&rt__sched.timer_sleep_until, until,
                                      memory_order_relaxed);
            } else if (!poll) {
                rt__sched.timer_sleeper = NULL;
                atomic_store_explicit(&rt__sched.timer_sleep_until, 0,
                                      memory_order_relaxed);
            }
            rt__sched.sleeper_polls = poll && rt__sched.timer_sleeper == mp;
        } else if (!rt__sched.sleeper_polls && rt__netpoll_wanted()) {
            /* The sleeper went to sleep on its note for a timer before
             * anyone waited for I/O: wake it to sleep in the poller
             * instead, or nobody would watch the network (but sysmon,
             * every 10 ms). */
            rt__sched.sleeper_polls = true;
            rt__wake_m(rt__sched.timer_sleeper);
        }
        mp->blocked = true;
        rt__lock_release(&rt__sched.lock);

        /* A timer due sooner than RT_TIMER_NAP_MIN is slept for that
         * long (timer_sleep_until keeps the deadline: an earlier timer
         * added meanwhile still wakes us).  Cost: a clock read before
         * the sleep and one after it (timer_naps), on the idle path. */
        if (until != 0) {
            int64_t floor = rt_nanotime() + RT_TIMER_NAP_MIN;
            if (until < floor)
                until = floor;
        }
        rt_g *list = NULL, *tail = NULL;
        int32_t nlist = 0;
        if (poll &&
            rt__netpoll_block(mp, until, &list, &tail, &nlist) == 0) {
            /* woken by I/O, the timer, or rt__wake_m */
        } else if (poll) {
            /* A non-blocking poll owns the loop for a moment: nap, then
             * look again (as a timed-out sleeper). */
            int64_t ns = 50 * RT_MICROSECOND;
            if (until != 0 && until - rt_nanotime() < ns)
                ns = until - rt_nanotime();
            (void)rt__note_tsleep(&mp->park, ns > 0 ? ns : 0);
        } else if (until != 0) {
            /* A deadline already past must not become a negative timeout:
             * rt__note_tsleep takes that as "no limit". */
            int64_t ns = until - rt_nanotime();
            (void)rt__note_tsleep(&mp->park, ns > 0 ? ns : 0);
        } else
            rt__note_sleep(&mp->park);
        mp->blocked = false;
        if (until != 0 && rt_nanotime() >= until)
            atomic_fetch_add_explicit(&rt__sched.timer_naps, 1, memory_order_relaxed);
        for (rt_g *gp = list; gp != NULL; gp = gp->schedlink) {
            uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
            if (st != RT_GWAITING)
                rt__throwf("netpoll: readied goroutine has status %u", st);
            atomic_store_explicit(&gp->status, RT_GRUNNABLE, memory_order_relaxed);
        }

        rt__lock_acquire(&rt__sched.lock);
        if (rt__sched.timer_sleeper == mp) {
            rt__sched.timer_sleeper = NULL;
            rt__sched.sleeper_polls = false;
            atomic_store_explicit(&rt__sched.timer_sleep_until, 0,
                                  memory_order_relaxed);
        }
        rt__note_clear(&mp->park);
        if (list != NULL) {
            rt__globrunq_put_batch(list, tail, nlist);
            /* Queued: no longer I/O waiters (only now, under the lock
             * checkdead takes: never neither counted nor queued). */
            rt__netpoll_waiters_done(nlist);
        }
        if (mp->nextp == NULL) {
            /* Timed out, woken for a new timer, or readied goroutines: not
             * handed a P.  Leave the idle list and look for an idle P to
             * run the timers or the goroutines with. */
            if (!mremove(mp)) {
                /* startm took us off the list and is about to hand us a P;
                 * its wakeup may already have been consumed above. */
                rt__lock_release(&rt__sched.lock);
                while (atomic_load_explicit(&mp->nextp, memory_order_acquire) == NULL)
                    sched_yield();
                rt__lock_acquire(&rt__sched.lock);
                rt__note_clear(&mp->park);
            } else if (list != NULL) {
                /* If every P is busy (or stopped for the collector), their
                 * Ms take the goroutines from the global queue. */
                mp->nextp = pidleget();
            } else if (for_p != NULL && pidleget_this(for_p)) {
                /* The P whose timer is due: its own check runs it. */
                mp->nextp = for_p;
            } else if (for_p == NULL) {
                mp->nextp = pidleget(); /* woken for an earlier deadline */
            }
            /* else the P went busy: its M runs its timers; sleep again. */
        }
        rt__lock_release(&rt__sched.lock);
        if (nlist > 1)
            rt__wakep(); /* more than we run: let an idle P steal them */
        if (mp->nextp != NULL)
            break;
        if (atomic_load_explicit(&rt__sched.stopping, memory_order_relaxed))
            continue;
    }
    rt_p *pp = atomic_exchange(&mp->nextp, NULL);
    acquirep(mp, pp);
}

/*
 * Hands pp (or an idle P if pp is NULL) to an idle M, or to a new one.
 * spinning: the M starts out spinning (the caller incremented nmspinning).
 */
static void startm_body(rt_p *pp, bool spinning);

/* A no-stop region (gcstop.c): from pidleget to the hand-over the P is
 * off the idle list and owned by no M, and a caller stopped by the
 * collector's signal in between would keep it from every stop; a caller
 * stopped inside pthread_create (newm) likewise, before the new M exists
 * to take it. */
static void startm(rt_p *pp, bool spinning)
{
    rt_m *self = rt__tls_m;
    if (self != NULL)
        rt__nostop_begin(self);
    startm_body(pp, spinning);
    if (self != NULL)
        rt__nostop_end(self);
}

static void startm_body(rt_p *pp, bool spinning)
{
    rt__lock_acquire(&rt__sched.lock);
    if (pp == NULL) {
        pp = pidleget();
        if (pp == NULL) {
            rt__lock_release(&rt__sched.lock);
            if (spinning)
                atomic_fetch_sub_explicit(&rt__sched.nmspinning, 1,
                                          memory_order_relaxed);
            return;
        }
    }
    rt_m *mp = mget();
    rt__lock_release(&rt__sched.lock);
    if (mp == NULL) {
        newm(pp, spinning, false);
        return;
    }
    __atomic_store_n(&mp->spinning, spinning, __ATOMIC_RELAXED);
    atomic_store_explicit(&mp->nextp, pp, memory_order_release);
    rt__wake_m(mp);
}

void rt__wakep(void)
{
    /* Cheap test first: this runs on every goready and rt_go. */
    if (atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) == 0)
        return;
    if (atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) != 0)
        return;
    int32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&rt__sched.nmspinning, &zero, 1,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    startm(NULL, true);
}

/* Hands off pp, whose M is blocked in a syscall (sysmon) or is stopping. */
void rt__handoffp(rt_p *pp)
{
    p_set_m(pp, NULL); /* taken from the M blocked in its syscall */
    if (!rt__runq_empty(pp) ||
        atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) != 0) {
        startm(pp, false);
        return;
    }
    if (atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)) {
        rt__lock_acquire(&rt__sched.lock);
        atomic_store_explicit(&pp->status, RT_PGCSTOP, memory_order_relaxed);
        p_set_m(pp, NULL);
        if (--rt__sched.stopwait == 0)
            rt__note_wakeup(&rt__sched.stopnote);
        rt__lock_release(&rt__sched.lock);
        return;
    }
    int32_t zero = 0;
    if (atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) +
                atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) ==
            0 &&
        atomic_compare_exchange_strong(&rt__sched.nmspinning, &zero, 1)) {
        startm(pp, true);
        return;
    }
    if (atomic_load_explicit(&pp->timers.when0, memory_order_relaxed) != 0) {
        startm(pp, false);
        return;
    }
    p_set_m(pp, NULL);
    rt__lock_acquire(&rt__sched.lock);
    if (atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)) {
        /* A stop began since the test above: it has drained the idle
         * list already and waits for this P. */
        atomic_store_explicit(&pp->status, RT_PGCSTOP, memory_order_relaxed);
        if (--rt__sched.stopwait == 0)
            rt__note_wakeup(&rt__sched.stopnote);
    } else {
        pidleput(pp);
    }
    rt__lock_release(&rt__sched.lock);
}

/* --------------------------------------------------------- scheduling --- */

static inline bool sched_halted(void)
{
    return atomic_load_explicit(&rt__sched.stopping, memory_order_relaxed) ||
           atomic_load_explicit(&rt__throwing, memory_order_relaxed);
}

/* Remembers, for the P's owner, the counter value before which w cannot
 * be due: t0 was read before now, and the rate is a lower bound, so the
 * counter reaches fast_tsc no later than the clock reaches w.  Horizons
 * beyond 2^30 ns (about a second) are clipped: the product stays in 64
 * bits, and a clock read a second costs nothing. */
static inline void note_fast_timers(rt_p *pp, int64_t w, int64_t now, uint64_t t0,
                                    uint64_t rate)
{
    uint64_t d = (uint64_t)(w - now);
    if (d > ((uint64_t)1 << 30))
        d = (uint64_t)1 << 30;
    pp->timers.fast_tsc = t0 + ((d * rate) >> 32);
    pp->timers.fast_when = w;
}

/*
 * Waking an idle P for a timer batch.  The Gs a batch readies (ticks,
 * sleepers, rt_after's receivers) queue on the P that ran it, with no
 * wake-up each: that P runs them next, and most run for a microsecond or
 * two and park again.  Go wakes an idle P for them at once -- but Go
 * batches its timers a millisecond at a time and wakes once per
 * millisecond, while grt serves them every 50 us (RT_TIMER_NAP_MIN): a
 * wake-up per batch woke the idle M, which found nothing and slept again,
 * 20,000 times a second for 1,000 goroutines on 10 ms tickers (4-5x Go's
 * CPU at MAXPROCS=2; an outside tester's find).  So after a batch that
 * left Gs behind runnext, the P owes a wake-up RT_WAKE_WAIT_NS later
 * (timer_wake_tsc): its next schedules pay it if those Gs are still
 * queued then, and forget it once the queue is empty.  Gs behind a
 * handler that computes without scheduling are sysmon's backstop's (a
 * running P with work queued that has not scheduled for RT_WAKE_WAIT_NS,
 * sysmon.c).  With the TSC's rate unknown, the wake-up is paid at once.
 * That program: 0.56 -> 0.43 CPU-seconds in 2 s (medians of 5; Go 0.13:
 * the rest is the 50 us naps themselves).
 */
/* Owner only: pp's ring is empty (runnext aside). */
static inline bool runq_ring_empty(rt_p *pp)
{
    return atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
           atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
}

static inline void timer_wake_owe(rt_p *pp)
{
    if (pp == NULL || runq_ring_empty(pp))
        return;
    uint64_t rate = atomic_load_explicit(&rt__tsc_per_ns, memory_order_relaxed);
    if (rate == 0) {
        rt__wakep();
        return;
    }
    if (pp->timer_wake_tsc == 0)
        pp->timer_wake_tsc = rt__tsc() + (((uint64_t)RT_WAKE_WAIT_NS * rate) >> 32) + 1;
}

/* Owner, at each schedule while a wake-up is owed (timer_wake_owe);
 * out of line: find_fast pays one load of timer_wake_tsc and a branch. */
static __attribute__((noinline)) void timer_wake_check(rt_p *pp)
{
    if (runq_ring_empty(pp)) {
        pp->timer_wake_tsc = 0; /* ran them all, or a thief took them */
        return;
    }
    if ((int64_t)(rt__tsc() - pp->timer_wake_tsc) < 0)
        return;
    pp->timer_wake_tsc = 0;
    rt__wakep();
}

/* Whether a timer of pp is due, without running it: *now is the clock
 * then, *seen the earliest timer's when (0: none).  own: pp is the
 * caller's P, whose TSC shortcut (timer.c) this may use and update once
 * the rate is known; a clock read costs 31 ns on the development VM
 * against 12 for the counter, on every schedule of a P with any timer
 * pending. */
static inline bool timer_due(rt_p *pp, bool own, int64_t *seen, int64_t *now)
{
    int64_t w = atomic_load_explicit(&pp->timers.when0, memory_order_relaxed);
    *seen = w;
    if (w == 0)
        return false;
    uint64_t t0 = 0, rate = 0;
    if (own && (rate = atomic_load_explicit(&rt__tsc_per_ns, memory_order_relaxed)) != 0) {
        t0 = rt__tsc();
        if (w == pp->timers.fast_when && (int64_t)(t0 - pp->timers.fast_tsc) < 0)
            return false;
    }
    *now = rt_nanotime();
    if (w <= *now)
        return true;
    if (rate != 0)
        note_fast_timers(pp, w, *now, t0, rate);
    return false;
}

/* Runs pp's due timers if any (readied Gs land on the caller's P); own
 * as timer_due's. */
static inline void check_timers(rt_p *pp, bool own)
{
    int64_t seen, now;
    if (timer_due(pp, own, &seen, &now)) {
        rt_m *mp = rt__getm();
        mp->running_timers = true;
        rt__timers_run(pp, now);
        mp->running_timers = false;
        timer_wake_owe(mp->p);
    }
}

/* sysmon saw a P stuck in one goroutine with timers due and no P idle to
 * run them (sysmon.c): this running P runs every other P's due timers
 * (the readied Gs land here), as a spinning M's last stealing round does.
 * Once per flag: sysmon sets it again while the condition lasts. */
static __attribute__((noinline)) void run_orphan_timers(rt_p *pp)
{
    if (!atomic_exchange_explicit(&rt__sched.orphan_timers, 0, memory_order_acquire))
        return;
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *op = rt__sched.allp[i];
        if (op != pp)
            check_timers(op, false);
    }
}

/*
 * The fast search, done on the stack of the goroutine that is switching
 * out: timers, runnext, the local queue, and the global queue (first, every
 * 61st tick, for fairness, when a stuck P's due timers left to the running
 * Ps are run too: sysmon.c).  NULL sends the caller to g0 for the full
 * search.  A parking goroutine still holds the locks its unlock function
 * releases (a channel's, say), and a timer callback may need them, so it
 * passes timers=false and its timers run right after the switch instead
 * (after_switch).
 */
/* The G waiting in prio_g (the collector's initiator), if any.  On the
 * fast path (every yield): one relaxed load of a word that is NULL but
 * during a collection's wait for its P. */
static inline rt_g *take_prio(void)
{
    if (rt__likely(atomic_load_explicit(&rt__sched.prio_g, memory_order_relaxed) == NULL))
        return NULL;
    return atomic_exchange_explicit(&rt__sched.prio_g, NULL, memory_order_acquire);
}

/* The 61st tick's pick gp, from the ring or the global queue, runs right
 * after runnext's G, which it replaces there (kept against later readies:
 * sched.h, runnext_tick): the pick breaks a chain of runnext hand-offs --
 * the partner the runnext G readies goes to the ring's tail -- without
 * making a G just readied there wait behind it.  Run before it, the pick
 * could compute for a whole slice: a goroutine readied by a channel send
 * waited 20-25 ms beside four goroutines looping on select with default,
 * 2 % of the time (an outside tester's find; Go 0.1 ms). */
static inline rt_g *fair_pick(rt_p *pp, rt_g *gp, bool *inherit)
{
    rt_g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (next != NULL &&
        atomic_compare_exchange_strong_explicit(&pp->runnext, &next, gp, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        if (rt__unlikely(next == pp->defer_g))
            rt__defer_resolved(pp);
        pp->runnext_tick = pp->schedtick - 1;
        *inherit = !pp->runnext_timer;
        pp->runnext_timer = false;
        return next;
    }
    return gp;
}

/* A poll (poll: rt__netpoll_poll or _poll_busy) on a P: the first G it
 * readied, to run now, the others queued (rt__injectglist); NULL if none. */
static __attribute__((noinline)) rt_g *net_ready(rt_g *(*poll)(rt_g **, int32_t *))
{
    rt_g *tail;
    int32_t n;
    rt_g *gp = poll(&tail, &n);
    if (gp == NULL)
        return NULL;
    if (n > 1)
        rt__injectglist(gp->schedlink, tail, n - 1);
    atomic_store_explicit(&gp->status, RT_GRUNNABLE, memory_order_relaxed);
    /* Queued (or about to run here): no longer I/O waiters. */
    rt__netpoll_waiters_done(n);
    return gp;
}

/* timers false: a park, whose caller's timers (and network poll) run
 * after the switch; *seen as timer_due's if it was called (left alone
 * otherwise). */
static inline __attribute__((always_inline)) rt_g *find_fast(rt_p *pp, bool timers,
                                                               bool *inherit, int64_t *seen)
{
    if (rt__unlikely(sched_halted() ||
                     atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)))
        return NULL;
    rt_g *gp;
    if (rt__unlikely((gp = take_prio()) != NULL))
        return gp;
    /* Timers first, also on the 61st tick: a sleeper left for after that
     * tick's pick sat in runnext until the picked goroutine readied its
     * partner there and pushed it to the ring's tail, behind a chain of
     * runnext hand-offs for a whole slice -- 1 ms sleeps 27 ms late at
     * the 99th percentile beside two buffered pairs at MAXPROCS=1 (an
     * outside tester's find; Go 0.2 ms). */
    if (rt__unlikely(pp->timer_wake_tsc != 0)) /* one owner-only load */
        timer_wake_check(pp);
    if (timers)
        check_timers(pp, true);
    else if (rt__unlikely(timer_due(pp, true, seen, &(int64_t){0})))
        /* A parking goroutine, a timer due: to g0, which runs it once the
         * park is done, then picks (findrunnable) -- the G it readies
         * first, from runnext, as Go's schedule does.  Run after a pick
         * made here, that G sat in runnext until the picked one readied
         * another (its channel's partner) and pushed it to the ring's
         * tail: a sleeper waited behind every pair of 8 that hand the P
         * to each other, 150 ms a 1 ms sleep at MAXPROCS=1 (Go 11). */
        return NULL;
    if (rt__unlikely(pp->schedtick % 61 == 0)) {
        /* Fairness, every 61st schedule: a G from the global queue or
         * the ring, each first in turn, takes runnext's place, and
         * runnext's G runs now (fair_pick).  Without the ring's turn,
         * goroutines handing off to each other through runnext would keep
         * the P for a whole 10 ms slice (they inherit it: sched.h,
         * slicetick), or for good where none passes a preemption point
         * (Go preempts anywhere); without its turn
         * coming first, goroutines that yield (queued globally at P > 1)
         * kept the global queue from ever being empty on these ticks, and
         * the ring waited behind ping-ponging pairs: a goroutine woken
         * from rt_sleep(1 ms) ran 0.3-8.8 s late beside 4 yielders and 4
         * channel pairs at MAXPROCS=2 (an outside tester's find; Go 20-58
         * ms at worst). */
        if (timers && atomic_load_explicit(&rt__sched.orphan_timers, memory_order_relaxed))
            run_orphan_timers(pp);
        bool ring_first = (pp->schedtick / 61) & 1;
        gp = ring_first ? rt__runq_get_ring(pp) : NULL;
        if (gp == NULL && atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0) {
            rt__lock_acquire(&rt__sched.lock);
            gp = rt__globrunq_get(pp, 1);
            rt__lock_release(&rt__sched.lock);
        }
        if (gp == NULL && !ring_first)
            gp = rt__runq_get_ring(pp);
        if (gp != NULL)
            return fair_pick(pp, gp, inherit);
    }
    gp = rt__runq_get_inh(pp, inherit);
    if (gp)
        return gp;
    /* The local queue is empty: goroutines the network readied, if
     * nobody polled lately -- with every P busy (a yield that finds
     * nothing else to run, a pick from the global queue) this is the only
     * look but sysmon's (netpoll.c, rt__netpoll_poll_busy).  Not in a
     * park: like the timers, it waits for g0 (findrunnable polls).  Cost
     * while nobody waits for I/O: one load and a branch, only when the
     * queue is empty; while goroutines do, a clock read as well. */
    if (timers &&
        rt__unlikely(atomic_load_explicit(&rt__sched.external_waiters, memory_order_relaxed) >
                     0) &&
        (gp = net_ready(rt__netpoll_poll_busy)) != NULL)
        return gp;
    if (atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0) {
        /* The local queue is empty: take a batch (Go's findrunnable), not
         * one G per hold of the lock -- a spawner's overflow of 128 at a
         * time was drained one by one, both Ps contending on the lock. */
        rt__lock_acquire(&rt__sched.lock);
        gp = rt__globrunq_get(pp, 0);
        rt__lock_release(&rt__sched.lock);
    }
    return gp;
}

static void resetspinning(rt_m *mp)
{
    __atomic_store_n(&mp->spinning, false, __ATOMIC_RELAXED);
    int32_t n = atomic_fetch_sub_explicit(&rt__sched.nmspinning, 1,
                                          memory_order_acq_rel) - 1;
    if (n < 0)
        rt__throw("findrunnable: negative nmspinning");
    /* We were the last spinner and found work: there may be more, so let
     * another M look for it. */
    if (n == 0)
        rt__wakep();
}

static rt_g *steal_work(rt_m *mp, rt_p *pp)
{
    int32_t procs = rt__sched.gomaxprocs;
    for (int round = 0; round < 4; round++) {
        bool last = round == 3;
        uint32_t off = rt__fastrandn((uint32_t)procs);
        for (int32_t j = 0; j < procs; j++) {
            rt_p *p2 = rt__sched.allp[(off + (uint32_t)j) % (uint32_t)procs];
            if (p2 == pp)
                continue;
            if (last) {
                check_timers(p2, false); /* its M may be busy or gone idle */
                rt_g *gp = rt__runq_get(pp);
                if (gp)
                    return gp;
            }
            rt_g *gp = rt__runq_steal(pp, p2, last);
            if (gp)
                return gp;
        }
        if (atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed))
            return NULL;
    }
    (void)mp;
    return NULL;
}

/* The full search, on g0.  Returns with a G to run and mp->p held;
 * *inherit as find_fast's. */
static rt_g *findrunnable(rt_m *mp, bool *inherit)
{
    for (;;) {
        rt_p *pp = mp->p;
        if (rt__unlikely(sched_halted())) {
            /* rt_main returned or a fatal error is being printed: this M
             * runs nothing more. */
            for (;;)
                pause();
        }
        if (atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)) {
            gcstopm(mp);
            continue;
        }
        rt_g *gp = take_prio();
        if (gp)
            return gp;
        check_timers(pp, true);
        gp = rt__runq_get_inh(pp, inherit);
        if (gp)
            return gp;
        if (atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0) {
            rt__lock_acquire(&rt__sched.lock);
            gp = rt__globrunq_get(pp, 0);
            rt__lock_release(&rt__sched.lock);
            if (gp)
                return gp;
        }
        /* Go's netpoll(0): goroutines the network made ready, unless an
         * idle M is blocked in the poller already (it will hand them out). */
        if (rt__netpoll_pollable() && (gp = net_ready(rt__netpoll_poll)) != NULL)
            return gp;
        int32_t procs = rt__sched.gomaxprocs;
        if (mp->spinning ||
            2 * atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) <
                procs - atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed)) {
            if (!mp->spinning) {
                __atomic_store_n(&mp->spinning, true, __ATOMIC_RELAXED);
                atomic_fetch_add_explicit(&rt__sched.nmspinning, 1,
                                          memory_order_acq_rel);
            }
            gp = steal_work(mp, pp);
            if (gp)
                return gp;
        }

        /* Nothing to do: give up the P. */
        rt__lock_acquire(&rt__sched.lock);
        if (atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)) {
            rt__lock_release(&rt__sched.lock);
            continue;
        }
        /* (prio_g is filled under this lock with a look for an idle P:
         * either it is seen here or this P is found idle there) */
        if ((gp = take_prio()) != NULL) {
            rt__lock_release(&rt__sched.lock);
            return gp;
        }
        if (atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0) {
            gp = rt__globrunq_get(pp, 0);
            rt__lock_release(&rt__sched.lock);
            return gp;
        }
        releasep(mp);
        pidleput(pp);
        rt__lock_release(&rt__sched.lock);

        if (mp->spinning) {
            /* Another M may have submitted work between our last look and
             * the P going idle, and seen us spinning so not woken anyone:
             * look once more now that we are not counted as spinning --
             * the local queues and the global one, which a thread with no
             * P (a file-pool thread readying its goroutine) fills: see
             * ready_no_p for why this seq_cst decrement and its seq_cst
             * look at nmspinning leave one of us the goroutine. */
            if (RT_DEBUG >= 3 && (rt__fastrand() & 3) == 0)
                sched_yield(); /* debug builds: widen the window (stress_wake) */
            __atomic_store_n(&mp->spinning, false, __ATOMIC_RELAXED);
            atomic_fetch_sub_explicit(&rt__sched.nmspinning, 1, memory_order_seq_cst);
            bool work = atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0 ||
                        atomic_load_explicit(&rt__sched.prio_g, memory_order_relaxed) != NULL;
            for (int32_t i = 0; i < procs && !work; i++)
                work = !rt__runq_empty(rt__sched.allp[i]);
            if (work) {
                rt__lock_acquire(&rt__sched.lock);
                rt_p *p2 = pidleget();
                rt__lock_release(&rt__sched.lock);
                if (p2) {
                    acquirep(mp, p2);
                    __atomic_store_n(&mp->spinning, true, __ATOMIC_RELAXED);
                    atomic_fetch_add_explicit(&rt__sched.nmspinning, 1,
                                              memory_order_acq_rel);
                    goto again;
                }
            }
        }
        stopm(mp);
    again:;
    }
}

/* Counts a schedule on pp (the owner's): a new time slice unless the G
 * inherits the current one (sched.h, slicetick). */
static inline __attribute__((always_inline)) void count_schedule(rt_p *pp, bool inherit)
{
    __atomic_store_n(&pp->schedtick, pp->schedtick + 1, __ATOMIC_RELAXED);
    if (!inherit)
        __atomic_store_n(&pp->slicetick, pp->slicetick + 1, __ATOMIC_RELAXED);
}

static void execute(rt_m *mp, rt_g *gp, bool inherit)
{
    rt__assert(atomic_load_explicit(&gp->status, memory_order_relaxed) == RT_GRUNNABLE);
    rt__assert(mp->p != NULL && mp->p->m == mp);
    count_schedule(mp->p, inherit);
    atomic_store_explicit(&gp->status, RT_GRUNNING, memory_order_relaxed);
    mp->after = RT_AFTER_NONE;
    gswitch(mp, &mp->g0, gp);
}

static void schedule_loop(rt_m *mp)
{
    for (;;) {
        if (mp->p == NULL)
            stopm(mp);
        bool inherit = false;
        rt_g *gp = findrunnable(mp, &inherit);
        if (mp->spinning)
            resetspinning(mp);
        execute(mp, gp, inherit);
    }
}

static __attribute__((noinline)) void after_switch_slow(rt_m *mp, int what);

static inline __attribute__((always_inline)) void after_switch(rt_m *mp)
{
    int what = mp->after;
    if (what == RT_AFTER_NONE)
        return;
    if (rt__likely(what == RT_AFTER_READY)) {
        /* The yield case, inline; every other action out of line. */
        rt_g *prev = mp->after_g;
        mp->after = RT_AFTER_NONE;
        /* The new status is published only now that prev's registers are
         * saved: whoever sees it (a waker, a traceback) may read prev->sp.
         * Release pairs with the acquire loads of tracers and wakers. */
        atomic_store_explicit(&prev->status, RT_GRUNNABLE, memory_order_release);
        rt__runq_put(mp->p, prev, false);
        return;
    }
    after_switch_slow(mp, what);
}

static __attribute__((noinline)) void after_switch_slow(rt_m *mp, int what)
{
    rt_g *prev = mp->after_g;
    mp->after = RT_AFTER_NONE;
    /* Published after the switch, as in after_switch. */
    switch (what) {
    case RT_AFTER_GLOBAL:
        atomic_store_explicit(&prev->status, RT_GRUNNABLE, memory_order_release);
        /* Queued and an idle P woken to take it (a yield, a preempted
         * goroutine), as a thread with no P queues work: this P may now
         * run a goroutine that never yields, and nothing else would look
         * at the global queue -- a yield next to one spinning goroutine
         * at MAXPROCS=2 waited for ever.  ready_no_p's fence is needed
         * too: a spinning M giving up must see prev or be woken.  (During
         * a stop of the world no P is idle: the wake-up finds none.) */
        ready_no_p(prev, prev, 1);
        break;
    case RT_AFTER_SYSCALL_BLOCK: {
        /* rt_syscall_exit found no idle P.  One may have gone idle since:
         * its M looked at the global queue before prev is on it, and
         * sleeps.  So queue prev and look for an idle P again under one
         * hold of the lock (Go's exitsyscall0): a P that goes idle later
         * sees prev on the queue first.  Found one: run prev ourselves
         * (schedule_loop finds it), instead of leaving it to nobody. */
        atomic_store_explicit(&prev->status, RT_GRUNNABLE, memory_order_release);
        rt__nostop_begin(mp);
        rt__lock_acquire(&rt__sched.lock);
        rt_g *none = NULL;
        if (!prev->gcprio ||
            !atomic_compare_exchange_strong_explicit(&rt__sched.prio_g, &none, prev,
                                                     memory_order_release, memory_order_relaxed))
            rt__globrunq_put(prev);
        rt_p *p2 = atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)
                       ? NULL
                       : pidleget();
        rt__lock_release(&rt__sched.lock);
        if (p2 != NULL)
            acquirep(mp, p2);
        rt__nostop_end(mp);
        break;
    }
    case RT_AFTER_PARK:
        atomic_store_explicit(&prev->status, RT_GWAITING, memory_order_release);
        if (mp->after_fn && !mp->after_fn(prev, mp->after_arg)) {
            atomic_store_explicit(&prev->status, RT_GRUNNABLE, memory_order_release);
            rt__runq_put(mp->p, prev, true);
        }
        /* skipped by switch_out: see find_fast -- but for its look,
         * which is as good while the earliest timer is the one it saw
         * not due (a TSC read less per park: 5 % of a ping-pong beside
         * a pending timer) */
        if (mp->p && (mp->park_timer_seen == 0 ||
                      atomic_load_explicit(&mp->p->timers.when0, memory_order_relaxed) !=
                          mp->park_timer_seen))
            check_timers(mp->p, true);
        mp->park_timer_seen = 0;
        break;
    case RT_AFTER_DEAD:
        atomic_store_explicit(&prev->status, RT_GDEAD, memory_order_release);
        stack_detach(mp->p, prev);
#ifdef RT_TSAN
        __tsan_destroy_fiber(prev->tsan_fiber);
        prev->tsan_fiber = NULL;
#endif
        if (mp->p)
            gfput(mp->p, prev);
        else {
            rt__lock_acquire(&rt__sched.gfree_lock);
            gfree_push_global(&prev, 1);
            rt__lock_release(&rt__sched.gfree_lock);
        }
        break;
    default:
        rt__throwf("after_switch: bad action %d", what);
    }
}

/* Switches away from the running goroutine gp, which has set mp->after*. */
static void switch_out(rt_m *mp, rt_g *gp)
{
    rt__assert(mp->curg == gp);
    rt_p *pp = mp->p;
    bool inherit = false;
    int64_t seen = 0;
    rt_g *next = pp ? find_fast(pp, mp->after != RT_AFTER_PARK, &inherit, &seen) : NULL;
    if (next) {
        count_schedule(pp, inherit);
        mp->park_timer_seen = seen;
        atomic_store_explicit(&next->status, RT_GRUNNING, memory_order_relaxed);
        gswitch(mp, gp, next);
    } else {
        gswitch(mp, gp, &mp->g0);
    }
}

bool rt__is_switch_fn(uintptr_t entry)
{
    /* switch_out too: its two calls of gswitch (to the next G or to g0)
     * are two return addresses where the compiler does not merge them
     * (the ASan build) */
    return entry == (uintptr_t)gswitch || entry == (uintptr_t)gswitch_first ||
           entry == (uintptr_t)switch_out;
}

bool rt__is_goroutine_root(uintptr_t entry)
{
    return entry == (uintptr_t)goentry || entry == (uintptr_t)rt__ctx_start;
}

/* ------------------------------------------------------ public: goroutines */

static void goexit0(void) __attribute__((noreturn));

static void goentry(void *arg)
{
    rt_g *gp = arg;
    san_after(gp);
    rt_m *mp = rt__getm();
    after_switch(mp);
    *mp->errno_addr = 0;
    if (rt__unlikely(mp->eh != NULL))
        *mp->eh = (rt__eh_state){NULL, 0}; /* a goroutine starts outside any catch */
    gp->fn(gp->arg);
    goexit0();
}

static void goexit0(void)
{
    rt_m *mp = rt__getm();
    rt_g *gp = mp->curg;
#ifdef RT_ASAN
    uintptr_t low = (uintptr_t)__builtin_frame_address(0) - 8192;
    gp->asan_low = low < gp->stack.lo ? gp->stack.lo : low;
#endif
    __atomic_store_n(&gp->waitreason, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&gp->m, NULL, __ATOMIC_RELAXED);
    if (gp->is_system) {
        __atomic_store_n(&gp->is_system, false, __ATOMIC_RELAXED);
        atomic_fetch_sub_explicit(&rt__sched.nsystem, 1, memory_order_relaxed);
    }
    mp->after = RT_AFTER_DEAD;
    mp->after_g = gp;
    switch_out(mp, gp);
    rt__throw("goexit: dead goroutine resumed");
}

static int64_t new_goid(rt_p *pp)
{
    if (pp == NULL)
        return atomic_fetch_add_explicit(&rt__sched.goidgen, 1, memory_order_relaxed) + 1;
    if (pp->goidcache == pp->goidcacheend) {
        /* Batches of 16, as Go does, so P's don't contend on one counter.
         * Ids are unique but not dense in creation order across Ps. */
        pp->goidcache = atomic_fetch_add_explicit(&rt__sched.goidgen, 16,
                                                  memory_order_relaxed) + 1;
        pp->goidcacheend = pp->goidcache + 16;
    }
    return pp->goidcache++;
}

/* goid: the id to give (MAIN_GOID for rt_main's), or 0 for a new one. */
static int64_t newproc(void (*fn)(void *), void *arg, uintptr_t pc, bool system, int64_t goid)
{
    rt_m *mp = rt__getm();
    rt_p *pp = mp ? mp->p : NULL;
    if (mp == NULL && atomic_load_explicit(&rt__sched.main_started, memory_order_relaxed))
        atomic_store_explicit(&rt__sched.foreign_go, 1, memory_order_relaxed);
    rt_g *gp = pp ? gfget(pp) : NULL;
    if (gp == NULL && pp == NULL && atomic_load_explicit(&rt__sched.ngfree, memory_order_relaxed) > 0) {
        rt__lock_acquire(&rt__sched.gfree_lock);
        if (gfree_pop_global(&gp, 1) == 0)
            gp = NULL;
        rt__lock_release(&rt__sched.gfree_lock);
    }
    if (gp == NULL && (gp = galloc()) == NULL)
        return -ENOMEM;
    gp->fn = fn;
    gp->arg = arg;
    gp->gopc = pc;
    __atomic_store_n(&gp->goid, goid != 0 ? goid : new_goid(pp), __ATOMIC_RELAXED); /* tracers */
    __atomic_store_n(&gp->waitreason, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&gp->waitsince, 0, __ATOMIC_RELAXED);
    gp->param = NULL;
    gp->onces = NULL;
    __atomic_store_n(&gp->in_user, false, __ATOMIC_RELAXED);
    gp->noroots = false;
    gp->gcprio = false;
    gp->asan_fake_stack = NULL;
    __atomic_store_n(&gp->is_system, system, __ATOMIC_RELAXED); /* allg walkers */
    if (system)
        atomic_fetch_add_explicit(&rt__sched.nsystem, 1, memory_order_relaxed);
    else
        rt__labels_inherit(gp, mp ? mp->curg : NULL); /* pprof labels, as Go */
    gp->sp = NULL; /* fresh: its first frame is built when it first runs */
    atomic_store_explicit(&gp->status, RT_GRUNNABLE, memory_order_relaxed);
    int64_t id = gp->goid;
    if (pp) {
        rt__runq_put(pp, gp, true);
    } else {
        rt__lock_acquire(&rt__sched.lock);
        rt__globrunq_put(gp);
        rt__lock_release(&rt__sched.lock);
    }
    if (atomic_load_explicit(&rt__sched.main_started, memory_order_relaxed))
        rt__wakep();
    return id;
}

int64_t rt_go(void (*fn)(void *arg), void *arg)
{
    if (fn == NULL)
        return -EINVAL;
    /* a thread outside the runtime is a root from its first call
     * (foreign.c); not in newproc: rt_main's own start of goroutine 1 on
     * the main thread is no such call (the main thread then sleeps, its
     * stack a root through gcstop.c's main_sp; registered, it would be
     * signalled at every stop -- under TSan, which defers signals to a
     * thread asleep in a raw futex call, that stop never ended) */
    rt__foreign_note();
    int64_t id = newproc(fn, arg, (uintptr_t)__builtin_return_address(0), false, 0);
    /* A preemption point (sched.h): goroutines that start goroutines in
     * a loop kept their Ps, and the children piled up on the global
     * queue, 4.5 million a second, RSS 1 GB a second, a sleeper never
     * woken (an outside tester's find; Go 30k goroutines, 114 MB). */
    rt__preempt_point();
    return id;
}

int64_t rt__go_system(void (*fn)(void *arg), void *arg)
{
    return newproc(fn, arg, (uintptr_t)__builtin_return_address(0), true, 0);
}

_Atomic uint32_t rt__preempt_pending;

void rt__preempt_slow(void)
{
    rt_m *mp = rt__tls_m;
    if (mp == NULL || mp->curg == NULL || mp->nostop != 0)
        return;
    rt_p *pp = mp->p;
    /* (not between rt_syscall_enter and _exit: the P may be another M's) */
    if (pp == NULL || atomic_load_explicit(&pp->status, memory_order_relaxed) != RT_PRUNNING ||
        atomic_load_explicit(&mp->curg->status, memory_order_relaxed) != RT_GRUNNING ||
        !atomic_load_explicit(&pp->preempt, memory_order_relaxed) ||
        !atomic_exchange_explicit(&pp->preempt, 0, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&rt__sched.preempt_count, 1, memory_order_relaxed);
    /* To the global queue, behind what waits there, and the P schedules
     * (Go's gopreempt_m -> goschedImpl).  Requeued locally, as rt_yield
     * does with one P, two busy goroutines took turns on the P and what
     * the poller, the file pool or a system call's exit had queued
     * globally waited for the 61st schedule: a tick every 10 ms slice,
     * 0.3-1.6 s per network round trip at MAXPROCS=1 against Go's ~80 ms
     * (an outside tester's find). */
    mp->after = RT_AFTER_GLOBAL;
    mp->after_g = mp->curg;
    gswitch(mp, mp->curg, &mp->g0);
}

void rt__preempt_all(void)
{
    bool any = false;
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        if (atomic_load_explicit(&pp->status, memory_order_relaxed) == RT_PRUNNING) {
            atomic_store_explicit(&pp->preempt, 1, memory_order_relaxed);
            any = true;
        }
    }
    if (any)
        atomic_store_explicit(&rt__preempt_pending, 1, memory_order_relaxed);
}

void rt_yield(void)
{
    rt_m *mp = rt__tls_m; /* direct: no switch has happened in this call yet */
    rt_g *gp = mp ? mp->curg : NULL;
    if (gp == NULL) {
        rt__foreign_note();
        sched_yield();
        return;
    }
    rt_p *pp = mp->p;
    if (rt__unlikely(pp == NULL)) /* (one compare on a loaded word) */
        rt__throw("rt_yield: between rt_syscall_enter and rt_syscall_exit");
    bool inherit = false;
    int64_t seen;
    rt_g *next = find_fast(pp, true, &inherit, &seen);
    if (next == NULL) {
        if (!atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed))
            return; /* nothing else to run here */
        /* stop-the-world pending: let g0 stop this P */
        mp->after = RT_AFTER_GLOBAL;
        mp->after_g = gp;
        gswitch(mp, gp, &mp->g0);
        return;
    }
    /* Where the yielder waits: on this P's queue with one P (nothing else
     * can take it, and the queue costs no lock: workload 1), on the
     * global queue with more, as Go's Gosched does (a hold of the
     * scheduler's lock and a look for an idle P, after the switch).
     * Requeued locally, it sat behind this P's queue, where an idle P's
     * steal takes the oldest half and not it, while goroutines that never
     * block kept both Ps for sysmon's 10 ms slices: a yield among four
     * goroutines streaming over loopback returned after 26 ms (median)
     * at MAXPROCS=2, Go's after 0.02 (an outside tester's find): a P
     * whose own queue runs dry looks at the global queue before it
     * steals. */
    mp->after = rt__sched_gomaxprocs_is_one() ? RT_AFTER_READY : RT_AFTER_GLOBAL;
    mp->after_g = gp;
    count_schedule(pp, inherit);
    atomic_store_explicit(&next->status, RT_GRUNNING, memory_order_relaxed);
    gswitch(mp, gp, next);
}

void rt_exit(void)
{
    rt_g *gp = rt__getg();
    if (gp == NULL)
        rt__throw("rt_exit called outside a goroutine");
    rt__once_goexit(gp);
    if (gp->goid == 1) {
        rt__lock_acquire(&rt__sched.lock);
        rt__sched.main_goexit = true;
        rt__lock_release(&rt__sched.lock);
    }
    goexit0();
}

int64_t rt_goid(void)
{
    rt_g *gp = rt__getg();
    return gp ? gp->goid : 0;
}

int rt_num_goroutine(void) { return (int)rt__gcount(); }

/* ---------------------------------------------------------- park/ready -- */

void rt__gopark(bool (*unlockf)(rt_g *gp, void *arg), void *arg,
                const char *reason)
{
    rt_m *mp = rt__getm();
    rt_g *gp = mp ? mp->curg : NULL;
    if (gp == NULL) /* e.g. a nil channel on a thread the runtime did not create */
        rt__throwf("%s: not on a goroutine", reason ? reason : "gopark");
    if (rt__unlikely(mp->p == NULL)) /* it hung: no P to schedule from */
        rt__throwf("%s: blocking between rt_syscall_enter and rt_syscall_exit",
                   reason ? reason : "gopark");
    /* Relaxed atomics: tracebacks and schedtrace read both without
     * stopping us (a header may mix two parks; it never tears a word). */
    __atomic_store_n(&gp->waitreason, reason, __ATOMIC_RELAXED);
    __atomic_store_n(&gp->waitsince,
                     atomic_load_explicit(&rt__sched.coarse_now, memory_order_relaxed),
                     __ATOMIC_RELAXED);
    mp->after = RT_AFTER_PARK;
    mp->after_g = gp;
    mp->after_fn = unlockf;
    mp->after_arg = arg;
    switch_out(mp, gp);
}

static bool unlock_after_park(rt_g *gp, void *arg)
{
    (void)gp;
    rt__lock_release(arg);
    return true;
}

void rt__goparkunlock(rt__lock *l, const char *reason)
{
    rt__gopark(unlock_after_park, l, reason);
}

/* Whether rt__wakep would wake an idle P now. */
static inline bool idle_p_asleep(void)
{
    return atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) != 0 &&
           atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) == 0;
}

/* Whether the caller, about to put gp, the only G queued on its P, into
 * runnext, may leave the idle Ps asleep ("Waking an idle P" above).  If
 * so, notes gp and the time for rt__defer_resolved. */
static inline bool wake_can_wait(rt_p *pp, rt_g *gp)
{
    if (pp->defer_score > DEFER_SCORE_MAX) {
        /* Its wakers have kept computing: wake as Go does, and let the
         * score decay so that deferring is tried again now and then. */
        pp->defer_score -= pp->defer_score >> 6;
        return false;
    }
    /* Counted even when refused: a slow sysmon sees it and speeds up. */
    atomic_store_explicit(&pp->wakes_deferred,
                          atomic_load_explicit(&pp->wakes_deferred, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (!atomic_load_explicit(&rt__sched.sysmon_fast, memory_order_relaxed))
        return false; /* nobody would notice a long wait soon enough */
    uint32_t off = atomic_load_explicit(&pp->defer_off, memory_order_relaxed);
    if (off != 0) {
        atomic_store_explicit(&pp->defer_off, off - 1, memory_order_relaxed);
        return false;
    }
    pp->defer_g = gp;
    pp->defer_stamp = atomic_load_explicit(&rt__sched.coarse_now, memory_order_relaxed);
    return true;
}

/* Owner only: pp runs pp->defer_g, readied without waking an idle P.  If
 * sysmon's clock ticked in between, the wait was long, or straddled a
 * tick: with ticks every RT_WAKE_WAIT_NS, a wait of w crosses one with
 * probability w / RT_WAKE_WAIT_NS.  A decaying average of crossings above
 * a quarter means waits of ~5 us and more: the wakers do not block soon
 * after readying, and an idle P would have run the readied goroutines
 * in parallel. */
void rt__defer_resolved(rt_p *pp)
{
    bool crossed = atomic_load_explicit(&rt__sched.coarse_now, memory_order_relaxed) !=
                   pp->defer_stamp;
    pp->defer_g = NULL;
    pp->defer_score += (crossed ? 64u : 0u) - (pp->defer_score >> 4);
}

/* Owner only: nothing is queued on pp, so a G put into runnext now would
 * be the only one. */
static inline bool runq_bare(rt_p *pp)
{
    return atomic_load_explicit(&pp->runnext, memory_order_relaxed) == NULL &&
           runq_ring_empty(pp);
}

/*
 * Readied by a thread with no P (a file-pool thread, an M blocked in the
 * poller), or put aside by one whose P goes on with other work (a yield
 * with more than one P, a preemption: after_switch_slow): the global
 * queue, then an idle P woken.  A spinning M that
 * gives up its P (findrunnable) looks at the global queue again after its
 * seq_cst decrement of nmspinning; the seq_cst read-modify-write here
 * (adding 0) orders our put before our look at nmspinning.  Either it
 * reads the count before the decrement, and the decrement, reading from
 * it, makes the put visible to that M's second look; or it reads it
 * after, and wakep sees no spinner and wakes a P.  A plain load could be
 * satisfied before the put left this CPU's store buffer: we would see the
 * spinner and leave, it would see an empty queue and sleep, and the
 * goroutine would wait for an unrelated wake-up (the hang once met in CI:
 * every P idle, one goroutine runnable in the global queue).
 */
static void ready_no_p(rt_g *head, rt_g *tail, int32_t n)
{
    rt__lock_acquire(&rt__sched.lock);
    rt__globrunq_put_batch(head, tail, n);
    rt__lock_release(&rt__sched.lock);
    (void)atomic_fetch_add_explicit(&rt__sched.nmspinning, 0, memory_order_seq_cst);
    rt__wakep();
}

/* WAITING -> RUNNABLE, or a fatal error (Go's goready check). */
static inline void make_runnable(rt_g *gp)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
    if (st != RT_GWAITING)
        rt__throwf("goready: bad g status %u", st);
    atomic_store_explicit(&gp->status, RT_GRUNNABLE, memory_order_relaxed);
}

/* A G a timer readied takes runnext, whoever holds it (as in Go, where
 * the timers run before the pick), and keeps it against the readies of
 * the goroutine that runs meanwhile (sched.h, runnext_tick). */
static inline void runq_put_timer(rt_p *pp, rt_g *gp)
{
    pp->runnext_tick = pp->schedtick;
    rt__runq_put(pp, gp, true);
    pp->runnext_tick = pp->schedtick - 1;
    pp->runnext_timer = true;
}

static void ready(rt_g *gp, bool next, bool handoff)
{
    make_runnable(gp);
    rt_m *mp = rt__getm();
    rt_p *pp = mp ? mp->p : NULL;
    if (pp) {
        if (mp->running_timers) {
            /* A timer's ready (a ticker's or rt_after's send, a sleeper's
             * wake-up): this P is scheduling and runs the batch's Gs
             * next; whether an idle P should help is decided after the
             * batch (check_timers).  Not a deferral: that keeps sysmon on
             * its 20 us tick, which a 1 ms ticker kept up for good (10x
             * Go's CPU for a program that only waits on timers; an
             * outside tester's find). */
            if (next)
                runq_put_timer(pp, gp);
            else
                rt__runq_put(pp, gp, false);
            return;
        }
        bool lone = handoff && idle_p_asleep() && runq_bare(pp);
        rt__runq_put(pp, gp, next);
        if (lone && wake_can_wait(pp, gp))
            return;
    } else {
        ready_no_p(gp, gp, 1);
        return;
    }
    rt__wakep();
}

void rt__goready(rt_g *gp) { ready(gp, true, false); }

void rt__goready_idle_p(rt_g *gp)
{
    make_runnable(gp);
    ready_no_p(gp, gp, 1);
}
void rt__goready_handoff(rt_g *gp) { ready(gp, true, true); }
void rt__goready_tail(rt_g *gp) { ready(gp, false, false); }

void rt__injectglist(rt_g *head, rt_g *tail, int32_t n)
{
    if (head == NULL)
        return;
    for (rt_g *gp = head; gp != NULL; gp = gp->schedlink) {
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
        if (st != RT_GWAITING)
            rt__throwf("injectglist: bad g status %u", st);
        atomic_store_explicit(&gp->status, RT_GRUNNABLE, memory_order_relaxed);
    }
    rt_m *mp = rt__getm();
    rt_p *pp = mp ? mp->p : NULL;
    if (pp != NULL) {
        rt_g *next;
        for (rt_g *gp = head; gp != NULL; gp = next) {
            next = gp->schedlink;
            rt__runq_put(pp, gp, false);
        }
    } else {
        ready_no_p(head, tail, n);
        return;
    }
    rt__wakep();
}

/* ------------------------------------------------------------- syscalls -- */

/* rt_syscall_enter itself is in asm_*.S: it saves the caller's
 * callee-saved registers and calls this with them and the caller's sp. */
void rt__syscall_enter(const uintptr_t *regs, uintptr_t sp)
{
    rt_m *mp = rt__getm();
    rt_g *gp = mp ? mp->curg : NULL;
    if (gp == NULL)
        return; /* not a goroutine: nothing to hand off */
    rt_p *pp = mp->p;
    if (rt__unlikely(pp == NULL))
        rt__throw("rt_syscall_enter: already between rt_syscall_enter and rt_syscall_exit");
    /* For the collector (gcstop.c), before SYSCALL is published: from
     * here on the thread may run below sp while the world is stopped. */
    memcpy(mp->syscallregs, regs, sizeof mp->syscallregs);
#if defined(__x86_64__)
    mp->syscallpc = ((const uintptr_t *)sp)[-1]; /* still there: we are in the call */
#elif defined(__aarch64__)
    mp->syscallpc = regs[1]; /* x30 */
#endif
    gp->syscallsp = sp;
    atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt__sched.nsyscall, 1, memory_order_relaxed);
    __atomic_store_n(&gp->waitsince,
                     atomic_load_explicit(&rt__sched.coarse_now, memory_order_relaxed),
                     __ATOMIC_RELAXED);
    /* (release: a reader that sees SYSCALL sees syscallsp and the
     * registers -- test_gcstop's look, as the collector's through the P) */
    atomic_store_explicit(&gp->status, RT_GSYSCALL, memory_order_release);
    __atomic_store_n(&mp->oldp, pp, __ATOMIC_RELAXED); /* (schedtrace reads it) */
    __atomic_store_n(&mp->p, NULL, __ATOMIC_RELAXED); /* schedtrace */
    /* Release: sysmon, which CASes the status, sees a consistent P. */
    atomic_store_explicit(&pp->status, RT_PSYSCALL, memory_order_release);
    /* Goroutines queued behind the call wait for sysmon's retake: on its
     * slow tick (10 ms, after a quiet spell) that was 10-20 ms at
     * MAXPROCS=1 (Go: ~0.1 ms; an outside tester's find).  Cost on every
     * call: a load, and while sysmon is slow (most of the time) the test
     * of this P's queue, four loads of lines its owner holds; the kick
     * itself (a futex wake-up) only once until sysmon has looked. */
    if (rt__unlikely(!atomic_load_explicit(&rt__sched.sysmon_fast, memory_order_relaxed)) &&
        !rt__runq_empty(pp))
        rt__sysmon_kick();
}

/* After rt_syscall_enter, for a call known to take long (the collector's
 * concurrent mark phase): hands the P to another M now rather than when
 * sysmon notices (Go's entersyscallblock). */
void rt__syscall_handoff(void)
{
    rt_m *mp = rt__getm();
    rt_p *pp = mp ? mp->oldp : NULL;
    if (pp == NULL)
        return;
    uint32_t expect = RT_PSYSCALL;
    if (atomic_compare_exchange_strong_explicit(&pp->status, &expect, RT_PIDLE,
                                                memory_order_acq_rel, memory_order_relaxed))
        rt__handoffp(pp);
}

void rt_syscall_exit(void)
{
    rt_m *mp = rt__getm();
    rt_g *gp = mp ? mp->curg : NULL;
    if (gp == NULL)
        return;
    rt_p *pp = mp->oldp;
    if (rt__unlikely(pp == NULL ||
                     atomic_load_explicit(&gp->status, memory_order_relaxed) != RT_GSYSCALL))
        rt__throw("rt_syscall_exit without rt_syscall_enter");
    __atomic_store_n(&mp->oldp, NULL, __ATOMIC_RELAXED);
    atomic_fetch_sub_explicit(&rt__sched.nsyscall, 1, memory_order_relaxed);
    uint32_t expect = RT_PSYSCALL;
    if (atomic_compare_exchange_strong_explicit(&pp->status, &expect, RT_PRUNNING,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        /* Fast path: nobody took our P. */
        __atomic_store_n(&mp->p, pp, __ATOMIC_RELAXED); /* schedtrace */
        p_set_m(pp, mp);
        atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
        atomic_store_explicit(&gp->status, RT_GRUNNING, memory_order_relaxed);
        return;
    }
    /* Sysmon handed our P to another M: take any idle P. */
    rt__lock_acquire(&rt__sched.lock);
    rt_p *p2 = atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)
                   ? NULL
                   : pidleget();
    rt__lock_release(&rt__sched.lock);
    if (p2) {
        acquirep(mp, p2);
        atomic_store_explicit(&gp->status, RT_GRUNNING, memory_order_relaxed);
        return;
    }
    /* No P: queue the goroutine globally and put this M to sleep. */
    mp->after = RT_AFTER_SYSCALL_BLOCK;
    mp->after_g = gp;
    gswitch(mp, gp, &mp->g0);
}

/* ----------------------------------------------------------- deadlock ---- */

/* Threads in this process (/proc/self/stat field 20), or 0 if unknown.
 * Only read when a deadlock is about to be reported. */
static int process_threads(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return 0;
    int field = 2, threads = 0;
    for (p++; *p && field < 20; p++)
        if (*p == ' ')
            field++;
    if (field == 20)
        threads = atoi(p);
    return threads;
}

_Atomic int rt__aux_threads;

/* rt__sched.lock held by the caller (stopm). */
static void checkdead(void)
{
    if (!atomic_load_explicit(&rt__sched.main_started, memory_order_relaxed) ||
        sched_halted())
        return;
    int32_t run = rt__sched.mcount - rt__sched.nmidle - 1 /* sysmon */;
    if (run > 0)
        return;
    if (run < 0)
        rt__throwf("checkdead: inconsistent counts (mcount=%d nmidle=%d)",
                   rt__sched.mcount, rt__sched.nmidle);
    if (atomic_load_explicit(&rt__sched.nsyscall, memory_order_relaxed) > 0)
        return;
    if (atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0 ||
        atomic_load_explicit(&rt__sched.prio_g, memory_order_relaxed) != NULL)
        return;
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++)
        if (!rt__runq_empty(rt__sched.allp[i]))
            return;
    if (rt__timers_live())
        return;
    if (atomic_load_explicit(&rt__sched.external_waiters, memory_order_relaxed) > 0)
        return; /* parked on I/O: the network may still wake them */
    /* A thread the runtime did not create has started goroutines: it may
     * start more, so "no goroutine can ever run" cannot be known (Go turns
     * the check off for cgo callback threads the same way). */
    if (atomic_load_explicit(&rt__sched.foreign_go, memory_order_relaxed))
        return;
    /* Threads other than ours (the Ms, rt_main's caller, libuv's pool and
     * rt__aux_threads; it once missed the mark threads, so a program that
     * had collected at MAXPROCS >= 2 hung where it should have died) may
     * call rt_go at any time: a deadlock cannot be told from a wait for
     * them.  A hang
     * is the lesser evil than killing a correct program. */
    int ours = rt__sched.mcount + 1 + rt__netpoll_threads() +
               atomic_load_explicit(&rt__aux_threads, memory_order_relaxed);
#ifdef RT_TSAN
    ours++; /* ThreadSanitizer's background thread */
#endif
    if (process_threads() > ours)
        return;
    /* No goroutine can ever run again. */
    int32_t waiting = 0;
    rt__lock_acquire(&rt__sched.allg_lock);
    for (uint32_t i = 0; i < rt__sched.allglen; i++) {
        rt_g *gp = rt__sched.allg[i];
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
        if (st == RT_GWAITING && !rt__g_hidden(gp))
            waiting++;
    }
    rt__lock_release(&rt__sched.allg_lock);
    rt__lock_release(&rt__sched.lock);
    if (waiting == 0 && rt__sched.main_goexit)
        rt__throw("no goroutines (main called runtime.Goexit) - deadlock!");
    rt__throw("all goroutines are asleep - deadlock!");
}

/* ------------------------------------------------------ stop the world --- */

/*
 * Called on g0 by an M whose P must stop.  Each P is counted in stopwait
 * exactly once, by whoever moves it to GCSTOP: here (RUNNING -> GCSTOP,
 * its own M), the stop signal's handler or a no-stop region's end on that
 * same M (gcstop.c, also RUNNING -> GCSTOP by CAS, M keeps the P), the
 * initiator (SYSCALL -> GCSTOP by CAS, or an idle P off the list) or
 * handoffp (a P sysmon took from a syscall).  The M itself is the only
 * one to move its RUNNING P, so the handler and this function cannot both
 * count it: if the handler stopped this M between findrunnable's test and
 * here, the world has been restarted since (the P is RUNNING again), and
 * the test under the lock below sees whether a new stop wants it.
 */
static void gcstopm(rt_m *mp)
{
    rt_p *pp = mp->p;
    rt__lock_acquire(&rt__sched.lock);
    if (!atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed)) {
        rt__lock_release(&rt__sched.lock);
        return; /* that stop is over */
    }
    if (mp->spinning) {
        __atomic_store_n(&mp->spinning, false, __ATOMIC_RELAXED);
        atomic_fetch_sub_explicit(&rt__sched.nmspinning, 1, memory_order_acq_rel);
    }
    uint32_t expect = RT_PRUNNING;
    if (!atomic_compare_exchange_strong(&pp->status, &expect, RT_PGCSTOP))
        rt__throwf("gcstopm: P%d has status %u", pp->id, expect);
    __atomic_store_n(&mp->p, NULL, __ATOMIC_RELAXED); /* schedtrace */
    p_set_m(pp, NULL);
    if (--rt__sched.stopwait == 0)
        rt__note_wakeup(&rt__sched.stopnote);
    rt__lock_release(&rt__sched.lock);
    stopm(mp);
}

/* rt__sched.lock held, a stop in progress: counts the Ps whose M entered a
 * syscall and any P that went idle after the stop began (handoffp puts
 * none there once it sees gcwaiting, but the list is cheap to check). */
static void stop_take_ps(void)
{
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        uint32_t expect = RT_PSYSCALL;
        if (atomic_compare_exchange_strong(&pp->status, &expect, RT_PGCSTOP))
            rt__sched.stopwait--;
    }
    rt_p *pp;
    while ((pp = pidleget()) != NULL) {
        atomic_store_explicit(&pp->status, RT_PGCSTOP, memory_order_relaxed);
        rt__sched.stopwait--;
    }
}

/* One stop of the world at a time.  A semaphore, not a lock: a goroutine
 * that waits for another's stop parks, so its P can stop (a thread blocked
 * on a lock would hold a running P that no scheduling point ever frees). */
static uint32_t worldsema = 1;

/*
 * Stops every P but the caller's.  signals: also stop, with the stop
 * signal, threads running goroutine code that reach no scheduling point
 * (gcstop.c); those keep their P while stopped.  Without signals every P
 * ends up released by its M (procresize may take Ps away).
 */
static void stop_world(bool signals)
{
    rt_m *mp = rt__getm();
    if (mp == NULL || mp->curg == NULL)
        rt__throw("stoptheworld: not on a goroutine");
    rt__semacquire(&worldsema, false, 0, 0);
    mp = rt__getm(); /* the park may have moved us */
    rt__lock_acquire(&rt__sched.lock);
    rt__note_clear(&rt__sched.stopnote);
    rt__sched.stopwait = rt__sched.gomaxprocs;
    atomic_store_explicit(&rt__sched.gcwaiting, 1, memory_order_release);
    if (signals)
        rt__gcstop_begin();
    /* our own P */
    atomic_store_explicit(&mp->p->status, RT_PGCSTOP, memory_order_relaxed);
    rt__sched.stopwait--;
    stop_take_ps();
    bool wait = rt__sched.stopwait > 0;
    rt__lock_release(&rt__sched.lock);
    while (wait) {
        /* Goroutines stop at their next scheduling point, or at the
         * signal; Ps whose M entered a syscall meanwhile are taken here.
         * The signal goes again on every round: a thread that got it
         * while it held no P (just leaving a syscall) did not stop. */
        if (signals)
            rt__gcstop_signal_running(mp);
        (void)rt__note_tsleep(&rt__sched.stopnote, 100 * RT_MICROSECOND);
        rt__lock_acquire(&rt__sched.lock);
        /* The wake-up may be stale: the signal handler wakes the note after
         * its decrement, without the lock, so the wake-up of the previous
         * stop's last P can land in this one.  Only the count decides;
         * clearing before reading it loses no wake-up. */
        rt__note_clear(&rt__sched.stopnote);
        stop_take_ps();
        wait = rt__sched.stopwait > 0;
        rt__lock_release(&rt__sched.lock);
    }
}

void rt__stop_the_world(const char *reason)
{
    (void)reason;
    stop_world(false);
}

void rt__gc_stopworld(void)
{
    stop_world(true);
}

static void procresize(int32_t n);

int64_t rt__start_the_world(void)
{
    rt_m *mp = rt__getm();
    rt__lock_acquire(&rt__sched.lock);
    if (rt__sched.newprocs > 0) {
        procresize(rt__sched.newprocs);
        rt__sched.newprocs = 0;
    }
    atomic_store_explicit(&rt__sched.gcwaiting, 0, memory_order_release);
    atomic_store_explicit(&mp->p->status, RT_PRUNNING, memory_order_relaxed);
    rt_p *runp[MAX_PROCS];
    int nrun = 0;
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        if (pp == mp->p)
            continue;
        if (pp->sigstopped) {
            /* Its M, stopped in the signal handler, resumes with it. */
            pp->sigstopped = false;
            atomic_store_explicit(&pp->status, RT_PRUNNING, memory_order_relaxed);
            continue;
        }
        /* Only Ps their M released or never held are handed out. */
        rt__assert(pp->m == NULL || pp->m->p != pp);
        atomic_store_explicit(&pp->status, RT_PIDLE, memory_order_relaxed);
        p_set_m(pp, NULL);
        if (rt__runq_empty(pp))
            pidleput(pp);
        else
            runp[nrun++] = pp;
    }
    /* Still under the lock, so that no P leaves the idle list before the
     * epoch moves on (see gcstop.c: a stop at an old epoch must never
     * succeed). */
    int64_t released = rt_nanotime();
    rt__gcstop_end();
    rt__lock_release(&rt__sched.lock);
    for (int i = 0; i < nrun; i++)
        startm(runp[i], false);
    rt__semrelease(&worldsema, false, 0);
    rt__wakep();
    return released;
}

int64_t rt__gc_startworld(void)
{
    return rt__start_the_world();
}

static rt_p *palloc(int32_t id)
{
    rt_p *pp = aligned_alloc(64, (sizeof(rt_p) + 63) & ~(size_t)63);
    if (pp == NULL)
        rt__throw("out of memory allocating a P");
    memset(pp, 0, sizeof *pp);
    pp->id = id;
    pp->fastrand = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1);
    atomic_store_explicit(&pp->status, RT_PIDLE, memory_order_relaxed);
    return pp;
}

/* World stopped, rt__sched.lock held.  Changes the number of Ps. */
static void procresize(int32_t n)
{
    rt_m *mp = rt__getm();
    int32_t old = rt__sched.gomaxprocs;
    for (int32_t i = 0; i < old && n < old; i++)
        if (rt__sched.allp[i]->sigstopped)
            rt__throw("procresize: shrinking while a P is held by a stopped M");
    for (int32_t i = old; i < n; i++) {
        if (rt__sched.allp[i] == NULL)
            __atomic_store_n(&rt__sched.allp[i], palloc(i), __ATOMIC_RELEASE);
        atomic_store_explicit(&rt__sched.allp[i]->status, RT_PGCSTOP,
                              memory_order_relaxed);
    }
    rt_p *keep = mp->p;
    if (keep->id >= n) {
        /* Our P goes away: continue on P0. */
        rt_p *p0 = rt__sched.allp[0];
        p_set_m(keep, NULL);
        __atomic_store_n(&mp->p, p0, __ATOMIC_RELAXED); /* schedtrace */
        p_set_m(p0, mp);
        keep = p0;
    }
    for (int32_t i = n; i < old; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt_g *gp;
        while ((gp = rt__runq_get(pp)) != NULL)
            rt__globrunq_put(gp);
        rt__timers_move(pp, keep);
        rt__stack_cache_flush(&pp->stackcache);
        rt__mcache_flush(&pp->mcache);
        rt__lock_acquire(&rt__sched.gfree_lock);
        gfree_push_global(pp->gfree, pp->gfreecnt);
        __atomic_store_n(&pp->gfreecnt, 0, __ATOMIC_RELAXED);
        rt__lock_release(&rt__sched.gfree_lock);
        p_set_m(pp, NULL);
        atomic_store_explicit(&pp->status, RT_PDEAD, memory_order_relaxed);
    }
    /* Release: sysmon reads it without the lock (retake, timers_next);
     * every P below n is allocated before the store. */
    __atomic_store_n(&rt__sched.gomaxprocs, n, __ATOMIC_RELEASE);
}

/* A count asked for before rt_main started the scheduler: rt__sched_init
 * starts with it instead of MAXPROCS, as a GOMAXPROCS call at the top of a
 * Go program's main overrides the variable.  0: none. */
static _Atomic int early_maxprocs;

int rt_maxprocs(int n)
{
    int old = rt__sched.gomaxprocs;
    if (old == 0) { /* not started: nothing to stop, remember it */
        if (n <= 0)
            return atomic_load(&early_maxprocs);
        return atomic_exchange(&early_maxprocs, n > MAX_PROCS ? MAX_PROCS : n);
    }
    if (n <= 0 || n == old)
        return old;
    if (n > MAX_PROCS)
        n = MAX_PROCS;
    if (rt__getg() == NULL)
        return old; /* only goroutines can stop the world */
    /* Growing keeps every P where it is, so threads running C code may be
     * stopped by the signal and keep theirs; shrinking must take Ps away
     * from their Ms, which only a scheduling point allows. */
    stop_world(n > old);
    rt__sched.newprocs = n;
    (void)rt__start_the_world();
    return old;
}

/* -------------------------------------------------------------- hooks ---- */

void rt__block_event(int64_t start_ns, int skip)
{
    /* The block profiler (trace/blockprof.c) samples and records the event
     * with the stack above our skip frames (+1 for this one).  The count
     * after the call keeps this frame off a tail call, so that the skip
     * stays exact. */
    rt__blockprof_event(start_ns, skip + 1);
    atomic_fetch_add_explicit(&rt__sched.block_events, 1, memory_order_relaxed);
}

bool rt__sync_can_spin(int iter)
{
    /* The CPU count, read once (Go's ncpu): rt__ncpu is a system call
     * (sched_getaffinity), and this runs on every spin of every contended
     * mutex and buffered channel.  Relaxed: racing first callers store
     * the same value. */
    static _Atomic int ncpu;
    int n = atomic_load_explicit(&ncpu, memory_order_relaxed);
    if (rt__unlikely(n == 0)) {
        n = rt__ncpu();
        atomic_store_explicit(&ncpu, n, memory_order_relaxed);
    }
    /* As Go's sync_runtime_canSpin: a few iterations, only on a multicore
     * machine with other Ps running, and only while our own queue is empty
     * (spinning would delay the goroutines waiting there). */
    if (iter >= 4 || rt__sched.gomaxprocs <= 1 || n <= 1)
        return false;
    if (atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) +
            atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) + 1 >=
        rt__sched.gomaxprocs)
        return false;
    rt_m *mp = rt__getm();
    return mp && mp->p && rt__runq_empty(mp->p);
}

/* ----------------------------------------------------------- validator -- */

/*
 * RT_DEBUG >= 3: checks the scheduler's invariants, under the scheduler
 * lock (sysmon calls it every tick).  Throws on the first violation.
 *   - the idle P list holds exactly npidle Ps, each IDLE with no M;
 *   - the idle M list holds exactly nmidle Ms, none holding a P;
 *   - the global run queue holds exactly runqsize Gs, each RUNNABLE;
 *   - every local ring holds at most RT_RUNQ_SIZE Gs;
 *   - nmspinning and npidle are within [0, gomaxprocs].
 * Gs in local rings are not status-checked: their owners pop them without
 * the scheduler lock.
 */
void rt__sched_check(void)
{
    rt__lock_acquire(&rt__sched.lock);
    int32_t n = 0;
    for (rt_p *pp = rt__sched.pidle; pp; pp = pp->link, n++) {
        if (atomic_load_explicit(&pp->status, memory_order_relaxed) != RT_PIDLE || pp->m)
            rt__throwf("sched_check: P%d on the idle list is not idle", pp->id);
        if (n > rt__sched.gomaxprocs)
            rt__throw("sched_check: idle P list loops");
    }
    if (n != atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed))
        rt__throwf("sched_check: %d idle Ps listed, npidle %d", n,
                   atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed));
    n = 0;
    for (rt_m *mp = rt__sched.midle; mp; mp = mp->schedlink, n++) {
        if (mp->p != NULL)
            rt__throwf("sched_check: idle M%lld holds a P", (long long)mp->id);
        if (n > rt__sched.mcount)
            rt__throw("sched_check: idle M list loops");
    }
    if (n != rt__sched.nmidle)
        rt__throwf("sched_check: %d idle Ms listed, nmidle %d", n, rt__sched.nmidle);
    n = 0;
    if (rt__sched.runqtail - rt__sched.runqhead > rt__sched.runqcap)
        rt__throw("sched_check: global queue overran its ring");
    for (uint32_t i = rt__sched.runqhead; i != rt__sched.runqtail; i++, n++) {
        rt_g *gp = rt__sched.runq[i & (rt__sched.runqcap - 1)];
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
        if (st != RT_GRUNNABLE)
            rt__throwf("sched_check: goroutine %lld on the global queue has status %u",
                       (long long)gp->goid, st);
    }
    if (n != atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed))
        rt__throwf("sched_check: %d Gs on the global queue, runqsize %d", n,
                   atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed));
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        uint32_t len = rt__runq_len(rt__sched.allp[i]);
        if (len > RT_RUNQ_SIZE)
            rt__throwf("sched_check: P%d ring holds %u", i, len);
    }
    /* Every spinning M is an M; not every one holds a P: a spinner that
     * has just put its P on the idle list is counted until its look
     * once more (findrunnable), and a shrinking rt_maxprocs can fall in
     * between -- 2 spinning at MAXPROCS=1 for a moment (CI's validator,
     * test_timers_outlive_their_processor). */
    int32_t spin = atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed);
    if (spin < 0 || spin > rt__sched.mcount)
        rt__throwf("sched_check: nmspinning %d with %d Ms", spin, rt__sched.mcount);
    rt__lock_release(&rt__sched.lock);
}

/* ------------------------------------------------------------ start-up --- */

void rt__sched_init(int maxprocs)
{
    if (atomic_load(&early_maxprocs) > 0)
        maxprocs = atomic_load(&early_maxprocs);
    if (maxprocs < 1)
        maxprocs = 1;
    if (maxprocs > MAX_PROCS)
        maxprocs = MAX_PROCS;
    /* (release: rt__gcount reads allp and gomaxprocs from any thread, a
     * thread outside the runtime included, while this runs) */
    rt_p **allp = calloc(MAX_PROCS, sizeof(rt_p *));
    if (allp == NULL)
        rt__throw("out of memory allocating Ps");
    __atomic_store_n(&rt__sched.allp, allp, __ATOMIC_RELEASE);
    __atomic_store_n(&rt__sched.gomaxprocs, maxprocs, __ATOMIC_RELEASE);
    rt__sched.mnext = 0;
    atomic_store(&rt__sched.coarse_now, rt_nanotime());
    atomic_store(&rt__sched.sysmon_fast, 1); /* its first sleep is short */
    for (int32_t i = maxprocs - 1; i >= 0; i--) {
        /* (release: rt__gcount reads allp from any thread) */
        __atomic_store_n(&rt__sched.allp[i], palloc(i), __ATOMIC_RELEASE);
        pidleput(rt__sched.allp[i]);
    }
    rt__gcstop_init();
}

typedef struct main_args {
    int (*fn)(int, char **);
    int argc;
    char **argv;
} main_args;

/* Stack kept below the main function's frame once it returns (below). */
#define MAIN_FRAME_KEEP 16384

static void main_goroutine(void *arg)
{
    main_args *ma = arg;
    int r = ma->fn(ma->argc, ma->argv);
    /* The program ends now, but goroutines running on other threads go on
     * until the process exits, and a port of Go's `go worker(&args[i])`
     * hands them pointers into the main function's frame, which Go would
     * have put in the heap: they read it after the return (an outside
     * tester's worker pool: an ASan report in 1 run of 61, a misaligned
     * channel pointer).  The calls below would write their frames over
     * it; moving the stack pointer past it first leaves the frame's
     * contents as they were until the exit (a frame deeper than
     * MAIN_FRAME_KEEP keeps only its upper part). */
    volatile char *keep = __builtin_alloca(MAIN_FRAME_KEEP);
    keep[0] = 0;
    rt__lock_acquire(&rt__sched.lock);
    rt__sched.main_result = r;
    atomic_store_explicit(&rt__sched.stopping, 1, memory_order_release);
    rt__lock_release(&rt__sched.lock);
    rt__note_wakeup(&rt__sched.main_done);
    goexit0();
}

int rt__sched_run_main(int (*fn)(int, char **), int argc, char **argv)
{
    static main_args ma;
    ma.fn = fn;
    ma.argc = argc;
    ma.argv = argv;
    int64_t id = newproc(main_goroutine, &ma, (uintptr_t)__builtin_return_address(0), false,
                         MAIN_GOID);
    if (id < 0)
        rt__throwf("runtime: cannot start the main goroutine: %s", strerror((int)-id));
    rt__sysmon_start();
    atomic_store_explicit(&rt__sched.main_started, 1, memory_order_release);
    startm(NULL, false);
    /* sysmon's reports start once the first M exists (threads >= 2). */
    atomic_store_explicit(&rt__sched.running, 1, memory_order_release);
    rt__gcstop_main_sleep(&rt__sched.main_done);
    return rt__sched.main_result;
}

void rt__sysmon_start(void)
{
    /* (before any M that sysmon may start; Ms read it after their
     * creation, which orders it) */
    (void)prctl(PR_GET_NAME, proc_thread_name, 0, 0, 0);
    newm(NULL, false, true);
}
