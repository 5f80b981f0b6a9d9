/*
 * examples/contention_batching.c -- batching: sending arrays of 16 values
 * through a channel against sending one value per operation.
 *
 * The remedy, from the Go wiki's Performance page (Dmitry Vyukov):
 *   "Local caching and batching of updates can help to reduce contention on
 *   un-partitionable data structures.  Below you can see how to batch sends
 *   to a channel:"
 *
 *     const CacheSize = 16
 *     type Cache struct { buf [CacheSize]int; pos int }
 *     func Send(c chan [CacheSize]int, cache *Cache, value int) {
 *         cache.buf[cache.pos] = value
 *         cache.pos++
 *         if cache.pos == CacheSize { c <- cache.buf; cache.pos = 0 }
 *     }
 *
 * What it measures
 *   4 producer goroutines send the numbers 0..n-1 (each a quarter of them)
 *   over one shared channel to one consumer, which adds them up.
 *     variant 1  chan int64 with capacity 128: one value per send;
 *     variant 2  chan batch with capacity 8, a batch being up to 16 values
 *                and a count: each producer fills a local batch and sends
 *                it when full (and the partial last one at the end).
 *   Both channels buffer the same 128 values.  Each variant is timed with
 *   the testing.B-style loop of bench.h; ns/op is wall time per value.
 *
 *   Every channel operation takes the channel's lock and may wake a parked
 *   goroutine; with 4 producers and a consumer all of them meet on that one
 *   lock.  Batching divides the number of operations, locks and wake-ups by
 *   16 for the price of copying 136-byte elements, and of latency: a value
 *   waits in its producer's batch until the batch is full.
 *
 * What it checks
 *   In every run the consumer received exactly n values summing to
 *   n(n-1)/2.  Exit status 1 otherwise.
 *
 * Design notes
 *   - The wiki's Send never flushes a partial batch; a real program must
 *     (here: flush() when a producer is done), or the tail is lost.  The
 *     element carries its count so a partial batch can travel.
 *   - The consumer learns that all producers are done the Go way: they
 *     signal a WaitGroup, a closer goroutine waits on it and closes the
 *     channel, and the consumer's receive loop ends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "rt.h"

enum { PRODUCERS = 4, CACHE_SIZE = 16, BUFFERED_VALUES = 128 };
#define TARGET (300 * RT_MILLISECOND)

typedef struct batch {
    int32_t n;
    int64_t v[CACHE_SIZE];
} batch;

typedef struct run {
    bool batched;  /* the variant */
    rt_chan *c;    /* chan int64 or chan batch */
    rt_waitgroup wg;
    int failures;  /* runs whose count or sum was wrong; the bench goroutine only */
} run;

/* The Cache and Send of the wiki, plus the missing flush. */
typedef struct cache {
    batch buf;
} cache;

static void cache_send(rt_chan *c, cache *k, int64_t value)
{
    k->buf.v[k->buf.n++] = value;
    if (k->buf.n == CACHE_SIZE) {
        rt_chan_send(c, &k->buf);
        k->buf.n = 0;
    }
}

static void cache_flush(rt_chan *c, cache *k)
{
    if (k->buf.n > 0) {
        rt_chan_send(c, &k->buf);
        k->buf.n = 0;
    }
}

typedef struct producer {
    run *r;
    int64_t lo, hi; /* sends lo..hi-1 */
} producer;

static void producer_main(void *arg)
{
    producer *p = arg;
    rt_chan *c = p->r->c;
    if (p->r->batched) {
        cache k = {.buf = {.n = 0}};
        for (int64_t i = p->lo; i < p->hi; i++)
            cache_send(c, &k, i);
        cache_flush(c, &k);
    } else {
        for (int64_t i = p->lo; i < p->hi; i++)
            rt_chan_send(c, &i);
    }
    rt_waitgroup_done(&p->r->wg);
}

static void closer_main(void *arg)
{
    run *r = arg;
    rt_waitgroup_wait(&r->wg);
    rt_chan_close(r->c);
}

static void body(int64_t n, void *arg)
{
    run *r = arg;
    r->c = r->batched ? rt_chan_make(sizeof(batch), BUFFERED_VALUES / CACHE_SIZE)
                      : rt_chan_make(sizeof(int64_t), BUFFERED_VALUES);
    r->wg = (rt_waitgroup){0};
    producer ps[PRODUCERS];
    rt_waitgroup_add(&r->wg, PRODUCERS);
    for (int i = 0; i < PRODUCERS; i++) {
        ps[i] = (producer){.r = r, .lo = n * i / PRODUCERS, .hi = n * (i + 1) / PRODUCERS};
        rt_go(producer_main, &ps[i]);
    }
    rt_go(closer_main, r);

    /* The consumer: for v := range c { sum += v } */
    int64_t count = 0, sum = 0;
    if (r->batched) {
        batch b;
        while (rt_chan_recv(r->c, &b)) {
            for (int32_t k = 0; k < b.n; k++)
                sum += b.v[k];
            count += b.n;
        }
    } else {
        int64_t v;
        while (rt_chan_recv(r->c, &v)) {
            sum += v;
            count++;
        }
    }
    /* The closer has returned from wg.Wait, so ps is no longer used. */
    if (count != n || sum != n * (n - 1) / 2) {
        printf("  FAIL: %s run with n=%lld received %lld values summing to %lld\n",
               r->batched ? "batched" : "unbatched", (long long)n, (long long)count,
               (long long)sum);
        r->failures++;
    }
}

static int batching_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("contention_batching: MAXPROCS=%d, %d producers -> 1 consumer, "
           "%d values buffered in both\n",
           rt_maxprocs(0), PRODUCERS, BUFFERED_VALUES);
    run one = {.batched = false}, many = {.batched = true};
    bench_result r1 = bench_run(body, &one, TARGET);
    bench_print("one value per send", r1);
    bench_result r2 = bench_run(body, &many, TARGET);
    bench_print("batches of 16 per send", r2);
    printf("  batched / one per send: %.2fx the time per value\n",
           bench_ns_per_op(r2) / bench_ns_per_op(r1));
    bool ok = one.failures == 0 && many.failures == 0;
    printf("contention_batching: %s\n", ok ? "ok (every run's count and sum checked)" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    return rt_main(batching_main, argc, argv);
}
