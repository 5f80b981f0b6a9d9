/*
 * tests/runtime/cross_ctx_arm64.c -- the aarch64 context switch
 * (runtime/asm_arm64.S, runtime/context.c), built with the aarch64 cross
 * compiler and run under qemu-aarch64 when both are installed (CI installs
 * them; see tests/runtime/CMakeLists.txt).  Plain C with exit codes: it
 * links only the two context files, statically, so it needs no aarch64
 * libraries beyond libc.
 *
 * Checks: two contexts ping-pong 1000 times; callee-saved integer and FP
 * values survive; each context keeps its own rounding mode (FPCR); the
 * value handed over by the resuming switch is what the resumed call
 * returns; a fresh stack starts entry(arg) with default FP control; a
 * saved frame decodes to a non-zero resume PC.
 */
#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/runtime.h"

_Noreturn void rt__throwf(const char *fmt, ...)
{
    (void)fmt;
    abort();
}

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);               \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

static void *main_sp, *co_sp;
static volatile int steps;

static void coroutine(void *arg)
{
    (void)arg;
    long a = 1, b = 2, c = 3;
    double d = 1.5;
    CHECK(fegetround() == FE_TONEAREST);
    fesetround(FE_UPWARD);
    for (int i = 0; i < 1000; i++) {
        steps++;
        a += 1, b += 2, c += 3, d += 0.5;
        void *h = rt__ctx_switch(&co_sp, main_sp, (void *)(long)i);
        CHECK(i == 999 || (long)h == i + 1001);
        CHECK(fegetround() == FE_UPWARD);
    }
    CHECK(a == 1001 && b == 2002 && c == 3003 && d == 501.5);
    steps = -1;
    rt__ctx_switch(&co_sp, main_sp, NULL);
    abort();
}

static volatile int fresh_ok;

static void fresh(void *arg)
{
    fresh_ok = arg == (void *)0x1234 && fegetround() == FE_TONEAREST;
    rt__ctx_switch(&co_sp, main_sp, NULL);
    abort();
}

int main(void)
{
    static char stk[65536] __attribute__((aligned(16)));
    static char stk2[65536] __attribute__((aligned(16)));
    co_sp = rt__ctx_make((uintptr_t)stk + sizeof stk, coroutine, NULL);
    long x = 7;
    fesetround(FE_TOWARDZERO);
    for (int i = 0; i < 1000; i++) {
        void *h = rt__ctx_switch(&main_sp, co_sp, (void *)(long)(i + 1000));
        CHECK((long)h == i);
        CHECK(steps == i + 1);
        CHECK(fegetround() == FE_TOWARDZERO);
        x = x * 3 + 1;
    }
    rt__ctx_switch(&main_sp, co_sp, NULL);
    CHECK(steps == -1);
    fesetround(FE_TONEAREST);
    rt__ctx_switch_fresh(&main_sp, (uintptr_t)stk2 + sizeof stk2, fresh, (void *)0x1234);
    CHECK(fresh_ok);
    rt__ctx_regs r;
    rt__ctx_read(co_sp, &r);
    CHECK(r.pc != 0 && r.sp > (uintptr_t)co_sp);
    printf("aarch64 context switch: ok (x=%ld)\n", x);
    return 0;
}
