/*
 * examples/sieve.c -- the concurrent prime sieve from the Go tour and
 * Go's playground (doc/play/sieve.go), in C on grt.
 *
 *     func Generate(ch chan<- int) {
 *         for i := 2; ; i++ { ch <- i }
 *     }
 *     func Filter(in <-chan int, out chan<- int, prime int) {
 *         for { i := <-in; if i%prime != 0 { out <- i } }
 *     }
 *     func main() {
 *         ch := make(chan int)
 *         go Generate(ch)
 *         for i := 0; i < N; i++ {
 *             prime := <-ch
 *             fmt.Println(prime)
 *             ch1 := make(chan int)
 *             go Filter(ch, ch1, prime)
 *             ch = ch1
 *         }
 *     }
 *
 * What it does
 *   A generator goroutine sends 2, 3, 4, ... down an unbuffered channel.
 *   Each time main receives a number from the end of the chain it is prime
 *   (nothing before it divided it), so main prints it and appends a filter
 *   goroutine for that prime.  After N primes the chain is N filters long and
 *   every number has hopped through the filters of all primes below its
 *   smallest factor: this is a stress test of unbuffered hand-offs, not a
 *   fast way to find primes.  The program then checks its output against a
 *   plain sieve of Eratosthenes and prints the number of channel hand-offs
 *   and the time per hand-off.
 *
 *   Usage: sieve [N]   (default 100; 1000 takes well under a second)
 *
 * Design notes
 *   - Arguments travel as pointers to small structs.  The filter's struct is
 *     malloc'd because main's loop variable would be overwritten before the
 *     new goroutine reads it; in Go the closure captures copies.
 *   - As in Go, the generator and the filters are never stopped: when main's
 *     function returns, rt_main returns and the blocked goroutines simply
 *     end with the process.  Channels are garbage-collected in grt and never
 *     freed by hand; the filter records are leaked for the same reason
 *     (they live exactly as long as their goroutine, i.e. until exit).
 *   - The hand-off count is kept in a C11 atomic by the filters (relaxed:
 *     only the total matters and it is read after the last prime arrived,
 *     which happens after every counted hand-off of the numbers before it).
 *     It counts every send, including those still in flight past the last
 *     prime, so it is reported as approximate.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static _Atomic int64_t sends; /* channel sends made by generator + filters */

/* func Generate(ch chan<- int) */
static void generate(void *arg)
{
    rt_chan *ch = arg;
    for (int64_t i = 2;; i++) {
        rt_chan_send(ch, &i);
        atomic_fetch_add_explicit(&sends, 1, memory_order_relaxed);
    }
}

typedef struct filter_args {
    rt_chan *in, *out;
    int64_t prime;
} filter_args;

/* func Filter(in <-chan int, out chan<- int, prime int) */
static void filter(void *arg)
{
    filter_args *f = arg;
    int64_t i;
    while (rt_chan_recv(f->in, &i)) {
        if (i % f->prime != 0) {
            rt_chan_send(f->out, &i);
            atomic_fetch_add_explicit(&sends, 1, memory_order_relaxed);
        }
    }
}

/* The first n primes by the sieve of Eratosthenes, for checking. */
static int64_t *reference_primes(int n)
{
    int64_t *p = malloc(sizeof *p * (size_t)n);
    size_t limit = 64;
    for (;;) {
        char *composite = calloc(limit, 1);
        int found = 0;
        if (!p || !composite) {
            free(composite);
            free(p);
            return NULL;
        }
        for (size_t i = 2; i < limit && found < n; i++) {
            if (composite[i])
                continue;
            p[found++] = (int64_t)i;
            for (size_t j = i * i; j < limit; j += i)
                composite[j] = 1;
        }
        free(composite);
        if (found == n)
            return p;
        limit *= 2;
    }
}

static int sieve_main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "usage: sieve [N]   (1 <= N <= 100000)\n");
        return 2;
    }
    int64_t *got = malloc(sizeof *got * (size_t)n);
    if (!got) {
        fprintf(stderr, "sieve: out of memory\n");
        return 1;
    }

    int64_t t0 = rt_nanotime();
    rt_chan *ch = rt_chan_make(sizeof(int64_t), 0); /* ch := make(chan int) */
    rt_go(generate, ch);                             /* go Generate(ch) */
    for (int i = 0; i < n; i++) {
        int64_t prime;
        rt_chan_recv(ch, &prime); /* prime := <-ch */
        got[i] = prime;
        printf("%6lld%s", (long long)prime, (i % 10 == 9 || i == n - 1) ? "\n" : " ");

        filter_args *f = malloc(sizeof *f);
        if (!f) {
            fprintf(stderr, "sieve: out of memory\n");
            return 1;
        }
        f->in = ch;
        f->out = rt_chan_make(sizeof(int64_t), 0); /* ch1 := make(chan int) */
        f->prime = prime;
        if (rt_go(filter, f) < 0) { /* go Filter(ch, ch1, prime) */
            fprintf(stderr, "sieve: rt_go failed\n");
            return 1;
        }
        ch = f->out; /* ch = ch1 */
    }
    int64_t elapsed = rt_nanotime() - t0;
    int64_t hops = atomic_load_explicit(&sends, memory_order_relaxed);

    /* Check against the plain sieve. */
    int64_t *want = reference_primes(n);
    if (!want) {
        fprintf(stderr, "sieve: out of memory\n");
        return 1;
    }
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (got[i] != want[i])
            bad = i;

    printf("sieve: %d primes through a chain of %d filter goroutines in %.1f ms\n", n, n,
           (double)elapsed / 1e6);
    printf("sieve: about %lld channel hand-offs, %.0f ns per hand-off (MAXPROCS=%d)\n",
           (long long)hops, hops > 0 ? (double)elapsed / (double)hops : 0.0, rt_maxprocs(0));
    if (bad >= 0) {
        printf("sieve: FAIL: prime #%d is %lld, want %lld\n", bad + 1, (long long)got[bad],
               (long long)want[bad]);
    } else {
        printf("sieve: ok, the first %d primes match the sieve of Eratosthenes\n", n);
    }
    free(want);
    free(got);
    return bad >= 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    return rt_main(sieve_main, argc, argv);
}
