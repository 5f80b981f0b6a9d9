/*
 * runtime/traceback.c -- stack walks and Go 1.3 traceback text.
 *
 * What it does
 *   Walks the stack of the calling thread, of a signal's interrupted
 *   context, or of a parked goroutine, and prints goroutine headers and
 *   frames in the bytes of Go 1.3 (TRACE_FORMATS.md section 3 and Part A):
 *
 *     goroutine 7 [chan receive]:
 *     worker(...)
 *     \t/src/app/main.c:42 +0x1d
 *     created by main_fn
 *     \t/src/app/main.c:80 +0x5a
 *
 * How a walk works
 *   All walks use libunwind's local unwinder, driven by the DWARF CFI the
 *   compiler emits for every function (-fasynchronous-unwind-tables is the
 *   default on x86-64 and aarch64 Linux), so frames without a frame pointer
 *   unwind as well as any other.  A walk starts from one of three contexts:
 *     - the calling thread: unw_getcontext in the walker itself, after which
 *       the walker's own frames are dropped by their canonical frame address
 *       (every frame whose CFA is at or below the public entry point's own
 *       CFA belongs to the traceback machinery -- robust against the
 *       compiler inlining, cloning or splitting the static helpers, which a
 *       frame count is not);
 *     - a signal's ucontext: unw_init_local2(UNW_INIT_SIGNAL_FRAME), so the
 *       interrupted PC is used as it is, not as a return address;
 *     - a parked goroutine: rt__ctx_switch left its callee-saved registers
 *       and resume PC on its stack; rt__ctx_read decodes them and we build a
 *       machine context from them (on x86-64 and aarch64 unw_context_t is a
 *       ucontext-shaped struct) for unw_init_local;
 *     - a goroutine in a system call: rt_syscall_enter left its caller's
 *       callee-saved registers and return address in the M and its stack
 *       pointer in the G; the frames above stay put until the call ends,
 *       and a walk that finds the goroutine out of it afterwards is
 *       dropped (walk_syscall).
 *   A walk ends at RT_MAX_FRAMES, at a frame libunwind cannot step past, or
 *   at the goroutine trampoline rt__ctx_start, whose CFI marks the return
 *   address undefined; we also stop on reaching its address range, in case
 *   a future trampoline forgets the CFI.  A goroutine that never ran still
 *   has its initial context pointing into the trampoline; unwinding it would
 *   look up CFI for the instruction before the trampoline, so instead its
 *   one frame is its entry function gp->fn (Go prints g->entry likewise);
 *   the same for a goroutine with no saved context at all (gp->sp == NULL:
 *   the scheduler builds the first frame when it first switches to it).
 *
 * PCs and lines
 *   The innermost frame's PC is where that frame is (or resumes); every
 *   other frame's PC is a return address, one instruction past the call.
 *   For the line we look up pc-1, the call instruction itself, except for
 *   the innermost frame, signal trampolines and a frame a signal
 *   interrupted: those PCs are exact ("exact" below).  The symbol lookup is
 *   done at that same adjusted address (a call that ends a function must not
 *   be attributed to the next function) while +0xOFF is the unadjusted pc
 *   minus the entry, as Go prints it.  The public walkers return raw PCs
 *   except that an exact PC in a caller position (a frame interrupted by a
 *   signal, seen in a walk that crossed the signal trampoline) is returned
 *   plus 1, so consumers may subtract 1 from every PC after the first.
 *
 * Which frames are shown
 *   A frame whose function lies in libgrt (rt__symbolize's in_runtime) and
 *   signal trampolines are hidden below traceback level 2, as Go hides
 *   runtime.* frames.  If that would hide every frame (the goroutine's
 *   function tail-called the runtime, so its frame is gone), the entry
 *   function gp->fn stands in for them, as for a goroutine that never
 *   ran; without one, and for a fault in a signal handler, all are
 *   printed.
 *   "created by" is printed unless the goroutine is goroutine 1, under the
 *   same filter, from gp->gopc (the return address of the rt_go call).
 *
 * Rejected alternatives
 *   - Frame-pointer walks: would need -fno-omit-frame-pointer in user code
 *     and libc, and break at every leaf without a frame.
 *   - backtrace(3): glibc's version calls into libgcc_s, whose first use
 *     dlopen()s and mallocs; it also cannot start from a parked context.
 *   - Printing with stdio: allocates and is not async-signal-safe; every
 *     byte here goes through rt__buf (whole lines per write(2)).
 *
 * Invariants and caveats
 *   - Nothing here allocates: buffers are on the stack (a traceback needs
 *     about 8 KiB: frame arrays, a libunwind cursor, a machine context and
 *     symtab.c's path buffer), libunwind's local walks use per-thread
 *     caches (set up once here, so a signal handler never waits for a
 *     global cache lock), and symbol lookups after rt__symtab_init hit
 *     libdw's preloaded tables and symtab.c's cache.
 *   - Walking another goroutine is only safe while it stays parked.  Like
 *     Go 1.3's tracebackothers outside a stopped world, a goroutine that is
 *     readied and runs during the walk can yield a wrong stack (its stack
 *     memory stays mapped, so the walk reads stale data, never unmapped
 *     pages).  A running goroutine or one in a syscall is not walked at all:
 *     its thread owns the stack.
 */
#define UNW_LOCAL_ONLY
#include <inttypes.h>
#include <libunwind.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#include "runtime/runtime.h"
#include "sched/sched.h"

/* Frame flags. */
enum {
    F_EXACT = 1,  /* the pc is not a return address: line at pc */
    F_SIGNAL = 2, /* a signal trampoline frame (hidden below level 2) */
};

/* Where a walk writes: any array may be NULL; max entries each. */
typedef struct sink {
    uintptr_t *pcs;
    uintptr_t *cfas;
    uint8_t *flags;
    int max;
} sink;

/* A frame buffer big enough for one printed traceback (+1 to see if there
 * were more frames than Go prints). */
typedef struct frames {
    uintptr_t pcs[RT_MAX_FRAMES + 1];
    uintptr_t cfas[RT_MAX_FRAMES + 1];
    uint8_t flags[RT_MAX_FRAMES + 1];
} frames;

static sink frames_sink(frames *f)
{
    return (sink){f->pcs, f->cfas, f->flags, RT_MAX_FRAMES + 1};
}

/* ------------------------------------------------------- one-time setup -- */

/* 0 not done, 1 being done, 2 done.  CAS 0->1 (acq_rel) by the one that
 * sets up; store 2 with release after tramp_lo/hi are written. */
static _Atomic int unwind_state;
/* [tramp_lo, tramp_hi): the trampoline's code; read with relaxed loads
 * after an acquire load of unwind_state == 2. */
static _Atomic uintptr_t tramp_lo, tramp_hi;

static void unwind_setup(void)
{
    if (atomic_load_explicit(&unwind_state, memory_order_acquire) == 2)
        return;
    int expect = 0;
    if (!atomic_compare_exchange_strong_explicit(&unwind_state, &expect, 1,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
        return; /* someone else (maybe an interrupted us) is on it */

    /* Per-thread caches: the global cache takes a lock, which a signal
     * handler could find held by the very thread it interrupted. */
    (void)unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);

    uintptr_t lo = (uintptr_t)rt__ctx_start, hi = lo + 1;
    unw_proc_info_t pi;
    if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)lo, &pi,
                                NULL) == 0 &&
        pi.start_ip <= lo && pi.end_ip > lo) {
        lo = (uintptr_t)pi.start_ip;
        hi = (uintptr_t)pi.end_ip;
    }
    atomic_store_explicit(&tramp_lo, lo, memory_order_relaxed);
    atomic_store_explicit(&tramp_hi, hi, memory_order_relaxed);
    atomic_store_explicit(&unwind_state, 2, memory_order_release);
}

static bool in_trampoline(uintptr_t pc)
{
    uintptr_t lo = (uintptr_t)rt__ctx_start, hi = lo + 1;
    if (atomic_load_explicit(&unwind_state, memory_order_acquire) == 2) {
        lo = atomic_load_explicit(&tramp_lo, memory_order_relaxed);
        hi = atomic_load_explicit(&tramp_hi, memory_order_relaxed);
    }
    return pc >= lo && pc < hi;
}

/* --------------------------------------------------------------- walks -- */

/*
 * Steps cur outward and records frames into out.  Frames whose CFA is at or
 * below skip_cfa (when non-zero) are dropped first, then skip more frames.
 * The first frame the cursor is on counts as exact.  Returns the number of
 * frames recorded.
 */
static int walk(unw_cursor_t *cur, uintptr_t skip_cfa, int skip, sink *out)
{
    int n = 0;
    bool first = true, prev_signal = false, skipping = skip_cfa != 0;

    /* Each iteration either records a frame or consumes one of at most
     * RT_MAX_FRAMES + skip skips; the bound guards against a CFI loop. */
    for (int iter = 0; n < out->max && iter < 4 * RT_MAX_FRAMES + skip;
         iter++) {
        unw_word_t ip = 0, sp = 0;
        if (unw_get_reg(cur, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        bool sig = unw_is_signal_frame(cur) > 0;
        uint8_t fl = (first || sig || prev_signal) ? F_EXACT : 0;
        if (sig)
            fl |= F_SIGNAL;
        first = false;
        prev_signal = sig;

        int r = unw_step(cur);
        /* The caller's stack pointer is this frame's CFA.  At the end of
         * the stack (r == 0: the CFI marks the return address undefined)
         * libunwind has still applied the frame's CFA rule; after an error
         * it is unknown. */
        if (r < 0 || unw_get_reg(cur, UNW_REG_SP, &sp) < 0)
            sp = 0;

        if (skipping && sp != 0 && (uintptr_t)sp <= skip_cfa)
            goto next;
        skipping = false;
        if (skip > 0) {
            skip--;
            goto next;
        }
        if (out->pcs)
            out->pcs[n] = (uintptr_t)ip;
        if (out->cfas)
            out->cfas[n] = (uintptr_t)sp;
        if (out->flags)
            out->flags[n] = fl;
        n++;
    next:
        if (r <= 0 || in_trampoline((uintptr_t)ip))
            break;
    }
    return n;
}

/* Walks the calling thread from here, dropping the frames at or below
 * skip_cfa and skip more. */
__attribute__((noinline)) static int walk_self(uintptr_t skip_cfa, int skip,
                                               sink *out)
{
    unw_context_t ctx;
    unw_cursor_t cur;

    unwind_setup();
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
        return 0;
    return walk(&cur, skip_cfa, skip, out);
}

static int walk_sig(void *ucontext, sink *out)
{
    unw_cursor_t cur;

    unwind_setup();
    if (ucontext == NULL ||
        unw_init_local2(&cur, (unw_context_t *)ucontext,
                        UNW_INIT_SIGNAL_FRAME) != 0)
        return 0;
    return walk(&cur, 0, 0, out);
}

/* Whether gp is the context running this code: the current goroutine, or
 * the calling thread's g0 (NULL means "whatever is running here"). */
static bool is_self(rt_g *gp)
{
    if (gp == NULL)
        return true;
    if (gp == rt__getg())
        return true;
    if (gp->is_g0) {
        rt_m *mp = rt__getm();
        return mp != NULL && gp == &mp->g0 && rt__getg() == NULL;
    }
    return false;
}

/* Whether gp's saved context may be walked: it is switched out. */
static bool is_parked(rt_g *gp)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    return (st == RT_GRUNNABLE || st == RT_GWAITING) && !gp->is_g0;
}

/* The one frame of a goroutine that never ran: its entry function. */
static int entry_frame(rt_g *gp, uintptr_t cfa, sink *out)
{
    if (gp->fn == NULL)
        return 0;
    if (out->pcs)
        out->pcs[0] = (uintptr_t)gp->fn;
    if (out->cfas)
        out->cfas[0] = cfa;
    if (out->flags)
        out->flags[0] = F_EXACT;
    return 1;
}

/* Walks from a context at a call's return: r.pc the return address,
 * r.sp the stack pointer after the return, the callee-saved registers. */
static int walk_from(const rt__ctx_regs *rr, sink *out)
{
    rt__ctx_regs r = *rr;
    unw_context_t ctx;
    unw_cursor_t cur;

    memset(&ctx, 0, sizeof ctx);
#if defined(__x86_64__)
    ctx.uc_mcontext.gregs[REG_RIP] = (greg_t)r.pc;
    ctx.uc_mcontext.gregs[REG_RSP] = (greg_t)r.sp;
    ctx.uc_mcontext.gregs[REG_RBP] = (greg_t)r.fp;
    /* callee[]: rbx rbp r12 r13 r14 r15 */
    ctx.uc_mcontext.gregs[REG_RBX] = (greg_t)r.callee[0];
    ctx.uc_mcontext.gregs[REG_R12] = (greg_t)r.callee[2];
    ctx.uc_mcontext.gregs[REG_R13] = (greg_t)r.callee[3];
    ctx.uc_mcontext.gregs[REG_R14] = (greg_t)r.callee[4];
    ctx.uc_mcontext.gregs[REG_R15] = (greg_t)r.callee[5];
#elif defined(__aarch64__)
    /* callee[]: x19..x28; x29 is the frame pointer, x30 the resume PC. */
    for (int i = 0; i < 10; i++)
        ctx.uc_mcontext.regs[19 + i] = r.callee[i];
    ctx.uc_mcontext.regs[29] = r.fp;
    ctx.uc_mcontext.regs[30] = r.pc;
    ctx.uc_mcontext.sp = r.sp;
    ctx.uc_mcontext.pc = r.pc;
#else
#error "traceback.c: no parked-context unwinding for this architecture"
#endif
    /* unw_init_local treats the PC as a return address (CFI is looked up
     * at pc-1): right, since it is where the call returns to. */
    if (unw_init_local(&cur, &ctx) != 0)
        return 0;
    return walk(&cur, 0, 0, out);
}

/* Walks a switched-out goroutine from the registers rt__ctx_switch saved. */
static int walk_parked(rt_g *gp, sink *out)
{
    rt__ctx_regs r;

    if (out->max <= 0)
        return 0;
    unwind_setup();
    /* Never ran: no context yet (the first switch builds it), or one made
     * by rt__ctx_make that would enter the trampoline. */
    void *saved = gp->sp;
    if (saved == NULL)
        return entry_frame(gp, 0, out);
    rt__ctx_read(saved, &r);
    if (in_trampoline(r.pc))
        return entry_frame(gp, r.sp, out);
    return walk_from(&r, out);
}

/* Walks a goroutine in a system call (RT_BLOCKING, rt_syscall_enter ..
 * _exit) from where it entered it: its thread runs below syscallsp, the
 * frames above stay as they are until it leaves (Go shows such a
 * goroutine from its system call up).  0 if it left meanwhile. */
static int walk_syscall(rt_g *gp, sink *out)
{
    if (out->max <= 0)
        return 0;
    rt_m *mp = __atomic_load_n(&gp->m, __ATOMIC_RELAXED);
    uintptr_t sp = __atomic_load_n(&gp->syscallsp, __ATOMIC_RELAXED);
    if (mp == NULL || sp == 0 ||
        atomic_load_explicit(&gp->status, memory_order_acquire) != RT_GSYSCALL)
        return 0;
    uintptr_t regs[RT_SYSCALL_NREGS];
    for (int i = 0; i < RT_SYSCALL_NREGS; i++)
        regs[i] = __atomic_load_n(&mp->syscallregs[i], __ATOMIC_RELAXED);
    rt__ctx_regs r;
    memset(&r, 0, sizeof r);
    r.pc = __atomic_load_n(&mp->syscallpc, __ATOMIC_RELAXED);
    r.sp = sp;
#if defined(__x86_64__)
    /* regs: r15 r14 r13 r12 rbx rbp (syscall_amd64.S); callee[]: rbx rbp
     * r12 r13 r14 r15 */
    r.callee[0] = regs[4];
    r.callee[1] = regs[5];
    r.callee[2] = regs[3];
    r.callee[3] = regs[2];
    r.callee[4] = regs[1];
    r.callee[5] = regs[0];
    r.fp = regs[5];
#elif defined(__aarch64__)
    /* regs: x29 x30 x19..x28 (syscall_arm64.S) */
    for (int i = 0; i < 10; i++)
        r.callee[i] = regs[2 + i];
    r.fp = regs[0];
#endif
    unwind_setup();
    int n = walk_from(&r, out);
    /* Left the call (and maybe entered another) while we walked: its
     * frames may have changed under the walk. */
    if (atomic_load_explicit(&gp->status, memory_order_acquire) != RT_GSYSCALL ||
        __atomic_load_n(&gp->syscallsp, __ATOMIC_RELAXED) != sp ||
        __atomic_load_n(&gp->m, __ATOMIC_RELAXED) != mp)
        return 0;
    return n;
}

/* Public PCs: an exact PC after the first frame goes out as pc+1. */
static int public_pcs(int n, uintptr_t *pcs, const uint8_t *flags)
{
    for (int i = 1; i < n; i++)
        if (flags[i] & F_EXACT)
            pcs[i]++;
    return n;
}

/*
 * The three public walkers record flags in a small local array alongside
 * the caller's buffers, in chunks of RT_MAX_FRAMES + 1 (the walk itself is
 * not resumable, so max beyond that is clamped: Go's tracebacks and
 * profiles never keep more frames).
 */
__attribute__((noinline)) int rt__callers(int skip, uintptr_t *pcs,
                                          uintptr_t *cfas, int max)
{
    uint8_t flags[RT_MAX_FRAMES + 1];
    sink out = {pcs, cfas, flags, max < RT_MAX_FRAMES + 1 ? max
                                                          : RT_MAX_FRAMES + 1};
    if (pcs == NULL || max <= 0)
        return 0;
    int n = walk_self((uintptr_t)__builtin_dwarf_cfa(), skip, &out);
    /* Keeps this frame (no tail call), so the CFA filter sees it. */
    __asm__ volatile("" ::: "memory");
    return public_pcs(n, pcs, flags);
}

int rt__callers_sig(void *ucontext, uintptr_t *pcs, uintptr_t *cfas, int max)
{
    uint8_t flags[RT_MAX_FRAMES + 1];
    sink out = {pcs, cfas, flags, max < RT_MAX_FRAMES + 1 ? max
                                                          : RT_MAX_FRAMES + 1};
    if (pcs == NULL || max <= 0)
        return 0;
    return public_pcs(walk_sig(ucontext, &out), pcs, flags);
}

__attribute__((noinline)) int rt__callers_g(rt_g *gp, uintptr_t *pcs,
                                            uintptr_t *cfas, int max)
{
    uint8_t flags[RT_MAX_FRAMES + 1];
    sink out = {pcs, cfas, flags, max < RT_MAX_FRAMES + 1 ? max
                                                          : RT_MAX_FRAMES + 1};
    int n = 0;
    if (pcs == NULL || max <= 0)
        return 0;
    if (is_self(gp))
        n = walk_self((uintptr_t)__builtin_dwarf_cfa(), 0, &out);
    else if (is_parked(gp))
        n = walk_parked(gp, &out);
    else if (!gp->is_g0 &&
             atomic_load_explicit(&gp->status, memory_order_acquire) == RT_GSYSCALL)
        n = walk_syscall(gp, &out);
    __asm__ volatile("" ::: "memory");
    return public_pcs(n, pcs, flags);
}

/* ------------------------------------------------------------ printing -- */

static const char *status_word(rt_g *gp, uint32_t st)
{
    if (gp->is_g0)
        return "idle";
    switch (st) {
    case RT_GIDLE:
        return "idle";
    case RT_GRUNNABLE:
        return "runnable";
    case RT_GRUNNING:
        return "running";
    case RT_GSYSCALL:
        return "syscall";
    case RT_GWAITING: {
        /* Racy by design (the goroutine may park again meanwhile): one
         * relaxed load, so the test and the use see the same string. */
        const char *wr = __atomic_load_n(&gp->waitreason, __ATOMIC_RELAXED);
        return wr != NULL && wr[0] != '\0' ? wr : "waiting";
    }
    default:
        return "???";
    }
}

/* The header with word in place of gp's status word when word is set. */
static void print_header(rt__buf *b, rt_g *gp, const char *word)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    int64_t mins = 0;
    int64_t since = __atomic_load_n(&gp->waitsince, __ATOMIC_RELAXED);
    if ((st == RT_GWAITING || st == RT_GSYSCALL) && since != 0) {
        int64_t waited = rt_nanotime() - since;
        mins = waited / (60 * RT_SECOND);
    }
    if (word == NULL)
        word = status_word(gp, st);
    if (mins >= 1)
        rt__buf_printf(b, "goroutine %" PRId64 " [%s, %" PRId64 " minutes]:\n",
                       gp->goid, word, mins);
    else
        rt__buf_printf(b, "goroutine %" PRId64 " [%s]:\n", gp->goid, word);
}

void rt__print_goroutine_header(rt__buf *b, rt_g *gp)
{
    print_header(b, gp, NULL);
}

/* Looks pc up at the address its line belongs to (see "PCs and lines"). */
static void symbolize_frame(uintptr_t pc, uint8_t fl, rt__sym *s)
{
    rt__symbolize((fl & F_EXACT) || pc == 0 ? pc : pc - 1, s);
}

static bool frame_hidden(const rt__sym *s, uint8_t fl, int level)
{
    return level < 2 && (s->in_runtime || (fl & F_SIGNAL));
}

/* "\tFILE:LINE[ +0xOFF]" for pc in function s. */
static void print_file_line(rt__buf *b, uintptr_t pc, const rt__sym *s)
{
    if (s->name == NULL) {
        rt__buf_puts(b, "\t?:0");
        return;
    }
    rt__buf_printf(b, "\t%s:%d", s->file != NULL ? s->file : "?", s->line);
    if (s->entry != 0 && pc > s->entry)
        rt__buf_printf(b, " +0x%" PRIxPTR, pc - s->entry);
}

static void print_frames(rt__buf *b, const frames *f, int n, int level, rt_g *gp)
{
    rt__sym s;
    bool elided = n > RT_MAX_FRAMES;
    if (elided)
        n = RT_MAX_FRAMES;

    int shown = 0;
    for (int i = 0; i < n; i++) {
        symbolize_frame(f->pcs[i], f->flags[i], &s);
        if (!frame_hidden(&s, f->flags[i], level))
            shown++;
    }
    bool all = shown == 0;
    if (all && n > 0 && gp != NULL && !gp->is_g0 && gp->fn != NULL &&
        rt__symbolize((uintptr_t)gp->fn, &s) && !s.in_runtime) {
        /* Every frame is the runtime's: the goroutine's own function
         * ended in a tail call into it (gcc -O2 turns a last
         * rt_chan_recv(c, NULL) into a jump), so its frame is gone.  Its
         * entry function stands for it, as for a goroutine that never
         * ran, rather than the runtime's frames Go never shows. */
        rt__buf_printf(b, "%s(...)\n", s.name);
        print_file_line(b, (uintptr_t)gp->fn, &s);
        rt__buf_puts(b, "\n");
        return;
    }

    for (int i = 0; i < n; i++) {
        symbolize_frame(f->pcs[i], f->flags[i], &s);
        if (!all && frame_hidden(&s, f->flags[i], level))
            continue;
        if (s.name != NULL)
            rt__buf_printf(b, "%s(...)\n", s.name);
        else
            rt__buf_puts(b, "?()\n");
        print_file_line(b, f->pcs[i], &s);
        if (level >= 2)
            rt__buf_printf(b, " fp=0x%" PRIxPTR, f->cfas[i]);
        rt__buf_puts(b, "\n");
    }
    if (elided)
        rt__buf_puts(b, "...additional frames elided...\n");
}

static void print_created_by(rt__buf *b, rt_g *gp, int level)
{
    rt__sym s;
    if (gp == NULL || gp->is_g0 || gp->goid == 1 || gp->gopc == 0)
        return;
    if (!rt__symbolize(gp->gopc - 1, &s) || (s.in_runtime && level < 2))
        return;
    rt__buf_printf(b, "created by %s\n", s.name);
    print_file_line(b, gp->gopc, &s);
    rt__buf_puts(b, "\n");
}

/* The traceback of the calling context; frames at or below skip_cfa (the
 * public entry point's CFA) are the machinery's own. */
static void traceback_self(rt__buf *b, rt_g *gp, int level, uintptr_t skip_cfa)
{
    frames f;
    sink out = frames_sink(&f);
    int n = walk_self(skip_cfa, 0, &out);
    print_frames(b, &f, n, level, gp);
    print_created_by(b, gp != NULL ? gp : rt__getg(), level);
}

/* The traceback of a goroutine other than the caller.  walk_running, if
 * set, walks a goroutine running on another thread (its leaf exact). */
static void traceback_other(rt__buf *b, rt_g *gp, int level, rt__running_walker walk_running)
{
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    int nsys = 0;
    frames fs;
    if (!gp->is_g0 && st == RT_GSYSCALL) {
        sink out = frames_sink(&fs);
        nsys = walk_syscall(gp, &out);
    } else if (!gp->is_g0 && st == RT_GRUNNING && walk_running != NULL) {
        nsys = walk_running(gp, fs.pcs, RT_MAX_FRAMES + 1);
        for (int i = 0; i < nsys; i++) {
            fs.flags[i] = i == 0 ? F_EXACT : 0;
            fs.cfas[i] = 0;
        }
    }
    if (nsys > 0) {
        print_frames(b, &fs, nsys, level, gp);
    } else if (gp->is_g0 || st == RT_GRUNNING || st == RT_GSYSCALL) {
        rt__buf_puts(b, "\tgoroutine running on other thread; "
                        "stack unavailable\n");
    } else if (is_parked(gp)) {
        frames f;
        sink out = frames_sink(&f);
        print_frames(b, &f, walk_parked(gp, &out), level, gp);
    }
    print_created_by(b, gp, level);
}

__attribute__((noinline)) void rt__print_traceback(rt__buf *b, rt_g *gp,
                                                   int level)
{
    if (is_self(gp))
        traceback_self(b, gp, level, (uintptr_t)__builtin_dwarf_cfa());
    else
        traceback_other(b, gp, level, NULL);
    __asm__ volatile("" ::: "memory");
}

void rt__print_traceback_above(rt__buf *b, uintptr_t skip_cfa, int level)
{
    traceback_self(b, NULL, level, skip_cfa);
}

void rt__print_traceback_sig_caller(rt__buf *b, rt_g *gp, void *ucontext, uintptr_t ra,
                                    int level)
{
    frames f;
    sink out = frames_sink(&f);
    int n = walk_sig(ucontext, &out);
    if (n > 0) {
        f.pcs[0] = ra; /* a return address: its line is the call's */
        f.flags[0] = 0;
    }
    print_frames(b, &f, n, level, NULL); /* (a fault in the runtime shows it all) */
    print_created_by(b, gp, level);
}

void rt__print_traceback_sig(rt__buf *b, rt_g *gp, void *ucontext, int level)
{
    frames f;
    sink out = frames_sink(&f);
    print_frames(b, &f, walk_sig(ucontext, &out), level, NULL);
    print_created_by(b, gp, level);
}

/* Goroutines to print, copied out of allg a chunk at a time so that the
 * allg lock is not held across stack walks (rt_go would wait on it). */
#define CHUNK 128

typedef struct collect {
    uint32_t start; /* allg index of the chunk's first G */
    uint32_t seen;  /* Gs visited so far in this pass */
    int n;
    int level;
    rt_g *me;
    rt_g *gs[CHUNK];
} collect;

static void collect_g(rt_g *gp, void *arg)
{
    collect *c = arg;
    uint32_t i = c->seen++;
    if (i < c->start || i >= c->start + CHUNK)
        return;
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
    if (gp == c->me || gp->is_g0 || st == RT_GDEAD)
        return;
    if (rt__g_hidden(gp) && c->level < 2)
        return;
    c->gs[c->n++] = gp;
}

static void print_all(rt__buf *b, uintptr_t skip_cfa, const char *self_word, int level,
                      rt__running_walker walk_running);

void rt__print_all_goroutines_above(rt__buf *b, uintptr_t skip_cfa,
                                    const char *self_word, int level)
{
    print_all(b, skip_cfa, self_word, level, NULL);
}

static void print_all(rt__buf *b, uintptr_t skip_cfa, const char *self_word, int level,
                      rt__running_walker walk_running)
{
    if (level <= 0)
        return;
    rt_g *me = rt__getg();
    if (me != NULL) {
        print_header(b, me, self_word);
        traceback_self(b, me, level, skip_cfa);
    }

    collect c;
    for (uint32_t start = 0;; start += CHUNK) {
        c.start = start;
        c.seen = 0;
        c.n = 0;
        c.level = level;
        c.me = me;
        /* A fatal error's dump must not wait for the list's lock: its
         * holder may be the thread that hung, or died holding it. */
        if (atomic_load_explicit(&rt__throwing, memory_order_relaxed))
            rt__for_each_g_dying(collect_g, &c);
        else
            rt__for_each_g(collect_g, &c);
        for (int i = 0; i < c.n; i++) {
            rt_g *gp = c.gs[i];
            if (atomic_load_explicit(&gp->status, memory_order_relaxed) ==
                RT_GDEAD)
                continue;
            rt__buf_puts(b, "\n");
            /* The goroutine profile (walk_running set) stands for Go's
             * runtime.Stack(all), which stops the world first: a goroutine
             * running elsewhere is preempted by that stop and shows as
             * runnable there (TRACE_FORMATS.md 7), walked from where it
             * runs here.  A fatal error's dump keeps "running" (Go's). */
            print_header(b, gp,
                         walk_running != NULL && !gp->is_g0 &&
                                 atomic_load_explicit(&gp->status, memory_order_acquire) ==
                                     RT_GRUNNING
                             ? "runnable"
                             : NULL);
            traceback_other(b, gp, level, walk_running);
        }
        if (c.seen <= start + CHUNK)
            break;
    }
}

__attribute__((noinline)) void rt__print_all_goroutines(rt__buf *b,
                                                        int level)
{
    print_all(b, (uintptr_t)__builtin_dwarf_cfa(), NULL, level, NULL);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void rt__print_all_goroutines_walking(rt__buf *b, int level,
                                                                rt__running_walker walker)
{
    print_all(b, (uintptr_t)__builtin_dwarf_cfa(), NULL, level, walker);
    __asm__ volatile("" ::: "memory");
}
