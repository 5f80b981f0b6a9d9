/*
 * runtime/print.c -- runtime output: whole lines, one write(2) each.
 *
 * What
 *   Everything the runtime prints (tracers, warnings, fatal errors and
 *   tracebacks) goes through here to fd 2.  rt__buf is a line buffer that
 *   lives on the caller's stack: text accumulates in it, and each write(2)
 *   it makes carries only whole lines -- when the buffer would overflow it
 *   writes up to its last '\n' and keeps the partial line; a single line
 *   longer than the buffer goes out in one writev(2) together with the rest
 *   of the line from the caller.  rt__buf_flush writes whatever is left.
 *   rt__printf formats one line and writes it with one call.  A buffer
 *   whose fd is RT_FD_CAPTURE writes into rt__capture_sink instead: the
 *   allocfreetrace records (several lines each) are assembled there and
 *   written with one rt__write_whole.
 *
 * Why this design
 *   Go's runtime writes each literal and each value with its own write(2),
 *   so lines from two threads interleave mid-line (TRACE_FORMATS.md, Part
 *   B, "Stream").  grt promises whole lines per write instead (Part A), which
 *   keeps schedtrace and gctrace lines readable when several threads print,
 *   and lets golden tests match line by line.  A write of at most PIPE_BUF
 *   bytes to a pipe is atomic, so lines shorter than that never interleave
 *   even with other processes writing to the same pipe.
 *
 *   The buffer is on the stack and there is no lock: this code runs in
 *   signal handlers (the fatal-fault handler, the CPU profiler) and while
 *   the process is throwing, where a lock held by the interrupted code would
 *   deadlock.  Formatting uses vsnprintf into the caller's buffer; glibc's
 *   vsnprintf does not allocate for the integer, pointer and string
 *   conversions the runtime uses (floating-point with a huge precision may;
 *   the runtime does not print floats from a signal handler).
 *
 * Rejected alternatives
 *   - stdio (fprintf(stderr)): it takes the FILE lock (deadlock in a signal
 *     handler that interrupted a printf), and stderr is unbuffered, so a line
 *     would be several writes anyway.
 *   - A global buffer with a lock: the same deadlock, and lines from
 *     different threads would wait on each other.
 *   - A heap-allocated line for long output: printing must not allocate.
 *     A formatted piece too long for the buffer is formatted into a bounded
 *     on-stack scratch area (BIG_PIECE bytes) and truncated past that, with
 *     "..." marking the cut.
 *
 * Invariants
 *   - 0 <= b->n <= sizeof b->b.  After rt__buf_flush, b->n == 0.
 *   - Bytes reach the fd in the order they were added; none is dropped
 *     unless write(2) fails for good (EBADF, EPIPE, ...), in which case the
 *     rest of that write is discarded: there is nowhere to report it.
 *   - EINTR and short writes are retried; EAGAIN (a non-blocking fd 2)
 *     waits in poll(2) for the fd to become writable.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* Longest single formatted piece (one rt__buf_printf call) printed in
 * full; longer ones are cut.  It lives on the stack of whoever prints,
 * which may be a 64 KiB signal stack. */
#define BIG_PIECE 8192

/* ------------------------------------------------------------- writing -- */

/* Writes all of iov[0..cnt) (cnt <= 2) to fd, retrying EINTR, EAGAIN and
 * short writes.  iov is consumed. */
/* 0, or -errno of the failure that ended it. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        if (iov[0].iov_len == 0) {
            iov++;
            cnt--;
            continue;
        }
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                    continue;
            }
            return -errno; /* the fd is gone: nowhere to say so */
        }
        size_t done = (size_t)w;
        while (cnt > 0 && done >= iov[0].iov_len) {
            done -= iov[0].iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov[0].iov_base = (char *)iov[0].iov_base + done;
            iov[0].iov_len -= done;
        }
    }
    return 0;
}

static void write_bytes(int fd, const char *s, size_t n)
{
    struct iovec iov[1] = {{.iov_base = (void *)s, .iov_len = n}};
    int saved = errno;

    write_all(fd, iov, 1);
    errno = saved;
}

void (*rt__capture_sink)(const char *s, size_t n);

/* Every write of an rt__buf goes through here: to the fd, or to the
 * capture sink for RT_FD_CAPTURE. */
static void buf_out(rt__buf *b, struct iovec *iov, int cnt)
{
    if (b->fd == RT_FD_CAPTURE) {
        for (int i = 0; i < cnt; i++)
            if (rt__capture_sink != NULL)
                rt__capture_sink(iov[i].iov_base, iov[i].iov_len);
        return;
    }
    int saved = errno;
    int err = write_all(b->fd, iov, cnt);
    if (err != 0 && b->err == 0)
        b->err = err;
    errno = saved;
}

void rt__write_whole(int fd, const char *s, size_t n)
{
    write_bytes(fd, s, n);
}

/* Writes b->b[0..k) and moves the rest down. */
static void emit(rt__buf *b, size_t k)
{
    struct iovec iov[1] = {{.iov_base = b->b, .iov_len = k}};
    buf_out(b, iov, 1);
    memmove(b->b, b->b + k, b->n - k);
    b->n -= k;
}

static const char *last_nl(const char *s, size_t n)
{
    return memrchr(s, '\n', n);
}

/* ----------------------------------------------------------- the buffer -- */

void rt__buf_init(rt__buf *b, int fd)
{
    b->fd = fd;
    b->n = 0;
    b->err = 0;
}

void rt__buf_write(rt__buf *b, const char *s, size_t n)
{
    while (n > 0) {
        size_t space = sizeof b->b - b->n;

        if (n <= space) {
            memcpy(b->b + b->n, s, n);
            b->n += n;
            return;
        }
        /* It does not fit.  If the buffer holds whole lines, write them and
         * keep the partial line at its end. */
        const char *nl = last_nl(b->b, b->n);
        if (nl != NULL) {
            emit(b, (size_t)(nl - b->b) + 1);
            continue;
        }
        /* The buffer holds the start of one line only.  If that line ends
         * within s, write the whole line in one writev; if the line is too
         * long to fit even an empty buffer, do the same.  Otherwise the line
         * continues beyond s: fill the buffer and write the chunk (a line
         * longer than the buffer cannot be held back). */
        const char *end = memchr(s, '\n', n);
        size_t k = end != NULL ? (size_t)(end - s) + 1 : n;
        if (end == NULL) {
            memcpy(b->b + b->n, s, space);
            b->n += space;
            s += space;
            n -= space;
            emit(b, b->n);
            continue;
        }
        struct iovec iov[2] = {
            {.iov_base = b->b, .iov_len = b->n},
            {.iov_base = (void *)s, .iov_len = k},
        };
        buf_out(b, iov, 2);
        b->n = 0;
        s += k;
        n -= k;
    }
}

void rt__buf_puts(rt__buf *b, const char *s)
{
    rt__buf_write(b, s, strlen(s));
}

void rt__buf_vprintf(rt__buf *b, const char *fmt, va_list ap)
{
    size_t space = sizeof b->b - b->n;
    va_list ap2;
    int len;

    /* Fast path: format straight into the free space. */
    va_copy(ap2, ap);
    len = vsnprintf(b->b + b->n, space, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        return;
    if ((size_t)len < space) {
        b->n += (size_t)len;
        return;
    }
    /* Too long for what is left: format into scratch space on the stack
     * and add it through rt__buf_write, which keeps lines whole.  The
     * bytes vsnprintf left past b->n are not counted and get overwritten. */
    size_t cap = (size_t)len + 1 <= BIG_PIECE ? (size_t)len + 1 : BIG_PIECE;
    char tmp[cap];
    va_copy(ap2, ap);
    vsnprintf(tmp, cap, fmt, ap2);
    va_end(ap2);
    size_t n = cap - 1;
    if ((size_t)len > n) {
        /* Cut: mark it, and keep a final newline the text would have had. */
        size_t flen = strlen(fmt);
        bool nl = flen > 0 && fmt[flen - 1] == '\n';
        memcpy(tmp + n - 4, nl ? "...\n" : "....", 4);
    }
    rt__buf_write(b, tmp, n);
}

void rt__buf_printf(rt__buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rt__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void rt__buf_flush(rt__buf *b)
{
    if (b->n > 0)
        emit(b, b->n);
}

/* ------------------------------------------------------------ rt__printf -- */

void rt__printf(const char *fmt, ...)
{
    rt__buf b;
    va_list ap;

    rt__buf_init(&b, 2);
    va_start(ap, fmt);
    rt__buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rt__buf_flush(&b);
}
