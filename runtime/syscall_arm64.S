/*
 * runtime/syscall_arm64.S -- rt_syscall_enter for aarch64 (AAPCS64).
 *
 * As runtime/syscall_amd64.S: stores its caller's x29, x30 and x19-x28
 * (12 words, in that order) and calls rt__syscall_enter(regs, sp) with
 * sp = the caller's stack pointer.
 */
#if defined(__aarch64__)
        .text
        .globl  rt_syscall_enter
        .type   rt_syscall_enter, %function
        .p2align 4
rt_syscall_enter:
        .cfi_startproc
        stp     x29, x30, [sp, #-96]!
        .cfi_adjust_cfa_offset 96
        .cfi_rel_offset x29, 0
        .cfi_rel_offset x30, 8
        mov     x29, sp
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        mov     x0, sp
        add     x1, sp, #96
        bl      rt__syscall_enter
        ldp     x29, x30, [sp], #96
        .cfi_adjust_cfa_offset -96
        .cfi_restore x29
        .cfi_restore x30
        ret
        .cfi_endproc
        .size   rt_syscall_enter, .-rt_syscall_enter
#endif
        .section .note.GNU-stack, "", %progbits
