/*
 * tests/runtime/test_print.c -- runtime output (runtime/print.c).
 *
 * The promise is "every write(2) carries whole lines".  A SOCK_SEQPACKET
 * socket pair keeps message boundaries, so each write the code makes
 * arrives as one message and the test sees exactly where the writes were.
 * Concurrency goes through a pipe with many threads printing at once; EINTR,
 * short writes and EAGAIN through a pipe with a slow reader.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* ------------------------------------------------- seqpacket helpers ---- */

static int sp[2]; /* sp[0]: the runtime writes; sp[1]: the test reads */

static void sp_open(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
    int sz = 1 << 20;
    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

/* Next message (one write(2) of the code under test) into buf; returns
 * its length, or -1 if none is pending. */
static ssize_t sp_next(char *buf, size_t n)
{
    ssize_t r = recv(sp[1], buf, n, MSG_DONTWAIT);
    if (r < 0) {
        ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
        return -1;
    }
    return r;
}

static void sp_close(void)
{
    close(sp[0]);
    close(sp[1]);
}

static char msg[1 << 20];

/* Reads every pending message, checking each is whole lines (or, if last
 * and flushed without a newline, the tail); appends them to all. */
static int sp_drain(char *all, size_t *alln, bool tail_ok)
{
    int count = 0;
    ssize_t r;

    while ((r = sp_next(msg, sizeof msg)) >= 0) {
        ck_assert_int_gt(r, 0);
        if (msg[r - 1] != '\n') {
            ck_assert_msg(tail_ok, "a write ended mid-line: %.*s", (int)r,
                          msg);
            tail_ok = false; /* only one such (the last) */
        }
        memcpy(all + *alln, msg, (size_t)r);
        *alln += (size_t)r;
        count++;
    }
    return count;
}

/* ------------------------------------------------------------- tests ---- */

START_TEST(short_line_is_one_write)
{
    sp_open();
    rt__buf b;
    rt__buf_init(&b, sp[0]);
    rt__buf_puts(&b, "goroutine ");
    rt__buf_printf(&b, "%d [%s]:", 1, "running");
    rt__buf_puts(&b, "\n");
    /* nothing written until the flush: the buffer is not full */
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);
    rt__buf_flush(&b);
    ck_assert_int_eq(b.n, 0);
    ssize_t r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, (ssize_t)strlen("goroutine 1 [running]:\n"));
    ck_assert_int_eq(memcmp(msg, "goroutine 1 [running]:\n", (size_t)r), 0);
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);

    /* flushing an empty buffer writes nothing */
    rt__buf_flush(&b);
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);

    /* a tail without a newline goes out at the flush */
    rt__buf_puts(&b, "tail");
    rt__buf_flush(&b);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 4);
    ck_assert_int_eq(memcmp(msg, "tail", 4), 0);
    sp_close();
}
END_TEST

START_TEST(many_lines_split_at_newlines)
{
    static char all[1 << 20], want[1 << 20];
    size_t alln = 0, wantn = 0;

    sp_open();
    rt__buf b;
    rt__buf_init(&b, sp[0]);
    /* Lines of varied length, each built from several pieces, some pieces
     * spanning line ends. */
    for (int i = 0; i < 3000; i++) {
        char line[400];
        int pad = (i * 37) % 300;
        int len = snprintf(line, sizeof line, "line %d ", i);
        memset(line + len, 'a' + i % 26, (size_t)pad);
        len += pad;
        line[len++] = '|';
        line[len++] = '\n';
        memcpy(want + wantn, line, (size_t)len);
        wantn += (size_t)len;
        /* write it in three uneven pieces */
        int a = len / 3, c = len - 2 * a;
        rt__buf_write(&b, line, (size_t)a);
        rt__buf_write(&b, line + a, (size_t)a);
        rt__buf_write(&b, line + 2 * a, (size_t)c);
        sp_drain(all, &alln, false);
    }
    rt__buf_flush(&b);
    sp_drain(all, &alln, false);
    ck_assert_int_eq(alln, wantn);
    ck_assert_int_eq(memcmp(all, want, wantn), 0);
    sp_close();
}
END_TEST

START_TEST(writes_are_full_buffers_of_lines)
{
    sp_open();
    rt__buf b;
    rt__buf_init(&b, sp[0]);
    /* 100 lines of 100 bytes: 10000 bytes, so at least 5 writes, each of
     * at most sizeof b.b bytes and each ending at a line end. */
    char line[101];
    memset(line, 'x', 99);
    line[99] = '\n';
    line[100] = '\0';
    for (int i = 0; i < 100; i++)
        rt__buf_puts(&b, line);
    rt__buf_flush(&b);
    int writes = 0;
    size_t total = 0;
    ssize_t r;
    while ((r = sp_next(msg, sizeof msg)) >= 0) {
        ck_assert_int_le(r, (ssize_t)sizeof b.b);
        ck_assert_int_eq(r % 100, 0);
        ck_assert_int_eq(msg[r - 1], '\n');
        total += (size_t)r;
        writes++;
    }
    ck_assert_int_eq(total, 10000);
    /* whole buffers: 20 lines (2000 bytes) fit in 2048 */
    ck_assert_int_eq(writes, 5);
    sp_close();
}
END_TEST

START_TEST(long_line_in_one_write)
{
    static char big[20000];

    sp_open();
    rt__buf b;
    rt__buf_init(&b, sp[0]);
    memset(big, 'L', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    /* A partial line in the buffer, then the rest of it (5000 bytes) with
     * the newline: the whole line arrives as one write. */
    rt__buf_puts(&b, "short 1\nprefix:");
    big[5000] = '\n';
    rt__buf_write(&b, big, 5000 + 1 + 4);
    big[5000] = 'L';
    rt__buf_puts(&b, "\nnext");
    rt__buf_flush(&b);
    ssize_t r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 8);
    ck_assert_int_eq(memcmp(msg, "short 1\n", 8), 0);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 7 + 5000 + 1);
    ck_assert_int_eq(memcmp(msg, "prefix:", 7), 0);
    ck_assert_int_eq(msg[7 + 4999], 'L');
    ck_assert_int_eq(msg[7 + 5000], '\n');
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 4 + 1 + 4);
    ck_assert_int_eq(memcmp(msg, "LLLL\nnext", 9), 0);
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);

    /* A line longer than the buffer assembled from pieces cannot be held
     * back (there is no memory to hold it in): it goes out in full
     * buffers, then the rest with its newline. */
    for (int i = 0; i < 50; i++)
        rt__buf_write(&b, big, 100);
    rt__buf_puts(&b, "\n");
    rt__buf_flush(&b);
    size_t total = 0;
    while ((r = sp_next(msg, sizeof msg)) >= 0) {
        total += (size_t)r;
        if (total < 5001)
            ck_assert_int_eq(r, (ssize_t)sizeof b.b);
        else
            ck_assert_int_eq(msg[r - 1], '\n');
    }
    ck_assert_int_eq(total, 5001);

    /* A formatted line longer than the buffer: one write. */
    rt__buf_printf(&b, "head %.*s tail\n", 6000, big);
    rt__buf_flush(&b);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 5 + 6000 + 6);
    ck_assert_int_eq(memcmp(msg, "head LLL", 8), 0);
    ck_assert_int_eq(memcmp(msg + r - 6, " tail\n", 6), 0);
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);

    /* One formatted piece past the scratch limit (8 KiB) is cut and
     * marked, keeping its newline. */
    rt__buf_printf(&b, "%s\n", big);
    rt__buf_flush(&b);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 8191);
    ck_assert_int_eq(memcmp(msg + r - 4, "...\n", 4), 0);
    ck_assert_int_eq(msg[0], 'L');
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);
    sp_close();
}
END_TEST

START_TEST(printf_one_write_per_call)
{
    static char big[3000];
    int saved = dup(2);

    sp_open();
    ck_assert_int_eq(dup2(sp[0], 2), 2);
    errno = EDOM;
    rt__printf("grt: ignoring %s=\"%s\": want %s\n", "GOGC", "abc",
               "a percentage or \"off\"");
    ck_assert_int_eq(errno, EDOM); /* printing leaves errno alone */
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rt__printf("big %s\n", big);
    rt__printf("two\nlines\n");
    dup2(saved, 2);
    close(saved);

    ssize_t r = sp_next(msg, sizeof msg);
    const char *w = "grt: ignoring GOGC=\"abc\": want a percentage or \"off\"\n";
    ck_assert_int_eq(r, (ssize_t)strlen(w));
    ck_assert_int_eq(memcmp(msg, w, (size_t)r), 0);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 4 + 2999 + 1);
    r = sp_next(msg, sizeof msg);
    ck_assert_int_eq(r, 10);
    ck_assert_int_eq(memcmp(msg, "two\nlines\n", 10), 0);
    ck_assert_int_eq(sp_next(msg, sizeof msg), -1);
    sp_close();
}
END_TEST

/* ------------------------------------------- many threads, one pipe ---- */

#define NTHREADS 8
#define NLINES 3000

static int pipe_w;

static uint32_t sum(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Line: "T%02d %06d <pad> %08x\n", the checksum covering what precedes. */
static void *printer(void *arg)
{
    int t = (int)(intptr_t)arg;
    rt__buf b;
    char pad[700];

    rt__buf_init(&b, pipe_w);
    memset(pad, 'a' + t, sizeof pad);
    for (int i = 0; i < NLINES; i++) {
        char head[32];
        int plen = (i * 131 + t * 17) % 600;
        int hl = snprintf(head, sizeof head, "T%02d %06d ", t, i);
        uint32_t h = sum(head, (size_t)hl);
        /* checksum of head + pad */
        uint32_t hh = h;
        for (int k = 0; k < plen; k++)
            hh = (hh ^ (unsigned char)pad[k]) * 16777619u;
        if (i % 3 == 0) {
            /* through rt__printf: one line, one write (after what this
             * thread buffered, to keep its lines in order) */
            rt__buf_flush(&b);
            rt__printf("%s%.*s %08x\n", head, plen, pad, hh);
        } else {
            /* through a shared-nothing buffer, in pieces */
            rt__buf_puts(&b, head);
            rt__buf_write(&b, pad, (size_t)plen);
            rt__buf_printf(&b, " %08x\n", hh);
            if (i % 7 == 0)
                rt__buf_flush(&b);
        }
    }
    rt__buf_flush(&b);
    return NULL;
}

START_TEST(threads_never_split_lines)
{
    int p[2];
    pthread_t th[NTHREADS];
    int next[NTHREADS] = {0};
    static char buf[1 << 16];
    static char line[2048];
    size_t ln = 0;
    ssize_t r;
    int saved = dup(2);

    ck_assert_int_eq(pipe(p), 0);
    pipe_w = p[1];
    /* rt__printf writes to fd 2: point it at the pipe as well */
    ck_assert_int_eq(dup2(p[1], 2), 2);
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(
            pthread_create(&th[t], NULL, printer, (void *)(intptr_t)t), 0);

    /* Read until all writers are gone: close our copies first after the
     * threads finish, so read the pipe concurrently from here. */
    int done = 0;
    for (;;) {
        r = read(p[0], buf, sizeof buf);
        ck_assert_int_gt(r, 0);
        /* Plain checks per byte and line: each passing ck_assert costs
         * Check a message to its parent. */
        for (ssize_t i = 0; i < r; i++) {
            if (ln == sizeof line)
                ck_abort_msg("line too long: %.*s", 80, line);
            line[ln++] = buf[i];
            if (buf[i] != '\n')
                continue;
            int t, seq;
            unsigned h;
            if (ln <= 14 || sscanf(line, "T%02d %06d ", &t, &seq) != 2 ||
                t < 0 || t >= NTHREADS)
                ck_abort_msg("mangled line: %.*s", (int)ln, line);
            if (seq != next[t]) /* in order, none lost */
                ck_abort_msg("thread %d: line %d, want %d", t, seq, next[t]);
            next[t]++;
            if (sscanf(line + ln - 9, "%08x", &h) != 1 ||
                line[ln - 10] != ' ' || h != sum(line, ln - 10))
                ck_abort_msg("line mixed with another: %.*s", (int)ln, line);
            ln = 0;
            if (next[t] == NLINES)
                done++;
        }
        if (done == NTHREADS)
            break;
    }
    ck_assert_int_eq(ln, 0);
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    /* nothing more was written */
    r = read(p[0], buf, sizeof buf);
    ck_assert_int_eq(r, 0);
    close(p[0]);
}
END_TEST

/* ------------------------------------- EINTR, short writes and EAGAIN ---- */

static void on_alarm(int sig)
{
    (void)sig;
}

typedef struct reader_arg {
    int fd;
    char *out;
    size_t n;
} reader_arg;

/* Reads slowly in small pieces so that the writer blocks often. */
static void *slow_reader(void *arg)
{
    reader_arg *ra = arg;
    ssize_t r;
    int k = 0;

    while ((r = read(ra->fd, ra->out + ra->n, 997)) != 0) {
        if (r < 0) {
            ck_assert_int_eq(errno, EINTR);
            continue;
        }
        ra->n += (size_t)r;
        if (++k % 16 == 0)
            usleep(200);
    }
    return NULL;
}

static void blocked_writer_case(bool nonblock)
{
    static char want[1 << 19], got[1 << 19];
    int p[2];
    pthread_t th;
    reader_arg ra;
    size_t wantn = 0;

    ck_assert_int_eq(pipe(p), 0);
    if (nonblock)
        ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    ra.fd = p[0];
    ra.out = got;
    ra.n = 0;

    /* Signals without SA_RESTART interrupt the blocked write(2): EINTR,
     * or a short write once part of the data went through. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {{0, 500}, {0, 500}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);

    /* Only the writer (this thread) takes the signal. */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &alrm, NULL), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader, &ra), 0);
    ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &alrm, NULL), 0);
    rt__buf b;
    rt__buf_init(&b, p[1]);
    for (int i = 0; wantn < sizeof want - 70000; i++) {
        char line[65600];
        int len = snprintf(line, sizeof line, "%d:", i);
        int pad = i % 5 == 0 ? 60000 : (i * 7) % 90;
        memset(line + len, 'a' + i % 26, (size_t)pad);
        len += pad;
        line[len++] = '\n';
        memcpy(want + wantn, line, (size_t)len);
        wantn += (size_t)len;
        rt__buf_write(&b, line, (size_t)len);
    }
    rt__buf_flush(&b);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    close(p[1]);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    close(p[0]);
    ck_assert_int_eq(ra.n, wantn);
    ck_assert_int_eq(memcmp(got, want, wantn), 0);
}

START_TEST(eintr_and_short_writes)
{
    blocked_writer_case(false);
}
END_TEST

START_TEST(nonblocking_fd)
{
    blocked_writer_case(true);
}
END_TEST

static Suite *print_suite(void)
{
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("buf");

    tcase_add_test(tc, short_line_is_one_write);
    tcase_add_test(tc, many_lines_split_at_newlines);
    tcase_add_test(tc, writes_are_full_buffers_of_lines);
    tcase_add_test(tc, long_line_in_one_write);
    tcase_add_test(tc, printf_one_write_per_call);
    tcase_add_test(tc, threads_never_split_lines);
    tcase_add_test(tc, eintr_and_short_writes);
    tcase_add_test(tc, nonblocking_fd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(print_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
