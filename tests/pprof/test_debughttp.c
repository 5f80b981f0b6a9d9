/*
 * tests/pprof/test_debughttp.c -- rt_debug_serve, fetched by `go tool
 * pprof http://...` itself (which also asks /debug/pprof/symbol) and by
 * plain HTTP requests for the text forms, the index, the cmdline and the
 * symbol endpoint.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "pprof_test.h"

#define NOINLINE __attribute__((noinline))

static void *volatile keep[32]; /* volatile: written only, yet a root */

NOINLINE static void http_alloc(void)
{
    for (int i = 0; i < 32; i++)
        keep[i] = rt_alloc(1 << 20);
}

static _Atomic int stop;

NOINLINE static void http_parked(void *p)
{
    rt_chan_recv(p, NULL);
    __asm__ volatile("" ::: "memory"); /* keep this frame */
}

NOINLINE static void http_spin(void *p)
{
    (void)p;
    volatile unsigned long x = 0;
    while (!atomic_load(&stop))
        x++;
}

/* One HTTP request; returns the whole response (malloc). */
static char *http(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    REQUIRE_EQ(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ssize_t k;
    while ((k = read(fd, b + n, cap - n - 1)) > 0) {
        n += (size_t)k;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    close(fd);
    return b;
}

RT_TEST(test_serve)
{
    rt_maxprocs(2);
    http_alloc();
    rt_gc();
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    REQUIRE_LT(rt_debug_serve("nonsense"), 0);

    char *top = pp_tool("-top -unit=B -sample_index=inuse_space "
                        "http://127.0.0.1:%d/debug/pprof/heap",
                        port);
    double f, c;
    REQUIRE_MSG(pp_row(top, "http_alloc", &f, &c), "heap over http:\n%s", top);
    free(top);
    /* From the server's thread the world is not stopped: parked
     * goroutines show their stacks, running ones their entry function. */
    rt_chan *gate = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(http_parked, gate), 0);
    rt_sleep(10 * RT_MILLISECOND);
    top = pp_tool("-top http://127.0.0.1:%d/debug/pprof/goroutine", port);
    REQUIRE_MSG(pp_row(top, "http_parked", &f, &c) && pp_total(top) == rt_num_goroutine(),
                "goroutines over http:\n%s", top);
    rt_chan_close(gate);
    free(top);

    REQUIRE_GT(rt_go(http_spin, NULL), 0);
    top = pp_tool("-top -seconds 1 http://127.0.0.1:%d/debug/pprof/profile", port);
    atomic_store(&stop, 1);
    REQUIRE_MSG(pp_row(top, "http_spin", &f, &c), "cpu over http:\n%s", top);
    free(top);

    char *r = http(port, "GET /debug/pprof/heap?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE_MSG(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
                    strstr(r, "\r\n\r\nheap profile: ") && strstr(r, "# runtime.MemStats"),
                "heap?debug=1:\n%.500s", r);
    free(r);
    r = http(port, "GET /debug/pprof/ HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strstr(r, "goroutine?debug=2") != NULL, "index:\n%.500s", r);
    free(r);
    r = http(port, "GET /debug/pprof/symbol HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strstr(r, "\r\n\r\nnum_symbols: 1\n") != NULL, "symbol:\n%.500s", r);
    free(r);
    char req[256], want[128];
    snprintf(req, sizeof req,
             "POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 14\r\n\r\n%#014lx",
             (unsigned long)(uintptr_t)http_alloc);
    snprintf(want, sizeof want, " http_alloc\n");
    r = http(port, req);
    REQUIRE_MSG(strstr(r, want) != NULL, "symbol POST %s:\n%.500s", req, r);
    free(r);
    r = http(port, "GET /debug/pprof/nosuch HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strncmp(r, "HTTP/1.1 404", 12) == 0, "404:\n%.300s", r);
    free(r);
    r = http(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strstr(r, "pprof_test_debughttp") != NULL, "cmdline:\n%.300s", r);
    free(r);
}

static Suite *suite(void)
{
    Suite *s = suite_create("debughttp");
    TCase *tc = tcase_create("debughttp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_serve);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), NULL);
}
