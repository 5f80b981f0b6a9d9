/*
 * tests/harness.h -- the small harness shared by the Check tests of every
 * folder (grt_check_test puts tests/ on the include path).
 *
 * RT_TEST(name) { body }   defines a Check test whose body runs as
 *                          goroutine 1 under rt_main, in the process Check
 *                          forks for the test (rt_main runs once per
 *                          process; Check's fork mode gives each test its
 *                          own).  Assertions inside the body, or in any
 *                          goroutine, end that process and Check reports
 *                          the failure.  The body must return for the test
 *                          to pass.
 *
 * harness_main(argc, argv, suite, scenario)
 *                          the program's main: with "--scenario NAME" it
 *                          runs scenario(argc, argv) under rt_main (for
 *                          the fatal-error tests), else the suite.
 *
 * harness_run_child(prepare, arg, body)
 *                          forks a child that calls prepare(arg) (set the
 *                          environment, install a seccomp filter: what
 *                          must last for a whole process) and then runs
 *                          body as goroutine 1 under rt_main; the test
 *                          passes if the child's body returned.
 *
 * expect_fatal(name, msg)  re-executes this binary with "--scenario name"
 *                          and checks that it dies as Go does: exit status
 *                          2 and "fatal error: msg" as the first line on
 *                          stderr after any "runtime: ..." detail lines.
 * expect_fatal_with(name, msg, text)
 *                          the same, and stderr must also contain text
 *                          (say the header "goroutine 1 [select]:", which
 *                          shows the wait reason of a parked goroutine).
 *
 * run_scenario(name, env, err, n)
 *                          re-executes this binary with "--scenario name"
 *                          and the NULL-terminated "NAME=value" list env
 *                          added to an environment without the runtime's
 *                          own variables (DEBUG, GOGC, MAXPROCS and their
 *                          aliases, GOTRACEBACK); returns the wait status
 *                          and leaves the start of stderr, NUL-terminated,
 *                          in err[0..n).  For outcomes other than a fatal
 *                          error: an exit status, a warning line.
 *
 * harness_run_suite(suite) runs a suite and returns main's exit status.
 *
 * WAIT_UNTIL(cond)         yields, then naps, until cond holds; fails the
 *                          test after about 20 s instead of hanging.
 *
 * REQUIRE(cond), REQUIRE_EQ(a, b) (also _NE _LT _LE _GT _GE),
 * REQUIRE_MSG(cond, fmt, ...)
 *                          assertions for the test bodies.  Check's own
 *                          ck_assert* report every *passing* check to the
 *                          parent process (a locked write per call), which
 *                          serialises goroutines in hot loops and made a
 *                          selecting test 100x slower; these only call
 *                          into Check when they fail.
 *
 * Only rt.h, Check and libc.
 */
#ifndef GRT_TESTS_HARNESS_H
#define GRT_TESTS_HARNESS_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

/* A complete binary tree of 16-byte GC objects, depth d (2^(d+1) - 1
 * nodes): garbage or a live structure of a known size for the collector
 * tests. */
typedef struct harness_tnode {
    struct harness_tnode *l, *r;
} harness_tnode;

static inline harness_tnode *harness_tree(int d)
{
    harness_tnode *n = rt_alloc(sizeof *n);
    if (d > 0) {
        n->l = harness_tree(d - 1);
        n->r = harness_tree(d - 1);
    }
    return n;
}

#define REQUIRE_MSG(cond, ...)                                                \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg(__VA_ARGS__);                                        \
    } while (0)
#define REQUIRE(cond)                                                         \
    REQUIRE_MSG(cond, "%s:%d: failed: %s", __FILE__, __LINE__, #cond)
#define REQUIRE_CMP(a, op, b)                                                 \
    do {                                                                      \
        long long req_a_ = (long long)(a), req_b_ = (long long)(b);           \
        if (!(req_a_ op req_b_))                                              \
            ck_abort_msg("%s:%d: failed: %s %s %s (%lld vs %lld)", __FILE__,  \
                         __LINE__, #a, #op, #b, req_a_, req_b_);              \
    } while (0)
#define REQUIRE_EQ(a, b) REQUIRE_CMP(a, ==, b)
#define REQUIRE_NE(a, b) REQUIRE_CMP(a, !=, b)
#define REQUIRE_LT(a, b) REQUIRE_CMP(a, <, b)
#define REQUIRE_LE(a, b) REQUIRE_CMP(a, <=, b)
#define REQUIRE_GT(a, b) REQUIRE_CMP(a, >, b)
#define REQUIRE_GE(a, b) REQUIRE_CMP(a, >=, b)

/* Yields, then naps, until cond; the bound (>= 20 s of naps) turns a lost
 * wake-up into a failure rather than a hang. */
#define WAIT_UNTIL(cond)                                                      \
    do {                                                                      \
        for (long i_ = 0; !(cond); i_++) {                                    \
            ck_assert_msg(i_ < 201000, "timed out waiting for %s", #cond);    \
            if (i_ < 1000)                                                    \
                rt_yield();                                                   \
            else                                                              \
                rt_sleep(100 * RT_MICROSECOND);                               \
        }                                                                     \
    } while (0)

/* The watchdog: a test binary still running 5 s before its timeout
 * (CK_DEFAULT_TIMEOUT, which the CMake files set to the ctest timeout of
 * the whole binary) gets SIGQUIT, so that a hang ends with every
 * goroutine's stack in the log (runtime/fatal.c; "sigcode=-2", SI_TIMER,
 * tells it from a kill) instead of Check's bare "Test timeout expired".
 * The deadline is set once per binary (harness_deadline_init, from
 * harness_run_suite or harness_main) before Check forks a child per test:
 * a child inherits it, so a test late in the binary is not given the whole
 * timeout again.  Scenario children (run_scenario, expect_fatal)
 * get it through HARNESS_DEADLINE_NS and fire 3 s earlier, so that their
 * dump reaches the waiting test's output.
 * A POSIX timer, not a thread: checkdead rightly gives up on deadlock
 * detection while a thread the runtime did not start exists (it could
 * call rt_go), and the deadlock tests need it.  Armed from goroutine 1,
 * once the runtime's SIGQUIT handler is in place. */
static int64_t harness_deadline_ns; /* CLOCK_MONOTONIC; 0: none */

static inline int64_t harness_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void harness_watchdog_start(void)
{
    static pid_t owner; /* once per process: timers are not inherited */
    if (harness_deadline_ns == 0 || owner == getpid())
        return;
    owner = getpid();
    struct sigevent sev;
    timer_t t;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGQUIT;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0)
        return;
    int64_t at = harness_deadline_ns > 0 ? harness_deadline_ns : 1;
    struct itimerspec its = {.it_value = {at / 1000000000, at % 1000000000}};
    (void)timer_settime(t, TIMER_ABSTIME, &its, NULL);
}

static void (*harness_body)(void) __attribute__((unused));

static inline int harness_body_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    harness_watchdog_start();
    harness_body();
    return 42;
}

/* Runs fn as goroutine 1 and checks that it returned normally. */
static inline void run_in_rt(void (*fn)(void))
{
    char *argv[] = {(char *)"test", NULL};
    harness_body = fn;
    ck_assert_int_eq(rt_main(harness_body_main, 1, argv), 42);
}

#define RT_TEST(name)                                                         \
    static void name##_body(void);                                            \
    START_TEST(name) { run_in_rt(name##_body); }                              \
    END_TEST                                                                  \
    static void name##_body(void)

static inline void harness_drain(int fd, char *buf, size_t n);

static inline void harness_run_child(void (*prepare)(void *), void *arg, void (*body)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (prepare != NULL)
            prepare(arg);
        char *argv[] = {(char *)"test", NULL};
        harness_body = body;
        _exit(rt_main(harness_body_main, 1, argv) == 42 ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status %#x)", st);
}

/* Runs this test binary's scenario `scenario` in a child with environment
 * envp, its stderr read into buf (the first n - 1 bytes, NUL-terminated;
 * the rest drained so the child never blocks); returns the wait status. */
static inline int harness_spawn(const char *scenario, char *const *envp, char *buf,
                                size_t n)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        char *argv[] = {(char *)"harness-scenario", (char *)"--scenario",
                        (char *)scenario, NULL};
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    harness_drain(pfd[0], buf, n);
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* The scenario must die with "fatal error: msg" (exit 2), in the inherited
 * environment (a test's MAXPROCS stays), and print text if given. */
static inline void expect_fatal_with(const char *scenario, const char *msg,
                                     const char *text)
{
    extern char **environ;
    static char out[1 << 16];
    int st = harness_spawn(scenario, environ, out, sizeof out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
                  "scenario %s: wait status %#x; stderr:\n%.2000s", scenario,
                  st, out);
    char want[256];
    snprintf(want, sizeof want, "fatal error: %s\n", msg);
    /* Go may print "runtime: ..." detail lines first (out of memory, stack
     * overflow); the fatal line follows them. */
    const char *start = out;
    while (strncmp(start, "runtime: ", 9) == 0 && strchr(start, '\n') != NULL)
        start = strchr(start, '\n') + 1;
    ck_assert_msg(strncmp(start, want, strlen(want)) == 0,
                  "scenario %s: stderr starts with:\n%.300s", scenario, out);
    if (text != NULL)
        ck_assert_msg(strstr(out, text) != NULL,
                      "scenario %s: no \"%s\" in stderr:\n%.2000s", scenario,
                      text, out);
}

static inline void expect_fatal(const char *scenario, const char *msg)
{
    expect_fatal_with(scenario, msg, NULL);
}

/* Reads fd to its end, keeping the first n - 1 bytes (NUL-terminated), so
 * that the writer never blocks on a full pipe. */
static inline void harness_drain(int fd, char *buf, size_t n)
{
    size_t got = 0;
    char sink[4096];
    for (;;) {
        char *dst = got + 1 < n ? buf + got : sink;
        size_t room = got + 1 < n ? n - 1 - got : sizeof sink;
        ssize_t r = read(fd, dst, room);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
        if (r > 0 && dst != sink)
            got += (size_t)r;
    }
    buf[got] = '\0';
}

/* Fills envp (room for cap entries, the NULL included) with the inherited
 * environment less the runtime's own settings, then the NULL-terminated
 * "NAME=value" list extra (may be NULL): what a child test process runs
 * with, so that a DEBUG or MAXPROCS of the caller's shell changes nothing. */
static inline void harness_child_env(char **envp, size_t cap, const char *const *extra)
{
    extern char **environ;
    static const char *drop[] = {"DEBUG=",    "GODEBUG=",     "GOGC=",
                                 "MAXPROCS=", "GOMAXPROCS=", "GOTRACEBACK="};
    size_t ne = 0;
    for (char **e = environ; *e != NULL && ne + 1 < cap; e++) {
        bool keep = true;
        for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
            if (strncmp(*e, drop[i], strlen(drop[i])) == 0)
                keep = false;
        if (keep)
            envp[ne++] = *e;
    }
    for (; extra != NULL && *extra != NULL && ne + 1 < cap; extra++)
        envp[ne++] = (char *)*extra;
    envp[ne] = NULL;
}

static inline int run_scenario(const char *scenario, const char *const *env,
                               char *err, size_t n)
{
    char *envp[1024];
    harness_child_env(envp, sizeof envp / sizeof envp[0], env);
    return harness_spawn(scenario, envp, err, n);
}

/* The watchdog's deadline (once per process; every binary's suite and
 * scenario entry calls it). */
static inline void harness_deadline_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *inherited = getenv("HARNESS_DEADLINE_NS");
    const char *ck_timeout = getenv("CK_DEFAULT_TIMEOUT");
    if (inherited != NULL) {
        harness_deadline_ns = atoll(inherited);
    } else if (ck_timeout != NULL && atol(ck_timeout) > 10) {
        harness_deadline_ns = harness_now_ns() + (atol(ck_timeout) - 5) * 1000000000LL;
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)harness_deadline_ns);
        setenv("HARNESS_DEADLINE_NS", v, 1); /* scenario children inherit it */
    }
}

static inline int harness_run_suite(Suite *s)
{
    harness_deadline_init();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

static int (*harness_scenario)(int, char **);

static inline int harness_scenario_main(int argc, char **argv)
{
    harness_watchdog_start();
    return harness_scenario(argc, argv);
}

static inline int harness_main(int argc, char **argv, Suite *s,
                               int (*scenario)(int, char **))
{
    harness_deadline_init();
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) {
        /* A scenario that hangs dumps its goroutines into the pipe its
         * test reads, early enough for the test to print them. */
        if (harness_deadline_ns != 0)
            harness_deadline_ns -= 3 * 1000000000LL;
        harness_scenario = scenario;
        if (scenario != NULL)
            rt_main(harness_scenario_main, argc, argv);
        fprintf(stderr, "scenario %s did not die\n", argv[2]);
        return 0;
    }
    return harness_run_suite(s);
}

#endif /* GRT_TESTS_HARNESS_H */
