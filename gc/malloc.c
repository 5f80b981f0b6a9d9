/*
 * gc/malloc.c -- small and large object allocation over the page heap.
 *
 * The path of an allocation of n bytes (Go's mallocgc, minus what the
 * collector will add):
 *
 *   n <= 32 KiB: class = rt__sizeclass_of(n); the running P's cache holds
 *     one span per (class, kind) to carve from: the fast path takes the
 *     next slot (span base + freeindex * size), a bump with no atomics and
 *     no lock -- a load, a compare, two adds and a store, plus zeroing when
 *     the span's pages were used before.  When the span is exhausted the
 *     cache hands it to the central list of its class (under that class's
 *     lock) and takes a span with room, or a new one from the page heap.
 *   n > 32 KiB: a span of its own straight from the page heap.
 *
 * Kinds: scan and noscan objects never share a span, so the marker can skip
 * noscan spans without looking at their objects (rt_alloc_noscan's promise:
 * a 1 GiB byte buffer costs the collector nothing).
 *
 * What is not here yet: reclaiming.  A span's slots are only handed out in
 * order; the sweeper (coming with the collector) will give spans free-slot
 * bitmaps and return empty spans to the page heap.  Until then nothing
 * calls this from rt.h.
 *
 * Objects come back zeroed.  The start of the object holding any address
 * inside a span is base + (addr - base) / size * size (rt__gc_object_start):
 * what the conservative marker needs for interior pointers.
 */
#include <string.h>

#include "gc/gc.h"
#include "sched/sched.h"

typedef struct central {
    rt__lock lock;
    rt__span *partial; /* spans with free slots, not owned by a cache */
    rt__span *full;    /* exhausted spans (the sweeper will revisit them) */
} central;

static central centrals[2][RT_GC_MAX_CLASSES]; /* [noscan][class] */

/* A cache for threads that are not Ms (and for Ms without a P). */
static rt__mcache shared_cache;
static rt__lock shared_lock;

/* Go's report: "runtime: out of memory: cannot allocate N-byte block
 * (M in use)" then "fatal error: out of memory", exit 2. */
static _Noreturn void out_of_memory(size_t n)
{
    rt__heap_statistics st;
    rt__heap_stats(&st);
    size_t inuse = (st.pages_used - st.pages_free) << RT_GC_PAGE_SHIFT;
    rt__printf("runtime: out of memory: cannot allocate %zu-byte block (%zu in use)\n", n,
               inuse);
    rt__throw("out of memory");
}

/* Gives back the cache's exhausted span and takes one with room. */
static rt__span *refill(rt__mcache *mc, int kind, int cls)
{
    central *c = &centrals[kind][cls];
    rt__span *old = mc->alloc[kind][cls];
    rt__lock_acquire(&c->lock);
    if (old != NULL)
        rt__span_list_push(old->freeindex < old->nelems ? &c->partial : &c->full, old);
    rt__span *s = c->partial;
    if (s != NULL)
        rt__span_list_remove(&c->partial, s);
    rt__lock_release(&c->lock);
    if (s == NULL) {
        const rt__sizeclass *sc = rt__sizeclass_get(cls);
        s = rt__heap_alloc_span(sc->npages);
        if (s == NULL)
            out_of_memory((size_t)sc->npages << RT_GC_PAGE_SHIFT);
        s->sizeclass = (uint8_t)cls;
        s->noscan = kind != 0;
        s->elemsize = sc->size;
        s->nelems = sc->nobjs;
        s->freeindex = 0;
    }
    mc->alloc[kind][cls] = s;
    return s;
}

static void *alloc_small(rt__mcache *mc, size_t n, bool noscan)
{
    int cls = rt__sizeclass_of(n);
    int kind = noscan ? 1 : 0;
    rt__span *s = mc->alloc[kind][cls];
    if (rt__unlikely(s == NULL || s->freeindex == s->nelems))
        s = refill(mc, kind, cls);
    void *p = (void *)(s->base + (uintptr_t)s->freeindex * s->elemsize);
    s->freeindex++;
    if (s->needzero)
        memset(p, 0, s->elemsize);
    return p;
}

static void *alloc_large(size_t n, bool noscan)
{
    size_t npages = (n + RT_GC_PAGE_SIZE - 1) >> RT_GC_PAGE_SHIFT;
    rt__span *s = rt__heap_alloc_span(npages);
    if (s == NULL)
        out_of_memory(npages << RT_GC_PAGE_SHIFT);
    s->sizeclass = 0;
    s->noscan = noscan;
    s->elemsize = npages << RT_GC_PAGE_SHIFT;
    s->nelems = 1;
    s->freeindex = 1;
    if (s->needzero)
        memset((void *)s->base, 0, s->elemsize);
    return (void *)s->base;
}

void *rt__gc_alloc(size_t n, bool noscan)
{
    if (n == 0)
        n = 1;
    if (n > RT_GC_MAX_SMALL)
        return alloc_large(n, noscan);
    rt__sizeclass_init(); /* pthread_once: a load and a branch once built */
    rt_m *mp = rt__getm();
    if (mp != NULL && mp->p != NULL)
        return alloc_small(&mp->p->mcache, n, noscan);
    rt__lock_acquire(&shared_lock);
    void *p = alloc_small(&shared_cache, n, noscan);
    rt__lock_release(&shared_lock);
    return p;
}

void rt__mcache_flush(rt__mcache *mc)
{
    for (int kind = 0; kind < 2; kind++)
        for (int cls = 0; cls < RT_GC_MAX_CLASSES; cls++) {
            rt__span *s = mc->alloc[kind][cls];
            if (s == NULL)
                continue;
            central *c = &centrals[kind][cls];
            rt__lock_acquire(&c->lock);
            rt__span_list_push(s->freeindex < s->nelems ? &c->partial : &c->full, s);
            rt__lock_release(&c->lock);
            mc->alloc[kind][cls] = NULL;
        }
}

void *rt__gc_object_start(uintptr_t addr, size_t *size)
{
    rt__span *s = rt__heap_span_of(addr);
    if (s == NULL)
        return NULL;
    uintptr_t i = (addr - s->base) / s->elemsize;
    if (i >= s->freeindex)
        return NULL; /* a slot never handed out */
    if (size != NULL)
        *size = s->elemsize;
    return (void *)(s->base + i * s->elemsize);
}

/* ------------------------------------------------------------ rt.h ------ */

void *rt_alloc(size_t n)
{
    return rt__gc_alloc(n, false);
}

void *rt_alloc_noscan(size_t n)
{
    return rt__gc_alloc(n, true);
}

void *rt_new_(size_t size, const char *type)
{
    (void)type;
    return rt__gc_alloc(size, false);
}

void *rt_new_array_(size_t size, size_t n, const char *type)
{
    (void)type;
    size_t total;
    if (__builtin_mul_overflow(size, n, &total))
        rt__throw("rt_new_array: len out of range");
    return rt__gc_alloc(total, false);
}
