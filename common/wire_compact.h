/* wire_compact.h - the compact batch layout ("compact1"), both directions.
 *
 * Private to common/wire*.c. Batch keys 12-14 are alternatives to keys 7-9
 * (frames, stacks, values), chosen by the encoder option
 * CP_WIRE_ENC_COMPACT1 and accepted by every decoder. They decode into the
 * same arrays as keys 7-9; only stack references (the first `keep` frames
 * of an earlier stack) are left for the receiver dictionary to resolve,
 * since they may point to stacks of earlier batches.
 *
 *   key 12 frames  [first, [class d...], [method d...], [sig d...], [line d...], [kind...]]
 *   key 13 stacks  [first, [[back, keep, frame d...]...]]
 *   key 14 values  [[type, scale, [stack d, value/scale, ...]]...]
 *
 * The pack functions return 0, CP_EINVAL or CP_ENOMEM; the unpack ones 0
 * or a CP_E* code with the text in r->e.
 *
 * Thread: any; no global state. */
#ifndef CP_WIRE_COMPACT_H
#define CP_WIRE_COMPACT_H

#include <msgpack.h>

#include "wire.h"
#include "wire_reader.h"

/* enc: the connection's encodings (kinds go out as cp_wire_frame_kind_out says). */
int cp__wire_compact_pack_frames(msgpack_packer *pk, const cp_batch_t *b, uint32_t enc);
int cp__wire_compact_pack_stacks(msgpack_packer *pk, const cp_batch_t *b);
int cp__wire_compact_pack_values(msgpack_packer *pk, const cp_batch_t *b);

int cp__wire_compact_unpack_frames(cp__rd_t *r, cp_batch_t *b);
int cp__wire_compact_unpack_stacks(cp__rd_t *r, cp_batch_t *b);
int cp__wire_compact_unpack_values(cp__rd_t *r, cp_batch_t *b);

#endif
