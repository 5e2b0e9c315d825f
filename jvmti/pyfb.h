/* pyfb.h - the in-process fallback: Python workers that sample themselves.
 *
 * Where the agent may not read a Python process's memory (process_vm_readv
 * refused: seccomp, ptrace scope, another user, a non-dumpable process) or
 * has no offsets for its version, cprof_pyspark (python/cprof_pyspark/
 * fallback.py) samples the process's Python threads from a thread of its
 * own and hands the stacks to the agent through a shared ring. The agent
 * stores them as it stores the stacks it reads itself (pysample.h): same
 * sample struct, kind 10 frames, task labels, join under the TID thread.
 *
 * Rendezvous: the cprof-python thread listens on the abstract unix socket
 * "\0cprof-py-<JVM pid>" (SOCK_SEQPACKET; no file, no permission bits; the
 * peer's pid comes from SO_PEERCRED, and only the JVM's descendants are
 * answered). One request per connection, one answer, then the agent
 * closes it:
 *
 *   "CPFB1 ask"          -> "read"  (the agent reads this process itself)
 *                           "self <interval_ns>"  (it cannot: sample yourself)
 *   "CPFB1 ring" + fd    -> "ok <interval_ns>" | "no"
 *      (SCM_RIGHTS: a memfd sealed against shrinking, laid out as below)
 *
 * cprof_pyspark.daemon asks once at start-up; its forked workers inherit
 * the answer and, with "self", each starts a sampler thread that registers
 * its ring. No cost at all where the agent reads the workers itself.
 *
 * Ring file (little-endian):
 *   offset size  field                           written by
 *   0      4     magic "CPFB"                    worker
 *   4      4     layout version (1)              worker
 *   8      8     head: bytes written, ever       worker (after the record)
 *   16     8     tail: bytes consumed, ever      agent
 *   24     8     samples the worker dropped (ring full)      worker
 *   32     8     the sampler thread's own CPU, ns             worker
 *   40     4     ring size (power of 2, 4 KiB-1 MiB)          worker
 *   44     4     interval the worker should use, us           agent
 *   48     16    reserved
 *   64     size  records, 8-byte aligned, never split at the end
 * Record: u32 len (bytes, header included, multiple of 8), u16 type, u16 n.
 *   type 0 PAD:    skip to the ring's start
 *   type 1 FUNC:   u32 idx, "module\0text\0" (idx: the worker's own numbering)
 *   type 2 SAMPLE: u32 kernel tid, u32 0, u64 weight_ns, i64 stage,
 *                  partition, attempt, task tid, sql id, active (1 while a
 *                  task runs: pytask.h); n x u32 idx, leaf first
 *   type 3:        a SAMPLE cut at its depth limit
 * A FUNC record precedes the first sample that names it. The worker
 * writes a record, then head; the agent reads head, the records, then
 * writes tail. head and tail are each one aligned 8-byte store (native
 * order: struct's "<Q" would store byte by byte and tear). x86-64 keeps
 * the worker's plain stores in program order; the agent checks every
 * record's length and type, and never moves tail to a head that could
 * not be (behind tail, or more than the ring ahead).
 *
 * Thread: the cprof-python thread only. Not signal-safe. */
#ifndef CP_PYFB_H
#define CP_PYFB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pytask.h"

#define CP_PYFB_MAX_DEPTH 128

typedef struct cp_pyfb cp_pyfb_t;   /* opaque: one worker's mapped ring */

/* Binds the rendezvous socket (non-blocking). 0, or CP_EIO (logged once). */
int  cp_pyfb_listen(void);
void cp_pyfb_unlisten(void);          /* closes the socket and pending peers */

/* Whether the agent reads pid's memory itself (0), or the reason it
 * cannot (CP_EPERM, CP_EUNSUPP, ...): pysample.c's probe. */
typedef int (*cp_pyfb_probe_fn)(pid_t pid);
/* A ring pid registers: true takes ownership of ring (cp_pyfb_close),
 * false refuses it (the peer is answered "no"). */
typedef bool (*cp_pyfb_ring_fn)(pid_t pid, cp_pyfb_t *ring);

/* Accepts and answers what peers sent since the last call. */
void cp_pyfb_poll(int64_t interval_ns, cp_pyfb_probe_fn probe, cp_pyfb_ring_fn on_ring);

typedef struct cp_pyfb_sample {
    int32_t tid;
    uint64_t weight_ns;
    bool truncated;
    cp_pytask_t task;
    uint16_t n;
    const uint32_t *idx;              /* n worker function indexes, leaf first; borrowed */
} cp_pyfb_sample_t;

typedef void (*cp_pyfb_func_fn)(void *ud, uint32_t idx, const char *module, const char *text);
typedef void (*cp_pyfb_sample_fn)(void *ud, const cp_pyfb_sample_t *s);

/* Reads the records written since the last call, in order, and tells the
 * worker the interval. Returns the records read, or CP_EINVAL when the
 * ring holds garbage (the rest is skipped and counted). */
int cp_pyfb_drain(cp_pyfb_t *r, int64_t interval_ns, cp_pyfb_func_fn on_func, cp_pyfb_sample_fn on_sample,
                  void *ud);

void cp_pyfb_close(cp_pyfb_t *r);     /* NULL: no-op */

#endif
