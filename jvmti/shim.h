/* shim.h - finds cprof-shim.jar and puts its classes into the boot loader,
 * for every user of dev.cprof.* (request-context hooks, alloc.mode=instrument,
 * lock's LockSupport.park hook), so every class loader sees them.
 *
 * Every class of the jar is defined straight into the boot loader with JNI
 * DefineClass(loader NULL), all at once (~20 small classes, nested ones
 * included, since the boot loader cannot find them later by name). Not
 * JVMTI AddToBootstrapClassLoaderSearch: changing the boot class path makes
 * HotSpot print "Sharing is only supported for boot loader classes because
 * bootstrap classpath has been appended" and stop using CDS for platform
 * and application classes, which slows every class load (issue 14).
 *
 * The jar is $CPROF_SHIM, cprof-shim.jar next to the agent .so, or the build
 * and install layouts relative to it.
 *
 * Thread: any Java thread in the live phase (a ClassFileLoadHook too);
 * serialised inside. Not signal-safe. */
#ifndef CP_SHIM_H
#define CP_SHIM_H

#include <jni.h>
#include <stdbool.h>
#include <stddef.h>

/* Finds cprof-shim.jar; false when there is none (out holds the last try). */
bool cp_shim_find_jar(char *out, size_t outsz);

/* Defines the shim's classes in the boot loader, once per JVM (later calls
 * return the first result). Returns 0, CP_ENOTFOUND (no jar), CP_EIO (an
 * unreadable jar or a class the JVM refused; logged once). */
int cp_shim_define(JNIEnv *jni);

#endif
