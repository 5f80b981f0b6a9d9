/*
 * tests/runtime/test_traceback.c -- stack walks and Go 1.3 traceback text
 * (runtime/traceback.c).
 *
 * Walks are checked against call chains the test builds itself out of
 * noinline functions whose call lines it knows (enum markers just above
 * them).  The printed text goes into a pipe and is compared line by line
 * with regular expressions that pin every literal character: the
 * goroutine header, "name(...)", "\tFILE:LINE +0xOFF", " fp=0x..." at level
 * 2, "created by", and the Go 1.3 rules (runtime frames hidden at level 1,
 * all frames printed when every one would be hidden -- but for a
 * goroutine whose own function tail-called the runtime, whose entry
 * function stands in for them --, 100 frames at most).
 *
 * Parked, not-yet-started and running goroutines need the scheduler: those
 * tests run their body as goroutine 1 under rt_main in the process Check
 * forks for each test.  A few use hand-made goroutine records instead
 * (a context from rt__ctx_make on a local buffer), which need no scheduler.
 *
 * A fatal error's dump of every goroutine takes the goroutine list's
 * lock only if it comes within ~50 ms (sched/proc.c,
 * rt__for_each_g_dying): a child process throws while another thread
 * holds that lock, and must still print every goroutine, promptly.
 *
 * TB_DUMP=1 in the environment copies every captured output to stderr.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "runtime/runtime.h"
#include "sched/sched.h"

/* Functions that must keep their own frame and name (no inlining, no
 * specialised clones such as name.constprop.0). */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

/* Written after calls so that no call is a tail call (which would drop the
 * caller's frame). */
static volatile int keep;

/* ----------------------------------------------------- output capture -- */

static char out[1 << 16];
static char *lines[2048];
static int nlines;

typedef struct capture {
    int fd[2];
    rt__buf b;
} capture;

static void cap_open(capture *c)
{
    ck_assert_int_eq(pipe(c->fd), 0);
    rt__buf_init(&c->b, c->fd[1]);
}

/* Flushes, reads everything back into out and splits it into lines. */
static void cap_close(capture *c)
{
    rt__buf_flush(&c->b);
    close(c->fd[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(c->fd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    close(c->fd[0]);
    out[n] = '\0';
    if (getenv("TB_DUMP") != NULL) /* debugging aid: show what was read */
        fprintf(stderr, "-----\n%s", out);
    ck_assert_msg(n == 0 || out[n - 1] == '\n', "unterminated: %s", out);
    nlines = 0;
    for (char *p = out; *p != '\0' && nlines < 2048;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        lines[nlines++] = p;
        p = nl + 1;
    }
}

static bool matches(const char *s, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

static void line_is(int i, const char *re)
{
    ck_assert_msg(i < nlines, "line %d missing, output:\n%s", i, out);
    ck_assert_msg(matches(lines[i], re), "line %d \"%s\" !~ /%s/", i,
                  lines[i], re);
}

/* "\t/.../tests/runtime/test_traceback.c:LINE +0x..." */
static void file_line_is(int i, int line, bool offset)
{
    char re[256];
    snprintf(re, sizeof re,
             "^\t/.*/tests/runtime/test_traceback\\.c:%d%s$", line,
             offset ? " \\+0x[0-9a-f]+" : "");
    line_is(i, re);
}

static int find_line(const char *re, int from)
{
    for (int i = from; i < nlines; i++)
        if (matches(lines[i], re))
            return i;
    return -1;
}

static const char *name_at(uintptr_t pc)
{
    rt__sym s;
    return rt__symbolize(pc, &s) ? s.name : "?";
}

/* ------------------------------------------------- walks: this thread -- */

NOINLINE static int chain3(int skip, uintptr_t *pcs, uintptr_t *cfas)
{
    int n = rt__callers(skip, pcs, cfas, 32);
    keep++;
    return n;
}

NOINLINE static int chain2(int skip, uintptr_t *pcs, uintptr_t *cfas)
{
    int n = chain3(skip, pcs, cfas);
    keep++;
    return n;
}

NOINLINE static int chain1(int skip, uintptr_t *pcs, uintptr_t *cfas)
{
    int n = chain2(skip, pcs, cfas);
    keep++;
    return n;
}

START_TEST(callers_in_order)
{
    uintptr_t pcs[32], cfas[32];
    int n = chain1(0, pcs, cfas);

    ck_assert_int_ge(n, 5);
    /* pcs[0] is where chain3 called rt__callers: the walker's own frames
     * are not there.  Callers are return addresses: look up pc - 1. */
    ck_assert_str_eq(name_at(pcs[0] - 1), "chain3");
    ck_assert_str_eq(name_at(pcs[1] - 1), "chain2");
    ck_assert_str_eq(name_at(pcs[2] - 1), "chain1");
    ck_assert_str_eq(name_at(pcs[3] - 1), "callers_in_order_fn");
    /* Each frame's CFA lies above the one it called. */
    for (int i = 1; i < n && cfas[i] != 0; i++)
        ck_assert_uint_gt(cfas[i], cfas[i - 1]);

    n = chain1(2, pcs, cfas);
    ck_assert_str_eq(name_at(pcs[0] - 1), "chain1");
}
END_TEST

START_TEST(callers_respects_max)
{
    uintptr_t pcs[2];
    ck_assert_int_eq(rt__callers(0, pcs, NULL, 2), 2);
    ck_assert_str_eq(name_at(pcs[0] - 1), "callers_respects_max_fn");
    ck_assert_int_eq(rt__callers(0, pcs, NULL, 0), 0);
}
END_TEST

enum { PCHAIN2_CALL = __LINE__ + 3 };
NOINLINE static void pchain2(rt__buf *b, int level)
{
    rt__print_traceback(b, NULL, level);
    keep++;
}

enum { PCHAIN1_CALL = __LINE__ + 3 };
NOINLINE static void pchain1(rt__buf *b, int level)
{
    pchain2(b, level);
    keep++;
}

START_TEST(print_own_stack)
{
    capture c;
    cap_open(&c);
    pchain1(&c.b, 1);
    cap_close(&c);

    /* Not on a goroutine: no created-by; the walk runs to the thread's
     * root through Check and libc, every frame two lines. */
    line_is(0, "^pchain2\\(\\.\\.\\.\\)$");
    file_line_is(1, PCHAIN2_CALL, true);
    line_is(2, "^pchain1\\(\\.\\.\\.\\)$");
    file_line_is(3, PCHAIN1_CALL, true);
    line_is(4, "^print_own_stack_fn\\(\\.\\.\\.\\)$");
    line_is(5, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+ "
               "\\+0x[0-9a-f]+$");
    ck_assert_int_eq(nlines % 2, 0);
    for (int i = 6; i < nlines; i += 2) {
        line_is(i, "^([A-Za-z_.$@0-9]+|\\?)\\((\\.\\.\\.|)\\)$");
        line_is(i + 1, "^\t[^ ]+:[0-9]+( \\+0x[0-9a-f]+)?$");
    }
    /* The machinery's own frames are never shown. */
    ck_assert_ptr_null(strstr(out, "rt__print_traceback"));
}
END_TEST

START_TEST(print_own_stack_level2)
{
    capture c;
    cap_open(&c);
    pchain1(&c.b, 2);
    cap_close(&c);

    line_is(0, "^pchain2\\(\\.\\.\\.\\)$");
    line_is(1, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+ \\+0x[0-9a-f]+ "
               "fp=0x[0-9a-f]+$");
    line_is(2, "^pchain1\\(\\.\\.\\.\\)$");
    /* Every frame line carries fp= (the root's may be 0x0). */
    for (int i = 1; i < nlines; i += 2)
        line_is(i, " fp=0x[0-9a-f]+$");
    ck_assert_ptr_null(strstr(out, "rt__print_traceback"));
    ck_assert_ptr_null(strstr(out, "traceback_self"));
}
END_TEST

NOINLINE static int deep(int n, rt__buf *b)
{
    if (n == 0) {
        rt__print_traceback(b, NULL, 1);
        keep++;
        return 0;
    }
    int r = deep(n - 1, b);
    keep++;
    return r + 1;
}

START_TEST(at_most_100_frames)
{
    capture c;
    cap_open(&c);
    ck_assert_int_eq(deep(150, &c.b), 150);
    cap_close(&c);

    ck_assert_int_eq(nlines, 2 * RT_MAX_FRAMES + 1);
    for (int i = 0; i < 2 * RT_MAX_FRAMES; i += 2)
        line_is(i, "^deep\\(\\.\\.\\.\\)$");
    line_is(2 * RT_MAX_FRAMES, "^\\.\\.\\.additional frames elided\\.\\.\\.$");
}
END_TEST

/* ---------------------------------------------------- walks: signals ---- */

static uintptr_t sig_pcs[64];
static int sig_n;
static uintptr_t self_pcs[64];
static int self_n;
static capture sig_cap;

NOINLINE static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si;
    sig_n = rt__callers_sig(uc, sig_pcs, NULL, 64);
    self_n = rt__callers(0, self_pcs, NULL, 64);
    rt__print_traceback_sig(&sig_cap.b, NULL, uc, 1);
    keep++;
}

NOINLINE static void sigchain2(void)
{
    raise(SIGUSR1);
    keep++;
}

NOINLINE static void sigchain1(void)
{
    sigchain2();
    keep++;
}

/* Index of the first pc at or after from whose function is name, or -1. */
static int find_pc(const uintptr_t *pcs, int n, int from, const char *name)
{
    for (int i = from; i < n; i++)
        if (strcmp(name_at(i == 0 ? pcs[i] : pcs[i] - 1), name) == 0)
            return i;
    return -1;
}

START_TEST(walks_from_signal_context)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    rt__symtab_init();
    cap_open(&sig_cap);
    /* As fatal.c does before printing from a handler: with rt__throwing
     * set, lookups do not load other libraries' DWARF (libdw allocates,
     * which a signal handler must not do). */
    atomic_store(&rt__throwing, 1);
    sigchain1();
    atomic_store(&rt__throwing, 0);
    cap_close(&sig_cap);

    /* From the ucontext: starts at the interrupted pc (in libc's raise),
     * never shows the handler, and reaches our chain in order. */
    ck_assert_int_gt(sig_n, 3);
    ck_assert_int_eq(find_pc(sig_pcs, sig_n, 0, "on_usr1"), -1);
    int a = find_pc(sig_pcs, sig_n, 0, "sigchain2");
    int b = find_pc(sig_pcs, sig_n, 0, "sigchain1");
    int t = find_pc(sig_pcs, sig_n, 0, "walks_from_signal_context_fn");
    ck_assert_int_gt(a, 0);
    ck_assert_int_eq(b, a + 1);
    ck_assert_int_eq(t, b + 1);

    /* From the handler's own stack: the handler first, then across the
     * signal frame into the same chain. */
    ck_assert_int_eq(find_pc(self_pcs, self_n, 0, "on_usr1"), 0);
    int a2 = find_pc(self_pcs, self_n, 1, "sigchain2");
    ck_assert_int_gt(a2, 1);
    ck_assert_int_eq(find_pc(self_pcs, self_n, a2, "sigchain1"), a2 + 1);

    /* The printed form hides the handler's signal trampoline at level 1
     * and shows the chain with the call lines. */
    ck_assert_ptr_null(strstr(out, "on_usr1"));
    ck_assert_ptr_null(strstr(out, "__restore_rt"));
    int i = find_line("^sigchain2\\(\\.\\.\\.\\)$", 0);
    ck_assert_int_ge(i, 2);
    line_is(i + 2, "^sigchain1\\(\\.\\.\\.\\)$");
}
END_TEST

/* -------------------------------------------------- goroutine headers -- */

START_TEST(headers)
{
    rt_g g;
    capture c;
    memset(&g, 0, sizeof g);

    cap_open(&c);
    g.goid = 42;
    atomic_store(&g.status, RT_GWAITING);
    g.waitreason = RT_WAIT_CHAN_RECV;
    g.waitsince = rt_nanotime() - 3 * 60 * RT_SECOND - RT_SECOND;
    rt__print_goroutine_header(&c.b, &g);
    g.waitsince = rt_nanotime() - 59 * RT_SECOND;
    rt__print_goroutine_header(&c.b, &g);
    g.waitsince = 0;
    rt__print_goroutine_header(&c.b, &g);
    g.waitreason = NULL;
    rt__print_goroutine_header(&c.b, &g);
    atomic_store(&g.status, RT_GSYSCALL);
    g.waitsince = rt_nanotime() - 61 * RT_SECOND;
    rt__print_goroutine_header(&c.b, &g);
    atomic_store(&g.status, RT_GRUNNABLE);
    rt__print_goroutine_header(&c.b, &g); /* minutes only when waiting */
    atomic_store(&g.status, RT_GRUNNING);
    rt__print_goroutine_header(&c.b, &g);
    atomic_store(&g.status, RT_GIDLE);
    rt__print_goroutine_header(&c.b, &g);
    atomic_store(&g.status, RT_GDEAD);
    rt__print_goroutine_header(&c.b, &g);
    cap_close(&c);

    ck_assert_int_eq(nlines, 9);
    ck_assert_str_eq(lines[0], "goroutine 42 [chan receive, 3 minutes]:");
    ck_assert_str_eq(lines[1], "goroutine 42 [chan receive]:");
    ck_assert_str_eq(lines[2], "goroutine 42 [chan receive]:");
    ck_assert_str_eq(lines[3], "goroutine 42 [waiting]:");
    ck_assert_str_eq(lines[4], "goroutine 42 [syscall, 1 minutes]:");
    ck_assert_str_eq(lines[5], "goroutine 42 [runnable]:");
    ck_assert_str_eq(lines[6], "goroutine 42 [running]:");
    ck_assert_str_eq(lines[7], "goroutine 42 [idle]:");
    ck_assert_str_eq(lines[8], "goroutine 42 [???]:");
}
END_TEST

/* ------------------------------- hand-made goroutines (no scheduler) ---- */

enum { NEVER_RUNS_FIRST = __LINE__ + 1 };
NOINLINE static void never_runs(void *arg)
{
    (void)arg;
    keep++;
}
enum { NEVER_RUNS_LAST = __LINE__ - 1 };

static void bad_entry(void *arg)
{
    (void)arg;
    abort();
}

NOINLINE static uintptr_t my_return_address(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    keep++;
    return ra;
}

enum { MAKER_CALL = __LINE__ + 3 };
NOINLINE static uintptr_t maker(void)
{
    uintptr_t pc = my_return_address();
    keep++;
    return pc;
}

static _Alignas(16) char fake_stack[8192];

/* A runnable goroutine record whose context was made but never run. */
static void fake_g(rt_g *g, void (*fn)(void *), uintptr_t gopc, int64_t goid)
{
    memset(g, 0, sizeof *g);
    g->goid = goid;
    g->fn = fn;
    g->gopc = gopc;
    g->sp = rt__ctx_make((uintptr_t)(fake_stack + sizeof fake_stack),
                         bad_entry, NULL);
    atomic_store(&g->status, RT_GRUNNABLE);
}

START_TEST(not_started_goroutine)
{
    rt_g g;
    capture c;
    fake_g(&g, never_runs, maker(), 9);

    cap_open(&c);
    rt__print_goroutine_header(&c.b, &g);
    rt__print_traceback(&c.b, &g, 1);
    cap_close(&c);

    ck_assert_int_eq(nlines, 5);
    ck_assert_str_eq(lines[0], "goroutine 9 [runnable]:");
    ck_assert_str_eq(lines[1], "never_runs(...)");
    /* pc == entry: no +0x; the line is the function's own. */
    ck_assert(matches(lines[2],
                      "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+$"));
    int line = atoi(strrchr(lines[2], ':') + 1);
    ck_assert_int_ge(line, NEVER_RUNS_FIRST);
    ck_assert_int_le(line, NEVER_RUNS_LAST);
    ck_assert_str_eq(lines[3], "created by maker");
    file_line_is(4, MAKER_CALL, true);

    /* The public walker gives the same single frame. */
    uintptr_t pcs[4];
    ck_assert_int_eq(rt__callers_g(&g, pcs, NULL, 4), 1);
    ck_assert_uint_eq(pcs[0], (uintptr_t)never_runs);
}
END_TEST

START_TEST(goroutine_without_context)
{
    rt_g g;
    capture c;
    /* The scheduler leaves sp NULL until a goroutine first runs. */
    fake_g(&g, never_runs, maker(), 11);
    g.sp = NULL;

    cap_open(&c);
    rt__print_traceback(&c.b, &g, 2);
    cap_close(&c);
    ck_assert_int_eq(nlines, 4);
    ck_assert_str_eq(lines[0], "never_runs(...)");
    line_is(1, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+ fp=0x0$");
    ck_assert_str_eq(lines[2], "created by maker");
}
END_TEST

START_TEST(goroutine_one_has_no_creator)
{
    rt_g g;
    capture c;
    fake_g(&g, never_runs, maker(), 1);

    cap_open(&c);
    rt__print_traceback(&c.b, &g, 1);
    cap_close(&c);
    ck_assert_int_eq(nlines, 2);
    ck_assert_str_eq(lines[0], "never_runs(...)");
}
END_TEST

START_TEST(all_hidden_prints_all)
{
    rt_g g;
    capture c;
    /* Entry in the runtime, created from inside the runtime. */
    fake_g(&g, (void (*)(void *))rt__symtab_init,
           (uintptr_t)rt__symbolize + 16, 5);

    cap_open(&c);
    rt__print_traceback(&c.b, &g, 1);
    cap_close(&c);
    /* Its only frame would be hidden, so it is shown; the runtime creator
     * is hidden at level 1, as Go's created-by filter does. */
    ck_assert_int_eq(nlines, 2);
    ck_assert_str_eq(lines[0], "rt__symtab_init(...)");
    line_is(1, "^\t/.*/runtime/symtab\\.c:[0-9]+$");

    cap_open(&c);
    rt__print_traceback(&c.b, &g, 2);
    cap_close(&c);
    ck_assert_int_eq(nlines, 4);
    ck_assert_str_eq(lines[0], "rt__symtab_init(...)");
    line_is(1, "^\t/.*/runtime/symtab\\.c:[0-9]+ fp=0x[0-9a-f]+$");
    ck_assert_str_eq(lines[2], "created by rt__symbolize");
    line_is(3, "^\t/.*/runtime/symtab\\.c:[0-9]+ \\+0x10$");
}
END_TEST

/* ------------------------------------------- goroutines under rt_main -- */

static void (*test_body)(void);

static int body_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    harness_watchdog_start(); /* a hang ends with every goroutine's stack */
    test_body();
    return 42;
}

static void run_in_rt_procs(void (*fn)(void), const char *maxprocs)
{
    char *argv[] = {(char *)"test_traceback", NULL};
    setenv("MAXPROCS", maxprocs, 1);
    test_body = fn;
    ck_assert_int_eq(rt_main(body_main, 1, argv), 42);
}

typedef struct find_arg {
    int64_t goid;
    rt_g *gp;
} find_arg;

static void find_cb(rt_g *gp, void *arg)
{
    find_arg *f = arg;
    if (gp->goid == f->goid && atomic_load(&gp->status) != RT_GDEAD)
        f->gp = gp;
}

static rt_g *find_g(int64_t goid)
{
    find_arg f = {goid, NULL};
    rt__for_each_g(find_cb, &f);
    ck_assert_ptr_nonnull(f.gp);
    return f.gp;
}

/* Yields, then sleeps in 1 ms steps, until gp has the status: bounded
 * (about 10 s), not timed. Yields alone are not enough on a loaded
 * machine: the goroutine may sit on another P whose thread the kernel has
 * not run for a while (100,000 yields take ~10 ms). */
static void wait_status(rt_g *gp, uint32_t st)
{
    for (int i = 0; i < 110000 && atomic_load(&gp->status) != st; i++) {
        if (i < 100000)
            rt_yield();
        else
            rt_sleep(1000000);
    }
    ck_assert_uint_eq(atomic_load(&gp->status), st);
}

static rt_chan *done;

enum { WAIT_INNER_CALL = __LINE__ + 4 };
NOINLINE static void wait_inner(rt_chan *c)
{
    int v = 0;
    rt_chan_recv(c, &v);
    keep++;
}

enum { WAITER_CALL = __LINE__ + 3 };
NOINLINE static void waiter(void *arg)
{
    wait_inner(arg);
    keep++;
    int one = 1;
    rt_chan_send(done, &one);
}

enum { SPAWNER_CALL = __LINE__ + 3 };
NOINLINE static int64_t spawner(rt_chan *c)
{
    int64_t id = rt_go(waiter, c);
    keep++;
    return id;
}

static void release(rt_chan *c)
{
    int v = 7;
    rt_chan_send(c, &v);
    ck_assert(rt_chan_recv(done, &v));
}

/* Channels are never freed by hand (the collector will own them): keep
 * them reachable so that LeakSanitizer does not report them. */
static rt_chan *volatile park_chan;

/* Waits until goroutine id parks in a channel receive, captures its
 * header and level-1 traceback into lines[] (the header checked) and
 * returns its record. */
static rt_g *capture_parked(int64_t id)
{
    ck_assert_int_gt(id, 1);
    rt_g *gp = find_g(id);
    wait_status(gp, RT_GWAITING);
    capture cp;
    cap_open(&cp);
    rt__print_goroutine_header(&cp.b, gp);
    rt__print_traceback(&cp.b, gp, 1);
    cap_close(&cp);
    char want[64];
    snprintf(want, sizeof want, "goroutine %lld [chan receive]:", (long long)id);
    ck_assert_int_ge(nlines, 1);
    ck_assert_str_eq(lines[0], want);
    return gp;
}

static void parked_body(void)
{
    rt_chan *c = park_chan = rt_chan_make(sizeof(int), 0);
    done = rt_chan_make(sizeof(int), 1);
    int64_t id = spawner(c);
    rt_g *gp = capture_parked(id);
    capture cp;
    ck_assert_int_eq(nlines, 7);
    ck_assert_str_eq(lines[1], "wait_inner(...)");
    file_line_is(2, WAIT_INNER_CALL, true);
    ck_assert_str_eq(lines[3], "waiter(...)");
    file_line_is(4, WAITER_CALL, true);
    ck_assert_str_eq(lines[5], "created by spawner");
    file_line_is(6, SPAWNER_CALL, true);

    /* Level 2: the runtime's frames too, fp= on every frame, and the walk
     * ends at the goroutine trampoline. */
    cap_open(&cp);
    rt__print_traceback(&cp.b, gp, 2);
    cap_close(&cp);
    int r = find_line("^rt_chan_recv\\(\\.\\.\\.\\)$", 0);
    int w = find_line("^wait_inner\\(\\.\\.\\.\\)$", 0);
    ck_assert_int_ge(r, 0);
    ck_assert_int_eq(w, r + 2);
    line_is(w + 1, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+ "
                   "\\+0x[0-9a-f]+ fp=0x[0-9a-f]+$");
    line_is(nlines - 4, "^rt__ctx_start\\(\\.\\.\\.\\)$");
    line_is(nlines - 2, "^created by spawner$");

    /* The public walker agrees. */
    uintptr_t pcs[32], cfas[32];
    int n = rt__callers_g(gp, pcs, cfas, 32);
    int k = find_pc(pcs, n, 0, "wait_inner");
    ck_assert_int_gt(k, 0);
    ck_assert_int_eq(find_pc(pcs, n, k, "waiter"), k + 1);
    ck_assert_uint_gt(cfas[k + 1], cfas[k]);

    /* Every goroutine: this one first, then the parked one. */
    cap_open(&cp);
    rt__print_all_goroutines(&cp.b, 1);
    cap_close(&cp);
    ck_assert_str_eq(lines[0], "goroutine 1 [running]:");
    ck_assert_str_eq(lines[1], "parked_body(...)");
    int h = find_line("^goroutine [0-9]+ ", 1);
    ck_assert_int_gt(h, 2);
    ck_assert_str_eq(lines[h - 1], "");
    char want[64];
    snprintf(want, sizeof want, "goroutine %lld [chan receive]:", (long long)id);
    ck_assert_str_eq(lines[h], want);
    ck_assert_str_eq(lines[h + 1], "wait_inner(...)");
    ck_assert_int_eq(find_line("^goroutine 1 ", 1), -1);

    /* Level 0 prints nothing. */
    cap_open(&cp);
    rt__print_all_goroutines(&cp.b, 0);
    cap_close(&cp);
    ck_assert_int_eq(nlines, 0);

    release(c);
}

START_TEST(parked_goroutine)
{
    run_in_rt_procs(parked_body, "2");
}
END_TEST

/* A goroutine function that ends in a tail call into the runtime (what
 * gcc -O2 makes of `void f(void *c) { rt_chan_recv(c, NULL); }`), written
 * out so that every build makes it: its frame is gone, so every frame of
 * the parked goroutine is the runtime's.  Level 1 printed them all (an
 * outside tester's find: gswitch, park_queued, chanrecv... where Go shows
 * none); the entry function stands in for them now. */
__attribute__((naked, noinline)) static void tail_waiter(void *c __attribute__((unused)))
{
#if defined(__x86_64__)
    __asm__("xorl %esi, %esi\n\tjmp rt_chan_recv");
#elif defined(__aarch64__)
    __asm__("mov x1, xzr\n\tb rt_chan_recv");
#else
#error "tail_waiter: x86-64 or aarch64"
#endif
}

enum { TAIL_SPAWNER_CALL = __LINE__ + 3 };
NOINLINE static int64_t tail_spawner(rt_chan *c)
{
    int64_t id = rt_go(tail_waiter, c);
    keep++;
    return id;
}

static void tail_call_body(void)
{
    rt_chan *c = park_chan = rt_chan_make(0, 0);
    rt_g *gp = capture_parked(tail_spawner(c));
    capture cp;
    ck_assert_int_eq(nlines, 5);
    ck_assert_str_eq(lines[1], "tail_waiter(...)");
    line_is(2, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+$"); /* its entry: no offset */
    ck_assert_str_eq(lines[3], "created by tail_spawner");
    file_line_is(4, TAIL_SPAWNER_CALL, true);

    /* Level 2 shows the runtime's frames, the entry function not among
     * them (its frame is gone). */
    cap_open(&cp);
    rt__print_traceback(&cp.b, gp, 2);
    cap_close(&cp);
    ck_assert_int_ge(find_line("^rt_chan_recv\\(\\.\\.\\.\\)$", 0), 0);
    ck_assert_int_eq(find_line("^tail_waiter\\(", 0), -1);

    rt_chan_send(c, NULL);
}

START_TEST(tail_called_goroutine)
{
    run_in_rt_procs(tail_call_body, "2");
}
END_TEST

enum { SPAWN_IDLE_CALL = __LINE__ + 3 };
NOINLINE static int64_t spawn_idle(void)
{
    int64_t id = rt_go(never_runs, NULL);
    keep++;
    return id;
}

static void runnable_body(void)
{
    /* One P and no yield: the new goroutine cannot start yet. */
    int64_t id = spawn_idle();
    rt_g *gp = find_g(id);
    ck_assert_uint_eq(atomic_load(&gp->status), RT_GRUNNABLE);

    capture cp;
    cap_open(&cp);
    rt__print_goroutine_header(&cp.b, gp);
    rt__print_traceback(&cp.b, gp, 1);
    cap_close(&cp);
    ck_assert_int_eq(nlines, 5);
    ck_assert(matches(lines[0], "^goroutine [0-9]+ \\[runnable\\]:$"));
    ck_assert_str_eq(lines[1], "never_runs(...)");
    ck_assert(matches(lines[2],
                      "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+$"));
    ck_assert_str_eq(lines[3], "created by spawn_idle");
    file_line_is(4, SPAWN_IDLE_CALL, true);
}

START_TEST(runnable_goroutine)
{
    run_in_rt_procs(runnable_body, "1");
}
END_TEST

static _Atomic int spin_state; /* 1 spinning, 2 asked to stop */

static void spinner(void *arg)
{
    (void)arg;
    atomic_store(&spin_state, 1);
    while (atomic_load(&spin_state) == 1)
        ;
    int one = 1;
    rt_chan_send(done, &one);
}

static void running_body(void)
{
    done = rt_chan_make(sizeof(int), 1);
    int64_t id = rt_go(spinner, NULL);
    for (int i = 0; i < 1010000 && atomic_load(&spin_state) == 0; i++) {
        if (i < 1000000)
            rt_yield();
        else
            rt_sleep(1000000); /* a loaded machine: see wait_status */
    }
    ck_assert_int_eq(atomic_load(&spin_state), 1);
    rt_g *gp = find_g(id);
    ck_assert_uint_eq(atomic_load(&gp->status), RT_GRUNNING);

    capture cp;
    cap_open(&cp);
    rt__print_goroutine_header(&cp.b, gp);
    rt__print_traceback(&cp.b, gp, 1);
    cap_close(&cp);
    atomic_store(&spin_state, 2);

    ck_assert_int_eq(nlines, 4);
    ck_assert(matches(lines[0], "^goroutine [0-9]+ \\[running\\]:$"));
    ck_assert_str_eq(lines[1],
                     "\tgoroutine running on other thread; stack unavailable");
    ck_assert_str_eq(lines[2], "created by running_body");
    line_is(3, "^\t/.*/tests/runtime/test_traceback\\.c:[0-9]+ "
               "\\+0x[0-9a-f]+$");

    int v;
    ck_assert(rt_chan_recv(done, &v));
}

START_TEST(running_goroutine)
{
    run_in_rt_procs(running_body, "2");
}
END_TEST

/* -------------------------------- a dump while the list's lock is held -- */

static _Atomic int lock_held;

static void *hold_allg_lock(void *arg)
{
    (void)arg;
    rt__lock_acquire(&rt__sched.allg_lock);
    atomic_store(&lock_held, 1);
    for (;;)
        pause(); /* holds it until the process dies */
    return NULL;
}

static _Atomic int slept;

static void sleeper(void *arg)
{
    (void)arg;
    rt_sleep(60 * RT_SECOND);
    atomic_store(&slept, 1); /* not a tail call: sleeper keeps its frame */
}

static int locked_dump_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_go(sleeper, NULL);
    rt_sleep(RT_MILLISECOND); /* let it park */
    pthread_t t;
    pthread_create(&t, NULL, hold_allg_lock, NULL);
    while (!atomic_load(&lock_held))
        usleep(100);
    rt__throw("test: dump with the goroutine list locked");
}

START_TEST(dump_with_goroutine_list_locked)
{
    int pe[2];
    ck_assert_int_eq(pipe(pe), 0);
    int64_t t0 = rt_nanotime();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pe[1], 2);
        close(pe[0]);
        char *argv[] = {(char *)"test_traceback", NULL};
        setenv("MAXPROCS", "2", 1);
        _exit(rt_main(locked_dump_main, 1, argv));
    }
    close(pe[1]);
    static char err[1 << 16];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof err - 1 && (r = read(pe[0], err + n, sizeof err - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    close(pe[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    int64_t took = rt_nanotime() - t0;
    if (getenv("TB_DUMP"))
        fputs(err, stderr);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "child status %#x", st);
    ck_assert_msg(strstr(err, "fatal error: test: dump with the goroutine list locked\n") != NULL,
                  "no fatal error line:\n%s", err);
    ck_assert_msg(strstr(err, "goroutine 1 [running]:") != NULL, "no goroutine 1:\n%s", err);
    ck_assert_msg(strstr(err, "[sleep]:\nsleeper(") != NULL, "no parked goroutine:\n%s", err);
    /* the lock given up after ~50 ms, not waited for */
    ck_assert_msg(took < 10 * RT_SECOND, "the dump took %lld ms", (long long)(took / RT_MILLISECOND));
}
END_TEST

static Suite *traceback_suite(void)
{
    Suite *s = suite_create("traceback");
    TCase *tc = tcase_create("walks");
    tcase_add_test(tc, callers_in_order);
    tcase_add_test(tc, callers_respects_max);
    tcase_add_test(tc, print_own_stack);
    tcase_add_test(tc, print_own_stack_level2);
    tcase_add_test(tc, at_most_100_frames);
    tcase_add_test(tc, walks_from_signal_context);
    suite_add_tcase(s, tc);

    tc = tcase_create("goroutines");
    tcase_add_test(tc, headers);
    tcase_add_test(tc, not_started_goroutine);
    tcase_add_test(tc, goroutine_without_context);
    tcase_add_test(tc, goroutine_one_has_no_creator);
    tcase_add_test(tc, all_hidden_prints_all);
    tcase_add_test(tc, parked_goroutine);
    tcase_add_test(tc, tail_called_goroutine);
    tcase_add_test(tc, runnable_goroutine);
    tcase_add_test(tc, running_goroutine);
    tcase_add_test(tc, dump_with_goroutine_list_locked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(traceback_suite());
}
