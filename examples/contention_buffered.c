/*
 * examples/contention_buffered.c -- buffered against unbuffered channels
 * between a producer and a consumer that both do some work per item.
 *
 * The remedy, from the Go wiki's Performance page (Dmitry Vyukov):
 *   "Use sufficiently buffered channels in producer-consumer scenarios.
 *   Unbuffered channels substantially limit available parallelism in the
 *   program."
 *
 * What it measures
 *   One producer goroutine makes items (a sequence number and a payload
 *   that costs ~WORK_ROUNDS multiply-xorshift rounds to compute) and sends
 *   them to one consumer, which spends as long again on each payload.  The
 *   same pair runs over channels of capacity 0 (unbuffered), 16 and 128.
 *   Each variant is timed with the testing.B-style loop of bench.h; ns/op
 *   is wall time per item.
 *
 *   Unbuffered, a send completes only when a receiver takes the value, so
 *   the two goroutines move in lock-step: whenever one is a little ahead it
 *   parks and must be woken by the other.  With MAXPROCS >= 2 each park and
 *   wake-up hands the goroutine to another thread (a futex wake and a
 *   sleeping thread's start), which costs far more than the work.  With
 *   MAXPROCS=1 the pair takes turns on one thread either way, but
 *   unbuffered it switches goroutines on every item, buffered only once per
 *   buffer-full.  A buffer lets the producer run ahead and both keep going
 *   without parking, as long as their speeds are similar on average.
 *
 * What it checks
 *   The consumer saw the sequence numbers 0, 1, 2, ... in order (channels
 *   are FIFO) and its checksum of the payloads equals the producer's.
 *   Exit status 1 otherwise.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "rt.h"

enum { WORK_ROUNDS = 24 };
#define TARGET (250 * RT_MILLISECOND)

typedef struct item {
    int64_t seq;
    uint64_t payload;
} item;

/* ~WORK_ROUNDS dependent multiply-xorshift rounds: a stand-in for real work. */
static uint64_t work(uint64_t x)
{
    for (int i = 0; i < WORK_ROUNDS; i++) {
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ULL;
    }
    return x;
}

typedef struct pair {
    size_t cap;
    rt_chan *c;
    int64_t n;
    uint64_t sent_checksum; /* written by the producer before close(c) */
    uint64_t sink;
    int failures; /* runs that failed a check; the bench goroutine only */
} pair;

static void producer_main(void *arg)
{
    pair *p = arg;
    uint64_t checksum = 0;
    for (int64_t i = 0; i < p->n; i++) {
        item it = {.seq = i, .payload = work((uint64_t)i)};
        checksum += it.payload;
        rt_chan_send(p->c, &it);
    }
    p->sent_checksum = checksum;
    rt_chan_close(p->c); /* publishes sent_checksum to the receiver */
}

static void body(int64_t n, void *arg)
{
    pair *p = arg;
    p->n = n;
    p->c = rt_chan_make(sizeof(item), p->cap);
    rt_go(producer_main, p);

    /* The consumer: for it := range c { ... } */
    item it;
    int64_t next = 0;
    uint64_t checksum = 0, sink = 0;
    bool in_order = true;
    while (rt_chan_recv(p->c, &it)) {
        in_order &= it.seq == next++;
        checksum += it.payload;
        sink += work(it.payload);
    }
    p->sink += sink;
    if (!in_order || next != n || checksum != p->sent_checksum) {
        printf("  FAIL: cap %zu, n=%lld: %lld items, %s, checksum %s\n", p->cap, (long long)n,
               (long long)next, in_order ? "in order" : "OUT OF ORDER",
               checksum == p->sent_checksum ? "ok" : "WRONG");
        p->failures++;
    }
}

static int buffered_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static const size_t caps[] = {0, 16, 128};
    enum { NCAPS = sizeof caps / sizeof caps[0] };
    pair pairs[NCAPS];
    bench_result res[NCAPS];

    printf("contention_buffered: MAXPROCS=%d, 1 producer -> 1 consumer, "
           "%d work rounds on each side per item\n",
           rt_maxprocs(0), WORK_ROUNDS);
    /* Baseline: the work alone, in one goroutine. */
    uint64_t x = 0;
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < 1000000; i++)
        x += work(work((uint64_t)i));
    printf("  (the work of one item, both sides, serially: %.1f ns)\n",
           (double)(rt_nanotime() - t0) / 1e6);

    int failures = 0;
    for (int k = 0; k < NCAPS; k++) {
        pairs[k] = (pair){.cap = caps[k], .sink = x};
        res[k] = bench_run(body, &pairs[k], TARGET);
        char name[64];
        snprintf(name, sizeof name, caps[k] ? "buffered, cap %zu" : "unbuffered (cap %zu)",
                 caps[k]);
        bench_print(name, res[k]);
        failures += pairs[k].failures;
    }
    for (int k = 1; k < NCAPS; k++)
        printf("  cap %zu / unbuffered: %.2fx the time per item\n", caps[k],
               bench_ns_per_op(res[k]) / bench_ns_per_op(res[0]));
    printf("contention_buffered: %s\n", failures ? "FAIL" : "ok (order and checksums checked)");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(buffered_main, argc, argv);
}
