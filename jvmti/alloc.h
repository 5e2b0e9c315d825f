/* alloc.h - allocation profiling: bytes and objects per allocation stack.
 *
 * Option alloc=SIZE (e.g. 512k; default off) turns it on with a sampling
 * interval in bytes; alloc.mode picks the engine:
 *   sample     (default where the JVM has it, JDK 11+): JVMTI
 *              SampledObjectAlloc + SetHeapSamplingInterval(SIZE). HotSpot
 *              picks sample points at geometric random byte distances of mean
 *              SIZE, so an object of s bytes is sampled with probability
 *              p = 1 - exp(-s/SIZE); each sample is weighted s/p bytes and
 *              1/p objects (the estimator async-profiler uses), which makes
 *              the profile an unbiased estimate of total bytes and objects.
 *   instrument ClassFileLoadHook + jvmti/classfile.c: calls to the java-shim
 *              (dev.cprof.Alloc, bootstrap class path) after every
 *              newarray/anewarray/multianewarray and at the entry of
 *              java.lang.Object.<init> (so every constructed object, from
 *              any class). The shim samples by bytes in Java (per-thread
 *              countdown, exponential random intervals of mean SIZE; only a
 *              sample calls the native side), so cost stays bounded. Classes
 *              loaded before the hook are retransformed. Misses allocations
 *              that run no bytecode: reflection (Array.newInstance), JNI,
 *              clone(), and JIT intrinsics of Arrays.copyOf & co.
 * Samples go to the agent's ring as CP_SAMPLE_ALLOC (value = bytes, count =
 * objects) with the allocated class as the leaf ("[alloc] java.lang.String",
 * CP_FRAME_ALLOC).
 *
 * The shim jar is found next to the .so (install layout), at
 * ../java-shim/src/cprof-shim.jar from it (build layout), or at $CPROF_SHIM.
 *
 * This module uses its own jvmtiEnv (own capabilities and event callbacks),
 * so it does not touch agent.c's callbacks.
 *
 * Wiring (agent.c): after options are parsed and the ring exists, in
 * Agent_OnLoad and Agent_OnAttach (also on re-attach with new options):
 *     cp_alloc_start(vm, &opts, ring);
 * and at VMDeath / detach: cp_alloc_stop().
 *
 * Thread: start/stop from the agent's lifecycle (serialised by it). The
 * JVMTI callbacks and the shim natives run on Java threads. Not signal-safe. */
#ifndef CP_ALLOC_H
#define CP_ALLOC_H

#include <jni.h>
#include <jvmti.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "ring.h"

/* Applies o->alloc_bytes / o->alloc_mode: starts, reconfigures or (alloc=off)
 * stops allocation profiling. In the OnLoad phase the work finishes at
 * VMInit. Returns 0, or CP_EUNSUPP when neither engine can run (logged once;
 * the JVM is unaffected). ring is borrowed for the agent's lifetime. */
int  cp_alloc_start(JavaVM *vm, const cp_options_t *o, cp_ring_t *ring);

/* Stops recording: the sampling event is disabled and the shim goes quiet
 * (instrumented code stays, as one well-predicted branch per allocation). */
void cp_alloc_stop(void);

/* Detach: cp_alloc_stop(), then every class instrumented so far is
 * retransformed back to its original bytes and ClassFileLoadHook is
 * disabled, so nothing calls into the shim afterwards. The shim classes
 * themselves stay loaded (a class on the boot class path cannot be
 * unloaded); a later start reuses them. Thread: agent lifecycle, live phase. */
void cp_alloc_detach(void);

typedef struct cp_alloc_report {
    const char *mode;             /* "sample", "instrument" or "off" */
    uint64_t samples;             /* samples pushed to the ring */
    uint64_t drops;               /* samples lost (ring full, JVMTI error) */
    uint64_t classes_rewritten;   /* instrument: classes changed */
    uint64_t classes_skipped;     /* instrument: classes the rewriter left alone */
    uint64_t sites;               /* instrument: call sites inserted */
    uint64_t retransform_failed;  /* instrument: already-loaded classes not retransformed */
    uint64_t hook_calls;          /* ClassFileLoadHook callbacks received */
} cp_alloc_report_t;

/* Snapshot of the module's counters (any thread). */
void cp_alloc_report(cp_alloc_report_t *r /* OUT */);

#endif
