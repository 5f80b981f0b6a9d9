/*
 * gc/heap.c -- the page heap: the arena, spans of pages, and the
 * page-to-span map.
 *
 * The heap is one reservation of address space (RT_GC_ARENA_BYTES, or
 * less under an address-space limit: rt__heap_init; mapped read-write with MAP_NORESERVE and MADV_NOHUGEPAGE left to the kernel's
 * default: only touched pages cost memory), carved from its low end as the
 * heap grows.  One contiguous range is what the collector wants: "could
 * this word point into the heap" is a range check, and heap dumps describe
 * one compact range (TRACE_FORMATS.md, heap dump notes).
 *
 * The arena is divided into 8 KiB pages.  A span is a run of pages that is
 * either free or holds objects (of one size class, or one large object).
 * pagemap[i] names the span that page i belongs to, for every page of every
 * span, free or in use; so the span of any address -- interior pointers
 * included -- is one shift and one load, and freeing a span finds its
 * neighbours to coalesce with in O(1).
 *
 * Free spans are kept on lists by size (exact lists for 1..RT_GC_FREE_LISTS-1
 * pages, one list for larger ones); allocation takes the first exact fit,
 * else splits the first span that is large enough (best fit among the large
 * ones), else grows the arena.  This is Go 1.3's mheap.  Each free span
 * keeps when it became free (unused_since) and how many of its pages are
 * back with the OS (npreleased); the scavengers (collector.c, called by
 * sysmon) release the pages of spans idle long enough
 * (rt__heap_scavenge, rt__heap_scavenge_to).
 *
 * Span records come from 64 KiB slabs of the collector's metadata region
 * (meta.c) and are recycled through a free list; they are never given
 * back.  Everything here is under one
 * lock (heap_lock): spans are taken and given back in bulk by the central
 * lists, not per object.
 *
 * Invariants (rt__heap_check verifies them):
 *   - pages [1, npages_used) are covered by spans that tile them exactly;
 *   - pagemap[p] is the span covering page p for every 1 <= p < npages_used;
 *   - page 0 is never used (pagemap[0] is NULL): the arena's base address
 *     sits in the runtime's own variables, which are roots, and must not
 *     be the address of an object (it would never be collected).
 *   - no two free spans are adjacent (they are coalesced on free);
 *   - every free span is on exactly the list of its size.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "gc/gc.h"
#include "sched/sched.h"

static rt__lock heap_lock;
static uintptr_t arena_base;
size_t rt__arena_bytes = RT_GC_ARENA_BYTES;
#define ARENA_MIN ((size_t)64 << 20)
static size_t npages_total;   /* pages in the reservation */
static size_t npages_used;    /* pages handed to spans so far (the tiling) */
static rt__span **pagemap;    /* [npages_total], touched as the heap grows */
static rt__span *free_lists[RT_GC_FREE_LISTS]; /* [0]: npages >= RT_GC_FREE_LISTS */
static rt__span *span_pool;   /* recycled span records */
static size_t nspans_inuse, nspans_free, nspan_records;
static size_t npages_released; /* free pages given back with madvise */

/* The marker's view (gc.h). */
uintptr_t rt__arena_lo;
_Atomic size_t rt__arena_used;
rt__span **rt__pagemap;

/* The tiling grows by at least 1 MiB (Go 1.3's step): small programs show
 * a small heap_sys, and idle pages are pages that were used. */
#define GROW_PAGES ((size_t)(1u << 20) >> RT_GC_PAGE_SHIFT)

static rt__span **free_list_of(size_t npages)
{
    return &free_lists[npages < RT_GC_FREE_LISTS ? npages : 0];
}

static rt__span *span_new(void)
{
    if (span_pool == NULL) {
        /* (a 64 KiB block of the metadata region, meta.c: no malloc) */
        enum { SLAB_BYTES = 64 << 10, SLAB = SLAB_BYTES / sizeof(rt__span) };
        rt__span *slab = rt__meta_alloc(SLAB_BYTES);
        for (int i = 0; i < SLAB; i++)
            rt__span_list_push(&span_pool, &slab[i]);
        nspan_records += SLAB;
    }
    rt__span *s = span_pool;
    rt__span_list_remove(&span_pool, s);
    memset(s, 0, sizeof *s);
    return s;
}

static void span_release(rt__span *s)
{
    s->state = RT_SPAN_DEAD;
    rt__span_list_push(&span_pool, s);
}

static size_t page_of(uintptr_t addr)
{
    return (addr - arena_base) >> RT_GC_PAGE_SHIFT;
}

/* Free spans map only their first and last pages (all coalescing needs:
 * the neighbours' ends); in-use spans map every page (any interior address
 * finds its span).  Pages inside a free span may therefore name a stale
 * span record: lookups check that the address lies inside the span they
 * found (rt__span_contains).  Mapping every page of every free span on
 * each split and merge made heap operations cost O(pages): a 64 MiB growth
 * rewrote 8,192 entries per 8 KiB span handed out. */
static void map_free(rt__span *s)
{
    size_t p = page_of(s->base);
    /* (atomic stores: the concurrent marker reads the map) */
    __atomic_store_n(&pagemap[p], s, __ATOMIC_RELAXED);
    __atomic_store_n(&pagemap[p + s->npages - 1], s, __ATOMIC_RELAXED);
}

static void map_span(rt__span *s)
{
    size_t p = page_of(s->base);
    for (size_t i = 0; i < s->npages; i++)
        __atomic_store_n(&pagemap[p + i], s, __ATOMIC_RELAXED);
}

/* heap_lock held.  Puts s (its pages mapped) on its free list. */
static void free_insert(rt__span *s)
{
    s->state = RT_SPAN_FREE;
    s->unused_since = rt_nanotime();
    rt__span_list_push(free_list_of(s->npages), s);
    nspans_free++;
}

static void free_take(rt__span *s)
{
    rt__span_list_remove(free_list_of(s->npages), s);
    nspans_free--;
}

void *rt__gc_reserve(size_t max, size_t min, unsigned share_shift, size_t *got)
{
    size_t want = max;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        while (want > min && want > (rl.rlim_cur >> share_shift))
            want /= 2;
    for (;;) {
        void *p = mmap(NULL, want, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            *got = want;
            return p;
        }
        if (want <= min)
            return NULL;
        want /= 2;
    }
}

void rt__heap_init(void)
{
    static _Atomic int done;
    if (atomic_load(&done))
        return;
    rt__lock_acquire(&heap_lock);
    if (!atomic_load(&done)) {
        /* Under `ulimit -v` a 64 GiB reservation fails, where Go (which
         * reserves as it grows) runs: at most half the limit (stacks,
         * libraries and the rest need the other half). */
        size_t want;
        void *p = rt__gc_reserve(RT_GC_ARENA_BYTES, ARENA_MIN, 1, &want);
        if (p == NULL)
            rt__throw("runtime: cannot reserve the heap arena");
        rt__arena_bytes = want;
        arena_base = (uintptr_t)p;
        npages_total = want >> RT_GC_PAGE_SHIFT;
        void *m = mmap(NULL, npages_total * sizeof(rt__span *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            rt__throw("runtime: cannot reserve the heap page map");
        pagemap = m;
        rt__pagemap = m;
        rt__arena_lo = arena_base;
        npages_used = 1; /* page 0: see the invariants */
        atomic_store(&done, 1);
    }
    rt__lock_release(&heap_lock);
}

/* heap_lock held.  Extends the tiling by at least npages as one free span
 * (coalesced with a free span at the old end). */
static bool grow(size_t npages)
{
    size_t n = npages > GROW_PAGES ? npages : GROW_PAGES;
    if (npages_used + n > npages_total) {
        n = npages_total - npages_used;
        if (n < npages)
            return false;
    }
    rt__span *s = span_new();
    s->base = arena_base + (npages_used << RT_GC_PAGE_SHIFT);
    s->npages = n;
    map_free(s); /* before the arena grows: the marker reads the map */
    npages_used += n;
    atomic_store_explicit(&rt__arena_used, npages_used << RT_GC_PAGE_SHIFT,
                          memory_order_release);
    rt__span *prev = s->base > arena_base ? pagemap[page_of(s->base) - 1] : NULL;
    if (prev && prev->state == RT_SPAN_FREE) {
        free_take(prev);
        prev->npages += s->npages;
        prev->npreleased += s->npreleased;
        span_release(s);
        s = prev;
    }
    map_free(s);
    free_insert(s);
    return true;
}

/* heap_lock held.  A free span of at least npages, or NULL. */
static rt__span *find_free(size_t npages)
{
    for (size_t n = npages; n < RT_GC_FREE_LISTS; n++)
        if (free_lists[n])
            return free_lists[n];
    /* Large free spans: best fit for large requests (rare); a small
     * request splits the lowest-addressed of the first few, which keeps
     * the search O(1) however many large spans there are and tends to
     * pack the heap towards its low end. */
    rt__span *best = NULL;
    int looked = 0;
    for (rt__span *s = free_lists[0]; s; s = s->next) {
        if (s->npages < npages)
            continue;
        if (npages < RT_GC_FREE_LISTS) {
            if (best == NULL || s->base < best->base)
                best = s;
            if (++looked == 8)
                break;
            continue;
        }
        if (best == NULL || s->npages < best->npages ||
            (s->npages == best->npages && s->base < best->base))
            best = s;
    }
    return best;
}

rt__span *rt__heap_alloc_span(size_t npages)
{
    if (npages == 0)
        return NULL;
    rt__heap_init();
    rt__lock_acquire(&heap_lock);
    rt__span *s = find_free(npages);
    if (s == NULL && grow(npages))
        s = find_free(npages);
    if (s == NULL) {
        rt__lock_release(&heap_lock);
        return NULL;
    }
    free_take(s);
    if (s->npages > npages) {
        /* Split: the tail stays free and keeps what it can of the
         * released pages (released pages are counted per span, not per
         * page: the tail is credited first). */
        rt__span *t = span_new();
        t->base = s->base + (npages << RT_GC_PAGE_SHIFT);
        t->npages = s->npages - npages;
        t->needzero = s->needzero;
        t->npreleased = s->npreleased < t->npages ? s->npreleased : t->npages;
        s->npreleased -= t->npreleased;
        s->npages = npages;
        map_free(t);
        free_insert(t);
        t->unused_since = s->unused_since;
    }
    /* Pages given back to the OS come back zero-filled on first touch;
     * they are in use again. */
    npages_released -= s->npreleased;
    s->npreleased = 0;
    s->limit = npages << RT_GC_PAGE_SHIFT; /* (a large object's narrows it) */
    map_span(s);
    s->state = RT_SPAN_INUSE;
    nspans_inuse++;
    rt__lock_release(&heap_lock);
    return s;
}

void rt__heap_free_span(rt__span *s)
{
    rt__lock_acquire(&heap_lock);
    if (s->state != RT_SPAN_INUSE)
        rt__throwf("heap_free_span: span at %#lx is not in use", (unsigned long)s->base);
    nspans_inuse--;
    s->needzero = true; /* its pages held objects */
    size_t p = page_of(s->base);
    if (p > 1) {
        rt__span *before = pagemap[p - 1];
        if (before->state == RT_SPAN_FREE) {
            free_take(before);
            before->npages += s->npages;
            before->npreleased += s->npreleased;
            before->needzero = true;
            span_release(s);
            s = before;
        }
    }
    size_t end = page_of(s->base) + s->npages;
    if (end < npages_used) {
        rt__span *after = pagemap[end];
        if (after->state == RT_SPAN_FREE) {
            free_take(after);
            s->npages += after->npages;
            s->npreleased += after->npreleased;
            span_release(after);
        }
    }
    map_free(s);
    free_insert(s);
    rt__lock_release(&heap_lock);
}

rt__span *rt__heap_span_of(uintptr_t addr)
{
    /* Lock-free: the arena's used size is published with a release store
     * after the page map entries it covers. */
    if (addr - rt__arena_lo >= atomic_load_explicit(&rt__arena_used, memory_order_acquire))
        return NULL;
    rt__span *s = __atomic_load_n(&pagemap[page_of(addr)], __ATOMIC_RELAXED);
    return s && s->state == RT_SPAN_INUSE && rt__span_contains(s, addr) ? s : NULL;
}

void *rt__gc_sysrealloc(void *old, size_t oldbytes, size_t newbytes)
{
    size_t pg = 4096;
    oldbytes = (oldbytes + pg - 1) & ~(pg - 1);
    newbytes = (newbytes + pg - 1) & ~(pg - 1);
    void *p;
    if (old == NULL)
        p = mmap(NULL, newbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        p = mremap(old, oldbytes, newbytes, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        rt__throw("out of memory growing the collector's tables");
    atomic_fetch_add_explicit(&rt__gcstat.gcbits_bytes, newbytes - oldbytes,
                              memory_order_relaxed);
    return p;
}

void rt__heap_foreach_inuse(void (*fn)(rt__span *s, void *ctx), void *ctx)
{
    size_t p = 1;
    while (p < npages_used) {
        rt__span *s = pagemap[p];
        p += s->npages;
        if (s->state == RT_SPAN_INUSE)
            fn(s, ctx);
    }
}

/* From the free lists, not a walk over the tiling: that walk read every
 * span record of workload 12's 1.2 GB heap with the heap lock held, and
 * the program's allocations waited for it (longest stall 12-30 ms against
 * 4-5 ms). */
size_t rt__heap_free_runs(rt__page_run *runs, size_t max, size_t min_pages)
{
    size_t n = 0;
    rt__lock_acquire(&heap_lock);
    for (size_t k = min_pages < 1 ? 1 : min_pages; k <= RT_GC_FREE_LISTS && n < max; k++) {
        for (rt__span *sp = free_lists[k % RT_GC_FREE_LISTS]; sp != NULL && n < max;
             sp = sp->next) {
            runs[n].lo = sp->base;
            runs[n].hi = sp->base + (sp->npages << RT_GC_PAGE_SHIFT);
            n++;
        }
    }
    rt__lock_release(&heap_lock);
    return n;
}

/* heap_lock held: gives the pages of free span s back to the OS.  A span
 * already partly released is released whole again (madvise on released
 * pages is harmless), and its count becomes all of its pages.  Returns
 * the bytes newly released. */
static size_t release_span(rt__span *s)
{
    if (madvise((void *)s->base, s->npages << RT_GC_PAGE_SHIFT, MADV_DONTNEED) != 0)
        return 0;
    size_t bytes = (s->npages - s->npreleased) << RT_GC_PAGE_SHIFT;
    npages_released += s->npages - s->npreleased;
    s->npreleased = s->npages;
    s->needzero = false; /* MADV_DONTNEED: zero pages on next touch */
    return bytes;
}

/* Releases the pages of free spans idle since before older_than. */
size_t rt__heap_scavenge(int64_t older_than)
{
    size_t released = 0;
    rt__lock_acquire(&heap_lock);
    for (int i = 0; i < RT_GC_FREE_LISTS; i++)
        for (rt__span *s = free_lists[i]; s; s = s->next)
            if (s->npreleased != s->npages && s->unused_since < older_than)
                released += release_span(s);
    rt__lock_release(&heap_lock);
    return released;
}

/* Releases free spans idle since before older_than, the largest first,
 * until the pages held (in use plus idle, not released) are at most
 * retain bytes or max bytes were released.  Returns the bytes released. */
size_t rt__heap_scavenge_to(size_t retain, int64_t older_than, size_t max)
{
    size_t released = 0;
    rt__lock_acquire(&heap_lock);
    size_t used = npages_used ? npages_used - 1 : 0;
    for (int i = RT_GC_FREE_LISTS - 1; i >= 0; i--)
        for (rt__span *s = free_lists[i]; s; s = s->next) {
            if (((used - npages_released) << RT_GC_PAGE_SHIFT) <= retain || released >= max)
                goto out;
            if (s->npreleased != s->npages && s->unused_since < older_than)
                released += release_span(s);
        }
out:
    rt__lock_release(&heap_lock);
    return released;
}

size_t rt__heap_retained(void)
{
    rt__lock_acquire(&heap_lock);
    size_t used = npages_used ? npages_used - 1 : 0;
    size_t n = (used - npages_released) << RT_GC_PAGE_SHIFT;
    rt__lock_release(&heap_lock);
    return n;
}

size_t rt__heap_spans_inuse(void)
{
    rt__lock_acquire(&heap_lock);
    size_t n = nspans_inuse;
    rt__lock_release(&heap_lock);
    return n;
}

void rt__heap_stats(rt__heap_statistics *st)
{
    rt__lock_acquire(&heap_lock);
    st->arena_base = arena_base;
    st->pages_used = npages_used ? npages_used - 1 : 0;
    st->spans_inuse = nspans_inuse;
    st->spans_free = nspans_free;
    st->pages_released = npages_released;
    st->span_records = nspan_records;
    size_t free_pages = 0;
    for (int i = 0; i < RT_GC_FREE_LISTS; i++)
        for (rt__span *s = free_lists[i]; s; s = s->next)
            free_pages += s->npages;
    st->pages_free = free_pages;
    rt__lock_release(&heap_lock);
}

void rt__heap_check(void)
{
    rt__lock_acquire(&heap_lock);
    size_t p = 1, nfree = 0, ninuse = 0;
    rt__span *prev = NULL;
    while (p < npages_used) {
        rt__span *s = pagemap[p];
        if (s == NULL || s->base != arena_base + (p << RT_GC_PAGE_SHIFT) || s->npages == 0)
            rt__throwf("heap_check: page %zu does not start a span", p);
        if (pagemap[p + s->npages - 1] != s)
            rt__throwf("heap_check: last page %zu maps to the wrong span", p + s->npages - 1);
        if (s->state == RT_SPAN_INUSE)
            for (size_t i = 0; i < s->npages; i++)
                if (pagemap[p + i] != s)
                    rt__throwf("heap_check: page %zu maps to the wrong span", p + i);
        if (s->state == RT_SPAN_FREE) {
            if (prev && prev->state == RT_SPAN_FREE)
                rt__throwf("heap_check: adjacent free spans at page %zu", p);
            bool found = false;
            for (rt__span *t = *free_list_of(s->npages); t; t = t->next)
                found |= t == s;
            if (!found)
                rt__throwf("heap_check: free span at page %zu not on its list", p);
            nfree++;
        } else if (s->state == RT_SPAN_INUSE) {
            ninuse++;
        } else {
            rt__throwf("heap_check: span at page %zu in state %d", p, s->state);
        }
        prev = s;
        p += s->npages;
    }
    if (nfree != nspans_free || ninuse != nspans_inuse)
        rt__throwf("heap_check: counted %zu free / %zu in use, recorded %zu / %zu", nfree,
                   ninuse, nspans_free, nspans_inuse);
    rt__lock_release(&heap_lock);
}
