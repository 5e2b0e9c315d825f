/* agent_thread.h - the agent's JVMTI agent threads (cprof-harvester,
 * cprof-sender, cprof-gc), started by name and waited for until the JVM no
 * longer counts them.
 *
 * Why: a JVMTI agent thread is a JavaThread, and while its C code runs it is
 * "in native". HotSpot's exit (VM_Exit::wait_for_threads_in_native_to_block,
 * at the final safepoint) polls every 10 ms, up to 300 ms, while any Java
 * thread is in native. A thread that has told its stopper "done" still runs
 * a little native code (unlock, return, its own ThreadEnd callback) before
 * the JVM sees it leave; if the JVM's exit looks then, every exit pays a
 * whole 10 ms tick. The sender and cprof-gc run at nice +10 (cost.h), so the
 * main thread they wake usually preempts them right there.
 *
 * Threads: cp_agent_thread_start on any thread with a JNIEnv in the live
 * phase; cp_agent_thread_wait_gone and cp_agent_thread_alive on the JVM's
 * VMDeath thread (or the agent's lifecycle, life_mu held). Not signal-safe. */
#ifndef CPROF_AGENT_THREAD_H
#define CPROF_AGENT_THREAD_H

#include <jvmti.h>

/* Starts fn(jvmti, jni, arg) on a new java.lang.Thread named name at normal
 * priority (RunAgentThread on jvmti) and remembers it (a global ref) for
 * cp_agent_thread_wait_gone. Clears any pending exception. 0 or CP_ESTATE. */
int cp_agent_thread_start(jvmtiEnv *jvmti, JNIEnv *jni, const char *name, jvmtiStartFunction fn,
                          void *arg);

/* Thread: an agent thread started above, right before it tells whoever
 * stops it that it is done (then it only returns). Elsewhere a no-op. */
void cp_agent_thread_ending(void);

/* Waits, at most timeout_ms, until every agent thread that is ending (it
 * called cp_agent_thread_ending or its function returned) is TERMINATED to
 * the JVM: past its ThreadEnd and out of native for good. Threads still in
 * their function are not waited for (a stop that timed out: the JVM's own
 * bound applies). Forgets terminated threads. Returns how many ending
 * threads were still not terminated. */
int cp_agent_thread_wait_gone(JNIEnv *jni, int timeout_ms);

/* How many started agent threads the JVM still counts as alive (not
 * TERMINATED), returned or not. For the exit line's self-check. */
int cp_agent_thread_alive(void);

#endif
