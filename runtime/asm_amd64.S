/*
 * runtime/asm_amd64.S -- the goroutine context switch for x86-64 (System V).
 *
 * rt__ctx_switch(void **save_sp, void *new_sp, void *handoff) pushes the
 * callee-saved registers and the floating-point control state (MXCSR, x87
 * control word) on the current stack, stores the stack pointer in *save_sp,
 * loads new_sp and pops the same frame from there; the context it resumes
 * sees its own call return `handoff` (the scheduler passes its M, so the
 * resumed goroutine need not look it up in TLS).  Everything else is caller-saved by
 * the ABI, so this is the whole state of a goroutine that called it.  The
 * frame layout is documented in runtime.h and read back by rt__ctx_read
 * (context.c) for tracebacks of parked goroutines.
 *
 * rt__ctx_start is where a new goroutine's first switch "returns" to: it
 * calls entry(arg) (r13, r12 set up by rt__ctx_make).  Its CFI marks the
 * return address undefined, so libunwind, gdb and the CPU profiler stop at a
 * goroutine's root instead of walking into whatever lies above its stack.
 */
#include "asm_amd64.inc"
#if defined(__x86_64__)
        .text

/* Pushes the frame documented in runtime.h (rbp, rbx, r12-r15, then MXCSR
 * and the x87 control word in one 8-byte slot) and stores the stack
 * pointer in *%rdi.  Shared by both switch entry points. */
        .macro SAVE_CONTEXT
        PUSH_CALLEE_SAVED
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        .endm

        .globl  rt__ctx_switch
        .hidden rt__ctx_switch
        .type   rt__ctx_switch, @function
        .p2align 4
rt__ctx_switch:
        .cfi_startproc
        SAVE_CONTEXT
        /* From here on the CFI describes the new stack's identical frame. */
        /* Load the control words only when they differ from ours: both
         * loads are slow, and nearly every goroutine keeps the defaults.
         * Each is read back at the size it was stored, so the loads are
         * forwarded from the stores (an 8-byte read of the two would stall
         * on a failed store-to-load forward). */
        movl    (%rsp), %r8d
        movzwl  4(%rsp), %r9d
        movq    %rsi, %rsp
        cmpl    (%rsp), %r8d
        jne     1f
        cmpw    4(%rsp), %r9w
        jne     1f
2:      addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        popq    %r14
        .cfi_adjust_cfa_offset -8
        popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        /* A plain ret, well predicted: every switch is made from the same
         * call site (gswitch), so the return address the return stack
         * buffer holds from our own call is the one we resume at.  (A
         * pop + indirect jmp beat ret in a two-call-site micro-benchmark,
         * but unbalanced the buffer and slowed channel ping-pong by 40 %.) */
        movq    %rdx, %rax      /* the resumed context's return value */
        ret
1:      ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     2b
        .cfi_endproc
        .globl  rt__ctx_switch_end
        .hidden rt__ctx_switch_end
rt__ctx_switch_end:
        .size   rt__ctx_switch, .-rt__ctx_switch

/*
 * rt__ctx_switch_fresh(save_sp, stack_top, entry, arg): the same save as
 * rt__ctx_switch, then starts a goroutine that has never run on the fresh
 * stack_top (16-byte aligned) with the default control words.  Building the
 * first frame here, on the M that runs the goroutine, instead of in rt_go,
 * keeps the spawner from touching the new goroutine's stack page at all.
 */
        .globl  rt__ctx_switch_fresh
        .hidden rt__ctx_switch_fresh
        .type   rt__ctx_switch_fresh, @function
        .p2align 4
rt__ctx_switch_fresh:
        .cfi_startproc
        SAVE_CONTEXT
        movq    %rsi, %rsp
        movq    %rcx, %r12
        movq    %rdx, %r13
        /* The other callee-saved registers still hold the goroutine we
         * left: the new one's first frames would save them on its stack
         * and keep them there while it lives -- a conservative root to
         * whatever they pointed at (a server goroutine parked in a read
         * kept the dialer's dropped connection alive, fd and all). */
        xorl    %ebx, %ebx
        xorl    %ebp, %ebp
        xorl    %r14d, %r14d
        xorl    %r15d, %r15d
        ldmxcsr default_fpctl(%rip)
        fldcw   default_fpctl+4(%rip)
        jmp     rt__ctx_start
        .cfi_endproc
        .size   rt__ctx_switch_fresh, .-rt__ctx_switch_fresh

        .globl  rt__ctx_start
        .hidden rt__ctx_start
        .type   rt__ctx_start, @function
        .p2align 4
rt__ctx_start:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi
        callq   *%r13
        ud2
        .cfi_endproc
        .size   rt__ctx_start, .-rt__ctx_start
#endif
        .section .rodata
        .p2align 3
default_fpctl:
        .long   0x1f80          /* MXCSR: exceptions masked, nearest */
        .short  0x037f          /* x87 CW: likewise, extended precision */
        .short  0

        .section .note.GNU-stack, "", @progbits
