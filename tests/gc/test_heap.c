/*
 * tests/gc/test_heap.c -- the page heap (gc/heap.c): spans tile the used
 * arena, splitting and coalescing keep the invariants, the span of any
 * interior address is found, fresh pages are zero, and freed pages are
 * reused and flagged as needing zeroing.
 */
#include <check.h>
#include <string.h>

#include "gc/gc.h"
#include "harness.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

START_TEST(test_alloc_lookup_free)
{
    rt__span *a = rt__heap_alloc_span(1);
    rt__span *b = rt__heap_alloc_span(3);
    rt__span *c = rt__heap_alloc_span(200); /* beyond the exact lists */
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(a->base % RT_GC_PAGE_SIZE, 0);
    ck_assert_uint_eq(b->npages, 3);
    ck_assert_uint_eq(c->npages, 200);
    /* fresh pages are zero and writable */
    for (size_t i = 0; i < 3 * RT_GC_PAGE_SIZE; i += 512)
        ck_assert_uint_eq(((unsigned char *)b->base)[i], 0);
    memset((void *)b->base, 0x5a, 3 * RT_GC_PAGE_SIZE);
    ck_assert(!b->needzero);
    /* interior lookups, and the byte past the end is not b */
    ck_assert_ptr_eq(rt__heap_span_of(b->base), b);
    ck_assert_ptr_eq(rt__heap_span_of(b->base + 3 * RT_GC_PAGE_SIZE - 1), b);
    ck_assert_ptr_ne(rt__heap_span_of(b->base + 3 * RT_GC_PAGE_SIZE), b);
    ck_assert_ptr_eq(rt__heap_span_of(c->base + 12345), c);
    ck_assert_ptr_null(rt__heap_span_of((uintptr_t)&rng));
    ck_assert_ptr_null(rt__heap_span_of(0));
    rt__heap_check();
    uintptr_t bbase = b->base;
    rt__heap_free_span(b);
    ck_assert_ptr_null(rt__heap_span_of(bbase)); /* free pages are nobody's */
    rt__heap_check();
    /* the freed pages come back, flagged as used before */
    rt__span *d = rt__heap_alloc_span(3);
    ck_assert_uint_eq(d->base, bbase);
    ck_assert(d->needzero);
    rt__heap_free_span(a);
    rt__heap_free_span(c);
    rt__heap_free_span(d);
    rt__heap_check();
    rt__heap_statistics st;
    rt__heap_stats(&st);
    ck_assert_uint_eq(st.spans_inuse, 0);
    ck_assert_uint_eq(st.spans_free, 1); /* everything coalesced again */
    ck_assert_uint_eq(st.pages_free, st.pages_used);
}
END_TEST

START_TEST(test_random_churn)
{
    enum { N = 2000 };
    static rt__span *live[N];
    size_t nlive = 0;
    for (int round = 0; round < 20000; round++) {
        bool alloc = nlive == 0 || (nlive < N && next_rand() % 3 != 0);
        if (alloc) {
            size_t np = next_rand() % 8 == 0 ? 1 + next_rand() % 300 : 1 + next_rand() % 8;
            rt__span *s = rt__heap_alloc_span(np);
            ck_assert_ptr_nonnull(s);
            ck_assert_uint_eq(s->npages, np);
            ((unsigned char *)s->base)[0] = 1;
            ((unsigned char *)s->base)[np * RT_GC_PAGE_SIZE - 1] = 1;
            live[nlive++] = s;
        } else {
            size_t i = next_rand() % nlive;
            rt__heap_free_span(live[i]);
            live[i] = live[--nlive];
        }
        if (round % 1000 == 0)
            rt__heap_check();
    }
    /* no two live spans overlap */
    for (size_t i = 0; i < nlive; i++)
        for (size_t k = 0; k < live[i]->npages; k += 7)
            ck_assert_ptr_eq(rt__heap_span_of(live[i]->base + k * RT_GC_PAGE_SIZE), live[i]);
    while (nlive > 0)
        rt__heap_free_span(live[--nlive]);
    rt__heap_check();
    rt__heap_statistics st;
    rt__heap_stats(&st);
    ck_assert_uint_eq(st.spans_inuse, 0);
    ck_assert_uint_eq(st.spans_free, 1);
}
END_TEST

START_TEST(test_large_growth)
{
    /* 1 GiB in one span: the arena grows past its 64 MiB step */
    rt__span *s = rt__heap_alloc_span((size_t)(1u << 30) / RT_GC_PAGE_SIZE);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(rt__heap_span_of(s->base + (512u << 20)), s);
    rt__heap_free_span(s);
    rt__heap_check();
    /* more than the arena holds */
    ck_assert_ptr_null(rt__heap_alloc_span(RT_GC_ARENA_BYTES / RT_GC_PAGE_SIZE + 1));
    rt__heap_check();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("gc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_alloc_lookup_free);
    tcase_add_test(tc, test_random_churn);
    tcase_add_test(tc, test_large_growth);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
