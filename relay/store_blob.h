/* store_blob.h - the window blob codec shared by every store engine.
 *
 * A window (and a minute/hour aggregate) stores its samples as one blob of
 * (stack id, value) pairs over the app's dense stack ids. Byte layout:
 *
 *   uvarint d            divisor (>= 1): the gcd of all values
 *   repeated:
 *     uvarint delta      stack id minus the previous pair's stack id
 *                        (the first pair from 0); stack ids strictly increase
 *     uvarint v          value / d
 *
 * An empty blob (0 bytes) holds no pairs. CPU values are multiples of the
 * sampling interval, so the divisor usually turns 4-5 byte nanosecond
 * varints into 1 byte (2.25 bytes per value measured).
 *
 * Also here: the pair accumulator that merges blobs (rollups) and the dense
 * per-stack accumulator that merges them for a query.
 *
 * Thread: any; no global state, each accumulator owned by one thread. */
#ifndef CP_RELAY_STORE_BLOB_H
#define CP_RELAY_STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rutil.h"

/* Accumulator of (stack, value) pairs: v[2i] = stack, v[2i+1] = value.
 * Zero-initialise; cp_store_blob_pairs_fini frees. */
typedef struct cp_store_blob_pairs { uint64_t *v; size_t n, cap; } cp_store_blob_pairs_t;

void cp_store_blob_pairs_add(cp_store_blob_pairs_t *p, uint64_t stack, uint64_t value);
void cp_store_blob_pairs_fini(cp_store_blob_pairs_t *p);

/* Sorts p, merges equal stacks (p is left merged) and encodes the blob into
 * out (replacing its contents). Returns the sum of the values. */
uint64_t cp_store_blob_encode(cp_store_blob_pairs_t *p, cp_buf_t *out);

/* Decodes a blob, calling add(ud, stack, value) per pair; returns false if
 * it is corrupt (pairs before the fault were already delivered). */
bool cp_store_blob_each(const uint8_t *p, size_t n, void (*add)(void *, uint64_t, uint64_t), void *ud);

/* add callback for cp_store_blob_each that appends to a pairs accumulator. */
void cp_store_blob_add_to_pairs(void *pairs, uint64_t stack, uint64_t value);

/* Dense accumulator over stack ids: v[stack] = summed value (grows). */
typedef struct cp_store_blob_acc { uint64_t *v; size_t n; } cp_store_blob_acc_t;
/* add callback for cp_store_blob_each on a cp_store_blob_acc_t. */
void cp_store_blob_acc_add(void *acc, uint64_t stack, uint64_t value);

/* A stack's frames column (stacks.frames in both engines): its frame ids
 * as unsigned varints. Encode replaces out's content; decode appends to
 * out (a truncated varint ends it). */
void cp_store_frames_encode(const uint32_t *frames, uint32_t n, cp_buf_t *out);
void cp_store_frames_decode(const uint8_t *p, size_t n, cp__vu32_t *out);

#endif
