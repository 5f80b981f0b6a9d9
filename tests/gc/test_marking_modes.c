/*
 * tests/gc/test_marking_modes.c -- the collector's marking modes and the
 * paths between them (gc/collector.c, gc/dirty.c):
 *   - concurrent marking where the kernel offers userfaultfd write-protect
 *     (this machine's kernel must: the test fails if it does not, so that a
 *     CI host without it is noticed rather than silently testing less);
 *   - DEBUG=gcstoptheworld=1 forces stop-the-world marking;
 *   - a kernel that refuses userfaultfd (here: a seccomp filter making the
 *     system call fail with ENOSYS, as on a kernel without it) falls back to
 *     mprotect + SIGSEGV tracking, still concurrent, with no message and no
 *     loss; DEBUG=gcwritetrack=1 forces that fallback, =2 the last one
 *     (no tracking: stop-the-world marking).
 * Each case runs in a child process of its own (the filter and DEBUG last
 * for a process) with the same workload: goroutines keep a linked list and
 * a tree alive while rewiring them and dropping garbage, and a pipe
 * delivers some pointers by read(2), through enough cycles; at the end
 * every reachable node must be intact.
 *
 * Mark assists (collector.c's pacing) get a workload of their own: a
 * goroutine that allocates garbage far faster than one mark thread marks
 * a large live tree must be made to mark (rt__gc_nassist counts assists
 * that marked something) in concurrent mode, never in stop-the-world mode,
 * and the tree must come through intact.
 *
 * A small heap (a bit over 1 MiB live) marks with the world stopped even
 * where concurrent marking works, once the stop-the-world speed measured
 * says its mark stays under the pause bound: rt__gc_nsmallstw counts
 * those cycles, which must be nearly all of them, and
 * DEBUG=gcstoptheworld=1 cycles are not counted as the small-heap choice.
 * A program's first cycle with 50,000 parked goroutines and almost no
 * heap marks concurrently: their stacks are roots to read too.
 *
 * The marked objects on a written page of a span with bit marks (objects
 * of 16 bytes and less) are found a mark word at a time: cells of 16
 * bytes moved from chain to chain while marking runs -- an old cell
 * unlinked, then linked after another old cell, so that the written page
 * holds its only pointer -- must all be there, intact, at the end.
 *
 * Large noscan objects are left out of the write protection (their writes
 * need no rescan): after concurrent cycles none of a live 8 MiB noscan
 * buffer's pages is write-protected (/proc/self/pagemap's uffd-wp bit),
 * while every page of a live 8 MiB scanned array is.
 */
#include <check.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "gc/gc.h"
#include "harness.h"

typedef struct node {
    struct node *next;
    struct node *kids[2];
    uint64_t val;
    uint64_t check;
} node;

#define NLIST 400000 /* ~19 MiB: too large for a small-heap stop */
#define NGOR 4

static node *volatile g_list;            /* the list, from a global */
static node *volatile g_trees[NGOR];     /* a tree per goroutine */
static int g_pipes[NGOR][2];
static rt_waitgroup g_wg;
static _Atomic int g_bad;

static uint64_t check_of(const node *n) { return n->val * 0x9e3779b97f4a7c15ULL ^ 0x5a5a; }

static node *mk(uint64_t v)
{
    node *n = rt_new(node);
    n->val = v;
    n->check = check_of(n);
    return n;
}

/* The expected write tracking (RT_DIRTY_*), checked in the child. */
static int g_expect_mode;

/* The node's pointer in *slot, written by the kernel half of the time.  In
 * the mprotect mode a raw read(2) into a protected page fails with EFAULT
 * (gc/dirty.c), so there the kernel's stores go through rt_file_pread,
 * which makes the buffer writable first and retries -- on a pool thread,
 * so only every 16th, to keep the test short. */
static void store(int g, node **slot, node *n, unsigned r)
{
    if (r % 2 || (g_expect_mode == RT_DIRTY_MPROTECT && r % 32 != 0)) {
        *slot = n;
        return;
    }
    if (write(g_pipes[g][1], &n, sizeof n) != (ssize_t)sizeof n) {
        atomic_store(&g_bad, 1);
        return;
    }
    ssize_t got = g_expect_mode == RT_DIRTY_MPROTECT
                      ? rt_file_pread(g_pipes[g][0], slot, sizeof n, -1)
                      : read(g_pipes[g][0], slot, sizeof n);
    if (got != (ssize_t)sizeof n)
        atomic_store(&g_bad, 1);
}

static unsigned count_tree(const node *n, int depth)
{
    if (n == NULL)
        return 0;
    if (n->check != check_of(n) || depth > 64) {
        atomic_store(&g_bad, 1);
        return 0;
    }
    return 1 + count_tree(n->kids[0], depth + 1) + count_tree(n->kids[1], depth + 1);
}

static void mutator(void *arg)
{
    int g = (int)(intptr_t)arg;
    unsigned r = (unsigned)g * 7919u + 1;
    g_trees[g] = mk(1);
    for (int i = 0; i < 200000; i++) {
        r = r * 1103515245u + 12345u;
        /* a random path down the tree, then a fresh subtree hung there
         * (an old object pointing to a new one) or a cut (garbage) */
        node *n = g_trees[g];
        for (int d = 0; d < 10 && n->kids[(r >> d) & 1] != NULL; d++)
            n = n->kids[(r >> d) & 1];
        node **slot = &n->kids[(r >> 12) & 1];
        if ((r >> 16) % 8 == 0) {
            *slot = NULL;
        } else {
            node *c = mk((uint64_t)i);
            c->kids[0] = mk((uint64_t)i + 1);
            store(g, slot, c, r >> 20);
        }
        (void)rt_alloc(200); /* garbage */
        if (i % 4096 == 0 && count_tree(g_trees[g], 0) > 4000)
            g_trees[g]->kids[r & 1] = NULL;
        if (i % 1024 == 0)
            rt_yield();
    }
    rt_waitgroup_done(&g_wg);
}

static void workload(void)
{
    node *head = NULL;
    for (uint64_t i = 0; i < NLIST; i++) {
        node *n = mk(i);
        n->next = head;
        head = n;
    }
    g_list = head;
    for (int g = 0; g < NGOR; g++)
        ck_assert_int_eq(pipe(g_pipes[g]), 0);
    rt_set_gc_percent(25);
    rt_waitgroup_add(&g_wg, NGOR);
    for (int g = 0; g < NGOR; g++)
        rt_go(mutator, (void *)(intptr_t)g);
    rt_waitgroup_wait(&g_wg);
    rt_gc();
    uint64_t n = 0, expect = NLIST;
    for (node *p = g_list; p != NULL; p = p->next) {
        expect--;
        ck_assert_msg(p->val == expect && p->check == check_of(p), "list node %llu damaged",
                      (unsigned long long)n);
        n++;
    }
    ck_assert_int_eq(n, NLIST);
    for (int g = 0; g < NGOR; g++)
        (void)count_tree(g_trees[g], 0);
    ck_assert_msg(atomic_load(&g_bad) == 0, "a tree node was damaged or freed");
    rt_memstats ms;
    rt_read_memstats(&ms);
    ck_assert_msg(ms.num_gc >= 10, "only %u cycles", (unsigned)ms.num_gc);
}

static void child_body(void)
{
    workload();
    bool g_expect_concurrent = g_expect_mode != RT_DIRTY_NONE;
    ck_assert_int_eq(rt__dirty_ok(), g_expect_concurrent);
    ck_assert_int_eq(rt__dirty_mode(), g_expect_mode);
    uint32_t nc = atomic_load(&rt__gc_nconcurrent);
    if (g_expect_concurrent)
        ck_assert_msg(nc >= 5, "only %u concurrent cycles", nc);
    else
        ck_assert_msg(nc == 0, "%u concurrent cycles", nc);
}

/* A binary tree of depth d, kept from a global; 2^(d+1) - 1 nodes. */
static node *volatile g_big;

static node *build(int d, uint64_t *next)
{
    node *n = mk((*next)++);
    if (d > 0) {
        n->kids[0] = build(d - 1, next);
        n->kids[1] = build(d - 1, next);
    }
    return n;
}

static uint64_t count_big(const node *n)
{
    if (n == NULL)
        return 0;
    if (n->check != check_of(n))
        atomic_store(&g_bad, 1);
    return 1 + count_big(n->kids[0]) + count_big(n->kids[1]);
}

/* 2^18 live nodes (~12 MiB: marked in milliseconds per cycle), then
 * 16-byte garbage as fast as it comes, until 20 more cycles ran. */
static void assist_child_body(void)
{
    uint64_t next = 0;
    g_big = build(17, &next);
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t until = ms.num_gc + 20;
    for (uint64_t i = 0;; i++) {
        (void)rt_alloc(16);
        if (i % (1u << 16) == 0) {
            rt_read_memstats(&ms);
            if (ms.num_gc >= until)
                break;
        }
    }
    ck_assert_int_eq(count_big(g_big), next);
    ck_assert_msg(atomic_load(&g_bad) == 0, "a tree node was damaged");
    uint32_t na = atomic_load(&rt__gc_nassist);
    uint64_t ab = atomic_load(&rt__gc_assist_bytes);
    if (g_expect_mode != RT_DIRTY_NONE) {
        ck_assert_msg(atomic_load(&rt__gc_nconcurrent) >= 10, "only %u concurrent cycles",
                      atomic_load(&rt__gc_nconcurrent));
        ck_assert_msg(na > 0 && ab > 0, "no mark assist in %u cycles", (unsigned)ms.num_gc);
    } else {
        ck_assert_msg(na == 0 && ab == 0, "%u assists with the world stopped to mark", na);
    }
}

/* ~1.25 MiB live in a list of 48-byte nodes, garbage until 15 cycles ran;
 * the list intact at the end. */
static void smallheap_child_body(void)
{
    enum { N = (5 << 18) / (int)sizeof(node) };
    /* A fast machine's speed (1 GB/ms), so that the choice does not hang
     * on how loaded this one is: the best sample decays by 1/8 per cycle,
     * so it stays above ~100 MB/ms for these cycles, and what the choice
     * counts -- the whole heap allocated when the cycle starts (4 MiB,
     * the smallest goal) and the roots -- reads in well under the bound. */
    atomic_store(&rt__gc_stw_rate, 1000000);
    node *head = NULL;
    for (uint64_t i = 0; i < N; i++) {
        node *n = mk(i);
        n->next = head;
        head = n;
    }
    g_list = head;
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t until = ms.num_gc + 15;
    for (uint64_t i = 0;; i++) {
        (void)rt_alloc(64);
        if (i % (1u << 14) == 0) {
            rt_read_memstats(&ms);
            if (ms.num_gc >= until)
                break;
        }
    }
    uint64_t n = 0;
    for (node *p = g_list; p != NULL; p = p->next, n++)
        ck_assert_msg(p->val == N - 1 - n && p->check == check_of(p), "node %llu damaged",
                      (unsigned long long)n);
    ck_assert_int_eq(n, N);
    uint32_t small = atomic_load(&rt__gc_nsmallstw);
    uint32_t nc = atomic_load(&rt__gc_nconcurrent);
    if (g_expect_mode != RT_DIRTY_NONE) {
        ck_assert_msg(small >= 10 && nc == 0, "%u small-heap stops, %u concurrent cycles", small,
                      nc);
    } else {
        ck_assert_msg(small == 0 && nc == 0, "%u small-heap stops, %u concurrent cycles", small,
                      nc);
    }
}

/* A churning program with almost nothing live between its cycles, each
 * of which meets a 2 MiB tree under construction (reachable from the
 * stack): the last cycle's marked bytes (KiBs to 1 MiB) said a stopped
 * mark would be short (or that no speed was needed: under 1 MiB), and it
 * took 1-3 ms with the world stopped, 15 cycles of 44 over 1 ms.  The
 * choice counts the heap allocated at the cycle's start (4 MiB at
 * least), so every cycle here marks concurrently. */
static void growing_child_body(void)
{
    /* 8 MB/ms: a fast machine's stopped mark, under the bound for what
     * the last cycles marked, not for the heap at a cycle's start */
    atomic_store(&rt__gc_stw_rate, 8000);
    rt_memstats ms;
    rt_read_memstats(&ms);
    uint32_t n0 = ms.num_gc, nc0 = atomic_load(&rt__gc_nconcurrent);
    for (int i = 0; i < 60; i++)
        (void)harness_tree(16); /* 2 MiB of 16-byte objects, garbage once built */
    rt_read_memstats(&ms);
    uint32_t small = atomic_load(&rt__gc_nsmallstw);
    uint32_t nc = atomic_load(&rt__gc_nconcurrent) - nc0;
    ck_assert_msg(ms.num_gc - n0 >= 15 && small == 0 && nc == ms.num_gc - n0,
                  "%u cycles: %u small-heap stops, %u concurrent", ms.num_gc - n0, small, nc);
}

/* The first cycle of a program with 50,000 parked goroutines and an
 * almost empty heap: no root figure from an earlier cycle yet, and the
 * heap alone said a stopped mark would be short -- it read every stack
 * with the world stopped (1M goroutines: a 335 ms pause).  The choice
 * counts a record and a frame of each goroutine alive, so it is
 * concurrent. */
enum { FIRST_PARKED = 50000 };
static rt_chan *first_block;
static rt_waitgroup first_wg;
static void first_parked(void *arg)
{
    (void)arg;
    rt_waitgroup_done(&first_wg);
    int v;
    rt_chan_recv(first_block, &v);
}

static void parked_first_child_body(void)
{
    first_block = rt_chan_make(sizeof(int), 0);
    rt_waitgroup_add(&first_wg, FIRST_PARKED);
    for (int i = 0; i < FIRST_PARKED; i++)
        ck_assert_int_gt(rt_go(first_parked, NULL), 0);
    rt_waitgroup_wait(&first_wg);
    rt_memstats ms;
    rt_read_memstats(&ms);
    ck_assert_uint_eq(ms.num_gc, 0);
    rt_gc();
    rt_read_memstats(&ms);
    ck_assert_msg(ms.num_gc == 1 && atomic_load(&rt__gc_nconcurrent) == 1 &&
                      atomic_load(&rt__gc_nsmallstw) == 0,
                  "%u cycles: %u concurrent, %u small-heap stops", ms.num_gc,
                  atomic_load(&rt__gc_nconcurrent), atomic_load(&rt__gc_nsmallstw));
}

/* Pages of [p, p + n) whose pagemap entry has the uffd-wp bit (57). */
static size_t wp_pages(const void *p, size_t n)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    size_t np = n / 4096, wp = 0;
    uint64_t *e = malloc(np * sizeof *e);
    ck_assert_ptr_nonnull(e);
    off_t off = (off_t)((uintptr_t)p / 4096 * sizeof *e);
    ck_assert_int_eq(pread(fd, e, np * sizeof *e, off), (ssize_t)(np * sizeof *e));
    for (size_t i = 0; i < np; i++)
        wp += e[i] >> 57 & 1;
    free(e);
    close(fd);
    return wp;
}

typedef struct cell {
    struct cell *next;
    uint64_t tag; /* 2 x its number + 1: never a heap address */
} cell;

enum { NCHAIN = 1024, NCELL = 200000, CELL_MOVERS = 2 };
static cell **volatile g_chains; /* heads, in the heap */

static void cell_mover(void *arg)
{
    int g = (int)(intptr_t)arg;
    unsigned r = (unsigned)g * 2654435761u + 7;
    for (int it = 0; it < 400000; it++) {
        r = r * 1103515245u + 12345u;
        /* chains g, g + CELL_MOVERS, ...: this goroutine's own */
        size_t a = (size_t)((r >> 8) % (NCHAIN / CELL_MOVERS)) * CELL_MOVERS + (size_t)g;
        size_t b = (size_t)((r >> 20) % (NCHAIN / CELL_MOVERS)) * CELL_MOVERS + (size_t)g;
        cell *ha = g_chains[a], *hb = g_chains[b];
        if (a == b || ha->next == NULL)
            continue;
        cell *x = ha->next;
        ha->next = x->next; /* unlinked: only x holds it */
        x->next = hb->next;
        hb->next = x;       /* an old cell's page now holds the only pointer */
        if (it % 8 == 0)
            (void)rt_alloc(256); /* garbage: cycles */
        if (it % 4096 == 0)
            rt_yield();
    }
    rt_waitgroup_done(&g_wg);
}

static void tiny_child_body(void)
{
    atomic_store(&rt__gc_stw_rate, 1); /* every cycle concurrent */
    rt_set_gc_percent(25);
    g_chains = rt_alloc(NCHAIN * sizeof(cell *));
    for (size_t i = 0; i < NCELL; i++) {
        cell *c = rt_new(cell);
        c->tag = 2 * (uint64_t)i + 1;
        if (i < NCHAIN) {
            g_chains[i] = c; /* the head: never moved */
        } else {
            c->next = g_chains[i % NCHAIN]->next;
            g_chains[i % NCHAIN]->next = c;
        }
    }
    uint32_t nc0 = atomic_load(&rt__gc_nconcurrent);
    rt_waitgroup_add(&g_wg, CELL_MOVERS);
    for (int g = 0; g < CELL_MOVERS; g++)
        rt_go(cell_mover, (void *)(intptr_t)g);
    rt_waitgroup_wait(&g_wg);
    rt_gc();
    ck_assert_msg(atomic_load(&rt__gc_nconcurrent) - nc0 >= 5, "only %u concurrent cycles",
                  atomic_load(&rt__gc_nconcurrent) - nc0);
    static uint8_t seen[NCELL];
    size_t n = 0;
    for (size_t k = 0; k < NCHAIN; k++) {
        for (const cell *c = g_chains[k]; c != NULL; c = c->next) {
            uint64_t i = (c->tag - 1) / 2;
            ck_assert_msg(c->tag % 2 == 1 && i < NCELL && !seen[i] && n < NCELL,
                          "chain %zu: a cell damaged, freed or twice (tag %llu)", k,
                          (unsigned long long)c->tag);
            seen[i] = 1;
            n++;
        }
    }
    ck_assert_uint_eq(n, NCELL);
}

static void noscan_child_body(void)
{
    atomic_store(&rt__gc_stw_rate, 1); /* every cycle concurrent */
    const size_t n = (size_t)8 << 20;
    unsigned char *buf = rt_alloc_noscan(n);
    void **arr = rt_alloc(n);
    memset(buf, 1, n);
    for (size_t i = 0; i < n / sizeof *arr; i++)
        arr[i] = buf;
    uint32_t nc0 = atomic_load(&rt__gc_nconcurrent);
    for (int i = 0; i < 3; i++) {
        rt_gc();
        memset(buf, i, n); /* written between cycles */
    }
    rt_gc(); /* (what the buffer's pages are after a cycle) */
    ck_assert_uint_ge(atomic_load(&rt__gc_nconcurrent) - nc0, 4);
    ck_assert_uint_eq(rt__dirty_mode(), RT_DIRTY_UFFD);
    /* the array: live, not written since the last cycle: protected */
    ck_assert_uint_eq(wp_pages(arr, n), n / 4096);
    /* the buffer: never */
    ck_assert_uint_eq(wp_pages(buf, n), 0);
    ck_assert_ptr_eq(arr[n / sizeof *arr - 1], buf);
}

/* Pending timers whose only reference is their P's timer heap (the
 * test keeps them in malloc'd memory, which is not scanned): a concurrent
 * cycle's start copies the heaps for the marking, and the final stop
 * reads again only the slots changed since (sched/timer.c, "The
 * collector's view").  First, with nothing changing, the final stop reads
 * (almost) no slot -- it read all 60,000, and marked every timer object
 * and channel first there (1M pending rt_after timers: 15-50 ms stops);
 * then, with a goroutine adding, resetting and stopping other timers and
 * garbage reusing whatever is freed, every hidden timer must still fire,
 * once, on its own channel. */
extern _Atomic uint64_t rt__timer_stop_slots; /* sched/timer.c */
enum { NHIDDEN = 60000 };
/* when the hidden timers fire, and until when the churn goes on: the
 * margin between is the time the churn's last rt_gc may take */
#define HIDDEN_FIRE (2000 * RT_MILLISECOND)
#define CHURN_UNTIL (1200 * RT_MILLISECOND)
static _Atomic int churn_quit;

static void timer_churner(void *arg)
{
    (void)arg;
    rt_timer *mine[64] = {0};
    for (uint64_t i = 0; !atomic_load(&churn_quit); i++) {
        rt_timer **t = &mine[i % 64];
        if (*t == NULL)
            *t = rt_timer_new((int64_t)(1 + i % 7) * RT_SECOND);
        else if (i % 3 == 0)
            rt_timer_reset(*t, (int64_t)(1 + i % 5) * RT_SECOND);
        else {
            rt_timer_stop(*t);
            *t = NULL;
        }
        uint64_t *junk = rt_alloc(64);
        memset(junk, 0xa5, 64);
        if (i % 256 == 0)
            rt_yield();
    }
    rt_waitgroup_done(&g_wg);
}

static void timers_child_body(void)
{
    atomic_store(&rt__gc_stw_rate, 1); /* every cycle concurrent */
    rt_timer **hidden = malloc(NHIDDEN * sizeof *hidden);
    ck_assert_ptr_nonnull(hidden);
    int64_t t0 = rt_nanotime();
    for (int i = 0; i < NHIDDEN; i++)
        hidden[i] = rt_timer_new(HIDDEN_FIRE);
    void *ballast = rt_alloc((size_t)4 << 20); /* a heap past the stopped-mark size */
    uint32_t nc0 = atomic_load(&rt__gc_nconcurrent);
    rt_gc();
    rt_gc(); /* the heaps grew before this one: its copy is of the final arrays */
    ck_assert_uint_ge(atomic_load(&rt__gc_nconcurrent) - nc0, 2);
    uint64_t slots = atomic_load(&rt__timer_stop_slots);
    printf("final stop: %llu timer slots read again of %d pending\n", (unsigned long long)slots, NHIDDEN);
    ck_assert_msg(slots < NHIDDEN / 20,
                  "the final stop read %llu timer slots of %d, none of them changed",
                  (unsigned long long)slots, NHIDDEN);

    rt_waitgroup_add(&g_wg, 1);
    rt_go(timer_churner, NULL);
    while (rt_nanotime() - t0 < CHURN_UNTIL)
        rt_gc();
    /* A timer that has fired is in no heap: from here the malloc'd array
     * is all that holds them, and memory from malloc is not scanned.  The
     * receives below, 60,000 of them, each with an rt_after, allocate
     * enough for collections, which freed the fired timers not yet
     * received (then their channels read as garbage: "fired == 59994",
     * or a select that never returned; 1 run in 30-100 with three copies
     * of this test on two CPUs).  Rooted before any can fire. */
    rt_gc_add_root(hidden, NHIDDEN * sizeof *hidden);
    int64_t rooted = rt_nanotime() - t0;
    ck_assert_msg(rooted < HIDDEN_FIRE, "the churn ran past the timers' deadline: %lld ms",
                  (long long)(rooted / RT_MILLISECOND));
    atomic_store(&churn_quit, 1);
    rt_waitgroup_wait(&g_wg);
    (void)ballast;

    int fired = 0;
    for (int i = 0; i < NHIDDEN; i++) {
        int64_t v = 0;
        rt_select_case cs[2] = {RT_RECV(rt_timer_chan(hidden[i]), &v),
                                RT_RECV(rt_after(5 * RT_SECOND), NULL)};
        if (rt_select(cs, 2, true) == 0 && v >= t0 + HIDDEN_FIRE)
            fired++;
    }
    rt_gc_remove_root(hidden);
    free(hidden);
    ck_assert_int_eq(fired, NHIDDEN);
}

/* Makes userfaultfd fail with ENOSYS for this process and its children. */
static void refuse_userfaultfd(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/* The child's setup: DEBUG, userfaultfd refused or not, the mode expected. */
typedef struct child_setup {
    const char *debug;
    bool refuse;
    int expect_mode;
} child_setup;

static void prepare_child(void *arg)
{
    const child_setup *c = arg;
    /* scheddetail=1 (without schedtrace: nothing periodic) and
     * GOTRACEBACK=system make the harness's SIGQUIT on a hang print every
     * P and M and the runtime's goroutines too: this test once hung in CI
     * with goroutine 1 in a select on two timers (test_hidden_timers_
     * concurrent, 1 run in many), and the dump showed only that. */
    char debug[128];
    snprintf(debug, sizeof debug, "%s%sscheddetail=1", c->debug != NULL ? c->debug : "",
             c->debug != NULL ? "," : "");
    setenv("DEBUG", debug, 1);
    setenv("GOTRACEBACK", "system", 1);
    if (c->refuse)
        refuse_userfaultfd();
    g_expect_mode = c->expect_mode;
}

/* Runs the workload in a child with the given setup; checks it passed. */
static void run_child_body(void (*body)(void), const char *debug, bool refuse,
                           int expect_mode)
{
    child_setup c = {debug, refuse, expect_mode};
    harness_run_child(prepare_child, &c, body);
}

static void run_child(const char *debug, bool refuse, int expect_mode)
{
    run_child_body(child_body, debug, refuse, expect_mode);
}

START_TEST(test_concurrent) { run_child(NULL, false, RT_DIRTY_UFFD); }
END_TEST

START_TEST(test_gcstoptheworld) { run_child("gcstoptheworld=1", false, RT_DIRTY_NONE); }
END_TEST

/* userfaultfd refused: the mprotect + SIGSEGV fallback, still concurrent */
START_TEST(test_userfaultfd_refused) { run_child(NULL, true, RT_DIRTY_MPROTECT); }
END_TEST

START_TEST(test_mprotect_forced) { run_child("gcwritetrack=1", false, RT_DIRTY_MPROTECT); }
END_TEST

/* no write tracking at all: stop-the-world marking */
START_TEST(test_no_tracking) { run_child("gcwritetrack=2", false, RT_DIRTY_NONE); }
END_TEST

START_TEST(test_assist_concurrent) { run_child_body(assist_child_body, NULL, false, RT_DIRTY_UFFD); }
END_TEST

START_TEST(test_assist_stoptheworld)
{
    run_child_body(assist_child_body, "gcstoptheworld=1", false, RT_DIRTY_NONE);
}
END_TEST

START_TEST(test_smallheap) { run_child_body(smallheap_child_body, NULL, false, RT_DIRTY_UFFD); }
END_TEST

START_TEST(test_smallheap_growing)
{
    run_child_body(growing_child_body, NULL, false, RT_DIRTY_UFFD);
}
END_TEST

START_TEST(test_first_cycle_with_many_parked)
{
    run_child_body(parked_first_child_body, NULL, false, RT_DIRTY_UFFD);
}
END_TEST

START_TEST(test_tiny_cells_moved_during_marking)
{
    run_child_body(tiny_child_body, NULL, false, RT_DIRTY_UFFD);
}
END_TEST

START_TEST(test_noscan_unprotected)
{
    run_child_body(noscan_child_body, NULL, false, RT_DIRTY_UFFD);
}
END_TEST

START_TEST(test_hidden_timers_concurrent)
{
    run_child_body(timers_child_body, NULL, false, RT_DIRTY_UFFD);
}
END_TEST

START_TEST(test_smallheap_stoptheworld)
{
    run_child_body(smallheap_child_body, "gcstoptheworld=1", false, RT_DIRTY_NONE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("marking_modes");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_gcstoptheworld);
    tcase_add_test(tc, test_userfaultfd_refused);
    tcase_add_test(tc, test_mprotect_forced);
    tcase_add_test(tc, test_no_tracking);
    tcase_add_test(tc, test_assist_concurrent);
    tcase_add_test(tc, test_assist_stoptheworld);
    tcase_add_test(tc, test_smallheap);
    tcase_add_test(tc, test_smallheap_growing);
    tcase_add_test(tc, test_first_cycle_with_many_parked);
    tcase_add_test(tc, test_smallheap_stoptheworld);
    tcase_add_test(tc, test_noscan_unprotected);
    tcase_add_test(tc, test_tiny_cells_moved_during_marking);
    tcase_add_test(tc, test_hidden_timers_concurrent);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
