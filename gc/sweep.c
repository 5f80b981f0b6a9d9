/*
 * gc/sweep.c -- turning a cycle's marks into free slots, span by span,
 * while the program runs.
 *
 * After mark termination every in-use span is unswept (the sweep
 * generation advanced: gc.h).  A span is swept exactly once per cycle, by
 * whoever takes it off its unswept list under the list's lock:
 *   - the allocating goroutine that needs a span of that class and kind
 *     (rt__sweep_for_class: sweeping on demand, so the heap does not grow
 *     while reusable slots wait to be swept -- up to 100 spans, or until a
 *     span goes back to the page heap, or until a stop of the world waits,
 *     so one allocation never pays for sweeping a whole class);
 *   - the background sweeper goroutine, which walks every list and then
 *     parks ("GC sweep wait") until the next cycle;
 *   - the next cycle's initiator, which finishes whatever is left before it
 *     stops the world (gctrace's B phase);
 *   - an eager cycle (rt_gc), which sweeps everything right after it, then
 *     waits for the spans other threads are still sweeping (sweeping, a
 *     count of spans taken and not yet swept), so that it returns with the
 *     cycle's frees in memstats.
 *
 * Sweeping a small span: the objects allocated before are those below
 * freeindex or with their allocation bit; those still allocated after are
 * exactly the marked ones.  The mark bytes, gathered eight at a time into
 * bits (gc.h, rt__gc_marks64), become the allocation bitmap and are
 * cleared for the next cycle; freeindex returns to 0 and the first window
 * of free slots is loaded.  A span with nothing marked goes back to the page heap.  Freed
 * objects are not touched (they are zeroed when handed out again), except
 * at RT_DEBUG >= 2, where they are filled with 0xdb so that a use after an
 * unjustified free shows.  Cost: a few word operations per 64 slots, plus
 * the page heap's lock for spans freed whole.
 *
 * Each span is swept inside a no-stop region of the sweeping M, so a world
 * stop never finds a span half swept or off every list.
 */
#include <sched.h>
#include <string.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

static void count_freed(rt__span *s, uint32_t freed)
{
    if (freed == 0)
        return;
    if (s->sizeclass != 0) {
        atomic_fetch_add_explicit(&rt__gcstat.nfree[s->sizeclass], freed, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&rt__gcstat.nfree_large, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&rt__gcstat.free_large_bytes, s->elemsize,
                                  memory_order_relaxed);
    }
}

bool rt__sweep_span(rt__span *s)
{
    uint32_t sg = atomic_load_explicit(&rt__sweepgen, memory_order_relaxed);
    if (atomic_load_explicit(&s->sweepgen, memory_order_relaxed) != sg - 2)
        rt__throwf("sweep: span %#lx has sweepgen %u, heap %u", (unsigned long)s->base,
                   atomic_load(&s->sweepgen), sg);
    uint32_t nw = rt__span_nwords(s);
    uint32_t nlive = 0, nbefore = 0;
    /* finalizers or heap profile samples live here: look the dead up */
    bool special = __atomic_load_n(&s->has_special, __ATOMIC_RELAXED);
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t before = s->allocbits[w];
        /* slots below freeindex were handed out since the last sweep */
        uint32_t lo = w * 64;
        if (s->freeindex >= lo + 64)
            before = ~(uint64_t)0;
        else if (s->freeindex > lo)
            before |= ((uint64_t)1 << (s->freeindex - lo)) - 1;
        uint32_t left = s->nelems - lo;
        if (left < 64)
            before &= ((uint64_t)1 << left) - 1;
        uint64_t live = rt__gc_marks64(s, lo);
        /* A concurrent mark phase marks the free slots of the spans the
         * caches take (allocation is black); those never handed out stay
         * free.  After a stop-the-world mark, a marked free slot is a
         * marker bug. */
        if (live & ~before) {
            if (!rt__gc_premarked)
                rt__throwf("sweep: span %#lx: a free slot is marked (word %u)",
                           (unsigned long)s->base, w);
            live &= before;
        }
        uint64_t dead = before & ~live;
        /* Unreachable objects with finalizers stay, queued (finalizer.c). */
        if (dead != 0 && rt__unlikely(special)) {
            uint64_t kept = rt__finalizer_sweep(s, lo, dead);
            live |= kept;
            dead &= ~kept;
        }
        nbefore += (uint32_t)__builtin_popcountll(before);
        nlive += (uint32_t)__builtin_popcountll(live);
        s->allocbits[w] = live; /* the marks become the allocation bits */
        if (dead != 0 && (RT_DEBUG >= 2 || rt__unlikely(rt__debug.allocfreetrace) ||
                          rt__unlikely(special))) {
            while (dead) {
                uint32_t i = lo + (uint32_t)__builtin_ctzll(dead);
                dead &= dead - 1;
                if (special)
                    rt__memprof_free((void *)(s->base + (uintptr_t)i * s->elemsize),
                                     s->elemsize);
                if (rt__unlikely(rt__debug.allocfreetrace))
                    rt__tracefree((void *)(s->base + (uintptr_t)i * s->elemsize),
                                  s->elemsize);
                if (RT_DEBUG >= 2)
                    memset((void *)(s->base + (uintptr_t)i * s->elemsize), 0xdb, s->elemsize);
            }
        }
    }
    count_freed(s, nbefore - nlive);
    if (nlive == 0) {
        rt__span_release_objects(s);
        rt__heap_free_span(s);
        return false;
    }
    memset(s->markbytes, 0, s->bitmarks ? nw * sizeof(uint64_t) : s->nelems);
    s->freeindex = 0;
    s->cacheidx = 0;
    uint64_t free0 = ~s->allocbits[0];
    if (s->nelems < 64)
        free0 &= ((uint64_t)1 << s->nelems) - 1;
    s->alloccache = free0;
    s->allocated_at_sweep = nlive;
    if (nbefore != nlive)
        s->needzero = true;
    atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
    return true;
}

/* Whether a swept small span has a free slot. */
static bool has_free(const rt__span *s)
{
    return s->sizeclass != 0 && s->allocated_at_sweep < s->nelems;
}

/* Spans taken off an unswept list and not yet swept: counted under the
 * list's lock as the span leaves it, so that one who finds every list
 * empty and then this 0 knows every sweep done and counted (an rt_gc
 * returned while another thread still swept its last span, and a memstats
 * read right after missed its frees: golden_test_gctrace, once in CI).
 * Cost: an atomic add and subtract per span swept (a sweep is microseconds). */
static _Atomic int sweeping;

/* rt__sweep_span on a span taken off an unswept list. */
static bool sweep_taken(rt__span *s)
{
    bool kept = rt__sweep_span(s);
    atomic_fetch_sub_explicit(&sweeping, 1, memory_order_release);
    return kept;
}

void rt__sweep_wait_inflight(void)
{
    while (atomic_load_explicit(&sweeping, memory_order_acquire) > 0)
        sched_yield(); /* a sweep is a short no-stop region */
}

/* Takes one unswept span of c (NULL if none). */
static rt__span *take_unswept(rt__central *c, int un)
{
    rt__lock_acquire(&c->lock);
    rt__span *s = c->partial[un];
    if (s != NULL) {
        rt__span_list_remove(&c->partial[un], s);
    } else if ((s = c->full[un]) != NULL) {
        rt__span_list_remove(&c->full[un], s);
    }
    if (s != NULL)
        atomic_fetch_add_explicit(&sweeping, 1, memory_order_relaxed);
    rt__lock_release(&c->lock);
    return s;
}

static void file_swept(rt__central *c, rt__span *s, int cur)
{
    rt__lock_acquire(&c->lock);
    rt__span_list_push(has_free(s) ? &c->partial[cur] : &c->full[cur], s);
    rt__lock_release(&c->lock);
}

/* Bounded, as Go's cacheSpan: the caller waits for this sweep.  A class
 * whose spans are all either full of live objects or wholly dead (a big
 * live structure of one size next to its garbage) would otherwise be swept
 * whole by one allocation -- 110 ms for 1 GiB of 64-byte objects.  A
 * span freed to the page heap ends the search too: its pages make the
 * caller's fresh span. */
#define SWEEP_BUDGET 100

rt__span *rt__sweep_for_class(int kind, int cls)
{
    rt__central *c = &rt__centrals[kind][cls];
    int cur = rt__swept_set();
    rt__span *s;
    for (int n = 0; n < SWEEP_BUDGET && (s = take_unswept(c, !cur)) != NULL; n++) {
        if (!sweep_taken(s))
            return NULL; /* freed: the heap has pages now */
        if (has_free(s))
            return s;
        file_swept(c, s, cur);
        /* The caller's refill is one no-stop region: with a stop waiting
         * on it, take fresh pages now rather than sweep on (refills of
         * 1-4 ms held a cycle's first stop 2 ms in workload 12). */
        if (atomic_load_explicit(&rt__gcstop_epoch, memory_order_relaxed) & 1)
            return NULL;
    }
    return NULL;
}

/* Sweeps one span of list i (0..2*RT_GC_MAX_CLASSES: the centrals, then
 * the large spans).  False if that list had none.  In a no-stop region. */
static bool sweep_one_of(int i, int cur)
{
    if (i < 2 * RT_GC_MAX_CLASSES) {
        rt__central *c = &rt__centrals[i / RT_GC_MAX_CLASSES][i % RT_GC_MAX_CLASSES];
        rt__span *s = take_unswept(c, !cur);
        if (s == NULL)
            return false;
        if (sweep_taken(s))
            file_swept(c, s, cur);
        return true;
    }
    rt__lock_acquire(&rt__large_lock);
    rt__span *s = rt__large[!cur];
    if (s != NULL) {
        rt__span_list_remove(&rt__large[!cur], s);
        atomic_fetch_add_explicit(&sweeping, 1, memory_order_relaxed);
    }
    rt__lock_release(&rt__large_lock);
    if (s == NULL)
        return false;
    if (sweep_taken(s)) {
        rt__lock_acquire(&rt__large_lock);
        rt__span_list_push(&rt__large[cur], s);
        rt__lock_release(&rt__large_lock);
    }
    return true;
}

static _Atomic int sweep_cursor; /* where sweep_one looks first */

void rt__span_ensure_swept(rt__span *s)
{
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp); /* no cycle can start meanwhile */
    uint32_t sg = atomic_load_explicit(&rt__sweepgen, memory_order_relaxed);
    int cur = rt__swept_set();
    int list = s->sizeclass != 0 ? s->noscan * RT_GC_MAX_CLASSES + s->sizeclass
                                 : 2 * RT_GC_MAX_CLASSES;
    /* Sweep s's list until s is done: s is on it, or another thread has
     * taken it and is sweeping it (in a no-stop region: it finishes). */
    while (atomic_load_explicit(&s->sweepgen, memory_order_acquire) != sg) {
        if (!sweep_one_of(list, cur))
            sched_yield();
    }
    if (mp != NULL)
        rt__nostop_end(mp);
}

/* Sweeps one span; *counter (if any) counts it inside the same no-stop
 * region, so a cycle's gctrace line never sees the sweep without the
 * count (the background sweeper's counts are per line). */
static bool sweep_one_counted(_Atomic uint64_t *counter)
{
    enum { NLISTS = 2 * RT_GC_MAX_CLASSES + 1 };
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp);
    int cur = rt__swept_set();
    int start = atomic_load_explicit(&sweep_cursor, memory_order_relaxed);
    bool swept = false;
    for (int k = 0; k < NLISTS && !swept; k++) {
        int i = (start + k) % NLISTS;
        if (sweep_one_of(i, cur)) {
            swept = true;
            if (i != start)
                atomic_store_explicit(&sweep_cursor, i, memory_order_relaxed);
        }
    }
    if (swept && counter != NULL)
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    if (mp != NULL)
        rt__nostop_end(mp);
    return swept;
}

bool rt__sweep_one(void)
{
    return sweep_one_counted(NULL);
}

bool rt__sweep_done(void)
{
    /* Under each list's lock: the heap profile asks with the world going
     * (a snapshot at exit raced the background sweeper -- TSan), and with
     * the world stopped no stopped thread holds one (no-stop regions). */
    int un = !rt__swept_set();
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < RT_GC_MAX_CLASSES; c++) {
            rt__central *ce = &rt__centrals[k][c];
            rt__lock_acquire(&ce->lock);
            bool left = ce->partial[un] != NULL || ce->full[un] != NULL;
            rt__lock_release(&ce->lock);
            if (left)
                return false;
        }
    rt__lock_acquire(&rt__large_lock);
    bool done = rt__large[un] == NULL;
    rt__lock_release(&rt__large_lock);
    return done;
}

void rt__sweep_finish(void)
{
    while (rt__sweep_one()) {
    }
}

/* ------------------------------------------------- background sweeper --- */

static rt__gc_waiter bgsweep_wait;
static _Atomic int bgsweep_started;
static _Atomic int force_pass = -1; /* a forced cycle asked for by sysmon */

static void bgsweep(void *arg)
{
    (void)arg;
    rt__getg()->noroots = true; /* gcstop.c's roots_g: no program pointer */
    for (;;) {
        /* The scavenger's forced cycle (it needs a goroutine). */
        int k = atomic_exchange(&force_pass, -1);
        if (k >= 0)
            rt__gc_forced(k);
        int n = 0;
        while (sweep_one_counted(&rt__gcstat.bg_swept)) {
            /* Go's bgsweep yields after every span: sweeping is background
             * work and must not delay goroutines that are ready. */
            if (++n % 8 == 0) {
                rt__finalizer_wake();
                rt_yield();
            }
        }
        rt__finalizer_wake();
        rt__gc_wait(&bgsweep_wait, "GC sweep wait");
    }
}

void rt__bgsweep_start(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&bgsweep_started, &expect, 1))
        rt__go_system(bgsweep, NULL);
}

void rt__bgsweep_wake(void)
{
    if (atomic_load(&bgsweep_started))
        rt__gc_wake(&bgsweep_wait);
}

bool rt__bgsweep_force(int k)
{
    if (!atomic_load(&bgsweep_started))
        return false;
    int idle = -1;
    if (atomic_compare_exchange_strong(&force_pass, &idle, k))
        rt__gc_wake(&bgsweep_wait);
    return true; /* or an earlier pass's request is still pending */
}
