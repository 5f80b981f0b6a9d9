/*
 * trace/allocfreetrace.c -- DEBUG=allocfreetrace=1: a record on stderr for
 * every allocation, every object the sweeper frees, and every collection
 * (TRACE_FORMATS.md §4, Go 1.3 forms; Part A's mapping).
 *
 *   tracealloc(0xc000102030, 0x20, single object of node)   rt_new(node)
 *   tracealloc(0xc000104000, 0x80, array of long)           rt_new_array(long, 16)
 *   tracealloc(0xc000106000, 0x60, channel)                 rt_chan_make
 *   tracealloc(0xc000108000, 0x70, single object)           rt_alloc, rt_alloc_noscan
 *   goroutine 1 [running]:
 *   gc_alloc_slow(...)                                        the allocator,
 *   \t/src/grt/gc/malloc.c:391 +0x332 fp=0x7f...              as Go's mallocgc
 *   ...                                                      frames at level 2
 *   <blank line>
 *
 *   tracefree(0xc000102030, 0x20)    + the sweeper's header and frames, blank line
 *
 *   tracegc()                        at the start of each collection, the
 *   <blank line, header, frames>     world stopped: every goroutine as in
 *   ...                              tracebackothers at level 2 (system
 *   end tracegc                      goroutines included), the collecting
 *   <blank line>                     one first, as [garbage collection]
 *
 * Each record's frames start at the tracer's caller -- the allocator, the
 * sweeper, the collector -- as Go's start at getcallerpc: the tracer's own
 * frames (rt__tracealloc and what it calls) are left out by their CFA.
 *
 * The size printed is the rounded size the object occupies (its size
 * class, or whole pages above 32 KiB).  Every allocation is traced: grt has
 * no tiny-allocation exception.
 *
 * Who calls, and what they may not do
 *   - gc_alloc (gc/malloc.c) calls rt__tracealloc after the allocation's
 *     no-stop region ended and before the collection its slow path may
 *     trigger, so the record of an allocation comes before the tracegc of
 *     the cycle it started.
 *   - rt__sweep_span (gc/sweep.c) calls rt__tracefree for each dead object
 *     it finds, inside the sweeper's no-stop region (the span is off every
 *     list; nothing here touches it).
 *   - the collector (gc/collector.c) calls rt__tracegc once the world is
 *     stopped, so the goroutines it walks stay parked during the walk.
 *   The fast path when the tracer is off is the callers' test of
 *   rt__debug.allocfreetrace: one predictable branch on a global.
 *
 * One record at a time, each written whole
 *   A global lock is held for the whole record (Go's `trace` lock), and the
 *   record is assembled in a capture buffer (print.c's RT_FD_CAPTURE) and
 *   written with one write(2), so records of different threads never
 *   interleave, with each other or with other runtime output.  The lock is
 *   taken inside a no-stop region of the M: the world is never stopped
 *   while a thread holds it, so the collector's tracegc (world stopped)
 *   cannot wait for a stopped holder, and a sweeper in its own no-stop
 *   region never waits for one either.  Lock order: the shared cache's lock
 *   (gc/malloc.c; threads without a P sweep under it, and the collector
 *   holds it across the stopped world), then this one; nothing is taken
 *   while this one is held.
 *
 * Nothing here allocates from the GC heap (the tracer would recurse and
 * the sweeper would deadlock) or with malloc (the world may be stopped
 * with a stopped thread inside malloc): the capture buffer is mapped with
 * mmap and grown with mremap, the tracebacks use the stack and symtab.c's
 * caches.
 * A buffer that cannot grow is written out as it is and the record
 * continues in a fresh one (whole lines still, only no longer one write).
 */
#include <string.h>
#include <sys/mman.h>

#include "trace/trace.h"

#include "gc/gc.h"
#include "sched/sched.h"

static rt__lock trace_lock;

/* The record being assembled; under trace_lock. */
static struct {
    char *p;
    size_t n, cap;
} rec;

static void rec_sink(const char *s, size_t n)
{
    if (rec.n + n > rec.cap) {
        size_t want = rec.cap ? rec.cap : (size_t)64 << 10;
        while (want < rec.n + n)
            want *= 2;
        void *p = rec.p == NULL
                      ? mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0)
                      : mremap(rec.p, rec.cap, want, MREMAP_MAYMOVE);
        if (p == MAP_FAILED) {
            /* keep going, in pieces */
            rt__write_whole(2, rec.p, rec.n);
            rec.n = 0;
            if (n > rec.cap) {
                rt__write_whole(2, s, n);
                return;
            }
        } else {
            rec.p = p;
            rec.cap = want;
        }
    }
    memcpy(rec.p + rec.n, s, n);
    rec.n += n;
}

typedef struct record {
    rt_m *m;
    rt__buf b;
} record;

static void record_begin(record *r)
{
    r->m = rt__getm();
    if (r->m != NULL)
        rt__nostop_begin(r->m);
    rt__lock_acquire(&trace_lock);
    rt__capture_sink = rec_sink;
    rec.n = 0;
    rt__buf_init(&r->b, RT_FD_CAPTURE);
}

static void record_end(record *r)
{
    rt__buf_flush(&r->b);
    rt__write_whole(2, rec.p, rec.n);
    rec.n = 0;
    rt__lock_release(&trace_lock);
    if (r->m != NULL)
        rt__nostop_end(r->m);
}

/* The header and frames (level 2) of whatever runs this code: a
 * goroutine, an M's scheduler context (goroutine 0 [idle], as Go prints
 * its g0), or a thread the runtime did not create (the same header).
 * The frames start above skip_cfa, the tracer entry's own CFA: Go's
 * tracealloc and tracefree start at their caller (mallocgc, the sweeper),
 * not at themselves. */
static void self_traceback(rt__buf *b, uintptr_t skip_cfa)
{
    rt_g *gp = rt__getg();
    if (gp == NULL) {
        rt_m *mp = rt__getm();
        if (mp != NULL)
            gp = &mp->g0;
    }
    if (gp != NULL)
        rt__print_goroutine_header(b, gp);
    else
        rt__buf_puts(b, "goroutine 0 [idle]:\n");
    rt__print_traceback_above(b, skip_cfa, 2);
}

static const char *const kind_names[] = {
    [RT_TRACE_SINGLE] = "single object",
    [RT_TRACE_ARRAY] = "array",
    [RT_TRACE_CHAN] = "channel",
};

/* The size an n-byte request occupies. */
static size_t rounded(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= RT_GC_MAX_SMALL)
        return rt__sizeclass_get(rt__sizeclass_of(n))->size;
    return (n + RT_GC_PAGE_SIZE - 1) & ~(RT_GC_PAGE_SIZE - 1);
}

__attribute__((noinline)) void rt__tracealloc(void *p, size_t n, const char *type, int kind)
{
    record r;
    record_begin(&r);
    const char *k = kind >= 0 && kind <= RT_TRACE_CHAN ? kind_names[kind] : "single object";
    if (type != NULL)
        rt__buf_printf(&r.b, "tracealloc(%p, 0x%zx, %s of %s)\n", p, rounded(n), k, type);
    else
        rt__buf_printf(&r.b, "tracealloc(%p, 0x%zx, %s)\n", p, rounded(n), k);
    self_traceback(&r.b, (uintptr_t)__builtin_dwarf_cfa());
    rt__buf_puts(&r.b, "\n");
    record_end(&r);
    __asm__ volatile("" ::: "memory"); /* no tail call: the CFA stays ours */
}

__attribute__((noinline)) void rt__tracefree(void *p, size_t size)
{
    record r;
    record_begin(&r);
    rt__buf_printf(&r.b, "tracefree(%p, 0x%zx)\n", p, size);
    self_traceback(&r.b, (uintptr_t)__builtin_dwarf_cfa());
    rt__buf_puts(&r.b, "\n");
    record_end(&r);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void rt__tracegc(void)
{
    record r;
    record_begin(&r);
    rt__buf_puts(&r.b, "tracegc()\n\n");
    /* The collecting goroutine as Go shows its own: waiting for "garbage
     * collection" (Go 1.3's runtime.gc parks it so before it collects),
     * its frames from the collector up. */
    rt__print_all_goroutines_above(&r.b, (uintptr_t)__builtin_dwarf_cfa(),
                                   "garbage collection", 2);
    rt__buf_puts(&r.b, "end tracegc\n\n");
    record_end(&r);
    __asm__ volatile("" ::: "memory");
}
