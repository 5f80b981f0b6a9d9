/*
 * sched/timer.c -- runtime timers in per-P heaps, and rt_sleep.
 *
 * The Go >= 1.14 design: there is no timer thread.  Each P keeps the
 * timers added by goroutines running on it in a 4-ary min-heap ordered by
 * `when`, under the P's timer lock, and publishes the earliest deadline in
 * timers.when0 so that a scheduler can test "anything due?" with one load.
 *
 *   - Every schedule on a P looks at its own when0 (proc.c: find_fast and
 *     findrunnable) and runs the due timers; a spinning M looks at the other
 *     Ps' heaps too in its last stealing round.
 *   - The first M to go idle while idle Ps hold timers sleeps until the
 *     earliest of those, but at least RT_TIMER_NAP_MIN (50 us: a shorter
 *     sleep costs as much CPU and serves fewer timers; proc.c: stopm, the
 *     "timer sleeper"), then takes
 *     that very P and runs them.  Running Ps' timers are their owners'
 *     business: a sleeper woken for a busy P's timer could only spin.  A
 *     timer added with an earlier deadline, or a P going idle with one,
 *     wakes the sleeper (wake_sleeper below; pidleput in proc.c); the
 *     sleeper's announcement and the heaps' when0 form a seq_cst Dekker
 *     pair so that neither wake-up can be lost.  sysmon is the backstop for
 *     a timer on a P whose goroutine runs long without scheduling: it
 *     wakes an idle P for it, or, with none idle, sets
 *     rt__sched.orphan_timers and the running Ps run it (proc.c:
 *     run_orphan_timers) -- the one case where a running P's timers are
 *     run by others.
 *   - Heap slots carry the deadline inline: with 100,000 sleepers, sifting
 *     through pointers to timers on 100,000 stacks made every pop a string
 *     of cache misses and timers fired tens of milliseconds late.
 *
 * A timer's callback runs with no lock held, on whichever M found it due;
 * it must not block.  A periodic timer is re-armed (skipping missed
 * periods) *before* its callback runs, so deleting it during the callback
 * deletes the next firing.  A timer is on at most one heap; t->pp tells
 * which, and whoever changes t->pp holds that heap's lock.
 *
 * The TSC shortcut: "anything due?" on every schedule of a P with a timer
 * pending meant a clock read, 31 ns through the vDSO on the development
 * VM, where the whole switch of rt_yield is 20: a program with one ticker
 * running paid it on every channel hand-off.  The x86 time-stamp counter
 * reads in 12 ns.  So after a clock read finds when0 not yet due, the P's
 * owner notes the counter value before which it cannot be (proc.c:
 * note_fast_timers, from a counter value read before the clock and a rate
 * lowered by 1/256), and until when0 changes or the counter passes that
 * value, the test is one counter read.  sysmon measures the rate against
 * the clock, first over 50 ms and then every second (rt__tsc_calibrate);
 * until then, on other architectures, and when the kernel does not use
 * the counter as its own clock source (then it may not run at a constant
 * rate, or agree between CPUs) the shortcut is off and every test reads
 * the clock, as Go's checkTimers does.
 *
 * The collector reads the heaps as roots (they hold the only pointer to a
 * pending rt_after timer): a copy taken when a concurrent mark starts,
 * then in the final stop only the slots changed since, which the heap
 * operations flag a byte per 256 slots as they move timers (one store per
 * moved slot, beside the slot's own write): "The collector's view" below.
 *
 * Stopping (Go 1.14-1.22's deleted timers): a stopped rt_timer or
 * rt_ticker (GC memory: t->lazy) stays in the heap, marked as a zombie,
 * and the stop is a lock and a store: removing it sifted a slot and
 * rewrote the index of each timer moved, cache misses in a large heap
 * (100k timers: 177 ns a stop, Go 18; an outside tester's find).  A
 * zombie is dropped, never fired, when it comes to the top: by any other
 * change of the heap (publish_when0 drops the zombies it finds there) or
 * when its time comes (rt__timers_run); until then when0 may name it,
 * which costs at most a wake-up for nothing.  The deadlock check counts
 * live timers instead (timers.nlive), so a program waiting only on
 * stopped timers is still deadlocked.  When zombies pass a quarter of the
 * heap, it is rebuilt without them (heap_compact, O(n): amortised O(1) a
 * stop).  A reset re-arms a timer in place, zombie or live, on the heap
 * it is on.  A zombie keeps its object reachable until it is dropped;
 * timers on stacks or in runtime memory (rt_sleep, poll deadlines) are
 * always removed at once.
 *
 * Rejected: a global heap under one lock (every rt_sleep of every P would
 * contend on it) and a timer wheel (the heap's O(log n) is cheap at the
 * sizes programs use, and exact deadlines matter for rt_sleep).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/sched.h"

#define HEAP_D 4

typedef struct rt__timer_slot slot;

/* A slot's timer changes: its card is read again at the final stop. */
static inline void card_set(rt_p *pp, uint32_t i)
{
    pp->timers.cards[i / RT_TIMER_CARD] = 1;
}

static void heap_up(rt_p *pp, uint32_t i)
{
    slot *h = pp->timers.heap;
    slot x = h[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / HEAP_D;
        if (h[parent].when <= x.when)
            break;
        h[i] = h[parent];
        h[i].t->idx = i;
        card_set(pp, i);
        i = parent;
    }
    h[i] = x;
    x.t->idx = i;
    card_set(pp, i);
}

static void heap_down(rt_p *pp, uint32_t i)
{
    slot *h = pp->timers.heap;
    uint32_t n = pp->timers.len;
    slot x = h[i];
    for (;;) {
        uint32_t c = i * HEAP_D + 1;
        if (c >= n)
            break;
        uint32_t best = c;
        for (uint32_t k = c + 1; k < c + HEAP_D && k < n; k++)
            if (h[k].when < h[best].when)
                best = k;
        if (h[best].when >= x.when)
            break;
        h[i] = h[best];
        h[i].t->idx = i;
        card_set(pp, i);
        i = best;
    }
    h[i] = x;
    x.t->idx = i;
    card_set(pp, i);
}

static void heap_remove_nopub(rt_p *pp, rt__timer *t);

/* pp's timer lock held, after any change to its heap but a stop: zombies
 * at the top are dropped ("Stopping"), and the top's when published. */
static void publish_when0(rt_p *pp)
{
    while (pp->timers.len > 0 && pp->timers.heap[0].t->zombie) {
        rt__timer *z = pp->timers.heap[0].t;
        z->zombie = false;
        pp->timers.nzombie--;
        heap_remove_nopub(pp, z);
    }
    int64_t w = pp->timers.len ? pp->timers.heap[0].when : 0;
    if (w == 0 && pp->timers.len)
        w = 1; /* 0 means "no timers" */
    atomic_store_explicit(&pp->timers.nlive, pp->timers.len - pp->timers.nzombie,
                          memory_order_relaxed);
    atomic_store_explicit(&pp->timers.when0, w, memory_order_seq_cst);
}

_Atomic uint64_t rt__timer_table_bytes;

/* pp's timer lock held. */
static void heap_push(rt_p *pp, rt__timer *t)
{
    if (pp->timers.len == pp->timers.cap) {
        uint32_t cap = pp->timers.cap ? pp->timers.cap * 2 : 64;
        /* (timer lock held: no malloc -- gc.h, meta) */
        slot *h = rt__meta_realloc(pp->timers.heap, pp->timers.cap * sizeof *h,
                                   cap * sizeof *h);
        uint32_t oldcards = pp->timers.cap / RT_TIMER_CARD + 1;
        uint8_t *cards = rt__meta_realloc(pp->timers.cards,
                                          pp->timers.cards ? oldcards : 0,
                                          cap / RT_TIMER_CARD + 1);
        atomic_fetch_add_explicit(&rt__timer_table_bytes,
                                  (uint64_t)(cap - pp->timers.cap) * sizeof *h +
                                      (cap / RT_TIMER_CARD + 1) -
                                      (pp->timers.cards ? oldcards : 0),
                                  memory_order_relaxed);
        /* A copy taken before may have been read from the old array, whose
         * memory is gone: every slot is read again at the final stop. */
        memset(cards, 1, cap / RT_TIMER_CARD + 1);
        pp->timers.heap = h;
        pp->timers.cards = cards;
        pp->timers.cap = cap;
    }
    uint32_t i = pp->timers.len++;
    pp->timers.heap[i] = (slot){t->when, t}; /* (heap_up sets the card) */
    atomic_store_explicit(&t->pp, pp, memory_order_release);
    heap_up(pp, i);
    publish_when0(pp);
}

/* pp's timer lock held; t is on pp's heap.  when0 is left to the caller. */
static void heap_remove_nopub(rt_p *pp, rt__timer *t)
{
    uint32_t i = t->idx;
    uint32_t last = --pp->timers.len;
    if (i != last) {
        rt__timer *m = pp->timers.heap[last].t;
        pp->timers.heap[i] = pp->timers.heap[last]; /* (heap_down sets the card) */
        m->idx = i;
        heap_down(pp, i);
        heap_up(pp, m->idx);
    }
    /* Release: a later del/mod that sees NULL without the heap lock also
     * sees this heap's last reads of when and period done. */
    atomic_store_explicit(&t->pp, NULL, memory_order_release);
}

static void heap_remove(rt_p *pp, rt__timer *t)
{
    heap_remove_nopub(pp, t);
    publish_when0(pp);
}

/* pp's timer lock held: the heap rebuilt without its zombies. */
static void heap_compact(rt_p *pp)
{
    slot *h = pp->timers.heap;
    uint32_t n = 0;
    for (uint32_t i = 0; i < pp->timers.len; i++) {
        rt__timer *t = h[i].t;
        if (t->zombie) {
            t->zombie = false;
            atomic_store_explicit(&t->pp, NULL, memory_order_release);
            continue;
        }
        t->idx = n;
        h[n++] = h[i];
    }
    pp->timers.len = n;
    pp->timers.nzombie = 0;
    for (uint32_t i = n > 1 ? (n - 2) / HEAP_D + 1 : 0; i-- > 0;)
        heap_down(pp, i);
    memset(pp->timers.cards, 1, pp->timers.cap / RT_TIMER_CARD + 1);
    publish_when0(pp);
}

static rt_p *current_p(void)
{
    rt_m *mp = rt__getm();
    if (mp && mp->p)
        return mp->p;
    return rt__sched.allp[0]; /* a thread outside the scheduler */
}

/* A deadline earlier than the one the idle timer sleeper waits for must
 * wake it.  With no sleeper, the next M to go idle reads the heaps. */
static void wake_sleeper(int64_t when)
{
    /* Dekker with stopm (proc.c): our when0 store (seq_cst, in
     * publish_when0) precedes this seq_cst load, as stopm's seq_cst
     * announcement precedes its seq_cst reads of the heaps; so one of the
     * two sees the other. */
    int64_t until = atomic_load_explicit(&rt__sched.timer_sleep_until,
                                         memory_order_seq_cst);
    if (until != 0 && when >= until)
        return;
    if (until == 0)
        return; /* no sleeper: the next M to go idle computes the deadline */
    rt__lock_acquire(&rt__sched.lock);
    rt_m *sl = rt__sched.timer_sleeper;
    if (sl && when < atomic_load_explicit(&rt__sched.timer_sleep_until,
                                          memory_order_relaxed))
        rt__wake_m(sl);
    rt__lock_release(&rt__sched.lock);
}

/* Serialises add/del/mod of one timer (two goroutines resetting the same
 * rt_timer at once); held for a few instructions, so a spin. */
static void timer_busy(rt__timer *t)
{
    uint32_t zero = 0;
    while (!atomic_compare_exchange_weak_explicit(&t->busy, &zero, 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
        zero = 0;
        sched_yield();
    }
}

static void timer_idle(rt__timer *t)
{
    atomic_store_explicit(&t->busy, 0, memory_order_release);
}

/* Adds t to the current P's heap.  t->busy is held; this releases it. */
static void timer_add_locked(rt__timer *t)
{
    rt_p *pp = current_p();
    rt__lock_acquire(&pp->timers.lock);
    if (atomic_load_explicit(&t->pp, memory_order_relaxed) != NULL)
        rt__throw("timer_add: timer already added");
    heap_push(pp, t);
    int64_t when = t->when;
    /* Last touch of t: once the heap lock is released the timer may fire
     * on another M, and a timer on a goroutine's stack (rt_sleep) may be
     * gone the moment it fires. */
    timer_idle(t);
    rt__lock_release(&pp->timers.lock);
    wake_sleeper(when);
}

void rt__timer_add(rt__timer *t)
{
    timer_busy(t);
    timer_add_locked(t); /* releases busy */
}

/* Locks the heap t is on and returns it, or NULL (t not pending). */
static rt_p *lock_timer(rt__timer *t)
{
    for (;;) {
        rt_p *pp = atomic_load_explicit(&t->pp, memory_order_acquire);
        if (pp == NULL)
            return NULL;
        rt__lock_acquire(&pp->timers.lock);
        if (atomic_load_explicit(&t->pp, memory_order_relaxed) == pp)
            return pp;
        rt__lock_release(&pp->timers.lock);
    }
}

/* Needs no t->busy: under the heap's lock it is ordered with a mod's
 * in-place re-arm, and before or after the add of a mod that found t on
 * no heap (it then finds it on none, or on the new one). */
bool rt__timer_del(rt__timer *t)
{
    rt_p *pp = lock_timer(t);
    if (pp == NULL)
        return false;
    bool pending = !t->zombie;
    if (pending && t->lazy) {
        t->zombie = true; /* "Stopping": the heap is unchanged */
        uint32_t z = ++pp->timers.nzombie;
        atomic_store_explicit(&pp->timers.nlive, pp->timers.len - z, memory_order_relaxed);
        if (z > 64 && z > pp->timers.len / 4)
            heap_compact(pp);
    } else if (pending) {
        heap_remove(pp, t);
    }
    rt__lock_release(&pp->timers.lock);
    return pending;
}

bool rt__timer_mod(rt__timer *t, int64_t when, int64_t period)
{
    timer_busy(t);
    rt_p *pp = lock_timer(t);
    if (pp == NULL) {
        t->when = when;
        t->period = period;
        timer_add_locked(t); /* releases busy */
        return false;
    }
    /* Re-armed in place, on the heap it is on. */
    bool pending = !t->zombie;
    if (!pending) {
        t->zombie = false;
        pp->timers.nzombie--;
    }
    t->when = when;
    t->period = period;
    uint32_t i = t->idx;
    pp->timers.heap[i].when = when;
    heap_up(pp, i);
    heap_down(pp, t->idx);
    publish_when0(pp);
    timer_idle(t);
    rt__lock_release(&pp->timers.lock);
    wake_sleeper(when);
    return pending;
}

int64_t rt__timers_run(rt_p *pp, int64_t now)
{
    rt__lock_acquire(&pp->timers.lock);
    while (pp->timers.len > 0) {
        if (pp->timers.heap[0].when > now)
            break;
        rt__timer *t = pp->timers.heap[0].t;
        if (t->zombie) { /* stopped: dropped unfired */
            t->zombie = false;
            pp->timers.nzombie--;
            heap_remove(pp, t);
            continue;
        }
        void (*f)(void *, uintptr_t, int64_t) = t->f;
        void *arg = t->arg;
        uintptr_t seq = t->seq;
        if (t->period > 0) {
            /* Re-arm, skipping periods already missed. */
            int64_t late = now - t->when;
            t->when += t->period * (1 + late / t->period);
            pp->timers.heap[0].when = t->when;
            heap_down(pp, 0);
            publish_when0(pp);
        } else {
            heap_remove(pp, t);
        }
        /* t may be gone (freed or its stack frame popped) once f runs. */
        rt__lock_release(&pp->timers.lock);
        f(arg, seq, now);
        rt__lock_acquire(&pp->timers.lock);
    }
    int64_t next = pp->timers.len ? pp->timers.heap[0].when : 0;
    rt__lock_release(&pp->timers.lock);
    return next;
}

bool rt__timers_live(void)
{
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++)
        if (atomic_load_explicit(&rt__sched.allp[i]->timers.nlive, memory_order_relaxed) != 0)
            return true;
    return false;
}

int64_t rt__timers_next(void)
{
    int64_t next = 0;
    /* sysmon calls this without the scheduler lock, while rt_maxprocs may
     * change the P count. */
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        int64_t w = atomic_load_explicit(&rt__sched.allp[i]->timers.when0,
                                         memory_order_acquire);
        if (w != 0 && (next == 0 || w < next))
            next = w;
    }
    return next;
}

/* ------------------------------------------------ the collector's view ---
 *
 * The heaps' arrays are runtime memory (meta.c), not write-tracked, and
 * they hold the only pointer to a pending rt_after timer's object.  Read
 * only in the final stop, 1M pending timers made that stop 15-50 ms: the
 * array read there, and every timer object and its channel first marked
 * there (an outside tester's select-with-rt_after loop).  So a concurrent
 * mark's start copies each heap's timers (under the heap's lock, the
 * world running) for the marking to read, and clears the heap's cards; a
 * slot whose timer changes after that sets its card (heap_up and
 * heap_down, through which every push and removal goes), and the final
 * stop reads the slots of the set
 * cards only.  A slot whose card is clear holds the timer it held at the
 * copy, which the marking has read.  A heap that grows sets every card:
 * the copy may have been taken from the old array, and the memory of a
 * large one is unmapped when it is replaced.  The copy is read later by
 * the mark threads, so it lives until the next cycle's copy replaces it
 * (memory: a pointer per pending timer, beside the heap's two words).
 * A stopped mark, or a final stop of a cycle that took no copy, reads
 * every heap whole (snapgen tells). */
void rt__timer_roots_concurrent(rt__root_fn fn, void *ctx, uint32_t gen)
{
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt__lock_acquire(&pp->timers.lock);
        uint32_t n = pp->timers.len;
        if (n > pp->timers.snapcap) {
            /* (timer lock held: no malloc -- gc.h, meta; the old copy was
             * read by the last cycle's marking, long done) */
            uint32_t cap = n > pp->timers.snapcap * 2 ? n : pp->timers.snapcap * 2;
            pp->timers.snap = rt__meta_realloc(pp->timers.snap,
                                               pp->timers.snapcap * sizeof *pp->timers.snap,
                                               cap * sizeof *pp->timers.snap);
            atomic_fetch_add_explicit(&rt__timer_table_bytes,
                                      (uint64_t)(cap - pp->timers.snapcap) *
                                          sizeof *pp->timers.snap,
                                      memory_order_relaxed);
            pp->timers.snapcap = cap;
        }
        for (uint32_t j = 0; j < n; j++)
            pp->timers.snap[j] = pp->timers.heap[j].t;
        if (pp->timers.cards != NULL)
            memset(pp->timers.cards, 0, pp->timers.cap / RT_TIMER_CARD + 1);
        pp->timers.snapgen = gen;
        rt__lock_release(&pp->timers.lock);
        if (n > 0)
            fn((uintptr_t)pp->timers.snap, (uintptr_t)(pp->timers.snap + n), ctx);
    }
}

_Atomic uint64_t rt__timer_stop_slots;

void rt__timer_roots_stopped(rt__root_fn fn, void *ctx, uint32_t gen)
{
    uint64_t slots = 0;
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt__lock_acquire(&pp->timers.lock);
        uint32_t n = pp->timers.len;
        slot *h = pp->timers.heap;
        if (n > 0 && pp->timers.snapgen != gen) {
            fn((uintptr_t)h, (uintptr_t)(h + n), ctx);
            slots += n;
        } else {
            for (uint32_t k = 0; k * RT_TIMER_CARD < n; k++) {
                if (!pp->timers.cards[k])
                    continue;
                uint32_t lo = k * RT_TIMER_CARD, hi = lo + RT_TIMER_CARD;
                if (hi > n)
                    hi = n;
                fn((uintptr_t)(h + lo), (uintptr_t)(h + hi), ctx);
                slots += hi - lo;
            }
        }
        rt__lock_release(&pp->timers.lock);
    }
    atomic_store_explicit(&rt__timer_stop_slots, slots, memory_order_relaxed);
}

void rt__timers_move(rt_p *from, rt_p *to)
{
    rt__lock_acquire(&from->timers.lock);
    rt__lock_acquire(&to->timers.lock);
    while (from->timers.len > 0) {
        rt__timer *t = from->timers.heap[from->timers.len - 1].t;
        heap_remove_nopub(from, t);
        if (t->zombie) { /* stopped: dropped, not moved */
            t->zombie = false;
            from->timers.nzombie--;
            continue;
        }
        heap_push(to, t);
    }
    publish_when0(from);
    rt__lock_release(&to->timers.lock);
    rt__lock_release(&from->timers.lock);
}

/* ----------------------------------------------------------- rt_sleep --- */

static void sleep_wake(void *arg, uintptr_t seq, int64_t now)
{
    (void)seq;
    (void)now;
    rt__goready(arg);
}

/* Runs after the sleeper switched out: only now may the timer fire. */
static bool sleep_arm(rt_g *gp, void *arg)
{
    (void)gp;
    rt__timer_add(arg);
    return true;
}

void rt_sleep(int64_t ns)
{
    if (ns <= 0)
        return;
    rt_g *gp = rt__getg();
    if (gp == NULL) {
        /* Not a goroutine (a foreign thread): block the thread. */
        rt__foreign_note();
        struct timespec ts = {.tv_sec = ns / RT_SECOND, .tv_nsec = ns % RT_SECOND};
        while (nanosleep(&ts, &ts) != 0)
            ;
        return;
    }
    rt__timer t = {0};
    int64_t when;
    if (__builtin_add_overflow(rt_nanotime(), ns, &when))
        when = INT64_MAX; /* sleep "forever" (Go's when() clamps so too) */
    t.when = when;
    t.f = sleep_wake;
    t.arg = gp;
    rt__gopark(sleep_arm, &t, RT_WAIT_SLEEP);
}

_Atomic uint64_t rt__tsc_per_ns;

#define RT_TSC_MARGIN 256 /* the rate is lowered by 1/256 */

/* Whether the kernel's clock source is the time-stamp counter: it checks
 * that the counter is invariant and synchronized across CPUs before it
 * uses it (and stops using it when it finds otherwise). */
bool rt__tsc_is_clocksource(void)
{
#if defined(__x86_64__)
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (f == NULL)
        return false;
    char name[32] = {0};
    bool tsc = fgets(name, sizeof name, f) != NULL && strcmp(name, "tsc\n") == 0;
    fclose(f);
    return tsc;
#else
    return false;
#endif
}

/* One (counter, clock) pair read close together: the counter before and
 * after the clock read, tried a few times.  A pair whose reads are more
 * than PAIR_TICKS apart (about 4-20 us at 1-5 GHz: the thread was
 * descheduled) would skew the rate; false if no try was that tight. */
#define PAIR_TICKS 20000
bool rt__tsc_pair(uint64_t *tsc, int64_t *ns)
{
    for (int i = 0; i < 4; i++) {
        uint64_t a = rt__tsc();
        int64_t n = rt_nanotime();
        uint64_t b = rt__tsc();
        if (b >= a && b - a < PAIR_TICKS) {
            *tsc = a + (b - a) / 2;
            *ns = n;
            return true;
        }
    }
    return false;
}

void rt__tsc_calibrate(int64_t now)
{
    static int state; /* 0: not looked yet, 1: calibrating, -1: off */
    static uint64_t tsc0;
    static int64_t ns0;
    if (state < 0)
        return;
    if (state == 0) {
        state = rt__tsc_is_clocksource() ? 1 : -1;
        if (state > 0 && !rt__tsc_pair(&tsc0, &ns0))
            ns0 = 0;
        return;
    }
    /* The first rate over 50 ms (a pair's skew, at most PAIR_TICKS, is
     * then under 0.04 %, well inside the margin), then every second. */
    uint64_t old = atomic_load_explicit(&rt__tsc_per_ns, memory_order_relaxed);
    if (ns0 != 0 && now - ns0 < (old != 0 ? RT_SECOND : 50 * RT_MILLISECOND))
        return;
    uint64_t t;
    int64_t n;
    if (!rt__tsc_pair(&t, &n))
        return; /* try again next tick */
    if (ns0 == 0) {
        tsc0 = t;
        ns0 = n;
        return;
    }
    double rate = (double)(t - tsc0) / (double)(n - ns0); /* ticks per ns */
    if (t <= tsc0 || n <= ns0 || !(rate > 0.05 && rate < 64.0)) {
        /* a counter that went back or runs at an absurd rate: off */
        state = -1;
        atomic_store_explicit(&rt__tsc_per_ns, 0, memory_order_relaxed);
        return;
    }
    double fixed = rate * (1.0 - 1.0 / RT_TSC_MARGIN) * 4294967296.0;
    atomic_store_explicit(&rt__tsc_per_ns, (uint64_t)fixed, memory_order_relaxed);
    tsc0 = t;
    ns0 = n;
}

int64_t rt_nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RT_SECOND + ts.tv_nsec;
}

