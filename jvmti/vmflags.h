/* vmflags.h - a HotSpot -XX flag's storage, found through the JVM's own
 * VMStructs tables (the Serviceability Agent reads flags the same way).
 *
 * JVMFlag::flags (a static JVMFlag*: the array of every flag) and
 * JVMFlag::numFlags, each flag's _name and _addr, and sizeof(JVMFlag) from
 * gHotSpotVMTypes: a walk of ~1,300 names, microseconds. The agent used to
 * find DebugNonSafepoints by scanning libjvm's whole ELF symbol table
 * (~100,000 entries, the file mapped in): 3-5 ms of CPU at every JVM's
 * start-up (jit_debug.c keeps that as the fallback).
 *
 * The tables are filled during VM start-up (vmStructs_init): load them in
 * the live phase (VMInit, attach), not at Agent_OnLoad.
 * Thread: any; no global state. */
#ifndef CP_VMFLAGS_H
#define CP_VMFLAGS_H

#include <stdint.h>

/* Where the tables are and how their entries are laid out (bytes, as
 * HotSpot exports them). */
typedef struct cp_vmflags_tables {
    const char *fields;      /* gHotSpotVMStructs, ending with type_name == NULL */
    uint64_t f_stride, f_type_name, f_field_name, f_is_static, f_offset, f_address;
    const char *types;       /* gHotSpotVMTypes, ending with type_name == NULL */
    uint64_t t_stride, t_type_name, t_size;
} cp_vmflags_tables_t;

/* Finds the tables in the running JVM (dlsym in the global namespace).
 * Returns 0, or CP_ENOTFOUND (not HotSpot, or not initialised yet). */
int cp_vmflags_load(cp_vmflags_tables_t *out);

/* The address of flag `name`'s value (*addr, OUT), read from the tables
 * and the JVM's flag array they point to. Returns 0, or CP_ENOTFOUND (a
 * table entry is missing, or no flag has that name). */
int cp_vmflags_find(const cp_vmflags_tables_t *t, const char *name, void **addr);

#endif
