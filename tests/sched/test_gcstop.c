/*
 * tests/sched/test_gcstop.c -- stopping the world for the collector and
 * the scheduler's roots (sched/gcstop.c).
 *
 * Roots tests plant a value that appears nowhere else (computed at run
 * time from a salt, so no copy sits in the test's own frames) in one
 * goroutine's local variable or register, stop the world, and require
 * rt__gc_sched_roots to report a range holding it -- inside that
 * goroutine's stack, or the register block of its M.  The stable set a
 * concurrent mark's first stop reads has no goroutine in it; they are
 * listed with the world running, parked ones found all the same.
 *
 * While the world is stopped the test body (the initiator) must not park
 * (rt_sleep would): it naps with nanosleep.
 */
#include <check.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sched/sched.h"

/* ------------------------------------------------------------ helpers -- */

static volatile uintptr_t salt = 0x5a5a1234u; /* volatile: not folded */

static uintptr_t magic(int i)
{
    return (uintptr_t)0x6d61676963000000ull ^ (salt * (uintptr_t)(i + 3));
}

/* What the scan looks for is kept inverted, so that the initiator's own
 * stack (which is scanned too) does not hold the value itself. */
typedef struct find {
    uintptr_t want_inv;   /* ~the value */
    uintptr_t skip_lo, skip_hi; /* hits here do not count (0, 0: none) */
    int hits;             /* words holding the value */
    uintptr_t where;      /* address of the last hit */
    bool bad_range;       /* a range not word-aligned or empty */
} find;

/* Reads goroutine stacks through ASan's redzones and memory other threads
 * wrote without synchronising with it (TSan), as the collector will. */
#define SCANNER __attribute__((no_sanitize("address", "thread")))

SCANNER static void find_fn(uintptr_t lo, uintptr_t hi, void *ctx)
{
    find *f = ctx;
    if (lo >= hi || lo % sizeof(uintptr_t) || hi % sizeof(uintptr_t))
        f->bad_range = true;
    for (uintptr_t a = lo; a < hi; a += sizeof(uintptr_t)) {
        if (~*(const uintptr_t *)a == f->want_inv &&
            !(a >= f->skip_lo && a < f->skip_hi)) {
            f->hits++;
            f->where = a;
        }
    }
}

/* Stops the world, looks for the value ~want_inv outside the initiator's
 * stack, restarts; true if found inside [in_lo, in_hi) (or anywhere if
 * in_hi is 0). */
static bool roots_have(uintptr_t want_inv, uintptr_t in_lo, uintptr_t in_hi)
{
    rt_g *self = rt__getg();
    find f = {.want_inv = want_inv, .skip_lo = self->stack.lo,
              .skip_hi = self->stack.hi};
    rt__gc_stopworld();
    rt__gc_sched_roots(find_fn, &f);
    rt__gc_startworld();
    REQUIRE(!f.bad_range);
    if (f.hits == 0)
        return false;
    return in_hi == 0 || (f.where >= in_lo && f.where < in_hi);
}

/* ------------------------------------------- roots: a parked goroutine -- */

static rt_chan *park_ch;
static _Atomic(rt_g *) parked_g;

static void parked_holder(void *arg)
{
    (void)arg;
    volatile uintptr_t local = magic(1);
    atomic_store(&parked_g, rt__getg());
    int v;
    rt_chan_recv(park_ch, &v);
    REQUIRE_EQ(local, magic(1));
}

RT_TEST(test_roots_parked_local)
{
    rt_maxprocs(2);
    park_ch = rt_chan_make(sizeof(int), 0);
    rt_go(parked_holder, NULL);
    WAIT_UNTIL(atomic_load(&parked_g) != NULL &&
               atomic_load(&parked_g->status) == RT_GWAITING);
    rt_g *gp = atomic_load(&parked_g);
    REQUIRE(roots_have(~magic(1), gp->stack.lo, gp->stack.hi));
    int v = 1;
    rt_chan_send(park_ch, &v);
}

/* A concurrent mark's start (gc/collector.c, step 2) stops the world only
 * for the stable set, which leaves the goroutines out: listing 100k of
 * them took that stop 1.5 ms.  They are listed with the world running
 * (rt__gc_goroutine_roots_running), parked ones from their saved stack
 * pointers, while others run, start and exit around the listing. */
static _Atomic int churn_stop;

static void churn_child(void *arg)
{
    (void)arg;
}

static void churner(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        rt_go(churn_child, NULL);
        rt_yield();
    }
}

RT_TEST(test_roots_goroutines_listed_running)
{
    rt_maxprocs(2);
    park_ch = rt_chan_make(sizeof(int), 0);
    atomic_store(&parked_g, NULL);
    rt_go(parked_holder, NULL);
    WAIT_UNTIL(atomic_load(&parked_g) != NULL &&
               atomic_load(&parked_g->status) == RT_GWAITING);
    rt_g *gp = atomic_load(&parked_g);
    rt_g *self = rt__getg();
    find f = {.want_inv = ~magic(1), .skip_lo = self->stack.lo, .skip_hi = self->stack.hi};
    rt__gc_stopworld();
    rt__gc_sched_roots_stable(find_fn, &f);
    rt__gc_startworld();
    REQUIRE(!f.bad_range);
    REQUIRE_EQ(f.hits, 0); /* not in the stop */
    atomic_store(&churn_stop, 0);
    rt_go(churner, NULL);
    for (int i = 0; i < 200; i++) {
        find g = {.want_inv = ~magic(1), .skip_lo = self->stack.lo, .skip_hi = self->stack.hi};
        rt__gc_goroutine_roots_running(find_fn, &g);
        REQUIRE(!g.bad_range);
        REQUIRE_EQ(g.hits, 1);
        REQUIRE(g.where >= gp->stack.lo && g.where < gp->stack.hi);
    }
    atomic_store(&churn_stop, 1);
    int v = 1;
    rt_chan_send(park_ch, &v);
}

/* ------------------------------------------- roots: a goroutine in read -- */

static int pipefd[2];
static _Atomic(rt_g *) sys_g;
static _Atomic int sys_done;

static void syscall_holder(void *arg)
{
    (void)arg;
    volatile uintptr_t local = magic(2);
    /* Another one that only a register or a spill slot holds across the
     * call: rt_syscall_enter must save it. */
    uintptr_t reg = magic(3);
    __asm__ volatile("" : "+r"(reg));
    atomic_store(&sys_g, rt__getg());
    char c;
    ssize_t n = RT_BLOCKING(read(pipefd[0], &c, 1));
    __asm__ volatile("" : "+r"(reg));
    REQUIRE_EQ(n, 1);
    REQUIRE_EQ(local, magic(2));
    REQUIRE_EQ(reg, magic(3));
    atomic_store(&sys_done, 1);
}

RT_TEST(test_roots_syscall_local)
{
    rt_maxprocs(2);
    REQUIRE_EQ(pipe(pipefd), 0);
    rt_go(syscall_holder, NULL);
    WAIT_UNTIL(atomic_load(&sys_g) != NULL &&
               atomic_load(&sys_g->status) == RT_GSYSCALL);
    rt_sleep(RT_MILLISECOND); /* well inside read(2) */
    rt_g *gp = atomic_load(&sys_g);
    REQUIRE(roots_have(~magic(2), gp->syscallsp, gp->stack.hi));
    REQUIRE(roots_have(~magic(3), 0, 0));
    REQUIRE_EQ(write(pipefd[1], "x", 1), 1);
    WAIT_UNTIL(atomic_load(&sys_done));
}

/* ------------------------------------------------- roots: the records -- */

static void timer_cb(void *arg, uintptr_t seq, int64_t now)
{
    (void)arg;
    (void)seq;
    (void)now;
}

RT_TEST(test_roots_records)
{
    /* A pending timer's slot in its P's heap (the timer itself is not
     * read there: it lives in a GC object, on a stack, or in runtime
     * memory holding no GC pointer -- gcstop.c, sched_roots) and the
     * initiator's own local. */
    rt_chan *ch = rt_chan_make(sizeof(int), 0);
    (void)ch;
    static rt__timer t;
    t.when = rt_nanotime() + 60 * RT_SECOND;
    t.f = timer_cb;
    t.arg = (void *)magic(4);
    rt__timer_add(&t);
    find f = {.want_inv = ~(uintptr_t)&t};
    rt__gc_stopworld();
    rt__gc_sched_roots(find_fn, &f);
    rt__gc_startworld();
    REQUIRE_GE(f.hits, 1);
    rt_p *tp = atomic_load(&t.pp);
    REQUIRE(tp != NULL);
    REQUIRE(f.where >= (uintptr_t)tp->timers.heap &&
            f.where < (uintptr_t)(tp->timers.heap + tp->timers.len));
    /* The initiator's own local. */
    volatile uintptr_t mine = magic(5);
    rt_g *self = rt__getg();
    find f2 = {.want_inv = ~magic(5)};
    rt__gc_stopworld();
    rt__gc_sched_roots(find_fn, &f2);
    rt__gc_startworld();
    REQUIRE_GE(f2.hits, 1);
    REQUIRE(f2.where >= self->stack.lo && f2.where < self->stack.hi);
    REQUIRE_EQ(mine, magic(5));
    REQUIRE(rt__timer_del(&t));
}


static void nap(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / RT_SECOND, .tv_nsec = ns % RT_SECOND};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------ stopping spinning goroutines -- */

/* One counter per spinner, a cache line each; the spinners make no runtime
 * call at all. */
static _Atomic uint64_t spin_count[8][8]; /* (atomic: the body reads them while they run) */
static _Atomic int spin_quit;

static void spinner(void *arg)
{
    _Atomic uint64_t *c = spin_count[(intptr_t)arg];
    while (!atomic_load_explicit(&spin_quit, memory_order_relaxed)) /* (no RMW: one writer) */
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

static void stop_spinners(int procs)
{
    rt_maxprocs(procs);
    int n = procs - 1; /* one P left for the test body */
    for (int i = 0; i < n; i++)
        rt_go(spinner, (void *)(intptr_t)i);
    for (int i = 0; i < n; i++)
        WAIT_UNTIL(spin_count[i][0] > 1000);
    for (int round = 0; round < 3; round++) {
        uint64_t before[8], after[8];
        rt__gc_stopworld();
        for (int i = 0; i < n; i++)
            before[i] = spin_count[i][0];
        nap(50 * RT_MILLISECOND);
        for (int i = 0; i < n; i++)
            after[i] = spin_count[i][0];
        rt__gc_startworld();
        for (int i = 0; i < n; i++)
            REQUIRE_EQ(after[i], before[i]);
        for (int i = 0; i < n; i++)
            WAIT_UNTIL(spin_count[i][0] > after[i] + 1000);
    }
    atomic_store(&spin_quit, 1);
}

RT_TEST(test_stop_spinners_2) { stop_spinners(2); }
RT_TEST(test_stop_spinners_4) { stop_spinners(4); }

/* rt_maxprocs growing stops them with the signal too. */
RT_TEST(test_maxprocs_grow_with_spinner)
{
    rt_maxprocs(2);
    rt_go(spinner, (void *)0);
    WAIT_UNTIL(spin_count[0][0] > 1000);
    REQUIRE_EQ(rt_maxprocs(3), 2);
    REQUIRE_EQ(rt_maxprocs(4), 3);
    atomic_store(&spin_quit, 1);
}

/* --------------------------------- roots: a spinning goroutine's values -- */

static _Atomic int reg_ready;
static _Atomic(rt_g *) reg_g;

static void reg_spinner(void *arg)
{
    (void)arg;
    volatile uintptr_t local = magic(7);
    uintptr_t v = magic(6);
    atomic_store(&reg_g, rt__getg());
    atomic_store(&reg_ready, 1);
    /* v stays in a register: no call in the loop, and the empty asm
     * needs it in one on every iteration. */
    while (!atomic_load_explicit(&spin_quit, memory_order_relaxed))
        __asm__ volatile("" : "+r"(v));
    REQUIRE_EQ(v, magic(6));
    REQUIRE_EQ(local, magic(7));
}

RT_TEST(test_roots_spinning_register_and_local)
{
    rt_maxprocs(2);
    rt_go(reg_spinner, NULL);
    WAIT_UNTIL(atomic_load(&reg_ready));
    nap(RT_MILLISECOND); /* into the loop */
    rt_g *gp = atomic_load(&reg_g);
    rt_g *self = rt__getg();
    find f = {.want_inv = ~magic(6), .skip_lo = self->stack.lo,
              .skip_hi = self->stack.hi};
    rt__gc_stopworld();
    rt_m *mp = gp->m; /* stopped: stable now */
    rt__gc_sched_roots(find_fn, &f);
    rt__gc_startworld();
    REQUIRE_GE(f.hits, 1);
#if defined(__SANITIZE_THREAD__)
    /* TSan runs the handler late, from an interception point: the value
     * is in the spilled frames on the goroutine's stack, not in a copied
     * context. */
    (void)mp;
    REQUIRE(f.where >= gp->stack.lo && f.where < gp->stack.hi);
#else
    REQUIRE_MSG(f.where >= (uintptr_t)mp->gcstop_regs &&
                    f.where < (uintptr_t)(mp->gcstop_regs + RT_GCSTOP_NREGS),
                "register value found at %#lx, not in the M's register block",
                (unsigned long)f.where);
#endif
    REQUIRE(roots_have(~magic(7), gp->stack.lo, gp->stack.hi));
    atomic_store(&spin_quit, 1);
}

/* ------------------------------------------------- no-stop regions ------ */

static rt__lock held_lock;
static _Atomic int holding;
static _Atomic int64_t released_at;
static volatile uint64_t after_release;

static void lock_holder(void *arg)
{
    (void)arg;
    rt__lock_acquire(&held_lock);
    atomic_store(&holding, 1);
    int64_t end = rt_nanotime() + 50 * RT_MILLISECOND;
    while (rt_nanotime() < end)
        ;
    atomic_store(&released_at, rt_nanotime());
    rt__lock_release(&held_lock);
    while (!atomic_load_explicit(&spin_quit, memory_order_relaxed))
        after_release++;
}

RT_TEST(test_stop_waits_for_lock_holder)
{
    rt_maxprocs(2);
    rt_go(lock_holder, NULL);
    WAIT_UNTIL(atomic_load(&holding));
    rt__gc_stopworld();
    int64_t stopped_at = rt_nanotime();
    int64_t rel = atomic_load(&released_at);
    uint64_t a = after_release;
    nap(20 * RT_MILLISECOND);
    uint64_t b = after_release;
    rt__gc_startworld();
    REQUIRE_NE(rel, 0);           /* it released the lock first */
    REQUIRE_LE(rel, stopped_at);
    REQUIRE_EQ(a, b);             /* and then stopped */
    atomic_store(&spin_quit, 1);
}

static _Atomic int waiter_in, waiter_got;

static void lock_waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiter_in, 1);
    rt__lock_acquire(&held_lock); /* held by the test body: waits */
    atomic_store(&waiter_got, 1);
    rt__lock_release(&held_lock);
}

/* A thread waiting for a lock (held by the initiator) can be stopped.
 * The body holds a runtime lock, so it must not park until it releases
 * it: it waits with nanosleep, not WAIT_UNTIL. */
RT_TEST(test_lock_waiter_is_stoppable)
{
    rt_maxprocs(2);
    rt__lock_acquire(&held_lock);
    rt_go(lock_waiter, NULL);
    for (int i = 0; !atomic_load(&waiter_in); i++) {
        REQUIRE_LT(i, 20000);
        nap(RT_MILLISECOND);
    }
    nap(5 * RT_MILLISECOND); /* past its spinning, into FUTEX_WAIT */
    rt__gc_stopworld();
    rt__gc_startworld();
    bool got = atomic_load(&waiter_got);
    rt__lock_release(&held_lock);
    REQUIRE(!got);
    WAIT_UNTIL(atomic_load(&waiter_got));
}

/* ------------------------------------------------------------ stress --- */

/*
 * Goroutines that switch (channel ping-pong, short-lived goroutines),
 * allocate, sleep on timers, make system calls and spin without any
 * runtime call, while the body stops and starts the world 1000 times.
 * All but the spinner nap now and then: with no preemption, the body must
 * find a P free often enough to steal it back from a busy one.
 */
static _Atomic int churn_quit;
static _Atomic uint64_t churn_ops;

static bool churn_step(void)
{
    uint64_t n = atomic_fetch_add_explicit(&churn_ops, 1, memory_order_relaxed);
    if (n % 128 == 0)
        rt_sleep(100 * RT_MICROSECOND);
    return !atomic_load_explicit(&churn_quit, memory_order_relaxed);
}

static void pinger(void *arg)
{
    rt_chan *c = arg;
    int v = 0;
    while (churn_step())
        rt_chan_send(c, &v);
    rt_chan_close(c);
}

static void ponger(void *arg)
{
    rt_chan *c = arg;
    int v;
    while (rt_chan_recv(c, &v))
        ;
}

static void allocator(void *arg)
{
    (void)arg;
    while (churn_step())
        REQUIRE(rt__gc_alloc(48, false) != NULL);
}

static void sleeper(void *arg)
{
    (void)arg;
    while (churn_step())
        (void)RT_BLOCKING(usleep(20));
}

static void short_lived(void *arg)
{
    (void)arg;
}

static void forker(void *arg)
{
    (void)arg;
    while (churn_step()) {
        rt_go(short_lived, NULL);
        rt_yield();
    }
}

SCANNER static void count_fn(uintptr_t lo, uintptr_t hi, void *ctx)
{
    *(uint64_t *)ctx += (hi - lo) / sizeof(uintptr_t);
}

RT_TEST(test_stop_start_1000_under_churn)
{
    /* No collections of the allocator's garbage meanwhile: a cycle is an
     * initiator too, and gc_cycle holds a runtime lock (the shared cache's)
     * across rt__gc_stopworld, which parks when our stop holds the world
     * -- with that lock held. */
    rt_set_gc_percent(-1);
    rt_maxprocs(4);
    rt_go(spinner, (void *)0);
    WAIT_UNTIL(spin_count[0][0] > 1000);
    for (int i = 0; i < 2; i++) {
        rt_chan *c = rt_chan_make(sizeof(int), (size_t)i);
        rt_go(pinger, c);
        rt_go(ponger, c);
    }
    rt_go(allocator, NULL);
    rt_go(sleeper, NULL);
    rt_go(forker, NULL);
    WAIT_UNTIL(atomic_load(&churn_ops) > 1000);
    for (int i = 0; i < 1000; i++) {
        uint64_t words = 0;
        rt__gc_stopworld();
        rt__gc_sched_roots(count_fn, &words);
        uint64_t s1 = spin_count[0][0];
        nap(10 * RT_MICROSECOND);
        bool stopped = spin_count[0][0] == s1;
        rt__gc_startworld();
        REQUIRE(stopped);
        REQUIRE_GT(words, 0);
        if (i % 16 == 0)
            rt_yield();
    }
    uint64_t ops = atomic_load(&churn_ops);
    WAIT_UNTIL(atomic_load(&churn_ops) > ops + 1000); /* still going */
    atomic_store(&churn_quit, 1);
    atomic_store(&spin_quit, 1);
}

/* ------------------------------------------------------------- suite --- */

int main(void)
{
    Suite *s = suite_create("gcstop");
    TCase *roots = tcase_create("roots");
    tcase_set_timeout(roots, 60);
    tcase_add_test(roots, test_roots_parked_local);
    tcase_add_test(roots, test_roots_goroutines_listed_running);
    tcase_add_test(roots, test_roots_syscall_local);
    tcase_add_test(roots, test_roots_records);
    tcase_add_test(roots, test_roots_spinning_register_and_local);
    suite_add_tcase(s, roots);
    TCase *stop = tcase_create("stop");
    tcase_set_timeout(stop, 60);
    tcase_add_test(stop, test_stop_spinners_2);
    tcase_add_test(stop, test_stop_spinners_4);
    tcase_add_test(stop, test_maxprocs_grow_with_spinner);
    tcase_add_test(stop, test_stop_waits_for_lock_holder);
    tcase_add_test(stop, test_lock_waiter_is_stoppable);
    suite_add_tcase(s, stop);
    TCase *stress = tcase_create("stress");
    tcase_set_timeout(stress, 100);
    tcase_add_test(stress, test_stop_start_1000_under_churn);
    suite_add_tcase(s, stress);
    return harness_run_suite(s);
}
