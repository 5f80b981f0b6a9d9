/*
 * runtime/env.c -- the settings table, read once from the environment.
 *
 * What
 *   Every knob a user can turn from outside the program lives in one static
 *   table, `settings` below: its name, the field of rt__settings it fills,
 *   its default, the parser that checks a value, what a valid value looks
 *   like (for the warning) and one line of help.  The environment is read
 *   once and fills the global rt__debug: by rt_main (rt__settings_main), or
 *   earlier, at the first allocation main() makes before rt_main
 *   (rt__settings_early: allocfreetrace must see it, as Go reads GODEBUG
 *   before any of the program's code; rt_main then only prints the help
 *   table if asked); after
 *   that the settings are read-only and read without synchronisation,
 *   except the tracer knobs the debug server may change (runtime.h).
 *
 *     DEBUG        comma-separated key=value list (alias GODEBUG when DEBUG
 *                  is unset or empty): gctrace, schedtrace, scheddetail,
 *                  allocfreetrace, gcstoptheworld, gcevery, gcwritetrack,
 *                  gcfinalmark, memprofilerate -- non-negative integers
 *     GOGC         percentage, or "off" (-1; any negative number too; "-0"
 *                  is 0, and a number past INT_MAX is malformed, as Go)
 *     MAXPROCS     positive integer, capped at 256 (alias GOMAXPROCS; an
 *                  alias set beside its primary to another value is
 *                  ignored with a warning)
 *     GOTRACEBACK  none|single|all|system|crash or a non-negative integer
 *                  (all is level 1, every goroutine's user frames, as Go)
 *
 *   A malformed DEBUG item sets its key back to the default (Go's last
 *   item wins, "gctrace=1,gctrace=x" is off there too) with the warning. *
 *   DEBUG=help prints the table to fd 2 and makes rt_main exit 0.
 *
 * Why this design
 *   Go keeps its GODEBUG knobs in one table (dbgvars in runtime1.go) and
 *   mimalloc its options in one enum plus one table (src/options.c).  A
 *   table gives the help text, the defaults, the parsing and the warnings
 *   from one place, so a new knob is one row and cannot be documented in one
 *   spot and forgotten in another.  Rows name their field by offset, not by
 *   address, so that the same table parses into rt__debug at start-up and
 *   into a scratch rt__settings in the tests.
 *
 *   Malformed values are reported, once, on one line, and the default is
 *   kept.  Go 1.3 silently read `gctrace=x` as 0; a typo that silently turns
 *   a tracer off (or MAXPROCS=0 into 1 thread) costs an afternoon, and one
 *   line costs nothing.  Unknown DEBUG keys stay silent: DEBUG is a common
 *   name, and DEBUG=1 set for some other tool must not make every grt
 *   program complain.
 *
 * Rejected alternatives
 *   - getenv() at each point of use: the environment may change while the
 *     program runs (setenv is not thread-safe against getenv), and every
 *     reader would need its own parsing and its own warning.
 *   - One parser per variable without a table: the help text and the
 *     defaults drift apart from the code.
 *   - strtol(): it accepts leading blanks, a sign and "0x" prefixes with
 *     base 0; a setting is plain decimal digits, so a tiny loop is both
 *     stricter and clearer.  A number past INT_MAX is malformed for every
 *     variable, as Go's atoi32 finds it (a MAXPROCS up to INT_MAX is
 *     capped at 256).  DEBUG numbers once saturated at INT_MAX silently
 *     while GOGC and MAXPROCS warned (an outside tester's find); Go 1.19
 *     drops such a GODEBUG item silently, grt now says so.
 *
 * Invariants
 *   - rt__debug holds the defaults until rt__settings_init() runs (so code
 *     that runs before it, and the tests, see sane values).
 *   - Every warning is one line written with one write(2) (rt__printf).
 *   - Nothing here allocates; only start-up code calls it.
 */
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runtime/runtime.h"

#define MAXPROCS_CAP 256

rt__settings rt__debug = {
    .gctrace = 0,
    .schedtrace = 0,
    .scheddetail = 0,
    .allocfreetrace = 0,
    .gcstoptheworld = 0,
    .memprofilerate = 512 * 1024,
    .gogc = 100,
    .maxprocs = 1, /* replaced by rt__ncpu() in rt__settings_init */
    .traceback = 1,
    .traceback_crash = false,
    .traceback_single = false,
};

/* ------------------------------------------------------------ parsers -- */

/* Plain decimal digits, at least one, in v[0..n), at most INT_MAX (a
 * larger number is malformed, as Go's atoi32 finds it; leading zeros are
 * fine). */
static bool parse_uint(const char *v, size_t n, int *out)
{
    long long x = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
        if (x > INT_MAX)
            return false;
    }
    *out = (int)x;
    return true;
}

/* v[0..n) for a warning: control characters, quotes and backslashes
 * escaped as Go's %q does (a newline in a value must not break the
 * warning's one line), cut at about 200 bytes.  Returns out. */
static const char *quoted(const char *v, size_t n, char out[256])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (k > 200) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        if (c == '\n' || c == '\t' || c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[k++] = '\\';
            out[k++] = 'x';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        } else {
            out[k++] = (char)c;
        }
    }
    out[k] = '\0';
    return out;
}

static bool equals(const char *v, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(v, word, n) == 0;
}

/* Each parser checks the value v[0..n) (not NUL-terminated inside DEBUG)
 * and, if it is valid, stores it through *out (and may set other fields of
 * s).  It returns false for a malformed value and then leaves s alone. */
typedef bool (*parser)(rt__settings *s, int *out, const char *v, size_t n);

static bool p_uint(rt__settings *s, int *out, const char *v, size_t n)
{
    (void)s;
    return parse_uint(v, n, out);
}

/* "off" or a negative integer turn collection off (-1), as in Go since
 * 1.5 and as rt_set_gc_percent takes any negative value: GOGC=-1 is a
 * deliberate setting, not a typo to warn about ("-0" is 0, as Go reads
 * it).  A number past INT_MAX is malformed, as Go's atoi32 finds it (Go
 * then keeps 100; so does the warning's default here). */
static bool p_gogc(rt__settings *s, int *out, const char *v, size_t n)
{
    int x;
    bool neg = n > 1 && v[0] == '-';

    (void)s;
    if (equals(v, n, "off")) {
        *out = -1;
        return true;
    }
    if (neg) {
        v++;
        n--;
    }
    if (!parse_uint(v, n, &x))
        return false;
    *out = neg && x > 0 ? -1 : x;
    return true;
}

static bool p_maxprocs(rt__settings *s, int *out, const char *v, size_t n)
{
    int x;

    (void)s;
    /* (past INT_MAX: malformed, parse_uint; Go then keeps its default) */
    if (!parse_uint(v, n, &x) || x == 0)
        return false;
    *out = x > MAXPROCS_CAP ? MAXPROCS_CAP : x;
    return true;
}

static bool p_traceback(rt__settings *s, int *out, const char *v, size_t n)
{
    static const struct {
        const char *word;
        int level;
        bool crash;
    } words[] = {
        /* all: every goroutine, user frames only (Go: level 1 with all
         * goroutines; grt's level 1 lists them all already).  single:
         * level 1, but a panic (a bad pointer, a division by zero) shows
         * only its own goroutine, as Go >= 1.6's default does; fatal
         * errors still show every goroutine (Go's throws set all). */
        {"none", 0, false}, {"single", 1, false}, {"all", 1, false},
        {"system", 2, false}, {"crash", 2, true},
    };
    int x;

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (equals(v, n, words[i].word)) {
            *out = words[i].level;
            s->traceback_crash = words[i].crash;
            s->traceback_single = i == 1;
            return true;
        }
    }
    if (!parse_uint(v, n, &x))
        return false;
    *out = x;
    s->traceback_crash = false;
    s->traceback_single = false;
    return true;
}

static int def_ncpu(void)
{
    return rt__ncpu();
}

/* ------------------------------------------------------------ the table -- */

typedef struct setting {
    const char *name;  /* DEBUG key, or the environment variable's name */
    const char *alias; /* variable read when name is unset, or NULL */
    bool in_debug;     /* a key inside DEBUG rather than a variable */
    size_t off;        /* offsetof(rt__settings, field), an int field */
    int def;           /* default value */
    int (*def_fn)(void); /* computed default (overrides def), or NULL */
    parser parse;
    const char *want;  /* "want ..." in the warning */
    const char *help;  /* one line for DEBUG=help */
} setting;

#define FIELD(f) offsetof(rt__settings, f)
#define WANT_UINT "a non-negative integer"

static const setting settings[] = {
    {"gctrace", NULL, true, FIELD(gctrace), 0, NULL, p_uint, WANT_UINT,
     "1: one line per collection, and the scavenger's; 2: collect twice each time"},
    {"schedtrace", NULL, true, FIELD(schedtrace), 0, NULL, p_uint, WANT_UINT,
     "print a scheduler summary line every N milliseconds (0: off)"},
    {"scheddetail", NULL, true, FIELD(scheddetail), 0, NULL, p_uint,
     WANT_UINT, "1: with schedtrace, dump every P, M and goroutine"},
    {"allocfreetrace", NULL, true, FIELD(allocfreetrace), 0, NULL, p_uint,
     WANT_UINT, "1: trace every allocation and free with a stack"},
    {"gcstoptheworld", NULL, true, FIELD(gcstoptheworld), 0, NULL, p_uint,
     WANT_UINT, "1: collect with the world stopped; 2: also sweep then"},
    {"gcevery", NULL, true, FIELD(gcevery), 0, NULL, p_uint, WANT_UINT,
     "collect every N allocations (a test aid; 0: off)"},
    {"gcwritetrack", NULL, true, FIELD(gcwritetrack), 0, NULL, p_uint, WANT_UINT,
     "concurrent marking's write tracking: 0 userfaultfd, else mprotect; "
     "1 mprotect; 2 none (stop the world)"},
    {"gcfinalmark", NULL, true, FIELD(gcfinalmark), 8192, NULL, p_uint, WANT_UINT,
     "objects a concurrent cycle's final pause may mark before it lets the "
     "program go on and marks the rest concurrently (0: no limit)"},
    {"memprofilerate", NULL, true, FIELD(memprofilerate), 512 * 1024, NULL, p_uint,
     WANT_UINT, "heap profile: a sample per N bytes allocated (0: off), as Go's"},
    {"GOGC", NULL, false, FIELD(gogc), 100, NULL, p_gogc,
     "a percentage or \"off\"",
     "collect when the heap grows by this percent of the live heap"},
    {"MAXPROCS", "GOMAXPROCS", false, FIELD(maxprocs), 1, def_ncpu,
     p_maxprocs, "a positive integer",
     "threads running goroutines at once (default: CPUs, at most 256)"},
    {"GOTRACEBACK", NULL, false, FIELD(traceback), 1, NULL, p_traceback,
     "none, single, all, system, crash or a non-negative integer",
     "traceback level of fatal errors: 0 none, 1 user frames, 2 runtime frames too"},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static int *field_of(rt__settings *s, const setting *row)
{
    return (int *)((char *)s + row->off);
}

static int default_of(const setting *row)
{
    return row->def_fn != NULL ? row->def_fn() : row->def;
}

static void set_defaults(rt__settings *s)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        *field_of(s, &settings[i]) = default_of(&settings[i]);
    s->traceback_crash = false;
    s->traceback_single = false;
}

/* -------------------------------------------------------------- DEBUG -- */

/*
 * Parses the DEBUG list val (read from the variable varname) into s.
 * Returns true if the item "help" was present.  Unknown keys, and items
 * without '=' other than "help", are ignored without a word (DEBUG=1 is
 * some other tool's) -- unless the item names one of ours all the same:
 * with blanks around its key, in capitals, or without "=value"
 * ("gctrace", " gctrace=1", "GCTRACE=1": a user who wrote that wanted the
 * tracer, and silence would lose it; an outside tester's find).  Those
 * get the warning and change nothing.  The string is not modified: each
 * item is examined in place as [p, end).
 */
static const setting *debug_key_near(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *row = &settings[i];
        if (row->in_debug && strlen(row->name) == len && strncasecmp(row->name, p, len) == 0)
            return row;
    }
    return NULL;
}

static void warn_debug_item(const char *varname, const char *p, size_t len,
                            const setting *row)
{
    char q[256];
    rt__printf("grt: ignoring %s item \"%s\": want %s=<%s>\n", varname, quoted(p, len, q),
               row->name, row->want);
}

static bool parse_debug(rt__settings *s, const char *val, const char *varname)
{
    bool help = false;
    const char *p = val;

    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        size_t len = (size_t)(end - p);
        const char *eq = memchr(p, '=', len);

        const setting *near;
        if (eq == NULL) {
            if (equals(p, len, "help"))
                help = true;
            else if ((near = debug_key_near(p, len)) != NULL)
                warn_debug_item(varname, p, len, near);
        } else {
            size_t klen = (size_t)(eq - p);
            bool known = false;
            for (size_t i = 0; i < NSETTINGS; i++) {
                const setting *row = &settings[i];
                if (!row->in_debug || strlen(row->name) != klen ||
                    memcmp(row->name, p, klen) != 0)
                    continue;
                const char *v = eq + 1;
                size_t vlen = (size_t)(end - v);
                int x;
                if (row->parse(s, &x, v, vlen)) {
                    *field_of(s, row) = x;
                } else {
                    /* the default, also over an earlier item of the same
                     * key (Go: the last item wins) */
                    *field_of(s, row) = default_of(row);
                    char q[256];
                    rt__printf("grt: ignoring %s %.*s=\"%s\": want %s\n",
                               varname, (int)klen, p, quoted(v, vlen, q),
                               row->want);
                }
                known = true;
                break;
            }
            if (!known && (near = debug_key_near(p, klen)) != NULL)
                warn_debug_item(varname, p, len, near);
        }
        p = *end == ',' ? end + 1 : end;
    }
    return help;
}

void rt__settings_parse_debug(rt__settings *s, const char *val)
{
    (void)parse_debug(s, val, "DEBUG");
}

/* --------------------------------------------------------------- help -- */

static void print_help(void)
{
    rt__buf b;

    rt__buf_init(&b, 2);
    rt__buf_puts(&b, "grt settings (DEBUG=key=value,...; GOGC, MAXPROCS, "
                     "GOTRACEBACK are variables of their own):\n");
    rt__buf_printf(&b, "%-22s %-8s %s\n", "NAME", "DEFAULT", "MEANING");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *row = &settings[i];
        char name[40];
        if (row->in_debug)
            snprintf(name, sizeof name, "DEBUG %s", row->name);
        else if (row->alias != NULL)
            snprintf(name, sizeof name, "%s (%s)", row->name, row->alias);
        else
            snprintf(name, sizeof name, "%s", row->name);
        rt__buf_printf(&b, "%-22s %-8d %s\n", name, default_of(row),
                       row->help);
    }
    rt__buf_flush(&b);
}

/* --------------------------------------------------------------- init -- */

/* getenv() that treats an empty value as unset. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The primary variable (set, value v) wins over its alias: if the alias
 * is set too, to something else, say that it is ignored -- one line. */
static void alias_ignored(const char *alias, const char *primary, const char *v)
{
    const char *a = env(alias);
    if (a == NULL || strcmp(a, v) == 0)
        return;
    char qa[256], qv[256];
    rt__printf("grt: ignoring %s=\"%s\": %s=\"%s\" is set\n", alias,
               quoted(a, strlen(a), qa), primary, quoted(v, strlen(v), qv));
}

/* Everything rt__settings_init does but print the help table. */
static bool settings_read(void)
{
    bool help = false;
    const char *v;

    set_defaults(&rt__debug);

    /* DEBUG, or GODEBUG when DEBUG is unset or empty (API.md; Go reads an
     * empty variable as unset, and DEBUG is a common name that other
     * tools export empty: an outside tester lost GODEBUG=gctrace=1 that
     * way).  Both set and different: the alias is ignored, with a word. */
    const char *dbgname = "DEBUG";
    v = env("DEBUG");
    if (v == NULL) {
        dbgname = "GODEBUG";
        v = env("GODEBUG");
    } else {
        alias_ignored("GODEBUG", "DEBUG", v);
    }
    if (v != NULL)
        help = parse_debug(&rt__debug, v, dbgname);

    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *row = &settings[i];
        const char *name = row->name;
        int x;

        if (row->in_debug)
            continue;
        v = env(name);
        if (v == NULL && row->alias != NULL) {
            name = row->alias;
            v = env(name);
        } else if (v != NULL && row->alias != NULL) {
            alias_ignored(row->alias, name, v);
        }
        if (v == NULL)
            continue;
        if (row->parse(&rt__debug, &x, v, strlen(v)))
            *field_of(&rt__debug, row) = x;
        else {
            char q[256];
            rt__printf("grt: ignoring %s=\"%s\": want %s\n", name,
                       quoted(v, strlen(v), q), row->want);
        }
    }

    return help;
}

bool rt__settings_init(void)
{
    bool help = settings_read();
    if (help)
        print_help();
    return help;
}

/* Read before rt_main, at a thread's first allocation (so that
 * allocfreetrace sees allocations main() makes before rt_main, as Go's
 * schedinit reads GODEBUG before any of the program's): 0 not read, 1
 * being read, 2 read; the help table waits for rt_main. */
static _Atomic int early_state;
static bool early_help;

void rt__settings_early(void)
{
    int st = atomic_load_explicit(&early_state, memory_order_acquire);
    if (st == 2)
        return;
    if (st == 0 && atomic_compare_exchange_strong(&early_state, &st, 1)) {
        early_help = settings_read();
        atomic_store_explicit(&early_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&early_state, memory_order_acquire) != 2)
        sched_yield();
}

bool rt__settings_main(void)
{
    if (atomic_load_explicit(&early_state, memory_order_acquire) != 0) {
        rt__settings_early(); /* (waits if another thread is reading) */
        if (early_help)
            print_help();
        return early_help;
    }
    return rt__settings_init();
}

int rt__ncpu(void)
{
    cpu_set_t set;
    int n = 0;

    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0) {
        /* More CPUs than cpu_set_t holds, or no affinity support. */
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (c > MAXPROCS_CAP ? MAXPROCS_CAP : (int)c) : 1;
    }
    return n > MAXPROCS_CAP ? MAXPROCS_CAP : n;
}
