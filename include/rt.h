/*
 * rt.h -- the one public header of grt, a green-thread runtime for C.
 *
 * Goroutines on an M:N scheduler, channels and select, sync primitives and
 * timers, with the Go runtime's tracers.  The contract of every name here is
 * written down in API.md (shared with the users of the library); where it is
 * silent, grt does what a Go programmer expects of the matching Go feature.
 *
 * Conventions
 *   - Public names start with rt_ / RT_.  Nothing else is exported.
 *   - Errors a caller can handle are negative errno values.  Programming
 *     errors (send on a closed channel, unlocking an unlocked mutex, all
 *     goroutines asleep, ...) print "fatal error: ..." and every goroutine's
 *     traceback to stderr and exit with status 2, as Go does.
 *   - Times are int64_t nanoseconds.
 *   - The zero value of every sync type is ready to use, except rt_cond,
 *     which is bound to its mutex by rt_cond_init.
 *   - Goroutine stacks never move: a pointer to a local stays valid for as
 *     long as its frame lives, also when handed to another goroutine.
 *   - errno travels with the goroutine: it is saved when a goroutine
 *     switches out and restored when it resumes, possibly on another
 *     thread.  rt_ functions leave it as they found it (they return
 *     errors as values); RT_BLOCKING(call) leaves call's.  Because compilers keep the address glibc's errno macro
 *     computes across calls, this header redefines errno as
 *     (*rt_errno_location()) (define RT_NO_ERRNO_OVERRIDE before including
 *     it to keep the libc macro).  Other thread-local variables have the
 *     same hazard and no such cure: do not keep a _Thread_local's address,
 *     or rely on its value, across a call that may block or yield; nor
 *     pthread_self()'s (glibc declares it const: the compiler may reuse
 *     a value read before the call).
 *   - Whatever belongs to the OS thread stays with the thread when a
 *     goroutine parks: pthread mutexes (an owner-checked one fails to
 *     unlock on another thread; a plain one held across a park can hang
 *     the program), recursive locks such as stdio's FILE lock (a second
 *     goroutine on the same thread walks in: never park inside a stdio or
 *     other library callback), the signal mask.  Do not hold a thread-owned
 *     lock across a call that may block or yield: use rt_mutex.
 *   - No rt_ function is async-signal-safe: a signal handler that
 *     interrupts a channel operation and starts another on the same
 *     channel deadlocks.  Receive signals on a channel with
 *     rt_signal_notify instead (Go's signal.Notify).
 *   - After fork(), the child has only the forking thread: as in any
 *     multithreaded program it may only call async-signal-safe functions
 *     until it execs (system(), popen() and posix_spawn are fine); the
 *     runtime is not usable there (rt_gc waits for threads that are gone).
 *   - rt_exit returns through no C frame: __attribute__((cleanup))
 *     handlers of the goroutine's frames do not run, nor C++ destructors
 *     (rt_once_do calls in progress are completed, as Go's deferred calls
 *     would).
 *   - C++: the exceptions being handled and those in flight belong to the
 *     goroutine, as errno does, so a goroutine may park inside a catch
 *     block or in a destructor run by unwinding (and rethrow after).  An
 *     exception must not leave a goroutine's function (std::terminate, as
 *     an unrecovered panic ends a Go program); one leaving rt_once_do's
 *     function reaches rt_once_do's caller, and the once is done.
 */
#ifndef RT_H
#define RT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RT_EXTERN __attribute__((visibility("default")))
#else
#define RT_EXTERN
#endif

#define RT_VERSION_MAJOR 0
#define RT_VERSION_MINOR 1

/* The calling thread's errno; see the note on errno above. */
RT_EXTERN int *rt_errno_location(void);
#ifndef RT_NO_ERRNO_OVERRIDE
#undef errno
#define errno (*rt_errno_location())
#endif

/* ---------------------------------------------------------------- time -- */

#define RT_NANOSECOND  ((int64_t)1)
#define RT_MICROSECOND ((int64_t)1000)
#define RT_MILLISECOND ((int64_t)1000000)
#define RT_SECOND      ((int64_t)1000000000)

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
RT_EXTERN int64_t rt_nanotime(void);

/* ------------------------------------------------ starting, goroutines -- */

/*
 * Starts the runtime (reads DEBUG, GOGC, MAXPROCS and their GO* aliases),
 * runs fn(argc, argv) as goroutine 1 and returns its result once it returns.
 * Other goroutines are not waited for, as in Go: once fn returns no new
 * goroutine is scheduled (rt_go still returns an id, as a go statement
 * still succeeds while a Go program exits).  Call it once per process.
 */
RT_EXTERN int rt_main(int (*fn)(int argc, char **argv), int argc, char **argv);

/* go fn(arg): returns the new goroutine's id (> 0) or a negative errno.
 * Threads the runtime did not create may call it too; so while such a
 * thread is alive, or once one has called it, "all goroutines are asleep"
 * is not reported (such a thread may always start more goroutines: the
 * program waits instead), as Go does with cgo callback threads.  Such a
 * thread has no goroutine to park: an operation that would block it (a
 * channel send or receive, select, a contended mutex, WaitGroup wait) is a
 * fatal error ("chan send: not on a goroutine"); the non-blocking forms,
 * rt_sleep and rt_yield work there.  A goroutine's stack is 256 KiB of
 * address space (only touched pages cost memory) and never grows: C
 * frames cannot move (Go's grow to 1 GB).  Deeper is "fatal error: stack
 * overflow"; keep large buffers in the heap (rt_alloc).  A single frame
 * larger than the 64 KiB guard below each stack (a big local array) is
 * caught only in code compiled with -fstack-clash-protection, which
 * grt.pc's Cflags and the grt::grt target add; without it such a frame
 * may write into another goroutine's stack. */
RT_EXTERN int64_t rt_go(void (*fn)(void *arg), void *arg);

/* runtime.Gosched: let other goroutines run.  Goroutines are not
 * preempted in plain C code (no safe points): one that computes without
 * blocking keeps its processor, so long loops should yield now and then.
 * (One that has run 10 ms while others wait is made to yield at its next
 * mutex or rwmutex unlock, channel operation -- rt_chan_len included, for
 * loops that poll it -- select, file or connection call, rt_go, or
 * allocation slow path; not in a loop that polls a C atomic or the
 * clock.) */
RT_EXTERN void rt_yield(void);

/* runtime.Goexit: end the calling goroutine.  Never returns. */
RT_EXTERN void rt_exit(void) __attribute__((noreturn));

/* The calling goroutine's id (goroutine 1 runs rt_main's function); 0 on
 * a thread that is not running a goroutine. */
RT_EXTERN int64_t rt_goid(void);

/* time.Sleep: parks the goroutine for at least ns; never blocks the thread.
 * ns <= 0 returns at once. */
RT_EXTERN void rt_sleep(int64_t ns);

/* runtime.GOMAXPROCS: n <= 0 queries; returns the previous value.  Values
 * above 256 are capped at 256.  Called before rt_main, it sets the count
 * rt_main starts with (overriding MAXPROCS, as a call at the top of a Go
 * main does) and returns the count an earlier such call set, else 0.  On
 * a thread that runs no goroutine (only goroutines can stop the world) it
 * only queries. */
RT_EXTERN int rt_maxprocs(int n);

/* runtime.NumGoroutine: goroutines that exist (not yet exited). */
RT_EXTERN int rt_num_goroutine(void);

/*
 * entersyscall / exitsyscall: bracket a blocking call made outside the
 * runtime (read(2) on a pipe, a blocking library call) so that the
 * processor is handed to another thread while it blocks.  Between the two
 * the goroutine must not call into the runtime.
 */
RT_EXTERN void rt_syscall_enter(void);
RT_EXTERN void rt_syscall_exit(void);

/* Wraps one non-void expression in rt_syscall_enter/rt_syscall_exit and
 * yields its value; errno set by the expression is preserved. */
#define RT_BLOCKING(expr)                                                     \
    __extension__({                                                           \
        rt_syscall_enter();                                                   \
        __typeof__(expr) rt_blocking_result_ = (expr);                        \
        int rt_blocking_errno_ = errno;                                       \
        rt_syscall_exit();                                                    \
        errno = rt_blocking_errno_;                                           \
        rt_blocking_result_;                                                  \
    })

/* ------------------------------------------------- channels and select -- */

typedef struct rt_chan rt_chan;

/* make(chan T, cap) with sizeof(T) == elem_size (0 for chan struct{}).
 * Never freed by hand. */
RT_EXTERN rt_chan *rt_chan_make(size_t elem_size, size_t cap);
/* c <- *elem (elem NULL: the zero value).  A nil channel blocks forever; a
 * closed one is fatal. */
RT_EXTERN void rt_chan_send(rt_chan *c, const void *elem);
/* v, ok := <-c.  elem may be NULL to discard the value.  Returns ok. */
RT_EXTERN bool rt_chan_recv(rt_chan *c, void *elem);
/* close(c).  Closing a closed or nil channel is fatal. */
RT_EXTERN void rt_chan_close(rt_chan *c);
/* select { case c <- v: ...; default: }  -- true if sent. */
RT_EXTERN bool rt_chan_try_send(rt_chan *c, const void *elem);
/* select { case v, ok := <-c: ...; default: } -- 1 a value was received,
 * 0 closed and drained, -EAGAIN nothing ready. */
RT_EXTERN int rt_chan_try_recv(rt_chan *c, void *elem);
RT_EXTERN size_t rt_chan_len(rt_chan *c);
RT_EXTERN size_t rt_chan_cap(rt_chan *c);

enum { RT_SELECT_SEND = 1, RT_SELECT_RECV = 2 };

typedef struct rt_select_case {
    rt_chan *chan;  /* NULL: the case is never ready (nil channel) */
    void *elem;     /* value to send (NULL: the zero value) / where to
                     * receive (NULL: discarded) */
    int dir;        /* RT_SELECT_SEND or RT_SELECT_RECV */
    bool ok;        /* set by rt_select for the chosen receive case */
} rt_select_case;

#ifdef __cplusplus /* no compound literals in C++: an aggregate, each member given */
#define RT_SEND(ch, ptr) (rt_select_case{(ch), (void *)(ptr), RT_SELECT_SEND, false})
#define RT_RECV(ch, ptr) (rt_select_case{(ch), (ptr), RT_SELECT_RECV, false})
#else
#define RT_SEND(ch, ptr)                                                      \
    ((rt_select_case){.chan = (ch), .elem = (void *)(ptr), .dir = RT_SELECT_SEND})
#define RT_RECV(ch, ptr)                                                      \
    ((rt_select_case){.chan = (ch), .elem = (ptr), .dir = RT_SELECT_RECV})
#endif

/* select over n cases: returns the index chosen, uniformly at random among
 * the ready ones, or -1 when block is false and none is ready.  n == 0 with
 * block blocks forever (select {}). */
RT_EXTERN int rt_select(rt_select_case *cases, int n, bool block);

/* -------------------------------------------------------------- timers -- */

typedef struct rt_timer rt_timer;
typedef struct rt_ticker rt_ticker;

/* Timers and tickers are collected objects, as channels are: the runtime
 * keeps an active one (a timer until it fires or is stopped, a ticker
 * until stopped); otherwise keep your reference where the collector looks
 * (memory from rt_alloc, a goroutine's stack, a global).  Their channels
 * carry the fire time as an int64_t on rt_nanotime's clock (monotonic,
 * not wall-clock time as Go's time.Time). */

/* time.After: a channel (cap 1) that receives the int64_t fire time. */
RT_EXTERN rt_chan *rt_after(int64_t ns);
/* time.NewTimer and its methods.  stop/reset return whether the timer was
 * active, as in Go. */
RT_EXTERN rt_timer *rt_timer_new(int64_t ns);
RT_EXTERN rt_chan *rt_timer_chan(rt_timer *t);
RT_EXTERN bool rt_timer_stop(rt_timer *t);
RT_EXTERN bool rt_timer_reset(rt_timer *t, int64_t ns);
/* time.NewTicker: ticks every period (> 0); slow receivers lose ticks. */
RT_EXTERN rt_ticker *rt_ticker_new(int64_t period);
RT_EXTERN rt_chan *rt_ticker_chan(rt_ticker *t);
RT_EXTERN void rt_ticker_stop(rt_ticker *t);

/* ------------------------------------------------------------- signals -- */
/*
 * Go's os/signal.Notify: each arrival of signal sig is sent, as an int (the
 * signal's number), to channel c -- never blocking: a channel with no room
 * misses it, so give it a buffer (several arrivals before the value is
 * sent may make one value, as in Go).  While any channel watches it, the
 * signal no longer has its default action or the program's own handler
 * (SIGINT no longer ends the program).  One channel may watch several
 * signals, one signal several channels.  Returns 0, or -EINVAL for a
 * signal the runtime needs (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
 * SIGURG, SIGPROF), SIGKILL, SIGSTOP, one the C library keeps for itself
 * (glibc's 32 and 33: sigaction refuses them), a number outside 1..64, a
 * NULL channel or one whose element is not an int.  A watched channel must not
 * be closed (the send is fatal, as in Go).  While a channel watches, a
 * program whose goroutines all wait is not reported as deadlocked (a
 * signal may yet come), as in Go.
 */
RT_EXTERN int rt_signal_notify(rt_chan *c, int sig);
/* signal.Stop: no value reaches c once this returns; a signal no channel
 * watches any more gets back the action it had before. */
RT_EXTERN void rt_signal_stop(rt_chan *c);

/* ---------------------------------------------------------------- sync -- */
/* Field names ending in _ are private to the runtime. */

/* sync.Mutex, with Go's normal and starvation modes. */
typedef struct rt_mutex {
    int32_t state_;
    uint32_t sema_;
} rt_mutex;
RT_EXTERN void rt_mutex_lock(rt_mutex *m);
RT_EXTERN void rt_mutex_unlock(rt_mutex *m);
RT_EXTERN bool rt_mutex_trylock(rt_mutex *m);

/* sync.RWMutex: a blocked writer keeps new readers out. */
typedef struct rt_rwmutex {
    rt_mutex w_;
    uint32_t writer_sem_;
    uint32_t reader_sem_;
    int32_t reader_count_;
    int32_t reader_wait_;
} rt_rwmutex;
RT_EXTERN void rt_rwmutex_rlock(rt_rwmutex *rw);
RT_EXTERN void rt_rwmutex_runlock(rt_rwmutex *rw);
RT_EXTERN void rt_rwmutex_lock(rt_rwmutex *rw);
RT_EXTERN void rt_rwmutex_unlock(rt_rwmutex *rw);

/* sync.WaitGroup. */
typedef struct rt_waitgroup {
    uint64_t state_; /* high 32 bits: counter, low 32 bits: waiters */
    uint32_t sema_;
} rt_waitgroup;
RT_EXTERN void rt_waitgroup_add(rt_waitgroup *wg, int delta);
RT_EXTERN void rt_waitgroup_done(rt_waitgroup *wg);
RT_EXTERN void rt_waitgroup_wait(rt_waitgroup *wg);

/* sync.Cond, bound to its mutex by rt_cond_init. */
typedef struct rt_cond {
    rt_mutex *l_;
    uint32_t wait_;   /* ticket of the next waiter */
    uint32_t notify_; /* ticket of the next waiter to be woken */
    void *head_, *tail_; /* parked waiters (under a runtime lock) */
} rt_cond;
RT_EXTERN void rt_cond_init(rt_cond *c, rt_mutex *l);
RT_EXTERN void rt_cond_wait(rt_cond *c);
RT_EXTERN void rt_cond_signal(rt_cond *c);
RT_EXTERN void rt_cond_broadcast(rt_cond *c);

/* sync.Once.  Callers wait until fn has returned; if fn ends its goroutine
 * with rt_exit, or throws a C++ exception (which reaches this call's
 * caller), the once counts as done (Go's Goexit or panic inside Do). */
typedef struct rt_once {
    uint32_t done_;
    rt_mutex m_;
} rt_once;
RT_EXTERN void rt_once_do(rt_once *o, void (*fn)(void));

/* sync.Pool: per-processor caches of reusable objects.  Its contents may be
 * dropped at any time (the collector empties it).  new_fn, if set, makes an
 * object when the pool is empty; otherwise rt_pool_get returns NULL.  A
 * pool joins a registry of all pools on first use, so once used it must
 * stay valid until the program exits (give it static storage, as Go
 * programs do with package-level pools). */
typedef struct rt_pool {
    void *(*new_fn)(void);
    void *local_;          /* per-P caches, made on first use */
    struct rt_pool *next_; /* registry of all pools, for clearing */
} rt_pool;
RT_EXTERN void *rt_pool_get(rt_pool *p);
RT_EXTERN void rt_pool_put(rt_pool *p, void *x);

/* -------------------------------------------------------------- memory -- */

/* The garbage-collected heap.  Objects are zeroed, never freed by hand, and
 * reclaimed by a mark-sweep collector once unreachable.  Reachable means: a
 * word that points into the object (its first byte up to its last; one
 * past the end does not count) is found on a goroutine stack, in a
 * thread's registers, in the data and bss segments of the program and its
 * shared libraries, in a range given to rt_gc_add_root, or in a reachable
 * scanned object.  Memory from malloc is NOT scanned: a pointer kept only
 * there does not keep an object alive unless the range is registered.
 * Nor are thread-local variables (__thread, _Thread_local): a goroutine
 * may run on any thread, and the collector does not read them -- keep GC
 * pointers in globals, on a stack or in registered memory.
 * Objects never move.  An object is aligned for any type of its size: to
 * 16 bytes when n is a multiple of 16, to 8 otherwise (as Go's heap; a
 * 24-byte object is not padded to 32 for an alignment no 24-byte type
 * has). */
RT_EXTERN void *rt_alloc(size_t n);          /* scanned for pointers */
RT_EXTERN void *rt_alloc_noscan(size_t n);   /* never scanned */
/* Typed forms: the same object as rt_alloc, with the type's name recorded
 * for allocfreetrace and heap dumps.  rt_new_array checks n * sizeof(T)
 * for overflow (fatal error). */
RT_EXTERN void *rt_new_(size_t size, const char *type);
RT_EXTERN void *rt_new_array_(size_t size, size_t n, const char *type);
#define rt_new(T) ((T *)rt_new_(sizeof(T), #T))
#define rt_new_array(T, n) ((T *)rt_new_array_(sizeof(T), (size_t)(n), #T))

/* runtime.GC, debug.SetGCPercent and debug.FreeOSMemory as modern Go has
 * them: rt_gc and rt_free_os_memory collect even with GOGC=off (and print
 * their gctrace lines), and rt_set_gc_percent only changes the setting --
 * where Go 1.3, whose trace formats grt prints, returned at once from
 * runtime.GC under GOGC=off and ran one in SetGCPercent. */
RT_EXTERN void rt_gc(void);                  /* a full cycle, swept */
RT_EXTERN int rt_set_gc_percent(int pct);    /* -1: off; returns the old */
RT_EXTERN void rt_free_os_memory(void);      /* collect, return free pages */
/* fn(obj) runs on the finalizer goroutine once obj is unreachable (then obj
 * is reachable again until fn returns; it is freed by a later cycle unless
 * fn stored it).  fn NULL clears.  obj must be the start of an object. */
RT_EXTERN void rt_set_finalizer(void *obj, void (*fn)(void *obj));
RT_EXTERN void rt_gc_add_root(void *p, size_t n);
RT_EXTERN void rt_gc_remove_root(void *p);

#define RT_MEMSTATS_NSIZE 61 /* Go's len(MemStats.BySize) */

/* Go's runtime.MemStats, field for field, in snake_case. */
typedef struct rt_memstats {
    /* general */
    uint64_t alloc;          /* bytes of allocated heap objects */
    uint64_t total_alloc;    /* cumulative bytes allocated */
    uint64_t sys;            /* bytes obtained from the OS (all *_sys) */
    uint64_t lookups;        /* pointer lookups (always 0, as in Go) */
    uint64_t mallocs;        /* cumulative objects allocated */
    uint64_t frees;          /* cumulative objects freed */
    /* heap */
    uint64_t heap_alloc;     /* = alloc */
    uint64_t heap_sys;       /* heap address space backed or released */
    uint64_t heap_idle;      /* bytes in free spans */
    uint64_t heap_inuse;     /* bytes in in-use spans */
    uint64_t heap_released;  /* idle bytes given back to the OS */
    uint64_t heap_objects;   /* allocated objects */
    /* off-heap */
    uint64_t stack_inuse;    /* bytes of goroutine stacks in use: the pages
                              * live goroutines' stacks touched (measured;
                              * past 2,048 goroutines, on a sample of them) */
    uint64_t stack_sys;      /* stack_inuse + pooled stacks' pages */
    uint64_t mspan_inuse;    /* span records */
    uint64_t mspan_sys;
    uint64_t mcache_inuse;   /* per-P caches */
    uint64_t mcache_sys;
    uint64_t buckhash_sys;   /* profiling bucket tables */
    uint64_t gc_sys;         /* collector metadata (bitmaps, mark queues) */
    uint64_t other_sys;
    /* collector */
    uint64_t next_gc;        /* heap_alloc at which the next cycle starts */
    uint64_t last_gc;        /* end of the last cycle, ns since 1970 */
    uint64_t pause_total_ns; /* stop-the-world time, all cycles */
    uint64_t pause_ns[256];  /* cycle n writes [(n - 1) % 256] */
    uint32_t num_gc;
    bool enable_gc;          /* false with GOGC=off / percent -1 */
    bool debug_gc;           /* DEBUG=gcevery=N is set (collect every N allocations) */
    struct {
        uint32_t size;
        uint64_t mallocs;
        uint64_t frees;
    } by_size[RT_MEMSTATS_NSIZE];
} rt_memstats;
RT_EXTERN void rt_read_memstats(rt_memstats *ms);
/* debug.WriteHeapDump: stops the world and writes every allocated object,
 * goroutine stack, the data and bss segments and memstats to fd in the
 * "go1.3 heap dump" format, which dumptodot, dumptohprof and hview
 * (github.com/randall77/hprof) read.  Returns 0 or a negative errno
 * (-EAGAIN from a thread outside the scheduler while rt_main is not
 * running goroutines). */
RT_EXTERN int rt_write_heap_dump(int fd);

/* ----------------------------------------------------- network, files -- */
/*
 * Go's net package in small, on a poller built on libuv.  A goroutine that
 * waits for the network, a name or a file parks (its traceback says "IO
 * wait"); its thread runs other goroutines meanwhile.  Every call first
 * tries the non-blocking system call and parks only if it would block.
 * Functions return 0 (or a count) on success and a negative errno on
 * failure.  The calls that may wait must be made on a goroutine (-EPERM
 * elsewhere); rt_file_pread/pwrite then just block the calling thread.
 *
 * rt_conn and rt_listener are garbage-collected objects: never freed by
 * hand.  Close them when done (their fd is closed then, or by the
 * collector's finalizer if the program drops one unclosed, as Go does);
 * after a close, every call on the object returns -ECANCELED.  One
 * goroutine may read while another writes; concurrent readers (or
 * writers) of one conn take turns.
 */
typedef struct rt_conn rt_conn;
typedef struct rt_listener rt_listener;

/* net.Listen.  network: "tcp", "tcp4", "tcp6" or "unix".  TCP addresses
 * are "host:port", "[v6]:port" or ":port" (all interfaces: dual-stack for
 * "tcp", as are "0.0.0.0:port", "[::]:port" and "", which is ":0"); port
 * 0 picks a free one (rt_listener_addr tells which), and a service name
 * stands for its port ("127.0.0.1:http" is port 80, as in Go); a host
 * name is resolved without blocking a thread.  A unix address is a path
 * ("@name": Linux's abstract namespace; "": a name the kernel picks
 * there, as Go's), removed again by rt_listener_close. */
RT_EXTERN int rt_net_listen(const char *network, const char *address, rt_listener **out);
/* Listener.Accept: waits for a connection. */
RT_EXTERN int rt_net_accept(rt_listener *l, rt_conn **out);
/* net.Dial: "host:port" (names are resolved on a worker thread while the
 * goroutine parks, and each address is tried in turn; the first one's
 * error is returned if none answers: -ECONNREFUSED, -ENOENT for a name
 * that does not resolve) or a unix path. */
RT_EXTERN int rt_net_dial(const char *network, const char *address, rt_conn **out);
/* Conn.Read: up to n bytes; the count read, 0 at the end of the stream (or
 * for n == 0), or a negative errno. */
RT_EXTERN ssize_t rt_conn_read(rt_conn *c, void *buf, size_t n);
/* Conn.Write: all n bytes (parking while the socket buffer is full), or a
 * negative errno (-EPIPE once the peer is gone; no SIGPIPE). */
RT_EXTERN ssize_t rt_conn_write(rt_conn *c, const void *buf, size_t n);
/* Conn.SetDeadline: an absolute rt_nanotime() value for every read and
 * write, pending and future; once it passes they return -ETIMEDOUT (at
 * once if it has passed already).  0 clears it. */
RT_EXTERN int rt_conn_set_deadline(rt_conn *c, int64_t deadline_ns);
/* Close: goroutines blocked on the object wake and their calls return
 * -ECANCELED, as does a second close. */
RT_EXTERN int rt_conn_close(rt_conn *c);
/* TCPConn.CloseWrite / CloseRead (also for unix sockets): shut down one
 * direction, the other stays open -- after CloseWrite the peer reads the
 * end of the stream and can still answer.  -ECANCELED once closed. */
RT_EXTERN int rt_conn_close_write(rt_conn *c);
RT_EXTERN int rt_conn_close_read(rt_conn *c);
RT_EXTERN int rt_listener_close(rt_listener *l);
/* Listener.Addr().String() into buf: "127.0.0.1:8080", "[::1]:8080", a
 * unix path.  Returns its length, or -ENOSPC if it does not fit in n
 * bytes with its NUL. */
RT_EXTERN int rt_listener_addr(rt_listener *l, char *buf, size_t n);
/* pread(2) and pwrite(2) on a worker thread while the goroutine parks, so
 * a slow disk never holds up the goroutine's thread: bytes transferred or
 * a negative errno.  A call on a regular file that the page cache serves
 * at once (RWF_NOWAIT) is made directly, without the round trip; where the
 * file system takes no RWF_NOWAIT writes, a write to a regular file is
 * made on the goroutine's thread as a blocking system call, as Go's
 * File.Write.  off == -1 uses the file position instead (read(2),
 * write(2)), as libuv's uv_fs_read does; on a pipe, socket or terminal,
 * whose call may wait for ever, that call is made on the goroutine's own
 * thread as a blocking system call (rt_syscall_enter: its processor goes
 * on running other goroutines), so any number of them may wait -- a
 * descriptor the program made non-blocking waits there too, as Go's
 * os.File does, rather than return -EAGAIN. */
RT_EXTERN ssize_t rt_file_pread(int fd, void *buf, size_t n, int64_t off);
RT_EXTERN ssize_t rt_file_pwrite(int fd, const void *buf, size_t n, int64_t off);

/* ------------------------------------------------------------ profiles -- */
/*
 * runtime/pprof.  Profiles are written in the gzipped profile.proto that
 * `go tool pprof` reads (debug 0), with function names, files and lines
 * embedded, so pprof needs neither the binary nor its DWARF; debug 1 (and
 * 2) give Go's text forms.  Functions return 0 or a negative errno.
 * CPUPROFILE=path in the environment profiles the CPU from rt_main to
 * exit; MEMPROFILE=path writes the heap profile at exit.
 */

/* pprof.StartCPUProfile: SIGPROF at 100 Hz of CPU time on every runtime
 * thread; the profile is written to fd by rt_pprof_stop_cpu.  -EBUSY if
 * a profile is already running, -EBADF if fd is not open for writing.
 * The program must not use SIGPROF. */
RT_EXTERN int rt_pprof_start_cpu(int fd);
RT_EXTERN void rt_pprof_stop_cpu(void);
/* pprof.Lookup(name).WriteTo(fd, debug) for "heap", "allocs", "block",
 * "mutex", "goroutine" and "threadcreate"; -EINVAL for another name,
 * -EBADF for a negative fd, else 0 or the write's -errno. */
RT_EXTERN int rt_pprof_write(const char *name, int fd, int debug);
/* runtime.MemProfileRate: on average one sample per `bytes` allocated
 * (default 512 KiB; 1 records every allocation, 0 none). */
RT_EXTERN void rt_set_memprofile_rate(int bytes);
/* runtime.SetBlockProfileRate: on average one blocking event per `ns`
 * nanoseconds blocked is recorded (1: all; <= 0: off, the default). */
RT_EXTERN void rt_set_block_profile_rate(int ns);
/* runtime.SetMutexProfileFraction: 1/n of mutex contention events are
 * recorded (0 off, the default); n < 0 only reads.  Returns the previous
 * value. */
RT_EXTERN int rt_set_mutex_profile_fraction(int n);
/* pprof labels (pprof.Do / SetGoroutineLabels), one key at a time: sets
 * key=value on the calling goroutine (value NULL removes key).  The CPU
 * profile's samples and the goroutine profile carry them (`pprof -tags`,
 * `-tagfocus`).  Goroutines started afterwards inherit them, as in Go.
 * -EINVAL outside a goroutine or for an empty key. */
RT_EXTERN int rt_set_label(const char *key, const char *value);

/* import _ "net/http/pprof" + http.ListenAndServe(addr): serves Go's
 * /debug/pprof/ endpoints (index, cmdline, profile?seconds=N, heap, allocs,
 * block, mutex, goroutine?debug=N, threadcreate, symbol) from background
 * goroutines on the netpoller, as net/http does (a listener, one goroutine
 * per connection; they show in the goroutine profile, and while the
 * listener waits no deadlock is reported), so that
 * `go tool pprof http://ADDR/debug/pprof/heap` works;
 * also /debug/vars (expvar's memstats JSON) and /debug/grt/settings (read
 * and set gctrace, schedtrace, scheddetail, the profile rates and GOGC).
 * addr is "host:port" ("127.0.0.1:6060", ":0" or "" for any port; a
 * service name for the port, as rt_net_listen's); it listens there only.  Requests are bounded (docs/debug-server.md): a malformed,
 * oversized or slow one gets a 4xx and a closed connection.  Returns the
 * port it listens on, or a negative errno (-EINVAL for a malformed
 * address, -ENOENT for a name that does not resolve, -EADDRINUSE).  At
 * most 256 connections are served at once; more get a 503.  While every P
 * runs a goroutine that never calls into the runtime (C code is not
 * preempted), a thread of the server's own answers, one request at a time
 * (heap?gc=1 then does not collect).  Any thread may call it, also
 * before rt_main: the listener then starts when rt_main does. */
RT_EXTERN int rt_debug_serve(const char *addr);

/* testing.B: the benchmark runner.  A benchmark program lists its
 * benchmarks and hands its arguments to rt_bench_main, which starts the
 * runtime, runs each selected benchmark on goroutine 1 with growing n until
 * one run lasts -benchtime, and prints Go's result lines (benchstat reads
 * them):
 *
 *   static void bench_send(rt_b *b) {
 *       for (int64_t i = 0; i < b->n; i++) ...;
 *   }
 *   static const rt_benchmark benchmarks[] = {{"Send", bench_send}, {0}};
 *   int main(int argc, char **argv) {
 *       return rt_bench_main(benchmarks, argc, argv);
 *   }
 *
 * Flags as go test's: -bench REGEX (default: all), -benchtime 1s|Nx,
 * -count N, -benchmem, -cpuprofile F, -memprofile F, -memprofilerate N,
 * -blockprofile F, -blockprofilerate N, -mutexprofile F,
 * -mutexprofilefraction N.  Each run of a benchmark function runs on a
 * goroutine of its own, as in Go, so that rt_b_fatalf can end it.  Returns
 * the exit status: 0 after "PASS", 1 after "FAIL" (a benchmark failed:
 * rt_b_errorf, rt_b_fatalf), 2 on bad flags. */
typedef struct rt_b {
    int64_t n; /* b.N: run the measured code n times */
    int64_t start_, duration_, bytes_;
    uint64_t start_allocs_, start_bytes_, net_allocs_, net_bytes_;
    bool timer_on_, report_allocs_;
    bool failed_;  /* set by rt_b_errorf / rt_b_fatalf, under the runner's lock */
    int64_t goid_; /* the goroutine running this run of the function */
    void *log_;    /* the failure messages (the runner's buffer) */
    void *done_;   /* signalled when this run ends, by return or rt_b_fatalf */
    int nmetrics_; /* rt_b_report_metric's, cleared by rt_b_reset_timer */
    struct {
        char unit[32];
        double value;
    } metrics_[8];
} rt_b;
typedef struct rt_benchmark {
    const char *name; /* "Send" is reported as BenchmarkSend; NULL ends */
    void (*fn)(rt_b *b);
} rt_benchmark;
RT_EXTERN int rt_bench_main(const rt_benchmark *benchmarks, int argc, char **argv);
RT_EXTERN void rt_b_reset_timer(rt_b *b);
RT_EXTERN void rt_b_start_timer(rt_b *b);
RT_EXTERN void rt_b_stop_timer(rt_b *b);
/* b.SetBytes: bytes processed per iteration (MB/s in the result). */
RT_EXTERN void rt_b_set_bytes(rt_b *b, int64_t n);
/* b.ReportAllocs: B/op and allocs/op for this benchmark. */
RT_EXTERN void rt_b_report_allocs(rt_b *b);
/* b.ReportMetric: adds "value unit" to the result line (after ns/op and
 * MB/s, sorted by unit, as Go prints them); per-op figures should be
 * divided by b->n and their unit end in "/op".  "ns/op" replaces the
 * measured figure.  Reporting a unit again replaces its value; up to 8
 * units of at most 31 bytes, no blanks (others are ignored, with a message
 * on stderr).  Cleared by rt_b_reset_timer, so report at the end of the
 * function. */
RT_EXTERN void rt_b_report_metric(rt_b *b, double value, const char *unit);
/* b.Errorf: marks the benchmark failed and records the message; the run
 * goes on.  Any goroutine may call it.  A failed benchmark prints
 * "--- FAIL: BenchmarkName-P" and its messages instead of a result line,
 * is not run again, and makes rt_bench_main print "FAIL" and return 1. */
RT_EXTERN void rt_b_errorf(rt_b *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* b.Fatalf: rt_b_errorf, then ends the run (runtime.Goexit on the
 * benchmark function's goroutine; the timer stops there).  Called from
 * another goroutine, which Go forbids, it cannot end the run: it prints
 * the failure and "FAIL" and exits the process with status 1 instead. */
RT_EXTERN void rt_b_fatalf(rt_b *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* b.Failed. */
RT_EXTERN bool rt_b_failed(rt_b *b);


#ifdef __cplusplus
}
#endif

#endif /* RT_H */
