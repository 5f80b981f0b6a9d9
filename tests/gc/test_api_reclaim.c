/*
 * tests/gc/test_api_reclaim.c -- garbage is reclaimed (black-box: rt.h and
 * the harness only).
 *
 * After rt_gc the frees counter has risen and heap_alloc is back near the
 * live size; allocating 4 GiB of garbage in 1 MiB and in 64-byte pieces
 * keeps the heap bounded; 256 MiB and 100 MiB objects come zeroed, work and
 * are reclaimed; rt_free_os_memory gives pages back (RSS falls,
 * heap_released rises); memory handed out again after a collection is
 * zeroed.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "gcapi.h"

/* Slots in bss for the tests' roots. */
static void *volatile g_slot[8];

#define MiB ((size_t)1 << 20)

static rt_memstats *stats(void)
{
    static rt_memstats ms; /* bss: plain numbers, retains nothing */
    rt_read_memstats(&ms);
    return &ms;
}

/* ---------------------------------------------------- garbage goes away -- */

enum { SMALL_N = 100000, MID_N = 1000 };

static void make_garbage(void *arg)
{
    (void)arg;
    void **head = NULL;
    for (int i = 0; i < SMALL_N; i++) {
        void **p = rt_alloc(64);
        p[0] = head;
        head = p;
    }
    for (int i = 0; i < MID_N; i++) {
        void **p = rt_alloc(10 << 10);
        p[0] = head;
        head = p;
    }
}

RT_TEST(test_garbage_is_reclaimed)
{
    rt_gc();
    rt_memstats ms0 = *stats();
    on_goroutine(make_garbage, NULL);
    rt_memstats ms1 = *stats();
    REQUIRE_GE(ms1.mallocs - ms0.mallocs, SMALL_N + MID_N);
    scrub_stack();
    rt_gc();
    rt_gc();
    rt_memstats ms2 = *stats();
    REQUIRE_GE(ms2.num_gc, ms0.num_gc + 2);
    REQUIRE_MSG(ms2.frees - ms0.frees >= (SMALL_N + MID_N) * 95ull / 100,
                "only %llu of %d objects freed",
                (unsigned long long)(ms2.frees - ms0.frees), SMALL_N + MID_N);
    /* 16 MB were allocated; the heap is back where it was (1 MB slack) */
    REQUIRE_MSG(ms2.heap_alloc <= ms0.heap_alloc + MiB,
                "heap_alloc %llu after collection, %llu before the garbage",
                (unsigned long long)ms2.heap_alloc,
                (unsigned long long)ms0.heap_alloc);
    REQUIRE_LE(ms2.heap_objects, ms0.heap_objects + (SMALL_N + MID_N) / 100);
}

/* Overlapping rt_gc calls share a cycle that began after each call, as
 * Go's runtime.GC's do: 500 goroutines calling it at once ran 500 cycles
 * back to back (3,000 took 12.8 s, Go 82 ms; an outside tester's find).
 * Each caller's list, held only by its stack, survives its cycle. */
enum { GC_CALLERS = 500, GC_LIST = 100 };
static rt_chan *gc_start;
static rt_waitgroup gc_done;
static _Atomic int gc_bad;

typedef struct gnode {
    struct gnode *next;
    long v;
} gnode;

static void collect_together(void *arg)
{
    long id = (long)arg;
    gnode *head = NULL;
    for (long j = 0; j < GC_LIST; j++) {
        gnode *n = rt_new(gnode);
        n->v = id * 1000 + j;
        n->next = head;
        head = n;
    }
    rt_chan_recv(gc_start, NULL);
    rt_gc();
    long j = GC_LIST;
    for (gnode *n = head; n != NULL; n = n->next)
        if (n->v != id * 1000 + --j)
            atomic_fetch_add(&gc_bad, 1);
    if (j != 0)
        atomic_fetch_add(&gc_bad, 1);
    rt_waitgroup_done(&gc_done);
}

RT_TEST(test_overlapping_collections_share_cycles)
{
    gc_start = rt_chan_make(0, 0);
    uint32_t before = stats()->num_gc;
    rt_waitgroup_add(&gc_done, GC_CALLERS);
    for (long i = 0; i < GC_CALLERS; i++)
        REQUIRE(rt_go(collect_together, (void *)i) > 0);
    rt_sleep(20 * RT_MILLISECOND); /* every caller built its list and waits */
    rt_chan_close(gc_start);
    rt_waitgroup_wait(&gc_done);
    uint32_t cycles = stats()->num_gc - before;
    REQUIRE_EQ(atomic_load(&gc_bad), 0);
    REQUIRE_MSG(cycles >= 1 && cycles <= GC_CALLERS / 10,
                "%u cycles for %d overlapping rt_gc calls", cycles, GC_CALLERS);
}

/* Parked goroutines through concurrent cycles: one that stayed parked
 * keeps what its stack holds, and one that a sender handed a pointer to
 * while it was parked -- the value written into its stack by the sender
 * -- keeps that too, through cycles that run while the same size of
 * garbage is allocated and freed around them.  (A race: when the final
 * stop skipped parked goroutines without a switch-count test, it failed
 * about one run in three.) */
enum { PARKED = 2000, ROUNDS = 30, PAT = 0x5a5a5a5aL };
typedef struct pobj {
    long id, pat[6];
} pobj;
static rt_chan *parked_in[PARKED];
static rt_waitgroup parked_done;
static _Atomic int parked_bad;

static pobj *pobj_new(long id)
{
    pobj *o = rt_new(pobj);
    o->id = id;
    for (int k = 0; k < 6; k++)
        o->pat[k] = PAT ^ (id * 7 + k);
    return o;
}

static bool pobj_ok(const pobj *o, long id)
{
    if (o->id != id)
        return false;
    for (int k = 0; k < 6; k++)
        if (o->pat[k] != (PAT ^ (id * 7 + k)))
            return false;
    return true;
}

static void parked_holder(void *arg)
{
    long id = (long)arg;
    pobj *mine = pobj_new(id); /* on this stack only */
    for (;;) {
        pobj *got = NULL;
        rt_chan_recv(parked_in[id], &got);
        if (!pobj_ok(mine, id) || (got != NULL && !pobj_ok(got, -id)))
            atomic_fetch_add(&parked_bad, 1);
        if (got == NULL)
            break;
    }
    rt_waitgroup_done(&parked_done);
}

static void *volatile parked_sink;

RT_TEST(test_parked_stacks_kept_through_concurrent_cycles)
{
    int old = rt_set_gc_percent(10);
    int oldp = rt_maxprocs(4); /* mark threads beside the senders */
    for (long i = 0; i < PARKED; i++)
        parked_in[i] = rt_chan_make(sizeof(pobj *), 0);
    rt_waitgroup_add(&parked_done, PARKED);
    for (long i = 0; i < PARKED; i++)
        REQUIRE(rt_go(parked_holder, (void *)i) > 0);
    uint32_t before = stats()->num_gc;
    for (int r = 0; r < ROUNDS; r++) {
        /* garbage of the same size: freed slots are reused at once */
        for (int k = 0; k < 20000; k++)
            parked_sink = rt_alloc(sizeof(pobj));
        for (long i = r % 7; i < PARKED; i += 7) {
            pobj *o = pobj_new(-i);
            rt_chan_send(parked_in[i], &o); /* into the parked receiver's frame */
        }
    }
    REQUIRE_GT(stats()->num_gc - before, 5);
    for (long i = 0; i < PARKED; i++) {
        pobj *none = NULL;
        rt_chan_send(parked_in[i], &none);
    }
    rt_waitgroup_wait(&parked_done);
    REQUIRE_EQ(atomic_load(&parked_bad), 0);
    rt_set_gc_percent(old);
    rt_maxprocs(oldp);
}

/* C hands pointers to stack variables to other goroutines, so a goroutine
 * parked through a whole cycle can have an object written into its frame
 * by another goroutine, which takes the object out of a heap chain the
 * concurrent mark has not reached yet and keeps no copy.  Nothing tracks
 * writes to stacks: the final stop must read every parked stack again.
 * Each holder parks with the address of its slot published; the mover
 * moves objects, allocated before the cycles that follow, from the far
 * end of a 60,000-node chain into the slots while cycles run back to back
 * (GOGC=20, a goroutine making same-size garbage that reuses freed
 * slots), and wakes the holders two cycles later to check them.  With
 * the final stop skipping goroutines parked since the cycle's scan read
 * them (session 28), ~400 objects a second were freed under their
 * holders. */
enum { FW_HOLD = 256, FW_CHAIN = 60000, FW_SECONDS = 2 };
typedef struct fw_node {
    struct fw_node *next;
    pobj *x;
} fw_node;
static fw_node *volatile fw_head;   /* the chain's root */
static fw_node *fw_tail[FW_HOLD];   /* malloc'd copy: not a root */
static pobj **volatile fw_slot[FW_HOLD];
static rt_chan *fw_wake[FW_HOLD];
static _Atomic int fw_bad, fw_stop;
static rt_waitgroup fw_done;

static void fw_holder(void *arg)
{
    long i = (long)arg;
    pobj *slot = NULL;
    fw_slot[i] = &slot;
    for (int v;;) {
        rt_chan_recv(fw_wake[i], &v);
        if (v < 0)
            break;
        pobj *o = *(pobj *volatile *)&slot;
        if (o != NULL && !pobj_ok(o, i))
            atomic_fetch_add(&fw_bad, 1);
        *(pobj *volatile *)&slot = NULL;
        rt_chan_send(fw_wake[i], &v);
    }
    rt_waitgroup_done(&fw_done);
}

static void fw_churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&fw_stop)) {
        for (int k = 0; k < 1000; k++) {
            pobj *o = rt_alloc(sizeof(pobj));
            memset(o, 0x11, sizeof *o);
            parked_sink = o;
        }
        rt_yield();
    }
    rt_waitgroup_done(&fw_done);
}

/* Out of line: the mover's copy lives in registers of a frame that ends. */
static __attribute__((noinline)) void fw_move(long i)
{
    fw_node *n = fw_tail[i];
    pobj *x = n->x;
    *fw_slot[i] = x;
    n->x = NULL;
}

RT_TEST(test_parked_frame_written_by_another_goroutine)
{
    int old = rt_set_gc_percent(20);
    int oldp = rt_maxprocs(2);
    fw_node *tail[FW_HOLD];
    fw_node *h = NULL;
    for (int k = 0; k < FW_CHAIN; k++) {
        fw_node *n = rt_new(fw_node);
        n->next = h;
        h = n;
        if (k < FW_HOLD)
            tail[k] = n; /* built first: the chain's far end */
    }
    fw_head = h;
    h = NULL;
    memcpy(fw_tail, tail, sizeof tail);
    for (int i = 0; i < FW_HOLD; i++)
        fw_wake[i] = rt_chan_make(sizeof(int), 0);
    rt_waitgroup_add(&fw_done, FW_HOLD + 1);
    for (long i = 0; i < FW_HOLD; i++)
        REQUIRE(rt_go(fw_holder, (void *)i) > 0);
    REQUIRE(rt_go(fw_churn, NULL) > 0);
    rt_sleep(10 * RT_MILLISECOND); /* every holder parked, its slot published */
    int64_t end = rt_nanotime() + FW_SECONDS * RT_SECOND;
    long moves = 0;
    uint32_t first = stats()->num_gc;
    unsigned seed = 1;
    while (rt_nanotime() < end) {
        for (long i = 0; i < FW_HOLD; i++)
            fw_tail[i]->x = pobj_new(i);
        uint32_t g0 = stats()->num_gc;
        for (long i = 0; i < FW_HOLD; i++, moves++) {
            fw_move(i);
            seed = seed * 1103515245 + 12345;
            for (volatile unsigned s = 0; s < (seed >> 16) % 2000; s++)
                ;
        }
        while (stats()->num_gc < g0 + 2 && rt_nanotime() < end + RT_SECOND)
            rt_yield();
        for (long i = 0; i < FW_HOLD; i++) {
            int v = 1;
            rt_chan_send(fw_wake[i], &v);
            rt_chan_recv(fw_wake[i], &v);
        }
    }
    atomic_store(&fw_stop, 1);
    for (long i = 0; i < FW_HOLD; i++) {
        int v = -1;
        rt_chan_send(fw_wake[i], &v);
    }
    rt_waitgroup_wait(&fw_done);
    uint32_t cycles = stats()->num_gc - first;
    REQUIRE_MSG(atomic_load(&fw_bad) == 0, "%d of %ld moved objects freed under their holders",
                atomic_load(&fw_bad), moves);
    REQUIRE_MSG(cycles >= 20, "only %u cycles in %d s", cycles, FW_SECONDS);
    fw_head = NULL;
    rt_set_gc_percent(old);
    rt_maxprocs(oldp);
}

/* heap_alloc after a collection is the live size. */
enum { LIVE_BLOCKS = 4096, LIVE_BLOCK = 4096 };
static void *volatile g_live[LIVE_BLOCKS];

static void make_live_and_garbage(void *arg)
{
    (void)arg;
    for (int i = 0; i < LIVE_BLOCKS; i++) {
        g_live[i] = rt_alloc(LIVE_BLOCK);
        for (int k = 0; k < 16; k++) /* garbage between the live blocks */
            memset(rt_alloc(LIVE_BLOCK), 0x33, LIVE_BLOCK);
    }
}

RT_TEST(test_heap_alloc_falls_to_live_size)
{
    rt_gc();
    uint64_t base = stats()->heap_alloc;
    on_goroutine(make_live_and_garbage, NULL);
    scrub_stack();
    rt_gc();
    rt_gc();
    uint64_t live = (uint64_t)LIVE_BLOCKS * LIVE_BLOCK; /* 16 MiB */
    uint64_t ha = stats()->heap_alloc;
    REQUIRE_GE(ha, base + live);
    REQUIRE_MSG(ha <= base + live + 2 * MiB,
                "heap_alloc %llu with %llu live (base %llu)",
                (unsigned long long)ha, (unsigned long long)live,
                (unsigned long long)base);
    for (int i = 0; i < LIVE_BLOCKS; i++)
        g_live[i] = NULL;
    rt_gc();
    REQUIRE_LE(stats()->heap_alloc, base + 2 * MiB);
}

/* ---------------------------------------------------------- 4 GiB loops -- */

static void churn_pieces(size_t piece, size_t total, bool alternate_noscan)
{
    rt_memstats ms0 = *stats();
    for (size_t done = 0, i = 0; done < total; done += piece, i++) {
        bool noscan = alternate_noscan && (i & 1);
        volatile unsigned char *p = noscan ? rt_alloc_noscan(piece) : rt_alloc(piece);
        p[0] = 1;
        p[piece - 1] = 2;
    }
    rt_memstats ms1 = *stats();
    uint64_t n = total / piece;
    REQUIRE_GE(ms1.total_alloc - ms0.total_alloc, total);
    REQUIRE_GE(ms1.mallocs - ms0.mallocs, n);
    REQUIRE_MSG(ms1.heap_sys < 256 * MiB, "heap_sys %llu MiB after %zu MiB "
                "of garbage in %zu-byte pieces", (unsigned long long)(ms1.heap_sys >> 20),
                total >> 20, piece);
    REQUIRE_GE(ms1.frees - ms0.frees, n * 9 / 10);
    REQUIRE_GE(ms1.num_gc - ms0.num_gc, 10);
}

RT_TEST(test_4gib_of_garbage_in_1mib_pieces)
{
    churn_pieces(MiB, (size_t)4 << 30, true);
}

RT_TEST(test_4gib_of_garbage_in_64_byte_pieces)
{
    churn_pieces(64, (size_t)4 << 30, true);
}

/* Pieces of many sizes at once, including sizes just over the large-object
 * threshold and odd sizes. */
RT_TEST(test_1gib_of_garbage_in_mixed_pieces)
{
    static const size_t sizes[] = {8, 24, 100, 1000, 4000, 32768, 32769, 70000, 300000};
    rt_memstats ms0 = *stats();
    size_t total = 0;
    for (size_t i = 0; total < ((size_t)1 << 30); i++) {
        size_t n = sizes[i % 9];
        volatile unsigned char *p = (i & 2) ? rt_alloc_noscan(n) : rt_alloc(n);
        p[0] = 1;
        p[n - 1] = 2;
        total += n;
    }
    rt_memstats ms1 = *stats();
    REQUIRE_LT(ms1.heap_sys, 256 * MiB);
    REQUIRE_GE(ms1.num_gc - ms0.num_gc, 10);
}

/* ------------------------------------------------------- huge objects -- */

static bool all_zero(const void *p, size_t n)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        if (w[i] != 0)
            return false;
    const unsigned char *b = p;
    for (size_t i = n / 8 * 8; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static void use_huge_noscan(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    unsigned char *p = rt_alloc_noscan(n);
    REQUIRE(p != NULL);
    REQUIRE_MSG(all_zero(p, n), "a %zu MiB noscan object is not zeroed", n >> 20);
    memset(p, 0xa5, n);
    REQUIRE(p[n - 1] == 0xa5 && p[n / 2] == 0xa5);
}

static void use_huge_scan(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    uint64_t *p = rt_alloc(n);
    REQUIRE(p != NULL);
    REQUIRE_MSG(all_zero(p, n), "a %zu MiB object is not zeroed", n >> 20);
    for (size_t i = 0; i < n / 8; i++)
        p[i] = pat(1, i);
    /* its last word keeps a witness alive */
    p[n / 8 - 1] = (uint64_t)(uintptr_t)witness(64, 2);
    g_slot[0] = p;
}

/* In a frame of its own, dead before the collections that must free the
 * object (a copy of p the compiler kept in the body's frame held it for
 * 400 cycles in TSan's build). */
NOINLINE static void huge_intact(size_t mid)
{
    uint64_t *p = g_slot[0];
    REQUIRE(intact((void *)p[mid / 8 - 1], 64, 2));
    REQUIRE(p[12345] == pat(1, 12345));
}

RT_TEST(test_huge_objects_zeroed_usable_reclaimed)
{
    const size_t big = 256 * MiB, mid = 100 * MiB;
    rt_gc();
    uint64_t base = stats()->heap_alloc;
    for (int round = 0; round < 2; round++) { /* the 2nd may reuse the 1st */
        on_goroutine(use_huge_noscan, (void *)(uintptr_t)big);
        /* Conservative scanning may see a stale copy of the pointer for a
         * cycle or two (a register or dead slot not yet overwritten): a few
         * rounds, each after scrubbing the stack. */
        for (int k = 0; k < 5 && stats()->heap_alloc >= base + 8 * MiB; k++) {
            scrub_stack();
            rt_gc();
        }
        REQUIRE_MSG(stats()->heap_alloc < base + 8 * MiB,
                    "256 MiB noscan object not reclaimed (heap_alloc %llu MiB)",
                    (unsigned long long)(stats()->heap_alloc >> 20));
    }
    on_goroutine(use_huge_scan, (void *)(uintptr_t)mid);
    collect_rounds(2);
    REQUIRE_GE(stats()->heap_alloc, base + mid);
    REQUIRE_EQ(runs(2), 0);
    huge_intact(mid);
    g_slot[0] = NULL;
    COLLECT_UNTIL(runs(2) == 1);
    rt_gc();
    REQUIRE_LT(stats()->heap_alloc, base + 8 * MiB);
    /* and once more, now surely on used pages */
    on_goroutine(use_huge_noscan, (void *)(uintptr_t)mid);
    on_goroutine(use_huge_noscan, (void *)(uintptr_t)(mid + 12345));
}

/* ---------------------------------------------------- free_os_memory -- */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    REQUIRE(f != NULL);
    unsigned long size = 0, resident = 0;
    REQUIRE_EQ(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

enum { NBLOCKS = 256 };
static void *volatile g_blocks[NBLOCKS];

static void make_blocks(void *arg)
{
    (void)arg;
    for (int i = 0; i < NBLOCKS; i++) {
        void *p = (i & 1) ? rt_alloc_noscan(MiB) : rt_alloc(MiB);
        memset(p, 0x11, MiB); /* touched: resident */
        g_blocks[i] = p;
    }
}

/* NBLOCKS MiB made resident, then dropped: the RSS and memstats before. */
static void make_and_drop_blocks(uint64_t *rss0, rt_memstats *ms0)
{
    on_goroutine(make_blocks, NULL);
    *rss0 = rss_bytes();
    *ms0 = *stats();
    REQUIRE_GE(*rss0, (uint64_t)NBLOCKS * MiB);
    for (int i = 0; i < NBLOCKS; i++)
        g_blocks[i] = NULL;
    scrub_stack();
}

RT_TEST(test_free_os_memory_returns_pages)
{
    uint64_t rss0;
    rt_memstats ms0;
    make_and_drop_blocks(&rss0, &ms0);
    rt_free_os_memory();
    uint64_t rss1 = rss_bytes();
    rt_memstats ms1 = *stats();
    REQUIRE_MSG(rss1 + 192 * MiB <= rss0, "RSS %llu MiB before, %llu MiB after "
                "rt_free_os_memory with 256 MiB of garbage",
                (unsigned long long)(rss0 >> 20), (unsigned long long)(rss1 >> 20));
    REQUIRE_GE(ms1.heap_released, ms0.heap_released + 192 * MiB);
    REQUIRE_LE(ms1.heap_released, ms1.heap_idle);
    REQUIRE_GT(ms1.num_gc, ms0.num_gc); /* it collects first */
    /* Released pages are usable again, and zeroed. */
    for (int i = 0; i < 64; i++) {
        unsigned char *p = rt_alloc(MiB);
        REQUIRE(all_zero(p, MiB));
        memset(p, 0x22, MiB);
    }
}

/* Without rt_free_os_memory: once a collection has found the blocks
 * dead, the free pages beyond 110 % of the heap goal go back to the OS
 * within seconds (modern Go's background scavenger), not after Go 1.3's
 * five minutes. */
RT_TEST(test_idle_pages_returned_without_asking)
{
    uint64_t rss0;
    rt_memstats ms0;
    make_and_drop_blocks(&rss0, &ms0);
    rt_gc();
    uint64_t rss1 = rss0;
    rt_memstats ms1 = ms0;
    for (int i = 0; i < 100 && ms1.heap_released < ms0.heap_released + 192 * MiB; i++) {
        rt_sleep(100 * RT_MILLISECOND);
        ms1 = *stats();
    }
    rss1 = rss_bytes();
    REQUIRE_MSG(ms1.heap_released >= ms0.heap_released + 192 * MiB,
                "released %llu MiB of 256 MiB of garbage in 10 s",
                (unsigned long long)((ms1.heap_released - ms0.heap_released) >> 20));
    REQUIRE_MSG(rss1 + 192 * MiB <= rss0, "RSS %llu MiB before, %llu MiB after",
                (unsigned long long)(rss0 >> 20), (unsigned long long)(rss1 >> 20));
}

/* ---------------------------------------------------------- zeroing -- */

static size_t zsize;
static bool znoscan;

static void dirty_objects(void *arg)
{
    (void)arg;
    size_t k = 4 * MiB / zsize + 4;
    for (size_t i = 0; i < k; i++) {
        void *p = znoscan ? rt_alloc_noscan(zsize) : rt_alloc(zsize);
        memset(p, 0xaa, zsize);
    }
}

RT_TEST(test_reused_memory_is_zeroed)
{
    static const size_t sizes[] = {1, 8, 16, 24, 64, 100, 512, 4096, 4097,
                                   32768, 40000, 200000, MiB};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 2; kind++) {
            zsize = sizes[s];
            znoscan = kind;
            rt_memstats ms0 = *stats();
            on_goroutine(dirty_objects, NULL);
            scrub_stack();
            rt_gc();
            rt_gc();
            REQUIRE_GT(stats()->frees, ms0.frees);
            size_t k = 2 * (4 * MiB / zsize + 4);
            for (size_t i = 0; i < k; i++) {
                unsigned char *p = znoscan ? rt_alloc_noscan(zsize) : rt_alloc(zsize);
                REQUIRE_MSG(all_zero(p, zsize), "a reused %zu-byte %s object is "
                            "not zeroed (object %zu after a collection)", zsize,
                            znoscan ? "noscan" : "scanned", i);
            }
        }
}

RT_TEST(test_zero_size_allocations)
{
    void *a = rt_alloc(0), *b = rt_alloc_noscan(0);
    REQUIRE(a != NULL);
    REQUIRE(b != NULL);
    rt_gc();
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("gc_api_reclaim");
    TCase *tc = tcase_create("reclaim");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_garbage_is_reclaimed);
    tcase_add_test(tc, test_heap_alloc_falls_to_live_size);
    tcase_add_test(tc, test_4gib_of_garbage_in_1mib_pieces);
    tcase_add_test(tc, test_4gib_of_garbage_in_64_byte_pieces);
    tcase_add_test(tc, test_1gib_of_garbage_in_mixed_pieces);
    tcase_add_test(tc, test_huge_objects_zeroed_usable_reclaimed);
    tcase_add_test(tc, test_free_os_memory_returns_pages);
    tcase_add_test(tc, test_idle_pages_returned_without_asking);
    tcase_add_test(tc, test_reused_memory_is_zeroed);
    tcase_add_test(tc, test_zero_size_allocations);
    tcase_add_test(tc, test_overlapping_collections_share_cycles);
    tcase_add_test(tc, test_parked_stacks_kept_through_concurrent_cycles);
    tcase_add_test(tc, test_parked_frame_written_by_another_goroutine);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
