/*
 * tests/runtime/test_symtab.c -- pc to function, file and line
 * (runtime/symtab.c).
 *
 * The answers are checked against facts the test knows about itself: the
 * address of its own functions, the lines they span (__LINE__ markers on
 * either side), and the name of this file.  "Part of libgrt" is checked on
 * both sides: the runtime's own functions say yes, the test's say no,
 * even though both are linked into the same executable.
 */
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/runtime.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ------------------------------------------------ functions to look up -- */

/* No inlining, no specialised clones (name.constprop.0). */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

NOINLINE static uintptr_t return_address(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

static const int known_first_line = __LINE__ + 2;
NOINLINE
static uintptr_t known_function(volatile int *x)
{
    *x += 1;
    uintptr_t ra = return_address(); /* a pc inside known_function */
    *x += 2;
    return ra;
}
static const int known_last_line = __LINE__ - 1;

/* ------------------------------------------------------------- tests ---- */

START_TEST(own_function_by_entry)
{
    rt__symtab_init();
    uintptr_t entry = (uintptr_t)known_function;
    rt__sym s;

    ck_assert(rt__symbolize(entry, &s));
    ck_assert_ptr_nonnull(s.name);
    ck_assert_str_eq(s.name, "known_function");
    ck_assert_uint_eq(s.entry, entry);
    ck_assert_ptr_nonnull(s.file);
    ck_assert_msg(ends_with(s.file, "/tests/runtime/test_symtab.c"),
                  "file %s", s.file);
    ck_assert_int_ge(s.line, known_first_line);
    ck_assert_int_le(s.line, known_last_line);
    ck_assert(!s.in_runtime);
}
END_TEST

START_TEST(own_function_call_line)
{
    volatile int x = 0;
    uintptr_t ra = known_function(&x);
    uintptr_t entry = (uintptr_t)known_function;
    rt__sym s;

    ck_assert_int_eq(x, 3);
    ck_assert_uint_gt(ra, entry);
    /* As a traceback does: look up the call instruction (ra - 1). */
    ck_assert(rt__symbolize(ra - 1, &s));
    ck_assert_str_eq(s.name, "known_function");
    ck_assert_uint_eq(s.entry, entry);
    ck_assert_msg(ends_with(s.file, "test_symtab.c"), "file %s", s.file);
    /* The call to return_address is on the third line after the name. */
    ck_assert_int_eq(s.line, known_first_line + 3);
    ck_assert(!s.in_runtime);
}
END_TEST

START_TEST(runtime_functions_are_in_runtime)
{
    rt__sym s;

    /* Exported and cross-file names... */
    ck_assert(rt__symbolize((uintptr_t)rt__symbolize + 1, &s));
    ck_assert_str_eq(s.name, "rt__symbolize");
    ck_assert_uint_eq(s.entry, (uintptr_t)rt__symbolize);
    ck_assert_msg(ends_with(s.file, "/runtime/symtab.c"), "file %s", s.file);
    ck_assert(s.in_runtime);

    ck_assert(rt__symbolize((uintptr_t)rt__symtab_init, &s));
    ck_assert_str_eq(s.name, "rt__symtab_init");
    ck_assert(s.in_runtime);

    /* ...and a test function is not, though it is in the same module. */
    ck_assert(rt__symbolize((uintptr_t)return_address, &s));
    ck_assert_str_eq(s.name, "return_address");
    ck_assert(!s.in_runtime);
}
END_TEST

START_TEST(libc_function_has_a_name)
{
    rt__sym s;
    uintptr_t pc = (uintptr_t)qsort + 4;

    ck_assert(rt__symbolize(pc, &s));
    ck_assert_ptr_nonnull(s.name);
    ck_assert_msg(strstr(s.name, "qsort") != NULL, "name %s", s.name);
    ck_assert_uint_ne(s.entry, 0);
    ck_assert_uint_le(s.entry, pc);
    ck_assert(!s.in_runtime);

    /* Versioned ELF symbols print without the version. */
    void *start_main = dlsym(RTLD_DEFAULT, "__libc_start_main");
    ck_assert_ptr_nonnull(start_main);
    ck_assert(rt__symbolize((uintptr_t)start_main + 1, &s));
    ck_assert_str_eq(s.name, "__libc_start_main");
}
END_TEST

/* The files libdw opens for the session (the binary, the libraries, their
 * debug files) are close-on-exec: children of system() or popen() do not
 * inherit them (they did, 14 of them: an outside tester's find).  After
 * lookups in the binary and in libc, every descriptor naming a regular
 * file of the binary's or a library's must carry FD_CLOEXEC. */
START_TEST(library_files_are_close_on_exec)
{
    rt__sym s;
    ck_assert(rt__symbolize((uintptr_t)own_function_by_entry, &s));
    ck_assert(rt__symbolize((uintptr_t)qsort + 4, &s));
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    int checked = 0;
    for (int fd = 3; fd < 1024; fd++) {
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t m = readlink(link, target, sizeof target - 1);
        if (m <= 0)
            continue;
        target[m] = '\0';
        bool elf = strcmp(target, exe) == 0 || strstr(target, ".so") != NULL ||
                   ends_with(target, ".debug");
        if (!elf)
            continue;
        checked++;
        int fl = fcntl(fd, F_GETFD);
        ck_assert_msg(fl >= 0 && (fl & FD_CLOEXEC), "fd %d (%s) is inherited by children", fd,
                      target);
    }
    ck_assert_int_gt(checked, 0); /* libdw keeps at least the binary open */
}
END_TEST

START_TEST(no_library_dwarf_while_throwing)
{
    rt__sym s;
    rt__symtab_init();

    /* While a fatal error is printed, other libraries' DWARF is not read
     * (that would allocate): a libc function gets its name, no line. */
    atomic_store(&rt__throwing, 1);
    ck_assert(rt__symbolize((uintptr_t)qsort + 4, &s));
    ck_assert_ptr_nonnull(s.name);
    ck_assert_ptr_null(s.file);
    ck_assert_int_eq(s.line, 0);
    /* The program's own DWARF was read at init and still answers. */
    ck_assert(rt__symbolize((uintptr_t)known_function, &s));
    ck_assert_msg(s.file != NULL && ends_with(s.file, "test_symtab.c"),
                  "file %s", s.file ? s.file : "(null)");
    ck_assert_int_gt(s.line, 0);
    atomic_store(&rt__throwing, 0);
}
END_TEST

START_TEST(unknown_addresses)
{
    rt__sym s;

    ck_assert(!rt__symbolize(0, &s));
    ck_assert_ptr_null(s.name);
    ck_assert_ptr_null(s.file);
    ck_assert_int_eq(s.line, 0);

    /* Anonymous memory holds no function. */
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    ck_assert(!rt__symbolize((uintptr_t)p + 16, &s));
    ck_assert_ptr_null(s.name);
    ck_assert(!s.in_runtime);
    munmap(p, 4096);
}
END_TEST

START_TEST(cached_answers_are_identical)
{
    rt__sym a, b;
    uintptr_t pc = (uintptr_t)known_function + 1;

    ck_assert(rt__symbolize(pc, &a));
    ck_assert(rt__symbolize(pc, &b));
    /* Interned strings: the same pointers, not just equal text. */
    ck_assert_ptr_eq(a.name, b.name);
    ck_assert_ptr_eq(a.file, b.file);
    ck_assert_uint_eq(a.entry, b.entry);
    ck_assert_int_eq(a.line, b.line);
    ck_assert_int_eq(a.in_runtime, b.in_runtime);

    /* Another pc of the same function shares the interned strings. */
    uintptr_t entry = (uintptr_t)known_function;
    ck_assert(rt__symbolize(entry, &b));
    ck_assert_ptr_eq(a.name, b.name);
    ck_assert_ptr_eq(a.file, b.file);
}
END_TEST

/* Several threads look up pcs at once (the lock, and the cache filling
 * in); every answer must stay right.  Offsets stay within the first bytes
 * of each function: a pc in the padding between two functions has no
 * symbol. */
static void *lookup_loop(void *arg)
{
    uintptr_t base = (uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        rt__sym s;
        uintptr_t pc = (i % 3 == 0) ? (uintptr_t)known_function
                       : (i % 3 == 1) ? (uintptr_t)rt__symbolize
                                      : base + (uintptr_t)(i % 4);
        if (!rt__symbolize(pc, &s) || s.name == NULL)
            return (void *)1;
        if (pc == (uintptr_t)known_function &&
            (strcmp(s.name, "known_function") != 0 || s.in_runtime))
            return (void *)1;
        if (pc == (uintptr_t)rt__symbolize &&
            (strcmp(s.name, "rt__symbolize") != 0 || !s.in_runtime))
            return (void *)1;
    }
    return NULL;
}

START_TEST(concurrent_lookups)
{
    pthread_t t[4];
    void *bases[4] = {(void *)qsort, (void *)strlen, (void *)lookup_loop,
                      (void *)rt__symtab_init};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_loop, bases[i]),
                         0);
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
}
END_TEST

static Suite *symtab_suite(void)
{
    Suite *s = suite_create("symtab");
    TCase *tc = tcase_create("lookup");

    tcase_add_test(tc, own_function_by_entry);
    tcase_add_test(tc, own_function_call_line);
    tcase_add_test(tc, runtime_functions_are_in_runtime);
    tcase_add_test(tc, libc_function_has_a_name);
    tcase_add_test(tc, library_files_are_close_on_exec);
    tcase_add_test(tc, no_library_dwarf_while_throwing);
    tcase_add_test(tc, unknown_addresses);
    tcase_add_test(tc, cached_answers_are_identical);
    tcase_add_test(tc, concurrent_lookups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(symtab_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
