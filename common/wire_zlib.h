/* wire_zlib.h - the compressed payload form (envelope flag CP_WIRE_FLAG_ZLIB).
 *
 * Private to common/wire*.c. A payload is one zlib stream (RFC 1950),
 * optionally primed with a preset dictionary (encoding zdict1): the stream
 * then names the dictionary by id (FDICT) and the decoder looks it up on
 * Z_NEED_DICT (wire_encodings.h).
 *
 * Thread: any; no global state. */
#ifndef CP_WIRE_ZLIB_H
#define CP_WIRE_ZLIB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire_err.h"
#include "wire_zdict.h"

/* Deflates src into out (appending), at level 1..9, with the preset
 * dictionary zd if not NULL. Returns 0, CP_ENOMEM or CP_EZLIB. */
int cp__wire_deflate(const uint8_t *src, size_t n, int level, const cp_wire_zdict_t *zd, cp_buf_t *out);

/* Inflates src into a malloc'd buffer of exactly plen bytes (*out; the
 * caller frees it). The buffer grows with the output (starting near the
 * compressed size), so a small message that merely claims a large payload
 * costs little memory. A stream longer or shorter than plen, trailing
 * bytes or an unknown dictionary are errors (text in e). */
int cp__wire_inflate(const uint8_t *src, size_t n, uint32_t plen, uint8_t **out, cp__wire_err_t *e);

#endif
