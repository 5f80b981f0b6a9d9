/*
 * tests/bench/bench_echo.c -- workload 14 (echo), the grt server: a TCP
 * echo server with one goroutine per connection, on 127.0.0.1, a port the
 * kernel picks.  It prints "listening ADDR" and serves until killed.
 *
 * This program is not run directly: tests/bench/echo_load.c starts it (or
 * go/echo, its Go twin), pinned to CPU 0, drives it from CPU 1 and prints
 * the result line.  run.sh runs `echo_load bench_echo ...`.
 */
#include <stdio.h>
#include <string.h>

#include <rt.h>

#include "bench.h"

static void serve(void *arg)
{
    rt_conn *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = rt_conn_read(c, buf, sizeof buf);
        if (n <= 0 || rt_conn_write(c, buf, (size_t)n) < 0)
            break;
    }
    rt_conn_close(c);
}

static int server(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    rt_listener *l;
    int err = rt_net_listen("tcp4", "127.0.0.1:0", &l);
    if (err < 0)
        bench_fail("listen: %s", strerror(-err));
    char addr[64];
    rt_listener_addr(l, addr, sizeof addr);
    printf("listening %s\n", addr);
    fflush(stdout);
    for (;;) {
        rt_conn *c;
        err = rt_net_accept(l, &c);
        if (err < 0)
            bench_fail("accept: %s", strerror(-err));
        rt_go(serve, c);
    }
}

int main(int argc, char **argv)
{
    return rt_main(server, argc, argv);
}
