/*
 * sched/select.c -- select over any mix of send and receive cases.
 *
 * What
 *   rt_select is Go's selectgo (runtime/select.go).  In four steps:
 *
 *   1. Orders.  pollorder: the non-nil cases in a uniformly random order
 *      (an inside-out Fisher-Yates shuffle drawing from rt__fastrandn).
 *      lockorder: the same cases sorted by channel address (heap sort: no
 *      recursion, O(n log n) also for huge n, and no allocation).  Cases on
 *      a nil channel are left out of both: they can never proceed.
 *   2. Lock every distinct channel in lockorder and walk pollorder; the
 *      first case that can proceed at once (a parked peer or a closed
 *      channel for an unbuffered case; for a buffered one, the lock-free
 *      ring operation succeeding or finding the channel closed) wins.
 *      Because the walk is in random order, every ready case is chosen
 *      with equal probability.  With no winner and block == false: unlock,
 *      return -1.
 *   3. Otherwise enqueue one sudog per case (an array on this goroutine's
 *      stack, linked in lockorder through waitlink and hung on g->waiting)
 *      on each channel's sendq or recvq.  Buffered cases then need the
 *      waiter's half of chan.c's wake-up handshake: a seq_cst fence and a
 *      look at each ring; if one can proceed now (its peer changed it
 *      after the poll and before our sudog was visible), take the sudogs
 *      off again and poll again.  Otherwise park with reason "select".
 *      The unlock callback (selparkcommit) releases the channel locks only
 *      after we have switched out.
 *   4. Woken: lock everything again, find the sudog the waker used
 *      (g->param), take every other sudog off its queue.  An unbuffered
 *      case was completed by its waker: unlock and return its index (a
 *      receive reports ok = sg->success, false when close woke us; a send
 *      woken by close is fatal).  A buffered case's waker only says "try
 *      again" (chan.c): back to step 2, that case polled first (with the
 *      others in their random order after it, should the ring have been
 *      taken by a newcomer in between).
 *
 * Deciding the winner: g->selectdone (Go <= 1.16 style)
 *   While parked, the select is on several queues at once, and wakers on
 *   different channels (holding different locks) may find its sudogs
 *   concurrently.  Each waker, in rt__waitq_dequeue (chan.c), must CAS
 *   g->selectdone from 0 to 1 before it may use a select's sudog; exactly
 *   one wins, the others drop the sudog and look further down their queue.
 *   The flag is reset to 0 in step 4 while every involved channel lock is
 *   held, so no waker can be between its dequeue and its CAS at that moment,
 *   and the next select starts clean.
 *   Go >= 1.17 keeps this CAS in dequeue too; what it changed around it is
 *   the stack-shrinking protocol (parkingOnChan, activeStackChans), which
 *   grt does not need because its stacks never move.  The alternative of
 *   deciding the winner only through the channel locks (a waker would take
 *   all of the select's locks before touching it) was rejected: it needs
 *   the waker to know the other channels and to take them in address order
 *   while already holding its own, i.e. drop and retake, which is slower
 *   and far harder to get right than one CAS.
 *
 * Why this design
 *   - Address-ordered locking (each distinct channel once, duplicates are
 *     adjacent after the sort) is a global order, so two selects over
 *     overlapping channels cannot deadlock, and a plain send/recv (one lock)
 *     fits in the same order.
 *   - The lock set is held across the whole poll, so the choice is atomic:
 *     a case seen ready is taken before anyone else can change it.
 *   - Sudogs on the stack: no allocation for up to SMALL_CASES cases; above
 *     that one malloc holds the orders and the sudogs (goroutine stacks are
 *     256 KiB and a sudog is ~100 bytes, so thousands of cases would not
 *     fit safely on the stack).
 *
 * Rejected alternatives
 *   - One global select lock (Go before 1.0 had something close): serialises
 *     every select in the program.
 *   - Locking channels in case order with try-lock and back-off: livelocks
 *     under contention and is unfair.
 *   - Choosing by a random start index and walking round-robin: not uniform
 *     when ready cases cluster (case after a long run of unready ones wins
 *     more often).
 *
 * Invariants
 *   - Between steps 3 and 4 the sudogs of this select are queued exactly on
 *     the channels of its non-nil cases; outside them on none.
 *   - g->selectdone is 0 whenever the goroutine is not parked in a select.
 *   - Nothing touches the sudog array after the last channel lock of
 *     selparkcommit is released (the goroutine may then be running again
 *     and about to return).
 *
 * A select of one case is not a select: rt_select hands it to that case's
 * channel operation (chan.c, rt__chan_select1), as Go's compiler does --
 * same cost as rt_chan_send/recv or their try_ forms, and their wait
 * reason.
 */
#include "chan.h"

#include <stdlib.h>

/* Cases handled without malloc. */
#define SMALL_CASES 16

static rt_chan *case_chan(const rt_select_case *cases, uint32_t k)
{
    return cases[k].chan;
}

/* Sorts order[0..n) by channel address (duplicates end up next to each
 * other, which is all sellock needs from equal keys).  Up to SMALL_CASES
 * an insertion sort of the cases in their own order: a loop selects over
 * the same channels every time, so its branches repeat and predict, where
 * the heap sort of the shuffled poll order that Go uses took a third of a
 * select over 8 buffered channels (an outside tester's fan-in, 1.5x Go's
 * time at MAXPROCS=1).  Beyond, a heap sort: no recursion, O(n log n). */
static void sort_lockorder(const rt_select_case *cases, uint32_t *order,
                           uint32_t n)
{
    if (n <= SMALL_CASES) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t k = order[i];
            uintptr_t ck = (uintptr_t)case_chan(cases, k);
            uint32_t j = i;
            while (j > 0 && (uintptr_t)case_chan(cases, order[j - 1]) > ck) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = k;
        }
        goto check;
    }
    /* Build a max-heap, sifting each new element up. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = i;
        uint32_t k = order[i];
        uintptr_t ck = (uintptr_t)case_chan(cases, k);
        while (j > 0) {
            uint32_t parent = (j - 1) / 2;
            if ((uintptr_t)case_chan(cases, order[parent]) >= ck)
                break;
            order[j] = order[parent];
            j = parent;
        }
        order[j] = k;
    }
    /* Repeatedly move the maximum to the end and sift the new root down. */
    for (uint32_t i = n; i-- > 1;) {
        uint32_t k = order[i];
        uintptr_t ck = (uintptr_t)case_chan(cases, k);
        order[i] = order[0];
        uint32_t j = 0;
        for (;;) {
            uint32_t child = 2 * j + 1;
            if (child >= i)
                break;
            if (child + 1 < i &&
                (uintptr_t)case_chan(cases, order[child]) <
                    (uintptr_t)case_chan(cases, order[child + 1]))
                child++;
            if (ck >= (uintptr_t)case_chan(cases, order[child]))
                break;
            order[j] = order[child];
            j = child;
        }
        order[j] = k;
    }
check:
    if (RT_DEBUG >= 2) {
        for (uint32_t i = 1; i < n; i++)
            rt__assert_lvl(2, (uintptr_t)case_chan(cases, order[i - 1]) <=
                                  (uintptr_t)case_chan(cases, order[i]));
    }
}

static void sellock(const rt_select_case *cases, const uint32_t *lockorder,
                    uint32_t n)
{
    rt_chan *last = NULL;
    for (uint32_t i = 0; i < n; i++) {
        rt_chan *c = case_chan(cases, lockorder[i]);
        if (c != last)
            rt__lock_acquire(&c->lock);
        last = c;
    }
}

/* Unlocks in reverse lock order, each distinct channel once.  Only for a
 * running select (the goroutine's own frame stays valid throughout). */
static void selunlock(const rt_select_case *cases, const uint32_t *lockorder,
                      uint32_t n)
{
    for (uint32_t i = n; i-- > 0;) {
        rt_chan *c = case_chan(cases, lockorder[i]);
        if (i > 0 && c == case_chan(cases, lockorder[i - 1]))
            continue;
        rt__lock_release(&c->lock);
    }
}

/*
 * The unlock callback of a select park; runs on the next context after
 * gp switched out.  gp->waiting lists the sudogs in lock order.  Once a
 * lock is released a waker may ready gp, and gp may run on another M; it
 * then blocks in step 4's sellock on a lock we still hold, so walking the
 * list is safe until the last release, after which nothing is touched.
 */
static bool selparkcommit(rt_g *gp, void *arg)
{
    (void)arg;
    rt_chan *lastc = NULL;
    for (rt_sudog *sg = gp->waiting; sg != NULL; sg = sg->waitlink) {
        if (sg->c != lastc && lastc != NULL)
            rt__lock_release(&lastc->lock);
        lastc = sg->c;
    }
    if (lastc != NULL)
        rt__lock_release(&lastc->lock);
    return true;
}

/*
 * Step 2: the first case in pollorder that can proceed, done; every channel
 * locked on entry.  Returns its index with the locks released (and the
 * peer it woke readied), or -1 with the locks still held.
 */
static int selpoll(rt_select_case *cases, const uint32_t *pollorder,
                const uint32_t *lockorder, uint32_t norder)
{
    for (uint32_t i = 0; i < norder; i++) {
        uint32_t k = pollorder[i];
        rt_select_case *cas = &cases[k];
        rt_chan *c = cas->chan;
        rt_sudog *sg;
        rt_g *gp = NULL;
        bool pushed = false;
        bool ring = c->ring != NULL;
        if (ring) {
            /* Buffered: the ring, as a non-blocking send or receive does.
             * We hold c->lock, so a peer to wake is dequeued here. */
            int r;
            if (cas->dir == RT_SELECT_RECV) {
                r = rt__chanring_pop(c, cas->elem);
                if (r == RT__RING_BLOCK)
                    continue;
                if (r == RT__RING_OK)
                    gp = rt__chan_wake_sender_locked(c, &pushed);
                else if (cas->elem != NULL)
                    rt__chan_copy(c, cas->elem, NULL);
                cas->ok = r == RT__RING_OK;
            } else {
                r = rt__chanring_push(c, cas->elem);
                if (r == RT__RING_BLOCK)
                    continue;
                if (r == RT__RING_CLOSED) {
                    selunlock(cases, lockorder, norder);
                    rt__throw("send on closed channel");
                }
                gp = rt__chan_wake_locked(&c->recvq);
            }
        } else if (cas->dir == RT_SELECT_RECV) {
            if ((sg = rt__waitq_dequeue(&c->sendq)) != NULL) {
                gp = rt__chan_recv_direct(c, sg, cas->elem);
                cas->ok = true;
            } else if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
                if (cas->elem != NULL)
                    rt__chan_copy(c, cas->elem, NULL);
                cas->ok = false;
            } else {
                continue;
            }
        } else {
            if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
                selunlock(cases, lockorder, norder);
                rt__throw("send on closed channel");
            }
            if ((sg = rt__waitq_dequeue(&c->recvq)) == NULL)
                continue;
            gp = rt__chan_send_direct(c, sg, cas->elem);
        }
        selunlock(cases, lockorder, norder);
        /* A buffered channel's peer is readied as a plain receive or
         * send readies it (chan.c): into this P's runnext without waking
         * an idle P when it is the only one queued -- this goroutine
         * usually blocks or selects again soon.  Woken the unbuffered way,
         * a select loop draining a channel that one sender keeps full
         * woke the sender's idle P through a futex every 50 iterations or
         * so: 27 % of the program's CPU (an outside tester's
         * select-with-rt_after loop, 1.5x Go's time). */
        if (gp != NULL) {
            if (ring)
                rt__goready_handoff(gp);
            else
                rt__goready(gp);
        }
        if (pushed)
            rt__chan_wake(c, &c->recvq); /* for the value pushed for a sender */
        return (int)k;
    }
    return -1;
}

/* Step 3: one sudog per case on its channel's queue, linked in lock order
 * on gp->waiting; every channel locked. */
static void enqueue_all(rt_select_case *cases, const uint32_t *lockorder,
                        uint32_t norder, rt_sudog *sudogs, rt_g *gp)
{
    rt__assert(atomic_load_explicit(&gp->selectdone, memory_order_relaxed) == 0);
    rt_sudog **nextp = &gp->waiting;
    for (uint32_t i = 0; i < norder; i++) {
        rt_select_case *cas = &cases[lockorder[i]];
        rt_sudog *sg = &sudogs[i];
        /* A buffered case's waker never touches elem (it only wakes). */
        *sg = (rt_sudog){
            .g = gp,
            .isselect = true,
            .elem = cas->chan->ring != NULL ? NULL : cas->elem,
            .c = cas->chan,
        };
        *nextp = sg;
        nextp = &sg->waitlink;
        rt__waitq_enqueue(cas->dir == RT_SELECT_RECV ? &cas->chan->recvq
                                                     : &cas->chan->sendq,
                          sg);
    }
    *nextp = NULL;
}

/* Whether a buffered case can proceed now (after enqueue_all and a
 * seq_cst fence). */
static bool any_ring_ready(rt_select_case *cases, const uint32_t *lockorder,
                           uint32_t norder)
{
    for (uint32_t i = 0; i < norder; i++) {
        rt_select_case *cas = &cases[lockorder[i]];
        rt_chan *c = cas->chan;
        if (c->ring == NULL)
            continue;
        if (cas->dir == RT_SELECT_RECV ? rt__chanring_can_recv(c)
                                       : rt__chanring_can_send(c))
            return true;
    }
    return false;
}

/* Takes every sudog of gp's select off its queue except won (NULL: all),
 * every channel locked; returns won's case index (-1 if won is not one of
 * them). */
static int dequeue_all(rt_select_case *cases, const uint32_t *lockorder,
                       uint32_t norder, rt_g *gp, rt_sudog *won)
{
    int casi = -1;
    rt_sudog *sg = gp->waiting;
    for (uint32_t i = 0; i < norder; i++, sg = sg->waitlink) {
        uint32_t k = lockorder[i];
        rt_select_case *cas = &cases[k];
        if (sg == won) {
            casi = (int)k;
            continue;
        }
        rt__waitq_remove(cas->dir == RT_SELECT_RECV ? &cas->chan->recvq
                                                    : &cas->chan->sendq,
                         sg);
    }
    gp->waiting = NULL;
    return casi;
}

/* Scratch space of one select: orders and (if it blocks) sudogs. */
typedef struct scratch {
    uint32_t *pollorder, *lockorder;
    rt_sudog *sudogs; /* indexed by position in lockorder */
    void *heap;       /* malloc'd block for large n, or NULL */
} scratch;

/*
 * Kept out of line, with rt_select as its only caller, so that the block
 * profile's skip of 2 leaves rt_select on top of the recorded stack.
 */
static __attribute__((noinline)) int selectgo(rt_select_case *cases, int n,
                                              bool block, scratch *s)
{
    uint32_t *pollorder = s->pollorder, *lockorder = s->lockorder;

    /* 1. Orders: shuffle the non-nil cases; sort them, in case order, by
     * address.  The draws come from this M's generator, inline (no switch
     * can happen here): a call per case was 5 % of a select over 8. */
    rt_m *mp = rt__getm();
    uint64_t seed, *rs = &seed;
    if (mp != NULL)
        rs = &mp->fastrand;
    else
        seed = ((uint64_t)rt__fastrand() << 32) | rt__fastrand();
    uint32_t norder = 0;
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        rt_select_case *cas = &cases[i];
        if (cas->chan == NULL)
            continue;
        if (rt__unlikely(cas->dir != RT_SELECT_SEND &&
                         cas->dir != RT_SELECT_RECV))
            rt__throwf("select: case %u has bad direction %d", i, cas->dir);
        uint32_t j = (uint32_t)(((uint64_t)(uint32_t)rt__wyrand(rs) * (norder + 1)) >> 32);
        pollorder[norder] = pollorder[j];
        pollorder[j] = i;
        lockorder[norder] = i;
        norder++;
    }
    sort_lockorder(cases, lockorder, norder);

    int64_t t0 = block ? rt__chan_block_start() : 0;
    bool parked = false;
    rt_g *gp = rt__getg();
    sellock(cases, lockorder, norder);

    for (;;) {
        /* 2. Poll in random order with every channel locked. */
        int casi = selpoll(cases, pollorder, lockorder, norder);
        if (casi >= 0) {
            if (parked && t0 != 0)
                rt__block_event(t0, 2);
            return casi;
        }
        if (!block) {
            selunlock(cases, lockorder, norder);
            return -1;
        }

        /* 3. Enqueue on every channel, in lock order, and park. */
        if (rt__unlikely(gp == NULL)) { /* a thread the runtime did not create */
            selunlock(cases, lockorder, norder);
            rt__throw("select: not on a goroutine");
        }
        enqueue_all(cases, lockorder, norder, s->sudogs, gp);
        /* A buffered case whose ring changed since its poll and whose
         * peer did not see our sudog: the waiter's half of chan.c's
         * wake-up handshake.  Poll again instead of parking. */
        atomic_thread_fence(memory_order_seq_cst);
        if (any_ring_ready(cases, lockorder, norder)) {
            dequeue_all(cases, lockorder, norder, gp, NULL);
            continue;
        }
        gp->param = NULL;
        /* With no non-nil case nothing can wake us: park forever, like Go. */
        rt__gopark(selparkcommit, NULL, RT_WAIT_SELECT);
        parked = true;

        /* 4. Woken by the winner's waker.  Undo the losers. */
        sellock(cases, lockorder, norder);
        /* Every channel we are queued on is locked: no waker is between its
         * dequeue and its CAS, so the flag can be cleared (relaxed: the
         * releases of these locks publish it to the next wakers). */
        atomic_store_explicit(&gp->selectdone, 0, memory_order_relaxed);
        rt_sudog *won = gp->param;
        gp->param = NULL;
        bool success = false;
        casi = dequeue_all(cases, lockorder, norder, gp, won);
        if (rt__unlikely(casi < 0))
            rt__throw("select: bad wakeup");
        success = won->success;

        rt_select_case *cas = &cases[casi];
        if (cas->chan->ring != NULL) {
            /* A buffered channel's waker only says "try again": poll
             * again, its case first (if it lost its value, or its slot, to
             * a newcomer, the others are polled in their random order). */
            for (uint32_t i = 0; i < norder; i++)
                if (pollorder[i] == (uint32_t)casi) {
                    memmove(pollorder + 1, pollorder, i * sizeof *pollorder);
                    pollorder[0] = (uint32_t)casi;
                    break;
                }
            continue;
        }
        if (cas->dir == RT_SELECT_SEND && !success) {
            selunlock(cases, lockorder, norder);
            rt__throw("send on closed channel"); /* woken by close */
        }
        if (cas->dir == RT_SELECT_RECV)
            cas->ok = success;
        selunlock(cases, lockorder, norder);
        if (t0 != 0)
            rt__block_event(t0, 2);
        return casi;
    }
}

static int select_impl(rt_select_case *cases, int n, bool block);

int rt_select(rt_select_case *cases, int n, bool block)
{
    int i = select_impl(cases, n, block);
    rt__preempt_point();
    return i;
}

static int select_impl(rt_select_case *cases, int n, bool block)
{
    rt__foreign_note(); /* a thread outside the runtime: a root (foreign.c) */
    if (rt__unlikely(n < 0 || (n > 0 && cases == NULL)))
        rt__throwf("select: bad case list (%d cases at %p)", n, (void *)cases);
    if (n == 0) {
        if (!block)
            return -1;
        rt__gopark(NULL, NULL, RT_WAIT_SELECT_NO_CASES);
        rt__throw("unreachable: woke from select (no cases)");
    }
    if (n == 1 && (cases[0].dir == RT_SELECT_SEND || cases[0].dir == RT_SELECT_RECV))
        return rt__chan_select1(cases, block) ? 0 : -1; /* (chan.c says why) */

    uint32_t small_orders[2 * SMALL_CASES];
    rt_sudog small_sudogs[SMALL_CASES];
    scratch s;
    if (n <= SMALL_CASES) {
        s.pollorder = small_orders;
        s.lockorder = small_orders + SMALL_CASES;
        s.sudogs = small_sudogs;
        s.heap = NULL;
    } else {
        size_t un = (size_t)n;
        s.heap = malloc(un * sizeof(rt_sudog) + 2 * un * sizeof(uint32_t));
        if (s.heap == NULL)
            rt__throw("select: out of memory");
        s.sudogs = s.heap;
        s.pollorder = (uint32_t *)(s.sudogs + un);
        s.lockorder = s.pollorder + un;
    }
    int r = selectgo(cases, n, block, &s);
    free(s.heap);
    return r;
}
