/*
 * bench_threadring.c -- workload 7 of BENCHMARKS.md: thread-ring.
 *
 * The benchmarks-game thread-ring: 503 goroutines in a ring, goroutine i
 * receiving on channel i and sending on channel i+1 (mod 503), all
 * unbuffered.  A token n (b->n; BENCHMARKS.md: 10M, the default) is given
 * to goroutine 1; each holder passes token-1 on, and the one that receives
 * 0 reports its number, which must be n mod 503 + 1.  Two processors
 * (MAXPROCS=2).  The figure is nanoseconds per hop (n hops), the ring's
 * set-up included as it always was (503 channels and goroutines: 0.01 % of
 * the defined run).  A Go-style benchmark (bench.h);
 * go/threadring/threadring_test.go is the same in Go.
 *
 * Once the winner has reported, the benchmark closes the ring's channels
 * and the other 502 goroutines, each waiting to receive, end: the run of
 * n=1 that both benchmark runners make first must not leave a ring
 * behind in the measured run.
 */
#include "bench.h"

enum { RING = 503 };

typedef struct ring_link {
    int64_t id;   /* 1..503, as the benchmarks game numbers them */
    rt_chan *in;  /* written once by main before the goroutine starts */
    rt_chan *out;
} ring_link;

/* One ring per run, built by the benchmark before its goroutines start. */
static ring_link ring[RING];
static rt_chan *done;

static void ringer(void *arg)
{
    const ring_link *l = arg;
    for (;;) {
        int64_t token;
        if (!rt_chan_recv(l->in, &token))
            return; /* the run is over */
        if (token == 0) {
            rt_chan_send(done, &l->id);
            return;
        }
        token--;
        rt_chan_send(l->out, &token);
    }
}

static void bench_threadring(rt_b *b)
{
    int64_t n = b->n;

    done = rt_chan_make(sizeof(int64_t), 0);
    for (int i = 0; i < RING; i++) {
        ring[i].id = i + 1;
        ring[i].in = rt_chan_make(sizeof(int64_t), 0);
        if (ring[i].in == NULL || done == NULL)
            rt_b_fatalf(b, "rt_chan_make returned NULL");
    }
    for (int i = 0; i < RING; i++) {
        ring[i].out = ring[(i + 1) % RING].in;
        int64_t id = rt_go(ringer, &ring[i]);
        if (id <= 0)
            rt_b_fatalf(b, "rt_go: %s", id < 0 ? strerror((int)-id) : "id 0");
    }
    rt_chan_send(ring[0].in, &n);
    int64_t winner = -1;
    if (!rt_chan_recv(done, &winner))
        rt_b_fatalf(b, "done channel closed");
    rt_b_stop_timer(b);

    for (int i = 0; i < RING; i++)
        rt_chan_close(ring[i].in);
    if (winner != n % RING + 1)
        rt_b_fatalf(b, "goroutine %" PRId64 " got the last token, want %" PRId64, winner,
                    n % RING + 1);
}

static const rt_benchmark benchmarks[] = {{"ThreadRing", bench_threadring}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return bench_run(benchmarks, 10 * 1000 * 1000, argc, argv);
}
