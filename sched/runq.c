/*
 * sched/runq.c -- per-P run queues and the global run queue.
 *
 * Each P has a bounded ring of RT_RUNQ_SIZE (256) runnable Gs plus a runnext
 * slot, as in Go's proc.go:
 *
 *   - Only the owner P pushes, at runqtail (a plain store-release: thieves
 *     read the tail with load-acquire and so see the G pointers written
 *     before it).
 *   - The owner pops at runqhead, and thieves take a batch at runqhead; both
 *     advance the head with a CAS (acq_rel), so every G is taken exactly
 *     once.  A thief copies the batch out *before* its CAS: if the CAS fails
 *     the copy is discarded, if it succeeds the copied slots were owned by
 *     the thief at the moment of the CAS.
 *   - runnext holds a G readied by the running G (a channel partner, a new
 *     goroutine) so that it runs next, inheriting the rest of the time slice;
 *     the owner sets it with a CAS, thieves may CAS it to NULL.
 *   - When the ring is full the owner moves half of it, plus the new G, to
 *     the global queue in one locked copy (runq_put_slow).
 *   - sysmon, with no P of its own, is the one other thief: it moves the
 *     whole ring of a P stuck in one goroutine to the global queue with
 *     the thieves' grab (rt__runq_drain_global), and only with two Ps or
 *     more -- a lone P pops without a CAS (below).
 *
 * The global queue is a ring of G pointers under rt__sched.lock, doubled
 * when full and unmapped when a large one drains (8 bytes a queued
 * goroutine while a backlog lasts).  Go links it through g.schedlink; an array makes a
 * spill a copy of 129 pointers and a take a read of consecutive slots,
 * where a list makes each take a dependent read of the record -- a line
 * the spawning core wrote last -- with the lock held.  Measured with
 * workload 4 (one spawner, one thief P): ~8 % less time per spawn
 * (medians of 9 alternating runs of the two binaries, loaded host).
 * Every 61st schedule a G from it (every other time; from the local
 * ring otherwise) takes runnext's place, to run right after runnext's G
 * (proc.c, fair_pick), so that it cannot starve.
 *
 * The owner's fast paths are static inline in sched.h.
 *
 * Costs: runq_put is two loads and one store-release (no atomic RMW);
 * runq_get is one CAS on the head, or a plain store-release when there is
 * only one P and so no thief.
 */
#include <sys/mman.h>

#include "sched/sched.h"

/* Moves half the full ring plus gp to the global queue (rt__runq_put's
 * slow path, sched.h). */
bool rt__runq_put_slow(rt_p *pp, rt_g *gp, uint32_t h, uint32_t t)
{
    enum { N = RT_RUNQ_SIZE / 2 };
    rt_g *batch[N + 1];
    if (t - h != RT_RUNQ_SIZE)
        rt__throw("runqputslow: queue is not full");
    for (uint32_t i = 0; i < N; i++)
        batch[i] = atomic_load_explicit(&pp->runq[(h + i) % RT_RUNQ_SIZE], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &h, h + N,
                                                 memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    batch[N] = gp;
    rt__lock_acquire(&rt__sched.lock);
    rt__globrunq_put_array(batch, N + 1);
    rt__lock_release(&rt__sched.lock);
    return true;
}

/* rt__runq_put's full-ring case: spill half to the global queue, or retry
 * once a thief has made room. */
void rt__runq_put_full(rt_p *pp, rt_g *gp)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (t - h < RT_RUNQ_SIZE) {
            atomic_store_explicit(&pp->runq[t % RT_RUNQ_SIZE], gp, memory_order_relaxed);
            atomic_store_explicit(&pp->runqtail, t + 1, memory_order_release);
            return;
        }
        if (rt__runq_put_slow(pp, gp, h, t))
            return;
        /* a thief took some: the ring has room now */
    }
}

/* Copies about half of victim's queue into batch; returns how many.  The
 * batch belongs to the caller only if the CAS succeeded (it retries). */
static uint32_t runq_grab(rt_p *victim, rt_g **batch, bool steal_next)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (!steal_next)
                return 0;
            rt_g *next = atomic_load_explicit(&victim->runnext, memory_order_relaxed);
            if (next == NULL)
                return 0;
            if (!atomic_compare_exchange_strong_explicit(
                    &victim->runnext, &next, NULL, memory_order_acquire,
                    memory_order_relaxed))
                continue;
            batch[0] = next;
            return 1;
        }
        if (n > RT_RUNQ_SIZE / 2)
            continue; /* read an inconsistent h and t */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&victim->runq[(h + i) % RT_RUNQ_SIZE],
                                            memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &h, h + n,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed))
            return n;
    }
}

rt_g *rt__runq_steal(rt_p *pp, rt_p *victim, bool steal_next)
{
    rt_g *batch[RT_RUNQ_SIZE / 2];
    uint32_t n = runq_grab(victim, batch, steal_next);
    if (n == 0)
        return NULL;
    rt_g *gp = batch[--n];
    if (n == 0)
        return gp;
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (t - h + n >= RT_RUNQ_SIZE)
        rt__throw("runqsteal: runq overflow");
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&pp->runq[(t + i) % RT_RUNQ_SIZE], batch[i], memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, t + n, memory_order_release);
    return gp;
}

uint32_t rt__runq_drain_global(rt_p *victim)
{
    rt_g *batch[RT_RUNQ_SIZE / 2];
    uint32_t total = 0;
    /* half at a time (the grab's bound), runnext with the last */
    for (int rounds = 0; rounds < 16; rounds++) {
        uint32_t n = runq_grab(victim, batch, true);
        if (n == 0)
            break;
        rt__lock_acquire(&rt__sched.lock);
        rt__globrunq_put_array(batch, (int32_t)n);
        rt__lock_release(&rt__sched.lock);
        total += n;
    }
    return total;
}

bool rt__runq_empty(rt_p *pp)
{
    /* Go's careful version: h, t, runnext, then t again, so a G moving from
     * runnext to the ring cannot be missed. */
    for (;;) {
        uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        rt_g *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
        if (t == atomic_load_explicit(&pp->runqtail, memory_order_acquire))
            return h == t && next == NULL;
    }
}

uint32_t rt__runq_len(rt_p *pp)
{
    /* A head read before a burst of pops and pushes and a tail read after
     * it could differ by more than the ring holds (the validator saw 'P0
     * ring holds 63' after reading more than 256 once, in a yield storm):
     * a tail read while the head stayed put is a length the ring had. */
    for (;;) {
        uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        if (h == atomic_load_explicit(&pp->runqhead, memory_order_acquire))
            return t - h;
    }
}

/* The P's local queue as a user counts it: the ring and runnext, which
 * Go 1.3 (TRACE_FORMATS.md section 2) did not have -- five goroutines just
 * started on a busy P showed as [4] (an outside tester's find). */
uint32_t rt__runq_count(rt_p *pp)
{
    return rt__runq_len(pp) +
           (atomic_load_explicit(&pp->runnext, memory_order_relaxed) != NULL);
}

/* rt__sched.lock held: room for n more in the global ring.  A fresh
 * mapping, the live entries copied in order: no malloc (the queue also
 * grows with the world stopped, when a stopped thread may hold malloc's
 * lock), and the old mapping goes back at once. */
static void globrunq_reserve(uint32_t n)
{
    uint32_t size = rt__sched.runqtail - rt__sched.runqhead;
    if (size + n <= rt__sched.runqcap)
        return;
    uint32_t cap = rt__sched.runqcap ? rt__sched.runqcap : 1024;
    while (cap < size + n)
        cap *= 2;
    rt_g **ring = mmap(NULL, (size_t)cap * sizeof *ring, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        rt__throw("out of memory growing the global run queue");
    for (uint32_t i = 0; i < size; i++)
        ring[i] = rt__sched.runq[(rt__sched.runqhead + i) & (rt__sched.runqcap - 1)];
    if (rt__sched.runq)
        munmap(rt__sched.runq, (size_t)rt__sched.runqcap * sizeof *ring);
    rt__sched.runq = ring;
    rt__sched.runqcap = cap;
    rt__sched.runqhead = 0;
    rt__sched.runqtail = size;
}

/* A drained ring larger than this goes back to the OS: a backlog of a
 * million spawned goroutines left 8 MB behind, 8 bytes of every parked
 * goroutine's budget (workload 5). */
#define RING_KEEP 4096u

static void globrunq_release(void)
{
    munmap(rt__sched.runq, (size_t)rt__sched.runqcap * sizeof *rt__sched.runq);
    rt__sched.runq = NULL;
    rt__sched.runqcap = 0;
    rt__sched.runqhead = rt__sched.runqtail = 0;
}

/* rt__sched.lock held (for all the global-queue functions below). */
void rt__globrunq_put_array(rt_g *const *gs, int32_t n)
{
    globrunq_reserve((uint32_t)n);
    uint32_t mask = rt__sched.runqcap - 1;
    for (int32_t i = 0; i < n; i++)
        rt__sched.runq[(rt__sched.runqtail + (uint32_t)i) & mask] = gs[i];
    rt__sched.runqtail += (uint32_t)n;
    atomic_fetch_add_explicit(&rt__sched.runqsize, n, memory_order_relaxed);
}

void rt__globrunq_put(rt_g *gp)
{
    rt__globrunq_put_array(&gp, 1);
}

/* A list linked through g->schedlink (built by the caller, so its lines
 * are local), n long. */
void rt__globrunq_put_batch(rt_g *head, rt_g *tail, int32_t n)
{
    globrunq_reserve((uint32_t)n);
    uint32_t mask = rt__sched.runqcap - 1;
    int32_t k = 0;
    for (rt_g *gp = head; k < n; gp = gp->schedlink, k++) {
        rt__sched.runq[(rt__sched.runqtail + (uint32_t)k) & mask] = gp;
        if (gp == tail) {
            k++;
            break;
        }
    }
    if (k != n)
        rt__throwf("globrunqputbatch: list of %d, told %d", k, n);
    rt__sched.runqtail += (uint32_t)n;
    atomic_fetch_add_explicit(&rt__sched.runqsize, n, memory_order_relaxed);
}

/* Takes a batch from the global queue: returns one G and puts the rest on
 * pp's ring.  Callers pass max == 1 unless pp's ring is empty, so the puts
 * never overflow into runq_put_slow (which would take the lock we hold). */
rt_g *rt__globrunq_get(rt_p *pp, int32_t max)
{
    int32_t size = atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int32_t n = size / rt__sched.gomaxprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > RT_RUNQ_SIZE / 2)
        n = RT_RUNQ_SIZE / 2;
    atomic_fetch_sub_explicit(&rt__sched.runqsize, n, memory_order_relaxed);
    uint32_t mask = rt__sched.runqcap - 1;
    rt_g *gp = rt__sched.runq[rt__sched.runqhead & mask];
    for (int32_t i = 1; i < n; i++)
        rt__runq_put(pp, rt__sched.runq[(rt__sched.runqhead + (uint32_t)i) & mask], false);
    rt__sched.runqhead += (uint32_t)n;
    if (rt__sched.runqhead == rt__sched.runqtail && rt__sched.runqcap > RING_KEEP)
        globrunq_release();
    return gp;
}
