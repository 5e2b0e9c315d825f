/* wire_pack.h - the payload encoder: one message struct -> one msgpack map.
 *
 * Private to common/wire*.c; wire.c adds the envelope and zlib. Walks the
 * kind's layout table (wire_layout.h), writing every present key; batch
 * keys 7-9 go in the compact layout (wire_compact.h) with
 * CP_WIRE_ENC_COMPACT1, key 6 strings as static-table references with
 * CP_WIRE_ENC_STRTAB1.
 *
 * Thread: any; no global state. */
#ifndef CP_WIRE_PACK_H
#define CP_WIRE_PACK_H

#include <msgpack.h>

#include "wire.h"

/* Checks what cannot be sent before anything is written: a required string
 * NULL (or "" where non-empty is required), a proto other than this
 * version, a batch's seq/time rules, a batch whose dict first ids are past
 * the dictionary's count. Returns 0, CP_EINVAL or CP_ERANGE. */
int cp__wire_pack_check(const cp_msg_t *m);

/* Writes m's payload map to pk. enc: CP_WIRE_ENC_* (used for batches only).
 * Returns 0, CP_EINVAL (a NULL array with a count, a stack reference
 * outside the compact layout), CP_ETOOBIG or CP_ENOMEM. */
int cp__wire_pack_payload(msgpack_packer *pk, const cp_msg_t *m, uint32_t enc);

#endif
