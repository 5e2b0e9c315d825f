/* bench_http.h - a blocking HTTP/1.1 GET for the relay benchmark's probes
 * and queries, over plain TCP or TLS (OpenSSL, no certificate check: the
 * benchmark talks to the relay it started itself on 127.0.0.1).
 *
 * Thread: any; each call opens and closes its own connection. */
#ifndef CP_BENCH_HTTP_H
#define CP_BENCH_HTTP_H

#include <stdbool.h>

#include "buf.h"

/* GET path from 127.0.0.1:port. Appends the body to body (if not NULL).
 * Returns the HTTP status, or -1 if the connection or TLS handshake failed. */
int cp_bench_http_get(int port, bool tls, const char *path, cp_buf_t *body);

#endif
