/*
 * tests/gc/test_sizeclass.c -- the size-class table (gc/sizeclass.c):
 * its shape, its waste bounds, and the lookup for every size up to 32 KiB.
 */
#include <check.h>

#include "gc/gc.h"
#include "harness.h"

START_TEST(test_table_shape)
{
    rt__sizeclass_init();
    int n = rt__sizeclass_count();
    ck_assert_int_eq(n, 67); /* Go's count with the same rule (1.19: 8, 16, 24, 32, 48, ...) */
    uint32_t prev = 0;
    for (int c = 1; c <= n; c++) {
        const rt__sizeclass *sc = rt__sizeclass_get(c);
        ck_assert_uint_gt(sc->size, prev);
        ck_assert_uint_eq(sc->size % 8, 0);
        if (sc->size >= 32)
            ck_assert_uint_eq(sc->size % 16, 0);
        size_t span = (size_t)sc->npages * RT_GC_PAGE_SIZE;
        ck_assert_uint_eq(sc->nobjs, span / sc->size);
        ck_assert_uint_ge(sc->nobjs, 1);
        ck_assert_msg(span - (size_t)sc->nobjs * sc->size <= span / 8,
                      "class %d (size %u): tail waste over 1/8", c, sc->size);
        prev = sc->size;
    }
    ck_assert_uint_eq(rt__sizeclass_get(n)->size, RT_GC_MAX_SMALL);
    ck_assert_uint_eq(rt__sizeclass_get(1)->size, 8);
    ck_assert_uint_eq(rt__sizeclass_get(3)->size, 24); /* GCBench's node: not padded to 32 */
}
END_TEST

START_TEST(test_lookup_every_size)
{
    rt__sizeclass_init();
    int n = rt__sizeclass_count();
    for (size_t sz = 1; sz <= RT_GC_MAX_SMALL; sz++) {
        int c = rt__sizeclass_of(sz);
        ck_assert_int_ge(c, 1);
        ck_assert_int_le(c, n);
        ck_assert_uint_ge(rt__sizeclass_get(c)->size, sz);
        /* the smallest such class */
        if (c > 1)
            ck_assert_uint_lt(rt__sizeclass_get(c - 1)->size, sz);
        /* internal fragmentation above 128 bytes stays under 1/5 (18.7 %
         * at worst, gc/gc.h) */
        if (sz > 128)
            ck_assert_msg((rt__sizeclass_get(c)->size - sz) * 5 <= rt__sizeclass_get(c)->size,
                          "size %zu -> class size %u", sz, rt__sizeclass_get(c)->size);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sizeclass");
    TCase *tc = tcase_create("gc");
    tcase_add_test(tc, test_table_shape);
    tcase_add_test(tc, test_lookup_every_size);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
