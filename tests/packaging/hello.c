/*
 * hello.c -- the smallest real program against an installed grt.
 *
 * install_consumers.sh builds it twice against a freshly installed prefix,
 * once with `pkg-config --static --cflags --libs grt` and once as a CMake
 * project that calls find_package(grt), and runs both.  It includes only
 * <rt.h> from the prefix and touches goroutines, an unbuffered channel and
 * rt_main, so a link that misses a private dependency (libunwind, libdw) or
 * a header that did not install fails here, not in a user's build.
 *
 * Ten goroutines each send the square of their argument; goroutine 1 adds
 * them up.  The printed sum is checked by the script: 1^2 + ... + 10^2 = 385.
 */
#include <rt.h>
#include <stdint.h>
#include <stdio.h>

static rt_chan *squares; /* unbuffered; written once before the senders start */

static void square(void *arg) {
    int64_t n = (int64_t)(intptr_t)arg;
    int64_t sq = n * n;
    rt_chan_send(squares, &sq);
}

static int run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    squares = rt_chan_make(sizeof(int64_t), 0);
    if (squares == NULL) {
        fprintf(stderr, "rt_chan_make failed\n");
        return 1;
    }
    for (intptr_t i = 1; i <= 10; i++) {
        int64_t id = rt_go(square, (void *)i);
        if (id <= 0) {
            fprintf(stderr, "rt_go failed: %lld\n", (long long)id);
            return 1;
        }
    }
    int64_t sum = 0;
    for (int i = 0; i < 10; i++) {
        int64_t v;
        if (!rt_chan_recv(squares, &v)) {
            fprintf(stderr, "channel closed early\n");
            return 1;
        }
        sum += v;
    }
    printf("sum of squares 1..10 = %lld\n", (long long)sum);
    return 0;
}

int main(int argc, char **argv) {
    return rt_main(run, argc, argv);
}
