/*
 * trace/schedtrace.c -- DEBUG=schedtrace=X and scheddetail=1.
 *
 * sysmon calls rt__schedtrace every X ms (sched/sysmon.c).  The output is
 * Go 1.3's (TRACE_FORMATS.md §2): the plain line
 *
 *   SCHED 1004ms: gomaxprocs=4 idleprocs=0 threads=11 idlethreads=4 runqueue=8 [0 1 0 3]
 *
 * or, with scheddetail=1, the same head extended by gcwaiting ... sysmonwait
 * and then one line per P, per M (newest first) and per G (allg order, dead
 * ones included).  Field meanings follow Go's, mapped onto grt:
 *   threads       Ms ever created, sysmon included (grt's Ms never exit;
 *                 rt_main's own thread only waits and is not an M)
 *   idlethreads   Ms parked on the idle list
 *   runqueue      length of the global run queue; [..] the local ones,
 *                 runnext included (as runqsize)
 *   nmidlelocked  always 0: grt has no LockOSThread
 *   blocked       Go prints the printing M's flag here (always 0 for
 *                 sysmon); grt prints the same
 *
 * Consistency: the head's counters are read under rt__sched.lock, as Go
 * does; the per-P/M/G lines read each record's fields without stopping
 * anything (relaxed loads), so a line may be a few instructions stale, never
 * torn.  Nothing here allocates; each line is one write(2).
 */
#include "trace/trace.h"

#include "sched/sched.h"

static int64_t trace_start;

typedef struct gline_ctx {
    rt__buf *b;
    /* The goroutine running a collection while the world is stopped for
     * it, or NULL: as in Go 1.3 it shows as waiting in "garbage
     * collection" and its M as gcing=1 (grt's collector runs on that
     * goroutine's stack, so its own status says running). */
    rt_g *collecting;
} gline_ctx;

static void print_g(rt_g *gp, void *arg)
{
    gline_ctx *c = arg;
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
    rt_m *mp = __atomic_load_n(&gp->m, __ATOMIC_RELAXED);
    const char *wr = __atomic_load_n(&gp->waitreason, __ATOMIC_RELAXED);
    if (gp == c->collecting) {
        st = RT_GWAITING;
        wr = "garbage collection";
        mp = NULL;
    }
    /* lockedm: always -1, no goroutine is locked to a thread (no
     * LockOSThread in rt.h) */
    rt__buf_printf(c->b, "  G%lld: status=%u(%s) m=%lld lockedm=-1\n",
                   (long long)__atomic_load_n(&gp->goid, __ATOMIC_RELAXED), st, wr ? wr : "",
                   /* (gp->m is stale once it parks; a G in a system
                    * call keeps its M, as Go's does) */
                   (long long)((st == RT_GRUNNING || st == RT_GSYSCALL) && mp ? mp->id : -1));
}

static void print_m(rt_m *mp, void *arg)
{
    gline_ctx *c = arg;
    /* (relaxed loads of fields their M writes: stale, never torn)
     * mallocing is 1 while the M is in the allocator's slow path (a cache
     * refill, a large object: the fast path does not pay for the flag),
     * helpgc while its goroutine does a mark assist (Go 1.3: an M helping
     * the collector mark; grt's mark threads are not Ms). */
    rt_p *pp = __atomic_load_n(&mp->p, __ATOMIC_RELAXED);
    rt_g *gp = __atomic_load_n(&mp->curg, __ATOMIC_RELAXED);
    /* An M in a system call: Go 1.3 keeps m->p (the P it hopes to take
     * back, even once sysmon handed it on) where grt keeps oldp. */
    if (pp == NULL)
        pp = __atomic_load_n(&mp->oldp, __ATOMIC_RELAXED);
    rt__buf_printf(c->b,
                   "  M%lld: p=%lld curg=%lld mallocing=%d throwing=%d gcing=%d "
                   "locks=%d dying=%d helpgc=%d spinning=%d blocked=%d "
                   "lockedg=%lld\n",
                   (long long)mp->id, (long long)(pp ? pp->id : -1),
                   (long long)(gp ? __atomic_load_n(&gp->goid, __ATOMIC_RELAXED) : -1),
                   __atomic_load_n(&mp->mallocing, __ATOMIC_RELAXED),
                   atomic_load_explicit(&mp->throwing, memory_order_relaxed),
                   gp != NULL && gp == c->collecting ? 1 : mp->gcing,
                   __atomic_load_n(&mp->locks, __ATOMIC_RELAXED), mp->dying,
                   __atomic_load_n(&mp->helpgc, __ATOMIC_RELAXED),
                   __atomic_load_n(&mp->spinning, __ATOMIC_RELAXED) ? 1 : 0,
                   0, -1LL);
}

void rt__schedtrace(int64_t now, bool detail)
{
    if (trace_start == 0)
        trace_start = now;
    rt__buf b;
    rt__buf_init(&b, 2);

    /* A dying process's dump (fatal.c's startpanic) may come from the
     * thread that holds the lock: one try, and racy reads without it. */
    bool dying = atomic_load_explicit(&rt__throwing, memory_order_relaxed) != 0;
    bool locked = true;
    if (dying)
        locked = rt__lock_try_dying(&rt__sched.lock);
    else
        rt__lock_acquire(&rt__sched.lock);
    int32_t procs = rt__sched.gomaxprocs;
    int32_t idleprocs = atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed);
    int32_t threads = rt__sched.mcount;
    /* the Ms of that count: the list only grows, at its head, under the
     * lock (newm), so from this head it holds exactly `threads` Ms */
    rt_m *allm = atomic_load_explicit(&rt__sched.allm, memory_order_acquire);
    int32_t idlethreads = rt__sched.nmidle;
    int32_t runqueue = atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed);
    int32_t spinning = atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed);
    int32_t stopwait = rt__sched.stopwait;
    int gcwaiting = atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed);
    uint32_t runq[256];
    for (int32_t i = 0; i < procs && i < 256; i++)
        runq[i] = rt__runq_count(rt__sched.allp[i]);
    if (dying && locked)
        rt__lock_release_dying(&rt__sched.lock);
    else if (!dying)
        rt__lock_release(&rt__sched.lock);

    rt__buf_printf(&b, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d "
                       "idlethreads=%d runqueue=%d",
                   (long long)((now - trace_start) / RT_MILLISECOND), procs,
                   idleprocs, threads, idlethreads, runqueue);
    if (!detail) {
        for (int32_t i = 0; i < procs; i++)
            rt__buf_printf(&b, "%s%u%s", i == 0 ? " [" : " ", runq[i],
                           i == procs - 1 ? "]\n" : "");
        rt__buf_flush(&b);
        return;
    }
    rt__buf_printf(&b, " gcwaiting=%d nmidlelocked=%d nmspinning=%d stopwait=%d "
                       "sysmonwait=%d\n",
                   gcwaiting, 0, spinning, stopwait, 0);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt_m *mp = __atomic_load_n(&pp->m, __ATOMIC_RELAXED); /* p_set_m */
        uint32_t pst = atomic_load_explicit(&pp->status, memory_order_relaxed);
        /* Go 1.3's entersyscall clears p->m and keeps m->p (print_m): a P
         * in a system call shows no M */
        if (pst == RT_PSYSCALL)
            mp = NULL;
        rt__buf_printf(&b,
                       "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld "
                       "runqsize=%u gfreecnt=%d\n",
                       pp->id, pst,
                       __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED),
                       atomic_load_explicit(&pp->syscalltick, memory_order_relaxed),
                       (long long)(mp ? mp->id : -1), rt__runq_count(pp),
                       __atomic_load_n(&pp->gfreecnt, __ATOMIC_RELAXED));
    }
    gline_ctx c = {&b, gcwaiting ? __atomic_load_n(&rt__gc_entry_g, __ATOMIC_RELAXED) : NULL};
    for (rt_m *mp = allm; mp != NULL; mp = mp->alllink)
        print_m(mp, &c);
    if (dying)
        rt__for_each_g_dying(print_g, &c);
    else
        rt__for_each_g(print_g, &c);
    rt__buf_flush(&b);
}
