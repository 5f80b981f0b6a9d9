/*
 * tests/fuzz/fuzz_http.c -- the debug server's request layer under
 * libFuzzer: each input is the whole byte stream one client sends on one
 * connection, fed to rt__dh_serve_conn (trace/debughttp.c) in-process,
 * without sockets, in chunks of varying size (1, 2, 3, 5, 8, ... bytes:
 * the parser must not care where reads split), then end of stream.
 *
 * What must hold for every input (else abort(), which the fuzzer reports):
 *   - no crash, no leak, no sanitizer report;
 *   - nothing sent, or exactly one final response, optionally after one
 *     "100 Continue": "HTTP/1.1 NNN Reason\r\n", headers, an empty line;
 *   - its status is what rt__dh_serve_conn returned;
 *   - Content-Length, when present, is the size of the body that follows
 *     (none after HEAD).
 *
 * The handlers are the real ones, with their side effects: a CPU profile
 * (the transport's wait returns at once), a collection for heap?gc=1, and
 * settings changes, which are undone after every input.  The runtime runs
 * in a background thread (rt_main with an idle goroutine and a parked
 * one), as it does in a program that serves /debug/pprof/.
 *
 * Built two ways (tests/fuzz/CMakeLists.txt):
 *   fuzz_http          -DGRT_FUZZ=ON, clang -fsanitize=fuzzer: the fuzzer
 *   fuzz_http_replay   every build: main() below runs every file named on
 *                      the command line (or in a named directory) through
 *                      the same entry point: CI checks the corpus.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"
#include "trace/trace.h"

#define KEEP_OUT (256 * 1024) /* response bytes kept for the checks */

typedef struct fuzz_io {
    const uint8_t *in;
    size_t n, off;
    unsigned step, a, b; /* chunk sizes: a Fibonacci walk, reset at 4 KiB */
    char *out;
    size_t out_n;  /* bytes kept */
    size_t out_total;
} fuzz_io;

static ssize_t f_read(void *ctx, void *buf, size_t n)
{
    fuzz_io *f = ctx;
    if (f->off == f->n)
        return 0;
    size_t k = f->a;
    unsigned next = f->a + f->b;
    f->a = f->b;
    f->b = next > 4096 ? 1 : next;
    if (k > n)
        k = n;
    if (k > f->n - f->off)
        k = f->n - f->off;
    memcpy(buf, f->in + f->off, k);
    f->off += k;
    return (ssize_t)k;
}

static int f_write(void *ctx, const void *buf, size_t n)
{
    fuzz_io *f = ctx;
    size_t keep = n;
    if (keep > KEEP_OUT - f->out_n)
        keep = KEEP_OUT - f->out_n;
    memcpy(f->out + f->out_n, buf, keep);
    f->out_n += keep;
    f->out_total += n;
    return 0;
}

static bool f_wait(void *ctx, int64_t ns)
{
    (void)ctx, (void)ns;
    return true; /* the profile's seconds pass at once */
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Checks one response (out[0..n) of total bytes); returns its status. */
static int check_response(const char *out, size_t n, size_t total, bool head)
{
    CHECK(n >= 12 && memcmp(out, "HTTP/1.1 ", 9) == 0);
    int status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
    CHECK(status >= 100 && status <= 599 && out[12] == ' ');
    const char *end = memmem(out, n, "\r\n\r\n", 4);
    CHECK(end != NULL);
    size_t hlen = (size_t)(end + 4 - out);
    const char *cl = memmem(out, hlen, "\r\nContent-Length: ", 18);
    if (cl != NULL && status != 100) {
        size_t want = strtoull(cl + 18, NULL, 10);
        /* after HEAD no body, unless the request broke before its target
         * (then the server cannot know it was a HEAD) */
        CHECK(total - hlen == want || (head && total == hlen));
    }
    CHECK(memmem(out, hlen, "\r\nConnection: close\r\n", 21) != NULL || status == 100);
    return status;
}

static rt__dh_settings saved;
static bool verbose; /* FUZZ_VERBOSE=1: fuzz_http_replay shows each status */
static pthread_once_t started = PTHREAD_ONCE_INIT;

static void idle_parked(void *arg)
{
    rt_chan_recv(arg, NULL); /* never sent: a parked goroutine to list */
}

static int rt_app(int argc, char **argv)
{
    (void)argc, (void)argv;
    rt_go(idle_parked, rt_chan_make(0, 0));
    for (;;)
        rt_sleep(100 * RT_MILLISECOND);
    return 0;
}

static void *rt_thread(void *arg)
{
    (void)arg;
    char *argv[] = {"fuzz_http", NULL};
    exit(rt_main(rt_app, 1, argv));
}

static void start_runtime(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, rt_thread, NULL) != 0)
        abort();
    while (rt_num_goroutine() < 2) /* rt_app and its parked goroutine */
        usleep(1000);
    rt_memstats *ms = malloc(sizeof *ms);
    rt_read_memstats(ms); /* the collector reads GOGC: settings are stable */
    free(ms);
    rt__dh_settings_get(&saved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pthread_once(&started, start_runtime);
    static char *out;
    if (out == NULL && (out = malloc(KEEP_OUT + 1)) == NULL)
        abort();
    fuzz_io f = {.in = data, .n = size, .a = 1, .b = 1, .out = out};
    rt__dh_io io = {f_read, f_write, f_wait, &f};
    int status = rt__dh_serve_conn(&io);
    rt__dh_settings_set(&saved);
    f.out[f.out_n] = 0;
    if (f.out_total == 0) {
        CHECK(status == 0);
        return 0;
    }
    const char *o = f.out;
    size_t n = f.out_n, total = f.out_total;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (n >= sizeof cont - 1 && memcmp(o, cont, sizeof cont - 1) == 0) {
        o += sizeof cont - 1;
        n -= sizeof cont - 1;
        total -= sizeof cont - 1;
    }
    size_t skip = 0; /* libhttp-parser skips blank lines before a request */
    while (skip < size && (data[skip] == '\r' || data[skip] == '\n'))
        skip++;
    bool head = size - skip >= 5 && memcmp(data + skip, "HEAD ", 5) == 0;
    if (getenv("FUZZ_DUMP") != NULL) /* the whole response, for a failing input */
        fprintf(stderr, "%d bytes, status %d:\n%.*s\n", (int)total, status, (int)n, o);
    CHECK(check_response(o, n, total, head) == status);
    CHECK(status >= 200);
    if (verbose) /* the status line and the first body line */
        fprintf(stderr, "%.*s | %.60s\n", (int)(strchr(o, '\r') - o), o,
                strstr(o, "\r\n\r\n") + 4);
    return 0;
}

#ifdef GRT_FUZZ_REPLAY_MAIN
static size_t replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    if (verbose)
        fprintf(stderr, "%s: ", path);
    /* FUZZ_REPEAT=N runs each input N times (memory growth hunting) */
    for (long i = getenv("FUZZ_REPEAT") ? atol(getenv("FUZZ_REPEAT")) : 1; i > 0; i--)
        LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fuzz_http_replay FILE|DIR...: every input through the entry point, in
 * name order; exit 0 if none failed a check. */
int main(int argc, char **argv)
{
    size_t files = 0;
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            files += replay_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            names = realloc(names, (n + 1) * sizeof *names);
            names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
            sprintf(names[n++], "%s/%s", argv[i], e->d_name);
        }
        if (d != NULL)
            closedir(d);
        qsort(names, n, sizeof *names, by_name);
        for (size_t k = 0; k < n; k++) {
            files += replay_file(names[k]);
            free(names[k]);
        }
        free(names);
    }
    printf("fuzz_http_replay: %zu inputs, every response well-formed\n", files);
    if (files == 0) {
        fprintf(stderr, "fuzz_http_replay: no inputs\n");
        return 1;
    }
    return 0;
}
#endif
