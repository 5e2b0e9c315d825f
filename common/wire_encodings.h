/* wire_encodings.h - lookup of the static tables the negotiated batch
 * encodings refer to.
 *
 * Private to common/wire*.c. The public side (CP_WIRE_ENC_* bits, their
 * names, cp_wire_enc_names/parse) is in wire.h. A message names a static
 * string table (strtab1) by msgpack ext type and a zlib preset dictionary
 * (zdict1) by its Adler-32 id; these give a decoder the tables it knows, so
 * adding a table means adding a row here, not touching the codec.
 *
 * Thread: any; the tables are constant. */
#ifndef CP_WIRE_ENCODINGS_H
#define CP_WIRE_ENCODINGS_H

#include <stdint.h>

#include "wire_strtab.h"
#include "wire_zdict.h"

/* NULL if this side knows no such table. Borrowed: static. */
const cp_wire_strtab_t *cp__wire_strtab_by_ext(int8_t ext);
const cp_wire_zdict_t  *cp__wire_zdict_by_id(uint32_t id);

#endif
