/* jvm_args.h - what the user gave the JVM on its command line.
 *
 * The launcher's arguments (/proc/self/cmdline) and the option variables
 * the JVM reads (JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS), for
 * the agent's modules that must leave a user's explicit choice alone
 * (-Xcheck:jni: no crash guard; -XX:[+-]DebugNonSafepoints: not set).
 *
 * Thread: any, not signal handlers (reads a file). */
#ifndef CP_JVM_ARGS_H
#define CP_JVM_ARGS_H

#include <stdbool.h>

/* true if one argument of the command line (its first 64 KiB), or one of
 * the option variables, contains `needle`. */
bool cp_jvm_args_mention(const char *needle);

#endif
