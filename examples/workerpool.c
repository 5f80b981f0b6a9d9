/*
 * examples/workerpool.c -- a worker pool: a fixed number of goroutines
 * take jobs from one channel and put results on another ("Go by Example:
 * Worker Pools", the most common shape of concurrent Go code).
 *
 *     jobs := make(chan Job, 100)
 *     results := make(chan Result, 100)
 *     var wg sync.WaitGroup
 *     for w := 1; w <= W; w++ {
 *         wg.Add(1)
 *         go func(id int) { defer wg.Done(); for j := range jobs { results <- do(id, j) } }(w)
 *     }
 *     go func() { for _, j := range all { jobs <- j }; close(jobs) }()
 *     go func() { wg.Wait(); close(results) }()
 *     for r := range results { ... }
 *
 * What it does
 *   Runs the same pool twice:
 *   1. Latency-bound jobs: each job "calls a slow service" by sleeping 5 ms
 *      (rt_sleep parks the goroutine, never the thread), so W workers finish
 *      W jobs per 5 ms even at MAXPROCS=1.  The program checks that the
 *      pool beat the serial time by a wide margin -- if rt_sleep blocked a
 *      thread it would not, with one processor.
 *   2. CPU-bound jobs: each job counts the primes in a range by trial
 *      division; the pool sums them and the total is checked against a
 *      sieve of Eratosthenes.  This part scales with MAXPROCS.
 *   Each part prints how many jobs every worker took.
 *
 * Design notes
 *   - A job and a result are small structs copied into and out of the
 *     channels by value, like Go's channel elements; nothing is shared.
 *   - The feeder and the closer are the two small goroutines of the Go
 *     idiom: the feeder lets main start collecting at once (with more jobs
 *     than the jobs channel holds, feeding from main would deadlock), the
 *     closer turns "all workers done" into "results closed" so main can
 *     range over results.
 *   - Worker records live in run_pool's frame, which outlives the workers
 *     (main does not return before results is closed, i.e. after wg.Wait).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"

enum { MAX_WORKERS = 64 };

typedef struct job {
    int64_t id;
    int64_t lo, hi; /* the part 2 range; unused by part 1 */
} job;

typedef struct result {
    int64_t job_id;
    int worker;
    int64_t value;
} result;

typedef int64_t (*job_fn)(const job *j);

typedef struct pool {
    rt_chan *jobs;    /* chan job */
    rt_chan *results; /* chan result */
    rt_waitgroup wg;
    job_fn fn;
    const job *all; /* the jobs to feed */
    int njobs;
} pool;

typedef struct worker {
    pool *p;
    int id;
    int taken; /* jobs this worker did; written by it, read after wg.Wait */
} worker;

static void worker_main(void *arg)
{
    worker *w = arg;
    job j;
    while (rt_chan_recv(w->p->jobs, &j)) { /* for j := range jobs */
        result r = {.job_id = j.id, .worker = w->id, .value = w->p->fn(&j)};
        w->taken++;
        rt_chan_send(w->p->results, &r);
    }
    rt_waitgroup_done(&w->p->wg);
}

static void feeder(void *arg)
{
    pool *p = arg;
    for (int i = 0; i < p->njobs; i++)
        rt_chan_send(p->jobs, &p->all[i]);
    rt_chan_close(p->jobs);
}

static void closer(void *arg)
{
    pool *p = arg;
    rt_waitgroup_wait(&p->wg);
    rt_chan_close(p->results);
}

/*
 * Runs njobs jobs through nworkers workers; values[job id] gets each result.
 * Returns the number of results received (njobs unless something is wrong)
 * and prints the per-worker share.
 */
static int run_pool(const char *name, int nworkers, const job *all, int njobs, job_fn fn,
                    int64_t *values)
{
    pool p = {.jobs = rt_chan_make(sizeof(job), 100),
              .results = rt_chan_make(sizeof(result), 100),
              .fn = fn, .all = all, .njobs = njobs};
    worker ws[MAX_WORKERS];

    rt_waitgroup_add(&p.wg, nworkers);
    for (int i = 0; i < nworkers; i++) {
        ws[i] = (worker){.p = &p, .id = i + 1};
        if (rt_go(worker_main, &ws[i]) < 0) {
            fprintf(stderr, "workerpool: rt_go failed\n");
            exit(1);
        }
    }
    rt_go(feeder, &p);
    rt_go(closer, &p);

    int received = 0;
    result r;
    while (rt_chan_recv(p.results, &r)) { /* for r := range results */
        if (r.job_id >= 0 && r.job_id < njobs)
            values[r.job_id] = r.value;
        received++;
    }

    printf("  %s: jobs per worker:", name);
    for (int i = 0; i < nworkers; i++)
        printf(" %d", ws[i].taken);
    printf("\n");
    return received;
}

/* ------------------------------------------------ part 1: slow service -- */

enum { SLOW_JOBS = 200, SLOW_WORKERS = 20 };
#define SLOW_LATENCY (5 * RT_MILLISECOND)

static int64_t slow_service(const job *j)
{
    rt_sleep(SLOW_LATENCY); /* the goroutine parks; its thread runs others */
    return j->id * j->id;
}

/* ------------------------------------------------ part 2: count primes -- */

enum { PRIME_LIMIT = 1000000, PRIME_JOBS = 200 };
enum { MAX_JOBS = 200 };
_Static_assert((int)MAX_JOBS >= (int)SLOW_JOBS && (int)MAX_JOBS >= (int)PRIME_JOBS,
               "MAX_JOBS too small");

static bool is_prime(uint32_t n)
{
    if (n < 2)
        return false;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return false;
    return true;
}

static int64_t count_primes(const job *j)
{
    int64_t count = 0;
    for (int64_t n = j->lo; n < j->hi; n++)
        count += is_prime((uint32_t)n);
    return count;
}

static int64_t sieve_count(int64_t limit)
{
    char *composite = calloc((size_t)limit, 1);
    int64_t count = 0;
    if (!composite)
        return -1;
    for (int64_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        count++;
        for (int64_t k = i * i; k < limit; k += i)
            composite[k] = 1;
    }
    free(composite);
    return count;
}

static int pool_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int failures = 0;
    static job jobs[MAX_JOBS];
    static int64_t values[MAX_JOBS];

    printf("workerpool: MAXPROCS=%d\n", rt_maxprocs(0));

    /* Part 1: latency-bound. */
    for (int i = 0; i < SLOW_JOBS; i++)
        jobs[i] = (job){.id = i};
    int64_t t0 = rt_nanotime();
    int got = run_pool("slow service", SLOW_WORKERS, jobs, SLOW_JOBS, slow_service, values);
    int64_t elapsed = rt_nanotime() - t0;
    int64_t serial = SLOW_JOBS * SLOW_LATENCY;
    int wrong = 0;
    for (int i = 0; i < SLOW_JOBS; i++)
        wrong += values[i] != (int64_t)i * i;
    printf("  slow service: %d jobs of %lld ms on %d workers in %.1f ms "
           "(serially %.0f ms, %.1fx faster)\n",
           got, (long long)(SLOW_LATENCY / RT_MILLISECOND), SLOW_WORKERS, (double)elapsed / 1e6,
           (double)serial / 1e6, (double)serial / (double)elapsed);
    /* The ideal is serial/20; a pool that managed less than 4x is broken
     * (sleeps blocking threads), not merely slow. */
    if (got != SLOW_JOBS || wrong != 0 || elapsed * 4 > serial) {
        printf("  slow service: FAIL (%d results, %d wrong, %.1f ms)\n", got, wrong,
               (double)elapsed / 1e6);
        failures++;
    }

    /* Part 2: CPU-bound. */
    int64_t step = PRIME_LIMIT / PRIME_JOBS;
    for (int i = 0; i < PRIME_JOBS; i++)
        jobs[i] = (job){.id = i, .lo = i * step, .hi = (i + 1) * step};
    int nworkers = 2 * rt_maxprocs(0);
    if (nworkers > MAX_WORKERS)
        nworkers = MAX_WORKERS;
    t0 = rt_nanotime();
    got = run_pool("count primes", nworkers, jobs, PRIME_JOBS, count_primes, values);
    elapsed = rt_nanotime() - t0;
    int64_t total = 0;
    for (int i = 0; i < PRIME_JOBS; i++)
        total += values[i];
    int64_t want = sieve_count(PRIME_LIMIT);
    printf("  count primes: %lld primes below %d in %d jobs on %d workers in %.1f ms "
           "(sieve says %lld)\n",
           (long long)total, PRIME_LIMIT, got, nworkers, (double)elapsed / 1e6, (long long)want);
    if (got != PRIME_JOBS || total != want) {
        printf("  count primes: FAIL\n");
        failures++;
    }

    printf("workerpool: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(pool_main, argc, argv);
}
