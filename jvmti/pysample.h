/* pysample.h - the Python sampler: stacks of the JVM's Python children.
 *
 * With python=on (PySpark daemons and workers) or python=children (any
 * Python descendant), a plain native thread "cprof-python" wakes every CPU
 * interval and, for each Python process below the JVM:
 *   - lists its thread states and reads their stacks from outside
 *     (pyvm.h: process_vm_readv, no GIL, the worker is never stopped);
 *   - charges a thread only if it is on CPU: the CPU time it used since
 *     the last tick (/proc/PID/task/TID/schedstat, ns) goes to its current
 *     stack when its state is R (running or runnable), and is counted as
 *     py.uncharged_ns otherwise (it ran, then blocked: its stack now is not
 *     where the time went);
 *   - reads the task cprof_pyspark published in the same pass (pytask.h).
 * Function names are read when a code object is first seen, on this
 * thread, so samples of a worker that ends with os._exit right after stay
 * complete: a queued sample holds indexes into a function table that only
 * grows (module, "qualname (file.py:line)"), never addresses in the dead
 * process.
 *
 * Processes are found through /proc/<pid>/task/<tid>/children: the JVM's
 * every 500 ms, and each known Python process's (a daemon's forked
 * workers) every tick. A process whose memory cannot be read (EPERM:
 * ptrace scope, seccomp, another user) is said once in the log and
 * counted (py.refused); cprof_pyspark's processes then sample themselves
 * and hand their stacks over through a shared ring (pyfb.h), drained by
 * this thread into the same queue (py.fallback).
 *
 * Hand-off: samples go into a bounded queue (drop.py_queue when full)
 * that the harvester drains (cp_pysample_drain) into its window.
 *
 * Threads: start/stop from the agent's lifecycle (life lock held);
 * drain/func from the harvester; the sampler thread is its own. Never
 * signal-safe. Failures are counted and never fatal: the worst case is no
 * Python samples. */
#ifndef CP_PYSAMPLE_H
#define CP_PYSAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "pytask.h"
#include "pyvm.h"

/* Starts the thread (mode: cp_opt_python_t, CP_PY_OFF stops it) or
 * changes its interval. interval_ns <= 0 means 10 ms. Returns 0, or
 * CP_ESTATE / CP_ENOMEM (logged). */
int  cp_pysample_start(int mode, int64_t interval_ns);
/* Stops and joins the thread (bounded by one interval + one pass). */
void cp_pysample_stop(void);

typedef struct cp_pysample {
    int32_t pid, tid;          /* Python process; kernel thread id (== pid: main thread) */
    uint64_t weight_ns;        /* CPU time since the thread's previous tick */
    bool has_task;             /* task holds cprof_pyspark's task (active) */
    bool truncated;            /* cut at CP_PYVM_MAX_DEPTH frames */
    cp_pytask_t task;
    uint16_t n;                /* frames in funcs, leaf first */
    uint32_t funcs[CP_PYVM_MAX_DEPTH];   /* cp_pysample_func indexes */
} cp_pysample_t;

typedef struct cp_pyfunc {
    char module[96];           /* "json.decoder", "worker" */
    char text[224];            /* "JSONDecoder.decode (decoder.py:332)" */
} cp_pyfunc_t;

/* Harvester: calls fn for every queued sample, oldest first, and empties
 * the queue. The sample is borrowed for the call. Returns the count. */
typedef void (*cp_pysample_fn)(const cp_pysample_t *s, void *ud);
int cp_pysample_drain(cp_pysample_fn fn, void *ud);

/* Harvester: the function of index idx (from a drained sample); NULL for
 * an index never handed out. Borrowed: entries never move or change. */
const cp_pyfunc_t *cp_pysample_func(uint32_t idx);

#endif
