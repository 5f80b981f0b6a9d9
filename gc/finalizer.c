/*
 * gc/finalizer.c -- rt_set_finalizer, the finalizer goroutine, and the
 * roots registered with rt_gc_add_root.
 *
 * Go's semantics: a finalizer runs once, on a goroutine of its own, after
 * its object was found unreachable; until then everything the object points
 * to stays alive (its contents are a root), but the object itself does not
 * count as reachable because of its finalizer.  The sweep finds them, as
 * Go's does: an unmarked object in a span with has_special is looked up in
 * the table (rt__finalizer_sweep), and if it has a finalizer it is kept
 * (resurrected: only its own slot, what it reaches was kept by its
 * contents' scan as a root of the same mark) and moved to the queue; its
 * bytes stay out of the marked total that sets the next goal, as in Go;
 * the finalizer goroutine, woken by the background sweeper, the slow path
 * of allocation or the end of the cycle (rt__finalizer_wake: the sweep
 * itself runs in places that cannot ready a goroutine), calls fn(obj);
 * the object is freed by a later cycle if fn did not store it somewhere
 * reachable.  Looking every entry up at mark termination instead kept
 * the final pause O(finalizers): 60 ms for 2M live ones.
 *
 * Concurrent cycles scan the contents with the world going (the table's
 * entries at the phase's start, rt__finalizer_roots_concurrent); the
 * re-cleaning rounds and the final pause then read only the entries added
 * since (a list kept while `tracking`), and an entry's object written
 * after its scan is read again as a written page's objects are: its page
 * counts as live, and the written-page scan reads an unmarked object if
 * it is in the table (rt__finalizer_scanned).  Reading every entry's
 * contents in the final pause made it O(finalizable bytes) with the world
 * stopped: longest pauses of 0.56-1.25 s with 2M live 64-byte objects,
 * 0.34-0.52 ms now that neither is done there.  The queue only
 * shrinks while marking (the sweep fills it, and sweeping is over before
 * a cycle starts), so its scan at the start covers it: a job popped
 * meanwhile lives in the finalizer goroutine's frame, a stack the final
 * pause reads.
 *
 * The table is an open-addressing hash from object address to function,
 * in shards (fin_shard says why).  Keys are stored complemented (~addr,
 * Boehm's "hidden pointer"): the table lives in the collector's metadata
 * (meta.c), which is not scanned, but complementing also keeps it safe if
 * a future change scanned it.  The queue holds plain
 * pointers and is a root.
 */
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "sched/sched.h"

typedef struct fin_entry {
    uintptr_t hidden; /* ~obj; 0: empty; 1: deleted */
    void (*fn)(void *obj);
} fin_entry;

/* One of NSHARD tables, each under its own lock.  Why shards: a table
 * grows by rehashing with its lock held, and a runtime lock is a no-stop
 * region -- one table of 1M entries held a stop of the world 5 ms while
 * it doubled; a shard of 1/256 of the entries rehashes in ~20 us.
 *
 * tracking: a concurrent mark phase scanned this shard; entries inserted
 * since are listed in added[] (hidden too; a record for the rounds and
 * the final pause, not a root -- an entry removed meanwhile is skipped
 * there). */
typedef struct fin_shard {
    rt__lock lock;
    bool tracking;
    fin_entry *table;
    size_t cap, n, used; /* used: n + tombstones */
    uintptr_t *added;
    size_t added_n, added_cap, added_done; /* done: queued as roots */
} __attribute__((aligned(64))) fin_shard;

enum { NSHARD = 256 };
static fin_shard shards[NSHARD];
static _Atomic size_t fin_entries; /* over all shards: the sweep's fast test */

typedef struct fin_job {
    void *obj;
    void (*fn)(void *obj);
} fin_job;
static rt__lock queue_lock;
static fin_job *queue;
static size_t queue_n, queue_cap;
static rt__gc_waiter fin_wait;
static _Atomic int fin_started;
static _Atomic int fin_pending; /* the sweep queued jobs: wake the goroutine */

static uint64_t hash_of(uintptr_t a)
{
    return (uint64_t)a * 0x9e3779b97f4a7c15ULL;
}

/* The shard: the hash's top bits; the slot in it: lower ones. */
static fin_shard *shard_of(uintptr_t obj)
{
    return &shards[hash_of(obj) >> 56];
}

static fin_entry *find(fin_shard *sh, uintptr_t obj)
{
    if (sh->cap == 0)
        return NULL;
    uintptr_t h = ~obj;
    for (size_t i = (size_t)(hash_of(obj) >> 17) & (sh->cap - 1);; i = (i + 1) & (sh->cap - 1)) {
        if (sh->table[i].hidden == h)
            return &sh->table[i];
        if (sh->table[i].hidden == 0)
            return NULL;
    }
}

static void insert(fin_shard *sh, uintptr_t obj, void (*fn)(void *));

static void rehash(fin_shard *sh, size_t cap)
{
    fin_entry *old = sh->table;
    size_t oldcap = sh->cap;
    sh->table = rt__meta_alloc(cap * sizeof *sh->table); /* (lock held: no malloc) */
    atomic_fetch_add_explicit(&rt__gcstat.gcbits_bytes, (cap - oldcap) * sizeof *sh->table,
                              memory_order_relaxed);
    sh->cap = cap;
    sh->n = sh->used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].hidden > 1)
            insert(sh, ~old[i].hidden, old[i].fn);
    rt__meta_free(old, oldcap * sizeof *old);
}

static void insert(fin_shard *sh, uintptr_t obj, void (*fn)(void *))
{
    if ((sh->used + 1) * 4 >= sh->cap * 3)
        rehash(sh, sh->cap ? (sh->n * 2 > sh->cap ? sh->cap * 2 : sh->cap) : 16);
    for (size_t i = (size_t)(hash_of(obj) >> 17) & (sh->cap - 1);; i = (i + 1) & (sh->cap - 1)) {
        if (sh->table[i].hidden <= 1) {
            if (sh->table[i].hidden == 0)
                sh->used++;
            sh->table[i].hidden = ~obj;
            sh->table[i].fn = fn;
            sh->n++;
            return;
        }
    }
}

static void remove_entry(fin_shard *sh, fin_entry *e)
{
    e->hidden = 1;
    e->fn = NULL;
    sh->n--;
    atomic_fetch_sub_explicit(&fin_entries, 1, memory_order_relaxed);
}

/* Runs one queued finalizer; false if the queue was empty.  Not inlined:
 * the object must live only in this frame, which is dead (below the stack
 * pointer, never scanned) once it returns -- a pointer left in the
 * caller's frame or registers would keep the object alive for good. */
static __attribute__((noinline)) bool run_one(void)
{
    rt__lock_acquire(&queue_lock);
    fin_job job = {NULL, NULL};
    if (queue_n > 0) {
        job = queue[--queue_n];
        queue[queue_n].obj = NULL;
    }
    rt__lock_release(&queue_lock);
    if (job.obj == NULL)
        return false;
    rt_g *gp = rt__getg();
    __atomic_store_n(&gp->in_user, true, __ATOMIC_RELAXED); /* traceback.c */
    job.fn(job.obj); /* obj stays alive (this frame) while fn runs */
    gp = rt__getg(); /* (the same goroutine, whatever M runs it now) */
    __atomic_store_n(&gp->in_user, false, __ATOMIC_RELAXED);
    return true;
}

/* Zeroes the dead stack below the caller.  The finalizer goroutine parks
 * for long stretches; if its park went deeper than the frames a finalizer
 * used, the dead copies of pointers those frames left would lie above the
 * parked stack pointer -- scanned, and kept alive for good. */
static __attribute__((noinline)) void scrub_dead_stack(void)
{
    volatile char buf[8192];
    for (size_t i = 0; i < sizeof buf; i += 8)
        *(volatile uint64_t *)(void *)&buf[i] = 0;
}

static void finalizer_goroutine(void *arg)
{
    (void)arg;
    for (;;) {
        while (run_one()) {
        }
        scrub_dead_stack();
        rt__gc_wait(&fin_wait, "finalizer wait");
    }
}

typedef struct seg_probe {
    uintptr_t p;
    bool found;
} seg_probe;

static void seg_has(uintptr_t lo, uintptr_t fileend, uintptr_t hi, void *ctx)
{
    (void)fileend;
    seg_probe *sp = ctx;
    if (sp->p >= lo && sp->p < hi)
        sp->found = true;
}

/* Slow (walks the loaded objects' program headers): only on the way to a
 * fatal error. */
static bool in_data_or_bss(uintptr_t p)
{
    seg_probe sp = {p, false};
    rt__writable_segments(seg_has, &sp);
    return sp.found;
}

void rt_set_finalizer(void *obj, void (*fn)(void *obj))
{
    if (obj == NULL)
        rt__throw("runtime.SetFinalizer: nil object");
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp);
    size_t size;
    void *start = rt__gc_object_start((uintptr_t)obj, &size);
    if (mp != NULL)
        rt__nostop_end(mp);
    if (start == NULL) {
        /* Go ignores an object in the data or bss segments ("global
         * initializers might be linker-allocated"): a static object is
         * never unreachable, so its finalizer would never run anyway */
        if (in_data_or_bss((uintptr_t)obj))
            return;
        rt__throw("runtime.SetFinalizer: pointer not in allocated block");
    }
    if (start != obj)
        rt__throw("runtime.SetFinalizer: pointer not at beginning of allocated block");
    fin_shard *sh = shard_of((uintptr_t)obj);
    /* A thread without an M holds the lock in a no-stop region of its
     * record, as Ms do by holding it: the collector takes these locks
     * with the program's threads stopped (sched/foreign.c). */
    rt__fthread *f = mp == NULL ? rt__foreign_self() : NULL;
    if (f != NULL)
        rt__foreign_nostop_begin(f);
    rt__lock_acquire(&sh->lock);
    fin_entry *e = find(sh, (uintptr_t)obj);
    if (fn == NULL) {
        if (e != NULL)
            remove_entry(sh, e);
    } else if (e != NULL) {
        rt__lock_release(&sh->lock);
        rt__throw("runtime.SetFinalizer: finalizer already set");
    } else {
        insert(sh, (uintptr_t)obj, fn);
        atomic_fetch_add_explicit(&fin_entries, 1, memory_order_relaxed);
        if (sh->tracking) {
            if (sh->added_n == sh->added_cap) {
                size_t nc = sh->added_cap ? sh->added_cap * 2 : 64;
                /* (lock held: no malloc) */
                sh->added = rt__meta_realloc(sh->added, sh->added_cap * sizeof *sh->added,
                                             nc * sizeof *sh->added);
                sh->added_cap = nc;
            }
            sh->added[sh->added_n++] = ~(uintptr_t)obj; /* hidden, as the keys */
        }
        rt__span *s = rt__heap_span_of((uintptr_t)obj);
        /* atomic: the heap profiler sets it too, under no common lock */
        __atomic_store_n(&s->has_special, true, __ATOMIC_RELAXED);
    }
    rt__lock_release(&sh->lock);
    if (f != NULL)
        rt__foreign_nostop_end(f);
    if (fn != NULL) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&fin_started, &expect, 1))
            rt__go_system(finalizer_goroutine, NULL);
    }
}

static void add_contents(uintptr_t obj, void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c,
                         bool keep_live)
{
    rt__span *s = rt__heap_span_of(obj);
    if (s == NULL || s->noscan)
        return;
    add(obj, obj + s->elemsize, c);
    if (keep_live)
        rt__mark_keep_live(s);
}

/* Every entry's contents and the queue, each shard under its lock: with
 * the world stopped (start false: threads the runtime did not create still
 * run there -- they stop after these roots are read, gc/mark.c -- and a
 * stopped M never holds one of these locks, no-stop regions), or going at
 * a concurrent mark's start (start true: from here entries inserted are
 * listed in added[], so every one is either read here or listed; their
 * pages count as live; only rt_set_finalizer waits, no sweep runs while a
 * cycle marks). */
static void table_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c, bool start)
{
    for (int k = 0; k < NSHARD; k++) {
        fin_shard *sh = &shards[k];
        rt__lock_acquire(&sh->lock);
        if (start) {
            sh->tracking = true;
            sh->added_n = sh->added_done = 0;
        }
        for (size_t i = 0; i < sh->cap; i++)
            if (sh->table[i].hidden > 1)
                add_contents(~sh->table[i].hidden, add, c, start);
        rt__lock_release(&sh->lock);
    }
    rt__lock_acquire(&queue_lock);
    if (queue_n > 0)
        add((uintptr_t)queue, (uintptr_t)(queue + queue_n), c);
    rt__lock_release(&queue_lock);
}

void rt__finalizer_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c)
{
    table_roots(add, c, false);
}

void rt__finalizer_roots_concurrent(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c)
{
    table_roots(add, c, true);
}

void rt__finalizer_roots_added(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c)
{
    for (int k = 0; k < NSHARD; k++) {
        fin_shard *sh = &shards[k];
        rt__lock_acquire(&sh->lock); /* (final pause: as rt__finalizer_roots) */
        for (; sh->added_done < sh->added_n; sh->added_done++) {
            uintptr_t obj = ~sh->added[sh->added_done];
            if (find(sh, obj) != NULL)
                add_contents(obj, add, c, true);
        }
        rt__lock_release(&sh->lock);
    }
}

bool rt__finalizer_scanned(uintptr_t obj)
{
    fin_shard *sh = shard_of(obj);
    rt__lock_acquire(&sh->lock);
    bool yes = sh->tracking && find(sh, obj) != NULL;
    rt__lock_release(&sh->lock);
    return yes;
}

void rt__finalizers_after_mark(void)
{
    for (int k = 0; k < NSHARD; k++) { /* (world stopped) */
        shards[k].tracking = false;
        shards[k].added_n = shards[k].added_done = 0;
    }
}

uint64_t rt__finalizer_sweep(rt__span *s, uint32_t lo, uint64_t dead)
{
    if (atomic_load_explicit(&fin_entries, memory_order_relaxed) == 0)
        return 0;
    uint64_t kept = 0;
    fin_job jobs[64];
    int nj = 0;
    while (dead) {
        uint32_t b = (uint32_t)__builtin_ctzll(dead);
        dead &= dead - 1;
        uintptr_t obj = s->base + (uintptr_t)(lo + b) * s->elemsize;
        fin_shard *sh = shard_of(obj);
        rt__lock_acquire(&sh->lock);
        fin_entry *e = find(sh, obj);
        if (e != NULL) {
            jobs[nj++] = (fin_job){(void *)obj, e->fn};
            remove_entry(sh, e);
            kept |= (uint64_t)1 << b;
        }
        rt__lock_release(&sh->lock);
    }
    if (nj == 0)
        return 0;
    rt__lock_acquire(&queue_lock);
    if (queue_n + (size_t)nj > queue_cap) {
        /* (lock held: no malloc; mremap moves pages, copies nothing) */
        size_t nc = queue_cap ? queue_cap * 2 : 256;
        queue = rt__gc_sysrealloc(queue, queue_cap * sizeof *queue, nc * sizeof *queue);
        queue_cap = nc;
    }
    memcpy(&queue[queue_n], jobs, (size_t)nj * sizeof *jobs);
    queue_n += (size_t)nj;
    rt__lock_release(&queue_lock);
    atomic_store_explicit(&fin_pending, 1, memory_order_release);
    return kept;
}

void rt__finalizer_wake(void)
{
    if (atomic_load_explicit(&fin_pending, memory_order_relaxed) && rt__getg() != NULL &&
        atomic_exchange_explicit(&fin_pending, 0, memory_order_acquire))
        rt__gc_wake(&fin_wait);
}

/* -------------------------------------------------------- registered roots */

typedef struct root_range {
    uintptr_t lo, hi;
} root_range;
static rt__lock roots_lock;
static root_range *reg;
static size_t reg_n, reg_cap;

void rt_gc_add_root(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
    rt__lock_acquire(&roots_lock);
    if (reg_n == reg_cap) {
        size_t nc = reg_cap ? reg_cap * 2 : 16;
        /* (roots_lock held: no malloc) */
        root_range *nr = rt__meta_realloc(reg, reg_cap * sizeof *nr, nc * sizeof *nr);
        reg = nr;
        reg_cap = nc;
    }
    reg[reg_n++] = (root_range){(uintptr_t)p, (uintptr_t)p + n};
    rt__lock_release(&roots_lock);
}

void rt_gc_remove_root(void *p)
{
    rt__lock_acquire(&roots_lock);
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i].lo == (uintptr_t)p) {
            reg[i] = reg[--reg_n];
            break;
        }
    rt__lock_release(&roots_lock);
}

void rt__registered_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c)
{
    for (size_t i = 0; i < reg_n; i++)
        add(reg[i].lo, reg[i].hi, c);
}

/* -------------------------------------------------------------- heap dump */

void rt__finalizers_foreach(void (*fn)(uintptr_t obj, void (*f)(void *), bool queued, void *c),
                            void *c)
{
    /* World stopped (rt_write_heap_dump); locks taken as in
     * rt__finalizer_roots. */
    for (int k = 0; k < NSHARD; k++) {
        fin_shard *sh = &shards[k];
        rt__lock_acquire(&sh->lock);
        for (size_t i = 0; i < sh->cap; i++)
            if (sh->table[i].hidden > 1)
                fn(~sh->table[i].hidden, sh->table[i].fn, false, c);
        rt__lock_release(&sh->lock);
    }
    rt__lock_acquire(&queue_lock);
    for (size_t i = 0; i < queue_n; i++)
        fn((uintptr_t)queue[i].obj, queue[i].fn, true, c);
    rt__lock_release(&queue_lock);
}
