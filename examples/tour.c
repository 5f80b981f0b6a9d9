/*
 * examples/tour.c -- a three-second tour of grt: goroutines, channels,
 * select, timers, a ticker, a WaitGroup and a mutex, in one program that a
 * Go programmer should be able to read as if it were Go.
 *
 *   Run it with the scheduler tracer on:
 *       DEBUG=schedtrace=1000 ./build/examples/tour
 *   and a SCHED line appears every second next to the tour's own progress
 *   line, showing the processors busy and goroutines queued on them.
 *
 * What it computes
 *   Collatz stopping times: for every n in 1, 2, 3, ... the number of steps
 *   of n -> n/2 (n even), 3n+1 (n odd) until n reaches 1.  The numbers are
 *   cut into chunks of CHUNK, and for three seconds
 *
 *       generator ──jobs──> 8 workers ──results──> main (aggregator)
 *                             │
 *                             └─> map[goroutine id]chunks, behind a mutex
 *
 *   the generator hands out chunks, the workers compute each chunk's total
 *   steps and its longest chain, and main folds the results together.  Main
 *   is one select loop over four channels:
 *     - results        a worker finished a chunk;
 *     - ticker         once a second: print progress;
 *     - stop           a timer that fires after 3 s: close(done), which
 *                      tells the generator to stop; the case is then
 *                      disabled by setting its channel to NULL (a nil
 *                      channel is never ready -- the Go idiom);
 *     - idle           a watchdog timer, reset on every result: if no result
 *                      arrives for 2 s the pipeline is stuck and the tour
 *                      fails instead of hanging.
 *   When the generator stops it closes jobs; the workers drain it and
 *   return; a closer goroutine waits on the WaitGroup and closes results,
 *   which ends main's loop.
 *
 * What it checks (exit status 1 if any check fails)
 *   - chunks sent by the generator == chunks taken by the workers == results
 *     aggregated, and every chunk index arrived exactly once;
 *   - the mutex-protected map agrees with each worker's own count;
 *   - a sample of chunks recomputed serially gives the same totals;
 *   - the longest chains below 10^6, 10^7 and 10^8 (when the tour got that
 *     far) are the known records 837799 (524 steps), 8400511 (685) and
 *     63728127 (949).
 *
 * Design notes
 *   - A chunk is ~1000 Collatz walks (~0.1-0.3 ms): long enough that the
 *     channel operations are a small part of the cost, short enough that
 *     the 8 workers keep both the run queues and the channels busy.  grt
 *     does not preempt a running goroutine, so CPU-bound goroutines must
 *     block now and then; here every worker blocks on a channel per chunk.
 *   - Goroutine arguments are pointers into main's frame (goroutine stacks
 *     never move); main returns only after the closer has seen every worker
 *     finish, so the frame outlives them.  The generator is the exception:
 *     main does not wait for it explicitly, but it closes jobs as its last
 *     act and the workers' exit waits for that.
 *   - Per-chunk results are kept in malloc'd arrays (grt's GC allocator is
 *     not in rt.h yet); channels are garbage-collected and never freed.
 *   - The map is a small open-addressing hash table: C has no map type and
 *     this is the smallest one that works.  One mutex guards it, which is
 *     fine here (one update per chunk); contention_sharded_map.c measures
 *     what to do when it is not.
 *   - stdout is line-buffered so that the progress lines interleave with
 *     the runtime's SCHED lines on stderr in time order.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

enum {
    NWORKERS = 8,
    CHUNK = 1000,
    MAX_CHUNKS = 1 << 19, /* 5.2e8 numbers: every Collatz walk fits in 64 bits */
    MAP_SLOTS = 64,       /* power of two, > NWORKERS */
    SPOT_CHECKS = 12,
};
#define RUN_TIME     (3 * RT_SECOND)
#define TICK         (1 * RT_SECOND)
#define IDLE_TIMEOUT (2 * RT_SECOND)

/* ------------------------------------------------------------ collatz -- */

static uint32_t collatz_steps(uint64_t n)
{
    uint32_t steps = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps;
}

typedef struct job {
    int64_t index;  /* chunk number: numbers [1 + index*CHUNK, 1 + (index+1)*CHUNK) */
} job;

typedef struct result {
    int64_t index;
    int64_t worker;      /* goroutine id of the worker */
    uint64_t steps_sum;  /* total steps of the chunk's numbers */
    uint64_t best_n;     /* smallest n of the chunk with the longest chain */
    uint32_t best_steps;
} result;

static result compute_chunk(int64_t index)
{
    result r = {.index = index};
    uint64_t first = 1 + (uint64_t)index * CHUNK;
    for (uint64_t n = first; n < first + CHUNK; n++) {
        uint32_t s = collatz_steps(n);
        r.steps_sum += s;
        if (s > r.best_steps) {
            r.best_steps = s;
            r.best_n = n;
        }
    }
    return r;
}

/* ---------------------------------------- map[int64]int64 behind a mutex -- */

typedef struct count_map {
    rt_mutex mu; /* guards everything below */
    int64_t keys[MAP_SLOTS];
    int64_t vals[MAP_SLOTS];
    bool used[MAP_SLOTS];
    int len;
} count_map;

/* m[key] += delta.  Returns false if the map is full (never, here). */
static bool count_map_add(count_map *m, int64_t key, int64_t delta)
{
    bool ok = false;
    rt_mutex_lock(&m->mu);
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    for (int probe = 0; probe < MAP_SLOTS; probe++) {
        int i = (int)((h >> 58) + (uint64_t)probe) & (MAP_SLOTS - 1);
        if (!m->used[i]) {
            m->used[i] = true;
            m->keys[i] = key;
            m->vals[i] = 0;
            m->len++;
        }
        if (m->keys[i] == key) {
            m->vals[i] += delta;
            ok = true;
            break;
        }
    }
    rt_mutex_unlock(&m->mu);
    return ok;
}

/* v, ok := m[key] */
static bool count_map_get(count_map *m, int64_t key, int64_t *val)
{
    bool ok = false;
    rt_mutex_lock(&m->mu);
    for (int i = 0; i < MAP_SLOTS; i++) {
        if (m->used[i] && m->keys[i] == key) {
            *val = m->vals[i];
            ok = true;
            break;
        }
    }
    rt_mutex_unlock(&m->mu);
    return ok;
}

/* ----------------------------------------------------------- goroutines -- */

typedef struct generator {
    rt_chan *jobs; /* chan job, closed by the generator when it stops */
    rt_chan *done; /* chan struct{}, closed by main to stop the generator */
    int64_t sent;  /* written by the generator before close(jobs) */
} generator;

/* for i := 0; ; i++ { select { case jobs <- i: case <-done: close(jobs); return } } */
static void generator_main(void *arg)
{
    generator *g = arg;
    for (job j = {.index = 0}; j.index < MAX_CHUNKS; j.index++) {
        rt_select_case cases[2] = {RT_SEND(g->jobs, &j), RT_RECV(g->done, NULL)};
        if (rt_select(cases, 2, true) == 1)
            break;
        g->sent++;
    }
    rt_chan_close(g->jobs);
}

typedef struct worker {
    rt_chan *jobs, *results;
    rt_waitgroup *wg;
    count_map *per_goroutine;
    int64_t goid;      /* written by the worker at start, read after wg.Wait */
    int64_t processed; /* likewise, at the end */
} worker;

static void worker_main(void *arg)
{
    worker *w = arg;
    w->goid = rt_goid();
    job j;
    while (rt_chan_recv(w->jobs, &j)) { /* for j := range jobs */
        result r = compute_chunk(j.index);
        r.worker = w->goid;
        if (!count_map_add(w->per_goroutine, w->goid, 1))
            fprintf(stderr, "tour: map full\n");
        w->processed++;
        rt_chan_send(w->results, &r);
    }
    rt_waitgroup_done(w->wg);
}

typedef struct closer {
    rt_waitgroup *wg;
    rt_chan *results;
} closer;

/* go func() { wg.Wait(); close(results) }() */
static void closer_main(void *arg)
{
    closer *c = arg;
    rt_waitgroup_wait(c->wg);
    rt_chan_close(c->results);
}

/* ---------------------------------------------------------------- main -- */

typedef struct totals {
    int64_t chunks;
    uint64_t steps;
    uint64_t best_n;
    uint32_t best_steps;
} totals;

static void totals_add(totals *t, const result *r)
{
    t->chunks++;
    t->steps += r->steps_sum;
    if (r->best_steps > t->best_steps ||
        (r->best_steps == t->best_steps && r->best_n < t->best_n)) {
        t->best_steps = r->best_steps;
        t->best_n = r->best_n;
    }
}

/* The longest chain among chunks [0, nchunks), from the stored results. */
static void best_below(const uint64_t *best_n, const uint32_t *best_steps, int64_t nchunks,
                       uint64_t *n, uint32_t *steps)
{
    *n = 0;
    *steps = 0;
    for (int64_t i = 0; i < nchunks; i++) {
        if (best_steps[i] > *steps) { /* ascending: ties keep the smaller n */
            *steps = best_steps[i];
            *n = best_n[i];
        }
    }
}

static int tour_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failures = 0;

    /* Per-chunk results, for the checks at the end. */
    uint8_t *seen = calloc(MAX_CHUNKS, 1);
    uint64_t *chunk_steps = calloc(MAX_CHUNKS, sizeof *chunk_steps);
    uint64_t *chunk_best_n = calloc(MAX_CHUNKS, sizeof *chunk_best_n);
    uint32_t *chunk_best_steps = calloc(MAX_CHUNKS, sizeof *chunk_best_steps);
    if (!seen || !chunk_steps || !chunk_best_n || !chunk_best_steps) {
        fprintf(stderr, "tour: out of memory\n");
        return 1;
    }

    printf("tour: MAXPROCS=%d, %d workers, chunks of %d numbers, running %d s\n",
           rt_maxprocs(0), NWORKERS, CHUNK, (int)(RUN_TIME / RT_SECOND));
    int64_t start = rt_nanotime();

    /* jobs := make(chan job, 64); results := make(chan result, 64) */
    generator gen = {.jobs = rt_chan_make(sizeof(job), 64), .done = rt_chan_make(0, 0)};
    rt_chan *results = rt_chan_make(sizeof(result), 64);
    count_map per_goroutine = {0}; /* the zero rt_mutex is unlocked */
    rt_waitgroup wg = {0};
    worker workers[NWORKERS];
    closer cl = {.wg = &wg, .results = results};

    rt_go(generator_main, &gen);
    rt_waitgroup_add(&wg, NWORKERS);
    for (int i = 0; i < NWORKERS; i++) {
        workers[i] = (worker){.jobs = gen.jobs, .results = results, .wg = &wg,
                              .per_goroutine = &per_goroutine};
        if (rt_go(worker_main, &workers[i]) < 0) {
            fprintf(stderr, "tour: rt_go failed\n");
            return 1;
        }
    }
    rt_go(closer_main, &cl);

    rt_ticker *ticker = rt_ticker_new(TICK);
    rt_timer *stop = rt_timer_new(RUN_TIME);
    rt_timer *idle = rt_timer_new(IDLE_TIMEOUT);
    rt_chan *stop_c = rt_timer_chan(stop); /* set to NULL once it fired */

    totals t = {0};
    int64_t duplicates = 0, fired_at;
    bool stuck = false;
    for (bool open = true; open && !stuck;) {
        result r;
        rt_select_case cases[4] = {
            RT_RECV(results, &r),
            RT_RECV(rt_ticker_chan(ticker), &fired_at),
            RT_RECV(stop_c, &fired_at),
            RT_RECV(rt_timer_chan(idle), &fired_at),
        };
        switch (rt_select(cases, 4, true)) {
        case 0: /* case r, ok := <-results */
            if (!cases[0].ok) {
                open = false;
                break;
            }
            if (r.index < 0 || r.index >= MAX_CHUNKS || seen[r.index]++) {
                duplicates++;
                break;
            }
            chunk_steps[r.index] = r.steps_sum;
            chunk_best_n[r.index] = r.best_n;
            chunk_best_steps[r.index] = r.best_steps;
            totals_add(&t, &r);
            /* if !idle.Stop() { <-idle.C }; idle.Reset(IDLE_TIMEOUT) */
            if (!rt_timer_stop(idle))
                (void)rt_chan_try_recv(rt_timer_chan(idle), NULL);
            rt_timer_reset(idle, IDLE_TIMEOUT);
            break;
        case 1: /* case <-ticker.C */
            printf("tour: %5.2fs  %7lld chunks  %6.1fM numbers  %3d goroutines  "
                   "longest so far: %llu (%u steps)\n",
                   (double)(rt_nanotime() - start) / 1e9, (long long)t.chunks,
                   (double)t.chunks * CHUNK / 1e6, rt_num_goroutine(),
                   (unsigned long long)t.best_n, t.best_steps);
            break;
        case 2: /* case <-stop.C: close(done), then never again */
            rt_chan_close(gen.done);
            stop_c = NULL;
            break;
        case 3: /* case <-idle.C */
            stuck = true;
            break;
        }
    }
    rt_ticker_stop(ticker);
    rt_timer_stop(idle);
    int64_t elapsed = rt_nanotime() - start;

    if (stuck) {
        /* The goroutines may still use main's frame: report and leave. */
        printf("tour: FAIL: no result for %d s, the pipeline is stuck "
               "(%lld chunks aggregated)\n",
               (int)(IDLE_TIMEOUT / RT_SECOND), (long long)t.chunks);
        fflush(stdout);
        exit(1);
    }

    /* Everything below runs after close(results): all workers are done. */
    printf("tour: summary after %.2f s\n", (double)elapsed / 1e9);
    printf("  chunks      %lld sent, ", (long long)gen.sent);
    int64_t processed = 0;
    for (int i = 0; i < NWORKERS; i++)
        processed += workers[i].processed;
    printf("%lld processed, %lld aggregated, %lld duplicates\n", (long long)processed,
           (long long)t.chunks, (long long)duplicates);
    if (gen.sent != processed || processed != t.chunks || duplicates != 0 || t.chunks == 0) {
        printf("  FAIL: chunk counts disagree\n");
        failures++;
    }
    for (int64_t i = 0; i < gen.sent; i++) {
        if (seen[i] != 1) {
            printf("  FAIL: chunk %lld arrived %d times\n", (long long)i, seen[i]);
            failures++;
            break;
        }
    }

    printf("  per worker ");
    int64_t map_total = 0;
    for (int i = 0; i < NWORKERS; i++) {
        int64_t v = 0;
        bool ok = count_map_get(&per_goroutine, workers[i].goid, &v);
        printf(" g%lld:%lld", (long long)workers[i].goid, (long long)v);
        if (!ok ? workers[i].processed != 0 : v != workers[i].processed) {
            printf("\n  FAIL: map says %lld for goroutine %lld, the worker says %lld\n",
                   (long long)v, (long long)workers[i].goid, (long long)workers[i].processed);
            failures++;
        }
        map_total += v;
    }
    printf("  (map: %d goroutines, %lld chunks)\n", per_goroutine.len, (long long)map_total);
    if (map_total != processed) {
        printf("  FAIL: the map counts %lld chunks\n", (long long)map_total);
        failures++;
    }

    /* Recompute a spread of chunks serially. */
    int spot_failures = 0;
    for (int k = 0; k < SPOT_CHECKS && t.chunks > 0; k++) {
        int64_t i = (t.chunks - 1) * k / (SPOT_CHECKS - 1);
        result r = compute_chunk(i);
        if (r.steps_sum != chunk_steps[i] || r.best_n != chunk_best_n[i] ||
            r.best_steps != chunk_best_steps[i])
            spot_failures++;
    }
    printf("  numbers     1 .. %lld, %llu steps in all, %d chunks recomputed serially: %s\n",
           (long long)(t.chunks * CHUNK), (unsigned long long)t.steps, SPOT_CHECKS,
           spot_failures ? "MISMATCH" : "same");
    failures += spot_failures;

    /* Known records (OEIS A006877 / A006878). */
    static const struct { int64_t below; uint64_t n; uint32_t steps; } records[] = {
        {1000000, 837799, 524}, {10000000, 8400511, 685}, {100000000, 63728127, 949},
    };
    for (size_t k = 0; k < sizeof records / sizeof records[0]; k++) {
        int64_t nchunks = records[k].below / CHUNK;
        if (t.chunks < nchunks)
            break;
        uint64_t n;
        uint32_t steps;
        best_below(chunk_best_n, chunk_best_steps, nchunks, &n, &steps);
        bool ok = n == records[k].n && steps == records[k].steps;
        printf("  longest chain below %lld: %llu with %u steps (%s)\n",
               (long long)records[k].below, (unsigned long long)n, steps,
               ok ? "the known record" : "WRONG");
        failures += !ok;
    }
    printf("  longest chain overall: %llu with %u steps\n", (unsigned long long)t.best_n,
           t.best_steps);

    free(seen);
    free(chunk_steps);
    free(chunk_best_n);
    free(chunk_best_steps);
    printf("tour: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(tour_main, argc, argv);
}
