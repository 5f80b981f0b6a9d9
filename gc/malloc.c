/*
 * gc/malloc.c -- small and large object allocation over the page heap.
 *
 * The path of an allocation of n bytes (Go's mallocgc):
 *
 *   n <= 32 KiB: class = rt__sizeclass_of(n); the running P's cache holds
 *     one span per (class, kind) to carve from.  The span keeps a 64-bit
 *     window of its free-slot map (alloccache, bit set = free): the fast
 *     path is
 *         c = s->alloccache; if (c == 0) slow;
 *         k = ctz(c); s->alloccache = c & (c - 1);
 *         i = s->cacheidx + k; s->freeindex = i + 1;
 *         p = s->base + i * s->elemsize;
 *     about 48 instructions executed for a 16-byte object on x86-64 (the
 *     call that reads the M, the size-class lookup, the no-stop region,
 *     the per-class counter, the type check, the heap profiler's countdown
 *     -- load, subtract, sign branch, store: 4 of them -- two zeroing
 *     stores, and the test for a stop in progress: the address, a load, a
 *     test and a branch), and no atomic read-modify-write or lock.  Zeroing
 *     follows when the span's slots were used before (needzero).
 *     The slow path loads the next window from the span's allocation bitmap;
 *     when the span has no free slot left, the cache files it on its
 *     central list and takes a swept span with room (sweeping unswept spans
 *     of the class on demand), or fresh pages from the page heap.
 *   n > 32 KiB: a span of its own straight from the page heap.
 *
 * Kinds: scan and noscan objects never share a span, so the marker can skip
 * noscan spans without looking at their objects (rt_alloc_noscan's promise:
 * a 1 GiB byte buffer costs the collector nothing).
 *
 * The whole allocation runs in a no-stop region of the M (sched.h): the
 * world never stops with a span half updated, with a slot taken but not yet
 * recorded, or inside a cache the collector is about to flush.  The
 * collection a slow path may trigger runs after the region ends.
 *
 * Threads the runtime did not create have no P: they share one cache under
 * a lock (as do Ms without a P).  Such a thread is registered on its first
 * allocation (sched/foreign.c: a record, its stack bounds, a pthread key
 * that unregisters it at exit), so that the collector stops it for the
 * stopped part of its marking and scans its registers and stack, as API.md
 * promises for every thread.  Its locked part is a no-stop region of that
 * record, and it waits for the lock outside the region (foreign_lock): the
 * collector holds the lock while it stops such threads.  Cost: one TLS
 * load on that path; the goroutine fast path is unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

rt__central rt__centrals[2][RT_GC_MAX_CLASSES]; /* [noscan][class] */
rt__lock rt__large_lock;
rt__span *rt__large[2];

size_t rt__large_noscan_runs(rt__page_run *runs, size_t max, size_t min_pages)
{
    size_t n = 0;
    rt__lock_acquire(&rt__large_lock);
    for (int k = 0; k < 2; k++)
        for (rt__span *s = rt__large[k]; s != NULL && n < max; s = s->next)
            if (s->noscan && s->npages >= min_pages) {
                runs[n].lo = s->base;
                runs[n].hi = s->base + (s->npages << RT_GC_PAGE_SHIFT);
                n++;
            }
    rt__lock_release(&rt__large_lock);
    return n;
}

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

static inline void counter_add(uint64_t *c, uint64_t v)
{
    /* Owner-only counter read by rt_read_memstats on other threads. */
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------- span setup -- */

/* The calloc'd block of a span with more than 8 slots: the allocation
 * bitmap, then one mark byte per slot (rounded up to words). */
static size_t marks_bytes(const rt__span *s)
{
    return s->bitmarks ? rt__span_nwords(s) * sizeof(uint64_t)
                       : ((s->nelems + 7) & ~(size_t)7);
}

static size_t bits_bytes(const rt__span *s)
{
    return rt__span_nwords(s) * sizeof(uint64_t) + marks_bytes(s);
}

void rt__span_init_objects(rt__span *s, int cls, bool noscan, size_t limit)
{
    s->sizeclass = (uint8_t)cls;
    s->limit = limit != 0 ? limit : s->npages << RT_GC_PAGE_SHIFT;
    s->noscan = noscan;
    if (cls != 0) {
        const rt__sizeclass *sc = rt__sizeclass_get(cls);
        s->elemsize = sc->size;
        s->nelems = sc->nobjs;
        s->divmul = (uint32_t)((((uint64_t)1 << 32) + sc->size - 1) / sc->size);
    } else {
        /* The request rounded up to whole pages, as Go counts a large
         * object -- not the span, whose last page may be alloc_large's
         * padding: the object's size in memstats, the heap profile, the
         * pacing and allocfreetrace, the same at its allocation and at
         * its free. */
        s->elemsize = (s->limit + RT_GC_PAGE_SIZE - 1) & ~(RT_GC_PAGE_SIZE - 1);
        s->nelems = 1;
        s->divmul = 0; /* every offset is slot 0 */
    }
    s->bitmarks = s->nelems > 384;
    if (s->nelems <= 8) {
        s->inlinebits = 0;
        memset(s->inlinemarks, 0, sizeof s->inlinemarks);
        s->allocbits = &s->inlinebits;
        s->markbytes = s->inlinemarks;
        s->bitsmem = NULL;
    } else {
        size_t bytes = bits_bytes(s);
        uint64_t *bits = rt__meta_alloc(bytes);
        s->allocbits = bits;
        s->markbytes = (uint8_t *)(bits + rt__span_nwords(s));
        s->bitsmem = bits;
        atomic_fetch_add_explicit(&rt__gcstat.gcbits_bytes, bytes, memory_order_relaxed);
    }
    s->freeindex = 0;
    s->cacheidx = 0;
    s->alloccache = s->nelems >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << s->nelems) - 1;
    s->allocated_at_sweep = 0;
    s->type1 = NULL;
    s->typeidx = NULL;
    s->has_special = false;
    s->incache = false;
    atomic_store_explicit(&s->sweepgen, atomic_load(&rt__sweepgen), memory_order_relaxed);
    /* A span born while a mark phase runs is black: its slots are marked
     * before the marker can see it. */
    if (atomic_load_explicit(&rt__gc_marking, memory_order_relaxed))
        rt__span_premark(s);
    __atomic_store_n(&s->published, 1, __ATOMIC_RELEASE);
}

void rt__span_premark(rt__span *s)
{
    uint32_t from = __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED);
    uint32_t nw = rt__span_nwords(s);
    for (uint32_t w = from / 64; w < nw; w++) {
        uint32_t lo = w * 64;
        uint64_t free = ~s->allocbits[w];
        if (from > lo)
            free &= ~(((uint64_t)1 << (from - lo)) - 1);
        if (s->nelems - lo < 64)
            free &= ((uint64_t)1 << (s->nelems - lo)) - 1;
        if (free == 0)
            continue;
        if (s->bitmarks) {
            __atomic_fetch_or(&((uint64_t *)(void *)s->markbytes)[w], free, __ATOMIC_RELAXED);
            continue;
        }
        while (free) {
            uint32_t i = lo + (uint32_t)__builtin_ctzll(free);
            free &= free - 1;
            __atomic_store_n(&s->markbytes[i], 1, __ATOMIC_RELAXED);
        }
    }
    rt__mark_live_span(s);
}

void rt__span_release_objects(rt__span *s)
{
    __atomic_store_n(&s->published, 0, __ATOMIC_RELAXED);
    if (s->bitsmem != NULL) {
        rt__meta_free(s->bitsmem, bits_bytes(s));
        s->bitsmem = NULL;
        atomic_fetch_sub_explicit(&rt__gcstat.gcbits_bytes, bits_bytes(s),
                                  memory_order_relaxed);
    }
    if (s->typeidx != NULL) {
        rt__meta_free(s->typeidx, s->nelems * sizeof(uint16_t));
        atomic_fetch_sub_explicit(&rt__gcstat.gcbits_bytes, s->nelems * sizeof(uint16_t),
                                  memory_order_relaxed);
    }
    s->allocbits = NULL;
    s->markbytes = NULL;
    s->typeidx = NULL;
    s->type1 = NULL;
    s->nelems = 0; /* the marker ignores words into a span being freed */
}

/* Free slots of s from freeindex on (the bits of the window included). */
static uint32_t span_free_slots(const rt__span *s)
{
    uint32_t n = (uint32_t)__builtin_popcountll(s->alloccache);
    uint32_t nw = rt__span_nwords(s);
    for (uint32_t w = s->cacheidx / 64 + 1; w < nw; w++) {
        uint64_t free = ~s->allocbits[w];
        uint32_t left = s->nelems - w * 64;
        if (left < 64)
            free &= ((uint64_t)1 << left) - 1;
        n += (uint32_t)__builtin_popcountll(free);
    }
    return n;
}

/* Loads the next non-empty window of s's free-slot map; false if s is full. */
static bool span_next_window(rt__span *s)
{
    uint32_t nw = rt__span_nwords(s);
    for (uint32_t w = s->cacheidx / 64 + 1; w < nw; w++) {
        uint64_t free = ~s->allocbits[w];
        uint32_t left = s->nelems - w * 64;
        if (left < 64)
            free &= ((uint64_t)1 << left) - 1;
        s->cacheidx = w * 64;
        if (free != 0) {
            s->alloccache = free;
            return true;
        }
    }
    s->alloccache = 0;
    return false;
}

/* ----------------------------------------------------------- central ---- */

/* Files a swept span that no cache holds on its central list. */
static void central_put(rt__span *s)
{
    rt__central *c = &rt__centrals[s->noscan][s->sizeclass];
    int cur = rt__swept_set();
    rt__lock_acquire(&c->lock);
    s->incache = false;
    if (s->alloccache != 0 || span_free_slots(s) != 0)
        rt__span_list_push(&c->partial[cur], s);
    else
        rt__span_list_push(&c->full[cur], s);
    rt__lock_release(&c->lock);
}

/* A swept span of (kind, cls) with a free slot, off every list; sweeps on
 * demand; fresh pages as a last resort.  Sets *grew when heap_live moved. */
static rt__span *central_get(int kind, int cls)
{
    rt__central *c = &rt__centrals[kind][cls];
    int cur = rt__swept_set();
    rt__lock_acquire(&c->lock);
    rt__span *s = c->partial[cur];
    if (s != NULL)
        rt__span_list_remove(&c->partial[cur], s);
    rt__lock_release(&c->lock);
    if (s == NULL)
        s = rt__sweep_for_class(kind, cls);
    if (s == NULL) {
        const rt__sizeclass *sc = rt__sizeclass_get(cls);
        s = rt__heap_alloc_span(sc->npages);
        if (s == NULL)
            out_of_memory((size_t)sc->npages << RT_GC_PAGE_SHIFT);
        rt__span_init_objects(s, cls, kind != 0, 0);
    }
    if (s->alloccache == 0 && !span_next_window(s))
        rt__throw("central_get: span without a free slot");
    return s;
}

/* The cache's span of (kind, cls) is exhausted: file it, take another. */
static rt__span *refill(rt__mcache *mc, int kind, int cls)
{
    rt__span *old = mc->alloc[kind][cls];
    if (old != NULL)
        central_put(old);
    rt__span *s = central_get(kind, cls);
    /* Allocation is black while a mark phase runs: the slots this cache
     * will hand out are marked now (a fresh span was marked at birth). */
    if (atomic_load_explicit(&rt__gc_marking, memory_order_relaxed))
        rt__span_premark(s);
    s->incache = true;
    mc->alloc[kind][cls] = s;
    /* Pacing counts a cached span's free slots as allocated now (Go's
     * heap_live): one atomic per span, not per object. */
    atomic_fetch_add_explicit(&rt__gcstat.heap_live,
                              (uint64_t)span_free_slots(s) * s->elemsize,
                              memory_order_relaxed);
    return s;
}

/* ---------------------------------------------------------- allocation -- */

/* Zeroes a reused slot.  Small objects get straight-line stores: a loop
 * here becomes `rep stos` (tens of cycles to start) and a memset call
 * costs more than the stores. */
static inline void zero_object(void *p, uintptr_t size)
{
    uint64_t *w = p;
    switch (size <= 64 ? size / 8 : 0) {
    case 8: w[7] = 0; /* fall through */
    case 7: w[6] = 0; /* fall through */
    case 6: w[5] = 0; /* fall through */
    case 5: w[4] = 0; /* fall through */
    case 4: w[3] = 0; /* fall through */
    case 3: w[2] = 0; /* fall through */
    case 2: w[1] = 0; /* fall through */
    case 1: w[0] = 0; break;
    default: memset(p, 0, size); break;
    }
}

/* ------------------------------------------------------- type names ---- */

/*
 * rt_new's type names, at no cost to rt_alloc: a span remembers one name
 * for all its objects (type1) as long as they agree -- the common case, a
 * span full of one struct -- and only when a span mixes types (or typed
 * and untyped objects) does it get a per-slot table of 16-bit indices into
 * the global name table.  rt_alloc pays one load and a not-taken branch
 * (type1 and typeidx are NULL in spans that never saw rt_new).
 */
#define MAX_TYPES 65535
/* [0] = untyped.  The table (512 KiB of address space, touched as types
 * come) is collector metadata, not a static array: the data segments are
 * roots, read word by word at every cycle's start and in every final
 * pause, and this array was more than half of them (an empty heap's
 * mark: ~70-100 us, mostly this).  The names are rt_new's string
 * literals, never heap pointers.  Published with release once, before
 * any index into it exists. */
static const char **_Atomic type_names;
static uint32_t ntypes;
static rt__lock types_lock;

static uint16_t type_index(const char *name)
{
    if (name == NULL)
        return 0;
    rt__lock_acquire(&types_lock);
    const char **names = atomic_load_explicit(&type_names, memory_order_relaxed);
    if (names == NULL) {
        names = rt__meta_alloc((MAX_TYPES + 1) * sizeof *names);
        atomic_store_explicit(&type_names, names, memory_order_release);
    }
    uint16_t idx = MAX_TYPES; /* "too many types": shown as the last one */
    for (uint32_t k = 1; k <= ntypes; k++)
        if (names[k] == name) {
            idx = (uint16_t)k;
            break;
        }
    if (idx == MAX_TYPES && ntypes < MAX_TYPES - 1) {
        names[++ntypes] = name;
        idx = (uint16_t)ntypes;
    }
    rt__lock_release(&types_lock);
    return idx;
}

const char *rt__gc_slot_type(const rt__span *s, uint32_t i)
{
    if (s->typeidx != NULL)
        return atomic_load_explicit(&type_names, memory_order_acquire)[s->typeidx[i]];
    return s->type1;
}

/* Objects allocated in s other than slot i. */
static bool others_allocated(const rt__span *s, uint32_t i)
{
    for (uint32_t k = 0; k < s->nelems; k++)
        if (k != i && rt__span_slot_allocated(s, k))
            return true;
    return false;
}

/* Slow path of type recording: slot i of s gets type (NULL: untyped). */
static void record_type(rt__span *s, uint32_t i, const char *type)
{
    if (s->typeidx == NULL) {
        if (s->type1 == type)
            return;
        if (s->type1 == NULL && !others_allocated(s, i)) {
            s->type1 = type; /* the span's first object */
            return;
        }
        uint16_t *t = rt__meta_alloc(s->nelems * sizeof(uint16_t));
        atomic_fetch_add_explicit(&rt__gcstat.gcbits_bytes, s->nelems * sizeof(uint16_t),
                                  memory_order_relaxed);
        uint16_t idx1 = type_index(s->type1);
        for (uint32_t k = 0; k < s->nelems; k++)
            t[k] = idx1;
        s->typeidx = t;
    }
    s->typeidx[i] = type_index(type);
}

/* In a no-stop region.  Sets *slow when a slow path ran (the caller then
 * checks the collection trigger after leaving the region). */
static inline void *alloc_small(rt__mcache *mc, int cls, int kind, const char *type,
                                bool *slow)
{
    rt__span *s = mc->alloc[kind][cls];
    uint64_t c;
    if (rt__unlikely(s == NULL || (c = s->alloccache) == 0)) {
        *slow = true;
        if (s == NULL || !span_next_window(s))
            s = refill(mc, kind, cls);
        c = s->alloccache;
    }
    uint32_t i = s->cacheidx + (uint32_t)__builtin_ctzll(c);
    s->alloccache = c & (c - 1);
    __atomic_store_n(&s->freeindex, i + 1, __ATOMIC_RELAXED); /* read racily by lookups */
    uintptr_t size = s->elemsize;
    void *p = (void *)(s->base + (uintptr_t)i * size);
    counter_add(&mc->nmalloc[cls], 1);
    if (rt__unlikely(s->type1 != type || s->typeidx != NULL))
        record_type(s, i, type);
    if (s->needzero) {
        zero_object(p, size);
    }
    return p;
}

/* A large object gets the pages for n + 1 bytes: its end pointer (p + n,
 * the C idiom of a buffer that records where it ends) then stays inside
 * its own span.  Without the byte, an n that is a multiple of the page
 * made p + n the start of the next span, often the next large object:
 * kept alive by it, and that one by its own end pointer, and so on (an
 * outside tester's 1,000 1 MiB buffers, each holding its end, all kept by
 * the first: 989 MB).  Boehm's collector pads every object so; small
 * objects are not padded (a 16-byte node would take 32), see README.
 * The padding page is the span's, not the object's: memstats, profiles
 * and pacing count n rounded to pages (elemsize), heap_inuse the span. */
static void *alloc_large(rt__mcache *mc, size_t n, bool noscan, const char *type)
{
    size_t npages = (n + RT_GC_PAGE_SIZE) >> RT_GC_PAGE_SHIFT;
    if (n + RT_GC_PAGE_SIZE < n) /* wrapped around */
        out_of_memory(n);
    rt__span *s = rt__heap_alloc_span(npages);
    if (s == NULL)
        out_of_memory(npages << RT_GC_PAGE_SHIFT);
    rt__span_init_objects(s, 0, noscan, n != 0 ? n : 1);
    /* (published: a concurrent marker may read it) */
    __atomic_store_n(&s->freeindex, 1, __ATOMIC_RELAXED);
    s->alloccache = 0;
    s->type1 = type;
    size_t bytes = npages << RT_GC_PAGE_SHIFT;
    if (s->needzero)
        memset((void *)s->base, 0, bytes);
    int cur = rt__swept_set();
    rt__lock_acquire(&rt__large_lock);
    rt__span_list_push(&rt__large[cur], s);
    rt__lock_release(&rt__large_lock);
    counter_add(&mc->nlarge, 1);
    counter_add(&mc->large_bytes, s->elemsize); /* (not the padding page) */
    atomic_fetch_add_explicit(&rt__gcstat.heap_live, s->elemsize, memory_order_relaxed);
    return (void *)s->base;
}

static inline void *alloc_in(rt__mcache *mc, size_t n, bool noscan, const char *type,
                             bool *slow)
{
    if (rt__likely(n <= RT_GC_MAX_SMALL))
        return alloc_small(mc, rt__sizeclass_of(n), noscan, type, slow);
    *slow = true;
    return alloc_large(mc, n, noscan, type);
}

/* The heap profiler's countdown for an allocation of n bytes (cache owned
 * by the caller, inside its no-stop region).  Returns the object's size if
 * this allocation is to be sampled (and the heap's cycle in *cycle), else
 * 0.  A cache's first countdown is drawn on its first allocation. */
static size_t profile_countdown(rt__mcache *mc, size_t n, uint32_t *cycle)
{
    size_t size = n <= RT_GC_MAX_SMALL
                      ? rt__sizeclass_get(rt__sizeclass_of(n))->size
                      : ((n + RT_GC_PAGE_SIZE - 1) >> RT_GC_PAGE_SHIFT) << RT_GC_PAGE_SHIFT;
    int64_t left = __atomic_load_n(&mc->next_sample, __ATOMIC_RELAXED) - (int64_t)size;
    if (rt__likely(left >= 0)) {
        __atomic_store_n(&mc->next_sample, left, __ATOMIC_RELAXED);
        return 0;
    }
    if (mc->sample_epoch == 0) {
        /* a fresh cache: draw its first gap, then count this allocation */
        mc->sample_epoch = 1;
        left = rt__memprof_next_sample() - (int64_t)size;
        if (left >= 0) {
            __atomic_store_n(&mc->next_sample, left, __ATOMIC_RELAXED);
            return 0;
        }
    }
    __atomic_store_n(&mc->next_sample, rt__memprof_next_sample(), __ATOMIC_RELAXED);
    if (atomic_load_explicit(&rt__memprof_rate, memory_order_relaxed) <= 0)
        return 0;
    *cycle = atomic_load_explicit(&rt__sweepgen, memory_order_relaxed) / 2;
    return size;
}

/* Takes l for a thread the runtime did not create and returns inside a
 * no-stop region of its record, which the caller ends after releasing l.
 * The wait happens outside the region: the collector holds the shared
 * cache's lock while it stops such threads (sched/foreign.c), and a waiter
 * inside a region could not be stopped.  lock.c's protocol (0 free, 1
 * held, 2 held with waiters): rt__lock_release wakes a waiter on 2. */
static void foreign_lock(rt__fthread *f, rt__lock *l)
{
    for (int spins = 0;; spins++) {
        rt__foreign_nostop_begin(f);
        uint32_t c = 0;
        if (spins < 100) {
            if (atomic_compare_exchange_strong_explicit(&l->key, &c, 1, memory_order_acquire,
                                                        memory_order_relaxed))
                return;
        } else if (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) == 0) {
            return; /* held in state 2: the release wakes one more */
        }
        rt__foreign_nostop_end(f); /* stoppable while it waits */
        if (spins < 100)
            rt__cpu_relax();
        else
            rt__foreign_wait_lock(f, &l->key, 2);
    }
}

/* Everything but the fast path: large objects, exhausted windows, type
 * changes, threads without a P, the debug modes, the collection trigger. */
static __attribute__((noinline)) void *gc_alloc_slow(size_t n, bool noscan,
                                                     const char *type, int kind)
{
    /* an assist, a sweep or a new span may make system calls (the write
     * tracker's ioctl answered EAGAIN): the caller's errno stays */
    RT__KEEP_ERRNO;
    if (n == 0)
        n = 1;
    bool slow = false;
    void *p;
    uint32_t cycle = 0;
    size_t sampled = 0;
    rt_m *mp = rt__getm();
    if (rt__likely(mp != NULL && mp->p != NULL)) {
        rt__nostop_begin(mp);
        __atomic_store_n(&mp->mallocing, 1, __ATOMIC_RELAXED); /* scheddetail */
        p = alloc_in(&mp->p->mcache, n, noscan, type, &slow);
        sampled = profile_countdown(&mp->p->mcache, n, &cycle);
        __atomic_store_n(&mp->mallocing, 0, __ATOMIC_RELAXED);
        rt__nostop_end(mp);
    } else if (mp == NULL) {
        /* A thread the runtime did not create: registered on its first
         * allocation, so that its stack and registers are roots
         * (sched/foreign.c). */
        rt__fthread *f = rt__foreign_self();
        if (!atomic_load_explicit(&rt__sched.main_started, memory_order_relaxed))
            rt__settings_early(); /* DEBUG=allocfreetrace before rt_main */
        rt__sizeclass_init();
        rt__heap_init();
        foreign_lock(f, &shared_lock);
        p = alloc_in(&shared_cache, n, noscan, type, &slow);
        sampled = profile_countdown(&shared_cache, n, &cycle);
        rt__lock_release(&shared_lock);
        rt__foreign_nostop_end(f);
    } else {
        /* an M without a P (its locks are no-stop regions of the M) */
        rt__sizeclass_init();
        rt__heap_init();
        rt__lock_acquire(&shared_lock);
        p = alloc_in(&shared_cache, n, noscan, type, &slow);
        sampled = profile_countdown(&shared_cache, n, &cycle);
        rt__lock_release(&shared_lock);
    }
    /* The heap profile's sample: p is live (we hold it) until the caller
     * gets it, so no sweep can free it before it is entered. */
    if (rt__unlikely(sampled != 0))
        rt__memprof_alloc(p, sampled, cycle, 1);
    /* Outside the no-stop region, before the cycle the slow path may start
     * (its tracegc follows this record). */
    if (rt__unlikely(rt__debug.allocfreetrace))
        rt__tracealloc(p, n, type, kind);
    if (rt__unlikely(slow | (rt__debug.gcevery != 0)))
        rt__gc_maybe_trigger();
    return p;
}

/* The fast path, inlined into rt_alloc and friends: a small object from
 * the window of the P's span, no type change, zeroing by word stores. */
static inline __attribute__((always_inline)) void *gc_alloc(size_t n, bool noscan,
                                                            const char *type, int kind)
{
    /* The TLS word read directly, not through rt__getm's call (4 % of
     * GCBench's CPU): nothing before its uses here can switch goroutines,
     * so the thread is the same throughout, and the slow path reads it
     * again itself (see rt__tls_m). */
    rt_m *mp = rt__tls_m;
    /* The debug modes (gcevery, allocfreetrace) take the slow path: one
     * test of both settings. */
    if (rt__likely(mp != NULL && mp->p != NULL && n - 1 < RT_GC_MAX_SMALL &&
                   (rt__debug.gcevery | rt__debug.allocfreetrace) == 0)) {
        rt__mcache *mc = &mp->p->mcache;
        int cls = rt__sizeclass_of(n);
        rt__nostop_begin(mp);
        rt__span *s = mc->alloc[noscan][cls];
        uint64_t c;
        int64_t left;
        if (rt__likely(s != NULL && (c = s->alloccache) != 0 && s->type1 == type &&
                       s->typeidx == NULL &&
                       (left = __atomic_load_n(&mc->next_sample, __ATOMIC_RELAXED) -
                               (int64_t)s->elemsize) >= 0)) {
            /* (the heap profiler's countdown: one subtract, one compare;
             * the allocation that crosses zero is sampled on the slow
             * path) */
            __atomic_store_n(&mc->next_sample, left, __ATOMIC_RELAXED);
            uint32_t i = s->cacheidx + (uint32_t)__builtin_ctzll(c);
            s->alloccache = c & (c - 1);
            __atomic_store_n(&s->freeindex, i + 1, __ATOMIC_RELAXED);
            uintptr_t size = s->elemsize;
            void *p = (void *)(s->base + (uintptr_t)i * size);
            counter_add(&mc->nmalloc[cls], 1);
            if (s->needzero) {
                zero_object(p, size);
            }
            rt__nostop_end(mp);
            /* A stop in progress: stop here rather than when its signal
             * lands, tens of microseconds later on a VM (an IPI), twice a
             * cycle while the program allocates. */
            if (rt__unlikely(atomic_load_explicit(&rt__gcstop_epoch, memory_order_relaxed) & 1))
                rt__gcstop_poll(mp);
            return p;
        }
        rt__nostop_end(mp);
    }
    return gc_alloc_slow(n, noscan, type, kind);
}

void *rt__gc_alloc(size_t n, bool noscan)
{
    return gc_alloc(n, noscan, NULL, RT_TRACE_SINGLE);
}

void *rt__gc_alloc_typed(size_t n, const char *type, bool array)
{
    return gc_alloc(n, false, type, array ? RT_TRACE_ARRAY : RT_TRACE_SINGLE);
}

void *rt__gc_alloc_chan(size_t n)
{
    return gc_alloc(n, false, NULL, RT_TRACE_CHAN);
}

void rt__mcache_flush(rt__mcache *mc)
{
    for (int kind = 0; kind < 2; kind++)
        for (int cls = 0; cls < RT_GC_MAX_CLASSES; cls++) {
            rt__span *s = mc->alloc[kind][cls];
            if (s == NULL)
                continue;
            mc->alloc[kind][cls] = NULL;
            central_put(s);
        }
}

void rt__mcache_flush_all(void)
{
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++)
        rt__mcache_flush(&rt__sched.allp[i]->mcache);
    rt__mcache_flush(&shared_cache); /* the initiator holds shared_lock */
}

/* Threads without a P are not stopped with the world (those the runtime
 * did not create only for the stopped mark, sched/foreign.c): the
 * collector holds their cache's lock for the whole stop, so they cannot
 * allocate during it. */
void rt__shared_cache_lock(void)
{
    rt__lock_acquire(&shared_lock);
}

void rt__shared_cache_unlock(void)
{
    rt__lock_release(&shared_lock);
}

/* Sums the allocation counters of every cache (memstats). */
void rt__mcache_counters(uint64_t nmalloc[RT_GC_MAX_CLASSES], uint64_t *nlarge,
                         uint64_t *large_bytes)
{
    const rt__mcache *caches[RT_MAX_PROCS + 1];
    int n = 0;
    for (int i = 0; i < RT_MAX_PROCS; i++) {
        rt_p *pp = rt__sched.allp ? __atomic_load_n(&rt__sched.allp[i], __ATOMIC_ACQUIRE)
                                  : NULL;
        if (pp != NULL)
            caches[n++] = &pp->mcache;
    }
    caches[n++] = &shared_cache;
    for (int k = 0; k < n; k++) {
        for (int c = 0; c < RT_GC_MAX_CLASSES; c++)
            nmalloc[c] += __atomic_load_n(&caches[k]->nmalloc[c], __ATOMIC_RELAXED);
        *nlarge += __atomic_load_n(&caches[k]->nlarge, __ATOMIC_RELAXED);
        *large_bytes += __atomic_load_n(&caches[k]->large_bytes, __ATOMIC_RELAXED);
    }
}

static void *object_start(uintptr_t addr, size_t *size)
{
    rt__span *s = rt__heap_span_of(addr);
    if (s == NULL || s->nelems == 0)
        return NULL;
    /* After a cycle the span may still hold last cycle's allocation state
     * (unswept) or be being swept: answer from its swept state. */
    rt__span_ensure_swept(s);
    uint32_t i = rt__span_index(s, addr - s->base);
    if (i >= s->nelems || !rt__span_slot_allocated(s, i))
        return NULL;
    if (size != NULL)
        *size = s->elemsize;
    return (void *)(s->base + (uintptr_t)i * s->elemsize);
}

void *rt__gc_object_start(uintptr_t addr, size_t *size)
{
    if (rt__getm() != NULL)
        return object_start(addr, size); /* (the caller's no-stop region) */
    /* A thread without an M sweeps, if it must, under the shared cache's
     * lock, as its allocations do: the collector holds that lock from a
     * cycle's first stop to the world's restart, so such a sweep neither
     * overlaps a cycle's start (rt__sweep_done counts a span being swept
     * as done) nor runs with the world stopped (the validator saw a span
     * swept for the next cycle before the restart). */
    rt__fthread *f = rt__foreign_self();
    foreign_lock(f, &shared_lock);
    void *p = object_start(addr, size);
    rt__lock_release(&shared_lock);
    rt__foreign_nostop_end(f);
    return p;
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
    return rt__gc_alloc_typed(size, type, false);
}

void *rt_new_array_(size_t size, size_t n, const char *type)
{
    size_t total;
    if (__builtin_mul_overflow(size, n, &total))
        rt__throw("rt_new_array: len out of range");
    return rt__gc_alloc_typed(total, type, true);
}
