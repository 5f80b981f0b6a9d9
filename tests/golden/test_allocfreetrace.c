/*
 * tests/golden/test_allocfreetrace.c -- DEBUG=allocfreetrace=1 against
 * TRACE_FORMATS.md §4 and Part A.
 *
 * The child (this binary, --child) runs with MAXPROCS=4: four goroutines
 * allocate typed objects (rt_new), arrays (rt_new_array), channels,
 * untyped objects (rt_alloc, rt_alloc_noscan) and large objects, keep a
 * few in globals and drop the rest, while DEBUG=gcevery=10 starts
 * collections among them; main then calls rt_gc twice.  On stdout
 * it lists every allocation it made (address, request, the size the heap
 * gave it, kind) and which of those addresses the heap still holds.
 *
 * The parent parses stderr with the record grammar
 *     tracealloc(0x.., 0x.., KIND)  goroutine header  frames  blank line
 *     tracefree(0x.., 0x..)         goroutine header  frames  blank line
 *     tracegc()  blank  header frames  { blank header frames }  end tracegc  blank
 * where frames are "name(...)" / "\tFILE:LINE[ +0xOFF] fp=0x.." pairs
 * (level 2: fp= on every frame), optionally "created by" and its line.
 * Any other line -- a torn or interleaved one -- fails the test.  Then:
 *   - every allocation of the child has its tracealloc, with its kind
 *     (single object of node, array of long, channel, single object) and
 *     the size the heap gave it; typed and channel records show the
 *     allocating function alloc_some below the allocator's frames (runtime
 *     frames: level 2);
 *   - no record shows the tracer's own frames (rt__tracealloc, ...): Go's
 *     start at the tracer's caller, mallocgc or the sweeper;
 *   - each tracegc block lists the collecting goroutine first, as
 *     [garbage collection] (Go 1.3's runtime.gc waits so), and only it;
 *   - per address, records alternate tracealloc, tracefree, tracealloc ...
 *     (a slot is reused only after a free), frees carry the allocated
 *     size, and an address the child allocated ends with a tracealloc
 *     exactly when the heap still holds it at exit;
 *   - one tracegc block per collection.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "golden.h"
#include "harness.h"

#include "gc/gc.h"

/* ------------------------------------------------------------- child -- */

typedef struct node {
    struct node *next;
    long a, b;
} node;

typedef struct arec {
    uintptr_t addr;
    size_t req, size;
    const char *kind;
} arec;

static arec *recs; /* malloc'd: not a root */
static int nrec;
static rt_mutex recs_mu;

enum { NWORKERS = 4, ROUNDS = 12 };
static void *volatile kept[NWORKERS][8]; /* bss: a root (volatile: stores kept) */
static rt_waitgroup wg;

static void note(void *p, size_t req, const char *kind)
{
    size_t size = 0;
    void *start = rt__gc_object_start((uintptr_t)p, &size);
    if (start != p)
        abort();
    rt_mutex_lock(&recs_mu);
    if (nrec == 4096) /* (under the lock: TSan saw the unlocked read race) */
        abort();
    recs[nrec++] = (arec){(uintptr_t)p, req, size, kind};
    rt_mutex_unlock(&recs_mu);
}

/* Allocations happen here (never in a tail position), so each record's
 * traceback shows this frame. */
static __attribute__((noinline)) void alloc_some(int w, int round)
{
    node *n = rt_new(node);
    note(n, sizeof(node), "single object of node");
    long *arr = rt_new_array(long, 16);
    note(arr, 16 * sizeof(long), "array of long");
    void *u = rt_alloc(100);
    note(u, 100, "single object");
    void *v = rt_alloc_noscan(3000);
    note(v, 3000, "single object");
    if (round % 4 == 0) {
        rt_chan *c = rt_chan_make(sizeof(int), 4);
        note(c, 0, "channel");
        if (round == 0)
            kept[w][4] = c;
    }
    if (round % 6 == 1) {
        void *big = rt_alloc(40000);
        note(big, 40000, "single object");
        if (round == 1)
            kept[w][5] = big;
    }
    if (round == 0) {
        kept[w][0] = n;
        kept[w][1] = arr;
        kept[w][2] = u;
        kept[w][3] = v;
    }
}

static void worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        alloc_some(w, r);
        if (r % 3 == 2)
            rt_yield();
    }
    rt_waitgroup_done(&wg);
}

static int child_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    recs = calloc(4096, sizeof *recs);
    rt_waitgroup_add(&wg, NWORKERS);
    for (intptr_t w = 0; w < NWORKERS; w++)
        rt_go(worker, (void *)w);
    rt_waitgroup_wait(&wg);
    rt_gc();
    rt_gc();
    rt_memstats ms;
    rt_read_memstats(&ms);
    for (int i = 0; i < nrec; i++)
        printf("obj 0x%lx %zu 0x%zx %s\n", (unsigned long)recs[i].addr, recs[i].req,
               recs[i].size, recs[i].kind);
    for (int i = 0; i < nrec; i++) {
        /* the last record of each address decides */
        bool last = true;
        for (int j = i + 1; j < nrec; j++)
            if (recs[j].addr == recs[i].addr)
                last = false;
        if (last && rt__gc_object_start(recs[i].addr, NULL) == (void *)recs[i].addr)
            printf("live 0x%lx\n", (unsigned long)recs[i].addr);
    }
    printf("num_gc %u\n", ms.num_gc);
    return 0;
}

/* ------------------------------------------------------------ parent -- */

#define HEX "0x[0-9a-f]+"
#define TRACEALLOC "^tracealloc\\((" HEX "), (" HEX "), (single object|array|channel)( of ([A-Za-z_][A-Za-z0-9_ *]*))?\\)$"
#define TRACEFREE "^tracefree\\((" HEX "), (" HEX ")\\)$"
#define HEADER "^goroutine " GN " \\[([A-Za-z ()]+)(, " GN " minutes)?\\]:$"
#define FUNC "^([A-Za-z_][A-Za-z0-9_.]*\\(\\.\\.\\.\\)|\\?\\(\\))$"
#define FILELINE_FP "^\t[^ \t]+:" GN "( \\+" HEX ")? fp=" HEX "$"
#define CREATED "^created by [A-Za-z_][A-Za-z0-9_.]*$"
#define FILELINE "^\t[^ \t]+:" GN "( \\+" HEX ")?$"
#define RUNNING_ELSEWHERE "^\tgoroutine running on other thread; stack unavailable$"

typedef struct event {
    unsigned long long addr, size;
    int seq;
    bool alloc;
    char kind[64];
} event;

typedef struct parser {
    char **l;
    size_t n, i;
} parser;

static const char *cur(parser *p)
{
    return p->i < p->n ? p->l[p->i] : "<end of output>";
}

static bool at(parser *p, const char *re)
{
    regmatch_t m[1];
    return p->i < p->n && golden_match(re, p->l[p->i], m, 1);
}

static void expect(parser *p, const char *re, const char *what)
{
    ck_assert_msg(at(p, re), "line %zu: want %s, got '%s'", p->i + 1, what, cur(p));
    p->i++;
}

/* What goroutine_block saw. */
typedef struct gblock {
    char status[64];  /* the header's status word */
    char first[128];  /* the first frame's line ("" if none) */
    bool found;       /* a frame named fn */
    size_t line;      /* the header's line number */
} gblock;

/* The tracer's own functions: Go's records start at the tracer's caller
 * (getcallerpc), so none of these may show. */
static bool tracer_frame(const char *name)
{
    static const char *const own[] = {"rt__tracealloc(", "rt__tracefree(", "rt__tracegc(",
                                      "self_traceback(", "rt__print_"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strncmp(name, own[i], strlen(own[i])) == 0)
            return true;
    return false;
}

/* A goroutine header and its frames; notes whether a frame named fn was
 * among them (fn may be NULL). */
static gblock goroutine_block(parser *p, const char *fn)
{
    gblock g = {.line = p->i + 1};
    regmatch_t m[4];
    ck_assert_msg(p->i < p->n && golden_match(HEADER, cur(p), m, 3),
                  "line %zu: want a goroutine header, got '%s'", p->i + 1, cur(p));
    snprintf(g.status, sizeof g.status, "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
             cur(p) + m[2].rm_so);
    p->i++;
    int frames = 0;
    if (at(p, RUNNING_ELSEWHERE)) {
        p->i++;
    } else {
        while (at(p, FUNC)) {
            const char *name = cur(p);
            if (frames == 0)
                snprintf(g.first, sizeof g.first, "%s", name);
            if (fn != NULL && strncmp(name, fn, strlen(fn)) == 0 && name[strlen(fn)] == '(')
                g.found = true;
            ck_assert_msg(!tracer_frame(name), "line %zu: the tracer's own frame '%s'",
                          p->i + 1, name);
            p->i++;
            expect(p, FILELINE_FP, "a frame's file line with fp=");
            frames++;
        }
        ck_assert_msg(frames > 0, "line %zu: no frames: '%s'", p->i + 1, cur(p));
    }
    if (at(p, CREATED)) {
        p->i++;
        expect(p, FILELINE, "created-by file line");
    }
    return g;
}

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->seq - y->seq;
}

static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

static bool in_sorted(const unsigned long long *v, size_t n, unsigned long long x)
{
    return bsearch(&x, v, n, sizeof x, cmp_ull) != NULL;
}

START_TEST(test_allocfreetrace)
{
    /* gcevery: collections start while the workers allocate, so tracegc
     * blocks list several goroutines and frees come from several sweepers */
    char *env[] = {(char *)"DEBUG=allocfreetrace=1,gcevery=10", (char *)"MAXPROCS=4", NULL};
    golden_out o = golden_run("test_allocfreetrace", "run", env);
    ck_assert(o.err_ends_nl);

    /* stdout: the child's view */
    size_t nout;
    char **out = golden_lines(o.out, &nout);
    event *objs = calloc(nout + 1, sizeof *objs);
    unsigned long long *live = calloc(nout + 1, sizeof *live);
    size_t nobjs = 0, nlive = 0;
    long num_gc = -1;
    for (size_t i = 0; i < nout; i++) {
        unsigned long long a, size;
        size_t req;
        char kind[64];
        if (sscanf(out[i], "obj %llx %zu %llx %63[^\n]", &a, &req, &size, kind) == 4) {
            objs[nobjs] = (event){.addr = a, .size = size, .seq = (int)nobjs, .alloc = true};
            snprintf(objs[nobjs].kind, sizeof objs[nobjs].kind, "%s", kind);
            nobjs++;
        } else if (sscanf(out[i], "live %llx", &a) == 1) {
            live[nlive++] = a;
        } else if (sscanf(out[i], "num_gc %ld", &num_gc) == 1) {
        } else {
            ck_abort_msg("child stdout: '%s'", out[i]);
        }
    }
    ck_assert_int_ge(nobjs, NWORKERS * ROUNDS * 4);
    ck_assert_int_ge(num_gc, 2);
    qsort(live, nlive, sizeof *live, cmp_ull);

    /* stderr: the records */
    parser p = {0};
    p.l = golden_lines(o.err, &p.n);
    event *ev = calloc(p.n + 1, sizeof *ev);
    size_t nev = 0;
    long ntracegc = 0, nalloc = 0, nfree = 0;
    while (p.i < p.n) {
        const char *line = cur(&p);
        regmatch_t m[8];
        if (golden_match(TRACEALLOC, line, m, 6)) {
            event *e = &ev[nev];
            *e = (event){.addr = golden_hex(line, &m[1]), .size = golden_hex(line, &m[2]),
                         .seq = (int)nev, .alloc = true};
            snprintf(e->kind, sizeof e->kind, "%.*s", (int)(m[0].rm_eo - m[3].rm_so - 1),
                     line + m[3].rm_so);
            nev++;
            nalloc++;
            p.i++;
            bool typed = strcmp(e->kind, "single object") != 0;
            gblock g = goroutine_block(&p, "alloc_some");
            /* the child's typed allocations: alloc_some among the frames,
             * below the allocator's own (level 2 shows libgrt's frames,
             * as Go's records start at mallocgc) */
            if (typed)
                ck_assert_msg(g.found && strcmp(g.first, "alloc_some(...)") != 0,
                              "record of %s at line %zu: first frame '%s', alloc_some %s",
                              e->kind, g.line, g.first, g.found ? "first" : "missing");
            expect(&p, "^$", "the blank line ending a record");
        } else if (golden_match(TRACEFREE, line, m, 3)) {
            ev[nev] = (event){.addr = golden_hex(line, &m[1]), .size = golden_hex(line, &m[2]),
                              .seq = (int)nev, .alloc = false};
            nev++;
            nfree++;
            p.i++;
            gblock g = goroutine_block(&p, NULL);
            ck_assert_msg(strcmp(g.status, "garbage collection") != 0,
                          "line %zu: a sweeper shown as the collector", g.line);
            expect(&p, "^$", "the blank line ending a record");
        } else if (strcmp(line, "tracegc()") == 0) {
            ntracegc++;
            p.i++;
            expect(&p, "^$", "tracegc's blank line");
            /* the collecting goroutine first, as Go's: [garbage collection],
             * its frames from the collector up */
            gblock g = goroutine_block(&p, NULL);
            ck_assert_msg(strcmp(g.status, "garbage collection") == 0,
                          "line %zu: the collector's goroutine is [%s]", g.line, g.status);
            while (at(&p, "^$")) {
                p.i++;
                g = goroutine_block(&p, NULL);
                ck_assert_msg(strcmp(g.status, "garbage collection") != 0,
                              "line %zu: a second collector in one tracegc", g.line);
            }
            expect(&p, "^end tracegc$", "end tracegc");
            expect(&p, "^$", "the blank line after end tracegc");
        } else {
            ck_abort_msg("line %zu does not match: '%s'", p.i + 1, line);
        }
    }
    ck_assert_int_eq(ntracegc, num_gc);
    ck_assert_int_gt(num_gc, 2); /* gcevery's cycles too */
    ck_assert_int_ge(nalloc, (long)nobjs);
    ck_assert_int_gt(nfree, 0);

    /* per address: alloc, free, alloc, ...; the child's allocations in
     * order; the end state matches the heap's */
    qsort(ev, nev, sizeof *ev, cmp_event);
    qsort(objs, nobjs, sizeof *objs, cmp_event);
    size_t j = 0; /* into objs */
    for (size_t i = 0; i < nev;) {
        size_t k = i;
        unsigned long long a = ev[i].addr, size = 0;
        bool childs = j < nobjs && objs[j].addr == a;
        for (; k < nev && ev[k].addr == a; k++) {
            bool want_alloc = (k - i) % 2 == 0;
            ck_assert_msg(ev[k].alloc == want_alloc, "%#llx: %s where %s was due", a,
                          ev[k].alloc ? "tracealloc" : "tracefree",
                          want_alloc ? "tracealloc" : "tracefree");
            if (ev[k].alloc) {
                size = ev[k].size;
                if (j < nobjs && objs[j].addr == a) {
                    ck_assert_msg(strcmp(ev[k].kind, objs[j].kind) == 0, "%#llx: '%s' vs '%s'",
                                  a, ev[k].kind, objs[j].kind);
                    ck_assert_msg(ev[k].size == objs[j].size, "%#llx: size %#llx vs %#llx", a,
                                  ev[k].size, objs[j].size);
                    j++;
                } else {
                    /* the child's allocations are all traced; others are
                     * the runtime's own and untyped */
                    ck_assert_msg(strcmp(ev[k].kind, "single object") == 0,
                                  "%#llx: a %s the child did not make", a, ev[k].kind);
                }
            } else {
                ck_assert_msg(ev[k].size == size, "%#llx: freed %#llx, allocated %#llx", a,
                              ev[k].size, size);
            }
        }
        if (childs) {
            bool ends_alloc = (k - i) % 2 == 1;
            ck_assert_msg(ends_alloc == in_sorted(live, nlive, a),
                          "%#llx: trace ends with %s but the heap says %s", a,
                          ends_alloc ? "tracealloc" : "tracefree",
                          in_sorted(live, nlive, a) ? "live" : "free");
        }
        i = k;
    }
    ck_assert_msg(j == nobjs, "%zu of the child's allocations have no tracealloc", nobjs - j);
    /* the kept objects are live; most dropped ones are gone */
    ck_assert_int_ge(nlive, NWORKERS * 6);
    ck_assert_int_lt(nlive, nobjs / 2);

    free(ev);
    free(p.l);
    free(objs);
    free(live);
    free(out);
    golden_free(&o);
}
END_TEST

/* An allocation main() makes before rt_main is traced too (DEBUG is read
 * at that first allocation, as Go reads GODEBUG before any of the
 * program's code), from the scheduler-less context: goroutine 0 [idle]. */
static void *volatile pre_obj;

static int pre_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

START_TEST(test_before_rt_main)
{
    char *env[] = {(char *)"DEBUG=allocfreetrace=1", (char *)"MAXPROCS=1", NULL};
    golden_out o = golden_run("test_allocfreetrace", "pre", env);
    unsigned long long a = 0;
    ck_assert_msg(sscanf(o.out, "pre %llx", &a) == 1, "stdout: %s", o.out);
    char want[96];
    snprintf(want, sizeof want, "tracealloc(%#llx, 0x30, single object)\ngoroutine 0 [idle]:\n",
             a);
    ck_assert_msg(strncmp(o.err, want, strlen(want)) == 0, "want first:\n%s\nstderr:\n%.600s",
                  want, o.err);
    golden_free(&o);
}
END_TEST

/* With gctrace too: garbage, then one rt_gc (GOGC=off: no other cycle). */
static int withgc_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; i < 200; i++)
        (void)rt_new(node);
    rt_gc();
    return 0;
}

/* Combined with gctrace, the gc line of an rt_gc comes before the
 * tracefree records of its eager sweep, as Go 1.3 prints the line before
 * sweeping (the third sweeps field counts that sweep on the next line). */
START_TEST(test_with_gctrace)
{
    char *env[] = {(char *)"DEBUG=allocfreetrace=1,gctrace=1", (char *)"GOGC=off",
                   (char *)"MAXPROCS=1", NULL};
    golden_out o = golden_run("test_allocfreetrace", "withgc", env);
    const char *gc = strstr(o.err, "\ngc1(");
    const char *end = strstr(o.err, "\nend tracegc\n");
    const char *fr = strstr(o.err, "\ntracefree(");
    ck_assert_msg(gc != NULL && end != NULL && fr != NULL && end < gc && gc < fr,
                  "want tracegc ... end tracegc, gc1(...), then tracefree:\n%.3000s", o.err);
    ck_assert_msg(strstr(gc + 1, "\ngc2(") == NULL, "one cycle:\n%.3000s", o.err);
    golden_free(&o);
}
END_TEST

/* With the tracer off, nothing reaches stderr. */
START_TEST(test_off)
{
    char *env[] = {(char *)"MAXPROCS=4", NULL};
    golden_out o = golden_run("test_allocfreetrace", "run", env);
    ck_assert_msg(o.nerr == 0, "stderr: %s", o.err);
    golden_free(&o);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "pre") == 0) {
        pre_obj = rt_alloc(48); /* before rt_main */
        printf("pre %p\n", pre_obj);
        fflush(stdout);
        return rt_main(pre_main, argc, argv);
    }
    if (argc > 2 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "withgc") == 0)
        return rt_main(withgc_main, argc, argv);
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return rt_main(child_main, argc, argv);
    Suite *s = suite_create("allocfreetrace");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_allocfreetrace);
    tcase_add_test(tc, test_before_rt_main);
    tcase_add_test(tc, test_with_gctrace);
    tcase_add_test(tc, test_off);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
