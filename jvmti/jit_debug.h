/* jit_debug.h - makes HotSpot's JIT record debug info at non-safepoints, so
 * AsyncGetCallTrace can place a sample in the inlined method it was taken
 * in rather than in the compiled caller (issue 14).
 *
 * Two ways: enabling the CompiledMethodLoad event does it as a side effect
 * (DebugInformationRecorder records non-safepoints whenever that event is
 * on), but then the JVM builds an inline record for every compiled method
 * and posts it: ~5-10% more CPU on compile-heavy programs (javac). Or the
 * -XX flag DebugNonSafepoints (a diagnostic flag: a bool in libjvm that
 * only its .symtab names) is set directly, as async-profiler does; this is
 * what the agent does unless `jit.kinds=on` asks for the inline records.
 * A user's own -XX:[+-]DebugNonSafepoints (command line, JAVA_TOOL_OPTIONS,
 * _JAVA_OPTIONS, JDK_JAVA_OPTIONS) is left as it is.
 *
 * Set from Agent_OnLoad, before the JIT compiles much; at a late attach,
 * methods compiled earlier keep their debug info until recompiled.
 *
 * Thread: agent lifecycle (OnLoad/OnAttach). Not signal-safe. */
#ifndef CP_JIT_DEBUG_H
#define CP_JIT_DEBUG_H

/* 0: the flag is on (set now, or already on); 1: the user set it
 * explicitly (left alone); CP_ENOTFOUND: libjvm names no such flag (the
 * caller falls back to CompiledMethodLoad). *how (OUT) says which, for
 * the log. Reads libjvm's symbol table (~1.5 ms). */
int cp_jit_debug_nonsafepoints(const char **how);

/* The same on a thread of its own, started at Agent_OnLoad so the JVM's
 * main thread does not wait for it (the JIT compiles little before
 * VMInit); cp_jit_debug_wait() joins it and returns its result (falls
 * back to running it here if the thread could not start). Once each. */
void cp_jit_debug_start(void);
int cp_jit_debug_wait(const char **how);

#endif
