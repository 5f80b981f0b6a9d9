/*
 * runtime/main.c -- rt_main: start-up of the runtime.
 *
 * Order matters: the settings first (everything else reads them), then the
 * fatal-signal handlers (so that even a crash during start-up is reported
 * like Go's), the symbol tables (loaded once, so that later tracebacks do
 * not allocate), and finally the scheduler, which runs the program's
 * function as goroutine 1 while the calling thread waits for it.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "runtime/runtime.h"
#include "gc/gc.h"
#include "sched/sched.h"
#include "trace/trace.h"

int64_t rt__start_time;

int rt_main(int (*fn)(int argc, char **argv), int argc, char **argv)
{
    static _Atomic int started;
    if (atomic_exchange(&started, 1))
        rt__throw("rt_main called twice");
    rt__start_time = rt_nanotime();
    if (rt__settings_main())
        exit(0); /* DEBUG=help printed the settings table */
    rt__fatal_init();
    rt__fatal_thread_init();
    rt__symtab_init();
    rt__sizeclass_init();
    rt__heap_init();
    rt__gc_init();
    rt__sched_init(rt__debug.maxprocs);
    rt__pprof_env_start(); /* CPUPROFILE, MEMPROFILE */
    return rt__sched_run_main(fn, argc, argv);
}
