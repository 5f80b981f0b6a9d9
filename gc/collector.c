/*
 * gc/collector.c -- the collection cycle, its pacing, and the Memory API of
 * rt.h (rt_gc, rt_set_gc_percent, rt_free_os_memory, rt_read_memstats).
 *
 * A cycle runs on a goroutine: the background GC goroutine, woken by the
 * allocation slow path that found heap_live >= trigger
 * (rt__gc_maybe_trigger), or rt_gc's caller, or the allocating goroutine
 * itself when marking stops the world or DEBUG=gcevery asks, or the
 * background sweeper when the scavenger forces a collection after two idle
 * minutes.  Cycles are serialised by a semaphore (a goroutine that wanted a
 * cycle while another ran just returns when one has completed meanwhile).
 *
 * Two ways to mark.  Concurrently (mark_concurrent's essay below: the
 * mostly-parallel scheme, with the kernel's written-page tracking in
 * place of a write barrier) wherever gc/dirty.c works; with the world
 * stopped (mark_stopped, Go 1.3's collector) under DEBUG=gcstoptheworld=1
 * or where no write tracking works (neither userfaultfd nor mprotect; see
 * gc/dirty.c).  The phases and their gctrace
 * names (TRACE_FORMATS.md §1.1 and the mapping table):
 *   B  finish the previous cycle's sweeping (world running);
 *   A  the stop that starts the cycle: the P caches are flushed (their
 *      spans go back to the central lists, as swept); stop-the-world:
 *      rt_pool caches cleared too;
 *   C  mark (mark.c): stop-the-world, in parallel with the world stopped;
 *      concurrent, the wall time of the mark phase, world running
 *      (protection of the heap's pages included);
 *   D  mark termination: concurrent, the whole final pause (rescans,
 *      finishing the mark); then finalizers of unreachable objects are
 *      queued (their objects marked), the sweep generation advances (every
 *      span becomes unswept), pacing is set, the world restarts, the
 *      background sweeper is woken.
 * The pause (memstats pause_ns) is the stopped time: A + C + D when the
 * world stops to mark, A + D when marking is concurrent (plus the final
 * stops that went back to concurrent marking, which C's wall time
 * includes).
 *
 * Pacing (GOGC): after a cycle that marked L bytes and read S bytes of
 * goroutine stacks (with their records and the registered ranges) the
 * heap goal is max(L + (L + S) * GOGC/100, 4 MiB * GOGC/100): Go 1.18's
 * rule, stacks counting as scan work (goal_for), and Go's heapMinimum
 * scaling too.  heap_live counts marked bytes plus, for
 * every span a P cache takes, the bytes of its free slots (so the check
 * runs once per span, not once per object), plus large objects.  Marking
 * that stops the world starts at the goal.  A concurrent cycle must start
 * earlier, so that the allocation during its mark phase fits below the
 * goal: the trigger is set from the last mark phase's allocation
 * (trigger_for).  Objects allocated during the mark phase are black: they
 * stay until the next cycle and count as marked, so the goal is
 * (traced + black) * (1 + GOGC/100), Go's rule.  (Growing only the traced
 * part, traced * (1 + GOGC/100) + black, was tried: on binary-trees 21 a
 * mark phase allocates more than the traced bytes, so the room it left
 * was used up by the next phase alone, cycles ran back to back and the
 * program took twice as long, 18.5 s against 9-13 s, for 300-330 MB peak
 * instead of 420-460.)
 * Mark assists keep the phase within the goal: from the stop that starts
 * it, every byte allocated owes (last traced bytes / bytes left to the
 * goal) bytes of marking; an allocation slow path that finds the marking
 * done so far (mark thread and assists) behind what the allocation owes
 * marks the difference itself, up to 256 KiB at a time, from the mark
 * threads' shared work (assist_maybe, rt__mark_assist).  Once the marking
 * has done the work expected and goes on, the rate is revised to the worst
 * case, the rest of the heap the phase began with over the room left to
 * the goal + 10 % (assist_revise, Go's revise).  A goroutine that
 * finds the heap 10 % past the goal anyway goes on only as fast as the
 * marking reads the heap (hard_throttle), and waits for the cycle where
 * the marking has ended; one that reaches the goal before the mark phase
 * has begun (no assist can hold it yet) waits for the phase to begin.
 * A heap whose stop-the-world mark may take under 250 us at the measured
 * speed is marked with the world stopped (concurrent_mode: the heap
 * allocated when the cycle starts plus the last cycle's roots, so with the
 * 4 MiB smallest goal nearly every cycle is concurrent, as Go's are).
 * GOGC=off /
 * rt_set_gc_percent(-1) turns collection off except for rt_gc and
 * rt_free_os_memory.
 *
 * DEBUG=gcstoptheworld=1 marks with the world stopped; =2 also sweeps
 * everything right after the cycle, before the program goes on (and
 * gctrace counts those spans in the third sweeps field); DEBUG=gcevery=N
 * runs a cycle every N allocations (a test aid; the fast path pays one
 * branch on the setting whether it is on or off).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

#define MIN_HEAP ((uint64_t)4 << 20)
#define CONC_MIN_HEAP ((uint64_t)1 << 20)

_Atomic uint32_t rt__sweepgen = 2;
rt__gcstats rt__gcstat = {.next_gc = MIN_HEAP};
_Atomic int rt__gc_percent = 100;
_Atomic int rt__gc_marking;
_Atomic uint32_t rt__gc_nconcurrent;
_Atomic uint32_t rt__gc_nsmallstw;
bool rt__gc_premarked;

static uint32_t gc_sema = 1;     /* one cycle at a time */
static _Atomic uint32_t ncycles; /* completed cycles (memstats num_gc) */
static _Atomic uint32_t nstarted; /* cycles begun (under gc_sema) */
static _Atomic uint64_t pause_total;
static uint64_t pause_ring[256]; /* under gc_sema; read racily by memstats */
static _Atomic uint64_t last_gc_wall;
static _Atomic int64_t last_gc_end;  /* rt_nanotime at the end of the last cycle */
static uint64_t bg_last;             /* bg_swept at the last gctrace line's cycle */
static _Atomic uint64_t nallocs;     /* gcevery */
static _Atomic uint64_t pause_swept; /* gctrace field 14 */
static _Atomic int gc_inited;

/* The smallest goal: 4 MiB at GOGC=100, scaled by GOGC as Go's
 * heapMinimum is (2 MiB at 50, 16 MiB at 400), so that a small heap is
 * collected as often as the setting asks. */
static uint64_t min_heap(int pct)
{
    return MIN_HEAP * (uint64_t)pct / 100; /* (pct <= INT_MAX: no overflow) */
}

/* The goal after a cycle that marked `marked` bytes and read `roots`
 * bytes of goroutine stacks, runtime records and registered ranges
 * (rt__markstats.scan_root_bytes): marked + (marked + roots) x GOGC/100,
 * Go's rule since 1.18 -- scanning stacks is collector work as marking
 * the heap is.  Counted by the heap alone, 100k parked goroutines (60 MB
 * of stacks and records over a few MB of heap) made a cycle every 4 MB of
 * allocation, each stopping 16 ms to reread the stacks: 117 cycles and
 * 4.4 s where Go ran 6 cycles in 0.7 s (now 4-5 cycles and ~0.3 s;
 * workload 17, bench_manyparked, against Go in run.sh).  The
 * libraries' data segments (~0.5 MB, the same for every program: libc,
 * libdw, grt's tables) are left out, as Go counts only the program's own
 * globals. */
static uint64_t goal_for(uint64_t marked, uint64_t roots, int pct)
{
    uint64_t base = marked + roots;
    uint64_t goal = marked + base / 100 * (uint64_t)pct + base % 100 * (uint64_t)pct / 100;
    uint64_t lo = min_heap(pct);
    return goal < lo ? lo : goal;
}

/* The hard goal: past it an allocation is held back while a concurrent
 * mark phase runs (hard_throttle), and the mark assists' revised rate aims
 * at it (assist_revise). */
static uint64_t hard_goal(uint64_t goal)
{
    return goal + goal / 10;
}

static void gc_init_once(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&gc_inited, &expect, 1))
        return;
    int pct = rt__debug.gogc;
    atomic_store(&rt__gc_percent, pct);
    if (atomic_load(&ncycles) == 0 && atomic_load(&rt__gcstat.heap_marked) == 0)
        atomic_store(&rt__gcstat.next_gc, min_heap(pct < 0 ? 100 : pct));
}

void rt__gc_init(void)
{
    gc_init_once();
}

/* ----------------------------------------------------------- waiters ---- */

void rt__gc_wait(rt__gc_waiter *w, const char *reason)
{
    rt__lock_acquire(&w->lock);
    if (w->pending) {
        w->pending = false;
        rt__lock_release(&w->lock);
        return;
    }
    w->g = rt__getg();
    rt__goparkunlock(&w->lock, reason);
}

static void gc_wake(rt__gc_waiter *w, void (*ready)(rt_g *gp))
{
    rt__lock_acquire(&w->lock);
    rt_g *gp = w->g;
    w->g = NULL;
    if (gp == NULL)
        w->pending = true;
    rt__lock_release(&w->lock);
    if (gp != NULL)
        ready(gp);
}

void rt__gc_wake(rt__gc_waiter *w)
{
    gc_wake(w, rt__goready);
}

/* ------------------------------------------------------------- gctrace -- */

typedef struct cycle_times {
    int64_t t0, t1, t2, t3, t4;
} cycle_times;

static void counters(uint64_t *mallocs, uint64_t *frees, uint64_t *alloc_bytes,
                     uint64_t *total_bytes, uint64_t nm[RT_GC_MAX_CLASSES],
                     uint64_t nf[RT_GC_MAX_CLASSES]);

/* mallocs, frees and heap1 are read in mark termination, world stopped and
 * before this cycle's sweeping (Go 1.3 reads them there too), so the
 * objects field still counts this cycle's garbage as live. */
static void gctrace_line(uint32_t n, const rt__markstats *ms, const cycle_times *t,
                         uint64_t heap0, uint64_t heap1, uint64_t mallocs,
                         uint64_t frees, uint64_t nspan, uint64_t bg, uint64_t pause_sw)
{
    rt__printf("gc%u(%d): %lld+%lld+%lld+%lld us, %llu -> %llu MB, %llu (%llu-%llu) objects, "
               "%llu/%llu/%llu sweeps, %llu(%llu) handoff, %llu(%llu) steal, "
               "%llu/%llu/%llu yields\n",
               n, ms->nproc, (long long)((t->t1 - t->t0) / 1000),
               (long long)((t->t2 - t->t1) / 1000), (long long)((t->t3 - t->t2) / 1000),
               (long long)((t->t4 - t->t3) / 1000), (unsigned long long)(heap0 >> 20),
               (unsigned long long)(heap1 >> 20), (unsigned long long)(mallocs - frees),
               (unsigned long long)mallocs, (unsigned long long)frees,
               (unsigned long long)nspan, (unsigned long long)bg,
               (unsigned long long)pause_sw, (unsigned long long)ms->nhandoff,
               (unsigned long long)ms->nhandoffcnt, (unsigned long long)ms->nsteal,
               (unsigned long long)ms->nstealcnt, (unsigned long long)ms->nprocyield,
               (unsigned long long)ms->nosyield, (unsigned long long)ms->nsleep);
}

/* ------------------------------------------------------------ the cycle -- */

#if RT_DEBUG >= 3
static void check_span(rt__span *s, void *ctx);
#endif

/* The stop-the-world mark's speed on this machine, bytes read (heap marked
 * plus roots) per microsecond (0: none yet), from stop-the-world marks of
 * at least STW_RATE_MIN bytes:
 * the best one seen, decaying by 1/8 per sample -- a mark slowed by other
 * programs (a mark thread descheduled) says nothing of the machine, and
 * an average taken under load kept a small heap concurrent for good, no
 * stopped mark coming to correct it; and the pause a stop-the-world mark
 * may take instead of a concurrent cycle. */
_Atomic uint64_t rt__gc_stw_rate;
static void stw_rate_sample(uint64_t bytes, int64_t ns);
/* The largest root set a mark run of the last cycle read (rt__markstats) */
static _Atomic uint64_t last_root_bytes;
/* Its stacks, records and registered ranges (the goal's share of them) */
static _Atomic uint64_t last_scan_roots;
#define STW_RATE_MIN ((uint64_t)256 << 10)
/* (1000 at first: GCBench then paused 2.5-5.5 ms, against 1.2-1.4 ms
 * concurrently -- the whole stop is more than the mark, and the heap
 * grows between the estimate and the mark; at 250 its pauses are 1.4-1.8
 * ms, its time 330-390 ms against 340-430 ms all concurrent) */
#define STW_PAUSE_MAX_US 250
/* And never above this, whatever the speed says: a wrong estimate must not
 * turn into a long pause. */
#define STW_HEAP_MAX ((uint64_t)32 << 20)
/* The least of a parked goroutine's stack a mark reads: its switch frame
 * and the frames of the call that parked it. */
#define STACK_READ_MIN 256

static void stw_rate_sample(uint64_t bytes, int64_t ns)
{
    if (bytes < STW_RATE_MIN || ns <= 0)
        return;
    uint64_t r = bytes * 1000 / (uint64_t)ns;
    uint64_t old = atomic_load(&rt__gc_stw_rate);
    uint64_t decayed = old - old / 8;
    atomic_store(&rt__gc_stw_rate, r > decayed ? r : decayed);
}

/* Whether this cycle marks concurrently: written-page tracking works,
 * DEBUG=gcstoptheworld does not ask for stopped marking, and the heap is
 * too large to mark within the pause bound with the world stopped. */
static bool concurrent_mode(bool count)
{
    if (rt__debug.gcstoptheworld >= 1)
        return false;
    /* A small heap marks faster with the world stopped than a concurrent
     * cycle pays for its second stop, its page-table walks and the
     * program's faults on protected pages.  Stopped marking is chosen
     * while the mark it may take, at the measured speed, stays under the
     * pause bound; below 1 MiB (no speed measured yet), always.  What it
     * may take: the heap allocated now -- all of it may be reachable --
     * and the last cycle's largest root set (stacks, data segments,
     * registered ranges), the speed being measured on the same sum.  The
     * last cycle's marked bytes alone were no bound: a 2 MiB tree under
     * construction, reachable from the stack, after a cycle that marked
     * 16 KiB, took 1-3 ms with the world stopped (14 of 44 cycles over
     * 1 ms for a churning program with a tiny live heap). */
    uint64_t roots = atomic_load_explicit(&last_root_bytes, memory_order_relaxed);
    /* At the least a record and a frame or two of each goroutine alive now:
     * the first cycle has no root figure yet, and goroutines started since
     * the last are not in it (1M parked goroutines made the first cycle a
     * stopped mark of 335 ms). */
    uint64_t gs = (uint64_t)rt__gcount() * (sizeof(rt_g) + STACK_READ_MIN);
    uint64_t reads = atomic_load_explicit(&rt__gcstat.heap_live, memory_order_relaxed) +
                     (gs > roots ? gs : roots);
    if (reads < CONC_MIN_HEAP)
        return false;
    uint64_t rate = atomic_load_explicit(&rt__gc_stw_rate, memory_order_relaxed);
    if (rate != 0 && reads <= STW_HEAP_MAX && reads / rate < STW_PAUSE_MAX_US) {
        if (count)
            atomic_fetch_add_explicit(&rt__gc_nsmallstw, 1, memory_order_relaxed);
        return false;
    }
    rt__heap_init();
    return rt__dirty_init(rt__arena_lo, rt__arena_bytes);
}

/* Phase A of a stop-the-world cycle, or the final pause of a concurrent
 * one: the world stopped, the shared cache held, every cache flushed. */
static void stop_and_flush(void)
{
    rt__gc_stopworld();
    /* Threads without a P are not stopped: keep them out of the shared
     * cache until the world restarts.  Taken after the stop -- a runtime
     * lock held into rt__gc_stopworld would make this M unstoppable by a
     * concurrent stop (another initiator, rt_read_memstats). */
    rt__shared_cache_lock();
    rt__mcache_flush_all();
}

/* The pages the heap may hold objects on: [*lo, *hi). */
static void heap_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = rt__arena_lo + RT_GC_PAGE_SIZE; /* page 0 is never used */
    *hi = rt__arena_lo + atomic_load_explicit(&rt__arena_used, memory_order_acquire);
}

#define CLEAN_ROUNDS 12        /* re-cleaning rounds at most */
#define CLEAN_ENOUGH 128      /* 4 KiB pages: stop re-cleaning below this */
/* The final pause's run stops once it has marked DEBUG=gcfinalmark
 * objects (8192: 50-100 us of marking on two threads when chosen, though
 * session 22's traces of binary-trees' stretch phase found such cut runs
 * at 0.4-0.7 ms, the objects found there cold; 32768 let binary-trees'
 * first stop run to 0.7-0.9 ms) that the concurrent
 * mark had not reached -- rescanning written pages does not count: the
 * rounds bound it; a large object counts once: GCBench's final pauses
 * went back to concurrent marking after 30 us for a 4 MB array of
 * doubles when the budget was in bytes -- and the marking goes on with
 * the world running, at most FINAL_RETRIES times a cycle
 * (mark_concurrent).  A second budget, on the bytes of marked objects the
 * written pages hand the final run to reread, was tried and reverted
 * (fef87ce): it cut binary-trees' rare 1.3-1.7 ms final pauses (a round
 * come late, hundreds of pages written), but workload 12's final runs met
 * it often, and each cut added a stop whose floor there is the walk of
 * 1 GiB of live page tables (longest stop 435-596 us -> 571-859). */
#define FINAL_RETRIES 2

/* Live bytes and allocation during the last concurrent mark phase, for
 * the next trigger (under gc_sema). */
static uint64_t last_mark_alloc, last_marked;
static bool have_mark_history;
static bool last_mark_late; /* heap_live passed the goal during it */

/* ------------------------------------------------------------ assists -- */

/* Mark assists: the pacing of a concurrent mark phase (the essay at the
 * top).  Set in the stop that starts the phase: the heap_live it started
 * from and the marking owed per byte allocated since, in 1/65536ths. */
static _Atomic uint64_t assist_live0, assist_ratio;
/* The expected work (the last cycle's traced bytes), and the revision made
 * once marking has done that much and goes on (assist_revise): from the
 * heap_live and the marking done then, each byte allocated owes
 * revise_ratio.  revise_ratio 0: not revised (yet); revise_claimed: one
 * slow path is making it. */
static _Atomic uint64_t assist_work, revise_live, revise_done, revise_ratio;
static _Atomic int revise_claimed;
static _Atomic uint64_t hard_read0; /* hard_throttle's: read + 1 at the crossing; 0: none */
static uint64_t last_traced;  /* bytes the last cycle's marking reached */
_Atomic uint64_t rt__gc_assist_bytes;
_Atomic uint32_t rt__gc_nassist;

#define ASSIST_SLACK ((uint64_t)64 << 10) /* less owed waits for a later span */
#define ASSIST_MAX ((uint64_t)256 << 10)  /* one assist's marking: about a
                                           * millisecond, which the final
                                           * stop may have to wait for */
#define ASSIST_RATIO_MAX ((uint64_t)64 << 16)

/* World stopped, the phase about to start from heap_live live0: the work
 * expected is what the last cycle traced, the runway what is left to the
 * goal (at least 1/16 of it, so that a late start asks much, not
 * everything, of the first allocation). */
static void assist_setup(uint64_t live0)
{
    uint64_t goal = atomic_load(&rt__gcstat.next_gc);
    uint64_t work = last_traced != 0 ? last_traced : atomic_load(&rt__gcstat.heap_marked);
    uint64_t runway = goal > live0 ? goal - live0 : 0;
    if (runway < goal / 16)
        runway = goal / 16;
    uint64_t ratio = runway == 0 ? ASSIST_RATIO_MAX : (work << 16) / runway;
    atomic_store(&assist_live0, live0);
    atomic_store(&assist_ratio, ratio < ASSIST_RATIO_MAX ? ratio : ASSIST_RATIO_MAX);
    atomic_store(&assist_work, work);
    atomic_store(&revise_ratio, 0);
    atomic_store(&revise_claimed, 0);
    atomic_store(&hard_read0, 0);
    rt__mark_assist_open(true);
}

/*
 * The marking has done the work expected and goes on: the heap grew
 * since the last cycle, which the expectation came from.  From here the
 * worst case is assumed, as Go's revise does once scan work passes its
 * estimate: everything allocated before the phase began may be live,
 * live0 - done bytes left to mark, over the room left to the hard goal
 * (the goal + 10 %, where an allocation waits for the cycle).  Without
 * it the assists stayed at the expected rate, the heap reached the hard
 * goal with hundreds of MB unmarked, and the allocating goroutine waited
 * for the rest of the phase: tests/bench/bench_gcgrow.c (a heap grown to
 * 512 MiB, MAXPROCS=1) stalled 122-127 ms in one stretch of 1024
 * allocations, 10-39 ms with the revision (Go 23).  A heap that reaches
 * the hard goal even so is throttled there (hard_throttle).  Once per
 * phase, by whichever slow path sees it first.
 */
static void assist_revise(uint64_t live, uint64_t done)
{
    if (atomic_exchange(&revise_claimed, 1))
        return; /* another slow path is revising */
    uint64_t live0 = atomic_load_explicit(&assist_live0, memory_order_relaxed);
    uint64_t goal = atomic_load_explicit(&rt__gcstat.next_gc, memory_order_relaxed);
    uint64_t hard = hard_goal(goal);
    uint64_t rest = live0 > done + ASSIST_MAX ? live0 - done : ASSIST_MAX;
    uint64_t runway = hard > live ? hard - live : 0;
    if (runway < goal / 64)
        runway = goal / 64 > 0 ? goal / 64 : 1;
    uint64_t ratio = (rest << 16) / runway;
    if (ratio > ASSIST_RATIO_MAX)
        ratio = ASSIST_RATIO_MAX;
    if (ratio == 0)
        ratio = 1;
    atomic_store_explicit(&revise_live, live, memory_order_relaxed);
    atomic_store_explicit(&revise_done, done, memory_order_relaxed);
    /* release: a reader that sees the ratio sees its base */
    atomic_store_explicit(&revise_ratio, ratio, memory_order_release);
}

/* Marks up to budget bytes read of the running phase's work on this
 * goroutine's thread; returns the bytes it read (0: no work to take). */
static uint64_t assist_run(uint64_t budget)
{
    uint64_t read;
    rt_m *mp = rt__getm();
    /* No-stop: the final pause must not find marking work in this
     * thread's hands. */
    rt__nostop_begin(mp);
    __atomic_store_n(&mp->helpgc, 1, __ATOMIC_RELAXED); /* scheddetail */
    uint64_t got = rt__mark_assist(budget, &read);
    __atomic_store_n(&mp->helpgc, 0, __ATOMIC_RELAXED);
    rt__nostop_end(mp);
    if (got != 0) {
        atomic_fetch_add_explicit(&rt__gc_assist_bytes, got, memory_order_relaxed);
        atomic_fetch_add_explicit(&rt__gc_nassist, 1, memory_order_relaxed);
    }
    return read;
}

/* An allocation slow path during a concurrent mark phase: when the
 * marking done (by the mark thread and by assists) lags what the
 * allocation since the phase began owes, the allocating goroutine marks
 * the difference itself (at most ASSIST_MAX at a time).  The debt is
 * global, not per goroutine: whoever allocates while marking is behind
 * pays, which is Go's rule with the background credit pooled. */
static void assist_maybe(void)
{
    rt_g *gp = rt__getg();
    if (gp == NULL || gp->is_system)
        return;
    uint64_t live = atomic_load_explicit(&rt__gcstat.heap_live, memory_order_relaxed);
    uint64_t live0 = atomic_load_explicit(&assist_live0, memory_order_relaxed);
    if (live <= live0)
        return;
    uint64_t done = rt__mark_progress();
    uint64_t owed;
    uint64_t rr = atomic_load_explicit(&revise_ratio, memory_order_acquire);
    if (rr == 0 && done >= atomic_load_explicit(&assist_work, memory_order_relaxed)) {
        assist_revise(live, done);
        rr = atomic_load_explicit(&revise_ratio, memory_order_acquire);
    }
    if (rr != 0) {
        uint64_t rlive = atomic_load_explicit(&revise_live, memory_order_relaxed);
        uint64_t rdone = atomic_load_explicit(&revise_done, memory_order_relaxed);
        owed = rdone + (live > rlive ? ((live - rlive) * rr) >> 16 : 0);
    } else {
        owed = ((live - live0) * atomic_load_explicit(&assist_ratio, memory_order_relaxed)) >> 16;
    }
    if (owed < done + ASSIST_SLACK)
        return;
    (void)assist_run(owed - done < ASSIST_MAX ? owed - done : ASSIST_MAX);
}

/*
 * The heap passed the hard goal (the goal + 10 %) while a concurrent mark
 * phase runs: the allocating goroutine goes on only as the marking does,
 * HARD_READ bytes read by the marking (by anyone, its own assists
 * included) for each byte allocated past the hard goal, assisting where
 * there is work to take and napping where there is none (the mark threads
 * hold it, or the phase is in its re-cleaning rounds: 50 us, doubling to
 * 1 ms while nothing comes), until the phase ends.  It used to wait for the whole rest of the cycle:
 * a 1.4 GiB heap of 64-byte objects under random writes at MAXPROCS=2,
 * GOGC=50 reached the hard goal 0.5 s before the initial mark ended and
 * stalled 0.6-0.84 s in one stretch (tester 26b; Go's longest stall 23-109
 * ms, as Go never blocks at a hard goal: its assists wait for background
 * credit instead).  The heap's overshoot past the hard goal is at most the
 * marking left at the crossing over HARD_READ (bigheap's peak RSS came out
 * lower than with the wait: 1.46-1.53 against 1.56-1.66 GB, 4 pairs).  The
 * first crossing in a phase records where the marking stood
 * (hard_read0).
 */
#define HARD_READ 8

static void hard_throttle(uint64_t goal)
{
    uint64_t hard = hard_goal(goal);
    uint32_t seen = atomic_load(&ncycles);
    uint64_t r0 = atomic_load_explicit(&hard_read0, memory_order_relaxed);
    if (r0 == 0) {
        uint64_t mine = rt__mark_scan_progress() + 1;
        r0 = atomic_compare_exchange_strong(&hard_read0, &r0, mine) ? mine : r0;
    }
    int64_t nap = 50 * RT_MICROSECOND;
    while (atomic_load_explicit(&rt__gc_marking, memory_order_relaxed) &&
           atomic_load(&ncycles) == seen) {
        uint64_t live = atomic_load_explicit(&rt__gcstat.heap_live, memory_order_relaxed);
        uint64_t read = rt__mark_scan_progress();
        uint64_t paid = read + 1 > r0 ? (read + 1 - r0) / HARD_READ : 0;
        if (live < hard + paid)
            return;
        uint64_t owe = (live - hard - paid) * HARD_READ;
        if (assist_run(owe < ASSIST_MAX ? owe : ASSIST_MAX) != 0) {
            nap = 50 * RT_MICROSECOND;
            continue;
        }
        /* Nothing to take: nap, longer each time (to 1 ms), so that many
         * goroutines held here cost few wake-ups. */
        rt_sleep(nap);
        if (nap < RT_MILLISECOND)
            nap *= 2;
    }
}

/*
 * The concurrent mark phase (the mostly-parallel collector of Boehm,
 * Demers and Shenker).  On return the world is stopped for mark
 * termination, as after stop-the-world marking, and st holds the marking.
 *   1. Every heap page is write-protected (dirty.c) but free runs and
 *      large noscan objects (protect_heap): pages written since
 *      the last cycle are protected again in one page-table walk.  World
 *      running, this goroutine off its P: it can take milliseconds.
 *   2. A short stop: caches flushed (from now on a cache that takes a
 *      span first marks its free slots: allocation is black), the mark
 *      flag set, the roots that stay readable queued (data segments,
 *      stopped threads' stacks, the M and P records).  The world
 *      restarts.
 *   3. This goroutine gives up its P (the program keeps every processor),
 *      queues the contents of the objects with finalizers and the queued
 *      finalizer objects (finalizer.c), the goroutines' records and their
 *      stacks from the stack pointers they last saved (read while they
 *      run: what changes is read again in 5; 100k parked goroutines made
 *      step 2's stop 1.5 ms when it listed them), a copy of each P's
 *      timer heap (sched/timer.c: 5 reads again only the changed slots)
 *      and marks, with one thread per four CPUs, from those roots.  The
 *      program meanwhile writes pointers into
 *      objects already scanned; the page of each such write is recorded by
 *      the kernel.
 *   4. Re-cleaning rounds: take the written pages and protect them again
 *      in one walk, rescan the marked objects on them (and the objects
 *      given a finalizer since the last round), mark what they reach --
 *      a large array of pointers through a copy of its words as last
 *      read, marking only what changed (mark.c, shadow_rescan; so does
 *      the final pause) -- until a round finds fewer than CLEAN_ENOUGH pages written,
 *      so that what is left for the pause is what the program writes in
 *      one short round.  With MAXPROCS >= 2 this goroutine holds a P
 *      through the rounds (rounds_and_p): the program has one fewer to
 *      write pages with, and the final stop comes right after.
 *   5. The final stop: once the world is stopped the mark helpers are
 *      put on standby (rt__mark_standby) so that the pause's walk starts
 *      on all of them; caches flushed, the mark flag cleared, all roots
 *      queued again (every stack, in full: step 3 read each as it was
 *      then, and a goroutine that ran since, or one whose stack another
 *      wrote into, may hide the only pointer to an object; the
 *      registered roots, which step 2 could not keep; of the timer heaps,
 *      the slots changed since step 3 copied them (sched/timer.c); of the
 *      finalizer roots, only entries added since the last round: the
 *      others' pages are live pages, so written ones are read again --
 *      with their unmarked objects that have finalizers), the pages
 *      written since the last round rescanned, and marking finished with
 *      every mark thread -- unless that marking finds more than
 *      DEBUG=gcfinalmark objects (8192) not marked yet: a page written after
 *      the last round can make a large structure reachable that the
 *      concurrent mark never saw (binary-trees paused 10-12 ms in 1 run of
 *      4 for a 16 MiB subtree).  Then the run stops where it is (its
 *      queues kept, the roots it had not read dropped), the mark flag is
 *      set again, the world restarts, and the marking goes on concurrently
 *      from those queues, followed by re-cleaning rounds and step 5 again;
 *      at most twice a cycle, the third final stop finishing whatever it
 *      finds.  The pages the stopped run read were not protected again, so
 *      the rounds read them again; roots are all read again at each stop.
 * Why it is complete: an object reachable at the end is reached from a
 * root rescanned in 5 through a path of marked objects; on that path,
 * each object was scanned either after its last write (so its pointers
 * were seen) or its page is written-since-protected, and rescanned in a
 * round or in 5.  Objects allocated during marking are marked when their
 * span is taken, and their later writes dirty their pages like any other.
 * Why step 5 reads every stack, not only those of goroutines that ran
 * since step 3: C hands pointers to stack variables to other goroutines
 * (rt.h promises they stay valid), so a parked goroutine's stack can be
 * written -- a pointer moved there from an object scanned before -- by a
 * goroutine that then drops its own copy, and nothing records that write:
 * the stacks are not in the write-tracked arena.  Tracking them costs as
 * much as reading them, measured on the development kernel: a
 * PAGEMAP_SCAN walk over the stack chunks reads every page-table entry of
 * a 320 KiB slot, ~2 ns each (0.6-1.1 ms per 4,096 slots, holes or not),
 * ~150 ns a goroutine, where reading its parked stack (~450 bytes) in the
 * pause costs ~100; synchronous userfaultfd write-protection, which would
 * name the written stacks without a walk, costs 1 us per protect or
 * unprotect call alone and ~10 us with another thread of the process
 * running (the TLB shootdown's IPI on this VM), paid per goroutine per
 * cycle.  So 100k parked goroutines stop each cycle ~11 ms (Go: under
 * 0.1 ms) -- more with deeper frames: an outside tester's goroutines,
 * each parked with a 512-byte local buffer, ~0.35 us apiece, 36-78 ms
 * for 100k -- and the goal counts their stacks (goal_for) so that such a
 * program collects as rarely as Go's.
 */
/* Step 4 of mark_concurrent: re-cleaning rounds until a round finds
 * fewer than CLEAN_ENOUGH written pages, at most CLEAN_ROUNDS. */
static void recleaning_rounds(rt__markstats *ms, int nconc)
{
    uintptr_t lo, hi;
    for (int round = 0; round < CLEAN_ROUNDS; round++) {
        heap_range(&lo, &hi);
        rt__mark_set_reprotect(true);
        rt__mark_add_finalizer_roots(false); /* new entries; pages live first */
        rt__mark_add_live_dirty_chunks(lo, hi);
        rt__mark_run(ms, nconc);
        size_t pages = rt__mark_dirty_pages();
        if (pages < CLEAN_ENOUGH)
            break;
    }
}

/* Step 1 of mark_concurrent: protects the pages of [lo, hi) but for the
 * free spans and the large noscan objects of FREE_RUN_MIN pages or more.
 * A free page holds nothing the mark needs now, and the objects allocated
 * there during the phase are born marked on pages the program writes as
 * it allocates: protected, each such page cost its first write a fault,
 * to be found written in the next round all the same.  Left open, it is
 * reported written (an unprotected page always is, dirty.c), so the rounds
 * rescan and protect it if it holds marked objects by then; protecting
 * less is never unsafe.  GCBench: 25-60 % of the pages this step protected
 * were free.  A noscan object's writes need no rescan at all (its pages
 * are never live pages, mark.c), but protected, a program filling a
 * buffer paid a fault per 4 KiB: an outside tester's growing buffers
 * (64 KiB-4 MiB, doubled like Go's bytes.Buffer) ran 1.2-1.5x Go's time,
 * and one rt_gc with a 1 GiB noscan buffer live took 32 ms against Go's
 * 4.4.  Small noscan spans stay protected: a run each would cost a system
 * call each. */
#define FREE_RUNS_MAX 4096
#define FREE_RUN_MIN 8 /* heap pages: shorter free runs go with their neighbours */
static rt__page_run free_runs[FREE_RUNS_MAX]; /* under gc_sema */

static int run_cmp(const void *a, const void *b)
{
    uintptr_t x = ((const rt__page_run *)a)->lo, y = ((const rt__page_run *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Calls fn on the parts of [lo, hi) outside every run of runs[0, n)
 * (sorted, disjoint). */
static void foreach_gap(uintptr_t lo, uintptr_t hi, const rt__page_run *runs, size_t n,
                        void (*fn)(uintptr_t lo, uintptr_t hi))
{
    uintptr_t cur = lo;
    for (size_t i = 0; i < n && cur < hi; i++) {
        if (runs[i].hi <= cur || runs[i].lo >= hi)
            continue;
        if (runs[i].lo > cur)
            fn(cur, runs[i].lo);
        cur = runs[i].hi;
    }
    if (cur < hi)
        fn(cur, hi);
}

static void protect_run(uintptr_t lo, uintptr_t hi)
{
    (void)rt__dirty_scan(lo, hi, true, NULL, NULL);
}

/* (World going: qsort may allocate.) */
static void protect_heap(uintptr_t lo, uintptr_t hi)
{
    size_t n = rt__heap_free_runs(free_runs, FREE_RUNS_MAX, FREE_RUN_MIN);
    n += rt__large_noscan_runs(free_runs + n, FREE_RUNS_MAX - n, FREE_RUN_MIN);
    qsort(free_runs, n, sizeof free_runs[0], run_cmp);
    foreach_gap(lo, hi, free_runs, n, protect_run);
    /* (the bounds are arena addresses in a data segment: no stale roots) */
    memset(free_runs, 0, n * sizeof free_runs[0]);
}

/* The end of a concurrent cycle: lifts the protection of the runs of
 * pages without a marked object but for the large noscan objects' (never
 * live pages, mark.c): they are not protected (protect_heap), and lifting
 * it again every cycle walked each page's entry -- 24 ms a cycle for a
 * 1 GiB buffer. */
static size_t nskip;

static void unprotect_dead_run(uintptr_t lo, uintptr_t hi)
{
    foreach_gap(lo, hi, free_runs, nskip, rt__dirty_unprotect);
}

static void unprotect_dead(uintptr_t lo, uintptr_t hi)
{
    nskip = rt__large_noscan_runs(free_runs, FREE_RUNS_MAX, FREE_RUN_MIN);
    qsort(free_runs, nskip, sizeof free_runs[0], run_cmp);
    rt__mark_foreach_dead_run(lo, hi, unprotect_dead_run);
    memset(free_runs, 0, nskip * sizeof free_runs[0]);
}

/* Called off the P (in a system call): step 4's rounds, and back on a P
 * for the final stop.  With every P busy (MAXPROCS=1 above all) getting
 * a P waited for the program to schedule and then for this goroutine's
 * turn on the global queue (8-36 ms), the program writing pages all the
 * while: 2,000-18,000 written pages for the final pause after a last
 * round of ~120, 4-20 ms stops in a word count.  So the running
 * goroutines are asked to yield at their next runtime call, and this
 * goroutine (gcprio) goes before any queue.
 *
 * With two Ps or more the P is taken back before the rounds, not after:
 * the program runs on one P fewer while they last (Go's dedicated mark
 * worker holds a P for the whole phase) and writes fewer pages for each
 * round to read, and the final stop follows the last round at once.  A
 * word count with four busy mappers at MAXPROCS=2 (3 alternating runs on
 * a loaded host): the rounds never got under CLEAN_ENOUGH pages (2,000-
 * 3,000 a round, 12 rounds), then waited 2-6 ms for the P, and the
 * final pauses' worst three were 4-134 ms; with the P held, 0.4-4.6 ms,
 * peak RSS 450-470 MB against 580-620, run time the same or less.  A
 * tester's session server (200k sessions, 8 handlers, ~250 MB live, 3
 * alternating runs on a quiet host): longest pause 1.7-6.7 ms against
 * 7.9-8.9 ms.  Workload 12, GCBench and binary-trees within noise (the
 * longest stall of workload 12 4.2-5.6 ms against 5.6-12.4).  With one P
 * the rounds would stop the program outright: there the P is taken after
 * them, as before. */
static void rounds_and_p(rt__markstats *ms, int nconc)
{
    if (!rt__sched_gomaxprocs_is_one()) {
        rt__preempt_all();
        rt_syscall_exit();
        recleaning_rounds(ms, nconc);
        return;
    }
    recleaning_rounds(ms, nconc);
    rt__preempt_all();
    rt_syscall_exit();
}

static void mark_concurrent(rt__markstats *ms, cycle_times *t, int64_t b_ns,
                            uint64_t *nspan, uint64_t *alloc_during, int64_t *final_start,
                            int64_t *extra_pause)
{
    uintptr_t lo, hi;
    int64_t tp0 = rt_nanotime();
    heap_range(&lo, &hi);
    /* Off the P, as the marking below: where no P was idle, the
     * allocation that started this cycle yielded its P to this goroutine
     * (rt__gc_maybe_trigger) and waited 1-4 ms for the protection to end
     * or another P to steal it. */
    rt_syscall_enter();
    rt__syscall_handoff();
    protect_heap(lo, hi); /* 1 */
    rt_syscall_exit();
    int64_t tp1 = rt_nanotime();

    t->t0 = rt_nanotime(); /* 2 */
    stop_and_flush();
    if (!rt__sweep_done())
        rt__throw("gc: unswept spans with the world stopped");
    if (rt__unlikely(rt__debug.allocfreetrace))
        rt__tracegc();
    *nspan = rt__heap_spans_inuse(); /* gctrace: the spans at the cycle's start */
    rt__mark_live_reset(true);
    atomic_store(&rt__gc_marking, 1);
    rt__gc_premarked = true;
    rt__mark_begin(ms);
    rt__mark_add_data_roots();
    rt__mark_add_sched_roots(true);
    uint64_t live0 = atomic_load(&rt__gcstat.heap_live);
    assist_setup(live0);
    rt__shared_cache_unlock();
    t->t1 = rt__gc_startworld();
    t->t2 = t->t1 + b_ns;

    int64_t tc0 = rt_nanotime(); /* 3 */
    /* A mark thread per four CPUs (Go's 25 %), all of them when the last
     * mark phase let the heap pass its goal. */
    int nconc = last_mark_late ? rt__mark_workers() : (rt__mark_workers() + 3) / 4;
    rt_syscall_enter();
    rt__syscall_handoff();
    rt__mark_add_finalizer_roots(true); /* (world going: finalizer.c) */
    rt__mark_add_goroutine_roots();     /* (world going: gcstop.c) */
    rt__mark_run(ms, nconc);
    /* (No speed sample from this run: assists mark alongside it, so its
     * bytes over its time overstated the stopped mark's speed -- once by
     * enough to stop the world for a 1 GiB mark, 426 ms, in workload 12.) */
    /* Assists go on in the rounds, though their work there is mostly
     * rescanning written pages, which marks little: they bound by bytes
     * read (mark.c), and without them binary-trees' peak rose from ~400
     * to ~490 MB (alternating runs), the rounds' allocation unchecked. */
    rounds_and_p(ms, nconc);
    rt__mark_assist_open(false);

    for (int attempt = 0;; attempt++) {
        t->t3 = t->t2 + (rt_nanotime() - tc0) + (tp1 - tp0);
        *final_start = rt_nanotime();
        stop_and_flush(); /* 5 */
        rt__mark_standby(); /* the run below starts with every mark thread */
        rt__pool_clear_all();
        atomic_store(&rt__gc_marking, 0);
        uint64_t live1 = atomic_load(&rt__gcstat.heap_live);
        *alloc_during = live1 - live0;
        last_mark_late = live1 > atomic_load(&rt__gcstat.next_gc);
        rt__mark_add_data_roots();
        rt__mark_add_other_roots(true); /* before the foreign threads stop */
        rt__mark_add_sched_roots(false);
        heap_range(&lo, &hi);
        rt__mark_set_reprotect(false);
        rt__mark_add_live_dirty_chunks(lo, hi);
        uint64_t budget = (uint64_t)rt__debug.gcfinalmark;
        bool last = attempt >= FINAL_RETRIES || budget == 0;
        if (!last)
            rt__mark_set_budget(budget);
        rt__mark_run(ms, rt__mark_workers());
        (void)rt__mark_dirty_pages();
        if (last || !rt__mark_left_over())
            return;
        /* Too much left to mark with the world stopped: a page written
         * after the last round made a large structure reachable that the
         * concurrent mark never saw (binary-trees: a tree's root built
         * after the last round over a 16 MiB subtree made before the
         * phase -- 10-12 ms of marking in the pause, 1 run in 4).  Go on
         * concurrently from where the run stopped, re-clean, and stop
         * again.  The written pages the run read stay written (read
         * without re-protecting), so the rounds read them again; roots
         * and stacks are read again at the next stop. */
        atomic_store(&rt__gc_marking, 1);
        rt__shared_cache_unlock();
        int64_t r = rt__gc_startworld();
        *extra_pause += r - *final_start;
        rt_syscall_enter();
        rt__syscall_handoff();
        rt__mark_run(ms, nconc); /* what the stopped run left */
        rounds_and_p(ms, nconc);
    }
}

/* The stop-the-world mark: on return the world is stopped for mark
 * termination, as after mark_concurrent. */
static void mark_stopped(rt__markstats *ms, cycle_times *t, int64_t b_ns, uint64_t *nspan)
{
    t->t0 = rt_nanotime();
    stop_and_flush();
    rt__pool_clear_all();
    /* Phase B left nothing, and sweeping a span is a no-stop region, so no
     * span can be unswept now; sweeping here would call free() with the
     * world stopped. */
    if (!rt__sweep_done())
        rt__throw("gc: unswept spans with the world stopped");
    if (rt__unlikely(rt__debug.allocfreetrace))
        rt__tracegc();
    *nspan = rt__heap_spans_inuse();
    rt__gc_premarked = false;
    rt__mark_live_reset(false);
    t->t1 = rt_nanotime();
    t->t2 = t->t1 + b_ns; /* B, measured before the stop */

    int64_t tc0 = rt_nanotime(); /* C */
    rt__mark(ms);
    int64_t tc1 = rt_nanotime();
    t->t3 = t->t2 + (tc1 - tc0);
    stw_rate_sample(ms->marked_bytes + ms->root_bytes, tc1 - tc0);
}

/* The trigger for a heap goal after a cycle that marked `marked` bytes:
 * the goal itself for stop-the-world marking; for concurrent marking,
 * early enough that the allocation the last mark phase saw (scaled by the
 * live heap's growth) fits before the goal, with a quarter to spare;
 * between 85 % and 95 % of the way from the live heap to the goal
 * (RUNWAY_MAX_PCT).
 *
 * The lower bound caps the runway, and with it the black bytes a phase
 * adds to the next goal: black bytes count as marked, so the runway a
 * phase fills sets the next goal, which sets the next runway.  With a
 * runway of at most a fraction f of the room, a program that fills it
 * settles at goal = traced x 2 / (1 - f) (GOGC=100): 2.9x traced at
 * Go's 70 % bound (its minTriggerRatio), 2.35x at 85 %.  Go lives with
 * 70 % because its mutator slows down while it marks (write barrier,
 * black allocation on the slow path): on binary-trees 21 Go allocates
 * ~18 MB in a ~60 ms mark phase, grt ~35 MB in the same time, and grt
 * settled at goals of ~190 MB (traced 64) where Go's are ~175.  Measured
 * on binary-trees 21 (alternating runs, 4 each): at 70 % peak RSS
 * 322-347 MB, 9.1-10.4 s; at 85 % 282-286 MB, 9.7-10.9 s (the assists
 * that hold the phase to the shorter runway: +4 % time; two later sets,
 * 9 runs each: peak 299-347 -> 253-301 MB, median time +9 %, 0.6x Go's
 * still); at 90 % 278-290 MB, no better.  (At 40 %, an earlier run: 446
 * MB.)  Workload 12 (a 150-200 MB runway in a 1.2 GB room) and GCBench
 * did not move. */
#define RUNWAY_MAX_PCT 15
static uint64_t trigger_for(uint64_t marked, uint64_t goal, bool concurrent)
{
    if (!concurrent || goal <= marked)
        return goal;
    uint64_t room = goal - marked;
    uint64_t need = room * RUNWAY_MAX_PCT / 100; /* no history: the longest */
    if (have_mark_history) {
        double scale = last_marked > 0 ? (double)marked / (double)last_marked : 1.0;
        if (scale < 1.0)
            scale = 1.0;
        if (scale > 4.0)
            scale = 4.0;
        need = (uint64_t)((double)last_mark_alloc * scale * 1.25);
    }
    uint64_t lo = room / 20, hi = room * RUNWAY_MAX_PCT / 100;
    if (need < lo)
        need = lo;
    if (need > hi)
        need = hi;
    return goal - need;
}

static __attribute__((noinline)) void gc_cycle1(bool force, bool eager, uintptr_t entry_sp);

/* The initiator's stack is a root from here up (rt_g.gcentry_sp, with the
 * caller's callee-saved registers spilled in this frame), not from the
 * collector's deepest frame: the collector's frames hold no program
 * pointer, but their unwritten slots may hold dead ones that earlier,
 * deeper calls of this goroutine left -- and the finalizer table's hidden
 * pointers are un-hidden in them while roots are gathered (seen with
 * ASan's larger frames). */
static __attribute__((noinline)) void gc_cycle(bool force, bool eager)
{
    __builtin_unwind_init(); /* the caller's registers, saved in this frame */
    gc_cycle1(force, eager, rt__current_sp());
    __asm__ volatile("" ::: "memory"); /* the frame lives until here */
}

static __attribute__((noinline)) void gc_cycle1(bool force, bool eager, uintptr_t entry_sp)
{
    gc_init_once();
    uint32_t seen = atomic_load(&ncycles);
    uint32_t begun = atomic_load(&nstarted);
    rt__semacquire(&gc_sema, false, 0, 0);
    if (!force && atomic_load(&ncycles) != seen) {
        rt__semrelease(&gc_sema, false, 0);
        return; /* someone collected while we waited */
    }
    if (force && (int32_t)(atomic_load(&ncycles) - (begun + 1)) >= 0) {
        /* A whole cycle began after this call and has ended (one that
         * was running at the call does not count): callers that overlap
         * share it, as Go's runtime.GC's (gcWaitOnMark(n+1)).  Each ran a
         * cycle of its own before: 3,000 goroutines calling rt_gc at once
         * took 12.8 s, Go 82 ms (an outside tester's find).  An eager
         * caller still returns with the heap swept, as there. */
        rt__semrelease(&gc_sema, false, 0);
        if (eager) {
            while (rt__sweep_one())
                ;
            rt__sweep_wait_inflight();
        }
        return;
    }
    /* (relaxed atomic: scheddetail reads it without the semaphore) */
    __atomic_store_n(&rt__gc_entry_g, rt__getg(), __ATOMIC_RELAXED);
    rt__getg()->gcprio = true; /* ahead of every queue when it wants a P back */
    rt__gc_entry_sp = entry_sp;
    /* gctrace=2 (TRACE_FORMATS.md §1.2): every collection runs twice back
     * to back, under one hold of the semaphore, and prints two lines. */
    int passes = __atomic_load_n(&rt__debug.gctrace, __ATOMIC_RELAXED) >= 2 ? 2 : 1;
again:;
    atomic_fetch_add(&nstarted, 1);
    cycle_times t;
    /* B: leftover sweeping, with the world running. */
    int64_t tb0 = rt_nanotime();
    uint64_t left = 0;
    while (rt__sweep_one())
        left++;
    int64_t tb1 = rt_nanotime();
    /* gctrace's heap0, Go 1.3's formula (TRACE_FORMATS.md §1.1 field 7):
     * next_gc x 100 / (GOGC + 100), the live heap the previous cycle found
     * -- or half the 4 MiB floor while the goal sits on it; 0 before the
     * first cycle, as there.  (GOGC=off: the goal's own 100.) */
    uint64_t heap0 = 0;
    if (atomic_load(&ncycles) != 0) {
        int hp = atomic_load(&rt__gc_percent);
        heap0 = atomic_load(&rt__gcstat.next_gc) * 100 / (uint64_t)((hp < 0 ? 100 : hp) + 100);
    }
    rt__mark_prepare();

    /* A and C: the world is stopped when either returns. */
    rt__markstats ms;
    uint64_t nspan = 0, alloc_during = 0;
    int64_t td0 = 0, extra_pause = 0;
    bool conc = concurrent_mode(true);
    if (conc)
        mark_concurrent(&ms, &t, tb1 - tb0, &nspan, &alloc_during, &td0, &extra_pause);
    else
        mark_stopped(&ms, &t, tb1 - tb0, &nspan);

    /* D: mark termination (for a concurrent cycle, D counts the whole
     * final pause: TRACE_FORMATS.md's phase table). */
    if (!conc)
        td0 = rt_nanotime();
    rt__finalizers_after_mark();
    uint64_t heap1 = 0, mallocs = 0, frees = 0;
    /* the background sweeper's spans since the last line: they are all the
     * previous cycle's (read before this cycle's spans become unswept) */
    uint64_t bgnow = atomic_load(&rt__gcstat.bg_swept);
    {
        uint64_t tb;
        uint64_t nm[RT_GC_MAX_CLASSES], nf[RT_GC_MAX_CLASSES];
        counters(&mallocs, &frees, &heap1, &tb, nm, nf);
    }
    rt__mark_shadows_detach(); /* (before a sweep can free their spans) */
    atomic_fetch_add(&rt__sweepgen, 2);
    int pct = atomic_load(&rt__gc_percent);
    /* Objects allocated during a concurrent mark phase survive this cycle
     * (they are black): they count as marked, as in Go (the essay says
     * what growing only the traced bytes cost). */
    uint64_t marked = ms.marked_bytes + alloc_during;
    uint64_t goal = goal_for(marked, ms.scan_root_bytes, pct < 0 ? 100 : pct);
    atomic_store(&rt__gcstat.heap_marked, marked);
    atomic_store(&last_scan_roots, ms.scan_root_bytes);
    atomic_store(&last_root_bytes, ms.root_bytes);
    atomic_store(&rt__gcstat.heap_live, marked);
    atomic_store(&rt__gcstat.next_gc, goal);
    atomic_store(&rt__gcstat.trigger, trigger_for(marked, goal, conc));
    last_traced = ms.marked_bytes;
    if (conc) {
        atomic_fetch_add(&rt__gc_nconcurrent, 1);
        last_mark_alloc = alloc_during;
        last_marked = marked;
        have_mark_history = true;
    }
    uint32_t n = atomic_load(&ncycles) + 1;
#if RT_DEBUG >= 3
    /* every span is unswept now: check them before the world moves */
    rt__heap_foreach_inuse(check_span, NULL);
    rt__heap_check();
#endif
    rt__shared_cache_unlock();
    int64_t td1 = rt__gc_startworld();
    t.t4 = t.t3 + (td1 - td0);
    uint64_t pause = (uint64_t)((t.t1 - t.t0) + (t.t4 - t.t3) + extra_pause);
    if (!conc)
        pause += (uint64_t)(t.t3 - t.t2);
    pause_ring[(n - 1) % 256] = pause;
    atomic_fetch_add(&pause_total, pause);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_store(&last_gc_wall, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    atomic_store(&ncycles, n);
    rt__pool_free_retired();
    /* A concurrent cycle leaves the live heap write-protected (the next
     * cycle re-protects only what was written) but lifts the protection
     * of pages without a marked object: they are garbage this cycle's
     * sweep frees, and allocation will write them all -- at ~0.7 us for
     * the first write to each protected page, 0.17 ns a byte, more than
     * the lifting costs (about 25 ms a GiB).  Before gc_sema goes: the
     * next cycle's protection must not race with it. */
    if (conc) {
        rt_syscall_enter();
        rt__syscall_handoff();
        uintptr_t ulo, uhi;
        heap_range(&ulo, &uhi);
        unprotect_dead(ulo, uhi);
        rt__mark_shadows_free();
        rt_syscall_exit();
    }
    /* Eager sweeping (rt_gc, gcstoptheworld=2) runs once the world is
     * going again -- sweeping frees bitmaps, and free() is off limits while
     * it is stopped.  Other goroutines may allocate meanwhile, sweeping on
     * demand what they need; rt_gc returns once every span is swept.
     * gctrace counts the spans swept here in its third sweeps field, as
     * Go's eager-sweep cycles. */
    /* The line goes out first, as Go 1.3 prints it before its eager
     * sweep: with allocfreetrace the sweep's tracefree records follow the
     * line of the cycle that found them (its own count is the next
     * line's). */
    if (__atomic_load_n(&rt__debug.gctrace, __ATOMIC_RELAXED) > 0) {
        uint64_t bg = bgnow - bg_last;
        bg_last = bgnow;
        gctrace_line(n, &ms, &t, heap0, heap1, mallocs, frees, nspan, bg,
                     left + atomic_exchange(&pause_swept, 0));
    }
    uint64_t sweptstw = 0;
    if (eager || rt__debug.gcstoptheworld >= 2) {
        while (rt__sweep_one())
            sweptstw++;
        /* and the spans other threads took meanwhile: Go's runtime.GC
         * returns with every sweep done, its counts in memstats */
        rt__sweep_wait_inflight();
    }
    atomic_store(&pause_swept, sweptstw);
    atomic_store(&last_gc_end, rt_nanotime());
    if (--passes > 0)
        goto again;
    rt__getg()->gcprio = false;
    __atomic_store_n(&rt__gc_entry_g, NULL, __ATOMIC_RELAXED);
    rt__gc_entry_sp = 0;
    rt__semrelease(&gc_sema, false, 0);
    rt__finalizer_wake(); /* jobs the sweeps above queued */
    rt__bgsweep_start();
    rt__bgsweep_wake();
}

/* ------------------------------------------------- the background cycle -- */

/* Concurrent cycles run on a system goroutine of their own, so that the
 * allocation that crosses the trigger goes on at once (Go's background
 * mark worker and gcStart's caller returning).
 *
 * Where it starts: with a P idle, on the global queue with that P woken
 * (rt__goready_idle_p), so it runs on the idle CPU and the allocating
 * goroutine keeps its thread.  Readied into the allocator's own runnext
 * with a yield (needed when no P is idle: the cycle must get one), the
 * collector took the allocator's P and thread, its first step (protecting
 * the heap, off the P) handed the P with the allocator to another M, and
 * on 2 CPUs that M and the collector's thread then shared a CPU -- or the
 * collector, back from the system call to find both Ps taken, waited for
 * one: GCBench's cycles started 1-3 ms late in half of its cycles, by
 * which time the program had run 10 % past the goal and waited for the
 * cycle: 19-24 waits, 70-105 ms of a ~500 ms run (traced per cycle).  Now
 * 3-6 waits, 8-10 ms. */
static rt__gc_waiter bggc_wait;
static _Atomic int bggc_started, bggc_requested;

static void bggc(void *arg)
{
    (void)arg;
    rt__getg()->noroots = true; /* gcstop.c's roots_g */
    for (;;) {
        rt__gc_wait(&bggc_wait, "GC worker (idle)");
        gc_cycle(false, false);
        atomic_store(&bggc_requested, 0);
    }
}

void rt__gc_maybe_trigger(void)
{
    rt__finalizer_wake(); /* jobs the refill's sweeping queued (one load) */
    rt__preempt_point();  /* (an allocation slow path: sched.h) */
    if (atomic_load_explicit(&rt__gc_marking, memory_order_relaxed))
        assist_maybe();
    if (rt__debug.gcevery > 0) {
        uint64_t k = atomic_fetch_add_explicit(&nallocs, 1, memory_order_relaxed) + 1;
        if (k % (uint64_t)rt__debug.gcevery == 0 && rt__getg() != NULL &&
            !rt__getg()->is_system) {
            gc_cycle(false, false);
            return;
        }
    }
    uint64_t live = atomic_load_explicit(&rt__gcstat.heap_live, memory_order_relaxed);
    uint64_t trig = atomic_load_explicit(&rt__gcstat.trigger, memory_order_relaxed);
    if (trig == 0) /* before the first cycle */
        trig = atomic_load_explicit(&rt__gcstat.next_gc, memory_order_relaxed);
    if (live < trig)
        return;
    gc_init_once();
    if (atomic_load_explicit(&rt__gc_percent, memory_order_relaxed) < 0)
        return;
    rt_g *gp = rt__getg();
    if (gp == NULL || gp->is_system)
        return; /* threads outside the scheduler cannot stop the world; a
                 * goroutine's next slow path will */
    if (!concurrent_mode(false)) {
        gc_cycle(false, false);
        return;
    }
    int expect = 0;
    if (atomic_compare_exchange_strong(&bggc_requested, &expect, 1)) {
        expect = 0;
        if (atomic_compare_exchange_strong(&bggc_started, &expect, 1))
            rt__go_system(bggc, NULL);
        if (!rt__sched_gomaxprocs_is_one() &&
            atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) > 0) {
            /* A P is idle: the cycle starts there (see bggc) */
            gc_wake(&bggc_wait, rt__goready_idle_p);
            return;
        }
        rt__gc_wake(&bggc_wait);
        /* let it start even when this goroutine holds the only P */
        rt_yield();
        return;
    }
    /* A cycle is asked for but its mark phase has not begun (the
     * collector is protecting the heap, or has not got its P yet), so no
     * assist can hold this goroutine back, and it has used the whole
     * runway: wait for the phase to begin, as Go's allocating goroutine
     * waits out gcStart.  Since the cycle starts on an idle P (bggc)
     * rather than on this goroutine's, nothing else slowed a fast
     * allocator there: test_heap_grows_to_twice_live's ASan run (64 KiB
     * pieces of fresh memory) reached the goal + 10 % before marking
     * began.  Polled: a wait of the protection's length, on a path taken
     * at most once per cycle per goroutine. */
    uint64_t goal = atomic_load_explicit(&rt__gcstat.next_gc, memory_order_relaxed);
    rt_m *mp = rt__getm();
    uint32_t seen = atomic_load(&ncycles);
    if (live >= goal && mp != NULL && mp->p != NULL) { /* (no P: cannot park) */
        while (atomic_load(&bggc_requested) &&
               !atomic_load_explicit(&rt__gc_marking, memory_order_relaxed) &&
               atomic_load(&ncycles) == seen)
            rt_sleep(20 * RT_MICROSECOND);
    }
    /* The heap outgrew its goal by 10 % while a cycle runs: go on as its
     * marking does (hard_throttle), or, where it is not marking
     * concurrently (the mark phase has ended, the final stop is under
     * way), wait for the cycle.  (The M again: the sleeps above may have
     * moved this goroutine, and another M's P is that M's to change --
     * TSan.) */
    if (live >= hard_goal(goal) && atomic_load(&ncycles) == seen) {
        mp = rt__getm();
        if (atomic_load_explicit(&rt__gc_marking, memory_order_relaxed) && mp != NULL &&
            mp->p != NULL)
            hard_throttle(goal);
        else
            gc_cycle(false, false);
    }
}

/* --------------------------------------------------------------- rt.h ---- */

typedef struct gc_request {
    rt__note done;
    bool freeos;
} gc_request;

static void free_os_now(void);

static void gc_on_goroutine(void *arg)
{
    gc_request *r = arg;
    gc_cycle(true, true);
    if (r->freeos)
        free_os_now();
    rt__note_wakeup(&r->done);
}

/* Runs rt_gc's work on a goroutine when called from another thread. */
static void from_thread(bool freeos)
{
    /* main_started, not running: goroutine 1 may start a thread before
     * rt_main sets running (heap dump helper's finding). */
    if (!atomic_load(&rt__sched.main_started) || atomic_load(&rt__sched.stopping))
        return; /* no scheduler: nothing could have been collected */
    gc_request r = {.freeos = freeos};
    rt__note_clear(&r.done);
    rt__go_system(gc_on_goroutine, &r);
    rt__note_sleep(&r.done);
}

void rt_gc(void)
{
    if (rt__getg() == NULL) {
        from_thread(false);
        return;
    }
    gc_cycle(true, true);
    /* Go's runtime.GC parks its caller for the cycle, so it is a
     * scheduling point: due timers run, queued finalizers and other
     * goroutines get the P.  A cycle that stopped the world never
     * scheduled, and a goroutine calling rt_gc in a loop starved
     * everything else on its P. */
    rt_yield();
}

int rt_set_gc_percent(int pct)
{
    gc_init_once();
    if (pct < 0)
        pct = -1;
    int old = atomic_exchange(&rt__gc_percent, pct);
    uint64_t marked = atomic_load(&rt__gcstat.heap_marked);
    atomic_store(&rt__gcstat.next_gc,
                 goal_for(marked, atomic_load(&last_scan_roots), pct < 0 ? 100 : pct));
    return old;
}

static _Atomic int scvg_pass;

static void scvg_report(int k, size_t released)
{
    if (__atomic_load_n(&rt__debug.gctrace, __ATOMIC_RELAXED) <= 0)
        return;
    rt__heap_statistics st;
    rt__heap_stats(&st);
    uint64_t inuse = (uint64_t)(st.pages_used - st.pages_free) << RT_GC_PAGE_SHIFT;
    uint64_t idle = (uint64_t)st.pages_free << RT_GC_PAGE_SHIFT;
    uint64_t sys = (uint64_t)st.pages_used << RT_GC_PAGE_SHIFT;
    uint64_t rel = (uint64_t)st.pages_released << RT_GC_PAGE_SHIFT;
    if (released > 0)
        rt__printf("scvg%d: %llu MB released\n", k, (unsigned long long)(released >> 20));
    rt__printf("scvg%d: inuse: %llu, idle: %llu, sys: %llu, released: %llu, consumed: %llu (MB)\n",
               k, (unsigned long long)(inuse >> 20), (unsigned long long)(idle >> 20),
               (unsigned long long)(sys >> 20), (unsigned long long)(rel >> 20),
               (unsigned long long)((sys - rel) >> 20));
}

static void free_os_now(void)
{
    rt__stack_pool_trim(INT32_MAX, 0); /* every pooled stack's pages */
    size_t released = rt__heap_scavenge(INT64_MAX);
    scvg_report(-1, released);
}

void rt_free_os_memory(void)
{
    if (rt__getg() == NULL) {
        from_thread(true);
        return;
    }
    gc_cycle(true, true);
    free_os_now();
    rt_yield(); /* a scheduling point, as rt_gc */
}

/*
 * The periodic scavenger, Go 1.3's MHeap_Scavenger (TRACE_FORMATS.md §1.3):
 * every period (60 s) a pass k = 0, 1, ... returns to the OS the free
 * spans unused for limit (5 min) and prints the scvgK lines.  If no cycle
 * has ended for forcegc (2 min), the pass first forces one: sysmon is a
 * thread and cannot run a cycle, so it hands the whole pass to the
 * background sweeper goroutine (rt__bgsweep_force), which runs the cycle
 * (its gc line), prints "scvgK: GC forced" and then scavenges -- Go 1.3's
 * order.  Unlike Go 1.3, no cycle is forced before the first one has run
 * (the sweeper goroutine starts with it; Go 1.4 has the same rule) or with
 * GOGC=off (1.3 printed "GC forced" for a cycle it then skipped).
 */
rt__scvg_periods_t rt__scvg_periods = {
    .period = 60 * RT_SECOND,
    .forcegc = 120 * RT_SECOND,
    .limit = 300 * RT_SECOND,
};

static void scavenge_pass(int k, int64_t now)
{
    size_t released = rt__heap_scavenge(now - rt__scvg_periods.limit);
    scvg_report(k, released);
}

/* On the background sweeper, for pass k. */
void rt__gc_forced(int k)
{
    gc_cycle(true, false);
    if (__atomic_load_n(&rt__debug.gctrace, __ATOMIC_RELAXED) > 0)
        rt__printf("scvg%d: GC forced\n", k);
    scavenge_pass(k, rt_nanotime());
}

/*
 * The retained bound, modern Go's background scavenger on top of Go 1.3's
 * periodic one: every 100 ms, while the heap holds more than 110 % of the
 * goal (pages in use plus free pages not yet returned), free spans idle
 * for a second or more go back to the OS, 64 MiB per pass at most (the
 * madvise calls are sysmon's time, not the program's).  A program that
 * drops a large structure gets its memory back within a second or so, as
 * with Go >= 1.13, instead of after Go 1.3's five minutes (an outside
 * tester: 263 MB held for 115 s where Go was back to 16 MB in 3 s).  The
 * second's grace keeps the spans a steady state frees and reuses at every
 * cycle from being released and faulted back in.  No scvg line: Go's
 * background scavenger prints none either.  GOGC=off: no goal, no bound.
 */
#define RETAIN_EVERY (100 * RT_MILLISECOND)
#define RETAIN_IDLE RT_SECOND
#define RETAIN_MAX ((size_t)64 << 20)

static int64_t retain_last; /* sysmon's */

static void scavenge_retained(int64_t now)
{
    if (now - retain_last < RETAIN_EVERY)
        return;
    retain_last = now;
    if (atomic_load(&rt__gc_percent) < 0)
        return;
    uint64_t goal = atomic_load(&rt__gcstat.next_gc);
    rt__heap_scavenge_to((size_t)(goal + goal / 10), now - RETAIN_IDLE, RETAIN_MAX);
}

static int64_t scvg_last; /* sysmon's */

/* Called by sysmon on every tick. */
void rt__gc_sysmon(int64_t now)
{
    scavenge_retained(now);
    if (scvg_last == 0)
        scvg_last = now;
    if (now - scvg_last < rt__scvg_periods.period)
        return;
    scvg_last = now;
    int k = atomic_fetch_add(&scvg_pass, 1);
    int64_t end = atomic_load(&last_gc_end);
    if (end != 0 && now - end > rt__scvg_periods.forcegc &&
        atomic_load(&rt__gc_percent) >= 0 && rt__bgsweep_force(k))
        return;
    scavenge_pass(k, now);
}

int64_t rt__gc_sysmon_due(int64_t now)
{
    int64_t due = scvg_last != 0 ? scvg_last + rt__scvg_periods.period : now;
    if (atomic_load(&rt__gc_percent) >= 0) {
        uint64_t goal = atomic_load(&rt__gcstat.next_gc);
        if (rt__heap_retained() > goal + goal / 10 && retain_last + RETAIN_EVERY < due)
            due = retain_last + RETAIN_EVERY; /* pages to give back */
    }
    return due;
}

/* ------------------------------------------------------------ memstats -- */


static void counters(uint64_t *mallocs, uint64_t *frees, uint64_t *alloc_bytes,
                     uint64_t *total_bytes, uint64_t nm[RT_GC_MAX_CLASSES],
                     uint64_t nf[RT_GC_MAX_CLASSES])
{
    uint64_t nlarge = 0, large_bytes = 0;
    memset(nm, 0, RT_GC_MAX_CLASSES * sizeof(uint64_t));
    rt__mcache_counters(nm, &nlarge, &large_bytes);
    uint64_t m = nlarge, f = 0, live = 0, total = large_bytes;
    int ncls = rt__sizeclass_count();
    for (int c = 1; c <= ncls; c++) {
        nf[c] = atomic_load_explicit(&rt__gcstat.nfree[c], memory_order_relaxed);
        if (nf[c] > nm[c])
            nf[c] = nm[c]; /* counters read at different instants */
        uint64_t size = rt__sizeclass_get(c)->size;
        m += nm[c];
        f += nf[c];
        total += nm[c] * size;
        live += (nm[c] - nf[c]) * size;
    }
    nf[0] = 0;
    uint64_t fl = atomic_load_explicit(&rt__gcstat.nfree_large, memory_order_relaxed);
    uint64_t flb = atomic_load_explicit(&rt__gcstat.free_large_bytes, memory_order_relaxed);
    if (fl > nlarge)
        fl = nlarge;
    if (flb > large_bytes)
        flb = large_bytes;
    f += fl;
    live += large_bytes - flb;
    *mallocs = m;
    *frees = f;
    *alloc_bytes = live;
    *total_bytes = total;
}

/* What memstats' stack fields are measured from (stack_figures). */
#define STACK_SAMPLE 2048
typedef struct stack_sample {
    uintptr_t his[STACK_SAMPLE]; /* tops of held stacks (rt__stacks_sample) */
    int n;
    bool all;     /* his holds every held stack */
    size_t cached; /* stacks in the Ps' caches */
    uintptr_t cached_his[256];   /* the first of them */
    int ncached;
} stack_sample;

static void read_memstats(rt_memstats *ms, stack_sample *ss);
static void stack_figures(rt_memstats *ms, const stack_sample *ss);

void rt__gc_cycle_lock(void)
{
    gc_init_once();
    rt__semacquire(&gc_sema, false, 0, 0);
}

void rt__gc_cycle_unlock(void)
{
    rt__semrelease(&gc_sema, false, 0);
}

/* Like Go's ReadMemStats, a consistent snapshot needs the world stopped
 * (briefly: no heap walk, just the per-P counters and the page heap's
 * totals); otherwise a sweep or a span allocation between two reads makes
 * heap_alloc exceed heap_inuse.  Threads outside the scheduler get an
 * unstopped (approximate) reading. */
void rt_read_memstats(rt_memstats *ms)
{
    gc_init_once();
    rt__sizeclass_init();
    rt__heap_init();
    rt_g *gp = rt__getg();
    if (gp == NULL) {
        read_memstats(ms, NULL);
        stack_figures(ms, NULL);
        return;
    }
    static stack_sample ss; /* under gc_sema: 18 KB, off the goroutine's stack */
    rt__semacquire(&gc_sema, false, 0, 0);
    rt__gc_stopworld();
    read_memstats(ms, &ss);
    (void)rt__gc_startworld();
    stack_figures(ms, &ss);
    rt__semrelease(&gc_sema, false, 0);
}

/*
 * Stacks: only the pages a goroutine touched cost memory, and only the
 * kernel knows which (mincore, half a microsecond a stack).  stack_inuse is
 * the resident bytes of the stacks goroutines hold: measured on each of
 * them while there are at most 2,048 goroutine records, else on up to
 * 2,048 held stacks found at random and scaled to their number (with 512,
 * a fixed set of 1,000 deep and 50,000 shallow goroutines read 343-602 MB
 * from call to call in a 420 MB process, an outside tester's find; 2,048
 * halves that spread).  stack_sys adds the pooled stacks: the Ps' caches
 * and the 4,096 hottest of the pool measured, the rest a page each (a
 * lower bound: rt__stack_pool_resident says why not scaled).  Each
 * measurement is a mincore call, half a microsecond: 3 ms at most a call.
 * Counted as one page per held stack, stack_inuse said 45 KB where ten
 * goroutines 150 KB deep had made RSS grow by 1.5 MB (an outside tester's
 * find).  The stacks are chosen with the world stopped (goroutine records
 * are read then) and measured after it runs again, so the stop stays as
 * short as Go's.  A thread outside the scheduler, which does not stop the
 * world, gets a page per held stack -- as does a program whose records
 * are nearly all dead goroutines' (the 32,768 probes rt__stacks_sample
 * makes may find no held stack among a million records of which five
 * live).
 */
static void stack_figures(rt_memstats *ms, const stack_sample *ss)
{
    const uint64_t page = RT_PAGE_SIZE;
    size_t slots = rt__stack_slots(), hot = rt__stack_pool_hot(), trim = rt__stack_pool_trimmed();
    size_t cached = ss ? ss->cached : 0;
    size_t held = slots > hot + trim + cached ? slots - hot - trim - cached : 0;
    uint64_t inuse = (uint64_t)held * page;
    if (ss != NULL && ss->n > 0) {
        uint64_t sum = 0;
        for (int i = 0; i < ss->n; i++)
            sum += rt__stack_resident(ss->his[i]);
        inuse = ss->all ? sum : (uint64_t)((double)sum * (double)held / ss->n);
    }
    uint64_t pooled = rt__stack_pool_resident();
    if (ss != NULL) {
        for (int i = 0; i < ss->ncached; i++)
            pooled += rt__stack_resident(ss->cached_his[i]);
        pooled += (uint64_t)(cached - (size_t)ss->ncached) * page;
    }
    ms->stack_inuse = inuse;
    ms->stack_sys = inuse + pooled;
    ms->sys += ms->stack_sys;
}

static void read_memstats(rt_memstats *ms, stack_sample *ss)
{
    memset(ms, 0, sizeof *ms);
    uint64_t nm[RT_GC_MAX_CLASSES], nf[RT_GC_MAX_CLASSES];
    counters(&ms->mallocs, &ms->frees, &ms->alloc, &ms->total_alloc, nm, nf);
    ms->heap_alloc = ms->alloc;
    ms->heap_objects = ms->mallocs - ms->frees;
    rt__heap_statistics st;
    rt__heap_stats(&st);
    ms->heap_sys = (uint64_t)st.pages_used << RT_GC_PAGE_SHIFT;
    ms->heap_idle = (uint64_t)st.pages_free << RT_GC_PAGE_SHIFT;
    ms->heap_inuse = ms->heap_sys - ms->heap_idle;
    ms->heap_released = (uint64_t)st.pages_released << RT_GC_PAGE_SHIFT;
    /* Stacks: chosen here, measured by stack_figures once the world runs
     * again (which adds stack_sys to sys). */
    if (ss != NULL) {
        ss->n = rt__stacks_sample(ss->his, STACK_SAMPLE, &ss->all);
        ss->cached = 0;
        ss->ncached = 0;
        for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
            const rt__stackcache *c = &rt__sched.allp[i]->stackcache;
            ss->cached += c->n;
            for (uint32_t k = 0; k < c->n && ss->ncached < 256; k++)
                ss->cached_his[ss->ncached++] = c->hi[k];
        }
    }
    ms->mspan_inuse = (uint64_t)st.spans_inuse * sizeof(rt__span);
    ms->mspan_sys = (uint64_t)st.span_records * sizeof(rt__span);
    ms->mcache_inuse = (uint64_t)__atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_RELAXED) *
                       sizeof(rt__mcache);
    ms->mcache_sys = (uint64_t)RT_MAX_PROCS * sizeof(void *) + ms->mcache_inuse;
    /* the profilers' buckets and tables (their hash heads are static) */
    ms->buckhash_sys = atomic_load_explicit(&rt__buckhash_bytes, memory_order_relaxed);
    ms->gc_sys = atomic_load(&rt__gcstat.gcbits_bytes) +
                 ((uint64_t)st.pages_used * sizeof(rt__span *));
    /* (no lock: relaxed loads of counters other threads bump) */
    ms->other_sys =
        (uint64_t)__atomic_load_n(&rt__sched.allglen, __ATOMIC_RELAXED) * sizeof(rt_g) +
        (uint64_t)__atomic_load_n(&rt__sched.mcount, __ATOMIC_RELAXED) * sizeof(rt_m) +
        /* the timer heaps (an outside tester's 1M pending timers left
         * their 16 MB of heap slots in no field) */
        atomic_load_explicit(&rt__timer_table_bytes, memory_order_relaxed);
    ms->sys = ms->heap_sys + ms->mspan_sys + ms->mcache_sys +
              ms->buckhash_sys + ms->gc_sys + ms->other_sys;
    /* GC off: no heap size starts a cycle (Go reports ~2^63 too) */
    ms->next_gc = atomic_load(&rt__gc_percent) < 0 ? (uint64_t)INT64_MAX
                                                   : atomic_load(&rt__gcstat.next_gc);
    ms->last_gc = atomic_load(&last_gc_wall);
    ms->pause_total_ns = atomic_load(&pause_total);
    for (int i = 0; i < 256; i++)
        ms->pause_ns[i] = __atomic_load_n(&pause_ring[i], __ATOMIC_RELAXED);
    ms->num_gc = atomic_load(&ncycles);
    ms->enable_gc = atomic_load(&rt__gc_percent) >= 0;
    ms->debug_gc = rt__debug.gcevery > 0;
    int ncls = rt__sizeclass_count();
    for (int c = 0; c < RT_MEMSTATS_NSIZE; c++) {
        if (c > ncls)
            break;
        ms->by_size[c].size = c == 0 ? 0 : rt__sizeclass_get(c)->size;
        ms->by_size[c].mallocs = c == 0 ? 0 : nm[c];
        ms->by_size[c].frees = c == 0 ? 0 : nf[c];
    }
}

/* ------------------------------------------------------------ validator - */

#if RT_DEBUG >= 3
/* World stopped, after mark termination: every in-use span is unswept,
 * consistent, and no free slot is marked. */
static void check_span(rt__span *s, void *ctx)
{
    (void)ctx;
    uint32_t sg = atomic_load(&rt__sweepgen);
    if (atomic_load(&s->sweepgen) != sg - 2)
        rt__throwf("gc check: span %#lx sweepgen %u, heap %u", (unsigned long)s->base,
                   atomic_load(&s->sweepgen), sg);
    if (s->nelems == 0 || s->freeindex > s->nelems || s->incache)
        rt__throwf("gc check: span %#lx: nelems %u freeindex %u incache %d",
                   (unsigned long)s->base, s->nelems, s->freeindex, s->incache);
    if (s->sizeclass != 0 &&
        (size_t)s->nelems * s->elemsize > s->npages << RT_GC_PAGE_SHIFT)
        rt__throwf("gc check: span %#lx overflows its pages", (unsigned long)s->base);
    for (uint32_t i = 0; i < s->nelems; i++) {
        bool marked = rt__gc_slot_marked(s, i);
        /* (a concurrent mark phase marks the free slots of the spans the
         * caches took: allocation is black; the sweep drops those marks) */
        if (marked && !rt__span_slot_allocated(s, i) && !rt__gc_premarked)
            rt__throwf("gc check: span %#lx: free slot %u is marked",
                       (unsigned long)s->base, i);
    }
}
#endif
