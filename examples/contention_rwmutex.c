/*
 * examples/contention_rwmutex.c -- read-mostly data behind an RWMutex
 * against the same data behind a Mutex.
 *
 * The remedy, from the Go wiki's Performance page (Dmitry Vyukov):
 *   "Use sync.RWMutex instead of sync.Mutex for read-mostly workloads.
 *   Readers never block other readers in sync.RWMutex, even on
 *   implementation level."
 *
 * What it measures
 *   8 goroutines share a small table (a version number and 64 values, all
 *   equal to the version).  999 operations in 1000 are reads: take the
 *   lock, check that every value equals the version and add them up, drop
 *   the lock.  The 1000th is a write: bump the version and rewrite all 64
 *   values.  Variant 1 guards the table with an rt_mutex for both; variant
 *   2 with an rt_rwmutex, read-locked for reads.  Each variant is timed with
 *   the testing.B-style loop of bench.h and prints ns/op (wall time over
 *   all goroutines' operations).
 *
 *   With MAXPROCS=1 only one goroutine runs at a time, so neither lock is
 *   contended and the RWMutex is a little slower (its read path is two
 *   atomic adds on reader_count_ and its write path does more).  With
 *   MAXPROCS >= 2 readers run their ~64-load critical sections side by
 *   side under the RWMutex, but take turns under the Mutex.  The RWMutex
 *   still makes every reader write one shared counter, so that cache line
 *   moves between cores on each read: the win grows with the length of the
 *   read-side critical section.  When the section is only a few loads, the
 *   copy-on-write example (contention_cow.c) is the better remedy.
 *
 * What it checks
 *   No read ever saw a torn table (a value different from the version),
 *   and at the end the version equals the number of writes made.  A torn
 *   read would mean a reader and a writer were inside at the same time.
 *   Exit status 1 otherwise.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "rt.h"

enum { GOROUTINES = 8, NVALS = 64, WRITE_EVERY = 1000 };
#define TARGET (300 * RT_MILLISECOND)

typedef struct shared {
    alignas(64) rt_mutex mu; /* variant 1: guards data */
    alignas(64) rt_rwmutex rw; /* variant 2: guards data */
    alignas(64) struct {
        int64_t version;
        int64_t vals[NVALS];
    } data;
    bool use_rw; /* set before the run, read-only during it */
    _Atomic int64_t writes; /* relaxed: summed after the joins */
    _Atomic int64_t torn;
    _Atomic int64_t sink; /* keeps the sums alive */
} shared;

static void read_lock(shared *s)
{
    if (s->use_rw)
        rt_rwmutex_rlock(&s->rw);
    else
        rt_mutex_lock(&s->mu);
}

static void read_unlock(shared *s)
{
    if (s->use_rw)
        rt_rwmutex_runlock(&s->rw);
    else
        rt_mutex_unlock(&s->mu);
}

static void write_lock(shared *s)
{
    if (s->use_rw)
        rt_rwmutex_lock(&s->rw);
    else
        rt_mutex_lock(&s->mu);
}

static void write_unlock(shared *s)
{
    if (s->use_rw)
        rt_rwmutex_unlock(&s->rw);
    else
        rt_mutex_unlock(&s->mu);
}

static void run_ops(int id, int64_t n, void *arg)
{
    shared *s = arg;
    int64_t writes = 0, torn = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((i + id) % WRITE_EVERY == WRITE_EVERY - 1) {
            write_lock(s);
            int64_t v = ++s->data.version;
            for (int k = 0; k < NVALS; k++)
                s->data.vals[k] = v;
            write_unlock(s);
            writes++;
        } else {
            read_lock(s);
            int64_t v = s->data.version;
            for (int k = 0; k < NVALS; k++) {
                torn += s->data.vals[k] != v;
                sum += s->data.vals[k];
            }
            read_unlock(s);
        }
    }
    atomic_fetch_add_explicit(&s->writes, writes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->torn, torn, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sink, sum, memory_order_relaxed);
}

static void body(int64_t n, void *arg)
{
    bench_parallel(GOROUTINES, n, run_ops, arg);
}

static bool check(const char *name, shared *s)
{
    int64_t writes = atomic_load_explicit(&s->writes, memory_order_relaxed);
    int64_t torn = atomic_load_explicit(&s->torn, memory_order_relaxed);
    bool ok = torn == 0 && s->data.version == writes;
    for (int k = 0; k < NVALS; k++)
        ok &= s->data.vals[k] == s->data.version;
    printf("  check %-8s %lld writes, version %lld, %lld torn reads: %s\n", name,
           (long long)writes, (long long)s->data.version, (long long)torn, ok ? "ok" : "FAIL");
    return ok;
}

static int rw_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    shared *mu = aligned_alloc(64, sizeof(shared));
    shared *rw = aligned_alloc(64, sizeof(shared));
    if (!mu || !rw) {
        fprintf(stderr, "contention_rwmutex: out of memory\n");
        return 1;
    }
    *mu = (shared){.use_rw = false};
    *rw = (shared){.use_rw = true};

    printf("contention_rwmutex: MAXPROCS=%d, %d goroutines, 1 write per %d ops, "
           "%d values read per op\n",
           rt_maxprocs(0), GOROUTINES, WRITE_EVERY, NVALS);
    bench_result r1 = bench_run(body, mu, TARGET);
    bench_print("Mutex   (reads and writes)", r1);
    bench_result r2 = bench_run(body, rw, TARGET);
    bench_print("RWMutex (RLock for reads)", r2);
    printf("  RWMutex / Mutex: %.2fx the time per op\n",
           bench_ns_per_op(r2) / bench_ns_per_op(r1));

    bool ok = check("Mutex", mu);
    ok &= check("RWMutex", rw);
    printf("contention_rwmutex: %s\n", ok ? "ok" : "FAIL");
    free(mu);
    free(rw);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    return rt_main(rw_main, argc, argv);
}
