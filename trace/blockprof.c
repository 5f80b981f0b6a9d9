/*
 * trace/blockprof.c -- the block profile (runtime.SetBlockProfileRate) and
 * the mutex profile (runtime.SetMutexProfileFraction).
 *
 * Where events come from
 *   sched/ calls rt__block_event(start_ns, skip) once a goroutine that
 *   parked on a channel, a select or a semaphore (rt_mutex, rt_rwmutex,
 *   rt_waitgroup, rt_cond) is running again, and
 *   rt__mutex_contention_event(wait_ns, skip) when rt__semrelease wakes a
 *   waiter of a mutex; both forward here.  skip counts the frames from
 *   the forwarding hook up to the public call that blocked (or released),
 *   which thus stands on top of the stack, as runtime.chanrecv1 or
 *   sync.(*Mutex).Unlock do in Go's profiles (trim_of drops the
 *   internal frames by rule; skip goes unused).
 *
 * Sampling (Go 1.19's rules; grt's clock is in nanoseconds, so "cycles" are
 * nanoseconds and cycles/second is 1e9)
 *   block: an event of d ns is kept if d >= rate, else with probability
 *     d/rate, and then counts rate/d events of rate ns (Go's de-biasing);
 *     rate <= 0 is off, 1 keeps everything.
 *   mutex: an event is kept with probability 1/fraction; the profile is
 *     written scaled by the fraction.
 *
 * Both tables are keyed by the raw stack (every frame the walk saw, the
 * runtime's internals included), guarded by one rt__lock taken inside a
 * no-stop region; stacks are walked marked as the profiler's own (a
 * SIGPROF meanwhile does not walk again: libunwind's per-thread cache is
 * not reentrant).  An event only walks and hashes: which leading frames
 * are the runtime's is decided when the profile is written or counted
 * (trim_of), as Go symbolizes its buckets only in the writer.  Deciding
 * it at the event meant symbolizing each frame under the symbol table's
 * lock, and a stack's first lookup reads DWARF (1-2 ms, 6-20 ms under
 * ASan): charged to the goroutine that unlocked, while the waiter it had
 * just woken waited on it (the mutex test's delay came out 20 % short).
 * Raw stacks that trim to the same stack are merged when written.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "trace/trace.h"

typedef struct bbucket {
    struct bbucket *next, *all;
    uint64_t hash;
    double count;
    int64_t cycles;
    int n;
    _Atomic int trim; /* leading frames to drop (trim_of); -1: not yet known */
    uintptr_t pcs[];
} bbucket;

/* An event's raw walk (rt__pprof_backtrace: no system call per frame,
 * which matters here: the walk runs after the unlock that woke a waiter)
 * keeps this many frames, this file's and the runtime's among them:
 * room for those above the RT_PPROF_EVENT_DEPTH a profile shows. */
#define BB_RAW_DEPTH (RT_PPROF_EVENT_DEPTH + 8)

#define BB_HASH 1024
typedef struct btab {
    bbucket *table[BB_HASH];
    bbucket *all;
    size_t n;
} btab;

static btab block_tab, mutex_tab;
static rt__lock bp_lock;

static uint64_t pcs_hash(const uintptr_t *pcs, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

static void record(btab *t, const uintptr_t *pcs, int n, double count, int64_t cycles)
{
    uint64_t h = pcs_hash(pcs, n);
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp);
    rt__lock_acquire(&bp_lock);
    bbucket *b;
    for (b = t->table[h % BB_HASH]; b; b = b->next)
        if (b->hash == h && b->n == n && memcmp(b->pcs, pcs, (size_t)n * sizeof *pcs) == 0)
            break;
    if (b == NULL && (b = rt__meta_alloc(sizeof *b + (size_t)n * sizeof *pcs)) != NULL) {
        atomic_fetch_add_explicit(&rt__buckhash_bytes, sizeof *b + (size_t)n * sizeof *pcs,
                                  memory_order_relaxed);
        b->hash = h;
        b->n = n;
        atomic_init(&b->trim, -1);
        memcpy(b->pcs, pcs, (size_t)n * sizeof *pcs);
        b->next = t->table[h % BB_HASH];
        t->table[h % BB_HASH] = b;
        b->all = t->all;
        t->all = b;
        t->n++;
    }
    if (b != NULL) {
        b->count += count;
        b->cycles += cycles;
    }
    rt__lock_release(&bp_lock);
    if (mp != NULL)
        rt__nostop_end(mp);
}

/*
 * Of a raw stack, the frames a profile shows start at the public function
 * that blocked (or released): the frames of the runtime's internals above
 * it are dropped by rule, not by count -- a leading frame goes while its
 * function lies in libgrt and is not a public rt_ function.  (The hooks'
 * skip counts assumed that every static helper keeps its frame; the
 * compiler inlines some, rt_mutex_lock's slow path.)  Symbolizes, so never
 * called with bp_lock held; the answer is kept in the bucket.
 */
static int trim_of(bbucket *b)
{
    int t = atomic_load_explicit(&b->trim, memory_order_relaxed);
    if (t >= 0)
        return t;
    int n = b->n, i = 0;
    bool public = false; /* stopped at a public rt_ function */
    bool user = false;   /* a frame outside libgrt follows */
    for (; i < n - 1; i++) {
        rt__sym s;
        if (!rt__symbolize(b->pcs[i] - 1, &s) || s.name == NULL || !s.in_runtime)
            break;
        if (strncmp(s.name, "rt_", 3) == 0 && strncmp(s.name, "rt__", 4) != 0) {
            public = true; /* the public call */
            break;
        }
    }
    for (int j = i; j < n && !user; j++) {
        rt__sym s;
        user = !rt__symbolize(b->pcs[j] - 1, &s) || !s.in_runtime;
    }
    /* Only runtime frames and no public call (tail calls ate it): keep
     * all.  A public call made by libgrt itself (the benchmark runner's
     * rt_waitgroup_wait, as Go's testing package waits in sync) starts
     * the stack like any other. */
    if (!user && !public)
        i = 0;
    atomic_store_explicit(&b->trim, i, memory_order_relaxed);
    return i;
}

__attribute__((noinline)) void rt__blockprof_event(int64_t start_ns, int skip)
{
    int64_t rate = atomic_load_explicit(&rt__block_profile_rate, memory_order_relaxed);
    if (rate <= 0 || start_ns == 0)
        return;
    int64_t cycles = rt_nanotime() - start_ns;
    if (cycles <= 0)
        cycles = 1;
    if (rate > cycles && (int64_t)(rt__fastrand() % (uint64_t)rate) > cycles)
        return;
    (void)skip; /* frames are dropped by rule (trim_of) */
    uintptr_t pcs[BB_RAW_DEPTH];
    int n = rt__pprof_backtrace(pcs, BB_RAW_DEPTH);
    if (cycles < rate)
        record(&block_tab, pcs, n, (double)rate / (double)cycles, rate);
    else
        record(&block_tab, pcs, n, 1, cycles);
    rt__pprof_scrub_stack();
}

__attribute__((noinline)) void rt__mutexprof_event(int64_t wait_ns, int skip)
{
    int32_t frac = atomic_load_explicit(&rt__mutex_profile_fraction, memory_order_relaxed);
    if (wait_ns < 0)
        wait_ns = 0;
    if (frac <= 0 || rt__fastrand() % (uint32_t)frac != 0)
        return;
    (void)skip;
    uintptr_t pcs[BB_RAW_DEPTH];
    int n = rt__pprof_backtrace(pcs, BB_RAW_DEPTH);
    record(&mutex_tab, pcs, n, 1, wait_ns);
    rt__pprof_scrub_stack();
}

void rt_set_block_profile_rate(int ns)
{
    atomic_store(&rt__block_profile_rate, ns <= 0 ? 0 : ns);
}

int rt__block_profile_rate_get(void)
{
    int64_t r = atomic_load(&rt__block_profile_rate);
    return r > INT_MAX ? INT_MAX : (int)r;
}

int rt_set_mutex_profile_fraction(int n)
{
    if (n < 0)
        return atomic_load(&rt__mutex_profile_fraction);
    return atomic_exchange(&rt__mutex_profile_fraction, n);
}

/* ------------------------------------------------------------- writing -- */

typedef struct brec {
    double count;
    int64_t cycles;
    bbucket *b;
    const uintptr_t *pcs; /* b's stack as a profile shows it (trim_of) */
    int n;
} brec;

static int by_stack(const void *a, const void *b)
{
    const brec *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    for (int i = 0; i < x->n; i++)
        if (x->pcs[i] != y->pcs[i])
            return x->pcs[i] < y->pcs[i] ? -1 : 1;
    return 0;
}

static int by_cycles_desc(const void *a, const void *b)
{
    const brec *x = a, *y = b;
    return x->cycles < y->cycles ? 1 : x->cycles > y->cycles ? -1 : 0;
}

/* The table's records as a profile shows them: each bucket's stack
 * trimmed, buckets whose stacks trim alike merged into one record.
 * Returns them (rt__meta_alloc'ed, *bytes long; NULL when out of
 * memory), *k of them. */
static brec *snapshot(btab *t, size_t *k, size_t *bytes)
{
    rt_m *mp = rt__getm();
    if (mp != NULL)
        rt__nostop_begin(mp);
    rt__lock_acquire(&bp_lock);
    /* buckets are never freed and their stacks never change: the copied
     * pointers are read after the lock is dropped (trim_of symbolizes) */
    size_t n = t->n;
    *bytes = (n + 1) * sizeof(brec);
    brec *r = rt__meta_alloc(*bytes);
    size_t m = 0;
    bbucket *head = t->all;
    for (bbucket *b = head; b && r && m < n; b = b->all)
        r[m++] = (brec){b->count, b->cycles, b, NULL, 0};
    rt__lock_release(&bp_lock);
    if (mp != NULL)
        rt__nostop_end(mp);
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < m; i++) {
        bbucket *b = r[i].b;
        int trim = trim_of(b);
        r[i].pcs = b->pcs + trim;
        r[i].n = b->n - trim < RT_PPROF_EVENT_DEPTH ? b->n - trim : RT_PPROF_EVENT_DEPTH;
    }
    qsort(r, m, sizeof *r, by_stack);
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
        if (w > 0 && by_stack(&r[w - 1], &r[i]) == 0) {
            r[w - 1].count += r[i].count;
            r[w - 1].cycles += r[i].cycles;
        } else {
            r[w++] = r[i];
        }
    }
    *k = w;
    return r;
}

/* Go's Profile.Count for block and mutex: the number of stacks. */
size_t rt__blockprof_count(bool mutex)
{
    size_t k = 0, bytes;
    brec *r = snapshot(mutex ? &mutex_tab : &block_tab, &k, &bytes);
    if (r != NULL)
        rt__meta_free(r, bytes);
    return k;
}

int rt__blockprof_write(int fd, int debug, bool mutex)
{
    int64_t period = mutex ? atomic_load(&rt__mutex_profile_fraction) : 1;
    if (period <= 0)
        period = 1;
    size_t k = 0, rbytes;
    brec *r = snapshot(mutex ? &mutex_tab : &block_tab, &k, &rbytes);
    if (r == NULL)
        return -ENOMEM;
    int err;
    if (debug <= 0) {
        rt__pprof *p = rt__pprof_new();
        if (p == NULL) {
            rt__meta_free(r, rbytes);
            return -ENOMEM;
        }
        rt__pprof_sample_type(p, "contentions", "count");
        rt__pprof_sample_type(p, "delay", "nanoseconds");
        rt__pprof_period(p, "contentions", "count", 1);
        rt__pprof_times(p, rt__pprof_walltime(), 0);
        for (size_t i = 0; i < k; i++) {
            int64_t v[2] = {(int64_t)r[i].count * period, r[i].cycles * period};
            rt__pprof_sample(p, r[i].pcs, r[i].n, false, v, 2, NULL, 0);
        }
        err = rt__pprof_finish(p, fd);
        rt__pprof_free(p);
    } else {
        qsort(r, k, sizeof *r, by_cycles_desc);
        rt__pbuf tb = {0};
        rt__pbuf_printf(&tb, "--- %s:\n", mutex ? "mutex" : "contention");
        rt__pbuf_printf(&tb, "cycles/second=%lld\n", 1000000000LL);
        /* the fraction as it is now, 0 when off (Go prints
         * SetMutexProfileFraction(-1)); the records' scale is period */
        if (mutex)
            rt__pbuf_printf(&tb, "sampling period=%lld\n",
                            (long long)atomic_load(&rt__mutex_profile_fraction));
        for (size_t i = 0; i < k; i++) {
            rt__pbuf_printf(&tb, "%lld %lld @", (long long)r[i].cycles,
                            (long long)(int64_t)r[i].count);
            rt__text_pcs(&tb, r[i].pcs, r[i].n);
            rt__pbuf_put(&tb, "\n", 1);
            rt__text_stack(&tb, r[i].pcs, r[i].n, false, true);
        }
        err = rt__text_finish(&tb, fd, true);
        rt__pbuf_free(&tb);
    }
    rt__meta_free(r, rbytes);
    return err;
}
