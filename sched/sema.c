/*
 * sched/sema.c -- the runtime semaphore table and the notify lists.
 *
 * Everything in grt's sync package that has to wait parks here, and only
 * here: sync.c is written with atomics on the public structs and calls
 * rt__semacquire / rt__semrelease (mutexes, rwmutexes, waitgroups) or the
 * notify-list functions (conds) when it must block or wake.  So this file
 * is the one place where sync waits meet the scheduler (rt__gopark /
 * rt__goready), the block profile (rt__block_event) and the mutex profile
 * hook (rt__mutex_contention_event).  It re-creates Go's runtime/sema.go.
 *
 * The semaphore
 *
 *   A semaphore is any uint32_t in user memory (rt_mutex.sema_,
 *   rt_waitgroup.sema_, ...); its value is the count of wake-ups not yet
 *   consumed.  semacquire decrements it, blocking while it is 0; semrelease
 *   increments it and wakes one waiter.  The zero value needs no set-up, so
 *   the structs that embed a semaphore stay ready to use when zeroed, and
 *   a semaphore can live anywhere, a goroutine stack included.
 *
 *   Waiters are not stored in the semaphore (it has no room) but in a fixed
 *   table of SEMTAB_SIZE roots keyed by the semaphore's address.  Each root
 *   has an rt__lock, the waiters of every address that hashes to it, and
 *   nwait, the number of goroutines queued on (or about to queue on) the
 *   root.  A release that finds nwait == 0 returns without taking the lock,
 *   which makes an uncontended release one atomic add and one load.
 *
 *   The nwait fast path is a store/load pair on two words in each
 *   direction (Dekker's pattern):
 *       acquirer: nwait += 1;  then load *addr (cansemacquire)
 *       releaser: *addr += 1;  then load nwait
 *   Either the acquirer sees the new count and takes it, or the releaser
 *   sees nwait != 0 and takes the lock to look for a waiter.  That needs
 *   all four accesses sequentially consistent, which they are (seq_cst
 *   below; on x86-64 the RMWs are locked instructions anyway).
 *
 * The waiter structure: a treap of addresses, FIFO lists per address
 *
 *   A root holds waiters for many addresses.  We keep one sudog per
 *   distinct address in a binary search tree ordered by address, and the
 *   other waiters of that address in a list hanging off it (waitlink,
 *   waittail in the head).  The tree is a treap: each tree node has a
 *   random priority (ticket, odd so that it is never 0) and the tree is
 *   also a min-heap on it, which keeps it balanced in expectation with no
 *   rebalancing bookkeeping; inserting is a leaf insert plus rotations up,
 *   deleting rotates the node down to a leaf.
 *
 *   Cost: finding an address is O(log k) for k distinct addresses blocked
 *   on the root, queueing/dequeueing within an address is O(1).  Rejected:
 *   one list per root keyed by address (what Go had before 1.9).  It is
 *   simpler (a list walk instead of ~100 lines of treap) and just as fast
 *   when few addresses are blocked, but it is O(k) per operation, and k is
 *   unbounded: 100 000 goroutines each waiting on their own mutex or
 *   waitgroup put ~400 addresses on every root, and every release then
 *   walks hundreds of nodes under a lock that all of them share (Go issue
 *   17953 measured exactly this).  A treap keeps that at ~9 steps, for the
 *   price of three pointers and a ticket already present in rt_sudog.
 *   Also rejected: a table per address (a hash map with resizing): memory
 *   proportional to the number of semaphores ever used, and resizing under
 *   a lock on the park path.
 *
 * FIFO, LIFO and handoff
 *
 *   Waiters of one address are woken in arrival order.  lifo puts a waiter
 *   at the head instead: rt_mutex uses it for a goroutine that was woken,
 *   lost the race for the lock and queues again, so that it keeps its
 *   place as the oldest waiter.  handoff (rt_mutex in starvation mode):
 *   the releaser takes the count it just added back on behalf of the first
 *   waiter (ticket = 1 tells the waiter it already owns it, so a newcomer
 *   cannot steal it in between) and yields its P to the waiter at once:
 *   rt__goready put the waiter in runnext, and rt_yield queues the releaser
 *   behind it.  The waiter inherits the rest of the time slice.
 *   Without a handoff a woken waiter may find the count taken by a
 *   goroutine that reached the semaphore first; it queues again, or, with
 *   RT_SEMA_WAKE_ONCE, returns false so that its caller can look at its
 *   own state first (rt_mutex: sync.c, mutex_rewait).
 *
 *   The mutex profile charges a release with the time the first waiter
 *   waited since it became the first (dequeue restarts the next one's
 *   clock, as Go's does).
 *
 * Notify lists (rt_cond)
 *
 *   Go's notifyList: a ticket counter (wait_) taken while the cond's mutex
 *   is still held, a "next to notify" counter (notify_) and a list of the
 *   parked waiters with their tickets.  Signal wakes the waiter holding
 *   ticket notify_ (the oldest waiter still waiting), broadcast wakes all
 *   with tickets below wait_.  A waiter whose ticket was notified before
 *   it got to park does not park at all, so no wake-up is lost in the
 *   window between unlocking the mutex and parking.  The list is guarded
 *   by the sema root lock of &c->notify_ rather than a lock of its own:
 *   rt__lock is internal and cannot appear in rt.h, and a root lock is
 *   already the right kind of lock (short sections, released after the
 *   switch by rt__goparkunlock).  Two conds hashing to the same root share
 *   a lock; sections are a few instructions, so that costs little.
 *
 * Invariants
 *   - A sudog lives on its waiter's stack, in the frame of semacquire or
 *     notify_list_wait, and is linked into a root only while its goroutine
 *     is parked (or about to park with the root lock held).  A waker
 *     unlinks it under the root lock and must not touch it after
 *     rt__goready: the waiter may already have returned from that frame.
 *   - The root lock is released only after the waiter has switched away
 *     (rt__goparkunlock), so a waker can never ready a goroutine that is
 *     still running.
 *   - Treap: ordered by sema_addr (prev < node < next); parent->ticket <=
 *     node->ticket; tickets of tree nodes are odd.  A dequeued sudog has
 *     ticket 0; the releaser sets it to 1 for a handoff.
 *   - Nothing here allocates; a sudog costs its waiter ~100 bytes of stack.
 *
 * Lock order: root locks are rank 2 in sched.h (below channel locks, above
 * timers and the scheduler).  No two root locks are ever held together.
 */
#include <string.h>

#include "sched/sched.h"
#include "trace/trace.h"

/* A prime, so that addresses with a common stride spread over all roots. */
#define SEMTAB_SIZE 251

typedef struct semroot {
    /* 64-byte aligned: roots on separate cache lines. */
    _Alignas(64) rt__lock lock;
    rt_sudog *treap; /* root of the treap; under lock */
    /* Goroutines queued, or about to queue, on this root (any address).
     * Changed under lock, read without it by semrelease's fast path.  All
     * accesses seq_cst (see "The nwait fast path"). */
    _Atomic uint32_t nwait;
} semroot;

static semroot semtable[SEMTAB_SIZE];

_Atomic int32_t rt__mutex_profile_fraction;

/* Counters of the mutex-contention hook (relaxed: statistics only). */
static _Atomic uint64_t mutex_contention_events;
static _Atomic int64_t mutex_contention_ns;

static semroot *root_for(const void *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % SEMTAB_SIZE];
}

/* Takes one count from *addr if it is not zero.  seq_cst: this is the
 * load half of the nwait handshake. */
static bool can_acquire(uint32_t *addr)
{
    uint32_t v = __atomic_load_n(addr, __ATOMIC_SEQ_CST);
    while (v != 0) {
        if (__atomic_compare_exchange_n(addr, &v, v - 1, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return true;
    }
    return false;
}

/* ----------------------------------------------------------- the treap -- */

/* In the tree, prev is the left child (smaller address), next the right. */

/* Makes child `to` take `from`'s place under parent p (or at the root). */
static void replace_child(semroot *root, rt_sudog *p, rt_sudog *from,
                          rt_sudog *to)
{
    if (p == NULL)
        root->treap = to;
    else if (p->prev == from)
        p->prev = to;
    else {
        rt__assert(p->next == from);
        p->next = to;
    }
}

/*
 * rotate_left(x):          rotate_right(y):
 *
 *      x                          y
 *     / \                        / \
 *    a   y         <==>         x   c
 *       / \                    / \
 *      b   c                  a   b
 *
 * Both keep the address order; they only move one node up and one down.
 */
static void rotate_left(semroot *root, rt_sudog *x)
{
    rt_sudog *p = x->parent, *y = x->next, *b = y->prev;

    y->prev = x;
    x->parent = y;
    x->next = b;
    if (b != NULL)
        b->parent = x;
    y->parent = p;
    replace_child(root, p, x, y);
}

static void rotate_right(semroot *root, rt_sudog *y)
{
    rt_sudog *p = y->parent, *x = y->prev, *b = x->next;

    x->next = y;
    y->parent = x;
    y->prev = b;
    if (b != NULL)
        b->parent = y;
    x->parent = p;
    replace_child(root, p, y, x);
}

/* Queues s, a waiter on addr (root lock held).  lifo: at the head of
 * addr's list instead of the tail. */
static void queue(semroot *root, uint32_t *addr, rt_sudog *s, bool lifo)
{
    rt_sudog *last = NULL, **pt = &root->treap, *t;

    s->sema_addr = addr;
    s->prev = s->next = s->parent = NULL;
    s->waitlink = s->waittail = NULL;

    for (t = *pt; t != NULL; t = *pt) {
        if (t->sema_addr == addr) {
            if (lifo) {
                /* s takes t's place in the tree; t heads s's list. */
                *pt = s;
                s->ticket = t->ticket;
                s->parent = t->parent;
                s->prev = t->prev;
                s->next = t->next;
                if (s->prev != NULL)
                    s->prev->parent = s;
                if (s->next != NULL)
                    s->next->parent = s;
                s->waitlink = t;
                s->waittail = t->waittail != NULL ? t->waittail : t;
                t->parent = t->prev = t->next = NULL;
                t->waittail = NULL;
            } else {
                if (t->waittail == NULL)
                    t->waitlink = s;
                else
                    t->waittail->waitlink = s;
                t->waittail = s;
            }
            return;
        }
        last = t;
        pt = (uintptr_t)addr < (uintptr_t)t->sema_addr ? &t->prev : &t->next;
    }

    /* A new address: a leaf with a random odd priority, rotated up until
     * the heap order holds. */
    s->ticket = rt__fastrand() | 1;
    s->parent = last;
    *pt = s;
    while (s->parent != NULL && s->parent->ticket > s->ticket) {
        if (s->parent->prev == s)
            rotate_right(root, s->parent);
        else
            rotate_left(root, s->parent);
    }
}

/* Removes and returns the first waiter on addr, or NULL (root lock held).
 * *now gets rt_nanotime() if the waiter asked for the mutex profile. */
static rt_sudog *dequeue(semroot *root, uint32_t *addr, int64_t *now)
{
    rt_sudog **ps = &root->treap, *s;

    for (s = *ps; s != NULL; s = *ps) {
        if (s->sema_addr == addr)
            break;
        ps = (uintptr_t)addr < (uintptr_t)s->sema_addr ? &s->prev : &s->next;
    }
    if (s == NULL)
        return NULL;

    rt_sudog *t = s->waitlink;
    int64_t t0 = s->acquiretime != 0 || (t != NULL && t->acquiretime != 0) ? rt_nanotime() : 0;
    *now = s->acquiretime != 0 ? t0 : 0;
    if (t != NULL) {
        /* The new first waiter's delay counts from now: what it waited
         * before is the delay the releaser of s was charged with (Go's
         * dequeue).  Counted from its own queueing, a waiter's whole wait
         * went to whoever released the lock to it: with four goroutines
         * queued behind a 100 ms hold, 323 of 431 ms of mutex delay were
         * charged to the waiters' own unlocks, which held it for
         * microseconds (Go: 100 ms, all to the holder; an outside
         * tester's find). */
        if (t->acquiretime != 0)
            t->acquiretime = t0;
        /* t, next in addr's list, takes s's place in the tree. */
        *ps = t;
        t->ticket = s->ticket;
        t->parent = s->parent;
        t->prev = s->prev;
        if (t->prev != NULL)
            t->prev->parent = t;
        t->next = s->next;
        if (t->next != NULL)
            t->next->parent = t;
        t->waittail = t->waitlink != NULL ? s->waittail : NULL;
    } else {
        /* Rotate s down to a leaf, keeping the heap order, and cut it. */
        while (s->next != NULL || s->prev != NULL) {
            if (s->next == NULL ||
                (s->prev != NULL && s->prev->ticket < s->next->ticket))
                rotate_right(root, s);
            else
                rotate_left(root, s);
        }
        replace_child(root, s->parent, s, NULL);
    }
    s->parent = s->prev = s->next = NULL;
    s->waitlink = s->waittail = NULL;
    s->ticket = 0;
    return s;
}

/* ------------------------------------------------------- acquire/release -- */

static rt_g *waiter_g(const char *what)
{
    rt_g *gp = rt__getg();
    if (gp == NULL || gp->is_g0)
        rt__throwf("%s: not on a goroutine", what);
    return gp;
}

bool rt__semacquire(uint32_t *addr, bool lifo, int flags, int skip)
{
    if (can_acquire(addr))
        return true;

    rt_sudog s;
    memset(&s, 0, sizeof s);
    s.g = waiter_g("semacquire");
    semroot *root = root_for(addr);
    int64_t t0 = 0;
    bool parked = false, got = true;

    if ((flags & RT_SEMA_PROFILE_BLOCK) &&
        atomic_load_explicit(&rt__block_profile_rate, memory_order_relaxed) > 0)
        t0 = rt_nanotime();
    if ((flags & RT_SEMA_PROFILE_MUTEX) &&
        atomic_load_explicit(&rt__mutex_profile_fraction,
                             memory_order_relaxed) > 0)
        s.acquiretime = t0 != 0 ? t0 : rt_nanotime();

    for (;;) {
        rt__lock_acquire(&root->lock);
        /* Announce ourselves before the last look at the count (seq_cst,
         * pairs with semrelease's add-then-load). */
        atomic_fetch_add_explicit(&root->nwait, 1, memory_order_seq_cst);
        if (can_acquire(addr)) {
            atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_seq_cst);
            rt__lock_release(&root->lock);
            break;
        }
        queue(root, addr, &s, lifo);
        parked = true;
        rt__goparkunlock(&root->lock, RT_WAIT_SEMACQUIRE);
        /* Woken by semrelease, which dequeued s.  ticket 1: the count was
         * handed to us.  Otherwise compete for it like anyone else. */
        if (s.ticket != 0 || can_acquire(addr))
            break;
        if (flags & RT_SEMA_WAKE_ONCE) {
            got = false;
            break;
        }
    }
    if (parked)
        rt__block_event(t0, skip + 1);
    return got;
}

void rt__semrelease(uint32_t *addr, bool handoff, int skip)
{
    semroot *root = root_for(addr);

    __atomic_fetch_add(addr, 1, __ATOMIC_SEQ_CST);
    /* Easy case: no waiters on this root.  seq_cst, see the essay. */
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0)
        return;

    rt__lock_acquire(&root->lock);
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0) {
        /* The count was consumed by a waiter that then did not park. */
        rt__lock_release(&root->lock);
        return;
    }
    int64_t now = 0;
    rt_sudog *s = dequeue(root, addr, &now);
    if (s != NULL)
        atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_seq_cst);
    rt__lock_release(&root->lock);
    if (s == NULL)
        return;

    /* Where Go's semrelease records mutex contention (mutexevent). */
    if (s->acquiretime != 0)
        rt__mutex_contention_event(now - s->acquiretime, skip + 1);
    if (s->ticket != 0)
        rt__throw("corrupted semaphore ticket");
    bool given = handoff && can_acquire(addr);
    if (given)
        s->ticket = 1;
    rt_g *gp = s->g;
    /* From here on s may be gone: it lives on gp's stack.  A handoff
     * yields to gp at once: no idle P needs waking for it. */
    if (given)
        rt__goready_handoff(gp);
    else
        rt__goready(gp);
    if (given) {
        /* Direct handoff: gp is in our P's runnext; let it run now with
         * the rest of our time slice.  Only in the handoff case: without
         * it another goroutine could take the count while we yield. */
        rt_yield();
    }
}

/*
 * The mutex-profile hook.  Called by semrelease, outside the root lock, when
 * it wakes a waiter that asked for the mutex profile (rt_mutex and the
 * writer side of rt_rwmutex do, when rt__mutex_profile_fraction > 0), with
 * the time that waiter spent queued.  In Go this is mutexevent(): sampled
 * with probability 1/fraction and recorded with the releaser's stack, which
 * is the stack to blame (the one that held the lock).  The mutex profiler
 * (trace/) is not written yet, so this records nothing but two counters
 * that the tests read; the profiler replaces the body with the sampling
 * and the stack walk (skip frames above the caller of rt__semrelease).
 */
void rt__mutex_contention_event(int64_t wait_ns, int skip)
{
    /* trace/blockprof.c samples 1/fraction and records the stack (skip
     * + 1 for this frame; the counters after the call keep it off a tail
     * call). */
    rt__mutexprof_event(wait_ns, skip + 1);
    atomic_fetch_add_explicit(&mutex_contention_events, 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&mutex_contention_ns, wait_ns,
                              memory_order_relaxed);
}

void rt__mutex_contention_stats(uint64_t *events, int64_t *total_ns)
{
    *events = atomic_load_explicit(&mutex_contention_events,
                                   memory_order_relaxed);
    *total_ns = atomic_load_explicit(&mutex_contention_ns,
                                     memory_order_relaxed);
}

uint32_t rt__sema_waiters(const uint32_t *addr)
{
    semroot *root = root_for(addr);
    uint32_t n = 0;

    rt__lock_acquire(&root->lock);
    rt_sudog *s = root->treap;
    while (s != NULL && s->sema_addr != addr)
        s = (uintptr_t)addr < (uintptr_t)s->sema_addr ? s->prev : s->next;
    for (; s != NULL; s = s->waitlink)
        n++;
    rt__lock_release(&root->lock);
    return n;
}

/* Checks one subtree: address order within (lo, hi), heap order on
 * tickets, parent links, odd tickets, the per-address lists.  Returns the
 * number of sudogs in it. */
static uint32_t check_subtree(const semroot *root, const rt_sudog *s,
                              const rt_sudog *parent, uintptr_t lo,
                              uintptr_t hi)
{
    if (s == NULL)
        return 0;
    uintptr_t a = (uintptr_t)s->sema_addr;
    if (s->parent != parent || a <= lo || a >= hi || (s->ticket & 1) == 0 ||
        (parent != NULL && parent->ticket > s->ticket) ||
        root_for(s->sema_addr) != root)
        rt__throwf("sema: broken treap at %p (addr %p)", (const void *)s,
                   (void *)a);
    uint32_t n = 1;
    const rt_sudog *t = s->waitlink, *last = s;
    for (; t != NULL; last = t, t = t->waitlink, n++) {
        if (t->sema_addr != s->sema_addr || t->prev != NULL ||
            t->next != NULL || t->parent != NULL)
            rt__throwf("sema: broken wait list of %p", (void *)a);
    }
    if ((s->waitlink == NULL) != (s->waittail == NULL) ||
        (s->waittail != NULL && s->waittail != last))
        rt__throwf("sema: broken wait tail of %p", (void *)a);
    return n + check_subtree(root, s->prev, s, lo, a) +
           check_subtree(root, s->next, s, a, hi);
}

uint32_t rt__sema_check(void)
{
    uint32_t total = 0;
    for (int i = 0; i < SEMTAB_SIZE; i++) {
        semroot *root = &semtable[i];
        rt__lock_acquire(&root->lock);
        uint32_t n = check_subtree(root, root->treap, NULL, 0, UINTPTR_MAX);
        /* nwait may exceed the queued count by goroutines between their
         * increment and their queue/park, never fall below it. */
        if (atomic_load_explicit(&root->nwait, memory_order_relaxed) < n)
            rt__throwf("sema: root %d has %u queued but nwait %u", i, n,
                       atomic_load_explicit(&root->nwait,
                                            memory_order_relaxed));
        rt__lock_release(&root->lock);
        total += n;
    }
    return total;
}

/* -------------------------------------------------------- notify lists -- */

/* a < b in ticket order, which wraps around. */
static bool ticket_less(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

uint32_t rt__notify_list_add(rt_cond *c)
{
    /* seq_cst RMW: tickets are handed out in one total order. */
    return __atomic_fetch_add(&c->wait_, 1, __ATOMIC_SEQ_CST);
}

void rt__notify_list_wait(rt_cond *c, uint32_t t)
{
    semroot *root = root_for(&c->notify_);

    rt__lock_acquire(&root->lock);
    /* Already notified while we were unlocking the user's mutex? */
    if (ticket_less(t, __atomic_load_n(&c->notify_, __ATOMIC_RELAXED))) {
        rt__lock_release(&root->lock);
        return;
    }

    rt_sudog s;
    memset(&s, 0, sizeof s);
    s.g = waiter_g("rt_cond_wait");
    s.ticket = t;
    int64_t t0 = 0;
    if (atomic_load_explicit(&rt__block_profile_rate, memory_order_relaxed) > 0)
        t0 = rt_nanotime();

    rt_sudog *tail = c->tail_;
    if (tail == NULL)
        c->head_ = &s;
    else
        tail->next = &s;
    c->tail_ = &s;
    rt__goparkunlock(&root->lock, RT_WAIT_SEMACQUIRE);
    rt__block_event(t0, 2);
}

void rt__notify_list_notify_all(rt_cond *c)
{
    /* No waiter since the last notification: nothing to do, no lock. */
    if (__atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST) ==
        __atomic_load_n(&c->notify_, __ATOMIC_SEQ_CST))
        return;

    semroot *root = root_for(&c->notify_);
    rt__lock_acquire(&root->lock);
    rt_sudog *s = c->head_;
    c->head_ = c->tail_ = NULL;
    /* Every ticket handed out so far is notified.  notify_ is written
     * under the root lock; the unlocked fast paths read it seq_cst. */
    __atomic_store_n(&c->notify_, __atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
    rt__lock_release(&root->lock);

    while (s != NULL) {
        rt_sudog *next = s->next;
        rt_g *gp = s->g;
        s->next = NULL;
        rt__goready(gp); /* s may be gone after this */
        s = next;
    }
}

void rt__notify_list_notify_one(rt_cond *c)
{
    if (__atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST) ==
        __atomic_load_n(&c->notify_, __ATOMIC_SEQ_CST))
        return;

    semroot *root = root_for(&c->notify_);
    rt__lock_acquire(&root->lock);
    uint32_t t = c->notify_;
    if (t == __atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST)) {
        rt__lock_release(&root->lock);
        return;
    }
    /* Ticket t is notified now, whether or not its owner has parked yet:
     * if not, it will see notify_ > t and not park at all. */
    __atomic_store_n(&c->notify_, t + 1, __ATOMIC_SEQ_CST);

    /* Tickets are taken before the list lock, so the list is not in
     * ticket order; search it. */
    rt_sudog *p = NULL, *s = c->head_;
    for (; s != NULL; p = s, s = s->next) {
        if (s->ticket != t)
            continue;
        rt_sudog *n = s->next;
        if (p != NULL)
            p->next = n;
        else
            c->head_ = n;
        if (n == NULL)
            c->tail_ = p;
        rt__lock_release(&root->lock);
        rt_g *gp = s->g;
        s->next = NULL;
        rt__goready(gp);
        return;
    }
    rt__lock_release(&root->lock);
}
