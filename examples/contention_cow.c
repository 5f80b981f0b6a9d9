/*
 * examples/contention_cow.c -- copy-on-write: publishing a read-mostly
 * config through an atomic pointer, against a config guarded by a mutex.
 *
 * The remedy, from the Go wiki's Performance page (Dmitry Vyukov):
 *   "In some cases it's possible to remove mutexes entirely by using
 *   copy-on-write technique.  If the protected data structure is modified
 *   infrequently and it's feasible to make copies of it, then it can be
 *   updated as follows:"
 *
 *     var config atomic.Value // actual type is *Config
 *     func CurrentConfig() *Config { return config.Load().(*Config) }
 *     func UpdateConfig(cfg *Config) { config.Store(cfg) }
 *
 *   "This pattern prevents the writer from blocking readers during update."
 *
 * What it measures
 *   8 goroutines route requests: each operation reads the current config
 *   and picks a backend for a key from its table of 16.  One operation in
 *   1000 is an update that installs a new version of the config with new
 *   backend addresses.
 *     variant 1  one config behind an rt_mutex: readers lock, read the
 *                version and a backend, unlock; the writer rewrites it in
 *                place under the lock;
 *     variant 2  the current config is a C11 `_Atomic(config *)`: readers do
 *                one acquire load and read the config through the pointer
 *                without any lock; the writer copies the config, changes
 *                the copy and publishes it with a release store.
 *   Each variant is timed with the testing.B-style loop of bench.h and
 *   prints ns/op (wall time over all goroutines' operations).
 *
 *   The reader's fast path in variant 2 writes no shared memory at all, so
 *   readers on different processors never slow each other down; variant 1
 *   writes the mutex word twice per read even when uncontended, and with
 *   MAXPROCS >= 2 that cache line bounces between cores.
 *
 * Memory orders
 *   The release store of the new pointer orders every write made to the
 *   copy before the publication; a reader's acquire load of that pointer
 *   then sees the complete copy.  (memory_order_consume would do on paper,
 *   but compilers promote it to acquire.)
 *
 * Reclaiming old configs
 *   In Go the garbage collector frees a replaced config once no reader
 *   holds it.  grt's collector is not in rt.h yet, so this program uses
 *   malloc and the simplest safe rule: a replaced config is pushed on a
 *   "retired" list and freed only when no reader can still hold it -- after
 *   the benchmark run has joined all its goroutines.  A long-running C
 *   program would need epochs, hazard pointers or RCU here; this is the
 *   part that a GC makes free, and why the pattern is so common in Go.
 *
 * Writers
 *   Copy-on-write serializes writers among themselves with a mutex that
 *   readers never touch (Go's sync/atomic docs show the same), so two
 *   updates cannot both copy the same old version and lose one another.
 *
 * What it checks
 *   Every read saw a consistent config (each backend address encodes the
 *   version it belongs to), and at the end the version equals the number
 *   of updates.  Exit status 1 otherwise.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "rt.h"

enum { GOROUTINES = 8, NBACKENDS = 16, WRITE_EVERY = 1000 };
#define TARGET (300 * RT_MILLISECOND)

typedef struct config {
    int64_t version;
    int nbackends;
    uint64_t backends[NBACKENDS]; /* "addresses": version << 8 | index */
    struct config *retired_next;  /* on the retired list; writers only */
} config;

static uint64_t backend_addr(int64_t version, int i)
{
    return (uint64_t)version << 8 | (uint64_t)i;
}

static void config_fill(config *c, int64_t version)
{
    c->version = version;
    c->nbackends = NBACKENDS;
    for (int i = 0; i < NBACKENDS; i++)
        c->backends[i] = backend_addr(version, i);
}

/* Both variants' state; each run uses one of them. */
typedef struct shared {
    bool use_cow; /* set before a run, read-only during it */

    /* variant 1 */
    alignas(64) rt_mutex mu; /* guards locked */
    config locked;

    /* variant 2 */
    alignas(64) _Atomic(config *) current; /* acquire loads, release stores */
    alignas(64) rt_mutex writer_mu;        /* writers only; guards retired */
    config *retired;                       /* replaced configs, freed after a run */

    alignas(64) _Atomic int64_t updates; /* relaxed: summed after the joins */
    _Atomic int64_t torn;
    _Atomic int64_t sink;
} shared;

/* ---------------------------------------------------- variant 1: mutex -- */

static uint64_t mutex_route(shared *s, uint64_t key, int64_t *torn)
{
    rt_mutex_lock(&s->mu);
    int i = (int)(key % (uint64_t)s->locked.nbackends);
    uint64_t addr = s->locked.backends[i];
    int64_t version = s->locked.version;
    rt_mutex_unlock(&s->mu);
    *torn += addr != backend_addr(version, i);
    return addr;
}

static void mutex_update(shared *s)
{
    rt_mutex_lock(&s->mu);
    config_fill(&s->locked, s->locked.version + 1);
    rt_mutex_unlock(&s->mu);
}

/* -------------------------------------------- variant 2: copy-on-write -- */

/* CurrentConfig(): one acquire load, no lock, no shared write. */
static const config *current_config(shared *s)
{
    return atomic_load_explicit(&s->current, memory_order_acquire);
}

static uint64_t cow_route(shared *s, uint64_t key, int64_t *torn)
{
    const config *c = current_config(s);
    int i = (int)(key % (uint64_t)c->nbackends);
    uint64_t addr = c->backends[i];
    *torn += addr != backend_addr(c->version, i);
    return addr;
}

/* UpdateConfig(): copy, change the copy, publish it. */
static void cow_update(shared *s)
{
    rt_mutex_lock(&s->writer_mu);
    /* Relaxed is enough: writer_mu orders this load after the last store. */
    config *old = atomic_load_explicit(&s->current, memory_order_relaxed);
    config *next = malloc(sizeof *next);
    if (!next) {
        fprintf(stderr, "contention_cow: out of memory\n");
        exit(1);
    }
    *next = *old;
    config_fill(next, old->version + 1);
    atomic_store_explicit(&s->current, next, memory_order_release);
    old->retired_next = s->retired; /* readers may still hold old */
    s->retired = old;
    rt_mutex_unlock(&s->writer_mu);
}

/* Frees the retired configs.  Only when no goroutine of a run is left. */
static void free_retired(shared *s)
{
    while (s->retired) {
        config *c = s->retired;
        s->retired = c->retired_next;
        free(c);
    }
}

/* ---------------------------------------------------------------- bench -- */

static void run_ops(int id, int64_t n, void *arg)
{
    shared *s = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1);
    int64_t updates = 0, torn = 0;
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((i + id) % WRITE_EVERY == WRITE_EVERY - 1) {
            if (s->use_cow)
                cow_update(s);
            else
                mutex_update(s);
            updates++;
        } else {
            uint64_t key = bench_rand(&rng);
            sum += s->use_cow ? cow_route(s, key, &torn) : mutex_route(s, key, &torn);
        }
    }
    atomic_fetch_add_explicit(&s->updates, updates, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->torn, torn, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sink, (int64_t)sum, memory_order_relaxed);
}

static void body(int64_t n, void *arg)
{
    shared *s = arg;
    bench_parallel(GOROUTINES, n, run_ops, s);
    free_retired(s); /* every reader of this run has returned */
}

static bool check(const char *name, shared *s)
{
    int64_t updates = atomic_load_explicit(&s->updates, memory_order_relaxed);
    int64_t torn = atomic_load_explicit(&s->torn, memory_order_relaxed);
    const config *c = s->use_cow ? current_config(s) : &s->locked;
    bool ok = torn == 0 && c->version == updates;
    for (int i = 0; i < c->nbackends; i++)
        ok &= c->backends[i] == backend_addr(c->version, i);
    printf("  check %-14s %lld updates, version %lld, %lld inconsistent reads: %s\n", name,
           (long long)updates, (long long)c->version, (long long)torn, ok ? "ok" : "FAIL");
    return ok;
}

static shared *shared_new(bool use_cow)
{
    shared *s = aligned_alloc(64, sizeof *s);
    config *first = malloc(sizeof *first);
    if (!s || !first) {
        free(s);
        free(first);
        return NULL;
    }
    *first = (config){0};
    config_fill(first, 0);
    *s = (shared){.use_cow = use_cow};
    config_fill(&s->locked, 0);
    atomic_init(&s->current, first);
    return s;
}

static int cow_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    shared *locked = shared_new(false);
    shared *cow = shared_new(true);
    if (!locked || !cow) {
        fprintf(stderr, "contention_cow: out of memory\n");
        return 1;
    }

    printf("contention_cow: MAXPROCS=%d, %d goroutines, 1 update per %d ops\n", rt_maxprocs(0),
           GOROUTINES, WRITE_EVERY);
    bench_result r1 = bench_run(body, locked, TARGET);
    bench_print("mutex-guarded config", r1);
    bench_result r2 = bench_run(body, cow, TARGET);
    bench_print("copy-on-write, _Atomic pointer", r2);
    printf("  copy-on-write / mutex: %.2fx the time per op\n",
           bench_ns_per_op(r2) / bench_ns_per_op(r1));

    bool ok = check("mutex", locked);
    ok &= check("copy-on-write", cow);
    printf("contention_cow: %s\n", ok ? "ok" : "FAIL");

    free(atomic_load_explicit(&locked->current, memory_order_relaxed));
    free(atomic_load_explicit(&cow->current, memory_order_relaxed));
    free(locked);
    free(cow);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    return rt_main(cow_main, argc, argv);
}
