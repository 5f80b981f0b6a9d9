/*
 * tests/pprof/test_debughttp.c -- rt_debug_serve, fetched by `go tool
 * pprof http://...` itself (which also asks /debug/pprof/symbol) and by
 * plain HTTP requests written here byte by byte:
 *   test_serve      go tool pprof on heap, goroutine, profile; the text
 *                   forms, index, symbol GET and POST, cmdline
 *   test_endpoints  Go's headers and bodies endpoint by endpoint (index
 *                   counts, 301, HEAD, symbol, cmdline, heap?gc=1,
 *                   /debug/vars as valid JSON), and every 4xx: 400 for bad
 *                   syntax and bad query values, 404, 405, 413, 431, 505,
 *                   Expect: 100-continue
 *   test_settings   /debug/grt/settings: GET, POST and GET-with-query
 *                   changes that take effect (GOGC, the profile rates, and
 *                   gctrace and schedtrace lines appearing on stderr), and
 *                   an invalid request that changes nothing
 *   test_deltas_side_by_side  a 1-second delta profile sent while a
 *                   4-second one waits is answered first
 *   test_limits     256 slow-loris connections (256 goroutines): the 257th
 *                   gets a 503 at once from the listener (no goroutine), the 256
 *                   a 408 after the 10 s deadline, and then the
 *                   server answers again; a second CPU profile while one
 *                   runs is Go's 500
 *   test_goroutines the server is goroutines: goroutine?debug=2 shows the
 *                   listener and a slow client's goroutine in IO wait and
 *                   the serving one running; a client that hangs up ends
 *                   its CPU profile at once; clients that reset before
 *                   their answer cost no SIGPIPE
 *   test_no_deadlock a program whose goroutines all block on channels is
 *                   not reported as deadlocked while the server listens,
 *                   and the server shows them (scenario "deadlock")
 *   test_before_main rt_debug_serve before rt_main and from a thread of the
 *                   program's own (scenario "premain")
 *
 * The server's goroutines count in rt_num_goroutine, as Go's net/http
 * goroutines do: checks of goroutine counts add the listener and the
 * goroutine serving the request (settle()).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "pprof_test.h"
#include "trace/trace.h" /* rt__debug_rescues */

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

/* Hot, but yields now and then: the server runs on goroutines, and grt
 * cannot preempt C code, so a goroutine that never yields would keep a P
 * from it for good (pp_tool's popen holds the other P meanwhile). */
NOINLINE /* Blocks 3 x 20 ms on a channel, before a delta profile's window. */
static void late_send(void *p)
{
    rt_sleep(20 * RT_MILLISECOND);
    rt_chan_send(p, NULL);
}

NOINLINE static void pre_blocker(void)
{
    for (int i = 0; i < 3; i++) {
        rt_chan *c = rt_chan_make(0, 0);
        REQUIRE_GT(rt_go(late_send, c), 0);
        REQUIRE(rt_chan_recv(c, NULL));
    }
    __asm__ volatile("" ::: "memory");
}

/* ... and 3 x 20 ms inside it (it starts 300 ms into the window). */
NOINLINE static void delta_blocker(void *p)
{
    /* Blocks once the delta window has begun: when the connection
     * goroutine that serves it exists.  A fixed 300 ms nap was shorter
     * than go tool pprof's start on a loaded machine: the window opened
     * after the first block, and the test saw 44 ms of the 60. */
    int before = (int)(intptr_t)p; /* goroutines, this one included */
    for (int64_t end = rt_nanotime() + 20 * RT_SECOND;
         rt_num_goroutine() <= before && rt_nanotime() < end;)
        rt_sleep(RT_MILLISECOND);
    for (int i = 0; i < 3; i++) {
        rt_chan *c = rt_chan_make(0, 0);
        REQUIRE_GT(rt_go(late_send, c), 0);
        REQUIRE(rt_chan_recv(c, NULL));
    }
    __asm__ volatile("" ::: "memory");
}

static void http_spin(void *p)
{
    (void)p;
    volatile unsigned long x = 0;
    while (!atomic_load(&stop))
        if ((++x & 0xffff) == 0)
            rt_yield();
}

/* A connection to the server (blocking calls hand the P over). */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_EQ(RT_BLOCKING(connect(fd, (struct sockaddr *)&sa, sizeof sa)), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    REQUIRE_EQ(RT_BLOCKING(write(fd, p, n)), (ssize_t)n);
}

/* Everything the server sends until it closes (malloc, NUL-terminated);
 * *len its length (bodies may hold NULs). */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ssize_t k;
    while ((k = RT_BLOCKING(read(fd, b + n, cap - n - 1))) > 0) {
        n += (size_t)k;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    close(fd);
    if (len != NULL)
        *len = n;
    return b;
}

/* One HTTP request of n bytes; returns the whole response (malloc). */
static char *http_n(int port, const char *req, size_t n, size_t *len)
{
    int fd = dial(port);
    send_all(fd, req, n);
    return read_all(fd, len);
}

static char *http(int port, const char *req)
{
    return http_n(port, req, strlen(req), NULL);
}

static int status_of(const char *r)
{
    return strncmp(r, "HTTP/1.1 ", 9) == 0 ? atoi(r + 9) : -1;
}

static const char *body_of(const char *r)
{
    const char *e = strstr(r, "\r\n\r\n");
    return e ? e + 4 : "";
}

/* The value of header name (with ": "), or NULL; points into r. */
static const char *header(const char *r, const char *name)
{
    const char *end = strstr(r, "\r\n\r\n");
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *h = strstr(r, pat);
    return h && end && h < end ? h + strlen(pat) : NULL;
}

static bool header_is(const char *r, const char *name, const char *value)
{
    const char *v = header(r, name);
    return v && strncmp(v, value, strlen(value)) == 0 && v[strlen(value)] == '\r';
}

/*
 * The server runs on goroutines, as Go's net/http does: a listener, and a
 * goroutine per connection.  A response counts the goroutine that serves
 * it, and that goroutine may still be closing its socket for a moment
 * after the client read the response: settle(n) waits until the count is
 * back to n (the test's own goroutines and the listener) before a request
 * whose answer counts goroutines.  rt_num_goroutine reads per-P counts
 * racily (as Go's gcount does) and may be off for a moment while records
 * move between free lists: goroutines() takes a count that held for 2 ms.
 */
static int goroutines(void)
{
    int n = rt_num_goroutine();
    for (int same = 0; same < 2;) {
        rt_sleep(RT_MILLISECOND);
        int m = rt_num_goroutine();
        same = m == n ? same + 1 : 0;
        n = m;
    }
    return n;
}

static void settle_at(int n, int line)
{
    int64_t end = rt_nanotime() + 5 * RT_SECOND;
    while (goroutines() != n && rt_nanotime() < end)
        rt_sleep(RT_MILLISECOND);
    int got = goroutines();
    if (got != n) { /* say who is there */
        fprintf(stderr, "settle at line %d: %d goroutines, want %d:\n", line, got, n);
        rt_pprof_write("goroutine", 2, 2);
    }
    REQUIRE_MSG(got == n, "settle at line %d: %d goroutines, want %d", line, got, n);
}
#define settle(n) settle_at((n), __LINE__)

/* Status and a body that contains want. */
#define EXPECT(r, status, want)                                                        \
    REQUIRE_MSG(status_of(r) == (status) && strstr(body_of(r), (want)) != NULL,       \
                "want %d with \"%s\", got:\n%.600s", (status), (want), (r))

RT_TEST(test_serve)
{
    rt_maxprocs(2);
    http_alloc();
    rt_gc();
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    int base = goroutines(); /* the listener's included */
    REQUIRE_LT(rt_debug_serve("nonsense"), 0);
    /* ports past 65535 or not decimal: -EINVAL, as Go's "invalid port"
     * (getaddrinfo alone listened on 70000 modulo 65536) */
    REQUIRE_EQ(rt_debug_serve("127.0.0.1:70000"), -EINVAL);
    REQUIRE_EQ(rt_debug_serve("127.0.0.1:65536"), -EINVAL);
    REQUIRE_EQ(rt_debug_serve("127.0.0.1:-1"), -EINVAL);
    REQUIRE_EQ(rt_debug_serve("127.0.0.1:8a"), -EINVAL);
    /* a service name is looked up, as rt_net_listen's; names that do not
     * resolve are its -ENOENT */
    REQUIRE_EQ(rt_debug_serve("127.0.0.1:no-such-service"), -ENOENT);
    int nx = rt_debug_serve("no-such-host.invalid:0"); /* -EAGAIN: no resolver */
    REQUIRE_MSG(nx == -ENOENT || nx == -EAGAIN, "no-such-host.invalid: %d", nx);

    char *top = pp_tool("-top -unit=B -sample_index=inuse_space "
                        "http://127.0.0.1:%d/debug/pprof/heap",
                        port);
    double f, c;
    REQUIRE_MSG(pp_row(top, "http_alloc", &f, &c), "heap over http:\n%s", top);
    free(top);
    /* The world is not stopped for the goroutine profile: parked
     * goroutines show their stacks, running ones their entry function.
     * The total counts the connection goroutine serving it (Go's too). */
    rt_chan *gate = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(http_parked, gate), 0);
    rt_sleep(10 * RT_MILLISECOND);
    settle(base + 1);
    top = pp_tool("-top http://127.0.0.1:%d/debug/pprof/goroutine", port);
    REQUIRE_MSG(pp_row(top, "http_parked", &f, &c) && pp_row(top, "listen_main", &f, &c) &&
                    pp_row(top, "rt__dh_serve_conn", &f, &c) && pp_total(top) == base + 2,
                "goroutines over http (want %d):\n%s", base + 2, top);
    rt_chan_close(gate);
    free(top);

    /* Delta profiles (?seconds=N on a named profile, as pprof -seconds
     * asks: Go's serveDeltaProfile): what blocked during the N seconds,
     * not what blocked before (it was a 400: an outside tester's find). */
    rt_set_block_profile_rate(1);
    pre_blocker();
    settle(base); /* http_parked and the connections have ended */
    REQUIRE_GT(rt_go(delta_blocker, (void *)(intptr_t)(base + 1)), 0);
    top = pp_tool("-top -unit=ns -seconds 2 -sample_index=delay "
                  "http://127.0.0.1:%d/debug/pprof/block",
                  port);
    rt_set_block_profile_rate(0);
    REQUIRE_MSG(pp_row(top, "delta_blocker", &f, &c) && c > 50e6 &&
                    !pp_row(top, "pre_blocker", &f, &c),
                "block delta over http:\n%s", top);
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
    snprintf(want, sizeof want, "num_symbols: 1\n%#lx http_alloc\n",
             (unsigned long)(uintptr_t)http_alloc);
    r = http(port, req);
    REQUIRE_MSG(strcmp(body_of(r), want) == 0, "symbol POST %s:\n%.500s", req, r);
    free(r);
    r = http(port, "GET /debug/pprof/nosuch HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strncmp(r, "HTTP/1.1 404", 12) == 0, "404:\n%.300s", r);
    free(r);
    r = http(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(strstr(r, "pprof_test_debughttp") != NULL, "cmdline:\n%.300s", r);
    free(r);

    /* a service name for the port is looked up (last: a second server
     * stays for the rest of this test's process) */
    struct servent *se = getservbyname("x11", "tcp");
    if (se != NULL) {
        int sp = rt_debug_serve("127.0.0.1:x11");
        REQUIRE_MSG(sp == ntohs((uint16_t)se->s_port) || sp == -EADDRINUSE,
                    "127.0.0.1:x11 -> %d, want %d", sp, ntohs((uint16_t)se->s_port));
    }
}

/* ---------------------------------------------------------------- JSON -- */

/* A strict JSON validator (RFC 8259): true if s[*i..] starts with one
 * value; advances *i past it. */
static bool js_value(const char *s, size_t *i, int depth);

static void js_ws(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')
        (*i)++;
}

static bool js_string(const char *s, size_t *i)
{
    if (s[*i] != '"')
        return false;
    for ((*i)++; s[*i] != '"'; (*i)++) {
        unsigned char c = (unsigned char)s[*i];
        if (c < 0x20)
            return false;
        if (c == '\\') {
            (*i)++;
            if (s[*i] == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", s[*i + k]) || s[*i + k] == 0)
                        return false;
                *i += 4;
            } else if (!strchr("\"\\/bfnrt", s[*i]) || s[*i] == 0) {
                return false;
            }
        }
    }
    (*i)++;
    return true;
}

static bool js_number(const char *s, size_t *i)
{
    size_t j = *i;
    if (s[j] == '-')
        j++;
    if (s[j] == '0')
        j++;
    else if (s[j] >= '1' && s[j] <= '9')
        while (s[j] >= '0' && s[j] <= '9')
            j++;
    else
        return false;
    if (s[j] == '.') {
        if (!(s[++j] >= '0' && s[j] <= '9'))
            return false;
        while (s[j] >= '0' && s[j] <= '9')
            j++;
    }
    if (s[j] == 'e' || s[j] == 'E') {
        j++;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (!(s[j] >= '0' && s[j] <= '9'))
            return false;
        while (s[j] >= '0' && s[j] <= '9')
            j++;
    }
    *i = j;
    return true;
}

static bool js_value(const char *s, size_t *i, int depth)
{
    js_ws(s, i);
    if (depth > 32)
        return false;
    char c = s[*i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        (*i)++;
        js_ws(s, i);
        if (s[*i] == close) {
            (*i)++;
            return true;
        }
        for (;;) {
            if (c == '{') {
                js_ws(s, i);
                if (!js_string(s, i))
                    return false;
                js_ws(s, i);
                if (s[(*i)++] != ':')
                    return false;
            }
            if (!js_value(s, i, depth + 1))
                return false;
            js_ws(s, i);
            if (s[*i] == ',') {
                (*i)++;
                continue;
            }
            if (s[*i] != close)
                return false;
            (*i)++;
            return true;
        }
    }
    if (c == '"')
        return js_string(s, i);
    if (strncmp(s + *i, "true", 4) == 0 || strncmp(s + *i, "null", 4) == 0) {
        *i += 4;
        return true;
    }
    if (strncmp(s + *i, "false", 5) == 0) {
        *i += 5;
        return true;
    }
    return js_number(s, i);
}

static bool json_valid(const char *s)
{
    size_t i = 0;
    if (!js_value(s, &i, 0))
        return false;
    js_ws(s, &i);
    return s[i] == 0;
}

/* The number after "key": in a JSON text (no nesting check), or -1. */
static long long json_num(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    return p ? strtoll(p + strlen(pat) + (p[strlen(pat)] == ' '), NULL, 10) : -1;
}

/* ----------------------------------------------------------- endpoints -- */

RT_TEST(test_endpoints)
{
    rt_maxprocs(2);
    http_alloc();
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    rt_chan *gate = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(http_parked, gate), 0);
    rt_sleep(10 * RT_MILLISECOND);
    int base = goroutines(); /* the listener and http_parked included */

    /* the index: Go's page, counts included (the serving goroutine too) */
    settle(base);
    char *r = http(port, "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT(r, 200, "Types of profiles available:");
    REQUIRE(header_is(r, "Content-Type", "text/html; charset=utf-8"));
    REQUIRE(header_is(r, "X-Content-Type-Options", "nosniff"));
    REQUIRE(header_is(r, "Connection", "close"));
    REQUIRE_EQ(strtoul(header(r, "Content-Length"), NULL, 10), strlen(body_of(r)));
    char want[256];
    snprintf(want, sizeof want,
             "<tr><td>%d</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>", base + 1);
    EXPECT(r, 200, want);
    EXPECT(r, 200, "<a href='profile?debug=1'>profile</a>");
    EXPECT(r, 200, "<li><div class=profile-name>heap: </div> A sampling of memory");
    free(r);
    r = http(port, "GET /debug/pprof HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(status_of(r) == 301 && header_is(r, "Location", "/debug/pprof/"), "%s", r);
    free(r);

    /* HEAD: the headers GET would send, no body */
    r = http(port, "HEAD /debug/pprof/cmdline HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(status_of(r) == 200 && *body_of(r) == 0 && header(r, "Content-Length"), "%s", r);
    REQUIRE_GT(strtoul(header(r, "Content-Length"), NULL, 10), 0);
    free(r);

    /* cmdline: argv joined by NULs, nothing after the last */
    size_t n;
    r = http_n(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n", 38, &n);
    FILE *f = fopen("/proc/self/cmdline", "rb");
    REQUIRE(f != NULL);
    char cbuf[8192];
    size_t cn = fread(cbuf, 1, sizeof cbuf, f);
    fclose(f);
    const char *b = body_of(r);
    REQUIRE_MSG(n - (size_t)(b - r) == cn - 1 && memcmp(b, cbuf, cn - 1) == 0,
                "cmdline: %zu bytes, want %zu", n - (size_t)(b - r), cn - 1);
    REQUIRE(header_is(r, "Content-Type", "text/plain; charset=utf-8"));
    free(r);

    /* binary profiles: octet-stream, attachment, gzip */
    r = http_n(port, "GET /debug/pprof/goroutine HTTP/1.1\r\n\r\n", 39, &n);
    REQUIRE_MSG(status_of(r) == 200 && header_is(r, "Content-Type", "application/octet-stream") &&
                    header_is(r, "Content-Disposition", "attachment; filename=\"goroutine\"") &&
                    (unsigned char)body_of(r)[0] == 0x1f && (unsigned char)body_of(r)[1] == 0x8b,
                "%.300s", r);
    free(r);
    r = http(port, "GET /debug/pprof/goroutine?debug=2 HTTP/1.1\r\n\r\n");
    EXPECT(r, 200, "http_parked");
    EXPECT(r, 200, "goroutine 1 [");
    REQUIRE(header_is(r, "Content-Type", "text/plain; charset=utf-8"));
    REQUIRE(header(r, "Content-Disposition") == NULL);
    free(r);
    r = http(port, "GET /debug/pprof/threadcreate?debug=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 200, "threadcreate profile: total ");
    free(r);
    r = http(port, "GET /debug/pprof/block?debug=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 200, "--- contention:");
    free(r);

    /* heap?gc=1 collects first */
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t gcs = ms.num_gc;
    r = http(port, "GET /debug/pprof/heap?gc=1&debug=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 200, "heap profile: ");
    free(r);
    rt_read_memstats(&ms);
    REQUIRE_GT(ms.num_gc, gcs);

    /* symbol: Go's GET-with-query form too, any base, junk skipped */
    snprintf(want, sizeof want, "GET /debug/pprof/symbol?%#lx+junk+0 HTTP/1.1\r\n\r\n",
             (unsigned long)(uintptr_t)http_alloc);
    r = http(port, want);
    snprintf(want, sizeof want, "num_symbols: 1\n%#lx http_alloc\n",
             (unsigned long)(uintptr_t)http_alloc);
    REQUIRE_MSG(status_of(r) == 200 && strcmp(body_of(r), want) == 0, "%s", r);
    free(r);

    /* /debug/vars: valid JSON with Go's names */
    settle(base);
    r = http(port, "GET /debug/vars HTTP/1.1\r\n\r\n");
    REQUIRE(header_is(r, "Content-Type", "application/json; charset=utf-8"));
    REQUIRE_MSG(status_of(r) == 200 && json_valid(body_of(r)), "not JSON:\n%s", r);
    EXPECT(r, 200, "\"cmdline\": [\"");
    EXPECT(r, 200, "\"PauseNs\":[");
    EXPECT(r, 200, "\"BySize\":[{\"Size\":0,");
    REQUIRE_GE(json_num(body_of(r), "NumGC"), (long long)gcs + 1);
    REQUIRE_EQ(json_num(body_of(r), "goroutines"), base + 1);
    REQUIRE_GT(json_num(body_of(r), "HeapAlloc"), 32 << 20); /* http_alloc's */
    free(r);

    /* errors: Go's wording where Go has one */
    r = http(port, "GET /debug/pprof/profile?seconds=abc HTTP/1.1\r\n\r\n");
    EXPECT(r, 400, "invalid value for \"seconds\" - must be a positive integer\n");
    REQUIRE(header_is(r, "X-Go-Pprof", "1"));
    free(r);
    r = http(port, "GET /debug/pprof/heap?debug=x HTTP/1.1\r\n\r\n");
    EXPECT(r, 400, "invalid value for \"debug\"");
    free(r);
    r = http(port, "GET /debug/pprof/heap?seconds=1&debug=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 400, "seconds and debug params are incompatible");
    free(r);
    r = http(port, "GET /debug/pprof/nosuch HTTP/1.1\r\n\r\n");
    EXPECT(r, 404, "Unknown profile\n");
    free(r);
    r = http(port, "GET /nosuch HTTP/1.1\r\n\r\n");
    EXPECT(r, 404, "404 page not found\n");
    free(r);
    r = http(port, "DELETE /debug/pprof/heap HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(status_of(r) == 405 && header_is(r, "Allow", "GET, HEAD"), "%s", r);
    free(r);
    r = http(port, "PUT /debug/grt/settings HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    REQUIRE_MSG(status_of(r) == 405 && header_is(r, "Allow", "GET, HEAD, POST"), "%s", r);
    free(r);
    r = http(port, "GET /debug/pprof/ HTTP/2.0\r\n\r\n");
    REQUIRE_EQ(status_of(r), 505);
    free(r);
    r = http(port, "GARBAGE\r\n\r\n");
    EXPECT(r, 400, "400 Bad Request: ");
    free(r);
    r = http(port, "GET /debug/pprof/heap%zz HTTP/1.1\r\n\r\n");
    EXPECT(r, 400, "invalid URL escape");
    free(r);
    /* a request cut short: the client half-closes */
    int fd = dial(port);
    send_all(fd, "GET /debug/pprof/ HTTP/1.1\r\nHost:", 33);
    shutdown(fd, SHUT_WR);
    r = read_all(fd, NULL);
    EXPECT(r, 400, "400 Bad Request");
    free(r);

    /* limits: 8 KiB of headers, 64 headers, 64 KiB of body */
    size_t big = 64 * 1024 + 200;
    char *req = malloc(big + 256);
    int k = snprintf(req, 256, "GET /debug/pprof/ HTTP/1.1\r\nX-Big: ");
    memset(req + k, 'a', 9000);
    strcpy(req + k + 9000, "\r\n\r\n");
    r = http(port, req);
    EXPECT(r, 431, "431 Request Header Fields Too Large");
    free(r);
    k = snprintf(req, 256, "GET /debug/pprof/ HTTP/1.1\r\n");
    for (int i = 0; i < 70; i++)
        k += snprintf(req + k, 32, "X-%d: v\r\n", i);
    strcpy(req + k, "\r\n");
    r = http(port, req);
    EXPECT(r, 431, "431 Request Header Fields Too Large");
    free(r);
    r = http(port, "POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 65537\r\n\r\n");
    EXPECT(r, 413, "413 Request Entity Too Large");
    free(r);
    k = snprintf(req, 256, "POST /debug/pprof/symbol HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                           "\r\n10100\r\n");
    memset(req + k, '0', 0x10100);
    strcpy(req + k + 0x10100, "\r\n0\r\n\r\n");
    fd = dial(port);
    send_all(fd, req, strlen(req));
    r = read_all(fd, NULL);
    EXPECT(r, 413, "413 Request Entity Too Large");
    free(r);
    /* a body at the limit is fine, and Expect: 100-continue is answered */
    k = snprintf(req, 256, "POST /debug/pprof/symbol HTTP/1.1\r\nExpect: 100-continue\r\n"
                           "Content-Length: %d\r\n\r\n",
                 64 * 1024);
    fd = dial(port);
    send_all(fd, req, (size_t)k);
    char cont[64] = "";
    REQUIRE_GT(RT_BLOCKING(read(fd, cont, sizeof cont - 1)), 0);
    REQUIRE_MSG(strcmp(cont, "HTTP/1.1 100 Continue\r\n\r\n") == 0, "%s", cont);
    memset(req, '+', 64 * 1024);
    snprintf(req, 64, "%#lx", (unsigned long)(uintptr_t)http_alloc);
    req[strlen(req)] = '+';
    send_all(fd, req, 64 * 1024);
    r = read_all(fd, NULL);
    EXPECT(r, 200, " http_alloc\n");
    free(r);
    free(req);
    rt_chan_close(gate);
}

/* ------------------------------------------------------------ settings -- */

/* What fn prints to fd 2 while it runs (a pipe drained afterwards). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/grt-stderr-XXXXXX";
    int tmp = mkstemp(path);
    REQUIRE(tmp >= 0);
    unlink(path);
    int saved = dup(2);
    dup2(tmp, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    size_t n = (size_t)lseek(tmp, 0, SEEK_END);
    char *b = calloc(1, n + 1);
    REQUIRE_EQ(pread(tmp, b, n, 0), (ssize_t)n);
    close(tmp);
    return b;
}

static void do_gc(void)
{
    rt_gc();
}

static void do_sleep(void)
{
    rt_sleep(300 * RT_MILLISECOND);
}

static int settings_port;

static char *settings(const char *query)
{
    char req[512];
    snprintf(req, sizeof req, "GET /debug/grt/settings%s HTTP/1.1\r\n\r\n", query);
    return http(settings_port, req);
}

RT_TEST(test_settings)
{
    rt_maxprocs(2);
    int port = settings_port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    char *r = settings("");
    REQUIRE_MSG(status_of(r) == 200 &&
                    strcmp(body_of(r), "gctrace=0\nschedtrace=0\nscheddetail=0\n"
                                       "memprofilerate=524288\nblockprofilerate=0\n"
                                       "mutexprofilefraction=0\ngogc=100\n") == 0,
                "%s", r);
    REQUIRE(header_is(r, "Content-Type", "text/plain; charset=utf-8"));
    free(r);

    /* POST, form-encoded as curl -d sends it */
    const char *body = "gogc=50&mutexprofilefraction=5&blockprofilerate=1000&memprofilerate=4096";
    char req[512];
    snprintf(req, sizeof req,
             "POST /debug/grt/settings HTTP/1.1\r\nContent-Type: "
             "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    r = http(port, req);
    EXPECT(r, 200, "gogc=50\n");
    free(r);
    REQUIRE_EQ(rt_set_gc_percent(100), 50);
    REQUIRE_EQ(rt_set_mutex_profile_fraction(-1), 5);
    r = settings("");
    EXPECT(r, 200, "memprofilerate=4096\nblockprofilerate=1000\nmutexprofilefraction=5\n"
                   "gogc=100\n");
    free(r);

    /* invalid: 400, and nothing changes, not even the valid fields */
    r = settings("?mutexprofilefraction=7&gogc=abc");
    EXPECT(r, 400, "invalid value for \"gogc\": \"abc\"");
    free(r);
    r = settings("?gctrace=1&nosuch=1");
    EXPECT(r, 400, "unknown setting \"nosuch\"");
    free(r);
    r = settings("?gctrace=-1");
    EXPECT(r, 400, "invalid value for \"gctrace\"");
    free(r);
    REQUIRE_EQ(rt_set_mutex_profile_fraction(-1), 5);
    r = settings("");
    EXPECT(r, 200, "gctrace=0\n");
    free(r);

    /* GOGC off through a query, seen by the collector */
    r = settings("?gogc=off");
    EXPECT(r, 200, "gogc=off\n");
    free(r);
    rt_memstats ms;
    rt_read_memstats(&ms);
    REQUIRE(!ms.enable_gc);
    r = settings("?gogc=-1");
    EXPECT(r, 200, "gogc=off\n");
    free(r);
    r = settings("?gogc=-7"); /* any negative is off, as GOGC=-7 is */
    EXPECT(r, 200, "gogc=off\n");
    free(r);
    r = settings("?gogc=100");
    EXPECT(r, 200, "gogc=100\n");
    free(r);

    /* the tracers pick up a change while the program runs */
    char *err = capture_stderr(do_gc);
    REQUIRE_MSG(strstr(err, "gc") == NULL, "gctrace off printed:\n%s", err);
    free(err);
    r = settings("?gctrace=1");
    EXPECT(r, 200, "gctrace=1\n");
    free(r);
    err = capture_stderr(do_gc);
    REQUIRE_MSG(strncmp(err, "gc", 2) == 0, "no gctrace line after gctrace=1:\n%s", err);
    free(err);
    r = settings("?gctrace=0&schedtrace=50");
    EXPECT(r, 200, "schedtrace=50\n");
    free(r);
    err = capture_stderr(do_sleep);
    r = settings("?schedtrace=0");
    free(r);
    REQUIRE_MSG(strstr(err, "SCHED ") != NULL, "no SCHED line after schedtrace=50:\n%s", err);
    free(err);
}

/* --------------------------------------------------------------- limits -- */

typedef struct prof_req {
    int port;
    char *resp;
    size_t len;
} prof_req;

static void *profile_thread(void *arg)
{
    prof_req *p = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return NULL;
    const char *req = "GET /debug/pprof/profile?seconds=2 HTTP/1.1\r\n\r\n";
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        return NULL;
    size_t cap = 1 << 20;
    p->resp = malloc(cap);
    ssize_t k;
    while ((k = read(fd, p->resp + p->len, cap - p->len - 1)) > 0)
        p->len += (size_t)k;
    p->resp[p->len] = 0;
    close(fd);
    return NULL;
}

/* Delta profiles wait their seconds side by side, as Go's handlers do:
 * a 1-second request sent while a 4-second one waits is answered first
 * (they took turns: four 2-second requests came back at 2, 4, 6 and 8 s,
 * an outside tester's find). */
typedef struct delta_req {
    int port;
    const char *path;
    int status;
    int order; /* 1 for the first answer, 2 for the second */
} delta_req;

static atomic_int deltas_done;

static void *delta_thread(void *arg)
{
    delta_req *d = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return NULL;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", d->path);
    if (write(fd, req, (size_t)n) != n)
        return NULL;
    char head[16] = {0};
    size_t got = 0;
    ssize_t k;
    char sink[4096];
    while ((k = read(fd, got < 15 ? head + got : sink, got < 15 ? 15 - got : sizeof sink)) > 0)
        got += (size_t)k;
    close(fd);
    d->order = atomic_fetch_add(&deltas_done, 1) + 1;
    if (strncmp(head, "HTTP/1.1 ", 9) == 0)
        d->status = atoi(head + 9);
    return NULL;
}

RT_TEST(test_deltas_side_by_side)
{
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    delta_req slow = {port, "/debug/pprof/goroutine?seconds=4", 0, 0};
    delta_req fast = {port, "/debug/pprof/heap?seconds=1", 0, 0};
    pthread_t ts, tf;
    REQUIRE_EQ(pthread_create(&ts, NULL, delta_thread, &slow), 0);
    rt_sleep(300 * RT_MILLISECOND); /* the slow one is in its wait */
    REQUIRE_EQ(pthread_create(&tf, NULL, delta_thread, &fast), 0);
    REQUIRE_EQ(RT_BLOCKING(pthread_join(tf, NULL)), 0);
    REQUIRE_EQ(RT_BLOCKING(pthread_join(ts, NULL)), 0);
    REQUIRE_MSG(slow.status == 200 && fast.status == 200, "statuses %d and %d", slow.status,
                fast.status);
    REQUIRE_MSG(fast.order == 1 && slow.order == 2,
                "the 1-second delta was answered %s the 4-second one",
                fast.order == 2 ? "after" : "with");
}

RT_TEST(test_limits)
{
    rt_maxprocs(2);
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    int base = goroutines(); /* the listener's included */
    uint64_t rescues0 = atomic_load(&rt__debug_rescues);

    /* one CPU profile at a time: the second is Go's 500 */
    prof_req pr = {.port = port};
    pthread_t t;
    REQUIRE_EQ(pthread_create(&t, NULL, profile_thread, &pr), 0);
    rt_sleep(500 * RT_MILLISECOND);
    char *r = http(port, "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 500, "Could not enable CPU profiling: cpu profiling already in use\n");
    free(r);
    REQUIRE_EQ(RT_BLOCKING(pthread_join(t, NULL)), 0);
    REQUIRE_MSG(pr.resp != NULL && status_of(pr.resp) == 200 &&
                    header_is(pr.resp, "Content-Disposition", "attachment; filename=\"profile\"") &&
                    (unsigned char)body_of(pr.resp)[0] == 0x1f,
                "profile: %.300s", pr.resp ? pr.resp : "(none)");
    free(pr.resp);

    /* 256 slow clients hold every slot (a goroutine each); the 257th is
     * refused at once, by the listener: it costs no goroutine */
    settle(base);
    enum { NSLOW = 256 };
    static int slow[NSLOW];
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < NSLOW; i++) {
        slow[i] = dial(port);
        send_all(slow[i], "GET /debug/pprof/ HTTP/1.1\r\nHo", 30);
    }
    settle(base + NSLOW); /* every slow one accepted */
    r = http(port, "GET /debug/pprof/ HTTP/1.1\r\n\r\n");
    EXPECT(r, 503, "503 Service Unavailable");
    free(r);
    REQUIRE_EQ(goroutines(), base + NSLOW);
    REQUIRE_LT(rt_nanotime() - t0, 5 * RT_SECOND);
    /* trickling bytes does not extend the deadline */
    for (int i = 0; i < 3; i++) {
        rt_sleep(2 * RT_SECOND);
        send_all(slow[0], "s", 1);
    }
    for (int i = 0; i < NSLOW; i++) {
        r = read_all(slow[i], NULL);
        EXPECT(r, 408, "408 Request Timeout");
        free(r);
    }
    int64_t waited = rt_nanotime() - t0;
    REQUIRE_MSG(waited >= 9 * RT_SECOND && waited < 20 * RT_SECOND, "408 after %lld ms",
                (long long)(waited / RT_MILLISECOND));
    settle(base); /* their goroutines ended with them */
    /* No goroutine computed for 10 ms here: the rescue thread (for a
     * program whose every P runs C code) took nothing.  It once took a
     * slow client when the machine was loaded -- Ms waiting for a CPU
     * looked stuck -- and a goroutine was missing from the count. */
    REQUIRE_EQ(atomic_load(&rt__debug_rescues), rescues0);
    /* and the program keeps serving */
    rt_sleep(100 * RT_MILLISECOND);
    r = http(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n");
    EXPECT(r, 200, "pprof_test_debughttp");
    free(r);
}

/* ---------------------------------------------------------- goroutines -- */

/* Whether the debug=2 dump has a goroutine whose header says state and
 * whose frames call fn. */
static bool dump_has(const char *dump, const char *state, const char *fn)
{
    char hdr[64], call[128];
    snprintf(hdr, sizeof hdr, " [%s", state);
    snprintf(call, sizeof call, "\n%s(", fn);
    for (const char *g = strstr(dump, "goroutine "); g != NULL;) {
        const char *next = strstr(g, "\n\ngoroutine ");
        const char *eol = strchr(g, '\n');
        const char *h = strstr(g, hdr);
        const char *f = strstr(g, call);
        if (h != NULL && eol != NULL && h < eol && f != NULL && (next == NULL || f < next))
            return true;
        g = next ? next + 2 : NULL;
    }
    return false;
}

/* goroutine?debug=2 until ok(dump) holds, at most 50 times 20 ms apart:
 * the listener runs for a moment after it accepts the connection that
 * asks (then the dump says "running" and shows no stack), and returns to
 * its IO wait right after.  The last response, for the caller to check. */
static char *dump_until(int port, bool (*ok)(const char *dump))
{
    char *r = NULL;
    for (int i = 0; i < 50; i++) {
        free(r);
        r = http(port, "GET /debug/pprof/goroutine?debug=2 HTTP/1.1\r\n\r\n");
        if (status_of(r) == 200 && ok(body_of(r)))
            break;
        rt_sleep(20 * RT_MILLISECOND);
    }
    return r;
}

/* The listener, a slow client's goroutine waiting for its request, and
 * the goroutine serving the dump. */
static bool server_goroutines(const char *d)
{
    return dump_has(d, "IO wait", "rt_net_accept") && dump_has(d, "IO wait", "listen_main") &&
           dump_has(d, "IO wait", "rt_conn_read") && dump_has(d, "IO wait", "conn_main") &&
           dump_has(d, "running", "rt__dh_serve_conn");
}

/* The server is goroutines on the netpoller: while a request is served,
 * the listener waits in accept and a slow client's goroutine in a read,
 * both "IO wait"; a client that hangs up during a CPU profile ends it (and
 * its goroutine) at once; one that leaves before its answer costs the
 * server an -EPIPE, not a SIGPIPE. */
RT_TEST(test_goroutines)
{
    rt_maxprocs(2);
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    /* called from a goroutine, rt_debug_serve has started the listener
     * when it returns (it once left that to its pre-rt_main thread when
     * goroutine 1 ran before rt_main had marked itself running) */
    int base = goroutines();
    REQUIRE_EQ(base, 2);

    int slow = dial(port);
    send_all(slow, "GET /debug/pprof/ HTTP/1.1\r\nHo", 30);
    settle(base + 1); /* its connection goroutine */
    rt_sleep(20 * RT_MILLISECOND); /* ... parked in its read */
    char *r = dump_until(port, server_goroutines);
    REQUIRE_MSG(status_of(r) == 200 && server_goroutines(body_of(r)),
                "want the listener and a connection goroutine in IO wait, the serving one "
                "running:\n%s",
                r);
    free(r);
    send_all(slow, "st: x\r\n\r\n", 9); /* the slow request completes */
    r = read_all(slow, NULL);
    EXPECT(r, 200, "Types of profiles available:");
    free(r);
    settle(base);

    /* hang-up during profile?seconds=60: the profile ends at once */
    int fd = dial(port);
    const char *req = "GET /debug/pprof/profile?seconds=60 HTTP/1.1\r\n\r\n";
    send_all(fd, req, strlen(req));
    rt_sleep(300 * RT_MILLISECOND);
    r = http(port, "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\n\r\n");
    EXPECT(r, 500, "cpu profiling already in use"); /* it runs */
    free(r);
    int64_t t0 = rt_nanotime();
    close(fd);
    settle(base);
    REQUIRE_LT(rt_nanotime() - t0, 2 * RT_SECOND);
    r = http(port, "GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\n\r\n");
    REQUIRE_MSG(status_of(r) == 200, "a profile after the hang-up:\n%.300s", r);
    free(r);

    /* clients that reset the connection before the answer: the server's
     * write fails, and the next request (accepted after it) is answered */
    for (int i = 0; i < 20; i++) {
        int k = dial(port);
        req = "GET /debug/pprof/goroutine?debug=2 HTTP/1.1\r\n\r\n";
        send_all(k, req, strlen(req));
        struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
        REQUIRE_EQ(setsockopt(k, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        close(k);
        r = http(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n");
        EXPECT(r, 200, "pprof_test_debughttp");
        free(r);
    }
    settle(base);
}

/* ------------------------------------------------------------ scenarios -- */

/* One request over grt's own net API; the response's status, the response
 * in out. */
static int fetch(int port, const char *req, char *out, size_t n)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    rt_conn *c;
    out[0] = 0;
    if (rt_net_dial("tcp", addr, &c) != 0)
        return -1;
    (void)rt_conn_set_deadline(c, rt_nanotime() + 10 * RT_SECOND);
    size_t got = 0;
    ssize_t k = rt_conn_write(c, req, strlen(req));
    while (k >= 0 && got + 1 < n && (k = rt_conn_read(c, out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    rt_conn_close(c);
    return status_of(out);
}

/* "deadlock": every goroutine of the program blocks on a channel while the
 * server listens.  Not reported as a deadlock (the listener waits for the
 * network), as with Go's net/http/pprof; the parent asks the server where
 * the goroutines are stuck, then kills this process. */
NOINLINE static int scenario_deadlock(void)
{
    int port = rt_debug_serve("127.0.0.1:0");
    fprintf(stderr, "port %d\n", port);
    rt_chan *c = rt_chan_make(0, 0);
    rt_go(http_parked, c);
    rt_chan_recv(c, NULL);
    fprintf(stderr, "the channel was closed\n");
    return 1;
}

/* "premain": rt_debug_serve called in main() before rt_main (main()
 * below), then from a thread of the program's own while rt_main runs;
 * both servers answer.  Exits 0 if so. */
static int premain_port;

static void *serve_from_thread(void *arg)
{
    *(int *)arg = rt_debug_serve("127.0.0.1:0");
    return NULL;
}

static int scenario_premain(void)
{
    static char out[1 << 16];
    int st = 0;
    for (int i = 0; i < 50; i++) { /* see dump_until */
        st = fetch(premain_port, "GET /debug/pprof/goroutine?debug=2 HTTP/1.1\r\n\r\n", out,
                   sizeof out);
        if (st == 200 && dump_has(body_of(out), "IO wait", "listen_main"))
            break;
        rt_sleep(20 * RT_MILLISECOND);
    }
    if (st != 200 || !dump_has(body_of(out), "IO wait", "listen_main")) {
        fprintf(stderr, "server started before rt_main: %d\n%.2000s\n", st, out);
        return 1;
    }
    pthread_t t;
    int port = 0;
    if (pthread_create(&t, NULL, serve_from_thread, &port) != 0 ||
        RT_BLOCKING(pthread_join(t, NULL)) != 0 || port <= 0) {
        fprintf(stderr, "rt_debug_serve from a thread: %d\n", port);
        return 1;
    }
    st = fetch(port, "GET /debug/pprof/cmdline HTTP/1.1\r\n\r\n", out, sizeof out);
    if (st != 200) {
        fprintf(stderr, "server started from a thread: %d\n%.500s\n", st, out);
        return 1;
    }
    return 0;
}

static int scenario(int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[2], "deadlock") == 0)
        return scenario_deadlock();
    if (strcmp(argv[2], "premain") == 0)
        return scenario_premain();
    return 3;
}

/* The blocked program's goroutines, and the listener waiting. */
static bool blocked_program(const char *d)
{
    return dump_has(d, "chan receive", "scenario_deadlock") &&
           dump_has(d, "chan receive", "http_parked") && dump_has(d, "IO wait", "listen_main");
}

RT_TEST(test_no_deadlock)
{
    char *envp[1024];
    harness_child_env(envp, sizeof envp / sizeof envp[0], NULL);
    int pfd[2];
    REQUIRE_EQ(pipe(pfd), 0);
    pid_t pid = fork();
    REQUIRE_GE(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        char *argv[] = {(char *)"deadlock", (char *)"--scenario", (char *)"deadlock", NULL};
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    char line[256] = "";
    size_t n = 0;
    while (n + 1 < sizeof line && strchr(line, '\n') == NULL) {
        ssize_t k = RT_BLOCKING(read(pfd[0], line + n, sizeof line - 1 - n));
        if (k <= 0)
            break;
        n += (size_t)k;
        line[n] = 0;
    }
    int port = 0;
    REQUIRE_MSG(sscanf(line, "port %d", &port) == 1 && port > 0, "child said: %s", line);
    /* checkdead runs as the last M goes idle: long done by now */
    rt_sleep(500 * RT_MILLISECOND);
    int st;
    REQUIRE_MSG(waitpid(pid, &st, WNOHANG) == 0, "the child ended (status %#x): %s", st, line);
    char *r = dump_until(port, blocked_program);
    REQUIRE_MSG(status_of(r) == 200 && blocked_program(body_of(r)),
                "goroutines of the blocked program:\n%s", r);
    free(r);
    REQUIRE_EQ(kill(pid, SIGKILL), 0);
    REQUIRE_EQ(RT_BLOCKING(waitpid(pid, &st, 0)), pid);
    close(pfd[0]);
}

/* ---- a program whose every P runs C code that never calls into the
 * runtime: the rescue thread answers (debugserve.c) ---- */

static atomic_int busy_stop, busy_started;
static rt_waitgroup busy_wg;
static _Atomic unsigned long busy_sink;

__attribute__((noinline)) static unsigned long busy_step(unsigned long x)
{
    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005UL + 1;
    return x;
}

static void busy_spin(void *p)
{
    (void)p;
    unsigned long x = 1;
    atomic_fetch_add(&busy_started, 1);
    while (!atomic_load_explicit(&busy_stop, memory_order_relaxed))
        x = busy_step(x); /* no call into the runtime */
    atomic_store_explicit(&busy_sink, x, memory_order_relaxed);
    rt_waitgroup_done(&busy_wg);
}

/* A plain thread's HTTP GET (no goroutine: nothing runs one meanwhile;
 * no REQUIRE either, which is the test goroutine's to call). */
static char *raw_get(int port, const char *path, size_t *len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    return read_all(fd, len); /* (RT_BLOCKING is a no-op off goroutines) */
}

typedef struct busy_client {
    int port;
    char *cmdline, *goroutines, *profile, *heap, *vars;
    size_t profile_len;
} busy_client;

static void *busy_client_main(void *arg)
{
    busy_client *bc = arg;
    /* Both Ps taken first: a request accepted by the listener goroutine
     * while a P was still free had its connection goroutine queued behind
     * the spinners for good (goroutines in C loops are not preempted) --
     * with four other busy processes on the machine, 300 ms after the
     * spinners' rt_go was not always enough (an empty answer after 20 s). */
    struct timespec ts = {0, 1000 * 1000};
    while (atomic_load(&busy_started) < 2)
        nanosleep(&ts, NULL);
    bc->cmdline = raw_get(bc->port, "/debug/pprof/cmdline", NULL);
    bc->goroutines = raw_get(bc->port, "/debug/pprof/goroutine?debug=1", NULL);
    bc->profile = raw_get(bc->port, "/debug/pprof/profile?seconds=1", &bc->profile_len);
    bc->heap = raw_get(bc->port, "/debug/pprof/heap?gc=1&debug=1", NULL);
    bc->vars = raw_get(bc->port, "/debug/vars", NULL);
    atomic_store(&busy_stop, 1);
    return NULL;
}

/* At MAXPROCS=2, a server on *port (the first member of the client's
 * record, client's argument), the client on a plain thread, and n
 * goroutines fn, which end (busy_wg) once the client is done with them;
 * returns how many connections the rescue thread served meanwhile. */
static uint64_t every_p_taken(void *(*client)(void *), int *port, void (*fn)(void *), int n)
{
    rt_maxprocs(2);
    *port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(*port, 0);
    uint64_t rescues0 = atomic_load(&rt__debug_rescues);
    pthread_t t;
    REQUIRE_EQ(pthread_create(&t, NULL, client, port), 0);
    rt_waitgroup_add(&busy_wg, n);
    for (int i = 0; i < n; i++)
        rt_go(fn, NULL);
    rt_waitgroup_wait(&busy_wg);
    REQUIRE_EQ(RT_BLOCKING(pthread_join(t, NULL)), 0);
    return atomic_load(&rt__debug_rescues) - rescues0;
}

RT_TEST(test_busy_program)
{
    busy_client bc = {0};
    uint64_t rescued = every_p_taken(busy_client_main, &bc.port, busy_spin, 2);
    REQUIRE_MSG(bc.cmdline && status_of(bc.cmdline) == 200 &&
                    strstr(body_of(bc.cmdline), "pprof_test_debughttp") != NULL,
                "cmdline: %.300s", bc.cmdline ? bc.cmdline : "(none)");
    REQUIRE_MSG(bc.goroutines && status_of(bc.goroutines) == 200 &&
                    strstr(bc.goroutines, "busy_spin") != NULL,
                "goroutines: %.2000s", bc.goroutines ? bc.goroutines : "(none)");
    REQUIRE_MSG(bc.profile && status_of(bc.profile) == 200 &&
                    (unsigned char)body_of(bc.profile)[0] == 0x1f,
                "profile: %.300s", bc.profile ? bc.profile : "(none)");
    REQUIRE_MSG(bc.heap && status_of(bc.heap) == 200 && strstr(bc.heap, "heap profile:") != NULL,
                "heap: %.300s", bc.heap ? bc.heap : "(none)");
    REQUIRE_MSG(bc.vars && status_of(bc.vars) == 200 && strstr(bc.vars, "\"memstats\"") != NULL,
                "vars: %.300s", bc.vars ? bc.vars : "(none)");
    /* served by the rescue thread: no goroutine could have */
    REQUIRE_GE(rescued, 5);
    free(bc.cmdline);
    free(bc.goroutines);
    free(bc.profile);
    free(bc.heap);
    free(bc.vars);
}

/* Every P held by a goroutine blocked in a system call the runtime was
 * not told of (no RT_BLOCKING): as held as by a loop, and the threads use
 * no CPU -- the rescue thread answers all the same (sysmon tells such a
 * thread, asleep in the kernel, from one waiting for a CPU). */
static atomic_int sleepers_started;

static void raw_sleeper(void *p)
{
    (void)p;
    atomic_fetch_add(&sleepers_started, 1);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL); /* the P stays taken */
    rt_waitgroup_done(&busy_wg);
}

typedef struct sleep_client {
    int port;
    char *cmdline;
    int64_t took_ns;
} sleep_client;

static void *sleep_client_main(void *arg)
{
    sleep_client *sc = arg;
    struct timespec ts = {0, 1000 * 1000};
    while (atomic_load(&sleepers_started) < 2)
        nanosleep(&ts, NULL);
    nanosleep(&ts, NULL); /* into their nanosleep */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sc->cmdline = raw_get(sc->port, "/debug/pprof/cmdline", NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sc->took_ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    return NULL;
}

RT_TEST(test_blocked_program)
{
    /* three for two Ps: two of them hold both (however the spawns were
     * spread, the idle P takes a queued one), the third waits its turn */
    sleep_client sc = {0};
    uint64_t rescued = every_p_taken(sleep_client_main, &sc.port, raw_sleeper, 3);
    REQUIRE_MSG(sc.cmdline && status_of(sc.cmdline) == 200 &&
                    strstr(body_of(sc.cmdline), "pprof_test_debughttp") != NULL,
                "cmdline: %.300s", sc.cmdline ? sc.cmdline : "(none)");
    /* answered while both still slept, by the rescue thread */
    REQUIRE_MSG(sc.took_ns < 1500 * RT_MILLISECOND, "cmdline took %lld ms",
                (long long)(sc.took_ns / RT_MILLISECOND));
    REQUIRE_MSG(rescued >= 1, "not rescued (answered in %lld ms)",
                (long long)(sc.took_ns / RT_MILLISECOND));
    free(sc.cmdline);
}

/* An object libgrt allocates for itself (the debug server's listener and
 * connections) is recorded with the runtime's frames above the allocator,
 * as Go's heap profile names runtime.malg or net/http: it came out with
 * only its goroutine's root, "System" in the proto and a bare address in
 * the text (an outside tester's find). */
RT_TEST(test_runtime_allocations_named)
{
    rt_set_memprofile_rate(1);
    int port = rt_debug_serve("127.0.0.1:0");
    REQUIRE_GT(port, 0);
    free(http(port, "GET /debug/pprof/cmdline HTTP/1.0\r\n\r\n"));
    rt_gc();
    rt_gc(); /* published as of the last completed cycle */
    char *r = http(port, "GET /debug/pprof/heap?debug=1 HTTP/1.0\r\n\r\n");
    REQUIRE_EQ(status_of(r), 200);
    const char *b = body_of(r);
    int records = 0;
    for (const char *l = b; *l != '\0' && strncmp(l, "\n# runtime.MemStats", 20) != 0;) {
        const char *e = strchr(l, '\n');
        if (e == NULL)
            break;
        if (strstr(l, " @ ") != NULL && strstr(l, " @ ") < e && l != b) {
            records++;
            REQUIRE_MSG(strncmp(e + 1, "#\t", 2) == 0, "a record without frames:\n%.*s\n\n%s",
                        (int)(e - l), l, b);
        }
        l = e + 1;
    }
    REQUIRE_GT(records, 0);
    REQUIRE_MSG(strstr(b, "listen_main") != NULL, "the listener's allocations:\n%s", b);
    free(r);
    char *top = pp_tool("-traces -sample_index=alloc_space "
                        "http://127.0.0.1:%d/debug/pprof/heap",
                        port);
    REQUIRE_MSG(strstr(top, "System") == NULL && strstr(top, "listen_main") != NULL,
                "heap proto:\n%s", top);
    free(top);
}

RT_TEST(test_before_main)
{
    static char err[1 << 14];
    int st = run_scenario("premain", NULL, err, sizeof err);
    REQUIRE_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "premain: status %#x:\n%s", st, err);
}

static Suite *suite(void)
{
    Suite *s = suite_create("debughttp");
    TCase *tc = tcase_create("debughttp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_serve);
    tcase_add_test(tc, test_endpoints);
    tcase_add_test(tc, test_settings);
    tcase_add_test(tc, test_deltas_side_by_side);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_goroutines);
    tcase_add_test(tc, test_no_deadlock);
    tcase_add_test(tc, test_busy_program);
    tcase_add_test(tc, test_blocked_program);
    tcase_add_test(tc, test_runtime_allocations_named);
    tcase_add_test(tc, test_before_main);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    /* "premain" calls rt_debug_serve before rt_main, as a C main() may */
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0 && strcmp(argv[2], "premain") == 0) {
        premain_port = rt_debug_serve("127.0.0.1:0");
        if (premain_port <= 0) {
            fprintf(stderr, "rt_debug_serve before rt_main: %d\n", premain_port);
            return 1;
        }
        return rt_main(scenario, argc, argv);
    }
    return harness_main(argc, argv, suite(), scenario);
}
