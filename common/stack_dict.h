/* stack_dict.h - interning of strings, frames and stacks to dense ids.
 *
 * Used by the agent (harvester thread: stacks -> ids, the ids go on the wire)
 * and by the relay (one dictionary per app: every agent's stacks map into it,
 * so stored windows hold small dense ids that compress well).
 *
 * Ids are dense and assigned in order: the n-th new string gets id n-1, same
 * for frames and stacks. That property is what the wire format's dictionary
 * deltas rely on: "everything from id k on" is the delta after k ids were sent.
 *
 * Not thread-safe: one owner thread (agent: harvester; relay: store worker).
 * Not signal-safe (allocates). */
#ifndef CP_STACK_DICT_H
#define CP_STACK_DICT_H

#include <stddef.h>
#include <stdint.h>

/* What kind of code a frame stands for. The same numbers go on the wire. */
typedef enum cp_frame_kind {
    CP_FRAME_JAVA        = 0, /* Java method, tier unknown */
    CP_FRAME_INTERPRETED = 1, /* Java, interpreted */
    CP_FRAME_COMPILED    = 2, /* Java, JIT-compiled (C1/C2) */
    CP_FRAME_INLINED     = 3, /* Java, inlined into a compiled caller */
    CP_FRAME_NATIVE      = 4, /* Java native method (JNI) or C/C++ code */
    CP_FRAME_KERNEL      = 5, /* kernel frame */
    CP_FRAME_THREAD      = 6, /* synthetic root: thread kind + name, e.g. "[GC] G1 Conc#0" */
    CP_FRAME_ALLOC       = 7, /* synthetic leaf: allocated class, e.g. "[alloc] java.lang.String" */
    CP_FRAME_LOCK        = 8, /* synthetic leaf: lock class */
    CP_FRAME_ERROR       = 9, /* synthetic: a failed sample kind, e.g. "[unknown_Java]" */
    CP_FRAME_PYTHON      = 10, /* Python function: class = module, method = "qualname (file.py:line)";
                                * sent as CP_FRAME_NATIVE (class "[py] module") to a relay that
                                * did not accept the "pykind1" encoding (wire.h) */
    CP_FRAME_KIND_MAX    = 10
} cp_frame_kind_t;

/* A resolved frame. Strings are ids in the same dictionary.
 * class_id: "java.util.HashMap" (dots, no L;), or "" for synthetic frames.
 * method_id: "get", or the synthetic frame's text.  sig_id: "(Ljava/lang/Object;)Ljava/lang/Object;" or "".
 * line: source line, 0 if unknown. */
typedef struct cp_frame {
    uint32_t class_id;
    uint32_t method_id;
    uint32_t sig_id;
    int32_t  line;
    uint8_t  kind;        /* cp_frame_kind_t */
} cp_frame_t;

typedef struct cp_stack_dict cp_stack_dict_t;   /* opaque */

/* Returns NULL on OOM. Caller owns; cp_stack_dict_destroy(). */
cp_stack_dict_t *cp_stack_dict_create(void);
void cp_stack_dict_destroy(cp_stack_dict_t *d);   /* NULL is a no-op */
/* Forgets everything; ids restart at 0. Invalidates every borrowed pointer.
 * Releases the memory too (cp_stack_dict_memory() is back to an empty
 * dictionary's): a dictionary cleared for being too large must not stay
 * over its limit. Prefix tracking stays on. */
void cp_stack_dict_clear(cp_stack_dict_t *d);

/* Interns stack `id` of src (its frames and their strings, by content) into
 * dst; *out is its id in dst. Returns 0, CP_EINVAL (unknown id) or
 * CP_ENOMEM. src and dst must differ. */
int cp_stack_dict_copy_stack(cp_stack_dict_t *dst, const cp_stack_dict_t *src, uint32_t id,
                             uint32_t *out /* OUT */);

/* Each intern call returns 0 and the id (existing or new), or CP_ENOMEM.
 * Strings may hold any bytes (not NUL-terminated input; stored with a NUL). */
int cp_stack_dict_intern_string(cp_stack_dict_t *d, const char *s, size_t len, uint32_t *id /* OUT */);
int cp_stack_dict_intern_frame(cp_stack_dict_t *d, const cp_frame_t *f, uint32_t *id /* OUT */);
/* frames: frame ids, root first. n may be 0 (the empty stack). */
int cp_stack_dict_intern_stack(cp_stack_dict_t *d, const uint32_t *frames, uint32_t n, uint32_t *id /* OUT */);

/* Lookups. Borrowed: valid until the next intern call, clear or destroy.
 * Return NULL for an unknown id. */
const char       *cp_stack_dict_string(const cp_stack_dict_t *d, uint32_t id, size_t *len /* OUT, may be NULL */);
const cp_frame_t *cp_stack_dict_frame(const cp_stack_dict_t *d, uint32_t id);
const uint32_t   *cp_stack_dict_stack(const cp_stack_dict_t *d, uint32_t id, uint32_t *n /* OUT */);

/* Prefix tracking (agent side, for the wire's compact stacks): from now on
 * every new stack also records the earlier stack sharing its longest
 * prefix, so the encoder can send "the first `keep` frames of stack `ref`,
 * then these". Costs one index entry (16 bytes at load 1/2: 32) per
 * distinct stack prefix. Call before the first stack is interned; it
 * survives cp_stack_dict_clear. Returns 0, CP_ESTATE if stacks exist. */
int cp_stack_dict_track_prefixes(cp_stack_dict_t *d);
/* The earlier stack (*ref < id) whose first *keep frames are the first
 * frames of stack id, keep as large as any earlier stack allows (it may be
 * the whole stack). *keep = 0 when none, or when prefixes are not tracked. */
void cp_stack_dict_stack_ref(const cp_stack_dict_t *d, uint32_t id, uint32_t *ref /* OUT */,
                             uint32_t *keep /* OUT */);

uint32_t cp_stack_dict_strings(const cp_stack_dict_t *d);   /* count == next id */
uint32_t cp_stack_dict_frames(const cp_stack_dict_t *d);
uint32_t cp_stack_dict_stacks(const cp_stack_dict_t *d);
size_t   cp_stack_dict_memory(const cp_stack_dict_t *d);    /* bytes held, for limits and reports */

#endif
