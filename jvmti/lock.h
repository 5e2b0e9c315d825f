/* lock.h - lock contention profiling: time blocked per stack and lock class.
 *
 * Option lock=DURATION (e.g. 10ms; default off) turns it on. Two sources:
 *   monitors  JVMTI MonitorContendedEnter/Entered: a thread that had to wait
 *             for a `synchronized` monitor; the wait is Entered - Enter.
 *   parking   java.util.concurrent (ReentrantLock, conditions, queues...):
 *             LockSupport.park* is instrumented with jvmti/classfile.c
 *             (CP_CF_HOOK_PARK) to call dev.cprof.Lock.parkEnter/parkExit,
 *             which time the park in Java and call a native for samples.
 *             Parking includes idle waits (a pool worker waiting for work):
 *             they show under their own stacks and blocker class.
 * DURATION is a sampling interval in wait time, like alloc's in bytes: a
 * wait of d >= DURATION is always recorded with weight d; a shorter one with
 * probability d/DURATION and weight DURATION (count DURATION/d), so totals
 * per stack are unbiased while short waits cost almost nothing.
 * Samples: CP_SAMPLE_LOCK, value = ns waited, count = waits; the leaf is the
 * lock's class, "[lock] java.lang.Object" (parking: the blocker's class, or
 * "[lock] park" without a blocker), kind CP_FRAME_LOCK.
 *
 * Own jvmtiEnv. Wiring (agent.c): cp_lock_start(vm, &opts, ring) in
 * Agent_OnLoad/OnAttach (also on re-attach), cp_lock_stop() at VMDeath/detach.
 *
 * Thread: start/stop from the agent lifecycle; callbacks on Java threads. */
#ifndef CP_LOCK_H
#define CP_LOCK_H

#include <jni.h>
#include <stdint.h>

#include "options.h"
#include "ring.h"

/* Applies o->lock_ns (0 = off). Returns 0 or CP_EUNSUPP (logged). */
int  cp_lock_start(JavaVM *vm, const cp_options_t *o, cp_ring_t *ring);
void cp_lock_stop(void);
/* Detach: cp_lock_stop(), then LockSupport is retransformed back to its
 * original bytes. Thread: agent lifecycle, live phase. */
void cp_lock_detach(void);

typedef struct cp_lock_report {
    uint64_t contended;   /* monitor contentions seen */
    uint64_t parks;       /* parks timed by the shim (reported through samples only) */
    uint64_t samples;     /* samples pushed */
    uint64_t drops;
    int      park_hooked; /* 1 if LockSupport was instrumented */
} cp_lock_report_t;

void cp_lock_report(cp_lock_report_t *r /* OUT */);

#endif
