/*
 * runtime/stack.c -- goroutine stacks.
 *
 * Goroutine stacks never move (C code keeps pointers into them), so each
 * goroutine gets a fixed slot of RT_STACK_SLOT (320 KiB: a guard and 256
 * KiB of stack) of address space, and only the pages it touches cost
 * memory.  Slots are carved from chunks: one mmap of RT_CHUNK_SLOTS slots
 * (1.25 GiB of address space, MAP_NORESERVE
 * so nothing is committed up front, MADV_NOHUGEPAGE so a touched stack costs
 * one 4 KiB page and not a 2 MiB huge page); under an address-space limit
 * (RLIMIT_AS) that refuses 1.25 GiB, smaller chunks.
 *
 * The lowest RT_STACK_GUARD bytes (16 pages) of every slot are a guard,
 * below the whole RT_STACK_SIZE that the overflow message names (it was
 * carved out of those 256 KiB once: 192 KiB usable under a message that
 * said 262144 -- an outside tester's find).  It
 * is wider than one page so that a function with a large frame that skips
 * past one page still faults instead of writing into the top of the slot
 * below; frames larger than the guard are probed page by page where the
 * program is built with -fstack-clash-protection (grt.pc and grt::grt
 * pass it).  On Linux >= 6.13
 * madvise(MADV_GUARD_INSTALL) turns it into a guard without creating a new
 * memory-map entry, so the number of goroutines is not capped by
 * vm.max_map_count (65,530 by default: with mprotect every guard page splits
 * the chunk's mapping, two entries per stack).  On older kernels we fall back
 * to mprotect(PROT_NONE) and say so in rt__stack_guard_is_madvise().
 *
 * Slots are never unmapped.  A goroutine takes a stack when it first runs
 * and returns it when it exits (sched/proc.c), through a per-P LIFO cache
 * and a global pool (below): a goroutine that has been spawned but not yet
 * run holds no stack at all, and a stream of short goroutines keeps reusing
 * the few stacks that are hot in the cache instead of touching a new page
 * each.  sysmon gives back the pages of stacks that sat in the pool
 * (rt__stack_pool_trim: all pages of the coldest beyond the 1024 most
 * recent; rt__stack_pool_shed: those below the top two of the 1024 once
 * idle a second), and rt_free_os_memory those of every pooled one.
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

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define RT_ASAN 1
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define RT_CHUNK_SLOTS 4096
#define RT_MAX_CHUNKS  4096 /* 4 TiB of stacks, 16M goroutines */

static _Atomic(uintptr_t) chunks[RT_MAX_CHUNKS]; /* base addresses */
/* Slots of each chunk: RT_CHUNK_SLOTS, or fewer when the address space is
 * limited (RLIMIT_AS: a 1 GiB reservation fails under `ulimit -v 1000000`,
 * so smaller chunks are tried, down to 16 slots). */
static _Atomic uint32_t chunk_slots[RT_MAX_CHUNKS];
static _Atomic uint32_t nchunks;                 /* published count */
static uint32_t next_slot, last_slots;           /* in the last chunk */
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
    uint32_t slots = RT_CHUNK_SLOTS;
    void *p;
    for (;;) {
        p = mmap(NULL, (size_t)slots * RT_STACK_SLOT, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
            break;
        if (errno != ENOMEM || slots <= 16)
            return false;
        slots /= 2;
    }
    (void)madvise(p, (size_t)slots * RT_STACK_SLOT, MADV_NOHUGEPAGE);
    atomic_store_explicit(&chunk_slots[n], slots, memory_order_relaxed);
    atomic_store_explicit(&chunks[n], (uintptr_t)p, memory_order_release);
    atomic_store_explicit(&nchunks, n + 1, memory_order_release);
    next_slot = 0;
    last_slots = slots;
    return true;
}

bool rt__stack_alloc(rt__stack *st)
{
    pthread_mutex_lock(&carve_lock);
    if (next_slot == last_slots && !new_chunk()) {
        pthread_mutex_unlock(&carve_lock);
        return false;
    }
    uint32_t n = atomic_load_explicit(&nchunks, memory_order_relaxed);
    uintptr_t base = atomic_load_explicit(&chunks[n - 1], memory_order_relaxed) +
                     (uintptr_t)next_slot * RT_STACK_SLOT;
    next_slot++;
    pthread_mutex_unlock(&carve_lock);

    if (install_guard(base) != 0)
        return false;
    st->lo = base + RT_STACK_GUARD;
    st->hi = base + RT_STACK_SLOT;
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
        size_t bytes = (size_t)atomic_load_explicit(&chunk_slots[i], memory_order_relaxed) *
                       RT_STACK_SLOT;
        if (addr < base || addr >= base + bytes)
            continue;
        uintptr_t slot = base + (addr - base) / RT_STACK_SLOT * RT_STACK_SLOT;
        if (addr - slot >= RT_STACK_GUARD)
            return false; /* inside a stack, not its guard */
        st->lo = slot + RT_STACK_GUARD;
        st->hi = slot + RT_STACK_SLOT;
        return true;
    }
    return false;
}

size_t rt__stack_reserved(void)
{
    uint32_t n = atomic_load_explicit(&nchunks, memory_order_acquire);
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += (size_t)atomic_load_explicit(&chunk_slots[i], memory_order_relaxed) *
                 RT_STACK_SLOT;
    return bytes;
}

size_t rt__stack_slots(void)
{
    return atomic_load_explicit(&slots_out, memory_order_relaxed);
}

bool rt__stack_guard_is_madvise(void)
{
    return atomic_load_explicit(&guard_mode, memory_order_relaxed) == 1;
}

/* ------------------------------------------------------------- pools --- */

/*
 * A free stack's header, in its top bytes: the links of the hot deque
 * below and the ASan clean-up bound.  An untrimmed pooled stack keeps its
 * pages, so the header stays readable; a trimmed one has given them all
 * back, reads as zeroes (low 0: rt__stack_pool_trim cleaned its shadow),
 * and is listed in trimmed[] instead.
 */
typedef struct free_hdr {
    uintptr_t next; /* hi of the next (colder) free stack, 0 at the end */
    uintptr_t prev; /* hi of the previous (hotter) one, 0 at the head */
    uintptr_t low;  /* ASan: lowest possibly poisoned address, or 0 */
    uintptr_t shed; /* rt__stack_pool_shed's passes that found it pooled
                     * (SHED_DONE: its deep pages are given back) */
} free_hdr;

static inline free_hdr *hdr_of(uintptr_t hi)
{
    return (free_hdr *)(hi - sizeof(free_hdr));
}

/*
 * The global pool: a deque of untrimmed stacks, hottest at the head (taken
 * first, pushed to first) and coldest at the tail (trimmed first, in O(1)
 * per stack: sysmon never walks the list under the lock), plus a LIFO of
 * trimmed stacks used only when the deque is empty.  A trimmed stack has
 * given every page back, its top one included, so the LIFO is an array of
 * their tops outside the stacks (trimmed[], mmap'ed, grown by mremap):
 * keeping the top page for a header cost 4 KiB a stack for good -- 400 MB
 * after 100k goroutines had exited, an outside tester's find (Go frees
 * dead goroutines' stacks at its next collection).
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t pool_head, pool_tail;
static uintptr_t *trimmed;     /* [trimmed_cap], under pool_lock */
static size_t trimmed_cap;
static _Atomic size_t pool_nhot, pool_ntrimmed;

static void set_hdr(uintptr_t hi, uintptr_t low)
{
#ifdef RT_ASAN
    ASAN_UNPOISON_MEMORY_REGION(hdr_of(hi), sizeof(free_hdr));
#endif
    hdr_of(hi)->next = hdr_of(hi)->prev = 0;
    hdr_of(hi)->low = low;
    hdr_of(hi)->shed = 0;
}

static void make_stack(uintptr_t hi, rt__stack *st)
{
    st->hi = hi;
    st->lo = hi - RT_STACK_SIZE;
#ifdef RT_ASAN
    /* A recycled stack still carries the poison of its last user's
     * unreturned frames; fresh slots have clean shadow. */
    uintptr_t low = hdr_of(hi)->low;
    if (low != 0)
        ASAN_UNPOISON_MEMORY_REGION((void *)low, hi - low);
#endif
}

/* pool_lock held. */
static uintptr_t pool_pop_head(void)
{
    uintptr_t hi = pool_head;
    if (hi == 0)
        return 0;
    pool_head = hdr_of(hi)->next;
    if (pool_head != 0)
        hdr_of(pool_head)->prev = 0;
    else
        pool_tail = 0;
    atomic_fetch_sub_explicit(&pool_nhot, 1, memory_order_relaxed);
    return hi;
}

/* pool_lock held. */
static uintptr_t pool_pop_tail(void)
{
    uintptr_t hi = pool_tail;
    if (hi == 0)
        return 0;
    pool_tail = hdr_of(hi)->prev;
    if (pool_tail != 0)
        hdr_of(pool_tail)->next = 0;
    else
        pool_head = 0;
    atomic_fetch_sub_explicit(&pool_nhot, 1, memory_order_relaxed);
    return hi;
}

/* pool_lock held. */
static void pool_push_head(uintptr_t hi)
{
    hdr_of(hi)->prev = 0;
    hdr_of(hi)->next = pool_head;
    if (pool_head != 0)
        hdr_of(pool_head)->prev = hi;
    else
        pool_tail = hi;
    pool_head = hi;
    atomic_fetch_add_explicit(&pool_nhot, 1, memory_order_relaxed);
}

bool rt__stack_get(rt__stackcache *c, rt__stack *st)
{
    if (c->n > 0) {
        make_stack(c->hi[--c->n], st);
        return true;
    }
    if (atomic_load_explicit(&pool_nhot, memory_order_relaxed) +
            atomic_load_explicit(&pool_ntrimmed, memory_order_relaxed) >
        0) {
        /* Refill half the cache in one visit to the lock, hottest last so
         * that it is taken first. */
        uintptr_t got[RT_STACKCACHE_MAX / 2];
        uint32_t n = 0;
        pthread_mutex_lock(&pool_lock);
        while (n < RT_STACKCACHE_MAX / 2) {
            uintptr_t hi = pool_pop_head();
            if (hi == 0) {
                size_t nt = atomic_load_explicit(&pool_ntrimmed, memory_order_relaxed);
                if (nt == 0)
                    break;
                hi = trimmed[nt - 1];
                atomic_store_explicit(&pool_ntrimmed, nt - 1, memory_order_relaxed);
            }
            got[n++] = hi;
        }
        pthread_mutex_unlock(&pool_lock);
        while (n > 0)
            c->hi[c->n++] = got[--n];
        if (c->n > 0) {
            make_stack(c->hi[--c->n], st);
            return true;
        }
    }
    return rt__stack_alloc(st);
}

/* Pushes stacks (coldest first) onto the head of the deque. */
static void pool_push(const uintptr_t *his, uint32_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&pool_lock);
    for (uint32_t i = 0; i < n; i++)
        pool_push_head(his[i]);
    pthread_mutex_unlock(&pool_lock);
}

void rt__stack_put(rt__stackcache *c, const rt__stack *st, uintptr_t low)
{
    set_hdr(st->hi, low);
    if (c->n == RT_STACKCACHE_MAX) {
        /* Spill the older half; keep the hot end. */
        enum { HALF = RT_STACKCACHE_MAX / 2 };
        pool_push(c->hi, HALF);
        for (uint32_t i = 0; i < HALF; i++)
            c->hi[i] = c->hi[i + HALF];
        c->n = HALF;
    }
    c->hi[c->n++] = st->hi;
}

void rt__stack_cache_flush(rt__stackcache *c)
{
    pool_push(c->hi, c->n);
    c->n = 0;
}

/* pool_lock held: room for n more entries in trimmed[] (false if the
 * address space refuses: the stacks then stay untrimmed). */
static bool trimmed_reserve(size_t n)
{
    size_t need = atomic_load_explicit(&pool_ntrimmed, memory_order_relaxed) + n;
    if (need <= trimmed_cap)
        return true;
    size_t cap = trimmed_cap ? trimmed_cap : 4096;
    while (cap < need)
        cap *= 2;
    void *p = trimmed == NULL
                  ? mmap(NULL, cap * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : mremap(trimmed, trimmed_cap * sizeof(uintptr_t), cap * sizeof(uintptr_t),
                           MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return false;
    trimmed = p;
    trimmed_cap = cap;
    return true;
}

void rt__stack_pool_trim(int max, size_t keep)
{
    enum { BATCH = 64 };
    /* Coldest first, a batch at a time; the lock is never held across a
     * system call, so a goroutine spilling or refilling its P's cache
     * waits at most for a batch of list operations. */
    while (max > 0) {
        uintptr_t batch[BATCH];
        int n = 0;
        pthread_mutex_lock(&pool_lock);
        while (n < BATCH && n < max &&
               atomic_load_explicit(&pool_nhot, memory_order_relaxed) > keep)
            batch[n++] = pool_pop_tail();
        pthread_mutex_unlock(&pool_lock);
        if (n == 0)
            return;
        for (int i = 0; i < n; i++) {
#ifdef RT_ASAN
            /* the pages come back zero: their shadow must say so too */
            uintptr_t low = hdr_of(batch[i])->low;
            if (low != 0)
                ASAN_UNPOISON_MEMORY_REGION((void *)low, batch[i] - low);
#endif
            rt__stack st = {.lo = batch[i] - RT_STACK_SIZE,
                            .hi = batch[i]};
            rt__stack_trim(&st, 0);
        }
        pthread_mutex_lock(&pool_lock);
        /* (reserved here, under the lock: another trimmer -- sysmon and
         * rt_free_os_memory's caller -- may have appended meanwhile) */
        bool listed = trimmed_reserve((size_t)n);
        if (listed) {
            size_t nt = atomic_load_explicit(&pool_ntrimmed, memory_order_relaxed);
            for (int i = 0; i < n; i++)
                trimmed[nt + (size_t)i] = batch[i];
            atomic_store_explicit(&pool_ntrimmed, nt + (size_t)n, memory_order_relaxed);
        } else {
            for (int i = 0; i < n; i++) { /* no room to list them: back as hot */
                set_hdr(batch[i], 0);
                pool_push_head(batch[i]);
            }
        }
        pthread_mutex_unlock(&pool_lock);
        if (!listed)
            return;
        max -= n;
    }
}

/* pool_lock held. */
static void pool_unlink(uintptr_t hi)
{
    free_hdr *h = hdr_of(hi);
    if (h->prev != 0)
        hdr_of(h->prev)->next = h->next;
    else
        pool_head = h->next;
    if (h->next != 0)
        hdr_of(h->next)->prev = h->prev;
    else
        pool_tail = h->prev;
    atomic_fetch_sub_explicit(&pool_nhot, 1, memory_order_relaxed);
}

/* pool_lock held. */
static void pool_push_tail(uintptr_t hi)
{
    hdr_of(hi)->next = 0;
    hdr_of(hi)->prev = pool_tail;
    if (pool_tail != 0)
        hdr_of(pool_tail)->next = hi;
    else
        pool_head = hi;
    pool_tail = hi;
    atomic_fetch_add_explicit(&pool_nhot, 1, memory_order_relaxed);
}

/*
 * The hot stacks the trim leaves (the 1024 most recently used) keep every
 * page their last goroutines touched: 2000 goroutines that went 100 KB
 * deep and exited left 116 MB resident for good (an outside tester's
 * find; Go frees a grown stack when its goroutine exits).  Once a second
 * sysmon walks up to `visit` of them from the cold end; one found pooled
 * on two passes in a row (idle a second or more) gives back its pages
 * below the top SHED_KEEP, which hold the header and the frames a
 * typical goroutine uses, so that reusing it costs no fault in the common
 * case.  Unlinked from the deque while its pages go (no goroutine can
 * take it meanwhile), then put back at the cold end; at most `max` (256)
 * a pass, like the trim, for the TLB shootdowns.
 */
#define SHED_KEEP ((uintptr_t)2 * RT_PAGE_SIZE)
#define SHED_DONE 2

void rt__stack_pool_shed(int visit, int max)
{
    enum { BATCH = 256 };
    uintptr_t batch[BATCH];
    if (max > BATCH)
        max = BATCH;
    int n = 0;
    pthread_mutex_lock(&pool_lock);
    uintptr_t hi = pool_tail;
    for (int i = 0; i < visit && hi != 0 && n < max; i++) {
        free_hdr *h = hdr_of(hi);
        uintptr_t hotter = h->prev;
        if (h->shed == 0) {
            h->shed = 1;
        } else if (h->shed == 1) {
            pool_unlink(hi);
            batch[n++] = hi;
        }
        hi = hotter;
    }
    pthread_mutex_unlock(&pool_lock);
    if (n == 0)
        return;
    for (int i = 0; i < n; i++) {
        rt__stack st = {.lo = batch[i] - RT_STACK_SIZE, .hi = batch[i]};
        rt__stack_trim(&st, SHED_KEEP);
        hdr_of(batch[i])->shed = SHED_DONE;
    }
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < n; i++)
        pool_push_tail(batch[i]);
    pthread_mutex_unlock(&pool_lock);
}

size_t rt__stack_resident(uintptr_t hi)
{
    unsigned char vec[RT_STACK_SIZE / RT_PAGE_SIZE];
    if (mincore((void *)(hi - RT_STACK_SIZE), RT_STACK_SIZE, vec) != 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < sizeof vec; i++)
        n += vec[i] & 1;
    return n * RT_PAGE_SIZE;
}

/* The hottest stacks are copied out under the lock and measured after it
 * (a mincore call each: 0.5 us, too long to hold the pool from rt_go).
 * The rest count a page each, not the mean of those measured: the pool is
 * in order of recency, which the stacks' depths can follow (1,000 deep
 * goroutines that exited before 50,000 shallow ones: scaled from the
 * hottest, stack_sys said 9.5 GB of a 380 MB process -- an outside
 * tester's find). */
#define POOL_MEASURED 4096
size_t rt__stack_pool_resident(void)
{
    static uintptr_t his[POOL_MEASURED]; /* under measure_lock */
    static pthread_mutex_t measure_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&measure_lock);
    int n = 0;
    pthread_mutex_lock(&pool_lock);
    size_t total = atomic_load_explicit(&pool_nhot, memory_order_relaxed);
    for (uintptr_t hi = pool_head; hi != 0 && n < POOL_MEASURED; hi = hdr_of(hi)->next)
        his[n++] = hi;
    pthread_mutex_unlock(&pool_lock);
    size_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += rt__stack_resident(his[i]);
    pthread_mutex_unlock(&measure_lock);
    return sum + (total > (size_t)n ? total - (size_t)n : 0) * RT_PAGE_SIZE;
}

size_t rt__stack_pool_hot(void)
{
    return atomic_load_explicit(&pool_nhot, memory_order_relaxed);
}

size_t rt__stack_pool_trimmed(void)
{
    return atomic_load_explicit(&pool_ntrimmed, memory_order_relaxed);
}

