/*
 * tests/api/test_conformance_env.c -- the environment as an outside
 * program meets it, from rt.h and API.md alone: GOGC, MAXPROCS and DEBUG
 * (and the GOMAXPROCS / GODEBUG aliases) as Go reads them; a malformed
 * value costs exactly one warning line on stderr, keeps the default, and
 * the program otherwise runs as if the variable were unset.
 *
 * Each case runs the child scenario "report" (run_scenario) with the
 * variables set.  The child writes nothing of its own to stderr; it exits
 * with a code that encodes what it saw (see report_main), so stderr must
 * hold exactly the expected warnings and nothing else.
 */
#include <sched.h>
#include <stdint.h>

#include "harness.h"

/* Exit codes of the child: MAXPROCS in the low bits is ambiguous above
 * 255, so each scenario reports one thing. */
static int report_main(int argc, char **argv)
{
    const char *what = getenv("CONFORMANCE_REPORT");
    (void)argc;
    (void)argv;
    if (what == NULL)
        return 99;
    if (strcmp(what, "maxprocs") == 0)
        return rt_maxprocs(0) % 256; /* 256 reports 0 */
    if (strcmp(what, "gogc") == 0) {
        rt_memstats *m = rt_new(rt_memstats);
        rt_read_memstats(m);
        int pct = rt_set_gc_percent(100);
        if (pct < 0)
            return m->enable_gc ? 98 : 201; /* off */
        return pct > 200 ? 200 : pct;
    }
    if (strcmp(what, "gc") == 0) {
        rt_gc(); /* a gctrace line, if gctrace were on */
        return 0;
    }
    return 97;
}

/* The CPUs this process may run on, as MAXPROCS' default counts them. */
static int ncpu(void)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int n = CPU_COUNT(&set);
    return n > 256 ? 256 : n;
}

/* Runs the child with env, checks it exited with code and printed exactly
 * want_err (every warning, one line each, in order) on stderr. */
static void expect_child(const char *const *env, int code, const char *want_err)
{
    char err[8192];
    int st = run_scenario("report", env, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == code,
                  "env %s...: status %#x, want exit %d; stderr:\n%s", env[0],
                  st, code, err);
    ck_assert_msg(strcmp(err, want_err) == 0,
                  "env %s...: stderr\n%s\nwant\n%s", env[0], err, want_err);
}

#define GOGC_WANT "want a percentage or \"off\""
#define PROCS_WANT "want a positive integer"

START_TEST(test_gogc)
{
    static const struct {
        const char *v;
        int code;
        bool warn;
    } cases[] = {
        {"GOGC=50", 50, false},   {"GOGC=0", 0, false},
        {"GOGC=off", 201, false}, {"GOGC=-1", 201, false}, /* Go: off */
        {"GOGC=", 100, false},    {"GOGC=abc", 100, true},
        {"GOGC=50%", 100, true},  {"GOGC= 50", 100, true},
        {"GOGC=Off", 100, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {"CONFORMANCE_REPORT=gogc", cases[i].v, NULL};
        char want[256] = "";
        if (cases[i].warn)
            snprintf(want, sizeof want, "grt: ignoring GOGC=\"%s\": " GOGC_WANT "\n",
                     cases[i].v + 5);
        expect_child(env, cases[i].code, want);
    }
}
END_TEST

START_TEST(test_maxprocs)
{
    int def = ncpu() % 256;
    const char *ok3[] = {"CONFORMANCE_REPORT=maxprocs", "MAXPROCS=3", NULL};
    expect_child(ok3, 3, "");
    const char *big[] = {"CONFORMANCE_REPORT=maxprocs", "MAXPROCS=100000", NULL};
    expect_child(big, 0 /* 256 */, "");
    static const char *bad[] = {"0", "-2", "abc", "4x", " 4", "+4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char var[64], want[256];
        snprintf(var, sizeof var, "MAXPROCS=%s", bad[i]);
        snprintf(want, sizeof want,
                 "grt: ignoring MAXPROCS=\"%s\": " PROCS_WANT "\n", bad[i]);
        const char *env[] = {"CONFORMANCE_REPORT=maxprocs", var, NULL};
        expect_child(env, def, want);
    }
    /* The alias counts only while MAXPROCS is unset (or empty); its own
     * warning names it, and one set beside MAXPROCS to another value is
     * said to be ignored. */
    const char *alias[] = {"CONFORMANCE_REPORT=maxprocs", "GOMAXPROCS=2", NULL};
    expect_child(alias, 2, "");
    const char *both[] = {"CONFORMANCE_REPORT=maxprocs", "GOMAXPROCS=2",
                          "MAXPROCS=3", NULL};
    expect_child(both, 3, "grt: ignoring GOMAXPROCS=\"2\": MAXPROCS=\"3\" is set\n");
    const char *same[] = {"CONFORMANCE_REPORT=maxprocs", "GOMAXPROCS=3",
                          "MAXPROCS=3", NULL};
    expect_child(same, 3, "");
    const char *empty[] = {"CONFORMANCE_REPORT=maxprocs", "GOMAXPROCS=2",
                           "MAXPROCS=", NULL};
    expect_child(empty, 2, "");
    const char *bad_alias[] = {"CONFORMANCE_REPORT=maxprocs", "GOMAXPROCS=x",
                               NULL};
    expect_child(bad_alias, def,
                 "grt: ignoring GOMAXPROCS=\"x\": " PROCS_WANT "\n");
}
END_TEST

START_TEST(test_debug)
{
    /* Unknown keys, items without '=', empty items: silent.  A malformed
     * value of a known key -- or a known key without "=value" -- one line,
     * and the tracer stays off (the cycle the child runs prints no gctrace
     * line). */
    const char *quiet[] = {"CONFORMANCE_REPORT=gc", "DEBUG=foo=bar,,verbose,1", NULL};
    expect_child(quiet, 0, "");
    const char *novalue[] = {"CONFORMANCE_REPORT=gc", "DEBUG=foo=bar,gctrace", NULL};
    expect_child(novalue, 0,
                 "grt: ignoring DEBUG item \"gctrace\": want gctrace=<a non-negative "
                 "integer>\n");
    const char *bad[] = {"CONFORMANCE_REPORT=gc", "DEBUG=gctrace=on", NULL};
    expect_child(bad, 0,
                 "grt: ignoring DEBUG gctrace=\"on\": want a non-negative "
                 "integer\n");
    const char *alias[] = {"CONFORMANCE_REPORT=gc", "GODEBUG=schedtrace=-5",
                           NULL};
    expect_child(alias, 0,
                 "grt: ignoring GODEBUG schedtrace=\"-5\": want a "
                 "non-negative integer\n");
    /* DEBUG set hides GODEBUG entirely, with a word; an empty DEBUG
     * does not hide it. */
    const char *hidden[] = {"CONFORMANCE_REPORT=gc", "DEBUG=gctrace=0",
                            "GODEBUG=gctrace=bad", NULL};
    expect_child(hidden, 0,
                 "grt: ignoring GODEBUG=\"gctrace=bad\": DEBUG=\"gctrace=0\" is set\n");
    const char *shown[] = {"CONFORMANCE_REPORT=gc", "DEBUG=", "GODEBUG=gctrace=bad", NULL};
    expect_child(shown, 0,
                 "grt: ignoring GODEBUG gctrace=\"bad\": want a non-negative integer\n");
}
END_TEST

/* Several malformed settings: one line each, nothing else, defaults kept. */
START_TEST(test_several_malformed)
{
    char want[512];
    snprintf(want, sizeof want,
             "grt: ignoring DEBUG gctrace=\"x\": want a non-negative integer\n"
             "grt: ignoring GOGC=\"lots\": " GOGC_WANT "\n"
             "grt: ignoring MAXPROCS=\"many\": " PROCS_WANT "\n");
    const char *env[] = {"CONFORMANCE_REPORT=maxprocs", "DEBUG=gctrace=x",
                         "GOGC=lots", "MAXPROCS=many", NULL};
    expect_child(env, ncpu() % 256, want);
    const char *env2[] = {"CONFORMANCE_REPORT=gogc", "DEBUG=gctrace=x",
                          "GOGC=lots", "MAXPROCS=many", NULL};
    expect_child(env2, 100, want);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0)
        return rt_main(report_main, argc, argv);

    Suite *s = suite_create("conformance_env");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gogc);
    tcase_add_test(tc, test_maxprocs);
    tcase_add_test(tc, test_debug);
    tcase_add_test(tc, test_several_malformed);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
