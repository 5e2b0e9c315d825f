/* context.h - the per-thread request context that every sample carries
 * (labels, trace id, span id): docs/context.md.
 *
 * Each OS thread has one slot in the agent's initial-exec TLS: a label-set
 * id (lsets.h) and a 128-bit trace id / 64-bit span id. Only the thread
 * itself writes it (cp_context_set, from the shim's Ctx.set0 native), and
 * only the thread itself reads it: the CPU and wall handlers run on the
 * sampled thread, and so do the JVMTI allocation and lock callbacks. So
 * the one race is a signal landing in the middle of a write, which the
 * slot's double buffer makes harmless: the writer fills the record that is
 * not current, then flips the index; a handler sees the whole old record or
 * the whole new one (never a mix).
 *
 * Virtual threads: the slot belongs to the carrier. The shim keeps each
 * virtual thread's context in Java and republishes it (Cprof.refresh) when
 * a virtual thread mounts.
 *
 * Samplers that record for another thread (an agent thread sampling Python
 * workers, say) do not read the slot: they fill sample.ctx themselves
 * (ring.h). */
#ifndef CP_CONTEXT_H
#define CP_CONTEXT_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

#include "sigsafe.h"

typedef struct cp_context {
    uint32_t labels;              /* label-set id (lsets.h); 0 = none */
    uint64_t trace_hi, trace_lo;  /* W3C trace id, big-endian halves; both 0 = none */
    uint64_t span;                /* span id; 0 = none */
} cp_context_t;

/* Async-signal-safe: no lock, no allocation, errno untouched. Copies the
 * calling thread's context into *out (zeros for a thread that never set one). */
CP_SIGSAFE void cp_context_get(cp_context_t *out /* OUT */);

/* Sets the calling thread's context. Not from a signal handler (it is the
 * writer the handler may interrupt). */
void cp_context_set(const cp_context_t *c);

/* fn runs once, on the first thread that sets a non-empty context through
 * the shim (the agent enables per-virtual-thread context then, see
 * ctx_vthread.h: its cost is only worth paying once contexts are used).
 * Thread: set once at start-up, before Java code runs. */
void cp_context_on_first_use(void (*fn)(JNIEnv *jni));

/* Registers the shim's natives (dev.cprof.Ctx.define0/set0) and turns the
 * shim's API on (Ctx.on = true) for the JVM's lifetime: after a detach the
 * natives still only write the slot (the agent stays mapped, -z nodelete). Live phase, a Java thread; the shim's
 * classes must be in the boot loader already (cp_shim_define). Returns 0,
 * CP_ENOTFOUND (no shim or an old one without Ctx). */
int  cp_context_start(JNIEnv *jni);

#endif
