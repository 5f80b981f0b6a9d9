/*
 * sched/chan.c -- channels: make, send, receive, close, len, cap.
 *
 * What
 *   A channel (struct rt_chan, sched/chan.h) is Go's hchan: a ring buffer of
 *   dataqsiz elements, two FIFOs of parked goroutines (recvq, sendq) and a
 *   closed flag, all behind one small runtime lock.  The operations are Go's
 *   (runtime/chan.go since 1.14):
 *
 *   send:  closed -> fatal.  A receiver is parked -> copy the value straight
 *          into its slot (its elem points into its own stack) and ready it.
 *          Room in the ring -> append.  Otherwise park on sendq with the
 *          value's address in a sudog on our own stack.
 *   recv:  a sender is parked -> unbuffered: copy from its stack; buffered
 *          (the ring is then full): take the head, put the sender's value at
 *          the tail, so FIFO order holds.  Ready the sender.  Else a value in
 *          the ring -> take it.  Else closed -> zero value, ok = false.
 *          Otherwise park on recvq.
 *   close: mark closed, then wake every parked receiver (zero value, ok
 *          false) and every parked sender (which then hits the fatal error
 *          "send on closed channel", as Go's panic).
 *
 * Why this design
 *   Direct hand-off: when a peer is already parked the value moves once,
 *   stack to stack, and the woken goroutine does not need to take the lock
 *   again.  Its sudog lives on its stack (grt stacks never move, so the
 *   waker may write into a parked goroutine's frame), which makes parking
 *   allocation-free.  rt__goready puts the woken goroutine on runnext of the
 *   waker's P, so a ping-pong pair stays on one P and hands the time slice
 *   back and forth, as in Go.
 *
 *   Parking uses rt__gopark with an unlock callback (chanparkcommit): the
 *   channel lock is released only after the goroutine has switched out, so a
 *   waker that dequeues the sudog can never ready a goroutine that is still
 *   running on its way into the park.
 *
 *   Wakers ready goroutines after releasing the channel lock.  close first
 *   collects the woken goroutines on a list linked through g->schedlink (a
 *   waiting goroutine is on no run queue, so the link is free) and readies
 *   them once the lock is dropped.
 *
 *   Non-blocking operations (try_send, try_recv, and select with a default)
 *   first look without the lock, as Go does: a try_send on an open, full
 *   channel and a try_recv on an open, empty one return at once.  The
 *   argument for each is in the functions below.
 *
 * Memory
 *   rt_chan_make allocates the header and the ring in one object of the
 *   garbage-collected heap (gc/), scanned (elements may hold pointers): a
 *   channel lives while anything reaches it -- a user's variable, or the
 *   stack of a goroutine blocked on it, whose sudog and frame name it.
 *
 * Rejected alternatives
 *   - A mutex + condition variable per channel (gccgo's first channels):
 *     blocks the thread, not the goroutine, and wakes every waiter.
 *   - Lock-free rings for buffered channels: fast for one producer and one
 *     consumer, but select, close and the parked-waiter queues still need a
 *     lock, and two protocols on one object are hard to reason about.  Go
 *     rejected it too (the "lock-free channels" design was never merged).
 *   - Heap-allocated sudogs with a per-P cache (Go's acquireSudog): needed in
 *     Go only because Go stacks move; ours do not.
 *
 * Invariants: see sched/chan.h.  Lock order: a channel lock is the highest
 * lock (rank 1 in sched.h); while holding it we take no other lock except
 * other channels' locks in address order (select.c) and, inside
 * rt__goready, none: readying happens after the unlock.
 */
#include "chan.h"

#include <stdlib.h>

/* ------------------------------------------------------ wait queues ---- */

void rt__waitq_enqueue(rt__waitq *q, rt_sudog *sg)
{
    rt_sudog *last = q->last;
    sg->next = NULL;
    sg->prev = last;
    if (last == NULL)
        atomic_store_explicit(&q->first, sg, memory_order_relaxed);
    else
        last->next = sg;
    q->last = sg;
}

rt_sudog *rt__waitq_dequeue(rt__waitq *q)
{
    for (;;) {
        rt_sudog *sg = atomic_load_explicit(&q->first, memory_order_relaxed);
        if (sg == NULL)
            return NULL;
        rt_sudog *next = sg->next;
        atomic_store_explicit(&q->first, next, memory_order_relaxed);
        if (next == NULL)
            q->last = NULL;
        else
            next->prev = NULL;
        /* Unlinked: next == prev == NULL and not first, which is how
         * rt__waitq_remove recognises it. */
        sg->next = NULL;
        sg->prev = NULL;
        /*
         * A select parks on several channels at once; the first waker to
         * flip g->selectdone 0 -> 1 owns it.  A loser finds the flag set and
         * skips the sudog; the select removes its remaining sudogs itself
         * once it runs again (select.c).  acq_rel: the winner's later writes
         * to the sudog (under this lock) and to g->param are published to
         * the woken goroutine by rt__goready; the CAS itself only has to be
         * atomic, but acq_rel keeps the reasoning local.
         */
        if (sg->isselect) {
            uint32_t zero = 0;
            if (!atomic_compare_exchange_strong_explicit(
                    &sg->g->selectdone, &zero, 1, memory_order_acq_rel,
                    memory_order_relaxed))
                continue;
        }
        return sg;
    }
}

void rt__waitq_remove(rt__waitq *q, rt_sudog *sg)
{
    rt_sudog *prev = sg->prev, *next = sg->next;
    if (prev != NULL) {
        if (next != NULL) {       /* middle */
            prev->next = next;
            next->prev = prev;
        } else {                  /* last */
            prev->next = NULL;
            q->last = prev;
        }
    } else if (next != NULL) {    /* first of several */
        next->prev = NULL;
        atomic_store_explicit(&q->first, next, memory_order_relaxed);
    } else if (atomic_load_explicit(&q->first, memory_order_relaxed) == sg) {
        /* the only one */
        atomic_store_explicit(&q->first, NULL, memory_order_relaxed);
        q->last = NULL;
    } else {
        return;                   /* already dequeued by a waker */
    }
    sg->next = NULL;
    sg->prev = NULL;
}

/* -------------------------------------------------------- hand-offs ---- */

void rt__chan_bufsend(rt_chan *c, const void *elem)
{
    size_t n = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    rt__assert(n < c->dataqsiz);
    rt__chan_copy(c, rt__chanbuf(c, c->sendx), elem);
    if (++c->sendx == c->dataqsiz)
        c->sendx = 0;
    atomic_store_explicit(&c->qcount, n + 1, memory_order_relaxed);
}

void rt__chan_bufrecv(rt_chan *c, void *elem)
{
    size_t n = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    rt__assert(n > 0);
    void *qp = rt__chanbuf(c, c->recvx);
    if (elem != NULL)
        rt__chan_copy(c, elem, qp);
    /* Clear the slot so that a future collector scanning the ring does not
     * keep the old value alive. */
    rt__chan_copy(c, qp, NULL);
    if (++c->recvx == c->dataqsiz)
        c->recvx = 0;
    atomic_store_explicit(&c->qcount, n - 1, memory_order_relaxed);
}

rt_g *rt__chan_send_direct(rt_chan *c, rt_sudog *sg, const void *elem)
{
    if (sg->elem != NULL) {
        rt__chan_copy(c, sg->elem, elem);
        sg->elem = NULL;
    }
    sg->success = true;
    rt_g *gp = sg->g;
    gp->param = sg;
    return gp;
}

rt_g *rt__chan_recv_direct(rt_chan *c, rt_sudog *sg, void *elem)
{
    if (c->dataqsiz == 0) {
        if (elem != NULL)
            rt__chan_copy(c, elem, sg->elem);
    } else {
        /* A sender only waits on a full ring: take its head, put the
         * sender's value in the freed slot, which is the new tail. */
        rt__assert(atomic_load_explicit(&c->qcount, memory_order_relaxed) ==
                   c->dataqsiz);
        void *qp = rt__chanbuf(c, c->recvx);
        if (elem != NULL)
            rt__chan_copy(c, elem, qp);
        rt__chan_copy(c, qp, sg->elem);
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    sg->elem = NULL;
    sg->success = true;
    rt_g *gp = sg->g;
    gp->param = sg;
    return gp;
}

/* ------------------------------------------------------------- make ---- */

/* The header padded so that the ring is aligned for any element type. */
#define HCHAN_SIZE                                                            \
    ((sizeof(struct rt_chan) + alignof(max_align_t) - 1) &                    \
     ~(alignof(max_align_t) - 1))

rt_chan *rt_chan_make(size_t elem_size, size_t cap)
{
    size_t mem;
    if (__builtin_mul_overflow(elem_size, cap, &mem) ||
        mem > SIZE_MAX / 2 - HCHAN_SIZE)
        rt__throw("makechan: size out of range");
    /* Zeroed (zero values in the ring); large rings get fresh pages, paid
     * for only when touched. */
    rt_chan *c = rt__gc_alloc_chan(HCHAN_SIZE + mem);
    c->elemsize = elem_size;
    c->dataqsiz = cap;
    c->buf = (unsigned char *)c + HCHAN_SIZE;
    return c;
}

size_t rt_chan_len(rt_chan *c)
{
    if (c == NULL)
        return 0;
    return atomic_load_explicit(&c->qcount, memory_order_relaxed);
}

size_t rt_chan_cap(rt_chan *c)
{
    return c == NULL ? 0 : c->dataqsiz;
}

/* ------------------------------------------------------------- park ---- */

/* The unlock callback of a channel park: runs after the goroutine has
 * switched out, so from here on a waker may ready it. */
static bool chanparkcommit(rt_g *gp, void *arg)
{
    (void)gp;
    rt__lock_release(&((rt_chan *)arg)->lock);
    return true;
}

/* Parks the calling goroutine on q with sg (initialised by the caller) and
 * returns once a waker has readied it; c->lock is held on entry and
 * released by the park. */
static void park_on(rt_chan *c, rt__waitq *q, rt_sudog *sg, const char *reason)
{
    rt_g *gp = sg->g;
    gp->waiting = sg;
    gp->param = NULL;
    rt__waitq_enqueue(q, sg);
    rt__gopark(chanparkcommit, c, reason);
    /* Woken: the waker dequeued sg and set param under c->lock. */
    if (rt__unlikely(gp->param != sg))
        rt__throw("chan: woken by a stranger");
    gp->param = NULL;
    gp->waiting = NULL;
}

/* ------------------------------------------------------------- send ---- */

/* Whether a send would block right now, read without the lock: the
 * channel has no room, or (unbuffered) nobody waits to receive. */
static bool full(rt_chan *c)
{
    if (c->dataqsiz == 0)
        return atomic_load(&c->recvq.first) == NULL;
    return atomic_load(&c->qcount) == c->dataqsiz;
}

/* Whether a receive would block right now, read without the lock. */
static bool empty(rt_chan *c)
{
    if (c->dataqsiz == 0)
        return atomic_load(&c->sendq.first) == NULL;
    return atomic_load(&c->qcount) == 0;
}

/*
 * c <- *elem.  block false: return false instead of parking.  Kept out of
 * line so that the block profile's stacks have a fixed shape: the skip of
 * 2 passed to rt__block_event drops this frame and leaves the public
 * caller (rt_chan_send) on top, as Go's profiles show runtime.chansend1.
 */
static __attribute__((noinline)) bool chansend(rt_chan *c, const void *elem,
                                                bool block)
{
    if (c == NULL) {
        if (!block)
            return false;
        rt__gopark(NULL, NULL, RT_WAIT_CHAN_SEND_NIL);
        rt__throw("unreachable: woke from a nil channel send");
    }

    /*
     * Fast path of a failing non-blocking send, without the lock.  Reading
     * closed and then full() is enough although they are two reads: a
     * closed channel never becomes ready for sending again, so if we saw
     * "not closed" and then "full", there was a moment when the channel was
     * both open and full, and reporting "would block" is correct for that
     * moment (Go's argument in chansend).  A send on a closed channel takes
     * the slow path and fails loudly there.
     */
    if (!block && atomic_load(&c->closed) == 0 && full(c))
        return false;

    int64_t t0 = block ? rt__chan_block_start() : 0;

    rt__lock_acquire(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release(&c->lock);
        rt__throw("send on closed channel");
    }
    rt_sudog *sg = rt__waitq_dequeue(&c->recvq);
    if (sg != NULL) {
        rt_g *gp = rt__chan_send_direct(c, sg, elem);
        rt__lock_release(&c->lock);
        rt__goready(gp);
        return true;
    }
    if (atomic_load_explicit(&c->qcount, memory_order_relaxed) < c->dataqsiz) {
        rt__chan_bufsend(c, elem);
        rt__lock_release(&c->lock);
        return true;
    }
    if (!block) {
        rt__lock_release(&c->lock);
        return false;
    }

    /* Park.  The receiver (or close) reads *elem from our stack. */
    rt_sudog mysg = {
        .g = rt__getg(),
        .elem = (void *)elem, /* only read by the receiver */
        .c = c,
    };
    park_on(c, &c->sendq, &mysg, RT_WAIT_CHAN_SEND);
    if (t0 != 0)
        rt__block_event(t0, 2);
    if (!mysg.success)
        rt__throw("send on closed channel"); /* woken by close */
    return true;
}

void rt_chan_send(rt_chan *c, const void *elem)
{
    chansend(c, elem, true);
    /* Not a tail call: this frame must stay on the stack for the block
     * profile (see chansend). */
    __asm__ volatile("" ::: "memory");
}

bool rt_chan_try_send(rt_chan *c, const void *elem)
{
    return chansend(c, elem, false);
}

/* ---------------------------------------------------------- receive ---- */

/*
 * v, ok := <-c.  Returns whether a value or a close was taken ("selected");
 * *ok tells which.  block false: return false instead of parking.  Out of
 * line for the same reason as chansend.
 */
static __attribute__((noinline)) bool chanrecv(rt_chan *c, void *elem,
                                                bool block, bool *ok)
{
    *ok = false;
    if (c == NULL) {
        if (!block)
            return false;
        rt__gopark(NULL, NULL, RT_WAIT_CHAN_RECV_NIL);
        rt__throw("unreachable: woke from a nil channel receive");
    }

    /*
     * Fast path of a non-blocking receive, without the lock (Go's
     * argument in chanrecv).  The three loads are seq_cst so that they
     * happen in program order:
     *   1. empty, then 2. not closed: there was a moment when the channel
     *      was empty and open (closed only goes 0 -> 1), so "would block"
     *      is a correct answer for that moment.
     *   2'. closed, then 3. still empty: nothing can be sent after close,
     *      so the channel is closed and drained for good: zero value, ok
     *      false.  (If it was not empty at 1, we take the slow path.)
     */
    if (!block && empty(c)) {
        if (atomic_load(&c->closed) == 0)
            return false;
        if (empty(c)) {
            if (elem != NULL)
                rt__chan_copy(c, elem, NULL);
            return true;
        }
    }

    int64_t t0 = block ? rt__chan_block_start() : 0;

    rt__lock_acquire(&c->lock);
    rt_sudog *sg = rt__waitq_dequeue(&c->sendq);
    if (sg != NULL) {
        rt_g *gp = rt__chan_recv_direct(c, sg, elem);
        rt__lock_release(&c->lock);
        rt__goready(gp);
        *ok = true;
        return true;
    }
    if (atomic_load_explicit(&c->qcount, memory_order_relaxed) > 0) {
        rt__chan_bufrecv(c, elem);
        rt__lock_release(&c->lock);
        *ok = true;
        return true;
    }
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release(&c->lock);
        if (elem != NULL)
            rt__chan_copy(c, elem, NULL);
        return true;
    }
    if (!block) {
        rt__lock_release(&c->lock);
        return false;
    }

    /* Park.  A sender (or close) writes straight into *elem. */
    rt_sudog mysg = {
        .g = rt__getg(),
        .elem = elem,
        .c = c,
    };
    park_on(c, &c->recvq, &mysg, RT_WAIT_CHAN_RECV);
    if (t0 != 0)
        rt__block_event(t0, 2);
    *ok = mysg.success;
    return true;
}

bool rt_chan_recv(rt_chan *c, void *elem)
{
    bool ok;
    chanrecv(c, elem, true, &ok);
    return ok;
}

int rt_chan_try_recv(rt_chan *c, void *elem)
{
    bool ok;
    if (!chanrecv(c, elem, false, &ok))
        return -EAGAIN;
    return ok ? 1 : 0;
}

/* ------------------------------------------------------------ close ---- */

void rt_chan_close(rt_chan *c)
{
    if (c == NULL)
        rt__throw("close of nil channel");

    rt__lock_acquire(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release(&c->lock);
        rt__throw("close of closed channel");
    }
    /* release: pairs with the lock-free reads of the fast paths. */
    atomic_store_explicit(&c->closed, 1, memory_order_release);

    rt_g *glist = NULL;
    rt_sudog *sg;
    /* Receivers get the zero value and ok == false. */
    while ((sg = rt__waitq_dequeue(&c->recvq)) != NULL) {
        if (sg->elem != NULL) {
            rt__chan_copy(c, sg->elem, NULL);
            sg->elem = NULL;
        }
        sg->success = false;
        rt_g *gp = sg->g;
        gp->param = sg;
        gp->schedlink = glist;
        glist = gp;
    }
    /* Senders wake up with success == false and throw. */
    while ((sg = rt__waitq_dequeue(&c->sendq)) != NULL) {
        sg->elem = NULL;
        sg->success = false;
        rt_g *gp = sg->g;
        gp->param = sg;
        gp->schedlink = glist;
        glist = gp;
    }
    rt__lock_release(&c->lock);

    /* Ready them with the lock dropped.  Read the link before readying:
     * once ready, gp may run and reuse schedlink. */
    while (glist != NULL) {
        rt_g *gp = glist;
        glist = gp->schedlink;
        gp->schedlink = NULL;
        rt__goready(gp);
    }
}
