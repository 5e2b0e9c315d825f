/* store_names.h - a query thread's cache that resolves an app's stack ids to
 * function names, shared by every store engine.
 *
 * The engine feeds the app's dictionary rows in id order, incrementally
 * (ids are append-only, so only rows with id >= the cached count are read
 * per query): strings, then frames, then stacks. A frame's function name is
 * "Class.method" (or "method" without a class); frames of one function
 * share one function index, whose kind follows cp_store_names_add_frame's
 * rule.
 *
 * Thread: the owning query worker only. */
#ifndef CP_RELAY_STORE_NAMES_H
#define CP_RELAY_STORE_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "rutil.h"
#include "store.h"
#include "store_blob.h"

/* Zero-initialise; cp_store_names_fini frees. */
typedef struct cp_store_names {
    char      **strs;   uint32_t n_strs, cap_strs;
    char      **fnames; uint8_t *fkinds; uint32_t n_funcs, cap_funcs;
    cp__hmap_t  fidx;          /* hash(name) -> func index + 1 */
    cp__vu32_t  frame_func;    /* frame id -> func index */
    cp__vu32_t  stack_off;     /* n_stacks + 1 entries once a stack is loaded */
    cp__vu32_t  stack_funcs;   /* func indices, root first */
    /* name hash for fidx; NULL = cp__hash_bytes (tests force collisions) */
    uint64_t  (*hash)(const void *p, size_t n);
} cp_store_names_t;

void cp_store_names_fini(cp_store_names_t *n);

/* Next id to load per table (= number cached). */
static inline uint32_t cp_store_names_n_strings(const cp_store_names_t *n) { return n->n_strs; }
static inline uint32_t cp_store_names_n_frames(const cp_store_names_t *n) { return (uint32_t)n->frame_func.n; }
static inline uint32_t cp_store_names_n_stacks(const cp_store_names_t *n)
{
    return n->stack_off.n ? (uint32_t)n->stack_off.n - 1 : 0;
}

/* Appends the next string (len bytes, no NUL needed). */
void cp_store_names_add_string(cp_store_names_t *n, const void *s, size_t len);
/* Appends the next frame. One kind per name: a method met as interpreted
 * (or of unknown tier) and later as JIT code (compiled or inlined) is shown
 * as JIT code - its interpreted samples are the warm-up before the JIT
 * compiled it, and the first sample of a hot method often lands there.
 * Between compiled and inlined the first seen stays. */
void cp_store_names_add_frame(cp_store_names_t *n, uint32_t class_id, uint32_t method_id, uint8_t kind);
/* Appends the next stack from its stored form (uvarint frame ids, root first). */
void cp_store_names_add_stack(cp_store_names_t *n, const uint8_t *frames, size_t len);

/* Builds the names, kinds, stacks and values of out from merged per-stack
 * values (only stacks with a value, only names they use). out's unit is
 * left as is; out must be zeroed or freshly reset. */
void cp_store_names_profile(const cp_store_names_t *n, const cp_store_blob_acc_t *acc, cp_profile_t *out);

#endif
