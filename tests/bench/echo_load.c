/*
 * tests/bench/echo_load.c -- workload 14's load client, the same for every
 * server (grt's bench_echo and Go's go/echo).  Plain C, one thread, epoll;
 * it does not link grt.
 *
 *   echo_load SERVER [CONNS [SECONDS]]        (defaults 64 and 10)
 *
 * Starts SERVER pinned to CPU 0 (the affinity is set in the child before
 * exec, so every thread the server makes inherits it), pins itself to
 * CPU 1, reads the server's "listening ADDR" line, opens CONNS TCP
 * connections and runs a closed loop on each: send 64 bytes, wait for the
 * 64 back, send again.  After one second of warm-up it counts round trips
 * for SECONDS and records each one's latency in 1-us buckets.  Then it
 * kills the server and prints run.sh's result line:
 *
 *   result name=echo impl=... unit=rt/s value=<round trips/s>
 *          p99_us=<99th percentile latency, us: the upper edge of its
 *          1-us bucket> cpu_us=<server CPU per
 *          round trip, us> conns=<CONNS> procs=<MAXPROCS/GOMAXPROCS>
 *
 * Every reply is checked byte for byte (a server that mixes up
 * connections fails).  The environment (MAXPROCS or GOMAXPROCS from
 * run.sh) passes on to the server.
 *
 * Sessions.  The server runs in a session of its own (setsid), not in the
 * client's.  Linux's autogroup scheduling (sched_autogroup_enabled, on by
 * default) makes each session one group whose weight is split between the
 * CPUs in proportion to the group's load on each: with the client busy on
 * CPU 1 in the same session, the server's weight on CPU 0 -- its share
 * against other programs when the host is loaded -- grew with the CPU the
 * server burned.  On a loaded host the more frugal server then got less of
 * CPU 0 and waited longer for it at every wake-up (schedstat: grt's server
 * waited 6 ms per time slice against Go's 0.13 ms, and ran 9 % of the time
 * against Go's 20 %), so the figures ranked servers by their
 * wastefulness.  In a session of its own each side competes with the other
 * programs at full weight, as a server and its clients do in practice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAXLAT_US 1000000 /* latencies above 1 s land in the last bucket */

static void fail(const char *what)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % CPU_SETSIZE, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        fail("sched_setaffinity");
}

/* utime + stime of pid, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    long long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    int field = 2;
    for (p++; *p && field < 14; p++)
        if (*p == ' ')
            field++;
    if (sscanf(p, "%lld %lld", &ut, &st) != 2)
        return 0;
    return ut + st;
}

typedef struct conn {
    int fd;
    int got;            /* bytes of the reply so far */
    int64_t sent;       /* when the message went out */
    unsigned char seq;  /* varies the message */
    unsigned char out[MSG], in[MSG];
} conn;

static void send_msg(conn *c)
{
    c->seq++;
    for (int i = 0; i < MSG; i++)
        c->out[i] = (unsigned char)(c->seq + i + c->fd);
    c->got = 0;
    c->sent = now_ns();
    ssize_t w = send(c->fd, c->out, MSG, MSG_NOSIGNAL);
    if (w != MSG) /* 64 bytes into an empty socket buffer: never short */
        fail("send");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: echo_load SERVER [CONNS [SECONDS]]\n");
        return 2;
    }
    int nconns = argc > 2 ? atoi(argv[2]) : 64;
    int secs = argc > 3 ? atoi(argv[3]) : 10;
    if (nconns <= 0 || secs <= 0) {
        fprintf(stderr, "echo_load: bad CONNS or SECONDS\n");
        return 2;
    }
    int pfd[2];
    if (pipe(pfd) != 0)
        fail("pipe");
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        pin(0, 0);
        /* A session of its own: see "Sessions" above.  And it dies with
         * us, whatever kills us. */
        if (setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            fail("setsid");
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl(argv[1], argv[1], (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    pin(0, 1);
    char line[256];
    size_t ln = 0;
    while (ln < sizeof line - 1) {
        ssize_t r = read(pfd[0], line + ln, 1);
        if (r <= 0) {
            fprintf(stderr, "FAIL: the server printed no address\n");
            kill(pid, SIGKILL);
            return 1;
        }
        if (line[ln] == '\n')
            break;
        ln++;
    }
    line[ln] = '\0';
    char host[64];
    int port;
    if (sscanf(line, "listening %63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "FAIL: unexpected server line: %s\n", line);
        kill(pid, SIGKILL);
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);

    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    if (ep < 0 || cs == NULL)
        fail("setup");
    for (int i = 0; i < nconns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            fail("connect");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            fail("epoll_ctl");
    }
    static uint64_t hist[MAXLAT_US + 1];
    uint64_t count = 0;
    for (int i = 0; i < nconns; i++)
        send_msg(&cs[i]);
    int64_t t0 = now_ns();
    int64_t start = t0 + 1000000000LL; /* one second of warm-up */
    int64_t end = start + (int64_t)secs * 1000000000LL;
    bool measuring = false;
    long long cpu0 = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait");
        int64_t t = now_ns();
        if (!measuring && t >= start) {
            measuring = true;
            cpu0 = cpu_ticks(pid);
            start = t;
        }
        if (t >= end)
            break;
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->got, (size_t)(MSG - c->got), 0);
            if (r <= 0) {
                fprintf(stderr, "FAIL: recv: %s\n", r == 0 ? "server closed" : strerror(errno));
                kill(pid, SIGKILL);
                return 1;
            }
            c->got += (int)r;
            if (c->got < MSG)
                continue;
            if (memcmp(c->in, c->out, MSG) != 0) {
                fprintf(stderr, "FAIL: wrong reply on a connection\n");
                kill(pid, SIGKILL);
                return 1;
            }
            if (measuring) {
                int64_t us = (now_ns() - c->sent) / 1000;
                hist[us > MAXLAT_US ? MAXLAT_US : us]++;
                count++;
            }
            send_msg(c);
        }
    }
    int64_t t1 = now_ns();
    long long cpu1 = cpu_ticks(pid);
    /* SIGTERM first (a wrapper such as strace or perf then writes its
     * report), SIGKILL if it is still there after a second. */
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(pid, NULL, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (count == 0) {
        fprintf(stderr, "FAIL: no round trip completed\n");
        return 1;
    }
    uint64_t want = (count * 99 + 99) / 100, acc = 0;
    int p99 = 0;
    for (int us = 0; us <= MAXLAT_US; us++) {
        acc += hist[us];
        if (acc >= want) {
            p99 = us;
            break;
        }
    }
    double secs_m = (double)(t1 - start) / 1e9;
    double rate = (double)count / secs_m;
    double cpu_us = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) * 1e6 / (double)count;
    const char *procs = getenv("MAXPROCS");
    if (procs == NULL)
        procs = getenv("GOMAXPROCS");
    const char *base = strrchr(argv[1], '/');
    base = base ? base + 1 : argv[1];
    printf("result name=echo impl=%s unit=rt/s value=%.0f p99_us=%d cpu_us=%.2f "
           "conns=%d procs=%s\n",
           strncmp(base, "bench_", 6) == 0 ? "grt" : "go", rate, p99 + 1, cpu_us,
           nconns, procs ? procs : "?");
    return 0;
}
