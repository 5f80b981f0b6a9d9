/*
 * runtime/syscall_amd64.S -- rt_syscall_enter for x86-64 (System V).
 *
 * rt_syscall_enter(void), the public entry (rt.h), pushes its caller's
 * callee-saved registers and calls rt__syscall_enter(regs, sp)
 * (sched/proc.c) with regs = that block (r15 r14 r13 r12 rbx rbp, 6 words)
 * and sp = the caller's stack pointer once this call returns.  The
 * collector scans a goroutine in a system call from sp up plus those
 * registers (sched/gcstop.c): every pointer its frames hold at the call is
 * in one or the other, while its thread goes on running below sp.
 *
 * Why assembly: only at this entry are the caller's values certain to be
 * in those registers.  A C rt_syscall_enter could already have saved them
 * in a frame of its own, below sp, which the system call then overwrites
 * while the collector scans.
 */
#include "asm_amd64.inc"
#if defined(__x86_64__)
        .text
        .globl  rt_syscall_enter
        .type   rt_syscall_enter, @function
        .p2align 4
rt_syscall_enter:
        .cfi_startproc
        leaq    8(%rsp), %rsi
        PUSH_CALLEE_SAVED
        movq    %rsp, %rdi
        subq    $8, %rsp                /* 16-byte alignment for the call */
        .cfi_adjust_cfa_offset 8
        call    rt__syscall_enter
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        ret
        .cfi_endproc
        .size   rt_syscall_enter, .-rt_syscall_enter
#endif
        .section .note.GNU-stack, "", @progbits
