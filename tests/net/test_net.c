/*
 * tests/net/test_net.c -- the network and file API (sched/net.c) and the
 * poller under it (sched/netpoll.c), through rt.h alone.
 *
 * ctest runs this program at the default MAXPROCS and at MAXPROCS 1 and 2
 * (tests/net/CMakeLists.txt).  Nothing here asserts how fast anything is:
 * bounds on time only turn a lost wake-up into a failure instead of a hang.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "harness.h"

/* ------------------------------------------------------------ helpers -- */

static rt_listener *must_listen(const char *network, const char *address)
{
    rt_listener *l = NULL;
    int err = rt_net_listen(network, address, &l);
    REQUIRE_MSG(err == 0, "listen %s %s: %s", network, address, strerror(-err));
    REQUIRE(l != NULL);
    return l;
}

static void addr_of(rt_listener *l, char *buf, size_t n)
{
    int len = rt_listener_addr(l, buf, n);
    REQUIRE_GT(len, 0);
    REQUIRE_EQ((size_t)len, strlen(buf));
}

static int port_of(rt_listener *l)
{
    char a[128];
    addr_of(l, a, sizeof a);
    const char *colon = strrchr(a, ':');
    REQUIRE(colon != NULL);
    return atoi(colon + 1);
}

static void write_all(rt_conn *c, const void *p, size_t n)
{
    ssize_t w = rt_conn_write(c, p, n);
    REQUIRE_MSG(w == (ssize_t)n, "write %zu: %zd (%s)", n, w,
                w < 0 ? strerror((int)-w) : "short");
}

static void read_full(rt_conn *c, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = rt_conn_read(c, (char *)p + got, n - got);
        REQUIRE_MSG(r > 0, "read: %zd after %zu of %zu bytes", r, got, n);
        got += (size_t)r;
    }
}

/* Reads exactly n bytes in reads that ask for more (cap): every read that
 * gets them all is short. */
static void read_short(rt_conn *c, void *p, size_t n, size_t cap)
{
    REQUIRE(n < cap);
    size_t got = 0;
    while (got < n) {
        ssize_t r = rt_conn_read(c, (char *)p + got, cap - got);
        REQUIRE_MSG(r > 0, "read: %zd after %zu of %zu bytes", r, got, n);
        got += (size_t)r;
    }
    REQUIRE_EQ(got, n);
}

/* Echoes everything on one connection until the peer closes it. */
static void echo_conn(void *arg)
{
    rt_conn *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t r = rt_conn_read(c, buf, sizeof buf);
        if (r == 0)
            break;
        REQUIRE_MSG(r > 0, "echo read: %s", strerror((int)-r));
        write_all(c, buf, (size_t)r);
    }
    REQUIRE_EQ(rt_conn_close(c), 0);
}

/* Accepts until the listener is closed; one echo goroutine per conn. */
static void echo_server(void *arg)
{
    rt_listener *l = arg;
    for (;;) {
        rt_conn *c;
        int err = rt_net_accept(l, &c);
        if (err == -ECANCELED)
            return;
        REQUIRE_MSG(err == 0, "accept: %s", strerror(-err));
        REQUIRE(rt_go(echo_conn, c) > 0);
    }
}

/* Whether the goroutine dump (pprof "goroutine", debug 2) contains s. */
static bool dump_contains(const char *s)
{
    int fd = memfd_create("goroutines", 0);
    REQUIRE_GE(fd, 0);
    REQUIRE_EQ(rt_pprof_write("goroutine", fd, 2), 0);
    off_t len = lseek(fd, 0, SEEK_END);
    REQUIRE_GE(len, 0);
    char *buf = malloc((size_t)len + 1);
    REQUIRE(buf != NULL);
    REQUIRE_EQ(pread(fd, buf, (size_t)len, 0), len);
    buf[len] = '\0';
    close(fd);
    bool found = strstr(buf, s) != NULL;
    free(buf);
    return found;
}

/* Waits until goroutine id is parked in the network poller. */
static void wait_io_wait(int64_t id)
{
    char want[64];
    snprintf(want, sizeof want, "goroutine %lld [IO wait", (long long)id);
    WAIT_UNTIL(dump_contains(want));
}

/* Round trips of growing sizes through an echo server at address. */
static void echo_round_trips(const char *network, const char *address)
{
    rt_listener *l = must_listen(network, address);
    char a[256];
    addr_of(l, a, sizeof a);
    REQUIRE(rt_go(echo_server, l) > 0);
    rt_conn *c;
    int err = rt_net_dial(network, a, &c);
    REQUIRE_MSG(err == 0, "dial %s: %s", a, strerror(-err));
    static char out[1 << 16], in[1 << 16];
    for (size_t n = 1; n <= sizeof out; n *= 4) {
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(i * 7 + n);
        write_all(c, out, n);
        read_full(c, in, n);
        REQUIRE(memcmp(out, in, n) == 0);
    }
    REQUIRE_EQ(rt_conn_close(c), 0);
    /* After close: every call fails the same way, and nothing crashes. */
    REQUIRE_EQ(rt_conn_read(c, in, 1), -ECANCELED);
    REQUIRE_EQ(rt_conn_write(c, out, 1), -ECANCELED);
    REQUIRE_EQ(rt_conn_close(c), -ECANCELED);
    REQUIRE_EQ(rt_listener_close(l), 0);
    REQUIRE_EQ(rt_listener_close(l), -ECANCELED);
}

/* -------------------------------------------------------------- echo -- */

RT_TEST(test_echo_tcp4)
{
    rt_listener *l = must_listen("tcp4", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    REQUIRE_MSG(strncmp(a, "127.0.0.1:", 10) == 0 && port_of(l) > 0, "addr %s", a);
    REQUIRE_EQ(rt_listener_close(l), 0);
    echo_round_trips("tcp4", "127.0.0.1:0");
    echo_round_trips("tcp", "127.0.0.1:0");
}

RT_TEST(test_echo_tcp6)
{
    rt_listener *l = must_listen("tcp6", "[::1]:0");
    char a[64];
    addr_of(l, a, sizeof a);
    REQUIRE_MSG(strncmp(a, "[::1]:", 6) == 0 && port_of(l) > 0, "addr %s", a);
    REQUIRE_EQ(rt_listener_close(l), 0);
    echo_round_trips("tcp6", "[::1]:0");
}

RT_TEST(test_echo_unix)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/grt-test-net-%d.sock", (int)getpid());
    unlink(path);
    rt_listener *l = must_listen("unix", path);
    char a[128];
    addr_of(l, a, sizeof a);
    REQUIRE_MSG(strcmp(a, path) == 0, "addr %s", a);
    REQUIRE_EQ(rt_listener_close(l), 0);
    struct stat st;
    REQUIRE_MSG(stat(path, &st) != 0, "%s still exists after close", path);
    echo_round_trips("unix", path);
    REQUIRE(stat(path, &st) != 0);
}

RT_TEST(test_bad_arguments)
{
    rt_listener *l;
    rt_conn *c;
    REQUIRE_EQ(rt_net_listen("udp", "127.0.0.1:0", &l), -EINVAL);
    REQUIRE_EQ(rt_net_listen("tcp", "127.0.0.1", &l), -EINVAL);
    REQUIRE_EQ(rt_net_listen("tcp", "::1:80", &l), -EINVAL);
    REQUIRE_EQ(rt_net_listen("tcp", "127.0.0.1:70000", &l), -EINVAL);
    REQUIRE_EQ(rt_net_listen("tcp4", "[::1]:0", &l), -EAFNOSUPPORT);
    REQUIRE_EQ(rt_net_dial("tcp", "127.0.0.1:x", &c), -EINVAL);
    l = must_listen("tcp", ":0"); /* every interface */
    char a[64];
    REQUIRE_EQ(rt_listener_addr(l, a, 4), -ENOSPC);
    REQUIRE_EQ(rt_listener_addr(l, NULL, 0), -ENOSPC); /* no room: not EINVAL */
    REQUIRE_GT(rt_listener_addr(l, a, sizeof a), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

/* ------------------------------------------------------ many conns ---- */

enum { NCONNS = 1000, NROUNDS = 5 };

typedef struct many {
    char addr[64];
    rt_waitgroup wg;
    _Atomic int done;
} many;

static void many_client(void *arg)
{
    many *m = arg;
    rt_conn *c;
    int err = rt_net_dial("tcp", m->addr, &c);
    REQUIRE_MSG(err == 0, "dial %s: %s", m->addr, strerror(-err));
    char out[64], in[64];
    for (int r = 0; r < NROUNDS; r++) {
        for (size_t i = 0; i < sizeof out; i++)
            out[i] = (char)(rt_goid() + r + (int64_t)i);
        write_all(c, out, sizeof out);
        read_full(c, in, sizeof in);
        REQUIRE(memcmp(in, out, sizeof out) == 0);
        rt_yield();
    }
    REQUIRE_EQ(rt_conn_close(c), 0);
    atomic_fetch_add(&m->done, 1);
    rt_waitgroup_done(&m->wg);
}

RT_TEST(test_many_conns)
{
    /* 1000 client and 1000 server sockets, open at once. */
    struct rlimit rl;
    REQUIRE_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 4 * NCONNS) {
        rl.rlim_cur = rl.rlim_max < 4 * NCONNS ? rl.rlim_max : 4 * NCONNS;
        REQUIRE_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    REQUIRE_GE(rl.rlim_cur, 2 * NCONNS + 64);
    rt_listener *l = must_listen("tcp4", "127.0.0.1:0");
    static many m;
    addr_of(l, m.addr, sizeof m.addr);
    REQUIRE(rt_go(echo_server, l) > 0);
    rt_waitgroup_add(&m.wg, NCONNS);
    for (int i = 0; i < NCONNS; i++)
        REQUIRE(rt_go(many_client, &m) > 0);
    rt_waitgroup_wait(&m.wg);
    REQUIRE_EQ(atomic_load(&m.done), NCONNS);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

/* ------------------------------------------------- close and deadlines -- */

typedef struct blocked {
    rt_listener *l;
    rt_conn *c;
    _Atomic int64_t id;
    _Atomic long result;
    rt_chan *done;
} blocked;

static void block_accept(void *arg)
{
    blocked *b = arg;
    atomic_store(&b->id, rt_goid());
    rt_conn *c = NULL;
    atomic_store(&b->result, rt_net_accept(b->l, &c));
    REQUIRE(c == NULL);
    rt_chan_send(b->done, NULL);
}

RT_TEST(test_close_wakes_accept)
{
    blocked b = {.l = must_listen("tcp", "127.0.0.1:0"), .result = 1};
    b.done = rt_chan_make(0, 1);
    REQUIRE(rt_go(block_accept, &b) > 0);
    WAIT_UNTIL(atomic_load(&b.id) != 0);
    wait_io_wait(atomic_load(&b.id)); /* really parked, not yet started */
    REQUIRE_EQ(rt_listener_close(b.l), 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), -ECANCELED);
    rt_conn *c;
    REQUIRE_EQ(rt_net_accept(b.l, &c), -ECANCELED);
}

static void close_listener_later(void *arg)
{
    rt_sleep(RT_MILLISECOND);
    REQUIRE_EQ(rt_listener_close(arg), 0);
}

/* Once rt_listener_close has returned, or an accept it woke has, the
 * socket is closed, as in Go: a dial is refused and the address can be
 * listened on again.  (The fd was closed by the loop up to 100 us later:
 * 44-94 dials in 100 got through at MAXPROCS 2-4, and 11-94 listens failed
 * with -EADDRINUSE; an outside tester's find.) */
RT_TEST(test_closed_listener_is_closed)
{
    int old = rt_maxprocs(4);
    for (int i = 0; i < 50; i++) {
        /* closed by another goroutine, seen through the woken accept */
        rt_listener *l = must_listen("tcp", "127.0.0.1:0");
        char addr[64];
        REQUIRE_GT(rt_listener_addr(l, addr, sizeof addr), 0);
        REQUIRE(rt_go(close_listener_later, l) > 0);
        rt_conn *c = NULL;
        REQUIRE_EQ(rt_net_accept(l, &c), -ECANCELED);
        int r = rt_net_dial("tcp", addr, &c);
        REQUIRE_MSG(r == -ECONNREFUSED, "dial %d after the woken accept: %d", i, r);
        /* closed beside a blocked accept, seen by the closer */
        blocked b = {.l = must_listen("tcp", addr), .result = 1};
        b.done = rt_chan_make(0, 1);
        REQUIRE(rt_go(block_accept, &b) > 0);
        WAIT_UNTIL(atomic_load(&b.id) != 0);
        wait_io_wait(atomic_load(&b.id));
        REQUIRE_EQ(rt_listener_close(b.l), 0);
        rt_listener *again = NULL;
        r = rt_net_listen("tcp", addr, &again);
        REQUIRE_MSG(r == 0, "listen %d again on %s after the close: %d", i, addr, r);
        REQUIRE_EQ(rt_listener_close(again), 0);
        REQUIRE(rt_chan_recv(b.done, NULL));
        REQUIRE_EQ(atomic_load(&b.result), -ECANCELED);
    }
    rt_maxprocs(old);
}

static void block_read(void *arg)
{
    blocked *b = arg;
    atomic_store(&b->id, rt_goid());
    char buf[16];
    atomic_store(&b->result, rt_conn_read(b->c, buf, sizeof buf));
    rt_chan_send(b->done, NULL);
}

/* A connected pair: *client dialled, *server accepted. */
static void conn_pair(rt_listener **lp, rt_conn **client, rt_conn **server)
{
    rt_listener *l = must_listen("tcp", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    REQUIRE_EQ(rt_net_dial("tcp", a, client), 0);
    REQUIRE_EQ(rt_net_accept(l, server), 0);
    *lp = l;
}

/* Half-close (Go's TCPConn.CloseWrite): the client sends a request and
 * shuts its writing side; the server, parked in a read, reads the request
 * and then the end of the stream, and answers on the direction still
 * open; the client reads the answer and then the end.  CloseRead makes
 * the closer's own reads end; both refuse a closed conn. */
static void answer_after_eof(void *arg)
{
    rt_conn *c = arg;
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t r = rt_conn_read(c, buf + got, sizeof buf - got);
        REQUIRE_GE(r, 0);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    REQUIRE_EQ(got, 4);
    REQUIRE(memcmp(buf, "ping", 4) == 0);
    write_all(c, "pong", 4);
    REQUIRE_EQ(rt_conn_close(c), 0);
}

RT_TEST(test_half_close)
{
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    REQUIRE(rt_go(answer_after_eof, sv) > 0);
    rt_sleep(RT_MILLISECOND); /* the server parks in its read first */
    write_all(cl, "ping", 4);
    REQUIRE_EQ(rt_conn_close_write(cl), 0);
    char buf[8];
    read_full(cl, buf, 4);
    REQUIRE(memcmp(buf, "pong", 4) == 0);
    REQUIRE_EQ(rt_conn_read(cl, buf, sizeof buf), 0);
    REQUIRE_LT(rt_conn_write(cl, "x", 1), 0); /* (-EPIPE: this side is shut) */
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_conn_close_write(cl), -ECANCELED);
    REQUIRE_EQ(rt_conn_close_read(cl), -ECANCELED);
    REQUIRE_EQ(rt_conn_close_write(NULL), -EINVAL);
    REQUIRE_EQ(rt_listener_close(l), 0);
    /* CloseRead on a live conn: its reads end; writing still works. */
    conn_pair(&l, &cl, &sv);
    REQUIRE_EQ(rt_conn_close_read(sv), 0);
    REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), 0);
    write_all(sv, "late", 4);
    read_full(cl, buf, 4);
    REQUIRE(memcmp(buf, "late", 4) == 0);
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

RT_TEST(test_close_wakes_read)
{
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    blocked b = {.c = sv, .result = 1, .done = rt_chan_make(0, 1)};
    REQUIRE(rt_go(block_read, &b) > 0);
    WAIT_UNTIL(atomic_load(&b.id) != 0);
    wait_io_wait(atomic_load(&b.id));
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), -ECANCELED);
    /* The peer sees the end of the stream, and writing to the closed
     * socket is an error (after the peer's reset), never SIGPIPE. */
    char c;
    REQUIRE_EQ(rt_conn_read(cl, &c, 1), 0);
    ssize_t w = 0;
    for (int i = 0; i < 100 && w >= 0; i++) {
        w = rt_conn_write(cl, "x", 1);
        if (w >= 0)
            rt_sleep(RT_MILLISECOND);
    }
    REQUIRE_MSG(w == -EPIPE || w == -ECONNRESET, "write after peer close: %zd", w);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

RT_TEST(test_read_deadline)
{
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    char buf[8];
    /* A deadline in the future: the blocked read times out after it. */
    int64_t t0 = rt_nanotime();
    REQUIRE_EQ(rt_conn_set_deadline(sv, t0 + 50 * RT_MILLISECOND), 0);
    REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), -ETIMEDOUT);
    int64_t el = rt_nanotime() - t0;
    REQUIRE_GE(el, 50 * RT_MILLISECOND);
    REQUIRE_MSG(el < 10 * RT_SECOND, "timed out after %lld ns", (long long)el);
    /* Still expired: fails at once, even with data waiting. */
    write_all(cl, "abc", 3);
    REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), -ETIMEDOUT);
    REQUIRE_EQ(rt_conn_write(sv, "x", 1), -ETIMEDOUT);
    /* Cleared: the data is there. */
    REQUIRE_EQ(rt_conn_set_deadline(sv, 0), 0);
    read_full(sv, buf, 3);
    REQUIRE(memcmp(buf, "abc", 3) == 0);
    /* A deadline already passed fails at once -- a negative one too, as
     * Go's time.Unix(-1, 0) (it was -EINVAL, and no deadline). */
    REQUIRE_EQ(rt_conn_set_deadline(sv, rt_nanotime() - 1), 0);
    REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), -ETIMEDOUT);
    static const int64_t negative[] = {-1, INT64_MIN};
    for (int i = 0; i < 2; i++) {
        REQUIRE_EQ(rt_conn_set_deadline(sv, negative[i]), 0);
        int64_t tn = rt_nanotime();
        REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), -ETIMEDOUT);
        REQUIRE_EQ(rt_conn_write(sv, "x", 1), -ETIMEDOUT);
        REQUIRE_MSG(rt_nanotime() - tn < RT_SECOND, "deadline %lld: %lld ns",
                    (long long)negative[i], (long long)(rt_nanotime() - tn));
    }
    /* Moved into the future while a reader waits: that one counts. */
    REQUIRE_EQ(rt_conn_set_deadline(sv, rt_nanotime() + 10 * RT_SECOND), 0);
    blocked b = {.c = sv, .result = 1, .done = rt_chan_make(0, 1)};
    REQUIRE(rt_go(block_read, &b) > 0);
    WAIT_UNTIL(atomic_load(&b.id) != 0);
    wait_io_wait(atomic_load(&b.id));
    t0 = rt_nanotime();
    REQUIRE_EQ(rt_conn_set_deadline(sv, t0 + 20 * RT_MILLISECOND), 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), -ETIMEDOUT);
    REQUIRE_LT(rt_nanotime() - t0, 5 * RT_SECOND);
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

/* Writes "cd" to the conn after a millisecond: lands while the reader
 * waits. */
static void late_writer(void *arg)
{
    rt_sleep(RT_MILLISECOND);
    write_all(arg, "cd", 2);
}

/*
 * A read that came back short takes the socket for empty, and the next read
 * waits for readiness before it tries (net.c): data that came in between,
 * and data that comes while it waits, must both reach it, and a deadline
 * and a close must still end that wait.  The deadline bounds a lost
 * wake-up.
 */
RT_TEST(test_read_after_short_read)
{
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    REQUIRE_EQ(rt_conn_set_deadline(sv, rt_nanotime() + 20 * RT_SECOND), 0);
    char buf[64];
    for (int round = 0; round < 200; round++) {
        write_all(cl, "ab", 2);
        read_short(sv, buf, 2, sizeof buf);
        REQUIRE(memcmp(buf, "ab", 2) == 0);
        if (round % 2 == 0)
            write_all(cl, "cd", 2); /* before the next read */
        else
            REQUIRE(rt_go(late_writer, cl) > 0); /* while it waits */
        read_short(sv, buf, 2, sizeof buf);
        REQUIRE_MSG(memcmp(buf, "cd", 2) == 0, "round %d", round);
    }
    /* Short, then nothing more: the deadline ends the wait. */
    write_all(cl, "ef", 2);
    read_short(sv, buf, 2, sizeof buf);
    REQUIRE_EQ(rt_conn_set_deadline(sv, rt_nanotime() + 20 * RT_MILLISECOND), 0);
    REQUIRE_EQ(rt_conn_read(sv, buf, sizeof buf), -ETIMEDOUT);
    /* Short, then a close from another goroutine ends the wait. */
    REQUIRE_EQ(rt_conn_set_deadline(sv, 0), 0);
    write_all(cl, "gh", 2);
    read_short(sv, buf, 2, sizeof buf);
    blocked b = {.c = sv, .result = 1, .done = rt_chan_make(0, 1)};
    REQUIRE(rt_go(block_read, &b) > 0);
    WAIT_UNTIL(atomic_load(&b.id) != 0);
    wait_io_wait(atomic_load(&b.id));
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), -ECANCELED);
    /* The peer's end of stream after a short read: 0, at once and again. */
    rt_conn *cl2, *sv2;
    rt_listener *l2;
    conn_pair(&l2, &cl2, &sv2);
    write_all(cl2, "ij", 2);
    read_short(sv2, buf, 2, sizeof buf);
    REQUIRE_EQ(rt_conn_close(cl2), 0);
    REQUIRE_EQ(rt_conn_read(sv2, buf, sizeof buf), 0);
    REQUIRE_EQ(rt_conn_read(sv2, buf, sizeof buf), 0);
    REQUIRE_EQ(rt_conn_close(sv2), 0);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
    REQUIRE_EQ(rt_listener_close(l2), 0);
}

/* --------------------------------------------------------------- dial -- */

RT_TEST(test_dial_localhost)
{
    rt_listener *l = must_listen("tcp4", "127.0.0.1:0");
    REQUIRE(rt_go(echo_server, l) > 0);
    char a[64];
    snprintf(a, sizeof a, "localhost:%d", port_of(l));
    rt_conn *c;
    int err = rt_net_dial("tcp", a, &c);
    REQUIRE_MSG(err == 0, "dial %s: %s", a, strerror(-err));
    char in[5];
    write_all(c, "hello", 5);
    read_full(c, in, 5);
    REQUIRE(memcmp(in, "hello", 5) == 0);
    REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
    /* A name that does not resolve (.invalid never does, RFC 6761): the
     * resolver says so, -ENOENT; on a machine whose resolver cannot be
     * reached (no network) it says "try again", -EAGAIN. */
    int nx = rt_net_dial("tcp", "no-such-host.invalid:80", &c);
    REQUIRE_MSG(nx == -ENOENT || nx == -EAGAIN, "no-such-host.invalid: %d", nx);
}

/* rt_ calls return errors as values and leave errno alone: a read that
 * found nothing yet and waited left EAGAIN, a dial the resolver's probes'
 * ENOENT or the connect's EINPROGRESS, a timeout ENOENT (tester 26a). */
#define ERRNO_KEPT(call)                                                       \
    do {                                                                       \
        errno = 4242;                                                          \
        (void)(call);                                                          \
        REQUIRE_MSG(errno == 4242, "%s changed errno to %d", #call, errno);    \
    } while (0)

RT_TEST(test_errno_left_alone)
{
    rt_listener *l = NULL;
    ERRNO_KEPT(rt_net_listen("tcp", "localhost:0", &l));
    REQUIRE(l != NULL);
    REQUIRE(rt_go(echo_server, l) > 0);
    char a[64];
    addr_of(l, a, sizeof a);
    rt_conn *c = NULL;
    ERRNO_KEPT(rt_net_dial("tcp", a, &c));
    REQUIRE(c != NULL);
    char in[4];
    for (int i = 0; i < 20; i++) { /* each read waits for the echo */
        ERRNO_KEPT(rt_conn_write(c, "ping", 4));
        ERRNO_KEPT(rt_conn_read(c, in, 4));
    }
    ERRNO_KEPT(rt_conn_set_deadline(c, rt_nanotime() + 5 * RT_MILLISECOND));
    ssize_t r = 0;
    ERRNO_KEPT(r = rt_conn_read(c, in, 4)); /* nothing comes: times out */
    REQUIRE_EQ(r, -ETIMEDOUT);
    ERRNO_KEPT(rt_conn_close(c));
    ERRNO_KEPT(rt_listener_close(l));
    rt_conn *none = NULL;
    int err = 0;
    ERRNO_KEPT(err = rt_net_dial("tcp", a, &none)); /* closed: refused or reset */
    REQUIRE_LT(err, 0);
    char path[] = "/tmp/grt-errno-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_GE(fd, 0);
    unlink(path);
    ERRNO_KEPT(rt_file_pwrite(fd, "abcd", 4, 0));
    ERRNO_KEPT(rt_file_pread(fd, in, 4, 0));
    ERRNO_KEPT(rt_file_pread(-1, in, 4, 0)); /* EBADF, returned */
    close(fd);
}

RT_TEST(test_dial_refused)
{
    rt_listener *l = must_listen("tcp4", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    REQUIRE_EQ(rt_listener_close(l), 0);
    rt_conn *c = NULL;
    REQUIRE_EQ(rt_net_dial("tcp4", a, &c), -ECONNREFUSED);
    REQUIRE(c == NULL);
    char path[96];
    snprintf(path, sizeof path, "/tmp/grt-test-net-none-%d.sock", (int)getpid());
    REQUIRE_EQ(rt_net_dial("unix", path, &c), -ENOENT);
}

/* ------------------------------------------------------ large writes -- */

enum { BIG = 8 << 20 };

typedef struct big {
    rt_conn *c;
    unsigned char *data;
    _Atomic long written;
    rt_chan *done;
} big;

static void big_writer(void *arg)
{
    big *b = arg;
    atomic_store(&b->written, rt_conn_write(b->c, b->data, BIG));
    rt_chan_send(b->done, NULL);
}

RT_TEST(test_large_write_slow_reader)
{
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    big b = {.c = sv, .data = malloc(BIG), .done = rt_chan_make(0, 1)};
    REQUIRE(b.data != NULL);
    for (size_t i = 0; i < BIG; i++)
        b.data[i] = (unsigned char)(i ^ (i >> 11));
    REQUIRE(rt_go(big_writer, &b) > 0);
    /* The socket buffers hold far less than 8 MB: the writer must park for
     * writability many times while we read slowly, in small pieces. */
    static unsigned char in[BIG];
    size_t got = 0;
    int naps = 0;
    while (got < BIG) {
        ssize_t r = rt_conn_read(cl, in + got, BIG - got < 3000 ? BIG - got : 3000);
        REQUIRE_GT(r, 0);
        got += (size_t)r;
        if (got % 64 == 0 && naps < 20) {
            rt_sleep(RT_MILLISECOND);
            naps++;
        }
    }
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.written), BIG);
    REQUIRE(memcmp(in, b.data, BIG) == 0);
    free(b.data);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

/* ----------------------------------------------------- the collector -- */

enum { NKEPT = 64 };

typedef struct kept {
    rt_listener *l;
    char addr[64];
    rt_waitgroup accepted, done;
    _Atomic int ok;
} kept;

/* Accepts one conn and reads from it: from then on the conn is reachable
 * only from this goroutine's stack while it is parked in the read. */
static void kept_reader(void *arg)
{
    kept *k = arg;
    rt_conn *c;
    REQUIRE_EQ(rt_net_accept(k->l, &c), 0);
    rt_waitgroup_done(&k->accepted);
    char buf[8];
    ssize_t r = rt_conn_read(c, buf, sizeof buf);
    if (r == 8 && memcmp(buf, "survived", 8) == 0)
        atomic_fetch_add(&k->ok, 1);
    REQUIRE_EQ(rt_conn_close(c), 0);
    rt_waitgroup_done(&k->done);
}

static void churn(void)
{
    for (int i = 0; i < 20000; i++) {
        volatile char *p = rt_alloc(48 + (size_t)(i % 7) * 16);
        p[0] = 1;
    }
}

/* Collections while goroutines are parked in reads: their conns (GC
 * objects reachable only from the parked stacks) must not be collected,
 * which would run their finalizers and close them under the readers. */
RT_TEST(test_gc_keeps_parked_conns)
{
    static kept k;
    k.l = must_listen("tcp4", "127.0.0.1:0");
    addr_of(k.l, k.addr, sizeof k.addr);
    rt_waitgroup_add(&k.accepted, NKEPT);
    rt_waitgroup_add(&k.done, NKEPT);
    for (int i = 0; i < NKEPT; i++)
        REQUIRE(rt_go(kept_reader, &k) > 0);
    static rt_conn *clients[NKEPT];
    for (int i = 0; i < NKEPT; i++)
        REQUIRE_EQ(rt_net_dial("tcp4", k.addr, &clients[i]), 0);
    rt_waitgroup_wait(&k.accepted);
    for (int round = 0; round < 3; round++) {
        churn();
        rt_gc();
    }
    for (int i = 0; i < NKEPT; i++)
        write_all(clients[i], "survived", 8);
    rt_waitgroup_wait(&k.done);
    REQUIRE_EQ(atomic_load(&k.ok), NKEPT);
    for (int i = 0; i < NKEPT; i++)
        REQUIRE_EQ(rt_conn_close(clients[i]), 0);
    REQUIRE_EQ(rt_listener_close(k.l), 0);
}

enum { NDROP = 16 };

static rt_listener *drop_l;

/* Accepts NDROP conns and drops them unclosed; its stack dies with it. */
static void dropper(void *arg)
{
    rt_waitgroup *wg = arg;
    for (int i = 0; i < NDROP; i++) {
        rt_conn *c;
        REQUIRE_EQ(rt_net_accept(drop_l, &c), 0);
    }
    rt_waitgroup_done(wg);
}

/* A conn the program drops without closing is closed by its finalizer
 * (as Go's netFD): the peer sees the end of the stream.  The collector is
 * conservative, so a stale word may keep one alive: most must close. */
RT_TEST(test_finalizer_closes_dropped_conn)
{
    drop_l = must_listen("tcp4", "127.0.0.1:0");
    char a[64];
    addr_of(drop_l, a, sizeof a);
    rt_waitgroup wg = {0};
    rt_waitgroup_add(&wg, 1);
    REQUIRE(rt_go(dropper, &wg) > 0);
    static rt_conn *peers[NDROP];
    for (int i = 0; i < NDROP; i++)
        REQUIRE_EQ(rt_net_dial("tcp4", a, &peers[i]), 0);
    rt_waitgroup_wait(&wg);
    int closed = 0;
    for (int round = 0; round < 20 && closed < NDROP / 2; round++) {
        churn();
        rt_gc();
        rt_sleep(5 * RT_MILLISECOND); /* the finalizer goroutine runs */
        closed = 0;
        for (int i = 0; i < NDROP; i++) {
            char c;
            /* A deadline already passed: a poll of the socket. */
            REQUIRE_EQ(rt_conn_set_deadline(peers[i], rt_nanotime() + RT_MILLISECOND), 0);
            ssize_t r = rt_conn_read(peers[i], &c, 1);
            REQUIRE_MSG(r == 0 || r == -ETIMEDOUT, "read: %zd", r);
            closed += r == 0;
        }
    }
    REQUIRE_MSG(closed >= NDROP / 2, "%d of %d dropped conns closed", closed, NDROP);
    for (int i = 0; i < NDROP; i++)
        REQUIRE_EQ(rt_conn_close(peers[i]), 0);
    REQUIRE_EQ(rt_listener_close(drop_l), 0);
}

/* --------------------------------------------------------------- files -- */

RT_TEST(test_file_pread_pwrite)
{
    char path[] = "/tmp/grt-test-file-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_GE(fd, 0);
    unlink(path);
    enum { N = 1 << 20 };
    char *out = malloc(N), *in = malloc(N);
    REQUIRE(out != NULL && in != NULL);
    for (int i = 0; i < N; i++)
        out[i] = (char)(i * 13);
    /* Backwards, in 64 KiB pieces: the offsets matter. */
    for (int off = N - 65536; off >= 0; off -= 65536)
        REQUIRE_EQ(rt_file_pwrite(fd, out + off, 65536, off), 65536);
    REQUIRE_EQ(rt_file_pread(fd, in, N, 0), N);
    REQUIRE(memcmp(in, out, N) == 0);
    REQUIRE_EQ(rt_file_pread(fd, in, 10, N), 0); /* end of file */
    REQUIRE_EQ(rt_file_pread(fd, in, 10, -2), -EINVAL);
    REQUIRE_EQ(rt_file_pread(-1, in, 10, 0), -EBADF);
    free(out);
    free(in);
    close(fd);
}

typedef struct piper {
    int fd;
    char buf[16];
    _Atomic long result;
    rt_chan *done;
} piper;

static void pipe_reader(void *arg)
{
    piper *p = arg;
    atomic_store(&p->result, rt_file_pread(p->fd, p->buf, sizeof p->buf, -1));
    rt_chan_send(p->done, NULL);
}

/* A read of a pipe that only this goroutine fills: if the reader held
 * the processor while it waits, at MAXPROCS=1 the writer below could
 * never run.  Run at every MAXPROCS (ctest runs this file at 1 and 2
 * too). */
RT_TEST(test_file_read_parks_not_thread)
{
    int old = rt_maxprocs(1);
    int pfd[2];
    REQUIRE_EQ(pipe(pfd), 0);
    piper p = {.fd = pfd[0], .result = 1, .done = rt_chan_make(0, 1)};
    REQUIRE(rt_go(pipe_reader, &p) > 0);
    /* Other goroutines keep running meanwhile. */
    for (int i = 0; i < 100; i++)
        rt_yield();
    rt_sleep(10 * RT_MILLISECOND);
    REQUIRE_EQ(atomic_load(&p.result), 1); /* still waiting for data */
    REQUIRE_EQ(write(pfd[1], "ping", 4), 4);
    REQUIRE(rt_chan_recv(p.done, NULL));
    REQUIRE_EQ(atomic_load(&p.result), 4);
    REQUIRE(memcmp(p.buf, "ping", 4) == 0);
    close(pfd[0]);
    close(pfd[1]);
    rt_maxprocs(old);
}

/* Goroutines the poller readies are not starved by busy ones: with two
 * goroutines looping on non-blocking channel operations at MAXPROCS=1
 * (each made to yield every 10 ms: rt.h), a TCP round trip took 1.1-1.6 s
 * -- the yielder went back to its P's queue, the readied reader waited on
 * the global one for the 61st schedule (an outside tester's find; Go:
 * ~80 ms).  The bound is 15 slices, with room for a loaded host. */
static _Atomic int spin_stop;

static void chan_spinner(void *arg)
{
    rt_waitgroup *wg = arg;
    rt_chan *c = rt_chan_make(1, 1);
    char x = 0;
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
        REQUIRE(rt_chan_try_send(c, &x));
        REQUIRE_EQ(rt_chan_try_recv(c, &x), 1);
    }
    rt_waitgroup_done(wg);
}

RT_TEST(test_io_not_starved_by_busy_goroutines)
{
    int old = rt_maxprocs(1);
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    REQUIRE(rt_go(echo_conn, sv) > 0);
    static rt_waitgroup wg;
    atomic_store(&spin_stop, 0);
    rt_waitgroup_add(&wg, 2);
    REQUIRE(rt_go(chan_spinner, &wg) > 0);
    REQUIRE(rt_go(chan_spinner, &wg) > 0);
    rt_yield();
    int64_t worst = 0;
    for (int i = 0; i < 5; i++) {
        int64_t t0 = rt_nanotime();
        write_all(cl, "x", 1);
        char b;
        REQUIRE_EQ(rt_conn_read(cl, &b, 1), 1);
        int64_t d = rt_nanotime() - t0;
        if (d > worst)
            worst = d;
    }
    atomic_store(&spin_stop, 1);
    rt_waitgroup_wait(&wg);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
    rt_maxprocs(old);
    REQUIRE_MSG(worst < 150 * RT_MILLISECOND, "a round trip took %.1f ms",
                (double)worst / 1e6);
}

/* A yield among goroutines streaming over loopback comes back at once at
 * MAXPROCS=2: the yielder waits on the global queue, which a P whose own
 * queue runs dry looks at before it steals.  It waited on its P's queue,
 * behind goroutines whose reads and writes rarely block, for sysmon's
 * 10 ms slices: 26 ms median (an outside tester's find; Go 0.02 ms). */
static void stream_reader(void *arg)
{
    char b[256];
    while (rt_conn_read(arg, b, sizeof b) > 0)
        ;
}

static void stream_writer(void *arg)
{
    char b[256] = {0};
    while (rt_conn_write(arg, b, sizeof b) > 0)
        ;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

RT_TEST(test_yield_among_streaming_conns)
{
    enum { ROUNDS = 21 };
    int old = rt_maxprocs(2);
    rt_listener *l;
    REQUIRE_EQ(rt_net_listen("tcp", "127.0.0.1:0", &l), 0);
    char addr[64];
    REQUIRE_GT(rt_listener_addr(l, addr, sizeof addr), 0);
    int64_t lat[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        rt_conn *c, *s;
        REQUIRE_EQ(rt_net_dial("tcp", addr, &c), 0);
        REQUIRE_EQ(rt_net_accept(l, &s), 0);
        REQUIRE(rt_go(stream_reader, c) > 0);
        REQUIRE(rt_go(stream_writer, c) > 0);
        REQUIRE(rt_go(stream_reader, s) > 0);
        REQUIRE(rt_go(stream_writer, s) > 0);
        int64_t t0 = rt_nanotime();
        rt_yield();
        lat[i] = rt_nanotime() - t0;
        REQUIRE_EQ(rt_conn_close(c), 0); /* the streamers end: -ECANCELED */
        REQUIRE_EQ(rt_conn_close(s), 0);
    }
    REQUIRE_EQ(rt_listener_close(l), 0);
    rt_maxprocs(old);
    qsort(lat, ROUNDS, sizeof lat[0], cmp_i64);
    fprintf(stderr, "yield among 4 streaming goroutines: median %.3f ms, worst %.3f ms\n",
            (double)lat[ROUNDS / 2] / 1e6, (double)lat[ROUNDS - 1] / 1e6);
    /* Below one of sysmon's 10 ms slices, which the old queueing needed
     * at least once (release build: 0.03 ms now).  Not under
     * ThreadSanitizer: there every read and write costs tens of
     * microseconds and CI runs another stress test beside this one on
     * two CPUs, so the streamers themselves take the yielder's P for
     * milliseconds (2.3-2.6 ms median alone, 12.8 ms once in CI): the
     * run still checks the paths for races, and prints the figures. */
#if !defined(__SANITIZE_THREAD__)
    REQUIRE_MSG(lat[ROUNDS / 2] < 8 * RT_MILLISECOND, "median yield %.2f ms",
                (double)lat[ROUNDS / 2] / 1e6);
#endif
}

/* A goroutine waiting on a socket is served while every P stays busy
 * with goroutines that yield: the scheduler polls when a P's queue runs
 * dry (a yield that finds nothing else to run) and nobody polled for
 * 100 us.  Only sysmon polled then, every 10 ms: an outside tester's
 * readers waited 5.3 ms (median) at MAXPROCS=4 beside four such
 * goroutines. */
static _Atomic int hog_stop;

static void yield_hog(void *arg)
{
    rt_waitgroup *wg = arg;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed)) {
        int64_t until = rt_nanotime() + 200 * RT_MICROSECOND;
        while (rt_nanotime() < until)
            ;
        rt_yield();
    }
    rt_waitgroup_done(wg);
}

enum { NSTAMP = 41 };
static int64_t stamp_lat[NSTAMP];
static rt_conn *stamp_conn;

/* Reads NSTAMP send times, notes how late each came. */
static void stamp_reader(void *arg)
{
    for (int i = 0; i < NSTAMP; i++) {
        int64_t t0;
        REQUIRE_EQ(rt_conn_read(stamp_conn, &t0, sizeof t0), (ssize_t)sizeof t0);
        stamp_lat[i] = rt_nanotime() - t0;
    }
    rt_waitgroup_done(arg);
}

RT_TEST(test_io_served_while_every_p_yields)
{
    int old = rt_maxprocs(2);
    rt_listener *l;
    rt_conn *cl, *sv;
    conn_pair(&l, &cl, &sv);
    static rt_waitgroup hogs, done;
    atomic_store(&hog_stop, 0);
    rt_waitgroup_add(&hogs, 2);
    REQUIRE(rt_go(yield_hog, &hogs) > 0);
    REQUIRE(rt_go(yield_hog, &hogs) > 0);
    rt_waitgroup_add(&done, 1);
    stamp_conn = sv;
    REQUIRE(rt_go(stamp_reader, &done) > 0);
    for (int i = 0; i < NSTAMP; i++) {
        rt_sleep(2 * RT_MILLISECOND);
        int64_t t0 = rt_nanotime();
        write_all(cl, &t0, sizeof t0);
    }
    rt_waitgroup_wait(&done);
    atomic_store(&hog_stop, 1);
    rt_waitgroup_wait(&hogs);
    REQUIRE_EQ(rt_conn_close(cl), 0);
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
    rt_maxprocs(old);
    int64_t lat[NSTAMP];
    memcpy(lat, stamp_lat, sizeof lat);
    qsort(lat, NSTAMP, sizeof lat[0], cmp_i64);
    fprintf(stderr, "reads beside 2 yielding goroutines at P=2: median %.3f ms, worst %.3f ms\n",
            (double)lat[NSTAMP / 2] / 1e6, (double)lat[NSTAMP - 1] / 1e6);
    /* A quarter of sysmon's 10 ms period, which the reads waited half of
     * on average before (release build: 0.05 ms now); not under
     * ThreadSanitizer, as test_yield_among_streaming_conns. */
#if !defined(__SANITIZE_THREAD__)
    REQUIRE_MSG(lat[NSTAMP / 2] < 5 * RT_MILLISECOND / 2, "median read %.2f ms",
                (double)lat[NSTAMP / 2] / 1e6);
#endif
}

/* Pipe reads that wait for ever hold no shared worker: with more of them
 * waiting than libuv's pool has threads (4), a file read and a dial by
 * name -- both on that pool -- still complete, before any pipe is fed.
 * (They used to wait for the pipes: the pool's four threads sat in
 * read(2).) */
enum { NPIPE = 8 };

RT_TEST(test_pipe_readers_leave_the_pool_free)
{
    int pfd[NPIPE][2];
    piper p[NPIPE];
    for (int i = 0; i < NPIPE; i++) {
        REQUIRE_EQ(pipe(pfd[i]), 0);
        p[i] = (piper){.fd = pfd[i][0], .result = 1, .done = rt_chan_make(0, 1)};
        REQUIRE(rt_go(pipe_reader, &p[i]) > 0);
    }
    rt_sleep(20 * RT_MILLISECOND); /* all of them in read(2) */
    for (int i = 0; i < NPIPE; i++)
        REQUIRE_EQ(atomic_load(&p[i].result), 1);

    char path[] = "/tmp/grt-test-pool-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    REQUIRE_EQ(rt_file_pwrite(fd, "hello", 5, 0), 5);
    char buf[8];
    REQUIRE_EQ(rt_file_pread(fd, buf, 5, 0), 5);
    REQUIRE(memcmp(buf, "hello", 5) == 0);
    close(fd);

    rt_listener *l = must_listen("tcp", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    char byname[80];
    snprintf(byname, sizeof byname, "localhost:%s", strrchr(a, ':') + 1);
    rt_conn *c;
    REQUIRE_EQ(rt_net_dial("tcp", byname, &c), 0); /* getaddrinfo: the pool */
    REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);

    for (int i = 0; i < NPIPE; i++)
        REQUIRE_EQ(atomic_load(&p[i].result), 1); /* still waiting */
    for (int i = 0; i < NPIPE; i++)
        REQUIRE_EQ(write(pfd[i][1], "ping", 4), 4);
    for (int i = 0; i < NPIPE; i++) {
        REQUIRE(rt_chan_recv(p[i].done, NULL));
        REQUIRE_EQ(atomic_load(&p[i].result), 4);
        close(pfd[i][0]);
        close(pfd[i][1]);
    }
}

/* exit() -- or returning from main() -- ends the process although a
 * goroutine still waits in a pipe read (Go does not wait for other
 * goroutines; libuv's exit-time destructor joins its pool threads, so the
 * read must not be on one). */
START_TEST(test_exit_with_pipe_reader_waiting)
{
    const char *env[] = {NULL};
    char err[4096];
    int st = run_scenario("exit_pipe_reader", env, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x; stderr:\n%s", st, err);
}
END_TEST

/* Listen addresses read as Go's net.Listen reads them: an unspecified
 * address is the wildcard whatever its spelling (dual-stack [::] for
 * "tcp"), and "" is ":0". */
RT_TEST(test_listen_addresses_as_go)
{
    static const struct {
        const char *net, *addr, *want; /* want: the Addr() prefix, or NULL */
        int err;
    } cases[] = {
        {"tcp", ":0", "[::]:", 0},           {"tcp", "0.0.0.0:0", "[::]:", 0},
        {"tcp", "[::]:0", "[::]:", 0},       {"tcp", "", "[::]:", 0},
        {"tcp", "127.0.0.1:0", "127.0.0.1:", 0},
        {"tcp4", ":0", "0.0.0.0:", 0},       {"tcp4", "[::]:0", "0.0.0.0:", 0},
        {"tcp4", "", "0.0.0.0:", 0},         {"tcp6", "", "[::]:", 0},
        {"tcp6", "0.0.0.0:0", NULL, -EAFNOSUPPORT},
        {"tcp6", "127.0.0.1:0", NULL, -EAFNOSUPPORT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_listener *l = NULL;
        int e = rt_net_listen(cases[i].net, cases[i].addr, &l);
        REQUIRE_MSG(e == cases[i].err, "%s %s: %d, want %d", cases[i].net, cases[i].addr, e,
                    cases[i].err);
        if (e != 0)
            continue;
        char a[64];
        addr_of(l, a, sizeof a);
        REQUIRE_MSG(strncmp(a, cases[i].want, strlen(cases[i].want)) == 0, "%s %s: %s, want %s...",
                    cases[i].net, cases[i].addr, a, cases[i].want);
        REQUIRE_EQ(rt_listener_close(l), 0);
    }
}

/* A port may be a service name, as Go's ("127.0.0.1:http" is port 80;
 * an outside tester found them refused as malformed): a listen on it gets
 * the port (or the kernel's refusal of a low port to a non-root user,
 * EACCES), never EINVAL; an unknown name stays EINVAL. */
RT_TEST(test_service_name_ports)
{
    rt_listener *l = NULL;
    int e = rt_net_listen("tcp4", "127.0.0.1:HTTP", &l);
    REQUIRE_MSG(e == 0 || e == -EACCES || e == -EADDRINUSE, "listen 127.0.0.1:HTTP: %d", e);
    if (e == 0) {
        char a[64];
        addr_of(l, a, sizeof a);
        REQUIRE_MSG(strcmp(a, "127.0.0.1:80") == 0, "Addr %s", a);
        REQUIRE_EQ(rt_listener_close(l), 0);
    }
    rt_conn *c = NULL;
    e = rt_net_dial("tcp4", "127.0.0.1:ssh", &c);
    REQUIRE_MSG(e == 0 || e == -ECONNREFUSED, "dial 127.0.0.1:ssh: %d", e);
    if (e == 0)
        REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_net_dial("tcp", "127.0.0.1:no-such-service-x", &c), -EINVAL);
    REQUIRE_EQ(rt_net_listen("tcp", "127.0.0.1:-1", &l), -EINVAL);
}

/* "unix" with an empty address: the kernel picks an abstract name, as
 * Go's Listen("unix", "") (it was -EINVAL); a dial to that name works,
 * and a dial to "" stays an error. */
RT_TEST(test_unix_autobind)
{
    rt_listener *l = NULL;
    REQUIRE_EQ(rt_net_listen("unix", "", &l), 0);
    char a[128];
    addr_of(l, a, sizeof a);
    REQUIRE_MSG(a[0] == '@' && strlen(a) > 1, "Addr %s", a);
    rt_conn *c = NULL;
    REQUIRE_EQ(rt_net_dial("unix", a, &c), 0);
    rt_conn *s = NULL;
    REQUIRE_EQ(rt_net_accept(l, &s), 0);
    write_all(c, "ping", 4);
    char in[4];
    read_full(s, in, 4);
    REQUIRE(memcmp(in, "ping", 4) == 0);
    REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_conn_close(s), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
    REQUIRE_EQ(rt_net_dial("unix", "", &c), -EINVAL);
}

static void write_later(void *arg)
{
    rt_sleep(20 * RT_MILLISECOND);
    REQUIRE_EQ(rt_file_pwrite((int)(intptr_t)arg, "late", 4, -1), 4);
}

/* A pipe the program made non-blocking waits as a blocking one does (Go's
 * os.File waits in its poller); it returned -EAGAIN at once. */
RT_TEST(test_nonblocking_pipe_waits)
{
    int fds[2];
    REQUIRE_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    REQUIRE(rt_go(write_later, (void *)(intptr_t)fds[1]) > 0);
    char buf[8];
    REQUIRE_EQ(rt_file_pread(fds[0], buf, sizeof buf, -1), 4);
    REQUIRE(memcmp(buf, "late", 4) == 0);
    close(fds[0]);
    close(fds[1]);
}

/* A write to a pipe nobody reads any more: rt_file_pwrite on a
 * descriptor other than 1 and 2 gets -EPIPE and the program goes on (Go's
 * os.File.Write); a plain write(2) on stdout from a goroutine is killed
 * by SIGPIPE, as any C program and Go on fd 1 (`prog | head`: the threads
 * running goroutines used to block SIGPIPE, and such a program ran on). */
RT_TEST(test_write_to_closed_pipe_is_epipe)
{
    int pfd[2];
    REQUIRE_EQ(pipe(pfd), 0);
    close(pfd[0]);
    REQUIRE_EQ(rt_file_pwrite(pfd[1], "x", 1, -1), -EPIPE);
    REQUIRE_EQ(rt_file_pwrite(pfd[1], "x", 1, -1), -EPIPE);
    close(pfd[1]);
}

START_TEST(test_sigpipe_on_stdout_kills)
{
    const char *env[] = {NULL};
    char err[4096];
    int st = run_scenario("sigpipe_stdout", env, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "status %#x; stderr:\n%s", st, err);
}
END_TEST

/* A read of 0 bytes returns 0 whatever the deadline, as Go's Read(nil);
 * a write of 0 bytes reports the deadline, as Go's Write(nil). */
RT_TEST(test_zero_length_io_past_deadline)
{
    rt_listener *l = must_listen("tcp", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    rt_conn *c, *sv;
    REQUIRE_EQ(rt_net_dial("tcp", a, &c), 0);
    REQUIRE_EQ(rt_net_accept(l, &sv), 0);
    REQUIRE_EQ(rt_conn_set_deadline(c, rt_nanotime() - 1), 0);
    char b[1];
    REQUIRE_EQ(rt_conn_read(c, b, 0), 0);
    REQUIRE_EQ(rt_conn_read(c, b, 1), -ETIMEDOUT);
    REQUIRE_EQ(rt_conn_write(c, b, 0), -ETIMEDOUT);
    REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_conn_read(c, b, 0), -ECANCELED);
    REQUIRE_EQ(rt_conn_close(sv), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

/* ----------------------------------------------------------- deadlock -- */

static void accept_then_send(void *arg)
{
    blocked *b = arg;
    rt_conn *c;
    atomic_store(&b->result, rt_net_accept(b->l, &c));
    if (atomic_load(&b->result) == 0)
        REQUIRE_EQ(rt_conn_close(c), 0);
    rt_chan_send(b->done, NULL);
}

static void dial_later(void *arg)
{
    const char *a = arg;
    rt_sleep(50 * RT_MILLISECOND);
    rt_conn *c;
    REQUIRE_EQ(rt_net_dial("tcp", a, &c), 0);
    REQUIRE_EQ(rt_conn_close(c), 0);
}

/* An accept that a goroutine's timer and dial will satisfy. */
RT_TEST(test_accept_waits_for_timer_dial)
{
    blocked b = {.l = must_listen("tcp", "127.0.0.1:0"), .result = 1};
    b.done = rt_chan_make(0, 0);
    static char a[64];
    addr_of(b.l, a, sizeof a);
    REQUIRE(rt_go(accept_then_send, &b) > 0);
    REQUIRE(rt_go(dial_later, a) > 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), 0);
    REQUIRE_EQ(rt_listener_close(b.l), 0);
}

/* Every goroutine is parked and no timer is pending: main on a channel,
 * one goroutine in accept.  Only the connection from another process can
 * wake them; without the poller's waiters, checkdead would report "all
 * goroutines are asleep". */
static char outside_path[96];

static void outside_body(void)
{
    blocked b = {.l = must_listen("unix", outside_path), .result = 1};
    b.done = rt_chan_make(0, 0);
    REQUIRE(rt_go(accept_then_send, &b) > 0);
    REQUIRE(rt_chan_recv(b.done, NULL));
    REQUIRE_EQ(atomic_load(&b.result), 0);
    REQUIRE_EQ(rt_listener_close(b.l), 0);
}

START_TEST(test_no_deadlock_while_io_waits)
{
    snprintf(outside_path, sizeof outside_path, "/tmp/grt-test-outside-%d.sock",
             (int)getpid());
    unlink(outside_path);
    /* Forked before the runtime starts: the child is an ordinary process
     * that connects after a while (retrying until the listener exists). */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, outside_path);
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
        for (int i = 0; i < 1000; i++) {
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
                nanosleep(&nap, NULL);
                _exit(0);
            }
            if (fd >= 0)
                close(fd);
            struct timespec shortnap = {0, 10 * 1000 * 1000};
            nanosleep(&shortnap, NULL);
        }
        _exit(1);
    }
    run_in_rt(outside_body);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* A child process that connects to path and echoes what it reads, until
 * the connection closes; forked before the runtime starts. */
static pid_t fork_echo_child(const char *path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid != 0)
        return pid;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    for (int i = 0; i < 2000; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            char buf[256];
            ssize_t n;
            while ((n = read(fd, buf, sizeof buf)) > 0)
                if (write(fd, buf, (size_t)n) != n)
                    _exit(1);
            _exit(0);
        }
        if (fd >= 0)
            close(fd);
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    _exit(1);
}

static _Atomic int sleeper_woke;

static void long_sleeper(void *arg)
{
    (void)arg;
    rt_sleep(5 * RT_SECOND);
    atomic_store(&sleeper_woke, 1);
}

/* Round trips with another process (so every read really waits in the
 * poller) while a far timer is pending: the idle M that sleeps for that
 * timer must watch the network too (stopm wakes a note sleeper when I/O
 * waiters appear), or each round trip waits for sysmon's 10-ms poll and
 * 600 of them outlast the 5-s timer.  A causal bound with a margin of a
 * hundred times the expected time.  (Which M ends up the timer's sleeper
 * depends on scheduling, so this does not always take that path.) */
static void sleeper_body(void)
{
    rt_listener *l = must_listen("unix", outside_path);
    REQUIRE(rt_go(long_sleeper, NULL) > 0);
    rt_sleep(20 * RT_MILLISECOND); /* an idle M becomes the note sleeper */
    rt_conn *c;
    REQUIRE_EQ(rt_net_accept(l, &c), 0);
    char out[32], in[32];
    for (int i = 0; i < 600; i++) {
        memset(out, 'a' + i % 26, sizeof out);
        write_all(c, out, sizeof out);
        read_full(c, in, sizeof in);
        REQUIRE(memcmp(in, out, sizeof in) == 0);
    }
    REQUIRE_MSG(atomic_load(&sleeper_woke) == 0,
                "600 round trips took longer than a 5-s timer");
    REQUIRE_EQ(rt_conn_close(c), 0);
    REQUIRE_EQ(rt_listener_close(l), 0);
}

START_TEST(test_round_trips_with_other_process)
{
    snprintf(outside_path, sizeof outside_path, "/tmp/grt-test-echo-%d.sock",
             (int)getpid());
    unlink(outside_path);
    pid_t pid = fork_echo_child(outside_path);
    run_in_rt(sleeper_body);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* ----------------------------------------------------- fatal scenarios -- */

static rt_conn *scen_conn;

static void scen_reader(void *arg)
{
    (void)arg;
    char c;
    (void)rt_conn_read(scen_conn, &c, 1);
}

static void scen_file_then_nothing(void)
{
    /* The pool threads libuv started must not hide a real deadlock. */
    char path[] = "/tmp/grt-test-scen-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        (void)rt_file_pwrite(fd, "x", 1, 0);
        close(fd);
    }
}

static int scen_pipe[2];

static void scen_pipe_reader(void *arg)
{
    (void)arg;
    char c;
    (void)rt_file_pread(scen_pipe[0], &c, 1, -1);
}

static int netgc_scenario(void);

static int scenario(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[2];
    if (strcmp(name, "netgc") == 0)
        exit(netgc_scenario()); /* (a return would print "did not die") */
    if (strcmp(name, "sigpipe_stdout") == 0) {
        int p[2];
        if (pipe(p) != 0 || dup2(p[1], 1) < 0)
            return 3;
        close(p[0]);
        for (int i = 0; i < 1000; i++) /* on goroutine 1, on an M */
            (void)write(1, "y\n", 2);
        return 4; /* not killed */
    }
    if (strcmp(name, "exit_pipe_reader") == 0) {
        if (pipe(scen_pipe) != 0)
            return 3;
        rt_go(scen_pipe_reader, NULL);
        rt_sleep(20 * RT_MILLISECOND);
        /* The write end stays open: the read never ends.  exit() runs the
         * destructors a return from main() runs. */
        exit(7);
    }
    rt_listener *l = must_listen("tcp", "127.0.0.1:0");
    char a[64];
    addr_of(l, a, sizeof a);
    rt_conn *sv;
    REQUIRE_EQ(rt_net_dial("tcp", a, &scen_conn), 0);
    REQUIRE_EQ(rt_net_accept(l, &sv), 0);
    if (strcmp(name, "io_wait_traceback") == 0) {
        int64_t id = rt_go(scen_reader, NULL);
        /* Not WAIT_UNTIL: Check's asserts need a running test. */
        char want[64];
        snprintf(want, sizeof want, "goroutine %lld [IO wait", (long long)id);
        for (int i = 0; i < 20000 && !dump_contains(want); i++)
            rt_sleep(RT_MILLISECOND);
        rt_chan_close(NULL); /* fatal: the dump shows the reader */
    } else if (strcmp(name, "deadlock_after_io") == 0) {
        /* Sockets opened and closed, a file written: nobody waits on I/O
         * any more, so this is a deadlock again. */
        REQUIRE_EQ(rt_conn_close(scen_conn), 0);
        REQUIRE_EQ(rt_conn_close(sv), 0);
        REQUIRE_EQ(rt_listener_close(l), 0);
        scen_file_then_nothing();
        rt_chan *c = rt_chan_make(0, 0);
        rt_chan_recv(c, NULL);
    }
    return 0;
}

START_TEST(test_io_wait_in_traceback)
{
    expect_fatal_with("io_wait_traceback", "close of nil channel", "[IO wait]:");
}
END_TEST

START_TEST(test_deadlock_after_io)
{
    expect_fatal("deadlock_after_io", "all goroutines are asleep - deadlock!");
}
END_TEST

/* --------------------------------------------- network beside the GC -- */

/* MAXPROCS=4, GOGC=10: 4 loopback echo pairs doing 2000 small round
 * trips each while 3 goroutines allocate and call rt_gc, in a fresh
 * process (scenario "netgc"), 8 times.  A thread stopped by the world's
 * stop signal inside uv_async_send (waking the poller) kept the poller
 * spinning in libuv, and the stop waited for the P the poller had been
 * handed: such a process hung in 3-7 runs of 12 (tester 27b;
 * sched/netpoll.c, rt__netpoll_break), a hang its watchdog ends. */
typedef struct {
    rt_waitgroup clients, allocers;
    char addr[128];
    _Atomic int stop;
} netgc_run;

static void netgc_echo(void *arg)
{
    rt_conn *c = arg;
    char *buf = rt_alloc_noscan(4096);
    for (;;) {
        ssize_t n = rt_conn_read(c, buf, 4096);
        if (n <= 0 || rt_conn_write(c, buf, (size_t)n) != n)
            break;
    }
    rt_conn_close(c);
}

static void netgc_acceptor(void *arg)
{
    rt_listener *l = arg;
    rt_conn *c;
    while (rt_net_accept(l, &c) == 0)
        rt_go(netgc_echo, c);
}

typedef struct {
    netgc_run *run;
    uint64_t seed;
} netgc_arg;

static void netgc_client(void *arg)
{
    netgc_arg *a = arg;
    uint64_t s = a->seed;
    rt_conn *c = NULL;
    REQUIRE_EQ(rt_net_dial("tcp", a->run->addr, &c), 0);
    char out[512], in[512];
    for (int i = 0; i < 2000; i++) {
        s = s * 6364136223846793005ull + 1;
        size_t n = 1 + (s >> 33) % sizeof out;
        memset(out, (int)(s >> 20), n);
        write_all(c, out, n);
        read_full(c, in, n);
        REQUIRE(memcmp(in, out, n) == 0);
        if (i % 50 == 0)
            (void)rt_alloc(100);
    }
    rt_conn_close(c);
    rt_waitgroup_done(&a->run->clients);
}

static void netgc_allocer(void *arg)
{
    netgc_arg *a = arg;
    uint64_t s = a->seed;
    while (!atomic_load(&a->run->stop)) {
        for (int j = 0; j < 100; j++) {
            s = s * 6364136223846793005ull + 1;
            (void)rt_alloc(1 + (s >> 40) % 2000);
        }
        if ((s >> 30) % 50 == 0)
            rt_gc();
        rt_yield();
    }
    rt_waitgroup_done(&a->run->allocers);
}

/* The scenario's body: one run, the settings from the environment. */
static int netgc_scenario(void)
{
    netgc_run *run = rt_new(netgc_run);
    netgc_arg *args = rt_alloc(7 * sizeof *args);
    rt_listener *l = must_listen("tcp", "127.0.0.1:0");
    addr_of(l, run->addr, sizeof run->addr);
    rt_go(netgc_acceptor, l);
    rt_waitgroup_add(&run->allocers, 3);
    rt_waitgroup_add(&run->clients, 4);
    for (int i = 0; i < 7; i++) {
        args[i] = (netgc_arg){run, (uint64_t)(i + 1)};
        rt_go(i < 3 ? netgc_allocer : netgc_client, &args[i]);
    }
    rt_waitgroup_wait(&run->clients);
    atomic_store(&run->stop, 1);
    rt_waitgroup_wait(&run->allocers);
    REQUIRE_EQ(rt_listener_close(l), 0);
    return 0;
}

RT_TEST(test_round_trips_beside_collections)
{
    static const char *env[] = {"MAXPROCS=4", "GOGC=10", NULL};
    static char err[1 << 16];
    for (int i = 0; i < 8; i++) {
        int st = run_scenario("netgc", env, err, sizeof err);
        REQUIRE_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run %d: status %#x; stderr:\n%.3000s",
                    i, st, err);
    }
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_echo_tcp4);
    tcase_add_test(tc, test_echo_tcp6);
    tcase_add_test(tc, test_echo_unix);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_many_conns);
    tcase_add_test(tc, test_close_wakes_accept);
    tcase_add_test(tc, test_closed_listener_is_closed);
    tcase_add_test(tc, test_nonblocking_pipe_waits);
    tcase_add_test(tc, test_close_wakes_read);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_read_deadline);
    tcase_add_test(tc, test_read_after_short_read);
    tcase_add_test(tc, test_dial_localhost);
    tcase_add_test(tc, test_dial_refused);
    tcase_add_test(tc, test_errno_left_alone);
    tcase_add_test(tc, test_large_write_slow_reader);
    tcase_add_test(tc, test_gc_keeps_parked_conns);
    tcase_add_test(tc, test_finalizer_closes_dropped_conn);
    tcase_add_test(tc, test_file_pread_pwrite);
    tcase_add_test(tc, test_file_read_parks_not_thread);
    tcase_add_test(tc, test_pipe_readers_leave_the_pool_free);
    tcase_add_test(tc, test_exit_with_pipe_reader_waiting);
    tcase_add_test(tc, test_zero_length_io_past_deadline);
    tcase_add_test(tc, test_write_to_closed_pipe_is_epipe);
    tcase_add_test(tc, test_listen_addresses_as_go);
    tcase_add_test(tc, test_service_name_ports);
    tcase_add_test(tc, test_unix_autobind);
    tcase_add_test(tc, test_sigpipe_on_stdout_kills);
    tcase_add_test(tc, test_accept_waits_for_timer_dial);
    tcase_add_test(tc, test_no_deadlock_while_io_waits);
    tcase_add_test(tc, test_round_trips_with_other_process);
    tcase_add_test(tc, test_io_wait_in_traceback);
    tcase_add_test(tc, test_io_not_starved_by_busy_goroutines);
    tcase_add_test(tc, test_yield_among_streaming_conns);
    tcase_add_test(tc, test_io_served_while_every_p_yields);
    tcase_add_test(tc, test_round_trips_beside_collections);
    suite_add_tcase(s, tc);
    /* Apart: under ThreadSanitizer (its own background thread counts as a
     * foreign thread) the runtime never reports a deadlock, so the TSan
     * run (CK_RUN_CASE=io, see CMakeLists.txt) leaves this case out. */
    TCase *dl = tcase_create("deadlock");
    tcase_set_timeout(dl, 120);
    tcase_add_test(dl, test_deadlock_after_io);
    suite_add_tcase(s, dl);
    return harness_main(argc, argv, s, scenario);
}
