/* wire.c - cprof wire format v1: encoder, decoder, receiver dictionary.
 *
 * Where it sits: the agent's sender encodes hello/batch/heartbeat/error and
 * decodes welcome/ack/control; the relay's ingest does the reverse and keeps
 * one cp_wire_dict_t per agent connection. docs/protocol.md is the reader's
 * version of this file.
 *
 * Envelope (12 bytes, big-endian; see wire.h):
 *
 *   offset size  field
 *   0      2     magic 'C' 'P'
 *   2      1     version (1)
 *   3      1     kind (cp_msg_kind_t)
 *   4      1     flags: bit 0 = payload is a zlib stream; other bits 0
 *   5      3     reserved, 0
 *   8      4     payload length once uncompressed
 *   12     ...   payload: one msgpack map {uint key -> value}
 *
 * One layout definition: the FIELDS_* tables below list, for each message
 * kind, every key with its number, wire type, required flag and the struct
 * member it maps to. The encoder walks the same table as the decoder, so the
 * two cannot disagree on a key number or a shape. Semantic rules (seq > 0,
 * end >= start, frame kind range, references inside a batch) sit in
 * validate_*(), also shared.
 *
 * Encoder: msgpack-c's msgpack_packer with a write callback appending to a
 * cp_buf_t; zlib deflate() for the compressed form, primed with the preset
 * dictionary for encoding zdict1 (wire_zdict.h).
 *
 * Negotiated encodings (docs/protocol.md "Encodings"): zdict1 (preset
 * dictionary; the stream names it, the decoder looks it up by id on
 * Z_NEED_DICT), strtab1 (key 6 strings as msgpack ext references into a
 * static table, wire_strtab.h), compact1 (batch keys 12-14: delta-coded
 * frame columns; stacks as "first keep frames of an earlier stack" + the
 * rest, delta-coded; values grouped by type, sorted, scaled). The decoder
 * reads them all, whatever was negotiated, into the same structs; only
 * compact stack references are left for the receiver dictionary to resolve
 * (cp_wire_dict_apply, the relay store), since they may point to stacks of
 * earlier batches.
 *
 * Decoder: a bounded cursor reader over the msgpack bytes (not
 * msgpack_unpack(), which builds a whole object tree and reserves
 * count * sizeof(msgpack_object) from a claimed array header before it
 * has seen the elements). Every array/map count is checked against the
 * limits and against the bytes left (each element needs at least a known
 * number of bytes) before memory is reserved for it, so memory held by a
 * decoded message is at most ~17 bytes per payload byte (an empty string:
 * 1 byte in, a 16-byte cp_str_t + 1 out), and at most max_decoded. Decoded strings are
 * copied, NUL-terminated, into a per-message arena freed by cp_msg_free().
 * Unknown map keys and extra tuple elements are skipped (forward
 * compatibility); skipping is iterative with an explicit nesting limit
 * (WIRE_MAX_NEST), so hostile nesting cannot overflow the C stack.
 * Compressed payloads are inflated into a buffer that grows as output
 * appears, never beyond the declared (and limited) payload length.
 *
 * Thread: any; no global mutable state. Not signal-safe (allocates). */
#include "wire.h"
#include "error.h"
#include "wire_strtab.h"
#include "wire_zdict.h"

#include <msgpack.h>
#include <zlib.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_MAX_NEST 16    /* nesting of skipped (unknown) values */

const cp_wire_limits_t cp_wire_default_limits = {
    .max_message    = 16u << 20,
    .max_payload    = 64u << 20,
    .max_string     = 64u << 10,
    .max_count      = 4u << 20,
    .max_depth      = 4096,
    .max_dict       = 4u << 20,
    .max_dict_bytes = (size_t)512 << 20,
    .max_decoded    = (size_t)256 << 20,
};

static const char *const KIND_NAMES[] = {
    [CP_MSG_HELLO] = "hello",         [CP_MSG_WELCOME] = "welcome",
    [CP_MSG_BATCH] = "batch",         [CP_MSG_ACK] = "ack",
    [CP_MSG_HEARTBEAT] = "heartbeat", [CP_MSG_CONTROL] = "control",
    [CP_MSG_ERROR] = "error",
};

const char *cp_wire_kind_name(int kind)
{
    return kind >= 1 && kind <= CP_MSG_KIND_MAX ? KIND_NAMES[kind] : "?";
}

static const struct { uint32_t bit; const char *name; } ENC_NAMES[] = {
    {CP_WIRE_ENC_ZDICT1, "zdict1"},
    {CP_WIRE_ENC_COMPACT1, "compact1"},
    {CP_WIRE_ENC_STRTAB1, "strtab1"},
};

uint32_t cp_wire_enc_names(uint32_t enc, const char *names[8])
{
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof ENC_NAMES / sizeof ENC_NAMES[0] && n < 8; i++)
        if (enc & ENC_NAMES[i].bit)
            names[n++] = ENC_NAMES[i].name;
    return n;
}

uint32_t cp_wire_enc_parse(const char *const *names, uint32_t n)
{
    uint32_t enc = 0;
    for (uint32_t j = 0; names && j < n; j++)
        for (size_t i = 0; i < sizeof ENC_NAMES / sizeof ENC_NAMES[0]; i++)
            if (names[j] && !strcmp(names[j], ENC_NAMES[i].name))
                enc |= ENC_NAMES[i].bit;
    return enc;
}

int32_t cp_wire_strtab_find(const cp_wire_strtab_t *t, const char *s, size_t len)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *m = t->strs[t->sorted[mid]];
        size_t ml = strlen(m);
        int c = memcmp(m, s, ml < len ? ml : len);
        if (c == 0)
            c = ml < len ? -1 : ml > len ? 1 : 0;
        if (c == 0)
            return t->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* String tables a decoder knows, by msgpack ext type. */
static const cp_wire_strtab_t *strtab_by_ext(int8_t ext)
{
    return ext == (int8_t)cp_wire_strtab1.ext ? &cp_wire_strtab1 : NULL;
}

/* Preset dictionaries a decoder knows, by zlib dictionary id. */
static const cp_wire_zdict_t *zdict_by_id(uint32_t id)
{
    return id == cp_wire_zdict1.id ? &cp_wire_zdict1 : NULL;
}

/* ======================================================================
 * The layout: one table per kind
 * ====================================================================== */

typedef enum ftype {
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
} ftype_t;

#define F_REQ      0x01   /* decoder: CP_EMISSING if absent; encoder: CP_EINVAL if NULL */
#define F_NONEMPTY 0x02   /* string must not be "" */

typedef struct field {
    uint8_t     key;
    uint8_t     type;
    uint8_t     flags;
    const char *name;
    size_t      off;       /* member offset within the kind's struct */
    size_t      off_n;     /* count member (arrays), or 0 */
} field_t;

#define FLD(k, t, fl, S, m)        { k, t, fl, #m, offsetof(S, m), 0 }
#define FLDN(k, t, fl, S, m, n)    { k, t, fl, #m, offsetof(S, m), offsetof(S, n) }
#define FLDD(k, t, S, m, n, name)  { k, t, 0, name, offsetof(S, m), offsetof(S, n) }

static const field_t FIELDS_HELLO[] = {
    FLD(1,  FT_U32, F_REQ, cp_hello_t, proto),
    FLD(2,  FT_STR, F_REQ | F_NONEMPTY, cp_hello_t, app),
    FLD(3,  FT_STR, F_REQ, cp_hello_t, instance),
    FLD(4,  FT_STR, 0, cp_hello_t, host),
    FLD(5,  FT_U32, 0, cp_hello_t, pid),
    FLD(6,  FT_U64, 0, cp_hello_t, start_ms),
    FLD(7,  FT_STR, 0, cp_hello_t, jvm_vendor),
    FLD(8,  FT_STR, 0, cp_hello_t, jvm_version),
    FLD(9,  FT_STR, 0, cp_hello_t, agent_version),
    FLDN(10, FT_KV, 0, cp_hello_t, labels, n_labels),
    FLDN(11, FT_STRARR, 0, cp_hello_t, caps, n_caps),
    FLD(12, FT_STR, 0, cp_hello_t, token),
    FLD(13, FT_STR, 0, cp_hello_t, runtime),
    FLDN(14, FT_STRARR, 0, cp_hello_t, enc, n_enc),
};

static const field_t FIELDS_WELCOME[] = {
    FLD(1, FT_U32, F_REQ, cp_welcome_t, proto),
    FLD(2, FT_STR, 0, cp_welcome_t, relay_version),
    FLD(3, FT_STR, 0, cp_welcome_t, session),
    FLD(4, FT_U64, 0, cp_welcome_t, last_seq),
    FLD(5, FT_U32, 0, cp_welcome_t, max_message),
    FLDN(6, FT_STRARR, 0, cp_welcome_t, enc, n_enc),
};

/* Batch dictionary fields: off = first-id member, off_n = count member; the
 * array member is found by type (see batch_delta()). */
static const field_t FIELDS_BATCH[] = {
    FLD(1,  FT_U64, F_REQ, cp_batch_t, seq),
    FLD(2,  FT_U64, F_REQ, cp_batch_t, start_ms),
    FLD(3,  FT_U64, F_REQ, cp_batch_t, end_ms),
    FLD(4,  FT_U32, 0, cp_batch_t, flags),
    FLDN(5,  FT_TYPES, 0, cp_batch_t, types, n_types),
    FLDD(6,  FT_DSTRS, cp_batch_t, str_first, n_strs, "strings"),
    FLDD(7,  FT_DFRAMES, cp_batch_t, frame_first, n_frames, "frames"),
    FLDD(8,  FT_DSTACKS, cp_batch_t, stack_first, n_stacks, "stacks"),
    FLDN(9,  FT_VALUES, 0, cp_batch_t, values, n_values),
    FLDN(10, FT_COUNTERS, 0, cp_batch_t, counters, n_counters),
    FLDN(11, FT_POINTS, 0, cp_batch_t, points, n_points),
    FLDD(12, FT_CFRAMES, cp_batch_t, frame_first, n_frames, "frames (compact)"),
    FLDD(13, FT_CSTACKS, cp_batch_t, stack_first, n_stacks, "stacks (compact)"),
    FLDN(14, FT_CVALUES, 0, cp_batch_t, values, n_values),
};

static const field_t FIELDS_ACK[] = {
    FLD(1, FT_U64, F_REQ, cp_ack_t, seq),
};

static const field_t FIELDS_HEARTBEAT[] = {
    FLD(1, FT_U64, 0, cp_heartbeat_t, t_ms),
};

static const field_t FIELDS_CONTROL[] = {
    FLD(1, FT_STR, F_REQ | F_NONEMPTY, cp_control_t, command),
    FLDN(2, FT_KV, 0, cp_control_t, options, n_options),
};

static const field_t FIELDS_ERROR[] = {
    FLD(1, FT_I32, F_REQ, cp_error_msg_t, code),
    FLD(2, FT_STR, 0, cp_error_msg_t, message),
    FLD(3, FT_BOOL, 0, cp_error_msg_t, fatal),
    FLD(4, FT_U32, 0, cp_error_msg_t, retry_after_ms),
};

typedef struct layout {
    const field_t *f;
    uint32_t       n;
} layout_t;

#define LAYOUT(a) { a, sizeof(a) / sizeof(a[0]) }
static const layout_t LAYOUTS[] = {
    [CP_MSG_HELLO] = LAYOUT(FIELDS_HELLO),     [CP_MSG_WELCOME] = LAYOUT(FIELDS_WELCOME),
    [CP_MSG_BATCH] = LAYOUT(FIELDS_BATCH),     [CP_MSG_ACK] = LAYOUT(FIELDS_ACK),
    [CP_MSG_HEARTBEAT] = LAYOUT(FIELDS_HEARTBEAT), [CP_MSG_CONTROL] = LAYOUT(FIELDS_CONTROL),
    [CP_MSG_ERROR] = LAYOUT(FIELDS_ERROR),
};

/* Tuple shapes shared by both sides (minimum elements; extra ones are skipped). */
enum { TYPE_TUPLE = 2, DELTA_TUPLE = 2, FRAME_TUPLE = 5, POINT_TUPLE = 3, VALUE_STRIDE = 3,
       CFRAMES_TUPLE = 6, CSTACK_MIN = 2, CVALUES_TUPLE = 3 };

/* Minimum encoded bytes of one element, for the count-vs-bytes guard. */
enum {
    MIN_ANY = 1, MIN_KV = 2, MIN_TYPE = 3, MIN_FRAME = 6, MIN_POINT = 4,
};

/* ======================================================================
 * Errors with a location
 * ====================================================================== */

typedef struct errbuf {
    char  *s;
    size_t n;
} errbuf_t;

static int fail(errbuf_t *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(errbuf_t *e, int code, const char *fmt, ...)
{
    if (e->s && e->n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->s, e->n, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Prepends "where: " to the message already in e (only on the error path). */
static int where(errbuf_t *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int where(errbuf_t *e, int code, const char *fmt, ...)
{
    if (e->s && e->n) {
        char pre[128], old[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        snprintf(old, sizeof old, "%s", e->s);
        snprintf(e->s, e->n, "%s: %s", pre, old);
    }
    return code;
}

/* ======================================================================
 * Encoder
 * ====================================================================== */

static int buf_write(void *data, const char *p, size_t n)
{
    return cp_buf_append((cp_buf_t *)data, p, n) == 0 ? 0 : -1;
}

#define PK(call) do { if ((call) != 0) return CP_ENOMEM; } while (0)

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    if (n > UINT32_MAX)
        return CP_ETOOBIG;
    PK(msgpack_pack_str(pk, n));
    PK(msgpack_pack_str_body(pk, s, n));
    return 0;
}

static int pack_cstr(msgpack_packer *pk, const char *s)
{
    return pack_str(pk, s ? s : "", s ? strlen(s) : 0);
}

#define MEMBER(base, off, T) (*(T *)((char *)(base) + (off)))
#define CMEMBER(base, off, T) (*(const T *)((const char *)(base) + (off)))

/* Number of dictionary entries the encoder will send for a delta field. */
static uint32_t enc_delta_count(const cp_batch_t *b, uint8_t type)
{
    if (type == FT_CFRAMES)
        type = FT_DFRAMES;
    else if (type == FT_CSTACKS)
        type = FT_DSTACKS;
    if (!b->dict) {
        switch (type) {
        case FT_DSTRS:   return b->n_strs;
        case FT_DFRAMES: return b->n_frames;
        default:         return b->n_stacks;
        }
    }
    uint32_t first, count;
    switch (type) {
    case FT_DSTRS:   first = b->str_first;   count = cp_stack_dict_strings(b->dict); break;
    case FT_DFRAMES: first = b->frame_first; count = cp_stack_dict_frames(b->dict); break;
    default:         first = b->stack_first; count = cp_stack_dict_stacks(b->dict); break;
    }
    return count > first ? count - first : 0;
}

/* Is field f present (to be written) in struct s? Numbers always are.
 * compact: the batch goes in the compact layout (keys 12-14, not 7-9). */
static bool enc_present(const field_t *f, const void *s, bool compact)
{
    switch (f->type) {
    case FT_U32: case FT_U64: case FT_I32: case FT_BOOL:
        return true;
    case FT_STR:
        return CMEMBER(s, f->off, const char *) != NULL;
    case FT_DSTRS:
        return enc_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_DFRAMES: case FT_DSTACKS:
        return !compact && enc_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_CFRAMES: case FT_CSTACKS:
        return compact && enc_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_VALUES:
        return !compact && CMEMBER(s, f->off_n, uint32_t) > 0;
    case FT_CVALUES:
        return compact && CMEMBER(s, f->off_n, uint32_t) > 0;
    default:
        return CMEMBER(s, f->off_n, uint32_t) > 0;
    }
}

/* ---- compact layout (compact1) ------------------------------------------ */

/* key 12: frames as five columns; ids and lines as differences from the
 * previous frame's (the first from 0), except method ids: from the largest
 * class or method id of the frames before (0 at first), since a new
 * frame's method is most often a string interned just then; kinds as they
 * are. */
static int enc_cframes(msgpack_packer *pk, const cp_batch_t *b)
{
    uint32_t n = enc_delta_count(b, FT_DFRAMES), first = b->frame_first;
    PK(msgpack_pack_array(pk, CFRAMES_TUPLE));
    PK(msgpack_pack_uint32(pk, first));
    for (int col = 0; col < 5; col++) {
        PK(msgpack_pack_array(pk, n));
        int64_t prev = 0, mx = 0;
        for (uint32_t i = 0; i < n; i++) {
            const cp_frame_t *fr = b->dict ? cp_stack_dict_frame(b->dict, first + i) : &b->frames[i];
            int64_t v = col == 3 ? (int64_t)fr->line
                      : (int64_t)(col == 0 ? fr->class_id : col == 1 ? fr->method_id : fr->sig_id);
            if (col == 4) {
                PK(msgpack_pack_uint8(pk, fr->kind));
            } else {
                PK(msgpack_pack_int64(pk, v - (col == 1 ? mx : prev)));
                prev = v;
                if (fr->class_id > mx)
                    mx = fr->class_id;
                if (fr->method_id > mx)
                    mx = fr->method_id;
            }
        }
    }
    return 0;
}

/* key 13: each stack as [back, keep, d, d...]: the first `keep` frames of
 * stack (own id - back), then the rest, each frame id as the difference
 * from the one before; the first one's from the largest frame id listed so
 * far in this key (0 at its start): new frames are interned in stack order,
 * so a stack's first new frame is then usually +1. back 0: no reference
 * (keep 0). */
static int enc_cstacks(msgpack_packer *pk, const cp_batch_t *b)
{
    uint32_t n = enc_delta_count(b, FT_DSTACKS), first = b->stack_first;
    PK(msgpack_pack_array(pk, DELTA_TUPLE));
    PK(msgpack_pack_uint32(pk, first));
    PK(msgpack_pack_array(pk, n));
    int64_t mx = 0;       /* largest frame id listed so far */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = first + i, ref = 0, keep = 0, k;
        const uint32_t *fr;
        if (b->dict) {
            fr = cp_stack_dict_stack(b->dict, id, &k);
            cp_stack_dict_stack_ref(b->dict, id, &ref, &keep);
            if (keep > k || (keep && ref >= id))
                keep = 0;           /* cannot happen; stay correct anyway */
            fr += keep;
            k -= keep;
        } else {
            fr = b->stacks[i].frames;
            k = b->stacks[i].n;
            keep = b->stacks[i].keep;
            ref = b->stacks[i].ref;
            if ((!fr && k) || (keep && ref >= id))
                return CP_EINVAL;
        }
        PK(msgpack_pack_array(pk, CSTACK_MIN + k));
        PK(msgpack_pack_uint32(pk, keep ? id - ref : 0));
        PK(msgpack_pack_uint32(pk, keep));
        for (uint32_t j = 0; j < k; j++) {
            PK(msgpack_pack_int64(pk, (int64_t)fr[j] - (j ? (int64_t)fr[j - 1] : mx)));
            if (fr[j] > mx)
                mx = fr[j];
        }
    }
    return 0;
}

static int cmp_value(const void *a, const void *b)
{
    const cp_wire_value_t *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    return 0;
}

/* key 14: values grouped by type, [type, scale, [stack, v, dstack, v...]]
 * sorted by stack (stack ids as differences, >= 0), each value divided by
 * the group's scale: the largest power of ten dividing all of its values
 * (lossless; an agent that rounds ns to us gets scale 1000). */
static int enc_cvalues(msgpack_packer *pk, const cp_batch_t *b)
{
    uint32_t n = b->n_values;
    cp_wire_value_t *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return CP_ENOMEM;
    memcpy(v, b->values, (size_t)n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_value);
    uint32_t groups = 0;
    for (uint32_t i = 0; i < n; i++)
        groups += i == 0 || v[i].type != v[i - 1].type;
    int rc = CP_ENOMEM;
    if (msgpack_pack_array(pk, groups))
        goto out;
    for (uint32_t i = 0, j; i < n; i = j) {
        uint64_t scale = 1000000000ull;
        for (j = i; j < n && v[j].type == v[i].type; j++)
            while (scale > 1 && v[j].value % scale)
                scale /= 10;
        if (msgpack_pack_array(pk, CVALUES_TUPLE) || msgpack_pack_uint32(pk, v[i].type) ||
            msgpack_pack_uint64(pk, scale) || msgpack_pack_array(pk, 2 * (j - i)))
            goto out;
        for (uint32_t k = i; k < j; k++)
            if (msgpack_pack_uint32(pk, k == i ? v[k].stack : v[k].stack - v[k - 1].stack) ||
                msgpack_pack_uint64(pk, v[k].value / scale))
                goto out;
    }
    rc = 0;
out:
    free(v);
    return rc;
}

static int enc_frame(msgpack_packer *pk, const cp_frame_t *fr)
{
    PK(msgpack_pack_array(pk, FRAME_TUPLE));
    PK(msgpack_pack_uint32(pk, fr->class_id));
    PK(msgpack_pack_uint32(pk, fr->method_id));
    PK(msgpack_pack_uint32(pk, fr->sig_id));
    PK(msgpack_pack_int32(pk, fr->line));
    PK(msgpack_pack_uint8(pk, fr->kind));
    return 0;
}

static int enc_stack(msgpack_packer *pk, const uint32_t *fr, uint32_t n)
{
    PK(msgpack_pack_array(pk, n));
    for (uint32_t i = 0; i < n; i++)
        PK(msgpack_pack_uint32(pk, fr[i]));
    return 0;
}

/* A dictionary string: a reference into the static table when allowed
 * and present (fixext 2: ext type, big-endian index), else the bytes. */
static int pack_dstr(msgpack_packer *pk, const char *s, size_t len, uint32_t enc)
{
    if (enc & CP_WIRE_ENC_STRTAB1) {
        int32_t ix = cp_wire_strtab_find(&cp_wire_strtab1, s, len);
        if (ix >= 0) {
            char be16[2] = {(char)(ix >> 8), (char)ix};
            PK(msgpack_pack_ext(pk, 2, (int8_t)cp_wire_strtab1.ext));
            PK(msgpack_pack_ext_body(pk, be16, 2));
            return 0;
        }
    }
    return pack_str(pk, s, len);
}

static int enc_delta(msgpack_packer *pk, const cp_batch_t *b, uint8_t type, uint32_t enc)
{
    uint32_t n = enc_delta_count(b, type);
    uint32_t first = type == FT_DSTRS ? b->str_first : type == FT_DFRAMES ? b->frame_first : b->stack_first;
    int rc;
    PK(msgpack_pack_array(pk, DELTA_TUPLE));
    PK(msgpack_pack_uint32(pk, first));
    PK(msgpack_pack_array(pk, n));
    for (uint32_t i = 0; i < n; i++) {
        switch (type) {
        case FT_DSTRS:
            if (b->dict) {
                size_t len;
                const char *s = cp_stack_dict_string(b->dict, first + i, &len);
                rc = pack_dstr(pk, s, len, enc);
            } else {
                if (!b->strs[i].s && b->strs[i].len)
                    return CP_EINVAL;
                rc = pack_dstr(pk, b->strs[i].s ? b->strs[i].s : "", b->strs[i].len, enc);
            }
            break;
        case FT_DFRAMES:
            rc = enc_frame(pk, b->dict ? cp_stack_dict_frame(b->dict, first + i) : &b->frames[i]);
            break;
        default:
            if (b->dict) {
                uint32_t k;
                const uint32_t *fr = cp_stack_dict_stack(b->dict, first + i, &k);
                rc = enc_stack(pk, fr, k);
            } else {
                if ((!b->stacks[i].frames && b->stacks[i].n) || b->stacks[i].keep)
                    return CP_EINVAL;     /* references need the compact layout */
                rc = enc_stack(pk, b->stacks[i].frames, b->stacks[i].n);
            }
            break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int enc_field(msgpack_packer *pk, const field_t *f, const void *s, uint32_t enc)
{
    const cp_batch_t *cb = s;
    uint32_t n = f->off_n ? CMEMBER(s, f->off_n, uint32_t) : 0;
    int rc;
    switch (f->type) {
    case FT_U32:  PK(msgpack_pack_uint32(pk, CMEMBER(s, f->off, uint32_t))); return 0;
    case FT_U64:  PK(msgpack_pack_uint64(pk, CMEMBER(s, f->off, uint64_t))); return 0;
    case FT_I32:  PK(msgpack_pack_int32(pk, CMEMBER(s, f->off, int32_t))); return 0;
    case FT_BOOL:
        PK(CMEMBER(s, f->off, bool) ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        return 0;
    case FT_STR:
        return pack_cstr(pk, CMEMBER(s, f->off, const char *));
    case FT_KV: {
        const cp_kv_t *kv = CMEMBER(s, f->off, const cp_kv_t *);
        if (!kv)
            return CP_EINVAL;
        PK(msgpack_pack_map(pk, n));
        for (uint32_t i = 0; i < n; i++)
            if ((rc = pack_cstr(pk, kv[i].key)) || (rc = pack_cstr(pk, kv[i].value)))
                return rc;
        return 0;
    }
    case FT_STRARR: {
        const char *const *a = CMEMBER(s, f->off, const char *const *);
        if (!a)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n));
        for (uint32_t i = 0; i < n; i++)
            if ((rc = pack_cstr(pk, a[i])))
                return rc;
        return 0;
    }
    case FT_TYPES: {
        const cp_sample_type_t *t = CMEMBER(s, f->off, const cp_sample_type_t *);
        if (!t)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n));
        for (uint32_t i = 0; i < n; i++) {
            PK(msgpack_pack_array(pk, TYPE_TUPLE));
            if ((rc = pack_cstr(pk, t[i].name)) || (rc = pack_cstr(pk, t[i].unit)))
                return rc;
        }
        return 0;
    }
    case FT_DSTRS: case FT_DFRAMES: case FT_DSTACKS: {
        const cp_batch_t *b = s;
        if (!b->dict && ((f->type == FT_DSTRS && !b->strs) || (f->type == FT_DFRAMES && !b->frames) ||
                         (f->type == FT_DSTACKS && !b->stacks)))
            return CP_EINVAL;
        return enc_delta(pk, b, f->type, enc);
    }
    case FT_CFRAMES:
        if (!cb->dict && !cb->frames)
            return CP_EINVAL;
        return enc_cframes(pk, cb);
    case FT_CSTACKS:
        if (!cb->dict && !cb->stacks)
            return CP_EINVAL;
        return enc_cstacks(pk, cb);
    case FT_CVALUES:
        if (!cb->values)
            return CP_EINVAL;
        return enc_cvalues(pk, cb);
    case FT_VALUES: {
        const cp_wire_value_t *v = CMEMBER(s, f->off, const cp_wire_value_t *);
        if (!v || n > UINT32_MAX / VALUE_STRIDE)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n * VALUE_STRIDE));
        for (uint32_t i = 0; i < n; i++) {
            PK(msgpack_pack_uint32(pk, v[i].stack));
            PK(msgpack_pack_uint32(pk, v[i].type));
            PK(msgpack_pack_uint64(pk, v[i].value));
        }
        return 0;
    }
    case FT_COUNTERS: {
        const cp_counter_t *c = CMEMBER(s, f->off, const cp_counter_t *);
        if (!c)
            return CP_EINVAL;
        PK(msgpack_pack_map(pk, n));
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = pack_cstr(pk, c[i].name)))
                return rc;
            PK(msgpack_pack_uint64(pk, c[i].value));
        }
        return 0;
    }
    case FT_POINTS: {
        const cp_point_t *p = CMEMBER(s, f->off, const cp_point_t *);
        if (!p)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n));
        for (uint32_t i = 0; i < n; i++) {
            PK(msgpack_pack_array(pk, POINT_TUPLE));
            if ((rc = pack_cstr(pk, p[i].series)))
                return rc;
            PK(msgpack_pack_uint64(pk, p[i].t_ms));
            /* an integral value goes as an int (1-9 bytes, not 9): every
             * decoder reads any int as a float field */
            double pv = p[i].value;
            if (pv >= -9.2e18 && pv <= 9.2e18 && pv == (double)(int64_t)pv && !(pv == 0 && signbit(pv)))
                PK(msgpack_pack_int64(pk, (int64_t)pv));
            else
                PK(msgpack_pack_double(pk, pv));
        }
        return 0;
    }
    }
    return CP_EINVAL;
}

/* Semantic rules shared by encoder (on what it is asked to send) and
 * decoder (on what it received). refs: also check references inside the
 * batch (decoder only: with b->dict the encoder has no arrays to check). */
static int validate_batch(const cp_batch_t *b, bool refs, const cp_wire_limits_t *lim, errbuf_t *e);

static int validate(const cp_msg_t *m, bool refs, const cp_wire_limits_t *lim, errbuf_t *e)
{
    switch (m->kind) {
    case CP_MSG_HELLO:
        if (m->u.hello.proto != CP_WIRE_VERSION)
            return fail(e, CP_EVERSION, "hello key 1: proto %u, this side speaks %d",
                        m->u.hello.proto, CP_WIRE_VERSION);
        return 0;
    case CP_MSG_WELCOME:
        if (m->u.welcome.proto != CP_WIRE_VERSION)
            return fail(e, CP_EVERSION, "welcome key 1: proto %u, this side speaks %d",
                        m->u.welcome.proto, CP_WIRE_VERSION);
        return 0;
    case CP_MSG_BATCH:
        return validate_batch(&m->u.batch, refs, lim, e);
    default:
        return 0;
    }
}

/* Deflates src into out (appending), with the preset dictionary zd if
 * not NULL (the stream then carries its id; RFC 1950 FDICT). */
static int deflate_into(const uint8_t *src, size_t n, int level, const cp_wire_zdict_t *zd, cp_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit(&zs, level) != Z_OK)
        return CP_ENOMEM;
    int rc = CP_EZLIB;
    if (zd && deflateSetDictionary(&zs, zd->data, (uInt)zd->len) != Z_OK)
        goto out;
    size_t bound = deflateBound(&zs, (uLong)n) + 16;    /* + room for the dictionary id */
    if ((rc = cp_buf_reserve(out, bound)) != 0)
        goto out;
    zs.next_in = (Bytef *)(src ? src : (const uint8_t *)"");
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        rc = CP_EZLIB;
        goto out;
    }
    out->len += bound - zs.avail_out;
    rc = 0;
out:
    deflateEnd(&zs);
    return rc;
}

int cp_wire_encode(const cp_msg_t *m, int zlib_level, cp_buf_t *out)
{
    cp_wire_encopt_t o = {zlib_level, 0};
    return cp_wire_encode_ex(m, &o, out);
}

int cp_wire_encode_ex(const cp_msg_t *m, const cp_wire_encopt_t *opt, cp_buf_t *out)
{
    int zlib_level = opt ? opt->zlib_level : 0;
    uint32_t enc = opt ? opt->enc : 0;
    if (!m || !out || m->kind < 1 || m->kind > CP_MSG_KIND_MAX || zlib_level < 0 || zlib_level > 9 ||
        (enc & ~CP_WIRE_ENC_ALL) || ((enc & CP_WIRE_ENC_ZDICT1) && !zlib_level))
        return CP_EINVAL;
    bool compact = (enc & CP_WIRE_ENC_COMPACT1) && m->kind == CP_MSG_BATCH;
    /* A copy (the union is small) so proto 0 can mean "this version". */
    cp_msg_t mc = *m;
    if (mc.kind == CP_MSG_HELLO && mc.u.hello.proto == 0)
        mc.u.hello.proto = CP_WIRE_VERSION;
    if (mc.kind == CP_MSG_WELCOME && mc.u.welcome.proto == 0)
        mc.u.welcome.proto = CP_WIRE_VERSION;
    m = &mc;
    const layout_t *L = &LAYOUTS[m->kind];
    const void *s = &m->u;
    errbuf_t e = {NULL, 0};
    int rc;

    for (uint32_t i = 0; i < L->n; i++) {
        const field_t *f = &L->f[i];
        if (f->type == FT_STR && (f->flags & F_REQ)) {
            const char *v = CMEMBER(s, f->off, const char *);
            if (!v || ((f->flags & F_NONEMPTY) && !*v))
                return CP_EINVAL;
        }
    }
    if ((rc = validate(m, false, &cp_wire_default_limits, &e)) != 0)
        return rc == CP_EVERSION ? CP_EINVAL : rc;
    if (m->kind == CP_MSG_BATCH && m->u.batch.dict) {
        /* A first id past the dictionary's count means the caller's "sent"
         * counts belong to another dictionary (cleared without a reset). */
        const cp_batch_t *b = &m->u.batch;
        if (b->str_first > cp_stack_dict_strings(b->dict) || b->frame_first > cp_stack_dict_frames(b->dict) ||
            b->stack_first > cp_stack_dict_stacks(b->dict))
            return CP_EINVAL;
    }

    size_t start = out->len;
    uint8_t hdr[CP_WIRE_HEADER_SIZE] = {'C', 'P', CP_WIRE_VERSION, (uint8_t)m->kind,
                                        zlib_level ? CP_WIRE_FLAG_ZLIB : 0, 0, 0, 0, 0, 0, 0, 0};
    if ((rc = cp_buf_append(out, hdr, sizeof hdr)) != 0)
        return rc;

    /* Uncompressed: pack straight into out. Compressed: pack into a scratch
     * buffer, then deflate into out. */
    cp_buf_t scratch = CP_BUF_INIT;
    cp_buf_t *dst = zlib_level ? &scratch : out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, dst, buf_write);

    uint32_t nkeys = 0;
    for (uint32_t i = 0; i < L->n; i++)
        nkeys += enc_present(&L->f[i], s, compact);
    rc = CP_ENOMEM;
    if (msgpack_pack_map(&pk, nkeys) != 0)
        goto fail;
    for (uint32_t i = 0; i < L->n; i++) {
        const field_t *f = &L->f[i];
        if (!enc_present(f, s, compact))
            continue;
        rc = CP_ENOMEM;
        if (msgpack_pack_uint8(&pk, f->key) != 0)
            goto fail;
        if ((rc = enc_field(&pk, f, s, m->kind == CP_MSG_BATCH ? enc : 0)) != 0)
            goto fail;
    }

    size_t raw = zlib_level ? scratch.len : out->len - start - CP_WIRE_HEADER_SIZE;
    if (raw > UINT32_MAX) {
        rc = CP_ETOOBIG;
        goto fail;
    }
    if (zlib_level && (rc = deflate_into(scratch.data, raw, zlib_level,
                                         (enc & CP_WIRE_ENC_ZDICT1) ? &cp_wire_zdict1 : NULL, out)) != 0)
        goto fail;
    uint8_t *h = out->data + start;
    h[8] = (uint8_t)(raw >> 24);
    h[9] = (uint8_t)(raw >> 16);
    h[10] = (uint8_t)(raw >> 8);
    h[11] = (uint8_t)raw;
    cp_buf_fini(&scratch);
    return 0;
fail:
    cp_buf_fini(&scratch);
    out->len = start;
    return rc;
}

/* ======================================================================
 * Decoder: arena
 * ====================================================================== */

typedef struct achunk {
    struct achunk *next;
    size_t         used, cap;
    max_align_t    data[];
} achunk_t;

typedef struct arena {
    achunk_t *head;
    size_t    held;      /* bytes in chunks */
    size_t    limit;     /* max held (cp_wire_limits_t.max_decoded); 0 = none */
    bool      over;      /* last failure was the limit, not malloc */
} arena_t;

#define ARENA_CHUNK (32 * 1024)

/* align: 1 for string bytes, 8 for structs. Returns NULL on malloc failure
 * or past the limit (then a->over is set). */
static void *arena_alloc(arena_t *a, size_t n, size_t align)
{
    achunk_t *c = a->head;
    size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || off > c->cap || c->cap - off < n) {
        size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        if (a->limit && (cap > a->limit || a->held > a->limit - cap)) {
            a->over = true;
            return NULL;
        }
        achunk_t *nc = malloc(sizeof(achunk_t) + (cap ? cap : 1));
        if (!nc)
            return NULL;
        a->held += cap;
        nc->used = 0;
        nc->cap = cap;
        if (c && cap != ARENA_CHUNK) {       /* big block behind the current chunk */
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = c;
        a->head = nc;
        c = nc;
        off = 0;
    }
    void *p = (char *)c->data + off;
    c->used = off + n;
    return p;
}

static void arena_free(arena_t *a)
{
    achunk_t *c = a->head;
    while (c) {
        achunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* ======================================================================
 * Decoder: bounded msgpack reader
 * ====================================================================== */

typedef struct rd {
    const uint8_t          *p, *end;
    const cp_wire_limits_t *lim;
    arena_t                *arena;
    errbuf_t                e;
} rd_t;

static inline size_t left(const rd_t *r) { return (size_t)(r->end - r->p); }

static int need(rd_t *r, size_t n)
{
    return left(r) >= n ? 0 : fail(&r->e, CP_ETRUNC, "input ends inside a value");
}

/* After an arena allocation failed: the limit or real OOM. */
static int mem_fail(rd_t *r)
{
    if (r->arena->over)
        return fail(&r->e, CP_ELIMIT, "decoded message over max_decoded (%zu bytes)", r->arena->limit);
    return fail(&r->e, CP_ENOMEM, "out of memory");
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static const char *type_name(uint8_t b)
{
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) return "uint";
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return "int";
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return "str";
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) return "array";
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) return "map";
    if (b == 0xc0) return "nil";
    if (b == 0xc2 || b == 0xc3) return "bool";
    if (b == 0xca || b == 0xcb) return "float";
    if (b >= 0xc4 && b <= 0xc6) return "bin";
    if (b == 0xc1) return "reserved byte 0xc1";
    return "ext";
}

/* Integer of any msgpack int encoding. *neg set if negative (value in *sv). */
static int rd_int(rd_t *r, uint64_t *uv, int64_t *sv, bool *neg)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    *neg = false;
    if (b <= 0x7f) {
        r->p++;
        *uv = b;
        *sv = b;
        return 0;
    }
    if (b >= 0xe0) {
        r->p++;
        *neg = true;
        *sv = (int8_t)b;
        return 0;
    }
    int n;
    bool sgn;
    switch (b) {
    case 0xcc: n = 1; sgn = false; break;
    case 0xcd: n = 2; sgn = false; break;
    case 0xce: n = 4; sgn = false; break;
    case 0xcf: n = 8; sgn = false; break;
    case 0xd0: n = 1; sgn = true; break;
    case 0xd1: n = 2; sgn = true; break;
    case 0xd2: n = 4; sgn = true; break;
    case 0xd3: n = 8; sgn = true; break;
    default:
        return fail(&r->e, CP_ETYPE, "is a %s, not an int", type_name(b));
    }
    if ((rc = need(r, 1 + (size_t)n)))
        return rc;
    uint64_t v = be(r->p + 1, n);
    r->p += 1 + n;
    if (sgn) {
        int64_t s;
        switch (n) {
        case 1: s = (int8_t)v; break;
        case 2: s = (int16_t)v; break;
        case 4: s = (int32_t)v; break;
        default: s = (int64_t)v; break;
        }
        *sv = s;
        *neg = s < 0;
        *uv = (uint64_t)s;
    } else {
        *uv = v;
        *sv = (int64_t)v;
    }
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v)
{
    int64_t s;
    bool neg;
    int rc = rd_int(r, v, &s, &neg);
    if (rc)
        return rc;
    return neg ? fail(&r->e, CP_ERANGE, "is negative (%lld)", (long long)s) : 0;
}

static int rd_u32(rd_t *r, uint32_t *v)
{
    uint64_t u;
    int rc = rd_u64(r, &u);
    if (rc)
        return rc;
    if (u > UINT32_MAX)
        return fail(&r->e, CP_ERANGE, "%llu does not fit in 32 bits", (unsigned long long)u);
    *v = (uint32_t)u;
    return 0;
}

static int rd_i32(rd_t *r, int32_t *v)
{
    uint64_t u;
    int64_t s;
    bool neg;
    int rc = rd_int(r, &u, &s, &neg);
    if (rc)
        return rc;
    if (!neg && u > INT32_MAX)
        return fail(&r->e, CP_ERANGE, "%llu does not fit in int32", (unsigned long long)u);
    if (neg && s < INT32_MIN)
        return fail(&r->e, CP_ERANGE, "%lld does not fit in int32", (long long)s);
    *v = (int32_t)s;
    return 0;
}

static int rd_f64(rd_t *r, double *v)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b == 0xcb || b == 0xca) {
        size_t n = b == 0xcb ? 8 : 4;
        if ((rc = need(r, 1 + n)))
            return rc;
        uint64_t bits = be(r->p + 1, (int)n);
        r->p += 1 + n;
        if (n == 8) {
            memcpy(v, &bits, 8);
        } else {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, 4);
            *v = f;
        }
        return 0;
    }
    uint64_t u;
    int64_t s;
    bool neg;
    if ((rc = rd_int(r, &u, &s, &neg)))
        return rc == CP_ETYPE ? fail(&r->e, CP_ETYPE, "is a %s, not a number", type_name(b)) : rc;
    *v = neg ? (double)s : (double)u;
    return 0;
}

static int rd_bool(rd_t *r, bool *v)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b != 0xc2 && b != 0xc3)
        return fail(&r->e, CP_ETYPE, "is a %s, not a bool", type_name(b));
    r->p++;
    *v = b == 0xc3;
    return 0;
}

/* Reads a str header; checks max_string and the bytes left. */
static int rd_str_raw(rd_t *r, const uint8_t **s, uint32_t *len)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    size_t hl;
    uint64_t n;
    if (b >= 0xa0 && b <= 0xbf) {
        hl = 1; n = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        hl = 1 + ((size_t)1 << (b - 0xd9));
        if ((rc = need(r, hl)))
            return rc;
        n = be(r->p + 1, (int)hl - 1);
    } else {
        return fail(&r->e, CP_ETYPE, "is a %s, not a str", type_name(b));
    }
    if (n > r->lim->max_string)
        return fail(&r->e, CP_ETOOBIG, "string of %llu bytes over the limit of %u",
                    (unsigned long long)n, r->lim->max_string);
    if ((rc = need(r, hl + n)))
        return rc;
    *s = r->p + hl;
    *len = (uint32_t)n;
    r->p += hl + n;
    return 0;
}

static int rd_str(rd_t *r, const char **out, uint32_t *outlen)
{
    const uint8_t *s = NULL;
    uint32_t n = 0;
    int rc = rd_str_raw(r, &s, &n);
    if (rc)
        return rc;
    char *c = arena_alloc(r->arena, (size_t)n + 1, 1);
    if (!c)
        return mem_fail(r);
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    if (outlen)
        *outlen = n;
    return 0;
}

/* A dictionary string: a str, or (strtab1) a reference into a static
 * string table: fixext 1/2/4 whose ext type names the table and whose data
 * is the big-endian index. The string then points into the table. */
static int rd_dstr(rd_t *r, cp_str_t *out)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b != 0xd4 && b != 0xd5 && b != 0xd6)
        return rd_str(r, &out->s, &out->len);
    size_t n = b == 0xd4 ? 1 : b == 0xd5 ? 2 : 4;
    if ((rc = need(r, 2 + n)))
        return rc;
    int8_t ext = (int8_t)r->p[1];
    uint64_t ix = be(r->p + 2, (int)n);
    const cp_wire_strtab_t *t = strtab_by_ext(ext);
    if (!t)
        return fail(&r->e, CP_EUNSUPP, "ext type %d is not a string table this side knows", ext);
    if (ix >= t->n)
        return fail(&r->e, CP_EDANGLING, "%s has %u strings, not %llu", t->name, t->n, (unsigned long long)ix + 1);
    r->p += 2 + n;
    out->s = t->strs[ix];
    out->len = (uint32_t)strlen(out->s);
    if (out->len > r->lim->max_string)
        return fail(&r->e, CP_ETOOBIG, "string of %u bytes over the limit of %u", out->len, r->lim->max_string);
    return 0;
}

/* Reads an array (map=false) or map header. Checks the count against
 * max_count and against the bytes left, assuming each element (each pair
 * for a map) needs at least min_el bytes. */
static int rd_container(rd_t *r, bool map, size_t min_el, uint32_t *count)
{
    int rc;
    if ((rc = need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    size_t hl;
    uint64_t n;
    if (!map && b >= 0x90 && b <= 0x9f) {
        hl = 1; n = b & 0x0f;
    } else if (map && b >= 0x80 && b <= 0x8f) {
        hl = 1; n = b & 0x0f;
    } else if ((!map && (b == 0xdc || b == 0xdd)) || (map && (b == 0xde || b == 0xdf))) {
        hl = (b == 0xdc || b == 0xde) ? 3 : 5;
        if ((rc = need(r, hl)))
            return rc;
        n = be(r->p + 1, (int)hl - 1);
    } else {
        return fail(&r->e, CP_ETYPE, "is a %s, not %s", type_name(b), map ? "a map" : "an array");
    }
    if (n > r->lim->max_count)
        return fail(&r->e, CP_ELIMIT, "%llu elements over the limit of %u",
                    (unsigned long long)n, r->lim->max_count);
    r->p += hl;
    if (n * min_el > left(r))
        return fail(&r->e, CP_ETRUNC, "claims %llu elements, only %zu bytes left",
                    (unsigned long long)n, left(r));
    *count = (uint32_t)n;
    return 0;
}

/* Skips one value of any type. Iterative, with an explicit nesting stack. */
static int rd_skip(rd_t *r)
{
    uint64_t todo[WIRE_MAX_NEST + 1];
    int depth = 0;
    todo[0] = 1;
    while (depth >= 0) {
        if (todo[depth] == 0) {
            depth--;
            continue;
        }
        todo[depth]--;
        int rc;
        if ((rc = need(r, 1)))
            return rc;
        uint8_t b = *r->p;
        uint64_t n = 0;     /* elements of a container */
        size_t skip = 0;    /* bytes after the type byte */
        bool cont = false;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            skip = 0;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b >= 0x90 && b <= 0x9f) {
            n = b & 0x0f; cont = true;
        } else if (b >= 0x80 && b <= 0x8f) {
            n = 2u * (b & 0x0f); cont = true;
        } else {
            size_t hl;
            switch (b) {
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: case 0xca: skip = 4; break;
            case 0xcf: case 0xd3: case 0xcb: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xc4: case 0xd9: case 0xc7: hl = 1; goto var;
            case 0xc5: case 0xda: case 0xc8: hl = 2; goto var;
            case 0xc6: case 0xdb: case 0xc9: hl = 4; goto var;
            var:
                if ((rc = need(r, 1 + hl)))
                    return rc;
                skip = hl + be(r->p + 1, (int)hl);
                if (b >= 0xc7 && b <= 0xc9)
                    skip += 1;          /* ext type byte */
                break;
            case 0xdc: case 0xde:
                if ((rc = need(r, 3)))
                    return rc;
                n = be(r->p + 1, 2); skip = 2; cont = true;
                if (b == 0xde) n *= 2;
                break;
            case 0xdd: case 0xdf:
                if ((rc = need(r, 5)))
                    return rc;
                n = be(r->p + 1, 4); skip = 4; cont = true;
                if (b == 0xdf) n *= 2;
                break;
            default:
                return fail(&r->e, CP_EMSGPACK, "byte 0x%02x is not valid msgpack", b);
            }
        }
        if ((rc = need(r, 1 + skip)))
            return rc;
        r->p += 1 + skip;
        if (cont && n) {
            if (n > left(r))
                return fail(&r->e, CP_ETRUNC, "claims %llu elements, only %zu bytes left",
                            (unsigned long long)n, left(r));
            if (depth + 1 > WIRE_MAX_NEST)
                return fail(&r->e, CP_ENEST, "values nested over %d deep", WIRE_MAX_NEST);
            todo[++depth] = n;
        }
    }
    return 0;
}

/* Skips elements [have, n) of a tuple (forward compatibility). */
static int rd_skip_n(rd_t *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc = rd_skip(r);
        if (rc)
            return rc;
    }
    return 0;
}

static int rd_tuple(rd_t *r, uint32_t min, size_t min_el, uint32_t *n, const char *what)
{
    int rc = rd_container(r, false, min_el, n);
    if (rc)
        return rc;
    if (*n < min)
        return fail(&r->e, CP_ETYPE, "%s has %u elements, needs %u", what, *n, min);
    return 0;
}

static void *rd_alloc(rd_t *r, size_t n, size_t el)
{
    if (n && el > SIZE_MAX / n)
        return NULL;
    return arena_alloc(r->arena, n * el, 8);
}

/* ======================================================================
 * Decoder: fields
 * ====================================================================== */

static int dec_delta(rd_t *r, const field_t *f, cp_batch_t *b)
{
    uint32_t tn, n, first;
    int rc;
    if ((rc = rd_tuple(r, DELTA_TUPLE, MIN_ANY, &tn, "delta")))
        return rc;
    if ((rc = rd_u32(r, &first)))
        return where(&r->e, rc, "first id");
    size_t min_el = f->type == FT_DFRAMES ? MIN_FRAME : MIN_ANY;
    if ((rc = rd_container(r, false, min_el, &n)))
        return rc;
    if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
        return fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                    (unsigned long long)first + n, r->lim->max_dict);
    if (f->type == FT_DSTRS) {
        cp_str_t *a = rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = rd_dstr(r, &a[i])))
                return where(&r->e, rc, "string %u", first + i);
        b->str_first = first; b->strs = a; b->n_strs = n;
    } else if (f->type == FT_DFRAMES) {
        cp_frame_t *a = rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k, kind = 0;
            cp_frame_t *fr = &a[i];
            memset(fr, 0, sizeof *fr);
            const char *fld = "";
            if ((rc = rd_tuple(r, FRAME_TUPLE, MIN_ANY, &k, "frame")) ||
                (fld = "class", rc = rd_u32(r, &fr->class_id)) ||
                (fld = "method", rc = rd_u32(r, &fr->method_id)) ||
                (fld = "sig", rc = rd_u32(r, &fr->sig_id)) ||
                (fld = "line", rc = rd_i32(r, &fr->line)) ||
                (fld = "kind", rc = rd_u32(r, &kind)) ||
                (fld = "extra element", rc = rd_skip_n(r, k - FRAME_TUPLE))) {
                if (*fld)
                    where(&r->e, rc, "%s", fld);
                return where(&r->e, rc, "frame %u", first + i);
            }
            if (kind > CP_FRAME_KIND_MAX)
                return fail(&r->e, CP_ERANGE, "frame %u: kind %u is not a cp_frame_kind_t", first + i, kind);
            fr->kind = (uint8_t)kind;
        }
        b->frame_first = first; b->frames = a; b->n_frames = n;
    } else {
        cp_wire_stack_t *a = rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = rd_container(r, false, MIN_ANY, &k)))
                return where(&r->e, rc, "stack %u", first + i);
            if (k > r->lim->max_depth)
                return fail(&r->e, CP_ELIMIT, "stack %u: %u frames over the depth limit of %u",
                            first + i, k, r->lim->max_depth);
            uint32_t *fr = rd_alloc(r, k, sizeof *fr);
            if (!fr && k)
                return mem_fail(r);
            for (uint32_t j = 0; j < k; j++)
                if ((rc = rd_u32(r, &fr[j])))
                    return where(&r->e, rc, "stack %u: frame %u", first + i, j);
            a[i] = (cp_wire_stack_t){k ? fr : NULL, k, 0, 0};
        }
        b->stack_first = first; b->stacks = a; b->n_stacks = n;
    }
    return rd_skip_n(r, tn - DELTA_TUPLE);
}

/* Signed difference, as any msgpack int. */
static int rd_s64(rd_t *r, int64_t *v)
{
    uint64_t u;
    bool neg;
    int rc = rd_int(r, &u, v, &neg);
    if (rc)
        return rc;
    if (!neg && u > INT64_MAX)
        return fail(&r->e, CP_ERANGE, "%llu does not fit in int64", (unsigned long long)u);
    return 0;
}

/* key 12: [first, class[], method[], sig[], line[], kind[]], equal lengths. */
static int dec_cframes(rd_t *r, cp_batch_t *b)
{
    uint32_t tn, n = 0, first;
    int rc;
    if ((rc = rd_tuple(r, CFRAMES_TUPLE, MIN_ANY, &tn, "frames")))
        return rc;
    if ((rc = rd_u32(r, &first)))
        return where(&r->e, rc, "first id");
    static const char *const col_name[5] = {"class", "method", "sig", "line", "kind"};
    cp_frame_t *a = NULL;
    for (int col = 0; col < 5; col++) {
        uint32_t k;
        if ((rc = rd_container(r, false, MIN_ANY, &k)))
            return where(&r->e, rc, "%s column", col_name[col]);
        if (col == 0) {
            n = k;
            if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
                return fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                            (unsigned long long)first + n, r->lim->max_dict);
            /* 5 columns of >= 1 byte per frame must still fit */
            if ((uint64_t)n * 4 > left(r))
                return fail(&r->e, CP_ETRUNC, "claims %u frames, only %zu bytes left", n, left(r));
            a = rd_alloc(r, n, sizeof *a);
            if (!a && n)
                return mem_fail(r);
            if (n)
                memset(a, 0, (size_t)n * sizeof *a);
        } else if (k != n) {
            return fail(&r->e, CP_ETYPE, "%s column has %u elements, class column %u", col_name[col], k, n);
        }
        int64_t prev = 0, mx = 0;   /* mx: largest class/method id of frames [0, i) */
        for (uint32_t i = 0; i < n; i++) {
            cp_frame_t *fr = &a[i];
            if (col == 4) {
                uint32_t kind;
                if ((rc = rd_u32(r, &kind)))
                    return where(&r->e, rc, "frame %u: kind", first + i);
                if (kind > CP_FRAME_KIND_MAX)
                    return fail(&r->e, CP_ERANGE, "frame %u: kind %u is not a cp_frame_kind_t", first + i, kind);
                fr->kind = (uint8_t)kind;
                continue;
            }
            int64_t d;
            if ((rc = rd_s64(r, &d)))
                return where(&r->e, rc, "frame %u: %s", first + i, col_name[col]);
            /* base and d both fit in int64; the sum is checked per column */
            int64_t base = col == 1 ? mx : prev;
            if ((d > 0 && base > INT64_MAX - d) || (d < 0 && base < INT64_MIN - d))
                return fail(&r->e, CP_ERANGE, "frame %u: %s overflows", first + i, col_name[col]);
            int64_t v = base + d;
            prev = v;
            if (col == 3) {
                if (v < INT32_MIN || v > INT32_MAX)
                    return fail(&r->e, CP_ERANGE, "frame %u: line %lld does not fit in int32", first + i, (long long)v);
                fr->line = (int32_t)v;
            } else {
                if (v < 0 || v > UINT32_MAX)
                    return fail(&r->e, CP_ERANGE, "frame %u: %s id %lld out of range", first + i, col_name[col],
                                (long long)v);
                if (col == 0) fr->class_id = (uint32_t)v;
                else if (col == 1) fr->method_id = (uint32_t)v;
                else fr->sig_id = (uint32_t)v;
                if (col == 1) {     /* the class column is complete: both ids known */
                    if (fr->class_id > mx)
                        mx = fr->class_id;
                    if (fr->method_id > mx)
                        mx = fr->method_id;
                }
            }
        }
    }
    b->frame_first = first; b->frames = a; b->n_frames = n;
    return rd_skip_n(r, tn - CFRAMES_TUPLE);
}

/* key 13: [first, [[back, keep, frame, d...]...]]. */
static int dec_cstacks(rd_t *r, cp_batch_t *b)
{
    uint32_t tn, n, first;
    int rc;
    if ((rc = rd_tuple(r, DELTA_TUPLE, MIN_ANY, &tn, "stacks")))
        return rc;
    if ((rc = rd_u32(r, &first)))
        return where(&r->e, rc, "first id");
    if ((rc = rd_container(r, false, 3, &n)))     /* each stack: header + back + keep */
        return rc;
    if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
        return fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                    (unsigned long long)first + n, r->lim->max_dict);
    cp_wire_stack_t *a = rd_alloc(r, n, sizeof *a);
    if (!a && n)
        return mem_fail(r);
    int64_t mx = 0;       /* largest frame id listed so far (base of each first delta) */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k, back, keep, id = first + i;
        if ((rc = rd_tuple(r, CSTACK_MIN, MIN_ANY, &k, "stack")))
            return where(&r->e, rc, "stack %u", id);
        if ((rc = rd_u32(r, &back)))
            return where(&r->e, rc, "stack %u: back", id);
        if ((rc = rd_u32(r, &keep)))
            return where(&r->e, rc, "stack %u: keep", id);
        if (back > id)
            return fail(&r->e, CP_EDANGLING, "stack %u: refers %u stacks back, before stack 0", id, back);
        if (!back != !keep)
            return fail(&r->e, CP_ERANGE, "stack %u: back %u with keep %u (both 0 or neither)", id, back, keep);
        k -= CSTACK_MIN;
        if (k > r->lim->max_depth || keep > r->lim->max_depth - k)
            return fail(&r->e, CP_ELIMIT, "stack %u: %u + %u frames over the depth limit of %u",
                        id, keep, k, r->lim->max_depth);
        uint32_t *fr = rd_alloc(r, k, sizeof *fr);
        if (!fr && k)
            return mem_fail(r);
        int64_t prev = mx;
        for (uint32_t j = 0; j < k; j++) {
            int64_t d;
            if ((rc = rd_s64(r, &d)))
                return where(&r->e, rc, "stack %u: frame %u", id, j);
            /* prev is in [0, UINT32_MAX]: no overflow before the range check */
            if ((d > 0 && prev > INT64_MAX - d) || (d < 0 && prev < INT64_MIN - d) ||
                prev + d < 0 || prev + d > UINT32_MAX)
                return fail(&r->e, CP_ERANGE, "stack %u: frame %u: id out of range", id, j);
            prev += d;
            fr[j] = (uint32_t)prev;
            if (prev > mx)
                mx = prev;
        }
        a[i] = (cp_wire_stack_t){k ? fr : NULL, k, keep, keep ? id - back : 0};
    }
    b->stack_first = first; b->stacks = a; b->n_stacks = n;
    return rd_skip_n(r, tn - DELTA_TUPLE);
}

/* key 14: [[type, scale, [stack d, value, ...]]...]. Two passes: count,
 * then decode into one array. */
static int dec_cvalues(rd_t *r, cp_batch_t *b)
{
    uint32_t g;
    int rc;
    if ((rc = rd_container(r, false, MIN_ANY, &g)))
        return rc;
    const uint8_t *start = r->p;
    uint64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        cp_wire_value_t *v = NULL;
        if (pass == 1) {
            r->p = start;
            v = rd_alloc(r, (size_t)total, sizeof *v);
            if (!v && total)
                return mem_fail(r);
            b->values = v;
            b->n_values = (uint32_t)total;
        }
        uint64_t o = 0;
        for (uint32_t i = 0; i < g; i++) {
            uint32_t tn, type, k;
            uint64_t scale;
            if ((rc = rd_tuple(r, CVALUES_TUPLE, MIN_ANY, &tn, "value group")) ||
                (rc = rd_u32(r, &type)) || (rc = rd_u64(r, &scale)))
                return where(&r->e, rc, "value group %u", i);
            if (scale == 0)
                return fail(&r->e, CP_ERANGE, "value group %u: scale 0", i);
            if ((rc = rd_container(r, false, MIN_ANY, &k)))
                return where(&r->e, rc, "value group %u", i);
            if (k % 2)
                return fail(&r->e, CP_ETYPE, "value group %u: %u elements, not pairs", i, k);
            if (pass == 0) {
                total += k / 2;
                if (total * VALUE_STRIDE > r->lim->max_count)
                    return fail(&r->e, CP_ELIMIT, "%llu values over the limit of %u",
                                (unsigned long long)total, r->lim->max_count / VALUE_STRIDE);
                if ((rc = rd_skip_n(r, k)))
                    return where(&r->e, rc, "value group %u", i);
            } else {
                uint64_t stack = 0;
                for (uint32_t j = 0; j < k / 2; j++, o++) {
                    uint32_t d;
                    uint64_t val;
                    if ((rc = rd_u32(r, &d)) || (rc = rd_u64(r, &val)))
                        return where(&r->e, rc, "value group %u: value %u", i, j);
                    stack += d;
                    if (stack > UINT32_MAX)
                        return fail(&r->e, CP_ERANGE, "value group %u: value %u: stack id over 32 bits", i, j);
                    if (val > UINT64_MAX / scale)
                        return fail(&r->e, CP_ERANGE, "value group %u: value %u: %llu x %llu overflows", i, j,
                                    (unsigned long long)val, (unsigned long long)scale);
                    v[o] = (cp_wire_value_t){(uint32_t)stack, type, val * scale};
                }
            }
            if ((rc = rd_skip_n(r, tn - CVALUES_TUPLE)))
                return where(&r->e, rc, "value group %u", i);
        }
    }
    return 0;
}

static int dec_field(rd_t *r, const field_t *f, void *s)
{
    uint32_t n;
    int rc;
    switch (f->type) {
    case FT_U32:  return rd_u32(r, &MEMBER(s, f->off, uint32_t));
    case FT_U64:  return rd_u64(r, &MEMBER(s, f->off, uint64_t));
    case FT_I32:  return rd_i32(r, &MEMBER(s, f->off, int32_t));
    case FT_BOOL: return rd_bool(r, &MEMBER(s, f->off, bool));
    case FT_STR:
        if ((rc = rd_str(r, &MEMBER(s, f->off, const char *), NULL)))
            return rc;
        if ((f->flags & F_NONEMPTY) && !*MEMBER(s, f->off, const char *))
            return fail(&r->e, CP_EMISSING, "is empty");
        return 0;
    case FT_KV: {
        if ((rc = rd_container(r, true, MIN_KV, &n)))
            return rc;
        cp_kv_t *kv = rd_alloc(r, n, sizeof *kv);
        if (!kv && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = rd_str(r, &kv[i].key, NULL)))
                return where(&r->e, rc, "entry %u key", i);
            if ((rc = rd_str(r, &kv[i].value, NULL)))
                return where(&r->e, rc, "entry %u (%s)", i, kv[i].key);
        }
        MEMBER(s, f->off, const cp_kv_t *) = kv;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_STRARR: {
        if ((rc = rd_container(r, false, MIN_ANY, &n)))
            return rc;
        const char **a = rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = rd_str(r, &a[i], NULL)))
                return where(&r->e, rc, "element %u", i);
        MEMBER(s, f->off, const char *const *) = a;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_TYPES: {
        if ((rc = rd_container(r, false, MIN_TYPE, &n)))
            return rc;
        cp_sample_type_t *t = rd_alloc(r, n, sizeof *t);
        if (!t && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = rd_tuple(r, TYPE_TUPLE, MIN_ANY, &k, "type")) ||
                (rc = rd_str(r, &t[i].name, NULL)) || (rc = rd_str(r, &t[i].unit, NULL)) ||
                (rc = rd_skip_n(r, k - TYPE_TUPLE)))
                return where(&r->e, rc, "type %u", i);
        }
        MEMBER(s, f->off, const cp_sample_type_t *) = t;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_DSTRS: case FT_DFRAMES: case FT_DSTACKS:
        return dec_delta(r, f, s);
    case FT_CFRAMES: return dec_cframes(r, s);
    case FT_CSTACKS: return dec_cstacks(r, s);
    case FT_CVALUES: return dec_cvalues(r, s);
    case FT_VALUES: {
        if ((rc = rd_container(r, false, MIN_ANY, &n)))
            return rc;
        if (n % VALUE_STRIDE)
            return fail(&r->e, CP_ETYPE, "%u elements, not a multiple of %d", n, VALUE_STRIDE);
        n /= VALUE_STRIDE;
        cp_wire_value_t *v = rd_alloc(r, n, sizeof *v);
        if (!v && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = rd_u32(r, &v[i].stack)))
                return where(&r->e, rc, "value %u: stack", i);
            if ((rc = rd_u32(r, &v[i].type)))
                return where(&r->e, rc, "value %u: type", i);
            if ((rc = rd_u64(r, &v[i].value)))
                return where(&r->e, rc, "value %u: value", i);
        }
        MEMBER(s, f->off, const cp_wire_value_t *) = v;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_COUNTERS: {
        if ((rc = rd_container(r, true, MIN_KV, &n)))
            return rc;
        cp_counter_t *c = rd_alloc(r, n, sizeof *c);
        if (!c && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = rd_str(r, &c[i].name, NULL)))
                return where(&r->e, rc, "counter %u name", i);
            if ((rc = rd_u64(r, &c[i].value)))
                return where(&r->e, rc, "counter %s", c[i].name);
        }
        MEMBER(s, f->off, const cp_counter_t *) = c;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_POINTS: {
        if ((rc = rd_container(r, false, MIN_POINT, &n)))
            return rc;
        cp_point_t *p = rd_alloc(r, n, sizeof *p);
        if (!p && n)
            return mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = rd_tuple(r, POINT_TUPLE, MIN_ANY, &k, "point")) ||
                (rc = rd_str(r, &p[i].series, NULL)) || (rc = rd_u64(r, &p[i].t_ms)) ||
                (rc = rd_f64(r, &p[i].value)) || (rc = rd_skip_n(r, k - POINT_TUPLE)))
                return where(&r->e, rc, "point %u", i);
        }
        MEMBER(s, f->off, const cp_point_t *) = p;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    }
    return fail(&r->e, CP_EINVAL, "internal: unknown field type");
}

static int validate_batch(const cp_batch_t *b, bool refs, const cp_wire_limits_t *lim, errbuf_t *e)
{
    if (b->seq == 0)
        return fail(e, CP_ERANGE, "batch key 1: seq is 0 (seqs start at 1)");
    if (b->end_ms < b->start_ms)
        return fail(e, CP_ERANGE, "batch key 3: end_ms %llu before start_ms %llu",
                    (unsigned long long)b->end_ms, (unsigned long long)b->start_ms);
    if (!refs)
        return 0;
    /* Inside one message an id is surely dangling when this batch defines
     * part of its table and the id is past the end of that part; ids below
     * the first one are earlier batches' business (cp_wire_dict_apply). */
    uint64_t str_end = (uint64_t)b->str_first + b->n_strs;
    uint64_t frame_end = (uint64_t)b->frame_first + b->n_frames;
    uint64_t stack_end = (uint64_t)b->stack_first + b->n_stacks;
    for (uint32_t i = 0; i < b->n_frames; i++) {
        const cp_frame_t *f = &b->frames[i];
        if (b->n_strs && (f->class_id >= str_end || f->method_id >= str_end || f->sig_id >= str_end))
            return fail(e, CP_EDANGLING, "batch key 7: frame %u: string id %u not defined",
                        b->frame_first + i,
                        f->class_id >= str_end ? f->class_id : f->method_id >= str_end ? f->method_id : f->sig_id);
    }
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        const cp_wire_stack_t *s = &b->stacks[i];
        if (!b->n_frames)
            break;
        for (uint32_t j = 0; j < s->n; j++)
            if (s->frames[j] >= frame_end)
                return fail(e, CP_EDANGLING, "batch key 8: stack %u: frame id %u not defined",
                            b->stack_first + i, s->frames[j]);
    }
    for (uint32_t i = 0; i < b->n_values; i++) {
        const cp_wire_value_t *v = &b->values[i];
        if (v->type >= b->n_types)
            return fail(e, CP_EDANGLING, "batch key 9: value %u: type %u not in key 5 (%u types)",
                        i, v->type, b->n_types);
        if (b->n_stacks && v->stack >= stack_end)
            return fail(e, CP_EDANGLING, "batch key 9: value %u: stack id %u not defined", i, v->stack);
    }
    (void)lim;
    return 0;
}

/* Decodes the payload map into m->u per the kind's layout. */
static int dec_payload(rd_t *r, cp_msg_t *m)
{
    const layout_t *L = &LAYOUTS[m->kind];
    const char *kn = cp_wire_kind_name(m->kind);
    uint64_t seen = 0;
    uint32_t n;
    int rc;
    void *s = &m->u;

    if ((rc = rd_container(r, true, MIN_KV, &n)))
        return where(&r->e, rc, "%s payload", kn);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t key;
        if ((rc = rd_u64(r, &key)))
            return where(&r->e, rc == CP_ERANGE ? CP_ETYPE : rc, "%s: map key %u", kn, i);
        const field_t *f = NULL;
        for (uint32_t j = 0; j < L->n; j++)
            if (L->f[j].key == key) {
                f = &L->f[j];
                break;
            }
        if (!f) {   /* unknown key: skip (forward compatibility); nil counts as absent too */
            if ((rc = rd_skip(r)))
                return where(&r->e, rc, "%s key %llu (unknown, skipped)", kn, (unsigned long long)key);
            continue;
        }
        if (seen & (1ull << f->key))
            return fail(&r->e, CP_EMSGPACK, "%s key %u (%s): appears twice", kn, f->key, f->name);
        /* batch keys 12-14 are the compact forms of 7-9: one of each pair */
        if (m->kind == CP_MSG_BATCH && f->key >= 7 && f->key <= 14 && f->key != 10 && f->key != 11) {
            unsigned twin = f->key <= 9 ? f->key + 5u : f->key - 5u;
            if (seen & (1ull << twin))
                return fail(&r->e, CP_EMSGPACK, "%s key %u (%s): key %u says the same", kn, f->key, f->name, twin);
        }
        if (left(r) && *r->p == 0xc0) {     /* nil = absent */
            r->p++;
            continue;
        }
        seen |= 1ull << f->key;
        if ((rc = dec_field(r, f, s)))
            return where(&r->e, rc, "%s key %u (%s)", kn, f->key, f->name);
    }
    for (uint32_t j = 0; j < L->n; j++) {
        const field_t *f = &L->f[j];
        if ((f->flags & F_REQ) && !(seen & (1ull << f->key)))
            return fail(&r->e, CP_EMISSING, "%s key %u (%s): required, missing", kn, f->key, f->name);
        /* Strings are never NULL once decoded. */
        if (f->type == FT_STR && !MEMBER(s, f->off, const char *))
            MEMBER(s, f->off, const char *) = "";
    }
    return validate(m, true, r->lim, &r->e);
}

/* ======================================================================
 * Decoder: envelope, zlib, entry points
 * ====================================================================== */

static int peek(const uint8_t *data, size_t len, errbuf_t *e, cp_msg_kind_t *kind, uint32_t *plen, uint8_t *flags)
{
    if (!data && len)
        return fail(e, CP_EINVAL, "no data");
    if (len >= 1 && data[0] != 'C')
        return fail(e, CP_EMAGIC, "envelope: bad magic");
    if (len >= 2 && data[1] != 'P')
        return fail(e, CP_EMAGIC, "envelope: bad magic");
    if (len < CP_WIRE_HEADER_SIZE)
        return fail(e, CP_ETRUNC, "envelope: %zu bytes, the header alone is %d", len, CP_WIRE_HEADER_SIZE);
    if (data[2] != CP_WIRE_VERSION)
        return fail(e, CP_EVERSION, "envelope: version %u, this side speaks %d", data[2], CP_WIRE_VERSION);
    if (data[3] < 1 || data[3] > CP_MSG_KIND_MAX)
        return fail(e, CP_EKIND, "envelope: unknown kind %u", data[3]);
    if ((data[4] & ~CP_WIRE_FLAG_ZLIB) || data[5] || data[6] || data[7])
        return fail(e, CP_EUNSUPP, "envelope: unknown flags 0x%02x or reserved bytes set", data[4]);
    *kind = (cp_msg_kind_t)data[3];
    *plen = (uint32_t)be(data + 8, 4);
    *flags = data[4];
    return 0;
}

int cp_wire_peek(const uint8_t *data, size_t len, cp_msg_kind_t *kind, uint32_t *payload_len)
{
    errbuf_t e = {NULL, 0};
    uint8_t flags;
    cp_msg_kind_t k;
    uint32_t pl;
    int rc = peek(data, len, &e, &k, &pl, &flags);
    if (rc)
        return rc;
    if (kind)
        *kind = k;
    if (payload_len)
        *payload_len = pl;
    return 0;
}

/* Inflates src into a malloc'd buffer of exactly plen bytes. The buffer
 * grows with the output (starting near the compressed size), so a small
 * message that merely claims a large payload costs little memory. */
static int inflate_payload(const uint8_t *src, size_t n, uint32_t plen, uint8_t **out, errbuf_t *e)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return fail(e, CP_ENOMEM, "zlib: inflateInit failed");
    size_t cap = (size_t)plen;
    if (n < (SIZE_MAX >> 4) && cap > n * 8 + 4096)
        cap = n * 8 + 4096;
    uint8_t *buf = malloc(cap ? cap : 1);     /* grown below as output appears */
    int rc = 0;
    if (!buf) {
        rc = fail(e, CP_ENOMEM, "out of memory");
        goto out;
    }
    zs.next_in = (Bytef *)src;
    size_t produced = 0, cap_max = (size_t)plen + 1;
    for (;;) {
        /* Room for one byte past the declared length, so a stream that is
         * longer than declared shows up as output, not as silence. */
        if (produced == cap) {   /* then cap <= plen < cap_max */
            size_t ncap = cap < 2048 ? 4096 : cap * 2;
            if (ncap > cap_max)
                ncap = cap_max;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                rc = fail(e, CP_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t in_left = n - (size_t)(zs.next_in - src);
        zs.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        zs.next_out = buf + produced;
        size_t room = cap - produced;
        zs.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        uInt before = zs.avail_out;
        int zr = inflate(&zs, Z_NO_FLUSH);
        produced += before - zs.avail_out;
        if (produced > plen) {
            rc = fail(e, CP_EZLIB, "zlib: payload longer than the %u bytes declared", plen);
            goto out;
        }
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_OK)
            continue;
        if (zr == Z_NEED_DICT) {    /* zs.adler holds the stream's dictionary id */
            const cp_wire_zdict_t *zd = zdict_by_id((uint32_t)zs.adler);
            if (!zd) {
                rc = fail(e, CP_EZLIB, "zlib: unknown preset dictionary 0x%08lx", (unsigned long)zs.adler);
                goto out;
            }
            if (inflateSetDictionary(&zs, zd->data, (uInt)zd->len) != Z_OK) {
                rc = fail(e, CP_EZLIB, "zlib: preset dictionary %s refused", zd->name);
                goto out;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && zs.avail_out == 0)
            continue;            /* needs more room: grow */
        if (zr == Z_BUF_ERROR) { /* needs more input and there is none */
            rc = fail(e, CP_ETRUNC, "zlib: stream ends early (%zu of %u bytes)", produced, plen);
            goto out;
        }
        if (zr == Z_MEM_ERROR) {
            rc = fail(e, CP_ENOMEM, "zlib: out of memory");
            goto out;
        }
        rc = fail(e, CP_EZLIB, "zlib: %s", zs.msg ? zs.msg : "corrupt stream");
        goto out;
    }
    if (produced != plen) {
        rc = fail(e, CP_EZLIB, "zlib: payload is %zu bytes, header says %u", produced, plen);
        goto out;
    }
    if ((size_t)(zs.next_in - src) != n) {
        rc = fail(e, CP_ETRAILING, "zlib: %zu bytes after the end of the stream",
                  n - (size_t)(zs.next_in - src));
        goto out;
    }
out:
    inflateEnd(&zs);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

int cp_wire_decode(const uint8_t *data, size_t len, const cp_wire_limits_t *lim,
                   cp_msg_t **out, char *err, size_t errlen)
{
    errbuf_t e = {err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return fail(&e, CP_EINVAL, "no output");
    *out = NULL;
    if (!lim)
        lim = &cp_wire_default_limits;
    if (len > lim->max_message)
        return fail(&e, CP_ETOOBIG, "envelope: message of %zu bytes over the limit of %zu",
                    len, lim->max_message);
    cp_msg_kind_t kind;
    uint32_t plen;
    uint8_t flags;
    int rc = peek(data, len, &e, &kind, &plen, &flags);
    if (rc)
        return rc;
    if (plen > lim->max_payload)
        return fail(&e, CP_ETOOBIG, "envelope: payload of %u bytes over the limit of %zu",
                    plen, lim->max_payload);
    const uint8_t *body = data + CP_WIRE_HEADER_SIZE;
    size_t blen = len - CP_WIRE_HEADER_SIZE;
    uint8_t *inflated = NULL;
    if (flags & CP_WIRE_FLAG_ZLIB) {
        if ((rc = inflate_payload(body, blen, plen, &inflated, &e)))
            return rc;
        body = inflated;
        blen = plen;
    } else if (blen < plen) {
        return fail(&e, CP_ETRUNC, "envelope: %zu payload bytes, header says %u", blen, plen);
    } else if (blen > plen) {
        return fail(&e, CP_ETRAILING, "envelope: %zu payload bytes, header says %u", blen, plen);
    }

    cp_msg_t *m = calloc(1, sizeof *m);
    arena_t *a = calloc(1, sizeof *a);
    if (!m || !a) {
        free(m);
        free(a);
        free(inflated);
        return fail(&e, CP_ENOMEM, "out of memory");
    }
    m->kind = kind;
    m->_arena = a;
    a->limit = lim->max_decoded;
    rd_t r = { .p = body, .end = body + blen, .lim = lim, .arena = a, .e = e };
    rc = dec_payload(&r, m);
    if (!rc && r.p != r.end)
        rc = fail(&r.e, CP_ETRAILING, "%s: %zu bytes after the payload map",
                  cp_wire_kind_name(kind), left(&r));
    free(inflated);
    if (rc) {
        cp_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void cp_msg_free(cp_msg_t *m)
{
    if (!m)
        return;
    if (m->_arena) {
        arena_free(m->_arena);
        free(m->_arena);
    }
    free(m);
}

/* ======================================================================
 * Receiver dictionary
 * ====================================================================== */

typedef struct wstr {
    size_t   off;      /* into chars */
    uint32_t len;
} wstr_t;

typedef struct wstack {
    size_t   off;      /* into pool */
    uint32_t n;
} wstack_t;

struct cp_wire_dict {
    cp_wire_limits_t lim;
    wstr_t     *strs;   uint32_t n_strs, cap_strs;
    char       *chars;  size_t   n_chars, cap_chars;
    cp_frame_t *frames; uint32_t n_frames, cap_frames;
    wstack_t   *stacks; uint32_t n_stacks, cap_stacks;
    uint32_t   *pool;   size_t   n_pool, cap_pool;
};

cp_wire_dict_t *cp_wire_dict_create(const cp_wire_limits_t *lim)
{
    cp_wire_dict_t *d = calloc(1, sizeof *d);
    if (d)
        d->lim = lim ? *lim : cp_wire_default_limits;
    return d;
}

void cp_wire_dict_destroy(cp_wire_dict_t *d)
{
    if (!d)
        return;
    free(d->strs);
    free(d->chars);
    free(d->frames);
    free(d->stacks);
    free(d->pool);
    free(d);
}

/* Grows *p (cap elements of el bytes) to hold need elements. */
static int reserve(void **p, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > SIZE_MAX / el)
        return CP_ENOMEM;
    void *np = realloc(*p, nc * el);
    if (!np)
        return CP_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int reserve32(void **p, uint32_t *cap, uint32_t need, size_t el)
{
    size_t c = *cap;
    int rc = reserve(p, &c, need, el);
    if (!rc)
        *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return rc;
}

size_t cp_wire_dict_memory(const cp_wire_dict_t *d)
{
    return sizeof *d + (size_t)d->cap_strs * sizeof(wstr_t) + d->cap_chars +
           (size_t)d->cap_frames * sizeof(cp_frame_t) + (size_t)d->cap_stacks * sizeof(wstack_t) +
           d->cap_pool * sizeof(uint32_t);
}

int cp_wire_dict_apply(cp_wire_dict_t *d, const cp_batch_t *b, char *err, size_t errlen)
{
    errbuf_t e = {err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!d || !b)
        return fail(&e, CP_EINVAL, "no dictionary or batch");
    bool reset = b->flags & CP_BATCH_DICT_RESET;
    uint32_t ns = reset ? 0 : d->n_strs, nf = reset ? 0 : d->n_frames, nk = reset ? 0 : d->n_stacks;
    size_t nchars = reset ? 0 : d->n_chars, npool = reset ? 0 : d->n_pool;

    /* 1. Order and size. */
    if (b->n_strs && b->str_first != ns)
        return fail(&e, CP_EGAP, "batch key 6: first string id %u, receiver has %u", b->str_first, ns);
    if (b->n_frames && b->frame_first != nf)
        return fail(&e, CP_EGAP, "batch key 7: first frame id %u, receiver has %u", b->frame_first, nf);
    if (b->n_stacks && b->stack_first != nk)
        return fail(&e, CP_EGAP, "batch key 8: first stack id %u, receiver has %u", b->stack_first, nk);
    uint64_t ns2 = (uint64_t)ns + b->n_strs, nf2 = (uint64_t)nf + b->n_frames, nk2 = (uint64_t)nk + b->n_stacks;
    if (ns2 > d->lim.max_dict || nf2 > d->lim.max_dict || nk2 > d->lim.max_dict)
        return fail(&e, CP_ELIMIT, "dictionary over its limit of %u ids per table", d->lim.max_dict);
    size_t add_chars = 0, add_pool = 0;
    for (uint32_t i = 0; i < b->n_strs; i++)
        add_chars += (size_t)b->strs[i].len + 1;
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        /* a reference (compact layout) takes the first `keep` frames of an
         * earlier stack: known here, or earlier in this batch */
        const cp_wire_stack_t *s = &b->stacks[i];
        if (s->keep) {
            uint32_t rn;
            if (s->ref >= nk + i)
                return fail(&e, CP_EDANGLING, "batch key 13: stack %u: refers to stack %u, not defined before it",
                            nk + i, s->ref);
            rn = s->ref < nk ? d->stacks[s->ref].n : b->stacks[s->ref - nk].keep + b->stacks[s->ref - nk].n;
            if (s->keep > rn)
                return fail(&e, CP_ERANGE, "batch key 13: stack %u: keeps %u frames of stack %u, which has %u",
                            nk + i, s->keep, s->ref, rn);
            if (s->n > d->lim.max_depth || s->keep > d->lim.max_depth - s->n)
                return fail(&e, CP_ELIMIT, "batch key 13: stack %u: %u frames over the depth limit of %u",
                            nk + i, s->keep + s->n, d->lim.max_depth);
        }
        add_pool += (size_t)s->keep + s->n;
    }
    size_t bytes = (nchars + add_chars) + (npool + add_pool) * sizeof(uint32_t) +
                   (size_t)ns2 * sizeof(wstr_t) + (size_t)nf2 * sizeof(cp_frame_t) +
                   (size_t)nk2 * sizeof(wstack_t);
    if (d->lim.max_dict_bytes && bytes > d->lim.max_dict_bytes)
        return fail(&e, CP_ELIMIT, "dictionary of %zu bytes over its limit of %zu", bytes,
                    d->lim.max_dict_bytes);

    /* 2. References, against the dictionary as it will be. */
    for (uint32_t i = 0; i < b->n_frames; i++) {
        const cp_frame_t *f = &b->frames[i];
        if (f->class_id >= ns2 || f->method_id >= ns2 || f->sig_id >= ns2)
            return fail(&e, CP_EDANGLING, "batch key 7: frame %u: string id %u unknown", nf + i,
                        f->class_id >= ns2 ? f->class_id : f->method_id >= ns2 ? f->method_id : f->sig_id);
    }
    for (uint32_t i = 0; i < b->n_stacks; i++)
        for (uint32_t j = 0; j < b->stacks[i].n; j++)
            if (b->stacks[i].frames[j] >= nf2)
                return fail(&e, CP_EDANGLING, "batch key 8: stack %u: frame id %u unknown", nk + i,
                            b->stacks[i].frames[j]);
    for (uint32_t i = 0; i < b->n_values; i++)
        if (b->values[i].stack >= nk2)
            return fail(&e, CP_EDANGLING, "batch key 9: value %u: stack id %u unknown", i, b->values[i].stack);

    /* 3. Memory, before anything changes. */
    if (reserve32((void **)&d->strs, &d->cap_strs, (uint32_t)ns2, sizeof(wstr_t)) ||
        reserve((void **)&d->chars, &d->cap_chars, nchars + add_chars, 1) ||
        reserve32((void **)&d->frames, &d->cap_frames, (uint32_t)nf2, sizeof(cp_frame_t)) ||
        reserve32((void **)&d->stacks, &d->cap_stacks, (uint32_t)nk2, sizeof(wstack_t)) ||
        reserve((void **)&d->pool, &d->cap_pool, npool + add_pool, sizeof(uint32_t)))
        return fail(&e, CP_ENOMEM, "out of memory");

    /* 4. Commit. */
    d->n_strs = ns; d->n_chars = nchars; d->n_frames = nf; d->n_stacks = nk; d->n_pool = npool;
    for (uint32_t i = 0; i < b->n_strs; i++) {
        const cp_str_t *s = &b->strs[i];
        if (s->len)
            memcpy(d->chars + d->n_chars, s->s, s->len);
        d->chars[d->n_chars + s->len] = '\0';
        d->strs[d->n_strs++] = (wstr_t){ d->n_chars, s->len };
        d->n_chars += (size_t)s->len + 1;
    }
    if (b->n_frames)
        memcpy(d->frames + d->n_frames, b->frames, (size_t)b->n_frames * sizeof(cp_frame_t));
    d->n_frames += b->n_frames;
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        const cp_wire_stack_t *s = &b->stacks[i];
        size_t off = d->n_pool;
        if (s->keep)     /* the ref is committed already (earlier id); pool has room */
            memcpy(d->pool + d->n_pool, d->pool + d->stacks[s->ref].off, (size_t)s->keep * sizeof(uint32_t));
        d->n_pool += s->keep;
        if (s->n)
            memcpy(d->pool + d->n_pool, s->frames, (size_t)s->n * sizeof(uint32_t));
        d->n_pool += s->n;
        d->stacks[d->n_stacks++] = (wstack_t){ off, s->keep + s->n };
    }
    return 0;
}

const char *cp_wire_dict_string(const cp_wire_dict_t *d, uint32_t id, uint32_t *len)
{
    if (id >= d->n_strs)
        return NULL;
    if (len)
        *len = d->strs[id].len;
    return d->chars + d->strs[id].off;
}

const cp_frame_t *cp_wire_dict_frame(const cp_wire_dict_t *d, uint32_t id)
{
    return id < d->n_frames ? &d->frames[id] : NULL;
}

const uint32_t *cp_wire_dict_stack(const cp_wire_dict_t *d, uint32_t id, uint32_t *n)
{
    static const uint32_t empty[1] = {0};
    if (id >= d->n_stacks) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = d->stacks[id].n;
    return d->stacks[id].n ? d->pool + d->stacks[id].off : empty;
}

uint32_t cp_wire_dict_strings(const cp_wire_dict_t *d) { return d->n_strs; }
uint32_t cp_wire_dict_frames(const cp_wire_dict_t *d)  { return d->n_frames; }
uint32_t cp_wire_dict_stacks(const cp_wire_dict_t *d)  { return d->n_stacks; }
