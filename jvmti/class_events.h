/* class_events.h - ClassLoad, ClassPrepare and CompiledMethodLoad: the
 * callbacks agent.c installs, jmethodIDs for classes loaded before, and how
 * many of each arrived. */
#ifndef CP_JVMTI_CLASS_EVENTS_H
#define CP_JVMTI_CLASS_EVENTS_H

#include <jvmti.h>
#include <stdint.h>

void JNICALL cp_on_class_load(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k);
void JNICALL cp_on_class_prepare(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k);
void JNICALL cp_on_compiled_method_load(jvmtiEnv *jvmti, jmethodID m, jint size, const void *addr,
                                         jint map_len, const jvmtiAddrLocationMap *map, const void *info);

/* Creates jmethodIDs for every method of every prepared class loaded so far
 * (jni may be NULL: no local refs deleted). */
void cp_class_events_load_all(jvmtiEnv *jvmti, JNIEnv *jni);

/* Callbacks so far: ClassLoad, ClassPrepare, CompiledMethodLoad. */
void cp_class_events_counts(uint64_t out[3]);

#endif
