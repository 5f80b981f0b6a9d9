/*
 * gc/mark.c -- finding every reachable object: roots, conservative
 * scanning, and parallel mark workers.
 *
 * Conservative marking.  Every aligned word of every root range and of
 * every reached scan object is a candidate pointer.  mark_word() keeps it
 * when it lies inside the arena's used part (one subtract and one compare),
 * its page belongs to an in-use span (one load from the page map), the
 * slot it falls in is inside the span and allocated (gc.h's invariant), and
 * then sets the slot's mark byte with a plain store after a plain load
 * (one byte per slot, so parallel markers never need a locked instruction;
 * two that race both scan the object, which is harmless).  The object's start comes from the slot index, which
 * is how interior pointers keep objects alive; a word pointing one past the
 * end of an object falls in the next slot or the span's tail and does not
 * keep it.  A newly marked scan object is queued; noscan objects are only
 * marked.  Large scan objects are queued in chunks of 128 KiB so that one
 * huge array is marked by all workers.  A range of 256 bytes or more is
 * scanned as a pipeline that prefetches each candidate's span record and
 * then its mark ahead of the test (scan_range).
 *
 * Roots (collected by the initiator before the workers start, each split in
 * chunks of 64 KiB): the scheduler's (sched/gcstop.c: goroutine stacks,
 * stopped threads' registers and stacks, the initiator's own, G/M/P records,
 * timer heaps), the writable segments of the executable and its shared
 * libraries (read with dl_iterate_phdr before the world stops, because a
 * stopped thread may hold the loader's lock), the ranges registered with
 * rt_gc_add_root, and finalizer.c's (the contents of objects with
 * finalizers, queued finalizer objects).
 *
 * Parallelism.  Up to min(8, MAXPROCS, CPUs) threads mark: the initiator
 * and helper threads (plain pthreads parked on a futex between cycles;
 * they are not Ms and run no goroutines).  Root chunks are dealt out as
 * index ranges, one per worker; a worker that runs out steals half of
 * another's range with one compare-and-swap (counted as steals).  Each
 * worker keeps its own mark stack (no synchronisation); it moves a packet
 * of entries to a global list when the stack grows long, and hands half of
 * its stack over when another worker is idle and the global list is empty
 * (counted as hand-offs).  An idle worker backs off by spinning, then
 * sched_yield, then sleeping 100 us (counted), and marking ends when every
 * worker that joined is idle with no root chunk and no packet left: the
 * first to see it closes the run (run_state), and the others leave when
 * they next look -- the initiator never waits for them.  Progress -- bytes
 * marked and bytes read -- is published every few dozen objects (and
 * every 8 pages of a shadow rescan) for the pacing (collector.c).
 *
 * Concurrent use (collector.c's mark_concurrent).  The same workers run
 * while the program runs: the marker writes only mark bytes, its own
 * queues and the live-page bitmap, and reads a span's fields only after
 * its `published` flag (acquire) -- a span set up meanwhile is either not
 * yet visible or complete, and none is freed during a mark phase.  Root
 * ranges must stay mapped until the run ends (rt__gc_sched_roots_stable).
 * Two additions serve the rescans: the live-page bitmap (a bit per arena
 * page holding a marked object, set on a span's first mark and for spans
 * born black), and written-page scans queued as chunks that the workers
 * take like root chunks: each asks the kernel (dirty.c) for the written
 * pages of its chunk of live pages and pushes the marked objects' parts on
 * them -- or, for a large scan object, compares them with a copy of the
 * words as last read and marks from the changed ones (shadow_rescan).
 * Only live pages are asked about: a written page with nothing
 * marked cannot hide a pointer the mark needs, and the final pause's
 * page-table walk then covers the live heap, not the whole arena (half of
 * it garbage before the sweep).  A run may be given a budget of newly
 * marked objects (rt__mark_set_budget: the final pause's): once it is
 * spent, the workers move what they hold to the global list and the run
 * closes with it there, for a run with the world going again.
 *
 * Mark assists (collector.c's pacing).  An allocating thread may join a
 * concurrent run for a bounded amount of marking (rt__mark_assist, in a
 * no-stop region of its M): it takes a slot of workers[] beyond the mark
 * threads', takes packets from the global list only (never roots, never
 * waits), drains them up to its budget and gives back what it has left
 * before leaving.  While assists are allowed the mark threads keep a
 * packet on the global list (they hand half their stack over whenever it
 * is empty), and marks in bitmaps are set with an atomic OR.  An assist
 * enters the run by counting itself in run_state, which the run cannot
 * close while it is inside; it pushes its leftovers before it leaves, so
 * a thread that sees it gone sees its packets too.  It also leaves as soon
 * as a stop of the world begins (its no-stop region holds the stop up).
 */
#include <link.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

#define MAX_WORKERS 8
#define MAX_ASSISTS 8 /* goroutines assisting at once; more just skip */
#define ROOT_CHUNK ((uintptr_t)64 << 10)
#define LARGE_CHUNK ((uintptr_t)128 << 10)
#define PACKET_N 254
#define LOCAL_MAX 4096 /* entries: beyond, a packet goes global */
/* ... unless GQ_SOFT_MAX packets wait there already: then the stack grows
 * instead.  Overflow gives the top (the newest: leaves just pushed), and a
 * worker that gave them away went on to its next big entry: scanning a
 * 70 MB array of pointers to 8.7M small objects, every chunk's 16K
 * leaves went global while the worker scanned the next chunk -- 25K
 * packets, 114 MB of mark queue (an outside tester's find: gc_sys 19 ->
 * 142 MB, RSS 93 -> 222 MB).  Kept local, they are marked before the next
 * chunk (depth first), which bounds the stack. */
#define GQ_SOFT_MAX 64
#define HANDOFF_OLDEST_MAX 512 /* entries: a hand-off memmoves at most 8 KiB */

typedef struct mrange {
    uintptr_t lo, hi;
} mrange;

/* A mark-stack entry: a range packed in one word, its start shifted left
 * by 16 and its length in words below (ranges are at most LARGE_CHUNK or
 * ROOT_CHUNK bytes, user addresses at most 48 bits).  One word, not a
 * two-word struct: a pop right after a push read the pair with one
 * 16-byte load from two 8-byte stores, which store forwarding cannot
 * serve -- the stall was the single largest cost of marking a tree. */
typedef uint64_t mentry;
#define ENTRY(lo, hi) (((uint64_t)(lo) << 16) | (uint64_t)(((hi) - (lo)) / sizeof(uintptr_t)))
#define ENTRY_LO(e) ((uintptr_t)((e) >> 16))
#define ENTRY_HI(e) (ENTRY_LO(e) + ((e) & 0xffff) * sizeof(uintptr_t))

typedef struct packet {
    struct packet *next;
    uint32_t n;
    mentry e[PACKET_N];
} packet;

typedef struct worker {
    mentry *stk;
    size_t n, cap;
    uint64_t marked_bytes, marked_objects;
    uint64_t scanned_bytes;   /* what drain read: its limit's unit */
    uint64_t nhandoff, nhandoffcnt, nsteal, nstealcnt;
    /* (atomic: an idle helper may still count a back-off after its run
     * closed, while the initiator sums them or the next run resets them) */
    _Atomic uint64_t nprocyield, nosyield, nsleep;
    uint64_t published;       /* marked_bytes already in mark_progress */
    uint64_t published_objs;  /* marked_objects already in mark_objs */
    uint64_t published_scan;  /* scanned_bytes already in scan_progress */
    _Atomic uint64_t rootpos; /* root chunk indices [lo << 32 | hi) */
    /* In this run (the initiator always): taking the root share of a
     * mark thread that never joined is no steal (gctrace counts steals
     * between threads that marked). */
    _Atomic int joined;
} __attribute__((aligned(64))) worker;

/* [0, MAX_WORKERS): mark threads; then one slot per assisting thread. */
static worker workers[MAX_WORKERS + MAX_ASSISTS];
static int nproc; /* mark threads of this run (__atomic: read by idle helpers) */

/* roots of the cycle */
static mrange *roots;
static size_t nroots, roots_cap;
static mrange *dataseg; /* writable segments, read before the stop */
static size_t ndataseg, dataseg_cap;

/* global packets */
static rt__lock gq_lock;
static packet *gq_full, *gq_empty;
static _Atomic int gq_nfull;

/* The run's state in one word, so that everything termination depends on
 * changes in one atomic step:
 *   bits  0-9   mark threads of the run that found no work (idle)
 *   bits 10-19  assists inside the run (active)
 *   bits 20-29  mark threads that joined the run
 *   bit  30     closed: the run is over
 *   bits 32-63  the run's generation, one more for every run
 * A worker that finds no work counts itself idle; it becomes active again
 * only by a compare-and-swap that finds its own run still open, and the
 * worker that sees every joined thread idle, no assist and nothing queued
 * closes the run with a compare-and-swap on the same word (anyone who
 * joined or woke up since changed it, so the swap fails).  After the close
 * no worker of the run can touch shared mark state again, so the
 * initiator returns at once, without waiting for idle helpers to notice:
 * on 2 CPUs a helper in its back-off is often descheduled for 1-2 ms, and
 * the initiator used to wait that long for it while the program wrote
 * pages the final pause then rescanned.  A helper that notices late sees
 * its run closed (or a later generation) and leaves. */
static _Atomic uint64_t run_state = (uint64_t)1 << 30;
#define RS_IDLE1 ((uint64_t)1)
#define RS_ASSIST1 ((uint64_t)1 << 10)
#define RS_JOIN1 ((uint64_t)1 << 20)
#define RS_CLOSED ((uint64_t)1 << 30)
#define RS_IDLE(s) ((unsigned)((s) & 0x3ff))
#define RS_ASSISTS(s) ((unsigned)(((s) >> 10) & 0x3ff))
#define RS_JOINED(s) ((unsigned)(((s) >> 20) & 0x3ff))
#define RS_GEN(s) ((uint32_t)((s) >> 32))

/* Mark assists (collector.c's pacing): rt__mark_assist lets an allocating
 * thread mark while a concurrent run goes on.  assist_open: the collector
 * allows them (set around the concurrent runs); assist_slots: a bit per
 * taken slot of workers[]; run_state counts those inside a run. */
static _Atomic int assist_open;
static _Atomic uint32_t assist_slots;
/* Bytes marked in the current phase so far, published by the mark threads
 * every few dozen objects and by assists as they go (the pacing's
 * progress). */
static _Atomic uint64_t mark_progress;
/* Objects marked, published with mark_progress (a run's budget). */
static _Atomic uint64_t mark_objs;
/* Bytes read by the marking (mark threads and assists) since the program
 * began, published with mark_progress: the pacing's progress where
 * marking finds little new (rescans of written pages). */
static _Atomic uint64_t scan_progress;

/* helper threads */
static pthread_t helper_threads[MAX_WORKERS];
static int nhelpers;              /* threads created */
static _Atomic uint32_t mark_epoch;
/* Set by rt__mark_standby: helpers woken by the epoch's move spin, ready,
 * for the run that follows (cleared when it starts). */
static _Atomic int standby;
#define STANDBY_NS (2 * RT_MILLISECOND)
static _Atomic int mark_nproc;    /* workers in this cycle */

/* A run's budget of newly marked objects (rt__mark_set_budget; 0: none),
 * the count it starts from, and whether a worker saw it spent: then
 * every worker moves what it holds to the global list and stops, and the
 * run closes with that work left for the next. */
static uint64_t run_budget, run_progress0;
static _Atomic int run_expired;
static bool run_cut; /* the last run stopped at its budget */

/* Pages holding a marked object this cycle, a bit per page over the
 * whole arena (1 MiB of address space, touched as the heap grows): the
 * final pause looks for written pages only there (collector.c).  Set when
 * a span's first object is marked, and for spans born black. */
static _Atomic uint64_t *livebits;
static bool livetrack; /* this cycle keeps livebits */

/* Written-page scans to run inside the mark (rt__mark_add_dirty_chunk):
 * each worker takes chunks, asks the kernel for the written pages there
 * and pushes the marked objects on them. */
static mrange *dchunks;
static size_t dchunks_cap;
static _Atomic size_t ndchunks; /* (atomic: read by idle helpers) */
static _Atomic size_t dchunk_next;
static bool dchunk_reprotect;
static _Atomic size_t dchunk_pages; /* written pages the scans found */
#define DCHUNK ((uintptr_t)32 << 20)

/* What every marker reads for every word or mark and nothing writes
 * during a run, on a cache line of its own (the workers' lines are
 * aligned too): the arena as of this cycle (the heap cannot grow while
 * the world is stopped: allocation is stopped with it), and whether
 * markers may set bits of one mark word at once (several mark threads,
 * or assists allowed: a lone thread sets bits with a plain store).  Left
 * to the linker's placement, the flag once shared a line with the first
 * worker's stack pointer and count, which that worker writes for every
 * object: binary-trees ran 15 % slower after an unrelated static moved
 * them together. */
static struct {
    uintptr_t lo, size;
    rt__span **map;
    bool shared;
} view __attribute__((aligned(64)));

static void grow_stk(mentry **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t nc = *cap ? *cap * 2 : 4096;
    while (nc < need)
        nc *= 2;
    *v = rt__gc_sysrealloc(*v, *cap * sizeof(mentry), nc * sizeof(mentry));
    *cap = nc;
}

static void grow_vec(mrange **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t nc = *cap ? *cap * 2 : 1024;
    while (nc < need)
        nc *= 2;
    /* Not realloc: the world may be stopped (gc.h, rt__gc_sysrealloc). */
    *v = rt__gc_sysrealloc(*v, *cap * sizeof(mrange), nc * sizeof(mrange));
    *cap = nc;
}

/* ---------------------------------------------------------------- roots -- */

/* Bytes of the queued roots that are goroutine stacks, runtime records
 * and registered ranges (add_root) -- not the libraries' data segments
 * nor the contents of finalizable objects, which are heap (add_root_
 * unpaced): the scan work the pacer adds to the live heap, as Go's adds
 * its stacks' (rt__markstats.scan_root_bytes, collector.c's goal_for). */
static uint64_t pace_bytes;

static void add_root_unpaced(uintptr_t lo, uintptr_t hi, void *ctx)
{
    (void)ctx;
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    while (lo < hi) {
        uintptr_t end = hi - lo > ROOT_CHUNK ? lo + ROOT_CHUNK : hi;
        grow_vec(&roots, &roots_cap, nroots + 1);
        roots[nroots++] = (mrange){lo, end};
        lo = end;
    }
}

static void add_root(uintptr_t lo, uintptr_t hi, void *ctx)
{
    if (lo < hi)
        pace_bytes += hi - lo;
    add_root_unpaced(lo, hi, ctx);
}

typedef struct segwalk {
    void (*fn)(uintptr_t lo, uintptr_t fileend, uintptr_t hi, void *ctx);
    void *ctx;
} segwalk;

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    segwalk *sw = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        sw->fn(lo, lo + ph->p_filesz, lo + ph->p_memsz, sw->ctx);
    }
    return 0;
}

void rt__writable_segments(void (*fn)(uintptr_t lo, uintptr_t fileend, uintptr_t hi, void *ctx),
                           void *ctx)
{
    segwalk sw = {fn, ctx};
    rt__dl_iterate_phdr(phdr_cb, &sw); /* not dl_iterate_phdr: trace.h */
}

static void add_dataseg(uintptr_t lo, uintptr_t fileend, uintptr_t hi, void *ctx)
{
    (void)fileend;
    (void)ctx;
    grow_vec(&dataseg, &dataseg_cap, ndataseg + 1);
    dataseg[ndataseg++] = (mrange){lo, hi};
}

static int ncpu_cached = 1; /* rt__ncpu() as of the cycle's start */

static int want_workers(void)
{
    int want = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_RELAXED);
    int ncpu = ncpu_cached;
    if (want > ncpu)
        want = ncpu;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    return want < 1 ? 1 : want;
}

static void start_helpers(int want);

void rt__mark_prepare(void)
{
    ncpu_cached = rt__ncpu(); /* a system call: not on every run */
    ndataseg = 0;
    rt__writable_segments(add_dataseg, NULL);
    /* pthread_create mallocs: helpers are made before the world stops. */
    start_helpers(want_workers() - 1);
}

/* ------------------------------------------------------------- marking -- */

static inline void push(worker *w, uintptr_t lo, uintptr_t hi)
{
    if (rt__unlikely(w->n == w->cap))
        grow_stk(&w->stk, &w->cap, w->n + 1);
    w->stk[w->n++] = ENTRY(lo, hi);
}

/* Concurrent cycles: s's pages are live this cycle (their writes are
 * rescanned), set once per span.  Never a noscan span's: its objects hold
 * no pointers, so its writes need no rescan, and pages that are not live
 * are neither asked about nor protected again by the rounds, and are
 * unprotected at the cycle's end (collector.c) -- a program filling a
 * large buffer pays no fault per page for it. */
static inline void keep_live(rt__span *s)
{
    if (!livetrack || s->noscan)
        return;
    size_t pg = (s->base - view.lo) >> RT_GC_PAGE_SHIFT;
    if (!(atomic_load_explicit(&livebits[pg / 64], memory_order_relaxed) >> (pg % 64) & 1))
        rt__mark_live_span(s);
}

static inline void mark_in_span(worker *w, uintptr_t v, rt__span *s);

static inline void mark_word(worker *w, uintptr_t v)
{
    uintptr_t off = v - view.lo;
    if (off >= view.size)
        return;
    rt__span *s = __atomic_load_n(&view.map[off >> RT_GC_PAGE_SHIFT], __ATOMIC_RELAXED);
    if (s != NULL)
        mark_in_span(w, v, s);
}

/* mark_word for v whose page the map gave to s (not NULL). */
static inline void mark_in_span(worker *w, uintptr_t v, rt__span *s)
{
    /* published (acquire) first: with the world running, a span may be
     * being set up, and a stale map entry may name a reused record */
    if (!__atomic_load_n(&s->published, __ATOMIC_ACQUIRE) || !rt__span_contains(s, v))
        return;
    uint32_t i = rt__span_index(s, v - s->base);
    if (i >= s->nelems)
        return;
    /* The mark first, whether the slot is allocated second: a marked slot
     * needs no more, and the slots a P allocates from during a concurrent
     * mark are all marked (allocation is black), so the marker does not
     * read the allocation state that P writes on every allocation (gc.h:
     * a line read here is one the allocating thread must fetch back).
     * A byte per slot: test, then a plain store.  Two workers may both see
     * it clear and both scan the object -- harmless, and rarer than the
     * locked instruction a shared bit would cost on every object (45 % of
     * marking a tree). */
    if (s->bitmarks) {
        /* tiny objects: bits (gc.h), an atomic OR when others mark too */
        _Atomic uint64_t *mw = (_Atomic uint64_t *)(void *)s->markbytes + i / 64;
        uint64_t bit = (uint64_t)1 << (i % 64);
        uint64_t old = atomic_load_explicit(mw, memory_order_relaxed);
        if ((old & bit) || !rt__span_slot_allocated(s, i))
            return;
        if (!view.shared)
            atomic_store_explicit(mw, old | bit, memory_order_relaxed);
        else if (atomic_fetch_or_explicit(mw, bit, memory_order_relaxed) & bit)
            return;
    } else {
        uint8_t *mb = &s->markbytes[i];
        if (__atomic_load_n(mb, __ATOMIC_RELAXED) || !rt__span_slot_allocated(s, i))
            return;
        __atomic_store_n(mb, 1, __ATOMIC_RELAXED);
    }
    w->marked_bytes += s->elemsize;
    w->marked_objects++;
    /* The live-page bitmap (concurrent cycles): a load of a word of a
     * bitmap small enough to stay cached (32 KiB for 2 GiB), and a
     * branch; the pages are set once per span. */
    keep_live(s);
    if (s->noscan)
        return;
    uintptr_t obj = s->base + (uintptr_t)i * s->elemsize;
    uintptr_t end = obj + s->elemsize;
    while (end - obj > LARGE_CHUNK) {
        push(w, obj, obj + LARGE_CHUNK);
        obj += LARGE_CHUNK;
    }
    push(w, obj, end);
}

/* Conservative scanning reads every word of stacks, data segments and
 * objects, including what the sanitizers consider out of bounds (redzones
 * around globals, other threads' live frames): it is exempt from both, as
 * Boehm GC's marker is. */
#if defined(__clang__) || defined(__GNUC__)
#define NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize("thread")))
#else
#define NO_SANITIZE
#endif

/* The second stage of scan_range's pipeline: the record of the span s
 * that holds v was fetched CAND_LAG candidates ago; now v's mark is.  (A
 * prefetch cannot fault: a span being set up or reused only wastes it.) */
static inline void prefetch_mark(uintptr_t v, const rt__span *s)
{
    if (!__atomic_load_n(&s->published, __ATOMIC_ACQUIRE))
        return;
    uint32_t i = rt__span_index(s, v - s->base);
    __builtin_prefetch(s->bitmarks ? s->markbytes + i / 8 : s->markbytes + i);
}

/*
 * A range of at least PIPE_MIN bytes (a large object's chunk, a written
 * page of one, a stack, a data segment) is scanned as a pipeline: a
 * candidate pointer's span record is prefetched when the word is read,
 * its mark CAND_LAG candidates later, and it is marked CAND candidates
 * later, so that the two dependent cache misses of mark_word overlap with
 * those of the candidates around it instead of following each other.  A
 * 1.4 GiB heap of 64-byte objects behind a 96 MB pointer array spent 83 %
 * of mark_word on those two loads (tester 26b's program), and the final
 * pause rescans the array's written pages the same way.  A candidate in
 * the same span as the one before is marked at once: its record is cached
 * and sequential pointers (a freshly built array) stay as cheap as in the
 * plain loop (the pipeline without this was 15-20 % slower there).
 * Shorter ranges (small objects: a handful of words) take the plain loop;
 * drain's ring prefetches the objects themselves.
 */
#define CAND 16
#define CAND_LAG 8
#define PIPE_MIN 256

NO_SANITIZE static void scan_range(worker *w, uintptr_t lo, uintptr_t hi)
{
    if (hi - lo < PIPE_MIN) {
        for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
            uintptr_t v = *(const uintptr_t *)p;
            if (v - view.lo < view.size) /* most words are not heap pointers */
                mark_word(w, v);
        }
        return;
    }
    struct {
        uintptr_t v;
        rt__span *s;
    } ring[CAND];
    size_t k = 0; /* candidates so far; candidate j sits in ring[j % CAND] */
    rt__span *last = NULL;
    for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
        uintptr_t v = *(const uintptr_t *)p;
        uintptr_t off = v - view.lo;
        if (off >= view.size)
            continue;
        rt__span *s = __atomic_load_n(&view.map[off >> RT_GC_PAGE_SHIFT], __ATOMIC_RELAXED);
        if (s == NULL)
            continue;
        if (s == last) { /* its record is cached, its marks likely: now */
            mark_in_span(w, v, s);
            continue;
        }
        last = s;
        __builtin_prefetch(s);
        size_t at = k % CAND;
        if (k >= CAND_LAG) {
            size_t m = (k - CAND_LAG) % CAND;
            prefetch_mark(ring[m].v, ring[m].s);
        }
        if (k >= CAND)
            mark_in_span(w, ring[at].v, ring[at].s);
        ring[at].v = v;
        ring[at].s = s;
        k++;
    }
    size_t j = k > CAND ? k - CAND : 0;
    for (size_t m = k > CAND_LAG ? k - CAND_LAG : 0; m < k; m++)
        prefetch_mark(ring[m % CAND].v, ring[m % CAND].s);
    for (; j < k; j++)
        mark_in_span(w, ring[j % CAND].v, ring[j % CAND].s);
}

/* --------------------------------------------------------- work sharing -- */

static packet *packet_get_empty(void)
{
    packet *p = gq_empty;
    if (p != NULL) {
        gq_empty = p->next;
        return p;
    }
    p = rt__gc_sysrealloc(NULL, 0, sizeof *p);
    return p;
}

/* Moves k entries of w's stack to a global packet: the top k (oldest
 * false), or the bottom k (oldest true).  A depth-first mark keeps the
 * objects nearest the roots at the bottom -- for a tree, the biggest
 * subtrees -- so an idle worker is handed those: given the top ones (the
 * deepest, a few nodes each) it was back asking within microseconds, and
 * two mark threads marked a 64 MiB tree no faster than one. */
static void give_packet(worker *w, size_t k, bool oldest)
{
    rt__lock_acquire(&gq_lock);
    packet *p = packet_get_empty();
    p->n = (uint32_t)k;
    if (oldest) {
        memcpy(p->e, w->stk, k * sizeof(mentry));
        memmove(w->stk, &w->stk[k], (w->n - k) * sizeof(mentry));
    } else {
        memcpy(p->e, &w->stk[w->n - k], k * sizeof(mentry));
    }
    w->n -= k;
    p->next = gq_full;
    gq_full = p;
    atomic_fetch_add_explicit(&gq_nfull, 1, memory_order_release);
    rt__lock_release(&gq_lock);
}

static bool take_packet(worker *w)
{
    if (atomic_load_explicit(&gq_nfull, memory_order_acquire) == 0)
        return false;
    rt__lock_acquire(&gq_lock);
    packet *p = gq_full;
    if (p != NULL) {
        gq_full = p->next;
        atomic_fetch_sub_explicit(&gq_nfull, 1, memory_order_relaxed);
        grow_stk(&w->stk, &w->cap, w->n + p->n);
        memcpy(&w->stk[w->n], p->e, p->n * sizeof(mentry));
        w->n += p->n;
        p->next = gq_empty;
        gq_empty = p;
    }
    rt__lock_release(&gq_lock);
    return p != NULL;
}

/* Scanning goes through a small FIFO between the mark stack and the
 * scanner: an entry is prefetched when it leaves the stack and scanned
 * PREFETCH entries later, so the cache miss on a newly found object (the
 * cost of marking a linked structure) overlaps the scanning of others. */
#define PREFETCH 8

static bool over_budget(void)
{
    if (run_budget == 0)
        return false;
    if (atomic_load_explicit(&run_expired, memory_order_relaxed))
        return true;
    if (atomic_load_explicit(&mark_objs, memory_order_relaxed) - run_progress0 < run_budget)
        return false;
    atomic_store_explicit(&run_expired, 1, memory_order_relaxed);
    return true;
}

/* Whether a mark thread of the open run is idle (a closed run's count is
 * stale). */
static bool someone_idle(void)
{
    uint64_t s = atomic_load_explicit(&run_state, memory_order_relaxed);
    return !(s & RS_CLOSED) && RS_IDLE(s) > 0;
}

static void publish(worker *w)
{
    uint64_t d = w->marked_bytes - w->published;
    if (d != 0) {
        atomic_fetch_add_explicit(&mark_progress, d, memory_order_relaxed);
        atomic_fetch_add_explicit(&mark_objs, w->marked_objects - w->published_objs,
                                  memory_order_relaxed);
        w->published = w->marked_bytes;
        w->published_objs = w->marked_objects;
    }
    uint64_t ds = w->scanned_bytes - w->published_scan;
    if (ds != 0) {
        atomic_fetch_add_explicit(&scan_progress, ds, memory_order_relaxed);
        w->published_scan = w->scanned_bytes;
    }
}

/* Scans w's stack until it is empty or w's scanned_bytes reach `limit`
 * (an assist's budget, in bytes read; the mark threads pass UINT64_MAX),
 * or the run's budget is spent (looked at every 64 objects).  Entries
 * taken into the prefetch ring but not scanned go back on the stack. */
static void drain(worker *w, uint64_t limit)
{
    unsigned tick = 0;
    mentry ring[PREFETCH];
    unsigned rh = 0, rn = 0;
    bool expired = false;
    for (;;) {
        if (rt__unlikely(w->scanned_bytes >= limit || expired)) {
            grow_stk(&w->stk, &w->cap, w->n + rn);
            for (; rn > 0; rn--, rh = (rh + 1) % PREFETCH)
                w->stk[w->n++] = ring[rh];
            break;
        }
        while (rn < PREFETCH && w->n > 0) {
            mentry r = w->stk[--w->n];
            __builtin_prefetch((const void *)ENTRY_LO(r));
            ring[(rh + rn) % PREFETCH] = r;
            rn++;
        }
        if (rn == 0)
            break;
        mentry r = ring[rh];
        rh = (rh + 1) % PREFETCH;
        rn--;
        scan_range(w, ENTRY_LO(r), ENTRY_HI(r));
        w->scanned_bytes += ENTRY_HI(r) - ENTRY_LO(r);
        if (w->n > LOCAL_MAX &&
            atomic_load_explicit(&gq_nfull, memory_order_relaxed) < GQ_SOFT_MAX) {
            give_packet(w, PACKET_N, false);
        } else if ((++tick & 7) == 0 && w->n >= 4 &&
                   atomic_load_explicit(&gq_nfull, memory_order_relaxed) == 0) {
            /* Someone is idle, or an assist may come (and this thread may
             * be descheduled then), and nothing is shared: hand half
             * over.  gctrace counts a mark thread's hand-offs to idle
             * mark threads (Go's: work given to an idle worker, between
             * the threads its nproc counts), not the stock left for
             * assists that may never come, nor what an assist gives
             * (stock it would push anyway when it leaves; with one mark
             * thread, idle while an assist drains, it was counted). */
            bool idle = someone_idle();
            if (idle || atomic_load_explicit(&assist_open, memory_order_relaxed)) {
                size_t k = w->n / 2 < PACKET_N ? w->n / 2 : PACKET_N;
                /* the oldest entries (the big subtrees) while moving the
                 * rest down stays cheap; a deep stack gives its top */
                give_packet(w, k, w->n <= HANDOFF_OLDEST_MAX);
                if (idle && limit == UINT64_MAX) {
                    w->nhandoff++;
                    w->nhandoffcnt += k;
                }
            }
        }
        if ((tick & 63) == 0) {
            publish(w);
            expired = over_budget();
            /* An assist (in a no-stop region of its M) leaves at once when
             * the world is being stopped: the stop waits for it, and its
             * budget, 256 KiB read, is a few hundred microseconds. */
            if (limit != UINT64_MAX &&
                (atomic_load_explicit(&rt__gcstop_epoch, memory_order_relaxed) & 1))
                expired = true;
        }
    }
    publish(w);
}

#define POS(lo, hi) (((uint64_t)(lo) << 32) | (uint64_t)(hi))
#define POS_LO(p) ((uint32_t)((p) >> 32))
#define POS_HI(p) ((uint32_t)(p))

/* Takes the next root chunks of w's own range: up to ROOT_BATCH of them,
 * roots[*idx .. *idx + *cnt). */
#define ROOT_BATCH 8
static bool take_root(worker *w, size_t *idx, size_t *cnt)
{
    uint64_t p = atomic_load_explicit(&w->rootpos, memory_order_relaxed);
    while (POS_LO(p) < POS_HI(p)) {
        uint32_t k = POS_HI(p) - POS_LO(p) < ROOT_BATCH ? POS_HI(p) - POS_LO(p) : ROOT_BATCH;
        if (atomic_compare_exchange_weak_explicit(&w->rootpos, &p,
                                                  POS(POS_LO(p) + k, POS_HI(p)),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *idx = POS_LO(p);
            *cnt = k;
            return true;
        }
    }
    return false;
}

/* Steals half of another worker's root range into w's. */
static bool steal_roots(worker *w, int self)
{
    int np = __atomic_load_n(&nproc, __ATOMIC_RELAXED);
    for (int k = 1; k < np; k++) {
        worker *v = &workers[(self + k) % np];
        uint64_t p = atomic_load_explicit(&v->rootpos, memory_order_relaxed);
        while (POS_LO(p) < POS_HI(p)) {
            uint32_t lo = POS_LO(p), hi = POS_HI(p);
            uint32_t mid = hi - lo >= 2 ? lo + (hi - lo) / 2 : lo;
            if (atomic_compare_exchange_weak_explicit(&v->rootpos, &p, POS(lo, mid),
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                atomic_store_explicit(&w->rootpos, POS(mid, hi), memory_order_relaxed);
                if (atomic_load_explicit(&v->joined, memory_order_relaxed)) {
                    w->nsteal++;
                    w->nstealcnt += hi - mid;
                }
                return true;
            }
        }
    }
    return false;
}

static bool roots_left(void)
{
    if (atomic_load_explicit(&dchunk_next, memory_order_relaxed) <
        atomic_load_explicit(&ndchunks, memory_order_relaxed))
        return true;
    int np = __atomic_load_n(&nproc, __ATOMIC_RELAXED);
    for (int k = 0; k < np; k++) {
        uint64_t p = atomic_load_explicit(&workers[k].rootpos, memory_order_relaxed);
        if (POS_LO(p) < POS_HI(p))
            return true;
    }
    return false;
}


static void backoff(worker *w, int i)
{
    if (i < 10) {
        for (int k = 0; k < 30; k++)
            rt__cpu_relax();
        atomic_fetch_add_explicit(&w->nprocyield, 1, memory_order_relaxed);
    } else if (i < 20) {
        sched_yield();
        atomic_fetch_add_explicit(&w->nosyield, 1, memory_order_relaxed);
    } else {
        struct timespec ts = {0, 100 * 1000};
        nanosleep(&ts, NULL);
        atomic_fetch_add_explicit(&w->nsleep, 1, memory_order_relaxed);
    }
}

/* The written-page callback of a chunk scan: the marked objects' parts on
 * the pages go on the worker's stack. */
static void push_dirty(uintptr_t lo, uintptr_t hi, void *ctx);

/* Marks as worker `self` of the run of generation `gen` until the run is
 * closed (see run_state). */
static void work(int self, uint32_t gen)
{
    worker *w = &workers[self];
    for (;;) {
        drain(w, UINT64_MAX);
        size_t idx;
        if (over_budget()) {
            /* what this worker holds goes to the next run */
            while (w->n > 0)
                give_packet(w, w->n < PACKET_N ? w->n : PACKET_N, false);
            goto idle;
        }
        size_t nd = atomic_load_explicit(&ndchunks, memory_order_relaxed);
        if (atomic_load_explicit(&dchunk_next, memory_order_relaxed) < nd &&
            (idx = atomic_fetch_add_explicit(&dchunk_next, 1, memory_order_relaxed)) < nd) {
            size_t np = rt__dirty_scan(dchunks[idx].lo, dchunks[idx].hi, dchunk_reprotect,
                                       push_dirty, w);
            atomic_fetch_add_explicit(&dchunk_pages, np, memory_order_relaxed);
            continue;
        }
        size_t cnt;
        if (take_root(w, &idx, &cnt) || (steal_roots(w, self) && take_root(w, &idx, &cnt))) {
            /* Read now, never queued: a root may be gone once the world
             * restarts (a foreign thread's stack), and a run that stops
             * early drops the roots it has not read.  Small roots (the
             * 64-byte contents of 2M finalizable objects, in hash order)
             * are mostly a cache miss each: the batch's first lines are
             * fetched together (a stopped mark of 2M of them: 0.7-1.8 s
             * before, 0.3-0.5 s after, alternating on a loaded host) --
             * and the rest of their first KiB: a parked goroutine's stack
             * is ~450 bytes on a page of its own, and the final pause
             * rereads every one (100k of them: 9.4 ms of marking in the
             * pause against 13.5 with the first lines only). */
            for (size_t k = 0; k < cnt; k++) {
                uintptr_t a = roots[idx + k].lo & ~(uintptr_t)63, e = roots[idx + k].hi;
                if (e - a > 1024)
                    e = a + 1024;
                for (; a < e; a += 64)
                    __builtin_prefetch((const void *)a);
            }
            for (size_t k = 0; k < cnt; k++)
                scan_range(w, roots[idx + k].lo, roots[idx + k].hi);
            continue;
        }
        if (take_packet(w))
            continue;
    idle:;
        /* Idle.  Everything below reads the queues after the state
         * (acquire): a worker pushes what it has before it counts itself
         * idle, an assist before it leaves, so a state that shows them
         * idle or gone comes with their packets. */
        uint64_t s = atomic_fetch_add_explicit(&run_state, RS_IDLE1, memory_order_acq_rel) +
                     RS_IDLE1;
        for (int i = 0;;) {
            if (RS_GEN(s) != gen || (s & RS_CLOSED))
                return; /* the run is over */
            /* (budget spent: work left is the next run's) */
            if (!atomic_load_explicit(&run_expired, memory_order_relaxed) &&
                (atomic_load_explicit(&gq_nfull, memory_order_acquire) > 0 || roots_left())) {
                if (atomic_compare_exchange_strong_explicit(&run_state, &s, s - RS_IDLE1,
                                                            memory_order_acq_rel,
                                                            memory_order_acquire))
                    break; /* active again, in a run that cannot close now */
                continue;
            }
            if (RS_IDLE(s) == RS_JOINED(s) && RS_ASSISTS(s) == 0) {
                if (atomic_compare_exchange_strong_explicit(&run_state, &s, s | RS_CLOSED,
                                                            memory_order_acq_rel,
                                                            memory_order_acquire))
                    return; /* closed it */
                continue;
            }
            backoff(w, i++);
            s = atomic_load_explicit(&run_state, memory_order_acquire);
        }
    }
}

/* ------------------------------------------------------- helper threads -- */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    return rt__futex(addr, op, val, NULL);
}

static void *helper_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint32_t seen = 0;
    /* Named, so that top -H, perf sched and gdb tell it from the Ms. */
    char name[16];
    snprintf(name, sizeof name, "grt-mark%d", id);
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
    rt__cpuprof_helper_start(id); /* its CPU shows in CPU profiles, as "GC" */
    for (;;) {
        uint32_t e;
        while ((e = atomic_load_explicit(&mark_epoch, memory_order_acquire)) == seen)
            futex(&mark_epoch, FUTEX_WAIT_PRIVATE, seen);
        seen = e;
        if (atomic_load_explicit(&standby, memory_order_acquire)) {
            /* Ready for the final pause's run: yielding, so that a thread
             * the stop waits for gets the CPU first. */
            int64_t t0 = rt_nanotime();
            while ((e = atomic_load_explicit(&mark_epoch, memory_order_acquire)) == seen &&
                   atomic_load_explicit(&standby, memory_order_acquire) &&
                   rt_nanotime() - t0 < STANDBY_NS)
                sched_yield();
            if (e == seen)
                continue; /* no run came: back to sleep */
            seen = e; /* the run's epoch: join it */
        }
        if (id >= atomic_load_explicit(&mark_nproc, memory_order_acquire))
            continue;
        /* Join the open run, whichever it is now (a late helper stays out
         * of a closed one: all its work comes from the roots and from
         * workers that joined, and termination counts only those, so a
         * helper the kernel has not scheduled yet holds nothing open). */
        uint64_t s = atomic_load_explicit(&run_state, memory_order_acquire);
        while (!(s & RS_CLOSED) &&
               !atomic_compare_exchange_weak_explicit(&run_state, &s, s + RS_JOIN1,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
        }
        if (s & RS_CLOSED)
            continue;
        if (id >= atomic_load_explicit(&mark_nproc, memory_order_acquire)) {
            /* a later run than the one that woke us, with fewer threads:
             * leave it (holding nothing, this cannot end it early) */
            atomic_fetch_sub_explicit(&run_state, RS_JOIN1, memory_order_acq_rel);
            continue;
        }
        atomic_store_explicit(&workers[id].joined, 1, memory_order_relaxed);
        work(id, RS_GEN(s));
    }
    return NULL;
}

static void start_helpers(int want)
{
    while (nhelpers < want) {
        int id = nhelpers + 1;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 << 10);
        int rc = pthread_create(&helper_threads[id], &attr, helper_main, (void *)(intptr_t)id);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0)
            break; /* fewer markers; not an error */
        atomic_fetch_add_explicit(&rt__aux_threads, 1, memory_order_relaxed); /* checkdead */
        nhelpers++;
    }
}

/* ------------------------------------------------------------- the mark -- */

static void refresh_arena(void)
{
    view.lo = rt__arena_lo;
    view.size = atomic_load_explicit(&rt__arena_used, memory_order_acquire);
    view.map = rt__pagemap;
}

int rt__mark_workers(void)
{
    return want_workers();
}

void rt__mark_begin(rt__markstats *st)
{
    memset(st, 0, sizeof *st);
    nroots = 0;
    pace_bytes = 0;
    refresh_arena();
}

void rt__mark_add_data_roots(void)
{
    for (size_t i = 0; i < ndataseg; i++)
        add_root_unpaced(dataseg[i].lo, dataseg[i].hi, NULL);
}

void rt__mark_add_sched_roots(bool stable_only)
{
    if (stable_only) {
        rt__gc_sched_roots_stable(add_root, NULL);
        return;
    }
    /* The threads the runtime did not create stop from here to the end
     * of the run (sched/foreign.c): their stacks are roots too.  Nothing
     * from here to there may take a lock they can hold (rt__mark_add_
     * other_roots' come first). */
    rt__foreign_stop();
    rt__gc_sched_roots(add_root, NULL);
}

void rt__mark_add_goroutine_roots(void)
{
    rt__gc_goroutine_roots_running(add_root, NULL);
    /* and a copy of the timer heaps, whose changed slots alone the final
     * stop reads again (sched/timer.c, "The collector's view") */
    rt__timer_roots_concurrent(add_root, NULL,
                               atomic_load_explicit(&rt__sweepgen, memory_order_relaxed));
}

void rt__mark_add_other_roots(bool final)
{
    rt__registered_roots(add_root, NULL);
    if (final)
        rt__finalizer_roots_added(add_root_unpaced, NULL);
    else
        rt__finalizer_roots(add_root_unpaced, NULL);
}

void rt__mark_add_finalizer_roots(bool start)
{
    if (start)
        rt__finalizer_roots_concurrent(add_root_unpaced, NULL);
    else
        rt__finalizer_roots_added(add_root_unpaced, NULL);
}

void rt__mark_keep_live(rt__span *s)
{
    keep_live(s);
}

/* Pushes on w's stack the parts inside [lo, hi) of the marked, allocated
 * objects there (and of the unmarked ones with finalizers): what a
 * written page may have hidden from a scan that ran before the write.
 * Adjacent parts are joined into one range.  Works with the world running (spans are only read once published; none is freed
 * while a mark phase runs: sweeping is over before it starts). */
static void emit_dirty(worker *w, uintptr_t lo, uintptr_t hi)
{
    while (hi - lo > LARGE_CHUNK) {
        push(w, lo, lo + LARGE_CHUNK);
        lo += LARGE_CHUNK;
    }
    push(w, lo, hi);
}

/* Adjacent object parts found on written pages, joined into one range
 * before they go on the worker's stack (both walks below). */
typedef struct dirty_run {
    uintptr_t lo, hi;
} dirty_run;

static inline void dirty_run_add(worker *w, dirty_run *r, uintptr_t lo, uintptr_t hi)
{
    if (lo == r->hi) {
        r->hi = hi;
        return;
    }
    if (r->lo < r->hi)
        emit_dirty(w, r->lo, r->hi);
    r->lo = lo;
    r->hi = hi;
}

static inline void dirty_run_end(worker *w, const dirty_run *r)
{
    if (r->lo < r->hi)
        emit_dirty(w, r->lo, r->hi);
}

/* push_dirty for a span with marks in bits and no finalizer or
 * profile record: the marked, allocated slots come 64 at a time from the
 * mark word and the allocation state, and each run of them is one range
 * -- a page of 16-byte objects is 256 slots, which the slot-by-slot walk
 * below tests one by one, three loads each, before a word is reread
 * (binary-trees, every cycle's pause: p99 274-619 -> 188-425 us with
 * this, 4 alternating runs). */
static void dirty_bits(worker *w, rt__span *s, uintptr_t p, uintptr_t end)
{
    uint32_t i = rt__span_index(s, p - s->base);
    uint32_t iend = rt__span_index(s, end - 1 - s->base) + 1; /* slots starting below end */
    if (iend > s->nelems)
        iend = s->nelems;
    uint32_t fi = __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED);
    const uint64_t *marks = (const uint64_t *)(const void *)s->markbytes;
    dirty_run run = {0, 0};
    while (i < iend) {
        uint32_t base = i & ~63u;
        uint64_t live = __atomic_load_n(&marks[base / 64], __ATOMIC_RELAXED);
        uint64_t alloc = s->allocbits[base / 64];
        if (fi > base)
            alloc |= fi - base >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << (fi - base)) - 1;
        live &= alloc & (~(uint64_t)0 << (i - base));
        if (iend - base < 64)
            live &= ((uint64_t)1 << (iend - base)) - 1;
        while (live != 0) {
            uint32_t a = (uint32_t)__builtin_ctzll(live);
            uint64_t rest = ~(live >> a);
            uint32_t len = rest == 0 ? 64 - a : (uint32_t)__builtin_ctzll(rest);
            uintptr_t lo = s->base + (uintptr_t)(base + a) * s->elemsize;
            uintptr_t hi = lo + (uintptr_t)len * s->elemsize;
            dirty_run_add(w, &run, lo < p ? p : lo, hi > end ? end : hi);
            live = a + len >= 64 ? 0 : live & (~(uint64_t)0 << (a + len));
        }
        i = base + 64;
    }
    dirty_run_end(w, &run);
}

/*
 * Shadows.  A large array of pointers written at random places -- a hash
 * table's buckets, an index of objects -- has nearly every page written
 * between two re-cleaning rounds, and each written page was read again in
 * full: 512 candidate pointers, each two cache misses to learn it was
 * marked already.  A hash table's 8 MB of buckets made final pauses of
 * 9-34 ms at MAXPROCS=2 (Go 0.2), and a 96 MB array 80-90 ms (tester 26b's
 * hashmap and bigheap).  So the rounds keep, for each large scan object
 * (SHADOW_MIN or more) whose pages they rescan, a copy of the words as
 * they read them: the next rescan of such a page -- another round's, or
 * the final pause's -- compares the page with its copy, a sequential read,
 * and marks only the words that changed.  Correct because marks stay set
 * for the rest of the cycle: a word equal to its copy holds a value the
 * marking already marked from, and a page is protected again before it is
 * read, so a write after the read dirties it for the next rescan.  The
 * final pause makes no new copies.  The memory, touched only for written
 * pages, is unmapped at the end of the cycle, and mapped for at most an
 * eighth of the heap goal.  tester 26b's hashmap at MAXPROCS=2, 6
 * alternating runs: longest pause 0.6-4.1 ms -> 0.14-0.79 ms, pause total
 * 1.9-6.2 -> 0.7-1.8 ms, peak RSS 124-131 -> 130-147 MB.
 */
#define SHADOW_MIN ((size_t)64 << 10)
#define SHADOW_PAGE ((uintptr_t)4096)

typedef struct shadow_hdr {
    struct shadow_hdr *next; /* every shadow of this cycle */
    rt__span *span;
    size_t len; /* bytes mapped: this page, then the object's copy */
} shadow_hdr;
static _Atomic(shadow_hdr *) shadows;
static _Atomic uint64_t shadow_bytes; /* mapped for this cycle's shadows */
_Atomic uint64_t rt__mark_shadow_pages;

static shadow_hdr *shadow_get(rt__span *s, bool make)
{
    shadow_hdr *h = __atomic_load_n((shadow_hdr **)&s->shadow, __ATOMIC_ACQUIRE);
    if (h != NULL || !make)
        return h;
    size_t len = SHADOW_PAGE + (s->npages << RT_GC_PAGE_SHIFT);
    /* At most an eighth of the heap goal in copies at a time: past it,
     * full rescans (the copies of written pages are resident memory). */
    uint64_t cap = atomic_load_explicit(&rt__gcstat.next_gc, memory_order_relaxed) / 8;
    if (atomic_fetch_add_explicit(&shadow_bytes, len, memory_order_relaxed) + len > cap) {
        atomic_fetch_sub_explicit(&shadow_bytes, len, memory_order_relaxed);
        return NULL;
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
        atomic_fetch_sub_explicit(&shadow_bytes, len, memory_order_relaxed);
        return NULL; /* full rescans, as without */
    }
    h = m;
    h->span = s;
    h->len = len;
    shadow_hdr *seen = NULL;
    if (!__atomic_compare_exchange_n((shadow_hdr **)&s->shadow, &seen, h, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        munmap(m, len);
        atomic_fetch_sub_explicit(&shadow_bytes, len, memory_order_relaxed);
        return seen;
    }
    shadow_hdr *head = atomic_load_explicit(&shadows, memory_order_relaxed);
    do
        h->next = head;
    while (!atomic_compare_exchange_weak_explicit(&shadows, &head, h, memory_order_release,
                                                  memory_order_relaxed));
    return h;
}

/* Rescans [lo, hi) of the large object of span s through its shadow h: the
 * words that differ from the copy are copied and marked from.  A page read
 * for the first time compares with zeros (the fresh mapping): every
 * pointer in it counts as changed. */
NO_SANITIZE static void shadow_rescan(worker *w, rt__span *s, shadow_hdr *h, uintptr_t lo,
                                      uintptr_t hi)
{
    uintptr_t changed[SHADOW_PAGE / sizeof(uintptr_t)];
    for (uintptr_t a = lo; a < hi;) {
        uintptr_t pe = (a & ~(SHADOW_PAGE - 1)) + SHADOW_PAGE;
        if (pe > hi)
            pe = hi;
        const uintptr_t *src = (const uintptr_t *)a;
        uintptr_t *sh = (uintptr_t *)((char *)h + SHADOW_PAGE + (a - s->base));
        size_t n = (pe - a) / sizeof(uintptr_t), m = 0;
        for (size_t k = 0; k < n; k += 8) {
            size_t e = k + 8 < n ? k + 8 : n;
            uintptr_t diff = 0;
            for (size_t j = k; j < e; j++)
                diff |= src[j] ^ sh[j];
            if (diff == 0)
                continue; /* a line unchanged: the common case */
            for (size_t j = k; j < e; j++) {
                uintptr_t v = src[j]; /* (read once: marked as copied) */
                if (v != sh[j]) {
                    sh[j] = v;
                    changed[m++] = v;
                }
            }
        }
        if (m != 0)
            scan_range(w, (uintptr_t)changed, (uintptr_t)(changed + m));
        w->scanned_bytes += pe - a;
        a = pe;
        /* The pacing's progress as it goes (a run of written pages can
         * be the whole array): an allocation held at the hard goal waits
         * for it (collector.c, hard_throttle) -- published only at the
         * next drain, it held gcgrow's goroutine 42 ms, 30 naps. */
        if (((a - lo) / SHADOW_PAGE) % 8 == 0)
            publish(w);
    }
    publish(w);
    atomic_fetch_add_explicit(&rt__mark_shadow_pages, (hi - lo + SHADOW_PAGE - 1) / SHADOW_PAGE,
                              memory_order_relaxed);
}

void rt__mark_shadows_detach(void)
{
    for (shadow_hdr *h = atomic_load(&shadows); h != NULL; h = h->next)
        __atomic_store_n((shadow_hdr **)&h->span->shadow, NULL, __ATOMIC_RELAXED);
}

void rt__mark_shadows_free(void)
{
    shadow_hdr *h = atomic_exchange(&shadows, NULL);
    while (h != NULL) {
        shadow_hdr *next = h->next;
        atomic_fetch_sub_explicit(&shadow_bytes, h->len, memory_order_relaxed);
        munmap(h, h->len);
        h = next;
    }
}

static void push_dirty(uintptr_t lo, uintptr_t hi, void *ctx)
{
    worker *w = ctx;
    uintptr_t p = lo;
    while (p < hi) {
        uintptr_t off = p - view.lo;
        if (off >= view.size)
            return;
        rt__span *s = __atomic_load_n(&view.map[off >> RT_GC_PAGE_SHIFT], __ATOMIC_RELAXED);
        if (s == NULL || !__atomic_load_n(&s->published, __ATOMIC_ACQUIRE) ||
            !rt__span_contains(s, p)) {
            p = view.lo + (((off >> RT_GC_PAGE_SHIFT) + 1) << RT_GC_PAGE_SHIFT);
            continue;
        }
        uintptr_t send = s->base + (s->npages << RT_GC_PAGE_SHIFT);
        uintptr_t end = hi < send ? hi : send;
        shadow_hdr *h;
        if (s->noscan) {
            /* nothing to reread */
        } else if (s->sizeclass == 0 && s->elemsize >= SHADOW_MIN && rt__gc_slot_marked(s, 0) &&
                   (h = shadow_get(s, dchunk_reprotect)) != NULL) {
            uintptr_t oe = s->base + s->elemsize;
            uintptr_t a = p < s->base ? s->base : p;
            shadow_rescan(w, s, h, a, end < oe ? end : oe);
        } else if (s->bitmarks && !__atomic_load_n(&s->has_special, __ATOMIC_RELAXED)) {
            dirty_bits(w, s, p, end);
        } else {
            dirty_run run = {0, 0};
            for (uint32_t i = rt__span_index(s, p - s->base); i < s->nelems; i++) {
                uintptr_t o = s->base + (uintptr_t)i * s->elemsize;
                if (o >= end)
                    break;
                /* (and an unmarked object with a finalizer: its contents
                 * are a root of this mark, first read at the phase's
                 * start) */
                if (!rt__gc_slot_marked(s, i)) {
                    if (!__atomic_load_n(&s->has_special, __ATOMIC_RELAXED) ||
                        !rt__span_slot_allocated(s, i) || !rt__finalizer_scanned(o))
                        continue;
                } else if (!rt__span_slot_allocated(s, i)) {
                    continue;
                }
                dirty_run_add(w, &run, o < p ? p : o,
                              o + s->elemsize > end ? end : o + s->elemsize);
            }
            dirty_run_end(w, &run);
        }
        p = end;
    }
}

void rt__mark_add_dirty_chunk(uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        uintptr_t end = hi - lo > DCHUNK ? lo + DCHUNK : hi;
        size_t n = atomic_load_explicit(&ndchunks, memory_order_relaxed);
        grow_vec(&dchunks, &dchunks_cap, n + 1);
        dchunks[n] = (mrange){lo, end};
        atomic_store_explicit(&ndchunks, n + 1, memory_order_relaxed);
        lo = end;
    }
}

/* ------------------------------------------------------------ live pages -- */

void rt__mark_live_span(rt__span *s)
{
    if (s->noscan)
        return; /* (keep_live's comment) */
    size_t pg = (s->base - rt__arena_lo) >> RT_GC_PAGE_SHIFT;
    for (size_t i = 0; i < s->npages; i++, pg++)
        atomic_fetch_or_explicit(&livebits[pg / 64], (uint64_t)1 << (pg % 64),
                                 memory_order_relaxed);
}

void rt__mark_live_reset(bool on)
{
    if (livebits == NULL) {
        size_t bytes = (rt__arena_bytes >> RT_GC_PAGE_SHIFT) / 8;
        livebits = rt__gc_sysrealloc(NULL, 0, bytes);
    }
    size_t used = atomic_load_explicit(&rt__arena_used, memory_order_acquire);
    size_t words = ((used >> RT_GC_PAGE_SHIFT) + 63) / 64;
    memset((void *)livebits, 0, words * sizeof(uint64_t));
    livetrack = on;
}

/* Calls fn for each run of pages in [lo, hi) whose live bit is `want`,
 * runs less than merge_gap pages apart joined into one (one system call
 * for both costs more than walking the gap's page tables), runs shorter
 * than min_run pages left out. */
static void foreach_run(uintptr_t lo, uintptr_t hi, bool want, size_t merge_gap, size_t min_run,
                        void (*fn)(uintptr_t lo, uintptr_t hi))
{
    size_t run_lo = 0, run_hi = 0;
    uint64_t flip = want ? 0 : ~(uint64_t)0;
    size_t p0 = (lo - rt__arena_lo) >> RT_GC_PAGE_SHIFT;
    size_t p1 = (hi - rt__arena_lo) >> RT_GC_PAGE_SHIFT;
    size_t p = p0;
    while (p < p1) {
        uint64_t word = (atomic_load_explicit(&livebits[p / 64], memory_order_relaxed) ^ flip) >>
                        (p % 64);
        if (word == 0) {
            p = (p / 64 + 1) * 64;
            continue;
        }
        p += (size_t)__builtin_ctzll(word);
        if (p >= p1)
            break;
        size_t q = p;
        while (q < p1) { /* the end of the run */
            uint64_t inv = ~(atomic_load_explicit(&livebits[q / 64], memory_order_relaxed) ^ flip) >>
                           (q % 64);
            if (inv == 0) {
                q = (q / 64 + 1) * 64;
                continue;
            }
            q += (size_t)__builtin_ctzll(inv);
            break;
        }
        if (q > p1)
            q = p1;
        if (run_hi != 0 && p - run_hi < merge_gap) {
            run_hi = q; /* join the previous run across a short gap */
        } else {
            if (run_hi - run_lo >= min_run)
                fn(rt__arena_lo + (run_lo << RT_GC_PAGE_SHIFT),
                   rt__arena_lo + (run_hi << RT_GC_PAGE_SHIFT));
            run_lo = p;
            run_hi = q;
        }
        p = q;
    }
    if (run_hi - run_lo >= min_run && run_hi > run_lo)
        fn(rt__arena_lo + (run_lo << RT_GC_PAGE_SHIFT), rt__arena_lo + (run_hi << RT_GC_PAGE_SHIFT));
}

void rt__mark_add_live_dirty_chunks(uintptr_t lo, uintptr_t hi)
{
    /* Every live page must be covered; a written dead page in a joined
     * gap only costs its check (nothing on it is marked). */
    foreach_run(lo, hi, true, 2048, 1, rt__mark_add_dirty_chunk);
}

void rt__mark_foreach_dead_run(uintptr_t lo, uintptr_t hi,
                               void (*fn)(uintptr_t lo, uintptr_t hi))
{
    /* Any page may be unprotected (the next cycle protects again every
     * page found unprotected); leaving a short run protected costs its
     * first writes a fault each.  Joining across short live gaps and
     * leaving out short runs keeps this to a few calls a cycle. */
    foreach_run(lo, hi, false, 64, 16, fn);
}

/* Keeps the helpers off the initiator's CPU: a helper woken from a
 * thread's CPU is queued behind that thread (wake-affine placement) and
 * waits there while the initiator walks page tables and the other CPU
 * goes idle -- past the end of the final pause's run, 1 in 4 pauses of
 * workload 12 on 2 vCPUs. */
static void helpers_avoid_cpu(void)
{
    static int last_cpu = -1;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu == last_cpu || ncpu_cached < 2)
        return;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    if (CPU_COUNT(&set) < 2)
        return;
    CPU_CLR(cpu, &set);
    for (int i = 1; i <= nhelpers; i++)
        (void)pthread_setaffinity_np(helper_threads[i], sizeof set, &set);
    last_cpu = cpu;
}

void rt__mark_standby(void)
{
    if (nhelpers == 0)
        return;
    helpers_avoid_cpu();
    atomic_store_explicit(&standby, 1, memory_order_release);
    atomic_fetch_add_explicit(&mark_epoch, 1, memory_order_release);
    futex(&mark_epoch, FUTEX_WAKE_PRIVATE, INT32_MAX);
}

void rt__mark_run(rt__markstats *st, int want)
{
    refresh_arena();
    if (want > nhelpers + 1)
        want = nhelpers + 1;
    if (want < 1)
        want = 1;
    __atomic_store_n(&nproc, want, __ATOMIC_RELAXED);
    view.shared = nproc > 1 || atomic_load_explicit(&assist_open, memory_order_relaxed);
    uint64_t rb = 0;
    for (size_t i = 0; i < nroots; i++)
        rb += roots[i].hi - roots[i].lo;
    if (rb > st->root_bytes)
        st->root_bytes = rb;
    if (pace_bytes > st->scan_root_bytes)
        st->scan_root_bytes = pace_bytes;
    uint64_t s0 = atomic_load_explicit(&run_state, memory_order_acquire);
    rt__assert(s0 & RS_CLOSED);
    uint32_t gen = RS_GEN(s0) + 1;

    for (int k = 0; k < MAX_WORKERS + MAX_ASSISTS; k++) {
        worker *w = &workers[k];
        w->n = 0;
        w->marked_bytes = w->marked_objects = w->published = w->published_objs = 0;
        w->nhandoff = w->nhandoffcnt = w->nsteal = w->nstealcnt = 0;
        atomic_store_explicit(&w->nprocyield, 0, memory_order_relaxed);
        atomic_store_explicit(&w->nosyield, 0, memory_order_relaxed);
        atomic_store_explicit(&w->nsleep, 0, memory_order_relaxed);
        size_t lo = 0, hi = 0;
        if (k < nproc) {
            lo = nroots * (size_t)k / (size_t)nproc;
            hi = nroots * (size_t)(k + 1) / (size_t)nproc;
        }
        atomic_store_explicit(&w->rootpos, POS(lo, hi), memory_order_relaxed);
        atomic_store_explicit(&w->joined, k == 0, memory_order_relaxed);
    }
    atomic_store_explicit(&dchunk_next, 0, memory_order_relaxed);
    atomic_store_explicit(&run_expired, 0, memory_order_relaxed);
    atomic_store_explicit(&mark_nproc, nproc, memory_order_relaxed);
    /* Open the run (release: a helper or assist that joins sees the reset
     * state above). */
    atomic_store_explicit(&run_state, (uint64_t)gen << 32 | RS_JOIN1, memory_order_release);
    if (nproc > 1) {
        atomic_fetch_add_explicit(&mark_epoch, 1, memory_order_release);
        futex(&mark_epoch, FUTEX_WAKE_PRIVATE, INT32_MAX);
    }
    /* After the epoch's move: a helper on standby sees the move first and
     * joins, instead of going back to sleep just before it. */
    atomic_store_explicit(&standby, 0, memory_order_release);
    work(0, gen);
    /* Closed: no assist is inside, every thread that joined is idle and
     * stays out of shared mark state from now on. */
    int nj = (int)RS_JOINED(atomic_load_explicit(&run_state, memory_order_acquire));

    if (nj > st->nproc)
        st->nproc = nj; /* the mark threads that marked */
    for (int k = 0; k < MAX_WORKERS + MAX_ASSISTS; k++) {
        if (k >= nproc && k < MAX_WORKERS)
            continue;
        worker *w = &workers[k];
        st->marked_bytes += w->marked_bytes;
        st->marked_objects += w->marked_objects;
        st->nhandoff += w->nhandoff;
        st->nhandoffcnt += w->nhandoffcnt;
        st->nsteal += w->nsteal;
        st->nstealcnt += w->nstealcnt;
        st->nprocyield += atomic_load_explicit(&w->nprocyield, memory_order_relaxed);
        st->nosyield += atomic_load_explicit(&w->nosyield, memory_order_relaxed);
        st->nsleep += atomic_load_explicit(&w->nsleep, memory_order_relaxed);
        if (k >= MAX_WORKERS)
            st->assist_bytes += w->marked_bytes;
    }
    /* (cut even with nothing on the list: roots or written-page scans not
     * begun were dropped) */
    run_cut = atomic_load_explicit(&run_expired, memory_order_relaxed);
    rt__assert(run_cut || atomic_load_explicit(&gq_nfull, memory_order_relaxed) == 0);
    nroots = 0;
    pace_bytes = 0;
    atomic_store_explicit(&ndchunks, 0, memory_order_relaxed);
    run_budget = 0;
    /* Every root chunk was read: the threads the runtime did not create
     * may go on (a no-op unless rt__mark_add_sched_roots stopped them). */
    rt__foreign_release();
}

void rt__mark_set_budget(uint64_t objects)
{
    run_budget = objects;
    run_progress0 = atomic_load_explicit(&mark_objs, memory_order_relaxed);
}

bool rt__mark_left_over(void)
{
    return run_cut;
}

/* ---------------------------------------------------------- assists -- */

void rt__mark_assist_open(bool on)
{
    if (on)
        atomic_store_explicit(&mark_progress, 0, memory_order_relaxed);
    atomic_store_explicit(&assist_open, on, memory_order_release);
}

uint64_t rt__mark_progress(void)
{
    return atomic_load_explicit(&mark_progress, memory_order_relaxed);
}

uint64_t rt__mark_scan_progress(void)
{
    return atomic_load_explicit(&scan_progress, memory_order_relaxed);
}

static int assist_slot_take(void)
{
    uint32_t m = atomic_load_explicit(&assist_slots, memory_order_relaxed);
    for (;;) {
        uint32_t free = ~m & ((1u << MAX_ASSISTS) - 1);
        if (free == 0)
            return -1;
        int k = __builtin_ctz(free);
        if (atomic_compare_exchange_weak_explicit(&assist_slots, &m, m | 1u << k,
                                                  memory_order_acquire, memory_order_relaxed))
            return k;
    }
}

/* Assists take work only from the global list, which the mark threads
 * keep stocked while assists are open (drain); they never wait for it:
 * spinning for a hand-off cost GCBench 10 % of its time, the list being
 * empty mostly when the marking is nearly done anyway. */
uint64_t rt__mark_assist(uint64_t budget, uint64_t *read)
{
    *read = 0;
    if (atomic_load_explicit(&gq_nfull, memory_order_relaxed) == 0 ||
        !atomic_load_explicit(&assist_open, memory_order_acquire))
        return 0;
    /* Enter the open run: while inside, it cannot close. */
    uint64_t s = atomic_load_explicit(&run_state, memory_order_acquire);
    do {
        if (s & RS_CLOSED)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&run_state, &s, s + RS_ASSIST1,
                                                    memory_order_acq_rel, memory_order_acquire));
    int k = assist_slot_take();
    if (k < 0) {
        atomic_fetch_sub_explicit(&run_state, RS_ASSIST1, memory_order_release);
        return 0;
    }
    worker *w = &workers[MAX_WORKERS + k];
    uint64_t start = w->marked_bytes, scan0 = w->scanned_bytes;
    /* Bounded by the bytes it reads, not the bytes it marks: rescans of
     * written pages read objects marked already, and an assist that
     * counted marks only once drained the whole queue of them, marking
     * nothing, for up to 6 ms inside an allocation (workload 12). */
    while (w->scanned_bytes - scan0 < budget &&
           !(atomic_load_explicit(&rt__gcstop_epoch, memory_order_relaxed) & 1) &&
           take_packet(w))
        drain(w, scan0 + budget);
    while (w->n > 0) /* what is left goes back to the mark threads */
        give_packet(w, w->n < PACKET_N ? w->n : PACKET_N, false);
    publish(w);
    /* (read before leaving: once the run may close, the next one resets
     * the slot -- TSan) */
    uint64_t got = w->marked_bytes - start;
    *read = w->scanned_bytes - scan0;
    atomic_fetch_and_explicit(&assist_slots, ~(1u << k), memory_order_release);
    /* Leave (release: the packets pushed above come with the state that
     * shows this assist gone). */
    atomic_fetch_sub_explicit(&run_state, RS_ASSIST1, memory_order_release);
    return got;
}

void rt__mark_set_reprotect(bool on)
{
    dchunk_reprotect = on;
}

size_t rt__mark_dirty_pages(void)
{
    return atomic_exchange_explicit(&dchunk_pages, 0, memory_order_relaxed);
}

void rt__mark(rt__markstats *st)
{
    rt__mark_begin(st);
    rt__mark_add_data_roots();
    rt__mark_add_other_roots(false); /* (before the foreign threads stop) */
    rt__mark_add_sched_roots(false);
    rt__mark_run(st, want_workers());
}

