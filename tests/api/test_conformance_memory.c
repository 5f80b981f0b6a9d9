/*
 * tests/api/test_conformance_memory.c -- the garbage-collected heap as a Go
 * programmer expects it, from rt.h and API.md alone: every allocation is
 * zeroed (also memory the collector reclaimed and hands out again) and
 * aligned for any type of its size, rt_alloc(0) is a valid object,
 * finalizers run once an object is unreachable and not while a registered
 * root (malloc'd memory) still points at it, rt_read_memstats' fields
 * agree with each other and with what the program did (Go's MemStats
 * invariants), and impossible sizes are the fatal errors Go reports.
 *
 * Tests that need an object to become unreachable drop it in a separate
 * frame that is scrubbed afterwards: the collector is conservative, and a
 * stale copy on the stack would keep it.  A conservative collector may
 * also keep an object through any word that happens to point at it, so the
 * finalizer tests wait for "at least most" of many objects, never for one.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "harness.h"

/* Overwrites the stack below the caller, where dropped pointers linger. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile unsigned char pad[16384];
    for (size_t i = 0; i < sizeof pad; i += 64)
        pad[i] = 0;
}

/* --------------------------------------------------------- allocation -- */

static void require_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        REQUIRE_MSG(p[i] == 0, "byte %zu of %zu not zero", i, n);
}

__attribute__((noinline)) static void dirty_garbage(size_t n, int count)
{
    for (int i = 0; i < count; i++)
        memset(rt_alloc(n), 0xEE, n);
}

/* new/make memory is zeroed, including memory reused after a cycle freed
 * the dirty objects that held it; both kinds, all size classes. */
RT_TEST(test_allocations_are_zeroed_also_when_reused)
{
    static const size_t ns[] = {1, 8, 24, 100, 1024, 4000, 32768, 40000, 300000};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            dirty_garbage(ns[i], 64);
        scrub_stack();
        rt_gc();
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            for (int k = 0; k < 64; k++) {
                require_zero(rt_alloc(ns[i]), ns[i]);
                require_zero(rt_alloc_noscan(ns[i]), ns[i]);
            }
        }
    }
    long *a = rt_new_array(long, 1000);
    require_zero((unsigned char *)a, 1000 * sizeof(long));
    struct pair {
        void *p;
        double d;
    } *pr = rt_new(struct pair);
    REQUIRE(pr->p == NULL && pr->d == 0.0);
}

/* Like malloc: aligned for any object that fits (what matters for a type
 * of that size: the largest power of two dividing it, up to 16). */
RT_TEST(test_allocations_are_aligned_for_their_size)
{
    for (size_t n = 1; n <= 20000; n += n < 600 ? 1 : 37) {
        size_t want = n & -n;
        if (want > 16)
            want = 16;
        REQUIRE_MSG((uintptr_t)rt_alloc(n) % want == 0, "rt_alloc(%zu)", n);
        REQUIRE_MSG((uintptr_t)rt_alloc_noscan(n) % want == 0,
                    "rt_alloc_noscan(%zu)", n);
    }
    REQUIRE_EQ((uintptr_t)rt_new(long double) % _Alignof(long double), 0);
}

/* new(struct{}) is a valid, non-nil pointer; counting it is allowed. */
RT_TEST(test_alloc_zero_bytes)
{
    void *a = rt_alloc(0), *b = rt_alloc_noscan(0), *c = rt_new_array(int, 0);
    REQUIRE(a != NULL && b != NULL && c != NULL);
    rt_gc();
}

/* --------------------------------------------------- finalizers, roots -- */

static _Atomic int finalized;
static _Atomic int64_t finalizer_goid;

static void count_finalizer(void *obj)
{
    REQUIRE_EQ(*(int *)obj, 0x5eed); /* the object is intact while it runs */
    atomic_store(&finalizer_goid, rt_goid());
    atomic_fetch_add(&finalized, 1);
}

__attribute__((noinline)) static void make_finalizable(int n, void **keep)
{
    for (int i = 0; i < n; i++) {
        int *o = rt_alloc(64);
        *o = 0x5eed;
        rt_set_finalizer(o, count_finalizer);
        if (keep != NULL)
            keep[i] = o;
    }
}

/* Collects until at least `want` finalizers have run (a bounded number of
 * cycles; a conservative scan may keep a few objects a while longer). */
static void collect_until_finalized(int want)
{
    for (int i = 0; i < 200 && atomic_load(&finalized) < want; i++) {
        scrub_stack();
        rt_gc();
        rt_sleep(100 * RT_MICROSECOND); /* the finalizer goroutine runs */
    }
    REQUIRE_GE(atomic_load(&finalized), want);
}

/* Finalizers run on a goroutine of their own once their objects are
 * unreachable; clearing one (fn NULL) means it never runs. */
RT_TEST(test_finalizers_run_for_unreachable_objects)
{
    make_finalizable(100, NULL);
    collect_until_finalized(90);
    REQUIRE_NE(atomic_load(&finalizer_goid), 1);
    REQUIRE_LE(atomic_load(&finalized), 100);

    static void *kept[100];
    atomic_store(&finalized, 0);
    make_finalizable(100, kept);
    for (int i = 0; i < 100; i++)
        rt_set_finalizer(kept[i], NULL);
    memset(kept, 0, sizeof kept);
    for (int i = 0; i < 5; i++) {
        scrub_stack();
        rt_gc();
    }
    rt_sleep(RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&finalized), 0);
}

/* Memory from malloc is not scanned unless registered: a registered block
 * keeps what it points to alive; removing it lets the objects go. */
RT_TEST(test_registered_roots_keep_objects)
{
    enum { N = 100 };
    void **block = malloc(N * sizeof *block);
    REQUIRE(block != NULL);
    rt_gc_add_root(block, N * sizeof *block);
    make_finalizable(N, block);
    for (int i = 0; i < 5; i++) {
        scrub_stack();
        rt_gc();
    }
    rt_sleep(RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&finalized), 0);
    for (int i = 0; i < N; i++)
        REQUIRE_EQ(*(int *)block[i], 0x5eed);
    rt_gc_remove_root(block);
    collect_until_finalized(N - 10);
    free(block);
}

/* ----------------------------------------------------------- memstats -- */

/* Go's MemStats invariants, for one snapshot. */
static void check_memstats(const rt_memstats *m)
{
    REQUIRE_EQ(m->alloc, m->heap_alloc);
    REQUIRE_LE(m->heap_alloc, m->heap_sys);
    REQUIRE_LE(m->heap_alloc, m->heap_inuse);
    REQUIRE_EQ(m->heap_idle + m->heap_inuse, m->heap_sys);
    REQUIRE_LE(m->heap_released, m->heap_idle);
    REQUIRE_GE(m->mallocs, m->frees);
    REQUIRE_EQ(m->heap_objects, m->mallocs - m->frees);
    REQUIRE_GE(m->total_alloc, m->alloc);
    REQUIRE_LE(m->stack_inuse, m->stack_sys);
    REQUIRE_LE(m->mspan_inuse, m->mspan_sys);
    REQUIRE_LE(m->mcache_inuse, m->mcache_sys);
    REQUIRE_EQ(m->sys, m->heap_sys + m->stack_sys + m->mspan_sys +
                           m->mcache_sys + m->buckhash_sys + m->gc_sys +
                           m->other_sys);
    REQUIRE_EQ(m->lookups, 0);
    REQUIRE_GT(m->next_gc, 0);
    uint64_t bm = 0, bf = 0;
    for (int i = 0; i < RT_MEMSTATS_NSIZE; i++) {
        REQUIRE_GE(m->by_size[i].mallocs, m->by_size[i].frees);
        if (i > 0)
            REQUIRE_GT(m->by_size[i].size, m->by_size[i - 1].size);
        bm += m->by_size[i].mallocs;
        bf += m->by_size[i].frees;
    }
    REQUIRE_LE(bm, m->mallocs);
    REQUIRE_LE(bf, m->frees);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * RT_SECOND + ts.tv_nsec;
}

/* Snapshots agree with themselves and with what happened in between:
 * allocations count, rt_gc adds exactly one cycle, whose pause lands at
 * pause_ns[(num_gc - 1) % 256] and in pause_total_ns, at a last_gc
 * between the wall clock before and after it. */
RT_TEST(test_memstats_consistent)
{
    rt_memstats *m0 = rt_new(rt_memstats), *m1 = rt_new(rt_memstats);
    rt_read_memstats(m0);
    check_memstats(m0);
    REQUIRE(m0->enable_gc);
    for (int i = 0; i < 1000; i++)
        rt_alloc(48);
    rt_read_memstats(m1);
    check_memstats(m1);
    REQUIRE_GE(m1->mallocs, m0->mallocs + 1000);
    REQUIRE_GE(m1->total_alloc, m0->total_alloc + 48000);

    for (int k = 0; k < 3; k++) {
        rt_read_memstats(m0);
        int64_t w0 = wall_ns();
        rt_gc();
        int64_t w1 = wall_ns();
        rt_read_memstats(m1);
        check_memstats(m1);
        REQUIRE_GE(m1->num_gc, m0->num_gc + 1);
        uint64_t last = m1->pause_ns[(m1->num_gc + 255) % 256];
        REQUIRE_GT(last, 0);
        REQUIRE_GE(m1->pause_total_ns, m0->pause_total_ns + last);
        REQUIRE_GE((int64_t)m1->last_gc, w0);
        REQUIRE_LE((int64_t)m1->last_gc, w1);
    }
}

/* GC number n writes pause_ns[(n - 1) % 256]: after more than 256 cycles
 * the ring has wrapped and every slot holds a pause. */
RT_TEST(test_memstats_pause_ring_wraps)
{
    rt_memstats *m = rt_new(rt_memstats);
    rt_read_memstats(m);
    uint32_t start = m->num_gc;
    uint64_t total0 = m->pause_total_ns;
    while (m->num_gc < start + 260) {
        rt_gc();
        rt_read_memstats(m);
    }
    uint64_t ring = 0;
    for (int i = 0; i < 256; i++) {
        REQUIRE_GT(m->pause_ns[i], 0);
        ring += m->pause_ns[i];
    }
    /* The ring holds the last 256 cycles, all after start. */
    REQUIRE_LE(ring, m->pause_total_ns - total0);
}

/* rt_set_gc_percent(-1) is GOGC=off: enable_gc false; rt_gc still
 * collects. */
RT_TEST(test_gc_percent_off)
{
    int old = rt_set_gc_percent(-1); /* 100 unless GOGC says otherwise */
    rt_memstats *m = rt_new(rt_memstats);
    rt_read_memstats(m);
    REQUIRE(!m->enable_gc);
    uint32_t n = m->num_gc;
    rt_gc();
    rt_read_memstats(m);
    REQUIRE_EQ(m->num_gc, n + 1);
    REQUIRE_EQ(rt_set_gc_percent(-7), -1); /* any negative: off */
    REQUIRE_EQ(rt_set_gc_percent(50), -1);
    rt_read_memstats(m);
    REQUIRE(m->enable_gc);
    REQUIRE_EQ(rt_set_gc_percent(old), 50);
}

/* --------------------------------------------------------- fatal sizes -- */

static volatile size_t huge = SIZE_MAX;

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    if (strcmp(s, "alloc-huge") == 0)
        rt_alloc(huge);
    else if (strcmp(s, "alloc-noscan-huge") == 0)
        rt_alloc_noscan(huge / 2);
    else if (strcmp(s, "new-array-overflow") == 0)
        rt_new_array(long, huge / 4);
    return 0;
}

START_TEST(test_impossible_sizes_are_fatal)
{
    /* Go: "runtime: out of memory: cannot allocate N-byte block", then
     * "fatal error: out of memory", and the tracebacks. */
    expect_fatal_with("alloc-huge", "out of memory", "goroutine 1 [running]:");
    expect_fatal_with("alloc-noscan-huge", "out of memory",
                      "runtime: out of memory: cannot allocate ");
    expect_fatal_with("new-array-overflow", "rt_new_array: len out of range",
                      "goroutine 1 [running]:");
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("conformance_memory");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_allocations_are_zeroed_also_when_reused);
    tcase_add_test(tc, test_allocations_are_aligned_for_their_size);
    tcase_add_test(tc, test_alloc_zero_bytes);
    tcase_add_test(tc, test_finalizers_run_for_unreachable_objects);
    tcase_add_test(tc, test_registered_roots_keep_objects);
    tcase_add_test(tc, test_memstats_consistent);
    tcase_add_test(tc, test_memstats_pause_ring_wraps);
    tcase_add_test(tc, test_gc_percent_off);
    tcase_add_test(tc, test_impossible_sizes_are_fatal);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
