/*
 * runtime/runtime.h -- internal header of the runtime/ folder.
 *
 * runtime/ owns: start-up (rt_main), the settings table read once from the
 * environment, the context switch (asm_*.S), goroutine stacks (stack.c),
 * runtime output to stderr (print.c), fatal errors and the stack-overflow
 * handler (fatal.c), and tracebacks with their symbol tables (traceback.c,
 * symtab.c); and, here, the helpers every folder's system calls share so
 * that a goroutine's errno is left alone (rt__futex, RT__KEEP_ERRNO).
 *
 * Invariants
 *   - Nothing here allocates from the GC heap.  Printing never allocates at
 *     all once the symbol tables are loaded.
 *   - Every line of runtime output reaches fd 2 in one write(2).
 *
 * Internal names shared across files start with rt__; they are hidden from
 * the static library's users by -fvisibility=hidden.
 */
#ifndef RT_RUNTIME_H
#define RT_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "rt.h"

/* The runtime tests gcc's __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__ to
 * turn on its sanitizer annotations (fiber switches, recycled-stack
 * unpoisoning).  clang 14 only answers __has_feature: without this, a
 * clang ASan build (the fuzzer's, tests/fuzz) reports the stale poison of
 * recycled goroutine stacks as stack-use-after-scope. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

/* RT_DEBUG: 0 no internal checks, 1 cheap asserts, 2 expensive asserts,
 * 3 validators (heap and scheduler walks).  Set by CMake. */
#ifndef RT_DEBUG
#define RT_DEBUG 0
#endif

#define rt__likely(x)   __builtin_expect(!!(x), 1)
#define rt__unlikely(x) __builtin_expect(!!(x), 0)

/* One step of a spin-wait: the CPU's pause hint (x86 PAUSE, arm64 YIELD),
 * which lets a sibling hyperthread run and ends the spin's memory-order
 * misspeculation.  A compiler barrier too: the loop re-reads what it
 * waits on. */
static inline void rt__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* The caller's stack pointer (the collector's roots, the heap dump). */
static inline uintptr_t rt__current_sp(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
#error "runtime.h: no stack pointer read for this architecture"
#endif
    return sp;
}

/* At the top of a public function that makes system calls whose errno is
 * not the caller's business (a read that found nothing yet, a resolver's
 * probes): the caller's errno is put back whenever the function returns,
 * on whatever thread (rt.h: rt_ functions leave errno alone; they return
 * errors as negative values). */
static inline void rt__errno_restore(const int *saved)
{
    errno = *saved;
}
#define RT__KEEP_ERRNO                                                         \
    int rt__saved_errno __attribute__((cleanup(rt__errno_restore), unused)) = errno

/* futex(2) without errno: returns 0 or more, or a negative errno, and
 * leaves the thread's errno alone.  Every runtime lock, note and parking
 * word waits here, on goroutine paths too (a contended lock inside
 * rt_sleep or a channel operation): libc's syscall() set errno to EAGAIN
 * when the word had changed, and that EAGAIN became the goroutine's errno
 * (saved at its switch, or left after its resumption), where rt.h
 * promises that errno travels with the goroutine unchanged.  A raw trap
 * has no errno to set (and skips a TLS store). */
static inline long rt__futex(_Atomic uint32_t *addr, int op, uint32_t val,
                             const void *timeout)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = (long)timeout;
    register long r8 __asm__("r8") = 0;
    register long r9 __asm__("r9") = 0;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_futex), "D"(addr), "S"((long)op),
                       "d"((long)val), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_futex;
    register long x0 __asm__("x0") = (long)addr;
    register long x1 __asm__("x1") = op;
    register long x2 __asm__("x2") = (long)val;
    register long x3 __asm__("x3") = (long)timeout;
    register long x4 __asm__("x4") = 0;
    register long x5 __asm__("x5") = 0;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#else
#error "runtime.h: no futex trap for this architecture"
#endif
}

/* Assert at debug level >= lvl; a broken invariant throws. */
#define rt__assert_lvl(lvl, cond)                                             \
    do {                                                                      \
        if (RT_DEBUG >= (lvl) && rt__unlikely(!(cond)))                       \
            rt__throwf("assertion failed: %s (%s:%d)", #cond, __FILE__,       \
                       __LINE__);                                             \
    } while (0)
#define rt__assert(cond) rt__assert_lvl(1, cond)

typedef struct rt_g rt_g;
typedef struct rt_m rt_m;
typedef struct rt_p rt_p;

/* ------------------------------------------------------------ env.c ---- */

/*
 * The settings table: one row per knob, parsed once at start-up by
 * rt__settings_init() from DEBUG (alias GODEBUG when DEBUG is unset), GOGC,
 * MAXPROCS (alias GOMAXPROCS) and GOTRACEBACK.  A malformed value prints one
 * line "grt: ignoring NAME=\"value\": want ..." and keeps the default.
 * Read-only after start-up, except gctrace, schedtrace and scheddetail:
 * /debug/grt/settings (trace/debughttp.c) stores them with relaxed atomic
 * stores while the program runs, and their readers load them again at
 * every report or cycle (relaxed: a new value shows up at the next one).
 */
typedef struct rt__settings {
    int gctrace;        /* DEBUG gctrace=N */
    int schedtrace;     /* DEBUG schedtrace=MS (0 off) */
    int scheddetail;    /* DEBUG scheddetail=1 */
    int allocfreetrace; /* DEBUG allocfreetrace=1 */
    int gcstoptheworld; /* DEBUG gcstoptheworld=N */
    int gcevery;        /* DEBUG gcevery=N: a cycle every N allocations */
    int gcwritetrack;   /* DEBUG gcwritetrack=N: 0 auto, 1 mprotect, 2 none */
    int gcfinalmark;    /* DEBUG gcfinalmark=N: the final pause's marking
                         * budget in objects (0: none; gc/collector.c) */
    int memprofilerate; /* DEBUG memprofilerate=N: MemProfileRate at start */
    int gogc;           /* GOGC percent; -1 off; default 100 */
    int maxprocs;       /* MAXPROCS; default number of CPUs, capped at 256 */
    int traceback;      /* GOTRACEBACK level: 0 none, 1 default, 2 all, crash=2 */
    bool traceback_crash; /* GOTRACEBACK=crash: abort() after printing */
    bool traceback_single; /* GOTRACEBACK=single: a panic shows only its
                            * own goroutine (fatal errors show all, as Go's
                            * throws do) */
} rt__settings;

extern rt__settings rt__debug;

/* Parses the environment into rt__debug.  Prints warnings; returns true if
 * the program should exit 0 at once (DEBUG=help printed the table). */
bool rt__settings_init(void);
/* rt_main's: rt__settings_init, unless the settings were read early
 * (rt__settings_early; then only the help table, if asked). */
bool rt__settings_main(void);
/* Reads the settings once, before rt_main (a thread's first allocation):
 * allocfreetrace then sees allocations made before rt_main. */
void rt__settings_early(void);
/* Parses one DEBUG-style string into s (tests use it directly).  Each
 * warning line goes to fd 2. */
void rt__settings_parse_debug(rt__settings *s, const char *val);
int rt__ncpu(void);

/* ----------------------------------------------------------- print.c ---- */

/*
 * A line buffer on the stack: text accumulates until rt__buf_flush or a
 * '\n' boundary, and every write(2) carries whole lines.  Long lines are
 * flushed in one write when the buffer fills.
 */
typedef struct rt__buf {
    int fd;
    int err; /* the first failed write's -errno (the rest are dropped) */
    size_t n;
    char b[2048];
} rt__buf;

void rt__buf_init(rt__buf *b, int fd);
void rt__buf_puts(rt__buf *b, const char *s);
void rt__buf_write(rt__buf *b, const char *s, size_t n);
void rt__buf_printf(rt__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rt__buf_vprintf(rt__buf *b, const char *fmt, va_list ap);
void rt__buf_flush(rt__buf *b);
/* One formatted line (a '\n' is not added) to fd 2 in one write(2). */
void rt__printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* n bytes to fd in one write(2) (retried only if the kernel writes less). */
void rt__write_whole(int fd, const char *s, size_t n);
/* A buffer initialised with fd RT_FD_CAPTURE hands what it would write to
 * rt__capture_sink instead (set once by trace/allocfreetrace.c, which
 * serialises its use): a multi-line record is assembled whole, then goes
 * out with rt__write_whole. */
#define RT_FD_CAPTURE (-2)
extern void (*rt__capture_sink)(const char *s, size_t n);

/* ----------------------------------------------------------- fatal.c ---- */

/* "fatal error: msg", a blank line, every goroutine's traceback, exit 2. */
_Noreturn void rt__throw(const char *msg);
/* The stack overflow report ("runtime: goroutine stack exceeds ...",
 * "fatal error: stack overflow", every goroutine), exit 2: a goroutine
 * found running below its stack. */
_Noreturn void rt__throw_stack_overflow(void);
_Noreturn void rt__throwf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Installs the SIGSEGV/SIGBUS handler on an alternate signal stack that
 * turns a fault in a guard page into "fatal error: stack overflow". */
void rt__fatal_init(void);
/* Per-thread part of the above: gives the calling thread its alternate
 * signal stack.  Every M calls it when it starts. */
void rt__fatal_thread_init(void);
/* Set while a fatal error is being printed; the schedulers stop picking
 * new goroutines once it is set. */
extern _Atomic int rt__throwing;
/* Set by the fatal signal handlers before their report: the crash may be
 * inside malloc (runtime/symtab.c reads no more debug information then). */
extern _Atomic int rt__fatal_in_signal;

/* ------------------------------------------------------ traceback.c ---- */

#define RT_MAX_FRAMES 100

/*
 * Walks for tracebacks.  Return the number of PCs stored; pcs[0] is the
 * exact PC of the innermost frame, callers are return addresses (not yet
 * minus 1).  cfas, if non-NULL, receives each frame's canonical frame
 * address.  A walk stops at the goroutine entry trampoline (its CFI marks
 * the return address undefined).
 */
int rt__callers(int skip, uintptr_t *pcs, uintptr_t *cfas, int max);
int rt__callers_g(rt_g *gp, uintptr_t *pcs, uintptr_t *cfas, int max);

/* "goroutine N [status]:" / "goroutine N [status, M minutes]:" */
void rt__print_goroutine_header(rt__buf *b, rt_g *gp);
/* The frames of gp (its own stack if it is the calling goroutine), then
 * "created by" when gp is not goroutine 1.  level follows GOTRACEBACK. */
void rt__print_traceback(rt__buf *b, rt_g *gp, int level);
/* Current goroutine first, then every other live goroutine: blank line,
 * header, traceback (Go's tracebackothers). */
void rt__print_all_goroutines(rt__buf *b, int level);
/* The same, with goroutines running on other threads walked by walk
 * (their leaf an exact PC; 0: not walked, "stack unavailable" as before)
 * -- the goroutine profile's debug=2, not a fatal error's dump. */
typedef int (*rt__running_walker)(rt_g *gp, uintptr_t *pcs, int max);
void rt__print_all_goroutines_walking(rt__buf *b, int level, rt__running_walker walk);
/* The same two for the calling context, leaving out the frames at or
 * below skip_cfa (a caller's __builtin_dwarf_cfa()): a tracer's record
 * starts at whoever called the tracer, as Go's tracealloc starts at
 * getcallerpc.  self_word, if set, replaces the calling goroutine's status
 * word (the collector's goroutine: "garbage collection", as Go's). */
void rt__print_traceback_above(rt__buf *b, uintptr_t skip_cfa, int level);
void rt__print_all_goroutines_above(rt__buf *b, uintptr_t skip_cfa,
                                    const char *self_word, int level);
/* The traceback of gp as interrupted by a signal (ucontext from an
 * SA_SIGINFO handler): the walk starts at the interrupted PC. */
void rt__print_traceback_sig(rt__buf *b, rt_g *gp, void *ucontext, int level);
/* The same from the caller of a call to an address holding no code:
 * ucontext already moved to the call (pc = ra - 1, the stack pointer
 * above the return address), ra printed as the caller frame's PC. */
void rt__print_traceback_sig_caller(rt__buf *b, rt_g *gp, void *ucontext, uintptr_t ra,
                                    int level);
/* Walk from a signal context (CPU profiler, fatal signals). */
int rt__callers_sig(void *ucontext, uintptr_t *pcs, uintptr_t *cfas, int max);

/* -------------------------------------------------------- symtab.c ---- */

typedef struct rt__sym {
    const char *name; /* function name, or NULL if unknown */
    uintptr_t entry;  /* address of the function's first instruction */
    const char *file; /* source file from DWARF, or NULL */
    int line;         /* 0 if unknown */
    bool in_runtime;  /* the function is part of libgrt itself */
} rt__sym;

/* Loads the DWARF of the program and its libraries (libdw).  Called once at
 * start-up so that later lookups need no allocation. */
void rt__symtab_init(void);
/* Symbolizes pc (for a caller frame pass the return address minus 1 for the
 * line).  Results are cached; the strings live for the whole run. */
bool rt__symbolize(uintptr_t pc, rt__sym *out);
/* Lookups rt__symbolize could not answer from its cache (tests: which
 * paths read DWARF). */
extern _Atomic uint64_t rt__symtab_misses;
/* The frames at pc with inlining undone, innermost first, as Go's
 * runtime.CallersFrames: a function inlined into its caller is a frame of
 * its own at its own line, the caller's frame is at the call's line; the
 * last frame is the function that holds pc (rt__symbolize's name and
 * entry, which every frame carries).  The runtime's own functions are
 * not expanded (one frame each, as before).  Returns how many (at most max, the
 * outermost always kept), 0 when pc has no name.  Not for signal
 * handlers: libdw allocates here (the profile writers use it). */
int rt__symbolize_frames(uintptr_t pc, rt__sym *out, int max);

/* --------------------------------------------------------- stack.c ----- */

/*
 * Goroutine stacks: fixed-size slots (RT_STACK_SLOT of address space each:
 * a guard, then RT_STACK_SIZE of usable stack, the limit the overflow
 * message names) carved from large reservations; only touched pages cost
 * memory.  Layout of one slot, low to high:
 *
 *   lo-GUARD        lo                                        hi
 *   | guard (64 KiB)| usable stack (256 KiB), grows down from hi |
 *
 * A parked goroutine that touched one page of stack costs that page plus
 * its goroutine record (sched/proc.c keeps records in dense slabs).  Slots
 * are never unmapped; pooled ones may give all but their top page back.
 */
#define RT_STACK_SIZE ((size_t)256 * 1024)
#define RT_PAGE_SIZE  ((size_t)4096)
#define RT_STACK_GUARD ((size_t)64 * 1024) /* guard region at the bottom */
#define RT_STACK_SLOT (RT_STACK_GUARD + RT_STACK_SIZE)

typedef struct rt__stack {
    uintptr_t lo; /* lowest usable byte (just above the guard page) */
    uintptr_t hi; /* one past the highest byte of the slot */
} rt__stack;

/* Returns a fresh slot, or false when address space or memory is
 * exhausted. */
bool rt__stack_alloc(rt__stack *st);

/*
 * Pools of free stacks.  A goroutine takes a stack when it first runs and
 * gives it back when it exits, so goroutines that are queued but have not
 * started hold none, and the stack a goroutine gets is usually the one the
 * last goroutine on this P just left, still in the cache.  Each P has a
 * small LIFO cache (owner only, no locks); it spills to and refills from
 * one global pool under a lock.  A free stack keeps a small header in its
 * top bytes (the pool's link).
 */
#define RT_STACKCACHE_MAX 32
typedef struct rt__stackcache {
    uint32_t n;
    uintptr_t hi[RT_STACKCACHE_MAX];
} rt__stackcache;
/* Gets a stack: the cache, else the global pool, else a fresh slot. */
bool rt__stack_get(rt__stackcache *c, rt__stack *st);
/* Returns a stack; under ASan, low is the lowest address frames that
 * never returned may have poisoned (0: nothing to clean). */
void rt__stack_put(rt__stackcache *c, const rt__stack *st, uintptr_t low);
/* Moves a whole cache to the global pool (a P going away). */
void rt__stack_cache_flush(rt__stackcache *c);
/* Gives back every page of up to max pooled stacks beyond the keep most
 * recently freed, coldest first (sysmon, once a second; rt_free_os_memory:
 * all of them). */
void rt__stack_pool_trim(int max, size_t keep);
/* Gives back the pages below the top two of pooled stacks idle for a
 * pass or more (sysmon, once a second): visits up to `visit` from the
 * cold end, sheds up to `max`. */
void rt__stack_pool_shed(int visit, int max);
/* Stacks in the global pool: untrimmed, trimmed. */
size_t rt__stack_pool_hot(void);
size_t rt__stack_pool_trimmed(void);
/* Resident bytes of the stack whose top is hi (mincore). */
size_t rt__stack_resident(uintptr_t hi);
/* Resident bytes of the untrimmed pooled stacks: measured on the 4,096
 * hottest, a page for each of the rest (their top page, which holds the
 * pool's links: a lower bound). */
size_t rt__stack_pool_resident(void);
/* Returns the pages of [lo, hi - keep) to the kernel (MADV_DONTNEED). */
void rt__stack_trim(const rt__stack *st, size_t keep);
/* Whether addr lies in the guard page of some stack slot; if so *st gets
 * the slot. */
bool rt__stack_guard_hit(uintptr_t addr, rt__stack *st);
/* gc/dirty.c: how the collector tracks written pages (none until its
 * first concurrent cycle). */
enum { RT_DIRTY_NONE = 0, RT_DIRTY_UFFD = 1, RT_DIRTY_MPROTECT = 2 };
int rt__dirty_mode(void);
/* gc/dirty.c: an access fault at addr (si_code) was a write to a page the
 * collector protected in its mprotect mode, and the page is writable now:
 * the handler returns and the write is retried.  Async-signal-safe. */
bool rt__dirty_fault(uintptr_t addr, int code);
/* gc/dirty.c: before a system call writes into buf, make its pages
 * writable (the mprotect mode's protection would make the call fail with
 * EFAULT); a no-op in every other mode. */
void rt__dirty_touch(const void *buf, size_t n);
/* Bytes of address space reserved for stacks / slots handed out so far. */
size_t rt__stack_reserved(void);
size_t rt__stack_slots(void);
/* Whether guard pages use MADV_GUARD_INSTALL (no extra VMA per stack). */
bool rt__stack_guard_is_madvise(void);

/* ---------------------------------------------------------- asm_*.S ---- */

/*
 * rt__ctx_switch saves the callee-saved registers, MXCSR and the x87
 * control word (aarch64: x19-x30, d8-d15, FPCR) on the current stack,
 * stores the stack pointer into *save_sp, loads new_sp and returns into
 * the context saved there, whose own rt__ctx_switch (or _fresh) call then
 * returns `handoff`.  Saved frame on x86-64, from the saved sp up:
 *
 *   sp+0  MXCSR (4 bytes), x87 CW (2 bytes), pad
 *   sp+8  r15   sp+16 r14   sp+24 r13   sp+32 r12   sp+40 rbx   sp+48 rbp
 *   sp+56 return address (the PC the context resumes at)
 *
 * On aarch64, from the saved sp up: x19..x28 (80 bytes), x29, x30 (the
 * resume PC), d8..d15 (64 bytes), FPCR (8 bytes, padded to 16).
 */
void *rt__ctx_switch(void **save_sp, void *new_sp, void *handoff);
/* Saves like rt__ctx_switch, then starts entry(arg) on the fresh stack
 * stack_top (16-byte aligned) through rt__ctx_start, with default FP
 * control state.  The new goroutine's first frame is written here, by the
 * M that runs it, not by its creator. */
void *rt__ctx_switch_fresh(void **save_sp, uintptr_t stack_top,
                           void (*entry)(void *), void *arg);
/* Prepares a context at the top of a fresh stack that, when switched to,
 * calls entry(arg) through the trampoline rt__ctx_start (whose CFI ends
 * every unwind).  entry must never return. */
void *rt__ctx_make(uintptr_t stack_top, void (*entry)(void *), void *arg);
/* Resume PC, stack pointer after return, and frame pointer of a context
 * saved by rt__ctx_switch, for unwinding a parked goroutine. */
typedef struct rt__ctx_regs {
    uintptr_t pc, sp, fp;
    uintptr_t callee[10]; /* x86-64: rbx rbp r12 r13 r14 r15; aarch64 x19-x28 */
} rt__ctx_regs;
void rt__ctx_read(const void *saved_sp, rt__ctx_regs *r);
extern char rt__ctx_start[];     /* the trampoline, for frame filters */
extern char rt__ctx_switch_end[]; /* [rt__ctx_switch, end): CPU profiler */

/* ---------------------------------------------------------- main.c ----- */

/* Process-wide start time (rt_nanotime at rt_main). */
extern int64_t rt__start_time;

#endif /* RT_RUNTIME_H */
