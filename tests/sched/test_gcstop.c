/*
 * tests/sched/test_gcstop.c -- stopping the world for the collector and
 * the scheduler's roots (sched/gcstop.c).
 *
 * Roots tests plant a value that appears nowhere else (computed at run
 * time from a salt, so no copy sits in the test's own frames) in one
 * goroutine's local variable or register, stop the world, and require
 * rt__gc_sched_roots to report a range holding it -- inside that
 * goroutine's stack, or the register block of its M.
 */
#include <check.h>
#include <fcntl.h>
#include <stdatomic.h>
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

static void find_fn(uintptr_t lo, uintptr_t hi, void *ctx)
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
    /* A G record's arg, a timer's arg and the initiator's own local. */
    rt_chan *ch = rt_chan_make(sizeof(int), 0);
    (void)ch;
    static rt__timer t;
    t.when = rt_nanotime() + 60 * RT_SECOND;
    t.f = timer_cb;
    t.arg = (void *)magic(4);
    rt__timer_add(&t);
    find f = {.want_inv = ~magic(4)};
    rt__gc_stopworld();
    rt__gc_sched_roots(find_fn, &f);
    rt__gc_startworld();
    REQUIRE_GE(f.hits, 1);
    REQUIRE(f.where == (uintptr_t)&t.arg);
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

/* ------------------------------------------------------------- suite --- */

int main(void)
{
    Suite *s = suite_create("gcstop");
    TCase *tc = tcase_create("gcstop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roots_parked_local);
    tcase_add_test(tc, test_roots_syscall_local);
    tcase_add_test(tc, test_roots_records);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
