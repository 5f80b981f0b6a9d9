/*
 * examples/bench.h -- Go's testing.B loop in a few lines, shared by the
 * contention_*.c examples.
 *
 * What it does
 *   bench_run() calls a body with an operation count n, times it with the
 *   monotonic clock, and grows n until one call lasts at least the target
 *   time.  The last call is the measurement: ns/op = elapsed / n.  This is
 *   how `go test -bench` chooses b.N: start at 1, predict the n that would
 *   fill the target from the previous run, add 20%, never grow more than
 *   100x at once and never exceed 1e9.  bench_parallel() is the
 *   b.RunParallel of this header: it splits n operations over g goroutines
 *   and joins them with a WaitGroup.
 *
 * Why a header and not a library
 *   Every example is meant to be read (and copied) on its own; the only
 *   thing they share is this measuring loop, so it is a page of static
 *   inline functions next to them rather than something in libgrt.
 *
 * Rejected alternatives
 *   - A fixed n per example: it is either too short to measure on a fast
 *     machine or far too long once the variant under test contends (a
 *     parked mutex waiter costs microseconds, an uncontended lock a few
 *     nanoseconds).  Calibrating keeps every variant near its target time.
 *   - Timing a fixed duration and counting operations: the goroutines would
 *     need a shared "stop" flag polled in the hot loop, which is itself a
 *     contended cache line -- the very thing the examples measure.
 *
 * Invariants
 *   - The body performs exactly n operations; the bench results count them.
 *   - Only rt.h is used: these are user programs.
 */
#ifndef GRT_EXAMPLES_BENCH_H
#define GRT_EXAMPLES_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "rt.h"

typedef struct bench_result {
    int64_t n;  /* operations in the measured call */
    int64_t ns; /* its wall time */
} bench_result;

static inline double bench_ns_per_op(bench_result r)
{
    return r.n > 0 ? (double)r.ns / (double)r.n : 0.0;
}

/* Go's predictN: the n that would fill goal_ns, +20%, at most 100x the last
 * n, at least last+1, at most 1e9. */
static inline int64_t bench_predict(int64_t goal_ns, int64_t prev_n, int64_t prev_ns)
{
    if (prev_ns <= 0)
        prev_ns = 1;
    int64_t n = goal_ns * prev_n / prev_ns; /* < 2^63: goal <= 1e10, prev_n <= 1e9 */
    n += n / 5;
    if (n > 100 * prev_n)
        n = 100 * prev_n;
    if (n < prev_n + 1)
        n = prev_n + 1;
    if (n > 1000000000)
        n = 1000000000;
    return n;
}

/* Runs body(n, arg) with growing n until one run takes target_ns. */
static inline bench_result bench_run(void (*body)(int64_t n, void *arg), void *arg,
                                     int64_t target_ns)
{
    bench_result r = {.n = 1, .ns = 0};
    for (;;) {
        int64_t t0 = rt_nanotime();
        body(r.n, arg);
        r.ns = rt_nanotime() - t0;
        if (r.ns >= target_ns || r.n >= 1000000000)
            return r;
        r.n = bench_predict(target_ns, r.n, r.ns);
    }
}

/* One line in the style of `go test -bench` output. */
static inline void bench_print(const char *name, bench_result r)
{
    printf("  %-34s %10lld ops %10.1f ns/op\n", name, (long long)r.n, bench_ns_per_op(r));
}

/* ---------------------------------------------------- bench_parallel -- */

enum { BENCH_MAX_GOROUTINES = 64 };

typedef struct bench_part {
    void (*fn)(int id, int64_t n, void *arg);
    void *arg;
    int id;
    int64_t n;
    rt_waitgroup *wg;
} bench_part;

static inline void bench_part_main(void *p)
{
    bench_part *part = p;
    part->fn(part->id, part->n, part->arg);
    rt_waitgroup_done(part->wg);
}

/*
 * Splits n operations over g goroutines (g <= BENCH_MAX_GOROUTINES): each
 * runs fn(id, share, arg), ids 0..g-1, the shares summing to n.  Returns
 * once all have finished.  The bench_part records live in this frame, which
 * outlives the goroutines because of the wait (goroutine stacks never move,
 * so handing out pointers into it is safe).
 */
static inline void bench_parallel(int g, int64_t n, void (*fn)(int id, int64_t n, void *arg),
                                  void *arg)
{
    bench_part parts[BENCH_MAX_GOROUTINES];
    rt_waitgroup wg = {0};
    if (g < 1)
        g = 1;
    if (g > BENCH_MAX_GOROUTINES)
        g = BENCH_MAX_GOROUTINES;
    rt_waitgroup_add(&wg, g);
    for (int i = 0; i < g; i++) {
        parts[i] = (bench_part){.fn = fn, .arg = arg, .id = i,
                                .n = n / g + (i < n % g ? 1 : 0), .wg = &wg};
        if (rt_go(bench_part_main, &parts[i]) < 0) {
            fprintf(stderr, "bench: rt_go failed\n");
            /* run it here instead, so that the join below still completes */
            bench_part_main(&parts[i]);
        }
    }
    rt_waitgroup_wait(&wg);
}

/* xorshift64*: a tiny deterministic random source, one per goroutine. */
static inline uint64_t bench_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* GRT_EXAMPLES_BENCH_H */
