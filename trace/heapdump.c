/*
 * trace/heapdump.c -- rt_write_heap_dump: Go's debug.WriteHeapDump, in the
 * "go1.3 heap dump" format (TRACE_FORMATS.md section 11 and Part A's "Heap
 * dump: what the existing readers need"), so that dumptodot, dumptohprof
 * and hview from github.com/randall77/hprof read dumps of C programs.
 *
 * What a dump holds, in section 11's order
 *   params (arena [lo, lo + used), pointer size, ncpu); every allocated
 *   object of every in-use span in address order, each preceded the first
 *   time by the type record it uses; every live goroutine followed by its
 *   frames, innermost first; the OS threads (Ms); one data and one bss
 *   record; otherroots for heap pointers in the ranges registered with
 *   rt_gc_add_root and in the P timer heaps' timers; registered and queued
 *   finalizers; memstats; the heap profile's buckets (tag 16, with the
 *   published counts of pprof's heap profile) and an alloc sample (tag 17)
 *   for every sampled object in the dump; EOF.
 *
 * Types.  C objects carry no type descriptor, and a type record needs an
 * address, a size and a pointer field list.  Every object gets one anyway
 * (dumptohprof drops the edges of objects without a type, Part A):
 *   - rt_new(T) / rt_new_array(T, n) objects: a type named T per slot size
 *     (the heap records the name, not sizeof(T): the type's size is the
 *     slot's, and the same T in two size classes gives two records with the
 *     same name, which the readers allow);
 *   - rt_alloc objects: a type "conservativeN" per slot size N;
 *   - rt_alloc_noscan objects: no type (address 0, kind 0): the readers
 *     call them "noptrN", Go's name for pointer-free objects.
 *   A type's field list is a Ptr field at every word offset that holds a
 *   heap pointer (into an allocated object, as the marker decides) in at
 *   least one of the type's objects: a first pass over the heap ORs the
 *   objects' pointer maps together, the second writes.  So every pointer
 *   the collector would follow from an object is an edge in the readers,
 *   and a word that never held a pointer is not.  Type addresses are
 *   invented (TYPE_BASE + 8 k), small numbers that are no object's.
 *
 * Frames.  A parked goroutine's frames come from rt__callers_g (libunwind
 * from the context rt__ctx_switch saved); frame 0 starts at the saved stack
 * pointer (so the saved callee-saved registers are in it), frame i at
 * frame i-1's canonical frame address, and the outermost frame runs to the
 * top of the stack.  A goroutine in a system call, whose thread owns the
 * stack below its syscallsp, gets one frame [syscallsp, top) named
 * "unknown function"; one that never ran, one empty frame at its entry
 * function (its "sp" is the G record's address, unique).  A goroutine
 * running C code when the world stopped was stopped by gcstop.c's signal:
 * it is dumped as runnable, status 1, as a preempted goroutine is in later
 * Go (Go 1.3 stopped only at safe points and never wrote status 2, and
 * hview exits on one), and its frames are walked from the registers the
 * stop saved.
 * Heap pointers held only in saved registers (those, or the callee-saved
 * ones of rt_syscall_enter) become otherroots "registers of goroutine N".
 * The dumping goroutine shows as waiting, "dumping heap", as in Go 1.3.
 * A frame's field list is every word of it, as TRACE_FORMATS.md section 11
 * has conservative frames (listing only the words that held heap pointers,
 * as objects and segments do, read to an outside tester as frames with no
 * pointers at all).
 *
 * Caveat, shared with allocfreetrace's tracegc: libunwind looks unwind
 * tables up with dl_iterate_phdr when its cache misses, so a thread
 * stopped while holding the loader's lock (inside dlopen, or in an unwind
 * of its own) would make the walk wait for ever.
 *
 * Data and bss.  The readers keep one data and one bss record, so the file
 * parts of every writable PT_LOAD segment of the program and its shared
 * libraries are concatenated into the data record and their zero-fill
 * parts into the bss record (the program's own first; addresses in a
 * record are right for its first piece only).  Field lists again mark the
 * words that hold heap pointers.
 *
 * How it runs.  Like a collection: the cycle semaphore is taken (no cycle
 * runs during a dump), leftover sweeping is finished (so allocated slots
 * are exactly the objects the last cycle kept plus those allocated since),
 * the world is stopped and the shared allocation cache locked.
 * P caches are not flushed: the slot invariant holds for cached spans too.
 * With the world stopped nothing may call malloc (a stopped thread may hold
 * its lock), so the dump is built in memory from mmap/mremap, and nothing
 * is written to fd either (a goroutine of this process may be the one that
 * reads the pipe).  Function names need the symbol table, whose lookups
 * may allocate, so a frame record leaves a hole for its entry pc, pc,
 * continuation pc and name; once the world runs again the holes are filled
 * while the buffer goes to fd.  The memprof buckets are written after it
 * for the same reason (their frames are named), from the samples taken
 * while stopped.  Objects allocated while the dump runs do
 * not appear: the world was stopped.  memstats are read just before the
 * stop (rt_read_memstats stops the world on its own).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "rt.h"
#include "gc/gc.h"
#include "sched/chan.h"
#include "sched/sched.h"
#include "trace/trace.h"

/* Invented type addresses: below mmap_min_addr (64 KiB), never a real
 * object, and two bytes of uvarint in every object record. */
#define TYPE_BASE ((uint64_t)0x1000)
#define RED_ZONE 128 /* x86-64 SysV: a leaf may use 128 bytes below sp */

enum {
    TAG_EOF = 0,
    TAG_OBJECT = 1,
    TAG_OTHERROOT = 2,
    TAG_TYPE = 3,
    TAG_GOROUTINE = 4,
    TAG_FRAME = 5,
    TAG_PARAMS = 6,
    TAG_FINALIZER = 7,
    TAG_OSTHREAD = 9,
    TAG_MEMSTATS = 10,
    TAG_QFINAL = 11,
    TAG_DATA = 12,
    TAG_BSS = 13,
    TAG_MEMPROF = 16,
    TAG_ALLOCSAMPLE = 17,
};
enum { FIELD_PTR = 1 };

#if defined(__x86_64__)
#define THECHAR '6'
#elif defined(__aarch64__)
#define THECHAR '7'
#elif defined(__i386__)
#define THECHAR '8'
#else
#define THECHAR '5'
#endif

/* Reads of stacks (redzones, other goroutines' frames) and globals
 * (redzones) are exempt from the sanitizers, as the marker's are; volatile
 * keeps the compiler from turning the copy loops into memcpy calls, which
 * the sanitizer would check anyway. */
#if defined(__clang__) || defined(__GNUC__)
#define NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize("thread")))
#else
#define NO_SANITIZE
#endif

NO_SANITIZE static inline uintptr_t load_word(uintptr_t a)
{
    return *(const volatile uintptr_t *)a;
}

/* ---------------------------------------------------- mmap'd vectors -- */

typedef struct vec {
    uint8_t *p;
    size_t n, cap;
} vec;

static bool oom; /* a vector could not grow: the dump fails with ENOMEM */

static bool vec_reserve(vec *v, size_t extra)
{
    if (v->n + extra <= v->cap)
        return true;
    if (oom)
        return false;
    size_t nc = v->cap ? v->cap : 1 << 16;
    while (nc < v->n + extra)
        nc *= 2;
    void *p = v->p == NULL
                  ? mmap(NULL, nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : mremap(v->p, v->cap, nc, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
        oom = true;
        return false;
    }
    v->p = p;
    v->cap = nc;
    return true;
}

static void vec_free(vec *v)
{
    if (v->p != NULL)
        munmap(v->p, v->cap);
    *v = (vec){NULL, 0, 0};
}

#define VEC_AT(v, T, i) (((T *)(v).p)[i])
#define VEC_LEN(v, T) ((v).n / sizeof(T))

static void *vec_push(vec *v, size_t size)
{
    if (!vec_reserve(v, size))
        return NULL;
    void *p = v->p + v->n;
    v->n += size;
    return p;
}

/* ------------------------------------------------------ the dump state -- */

typedef struct piece {
    uintptr_t lo, hi;
} piece;

typedef struct tentry {
    const char *name; /* rt_new's T, or NULL: "conservativeN" */
    size_t size;
    size_t maskoff;   /* first uint64_t of its pointer map in masks */
    bool emitted;
} tentry;

/* A hole in the output where a frame's entry pc, pc, continuation pc and
 * name go once symbols may be looked up. */
typedef struct hole {
    size_t off;       /* position in out */
    uintptr_t pc;     /* 0: unknown function */
    uintptr_t lookup; /* the address to symbolize */
} hole;

static uint32_t dump_sema = 1; /* one dump at a time (the state below) */

static struct {
    vec out;       /* the dump, with holes */
    vec holes;     /* hole[] */
    vec data, bss; /* piece[] */
    vec types;     /* tentry[] */
    vec hash;      /* uint32_t[]: index + 1 into types, 0 empty */
    size_t hashcap;
    vec masks;     /* uint64_t[] */
    vec samples;   /* uintptr_t[2]: a sampled object, its memprof bucket */
    uintptr_t a_lo, a_size;
    rt__span **map;
    rt_g *self;
    uintptr_t self_sp;
    int self_n;
    uintptr_t self_pcs[RT_MAX_FRAMES + 1], self_cfas[RT_MAX_FRAMES + 1];
    rt_memstats ms;
} D;

/* ------------------------------------------------------------ encoding -- */

static void put_uv(uint64_t v)
{
    if (!vec_reserve(&D.out, 10))
        return;
    uint8_t *b = D.out.p + D.out.n;
    size_t k = 0;
    while (v >= 0x80) {
        b[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[k++] = (uint8_t)v;
    D.out.n += k;
}

static void put_bytes(const void *s, size_t n)
{
    uint8_t *p = vec_push(&D.out, n);
    if (p != NULL)
        memcpy(p, s, n);
}

static void put_str(const char *s)
{
    size_t n = strlen(s);
    put_uv(n);
    put_bytes(s, n);
}

/* Copies [lo, lo + n) of live memory (n a multiple of the word size, lo
 * aligned) into the output. */
NO_SANITIZE static void put_mem(uintptr_t lo, size_t n)
{
    uint8_t *p = vec_push(&D.out, n);
    if (p == NULL)
        return;
    for (size_t k = 0; k < n; k += sizeof(uintptr_t)) {
        uintptr_t w = load_word(lo + k);
        memcpy(p + k, &w, sizeof w);
    }
}

/* ------------------------------------------------------ heap pointers -- */

static inline uintptr_t word_down(uintptr_t a)
{
    return a & ~(uintptr_t)(sizeof(uintptr_t) - 1);
}

static inline uintptr_t word_up(uintptr_t a)
{
    return word_down(a + sizeof(uintptr_t) - 1);
}


/* Whether v points into an allocated object (the marker's test). */
static bool heap_ptr(uintptr_t v)
{
    uintptr_t off = v - D.a_lo;
    if (off >= D.a_size)
        return false;
    rt__span *s = D.map[off >> RT_GC_PAGE_SHIFT];
    if (s == NULL || s->state != RT_SPAN_INUSE || !rt__span_contains(s, v))
        return false;
    uint32_t i = rt__span_index(s, v - s->base);
    return i < s->nelems && rt__span_slot_allocated(s, i);
}

/* Field list of the heap pointers in [lo, lo + n), offsets from base
 * (which is where the record's contents start). */
static void put_ptr_fields(uintptr_t lo, size_t n, size_t base)
{
    for (size_t k = 0; k + sizeof(uintptr_t) <= n; k += sizeof(uintptr_t))
        if (heap_ptr(load_word(lo + k))) {
            put_uv(FIELD_PTR);
            put_uv(base + k);
        }
}

/* --------------------------------------------------------------- types -- */

static size_t type_hash(const char *name, size_t size)
{
    uint64_t x = ((uint64_t)(uintptr_t)name * 0x9e3779b97f4a7c15ULL) ^
                 ((uint64_t)size * 0xc2b2ae3d27d4eb4fULL);
    return (size_t)(x ^ (x >> 29));
}

static bool hash_grow(void)
{
    size_t nc = D.hashcap ? D.hashcap * 2 : 1024;
    vec_free(&D.hash);
    if (!vec_reserve(&D.hash, nc * sizeof(uint32_t)))
        return false; /* fresh anonymous pages are zero */
    D.hash.n = nc * sizeof(uint32_t);
    D.hashcap = nc;
    for (size_t t = 0; t < VEC_LEN(D.types, tentry); t++) {
        tentry *e = &VEC_AT(D.types, tentry, t);
        size_t h = type_hash(e->name, e->size) & (nc - 1);
        while (VEC_AT(D.hash, uint32_t, h) != 0)
            h = (h + 1) & (nc - 1);
        VEC_AT(D.hash, uint32_t, h) = (uint32_t)(t + 1);
    }
    return true;
}

/* The type of the objects named name (NULL: untyped) of a slot size; made
 * if create.  Returns its index or -1. */
static long type_get(const char *name, size_t size, bool create)
{
    size_t nt = VEC_LEN(D.types, tentry);
    if (D.hashcap == 0 || (create && (nt + 1) * 2 > D.hashcap))
        if (!hash_grow())
            return -1;
    size_t h = type_hash(name, size) & (D.hashcap - 1);
    for (;;) {
        uint32_t k = VEC_AT(D.hash, uint32_t, h);
        if (k == 0)
            break;
        tentry *e = &VEC_AT(D.types, tentry, k - 1);
        if (e->name == name && e->size == size)
            return (long)(k - 1);
        h = (h + 1) & (D.hashcap - 1);
    }
    if (!create)
        return -1;
    size_t nw = (size / sizeof(uintptr_t) + 63) / 64;
    size_t off = VEC_LEN(D.masks, uint64_t);
    if (vec_push(&D.masks, nw * sizeof(uint64_t)) == NULL)
        return -1; /* fresh pages: the map starts clear */
    tentry *e = vec_push(&D.types, sizeof(tentry));
    if (e == NULL)
        return -1;
    *e = (tentry){name, size, off, false};
    VEC_AT(D.hash, uint32_t, h) = (uint32_t)(nt + 1);
    return (long)nt;
}

static uint64_t type_addr(long t)
{
    return TYPE_BASE + 8 * (uint64_t)t;
}

/* Pass 1: the pointer maps of every type. */
static void types_span(rt__span *s, void *ctx)
{
    (void)ctx;
    const char *last = NULL;
    long lt = -2;
    for (uint32_t i = 0; i < s->nelems; i++) {
        if (!rt__span_slot_allocated(s, i))
            continue;
        const char *name = rt__gc_slot_type(s, i);
        if (s->noscan && name == NULL)
            continue;
        if (lt == -2 || name != last) {
            lt = type_get(name, s->elemsize, true);
            last = name;
        }
        if (lt < 0)
            return;
        if (s->noscan)
            continue;
        uintptr_t obj = s->base + (uintptr_t)i * s->elemsize;
        size_t off = VEC_AT(D.types, tentry, lt).maskoff;
        uint64_t *mask = &VEC_AT(D.masks, uint64_t, off);
        size_t nwords = s->elemsize / sizeof(uintptr_t);
        for (size_t w = 0; w < nwords; w++)
            if (heap_ptr(load_word(obj + w * sizeof(uintptr_t))))
                mask[w / 64] |= (uint64_t)1 << (w % 64);
    }
}

static void put_type(long t)
{
    tentry *e = &VEC_AT(D.types, tentry, t);
    e->emitted = true;
    size_t nwords = e->size / sizeof(uintptr_t);
    size_t off = e->maskoff;
    bool ptrs = false;
    for (size_t w = 0; w < (nwords + 63) / 64; w++)
        ptrs |= VEC_AT(D.masks, uint64_t, off + w) != 0;
    put_uv(TAG_TYPE);
    put_uv(type_addr(t));
    put_uv(e->size);
    if (e->name != NULL) {
        put_str(e->name);
    } else {
        /* "conservativeN", without stdio (a stopped thread may hold a
         * libc lock) */
        char name[40] = "conservative", digits[24];
        size_t k = 0, len = strlen(name);
        for (size_t v = e->size; k == 0 || v > 0; v /= 10)
            digits[k++] = (char)('0' + v % 10);
        while (k > 0)
            name[len++] = digits[--k];
        name[len] = 0;
        put_str(name);
    }
    put_uv(e->size > sizeof(uintptr_t) || ptrs); /* an eface would hold a pointer */
    for (size_t w = 0; w < nwords; w++)
        if (VEC_AT(D.masks, uint64_t, off + w / 64) >> (w % 64) & 1) {
            put_uv(FIELD_PTR);
            put_uv(w * sizeof(uintptr_t));
        }
    put_uv(0);
}

/* Pass 2: the objects, each after its type's record. */
static void objects_span(rt__span *s, void *ctx)
{
    (void)ctx;
    const char *last = NULL;
    long lt = -2;
    for (uint32_t i = 0; i < s->nelems; i++) {
        if (!rt__span_slot_allocated(s, i))
            continue;
        const char *name = rt__gc_slot_type(s, i);
        long t = -1;
        if (!s->noscan || name != NULL) {
            if (lt == -2 || name != last) {
                lt = type_get(name, s->elemsize, false);
                last = name;
            }
            t = lt;
            if (t >= 0 && !VEC_AT(D.types, tentry, t).emitted)
                put_type(t);
        }
        uintptr_t obj = s->base + (uintptr_t)i * s->elemsize;
        put_uv(TAG_OBJECT);
        put_uv(obj);
        put_uv(t >= 0 ? type_addr(t) : 0);
        put_uv(0); /* kind: a regular object of its type */
        put_uv(s->elemsize);
        put_bytes((const void *)obj, s->elemsize); /* the heap: no redzones */
    }
}

/* ---------------------------------------------------------- goroutines -- */

static void put_hole(uintptr_t pc, uintptr_t lookup)
{
    hole *h = vec_push(&D.holes, sizeof(hole));
    if (h != NULL)
        *h = (hole){D.out.n, pc, lookup};
}

static void put_frame(uintptr_t sp, uint64_t depth, uintptr_t childsp, uintptr_t fp,
                      uintptr_t pc, uintptr_t lookup)
{
    put_uv(TAG_FRAME);
    put_uv(sp);
    put_uv(depth);
    put_uv(childsp);
    put_uv(fp - sp);
    put_mem(sp, fp - sp);
    put_hole(pc, lookup); /* entry pc, pc, continuation pc, name */
    /* A conservative frame: every word is a Ptr field (section 11). */
    for (size_t k = 0; k + sizeof(uintptr_t) <= fp - sp; k += sizeof(uintptr_t)) {
        put_uv(FIELD_PTR);
        put_uv(k);
    }
    put_uv(0);
}

/* "registers of goroutine N" (and the like): otherroots for the heap
 * pointers in words no frame holds, such as a stopped goroutine's saved
 * registers. */
static void put_reg_roots(const char *what, int64_t goid, const uintptr_t *regs, size_t n)
{
    char desc[64], digits[24];
    size_t len = strlen(what), k = 0;
    memcpy(desc, what, len);
    for (uint64_t v = (uint64_t)goid; k == 0 || v > 0; v /= 10)
        digits[k++] = (char)('0' + v % 10);
    while (k > 0)
        desc[len++] = digits[--k];
    desc[len] = 0;
    for (size_t i = 0; i < n; i++)
        if (heap_ptr(regs[i])) {
            put_uv(TAG_OTHERROOT);
            put_str(desc);
            put_uv(regs[i]);
        }
}

/*
 * A goroutine running C code when the world stopped: its thread was
 * stopped by gcstop.c's signal, which left the interrupted registers and
 * stack pointer in the M.  Its frames are walked from those registers;
 * frame 0 starts a red zone below the interrupted sp (a leaf may keep
 * data there).  A thread that stopped at the end of a no-stop region left
 * no registers (they are spilled in its frames): one frame from its sp,
 * as is any case where the walk finds nothing.  Returns the frame count;
 * *sp0 is frame 0's start.
 */
static bool stopped_here(rt_g *gp)
{
    rt_m *mp = gp->m;
    return mp != NULL && mp->gcstopping && mp->p != NULL && mp->p->sigstopped &&
           mp->gcstop_sp >= gp->stack.lo && mp->gcstop_sp < gp->stack.hi;
}

static int walk_stopped(rt_g *gp, uintptr_t *pcs, uintptr_t *cfas, uintptr_t *sp0)
{
    *sp0 = (uintptr_t)gp->sp; /* checked by the caller: the stack's bottom if stale */
    if (!stopped_here(gp))
        return 0;
    rt_m *mp = gp->m;
    uintptr_t sp = mp->gcstop_sp;
    *sp0 = sp - RED_ZONE >= gp->stack.lo ? sp - RED_ZONE : gp->stack.lo;
    const uintptr_t *r = mp->gcstop_regs;
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
#if defined(__x86_64__)
    if (r[REG_RIP] == 0)
        return 0;
    for (int i = 0; i <= REG_RIP; i++)
        uc.uc_mcontext.gregs[i] = (greg_t)r[i];
#elif defined(__aarch64__)
    if (r[32] == 0)
        return 0;
    for (int i = 0; i < 31; i++)
        uc.uc_mcontext.regs[i] = r[i];
    uc.uc_mcontext.sp = r[31];
    uc.uc_mcontext.pc = r[32];
#else
    return 0;
#endif
    return rt__callers_sig(&uc, pcs, cfas, RT_MAX_FRAMES + 1);
}

static void put_frames(rt_g *gp, uintptr_t sp0, uintptr_t top, int n, const uintptr_t *pcs,
                       const uintptr_t *cfas, bool exact0);

static void dump_g(rt_g *gp, void *ctx)
{
    (void)ctx;
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (gp->is_g0 || st == RT_GDEAD || st == RT_GIDLE)
        return;
    uintptr_t pcs[RT_MAX_FRAMES + 1], cfas[RT_MAX_FRAMES + 1];
    int n = 0;
    uintptr_t sp0, top = gp->stack.hi;
    uint64_t status = st;
    const char *reason = st == RT_GWAITING && gp->waitreason ? gp->waitreason : "";
    bool never_ran = false, exact0 = false;
    if (gp == D.self) {
        n = D.self_n;
        memcpy(pcs, D.self_pcs, (size_t)n * sizeof *pcs);
        memcpy(cfas, D.self_cfas, (size_t)n * sizeof *cfas);
        sp0 = D.self_sp;
        status = RT_GWAITING;
        reason = "dumping heap";
    } else if (st == RT_GSYSCALL) {
        sp0 = gp->syscallsp;
    } else if (st == RT_GRUNNING) {
        n = walk_stopped(gp, pcs, cfas, &sp0);
        exact0 = n > 0;
        status = RT_GRUNNABLE; /* preempted; hview exits on a running one */
    } else if (gp->sp == NULL || top == 0) {
        sp0 = (uintptr_t)gp;
        never_ran = true;
    } else {
        sp0 = (uintptr_t)gp->sp;
        if (st == RT_GRUNNABLE || st == RT_GWAITING)
            n = rt__callers_g(gp, pcs, cfas, RT_MAX_FRAMES + 1);
    }
    sp0 = word_down(sp0); /* an interrupted sp need not be aligned */
    if (!never_ran && (sp0 < gp->stack.lo || sp0 > top)) {
        sp0 = (uintptr_t)gp; /* no usable stack pointer: an empty frame */
        top = sp0;
        n = 0;
    }
    if (never_ran)
        top = sp0;

    put_uv(TAG_GOROUTINE);
    put_uv((uintptr_t)gp);
    put_uv(sp0);
    put_uv((uint64_t)gp->goid);
    put_uv(gp->gopc);
    put_uv(status);
    put_uv(gp->is_system);
    put_uv(0); /* isbackground */
    put_uv(gp->waitsince > 0 ? (uint64_t)gp->waitsince : 0);
    put_str(reason);
    put_uv((uintptr_t)gp->arg); /* the closure context: rt_go's argument */
    put_uv((uintptr_t)gp->m);
    put_uv(0); /* defers */
    put_uv(0); /* panics */

    if (never_ran || n == 0) {
        uintptr_t pc = never_ran ? (uintptr_t)gp->fn : 0;
        put_frame(sp0, 0, 0, top, pc, pc);
    } else {
        put_frames(gp, sp0, top, n, pcs, cfas, exact0);
    }
    /* what the G record holds besides ctxt: a waker's parameter */
    if (heap_ptr((uintptr_t)gp->param))
        put_reg_roots("record of goroutine ", gp->goid, &(uintptr_t){(uintptr_t)gp->param}, 1);
    /* registers that no frame holds */
    if (st == RT_GSYSCALL && gp->m != NULL)
        put_reg_roots("syscall registers of goroutine ", gp->goid, gp->m->syscallregs,
                      RT_SYSCALL_NREGS);
    else if (st == RT_GRUNNING && gp != D.self && stopped_here(gp))
        put_reg_roots("registers of goroutine ", gp->goid, gp->m->gcstop_regs,
                      RT_GCSTOP_NREGS);
}

/* Frames 0..n-1 of gp: frame 0 from sp0, each next one from the previous
 * one's canonical frame address, the last one up to top. */
static void put_frames(rt_g *gp, uintptr_t sp0, uintptr_t top, int n, const uintptr_t *pcs,
                       const uintptr_t *cfas, bool exact0)
{
    uintptr_t lo = sp0, child = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t fp = word_down(cfas[i]);
        bool last = i == n - 1 || fp < lo || fp > top;
        if (last)
            fp = top; /* the outermost frame runs to the top of the stack */
        uintptr_t pc = pcs[i];
        uintptr_t lookup = pc == (uintptr_t)gp->fn || pc == 0 || (i == 0 && exact0) ? pc : pc - 1;
        put_frame(lo, (uint64_t)i, child, fp, pc, lookup);
        if (last)
            break;
        child = lo;
        lo = fp;
    }
}

static void dump_m(rt_m *mp, void *ctx)
{
    (void)ctx;
    put_uv(TAG_OSTHREAD);
    put_uv((uintptr_t)mp);
    put_uv((uint64_t)mp->id);
    put_uv((uint64_t)__atomic_load_n(&mp->tid, __ATOMIC_ACQUIRE)); /* set by the M itself */
}

/* -------------------------------------------------------- data and bss -- */

static void add_piece(vec *v, uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return;
    piece *p = vec_push(v, sizeof(piece));
    if (p != NULL)
        *p = (piece){lo, hi};
}

/* Before the stop (rt__writable_segments takes the loader's lock). */
static void add_segment(uintptr_t lo, uintptr_t fileend, uintptr_t end, void *ctx)
{
    (void)ctx;
    uintptr_t mid = word_up(fileend);
    uintptr_t hi = word_up(end);
    add_piece(&D.data, word_down(lo), mid < hi ? mid : hi);
    add_piece(&D.bss, mid, hi);
}

static void put_segment(int tag, const vec *v)
{
    size_t np = VEC_LEN(*v, piece), total = 0;
    for (size_t k = 0; k < np; k++)
        total += VEC_AT(*v, piece, k).hi - VEC_AT(*v, piece, k).lo;
    put_uv((uint64_t)tag);
    put_uv(np > 0 ? VEC_AT(*v, piece, 0).lo : 0);
    put_uv(total);
    for (size_t k = 0; k < np; k++)
        put_mem(VEC_AT(*v, piece, k).lo, VEC_AT(*v, piece, k).hi - VEC_AT(*v, piece, k).lo);
    size_t base = 0;
    for (size_t k = 0; k < np; k++) {
        const piece *p = &VEC_AT(*v, piece, k);
        put_ptr_fields(p->lo, p->hi - p->lo, base);
        base += p->hi - p->lo;
    }
    put_uv(0);
}

/* -------------------------------------------------- roots, finalizers -- */

static void put_registered(uintptr_t lo, uintptr_t hi, void *ctx)
{
    (void)ctx;
    for (uintptr_t a = word_up(lo); a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t v = load_word(a);
        if (heap_ptr(v)) {
            put_uv(TAG_OTHERROOT);
            put_str("rt_gc_add_root");
            put_uv(v);
        }
    }
}

/* The P timer heaps: a timer and its argument keep objects alive. */
static void put_timer_roots(void)
{
    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt__lock_acquire(&pp->timers.lock);
        for (uint32_t j = 0; j < pp->timers.len; j++) {
            rt__timer *t = pp->timers.heap[j].t;
            uintptr_t v[2] = {(uintptr_t)t, (uintptr_t)t->arg};
            for (int k = 0; k < 2; k++)
                if (heap_ptr(v[k])) {
                    put_uv(TAG_OTHERROOT);
                    put_str("timer");
                    put_uv(v[k]);
                }
        }
        rt__lock_release(&pp->timers.lock);
    }
}

static void put_finalizer(uintptr_t obj, void (*f)(void *), bool queued, void *ctx)
{
    (void)ctx;
    put_uv(queued ? TAG_QFINAL : TAG_FINALIZER);
    put_uv(obj);
    put_uv((uintptr_t)f); /* the "FuncVal": C has the code pointer only */
    put_uv((uintptr_t)f);
    put_uv(0); /* argument type */
    put_uv(0); /* object type */
}

static void put_memstats(const rt_memstats *ms)
{
    const uint64_t v[24] = {
        ms->alloc,        ms->total_alloc,  ms->sys,          ms->lookups,
        ms->mallocs,      ms->frees,        ms->heap_alloc,   ms->heap_sys,
        ms->heap_idle,    ms->heap_inuse,   ms->heap_released, ms->heap_objects,
        ms->stack_inuse,  ms->stack_sys,    ms->mspan_inuse,  ms->mspan_sys,
        ms->mcache_inuse, ms->mcache_sys,   ms->buckhash_sys, ms->gc_sys,
        ms->other_sys,    ms->next_gc,      ms->last_gc,      ms->pause_total_ns,
    };
    put_uv(TAG_MEMSTATS);
    for (int i = 0; i < 24; i++)
        put_uv(v[i]);
    for (int i = 0; i < 256; i++)
        put_uv(ms->pause_ns[i]);
    put_uv(ms->num_gc);
}

/* The heap profile's sampled objects (memprof.c), with the world stopped:
 * mmap'd memory only. */
static void add_sample(uintptr_t obj, uintptr_t bucket, void *ctx)
{
    (void)ctx;
    uintptr_t *p = vec_push(&D.samples, 2 * sizeof(uintptr_t));
    if (p != NULL) {
        p[0] = obj;
        p[1] = bucket;
    }
}

/* ------------------------------------------------------ the stopped part */

static void build(void)
{
    D.a_lo = rt__arena_lo;
    D.a_size = atomic_load_explicit(&rt__arena_used, memory_order_acquire);
    D.map = rt__pagemap;
    if (D.map == NULL)
        D.a_size = 0;

    put_bytes("go1.3 heap dump\n", 16);
    put_uv(TAG_PARAMS);
    put_uv(0); /* little-endian (x86-64, aarch64 Linux) */
    put_uv(sizeof(uintptr_t));
    put_uv(sizeof(struct rt_chan));
    put_uv(D.a_lo);
    put_uv(D.a_lo + D.a_size);
    put_uv(THECHAR);
    put_str("");
    put_uv((uint64_t)rt__ncpu());

    if (D.a_size > 0) {
        rt__heap_foreach_inuse(types_span, NULL);
        rt__heap_foreach_inuse(objects_span, NULL);
    }
    rt__for_each_g(dump_g, NULL);
    rt__for_each_m(dump_m, NULL);
    put_segment(TAG_DATA, &D.data);
    put_segment(TAG_BSS, &D.bss);
    rt__registered_roots(put_registered, NULL);
    put_timer_roots();
    rt__finalizers_foreach(put_finalizer, NULL);
    put_memstats(&D.ms);
    /* The memprof records and EOF follow once the world runs (write_out):
     * a bucket's frames need symbols.  The samples are taken here, so
     * that each is an object of this dump. */
    rt__memprof_foreach_sample(add_sample, NULL);
}

/* ---------------------------------------------------------- writing out -- */

/* The write buffer: mmap'd per dump, not static -- copies of objects left
 * in the bss would show in the next dump's bss record as false roots. */
#define WBUF_SIZE ((size_t)1 << 16)
static uint8_t *wbuf; /* under dump_sema */
static size_t wn;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush(int fd)
{
    int rc = write_all(fd, wbuf, wn);
    wn = 0;
    return rc;
}

static int emit(int fd, const uint8_t *p, size_t n)
{
    if (wn + n > WBUF_SIZE) {
        int rc = flush(fd);
        if (rc < 0)
            return rc;
        if (n > WBUF_SIZE)
            return write_all(fd, p, n);
    }
    memcpy(wbuf + wn, p, n);
    wn += n;
    return 0;
}

static size_t enc_uv(uint8_t *b, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        b[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[k++] = (uint8_t)v;
    return k;
}

static int fill_hole(int fd, const hole *h)
{
    rt__sym s;
    memset(&s, 0, sizeof s);
    bool ok = h->pc != 0 && rt__symbolize(h->lookup, &s) && s.name != NULL;
    const char *name = ok ? s.name : "unknown function";
    size_t len = strlen(name);
    uint8_t b[40];
    size_t k = enc_uv(b, ok ? s.entry : 0);
    k += enc_uv(b + k, h->pc);
    k += enc_uv(b + k, h->pc); /* continuation pc: where it resumes */
    k += enc_uv(b + k, len);
    int rc = emit(fd, b, k);
    return rc < 0 ? rc : emit(fd, (const uint8_t *)name, len);
}

static int write_holes(int fd, size_t *posp);

static int emit_str(int fd, const char *str)
{
    uint8_t b[10];
    size_t n = strlen(str);
    int rc = emit(fd, b, enc_uv(b, n));
    return rc < 0 ? rc : emit(fd, (const uint8_t *)str, n);
}

/* A memprof bucket record (tag 16): its frames symbolized as Go 1.3's
 * dumpmemprof does -- lines at pc - 1 after the first frame (return
 * addresses), "0x..." and "?" for a pc no function holds. */
static int put_bucket(const rt__memprof_bucket *b, void *ctx)
{
    int fd = *(const int *)ctx;
    uint8_t buf[40];
    size_t k = enc_uv(buf, TAG_MEMPROF);
    k += enc_uv(buf + k, b->id);
    k += enc_uv(buf + k, b->size);
    k += enc_uv(buf + k, (uint64_t)b->n);
    int rc = emit(fd, buf, k);
    for (int i = 0; i < b->n && rc == 0; i++) {
        uintptr_t pc = b->pcs[i];
        rt__sym s;
        memset(&s, 0, sizeof s);
        char hex[2 + 2 * sizeof(uintptr_t) + 1];
        const char *name = hex, *file = "?";
        uint64_t line = 0;
        if (rt__symbolize(i > 0 && pc > 0 ? pc - 1 : pc, &s) && s.name != NULL) {
            name = s.name;
            if (s.file != NULL) {
                file = s.file;
                line = (uint64_t)s.line;
            }
        } else {
            snprintf(hex, sizeof hex, "0x%lx", (unsigned long)pc);
        }
        rc = emit_str(fd, name);
        if (rc == 0)
            rc = emit_str(fd, file);
        if (rc == 0)
            rc = emit(fd, buf, enc_uv(buf, line));
    }
    if (rc == 0) {
        k = enc_uv(buf, b->allocs);
        k += enc_uv(buf + k, b->frees);
        rc = emit(fd, buf, k);
    }
    return rc;
}

/* Section 11's last records: memprof buckets, then alloc samples, then
 * EOF.  Every bucket is written (buckets are never freed, so each
 * sample's is among them). */
static int write_memprof(int fd)
{
    int rc = rt__memprof_foreach_bucket(put_bucket, &fd);
    for (size_t i = 0; rc == 0 && i < D.samples.n / (2 * sizeof(uintptr_t)); i++) {
        const uintptr_t *p = (const uintptr_t *)D.samples.p + 2 * i;
        uint8_t buf[24];
        size_t k = enc_uv(buf, TAG_ALLOCSAMPLE);
        k += enc_uv(buf + k, p[0]);
        k += enc_uv(buf + k, p[1]);
        rc = emit(fd, buf, k);
    }
    if (rc == 0) {
        uint8_t eof = TAG_EOF;
        rc = emit(fd, &eof, 1);
    }
    return rc;
}

static int write_out(int fd)
{
    size_t pos = 0;
    wn = 0;
    wbuf = mmap(NULL, WBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (wbuf == MAP_FAILED)
        return -ENOMEM;
    int rc = write_holes(fd, &pos);
    if (rc == 0)
        rc = emit(fd, D.out.p + pos, D.out.n - pos);
    if (rc == 0)
        rc = write_memprof(fd);
    if (rc == 0)
        rc = flush(fd);
    munmap(wbuf, WBUF_SIZE);
    wbuf = NULL;
    return rc;
}

/* Everything up to the last hole, the holes filled in. */
static int write_holes(int fd, size_t *posp)
{
    size_t pos = 0;
    for (size_t i = 0; i < VEC_LEN(D.holes, hole); i++) {
        const hole *h = &VEC_AT(D.holes, hole, i);
        int rc = emit(fd, D.out.p + pos, h->off - pos);
        if (rc == 0)
            rc = fill_hole(fd, h);
        if (rc < 0)
            return rc;
        pos = h->off;
    }
    *posp = pos;
    return 0;
}

/* --------------------------------------------------------------- rt.h ---- */

/* On a goroutine: the whole dump.  Its own frame is the dumping
 * goroutine's innermost frame. */
static __attribute__((noinline)) int dump_on_goroutine(int fd)
{
    rt__semacquire(&dump_sema, false, 0, 0);
    D.self = rt__getg();
    D.self_sp = rt__current_sp();
    D.self_n = rt__callers(0, D.self_pcs, D.self_cfas, RT_MAX_FRAMES + 1);
    oom = false;

    rt__writable_segments(add_segment, NULL);
    rt_read_memstats(&D.ms);
    rt__symtab_init(); /* idempotent; lookups come after the stop anyway */

    rt__gc_cycle_lock();
    while (rt__sweep_one()) {
    }
    /* As the collector: the shared cache's lock (threads without a P are
     * not stopped) is taken after the stop -- held into it, it would make
     * this M unstoppable by a concurrent stop -- and dropped before the
     * restart. */
    rt__gc_stopworld();
    rt__shared_cache_lock();
    build();
    rt__shared_cache_unlock();
    (void)rt__gc_startworld();
    rt__gc_cycle_unlock();

    int rc = oom ? -ENOMEM : write_out(fd);

    vec_free(&D.out);
    vec_free(&D.holes);
    vec_free(&D.data);
    vec_free(&D.bss);
    vec_free(&D.types);
    vec_free(&D.hash);
    vec_free(&D.masks);
    vec_free(&D.samples);
    D.hashcap = 0;
    D.self = NULL;
    rt__semrelease(&dump_sema, false, 0);
    __asm__ volatile("" ::: "memory"); /* keep the frame (no tail call) */
    return rc;
}

typedef struct dump_request {
    rt__note done;
    int fd, rc;
} dump_request;

static void dump_goroutine(void *arg)
{
    dump_request *r = arg;
    r->rc = dump_on_goroutine(r->fd);
    rt__note_wakeup(&r->done);
}

int rt_write_heap_dump(int fd)
{
    if (fd < 0)
        return -EBADF;
    if (rt__getg() != NULL)
        return dump_on_goroutine(fd);
    /* A thread outside the scheduler cannot stop the world: a runtime
     * goroutine dumps for it (as rt_gc does).  main_started, not running:
     * goroutine 1 may start a thread before rt_main sets running. */
    if (!atomic_load(&rt__sched.main_started) || atomic_load(&rt__sched.stopping))
        return -EAGAIN;
    dump_request r = {.fd = fd, .rc = 0};
    rt__note_clear(&r.done);
    rt__go_system(dump_goroutine, &r);
    rt__note_sleep(&r.done);
    return r.rc;
}
