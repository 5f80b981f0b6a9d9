/*
 * sched/gcstop.c -- stopping the world for the collector, and the roots
 * the scheduler owns.
 *
 * Step 1 (cooperative): rt__gc_stopworld is rt__stop_the_world (proc.c):
 * goroutines stop at their next scheduling point, Ps in system calls and
 * idle Ps are taken.  The signal-based stop of threads running C code
 * comes next; the essay will describe both.
 */
#include <stdint.h>
#include <string.h>

#include "sched/sched.h"

#define RED_ZONE 128 /* x86-64 SysV: a leaf may use 128 bytes below sp */

void rt__gc_stopworld(void)
{
    rt__stop_the_world("GC");
}

void rt__gc_startworld(void)
{
    rt__start_the_world();
}

void rt__nostop_stop_pending(rt_m *mp)
{
    mp->stop_pending = 0;
}

static inline uintptr_t word_down(uintptr_t a)
{
    return a & ~(uintptr_t)(sizeof(uintptr_t) - 1);
}

static inline uintptr_t word_up(uintptr_t a)
{
    return (a + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
}

static void report(rt__root_fn fn, void *ctx, uintptr_t lo, uintptr_t hi)
{
    lo = word_up(lo);
    hi = word_down(hi);
    if (lo < hi)
        fn(lo, hi, ctx);
}

/* [sp - red zone, hi) of a stack [lo, hi), sp clamped into it. */
static void report_stack_from(rt__root_fn fn, void *ctx, const rt__stack *st,
                              uintptr_t sp)
{
    uintptr_t lo = sp - RED_ZONE;
    if (sp < st->lo + RED_ZONE)
        lo = st->lo;
    report(fn, ctx, lo, st->hi);
}

static inline bool in_stack(const rt__stack *st, uintptr_t a)
{
    return a >= st->lo && a < st->hi;
}

static inline uintptr_t current_sp(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    volatile uintptr_t here = 0;
    sp = (uintptr_t)&here;
#endif
    return sp;
}

/*
 * The initiator's own stack.  __builtin_unwind_init makes the prologue save
 * every callee-saved register in this frame, so the callers' values (which
 * may live only in registers) are below the sp read here; caller-saved
 * registers hold nothing live across the call.
 */
static __attribute__((noinline)) void roots_self(rt__root_fn fn, void *ctx,
                                                 rt_g *self)
{
    __builtin_unwind_init();
    uintptr_t sp = current_sp();
    if (!in_stack(&self->stack, sp))
        rt__throw("gc_sched_roots: initiator not on its goroutine stack");
    report(fn, ctx, sp, self->stack.hi);
    __asm__ volatile("" ::: "memory"); /* keep the frame alive until here */
}

/* The stack of one G (not the initiator's), allg_lock held. */
static void roots_g(rt__root_fn fn, void *ctx, rt_g *gp)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st == RT_GDEAD || st == RT_GIDLE || gp->stack.hi == 0)
        return;
    if (st == RT_GSYSCALL) {
        /* Its thread runs below syscallsp; the frames above and the
         * registers saved by rt_syscall_enter hold what it had. */
        rt_m *mp = gp->m;
        if (mp != NULL)
            report(fn, ctx, (uintptr_t)mp->syscallregs,
                   (uintptr_t)(mp->syscallregs + RT_SYSCALL_NREGS));
        report(fn, ctx, gp->syscallsp, gp->stack.hi);
        return;
    }
    uintptr_t sp = (uintptr_t)gp->sp;
    if (sp == 0) {
        /* Has a stack but never switched out: it is starting on it right
         * now (a stopped world never leaves it so) -- nothing live yet. */
        return;
    }
    if (!in_stack(&gp->stack, sp))
        rt__throwf("gc_sched_roots: goroutine %lld: saved sp %#lx outside its stack",
                   (long long)gp->goid, (unsigned long)sp);
    report_stack_from(fn, ctx, &gp->stack, sp);
}

void rt__gc_sched_roots(rt__root_fn fn, void *ctx)
{
    rt_m *self_m = rt__getm();
    rt_g *self = self_m ? self_m->curg : NULL;
    if (self == NULL)
        rt__throw("gc_sched_roots: not on a goroutine");

    roots_self(fn, ctx, self);

    rt__lock_acquire(&rt__sched.allg_lock);
    for (uint32_t i = 0; i < rt__sched.allglen; i++) {
        rt_g *gp = rt__sched.allg[i];
        report(fn, ctx, (uintptr_t)gp, (uintptr_t)(gp + 1));
        if (gp != self)
            roots_g(fn, ctx, gp);
    }
    rt__lock_release(&rt__sched.allg_lock);

    for (rt_m *mp = atomic_load_explicit(&rt__sched.allm, memory_order_acquire);
         mp; mp = mp->alllink)
        report(fn, ctx, (uintptr_t)mp, (uintptr_t)(mp + 1));

    for (int32_t i = 0; i < rt__sched.gomaxprocs; i++) {
        rt_p *pp = rt__sched.allp[i];
        report(fn, ctx, (uintptr_t)pp, (uintptr_t)(pp + 1));
        rt__lock_acquire(&pp->timers.lock);
        if (pp->timers.len > 0) {
            report(fn, ctx, (uintptr_t)pp->timers.heap,
                   (uintptr_t)(pp->timers.heap + pp->timers.len));
            for (uint32_t j = 0; j < pp->timers.len; j++) {
                rt__timer *t = pp->timers.heap[j].t;
                report(fn, ctx, (uintptr_t)t, (uintptr_t)(t + 1));
            }
        }
        rt__lock_release(&pp->timers.lock);
    }
}
