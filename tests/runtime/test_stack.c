/*
 * tests/runtime/test_stack.c -- goroutine stack slots (runtime/stack.c):
 * distinct aligned slots, guard regions that fault and are recognised,
 * trimming that gives pages back, and slot counts far beyond
 * vm.max_map_count without new memory-map entries.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "harness.h"

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static bool kernel_at_least(int maj, int min)
{
    struct utsname u;
    int a = 0, b = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &a, &b) != 2)
        return false;
    return a > maj || (a == maj && b >= min);
}

START_TEST(test_slots)
{
    rt__stack a, b;
    ck_assert(rt__stack_alloc(&a));
    ck_assert(rt__stack_alloc(&b));
    /* the whole limit the overflow message names is usable */
    ck_assert_uint_eq(a.hi - a.lo, RT_STACK_SIZE);
    ck_assert_uint_eq(a.hi % RT_PAGE_SIZE, 0);
    ck_assert(a.hi <= b.lo - RT_STACK_GUARD || b.hi <= a.lo - RT_STACK_GUARD);
    /* usable memory is writable and zero */
    memset((void *)a.lo, 0xab, a.hi - a.lo);
    ck_assert_uint_eq(((unsigned char *)b.lo)[100], 0);
    rt__stack g;
    ck_assert(rt__stack_guard_hit(a.lo - 1, &g));
    ck_assert_uint_eq(g.lo, a.lo);
    ck_assert(rt__stack_guard_hit(a.lo - RT_STACK_GUARD, &g));
    ck_assert(!rt__stack_guard_hit(a.lo, &g));
    ck_assert(!rt__stack_guard_hit(a.hi - 1, &g));
    ck_assert(!rt__stack_guard_hit((uintptr_t)&g, &g));
}
END_TEST

START_TEST(test_guard_faults)
{
    rt__stack a;
    ck_assert(rt__stack_alloc(&a));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        *(volatile char *)(a.lo - 1) = 1;
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
}
END_TEST

START_TEST(test_trim)
{
    rt__stack a;
    ck_assert(rt__stack_alloc(&a));
    size_t len = a.hi - a.lo, npages = len / RT_PAGE_SIZE;
    memset((void *)a.lo, 1, len);
    unsigned char vec[RT_STACK_SIZE / 4096];
    ck_assert_int_eq(mincore((void *)a.lo, len, vec), 0);
    for (size_t i = 0; i < npages; i++)
        ck_assert(vec[i] & 1);
    rt__stack_trim(&a, RT_PAGE_SIZE); /* keep the top page */
    ck_assert_int_eq(mincore((void *)a.lo, len, vec), 0);
    for (size_t i = 0; i + 1 < npages; i++)
        ck_assert_msg(!(vec[i] & 1), "page %zu still resident", i);
    ck_assert(vec[npages - 1] & 1);
    ck_assert_uint_eq(((unsigned char *)a.hi)[-1], 1);
    ck_assert_uint_eq(((unsigned char *)a.lo)[0], 0); /* zero-fill again */
}
END_TEST

START_TEST(test_many_slots_no_new_mappings)
{
    if (!kernel_at_least(6, 13))
        return; /* mprotect fallback: each guard splits the mapping */
    rt__stack a;
    ck_assert(rt__stack_alloc(&a));
    ck_assert(rt__stack_guard_is_madvise());
    int before = count_maps();
    /* More slots than the default vm.max_map_count of 65,530. */
    for (int i = 0; i < 70000; i++) {
        ck_assert(rt__stack_alloc(&a));
        *(volatile char *)(a.hi - 1) = 1; /* touch the top page */
    }
    int after = count_maps();
    ck_assert_int_lt(after - before, 64);
    ck_assert_uint_ge(rt__stack_slots(), 70001);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_slots);
    tcase_add_test(tc, test_guard_faults);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_many_slots_no_new_mappings);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
