/*
 * runtime/asm_arm64.S -- the goroutine context switch for aarch64 (AAPCS64).
 *
 * Same contract as asm_amd64.S: rt__ctx_switch(save_sp, new_sp, handoff) saves the
 * callee-saved state (x19-x28, the frame pointer x29, the link register x30,
 * the low halves d8-d15 of v8-v15, and FPCR) in a 176-byte frame on the
 * current stack, stores sp in *save_sp, loads new_sp, restores and returns
 * through x30.  rt__ctx_start calls entry(arg) from x20(x19) and ends every
 * unwind (.cfi_undefined x30).  Frame layout: see runtime.h.
 */
#if defined(__aarch64__)
        .text

/* Stores the 176-byte frame documented in runtime.h and the stack pointer
 * in *x0.  Shared by both switch entry points. */
        .macro SAVE_CONTEXT
        sub     sp, sp, #176
        .cfi_adjust_cfa_offset 176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        .cfi_rel_offset x29, 80
        .cfi_rel_offset x30, 88
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]
        mov     x9, sp
        str     x9, [x0]
        .endm

        .globl  rt__ctx_switch
        .hidden rt__ctx_switch
        .type   rt__ctx_switch, %function
        .p2align 4
rt__ctx_switch:
        .cfi_startproc
        SAVE_CONTEXT
        mov     sp, x1
        ldr     x9, [sp, #160]
        msr     fpcr, x9
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #176
        .cfi_adjust_cfa_offset -176
        mov     x0, x2          /* the resumed context's return value */
        ret
        .cfi_endproc
        .globl  rt__ctx_switch_end
        .hidden rt__ctx_switch_end
rt__ctx_switch_end:
        .size   rt__ctx_switch, .-rt__ctx_switch

/* rt__ctx_switch_fresh(save_sp, stack_top, entry, arg): see asm_amd64.S. */
        .globl  rt__ctx_switch_fresh
        .hidden rt__ctx_switch_fresh
        .type   rt__ctx_switch_fresh, %function
        .p2align 4
rt__ctx_switch_fresh:
        .cfi_startproc
        SAVE_CONTEXT
        mov     sp, x1
        mov     x19, x3
        mov     x20, x2
        msr     fpcr, xzr
        mov     x29, xzr
        /* The other callee-saved registers still hold the goroutine we
         * left: the new one's first frames would save them on its stack,
         * a conservative root to what they pointed at (asm_amd64.S). */
        mov     x21, xzr
        mov     x22, xzr
        mov     x23, xzr
        mov     x24, xzr
        mov     x25, xzr
        mov     x26, xzr
        mov     x27, xzr
        mov     x28, xzr
        fmov    d8, xzr
        fmov    d9, xzr
        fmov    d10, xzr
        fmov    d11, xzr
        fmov    d12, xzr
        fmov    d13, xzr
        fmov    d14, xzr
        fmov    d15, xzr
        b       rt__ctx_start
        .cfi_endproc
        .size   rt__ctx_switch_fresh, .-rt__ctx_switch_fresh

        .globl  rt__ctx_start
        .hidden rt__ctx_start
        .type   rt__ctx_start, %function
        .p2align 4
rt__ctx_start:
        .cfi_startproc
        .cfi_undefined x30
        mov     x0, x19
        blr     x20
        brk     #0
        .cfi_endproc
        .size   rt__ctx_start, .-rt__ctx_start
#endif
        .section .note.GNU-stack, "", %progbits
