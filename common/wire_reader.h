/* wire_reader.h - bounded msgpack reader for the wire decoder.
 *
 * Private to common/wire*.c. A cursor over the payload bytes (not
 * msgpack_unpack(), which builds a whole object tree and reserves
 * count * sizeof(msgpack_object) from a claimed array header before it has
 * seen the elements). Every array/map count is checked against the limits
 * and against the bytes left (each element needs at least a known number of
 * bytes) before memory is reserved for it. Strings are copied,
 * NUL-terminated, into the message's arena (wire_arena.h). Unknown values
 * are skipped iteratively with an explicit nesting limit (CP__RD_MAX_NEST),
 * so hostile nesting cannot overflow the C stack.
 *
 * Every function returns 0 or a CP_E* code with the text in r->e, and
 * leaves the cursor after the value it read.
 *
 * Thread: the decoding thread; no global state. */
#ifndef CP_WIRE_READER_H
#define CP_WIRE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "wire_arena.h"
#include "wire_err.h"

#define CP__RD_MAX_NEST 16    /* nesting of skipped (unknown) values */

typedef struct cp__rd {
    const uint8_t          *p, *end;
    const cp_wire_limits_t *lim;
    cp__arena_t            *arena;
    cp__wire_err_t          e;
} cp__rd_t;

static inline size_t cp__rd_left(const cp__rd_t *r) { return (size_t)(r->end - r->p); }

/* Big-endian unsigned integer of n bytes (n <= 8). */
static inline uint64_t cp__rd_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int cp__rd_need(cp__rd_t *r, size_t n);     /* CP_ETRUNC unless n bytes are left */
int cp__rd_mem_fail(cp__rd_t *r);           /* after an arena failure: CP_ELIMIT or CP_ENOMEM */

/* Integers of any msgpack int encoding, range-checked for the target. */
int cp__rd_int(cp__rd_t *r, uint64_t *uv, int64_t *sv, bool *neg);   /* *neg: value in *sv */
int cp__rd_u64(cp__rd_t *r, uint64_t *v);
int cp__rd_u32(cp__rd_t *r, uint32_t *v);
int cp__rd_i32(cp__rd_t *r, int32_t *v);
int cp__rd_s64(cp__rd_t *r, int64_t *v);
int cp__rd_f64(cp__rd_t *r, double *v);     /* a float, or any int */
int cp__rd_bool(cp__rd_t *r, bool *v);

/* A str, borrowed from the input (checks max_string). */
int cp__rd_str_raw(cp__rd_t *r, const uint8_t **s, uint32_t *len);
/* A str, copied NUL-terminated into the arena; outlen may be NULL. */
int cp__rd_str(cp__rd_t *r, const char **out, uint32_t *outlen);
/* A dictionary string: a str, or (strtab1) a reference into a static
 * string table: fixext 1/2/4 whose ext type names the table and whose data
 * is the big-endian index. The string then points into the table. */
int cp__rd_dstr(cp__rd_t *r, cp_str_t *out);

/* An array (map=false) or map header. Checks the count against max_count
 * and against the bytes left, assuming each element (each pair for a map)
 * needs at least min_el bytes. */
int cp__rd_container(cp__rd_t *r, bool map, size_t min_el, uint32_t *count);
/* An array of at least min elements; what names it in the error. */
int cp__rd_tuple(cp__rd_t *r, uint32_t min, size_t min_el, uint32_t *n, const char *what);

int cp__rd_skip(cp__rd_t *r);               /* one value of any type */
int cp__rd_skip_n(cp__rd_t *r, uint32_t n); /* n values (a tuple's extra elements) */

/* n elements of el bytes from the arena, 8-aligned; NULL on overflow,
 * malloc failure or past max_decoded (then call cp__rd_mem_fail). */
void *cp__rd_alloc(cp__rd_t *r, size_t n, size_t el);

#endif
