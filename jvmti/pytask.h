/* pytask.h - the task buffer cprof_pyspark publishes in each Python worker.
 *
 * A PySpark worker runs one task at a time. cprof_pyspark (python/, set as
 * spark.python.daemon.module) writes the current task into a 64-byte file
 * created as /dev/shm/cprof-py-<worker pid>, mapped shared, guarded by a
 * sequence counter (odd while the worker writes). The worker unlinks the
 * name at once and keeps the descriptor: the agent finds the file among
 * the worker's open files (/proc/<pid>/fd, "... (deleted)"), maps it
 * read-only and reads it in the pass that reads the worker's stack, so a
 * sample carries the task that was running when it was taken, and a
 * worker ending with os._exit leaves nothing in /dev/shm.
 *
 *   offset size  field
 *   0      4     magic "CPPY"
 *   4      4     layout version (1), little-endian uint32
 *   8      8     seq: uint64, even = stable, odd = being written
 *   16     8     stage id               (int64, little-endian)
 *   24     8     partition id
 *   32     8     attempt number
 *   40     8     task attempt id (TID, unique per application)
 *   48     8     SQL execution id, -1 if none (spark.sql.execution.id)
 *   56     8     active: 1 while a task runs, 0 between tasks
 *
 * The writer stores seq+1, the fields, seq+2 (x86-64's store order keeps
 * them in that order; CPython issues plain stores). The reader reads seq,
 * the fields, seq again, and retries (3 times) unless both are equal and
 * even.
 *
 * Thread: the Python sampler thread only. Not signal-safe. */
#ifndef CP_PYTASK_H
#define CP_PYTASK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CP_PYTASK_SIZE 64
#define CP_PYTASK_MAGIC "CPPY"
#define CP_PYTASK_VERSION 1

typedef struct cp_pytask {
    bool active;
    int64_t stage, partition, attempt, tid, sql_id;
} cp_pytask_t;

typedef struct cp_pytask_buf cp_pytask_buf_t;   /* opaque: one mapped file */

/* Maps the worker's task file, found among its open descriptors. NULL
 * when it has none (yet: it appears with the first task), or the file has
 * the wrong size or magic. Caller owns; cp_pytask_close. */
cp_pytask_buf_t *cp_pytask_open(pid_t pid);

void cp_pytask_close(cp_pytask_buf_t *b);   /* NULL: no-op */

/* A consistent snapshot. Returns false when the writer kept it busy over
 * the retries (the sample then carries no task). */
bool cp_pytask_read(const cp_pytask_buf_t *b, cp_pytask_t *out /* OUT */);

/* The file's name for pid, as the writer creates it (/dev/shm/cprof-py-PID). */
void cp_pytask_path(pid_t pid, char *out, size_t cap);

#endif
