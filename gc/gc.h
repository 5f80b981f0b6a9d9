/*
 * gc/gc.h -- internal header of the gc/ folder: the garbage-collected heap.
 *
 * Status: this folder is being built (issue "The garbage-collected heap").
 * What exists today is the size-class table (sizeclass.c).  The plan below
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

#endif /* RT_GC_H */
