/*
 * tests/sched/test_file_direct.c -- rt_file_pread/pwrite on a regular file
 * whose data the page cache holds make the call at once instead of going
 * through libuv's worker pool (sched/net.c, nowait_io): content and file
 * position right, and no pool round trip -- for reads wherever the kernel
 * takes RWF_NOWAIT, for writes always (a blocking system call where it
 * does not take them).  The pool's round trip cost 5-7x Go's direct call.
 */
#include <check.h>
#include <fcntl.h>
#include <stdatomic.h>
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

int main(void)
{
    Suite *s = suite_create("file_direct");
    TCase *tc = tcase_create("file_direct");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cached_file_calls_skip_the_pool);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
