/*
 * sched/chan.h -- the channel's insides, shared by chan.c and select.c.
 *
 * Only the two files that implement channel operations touch a channel's
 * fields; the rest of the runtime sees rt_chan as the opaque type of rt.h
 * and goes through the public functions (time.c includes this header only
 * for rt__lsan_ignore; its timers fire with rt_chan_try_send).  It is a separate header rather than part of
 * sched/sched.h because nothing else may touch a channel's fields: the
 * invariants below hold only if every write happens in these two files.
 *
 * Layout of one channel (a single allocation, see rt_chan_make):
 *
 *   | struct rt_chan (padded to max_align_t) | buf: dataqsiz * elemsize |
 *
 * Invariants (all under c->lock):
 *   - 0 <= qcount <= dataqsiz; the live elements are the qcount slots from
 *     recvx going forward (mod dataqsiz); sendx == (recvx + qcount) mod
 *     dataqsiz.
 *   - sendq non-empty  =>  qcount == dataqsiz (nobody waits to send while
 *     there is room), except for sudogs of selects that another case has
 *     already won (they are skipped and dropped by dequeue).
 *   - recvq non-empty  =>  qcount == 0, with the same exception.
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
    rt__lock lock;         /* protects everything below not marked otherwise,
                            * and the queued sudogs' next/prev/elem/success */
    /* Written under lock; read without it by rt_chan_len and the fast paths
     * (seq_cst loads there; relaxed stores here, ordered by the lock). */
    _Atomic size_t qcount;
    /* 0 -> 1 once, under lock (store-release); read without it by the
     * non-blocking fast paths (seq_cst). */
    _Atomic uint32_t closed;
    size_t dataqsiz;       /* capacity; immutable */
    size_t elemsize;       /* immutable */
    size_t sendx, recvx;   /* ring indices, under lock */
    rt__waitq recvq, sendq;
    unsigned char *buf;    /* immutable: just past the padded header */
};

/* Address of slot i of the ring. */
static inline void *rt__chanbuf(rt_chan *c, size_t i)
{
    return c->buf + i * c->elemsize;
}

/* Copies one element; a NULL source means the zero value (a send with no
 * element pointer sends zeroes).  Zero-size elements copy nothing. */
static inline void rt__chan_copy(const rt_chan *c, void *dst, const void *src)
{
    if (c->elemsize == 0)
        return;
    if (src != NULL)
        memcpy(dst, src, c->elemsize);
    else
        memset(dst, 0, c->elemsize);
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

/*
 * The two hand-offs of a ready channel to a parked peer (Go's send and
 * recv).  c->lock is held and sg was just dequeued from the matching queue.
 * They move the value, mark sg successful, set sg->g->param = sg and return
 * that goroutine; the caller then releases its channel lock(s) and calls
 * rt__goready on it (readying after the unlock keeps the time the lock is
 * held short, and nothing may ready a G whose lock it still needs).
 *
 * send_direct: copies *elem straight into the waiting receiver's slot.
 * recv_direct: unbuffered: copies the sender's value into *elem; buffered
 * (so full): takes the head into *elem and puts the sender's value at the
 * tail.  elem may be NULL to discard.
 */
rt_g *rt__chan_send_direct(rt_chan *c, rt_sudog *sg, const void *elem);
rt_g *rt__chan_recv_direct(rt_chan *c, rt_sudog *sg, void *elem);

/* Buffer operations; lock held.  bufsend requires qcount < dataqsiz,
 * bufrecv requires qcount > 0. */
void rt__chan_bufsend(rt_chan *c, const void *elem);
void rt__chan_bufrecv(rt_chan *c, void *elem);

#endif /* RT_SCHED_CHAN_H */
