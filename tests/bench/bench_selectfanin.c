/*
 * bench_selectfanin.c -- workload 18 (grt's own, not in BENCHMARKS.md): a
 * fan-in by select.
 *
 * Eight producers each send their share of the ints 0..n-1 (b->n) through
 * their own channel of capacity 16 and close it; the benchmark's goroutine
 * receives with one rt_select over the eight channels, setting a case's
 * channel to NULL once it reports closed (Go's nil-ing of a closed
 * channel), until all are closed.  The figure is nanoseconds per element;
 * run at MAXPROCS=1 and 2.  An outside tester's program of this shape ran
 * 1.5x (one processor) and 2.4x (two) Go's time before select's lock order
 * became an insertion sort (sched/select.c).  A Go-style benchmark
 * (bench.h); go/selectfanin/selectfanin_test.go is the same in Go.
 *
 * Check: every element arrives once (count and sum), and each producer's
 * elements in the order it sent them.
 */
#include "bench.h"

#define PRODUCERS 8

typedef struct producer_arg {
    rt_chan *c;
    int64_t first, count; /* sends first, first + PRODUCERS, ... */
} producer_arg;

static void producer(void *arg)
{
    producer_arg *p = arg;
    for (int64_t i = 0; i < p->count; i++) {
        int64_t v = p->first + i * PRODUCERS;
        rt_chan_send(p->c, &v);
    }
    rt_chan_close(p->c);
}

static void bench_selectfanin(rt_b *b)
{
    const int64_t n = b->n;
    producer_arg args[PRODUCERS];
    rt_select_case cases[PRODUCERS];
    int64_t v, last[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        args[k].c = rt_chan_make(sizeof(int64_t), 16);
        if (args[k].c == NULL)
            rt_b_fatalf(b, "rt_chan_make returned NULL");
        args[k].first = k;
        args[k].count = n / PRODUCERS + (k < n % PRODUCERS ? 1 : 0);
        last[k] = k - PRODUCERS;
        cases[k] = RT_RECV(args[k].c, &v);
    }
    for (int k = 0; k < PRODUCERS; k++)
        if (rt_go(producer, &args[k]) < 0)
            rt_b_fatalf(b, "rt_go failed");
    int64_t got = 0, sum = 0;
    for (int open = PRODUCERS; open > 0;) {
        int k = rt_select(cases, PRODUCERS, true);
        if (k < 0 || k >= PRODUCERS)
            rt_b_fatalf(b, "rt_select returned %d", k);
        if (!cases[k].ok) {
            cases[k].chan = NULL;
            open--;
            continue;
        }
        if (v != last[k] + PRODUCERS)
            rt_b_fatalf(b, "producer %d sent %" PRId64 " after %" PRId64, k, v, last[k]);
        last[k] = v;
        sum += v;
        got++;
    }
    rt_b_stop_timer(b);
    bench_check_stream(b, got, sum, n);
}

static const rt_benchmark benchmarks[] = {{"SelectFanin", bench_selectfanin}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 2 * 1000 * 1000, argc, argv);
}
