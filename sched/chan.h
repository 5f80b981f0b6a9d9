/*
 * sched/chan.h -- the channel's insides, shared by chan.c and select.c.
 *
 * Only the two files that implement channel operations touch a channel's
 * fields; the rest of the runtime sees rt_chan as the opaque type of rt.h
 * and goes through the public functions (time.c includes this header only
 * for rt__lsan_ignore and rt__chan_try_send_sched, with which its timers
 * fire).  It is a separate header rather than part of
 * sched/sched.h because nothing else may touch a channel's fields: the
 * invariants below hold only if every write happens in these two files.
 *
 * Layout of one channel (a single allocation, see rt_chan_make):
 *
 *   unbuffered: | struct rt_chan |
 *   buffered:   | struct rt_chan | the ring: tail, head, then dataqsiz
 *               | slots, each | stamp | element, padded to 8 bytes | |
 *
 * A slot's stamp sits beside its element: a sender and a receiver on two
 * CPUs move one line per value, not a stamp's line and an element's (a
 * worker pool of 64 goroutines over cap-64 channels at MAXPROCS=2: 0.37
 * -> 0.34 s; workload 3 at P=2 21-23 -> 19-20 ns, medians of 5).
 * The ring has two layouts (rt_chan_make, the ring's accessors below).
 * With a capacity above 1, tail, head and the slots each start 64 bytes
 * from their neighbours and from the header, so that a producer and a
 * consumer on two CPUs share only the slots they hand to each other.
 * With a capacity of 1 -- every timer's and ticker's channel, a token
 * passed back and forth -- both sides use the one slot and its stamp in
 * turn, so those lines move anyway and the pads would buy nothing: the
 * three words sit together, and rt_after allocates 176 bytes less (a
 * channel of 136 bytes instead of 312, near Go's 96-byte hchan plus
 * the element).
 *
 * A buffered channel's ring is lock-free (chan.c's essay says why and how);
 * the lock guards only the wait queues, close and unbuffered hand-offs.
 *
 * Positions (ring head and tail).  With LAP = one_lap, a position is
 * lap * LAP + index, 0 <= index < dataqsiz; the bit c->mark (LAP / 2, above
 * every index) is set in tail once the channel is closed.  The position
 * after p is p + 1, or the next lap's index 0 when index + 1 == dataqsiz.
 *
 * Invariants
 *   Ring (buffered), with tail' = tail & ~mark:
 *   - head <= tail' <= head + LAP in position order: the ring holds between
 *     0 (tail' == head) and dataqsiz (tail' == head + LAP) elements, counting
 *     slots a sender has claimed and not yet written.
 *   - stamp[i] says what slot i is waiting for: == p (the position p with
 *     index i) when it is free for the sender that claims p; == p + 1 when
 *     that sender has written it and the receiver that claims p may take
 *     it; a receiver that took it sets it to p + LAP, free for the next
 *     lap.  A stamp only grows.
 *   - mark is set in tail once (close, under c->lock) and never cleared;
 *     closed mirrors it.  No sender claims a position after it.
 *   Wait queues (all channels, under c->lock):
 *   - unbuffered: sendq non-empty => recvq holds no live receiver and vice
 *     versa (whoever comes second hands off), except for sudogs of selects
 *     that another case has already won (skipped and dropped by dequeue).
 *   - buffered: a goroutine stays parked with its sudog queued only if,
 *     after queueing it and a seq_cst fence, it still found the ring full
 *     (sendq) or empty (recvq) (the waiter's half of chan.c's wake-up
 *     handshake); so the next value pushed (slot freed) sees it queued and
 *     wakes one goroutine.  A plain send's or receive's sudog carries its
 *     elem and ringwait: the peer may complete the operation for it and
 *     set handed (chan.c); a select's carries no value.
 *   - closed  =>  sendq holds no live sender, recvq no live receiver: close
 *     wakes them all.  closed goes 0 -> 1 once and never back.
 *   - A sudog on a queue belongs to a goroutine that is parked (or about to
 *     be: its unlock callback, which releases this lock, has not run yet),
 *     so its stack, and the sudog on it, stays put while it is queued.
 */
#ifndef RT_SCHED_CHAN_H
#define RT_SCHED_CHAN_H

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "sched.h"

/* A FIFO of sudogs linked by next/prev.  first is read without the lock by
 * the non-blocking fast paths (only compared with NULL), so it is atomic;
 * every write happens under the channel lock (relaxed: the lock orders the
 * writes, the fast paths tolerate stale values, see chan.c). */
typedef struct rt__waitq {
    _Atomic(rt_sudog *) first;
    rt_sudog *last; /* under the channel lock */
} rt__waitq;

struct rt_chan {
    rt__lock lock;         /* protects the wait queues, closed and the
                            * queued sudogs' next/prev/elem/success */
    /* 0 -> 1 once, under lock (store-release); read without it by the
     * non-blocking fast paths (seq_cst).  Buffered channels also set the
     * mark bit in ring->tail, which is what their ring operations test. */
    _Atomic uint32_t closed;
    size_t dataqsiz;       /* capacity; immutable */
    size_t elemsize;       /* immutable */
    uint64_t mark;         /* buffered: the least power of two > dataqsiz,
                            * the closed bit of tail; immutable */
    uint64_t one_lap;      /* 2 * mark: one lap of positions; immutable */
    rt__waitq recvq, sendq;
    unsigned char *ring;   /* the ring's tail word; NULL when unbuffered;
                            * immutable */
    unsigned char *buf;    /* immutable: the element slots */
    size_t slotsize;       /* buffered: a slot, its stamp and its element
                            * (8 + elemsize rounded up to 8); immutable */
    uint8_t ring_head;     /* offset of head from ring (64, or 8) */
};

/*
 * The lock-free half of a buffered channel: senders write tail, receivers
 * head, and per slot a stamp says which position it waits for (the
 * invariants above): store-release by whoever finishes with the slot,
 * load-acquire by whoever uses it next.  Where the three sit: the layout
 * note at the top.
 */
static inline _Atomic uint64_t *rt__ring_tail(const rt_chan *c)
{
    return (_Atomic uint64_t *)(void *)c->ring;
}

static inline _Atomic uint64_t *rt__ring_head(const rt_chan *c)
{
    return (_Atomic uint64_t *)(void *)(c->ring + c->ring_head);
}

static inline _Atomic uint64_t *rt__ring_stamp(const rt_chan *c, uint64_t i)
{
    return (_Atomic uint64_t *)(void *)(c->buf - sizeof(uint64_t) + i * c->slotsize);
}

/* Address of slot i of the ring. */
static inline void *rt__chanbuf(rt_chan *c, size_t i)
{
    return c->buf + i * c->slotsize;
}

/* Copies one element; a NULL source means the zero value (a send with no
 * element pointer sends zeroes).  Zero-size elements copy nothing.  Inline,
 * with the common sizes spelled out so that they compile to a move or two
 * instead of a call into memcpy/memset (the ring's fast paths copy twice
 * per element: in, and out plus the clearing of the slot). */
static inline void rt__chan_copy(const rt_chan *c, void *dst, const void *src)
{
    size_t n = c->elemsize;
    if (src == NULL) {
        switch (n) {
        case 4: memset(dst, 0, 4); return;
        case 8: memset(dst, 0, 8); return;
        case 16: memset(dst, 0, 16); return;
        default: memset(dst, 0, n); return;
        }
    }
    switch (n) {
    case 0: return;
    case 4: memcpy(dst, src, 4); return;
    case 8: memcpy(dst, src, 8); return;
    case 16: memcpy(dst, src, 16); return;
    default: memcpy(dst, src, n); return;
    }
}

/*
 * Objects the runtime owns for good (channels, timers until the collector
 * exists) are malloc'd and never freed; under AddressSanitizer, tell its
 * leak checker so, or every test that makes a channel "leaks" (the only
 * pointers to them may live on goroutine stacks, which LSan does not scan).
 */
#if defined(__SANITIZE_ADDRESS__)
#define RT__LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT__LSAN 1
#endif
#endif
#ifdef RT__LSAN
#include <sanitizer/lsan_interface.h>
#define rt__lsan_ignore(p) __lsan_ignore_object(p)
#else
#define rt__lsan_ignore(p) ((void)(p))
#endif

/* The start time for the block profile: rt_nanotime() when the profile is
 * on, else 0 (and then nothing is recorded). */
static inline int64_t rt__chan_block_start(void)
{
    if (atomic_load_explicit(&rt__block_profile_rate, memory_order_relaxed) > 0)
        return rt_nanotime();
    return 0;
}

/* ------------------------------------------------------- chan.c ------- */

/* Wait queues; the channel lock must be held. */
void rt__waitq_enqueue(rt__waitq *q, rt_sudog *sg);
/* Pops the first sudog that may still be woken: a select's sudog whose
 * goroutine another case has already won (g->selectdone CAS fails) is
 * dropped and the search goes on.  NULL if none. */
rt_sudog *rt__waitq_dequeue(rt__waitq *q);
/* Unlinks sg if it is still queued on q (a select undoing its losers). */
void rt__waitq_remove(rt__waitq *q, rt_sudog *sg);
/* Queues sg first: a goroutine woken to retry a buffered operation that
 * lost the race keeps its turn (buffered channels, chan.c). */
void rt__waitq_push_front(rt__waitq *q, rt_sudog *sg);

/*
 * The two hand-offs of an unbuffered channel to a parked peer (Go's send
 * and recv).  c->lock is held and sg was just dequeued from the matching
 * queue.  They move the value, mark sg successful, set sg->g->param = sg
 * and return that goroutine; the caller then releases its channel lock(s)
 * and calls rt__goready on it (readying after the unlock keeps the time the
 * lock is held short, and nothing may ready a G whose lock it still needs).
 *
 * send_direct: copies *elem straight into the waiting receiver's slot.
 * recv_direct: copies the sender's value into *elem.  elem may be NULL to
 * discard.
 */
rt_g *rt__chan_send_direct(rt_chan *c, rt_sudog *sg, const void *elem);
rt_g *rt__chan_recv_direct(rt_chan *c, rt_sudog *sg, void *elem);

/*
 * The ring of a buffered channel (c->ring != NULL); lock-free, callable
 * with or without c->lock.  push copies *elem (NULL: zeroes) into the ring,
 * pop takes the oldest element into *elem (NULL: discards).  They return
 * RT__RING_OK, RT__RING_CLOSED (push: the channel is closed; pop: closed
 * and drained) or RT__RING_BLOCK (push: full; pop: empty).  A successful
 * operation leaves a peer to wake: the caller follows it with
 * rt__chan_wake (or, holding c->lock, with the dequeue itself).
 */
enum { RT__RING_OK, RT__RING_BLOCK, RT__RING_CLOSED };
int rt__chanring_push(rt_chan *c, const void *elem);
int rt__chanring_pop(rt_chan *c, void *elem);
/* Whether a send (recv) would not block right now: room (a value, or a
 * claimed slot about to hold one) or closed.  For a goroutine about to
 * park, after queueing its sudog and a seq_cst fence. */
bool rt__chanring_can_send(rt_chan *c);
bool rt__chanring_can_recv(rt_chan *c);
/* After a successful push (q = &c->recvq) or pop (q = &c->sendq), without
 * c->lock: wakes the first goroutine parked on q, if any, to try again.
 * One seq_cst load when nobody waits. */
void rt__chan_wake(rt_chan *c, rt__waitq *q);
/* After a receive took a value from the ring: the first parked sender's
 * value goes into the ring for it if it is a plain send, else it is woken
 * to try again (chan.c).  _locked: c->lock held, *pushed set when a value
 * went in (then call rt__chan_wake(c, &c->recvq) after the unlock). */
void rt__chan_wake_sender(rt_chan *c);
rt_g *rt__chan_wake_sender_locked(rt_chan *c, bool *pushed);
/* The same with c->lock held: dequeues and returns the goroutine to ready
 * once the lock is released, or NULL. */
rt_g *rt__chan_wake_locked(rt__waitq *q);

/* rt_chan_try_send without its preemption point (sched.h), for the
 * scheduler's own sends: a timer's callback runs inside a switch
 * (check_timers from find_fast), where yielding would nest a switch in a
 * switch. */
bool rt__chan_try_send_sched(rt_chan *c, const void *elem);
/* rt_select of the one case cas (dir SEND or RECV): its operation, cas->ok
 * set for a receive; whether it went through (block: always). */
bool rt__chan_select1(rt_select_case *cas, bool block);

#endif /* RT_SCHED_CHAN_H */
