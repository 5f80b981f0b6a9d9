/*
 * tests/gc/test_api_roots.c -- what keeps an object alive, as rt.h states it
 * (black-box: rt.h and the harness only).
 *
 * A word that points into an object (first byte to last byte) keeps it
 * alive when it is found on a goroutine stack, in data/bss, in a range
 * given to rt_gc_add_root, or in a reachable scanned object -- and only
 * there: a pointer one past the end, a pointer in malloc'd memory that was
 * not registered, or a pointer inside an rt_alloc_noscan object does not.
 *
 * The witness of a collection is a finalizer: it runs once the object is
 * unreachable.  The witness of retention is a finalizer that does NOT run
 * over several collections while garbage of the same size is churned (so a
 * wrongly freed object would be reused and overwritten), plus an intact
 * payload pattern afterwards.  Every retention test ends by dropping the
 * reference and waiting for the finalizer, so a collector that reclaims
 * nothing cannot pass it.
 *
 * Conservative false retention: the objects under test are made on helper
 * goroutines that exit (a dead goroutine's stack is no root), in noinline
 * functions, and pointers are handed back only in hidden form (~p, never a
 * heap address); collections are repeated after scrubbing the stack.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "gcapi.h"

static bool size_is_class(uint32_t size)
{
    rt_memstats *ms = malloc(sizeof *ms);
    rt_read_memstats(ms);
    bool found = false;
    for (int i = 0; i < RT_MEMSTATS_NSIZE; i++)
        if (ms->by_size[i].size == size)
            found = true;
    free(ms);
    return found;
}

/* Slots in bss for the tests' roots. */
static void *volatile g_slot[8];

/* ---------------------------------------------------- interior pointers -- */

static void make_interior(void *arg)
{
    (void)arg;
    g_slot[0] = (char *)witness(64, 1) + 17;
    g_slot[1] = (char *)witness(1 << 20, 2) + 700001;   /* a large object */
    g_slot[2] = (char *)witness(4096, 3) + 4095;        /* its last byte */
}

RT_TEST(test_interior_pointer_keeps_object)
{
    on_goroutine(make_interior, NULL);
    collect_rounds(6);
    REQUIRE_EQ(runs(1), 0);
    REQUIRE_EQ(runs(2), 0);
    REQUIRE_EQ(runs(3), 0);
    REQUIRE(intact((char *)g_slot[0] - 17, 64, 1));
    REQUIRE(intact((char *)g_slot[1] - 700001, 1 << 20, 2));
    REQUIRE(intact((char *)g_slot[2] - 4095, 4096, 3));
    g_slot[0] = g_slot[1] = g_slot[2] = NULL;
    COLLECT_UNTIL(runs(1) == 1 &&
                  runs(2) == 1 &&
                  runs(3) == 1);
}

/* ------------------------------------------------- one past the end -- */

static void make_past_end(void *arg)
{
    (void)arg;
    g_slot[0] = (char *)witness(64, 1) + 64;
    g_slot[1] = (char *)witness(1024, 2) + 1024;
    g_slot[2] = (char *)witness(64 << 10, 3) + (64 << 10); /* large */
}

RT_TEST(test_pointer_past_end_does_not_keep_object)
{
    /* The sizes are exact size classes, so one past the end is outside
     * the slot too (a pointer into the slot's rounding would count). */
    REQUIRE(size_is_class(64));
    REQUIRE(size_is_class(1024));
    on_goroutine(make_past_end, NULL);
    COLLECT_UNTIL(runs(1) == 1 &&
                  runs(2) == 1 &&
                  runs(3) == 1);
    g_slot[0] = g_slot[1] = g_slot[2] = NULL;
}

/* ------------------------------------------------------- data and bss -- */

static void *g_bss_root;                                /* bss */
static void *g_data_root = (void *)&g_data_root;        /* data */

static void make_globals(void *arg)
{
    (void)arg;
    g_bss_root = witness(256, 1);
    g_data_root = witness(256, 2);
}

RT_TEST(test_global_roots_keep_objects)
{
    on_goroutine(make_globals, NULL);
    collect_rounds(6);
    REQUIRE_EQ(runs(1), 0);
    REQUIRE_EQ(runs(2), 0);
    REQUIRE(intact(*(void *volatile *)&g_bss_root, 256, 1));
    REQUIRE(intact(*(void *volatile *)&g_data_root, 256, 2));
    *(void *volatile *)&g_bss_root = NULL;
    *(void *volatile *)&g_data_root = NULL;
    COLLECT_UNTIL(runs(1) == 1 &&
                  runs(2) == 1);
}

/* --------------------------------------------- a parked goroutine's stack -- */

typedef struct {
    rt_chan *ready, *go, *done;
    unsigned id;
} parked;

static void parked_main(void *arg)
{
    parked *pk = arg;
    /* The only reference: a local of this goroutine, in its stack frame. */
    void *volatile local = witness(512, pk->id);
    int x = 0;
    rt_chan_send(pk->ready, &x);
    REQUIRE(rt_chan_recv(pk->go, &x)); /* parked here during the cycles */
    REQUIRE_MSG(intact(local, 512, pk->id),
                "object kept only on a parked goroutine's stack was reused");
    local = NULL;
    scrub_stack();
    rt_chan_send(pk->done, &x);
}

RT_TEST(test_parked_goroutine_stack_keeps_object)
{
    parked pk[2];
    for (unsigned i = 0; i < 2; i++) {
        pk[i] = (parked){rt_chan_make(sizeof(int), 0), rt_chan_make(sizeof(int), 0),
                         rt_chan_make(sizeof(int), 1), i + 1};
        REQUIRE_GT(rt_go(parked_main, &pk[i]), 0);
        REQUIRE(rt_chan_recv(pk[i].ready, NULL));
    }
    collect_rounds(6);
    REQUIRE_EQ(runs(1), 0);
    REQUIRE_EQ(runs(2), 0);
    for (unsigned i = 0; i < 2; i++) {
        int x = 1;
        rt_chan_send(pk[i].go, &x);
        REQUIRE(rt_chan_recv(pk[i].done, NULL));
    }
    /* The goroutines are gone, and their stacks with them. */
    COLLECT_UNTIL(runs(1) == 1 &&
                  runs(2) == 1);
}

/* A goroutine that is runnable (yielding in a loop) rather than parked. */
static _Atomic int spin_stop, spin_ready;

static void spinner_main(void *arg)
{
    (void)arg;
    void *volatile local = witness(512, 3);
    atomic_store(&spin_ready, 1);
    while (!atomic_load(&spin_stop))
        rt_yield();
    REQUIRE_MSG(intact(local, 512, 3),
                "object kept only on a running goroutine's stack was reused");
    local = NULL;
    scrub_stack();
    atomic_store(&spin_ready, 2);
}

RT_TEST(test_running_goroutine_stack_keeps_object)
{
    /* not the heap's first object: see test_first_object_is_collectable */
    g_slot[7] = rt_alloc(512);
    REQUIRE_GT(rt_go(spinner_main, NULL), 0);
    WAIT_UNTIL(atomic_load(&spin_ready) == 1);
    collect_rounds(6);
    REQUIRE_EQ(runs(3), 0);
    atomic_store(&spin_stop, 1);
    WAIT_UNTIL(atomic_load(&spin_ready) == 2);
    COLLECT_UNTIL(runs(3) == 1);
}

/* The very first object of the heap sits at the heap's lowest address, a
 * value the runtime's own variables may hold (arena bounds): those are no
 * references to it.  The goroutine is started with rt_go (no allocation)
 * so that the witness is the first object this program allocates. */
static _Atomic int first_made;

static void first_main(void *arg)
{
    (void)arg;
    witness(512, 4);
    scrub_stack();
    atomic_store(&first_made, 1);
}

RT_TEST(test_first_object_is_collectable)
{
    REQUIRE_GT(rt_go(first_main, NULL), 0);
    WAIT_UNTIL(atomic_load(&first_made) == 1);
    rt_sleep(RT_MILLISECOND); /* let it exit */
    COLLECT_UNTIL(runs(4) == 1);
}

/* ------------------------------------------------------ malloc'd memory -- */

enum { ROOT_WORDS = 512 }; /* a 4 KiB range */
static void **g_mem;         /* malloc'd, ROOT_WORDS + 8 words */

static void store_in_malloc(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    g_mem[ROOT_WORDS - 1] = witness(128, id); /* the range's last word */
}

static void store_past_range(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    g_mem[ROOT_WORDS] = witness(128, id); /* just past the range */
}

RT_TEST(test_malloc_memory_needs_registration)
{
    g_mem = calloc(ROOT_WORDS + 8, sizeof(void *));
    REQUIRE(g_mem != NULL);

    /* Not registered: malloc'd memory is not scanned. */
    on_goroutine(store_in_malloc, (void *)(uintptr_t)1);
    COLLECT_UNTIL(runs(1) == 1);
    g_mem[ROOT_WORDS - 1] = NULL;

    /* Registered: the last word of the range is a root, the word after
     * the range is not. */
    rt_gc_add_root(g_mem, ROOT_WORDS * sizeof(void *));
    on_goroutine(store_in_malloc, (void *)(uintptr_t)2);
    on_goroutine(store_past_range, (void *)(uintptr_t)3);
    COLLECT_UNTIL(runs(3) == 1);
    collect_rounds(4);
    REQUIRE_EQ(runs(2), 0);
    REQUIRE(intact(g_mem[ROOT_WORDS - 1], 128, 2));

    /* An interior pointer in a registered range counts too. */
    g_mem[7] = (char *)witness(256, 4) + 100;
    scrub_stack();
    collect_rounds(3);
    REQUIRE_EQ(runs(4), 0);
    REQUIRE(intact((char *)g_mem[7] - 100, 256, 4));

    /* Removed: collected again. */
    rt_gc_remove_root(g_mem);
    COLLECT_UNTIL(runs(2) == 1 &&
                  runs(4) == 1);
    free(g_mem);
    g_mem = NULL;
}

/* Several registered ranges; removing one leaves the others in force. */
static void **g_ranges[3];

static void fill_ranges(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 3; i++)
        g_ranges[i][3] = witness(64, 10 + i);
}

RT_TEST(test_remove_one_root_of_several)
{
    for (int i = 0; i < 3; i++) {
        g_ranges[i] = calloc(16, sizeof(void *));
        REQUIRE(g_ranges[i] != NULL);
        rt_gc_add_root(g_ranges[i], 16 * sizeof(void *));
    }
    on_goroutine(fill_ranges, NULL);
    collect_rounds(3);
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(runs(10 + i), 0);
    rt_gc_remove_root(g_ranges[1]);
    COLLECT_UNTIL(runs(11) == 1);
    collect_rounds(3);
    REQUIRE_EQ(runs(10), 0);
    REQUIRE_EQ(runs(12), 0);
    REQUIRE(intact(g_ranges[0][3], 64, 10));
    REQUIRE(intact(g_ranges[2][3], 64, 12));
    rt_gc_remove_root(g_ranges[0]);
    rt_gc_remove_root(g_ranges[2]);
    COLLECT_UNTIL(runs(10) == 1 &&
                  runs(12) == 1);
    for (int i = 0; i < 3; i++)
        free(g_ranges[i]);
}

/* -------------------------------------------- scanned and noscan holders -- */

static void *volatile g_noscan_holder, *volatile g_scan_holder;

static void fill_holders(void *arg)
{
    (void)arg;
    void **ns = g_noscan_holder, **sc = g_scan_holder;
    ns[0] = witness(64, 1);
    ns[7] = (char *)witness(64, 2) + 8;
    sc[0] = witness(64, 3);
    sc[7] = (char *)witness(64, 4) + 8; /* the holder's last word */
}

/* In a frame of its own, dead before the collections that must free the
 * holder's targets: the body's frame lives through them, and a copy of
 * the holder's address the compiler kept there (TSan's build) held them. */
NOINLINE static void scanned_holder_intact(void)
{
    void **sc = g_scan_holder;
    REQUIRE(intact(sc[0], 64, 3));
    REQUIRE(intact((char *)sc[7] - 8, 64, 4));
}

RT_TEST(test_noscan_object_does_not_retain_scanned_does)
{
    g_noscan_holder = rt_alloc_noscan(64);
    g_scan_holder = rt_alloc(64);
    on_goroutine(fill_holders, NULL);
    /* The targets of the noscan holder go... */
    COLLECT_UNTIL(runs(1) == 1 &&
                  runs(2) == 1);
    /* ...those of the scanned one stay. */
    collect_rounds(3);
    REQUIRE_EQ(runs(3), 0);
    REQUIRE_EQ(runs(4), 0);
    scanned_holder_intact();
    /* The holder dropped: everything goes. */
    g_scan_holder = NULL;
    COLLECT_UNTIL(runs(3) == 1 &&
                  runs(4) == 1);
    g_noscan_holder = NULL;
}

/* A noscan object holding its own address and other heap addresses is not
 * scanned, so a large noscan buffer full of pointer-like words retains
 * nothing either. */
static void fill_big_noscan(void *arg)
{
    (void)arg;
    void **buf = g_noscan_holder;
    for (size_t i = 0; i < (1 << 20) / sizeof(void *); i += 512)
        buf[i] = (char *)witness(64, 5) + 8 * (i % 8);
}

RT_TEST(test_large_noscan_buffer_retains_nothing)
{
    g_noscan_holder = rt_alloc_noscan(1 << 20);
    /* Many witnesses with the same id: count them all. */
    on_goroutine(fill_big_noscan, NULL);
    COLLECT_UNTIL(runs(5) == (1 << 20) / 8 / 512);
    g_noscan_holder = NULL;
}

/* ------------------------------------------------------ deep structures -- */

typedef struct node {
    struct node *next;
    uint64_t index;
} node;

static node *volatile g_list;
enum { LIST_LEN = 1000000 };

static void build_list(void *arg)
{
    (void)arg;
    node *head = NULL;
    for (uint64_t i = 0; i < LIST_LEN; i++) {
        node *n = rt_alloc(sizeof *n);
        n->next = head;
        n->index = MAGIC2 ^ i;
        head = n;
    }
    g_list = head;
}

/* A million-node list: the marker must not recurse once per node. */
RT_TEST(test_long_linked_list_survives)
{
    on_goroutine(build_list, NULL);
    for (int round = 0; round < 3; round++) {
        rt_gc();
        churn();
    }
    uint64_t want = LIST_LEN;
    for (node *n = g_list; n != NULL; n = n->next) {
        want--;
        REQUIRE_MSG(n->index == (MAGIC2 ^ want),
                    "list node %llu damaged (%#llx) after collections",
                    (unsigned long long)want, (unsigned long long)n->index);
    }
    REQUIRE_EQ(want, 0);
    rt_memstats *ms = malloc(sizeof *ms);
    rt_read_memstats(ms);
    uint64_t frees0 = ms->frees, live0 = ms->heap_alloc;
    g_list = NULL;
    scrub_stack();
    rt_gc();
    rt_gc();
    rt_read_memstats(ms);
    REQUIRE_GE(ms->frees - frees0, LIST_LEN * 9ull / 10);
    REQUIRE_LE(ms->heap_alloc + LIST_LEN * sizeof(node) * 9 / 10, live0);
    free(ms);
}

/* Cycles are garbage like anything else. */
static void make_cycles(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 4; i++) {
        void **a = rt_alloc(64), **b = rt_alloc(64);
        a[0] = b;
        b[0] = a;
        a[1] = witness(64, 20 + i);
        /* (No edge back from the witness: Go does not promise to collect
         * a cycle that runs through an object with a finalizer.) */
    }
}

RT_TEST(test_unreachable_cycles_are_collected)
{
    on_goroutine(make_cycles, NULL);
    COLLECT_UNTIL(runs(20) == 1 && runs(21) == 1 &&
                  runs(22) == 1 && runs(23) == 1);
}

/* ------------------------------------------------------------- channels -- */

/* A pointer that sits only in a buffered channel's buffer stays alive; the
 * channel itself is reachable only from a heap object. */
typedef struct {
    rt_chan *c;
} chan_holder;

static chan_holder *volatile g_holder;

static void fill_channel(void *arg)
{
    (void)arg;
    chan_holder *h = rt_new(chan_holder);
    h->c = rt_chan_make(sizeof(void *), 8);
    for (unsigned i = 0; i < 4; i++) {
        void *p = witness(64, 30 + i);
        rt_chan_send(h->c, &p);
    }
    g_holder = h;
}

static void echo_main(void *arg)
{
    rt_chan *c = arg;
    int64_t v;
    while (rt_chan_recv(c, &v) && v >= 0)
        ;
}

RT_TEST(test_channel_buffer_and_heap_held_channel)
{
    on_goroutine(fill_channel, NULL);
    collect_rounds(6);
    for (unsigned i = 0; i < 4; i++)
        REQUIRE_EQ(runs(30 + i), 0);
    REQUIRE_EQ(rt_chan_len(g_holder->c), 4);
    for (unsigned i = 0; i < 4; i++) {
        void *p = NULL;
        REQUIRE(rt_chan_recv(g_holder->c, &p));
        REQUIRE(intact(p, 64, 30 + i));
        p = NULL;
    }
    /* The channel still works. */
    rt_chan *c2 = rt_chan_make(sizeof(int64_t), 0);
    REQUIRE_GT(rt_go(echo_main, c2), 0);
    for (int64_t i = 0; i < 1000; i++) {
        void *q = &i;
        REQUIRE(rt_chan_try_send(g_holder->c, &q));
        rt_chan_send(c2, &i);
        REQUIRE(rt_chan_recv(g_holder->c, &q));
        REQUIRE(q == &i);
        if (i % 100 == 0)
            rt_gc();
    }
    int64_t stop = -1;
    rt_chan_send(c2, &stop);
    g_holder = NULL;
    COLLECT_UNTIL(runs(30) == 1 && runs(31) == 1 &&
                  runs(32) == 1 && runs(33) == 1);
}

/* A channel reachable only from the stack of a goroutine parked on it. */
static _Atomic uintptr_t g_hidden_chan;

static void owner_main(void *arg)
{
    rt_chan *done = arg;
    rt_chan *volatile c = rt_chan_make(sizeof(void *), 0);
    atomic_store(&g_hidden_chan, hide(c));
    void *p = NULL;
    REQUIRE(rt_chan_recv(c, &p));
    REQUIRE(intact(p, 64, 40));
    p = NULL;
    int x = 1;
    rt_chan_send(done, &x);
}

static void send_to_hidden(void *arg)
{
    (void)arg;
    void *p = witness(64, 40);
    rt_chan_send(unhide(atomic_load(&g_hidden_chan)), &p);
}

RT_TEST(test_channel_held_by_parked_goroutine)
{
    rt_chan *done = rt_chan_make(sizeof(int), 1);
    REQUIRE_GT(rt_go(owner_main, done), 0);
    WAIT_UNTIL(atomic_load(&g_hidden_chan) != 0);
    rt_sleep(RT_MILLISECOND); /* let it park */
    collect_rounds(6);
    /* If the channel had been freed, this send would go to reused
     * memory and the owner would never wake. */
    on_goroutine(send_to_hidden, NULL);
    REQUIRE(rt_chan_recv(done, NULL));
    COLLECT_UNTIL(runs(40) == 1);
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    Suite *s = suite_create("gc_api_roots");
    TCase *tc = tcase_create("roots");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_interior_pointer_keeps_object);
    tcase_add_test(tc, test_pointer_past_end_does_not_keep_object);
    tcase_add_test(tc, test_global_roots_keep_objects);
    tcase_add_test(tc, test_parked_goroutine_stack_keeps_object);
    tcase_add_test(tc, test_running_goroutine_stack_keeps_object);
    tcase_add_test(tc, test_first_object_is_collectable);
    tcase_add_test(tc, test_malloc_memory_needs_registration);
    tcase_add_test(tc, test_remove_one_root_of_several);
    tcase_add_test(tc, test_noscan_object_does_not_retain_scanned_does);
    tcase_add_test(tc, test_large_noscan_buffer_retains_nothing);
    tcase_add_test(tc, test_long_linked_list_survives);
    tcase_add_test(tc, test_unreachable_cycles_are_collected);
    tcase_add_test(tc, test_channel_buffer_and_heap_held_channel);
    tcase_add_test(tc, test_channel_held_by_parked_goroutine);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
