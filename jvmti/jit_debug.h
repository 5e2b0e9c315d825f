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
 * Set at VMInit (the JIT compiles little before it); at a late attach,
 * methods compiled earlier keep their debug info until recompiled. The
 * flag is found through the JVM's VMStructs flag table (cp_vmstructs_find_flag,
 * microseconds), else in libjvm's ELF symbol table (3-5 ms: until stop 33
 * the only way, on a thread of its own from Agent_OnLoad, competing with
 * the JVM's start-up for the CPU).
 *
 * Thread: agent lifecycle (VMInit/OnAttach). Not signal-safe. */
#ifndef CP_JIT_DEBUG_H
#define CP_JIT_DEBUG_H

/* 0: the flag is on (set now, or already on); 1: the user set it
 * explicitly (left alone); CP_ENOTFOUND: libjvm names no such flag (the
 * caller falls back to CompiledMethodLoad). *how (OUT) says which, for
 * the log. Live phase (VMStructs are filled during VM start-up). */
int cp_jit_debug_nonsafepoints(const char **how);

#endif
