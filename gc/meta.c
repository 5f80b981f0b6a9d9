/*
 * gc/meta.c -- the collector's own memory for its per-span metadata: span
 * records, allocation and mark bitmaps, type-index tables.
 *
 * Why not malloc.  glibc grows a thread's malloc arena with mprotect, and
 * the main arena with brk; both take the address space's lock (mmap_lock)
 * for writing.  The concurrent collector holds that lock for reading
 * while the kernel protects or unprotects the heap's pages (dirty.c, in
 * pieces of about a millisecond), and a writer waiting on it makes every
 * later page fault of the program wait too.  An allocation that needed a
 * new span, and so a bitmap, could stall for the length of a protect
 * call: in workload 12, batches of 4-11 ms, and perf's sched_switch
 * stacks put the goroutine in glibc's mprotect, in rwsem_down_write.
 * Memory carved from a region reserved once takes no such lock (a first
 * touch is a page fault, which only reads it).  It is also the
 * collector's to account (gcbits_bytes, GCSys), as Go's gcBits arenas
 * are.
 *
 * How.  One region of META_BYTES of address space is reserved at first
 * use (MAP_NORESERVE: a page costs memory only once touched; less under
 * an address-space limit, rt__gc_reserve).  Blocks are
 * carved from it by a bump pointer, in size classes: multiples of 16
 * bytes up to 512, then powers of two up to 64 KiB.  A freed block goes
 * on its class's free list, linked through its first word, and is handed
 * out again (zeroed: callers get calloc's contract).  Memory is never
 * given back to the OS: metadata is a few percent of the heap it
 * describes, and the spans it served come back as the heap grows again.
 * A request above 64 KiB (none today: the biggest is a slab of span
 * records, 40 KiB) gets an mmap of its own.
 *
 * One rt__lock guards the lists and the bump pointer.  Callers are
 * allocation slow paths, the sweeper, the page heap, and every table the
 * runtime grows while it holds one of its own locks (the goroutine table,
 * timer heaps, poll descriptors, finalizers, registered roots, the
 * profilers' buckets): holding an rt__lock is a no-stop region, and a
 * no-stop region must not wait for malloc's lock, which a thread the stop
 * signal caught inside malloc may hold (gc.h).  Never with the world
 * stopped.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/gc.h"

#define META_BYTES ((uintptr_t)16 << 30) /* address space, not memory */
#define SMALL_MAX 512
#define NSMALL (SMALL_MAX / 16)   /* classes 0..31: 16, 32, ..., 512 */
#define LARGE_MAX ((size_t)64 << 10)
#define NCLASSES (NSMALL + 7)     /* then 1 KiB, 2 KiB, ..., 64 KiB */

typedef struct free_block {
    struct free_block *next;
} free_block;

static rt__lock meta_lock;
static uintptr_t region, bump, limit; /* [region, limit) reserved */
static free_block *free_lists[NCLASSES];

static int class_of(size_t n, size_t *size)
{
    if (n <= SMALL_MAX) {
        size_t k = (n + 15) / 16;
        if (k == 0)
            k = 1;
        *size = k * 16;
        return (int)k - 1;
    }
    size_t sz = 1024;
    int c = NSMALL;
    while (sz < n) {
        sz <<= 1;
        c++;
    }
    *size = sz;
    return c;
}

static void reserve(void)
{
    /* (an eighth of an address-space limit, as the arena takes half) */
    size_t got;
    void *p = rt__gc_reserve(META_BYTES, (size_t)16 << 20, 3, &got);
    if (p == NULL)
        rt__throw("out of memory reserving the collector's metadata region");
    region = bump = (uintptr_t)p;
    limit = region + got;
}

void *rt__meta_alloc(size_t n)
{
    if (n > LARGE_MAX) {
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            rt__throw("out of memory allocating collector metadata");
        return p;
    }
    size_t size;
    int c = class_of(n, &size);
    rt__lock_acquire(&meta_lock);
    free_block *b = free_lists[c];
    if (b != NULL) {
        free_lists[c] = b->next;
        rt__lock_release(&meta_lock);
        memset(b, 0, size); /* reused: calloc's contract */
        return b;
    }
    if (region == 0)
        reserve();
    /* Blocks of a power-of-two class stay aligned to their size, so one
     * never straddles more pages than it must. */
    uintptr_t align = size >= 1024 ? size : 16;
    uintptr_t p = (bump + align - 1) & ~(align - 1);
    if (p + size > limit) {
        rt__lock_release(&meta_lock);
        rt__throw("out of memory: the collector's metadata region is full");
    }
    bump = p + size;
    rt__lock_release(&meta_lock);
    return (void *)p; /* never touched: the kernel's zero pages */
}

void *rt__meta_realloc(void *old, size_t oldn, size_t newn)
{
    void *p = rt__meta_alloc(newn);
    if (old != NULL) {
        memcpy(p, old, oldn < newn ? oldn : newn);
        rt__meta_free(old, oldn);
    }
    return p;
}

void rt__meta_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    if (n > LARGE_MAX) {
        munmap(p, n);
        return;
    }
    size_t size;
    int c = class_of(n, &size);
    free_block *b = p;
    rt__lock_acquire(&meta_lock);
    b->next = free_lists[c];
    free_lists[c] = b;
    rt__lock_release(&meta_lock);
}
