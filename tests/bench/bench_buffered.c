/*
 * bench_buffered.c -- workload 3 of BENCHMARKS.md: a buffered stream.
 *
 * One producer sends the ints 0..N-1 (default N = 10M, int64_t elements)
 * through a channel of capacity 128 and closes it; main, the consumer,
 * receives until the channel reports closed.  Two processors (MAXPROCS=2),
 * so producer and consumer may run in parallel and the channel's lock and
 * wake-ups are contended.  The figure is nanoseconds per element.
 *
 * Check: exactly N elements arrive, in order (each is the previous plus
 * one: a channel is FIFO), and their sum is N(N-1)/2.
 */
#include "bench.h"

static rt_chan *stream;
static int64_t count;

static void producer(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < count; i++)
        rt_chan_send(stream, &i);
    rt_chan_close(stream);
}

static int bench_main(int argc, char **argv)
{
    count = bench_size(argc, argv, 10 * 1000 * 1000);
    stream = rt_chan_make(sizeof(int64_t), 128);
    if (stream == NULL)
        bench_fail("rt_chan_make returned NULL");
    if (rt_chan_cap(stream) != 128)
        bench_fail("rt_chan_cap = %zu, want 128", rt_chan_cap(stream));

    int64_t t0 = rt_nanotime();
    int64_t id = rt_go(producer, NULL);
    if (id < 0)
        bench_fail("rt_go: %s", strerror((int)-id));
    int64_t v, got = 0, sum = 0;
    while (rt_chan_recv(stream, &v)) {
        if (v != got)
            bench_fail("element %" PRId64 " is %" PRId64 " (out of order)", got, v);
        sum += v;
        got++;
    }
    int64_t elapsed = rt_nanotime() - t0;

    if (got != count || sum != count * (count - 1) / 2)
        bench_fail("received %" PRId64 " elements summing to %" PRId64
                   ", want %" PRId64 " summing to %" PRId64,
                   got, sum, count, count * (count - 1) / 2);

    char extra[64];
    snprintf(extra, sizeof extra, "n=%" PRId64, count);
    bench_result("buffered", "ns/op", (double)elapsed / (double)count, extra);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(bench_main, argc, argv);
}
