/* harvest_int.h - what harvest.c lends the harvester's other files
 * (harvest_py.c, harvest_names.c). Every function here runs on the harvester thread with
 * dict_mu held (inside a drain). */
#ifndef CP_HARVEST_INT_H
#define CP_HARVEST_INT_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

/* Interns a frame (class "" for synthetic ones); 0 on OOM. */
uint32_t cp__harvest_frame(const char *cls, const char *method, uint8_t kind);
/* Interns a stack (frame ids, root first) and adds v to its value of
 * sample type `type` (CP_TYPE_*) in the open window, labelled with label
 * set `labels` (lsets.h; 0 = none). */
void cp__harvest_add(const uint32_t *frames, uint32_t n, uint32_t type, uint64_t v, uint32_t labels);
/* The dictionary's generation: frame ids of an older one are gone. */
uint32_t cp__harvest_gen(void);

/* The dictionary in use (dict_mu held). */
struct cp_stack_dict;
struct cp_stack_dict *cp__harvest_dict(void);

/* harvest_names.c: frame and string ids for what samples hold. */
void cp__names_init(jvmtiEnv *jvmti);
void cp__names_reset(void);                     /* the dictionary was replaced */
uint32_t cp__names_str(const char *s);          /* a string id; 0 on OOM */
uint32_t cp__names_synthetic(const char *text, uint8_t kind);
/* A Java frame (lineno -3: a native method); 0 on OOM. */
uint32_t cp__names_java(JNIEnv *jni, jmethodID m, jint lineno, uint8_t kind);
/* A native frame for pc (ret: a return address); *entry (OUT, may be NULL):
 * a thread's entry function. */
uint32_t cp__names_native(uint64_t pc, bool ret, bool *entry);
const char *cp__names_thread_kind(const char *name);      /* "JIT", "GC", "VM", "cprof", "native" */
const char *cp__names_thread_display(const char *comm);   /* kernel-cut names made whole */
const char *cp__names_fail(int agct_code);                /* "[GC_active]", ... */

/* harvest_py.c: drains the Python sampler's queue into the window. */
void cp__harvest_py_drain(jvmtiEnv *jvmti, JNIEnv *jni);

#endif
