/*
 * bench_buffered.c -- workload 3 of BENCHMARKS.md: a buffered stream.
 *
 * One producer sends the ints 0..n-1 (b->n; BENCHMARKS.md: 10M, the
 * default; int64_t elements) through a channel of capacity 128 and closes
 * it; the benchmark's goroutine, the consumer, receives until the channel
 * reports closed.  Two processors (MAXPROCS=2), so producer and consumer
 * may run in parallel and the channel's lock and wake-ups are contended.
 * The figure is nanoseconds per element.  A Go-style benchmark (bench.h);
 * go/buffered/buffered_test.go is the same in Go.
 *
 * Check: exactly n elements arrive, in order (each is the previous plus
 * one: a channel is FIFO), and their sum is n(n-1)/2.
 */
#include "bench.h"

/* Set by the benchmark before it starts the producer. */
static rt_chan *stream;
static int64_t count;

static void producer(void *arg)
{
    (void)arg;
    const int64_t n = count;
    for (int64_t i = 0; i < n; i++)
        rt_chan_send(stream, &i);
    rt_chan_close(stream);
}

static void bench_buffered(rt_b *b)
{
    const int64_t n = count = b->n;
    stream = rt_chan_make(sizeof(int64_t), 128);
    if (stream == NULL)
        rt_b_fatalf(b, "rt_chan_make returned NULL");
    if (rt_chan_cap(stream) != 128)
        rt_b_fatalf(b, "rt_chan_cap = %zu, want 128", rt_chan_cap(stream));

    int64_t id = rt_go(producer, NULL);
    if (id < 0)
        rt_b_fatalf(b, "rt_go: %s", strerror((int)-id));
    int64_t v, got = 0, sum = 0;
    while (rt_chan_recv(stream, &v)) {
        if (v != got)
            rt_b_fatalf(b, "element %" PRId64 " is %" PRId64 " (out of order)", got, v);
        sum += v;
        got++;
    }
    rt_b_stop_timer(b);
    bench_check_stream(b, got, sum, n);
}

static const rt_benchmark benchmarks[] = {{"Buffered", bench_buffered}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 10 * 1000 * 1000, argc, argv);
}
