/*
 * sched/time.c -- the public timers: rt_after, rt_timer_*, rt_ticker_*.
 *
 * What
 *   Go's time.Timer and time.Ticker (Go 1.14 to 1.22 semantics) on the
 *   runtime timers of timer.c.  A public timer is a runtime timer plus a
 *   channel of capacity 1 carrying int64_t.  When the runtime timer fires,
 *   its callback (send_time, Go's sendTime) does a non-blocking send of the
 *   fire time, the rt_nanotime value the timer code passes as `now`:
 *
 *   - the callback runs on whichever M found the timer due, inside the
 *     scheduler, so it must never park; a non-blocking send only takes the
 *     channel lock for a moment and may ready a receiver (rt__goready onto
 *     that M's P), both allowed there;
 *   - a ticker whose receiver is slow therefore drops ticks instead of
 *     queueing them: the channel holds at most one, the oldest undelivered.
 *
 *   rt_timer_stop returns whether it stopped a pending timer (then the
 *   callback never runs); rt_timer_reset re-arms the timer at now + ns and
 *   returns whether it was pending.  As in Go before 1.23 neither drains
 *   the channel: after a stop that returned false, or a reset of a timer
 *   that already fired, one earlier fire time may be (or may still arrive)
 *   in the channel.  The Go idiom `if (!rt_timer_stop(t)) rt_chan_recv(...)`
 *   works unchanged.
 *
 * Why this design
 *   All the work (per-P heaps, the timer state machine, running timers from
 *   the scheduler and from sysmon) is in timer.c; this file only adapts it,
 *   so the public timers and rt_sleep share one mechanism and one clock.
 *   The channel is the plain channel of chan.c, so timer channels mix with
 *   any other case in rt_select.
 *
 * Memory
 *   A timer or ticker is an object of the garbage-collected heap.  While
 *   pending, the P's timer heap points into it (the collector scans the
 *   timer heaps: sched/gcstop.c), which is what keeps rt_after's timer
 *   alive until it fires; then only the channel needs to stay reachable.
 *
 * Rejected alternatives
 *   - A goroutine per timer that sleeps and sends: a goroutine stack per
 *     timer and a scheduling round-trip per tick.
 *   - A blocking send from the callback: would stall the M's scheduler (or
 *     deadlock it) behind a slow receiver.
 *   - Go 1.23's synchronous, unbuffered timer channels: API.md fixes the
 *     capacity-1 channel, and the older semantics are what rt.h promises.
 *
 * Invariants
 *   - rt_timer.c and rt_ticker.c never change after creation; the runtime
 *     timer's arg is that channel.
 *   - Closing a timer's channel is a programming error (Go's is
 *     receive-only); the next fire then dies with "send on closed channel".
 */
#include "chan.h" /* rt__lsan_ignore */

#include <stdlib.h>

struct rt_timer {
    rt__timer rt; /* when/period/state: owned by timer.c once added */
    rt_chan *c;   /* immutable: cap 1, int64_t elements */
};

struct rt_ticker {
    rt__timer rt;
    rt_chan *c;
};

/* The absolute deadline ns from now, clamped like Go's when(): ns <= 0 is
 * now, an overflow is the far future. */
static int64_t deadline(int64_t ns)
{
    int64_t now = rt_nanotime();
    if (ns <= 0)
        return now;
    int64_t when;
    if (__builtin_add_overflow(now, ns, &when))
        return INT64_MAX;
    return when;
}

/* The runtime timer's callback (Go's sendTime): never blocks. */
static void send_time(void *arg, uintptr_t seq, int64_t now)
{
    (void)seq;
    rt__chan_try_send_sched((rt_chan *)arg, &now); /* (no preemption point: chan.h) */
}

/* Fills in and arms t on the current P; c receives the ticks. */
static void arm(rt__timer *t, rt_chan *c, int64_t when, int64_t period)
{
    t->when = when;
    t->period = period;
    t->f = send_time;
    t->arg = c;
    t->seq = 0;
    t->lazy = true; /* in GC memory: a stop may leave it in the heap */
    rt__timer_add(t);
}

/* ------------------------------------------------------------ timers ---- */

rt_timer *rt_timer_new(int64_t ns)
{
    rt_timer *t = rt__gc_alloc(sizeof *t, false);
    t->c = rt_chan_make(sizeof(int64_t), 1);
    arm(&t->rt, t->c, deadline(ns), 0);
    return t;
}

rt_chan *rt_timer_chan(rt_timer *t)
{
    if (t == NULL)
        rt__throw("rt_timer_chan: nil timer");
    return t->c;
}

bool rt_timer_stop(rt_timer *t)
{
    if (t == NULL)
        rt__throw("rt_timer_stop: nil timer");
    return rt__timer_del(&t->rt);
}

bool rt_timer_reset(rt_timer *t, int64_t ns)
{
    if (t == NULL)
        rt__throw("rt_timer_reset: nil timer");
    return rt__timer_mod(&t->rt, deadline(ns), 0);
}

rt_chan *rt_after(int64_t ns)
{
    return rt_timer_new(ns)->c;
}

/* ----------------------------------------------------------- tickers ---- */

rt_ticker *rt_ticker_new(int64_t period)
{
    if (period <= 0)
        rt__throw("non-positive interval for rt_ticker_new");
    rt_ticker *t = rt__gc_alloc(sizeof *t, false);
    t->c = rt_chan_make(sizeof(int64_t), 1);
    arm(&t->rt, t->c, deadline(period), period);
    return t;
}

rt_chan *rt_ticker_chan(rt_ticker *t)
{
    if (t == NULL)
        rt__throw("rt_ticker_chan: nil ticker");
    return t->c;
}

void rt_ticker_stop(rt_ticker *t)
{
    if (t == NULL)
        rt__throw("rt_ticker_stop: nil ticker");
    rt__timer_del(&t->rt);
}
