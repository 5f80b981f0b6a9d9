/*
 * bench_finalizers.c -- workload 16 (grt's own, not in BENCHMARKS.md):
 * collector pauses with many objects that have finalizers.
 *
 * N (default 2M, argv[1]) live 64-byte objects, each with a finalizer and
 * a child object that only it points to, kept in one array; then T seconds
 * (default 10, argv[2]) in which one goroutine allocates 64-byte garbage
 * as fast as it can and, every 1024 objects, points one of the N at a new
 * child.  Figures: value = the longest stop-the-world pause (PauseNs) of
 * the cycles of that phase, in us; num_gc, rss_mb.  Then the first half
 * of the objects is dropped and collected: exactly N/2 finalizers must
 * run, none of them for a kept object, and every child reached from a
 * finalizer or from a kept object must be intact.  The same program as
 * go/finalizers/main.go.
 *
 * Why: a finalizer's object keeps what it points to until it runs, so a
 * collector must read every such object each cycle; grt once did it with
 * the world stopped (0.5-1.2 s for 2M, finalizer.c says how it stopped).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"

typedef struct child {
    int64_t id;
    int64_t check;
} child;

typedef struct fobj {
    child *c;
    int64_t id;
    int64_t pad[6];
} fobj;

static fobj **objs;
static int64_t nobj;
static _Atomic int64_t nfinal, nbad;
static child *volatile sink;

static int64_t check_of(int64_t id) { return id * 0x9e3779b97f4a7c15LL ^ 0x2545F4914F6CDD1DLL; }

static child *new_child(int64_t id)
{
    child *c = rt_new(child);
    c->id = id;
    c->check = check_of(id);
    return c;
}

static void on_final(void *p)
{
    fobj *o = p;
    /* only the dropped half, and its child intact */
    if (o->id >= nobj / 2 || o->c == NULL || o->c->id != o->id || o->c->check != check_of(o->id))
        atomic_fetch_add(&nbad, 1);
    atomic_fetch_add(&nfinal, 1);
}

static rt_memstats ms;

static int bench_main(int argc, char **argv)
{
    nobj = bench_arg(argc, argv, 1, 2000000);
    int64_t secs = bench_arg(argc, argv, 2, 10);

    objs = rt_new_array(fobj *, (size_t)nobj);
    for (int64_t i = 0; i < nobj; i++) {
        fobj *o = rt_new(fobj);
        o->id = i;
        o->c = new_child(i);
        rt_set_finalizer(o, on_final);
        objs[i] = o;
    }
    rt_gc();

    rt_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    int64_t t0 = rt_nanotime(), end = t0 + secs * RT_SECOND, k = 0;
    uint64_t r = 88172645463325252ull;
    while (rt_nanotime() < end) {
        for (int j = 0; j < 1024; j++)
            sink = rt_new(child);
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int64_t i = (int64_t)(r % (uint64_t)nobj);
        objs[i]->c = new_child(i);
        k++;
    }
    sink = NULL;
    rt_read_memstats(&ms);
    uint32_t ngc = ms.num_gc - gc0;
    uint64_t stw = bench_max_pause_ns(&ms, gc0);
    double rss = (double)bench_peak_rss() / 1e6;

    /* Drop the first half; its finalizers must all run, and only those. */
    for (int64_t i = 0; i < nobj / 2; i++)
        objs[i] = NULL;
    for (int round = 0; round < 100 && atomic_load(&nfinal) < nobj / 2; round++) {
        rt_gc();
        rt_sleep(10 * RT_MILLISECOND);
    }
    if (atomic_load(&nfinal) != nobj / 2)
        bench_fail("%" PRId64 " finalizers ran, want %" PRId64, atomic_load(&nfinal), nobj / 2);
    if (atomic_load(&nbad) != 0)
        bench_fail("%" PRId64 " finalizers found their object kept or its child damaged",
                   atomic_load(&nbad));
    for (int64_t i = nobj / 2; i < nobj; i++) {
        child *c = objs[i]->c;
        if (objs[i]->id != i || c->id != i || c->check != check_of(i))
            bench_fail("kept object %" PRId64 " or its child damaged", i);
    }

    char extra[256];
    snprintf(extra, sizeof extra, "num_gc=%" PRIu32 " rss_mb=%.0f n=%" PRId64 " secs=%" PRId64
             " rewires=%" PRId64, ngc, rss, nobj, secs, k);
    bench_result("finalizers", "us", (double)stw / 1e3, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
