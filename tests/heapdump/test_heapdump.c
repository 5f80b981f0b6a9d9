/*
 * tests/heapdump/test_heapdump.c -- rt_write_heap_dump against
 * TRACE_FORMATS.md section 11 and Part A ("Heap dump: what the existing
 * readers need"), with a reader of its own: the dump is parsed record by
 * record and every byte must be consumed.
 *
 * Invariants checked on every dump: the exact header; params first; every
 * object inside the params' arena range, at increasing addresses without
 * overlap, with a size that is a multiple of 8 and contents of that size;
 * a type record before the first object that uses it (and no object of a
 * type never described); kinds 0 only; each goroutine record followed by
 * its frames, depths 0, 1, 2, ... with frame 0 at the goroutine's sp and
 * each frame's child sp the previous frame's sp; exactly one data and one
 * bss record; a memstats record; EOF last; field offsets inside their
 * records and increasing.
 *
 * And on a known graph: every object of it present, its pointer fields
 * edges to the right objects (a Ptr field at the offset in the type's field
 * list, and the contents there the target's address), rt_new(T) objects
 * typed T, rt_alloc objects "conservativeN", rt_alloc_noscan objects
 * untyped; a global root in the data or bss record's field list; a parked
 * goroutine's stack holding its object; the dumping goroutine "dumping
 * heap"; rt_gc_add_root ranges and a pending timer as otherroots;
 * finalizers.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define NOINLINE __attribute__((noinline))

/* ------------------------------------------------------------- reader -- */

typedef struct field {
    uint64_t kind, off;
} field;

typedef struct flist {
    field *f;
    size_t n;
} flist;

typedef struct dtype {
    uint64_t addr, size;
    char *name;
    bool eface_ptr;
    flist fields;
} dtype;

typedef struct dobj {
    uint64_t addr, type, kind, size;
    const uint8_t *data;
} dobj;

typedef struct dframe {
    uint64_t sp, depth, childsp, entry, pc, contpc;
    const uint8_t *data;
    uint64_t size;
    char *name;
    flist fields;
} dframe;

typedef struct dgor {
    uint64_t addr, sp, goid, gopc, status, waitsince, ctxt, m, defers, panics;
    bool is_system, is_background;
    char *reason;
    dframe *frames;
    size_t nframes;
} dgor;

typedef struct dseg {
    uint64_t addr, size;
    const uint8_t *data;
    flist fields;
} dseg;

typedef struct droot {
    char *desc;
    uint64_t ptr;
} droot;

typedef struct dfin {
    uint64_t obj, fn, code, fint, ot;
    bool queued;
} dfin;

typedef struct dmpframe {
    char *name, *file;
    uint64_t line;
} dmpframe;

typedef struct dbucket {
    uint64_t id, size, nstk, allocs, frees;
    dmpframe *frames;
} dbucket;

typedef struct dsample {
    uint64_t obj, bucket;
} dsample;

typedef struct dump {
    uint64_t bigendian, ptrsize, hchansize, arena_lo, arena_hi, thechar, ncpu;
    dtype *types;
    size_t ntypes;
    dobj *objs;
    size_t nobjs;
    dgor *gs;
    size_t ngs;
    dseg data, bss;
    int ndata, nbss, nmemstats, nparams, nthreads;
    droot *roots;
    size_t nroots;
    dfin *fins;
    size_t nfins;
    uint64_t memstats[281];
    dbucket *buckets;
    size_t nbuckets;
    dsample *samples;
    size_t nsamples;
} dump;

typedef struct rd {
    const uint8_t *p, *end;
} rd;

#define GROW(arr, n)                                                          \
    do {                                                                      \
        if (((n) & ((n) - 1)) == 0 || (n) == 0) {                             \
            size_t cap_ = (n) ? 2 * (n) : 8;                                  \
            arr = realloc(arr, cap_ * sizeof *(arr));                         \
            REQUIRE(arr != NULL);                                       \
        }                                                                     \
    } while (0)

static uint64_t r_uv(rd *r)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        REQUIRE_MSG(r->p < r->end, "dump truncated inside a uvarint");
        REQUIRE_MSG(shift < 64, "uvarint longer than 10 bytes");
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80)
            return v;
    }
}

static bool r_bool(rd *r)
{
    uint64_t v = r_uv(r);
    REQUIRE_MSG(v <= 1, "bool field is %llu", (unsigned long long)v);
    return v == 1;
}

static const uint8_t *r_bytes(rd *r, uint64_t *n)
{
    *n = r_uv(r);
    REQUIRE_MSG(*n <= (uint64_t)(r->end - r->p), "string runs past the end");
    const uint8_t *s = r->p;
    r->p += *n;
    return s;
}

static char *r_str(rd *r)
{
    uint64_t n;
    const uint8_t *s = r_bytes(r, &n);
    char *c = malloc(n + 1);
    REQUIRE(c != NULL);
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* A field list; offsets must increase and lie inside a record of size
 * bytes (a pointer field needs a whole word). */
static flist r_fields(rd *r, uint64_t size)
{
    flist l = {NULL, 0};
    uint64_t last = 0;
    for (;;) {
        uint64_t k = r_uv(r);
        if (k == 0)
            return l;
        REQUIRE_MSG(k >= 1 && k <= 5, "field kind %llu", (unsigned long long)k);
        uint64_t off = r_uv(r);
        REQUIRE_MSG(off + 8 <= size, "field at %llu outside a %llu-byte record",
                      (unsigned long long)off, (unsigned long long)size);
        REQUIRE_MSG(l.n == 0 || off > last, "field offsets not increasing");
        last = off;
        GROW(l.f, l.n);
        l.f[l.n++] = (field){k, off};
    }
}

static dtype *find_type(dump *d, uint64_t addr)
{
    for (size_t i = 0; i < d->ntypes; i++)
        if (d->types[i].addr == addr)
            return &d->types[i];
    return NULL;
}

static bool has_ptr_field(const flist *l, uint64_t off)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->f[i].kind == 1 && l->f[i].off == off)
            return true;
    return false;
}

static uint64_t word_at(const uint8_t *data, uint64_t off)
{
    uint64_t w;
    memcpy(&w, data + off, 8);
    return w;
}

/* Parses a whole dump and checks the record-level invariants. */
static void parse(const uint8_t *buf, size_t len, dump *d)
{
    memset(d, 0, sizeof *d);
    REQUIRE_MSG(len >= 16 && memcmp(buf, "go1.3 heap dump\n", 16) == 0, "bad header");
    rd r = {buf + 16, buf + len};
    bool eof = false, first = true;
    dgor *curg = NULL; /* the goroutine whose frames may follow */
    uint64_t last_obj_end = 0;
    while (!eof) {
        uint64_t tag = r_uv(&r);
        REQUIRE_MSG(!first || tag == 6, "first record is tag %llu, not params",
                      (unsigned long long)tag);
        first = false;
        if (tag != 5)
            curg = NULL;
        switch (tag) {
        case 0:
            eof = true;
            break;
        case 1: {
            dobj o;
            o.addr = r_uv(&r);
            o.type = r_uv(&r);
            o.kind = r_uv(&r);
            o.data = r_bytes(&r, &o.size);
            REQUIRE_MSG(o.addr >= d->arena_lo && o.addr + o.size <= d->arena_hi,
                          "object %#llx+%llu outside the arena [%#llx, %#llx)",
                          (unsigned long long)o.addr, (unsigned long long)o.size,
                          (unsigned long long)d->arena_lo, (unsigned long long)d->arena_hi);
            REQUIRE_MSG(o.size > 0 && o.size % 8 == 0, "object size %llu",
                          (unsigned long long)o.size);
            REQUIRE_MSG(o.addr >= last_obj_end, "objects overlap or are out of order");
            last_obj_end = o.addr + o.size;
            REQUIRE_MSG(o.kind == 0, "object kind %llu", (unsigned long long)o.kind);
            if (o.type != 0) {
                dtype *t = find_type(d, o.type);
                REQUIRE_MSG(t != NULL, "object %#llx uses type %#llx before its record",
                              (unsigned long long)o.addr, (unsigned long long)o.type);
                REQUIRE_MSG(t->size == o.size, "type %s size %llu, object %llu", t->name,
                              (unsigned long long)t->size, (unsigned long long)o.size);
            }
            GROW(d->objs, d->nobjs);
            d->objs[d->nobjs++] = o;
            break;
        }
        case 2: {
            droot x;
            x.desc = r_str(&r);
            x.ptr = r_uv(&r);
            GROW(d->roots, d->nroots);
            d->roots[d->nroots++] = x;
            break;
        }
        case 3: {
            dtype t;
            t.addr = r_uv(&r);
            t.size = r_uv(&r);
            t.name = r_str(&r);
            t.eface_ptr = r_bool(&r);
            t.fields = r_fields(&r, t.size);
            REQUIRE_MSG(t.addr != 0, "type at address 0");
            if (find_type(d, t.addr) == NULL) { /* duplicates are allowed */
                GROW(d->types, d->ntypes);
                d->types[d->ntypes++] = t;
            }
            break;
        }
        case 4: {
            dgor g;
            memset(&g, 0, sizeof g);
            g.addr = r_uv(&r);
            g.sp = r_uv(&r);
            g.goid = r_uv(&r);
            g.gopc = r_uv(&r);
            g.status = r_uv(&r);
            g.is_system = r_bool(&r);
            g.is_background = r_bool(&r);
            g.waitsince = r_uv(&r);
            g.reason = r_str(&r);
            g.ctxt = r_uv(&r);
            g.m = r_uv(&r);
            g.defers = r_uv(&r);
            g.panics = r_uv(&r);
            /* never 2 (running): hview exits on it */
            REQUIRE_MSG(g.status == 1 || g.status == 3 || g.status == 4,
                          "goroutine %llu status %llu", (unsigned long long)g.goid,
                          (unsigned long long)g.status);
            GROW(d->gs, d->ngs);
            d->gs[d->ngs++] = g;
            curg = &d->gs[d->ngs - 1];
            break;
        }
        case 5: {
            REQUIRE_MSG(curg != NULL, "stack frame not after its goroutine");
            dframe f;
            f.sp = r_uv(&r);
            f.depth = r_uv(&r);
            f.childsp = r_uv(&r);
            f.data = r_bytes(&r, &f.size);
            f.entry = r_uv(&r);
            f.pc = r_uv(&r);
            f.contpc = r_uv(&r);
            f.name = r_str(&r);
            f.fields = r_fields(&r, f.size);
            /* conservative frames list every word as a Ptr (section 11) */
            REQUIRE_MSG(f.fields.n == f.size / 8, "frame %s: %zu fields for %llu bytes",
                        f.name, f.fields.n, (unsigned long long)f.size);
            for (size_t j = 0; j < f.fields.n; j++)
                REQUIRE_MSG(f.fields.f[j].off == 8 * j, "frame %s: field %zu at %llu",
                            f.name, j, (unsigned long long)f.fields.f[j].off);
            REQUIRE_MSG(f.depth == curg->nframes, "frame depth %llu, expected %zu",
                          (unsigned long long)f.depth, curg->nframes);
            if (f.depth == 0) {
                REQUIRE_MSG(f.sp == curg->sp, "frame 0 not at the goroutine's sp");
                REQUIRE_MSG(f.childsp == 0, "frame 0 has a child");
            } else {
                dframe *c = &curg->frames[curg->nframes - 1];
                REQUIRE_MSG(f.childsp == c->sp, "child sp is not the previous frame's");
                REQUIRE_MSG(f.sp == c->sp + c->size, "frames not contiguous");
            }
            REQUIRE_MSG(strlen(f.name) > 0, "frame without a name");
            GROW(curg->frames, curg->nframes);
            curg->frames[curg->nframes++] = f;
            break;
        }
        case 6:
            d->nparams++;
            d->bigendian = r_bool(&r);
            d->ptrsize = r_uv(&r);
            d->hchansize = r_uv(&r);
            d->arena_lo = r_uv(&r);
            d->arena_hi = r_uv(&r);
            d->thechar = r_uv(&r);
            free(r_str(&r));
            d->ncpu = r_uv(&r);
            REQUIRE_MSG(!d->bigendian && d->ptrsize == 8, "params: endian/ptrsize");
            REQUIRE_MSG(d->arena_lo <= d->arena_hi, "arena range");
            break;
        case 7:
        case 11: {
            dfin x;
            x.obj = r_uv(&r);
            x.fn = r_uv(&r);
            x.code = r_uv(&r);
            x.fint = r_uv(&r);
            x.ot = r_uv(&r);
            x.queued = tag == 11;
            GROW(d->fins, d->nfins);
            d->fins[d->nfins++] = x;
            break;
        }
        case 9:
            d->nthreads++;
            r_uv(&r);
            r_uv(&r);
            r_uv(&r);
            break;
        case 10:
            d->nmemstats++;
            for (int i = 0; i < 281; i++)
                d->memstats[i] = r_uv(&r);
            break;
        case 12:
        case 13: {
            dseg s;
            s.addr = r_uv(&r);
            s.data = r_bytes(&r, &s.size);
            s.fields = r_fields(&r, s.size);
            if (tag == 12) {
                d->data = s;
                d->ndata++;
            } else {
                d->bss = s;
                d->nbss++;
            }
            break;
        }
        case 16: {
            /* section 11's order: after memstats, before any sample */
            REQUIRE_MSG(d->nmemstats == 1 && d->nsamples == 0, "memprof bucket out of order");
            dbucket b;
            b.id = r_uv(&r);
            b.size = r_uv(&r);
            b.nstk = r_uv(&r);
            REQUIRE(b.nstk <= 64);
            b.frames = calloc(b.nstk + 1, sizeof *b.frames);
            REQUIRE(b.frames != NULL);
            for (uint64_t k = 0; k < b.nstk; k++) {
                b.frames[k].name = r_str(&r);
                b.frames[k].file = r_str(&r);
                b.frames[k].line = r_uv(&r);
            }
            b.allocs = r_uv(&r);
            b.frees = r_uv(&r);
            GROW(d->buckets, d->nbuckets);
            d->buckets[d->nbuckets++] = b;
            break;
        }
        case 17: {
            REQUIRE_MSG(d->nmemstats == 1, "alloc sample before memstats");
            dsample x;
            x.obj = r_uv(&r);
            x.bucket = r_uv(&r);
            GROW(d->samples, d->nsamples);
            d->samples[d->nsamples++] = x;
            break;
        }
        default:
            ck_abort_msg("unexpected record tag %llu", (unsigned long long)tag);
        }
    }
    REQUIRE_MSG(r.p == r.end, "%zu bytes after the EOF record", (size_t)(r.end - r.p));
    REQUIRE_EQ(d->nparams, 1);
    REQUIRE_EQ(d->ndata, 1);
    REQUIRE_EQ(d->nbss, 1);
    REQUIRE_EQ(d->nmemstats, 1);
    REQUIRE_GE(d->nthreads, 1);
    for (size_t i = 0; i < d->ngs; i++)
        REQUIRE_MSG(d->gs[i].nframes >= 1, "goroutine %llu without frames",
                      (unsigned long long)d->gs[i].goid);
}

static void dump_free(dump *d)
{
    for (size_t i = 0; i < d->ntypes; i++) {
        free(d->types[i].name);
        free(d->types[i].fields.f);
    }
    for (size_t i = 0; i < d->ngs; i++) {
        for (size_t k = 0; k < d->gs[i].nframes; k++) {
            free(d->gs[i].frames[k].name);
            free(d->gs[i].frames[k].fields.f);
        }
        free(d->gs[i].frames);
        free(d->gs[i].reason);
    }
    for (size_t i = 0; i < d->nroots; i++)
        free(d->roots[i].desc);
    free(d->data.fields.f);
    free(d->bss.fields.f);
    free(d->types);
    free(d->objs);
    free(d->gs);
    free(d->roots);
    free(d->fins);
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (uint64_t k = 0; k < d->buckets[i].nstk; k++) {
            free(d->buckets[i].frames[k].name);
            free(d->buckets[i].frames[k].file);
        }
        free(d->buckets[i].frames);
    }
    free(d->buckets);
    free(d->samples);
}

static const dobj *find_obj(const dump *d, uint64_t addr)
{
    for (size_t i = 0; i < d->nobjs; i++)
        if (d->objs[i].addr == addr)
            return &d->objs[i];
    return NULL;
}

/* The object's type name, or NULL when it has none. */
static const char *type_name(dump *d, const dobj *o)
{
    if (o->type == 0)
        return NULL;
    dtype *t = find_type(d, o->type);
    return t != NULL ? t->name : NULL;
}

/* o has an edge at off to the object at target. */
static bool has_edge(dump *d, const dobj *o, uint64_t off, uint64_t target)
{
    dtype *t = find_type(d, o->type);
    return t != NULL && has_ptr_field(&t->fields, off) && word_at(o->data, off) == target;
}

/* Dumps into a memfd and returns its bytes (mmap'd; *len set). */
static uint8_t *take_dump(size_t *len)
{
    int fd = memfd_create("heapdump", 0);
    REQUIRE(fd >= 0);
    REQUIRE_EQ(rt_write_heap_dump(fd), 0);
    off_t n = lseek(fd, 0, SEEK_END);
    REQUIRE(n > 16);
    uint8_t *p = mmap(NULL, (size_t)n, PROT_READ, MAP_PRIVATE, fd, 0);
    REQUIRE(p != MAP_FAILED);
    close(fd);
    *len = (size_t)n;
    return p;
}

/* --------------------------------------------------------- known graph -- */

typedef struct node {
    long id;
    struct node *next;
    char *label; /* noscan */
    long pad;
} node;

#define NNODES 6

/* Roots the graph; read at the end so the compiler keeps it. */
node *volatile graph_head;
void *volatile untyped_root;
void *volatile large_root;

static node *nodes[NNODES];
static char *labels[NNODES];
static void *untyped, *untyped_target, *large, *fin_obj, *rooted_obj;
static void **malloc_root;
static void *held_by_parked;
static rt_chan *park_chan;
static atomic_int fin_runs;

static void finalizer_fn(void *obj)
{
    (void)obj;
    atomic_fetch_add(&fin_runs, 1);
}

static NOINLINE void build_graph(void)
{
    for (int i = NNODES - 1; i >= 0; i--) {
        node *n = rt_new(node);
        n->id = 1000 + i;
        n->next = i + 1 < NNODES ? nodes[i + 1] : NULL;
        n->label = rt_alloc_noscan(24);
        strcpy(n->label, "label");
        nodes[i] = n;
        labels[i] = n->label;
    }
    graph_head = nodes[0];
    /* an untyped 64-byte object with one pointer, in its third word */
    untyped_target = rt_alloc(16);
    untyped = rt_alloc(64);
    ((void **)untyped)[2] = untyped_target;
    untyped_root = untyped;
    /* a large object with a pointer deep inside */
    large = rt_alloc(100000);
    ((void **)large)[50000 / 8] = nodes[3];
    large_root = large;
    /* an object with a finalizer (kept alive by a global) */
    fin_obj = rt_alloc(32);
    rt_set_finalizer(fin_obj, finalizer_fn);
    /* a registered root in malloc'd memory */
    rooted_obj = rt_alloc(40);
    malloc_root = calloc(4, sizeof(void *));
    malloc_root[1] = rooted_obj;
    rt_gc_add_root(malloc_root, 4 * sizeof(void *));
}

/* Parks holding an object that only its stack references. */
static NOINLINE void parked_holder(void *arg)
{
    (void)arg;
    void *volatile mine = rt_new(node);
    held_by_parked = mine;
    rt_chan_recv(park_chan, NULL);
    ((node *)mine)->id = 1;
}

/* Blocks in a system call (a read of an empty pipe) holding an object. */
static int sys_pipe[2];
static void *held_by_syscall;
static atomic_int in_syscall;

static NOINLINE void syscall_holder(void *arg)
{
    (void)arg;
    void *volatile mine = rt_alloc(24);
    held_by_syscall = mine;
    char c;
    atomic_store(&in_syscall, 1);
    ssize_t n = RT_BLOCKING(read(sys_pipe[0], &c, 1));
    REQUIRE_EQ(n, 1);
    ((char *)mine)[0] = c;
}

static dgor *find_g_with_frame(dump *d, const char *fn)
{
    for (size_t i = 0; i < d->ngs; i++)
        for (size_t k = 0; k < d->gs[i].nframes; k++)
            if (strcmp(d->gs[i].frames[k].name, fn) == 0)
                return &d->gs[i];
    return NULL;
}

/* Whether some frame of g lists a pointer field holding target. */
static bool g_refers_to(const dgor *g, uint64_t target)
{
    for (size_t k = 0; k < g->nframes; k++) {
        const dframe *f = &g->frames[k];
        for (size_t j = 0; j < f->fields.n; j++)
            if (word_at(f->data, f->fields.f[j].off) == target)
                return true;
    }
    return false;
}

static bool seg_refers_to(const dseg *s, uint64_t target)
{
    for (size_t j = 0; j < s->fields.n; j++)
        if (word_at(s->data, s->fields.f[j].off) == target)
            return true;
    return false;
}

RT_TEST(test_known_graph)
{
    park_chan = rt_chan_make(0, 0);
    build_graph();
    rt_go(parked_holder, NULL);
    WAIT_UNTIL(held_by_parked != NULL);
    REQUIRE_EQ(pipe(sys_pipe), 0);
    int64_t sysg = rt_go(syscall_holder, NULL);
    WAIT_UNTIL(atomic_load(&in_syscall));
    rt_timer *timer = rt_timer_new(3600 * RT_SECOND); /* only its P's heap holds it */
    rt_sleep(10 * RT_MILLISECOND); /* let them park and block */

    size_t len;
    uint8_t *buf = take_dump(&len);
    dump d;
    parse(buf, len, &d);

    /* typed nodes: type "node", next and label edges */
    for (int i = 0; i < NNODES; i++) {
        const dobj *o = find_obj(&d, (uintptr_t)nodes[i]);
        REQUIRE_MSG(o != NULL, "node %d missing", i);
        ck_assert_str_eq(type_name(&d, o), "node");
        REQUIRE_EQ(word_at(o->data, offsetof(node, id)), 1000 + i);
        if (i + 1 < NNODES)
            REQUIRE(has_edge(&d, o, offsetof(node, next), (uintptr_t)nodes[i + 1]));
        REQUIRE(has_edge(&d, o, offsetof(node, label), (uintptr_t)labels[i]));
        REQUIRE(!has_ptr_field(&find_type(&d, o->type)->fields, offsetof(node, id)));
        const dobj *l = find_obj(&d, (uintptr_t)labels[i]);
        REQUIRE_MSG(l != NULL, "label %d missing", i);
        REQUIRE_EQ(l->type, 0); /* noscan: no type, "noptrN" in the readers */
        ck_assert_str_eq((const char *)l->data, "label");
    }
    /* the untyped object: "conservative64" with its one pointer */
    const dobj *u = find_obj(&d, (uintptr_t)untyped);
    REQUIRE(u != NULL);
    ck_assert_str_eq(type_name(&d, u), "conservative64");
    REQUIRE(has_edge(&d, u, 16, (uintptr_t)untyped_target));
    REQUIRE(find_obj(&d, (uintptr_t)untyped_target) != NULL);
    /* the large object */
    const dobj *lg = find_obj(&d, (uintptr_t)large);
    REQUIRE(lg != NULL);
    REQUIRE_GE(lg->size, 100000);
    REQUIRE(has_edge(&d, lg, 50000, (uintptr_t)nodes[3]));
    /* globals: graph_head in the data or bss record */
    REQUIRE(seg_refers_to(&d.data, (uintptr_t)graph_head) ||
            seg_refers_to(&d.bss, (uintptr_t)graph_head));
    /* the parked goroutine holds its object on its stack */
    dgor *pg = find_g_with_frame(&d, "parked_holder");
    REQUIRE_MSG(pg != NULL, "no goroutine with a parked_holder frame");
    REQUIRE_EQ(pg->status, 4);
    ck_assert_str_eq(pg->reason, "chan receive");
    REQUIRE(g_refers_to(pg, (uintptr_t)held_by_parked));
    const dobj *h = find_obj(&d, (uintptr_t)held_by_parked);
    REQUIRE(h != NULL);
    ck_assert_str_eq(type_name(&d, h), "node");
    /* the goroutine in a system call: its stack above syscallsp as one
     * frame, which holds its object */
    dgor *sg = NULL;
    for (size_t i = 0; i < d.ngs; i++)
        if (d.gs[i].goid == (uint64_t)sysg)
            sg = &d.gs[i];
    REQUIRE(sg != NULL);
    REQUIRE_EQ(sg->status, 3);
    REQUIRE_EQ(sg->nframes, 1);
    ck_assert_str_eq(sg->frames[0].name, "unknown function");
    REQUIRE(g_refers_to(sg, (uintptr_t)held_by_syscall));
    /* the dumping goroutine */
    dgor *me = find_g_with_frame(&d, "test_known_graph_body");
    REQUIRE_MSG(me != NULL, "the dumping goroutine's frames lack its caller");
    ck_assert_str_eq(me->reason, "dumping heap");
    REQUIRE_EQ(me->goid, 1);
    /* the registered root and the finalizer */
    bool rooted = false;
    for (size_t i = 0; i < d.nroots; i++)
        rooted |= d.roots[i].ptr == (uintptr_t)rooted_obj &&
                  strcmp(d.roots[i].desc, "rt_gc_add_root") == 0;
    REQUIRE(rooted);
    const dobj *tobj = find_obj(&d, (uintptr_t)timer);
    REQUIRE(tobj != NULL);
    bool timed = false;
    for (size_t i = 0; i < d.nroots; i++)
        timed |= strcmp(d.roots[i].desc, "timer") == 0 && d.roots[i].ptr >= tobj->addr &&
                 d.roots[i].ptr < tobj->addr + tobj->size;
    REQUIRE(timed);
    bool fin = false;
    for (size_t i = 0; i < d.nfins; i++)
        fin |= d.fins[i].obj == (uintptr_t)fin_obj && d.fins[i].fn == (uintptr_t)finalizer_fn &&
               !d.fins[i].queued;
    REQUIRE(fin);
    /* memstats: alloc and heap_objects */
    REQUIRE_GT(d.memstats[0], 0);
    REQUIRE_GT(d.memstats[11], 0);

    dump_free(&d);
    munmap(buf, len);
    rt_chan_close(park_chan);
    rt_timer_stop(timer);
    REQUIRE_EQ(write(sys_pipe[1], "x", 1), 1);
    rt_gc_remove_root(malloc_root);
    free(malloc_root);
    REQUIRE(graph_head != NULL && untyped_root != NULL && large_root != NULL);
}

/* ------------------------------------------------------------ memprof -- */

#define NPROFILED 1000

static node *volatile profiled_head;

static NOINLINE void alloc_profiled(void)
{
    node *head = NULL;
    for (int i = 0; i < NPROFILED; i++) {
        node *n = rt_new(node);
        n->id = i;
        n->next = head;
        head = n;
    }
    profiled_head = head;
}

static const dbucket *find_bucket(const dump *d, uint64_t id)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        if (d->buckets[i].id == id)
            return &d->buckets[i];
    return NULL;
}

/* Tags 16 and 17 (TRACE_FORMATS.md section 11): with every allocation
 * sampled, each node of a list has an alloc sample whose bucket names the
 * allocating function, its file and line, and counts the nodes (published
 * by the collection after them, as pprof's heap profile).  The dump had
 * none (an outside tester's find). */
RT_TEST(test_memprof_records)
{
    rt_set_memprofile_rate(1);
    alloc_profiled();
    rt_gc(); /* publishes the allocations (heap profile, section 6) */

    size_t len;
    uint8_t *buf = take_dump(&len);
    dump d;
    parse(buf, len, &d);
    rt_set_memprofile_rate(512 * 1024);

    REQUIRE_GE(d.nsamples, NPROFILED);
    for (size_t i = 0; i < d.nsamples; i++) {
        REQUIRE_MSG(find_bucket(&d, d.samples[i].bucket) != NULL,
                    "sample of %#llx: bucket %#llx not in the dump",
                    (unsigned long long)d.samples[i].obj, (unsigned long long)d.samples[i].bucket);
        REQUIRE_MSG(find_obj(&d, d.samples[i].obj) != NULL, "sample of %#llx: no such object",
                    (unsigned long long)d.samples[i].obj);
    }
    int seen = 0;
    const dbucket *nb = NULL;
    for (node *n = profiled_head; n != NULL; n = n->next) {
        const dsample *x = NULL;
        for (size_t i = 0; i < d.nsamples && x == NULL; i++)
            if (d.samples[i].obj == (uintptr_t)n)
                x = &d.samples[i];
        REQUIRE_MSG(x != NULL, "node %ld has no alloc sample", n->id);
        const dbucket *b = find_bucket(&d, x->bucket);
        REQUIRE(nb == NULL || b == nb); /* one allocation site */
        nb = b;
        seen++;
    }
    REQUIRE_EQ(seen, NPROFILED);
    REQUIRE_EQ(nb->size, find_obj(&d, (uintptr_t)profiled_head)->size);
    REQUIRE_GE(nb->nstk, 1);
    ck_assert_str_eq(nb->frames[0].name, "alloc_profiled");
    size_t fl = strlen(nb->frames[0].file);
    REQUIRE_MSG(fl >= 15 && strcmp(nb->frames[0].file + fl - 15, "test_heapdump.c") == 0,
                "file '%s'", nb->frames[0].file);
    REQUIRE_GT(nb->frames[0].line, 0);
    bool caller = false;
    for (uint64_t k = 1; k < nb->nstk; k++)
        caller |= strstr(nb->frames[k].name, "test_memprof_records") != NULL;
    REQUIRE_MSG(caller, "the bucket's stack lacks the test's frame");
    REQUIRE_GE(nb->allocs, NPROFILED);
    REQUIRE_GE(nb->allocs - nb->frees, NPROFILED);

    dump_free(&d);
    munmap(buf, len);
    REQUIRE(profiled_head != NULL);
}

/* ------------------------------------------------------------- churn -- */

static atomic_int churn_stop;

static void churner(void *arg)
{
    rt_chan *done = arg;
    node *keep = NULL;
    while (!atomic_load(&churn_stop)) {
        for (int i = 0; i < 200; i++) {
            node *n = rt_new(node);
            n->next = i % 16 ? keep : NULL;
            n->label = rt_alloc_noscan(40);
            keep = n;
        }
        rt_yield();
    }
    rt_chan_send(done, NULL);
}

/* Dumps while other goroutines allocate and collections run: each dump
 * parses and satisfies the invariants. */
RT_TEST(test_dump_while_allocating)
{
    enum { NCHURN = 4 };
    rt_chan *done = rt_chan_make(0, NCHURN);
    atomic_store(&churn_stop, 0);
    for (int i = 0; i < NCHURN; i++)
        rt_go(churner, done);
    for (int k = 0; k < 5; k++) {
        rt_sleep(5 * RT_MILLISECOND);
        size_t len;
        uint8_t *buf = take_dump(&len);
        dump d;
        parse(buf, len, &d);
        REQUIRE_GE(d.ngs, NCHURN + 1);
        dump_free(&d);
        munmap(buf, len);
        if (k == 2)
            rt_gc();
    }
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < NCHURN; i++)
        rt_chan_recv(done, NULL);
}

/* ----------------------------------------------------------- running -- */

static atomic_int spin_stop, spinning;
static void *volatile spin_obj;

/* C code with no scheduling point: the world stops it with a signal. */
static NOINLINE void spinner(void *arg)
{
    (void)arg;
    node *mine = rt_new(node);
    spin_obj = mine;
    atomic_store(&spinning, 1);
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        mine->id++;
}

/* A goroutine stopped mid-loop: runnable (preempted), frames walked from the
 * interrupted registers, its object on its stack or in an otherroot for
 * its registers. */
RT_TEST(test_running_goroutine)
{
    if (rt_maxprocs(0) < 2)
        rt_maxprocs(2); /* the spinner never yields its P */
    atomic_store(&spin_stop, 0);
    int64_t id = rt_go(spinner, NULL);
    WAIT_UNTIL(atomic_load(&spinning));
    size_t len;
    uint8_t *buf = take_dump(&len);
    atomic_store(&spin_stop, 1);
    dump d;
    parse(buf, len, &d);
    dgor *g = NULL;
    for (size_t i = 0; i < d.ngs; i++)
        if (d.gs[i].goid == (uint64_t)id)
            g = &d.gs[i];
    REQUIRE(g != NULL);
    REQUIRE_EQ(g->status, 1);
    bool named = false;
    for (size_t k = 0; k < g->nframes; k++)
        named |= strcmp(g->frames[k].name, "spinner") == 0;
    REQUIRE_MSG(named, "no spinner frame in the running goroutine's %zu frames (first %s)",
                g->nframes, g->frames[0].name);
    char desc[64];
    snprintf(desc, sizeof desc, "registers of goroutine %lld", (long long)id);
    bool held = g_refers_to(g, (uintptr_t)spin_obj);
    for (size_t i = 0; i < d.nroots; i++)
        held |= strcmp(d.roots[i].desc, desc) == 0 && d.roots[i].ptr == (uintptr_t)spin_obj;
    REQUIRE(held);
    REQUIRE(find_obj(&d, (uintptr_t)spin_obj) != NULL);
    dump_free(&d);
    munmap(buf, len);
}

/* --------------------------------------------------------- other paths -- */

RT_TEST(test_errors)
{
    REQUIRE_EQ(rt_write_heap_dump(-1), -EBADF);
    int fd = open("/dev/null", O_RDONLY);
    REQUIRE(fd >= 0);
    REQUIRE_EQ(rt_write_heap_dump(fd), -EBADF); /* write(2) fails */
    close(fd);
}

typedef struct thread_result {
    atomic_int done;
    int rc;        /* rt_write_heap_dump's */
    int map_errno; /* mapping the dump back */
    size_t len;
    uint8_t *buf;
} thread_result;

static void *thread_dump(void *arg)
{
    thread_result *t = arg;
    int fd = memfd_create("heapdump-thread", 0);
    if (fd < 0) {
        t->rc = -errno;
    } else {
        t->rc = rt_write_heap_dump(fd);
        off_t n = lseek(fd, 0, SEEK_END);
        t->len = n > 0 ? (size_t)n : 0;
        t->buf = t->len > 0 ? mmap(NULL, t->len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (t->buf == MAP_FAILED)
            t->map_errno = errno;
        close(fd);
    }
    atomic_store(&t->done, 1);
    return NULL;
}

/* A thread outside the scheduler: a runtime goroutine dumps for it. */
RT_TEST(test_from_foreign_thread)
{
    pthread_t th;
    thread_result t;
    memset(&t, 0, sizeof t);
    REQUIRE_EQ(pthread_create(&th, NULL, thread_dump, &t), 0);
    WAIT_UNTIL(atomic_load(&t.done)); /* yielding: a join would block the
                                       * thread, and the world could not stop */
    REQUIRE_EQ(pthread_join(th, NULL), 0);
    REQUIRE_EQ(t.rc, 0);
    REQUIRE_MSG(t.buf != MAP_FAILED, "mapping the %zu-byte dump: errno %d", t.len, t.map_errno);
    dump d;
    parse(t.buf, t.len, &d);
    dump_free(&d);
    munmap(t.buf, t.len);
}

int main(int argc, char **argv)
{
    Suite *s = suite_create("heapdump");
    TCase *tc = tcase_create("heapdump");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_known_graph);
    tcase_add_test(tc, test_dump_while_allocating);
    tcase_add_test(tc, test_running_goroutine);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_memprof_records);
    tcase_add_test(tc, test_from_foreign_thread);
    suite_add_tcase(s, tc);
    return harness_main(argc, argv, s, NULL);
}
