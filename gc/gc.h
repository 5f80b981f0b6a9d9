/*
 * gc/gc.h -- internal header of the gc/ folder: the garbage-collected heap
 * and its collector.
 *
 * What this folder owns: the arena and its spans (heap.c), size classes
 * (sizeclass.c), allocation (malloc.c), marking (mark.c), sweeping
 * (sweep.c), the cycle, its pacing and the public Memory API of rt.h
 * (collector.c), finalizers (finalizer.c), written-page tracking for
 * concurrent marking (dirty.c) and returning memory to the OS (heap.c's
 * scavenger, driven from collector.c).  It relies on the scheduler for stopping the world and for
 * the roots only the scheduler knows (sched/gcstop.c).
 *
 * The allocation path
 *   rt_alloc(n) rounds n up to a size class and takes the next free slot of
 *   the span the running P's cache holds for that class and kind (scan or
 *   noscan): a 64-bit window of the span's free-slot bitmap, inverted, is
 *   kept in the span (alloccache), so taking a slot is a count-trailing-
 *   zeros, a clear-lowest-bit and a multiply-add -- no lock and no atomic
 *   instruction.  When the window is empty the next 64 slots' bits are
 *   loaded; when the span is full the cache swaps it for a swept span with
 *   room from the class's central list (a lock per class), sweeping spans
 *   on demand if the central list has none, or takes fresh pages from the
 *   page heap.  Objects above 32 KiB get spans of their own.
 *
 * Why bitmaps and not free lists threaded through free objects: the
 * conservative marker must know whether a word points into an allocated
 * object or into a free slot (a stale pointer into a free slot must not
 * resurrect it), and the sweeper gets its new free-slot map for free: the
 * marks of a cycle become the allocation bits of the next.  Nothing is
 * written into free objects, so freed memory is not touched until reused.
 *
 * The phases of a cycle (collector.c drives them, on the background GC
 * goroutine that the allocation crossing the trigger wakes, or on rt_gc's
 * caller; collector.c's essay has the concurrent variant):
 *   0. finish sweeping left over from the previous cycle (gctrace's B);
 *   1. stop the world (A): sched/gcstop.c parks or signals every thread
 *      running goroutines; the P caches are flushed, rt_pool caches cleared
 *      (with concurrent marking, collector.c: a short stop, then phase 2
 *      runs with the world going -- goroutines that allocate faster than
 *      it marks mark too (assists) -- and a final short stop rescans what the
 *      program wrote meanwhile);
 *   2. mark (C): the roots (stacks, registers, data and bss, registered
 *      roots, the scheduler's records, the contents of objects with
 *      finalizers and the queued finalizer objects) are split in chunks
 *      that up to min(8, MAXPROCS, CPUs) mark threads take and steal; every word that points into an
 *      allocated object sets the object's mark byte and, for a scan object
 *      newly marked, queues it;
 *   3. mark termination (D): unreachable objects with finalizers are marked
 *      and queued for the finalizer goroutine; the sweep generation
 *      advances, which turns every span into "unswept" at once; the next
 *      trigger is set; the world restarts;
 *   4. sweep, concurrently with the program: a background goroutine and
 *      allocating goroutines (on demand, before taking a span of a class)
 *      sweep span by span: marked objects stay, the rest become free slots;
 *      a span with nothing marked goes back to the page heap.
 *
 * Invariants
 *   - A slot i of an in-use small span is allocated iff i < freeindex or
 *     allocbits[i] (allocbits: the marks of the cycle that swept the span;
 *     freeindex: one past the last slot handed out since).  The marker and
 *     the sweeper rely on it; the allocator keeps it.
 *   - Outside a collection every mark byte is clear: the sweeper clears
 *     the marks it consumed, fresh spans start clear.
 *   - span->sweepgen == heap sweepgen: swept in this cycle; == sweepgen - 2:
 *     still to sweep.  Central lists come in two sets indexed by sweepgen
 *     parity, swept and unswept, so advancing sweepgen by 2 (world stopped)
 *     turns every span unswept without touching it.
 *   - Sweeping a span happens in one no-stop region, so a stopped world
 *     never sees a half-swept span, and a cycle starts only after every
 *     unswept list is empty.
 *   - The marker only reads span metadata (written under locks or in
 *     no-stop regions, and published with span->published before a
 *     concurrent marker may read it) and writes mark bytes; besides the
 *     marker, only allocation during a concurrent mark phase writes them
 *     (rt__span_premark: allocation is black).
 *
 * Why size classes (and these): a free-slot map per class makes allocation
 * a bit scan and makes every object's start computable from any interior
 * address (span base + index * size, the index by a multiply with a
 * precomputed reciprocal), which the conservative marker needs for
 * interior pointers.  The classes are Go's construction: sizes grow by
 * steps of 8 up to 32 bytes, 16 up to 128, then 1/8 of the size, and each
 * class gets the smallest span (in 8 KiB pages) whose tail waste is at most
 * 1/8 of the span; adjacent sizes that would give spans with the same page
 * count and object count are merged into the larger one.  That gives 67
 * classes (Go 1.19's count; Go 1.3 stepped by 16 from 16 bytes, and a
 * 24-byte object -- two pointers and two ints, GCBench's node -- took 32:
 * a third more heap, more cycles), tail waste of at most 12.5 % of every
 * span, and internal fragmentation of at most 18.7 % for requests above
 * 128 bytes (a 3,329-byte request in the 4,096-byte class is the worst) --
 * the price of few classes and hence few partly used spans.
 */
#ifndef RT_GC_H
#define RT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../runtime/runtime.h"

#define RT_GC_PAGE_SHIFT 13
#define RT_GC_PAGE_SIZE  ((size_t)1 << RT_GC_PAGE_SHIFT) /* 8 KiB */
#define RT_GC_MAX_SMALL  ((size_t)32 * 1024)  /* larger: a span of its own */
#define RT_GC_MAX_CLASSES 80
#define RT_MAX_PROCS 256 /* the size of rt__sched.allp (proc.c's MAX_PROCS) */

/* ------------------------------------------------------- sizeclass.c ---- */

typedef struct rt__sizeclass {
    uint32_t size;    /* object size in bytes */
    uint32_t npages;  /* pages per span */
    uint32_t nobjs;   /* objects per span */
} rt__sizeclass;

/* The table: class 0 is unused (size 0), classes 1..n are increasing.
 * Built once (rt__sizeclass_init, idempotent and thread-safe). */
void rt__sizeclass_init(void);
int rt__sizeclass_count(void); /* n: the largest valid class */
const rt__sizeclass *rt__sizeclass_get(int cls);
/* The smallest class whose objects hold n bytes (1 <= n <= 32 KiB; the
 * table must be built). */
extern uint8_t rt__class8[];
extern uint8_t rt__class128[];
static inline int rt__sizeclass_of(size_t n)
{
    if (n <= 1024)
        return rt__class8[(n + 7) / 8];
    return rt__class128[(n - 1024 + 127) / 128];
}

/* ------------------------------------------------------------ heap.c ---- */

#define RT_GC_ARENA_BYTES ((size_t)64 << 30) /* 64 GiB of address space */
/* The arena's size: RT_GC_ARENA_BYTES, or less where the address space is
 * limited (RLIMIT_AS; halved until the reservation succeeds, down to
 * 64 MiB).  Set once by rt__heap_init. */
extern size_t rt__arena_bytes;
/* Reserves (MAP_NORESERVE, read-write) up to max bytes of address space:
 * no more than RLIMIT_AS >> share_shift, halved while the kernel refuses,
 * down to min (NULL below that).  *got is what was reserved. */
void *rt__gc_reserve(size_t max, size_t min, unsigned share_shift, size_t *got);
#define RT_GC_FREE_LISTS 128 /* exact free lists for spans of 1..127 pages */

enum { RT_SPAN_DEAD = 0, RT_SPAN_FREE = 1, RT_SPAN_INUSE = 2 };

typedef struct rt__special rt__special;

/* A run of pages in the arena.  Fields are under the heap lock while the
 * span is free; an in-use span belongs to whoever holds it (a P's cache,
 * a central list under its lock, the sweeper that took it). */
typedef struct rt__span {
    /* What the marker reads for every candidate pointer comes first, in
     * one cache line. */
    uintptr_t base;          /* first byte (page aligned) */
    uint32_t divmul;         /* index of offset o: (o * divmul) >> 32 */
    uint32_t nelems;         /* object slots in the span */
    uint8_t state;           /* RT_SPAN_* */
    uint8_t sizeclass;       /* 0: one large object */
    bool noscan;             /* objects hold no pointers (rt_alloc_noscan) */
    bool needzero;           /* slots may hold old data */
    bool bitmarks;           /* marks are bits (> 384 slots), else bytes */
    uint8_t published;       /* set (release) once the fields above and the
                              * bitmaps are ready; the concurrent marker
                              * reads nothing else of a span before it sees
                              * this (acquire).  Cleared when freed. */
    size_t elemsize;         /* object size (a large span: the request
                              * rounded to pages, without alloc_large's
                              * padding page) */
    size_t npages;
    size_t limit;            /* bytes from base that objects cover: the
                              * span's, or a large object's requested size
                              * (the page after it is padding: malloc.c,
                              * alloc_large); rt__span_contains */
    uint64_t *allocbits;     /* [nwords]: marks that survived the sweep */
    uint8_t *markbytes;      /* this cycle's marks: one byte per slot, so
                              * that parallel markers need no atomic
                              * read-modify-write (mark.c) -- except in
                              * spans of more than 384 slots (objects of
                              * 8 and 16 bytes), where a byte per slot
                              * would cost 6-12 % of the heap: there a
                              * bitmap of nwords words (bitmarks).  The
                              * 24-byte class (341 slots, 4.2 %) keeps
                              * bytes: GCBench's node, whose parallel
                              * marks took 1.9 ms with bits, 1.1-1.3 with
                              * bytes */
    /* allocation state (see "Invariants" above), from the second cache
     * line on: the allocating P writes it on every allocation, and a line
     * the marker reads for every candidate pointer would bounce between
     * the two threads' caches (the record is 64-byte aligned, below) */
    uint64_t alloccache;     /* bit k set: slot cacheidx + k is free */
    uint32_t cacheidx;       /* alloccache covers slots [cacheidx, +64) */
    uint32_t freeindex;      /* slots [0, freeindex) are allocated; the
                              * marker reads it only for a slot not
                              * marked yet (mark.c, mark_word) */
    uint32_t allocated_at_sweep; /* objects kept by the last sweep */
    const char *type1;       /* rt_new's type name of every object, while
                              * typeidx is NULL (NULL: untyped) */
    uint16_t *typeidx;       /* [nelems] type name indices once mixed */
    /* the rest */
    struct rt__span *next, *prev; /* free list, or the owner's lists */
    _Atomic uint32_t sweepgen;
    bool incache;            /* held by a P's cache */
    bool has_special;        /* some object has a finalizer or is a heap
                              * profile sample (the sweeper reports frees) */
    uint64_t inlinebits;     /* allocbits when nelems <= 8 */
    uint8_t inlinemarks[8];  /* markbytes when nelems <= 8 */
    uint64_t *bitsmem;       /* the block of both from meta.c, or NULL */
    void *shadow;            /* mark.c: a large scan object's words as the
                              * marking last read them on written pages,
                              * this cycle (NULL: none) */
    /* page heap state (free spans) */
    int64_t unused_since;    /* when it became free (scavenger) */
    size_t npreleased;       /* pages returned to the OS */
} __attribute__((aligned(64))) rt__span;
_Static_assert(offsetof(rt__span, markbytes) + sizeof(uint8_t *) <= 64 &&
                   offsetof(rt__span, alloccache) >= 64,
               "the marker's fields fill the first cache line, the allocator's start the second");

/* Doubly linked span lists (the page heap's free lists, the central lists):
 * push at the head, remove from anywhere; the caller holds the list's lock. */
static inline void rt__span_list_push(rt__span **head, rt__span *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static inline void rt__span_list_remove(rt__span **head, rt__span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* Whether addr lies inside s (page-map entries inside free spans may be
 * stale: heap.c). */
static inline bool rt__span_contains(const rt__span *s, uintptr_t addr)
{
    return addr - s->base < s->limit;
}

static inline uint32_t rt__span_nwords(const rt__span *s)
{
    return (s->nelems + 63) / 64;
}

/* meta.c: zeroed memory for span records, bitmaps and type tables, from a
 * region of the collector's own (no malloc: glibc's arena growth takes the
 * address-space lock for writing, which a concurrent protect call holds for
 * reading).  Free with the size that was asked for.  Not with the world
 * stopped.  It is also the only allocator a no-stop region may use (the
 * profilers' tables too): a thread the stop signal caught inside malloc
 * holds malloc's lock, so a no-stop region waiting for it would hold the
 * stop open for ever (a stress_gc_stw_p4 hang: the background sweeper,
 * in its no-stop region, in free()).  meta.c's own lock is taken only in
 * no-stop regions and by threads without a P, which are not stopped. */
void *rt__meta_alloc(size_t n);
void rt__meta_free(void *p, size_t n);
/* A new zeroed block of newn bytes holding old's first min(oldn, newn)
 * bytes; old (oldn bytes, may be NULL) is freed. */
void *rt__meta_realloc(void *old, size_t oldn, size_t newn);

/* Reserves the arena (idempotent; the first allocation calls it). */
void rt__heap_init(void);
/* A span of npages contiguous pages, state in use, or NULL when the arena
 * is exhausted.  Fresh pages are zero; needzero says when they may not be. */
rt__span *rt__heap_alloc_span(size_t npages);
/* Gives an in-use span back; it is coalesced with free neighbours. */
void rt__heap_free_span(rt__span *s);
/* The in-use span containing addr (interior addresses too), or NULL. */
rt__span *rt__heap_span_of(uintptr_t addr);
/* Grows (or makes, old NULL) a table of the collector's with mmap/mremap:
 * usable while the world is stopped, when malloc is not (a stopped thread
 * may hold a malloc lock). */
void *rt__gc_sysrealloc(void *old, size_t oldbytes, size_t newbytes);
/* Every in-use span, in address order (world stopped or heap quiet). */
void rt__heap_foreach_inuse(void (*fn)(rt__span *s, void *ctx), void *ctx);

/* The free spans of at least min_pages pages, in no particular order,
 * at most max of them.  Takes the heap lock for a walk over the free
 * lists. */
typedef struct rt__page_run {
    uintptr_t lo, hi;
} rt__page_run;
size_t rt__heap_free_runs(rt__page_run *runs, size_t max, size_t min_pages);
/* The same for the in-use large noscan objects (malloc.c; takes the
 * large-object lock). */
size_t rt__large_noscan_runs(rt__page_run *runs, size_t max, size_t min_pages);

/* The arena as the marker sees it: [lo, lo + used) with its page map.
 * Written under the heap lock; read by the marker with the world stopped. */
extern uintptr_t rt__arena_lo;
extern _Atomic size_t rt__arena_used;
extern rt__span **rt__pagemap;

typedef struct rt__heap_statistics {
    uintptr_t arena_base;
    size_t pages_used, pages_free, spans_inuse, spans_free;
    size_t pages_released;   /* free pages returned to the OS */
    size_t span_records;     /* span records allocated (mspan_sys) */
} rt__heap_statistics;
void rt__heap_stats(rt__heap_statistics *st);
/* The number of in-use spans (gctrace's spans to sweep). */
size_t rt__heap_spans_inuse(void);
/* Bytes of heap pages in use or free but not returned to the OS. */
size_t rt__heap_retained(void);
/* Verifies the invariants of heap.c's essay; throws on a violation. */
void rt__heap_check(void);
/* Returns to the OS the pages of free spans unused since before
 * older_than (ns, rt_nanotime; INT64_MAX: all).  Returns bytes released. */
size_t rt__heap_scavenge(int64_t older_than);
/* Releases free spans idle since before older_than until the heap holds
 * at most retain bytes (in use plus idle unreleased), at most max bytes. */
size_t rt__heap_scavenge_to(size_t retain, int64_t older_than, size_t max);

/* ----------------------------------------------------------- malloc.c --- */

/* A P's allocation cache: the span it carves each class from, per kind
 * (0 scan, 1 noscan), and its allocation counters.  Owned by the P: no
 * locks, no atomics (counters are relaxed stores that readers may see
 * late). */
typedef struct rt__mcache {
    struct rt__span *alloc[2][RT_GC_MAX_CLASSES];
    uint64_t nmalloc[RT_GC_MAX_CLASSES]; /* small objects allocated */
    uint64_t nlarge, large_bytes;        /* large objects allocated */
    /* Heap profiling (trace/memprof.c): bytes left until the next sampled
     * allocation; the fast path subtracts and compares once.  Owner only,
     * except rt_set_memprofile_rate's relaxed reset to 0.  sample_epoch
     * != 0 once the countdown was drawn (a fresh cache draws first). */
    int64_t next_sample;
    uint32_t sample_epoch;
} rt__mcache;

/* A zeroed object of n bytes (noscan: it will never be scanned).  Throws
 * "out of memory" when the arena is exhausted; may run a collection. */
void *rt__gc_alloc(size_t n, bool noscan);
void *rt__gc_alloc_typed(size_t n, const char *type, bool array);
/* A channel (rt_chan_make): allocfreetrace prints it as "channel". */
void *rt__gc_alloc_chan(size_t n);
/* The type name of allocated slot i of s (rt_new's T), or NULL. */
const char *rt__gc_slot_type(const rt__span *s, uint32_t i);
/* Hands a cache's spans back to the central lists (world stopped, or a P
 * going away). */
void rt__mcache_flush(rt__mcache *mc);
/* World stopped, shared cache locked: flushes every P's cache and the
 * shared one. */
void rt__mcache_flush_all(void);
/* Sums every cache's allocation counters into nmalloc/nlarge/large_bytes
 * (memstats; P records are never freed, so gone Ps still count). */
void rt__mcache_counters(uint64_t nmalloc[RT_GC_MAX_CLASSES], uint64_t *nlarge,
                         uint64_t *large_bytes);
/* The cache of threads without a P; the collector holds its lock while
 * the world is stopped (taken after the stop, released before the
 * restart). */
void rt__shared_cache_lock(void);
void rt__shared_cache_unlock(void);
/* The start (and size) of the allocated object holding addr, or NULL. */
void *rt__gc_object_start(uintptr_t addr, size_t *size);
/* Slot allocated?  (The invariant above; the span is in use.) */
static inline bool rt__span_slot_allocated(const rt__span *s, uint32_t i)
{
    return i < __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED) ||
           (s->allocbits[i / 64] >> (i % 64) & 1);
}
/* The marks of slots [lo, lo + 64) (lo a multiple of 64) as a bitmap:
 * eight mark bytes (each 0 or 1) at a time, gathered by a multiply that
 * moves byte j's low bit to bit 56 + j with no carries between terms. */
static inline uint64_t rt__gc_marks64(const rt__span *s, uint32_t lo)
{
    if (s->bitmarks)
        return __atomic_load_n(&((const uint64_t *)(const void *)s->markbytes)[lo / 64],
                               __ATOMIC_RELAXED);
    uint32_t n = s->nelems - lo < 64 ? s->nelems - lo : 64;
    uint64_t bits = 0;
    uint32_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t x;
        __builtin_memcpy(&x, &s->markbytes[lo + k], 8);
        bits |= ((x * 0x0102040810204080ULL) >> 56) << k;
    }
    for (; k < n; k++)
        bits |= (uint64_t)(s->markbytes[lo + k] != 0) << k;
    return bits;
}

/* Is slot i marked? */
static inline bool rt__gc_slot_marked(const rt__span *s, uint32_t i)
{
    if (s->bitmarks)
        return __atomic_load_n(&((const uint64_t *)(const void *)s->markbytes)[i / 64],
                               __ATOMIC_RELAXED) >> (i % 64) & 1;
    return __atomic_load_n(&s->markbytes[i], __ATOMIC_RELAXED) != 0;
}

/* The slot index of an offset into the span (< nelems not checked). */
static inline uint32_t rt__span_index(const rt__span *s, uintptr_t off)
{
    return (uint32_t)(((uint64_t)off * s->divmul) >> 32);
}
/* Sets up the bitmaps and allocation state of a span of class cls (0:
 * large) that the heap just handed out. */
void rt__span_init_objects(rt__span *s, int cls, bool noscan, size_t limit);
/* Frees a span's bitmaps and type table (before rt__heap_free_span). */
void rt__span_release_objects(rt__span *s);

/* The scheduler's header (rt__lock, rt_p); it includes this one after
 * defining rt__lock, so either order of inclusion works. */
#include "../sched/sched.h"

/* Central lists, per kind and class, in two sets by sweepgen parity. */
typedef struct rt__central {
    rt__lock lock;
    rt__span *partial[2]; /* spans with free slots */
    rt__span *full[2];    /* spans without */
} rt__central;
extern rt__central rt__centrals[2][RT_GC_MAX_CLASSES];
/* Large spans, same two sets. */
extern rt__lock rt__large_lock;
extern rt__span *rt__large[2];

/* -------------------------------------------------------- collector.c --- */

/* The heap sweep generation (advanced by 2 per cycle, world stopped). */
extern _Atomic uint32_t rt__sweepgen;
static inline int rt__swept_set(void)
{
    return (int)((atomic_load_explicit(&rt__sweepgen, memory_order_relaxed) >> 1) & 1);
}

/* Statistics shared by the gc/ files (atomics; relaxed). */
typedef struct rt__gcstats {
    _Atomic uint64_t heap_live;     /* pacing: bytes marked + handed to caches since */
    _Atomic uint64_t next_gc;       /* the heap goal (memstats next_gc) */
    _Atomic uint64_t trigger;       /* heap_live that starts a cycle: the goal
                                     * itself when marking stops the world,
                                     * earlier when it runs concurrently */
    _Atomic uint64_t heap_marked;   /* bytes marked by the last cycle */
    _Atomic uint64_t nfree[RT_GC_MAX_CLASSES]; /* objects freed per class */
    _Atomic uint64_t nfree_large, free_large_bytes;
    _Atomic uint64_t gcbits_bytes;  /* bitmaps, type tables (gc_sys) */
    _Atomic uint64_t bg_swept;      /* spans swept by the background sweeper */
} rt__gcstats;
extern rt__gcstats rt__gcstat;

/* One system goroutine's sleep until woken (the background sweeper, the
 * finalizer goroutine): a wake before the wait is not lost. */
typedef struct rt__gc_waiter {
    rt__lock lock;
    rt_g *g;      /* parked here */
    bool pending; /* woken while not parked */
} rt__gc_waiter;
void rt__gc_wait(rt__gc_waiter *w, const char *reason);
void rt__gc_wake(rt__gc_waiter *w);

/* Called by allocation slow paths (outside no-stop regions): starts a
 * collection when heap_live has reached the trigger, and makes the caller
 * wait for the running one when the heap outgrew its goal by 10 %. */
void rt__gc_maybe_trigger(void);
/* rt_main, once the settings are read: GOGC takes effect, and the first
 * goal is GOGC's share of the 4 MiB minimum. */
void rt__gc_init(void);
extern _Atomic int rt__gc_percent; /* -1: off */
/* Sysmon's tick: the periodic scavenger. */
void rt__gc_sysmon(int64_t now);
/* When rt__gc_sysmon has work next (a sysmon in its deep sleep wakes by
 * then): the next periodic pass, or the next retained-bound pass while
 * the heap holds more than the bound. */
int64_t rt__gc_sysmon_due(int64_t now);
/* Its periods (ns): a pass every period, a forced cycle when none ended
 * for forcegc, spans unused for limit released.  Go 1.3's 60 s, 2 min and
 * 5 min; tests shorten them before rt_main. */
typedef struct rt__scvg_periods_t {
    int64_t period, forcegc, limit;
} rt__scvg_periods_t;
extern rt__scvg_periods_t rt__scvg_periods;
/* Holds off collections (the cycle semaphore; on a goroutine): between
 * lock and unlock no cycle runs, so spans swept meanwhile stay swept and
 * the caller may stop the world itself (rt_write_heap_dump). */
void rt__gc_cycle_lock(void);
void rt__gc_cycle_unlock(void);
/* A scavenger pass k that forces a cycle first (run by the background
 * sweeper goroutine, woken by rt__bgsweep_force). */
void rt__gc_forced(int k);

/* ------------------------------------------------------------ sweep.c --- */

/* Sweeps s (taken off its unswept list by the caller, inside a no-stop
 * region).  Returns false if the span was freed to the page heap;
 * otherwise the caller files it as swept (partial or full). */
bool rt__sweep_span(rt__span *s);
/* Sweeps unswept spans of (kind, cls) until one has a free slot; returns
 * it (off every list, swept) or NULL -- also when a swept span went back
 * to the page heap or after 100 spans (the caller then takes fresh
 * pages). */
rt__span *rt__sweep_for_class(int kind, int cls);
/* Sweeps one unswept span of any list; false when none is left. */
bool rt__sweep_one(void);
/* No unswept span is left (world stopped: an exact answer). */
bool rt__sweep_done(void);
/* Returns once s is swept for the current cycle (sweeping it, and others
 * of its list, if need be; waiting if another thread is sweeping it). */
void rt__span_ensure_swept(rt__span *s);
/* Sweeps everything left (phase 0). */
void rt__sweep_finish(void);
/* Waits until every span another thread took to sweep is swept (and its
 * frees counted). */
void rt__sweep_wait_inflight(void);
/* Starts the background sweeper goroutine (once). */
void rt__bgsweep_start(void);
void rt__bgsweep_wake(void);
/* Asks the background sweeper to run rt__gc_forced(k) (sysmon); false if
 * it has not started. */
bool rt__bgsweep_force(int k);

/* Set, world stopped, while a concurrent mark phase runs: spans a cache
 * takes then have their free slots marked first (allocation is black);
 * cleared in the final pause. */
extern _Atomic int rt__gc_marking;
/* Cycles that marked concurrently, and cycles that could have but marked
 * with the world stopped because the heap was small enough (tests). */
extern _Atomic uint32_t rt__gc_nconcurrent;
extern _Atomic uint32_t rt__gc_nsmallstw;
/* The stopped mark's measured speed, bytes per microsecond (collector.c;
 * a test sets it to make the small-heap choice independent of the
 * machine's load). */
extern _Atomic uint64_t rt__gc_stw_rate;
/* Mark assists that marked something, and the bytes they marked (tests,
 * collector.c's pacing). */
extern _Atomic uint32_t rt__gc_nassist;
extern _Atomic uint64_t rt__gc_assist_bytes;
/* The last mark phase ran concurrently (the sweeper may find marked free
 * slots); written world stopped. */
extern bool rt__gc_premarked;
/* Marks the free slots of s (a span a cache is taking, or a fresh one)
 * while rt__gc_marking is set. */
void rt__span_premark(rt__span *s);

/* ------------------------------------------------------------ dirty.c --- */

/* Registers [lo, lo + len) for write tracking (userfaultfd, else the
 * mprotect fallback, as DEBUG=gcwritetrack allows); false (and from then
 * on rt__dirty_ok() false) where neither works. */
bool rt__dirty_init(uintptr_t lo, size_t len);
bool rt__dirty_ok(void);
/* rt__dirty_mode, rt__dirty_touch, rt__dirty_fault: runtime.h */
/* Calls fn for every run of pages in [lo, hi) written since they were
 * last protected (4 KiB granularity); with reprotect, protects them again
 * in the same walk.  Returns the number of 4 KiB pages reported. */
size_t rt__dirty_scan(uintptr_t lo, uintptr_t hi, bool reprotect,
                      void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx);
/* Lifts the protection of [lo, hi) (page aligned). */
void rt__dirty_unprotect(uintptr_t lo, uintptr_t hi);

/* ------------------------------------------------------------- mark.c --- */

typedef struct rt__markstats {
    int nproc;             /* threads that marked */
    uint64_t marked_bytes, marked_objects;
    uint64_t nhandoff, nhandoffcnt; /* splits given to idle workers (entries) */
    uint64_t nsteal, nstealcnt;     /* root chunks stolen (chunks) */
    uint64_t nprocyield, nosyield, nsleep; /* back-offs */
    uint64_t assist_bytes; /* of marked_bytes, marked by assists */
    uint64_t root_bytes;   /* the largest root set a run of the cycle read:
                            * what a stop-the-world mark reads besides the heap */
    uint64_t scan_root_bytes; /* of that largest set, goroutine stacks,
                               * runtime records and registered ranges (not
                               * data segments nor finalizable objects'
                               * contents): the pacer's share of the roots */
} rt__markstats;
/* Before the world stops: reads the writable segments of the program and
 * its libraries (dl_iterate_phdr takes the loader's lock, which a stopped
 * thread could hold). */
void rt__mark_prepare(void);
/* Calls fn(lo, fileend, hi, ctx) for every writable PT_LOAD segment of the
 * program and its libraries: [lo, fileend) is data, [fileend, hi) bss.
 * Takes the loader's lock: not with the world stopped. */
void rt__writable_segments(void (*fn)(uintptr_t lo, uintptr_t fileend, uintptr_t hi, void *ctx),
                           void *ctx);
/* World stopped: marks everything reachable from the roots. */
void rt__mark(rt__markstats *st);
/* Marking in steps, for the concurrent cycle (collector.c): begin zeroes
 * st and takes the arena's bounds; the add functions queue roots (sched:
 * world stopped; stable_only leaves out what may be freed while the world
 * runs and the goroutines, listed after the restart instead by
 * rt__mark_add_goroutine_roots, see rt__gc_sched_roots_stable); run marks from the queued roots
 * and written-page chunks until no work is left, with up to nworkers threads, adding
 * to st, and empties the root queue.  Runs may overlap program execution:
 * the marker only reads spans that are published. */
void rt__mark_begin(rt__markstats *st);
void rt__mark_add_data_roots(void);
void rt__mark_add_sched_roots(bool stable_only);
/* With the world running, before the concurrent run: the goroutines'
 * records and stacks (rt__gc_goroutine_roots_running), which the stable
 * set leaves out. */
void rt__mark_add_goroutine_roots(void);
/* Registered roots and finalizer roots; final: the final pause of a
 * concurrent mark, whose start queued the finalizer roots (only entries
 * added since are read again). */
void rt__mark_add_other_roots(bool final);
/* World going, at a concurrent mark's start (before its first run): the
 * finalizer roots; then in each re-cleaning round, the entries added since
 * (start false). */
void rt__mark_add_finalizer_roots(bool start);
/* The pages of s count as live this cycle (their writes are rescanned). */
void rt__mark_keep_live(rt__span *s);
/* Queues a written-page scan of [lo, hi) that the mark workers run in
 * parallel at the start of the next rt__mark_run (the pages protected
 * again in the same walk when rt__mark_set_reprotect(true)). */
void rt__mark_add_dirty_chunk(uintptr_t lo, uintptr_t hi);
void rt__mark_set_reprotect(bool on);
/* Written pages those scans found since the last call (4 KiB pages). */
size_t rt__mark_dirty_pages(void);
/* Live pages: clears the bitmap of pages holding marked objects and turns
 * its upkeep on or off for this cycle; sets a span's pages (spans born
 * black, and the marker on a span's first mark); queues written-page scans
 * of the runs of live pages in [lo, hi). */
void rt__mark_live_reset(bool on);
void rt__mark_live_span(rt__span *s);
void rt__mark_add_live_dirty_chunks(uintptr_t lo, uintptr_t hi);
/* Calls fn for each run of pages in [lo, hi) without a marked object. */
void rt__mark_foreach_dead_run(uintptr_t lo, uintptr_t hi,
                               void (*fn)(uintptr_t lo, uintptr_t hi));
void rt__mark_run(rt__markstats *st, int nworkers);
/* The next rt__mark_run stops once it has marked about `objects` objects
 * not marked before (rescans of marked ones do not count; a large object
 * counts once: what costs is finding objects, not their bytes),
 * leaving the rest on the global list for a later run (roots and
 * written-page scans not begun are dropped: the caller must queue them
 * again).  Cleared by the run. */
void rt__mark_set_budget(uint64_t objects);
/* Whether the last run stopped at its budget: its leftovers are on the
 * global list for the next run, and what it dropped must be queued again.
 * (A run that is not cut leaves nothing: it closes only with the list
 * empty and no assist inside.) */
bool rt__mark_left_over(void);
/* Wakes the mark threads to wait, spinning, for the next rt__mark_run
 * (for at most 2 ms): the final pause's run then starts with all of them
 * instead of waiting for their wake-up -- on a VM an idle vCPU took from
 * 20 us to past the end of the run (the pause then walked the page tables
 * on one thread, 2x as long).  Called with the world stopped, not before
 * the stop: a helper spinning there (sched_yield does not give the CPU
 * away for long) held the CPU that a thread to be stopped needed to take
 * its stop signal -- GCBench's final stops took 1-4 ms in most runs. */
void rt__mark_standby(void);
/* Mark assists (collector.c's pacing).  open: allow them during the
 * concurrent runs that follow (and restart the progress count); off
 * before the final pause.  rt__mark_assist marks up to about budget bytes
 * of the running phase's work on the calling thread, inside a no-stop
 * region of its M, and returns the bytes it marked (0 if there was no run
 * to join or no work to take), the bytes it read in *read.  rt__mark_progress: bytes marked since
 * the phase opened, by mark threads and assists; rt__mark_scan_progress:
 * bytes they read since the program began (never reset: take
 * differences). */
void rt__mark_assist_open(bool on);
uint64_t rt__mark_assist(uint64_t budget, uint64_t *read);
uint64_t rt__mark_progress(void);
uint64_t rt__mark_scan_progress(void);
/* The shadows of large objects (mark.c, shadow_rescan): detached from
 * their spans at mark termination (world stopped, before the sweep can
 * free a span), unmapped once the world runs again. */
void rt__mark_shadows_detach(void);
void rt__mark_shadows_free(void);
extern _Atomic uint64_t rt__mark_shadow_pages; /* pages rescanned that way (tests) */
/* The number of mark threads for a stopped world: min(8, MAXPROCS, CPUs). */
int rt__mark_workers(void);

/* ------------------------------------------------------- finalizer.c --- */

/* Mark termination (world stopped): ends the concurrent mark's list of
 * added entries. */
void rt__finalizers_after_mark(void);
/* Sweep of s's 64 slots from lo: dead (unmarked, allocated) slots; returns
 * those that had a finalizer -- now queued, their entries gone: the sweep
 * keeps them.  Any thread, in a no-stop region. */
uint64_t rt__finalizer_sweep(rt__span *s, uint32_t lo, uint64_t dead);
/* Wakes the finalizer goroutine if a sweep queued jobs (on a goroutine;
 * elsewhere, nothing). */
void rt__finalizer_wake(void);
/* Roots: contents of finalizable objects, queued objects.  World stopped
 * (a stopped mark).  The sweep finds the unreachable ones
 * (rt__finalizer_sweep below). */
void rt__finalizer_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c);
/* The same with the world going, at a concurrent mark's start: from here
 * to mark termination new entries are listed for ..._added (each
 * re-cleaning round and the final pause: the entries added since the
 * last call), and the pages of the objects read count as
 * live (rt__mark_keep_live) so that the written-page scans read them
 * again, asking rt__finalizer_scanned for unmarked objects. */
void rt__finalizer_roots_concurrent(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c);
void rt__finalizer_roots_added(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c);
/* Has obj a finalizer and is this a concurrent mark that read the table?
 * Any thread; takes the finalizer lock. */
bool rt__finalizer_scanned(uintptr_t obj);
/* Registered roots (rt_gc_add_root). */
void rt__registered_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *c), void *c);
/* World stopped: every registered finalizer (queued false), then every
 * queued one (queued true), for the heap dump. */
void rt__finalizers_foreach(void (*fn)(uintptr_t obj, void (*f)(void *), bool queued, void *c),
                            void *c);

#endif /* RT_GC_H */
