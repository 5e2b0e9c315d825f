/* class_events.c - the class and JIT events the agent keeps on while it
 * samples (agent.c enables them): ClassLoad (AGCT fails without it),
 * ClassPrepare (a jmethodID for every method, so AGCT can name frames) and
 * CompiledMethodLoad (inline records for codemap.h), with their counts for
 * the detach/re-attach log. See class_events.h.
 *
 * Threads: the callbacks on the JVM's threads; cp_class_events_load_all on
 * the harvester or the attaching thread; counts from any thread. */
#include "class_events.h"

#include <stdatomic.h>

#include "codemap.h"
#include "cost.h"
#include "log.h"

static _Atomic uint64_t n_class_load, n_class_prepare, n_compiled;

/* Creates jmethodIDs for every method of klass (GetClassMethods does that as
 * a side effect): AGCT can only name frames whose method has one. */
static void load_methods(jvmtiEnv *jvmti, jclass klass)
{
    jint n = 0;
    jmethodID *ms = NULL;
    if ((*jvmti)->GetClassMethods(jvmti, klass, &n, &ms) == JVMTI_ERROR_NONE && ms)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)ms);
}

void cp_class_events_load_all(jvmtiEnv *jvmti, JNIEnv *jni)
{
    jint n = 0;
    jclass *classes = NULL;
    if ((*jvmti)->GetLoadedClasses(jvmti, &n, &classes) != JVMTI_ERROR_NONE)
        return;
    for (jint i = 0; i < n; i++) {
        jint status = 0;
        if ((*jvmti)->GetClassStatus(jvmti, classes[i], &status) == JVMTI_ERROR_NONE &&
            (status & JVMTI_CLASS_STATUS_PREPARED))
            load_methods(jvmti, classes[i]);
        if (jni)
            (*jni)->DeleteLocalRef(jni, classes[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
    CP_LOGD("jmethodIDs created for %d loaded classes", n);
}

void JNICALL cp_on_class_load(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k)
{
    /* Nothing else on purpose: AGCT reports no_class_load for every sample
     * unless some agent has ClassLoad events enabled. */
    atomic_fetch_add_explicit(&n_class_load, 1, memory_order_relaxed);   /* statistic */
}

void JNICALL cp_on_class_prepare(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k)
{
    uint64_t c0 = cp_cost_now();
    atomic_fetch_add_explicit(&n_class_prepare, 1, memory_order_relaxed);   /* statistic */
    load_methods(jvmti, k);
    cp_cost_callback(c0);
}

void JNICALL cp_on_compiled_method_load(jvmtiEnv *jvmti, jmethodID m, jint size, const void *addr,
                                         jint map_len, const jvmtiAddrLocationMap *map, const void *info)
{
    /* Having this event enabled makes the JIT record debug info at
     * non-safepoints (the DebugNonSafepoints effect). The inline records
     * tell compiled and inlined frames apart (codemap.h). */
    uint64_t c0 = cp_cost_now();
    atomic_fetch_add_explicit(&n_compiled, 1, memory_order_relaxed);   /* statistic */
    cp_codemap_add(info);
    cp_cost_callback(c0);
}

void cp_class_events_counts(uint64_t out[3])
{
    out[0] = atomic_load_explicit(&n_class_load, memory_order_relaxed);      /* statistics */
    out[1] = atomic_load_explicit(&n_class_prepare, memory_order_relaxed);
    out[2] = atomic_load_explicit(&n_compiled, memory_order_relaxed);
}
