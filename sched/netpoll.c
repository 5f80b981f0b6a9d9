/*
 * sched/netpoll.c -- the network poller: an epoll set for sockets, and
 * libuv for names, files and wake-ups.
 *
 * What
 *   Goroutines that wait for a socket to become readable or writable, for a
 *   name to resolve or for a file read or write, park (wait reason "IO
 *   wait") instead of blocking their thread.  Sockets (and pipes) are in an
 *   edge-triggered epoll set of our own, `sockep`, as Go's netpoll_epoll.go
 *   has them: registered once, both directions, at their first wait, and
 *   never changed.  libuv does the rest: one uv_loop_t for the process,
 *   uv_getaddrinfo for names, its thread pool (uv_queue_work) for regular
 *   files, uv_async_send to wake a blocked poller; its own epoll set is a
 *   member of sockep (level-triggered), so one wait watches both.  net.c
 *   builds the public API (rt_net_*, rt_conn_*, rt_file_*) on the few calls
 *   declared in sched.h under "netpoll.c".
 *
 * The fast path is Go's: the operation first tries the non-blocking system
 * call, and only on EAGAIN does the goroutine park on the socket's poll
 * descriptor (rt__pollfd, Go's pollDesc).  A descriptor's rg and wg words
 * say, for reading and writing, who waits: 0 nobody, PD_READY an event came
 * that nobody consumed yet, PD_WAIT a goroutine is parking, or the parked
 * rt_g.  The parker CASes 0 -> PD_WAIT, parks, and its unlock function
 * (run after the switch, see proc.c) CASes PD_WAIT -> g; whoever reports
 * an event or an error swaps the word and readies the G it finds.  Every
 * order of the two is covered: an event before the commit leaves PD_READY,
 * the commit fails and the goroutine retries the call without sleeping.
 *
 * Who owns the loop
 *   libuv loops are not thread-safe (only uv_async_send is).  The loop
 *   belongs to whichever thread holds `loop_owner`, a flag that is
 *   *tried* (CAS 0 -> 1), and waited for only by findrunnable's and
 *   sysmon's non-blocking poll, which holds no lock, for 10 us at most
 *   (rt__netpoll_poll): a thread that fails simply does not poll, or hands
 *   its request over (below).  Whoever holds
 *   it also polls sockep (np_wait), so socket events and closes are
 *   serialised.  Four kinds of thread take it:
 *     - the idle M that sleeps for the scheduler (the "timer sleeper" of
 *       proc.c's stopm) blocks inside the loop, holding no P, when
 *       goroutines wait for I/O or timers are pending: epoll_pwait2 on
 *       sockep, with a nanosecond timeout up to the next timer, then
 *       uv_run(UV_RUN_NOWAIT) if libuv's set was among the events.  This
 *       M replaces the note sleep of the timer sleeper: one sleeping
 *       thread watches both;
 *     - an M in findrunnable that found nothing to run polls without
 *       blocking (Go's netpoll(0)), if nobody is blocked in the loop --
 *       waiting up to 10 us for another thread's poll to let go of it
 *       (rt__netpoll_poll says why);
 *     - a P whose own queue ran dry, when nobody polled for 100 us
 *       (rt__netpoll_poll_busy: with every P busy no M is idle to poll);
 *     - sysmon, when nobody polled for 10 ms (a P busy with goroutines
 *       that never run out would otherwise starve the network).
 *   Goroutines made ready by a poll come back as a list and go to the run
 *   queues like any other (rt__injectglist): the caller's P if it has one,
 *   else the global queue, and idle Ps are woken.
 *
 * How other threads reach the loop
 *   A goroutine that needs the loop (close a socket, start a resolution
 *   or a pool job) pushes a request on `reqs` (a short
 *   rt__lock) and then tries the owner flag: if it gets it, it runs the
 *   queue itself; if not, the owner will: a thread blocked in the loop is
 *   woken with uv_async_send (its callback drains the queue), and a
 *   transient owner drains the queue again after it lets go of the flag
 *   (the push, the failed CAS, the release and its re-check form a Dekker
 *   pair, so a request is never stranded).  The scheduler wakes the
 *   blocked M the same way when it needs it back (a P to hand over, an
 *   earlier timer): rt__netpoll_break, after the note wake-up, from
 *   proc.c's wake_m.
 *
 * Edge-triggered sockets
 *   A socket's first wait adds it to sockep with EPOLLIN | EPOLLOUT |
 *   EPOLLRDHUP | EPOLLET (pd_register, from the parker's own thread:
 *   epoll_ctl is thread-safe); the addition reports the socket's present
 *   state, so readiness that came before is not lost.  An edge with nobody
 *   parked leaves PD_READY, and every operation tries its system call
 *   until EAGAIN before it waits, so no edge is ever needed twice -- with
 *   one exception, net.c's read after a short read, which waits for the
 *   next edge first: an end of stream that came in the same edge as the
 *   last data has none after it, so the descriptor remembers it (hup) and
 *   that read does not wait.  The close takes the fd out of the set
 *   (EPOLL_CTL_DEL, as Go's netpollclose: a copy of the fd in a child
 *   would keep the registration alive for the descriptor's next life) and
 *   closes it, on the loop, so that no event of a batch being dispatched
 *   is for a descriptor already reused.  System calls a connection costs
 *   the poller: one epoll_ctl to add, one to delete (Go's two).
 *
 * The GC and stopping the world
 *   The M blocked in the loop holds no P, like an idle M: a stop of the
 *   world neither waits for it nor signals it.  If it wakes during a stop
 *   it only moves goroutines to the global queue (they run when the world
 *   restarts) and finds no P to take.  Nothing in the loop's callbacks
 *   allocates from the GC heap or parks.  A non-blocking poll from
 *   findrunnable holds a P and may be stopped by the signal inside libuv
 *   like any C code: it owns the loop meanwhile, others fail their CAS and
 *   queue their requests, which it drains when it lets go.  The one call
 *   made from any thread, uv_async_send, is not: the loop's thread spins
 *   until a sender finishes it, so it runs in a no-stop region
 *   (rt__netpoll_break).
 *
 * Objects and lifetimes
 *   rt_conn and rt_listener (net.c) are GC-heap objects holding a pointer
 *   to their rt__pollfd, which is malloc'd from a pool and never freed,
 *   only reused (Go's pollCache): deadline timers may still point at it
 *   after a close, and a sequence number tells stale firings apart.  A
 *   conn stays alive while a goroutine uses it: the goroutine's stack
 *   holds the pointer, and parked goroutines' stacks are GC roots.  The
 *   poll registration points at the descriptor only, never at the conn, so
 *   a conn the program dropped without closing is collected and its
 *   finalizer closes it.  A descriptor goes back to the pool when the loop
 *   has closed its fd.
 *
 * Deadlock detection
 *   Goroutines parked here are counted in rt__sched.external_waiters (from
 *   the commit of the park until they are on a run queue: a G neither
 *   counted nor queued would let an idle M report a deadlock while the
 *   poller hands it over); proc.c's checkdead does not
 *   report a deadlock while any exist: the network can still wake them.
 *   libuv's pool threads are not the program's, so checkdead discounts
 *   them (rt__netpoll_threads) when it counts the process's threads.
 *
 * Where an echo round trip goes (workload 14, measured with perf)
 *   With one P and 64 connections the server spends about 6 us of CPU per
 *   round trip on a quiet host, 93-95 % of it in the kernel: the send
 *   (70-78 %, which includes the loopback delivery into the client's
 *   socket and waking the client), the read (about 16 %) and epoll (about
 *   3 %).  The runtime's own code -- switches, park and ready, the poll
 *   descriptor, the conn's reference and mutex -- is under 5 %.  System
 *   calls per round trip (perf stat): 1 read, 1 send, 0.03-0.1 epoll_wait,
 *   0.001 epoll_ctl, no futex and no eventfd write; Go's server makes 2
 *   reads (one fails with EAGAIN), 1 write, 0.04 epoll_pwait, 0.01 futex.
 *   The one M does everything: it runs the goroutines a poll readied
 *   (every one at once, in epoll's order: on its own P's ring after
 *   findrunnable's poll, through the global queue -- one lock round trip
 *   per batch -- after stopm's), and when it runs out, findrunnable polls
 *   without blocking and then stopm blocks in the loop as the sleeper: the
 *   same thread, so there is no hand-off between threads (0.01 context
 *   switches per round trip, Go's 0.09) and wakep finds no idle P to wake.
 *   Each ready connection is served once per poll round (net.c's
 *   short-read rule parks it until the next poll), so none waits behind
 *   one whose peer answers fast, and the tail is a poll round.
 *   (Those figures are from libuv's level-triggered uv_poll, before the
 *   socket set: each socket epoll reported was polled again by the next
 *   epoll_wait, about 4 % of the server's CPU with 1000 connections, and
 *   at P=2 a readied reader's socket was disarmed and re-armed, 0.08-0.11
 *   epoll_ctl per round trip.)  With 1000 connections the runtime's share
 *   is about 10 %, half of it the first touch of each resumed goroutine's
 *   stack (rt__ctx_switch: a TLB and cache miss, one stack per 256 KiB
 *   slot).
 *
 * Rejected
 *   - Reading first after a short read too (Go's order): a failing read(2)
 *     per message in request-response traffic (net.c).
 *   - libuv's uv_poll for sockets (used until the socket set): it is
 *     level-triggered, so a socket had to be armed only while someone
 *     waited, and each change was an epoll_ctl (an EEXIST ADD and a MOD
 *     when re-armed, a DEL at close) plus an ioctl(FIONBIO) per socket:
 *     10.4 epoll_ctl and 1.5 ioctl per short connection against Go's 4
 *     and 0, 20-30 % slower than Go at a connection per request.  With
 *     libuv's set inside ours (not ours inside libuv's, which costs a
 *     second epoll_wait per poll) a poll is still one system call.
 *   - Spinning (polling without blocking for a while) before the sleeper
 *     blocks in the loop: the client would wake the server less often, but
 *     the server would burn CPU per round trip, the one figure that host
 *     load does not distort.
 *   - A dedicated poller thread (libuv's usual shape): every wake-up
 *     would cost a thread hand-off; Go's design polls on the scheduler's
 *     own idle thread and from findrunnable, and so do we.
 *   - A lock held around uv_run that others wait for: the owner may block
 *     in epoll for seconds, and a waiter would hold its P meanwhile.
 *   - uv_run(UV_RUN_ONCE) with a libuv timer for the scheduler's next
 *     timer: libuv times in milliseconds and rt_sleep is exact to
 *     microseconds (tests/api/test_timer_latency.c).
 *   - libuv's uv_read_start/uv_write streams: a buffer and a callback per
 *     operation (BENCHMARKS.md measured malloc+uv_write at 107k round
 *     trips/s against 148k for Go); trying the call first and waiting for
 *     readiness reaches the raw epoll figure.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "sched/sched.h"

#define PD_READY ((uintptr_t)1)
#define PD_WAIT  ((uintptr_t)2)

/* pd->reg */
enum { REG_NONE, REG_BUSY, REG_DONE, REG_FAILED };

#define SYSMON_POLL_NS (10 * RT_MILLISECOND)

/* How long a non-blocking poll waits for another one to let go of the
 * loop (rt__netpoll_poll). */
#define POLL_WAIT_NS (10 * RT_MICROSECOND)

/* How often a busy scheduler polls (rt__netpoll_poll_busy). */
#define BUSY_POLL_NS (100 * RT_MICROSECOND)

/*
 * The poll descriptor of one socket.  Allocated from `pdpool`, never freed.
 *   fd, closing, dl   written by net.c's owner of the conn (see each)
 *   rg, wg            atomics, the protocol of the essay
 *   reg               the fd is in the socket epoll set (REG_*): set once,
 *                     by the first parker (CAS), read by the closing loop
 *   lock              deadline, seq, queued, dead (and the timer)
 */
struct rt__pollfd {
    rt__req req;                /* on the request queue: the close */
    int fd;
    _Atomic uintptr_t rg, wg;
    _Atomic int reg;            /* REG_NONE, REG_BUSY, REG_DONE, REG_FAILED */
    _Atomic int hup;            /* an event said end of stream or error */
    _Atomic int closing;        /* rt__pollfd_evict ran: ops fail ECANCELED */
    _Atomic int64_t dl;         /* deadline: 0 none, -1 passed, else when */
    rt__lock lock;
    uint64_t seq;               /* bumped on every deadline change and reuse */
    rt__timer timer;            /* the deadline; arg is this descriptor */
    bool queued;                /* req is on the queue; under lock */
    bool dead;                  /* released: close the fd; under lock */
    rt__pollfd *free_next;      /* pool free list, under pdpool.lock */
    /* Goroutines waiting for close(2) (rt__pollfd_close_prepare), each
     * entry on its goroutine's stack; under lock */
    rt__close_waiter *close_waiters;
};

static struct {
    _Atomic int inited;       /* 0 no, 1 initialising, 2 ready */
    uv_loop_t loop;
    uv_async_t wake;          /* uv_async_send target: breaks the loop */
    int backend_fd;           /* libuv's epoll set, itself in sockep's */
    int sockep;               /* the sockets' epoll set (edge-triggered) */

    /* 0 free, 1 held; only ever CASed, never waited for (see the essay).
     * acquire/release: the loop's state passes with it. */
    _Atomic uint32_t owner;
    /* The M blocked in the loop, or NULL.  seq_cst: the Dekker pair with
     * requesters (their push, then this load) and with proc.c's wake_m. */
    _Atomic(rt_m *) poller;
    /* Goroutines made ready by the loop's callbacks: owner only. */
    rt_g *rdy_head, *rdy_tail;
    int32_t rdy_n;

    rt__lock reqlock;         /* the request queue */
    rt__req *req_head, *req_tail;
    _Atomic int32_t nreq;     /* its length; seq_cst (the Dekker pairs) */

    _Atomic int64_t lastpoll; /* rt_nanotime of the last poll's end */
    _Atomic int pool_started; /* libuv's thread pool has threads */
} np;

static struct {
    rt__lock lock;
    rt__pollfd *free;
    void **chunks;           /* every chunk, so LSan sees them reachable */
    size_t nchunks;
} pdpool;

/* -------------------------------------------------------------- init ---- */

static void async_cb(uv_async_t *h);

static void np_init_slow(void)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(&np.inited, &zero, 1)) {
        int r = uv_loop_init(&np.loop);
        if (r != 0)
            rt__throwf("netpoll: uv_loop_init: %s", uv_strerror(r));
        r = uv_async_init(&np.loop, &np.wake, async_cb);
        if (r != 0)
            rt__throwf("netpoll: uv_async_init: %s", uv_strerror(r));
        np.backend_fd = uv_backend_fd(&np.loop);
        /* libuv registers its watchers (the async's eventfd) at its next
         * poll: once now, so that the backend's readiness means work */
        uv_run(&np.loop, UV_RUN_NOWAIT);
        np.sockep = epoll_create1(EPOLL_CLOEXEC);
        if (np.sockep < 0)
            rt__throwf("netpoll: epoll_create1: %s", strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* level */
        if (epoll_ctl(np.sockep, EPOLL_CTL_ADD, np.backend_fd, &ev) != 0)
            rt__throwf("netpoll: epoll_ctl(libuv's set): %s", strerror(errno));
        atomic_store(&np.lastpoll, rt_nanotime());
        atomic_store_explicit(&np.inited, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&np.inited, memory_order_acquire) != 2)
        sched_yield();
}

static inline void np_init(void)
{
    if (rt__unlikely(atomic_load_explicit(&np.inited, memory_order_acquire) != 2))
        np_init_slow();
}

bool rt__netpoll_inited(void)
{
    return atomic_load_explicit(&np.inited, memory_order_acquire) == 2;
}

/* ------------------------------------------------------- the owner ----- */

static inline bool loop_trylock(void)
{
    uint32_t zero = 0;
    return atomic_compare_exchange_strong_explicit(&np.owner, &zero, 1,
                                                   memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Owner only.  Runs every queued request. */
static void drain_requests(void)
{
    while (atomic_load(&np.nreq) > 0) {
        rt__lock_acquire(&np.reqlock);
        rt__req *r = np.req_head;
        if (r != NULL) {
            np.req_head = r->next;
            if (np.req_head == NULL)
                np.req_tail = NULL;
            atomic_fetch_sub(&np.nreq, 1);
        }
        rt__lock_release(&np.reqlock);
        if (r == NULL)
            break;
        r->next = NULL;
        r->run(r);
    }
}

static void loop_unlock(void)
{
    for (;;) {
        atomic_store(&np.owner, 0); /* seq_cst: the release half of the pair */
        /* A request pushed while we owned the loop, whose pusher failed
         * its CAS, is ours to run. */
        if (atomic_load(&np.nreq) == 0 || !loop_trylock())
            return;
        drain_requests();
    }
}

/* The owner's list of goroutines readied by callbacks. */
static void rdy_push(rt_g *gp)
{
    if (gp == NULL)
        return;
    gp->schedlink = NULL;
    if (np.rdy_tail)
        np.rdy_tail->schedlink = gp;
    else
        np.rdy_head = gp;
    np.rdy_tail = gp;
    np.rdy_n++;
}

static rt_g *rdy_take(rt_g **tail, int32_t *n)
{
    rt_g *head = np.rdy_head;
    *tail = np.rdy_tail;
    *n = np.rdy_n;
    np.rdy_head = np.rdy_tail = NULL;
    np.rdy_n = 0;
    return head;
}

void rt__netpoll_submit(rt__req *r)
{
    np_init();
    r->next = NULL;
    rt__lock_acquire(&np.reqlock);
    if (np.req_tail)
        np.req_tail->next = r;
    else
        np.req_head = r;
    np.req_tail = r;
    atomic_fetch_add(&np.nreq, 1); /* seq_cst, before the CAS below */
    rt__lock_release(&np.reqlock);
    if (loop_trylock()) {
        /* Requests ready goroutines directly, never through the owner's
         * list (only uv_run's callbacks fill it, for the poll that ran
         * them): there is no list to hand on here. */
        drain_requests();
        loop_unlock();
        return;
    }
    rt__netpoll_break();
}

/*
 * uv_async_send marks the handle busy, writes the eventfd, then marks it
 * done, and the loop's thread, dispatching the async, spins until every
 * sender has marked it done.  A sender stopped between the two by the
 * world's stop signal (gcstop.c) kept the poller spinning inside uv_run
 * -- an M that a startm had meanwhile handed an idle P to wake with
 * (mp->nextp): the stop waited for that P, the P for the poller, the
 * poller for the stopped sender.  The whole process hung, spinning, in 7
 * runs of 12 of 4 echo pairs beside 3 allocating goroutines at
 * MAXPROCS=4, GOGC=10 (tester 27b).  So the send is a no-stop region on
 * an M (two plain stores and a branch); a thread without one (foreign.c:
 * stopped by the same signal while the collector reads its stack) blocks
 * the signal around it (two sigprocmask calls, on that rare path).
 */
void rt__netpoll_break(void)
{
    if (atomic_load(&np.poller) != NULL) { /* seq_cst: after the caller's push */
        /* a goroutine's path (a timer set, a wakeup): libuv's write to
         * its eventfd may leave EAGAIN in errno, which is the caller's */
        int saved_errno = errno;
        rt_m *mp = rt__tls_m;
        if (mp != NULL) {
            rt__nostop_begin(mp);
            uv_async_send(&np.wake);
            rt__nostop_end(mp);
        } else {
            sigset_t stop, old;
            sigemptyset(&stop);
            sigaddset(&stop, RT_SIG_GCSTOP);
            pthread_sigmask(SIG_BLOCK, &stop, &old);
            uv_async_send(&np.wake);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        errno = saved_errno;
    }
}

bool rt__netpoll_is_poller(rt_m *mp)
{
    return atomic_load(&np.poller) == mp;
}

static void async_cb(uv_async_t *h)
{
    (void)h;
    drain_requests();
}

/* -------------------------------------------------- poll descriptors ---- */

#define PD_CHUNK 64

rt__pollfd *rt__pollfd_open(int fd)
{
    np_init();
    rt__lock_acquire(&pdpool.lock);
    if (pdpool.free == NULL) {
        /* (pdpool.lock held: no malloc -- gc.h, meta) */
        void **cs = rt__meta_realloc(pdpool.chunks, pdpool.nchunks * sizeof *cs,
                                     (pdpool.nchunks + 1) * sizeof *cs);
        rt__pollfd *c = rt__meta_alloc(PD_CHUNK * sizeof *c);
        pdpool.chunks = cs;
        pdpool.chunks[pdpool.nchunks++] = c;
        for (int i = PD_CHUNK - 1; i >= 0; i--) {
            c[i].free_next = pdpool.free;
            pdpool.free = &c[i];
        }
    }
    rt__pollfd *pd = pdpool.free;
    pdpool.free = pd->free_next;
    rt__lock_release(&pdpool.lock);

    /* The old life's timer may still be firing on another M: it holds
     * only (pd, seq) and finds seq moved on.  Fields it reads are set
     * under the lock. */
    rt__lock_acquire(&pd->lock);
    pd->seq++;
    pd->fd = fd;
    atomic_store(&pd->rg, 0);
    atomic_store(&pd->wg, 0);
    atomic_store(&pd->reg, REG_NONE);
    atomic_store(&pd->hup, 0);
    atomic_store(&pd->closing, 0);
    atomic_store(&pd->dl, 0);
    pd->queued = pd->dead = false;
    pd->free_next = NULL;
    pd->close_waiters = NULL;
    rt__lock_release(&pd->lock);
    return pd;
}

static void pd_recycle(rt__pollfd *pd)
{
    rt__lock_acquire(&pdpool.lock);
    pd->free_next = pdpool.free;
    pdpool.free = pd;
    rt__lock_release(&pdpool.lock);
}

/*
 * Takes whichever goroutine waits in *gpp, if any: ioready publishes an
 * event (PD_READY stays for a parker that has not committed yet); without
 * it only a parked G is taken (close, deadline).  Go's netpollunblock.
 */
static rt_g *pd_unblock(_Atomic uintptr_t *gpp, bool ioready)
{
    for (;;) {
        uintptr_t old = atomic_load(gpp);
        if (old == PD_READY)
            return NULL;
        if (old == 0 && !ioready)
            return NULL;
        uintptr_t nw = ioready ? PD_READY : 0;
        if (atomic_compare_exchange_weak(gpp, &old, nw)) {
            if (old == PD_WAIT)
                return NULL; /* its commit fails and it does not sleep */
            /* Still counted in external_waiters: see io_ready. */
            return (rt_g *)old;
        }
    }
}

/*
 * Readies gp, taken from a descriptor or a one-shot operation, and only
 * then stops counting it as an I/O waiter: in between it is neither
 * counted nor queued, and an M going idle would report a deadlock.
 */
static void io_ready(rt_g *gp)
{
    if (gp == NULL)
        return;
    rt__goready(gp);
    rt__netpoll_waiters_done(1);
}

void rt__netpoll_waiters_done(int32_t n)
{
    /* seq_cst, then the poller load in rt__netpoll_break: the pair of
     * rt__netpoll_block's poller store and its waiters load. */
    if (atomic_fetch_sub(&rt__sched.external_waiters, n) == n) {
        /* The last waiter: an M blocked in the loop only for it must go
         * back to stopm, where checkdead may now find a deadlock that an
         * M going idle a moment ago could not (it still saw a waiter). */
        rt__netpoll_break();
    }
}

/* The events of one epoll_wait of the socket set: each wakes its
 * descriptor's reader and/or writer (Go's netpollready), or records that
 * an event came that nobody waited for (PD_READY).  An error or hang-up
 * wakes both: their system calls report it.  Returns whether libuv's set
 * (data.ptr NULL) was among them.  Loop owner only: pd_run's closes are
 * serialised with this, so no event is for a descriptor already reused. */
static bool sock_events(const struct epoll_event *ev, int n)
{
    bool uv = false;
    for (int i = 0; i < n; i++) {
        rt__pollfd *pd = ev[i].data.ptr;
        if (pd == NULL) {
            uv = true;
            continue;
        }
        uint32_t e = ev[i].events;
        /* Sticky: the edge that reports it may come with the last data, and
         * none follows (rt__pollfd_read_ended). */
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            atomic_store(&pd->hup, 1);
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            rdy_push(pd_unblock(&pd->rg, true));
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            rdy_push(pd_unblock(&pd->wg, true));
    }
    return uv;
}

#define NP_EVENTS 128

/* Owner only: one epoll_wait of the socket set (timeout as epoll_pwait2's:
 * NULL blocks), its events dispatched, then libuv's if its set was ready
 * (uv_run without blocking: its async, getaddrinfo and pool
 * completions). */
static void np_wait(const struct timespec *timeout)
{
    static bool no_pwait2; /* a kernel before 5.11 */
    struct epoll_event ev[NP_EVENTS];
    int n = -1;
    if (timeout != NULL && timeout->tv_sec == 0 && timeout->tv_nsec == 0) {
        n = epoll_wait(np.sockep, ev, NP_EVENTS, 0);
    } else {
        if (!no_pwait2) {
            n = (int)syscall(SYS_epoll_pwait2, np.sockep, ev, NP_EVENTS, timeout, NULL,
                             (size_t)(_NSIG / 8));
            if (n < 0 && errno == ENOSYS)
                no_pwait2 = true;
        }
        if (no_pwait2) { /* milliseconds, rounded up: never early */
            int ms = timeout == NULL ? -1
                     : (int)(timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000);
            n = epoll_wait(np.sockep, ev, NP_EVENTS, ms);
        }
    }
    if (n > 0 && sock_events(ev, n))
        uv_run(&np.loop, UV_RUN_NOWAIT);
}

/* The request of a descriptor, on the loop: close the fd once the
 * descriptor was released (every reference dropped). */
static void pd_run(rt__req *r)
{
    rt__pollfd *pd = (rt__pollfd *)r;
    rt__lock_acquire(&pd->lock);
    pd->queued = false;
    bool dead = pd->dead;
    rt__close_waiter *waiters = dead ? pd->close_waiters : NULL;
    if (dead)
        pd->close_waiters = NULL;
    rt__lock_release(&pd->lock);
    if (!dead)
        return;
    /* Out of the set first, as Go's netpollclose: a copy of the fd that
     * outlives ours (a child's, after fork) would keep its registration,
     * and its events would reach this descriptor's next life. */
    int fd = pd->fd;
    if (atomic_load(&pd->reg) == REG_DONE)
        (void)epoll_ctl(np.sockep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    pd_recycle(pd);
    /* The fd is closed: its waiters may return (each entry is on its
     * goroutine's stack: its link is read before the wake-up). */
    for (rt__close_waiter *w = waiters, *next; w != NULL; w = next) {
        next = w->next;
        io_ready(pd_unblock(&w->w, true));
    }
}

static void pd_queue(rt__pollfd *pd)
{
    /* pd->lock held by the caller. */
    if (pd->queued)
        return;
    pd->queued = true;
    pd->req.run = pd_run;
    rt__lock_release(&pd->lock);
    rt__netpoll_submit(&pd->req);
    rt__lock_acquire(&pd->lock);
}

bool rt__pollfd_read_ended(rt__pollfd *pd)
{
    return atomic_load(&pd->hup) != 0;
}

int rt__pollfd_check(rt__pollfd *pd)
{
    if (atomic_load(&pd->closing))
        return -ECANCELED;
    if (atomic_load(&pd->dl) < 0)
        return -ETIMEDOUT;
    return 0;
}

static bool pd_commit(rt_g *gp, void *arg)
{
    uintptr_t expect = PD_WAIT;
    if (!atomic_compare_exchange_strong((_Atomic uintptr_t *)arg, &expect, (uintptr_t)gp))
        return false;
    /* Counted until pd_unblock takes it: it may be woken by the network. */
    atomic_fetch_add_explicit(&rt__sched.external_waiters, 1, memory_order_relaxed);
    return true;
}

/* Puts pd's fd in the socket set, once; false if epoll refuses it (a
 * regular file: EPERM).  A second parker (the other direction) that finds
 * the first one registering waits for it: it must not park before the fd
 * is in the set. */
static bool pd_register(rt__pollfd *pd)
{
    int st = REG_NONE;
    if (atomic_compare_exchange_strong(&pd->reg, &st, REG_BUSY)) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = pd};
        bool ok = epoll_ctl(np.sockep, EPOLL_CTL_ADD, pd->fd, &ev) == 0;
        atomic_store(&pd->reg, ok ? REG_DONE : REG_FAILED);
        return ok;
    }
    while ((st = atomic_load(&pd->reg)) == REG_BUSY)
        rt__cpu_relax();
    return st == REG_DONE;
}

int rt__pollfd_wait(rt__pollfd *pd, int mode)
{
    _Atomic uintptr_t *gpp = mode == 'r' ? &pd->rg : &pd->wg;
    for (;;) {
        uintptr_t old = atomic_load(gpp);
        if (old == PD_READY) {
            atomic_store(gpp, 0);
            return rt__pollfd_check(pd);
        }
        if (old != 0)
            rt__throw("netpoll: two goroutines wait on one descriptor");
        if (atomic_compare_exchange_weak(gpp, &old, PD_WAIT))
            break;
    }
    /* Registered once, at the first wait (edge-triggered, both
     * directions, as Go's netpollopen): the registration reports the
     * socket's present state, so nothing that happened before is lost. */
    if (rt__unlikely(atomic_load(&pd->reg) != REG_DONE) && !pd_register(pd))
        atomic_store(&pd->closing, 1); /* not pollable: fail as if closed */
    if (rt__pollfd_check(pd) == 0)
        rt__gopark(pd_commit, (void *)gpp, RT_WAIT_IO);
    uintptr_t old = atomic_exchange(gpp, 0);
    if (old > PD_WAIT)
        rt__throw("netpoll: corrupted poll descriptor state");
    int err = rt__pollfd_check(pd);
    return err;
}

void rt__pollfd_evict(rt__pollfd *pd)
{
    atomic_store(&pd->closing, 1); /* seq_cst: before the loads of rg/wg */
    rt__lock_acquire(&pd->lock);
    pd->seq++;
    (void)rt__timer_del(&pd->timer);
    rt__lock_release(&pd->lock);
    io_ready(pd_unblock(&pd->rg, false));
    io_ready(pd_unblock(&pd->wg, false));
}

bool rt__pollfd_close_prepare(rt__pollfd *pd, rt__close_waiter *w)
{
    rt_m *mp = rt__getm();
    if (mp == NULL || mp->curg == NULL || mp->p == NULL)
        return false; /* no goroutine that may park: close in the background */
    atomic_store(&w->w, PD_WAIT);
    rt__lock_acquire(&pd->lock);
    w->next = pd->close_waiters;
    pd->close_waiters = w;
    rt__lock_release(&pd->lock);
    return true;
}

void rt__pollfd_close_wait(rt__close_waiter *w)
{
    /* Counted as an I/O waiter while parked (pd_commit): the loop, which
     * has the close to do, is what wakes it. */
    if (atomic_load(&w->w) == PD_WAIT)
        rt__gopark(pd_commit, (void *)&w->w, RT_WAIT_SEMACQUIRE);
    if (atomic_load(&w->w) != PD_READY)
        rt__throw("netpoll: a close waiter woke before the close");
}

void rt__pollfd_release(rt__pollfd *pd)
{
    rt__lock_acquire(&pd->lock);
    pd->dead = true;
    pd_queue(pd);
    rt__lock_release(&pd->lock);
}

/* ------------------------------------------------------- deadlines ---- */

static void deadline_fire(void *arg, uintptr_t seq, int64_t now)
{
    (void)now;
    rt__pollfd *pd = arg;
    rt__lock_acquire(&pd->lock);
    if (pd->seq != (uint64_t)seq) {
        rt__lock_release(&pd->lock);
        return; /* changed or reused since */
    }
    atomic_store(&pd->dl, -1);
    rt__lock_release(&pd->lock);
    io_ready(pd_unblock(&pd->rg, false));
    io_ready(pd_unblock(&pd->wg, false));
}

void rt__pollfd_set_deadline(rt__pollfd *pd, int64_t when)
{
    int64_t now = rt_nanotime();
    int64_t dl = when == 0 ? 0 : when <= now ? -1 : when;
    /* Under the descriptor's lock (ranked above the timer locks): two
     * concurrent changes must not leave the timer with the older seq. */
    rt__lock_acquire(&pd->lock);
    pd->seq++;
    atomic_store(&pd->dl, dl);
    (void)rt__timer_del(&pd->timer);
    if (dl > 0) {
        /* Off every heap now: its fields are ours to set. */
        pd->timer.f = deadline_fire;
        pd->timer.arg = pd;
        pd->timer.seq = (uintptr_t)pd->seq;
        pd->timer.period = 0;
        pd->timer.when = dl;
        rt__timer_add(&pd->timer);
    }
    rt__lock_release(&pd->lock);
    if (dl < 0) {
        io_ready(pd_unblock(&pd->rg, false));
        io_ready(pd_unblock(&pd->wg, false));
    }
}

/* ------------------------------------------------- one-shot waits ------ */

static bool once_commit(rt_g *gp, void *arg)
{
    uintptr_t expect = 0;
    if (!atomic_compare_exchange_strong((_Atomic uintptr_t *)arg, &expect, (uintptr_t)gp))
        return false; /* already done */
    atomic_fetch_add_explicit(&rt__sched.external_waiters, 1, memory_order_relaxed);
    return true;
}

static void netpoll_wait_once(_Atomic uintptr_t *state)
{
    rt__gopark(once_commit, (void *)state, RT_WAIT_IO);
    if (atomic_load(state) != PD_READY)
        rt__throw("netpoll: woken before its operation completed");
}

/* Marks a one-shot operation done and returns its parked G, if any. */
static rt_g *once_done(_Atomic uintptr_t *state)
{
    /* A G taken here is still counted as a waiter: io_ready. */
    return (rt_g *)atomic_exchange(state, PD_READY);
}

/* ------------------------------------------------------ file I/O ------- */

/* One file operation; on the calling goroutine's stack. */
typedef struct fs_op {
    int fd;
    bool write;
    void *buf;
    size_t n;
    int64_t off;
    ssize_t res;
    _Atomic uintptr_t state; /* 0, the parked G, or PD_READY when done */
} fs_op;

/* malloc'd: libuv touches the uv_work_t after the worker readied the G
 * (after_work runs on the loop later), so it cannot live on that G's
 * stack. */
typedef struct fs_work {
    rt__req req;
    uv_work_t w;
    fs_op *op;
} fs_work;

static void fs_work_cb(uv_work_t *w)
{
    fs_work *fw = w->data;
    fs_op *op = fw->op;
    ssize_t r;
    do {
        if (op->off < 0) /* the file position: pipes, terminals */
            r = op->write ? write(op->fd, op->buf, op->n) : read(op->fd, op->buf, op->n);
        else
            r = op->write ? pwrite(op->fd, op->buf, op->n, (off_t)op->off)
                          : pread(op->fd, op->buf, op->n, (off_t)op->off);
    } while (r < 0 && errno == EINTR);
    op->res = r < 0 ? -errno : r;
    /* The last touch of op: once the G is ready it may be gone.  Readied
     * from this pool thread directly (the global queue, and an idle P is
     * woken): the completion needs nobody to poll the loop. */
    io_ready(once_done(&op->state));
}

static void fs_after_cb(uv_work_t *w, int status)
{
    (void)status;
    free(w->data);
}

static void fs_submit_run(rt__req *r)
{
    fs_work *fw = (fs_work *)((char *)r - offsetof(fs_work, req));
    atomic_store(&np.pool_started, 1);
    int e = uv_queue_work(&np.loop, &fw->w, fs_work_cb, fs_after_cb);
    if (e != 0) {
        fs_op *op = fw->op;
        free(fw);
        op->res = e;
        io_ready(once_done(&op->state));
    }
}

_Atomic uint64_t rt__netpoll_file_calls;

ssize_t rt__netpoll_file(int fd, void *buf, size_t n, int64_t off, bool write)
{
    atomic_fetch_add_explicit(&rt__netpoll_file_calls, 1, memory_order_relaxed);
    fs_op op = {.fd = fd, .write = write, .buf = buf, .n = n, .off = off};
    fs_work *fw = malloc(sizeof *fw);
    if (fw == NULL)
        return -ENOMEM;
    fw->w.data = fw;
    fw->op = &op;
    fw->req.run = fs_submit_run;
    rt__netpoll_submit(&fw->req);
    netpoll_wait_once(&op.state);
    return op.res;
}

/* ---------------------------------------------------- name lookup ------ */

/* One resolution; on the calling goroutine's stack, which stays put while
 * it is parked (libuv holds &gai until its callback). */
typedef struct resolve {
    rt__req req;
    uv_getaddrinfo_t gai;
    int status;
    struct addrinfo *res;
    _Atomic uintptr_t state;
} resolve;

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve *rs = req->data;
    rs->status = status;
    rs->res = res;
    rdy_push(once_done(&rs->state));
}

typedef struct gai_args {
    const char *host, *service;
    const struct addrinfo *hints;
} gai_args;

static void gai_run(rt__req *r)
{
    resolve *rs = (resolve *)r;
    const gai_args *a = rs->gai.data;
    atomic_store(&np.pool_started, 1);
    rs->gai.data = rs;
    /* libuv copies host, service and hints. */
    int e = uv_getaddrinfo(&np.loop, &rs->gai, gai_cb, a->host, a->service, a->hints);
    if (e != 0) {
        rs->status = e;
        rs->res = NULL;
        io_ready(once_done(&rs->state));
    }
}

int rt__netpoll_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints, struct addrinfo **res)
{
    gai_args a = {host, service, hints};
    resolve rs = {.req.run = gai_run};
    rs.gai.data = &a;
    rt__netpoll_submit(&rs.req);
    netpoll_wait_once(&rs.state);
    *res = rs.res;
    return rs.status;
}

void rt__netpoll_freeaddrinfo(struct addrinfo *res)
{
    uv_freeaddrinfo(res);
}

/* ------------------------------------------------- the scheduler ------ */

bool rt__netpoll_wanted(void)
{
    return rt__netpoll_inited() &&
           atomic_load_explicit(&rt__sched.external_waiters, memory_order_relaxed) > 0;
}

bool rt__netpoll_pollable(void)
{
    return rt__netpoll_wanted() && atomic_load_explicit(&np.poller, memory_order_relaxed) == NULL;
}

/* Owner: one poll without blocking; lets go of the loop. */
static rt_g *poll_owned(rt_g **tail, int32_t *n)
{
    drain_requests();
    np_wait(&(struct timespec){0, 0});
    rt_g *list = rdy_take(tail, n);
    atomic_store_explicit(&np.lastpoll, rt_nanotime(), memory_order_relaxed);
    loop_unlock();
    return list;
}

/*
 * Go's netpoll(0).  A loop busy with another thread's non-blocking poll
 * (or a request) is waited for, briefly, rather than given up on: Go's Ms
 * poll side by side, and an M that finds nothing else to do goes to
 * sleep.  Given up at once, two Ms running two loopback ping-pong pairs
 * took turns -- whichever M polled took both pairs' goroutines, the other
 * found the loop held, nothing to run and slept, and was woken 20-50 us
 * later for a goroutine the first M had meanwhile run itself: one CPU's
 * worth of round trips, 1.35-1.7x Go's time (tests/bench: netpingpong).
 * A poll holds the loop for one epoll_wait and its dispatch; POLL_WAIT_NS
 * bounds the wait for an owner that was descheduled or is draining long
 * requests (a close, a resolution to start).  A poller blocked in the
 * loop is never waited for: it hands out what comes itself.
 */
rt_g *rt__netpoll_poll(rt_g **tail, int32_t *n)
{
    *n = 0;
    *tail = NULL;
    if (!rt__netpoll_inited())
        return NULL;
    if (!loop_trylock()) {
        int64_t give_up = rt_nanotime() + POLL_WAIT_NS;
        do {
            if (atomic_load_explicit(&np.poller, memory_order_relaxed) != NULL ||
                rt_nanotime() >= give_up)
                return NULL;
            rt__cpu_relax();
        } while (atomic_load_explicit(&np.owner, memory_order_relaxed) != 0 || !loop_trylock());
    }
    return poll_owned(tail, n);
}

/*
 * While every P keeps finding work, nobody's search comes to Go's
 * netpoll(0), and no M is idle to block in the loop: only sysmon polled
 * then, every 10 ms (SYSMON_POLL_NS), so a goroutine whose socket became
 * readable waited 5 ms on average while goroutines that yield (queued
 * globally at MAXPROCS > 1) took turns -- an outside tester measured
 * 5.3 ms at MAXPROCS=4 against Go's 0.17.  So a P whose own queue runs
 * dry (outside a park) also polls, without waiting for the loop, once
 * BUSY_POLL_NS have passed since the last poll (proc.c, find_fast): at
 * most 10,000 non-blocking polls a second, and a clock read each time
 * the queue runs dry while goroutines wait for I/O.
 */
rt_g *rt__netpoll_poll_busy(rt_g **tail, int32_t *n)
{
    *n = 0;
    *tail = NULL;
    if (!rt__netpoll_inited() || atomic_load_explicit(&np.poller, memory_order_relaxed) != NULL ||
        rt_nanotime() - atomic_load_explicit(&np.lastpoll, memory_order_relaxed) < BUSY_POLL_NS ||
        !loop_trylock())
        return NULL;
    return poll_owned(tail, n);
}

/* Whether n was woken (a wake_m since it was cleared). */
static inline bool note_woken(rt__note *n)
{
    return atomic_load(&n->key) != 0;
}

int rt__netpoll_block(rt_m *mp, int64_t until, rt_g **list, rt_g **tail, int32_t *n)
{
    *list = *tail = NULL;
    *n = 0;
    bool got = false;
    for (int i = 0; i < 64 && !(got = loop_trylock()); i++)
        sched_yield(); /* a non-blocking poll is in progress: brief */
    if (!got)
        return -EBUSY;
    atomic_store(&np.poller, mp); /* seq_cst: then the note and the queue */
    for (;;) {
        drain_requests();
        int64_t left = -1;
        if (until != 0) {
            left = until - rt_nanotime();
            if (left < 0)
                left = 0;
        }
        if (note_woken(&mp->park) || np.rdy_n > 0)
            left = 0;
        /* seq_cst, after the poller store: see rt__netpoll_waiters_done */
        if (until == 0 && atomic_load(&rt__sched.external_waiters) == 0)
            left = 0;
        /* libuv's own timers (none of grt's: it times in ms) bound the
         * wait, as its UV_RUN_ONCE would. */
        int bt = uv_backend_timeout(&np.loop);
        if (bt == 0) { /* callbacks libuv has pending: run them first */
            uv_run(&np.loop, UV_RUN_NOWAIT);
            bt = uv_backend_timeout(&np.loop);
        }
        if (bt > 0 && (left < 0 || (int64_t)bt * RT_MILLISECOND < left))
            left = (int64_t)bt * RT_MILLISECOND;
        if (left < 0) {
            np_wait(NULL);
        } else {
            struct timespec ts = {.tv_sec = left / RT_SECOND, .tv_nsec = left % RT_SECOND};
            np_wait(&ts);
        }
        if (np.rdy_n > 0 || note_woken(&mp->park) || left == 0 ||
            (until != 0 && rt_nanotime() >= until))
            break;
        /* Nobody waits for I/O any more (rt__netpoll_waiters_done broke
         * the loop): back to stopm, whose checkdead must see it. */
        if (until == 0 && atomic_load(&rt__sched.external_waiters) == 0)
            break;
        /* Woken only to take a request (the async), or a pool job done:
         * keep waiting. */
    }
    atomic_store(&np.poller, NULL);
    *list = rdy_take(tail, n);
    atomic_store_explicit(&np.lastpoll, rt_nanotime(), memory_order_relaxed);
    loop_unlock();
    return 0;
}

void rt__netpoll_sysmon(int64_t now)
{
    if (!rt__netpoll_pollable())
        return;
    if (now - atomic_load_explicit(&np.lastpoll, memory_order_relaxed) < SYSMON_POLL_NS)
        return;
    rt_g *tail;
    int32_t n;
    rt_g *list = rt__netpoll_poll(&tail, &n);
    if (list != NULL) {
        rt__injectglist(list, tail, n);
        rt__netpoll_waiters_done(n);
    }
}

int rt__netpoll_threads(void)
{
    if (!atomic_load(&np.pool_started))
        return 0;
    /* libuv's own rule (threadpool.c): UV_THREADPOOL_SIZE, default 4,
     * clamped to [1, 1024]. */
    const char *s = getenv("UV_THREADPOOL_SIZE");
    int n = s ? atoi(s) : 4;
    if (n < 1)
        n = 1;
    if (n > 1024)
        n = 1024;
    return n;
}
