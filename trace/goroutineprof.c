/*
 * trace/goroutineprof.c -- the goroutine and threadcreate profiles, and
 * rt_pprof_write, which dispatches pprof.Lookup(name).WriteTo(w, debug).
 *
 * Goroutine profile (TRACE_FORMATS.md section 7)
 *   debug 0 and 1: every goroutine's stack is walked into arrays allocated
 *   beforehand, then symbolized and written.  The caller comes first, then
 *   every other live user goroutine in allg order; system goroutines (the
 *   sweeper, the finalizer goroutine) are left out, as modern Go does, so
 *   the total equals rt_num_goroutine().  A goroutine in a system call is
 *   walked from where it entered it (its thread runs below that point:
 *   traceback.c); one that is running on another thread is walked by that
 *   thread itself, from a SIGPROF sent to it (rt__walk_running_g,
 *   cpuprof.c), after the list is taken and outside its lock; only when
 *   the thread does not answer within 50 ms does the record fall back to
 *   the goroutine's entry function.  debug 0 is a proto
 *   with goroutine/count samples carrying each goroutine's labels; debug 1
 *   is the count-profile text, with Go 1.19's "# labels: {...}" line under
 *   a record whose goroutines carry labels (records are keyed by stack
 *   and label set in both forms, as Go's).
 *
 *   The world is NOT stopped for the walk (Go stops it; Go 1.3's
 *   tracebacks outside a fatal error do not).  Rejected: stopping it.
 *   Walking needs libunwind, which calls dl_iterate_phdr and so takes the
 *   loader's lock, and the signal-based stop can stop a thread anywhere in
 *   C code -- including inside dl_iterate_phdr (a heap sample's or a
 *   block event's stack walk, the collector's mark_prepare, user code):
 *   the walk would then wait forever for a stopped thread.  Making every
 *   walk a no-stop region only moves the deadlock (a no-stop region that
 *   waits for the loader's lock held by a stopped thread stalls the stop).
 *   The price: a parked goroutine that wakes while it is walked may show
 *   a stale stack, as traceback.c documents for rt__callers_g.
 *   debug 2: the crash-style dump of every goroutine's traceback
 *   (rt__print_all_goroutines_walking: running ones walked as above and
 *   shown [runnable], as Go's world stop leaves them; a fatal error's
 *   dump still says [running] and "stack unavailable", as Go's), written
 *   straight to the fd.  The world is
 *   not stopped for it: like Go 1.3's tracebackothers outside a fatal
 *   error, a goroutine that wakes during the dump may show a stale stack.
 *
 * Threadcreate profile (section 9)
 *   One record per M (identical stacks merged), with the stack that called
 *   newm, recorded by sched/proc.c's hook rt__threadcreate_event.  The
 *   first M (started by rt_main) shows rt_main's chain.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched.h"
#include "trace/trace.h"

typedef struct gstack {
    int n;
    bool exact; /* leaf is a real PC (an entry function, or the interrupted
                 * PC of a running goroutine), not a return address */
    rt_g *running; /* running on another thread when the Gs were listed */
    int64_t goid;
    const struct rt__labelset *ls;
    uintptr_t pcs[RT_PPROF_MAX_DEPTH];
} gstack;

typedef struct collect_ctx {
    gstack *st;
    size_t cap, n;
    rt_g *self;
    bool overflow;
} collect_ctx;

static void collect_g(rt_g *gp, void *arg)
{
    collect_ctx *c = arg;
    if (gp == c->self || rt__g_hidden(gp))
        return;
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st == RT_GDEAD || st == RT_GIDLE)
        return;
    if (c->n == c->cap) {
        c->overflow = true;
        return;
    }
    gstack *g = &c->st[c->n++];
    g->ls = rt__labels_of_g(gp);
    g->exact = false;
    g->n = 0;
    g->running = NULL;
    if (st == RT_GRUNNABLE || st == RT_GWAITING || st == RT_GSYSCALL)
        g->n = rt__callers_g(gp, g->pcs, NULL, RT_PPROF_MAX_DEPTH);
    else if (st == RT_GRUNNING) {
        g->running = gp; /* walked after the list (walk_running) */
        g->goid = gp->goid;
    }
    if (g->n == 0 && gp->fn != NULL) {
        g->pcs[0] = (uintptr_t)gp->fn;
        g->n = 1;
        g->exact = true;
    }
}

static int count_gs(void)
{
    return (int)rt__sched.allglen;
}

/* A goroutine that was running on another thread: its thread walks it
 * (rt__walk_running_g), outside the allg lock (the wait may be
 * milliseconds); one that has parked since is walked as parked; one whose
 * thread could not be asked keeps its entry function. */
static void walk_running(gstack *g)
{
    rt_g *gp = g->running;
    uintptr_t pcs[RT_PPROF_MAX_DEPTH];
    int n = 0;
    for (int tries = 0; tries < 3 && n == 0 && gp->goid == g->goid; tries++) {
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
        if (st == RT_GRUNNING) {
            n = rt__walk_running_g(gp, pcs, RT_PPROF_MAX_DEPTH);
            if (n > 0) {
                memcpy(g->pcs, pcs, (size_t)n * sizeof pcs[0]);
                g->n = n;
                g->exact = true;
            }
        } else if (st == RT_GRUNNABLE || st == RT_GWAITING || st == RT_GSYSCALL) {
            int old = rt__pprof_walk_begin();
            n = rt__callers_g(gp, pcs, NULL, RT_PPROF_MAX_DEPTH);
            rt__pprof_walk_end(old);
            if (n > 0) {
                memcpy(g->pcs, pcs, (size_t)n * sizeof pcs[0]);
                g->n = n;
                g->exact = false;
            }
        } else {
            break; /* exited: its record stays as listed */
        }
    }
}

/* Fills c (see the essay: the world keeps running).  Returns false if c
 * was too small. */
static __attribute__((noinline)) bool collect(collect_ctx *c)
{
    rt_g *self = rt__getg();
    c->self = self;
    c->n = 0;
    c->overflow = false;
    int old = rt__pprof_walk_begin();
    if (self != NULL && c->cap > 0) {
        gstack *g = &c->st[c->n++];
        g->n = rt__callers(0, g->pcs, NULL, RT_PPROF_MAX_DEPTH);
        g->exact = false;
        g->running = NULL;
        g->ls = rt__labels_current();
    }
    rt__for_each_g(collect_g, c);
    rt__pprof_walk_end(old);
    for (size_t i = 0; i < c->n; i++)
        if (c->st[i].running != NULL)
            walk_running(&c->st[i]);
    return !c->overflow;
}

typedef struct crec {
    int64_t count;
    gstack *g;
} crec;

static bool same_stack(const gstack *a, const gstack *b, bool with_labels)
{
    return a->n == b->n && (!with_labels || a->ls == b->ls) &&
           memcmp(a->pcs, b->pcs, (size_t)a->n * sizeof a->pcs[0]) == 0;
}

/* Drops the switch's own frames from the top of a walked stack: a parked
 * goroutine's innermost frames are gswitch, or gswitch_first above it,
 * by the path it parked through, and two goroutines parked at the same
 * line would otherwise count as two records (a tester saw "2 @" and
 * "1 @" with identical listings; Go prints one).  After the walk, not in
 * it: symbolizing takes symtab's lock, kept out of the allg walk. */
static void strip_switch(gstack *g)
{
    if (g->exact)
        return;
    int k = 0;
    while (k < g->n - 1) {
        rt__sym sym;
        if (!rt__symbolize(g->pcs[k] - 1, &sym) || !rt__is_switch_fn(sym.entry))
            break;
        k++;
    }
    if (k > 0) {
        memmove(g->pcs, g->pcs + k, (size_t)(g->n - k) * sizeof g->pcs[0]);
        g->n -= k;
    }
}

/* Merges identical stacks in order of first occurrence (quadratic in the
 * number of distinct stacks, with a hash to skip most compares). */
static size_t merge(gstack *st, size_t n, crec *out, bool with_labels)
{
    size_t k = 0;
    size_t hcap = 1;
    while (hcap < 2 * n + 2)
        hcap *= 2;
    int64_t *h = malloc(hcap * sizeof *h);
    if (h == NULL)
        return 0;
    for (size_t i = 0; i < hcap; i++)
        h[i] = -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0x9e3779b97f4a7c15ULL ^ (with_labels ? (uintptr_t)st[i].ls : 0);
        for (int j = 0; j < st[i].n; j++)
            x = (x ^ st[i].pcs[j]) * 0x100000001b3ULL;
        size_t j = (size_t)(x ^ (x >> 31)) & (hcap - 1);
        for (;; j = (j + 1) & (hcap - 1)) {
            if (h[j] < 0) {
                h[j] = (int64_t)k;
                out[k++] = (crec){1, &st[i]};
                break;
            }
            if (same_stack(out[h[j]].g, &st[i], with_labels)) {
                out[h[j]].count++;
                break;
            }
        }
    }
    free(h);
    return k;
}

/* Go's %q of s, for the text form's labels. */
static void put_quoted(rt__pbuf *t, const char *s)
{
    rt__pbuf_put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            rt__pbuf_printf(t, "\\%c", ch);
        else if (ch == '\n')
            rt__pbuf_put(t, "\\n", 2);
        else if (ch == '\t')
            rt__pbuf_put(t, "\\t", 2);
        else if (ch < 0x20 || ch == 0x7f)
            rt__pbuf_printf(t, "\\x%02x", ch);
        else
            rt__pbuf_put(t, (const char *)&ch, 1);
    }
    rt__pbuf_put(t, "\"", 1);
}

static int cmp_label(const void *a, const void *b)
{
    const rt__pprof_label *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->str ? x->str : "", y->str ? y->str : "");
}

/* Go 1.19's "# labels: {"k":"v", ...}" line of a record with labels
 * (sorted, as labelMap.String sorts them). */
static void put_labels(rt__pbuf *t, const struct rt__labelset *ls)
{
    rt__pprof_label lab[32];
    int nl = 0;
    rt__labels_to_pprof(ls, lab, &nl, 32);
    if (nl == 0)
        return;
    qsort(lab, (size_t)nl, sizeof lab[0], cmp_label);
    rt__pbuf_put(t, "# labels: {", 11);
    for (int i = 0; i < nl; i++) {
        if (i > 0)
            rt__pbuf_put(t, ", ", 2);
        put_quoted(t, lab[i].key);
        rt__pbuf_put(t, ":", 1);
        put_quoted(t, lab[i].str ? lab[i].str : "");
    }
    rt__pbuf_put(t, "}\n", 2);
}

/* printCountProfile (section 5) or the proto of a count profile. */
static int write_count(int fd, int debug, const char *name, crec *r, size_t k, size_t total)
{
    int err;
    if (debug <= 0) {
        rt__pprof *p = rt__pprof_new();
        if (p == NULL)
            return -ENOMEM;
        rt__pprof_sample_type(p, name, "count");
        rt__pprof_period(p, name, "count", 1);
        rt__pprof_times(p, rt__pprof_walltime(), 0);
        for (size_t i = 0; i < k; i++) {
            rt__pprof_label lab[32];
            int nl;
            rt__labels_to_pprof(r[i].g->ls, lab, &nl, 32);
            rt__pprof_sample(p, r[i].g->pcs, r[i].g->n, r[i].g->exact, &r[i].count, 1, lab,
                             nl);
        }
        err = rt__pprof_finish(p, fd);
        rt__pprof_free(p);
        return err;
    }
    rt__pbuf t = {0};
    rt__pbuf_printf(&t, "%s profile: total %zu\n", name, total);
    for (size_t i = 0; i < k; i++) {
        rt__pbuf_printf(&t, "%lld @", (long long)r[i].count);
        /* the record line shows return addresses; an exact leaf + 1, as
         * the listing backs every PC up by one */
        uintptr_t pcs[RT_PPROF_MAX_DEPTH];
        for (int j = 0; j < r[i].g->n; j++)
            pcs[j] = r[i].g->pcs[j] + (j == 0 && r[i].g->exact);
        rt__text_pcs(&t, pcs, r[i].g->n);
        rt__pbuf_put(&t, "\n", 1);
        if (r[i].g->ls != NULL)
            put_labels(&t, r[i].g->ls);
        rt__text_stack(&t, pcs, r[i].g->n, false, false);
    }
    err = rt__text_finish(&t, fd, true);
    rt__pbuf_free(&t);
    return err;
}

int rt__goroutineprof_write(int fd, int debug)
{
    if (debug >= 2) {
        rt__buf b;
        rt__buf_init(&b, fd);
        rt__print_all_goroutines_walking(&b, 1, rt__walk_running_g);
        rt__buf_flush(&b);
        /* a failed write is the caller's error, as with every other
         * profile (it returned 0 for a closed fd and /dev/full: an
         * outside tester's find) */
        return b.err;
    }
    collect_ctx c = {0};
    for (int attempt = 0; attempt < 8; attempt++) {
        c.cap = (size_t)count_gs() + 64 + ((size_t)attempt << 10);
        c.st = malloc(c.cap * sizeof *c.st);
        if (c.st == NULL)
            return -ENOMEM;
        if (collect(&c))
            break;
        free(c.st);
        c.st = NULL;
    }
    if (c.st == NULL)
        return -EAGAIN;
    crec *r = malloc((c.n + 1) * sizeof *r);
    if (r == NULL) {
        free(c.st);
        return -ENOMEM;
    }
    for (size_t i = 1; i < c.n; i++) /* [0]: the caller's own walk */
        strip_switch(&c.st[i]);
    /* records keyed by labels too, in the text form as well (Go 1.19's
     * printCountProfile prints them) */
    size_t k = merge(c.st, c.n, r, true);
    int err = write_count(fd, debug, "goroutine", r, k, c.n);
    free(r);
    free(c.st);
    return err;
}

/* Creation stacks of the first MAX_TC_MS threads, by M id: written once
 * by the creating thread before the M is published (allm's CAS releases
 * them), read after an acquire load of allm. */
#define MAX_TC_MS 256
#define TC_DEPTH 32
static struct {
    int n;
    uintptr_t pcs[TC_DEPTH];
} tc_stacks[MAX_TC_MS];

void rt__threadcreate_event(int64_t id)
{
    if (id < 0 || id >= MAX_TC_MS)
        return;
    int old = rt__pprof_walk_begin();
    /* 1: drop this function; newm's caller chain follows */
    tc_stacks[id].n = rt__callers(1, tc_stacks[id].pcs, NULL, TC_DEPTH);
    rt__pprof_walk_end(old);
}

typedef struct tc_ctx {
    gstack *st;
    size_t n, cap;
} tc_ctx;

static void collect_m(rt_m *mp, void *arg)
{
    tc_ctx *c = arg;
    if (c->n == c->cap)
        return;
    gstack *g = &c->st[c->n++];
    memset(g, 0, sizeof *g);
    if (mp->id >= 0 && mp->id < MAX_TC_MS) {
        g->n = tc_stacks[mp->id].n;
        memcpy(g->pcs, tc_stacks[mp->id].pcs, (size_t)g->n * sizeof g->pcs[0]);
    }
}

static void count_m(rt_m *mp, void *arg)
{
    (void)mp;
    (*(size_t *)arg)++;
}

size_t rt__threadcreate_count(void)
{
    size_t n = 0;
    rt__for_each_m(count_m, &n);
    return n;
}

int rt__threadcreateprof_write(int fd, int debug)
{
    size_t n = 0;
    rt__for_each_m(count_m, &n);
    tc_ctx c = {malloc((n + 1) * sizeof(gstack)), 0, n + 1};
    crec *r = malloc((n + 1) * sizeof *r);
    if (c.st == NULL || r == NULL) {
        free(c.st);
        free(r);
        return -ENOMEM;
    }
    rt__for_each_m(collect_m, &c);
    size_t k = merge(c.st, c.n, r, false);
    int err = write_count(fd, debug, "threadcreate", r, k, c.n);
    free(r);
    free(c.st);
    return err;
}

int rt_pprof_write(const char *name, int fd, int debug)
{
    if (name == NULL)
        return -EINVAL;
    if (fd < 0)
        return -EBADF; /* as rt_pprof_start_cpu and rt_write_heap_dump */
    if (strcmp(name, "heap") == 0)
        return rt__memprof_write(fd, debug, false);
    if (strcmp(name, "allocs") == 0)
        return rt__memprof_write(fd, debug, true);
    if (strcmp(name, "block") == 0)
        return rt__blockprof_write(fd, debug, false);
    if (strcmp(name, "mutex") == 0)
        return rt__blockprof_write(fd, debug, true);
    if (strcmp(name, "goroutine") == 0)
        return rt__goroutineprof_write(fd, debug);
    if (strcmp(name, "threadcreate") == 0)
        return rt__threadcreateprof_write(fd, debug);
    return -EINVAL;
}

/* CPUPROFILE and MEMPROFILE, called once by rt_main. */
void rt__pprof_env_start(void)
{
    rt__cpuprof_env_start();
    rt__memprof_env_start();
}
