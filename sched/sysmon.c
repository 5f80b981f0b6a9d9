/*
 * sched/sysmon.c -- the system monitor thread.
 *
 * One thread without a P that wakes every 20 us, backing off to every 10 ms
 * while nothing happens, and sleeping until needed while every P is idle
 * (Go's sysmon; "Deep sleep" and "Kicks" below).  Each tick it:
 *
 *   - stamps rt__sched.coarse_now, the clock that parks use for
 *     waitsince (a park must not pay for a clock read);
 *   - retakes Ps from Ms blocked in rt_syscall_enter for more than 20 us
 *     (one call seen on two ticks), or in a system call while the P has
 *     not scheduled for 10 ms (calls that pass it from one M to the
 *     next), and hands them to other Ms (rt__handoffp), so a blocking
 *     call costs its goroutine a thread, not a processor;
 *   - notices goroutines that have run for more than 10 ms without a
 *     scheduling point.  C code cannot be preempted safely (no safe points,
 *     no stack maps), so sysmon counts them (rt__sched.stuck_count), makes
 *     sure an idle P is woken to steal the stuck P's queue -- or, with no
 *     P idle and the stuck goroutine not answering a request to yield for
 *     a tick, moves that queue to the global queue itself and leaves the
 *     stuck P's due timers to the running Ps (rt__sched.orphan_timers) --
 *     and, while goroutines wait for a processor, asks the goroutine of a
 *     P whose time slice (slicetick: runnext hand-offs share one) ran 10
 *     ms to yield at its next call into the runtime that can
 *     (rt__preempt_point, sched.h);
 *   - is the backstop of deferred wake-ups (proc.c, "Waking an idle P"):
 *     wakes an idle P for a running P with work queued that has not
 *     scheduled for RT_WAKE_WAIT_NS, and makes that P's next DEFER_OFF
 *     readies wake as before.  It keeps its 20 us tick while Ps defer
 *     wake-ups densely (deferrals_dense), and publishes whether its
 *     current sleep is that short (rt__sched.sysmon_fast): only then may
 *     a ready defer;
 *   - wakes an idle P when some timer is overdue (the backstop for timers on
 *     a P whose goroutine does not schedule);
 *   - wakes an idle P when it has seen goroutines on the global queue with
 *     every P idle at each tick for STRANDED_NS: a lost wake-up, which
 *     would otherwise wait for an unrelated one, for ever if none comes (a
 *     hole of that kind hung a CI run: proc.c, ready_no_p).  Counted in
 *     rt__sched.stranded_count, which stress_wake requires to stay 0,
 *     so the backstop turns a hang into a delay without hiding the bug;
 *   - while every P runs a goroutine that has not scheduled for 10 ms,
 *     its thread computing or asleep in the kernel (not only waiting for
 *     a CPU: ps_held_for_good), has the debug server's rescue thread serve a
 *     waiting connection (trace/debugserve.c: no server goroutine can run
 *     then);
 *   - polls the network if nobody did for 10 ms (netpoll.c: Ps busy with
 *     goroutines that never run out would otherwise starve it);
 *   - once a second, returns the pages of up to 2048 pooled free stacks,
 *     coldest first, beyond the 1024 most recently used
 *     (rt__stack_pool_trim), and the pages below the top two of up to 256
 *     of those 1024 that were pooled a second ago already
 *     (rt__stack_pool_shed): a gradual scavenger, so that a burst of
 *     exits does not become a burst of madvise calls and TLB shootdowns
 *     while the program runs.
 *
 *   - prints the schedtrace report every DEBUG=schedtrace ms
 *     (trace/schedtrace.c), from the first tick on;
 *   - calibrates the TSC's rate for the scheduler's timer check
 *     (rt__tsc_calibrate, timer.c: over 50 ms, then every second);
 *   - runs the heap's scavenger (rt__gc_sysmon, gc/collector.c): every
 *     100 ms the free pages beyond 110 % of the heap goal idle for a
 *     second, every 60 s Go 1.3's pass over pages idle 5 minutes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"
#include "trace/trace.h"

#define SYSCALL_RETAKE_NS (20 * RT_MICROSECOND)
#define STUCK_NS          (10 * RT_MILLISECOND)
/* Readies that wake as before after the backstop fired for a P. */
#define DEFER_OFF 8

/* A thread's CPU clock from its kernel id (the encoding of glibc's
 * pthread_getcpuclockid: ~tid << 3, per-thread, CPUCLOCK_SCHED). */
static int64_t thread_cpu_ns(pid_t tid)
{
    struct timespec ts;
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6);
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * RT_SECOND + ts.tv_nsec;
}

/* Whether a thread sleeps in the kernel (state S or D in its stat line):
 * blocked in a call the runtime was not told of, not waiting for a CPU. */
static bool thread_asleep(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold anything */
    return p != NULL && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

/*
 * Every P has run one goroutine for STUCK_NS: is each M's thread computing
 * or blocked in the kernel -- the goroutine holds its P for good -- or
 * only waiting for a CPU?  On a host with more runnable threads than CPUs
 * (a loaded CI machine) a thread the kernel left waiting for 10 ms looks
 * just as stuck, and the debug server's rescue thread took connections
 * that the server's goroutines would have served a moment later (a test
 * counting the server's goroutines saw one missing).  Computing: the
 * thread has run for STUCK_NS / 2 of CPU time since sysmon first saw
 * every P stuck, without scheduling -- CPU time, not a share of the wall
 * time: a goroutine spinning beside four other busy processes on two
 * CPUs gets a third of one.  Blocked: asleep in a system call the
 * runtime was not told of (no rt_syscall_enter), which holds the P as a
 * loop does (docs/debug-server.md).  A thread that was only waiting
 * schedules within microseconds of getting a CPU.  A clock read per P per
 * tick while every P is stuck, and the stat line of the ones that have
 * not computed enough; nothing otherwise.
 */
static bool ps_held_for_good(int32_t procs, int64_t now)
{
    bool busy = true;
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        rt_m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);
        pid_t tid = mp ? __atomic_load_n(&mp->tid, __ATOMIC_ACQUIRE) : 0;
        int64_t cpu = tid > 0 ? thread_cpu_ns(tid) : -1;
        if (cpu < 0) {
            pp->sysmon_cpu_at = 0;
            busy = false;
        } else if (pp->sysmon_cpu_at == 0 || pp->sysmon_cpu_tid != tid) {
            pp->sysmon_cpu_tid = tid; /* the stretch starts: the base */
            pp->sysmon_cpu = cpu;
            pp->sysmon_cpu_at = now;
            busy = false;
        } else if (cpu - pp->sysmon_cpu < STUCK_NS / 2 &&
                   (now - pp->sysmon_cpu_at < STUCK_NS / 2 || !thread_asleep(tid))) {
            busy = false;
        }
    }
    return busy;
}

/* Returns how many Ps were retaken or woken for. */
static int retake(int64_t now)
{
    int n = 0, stuck_running = 0;
    bool any_preempt = false;
    /* rt_maxprocs may change it meanwhile (procresize, world stopped). */
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        uint32_t st = atomic_load_explicit(&pp->status, memory_order_acquire);
        /* The time slice (sched.h, slicetick): runs on across runnext
         * hand-offs and system calls, as Go's schedtick does. */
        uint32_t slice = __atomic_load_n(&pp->slicetick, __ATOMIC_RELAXED);
        if (pp->sysmon_slicetick != slice) {
            pp->sysmon_slicetick = slice;
            pp->sysmon_slicesince = now;
            atomic_store_explicit(&pp->preempt, 0, memory_order_relaxed);
        }
        if (st == RT_PSYSCALL) {
            /* A P that has not scheduled for STUCK_NS is retaken even
             * though each of its system calls was short (Go's sysretake):
             * goroutines that pass it from one system call to the next
             * (a blocking read returns and takes the P back from the
             * partner blocked in its own read) kept it from the goroutines
             * in its queue, and with no call lasting two ticks sysmon saw
             * nothing to retake and slept 10 ms at a time -- pipe
             * ping-pongs next to computing goroutines ran 3x Go's time at
             * MAXPROCS=1, the P idle half of it (an outside tester's find). */
            uint32_t stick = __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED);
            bool stuck = false;
            if (pp->sysmon_schedtick != stick) {
                pp->sysmon_schedtick = stick;
                pp->sysmon_schedwhen = now;
                pp->sysmon_schedsince = now;
            } else if (now - pp->sysmon_schedsince >= STUCK_NS) {
                stuck = true;
            }
            uint32_t t = atomic_load_explicit(&pp->syscalltick, memory_order_relaxed);
            if (!stuck && pp->sysmon_syscalltick != t) {
                pp->sysmon_syscalltick = t;
                pp->sysmon_syscallwhen = now;
                continue;
            }
            if (!stuck && now - pp->sysmon_syscallwhen < SYSCALL_RETAKE_NS)
                continue;
            /* Nothing waits for this P and others are idle: leave it, the
             * syscall's M gets it back without a hand-off (Go's rule). */
            if (rt__runq_empty(pp) &&
                atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) +
                        atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) >
                    0 &&
                now - pp->sysmon_syscallwhen < STUCK_NS)
                continue;
            uint32_t expect = RT_PSYSCALL;
            if (atomic_compare_exchange_strong_explicit(&pp->status, &expect, RT_PIDLE,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                n++;
                rt__handoffp(pp);
            }
        } else if (st == RT_PRUNNING) {
            int64_t due = atomic_load_explicit(&pp->timers.when0, memory_order_relaxed);
            uint32_t t = __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED);
            if (pp->sysmon_schedtick != t) {
                pp->sysmon_schedtick = t;
                pp->sysmon_schedwhen = now;
                pp->sysmon_schedsince = now;
                goto slice;
            }
            /* The backstop of deferred wake-ups: queued work on a P that
             * has not scheduled for RT_WAKE_WAIT_NS while another P
             * sleeps.  That P then wakes normally for a while. */
            if (now - pp->sysmon_schedsince >= RT_WAKE_WAIT_NS &&
                atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) > 0 &&
                atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) == 0 &&
                !rt__runq_empty(pp)) {
                atomic_store_explicit(&pp->defer_off, DEFER_OFF, memory_order_relaxed);
                rt__wakep();
                n++;
            }
            if (pp->sysmon_schedwhen != 0 && now - pp->sysmon_schedwhen >= STUCK_NS) {
                atomic_fetch_add_explicit(&rt__sched.stuck_count, 1, memory_order_relaxed);
                pp->sysmon_schedwhen = 0; /* count each stuck stretch once */
                if (!rt__runq_empty(pp)) {
                    rt__wakep();
                    n++;
                }
            }
            /* Stuck for 10 ms with every other P busy (none idle to
             * steal): what waits on this P would wait for as long as its
             * goroutine runs -- 0.6-0.9 s for connections readied there
             * in a tester's echo server, for ever for a sleeper whose
             * timer is here.  Its queue goes to the global queue, which
             * every running P reads at least every 61st schedule, and its
             * due timers are left to them (orphan_timers, proc.c).  Not
             * with one P: there is no other P to serve them, and a lone
             * owner pops its ring without a CAS (sched.h:
             * rt__runq_get_ring), so a thief there would race it.  (The P
             * count changes only with the world stopped, and this drain
             * takes microseconds.)  Only once the goroutine let a tick
             * pass without answering the request to yield (preempt, set
             * below, still set): one that answers it lets its P serve its
             * queue, in order.  Drained at once, the queue went to the
             * global queue's tail every 10 ms, behind the goroutines
             * preempted there: a goroutine readied by a channel send
             * beside four goroutines looping on select with default at
             * MAXPROCS=2 waited up to 0.9 s (an outside tester's find;
             * Go 0.1 ms). */
            if (now - pp->sysmon_schedsince >= STUCK_NS && !rt__sched_gomaxprocs_is_one() &&
                atomic_load_explicit(&pp->preempt, memory_order_relaxed) &&
                atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) == 0 &&
                atomic_load_explicit(&rt__sched.nmspinning, memory_order_relaxed) == 0) {
                if (!rt__runq_empty(pp))
                    (void)rt__runq_drain_global(pp);
                if (due != 0 && due <= now)
                    atomic_store_explicit(&rt__sched.orphan_timers, 1, memory_order_release);
            }
        slice:
            if (now - pp->sysmon_schedsince >= STUCK_NS)
                stuck_running++;
            /* Work waits for a processor (on this P's ring, on the
             * global queue, or a timer of this P that is due) and this
             * P's time slice has run for 10 ms, or the P has not
             * scheduled for 10 ms with a G in runnext: ask its goroutine
             * to yield at its next preemption point (sched.h).  By the
             * slice: two goroutines that hand the P to each other through
             * runnext schedule every few ms (a buffered channel filled by
             * one and drained by the other) and kept a woken sleeper
             * waiting for the 61st schedule -- 0.3-0.5 s at MAXPROCS=1,
             * Go 15 ms (an outside tester's find).  A G in runnext alone
             * is not work waiting there: it runs at the next park, and
             * counted, a producer and a consumer at MAXPROCS=2, each the
             * other's runnext, were preempted every 10 ms and workload 3
             * ran 30 % slower. */
            if (now - pp->sysmon_slicesince >= STUCK_NS &&
                ((due != 0 && due <= now) ||
                 atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) > 0 ||
                 rt__runq_len(pp) > 0 ||
                 (now - pp->sysmon_schedsince >= STUCK_NS && !rt__runq_empty(pp))))
                atomic_store_explicit(&pp->preempt, 1, memory_order_relaxed);
        } else {
            atomic_store_explicit(&pp->preempt, 0, memory_order_relaxed);
        }
        if (atomic_load_explicit(&pp->preempt, memory_order_relaxed))
            any_preempt = true;
    }
    atomic_store_explicit(&rt__preempt_pending, any_preempt, memory_order_relaxed);
    /* Every P runs C code that does not call into the runtime: the debug
     * server's goroutines cannot run; its rescue thread may serve. */
    if (stuck_running == procs) {
        if (ps_held_for_good(procs, now))
            rt__dh_rescue_check();
    } else {
        for (int32_t i = 0; i < procs; i++)
            rt__sched.allp[i]->sysmon_cpu_at = 0;
    }
    return n;
}

/* How many readies left (or, sysmon being slow, would have left) an idle
 * P asleep since the last tick (proc.c, wake_can_wait). */
static uint32_t wakes_deferred(void)
{
    uint32_t n = 0;
    int32_t procs = __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE);
    for (int32_t i = 0; i < procs; i++) {
        rt_p *pp = rt__sched.allp[i];
        uint32_t d = atomic_load_explicit(&pp->wakes_deferred, memory_order_relaxed);
        n += d - pp->sysmon_deferred;
        pp->sysmon_deferred = d;
    }
    return n;
}

/*
 * Whether deferred wake-ups come often enough to pay for the fast tick
 * that backs them (proc.c, "Waking an idle P").  A deferral saves a futex
 * wake of an idle M (microseconds on both sides); the 20 us tick costs a
 * sysmon wake-up every 20 us.  A producer-consumer pair on a buffered
 * channel defers millions a second and gains; a goroutine that forwards
 * a 1 ms ticker's ticks into a channel defers a thousand, and kept sysmon
 * waking 22,000 times a second for them -- 12x Go's CPU for a program that
 * mostly waits (an outside tester's find).  A leaky bucket: each deferral
 * adds 2 ticks' worth of time, the clock drains it; dense while it holds
 * any (one deferral per 40 us and more), within [-1 ms, +1 ms] so that a
 * change of pace is seen within a millisecond or so.
 */
#define DENSE_CREDIT_NS (2 * RT_WAKE_WAIT_NS)
#define DENSE_BOUND_NS RT_MILLISECOND

static bool deferrals_dense(int64_t elapsed, int64_t *score)
{
    int64_t s = *score + (int64_t)wakes_deferred() * DENSE_CREDIT_NS - elapsed;
    if (s > DENSE_BOUND_NS)
        s = DENSE_BOUND_NS;
    if (s < -DENSE_BOUND_NS)
        s = -DENSE_BOUND_NS;
    *score = s;
    return s > 0;
}

/* How long sysmon must see the global queue non-empty with every P idle
 * (at every tick in between) before it calls it a lost wake-up: far past
 * the microseconds between a put and its wake-up, even on a loaded host. */
#define STRANDED_NS (100 * RT_MILLISECOND)

/* Called every tick; since: when the condition was first seen (0: not). */
static void stranded_check(int64_t now, int64_t *since)
{
    if (atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) <
            __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE) ||
        atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed) ||
        atomic_load_explicit(&rt__sched.stopping, memory_order_relaxed)) {
        *since = 0;
        return;
    }
    if (*since == 0) {
        *since = now;
        return;
    }
    if (now - *since < STRANDED_NS)
        return;
    *since = 0;
    atomic_fetch_add_explicit(&rt__sched.stranded_count, 1, memory_order_relaxed);
    rt__wakep();
}

/*
 * Deep sleep
 *   Once every P has been idle at DEEP_AFTER_TICKS ticks in a row and for
 *   DEEP_AFTER_NS at least (no goroutine running, none in a system call
 *   holding a P, none queued), sysmon has nothing to
 *   retake, no goroutine to rescue and no deferred wake-up to back: it
 *   sleeps on rt__sched.sysmon_note until a P leaves the idle list (proc.c,
 *   npidle_dec, wakes it), the earliest timer is a millisecond overdue (its
 *   backstop), the heap's scavenger is due (rt__gc_sysmon_due: a periodic
 *   pass, or pages to give back over the retained bound), or DEEP_MAX_NS
 *   passes (the stack pool's trim comes that much late at most).  Go's
 *   sysmon does the same (sysmonwait, up to forcegcperiod/2).  Without it
 *   an idle program woke 100 times a second for the 10 ms tick (an outside
 *   tester's find; Go 5-9 in all).  The wait after the Ps went idle keeps
 *   a program that idles between requests from paying a futex wake-up of
 *   sysmon per request.  Woken for work, sysmon ticks every millisecond
 *   DEEP_WAKE_TICKS times, then backs off as before (a kick or a retake
 *   brings the 20 us tick back), so that its
 *   backstops (a timer of a P whose goroutine computes in C, a goroutine
 *   stuck there) come a millisecond or two after the program wakes -- at
 *   its 10 ms tick, a 5 ms sleep beside such a goroutine took 10 (an
 *   outside tester's find; Go 5.5) -- and a program that wakes for a
 *   moment every second costs it ~4 ticks a wake-up.  Not with schedtrace
 *   on: a report is due every period.
 */
#define DEEP_AFTER_TICKS 3
#define DEEP_AFTER_NS (2 * RT_MILLISECOND)
#define DEEP_WAKE_TICKS 10
#define DEEP_MAX_NS   RT_SECOND

/*
 * Kicks
 *   A goroutine that enters a system call with goroutines queued behind it
 *   on its P (rt__syscall_enter) while sysmon is on a slow tick kicks it:
 *   the flag, and a wake-up of its note, on which every sleep of sysmon
 *   waits.  sysmon then ticks every 20 us again, so the retake comes within
 *   two ticks -- as Go's entersyscall wakes a sysmon in sysmonwait and
 *   resets its delay.  A kick while the flag is set costs a load.
 */
void rt__sysmon_kick(void)
{
    if (!atomic_load_explicit(&rt__sched.sysmon_kick, memory_order_relaxed) &&
        !atomic_exchange_explicit(&rt__sched.sysmon_kick, 1, memory_order_seq_cst))
        rt__note_wakeup(&rt__sched.sysmon_note);
}

/* A tick: sleeps ns on the note, unless kicked meanwhile; returns whether
 * it was (and takes the kick). */
static bool tick_sleep(int64_t ns)
{
    rt__note_clear(&rt__sched.sysmon_note);
    if (!atomic_load_explicit(&rt__sched.sysmon_kick, memory_order_seq_cst))
        (void)rt__note_tsleep(&rt__sched.sysmon_note, ns);
    return atomic_exchange_explicit(&rt__sched.sysmon_kick, 0, memory_order_seq_cst) != 0;
}

/* seq_cst: the load of npidle is sysmon's side of the Dekker pair with
 * npidle_dec. */
static bool all_ps_idle(void)
{
    return atomic_load_explicit(&rt__sched.npidle, memory_order_seq_cst) ==
               __atomic_load_n(&rt__sched.gomaxprocs, __ATOMIC_ACQUIRE) &&
           atomic_load_explicit(&rt__sched.runqsize, memory_order_relaxed) == 0 &&
           !atomic_load_explicit(&rt__sched.gcwaiting, memory_order_relaxed) &&
           atomic_load_explicit(&rt__sched.running, memory_order_acquire);
}

/* Sleeps while every P stays idle; returns whether it was woken (a P was
 * taken, or a waker raced with the sleep's start). */
static bool deep_sleep(int64_t now)
{
    int64_t sleep = DEEP_MAX_NS;
    int64_t next = rt__timers_next();
    if (next != 0 && next + RT_MILLISECOND - now < sleep)
        sleep = next + RT_MILLISECOND - now;
    if (rt__gc_sysmon_due(now) - now < sleep)
        sleep = rt__gc_sysmon_due(now) - now;
    if (sleep <= 10 * RT_MILLISECOND)
        return false; /* the usual tick will do */
    bool woken = true;
    atomic_store_explicit(&rt__sched.sysmon_fast, 0, memory_order_relaxed);
    rt__note_clear(&rt__sched.sysmon_note);
    atomic_store_explicit(&rt__sched.sysmon_wait, 1, memory_order_seq_cst);
    if (all_ps_idle())
        woken = rt__note_tsleep(&rt__sched.sysmon_note, sleep);
    /* (a waker that took the flag first wakes the note later: the next
     * deep sleep may end at once, harmlessly) */
    atomic_store_explicit(&rt__sched.sysmon_wait, 0, memory_order_seq_cst);
    return woken;
}

void rt__sysmon_main(rt_m *mp)
{
    (void)mp;
    int64_t delay = 20 * RT_MICROSECOND;
    int idle = 0;
    int64_t last_trim = rt_nanotime();
    int64_t last_trace = 0;
    int64_t stranded_since = 0;
    int64_t last_tick = rt_nanotime(), dense_score = 0;
    int64_t idle_since = 0; /* the first tick of a run that saw every P idle */
    int idle_ticks = 0;     /* the run's ticks */
    for (;;) {
        /* /debug/grt/settings may change it while the program runs */
        const int64_t trace_every =
            (int64_t)__atomic_load_n(&rt__debug.schedtrace, __ATOMIC_RELAXED) * RT_MILLISECOND;
        if (idle == 0)
            delay = 20 * RT_MICROSECOND;
        else if (idle > 50)
            delay *= 2;
        if (delay > 10 * RT_MILLISECOND)
            delay = 10 * RT_MILLISECOND;
        /* With schedtrace on, never sleep past the next report. */
        if (trace_every > 0 && delay > trace_every)
            delay = trace_every;
        /* Before the sleep: a ready that sees it true knows this sleep
         * ends within RT_WAKE_WAIT_NS (or within the next, doubled, one
         * if it raced with this store). */
        atomic_store_explicit(&rt__sched.sysmon_fast, delay <= RT_WAKE_WAIT_NS,
                              memory_order_relaxed);
        atomic_store_explicit(&rt__sched.sysmon_delay, delay, memory_order_relaxed);
        if (tick_sleep(delay)) {
            idle = 0; /* kicked: the short tick from this one on */
            delay = 20 * RT_MICROSECOND;
        }
        int64_t now = rt_nanotime();
        atomic_store_explicit(&rt__sched.coarse_now, now, memory_order_relaxed);
        rt__tsc_calibrate(now);
        if (trace_every > 0 && (last_trace == 0 || now - last_trace >= trace_every) &&
            atomic_load_explicit(&rt__sched.running, memory_order_acquire)) {
            last_trace = now;
            rt__schedtrace(now, __atomic_load_n(&rt__debug.scheddetail, __ATOMIC_RELAXED) > 0);
        }
        if (atomic_load_explicit(&rt__throwing, memory_order_relaxed))
            continue;
        if (RT_DEBUG >= 3)
            rt__sched_check();
        int woke = retake(now);
        if (deferrals_dense(now - last_tick, &dense_score) || woke > 0)
            idle = 0;
        else
            idle++;
        last_tick = now;
        int64_t next = rt__timers_next();
        if (next != 0 && next < now - RT_MILLISECOND &&
            atomic_load_explicit(&rt__sched.npidle, memory_order_relaxed) > 0) {
            rt__wakep();
            idle = 0;
        }
        stranded_check(now, &stranded_since);
        rt__netpoll_sysmon(now);
        if (now - last_trim >= RT_SECOND) {
            last_trim = now;
            /* 2048 stacks a second at most: a burst of exits is not a
             * burst of madvise calls, whose TLB shootdowns stall the
             * program's threads (8192 a second took the 99th percentile
             * of test_timer_latency's 100k sleepers past 1 ms in CI);
             * rt_free_os_memory gives them all back at once */
            rt__stack_pool_trim(2048, 1024);
            rt__stack_pool_shed(1024, 256);
        }
        rt__gc_sysmon(now);
        if (trace_every > 0 || !all_ps_idle()) {
            idle_since = 0;
            idle_ticks = 0;
        } else if (idle_since == 0) {
            idle_since = now;
            idle_ticks = 1;
        } else if (++idle_ticks >= DEEP_AFTER_TICKS && now - idle_since >= DEEP_AFTER_NS &&
                   deep_sleep(now)) {
            /* woken for work: "Deep sleep" */
            idle_since = 0;
            idle_ticks = 0;
            delay = RT_MILLISECOND;
            idle = 51 - DEEP_WAKE_TICKS;
        }
    }
}
