/*
 * tests/golden/golden.h -- helpers of the golden tests that run a child.
 *
 * golden_run(argv0, mode, env)   re-executes this binary as
 *                                "/proc/self/exe --child MODE" with exactly
 *                                the environment env (NULL-terminated
 *                                "NAME=value" strings), collects its stdout
 *                                and stderr, and checks it exits 0.
 * golden_match(re, line, m, nm)  POSIX extended regex match (compiled once
 *                                per pattern string and cached).
 * golden_num(line, m)            the decimal number of a submatch.
 * golden_lines(text, &n)         splits text into lines in place (the last
 *                                '\n' ends the last line; an unterminated
 *                                tail is a line too, and the caller sees it).
 */
#ifndef GRT_TESTS_GOLDEN_H
#define GRT_TESTS_GOLDEN_H

#include <check.h>
#include <poll.h>
#include <regex.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct golden_out {
    char *out, *err;    /* NUL-terminated */
    size_t nout, nerr;
    bool err_ends_nl;   /* stderr ended with a newline (or is empty) */
} golden_out;

static void golden_append(char **buf, size_t *n, size_t *cap, const char *s, size_t k)
{
    if (*n + k + 1 > *cap) {
        while (*n + k + 1 > *cap)
            *cap = *cap ? *cap * 2 : 1 << 16;
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    memcpy(*buf + *n, s, k);
    *n += k;
    (*buf)[*n] = 0;
}

static inline golden_out golden_run(const char *argv0, const char *mode, char **env)
{
    int po[2], pe[2];
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    char *argv[] = {(char *)argv0, (char *)"--child", (char *)mode, NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    golden_out g = {0};
    size_t capo = 0, cape = 0;
    golden_append(&g.out, &g.nout, &capo, "", 0);
    golden_append(&g.err, &g.nerr, &cape, "", 0);
    struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    int open_fds = 2;
    char chunk[1 << 16];
    while (open_fds > 0) {
        if (poll(pf, 2, -1) < 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(pf[i].fd, chunk, sizeof chunk);
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0)
                golden_append(&g.out, &g.nout, &capo, chunk, (size_t)r);
            else
                golden_append(&g.err, &g.nerr, &cape, chunk, (size_t)r);
        }
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child %s exited with status %#x; stderr tail: %s", mode, status,
                  g.nerr > 2000 ? g.err + g.nerr - 2000 : g.err);
    g.err_ends_nl = g.nerr == 0 || g.err[g.nerr - 1] == '\n';
    return g;
}

static inline void golden_free(golden_out *g)
{
    free(g->out);
    free(g->err);
}

static inline bool golden_match(const char *pattern, const char *line, regmatch_t *m,
                                size_t nm)
{
    enum { NCACHE = 32 };
    static struct {
        const char *pattern;
        regex_t re;
    } cache[NCACHE];
    static int ncache;
    regex_t *re = NULL;
    for (int i = 0; i < ncache; i++)
        if (cache[i].pattern == pattern)
            re = &cache[i].re;
    if (re == NULL) {
        ck_assert_int_lt(ncache, NCACHE);
        cache[ncache].pattern = pattern;
        re = &cache[ncache].re;
        ck_assert_msg(regcomp(re, pattern, REG_EXTENDED) == 0, "bad regex %s", pattern);
        ncache++;
    }
    return regexec(re, line, nm, m, 0) == 0;
}

static inline long long golden_num(const char *line, const regmatch_t *m)
{
    ck_assert_int_ge(m->rm_so, 0);
    return strtoll(line + m->rm_so, NULL, 10);
}

static inline unsigned long long golden_hex(const char *line, const regmatch_t *m)
{
    ck_assert_int_ge(m->rm_so, 0);
    return strtoull(line + m->rm_so, NULL, 16);
}

/* Splits text into lines in place; returns a malloc'd array of *n lines. */
static inline char **golden_lines(char *text, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    char *p = text;
    while (*p) {
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[k++] = p;
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = 0;
        p = nl + 1;
    }
    *n = k;
    return v;
}

/* A decimal without padding (Go's %d / %D of a non-negative value). */
#define GN "(0|[1-9][0-9]*)"

#endif /* GRT_TESTS_GOLDEN_H */
