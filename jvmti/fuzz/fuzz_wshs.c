/* fuzz_wshs.c - libFuzzer target for the plain ws:// transport's parsers
 * (ws_handshake.h): what the agent reads of the relay's answer to its
 * upgrade, and the relay URL it is given.
 *
 * Input: the bytes of a relay's answer, as ws_plain.c receives them (any
 * number of bytes, not NUL-terminated, copied to a buffer of exactly that
 * size so ASan sees any over-read). The same bytes, NUL-terminated, are also
 * a relay URL for cp_wshs_parse_uri.
 *
 * Beyond "no crash, no UB" it checks the contracts:
 *   - cp_wshs_header_len: 0, or the end of the first "\r\n\r\n";
 *   - cp_wshs_check on a complete header (what ws_plain.c passes): NULL only
 *     for a "HTTP/1." 101 answer carrying the accept key and the protocol;
 *     otherwise `why`, NUL-terminated inside its buffer, non-empty;
 *   - cp_wshs_parse_uri: on success the scheme, host and path point inside
 *     the input (the path may be the static "/"), the host is non-empty and
 *     the port is in 1..65535 (80 or 443 when none is given); on failure it
 *     has returned -1 and nothing else is promised.
 *
 * Built by scripts/fuzz wshs (clang -fsanitize=fuzzer,address,undefined)
 * and, with common/fuzz/replay_main.c, as the unit test wshs_fuzz_corpus
 * (replays corpus/). */
#include "ws_handshake.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6455's example: the key "dGhlIHNhbXBsZSBub25jZQ==" */
static const char ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
static const char PROTOCOL[] = "cprof.v1";

#define REQUIRE(c)                                                                  \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_wshs: property failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                \
        }                                                                           \
    } while (0)

static void response(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return;
    memcpy(buf, data, size);
    size_t h = cp_wshs_header_len(buf, size);
    REQUIRE(h <= size);
    if (h) {
        REQUIRE(h >= 4 && !memcmp(buf + h - 4, "\r\n\r\n", 4));
        for (size_t i = 4; i < h; i++)
            REQUIRE(memcmp(buf + i - 4, "\r\n\r\n", 4) != 0);   /* the first one */
        char why[160];
        memset(why, 'x', sizeof why);
        const char *r = cp_wshs_check(buf, h, ACCEPT, PROTOCOL, why, sizeof why);
        if (r) {
            REQUIRE(r == why && memchr(why, 0, sizeof why) && why[0]);
        } else {
            REQUIRE(h >= 13 && !memcmp(buf, "HTTP/1.", 7) && !memcmp(buf + 8, " 101", 4) && !isdigit((unsigned char)buf[12]));
            REQUIRE(memmem(buf, h, ACCEPT, strlen(ACCEPT)) && memmem(buf, h, PROTOCOL, strlen(PROTOCOL)));
        }
    }
    free(buf);
}

static void uri(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);
    if (!p)
        return;
    memcpy(p, data, size);
    p[size] = 0;
    const char *prot = NULL, *ads = NULL, *path = NULL;
    int port = -1;
    if (cp_wshs_parse_uri(p, &prot, &ads, &port, &path) == 0) {
        const char *end = p + size + 1;
        REQUIRE(prot == p);
        REQUIRE(ads > p && ads < end && ads[0]);
        REQUIRE(path && (!strcmp(path, "/") || (path > p && path < end)));
        REQUIRE(port >= 1 && port <= 65535);
    }
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    response(data, size);
    uri(data, size);
    return 0;
}
