/*
 * bench_mutex.c -- workload 9 of BENCHMARKS.md: mutex lock/unlock.
 *
 * Two goroutines each do N (default 5M) rounds of lock, increment,
 * unlock, on two processors (MAXPROCS=2):
 *   one:    all rounds on one rt_mutex guarding one counter -- contended;
 *   shards: 64 shards, each a mutex and a counter padded to a 64-byte line;
 *           goroutine g's round i uses shard (i + 32 g) mod 64, so the two
 *           walk the shards half a ring apart and rarely meet.
 * The figure (value) is the one-mutex case in nanoseconds per round
 * (elapsed / 2N); shards= is the sharded case.  Both are compared to Go
 * (sync.Mutex, same shapes; the Go shard array is allocated with make so
 * that it sits in a 4096-byte size class and its lines are aligned too).
 *
 * Check: each counter total is exactly 2N; a broken mutex loses updates.
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
static int64_t rounds;
static rt_waitgroup wg;

static void one_worker(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < rounds; i++) {
        rt_mutex_lock(&one_mu);
        one_count++;
        rt_mutex_unlock(&one_mu);
    }
    rt_waitgroup_done(&wg);
}

static void shard_worker(void *arg)
{
    int64_t start = (int64_t)(intptr_t)arg * (SHARDS / 2);
    for (int64_t i = 0; i < rounds; i++) {
        shard *s = &shards[(i + start) % SHARDS];
        rt_mutex_lock(&s->mu);
        s->count++;
        rt_mutex_unlock(&s->mu);
    }
    rt_waitgroup_done(&wg);
}

/* Runs two goroutines of fn and returns the elapsed nanoseconds. */
static int64_t run_pair(void (*fn)(void *))
{
    int64_t t0 = rt_nanotime();
    rt_waitgroup_add(&wg, 2);
    for (intptr_t g = 0; g < 2; g++)
        if (rt_go(fn, (void *)g) <= 0)
            bench_fail("rt_go failed");
    rt_waitgroup_wait(&wg);
    return rt_nanotime() - t0;
}

static int bench_main(int argc, char **argv)
{
    rounds = bench_size(argc, argv, 5 * 1000 * 1000);

    int64_t e_one = run_pair(one_worker);
    if (one_count != 2 * rounds)
        bench_fail("one mutex: counter %" PRId64 ", want %" PRId64, one_count,
                   2 * rounds);

    int64_t e_shards = run_pair(shard_worker);
    int64_t total = 0;
    for (int i = 0; i < SHARDS; i++)
        total += shards[i].count;
    if (total != 2 * rounds)
        bench_fail("shards: counters sum to %" PRId64 ", want %" PRId64, total,
                   2 * rounds);

    char extra[96];
    snprintf(extra, sizeof extra, "n=%" PRId64 " shards=%.3f", rounds,
             (double)e_shards / (double)(2 * rounds));
    bench_result("mutex", "ns/op", (double)e_one / (double)(2 * rounds), extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
