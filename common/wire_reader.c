/* wire_reader.c - bounded msgpack reader (see wire_reader.h).
 *
 * Why counts are checked against the bytes left: memory held by a decoded
 * message is then at most ~17 bytes per payload byte (an empty string: 1
 * byte in, a 16-byte cp_str_t + 1 out), and at most max_decoded.
 *
 * Thread: the decoding thread; no global state. */
#include "wire_reader.h"
#include "error.h"
#include "wire_encodings.h"

#include <string.h>

int cp__rd_need(cp__rd_t *r, size_t n)
{
    return cp__rd_left(r) >= n ? 0 : cp__wire_fail(&r->e, CP_ETRUNC, "input ends inside a value");
}

/* After an arena allocation failed: the limit or real OOM. */
int cp__rd_mem_fail(cp__rd_t *r)
{
    if (r->arena->over)
        return cp__wire_fail(&r->e, CP_ELIMIT, "decoded message over max_decoded (%zu bytes)", r->arena->limit);
    return cp__wire_fail(&r->e, CP_ENOMEM, "out of memory");
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
int cp__rd_int(cp__rd_t *r, uint64_t *uv, int64_t *sv, bool *neg)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
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
        return cp__wire_fail(&r->e, CP_ETYPE, "is a %s, not an int", type_name(b));
    }
    if ((rc = cp__rd_need(r, 1 + (size_t)n)))
        return rc;
    uint64_t v = cp__rd_be(r->p + 1, n);
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

int cp__rd_u64(cp__rd_t *r, uint64_t *v)
{
    int64_t s;
    bool neg;
    int rc = cp__rd_int(r, v, &s, &neg);
    if (rc)
        return rc;
    return neg ? cp__wire_fail(&r->e, CP_ERANGE, "is negative (%lld)", (long long)s) : 0;
}

int cp__rd_u32(cp__rd_t *r, uint32_t *v)
{
    uint64_t u;
    int rc = cp__rd_u64(r, &u);
    if (rc)
        return rc;
    if (u > UINT32_MAX)
        return cp__wire_fail(&r->e, CP_ERANGE, "%llu does not fit in 32 bits", (unsigned long long)u);
    *v = (uint32_t)u;
    return 0;
}

int cp__rd_i32(cp__rd_t *r, int32_t *v)
{
    uint64_t u;
    int64_t s;
    bool neg;
    int rc = cp__rd_int(r, &u, &s, &neg);
    if (rc)
        return rc;
    if (!neg && u > INT32_MAX)
        return cp__wire_fail(&r->e, CP_ERANGE, "%llu does not fit in int32", (unsigned long long)u);
    if (neg && s < INT32_MIN)
        return cp__wire_fail(&r->e, CP_ERANGE, "%lld does not fit in int32", (long long)s);
    *v = (int32_t)s;
    return 0;
}

int cp__rd_f64(cp__rd_t *r, double *v)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b == 0xcb || b == 0xca) {
        size_t n = b == 0xcb ? 8 : 4;
        if ((rc = cp__rd_need(r, 1 + n)))
            return rc;
        uint64_t bits = cp__rd_be(r->p + 1, (int)n);
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
    if ((rc = cp__rd_int(r, &u, &s, &neg)))
        return rc == CP_ETYPE ? cp__wire_fail(&r->e, CP_ETYPE, "is a %s, not a number", type_name(b)) : rc;
    *v = neg ? (double)s : (double)u;
    return 0;
}

int cp__rd_bool(cp__rd_t *r, bool *v)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b != 0xc2 && b != 0xc3)
        return cp__wire_fail(&r->e, CP_ETYPE, "is a %s, not a bool", type_name(b));
    r->p++;
    *v = b == 0xc3;
    return 0;
}

/* Reads a str header; checks max_string and the bytes left. */
int cp__rd_str_raw(cp__rd_t *r, const uint8_t **s, uint32_t *len)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    size_t hl;
    uint64_t n;
    if (b >= 0xa0 && b <= 0xbf) {
        hl = 1; n = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        hl = 1 + ((size_t)1 << (b - 0xd9));
        if ((rc = cp__rd_need(r, hl)))
            return rc;
        n = cp__rd_be(r->p + 1, (int)hl - 1);
    } else {
        return cp__wire_fail(&r->e, CP_ETYPE, "is a %s, not a str", type_name(b));
    }
    if (n > r->lim->max_string)
        return cp__wire_fail(&r->e, CP_ETOOBIG, "string of %llu bytes over the limit of %u",
                             (unsigned long long)n, r->lim->max_string);
    if ((rc = cp__rd_need(r, hl + n)))
        return rc;
    *s = r->p + hl;
    *len = (uint32_t)n;
    r->p += hl + n;
    return 0;
}

int cp__rd_str(cp__rd_t *r, const char **out, uint32_t *outlen)
{
    const uint8_t *s = NULL;
    uint32_t n = 0;
    int rc = cp__rd_str_raw(r, &s, &n);
    if (rc)
        return rc;
    char *c = cp__arena_alloc(r->arena, (size_t)n + 1, 1);
    if (!c)
        return cp__rd_mem_fail(r);
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
int cp__rd_dstr(cp__rd_t *r, cp_str_t *out)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
        return rc;
    uint8_t b = *r->p;
    if (b != 0xd4 && b != 0xd5 && b != 0xd6)
        return cp__rd_str(r, &out->s, &out->len);
    size_t n = b == 0xd4 ? 1 : b == 0xd5 ? 2 : 4;
    if ((rc = cp__rd_need(r, 2 + n)))
        return rc;
    int8_t ext = (int8_t)r->p[1];
    uint64_t ix = cp__rd_be(r->p + 2, (int)n);
    const cp_wire_strtab_t *t = cp__wire_strtab_by_ext(ext);
    if (!t)
        return cp__wire_fail(&r->e, CP_EUNSUPP, "ext type %d is not a string table this side knows", ext);
    if (ix >= t->n)
        return cp__wire_fail(&r->e, CP_EDANGLING, "%s has %u strings, not %llu", t->name, t->n, (unsigned long long)ix + 1);
    r->p += 2 + n;
    out->s = t->strs[ix];
    out->len = (uint32_t)strlen(out->s);
    if (out->len > r->lim->max_string)
        return cp__wire_fail(&r->e, CP_ETOOBIG, "string of %u bytes over the limit of %u", out->len, r->lim->max_string);
    return 0;
}

/* Reads an array (map=false) or map header. Checks the count against
 * max_count and against the bytes left, assuming each element (each pair
 * for a map) needs at least min_el bytes. */
int cp__rd_container(cp__rd_t *r, bool map, size_t min_el, uint32_t *count)
{
    int rc;
    if ((rc = cp__rd_need(r, 1)))
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
        if ((rc = cp__rd_need(r, hl)))
            return rc;
        n = cp__rd_be(r->p + 1, (int)hl - 1);
    } else {
        return cp__wire_fail(&r->e, CP_ETYPE, "is a %s, not %s", type_name(b), map ? "a map" : "an array");
    }
    if (n > r->lim->max_count)
        return cp__wire_fail(&r->e, CP_ELIMIT, "%llu elements over the limit of %u",
                             (unsigned long long)n, r->lim->max_count);
    r->p += hl;
    if (n * min_el > cp__rd_left(r))
        return cp__wire_fail(&r->e, CP_ETRUNC, "claims %llu elements, only %zu bytes left",
                             (unsigned long long)n, cp__rd_left(r));
    *count = (uint32_t)n;
    return 0;
}

/* Skips one value of any type. Iterative, with an explicit nesting stack. */
int cp__rd_skip(cp__rd_t *r)
{
    uint64_t todo[CP__RD_MAX_NEST + 1];
    int depth = 0;
    todo[0] = 1;
    while (depth >= 0) {
        if (todo[depth] == 0) {
            depth--;
            continue;
        }
        todo[depth]--;
        int rc;
        if ((rc = cp__rd_need(r, 1)))
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
                if ((rc = cp__rd_need(r, 1 + hl)))
                    return rc;
                skip = hl + cp__rd_be(r->p + 1, (int)hl);
                if (b >= 0xc7 && b <= 0xc9)
                    skip += 1;          /* ext type byte */
                break;
            case 0xdc: case 0xde:
                if ((rc = cp__rd_need(r, 3)))
                    return rc;
                n = cp__rd_be(r->p + 1, 2); skip = 2; cont = true;
                if (b == 0xde) n *= 2;
                break;
            case 0xdd: case 0xdf:
                if ((rc = cp__rd_need(r, 5)))
                    return rc;
                n = cp__rd_be(r->p + 1, 4); skip = 4; cont = true;
                if (b == 0xdf) n *= 2;
                break;
            default:
                return cp__wire_fail(&r->e, CP_EMSGPACK, "byte 0x%02x is not valid msgpack", b);
            }
        }
        if ((rc = cp__rd_need(r, 1 + skip)))
            return rc;
        r->p += 1 + skip;
        if (cont && n) {
            if (n > cp__rd_left(r))
                return cp__wire_fail(&r->e, CP_ETRUNC, "claims %llu elements, only %zu bytes left",
                                     (unsigned long long)n, cp__rd_left(r));
            if (depth + 1 > CP__RD_MAX_NEST)
                return cp__wire_fail(&r->e, CP_ENEST, "values nested over %d deep", CP__RD_MAX_NEST);
            todo[++depth] = n;
        }
    }
    return 0;
}

/* Skips elements [have, n) of a tuple (forward compatibility). */
int cp__rd_skip_n(cp__rd_t *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc = cp__rd_skip(r);
        if (rc)
            return rc;
    }
    return 0;
}

int cp__rd_tuple(cp__rd_t *r, uint32_t min, size_t min_el, uint32_t *n, const char *what)
{
    int rc = cp__rd_container(r, false, min_el, n);
    if (rc)
        return rc;
    if (*n < min)
        return cp__wire_fail(&r->e, CP_ETYPE, "%s has %u elements, needs %u", what, *n, min);
    return 0;
}

void *cp__rd_alloc(cp__rd_t *r, size_t n, size_t el)
{
    if (n && el > SIZE_MAX / n)
        return NULL;
    return cp__arena_alloc(r->arena, n * el, 8);
}

/* Signed difference, as any msgpack int. */
int cp__rd_s64(cp__rd_t *r, int64_t *v)
{
    uint64_t u;
    bool neg;
    int rc = cp__rd_int(r, &u, v, &neg);
    if (rc)
        return rc;
    if (!neg && u > INT64_MAX)
        return cp__wire_fail(&r->e, CP_ERANGE, "%llu does not fit in int64", (unsigned long long)u);
    return 0;
}
