/*
 * tests/gc/gcapi.h -- helpers shared by the black-box tests of the Memory
 * API (test_api_*.c): hiding pointers from the conservative scan, stack
 * scrubbing, running code on a goroutine of its own, self-checking witness
 * objects with finalizers, and COLLECT_UNTIL (collect until a condition
 * holds, a few rounds at most, since conservative scanning may keep an
 * object for a cycle or two).  Only rt.h, the harness and libc.
 */
#ifndef GRT_TESTS_GCAPI_H
#define GRT_TESTS_GCAPI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"

#define NOINLINE __attribute__((noinline))

/* ------------------------------------------------------------ helpers -- */

/* ~p is never a heap address: a copy kept this way retains nothing. */
static inline uintptr_t hide(const void *p) { return ~(uintptr_t)p; }
static inline void *unhide(uintptr_t h) { return (void *)~h; }

/* Overwrites a few KiB below the caller's frame, where stale pointers from
 * earlier calls would otherwise stay visible to the conservative scan. */
NOINLINE static __attribute__((unused)) void scrub_stack(void)
{
    volatile uintptr_t pad[1024];
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++)
        pad[i] = 0;
}

/* Runs fn(arg) on a goroutine of its own and waits for it to exit. */
typedef struct {
    void (*fn)(void *);
    void *arg;
    rt_chan *done;
} helper;

static __attribute__((unused)) void helper_main(void *p)
{
    helper *h = p;
    h->fn(h->arg);
    scrub_stack();
    int one = 1;
    rt_chan_send(h->done, &one);
}

static __attribute__((unused)) void on_goroutine(void (*fn)(void *), void *arg)
{
    helper h = {fn, arg, rt_chan_make(sizeof(int), 1)};
    REQUIRE_GT(rt_go(helper_main, &h), 0);
    REQUIRE(rt_chan_recv(h.done, NULL));
}

/* Witness objects: word 0 is MAGIC | id, word i is a pattern of (id, i);
 * no word looks like a heap address.  Ids index the finalizer records. */
#define MAGIC  0xF1A1000000000000ull
#define MAGIC2 0xB0B0000000000000ull
enum { NIDS = 64 };
static _Atomic int fin_runs[NIDS];
static _Atomic int fin_intact[NIDS];
static _Atomic uintptr_t fin_arg[NIDS]; /* hidden */
static _Atomic int64_t fin_goid[NIDS];

static __attribute__((unused)) int runs(unsigned id) { return atomic_load(&fin_runs[id]); }

static __attribute__((unused)) uint64_t pat(unsigned id, size_t i)
{
    return i == 0 ? MAGIC | id : MAGIC2 ^ ((uint64_t)id << 32) ^ i;
}

static __attribute__((unused)) bool intact(const void *p, size_t size, unsigned id)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < size / 8; i++)
        if (w[i] != pat(id, i))
            return false;
    return true;
}

static __attribute__((unused)) void on_final(void *obj)
{
    uint64_t w0 = *(uint64_t *)obj;
    REQUIRE_MSG((w0 & ~(uint64_t)0xffff) == MAGIC,
                "finalizer got %p whose word 0 is %#llx", obj,
                (unsigned long long)w0);
    unsigned id = (unsigned)(w0 & 0xffff);
    REQUIRE_LT(id, NIDS);
    atomic_store(&fin_arg[id], hide(obj));
    atomic_store(&fin_goid[id], rt_goid());
    /* payload size is not known here; 64 bytes are always there */
    atomic_store(&fin_intact[id], intact(obj, 64, id));
    atomic_fetch_add(&fin_runs[id], 1);
}

/* A scanned object of size bytes (>= 64) with the pattern and a finalizer. */
NOINLINE static __attribute__((unused)) void *witness(size_t size, unsigned id)
{
    uint64_t *p = rt_alloc(size);
    REQUIRE(p != NULL);
    for (size_t i = 0; i < size / 8; i++)
        p[i] = pat(id, i);
    rt_set_finalizer(p, on_final);
    return p;
}

/* The same without pointers. */
NOINLINE static __attribute__((unused)) void *witness_noscan(size_t size, unsigned id)
{
    uint64_t *p = rt_alloc_noscan(size);
    REQUIRE(p != NULL);
    for (size_t i = 0; i < size / 8; i++)
        p[i] = pat(id, i);
    rt_set_finalizer(p, on_final);
    return p;
}

/* Garbage of assorted sizes, written, so that an object freed by mistake
 * is handed out again and overwritten. */
NOINLINE static __attribute__((unused)) void churn(void)
{
    static const size_t sizes[] = {16, 48, 64, 128, 1024, 4096, 40000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int i = 0; i < 400; i++) {
            unsigned char *p = rt_alloc(sizes[k]);
            memset(p, 0x5a, sizes[k]);
        }
}

/* A few rounds of churn and collection; finalizers get time to run. */
static __attribute__((unused)) void collect_rounds(int n)
{
    for (int i = 0; i < n; i++) {
        churn();
        scrub_stack();
        rt_gc();
        rt_sleep(RT_MILLISECOND);
    }
}

/* Collects until cond holds; fails after about 400 rounds. */
#define COLLECT_UNTIL(cond)                                                   \
    do {                                                                      \
        int r_ = 0;                                                           \
        for (; r_ < 400 && !(cond); r_++) {                                   \
            scrub_stack();                                                    \
            rt_gc();                                                          \
            rt_sleep(RT_MILLISECOND);                                         \
        }                                                                     \
        REQUIRE_MSG(cond, "%s:%d: not collected after %d cycles: %s",         \
                    __FILE__, __LINE__, r_, #cond);                           \
    } while (0)

#endif /* GRT_TESTS_GCAPI_H */
