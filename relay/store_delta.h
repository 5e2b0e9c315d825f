/* store_delta.h - what every store engine does with an agent's batch before
 * its own SQL: the connection's dictionary (agent ids -> app ids, grown by
 * each batch's delta, with the wire's validation rules) and the split of
 * the batch's values into one (app stack id, value) accumulator per sample
 * type. The engine supplies the interning of new entries (its dictionary
 * tables) as callbacks.
 *
 * Rules (one place): a delta must continue the connection's ids (CP_EGAP)
 * unless the batch carries CP_BATCH_DICT_RESET; a frame names known
 * strings, a stack known frames and (compact layout) an earlier stack of
 * the connection (CP_EDANGLING); frame kinds <= CP_FRAME_KIND_MAX and a
 * kept prefix no longer than its reference (CP_ERANGE); no table of one
 * connection grows past max_dict ids, and no stack past the wire's depth
 * limit (CP_ELIMIT). Values name known stacks and types (CP_EDANGLING).
 *
 * Dedupe rule: a batch whose seq is <= the highest seq stored for its
 * instance is a duplicate (stored already, through this or another
 * connection, or another relay): its delta is still applied (later batches
 * build on it) and nothing else of it is stored.
 *
 * Thread: the store worker; each map owned by one connection. */
#ifndef CP_RELAY_STORE_DELTA_H
#define CP_RELAY_STORE_DELTA_H

#include <stdbool.h>
#include <stdint.h>

#include "rutil.h"
#include "stack_dict.h"
#include "store_blob.h"
#include "wire.h"

/* A connection's id maps: agent id i -> app id v[i]. Zero-initialise. */
typedef struct cp_store_idmap { cp__vu32_t strs, frames, stacks; } cp_store_idmap_t;
void cp_store_idmap_fini(cp_store_idmap_t *m);

/* The engine's interning of one entry into the app's dictionary (by
 * content; the same content always gets the same app id). Return 0 or
 * CP_E*. stack_frames returns the frames (app frame ids, root first) of an
 * app stack this connection interned, NULL if unknown; borrowed until the
 * next call of any of these. */
typedef struct cp_store_intern_ops {
    int (*string)(void *ud, const char *s, size_t len, uint32_t *id /* OUT */);
    int (*frame)(void *ud, const cp_frame_t *f /* app string ids */, uint32_t *id /* OUT */);
    int (*stack)(void *ud, const uint32_t *frames /* app frame ids */, uint32_t n, uint32_t *id /* OUT */);
    const uint32_t *(*stack_frames)(void *ud, uint32_t id, uint32_t *n /* OUT */);
} cp_store_intern_ops_t;

/* Applies b's dictionary delta to m, interning each new entry through ops.
 * On error m may hold part of the delta; the caller breaks the connection
 * or rolls back. max_dict 0 = unlimited. */
int cp_store_delta_apply(cp_store_idmap_t *m, const cp_batch_t *b, uint32_t max_dict,
                         const cp_store_intern_ops_t *ops, void *ud);

/* Splits b's values by type: (*per_type)[t] holds type t's pairs over app
 * stack ids (unsorted, unmerged: cp_store_blob_encode sorts). The array
 * grows to b->n_types (zero-initialise *per_type and *n once; free each
 * element's v and the array). CP_EDANGLING for an unknown stack or type. */
int cp_store_delta_split(const cp_store_idmap_t *m, const cp_batch_t *b,
                         cp_store_blob_pairs_t **per_type, size_t *n);

/* The dedupe rule above. */
static inline bool cp_store_seq_is_dup(uint64_t seq, uint64_t last_stored)
{
    return seq <= last_stored;
}

/* Instances whose last connection on this relay closed, to be marked
 * disconnected at the next commit: the latest time per instance. */
typedef struct cp_store_disc { int64_t id, ms; } cp_store_disc_t;
typedef struct cp_store_discs { cp_store_disc_t *v; size_t n, cap; } cp_store_discs_t;
void cp_store_discs_add(cp_store_discs_t *d, int64_t id, int64_t ms);
void cp_store_discs_fini(cp_store_discs_t *d);

#endif
