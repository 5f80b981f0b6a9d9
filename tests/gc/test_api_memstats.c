/*
 * tests/gc/test_api_memstats.c -- rt_read_memstats, rt_new and
 * rt_new_array, and runtime objects in the collected heap (channels,
 * rt_pool), black-box: rt.h and the harness only.
 *
 * Memstats: every field plausible and consistent with the others (also
 * while other goroutines allocate), the cycle counters and pause records
 * move with rt_gc, by_size follows allocations and frees.  rt_new and
 * rt_new_array give zeroed, scanned memory of the right size; an
 * overflowing rt_new_array and an impossible size are fatal errors.
 * Channels are collected once unreachable; objects in an rt_pool are not
 * freed under it, and the pool is emptied by collections.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

#include "gcapi.h"

/* Slots in bss for the tests' roots. */
static void *volatile g_slot[8];

#define MiB ((size_t)1 << 20)

static rt_memstats *stats(void)
{
    static rt_memstats ms;
    rt_read_memstats(&ms);
    return &ms;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The invariants that hold in every snapshot. */
static void check_consistent(const rt_memstats *ms)
{
    REQUIRE_EQ(ms->alloc, ms->heap_alloc);
    REQUIRE_GE(ms->total_alloc, ms->heap_alloc);
    REQUIRE_EQ(ms->lookups, 0);
    REQUIRE_GE(ms->mallocs, ms->frees);
    REQUIRE_EQ(ms->mallocs - ms->frees, ms->heap_objects);
    REQUIRE_LE(ms->heap_alloc, ms->heap_inuse);
    REQUIRE_LE(ms->heap_inuse + ms->heap_idle, ms->heap_sys);
    REQUIRE_LE(ms->heap_released, ms->heap_idle);
    REQUIRE_LE(ms->stack_inuse, ms->stack_sys);
    REQUIRE_LE(ms->mspan_inuse, ms->mspan_sys);
    REQUIRE_LE(ms->mcache_inuse, ms->mcache_sys);
    REQUIRE_GE(ms->sys, ms->heap_sys + ms->stack_sys);
    REQUIRE_GE(ms->sys, ms->heap_sys + ms->stack_sys + ms->mspan_sys +
                            ms->mcache_sys + ms->buckhash_sys + ms->gc_sys +
                            ms->other_sys);
    REQUIRE_EQ(ms->by_size[0].size, 0); /* Go: BySize[0] is the 0 class */
    uint64_t by_size_mallocs = 0;
    for (int i = 1; i < RT_MEMSTATS_NSIZE; i++) {
        REQUIRE_MSG(ms->by_size[i].size > ms->by_size[i - 1].size,
                    "by_size[%d].size %u after %u", i, ms->by_size[i].size,
                    ms->by_size[i - 1].size);
        REQUIRE_GE(ms->by_size[i].mallocs, ms->by_size[i].frees);
        by_size_mallocs += ms->by_size[i].mallocs;
    }
    REQUIRE_LE(by_size_mallocs, ms->mallocs);
    if (ms->num_gc > 0) {
        REQUIRE_GT(ms->pause_ns[(ms->num_gc - 1) % 256], 0);
        REQUIRE_GT(ms->last_gc, 0);
    }
}

/* ------------------------------------------------------------ memstats -- */

RT_TEST(test_memstats_at_start)
{
    rt_memstats *ms = stats();
    check_consistent(ms);
    REQUIRE(ms->enable_gc);
    REQUIRE(!ms->debug_gc);
    REQUIRE_EQ(ms->num_gc, 0);
    REQUIRE_EQ(ms->last_gc, 0);
    REQUIRE_EQ(ms->pause_total_ns, 0);
    REQUIRE_GT(ms->sys, 0);
    REQUIRE_GT(ms->stack_inuse, 0); /* this goroutine's stack at least */
    REQUIRE_GE(ms->next_gc, 4 * MiB);
}

/* Resident bytes of this process (statm). */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static _Atomic int parked_n;

static void park_on(void *c)
{
    atomic_fetch_add(&parked_n, 1);
    (void)rt_chan_recv(c, NULL);
}

/* The stacks of exited goroutines are given back: rt_free_os_memory
 * returns every page of the pooled ones (an outside tester's find: 100k
 * exited goroutines kept ~400 MB resident for good, a page each, with
 * stack_inuse still counting them). */
/* Marking a wide structure keeps its queue small: an array of 2M
 * pointers to small objects.  Each 128 KiB chunk of the array pushes 16K
 * objects; those beyond a worker's local limit went to shared packets
 * while the worker scanned the next chunk, so the queue held nearly every
 * object at once (GCSys 19 -> 142 MB for 8.7M objects: an outside
 * tester's find).  Here that was ~30 MB; marked depth first it is about
 * one chunk's worth. */
RT_TEST(test_mark_queue_stays_small)
{
    enum { N = 2 << 20 };
    void **arr = rt_alloc(N * sizeof(void *));
    for (size_t i = 0; i < N; i++)
        arr[i] = rt_alloc(16);
    g_slot[0] = arr;
    rt_memstats ms;
    rt_gc();
    rt_read_memstats(&ms);
    uint64_t before = ms.gc_sys;
    rt_gc();
    rt_gc();
    rt_read_memstats(&ms);
    REQUIRE_MSG(ms.gc_sys < before + 8 * MiB, "GCSys %llu -> %llu bytes marking %d objects",
                (unsigned long long)before, (unsigned long long)ms.gc_sys, N);
    g_slot[0] = NULL;
}

RT_TEST(test_exited_goroutines_stacks_released)
{
    enum { N = 20000 };
    rt_chan *c = rt_chan_make(0, 0);
    for (int i = 0; i < N; i++)
        REQUIRE_GT(rt_go(park_on, c), 0);
    while (atomic_load(&parked_n) < N)
        rt_yield(); /* every one runs (a stack each), then parks */
    for (int k = 0; k < 20; k++)
        rt_yield();
    long parked = rss_bytes();
    rt_memstats *ms = stats();
    REQUIRE_GE(ms->stack_inuse, (uint64_t)N * 4096);
    rt_chan_close(c);
    while (rt_num_goroutine() > 1)
        rt_sleep(RT_MILLISECOND);
    rt_free_os_memory();
    ms = stats();
    check_consistent(ms);
    REQUIRE_LT(ms->stack_inuse, (uint64_t)N * 4096 / 4);
    REQUIRE_LT(ms->stack_sys, (uint64_t)N * 4096 / 4);
    long after = rss_bytes();
    REQUIRE_MSG(parked - after > (long)N * 4096 / 2, "rss %ld MB parked, %ld MB after",
                parked >> 20, after >> 20);
}

/* stack_inuse is the stack memory goroutines hold: the pages they touched,
 * not a page per goroutine (an outside tester's find: ten goroutines 150
 * KB deep made RSS grow by 1.5 MB, stack_inuse by 40 KB).  With few
 * goroutines every stack is measured; with more than 512 records a sample
 * is, scaled to their number. */
static __attribute__((noinline)) int deep(int frames)
{
    volatile char buf[1000];
    buf[0] = (char)frames;
    buf[sizeof buf - 1] = 1;
    if (frames <= 1)
        return buf[0];
    return deep(frames - 1) + buf[sizeof buf - 1];
}

static atomic_int deep_ready;

static void deep_then_park(void *arg)
{
    rt_chan *c = arg;
    (void)deep(60); /* about 64 KB of stack touched */
    atomic_fetch_add(&deep_ready, 1);
    (void)rt_chan_recv(c, NULL);
}

static void check_deep_stacks(int n)
{
    atomic_store(&deep_ready, 0);
    rt_chan *c = rt_chan_make(0, 0);
    uint64_t before = stats()->stack_inuse;
    for (int i = 0; i < n; i++)
        REQUIRE_GT(rt_go(deep_then_park, c), 0);
    while (atomic_load(&deep_ready) < n)
        rt_sleep(RT_MILLISECOND);
    rt_sleep(5 * RT_MILLISECOND); /* all parked */
    rt_memstats *ms = stats();
    check_consistent(ms);
    uint64_t grew = ms->stack_inuse - before, want = (uint64_t)n * 60 * 1000;
    REQUIRE_MSG(grew >= want * 3 / 4 && grew <= want * 2,
                "%d goroutines with ~60 KB of stack: stack_inuse grew by %llu bytes", n,
                (unsigned long long)grew);
    REQUIRE_GE(ms->stack_sys, ms->stack_inuse);
    rt_chan_close(c);
    while (rt_num_goroutine() > 1)
        rt_sleep(RT_MILLISECOND);
}

RT_TEST(test_stack_inuse_counts_touched_pages)
{
    check_deep_stacks(10);
}

RT_TEST(test_stack_inuse_sampled)
{
    check_deep_stacks(3000);
}

/* Pooled stacks of mixed depths: the pool is in order of recency, and
 * scaled from its hottest (the deep ones, freed last), stack_sys said
 * 9.5 GB of a 380 MB process (an outside tester's find).  The figure
 * must stay below the process's RSS, which holds those stacks and more. */
RT_TEST(test_stack_sys_pool_of_mixed_depths)
{
    enum { SHALLOW = 6000, DEEP = 300 };
    atomic_store(&deep_ready, 0);
    atomic_store(&parked_n, 0);
    rt_chan *shallow = rt_chan_make(0, 0), *deepc = rt_chan_make(0, 0);
    for (int i = 0; i < SHALLOW; i++)
        REQUIRE_GT(rt_go(park_on, shallow), 0);
    for (int i = 0; i < DEEP; i++)
        REQUIRE_GT(rt_go(deep_then_park, deepc), 0);
    while (atomic_load(&parked_n) < SHALLOW || atomic_load(&deep_ready) < DEEP)
        rt_sleep(RT_MILLISECOND);
    rt_chan_close(shallow); /* the shallow stacks reach the pool first */
    while (rt_num_goroutine() > 1 + DEEP)
        rt_sleep(RT_MILLISECOND);
    rt_chan_close(deepc);
    while (rt_num_goroutine() > 1)
        rt_sleep(RT_MILLISECOND);
    rt_memstats *ms = stats();
    check_consistent(ms);
    long rss = rss_bytes();
    REQUIRE_MSG(ms->stack_sys < (uint64_t)rss, "stack_sys %llu bytes, RSS %ld",
                (unsigned long long)ms->stack_sys, rss);
    REQUIRE_GE(ms->stack_sys, (uint64_t)DEEP * 60 * 1000 / 2);
}

/* The runtime's own tables show in other_sys: 100,000 pending timers
 * need heap slots of 16 bytes each in the P's timer heap (an outside
 * tester found 1M timers' tables in no field). */
RT_TEST(test_timer_tables_in_other_sys)
{
    enum { N = 100000 };
    static rt_timer *ts[N];
    rt_memstats ms0, ms1;
    rt_read_memstats(&ms0);
    for (int i = 0; i < N; i++)
        ts[i] = rt_timer_new(3600 * RT_SECOND + i);
    rt_read_memstats(&ms1);
    for (int i = 0; i < N; i++)
        rt_timer_stop(ts[i]);
    REQUIRE_GE(ms1.other_sys - ms0.other_sys, (uint64_t)N * 16);
    REQUIRE_EQ(ms1.sys, ms1.heap_sys + ms1.stack_sys + ms1.mspan_sys + ms1.mcache_sys +
                            ms1.buckhash_sys + ms1.gc_sys + ms1.other_sys);
    memset(ts, 0, sizeof ts);
}

RT_TEST(test_memstats_follow_cycles)
{
    for (int round = 1; round <= 5; round++) {
        for (int i = 0; i < 1000; i++)
            rt_alloc(100);
        rt_memstats before = *stats();
        uint64_t t0 = wall_ns();
        rt_gc();
        uint64_t t1 = wall_ns();
        rt_memstats *ms = stats();
        check_consistent(ms);
        REQUIRE_EQ(ms->num_gc, before.num_gc + 1);
        uint64_t pause = ms->pause_ns[(ms->num_gc - 1) % 256];
        REQUIRE_GT(pause, 0);
        REQUIRE_LT(pause, 10ull * 1000000000ull);
        REQUIRE_GE(ms->pause_total_ns, before.pause_total_ns + pause);
        /* last_gc: the end of this cycle, on the wall clock */
        REQUIRE_MSG(ms->last_gc + 100 * 1000000ull >= t0 &&
                        ms->last_gc <= t1 + 100 * 1000000ull,
                    "last_gc %llu, cycle between %llu and %llu",
                    (unsigned long long)ms->last_gc, (unsigned long long)t0,
                    (unsigned long long)t1);
        REQUIRE_GE(ms->last_gc, before.last_gc);
        REQUIRE_GE(ms->total_alloc, before.total_alloc);
        REQUIRE_GE(ms->frees, before.frees + 900); /* the 1000 objects */
    }
    /* pause_total_ns is the sum of the pauses while num_gc <= 256 */
    rt_memstats *ms = stats();
    uint64_t sum = 0;
    for (uint32_t i = 0; i < ms->num_gc; i++)
        sum += ms->pause_ns[i];
    REQUIRE_EQ(sum, ms->pause_total_ns);
}

static void alloc_counted(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        rt_alloc(64);
    g_slot[0] = rt_alloc_noscan(64 * MiB);
}

static void alloc_24(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++)
        rt_alloc(24);
}

RT_TEST(test_memstats_count_allocations)
{
    rt_memstats a = *stats();
    on_goroutine(alloc_counted, NULL);
    rt_memstats b = *stats();
    check_consistent(&b);
    REQUIRE_GE(b.mallocs - a.mallocs, 1001);
    REQUIRE_GE(b.total_alloc - a.total_alloc, 64000 + 64 * MiB);
    REQUIRE_GE(b.heap_alloc, 64 * MiB);
    REQUIRE_GE(b.heap_sys, 64 * MiB);
    REQUIRE_GE(b.heap_inuse, 64 * MiB);
    int k64 = -1;
    for (int i = 0; i < RT_MEMSTATS_NSIZE; i++)
        if (b.by_size[i].size == 64)
            k64 = i;
    REQUIRE_MSG(k64 > 0, "no 64-byte class in by_size");
    REQUIRE_GE(b.by_size[k64].mallocs - a.by_size[k64].mallocs, 1000);
    /* 24-byte requests count in the smallest class that holds them */
    int k24 = 1;
    while (b.by_size[k24].size < 24)
        k24++;
    on_goroutine(alloc_24, NULL);
    rt_memstats c = *stats();
    REQUIRE_GE(c.by_size[k24].mallocs - b.by_size[k24].mallocs, 500);
    g_slot[0] = NULL;
    scrub_stack();
    rt_gc();
    rt_gc();
    rt_memstats d = *stats();
    check_consistent(&d);
    REQUIRE_GE(d.by_size[k64].frees - a.by_size[k64].frees, 900);
    REQUIRE_GE(d.by_size[k24].frees - a.by_size[k24].frees, 450);
    REQUIRE_LT(d.heap_alloc, c.heap_alloc - 60 * MiB);
}

/* Snapshots are consistent while other goroutines allocate and collect. */
static _Atomic int stop_alloc;

static void allocator(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (uint64_t i = 0; !atomic_load(&stop_alloc); i++) {
        size_t n = 16 + (i * 7919 + id * 104729) % 5000;
        volatile char *p = (i & 1) ? rt_alloc(n) : rt_alloc_noscan(n);
        p[0] = 1;
        if (i % 50000 == 0 && id == 0)
            rt_gc();
        if (i % 1000 == 0)
            rt_yield();
    }
    atomic_fetch_add(&stop_alloc, 1);
}

RT_TEST(test_memstats_consistent_under_load)
{
    for (uintptr_t i = 0; i < 4; i++)
        REQUIRE_GT(rt_go(allocator, (void *)i), 0);
    uint32_t ngc0 = stats()->num_gc;
    int64_t end = rt_nanotime() + RT_SECOND;
    for (int i = 0; rt_nanotime() < end || i < 100; i++) {
        rt_memstats ms = *stats();
        check_consistent(&ms);
        rt_sleep(RT_MILLISECOND);
    }
    atomic_store(&stop_alloc, 1);
    WAIT_UNTIL(atomic_load(&stop_alloc) == 5);
    REQUIRE_GT(stats()->num_gc, ngc0);
}

/* pause_ns is a ring of 256: cycle n writes index (n - 1) % 256. */
RT_TEST(test_pause_ring_wraps)
{
    for (int i = 0; i < 300; i++)
        rt_gc();
    rt_memstats *ms = stats();
    check_consistent(ms);
    REQUIRE_GE(ms->num_gc, 300);
    for (int i = 0; i < 256; i++)
        REQUIRE_GT(ms->pause_ns[i], 0);
    uint64_t sum = 0;
    for (int i = 0; i < 256; i++)
        sum += ms->pause_ns[i];
    REQUIRE_GT(ms->pause_total_ns, sum); /* older pauses count too */
}

/* ------------------------------------------------------- rt_new & co -- */

typedef struct thing {
    int a;
    double b;
    char name[100];
    void *ref;
} thing;

static const thing zero_thing;
static _Atomic uint64_t new_alloc_delta[2];

static void make_things(void *arg)
{
    (void)arg;
    uint64_t t0 = stats()->total_alloc;
    thing *t = rt_new(thing);
    atomic_store(&new_alloc_delta[0], stats()->total_alloc - t0);
    REQUIRE(t != NULL);
    REQUIRE(memcmp(t, &zero_thing, sizeof *t) == 0);
    memset(t, 0x77, sizeof *t);
    t->ref = witness(64, 1); /* scanned: t keeps it */
    g_slot[0] = t;

    t0 = stats()->total_alloc;
    thing *arr = rt_new_array(thing, 1000);
    atomic_store(&new_alloc_delta[1], stats()->total_alloc - t0);
    REQUIRE(arr != NULL);
    for (int i = 0; i < 1000; i++)
        REQUIRE(memcmp(&arr[i], &zero_thing, sizeof zero_thing) == 0);
    memset(arr, 0x55, 1000 * sizeof(thing));
    arr[999].ref = witness(64, 2); /* the last element is scanned too */
    g_slot[1] = arr;
    REQUIRE(rt_new_array(thing, 0) != NULL);
    REQUIRE(rt_new_array(char, 1) != NULL);
}

RT_TEST(test_rt_new_zeroed_sized_scanned)
{
    on_goroutine(make_things, NULL);
    uint64_t d0 = atomic_load(&new_alloc_delta[0]);
    uint64_t d1 = atomic_load(&new_alloc_delta[1]);
    REQUIRE_GE(d0, sizeof(thing));
    REQUIRE_GE(d1, 1000 * sizeof(thing));
    collect_rounds(3);
    REQUIRE_EQ(runs(1), 0);
    REQUIRE_EQ(runs(2), 0);
    REQUIRE(intact(((thing *)g_slot[0])->ref, 64, 1));
    REQUIRE(intact(((thing *)g_slot[1])[999].ref, 64, 2));
    g_slot[0] = g_slot[1] = NULL;
    COLLECT_UNTIL(runs(1) == 1 && runs(2) == 1);
}

START_TEST(test_rt_new_array_overflow_is_fatal)
{
    expect_fatal("new_array_overflow", "rt_new_array: len out of range");
}
END_TEST

/* With RLIMIT_AS at 2 GiB the runtime starts (the heap reserves at most
 * half the limit, stacks come in smaller chunks), collects, and running
 * out of its arena is Go's out-of-memory error.  Sanitizer builds cannot
 * run under an address-space limit at all (their shadow memory reserves
 * terabytes): there the test only checks that the limit is why. */
START_TEST(test_limited_address_space)
{
    struct rlimit rl = {(rlim_t)2 << 30, (rlim_t)2 << 30};
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* in a child: the sanitizer's own exit work needs address space */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(3);
        void *p = mmap(NULL, (size_t)4 << 30, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        _exit(p == MAP_FAILED ? 0 : 4);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
#else
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0); /* this test's process only */
    static char err[1 << 14];
    int st = run_scenario("small_address_space", NULL, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x:\n%s", st, err);
    expect_fatal("small_address_space_oom", "out of memory");
#endif
}
END_TEST

START_TEST(test_impossible_sizes_are_fatal)
{
    expect_fatal("alloc_size_max", "out of memory");
    expect_fatal("alloc_noscan_huge", "out of memory");
    expect_fatal("alloc_1tib", "out of memory");
}
END_TEST

static volatile size_t g_count;

/* Under an address-space limit (ulimit -v), as a Go program runs there. */
static rt_waitgroup small_wg;
static void *volatile small_keep[64];

static void small_churn(void *arg)
{
    intptr_t k = (intptr_t)arg;
    for (int i = 0; i < 400; i++) {
        void *p = rt_alloc(64 << 10); /* 25 MiB a goroutine, 200 in all */
        if (i % 50 == 0)
            small_keep[k] = p;
    }
    rt_waitgroup_done(&small_wg);
}

static void *volatile big_keep[1 << 12];

static int scenario(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[2];
    void *p = NULL;
    if (strcmp(name, "new_array_overflow") == 0) {
        g_count = SIZE_MAX / sizeof(thing) + 1;
        p = rt_new_array(thing, g_count);
    } else if (strcmp(name, "alloc_size_max") == 0) {
        g_count = SIZE_MAX;
        p = rt_alloc(g_count);
    } else if (strcmp(name, "alloc_noscan_huge") == 0) {
        g_count = SIZE_MAX - 4096;
        p = rt_alloc_noscan(g_count);
    } else if (strcmp(name, "alloc_1tib") == 0) {
        g_count = (size_t)1 << 40;
        p = rt_alloc(g_count);
    } else if (strcmp(name, "small_address_space") == 0) {
        rt_waitgroup_add(&small_wg, 8);
        for (intptr_t k = 0; k < 8; k++)
            rt_go(small_churn, (void *)k);
        rt_waitgroup_wait(&small_wg);
        rt_gc();
        rt_memstats ms;
        rt_read_memstats(&ms);
        printf("ok: %u cycles, heap_sys %llu MiB\n", ms.num_gc,
               (unsigned long long)(ms.heap_sys >> 20));
        return 0;
    } else if (strcmp(name, "small_address_space_oom") == 0) {
        for (size_t i = 0; i < sizeof big_keep / sizeof big_keep[0]; i++)
            big_keep[i] = rt_alloc_noscan(1 << 20); /* 4 GiB live: past the arena */
    }
    /* not reached: print what came back */
    fprintf(stderr, "scenario %s returned %p\n", name, p);
    return 0;
}

/* ------------------------------------------------------------- channels -- */

enum { NCHAN = 20000 };

static void make_channels(void *arg)
{
    (void)arg;
    for (int i = 0; i < NCHAN; i++) {
        rt_chan *c = rt_chan_make(sizeof(int64_t), 4);
        int64_t v = i;
        rt_chan_send(c, &v); /* not empty */
        if (i % 2 == 0) { /* some closed, some unbuffered */
            rt_chan_close(c);
            rt_chan_make(sizeof(void *), 0);
        }
    }
}

RT_TEST(test_unreachable_channels_are_collected)
{
    rt_gc();
    rt_memstats a = *stats();
    on_goroutine(make_channels, NULL);
    rt_memstats b = *stats();
    REQUIRE_GE(b.mallocs - a.mallocs, NCHAN);
    scrub_stack();
    rt_gc();
    rt_gc();
    rt_memstats c = *stats();
    REQUIRE_MSG(c.frees - a.frees >= NCHAN, "%llu objects freed after %d "
                "channels were dropped", (unsigned long long)(c.frees - a.frees),
                NCHAN * 3 / 2);
    REQUIRE_MSG(c.heap_objects <= a.heap_objects + NCHAN / 20,
                "%llu objects live before, %llu after the dropped channels",
                (unsigned long long)a.heap_objects,
                (unsigned long long)c.heap_objects);
}

/* -------------------------------------------------------------- rt_pool -- */

static rt_pool g_pool;

static void fill_pool(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 8; i++)
        rt_pool_put(&g_pool, witness(64, 10 + i));
}

static void drain_pool_once(void *arg)
{
    (void)arg;
    void *got[8];
    int n = 0;
    void *p;
    while (n < 8 && (p = rt_pool_get(&g_pool)) != NULL) {
        unsigned id = (unsigned)(*(uint64_t *)p & 0xffff);
        REQUIRE_MSG(id >= 10 && id < 18 && intact(p, 64, id),
                    "rt_pool_get returned a freed object after a collection");
        REQUIRE_EQ(runs(id), 0);
        got[n++] = p;
    }
    while (n > 0)
        rt_pool_put(&g_pool, got[--n]);
    memset(got, 0, sizeof got);
}

static void get_nothing(void *arg)
{
    (void)arg;
    REQUIRE(rt_pool_get(&g_pool) == NULL);
}

RT_TEST(test_pool_objects_not_freed_and_pool_emptied)
{
    on_goroutine(fill_pool, NULL);
    /* Whatever the pool still hands out after a cycle is intact. */
    churn();
    rt_gc();
    churn();
    on_goroutine(drain_pool_once, NULL);
    /* Two more cycles empty it (Go: primary, then victim cache). */
    rt_gc();
    rt_gc();
    on_goroutine(get_nothing, NULL);
    COLLECT_UNTIL(runs(10) + runs(11) +
                      runs(12) + runs(13) +
                      runs(14) + runs(15) +
                      runs(16) + runs(17) ==
                  8);
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("gc_api_memstats");
    TCase *tc = tcase_create("memstats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_memstats_at_start);
    tcase_add_test(tc, test_memstats_follow_cycles);
    tcase_add_test(tc, test_timer_tables_in_other_sys);
    tcase_add_test(tc, test_stack_inuse_counts_touched_pages);
    tcase_add_test(tc, test_stack_inuse_sampled);
    tcase_add_test(tc, test_stack_sys_pool_of_mixed_depths);
    tcase_add_test(tc, test_memstats_count_allocations);
    tcase_add_test(tc, test_memstats_consistent_under_load);
    tcase_add_test(tc, test_pause_ring_wraps);
    tcase_add_test(tc, test_rt_new_zeroed_sized_scanned);
    tcase_add_test(tc, test_rt_new_array_overflow_is_fatal);
    tcase_add_test(tc, test_impossible_sizes_are_fatal);
    tcase_add_test(tc, test_limited_address_space);
    tcase_add_test(tc, test_unreachable_channels_are_collected);
    tcase_add_test(tc, test_pool_objects_not_freed_and_pool_emptied);
    tcase_add_test(tc, test_exited_goroutines_stacks_released);
    tcase_add_test(tc, test_mark_queue_stays_small);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, scenario);
}
