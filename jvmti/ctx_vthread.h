/* ctx_vthread.h - request context per virtual thread (JDK 21+).
 *
 * The context slot the signal handler reads belongs to the OS thread
 * (context.h), so under virtual threads it belongs to the carrier: without
 * help, a virtual thread that unmounts leaves its context in the carrier's
 * slot and the next virtual thread mounted there is sampled with it. This
 * module listens to HotSpot's VirtualThreadMount/VirtualThreadUnmount
 * extension events (they run on the carrier, with the virtual thread
 * mounted): at unmount the slot is saved in the virtual thread's JVMTI
 * thread-local storage and cleared; at mount it is restored (or cleared for
 * a thread that never had one). VirtualThreadEnd frees the saved copy.
 *
 * Cost: the capability can_support_virtual_threads makes every mount and
 * unmount call into JVMTI, so the events are enabled only once request
 * context is in use (the first hooked HTTP entry class, ctxhook.c), not at
 * start-up. A JVM without the events (JDK 17) has no virtual threads.
 *
 * Thread: cp_ctx_vthread_start from any Java thread (once, serialised
 * inside); the callbacks on carriers. Not signal-safe. */
#ifndef CP_CTX_VTHREAD_H
#define CP_CTX_VTHREAD_H

#include <jni.h>

/* Enables the mount/unmount tracking once per JVM. Returns 0, or
 * CP_EUNSUPP when this JVM has no virtual-thread events (nothing to do). */
int cp_ctx_vthread_start(JavaVM *vm);

#endif
