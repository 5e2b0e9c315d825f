/* origin.h - browser safety: the Host and Origin headers.
 *
 * Two attacks from a web page the operator happens to open:
 *  - cross-origin websocket: a page on another origin opens
 *    ws://127.0.0.1:7070/api/v1/live (browsers allow cross-origin websocket
 *    upgrades and send their Origin; they do not apply CORS to them);
 *  - DNS rebinding: a page on attacker.example re-resolves its own name to
 *    127.0.0.1 and then reads the API "same-origin"; only the Host header
 *    (attacker.example) gives it away.
 *
 * Rules (one place, used by main.c's callbacks for every HTTP request, the
 * static UI included, and every websocket upgrade):
 *  Host  - accepted when absent (not a browser), an IP literal (a literal
 *          cannot be rebound), a loopback name (localhost, *.localhost), this
 *          machine's host name (gethostname and its canonical name), the
 *          host given to --listen, or the host of --public-url. Otherwise
 *          421 with a body naming the fix. Not checked on a websocket
 *          upgrade without a browser Origin (agents; browsers always send
 *          one), so agents may use any name that reaches the relay.
 *  Origin - accepted when absent (agents, cprof query, curl) or not of the
 *          scheme://host form browsers send (older agents sent "host:port");
 *          otherwise it must be this very origin: its host:port equals the
 *          request's Host (default ports filled in from the schemes; the
 *          scheme itself need not match, as one port speaks only one of
 *          http/https, so no page can hold the other one's origin), or it
 *          equals --public-url's origin. "null" and anything else
 *          is 403.
 * Thread: service (cp__origin_init at start-up, main). */
#ifndef CP_RELAY_ORIGIN_H
#define CP_RELAY_ORIGIN_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct cp_relay_cfg;

void cp__origin_init(const struct cp_relay_cfg *c);

/* Pure checks, for tests and the callers below. host/origin may be NULL
 * (header absent). tls: the request arrived over TLS. Return 0 (allowed) or
 * an HTTP status (421, 403) with a one-line reason in why. */
int cp__origin_check_host(const char *host, char *why, size_t n);
int cp__origin_check_origin(const char *origin, const char *host, bool tls, char *why, size_t n);

/* Reads Host (or HTTP/2 :authority) and Origin from wsi and applies both
 * checks (the same for plain HTTP and websocket upgrades). */
int cp__origin_check_wsi(struct lws *wsi, char *why, size_t n);

#endif
