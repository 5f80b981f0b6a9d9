/*
 * runtime/context.c -- building and reading the frames of rt__ctx_switch.
 *
 * The switch itself is in asm_<arch>.S.  A fresh goroutine gets a frame at
 * the top of its stack that looks exactly like one rt__ctx_switch saved, with
 * the resume address set to rt__ctx_start and the entry function and its
 * argument in two callee-saved registers; switching to it "returns" into the
 * trampoline, which calls entry(arg).  rt__ctx_read decodes a saved frame so
 * that the traceback code can unwind a parked goroutine with libunwind.
 */
#include <string.h>

#include "runtime/runtime.h"

#if defined(__x86_64__)

enum { FRAME_WORDS = 8 }; /* fpctl, r15, r14, r13, r12, rbx, rbp, ret */

void *rt__ctx_make(uintptr_t stack_top, void (*entry)(void *), void *arg)
{
    /* After the final ret the trampoline must see rsp % 16 == 0, so that its
     * call leaves the callee with the ABI's entry alignment. */
    uintptr_t top = stack_top & ~(uintptr_t)15;
    uintptr_t *f = (uintptr_t *)(top - FRAME_WORDS * sizeof(uintptr_t));
    memset(f, 0, FRAME_WORDS * sizeof(uintptr_t));
    uint32_t mxcsr = 0x1f80;   /* all exceptions masked, round to nearest */
    uint16_t x87cw = 0x037f;   /* likewise, extended precision */
    memcpy((char *)f, &mxcsr, 4);
    memcpy((char *)f + 4, &x87cw, 2);
    f[3] = (uintptr_t)entry;   /* r13 */
    f[4] = (uintptr_t)arg;     /* r12 */
    f[7] = (uintptr_t)rt__ctx_start;
    return f;
}

void rt__ctx_read(const void *saved_sp, rt__ctx_regs *r)
{
    const uintptr_t *f = saved_sp;
    memset(r, 0, sizeof *r);
    r->callee[0] = f[5]; /* rbx */
    r->callee[1] = f[6]; /* rbp */
    r->callee[2] = f[4]; /* r12 */
    r->callee[3] = f[3]; /* r13 */
    r->callee[4] = f[2]; /* r14 */
    r->callee[5] = f[1]; /* r15 */
    r->fp = f[6];
    r->pc = f[7];
    r->sp = (uintptr_t)(f + FRAME_WORDS);
}

#elif defined(__aarch64__)

enum { FRAME_BYTES = 176 };

void *rt__ctx_make(uintptr_t stack_top, void (*entry)(void *), void *arg)
{
    uintptr_t top = stack_top & ~(uintptr_t)15;
    uintptr_t *f = (uintptr_t *)(top - FRAME_BYTES);
    memset(f, 0, FRAME_BYTES);
    f[0] = (uintptr_t)arg;   /* x19 */
    f[1] = (uintptr_t)entry; /* x20 */
    f[11] = (uintptr_t)rt__ctx_start; /* x30 */
    return f;
}

void rt__ctx_read(const void *saved_sp, rt__ctx_regs *r)
{
    const uintptr_t *f = saved_sp;
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 10; i++)
        r->callee[i] = f[i]; /* x19..x28 */
    r->fp = f[10];
    r->pc = f[11];
    r->sp = (uintptr_t)f + FRAME_BYTES;
}

#else
#error "grt supports x86-64 and aarch64"
#endif
