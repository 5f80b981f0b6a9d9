/*
 * runtime/stack.c -- goroutine stacks.
 *
 * Goroutine stacks never move (C code keeps pointers into them), so each
 * goroutine gets a fixed slot of RT_STACK_SIZE (256 KiB) of address space,
 * and only the pages it touches cost memory.  Slots are carved from chunks:
 * one mmap of RT_CHUNK_SLOTS slots (1 GiB of address space, MAP_NORESERVE
 * so nothing is committed up front, MADV_NOHUGEPAGE so a touched stack costs
 * one 4 KiB page and not a 2 MiB huge page).
 *
 * The lowest RT_STACK_GUARD bytes (16 pages) of every slot are a guard.  It
 * is wider than one page so that a function with a large frame that skips
 * past one page still faults instead of writing into the goroutine record at
 * the top of the slot below.  On Linux >= 6.13
 * madvise(MADV_GUARD_INSTALL) turns it into a guard without creating a new
 * memory-map entry, so the number of goroutines is not capped by
 * vm.max_map_count (65,530 by default: with mprotect every guard page splits
 * the chunk's mapping, two entries per stack).  On older kernels we fall back
 * to mprotect(PROT_NONE) and say so in rt__stack_guard_is_madvise().
 *
 * Slots are never unmapped and never handed back here: the scheduler keeps
 * each goroutine record in the top page of its slot and recycles the two
 * together (free lists in proc.c), calling rt__stack_trim to give the pages
 * below the top one back when a freed slot has sat in the pool.
 *
 * Invariant: chunks are only appended; a slot's address never changes, so
 * rt__stack_guard_hit can run in a signal handler reading the chunk table
 * without a lock (entries are published with release stores).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/runtime.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define RT_CHUNK_SLOTS 4096
#define RT_MAX_CHUNKS  4096 /* 4 TiB of stacks, 16M goroutines */
#define CHUNK_BYTES    ((size_t)RT_CHUNK_SLOTS * RT_STACK_SIZE)

static _Atomic(uintptr_t) chunks[RT_MAX_CHUNKS]; /* base addresses */
static _Atomic uint32_t nchunks;                 /* published count */
static uint32_t next_slot = RT_CHUNK_SLOTS;      /* in the last chunk */
static pthread_mutex_t carve_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic size_t slots_out;
static _Atomic int guard_mode; /* 0 unknown, 1 madvise, 2 mprotect */

static int install_guard(uintptr_t page)
{
    const size_t len = RT_STACK_GUARD;
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode != 2) {
        if (madvise((void *)page, len, MADV_GUARD_INSTALL) == 0) {
            atomic_store_explicit(&guard_mode, 1, memory_order_relaxed);
            return 0;
        }
        if (errno != EINVAL)
            return -errno;
        atomic_store_explicit(&guard_mode, 2, memory_order_relaxed);
    }
    return mprotect((void *)page, len, PROT_NONE) == 0 ? 0 : -errno;
}

static bool new_chunk(void)
{
    uint32_t n = atomic_load_explicit(&nchunks, memory_order_relaxed);
    if (n == RT_MAX_CHUNKS)
        return false;
    void *p = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    (void)madvise(p, CHUNK_BYTES, MADV_NOHUGEPAGE);
    atomic_store_explicit(&chunks[n], (uintptr_t)p, memory_order_release);
    atomic_store_explicit(&nchunks, n + 1, memory_order_release);
    next_slot = 0;
    return true;
}

bool rt__stack_alloc(rt__stack *st)
{
    pthread_mutex_lock(&carve_lock);
    if (next_slot == RT_CHUNK_SLOTS && !new_chunk()) {
        pthread_mutex_unlock(&carve_lock);
        return false;
    }
    uint32_t n = atomic_load_explicit(&nchunks, memory_order_relaxed);
    uintptr_t base = atomic_load_explicit(&chunks[n - 1], memory_order_relaxed) +
                     (uintptr_t)next_slot * RT_STACK_SIZE;
    next_slot++;
    pthread_mutex_unlock(&carve_lock);

    if (install_guard(base) != 0)
        return false;
    st->lo = base + RT_STACK_GUARD;
    st->hi = base + RT_STACK_SIZE;
    atomic_fetch_add_explicit(&slots_out, 1, memory_order_relaxed);
    return true;
}

void rt__stack_trim(const rt__stack *st, size_t keep)
{
    size_t len = st->hi - st->lo;
    keep = (keep + RT_PAGE_SIZE - 1) & ~(RT_PAGE_SIZE - 1);
    if (keep >= len)
        return;
    (void)madvise((void *)st->lo, len - keep, MADV_DONTNEED);
}

bool rt__stack_guard_hit(uintptr_t addr, rt__stack *st)
{
    uint32_t n = atomic_load_explicit(&nchunks, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t base = atomic_load_explicit(&chunks[i], memory_order_acquire);
        if (addr < base || addr >= base + CHUNK_BYTES)
            continue;
        uintptr_t slot = base + (addr - base) / RT_STACK_SIZE * RT_STACK_SIZE;
        if (addr - slot >= RT_STACK_GUARD)
            return false; /* inside a stack, not its guard */
        st->lo = slot + RT_STACK_GUARD;
        st->hi = slot + RT_STACK_SIZE;
        return true;
    }
    return false;
}

size_t rt__stack_reserved(void)
{
    return (size_t)atomic_load_explicit(&nchunks, memory_order_relaxed) *
           CHUNK_BYTES;
}

size_t rt__stack_slots(void)
{
    return atomic_load_explicit(&slots_out, memory_order_relaxed);
}

bool rt__stack_guard_is_madvise(void)
{
    return atomic_load_explicit(&guard_mode, memory_order_relaxed) == 1;
}
