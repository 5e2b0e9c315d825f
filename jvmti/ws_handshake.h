/* ws_handshake.h - the client side of a websocket opening handshake
 * (RFC 6455 section 4) and the relay URL's parts, for the plain ws://
 * transport (ws_plain.h). Pure functions: no I/O, no allocation.
 *
 * The Sec-WebSocket-Accept check uses nettle's SHA-1 and base64, linked
 * statically (a few KB): the point of the plain transport is not to load
 * libcrypto.
 *
 * Thread: any. */
#ifndef CP_WS_HANDSHAKE_H
#define CP_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define CP_WSHS_KEY_LEN 24      /* base64 of 16 bytes */
#define CP_WSHS_ACCEPT_LEN 28   /* base64 of a SHA-1 */

/* The upgrade request for `path` ("/ingest") on `host` ("h:port"), asking
 * for `protocol`, with the key made of `nonce`; *accept receives the
 * answer the server must give (NUL-terminated). Returns the request's
 * length, or 0 when it does not fit in cap. */
size_t cp_wshs_request(char *buf, size_t cap, const char *host, const char *path, const char *protocol,
                       const uint8_t nonce[16], char accept[CP_WSHS_ACCEPT_LEN + 1]);

/* The answer a server gives to `key` (RFC 6455: base64(SHA-1(key + GUID))). */
void cp_wshs_accept_for(const char *key, char accept[CP_WSHS_ACCEPT_LEN + 1]);

/* The length of the response's header (through its blank line) when buf
 * holds all of it, else 0. */
size_t cp_wshs_header_len(const char *buf, size_t len);

/* Checks a complete response header (cp_wshs_header_len bytes): NULL when
 * it is a 101 upgrade to websocket with `accept` and `protocol`, else why
 * not (written into why, which is returned). */
const char *cp_wshs_check(const char *resp, size_t len, const char *accept, const char *protocol, char *why,
                          size_t why_cap);

/* lws_parse_uri's contract: splits p ("ws://host:port/path") in place.
 * *prot "ws"/"wss", *ads the host (an IPv6 address without its brackets),
 * *port the port (80, or 443 for wss/https, when none), *path the path
 * without its leading '/' ("/" when there is none). 0, or -1. */
int cp_wshs_parse_uri(char *p, const char **prot, const char **ads, int *port, const char **path);

#endif
