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
 */
#ifndef RT_TRACE_H
#define RT_TRACE_H

#include <stdint.h>

#include "runtime/runtime.h"

/* Prints one schedtrace report (a SCHED line, or with detail the detailed
 * dump of Ps, Ms and Gs).  now is rt_nanotime(); the first call fixes the
 * time origin ("SCHED 0ms"). */
void rt__schedtrace(int64_t now, bool detail);

#endif /* RT_TRACE_H */
