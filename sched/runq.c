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
 *     the global queue in one locked splice (runq_put_slow).
 *
 * The global queue is a linked list under rt__sched.lock.  Schedulers look
 * at it first every 61st schedule (proc.c) so that it cannot starve.
 *
 * The owner's fast paths are static inline in sched.h.
 *
 * Costs: runq_put is two loads and one store-release (no atomic RMW);
 * runq_get is one CAS on the head, or a plain store-release when there is
 * only one P and so no thief.
 */
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
    for (uint32_t i = 0; i < N; i++)
        batch[i]->schedlink = batch[i + 1];
    gp->schedlink = NULL;
    rt__lock_acquire(&rt__sched.lock);
    rt__globrunq_put_batch(batch[0], gp, N + 1);
    rt__lock_release(&rt__sched.lock);
    return true;
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
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    return t - h;
}

void rt__globrunq_put(rt_g *gp)
{
    gp->schedlink = NULL;
    rt__globrunq_put_batch(gp, gp, 1);
}

void rt__globrunq_put_batch(rt_g *head, rt_g *tail, int32_t n)
{
    tail->schedlink = NULL;
    if (rt__sched.runqtail)
        rt__sched.runqtail->schedlink = head;
    else
        rt__sched.runqhead = head;
    rt__sched.runqtail = tail;
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
    rt_g *gp = rt__sched.runqhead;
    rt__sched.runqhead = gp->schedlink;
    for (int32_t i = 1; i < n; i++) {
        rt_g *g2 = rt__sched.runqhead;
        rt__sched.runqhead = g2->schedlink;
        rt__runq_put(pp, g2, false);
    }
    if (rt__sched.runqhead == NULL)
        rt__sched.runqtail = NULL;
    return gp;
}
