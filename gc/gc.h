/*
 * gc/gc.h -- internal header of the gc/ folder: the garbage-collected heap.
 *
 * Status: this folder is being built (issue "The garbage-collected heap").
 * What exists today is the size-class table (sizeclass.c), the page heap
 * (heap.c: the arena, spans, the page-to-span map) and allocation over it
 * (malloc.c: per-P caches, central lists, large objects) -- without any
 * reclaiming yet.  The plan below
 * is the design the rest will follow; each file will open with its own
 * essay as it lands.
 *
 * The allocation path (planned)
 *   rt_alloc(n) rounds n up to a size class (this file's table) and pops an
 *   object from the running P's cache: one free list per class and per
 *   kind (scan / noscan), no atomics, a handful of instructions.  An empty
 *   list refills from the class's central list (a lock per class), which
 *   takes spans from the page heap.  Objects larger than 32 KiB get spans
 *   of their own straight from the page heap.  All spans live in one large
 *   reservation of address space, committed as the heap grows, so "is this
 *   word a heap pointer" is a range check plus a page-table lookup (the
 *   conservative scanner asks it for every word of every stack).
 *
 * Why size classes (and these): a free list per class makes allocation a
 * list pop and makes every object's start computable from any interior
 * address (span base + index * size), which the conservative marker needs
 * for interior pointers.  The classes are Go's construction: sizes grow by
 * steps of 8, 16, then 1/8 of the size, and each class gets the smallest
 * span (in 8 KiB pages) whose tail waste is at most 1/8 of the span;
 * adjacent sizes that would give spans with the same page count and object
 * count are merged into the larger one.  That gives 66 classes (Go's
 * count), tail waste of at most 12.5 % of every span, and internal
 * fragmentation of at most 18.7 % for requests above 128 bytes (a 3,329-byte
 * request in the 4,096-byte class is the worst) -- the price of few classes
 * and hence few partly used spans.
 */
#ifndef RT_GC_H
#define RT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define RT_GC_PAGE_SHIFT 13
#define RT_GC_PAGE_SIZE  ((size_t)1 << RT_GC_PAGE_SHIFT) /* 8 KiB */
#define RT_GC_MAX_SMALL  ((size_t)32 * 1024)  /* larger: a span of its own */
#define RT_GC_MAX_CLASSES 80

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
/* The smallest class whose objects hold n bytes (1 <= n <= 32 KiB). */
int rt__sizeclass_of(size_t n);

/* ------------------------------------------------------------ heap.c ---- */

#define RT_GC_ARENA_BYTES ((size_t)64 << 30) /* 64 GiB of address space */
#define RT_GC_FREE_LISTS 128 /* exact free lists for spans of 1..127 pages */

enum { RT_SPAN_DEAD = 0, RT_SPAN_FREE = 1, RT_SPAN_INUSE = 2 };

/* A run of pages in the arena.  Fields are under the heap lock while the
 * span is free; an in-use span belongs to whoever allocated it. */
typedef struct rt__span {
    uintptr_t base;          /* first byte (page aligned) */
    size_t npages;
    struct rt__span *next, *prev; /* free list, or the owner's lists */
    uint8_t state;           /* RT_SPAN_* */
    uint8_t sizeclass;       /* 0: one large object */
    bool noscan;             /* objects hold no pointers (rt_alloc_noscan) */
    bool needzero;           /* pages may hold old data (were used before) */
    uint32_t elemsize;       /* object size (a large span: its whole size) */
    uint32_t nelems;         /* object slots in the span */
    uint32_t freeindex;      /* slots [0, freeindex) have been handed out */
} rt__span;

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

/* Reserves the arena (idempotent; the first allocation calls it). */
void rt__heap_init(void);
/* A span of npages contiguous pages, state in use, or NULL when the arena
 * is exhausted.  Fresh pages are zero; needzero says when they may not be. */
rt__span *rt__heap_alloc_span(size_t npages);
/* Gives an in-use span back; it is coalesced with free neighbours. */
void rt__heap_free_span(rt__span *s);
/* The in-use span containing addr (interior addresses too), or NULL. */
rt__span *rt__heap_span_of(uintptr_t addr);

typedef struct rt__heap_statistics {
    uintptr_t arena_base;
    size_t pages_used, pages_free, spans_inuse, spans_free;
} rt__heap_statistics;
void rt__heap_stats(rt__heap_statistics *st);
/* Verifies the invariants of heap.c's essay; throws on a violation. */
void rt__heap_check(void);

/* ----------------------------------------------------------- malloc.c --- */

/* A P's allocation cache: the span it carves each class from, per kind
 * (0 scan, 1 noscan).  Owned by the P; no locks, no atomics. */
typedef struct rt__mcache {
    struct rt__span *alloc[2][RT_GC_MAX_CLASSES];
} rt__mcache;

/* A zeroed object of n bytes (noscan: it will never be scanned).  Throws
 * "out of memory" when the arena is exhausted.  Not yet reclaimed: the
 * collector comes next, and rt.h does not expose this until it does. */
void *rt__gc_alloc(size_t n, bool noscan);
/* Hands a cache's spans back to the central lists (a P going away). */
void rt__mcache_flush(rt__mcache *mc);
/* The start (and size) of the object holding addr, or NULL if addr is not
 * inside an object handed out by rt__gc_alloc. */
void *rt__gc_object_start(uintptr_t addr, size_t *size);

#endif /* RT_GC_H */
