/*
 * tests/pprof/test_memprof.c -- heap sampling and the heap / allocs
 * profiles, read back by `go tool pprof`.
 *
 *   - at the default rate (512 KiB), a big allocation site (1 MiB objects,
 *     kept) and a small one (256-byte garbage): -sample_index=alloc_space
 *     names the big site first and the total is within 15 % of the bytes
 *     allocated; after a collection inuse_space shows the big site's bytes
 *     (+- 15 %) and the small site's freed;
 *   - at rate 1 every allocation counts exactly: 1000 allocated, 500 kept;
 *   - publication (Go's mprof cycles): allocations show once a collection
 *     has completed after them;
 *   - the allocs profile defaults to alloc_space.
 */
#include <stdatomic.h>

#include "pprof_test.h"

/* runtime/symtab.c: lookups that missed its cache and read libdw */
extern _Atomic uint64_t rt__symtab_misses;

#define NOINLINE __attribute__((noinline))
#define MiB (1024.0 * 1024.0)

static void *volatile big[100]; /* volatile: roots the compiler must keep */
static void *volatile kept[1000];
static volatile uintptr_t sink;

NOINLINE static void alloc_big(void)
{
    for (int i = 0; i < 100; i++)
        big[i] = rt_alloc_noscan(1 << 20);
}

NOINLINE static void alloc_small(void)
{
    for (int i = 0; i < 160 * 1024; i++)
        sink += (uintptr_t)rt_alloc(256);
}

NOINLINE static void scrub_stack(void)
{
    volatile uintptr_t pad[2048];
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++)
        pad[i] = 0;
}

typedef struct job {
    void (*fn)(void);
    rt_chan *done;
} job;

static void job_main(void *p)
{
    job *j = p;
    j->fn();
    scrub_stack();
    rt_chan_send(j->done, NULL);
}

/* Runs fn on a goroutine of its own (its stack is not scanned once it
 * exits: no stale pointers keep garbage alive). */
static void on_goroutine(void (*fn)(void))
{
    job j = {fn, rt_chan_make(0, 1)};
    REQUIRE_GT(rt_go(job_main, &j), 0);
    REQUIRE(rt_chan_recv(j.done, NULL));
}

static void write_profile(const char *name, const char *file, int debug)
{
    int fd = pp_create(file);
    REQUIRE_EQ(rt_pprof_write(name, fd, debug), 0);
    close(fd);
}

RT_TEST(test_default_rate_sites)
{
    on_goroutine(alloc_big);
    on_goroutine(alloc_small);
    rt_gc();
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("heap.pb.gz"));
    write_profile("heap", file, 0);

    char *top = pp_tool("-top -unit=B -sample_index=alloc_space %s", file);
    char first[256];
    pp_first(top, first, sizeof first);
    REQUIRE_MSG(strncmp(first, "alloc_big", 9) == 0, "first: %s\n%s", first, top);
    double truth = 100 * MiB + 160 * 1024 * 256.0, total = pp_total(top);
    REQUIRE_MSG(total > truth * 0.85 && total < truth * 1.15,
                "alloc_space total %.0f, truth %.0f:\n%s", total, truth, top);
    double f, c;
    REQUIRE_MSG(pp_row(top, "alloc_small", &f, &c) && c > 160 * 1024 * 256.0 * 0.5 &&
                    c < 160 * 1024 * 256.0 * 1.5,
                "alloc_small alloc_space %.0f:\n%s", c, top);
    fprintf(stderr, "pprof heap: alloc_space total %.1f MiB for %.1f MiB allocated (%+.1f %%)\n",
            total / MiB, truth / MiB, (total / truth - 1) * 100);
    free(top);

    top = pp_tool("-top -unit=B -sample_index=inuse_space %s", file);
    REQUIRE_MSG(pp_row(top, "alloc_big", &f, &c) && c > 100 * MiB * 0.85 &&
                    c < 100 * MiB * 1.15,
                "alloc_big inuse %.0f:\n%s", c, top);
    if (pp_row(top, "alloc_small", &f, &c))
        REQUIRE_MSG(c < 160 * 1024 * 256.0 * 0.05, "alloc_small still in use: %.0f\n%s", c,
                    top);
    free(top);

    snprintf(file, sizeof file, "%s", pp_path("allocs.pb.gz"));
    write_profile("allocs", file, 0);
    top = pp_tool("-top %s", file);
    REQUIRE_MSG(strstr(top, "Type: alloc_space") != NULL, "allocs default type:\n%s", top);
    free(top);
    sink += (uintptr_t)big[0];
}

NOINLINE static void alloc_1000(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = rt_alloc(100);
        if (i % 2 == 0)
            kept[i / 2] = p;
    }
}

RT_TEST(test_rate1_exact)
{
    rt_memstats ms0, ms1;
    rt_read_memstats(&ms0);
    rt_set_memprofile_rate(1);
    on_goroutine(alloc_1000);
    rt_gc();
    /* the buckets count in BuckHashSys, and in Sys with it */
    rt_read_memstats(&ms1);
    REQUIRE_MSG(ms1.buckhash_sys > ms0.buckhash_sys && ms1.buckhash_sys < ms1.sys,
                "buckhash_sys %llu -> %llu", (unsigned long long)ms0.buckhash_sys,
                (unsigned long long)ms1.buckhash_sys);
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("heap1.pb.gz"));
    write_profile("heap", file, 0);
    char *top = pp_tool("-top -sample_index=alloc_objects %s", file);
    double f, c;
    REQUIRE_MSG(pp_row(top, "alloc_1000", &f, &c) && f == 1000, "alloc_objects:\n%s", top);
    free(top);
    top = pp_tool("-top -sample_index=inuse_objects %s", file);
    REQUIRE_MSG(pp_row(top, "alloc_1000", &f, &c) && f >= 500 && f <= 510,
                "inuse_objects %.0f:\n%s", f, top);
    free(top);
    sink += (uintptr_t)kept[0];
}

NOINLINE static void site_a(void)
{
    for (int i = 0; i < 10; i++)
        kept[i] = rt_alloc(48);
}

NOINLINE static void site_z(void)
{
    for (int i = 0; i < 5; i++)
        kept[200 + i] = rt_alloc(48);
}

NOINLINE static void site_b(void)
{
    for (int i = 0; i < 20; i++)
        kept[100 + i] = rt_alloc(48);
}

RT_TEST(test_publication)
{
    rt_set_memprofile_rate(1);
    char file[512];
    double f, c;
    /* Something published first (with nothing published, a profile shows
     * every cycle, as Go's MemProfile does), and a completed collection
     * (the runtime's first allocation may start one, as Go 1.3's does). */
    on_goroutine(site_z);
    rt_gc();
    /* Allocations since the last collection are not published yet. */
    on_goroutine(site_a);
    snprintf(file, sizeof file, "%s", pp_path("pub0.pb.gz"));
    write_profile("heap", file, 0);
    char *top = pp_tool("-top -sample_index=alloc_objects %s", file);
    REQUIRE_MSG(pp_row(top, "site_z", &f, &c) && f == 5 && !pp_row(top, "site_a", &f, &c),
                "before GC:\n%s", top);
    free(top);
    /* After a collection they are. */
    rt_gc();
    on_goroutine(site_b);
    snprintf(file, sizeof file, "%s", pp_path("pub1.pb.gz"));
    write_profile("heap", file, 0);
    top = pp_tool("-top -sample_index=alloc_objects %s", file);
    REQUIRE_MSG(pp_row(top, "site_a", &f, &c) && f == 10 && !pp_row(top, "site_b", &f, &c),
                "after one GC:\n%s", top);
    free(top);
    rt_gc();
    snprintf(file, sizeof file, "%s", pp_path("pub2.pb.gz"));
    write_profile("heap", file, 0);
    top = pp_tool("-top -sample_index=alloc_objects %s", file);
    REQUIRE_MSG(pp_row(top, "site_b", &f, &c) && f == 20, "after two GCs:\n%s", top);
    free(top);
}

/* A large object counts the same size when allocated and when freed: its
 * request rounded up to whole pages, as Go counts it (not the page of
 * padding grt puts after it).  The free once counted the padding too: one
 * 1 MiB object kept of 30 showed 811008 bytes in use (30 MiB allocated
 * less 29 frees of 1 MiB + 8 KiB), and heap_alloc 1056768. */
NOINLINE static void alloc_large_site(void)
{
    for (int i = 0; i < 30; i++) {
        void *p = rt_alloc_noscan(1 << 20);
        if (i == 7)
            big[0] = p;
    }
    big[1] = rt_alloc_noscan(100001); /* 13 pages: 106496 bytes */
}

RT_TEST(test_large_sizes_agree)
{
    rt_set_memprofile_rate(1);
    on_goroutine(scrub_stack);
    rt_gc();
    rt_memstats ms0, ms1;
    rt_read_memstats(&ms0);
    on_goroutine(alloc_large_site);
    on_goroutine(scrub_stack);
    rt_gc();
    rt_gc(); /* the frees are published by the cycle after the one that found them */
    rt_read_memstats(&ms1);
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("large.pb.gz"));
    write_profile("heap", file, 0);
    char *top = pp_tool("-top -unit=B -sample_index=inuse_space %s", file);
    double f, c;
    REQUIRE_MSG(pp_row(top, "alloc_large_site", &f, &c) && f == (1 << 20) + 106496,
                "inuse_space %.0f:\n%s", f, top);
    free(top);
    top = pp_tool("-top -unit=B -sample_index=alloc_space %s", file);
    REQUIRE_MSG(pp_row(top, "alloc_large_site", &f, &c) && f == 30.0 * (1 << 20) + 106496,
                "alloc_space %.0f:\n%s", f, top);
    free(top);
    /* The runtime's own allocations and frees meanwhile are small: well
     * under the page of padding counted before. */
    int64_t grew = (int64_t)(ms1.heap_alloc - ms0.heap_alloc) - ((1 << 20) + 106496);
    REQUIRE_MSG(grew > -4096 && grew < 4096, "heap_alloc grew %lld more than the objects",
                (long long)grew);
    big[0] = big[1] = NULL;
}

/* A sample walks its stack and hashes it; symbols are looked up when a
 * profile is written, as Go's are: looking them up at the sample made a
 * new site's first allocation read DWARF (1-2 ms; 6-20 ms under ASan). */
NOINLINE static void fresh_site(void)
{
    for (int i = 0; i < 3; i++)
        kept[300 + i] = rt_alloc(64);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
}

RT_TEST(test_samples_do_not_symbolize)
{
    rt_set_memprofile_rate(1);
    uint64_t before = atomic_load(&rt__symtab_misses);
    on_goroutine(fresh_site);
    uint64_t after = atomic_load(&rt__symtab_misses);
    REQUIRE_MSG(after == before, "%llu symbol lookups read DWARF during the samples",
                (unsigned long long)(after - before));
    rt_gc();
    char file[512];
    snprintf(file, sizeof file, "%s", pp_path("fresh.txt"));
    write_profile("heap", file, 1);
    REQUIRE_MSG(atomic_load(&rt__symtab_misses) > after, "the writer looked nothing up");
    char *text = pp_read(file);
    const char *at = strstr(text, "\tfresh_site+0x");
    REQUIRE_MSG(at != NULL, "text:\n%s", text);
    /* the record's stack starts at the user's frame: the line before
     * fresh_site's is its record's "@" line, not a libgrt frame */
    const char *line = at;
    while (line > text && line[-1] != '\n')
        line--;
    REQUIRE_MSG(line > text, "text:\n%s", text);
    const char *prev = line - 1;
    while (prev > text && prev[-1] != '\n')
        prev--;
    REQUIRE_MSG(prev[0] != '#', "a frame above fresh_site:\n%.*s", (int)(at - prev + 40), prev);
    free(text);
    kept[300] = kept[301] = kept[302] = NULL;
}

static Suite *suite(void)
{
    Suite *s = suite_create("memprof");
    TCase *tc = tcase_create("memprof");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_default_rate_sites);
    tcase_add_test(tc, test_rate1_exact);
    tcase_add_test(tc, test_publication);
    tcase_add_test(tc, test_large_sizes_agree);
    tcase_add_test(tc, test_samples_do_not_symbolize);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), NULL);
}
