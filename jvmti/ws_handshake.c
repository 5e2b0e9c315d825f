/* ws_handshake.c - a websocket client's opening handshake and URL parts
 * (ws_handshake.h). */
#include "ws_handshake.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void cp_wshs_accept_for(const char *key, char accept[CP_WSHS_ACCEPT_LEN + 1])
{
    struct sha1_ctx c;
    uint8_t d[SHA1_DIGEST_SIZE];
    sha1_init(&c);
    sha1_update(&c, strlen(key), (const uint8_t *)key);
    sha1_update(&c, sizeof GUID - 1, (const uint8_t *)GUID);
    sha1_digest(&c, sizeof d, d);
    base64_encode_raw(accept, sizeof d, d);
    accept[CP_WSHS_ACCEPT_LEN] = 0;
}

size_t cp_wshs_request(char *buf, size_t cap, const char *host, const char *path, const char *protocol,
                       const uint8_t nonce[16], char accept[CP_WSHS_ACCEPT_LEN + 1])
{
    char key[CP_WSHS_KEY_LEN + 1];
    base64_encode_raw(key, 16, nonce);
    key[CP_WSHS_KEY_LEN] = 0;
    cp_wshs_accept_for(key, accept);
    int n = snprintf(buf, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n"
                     "\r\n",
                     path, host, key, protocol);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t cp_wshs_header_len(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

/* The value of header `name` in the header block [p, end), trimmed, or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            const char *v = p + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* 1 when the comma-separated list [v, v+n) holds `token` (any case). */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    const char *end = v + n;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == ','))
            v++;
        const char *e = v;
        while (e < end && *e != ',')
            e++;
        const char *te = e;
        while (te > v && te[-1] == ' ')
            te--;
        if ((size_t)(te - v) == tl && !strncasecmp(v, token, tl))
            return 1;
        v = e;
    }
    return 0;
}

const char *cp_wshs_check(const char *resp, size_t len, const char *accept, const char *protocol, char *why,
                          size_t why_cap)
{
    const char *end = resp + len;
    const char *eol = memchr(resp, '\n', len);
    if (!eol || len < 12 || strncmp(resp, "HTTP/1.", 7)) {
        snprintf(why, why_cap, "the relay's answer to the websocket upgrade is not HTTP");
        return why;
    }
    /* "HTTP/1.x NNN": three digits, and only three, inside the first line (atoi skipped
     * whitespace, line ends included, and read past the header: the fuzzer) */
    int status = -1;
    if (eol - resp >= 12 && resp[8] == ' ' && isdigit((unsigned char)resp[9]) &&
        isdigit((unsigned char)resp[10]) && isdigit((unsigned char)resp[11]) && !isdigit((unsigned char)resp[12]))
        status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    if (status != 101) {
        int n = (int)(eol - resp);
        while (n > 0 && (resp[n - 1] == '\r' || resp[n - 1] == ' '))
            n--;
        snprintf(why, why_cap, "websocket upgrade refused: %.*s", n > 80 ? 80 : n, resp);
        return why;
    }
    const char *hdrs = eol + 1, *v;
    size_t n;
    if (!(v = header(hdrs, end, "Upgrade", &n)) || !has_token(v, n, "websocket")) {
        snprintf(why, why_cap, "the relay's 101 answer has no 'Upgrade: websocket'");
        return why;
    }
    if (!(v = header(hdrs, end, "Connection", &n)) || !has_token(v, n, "upgrade")) {
        snprintf(why, why_cap, "the relay's 101 answer has no 'Connection: upgrade'");
        return why;
    }
    if (!(v = header(hdrs, end, "Sec-WebSocket-Accept", &n)) || n != strlen(accept) || memcmp(v, accept, n)) {
        snprintf(why, why_cap, "the relay's Sec-WebSocket-Accept does not match the key sent");
        return why;
    }
    if (!(v = header(hdrs, end, "Sec-WebSocket-Protocol", &n)) || n != strlen(protocol) ||
        memcmp(v, protocol, n)) {
        snprintf(why, why_cap, "the relay did not accept the websocket protocol %s", protocol);
        return why;
    }
    return NULL;
}

int cp_wshs_parse_uri(char *p, const char **prot, const char **ads, int *port, const char **path)
{
    static char slash[] = "/";
    char *s = strstr(p, "://");
    if (!s)
        return -1;
    *s = 0;
    *prot = p;
    char *h = s + 3, *rest;
    if (*h == '[') {   /* [v6]:port */
        char *e = strchr(h, ']');
        if (!e)
            return -1;
        *e = 0;
        *ads = h + 1;
        rest = e + 1;
    } else {
        *ads = h;
        rest = h + strcspn(h, ":/");
    }
    *port = !strcmp(*prot, "wss") || !strcmp(*prot, "https") ? 443 : 80;
    if (*rest == ':') {
        *rest++ = 0;
        char *e;
        long v = strtol(rest, &e, 10);
        if (e == rest || v <= 0 || v > 65535 || (*e && *e != '/'))
            return -1;
        *port = (int)v;
        rest = e;
    }
    if (*rest == '/') {
        *rest++ = 0;
        *path = *rest ? rest : slash;
    } else {
        *rest = 0;
        *path = slash;
    }
    return **ads ? 0 : -1;
}
