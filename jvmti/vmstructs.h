/* vmstructs.h - the few HotSpot internals the sampler needs, read from the
 * JVM's own VMStructs tables (issues 3 and 8: fewer failed AGCT samples).
 *
 * HotSpot exports a table of its C++ fields for the Serviceability Agent:
 * gHotSpotVMStructs (type name, field name, offset...), and one of integer
 * constants, gHotSpotVMIntConstants; the layout of an entry is itself
 * exported (gHotSpotVMStructEntry*Offset, ...ArrayStride), so no field
 * offset is ever hard-coded here. The offset variables live in libjvm's
 * .bss and are filled during VM start-up (vmStructs_init), so the tables
 * are read in the live phase (VMInit / attach), never at Agent_OnLoad.
 *
 * What the sampler does with them: AsyncGetCallTrace answers
 * unknown_not_Java (-3) for a Java thread that called from the interpreter
 * or compiled code into the VM (_thread_in_vm) when its JavaFrameAnchor has
 * last_Java_sp set but last_Java_pc still NULL: the anchor is "not
 * walkable". HotSpot makes such an anchor walkable itself, whenever it
 * needs to walk the stack, by storing the return address just below
 * last_Java_sp (JavaFrameAnchor::make_walkable on x86). The handler does
 * the same for the length of one AGCT call and puts NULL back afterwards
 * (sampler.c, agct_anchor_retry). Only the thread itself touches its anchor
 * while it is _thread_in_vm (no safepoint or handshake can walk a thread in
 * that state), so the temporary store races with nobody.
 *
 * The JavaThread* of the interrupted thread is JNIEnv* minus a constant:
 * JNIEnv is a field of JavaThread (_jni_environment, not in the tables).
 * The constant is measured in the live phase on a Java thread from
 * java.lang.Thread.eetop (which holds the JavaThread* of its thread), and
 * checked on a second thread before anything trusts it: same offset, the
 * thread state read through it is _thread_in_native (a JNI/JVMTI caller),
 * and a set last_Java_sp lies on the caller's stack. Any table entry,
 * symbol or check missing leaves the fix off (one info log line) and
 * AGCT's answer stands.
 *
 * Thread rules: cp_vmstructs_load/parse/measure_env/bind from agent threads or
 * JVMTI callbacks (not handlers; serialised by the caller or by the
 * internal mutex). cp_vmstructs_anchor/set_pc are CP_SIGSAFE: plain loads
 * and stores of the published offsets, no calls.
 *
 * x86-64 HotSpot (OpenJDK 17, Temurin 25 checked). */
#ifndef CP_VMSTRUCTS_H
#define CP_VMSTRUCTS_H

#include <jni.h>
#include <stdbool.h>
#include <stdint.h>

#include "sigsafe.h"

/* Where the exported tables are and how an entry is laid out (all in
 * bytes, as HotSpot exports them). entries == NULL: no table. */
typedef struct cp_vmstructs_tables {
    const char *fields;          /* gHotSpotVMStructs: array ending with type_name == NULL */
    uint64_t f_stride, f_type_name, f_field_name, f_is_static, f_offset;
    const char *ints;            /* gHotSpotVMIntConstants: array ending with name == NULL */
    uint64_t i_stride, i_name, i_value;
    /* for cp_vmstructs_find_flag only (0 / NULL when the JVM lacks them):
     * a static field's address, and gHotSpotVMTypes (type sizes) */
    uint64_t f_address;
    const char *types;           /* gHotSpotVMTypes: array ending with type_name == NULL */
    uint64_t t_stride, t_type_name, t_size;
} cp_vmstructs_tables_t;

/* The offsets and constants in use; -1 = not found. */
typedef struct cp_vmstructs {
    int32_t thread_state;        /* JavaThread::_thread_state (JavaThreadState, an int) */
    int32_t thread_anchor;       /* JavaThread::_anchor (JavaFrameAnchor) */
    int32_t anchor_sp;           /* JavaFrameAnchor::_last_Java_sp */
    int32_t anchor_pc;           /* JavaFrameAnchor::_last_Java_pc */
    int32_t anchor_fp;           /* JavaFrameAnchor::_last_Java_fp (x86; -1 elsewhere) */
    int32_t in_native;           /* JavaThreadState _thread_in_native (4) */
    int32_t in_vm;               /* _thread_in_vm (6) */
    int32_t in_vm_trans;         /* _thread_in_vm_trans (7; optional, -1) */
    int32_t in_java;             /* _thread_in_Java (8) */
    int64_t env_offset;          /* (char *)JNIEnv* - (char *)JavaThread*; 0 = not measured */
    int32_t thread_osthread;     /* (Java)Thread::_osthread (OSThread*; optional, -1) */
    int32_t osthread_tid;        /* OSThread::_thread_id (the kernel tid; optional, -1) */
} cp_vmstructs_t;

/* What the handler sees of the interrupted thread's anchor. */
typedef struct cp_vm_anchor {
    int32_t state;               /* JavaThreadState */
    bool own;                    /* state is in_vm, in_vm_trans or in_Java: the thread is not
                                  * safepoint-safe, so no other thread walks its stack */
    uintptr_t sp, pc, fp;        /* last_Java_sp/pc/fp (fp 0 when unknown) */
    uintptr_t *sp_slot;          /* &_last_Java_sp */
    uintptr_t *pc_slot;          /* &_last_Java_pc */
    uintptr_t *fp_slot;          /* &_last_Java_fp, NULL when unknown */
} cp_vm_anchor_t;

/* Pure: fills *out (OUT) from the tables. Returns 0 when every field and
 * constant the anchor fix needs was found, CP_ENOTFOUND otherwise (*out
 * still says which: -1). env_offset is left 0. */
int cp_vmstructs_parse(const cp_vmstructs_tables_t *t, cp_vmstructs_t *out);

/* The address of -XX flag `name`'s value (*addr, OUT), from the JVM's own
 * flag table as the tables describe it (JVMFlag::flags and numFlags, each
 * flag's _name and _addr, sizeof(JVMFlag)): a walk of ~1,300 names,
 * microseconds, where libjvm's ELF symbol table took 3-5 ms (jit_debug.h).
 * Returns 0, or CP_ENOTFOUND (an entry is missing, or no such flag). */
int cp_vmstructs_find_flag(const cp_vmstructs_tables_t *t, const char *name, void **addr);

/* Finds the tables in the running JVM (dlsym on the global namespace,
 * where the launcher loaded libjvm). Returns 0, or CP_ENOTFOUND (not
 * HotSpot, or tables not initialised yet). */
int cp_vmstructs_load(cp_vmstructs_tables_t *out);

/* Measures JNIEnv - JavaThread* on the calling Java thread (live phase)
 * from Thread.currentThread().eetop, and checks it against vs: the thread
 * state read through it must be vs->in_native (the caller is native code)
 * and a set last_Java_sp must lie on this thread's stack above the
 * caller's frame. Returns 0 and *offset (OUT), or CP_ENOTFOUND / CP_ESTATE. */
int cp_vmstructs_measure_env(JNIEnv *jni, const cp_vmstructs_t *vs, int64_t *offset);

/* Lifecycle for the sampler: call on Java threads in the live phase
 * (ThreadStart, the harvester's scans; not on the JVM's main thread at
 * VMInit). A call while another thread is binding returns at once
 * (trylock). The first call loads and parses the
 * tables and measures the JNIEnv offset; the next call on another thread
 * measures again, and a match publishes the offsets to the handlers (a
 * mismatch turns the fix off for good). Later calls return at once. The
 * outcome is logged once (info). CPROF_NO_VMSTRUCTS=1 keeps it off (for
 * comparisons). Thread: JVMTI callbacks and agent threads (internal
 * mutex); never handlers. */
void cp_vmstructs_bind(JNIEnv *jni);

/* Publishes vs for the handlers (vs->env_offset != 0), or turns the
 * accessors off (NULL). Used by cp_vmstructs_bind, and by tests with fake
 * threads. */
void cp_vmstructs_install(const cp_vmstructs_t *vs);

/* For threads that were running before the agent (attach, JVM boot): the
 * kernel tid (*tid, OUT) and JNIEnv of the JavaThread `jt` (from
 * java.lang.Thread.eetop). false when the offsets are not published or
 * the optional _osthread / _thread_id fields are missing. Thread: a Java
 * thread in the live phase; jt must stay alive meanwhile (the caller
 * re-reads eetop after). Not for handlers. */
bool cp_vmstructs_thread_of(const void *jt, int *tid /* OUT */, JNIEnv **env /* OUT */);

/* true once offsets are published. Async-signal-safe. */
CP_SIGSAFE bool cp_vmstructs_ready(void);

/* Async-signal-safe (loads only; run it under the crash guard all the
 * same). Reads the anchor of the thread whose JNIEnv is env (the current
 * thread, from GetEnv). false when the offsets are not published. */
CP_SIGSAFE bool cp_vmstructs_anchor(JNIEnv *env, cp_vm_anchor_t *out);

/* The published _thread_in_Java constant (-1 if not ready).
 * Async-signal-safe. */
CP_SIGSAFE int32_t cp_vmstructs_in_java(void);

#endif
