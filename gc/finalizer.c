/*
 * gc/finalizer.c -- rt_set_finalizer, the finalizer goroutine, and the
 * roots registered with rt_gc_add_root.
 *
 * Go's semantics: a finalizer runs once, on a goroutine of its own, after
 * its object was found unreachable; until then everything the object points
 * to stays alive (its contents are a root), but the object itself does not
 * count as reachable because of its finalizer.  At mark termination an
 * unmarked object with a finalizer is marked (resurrected: only its own
 * mark is set, what it reaches was kept by its contents' scan as a root of
 * the same mark -- rescanning it made a pause O(finalizable bytes): 0.6 s
 * for 4M dropped 256-byte objects) and moved to the queue; its bytes stay
 * out of the marked total that sets the next goal, as in Go;
 * the finalizer goroutine calls fn(obj); the object is freed by a later
 * cycle if fn did not store it somewhere reachable.
 *
 * The table is an open-addressing hash from object address to function.
 * Keys are stored complemented (~addr, Boehm's "hidden pointer"): the table
 * lives in malloc'd memory, which is not scanned, but complementing also
 * keeps it safe if a future change scanned it.  The queue holds plain
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

static rt__lock fin_lock;
static fin_entry *table;
static size_t table_cap, table_n, table_used; /* used: n + tombstones */

typedef struct fin_job {
    void *obj;
    void (*fn)(void *obj);
} fin_job;
static fin_job *queue;
static size_t queue_n, queue_cap;
static rt__gc_waiter fin_wait;
static _Atomic int fin_started;

static size_t hash_of(uintptr_t a)
{
    uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 17);
}

static fin_entry *find(uintptr_t obj)
{
    if (table_cap == 0)
        return NULL;
    uintptr_t h = ~obj;
    for (size_t i = hash_of(obj) & (table_cap - 1);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].hidden == h)
            return &table[i];
        if (table[i].hidden == 0)
            return NULL;
    }
}

static void insert(uintptr_t obj, void (*fn)(void *));

static void rehash(size_t cap)
{
    fin_entry *old = table;
    size_t oldcap = table_cap;
    table = rt__meta_alloc(cap * sizeof *table); /* (lock held: no malloc) */
    atomic_fetch_add_explicit(&rt__gcstat.gcbits_bytes, (cap - oldcap) * sizeof *table,
                              memory_order_relaxed);
    table_cap = cap;
    table_n = table_used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].hidden > 1)
            insert(~old[i].hidden, old[i].fn);
    rt__meta_free(old, oldcap * sizeof *old);
}

static void insert(uintptr_t obj, void (*fn)(void *))
{
    if ((table_used + 1) * 4 >= table_cap * 3)
        rehash(table_cap ? (table_n * 2 > table_cap ? table_cap * 2 : table_cap) : 64);
    for (size_t i = hash_of(obj) & (table_cap - 1);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].hidden <= 1) {
            if (table[i].hidden == 0)
                table_used++;
            table[i].hidden = ~obj;
            table[i].fn = fn;
            table_n++;
            return;
        }
    }
}

/* Runs one queued finalizer; false if the queue was empty.  Not inlined:
 * the object must live only in this frame, which is dead (below the stack
 * pointer, never scanned) once it returns -- a pointer left in the
 * caller's frame or registers would keep the object alive for good. */
static __attribute__((noinline)) bool run_one(void)
{
    rt__lock_acquire(&fin_lock);
    fin_job job = {NULL, NULL};
    if (queue_n > 0) {
        job = queue[--queue_n];
        queue[queue_n].obj = NULL;
    }
    rt__lock_release(&fin_lock);
    if (job.obj == NULL)
        return false;
    job.fn(job.obj); /* obj stays alive (this frame) while fn runs */
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
    rt__lock_acquire(&fin_lock);
    fin_entry *e = find((uintptr_t)obj);
    if (fn == NULL) {
        if (e != NULL) {
            e->hidden = 1;
            e->fn = NULL;
            table_n--;
        }
    } else if (e != NULL) {
        rt__lock_release(&fin_lock);
        rt__throw("runtime.SetFinalizer: finalizer already set");
    } else {
        insert((uintptr_t)obj, fn);
        rt__span *s = rt__heap_span_of((uintptr_t)obj);
        /* atomic: the heap profiler sets it too, under no common lock */
        __atomic_store_n(&s->has_special, true, __ATOMIC_RELAXED);
    }
    rt__lock_release(&fin_lock);
    if (fn != NULL) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&fin_started, &expect, 1))
            rt__go_system(finalizer_goroutine, NULL);
    }
}

void rt__finalizer_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c)
{
    /* World stopped: no lock needed (and a stopped thread never holds
     * fin_lock: locks are no-stop regions). */
    for (size_t i = 0; i < table_cap; i++) {
        if (table[i].hidden <= 1)
            continue;
        uintptr_t obj = ~table[i].hidden;
        rt__span *s = rt__heap_span_of(obj);
        if (s != NULL && !s->noscan)
            add(obj, obj + s->elemsize, c);
    }
    if (queue_n > 0)
        add((uintptr_t)queue, (uintptr_t)(queue + queue_n), c);
}

void rt__finalizers_after_mark(rt__markstats *st)
{
    bool queued = false;
    for (size_t i = 0; i < table_cap; i++) {
        if (table[i].hidden <= 1)
            continue;
        uintptr_t obj = ~table[i].hidden;
        if (rt__is_marked(obj))
            continue;
        if (queue_n == queue_cap) {
            /* World stopped: no realloc (gc.h, rt__gc_sysrealloc). */
            size_t nc = queue_cap ? queue_cap * 2 : 256;
            queue = rt__gc_sysrealloc(queue, queue_cap * sizeof *queue, nc * sizeof *queue);
            queue_cap = nc;
        }
        queue[queue_n++] = (fin_job){(void *)obj, table[i].fn};
        table[i].hidden = 1;
        table[i].fn = NULL;
        table_n--;
        rt__mark_resurrect(obj, st);
        queued = true;
    }
    if (queued)
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
    /* World stopped (rt_write_heap_dump), as rt__finalizer_roots. */
    for (size_t i = 0; i < table_cap; i++)
        if (table[i].hidden > 1)
            fn(~table[i].hidden, table[i].fn, false, c);
    for (size_t i = 0; i < queue_n; i++)
        fn((uintptr_t)queue[i].obj, queue[i].fn, true, c);
}
