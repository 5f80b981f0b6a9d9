/*
 * sched/signal.c -- signals as channel values: Go's os/signal.Notify and
 * Stop (rt_signal_notify, rt_signal_stop in rt.h).
 *
 * Why
 *   No rt_ function is async-signal-safe (a handler that interrupts a
 *   channel operation and starts another on the same channel deadlocks on
 *   that channel's lock), yet a Go programmer's first signal is a clean
 *   shutdown on SIGINT or SIGTERM, received on a channel.  This is that
 *   channel, built the way one builds it by hand in C -- a handler that
 *   only records the signal and writes a byte to a pipe, and a goroutine
 *   that reads the pipe -- once, in the runtime.
 *
 * How
 *   The first notify for a signal installs grt's handler for it with
 *   sigaction, remembering the action it replaces.  The handler does what
 *   a handler may: it sets the signal's bit in `pending` (an atomic OR) and
 *   writes one byte to a non-blocking pipe; a full pipe loses nothing, the
 *   bit being the record and the byte only a wake-up.  The relay, a system
 *   goroutine started by the first notify, parks on the pipe's read end in
 *   the network poller (wait reason "IO wait": a program that waits only
 *   for a signal is not deadlocked, as in Go), drains it, swaps `pending`
 *   to zero and try-sends each signal's number to every channel watching
 *   it.  It never blocks, as Go's relay does not: a channel with no room
 *   misses that signal, so give it a buffer.  Several arrivals of one
 *   signal before the relay runs make one value (Go's relay coalesces the
 *   same way: it keeps a mask, not a queue).
 *
 *   The watchers are a table of {channel, mask of signals} in the GC heap,
 *   reached from a global (a data segment root), so a watched channel stays
 *   alive.  `lock` guards it; the relay holds it across its try-sends, so
 *   once rt_signal_stop returns no value reaches the channel any more (Go's
 *   Stop promises that).  A signal that loses its last watcher gets back
 *   the action it had before the first notify.  The table grows by a fresh
 *   copy made before the lock is taken: allocating under a runtime lock
 *   could wait for a collection that waits for this thread.
 *
 *   Refused with -EINVAL: the signals the runtime needs for itself
 *   (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP: faults and stack overflow;
 *   SIGURG: stopping threads for the collector; SIGPROF: the CPU
 *   profiler), SIGKILL and SIGSTOP, which no handler can catch, numbers
 *   outside 1..64, channels whose element is not an int, and the C
 *   library's signals (glibc's 32 and 33, below SIGRTMIN), which sigaction
 *   refuses too.  A call that fails after the relay's pipe was made still
 *   starts the relay goroutine: the pipe's existence is what later calls
 *   take as "running".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "gc/gc.h"
#include "sched/chan.h"
#include "sched/sched.h"

#define NSIG_MAX 64

typedef struct watcher {
    rt_chan *c;
    uint64_t mask; /* bit sig - 1 */
} watcher;

static rt__lock lock;      /* the table, the saved actions, the relay's start */
static watcher *table;     /* GC heap: keeps the channels alive */
static size_t ntable, cap_table;
static uint64_t installed; /* signals with grt's handler (bit sig - 1) */
static struct sigaction saved[NSIG_MAX + 1];
static _Atomic uint64_t pending;
static int wake_r = -1, wake_w = -1;
static rt__pollfd *wake_pd;
static bool relay_started;

static bool refused(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGURG:
    case SIGPROF:
    case SIGKILL:
    case SIGSTOP:
        return true;
    default:
        /* 32 and 33: glibc's own (SIGRTMIN is 34 above them) */
        return sig < 1 || sig > NSIG_MAX || (sig >= 32 && sig < SIGRTMIN);
    }
}

static void on_signal(int sig)
{
    int saved_errno = errno;
    atomic_fetch_or_explicit(&pending, (uint64_t)1 << (sig - 1), memory_order_release);
    char b = 0;
    (void)!write(wake_w, &b, 1);
    errno = saved_errno;
}

static void relay(void *arg)
{
    (void)arg;
    for (;;) {
        char buf[64];
        while (read(wake_r, buf, sizeof buf) > 0) {
        }
        uint64_t got = atomic_exchange_explicit(&pending, 0, memory_order_acquire);
        if (got == 0) {
            (void)rt__pollfd_wait(wake_pd, 'r');
            continue;
        }
        rt__lock_acquire(&lock);
        for (int sig = 1; sig <= NSIG_MAX; sig++) {
            if (!(got & ((uint64_t)1 << (sig - 1))))
                continue;
            for (size_t i = 0; i < ntable; i++)
                if (table[i].mask & ((uint64_t)1 << (sig - 1)))
                    (void)rt__chan_try_send_sched(table[i].c, &sig);
        }
        rt__lock_release(&lock);
    }
}

/* The pipe and the relay, once; -errno if the pipe cannot be made. */
static int start_relay(void)
{
    if (relay_started)
        return 0;
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -errno;
    rt__pollfd *pd = rt__pollfd_open(fds[0]);
    if (pd == NULL) {
        close(fds[0]);
        close(fds[1]);
        return -ENOMEM;
    }
    wake_r = fds[0];
    wake_w = fds[1];
    wake_pd = pd;
    relay_started = true;
    return 0;
}

int rt_signal_notify(rt_chan *c, int sig)
{
    if (c == NULL || refused(sig) || c->elemsize != sizeof(int))
        return -EINVAL;
    /* A table with room for one more, made outside the lock. */
    watcher *fresh = NULL;
    size_t fresh_cap = 0;
    for (;;) {
        rt__lock_acquire(&lock);
        bool found = false;
        for (size_t i = 0; i < ntable && !found; i++)
            found = table[i].c == c;
        if (found || ntable < cap_table || (fresh != NULL && fresh_cap > ntable))
            break;
        size_t want = cap_table < 8 ? 8 : cap_table * 2;
        rt__lock_release(&lock);
        fresh = rt_alloc(want * sizeof *fresh);
        fresh_cap = want;
    }
    /* (lock held) */
    bool first = !relay_started;
    int err = start_relay();
    if (err != 0) {
        rt__lock_release(&lock);
        return err;
    }
    uint64_t bit = (uint64_t)1 << (sig - 1);
    if (!(installed & bit)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, &saved[sig]) != 0) {
            err = -errno;
            rt__lock_release(&lock);
            /* The relay is started all the same: the next call takes it
             * as running (a refused first call left every later one
             * without deliveries, an outside tester's find). */
            if (first)
                (void)rt__go_system(relay, NULL);
            return err;
        }
        installed |= bit;
    }
    size_t i = 0;
    while (i < ntable && table[i].c != c)
        i++;
    if (i == ntable) {
        if (ntable == cap_table) {
            if (ntable > 0)
                memcpy(fresh, table, ntable * sizeof *table);
            table = fresh;
            cap_table = fresh_cap;
        }
        table[ntable++] = (watcher){c, 0};
    }
    table[i].mask |= bit;
    rt__lock_release(&lock);
    if (first)
        (void)rt__go_system(relay, NULL);
    return 0;
}

void rt_signal_stop(rt_chan *c)
{
    rt__lock_acquire(&lock);
    for (size_t i = 0; i < ntable; i++) {
        if (table[i].c != c)
            continue;
        table[i] = table[--ntable];
        table[ntable] = (watcher){NULL, 0};
        break;
    }
    uint64_t watched = 0;
    for (size_t i = 0; i < ntable; i++)
        watched |= table[i].mask;
    for (int sig = 1; sig <= NSIG_MAX; sig++) {
        uint64_t bit = (uint64_t)1 << (sig - 1);
        if ((installed & bit) && !(watched & bit)) {
            (void)sigaction(sig, &saved[sig], NULL);
            installed &= ~bit;
        }
    }
    rt__lock_release(&lock);
}
