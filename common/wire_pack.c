/* wire_pack.c - the payload encoder (see wire_pack.h).
 *
 * msgpack-c's msgpack_packer writes through the callback the caller set
 * (wire.c appends to a cp_buf_t). Numbers always go; NULL optional strings
 * and empty arrays are left out (the decoder gives "" and none). A batch's
 * dictionary delta is read from batch.dict when it is set, else from the
 * batch's own arrays.
 *
 * Thread: any; no global state. */
#include "wire_pack.h"
#include "error.h"
#include "wire_compact.h"
#include "wire_layout.h"
#include "wire_strtab.h"

#include <math.h>
#include <string.h>

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

/* Is field f present (to be written) in struct s? Numbers always are.
 * compact: the batch goes in the compact layout (keys 12-14, not 7-9). */
static bool enc_present(const cp__wire_field_t *f, const void *s, bool compact)
{
    switch (f->type) {
    case FT_U32: case FT_U64: case FT_I32: case FT_BOOL:
        return true;
    case FT_STR:
        return CMEMBER(s, f->off, const char *) != NULL;
    case FT_DSTRS:
        return cp__wire_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_DFRAMES: case FT_DSTACKS:
        return !compact && cp__wire_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_CFRAMES: case FT_CSTACKS:
        return compact && cp__wire_delta_count((const cp_batch_t *)s, f->type) > 0;
    case FT_VALUES:
        return !compact && CMEMBER(s, f->off_n, uint32_t) > 0;
    case FT_CVALUES:
        return compact && CMEMBER(s, f->off_n, uint32_t) > 0;
    default:
        return CMEMBER(s, f->off_n, uint32_t) > 0;
    }
}

static int enc_frame(msgpack_packer *pk, const cp_frame_t *fr, uint32_t enc)
{
    PK(msgpack_pack_array(pk, FRAME_TUPLE));
    PK(msgpack_pack_uint32(pk, fr->class_id));
    PK(msgpack_pack_uint32(pk, fr->method_id));
    PK(msgpack_pack_uint32(pk, fr->sig_id));
    PK(msgpack_pack_int32(pk, fr->line));
    PK(msgpack_pack_uint8(pk, cp_wire_frame_kind_out(fr->kind, enc)));
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
    uint32_t n = cp__wire_delta_count(b, type);
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
            rc = enc_frame(pk, b->dict ? cp_stack_dict_frame(b->dict, first + i) : &b->frames[i], enc);
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

static int enc_field(msgpack_packer *pk, const cp__wire_field_t *f, const void *s, uint32_t enc)
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
        return cp__wire_compact_pack_frames(pk, cb, enc);
    case FT_CSTACKS:
        if (!cb->dict && !cb->stacks)
            return CP_EINVAL;
        return cp__wire_compact_pack_stacks(pk, cb);
    case FT_CVALUES:
        if (!cb->values)
            return CP_EINVAL;
        return cp__wire_compact_pack_values(pk, cb);
    case FT_DLSETS: {
        if (!cb->lsets)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, DELTA_TUPLE));
        PK(msgpack_pack_uint32(pk, cb->lset_first));
        PK(msgpack_pack_array(pk, cb->n_lsets));
        for (uint32_t i = 0; i < cb->n_lsets; i++) {
            const cp_wire_lset_t *l = &cb->lsets[i];
            if ((!l->kv && l->n) || l->n > CP_WIRE_LSET_MAX_PAIRS)
                return CP_EINVAL;
            PK(msgpack_pack_array(pk, l->n * 2));
            for (uint32_t j = 0; j < l->n; j++)
                if ((rc = pack_cstr(pk, l->kv[j].key)) || (rc = pack_cstr(pk, l->kv[j].value)))
                    return rc;
        }
        return 0;
    }
    case FT_LVALUES: {
        const cp_wire_lvalue_t *v = cb->lvalues;
        if (!v || n > UINT32_MAX / LVALUE_STRIDE)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n * LVALUE_STRIDE));
        for (uint32_t i = 0; i < n; i++) {
            PK(msgpack_pack_uint32(pk, v[i].stack));
            PK(msgpack_pack_uint32(pk, v[i].type));
            PK(msgpack_pack_uint32(pk, v[i].lset));
            PK(msgpack_pack_uint64(pk, v[i].value));
        }
        return 0;
    }
    case FT_TRACES: {
        const cp_wire_trace_t *t = cb->traces;
        if (!t || n > UINT32_MAX / TRACE_STRIDE)
            return CP_EINVAL;
        PK(msgpack_pack_array(pk, n * TRACE_STRIDE));
        for (uint32_t i = 0; i < n; i++) {
            PK(msgpack_pack_uint64(pk, t[i].trace_hi));
            PK(msgpack_pack_uint64(pk, t[i].trace_lo));
            PK(msgpack_pack_uint64(pk, t[i].span));
            PK(msgpack_pack_uint32(pk, t[i].thread));
            PK(msgpack_pack_uint32(pk, t[i].stack));
            PK(msgpack_pack_uint32(pk, t[i].type));
            PK(msgpack_pack_uint64(pk, t[i].value));
        }
        return 0;
    }
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

int cp__wire_pack_check(const cp_msg_t *m)
{
    const cp__wire_layout_t *L = &cp__wire_layouts[m->kind];
    const void *s = &m->u;
    cp__wire_err_t e = {NULL, 0};
    int rc;

    for (uint32_t i = 0; i < L->n; i++) {
        const cp__wire_field_t *f = &L->f[i];
        if (f->type == FT_STR && (f->flags & F_REQ)) {
            const char *v = CMEMBER(s, f->off, const char *);
            if (!v || ((f->flags & F_NONEMPTY) && !*v))
                return CP_EINVAL;
        }
    }
    if ((rc = cp__wire_validate(m, false, &cp_wire_default_limits, &e)) != 0)
        return rc == CP_EVERSION ? CP_EINVAL : rc;
    if (m->kind == CP_MSG_BATCH && m->u.batch.dict) {
        /* A first id past the dictionary's count means the caller's "sent"
         * counts belong to another dictionary (cleared without a reset). */
        const cp_batch_t *b = &m->u.batch;
        if (b->str_first > cp_stack_dict_strings(b->dict) || b->frame_first > cp_stack_dict_frames(b->dict) ||
            b->stack_first > cp_stack_dict_stacks(b->dict))
            return CP_EINVAL;
    }
    return 0;
}

int cp__wire_pack_payload(msgpack_packer *pk, const cp_msg_t *m, uint32_t enc)
{
    const cp__wire_layout_t *L = &cp__wire_layouts[m->kind];
    const void *s = &m->u;
    bool compact = (enc & CP_WIRE_ENC_COMPACT1) && m->kind == CP_MSG_BATCH;
    uint32_t nkeys = 0;
    int rc;

    for (uint32_t i = 0; i < L->n; i++)
        nkeys += enc_present(&L->f[i], s, compact);
    PK(msgpack_pack_map(pk, nkeys));
    for (uint32_t i = 0; i < L->n; i++) {
        const cp__wire_field_t *f = &L->f[i];
        if (!enc_present(f, s, compact))
            continue;
        PK(msgpack_pack_uint8(pk, f->key));
        if ((rc = enc_field(pk, f, s, m->kind == CP_MSG_BATCH ? enc : 0)) != 0)
            return rc;
    }
    return 0;
}
