/* ctx_vthread.c - republishes a virtual thread's context when it mounts and
 * clears the carrier's slot when it unmounts (design in ctx_vthread.h).
 *
 * Own jvmtiEnv: the extension events and can_support_virtual_threads are
 * asked for only when request context is first used. The context itself
 * lives in the shim (dev.cprof.Ctx keeps it in a ThreadLocal, so per
 * virtual thread): the mount callback, which runs on the carrier with the
 * virtual thread mounted, calls Ctx.refresh() to write it to the slot.
 *
 * HotSpot filters these two extension events per thread like standard
 * thread-filtered events: SetExtensionEventCallback alone delivers
 * nothing (measured on Temurin 25), SetEventNotificationMode(JVMTI_ENABLE,
 * index) is needed too.
 *
 * Threads: callbacks on carriers, for the virtual thread mounted there. */
#include "ctx_vthread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <jvmti.h>

#include "context.h"
#include "error.h"
#include "log.h"

/* The build's jvmti.h may be JDK 17's, which predates virtual threads: the
 * JDK 21 names are spelled out here (values from JDK 21's jvmti.h). */
#define CP_JVMTI_VERSION_21          0x30150000
#define CP_EVENT_VIRTUAL_THREAD_END  88

/* jvmtiEventCallbacks of JDK 17 end at event 86; 87 and 88 follow. */
typedef struct cb21 {
    jvmtiEventCallbacks base;
    void *virtual_thread_start;
    void (JNICALL *virtual_thread_end)(jvmtiEnv *, JNIEnv *, jthread);
} cb21_t;

/* can_support_virtual_threads is the bit after
 * can_generate_sampled_object_alloc_events (JDK 21 added it there). */
static void cap_virtual_threads(jvmtiCapabilities *c)
{
    jvmtiCapabilities probe;
    unsigned char *p = (unsigned char *)&probe, *q = (unsigned char *)c;
    memset(&probe, 0, sizeof probe);
    probe.can_generate_sampled_object_alloc_events = 1;
    for (size_t i = 0; i < sizeof probe; i++) {
        if (!p[i]) continue;
        if (p[i] & 0x80) { if (i + 1 < sizeof probe) q[i + 1] |= 1; }   /* LSB-first bit fields (GCC, x86-64) */
        else q[i] |= (unsigned char)(p[i] << 1);
        break;
    }
}

#define EV_MOUNT   "com.sun.hotspot.events.VirtualThreadMount"
#define EV_UNMOUNT "com.sun.hotspot.events.VirtualThreadUnmount"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool tried;
static int result;
static jclass ctx_cls;          /* global ref: dev.cprof.Ctx */
static jmethodID ctx_refresh;   /* static void refresh() */

static void clear_slot(void)
{
    cp_context_t zero;
    memset(&zero, 0, sizeof zero);
    cp_context_set(&zero);
}

/* Mounted: the virtual thread's own context (its Ctx ThreadLocal) goes to
 * the carrier's slot. */
static void JNICALL on_mount(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    (*jni)->CallStaticVoidMethod(jni, ctx_cls, ctx_refresh);
    if ((*jni)->ExceptionCheck(jni)) {
        (*jni)->ExceptionClear(jni);
        clear_slot();
    }
}

/* Unmounting: the carrier runs without a context until the next mount. */
static void JNICALL on_unmount(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    clear_slot();
}

/* Ends mounted: its context must not outlive it on the carrier. */
static void JNICALL on_end(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    clear_slot();
}

static int find_event(jvmtiEnv *e, const char *id)
{
    jint n = 0;
    jvmtiExtensionEventInfo *ev = NULL;
    int idx = -1;
    if ((*e)->GetExtensionEvents(e, &n, &ev) != JVMTI_ERROR_NONE) return -1;
    for (jint i = 0; i < n; i++) {
        if (idx < 0 && strcmp(ev[i].id, id) == 0) idx = ev[i].extension_event_index;
        (*e)->Deallocate(e, (unsigned char *)ev[i].id);
        (*e)->Deallocate(e, (unsigned char *)ev[i].short_description);
        for (jint k = 0; k < ev[i].param_count; k++)
            (*e)->Deallocate(e, (unsigned char *)ev[i].params[k].name);
        (*e)->Deallocate(e, (unsigned char *)ev[i].params);
    }
    (*e)->Deallocate(e, (unsigned char *)ev);
    return idx;
}

static jvmtiEnv *g_env;          /* with can_support_virtual_threads, from OnLoad */
static int g_mount = -1, g_unmount = -1;

int cp_ctx_vthread_init(JavaVM *vm)
{
    jvmtiEnv *e = NULL;
    pthread_mutex_lock(&mu);
    if (g_env || !vm) {
        pthread_mutex_unlock(&mu);
        return g_env ? 0 : CP_EINVAL;
    }
    if ((*vm)->GetEnv(vm, (void **)&e, CP_JVMTI_VERSION_21) != JNI_OK || !e) {
        pthread_mutex_unlock(&mu);
        return CP_EUNSUPP;                          /* before JDK 21: no virtual threads */
    }
    g_mount = find_event(e, EV_MOUNT);
    g_unmount = find_event(e, EV_UNMOUNT);
    jvmtiCapabilities caps;
    memset(&caps, 0, sizeof caps);
    cap_virtual_threads(&caps);
    jvmtiError cerr = g_mount < 0 || g_unmount < 0 ? JVMTI_ERROR_NOT_AVAILABLE : (*e)->AddCapabilities(e, &caps);
    if (cerr != JVMTI_ERROR_NONE) {
        CP_LOGD("context: no virtual-thread support here (events %d/%d, AddCapabilities %d)", g_mount, g_unmount, cerr);
        (*e)->DisposeEnvironment(e);
        pthread_mutex_unlock(&mu);
        return CP_EUNSUPP;
    }
    g_env = e;
    pthread_mutex_unlock(&mu);
    CP_LOGD("context: can_support_virtual_threads on (mount events later, when context is used)");
    return 0;
}

static int start(JavaVM *vm, JNIEnv *jni, jclass ctx)
{
    jvmtiEnv *e = g_env;
    if (!e) {
        CP_LOGI("context: virtual-thread mount events off; a virtual thread's context may show on the "
                "next one of its carrier");
        return CP_EUNSUPP;
    }
    ctx_refresh = ctx ? (*jni)->GetStaticMethodID(jni, ctx, "refresh", "()V") : NULL;
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); ctx_refresh = NULL; }
    if (!ctx_refresh) {
        CP_LOGW("context: dev.cprof.Ctx.refresh not found (an older shim?); virtual threads not tracked");
        return CP_ENOTFOUND;
    }
    ctx_cls = (*jni)->NewGlobalRef(jni, ctx);
    cb21_t cb;
    memset(&cb, 0, sizeof cb);
    cb.virtual_thread_end = on_end;
    if ((*e)->SetEventCallbacks(e, &cb.base, (jint)sizeof cb) != JVMTI_ERROR_NONE ||
        (*e)->SetExtensionEventCallback(e, g_mount, (jvmtiExtensionEvent)on_mount) != JVMTI_ERROR_NONE ||
        (*e)->SetExtensionEventCallback(e, g_unmount, (jvmtiExtensionEvent)on_unmount) != JVMTI_ERROR_NONE ||
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, (jvmtiEvent)CP_EVENT_VIRTUAL_THREAD_END, NULL) != JVMTI_ERROR_NONE ||
        /* the callback alone does not enable them: HotSpot filters the
         * two per thread, like standard thread-filtered events */
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, (jvmtiEvent)g_mount, NULL) != JVMTI_ERROR_NONE ||
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, (jvmtiEvent)g_unmount, NULL) != JVMTI_ERROR_NONE) {
        CP_LOGW("context: cannot enable the virtual-thread mount events");
        return CP_EUNSUPP;
    }
    CP_LOGI("context: virtual-thread mount/unmount tracked (context per virtual thread)");
    return 0;
}

int cp_ctx_vthread_start(JavaVM *vm, JNIEnv *jni, jclass ctx)
{
    pthread_mutex_lock(&mu);
    if (!tried && vm && jni) {
        tried = true;
        result = start(vm, jni, ctx);
    }
    int rc = tried ? result : CP_EINVAL;
    pthread_mutex_unlock(&mu);
    return rc;
}
