/* http.h - the CLI's blocking HTTP/1.1 client for the relay's query API.
 *
 * A relay address is accepted in every form a person has at hand:
 *   http://HOST[:PORT][/PREFIX]   https://...       (the API's own form)
 *   ws://HOST[:PORT][/ingest]     wss://...         (the form agents get:
 *                                  ws -> http, wss -> https; a trailing
 *                                  /ingest, the agents' path, is dropped)
 *   HOST:PORT or HOST              plain http; HOST alone means port 7070
 * HOST may be a name, an IPv4 address or [IPv6]. Default ports: 80 for
 * http/ws, 443 for https/wss.
 *
 * One GET per connection (Connection: close), Content-Length or chunked
 * bodies, TLS through conn.h. Thread: the caller's; no global state. */
#ifndef CP_CLI_HTTP_H
#define CP_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conn.h"

typedef struct cp_http_relay {
    char host[256];      /* without brackets for IPv6 */
    char port[8];
    char prefix[512];    /* path prefix, no trailing '/', may be "" */
    bool tls;
    char url[800];       /* normalised: http[s]://HOST:PORT/PREFIX, for messages */
} cp_http_relay_t;

/* Parses a relay address in any of the forms above. 0, or -1 with a
 * sentence in err naming what was wrong. */
int cp_http_relay_parse(const char *addr, cp_http_relay_t *r /* OUT */, char *err, size_t errlen);

/* Reads a token: "VALUE", "@FILE" (its first line) or NULL (CPROF_TOKEN,
 * else none: out ""). 0, or -1 with err (unreadable file, blank, spaces or
 * control characters in the token). */
int cp_http_token_read(const char *arg, char *out, size_t outlen, char *err, size_t errlen);

typedef struct cp_http_opts {
    const char          *token;   /* "" or NULL: no Authorization header */
    cp_conn_tls_opts_t   tls;     /* for https relays */
} cp_http_opts_t;

/* GET relay prefix + path (path starts with '/', already URL-encoded).
 * Appends the body to out; returns the HTTP status, or -1 with err when
 * the relay could not be reached or answered something that is not HTTP. */
int cp_http_get(const cp_http_relay_t *r, const char *path, const cp_http_opts_t *o,
                cp_buf_t *out, char *err, size_t errlen);

/* Appends "?k=v" or "&k=v" to a NUL-terminated URL in u, percent-encoding
 * v. v NULL: nothing. */
void cp_http_url_add(cp_buf_t *u, const char *k, const char *v);

#endif
