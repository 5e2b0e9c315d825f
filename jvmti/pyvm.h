/* pyvm.h - read the Python stacks of another process (CPython 3.8-3.13).
 *
 * The reader never stops or signals the target and needs no GIL: it copies
 * memory with process_vm_readv (allowed for root, and for the same user
 * when the reader is an ancestor of the target under Yama ptrace_scope 1:
 * an executor JVM reading the Python workers it started). It follows
 *
 *   _PyRuntime.interpreters.head -> PyInterpreterState.threads.head
 *     -> PyThreadState (next ...) -> current frame -> previous ...
 *
 * with per-version field offsets (pyvm.c's table for 3.8-3.12, taken from
 * each version's internal headers; 3.13's own _Py_DebugOffsets table,
 * which CPython puts at the start of _PyRuntime for out-of-process tools).
 * 3.8-3.10 chain PyFrameObject (f_back); 3.11+ chain _PyInterpreterFrame.
 * The target keeps running while we read, so every pointer read may be
 * stale: depth is capped, loops end at the cap, unreadable memory ends the
 * walk with a partial stack, and nothing read is ever dereferenced locally.
 *
 * Thread: one reader thread per cp_pyvm_t (not thread-safe; not
 * signal-safe). */
#ifndef CP_PYVM_H
#define CP_PYVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyelf.h"

#define CP_PYVM_MAX_DEPTH 128
#define CP_PYVM_MAX_THREADS 64

typedef struct cp_pyvm cp_pyvm_t;   /* opaque */

/* Opens process pid whose interpreter elf describes (cp_pyelf_find).
 * Reads Py_Version / the debug cookie to confirm the version. Returns 0
 * and *out (caller owns; cp_pyvm_close), CP_EUNSUPP for a version without
 * offsets (the message says which), CP_EPERM when process_vm_readv is
 * refused (ptrace scope, seccomp, another user), CP_EIO if the process is
 * gone, CP_ENOMEM. */
int  cp_pyvm_open(pid_t pid, const cp_pyelf_t *elf, cp_pyvm_t **out /* OUT */);
void cp_pyvm_close(cp_pyvm_t *vm);   /* NULL is a no-op */

pid_t cp_pyvm_pid(const cp_pyvm_t *vm);
/* "3.11" */
const char *cp_pyvm_version(const cp_pyvm_t *vm);

typedef struct cp_pyvm_thread {
    uint64_t tstate;    /* PyThreadState address in the target */
    int tid;            /* kernel thread id; 0 if the version does not record it (3.8-3.10) */
    uint64_t frame;     /* innermost frame address, 0 = not running Python code */
} cp_pyvm_thread_t;

/* The thread states of the first interpreter, newest first (the main
 * thread is last). Returns the count (<= cap), or CP_EPERM / CP_EIO when
 * the process cannot be read. */
int cp_pyvm_threads(cp_pyvm_t *vm, cp_pyvm_thread_t *out /* OUT */, int cap);

/* One frame of a stack: the code object (its identity) and what it names.
 * code_key: the code object's address mixed with the fields read, so a
 * freed and reused address does not keep an old name. */
typedef struct cp_pyvm_frame {
    uint64_t code;
    uint64_t code_key;
} cp_pyvm_frame_t;

/* Walks from frame (cp_pyvm_thread_t.frame) towards the root. Writes up
 * to cap frames, leaf first. *truncated (may be NULL) is set when the cap
 * or a read failure cut the walk. Returns the number of frames, or
 * CP_EPERM / CP_EIO when the first read fails. */
int cp_pyvm_stack(cp_pyvm_t *vm, uint64_t frame, cp_pyvm_frame_t *out /* OUT */, int cap,
                  bool *truncated /* OUT, may be NULL */);

/* Names a code object: module (from its file: "json.decoder", "worker"),
 * function (co_qualname on 3.11+, co_name before), file (base name) and
 * the function's first line. Strings are UTF-8, truncated to fit.
 * Returns 0 or CP_EIO (unreadable: the caller names it "[unknown]"). */
typedef struct cp_pyvm_name {
    char module[128];
    char function[160];
    char file[96];
    int line;
} cp_pyvm_name_t;
int cp_pyvm_code_name(cp_pyvm_t *vm, uint64_t code, cp_pyvm_name_t *out /* OUT */);

/* The module name of a file name, as cp_pyvm_code_name derives it:
 * "/usr/lib/python3.11/json/decoder.py" -> "json.decoder",
 * "/x/pyspark.zip/pyspark/worker.py" -> "pyspark.worker",
 * "/tmp/job/worker.py" -> "worker", ".../pkg/__init__.py" -> "pkg",
 * "<frozen importlib._bootstrap>" -> "importlib._bootstrap". */
void cp_pyvm_module_of(const char *filename, char *out, size_t cap);

#endif
