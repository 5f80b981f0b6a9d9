/*
 * trace/cpuprof.c -- the CPU profiler (pprof.StartCPUProfile) and
 * goroutine labels.
 *
 * How a sample flows
 *   1. Every M (runtime thread), and every mark thread of the collector
 *      (a ring of its own after the Ms', rt__cpuprof_helper_start; its
 *      samples end in a "GC" root frame), gets a POSIX timer on its own
 *      CPU-time clock (pthread_getcpuclockid) that sends SIGPROF to that very thread
 *      (SIGEV_THREAD_ID) every 10 ms of CPU the thread uses: Go >= 1.18's
 *      design.  A process-wide setitimer(ITIMER_PROF) was rejected: its
 *      signals go to whichever thread the kernel picks, and two expiries
 *      that land before the first is delivered merge into one, so busy
 *      multi-threaded programs lose samples.
 *   2. The SIGPROF handler walks the interrupted context with libunwind
 *      (rt__callers_sig: unw_init_local2 with UNW_INIT_SIGNAL_FRAME, so the
 *      leaf is the exact interrupted PC) and appends the PCs and the
 *      goroutine's label set to its M's ring.  A sample that lands inside
 *      the context switch itself (registers half saved, the CFI describes
 *      neither stack) is recorded as the pseudo-frame "System" without
 *      unwinding; one that lands inside a profiler's own stack walk
 *      (rt__pprof_walking: libunwind is not reentrant) or inside the
 *      runtime's own dl_iterate_phdr calls (which hold the loader's lock
 *      that libunwind may need: pprof.c's rt__dl_iterate_phdr says how
 *      that deadlocked) records the interrupted PC alone.  What remains:
 *      a program's own code that holds the loader's lock when the signal
 *      lands (inside dlopen, or a C++ exception's unwinder) while another
 *      thread's handler holds libunwind's lock and waits for the loader's
 *      can hang the same way -- Go avoids it by never unwinding C code in
 *      its handler; grt unwinds it because all of a program's code is C.
 *      The handler takes no lock and allocates nothing: each
 *      ring has exactly one producer (the handler on its own thread; SIGPROF
 *      is blocked while it runs) and one consumer (the writer thread).
 *   3. A new M arms its own timer as it starts (rt__cpuprof_thread_start,
 *      called by mstart before the M runs anything), so a thread is
 *      sampled from its start, not from whenever the writer next looks
 *      (up to 10 ms later).  The writer thread wakes every 10 ms: it gives timers to Ms
 *      that have none (those running when the profile started), and
 *      drains every ring into a hash table of buckets (stack + labels ->
 *      count).  It is a plain pthread, not a goroutine: it never stops
 *      with the world and may call malloc freely.  Who arms a ring is
 *      settled by a CAS on its state (arm_m).
 *   4. rt_pprof_stop_cpu deletes the timers, waits until no handler is
 *      inside a ring, drains the rest and writes the profile.
 *   The same handler also serves the goroutine profile's walks of running
 *   goroutines (a SIGPROF sent with tgkill, no sample taken: "walks of
 *   running goroutines" below).
 *
 * Signals and the collector
 *   The handler blocks every signal but the synchronous fatal ones while it
 *   runs (sa_mask), so a stop-the-world signal that arrives during a sample
 *   waits until the sample is taken (a few microseconds).  A SIGPROF that
 *   arrives while a thread sits in the collector's stop handler samples the
 *   stopped code through the signal frame and touches only its own ring.
 *   The handler runs on the M's alternate signal stack (SA_ONSTACK: a
 *   goroutine may be near the bottom of its stack) and restarts interrupted
 *   system calls (SA_RESTART).
 *
 * Labels
 *   rt_set_label gives the calling goroutine a new immutable label set,
 *   interned (identical sets are shared, never freed), so a handler or a
 *   ring may hold a pointer to one forever.  Which set a goroutine has is
 *   kept outside the G record, in a table indexed by the G's allg index
 *   with the goroutine id beside it (a reused record with another id has
 *   no labels).  Only the goroutine writes its own slot, and the handler
 *   that reads it runs on the goroutine's own thread, so a signal fence
 *   orders the two.  As in Go, a new goroutine inherits its creator's
 *   labels (newproc calls rt__labels_inherit before the G is runnable).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sched/sched.h"
#include "trace/trace.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define HZ 100
#define MAX_MS 1024            /* Ms beyond this are not profiled */
#define MAX_HELPERS 64         /* the collector's mark threads: slots after the Ms' */
#define NSLOTS (MAX_MS + MAX_HELPERS)
#define RING_WORDS (1u << 15)  /* per M: 256 KiB, ~1 s of deep samples */
#define REC_HDR 3              /* words before the PCs: n, label set, weight */

/* --------------------------------------------------------------- labels -- */

typedef struct rt__labelset {
    int n;
    struct {
        const char *key, *value;
    } kv[];
} rt__labelset;

/* One goroutine's labels: valid while goid matches the G's id. */
typedef struct label_slot {
    volatile int64_t goid;
    const rt__labelset *volatile ls;
} label_slot;

#define SLOT_CHUNK 1024
#define SLOT_CHUNKS 4096 /* 4 M goroutine records */
static _Atomic(label_slot *) slot_chunks[SLOT_CHUNKS];
static pthread_mutex_t labels_mu = PTHREAD_MUTEX_INITIALIZER;

/* Interned label sets: a chained hash table under labels_mu. */
typedef struct ls_node {
    struct ls_node *next;
    uint64_t hash;
    rt__labelset *ls;
} ls_node;
#define LS_BUCKETS 1024
static ls_node *ls_table[LS_BUCKETS];

static label_slot *slot_of(const rt_g *gp, bool create)
{
    uint32_t i = gp->allg_index;
    if (i / SLOT_CHUNK >= SLOT_CHUNKS)
        return NULL;
    label_slot *c = atomic_load_explicit(&slot_chunks[i / SLOT_CHUNK], memory_order_acquire);
    if (c == NULL && create) {
        c = calloc(SLOT_CHUNK, sizeof *c);
        if (c == NULL)
            return NULL;
        label_slot *expect = NULL;
        if (!atomic_compare_exchange_strong_explicit(&slot_chunks[i / SLOT_CHUNK], &expect,
                                                     c, memory_order_acq_rel,
                                                     memory_order_acquire)) {
            free(c);
            c = expect;
        }
    }
    return c ? &c[i % SLOT_CHUNK] : NULL;
}

static const rt__labelset *labels_of(const rt_g *gp)
{
    if (gp == NULL)
        return NULL;
    label_slot *s = slot_of(gp, false);
    if (s == NULL)
        return NULL;
    const rt__labelset *ls = s->ls;
    atomic_signal_fence(memory_order_acquire);
    return s->goid == gp->goid ? ls : NULL;
}

const rt__labelset *rt__labels_of_g(rt_g *gp)
{
    return labels_of(gp);
}

void rt__labels_inherit(rt_g *gp, rt_g *parent)
{
    const rt__labelset *ls = labels_of(parent);
    if (ls == NULL)
        return; /* gp's slot, if any, holds another goid: no labels */
    label_slot *s = slot_of(gp, true);
    if (s == NULL)
        return;
    /* gp is not runnable yet: its handler cannot run; the run queue's
     * release publishes these stores to the thread that will run it */
    s->goid = 0;
    atomic_signal_fence(memory_order_seq_cst);
    s->ls = ls;
    atomic_signal_fence(memory_order_seq_cst);
    s->goid = gp->goid;
}

const rt__labelset *rt__labels_current(void)
{
    return labels_of(rt__getg());
}

void rt__labels_to_pprof(const rt__labelset *ls, rt__pprof_label *out, int *n, int max)
{
    *n = 0;
    if (ls == NULL)
        return;
    for (int i = 0; i < ls->n && *n < max; i++)
        out[(*n)++] = (rt__pprof_label){.key = ls->kv[i].key, .str = ls->kv[i].value};
}

static uint64_t str_hash(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;
}

/* The interned set equal to kv[0..n) (sorted by key); labels_mu held. */
static const rt__labelset *intern_set(const char **keys, const char **vals, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++)
        h = str_hash(vals[i], str_hash(keys[i], h));
    for (ls_node *e = ls_table[h % LS_BUCKETS]; e; e = e->next) {
        if (e->hash != h || e->ls->n != n)
            continue;
        int i = 0;
        while (i < n && strcmp(e->ls->kv[i].key, keys[i]) == 0 &&
               strcmp(e->ls->kv[i].value, vals[i]) == 0)
            i++;
        if (i == n)
            return e->ls;
    }
    rt__labelset *ls = malloc(sizeof *ls + (size_t)n * sizeof ls->kv[0]);
    ls_node *e = malloc(sizeof *e);
    if (ls == NULL || e == NULL) {
        free(ls);
        free(e);
        return NULL;
    }
    ls->n = n;
    for (int i = 0; i < n; i++) {
        ls->kv[i].key = strdup(keys[i]);
        ls->kv[i].value = strdup(vals[i]);
        if (ls->kv[i].key == NULL || ls->kv[i].value == NULL)
            return NULL; /* leaks a little; out of memory anyway */
    }
    e->hash = h;
    e->ls = ls;
    e->next = ls_table[h % LS_BUCKETS];
    ls_table[h % LS_BUCKETS] = e;
    return ls;
}

int rt_set_label(const char *key, const char *value)
{
    rt_g *gp = rt__getg();
    if (gp == NULL || key == NULL || key[0] == 0)
        return -EINVAL;
    pthread_mutex_lock(&labels_mu);
    label_slot *s = slot_of(gp, true);
    if (s == NULL) {
        pthread_mutex_unlock(&labels_mu);
        return -ENOMEM;
    }
    const rt__labelset *old = s->goid == gp->goid ? s->ls : NULL;
    int n = old ? old->n : 0;
    const char **keys = malloc((size_t)(n + 1) * sizeof *keys);
    const char **vals = malloc((size_t)(n + 1) * sizeof *vals);
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        pthread_mutex_unlock(&labels_mu);
        return -ENOMEM;
    }
    /* merge key into the sorted old set */
    int k = 0;
    bool placed = value == NULL;
    for (int i = 0; i < n; i++) {
        int c = strcmp(old->kv[i].key, key);
        if (!placed && c > 0) {
            keys[k] = key;
            vals[k++] = value;
            placed = true;
        }
        if (c == 0)
            continue;
        keys[k] = old->kv[i].key;
        vals[k++] = old->kv[i].value;
    }
    if (!placed) {
        keys[k] = key;
        vals[k++] = value;
    }
    const rt__labelset *ls = k > 0 ? intern_set(keys, vals, k) : NULL;
    free(keys);
    free(vals);
    if (k > 0 && ls == NULL) {
        pthread_mutex_unlock(&labels_mu);
        return -ENOMEM;
    }
    /* The handler on this thread reads goid after ls: invalidate, publish
     * the set, then the id. */
    s->goid = 0;
    atomic_signal_fence(memory_order_seq_cst);
    s->ls = ls;
    atomic_signal_fence(memory_order_seq_cst);
    s->goid = gp->goid;
    pthread_mutex_unlock(&labels_mu);
    return 0;
}

/* ---------------------------------------------------------------- rings -- */

/* A ring's timer: who may touch it (see arm_m and disarm_ring). */
enum { TIMER_NONE = 0, TIMER_BUSY = 1, TIMER_ARMED = 2 };

typedef struct ring {
    _Atomic uint64_t head; /* next word the writer reads (consumer only) */
    _Atomic uint64_t tail; /* next word the handler writes (producer only) */
    _Atomic uint64_t lost; /* samples dropped: no room */
    _Atomic int busy;      /* the handler is inside (stop waits for 0) */
    _Atomic int state;     /* TIMER_*: claimed with a CAS */
    pid_t tid;             /* the thread its timer targets */
    timer_t timer;
    uintptr_t w[RING_WORDS];
} ring;

/* rings[id]: written by the writer thread (release), read by handlers.
 * Slot of an M: its id; of mark helper k: MAX_MS + k. */
static _Atomic(ring *) rings[NSLOTS];

/* The collector's mark threads are not Ms, yet their CPU is the program's
 * (Go's mark workers are goroutines its profiles show): each registers its
 * tid here (rt__cpuprof_helper_start) and samples into its own ring, under
 * a "GC" root frame. */
static _Atomic pid_t helper_tids[MAX_HELPERS];
static _Thread_local int helper_slot = -1;

static _Atomic int profiling;   /* handlers record while 1 */
static _Atomic int prof_busy;   /* a profile is being taken (start..stop) */

static uintptr_t switch_lo, switch_hi; /* the context switch's code */

static inline uintptr_t uc_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

/* ------------------------------------------- walks of running goroutines -- */

/*
 * The goroutine profile's stacks of goroutines running on other threads
 * (goroutineprof.c).  Go stops the world and walks them; grt cannot stop
 * a thread anywhere for a libunwind walk (goroutineprof.c's essay says
 * why), but a thread can walk itself from a signal, as every CPU sample
 * does.  So the profile writer posts one request at a time (walk_mu) --
 * the goroutine and its id, a buffer -- and sends SIGPROF to the thread
 * of the M running it with tgkill (si_code SI_TKILL: the handler tells it
 * from the timers' SI_TIMER and takes no CPU sample for it).  The handler
 * claims the request (state REQUESTED -> CLAIMED), walks the interrupted
 * context if its M still runs that goroutine, and publishes the count
 * (DONE) or NOTRUNNING; the writer waits up to WALK_WAIT_NS, then
 * withdraws the request with a CAS (a handler that claimed it first is
 * waited for: its walk is bounded).  Same hazard as a CPU sample: a
 * thread holding the loader's lock when the signal lands.
 */
enum { WALK_IDLE, WALK_REQUESTED, WALK_CLAIMED, WALK_DONE, WALK_NOTRUNNING };
#define WALK_WAIT_NS (50 * RT_MILLISECOND)
static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static struct {
    _Atomic(rt_m *) m;
    rt_g *g;
    int64_t goid;
    uintptr_t *pcs;
    int max, n;
    _Atomic int state;
} walk;

static void install_handler(void);

static void serve_walk(rt_m *mp, void *ucv)
{
    if (mp == NULL || atomic_load_explicit(&walk.m, memory_order_acquire) != mp)
        return;
    int expect = WALK_REQUESTED;
    if (!atomic_compare_exchange_strong_explicit(&walk.state, &expect, WALK_CLAIMED,
                                                 memory_order_acquire, memory_order_relaxed))
        return;
    rt_g *cg = mp->curg;
    uintptr_t pc = uc_pc(ucv);
    int st = WALK_NOTRUNNING;
    /* not its goroutine any more, inside the switch (neither stack is
     * whole) or inside a walk (libunwind is not reentrant): not walked */
    if (cg == walk.g && cg->goid == walk.goid && !(pc >= switch_lo && pc < switch_hi) &&
        !rt__pprof_walking) {
        walk.n = rt__callers_sig(ucv, walk.pcs, NULL, walk.max);
        if (walk.n > 0)
            st = WALK_DONE;
    }
    atomic_store_explicit(&walk.state, st, memory_order_release);
}

int rt__walk_running_g(rt_g *gp, uintptr_t *pcs, int max)
{
    rt_m *mp = __atomic_load_n(&gp->m, __ATOMIC_ACQUIRE);
    /* (tid: stored by the M's new thread, mstart) */
    pid_t tid = mp != NULL ? __atomic_load_n(&mp->tid, __ATOMIC_ACQUIRE) : 0;
    if (mp == NULL || tid <= 0 || max <= 0 ||
        atomic_load_explicit(&gp->status, memory_order_acquire) != RT_GRUNNING)
        return 0;
    pthread_once(&handler_once, install_handler);
    pthread_mutex_lock(&walk_mu);
    walk.g = gp;
    walk.goid = gp->goid;
    walk.pcs = pcs;
    walk.max = max;
    walk.n = 0;
    atomic_store_explicit(&walk.state, WALK_REQUESTED, memory_order_relaxed);
    atomic_store_explicit(&walk.m, mp, memory_order_release);
    int n = 0;
    if (syscall(SYS_tgkill, getpid(), tid, SIGPROF) == 0) {
        int64_t t0 = rt_nanotime();
        struct timespec ts = {0, 20 * 1000};
        while (atomic_load_explicit(&walk.state, memory_order_acquire) == WALK_REQUESTED &&
               rt_nanotime() - t0 < WALK_WAIT_NS)
            nanosleep(&ts, NULL);
    }
    int expect = WALK_REQUESTED;
    if (!atomic_compare_exchange_strong_explicit(&walk.state, &expect, WALK_IDLE,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        int st;
        while ((st = atomic_load_explicit(&walk.state, memory_order_acquire)) == WALK_CLAIMED)
            sched_yield();
        if (st == WALK_DONE)
            n = walk.n;
    }
    atomic_store_explicit(&walk.m, NULL, memory_order_relaxed);
    atomic_store_explicit(&walk.state, WALK_IDLE, memory_order_relaxed);
    pthread_mutex_unlock(&walk_mu);
    return n;
}

static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    int saved_errno = errno;
    rt_m *mp = rt__getm();
    if (si != NULL && si->si_code == SI_TKILL) {
        serve_walk(mp, ucv); /* the goroutine profile's, not a CPU sample */
        errno = saved_errno;
        return;
    }
    int slot;
    if (mp != NULL)
        slot = mp->id >= 0 && mp->id < MAX_MS ? (int)mp->id : -1;
    else
        slot = helper_slot; /* a mark thread, or -1 */
    if (slot < 0)
        goto out;
    ring *r = atomic_load_explicit(&rings[slot], memory_order_acquire);
    if (r == NULL)
        goto out;
    /* busy before the look at profiling, both seq_cst, against the
     * stopper's store of profiling then look at busy: either we see the
     * profile stopped, or the stopper waits for us. */
    atomic_store_explicit(&r->busy, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&profiling, memory_order_seq_cst)) {
        atomic_store_explicit(&r->busy, 0, memory_order_release);
        goto out;
    }

    uintptr_t pcs[RT_PPROF_MAX_DEPTH];
    int n = 0;
    uintptr_t pc = uc_pc(ucv);
    if (pc >= switch_lo && pc < switch_hi) {
        pcs[n++] = RT_PPROF_SYSTEM;
    } else if (rt__pprof_walking) {
        pcs[n++] = pc; /* inside a profiler's own walk: no second walk */
    } else {
        n = rt__callers_sig(ucv, pcs, NULL, RT_PPROF_MAX_DEPTH - 1);
        if (n <= 0) {
            pcs[0] = RT_PPROF_SYSTEM;
            n = 1;
        }
    }
    /* Whose time it is (PPROF.md): a mark thread's and the collector's
     * own goroutines' (the background cycle, the sweeper) are GC; an M on
     * its scheduler stack (finding work, polling, sleeping) is System.
     * Their stacks stay under that root: -top names the special entry,
     * -peek still shows where in the runtime. */
    rt_g *cg = mp != NULL ? mp->curg : NULL;
    if (n < RT_PPROF_MAX_DEPTH && pcs[n - 1] >= RT_PPROF_NSPECIAL) {
        if (mp == NULL || (cg != NULL && cg->noroots))
            pcs[n++] = RT_PPROF_GC;
        else if (cg == NULL)
            pcs[n++] = RT_PPROF_SYSTEM;
    }
    const rt__labelset *ls = mp != NULL ? labels_of(mp->curg) : NULL;

    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    if (t + REC_HDR + (uint64_t)n - h > RING_WORDS) {
        atomic_fetch_add_explicit(&r->lost, 1, memory_order_relaxed);
    } else {
        /* Periods that expired while the signal was pending were merged
         * into this one (si_overrun): they count, with this stack. */
        uintptr_t weight = 1;
        if (si != NULL && si->si_code == SI_TIMER && si->si_overrun > 0)
            weight += (uintptr_t)(si->si_overrun < 1000 ? si->si_overrun : 1000);
        r->w[t % RING_WORDS] = (uintptr_t)n;
        r->w[(t + 1) % RING_WORDS] = (uintptr_t)ls;
        r->w[(t + 2) % RING_WORDS] = weight;
        for (int i = 0; i < n; i++)
            r->w[(t + REC_HDR + (uint64_t)i) % RING_WORDS] = pcs[i];
        atomic_store_explicit(&r->tail, t + REC_HDR + (uint64_t)n, memory_order_release);
    }
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&r->busy, 0, memory_order_release);
out:
    errno = saved_errno;
}

/* -------------------------------------------------------------- buckets -- */

typedef struct bucket {
    uint64_t hash;
    const rt__labelset *ls;
    int64_t count;
    int n;
    uintptr_t pcs[]; /* n */
} bucket;

typedef struct btable {
    bucket **slots;
    size_t cap, n;
} btable;

static btable cpu_buckets; /* writer thread while profiling, then stop */
static int64_t lost_total;
static int64_t overruns; /* periods merged into a later signal */

static uint64_t stack_hash(const uintptr_t *pcs, int n, const void *ls)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)ls;
    for (int i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static void btable_add(btable *t, const uintptr_t *pcs, int n, const rt__labelset *ls,
                       int64_t count)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        bucket **ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return;
        for (size_t i = 0; i < t->cap; i++) {
            bucket *b = t->slots[i];
            if (b == NULL)
                continue;
            size_t j = b->hash & (ncap - 1);
            while (ns[j] != NULL)
                j = (j + 1) & (ncap - 1);
            ns[j] = b;
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    uint64_t h = stack_hash(pcs, n, ls);
    size_t j = h & (t->cap - 1);
    for (bucket *b; (b = t->slots[j]) != NULL; j = (j + 1) & (t->cap - 1)) {
        if (b->hash == h && b->n == n && b->ls == ls &&
            memcmp(b->pcs, pcs, (size_t)n * sizeof *pcs) == 0) {
            b->count += count;
            return;
        }
    }
    bucket *b = malloc(sizeof *b + (size_t)n * sizeof *pcs);
    if (b == NULL)
        return;
    b->hash = h;
    b->ls = ls;
    b->count = count;
    b->n = n;
    memcpy(b->pcs, pcs, (size_t)n * sizeof *pcs);
    t->slots[j] = b;
    t->n++;
}

static void btable_clear(btable *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------- the writer -- */

static pthread_t writer;
static _Atomic int writer_stop;

/* M id's ring, made on first use; two threads may race to make it (the
 * writer and the M itself): the CAS keeps one. */
static ring *ring_of(int id)
{
    ring *r = atomic_load_explicit(&rings[id], memory_order_acquire);
    if (r != NULL)
        return r;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    /* seq_cst, as the stopper's look at rings[]: a ring it did not see was
     * made after its store to profiling, and arm_m then sees that store */
    ring *expect = NULL;
    if (!atomic_compare_exchange_strong_explicit(&rings[id], &expect, r, memory_order_seq_cst,
                                                 memory_order_seq_cst)) {
        free(r);
        r = expect;
    }
    return r;
}

/*
 * Gives mp a ring and a timer, unless it has one.  Two callers: the writer
 * thread, for every M each round, and a new M itself when it starts
 * (rt__cpuprof_thread_start), so that its first 10 ms are sampled too.
 * The one that wins the ring's state (NONE -> BUSY) arms it; the other
 * sees BUSY or ARMED and leaves.  The winner looks at `profiling` again
 * after its claim, against the stopper's store of profiling then look at
 * the state (both seq_cst): either the winner sees the profile stopped and
 * backs off, or the stopper sees BUSY/ARMED and waits for, then deletes,
 * the timer -- no timer outlives its profile.
 */
static void arm_slot(int slot, pid_t tid)
{
    ring *r = ring_of(slot);
    if (r == NULL)
        return;
    int expect = TIMER_NONE;
    if (!atomic_compare_exchange_strong_explicit(&r->state, &expect, TIMER_BUSY,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return;
    if (!atomic_load_explicit(&profiling, memory_order_seq_cst)) {
        atomic_store_explicit(&r->state, TIMER_NONE, memory_order_release);
        return;
    }
    /* The thread's CPU-time clock from its tid, as pthread_getcpuclockid
     * computes it (Linux ABI: CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED), without
     * reading mp->thread, which the creator writes around the time the
     * new thread publishes its tid. */
    clockid_t cid = (clockid_t)((~(unsigned)tid << 3) | 6);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_notify_thread_id = tid;
    if (timer_create(cid, &sev, &r->timer) != 0) {
        atomic_store_explicit(&r->state, TIMER_NONE, memory_order_release);
        return;
    }
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_interval.tv_nsec = 1000000000 / HZ;
    /* the first expiry at a random point of the period, as Go does, so
     * that threads started together do not sample in lockstep */
    its.it_value.tv_nsec = 1 + (long)(rt__fastrand() % (1000000000u / HZ));
    if (timer_settime(r->timer, 0, &its, NULL) != 0) {
        timer_delete(r->timer);
        atomic_store_explicit(&r->state, TIMER_NONE, memory_order_release);
        return;
    }
    r->tid = tid;
    atomic_store_explicit(&r->state, TIMER_ARMED, memory_order_release);
}

static void arm_m(rt_m *mp, void *arg)
{
    (void)arg;
    if (mp->id < 0 || mp->id >= MAX_MS)
        return;
    pid_t tid = __atomic_load_n(&mp->tid, __ATOMIC_ACQUIRE);
    if (tid == 0)
        return; /* not started yet: it arms itself, or the next round does */
    arm_slot((int)mp->id, tid);
}

static void arm_helpers(void)
{
    for (int k = 0; k < MAX_HELPERS; k++) {
        pid_t tid = atomic_load_explicit(&helper_tids[k], memory_order_acquire);
        if (tid != 0)
            arm_slot(MAX_MS + k, tid);
    }
}

void rt__cpuprof_helper_start(int k)
{
    if (k < 0 || k >= MAX_HELPERS)
        return;
    helper_slot = MAX_MS + k;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    atomic_store_explicit(&helper_tids[k], tid, memory_order_release);
    /* helpers start with every signal blocked: SIGPROF is the one they take */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    if (atomic_load_explicit(&profiling, memory_order_relaxed))
        arm_slot(MAX_MS + k, tid);
}

/* Deletes r's timer once profiling is 0: waits out an arm_m in progress. */
static void disarm_ring(ring *r)
{
    for (;;) {
        int st = TIMER_ARMED;
        if (atomic_compare_exchange_strong_explicit(&r->state, &st, TIMER_BUSY,
                                                    memory_order_seq_cst,
                                                    memory_order_seq_cst)) {
            timer_delete(r->timer);
            atomic_store_explicit(&r->state, TIMER_NONE, memory_order_release);
            return;
        }
        if (st == TIMER_NONE)
            return;
        sched_yield(); /* BUSY: an arm_m is deciding; it ends NONE or ARMED */
    }
}

void rt__cpuprof_thread_start(rt_m *mp)
{
    /* the common case, no profile: one load */
    if (atomic_load_explicit(&profiling, memory_order_relaxed))
        arm_m(mp, NULL);
}

static void drain_ring(ring *r)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uintptr_t pcs[RT_PPROF_MAX_DEPTH];
    while (h < t) {
        int n = (int)r->w[h % RING_WORDS];
        const rt__labelset *ls = (const rt__labelset *)r->w[(h + 1) % RING_WORDS];
        int64_t weight = (int64_t)r->w[(h + 2) % RING_WORDS];
        if (n < 0 || n > RT_PPROF_MAX_DEPTH)
            break; /* cannot happen: the handler writes at most that */
        for (int i = 0; i < n; i++)
            pcs[i] = r->w[(h + REC_HDR + (uint64_t)i) % RING_WORDS];
        btable_add(&cpu_buckets, pcs, n, ls, weight);
        overruns += weight - 1;
        h += REC_HDR + (uint64_t)n;
    }
    atomic_store_explicit(&r->head, h, memory_order_release);
    uint64_t lost = atomic_exchange_explicit(&r->lost, 0, memory_order_relaxed);
    lost_total += (int64_t)lost;
}

static void drain_all(void)
{
    for (int i = 0; i < NSLOTS; i++) {
        ring *r = atomic_load_explicit(&rings[i], memory_order_acquire);
        if (r != NULL)
            drain_ring(r);
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&writer_stop)) {
        rt__for_each_m(arm_m, NULL);
        arm_helpers();
        drain_all();
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------ start/stop -- */

static int prof_fd = -1;
static int64_t prof_start_wall, prof_start_mono;

static void install_handler(void)
{
    switch_lo = (uintptr_t)rt__ctx_switch;
    switch_hi = (uintptr_t)rt__ctx_switch_end;
    /* rt__ctx_switch_fresh follows rt__ctx_switch and precedes the
     * trampoline (asm_*.S): its stack switch is covered too. */
    if ((uintptr_t)rt__ctx_start > switch_hi &&
        (uintptr_t)rt__ctx_start - switch_hi < 4096)
        switch_hi = (uintptr_t)rt__ctx_start;
    /* libunwind's one-time set-up (caching policy) outside any handler */
    uintptr_t pcs[4];
    (void)rt__callers(0, pcs, NULL, 4);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGFPE);
    sigdelset(&sa.sa_mask, SIGILL);
    sigdelset(&sa.sa_mask, SIGABRT);
    sigaction(SIGPROF, &sa, NULL);
}

int rt_pprof_start_cpu(int fd)
{
    /* A descriptor that is closed or not open for writing fails now, not
     * silently at rt_pprof_stop_cpu's write (an outside tester's find:
     * a closed fd returned 0 and the profile vanished).  Go's
     * StartCPUProfile takes a Writer and cannot tell; an fd can. */
    int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&prof_busy, &expect, 1))
        return -EBUSY; /* Go: "cpu profiling already in use" */
    pthread_once(&handler_once, install_handler);
    prof_fd = fd;
    lost_total = 0;
    overruns = 0;
    prof_start_wall = rt__pprof_walltime();
    prof_start_mono = rt_nanotime();
    atomic_store(&writer_stop, 0);
    atomic_store_explicit(&profiling, 1, memory_order_release);
    /* the writer: no signals (SIGPROF goes to Ms only) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_fetch_add_explicit(&rt__aux_threads, 1, memory_order_relaxed); /* checkdead */
    int err = pthread_create(&writer, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        atomic_fetch_sub_explicit(&rt__aux_threads, 1, memory_order_relaxed);
        atomic_store(&profiling, 0);
        atomic_store(&prof_busy, 0);
        return -err;
    }
    return 0;
}

static int write_cpu_profile(int fd, int64_t duration)
{
    rt__pprof *p = rt__pprof_new();
    if (p == NULL)
        return -ENOMEM;
    const int64_t period = 1000000000 / HZ;
    rt__pprof_sample_type(p, "samples", "count");
    rt__pprof_sample_type(p, "cpu", "nanoseconds");
    rt__pprof_period(p, "cpu", "nanoseconds", period);
    rt__pprof_times(p, prof_start_wall, duration);
    for (size_t i = 0; i < cpu_buckets.cap; i++) {
        bucket *b = cpu_buckets.slots[i];
        if (b == NULL)
            continue;
        int64_t v[2] = {b->count, b->count * period};
        rt__pprof_label lab[32];
        int nl;
        rt__labels_to_pprof(b->ls, lab, &nl, 32);
        rt__pprof_sample(p, b->pcs, b->n, true, v, 2, lab, nl);
    }
    if (lost_total > 0) {
        uintptr_t pc = RT_PPROF_LOST;
        int64_t v[2] = {lost_total, lost_total * period};
        rt__pprof_sample(p, &pc, 1, true, v, 2, NULL, 0);
    }
    int err = rt__pprof_finish(p, fd);
    rt__pprof_free(p);
    return err;
}

/* The last rt_pprof_stop_cpu's write: 0 or a negative errno (the API's
 * stop returns nothing, as Go's StopCPUProfile; CPUPROFILE's exit hook
 * reports it). */
static int stop_err;

void rt_pprof_stop_cpu(void)
{
    if (!atomic_load(&prof_busy) || prof_fd < 0)
        return;
    atomic_store(&writer_stop, 1);
    pthread_join(writer, NULL);
    atomic_fetch_sub_explicit(&rt__aux_threads, 1, memory_order_relaxed);
    atomic_store_explicit(&profiling, 0, memory_order_seq_cst);
    int64_t duration = rt_nanotime() - prof_start_mono;
    for (int i = 0; i < NSLOTS; i++) {
        ring *r = atomic_load_explicit(&rings[i], memory_order_seq_cst);
        if (r == NULL)
            continue;
        disarm_ring(r);
        /* a handler that saw profiling == 1 may still be writing */
        while (atomic_load_explicit(&r->busy, memory_order_seq_cst))
            sched_yield();
        drain_ring(r);
    }
    stop_err = write_cpu_profile(prof_fd, duration);
    btable_clear(&cpu_buckets);
    prof_fd = -1;
    atomic_store(&prof_busy, 0);
}

/* --------------------------------------------------------- CPUPROFILE -- */

static int env_fd = -1;
static const char *env_path; /* the environment's string */

static void cpuprof_at_exit(void)
{
    if (env_fd < 0)
        return;
    rt_pprof_stop_cpu();
    /* a full disk (or /dev/full) loses the profile: say so */
    int err = stop_err != 0 ? stop_err : close(env_fd) != 0 ? -errno : 0;
    if (stop_err != 0)
        close(env_fd);
    if (err != 0)
        rt__printf("grt: CPUPROFILE=\"%s\": profile not written: %s\n", env_path,
                   strerror(-err));
    env_fd = -1;
}

void rt__cpuprof_env_start(void)
{
    const char *path = getenv("CPUPROFILE");
    if (path == NULL || path[0] == 0)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rt__printf("grt: CPUPROFILE=\"%s\": cannot create: %s\n", path, strerror(errno));
        return;
    }
    if (rt_pprof_start_cpu(fd) != 0) {
        close(fd);
        return;
    }
    env_fd = fd;
    env_path = path;
    atexit(cpuprof_at_exit);
}
