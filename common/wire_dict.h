/* wire_dict.h - the receiver-side dictionary of one agent connection.
 *
 * Part of the wire API (wire.h includes it; include either). An
 * append-only copy of the strings, frames and stacks an agent sent (not
 * interning: the agent already interned). Validates each decoded batch
 * against it (order, references, limits), then appends the batch's delta;
 * resolves compact stack references.
 *
 * Thread: one at a time per dictionary (the connection's owner). Not
 * signal-safe (allocates). */
#ifndef CP_WIRE_DICT_H
#define CP_WIRE_DICT_H

#include "wire.h"   /* cp_batch_t, cp_wire_limits_t; wire.h includes this file last */

typedef struct cp_wire_dict cp_wire_dict_t;

cp_wire_dict_t *cp_wire_dict_create(const cp_wire_limits_t *lim);   /* NULL lim = defaults */
void cp_wire_dict_destroy(cp_wire_dict_t *d);

/* Checks the batch's delta and references against d: CP_EGAP if a first id
 * is not the current count, CP_EDANGLING for a reference to an unknown id,
 * CP_ELIMIT past max_dict. On any error d is left unchanged. Honours
 * CP_BATCH_DICT_RESET. On success the delta is copied into d. */
int cp_wire_dict_apply(cp_wire_dict_t *d, const cp_batch_t *b, char *err, size_t errlen);

/* Borrowed: valid until the next apply or destroy. NULL for unknown ids. */
const char       *cp_wire_dict_string(const cp_wire_dict_t *d, uint32_t id, uint32_t *len /* OUT, may be NULL */);
const cp_frame_t *cp_wire_dict_frame(const cp_wire_dict_t *d, uint32_t id);
const uint32_t   *cp_wire_dict_stack(const cp_wire_dict_t *d, uint32_t id, uint32_t *n /* OUT */);
/* Label set id (batch key 15): its pairs into out[0..cap) (borrowed
 * strings, valid until the next apply or destroy); returns its pair
 * count (may exceed cap), 0 for an unknown id. */
uint32_t cp_wire_dict_lset(const cp_wire_dict_t *d, uint32_t id, cp_kv_t *out /* OUT */, uint32_t cap);
uint32_t cp_wire_dict_lsets(const cp_wire_dict_t *d);
uint32_t cp_wire_dict_strings(const cp_wire_dict_t *d);
uint32_t cp_wire_dict_frames(const cp_wire_dict_t *d);
uint32_t cp_wire_dict_stacks(const cp_wire_dict_t *d);
size_t   cp_wire_dict_memory(const cp_wire_dict_t *d);   /* bytes held */

#endif
