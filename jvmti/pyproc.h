/* pyproc.h - reading /proc for the Python sampler (pysample.h, pyfb.h):
 * a process's identity (start time), name, command line, parent and
 * children. Plain reads of small files, no state.
 *
 * Thread: any. Not signal-safe. */
#ifndef CP_PYPROC_H
#define CP_PYPROC_H

#include <stdbool.h>
#include <sys/types.h>

/* The whole of a small file (at most cap - 1 bytes), NUL-terminated; the
 * bytes read, or -1. */
ssize_t cp_pyproc_read(const char *path, char *buf, size_t cap);

/* Fields after the command name of a /proc stat line ("pid (comm) S ...",
 * from the state on); the name may hold spaces and parentheses: starts
 * after the last ')'. NULL if the line is not one. */
const char *cp_pyproc_stat_rest(const char *line);

/* pid's start time (/proc/PID/stat field 22): with pid, its identity. */
bool cp_pyproc_start(pid_t pid, unsigned long long *start);

/* pid's parent, or -1. */
pid_t cp_pyproc_parent(pid_t pid);

/* Appends the children of pid's main thread (all_threads: of every
 * thread) to out[n..cap); returns the new count. */
int cp_pyproc_children(pid_t pid, bool all_threads, pid_t *out, int n, int cap);

/* A PySpark process (pyspark.daemon, pyspark.worker, cprof_pyspark.*),
 * judged by its command line. */
bool cp_pyproc_is_pyspark(pid_t pid);

/* /proc/PID/comm without its newline ("" on failure). */
void cp_pyproc_comm(pid_t pid, char out[16]);

#endif
