/* gc.h - GC pauses, heap and thread-state time series.
 *
 * Points it adds (cp_points_add, harvest.h), all with the unix-ms time of
 * the event or reading:
 *   gc.pause_ns          one per stop-the-world collection: its duration
 *                        (JVMTI GarbageCollectionStart -> Finish); beyond 16
 *                        pauses in one second the rest are summed into one
 *                        point (bounded wire volume in GC storms)
 *   gc.count             pauses since the previous reading (every tick with >0)
 *   gc.heap_after_bytes  heap used read just after a pause (by the gc thread,
 *                        so allocation since the pause may be included;
 *                        JVMTI's GC callbacks cannot read the heap themselves)
 *   heap.used_bytes, heap.committed_bytes          every 5 s
 *   threads.runnable, threads.blocked, threads.waiting, threads.timed_waiting
 *                        live Java threads by state, every 5 s
 * JVMTI posts GarbageCollectionStart/Finish for full stop-the-world
 * collections only (HotSpot: young and full pauses of Serial/Parallel/G1;
 * not G1's remark/cleanup pauses nor the concurrent phases; ZGC/Shenandoah
 * pauses are not reported at all). -Xlog:gc "Pause Young"/"Pause Full"
 * lines are the matching reference.
 *
 * Threads: the GC callbacks run in the VM thread inside the safepoint and
 * may only use raw monitors and memory: they write into a preallocated
 * single-producer ring and notify. The "cprof-gc" JVMTI agent thread drains
 * it, reads heap and thread states, and adds the points.
 *
 * Own jvmtiEnv, independent of agent.c's callbacks.
 * Wiring (agent.c): cp_gc_start(vm, on) in Agent_OnLoad/OnAttach (on: the
 * `gc` option, default on: costs two callbacks per GC and a wake-up per
 * second), cp_gc_spawn(jni) from the harvester's first work (the thread
 * VMInit leaves), cp_gc_stop() at VMDeath/detach: it disables the GC
 * events and ends the cprof-gc thread (bounded wait, 1 s). */
#ifndef CP_GC_H
#define CP_GC_H

#include <jni.h>
#include <stdbool.h>
#include <stdint.h>

/* Starts (on = true) or stops GC/thread reporting. In the OnLoad phase the
 * thread is created by cp_gc_spawn after VMInit. Returns 0 or CP_EUNSUPP
 * (logged). Idempotent. */
int  cp_gc_start(JavaVM *vm, bool on);
void cp_gc_stop(void);
/* Creates the cprof-gc thread VMInit left (no-op otherwise, and after a
 * stop): on the agent's harvester, off the JVM's start-up. */
void cp_gc_spawn(JNIEnv *jni);

typedef struct cp_gc_report {
    uint64_t pauses;      /* GC pauses seen */
    uint64_t pause_ns;    /* their total duration */
    uint64_t dropped;     /* pauses lost because the ring was full */
} cp_gc_report_t;

void cp_gc_report(cp_gc_report_t *r /* OUT */);

#endif
