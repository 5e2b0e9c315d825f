/* stats.h - the agent's event counters (sample quality, drops, rates).
 *
 * Producers: signal handlers (CP_SIGSAFE adds), JVMTI callbacks, harvester
 * and sender threads. Reader: the harvester, which puts the delta since the
 * previous window into every batch as counters (names: docs/protocol.md
 * "Counters"; e.g. samples.cpu, fail.unknown_Java, drop.ring).
 *
 * Counters only grow; a batch carries deltas (what happened in its window),
 * so the relay can sum them. Gauges (rate.*, mem.*) are set by the harvester
 * when it closes a window and sent as-is.
 *
 * Memory order: relaxed everywhere; counters are independent statistics and
 * nothing is published through them. */
#ifndef CP_STATS_H
#define CP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sigsafe.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "counters must be lock-free for signal handlers");

/* X(id, wire name). AGCT failure kinds keep HotSpot's names (forte.cpp). */
#define CP_STATS(X)                                       \
    X(CP_ST_SAMPLES_CPU,        "samples.cpu")            \
    X(CP_ST_SAMPLES_WALL,       "samples.wall")           \
    X(CP_ST_SAMPLES_ALLOC,      "samples.alloc")          \
    X(CP_ST_SAMPLES_LOCK,       "samples.lock")           \
    X(CP_ST_SAMPLES_NOJAVA,     "samples.no_java_thread") \
    X(CP_ST_FAIL_NO_JAVA_FRAME, "fail.no_Java_frame")     \
    X(CP_ST_FAIL_NO_CLASS_LOAD, "fail.no_class_load")     \
    X(CP_ST_FAIL_GC_ACTIVE,     "fail.GC_active")         \
    X(CP_ST_FAIL_UNKNOWN_NOT_JAVA, "fail.unknown_not_Java") \
    X(CP_ST_FAIL_NOT_WALKABLE_NOT_JAVA, "fail.not_walkable_not_Java") \
    X(CP_ST_FAIL_UNKNOWN_JAVA,  "fail.unknown_Java")      \
    X(CP_ST_FAIL_NOT_WALKABLE_JAVA, "fail.not_walkable_Java") \
    X(CP_ST_FAIL_UNKNOWN_STATE, "fail.unknown_state")     \
    X(CP_ST_FAIL_THREAD_EXIT,   "fail.thread_exit")       \
    X(CP_ST_FAIL_DEOPT,         "fail.deopt")             \
    X(CP_ST_FAIL_SAFEPOINT,     "fail.safepoint")         \
    X(CP_ST_FAIL_OTHER,         "fail.other")             \
    X(CP_ST_FAIL_CRASH,         "fail.crash_recovered")   \
    X(CP_ST_NATIVE_FAULT,       "native.walk_faults")     /* issue 8: a bad frame pointer ended a walk */ \
    X(CP_ST_NATIVE_FRAMES,      "native.frames")          \
    X(CP_ST_RECOVERED_SP,       "recovered.unknown_Java_sp") /* a failed AGCT sample retried from [sp] */ \
    X(CP_ST_RECOVERED_FP,       "recovered.unknown_Java_fp") /* ... from the frame pointer's frame */ \
    X(CP_ST_RECOVERED_ANCHOR,   "recovered.unknown_not_Java_anchor") /* -3 retried with a walkable frame anchor (vmstructs.h) */ \
    X(CP_ST_RECOVERED_STUB,     "recovered.not_walkable_not_Java_stub") /* -4 retried with the VM stub's frame popped off the anchor */ \
    X(CP_ST_RECOVERED_C2_STUB,  "recovered.unknown_not_Java_c2_stub") /* -3 retried from the compiled caller of a C2 runtime stub */ \
    X(CP_ST_PERF_FALLBACK,      "cpu.perf_fallback")      /* threads on POSIX timers although perf was chosen */ \
    X(CP_ST_PERF_FD_RESERVE,    "cpu.perf_fd_reserve")    /* ... because a perf fd would eat into the application's RLIMIT_NOFILE reserve */ \
    X(CP_ST_ITIMER_SWITCH,      "cpu.itimer_switch")      /* per-thread timers failed part way: every thread moved to ITIMER_PROF */ \
    X(CP_ST_CPU_ARMED,          "cpu.armed")              /* CPU timers / perf events created for a thread */ \
    X(CP_ST_CPU_ARM_SKIPPED,    "cpu.arm_skipped")        /* Java threads that ended before their deferred arm (sampler.c) */ \
    X(CP_ST_GUARD_JVM_HANDLED,  "guard.jvm_handled")      /* a fault inside the crash guard that HotSpot handled itself (SafeFetch) */ \
    X(CP_ST_TRUNCATED,          "samples.truncated")      \
    X(CP_ST_CTX_CLASS_HOOK,     "context.class_hooks")    /* classes the context hook saw (ctxhook.c; none without an HTTP server) */ \
    X(CP_ST_DROP_RING,          "drop.ring")              \
    X(CP_ST_DROP_BUFFER,        "drop.buffer")            \
    X(CP_ST_DROP_THREADS,       "drop.threads")           \
    X(CP_ST_DROP_DICT,          "drop.dict")              \
    X(CP_ST_DROP_WALL_BEHIND,   "drop.wall_behind")       /* wall signals not sent: the harvester fell a round behind */ \
    X(CP_ST_DROP_BUFFER_SAMPLES, "drop.buffer_samples")   /* samples.* of the batches drop.buffer counts */ \
    X(CP_ST_DROP_DICT_SAMPLES,  "drop.dict_samples")      /* samples.* of the batches drop.dict counts */ \
    X(CP_ST_DROP_UNACKED,       "drop.unacked")           /* sent, never acked, given up: possibly stored */ \
    X(CP_ST_DROP_UNACKED_SAMPLES, "drop.unacked_samples") /* samples.* of the batches drop.unacked counts */ \
    X(CP_ST_CPU_TICKS,          "ticks.cpu")              \
    X(CP_ST_HANDLER_NS,         "cpu.handler_ns")         \
    X(CP_ST_CALLBACK_NS,        "cpu.callback_ns")        /* JVMTI callbacks and agent work on the JVM's threads (cost.h) */ \
    X(CP_ST_AGENT_THREADS_NS,   "cpu.agent_threads_ns")   /* the agent's own threads (cost.h) */ \
    X(CP_ST_BYTES_SENT,         "net.bytes_sent")         \
    X(CP_ST_BATCHES_RESENT,     "net.batches_resent")     \
    X(CP_ST_CONNECTS,           "net.connects")           \
    X(CP_ST_CONNECT_FAILS,      "net.connect_failures")   \
    X(CP_ST_TLS_FAILS,          "net.tls_failures")       /* wss:// handshake or verification failed */ \
    X(CP_ST_RATE_LIMITED,       "net.rate_limited")       /* relay answered CP_ERATE; data kept */ \
    X(CP_ST_NET_TIMEOUTS,       "net.timeouts")           /* a sender state ran past its deadline */ \
    X(CP_ST_RESOLVE_FAIL,       "fail.resolve")           \
    X(CP_ST_ALLOC_REWRITTEN,    "alloc.classes_rewritten") /* issue 4: instrument mode */ \
    X(CP_ST_ALLOC_SKIPPED,      "alloc.classes_skipped")  \
    X(CP_ST_ALLOC_RT_FAILED,    "alloc.retransform_failed") \
    X(CP_ST_GC_DROPPED,         "drop.gc")                \
    X(CP_ST_DROP_TRACE,         "drop.trace")             /* trace entries past the per-window cap (values kept, untraced) */ \
    X(CP_ST_DROP_LABELS,        "drop.labels")            /* labelled parts past the per-window cap (values kept, unlabelled) */ \
    X(CP_ST_CONTEXT_OVERFLOW,   "context.overflow")       /* label sets refused: the agent's table (lsets.h) is full */ \
    X(CP_ST_CONTEXT_FAST,       "context.fast_threads")   /* threads whose shim writes their context slot directly (no JNI per call, context.c) */ \
    X(CP_ST_SAMPLING_NS,        "cpu.sampling_ns")        /* of the agent's CPU outside the signal handlers (cpu.handler_ns), what grows with the sampling rate (overhead.h) */  \
    X(CP_ST_PY_SAMPLES,         "py.samples")             /* issue 21: Python stacks read (pysample.h) */ \
    X(CP_ST_PY_CPU_NS,          "py.cpu_ns")              /* CPU time they carry */ \
    X(CP_ST_PY_UNCHARGED_NS,    "py.uncharged_ns")        /* CPU of threads found off CPU at the tick: not charged */ \
    X(CP_ST_PY_PROCS,           "py.processes")           /* Python processes attached to */ \
    X(CP_ST_PY_READ_FAIL,       "py.read_failures")       /* a stack or thread list could not be read */ \
    X(CP_ST_PY_TRUNCATED,       "py.truncated")           /* stacks cut at 128 frames */ \
    X(CP_ST_PY_EPERM,           "py.refused")             /* process_vm_readv refused (ptrace scope, seccomp, user) */ \
    X(CP_ST_PY_UNSUPPORTED,     "py.unsupported")         /* Python processes of a version without offsets */ \
    X(CP_ST_PY_TASKS,           "py.task_samples")        /* samples with a task from cprof_pyspark's buffer */ \
    X(CP_ST_PY_DROP_QUEUE,      "drop.py_queue")          /* samples lost: the harvester's queue was full */ \
    X(CP_ST_PY_COST_NS,         "cpu.python_ns")          /* the cprof-python thread's own CPU (not in cpu.agent_threads_ns: \
                                                           * it serves the Python workers, whose CPU the JVM's budget does not see) */ \
    X(CP_ST_PY_FALLBACK,        "py.fallback")            /* Python processes that sample themselves (pyfb.h: memory not readable) */ \
    X(CP_ST_PY_FB_SAMPLES,      "py.fallback_samples")    /* of py.samples, those the processes took themselves */ \
    X(CP_ST_PY_FB_DROP,         "drop.py_fallback")       /* their samples lost: ring full, or a ring held garbage */ \
    X(CP_ST_PY_FB_COST_NS,      "py.fallback_cost_ns")    /* the in-process samplers' own CPU (in the workers, not the JVM) */ \
    X(CP_ST_SIGNAL_NS,          "cpu.signal_ns")          /* the kernel's part of delivering the sampling signals: signals x the calibrated cost (sigcost.h) */ \
    X(CP_ST_SIGCOST_FAIL,       "cpu.signal_calib_fail")  /* signal kinds whose cost calibration failed (counted as 0) */ \
    X(CP_ST_SAMPLING_CPU_NS,    "cpu.sampling.cpu_ns")    /* per kind, the sampling cost the overhead budget judges (overhead.h): \
                                                           * CPU samples' handlers (probed) and drains */ \
    X(CP_ST_SAMPLING_WALL_NS,   "cpu.sampling.wall_ns")   /* wall samples' handlers, the wall thread, their drains */ \
    X(CP_ST_SAMPLING_ALLOC_NS,  "cpu.sampling.alloc_ns")  /* allocation samples' callbacks and drains */ \
    X(CP_ST_SAMPLING_LOCK_NS,   "cpu.sampling.lock_ns")   /* lock samples' callbacks and drains; the four add up to \
                                                           * cpu.handler_ns + cpu.sampling_ns */

typedef enum cp_stat_id {
#define CP__ST_ENUM(id, name) id,
    CP_STATS(CP__ST_ENUM)
#undef CP__ST_ENUM
    CP_ST__COUNT
} cp_stat_id_t;

extern _Atomic uint64_t cp_stats[CP_ST__COUNT];

/* Async-signal-safe: one relaxed atomic add. */
CP_SIGSAFE static inline void cp_stats_add(cp_stat_id_t id, uint64_t n)
{
    atomic_fetch_add_explicit(&cp_stats[id], n, memory_order_relaxed); /* statistic only */
}

static inline uint64_t cp_stats_get(cp_stat_id_t id)
{
    return atomic_load_explicit(&cp_stats[id], memory_order_relaxed); /* statistic only */
}

const char *cp_stats_name(cp_stat_id_t id);

/* Maps an AsyncGetCallTrace num_frames value <= 0 to its counter id. */
CP_SIGSAFE cp_stat_id_t cp_stats_agct_fail(int num_frames);

#endif
