/* ctx_vthread.c - saves and restores the context slot when a virtual thread
 * unmounts and mounts (design in ctx_vthread.h).
 *
 * Own jvmtiEnv: the extension events and can_support_virtual_threads are
 * asked for only when request context is first used. The saved copy is a
 * malloc'd cp_context_t in the virtual thread's JVMTI thread-local storage
 * (one per virtual thread that ever unmounted with a context), freed at
 * VirtualThreadEnd; a thread that ends while mounted frees it too.
 *
 * Threads: callbacks on carriers, each for the virtual thread mounted
 * there; a virtual thread's storage is touched only by the carrier it is
 * mounted on, so no lock. */
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

static bool empty(const cp_context_t *c)
{
    return !c->labels && !c->trace_hi && !c->trace_lo && !c->span;
}

static void JNICALL on_mount(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    cp_context_t *saved = NULL, c;
    memset(&c, 0, sizeof c);
    if ((*e)->GetThreadLocalStorage(e, vt, (void **)&saved) == JVMTI_ERROR_NONE && saved)
        c = *saved;
    cp_context_set(&c);
}

static void JNICALL on_unmount(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    cp_context_t c, *saved = NULL;
    cp_context_get(&c);
    (*e)->GetThreadLocalStorage(e, vt, (void **)&saved);
    if (!empty(&c) || saved) {
        if (!saved && (saved = malloc(sizeof *saved)) != NULL &&
            (*e)->SetThreadLocalStorage(e, vt, saved) != JVMTI_ERROR_NONE) {
            free(saved);
            saved = NULL;
        }
        if (saved) *saved = c;
    }
    memset(&c, 0, sizeof c);
    cp_context_set(&c);           /* the carrier runs without a context until the next mount */
}

static void JNICALL on_end(jvmtiEnv *e, JNIEnv *jni, jthread vt)
{
    cp_context_t *saved = NULL, zero;
    if ((*e)->GetThreadLocalStorage(e, vt, (void **)&saved) == JVMTI_ERROR_NONE && saved) {
        (*e)->SetThreadLocalStorage(e, vt, NULL);
        free(saved);
    }
    memset(&zero, 0, sizeof zero);
    cp_context_set(&zero);        /* ends mounted: its context must not outlive it on the carrier */
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

static int start(JavaVM *vm)
{
    jvmtiEnv *e = NULL;
    if ((*vm)->GetEnv(vm, (void **)&e, CP_JVMTI_VERSION_21) != JNI_OK || !e)
        return CP_EUNSUPP;                          /* before JDK 21: no virtual threads */
    int mount = find_event(e, EV_MOUNT), unmount = find_event(e, EV_UNMOUNT);
    jvmtiCapabilities caps;
    memset(&caps, 0, sizeof caps);
    cap_virtual_threads(&caps);
    if (mount < 0 || unmount < 0 || (*e)->AddCapabilities(e, &caps) != JVMTI_ERROR_NONE) {
        CP_LOGW("context: no virtual-thread mount events here; a virtual thread's context may show on the next one of its carrier");
        (*e)->DisposeEnvironment(e);
        return CP_EUNSUPP;
    }
    cb21_t cb;
    memset(&cb, 0, sizeof cb);
    cb.virtual_thread_end = on_end;
    if ((*e)->SetEventCallbacks(e, &cb.base, (jint)sizeof cb) != JVMTI_ERROR_NONE ||
        (*e)->SetExtensionEventCallback(e, mount, (jvmtiExtensionEvent)on_mount) != JVMTI_ERROR_NONE ||
        (*e)->SetExtensionEventCallback(e, unmount, (jvmtiExtensionEvent)on_unmount) != JVMTI_ERROR_NONE ||
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, (jvmtiEvent)CP_EVENT_VIRTUAL_THREAD_END, NULL) != JVMTI_ERROR_NONE) {
        CP_LOGW("context: cannot enable the virtual-thread mount events");
        return CP_EUNSUPP;
    }
    CP_LOGI("context: virtual-thread mount/unmount tracked (context per virtual thread)");
    return 0;
}

int cp_ctx_vthread_start(JavaVM *vm)
{
    pthread_mutex_lock(&mu);
    if (!tried && vm) {
        tried = true;
        result = start(vm);
    }
    int rc = tried ? result : CP_EINVAL;
    pthread_mutex_unlock(&mu);
    return rc;
}
