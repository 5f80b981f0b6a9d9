/*
 * sched/sync.c -- the sync primitives of rt.h: rt_mutex, rt_rwmutex,
 * rt_waitgroup, rt_cond, rt_once and rt_pool (Go's package sync).
 *
 * What and how
 *   Each primitive is Go's algorithm, transcribed: a word of state changed
 *   with atomics, and semaphores (sema.c) to park and wake goroutines when
 *   the word says someone must wait.  Nothing here parks directly; every
 *   park goes through sema.c, which also feeds the block profile and the
 *   mutex-contention hook.  Blocking parks the goroutine, never the thread.
 *
 *   The fields are plain integers in rt.h (a public header that must stay
 *   valid C++ and cannot name rt__lock or _Atomic types), so every access
 *   to a shared field here goes through GCC's __atomic builtins, which are
 *   defined on plain objects (GCC and Clang).  Memory orders: seq_cst
 *   unless stated, as Go's sync/atomic; the fast paths say theirs.
 *
 * rt_mutex (sync.Mutex, Go >= 1.9)
 *   state_ = LOCKED | WOKEN | STARVING | waiters << 3.  Lock is one CAS
 *   0 -> LOCKED when free; unlock is one atomic add when nobody waits.
 *   Normal mode: waiters queue FIFO on sema_, but a woken waiter does not
 *   own the lock, it competes with newcomers, which usually win (they are
 *   already running).  A newcomer may spin a few times (rt__sync_can_spin:
 *   only with other Ps running and an empty local run queue) and marks the
 *   mutex WOKEN so that unlock does not wake a waiter needlessly.  A woken
 *   waiter that loses re-queues at the head (LIFO); so does one whose
 *   wake-up a goroutine coming to the semaphore took first, after a look
 *   at the mutex (mutex_rewait: where Go's waiter re-queues at the tail
 *   and may never get to starve the mutex).  Starvation mode: once
 *   a waiter has waited more than 1 ms it sets STARVING; from then unlock
 *   hands the lock directly to the first waiter (semrelease with handoff),
 *   newcomers neither spin nor take the lock but queue at the tail.  The
 *   mode ends when the waiter that got the lock is the last one or waited
 *   less than 1 ms.  Normal mode is much faster (a goroutine can take a
 *   lock many times in a row); starvation mode bounds the tail latency.
 *   Rejected: a pure FIFO handoff lock (every contended unlock costs a
 *   context switch: a convoy) and a pure barging lock (a waiter can starve
 *   forever behind a goroutine that re-locks in a loop, Go issue 13086).
 *
 * rt_rwmutex (sync.RWMutex)
 *   reader_count_ counts readers; a writer subtracts MAX_READERS, which
 *   makes it negative and sends new readers to wait on reader_sem_ (writer
 *   preference: a stream of readers cannot starve a writer).  reader_wait_
 *   counts the readers the writer still waits for; the last one to leave
 *   releases writer_sem_.  Writers exclude each other with w_.
 *
 * rt_waitgroup (sync.WaitGroup)
 *   state_ = counter << 32 | waiters, one 64-bit word, so that Add and
 *   Wait agree on both with one atomic operation.  The Add that brings the
 *   counter to 0 with waiters resets the word to 0 (ready for reuse) and
 *   releases the semaphore once per waiter.
 *
 * rt_cond (sync.Cond)
 *   Go's notifyList (sema.c): wait takes a ticket while still holding the
 *   mutex, unlocks, parks until its ticket is notified, relocks.  Signal
 *   wakes the oldest waiter, broadcast all current ones.
 *
 * rt_once (sync.Once)
 *   done_ read with acquire on the fast path.  The slow path runs fn under
 *   the once's mutex, so concurrent callers wait on the mutex until fn has
 *   returned, and only then done_ is set (release).  A fn that ends its
 *   goroutine with rt_exit leaves the once done and unlocked, as Go's
 *   deferred store and unlock do after Goexit: C has no defer, so the slow
 *   path links a frame on its stack to the goroutine and rt_exit completes
 *   every frame still linked (rt__once_goexit), innermost first.
 *
 * rt_pool (sync.Pool)
 *   Per-P caches, indexed by the P's id: a private slot that only the
 *   owner P touches (no lock, no atomics) and a shared ring guarded by an
 *   rt__lock, from which other Ps steal when their own is empty.  Put
 *   fills private, then the ring (newest on top).  The ring starts inline
 *   (POOL_SHARED slots) and doubles in malloc'ed memory when full, as Go's
 *   poolChain grows: a pool keeps everything put into it until the next
 *   collection (it dropped what did not fit in 32 slots, so 1,000 puts
 *   gave back 33 objects; Go's gives back all 1,000 -- an outside
 *   tester's find).  A grown ring emptied by a collection is given back
 *   once the world runs again (rt__pool_free_retired).
 *   Get takes private, then the top of its own ring, then steals the
 *   oldest object of another P, then calls new_fn.
 *   "Owner P only" relies on the goroutine staying on its P between
 *   reading m->p and the access: grt switches only at explicit calls
 *   (C code is not preempted), none occurs in between, and mp->locks is
 *   raised around it as Go's procPin does, should the scheduler ever learn
 *   to preempt.  The per-P array is sized by rt__sched.gomaxprocs on first
 *   use; a P id beyond it (rt_maxprocs raised) makes a bigger array, and
 *   the old one is kept on a retired list until rt__pool_clear_all (world
 *   stopped, so nobody can still be using it) frees it.  Every pool joins
 *   a global registry when its array is made; rt__pool_clear_all empties
 *   all of them.  Rejected: Go's lock-free poolChain (a dequeue per P with
 *   CAS on both ends, unbounded): much more code for a steal path that is
 *   rare; a lock per P ring is uncontended in the common case.  Rejected
 *   for now: Go 1.13's victim cache (objects survive one GC); the brief
 *   of this runtime is Go 1.3's drop-everything behaviour.
 *   The arrays come from malloc and are not GC roots: correctness relies
 *   on the collector clearing every pool before it marks, with the world
 *   stopped (rt__pool_clear_all's contract).
 *
 * Fatal errors are Go's messages through rt__throw (exit status 2).
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

/* ------------------------------------------------------------- spinning -- */

/* How many times to spin is rt__sync_can_spin's business (proc.c: a few
 * times, only with other Ps running and an empty local run queue); one
 * spin is this many pause instructions, as Go's active_spin_cnt. */
#define ACTIVE_SPIN_CNT 30


static void do_spin(void)
{
    for (int i = 0; i < ACTIVE_SPIN_CNT; i++)
        rt__cpu_relax();
}

/* ---------------------------------------------------------------- mutex -- */

enum {
    MUTEX_LOCKED = 1,   /* held */
    MUTEX_WOKEN = 2,    /* a goroutine is awake and competing: wake no other */
    MUTEX_STARVING = 4, /* unlock hands the lock to the first waiter */
    MUTEX_WAITER_SHIFT = 3,
};

/* A waiter that waited longer than this switches the mutex to starvation
 * mode. */
#define STARVATION_THRESHOLD_NS (1 * RT_MILLISECOND)

static inline int32_t load32(const int32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline bool cas32(int32_t *p, int32_t old, int32_t new_)
{
    return __atomic_compare_exchange_n(p, &old, new_, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

/*
 * A waiter woken without the semaphore's count: a goroutine that came to
 * the semaphore while the woken one waited for a P took it (in normal
 * mode, with the WOKEN role, which it clears).  Go's semacquire queues the
 * waiter again at the tail without a look at the mutex, so it may never
 * get to switch it to starvation mode: beside two goroutines locking and
 * unlocking in loops on a loaded host, a waiter woken every 4 ms lost each
 * wake-up and waited 0.1-1.7 s (Go 4-24 ms; an outside tester's find).
 * Here, once it waited past the threshold, it marks the mutex starving
 * (from then unlock hands it over) and queues again at the head.  Only
 * with the mutex held and nobody WOKEN, the state in which a waiter's own
 * CAS sets STARVING: while WOKEN, a wake-up's count may be in flight (to
 * the goroutine that took ours, or to us: an unlock since our wake-up
 * counted us as its waiter), and whoever takes it reads STARVING as the
 * lock handed over.  It takes no free mutex for the same reason: an
 * unlock may have taken it off the waiter count already.  Queuing again
 * is always sound (what Go does): a count left for us is taken then.
 */
static void mutex_rewait(rt_mutex *m)
{
    int32_t old = load32(&m->state_);
    while ((old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) == MUTEX_LOCKED &&
           (old >> MUTEX_WAITER_SHIFT) != 0 && !cas32(&m->state_, old, old | MUTEX_STARVING))
        old = load32(&m->state_);
}

static void mutex_lock_slow(rt_mutex *m)
{
    int64_t wait_start = 0;
    bool starving = false, awoke = false;
    int iter = 0;
    int32_t old = load32(&m->state_);

    for (;;) {
        /* Spin only in normal mode while the lock is held: in starvation
         * mode it is handed to a waiter, so spinning cannot win it. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
            rt__sync_can_spin(iter)) {
            /* Tell unlock not to wake a waiter: we are awake already. */
            if (!awoke && (old & MUTEX_WOKEN) == 0 &&
                (old >> MUTEX_WAITER_SHIFT) != 0 &&
                cas32(&m->state_, old, old | MUTEX_WOKEN))
                awoke = true;
            do_spin();
            iter++;
            old = load32(&m->state_);
            continue;
        }
        int32_t new_ = old;
        /* A starving mutex is not for newcomers: they queue. */
        if ((old & MUTEX_STARVING) == 0)
            new_ |= MUTEX_LOCKED;
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
            new_ += 1 << MUTEX_WAITER_SHIFT;
        /* Switch to starvation mode, but only if the mutex is held:
         * unlock expects a starving mutex to have waiters. */
        if (starving && (old & MUTEX_LOCKED) != 0)
            new_ |= MUTEX_STARVING;
        if (awoke) {
            /* We were woken (or claimed WOKEN): give the flag back, we
             * either take the lock or go back to sleep. */
            if ((new_ & MUTEX_WOKEN) == 0)
                rt__throw("sync: inconsistent mutex state");
            new_ &= ~MUTEX_WOKEN;
        }
        if (!cas32(&m->state_, old, new_)) {
            old = load32(&m->state_);
            continue;
        }
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == 0)
            return; /* locked it with the CAS */

        /* Queue: at the head if we waited before (keep our place). */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = rt_nanotime();
        for (;;) {
            bool got = rt__semacquire(&m->sema_, lifo,
                                      RT_SEMA_PROFILE_BLOCK | RT_SEMA_PROFILE_MUTEX |
                                          RT_SEMA_WAKE_ONCE,
                                      2);
            starving = starving ||
                       rt_nanotime() - wait_start > STARVATION_THRESHOLD_NS;
            if (got)
                break;
            if (starving)
                mutex_rewait(m);
            lifo = true;
        }
        old = load32(&m->state_);
        if ((old & MUTEX_STARVING) != 0) {
            /* The lock was handed to us: nobody else can have it, WOKEN is
             * clear and we are still counted as a waiter. */
            if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) != 0 ||
                (old >> MUTEX_WAITER_SHIFT) == 0)
                rt__throw("sync: inconsistent mutex state");
            int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
            /* Leave starvation mode if we did not starve or were the last
             * waiter, before it costs more handoffs than it saves. */
            if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
                delta -= MUTEX_STARVING;
            __atomic_add_fetch(&m->state_, delta, __ATOMIC_SEQ_CST);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

void rt_mutex_lock(rt_mutex *m)
{
    /* Fast path: unlocked, no waiters.  Acquire on success. */
    int32_t unlocked = 0;
    if (rt__likely(__atomic_compare_exchange_n(&m->state_, &unlocked,
                                               MUTEX_LOCKED, false,
                                               __ATOMIC_ACQUIRE,
                                               __ATOMIC_RELAXED)))
        return;
    mutex_lock_slow(m);
}

bool rt_mutex_trylock(rt_mutex *m)
{
    int32_t old = __atomic_load_n(&m->state_, __ATOMIC_RELAXED);
    if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
        return false;
    /* Somebody may be spinning for it; we may still take it (a trylock
     * never waits).  Acquire on success. */
    return __atomic_compare_exchange_n(&m->state_, &old, old | MUTEX_LOCKED,
                                       false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static void mutex_unlock_slow(rt_mutex *m, int32_t new_)
{
    if (((new_ + MUTEX_LOCKED) & MUTEX_LOCKED) == 0)
        rt__throw("sync: unlock of unlocked mutex");
    if ((new_ & MUTEX_STARVING) != 0) {
        /* Hand the lock to the first waiter and yield to it.  LOCKED is
         * not set: the waiter sets it.  Meanwhile the mutex counts as
         * held because STARVING keeps newcomers out. */
        rt__semrelease(&m->sema_, true, 2);
        return;
    }
    int32_t old = new_;
    for (;;) {
        /* No waiters, or someone already took the lock, or a goroutine is
         * already awake: nobody to wake. */
        if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
            (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) != 0)
            return;
        /* Take one waiter off the count and mark it awake. */
        new_ = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
        if (cas32(&m->state_, old, new_)) {
            rt__semrelease(&m->sema_, false, 2);
            return;
        }
        old = load32(&m->state_);
    }
}

void rt_mutex_unlock(rt_mutex *m)
{
    /* Fast path: drop LOCKED; nothing else set means nobody to wake.
     * Release (and the slow path's CAS is seq_cst). */
    int32_t new_ = __atomic_sub_fetch(&m->state_, MUTEX_LOCKED,
                                      __ATOMIC_RELEASE);
    if (rt__unlikely(new_ != 0)) {
        mutex_unlock_slow(m, new_);
        /* No tail call: the mutex profile's stacks start at this frame, as
         * Go's start at sync.(*Mutex).Unlock. */
        __asm__ volatile("");
    }
    rt__preempt_point(); /* (rt_rwmutex_unlock's too) */
}

/* -------------------------------------------------------------- rwmutex -- */

#define MAX_READERS (1 << 30)

void rt_rwmutex_rlock(rt_rwmutex *rw)
{
    if (__atomic_add_fetch(&rw->reader_count_, 1, __ATOMIC_SEQ_CST) < 0) {
        /* A writer holds or waits for the lock: wait for its unlock. */
        rt__semacquire(&rw->reader_sem_, false,
                       RT_SEMA_PROFILE_BLOCK | RT_SEMA_PROFILE_MUTEX, 1);
        /* Not a tail call: the skip of 1 counts this frame, which the
         * block profile's record starts at (Go's RLock) -- as a tail call
         * the caller was skipped instead. */
        __asm__ volatile("" ::: "memory");
    }
}

static void rwmutex_runlock_slow(rt_rwmutex *rw, int32_t r)
{
    if (r + 1 == 0 || r + 1 == -MAX_READERS)
        rt__throw("sync: RUnlock of unlocked RWMutex");
    /* A writer is waiting: the last reader it waits for wakes it. */
    if (__atomic_sub_fetch(&rw->reader_wait_, 1, __ATOMIC_SEQ_CST) == 0)
        rt__semrelease(&rw->writer_sem_, false, 2);
}

void rt_rwmutex_runlock(rt_rwmutex *rw)
{
    int32_t r = __atomic_sub_fetch(&rw->reader_count_, 1, __ATOMIC_SEQ_CST);
    if (r < 0)
        rwmutex_runlock_slow(rw, r);
    rt__preempt_point();
}

void rt_rwmutex_lock(rt_rwmutex *rw)
{
    /* First exclude other writers. */
    rt_mutex_lock(&rw->w_);
    /* Announce ourselves: from now on new readers block.  r is the number
     * of readers still inside. */
    int32_t r = __atomic_sub_fetch(&rw->reader_count_, MAX_READERS,
                                   __ATOMIC_SEQ_CST) + MAX_READERS;
    /* Wait for them.  reader_wait_ may already be negative if some left
     * between the two adds; whoever brings it to 0 is the last. */
    if (r != 0 &&
        __atomic_add_fetch(&rw->reader_wait_, r, __ATOMIC_SEQ_CST) != 0)
        rt__semacquire(&rw->writer_sem_, false,
                       RT_SEMA_PROFILE_BLOCK | RT_SEMA_PROFILE_MUTEX, 1);
    __asm__ volatile("" ::: "memory"); /* no tail call: see rlock */
}

void rt_rwmutex_unlock(rt_rwmutex *rw)
{
    /* Let readers in again.  r: readers that blocked meanwhile. */
    int32_t r = __atomic_add_fetch(&rw->reader_count_, MAX_READERS,
                                   __ATOMIC_SEQ_CST);
    if (r >= MAX_READERS)
        rt__throw("sync: Unlock of unlocked RWMutex");
    for (int32_t i = 0; i < r; i++)
        rt__semrelease(&rw->reader_sem_, false, 1);
    /* Then let other writers in. */
    rt_mutex_unlock(&rw->w_);
}

/* ------------------------------------------------------------ waitgroup -- */

void rt_waitgroup_add(rt_waitgroup *wg, int delta)
{
    uint64_t state = __atomic_add_fetch(&wg->state_,
                                        (uint64_t)(int64_t)delta << 32,
                                        __ATOMIC_SEQ_CST);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;

    if (v < 0)
        rt__throw("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == delta)
        rt__throw("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter 0 with waiters: this Add released them.  Nothing else may
     * touch the word now (a Wait would see 0 and not add itself; an Add
     * would be the misuse checked above), so a plain reset is safe. */
    if (__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST) != state)
        rt__throw("sync: WaitGroup misuse: Add called concurrently with Wait");
    __atomic_store_n(&wg->state_, 0, __ATOMIC_SEQ_CST);
    for (; w != 0; w--)
        rt__semrelease(&wg->sema_, false, 1);
}

void rt_waitgroup_done(rt_waitgroup *wg)
{
    rt_waitgroup_add(wg, -1);
}

void rt_waitgroup_wait(rt_waitgroup *wg)
{
    uint64_t state = __atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST);
    for (;;) {
        if ((int32_t)(state >> 32) == 0)
            return;
        /* Count ourselves as a waiter (state is updated on failure). */
        if (__atomic_compare_exchange_n(&wg->state_, &state, state + 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            rt__semacquire(&wg->sema_, false, RT_SEMA_PROFILE_BLOCK, 1);
            if (__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST) != 0)
                rt__throw("sync: WaitGroup is reused before previous Wait "
                          "has returned");
            return;
        }
    }
}

/* ----------------------------------------------------------------- cond -- */

void rt_cond_init(rt_cond *c, rt_mutex *l)
{
    memset(c, 0, sizeof *c);
    c->l_ = l;
}

void rt_cond_wait(rt_cond *c)
{
    if (c->l_ == NULL)
        rt__throw("sync: rt_cond_wait on a cond without rt_cond_init");
    /* The ticket is taken with the mutex held: a signal after our unlock
     * is sure to count us. */
    uint32_t t = rt__notify_list_add(c);
    rt_mutex_unlock(c->l_);
    rt__notify_list_wait(c, t);
    rt_mutex_lock(c->l_);
}

void rt_cond_signal(rt_cond *c)
{
    rt__notify_list_notify_one(c);
}

void rt_cond_broadcast(rt_cond *c)
{
    rt__notify_list_notify_all(c);
}

/* ----------------------------------------------------------------- once -- */

struct rt__once_frame {
    rt_once *o;
    struct rt__once_frame *next;
};

/* once_slow's frame is left while fn has not returned: a C++ exception
 * thrown by fn unwinds through it (this file is compiled with -fexceptions
 * so that it runs then).  Go's Do treats a panicking f as returned: the
 * once is done and unlocked, and the exception goes on to the caller's
 * catch.  Left locked, the next rt_once_do was "all goroutines are asleep
 * - deadlock!" (an outside tester's find). */
static void once_abandon(rt_g *gp, struct rt__once_frame *f);

static void once_unwound(struct rt__once_frame **pending)
{
    if (*pending != NULL) /* NULL: fn returned */
        once_abandon(rt__getg(), *pending);
}

static void once_slow(rt_once *o, void (*fn)(void))
{
    rt_mutex_lock(&o->m_);
    /* Under m_: relaxed is enough, the mutex orders it. */
    if (__atomic_load_n(&o->done_, __ATOMIC_RELAXED) == 0) {
        rt_g *gp = rt__getg(); /* NULL on a thread the runtime did not make */
        struct rt__once_frame f = {o, gp ? gp->onces : NULL};
        if (gp)
            gp->onces = &f;
        struct rt__once_frame *pending __attribute__((cleanup(once_unwound))) = &f;
        fn();
        pending = NULL;
        if (gp)
            gp->onces = f.next;
        /* Release: a caller that sees done_ == 1 on the fast path sees
         * everything fn wrote. */
        __atomic_store_n(&o->done_, 1, __ATOMIC_RELEASE);
    }
    rt_mutex_unlock(&o->m_);
}

/* A call in progress whose fn will not return (rt_exit, a C++ exception):
 * the once is done and unlocked, its frame off gp's list (gp NULL on a
 * thread the runtime did not make: no list). */
static void once_abandon(rt_g *gp, struct rt__once_frame *f)
{
    if (gp != NULL && gp->onces == f)
        gp->onces = f->next;
    __atomic_store_n(&f->o->done_, 1, __ATOMIC_RELEASE);
    rt_mutex_unlock(&f->o->m_);
}

void rt__once_goexit(rt_g *gp)
{
    while (gp->onces != NULL)
        once_abandon(gp, gp->onces);
}

void rt_once_do(rt_once *o, void (*fn)(void))
{
    if (rt__likely(__atomic_load_n(&o->done_, __ATOMIC_ACQUIRE) != 0))
        return;
    once_slow(o, fn);
}

/* ----------------------------------------------------------------- pool -- */

#define POOL_SHARED 32 /* slots of a P's inline shared ring */

typedef struct pool_local {
    /* Owner P only: no lock, no atomics (see "Owner P only"). */
    _Alignas(64) void *private_obj;
    rt__lock lock;  /* guards head, n, cap, big and ring */
    uint32_t head;  /* index of the oldest object in the ring */
    /* Objects in the ring, <= its capacity.  Written under lock (relaxed
     * atomic stores), peeked without it by thieves (relaxed loads). */
    uint32_t n;
    uint32_t cap;   /* slots of big; 0: the inline ring */
    void **big;     /* a grown ring (malloc), or NULL */
    void *ring[POOL_SHARED];
} pool_local;

/* The ring of l and its capacity (under l->lock). */
static inline void **ring_of(pool_local *l)
{
    return l->big != NULL ? l->big : l->ring;
}

static inline uint32_t cap_of(const pool_local *l)
{
    return l->big != NULL ? l->cap : POOL_SHARED;
}

typedef struct pool_locals {
    uint32_t n;                  /* Ps it was sized for; immutable */
    struct pool_locals *retired; /* older arrays of the pool; pools_lock */
    pool_local l[];              /* [n] */
} pool_locals;

/* Under l->lock. */
static inline void set_n(pool_local *l, uint32_t n)
{
    __atomic_store_n(&l->n, n, __ATOMIC_RELAXED);
}

/* Guards the registry and the making of per-P arrays (rare). */
static rt__lock pools_lock;
static rt_pool *all_pools; /* linked by next_; pools_lock */

/* Makes (or grows) p's per-P array so that it has a slot for P pid. */
static pool_locals *pool_make_locals(rt_pool *p, int32_t pid)
{
    rt__lock_acquire(&pools_lock);
    pool_locals *old = __atomic_load_n((pool_locals **)&p->local_,
                                       __ATOMIC_ACQUIRE);
    if (old != NULL && (uint32_t)pid < old->n) {
        rt__lock_release(&pools_lock);
        return old; /* another P made it meanwhile */
    }
    /* gomaxprocs changes only with the world stopped; relaxed. */
    uint32_t n = (uint32_t)__atomic_load_n(&rt__sched.gomaxprocs,
                                           __ATOMIC_RELAXED);
    if (n <= (uint32_t)pid)
        n = (uint32_t)pid + 1;
    size_t size = sizeof(pool_locals) + n * sizeof(pool_local);
    size = (size + 63) & ~(size_t)63;
    pool_locals *pl = aligned_alloc(64, size);
    if (pl == NULL)
        rt__throw("sync: out of memory for a pool's per-P caches");
    memset(pl, 0, size);
    pl->n = n;
    if (old == NULL) {
        p->next_ = all_pools;
        all_pools = p;
    } else {
        /* Someone may still be using old: keep it until the next clear.
         * Its objects are dropped (a pool may drop anything). */
        pl->retired = old;
    }
    /* Release: the zeroed array is visible before the pointer. */
    __atomic_store_n((pool_locals **)&p->local_, pl, __ATOMIC_RELEASE);
    rt__lock_release(&pools_lock);
    return pl;
}

/* procPin: the calling goroutine's M inside a no-stop region (the world
 * never stops with a P inside a pool operation, so rt__pool_clear_all may
 * empty every P's slots), or NULL when not running on a P (then the pool
 * holds nothing for us). */
static rt_m *pool_pin(void)
{
    rt_m *mp = rt__getm();
    if (mp == NULL || mp->p == NULL || mp->curg == NULL)
        return NULL;
    __atomic_store_n(&mp->locks, mp->locks + 1, __ATOMIC_RELAXED); /* scheddetail */
    rt__nostop_begin(mp);
    return mp;
}

static void pool_unpin(rt_m *mp)
{
    rt__nostop_end(mp);
    __atomic_store_n(&mp->locks, mp->locks - 1, __ATOMIC_RELAXED);
}

static pool_local *pool_local_for(rt_pool *p, rt_m *mp, pool_locals **plp)
{
    int32_t pid = mp->p->id;
    pool_locals *pl = __atomic_load_n((pool_locals **)&p->local_,
                                      __ATOMIC_ACQUIRE);
    if (rt__unlikely(pl == NULL || (uint32_t)pid >= pl->n))
        pl = pool_make_locals(p, pid);
    *plp = pl;
    return &pl->l[pid];
}

void rt_pool_put(rt_pool *p, void *x)
{
    if (x == NULL)
        return;
    rt_m *mp = pool_pin();
    if (mp == NULL)
        return;
    pool_locals *pl;
    pool_local *l = pool_local_for(p, mp, &pl);
    if (l->private_obj == NULL) {
        l->private_obj = x;
    } else {
        rt__lock_acquire(&l->lock);
        uint32_t cap = cap_of(l);
        void **ring = ring_of(l);
        if (l->n == cap && cap <= UINT32_MAX / 2) {
            /* Full: double it, oldest first.  (On failure the object
             * is dropped, which a pool may do.) */
            void **grown = malloc(2 * (size_t)cap * sizeof *grown);
            if (grown != NULL) {
                for (uint32_t i = 0; i < l->n; i++)
                    grown[i] = ring[(l->head + i) % cap];
                free(l->big);
                l->big = grown;
                l->cap = cap = 2 * cap;
                l->head = 0;
                ring = grown;
            }
        }
        if (l->n < cap) {
            ring[(l->head + l->n) % cap] = x;
            set_n(l, l->n + 1);
        }
        rt__lock_release(&l->lock);
    }
    pool_unpin(mp);
}

/* Takes the oldest object of another P's ring. */
static void *pool_steal(pool_locals *pl, int32_t pid)
{
    for (uint32_t i = 1; i < pl->n; i++) {
        pool_local *v = &pl->l[((uint32_t)pid + i) % pl->n];
        /* Unlocked peek (relaxed): skip empty victims without the lock. */
        if (__atomic_load_n(&v->n, __ATOMIC_RELAXED) == 0)
            continue;
        void *x = NULL;
        rt__lock_acquire(&v->lock);
        if (v->n > 0) {
            x = ring_of(v)[v->head];
            v->head = (v->head + 1) % cap_of(v);
            set_n(v, v->n - 1);
        }
        rt__lock_release(&v->lock);
        if (x != NULL)
            return x;
    }
    return NULL;
}

void *rt_pool_get(rt_pool *p)
{
    void *x = NULL;
    rt_m *mp = pool_pin();
    if (mp != NULL) {
        pool_locals *pl;
        pool_local *l = pool_local_for(p, mp, &pl);
        x = l->private_obj;
        l->private_obj = NULL;
        if (x == NULL) {
            rt__lock_acquire(&l->lock);
            if (l->n > 0) {
                set_n(l, l->n - 1);
                x = ring_of(l)[(l->head + l->n) % cap_of(l)];
            }
            rt__lock_release(&l->lock);
        }
        if (x == NULL)
            x = pool_steal(pl, mp->p->id);
        pool_unpin(mp);
    }
    /* new_fn runs unpinned: it may block. */
    if (x == NULL && p->new_fn != NULL)
        x = p->new_fn();
    return x;
}

/* Retired arrays unlinked by the last clear, freed once the world runs
 * again (free may need a malloc lock that a stopped thread holds). */
static pool_locals *to_free;
static bool shrink_pending; /* a clear emptied a grown ring; pools_lock */

void rt__pool_free_retired(void)
{
    rt__lock_acquire(&pools_lock);
    pool_locals *r = to_free;
    to_free = NULL;
    if (shrink_pending) {
        /* Grown rings the clear emptied, if still empty: back to the
         * inline ring (the world runs; each ring under its lock). */
        shrink_pending = false;
        for (rt_pool *p = all_pools; p != NULL; p = p->next_) {
            pool_locals *pl = p->local_;
            for (uint32_t i = 0; i < pl->n; i++) {
                pool_local *l = &pl->l[i];
                void **big = NULL;
                rt__lock_acquire(&l->lock);
                if (l->big != NULL && l->n == 0) {
                    big = l->big;
                    l->big = NULL;
                    l->cap = 0;
                    l->head = 0;
                }
                rt__lock_release(&l->lock);
                free(big);
            }
        }
    }
    rt__lock_release(&pools_lock);
    for (pool_locals *next; r != NULL; r = next) {
        next = r->retired;
        for (uint32_t i = 0; i < r->n; i++)
            free(r->l[i].big);
        free(r);
    }
}

void rt__pool_clear_all(void)
{
    rt__lock_acquire(&pools_lock);
    for (rt_pool *p = all_pools; p != NULL; p = p->next_) {
        pool_locals *pl = p->local_;
        for (uint32_t i = 0; i < pl->n; i++) {
            pool_local *l = &pl->l[i];
            /* World stopped: no P is inside a pinned section. */
            l->private_obj = NULL;
            rt__lock_acquire(&l->lock);
            l->head = 0;
            set_n(l, 0);
            if (l->big != NULL)
                shrink_pending = true; /* free() waits for the restart */
            rt__lock_release(&l->lock);
        }
        for (pool_locals *r = pl->retired, *next; r != NULL; r = next) {
            next = r->retired;
            r->retired = to_free;
            to_free = r;
        }
        pl->retired = NULL;
    }
    rt__lock_release(&pools_lock);
}
