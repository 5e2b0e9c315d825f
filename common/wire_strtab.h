/* wire_strtab.h - static string tables of the wire format.
 *
 * A table lists strings that recur in every JVM's batches (java.base and
 * libjvm names, thread roots): with encoding "strtab1" (wire.h) an agent
 * sends such a string of its dictionary delta as a 4-byte reference
 * (msgpack fixext, ext type = table number, big-endian index) instead of
 * its bytes. Unlike the zlib preset dictionary (32 KiB at most), a table
 * is not limited by deflate's window.
 *
 * The data is generated (scripts/wire-zdict build -> wire_strtab.c) and
 * frozen once published: a new table gets a new name and ext type, the
 * old one stays, so agents and relays of different ages interoperate.
 *
 * Thread: any (read-only data). */
#ifndef CP_WIRE_STRTAB_H
#define CP_WIRE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_wire_strtab {
    const char        *name;     /* encoding name, e.g. "strtab1" */
    uint8_t            ext;      /* msgpack ext type of its references */
    uint32_t           n;        /* entries (<= 65536) */
    const char *const *strs;     /* NUL-terminated, no NUL inside */
    const uint16_t    *sorted;   /* indices in bytewise order of strs */
    uint32_t           checksum; /* adler32 of the strings joined by NUL */
} cp_wire_strtab_t;

extern const cp_wire_strtab_t cp_wire_strtab1;

/* Index of the len bytes at s in t, or -1. Binary search (~14 compares). */
int32_t cp_wire_strtab_find(const cp_wire_strtab_t *t, const char *s, size_t len);

#endif
