/* wire_unpack.c - the payload decoder (see wire_unpack.h).
 *
 * Decoded arrays and strings live in the message's arena; every count is
 * checked (cp__rd_container, dictionary and depth limits) before memory is
 * reserved for it.
 *
 * Thread: the decoding thread; no global state. */
#include "wire_unpack.h"
#include "error.h"
#include "wire_compact.h"
#include "wire_layout.h"

#include <string.h>

static int dec_delta(cp__rd_t *r, const cp__wire_field_t *f, cp_batch_t *b)
{
    uint32_t tn, n, first;
    int rc;
    if ((rc = cp__rd_tuple(r, DELTA_TUPLE, MIN_ANY, &tn, "delta")))
        return rc;
    if ((rc = cp__rd_u32(r, &first)))
        return cp__wire_where(&r->e, rc, "first id");
    size_t min_el = f->type == FT_DFRAMES ? MIN_FRAME : MIN_ANY;
    if ((rc = cp__rd_container(r, false, min_el, &n)))
        return rc;
    if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
        return cp__wire_fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                             (unsigned long long)first + n, r->lim->max_dict);
    if (f->type == FT_DSTRS) {
        cp_str_t *a = cp__rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = cp__rd_dstr(r, &a[i])))
                return cp__wire_where(&r->e, rc, "string %u", first + i);
        b->str_first = first; b->strs = a; b->n_strs = n;
    } else if (f->type == FT_DFRAMES) {
        cp_frame_t *a = cp__rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k, kind = 0;
            cp_frame_t *fr = &a[i];
            memset(fr, 0, sizeof *fr);
            const char *fld = "";
            if ((rc = cp__rd_tuple(r, FRAME_TUPLE, MIN_ANY, &k, "frame")) ||
                (fld = "class", rc = cp__rd_u32(r, &fr->class_id)) ||
                (fld = "method", rc = cp__rd_u32(r, &fr->method_id)) ||
                (fld = "sig", rc = cp__rd_u32(r, &fr->sig_id)) ||
                (fld = "line", rc = cp__rd_i32(r, &fr->line)) ||
                (fld = "kind", rc = cp__rd_u32(r, &kind)) ||
                (fld = "extra element", rc = cp__rd_skip_n(r, k - FRAME_TUPLE))) {
                if (*fld)
                    cp__wire_wheref(&r->e, "%s", fld);
                return cp__wire_where(&r->e, rc, "frame %u", first + i);
            }
            if (kind > CP_FRAME_KIND_MAX)
                return cp__wire_fail(&r->e, CP_ERANGE, "frame %u: kind %u is not a cp_frame_kind_t", first + i, kind);
            fr->kind = (uint8_t)kind;
        }
        b->frame_first = first; b->frames = a; b->n_frames = n;
    } else {
        cp_wire_stack_t *a = cp__rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = cp__rd_container(r, false, MIN_ANY, &k)))
                return cp__wire_where(&r->e, rc, "stack %u", first + i);
            if (k > r->lim->max_depth)
                return cp__wire_fail(&r->e, CP_ELIMIT, "stack %u: %u frames over the depth limit of %u",
                                     first + i, k, r->lim->max_depth);
            uint32_t *fr = cp__rd_alloc(r, k, sizeof *fr);
            if (!fr && k)
                return cp__rd_mem_fail(r);
            for (uint32_t j = 0; j < k; j++)
                if ((rc = cp__rd_u32(r, &fr[j])))
                    return cp__wire_where(&r->e, rc, "stack %u: frame %u", first + i, j);
            a[i] = (cp_wire_stack_t){k ? fr : NULL, k, 0, 0};
        }
        b->stack_first = first; b->stacks = a; b->n_stacks = n;
    }
    return cp__rd_skip_n(r, tn - DELTA_TUPLE);
}

/* Key 15: [first, [[k, v, k, v...]...]] */
static int dec_lsets(cp__rd_t *r, cp_batch_t *b)
{
    uint32_t tn, n, first;
    int rc;
    if ((rc = cp__rd_tuple(r, DELTA_TUPLE, MIN_ANY, &tn, "delta")))
        return rc;
    if ((rc = cp__rd_u32(r, &first)))
        return cp__wire_where(&r->e, rc, "first id");
    if ((rc = cp__rd_container(r, false, MIN_ANY, &n)))
        return rc;
    if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
        return cp__wire_fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                             (unsigned long long)first + n, r->lim->max_dict);
    cp_wire_lset_t *a = cp__rd_alloc(r, n, sizeof *a);
    if (!a && n)
        return cp__rd_mem_fail(r);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k;
        if ((rc = cp__rd_container(r, false, MIN_ANY, &k)))
            return cp__wire_where(&r->e, rc, "label set %u", first + i);
        if (k % 2 || k / 2 > CP_WIRE_LSET_MAX_PAIRS)
            return cp__wire_fail(&r->e, k % 2 ? CP_ETYPE : CP_ELIMIT,
                                 "label set %u: %u strings (key/value pairs, at most %d)", first + i, k,
                                 CP_WIRE_LSET_MAX_PAIRS);
        cp_kv_t *kv = cp__rd_alloc(r, k / 2, sizeof *kv);
        if (!kv && k)
            return cp__rd_mem_fail(r);
        for (uint32_t j = 0; j < k / 2; j++) {
            if ((rc = cp__rd_str(r, &kv[j].key, NULL)) || (rc = cp__rd_str(r, &kv[j].value, NULL)))
                return cp__wire_where(&r->e, rc, "label set %u: pair %u", first + i, j);
            if (!kv[j].key[0])
                return cp__wire_fail(&r->e, CP_EMISSING, "label set %u: pair %u: empty key", first + i, j);
        }
        a[i] = (cp_wire_lset_t){k ? kv : NULL, k / 2};
    }
    b->lset_first = first;
    b->lsets = a;
    b->n_lsets = n;
    return cp__rd_skip_n(r, tn - DELTA_TUPLE);
}

/* Keys 16 and 17: flat arrays of fixed-stride unsigned tuples. */
static int dec_rows(cp__rd_t *r, const cp__wire_field_t *f, cp_batch_t *b)
{
    uint32_t n, stride = f->type == FT_LVALUES ? LVALUE_STRIDE : TRACE_STRIDE;
    int rc;
    if ((rc = cp__rd_container(r, false, MIN_ANY, &n)))
        return rc;
    if (n % stride)
        return cp__wire_fail(&r->e, CP_ETYPE, "%u elements, not a multiple of %u", n, stride);
    n /= stride;
    if (f->type == FT_LVALUES) {
        cp_wire_lvalue_t *v = cp__rd_alloc(r, n, sizeof *v);
        if (!v && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = cp__rd_u32(r, &v[i].stack)) || (rc = cp__rd_u32(r, &v[i].type)) ||
                (rc = cp__rd_u32(r, &v[i].lset)) || (rc = cp__rd_u64(r, &v[i].value)))
                return cp__wire_where(&r->e, rc, "value %u", i);
        b->lvalues = v;
        b->n_lvalues = n;
    } else {
        cp_wire_trace_t *t = cp__rd_alloc(r, n, sizeof *t);
        if (!t && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = cp__rd_u64(r, &t[i].trace_hi)) || (rc = cp__rd_u64(r, &t[i].trace_lo)) ||
                (rc = cp__rd_u64(r, &t[i].span)) || (rc = cp__rd_u32(r, &t[i].thread)) ||
                (rc = cp__rd_u32(r, &t[i].stack)) || (rc = cp__rd_u32(r, &t[i].type)) ||
                (rc = cp__rd_u64(r, &t[i].value)))
                return cp__wire_where(&r->e, rc, "entry %u", i);
        b->traces = t;
        b->n_traces = n;
    }
    return 0;
}

static int dec_field(cp__rd_t *r, const cp__wire_field_t *f, void *s)
{
    uint32_t n;
    int rc;
    switch (f->type) {
    case FT_U32:  return cp__rd_u32(r, &MEMBER(s, f->off, uint32_t));
    case FT_U64:  return cp__rd_u64(r, &MEMBER(s, f->off, uint64_t));
    case FT_I32:  return cp__rd_i32(r, &MEMBER(s, f->off, int32_t));
    case FT_BOOL: return cp__rd_bool(r, &MEMBER(s, f->off, bool));
    case FT_STR:
        if ((rc = cp__rd_str(r, &MEMBER(s, f->off, const char *), NULL)))
            return rc;
        if ((f->flags & F_NONEMPTY) && !*MEMBER(s, f->off, const char *))
            return cp__wire_fail(&r->e, CP_EMISSING, "is empty");
        return 0;
    case FT_KV: {
        if ((rc = cp__rd_container(r, true, MIN_KV, &n)))
            return rc;
        cp_kv_t *kv = cp__rd_alloc(r, n, sizeof *kv);
        if (!kv && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = cp__rd_str(r, &kv[i].key, NULL)))
                return cp__wire_where(&r->e, rc, "entry %u key", i);
            if ((rc = cp__rd_str(r, &kv[i].value, NULL)))
                return cp__wire_where(&r->e, rc, "entry %u (%s)", i, kv[i].key);
        }
        MEMBER(s, f->off, const cp_kv_t *) = kv;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_STRARR: {
        if ((rc = cp__rd_container(r, false, MIN_ANY, &n)))
            return rc;
        const char **a = cp__rd_alloc(r, n, sizeof *a);
        if (!a && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++)
            if ((rc = cp__rd_str(r, &a[i], NULL)))
                return cp__wire_where(&r->e, rc, "element %u", i);
        MEMBER(s, f->off, const char *const *) = a;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_TYPES: {
        if ((rc = cp__rd_container(r, false, MIN_TYPE, &n)))
            return rc;
        cp_sample_type_t *t = cp__rd_alloc(r, n, sizeof *t);
        if (!t && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = cp__rd_tuple(r, TYPE_TUPLE, MIN_ANY, &k, "type")) ||
                (rc = cp__rd_str(r, &t[i].name, NULL)) || (rc = cp__rd_str(r, &t[i].unit, NULL)) ||
                (rc = cp__rd_skip_n(r, k - TYPE_TUPLE)))
                return cp__wire_where(&r->e, rc, "type %u", i);
        }
        MEMBER(s, f->off, const cp_sample_type_t *) = t;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_DSTRS: case FT_DFRAMES: case FT_DSTACKS:
        return dec_delta(r, f, s);
    case FT_CFRAMES: return cp__wire_compact_unpack_frames(r, s);
    case FT_CSTACKS: return cp__wire_compact_unpack_stacks(r, s);
    case FT_CVALUES: return cp__wire_compact_unpack_values(r, s);
    case FT_DLSETS:  return dec_lsets(r, s);
    case FT_LVALUES: case FT_TRACES: return dec_rows(r, f, s);
    case FT_VALUES: {
        if ((rc = cp__rd_container(r, false, MIN_ANY, &n)))
            return rc;
        if (n % VALUE_STRIDE)
            return cp__wire_fail(&r->e, CP_ETYPE, "%u elements, not a multiple of %d", n, VALUE_STRIDE);
        n /= VALUE_STRIDE;
        cp_wire_value_t *v = cp__rd_alloc(r, n, sizeof *v);
        if (!v && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = cp__rd_u32(r, &v[i].stack)))
                return cp__wire_where(&r->e, rc, "value %u: stack", i);
            if ((rc = cp__rd_u32(r, &v[i].type)))
                return cp__wire_where(&r->e, rc, "value %u: type", i);
            if ((rc = cp__rd_u64(r, &v[i].value)))
                return cp__wire_where(&r->e, rc, "value %u: value", i);
        }
        MEMBER(s, f->off, const cp_wire_value_t *) = v;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_COUNTERS: {
        if ((rc = cp__rd_container(r, true, MIN_KV, &n)))
            return rc;
        cp_counter_t *c = cp__rd_alloc(r, n, sizeof *c);
        if (!c && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            if ((rc = cp__rd_str(r, &c[i].name, NULL)))
                return cp__wire_where(&r->e, rc, "counter %u name", i);
            if ((rc = cp__rd_u64(r, &c[i].value)))
                return cp__wire_where(&r->e, rc, "counter %s", c[i].name);
        }
        MEMBER(s, f->off, const cp_counter_t *) = c;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    case FT_POINTS: {
        if ((rc = cp__rd_container(r, false, MIN_POINT, &n)))
            return rc;
        cp_point_t *p = cp__rd_alloc(r, n, sizeof *p);
        if (!p && n)
            return cp__rd_mem_fail(r);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k;
            if ((rc = cp__rd_tuple(r, POINT_TUPLE, MIN_ANY, &k, "point")) ||
                (rc = cp__rd_str(r, &p[i].series, NULL)) || (rc = cp__rd_u64(r, &p[i].t_ms)) ||
                (rc = cp__rd_f64(r, &p[i].value)) || (rc = cp__rd_skip_n(r, k - POINT_TUPLE)))
                return cp__wire_where(&r->e, rc, "point %u", i);
        }
        MEMBER(s, f->off, const cp_point_t *) = p;
        MEMBER(s, f->off_n, uint32_t) = n;
        return 0;
    }
    }
    return cp__wire_fail(&r->e, CP_EINVAL, "internal: unknown field type");
}

/* Decodes the payload map into m->u per the kind's layout. */
int cp__wire_unpack_payload(cp__rd_t *r, cp_msg_t *m)
{
    const cp__wire_layout_t *L = &cp__wire_layouts[m->kind];
    const char *kn = cp_wire_kind_name(m->kind);
    uint64_t seen = 0;
    uint32_t n;
    int rc;
    void *s = &m->u;

    if ((rc = cp__rd_container(r, true, MIN_KV, &n)))
        return cp__wire_where(&r->e, rc, "%s payload", kn);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t key;
        if ((rc = cp__rd_u64(r, &key)))
            return cp__wire_where(&r->e, rc == CP_ERANGE ? CP_ETYPE : rc, "%s: map key %u", kn, i);
        const cp__wire_field_t *f = NULL;
        for (uint32_t j = 0; j < L->n; j++)
            if (L->f[j].key == key) {
                f = &L->f[j];
                break;
            }
        if (!f) {   /* unknown key: skip (forward compatibility); nil counts as absent too */
            if ((rc = cp__rd_skip(r)))
                return cp__wire_where(&r->e, rc, "%s key %llu (unknown, skipped)", kn, (unsigned long long)key);
            continue;
        }
        if (seen & (1ull << f->key))
            return cp__wire_fail(&r->e, CP_EMSGPACK, "%s key %u (%s): appears twice", kn, f->key, f->name);
        /* batch keys 12-14 are the compact forms of 7-9: one of each pair */
        if (m->kind == CP_MSG_BATCH && f->key >= 7 && f->key <= 14 && f->key != 10 && f->key != 11) {
            unsigned twin = f->key <= 9 ? f->key + 5u : f->key - 5u;
            if (seen & (1ull << twin))
                return cp__wire_fail(&r->e, CP_EMSGPACK, "%s key %u (%s): key %u says the same", kn, f->key, f->name, twin);
        }
        if (cp__rd_left(r) && *r->p == 0xc0) {     /* nil = absent */
            r->p++;
            continue;
        }
        seen |= 1ull << f->key;
        if ((rc = dec_field(r, f, s)))
            return cp__wire_where(&r->e, rc, "%s key %u (%s)", kn, f->key, f->name);
    }
    for (uint32_t j = 0; j < L->n; j++) {
        const cp__wire_field_t *f = &L->f[j];
        if ((f->flags & F_REQ) && !(seen & (1ull << f->key)))
            return cp__wire_fail(&r->e, CP_EMISSING, "%s key %u (%s): required, missing", kn, f->key, f->name);
        /* Strings are never NULL once decoded. */
        if (f->type == FT_STR && !MEMBER(s, f->off, const char *))
            MEMBER(s, f->off, const char *) = "";
    }
    return cp__wire_validate(m, true, r->lim, &r->e);
}
