/*
 * examples/pipeline.c -- a pipeline of goroutines joined by channels, with
 * fan-out, fan-in and cancellation, after the Go blog's "Go Concurrency
 * Patterns: Pipelines and cancellation".
 *
 *     gen ──> drop multiples of 3 ──┬─> square ──┐
 *                                   ├─> square ──┼─> merge ──> sink (main)
 *                                   └─> square ──┘
 *
 * What it does
 *   Part 1 sends 1..N through the pipeline, sums what comes out and checks
 *   the count and the sum against a plain loop; it prints the time per
 *   item (each item makes three channel hops).
 *   Part 2 builds the same pipeline over an endless generator, takes the
 *   first few results and closes the done channel.  Every stage selects on
 *   done next to each send, so all of them return; the program checks that
 *   the number of goroutines falls back to where it started -- the
 *   pipeline leaked nothing.
 *
 *   Usage: pipeline [N]   (default 100000)
 *
 * Design notes
 *   - done is a chan struct{} (element size 0) that is only ever closed:
 *     a receive from a closed channel is always ready, so closing it is a
 *     broadcast to every stage at once.  This is the Go idiom; a per-stage
 *     stop flag would need polling and would not wake a blocked sender.
 *   - Each stage closes its output when it returns (Go's defer close(out)),
 *     so downstream ranges end; merge closes its output only after all of
 *     its copy goroutines are done, using a WaitGroup.
 *   - Stage records are malloc'd per run and freed only once every pipeline
 *     goroutine has exited; if the leak check fails they are leaked on
 *     purpose, since a goroutine might still read them.
 *   - Fan-out reorders items, so part 2 checks the property of each result
 *     (a square of a number that is not a multiple of 3, no duplicates), not
 *     the sequence.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

enum { FANOUT = 3, TAKE = 10 };

/* select { case out <- *v: return true; case <-done: return false } */
static bool send_or_done(rt_chan *out, rt_chan *done, const int64_t *v)
{
    rt_select_case cases[2] = {RT_SEND(out, v), RT_RECV(done, NULL)};
    return rt_select(cases, 2, true) == 0;
}

typedef struct stage {
    rt_chan *in, *out, *done;
    int64_t limit; /* gen only: last value, 0 for no end */
    rt_waitgroup *wg; /* merge copiers only */
} stage;

typedef struct pipeline {
    rt_chan *done;
    stage gen, filter, square[FANOUT], copy[FANOUT];
    rt_waitgroup merge_wg;
    rt_chan *merged;
} pipeline;

/* gen: 1, 2, 3, ... limit (or forever). */
static void gen(void *arg)
{
    stage *s = arg;
    for (int64_t i = 1; s->limit == 0 || i <= s->limit; i++)
        if (!send_or_done(s->out, s->done, &i))
            break;
    rt_chan_close(s->out);
}

/* filter: drops multiples of 3. */
static void filter(void *arg)
{
    stage *s = arg;
    int64_t v;
    while (rt_chan_recv(s->in, &v)) {
        if (v % 3 == 0)
            continue;
        if (!send_or_done(s->out, s->done, &v))
            break;
    }
    rt_chan_close(s->out);
}

/* square: one of FANOUT goroutines reading the same input channel. */
static void square(void *arg)
{
    stage *s = arg;
    int64_t v;
    while (rt_chan_recv(s->in, &v)) {
        v *= v;
        if (!send_or_done(s->out, s->done, &v))
            break;
    }
    rt_chan_close(s->out);
}

/* merge, part 1: copy one input into the shared output. */
static void merge_copy(void *arg)
{
    stage *s = arg;
    int64_t v;
    while (rt_chan_recv(s->in, &v))
        if (!send_or_done(s->out, s->done, &v))
            break;
    rt_waitgroup_done(s->wg);
}

/* merge, part 2: close the output once every copier is done. */
static void merge_close(void *arg)
{
    pipeline *p = arg;
    rt_waitgroup_wait(&p->merge_wg);
    rt_chan_close(p->merged);
}

/* Builds and starts the pipeline; returns its output channel. */
static pipeline *pipeline_start(int64_t limit)
{
    pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->done = rt_chan_make(0, 0); /* done := make(chan struct{}) */
    rt_chan *numbers = rt_chan_make(sizeof(int64_t), 0);
    rt_chan *kept = rt_chan_make(sizeof(int64_t), 0);
    p->merged = rt_chan_make(sizeof(int64_t), 0);

    p->gen = (stage){.out = numbers, .done = p->done, .limit = limit};
    p->filter = (stage){.in = numbers, .out = kept, .done = p->done};
    rt_go(gen, &p->gen);
    rt_go(filter, &p->filter);

    rt_waitgroup_add(&p->merge_wg, FANOUT);
    for (int i = 0; i < FANOUT; i++) {
        rt_chan *sq = rt_chan_make(sizeof(int64_t), 0);
        p->square[i] = (stage){.in = kept, .out = sq, .done = p->done};
        p->copy[i] = (stage){.in = sq, .out = p->merged, .done = p->done, .wg = &p->merge_wg};
        rt_go(square, &p->square[i]);
        rt_go(merge_copy, &p->copy[i]);
    }
    rt_go(merge_close, p);
    return p;
}

/* Waits (at most 2 s) for the goroutine count to fall to baseline. */
static bool wait_goroutines(int baseline)
{
    int64_t deadline = rt_nanotime() + 2 * RT_SECOND;
    while (rt_num_goroutine() > baseline) {
        if (rt_nanotime() > deadline)
            return false;
        rt_sleep(RT_MILLISECOND);
    }
    return true;
}

static bool is_square_of_non_multiple_of_3(int64_t v)
{
    int64_t r = 1;
    while (r * r < v)
        r++;
    return r * r == v && r % 3 != 0;
}

static int pipeline_main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 100000;
    if (n < 1 || n > 100000000) {
        fprintf(stderr, "usage: pipeline [N]   (1 <= N <= 100000000)\n");
        return 2;
    }
    int failures = 0;
    int baseline = rt_num_goroutine();
    printf("pipeline: MAXPROCS=%d, gen -> filter -> %d x square -> merge -> sink\n",
           rt_maxprocs(0), FANOUT);

    /* Part 1: 1..n through the whole pipeline. */
    int64_t t0 = rt_nanotime();
    pipeline *p = pipeline_start(n);
    if (!p) {
        fprintf(stderr, "pipeline: out of memory\n");
        return 1;
    }
    int64_t count = 0, sum = 0, v;
    while (rt_chan_recv(p->merged, &v)) { /* for v := range merged */
        count++;
        sum += v;
    }
    int64_t elapsed = rt_nanotime() - t0;

    int64_t want_count = 0, want_sum = 0;
    for (int64_t i = 1; i <= n; i++) {
        if (i % 3 != 0) {
            want_count++;
            want_sum += i * i;
        }
    }
    printf("  part 1: %lld items in, %lld squares out, sum %lld in %.1f ms (%.0f ns per item in)\n",
           (long long)n, (long long)count, (long long)sum, (double)elapsed / 1e6,
           (double)elapsed / (double)n);
    if (count != want_count || sum != want_sum) {
        printf("  part 1: FAIL: want %lld squares summing to %lld\n", (long long)want_count,
               (long long)want_sum);
        failures++;
    }
    if (!wait_goroutines(baseline)) {
        printf("  part 1: FAIL: %d goroutines still running, want %d\n", rt_num_goroutine(),
               baseline);
        failures++;
    } else {
        free(p);
    }

    /* Part 2: an endless generator, cancelled after TAKE results. */
    p = pipeline_start(0);
    if (!p) {
        fprintf(stderr, "pipeline: out of memory\n");
        return 1;
    }
    int running = rt_num_goroutine();
    int64_t taken[TAKE];
    for (int i = 0; i < TAKE; i++)
        rt_chan_recv(p->merged, &taken[i]);
    rt_chan_close(p->done); /* close(done): every stage returns */
    bool stopped = wait_goroutines(baseline);

    printf("  part 2: took");
    for (int i = 0; i < TAKE; i++)
        printf(" %lld", (long long)taken[i]);
    printf(" then closed done: %d -> %d goroutines\n", running, rt_num_goroutine());
    for (int i = 0; i < TAKE; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= taken[j] == taken[i];
        if (dup || !is_square_of_non_multiple_of_3(taken[i])) {
            printf("  part 2: FAIL: unexpected value %lld\n", (long long)taken[i]);
            failures++;
            break;
        }
    }
    if (!stopped) {
        printf("  part 2: FAIL: the pipeline did not stop (%d goroutines, want %d)\n",
               rt_num_goroutine(), baseline);
        failures++;
    } else {
        free(p);
    }

    printf("pipeline: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(pipeline_main, argc, argv);
}
