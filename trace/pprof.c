/*
 * trace/pprof.c -- profile.proto encoding, gzip, and the text machinery the
 * legacy (debug >= 1) profile forms share.
 *
 * What it does
 *   The profilers (cpuprof.c, memprof.c, blockprof.c, goroutineprof.c)
 *   collect stacks as raw program counters.  This file turns a set of
 *   (stack, values, labels) samples into the gzipped perftools.profiles
 *   Profile message that `go tool pprof` reads (PPROF.md), and prints the
 *   Go 1.3 text forms (TRACE_FORMATS.md section 5): stack listings and the
 *   text/tabwriter padding.
 *
 * The proto message, as written
 *   Samples are encoded as they are added (location ids assigned on the
 *   way); locations, functions, mappings and the string table follow at
 *   the end.  Field order does not matter to pprof's decoder.  Every
 *   location carries its function name, file and line, symbolized here in
 *   process from DWARF (runtime/symtab.c; a Line per inlined frame,
 *   innermost first), and every mapping says so (has_functions,
 *   has_filenames, has_line_numbers, has_inline_frames): pprof then needs no
 *   binary, shows names for libc frames too, and `--list` works wherever
 *   the sources are readable.  A location's address is the sampled PC for
 *   an exact leaf and the return address minus 1 for every caller, so that
 *   costs land on the calling line; the symbol and line are looked up at
 *   that same address.
 *
 * Mappings (the part that silently breaks, PPROF.md)
 *   One mapping per executable PT_LOAD segment of every loaded object, from
 *   dl_iterate_phdr: memory_start = dlpi_addr + p_vaddr (not rounded to a
 *   page), memory_limit = start + p_memsz, file_offset = p_offset, the
 *   absolute file name and the GNU build id.  The main executable comes
 *   first (pprof takes mapping[0] as the program).
 *
 * Special frames
 *   A "PC" below RT_PPROF_NSPECIAL names a pseudo-function (System, GC,
 *   ExternalCode, lost profile events), written as a location of its own
 *   with no mapping, as Go's runtime._System and friends appear.
 *
 * Rejected alternatives
 *   - protobuf-c or nanopb: a generated dependency for six small messages;
 *     the wire format needed here is varints and length prefixes.
 *   - Leaving symbolization to pprof: it reads only DWARF line tables, needs
 *     the exact binary (build ids are ignored), and cannot name libc frames
 *     without libc's debug info on the reader's machine.
 *
 * Allocation: everything here uses malloc and is called from ordinary
 * threads or goroutines with the world running -- never from a signal
 * handler and never while the world is stopped.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "sched/sched.h"
#include "trace/trace.h"

/* ------------------------------------------------------------ buffers -- */

void rt__pbuf_reserve(rt__pbuf *b, size_t more)
{
    if (b->oom || b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more)
        cap *= 2;
    uint8_t *nb = realloc(b->b, cap);
    if (nb == NULL) {
        b->oom = true;
        return;
    }
    b->b = nb;
    b->cap = cap;
}

void rt__pbuf_put(rt__pbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    rt__pbuf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

void rt__pbuf_free(rt__pbuf *b)
{
    free(b->b);
    memset(b, 0, sizeof *b);
}

void rt__pbuf_vprintf(rt__pbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int k = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (k < 0)
        return;
    rt__pbuf_reserve(b, (size_t)k + 1);
    if (b->oom)
        return;
    vsnprintf((char *)b->b + b->n, (size_t)k + 1, fmt, ap);
    b->n += (size_t)k;
}

void rt__pbuf_printf(rt__pbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rt__pbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

/*
 * The profilers' stack walks run deep below the caller (libunwind saves
 * every register into an unw_context_t, the cursor copies them), and the
 * stack they leave behind holds the caller's pointers -- among them the
 * object a heap sample just recorded.  A goroutine that later reuses that
 * stack may keep those words in an uninitialised part of its frame, where
 * the conservative collector finds them for as long as it stays parked.
 * So after a walk the profilers clear the 8 KiB below their frame.
 */
__attribute__((noinline)) void rt__pprof_scrub_stack(void)
{
    /* explicit_bzero: libc's vector memset that the compiler may not drop
     * (a volatile word-at-a-time loop was half of a CPU profile's samples
     * at MemProfileRate 1, four times the walk itself) */
    uintptr_t pad[1024];
    explicit_bzero(pad, sizeof pad);
}

/*
 * The profilers' own stack walks are marked on their thread: libunwind's
 * per-thread cache is not reentrant, so a SIGPROF that lands inside one
 * must not walk again; the handler (cpuprof.c) then records the
 * interrupted PC alone.  A thread-local flag rather than blocking SIGPROF
 * with rt_sigprocmask: two system calls per walk were most of the heap
 * profiler's cost at the default rate (about 0.5 % of the alloc loop's
 * CPU, workload 13), and a held-off signal was charged to whatever ran
 * after the walk, where the flag charges the walk itself.  (Blocking went
 * through the raw system call for a reason worth keeping in mind: ASan's
 * pthread_sigmask interceptor left a copy of a caller's heap pointer in
 * the sanitizer runtime's .bss, which the collector scans.)
 */
_Thread_local volatile sig_atomic_t rt__pprof_walking;

int rt__pprof_walk_begin(void)
{
    int old = rt__pprof_walking;
    rt__pprof_walking = 1;
    atomic_signal_fence(memory_order_seq_cst); /* set before the walk starts */
    return old;
}

void rt__pprof_walk_end(int old)
{
    atomic_signal_fence(memory_order_seq_cst); /* the walk is over first */
    rt__pprof_walking = old;
}

/* unw_backtrace rather than an unw_step loop (rt__callers): its cached
 * fast path reads a frame without a system call, where the loop makes
 * two rt_sigprocmask calls per frame (libunwind 1.6) -- 8.7 us against
 * 0.17 us for a 5-frame walk measured alone; two thirds of the heap
 * sampler's CPU at rate 4096 (perf, workload 13's loop); and a waiter
 * woken by an unlock with the mutex profile on resumed 29-33 us later,
 * 4-6 us with this walk (an outside tester's program, MAXPROCS=1).  The
 * walk ends at the goroutine's entry trampoline, whose CFI ends every
 * chain.  The first address is in this function: the callers' rules
 * for trimming the runtime's frames drop it with the rest. */
int rt__pprof_backtrace(uintptr_t *pcs, int max)
{
    void *all[64];
    if (max > 64)
        max = 64;
    int old = rt__pprof_walk_begin();
    int n = unw_backtrace(all, max);
    rt__pprof_walk_end(old);
    for (int i = 0; i < n; i++)
        pcs[i] = (uintptr_t)all[i];
    return n;
}

/* dl_iterate_phdr holds the loader's lock while it runs.  A SIGPROF that
 * lands meanwhile must not walk the stack: the walk may wait for a lock
 * of libunwind's held by another thread's SIGPROF handler, which waits
 * for the loader's lock this thread holds (pprof_stress_gc_p4's hang:
 * one thread in the collector's walk of the writable segments, in its
 * handler, waiting for libunwind's lock; the other handler inside
 * dl_iterate_phdr).  Marked as a profiler's own walk, the handler records
 * the PC alone. */
int rt__dl_iterate_phdr(int (*cb)(struct dl_phdr_info *info, size_t size, void *arg),
                        void *arg)
{
    int old = rt__pprof_walk_begin();
    int r = dl_iterate_phdr(cb, arg);
    rt__pprof_walk_end(old);
    return r;
}

/* ---------------------------------------------------------- wire format -- */

enum { WT_VARINT = 0, WT_LEN = 2 };

static void put_varint(rt__pbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    rt__pbuf_put(b, tmp, (size_t)n);
}

static void put_key(rt__pbuf *b, int field, int wt)
{
    put_varint(b, (uint64_t)field << 3 | (uint64_t)wt);
}

/* int64 fields are plain varints (two's complement, not zigzag). */
static void put_int(rt__pbuf *b, int field, int64_t v)
{
    put_key(b, field, WT_VARINT);
    put_varint(b, (uint64_t)v);
}

/* Omitted when zero, as proto3 does. */
static void put_int_nz(rt__pbuf *b, int field, int64_t v)
{
    if (v != 0)
        put_int(b, field, v);
}

static void put_bool(rt__pbuf *b, int field, bool v)
{
    if (v)
        put_int(b, field, 1);
}

static void put_bytes(rt__pbuf *b, int field, const void *p, size_t n)
{
    put_key(b, field, WT_LEN);
    put_varint(b, n);
    rt__pbuf_put(b, p, n);
}

static void put_msg(rt__pbuf *b, int field, const rt__pbuf *m)
{
    put_bytes(b, field, m->b, m->n);
}

/* ---------------------------------------------------------- hash tables -- */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *s = p;
    h ^= 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Open addressing, uint64 keys (never 0) to uint64 values. */
typedef struct u64map {
    uint64_t *keys, *vals;
    size_t cap, n;
} u64map;

static bool u64map_grow(u64map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    uint64_t *k = calloc(ncap, sizeof *k), *v = calloc(ncap, sizeof *v);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == 0)
            continue;
        size_t j = mix64(m->keys[i]) & (ncap - 1);
        while (k[j] != 0)
            j = (j + 1) & (ncap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = ncap;
    return true;
}

/* The slot of key: found (*found) or where it would go.  NULL on OOM. */
static uint64_t *u64map_slot(u64map *m, uint64_t key, bool *found)
{
    if ((m->n + 1) * 2 > m->cap && !u64map_grow(m))
        return NULL;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j] != 0 && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    *found = m->keys[j] == key;
    if (!*found) {
        m->keys[j] = key;
        m->n++;
    }
    return &m->vals[j];
}

static void u64map_free(u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------- the builder -- */

typedef struct mapping {
    uintptr_t start, limit, offset;
    char file[PATH_MAX];
    char build_id[64]; /* hex */
} mapping;

struct rt__pprof {
    rt__pbuf out;      /* the Profile message minus the tables */
    rt__pbuf locs, funcs, strtab;
    /* strings: content hash -> index + 1 (collisions checked by content) */
    u64map strs;
    char **strv;       /* index -> string (owned copies) */
    size_t nstr, strcap;
    u64map loc_ids;    /* address (+1 for exact leaves) -> location id */
    u64map func_ids;   /* hash(name, file) -> function id */
    uint64_t nlocs, nfuncs;
    mapping *maps;
    int nmaps;
    rt__pbuf scratch, scratch2;
    /* Delta profiles (rt__pprof_delta_*): samples go to `collect` instead
     * of the output, or have `base`'s subtracted on their way out. */
    rt__pprof_delta *collect, *base;
};

int64_t rt__pprof_str(rt__pprof *p, const char *s)
{
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    uint64_t h = hash_bytes(s, len, 0) | 1;
    for (;;) {
        bool found;
        uint64_t *v = u64map_slot(&p->strs, h, &found);
        if (v == NULL)
            return 0;
        if (found) {
            if (strcmp(p->strv[*v - 1], s) == 0)
                return (int64_t)(*v - 1);
            h = mix64(h + 1) | 1; /* collision: rehash */
            continue;
        }
        if (p->nstr == p->strcap) {
            size_t nc = p->strcap ? p->strcap * 2 : 256;
            char **nv = realloc(p->strv, nc * sizeof *nv);
            if (nv == NULL) {
                p->out.oom = true;
                return 0;
            }
            p->strv = nv;
            p->strcap = nc;
        }
        char *copy = strdup(s);
        if (copy == NULL) {
            p->out.oom = true;
            return 0;
        }
        p->strv[p->nstr] = copy;
        *v = ++p->nstr;
        put_bytes(&p->strtab, 6, s, len);
        return (int64_t)(p->nstr - 1);
    }
}

/* ------------------------------------------------------------ mappings -- */

static void build_id_hex(const struct dl_phdr_info *info, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *q = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = q + ph->p_memsz;
        while (q + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)q;
            const uint8_t *name = q + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && desc + nh->n_descsz <= end) {
                size_t k = 0;
                for (uint32_t j = 0; j < nh->n_descsz && k + 3 <= cap; j++)
                    k += (size_t)snprintf(out + k, cap - k, "%02x", desc[j]);
                return;
            }
            q = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    rt__pprof *p = arg;
    bool main_prog = p->nmaps == 0 && (info->dlpi_name == NULL || info->dlpi_name[0] == 0);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        mapping *nm = realloc(p->maps, (size_t)(p->nmaps + 1) * sizeof *nm);
        if (nm == NULL)
            return 1;
        p->maps = nm;
        mapping *m = &p->maps[p->nmaps];
        memset(m, 0, sizeof *m);
        m->start = info->dlpi_addr + ph->p_vaddr;
        m->limit = m->start + ph->p_memsz;
        m->offset = ph->p_offset;
        if (main_prog) {
            ssize_t k = readlink("/proc/self/exe", m->file, sizeof m->file - 1);
            m->file[k > 0 ? k : 0] = 0;
        } else if (info->dlpi_name != NULL) {
            snprintf(m->file, sizeof m->file, "%s", info->dlpi_name);
        }
        if (m->file[0] == 0)
            continue; /* the main program seen again, or anonymous */
        build_id_hex(info, m->build_id, sizeof m->build_id);
        p->nmaps++;
    }
    return 0;
}

static uint64_t mapping_of(const rt__pprof *p, uintptr_t addr)
{
    for (int i = 0; i < p->nmaps; i++)
        if (addr >= p->maps[i].start && addr < p->maps[i].limit)
            return (uint64_t)i + 1;
    return 0;
}

/* --------------------------------------------------------------- create -- */

/*
 * Delta profiles (Go's net/http/pprof ?seconds=N on heap, allocs, block,
 * mutex, goroutine and threadcreate): the same profile written twice, N
 * seconds apart, the first's samples subtracted from the second's (Go
 * parses both and merges with the first scaled by -1).  Here the writers
 * are not changed: a delta in progress belongs to one goroutine (by id:
 * a writer may park and resume on another thread), and every rt__pprof
 * that goroutine creates meanwhile samples into it.  The first pass
 * collects each sample (stack, labels, values) keyed by stack and labels;
 * the second subtracts the matching one, drops a sample whose values all
 * come out 0, and at its end emits the first pass's samples it never met,
 * negated (what went away: freed memory, goroutines that exited).
 */
typedef struct dsample {
    uint64_t hash;
    int n, nvalues, nlabels;
    bool leaf_exact, met;
    uintptr_t *pcs;
    int64_t values[8];
    rt__pprof_label *labels; /* strings owned */
} dsample;

struct rt__pprof_delta {
    dsample *v;
    size_t n, cap;
    bool collecting;
};

/* delta_goid and delta_cur: the pass in progress (debughttp.c writes one
 * pass at a time; deltas wait between their passes side by side) */
static rt__lock delta_lock;
static _Atomic int64_t delta_goid;
static rt__pprof_delta *delta_cur;

static uint64_t sample_key(const uintptr_t *pcs, int n, bool leaf_exact,
                           const rt__pprof_label *labels, int nlabels)
{
    uint64_t h = hash_bytes(pcs, (size_t)n * sizeof *pcs, leaf_exact ? 7 : 3);
    for (int i = 0; i < nlabels; i++) {
        h = hash_bytes(labels[i].key, strlen(labels[i].key), h);
        if (labels[i].str != NULL)
            h = hash_bytes(labels[i].str, strlen(labels[i].str), h);
        else
            h = hash_bytes(&labels[i].num, sizeof labels[i].num, h ^ 1);
    }
    return h;
}

static bool same_sample(const dsample *d, const uintptr_t *pcs, int n, bool leaf_exact,
                        const rt__pprof_label *labels, int nlabels)
{
    if (d->n != n || d->leaf_exact != leaf_exact || d->nlabels != nlabels ||
        memcmp(d->pcs, pcs, (size_t)n * sizeof *pcs) != 0)
        return false;
    for (int i = 0; i < nlabels; i++) {
        const rt__pprof_label *a = &d->labels[i], *b = &labels[i];
        if (strcmp(a->key, b->key) != 0 || (a->str == NULL) != (b->str == NULL) ||
            (a->str != NULL && strcmp(a->str, b->str) != 0) || a->num != b->num)
            return false;
    }
    return true;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void delta_add(rt__pprof_delta *d, uint64_t h, const uintptr_t *pcs, int n,
                      bool leaf_exact, const int64_t *values, int nvalues,
                      const rt__pprof_label *labels, int nlabels)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 256;
        dsample *v = realloc(d->v, nc * sizeof *v);
        if (v == NULL)
            return;
        d->v = v;
        d->cap = nc;
    }
    dsample *x = &d->v[d->n];
    memset(x, 0, sizeof *x);
    x->hash = h;
    x->n = n;
    x->leaf_exact = leaf_exact;
    x->nvalues = nvalues < 8 ? nvalues : 8;
    memcpy(x->values, values, (size_t)x->nvalues * sizeof *values);
    x->pcs = malloc((size_t)(n > 0 ? n : 1) * sizeof *pcs);
    x->labels = calloc((size_t)(nlabels > 0 ? nlabels : 1), sizeof *labels);
    if (x->pcs == NULL || x->labels == NULL) {
        free(x->pcs);
        free(x->labels);
        return;
    }
    memcpy(x->pcs, pcs, (size_t)n * sizeof *pcs);
    for (int i = 0; i < nlabels; i++) {
        x->labels[i] = labels[i];
        x->labels[i].key = dup_or_null(labels[i].key);
        x->labels[i].str = dup_or_null(labels[i].str);
        x->labels[i].unit = dup_or_null(labels[i].unit);
    }
    x->nlabels = nlabels;
    d->n++;
}

rt__pprof_delta *rt__pprof_delta_begin(void)
{
    rt__pprof_delta *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    rt__lock_acquire(&delta_lock);
    d->collecting = true;
    delta_cur = d;
    atomic_store(&delta_goid, rt_goid());
    rt__lock_release(&delta_lock);
    return d;
}

void rt__pprof_delta_subtract(rt__pprof_delta *d)
{
    rt__lock_acquire(&delta_lock);
    d->collecting = false;
    delta_cur = d;
    atomic_store(&delta_goid, rt_goid());
    rt__lock_release(&delta_lock);
}

void rt__pprof_delta_pause(void)
{
    rt__lock_acquire(&delta_lock);
    delta_cur = NULL;
    atomic_store(&delta_goid, 0);
    rt__lock_release(&delta_lock);
}

void rt__pprof_delta_free(rt__pprof_delta *d)
{
    if (d == NULL)
        return;
    /* Ends d's pass if it is the one in progress; another's is left be
     * (a delta freed between its passes: its client went away). */
    rt__lock_acquire(&delta_lock);
    if (delta_cur == d) {
        delta_cur = NULL;
        atomic_store(&delta_goid, 0);
    }
    rt__lock_release(&delta_lock);
    for (size_t i = 0; i < d->n; i++) {
        for (int k = 0; k < d->v[i].nlabels; k++) {
            free((char *)d->v[i].labels[k].key);
            free((char *)d->v[i].labels[k].str);
            free((char *)d->v[i].labels[k].unit);
        }
        free(d->v[i].labels);
        free(d->v[i].pcs);
    }
    free(d->v);
    free(d);
}

rt__pprof *rt__pprof_new(void)
{
    rt__pprof *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    int64_t me = rt_goid();
    if (me != 0 && atomic_load(&delta_goid) == me) {
        rt__lock_acquire(&delta_lock);
        if (delta_cur != NULL && atomic_load(&delta_goid) == me) {
            if (delta_cur->collecting)
                p->collect = delta_cur;
            else
                p->base = delta_cur;
        }
        rt__lock_release(&delta_lock);
    }
    rt__pprof_str(p, ""); /* string_table[0] must be "" */
    rt__dl_iterate_phdr(phdr_cb, p);
    return p;
}

void rt__pprof_free(rt__pprof *p)
{
    if (p == NULL)
        return;
    rt__pbuf_free(&p->out);
    rt__pbuf_free(&p->locs);
    rt__pbuf_free(&p->funcs);
    rt__pbuf_free(&p->strtab);
    rt__pbuf_free(&p->scratch);
    rt__pbuf_free(&p->scratch2);
    for (size_t i = 0; i < p->nstr; i++)
        free(p->strv[i]);
    free(p->strv);
    u64map_free(&p->strs);
    u64map_free(&p->loc_ids);
    u64map_free(&p->func_ids);
    free(p->maps);
    free(p);
}

static void value_type(rt__pprof *p, int field, const char *type, const char *unit)
{
    rt__pbuf *m = &p->scratch;
    m->n = 0;
    put_int_nz(m, 1, rt__pprof_str(p, type));
    put_int_nz(m, 2, rt__pprof_str(p, unit));
    put_msg(&p->out, field, m);
}

void rt__pprof_sample_type(rt__pprof *p, const char *type, const char *unit)
{
    value_type(p, 1, type, unit);
}

void rt__pprof_period(rt__pprof *p, const char *type, const char *unit, int64_t period)
{
    value_type(p, 11, type, unit);
    put_int_nz(&p->out, 12, period);
}

void rt__pprof_default_sample_type(rt__pprof *p, const char *type)
{
    put_int(&p->out, 14, rt__pprof_str(p, type));
}

void rt__pprof_times(rt__pprof *p, int64_t time_nanos, int64_t duration_nanos)
{
    put_int_nz(&p->out, 9, time_nanos);
    put_int_nz(&p->out, 10, duration_nanos);
}

int64_t rt__pprof_walltime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rt__pprof_comment(rt__pprof *p, const char *c)
{
    put_int(&p->out, 13, rt__pprof_str(p, c));
}

static const char *const special_names[RT_PPROF_NSPECIAL] = {
    [RT_PPROF_SYSTEM] = "System",
    [RT_PPROF_GC] = "GC",
    [RT_PPROF_EXTERNAL] = "ExternalCode",
    [RT_PPROF_LOST] = "lost profile events",
};

static uint64_t function_id(rt__pprof *p, const char *name, const char *file, int64_t start)
{
    uint64_t h = hash_bytes(name, strlen(name), 0);
    h = hash_bytes(file ? file : "", file ? strlen(file) : 0, h) | 1;
    bool found;
    uint64_t *v = u64map_slot(&p->func_ids, h, &found);
    if (v == NULL)
        return 0;
    if (found)
        return *v;
    *v = ++p->nfuncs;
    rt__pbuf *m = &p->scratch2;
    m->n = 0;
    put_int(m, 1, (int64_t)*v);
    int64_t ni = rt__pprof_str(p, name);
    put_int_nz(m, 2, ni);
    put_int_nz(m, 3, ni);
    put_int_nz(m, 4, rt__pprof_str(p, file));
    put_int_nz(m, 5, start);
    put_msg(&p->funcs, 5, m);
    return *v;
}

/* The location id of addr (already adjusted: exact leaf, or return
 * address - 1). */
/* A Location id (0: none, the frame is left out: a goroutine's root
 * frames, or no room). */
#define LOC_HIDDEN UINT64_MAX
static uint64_t location_id(rt__pprof *p, uintptr_t addr)
{
    bool found;
    uint64_t *v = u64map_slot(&p->loc_ids, (uint64_t)addr + 1, &found);
    if (v == NULL)
        return 0;
    if (found)
        return *v == LOC_HIDDEN ? 0 : *v;
    rt__pbuf lines[RT_PPROF_MAX_INLINE];
    int nlines = 0;
    uint64_t map = 0;
    /* the frames inlined at addr, innermost first: one Line each, as
     * PPROF.md asks (the callee's lines were charged to its caller) */
    rt__sym fr[RT_PPROF_MAX_INLINE];
    int nfr = addr >= RT_PPROF_NSPECIAL ? rt__symbolize_frames(addr, fr, RT_PPROF_MAX_INLINE)
                                        : 0;
    if (nfr > 0 && rt__is_goroutine_root(fr[nfr - 1].entry)) {
        /* grt's runtime.goexit: left out of every stack, as Go's */
        *v = LOC_HIDDEN;
        return 0;
    }
    uint64_t id = ++p->nlocs;
    *v = id;
    if (addr < RT_PPROF_NSPECIAL) {
        uint64_t fid = function_id(p, special_names[addr], NULL, 0);
        lines[0] = (rt__pbuf){0};
        put_int(&lines[nlines++], 1, (int64_t)fid);
        addr = 0;
    } else {
        map = mapping_of(p, addr);
        for (int i = 0; i < nfr; i++) {
            uint64_t fid = function_id(p, fr[i].name, fr[i].file, 0);
            lines[nlines] = (rt__pbuf){0};
            put_int(&lines[nlines], 1, (int64_t)fid);
            put_int_nz(&lines[nlines], 2, fr[i].line);
            nlines++;
        }
    }
    rt__pbuf *m = &p->scratch2;
    m->n = 0;
    put_int(m, 1, (int64_t)id);
    put_int_nz(m, 2, (int64_t)map);
    put_int_nz(m, 3, (int64_t)addr);
    /* copies: scratch2 is reused by function_id above (already done) */
    for (int i = 0; i < nlines; i++) {
        put_msg(m, 4, &lines[i]);
        rt__pbuf_free(&lines[i]);
    }
    put_msg(&p->locs, 4, m);
    return id;
}

static void encode_sample(rt__pprof *p, const uintptr_t *pcs, int n, bool leaf_exact,
                          const int64_t *values, int nvalues, const rt__pprof_label *labels,
                          int nlabels);

void rt__pprof_sample(rt__pprof *p, const uintptr_t *pcs, int n, bool leaf_exact,
                      const int64_t *values, int nvalues, const rt__pprof_label *labels,
                      int nlabels)
{
    if (p->collect == NULL && p->base == NULL) {
        encode_sample(p, pcs, n, leaf_exact, values, nvalues, labels, nlabels);
        return;
    }
    uint64_t h = sample_key(pcs, n, leaf_exact, labels, nlabels);
    if (p->collect != NULL) {
        delta_add(p->collect, h, pcs, n, leaf_exact, values, nvalues, labels, nlabels);
        return;
    }
    int64_t v[8];
    int nv = nvalues < 8 ? nvalues : 8;
    memcpy(v, values, (size_t)nv * sizeof *v);
    for (size_t i = 0; i < p->base->n; i++) {
        dsample *d = &p->base->v[i];
        if (d->met || d->hash != h || !same_sample(d, pcs, n, leaf_exact, labels, nlabels))
            continue;
        d->met = true;
        for (int k = 0; k < nv && k < d->nvalues; k++)
            v[k] -= d->values[k];
        break;
    }
    bool any = false;
    for (int k = 0; k < nv; k++)
        any |= v[k] != 0;
    if (any)
        encode_sample(p, pcs, n, leaf_exact, v, nv, labels, nlabels);
}

static void encode_sample(rt__pprof *p, const uintptr_t *pcs, int n, bool leaf_exact,
                          const int64_t *values, int nvalues, const rt__pprof_label *labels,
                          int nlabels)
{
    /* Location ids first (they may write to the tables and scratch2). */
    uint64_t ids[RT_PPROF_MAX_DEPTH];
    int k = 0;
    for (int i = 0; i < n && k < RT_PPROF_MAX_DEPTH; i++) {
        uintptr_t a = pcs[i];
        if (a >= RT_PPROF_NSPECIAL && !(i == 0 && leaf_exact))
            a--;
        uint64_t id = location_id(p, a);
        if (id != 0)
            ids[k++] = id;
    }
    /* Only root frames (a goroutine starting up): the runtime's time */
    if (k == 0 && n > 0) {
        uint64_t id = location_id(p, RT_PPROF_SYSTEM);
        if (id != 0)
            ids[k++] = id;
    }
    rt__pbuf *m = &p->scratch;
    m->n = 0;
    rt__pbuf packed = {0};
    for (int i = 0; i < k; i++)
        put_varint(&packed, ids[i]);
    if (k > 0)
        put_msg(m, 1, &packed);
    packed.n = 0;
    for (int i = 0; i < nvalues; i++)
        put_varint(&packed, (uint64_t)values[i]);
    put_msg(m, 2, &packed);
    for (int i = 0; i < nlabels; i++) {
        packed.n = 0;
        put_int_nz(&packed, 1, rt__pprof_str(p, labels[i].key));
        if (labels[i].str != NULL) {
            put_int_nz(&packed, 2, rt__pprof_str(p, labels[i].str));
        } else {
            put_int_nz(&packed, 3, labels[i].num);
            if (labels[i].unit != NULL)
                put_int_nz(&packed, 4, rt__pprof_str(p, labels[i].unit));
        }
        put_msg(m, 3, &packed);
    }
    rt__pbuf_free(&packed);
    put_msg(&p->out, 2, m);
}

/* Writes all n bytes to fd; 0 or -errno. */
int rt__write_all(int fd, const void *buf, size_t n)
{
    const char *s = buf;
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

int rt__pprof_finish(rt__pprof *p, int fd)
{
    if (p->collect != NULL)
        return 0; /* a delta's first pass: kept, not written */
    if (p->base != NULL) {
        /* what the first pass had and the second did not: gone since */
        for (size_t i = 0; i < p->base->n; i++) {
            dsample *d = &p->base->v[i];
            if (d->met)
                continue;
            int64_t v[8];
            bool any = false;
            for (int k = 0; k < d->nvalues; k++) {
                v[k] = -d->values[k];
                any |= v[k] != 0;
            }
            if (any)
                encode_sample(p, d->pcs, d->n, d->leaf_exact, v, d->nvalues, d->labels,
                              d->nlabels);
        }
    }
    /* mappings */
    for (int i = 0; i < p->nmaps; i++) {
        rt__pbuf *m = &p->scratch;
        m->n = 0;
        put_int(m, 1, i + 1);
        put_int_nz(m, 2, (int64_t)p->maps[i].start);
        put_int_nz(m, 3, (int64_t)p->maps[i].limit);
        put_int_nz(m, 4, (int64_t)p->maps[i].offset);
        put_int_nz(m, 5, rt__pprof_str(p, p->maps[i].file));
        put_int_nz(m, 6, rt__pprof_str(p, p->maps[i].build_id));
        put_bool(m, 7, true);
        put_bool(m, 8, true);
        put_bool(m, 9, true);
        put_bool(m, 10, true); /* has_inline_frames */
        put_msg(&p->out, 3, m);
    }
    rt__pbuf_put(&p->out, p->locs.b, p->locs.n);
    rt__pbuf_put(&p->out, p->funcs.b, p->funcs.n);
    rt__pbuf_put(&p->out, p->strtab.b, p->strtab.n);
    if (p->out.oom || p->locs.oom || p->funcs.oom || p->strtab.oom || p->scratch.oom ||
        p->scratch2.oom)
        return -ENOMEM;
    return rt__gzip_write(fd, p->out.b, p->out.n);
}

int rt__gzip_write(int fd, const void *data, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* windowBits 15 + 16: a gzip header and trailer */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t cap = deflateBound(&zs, (uLong)n);
    uint8_t *out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&zs);
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    int err = rc == Z_STREAM_END ? rt__write_all(fd, out, len) : -EIO;
    free(out);
    return err;
}

/* ------------------------------------------------------------ text forms -- */

/*
 * Go's text/tabwriter with minwidth 1, tabwidth 8, padding 1, padchar '\t'
 * and no flags (TRACE_FORMATS.md section 5): cells are the tab-terminated
 * pieces of a line; a column block is a maximal run of consecutive lines
 * that have a cell in that column; each cell is followed by as many tabs as
 * reach the block's width rounded up to a multiple of 8.
 */
typedef struct tw_line {
    const char *s;
    size_t len;
    int ncells;       /* tab-terminated cells + the last one */
} tw_line;

typedef struct tw {
    tw_line *lines;
    size_t nlines;
    int widths[64];
    int nwidths;
    rt__pbuf *out;
} tw;

static const char *tw_cell(const tw_line *l, int j, size_t *len)
{
    const char *s = l->s, *end = l->s + l->len;
    for (int k = 0; k < j; k++) {
        const char *t = memchr(s, '\t', (size_t)(end - s));
        s = t + 1;
    }
    const char *t = memchr(s, '\t', (size_t)(end - s));
    *len = (size_t)((t ? t : end) - s);
    return s;
}

static int utf8_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            w++;
    return w;
}

static void tw_write_lines(tw *t, size_t l0, size_t l1)
{
    static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
    for (size_t i = l0; i < l1; i++) {
        const tw_line *l = &t->lines[i];
        for (int j = 0; j < l->ncells; j++) {
            size_t len;
            const char *c = tw_cell(l, j, &len);
            rt__pbuf_put(t->out, c, len);
            if (j < l->ncells - 1 && j < t->nwidths) {
                /* a column cell: pad with tabs to the column width */
                int width = t->widths[j];
                int textw = utf8_width(c, len);
                int cellw = (width + 7) / 8 * 8;
                int ntabs = (cellw - textw + 7) / 8;
                while (ntabs > 0) {
                    int k = ntabs > 16 ? 16 : ntabs;
                    rt__pbuf_put(t->out, tabs, (size_t)k);
                    ntabs -= k;
                }
            }
        }
        rt__pbuf_put(t->out, "\n", 1);
    }
}

static size_t tw_format(tw *t, size_t line0, size_t line1)
{
    int column = t->nwidths;
    for (size_t cur = line0; cur < line1; cur++) {
        if (column >= t->lines[cur].ncells - 1)
            continue;
        tw_write_lines(t, line0, cur);
        line0 = cur;
        int width = 1; /* minwidth */
        for (; cur < line1; cur++) {
            const tw_line *l = &t->lines[cur];
            if (column >= l->ncells - 1)
                break;
            size_t len;
            const char *c = tw_cell(l, column, &len);
            int w = utf8_width(c, len) + 1; /* padding */
            if (w > width)
                width = w;
        }
        if (t->nwidths < 64) {
            t->widths[t->nwidths++] = width;
            tw_format(t, line0, cur);
            t->nwidths--;
        }
        line0 = cur;
        /* the loop's increment skips line cur, which has no cell in this
         * column (as Go's tabwriter does) */
    }
    tw_write_lines(t, line0, line1);
    return line1;
}

void rt__tabwriter(const char *text, size_t n, rt__pbuf *out)
{
    tw t = {.out = out};
    size_t cap = 0;
    const char *s = text, *end = text + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);
        if (t.nlines == cap) {
            cap = cap ? cap * 2 : 256;
            tw_line *nlns = realloc(t.lines, cap * sizeof *nlns);
            if (nlns == NULL) {
                out->oom = true;
                free(t.lines);
                return;
            }
            t.lines = nlns;
        }
        int cells = 1;
        for (size_t i = 0; i < len; i++)
            cells += s[i] == '\t';
        t.lines[t.nlines++] = (tw_line){s, len, cells};
        s += len + (nl != NULL);
    }
    tw_format(&t, 0, t.nlines);
    free(t.lines);
}

/*
 * printStackRecord (TRACE_FORMATS.md section 5): one "#\tPC\tNAME+OFF\tFILE:LINE"
 * line per frame; the goroutine trampoline (grt's runtime.goexit) is never
 * shown, leading runtime frames are hidden unless all_frames; the
 * listing is redone with every frame if nothing was shown; then a blank
 * line.  The line is looked up at pc-1 for frames that are return
 * addresses (all but an exact leaf).
 */
void rt__text_stack(rt__pbuf *b, const uintptr_t *pcs, int n, bool leaf_exact,
                    bool all_frames)
{
    bool show = all_frames;
    size_t mark = b->n;
    for (int i = 0; i < n; i++) {
        uintptr_t pc = pcs[i];
        if (pc < RT_PPROF_NSPECIAL) {
            rt__pbuf_printf(b, "#\t%s\n", special_names[pc]);
            show = true;
            continue;
        }
        uintptr_t tracepc = (i == 0 && leaf_exact) ? pc : pc - 1;
        rt__sym fr[RT_PPROF_MAX_INLINE];
        int nfr = rt__symbolize_frames(tracepc, fr, RT_PPROF_MAX_INLINE);
        if (nfr == 0) {
            show = true;
            rt__pbuf_printf(b, "#\t%#lx\n", (unsigned long)pc);
            continue;
        }
        /* the goroutine's root frames are grt's runtime.goexit: never
         * shown */
        if (rt__is_goroutine_root(fr[nfr - 1].entry) || (!show && fr[0].in_runtime))
            continue;
        show = true;
        /* inlined frames first, each on a line of its own with the same
         * PC (Go's CallersFrames) */
        for (int k = 0; k < nfr; k++)
            rt__pbuf_printf(b, "#\t%#lx\t%s+%#lx\t%s:%d\n", (unsigned long)pc, fr[k].name,
                            (unsigned long)(pc - fr[k].entry), fr[k].file ? fr[k].file : "?",
                            fr[k].line);
    }
    if (!show) {
        b->n = mark;
        rt__text_stack(b, pcs, n, leaf_exact, true);
        return;
    }
    rt__pbuf_put(b, "\n", 1);
}

/* " 0x..." for every PC: the record line's stack. */
void rt__text_pcs(rt__pbuf *b, const uintptr_t *pcs, int n)
{
    for (int i = 0; i < n; i++)
        rt__pbuf_printf(b, " %#lx", (unsigned long)pcs[i]);
}

int rt__text_finish(rt__pbuf *b, int fd, bool tabwriter)
{
    if (b->oom)
        return -ENOMEM;
    if (!tabwriter)
        return rt__write_all(fd, b->b, b->n);
    rt__pbuf out = {0};
    rt__tabwriter((const char *)b->b, b->n, &out);
    int err = out.oom ? -ENOMEM : rt__write_all(fd, out.b, out.n);
    rt__pbuf_free(&out);
    return err;
}
