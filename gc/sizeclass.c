/*
 * gc/sizeclass.c -- the size classes of small objects (<= 32 KiB).
 *
 * Built at start-up by the construction gc/gc.h describes (Go's
 * mksizeclasses), into two lookup tables: one entry per 8 bytes up to
 * 1 KiB, one per 128 bytes above, so rt__sizeclass_of is one shift and
 * one load.  Building at start-up instead of shipping a generated table
 * keeps the rule in one readable place; it costs a few microseconds once.
 *
 * Invariants (tests/gc/test_sizeclass.c checks them for every size):
 *   - sizes strictly increase and are multiples of 8 (16 from 32 bytes up);
 *   - every span's tail waste is at most 1/8 of the span;
 *   - rt__sizeclass_of(n) is the smallest class with size >= n.
 */
#include <pthread.h>

#include "gc/gc.h"

static rt__sizeclass classes[RT_GC_MAX_CLASSES];
static int nclasses;
uint8_t rt__class8[1024 / 8 + 1];                        /* n <= 1024: (n+7)/8 */
uint8_t rt__class128[(RT_GC_MAX_SMALL - 1024) / 128 + 1]; /* above: (n-1024+127)/128 */
#define class8 rt__class8
#define class128 rt__class128
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The smallest page count whose tail waste is at most 1/8 of the span. */
static uint32_t span_pages(uint32_t size)
{
    for (uint32_t np = 1;; np++) {
        size_t bytes = np * RT_GC_PAGE_SIZE;
        if (bytes >= size && bytes % size <= bytes / 8)
            return np;
    }
}

static void build(void)
{
    int n = 0;
    uint32_t align = 8;
    for (uint32_t size = 8; size <= RT_GC_MAX_SMALL; size += align) {
        if ((size & (size - 1)) == 0) { /* a power of two: widen the step */
            if (size >= 2048)
                align = 256;
            else if (size >= 128)
                align = size / 8;
            else if (size >= 32)
                align = 16;
        }
        uint32_t np = span_pages(size);
        uint32_t objs = (uint32_t)(np * RT_GC_PAGE_SIZE / size);
        if (n > 0 && classes[n].npages == np && classes[n].nobjs == objs) {
            classes[n].size = size; /* same span shape: keep the larger */
            continue;
        }
        if (++n >= RT_GC_MAX_CLASSES)
            rt__throw("sizeclass: too many classes");
        classes[n] = (rt__sizeclass){.size = size, .npages = np, .nobjs = objs};
    }
    nclasses = n;
    int c = 1;
    for (size_t i = 0; i < sizeof class8; i++) {
        while ((size_t)classes[c].size < i * 8)
            c++;
        class8[i] = (uint8_t)c;
    }
    for (size_t i = 0; i < sizeof class128; i++) {
        size_t sz = 1024 + i * 128;
        while ((size_t)classes[c].size < sz)
            c++;
        class128[i] = (uint8_t)c;
    }
}

void rt__sizeclass_init(void)
{
    pthread_once(&once, build);
}

int rt__sizeclass_count(void)
{
    return nclasses;
}

const rt__sizeclass *rt__sizeclass_get(int cls)
{
    return &classes[cls];
}


