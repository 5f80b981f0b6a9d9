/*
 * tests/stress/stress_gc.c -- collector torture: goroutines build and rewire
 * random object graphs while collections run, and check that no reachable
 * object is ever freed, reused or damaged.  Run by CTest at MAXPROCS 1, 2
 * and 4 (black-box: rt.h and the harness only).
 *
 * Objects.  Every object starts with a header {id, check}.  The id is unique
 * (a serial number and the maker's worker) and also encodes the object's
 * size, its number of pointer slots and whether it is noscan; check is a
 * hash of the id, the object's own address and its payload.  After the
 * header come the pointer slots (edges), then the payload: bytes generated
 * from the id.  An edge is {p, off, id}: p points off bytes into the target
 * (an interior pointer when off > 0) and id is the target's id, so an edge
 * whose target was freed and handed out again -- even at the same address
 * -- is caught, as is a target that was zeroed or overwritten.  Sizes run
 * from 16 bytes (header only) to 64 KiB; a fifth of the objects are noscan
 * leaves (rt_alloc_noscan).
 *
 * Roots.  Each of NW workers keeps its graph reachable from: an array on
 * its own stack; a bss array; a data-segment array; a malloc'd array
 * registered with rt_gc_add_root (moved now and then to a new registered
 * block, the old one removed); and, for a subgraph in flight, a channel
 * buffer (each worker has an inbox; subgraphs built for a peer are sent
 * there and taken over by the receiver).  Subtrees under construction are
 * held only in the builder's locals, so collections that start during an
 * allocation see the newest objects only on a stack or in registers.
 *
 * Mutations: a random walk from a random root picks an object; one of its
 * slots is set to a new subtree (old object -> new objects), to another
 * object found by a second walk (cross edges, cycles), re-pointed at
 * another offset of the same target, or cleared (garbage).  Every object a
 * walk passes is verified; now and then a worker verifies its whole graph
 * (which also measures it: above the budget, mutations lean to clearing).
 * A quarter of the edges are stored by read(2) from a pipe, so the kernel
 * writes pointers into objects that a concurrent mark phase may have
 * scanned already.
 * Collections come from a small GOGC (20) and from explicit rt_gc calls by
 * a few workers; one worker calls rt_free_os_memory now and then, another
 * reads memstats and checks their invariants.  A few objects carry
 * finalizers, which check that their object and the objects its slots
 * point to are intact and then poison its payload: a worker that later reaches such an object reports that a
 * finalizer ran on a reachable object.
 *
 * STRESS_GC_SECONDS (default 4) sets the mutation time, STRESS_GC_SEED the
 * seed (printed on failure).  At the end the memstats must show more than
 * 10 cycles and some frees.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum {
    NW = 16,         /* workers */
    NS = 8,          /* stack roots per worker */
    NG = 8,          /* bss roots per worker */
    ND = 4,          /* data roots per worker */
    NM = 8,          /* registered malloc roots per worker */
    NR = NS + NG + ND + NM,
    MAXDEPTH = 3,    /* of a new subtree */
};

#define BUDGET      ((size_t)1 << 20) /* live bytes per worker, about */
#define ID_TOP      (1ull << 63)
#define FINAL_MARK  0xDEADF1A1DEADF1A1ull

typedef struct edge {
    void *p;      /* target + off, or NULL */
    uint64_t off; /* p - target */
    uint64_t id;  /* target's id */
} edge;

typedef struct hdr {
    uint64_t id;
    uint64_t check;
} hdr;

typedef struct worker {
    int id;
    uint64_t rng;
    uint64_t serial;
    int pipe[2];   /* edges delivered by read(2): the kernel writes the heap */
    edge *sroots;  /* NS, on this worker's stack */
    edge *mroots;  /* NM, malloc'd and registered */
    size_t live_est;
    /* the visited set and DFS stack of a verification (malloc'd) */
    uintptr_t *set;
    size_t set_cap, set_len;
    hdr **stk;
    size_t stk_cap;
    /* counts */
    uint64_t iters, verified, made, sent, received, full_checks;
} worker;

static worker g_w[NW];
static edge g_roots[NW][NG];                       /* bss */
static struct {
    uint64_t tag;
    edge r[NW][ND];
} g_data = {.tag = 0x5eed};                        /* data */
static rt_chan *g_inbox[NW];
static uint64_t g_seed;
static _Atomic int64_t g_deadline; /* extended until enough cycles ran */
static rt_waitgroup g_wg;
static _Atomic uint64_t g_finalized;

/* --------------------------------------------------------------- ids -- */

static inline uint64_t make_id(uint64_t serial, size_t size, unsigned nptr, bool noscan)
{
    return ID_TOP | (serial & ((1ull << 37) - 1)) << 26 | (uint64_t)size << 9 |
           (uint64_t)nptr << 1 | (noscan ? 1u : 0u);
}
static inline size_t id_size(uint64_t id) { return (size_t)(id >> 9) & 0x1ffff; }
static inline unsigned id_nptr(uint64_t id) { return (unsigned)(id >> 1) & 0xff; }
static inline bool id_noscan(uint64_t id) { return id & 1; }

static inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t rnd(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static inline edge *edges(hdr *o) { return (edge *)(o + 1); }

static inline unsigned char *payload(hdr *o, size_t *len)
{
    size_t head = sizeof(hdr) + id_nptr(o->id) * sizeof(edge);
    *len = id_size(o->id) - head;
    return (unsigned char *)o + head;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0x84222325cbf29ce4ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t expected_check(hdr *o)
{
    size_t len;
    unsigned char *pl = payload(o, &len);
    return mix(o->id ^ (uintptr_t)o) ^ hash_bytes(pl, len);
}

/* --------------------------------------------------------- verifying -- */

#define FAIL(w, ...)                                                          \
    do {                                                                      \
        char m_[512];                                                         \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                 \
        ck_abort_msg("stress_gc (seed %llu, MAXPROCS %d): worker %d: %s",     \
                     (unsigned long long)g_seed, rt_maxprocs(0), (w)->id, m_);\
    } while (0)

static void verify_obj(worker *w, hdr *o, const char *via)
{
    uint64_t id = o->id;
    if (!(id & ID_TOP))
        FAIL(w, "object %p reached via %s has id %#llx: it was freed (zeroed "
                "or reused) while reachable", (void *)o, via,
             (unsigned long long)id);
    size_t size = id_size(id);
    unsigned nptr = id_nptr(id);
    if (size < sizeof(hdr) + nptr * sizeof(edge) || size > (64u << 10) ||
        (id_noscan(id) && nptr != 0))
        FAIL(w, "object %p reached via %s has a corrupt id %#llx", (void *)o,
             via, (unsigned long long)id);
    uint64_t want = expected_check(o);
    if (o->check != want) {
        size_t len;
        unsigned char *pl = payload(o, &len);
        uint64_t first = 0;
        if (len >= 8)
            memcpy(&first, pl, 8);
        if (first == FINAL_MARK)
            FAIL(w, "object %p (id %#llx, %zu bytes) reached via %s: its "
                    "finalizer ran while it was reachable", (void *)o,
                 (unsigned long long)id, size, via);
        FAIL(w, "checksum mismatch: object %p (id %#llx, %zu bytes, %u slots, "
                "%s) reached via %s: check %#llx, want %#llx -- payload or "
                "header overwritten (freed and reused while reachable?)",
             (void *)o, (unsigned long long)id, size, nptr,
             id_noscan(id) ? "noscan" : "scanned", via,
             (unsigned long long)o->check, (unsigned long long)want);
    }
    w->verified++;
}

/* The object an edge points into, verified; NULL for an empty edge. */
static hdr *follow(worker *w, const edge *e, const char *via)
{
    if (e->p == NULL)
        return NULL;
    hdr *o = (hdr *)((char *)e->p - e->off);
    if (o->id != e->id)
        FAIL(w, "edge via %s to %p (+%llu) expects object id %#llx, finds "
                "%#llx: the target was freed and reused while reachable",
             via, (void *)o, (unsigned long long)e->off,
             (unsigned long long)e->id, (unsigned long long)o->id);
    verify_obj(w, o, via);
    if (e->off >= id_size(o->id))
        FAIL(w, "test bug: edge offset %llu beyond a %zu-byte object",
             (unsigned long long)e->off, id_size(o->id));
    return o;
}

/* Visited set: open addressing over malloc'd memory (not a root: every
 * object in it is reachable from the graph being checked). */
static void set_clear(worker *w)
{
    memset(w->set, 0, w->set_cap * sizeof(uintptr_t));
    w->set_len = 0;
}

static bool set_add(worker *w, uintptr_t key);

static void set_grow(worker *w)
{
    uintptr_t *old = w->set;
    size_t oldcap = w->set_cap;
    w->set_cap *= 2;
    w->set = calloc(w->set_cap, sizeof(uintptr_t));
    REQUIRE(w->set != NULL);
    w->set_len = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] != 0)
            set_add(w, old[i]);
    free(old);
}

/* Keys are stored complemented (~addr): not heap addresses. */
static bool set_add(worker *w, uintptr_t key)
{
    if (2 * (w->set_len + 1) > w->set_cap)
        set_grow(w);
    uintptr_t k = ~key;
    size_t i = (size_t)mix(key) & (w->set_cap - 1);
    while (w->set[i] != 0) {
        if (w->set[i] == k)
            return false;
        i = (i + 1) & (w->set_cap - 1);
    }
    w->set[i] = k;
    w->set_len++;
    return true;
}

static void push(worker *w, size_t *n, hdr *o)
{
    if (*n == w->stk_cap) {
        w->stk_cap *= 2;
        w->stk = realloc(w->stk, w->stk_cap * sizeof(hdr *));
        REQUIRE(w->stk != NULL);
    }
    w->stk[(*n)++] = o;
}

/* Verifies everything reachable from the n edges at roots; returns bytes. */
static size_t verify_from(worker *w, edge *roots, size_t n, const char *via)
{
    size_t sp = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        hdr *o = follow(w, &roots[i], via);
        if (o != NULL && set_add(w, (uintptr_t)o))
            push(w, &sp, o);
    }
    while (sp > 0) {
        hdr *o = w->stk[--sp];
        bytes += id_size(o->id);
        unsigned nptr = id_nptr(o->id);
        for (unsigned j = 0; j < nptr; j++) {
            hdr *c = follow(w, &edges(o)[j], "an object's slot");
            if (c != NULL && set_add(w, (uintptr_t)c))
                push(w, &sp, c);
        }
    }
    return bytes;
}

static edge *root(worker *w, unsigned k)
{
    if (k < NS)
        return &w->sroots[k];
    k -= NS;
    if (k < NG)
        return &g_roots[w->id][k];
    k -= NG;
    if (k < ND)
        return &g_data.r[w->id][k];
    return &w->mroots[k - ND];
}

static const char *root_kind(unsigned k)
{
    return k < NS ? "a stack root"
           : k < NS + NG ? "a bss root"
           : k < NS + NG + ND ? "a data-segment root"
                              : "a registered malloc root";
}

static void verify_all(worker *w)
{
    set_clear(w);
    size_t bytes = 0;
    bytes += verify_from(w, w->sroots, NS, root_kind(0));
    bytes += verify_from(w, g_roots[w->id], NG, root_kind(NS));
    bytes += verify_from(w, g_data.r[w->id], ND, root_kind(NS + NG));
    bytes += verify_from(w, w->mroots, NM, root_kind(NS + NG + ND));
    w->live_est = bytes;
    w->full_checks++;
}

/* ----------------------------------------------------------- building -- */

static void on_final(void *obj)
{
    hdr *o = obj;
    static worker fw = {.id = -1};
    /* Unreachable, but not freed before its finalizer: intact. */
    verify_obj(&fw, o, "the finalizer's argument");
    /* ... and what it points to: its contents were roots until now, also
     * those written while a mark phase ran (then the object dropped) */
    for (unsigned j = 0; j < id_nptr(o->id); j++)
        (void)follow(&fw, &edges(o)[j], "a slot of a finalizer's argument");
    size_t len;
    unsigned char *pl = payload(o, &len);
    uint64_t mark = FINAL_MARK;
    memcpy(pl, &mark, 8);
    atomic_fetch_add(&g_finalized, 1);
}

static size_t pick_size(worker *w)
{
    uint64_t r = rnd(w) % 100;
    if (r < 70)
        return 16 + rnd(w) % 241;            /* 16..256 */
    if (r < 95)
        return 256 + rnd(w) % (4096 - 256);  /* ..4 KiB */
    return 4096 + rnd(w) % ((64 << 10) - 4096 + 1); /* ..64 KiB */
}

static void set_edge(edge *e, hdr *target, uint64_t off)
{
    if (target == NULL) {
        e->p = NULL;
        e->off = e->id = 0;
        return;
    }
    e->off = off;
    e->id = target->id;
    e->p = (char *)target + off;
}

/* An offset into o: the start half of the time, else anywhere in it. */
static uint64_t pick_off(worker *w, hdr *o)
{
    return rnd(w) % 2 ? 0 : rnd(w) % id_size(o->id);
}

/* A new object: zeroed on arrival, then id, payload and check written. */
static hdr *new_obj(worker *w)
{
    size_t size = pick_size(w);
    bool noscan = rnd(w) % 5 == 0;
    unsigned maxp = (unsigned)((size - sizeof(hdr)) / sizeof(edge));
    unsigned cap = size <= 256 ? 4 : size <= 4096 ? 8 : 16;
    if (maxp > cap)
        maxp = cap;
    unsigned nptr = noscan || maxp == 0 ? 0 : (unsigned)(rnd(w) % (maxp + 1));
    hdr *o = noscan ? rt_alloc_noscan(size) : rt_alloc(size);
    REQUIRE(o != NULL);
    const uint64_t *words = (const uint64_t *)o;
    for (size_t i = 0; i < size / 8; i++)
        if (words[i] != 0)
            FAIL(w, "a new %zu-byte %s object at %p is not zeroed (word %zu is "
                    "%#llx): memory handed out twice?", size,
                 noscan ? "noscan" : "scanned", (void *)o, i,
                 (unsigned long long)words[i]);
    uint64_t serial = w->serial++ * NW + (uint64_t)w->id;
    o->id = make_id(serial, size, nptr, noscan);
    size_t len;
    unsigned char *pl = payload(o, &len);
    uint64_t s = mix(o->id);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        s = mix(s);
        memcpy(pl + i, &s, 8);
    }
    for (s = mix(s); i < len; i++, s >>= 8)
        pl[i] = (unsigned char)s;
    o->check = expected_check(o);
    if (!noscan && len >= 8 && rnd(w) % 100 == 0)
        rt_set_finalizer(o, on_final);
    w->made++;
    w->live_est += size;
    return o;
}

/* A fresh subtree: every node is new; children are held only in this
 * function's locals while their siblings are allocated. */
static hdr *build(worker *w, int depth)
{
    hdr *o = new_obj(w);
    unsigned nptr = id_nptr(o->id);
    for (unsigned j = 0; j < nptr; j++) {
        if (depth > 0 && rnd(w) % 3 == 0) {
            hdr *c = build(w, depth - 1);
            set_edge(&edges(o)[j], c, pick_off(w, c));
        }
    }
    return o;
}

/* ---------------------------------------------------------- mutating -- */

/* A random reachable object: from a random non-empty root, a few random
 * steps.  *slot gets the edge that leads to it. */
static hdr *walk(worker *w, edge **slot)
{
    unsigned k0 = (unsigned)(rnd(w) % NR), k = 0;
    edge *e = NULL;
    for (unsigned t = 0; t < NR; t++) {
        k = (k0 + t) % NR;
        if (root(w, k)->p != NULL) {
            e = root(w, k);
            break;
        }
    }
    if (e == NULL)
        return NULL;
    hdr *o = follow(w, e, root_kind(k));
    unsigned steps = (unsigned)(rnd(w) % 8);
    for (unsigned s = 0; s < steps; s++) {
        unsigned nptr = id_nptr(o->id);
        if (nptr == 0)
            break;
        unsigned j0 = (unsigned)(rnd(w) % nptr), j;
        edge *next = NULL;
        for (unsigned t = 0; t < nptr; t++) {
            j = (j0 + t) % nptr;
            if (edges(o)[j].p != NULL) {
                next = &edges(o)[j];
                break;
            }
        }
        if (next == NULL)
            break;
        e = next;
        o = follow(w, e, "a walk");
    }
    if (slot != NULL)
        *slot = e;
    return o;
}

/* What a slot (root or object) gets. */
/* Stores an edge in a slot, a quarter of the time through a pipe: the
 * kernel's write into the heap (read(2) into a heap object) while a mark
 * phase may run must be seen by the collector like the program's own. */
static void store_edge(worker *w, edge *slot, hdr *target, uint64_t off)
{
    edge e;
    set_edge(&e, target, off);
    if (rnd(w) % 4 != 0) {
        *slot = e;
        return;
    }
    REQUIRE(write(w->pipe[1], &e, sizeof e) == (ssize_t)sizeof e);
    REQUIRE(read(w->pipe[0], slot, sizeof e) == (ssize_t)sizeof e);
}

static void assign(worker *w, edge *slot)
{
    bool over = w->live_est > BUDGET;
    uint64_t r = rnd(w) % 100;
    if (r < (over ? 60u : 15u)) {
        set_edge(slot, NULL, 0);
    } else if (r < (over ? 75u : 60u)) {
        hdr *c = build(w, (int)(rnd(w) % (MAXDEPTH + 1)));
        store_edge(w, slot, c, pick_off(w, c));
    } else if (r < 90) {
        hdr *o = walk(w, NULL); /* a cross edge: maybe a cycle */
        store_edge(w, slot, o, o == NULL ? 0 : pick_off(w, o));
    } else if (slot->p != NULL) {
        hdr *o = follow(w, slot, "a slot being re-pointed");
        store_edge(w, slot, o, pick_off(w, o));
    }
}

static void mutate(worker *w)
{
    if (rnd(w) % 4 == 0) {
        assign(w, root(w, (unsigned)(rnd(w) % NR)));
        return;
    }
    hdr *o = walk(w, NULL);
    if (o == NULL) {
        assign(w, root(w, (unsigned)(rnd(w) % NR)));
        return;
    }
    unsigned nptr = id_nptr(o->id);
    if (nptr > 0)
        assign(w, &edges(o)[rnd(w) % nptr]);
}

/* Builds a subtree for a peer and puts it in the peer's inbox. */
static void send_subtree(worker *w)
{
    int peer = (int)(rnd(w) % NW);
    hdr *c = build(w, (int)(rnd(w) % (MAXDEPTH + 1)));
    edge e;
    set_edge(&e, c, pick_off(w, c));
    if (rt_chan_try_send(g_inbox[peer], &e))
        w->sent++;
}

/* Takes a subtree from the inbox, checks all of it, links it in. */
static void receive_subtree(worker *w)
{
    edge e;
    if (rt_chan_try_recv(g_inbox[w->id], &e) != 1)
        return;
    set_clear(w);
    w->live_est += verify_from(w, &e, 1, "a channel buffer");
    hdr *o = walk(w, NULL);
    edge *slot = root(w, (unsigned)(rnd(w) % NR));
    if (o != NULL && id_nptr(o->id) > 0 && rnd(w) % 2)
        slot = &edges(o)[rnd(w) % id_nptr(o->id)];
    *slot = e;
    w->received++;
}

/* Moves the registered malloc roots to a new block. */
static void move_mroots(worker *w)
{
    edge *nb = malloc(NM * sizeof(edge));
    REQUIRE(nb != NULL);
    memcpy(nb, w->mroots, NM * sizeof(edge)); /* old block still a root */
    rt_gc_add_root(nb, NM * sizeof(edge));
    edge *old = w->mroots;
    w->mroots = nb;
    rt_gc_remove_root(old);
    memset(old, 0, NM * sizeof(edge));
    free(old);
}

static void check_memstats(worker *w)
{
    rt_memstats *ms = malloc(sizeof *ms);
    REQUIRE(ms != NULL);
    rt_read_memstats(ms);
    if (ms->mallocs - ms->frees != ms->heap_objects || ms->alloc != ms->heap_alloc ||
        ms->heap_inuse + ms->heap_idle > ms->heap_sys)
        FAIL(w, "inconsistent memstats: mallocs %llu frees %llu heap_objects "
                "%llu alloc %llu heap_alloc %llu inuse %llu idle %llu sys %llu",
             (unsigned long long)ms->mallocs, (unsigned long long)ms->frees,
             (unsigned long long)ms->heap_objects, (unsigned long long)ms->alloc,
             (unsigned long long)ms->heap_alloc, (unsigned long long)ms->heap_inuse,
             (unsigned long long)ms->heap_idle, (unsigned long long)ms->heap_sys);
    free(ms);
}

static void worker_main(void *arg)
{
    worker *w = arg;
    edge sroots[NS]; /* stack roots: only this frame holds them */
    memset(sroots, 0, sizeof sroots);
    w->sroots = sroots;
    REQUIRE(pipe(w->pipe) == 0);
    w->mroots = calloc(NM, sizeof(edge));
    REQUIRE(w->mroots != NULL);
    rt_gc_add_root(w->mroots, NM * sizeof(edge));
    w->set_cap = 1 << 12;
    w->set = calloc(w->set_cap, sizeof(uintptr_t));
    w->stk_cap = 1 << 10;
    w->stk = malloc(w->stk_cap * sizeof(hdr *));
    REQUIRE(w->set != NULL && w->stk != NULL);

    while (rt_nanotime() < atomic_load(&g_deadline)) {
        uint64_t r = rnd(w) % 1000;
        if (r < 900)
            mutate(w);
        else if (r < 940)
            send_subtree(w);
        else if (r < 980)
            receive_subtree(w);
        else if (r < 995)
            verify_all(w);
        else
            move_mroots(w);
        w->iters++;
        if (w->id < 3 && w->iters % 1500 == 0)
            rt_gc();
        if (w->id == 3 && w->iters % 20000 == 0)
            rt_free_os_memory();
        if (w->id == 4 && w->iters % 500 == 0)
            check_memstats(w);
        if (w->iters % 64 == 0)
            rt_yield();
        if (rnd(w) % 2000 == 0)
            rt_sleep(50 * RT_MICROSECOND); /* parked, stack roots and all */
    }
    verify_all(w);
    /* drain the inbox, checking what was in flight */
    edge e;
    while (rt_chan_try_recv(g_inbox[w->id], &e) == 1) {
        set_clear(w);
        verify_from(w, &e, 1, "a channel buffer");
    }
    /* leave the graph unreachable from this frame's roots */
    rt_gc_remove_root(w->mroots);
    free(w->mroots);
    w->mroots = NULL;
    free(w->set);
    free(w->stk);
    w->set = NULL;
    w->stk = NULL;
    w->sroots = NULL;
    rt_waitgroup_done(&g_wg);
}

RT_TEST(stress_gc_graphs)
{
    const char *sec = getenv("STRESS_GC_SECONDS");
    const char *seed = getenv("STRESS_GC_SEED");
    double seconds = sec != NULL ? atof(sec) : 4.0;
    g_seed = seed != NULL ? strtoull(seed, NULL, 0) : 0x243f6a8885a308d3ull;
    int old_pct = rt_set_gc_percent(20);
    rt_memstats *ms = malloc(sizeof *ms);
    REQUIRE(ms != NULL);
    rt_read_memstats(ms);
    uint32_t gc0 = ms->num_gc;
    uint64_t frees0 = ms->frees;

    for (int i = 0; i < NW; i++) {
        g_inbox[i] = rt_chan_make(sizeof(edge), 4);
        g_w[i] = (worker){.id = i, .rng = mix(g_seed + (uint64_t)i) | 1};
    }
    int64_t start = rt_nanotime();
    atomic_store(&g_deadline, start + (int64_t)(seconds * 1e9));
    rt_waitgroup_add(&g_wg, NW);
    for (int i = 0; i < NW; i++)
        REQUIRE_GT(rt_go(worker_main, &g_w[i]), 0);
    /* The test is about many cycles, not a fixed time: on a slow machine
     * (sanitizers, a loaded host) the run is extended, up to 4x, until
     * more than 10 cycles have happened. */
    for (;;) {
        rt_sleep(50 * RT_MILLISECOND);
        int64_t now = rt_nanotime();
        if (now < atomic_load(&g_deadline) - 100 * RT_MILLISECOND)
            continue;
        rt_memstats *cur = calloc(1, sizeof *cur);
        REQUIRE(cur != NULL);
        rt_read_memstats(cur);
        bool enough = cur->num_gc - gc0 > 10;
        free(cur);
        if (enough || now - start > (int64_t)(4 * seconds * 1e9))
            break;
        atomic_store(&g_deadline, now + 500 * RT_MILLISECOND);
    }
    rt_waitgroup_wait(&g_wg);

    rt_read_memstats(ms);
    uint64_t iters = 0, verified = 0, made = 0, sent = 0, received = 0, full = 0;
    for (int i = 0; i < NW; i++) {
        iters += g_w[i].iters;
        verified += g_w[i].verified;
        made += g_w[i].made;
        sent += g_w[i].sent;
        received += g_w[i].received;
        full += g_w[i].full_checks;
    }
    printf("stress_gc: MAXPROCS %d, %.1f s: %llu mutations, %llu objects made, "
           "%llu verified, %llu full checks, %llu/%llu subgraphs sent/received, "
           "%u cycles, %llu frees, %llu finalized, heap_sys %llu MiB\n",
           rt_maxprocs(0), seconds, (unsigned long long)iters,
           (unsigned long long)made, (unsigned long long)verified,
           (unsigned long long)full, (unsigned long long)sent,
           (unsigned long long)received, ms->num_gc - gc0,
           (unsigned long long)(ms->frees - frees0),
           (unsigned long long)atomic_load(&g_finalized),
           (unsigned long long)(ms->heap_sys >> 20));
    REQUIRE_MSG(ms->num_gc - gc0 > 10, "only %u collections", ms->num_gc - gc0);
    REQUIRE_GT(ms->frees - frees0, 0);
    REQUIRE_GT(made, 1000);
    REQUIRE_EQ(ms->mallocs - ms->frees, ms->heap_objects);
    free(ms);
    rt_set_gc_percent(old_pct);
}

int main(void)
{
    Suite *s = suite_create("stress_gc");
    TCase *tc = tcase_create("stress_gc");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, stress_gc_graphs);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
