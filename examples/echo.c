/*
 * examples/echo.c -- a TCP echo server: one goroutine per connection, as a
 * Go programmer would write it.
 *
 *   ./echo [address]        (default 127.0.0.1:7000; ":0" picks a port)
 *
 * Try it with `nc 127.0.0.1 7000`.  Every read and write parks its
 * goroutine while the socket is not ready (sched/netpoll.c); the threads
 * stay free for the other connections, so ten thousand idle clients cost
 * ten thousand small stacks, not ten thousand threads.
 */
#include <stdio.h>
#include <string.h>

#include <rt.h>

static void serve(void *arg)
{
    rt_conn *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = rt_conn_read(c, buf, sizeof buf);
        if (n <= 0)
            break; /* 0: the client closed; < 0: an error */
        if (rt_conn_write(c, buf, (size_t)n) < 0)
            break;
    }
    rt_conn_close(c);
}

static int echo_main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:7000";
    rt_listener *l;
    int err = rt_net_listen("tcp", addr, &l);
    if (err < 0) {
        fprintf(stderr, "echo: listen %s: %s\n", addr, strerror(-err));
        return 1;
    }
    char where[128];
    rt_listener_addr(l, where, sizeof where);
    printf("listening on %s\n", where);
    fflush(stdout);
    for (;;) {
        rt_conn *c;
        err = rt_net_accept(l, &c);
        if (err < 0) {
            fprintf(stderr, "echo: accept: %s\n", strerror(-err));
            rt_sleep(10 * RT_MILLISECOND); /* out of fds, say: retry */
            continue;
        }
        rt_go(serve, c);
    }
}

int main(int argc, char **argv)
{
    return rt_main(echo_main, argc, argv);
}
