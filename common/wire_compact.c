/* wire_compact.c - the compact batch layout ("compact1"): encoder and
 * decoder side by side, so each key's coding is read in one place (see
 * wire_compact.h for the shapes).
 *
 * Deltas: frame ids and lines as differences from the previous frame's;
 * method ids from the largest class or method id so far (a new frame's
 * method is most often a string interned just then); a stack's first frame
 * from the largest frame id listed so far (new frames are interned in stack
 * order). Values are grouped by type and sorted by stack, each divided by
 * its group's scale (the largest power of ten dividing all of them):
 * lossless, but the values' order is not kept.
 *
 * Thread: any; no global state. */
#include "wire_compact.h"
#include "error.h"
#include "wire_layout.h"

#include <stdlib.h>
#include <string.h>

#define PK(call) do { if ((call) != 0) return CP_ENOMEM; } while (0)

/* key 12: frames as five columns; ids and lines as differences from the
 * previous frame's (the first from 0), except method ids: from the largest
 * class or method id of the frames before (0 at first), since a new
 * frame's method is most often a string interned just then; kinds as they
 * are. */
int cp__wire_compact_pack_frames(msgpack_packer *pk, const cp_batch_t *b, uint32_t enc)
{
    uint32_t n = cp__wire_delta_count(b, FT_DFRAMES), first = b->frame_first;
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
                PK(msgpack_pack_uint8(pk, cp_wire_frame_kind_out(fr->kind, enc)));
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
int cp__wire_compact_pack_stacks(msgpack_packer *pk, const cp_batch_t *b)
{
    uint32_t n = cp__wire_delta_count(b, FT_DSTACKS), first = b->stack_first;
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
int cp__wire_compact_pack_values(msgpack_packer *pk, const cp_batch_t *b)
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

/* ---- decoder --------------------------------------------------------------- */

/* key 12: [first, class[], method[], sig[], line[], kind[]], equal lengths. */
int cp__wire_compact_unpack_frames(cp__rd_t *r, cp_batch_t *b)
{
    uint32_t tn, n = 0, first;
    int rc;
    if ((rc = cp__rd_tuple(r, CFRAMES_TUPLE, MIN_ANY, &tn, "frames")))
        return rc;
    if ((rc = cp__rd_u32(r, &first)))
        return cp__wire_where(&r->e, rc, "first id");
    static const char *const col_name[5] = {"class", "method", "sig", "line", "kind"};
    cp_frame_t *a = NULL;
    for (int col = 0; col < 5; col++) {
        uint32_t k;
        if ((rc = cp__rd_container(r, false, MIN_ANY, &k)))
            return cp__wire_where(&r->e, rc, "%s column", col_name[col]);
        if (col == 0) {
            n = k;
            if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
                return cp__wire_fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                                     (unsigned long long)first + n, r->lim->max_dict);
            /* 5 columns of >= 1 byte per frame must still fit */
            if ((uint64_t)n * 4 > cp__rd_left(r))
                return cp__wire_fail(&r->e, CP_ETRUNC, "claims %u frames, only %zu bytes left", n, cp__rd_left(r));
            a = cp__rd_alloc(r, n, sizeof *a);
            if (!a && n)
                return cp__rd_mem_fail(r);
            if (n)
                memset(a, 0, (size_t)n * sizeof *a);
        } else if (k != n) {
            return cp__wire_fail(&r->e, CP_ETYPE, "%s column has %u elements, class column %u", col_name[col], k, n);
        }
        int64_t prev = 0, mx = 0;   /* mx: largest class/method id of frames [0, i) */
        for (uint32_t i = 0; i < n; i++) {
            cp_frame_t *fr = &a[i];
            if (col == 4) {
                uint32_t kind;
                if ((rc = cp__rd_u32(r, &kind)))
                    return cp__wire_where(&r->e, rc, "frame %u: kind", first + i);
                if (kind > CP_FRAME_KIND_MAX)
                    return cp__wire_fail(&r->e, CP_ERANGE, "frame %u: kind %u is not a cp_frame_kind_t", first + i, kind);
                fr->kind = (uint8_t)kind;
                continue;
            }
            int64_t d;
            if ((rc = cp__rd_s64(r, &d)))
                return cp__wire_where(&r->e, rc, "frame %u: %s", first + i, col_name[col]);
            /* base and d both fit in int64; the sum is checked per column */
            int64_t base = col == 1 ? mx : prev;
            if ((d > 0 && base > INT64_MAX - d) || (d < 0 && base < INT64_MIN - d))
                return cp__wire_fail(&r->e, CP_ERANGE, "frame %u: %s overflows", first + i, col_name[col]);
            int64_t v = base + d;
            prev = v;
            if (col == 3) {
                if (v < INT32_MIN || v > INT32_MAX)
                    return cp__wire_fail(&r->e, CP_ERANGE, "frame %u: line %lld does not fit in int32", first + i, (long long)v);
                fr->line = (int32_t)v;
            } else {
                if (v < 0 || v > UINT32_MAX)
                    return cp__wire_fail(&r->e, CP_ERANGE, "frame %u: %s id %lld out of range", first + i, col_name[col],
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
    return cp__rd_skip_n(r, tn - CFRAMES_TUPLE);
}

/* key 13: [first, [[back, keep, frame, d...]...]]. */
int cp__wire_compact_unpack_stacks(cp__rd_t *r, cp_batch_t *b)
{
    uint32_t tn, n, first;
    int rc;
    if ((rc = cp__rd_tuple(r, DELTA_TUPLE, MIN_ANY, &tn, "stacks")))
        return rc;
    if ((rc = cp__rd_u32(r, &first)))
        return cp__wire_where(&r->e, rc, "first id");
    if ((rc = cp__rd_container(r, false, 3, &n)))     /* each stack: header + back + keep */
        return rc;
    if (n > r->lim->max_dict || (uint64_t)first + n > r->lim->max_dict)
        return cp__wire_fail(&r->e, CP_ELIMIT, "ids up to %llu over the dictionary limit of %u",
                             (unsigned long long)first + n, r->lim->max_dict);
    cp_wire_stack_t *a = cp__rd_alloc(r, n, sizeof *a);
    if (!a && n)
        return cp__rd_mem_fail(r);
    int64_t mx = 0;       /* largest frame id listed so far (base of each first delta) */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k, back, keep, id = first + i;
        if ((rc = cp__rd_tuple(r, CSTACK_MIN, MIN_ANY, &k, "stack")))
            return cp__wire_where(&r->e, rc, "stack %u", id);
        if ((rc = cp__rd_u32(r, &back)))
            return cp__wire_where(&r->e, rc, "stack %u: back", id);
        if ((rc = cp__rd_u32(r, &keep)))
            return cp__wire_where(&r->e, rc, "stack %u: keep", id);
        if (back > id)
            return cp__wire_fail(&r->e, CP_EDANGLING, "stack %u: refers %u stacks back, before stack 0", id, back);
        if (!back != !keep)
            return cp__wire_fail(&r->e, CP_ERANGE, "stack %u: back %u with keep %u (both 0 or neither)", id, back, keep);
        k -= CSTACK_MIN;
        if (k > r->lim->max_depth || keep > r->lim->max_depth - k)
            return cp__wire_fail(&r->e, CP_ELIMIT, "stack %u: %u + %u frames over the depth limit of %u",
                                 id, keep, k, r->lim->max_depth);
        uint32_t *fr = cp__rd_alloc(r, k, sizeof *fr);
        if (!fr && k)
            return cp__rd_mem_fail(r);
        int64_t prev = mx;
        for (uint32_t j = 0; j < k; j++) {
            int64_t d;
            if ((rc = cp__rd_s64(r, &d)))
                return cp__wire_where(&r->e, rc, "stack %u: frame %u", id, j);
            /* prev is in [0, UINT32_MAX]: no overflow before the range check */
            if ((d > 0 && prev > INT64_MAX - d) || (d < 0 && prev < INT64_MIN - d) ||
                prev + d < 0 || prev + d > UINT32_MAX)
                return cp__wire_fail(&r->e, CP_ERANGE, "stack %u: frame %u: id out of range", id, j);
            prev += d;
            fr[j] = (uint32_t)prev;
            if (prev > mx)
                mx = prev;
        }
        a[i] = (cp_wire_stack_t){k ? fr : NULL, k, keep, keep ? id - back : 0};
    }
    b->stack_first = first; b->stacks = a; b->n_stacks = n;
    return cp__rd_skip_n(r, tn - DELTA_TUPLE);
}

/* key 14: [[type, scale, [stack d, value, ...]]...]. Two passes: count,
 * then decode into one array. */
int cp__wire_compact_unpack_values(cp__rd_t *r, cp_batch_t *b)
{
    uint32_t g;
    int rc;
    if ((rc = cp__rd_container(r, false, MIN_ANY, &g)))
        return rc;
    const uint8_t *start = r->p;
    uint64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        cp_wire_value_t *v = NULL;
        if (pass == 1) {
            r->p = start;
            v = cp__rd_alloc(r, (size_t)total, sizeof *v);
            if (!v && total)
                return cp__rd_mem_fail(r);
            b->values = v;
            b->n_values = (uint32_t)total;
        }
        uint64_t o = 0;
        for (uint32_t i = 0; i < g; i++) {
            uint32_t tn, type, k;
            uint64_t scale;
            if ((rc = cp__rd_tuple(r, CVALUES_TUPLE, MIN_ANY, &tn, "value group")) ||
                (rc = cp__rd_u32(r, &type)) || (rc = cp__rd_u64(r, &scale)))
                return cp__wire_where(&r->e, rc, "value group %u", i);
            if (scale == 0)
                return cp__wire_fail(&r->e, CP_ERANGE, "value group %u: scale 0", i);
            if ((rc = cp__rd_container(r, false, MIN_ANY, &k)))
                return cp__wire_where(&r->e, rc, "value group %u", i);
            if (k % 2)
                return cp__wire_fail(&r->e, CP_ETYPE, "value group %u: %u elements, not pairs", i, k);
            if (pass == 0) {
                total += k / 2;
                if (total * VALUE_STRIDE > r->lim->max_count)
                    return cp__wire_fail(&r->e, CP_ELIMIT, "%llu values over the limit of %u",
                                         (unsigned long long)total, r->lim->max_count / VALUE_STRIDE);
                if ((rc = cp__rd_skip_n(r, k)))
                    return cp__wire_where(&r->e, rc, "value group %u", i);
            } else {
                uint64_t stack = 0;
                for (uint32_t j = 0; j < k / 2; j++, o++) {
                    uint32_t d;
                    uint64_t val;
                    if ((rc = cp__rd_u32(r, &d)) || (rc = cp__rd_u64(r, &val)))
                        return cp__wire_where(&r->e, rc, "value group %u: value %u", i, j);
                    stack += d;
                    if (stack > UINT32_MAX)
                        return cp__wire_fail(&r->e, CP_ERANGE, "value group %u: value %u: stack id over 32 bits", i, j);
                    if (val > UINT64_MAX / scale)
                        return cp__wire_fail(&r->e, CP_ERANGE, "value group %u: value %u: %llu x %llu overflows", i, j,
                                             (unsigned long long)val, (unsigned long long)scale);
                    v[o] = (cp_wire_value_t){(uint32_t)stack, type, val * scale};
                }
            }
            if ((rc = cp__rd_skip_n(r, tn - CVALUES_TUPLE)))
                return cp__wire_where(&r->e, rc, "value group %u", i);
        }
    }
    return 0;
}
