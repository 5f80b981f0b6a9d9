/*
 * runtime/fatal.c -- fatal errors: throw, the SIGSEGV/SIGBUS handler, and
 * SIGQUIT's goroutine dump.
 *
 * What
 *   rt__throw(msg) is Go's throw: a broken invariant or a programming error
 *   the runtime cannot recover from (all goroutines asleep, close of a
 *   closed channel, ...).  It prints
 *
 *       fatal error: <msg>
 *       <blank line>
 *       goroutine 1 [chan receive]:            (every goroutine, as Go's
 *       ...                                     tracebackothers; GOTRACEBACK
 *                                               sets the level, 0 none)
 *
 *   and exits with status 2 (GOTRACEBACK=crash: abort(), for a core dump).
 *
 *   The fault handler turns SIGSEGV and SIGBUS into Go's messages:
 *     - a fault in the guard page of a goroutine stack, or with the stack
 *       pointer below the goroutine's stack (a frame larger than the guard
 *       stepped over it), is a stack overflow -- as is a switch away from
 *       below the stack (proc.c, gswitch), where such a frame wrote into
 *       another stack without faulting:
 *         runtime: goroutine stack exceeds 262144-byte limit
 *         fatal error: stack overflow
 *     - a bad pointer below 4 KiB in a goroutine is Go's nil dereference:
 *         panic: runtime error: invalid memory address or nil pointer dereference
 *         [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x...]
 *     - another bad address in a goroutine is Go's "fault":
 *         unexpected fault address 0x...
 *         fatal error: fault
 *         [signal SIGSEGV: segmentation violation code=0x1 addr=0x... pc=0x...]
 *     - a fault on a thread with no goroutine running:
 *         fatal error: unexpected signal during runtime execution
 *         [signal SIGSEGV: ...]
 *   then a blank line, the faulting goroutine's traceback walked from the
 *   signal context (from the caller's return address when the fault was
 *   the fetch of a pc in no function: a call through a bad function
 *   pointer, caller_of_bad_call), and the other goroutines; exit status 2.
 *   A SIGSEGV/SIGBUS handler the program installed before rt_main gets
 *   every fault but the runtime's own (write tracking, a stack guard)
 *   instead, as Go passes faults in non-Go code on (forward_fault).
 *
 *   An integer division by zero in a goroutine is Go's runtime error:
 *         panic: runtime error: integer divide by zero
 *         [signal SIGFPE: floating-point exception code=0x1 addr=0x... pc=0x...]
 *
 *   SIGQUIT (kill -QUIT, Ctrl-\\) prints Go's dump of a program that is
 *   asked to quit -- "SIGQUIT: quit", "PC=0x... m=N sigcode=C", then every
 *   goroutine, then the registers -- and exits 2; SIGABRT (abort(), a
 *   failed assert) the same under "SIGABRT: abort", as Go does for C code
 *   that aborts, and so do SIGILL (a trap instruction: __builtin_trap,
 *   with the instruction's bytes), SIGTRAP, SIGSYS and SIGSTKFLT, Go's
 *   other "throw" signals.  Installed where the signal had its default
 *   action (or, for SIGQUIT, was ignored: Go keeps only SIGHUP and SIGINT
 *   ignored); a program that handles one keeps its handler.  The signal
 *   lands on any thread that does not block it (m=-1: not an M).  Its
 *   goroutine list is read with allg's lock if that comes within 50 ms,
 *   else without it (Go's forEachGRace): a dump is most wanted when
 *   something hangs, maybe holding that lock.  With a scheduler tracer on
 *   and GOTRACEBACK=system, the report starts with the scheduler's detailed
 *   dump and the timers' state (print_timers).
 *
 * Why this design
 *   A goroutine that overflows its stack touches the guard page below it,
 *   and the kernel can only deliver SIGSEGV on a stack that still has room:
 *   hence SA_ONSTACK and a per-thread alternate signal stack (64 KiB, from
 *   mmap, with a guard page of its own).  Every thread that runs goroutines
 *   calls rt__fatal_thread_init() when it starts; the stack is unmapped by
 *   a thread-specific-data destructor when the thread exits.
 *
 *   The handler and throw print with rt__buf (print.c), which neither locks
 *   nor allocates.  The first lines are flushed before any traceback is
 *   walked: if walking a corrupt stack faults again, the reason for dying
 *   is already on the screen.  The handler is installed with SA_NODEFER so
 *   that such a second fault reaches the handler again (instead of the
 *   kernel killing the process with a blocked SIGSEGV); it then prints
 *   "panic during panic" and exits 2, like Go's startpanic.
 *
 *   Only one thread prints.  rt__throwing is claimed with a CAS; a thread
 *   that loses (two goroutines failing at once) waits up to 5 s for the
 *   winner to exit the process, as Go's second thrower waits on paniclk,
 *   and prints its own report only if the winner got stuck.  The schedulers
 *   stop starting goroutines once rt__throwing is set, so the tracebacks
 *   show a still picture.
 *
 *   Before exiting, the user's stdout and stderr stdio buffers are written
 *   out -- but only if their FILE locks can be taken with ftrylockfile: the
 *   fault may have interrupted a printf on another thread holding the lock,
 *   and waiting for it would hang the dying process.  Nor does it wait for
 *   a reader: a page at a time as poll allows, giving up after a second
 *   without progress (drain_stdio).  SIGPIPE is ignored from the first
 *   line on, so a report to a closed pipe still exits 2.
 *
 * Rejected alternatives
 *   - Printing with stdio or the traceback through backtrace_symbols_fd:
 *     both may lock or allocate inside a signal handler.
 *   - Checking the stack pointer in every function prologue (Go's
 *     morestack, -fsplit-stack): it needs compiler support in every
 *     library the goroutine calls into; a guard page costs nothing until
 *     it is hit.
 *   - Recovering from a nil dereference (Go's recover of sigpanic): C has
 *     no unwinding with cleanup to run, so every fault is fatal.
 *
 * Invariants
 *   - rt__throwing goes 0 -> 1 once and never back.
 *   - A thread's `dying` goes 0 -> 1 (printing) -> 2 (failed while
 *     printing); at 2 nothing more is attempted.
 *   - Nothing here allocates from any heap while printing.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "sched/sched.h"
#include "trace/trace.h"

#define SIGSTACK_SIZE ((size_t)64 * 1024)

/* 1 once some thread began printing a fatal error (claimed by CAS,
 * seq_cst); never reset.  The schedulers read it (relaxed is enough for
 * them: they only stop sooner or later). */
_Atomic int rt__throwing;
_Atomic int rt__fatal_in_signal;

/* This thread: 0 normal, 1 printing a fatal error, 2 failed while
 * printing.  Only the thread itself reads and writes it. */
static _Thread_local int dying;
/* This thread is inside flush_stdio (a fault there is not worth a report:
 * the fatal error has been printed already). */
static _Thread_local bool flushing_stdio;
/* This thread's alternate signal stack (mapping base, guard included). */
static _Thread_local void *sigstack_base;

/* ------------------------------------------------------------- output -- */

/* Writes what f's buffer holds to its descriptor, a page at a time, each
 * page only once poll says the descriptor takes it, and gives up after a
 * second without progress: stdout may be a pipe whose reader is not
 * reading (yet), and a fatal error must end the process, as Go's does,
 * not wait for it (an outside tester's program hung in fflush for good).
 * The FILE is left as it was; the process exits next. */
static void drain_stdio(FILE *f)
{
#if defined(__GLIBC__)
    int fd = fileno_unlocked(f);
    const char *p = f->_IO_write_base, *end = f->_IO_write_ptr;
    if (fd < 0 || p == NULL || end <= p)
        return;
    while (p < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, 1000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
            return;
        size_t n = (size_t)(end - p) < 4096 ? (size_t)(end - p) : 4096;
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
    }
#else
    fflush_unlocked(f); /* (other C libraries: may wait for the reader) */
#endif
}

/* Writes out the program's own stdio buffers, never waiting for a lock
 * nor for long on a reader. */
static void flush_stdio(void)
{
    FILE *files[2] = {stdout, stderr};

    flushing_stdio = true;
    for (int i = 0; i < 2; i++) {
        if (ftrylockfile(files[i]) == 0) {
            drain_stdio(files[i]);
            funlockfile(files[i]);
        }
    }
    flushing_stdio = false;
}

static _Noreturn void die(void)
{
    flush_stdio();
    if (rt__debug.traceback_crash) {
        sigset_t set;
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGABRT, &sa, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGABRT);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        abort();
    }
    _exit(2);
}

/* With the scheduler's dump at GOTRACEBACK=system and up, the timers'
 * state, which that dump (Go's format, TRACE_FORMATS.md) has no field
 * for: each P's earliest deadline and heap size, the idle M that sleeps
 * for them, relative to now.  Read without locks: a hang's report. */
static void print_timers(void)
{
    rt__buf b;
    rt__buf_init(&b, 2);
    int64_t now = rt_nanotime();
    rt_m *sl = rt__sched.timer_sleeper;
    int64_t until = atomic_load_explicit(&rt__sched.timer_sleep_until, memory_order_relaxed);
    rt__buf_printf(&b, "timers: sleeper=%lld until=%+lldus polls=%d orphan=%d\n",
                   sl != NULL ? (long long)sl->id : -1LL,
                   until != 0 ? (long long)((until - now) / 1000) : 0LL,
                   (int)rt__sched.sleeper_polls,
                   atomic_load_explicit(&rt__sched.orphan_timers, memory_order_relaxed));
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        int64_t w = atomic_load_explicit(&pp->timers.when0, memory_order_relaxed);
        rt__buf_printf(&b, "  P%d: timers=%u when0=%+lldus\n", (int)i, pp->timers.len,
                       w != 0 ? (long long)((w - now) / 1000) : 0LL);
    }
    rt__buf_flush(&b);
}

/*
 * Go's startpanic.  Returns once this thread may print the report: it owns
 * rt__throwing, or the owner failed to finish within 5 seconds.  A thread
 * that fails while printing (dying already 1) gets a short line and exits
 * here; msg, if not NULL, is the new failure.
 */
static void start_fatal(const char *msg)
{
    if (dying != 0) {
        if (dying == 1 && !flushing_stdio) {
            rt__buf b;
            dying = 2;
            rt__buf_init(&b, 2);
            if (msg != NULL) {
                rt__buf_puts(&b, "fatal error: ");
                rt__buf_puts(&b, msg);
                rt__buf_puts(&b, "\n");
            }
            rt__buf_puts(&b, "panic during panic\n");
            rt__buf_flush(&b);
        }
        _exit(2);
    }
    dying = 1;
    /* The report goes to stderr, which may be a pipe whose reader has
     * gone (`prog 2>&1 | head -1`): the writes then fail with EPIPE and
     * the exit status stays 2, as Go's, instead of SIGPIPE's 141. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);

    rt_m *mp = rt__getm();
    if (mp != NULL) {
        atomic_store_explicit(&mp->throwing, 1, memory_order_relaxed);
        mp->dying = 1; /* scheddetail's dying=, as Go's startpanic sets it */
    }

    int expect = 0;
    if (atomic_compare_exchange_strong(&rt__throwing, &expect, 1)) {
        /* Go's startpanic: one detailed scheduler dump first when either
         * scheduler tracer is on (TRACE_FORMATS.md section 2) */
        if (rt__debug.schedtrace > 0 || rt__debug.scheddetail > 0) {
            rt__schedtrace(rt_nanotime(), true);
            if (rt__debug.traceback >= 2)
                print_timers();
        }
        return;
    }
    /* Another thread is printing and will exit the process. */
    for (int i = 0; i < 5000; i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&ts, NULL);
    }
}

/*
 * "\ngoroutine N [status]:" and the traceback of every goroutine except
 * skip (the one already printed from the signal context), filtered as
 * rt__print_all_goroutines does.  The goroutines are copied out of allg a
 * chunk at a time so that the allg lock is not held across stack walks
 * (rt_go on other threads would wait for it meanwhile).
 */
#define CHUNK 64

typedef struct others {
    uint32_t start, seen; /* allg index of the chunk; Gs visited this pass */
    int n, level;
    rt_g *skip;
    rt_g *gs[CHUNK];
} others;

static void collect_other(rt_g *gp, void *arg)
{
    others *o = arg;
    uint32_t i = o->seen++;
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);

    if (i < o->start || i >= o->start + CHUNK)
        return;
    if (gp == o->skip || gp->is_g0 || st == RT_GDEAD)
        return;
    if (rt__g_hidden(gp) && o->level < 2)
        return;
    o->gs[o->n++] = gp;
}

static void print_others(rt__buf *b, rt_g *skip, int level)
{
    others o = {.skip = skip, .level = level};

    for (o.start = 0;; o.start += CHUNK) {
        o.seen = 0;
        o.n = 0;
        rt__for_each_g_dying(collect_other, &o);
        for (int i = 0; i < o.n; i++) {
            rt__buf_puts(b, "\n");
            rt__print_goroutine_header(b, o.gs[i]);
            rt__print_traceback(b, o.gs[i], level);
        }
        if (o.seen <= o.start + CHUNK)
            break;
    }
}

/* -------------------------------------------------------------- throw -- */

/* (inlined: the "runtime stack:" of GOTRACEBACK=crash starts at rt__throw) */
static inline __attribute__((always_inline)) _Noreturn void throw_with(const char *first_line,
                                                                  const char *msg);

_Noreturn void rt__throw(const char *msg)
{
    throw_with(NULL, msg);
}

/* Go's report for a goroutine found outside its stack at a switch
 * (proc.c: gswitch): the stack overflow's two lines, then every
 * goroutine. */
_Noreturn void rt__throw_stack_overflow(void)
{
    char line[80];
    snprintf(line, sizeof line, "runtime: goroutine stack exceeds %zu-byte limit\n",
             (size_t)RT_STACK_SIZE);
    throw_with(line, "stack overflow");
}

static inline __attribute__((always_inline)) _Noreturn void throw_with(const char *first_line,
                                                                  const char *msg)
{
    rt__buf b;
    int level;

    start_fatal(msg);
    level = rt__debug.traceback;
    rt__buf_init(&b, 2);
    if (first_line != NULL)
        rt__buf_puts(&b, first_line);
    rt__buf_puts(&b, "fatal error: ");
    rt__buf_puts(&b, msg);
    rt__buf_puts(&b, "\n");
    rt__buf_flush(&b);
    if (level > 0) {
        /* rt__print_all_goroutines puts a blank line before every
         * goroutine but the calling one; on a scheduler stack (no calling
         * goroutine) the first blank line is therefore its own.  Like Go's
         * dopanic, level 2 also shows the scheduler stack there. */
        if (rt__getg() != NULL) {
            rt__buf_puts(&b, "\n");
        } else if (level >= 2 || rt__getm() == NULL) {
            /* (on a thread the runtime did not create the stack is the
             * program's own: shown at level 1 too, as the fault handler
             * shows it) */
            rt__buf_puts(&b, "\nruntime stack:\n");
            rt__print_traceback(&b, NULL, level);
        }
        rt__print_all_goroutines(&b, level);
        rt__buf_flush(&b);
    }
    die();
}

_Noreturn void rt__throwf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt__throw(msg);
}

/* ------------------------------------------------------- fault handler -- */

static uintptr_t context_pc(const void *ctx)
{
    const ucontext_t *uc = ctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "fatal.c: unsupported architecture"
#endif
}

/* Go's sigpanic test: a fault at an address below 4 KiB is a nil pointer
 * dereference (an offset from a NULL base); anything else is a "fault". */
static bool is_nil_deref(int sig, const siginfo_t *si)
{
    uintptr_t addr = (uintptr_t)si->si_addr;

    if (addr >= 0x1000)
        return false;
    if (sig == SIGBUS)
        return si->si_code == BUS_ADRERR;
    return si->si_code == 0 || si->si_code == SEGV_MAPERR ||
           si->si_code == SEGV_ACCERR;
}

static void signal_line(rt__buf *b, int sig, const siginfo_t *si, void *ctx)
{
    rt__buf_printf(b,
                   "[signal %s: %s code=0x%x addr=0x%" PRIxPTR
                   " pc=0x%" PRIxPTR "]\n",
                   sig == SIGBUS   ? "SIGBUS"
                   : sig == SIGFPE ? "SIGFPE"
                                   : "SIGSEGV",
                   sig == SIGBUS   ? "bus error"
                   : sig == SIGFPE ? "floating-point exception"
                                   : "segmentation violation",
                   (unsigned)si->si_code, (uintptr_t)si->si_addr,
                   context_pc(ctx));
}

/* Go's sigpanic for SIGFPE: the runtime error a division raises. */
static const char *fpe_error(const siginfo_t *si)
{
    switch (si->si_code) {
    case FPE_INTDIV:
        return "integer divide by zero";
    case FPE_INTOVF:
        return "integer overflow";
    default:
        return "floating point error";
    }
}

/*
 * A call or jump to an address that holds no code -- a NULL or garbage
 * function pointer, a GCC nested function's trampoline on a goroutine's
 * non-executable stack -- faults on the fetch of the instruction at pc
 * (the fault address is pc), and pc names nothing an unwinder can use:
 * the traceback was a column of "?()" frames.  As Go's traceback does for
 * a call of a nil func, the walk then starts at the caller, from the
 * return address the call left at the stack pointer (x86-64) or in the
 * link register (aarch64): *copy is ctx moved to the call instruction
 * (ra - 1, so that the unwinder finds the caller's CFI even when the call
 * ends its function) and *ra the return address; false if pc is code.
 */
static bool caller_of_bad_call(void *ctx, const siginfo_t *si, ucontext_t *copy, uintptr_t *ra)
{
    uintptr_t pc = context_pc(ctx);
    rt__sym s;
    if ((uintptr_t)si->si_addr != pc || rt__symbolize(pc, &s))
        return false;
    memcpy(copy, ctx, sizeof *copy);
#if defined(__x86_64__)
    uintptr_t sp = (uintptr_t)copy->uc_mcontext.gregs[REG_RSP];
    if (sp == 0 || (sp & 7) != 0)
        return false;
    *ra = *(const uintptr_t *)sp; /* the faulting thread's own stack */
    copy->uc_mcontext.gregs[REG_RIP] = (greg_t)(*ra - 1);
    copy->uc_mcontext.gregs[REG_RSP] = (greg_t)(sp + 8);
#elif defined(__aarch64__)
    *ra = (uintptr_t)copy->uc_mcontext.regs[30];
    copy->uc_mcontext.pc = *ra - 4;
#endif
    return *ra > 4096 && rt__symbolize(*ra - 1, &s);
}

/*
 * The program's own SIGSEGV/SIGBUS handler, installed before rt_main
 * (a JIT's, a fault-recovering library's): Go passes a fault in non-Go
 * code on to such a handler; here every fault but the runtime's own (the
 * collector's write tracking, a goroutine stack's guard) goes to it, and
 * when it returns the instruction runs again, as the kernel would have
 * done for it alone.  "Installed by the program": different from the
 * handler in place before main (a library constructor notes that one), so
 * a sanitizer's, set up before any constructor, is not taken for the
 * program's and grt's reports stay grt's.
 */
static struct sigaction base_fault[2]; /* SIGSEGV, SIGBUS before main */
static struct sigaction prog_fault[2]; /* the program's, when have_prog_fault */
static bool have_prog_fault[2];

__attribute__((constructor)) static void note_base_fault_handlers(void)
{
    (void)sigaction(SIGSEGV, NULL, &base_fault[0]);
    (void)sigaction(SIGBUS, NULL, &base_fault[1]);
}

static void note_prog_fault_handlers(void)
{
    static const int sigs[2] = {SIGSEGV, SIGBUS};
    for (int i = 0; i < 2; i++) {
        struct sigaction cur;
        if (sigaction(sigs[i], NULL, &cur) != 0)
            continue;
        bool real = (cur.sa_flags & SA_SIGINFO) ? cur.sa_sigaction != NULL
                                                : (cur.sa_handler != SIG_DFL &&
                                                   cur.sa_handler != SIG_IGN);
        bool same = (cur.sa_flags & SA_SIGINFO)
                        ? cur.sa_sigaction == base_fault[i].sa_sigaction
                        : cur.sa_handler == base_fault[i].sa_handler;
        if (real && !same) {
            prog_fault[i] = cur;
            have_prog_fault[i] = true;
        }
    }
}

/* Passes the fault to the program's handler; false if it has none. */
static bool forward_fault(int sig, siginfo_t *si, void *ctx)
{
    int i = sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
    if (i < 0 || !have_prog_fault[i])
        return false;
    if (prog_fault[i].sa_flags & SA_SIGINFO)
        prog_fault[i].sa_sigaction(sig, si, ctx);
    else
        prog_fault[i].sa_handler(sig);
    return true;
}

/* Whether the faulting goroutine's stack pointer is below its stack (by
 * less than 64 MiB: further off, the code is running on a stack of its
 * own making).  A frame larger than the guard below the stack moves the
 * stack pointer past the guard before its first access, which then faults
 * in some other mapping or in none: still a stack overflow, as a program
 * built with -fstack-clash-protection would report it from the guard. */
static bool sp_below_stack(rt_g *gp, void *ctx)
{
    if (gp == NULL || gp->stack.lo == 0)
        return false;
#if defined(__x86_64__)
    uintptr_t sp = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    uintptr_t sp = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.sp;
#else
    uintptr_t sp = gp->stack.lo;
#endif
    return sp < gp->stack.lo && gp->stack.lo - sp < ((uintptr_t)64 << 20);
}

/* Whether the signal interrupted the runtime's own code. */
static bool pc_in_runtime(void *ctx)
{
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    uintptr_t pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.pc;
#else
    uintptr_t pc = 0;
#endif
    rt__sym s;
    return pc != 0 && rt__symbolize(pc, &s) && s.in_runtime;
}

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
    rt__buf b;
    rt__stack st;
    rt_g *gp = rt__getg();
    int level;

    /* The collector's write tracking (gc/dirty.c, mprotect mode): not a
     * fault of the program's; the write is retried. */
    if (sig == SIGSEGV && rt__dirty_fault((uintptr_t)si->si_addr, si->si_code))
        return;
    bool guard = rt__stack_guard_hit((uintptr_t)si->si_addr, &st) ||
                 sp_below_stack(gp, ctx);
    if (dying == 0 && !guard && forward_fault(sig, si, ctx))
        return;
    rt__buf_init(&b, 2);
    if (dying != 0) {
        /* The report itself faulted.  Say where, once, and go. */
        if (dying == 1 && !flushing_stdio) {
            dying = 2;
            signal_line(&b, sig, si, ctx);
            rt__buf_puts(&b, "panic during panic\n");
            rt__buf_flush(&b);
        }
        _exit(2);
    }
    atomic_store_explicit(&rt__fatal_in_signal, 1, memory_order_relaxed);
    start_fatal(NULL);
    level = rt__debug.traceback;

    /* a "panic:" (Go's sigpanic), not a "fatal error:" (a throw) */
    bool panic = gp != NULL && !guard && (sig == SIGFPE || is_nil_deref(sig, si));
    if (gp != NULL && !guard && !__atomic_load_n(&gp->is_system, __ATOMIC_RELAXED) &&
        atomic_load_explicit(&gp->status, memory_order_relaxed) == RT_GSYSCALL &&
        pc_in_runtime(ctx)) {
        /* The runtime, called from inside a system call region (an
         * allocation, a yield), found no P: name the misuse, not the nil
         * pointer it met. */
        panic = false;
        rt__buf_puts(&b, "fatal error: runtime called between rt_syscall_enter and "
                         "rt_syscall_exit\n");
        signal_line(&b, sig, si, ctx);
    } else if (sig == SIGFPE) {
        if (gp != NULL)
            rt__buf_printf(&b, "panic: runtime error: %s\n", fpe_error(si));
        else
            rt__buf_puts(&b, "fatal error: unexpected signal during runtime "
                             "execution\n");
        signal_line(&b, sig, si, ctx);
    } else if (guard) {
        rt__buf_printf(&b,
                       "runtime: goroutine stack exceeds %zu-byte limit\n",
                       (size_t)RT_STACK_SIZE);
        rt__buf_puts(&b, "fatal error: stack overflow\n");
    } else if (gp != NULL && is_nil_deref(sig, si)) {
        rt__buf_puts(&b, "panic: runtime error: invalid memory address or "
                         "nil pointer dereference\n");
        signal_line(&b, sig, si, ctx);
    } else if (gp != NULL) {
        rt__buf_printf(&b, "unexpected fault address 0x%" PRIxPTR "\n",
                       (uintptr_t)si->si_addr);
        rt__buf_puts(&b, "fatal error: fault\n");
        signal_line(&b, sig, si, ctx);
    } else {
        rt__buf_puts(&b, "fatal error: unexpected signal during runtime "
                         "execution\n");
        signal_line(&b, sig, si, ctx);
    }
    rt__buf_flush(&b);

    if (level > 0) {
        rt__buf_puts(&b, "\n");
        static ucontext_t callctx; /* (one fatal report per process) */
        uintptr_t ra = 0;
        if (gp != NULL && caller_of_bad_call(ctx, si, &callctx, &ra)) {
            rt__print_goroutine_header(&b, gp);
            rt__print_traceback_sig_caller(&b, gp, &callctx, ra, level);
        } else if (gp != NULL) {
            rt__print_goroutine_header(&b, gp);
            rt__print_traceback_sig(&b, gp, ctx, level);
        } else {
            /* On a scheduler stack: show every frame, as Go's
             * "runtime stack:" does. */
            rt_m *mp = rt__getm();
            rt__buf_puts(&b, "runtime stack:\n");
            rt__print_traceback_sig(&b, mp != NULL ? &mp->g0 : NULL, ctx,
                                    level < 2 ? 2 : level);
        }
        rt__buf_flush(&b);
        if (!(panic && rt__debug.traceback_single))
            print_others(&b, gp, level);
        rt__buf_flush(&b);
    }
    die();
}

/* Go's dumpregs, after a signal's goroutine dump. */
static void dump_regs(rt__buf *b, const void *ctx)
{
    const ucontext_t *uc = ctx;
#if defined(__x86_64__)
    static const struct {
        const char *name;
        int reg;
    } regs[] = {
        {"rax    ", REG_RAX}, {"rbx    ", REG_RBX}, {"rcx    ", REG_RCX},
        {"rdx    ", REG_RDX}, {"rdi    ", REG_RDI}, {"rsi    ", REG_RSI},
        {"rbp    ", REG_RBP}, {"rsp    ", REG_RSP}, {"r8     ", REG_R8},
        {"r9     ", REG_R9},  {"r10    ", REG_R10}, {"r11    ", REG_R11},
        {"r12    ", REG_R12}, {"r13    ", REG_R13}, {"r14    ", REG_R14},
        {"r15    ", REG_R15}, {"rip    ", REG_RIP}, {"rflags ", REG_EFL},
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        rt__buf_printf(b, "%s0x%llx\n", regs[i].name,
                       (unsigned long long)uc->uc_mcontext.gregs[regs[i].reg]);
    /* cs, gs and fs share one greg (the selectors, 16 bits each) */
    unsigned long long csgsfs = (unsigned long long)uc->uc_mcontext.gregs[REG_CSGSFS];
    rt__buf_printf(b, "cs     0x%llx\nfs     0x%llx\ngs     0x%llx\n", csgsfs & 0xffff,
                   (csgsfs >> 32) & 0xffff, (csgsfs >> 16) & 0xffff);
#elif defined(__aarch64__)
    for (int i = 0; i < 29; i++)
        rt__buf_printf(b, "r%-7d0x%llx\n", i, (unsigned long long)uc->uc_mcontext.regs[i]);
    rt__buf_printf(b, "r29     0x%llx\nlr      0x%llx\nsp      0x%llx\npc      0x%llx\n"
                      "fault   0x%llx\n",
                   (unsigned long long)uc->uc_mcontext.regs[29],
                   (unsigned long long)uc->uc_mcontext.regs[30],
                   (unsigned long long)uc->uc_mcontext.sp, (unsigned long long)uc->uc_mcontext.pc,
                   (unsigned long long)uc->uc_mcontext.fault_address);
#endif
}

/* A signal that asks for the goroutine dump, as in Go (its sigtable's
 * "throw" signals): SIGQUIT (kill -QUIT, Ctrl-\\), SIGABRT (abort()
 * in the program's code, an assert), SIGILL (ud2: __builtin_trap,
 * __builtin_unreachable, code paths the compiler proved undefined; Go
 * adds the instruction's bytes), SIGTRAP (int3), SIGSYS (a seccomp
 * filter's refusal) and SIGSTKFLT, then exit 2 --
 *
 *     SIGQUIT: quit
 *     PC=0x... m=3 sigcode=0
 *     <blank line>
 *     goroutine 1 [chan receive]:
 *     ...
 *     <blank line>
 *     rax    0x...                 (the interrupted registers, Go's dumpregs)
 *
 * -- the way to see where a program that hangs is stuck (m=-1: the signal
 * landed on a thread that is not an M, a thread of the program's own; the
 * main thread blocks SIGQUIT while it waits in rt_main).  sigcode
 * is printed unsigned, as Go does (abort's SI_TKILL, -6, is
 * 18446744073709551610).  Installed where the signal had its default
 * action, or was ignored (SIGQUIT: Go keeps only SIGHUP and SIGINT
 * ignored), when the runtime started: a program that handles one keeps
 * its handler.  GOTRACEBACK=crash then aborts for a core dump (die()
 * puts SIGABRT's default action back first). */
/* The first line of the dump: Go's sigtable names. */
static const char *dump_name(int sig)
{
    switch (sig) {
    case SIGABRT: return "SIGABRT: abort";
    case SIGILL: return "SIGILL: illegal instruction";
    case SIGTRAP: return "SIGTRAP: trace trap";
    case SIGSYS: return "SIGSYS: bad system call";
#ifdef SIGSTKFLT
    case SIGSTKFLT: return "SIGSTKFLT: stack fault";
#endif
    default: return "SIGQUIT: quit";
    }
}

static void on_dump(int sig, siginfo_t *si, void *ctx)
{
    rt__buf b;
    rt_g *gp = rt__getg();
    rt_m *mp = rt__getm();

    atomic_store_explicit(&rt__fatal_in_signal, 1, memory_order_relaxed);
    start_fatal(NULL);
    int level = rt__debug.traceback;
    uintptr_t pc = context_pc(ctx);
    rt__buf_init(&b, 2);
    rt__buf_printf(&b, "%s\nPC=0x%" PRIxPTR " m=%lld sigcode=%llu\n", dump_name(sig), pc,
                   mp != NULL ? (long long)mp->id : -1LL,
                   (unsigned long long)(long long)si->si_code);
    if (sig == SIGILL && pc != 0) {
        /* Go's: the first 16 bytes at the PC, not past its page (the
         * PC's own page is mapped: the instruction was fetched). */
        size_t n = RT_PAGE_SIZE - pc % RT_PAGE_SIZE;
        if (n > 16)
            n = 16;
        rt__buf_puts(&b, "instruction bytes:");
        for (size_t i = 0; i < n; i++)
            rt__buf_printf(&b, " 0x%x", ((const unsigned char *)pc)[i]);
        rt__buf_puts(&b, "\n");
    }
    rt__buf_flush(&b);
    if (level > 0) {
        if (gp != NULL) {
            rt__buf_puts(&b, "\n");
            rt__print_goroutine_header(&b, gp);
            rt__print_traceback_sig(&b, gp, ctx, level);
            rt__buf_flush(&b);
        }
        print_others(&b, gp, level);
        rt__buf_puts(&b, "\n");
        dump_regs(&b, ctx);
        rt__buf_flush(&b);
    }
    die();
}

/* --------------------------------------------------------------- init -- */

static pthread_key_t sigstack_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Thread exit: drop the alternate stack before unmapping it. */
static void sigstack_free(void *base)
{
    stack_t ss, cur;

    if (sigaltstack(NULL, &cur) == 0 &&
        cur.ss_sp == (char *)base + RT_PAGE_SIZE) {
        memset(&ss, 0, sizeof ss);
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
    }
    munmap(base, SIGSTACK_SIZE + RT_PAGE_SIZE);
    sigstack_base = NULL;
}

static void init_key(void)
{
    if (pthread_key_create(&sigstack_key, sigstack_free) != 0)
        rt__throw("fatal_init: pthread_key_create failed");
}

static void init_process(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    /* Nothing else (the CPU profiler's SIGPROF above all) may interrupt the
     * report; a second fault must get through (SA_NODEFER). */
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGABRT);
    note_prog_fault_handlers();
    if (sigaction(SIGSEGV, &sa, NULL) != 0 ||
        sigaction(SIGBUS, &sa, NULL) != 0)
        rt__throw("fatal_init: sigaction failed");

    /* An integer division by zero in the program's code is Go's runtime
     * error; a handler of the program's own (or a sanitizer's) stays. */
    struct sigaction old;
    if (sigaction(SIGFPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL) {
        if (sigaction(SIGFPE, &sa, NULL) != 0)
            rt__throw("fatal_init: sigaction failed");
    }

    static const int dump_sigs[] = {SIGQUIT, SIGABRT, SIGILL, SIGTRAP, SIGSYS,
#ifdef SIGSTKFLT
                                    SIGSTKFLT,
#endif
    };
    for (size_t i = 0; i < sizeof dump_sigs / sizeof dump_sigs[0]; i++) {
        int sig = dump_sigs[i];
        if (sigaction(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
            (old.sa_handler != SIG_DFL && (sig != SIGQUIT || old.sa_handler != SIG_IGN)))
            continue;
        struct sigaction ds;
        memset(&ds, 0, sizeof ds);
        ds.sa_sigaction = on_dump;
        ds.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigfillset(&ds.sa_mask);
        sigdelset(&ds.sa_mask, SIGSEGV);
        sigdelset(&ds.sa_mask, SIGBUS);
        if (sigaction(sig, &ds, NULL) != 0)
            rt__throw("fatal_init: sigaction failed");
    }
}

void rt__fatal_init(void)
{
    pthread_once(&init_once, init_process);
    rt__fatal_thread_init();
}

void rt__fatal_thread_init(void)
{
    stack_t ss;
    char *base;

    pthread_once(&key_once, init_key);
    if (sigstack_base != NULL)
        return;
    base = mmap(NULL, SIGSTACK_SIZE + RT_PAGE_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        rt__throw("fatal_thread_init: cannot map a signal stack");
    /* A guard page below, so that a handler that runs out of stack faults
     * (and the kernel kills the process) instead of scribbling. */
    if (mprotect(base, RT_PAGE_SIZE, PROT_NONE) != 0)
        rt__throw("fatal_thread_init: cannot protect the signal stack");
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = base + RT_PAGE_SIZE;
    ss.ss_size = SIGSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0)
        rt__throw("fatal_thread_init: sigaltstack failed");
    sigstack_base = base;
    pthread_setspecific(sigstack_key, base);
}
