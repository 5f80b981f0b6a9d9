/*
 * sched/chan.c -- channels: make, send, receive, close, len, cap.
 *
 * What
 *   A channel (struct rt_chan, sched/chan.h) is Go's hchan with one change:
 *   the ring of a buffered channel is lock-free.  Two kinds, one type:
 *
 *   Unbuffered (Go's runtime/chan.go since 1.14, under the channel lock):
 *   send:  closed -> fatal.  A receiver is parked -> copy the value straight
 *          into its slot (its elem points into its own stack) and ready it.
 *          Otherwise park on sendq with the value's address in a sudog on
 *          our own stack.
 *   recv:  a sender is parked -> copy from its stack and ready it.  Else
 *          closed -> zero value, ok = false.  Otherwise park on recvq.
 *
 *   Buffered (the ring: a bounded MPMC queue with a stamp per slot, as
 *   Vyukov's and crossbeam's array channel; positions in chan.h):
 *   send:  claim the tail position with one CAS if its slot is free, write
 *          the value, publish it with the slot's stamp.  Tail carries the
 *          closed mark: a send that finds it claims nothing and is fatal.
 *          Then wake one parked receiver, if there is one.
 *   recv:  claim the head position with one CAS if its slot holds a value,
 *          copy it out, free the slot with its stamp, wake one parked
 *          sender if any.  An empty ring whose tail carries the mark is
 *          closed and drained: zero value, ok = false.
 *   A full (empty) ring: spin a little, then park on sendq (recvq) and,
 *   once woken, try again (ring_block) -- unless the peer that woke us
 *   did the operation for us, as Go's peers do (below).
 *
 *   close: under the lock, mark closed (buffered: set the mark bit in tail)
 *          and wake every parked receiver and sender.  Unbuffered receivers
 *          get the zero value and ok false, senders the fatal error "send
 *          on closed channel", as Go's panic; buffered ones try again and
 *          find the same (receivers drain what the ring still holds first).
 *
 * Why this design
 *   The ring.  With a lock, each operation of a producer and a consumer on
 *   two CPUs moves the lock's cache line, and the two collide on it (under
 *   load the loser sleeps in the kernel); the lock-based version cost 56 ns
 *   a value on workload 3 (BENCHMARKS.md), 1.6x Go.  The ring costs one CAS
 *   on a line only the senders (receivers) write, plus the slot's line,
 *   shared with the peer once per several values; the channel header is
 *   only read, and written only when someone parks.  A receiver never has
 *   to wait for a sender except inside the few instructions between its
 *   CAS and its stamp store, which run in a no-stop region (the collector
 *   cannot stop a thread there, see ring_enter) and back off to
 *   sched_yield if that thread was preempted.
 *
 *   Waking: "try again", not a direct hand-off.  A parked goroutine's sudog
 *   holds no value for a buffered channel; the peer that pushed (popped)
 *   only dequeues it under the lock and readies it, and it retries its own
 *   operation.  A hand-off would have to take a value out of (or put one
 *   into) the ring on someone else's behalf under the lock, racing with the
 *   lock-free peers and, for a select, after its selectdone CAS has already
 *   chosen that case -- a case that can then no longer fail.  Retrying
 *   keeps one rule for selects: only the goroutine whose operation it is
 *   touches the ring for it.  A retrying goroutine that loses the ring to
 *   a newcomer re-queues at the head, keeping its turn.
 *
 *   Plain waiters (a blocked rt_chan_send/recv, not a select's case) are
 *   served as Go serves them, because retrying alone let woken waiters
 *   overtake each other in whatever order they happened to run (an
 *   outside tester's find: six senders parked in turn came out 0 1 3 4 5
 *   2, five parked receivers got 2 3 4 0 1, and a try_send next to a
 *   parked receiver filled the ring where Go's hands over and leaves it
 *   empty).  Such a sudog carries its elem and ringwait; under the lock:
 *     - a receive that took a value out of the ring pushes the first
 *       parked sender's value into the freed slot for it (Go moves it into
 *       the buffer: len stays at cap, senders go in parking order), then
 *       readies it done (handed); if a newcomer took the slot first, the
 *       sender only retries (rt__chan_wake_sender_locked);
 *     - a send that sees a receiver parked (one relaxed load before its
 *       push) and finds, under the lock, the first one plain and the ring
 *       empty copies the value straight to it (ring_send_direct) -- never
 *       past values already in the ring, so one sender's values keep
 *       their order.
 *   A select's sudog is woken to retry, as before.
 *
 *   The handshake that makes "try again" lose no wake-up (Dekker's): a
 *   waiter queues its sudog, issues a seq_cst fence and tries the ring once
 *   more, all under the lock; a peer's CAS on head/tail is seq_cst and is
 *   followed by a seq_cst load of the waiter queue.  Either the waiter's
 *   try sees the peer's change, or the peer's load sees the sudog (C11's
 *   fence rule: a seq_cst load after the fence in S observes the queue
 *   write made before it; an earlier waiter's write is covered by that
 *   waiter's own fence).  The peer then takes the lock, which the waiter
 *   holds until it has switched out (chanparkcommit), so the wake-up
 *   cannot overtake the park.  When nobody waits, the peer's cost is that
 *   one load of a line nobody writes.
 *
 *   Waking: the peer readies a parked goroutine with
 *   rt__goready_handoff (proc.c, "Waking an idle P"): into the peer's own
 *   runnext, without waking an idle P when nothing else is queued there.
 *   A producer that fills the ring (a consumer that drains it) blocks
 *   soon after, and its P runs the woken goroutine: the pair settles on
 *   one P, where the ring's lines stay in one cache (a select's
 *   buffered case wakes its peer the same way, select.c).  Spinning before
 *   parking is therefore short (ring_spin): a few attempts, for a peer on
 *   another P that is inside its operation right now.

 *   Unbuffered channels keep Go's locked protocol: there is no ring, every
 *   operation meets a peer, and the direct hand-off moves the value once,
 *   stack to stack.  Sudogs live on the parked goroutine's stack (grt
 *   stacks never move, so the waker may write into its frame), which makes
 *   parking allocation-free.  rt__goready puts the woken goroutine on
 *   runnext of the waker's P, so a ping-pong pair stays on one P and hands
 *   the time slice back and forth, as in Go.
 *
 *   Parking uses rt__gopark with an unlock callback (chanparkcommit): the
 *   channel lock is released only after the goroutine has switched out, so
 *   a waker that dequeues the sudog can never ready a goroutine that is
 *   still running on its way into the park.  Wakers ready goroutines after
 *   releasing the lock; close collects them on a list linked through
 *   g->schedlink (a waiting goroutine is on no run queue) first.
 *
 *   Non-blocking operations (try_send, try_recv, select with a default) on
 *   a buffered channel are the ring operations themselves, lock-free; on an
 *   unbuffered channel they look without the lock first, as Go does (the
 *   argument is in chansend and chanrecv).
 *
 * Semantics kept (API.md, Go): values leave a channel in the order they
 *   entered it (ring positions are claimed in one order and taken in the
 *   same); close wakes everyone; a receive after close drains the ring,
 *   then reports ok false; len counts claimed positions (a value being
 *   written counts), within [0, cap]; parked plain senders and receivers
 *   are served in the order they parked.  What differs from Go: a select
 *   parked on a buffered case, once woken, competes with newcomers (and
 *   keeps the head of the queue if it loses); a newcomer that finds room
 *   in the ring in the instant between a receive and the move of a parked
 *   sender's value may go first.  Go's memory model orders nothing
 *   between concurrent senders.
 *
 * Memory
 *   rt_chan_make allocates the header, the ring's counters and stamps and
 *   the slots in one object of the garbage-collected heap (gc/), scanned
 *   (elements may hold pointers): a channel lives while anything reaches it
 *   -- a user's variable, or the stack of a goroutine blocked on it, whose
 *   sudog and frame name it.  A received slot is cleared, so the ring does
 *   not keep old values alive.  A buffered channel costs 192 + 8 * cap
 *   bytes more than Go's (counters on lines of their own, and the stamps;
 *   elements are padded to 8 bytes beside them), one of capacity 1 -- a
 *   timer's -- 24 (no pads: chan.h's layout note).
 *
 * Rejected alternatives
 *   - A mutex + condition variable per channel (gccgo's first channels):
 *     blocks the thread, not the goroutine, and wakes every waiter.
 *   - Keeping the lock for buffered channels (Go's choice; the lock-free
 *     channel design of Go issue 8899 was never merged, mostly for the
 *     complexity it adds to select).  With the lock a value cost 30 ns
 *     even at MAXPROCS=1, where nothing contends (its two lock/unlock
 *     pairs were 55% of that), so BENCHMARKS.md's 0.6x of Go's 29.8 ns was
 *     out of reach whatever the scheduler did; the ring costs 16 ns of CPU
 *     a value there.  The complexity is bounded here by the "try again"
 *     rule: select polls a buffered case with the same ring operations,
 *     and a ring wake-up just makes it poll again (select.c).
 *   - Counters with a modulo instead of laps: a division per operation.
 *   - A single-producer single-consumer ring: channels are MPMC.
 *   - Heap-allocated sudogs with a per-P cache (Go's acquireSudog): needed in
 *     Go only because Go stacks move; ours do not.
 *
 * Invariants: see sched/chan.h.  Lock order: a channel lock is the highest
 * lock (rank 1 in sched.h); while holding it we take no other lock except
 * other channels' locks in address order (select.c) and, inside
 * rt__goready, none: readying happens after the unlock.  Ring operations
 * take no lock and may run with or without channel locks held.
 */
#include "chan.h"

#include <sched.h>
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

void rt__waitq_push_front(rt__waitq *q, rt_sudog *sg)
{
    rt_sudog *first = atomic_load_explicit(&q->first, memory_order_relaxed);
    sg->prev = NULL;
    sg->next = first;
    if (first == NULL)
        q->last = sg;
    else
        first->prev = sg;
    atomic_store_explicit(&q->first, sg, memory_order_relaxed);
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

/* ----------------------------------------------- unbuffered hand-offs -- */

/* A dequeued sudog whose operation went through (c->lock held): marks it
 * so and returns its goroutine, for the caller to ready after the unlock
 * (park_queued checks param). */
static inline rt_g *sudog_done(rt_sudog *sg)
{
    sg->success = true;
    rt_g *gp = sg->g;
    gp->param = sg;
    return gp;
}

rt_g *rt__chan_send_direct(rt_chan *c, rt_sudog *sg, const void *elem)
{
    if (sg->elem != NULL) {
        rt__chan_copy(c, sg->elem, elem);
        sg->elem = NULL;
    }
    return sudog_done(sg);
}

rt_g *rt__chan_recv_direct(rt_chan *c, rt_sudog *sg, void *elem)
{
    rt__assert(c->ring == NULL);
    if (elem != NULL)
        rt__chan_copy(c, elem, sg->elem);
    sg->elem = NULL;
    return sudog_done(sg);
}

/* ------------------------------------------------------------- ring ---- */

/* The position after p (p without the mark bit). */
static inline uint64_t ring_next(const rt_chan *c, uint64_t p)
{
    if ((p & (c->mark - 1)) + 1 < c->dataqsiz)
        return p + 1;
    return (p & ~(c->one_lap - 1)) + c->one_lap;
}

/*
 * Another thread is between the two steps of its ring operation (it has
 * claimed a slot and not yet written it, or taken one and not yet freed
 * it): a few pauses, more each time, then give the CPU away, in case that
 * thread has been preempted.  The window is a copy long and the thread in
 * it is inside a no-stop region (below), so this is rare and short.
 */
static void ring_backoff(unsigned *step)
{
    if (*step < 4) {
        for (unsigned i = 0; i < (1u << *step); i++)
            rt__cpu_relax();
        (*step)++;
    } else {
        sched_yield();
    }
}

/*
 * The no-stop region around a ring operation: a thread that has claimed a
 * slot must not be stopped by the collector before it fills or frees it,
 * since a select may wait for that slot while holding channel locks, i.e.
 * inside a no-stop region of its own, and the stop would wait for it
 * forever.  Same cost as a runtime lock's bookkeeping.
 */
static inline rt_m *ring_enter(void)
{
    rt_m *mp = rt__tls_m;
    if (mp != NULL)
        rt__nostop_begin(mp);
    return mp;
}

static inline void ring_leave(rt_m *mp)
{
    if (mp != NULL)
        rt__nostop_end(mp);
}

int rt__chanring_push(rt_chan *c, const void *elem)
{
    rt_m *mp = ring_enter();
    unsigned step = 0;
    int res;
    uint64_t tail = atomic_load_explicit(rt__ring_tail(c), memory_order_relaxed);
    for (;;) {
        if (tail & c->mark) {
            res = RT__RING_CLOSED;
            break;
        }
        uint64_t i = tail & (c->mark - 1);
        uint64_t stamp = atomic_load_explicit(rt__ring_stamp(c, i), memory_order_acquire);
        if (stamp == tail) {
            /* Free for this position: claim it.  seq_cst: the first half of
             * the wake-up handshake (rt__chan_wake's load of recvq). */
            if (atomic_compare_exchange_weak_explicit(
                    rt__ring_tail(c), &tail, ring_next(c, tail), memory_order_seq_cst,
                    memory_order_relaxed)) {
                rt__chan_copy(c, rt__chanbuf(c, i), elem);
                /* release: the value, to the receiver's acquire. */
                atomic_store_explicit(rt__ring_stamp(c, i), tail + 1,
                                      memory_order_release);
                res = RT__RING_OK;
                break;
            }
            continue; /* lost to another sender; tail is fresh */
        }
        if (stamp + c->one_lap == tail + 1) {
            /* The slot still holds the last lap's value: full, unless its
             * receiver has taken it and not yet freed the slot. */
            uint64_t head = atomic_load_explicit(rt__ring_head(c), memory_order_seq_cst);
            if (head + c->one_lap == tail) {
                res = RT__RING_BLOCK;
                break;
            }
        }
        ring_backoff(&step);
        tail = atomic_load_explicit(rt__ring_tail(c), memory_order_relaxed);
    }
    ring_leave(mp);
    return res;
}

int rt__chanring_pop(rt_chan *c, void *elem)
{
    rt_m *mp = ring_enter();
    unsigned step = 0;
    int res;
    uint64_t head = atomic_load_explicit(rt__ring_head(c), memory_order_relaxed);
    for (;;) {
        uint64_t i = head & (c->mark - 1);
        uint64_t stamp = atomic_load_explicit(rt__ring_stamp(c, i), memory_order_acquire);
        if (stamp == head + 1) {
            /* Written for this position: take it.  seq_cst: the first half
             * of the wake-up handshake (rt__chan_wake's load of sendq). */
            if (atomic_compare_exchange_weak_explicit(
                    rt__ring_head(c), &head, ring_next(c, head), memory_order_seq_cst,
                    memory_order_relaxed)) {
                void *slot = rt__chanbuf(c, i);
                if (elem != NULL)
                    rt__chan_copy(c, elem, slot);
                /* Cleared, so that the collector does not keep the old
                 * value alive through the ring. */
                rt__chan_copy(c, slot, NULL);
                /* release: our reads of the slot happen before the next
                 * sender's write. */
                atomic_store_explicit(rt__ring_stamp(c, i), head + c->one_lap,
                                      memory_order_release);
                res = RT__RING_OK;
                break;
            }
            continue; /* lost to another receiver; head is fresh */
        }
        if (stamp == head) {
            /* Not written for this position: empty, unless a sender has
             * claimed it and is writing it. */
            uint64_t tail = atomic_load_explicit(rt__ring_tail(c), memory_order_seq_cst);
            if ((tail & ~c->mark) == head) {
                res = (tail & c->mark) ? RT__RING_CLOSED : RT__RING_BLOCK;
                break;
            }
        }
        ring_backoff(&step);
        head = atomic_load_explicit(rt__ring_head(c), memory_order_relaxed);
    }
    ring_leave(mp);
    return res;
}

bool rt__chanring_can_send(rt_chan *c)
{
    uint64_t tail = atomic_load_explicit(rt__ring_tail(c), memory_order_seq_cst);
    if (tail & c->mark)
        return true; /* closed: the send goes on to fail */
    uint64_t head = atomic_load_explicit(rt__ring_head(c), memory_order_seq_cst);
    return head + c->one_lap != tail;
}

bool rt__chanring_can_recv(rt_chan *c)
{
    uint64_t head = atomic_load_explicit(rt__ring_head(c), memory_order_seq_cst);
    uint64_t tail = atomic_load_explicit(rt__ring_tail(c), memory_order_seq_cst);
    return tail != head; /* a value, a claimed slot, or the mark bit */
}

rt_g *rt__chan_wake_locked(rt__waitq *q)
{
    rt_sudog *sg = rt__waitq_dequeue(q);
    if (sg == NULL)
        return NULL;
    return sudog_done(sg);
}

/* c->lock held, after a receive took a value out of the ring: dequeues
 * the first parked sender, if any.  A plain send (not a select's case)
 * is completed here: its value goes into the freed slot, as Go's receive
 * from a full buffer moves the first waiting sender's value in -- so
 * blocked senders go in the order they parked, and len stays at cap.
 * *pushed says so (the caller then does the handshake's second half for
 * that push: rt__chan_wake of recvq, after the unlock).  If a newcomer
 * took the slot first, the sender is only woken, to try again. */
rt_g *rt__chan_wake_sender_locked(rt_chan *c, bool *pushed)
{
    *pushed = false;
    rt_sudog *sg = rt__waitq_dequeue(&c->sendq);
    if (sg == NULL)
        return NULL;
    if (sg->ringwait && rt__chanring_push(c, sg->elem) == RT__RING_OK) {
        sg->handed = true;
        *pushed = true;
    }
    return sudog_done(sg);
}

void rt__chan_wake_sender(rt_chan *c)
{
    if (rt__likely(atomic_load_explicit(&c->sendq.first, memory_order_seq_cst) == NULL))
        return;
    rt__lock_acquire(&c->lock);
    bool pushed;
    rt_g *gp = rt__chan_wake_sender_locked(c, &pushed);
    rt__lock_release(&c->lock);
    if (gp != NULL)
        rt__goready_handoff(gp);
    if (pushed)
        rt__chan_wake(c, &c->recvq);
}

/* A send on a buffered channel that saw a receiver parked: if the first
 * one is a plain receive and the ring is empty, the value goes straight
 * to it (Go's send to a waiting receiver: parked receivers are served in
 * the order they parked, and the ring stays empty).  Returns whether it
 * did; otherwise the send goes through the ring. */
static bool ring_send_direct(rt_chan *c, const void *elem)
{
    rt__lock_acquire(&c->lock);
    rt_sudog *sg = atomic_load_explicit(&c->recvq.first, memory_order_relaxed);
    if (sg == NULL || !sg->ringwait || atomic_load_explicit(&c->closed, memory_order_relaxed) ||
        rt__chanring_can_recv(c)) {
        rt__lock_release(&c->lock);
        return false;
    }
    sg = rt__waitq_dequeue(&c->recvq); /* the same: not a select's */
    if (sg->elem != NULL)
        rt__chan_copy(c, sg->elem, elem);
    sg->handed = true;
    rt_g *gp = sudog_done(sg);
    rt__lock_release(&c->lock);
    rt__goready_handoff(gp);
    return true;
}

void rt__chan_wake(rt_chan *c, rt__waitq *q)
{
    /* seq_cst: the second half of the handshake; pairs with the waiter's
     * fence between queueing its sudog and looking at the ring again. */
    if (rt__likely(atomic_load_explicit(&q->first, memory_order_seq_cst) == NULL))
        return;
    rt__lock_acquire(&c->lock);
    rt_g *gp = rt__chan_wake_locked(q);
    rt__lock_release(&c->lock);
    if (gp != NULL)
        rt__goready_handoff(gp);
}

static inline int ring_op(rt_chan *c, void *elem, bool send)
{
    return send ? rt__chanring_push(c, elem) : rt__chanring_pop(c, elem);
}

/* ------------------------------------------------------------- make ---- */

/* The header padded so that what follows is aligned for any type. */
#define ALIGN_UP(n, a) (((n) + (a) - 1) & ~((size_t)(a) - 1))
#define HCHAN_SIZE ALIGN_UP(sizeof(struct rt_chan), alignof(max_align_t))

rt_chan *rt_chan_make(size_t elem_size, size_t cap)
{
    size_t mem, slotsize = 0, ringsz = 0;
    /* Go's bound: more than maxAlloc (2^48 bytes on 64-bit Linux) can
     * never be allocated, so it is a bad size, not an out-of-memory. */
    const size_t max_alloc = (size_t)1 << 48;
    if (__builtin_mul_overflow(elem_size, cap, &mem) || mem > max_alloc ||
        cap > max_alloc / sizeof(uint64_t))
        rt__throw("makechan: size out of range");
    /* The ring's layout (chan.h): padded above a capacity of 1 -- 64
     * bytes before tail, between tail and head, and between head and the
     * slots -- compact at 1.  A slot is its stamp and then its element. */
    const size_t pad = cap > 1 ? 64 : sizeof(uint64_t);
    const size_t before = cap > 1 ? 64 : 0;
    if (cap > 0) {
        slotsize = sizeof(uint64_t) + ALIGN_UP(elem_size, sizeof(uint64_t));
        ringsz = before + 2 * pad + cap * slotsize;
    }
    /* Zeroed (zero values in the ring); large rings get fresh pages, paid
     * for only when touched. */
    rt_chan *c = rt__gc_alloc_chan(HCHAN_SIZE + (cap > 0 ? ringsz : mem));
    c->elemsize = elem_size;
    c->dataqsiz = cap;
    c->slotsize = slotsize;
    c->buf = NULL;
    if (cap > 0) {
        uint64_t mark = 1;
        while (mark <= cap)
            mark <<= 1;
        c->mark = mark;
        c->one_lap = 2 * mark;
        c->ring = (unsigned char *)c + HCHAN_SIZE + before;
        c->ring_head = (uint8_t)pad;
        c->buf = c->ring + 2 * pad + sizeof(uint64_t);
        /* Slot i waits for position i (lap 0); head = tail = 0. */
        for (size_t i = 0; i < cap; i++)
            atomic_store_explicit(rt__ring_stamp(c, i), i, memory_order_relaxed);
        /* The stamps must be visible to whoever gets c: publishing c (a
         * store into a variable, a channel send, rt_go's argument) is
         * ordered after these by that publication's own synchronisation. */
    }
    return c;
}

size_t rt_chan_len(rt_chan *c)
{
    rt__preempt_point(); /* a loop polling the length (rt.h, rt_yield): one load */
    if (c == NULL || c->ring == NULL)
        return 0;
    uint64_t head, tail;
    /* A consistent pair: tail unchanged around the read of head. */
    for (;;) {
        tail = atomic_load_explicit(rt__ring_tail(c), memory_order_seq_cst);
        head = atomic_load_explicit(rt__ring_head(c), memory_order_seq_cst);
        if (atomic_load_explicit(rt__ring_tail(c), memory_order_seq_cst) == tail)
            break;
    }
    tail &= ~c->mark;
    uint64_t hix = head & (c->mark - 1), tix = tail & (c->mark - 1);
    if (hix < tix)
        return tix - hix;
    if (hix > tix)
        return c->dataqsiz - hix + tix;
    return tail == head ? 0 : c->dataqsiz;
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

/* Parks the calling goroutine, whose sudog sg the caller has queued on one
 * of c's queues, and returns once a waker has dequeued sg and readied it;
 * c->lock is held on entry and released by the park. */
static void park_queued(rt_chan *c, rt_sudog *sg, const char *reason)
{
    rt_g *gp = sg->g;
    if (rt__unlikely(gp == NULL)) {
        /* A thread the runtime did not create has no goroutine to park:
         * a fatal error, as for a contended mutex there (sema.c) */
        rt__lock_release(&c->lock);
        rt__throwf("%s: not on a goroutine", reason);
    }
    gp->waiting = sg;
    gp->param = NULL;
    rt__gopark(chanparkcommit, c, reason);
    /* Woken: the waker dequeued sg and set param under c->lock. */
    if (rt__unlikely(gp->param != sg))
        rt__throw("chan: woken by a stranger");
    gp->param = NULL;
    gp->waiting = NULL;
}

/* Parks on q with sg (initialised by the caller); unbuffered channels. */
static void park_on(rt_chan *c, rt__waitq *q, rt_sudog *sg, const char *reason)
{
    rt__waitq_enqueue(q, sg);
    park_queued(c, sg, reason);
}

/*
 * Spinning before parking, for a buffered operation that found the ring
 * full (empty): a few attempts, 1, 2, 4, 8 pauses apart (well under a
 * microsecond), only when rt__sync_can_spin agrees (other Ps running
 * goroutines, nothing waiting in our own run queue, which is where a peer
 * we woke would be).  That covers a peer on another P that is inside its
 * operation right now.
 *
 * Not longer.  A spin that waits for a peer on another P keeps the pair
 * on two CPUs, passing the ring's lines between them at every value; a
 * park puts the pair on one P, with no lines to pass: the peer readies us
 * into its own runnext without waking an idle P (rt__goready_handoff,
 * proc.c "Waking an idle P") and runs us when it blocks.  On workload 3,
 * a spin of up to 100 us (this file's earlier choice, when every park
 * cost a futex wake of the idle P) kept the pair split: 21-38 ns a value,
 * and up to 135 ns when the host placed the two vCPUs far apart; parking
 * instead: 16-18 ns, and stable.
 */
#define SPIN_TRIES 4

static int ring_spin(rt_chan *c, void *elem, bool send)
{
    if (!rt__sync_can_spin(0))
        return RT__RING_BLOCK;
    unsigned pauses = 1;
    for (int i = 0; i < SPIN_TRIES; i++, pauses *= 2) {
        for (unsigned k = 0; k < pauses; k++)
            rt__cpu_relax();
        int r = ring_op(c, elem, send);
        if (r != RT__RING_BLOCK)
            return r;
    }
    return RT__RING_BLOCK;
}

/* After a ring operation of ours went through: wake (or serve) a peer. */
static inline void ring_woke_peer(rt_chan *c, bool send)
{
    if (send)
        rt__chan_wake(c, &c->recvq);
    else
        rt__chan_wake_sender(c);
}

/*
 * A blocking send (recv) on a buffered channel whose ring was full (empty):
 * spin a little, then park until a receiver (sender) or close wakes us and
 * try again, until the operation goes through.  Returns RT__RING_OK or
 * RT__RING_CLOSED, and whether it parked (for the block profile).
 *
 * The park is the waiter's half of the wake-up handshake: queue the sudog,
 * a seq_cst fence, then try the ring once more, all under c->lock.  A peer
 * that changed the ring before our fence is seen by that try; one that
 * changes it after our fence sees our sudog (its CAS and its load of our
 * queue are seq_cst) and wakes us through the lock, which it can only take
 * once we have parked.  A goroutine woken to retry that loses the ring to
 * a newcomer queues again at the head: it keeps its turn.
 */
static __attribute__((noinline)) int ring_block(rt_chan *c, void *elem,
                                                bool send, bool *parked)
{
    int r = ring_spin(c, elem, send);
    if (r != RT__RING_BLOCK) {
        if (r == RT__RING_OK)
            ring_woke_peer(c, send);
        return r;
    }
    rt__waitq *q = send ? &c->sendq : &c->recvq;
    rt__waitq *peers = send ? &c->recvq : &c->sendq;
    bool again = false;
    for (;;) {
        rt__lock_acquire(&c->lock);
        /* elem: a peer may complete a plain operation for us (handed) */
        rt_sudog mysg = {.g = rt__getg(), .c = c, .elem = elem, .ringwait = true};
        if (again)
            rt__waitq_push_front(q, &mysg);
        else
            rt__waitq_enqueue(q, &mysg);
        atomic_thread_fence(memory_order_seq_cst);
        r = ring_op(c, elem, send);
        if (r != RT__RING_BLOCK) {
            /* Nobody can have dequeued mysg: that takes the lock. */
            rt__waitq_remove(q, &mysg);
            bool pushed = false;
            rt_g *gp = NULL;
            if (r == RT__RING_OK)
                gp = send ? rt__chan_wake_locked(peers) : rt__chan_wake_sender_locked(c, &pushed);
            rt__lock_release(&c->lock);
            if (gp != NULL)
                rt__goready_handoff(gp);
            if (pushed)
                rt__chan_wake(c, &c->recvq);
            return r;
        }
        park_queued(c, &mysg, send ? RT_WAIT_CHAN_SEND : RT_WAIT_CHAN_RECV);
        *parked = true;
        if (mysg.handed)
            return RT__RING_OK; /* the peer moved the value for us */
        again = true;
        /* Woken to try again: usually the ring is ready now, and the try
         * needs no lock. */
        r = ring_op(c, elem, send);
        if (r != RT__RING_BLOCK) {
            if (r == RT__RING_OK)
                ring_woke_peer(c, send);
            return r;
        }
    }
}

/* ------------------------------------------------------------- send ---- */

/* Whether a send would block right now, read without the lock: the
 * channel has no room, or (unbuffered) nobody waits to receive. */
static bool full(rt_chan *c)
{
    return atomic_load(&c->recvq.first) == NULL;
}

/* Whether a receive would block right now, read without the lock. */
static bool empty(rt_chan *c)
{
    return atomic_load(&c->sendq.first) == NULL;
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
    /* (The channel lock's inline pair, sched.h: no switch in here comes
     * before its last use -- the parks end the function.) */
    if (c == NULL) {
        if (!block)
            return false;
        rt__gopark(NULL, NULL, RT_WAIT_CHAN_SEND_NIL);
        rt__throw("unreachable: woke from a nil channel send");
    }

    if (c->ring != NULL) {
        /* Buffered: the ring, without the lock -- unless a receiver is
         * parked (one relaxed load of a line only parking writes). */
        if (rt__unlikely(atomic_load_explicit(&c->recvq.first, memory_order_relaxed) != NULL) &&
            ring_send_direct(c, elem))
            return true;
        int r = rt__chanring_push(c, elem);
        if (rt__likely(r == RT__RING_OK)) {
            rt__chan_wake(c, &c->recvq);
            return true;
        }
        if (r == RT__RING_BLOCK) {
            if (!block)
                return false;
            int64_t t0 = rt__chan_block_start();
            bool parked = false;
            r = ring_block(c, (void *)elem, true, &parked);
            if (parked && t0 != 0)
                rt__block_event(t0, 2);
        }
        if (r == RT__RING_CLOSED)
            rt__throw("send on closed channel");
        return true;
    }

    /*
     * Unbuffered.  Fast path of a failing non-blocking send, without the
     * lock.  Reading closed and then full() is enough although they are two
     * reads: a closed channel never becomes ready for sending again, so if
     * we saw "not closed" and then "full", there was a moment when the
     * channel was both open and full, and reporting "would block" is
     * correct for that moment (Go's argument in chansend).  A send on a
     * closed channel takes the slow path and fails loudly there.
     */
    if (!block && atomic_load(&c->closed) == 0 && full(c))
        return false;

    int64_t t0 = block ? rt__chan_block_start() : 0;

    rt__lock_acquire_inl(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release_inl(&c->lock);
        rt__throw("send on closed channel");
    }
    rt_sudog *sg = rt__waitq_dequeue(&c->recvq);
    if (sg != NULL) {
        rt_g *gp = rt__chan_send_direct(c, sg, elem);
        rt__lock_release_inl(&c->lock);
        rt__goready(gp);
        return true;
    }
    if (!block) {
        rt__lock_release_inl(&c->lock);
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
    rt__foreign_note();
    chansend(c, elem, true);
    /* Not a tail call: this frame must stay on the stack for the block
     * profile (see chansend). */
    __asm__ volatile("" ::: "memory");
    rt__preempt_point();
}

bool rt_chan_try_send(rt_chan *c, const void *elem)
{
    rt__foreign_note();
    bool sent = chansend(c, elem, false);
    rt__preempt_point();
    return sent;
}

bool rt__chan_try_send_sched(rt_chan *c, const void *elem)
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
    /* (The inline lock pair, as in chansend: the parks end the function.) */
    *ok = false;
    if (c == NULL) {
        if (!block)
            return false;
        rt__gopark(NULL, NULL, RT_WAIT_CHAN_RECV_NIL);
        rt__throw("unreachable: woke from a nil channel receive");
    }

    if (c->ring != NULL) {
        /* Buffered: the ring, without the lock. */
        int r = rt__chanring_pop(c, elem);
        if (rt__likely(r == RT__RING_OK)) {
            rt__chan_wake_sender(c);
            *ok = true;
            return true;
        }
        if (r == RT__RING_BLOCK) {
            if (!block)
                return false;
            int64_t t0 = rt__chan_block_start();
            bool parked = false;
            r = ring_block(c, elem, false, &parked);
            if (parked && t0 != 0)
                rt__block_event(t0, 2);
        }
        if (r == RT__RING_CLOSED) {
            if (elem != NULL)
                rt__chan_copy(c, elem, NULL);
            return true;
        }
        *ok = true;
        return true;
    }

    /*
     * Unbuffered.  Fast path of a non-blocking receive, without the lock
     * (Go's argument in chanrecv).  The three loads are seq_cst so that
     * they happen in program order:
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

    rt__lock_acquire_inl(&c->lock);
    rt_sudog *sg = rt__waitq_dequeue(&c->sendq);
    if (sg != NULL) {
        rt_g *gp = rt__chan_recv_direct(c, sg, elem);
        rt__lock_release_inl(&c->lock);
        rt__goready(gp);
        *ok = true;
        return true;
    }
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release_inl(&c->lock);
        if (elem != NULL)
            rt__chan_copy(c, elem, NULL);
        return true;
    }
    if (!block) {
        rt__lock_release_inl(&c->lock);
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

/* (rt__foreign_note on every public entry: a thread the runtime did not
 * create is a root from its first call -- a received value may be a heap
 * pointer nothing else holds; foreign.c.  One TLS load on Ms.) */
bool rt_chan_recv(rt_chan *c, void *elem)
{
    rt__foreign_note();
    bool ok;
    chanrecv(c, elem, true, &ok);
    rt__preempt_point();
    return ok;
}

int rt_chan_try_recv(rt_chan *c, void *elem)
{
    rt__foreign_note();
    bool ok;
    bool got = chanrecv(c, elem, false, &ok);
    rt__preempt_point();
    if (!got)
        return -EAGAIN;
    return ok ? 1 : 0;
}

/* A select of one case (select.c): just that case's operation, as Go's
 * compiler turns `select { case v := <-c: }` into `v := <-c`, and one
 * with a default into a non-blocking receive (selectnbrecv) -- the wait
 * reason is the operation's too ("chan receive", not "select").  Through
 * selectgo it cost 1.9x a plain receive, and 5x Go for the `select {
 * case <-done: default: }` of a cancellation check (an outside tester's
 * find). */
bool rt__chan_select1(rt_select_case *cas, bool block)
{
    if (cas->dir == RT_SELECT_SEND)
        return chansend(cas->chan, cas->elem, block);
    bool ok;
    bool got = chanrecv(cas->chan, cas->elem, block, &ok);
    if (got)
        cas->ok = ok;
    return got;
}

/* ------------------------------------------------------------ close ---- */

void rt_chan_close(rt_chan *c)
{
    rt__foreign_note();
    if (c == NULL)
        rt__throw("close of nil channel");

    rt__lock_acquire(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) != 0) {
        rt__lock_release(&c->lock);
        rt__throw("close of closed channel");
    }
    /* release: pairs with the lock-free reads of the fast paths. */
    atomic_store_explicit(&c->closed, 1, memory_order_release);
    /* Buffered: no sender claims a slot from here on; the ones that
     * claimed one before still fill it, and receivers drain the ring
     * before they see "closed" (seq_cst: a waiter's check after its
     * fence sees it, see ring_block). */
    if (c->ring != NULL)
        atomic_fetch_or_explicit(rt__ring_tail(c), c->mark, memory_order_seq_cst);

    rt_g *glist = NULL;
    rt_sudog *sg;
    /* Receivers get the zero value and ok == false (unbuffered); on a
     * buffered channel they wake to drain the ring first. */
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
    /* Senders wake up with success == false and throw (buffered: their
     * retry finds the mark and throws). */
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
