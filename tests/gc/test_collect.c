/*
 * tests/gc/test_collect.c -- the collector's internals: the reciprocal that
 * turns an offset into a slot index is exact for every class, sweeping
 * frees unmarked slots and keeps marked ones (interior pointers, not one
 * past the end), freed slots are reused and come back zeroed, spans with
 * nothing live return to the page heap, repeated cycles over a steady
 * live set keep the heap bounded, and a goroutine's first frames do not
 * keep what the goroutine that started it held in registers, and a
 * concurrent cycle's trigger leaves a fast allocator a short runway.  The black-box tests of the Memory API
 * are in test_api_*.c.
 */
#include <check.h>
#include <stdatomic.h>
#include <string.h>

#include "gc/gc.h"
#include "harness.h"

START_TEST(test_divmul_exact_for_every_class)
{
    rt__sizeclass_init();
    for (int cls = 1; cls <= rt__sizeclass_count(); cls++) {
        const rt__sizeclass *sc = rt__sizeclass_get(cls);
        rt__span s = {0};
        s.divmul = (uint32_t)((((uint64_t)1 << 32) + sc->size - 1) / sc->size);
        size_t span_bytes = (size_t)sc->npages << RT_GC_PAGE_SHIFT;
        for (size_t off = 0; off < span_bytes; off++) {
            uint32_t want = (uint32_t)(off / sc->size);
            uint32_t got = rt__span_index(&s, off);
            if (got != want)
                ck_abort_msg("class %d (size %u): offset %zu gives slot %u, want %u", cls,
                             sc->size, off, got, want);
        }
    }
}
END_TEST

/* Pointers kept where the test can clear them: a global array (data/bss
 * is a root).  Volatile: the compiler must not keep copies elsewhere. */
#define NOBJ 4096
static void *volatile keep[NOBJ];

static void *volatile past[512];
static void *volatile live[512];

static __attribute__((noinline)) void fill(size_t size)
{
    for (int i = 0; i < NOBJ; i++) {
        unsigned char *p = rt_alloc(size);
        memset(p, 0xaa, size);
        keep[i] = p;
    }
}

/* Overwrites a few KiB of dead stack below the caller, so stale copies of
 * pointers in dead frames do not keep objects alive conservatively. */
static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

static bool allocated(void *p)
{
    return rt__gc_object_start((uintptr_t)p, NULL) == p;
}

RT_TEST(test_sweep_frees_unreachable_keeps_reachable)
{
    fill(48);
    void *saved[NOBJ];
    for (int i = 0; i < NOBJ; i++)
        saved[i] = (void *)(~(uintptr_t)keep[i]); /* complemented: not a heap address */
    /* Keep every 4th object: some by its start, some by an interior
     * pointer; drop one kept only by a pointer one past its end. */
    for (int i = 0; i < NOBJ; i++) {
        if (i % 4 == 0)
            continue;
        if (i % 4 == 1)
            keep[i] = (char *)keep[i] + 47; /* interior: last byte */
        else
            keep[i] = NULL;
    }
    scrub_stack();
    rt_gc();
    int freed = 0, kept_bad = 0;
    for (int i = 0; i < NOBJ; i++) {
        void *p = (void *)(~(uintptr_t)saved[i]);
        if (i % 4 <= 1) {
            if (!allocated(p))
                kept_bad++;
            else if (((unsigned char *)p)[5] != 0xaa)
                kept_bad++;
        } else if (!allocated(p)) {
            freed++;
        }
    }
    REQUIRE_EQ(kept_bad, 0);
    /* Conservative scanning may keep a few by accident: almost all go. */
    REQUIRE_MSG(freed > NOBJ / 2 * 9 / 10, "only %d of %d unreachable objects freed", freed,
                NOBJ / 2);
    for (int i = 0; i < NOBJ; i++)
        keep[i] = NULL;
}

/* A goroutine's first run starts with the callee-saved registers of the
 * goroutine that switched to it: its first frames save them on its stack,
 * where they stay while it lives -- a conservative root to whatever they
 * held.  A server goroutine parked in a read kept its dialer's dropped
 * connection alive that way (an outside tester: every 49th of them, fd
 * and all).  Here the switching goroutine holds the object in every
 * callee-saved register it can set when it yields to a fresh goroutine
 * that parks for good; the object must still be collected. */
static _Atomic int regs_fin_ran;
static volatile uintptr_t regs_sink;

static void regs_fin(void *obj)
{
    (void)obj;
    atomic_store(&regs_fin_ran, 1);
}

static __attribute__((noinline)) void parked_with_saved_regs(void *arg)
{
    rt_chan *c = arg;
    /* live across the receive: callee-saved registers, saved (with
     * whatever they held at entry) by this frame's prologue */
    uintptr_t x = (uintptr_t)rt_nanotime(), y = x * 3, z = x ^ 7, w = x + 11;
    rt_chan_recv(c, NULL);
    regs_sink = x + y + z + w;
}

/* rt_yield with p in the callee-saved registers (stack realigned for the
 * call, the red zone skipped: the compiler does not know of it). */
static __attribute__((noinline)) void yield_holding(void *p)
{
#if defined(__x86_64__)
    /* The callee-saved registers are saved and restored here, not
     * clobbered: with all of them clobbered a frame-pointer build has no
     * register left for p.  r12 keeps the stack pointer across the call. */
    __asm__ volatile("movq %0, %%rax\n\t"
                     "subq $128, %%rsp\n\t"
                     "pushq %%rbx\n\t"
                     "pushq %%r12\n\t"
                     "pushq %%r13\n\t"
                     "pushq %%r14\n\t"
                     "pushq %%r15\n\t"
                     "movq %%rsp, %%r12\n\t"
                     "andq $-16, %%rsp\n\t"
                     "movq %%rax, %%rbx\n\t"
                     "movq %%rax, %%r13\n\t"
                     "movq %%rax, %%r14\n\t"
                     "movq %%rax, %%r15\n\t"
                     "call rt_yield\n\t"
                     "movq %%r12, %%rsp\n\t"
                     "popq %%r15\n\t"
                     "popq %%r14\n\t"
                     "popq %%r13\n\t"
                     "popq %%r12\n\t"
                     "popq %%rbx\n\t"
                     "addq $128, %%rsp\n\t"
                     :
                     : "m"(p)
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0",
                       "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
#elif defined(__aarch64__)
    __asm__ volatile("mov x19, %0\n\t"
                     "mov x20, %0\n\t"
                     "mov x21, %0\n\t"
                     "mov x22, %0\n\t"
                     "mov x23, %0\n\t"
                     "mov x24, %0\n\t"
                     "mov x25, %0\n\t"
                     "mov x26, %0\n\t"
                     "mov x27, %0\n\t"
                     "mov x28, %0\n\t"
                     "bl rt_yield\n\t"
                     :
                     : "r"(p)
                     : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
                       "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x19", "x20", "x21",
                       "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30", "v0", "v1",
                       "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20",
                       "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
                       "v31", "memory", "cc");
#else
#error "yield_holding: no register set for this architecture"
#endif
}

static __attribute__((noinline)) void start_fresh_holding(rt_chan *c)
{
    void *obj = rt_alloc(64);
    rt_set_finalizer(obj, regs_fin);
    rt_go(parked_with_saved_regs, c); /* runnext: the yield starts it */
    yield_holding(obj);
}

RT_TEST(test_fresh_goroutine_does_not_keep_the_switchers_registers)
{
    rt_maxprocs(1);
    rt_chan *c = rt_chan_make(0, 0);
    start_fresh_holding(c);
    scrub_stack();
    for (int i = 0; i < 20 && !atomic_load(&regs_fin_ran); i++) {
        rt_gc();
        rt_sleep(5 * RT_MILLISECOND); /* the finalizer goroutine runs */
    }
    REQUIRE(atomic_load(&regs_fin_ran));
    rt_chan_close(c);
}

RT_TEST(test_one_past_the_end_does_not_retain)
{
    /* 64-byte objects in pairs p, q; keep only p + 64 (one past p's end).
     * That word is q's start when q follows p, so q stays; p must go. */
    enum { N = 512 };
    void *hidden[N];
    for (int i = 0; i < N; i++) {
        char *p = rt_alloc(64);
        (void)rt_alloc(64);
        hidden[i] = (void *)(~(uintptr_t)p);
        past[i] = p + 64;
    }
    scrub_stack();
    rt_gc();
    int kept = 0;
    for (int i = 0; i < N; i++)
        if (allocated((void *)(~(uintptr_t)hidden[i])))
            kept++;
    /* Allow a few conservative survivors. */
    REQUIRE_MSG(kept < N / 4, "%d of %d objects kept by one-past-the-end pointers", kept, N);
    for (int i = 0; i < N; i++)
        past[i] = NULL;
}

/* Large buffers of a whole number of pages, each holding its own end
 * pointer (p + size, one past its last byte), only the first kept: the
 * end pointers must not keep the buffers allocated after them (each one's
 * end was the next one's start, and all were kept). */
static void *volatile first_big;

static __attribute__((noinline)) void make_end_chain(void *hidden[], int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        char *p = rt_alloc(size);
        *(char **)p = p + size;
        hidden[i] = (void *)(~(uintptr_t)p);
        if (i == 0)
            first_big = p;
    }
}

RT_TEST(test_end_pointers_do_not_chain_large_objects)
{
    enum { N = 64 };
    static const size_t sizes[] = {64 << 10, 1 << 20};
    for (int k = 0; k < 2; k++) {
        void *hidden[N];
        make_end_chain(hidden, N, sizes[k]);
        scrub_stack();
        rt_gc();
        int kept = 0;
        for (int i = 1; i < N; i++)
            if (allocated((void *)(~(uintptr_t)hidden[i])))
                kept++;
        REQUIRE(allocated((void *)(~(uintptr_t)hidden[0])));
        REQUIRE_MSG(kept <= 2, "%d of %d buffers of %zu bytes kept by end pointers", kept, N - 1,
                    sizes[k]);
        first_big = NULL;
    }
}

RT_TEST(test_freed_slots_reused_zeroed_and_heap_bounded)
{
    rt__heap_statistics st0, st1;
    rt_gc();
    rt__heap_stats(&st0);
    /* 400 MiB of garbage in 64-byte and 4 KiB objects, 2 MiB live. */
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 256; i++) {
            unsigned char *p = rt_alloc(64);
            for (int k = 0; k < 64; k++)
                REQUIRE_EQ(p[k], 0);
            memset(p, 0xee, 64);
        }
        for (int i = 0; i < 512; i++) {
            unsigned char *q = rt_alloc(4096);
            REQUIRE_EQ(q[0], 0);
            REQUIRE_EQ(q[4095], 0);
            memset(q, 0xee, 4096);
            live[i] = q;
        }
    }
    rt_gc();
    rt__heap_stats(&st1);
    size_t grown = (st1.pages_used - st0.pages_used) << RT_GC_PAGE_SHIFT;
    REQUIRE_MSG(grown < (size_t)96 << 20, "heap grew by %zu bytes for 2 MiB live", grown);
    rt_memstats ms;
    rt_read_memstats(&ms);
    REQUIRE(ms.num_gc >= 2);
    REQUIRE(ms.frees > 0);
    for (int i = 0; i < 512; i++)
        live[i] = NULL;
    rt__heap_check();
}

RT_TEST(test_empty_spans_return_to_the_heap)
{
    rt_gc();
    rt__heap_statistics a, b;
    rt__heap_stats(&a);
    for (int i = 0; i < 20000; i++)
        (void)rt_alloc_noscan(1024);
    scrub_stack();
    rt_gc();
    rt__heap_stats(&b);
    /* 20 MB went through; nearly all of it must be free pages again. */
    size_t used_a = a.pages_used - a.pages_free, used_b = b.pages_used - b.pages_free;
    REQUIRE_MSG(used_b <= used_a + 64, "in-use pages %zu before, %zu after", used_a, used_b);
}

/* A concurrent cycle's trigger sits at least 85 % of the way from the
 * marked heap to the goal (collector.c, trigger_for): what a mark phase
 * allocates is black and counts as marked, so a longer runway raised the
 * next goal with it (binary-trees settled at goals of 2.9x its traced heap
 * with Go's 70 %).  A 16 MiB tree stays reachable while this goroutine
 * allocates 16-byte garbage as fast as it can: a runway of what the last
 * phase allocated would be most of the room; every concurrent cycle's
 * trigger is checked.  (The three figures are written together with the
 * world stopped, with the cycle count last, so reads between two equal
 * counts are one cycle's.) */
typedef struct rnode {
    struct rnode *l, *r;
} rnode;

static rnode *rtree(int depth)
{
    rnode *n = rt_new(rnode);
    if (depth > 0) {
        n->l = rtree(depth - 1);
        n->r = rtree(depth - 1);
    }
    return n;
}

static void *volatile runway_sink;

RT_TEST(test_concurrent_trigger_leaves_a_short_runway)
{
    keep[0] = rtree(19); /* 2^20 nodes, 16 MiB */
    int checked = 0;
    int64_t t0 = rt_nanotime();
    uint32_t seen = atomic_load(&rt__gc_nconcurrent);
    while (checked < 6 && rt_nanotime() - t0 < 20 * RT_SECOND) {
        for (int i = 0; i < 4096; i++)
            runway_sink = rt_new(rnode);
        uint32_t c0 = atomic_load(&rt__gc_nconcurrent);
        if (c0 == seen)
            continue;
        uint64_t trig = atomic_load(&rt__gcstat.trigger);
        uint64_t goal = atomic_load(&rt__gcstat.next_gc);
        uint64_t marked = atomic_load(&rt__gcstat.heap_marked);
        if (atomic_load(&rt__gc_nconcurrent) != c0)
            continue; /* another cycle ended meanwhile */
        seen = c0;
        REQUIRE_MSG(goal > marked && trig >= marked && trig <= goal,
                    "marked %llu, trigger %llu, goal %llu", (unsigned long long)marked,
                    (unsigned long long)trig, (unsigned long long)goal);
        uint64_t room = goal - marked;
        REQUIRE_MSG((trig - marked) * 100 >= room * 85 && (trig - marked) * 100 <= room * 95 + 100,
                    "cycle %u: the trigger is %.1f %% of the way from marked %llu to goal %llu",
                    c0, 100.0 * (double)(trig - marked) / (double)room,
                    (unsigned long long)marked, (unsigned long long)goal);
        checked++;
    }
    REQUIRE_MSG(checked >= 3, "%d concurrent cycles in 20 s", checked);
    keep[0] = NULL;
    runway_sink = NULL;
}

/* Large tables of pointers (512 KiB each) rewritten at random places by 4
 * goroutines while concurrent cycles run: the re-cleaning rounds and the
 * final pause rescan their written pages through shadows (mark.c,
 * shadow_rescan), marking only the words that changed since the last
 * rescan.  A changed word the comparison missed would leave its new object
 * unmarked: freed, reused for another slot's object, and caught here by
 * its slot number.  The shadows must have been used. */
typedef struct tobj {
    uintptr_t self;
    int64_t slot, gen, sum;
} tobj;
#define TSLOTS (64 * 1024)
#define TWORKERS 4
#define TKEY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
static tobj **tables[TWORKERS];
static _Atomic int tstop, tbad;
static rt_waitgroup twg;

static tobj *tnew(int64_t slot, int64_t gen)
{
    tobj *o = rt_new(tobj);
    o->self = (uintptr_t)o ^ TKEY;
    o->slot = slot;
    o->gen = gen;
    o->sum = slot * 31 + gen;
    return o;
}

static bool tok(const tobj *o, int64_t slot)
{
    return o != NULL && o->self == ((uintptr_t)o ^ TKEY) && o->slot == slot &&
           o->sum == slot * 31 + o->gen;
}

static void table_worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    tobj **t = rt_alloc(TSLOTS * sizeof *t);
    for (int64_t i = 0; i < TSLOTS; i++)
        t[i] = tnew(i, 0);
    tables[k] = t;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
    int64_t gen = 1;
    while (!atomic_load(&tstop)) {
        for (int j = 0; j < 1000; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t i = (int64_t)(x % TSLOTS);
            if (!tok(t[i], i))
                atomic_fetch_add(&tbad, 1);
            t[i] = tnew(i, gen++);
            (void)rt_alloc(48); /* garbage besides */
        }
        rt_yield();
    }
    for (int64_t i = 0; i < TSLOTS; i++)
        if (!tok(t[i], i))
            atomic_fetch_add(&tbad, 1);
    rt_waitgroup_done(&twg);
}

RT_TEST(test_large_tables_rewritten_while_marking)
{
    int procs = rt_maxprocs(4);
    int pct = rt_set_gc_percent(50);
    uint64_t pages0 = atomic_load(&rt__mark_shadow_pages);
    rt_waitgroup_add(&twg, TWORKERS);
    for (int k = 0; k < TWORKERS; k++)
        rt_go(table_worker, (void *)(intptr_t)k);
    rt_sleep(1500 * RT_MILLISECOND);
    atomic_store(&tstop, 1);
    rt_waitgroup_wait(&twg);
    REQUIRE_EQ(atomic_load(&tbad), 0);
    REQUIRE_MSG(atomic_load(&rt__mark_shadow_pages) > pages0, "no rescan went through a shadow");
    rt_set_gc_percent(pct);
    rt_maxprocs(procs);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Suite *s = suite_create("collect");
    TCase *tc = tcase_create("collect");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_divmul_exact_for_every_class);
    tcase_add_test(tc, test_sweep_frees_unreachable_keeps_reachable);
    tcase_add_test(tc, test_one_past_the_end_does_not_retain);
    tcase_add_test(tc, test_fresh_goroutine_does_not_keep_the_switchers_registers);
    tcase_add_test(tc, test_end_pointers_do_not_chain_large_objects);
    tcase_add_test(tc, test_freed_slots_reused_zeroed_and_heap_bounded);
    tcase_add_test(tc, test_empty_spans_return_to_the_heap);
    tcase_add_test(tc, test_concurrent_trigger_leaves_a_short_runway);
    tcase_add_test(tc, test_large_tables_rewritten_while_marking);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
