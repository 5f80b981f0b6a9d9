/*
 * tests/pprof/test_env.c -- CPUPROFILE=path profiles the CPU from rt_main
 * to exit, MEMPROFILE=path writes the heap profile at exit,
 * DEBUG=memprofilerate=0 turns heap sampling off.  The child is
 * this program re-executed with "--scenario", the environment set, and no
 * profiling call of its own.
 */
#include <spawn.h>

#include "pprof_test.h"

#define NOINLINE __attribute__((noinline))

extern char **environ;
static volatile unsigned long sink;
static void *volatile keep[64]; /* volatile: a root the compiler must keep */

NOINLINE static void env_spin(void)
{
    double end = pp_thread_cpu() + 0.5;
    do {
        for (int i = 0; i < 4096; i++)
            sink += (unsigned long)i * 7u;
    } while (pp_thread_cpu() < end);
}

/* 64 MiB in 4 MiB objects: at the default rate (512 KiB) one is sampled
 * with probability 1 - e^-8, so the scaled total is 64 MiB almost
 * exactly.  (In 1 MiB objects, each sampled with probability 1 - e^-2,
 * the total varied with the binomial count: sd 4.3 %, and one CI run
 * drew 47 of 64, 85.0 % of the total, just under the bound below.) */
NOINLINE static void env_alloc(void)
{
    for (int i = 0; i < 16; i++)
        keep[i] = rt_alloc(4 << 20);
}

static int scenario(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    env_spin();
    env_alloc();
    sink += (uintptr_t)keep[1];
    exit(0); /* the profiles are written by the exit handlers */
}

/* debug: a DEBUG value for the child, or NULL */
static void run_child(const char *cpu, const char *mem, const char *debug)
{
    char ecpu[600], emem[600], edebug[128];
    snprintf(ecpu, sizeof ecpu, "CPUPROFILE=%s", cpu);
    snprintf(emem, sizeof emem, "MEMPROFILE=%s", mem);
    snprintf(edebug, sizeof edebug, "DEBUG=%s", debug ? debug : "");
    char *env[] = {ecpu, emem, debug ? edebug : NULL, NULL};
    char *argv[] = {(char *)"test_env", (char *)"--scenario", (char *)"profile", NULL};
    pid_t pid;
    REQUIRE_EQ(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, env), 0);
    int st;
    REQUIRE_EQ(waitpid(pid, &st, 0), pid);
    REQUIRE_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

START_TEST(test_env_profiles)
{
    char cpu[512], mem[512];
    snprintf(cpu, sizeof cpu, "%s", pp_path("env-cpu.pb.gz"));
    snprintf(mem, sizeof mem, "%s", pp_path("env-mem.pb.gz"));
    run_child(cpu, mem, NULL);
    char *top = pp_tool("-top -unit=ns %s", cpu);
    double f, c;
    /* 0.5 s spun from the start; each M arms its timer as it starts (the
     * main thread's, from before the profile, the writer's first round
     * does), but a loaded host may delay the samples: ask for most */
    REQUIRE_MSG(pp_row(top, "env_spin", &f, &c) && c >= 0.25e9, "env_spin:\n%s", top);
    free(top);
    top = pp_tool("-top -unit=B -sample_index=inuse_space %s", mem);
    REQUIRE_MSG(pp_row(top, "env_alloc", &f, &c) && c > 64 * 1048576.0 * 0.85 &&
                    c < 64 * 1048576.0 * 1.15,
                "env_alloc:\n%s", top);
    free(top);
}
END_TEST

/* DEBUG=memprofilerate=N sets MemProfileRate at start (Go's GODEBUG
 * knob): 0 samples nothing, where the default rate samples nearly every
 * 4 MiB object. */
START_TEST(test_env_memprofilerate_off)
{
    char cpu[512], mem[512];
    snprintf(cpu, sizeof cpu, "%s", pp_path("env-cpu0.pb.gz"));
    snprintf(mem, sizeof mem, "%s", pp_path("env-mem0.pb.gz"));
    run_child(cpu, mem, "memprofilerate=0");
    char *top = pp_tool("-top -unit=B -sample_index=alloc_space %s", mem);
    double f, c;
    REQUIRE_MSG(!pp_row(top, "env_alloc", &f, &c), "sampled at rate 0:\n%s", top);
    free(top);
}
END_TEST

/* A profile that cannot be written (a full disk: /dev/full) is reported
 * on stderr at exit, one line each, instead of being lost in silence. */
START_TEST(test_env_unwritable_profiles_warn)
{
    char *env[] = {(char *)"CPUPROFILE=/dev/full", (char *)"MEMPROFILE=/dev/full", NULL};
    char *argv[] = {(char *)"test_env", (char *)"--scenario", (char *)"profile", NULL};
    int pe[2];
    REQUIRE_EQ(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    REQUIRE_EQ(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    pid_t pid;
    REQUIRE_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pe[1]);
    static char err[8192];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof err - 1 && (k = read(pe[0], err + n, sizeof err - 1 - n)) > 0)
        n += (size_t)k;
    err[n] = 0;
    close(pe[0]);
    int st;
    REQUIRE_EQ(waitpid(pid, &st, 0), pid);
    REQUIRE_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    REQUIRE_MSG(strstr(err, "grt: CPUPROFILE=\"/dev/full\": profile not written: ") != NULL,
                "stderr:\n%s", err);
    REQUIRE_MSG(strstr(err, "grt: MEMPROFILE=\"/dev/full\": profile not written: ") != NULL,
                "stderr:\n%s", err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("env");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_env_profiles);
    tcase_add_test(tc, test_env_memprofilerate_off);
    tcase_add_test(tc, test_env_unwritable_profiles_warn);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, suite(), scenario);
}
