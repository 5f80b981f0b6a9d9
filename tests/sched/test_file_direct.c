/*
 * tests/sched/test_file_direct.c -- rt_file_pread/pwrite on a regular file
 * whose data the page cache holds make the call at once instead of going
 * through libuv's worker pool (sched/net.c, nowait_io): content and file
 * position right, and no pool round trip -- for reads wherever the kernel
 * takes RWF_NOWAIT, for writes always (a blocking system call where it
 * does not take them).  The pool's round trip cost 5-7x Go's direct call.
 *
 * The kind of file is asked with statx for its type alone: fstat reads the
 * times too, and since Linux 6.13 a file whose change time was read gets
 * a new one at its next write, which dirtied the inode at every append
 * (2.6x the time of the writes).  Checked in a child whose fstat and
 * newfstatat fail (a seccomp filter): the file calls must still work.
 * Calls at an offset do not ask at all unless the page cache will not
 * answer: checked in a child whose statx fails.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sched/sched.h"

RT_TEST(test_cached_file_calls_skip_the_pool)
{
    char path[] = "/tmp/grt-file-direct-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_GE(fd, 0);
    unlink(path);
    enum { N = 64, LINE = 100 };
    char line[LINE];
    uint64_t pool0 = atomic_load(&rt__netpoll_file_calls);
    /* appends at the file position, then writes at offsets */
    for (int i = 0; i < N; i++) {
        memset(line, 'a' + i % 26, sizeof line);
        REQUIRE_EQ(rt_file_pwrite(fd, line, sizeof line, -1), (ssize_t)sizeof line);
    }
    REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), (off_t)N * LINE);
    memset(line, 'Z', sizeof line);
    REQUIRE_EQ(rt_file_pwrite(fd, line, sizeof line, 5 * LINE), (ssize_t)sizeof line);
    uint64_t pool_w = atomic_load(&rt__netpoll_file_calls) - pool0;
    /* reads: at offsets, and at the file position (which they advance) */
    char *buf = rt_alloc(LINE); /* a heap buffer: the collector may protect it */
    for (int i = 0; i < N; i++) {
        REQUIRE_EQ(rt_file_pread(fd, buf, LINE, (int64_t)i * LINE), (ssize_t)LINE);
        REQUIRE_EQ(buf[0], i == 5 ? 'Z' : 'a' + i % 26);
        REQUIRE_EQ(buf[LINE - 1], i == 5 ? 'Z' : 'a' + i % 26);
    }
    REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
    REQUIRE_EQ(rt_file_pread(fd, buf, LINE, -1), (ssize_t)LINE);
    REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), (off_t)LINE);
    REQUIRE_EQ(rt_file_pread(fd, buf, LINE, (int64_t)N * LINE + 7), 0); /* past the end */
    uint64_t pool_r = atomic_load(&rt__netpoll_file_calls) - pool0 - pool_w;
    REQUIRE_EQ(pool_w, 0);
    if (rt__file_nowait_reads())
        REQUIRE_EQ(pool_r, 0);
    else /* the kernel refused RWF_NOWAIT reads: the pool, as before */
        REQUIRE_EQ(pool_r, (uint64_t)N + 2);
    REQUIRE_EQ(rt_file_pread(-1, buf, LINE, 0), -EBADF);
    close(fd);
}

/* System calls nr1 and nr2 fail with EPERM in every thread from here on
 * (a seccomp filter). */
static void refuse(long nr1, long nr2)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr1, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                             &prog), 0);
}

static void no_fstat_body(void)
{
    char path[] = "/tmp/grt-file-nostat-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_GE(fd, 0);
    unlink(path);
    refuse(SYS_fstat, SYS_newfstatat);
    struct stat st;
    REQUIRE_EQ(fstat(fd, &st), -1); /* the filter is on */
    char line[100], back[100];
    memset(line, 'q', sizeof line);
    for (int i = 0; i < 8; i++)
        REQUIRE_EQ(rt_file_pwrite(fd, line, sizeof line, -1), (ssize_t)sizeof line);
    REQUIRE_EQ(rt_file_pread(fd, back, sizeof back, 700), (ssize_t)sizeof back);
    REQUIRE_EQ(memcmp(line, back, sizeof back), 0);
    close(fd);
}

START_TEST(test_file_calls_do_not_read_times)
{
    harness_run_child(NULL, NULL, no_fstat_body);
}
END_TEST

/* Calls at an offset ask the page cache first and the descriptor's kind
 * only if it will not answer: a statx a call made 4 KiB reads of a
 * cached file 2.6x Go's ReadAt (an outside tester's find).  In a child
 * whose statx fails, reads and writes at offsets must still work (they
 * returned -EPERM before). */
static void no_statx_body(void)
{
    char path[] = "/tmp/grt-file-nostatx-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE_GE(fd, 0);
    unlink(path);
    char line[100], back[100];
    memset(line, 'q', sizeof line);
    for (int i = 0; i < 8; i++)
        REQUIRE_EQ(rt_file_pwrite(fd, line, sizeof line, 100 * i), (ssize_t)sizeof line);
    refuse(SYS_statx, SYS_statx);
    struct statx stx;
    REQUIRE_EQ(statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx), -1); /* the filter is on */
    memset(line, 'r', sizeof line);
    REQUIRE_EQ(rt_file_pwrite(fd, line, sizeof line, 300), (ssize_t)sizeof line);
    REQUIRE_EQ(rt_file_pread(fd, back, sizeof back, 300), (ssize_t)sizeof back);
    REQUIRE_EQ(memcmp(line, back, sizeof back), 0);
    REQUIRE_EQ(rt_file_pread(fd, back, sizeof back, 800), 0); /* the end */
    close(fd);
}

START_TEST(test_offset_calls_ask_no_kind)
{
    harness_run_child(NULL, NULL, no_statx_body);
}
END_TEST

/* At an offset, what is not a regular file answers as the system call
 * would, whichever path asks: a pipe ESPIPE, a directory EISDIR, a
 * device at an offset its data, a closed descriptor EBADF. */
RT_TEST(test_offset_calls_on_other_descriptors)
{
    char buf[64];
    int p[2];
    REQUIRE_EQ(pipe(p), 0);
    REQUIRE_EQ(rt_file_pread(p[0], buf, sizeof buf, 0), -ESPIPE);
    REQUIRE_EQ(rt_file_pwrite(p[1], "x", 1, 0), -ESPIPE);
    REQUIRE_EQ(rt_file_pwrite(p[1], "x", 1, -1), 1); /* at the position: a write */
    REQUIRE_EQ(rt_file_pread(p[0], buf, sizeof buf, -1), 1);
    close(p[0]);
    close(p[1]);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY);
    REQUIRE_GE(d, 0);
    REQUIRE_EQ(rt_file_pread(d, buf, sizeof buf, 0), -EISDIR);
    close(d);
    int z = open("/dev/zero", O_RDWR);
    REQUIRE_GE(z, 0);
    memset(buf, 7, sizeof buf);
    REQUIRE_EQ(rt_file_pread(z, buf, sizeof buf, 4096), (ssize_t)sizeof buf);
    REQUIRE_EQ(buf[0], 0);
    REQUIRE_EQ(buf[sizeof buf - 1], 0);
    REQUIRE_EQ(rt_file_pwrite(z, buf, sizeof buf, 4096), (ssize_t)sizeof buf);
    close(z);
    REQUIRE_EQ(rt_file_pread(z, buf, sizeof buf, 0), -EBADF);
    REQUIRE_EQ(rt_file_pwrite(z, buf, sizeof buf, 0), -EBADF);
}

int main(void)
{
    Suite *s = suite_create("file_direct");
    TCase *tc = tcase_create("file_direct");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cached_file_calls_skip_the_pool);
    tcase_add_test(tc, test_file_calls_do_not_read_times);
    tcase_add_test(tc, test_offset_calls_ask_no_kind);
    tcase_add_test(tc, test_offset_calls_on_other_descriptors);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
