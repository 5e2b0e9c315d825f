/* wire.c - cprof wire format v1: the envelope and the entry points.
 *
 * Where it sits: the agent's sender encodes hello/batch/heartbeat/error and
 * decodes welcome/ack/control; the relay's ingest does the reverse and keeps
 * one cp_wire_dict_t per agent connection. docs/protocol.md is the reader's
 * version of wire.h and of these files.
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
 * The codec's modules, each with its own header:
 *   wire_layout    the key table of every kind + rules both sides check
 *   wire_pack      payload encoder (walks the table; msgpack-c packer)
 *   wire_unpack    payload decoder (walks the same table)
 *   wire_compact   batch keys 12-14 ("compact1"), both directions
 *   wire_reader    bounded msgpack reader under the decoder
 *   wire_arena     memory of a decoded message (max_decoded)
 *   wire_zlib      compressed payloads (preset dictionary for zdict1)
 *   wire_encodings negotiated encodings: names, static tables by id
 *   wire_dict      receiver dictionary of one connection
 *   wire_err       error texts that say where
 *
 * Decoding never trusts input: the envelope's sizes are checked against
 * the limits before the payload is read; a compressed payload is inflated
 * into a buffer that grows as output appears, never beyond the declared
 * (and limited) length.
 *
 * Thread: any; no global mutable state. Not signal-safe (allocates). */
#include "wire.h"
#include "error.h"
#include "wire_arena.h"
#include "wire_err.h"
#include "wire_pack.h"
#include "wire_reader.h"
#include "wire_unpack.h"
#include "wire_zlib.h"

#include <msgpack.h>

#include <stdlib.h>
#include <string.h>

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
    [CP_MSG_ERROR] = "error",         [CP_MSG_CONTROL_ACK] = "control_ack",
};

const char *cp_wire_kind_name(int kind)
{
    return kind >= 1 && kind <= CP_MSG_KIND_MAX ? KIND_NAMES[kind] : "?";
}

static int buf_write(void *data, const char *p, size_t n)
{
    return cp_buf_append((cp_buf_t *)data, p, n) == 0 ? 0 : -1;
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
    /* A copy (the union is small) so proto 0 can mean "this version". */
    cp_msg_t mc = *m;
    if (mc.kind == CP_MSG_HELLO && mc.u.hello.proto == 0)
        mc.u.hello.proto = CP_WIRE_VERSION;
    if (mc.kind == CP_MSG_WELCOME && mc.u.welcome.proto == 0)
        mc.u.welcome.proto = CP_WIRE_VERSION;
    m = &mc;
    int rc;
    if ((rc = cp__wire_pack_check(m)) != 0)
        return rc;

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

    if ((rc = cp__wire_pack_payload(&pk, m, enc)) != 0)
        goto fail;

    size_t raw = zlib_level ? scratch.len : out->len - start - CP_WIRE_HEADER_SIZE;
    if (raw > UINT32_MAX) {
        rc = CP_ETOOBIG;
        goto fail;
    }
    if (zlib_level && (rc = cp__wire_deflate(scratch.data, raw, zlib_level,
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

static int peek(const uint8_t *data, size_t len, cp__wire_err_t *e, cp_msg_kind_t *kind, uint32_t *plen, uint8_t *flags)
{
    if (!data && len)
        return cp__wire_fail(e, CP_EINVAL, "no data");
    if (len >= 1 && data[0] != 'C')
        return cp__wire_fail(e, CP_EMAGIC, "envelope: bad magic");
    if (len >= 2 && data[1] != 'P')
        return cp__wire_fail(e, CP_EMAGIC, "envelope: bad magic");
    if (len < CP_WIRE_HEADER_SIZE)
        return cp__wire_fail(e, CP_ETRUNC, "envelope: %zu bytes, the header alone is %d", len, CP_WIRE_HEADER_SIZE);
    if (data[2] != CP_WIRE_VERSION)
        return cp__wire_fail(e, CP_EVERSION, "envelope: version %u, this side speaks %d", data[2], CP_WIRE_VERSION);
    if (data[3] < 1 || data[3] > CP_MSG_KIND_MAX)
        return cp__wire_fail(e, CP_EKIND, "envelope: unknown kind %u", data[3]);
    if ((data[4] & ~CP_WIRE_FLAG_ZLIB) || data[5] || data[6] || data[7])
        return cp__wire_fail(e, CP_EUNSUPP, "envelope: unknown flags 0x%02x or reserved bytes set", data[4]);
    *kind = (cp_msg_kind_t)data[3];
    *plen = (uint32_t)cp__rd_be(data + 8, 4);
    *flags = data[4];
    return 0;
}

int cp_wire_peek(const uint8_t *data, size_t len, cp_msg_kind_t *kind, uint32_t *payload_len)
{
    cp__wire_err_t e = {NULL, 0};
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

int cp_wire_decode(const uint8_t *data, size_t len, const cp_wire_limits_t *lim,
                   cp_msg_t **out, char *err, size_t errlen)
{
    cp__wire_err_t e = {err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return cp__wire_fail(&e, CP_EINVAL, "no output");
    *out = NULL;
    if (!lim)
        lim = &cp_wire_default_limits;
    if (len > lim->max_message)
        return cp__wire_fail(&e, CP_ETOOBIG, "envelope: message of %zu bytes over the limit of %zu",
                             len, lim->max_message);
    cp_msg_kind_t kind;
    uint32_t plen;
    uint8_t flags;
    int rc = peek(data, len, &e, &kind, &plen, &flags);
    if (rc)
        return rc;
    if (plen > lim->max_payload)
        return cp__wire_fail(&e, CP_ETOOBIG, "envelope: payload of %u bytes over the limit of %zu",
                             plen, lim->max_payload);
    const uint8_t *body = data + CP_WIRE_HEADER_SIZE;
    size_t blen = len - CP_WIRE_HEADER_SIZE;
    uint8_t *inflated = NULL;
    if (flags & CP_WIRE_FLAG_ZLIB) {
        if ((rc = cp__wire_inflate(body, blen, plen, &inflated, &e)))
            return rc;
        body = inflated;
        blen = plen;
    } else if (blen < plen) {
        return cp__wire_fail(&e, CP_ETRUNC, "envelope: %zu payload bytes, header says %u", blen, plen);
    } else if (blen > plen) {
        return cp__wire_fail(&e, CP_ETRAILING, "envelope: %zu payload bytes, header says %u", blen, plen);
    }

    cp_msg_t *m = calloc(1, sizeof *m);
    cp__arena_t *a = calloc(1, sizeof *a);
    if (!m || !a) {
        free(m);
        free(a);
        free(inflated);
        return cp__wire_fail(&e, CP_ENOMEM, "out of memory");
    }
    m->kind = kind;
    m->_arena = a;
    a->limit = lim->max_decoded;
    cp__rd_t r = { .p = body, .end = body + blen, .lim = lim, .arena = a, .e = e };
    rc = cp__wire_unpack_payload(&r, m);
    if (!rc && r.p != r.end)
        rc = cp__wire_fail(&r.e, CP_ETRAILING, "%s: %zu bytes after the payload map",
                           cp_wire_kind_name(kind), cp__rd_left(&r));
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
        cp__arena_free(m->_arena);
        free(m->_arena);
    }
    free(m);
}
