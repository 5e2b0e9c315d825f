/* harvest_int.h - what harvest.c lends the harvester's other files
 * (harvest_py.c). Every function here runs on the harvester thread with
 * dict_mu held (inside a drain). */
#ifndef CP_HARVEST_INT_H
#define CP_HARVEST_INT_H

#include <jvmti.h>
#include <stdint.h>

/* Interns a frame (class "" for synthetic ones); 0 on OOM. */
uint32_t cp__harvest_frame(const char *cls, const char *method, uint8_t kind);
/* Interns a stack (frame ids, root first) and adds v to its value of
 * sample type `type` (CP_TYPE_*) in the open window, labelled with label
 * set `labels` (lsets.h; 0 = none). */
void cp__harvest_add(const uint32_t *frames, uint32_t n, uint32_t type, uint64_t v, uint32_t labels);
/* The dictionary's generation: frame ids of an older one are gone. */
uint32_t cp__harvest_gen(void);

/* harvest_py.c: drains the Python sampler's queue into the window. */
void cp__harvest_py_drain(jvmtiEnv *jvmti, JNIEnv *jni);

#endif
