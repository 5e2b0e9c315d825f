/* wire_layout.h - the one definition of every message's payload layout.
 *
 * Private to common/wire*.c. For each message kind a table lists every key
 * with its number, wire type, required flag and the struct member it maps
 * to (wire_layout.c). The encoder (wire_pack.c) walks the same table as the
 * decoder (wire_unpack.c), so the two cannot disagree on a key number or a
 * shape. Semantic rules (seq > 0, end >= start, references inside a batch)
 * sit in cp__wire_validate(), also shared.
 *
 * Thread: any; the tables are constant. */
#ifndef CP_WIRE_LAYOUT_H
#define CP_WIRE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "wire_err.h"

typedef enum cp__wire_ftype {
    FT_U32, FT_U64, FT_I32, FT_BOOL, FT_STR,
    FT_KV,        /* map str -> str             (cp_kv_t *, uint32_t n) */
    FT_STRARR,    /* array of str               (const char *const *, n) */
    FT_TYPES,     /* array of [name, unit]      (batch) */
    FT_DSTRS,     /* [first, [str...]]          (batch dictionary delta) */
    FT_DFRAMES,   /* [first, [[class, method, sig, line, kind]...]] */
    FT_DSTACKS,   /* [first, [[frame...]...]] */
    FT_VALUES,    /* flat [stack, type, value, ...] */
    FT_COUNTERS,  /* map str -> uint */
    FT_POINTS,    /* array of [series, t_ms, value] */
    /* compact batch layout ("compact1"), alternatives to keys 7-9 */
    FT_CFRAMES,   /* [first, [class d...], [method d...], [sig d...], [line d...], [kind...]] */
    FT_CSTACKS,   /* [first, [[back, keep, frame, d...]...]] */
    FT_CVALUES,   /* [[type, scale, [stack d, value/scale, ...]]...] */
    /* request context (keys 15-17) */
    FT_DLSETS,    /* [first, [[k, v, k, v...]...]]  label-set delta */
    FT_LVALUES,   /* flat [stack, type, lset, value, ...] */
    FT_TRACES,    /* flat [trace_hi, trace_lo, span, thread, stack, type, value, ...] */
} cp__wire_ftype_t;

#define F_REQ      0x01   /* decoder: CP_EMISSING if absent; encoder: CP_EINVAL if NULL */
#define F_NONEMPTY 0x02   /* string must not be "" */

typedef struct cp__wire_field {
    uint8_t     key;
    uint8_t     type;
    uint8_t     flags;
    const char *name;
    size_t      off;       /* member offset within the kind's struct */
    size_t      off_n;     /* count member (arrays), or 0 */
} cp__wire_field_t;

typedef struct cp__wire_layout {
    const cp__wire_field_t *f;
    uint32_t       n;
} cp__wire_layout_t;

/* Indexed by cp_msg_kind_t (1..CP_MSG_KIND_MAX). */
extern const cp__wire_layout_t cp__wire_layouts[CP_MSG_KIND_MAX + 1];

/* Tuple shapes shared by both sides (minimum elements; extra ones are skipped). */
enum { TYPE_TUPLE = 2, DELTA_TUPLE = 2, FRAME_TUPLE = 5, POINT_TUPLE = 3, VALUE_STRIDE = 3,
       CFRAMES_TUPLE = 6, CSTACK_MIN = 2, CVALUES_TUPLE = 3, LVALUE_STRIDE = 4, TRACE_STRIDE = 7 };

/* Minimum encoded bytes of one element, for the count-vs-bytes guard. */
enum {
    MIN_ANY = 1, MIN_KV = 2, MIN_TYPE = 3, MIN_FRAME = 6, MIN_POINT = 4,
};

/* A struct member by offset (the tables' off / off_n). "T const", not
 * "const T": T may itself be a pointer to const ("const char *"). */
#define MEMBER(base, off, T) (*(T *)((char *)(base) + (off)))
#define CMEMBER(base, off, T) (*(T const *)((const char *)(base) + (off)))

/* Number of dictionary entries the encoder will send for a delta field
 * (FT_DSTRS, FT_DFRAMES/FT_CFRAMES, FT_DSTACKS/FT_CSTACKS): from the
 * batch's arrays, or from batch.dict when it is set. */
uint32_t cp__wire_delta_count(const cp_batch_t *b, uint8_t type);

/* Semantic rules shared by encoder (on what it is asked to send) and
 * decoder (on what it received). refs: also check references inside the
 * batch (decoder only: with b->dict the encoder has no arrays to check).
 * Returns 0 or a CP_E* code with the text in e. */
int cp__wire_validate(const cp_msg_t *m, bool refs, const cp_wire_limits_t *lim, cp__wire_err_t *e);

#endif
