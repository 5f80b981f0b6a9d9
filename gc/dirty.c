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
 * must (collector.c).
 *
 * Why not the alternatives: soft-dirty bits (/proc/self/clear_refs) clear
 * the whole process's bits at once and cost a TLB flush of everything;
 * mprotect + SIGSEGV costs a signal per first write and breaks system
 * calls that write into protected pages (they fail with EFAULT instead of
 * faulting).  Where userfaultfd is refused (an old kernel, a seccomp
 * filter, vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE) the
 * collector stops the world to mark instead, as before (rt__dirty_ok()
 * says which); DEBUG=gcstoptheworld=1 forces that mode.
 *
 * Debian 12's kernel headers predate these interfaces: the few
 * definitions needed are spelled out below, checked against the kernel's
 * UAPI by the size field that PAGEMAP_SCAN validates.
 */
#include <errno.h>
#include <fcntl.h>
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

static bool try_init(uintptr_t lo, size_t len);

bool rt__dirty_init(uintptr_t lo, size_t len)
{
    int st = atomic_load(&state);
    if (st == 0 && atomic_compare_exchange_strong(&state, &st, 3)) {
        atomic_store(&state, try_init(lo, len) ? 1 : 2);
        return atomic_load(&state) == 1;
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

size_t rt__dirty_scan(uintptr_t lo, uintptr_t hi, bool reprotect,
                      void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx)
{
    /* Per call: scans run on several threads at once in the final pause.
     * On the stack (24 KiB): no malloc while the world is stopped. */
    struct rt__page_region v[VEC_LEN];
    size_t pages = 0;
    while (lo < hi) {
        struct rt__pm_scan_arg arg = {
            .size = sizeof arg,
            .flags = reprotect ? RT_PM_SCAN_WP_MATCHING | RT_PM_SCAN_CHECK_WPASYNC : 0,
            .start = lo,
            .end = hi,
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
        struct uffdio_writeprotect wp = {.range = {.start = lo, .len = end - lo}, .mode = 0};
        while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
            if (errno != EINTR && errno != EAGAIN)
                rt__throwf("gc: UFFDIO_WRITEPROTECT failed: %s", strerror(errno));
        }
        lo = end;
        if (lo < hi)
            sched_yield();
    }
}
