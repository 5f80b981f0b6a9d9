/*
 * trace/debughttp.c -- the debug server's request layer: one connection's
 * bytes in, one HTTP/1.1 response out.  No sockets here: a transport hands
 * rt__dh_serve_conn an rt__dh_io (read, write, wait) and closes the
 * connection when it returns.  debugserve.c is the socket transport; the
 * fuzzer (tests/fuzz) drives the same function from a byte buffer.
 *
 * Endpoints (shared/PPROF.md "HTTP", Go 1.19's net/http/pprof and expvar):
 *   /debug/pprof/                   the index page, profiles with counts
 *   /debug/pprof/cmdline            the arguments, NUL-separated
 *   /debug/pprof/profile?seconds=N  a CPU profile of N seconds (30 when
 *                                   absent); 500 "Could not enable CPU
 *                                   profiling: cpu profiling already in
 *                                   use" while one runs
 *   /debug/pprof/{heap,allocs,block,mutex,goroutine,threadcreate}
 *                                   ?debug=N (text forms), heap?gc=1
 *   /debug/pprof/symbol             GET: "num_symbols: 1"; GET with a query
 *                                   or POST with a body "0xA+0xB": the same
 *                                   line, then "0xA name" lines
 *   /debug/pprof                    301 to /debug/pprof/ (Go's ServeMux)
 *   /debug/pprof/trace              501: grt has no execution tracer
 *   /debug/vars                     expvar's JSON: cmdline, goroutines,
 *                                   memstats under Go's field names
 *   /debug/grt/settings             GET: key=value lines; POST (or GET
 *                                   with a query) gctrace=1&gogc=50: sets
 *                                   them, all or none
 *
 * One request per connection.  The request is parsed by libhttp-parser
 * (Debian's libhttp-parser-dev, 2.9): method, target, Content-Length or
 * chunked body, and the framing errors a hand-written scanner gets wrong.
 * On top of it this file enforces the limits of trace.h:
 *   request line + headers over RT_DH_MAX_HEAD, or more than
 *   RT_DH_MAX_HEADERS lines                     -> 431 (never buffered: the
 *                                                  parser is fed at most
 *                                                  that many bytes before
 *                                                  the headers end)
 *   a body over RT_DH_MAX_BODY                  -> 413 (declared or chunked)
 *   no complete request before the deadline     -> 408 (the transport's
 *                                                  read says -ETIMEDOUT)
 *   a method the path does not take             -> 405 with Allow
 *   HTTP/2+ or 0.9                              -> 505
 *   anything libhttp-parser rejects             -> 400 and its reason
 *   a malformed query value (seconds=abc)       -> 400 with Go's wording
 * and every response carries Content-Length (profiles are rendered to a
 * memfd first, so a failure can still be a 500 rather than a 200 with a
 * truncated body) and "Connection: close".
 *
 * Differences from Go, on purpose
 *   - Malformed debug=, gc= and seconds= values are 400s; Go reads them as
 *     0 (and a malformed seconds as 30 for the CPU profile).
 *   - seconds= on the named profiles gives Go's delta profile (the
 *     profile N seconds later minus the profile now: pprof.c), computed
 *     on the samples before encoding rather than by merging two parsed
 *     profiles; the result is the same samples.  Concurrent deltas wait
 *     their seconds side by side; their profile writes take turns
 *     (delta_mu).
 *   - /debug/pprof/trace is a 501 and not on the index page.
 *
 * The side effects are the ones Go's handlers have: heap?gc=1 runs a
 * collection, profile runs the CPU profiler, settings changes the runtime.
 * Everything else only reads.  The handlers run on the transport's
 * goroutine (debugserve.c), on its rescue thread while every P is stuck
 * in C code (rt__dh_rescuing: there heap?gc=1 does not collect, and a
 * delta whose write finds another's in progress is a 503 -- neither may wait
 * for a goroutine), or on the fuzzer's thread outside the runtime:
 * everything else they call works from all three.
 */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gc/gc.h"
#include "trace/trace.h"

/* ---------------------------------------------------------- the request -- */

enum { FEED_MORE = 0, FEED_DONE = 1 }; /* else an HTTP status >= 400 */

typedef struct req {
    http_parser p;
    size_t head_fed;     /* bytes fed before the headers ended */
    bool headers_done, done, in_value, hdr_is_expect, want_continue;
    int err;             /* a limit's status, set inside a callback */
    int nheaders;
    char hname[16];      /* the current header's name, lower case, cut */
    size_t hname_n;
    char expect[16];     /* Expect's value, cut */
    size_t expect_n;
    char *body;          /* malloc'd, NUL-terminated; NULL if none */
    size_t body_n;
    size_t url_n;
    char url[RT_DH_MAX_HEAD + 1]; /* last: req_init does not clear it */
} req;

static req *req_of(http_parser *p)
{
    return p->data;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    req *r = req_of(p);
    /* head_fed <= RT_DH_MAX_HEAD bounds the URL, so this never cuts */
    if (n > sizeof r->url - 1 - r->url_n) {
        r->err = 431;
        return 1;
    }
    memcpy(r->url + r->url_n, at, n);
    r->url_n += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    req *r = req_of(p);
    if (r->in_value || r->nheaders == 0) { /* a new header line */
        r->in_value = false;
        r->hname_n = 0;
        if (++r->nheaders > RT_DH_MAX_HEADERS) {
            r->err = 431;
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (r->hname_n < sizeof r->hname - 1) {
            char c = at[i];
            r->hname[r->hname_n] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        r->hname_n++; /* keeps counting: a long name is not "expect" */
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    req *r = req_of(p);
    if (!r->in_value) {
        r->in_value = true;
        r->hdr_is_expect = r->hname_n == 6 && memcmp(r->hname, "expect", 6) == 0;
        if (r->hdr_is_expect)
            r->expect_n = 0;
    }
    if (r->hdr_is_expect) {
        for (size_t i = 0; i < n; i++, r->expect_n++)
            if (r->expect_n < sizeof r->expect - 1)
                r->expect[r->expect_n] = at[i];
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    req *r = req_of(p);
    r->headers_done = true;
    if (p->http_major != 1) {
        r->err = 505;
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > RT_DH_MAX_BODY) {
        r->err = 413;
        return -1;
    }
    bool has_body = (p->flags & F_CHUNKED) ||
                    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    /* curl asks before it sends a body over 1 KiB; answer at once rather
     * than make it wait a second */
    if (has_body && r->expect_n == 12 && strncasecmp(r->expect, "100-continue", 12) == 0)
        r->want_continue = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    req *r = req_of(p);
    if (n > RT_DH_MAX_BODY - r->body_n) {
        r->err = 413;
        return 1;
    }
    if (r->body == NULL && (r->body = malloc(RT_DH_MAX_BODY + 1)) == NULL) {
        r->err = 500;
        return 1;
    }
    memcpy(r->body + r->body_n, at, n);
    r->body_n += n;
    r->body[r->body_n] = 0;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    req *r = req_of(p);
    r->done = true;
    http_parser_pause(p, 1); /* one request per connection: ignore the rest */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void req_init(req *r)
{
    memset(r, 0, offsetof(req, url));
    r->url[0] = 0;
    http_parser_init(&r->p, HTTP_REQUEST);
    r->p.data = r;
}

/* Feeds n bytes (n == 0: the end of the stream).  FEED_MORE, FEED_DONE or
 * an error status; *why is the parser's reason for a 400. */
static int req_feed(req *r, const char *data, size_t n, const char **why)
{
    bool eof = n == 0;
    do {
        size_t k = n;
        if (!r->headers_done) {
            /* never feed more than the header limit before the headers
             * end: a huge header block is refused, not buffered */
            size_t room = RT_DH_MAX_HEAD - r->head_fed;
            if (room == 0)
                return 431;
            if (k > room)
                k = room;
        }
        size_t used = http_parser_execute(&r->p, &parser_settings, eof ? NULL : data, k);
        enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
        if (r->done)
            return FEED_DONE;
        if (r->err != 0)
            return r->err;
        if (e != HPE_OK) {
            *why = http_errno_description(e);
            return 400;
        }
        if (r->p.upgrade && r->headers_done)
            return FEED_DONE; /* an Upgrade: request; answered as a plain one */
        if (used != k) {
            *why = "unparsed bytes";
            return 400;
        }
        if (!r->headers_done)
            r->head_fed += used;
        data += used;
        n -= used;
    } while (n > 0);
    if (eof) {
        *why = "unexpected end of request";
        return 400;
    }
    return FEED_MORE;
}

/* ----------------------------------------------------------- responses -- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Request Entity Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

typedef struct resp {
    int status;
    const char *ctype;
    char extra[160];   /* more header lines, each ending in \r\n */
    rt__pbuf body;     /* the body, unless fd >= 0 */
    int fd;            /* a memfd holding the body, or -1 */
    bool head;         /* HEAD: headers only */
    bool no_length;    /* HEAD of a body never computed */
} resp;

static void http_date(char *out, size_t n)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Sends r (headers, then the body unless HEAD) and releases its body. */
static int send_resp(const rt__dh_io *io, resp *r)
{
    size_t len = r->body.n;
    int err = 0;
    if (r->fd >= 0) {
        struct stat st;
        len = fstat(r->fd, &st) == 0 ? (size_t)st.st_size : 0;
    }
    if (r->body.oom) { /* the body is incomplete: say so instead */
        r->status = 500;
        r->ctype = "text/plain; charset=utf-8";
        r->extra[0] = 0;
        len = 0;
    }
    char date[64], length[48] = "";
    http_date(date, sizeof date);
    if (!r->no_length)
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", len);
    char h[512];
    int hn = snprintf(h, sizeof h,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n"
                      "%sDate: %s\r\n%sConnection: close\r\n\r\n",
                      r->status, reason(r->status), r->ctype, r->extra, date, length);
    if (hn < 0 || (size_t)hn >= sizeof h)
        err = -EOVERFLOW;
    else
        err = io->write(io->ctx, h, (size_t)hn);
    if (err == 0 && !r->head && len > 0) {
        if (r->fd < 0) {
            err = io->write(io->ctx, r->body.b, len);
        } else {
            char buf[16384];
            for (off_t off = 0; err == 0 && (size_t)off < len;) {
                ssize_t k = pread(r->fd, buf, sizeof buf, off);
                if (k <= 0) {
                    err = k < 0 ? -errno : -EIO;
                    break;
                }
                err = io->write(io->ctx, buf, (size_t)k);
                off += k;
            }
        }
    }
    rt__pbuf_free(&r->body);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    return err;
}

static void resp_init(resp *r, bool head)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->head = head;
    r->status = 200;
    r->ctype = "text/plain; charset=utf-8";
}

/* Go's serveError: a one-line text/plain body.  Replaces any body. */
static void resp_error(resp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void resp_error(resp *r, int status, const char *fmt, ...)
{
    rt__pbuf_free(&r->body);
    memset(&r->body, 0, sizeof r->body);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->no_length = false;
    r->status = status;
    r->ctype = "text/plain; charset=utf-8";
    snprintf(r->extra, sizeof r->extra, "X-Go-Pprof: 1\r\n");
    va_list ap;
    va_start(ap, fmt);
    rt__pbuf_vprintf(&r->body, fmt, ap);
    va_end(ap);
    rt__pbuf_put(&r->body, "\n", 1);
}

/* Go's server answers broken requests with "400 Bad Request[: why]";
 * no body after HEAD. */
static void send_error(const rt__dh_io *io, int status, const char *text, bool head)
{
    resp r;
    resp_init(&r, head);
    r.status = status;
    rt__pbuf_printf(&r.body, "%d %s%s%s", status, reason(status), text ? ": " : "",
                    text ? text : "");
    (void)send_resp(io, &r);
}

void rt__dh_send_error(const rt__dh_io *io, int status, const char *text)
{
    send_error(io, status, text, false);
}

/* A file that holds a body written by an fd-writer (rt_pprof_write, the CPU
 * profiler): a memfd, or an unlinked file in /tmp.  -errno on failure. */
static int scratch_fd(void)
{
    int fd = memfd_create("grt-debughttp", MFD_CLOEXEC);
    if (fd < 0) {
        const char *t = getenv("TMPDIR");
        fd = open(t && *t ? t : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    return fd < 0 ? -errno : fd;
}

/* --------------------------------------------------------------- forms -- */

/* A decoded query string or form body: keys and values, NUL-terminated,
 * in one malloc'd copy. */
typedef struct form {
    char *buf;
    size_t n;
    struct { const char *k, *v; } kv[64];
} form;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (plus is space when form); returns the
 * decoded length, or -1 for a bad escape or a decoded NUL. */
static ssize_t unescape(const char *s, size_t n, char *out, bool form_mode)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == 0)
                return -1;
            i += 2;
        } else if (c == '+' && form_mode) {
            c = ' ';
        }
        out[k++] = c;
    }
    out[k] = 0;
    return (ssize_t)k;
}

/* Parses "a=1&b=2" (s[0..n)); -1 for a bad escape or too many fields. */
static int form_parse(form *f, const char *s, size_t n)
{
    memset(f, 0, sizeof *f);
    if (n == 0)
        return 0;
    /* a field of k bytes decodes to at most k + 2 ("key" -> "key\0\0") */
    f->buf = malloc(2 * n + 2);
    if (f->buf == NULL)
        return -1;
    char *out = f->buf;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        if (j > i) {
            if (f->n == sizeof f->kv / sizeof f->kv[0])
                return -1;
            const char *eq = memchr(s + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (s + i)) : j - i;
            ssize_t a = unescape(s + i, kl, out, true);
            if (a < 0)
                return -1;
            f->kv[f->n].k = out;
            out += a + 1;
            ssize_t b = eq ? unescape(eq + 1, (size_t)(s + j - eq - 1), out, true)
                           : (*out = 0, 0);
            if (b < 0)
                return -1;
            f->kv[f->n].v = out;
            out += b + 1;
            f->n++;
        }
        i = j + 1;
    }
    return 0;
}

static void form_free(form *f)
{
    free(f->buf);
    f->buf = NULL;
}

/* The first value of key, or NULL (Go's FormValue, which tells "" from
 * absent only through the caller). */
static const char *form_get(const form *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->kv[i].k, key) == 0)
            return f->kv[i].v;
    return NULL;
}

/* Plain decimal digits (a leading '-' when neg_ok) into *out, no overflow.
 * Go's strconv.Atoi/ParseInt without the '+' sign. */
static bool parse_int(const char *s, bool neg_ok, int64_t max, int64_t *out)
{
    bool neg = false;
    if (neg_ok && *s == '-') {
        neg = true;
        s++;
    }
    if (*s == 0)
        return false;
    int64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (x > (max - (*s - '0')) / 10)
            return false;
        x = x * 10 + (*s - '0');
    }
    *out = neg ? -x : x;
    return true;
}

/* ----------------------------------------------------------- endpoints -- */

typedef struct call {
    const rt__dh_io *io;
    const char *path;   /* decoded */
    const char *query;  /* raw, "" if none */
    form q;             /* decoded query (or POST form for settings) */
    int method;         /* HTTP_GET, HTTP_HEAD, HTTP_POST */
    const char *body;   /* POST body, "" if none */
    size_t body_n;
    resp r;
} call;

/* The whole of /proc/self/cmdline (NUL after every argument). */
static void read_cmdline(rt__pbuf *b)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0)
        rt__pbuf_put(b, buf, (size_t)k);
    close(fd);
}

static void serve_cmdline(call *c)
{
    rt__pbuf a = {0};
    read_cmdline(&a);
    size_t n = a.n;
    if (n > 0 && a.b[n - 1] == 0)
        n--; /* Go joins the arguments with NULs: none after the last */
    rt__pbuf_put(&c->r.body, a.b, n);
    c->r.body.oom |= a.oom;
    rt__pbuf_free(&a);
}

typedef struct pinfo {
    const char *name, *desc;
} pinfo;

/* Go's index, in its (sorted) order, with its descriptions. */
static const pinfo index_profiles[] = {
    {"allocs", "A sampling of all past memory allocations"},
    {"block", "Stack traces that led to blocking on synchronization primitives"},
    {"cmdline", "The command line invocation of the current program"},
    {"goroutine", "Stack traces of all current goroutines"},
    {"heap", "A sampling of memory allocations of live objects. You can specify the gc GET "
             "parameter to run GC before taking the heap sample."},
    {"mutex", "Stack traces of holders of contended mutexes"},
    {"profile", "CPU profile. You can specify the duration in the seconds GET parameter. After "
                "you get the profile file, use the go tool pprof command to investigate the "
                "profile."},
    {"threadcreate", "Stack traces that led to the creation of new OS threads"},
};

static size_t profile_count(const char *name)
{
    if (strcmp(name, "allocs") == 0 || strcmp(name, "heap") == 0)
        return rt__memprof_count();
    if (strcmp(name, "block") == 0)
        return rt__blockprof_count(false);
    if (strcmp(name, "mutex") == 0)
        return rt__blockprof_count(true);
    if (strcmp(name, "goroutine") == 0)
        return (size_t)rt_num_goroutine();
    if (strcmp(name, "threadcreate") == 0)
        return rt__threadcreate_count();
    return 0; /* cmdline, profile */
}

static void serve_index(call *c)
{
    rt__pbuf *b = &c->r.body;
    c->r.ctype = "text/html; charset=utf-8";
    rt__pbuf_printf(b, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n"
                       ".profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n"
                       "</head>\n<body>\n/debug/pprof/<br>\n<br>\n"
                       "Types of profiles available:\n<table>\n"
                       "<thead><td>Count</td><td>Profile</td></thead>\n");
    const size_t np = sizeof index_profiles / sizeof index_profiles[0];
    for (size_t i = 0; i < np; i++)
        rt__pbuf_printf(b, "<tr><td>%zu</td><td><a href='%s?debug=1'>%s</a></td></tr>\n",
                        profile_count(index_profiles[i].name), index_profiles[i].name,
                        index_profiles[i].name);
    rt__pbuf_printf(b, "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n"
                       "<br>\n<p>\nProfile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < np; i++)
        rt__pbuf_printf(b, "<li><div class=profile-name>%s: </div> %s</li>\n",
                        index_profiles[i].name, index_profiles[i].desc);
    rt__pbuf_printf(b, "</ul>\n</p>\n<p>\ngrt: <a href=\"/debug/vars\">/debug/vars</a> "
                       "(memstats as JSON), <a href=\"/debug/grt/settings\">/debug/grt/"
                       "settings</a> (tracers, profile rates, GOGC)\n</p>\n</body>\n</html>");
}

/* The body of an fd-writer, into c->r.fd; false after answering an error. */
static bool open_scratch(call *c)
{
    int fd = scratch_fd();
    if (fd < 0) {
        resp_error(&c->r, 500, "Could not create a buffer: %s", strerror(-fd));
        return false;
    }
    c->r.fd = fd;
    return true;
}

static void serve_profile(call *c)
{
    const char *v = form_get(&c->q, "seconds");
    int64_t secs = 30;
    if (v != NULL && *v != 0 && (!parse_int(v, false, INT64_MAX / RT_SECOND, &secs) || secs <= 0)) {
        resp_error(&c->r, 400, "invalid value for \"seconds\" - must be a positive integer");
        return;
    }
    c->r.ctype = "application/octet-stream";
    snprintf(c->r.extra, sizeof c->r.extra,
             "Content-Disposition: attachment; filename=\"profile\"\r\n");
    if (c->method == HTTP_HEAD) { /* what GET would answer, without profiling */
        c->r.no_length = true;
        return;
    }
    if (!open_scratch(c))
        return;
    int err = rt_pprof_start_cpu(c->r.fd);
    if (err != 0) {
        resp_error(&c->r, 500, "Could not enable CPU profiling: %s",
                   err == -EBUSY ? "cpu profiling already in use" : strerror(-err));
        return;
    }
    bool stayed = c->io->wait(c->io->ctx, secs * RT_SECOND);
    rt_pprof_stop_cpu();
    if (!stayed) /* the client went away: Go stops early too */
        c->r.status = 0;
}

static const char *const named_profiles[] = {"heap",      "allocs",      "block", "mutex",
                                             "goroutine", "threadcreate"};

static void serve_delta_passes(call *c, const char *name, int64_t secs);

/* ?seconds=N on a named profile: Go's serveDeltaProfile -- the profile
 * now, N seconds later the profile then minus it (pprof.c, delta
 * profiles), as a proto. */
static void serve_delta(call *c, const char *name, int64_t secs)
{
    c->r.ctype = "application/octet-stream";
    snprintf(c->r.extra, sizeof c->r.extra,
             "Content-Disposition: attachment; filename=\"%s-delta\"\r\n", name);
    if (c->method == HTTP_HEAD) {
        c->r.no_length = true;
        return;
    }
    if (!open_scratch(c))
        return;
    serve_delta_passes(c, name, secs);
}

/* pprof.c tracks one delta pass at a time: each of a delta's two writes
 * holds this, its wait between them does not -- concurrent requests
 * wait their seconds side by side, as Go's handlers do (they were served
 * one after another: four 2-second requests took 2, 4, 6 and 8 s; an
 * outside tester's find).  False (the 503 sent) if the rescue thread
 * (debugserve.c), which is no goroutine and cannot wait, finds it held. */
static rt_mutex delta_mu;

static bool delta_pass_begin(call *c)
{
    if (!rt__dh_rescuing) {
        rt_mutex_lock(&delta_mu);
        return true;
    }
    if (rt_mutex_trylock(&delta_mu))
        return true;
    resp_error(&c->r, 503, "another delta profile is being written");
    return false;
}

static void serve_delta_passes(call *c, const char *name, int64_t secs)
{
    if (!delta_pass_begin(c))
        return;
    rt__pprof_delta *d = rt__pprof_delta_begin();
    if (d == NULL) {
        rt_mutex_unlock(&delta_mu);
        resp_error(&c->r, 500, "Could not write the %s profile: %s", name, strerror(ENOMEM));
        return;
    }
    int err = rt_pprof_write(name, c->r.fd, 0); /* collects: writes nothing */
    rt__pprof_delta_pause();
    rt_mutex_unlock(&delta_mu);
    if (err < 0) {
        rt__pprof_delta_free(d);
        resp_error(&c->r, 500, "Could not write the %s profile: %s", name, strerror(-err));
        return;
    }
    bool stayed = c->io->wait(c->io->ctx, secs * RT_SECOND);
    if (!stayed) { /* the client went away (Go: 408 to nobody) */
        rt__pprof_delta_free(d);
        c->r.status = 0;
        return;
    }
    if (!delta_pass_begin(c)) {
        rt__pprof_delta_free(d);
        return;
    }
    rt__pprof_delta_subtract(d);
    err = rt_pprof_write(name, c->r.fd, 0);
    rt__pprof_delta_free(d);
    rt_mutex_unlock(&delta_mu);
    if (err < 0)
        resp_error(&c->r, 500, "Could not write the %s profile: %s", name, strerror(-err));
}

static void serve_named(call *c, const char *name)
{
    const char *secs = form_get(&c->q, "seconds");
    int64_t debug = 0, gc = 0;
    const char *v = form_get(&c->q, "debug");
    if (v != NULL && *v != 0 && !parse_int(v, false, INT_MAX, &debug)) {
        resp_error(&c->r, 400, "invalid value for \"debug\" - must be a non-negative integer");
        return;
    }
    if (secs != NULL && *secs != 0) {
        int64_t s;
        if (!parse_int(secs, false, INT64_MAX / RT_SECOND, &s) || s <= 0)
            resp_error(&c->r, 400, "invalid value for \"seconds\" - must be a positive integer");
        else if (debug != 0)
            resp_error(&c->r, 400, "seconds and debug params are incompatible");
        else
            serve_delta(c, name, s);
        return;
    }
    v = form_get(&c->q, "gc");
    if (v != NULL && *v != 0 && !parse_int(v, true, INT_MAX, &gc)) {
        resp_error(&c->r, 400, "invalid value for \"gc\" - must be an integer");
        return;
    }
    if (debug != 0) {
        c->r.ctype = "text/plain; charset=utf-8";
    } else {
        c->r.ctype = "application/octet-stream";
        snprintf(c->r.extra, sizeof c->r.extra,
                 "Content-Disposition: attachment; filename=\"%s\"\r\n", name);
    }
    /* (not on the rescue thread: a collection from a thread outside the
     * runtime runs on a goroutine, and every P is taken -- debugserve.c) */
    if (strcmp(name, "heap") == 0 && gc > 0 && !rt__dh_rescuing)
        rt_gc();
    if (!open_scratch(c))
        return;
    int err = rt_pprof_write(name, c->r.fd, (int)debug);
    if (err < 0)
        resp_error(&c->r, 500, "Could not write the %s profile: %s", name, strerror(-err));
}

/* Go's strconv.ParseUint(word, 0, 64): 0x/0o/0b prefixes, a leading 0 is
 * octal; no sign, no spaces.  0 for anything else (Go's error value). */
static uint64_t parse_pc(const char *s, size_t n)
{
    unsigned base = 10;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2, n -= 2;
    else if (n >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2, n -= 2;
    else if (n >= 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2, n -= 2;
    else if (n >= 1 && s[0] == '0')
        base = 8;
    if (n == 0)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval(s[i]);
        if (d < 0 || (unsigned)d >= base || x > (UINT64_MAX - (uint64_t)d) / base)
            return 0;
        x = x * base + (uint64_t)d;
    }
    return x;
}

static void serve_symbol(call *c)
{
    rt__pbuf *b = &c->r.body;
    /* pprof only asks whether this is > 0 */
    rt__pbuf_printf(b, "num_symbols: 1\n");
    const char *s = c->method == HTTP_POST ? c->body : c->query;
    size_t n = c->method == HTTP_POST ? c->body_n : strlen(c->query);
    while (n > 0) {
        const char *plus = memchr(s, '+', n);
        size_t w = plus ? (size_t)(plus - s) : n;
        uint64_t pc = parse_pc(s, w);
        rt__sym sym;
        if (pc != 0 && pc <= UINTPTR_MAX && rt__symbolize((uintptr_t)pc, &sym) &&
            sym.name != NULL)
            rt__pbuf_printf(b, "%#llx %s\n", (unsigned long long)pc, sym.name);
        if (plus == NULL)
            break;
        s += w + 1;
        n -= w + 1;
    }
}

/* ------------------------------------------------------------- expvar -- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t x, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, x = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, x = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, x = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        x = x << 6 | (s[i] & 0x3f);
    }
    if (x < min || x > 0x10ffff || (x >= 0xd800 && x <= 0xdfff))
        return 0;
    *cp = x;
    return len;
}

/* A JSON string as Go's encoding/json writes it: \" \\ \n \r \t, other
 * controls and <, >, & as \u00XX, U+2028/9 escaped, bad UTF-8 as \ufffd. */
static void json_string(rt__pbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    rt__pbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        uint32_t cp;
        size_t l = utf8_len(u + i, n - i, &cp);
        if (l == 0) {
            rt__pbuf_printf(b, "\\ufffd");
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            rt__pbuf_printf(b, "\\%c", c);
        else if (c == '\n')
            rt__pbuf_printf(b, "\\n");
        else if (c == '\r')
            rt__pbuf_printf(b, "\\r");
        else if (c == '\t')
            rt__pbuf_printf(b, "\\t");
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            rt__pbuf_printf(b, "\\u%04x", c);
        else if (cp == 0x2028 || cp == 0x2029)
            rt__pbuf_printf(b, "\\u%04x", (unsigned)cp);
        else
            rt__pbuf_put(b, u + i, l);
        i += l;
    }
    rt__pbuf_put(b, "\"", 1);
}

static void serve_vars(call *c)
{
    rt__pbuf *b = &c->r.body;
    c->r.ctype = "application/json; charset=utf-8";
    rt_memstats *ms = malloc(sizeof *ms);
    if (ms == NULL) {
        resp_error(&c->r, 500, "out of memory");
        return;
    }
    rt_read_memstats(ms);
    /* expvar: the published variables in key order, one per line */
    rt__pbuf_printf(b, "{\n\"cmdline\": [");
    rt__pbuf a = {0};
    read_cmdline(&a);
    for (size_t i = 0, start = 0; i < a.n; i++) {
        if (a.b[i] != 0)
            continue;
        if (start > 0)
            rt__pbuf_put(b, ",", 1);
        json_string(b, (const char *)a.b + start, i - start);
        start = i + 1;
    }
    b->oom |= a.oom;
    rt__pbuf_free(&a);
    rt__pbuf_printf(b, "],\n\"goroutines\": %d,\n\"memstats\": {", rt_num_goroutine());
#define U(name, field) rt__pbuf_printf(b, "\"" name "\":%llu,", (unsigned long long)ms->field)
    U("Alloc", alloc);
    U("TotalAlloc", total_alloc);
    U("Sys", sys);
    U("Lookups", lookups);
    U("Mallocs", mallocs);
    U("Frees", frees);
    U("HeapAlloc", heap_alloc);
    U("HeapSys", heap_sys);
    U("HeapIdle", heap_idle);
    U("HeapInuse", heap_inuse);
    U("HeapReleased", heap_released);
    U("HeapObjects", heap_objects);
    U("StackInuse", stack_inuse);
    U("StackSys", stack_sys);
    U("MSpanInuse", mspan_inuse);
    U("MSpanSys", mspan_sys);
    U("MCacheInuse", mcache_inuse);
    U("MCacheSys", mcache_sys);
    U("BuckHashSys", buckhash_sys);
    U("GCSys", gc_sys);
    U("OtherSys", other_sys);
    U("NextGC", next_gc);
    U("LastGC", last_gc);
    U("PauseTotalNs", pause_total_ns);
#undef U
    rt__pbuf_printf(b, "\"PauseNs\":[");
    for (size_t i = 0; i < sizeof ms->pause_ns / sizeof ms->pause_ns[0]; i++)
        rt__pbuf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)ms->pause_ns[i]);
    rt__pbuf_printf(b, "],\"NumGC\":%u,\"EnableGC\":%s,\"DebugGC\":%s,\"BySize\":[",
                    (unsigned)ms->num_gc, ms->enable_gc ? "true" : "false",
                    ms->debug_gc ? "true" : "false");
    for (size_t i = 0; i < RT_MEMSTATS_NSIZE; i++)
        rt__pbuf_printf(b, "%s{\"Size\":%u,\"Mallocs\":%llu,\"Frees\":%llu}", i ? "," : "",
                        (unsigned)ms->by_size[i].size,
                        (unsigned long long)ms->by_size[i].mallocs,
                        (unsigned long long)ms->by_size[i].frees);
    rt__pbuf_printf(b, "]}\n}\n");
    free(ms);
}

/* ----------------------------------------------------------- settings -- */

/* A pthread mutex, not an rt_mutex: the fuzzer calls in from a thread
 * outside the runtime.  Nothing under it parks, so a connection goroutine
 * that holds it never leaves its thread, and one that waits for it blocks
 * its thread only for a few stores. */
static pthread_mutex_t settings_mu = PTHREAD_MUTEX_INITIALIZER;

void rt__dh_settings_get(rt__dh_settings *s)
{
    s->gctrace = __atomic_load_n(&rt__debug.gctrace, __ATOMIC_RELAXED);
    s->schedtrace = __atomic_load_n(&rt__debug.schedtrace, __ATOMIC_RELAXED);
    s->scheddetail = __atomic_load_n(&rt__debug.scheddetail, __ATOMIC_RELAXED);
    int64_t m = atomic_load(&rt__memprof_rate);
    s->memprofilerate = m > INT_MAX ? INT_MAX : (int)m;
    s->blockprofilerate = rt__block_profile_rate_get();
    s->mutexprofilefraction = rt_set_mutex_profile_fraction(-1);
    s->gogc = atomic_load(&rt__gc_percent);
}

/* Applies the fields that differ from the current values (setting the
 * memory profile rate restarts every P's countdown: not for nothing).
 * The tracer fields are written with relaxed atomic stores; sysmon and
 * the collector read them on their next report or cycle.  settings_mu
 * held, so that a request's read-check-apply is one step. */
static void settings_apply(const rt__dh_settings *s)
{
    rt__dh_settings cur;
    rt__dh_settings_get(&cur);
    __atomic_store_n(&rt__debug.gctrace, s->gctrace, __ATOMIC_RELAXED);
    __atomic_store_n(&rt__debug.schedtrace, s->schedtrace, __ATOMIC_RELAXED);
    __atomic_store_n(&rt__debug.scheddetail, s->scheddetail, __ATOMIC_RELAXED);
    if (s->memprofilerate != cur.memprofilerate)
        rt_set_memprofile_rate(s->memprofilerate);
    if (s->blockprofilerate != cur.blockprofilerate)
        rt_set_block_profile_rate(s->blockprofilerate);
    if (s->mutexprofilefraction != cur.mutexprofilefraction)
        rt_set_mutex_profile_fraction(s->mutexprofilefraction);
    if (s->gogc != cur.gogc)
        rt_set_gc_percent(s->gogc);
}

void rt__dh_settings_set(const rt__dh_settings *s)
{
    pthread_mutex_lock(&settings_mu);
    settings_apply(s);
    pthread_mutex_unlock(&settings_mu);
}

typedef struct setting {
    const char *key;
    size_t off;
    bool gogc; /* also "off" and -1 */
} setting;

static const setting settings_tab[] = {
    {"gctrace", offsetof(rt__dh_settings, gctrace), false},
    {"schedtrace", offsetof(rt__dh_settings, schedtrace), false},
    {"scheddetail", offsetof(rt__dh_settings, scheddetail), false},
    {"memprofilerate", offsetof(rt__dh_settings, memprofilerate), false},
    {"blockprofilerate", offsetof(rt__dh_settings, blockprofilerate), false},
    {"mutexprofilefraction", offsetof(rt__dh_settings, mutexprofilefraction), false},
    {"gogc", offsetof(rt__dh_settings, gogc), true},
};
#define NSETTINGS (sizeof settings_tab / sizeof settings_tab[0])

static void serve_settings(call *c)
{
    form body = {0};
    const form *f = &c->q;
    if (c->method == HTTP_POST) {
        if (form_parse(&body, c->body, c->body_n) != 0) {
            form_free(&body);
            resp_error(&c->r, 400, "invalid form body");
            return;
        }
        f = &body;
    }
    /* all or nothing: check every field first, then apply, under the lock
     * so that two writers do not interleave their reads and writes */
    pthread_mutex_lock(&settings_mu);
    rt__dh_settings s;
    rt__dh_settings_get(&s);
    bool ok = true;
    for (size_t i = 0; i < f->n && ok; i++) {
        const setting *t = NULL;
        for (size_t j = 0; j < NSETTINGS; j++)
            if (strcmp(f->kv[i].k, settings_tab[j].key) == 0)
                t = &settings_tab[j];
        if (t == NULL) {
            resp_error(&c->r, 400, "unknown setting \"%.64s\"", f->kv[i].k);
            ok = false;
            break;
        }
        const char *v = f->kv[i].v;
        int64_t x;
        if (t->gogc && strcmp(v, "off") == 0)
            x = -1;
        else if (!parse_int(v, t->gogc, INT_MAX, &x) || (!t->gogc && x < 0)) {
            resp_error(&c->r, 400, "invalid value for \"%s\": \"%.64s\" (want %s)", t->key, v,
                       t->gogc ? "a percentage, off or a negative number"
                               : "a non-negative integer");
            ok = false;
            break;
        }
        if (t->gogc && x < 0) /* any negative is off, as GOGC=-7 is */
            x = -1;
        *(int *)((char *)&s + t->off) = (int)x;
    }
    if (ok && f->n > 0)
        settings_apply(&s);
    pthread_mutex_unlock(&settings_mu);
    form_free(&body);
    if (!ok)
        return;
    rt__dh_settings_get(&s);
    for (size_t j = 0; j < NSETTINGS; j++) {
        int x = *(const int *)((const char *)&s + settings_tab[j].off);
        if (settings_tab[j].gogc && x < 0)
            rt__pbuf_printf(&c->r.body, "%s=off\n", settings_tab[j].key);
        else
            rt__pbuf_printf(&c->r.body, "%s=%d\n", settings_tab[j].key, x);
    }
}

/* ------------------------------------------------------------- routing -- */

enum { M_GET_HEAD = 1, M_POST = 2 };

typedef struct route {
    const char *path;
    int methods;
    void (*fn)(call *c);
} route;

static const route routes[] = {
    {"/debug/pprof/", M_GET_HEAD, serve_index},
    {"/debug/pprof/cmdline", M_GET_HEAD, serve_cmdline},
    {"/debug/pprof/profile", M_GET_HEAD, serve_profile},
    {"/debug/pprof/symbol", M_GET_HEAD | M_POST, serve_symbol},
    {"/debug/vars", M_GET_HEAD, serve_vars},
    {"/debug/grt/settings", M_GET_HEAD | M_POST, serve_settings},
};

static void dispatch(call *c)
{
    static const char prefix[] = "/debug/pprof/";
    const route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(c->path, routes[i].path) == 0)
            rt = &routes[i];
    const char *name = NULL;
    if (rt == NULL && strncmp(c->path, prefix, sizeof prefix - 1) == 0) {
        name = c->path + sizeof prefix - 1;
        for (size_t i = 0; i < sizeof named_profiles / sizeof named_profiles[0]; i++)
            if (strcmp(name, named_profiles[i]) == 0)
                name = named_profiles[i];
    }
    if (rt == NULL && name == NULL) {
        if (strcmp(c->path, "/debug/pprof") == 0) {
            c->r.status = 301;
            snprintf(c->r.extra, sizeof c->r.extra, "Location: /debug/pprof/\r\n");
            c->r.ctype = "text/html; charset=utf-8";
            rt__pbuf_printf(&c->r.body, "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n");
        } else {
            resp_error(&c->r, 404, "404 page not found");
            c->r.extra[0] = 0;
        }
        return;
    }
    int methods = rt ? rt->methods : M_GET_HEAD;
    bool ok = c->method == HTTP_GET || c->method == HTTP_HEAD ||
              (c->method == HTTP_POST && (methods & M_POST));
    if (!ok) {
        resp_error(&c->r, 405, "Method Not Allowed");
        snprintf(c->r.extra, sizeof c->r.extra, "Allow: GET, HEAD%s\r\n",
                 methods & M_POST ? ", POST" : "");
        return;
    }
    if (rt != NULL) {
        rt->fn(c);
        return;
    }
    for (size_t i = 0; i < sizeof named_profiles / sizeof named_profiles[0]; i++) {
        if (name == named_profiles[i]) {
            serve_named(c, name);
            return;
        }
    }
    if (strcmp(name, "trace") == 0)
        resp_error(&c->r, 501, "grt has no execution tracer");
    else
        resp_error(&c->r, 404, "Unknown profile");
}

/* Answers the complete request r; the status sent, 0 if none. */
static int serve_req(const rt__dh_io *io, req *r)
{
    call c;
    memset(&c, 0, sizeof c);
    c.io = io;
    c.method = r->p.method;
    resp_init(&c.r, c.method == HTTP_HEAD);
    c.body = r->body ? r->body : "";
    c.body_n = r->body_n;
    r->url[r->url_n] = 0;
    struct http_parser_url u;
    http_parser_url_init(&u);
    char *path = NULL;
    if (http_parser_parse_url(r->url, r->url_n, c.method == HTTP_CONNECT, &u) != 0) {
        send_error(io, 400, "malformed request target", c.r.head);
        return 400;
    }
    const char *praw = "/";
    size_t plen = 1;
    if (u.field_set & (1 << UF_PATH)) {
        praw = r->url + u.field_data[UF_PATH].off;
        plen = u.field_data[UF_PATH].len;
    }
    c.query = "";
    if (u.field_set & (1 << UF_QUERY)) {
        r->url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = 0; /* drops #frag */
        c.query = r->url + u.field_data[UF_QUERY].off;
    }
    path = malloc(plen + 1);
    if (path == NULL || unescape(praw, plen, path, false) < 0 ||
        form_parse(&c.q, c.query, strlen(c.query)) != 0) {
        free(path);
        form_free(&c.q);
        send_error(io, 400, path ? "invalid URL escape" : "out of memory", c.r.head);
        return 400;
    }
    c.path = path;
    dispatch(&c);
    if (c.r.status != 0)
        (void)send_resp(io, &c.r); /* may turn a 200 into a 500 */
    int status = c.r.status;
    rt__pbuf_free(&c.r.body);
    if (c.r.fd >= 0)
        close(c.r.fd);
    form_free(&c.q);
    free(path);
    return status;
}

int rt__dh_serve_conn(const rt__dh_io *io)
{
    req *r = malloc(sizeof *r);
    if (r == NULL) {
        rt__dh_send_error(io, 503, "out of memory");
        return 503;
    }
    req_init(r);
    char buf[4096];
    size_t total = 0;
    int status = 0;
    for (;;) {
        ssize_t k = io->read(io->ctx, buf, sizeof buf);
        const char *why = NULL;
        int st;
        /* the method is known once the target begins */
        bool head = r->url_n > 0 && r->p.method == HTTP_HEAD;
        if (k == -ETIMEDOUT) {
            send_error(io, status = 408, NULL, head);
            break;
        }
        if (k < 0 || (k == 0 && total == 0))
            break; /* the client left (or never spoke): nobody to answer */
        total += (size_t)k;
        st = req_feed(r, buf, (size_t)k, &why);
        if (st == FEED_DONE) {
            status = serve_req(io, r);
            break;
        }
        if (st != FEED_MORE) {
            send_error(io, status = st, why, r->url_n > 0 && r->p.method == HTTP_HEAD);
            break;
        }
        if (r->want_continue) {
            r->want_continue = false;
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (io->write(io->ctx, cont, sizeof cont - 1) != 0)
                break;
        }
    }
    free(r->body);
    free(r);
    return status;
}
