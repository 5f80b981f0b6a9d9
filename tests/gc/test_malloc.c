/*
 * tests/gc/test_malloc.c -- object allocation (gc/malloc.c): zeroed,
 * aligned, non-overlapping objects of every size class and kind; scan and
 * noscan never share a span; large objects get spans of their own; the
 * object holding an interior address is found; goroutines on several Ps
 * allocate concurrently through their own caches; rt_new's type names
 * survive a span that mixes types.
 */
#include <check.h>
#include <stdatomic.h>
#include <string.h>

#include "gc/gc.h"
#include "harness.h"

START_TEST(test_every_class_zeroed_and_disjoint)
{
    rt__sizeclass_init();
    for (int cls = 1; cls <= rt__sizeclass_count(); cls++) {
        size_t sz = rt__sizeclass_get(cls)->size;
        for (int kind = 0; kind < 2; kind++) {
            unsigned char *prev = NULL;
            for (int i = 0; i < 40; i++) {
                unsigned char *p = rt__gc_alloc(sz, kind == 1);
                ck_assert_ptr_nonnull(p);
                /* aligned for any type of its size (rt.h) */
                ck_assert_uint_eq((uintptr_t)p % (sz % 16 == 0 ? 16 : 8), 0);
                for (size_t k = 0; k < sz; k += 8)
                    ck_assert_uint_eq(p[k], 0);
                memset(p, 0xa5, sz); /* dirty it: neighbours must not see it */
                if (prev != NULL)
                    ck_assert(p >= prev + sz || p + sz <= prev);
                rt__span *s = rt__heap_span_of((uintptr_t)p);
                ck_assert_ptr_nonnull(s);
                ck_assert_int_eq(s->noscan, kind == 1);
                ck_assert_uint_eq(s->elemsize, sz);
                size_t osz = 0;
                ck_assert_ptr_eq(rt__gc_object_start((uintptr_t)p + sz - 1, &osz), p);
                ck_assert_uint_eq(osz, sz);
                prev = p;
            }
        }
    }
    rt__heap_check();
}
END_TEST

START_TEST(test_sizes_and_large)
{
    for (size_t n = 1; n <= 3000; n += 7) {
        unsigned char *p = rt__gc_alloc(n, false);
        size_t sz = 0;
        ck_assert_ptr_eq(rt__gc_object_start((uintptr_t)p, &sz), p);
        ck_assert_uint_ge(sz, n);
    }
    size_t big = 5u << 20; /* 5 MiB: a span of its own */
    unsigned char *b = rt__gc_alloc(big, true);
    ck_assert_uint_eq((uintptr_t)b % RT_GC_PAGE_SIZE, 0);
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(b[big - 1], 0);
    rt__span *s = rt__heap_span_of((uintptr_t)b + big / 2);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->sizeclass, 0);
    ck_assert_ptr_eq(rt__gc_object_start((uintptr_t)b + big - 1, NULL), b);
    /* not heap, or never handed out */
    ck_assert_ptr_null(rt__gc_object_start((uintptr_t)&big, NULL));
    unsigned char *q = rt__gc_alloc(48, false);
    ck_assert_ptr_null(rt__gc_object_start((uintptr_t)q + 4 * 48, NULL));
    rt__heap_check();
}
END_TEST

enum { WORKERS = 8, PER = 20000 };
static rt_waitgroup wg;
static _Atomic long bad;

static void worker(void *arg)
{
    uintptr_t tag = (uintptr_t)arg;
    uintptr_t *objs[64];
    for (int i = 0; i < PER; i++) {
        size_t n = 16 + (size_t)((i * 37 + tag) % 500);
        uintptr_t *p = rt__gc_alloc(n, (i & 1) != 0);
        if (p[0] != 0)
            atomic_fetch_add(&bad, 1);
        p[0] = tag;
        objs[i % 64] = p;
        if (i % 64 == 63) {
            for (int k = 0; k < 64; k++)
                if (objs[k][0] != tag)
                    atomic_fetch_add(&bad, 1); /* someone else got our slot */
            rt_yield();
        }
    }
    rt_waitgroup_done(&wg);
}

RT_TEST(test_concurrent_goroutines)
{
    rt_maxprocs(4);
    rt_waitgroup_add(&wg, WORKERS);
    for (uintptr_t i = 1; i <= WORKERS; i++)
        rt_go(worker, (void *)i);
    rt_waitgroup_wait(&wg);
    ck_assert_int_eq(atomic_load(&bad), 0);
    rt__heap_check();
}

/* Two struct types and untyped objects of one size class, interleaved in
 * the same spans: each slot keeps its own name (the per-slot index table
 * into the type name table), and rt_alloc's slots have none. */
typedef struct tn_alpha {
    void *p[6];
} tn_alpha;
typedef struct tn_beta {
    long v[6];
} tn_beta;

RT_TEST(test_type_names_in_mixed_spans)
{
    enum { N = 300 };
    static void *objs[N]; /* bss: a root */
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            objs[i] = rt_new(tn_alpha);
        else if (i % 3 == 1)
            objs[i] = rt_new(tn_beta);
        else
            objs[i] = rt_alloc(sizeof(tn_alpha));
    }
    int mixed = 0;
    for (int i = 0; i < N; i++) {
        rt__span *s = rt__heap_span_of((uintptr_t)objs[i]);
        ck_assert_ptr_nonnull(s);
        mixed += s->typeidx != NULL;
        uint32_t k = rt__span_index(s, (uintptr_t)objs[i] - s->base);
        const char *name = rt__gc_slot_type(s, k);
        if (i % 3 == 2) {
            ck_assert_msg(name == NULL, "object %d: untyped, named %s", i, name);
        } else {
            ck_assert_ptr_nonnull(name);
            ck_assert_str_eq(name, i % 3 == 0 ? "tn_alpha" : "tn_beta");
        }
    }
    ck_assert_int_gt(mixed, 0); /* the index tables were used */
}

static int oom_scenario(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    (void)rt__gc_alloc(RT_GC_ARENA_BYTES + 1, false); /* more than the arena */
    return 0;
}

START_TEST(test_out_of_memory_is_fatal)
{
    expect_fatal_with("oom", "out of memory",
                      "runtime: out of memory: cannot allocate 68719484928-byte block (");
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("malloc");
    TCase *tc = tcase_create("gc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_class_zeroed_and_disjoint);
    tcase_add_test(tc, test_sizes_and_large);
    tcase_add_test(tc, test_concurrent_goroutines);
    tcase_add_test(tc, test_type_names_in_mixed_spans);
    tcase_add_test(tc, test_out_of_memory_is_fatal);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, oom_scenario);
}
