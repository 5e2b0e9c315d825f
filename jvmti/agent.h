/* agent.h - the agent's lifecycle and what producer modules may ask of it.
 *
 * libcprof-jvm.so is loaded with -agentpath (Agent_OnLoad) or by dynamic
 * attach (Agent_OnAttach). One agent state per process: attaching again to
 * a JVM that already runs it reconfigures it (same .so path -> same
 * library) instead of starting a second copy; options command=detach stops
 * sampling, flushes, and disconnects (see options.h).
 *
 * Start-up order (OnLoad): options (env, then option string) -> log ->
 * JVMTI capabilities and events (ClassLoad, ClassPrepare, ThreadStart/End,
 * CompiledMethodLoad, VMInit, VMDeath) -> ring, harvester state, sampler
 * handlers -> cp_alloc_start(). At VMInit: app name, sender thread,
 * harvester thread, timers. OnAttach does the VMInit part at once, after
 * creating jmethodIDs for every loaded class.
 *
 * Why these events: AsyncGetCallTrace needs ClassLoad enabled (even with an
 * empty callback, or every sample fails with no_class_load) and needs
 * jmethodIDs for every method (ClassPrepare -> GetClassMethods). Enabling
 * CompiledMethodLoad makes HotSpot record debug info at non-safepoints
 * (DebugInformationRecorder::compute_recording_non_safepoints), which is
 * what -XX:+DebugNonSafepoints does: inlined frames come out right.
 *
 * VM exit: VMDeath stops the timers, closes the last window (<= 0.5 s) and
 * lets the sender push it (<= 1.5 s more, only while connected), so exit
 * never waits more than ~2 s.
 *
 * Producer modules (alloc, lock, gc) use their own jvmtiEnv for their
 * capabilities and callbacks, and record samples with cp_ring_push_jvmti()
 * on cp_agent_ring(), and time series with cp_points_add() (harvest.h). */
#ifndef CP_AGENT_H
#define CP_AGENT_H

#include "options.h"
#include "ring.h"

/* The sample ring, or NULL before the agent has initialised. Borrowed for
 * the process lifetime (never freed once created). Any thread. */
cp_ring_t *cp_agent_ring(void);

/* A copy of the effective options. Any thread. */
void cp_agent_options(cp_options_t *out /* OUT */);

#endif
