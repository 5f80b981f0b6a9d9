/*
 * examples/contention_sharded_map.c -- partitioning: one map behind one
 * mutex against the same map cut into 64 shards with a mutex each.
 *
 * The remedy, from the Go wiki's Performance page (Dmitry Vyukov):
 *   "Partitioning is another general technique for reducing
 *   contention/blocking on shared mutable data structures."
 *
 *     type Partition struct { sync.RWMutex; m map[string]string }
 *     const partCount = 64
 *     var m [partCount]Partition
 *     func Find(k string) string {
 *         idx := hash(k) % partCount
 *         part := &m[idx]
 *         part.RLock(); v := part.m[k]; part.RUnlock()
 *         return v
 *     }
 *
 * What it measures
 *   8 goroutines run a word-count style workload on a map from int64 keys
 *   (16384 of them, chosen at random) to int64 counters: three lookups for
 *   every m[k]++.  Variant 1 keeps one table behind one rt_mutex; variant 2
 *   keeps 64 tables, each behind its own rt_mutex on its own cache line,
 *   and picks the shard from the top bits of the key's hash.  Each variant
 *   is timed with the testing.B-style loop of bench.h and prints ns/op
 *   (wall time over all goroutines' operations).
 *
 *   With MAXPROCS=1 the two are close: no two goroutines ever run at once,
 *   so the single mutex is never contended (grt does not preempt, so a
 *   goroutine holding it is never switched out).  With MAXPROCS >= 2 every
 *   operation on the single mutex contends with the other processor and the
 *   cache line holding the mutex (and the table) bounces between cores; the
 *   shards mostly do not collide.
 *
 * What it checks
 *   After both runs, the counters in each map add up to exactly the number
 *   of increments made on it (a lost update would mean broken locking), and
 *   no lookup ever found a negative counter.  Exit status 1 otherwise.
 *
 * Design notes
 *   - Both variants use a plain mutex so that the only difference is the
 *     partitioning; the wiki's version also uses RWMutex per partition,
 *     which contention_rwmutex.c measures on its own.
 *   - The tables are fixed-size open addressing (C has no map type).  They
 *     never grow; sizes are checked at start-up so that a probe always
 *     ends.  A growing map would make sharding look even better: one shard
 *     growing stalls only the goroutines that need that shard.
 *   - The shard array is aligned to 64 bytes and each shard padded to a
 *     multiple of it, so two shards' mutexes never share a cache line
 *     (false sharing would bring back part of the contention).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "rt.h"

enum {
    GOROUTINES = 8,
    NKEYS = 1 << 14,
    SHARDS = 64,             /* power of two */
    SHARD_SLOTS = 1 << 10,   /* ~256 keys per shard on average */
    SINGLE_SLOTS = 1 << 15,  /* 2 x NKEYS */
    INCREMENT_EVERY = 4,     /* 1 op in 4 is m[k]++, the rest lookups */
};
#define TARGET (300 * RT_MILLISECOND)

static uint64_t hash64(uint64_t x) /* splitmix64's finalizer */
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}

/* ------------------------------------------------------------- a table -- */

typedef struct entry {
    int64_t key1; /* key + 1; 0 marks an empty slot */
    int64_t val;
} entry;

typedef struct table {
    entry *slots;
    uint64_t mask; /* slots - 1 */
} table;

static bool table_init(table *t, size_t slots)
{
    t->slots = calloc(slots, sizeof *t->slots);
    t->mask = slots - 1;
    return t->slots != NULL;
}

/* &m[key] (inserting a zero counter if insert), or NULL if absent.  The
 * caller holds the table's mutex. */
static int64_t *table_find(table *t, uint64_t h, int64_t key, bool insert)
{
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        entry *e = &t->slots[i];
        if (e->key1 == key + 1)
            return &e->val;
        if (e->key1 == 0) {
            if (!insert)
                return NULL;
            e->key1 = key + 1;
            return &e->val;
        }
    }
}

static int64_t table_sum(const table *t)
{
    int64_t sum = 0;
    for (uint64_t i = 0; i <= t->mask; i++)
        sum += t->slots[i].val;
    return sum;
}

/* ------------------------------------------------------------- the maps -- */

typedef struct single_map {
    rt_mutex mu; /* guards t */
    table t;
} single_map;

typedef struct shard {
    alignas(64) rt_mutex mu; /* guards t */
    table t;
} shard;

typedef struct sharded_map {
    shard shards[SHARDS];
} sharded_map;

/* What one run of a variant shares. */
typedef struct workload {
    single_map *single;  /* exactly one of the two is set */
    sharded_map *sharded;
    _Atomic int64_t increments; /* all runs: relaxed, summed after joins */
    _Atomic int64_t negatives;  /* lookups that saw a counter < 0 */
    uint64_t seed;
} workload;

static void run_ops(int id, int64_t n, void *arg)
{
    workload *w = arg;
    uint64_t rng = w->seed ^ hash64((uint64_t)id + 1);
    int64_t increments = 0, negatives = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = bench_rand(&rng);
        int64_t key = (int64_t)(r % NKEYS);
        bool inc = (r >> 32) % INCREMENT_EVERY == 0;
        uint64_t h = hash64((uint64_t)key);
        rt_mutex *mu;
        table *t;
        if (w->single) {
            mu = &w->single->mu;
            t = &w->single->t;
        } else {
            shard *s = &w->sharded->shards[h >> 58]; /* top 6 bits: 64 shards */
            mu = &s->mu;
            t = &s->t;
        }
        rt_mutex_lock(mu);
        int64_t *v = table_find(t, h, key, inc);
        if (inc)
            ++*v;
        else if (v && *v < 0)
            negatives++;
        rt_mutex_unlock(mu);
        increments += inc;
    }
    atomic_fetch_add_explicit(&w->increments, increments, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->negatives, negatives, memory_order_relaxed);
}

static void body(int64_t n, void *arg)
{
    workload *w = arg;
    w->seed = hash64(w->seed + (uint64_t)n);
    bench_parallel(GOROUTINES, n, run_ops, w);
}

/* Every shard must be able to hold all the keys that hash to it, with room. */
static bool shard_sizes_ok(void)
{
    static int per_shard[SHARDS];
    for (int64_t k = 0; k < NKEYS; k++)
        per_shard[hash64((uint64_t)k) >> 58]++;
    for (int s = 0; s < SHARDS; s++)
        if (per_shard[s] * 2 > SHARD_SLOTS)
            return false;
    return NKEYS * 2 <= SINGLE_SLOTS;
}

static int sharded_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (!shard_sizes_ok()) {
        fprintf(stderr, "contention_sharded_map: tables too small for the keys\n");
        return 1;
    }
    single_map *single = calloc(1, sizeof *single);
    sharded_map *sharded = aligned_alloc(64, sizeof *sharded);
    if (!single || !sharded || !table_init(&single->t, SINGLE_SLOTS)) {
        fprintf(stderr, "contention_sharded_map: out of memory\n");
        return 1;
    }
    for (int s = 0; s < SHARDS; s++) {
        sharded->shards[s].mu = (rt_mutex){0};
        if (!table_init(&sharded->shards[s].t, SHARD_SLOTS)) {
            fprintf(stderr, "contention_sharded_map: out of memory\n");
            return 1;
        }
    }

    printf("contention_sharded_map: MAXPROCS=%d, %d goroutines, %d keys, "
           "1 increment per %d ops\n",
           rt_maxprocs(0), GOROUTINES, NKEYS, INCREMENT_EVERY);
    workload one = {.single = single, .seed = 1};
    workload many = {.sharded = sharded, .seed = 2};
    bench_result r1 = bench_run(body, &one, TARGET);
    bench_print("one map, one mutex", r1);
    bench_result r2 = bench_run(body, &many, TARGET);
    bench_print("64 shards, one mutex each", r2);
    printf("  sharded / single: %.2fx the time per op\n",
           bench_ns_per_op(r2) / bench_ns_per_op(r1));

    int failures = 0;
    int64_t sum1 = table_sum(&single->t), sum2 = 0;
    for (int s = 0; s < SHARDS; s++)
        sum2 += table_sum(&sharded->shards[s].t);
    int64_t inc1 = atomic_load_explicit(&one.increments, memory_order_relaxed);
    int64_t inc2 = atomic_load_explicit(&many.increments, memory_order_relaxed);
    int64_t neg = atomic_load_explicit(&one.negatives, memory_order_relaxed) +
                  atomic_load_explicit(&many.negatives, memory_order_relaxed);
    printf("  check: counters sum to the increments made: single %lld/%lld, sharded %lld/%lld\n",
           (long long)sum1, (long long)inc1, (long long)sum2, (long long)inc2);
    if (sum1 != inc1 || sum2 != inc2 || neg != 0) {
        printf("contention_sharded_map: FAIL (lost updates or a corrupt counter)\n");
        failures++;
    } else {
        printf("contention_sharded_map: ok\n");
    }

    free(single->t.slots);
    free(single);
    for (int s = 0; s < SHARDS; s++)
        free(sharded->shards[s].t.slots);
    free(sharded);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(sharded_main, argc, argv);
}
