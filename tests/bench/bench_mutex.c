/*
 * bench_mutex.c -- workload 9 of BENCHMARKS.md: mutex lock/unlock.
 *
 * Two goroutines do rounds of lock, increment, unlock, on two processors
 * (MAXPROCS=2), as two Go-style benchmarks (bench.h):
 *   Mutex:       all rounds on one rt_mutex guarding one counter --
 *                contended;
 *   MutexShards: 64 shards, each a mutex and a counter padded to a 64-byte
 *                line; goroutine g's round i uses shard (i + 32 g) mod 64,
 *                so the two walk the shards half a ring apart and rarely
 *                meet.
 * One operation is one round of either goroutine: b->n rounds, half each,
 * so ns/op is BENCHMARKS.md's nanoseconds per round (elapsed / 2N for its
 * 2 x 5M rounds: -benchtime=10000000x, the default).  run.sh reports
 * Mutex as value= and MutexShards as shards=.  go/mutex/mutex_test.go is
 * the same (sync.Mutex, same shapes; the Go shard array is allocated with
 * make so that it sits in a 4096-byte size class and its lines are
 * aligned too).
 *
 * Check: each counter total is exactly b->n; a broken mutex loses updates.
 */
#include "bench.h"

enum { SHARDS = 64, LINE = 64 };

typedef struct shard {
    _Alignas(LINE) rt_mutex mu;
    int64_t count; /* protected by mu */
} shard;
_Static_assert(sizeof(shard) == LINE, "a shard is one cache line");

static rt_mutex one_mu;
static int64_t one_count; /* protected by one_mu */
static shard shards[SHARDS];
static int64_t rounds[2]; /* goroutine g's share; set before it starts */
static rt_waitgroup wg;

static void one_worker(void *arg)
{
    const int64_t n = rounds[(intptr_t)arg];
    for (int64_t i = 0; i < n; i++) {
        rt_mutex_lock(&one_mu);
        one_count++;
        rt_mutex_unlock(&one_mu);
    }
    rt_waitgroup_done(&wg);
}

static void shard_worker(void *arg)
{
    const int64_t n = rounds[(intptr_t)arg];
    int64_t start = (int64_t)(intptr_t)arg * (SHARDS / 2);
    for (int64_t i = 0; i < n; i++) {
        shard *s = &shards[(i + start) % SHARDS];
        rt_mutex_lock(&s->mu);
        s->count++;
        rt_mutex_unlock(&s->mu);
    }
    rt_waitgroup_done(&wg);
}

/* Runs two goroutines of fn sharing b->n rounds, timed. */
static void run_pair(rt_b *b, void (*fn)(void *))
{
    rounds[0] = b->n - b->n / 2;
    rounds[1] = b->n / 2;
    rt_waitgroup_add(&wg, 2);
    for (intptr_t g = 0; g < 2; g++)
        if (rt_go(fn, (void *)g) <= 0)
            rt_b_fatalf(b, "rt_go failed");
    rt_waitgroup_wait(&wg);
    rt_b_stop_timer(b);
}

static void bench_mutex(rt_b *b)
{
    one_count = 0;
    run_pair(b, one_worker);
    if (one_count != b->n)
        rt_b_fatalf(b, "one mutex: counter %" PRId64 ", want %" PRId64, one_count, b->n);
}

static void bench_mutex_shards(rt_b *b)
{
    for (int i = 0; i < SHARDS; i++)
        shards[i].count = 0;
    run_pair(b, shard_worker);
    int64_t total = 0;
    for (int i = 0; i < SHARDS; i++)
        total += shards[i].count;
    if (total != b->n)
        rt_b_fatalf(b, "shards: counters sum to %" PRId64 ", want %" PRId64, total, b->n);
}

static const rt_benchmark benchmarks[] = {
    {"Mutex", bench_mutex},
    {"MutexShards", bench_mutex_shards},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 10 * 1000 * 1000, argc, argv);
}
