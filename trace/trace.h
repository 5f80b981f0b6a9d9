/*
 * trace/trace.h -- internal header of the trace/ folder.
 *
 * trace/ owns the built-in tracers and, later, the profilers, their pprof
 * encoding, the heap dump and the debug HTTP server.  Everything it prints
 * follows TRACE_FORMATS.md (Go 1.3 forms) to the byte, goes to fd 2 one
 * whole line per write(2), and allocates nothing from the GC heap.
 *
 * Files
 *   schedtrace.c   DEBUG=schedtrace=X[,scheddetail=1]: the SCHED lines,
 *                  printed by sysmon.
 *   allocfreetrace.c DEBUG=allocfreetrace=1: tracealloc, tracefree and
 *                  tracegc records, printed by the allocating goroutine,
 *                  the sweeper and the collector.
 *   heapdump.c     rt_write_heap_dump: the "go1.3 heap dump" format of
 *                  TRACE_FORMATS.md section 11, built in memory with the
 *                  world stopped, written to the fd once it runs again.
 */
#ifndef RT_TRACE_H
#define RT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* Prints one schedtrace report (a SCHED line, or with detail the detailed
 * dump of Ps, Ms and Gs).  now is rt_nanotime(); the first call fixes the
 * time origin ("SCHED 0ms"). */
void rt__schedtrace(int64_t now, bool detail);

/* allocfreetrace (TRACE_FORMATS.md §4).  Callers test
 * rt__debug.allocfreetrace first; none of these allocates. */
enum { RT_TRACE_SINGLE = 0, RT_TRACE_ARRAY = 1, RT_TRACE_CHAN = 2 };
/* p was allocated for an n-byte request (the rounded size is printed);
 * type is rt_new's type name or NULL; kind RT_TRACE_*.  Outside any
 * no-stop region. */
void rt__tracealloc(void *p, size_t n, const char *type, int kind);
/* The sweeper found the object p of size bytes dead (in its no-stop
 * region). */
void rt__tracefree(void *p, size_t size);
/* The start of a collection, world stopped: every goroutine's traceback. */
void rt__tracegc(void);

#endif /* RT_TRACE_H */
