/* ctx_vthread.h - request context per virtual thread (JDK 21+).
 *
 * The context slot the signal handler reads belongs to the OS thread
 * (context.h), so under virtual threads it belongs to the carrier: without
 * help, a virtual thread that unmounts leaves its context in the carrier's
 * slot and the next virtual thread mounted there is sampled with it. This
 * module listens to HotSpot's VirtualThreadMount/VirtualThreadUnmount
 * extension events (they run on the carrier, with the virtual thread
 * mounted): at unmount the slot is cleared; at mount the virtual thread's
 * own context (the shim keeps it per Java thread, Ctx's ThreadLocal) is
 * published again with Ctx.refresh(), one JNI call per mount.
 *
 * The JVM sends these events only if an agent had can_support_virtual_threads
 * when the VM started (added later, in the live phase, the JVM accepts it but
 * never notifies: measured on Temurin 25), so cp_ctx_vthread_init asks for
 * the capability in the OnLoad phase; that alone makes each mount/unmount
 * check a flag in the VM. The events themselves (and the JNI call per mount)
 * are enabled only once request context is in use (the first hooked HTTP
 * entry class, ctxhook.c). An agent attached to a running JVM cannot track
 * virtual threads. A JVM without the events (JDK 17) has no virtual threads.
 * Option context.vthreads=off (ctxhook.c) skips the capability.
 *
 * Thread: cp_ctx_vthread_start from any Java thread (once, serialised
 * inside); the callbacks on carriers. Not signal-safe. */
#ifndef CP_CTX_VTHREAD_H
#define CP_CTX_VTHREAD_H

#include <jni.h>

/* OnLoad phase: asks for can_support_virtual_threads on an environment of
 * this module. Returns 0, or CP_EUNSUPP (JDK < 21, or refused). */
int cp_ctx_vthread_init(JavaVM *vm);

/* Enables the mount/unmount tracking once per JVM (after
 * cp_ctx_vthread_init succeeded at OnLoad); ctx: the class
 * dev.cprof.Ctx whose refresh() publishes the mounted thread's context.
 * Returns 0, CP_EUNSUPP when this JVM has no virtual-thread events
 * (nothing to do), CP_ENOTFOUND without Ctx.refresh. */
int cp_ctx_vthread_start(JavaVM *vm, JNIEnv *jni, jclass ctx);

#endif
