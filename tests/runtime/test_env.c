/*
 * tests/runtime/test_env.c -- the settings table (runtime/env.c).
 *
 * Every row: its default, good values, malformed values (exactly one
 * warning line on fd 2, default kept), the GO* aliases and the MAXPROCS
 * cap.  fd 2 is captured with a pipe around each call.  Check runs each
 * test in its own process, so setenv() here never leaks between tests.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* ------------------------------------------------------ capturing fd 2 -- */

static int cap_rd = -1, cap_saved = -1;
static char cap_out[65536];

static void capture_begin(void)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    cap_saved = dup(2);
    ck_assert_int_ge(cap_saved, 0);
    ck_assert_int_eq(dup2(p[1], 2), 2);
    ck_assert_int_eq(close(p[1]), 0);
    cap_rd = p[0];
}

/* Restores fd 2 and returns what was written to it (NUL-terminated). */
static const char *capture_end(void)
{
    size_t n = 0;
    ssize_t r;

    ck_assert_int_eq(dup2(cap_saved, 2), 2);
    ck_assert_int_eq(close(cap_saved), 0);
    while ((r = read(cap_rd, cap_out + n, sizeof cap_out - 1 - n)) > 0)
        n += (size_t)r;
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(close(cap_rd), 0);
    cap_out[n] = '\0';
    return cap_out;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void clear_env(void)
{
    static const char *vars[] = {"DEBUG", "GODEBUG", "GOGC", "MAXPROCS",
                                 "GOMAXPROCS", "GOTRACEBACK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        ck_assert_int_eq(unsetenv(vars[i]), 0);
}

/* Runs rt__settings_init with the environment as set, returns its output. */
static const char *init_capture(bool *help)
{
    capture_begin();
    bool h = rt__settings_init();
    const char *out = capture_end();
    if (help != NULL)
        *help = h;
    return out;
}

static const char *parse_capture(rt__settings *s, const char *val)
{
    capture_begin();
    rt__settings_parse_debug(s, val);
    return capture_end();
}

/* -------------------------------------------------------------- DEBUG -- */

typedef struct key {
    const char *name;
    size_t off;
} key;

static const key debug_keys[] = {
    {"gctrace", offsetof(rt__settings, gctrace)},
    {"schedtrace", offsetof(rt__settings, schedtrace)},
    {"scheddetail", offsetof(rt__settings, scheddetail)},
    {"allocfreetrace", offsetof(rt__settings, allocfreetrace)},
    {"gcstoptheworld", offsetof(rt__settings, gcstoptheworld)},
};
#define NKEYS (sizeof debug_keys / sizeof debug_keys[0])

static int *field(rt__settings *s, const key *k)
{
    return (int *)((char *)s + k->off);
}

START_TEST(static_defaults)
{
    /* Before rt__settings_init runs, the global holds the defaults. */
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(rt__debug.schedtrace, 0);
    ck_assert_int_eq(rt__debug.scheddetail, 0);
    ck_assert_int_eq(rt__debug.allocfreetrace, 0);
    ck_assert_int_eq(rt__debug.gcstoptheworld, 0);
    ck_assert_int_eq(rt__debug.gogc, 100);
    ck_assert_int_ge(rt__debug.maxprocs, 1);
    ck_assert_int_eq(rt__debug.traceback, 1);
    ck_assert(!rt__debug.traceback_crash);
}
END_TEST

START_TEST(init_defaults)
{
    bool help = true;

    clear_env();
    const char *out = init_capture(&help);
    ck_assert_str_eq(out, "");
    ck_assert(!help);
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(rt__debug.schedtrace, 0);
    ck_assert_int_eq(rt__debug.scheddetail, 0);
    ck_assert_int_eq(rt__debug.allocfreetrace, 0);
    ck_assert_int_eq(rt__debug.gcstoptheworld, 0);
    ck_assert_int_eq(rt__debug.gogc, 100);
    ck_assert_int_eq(rt__debug.maxprocs, rt__ncpu());
    ck_assert_int_eq(rt__debug.traceback, 1);
    ck_assert(!rt__debug.traceback_crash);
}
END_TEST

START_TEST(debug_good_values)
{
    const key *k = &debug_keys[_i];
    static const struct {
        const char *v;
        int want;
    } cases[] = {{"0", 0}, {"1", 1}, {"2", 2}, {"1000", 1000},
                 {"007", 7}, {"2147483647", INT_MAX},
                 {"0002147483647", INT_MAX}};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt__settings s;
        char buf[128];
        memset(&s, 0, sizeof s);
        *field(&s, k) = -7;
        snprintf(buf, sizeof buf, "%s=%s", k->name, cases[i].v);
        ck_assert_str_eq(parse_capture(&s, buf), "");
        ck_assert_int_eq(*field(&s, k), cases[i].want);
        /* No other field moved. */
        for (size_t j = 0; j < NKEYS; j++)
            if (j != (size_t)_i)
                ck_assert_int_eq(*field(&s, &debug_keys[j]), 0);
    }
}
END_TEST

START_TEST(debug_malformed_values)
{
    const key *k = &debug_keys[_i];
    static const char *bad[] = {"x", "-5", "", "1x", " 1", "+1", "0x10",
                                "1.5", "1 ", "2147483648", "99999999999999999999"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt__settings s;
        char in[128], want[256];
        memset(&s, 0, sizeof s);
        *field(&s, k) = 42;
        snprintf(in, sizeof in, "%s=%s", k->name, bad[i]);
        snprintf(want, sizeof want,
                 "grt: ignoring DEBUG %s=\"%s\": want a non-negative "
                 "integer\n",
                 k->name, bad[i]);
        ck_assert_str_eq(parse_capture(&s, in), want);
        /* the default, over an earlier value: Go's last item wins */
        ck_assert_int_eq(*field(&s, k), 0);
    }
    /* gctrace=1,gctrace=x: the default again, with the warning */
    rt__settings s;
    char in[128];
    memset(&s, 0, sizeof s);
    snprintf(in, sizeof in, "%s=3,%s=x", k->name, k->name);
    ck_assert_ptr_nonnull(strstr(parse_capture(&s, in), "grt: ignoring DEBUG"));
    ck_assert_int_eq(*field(&s, k), 0);
}
END_TEST

START_TEST(debug_unknown_keys_silent)
{
    static const char *inputs[] = {
        "1", "foo=bar", "gctracex=1", "xgctrace=1", ",,,",
        "=1", "efence=1,invalidptr=0", "help=1", "verbose",
        "gogc=5", "maxprocs=3", "GOGC=5", "gc trace=1", "trace",
    };

    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        rt__settings s;
        memset(&s, 0, sizeof s);
        s.gogc = 100;
        s.maxprocs = 3;
        s.traceback = 1;
        ck_assert_msg(strcmp(parse_capture(&s, inputs[i]), "") == 0,
                      "DEBUG=%s printed something", inputs[i]);
        for (size_t j = 0; j < NKEYS; j++)
            ck_assert_int_eq(*field(&s, &debug_keys[j]), 0);
        ck_assert_int_eq(s.gogc, 100);
        ck_assert_int_eq(s.maxprocs, 3);
        ck_assert_int_eq(s.traceback, 1);
    }
}
END_TEST

/* An item that names one of our keys but is not key=value exactly --
 * no value, blanks around the key, capitals -- is a malformed setting,
 * not some other tool's: one warning each, nothing set. */
START_TEST(debug_near_keys_warn)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"gctrace", "grt: ignoring DEBUG item \"gctrace\": want gctrace=<a non-negative integer>\n"},
        {" gctrace=1", "grt: ignoring DEBUG item \" gctrace=1\": want gctrace=<a non-negative integer>\n"},
        {"gctrace =1", "grt: ignoring DEBUG item \"gctrace =1\": want gctrace=<a non-negative integer>\n"},
        {"GCTRACE=1", "grt: ignoring DEBUG item \"GCTRACE=1\": want gctrace=<a non-negative integer>\n"},
        {"SchedTrace=1000,gctrace=1",
         "grt: ignoring DEBUG item \"SchedTrace=1000\": want schedtrace=<a non-negative integer>\n"},
        {"allocfreetrace", "grt: ignoring DEBUG item \"allocfreetrace\": want allocfreetrace=<a non-negative integer>\n"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt__settings s;
        memset(&s, 0, sizeof s);
        const char *out = parse_capture(&s, cases[i].in);
        ck_assert_msg(strcmp(out, cases[i].want) == 0, "DEBUG=%s printed [%s]", cases[i].in, out);
        ck_assert_int_eq(s.schedtrace, 0);
        ck_assert_int_eq(s.allocfreetrace, 0);
    }
    /* the well-formed item beside it still counts */
    rt__settings s;
    memset(&s, 0, sizeof s);
    (void)parse_capture(&s, "SchedTrace=1000,gctrace=1");
    ck_assert_int_eq(s.gctrace, 1);
}
END_TEST

START_TEST(debug_lists)
{
    rt__settings s;

    memset(&s, 0, sizeof s);
    ck_assert_str_eq(parse_capture(&s, "gctrace=1,schedtrace=1000,"
                                       "scheddetail=1,allocfreetrace=1,"
                                       "gcstoptheworld=2"),
                     "");
    ck_assert_int_eq(s.gctrace, 1);
    ck_assert_int_eq(s.schedtrace, 1000);
    ck_assert_int_eq(s.scheddetail, 1);
    ck_assert_int_eq(s.allocfreetrace, 1);
    ck_assert_int_eq(s.gcstoptheworld, 2);

    /* The last of repeated keys wins; unknown and empty items in between
     * are skipped; one warning per malformed item. */
    memset(&s, 0, sizeof s);
    const char *out =
        parse_capture(&s, "foo,gctrace=1,,bar=2,gctrace=3,schedtrace=x,"
                          "scheddetail=-1,allocfreetrace=4,");
    ck_assert_str_eq(out,
                     "grt: ignoring DEBUG schedtrace=\"x\": want a "
                     "non-negative integer\n"
                     "grt: ignoring DEBUG scheddetail=\"-1\": want a "
                     "non-negative integer\n");
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_int_eq(s.gctrace, 3);
    ck_assert_int_eq(s.schedtrace, 0);
    ck_assert_int_eq(s.scheddetail, 0);
    ck_assert_int_eq(s.allocfreetrace, 4);
}
END_TEST

START_TEST(debug_from_env_and_alias)
{
    clear_env();

    /* GODEBUG is read when DEBUG is unset. */
    ck_assert_int_eq(setenv("GODEBUG", "gctrace=1,schedtrace=7", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.gctrace, 1);
    ck_assert_int_eq(rt__debug.schedtrace, 7);

    /* DEBUG wins, GODEBUG is not merged in -- and that is said once. */
    ck_assert_int_eq(setenv("DEBUG", "scheddetail=1", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "grt: ignoring GODEBUG=\"gctrace=1,schedtrace=7\": "
                                         "DEBUG=\"scheddetail=1\" is set\n");
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(rt__debug.schedtrace, 0);
    ck_assert_int_eq(rt__debug.scheddetail, 1);
    ck_assert_int_eq(setenv("GODEBUG", "scheddetail=1", 1), 0); /* the same: silent */
    ck_assert_str_eq(init_capture(NULL), "");

    /* An empty DEBUG counts as unset (API.md: the alias is read when the
     * primary is unset; Go reads an empty GODEBUG as none). */
    ck_assert_int_eq(setenv("GODEBUG", "gctrace=1", 1), 0);
    ck_assert_int_eq(setenv("DEBUG", "", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.gctrace, 1);
    ck_assert_int_eq(rt__debug.scheddetail, 0);
    ck_assert_int_eq(unsetenv("GODEBUG"), 0);

    /* DEBUG=1 for some other tool: silent. */
    ck_assert_int_eq(setenv("DEBUG", "1", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");

    /* A warning names the variable actually read. */
    ck_assert_int_eq(setenv("DEBUG", "gctrace=x", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring DEBUG gctrace=\"x\": want a "
                     "non-negative integer\n");
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(unsetenv("DEBUG"), 0);
    ck_assert_int_eq(setenv("GODEBUG", "gctrace=x", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring GODEBUG gctrace=\"x\": want a "
                     "non-negative integer\n");
    ck_assert_int_eq(rt__debug.gctrace, 0);
}
END_TEST

/* --------------------------------------------------------------- GOGC -- */

START_TEST(gogc)
{
    static const struct {
        const char *v;
        int want;
        bool warn;
    } cases[] = {
        {"", 100, false},    {"off", -1, false},  {"0", 0, false},
        {"50", 50, false},   {"100", 100, false}, {"2500", 2500, false},
        {"-1", -1, false},   {"-250", -1, false}, {"-", 100, true},
        {"--1", 100, true},  {"-x", 100, true},   {"abc", 100, true},
        {"OFF", 100, true},  {"50%", 100, true},  {"off ", 100, true},
        {"1e3", 100, true},  {"-0", 0, false},    {"2147483647", 2147483647, false},
        {"2147483648", 100, true}, {"99999999999999999999", 100, true},
        {"-99999999999999999999", 100, true},
    };

    clear_env();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(setenv("GOGC", cases[i].v, 1), 0);
        const char *out = init_capture(NULL);
        if (cases[i].warn) {
            char want[256];
            snprintf(want, sizeof want,
                     "grt: ignoring GOGC=\"%s\": want a percentage or "
                     "\"off\"\n",
                     cases[i].v);
            ck_assert_str_eq(out, want);
        } else {
            ck_assert_str_eq(out, "");
        }
        ck_assert_int_eq(rt__debug.gogc, cases[i].want);
    }
    ck_assert_int_eq(unsetenv("GOGC"), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.gogc, 100);
}
END_TEST

/* ----------------------------------------------------------- MAXPROCS -- */

START_TEST(maxprocs)
{
    int ncpu = rt__ncpu();
    static const struct {
        const char *v;
        int want; /* 0: the number of CPUs */
        bool warn;
    } cases[] = {
        {"", 0, false},      {"1", 1, false},       {"4", 4, false},
        {"256", 256, false}, {"257", 256, false},   {"100000", 256, false},
        {"2147483647", 256, false}, {"0002", 2, false},
        /* past INT_MAX: malformed (Go's atoi32), the default kept */
        {"99999999999999999999", 0, true}, {"2147483648", 0, true},
        {"0", 0, true},      {"-2", 0, true},       {"x", 0, true},
        {"4x", 0, true},     {" 4", 0, true},
    };

    clear_env();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(setenv("MAXPROCS", cases[i].v, 1), 0);
        const char *out = init_capture(NULL);
        if (cases[i].warn) {
            char want[256];
            snprintf(want, sizeof want,
                     "grt: ignoring MAXPROCS=\"%s\": want a positive "
                     "integer\n",
                     cases[i].v);
            ck_assert_str_eq(out, want);
        } else {
            ck_assert_str_eq(out, "");
        }
        ck_assert_int_eq(rt__debug.maxprocs,
                         cases[i].want != 0 ? cases[i].want : ncpu);
    }
}
END_TEST

START_TEST(maxprocs_alias)
{
    clear_env();
    ck_assert_int_eq(setenv("GOMAXPROCS", "3", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, 3);

    ck_assert_int_eq(setenv("GOMAXPROCS", "300", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, 256);

    ck_assert_int_eq(setenv("GOMAXPROCS", "zero", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring GOMAXPROCS=\"zero\": want a positive "
                     "integer\n");
    ck_assert_int_eq(rt__debug.maxprocs, rt__ncpu());

    /* MAXPROCS set: GOMAXPROCS is not used, even when malformed; set to
     * something else, it is said to be ignored, once. */
    ck_assert_int_eq(setenv("MAXPROCS", "2", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring GOMAXPROCS=\"zero\": MAXPROCS=\"2\" is set\n");
    ck_assert_int_eq(rt__debug.maxprocs, 2);
    ck_assert_int_eq(setenv("GOMAXPROCS", "5", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring GOMAXPROCS=\"5\": MAXPROCS=\"2\" is set\n");
    ck_assert_int_eq(rt__debug.maxprocs, 2);
    ck_assert_int_eq(setenv("GOMAXPROCS", "2", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, 2);

    /* A malformed MAXPROCS: its warning, the default, and the alias's
     * line (the user sees both values). */
    ck_assert_int_eq(setenv("MAXPROCS", "abc", 1), 0);
    ck_assert_int_eq(setenv("GOMAXPROCS", "3", 1), 0);
    ck_assert_str_eq(init_capture(NULL),
                     "grt: ignoring GOMAXPROCS=\"3\": MAXPROCS=\"abc\" is set\n"
                     "grt: ignoring MAXPROCS=\"abc\": want a positive integer\n");
    ck_assert_int_eq(rt__debug.maxprocs, rt__ncpu());

    /* Set but empty counts as unset: the alias is read. */
    ck_assert_int_eq(setenv("MAXPROCS", "", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, 3);
    ck_assert_int_eq(unsetenv("GOMAXPROCS"), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, rt__ncpu());
}
END_TEST

START_TEST(ncpu)
{
    cpu_set_t set;
    int n = rt__ncpu();

    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 256);
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int want = CPU_COUNT(&set);
    ck_assert_int_eq(n, want > 256 ? 256 : want);

    /* It follows the affinity mask: pinned to one CPU, it says 1. */
    cpu_set_t one;
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &set))
            first = c;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    ck_assert_int_eq(rt__ncpu(), 1);
    clear_env();
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.maxprocs, 1);
}
END_TEST

/* -------------------------------------------------------- GOTRACEBACK -- */

START_TEST(gotraceback)
{
    static const struct {
        const char *v;
        int want;
        bool crash, warn;
    } cases[] = {
        {"", 1, false, false},       {"none", 0, false, false},
        {"single", 1, false, false}, {"all", 1, false, false},
        {"system", 2, false, false}, {"crash", 2, true, false},
        {"0", 0, false, false},      {"2", 2, false, false},
        {"5", 5, false, false},      {"bogus", 1, false, true},
        {"-1", 1, false, true},      {"ALL", 1, false, true},
        {"crash2", 1, false, true},
    };

    clear_env();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(setenv("GOTRACEBACK", cases[i].v, 1), 0);
        const char *out = init_capture(NULL);
        if (cases[i].warn) {
            char want[256];
            snprintf(want, sizeof want,
                     "grt: ignoring GOTRACEBACK=\"%s\": want none, single, "
                     "all, system, crash or a non-negative integer\n",
                     cases[i].v);
            ck_assert_str_eq(out, want);
        } else {
            ck_assert_str_eq(out, "");
        }
        ck_assert_int_eq(rt__debug.traceback, cases[i].want);
        ck_assert_int_eq(rt__debug.traceback_crash, cases[i].crash);
    }
}
END_TEST

/* ------------------------------------------------------ several at once -- */

/* A value with a newline or other control characters: the warning stays
 * one line, the value escaped as Go's %q would. */
START_TEST(warning_escapes_control_characters)
{
    clear_env();
    ck_assert_int_eq(setenv("GOGC", "1\n2", 1), 0);
    ck_assert_int_eq(setenv("DEBUG", "gctrace=x\ty\"\\\x01", 1), 0);
    const char *out = init_capture(NULL);
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring GOGC=\"1\\n2\": want "));
    ck_assert_ptr_nonnull(
        strstr(out, "grt: ignoring DEBUG gctrace=\"x\\ty\\\"\\\\\\x01\": want "));
}
END_TEST

START_TEST(all_malformed_one_line_each)
{
    clear_env();
    ck_assert_int_eq(setenv("DEBUG", "gctrace=,schedtrace=-5", 1), 0);
    ck_assert_int_eq(setenv("GOGC", "lots", 1), 0);
    ck_assert_int_eq(setenv("MAXPROCS", "0", 1), 0);
    ck_assert_int_eq(setenv("GOTRACEBACK", "loud", 1), 0);
    const char *out = init_capture(NULL);
    ck_assert_int_eq(count_lines(out), 5);
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring DEBUG gctrace=\"\": "));
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring DEBUG schedtrace=\"-5\": "));
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring GOGC=\"lots\": "));
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring MAXPROCS=\"0\": "));
    ck_assert_ptr_nonnull(strstr(out, "grt: ignoring GOTRACEBACK=\"loud\": "));
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(rt__debug.schedtrace, 0);
    ck_assert_int_eq(rt__debug.gogc, 100);
    ck_assert_int_eq(rt__debug.maxprocs, rt__ncpu());
    ck_assert_int_eq(rt__debug.traceback, 1);

    /* Re-reading starts from the defaults again. */
    ck_assert_int_eq(setenv("DEBUG", "gctrace=2", 1), 0);
    ck_assert_int_eq(setenv("GOGC", "off", 1), 0);
    ck_assert_int_eq(setenv("MAXPROCS", "7", 1), 0);
    ck_assert_int_eq(setenv("GOTRACEBACK", "crash", 1), 0);
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.gctrace, 2);
    ck_assert_int_eq(rt__debug.gogc, -1);
    ck_assert_int_eq(rt__debug.maxprocs, 7);
    ck_assert(rt__debug.traceback_crash);
    clear_env();
    ck_assert_str_eq(init_capture(NULL), "");
    ck_assert_int_eq(rt__debug.gctrace, 0);
    ck_assert_int_eq(rt__debug.gogc, 100);
    ck_assert_int_eq(rt__debug.traceback, 1);
    ck_assert(!rt__debug.traceback_crash);
}
END_TEST

/* --------------------------------------------------------------- help -- */

/* The line of out that starts with prefix, copied into line. */
static bool find_line(const char *out, const char *prefix, char *line,
                      size_t n)
{
    for (const char *p = out; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            snprintf(line, n, "%.*s", (int)len, p);
            return true;
        }
        p += len + (nl != NULL);
    }
    return false;
}

START_TEST(debug_help)
{
    bool help = false;
    char line[512], want[64];

    clear_env();
    ck_assert_int_eq(setenv("MAXPROCS", "3", 1), 0);
    ck_assert_int_eq(setenv("DEBUG", "gctrace=1,help", 1), 0);
    const char *out = init_capture(&help);
    ck_assert(help);
    /* The table shows defaults, not the values set. */
    static const struct {
        const char *name;
        int def;
    } rows[] = {
        {"DEBUG gctrace", 0},        {"DEBUG schedtrace", 0},
        {"DEBUG scheddetail", 0},    {"DEBUG allocfreetrace", 0},
        {"DEBUG gcstoptheworld", 0}, {"DEBUG gcevery", 0},
        {"DEBUG gcwritetrack", 0},   {"DEBUG gcfinalmark", 8192},
        {"DEBUG memprofilerate", 512 * 1024},
        {"GOGC", 100},
        {"MAXPROCS (GOMAXPROCS)", -1}, {"GOTRACEBACK", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ck_assert_msg(find_line(out, rows[i].name, line, sizeof line),
                      "no row %s in:\n%s", rows[i].name, out);
        snprintf(want, sizeof want, " %d ",
                 rows[i].def >= 0 ? rows[i].def : rt__ncpu());
        ck_assert_msg(strstr(line + strlen(rows[i].name), want) != NULL,
                      "row '%s' lacks default%s", line, want);
        /* a meaning follows the default */
        ck_assert_int_gt(strlen(line), strlen(rows[i].name) + 12);
    }
    ck_assert(find_line(out, "NAME", line, sizeof line));
    ck_assert_int_eq(count_lines(out), 2 + 12);

    /* help alone, via GODEBUG, also works; without it nothing prints. */
    ck_assert_int_eq(unsetenv("DEBUG"), 0);
    ck_assert_int_eq(setenv("GODEBUG", "help", 1), 0);
    out = init_capture(&help);
    ck_assert(help);
    ck_assert_int_eq(count_lines(out), 2 + 12);
    ck_assert_int_eq(setenv("GODEBUG", "helpme,x=help", 1), 0);
    out = init_capture(&help);
    ck_assert(!help);
    ck_assert_str_eq(out, "");
}
END_TEST

static Suite *env_suite(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("settings");

    tcase_add_test(tc, static_defaults);
    tcase_add_test(tc, init_defaults);
    tcase_add_loop_test(tc, debug_good_values, 0, (int)NKEYS);
    tcase_add_loop_test(tc, debug_malformed_values, 0, (int)NKEYS);
    tcase_add_test(tc, debug_unknown_keys_silent);
    tcase_add_test(tc, debug_near_keys_warn);
    tcase_add_test(tc, debug_lists);
    tcase_add_test(tc, debug_from_env_and_alias);
    tcase_add_test(tc, gogc);
    tcase_add_test(tc, maxprocs);
    tcase_add_test(tc, maxprocs_alias);
    tcase_add_test(tc, ncpu);
    tcase_add_test(tc, gotraceback);
    tcase_add_test(tc, all_malformed_one_line_each);
    tcase_add_test(tc, warning_escapes_control_characters);
    tcase_add_test(tc, debug_help);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(env_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
