/*
 * tests/pprof/test_blockprof.c -- the block and mutex profiles, read back
 * by `go tool pprof`.
 *
 *   - block, channel: a receiver waits 10 x 20 ms for a sender that
 *     sleeps; the profile's top row is rt_chan_recv, called from the
 *     receiving function, with 10 contentions and 200 ms of delay (+-20 %);
 *   - block, mutex: a goroutine waits on an rt_mutex held 5 x 20 ms;
 *     rt_mutex_lock carries the delay (+-20 %);
 *   - mutex profile (fraction 1): the same contention is charged to the
 *     unlocking stack (the holder), +-20 %, with rt_mutex_unlock on top
 *     (Go's stacks start at sync.(*Mutex).Unlock);
 *   - rate 0 records nothing.
 */
#include <stdatomic.h>

#include "pprof_test.h"

/* runtime/symtab.c: lookups that missed its cache and read libdw */
extern _Atomic uint64_t rt__symtab_misses;

#define NOINLINE __attribute__((noinline))

static void write_profile(const char *name, const char *file, int debug)
{
    int fd = pp_create(file);
    REQUIRE_EQ(rt_pprof_write(name, fd, debug), 0);
    close(fd);
}

static void slow_sender(void *p)
{
    rt_chan *c = p;
    for (int i = 0; i < 10; i++) {
        rt_sleep(20 * RT_MILLISECOND);
        rt_chan_send(c, &i);
    }
}

NOINLINE static int64_t chan_receiver(rt_chan *c)
{
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < 10; i++) {
        int v;
        REQUIRE(rt_chan_recv(c, &v));
    }
    return rt_nanotime() - t0;
}

RT_TEST(test_block_chan)
{
    rt_set_block_profile_rate(1);
    rt_chan *c = rt_chan_make(sizeof(int), 0);
    REQUIRE_GT(rt_go(slow_sender, c), 0);
    int64_t waited = chan_receiver(c);
    rt_set_block_profile_rate(0);
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("block.pb.gz"));
    write_profile("block", file, 0);
    char *top = pp_tool("-top -unit=ns -sample_index=delay %s", file);
    char first[256];
    pp_first(top, first, sizeof first);
    REQUIRE_MSG(strcmp(first, "rt_chan_recv") == 0, "first: %s\n%s", first, top);
    double f, c1;
    REQUIRE_MSG(pp_row(top, "chan_receiver", &f, &c1), "no chan_receiver:\n%s", top);
    REQUIRE_MSG(c1 > (double)waited * 0.8 && c1 < (double)waited * 1.2,
                "delay %.0f ns, waited %lld ns:\n%s", c1, (long long)waited, top);
    fprintf(stderr, "pprof block: chan delay %.1f ms for %.1f ms waited\n", c1 / 1e6,
            (double)waited / 1e6);
    free(top);
    top = pp_tool("-top -sample_index=contentions %s", file);
    REQUIRE_MSG(pp_row(top, "chan_receiver", &f, &c1) && c1 == 10, "contentions:\n%s", top);
    free(top);
}

static rt_mutex mu;

static void holder(void *p)
{
    rt_chan *ready = p;
    for (int i = 0; i < 5; i++) {
        rt_mutex_lock(&mu);
        if (i == 0)
            rt_chan_send(ready, NULL);
        rt_sleep(20 * RT_MILLISECOND);
        rt_mutex_unlock(&mu);
        rt_sleep(2 * RT_MILLISECOND); /* let the waiter in */
    }
}

NOINLINE static int64_t mutex_waiter(void)
{
    int64_t waited = 0;
    for (int i = 0; i < 5; i++) {
        int64_t t0 = rt_nanotime();
        rt_mutex_lock(&mu);
        waited += rt_nanotime() - t0;
        rt_mutex_unlock(&mu);
        rt_sleep(1 * RT_MILLISECOND); /* the holder takes it back */
    }
    return waited;
}

RT_TEST(test_block_and_mutex_profiles)
{
    rt_set_block_profile_rate(1);
    REQUIRE_EQ(rt_set_mutex_profile_fraction(1), 0);
    REQUIRE_EQ(rt_set_mutex_profile_fraction(-1), 1);
    rt_chan *ready = rt_chan_make(0, 1);
    REQUIRE_GT(rt_go(holder, ready), 0);
    REQUIRE(rt_chan_recv(ready, NULL));
    int64_t waited = mutex_waiter();
    rt_set_block_profile_rate(0);
    rt_set_mutex_profile_fraction(0);

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("block.pb.gz"));
    write_profile("block", file, 0);
    char *top = pp_tool("-top -unit=ns -sample_index=delay %s", file);
    double f, c;
    REQUIRE_MSG(pp_row(top, "mutex_waiter", &f, &c) && c > (double)waited * 0.8 &&
                    c < (double)waited * 1.2,
                "mutex_waiter delay %.0f, waited %lld:\n%s", c, (long long)waited, top);
    REQUIRE_MSG(pp_row(top, "rt_mutex_lock", &f, &c), "no rt_mutex_lock:\n%s", top);
    free(top);

    snprintf(file, sizeof file, "%s", pp_path("mutex.pb.gz"));
    write_profile("mutex", file, 0);
    top = pp_tool("-top -unit=ns -sample_index=delay %s", file);
    REQUIRE_MSG(pp_row(top, "holder", &f, &c) && c > (double)waited * 0.8 &&
                    c < (double)waited * 1.2,
                "holder (unlocker) delay %.0f, waited %lld:\n%s", c, (long long)waited, top);
    /* Each stack starts at the unlock, as Go's at sync.(*Mutex).Unlock:
     * rt_mutex_unlock is the leaf (flat) of the holder's delay. */
    double fu, cu;
    REQUIRE_MSG(pp_row(top, "rt_mutex_unlock", &fu, &cu) && fu > c * 0.99,
                "rt_mutex_unlock not the leaf of the unlocker's stacks:\n%s", top);
    fprintf(stderr, "pprof mutex: delay %.1f ms for %.1f ms waited\n", c / 1e6,
            (double)waited / 1e6);
    free(top);
}

/* Each blocking primitive is the leaf of its own records, as Go's
 * sync.(*RWMutex).RLock and friends are: a read lock's wait had the
 * caller as its leaf (rt_rwmutex_rlock tail-called the semaphore, which
 * then skipped one frame too many: an outside tester's find). */
static rt_rwmutex rw;
static rt_waitgroup wg;

/* Holds rw (for writing or reading) for 30 ms, ready signalled once held. */
static void hold(rt_chan *ready, bool write)
{
    if (write)
        rt_rwmutex_lock(&rw);
    else
        rt_rwmutex_rlock(&rw);
    rt_chan_send(ready, NULL);
    rt_sleep(30 * RT_MILLISECOND);
    if (write)
        rt_rwmutex_unlock(&rw);
    else
        rt_rwmutex_runlock(&rw);
}

static void hold_write(void *p)
{
    hold(p, true);
}

static void hold_read(void *p)
{
    hold(p, false);
}

static void finish_later(void *p)
{
    (void)p;
    rt_sleep(30 * RT_MILLISECOND);
    rt_waitgroup_done(&wg);
}

NOINLINE static void wait_read(void)
{
    rt_rwmutex_rlock(&rw);
    rt_rwmutex_runlock(&rw);
}

NOINLINE static void wait_write(void)
{
    rt_rwmutex_lock(&rw);
    rt_rwmutex_unlock(&rw);
}

NOINLINE static void wait_group(void)
{
    rt_waitgroup_wait(&wg);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

/* Only the three waits are profiled: the ready handshakes are not.  (A
 * handshake's record once symbolized its new return addresses, 1-2 ms,
 * 6-20 ms under ASan, which started the wait after it that late: a 30 ms
 * hold blocked it only 19.  Records now symbolize when written:
 * test_events_do_not_symbolize.) */
RT_TEST(test_block_leaves)
{
    rt_chan *ready = rt_chan_make(0, 1);
    REQUIRE_GT(rt_go(hold_write, ready), 0);
    REQUIRE(rt_chan_recv(ready, NULL));
    rt_set_block_profile_rate(1);
    wait_read();
    rt_set_block_profile_rate(0);
    REQUIRE_GT(rt_go(hold_read, ready), 0);
    REQUIRE(rt_chan_recv(ready, NULL));
    rt_set_block_profile_rate(1);
    wait_write();
    rt_waitgroup_add(&wg, 1);
    REQUIRE_GT(rt_go(finish_later, NULL), 0);
    wait_group();
    rt_set_block_profile_rate(0);

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("leaves.pb.gz"));
    write_profile("block", file, 0);
    char *top = pp_tool("-top -unit=ns -sample_index=delay %s", file);
    static const char *const prim[] = {"rt_rwmutex_rlock", "rt_rwmutex_lock",
                                       "rt_waitgroup_wait"};
    static const char *const caller[] = {"wait_read", "wait_write", "wait_group"};
    for (int i = 0; i < 3; i++) {
        double f, c, fc, cc;
        REQUIRE_MSG(pp_row(top, prim[i], &f, &c) && f > 20e6, "%s not a leaf:\n%s", prim[i],
                    top);
        REQUIRE_MSG(pp_row(top, caller[i], &fc, &cc) && fc == 0 && cc > 20e6,
                    "%s: flat %.0f, cum %.0f:\n%s", caller[i], fc, cc, top);
    }
    free(top);
}

/* A function inlined into its caller is a frame of its own at its own
 * line, in the proto (a Location's repeated Line, has_inline_frames) and
 * in the text listing (a line per frame, same PC), as Go's CallersFrames;
 * its lines were charged to the caller (an outside tester's find). */
static inline __attribute__((always_inline)) void inl_wait(rt_chan *c)
{
    REQUIRE(rt_chan_recv(c, NULL)); /* INL_WAIT_LINE */
}

NOINLINE static void outer_waiter(rt_chan *c)
{
    inl_wait(c);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

static void late_sender(void *p)
{
    rt_sleep(20 * RT_MILLISECOND);
    rt_chan_send(p, NULL);
}

RT_TEST(test_inlined_frames)
{
    rt_set_block_profile_rate(1);
    rt_chan *c = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(late_sender, c), 0);
    outer_waiter(c);
    rt_set_block_profile_rate(0);

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("inl.pb.gz"));
    write_profile("block", file, 0);
    char *traces = pp_tool("-traces %s", file);
    REQUIRE_MSG(pp_before(traces, "inl_wait", "outer_waiter"), "-traces:\n%s", traces);
    free(traces);

    snprintf(file, sizeof file, "%s", pp_path("inl.txt"));
    write_profile("block", file, 1);
    char *text = pp_read(file);
    REQUIRE_MSG(pp_before(text, "\tinl_wait+0x", "\touter_waiter+0x"), "text:\n%s", text);
    const char *a = strstr(text, "\tinl_wait+0x");
    const char *b = strstr(text, "\touter_waiter+0x");
    /* the same PC on both lines, the inlined one at its own source line */
    unsigned long pa = 0, pb = 0;
    const char *la = a, *lb = b;
    while (la > text && la[-1] != '\n')
        la--;
    while (lb > text && lb[-1] != '\n')
        lb--;
    REQUIRE_EQ(sscanf(la, "#\t%lx", &pa), 1);
    REQUIRE_EQ(sscanf(lb, "#\t%lx", &pb), 1);
    REQUIRE_MSG(pa == pb, "inlined frame at %#lx, its caller at %#lx", pa, pb);
    free(text);
}

/* An event walks its stack and hashes it; the symbols are looked up when
 * the profile is written, as Go's buckets are.  Looking them up at the
 * event charged a new stack's first DWARF reads (1-2 ms; 6-20 ms under
 * ASan) to the unlocking goroutine while the waiter it had just woken
 * waited on it, and took the symbol table's lock on every event. */
NOINLINE static void fresh_waiter(rt_chan *c)
{
    REQUIRE(rt_chan_recv(c, NULL));
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

static void fresh_holder(void *p)
{
    rt_sleep(10 * RT_MILLISECOND);
    rt_mutex_lock(&mu);
    rt_chan_send(p, NULL);
    rt_sleep(20 * RT_MILLISECOND);
    rt_mutex_unlock(&mu);
    __asm__ volatile("" ::: "memory");
}

NOINLINE static void fresh_locker(void)
{
    rt_mutex_lock(&mu);
    rt_mutex_unlock(&mu);
    __asm__ volatile("" ::: "memory");
}

RT_TEST(test_events_do_not_symbolize)
{
    rt_set_block_profile_rate(1);
    rt_set_mutex_profile_fraction(1);
    rt_chan *c = rt_chan_make(0, 0);
    REQUIRE_GT(rt_go(fresh_holder, c), 0);
    uint64_t before = atomic_load(&rt__symtab_misses);
    fresh_waiter(c);  /* a channel wait: a block event */
    fresh_locker();   /* a mutex wait: a block event, and a mutex event */
    uint64_t after = atomic_load(&rt__symtab_misses);
    rt_set_block_profile_rate(0);
    rt_set_mutex_profile_fraction(0);
    REQUIRE_MSG(after == before, "%llu symbol lookups read DWARF during the events",
                (unsigned long long)(after - before));

    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("fresh.txt"));
    write_profile("block", file, 1);
    REQUIRE_MSG(atomic_load(&rt__symtab_misses) > after, "the writer looked nothing up");
    char *text = pp_read(file);
    REQUIRE_MSG(strstr(text, "\tfresh_waiter+0x") != NULL && strstr(text, "\tfresh_locker+0x"),
                "text:\n%s", text);
    free(text);
    snprintf(file, sizeof file, "%s", pp_path("fresh-mutex.txt"));
    write_profile("mutex", file, 1);
    text = pp_read(file);
    REQUIRE_MSG(strstr(text, "\tfresh_holder+0x") != NULL, "text:\n%s", text);
    free(text);
}

RT_TEST(test_off_records_nothing)
{
    rt_chan *c = rt_chan_make(sizeof(int), 0);
    REQUIRE_GT(rt_go(slow_sender, c), 0);
    (void)chan_receiver(c);
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("off.pb.gz"));
    write_profile("block", file, 0);
    char *top = pp_tool("-top -sample_index=contentions %s", file);
    double f, c1;
    REQUIRE_MSG(!pp_row(top, "chan_receiver", &f, &c1), "recorded while off:\n%s", top);
    free(top);
}

static Suite *suite(void)
{
    Suite *s = suite_create("blockprof");
    TCase *tc = tcase_create("blockprof");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_block_chan);
    tcase_add_test(tc, test_block_and_mutex_profiles);
    tcase_add_test(tc, test_events_do_not_symbolize);
    tcase_add_test(tc, test_block_leaves);
    tcase_add_test(tc, test_inlined_frames);
    tcase_add_test(tc, test_off_records_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), NULL);
}
