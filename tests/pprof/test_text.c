/*
 * tests/pprof/test_text.c -- the text forms (debug >= 1) of every profile,
 * against TRACE_FORMATS.md sections 5-9.
 *
 *   - the tabwriter: section 5's worked example (cells of 15, 14 and 17
 *     runes in one block get 2, 2 and 1 tabs), a shorter line splitting
 *     the higher columns' blocks, lines without tabs passing through;
 *   - heap, block, mutex, goroutine and threadcreate at debug=1: every line
 *     matches one of the section's regular expressions (every literal
 *     pinned, every field typed), no line ends in a space (that makes pprof
 *     reject the file), stack listings are aligned to one tab stop per
 *     block, the heap form ends with the MemStats trailer in Go 1.3's order
 *     and the header reports heap/(2 x MemProfileRate);
 *   - the figures agree: the heap header's four totals are its records'
 *     sums, heap records come largest in-use first and never show more in
 *     use than allocated, block and mutex records come largest delay
 *     first, and a count profile's total is its records' counts summed;
 *   - `go tool pprof -raw` parses each of them.
 */
#include <regex.h>

#include "pprof_test.h"
#include "trace/trace.h"

#define NOINLINE __attribute__((noinline))

static char *tw(const char *in)
{
    rt__pbuf out = {0};
    rt__tabwriter(in, strlen(in), &out);
    rt__pbuf_put(&out, "", 1);
    ck_assert(!out.oom);
    return (char *)out.b;
}

START_TEST(test_tabwriter)
{
    char *o = tw("#\t0x400c40\tmain.alloc+0x40\t/home/user/prof/main.go:17\n"
                 "#\t0x400d7a\tmain.main+0x3a\t/home/user/prof/main.go:24\n"
                 "#\t0x413433\truntime.main+0xf3\t/usr/local/go/src/runtime/proc.go:63\n"
                 "\n");
    ck_assert_str_eq(o, "#\t0x400c40\tmain.alloc+0x40\t\t/home/user/prof/main.go:17\n"
                        "#\t0x400d7a\tmain.main+0x3a\t\t/home/user/prof/main.go:24\n"
                        "#\t0x413433\truntime.main+0xf3\t/usr/local/go/src/runtime/proc.go:63\n"
                        "\n");
    free(o);
    /* A line with fewer cells ends the blocks of the higher columns: each
     * part is aligned on its own; a line without tabs passes through. */
    o = tw("#\t0x1\tlongfunctionname+0x1\tf.c:1\n"
           "#\t0x2\n"
           "#\t0x3\tf+0x3\tf.c:3\n"
           "header line\n");
    ck_assert_str_eq(o, "#\t0x1\tlongfunctionname+0x1\tf.c:1\n"
                        "#\t0x2\n"
                        "#\t0x3\tf+0x3\tf.c:3\n"
                        "header line\n");
    free(o);
}
END_TEST

/* ------------------------------------------------------------ checking -- */

typedef struct pat {
    const char *re;
    regex_t rx;
} pat;

static bool match_any(pat *p, int np, const char *line)
{
    for (int i = 0; i < np; i++)
        if (regexec(&p[i].rx, line, 0, NULL, 0) == 0)
            return true;
    return false;
}

/* The display column where a cell of a line starts (tabs to 8; a run of
 * padding tabs is one separator). */
static int cell_col(const char *line, int cell)
{
    int col = 0, c = 0;
    for (const char *s = line; *s; s++) {
        if (*s == '\t') {
            col = (col / 8 + 1) * 8;
            if (s[1] != '\t')
                c++;
            continue;
        }
        if (c == cell)
            return col;
        col++;
    }
    return -1;
}

/* Checks every line of text against pats; listing blocks aligned. */
static void check_lines(const char *what, char *text, const char **res, int nres)
{
    pat p[16];
    ck_assert_int_le(nres, 16);
    for (int i = 0; i < nres; i++) {
        p[i].re = res[i];
        ck_assert_int_eq(regcomp(&p[i].rx, res[i], REG_EXTENDED | REG_NOSUB), 0);
    }
    int prev3 = -1, prev2 = -1;
    char *save = NULL;
    int lineno = 0;
    size_t len = strlen(text);
    ck_assert_msg(len > 0 && text[len - 1] == '\n', "%s: no final newline", what);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(line);
        ck_assert_msg(n == 0 || line[n - 1] != ' ', "%s:%d: trailing space: \"%s\"", what,
                      lineno, line);
        ck_assert_msg(match_any(p, nres, line), "%s:%d: unexpected line: \"%s\"", what,
                      lineno, line);
        if (line[0] == '#' && line[1] == '\t' && cell_col(line, 3) > 0) {
            /* a listing line: the name and file columns of a block align */
            int c2 = cell_col(line, 2), c3 = cell_col(line, 3);
            if (prev3 >= 0) {
                ck_assert_msg(c2 == prev2 && c3 == prev3, "%s:%d: misaligned: \"%s\"", what,
                              lineno, line);
            }
            prev2 = c2;
            prev3 = c3;
        } else {
            prev2 = prev3 = -1;
        }
    }
    for (int i = 0; i < nres; i++)
        regfree(&p[i].rx);
}

/* Each record line of text (a line starting with a digit): calls fn with
 * the line and ctx. */
static void for_each_record(const char *text, void (*fn)(const char *line, void *ctx),
                            void *ctx)
{
    for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (*l >= '0' && *l <= '9')
            fn(l, ctx);
}

typedef struct heap_sums {
    long long io, ib, ao, ab; /* totals */
    long long last_ib;        /* the previous record's in-use bytes */
    int n;
} heap_sums;

static void add_heap_record(const char *line, void *ctx)
{
    heap_sums *h = ctx;
    long long io, ib, ao, ab;
    REQUIRE_MSG(sscanf(line, "%lld: %lld [%lld: %lld] @", &io, &ib, &ao, &ab) == 4,
                "heap record: %.80s", line);
    REQUIRE_MSG(io <= ao && ib <= ab, "more in use than allocated: %.80s", line);
    /* sorted by in-use bytes, largest first (§6) */
    REQUIRE_MSG(h->n == 0 || ib <= h->last_ib, "out of order: %.80s after %lld", line,
                h->last_ib);
    h->last_ib = ib;
    h->io += io;
    h->ib += ib;
    h->ao += ao;
    h->ab += ab;
    h->n++;
}

/* §6: the header's four figures are the records' totals, then heap/(2 x
 * MemProfileRate); records come largest in-use first. */
static void check_heap_totals(const char *text, long long rate)
{
    long long io, ib, ao, ab, r;
    REQUIRE_MSG(sscanf(text, "heap profile: %lld: %lld [%lld: %lld] @ heap/%lld", &io, &ib,
                       &ao, &ab, &r) == 5,
                "heap header: %.80s", text);
    REQUIRE_EQ(r, 2 * rate);
    heap_sums h = {0};
    /* the header line starts with a letter: only records are visited */
    for_each_record(text, add_heap_record, &h);
    REQUIRE_MSG(h.n > 0, "no heap records");
    REQUIRE_MSG(io == h.io && ib == h.ib && ao == h.ao && ab == h.ab,
                "header %lld: %lld [%lld: %lld], records sum to %lld: %lld [%lld: %lld]", io,
                ib, ao, ab, h.io, h.ib, h.ao, h.ab);
}

typedef struct count_sums {
    long long sum, last;
    int n;
} count_sums;

static void add_contention_record(const char *line, void *ctx)
{
    count_sums *c = ctx;
    long long cycles, count;
    REQUIRE_MSG(sscanf(line, "%lld %lld @", &cycles, &count) == 2, "record: %.80s", line);
    REQUIRE_MSG(count >= 1, "a record of no events: %.80s", line);
    /* sorted by cycles, largest first (§8) */
    REQUIRE_MSG(c->n == 0 || cycles <= c->last, "out of order: %.80s after %lld", line,
                c->last);
    c->last = cycles;
    c->n++;
}

static void add_count_record(const char *line, void *ctx)
{
    count_sums *c = ctx;
    long long n;
    REQUIRE_MSG(sscanf(line, "%lld @", &n) == 1 && n >= 1, "record: %.80s", line);
    c->sum += n;
    c->n++;
}

/* §5's count profiles: "NAME profile: total N", N the records' counts
 * summed (the number of stacks). */
static void check_count_total(const char *text)
{
    char name[32];
    long long total;
    REQUIRE_MSG(sscanf(text, "%31s profile: total %lld", name, &total) == 2, "header: %.80s",
                text);
    count_sums c = {0};
    for_each_record(text, add_count_record, &c);
    REQUIRE_MSG(c.sum == total, "%s: total %lld, records sum to %lld", name, total, c.sum);
}

#define LISTING "^#\t+0x[0-9a-f]+\t+[^\t]+\\+0x[0-9a-f]+\t+[^\t]+:[0-9]+$"
#define LISTING_NOFN "^#\t+0x[0-9a-f]+$"

static void write_profile(const char *name, const char *file, int debug)
{
    int fd = pp_create(file);
    REQUIRE_EQ(rt_pprof_write(name, fd, debug), 0);
    close(fd);
}

/* The mutex text profile's "sampling period" is the fraction now, 0 when
 * off, as Go's SetMutexProfileFraction(-1) (it said 1 with profiling
 * off: an outside tester's find). */
RT_TEST(test_mutex_sampling_period)
{
    const char *file = pp_path("mutex_period.txt");
    static const struct {
        int frac;
        const char *want;
    } cases[] = {{3, "sampling period=3\n"}, {0, "sampling period=0\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_set_mutex_profile_fraction(cases[i].frac);
        write_profile("mutex", file, 1);
        char *text = pp_read(file);
        REQUIRE_MSG(strstr(text, cases[i].want) != NULL, "fraction %d:\n%.200s",
                    cases[i].frac, text);
        free(text);
    }
    rt_set_mutex_profile_fraction(0);
}

static void *volatile keep[64]; /* volatile: a root the compiler must keep */

NOINLINE static void text_alloc(void)
{
    for (int i = 0; i < 64; i++)
        keep[i] = rt_alloc(4096);
}

static void sleeper(void *p)
{
    rt_chan *c = p;
    rt_sleep(5 * RT_MILLISECOND);
    rt_chan_send(c, NULL);
}

static rt_mutex mu;

static void locker(void *p)
{
    rt_chan *c = p;
    rt_mutex_lock(&mu);
    rt_chan_send(c, NULL);
    rt_sleep(5 * RT_MILLISECOND);
    rt_mutex_unlock(&mu);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

RT_TEST(test_text_forms)
{
    rt_set_memprofile_rate(1);
    text_alloc();
    rt_gc();
    rt_set_block_profile_rate(1);
    rt_set_mutex_profile_fraction(1);
    rt_chan *c = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(sleeper, c), 0);
    REQUIRE(rt_chan_recv(c, NULL));
    REQUIRE_GT(rt_go(locker, c), 0);
    REQUIRE(rt_chan_recv(c, NULL));
    rt_mutex_lock(&mu);
    rt_mutex_unlock(&mu);

    static const char *const names[] = {"heap", "block", "mutex", "goroutine",
                                        "threadcreate"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char file[512], what[64];
        snprintf(what, sizeof what, "%s debug=1", names[k]);
        snprintf(file, sizeof file, "%s/%s.txt", pp_dir(), names[k]);
        write_profile(names[k], file, 1);
        char *text = pp_read(file);
        if (strcmp(names[k], "heap") == 0) {
            REQUIRE_MSG(strncmp(text, "heap profile: ", 14) == 0 &&
                            strstr(text, " @ heap/2\n") != NULL,
                        "heap header:\n%.300s", text);
            REQUIRE_MSG(strstr(text, "text_alloc+0x") != NULL, "no text_alloc:\n%s", text);
            /* the trailer: a blank line, then Go 1.3's fields in order */
            const char *tr = strstr(text, "\n\n\n# runtime.MemStats\n");
            REQUIRE_MSG(tr != NULL, "no MemStats trailer:\n%s", text);
            static const char *const fields[] = {
                "Alloc", "TotalAlloc", "Sys", "Lookups", "Mallocs", "Frees", "HeapAlloc",
                "HeapSys", "HeapIdle", "HeapInuse", "HeapReleased", "HeapObjects", "Stack",
                "MSpan", "MCache", "BuckHashSys", "NextGC", "PauseNs", "NumGC",
                "EnableGC", "DebugGC"};
            const char *s = tr + 22;
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
                char want[64];
                snprintf(want, sizeof want, "# %s = ", fields[i]);
                REQUIRE_MSG(strncmp(s, want, strlen(want)) == 0, "trailer at %s: %.80s",
                            fields[i], s);
                s = strchr(s, '\n') + 1;
            }
            REQUIRE_MSG(*s == 0, "after the trailer: %s", s);
            check_heap_totals(text, 1);
            static const char *const res[] = {
                "^heap profile: [0-9]+: [0-9]+ \\[[0-9]+: [0-9]+\\] @ heap/[0-9]+$",
                "^[0-9]+: [0-9]+ \\[[0-9]+: [0-9]+\\] @( 0x[0-9a-f]+)*$",
                LISTING,
                LISTING_NOFN,
                "^$",
                "^# runtime\\.MemStats$",
                "^# [A-Za-z]+ = [0-9]+$",
                "^# (Stack|MSpan|MCache) = [0-9]+ / [0-9]+$",
                "^# PauseNs = \\[[0-9]+( [0-9]+){255}\\]$",
                "^# (EnableGC|DebugGC) = (true|false)$",
            };
            check_lines(what, text, (const char **)res, 10);
        } else if (strcmp(names[k], "block") == 0 || strcmp(names[k], "mutex") == 0) {
            bool mutex = names[k][0] == 'm';
            REQUIRE_MSG(strncmp(text, mutex ? "--- mutex:\ncycles/second=1000000000\n"
                                            : "--- contention:\ncycles/second=1000000000\n",
                                mutex ? 36 : 41) == 0,
                        "%s header:\n%.300s", names[k], text);
            REQUIRE_MSG(strstr(text, mutex ? "locker+0x" : "rt_chan_recv+0x") != NULL,
                        "%s listing:\n%s", names[k], text);
            count_sums cs = {0};
            for_each_record(text, add_contention_record, &cs);
            REQUIRE_MSG(cs.n > 0, "%s: no records", names[k]);
            static const char *const res[] = {
                "^--- (contention|mutex):$",
                "^cycles/second=[0-9]+$",
                "^sampling period=[0-9]+$",
                "^[0-9]+ [0-9]+ @( 0x[0-9a-f]+)+$",
                LISTING,
                LISTING_NOFN,
                "^$",
            };
            check_lines(what, text, (const char **)res, 7);
        } else {
            check_count_total(text);
            static const char *const res[] = {
                "^(goroutine|threadcreate) profile: total [0-9]+$",
                "^[0-9]+ @( 0x[0-9a-f]+)*$",
                LISTING,
                LISTING_NOFN,
                "^$",
            };
            check_lines(what, text, (const char **)res, 5);
        }
        free(text);
        char *raw = pp_tool("-raw %s", file);
        free(raw);
    }
    rt_set_block_profile_rate(0);
    rt_set_mutex_profile_fraction(0);
}

/* Heap, block and mutex records keep at most 32 PCs of a deeper stack
 * (§6, §12: Go's buckets keep 32); heap records showed 64 (an outside
 * tester's find). */
static void *volatile deep_keep;

/* (called through volatile pointers: the compiler may not turn the
 * recursion into a loop) */
static int (*volatile deep_alloc_p)(int);
static int (*volatile deep_recv_p)(int, rt_chan *);

NOINLINE static int deep_alloc(int depth)
{
    if (depth > 0)
        return deep_alloc_p(depth - 1) + 1;
    deep_keep = rt_alloc(1 << 16); /* noticeable: its own record */
    return 0;
}

NOINLINE static int deep_recv(int depth, rt_chan *c)
{
    if (depth > 0)
        return deep_recv_p(depth - 1, c) + 1;
    REQUIRE(rt_chan_recv(c, NULL));
    return 0;
}

static void count_pcs(const char *line, void *ctx)
{
    int *most = ctx;
    const char *at = strstr(line, " @");
    int n = 0;
    for (const char *p = at; p != NULL && *p && *p != '\n'; p++)
        n += p[0] == ' ' && p[1] == '0' && p[2] == 'x';
    if (n > *most)
        *most = n;
}

RT_TEST(test_records_keep_32_pcs)
{
    deep_alloc_p = deep_alloc;
    deep_recv_p = deep_recv;
    rt_set_memprofile_rate(1);
    rt_set_block_profile_rate(1);
    REQUIRE_EQ(deep_alloc(60), 60);
    rt_gc();
    rt_chan *c = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(sleeper, c), 0);
    REQUIRE_EQ(deep_recv(60, c), 60);
    static const char *const names[] = {"heap", "block"};
    for (size_t k = 0; k < 2; k++) {
        const char *file = pp_path(names[k]);
        write_profile(names[k], file, 1);
        char *text = pp_read(file);
        int most = 0;
        for_each_record(text, count_pcs, &most);
        REQUIRE_MSG(most == 32, "%s: the deepest record has %d PCs", names[k], most);
        free(text);
    }
    rt_set_block_profile_rate(0);
    rt_set_memprofile_rate(512 * 1024);
}

static Suite *suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tabwriter);
    tcase_add_test(tc, test_text_forms);
    tcase_add_test(tc, test_mutex_sampling_period);
    tcase_add_test(tc, test_records_keep_32_pcs);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), NULL);
}
