/*
 * gc/dirty.c -- which heap pages the program wrote since a given moment:
 * the collector's substitute for a write barrier (collector.c's essay on
 * concurrent marking says what it is used for).
 *
 * Mechanism: userfaultfd write-protection in asynchronous mode.  The whole
 * arena is registered once (UFFDIO_REGISTER_MODE_WP) right after it is
 * reserved.  With UFFD_FEATURE_WP_ASYNC the kernel resolves a write to a
 * protected page itself -- no signal, no fault-handling thread, about
 * 0.7 us for the first write to a page -- and only clears the page's
 * protection bit, so "written since protected" is "not protected now";
 * UFFD_FEATURE_WP_UNPOPULATED extends that to pages never touched (a write
 * there populates the page unprotected).  The PAGEMAP_SCAN ioctl on
 * /proc/self/pagemap lists the ranges whose pages are PAGE_IS_WRITTEN and,
 * with PM_SCAN_WP_MATCHING, protects them again in the same page-table
 * walk, atomically per page: a write after the walk passed a page is seen
 * by the next scan, never lost between the two.  Writes by the kernel on
 * the program's behalf (read(2) into a heap buffer) go through the same
 * fault path, so they are tracked too and need nothing from the program.
 *
 * Costs measured on the development kernel (6.18, 4 KiB pages): a scan
 * with nothing written walks 2 GiB in about 1 ms; re-protecting 512 MiB of
 * written pages takes about 5 ms, and the first protection of a 2 GiB
 * range (every page table allocated) about 16 ms.  So the collector
 * protects outside its pauses and, in the final pause, scans only what it
 * must (collector.c); and a protecting scan goes in 32 MiB calls, because
 * the program's page faults and mprotect/brk calls wait for the address
 * space's lock while one runs (workload 12 stalled 4-11 ms a batch when
 * the whole heap was protected in one call).
 *
 * Why not the alternatives: soft-dirty bits (/proc/self/clear_refs) clear
 * the whole process's bits at once and cost a TLB flush of everything;
 * mprotect + SIGSEGV costs a signal per first write and breaks system
 * calls that write into protected pages (they fail with EFAULT instead of
 * faulting).
 *
 * The fallback: mprotect + SIGSEGV.  Where userfaultfd is refused (an old
 * kernel, a seccomp filter, vm.unprivileged_userfaultfd=0 without
 * CAP_SYS_PTRACE), written pages are tracked the way Boehm's collector
 * does it: a bit per 4 KiB page says "protected" (set by a scan that
 * re-protects, with mprotect(PROT_READ) on each run it reports), and
 * runtime/fatal.c's SIGSEGV handler hands an access fault inside the arena
 * to rt__dirty_fault, which makes the surrounding FAULT_BLOCK writable and
 * clears its bits; the write is then retried by the CPU.  Orders that keep
 * a write from going unseen: the scan sets a run's bits *before* it
 * protects it (a write in between hits a writable page, before the run is
 * reported, so the caller's rescan sees it), and the handler unprotects
 * *before* it clears the bits (whatever the scan does in between, the page
 * ends either protected or marked written).  An access fault in the arena
 * is always ours (the arena is otherwise read-write), whatever the bits
 * say.  Costs: a signal and an mprotect per first write to a block, and
 * VMAs: each writable island in a protected run splits the mapping, so
 * the handler unprotects aligned blocks (fewer, larger islands) and, when
 * the kernel refuses to split further (ENOMEM at vm.max_map_count), ever
 * larger ones.  Kernel writes into protected pages fail with EFAULT
 * instead: grt's own I/O (rt_conn_read, rt_file_pread) touches the buffer
 * and retries (rt__dirty_touch); a program's raw read(2) into the heap
 * during a cycle may see EFAULT in this mode (README).  Where mprotect is
 * refused too, or DEBUG=gcwritetrack=2, the collector stops the world to
 * mark (rt__dirty_ok() false); DEBUG=gcwritetrack=1 forces this fallback,
 * and DEBUG=gcstoptheworld=1 forces stopped marking.
 *
 * Debian 12's kernel headers predate these interfaces: the few
 * definitions needed are spelled out below, checked against the kernel's
 * UAPI by the size field that PAGEMAP_SCAN validates.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gc/gc.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* linux/fs.h of Linux >= 6.7 */
struct rt__page_region {
    uint64_t start, end, categories;
};
struct rt__pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define RT_PAGEMAP_SCAN _IOWR('f', 16, struct rt__pm_scan_arg)
#define RT_PM_SCAN_WP_MATCHING (1 << 0)
#define RT_PM_SCAN_CHECK_WPASYNC (1 << 1)
#define RT_PAGE_IS_WRITTEN (1 << 1)

#define VEC_LEN 1024

static int uffd = -1;
static int pagemap_fd = -1;
static _Atomic int state; /* 0 not tried, 1 working, 2 unavailable, 3 being tried */
static int mode;          /* RT_DIRTY_*, set before state becomes 1 */

/* The mprotect mode's state: a bit per 4 KiB page of the arena, set while
 * the page is protected (mmap'd, untouched until used: 2 MiB of address
 * space for 64 GiB). */
#define WP_SHIFT 12
#define WP_PAGE ((uintptr_t)1 << WP_SHIFT)
#define FAULT_BLOCK ((uintptr_t)64 << 10)
static _Atomic uint64_t *wpbits;
static uintptr_t wp_lo, wp_hi;

static bool try_init(uintptr_t lo, size_t len);
static bool mprotect_init(uintptr_t lo, size_t len);

bool rt__dirty_init(uintptr_t lo, size_t len)
{
    int st = atomic_load(&state);
    if (st == 0 && atomic_compare_exchange_strong(&state, &st, 3)) {
        int want = rt__debug.gcwritetrack;
        bool ok = false;
        if (want == 0 && try_init(lo, len))
            ok = true, mode = RT_DIRTY_UFFD;
        else if (want <= 1 && mprotect_init(lo, len))
            ok = true, mode = RT_DIRTY_MPROTECT;
        atomic_store(&state, ok ? 1 : 2);
        return ok;
    }
    /* Another thread is trying (once, briefly: a few system calls). */
    while ((st = atomic_load(&state)) == 3)
        sched_yield();
    return st == 1;
}

static bool try_init(uintptr_t lo, size_t len)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0)
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        goto fail;
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
    if (ioctl(fd, UFFDIO_API, &api) != 0)
        goto fail_fd;
    struct uffdio_register reg = {.range = {.start = lo, .len = len},
                                  .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(fd, UFFDIO_REGISTER, &reg) != 0)
        goto fail_fd;
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0)
        goto fail_fd;
    /* Probe the scan interface (absent before 6.7) on a page of the
     * arena. */
    struct rt__page_region v[1];
    struct rt__pm_scan_arg arg = {.size = sizeof arg,
                                  .start = lo,
                                  .end = lo + 4096,
                                  .vec = (uintptr_t)v,
                                  .vec_len = 1,
                                  .category_mask = RT_PAGE_IS_WRITTEN,
                                  .return_mask = RT_PAGE_IS_WRITTEN};
    if (ioctl(pm, RT_PAGEMAP_SCAN, &arg) < 0) {
        close(pm);
        goto fail_fd;
    }
    uffd = fd;
    pagemap_fd = pm;
    return true;
fail_fd:
    close(fd);
fail:
    return false;
}

bool rt__dirty_ok(void)
{
    return atomic_load_explicit(&state, memory_order_relaxed) == 1;
}

int rt__dirty_mode(void)
{
    return atomic_load_explicit(&state, memory_order_acquire) == 1 ? mode : RT_DIRTY_NONE;
}

/* ------------------------------------------------ the mprotect mode -- */

static bool mprotect_init(uintptr_t lo, size_t len)
{
    size_t words = (len >> WP_SHIFT) / 64 + 1;
    void *p = mmap(NULL, words * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    /* Can we change the arena's protection at all (a sandbox may say no)? */
    if (mprotect((void *)lo, WP_PAGE, PROT_READ | PROT_WRITE) != 0) {
        munmap(p, words * sizeof(uint64_t));
        return false;
    }
    wpbits = p;
    wp_lo = lo;
    wp_hi = lo + len;
    return true;
}

/* Sets (protected) or clears the bits of pages [p0, p1). */
static void wp_mark(size_t p0, size_t p1, bool protected)
{
    for (size_t p = p0; p < p1;) {
        size_t w = p / 64, b = p % 64;
        size_t n = 64 - b < p1 - p ? 64 - b : p1 - p;
        uint64_t m = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << b;
        if (protected)
            atomic_fetch_or_explicit(&wpbits[w], m, memory_order_seq_cst);
        else
            atomic_fetch_and_explicit(&wpbits[w], ~m, memory_order_seq_cst);
        p += n;
    }
}

static bool wp_isset(size_t p)
{
    return (atomic_load_explicit(&wpbits[p / 64], memory_order_relaxed) >> (p % 64)) & 1;
}

/* Makes [lo, hi) writable, then says so (the order of the essay). */
static int wp_open(uintptr_t lo, uintptr_t hi)
{
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0)
        return -errno;
    wp_mark((lo - wp_lo) >> WP_SHIFT, (hi - wp_lo) >> WP_SHIFT, false);
    return 0;
}

bool rt__dirty_fault(uintptr_t addr, int code)
{
    if (code != SEGV_ACCERR || atomic_load_explicit(&state, memory_order_acquire) != 1 ||
        mode != RT_DIRTY_MPROTECT || addr < wp_lo || addr >= wp_hi)
        return false;
    int saved = errno; /* a signal handler must leave errno as it found it */
    /* Aligned blocks, larger each time the kernel cannot split the mapping
     * further (ENOMEM: vm.max_map_count). */
    for (uintptr_t block = FAULT_BLOCK; block <= ((uintptr_t)1 << 30); block <<= 4) {
        uintptr_t lo = addr & ~(block - 1), hi = lo + block;
        if (lo < wp_lo)
            lo = wp_lo;
        if (hi > wp_hi)
            hi = wp_hi;
        int r = wp_open(lo, hi);
        if (r == 0) {
            errno = saved;
            return true;
        }
        if (r != -ENOMEM)
            break;
    }
    errno = saved;
    return false; /* reported as the fault it is */
}

/* Protects the runs of unprotected pages in [lo, hi), reporting each. */
static size_t wp_scan(uintptr_t lo, uintptr_t hi, bool reprotect,
                      void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx)
{
    size_t p1 = (hi - wp_lo) >> WP_SHIFT, pages = 0;
    for (size_t p = (lo - wp_lo) >> WP_SHIFT; p < p1;) {
        if (wp_isset(p)) {
            p++;
            continue;
        }
        size_t q = p + 1;
        while (q < p1 && !wp_isset(q))
            q++;
        uintptr_t rlo = wp_lo + (p << WP_SHIFT), rhi = wp_lo + (q << WP_SHIFT);
        if (reprotect) {
            wp_mark(p, q, true); /* before protecting: see the essay */
            if (mprotect((void *)rlo, rhi - rlo, PROT_READ) != 0)
                wp_mark(p, q, false); /* left writable: reported every time */
        }
        pages += q - p;
        if (fn != NULL)
            fn(rlo, rhi, ctx);
        p = q;
    }
    return pages;
}

void rt__dirty_touch(const void *buf, size_t n)
{
    uintptr_t lo = (uintptr_t)buf, hi = lo + n;
    if (rt__dirty_mode() != RT_DIRTY_MPROTECT || n == 0 || hi <= wp_lo || lo >= wp_hi)
        return;
    /* A write to each protected page, through the fault path: an atomic
     * OR of zero changes nothing, even racing with the program's own
     * writes to the same bytes. */
    for (uintptr_t a = lo & ~(WP_PAGE - 1); a < hi; a += WP_PAGE) {
        if (a < wp_lo || a >= wp_hi)
            continue;
        if (wp_isset((a - wp_lo) >> WP_SHIFT)) {
            uintptr_t at = a < lo ? lo : a;
            __atomic_fetch_or((volatile unsigned char *)at, 0, __ATOMIC_RELAXED);
        }
    }
}

#define PROTECT_STEP ((uintptr_t)32 << 20) /* ~0.5 ms of protecting */

size_t rt__dirty_scan(uintptr_t lo, uintptr_t hi, bool reprotect,
                      void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx)
{
    if (mode == RT_DIRTY_MPROTECT)
        return wp_scan(lo, hi, reprotect, fn, ctx);
    /* Per call: scans run on several threads at once in the final pause.
     * On the stack (24 KiB): no malloc while the world is stopped. */
    struct rt__page_region v[VEC_LEN];
    size_t pages = 0;
    while (lo < hi) {
        /* A protecting scan goes in pieces of PROTECT_STEP: one call over
         * the whole heap held the program's allocations up for its whole
         * length (workload 12: batches of 10-11 ms while the cycle's first
         * protection of ~2 GiB ran), as one long unprotect did. */
        uintptr_t end = reprotect && hi - lo > PROTECT_STEP ? lo + PROTECT_STEP : hi;
        struct rt__pm_scan_arg arg = {
            .size = sizeof arg,
            .flags = reprotect ? RT_PM_SCAN_WP_MATCHING | RT_PM_SCAN_CHECK_WPASYNC : 0,
            .start = lo,
            .end = end,
            .vec = (uintptr_t)v,
            .vec_len = VEC_LEN,
            .category_mask = RT_PAGE_IS_WRITTEN,
            .return_mask = RT_PAGE_IS_WRITTEN};
        long n = ioctl(pagemap_fd, RT_PAGEMAP_SCAN, &arg);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rt__throwf("gc: PAGEMAP_SCAN failed: %s", strerror(errno));
        }
        for (long i = 0; i < n; i++) {
            pages += (size_t)((v[i].end - v[i].start) >> 12);
            if (fn != NULL)
                fn((uintptr_t)v[i].start, (uintptr_t)v[i].end, ctx);
        }
        if (arg.walk_end <= lo)
            break;
        lo = (uintptr_t)arg.walk_end;
    }
    return pages;
}

/* Lifting protection holds off the program's page faults in the range
 * for the length of the call (measured: a 19 ms lift stalled an
 * allocation 19 ms), so it goes in pieces of UNPROTECT_STEP (~1 ms each),
 * yielding the CPU between them. */
#define UNPROTECT_STEP ((uintptr_t)32 << 20)

void rt__dirty_unprotect(uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        uintptr_t end = hi - lo > UNPROTECT_STEP ? lo + UNPROTECT_STEP : hi;
        if (mode == RT_DIRTY_MPROTECT) {
            int r = wp_open(lo, end);
            if (r != 0 && r != -ENOMEM) /* ENOMEM: stays protected, faults */
                rt__throwf("gc: mprotect failed: %s", strerror(-r));
        } else {
            struct uffdio_writeprotect wp = {.range = {.start = lo, .len = end - lo},
                                             .mode = 0};
            while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
                if (errno != EINTR && errno != EAGAIN)
                    rt__throwf("gc: UFFDIO_WRITEPROTECT failed: %s", strerror(errno));
            }
        }
        lo = end;
        if (lo < hi)
            sched_yield();
    }
}
