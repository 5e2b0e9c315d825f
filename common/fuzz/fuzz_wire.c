/* fuzz_wire.c - libFuzzer target for the wire decoder and receiver dictionary.
 *
 * Input: a sequence of messages, each prefixed by its length as a 16-bit
 * little-endian integer (a short last chunk takes what is left). Every
 * message goes through cp_wire_decode(); each decoded batch goes through
 * cp_wire_dict_apply() on one dictionary, as a relay connection would.
 *
 * Beyond "no crash, no leak, no UB" (ASan/UBSan) it checks properties:
 *   - err is NUL-terminated and *out is NULL on failure;
 *   - a decoded message re-encodes, and the re-encoding decodes and
 *     re-encodes to the same bytes (encoder and decoder agree on the layout),
 *     in the v1 layout and in the compact1+strtab1 one (a batch holding
 *     stack references: compact only);
 *   - compressed payloads (with the zdict1 preset dictionary or none)
 *     inflate with plain zlib to the declared length;
 *   - msgpack-c's own unpacker accepts every payload we accept (inflated
 *     with zlib's uncompress), as one map with no bytes left: our bounded
 *     reader is not more lenient than the reference implementation;
 *   - a failed dict apply leaves the dictionary's counts unchanged; a
 *     successful one adds exactly the delta; every value's stack resolves.
 *
 * Built by scripts/fuzz (clang -fsanitize=fuzzer,address,undefined) and, with
 * replay_main.c, as the unit test wire_fuzz_corpus (replays corpus/). */
#include "error.h"
#include "wire.h"
#include "wire_zdict.h"

#include <msgpack.h>
#include <zlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_wire: property failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

/* msgpack-c's unpacker must accept the n payload bytes at p as exactly one
 * map: our bounded reader may be stricter, never more lenient. (Safe to run
 * on accepted input only: our count checks bound what msgpack-c reserves.) */
static void check_msgpack_accepts(const uint8_t *p, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, n, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
        fprintf(stderr, "fuzz_wire: msgpack-c says %d, used %zu of %zu bytes\n", (int)r, off, n);
        abort();
    }
    CHECK(u.data.type == MSGPACK_OBJECT_MAP);
    msgpack_unpacked_destroy(&u);
}

/* The original message's payload, inflated if need be. */
static void check_original_payload(const uint8_t *msg, size_t len)
{
    uint32_t plen;
    CHECK(cp_wire_peek(msg, len, NULL, &plen) == 0);
    if (!(msg[4] & CP_WIRE_FLAG_ZLIB)) {
        check_msgpack_accepts(msg + CP_WIRE_HEADER_SIZE, len - CP_WIRE_HEADER_SIZE);
        return;
    }
    uint8_t *p = malloc(plen ? plen : 1);
    CHECK(p);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(inflateInit(&zs) == Z_OK);
    zs.next_in = (Bytef *)(msg + CP_WIRE_HEADER_SIZE);
    zs.avail_in = (uInt)(len - CP_WIRE_HEADER_SIZE);
    zs.next_out = p;
    zs.avail_out = plen;
    int zr = inflate(&zs, Z_FINISH);
    if (zr == Z_NEED_DICT) {
        CHECK(zs.adler == cp_wire_zdict1.id);
        CHECK(inflateSetDictionary(&zs, cp_wire_zdict1.data, (uInt)cp_wire_zdict1.len) == Z_OK);
        zr = inflate(&zs, Z_FINISH);
    }
    CHECK(zr == Z_STREAM_END && zs.total_out == plen);
    inflateEnd(&zs);
    check_msgpack_accepts(p, plen);
    free(p);
}

static void check_reencode(const cp_msg_t *m, uint32_t enc)
{
    cp_buf_t a = CP_BUF_INIT, b = CP_BUF_INIT;
    cp_wire_encopt_t o = {0, enc};
    CHECK(cp_wire_encode_ex(m, &o, &a) == 0);
    cp_msg_t *m2 = NULL;
    char err[128];
    int rc = cp_wire_decode(a.data, a.len, NULL, &m2, err, sizeof err);
    if (rc) {
        fprintf(stderr, "fuzz_wire: re-encoding does not decode: %s: %s\n", cp_errname(rc), err);
        abort();
    }
    CHECK(m2->kind == m->kind);
    CHECK(cp_wire_encode_ex(m2, &o, &b) == 0);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    check_msgpack_accepts(a.data + CP_WIRE_HEADER_SIZE, a.len - CP_WIRE_HEADER_SIZE);
    cp_msg_free(m2);
    cp_buf_fini(&a);
    cp_buf_fini(&b);
}

static void check_apply(cp_wire_dict_t *d, const cp_batch_t *bt)
{
    uint32_t s0 = cp_wire_dict_strings(d), f0 = cp_wire_dict_frames(d), k0 = cp_wire_dict_stacks(d);
    char err[96];
    memset(err, 'Z', sizeof err);
    int rc = cp_wire_dict_apply(d, bt, err, sizeof err);
    CHECK(memchr(err, 0, sizeof err) != NULL);
    if (rc) {
        CHECK(rc == CP_EGAP || rc == CP_EDANGLING || rc == CP_ELIMIT || rc == CP_ENOMEM || rc == CP_ERANGE);
        CHECK(cp_wire_dict_strings(d) == s0 && cp_wire_dict_frames(d) == f0 && cp_wire_dict_stacks(d) == k0);
        return;
    }
    bool reset = bt->flags & CP_BATCH_DICT_RESET;
    CHECK(cp_wire_dict_strings(d) == (reset ? 0 : s0) + bt->n_strs);
    CHECK(cp_wire_dict_frames(d) == (reset ? 0 : f0) + bt->n_frames);
    CHECK(cp_wire_dict_stacks(d) == (reset ? 0 : k0) + bt->n_stacks);
    /* Everything a value points at resolves. */
    for (uint32_t i = 0; i < bt->n_values; i++) {
        uint32_t n;
        const uint32_t *fr = cp_wire_dict_stack(d, bt->values[i].stack, &n);
        CHECK(fr != NULL);
        for (uint32_t j = 0; j < n; j++) {
            const cp_frame_t *f = cp_wire_dict_frame(d, fr[j]);
            CHECK(f != NULL);
            CHECK(cp_wire_dict_string(d, f->class_id, NULL) != NULL);
            CHECK(cp_wire_dict_string(d, f->method_id, NULL) != NULL);
            CHECK(cp_wire_dict_string(d, f->sig_id, NULL) != NULL);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_wire_limits_t lim = cp_wire_default_limits;
    lim.max_dict_bytes = 64u << 20;
    cp_wire_dict_t *d = cp_wire_dict_create(&lim);
    if (!d)
        return 0;
    while (size >= 2) {
        size_t len = (size_t)data[0] | ((size_t)data[1] << 8);
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        cp_msg_t *m = (cp_msg_t *)&m;
        char err[160];
        memset(err, 'Z', sizeof err);
        int rc = cp_wire_decode(data, len, &lim, &m, err, sizeof err);
        CHECK(memchr(err, 0, sizeof err) != NULL);
        if (rc) {
            CHECK(m == NULL);
            CHECK(rc < 0 && strcmp(cp_errname(rc), "CP_E?") != 0);
        } else {
            CHECK(m != NULL);
            check_original_payload(data, len);
            bool refs = false;
            for (uint32_t i = 0; m->kind == CP_MSG_BATCH && i < m->u.batch.n_stacks; i++)
                refs |= m->u.batch.stacks[i].keep > 0;
            if (!refs)
                check_reencode(m, 0);
            check_reencode(m, CP_WIRE_ENC_COMPACT1 | CP_WIRE_ENC_STRTAB1);
            if (m->kind == CP_MSG_BATCH)
                check_apply(d, &m->u.batch);
            cp_msg_free(m);
        }
        data += len;
        size -= len;
    }
    cp_wire_dict_destroy(d);
    return 0;
}
