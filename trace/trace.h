/*
 * trace/trace.h -- internal header of the trace/ folder.
 *
 * trace/ owns the built-in tracers and, later, the profilers, their pprof
 * encoding, the heap dump and the debug HTTP server.  Everything it prints
 * follows TRACE_FORMATS.md (Go 1.3 forms) to the byte, goes to fd 2 one
 * whole line per write(2), and allocates nothing from the GC heap.
 *
 * Files
 *   schedtrace.c   DEBUG=schedtrace=X[,scheddetail=1]: the SCHED lines,
 *                  printed by sysmon.
 *   allocfreetrace.c DEBUG=allocfreetrace=1: tracealloc, tracefree and
 *                  tracegc records, printed by the allocating goroutine,
 *                  the sweeper and the collector.
 *   heapdump.c     rt_write_heap_dump: the "go1.3 heap dump" format of
 *                  TRACE_FORMATS.md section 11, built in memory with the
 *                  world stopped, written to the fd once it runs again.
 *   pprof.c        profile.proto encoding + gzip (zlib) and the text forms'
 *                  machinery (stack listings, tabwriter padding).
 *   cpuprof.c      the CPU profiler: per-thread CPU-time timers, SIGPROF,
 *                  per-M sample rings drained by a writer thread; labels.
 *   memprof.c      heap sampling, the sampled-object set, Go's publication
 *                  cycles; the heap and allocs profiles.
 *   blockprof.c    the block and mutex profiles (rt__block_event,
 *                  rt__mutex_contention_event record here).
 *   goroutineprof.c the goroutine and threadcreate profiles, and
 *                  rt_pprof_write's dispatch; CPUPROFILE / MEMPROFILE.
 *   debughttp.c    the debug server's request layer: bytes of one
 *                  connection in, Go's /debug/pprof/ endpoints (plus
 *                  /debug/vars and /debug/grt/settings) out, through a
 *                  caller-supplied I/O interface; no sockets.
 *   debugserve.c   rt_debug_serve: the transport (listener and connection
 *                  goroutines on the netpoller, deadlines, the
 *                  connection limit).
 *   bench.c        rt_bench_main: go test -bench for C programs.
 */
#ifndef RT_TRACE_H
#define RT_TRACE_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

/* Prints one schedtrace report (a SCHED line, or with detail the detailed
 * dump of Ps, Ms and Gs).  now is rt_nanotime(); the first call fixes the
 * time origin ("SCHED 0ms"). */
void rt__schedtrace(int64_t now, bool detail);

/* allocfreetrace (TRACE_FORMATS.md §4).  Callers test
 * rt__debug.allocfreetrace first; none of these allocates. */
enum { RT_TRACE_SINGLE = 0, RT_TRACE_ARRAY = 1, RT_TRACE_CHAN = 2 };
/* p was allocated for an n-byte request (the rounded size is printed);
 * type is rt_new's type name or NULL; kind RT_TRACE_*.  Outside any
 * no-stop region. */
void rt__tracealloc(void *p, size_t n, const char *type, int kind);
/* The sweeper found the object p of size bytes dead (in its no-stop
 * region). */
void rt__tracefree(void *p, size_t size);
/* The start of a collection, world stopped: every goroutine's traceback. */
void rt__tracegc(void);

/* ------------------------------------------------------------ pprof.c -- */

/* A growable malloc'd byte buffer; oom latches the first failed growth. */
typedef struct rt__pbuf {
    uint8_t *b;
    size_t n, cap;
    bool oom;
} rt__pbuf;
void rt__pbuf_reserve(rt__pbuf *b, size_t more);
void rt__pbuf_put(rt__pbuf *b, const void *p, size_t n);
void rt__pbuf_printf(rt__pbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rt__pbuf_vprintf(rt__pbuf *b, const char *fmt, va_list ap);
void rt__pbuf_free(rt__pbuf *b);

/* Pseudo-PCs for samples that have no stack (Go's runtime._System, ...). */
enum {
    RT_PPROF_SYSTEM = 1,   /* scheduler, context switch */
    RT_PPROF_GC = 2,       /* the collector */
    RT_PPROF_EXTERNAL = 3, /* a thread outside the runtime */
    RT_PPROF_LOST = 4,     /* samples dropped: a ring was full */
    RT_PPROF_NSPECIAL = 5,
};
#define RT_PPROF_MAX_DEPTH 64 /* frames kept per stack: CPU samples and
                               * goroutines (Go keeps 32-64) */
/* Frames kept per heap, block and mutex event: 32, as Go's buckets keep
 * (TRACE_FORMATS.md §6 and §12: "up to 32 PCs"). */
#define RT_PPROF_EVENT_DEPTH 32
#define RT_PPROF_MAX_INLINE 16 /* frames one PC expands to (inlining undone) */

typedef struct rt__pprof rt__pprof; /* a profile.proto under construction */
typedef struct rt__pprof_label {
    const char *key;
    const char *str; /* NULL: numeric */
    int64_t num;
    const char *unit;
} rt__pprof_label;

rt__pprof *rt__pprof_new(void);
void rt__pprof_free(rt__pprof *p);
int64_t rt__pprof_str(rt__pprof *p, const char *s);
void rt__pprof_sample_type(rt__pprof *p, const char *type, const char *unit);
void rt__pprof_period(rt__pprof *p, const char *type, const char *unit, int64_t period);
void rt__pprof_default_sample_type(rt__pprof *p, const char *type);
void rt__pprof_times(rt__pprof *p, int64_t time_nanos, int64_t duration_nanos);
void rt__pprof_comment(rt__pprof *p, const char *c);
int64_t rt__pprof_walltime(void);
/* One sample: pcs[0] is the leaf; leaf_exact when it is the interrupted PC
 * itself rather than a return address (every other PC is one). */
void rt__pprof_sample(rt__pprof *p, const uintptr_t *pcs, int n, bool leaf_exact,
                      const int64_t *values, int nvalues, const rt__pprof_label *labels,
                      int nlabels);
/* Appends mappings and tables, gzips, writes to fd; 0 or -errno.  The
 * profile is still to be freed. */
int rt__pprof_finish(rt__pprof *p, int fd);
/* Delta profiles (pprof.c): _begin makes the calling goroutine's next
 * profiles collect their samples (nothing is written); _subtract makes
 * its next ones subtract them (and add what is gone, negated); _pause
 * detaches; _free frees (and detaches). */
typedef struct rt__pprof_delta rt__pprof_delta;
rt__pprof_delta *rt__pprof_delta_begin(void);
void rt__pprof_delta_subtract(rt__pprof_delta *d);
void rt__pprof_delta_pause(void);
void rt__pprof_delta_free(rt__pprof_delta *d);
int rt__gzip_write(int fd, const void *data, size_t n);
int rt__write_all(int fd, const void *buf, size_t n);

/* Brackets a profiler's own stack walk on the calling thread: a SIGPROF
 * meanwhile records the interrupted PC without walking (libunwind's
 * per-thread cache is not reentrant).  begin returns the old state for
 * end (walks may nest). */
extern _Thread_local volatile sig_atomic_t rt__pprof_walking;
int rt__pprof_walk_begin(void);
void rt__pprof_walk_end(int old);
/* An event's stack for the block, mutex and heap profiles: at most max
 * (<= 64) addresses, the first inside this function, then the return
 * addresses up the stack; bracketed as a profiler's walk.  libunwind's
 * unw_backtrace (pprof.c says why). */
int rt__pprof_backtrace(uintptr_t *pcs, int max);
/* dl_iterate_phdr for the runtime's own walks of the loaded objects,
 * bracketed like a profiler's walk: it holds the loader's lock, which
 * a SIGPROF handler's stack walk on another thread may wait for (pprof.c
 * says how that deadlocked). */
struct dl_phdr_info;
int rt__dl_iterate_phdr(int (*cb)(struct dl_phdr_info *info, size_t size, void *arg),
                        void *arg);
/* Clears 8 KiB of stack below the caller's frame (after a stack walk:
 * no stale copies of heap pointers for the conservative collector). */
void rt__pprof_scrub_stack(void);

/* Text forms (TRACE_FORMATS.md section 5). */
void rt__tabwriter(const char *text, size_t n, rt__pbuf *out);
void rt__text_stack(rt__pbuf *b, const uintptr_t *pcs, int n, bool leaf_exact,
                    bool all_frames);
void rt__text_pcs(rt__pbuf *b, const uintptr_t *pcs, int n);
/* Writes b to fd, through the tabwriter if asked; 0 or -errno. */
int rt__text_finish(rt__pbuf *b, int fd, bool tabwriter);

/* ---------------------------------------------------------- cpuprof.c -- */

struct rt__labelset; /* a goroutine's labels: immutable, interned */
/* The label set of the calling goroutine, for the samples of the other
 * profilers (immutable, never freed; NULL if none). */
const struct rt__labelset *rt__labels_current(void);
const struct rt__labelset *rt__labels_of_g(rt_g *gp);
/* newproc: gp (not yet runnable) starts with parent's labels, as Go's
 * goroutines inherit their creator's.  Cheap when no labels are set. */
void rt__labels_inherit(rt_g *gp, rt_g *parent);
void rt__labels_to_pprof(const struct rt__labelset *ls, rt__pprof_label *out, int *n,
                         int max);
/* CPUPROFILE: start at rt_main, written at exit. */
void rt__cpuprof_env_start(void);
/* The stack of gp, running on another thread, walked by that thread from
 * a signal (SIGPROF sent with tgkill; cpuprof.c): the count of PCs, the
 * leaf the exact interrupted PC, or 0 if gp is not running there any more
 * or its thread did not answer within 50 ms.  Not from a signal handler,
 * not inside a stack walk. */
int rt__walk_running_g(rt_g *gp, uintptr_t *pcs, int max);
/* A new M, on its own thread once its tid and signal stack are set: arms
 * its profiling timer if a CPU profile is running (one load if not). */
void rt__cpuprof_thread_start(rt_m *mp);

/* ---------------------------------------------------------- memprof.c -- */

/* The allocator's hooks.  rt__memprof_rate is MemProfileRate (0 off). */
extern _Atomic int64_t rt__memprof_rate;
/* Bytes the profilers' bucket tables hold (memstats buckhash_sys): the
 * heap, block and mutex profiles' buckets and the heap profile's tables. */
extern _Atomic uint64_t rt__buckhash_bytes;
/* A mark helper thread k (gc/mark.c), as it starts: its CPU is sampled in
 * CPU profiles too, under a "GC" root frame. */
void rt__cpuprof_helper_start(int k);
/* A fresh countdown of bytes until the next sample (exponential, mean
 * rate); INT64_MAX when off. */
int64_t rt__memprof_next_sample(void);
/* Records the sampled allocation p of size bytes (the size class's size)
 * made while the heap's cycle was cycle (rt__sweepgen / 2); skip frames
 * above the user's caller.  Outside any no-stop region. */
void rt__memprof_alloc(void *p, size_t size, uint32_t cycle, int skip);
/* The sweeper found p dead in a span with has_special (no-stop region,
 * world running).  Returns true if p was a sampled object. */
bool rt__memprof_free(void *p, size_t size);
int rt__memprof_write(int fd, int debug, bool allocs);
/* The heap dump's memprof records (heapdump.c; TRACE_FORMATS.md section
 * 11, tags 16 and 17).  foreach_sample calls fn for every sampled object
 * not yet found dead, with its bucket's identifier; it takes the
 * profiler's lock in a no-stop region, so it may run with the world
 * stopped, and fn must not call malloc.  foreach_bucket calls fn for every
 * bucket, with the published counts of the heap profile (section 6), and
 * stops at fn's first non-zero return, which it returns; world running. */
typedef struct rt__memprof_bucket {
    uintptr_t id;
    size_t size;
    const uintptr_t *pcs;
    int n;
    uint64_t allocs, frees;
} rt__memprof_bucket;
void rt__memprof_foreach_sample(void (*fn)(uintptr_t obj, uintptr_t bucket, void *ctx),
                                void *ctx);
int rt__memprof_foreach_bucket(int (*fn)(const rt__memprof_bucket *b, void *ctx), void *ctx);
/* MEMPROFILE: heap profile written at exit. */
void rt__memprof_env_start(void);

/* --------------------------------------------------------- blockprof.c -- */

void rt__blockprof_event(int64_t start_ns, int skip);
void rt__mutexprof_event(int64_t wait_ns, int skip);
int rt__blockprof_write(int fd, int debug, bool mutex);

/* ----------------------------------------------------- goroutineprof.c -- */

int rt__goroutineprof_write(int fd, int debug);
int rt__threadcreateprof_write(int fd, int debug);
/* newm (sched/proc.c) records the stack that created M id. */
void rt__threadcreate_event(int64_t id);
/* CPUPROFILE=path and MEMPROFILE=path (rt_main, after the symbol tables). */
void rt__pprof_env_start(void);

/* --------------------------------------------------------- debughttp.c -- */

/* Limits of one request (docs/debug-server.md). */
#define RT_DH_MAX_HEAD (8 * 1024)   /* request line + headers -> 431 */
#define RT_DH_MAX_BODY (64 * 1024)  /* POST body -> 413 */
#define RT_DH_MAX_HEADERS 64        /* header lines -> 431 */
#define RT_DH_READ_TIMEOUT_NS (10 * RT_SECOND) /* whole request -> 408 */

/*
 * What the request layer needs from a transport: the connection's bytes,
 * a way to send bytes back, and a clock for the CPU profile's seconds.
 * The socket transport (debugserve.c) and the fuzzer (tests/fuzz) each
 * implement it.
 */
typedef struct rt__dh_io {
    /* Up to n bytes of the request: > 0 bytes, 0 at end of stream,
     * -ETIMEDOUT once the request's deadline passed, another -errno. */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* Sends all n bytes; 0 or -errno (the client went away). */
    int (*write)(void *ctx, const void *buf, size_t n);
    /* Waits ns nanoseconds; false if the client went away meanwhile. */
    bool (*wait)(void *ctx, int64_t ns);
    void *ctx;
} rt__dh_io;

/* Serves one connection: reads one request (libhttp-parser, the limits
 * above), answers it or answers the 4xx that says why not, and returns;
 * the transport then closes the connection (every response says
 * "Connection: close").  Returns the status code sent (0: none, the
 * client left first).  On a goroutine (debugserve.c) or a thread outside
 * the runtime (the fuzzer); not on an M's g0 (it blocks). */
int rt__dh_serve_conn(const rt__dh_io *io);
/* sysmon, while every P runs a goroutine that has not scheduled for
 * STUCK_NS: if a connection waits on a debug server's socket, the rescue
 * thread serves it (debugserve.c).  rt__dh_rescuing: true on that thread;
 * rt__debug_rescues: connections it served. */
void rt__dh_rescue_check(void);
extern _Thread_local bool rt__dh_rescuing;
extern _Atomic uint64_t rt__debug_rescues;
/* A whole response for a request that never reached the request layer
 * (the transport's 503 when too many connections are open). */
void rt__dh_send_error(const rt__dh_io *io, int status, const char *text);

/* The settings /debug/grt/settings reads and writes. */
typedef struct rt__dh_settings {
    int gctrace, schedtrace, scheddetail;
    int memprofilerate, blockprofilerate, mutexprofilefraction;
    int gogc; /* -1: off */
} rt__dh_settings;
void rt__dh_settings_get(rt__dh_settings *s);
void rt__dh_settings_set(const rt__dh_settings *s);

/* Counts for the index page (Go's Profile.Count). */
size_t rt__memprof_count(void);
size_t rt__blockprof_count(bool mutex);
size_t rt__threadcreate_count(void);
int rt__block_profile_rate_get(void);

#endif /* RT_TRACE_H */
