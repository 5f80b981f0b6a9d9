/*
 * tests/runtime/test_context.c -- the context switch (asm_<arch>.S,
 * context.c) on its own, without the scheduler: two contexts on stack
 * slots ping-pong, callee-saved state survives, floating-point control
 * state is per context, and a saved frame decodes to the resume point.
 */
#include <check.h>
#include <fenv.h>
#include <stdint.h>
#include <string.h>

#include "runtime/runtime.h"
#include "harness.h"

static void *main_sp, *co_sp;
static volatile int co_steps;
static int co_round_mode;

static void coroutine(void *arg)
{
    (void)arg;
    /* Values the compiler keeps in callee-saved registers across the
     * switches below. */
    uint64_t a = 0x1111, b = 0x2222, c = 0x3333, d = 0x4444, e = 0x5555;
    ck_assert_int_eq(fegetround(), FE_TONEAREST); /* fresh context: defaults */
    fesetround(FE_UPWARD);
    for (int i = 0; i < 1000; i++) {
        co_steps++;
        a += 1, b += 2, c += 3, d += 4, e += 5;
        rt__ctx_switch(&co_sp, main_sp, NULL);
        co_round_mode = fegetround();
    }
    ck_assert_uint_eq(a, 0x1111 + 1000);
    ck_assert_uint_eq(b, 0x2222 + 2000);
    ck_assert_uint_eq(c, 0x3333 + 3000);
    ck_assert_uint_eq(d, 0x4444 + 4000);
    ck_assert_uint_eq(e, 0x5555 + 5000);
    co_steps = -1;
    rt__ctx_switch(&co_sp, main_sp, NULL);
    ck_abort_msg("finished coroutine resumed");
}

START_TEST(test_ping_pong)
{
    rt__stack st;
    ck_assert(rt__stack_alloc(&st));
    co_sp = rt__ctx_make(st.hi - 64, coroutine, NULL);
    uint64_t x = 7, y = 11, z = 13;
    fesetround(FE_TOWARDZERO);
    for (int i = 0; i < 1000; i++) {
        rt__ctx_switch(&main_sp, co_sp, NULL);
        ck_assert_int_eq(co_steps, i + 1);
        /* our rounding mode is ours, whatever the coroutine set */
        ck_assert_int_eq(fegetround(), FE_TOWARDZERO);
        x = x * 3 + 1, y ^= x, z += y;
    }
    rt__ctx_switch(&main_sp, co_sp, NULL);
    ck_assert_int_eq(co_steps, -1);
    ck_assert_int_eq(co_round_mode, FE_UPWARD);
    fesetround(FE_TONEAREST);
    ck_assert_uint_ne(x + y + z, 0);
}
END_TEST

static void never(void *arg) { (void)arg; }

START_TEST(test_ctx_read_of_fresh_frame)
{
    rt__stack st;
    ck_assert(rt__stack_alloc(&st));
    uintptr_t top = st.hi - 128;
    void *sp = rt__ctx_make(top, never, NULL);
    rt__ctx_regs r;
    rt__ctx_read(sp, &r);
    ck_assert_ptr_eq((void *)r.pc, (void *)rt__ctx_start);
    ck_assert_uint_le(r.sp, top);
    ck_assert_uint_eq(r.sp % 16, 0); /* trampoline entry alignment */
    ck_assert_uint_gt(r.sp, (uintptr_t)sp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ping_pong);
    tcase_add_test(tc, test_ctx_read_of_fresh_frame);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
