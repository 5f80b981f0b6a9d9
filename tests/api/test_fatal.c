/*
 * tests/api/test_fatal.c -- fatal errors as a program sees them (rt.h only).
 *
 * Each scenario runs in a child process: the test binary re-executes itself
 * (/proc/self/exe --fatal-child NAME) with a chosen environment, and the
 * parent checks the exact first lines of the child's stderr and how it
 * ended (exit status 2, as Go; 0 for DEBUG=help; SIGABRT for
 * GOTRACEBACK=crash).  Scenarios:
 *   overflow, overflow_main  unbounded recursion in a goroutine / in main
 *   overflow_many            four goroutines overflow at once: one report
 *   bigframe                 one frame larger than the stack slot that
 *                            writes only its far end (stack-clash probes)
 *   deadlock, deadlock_none  goroutine 1 waits on a channel nobody sends to
 *   deadlock_after_gc        the same after collections at MAXPROCS 2 (mark
 *                            threads exist), with a CPU profile or not
 *   crash                    the same with GOTRACEBACK=crash
 *   nil, nil_goroutine       a store through NULL (plus an offset)
 *   fault                    a store to a mapped PROT_NONE page
 *   foreign                  a fault on a thread the runtime did not make
 *   foreign_block            a blocking channel operation on such a thread
 *   throw                    close of a nil channel
 *   stdio                    stdout written with printf, then a fatal error
 *   help                     DEBUG=help
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "harness.h"

extern char **environ;

/* ======================================================== the children == */

/* Tells the parent a goroutine id through stdout, unbuffered. */
static void say_goid(void)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "goid %" PRId64 "\n", rt_goid());
    if (write(1, buf, (size_t)n) != n)
        _exit(99);
}

static volatile int depth_limit = 1 << 30;

/* Each frame keeps a volatile array live across the recursive call, so
 * the compiler can turn it neither into a loop nor into a tail call. */
__attribute__((noinline)) static int recurse(int n)
{
    volatile char pad[512];

    pad[0] = (char)n;
    pad[sizeof pad - 1] = (char)(n >> 8);
    if (n == depth_limit)
        return 0;
    return recurse(n + 1) + pad[0] + pad[sizeof pad - 1];
}

static void overflow_g(void *arg)
{
    (void)arg;
    say_goid();
    recurse(0);
}

static int child_overflow(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan *never = rt_chan_make(0, 0);
    rt_go(overflow_g, NULL);
    rt_chan_recv(never, NULL); /* blocks until the process dies */
    return 3;
}

/* One frame larger than the whole slot (256 KiB, guard included) that
 * writes only its lowest bytes, as read(fd, buf, sizeof buf) does with a
 * short read: without stack-clash probing the store lands in the next
 * goroutine's stack, past the guard, and nothing faults.  Built with the
 * probing grt::grt hands its users, it dies as stack overflow. */
__attribute__((noinline)) static void big_frame(void)
{
    volatile char buf[264 * 1024];
    buf[0] = 1;
    buf[1] = buf[0];
}

/* The frame function a child runs on a goroutine of its own (frame_g),
 * while goroutine 1 waits for good on a channel (child_frame). */
static void (*frame_fn)(void);

static void frame_g(void *arg)
{
    (void)arg;
    say_goid(); /* (before the probes of the frame's prologue) */
    frame_fn();
}

static int child_frame(void (*fn)(void))
{
    frame_fn = fn;
    rt_chan *never = rt_chan_make(0, 0);
    rt_go(frame_g, NULL);
    rt_chan_recv(never, NULL);
    return 3;
}

static int child_bigframe(int argc, char **argv)
{
    (void)argc, (void)argv;
    return child_frame(big_frame);
}

/* The same frames built as a program compiled without stack-clash
 * probing (gcc's default) builds them: the frame's one subtraction moves
 * the stack pointer past the guard before any access.  (gcc only: clang
 * has no per-function switch; the tests build with gcc.) */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_CLASH_PROBES __attribute__((noinline, optimize("no-stack-clash-protection")))
#else
#define NO_CLASH_PROBES __attribute__((noinline))
#endif

/* 400 KiB of locals, the lowest bytes written: they land in the slot
 * below (another goroutine's stack, or unused), with no fault.  Then a
 * sleep, which switches away from below the stack: caught there. */
NO_CLASH_PROBES static void clash_frame(void)
{
    volatile char buf[400 * 1024];
    buf[0] = 1;
    rt_sleep(RT_MILLISECOND);
    buf[1] = buf[0];
}

static int child_clash(int argc, char **argv)
{
    (void)argc, (void)argv;
    return child_frame(clash_frame);
}

/* 1 MiB of locals: the first store faults outside any guard (an outside
 * tester's program got "unexpected fault address ... fatal error: fault"). */
NO_CLASH_PROBES static void far_frame(void)
{
    volatile char buf[1024 * 1024];
    buf[0] = 1;
    buf[1] = buf[0];
}

static int child_farframe(int argc, char **argv)
{
    (void)argc, (void)argv;
    return child_frame(far_frame);
}

/* 200 KB in stdout's buffer, then a fatal error (run_unread: stdout is a
 * pipe nobody reads). */
static int child_stdout_full(int argc, char **argv)
{
    (void)argc, (void)argv;
    static char buf[1 << 20], text[200000];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    memset(text, 'x', sizeof text);
    fwrite(text, 1, sizeof text, stdout);
    rt_chan_close(NULL);
    return 3;
}

/* A finalizer that blocks for good, then a deadlock: Go lists the
 * finalizer goroutine, stuck in the program's code, in the report. */
static rt_chan *fin_never;
static volatile int fin_after;

static void fin_block(void *obj)
{
    (void)obj;
    rt_chan_recv(fin_never, NULL);
    fin_after = 1; /* (no tail call: the frame stays in the traceback) */
}

static int child_fin_deadlock(int argc, char **argv)
{
    (void)argc, (void)argv;
    fin_never = rt_chan_make(0, 0);
    rt_set_finalizer(rt_alloc(64), fin_block);
    for (int i = 0; i < 3; i++)
        rt_gc();
    rt_sleep(20 * RT_MILLISECOND);
    rt_chan_recv(fin_never, NULL);
    return 3;
}

/* Misuse of rt_syscall_enter/exit (rt.h: between the two the goroutine
 * must not call into the runtime): named, not a nil dereference or a
 * hang, as an outside tester found them. */
static int child_sys_misuse(int argc, char **argv)
{
    (void)argc;
    const char *how = getenv("SYS_MISUSE");
    if (how == NULL)
        return 97;
    if (strcmp(how, "exit") == 0) {
        rt_syscall_exit();
    } else if (strcmp(how, "enter2") == 0) {
        rt_syscall_enter();
        rt_syscall_enter();
    } else if (strcmp(how, "block") == 0) {
        rt_chan *c = rt_chan_make(0, 0);
        rt_syscall_enter();
        rt_chan_recv(c, NULL);
    } else if (strcmp(how, "yield") == 0) {
        rt_syscall_enter();
        rt_yield();
    }
    (void)argv;
    return 3;
}

static void overflow_quiet(void *arg)
{
    rt_chan *ready = arg;
    rt_chan_recv(ready, NULL); /* all start together */
    recurse(0);
}

static int child_overflow_many(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan *never = rt_chan_make(0, 0);
    rt_chan *ready = rt_chan_make(0, 0);
    for (int i = 0; i < 4; i++)
        rt_go(overflow_quiet, ready);
    rt_chan_close(ready);
    rt_chan_recv(never, NULL);
    return 3;
}

static int child_overflow_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    say_goid();
    return recurse(0) + 3;
}

static int child_deadlock(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan *c = rt_chan_make(sizeof(int), 0);
    int v;
    rt_chan_recv(c, &v); /* nobody will ever send */
    return 3;
}

/* A goroutine whose only frames are the runtime's: started straight on
 * rt_waitgroup_wait.  At level 1 its libgrt frames are printed (as Go
 * prints runtime frames when none other would show), with their files
 * and lines. */
static rt_waitgroup bare_wg;

static int child_deadlock_bare(int argc, char **argv)
{
    rt_waitgroup_add(&bare_wg, 1);
    rt_go((void (*)(void *))rt_waitgroup_wait, &bare_wg);
    return child_deadlock(argc, argv);
}

/* The same after the collector has run with its mark threads (MAXPROCS
 * 2), and with a CPU profile running: the runtime's own extra threads are
 * not a program thread that might yet call rt_go (the check once gave up
 * once a mark thread existed, and such a program hung). */
static void *volatile churn_keep;

static int child_deadlock_after_gc(int argc, char **argv)
{
    (void)argc, (void)argv;
    if (getenv("DEADLOCK_PROFILE") != NULL && rt_pprof_start_cpu(open("/dev/null", O_WRONLY)) != 0)
        return 4;
    for (int i = 0; i < 400000; i++)
        churn_keep = rt_alloc(256); /* 100 MB: cycles, marked by every thread */
    rt_memstats ms;
    rt_read_memstats(&ms);
    if (ms.num_gc < 3)
        return 5;
    return child_deadlock(argc, argv);
}

static int child_stdio(int argc, char **argv)
{
    /* stdout is a pipe: fully buffered, so this sits in the FILE until the
     * runtime flushes it on the way out. */
    printf("buffered before the fatal error\n");
    return child_deadlock(argc, argv);
}

/* The bad pointers come from volatile globals: a constant NULL would let
 * the compiler drop the store as undefined behaviour.  UBSan (GRT_ASAN
 * builds) would stop at the store before the fault: not here. */
#define NO_UBSAN __attribute__((noinline, no_sanitize("undefined")))
static volatile int *volatile nil_int = NULL;

NO_UBSAN static void store_nil(volatile int *p)
{
    *p = 1;
}

static int child_nil(int argc, char **argv)
{
    (void)argc, (void)argv;
    store_nil(nil_int);
    return 3;
}

/* A call through a NULL function pointer: the fault is the fetch at pc 0,
 * and the traceback starts at the caller (as Go's for a nil func). */
static void (*volatile nil_fn)(void) = NULL;

NO_UBSAN static void call_nil_fn(void)
{
    nil_fn();
    __asm__ volatile("" ::: "memory"); /* a call, not a tail jump */
}

static int child_nilcall(int argc, char **argv)
{
    (void)argc, (void)argv;
    call_nil_fn();
    return 3;
}

/* A call into a goroutine's own (non-executable) stack, as a GCC nested
 * function's trampoline does: pc is the fault address, in no function. */
NO_UBSAN static void call_into_stack(void)
{
    unsigned char code[16] = {0xc3}; /* ret: never runs */
    void (*volatile f)(void) = (void (*)(void))(void *)code;
    f();
    __asm__ volatile("" ::: "memory");
}

static int child_stackcall(int argc, char **argv)
{
    (void)argc, (void)argv;
    call_into_stack();
    return 3;
}

typedef struct big {
    char pad[0x10];
    int x;
} big;

static big *volatile nil_big = NULL;

NO_UBSAN static void store_field(big *b)
{
    ((volatile big *)b)->x = 1;
}

static void nil_g(void *arg)
{
    (void)arg;
    say_goid();
    store_field(nil_big);
}

static int child_nil_goroutine(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan *never = rt_chan_make(0, 0);
    rt_go(nil_g, NULL);
    rt_chan_recv(never, NULL);
    return 3;
}

/* An integer division by zero in a goroutine, and abort() in one. */
static volatile int zero_int = 0;

NO_UBSAN __attribute__((noclone)) static int divide(int a, int b)
{
    return a / b;
}

static void div_g(void *arg)
{
    (void)arg;
    say_goid();
    printf("%d\n", divide(7, zero_int));
}

static void abort_g(void *arg)
{
    (void)arg;
    say_goid();
    abort();
}

/* The scenarios that crash in a goroutine (scenario.g): goroutine 1
 * starts it and waits for good, so that the report shows both. */
static void (*scenario_g)(void *);

__attribute__((noinline)) static int child_go_and_wait(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan *never = rt_chan_make(0, 0);
    rt_go(scenario_g, NULL);
    rt_chan_recv(never, NULL);
    return 3;
}

/* ud2 (SIGILL on x86-64), int3 (SIGTRAP) and a raised SIGSYS, each in a
 * goroutine: Go's dump of a "throw" signal, as for SIGABRT. */
static void trap_g(void *arg)
{
    (void)arg;
    say_goid();
    __builtin_trap();
}

static void int3_g(void *arg)
{
    (void)arg;
    say_goid();
#if defined(__x86_64__)
    __asm__ volatile("int3");
#else
    raise(SIGTRAP);
#endif
}

static volatile int after_raise;

static void sigsys_g(void *arg)
{
    (void)arg;
    say_goid();
    raise(SIGSYS);
    after_raise = 1; /* not a tail call: sigsys_g keeps its frame */
}

/* A crash inside malloc, which then holds its arena's lock: a freed
 * chunk's list links overwritten, and the next malloc of its size follows
 * them (a general-protection fault on the non-canonical link, or glibc's
 * own check and abort, by version).  The report must not call malloc:
 * symbolizing a frame did (libdw's lazy section table), and the report
 * hung after its first lines (an outside tester's find).  Not under ASan,
 * whose allocator replaces malloc and catches the write itself. */
#if !defined(__SANITIZE_ADDRESS__)
static volatile int malloc_sink;

NO_UBSAN __attribute__((noinline)) static void corrupt_heap(void)
{
    char *a = malloc(2000);
    char *guard = malloc(64);
    volatile uintptr_t *volatile links = (volatile uintptr_t *)(void *)a;
    free(a); /* to the unsorted bin: too large for the thread cache */
    links[0] = 0x4141414141414141u;
    links[1] = 0x4141414141414141u;
    char *b = malloc(2000);
    malloc_sink = b != NULL && guard != NULL;
}

static void corrupt_heap_g(void *arg)
{
    (void)arg;
    corrupt_heap();
    malloc_sink++;
}

#endif

static int child_fault(int argc, char **argv)
{
    (void)argc, (void)argv;
    char *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 4;
    printf("addr %p\n", (void *)p);
    fflush(stdout);
    store_nil((volatile int *)p);
    return 3;
}

/* A program's own SIGSEGV handler (installed before rt_main, run_child):
 * it makes the page it finds faulting writable and returns, so the store
 * runs again and succeeds. */
static char *volatile guarded_page;

static void program_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)ctx;
    char *p = guarded_page;
    if ((char *)si->si_addr >= p && (char *)si->si_addr < p + 4096)
        mprotect(p, 4096, PROT_READ | PROT_WRITE);
    else
        _exit(9); /* not the fault this handler knows */
}

static int child_own_handler(int argc, char **argv)
{
    (void)argc, (void)argv;
    store_nil((volatile int *)guarded_page);
    printf("recovered %d\n", *(volatile int *)guarded_page);
    return 0;
}

static void install_program_segv(void)
{
    guarded_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = program_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
}

static void *foreign_thread(void *arg)
{
    (void)arg;
    store_nil(nil_int);
    return NULL;
}

static int child_foreign(int argc, char **argv)
{
    (void)argc, (void)argv;
    pthread_t th;
    /* A plain pthread: no goroutine runs on it. */
    if (pthread_create(&th, NULL, foreign_thread, NULL) != 0)
        return 4;
    pthread_join(th, NULL);
    return 3;
}

/* A thread the runtime did not create cannot park: a blocking channel
 * operation there is a fatal error naming it (it once faulted inside the
 * runtime).  FOREIGN_OP picks send, recv (a nil channel) or select. */
static rt_chan *foreign_ch;

static void *foreign_blocker(void *arg)
{
    (void)arg;
    const char *op = getenv("FOREIGN_OP");
    long v = 1;
    if (strcmp(op, "send") == 0) {
        rt_chan_send(foreign_ch, &v);
    } else if (strcmp(op, "recv") == 0) {
        rt_chan_recv(NULL, &v);
    } else {
        rt_select_case c[2] = {RT_RECV(foreign_ch, &v), RT_RECV(NULL, &v)};
        rt_select(c, 2, true);
    }
    return NULL;
}

static int child_foreign_block(int argc, char **argv)
{
    (void)argc, (void)argv;
    foreign_ch = rt_chan_make(sizeof(long), 0);
    pthread_t th;
    if (pthread_create(&th, NULL, foreign_blocker, NULL) != 0)
        return 4;
    pthread_join(th, NULL);
    return 3;
}

static int child_throw(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_chan_close(NULL);
    return 3;
}

static int child_help(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("main ran\n");
    return 3;
}

typedef struct scenario {
    const char *name;
    int (*fn)(int, char **);
    void (*g)(void *); /* with fn child_go_and_wait: the goroutine */
} scenario;

static const scenario scenarios[] = {
    {"overflow", child_overflow, NULL},
    {"overflow_main", child_overflow_main, NULL},
    {"overflow_many", child_overflow_many, NULL},
    {"bigframe", child_bigframe, NULL},
    {"clash", child_clash, NULL},
    {"sys_misuse", child_sys_misuse, NULL},
    {"fin_deadlock", child_fin_deadlock, NULL},
    {"farframe", child_farframe, NULL},
    {"stdout_full", child_stdout_full, NULL},
    {"deadlock", child_deadlock, NULL},
    {"deadlock_after_gc", child_deadlock_after_gc, NULL},
    {"stdio", child_stdio, NULL},
    {"nil", child_nil, NULL},
    {"nil_goroutine", child_nil_goroutine, NULL},
    {"fault", child_fault, NULL},
    {"own_handler", child_own_handler, NULL},
    {"nilcall", child_nilcall, NULL},
    {"stackcall", child_stackcall, NULL},
    {"divzero", child_go_and_wait, div_g},
    {"abort", child_go_and_wait, abort_g},
    {"deadlock_bare", child_deadlock_bare, NULL},
    {"trap", child_go_and_wait, trap_g},
    {"int3", child_go_and_wait, int3_g},
    {"sigsys", child_go_and_wait, sigsys_g},
#if !defined(__SANITIZE_ADDRESS__)
    {"malloc_crash", child_go_and_wait, corrupt_heap_g},
#endif
    {"foreign", child_foreign, NULL},
    {"foreign_block", child_foreign_block, NULL},
    {"throw", child_throw, NULL},
    {"help", child_help, NULL},
};

static int run_child(int argc, char **argv)
{
    /* No core files from the GOTRACEBACK=crash case. */
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    /* The harness's watchdog, 3 s before the parent's (harness_main's
     * rule for scenarios): a child that hangs instead of dying dumps its
     * goroutines into the output its test reads. */
    harness_deadline_init();
    if (harness_deadline_ns != 0)
        harness_deadline_ns -= 3 * 1000000000LL;
    if (strcmp(argv[2], "own_handler") == 0)
        install_program_segv(); /* the program's, before rt_main */
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[2], scenarios[i].name) == 0) {
            harness_scenario = scenarios[i].fn;
            scenario_g = scenarios[i].g;
            return rt_main(harness_scenario_main, argc, argv);
        }
    fprintf(stderr, "no scenario %s\n", argv[2]);
    return 98;
}

/* ========================================================= the parent == */

typedef struct result {
    int status;     /* from waitpid */
    char out[1 << 16];
    char err[1 << 18];
    size_t outn, errn;
    char *lines[64]; /* the first lines of err, without their '\n' */
    int nlines;
} result;

static result res;

/* Runs the scenario with extra environment entries (NULL-terminated
 * "NAME=value" list); the runtime's own variables are removed from the
 * inherited environment first. */
static void run(const char *name, const char *const *env_extra)
{
    char *envp[512];
    harness_child_env(envp, sizeof envp / sizeof envp[0], env_extra);

    int po[2], pe[2];
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    char *argv[] = {"test_fatal", "--fatal-child", (char *)name, NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp),
                     0);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);

    /* Read both pipes to their ends; give up after a minute (a hung
     * child is a failure, not something to wait for forever). */
    memset(&res, 0, sizeof res);
    struct pollfd pfd[2] = {{.fd = po[0], .events = POLLIN},
                            {.fd = pe[0], .events = POLLIN}};
    int open_fds = 2;
    time_t deadline = time(NULL) + 60;
    while (open_fds > 0) {
        int r = poll(pfd, 2, 1000);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (time(NULL) > deadline) {
            kill(pid, SIGKILL);
            ck_abort_msg("scenario %s hung; stderr so far:\n%.*s", name,
                         (int)(res.errn < 1500 ? res.errn : 1500), res.err);
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            char *buf = i == 0 ? res.out : res.err;
            size_t *n = i == 0 ? &res.outn : &res.errn;
            size_t cap = (i == 0 ? sizeof res.out : sizeof res.err) - 1;
            ssize_t k = read(pfd[i].fd, buf + *n, cap - *n);
            if (k <= 0) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open_fds--;
            } else {
                *n += (size_t)k;
            }
        }
    }
    ck_assert_int_eq(waitpid(pid, &res.status, 0), pid);

    /* Split a copy of the first part of stderr into lines. */
    static char copy[sizeof res.err];
    memcpy(copy, res.err, res.errn + 1);
    char *p = copy;
    while (*p != '\0' && res.nlines < 64) {
        char *nl = strchr(p, '\n');
        res.lines[res.nlines++] = p;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
}

static void expect_exit(int code)
{
    ck_assert_msg(WIFEXITED(res.status) && WEXITSTATUS(res.status) == code,
                  "want exit %d, got status 0x%x; stderr:\n%.1500s", code,
                  res.status, res.err);
}

static void expect_line(int i, const char *want)
{
    ck_assert_msg(i < res.nlines && strcmp(res.lines[i], want) == 0,
                  "stderr line %d: want \"%s\"; stderr:\n%.1500s", i, want,
                  res.err);
}

static void expect_line_re(int i, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = i < res.nlines && regexec(&rx, res.lines[i], 0, NULL, 0) == 0;
    regfree(&rx);
    ck_assert_msg(ok, "stderr line %d does not match /%s/; stderr:\n%.1500s", i,
                  re, res.err);
}

static void expect_in_err(const char *s)
{
    ck_assert_msg(strstr(res.err, s) != NULL,
                  "stderr lacks \"%s\"; stderr:\n%.1500s", s, res.err);
}

/* The goroutine id the child reported with say_goid. */
static int64_t child_goid(void)
{
    int64_t id = -1;
    const char *p = strstr(res.out, "goid ");
    ck_assert_msg(p != NULL, "child did not report its goroutine");
    ck_assert_int_eq(sscanf(p, "goid %" SCNd64, &id), 1);
    return id;
}

static void expect_goroutine_header(int i, int64_t goid, const char *status)
{
    char want[128];
    snprintf(want, sizeof want, "goroutine %" PRId64 " [%s]:", goid, status);
    expect_line(i, want);
}

#define SIGLINE_RE(sig, what, addr)                                           \
    "^\\[signal " sig ": " what " code=0x[0-9a-f]+ addr=" addr                \
    " pc=0x[0-9a-f]+\\]$"

/* ---------------------------------------------------------- overflow ---- */

START_TEST(stack_overflow_in_goroutine)
{
    /* One P: goroutine 1 surely parks before goroutine 2 runs. */
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("overflow", env);
    expect_exit(2);
    expect_line(0, "runtime: goroutine stack exceeds 262144-byte limit");
    expect_line(1, "fatal error: stack overflow");
    expect_line(2, "");
    expect_goroutine_header(3, child_goid(), "running");
    /* The innermost frames are the recursion, and the walk is cut at 100
     * frames as Go does. */
    expect_line(4, "recurse(...)");
    expect_in_err("\n...additional frames elided...\n");
    /* then the others: goroutine 1 waits on its channel */
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
    ck_assert(child_goid() != 1);
}
END_TEST

START_TEST(stack_overflow_by_one_big_frame)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("bigframe", env);
    expect_exit(2);
    expect_line(0, "runtime: goroutine stack exceeds 262144-byte limit");
    expect_line(1, "fatal error: stack overflow");
    expect_line(2, "");
    expect_goroutine_header(3, child_goid(), "running");
    expect_line(4, "big_frame(...)");
}
END_TEST

START_TEST(stack_overflow_in_main)
{
    run("overflow_main", NULL);
    expect_exit(2);
    expect_line(0, "runtime: goroutine stack exceeds 262144-byte limit");
    expect_line(1, "fatal error: stack overflow");
    expect_line(2, "");
    ck_assert_int_eq(child_goid(), 1);
    expect_goroutine_header(3, 1, "running");
    expect_line(4, "recurse(...)");
}
END_TEST

START_TEST(stack_overflow_in_many_goroutines_at_once)
{
    /* Four goroutines overflow together on four Ps: one report only. */
    static const char *env[] = {"MAXPROCS=4", NULL};
    run("overflow_many", env);
    expect_exit(2);
    expect_line(0, "runtime: goroutine stack exceeds 262144-byte limit");
    expect_line(1, "fatal error: stack overflow");
    expect_line(2, "");
    expect_line_re(3, "^goroutine [2-5] \\[running\\]:$");
    expect_line(4, "recurse(...)");
    const char *first = strstr(res.err, "fatal error:");
    ck_assert_ptr_nonnull(first);
    ck_assert_msg(strstr(first + 1, "fatal error:") == NULL &&
                      strstr(first, "runtime: goroutine stack") == NULL &&
                      strstr(res.err, "panic during panic") == NULL,
                  "two reports:\n%.1500s", res.err);
}
END_TEST

START_TEST(stack_overflow_past_the_guard_unprobed)
{
    static const char *names[] = {"clash", "farframe"};
    static const char *env[] = {"MAXPROCS=1", NULL};
    for (int i = 0; i < 2; i++) {
        run(names[i], env);
        expect_exit(2);
        expect_line(0, "runtime: goroutine stack exceeds 262144-byte limit");
        expect_line(1, "fatal error: stack overflow");
        expect_line(2, "");
        expect_goroutine_header(3, child_goid(), "running");
        expect_line(4, i == 0 ? "clash_frame(...)" : "far_frame(...)");
    }
}
END_TEST

/* Spawns scenario name with stdout and stderr on the given descriptors;
 * waits at most 20 s for it (then kills it and fails). */
static int run_with_fds(const char *name, int out_fd, int err_fd)
{
    char *envp[512];
    harness_child_env(envp, sizeof envp / sizeof envp[0], NULL);
    posix_spawn_file_actions_t fa;
    ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    /* SIGPIPE at its default in the child, whatever this process does
     * with it (an ignored signal is inherited) */
    posix_spawnattr_t at;
    ck_assert_int_eq(posix_spawnattr_init(&at), 0);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"test_fatal", "--fatal-child", (char *)name, NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    int status = 0;
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(r, 0);
        if (r == pid)
            return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_abort_msg("scenario %s did not exit within 20 s", name);
    return -1;
}

/* A fatal error with stdout a full pipe nobody reads: the report's exit
 * does not wait for the reader (it did, for good), and what fits in the
 * pipe is delivered. */
START_TEST(fatal_exit_does_not_wait_for_stdout_reader)
{
    int po[2];
    ck_assert_int_eq(pipe(po), 0);
    int devnull = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(devnull, 0);
    int st = run_with_fds("stdout_full", po[1], devnull);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status 0x%x", st);
    close(po[1]);
    char buf[4096];
    size_t got = 0;
    ssize_t k;
    while ((k = read(po[0], buf, sizeof buf)) > 0)
        got += (size_t)k;
    ck_assert_uint_ge(got, 4096);
    close(po[0]);
    close(devnull);
}
END_TEST

/* stderr a pipe whose reader has gone (`prog 2>&1 | head -1`): exit 2,
 * as Go, not death by SIGPIPE (141 in the shell). */
START_TEST(fatal_exit_status_with_stderr_closed)
{
    int pe[2];
    ck_assert_int_eq(pipe(pe), 0);
    close(pe[0]);
    int devnull = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(devnull, 0);
    int st = run_with_fds("throw", devnull, pe[1]);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status 0x%x", st);
    close(pe[1]);
    close(devnull);
}
END_TEST

/* ---------------------------------------------------------- deadlock ---- */

START_TEST(deadlock)
{
    run("deadlock", NULL);
    expect_exit(2);
    expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
    expect_line(1, "");
    expect_line(2, "goroutine 1 [chan receive]:");
    expect_in_err("child_deadlock(...)\n");
}
END_TEST

START_TEST(deadlock_runtime_only_goroutine_has_lines)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("deadlock_bare", env);
    expect_exit(2);
    expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
    expect_in_err("\nrt_waitgroup_wait(...)\n\t");
    expect_in_err("/sched/sync.c:");
    ck_assert_msg(strstr(res.err, "?:0") == NULL, "a frame without its line:\n%s", res.err);
}
END_TEST

START_TEST(deadlock_after_collections)
{
    static const char *const envs[][3] = {{"MAXPROCS=2", NULL, NULL},
                                          {"MAXPROCS=2", "DEADLOCK_PROFILE=1", NULL}};
    for (int k = 0; k < 2; k++) {
        run("deadlock_after_gc", envs[k]);
        expect_exit(2);
        expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
        expect_in_err("\ngoroutine 1 [chan receive]:\n");
    }
}
END_TEST

START_TEST(deadlock_lists_finalizer_in_program_code)
{
    run("fin_deadlock", NULL);
    expect_exit(2);
    expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
    expect_in_err("\ngoroutine 1 [chan receive]:\n");
    expect_in_err(" [chan receive]:\nfin_block(...)\n");
}
END_TEST

START_TEST(syscall_region_misuse)
{
    static const struct {
        const char *env, *line0;
    } cases[] = {
        {"SYS_MISUSE=exit", "^fatal error: rt_syscall_exit without rt_syscall_enter$"},
        {"SYS_MISUSE=enter2", "^fatal error: rt_syscall_enter: already between "
                              "rt_syscall_enter and rt_syscall_exit$"},
        {"SYS_MISUSE=block", "^fatal error: chan receive: blocking between "
                             "rt_syscall_enter and rt_syscall_exit$"},
        {"SYS_MISUSE=yield", "^fatal error: rt_yield: between rt_syscall_enter and "
                             "rt_syscall_exit$"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {cases[i].env, NULL};
        run("sys_misuse", env);
        expect_exit(2);
        expect_line_re(0, cases[i].line0);
        expect_in_err("child_sys_misuse(...)\n");
    }
}
END_TEST

START_TEST(deadlock_traceback_none)
{
    static const char *env[] = {"GOTRACEBACK=none", NULL};
    run("deadlock", env);
    expect_exit(2);
    ck_assert_str_eq(res.err,
                     "fatal error: all goroutines are asleep - deadlock!\n");
}
END_TEST

START_TEST(deadlock_traceback_crash)
{
    static const char *env[] = {"GOTRACEBACK=crash", NULL};
    run("deadlock", env);
    ck_assert_msg(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGABRT,
                  "want SIGABRT, got status 0x%x", res.status);
    expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
    expect_line(1, "");
    /* level 2: the scheduler stack that threw, runtime frames, fp= */
    expect_line(2, "runtime stack:");
    expect_line_re(3, "^rt__throw\\(\\.\\.\\.\\)$");
    expect_line_re(4, "^\t.*/runtime/fatal\\.c:[0-9]+ \\+0x[0-9a-f]+ "
                      "fp=0x[0-9a-f]+$");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
    expect_in_err("\nrt_chan_recv(...)\n");
}
END_TEST

START_TEST(user_stdout_flushed)
{
    run("stdio", NULL);
    expect_exit(2);
    expect_line(0, "fatal error: all goroutines are asleep - deadlock!");
    ck_assert_str_eq(res.out, "buffered before the fatal error\n");
}
END_TEST

/* ------------------------------------------------------- bad pointers ---- */

/* Scenario name on goroutine 1: Go's nil-dereference report at address
 * 0, the traceback's first frame leaf and a later one, caller. */
static void expect_nil_panic_in_main(const char *name, const char *leaf, const char *caller)
{
    run(name, NULL);
    expect_exit(2);
    expect_line(0, "panic: runtime error: invalid memory address or nil "
                   "pointer dereference");
    expect_line_re(1, SIGLINE_RE("SIGSEGV", "segmentation violation", "0x0"));
    expect_line(2, "");
    expect_goroutine_header(3, 1, "running");
    expect_line(4, leaf);
    expect_in_err(caller);
}

START_TEST(nil_dereference)
{
    expect_nil_panic_in_main("nil", "store_nil(...)", "\nchild_nil(...)\n");
}
END_TEST

START_TEST(nil_dereference_in_goroutine)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("nil_goroutine", env);
    expect_exit(2);
    expect_line(0, "panic: runtime error: invalid memory address or nil "
                   "pointer dereference");
    expect_line_re(1, SIGLINE_RE("SIGSEGV", "segmentation violation", "0x10"));
    expect_line(2, "");
    expect_goroutine_header(3, child_goid(), "running");
    expect_line(4, "store_field(...)");
    expect_in_err("\ncreated by child_nil_goroutine\n");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
}
END_TEST

/* GOTRACEBACK=single: a panic shows its own goroutine only (Go >= 1.6's
 * default); a fatal error still shows them all, as Go's throws do. */
START_TEST(traceback_single)
{
    static const char *env[] = {"MAXPROCS=1", "GOTRACEBACK=single", NULL};
    run("nil_goroutine", env);
    expect_exit(2);
    expect_line(0, "panic: runtime error: invalid memory address or nil "
                   "pointer dereference");
    expect_goroutine_header(3, child_goid(), "running");
    expect_line(4, "store_field(...)");
    ck_assert_msg(strstr(res.err, "goroutine 1 [") == NULL,
                  "other goroutines listed:\n%.1500s", res.err);
    run("overflow", env);
    expect_exit(2);
    expect_line(1, "fatal error: stack overflow");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
}
END_TEST

/* A fault goes to a handler the program installed before rt_main (Go
 * passes faults in non-Go code on to it); when it returns, the faulting
 * store runs again. */
START_TEST(program_handler_gets_fault)
{
    run("own_handler", NULL);
    expect_exit(0);
    ck_assert_msg(strstr(res.out, "recovered 1\n") != NULL, "stdout:\n%s\nstderr:\n%s",
                  res.out, res.err);
}
END_TEST

START_TEST(fault_address)
{
    run("fault", NULL);
    expect_exit(2);
    void *addr = NULL;
    ck_assert_int_eq(sscanf(res.out, "addr %p", &addr), 1);
    char want[128], re[256];
    snprintf(want, sizeof want, "unexpected fault address %p", addr);
    expect_line(0, want);
    expect_line(1, "fatal error: fault");
    /* SEGV_ACCERR (2): the page is mapped but not writable */
    snprintf(re, sizeof re,
             "^\\[signal SIGSEGV: segmentation violation code=0x2 addr=%p "
             "pc=0x[0-9a-f]+\\]$",
             addr);
    expect_line_re(2, re);
    expect_line(3, "");
    expect_goroutine_header(4, 1, "running");
    expect_line(5, "store_nil(...)");
}
END_TEST

/* A call to an address holding no code: the traceback was a column of
 * "?()" frames (an outside tester's nested-function trampoline); it now
 * starts at the caller, from the return address the call left. */
START_TEST(call_of_nil_function)
{
    expect_nil_panic_in_main("nilcall", "call_nil_fn(...)", "\nchild_nilcall(...)\n");
}
END_TEST

START_TEST(call_into_goroutine_stack)
{
    run("stackcall", NULL);
    expect_exit(2);
    expect_line(1, "fatal error: fault");
    expect_line(3, "");
    expect_goroutine_header(4, 1, "running");
    expect_line(5, "call_into_stack(...)");
    expect_in_err("\nchild_stackcall(...)\n");
}
END_TEST

/* Go's runtime error for an integer division by zero (ASan's own SIGFPE
 * handler, which the runtime leaves in place, is turned off). */
START_TEST(integer_divide_by_zero)
{
    static const char *env[] = {"MAXPROCS=1", "ASAN_OPTIONS=handle_sigfpe=0", NULL};
    run("divzero", env);
    expect_exit(2);
    expect_line(0, "panic: runtime error: integer divide by zero");
    expect_line_re(1, SIGLINE_RE("SIGFPE", "floating-point exception", "0x[0-9a-f]+"));
    expect_line(2, "");
    expect_goroutine_header(3, child_goid(), "running");
    expect_line(4, "divide(...)");
    expect_in_err("\ncreated by child_go_and_wait\n");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
}
END_TEST

/* abort() in the program's code: Go's dump for the signal -- its name,
 * PC, m and sigcode (SI_TKILL, unsigned), every goroutine, the registers
 * -- and exit 2; GOTRACEBACK=crash then dies of SIGABRT. */
#if !defined(__SANITIZE_ADDRESS__)
START_TEST(crash_inside_malloc_reports)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("malloc_crash", env);
    expect_exit(2);
    expect_in_err("\ncorrupt_heap(...)\n");
    expect_in_err("test_fatal.c:");
    expect_in_err("\ncreated by child_go_and_wait\n");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
}
END_TEST
#endif

START_TEST(abort_dumps_goroutines)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    run("abort", env);
    expect_exit(2);
    expect_line(0, "SIGABRT: abort");
    expect_line_re(1, "^PC=0x[0-9a-f]+ m=[0-9]+ sigcode=18446744073709551610$");
    expect_line(2, "");
    expect_goroutine_header(3, child_goid(), "running");
    expect_in_err("\nabort_g(...)\n");
    expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
    expect_in_err("\n\nrax    0x");
    expect_in_err("\nrip    0x");
    static const char *crash[] = {"MAXPROCS=1", "GOTRACEBACK=crash", NULL};
    run("abort", crash);
    ck_assert_msg(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGABRT,
                  "status %#x", res.status);
    expect_line(0, "SIGABRT: abort");
}
END_TEST

/* A trap instruction, a breakpoint and SIGSYS kill with Go's dump too,
 * not silently (an outside tester's find: exit 132 and nothing on
 * stderr for __builtin_trap in a goroutine). */
START_TEST(trap_signals_dump_goroutines)
{
    static const char *env[] = {"MAXPROCS=1", NULL};
    static const struct {
        const char *mode, *first, *frame;
    } cases[] = {
#if defined(__x86_64__)
        {"trap", "SIGILL: illegal instruction", "\ntrap_g(...)\n"},
#else
        {"trap", "SIGTRAP: trace trap", "\ntrap_g(...)\n"},
#endif
        {"int3", "SIGTRAP: trace trap", "\nint3_g(...)\n"},
        {"sigsys", "SIGSYS: bad system call", "\nsigsys_g(...)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(cases[i].mode, env);
        expect_exit(2);
        expect_line(0, cases[i].first);
        expect_line_re(1, "^PC=0x[0-9a-f]+ m=[0-9]+ sigcode=[0-9]+$");
        int l = 2;
#if defined(__x86_64__)
        if (strcmp(cases[i].mode, "trap") == 0)
            /* ud2 is 0f 0b; then whatever follows, to 16 bytes */
            expect_line_re(l++, "^instruction bytes: 0xf 0xb( 0x[0-9a-f]{1,2}){14}$");
#endif
        expect_line(l, "");
        expect_goroutine_header(l + 1, child_goid(), "running");
        expect_in_err(cases[i].frame);
        expect_in_err("\n\ngoroutine 1 [chan receive]:\n");
        expect_in_err("\n\nrax    0x");
    }
}
END_TEST

START_TEST(fault_on_foreign_thread)
{
    run("foreign", NULL);
    expect_exit(2);
    expect_line(0, "fatal error: unexpected signal during runtime execution");
    expect_line_re(1, SIGLINE_RE("SIGSEGV", "segmentation violation", "0x0"));
    expect_line(2, "");
    expect_line(3, "runtime stack:");
    expect_in_err("\nstore_nil(...)\n");
    expect_in_err("\n\ngoroutine 1 [");
}
END_TEST

START_TEST(block_on_foreign_thread)
{
    static const char *const ops[][2] = {{"send", "chan send"},
                                         {"recv", "chan receive (nil chan)"},
                                         {"select", "select"}};
    for (size_t i = 0; i < 3; i++) {
        char env[64];
        snprintf(env, sizeof env, "FOREIGN_OP=%s", ops[i][0]);
        run("foreign_block", (const char *[]){env, NULL});
        expect_exit(2);
        char want[128];
        snprintf(want, sizeof want, "fatal error: %s: not on a goroutine", ops[i][1]);
        expect_line(0, want);
        expect_in_err("\nforeign_blocker(...)\n");
    }
}
END_TEST

/* ------------------------------------------------------ throw and help ---- */

START_TEST(throw_from_api)
{
    run("throw", NULL);
    expect_exit(2);
    expect_line(0, "fatal error: close of nil channel");
    expect_line(1, "");
    expect_line(2, "goroutine 1 [running]:");
    expect_in_err("child_throw(...)\n");
}
END_TEST

START_TEST(debug_help)
{
    static const char *env[] = {"DEBUG=help", NULL};
    run("help", env);
    expect_exit(0);
    ck_assert_str_eq(res.out, ""); /* the program's function never ran */
    static const char *rows[] = {
        "\nDEBUG gctrace ",  "\nDEBUG schedtrace ", "\nDEBUG scheddetail ",
        "\nDEBUG allocfreetrace ", "\nDEBUG gcstoptheworld ", "\nGOGC ",
        "\nMAXPROCS (GOMAXPROCS) ", "\nGOTRACEBACK ",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_in_err(rows[i]);
}
END_TEST

START_TEST(malformed_setting_warns_once)
{
    static const char *env[] = {"GOGC=abc", "DEBUG=1,gctrace=x", NULL};
    run("deadlock", env);
    expect_exit(2);
    /* warnings come first, one line each, then the fatal error */
    expect_line(0, "grt: ignoring DEBUG gctrace=\"x\": want a non-negative "
                   "integer");
    expect_line(1, "grt: ignoring GOGC=\"abc\": want a percentage or \"off\"");
    expect_line(2, "fatal error: all goroutines are asleep - deadlock!");
}
END_TEST

static Suite *fatal_suite(void)
{
    Suite *s = suite_create("fatal");
    TCase *tc = tcase_create("children");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, stack_overflow_in_goroutine);
    tcase_add_test(tc, stack_overflow_in_main);
    tcase_add_test(tc, stack_overflow_by_one_big_frame);
    tcase_add_test(tc, stack_overflow_in_many_goroutines_at_once);
    tcase_add_test(tc, stack_overflow_past_the_guard_unprobed);
    tcase_add_test(tc, fatal_exit_does_not_wait_for_stdout_reader);
    tcase_add_test(tc, fatal_exit_status_with_stderr_closed);
    tcase_add_test(tc, deadlock);
    tcase_add_test(tc, traceback_single);
    tcase_add_test(tc, syscall_region_misuse);
    tcase_add_test(tc, deadlock_lists_finalizer_in_program_code);
    tcase_add_test(tc, deadlock_after_collections);
    tcase_add_test(tc, deadlock_traceback_none);
    tcase_add_test(tc, deadlock_traceback_crash);
    tcase_add_test(tc, user_stdout_flushed);
    tcase_add_test(tc, nil_dereference);
    tcase_add_test(tc, nil_dereference_in_goroutine);
    tcase_add_test(tc, fault_address);
    tcase_add_test(tc, call_of_nil_function);
    tcase_add_test(tc, call_into_goroutine_stack);
    tcase_add_test(tc, integer_divide_by_zero);
    tcase_add_test(tc, abort_dumps_goroutines);
    tcase_add_test(tc, deadlock_runtime_only_goroutine_has_lines);
    tcase_add_test(tc, trap_signals_dump_goroutines);
#if !defined(__SANITIZE_ADDRESS__)
    tcase_add_test(tc, crash_inside_malloc_reports);
#endif
    tcase_add_test(tc, fault_on_foreign_thread);
    tcase_add_test(tc, block_on_foreign_thread);
    tcase_add_test(tc, throw_from_api);
    tcase_add_test(tc, debug_help);
    tcase_add_test(tc, program_handler_gets_fault);
    tcase_add_test(tc, malformed_setting_warns_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--fatal-child") == 0)
        return run_child(argc, argv);

    return harness_run_suite(fatal_suite());
}
