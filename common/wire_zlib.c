/* wire_zlib.c - deflate and bounded inflate of wire payloads (see wire_zlib.h).
 *
 * Thread: any; no global state. */
#include "wire_zlib.h"
#include "error.h"
#include "wire_encodings.h"

#include <zlib.h>

#include <stdlib.h>
#include <string.h>

int cp__wire_deflate(const uint8_t *src, size_t n, int level, const cp_wire_zdict_t *zd, cp_buf_t *out)
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

int cp__wire_inflate(const uint8_t *src, size_t n, uint32_t plen, uint8_t **out, cp__wire_err_t *e)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return cp__wire_fail(e, CP_ENOMEM, "zlib: inflateInit failed");
    size_t cap = (size_t)plen;
    if (n < (SIZE_MAX >> 4) && cap > n * 8 + 4096)
        cap = n * 8 + 4096;
    uint8_t *buf = malloc(cap ? cap : 1);     /* grown below as output appears */
    int rc = 0;
    if (!buf) {
        rc = cp__wire_fail(e, CP_ENOMEM, "out of memory");
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
                rc = cp__wire_fail(e, CP_ENOMEM, "out of memory");
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
            rc = cp__wire_fail(e, CP_EZLIB, "zlib: payload longer than the %u bytes declared", plen);
            goto out;
        }
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_OK)
            continue;
        if (zr == Z_NEED_DICT) {    /* zs.adler holds the stream's dictionary id */
            const cp_wire_zdict_t *zd = cp__wire_zdict_by_id((uint32_t)zs.adler);
            if (!zd) {
                rc = cp__wire_fail(e, CP_EZLIB, "zlib: unknown preset dictionary 0x%08lx", (unsigned long)zs.adler);
                goto out;
            }
            if (inflateSetDictionary(&zs, zd->data, (uInt)zd->len) != Z_OK) {
                rc = cp__wire_fail(e, CP_EZLIB, "zlib: preset dictionary %s refused", zd->name);
                goto out;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && zs.avail_out == 0)
            continue;            /* needs more room: grow */
        if (zr == Z_BUF_ERROR) { /* needs more input and there is none */
            rc = cp__wire_fail(e, CP_ETRUNC, "zlib: stream ends early (%zu of %u bytes)", produced, plen);
            goto out;
        }
        if (zr == Z_MEM_ERROR) {
            rc = cp__wire_fail(e, CP_ENOMEM, "zlib: out of memory");
            goto out;
        }
        rc = cp__wire_fail(e, CP_EZLIB, "zlib: %s", zs.msg ? zs.msg : "corrupt stream");
        goto out;
    }
    if (produced != plen) {
        rc = cp__wire_fail(e, CP_EZLIB, "zlib: payload is %zu bytes, header says %u", produced, plen);
        goto out;
    }
    if ((size_t)(zs.next_in - src) != n) {
        rc = cp__wire_fail(e, CP_ETRAILING, "zlib: %zu bytes after the end of the stream",
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
