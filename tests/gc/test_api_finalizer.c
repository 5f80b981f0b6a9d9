/*
 * tests/gc/test_api_finalizer.c -- rt_set_finalizer as runtime.SetFinalizer
 * (black-box: rt.h and the harness only).
 *
 * A finalizer runs once, on a goroutine, after its object has become
 * unreachable, and gets the object, intact; NULL clears it; a finalizer
 * that stores its object resurrects it; objects referenced by a finalizable
 * object are still intact when its finalizer runs; thousands of finalizers
 * all run.
 *
 * Objects are made on helper goroutines that exit, and only hidden copies
 * (~p) of their addresses are kept, so conservative scanning cannot retain
 * them by accident (see test_api_roots.c).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "gcapi.h"

/* Slots in bss for the tests' roots. */

/* Hidden addresses of the objects made, by id. */
static _Atomic uintptr_t g_made[NIDS];
static void *volatile g_slot[8];

/* ------------------------------------------------------- the basics -- */

static void make_three(void *arg)
{
    (void)arg;
    void *a = witness(64, 1), *b = witness_noscan(64, 2), *c = witness(1 << 20, 3);
    atomic_store(&g_made[1], hide(a));
    atomic_store(&g_made[2], hide(b));
    atomic_store(&g_made[3], hide(c));
    g_slot[0] = a;
    g_slot[1] = b;
    g_slot[2] = c;
}

/* Runs once the object is unreachable, not before; runs once; gets the
 * object, intact; runs on a goroutine (not on the collector's thread
 * outside any goroutine). */
RT_TEST(test_finalizer_runs_once_after_unreachable)
{
    on_goroutine(make_three, NULL);
    collect_rounds(4);
    for (unsigned id = 1; id <= 3; id++)
        REQUIRE_MSG(runs(id) == 0,
                    "finalizer %u ran while the object was reachable", id);
    g_slot[0] = g_slot[1] = g_slot[2] = NULL;
    COLLECT_UNTIL(runs(1) == 1 && runs(2) == 1 &&
                  runs(3) == 1);
    for (unsigned id = 1; id <= 3; id++) {
        REQUIRE_MSG(atomic_load(&fin_arg[id]) == atomic_load(&g_made[id]),
                    "finalizer %u got another object", id);
        REQUIRE_MSG(atomic_load(&fin_intact[id]), "object %u damaged when its "
                    "finalizer ran", id);
        int64_t goid = atomic_load(&fin_goid[id]);
        REQUIRE_GT(goid, 0);
        REQUIRE_NE(goid, 1); /* not on goroutine 1 */
    }
    collect_rounds(6);
    for (unsigned id = 1; id <= 3; id++)
        REQUIRE_MSG(runs(id) == 1, "finalizer %u ran %d times",
                    id, runs(id));
}

/* ------------------------------------------------------- NULL clears -- */

static void make_cleared(void *arg)
{
    (void)arg;
    void *a = witness(64, 1);
    rt_set_finalizer(a, NULL);
    witness(64, 2); /* the control: dropped at the same time */
    void *c = witness(40000, 3);
    rt_set_finalizer(c, NULL);
}

RT_TEST(test_null_clears_finalizer)
{
    on_goroutine(make_cleared, NULL);
    COLLECT_UNTIL(runs(2) == 1);
    collect_rounds(6);
    REQUIRE_EQ(runs(1), 0);
    REQUIRE_EQ(runs(3), 0);
}

/* A cleared object is then freed like any other: many of them, cleared,
 * do not pile up. */
static void make_cleared_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        void *p = rt_alloc(256);
        rt_set_finalizer(p, on_final);
        rt_set_finalizer(p, NULL);
    }
}

RT_TEST(test_cleared_objects_are_freed)
{
    rt_memstats *ms = malloc(sizeof *ms);
    rt_gc();
    rt_read_memstats(ms);
    uint64_t base = ms->heap_alloc;
    on_goroutine(make_cleared_many, NULL);
    scrub_stack();
    rt_gc();
    rt_gc();
    rt_read_memstats(ms);
    /* 20000 * 256 = 5 MB were allocated; nearly all of it is gone */
    REQUIRE_LT(ms->heap_alloc, base + 1000 * 256);
    free(ms);
    for (unsigned id = 0; id < NIDS; id++)
        REQUIRE_EQ(runs(id), 0);
}

/* ----------------------------------------------------------- resurrection -- */

static void *volatile g_resurrected;
static _Atomic int resurrect_runs;

static int resurrect_count(void) { return atomic_load(&resurrect_runs); }

static void on_final_again(void *obj)
{
    (void)obj;
    atomic_fetch_add(&resurrect_runs, 100);
}

static void resurrect(void *obj)
{
    atomic_fetch_add(&resurrect_runs, 1);
    g_resurrected = obj;
}

static void make_resurrecting(void *arg)
{
    (void)arg;
    uint64_t *p = rt_alloc(128);
    for (size_t i = 0; i < 16; i++)
        p[i] = pat(7, i);
    rt_set_finalizer(p, resurrect);
}

RT_TEST(test_finalizer_resurrects_object)
{
    on_goroutine(make_resurrecting, NULL);
    COLLECT_UNTIL(resurrect_count() == 1);
    /* Stored by its finalizer: alive, and never freed under us. */
    collect_rounds(8);
    REQUIRE(g_resurrected != NULL);
    REQUIRE_MSG(intact(g_resurrected, 128, 7),
                "resurrected object was freed and reused");
    REQUIRE_EQ(resurrect_count(), 1); /* a finalizer runs once */
    /* Armed again (Go allows SetFinalizer on a resurrected object) and
     * dropped: finalized a second time. */
    rt_set_finalizer(g_resurrected, on_final_again);
    g_resurrected = NULL;
    COLLECT_UNTIL(resurrect_count() == 101);
}

/* ------------------------------------------------- objects referenced -- */

/* A (finalizer) -> B (finalizer), A -> C (none).  When A's finalizer runs,
 * B and C are still intact (they are reachable from A), and B's finalizer
 * has not run (Go: only once A is freed). */
static _Atomic int order_ok = -1;
static _Atomic uintptr_t g_b_hidden;

static int order_result(void) { return atomic_load(&order_ok); }

static void on_final_a(void *obj)
{
    void **a = obj;
    bool ok = a[0] != NULL && a[1] != NULL && intact(a[0], 64, 2) &&
              intact(a[1], 4096, 3) && runs(2) == 0 &&
              hide(a[0]) == atomic_load(&g_b_hidden);
    atomic_store(&order_ok, ok);
}

static void make_chain(void *arg)
{
    (void)arg;
    void **a = rt_alloc(64);
    a[0] = witness(64, 2);
    atomic_store(&g_b_hidden, hide(a[0]));
    uint64_t *c = rt_alloc(4096);
    for (size_t i = 0; i < 512; i++)
        c[i] = pat(3, i);
    a[1] = c;
    rt_set_finalizer(a, on_final_a);
}

RT_TEST(test_finalizer_sees_referenced_objects)
{
    on_goroutine(make_chain, NULL);
    COLLECT_UNTIL(order_result() != -1);
    REQUIRE_MSG(atomic_load(&order_ok) == 1,
                "A's finalizer found B or C freed, or B finalized first");
    /* then B goes too */
    COLLECT_UNTIL(runs(2) == 1);
}

/* ------------------------------------------------------------- many -- */

static _Atomic int many_runs;
static _Atomic int many_bad;

static int many_count(void) { return atomic_load(&many_runs); }
static int many_bad_count(void) { return atomic_load(&many_bad); }

static void on_final_many(void *obj)
{
    uint64_t *w = obj;
    if (w[0] != (MAGIC ^ (uintptr_t)obj))
        atomic_fetch_add(&many_bad, 1);
    atomic_fetch_add(&many_runs, 1);
}

enum { MANY = 20000 };

static void make_many(void *arg)
{
    (void)arg;
    static const size_t sizes[] = {16, 32, 64, 200, 1024, 5000, 40000};
    for (int i = 0; i < MANY; i++) {
        size_t n = sizes[i % 7];
        if (n == 40000 && i % 70 != 6)
            n = 512; /* a few large ones only */
        uint64_t *p = i % 3 == 0 ? rt_alloc_noscan(n) : rt_alloc(n);
        p[0] = MAGIC ^ (uintptr_t)p;
        rt_set_finalizer(p, on_final_many);
    }
}

RT_TEST(test_many_finalizers_all_run)
{
    on_goroutine(make_many, NULL);
    COLLECT_UNTIL(many_count() == MANY);
    REQUIRE_EQ(many_bad_count(), 0);
    collect_rounds(2);
    REQUIRE_EQ(many_count(), MANY);
}

/* Finalizers may allocate, and objects made by a finalizer are collected
 * like any others. */
static _Atomic int alloc_runs;

static int alloc_count(void) { return atomic_load(&alloc_runs); }

static void make_witness9(void *arg)
{
    (void)arg;
    witness(64, 9); /* dropped at once: finalized in a later cycle */
}

static void on_final_alloc(void *obj)
{
    (void)obj;
    for (int i = 0; i < 100; i++) {
        void *p = rt_alloc(128);
        memset(p, 1, 128);
    }
    /* The witness is made on a goroutine the finalizer starts, which ends
     * at once: made on the finalizer goroutine itself, a copy of its
     * address could stay in that goroutine's saved registers or frame
     * while it waits for the next finalizer, and the conservative scan
     * keeps it (an ASan CI run: not collected after 400 cycles). */
    if (atomic_fetch_add(&alloc_runs, 1) == 0)
        rt_go(make_witness9, NULL);
}

static void make_allocating(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        rt_set_finalizer(rt_alloc(64), on_final_alloc);
}

RT_TEST(test_finalizer_may_allocate)
{
    on_goroutine(make_allocating, NULL);
    COLLECT_UNTIL(alloc_count() == 100);
    COLLECT_UNTIL(runs(9) == 1);
}

/* Objects kept for their finalizers do not raise the next heap goal (Go's
 * goal leaves them out as well): 24 MiB of dropped finalizable objects,
 * then a collection that queues every finalizer, and the goal is set by
 * what is really live, not by what waits for a finalizer. */
static _Atomic int goal_fins;

static void count_goal_fin(void *obj)
{
    (void)obj;
    atomic_fetch_add(&goal_fins, 1);
}

static void make_finalizable(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        rt_set_finalizer(rt_alloc(256), count_goal_fin);
}

RT_TEST(test_finalizable_garbage_not_in_goal)
{
    rt_set_gc_percent(-1); /* only the collections below */
    on_goroutine(make_finalizable, NULL);
    scrub_stack();
    rt_gc();
    rt_memstats ms;
    rt_read_memstats(&ms);
    rt_set_gc_percent(100);
    rt_read_memstats(&ms);
    REQUIRE_MSG(ms.next_gc < ((uint64_t)16 << 20), "next_gc %llu MiB with 24 MiB waiting for finalizers",
                (unsigned long long)(ms.next_gc >> 20));
    COLLECT_UNTIL(atomic_load(&goal_fins) >= 99000);
}

/* ------------------------------------------- written while marking -- */

/* The contents of an object with a finalizer are roots until it runs,
 * including what is stored into the object while a concurrent mark phase
 * runs.  A goroutine keeps moving an object X from a slot of array Z into
 * an object F with a finalizer, taken out of array H (then F is dropped),
 * while a collection marks a long list that leads to H and Z: F's contents
 * may have been read before the store, and H and Z after it, so X is kept
 * only if F is read again.  It also gives old objects, taken out of array
 * L, a finalizer (then drops them): their contents were no roots when the
 * phase began.  Each F's finalizer finds its X intact; X's
 * memory, freed by mistake, is handed out again to another X with another
 * id (the refills and the churn below). */
typedef struct wx {
    uint64_t magic;
    uint64_t id;
} wx;
typedef struct wf {
    uint64_t magic;
    uint64_t want; /* the id of the X moved in */
    wx *child;
} wf;
typedef struct wlink {
    struct wlink *next;
    void *tail;
} wlink;
typedef struct warrays {
    wf **h;
    wx **z;
    wf **l; /* objects that get their finalizer late */
} warrays;

#define WX_MAGIC 0x5858585800000000ull
#define WF_MAGIC 0x4646464600000000ull
enum { WSLOTS = 4096, WCHAIN = 400000 };

static wlink *volatile g_wchain;
static _Atomic int w_runs, w_bad, w_stop;
static _Atomic long w_dropped;

static void on_final_written(void *obj)
{
    wf *f = obj;
    wx *x = f->child;
    if (f->magic != WF_MAGIC || x == NULL || x->magic != WX_MAGIC || x->id != f->want)
        atomic_fetch_add(&w_bad, 1);
    atomic_fetch_add(&w_runs, 1);
}

static uint64_t w_next_id = 1;

NOINLINE static wx *new_wx(void)
{
    wx *x = rt_alloc_noscan(sizeof *x);
    x->magic = WX_MAGIC;
    x->id = w_next_id++;
    return x;
}

NOINLINE static wf *new_wf(bool fin)
{
    wf *f = rt_new(wf);
    f->magic = WF_MAGIC;
    f->child = new_wx();
    f->want = f->child->id;
    if (fin)
        rt_set_finalizer(f, on_final_written);
    return f;
}

static void build_written(void *arg)
{
    (void)arg;
    warrays *a = rt_new(warrays);
    a->h = rt_new_array(wf *, WSLOTS);
    a->z = rt_new_array(wx *, WSLOTS);
    a->l = rt_new_array(wf *, WSLOTS);
    for (int i = 0; i < WSLOTS; i++) {
        a->h[i] = new_wf(true);
        a->z[i] = new_wx();
        a->l[i] = new_wf(false);
    }
    wlink *head = NULL;
    for (int i = 0; i < WCHAIN; i++) {
        wlink *l = rt_new(wlink);
        l->next = head;
        l->tail = i == 0 ? a : NULL;
        head = l;
    }
    g_wchain = head;
}

NOINLINE static warrays *written_arrays(void)
{
    wlink *l = g_wchain;
    while (l->next != NULL)
        l = l->next;
    return l->tail;
}

static void mutate_written(void *arg)
{
    (void)arg;
    warrays *a = written_arrays();
    uint64_t r = 88172645463325252ull;
    while (!atomic_load(&w_stop)) {
        for (int k = 0; k < 64; k++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            size_t i = (size_t)(r % WSLOTS);
            wf *f = a->h[i];
            wx *x = a->z[i];
            a->h[i] = NULL;
            a->z[i] = NULL;
            f->want = x->id;
            f->child = x; /* F dropped: X lives in F only */
            a->h[i] = new_wf(true);
            a->z[i] = new_wx();
            /* an old object given a finalizer while marking, then
             * dropped: its old X lives in it only */
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            size_t j = (size_t)(r % WSLOTS);
            wf *g = a->l[j];
            rt_set_finalizer(g, on_final_written);
            a->l[j] = new_wf(false);
            atomic_fetch_add(&w_dropped, 2);
        }
        for (int k = 0; k < 256; k++) { /* churn of X's size */
            uint64_t *p = rt_alloc_noscan(16);
            p[0] = p[1] = 0x7777777777777777ull;
        }
        rt_yield();
    }
    scrub_stack();
}

RT_TEST(test_finalizable_contents_written_while_marking)
{
    rt_set_gc_percent(20);
    on_goroutine(build_written, NULL);
    rt_chan *done = rt_chan_make(sizeof(int), 1);
    helper h = {mutate_written, NULL, done};
    REQUIRE_GT(rt_go(helper_main, &h), 0);
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t t0 = rt_nanotime();
    for (;;) { /* 2 s and 10 cycles (slow builds: up to 30 s) */
        rt_sleep(10 * RT_MILLISECOND);
        int64_t el = rt_nanotime() - t0;
        rt_read_memstats(&ms);
        if ((el >= 2 * RT_SECOND && ms.num_gc - gc0 >= 10) || el >= 30 * RT_SECOND)
            break;
    }
    atomic_store(&w_stop, 1);
    REQUIRE(rt_chan_recv(done, NULL));
    rt_read_memstats(&ms);
    rt_set_gc_percent(100);
    g_wchain = NULL; /* every F left goes too */
    long want = atomic_load(&w_dropped) + WSLOTS;
    COLLECT_UNTIL(atomic_load(&w_runs) >= want - 8);
    REQUIRE_MSG(atomic_load(&w_bad) == 0,
                "%d of %d finalizers found the object stored into theirs freed "
                "(%u cycles, %ld stores)",
                atomic_load(&w_bad), atomic_load(&w_runs), ms.num_gc - gc0,
                atomic_load(&w_dropped));
    REQUIRE_GE(ms.num_gc - gc0, 10);
}

/* Go's SetFinalizer ignores an object in the data or bss segments (never
 * unreachable, its finalizer would never run) and is fatal for a pointer
 * outside the heap otherwise, or into the middle of an object. */
static long static_obj;
static const int rodata_obj = 7;

static void never(void *p)
{
    (void)p;
    abort();
}

RT_TEST(test_finalizer_on_static_object_is_ignored)
{
    rt_set_finalizer(&static_obj, never);
    rt_set_finalizer(&static_obj, never); /* not "already set" either */
    rt_gc();
    rt_gc();
}

static int scenario_main(int argc, char **argv)
{
    const char *s = argv[argc - 1];
    if (strcmp(s, "malloc") == 0) {
        rt_set_finalizer(malloc(64), never);
    } else if (strcmp(s, "rodata") == 0) { /* not writable: not data or bss */
        rt_set_finalizer((void *)&rodata_obj, never);
    } else if (strcmp(s, "interior") == 0) {
        char *p = rt_alloc(64);
        rt_set_finalizer(p + 8, never);
    }
    return 0;
}

RT_TEST(test_finalizer_misuse_is_fatal)
{
    expect_fatal("malloc", "runtime.SetFinalizer: pointer not in allocated block");
    expect_fatal("rodata", "runtime.SetFinalizer: pointer not in allocated block");
    expect_fatal("interior", "runtime.SetFinalizer: pointer not at beginning of allocated block");
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("gc_api_finalizer");
    TCase *tc = tcase_create("finalizer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_finalizer_runs_once_after_unreachable);
    tcase_add_test(tc, test_null_clears_finalizer);
    tcase_add_test(tc, test_cleared_objects_are_freed);
    tcase_add_test(tc, test_finalizer_resurrects_object);
    tcase_add_test(tc, test_finalizer_sees_referenced_objects);
    tcase_add_test(tc, test_many_finalizers_all_run);
    tcase_add_test(tc, test_finalizer_may_allocate);
    tcase_add_test(tc, test_finalizer_on_static_object_is_ignored);
    tcase_add_test(tc, test_finalizable_garbage_not_in_goal);
    tcase_add_test(tc, test_finalizable_contents_written_while_marking);
    tcase_add_test(tc, test_finalizer_misuse_is_fatal);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario_main);
}
