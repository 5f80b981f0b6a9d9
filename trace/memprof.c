/*
 * trace/memprof.c -- heap sampling and the heap / allocs profiles
 * (runtime.MemProfileRate, pprof.Lookup("heap"), WriteHeapProfile).
 *
 * Sampling
 *   Each P's allocation cache (rt__mcache) counts down next_sample, the
 *   bytes left until the next sampled allocation.  The allocator's fast
 *   path subtracts the object's size and compares once; the allocation
 *   that crosses zero takes the slow path (gc/malloc.c), which allocates as
 *   usual, notes the heap's cycle inside its no-stop region and, once out
 *   of it, calls rt__memprof_alloc.  Gaps are exponential with mean
 *   MemProfileRate bytes (a Poisson process over the bytes allocated, as
 *   Go >= 1.7): an object of size s is sampled with probability
 *   1 - exp(-s/rate), which is what lets the proto profile scale every
 *   sample back up exactly as Go's scaleHeapSample does.  Go 1.3's uniform
 *   gaps (TRACE_FORMATS.md section 12) were rejected for that reason.  The
 *   rate is read when a countdown expires; rt_set_memprofile_rate also
 *   resets every P's countdown so that a new rate applies at once, and a
 *   disabled profiler still wakes up every 64 MiB to notice a new rate.
 *
 * Stacks start at the user's frame that called the allocator (TRACE_FORMATS
 *   Part A): the writer drops every leading frame whose function lies in
 *   libgrt (rt__symbolize's in_runtime), robust against inlining and tail
 *   calls where a frame count is not.  An object libgrt allocates for
 *   itself (no frame of the program's but the root) keeps the frames above
 *   the allocator instead: the runtime's code is who asked.  A sample only
 *   walks and hashes its raw stack; symbols are looked up when a profile
 *   is written (trim_of), as Go's are.
 *
 * Frees
 *   A sampled object is entered in a hash set (address -> bucket) and its
 *   span gets has_special; the sweeper calls rt__memprof_free for every
 *   dead object of such a span (finalizer spans too: the lookup misses).
 *   The set is keyed by address: a freed slot that is reused is entered
 *   again only if the new object is sampled too.
 *   Most of those calls are for objects that were not sampled (a span of
 *   16-byte objects has 512 slots, typically one sample), so a counting
 *   filter answers them without the lock: 64 Ki counters, each the number
 *   of sampled objects in its 16-byte granule of the address space modulo
 *   1 MiB, changed under the lock with the set and read without it.  A zero is final: the object's own
 *   increment happened before the collection whose sweep reports it
 *   dead, and only its own removal takes it back.  Measured on the alloc
 *   loop (workload 13) at the default rate, the locked lookups for every
 *   dead object of such spans cost about 1.5 % of the CPU.
 *
 * Publication: Go's mprof cycles
 *   The heap profile shows the heap as of the last completed collection:
 *   allocations made before that cycle's mark, minus the frees its sweep
 *   found.  A bucket keeps folded totals plus four cycle-tagged slots; the
 *   cycle number is rt__sweepgen / 2 (advanced by the collector with the
 *   world stopped, so no hook is needed).  An allocation is recorded under
 *   the cycle in which it was made (read inside the allocation's no-stop
 *   region), a free under the cycle whose sweep found it.  With C the
 *   current cycle, the profile publishes allocations of cycles <= C-1 and
 *   frees of cycles <= C once C's sweep is complete, and one cycle less
 *   before; with no collection yet, everything (Go's MemProfile does the
 *   same when nothing was published).  Slots older than C-2 fold into the
 *   totals when their slot is reused.
 *
 * Locking
 *   One rt__lock guards the buckets and the set.  It is taken only inside
 *   a no-stop region (the sweeper's, or one opened here), so a stopped
 *   world never finds it held.  Buckets and the set are malloc'd, never
 *   while the world is stopped (sweeping never runs then).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

#define DEFAULT_RATE (512 * 1024)
#define OFF_RECHECK ((int64_t)64 << 20)

_Atomic int64_t rt__memprof_rate = DEFAULT_RATE;

/* --------------------------------------------------------------- maths -- */

/* -ln(u) for u in (0, 1], good to about 1e-7 (no libm dependency). */
static double neg_ln(double u)
{
    int e = 0;
    while (u < 0.5) {
        u *= 2;
        e++;
    }
    /* u in [0.5, 1]: ln u = 2 atanh((u-1)/(u+1)) */
    double z = (u - 1) / (u + 1), z2 = z * z;
    double s = z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 +
                                                                              z2 / 11)))));
    return e * 0.6931471805599453 - 2 * s;
}

/* exp(-x) for x >= 0. */
static double exp_neg(double x)
{
    if (x > 700)
        return 0;
    int k = 0;
    while (x > 1.0 / 64) {
        x /= 2;
        k++;
    }
    double t = 1 - x * (1 - x / 2 * (1 - x / 3 * (1 - x / 4 * (1 - x / 5))));
    while (k-- > 0)
        t *= t;
    return t;
}

int64_t rt__memprof_next_sample(void)
{
    int64_t rate = atomic_load_explicit(&rt__memprof_rate, memory_order_relaxed);
    if (rate <= 0)
        return OFF_RECHECK;
    if (rate == 1)
        return 0;
    /* u uniform in (0, 1] */
    double u = ((double)(rt__fastrand() >> 6) + 1) / (double)(1u << 26);
    double g = neg_ln(u) * (double)rate;
    return g > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)g;
}

/* ------------------------------------------------------------- buckets -- */

typedef struct counts {
    uint64_t allocs, alloc_bytes, frees, free_bytes;
} counts;

typedef struct mbucket {
    struct mbucket *next; /* hash chain */
    struct mbucket *all;  /* every bucket, newest first */
    uint64_t hash;
    size_t size;
    counts acc;            /* cycles that are certainly published */
    struct {
        uint32_t cycle;
        counts c;
    } slot[4];
    int n;
    _Atomic int trim; /* leading frames a profile leaves out (trim_of); -1 unknown */
    uintptr_t pcs[];  /* the raw walk, libgrt's frames included */
} mbucket;

/* The raw walk keeps this many frames: room for the runtime's own above
 * the RT_PPROF_EVENT_DEPTH a profile shows. */
#define MB_RAW_DEPTH (RT_PPROF_EVENT_DEPTH + 16)

#define MB_HASH 4096
static mbucket *mb_table[MB_HASH];
static mbucket *mb_all;
static size_t mb_count;
static rt__lock mp_lock;

/* Sampled objects: open addressing, address -> bucket; tombstones.  Keys
 * are complemented addresses (~p), here and in the functions that handle
 * them: the sweeper reports dead objects through rt__memprof_free, and an
 * address it left in a saved register slot below the sweeper's frame would
 * keep the next object at that address alive (conservative scanning finds
 * it once a deeper frame leaves that slot uninitialised).  ~p is no heap
 * pointer, and never 0 or 1. */
#define TOMB ((uintptr_t)1)
typedef struct sent {
    uintptr_t addr; /* 0 empty, TOMB deleted */
    mbucket *b;
} sent;
static sent *set;
static size_t set_cap, set_used, set_live;

/* The counting filter of "Frees": calloc'd at the first sample (not a
 * root the collector scans), written under mp_lock. */
#define FILTER_BITS 16
static _Atomic(_Atomic uint32_t *) filter;

/* The address's 16-byte granule, modulo the table: no hashing, so the
 * sweeper's walk through a span reads the counters in order (a hashed
 * slot missed the cache on almost every call -- 94 % of the function's
 * time in one load). */
static size_t filter_slot(uintptr_t key)
{
    return (size_t)((~key >> 4) & (((size_t)1 << FILTER_BITS) - 1));
}

/* Makes the filter while the set is still empty, so that it counts every
 * key; mp_lock held, in a no-stop region: the memory is the collector's
 * (rt__meta_alloc), never malloc's (gc.h says why). */
_Atomic uint64_t rt__buckhash_bytes;

static void filter_init(void)
{
    static bool tried;
    if (tried)
        return;
    tried = true;
    atomic_store_explicit(&filter, rt__meta_alloc(((size_t)1 << FILTER_BITS) * sizeof(uint32_t)),
                          memory_order_release);
    atomic_fetch_add_explicit(&rt__buckhash_bytes, ((size_t)1 << FILTER_BITS) * sizeof(uint32_t),
                              memory_order_relaxed);
}

/* mp_lock held; d is +1 or -1. */
static void filter_add(uintptr_t key, int d)
{
    _Atomic uint32_t *f = atomic_load_explicit(&filter, memory_order_relaxed);
    if (f != NULL)
        atomic_fetch_add_explicit(&f[filter_slot(key)], (uint32_t)d, memory_order_relaxed);
}

/* False: key is certainly not in the set (no lock taken). */
static bool filter_may_hold(uintptr_t key)
{
    _Atomic uint32_t *f = atomic_load_explicit(&filter, memory_order_acquire);
    return f == NULL || atomic_load_explicit(&f[filter_slot(key)], memory_order_relaxed) != 0;
}

static inline uint32_t cur_cycle(void)
{
    return atomic_load_explicit(&rt__sweepgen, memory_order_acquire) / 2;
}

static void counts_add(counts *a, const counts *b)
{
    a->allocs += b->allocs;
    a->alloc_bytes += b->alloc_bytes;
    a->frees += b->frees;
    a->free_bytes += b->free_bytes;
}

/* Adds d to b under cycle x; mp_lock held. */
static void bucket_add(mbucket *b, uint32_t x, const counts *d)
{
    uint32_t c = cur_cycle();
    if (x + 2 <= c) {
        counts_add(&b->acc, d);
        return;
    }
    int k = x % 4;
    if (b->slot[k].cycle != x) {
        counts_add(&b->acc, &b->slot[k].c); /* cycle x-4 or older */
        memset(&b->slot[k].c, 0, sizeof b->slot[k].c);
        b->slot[k].cycle = x;
    }
    counts_add(&b->slot[k].c, d);
}

static size_t set_index(uintptr_t a, size_t cap)
{
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & (cap - 1);
}

/* mp_lock held, in a no-stop region: rt__meta_alloc, not malloc. */
static bool set_grow(void)
{
    size_t ncap = set_cap ? set_cap * 2 : 1024;
    if (set_live * 4 < set_cap)
        ncap = set_cap; /* mostly tombstones: rehash in place size */
    sent *ns = rt__meta_alloc(ncap * sizeof *ns);
    for (size_t i = 0; i < set_cap; i++) {
        if (set[i].addr <= TOMB)
            continue;
        size_t j = set_index(set[i].addr, ncap);
        while (ns[j].addr != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = set[i];
    }
    rt__meta_free(set, set_cap * sizeof *set);
    atomic_fetch_add_explicit(&rt__buckhash_bytes, (ncap - set_cap) * sizeof *set,
                              memory_order_relaxed);
    set = ns;
    set_cap = ncap;
    set_used = set_live;
    return true;
}

static void set_insert(uintptr_t a, mbucket *b)
{
    if (set_live == 0)
        filter_init();
    if ((set_used + 1) * 4 > set_cap * 3 && !set_grow())
        return;
    size_t j = set_index(a, set_cap);
    while (set[j].addr > TOMB && set[j].addr != a)
        j = (j + 1) & (set_cap - 1);
    if (set[j].addr == 0)
        set_used++;
    if (set[j].addr != a) {
        set_live++;
        filter_add(a, 1);
    }
    set[j].addr = a;
    set[j].b = b;
}

static mbucket *set_remove(uintptr_t a)
{
    if (set_cap == 0)
        return NULL;
    size_t j = set_index(a, set_cap);
    for (size_t k = 0; k < set_cap && set[j].addr != 0; k++) {
        if (set[j].addr == a) {
            mbucket *b = set[j].b;
            set[j].addr = TOMB;
            set[j].b = NULL;
            set_live--;
            filter_add(a, -1);
            return b;
        }
        j = (j + 1) & (set_cap - 1);
    }
    return NULL;
}

static uint64_t pcs_hash(const uintptr_t *pcs, int n, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ size;
    for (int i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

/* The bucket of (stack, size); mp_lock held; NULL on OOM. */
static mbucket *bucket_get(const uintptr_t *pcs, int n, size_t size)
{
    uint64_t h = pcs_hash(pcs, n, size);
    for (mbucket *b = mb_table[h % MB_HASH]; b; b = b->next)
        if (b->hash == h && b->size == size && b->n == n &&
            memcmp(b->pcs, pcs, (size_t)n * sizeof *pcs) == 0)
            return b;
    mbucket *b = rt__meta_alloc(sizeof *b + (size_t)n * sizeof *pcs);
    atomic_fetch_add_explicit(&rt__buckhash_bytes, sizeof *b + (size_t)n * sizeof *pcs,
                              memory_order_relaxed);
    b->hash = h;
    b->size = size;
    b->n = n;
    atomic_init(&b->trim, -1);
    memcpy(b->pcs, pcs, (size_t)n * sizeof *pcs);
    b->next = mb_table[h % MB_HASH];
    mb_table[h % MB_HASH] = b;
    b->all = mb_all;
    mb_all = b;
    mb_count++;
    return b;
}

static void lock_nostop(rt_m **mpp)
{
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp);
    *mpp = mp;
    rt__lock_acquire(&mp_lock);
}

static void unlock_nostop(rt_m *mp)
{
    rt__lock_release(&mp_lock);
    if (mp != NULL)
        rt__nostop_end(mp);
}

/* --------------------------------------------------------------- hooks -- */

/* Whether name is the allocator's: an entry point or its slow path (a
 * static function may carry a ".constprop.0"-style suffix). */
static bool allocator_frame(const char *name)
{
    static const char *const entries[] = {
        "rt_alloc", "rt_alloc_noscan", "rt_new_", "rt_new_array_",
        "rt__gc_alloc", "rt__gc_alloc_typed", "rt__gc_alloc_chan",
    };
    if (name == NULL)
        return false;
    for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++)
        if (strcmp(name, entries[e]) == 0)
            return true;
    return strncmp(name, "gc_alloc_slow", 13) == 0 ||
           strncmp(name, "rt__memprof_alloc", 17) == 0;
}

/*
 * Where a bucket's shown stack starts: at the user's frame that called
 * into libgrt -- every leading frame whose function lies in libgrt
 * (rt__symbolize's in_runtime) is dropped, a rule robust against inlining
 * and tail calls where a frame count is not.  An object libgrt allocates
 * for itself (the debug server's connections) has no frame outside libgrt
 * but its root: its record keeps the frames above the allocator's (the
 * last one allocator_frame names), so that it names the runtime's code
 * that asked, as Go's show runtime.malg or net/http -- dropping every
 * libgrt frame left only the root trampoline, which the proto showed as
 * System and the text as a bare address (an outside tester's find).
 * Symbolizes: never called with mp_lock held.
 */
static int trim_of(mbucket *b)
{
    int t = atomic_load_explicit(&b->trim, memory_order_relaxed);
    if (t >= 0)
        return t;
    int n = b->n, i = 0, above_alloc = 0;
    while (i < n - 1) {
        rt__sym s;
        if (!rt__symbolize(b->pcs[i] - 1, &s) || !s.in_runtime)
            break;
        if (allocator_frame(s.name))
            above_alloc = i + 1;
        i++;
    }
    if (i == n - 1 && n > 1)
        i = above_alloc;
    atomic_store_explicit(&b->trim, i, memory_order_relaxed);
    return i;
}

/* The stack a profile shows of b: *pcs, *n frames. */
static void shown(mbucket *b, const uintptr_t **pcs, int *n)
{
    int t = trim_of(b);
    *pcs = b->pcs + t;
    *n = b->n - t < RT_PPROF_EVENT_DEPTH ? b->n - t : RT_PPROF_EVENT_DEPTH;
}

void rt__memprof_alloc(void *p, size_t size, uint32_t cycle, int skip)
{
    rt__span *s = rt__heap_span_of((uintptr_t)p);
    uintptr_t key = ~(uintptr_t)p; /* see "Sampled objects" */
    p = NULL;
    /* The raw stack (rt__pprof_backtrace: no system call per frame); the
     * frames a profile shows are chosen when it is written (trim_of): here
     * a new stack's first symbol lookups read DWARF (1-2 ms, 6-20 ms
     * under ASan) in the allocating goroutine. */
    uintptr_t pcs[MB_RAW_DEPTH];
    (void)skip;
    int n = rt__pprof_backtrace(pcs, MB_RAW_DEPTH);
    rt_m *mp;
    lock_nostop(&mp);
    mbucket *b = bucket_get(pcs, n, size);
    if (b != NULL) {
        counts d = {.allocs = 1, .alloc_bytes = size};
        bucket_add(b, cycle, &d);
        set_insert(key, b);
        if (s != NULL)
            __atomic_store_n(&s->has_special, true, __ATOMIC_RELAXED);
    }
    unlock_nostop(mp);
    rt__pprof_scrub_stack(); /* the walk's copies of p and its caller's */
}

bool rt__memprof_free(void *p, size_t size)
{
    uintptr_t key = ~(uintptr_t)p; /* see "Sampled objects" */
    p = NULL;
    if (!filter_may_hold(key))
        return false; /* most dead objects of a sampled span */
    /* The sweeper's no-stop region is open. */
    rt__lock_acquire(&mp_lock);
    mbucket *b = set_remove(key);
    if (b != NULL) {
        counts d = {.frees = 1, .free_bytes = size};
        bucket_add(b, cur_cycle(), &d);
    }
    rt__lock_release(&mp_lock);
    return b != NULL;
}

void rt_set_memprofile_rate(int bytes)
{
    if (bytes < 0)
        bytes = 0;
    atomic_store(&rt__memprof_rate, bytes);
    /* Best effort: restart every P's countdown (a racing owner may
     * overwrite it; then the old countdown runs out first). */
    for (int i = 0; i < RT_MAX_PROCS && rt__sched.allp != NULL; i++) {
        rt_p *pp = __atomic_load_n(&rt__sched.allp[i], __ATOMIC_ACQUIRE);
        if (pp != NULL)
            __atomic_store_n(&pp->mcache.next_sample, 0, __ATOMIC_RELAXED);
    }
}

/* ------------------------------------------------------------- reading -- */

/* Go's Profile.Count for heap and allocs: the number of buckets. */
size_t rt__memprof_count(void)
{
    rt_m *mp;
    lock_nostop(&mp);
    size_t n = mb_count;
    unlock_nostop(mp);
    return n;
}

typedef struct mrec {
    counts c; /* published */
    mbucket *b;
} mrec;

/* Snapshot of the published counts, every bucket (Go's MemProfile with
 * inuseZero).  *n records, in *bytes from rt__meta_alloc (taken in a
 * no-stop region: no malloc there). */
static mrec *snapshot(size_t *n, size_t *bytes)
{
    bool done = rt__sweep_done();
    rt_m *mp;
    lock_nostop(&mp);
    int64_t c = cur_cycle();
    int64_t alloc_lim = done ? c - 1 : c - 2, free_lim = done ? c : c - 1;
    *bytes = (mb_count + 1) * sizeof(mrec);
    mrec *r = rt__meta_alloc(*bytes);
    size_t k = 0;
    uint64_t total = 0;
    for (int pass = 0; pass < 2 && r != NULL; pass++) {
        k = 0;
        total = 0;
        for (mbucket *b = mb_all; b; b = b->all) {
            counts sum = b->acc;
            for (int i = 0; i < 4; i++) {
                if ((int64_t)b->slot[i].cycle <= alloc_lim) {
                    sum.allocs += b->slot[i].c.allocs;
                    sum.alloc_bytes += b->slot[i].c.alloc_bytes;
                }
                if ((int64_t)b->slot[i].cycle <= free_lim) {
                    sum.frees += b->slot[i].c.frees;
                    sum.free_bytes += b->slot[i].c.free_bytes;
                }
            }
            if (sum.frees > sum.allocs) /* a free seen before its alloc */
                sum.frees = sum.allocs;
            if (sum.free_bytes > sum.alloc_bytes)
                sum.free_bytes = sum.alloc_bytes;
            total += sum.allocs;
            r[k++] = (mrec){sum, b};
        }
        if (total != 0)
            break;
        /* nothing published yet (no collection): show everything */
        alloc_lim = free_lim = INT64_MAX;
    }
    unlock_nostop(mp);
    *n = k;
    return r;
}

static int by_inuse_desc(const void *a, const void *b)
{
    const mrec *x = a, *y = b;
    int64_t ix = (int64_t)(x->c.alloc_bytes - x->c.free_bytes);
    int64_t iy = (int64_t)(y->c.alloc_bytes - y->c.free_bytes);
    return ix < iy ? 1 : ix > iy ? -1 : 0;
}

static void scale(uint64_t count, uint64_t bytes, int64_t rate, int64_t *oc, int64_t *ob)
{
    if (count == 0 || bytes == 0) {
        *oc = *ob = 0;
        return;
    }
    if (rate <= 1) {
        *oc = (int64_t)count;
        *ob = (int64_t)bytes;
        return;
    }
    double avg = (double)bytes / (double)count;
    double f = 1 / (1 - exp_neg(avg / (double)rate));
    *oc = (int64_t)((double)count * f);
    *ob = (int64_t)((double)bytes * f);
}

static int write_proto(int fd, mrec *r, size_t n, bool allocs)
{
    int64_t rate = atomic_load(&rt__memprof_rate);
    rt__pprof *p = rt__pprof_new();
    if (p == NULL)
        return -ENOMEM;
    rt__pprof_sample_type(p, "alloc_objects", "count");
    rt__pprof_sample_type(p, "alloc_space", "bytes");
    rt__pprof_sample_type(p, "inuse_objects", "count");
    rt__pprof_sample_type(p, "inuse_space", "bytes");
    rt__pprof_period(p, "space", "bytes", rate);
    rt__pprof_times(p, rt__pprof_walltime(), 0);
    if (allocs)
        rt__pprof_default_sample_type(p, "alloc_space");
    for (size_t i = 0; i < n; i++) {
        const counts *c = &r[i].c;
        int64_t v[4];
        scale(c->allocs, c->alloc_bytes, rate, &v[0], &v[1]);
        scale(c->allocs - c->frees, c->alloc_bytes - c->free_bytes, rate, &v[2], &v[3]);
        rt__pprof_label lab = {.key = "bytes", .num = (int64_t)r[i].b->size};
        const uintptr_t *pcs;
        int npcs;
        shown(r[i].b, &pcs, &npcs);
        rt__pprof_sample(p, pcs, npcs, false, v, 4, &lab, 1);
    }
    int err = rt__pprof_finish(p, fd);
    rt__pprof_free(p);
    return err;
}

static void memstats_trailer(rt__pbuf *t)
{
    rt_memstats *ms = malloc(sizeof *ms);
    if (ms == NULL) {
        t->oom = true;
        return;
    }
    rt_read_memstats(ms);
    rt__pbuf_printf(t, "\n# runtime.MemStats\n");
    rt__pbuf_printf(t, "# Alloc = %llu\n", (unsigned long long)ms->alloc);
    rt__pbuf_printf(t, "# TotalAlloc = %llu\n", (unsigned long long)ms->total_alloc);
    rt__pbuf_printf(t, "# Sys = %llu\n", (unsigned long long)ms->sys);
    rt__pbuf_printf(t, "# Lookups = %llu\n", (unsigned long long)ms->lookups);
    rt__pbuf_printf(t, "# Mallocs = %llu\n", (unsigned long long)ms->mallocs);
    rt__pbuf_printf(t, "# Frees = %llu\n", (unsigned long long)ms->frees);
    rt__pbuf_printf(t, "# HeapAlloc = %llu\n", (unsigned long long)ms->heap_alloc);
    rt__pbuf_printf(t, "# HeapSys = %llu\n", (unsigned long long)ms->heap_sys);
    rt__pbuf_printf(t, "# HeapIdle = %llu\n", (unsigned long long)ms->heap_idle);
    rt__pbuf_printf(t, "# HeapInuse = %llu\n", (unsigned long long)ms->heap_inuse);
    rt__pbuf_printf(t, "# HeapReleased = %llu\n", (unsigned long long)ms->heap_released);
    rt__pbuf_printf(t, "# HeapObjects = %llu\n", (unsigned long long)ms->heap_objects);
    rt__pbuf_printf(t, "# Stack = %llu / %llu\n", (unsigned long long)ms->stack_inuse,
                    (unsigned long long)ms->stack_sys);
    rt__pbuf_printf(t, "# MSpan = %llu / %llu\n", (unsigned long long)ms->mspan_inuse,
                    (unsigned long long)ms->mspan_sys);
    rt__pbuf_printf(t, "# MCache = %llu / %llu\n", (unsigned long long)ms->mcache_inuse,
                    (unsigned long long)ms->mcache_sys);
    rt__pbuf_printf(t, "# BuckHashSys = %llu\n", (unsigned long long)ms->buckhash_sys);
    rt__pbuf_printf(t, "# NextGC = %llu\n", (unsigned long long)ms->next_gc);
    rt__pbuf_printf(t, "# PauseNs = [");
    for (int i = 0; i < 256; i++)
        rt__pbuf_printf(t, i ? " %llu" : "%llu", (unsigned long long)ms->pause_ns[i]);
    rt__pbuf_printf(t, "]\n");
    rt__pbuf_printf(t, "# NumGC = %u\n", ms->num_gc);
    rt__pbuf_printf(t, "# EnableGC = %s\n", ms->enable_gc ? "true" : "false");
    rt__pbuf_printf(t, "# DebugGC = %s\n", ms->debug_gc ? "true" : "false");
    free(ms);
}

/* TRACE_FORMATS.md section 6. */
static int write_text(int fd, mrec *r, size_t n, int debug)
{
    qsort(r, n, sizeof *r, by_inuse_desc);
    counts tot = {0};
    for (size_t i = 0; i < n; i++)
        counts_add(&tot, &r[i].c);
    int64_t rate = atomic_load(&rt__memprof_rate);
    rt__pbuf t = {0};
    rt__pbuf_printf(&t, "heap profile: %llu: %llu [%llu: %llu] @ heap/%lld\n",
                    (unsigned long long)(tot.allocs - tot.frees),
                    (unsigned long long)(tot.alloc_bytes - tot.free_bytes),
                    (unsigned long long)tot.allocs, (unsigned long long)tot.alloc_bytes,
                    (long long)(2 * rate));
    for (size_t i = 0; i < n; i++) {
        const counts *c = &r[i].c;
        rt__pbuf_printf(&t, "%llu: %llu [%llu: %llu] @", (unsigned long long)(c->allocs - c->frees),
                        (unsigned long long)(c->alloc_bytes - c->free_bytes),
                        (unsigned long long)c->allocs, (unsigned long long)c->alloc_bytes);
        const uintptr_t *pcs;
        int npcs;
        shown(r[i].b, &pcs, &npcs);
        rt__text_pcs(&t, pcs, npcs);
        rt__pbuf_put(&t, "\n", 1);
        if (debug > 0)
            rt__text_stack(&t, pcs, npcs, false, false);
    }
    if (debug > 0)
        memstats_trailer(&t);
    int err = rt__text_finish(&t, fd, debug > 0);
    rt__pbuf_free(&t);
    return err;
}

int rt__memprof_write(int fd, int debug, bool allocs)
{
    size_t n, bytes;
    mrec *r = snapshot(&n, &bytes);
    int err = debug <= 0 ? write_proto(fd, r, n, allocs) : write_text(fd, r, n, debug);
    rt__meta_free(r, bytes);
    return err;
}

/* ----------------------------------------------------------- heap dump -- */

void rt__memprof_foreach_sample(void (*fn)(uintptr_t obj, uintptr_t bucket, void *ctx),
                                void *ctx)
{
    rt_m *mp;
    lock_nostop(&mp);
    for (size_t j = 0; j < set_cap; j++)
        if (set[j].addr != 0 && set[j].addr != TOMB)
            fn(~set[j].addr, (uintptr_t)set[j].b, ctx);
    unlock_nostop(mp);
}

int rt__memprof_foreach_bucket(int (*fn)(const rt__memprof_bucket *b, void *ctx), void *ctx)
{
    size_t n, bytes;
    mrec *r = snapshot(&n, &bytes);
    if (r == NULL)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        mbucket *b = r[i].b;
        rt__memprof_bucket mb = {.id = (uintptr_t)b, .size = b->size,
                                 .allocs = r[i].c.allocs, .frees = r[i].c.frees};
        shown(b, &mb.pcs, &mb.n);
        rc = fn(&mb, ctx);
    }
    rt__meta_free(r, bytes);
    return rc;
}

/* ---------------------------------------------------------- MEMPROFILE -- */

static char *env_path;

static void memprof_at_exit(void)
{
    if (env_path == NULL)
        return;
    /* As go test -memprofile: a collection first, so that the profile
     * shows the heap as of now.  Only on a goroutine: once rt_main has
     * returned (exit from main) no goroutine would run the collection. */
    if (rt__getg() != NULL)
        rt_gc();
    int fd = open(env_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rt__printf("grt: MEMPROFILE=\"%s\": cannot create: %s\n", env_path, strerror(errno));
        return;
    }
    int err = rt__memprof_write(fd, 0, false);
    if (close(fd) != 0 && err == 0)
        err = -errno;
    if (err != 0) /* a full disk (or /dev/full) loses the profile: say so */
        rt__printf("grt: MEMPROFILE=\"%s\": profile not written: %s\n", env_path,
                   strerror(-err));
}

void rt__memprof_env_start(void)
{
    /* DEBUG=memprofilerate=N, Go's GODEBUG knob: only a value other than
     * the default, so that a rate the program set is not undone */
    if (rt__debug.memprofilerate != DEFAULT_RATE)
        rt_set_memprofile_rate(rt__debug.memprofilerate);
    const char *path = getenv("MEMPROFILE");
    if (path == NULL || path[0] == 0)
        return;
    env_path = strdup(path);
    if (env_path != NULL)
        atexit(memprof_at_exit);
}
