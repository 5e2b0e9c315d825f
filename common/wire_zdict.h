/* wire_zdict.h - zlib preset dictionaries of the wire format.
 *
 * A preset dictionary (RFC 1950 FDICT, deflateSetDictionary) primes
 * deflate with strings that recur in every JVM's first batch (java.base
 * and libjvm names, thread roots, counter names), so they cost a few bytes
 * each instead of their length. Encoding "zdict1" (wire.h): negotiated in
 * hello/welcome; a compressed stream names its dictionary by zlib id
 * (adler32 of the bytes) and decoders look it up here.
 *
 * The bytes are generated (scripts/wire-zdict build -> wire_zdict.c) and
 * frozen once published: a new dictionary gets a new name and id, and the
 * old one stays, so agents and relays of different ages interoperate.
 *
 * Thread: any (read-only data). */
#ifndef CP_WIRE_ZDICT_H
#define CP_WIRE_ZDICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_wire_zdict {
    const char          *name;   /* encoding name, e.g. "zdict1" */
    const unsigned char *data;
    size_t               len;    /* <= 32768 (deflate's window) */
    uint32_t             id;     /* zlib dictionary id: adler32 of data */
} cp_wire_zdict_t;

extern const cp_wire_zdict_t cp_wire_zdict1;

#endif
