/*
 * tests/sched/cross_syscall_arm64.c -- the aarch64 rt_syscall_enter
 * (runtime/syscall_arm64.S), cross-built and run under qemu-aarch64 when
 * both are installed (see tests/sched/CMakeLists.txt).  Plain C with exit
 * codes, linked with that one file: rt__syscall_enter here records what
 * the assembly hands it.
 *
 * Checks: the block holds the caller's x19-x28 (set to known values just
 * before the call) at regs[2..11], x29 at regs[0], and sp is the caller's
 * stack pointer after the call; the registers survive the call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void rt_syscall_enter(void);
void rt__syscall_enter(const uintptr_t *regs, uintptr_t sp);

static uintptr_t got[12], got_sp;

void rt__syscall_enter(const uintptr_t *regs, uintptr_t sp)
{
    for (int i = 0; i < 12; i++)
        got[i] = regs[i];
    got_sp = sp;
}

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);               \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

uintptr_t sp_before, fp_before, after[10];

int main(void)
{
    /* x19-x28 = 0x1900+i; call; store them back.  Only globals, reached
     * through x9 (caller-saved), so the asm needs no operand register. */
    __asm__ volatile(
        "adrp x9, sp_before\n\tadd x9, x9, :lo12:sp_before\n\t"
        "mov x10, sp\n\tstr x10, [x9]\n\t"
        "adrp x9, fp_before\n\tadd x9, x9, :lo12:fp_before\n\t"
        "str x29, [x9]\n\t"
        "mov x19, #0x1900\n\tmov x20, #0x1901\n\tmov x21, #0x1902\n\t"
        "mov x22, #0x1903\n\tmov x23, #0x1904\n\tmov x24, #0x1905\n\t"
        "mov x25, #0x1906\n\tmov x26, #0x1907\n\tmov x27, #0x1908\n\t"
        "mov x28, #0x1909\n\t"
        "bl rt_syscall_enter\n\t"
        "adrp x9, after\n\tadd x9, x9, :lo12:after\n\t"
        "stp x19, x20, [x9, #0]\n\tstp x21, x22, [x9, #16]\n\t"
        "stp x23, x24, [x9, #32]\n\tstp x25, x26, [x9, #48]\n\t"
        "stp x27, x28, [x9, #64]\n\t"
        :
        :
        : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
          "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",
          "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
          "x30", "memory");
    CHECK(got_sp == sp_before);
    CHECK(got[0] == fp_before);
    for (int i = 0; i < 10; i++) {
        CHECK(got[2 + i] == 0x1900u + (uintptr_t)i);
        CHECK(after[i] == 0x1900u + (uintptr_t)i);
    }
    printf("ok\n");
    return 0;
}
