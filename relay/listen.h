/* listen.h - where the relay listens, and the data directory it owns.
 *
 * --listen HOST:PORT is resolved once, before anything starts, into one
 * numeric address (cp_listen_addr_t): an IPv4 address, an IPv6 address
 * ([::1]:7070), or a wildcard (0.0.0.0 = every IPv4 address, [::] = every
 * IPv6 and IPv4 address). The libwebsockets vhost is then told to bind
 * exactly that (cp__listen_lws_info); lws 4.1 takes an IP literal in
 * info.iface, but only in the address family the vhost was made for, so the
 * family is set explicitly (LWS_SERVER_OPTION_DISABLE_IPV6 for IPv4).
 *
 * cp__listen_probe() binds the same address the same way (SO_REUSEADDR, the
 * same IPV6_V6ONLY) and closes it, so a taken port or an address this machine
 * does not have is reported with its errno before the store is opened.
 *
 * cp__datadir_lock() creates the data directory if needed and takes an
 * exclusive flock() on DIR/relay.lock for the life of the process (the
 * descriptor is never closed; the kernel drops the lock at exit, also after
 * kill -9). A second relay on the same directory gets a clear error.
 *
 * Thread: main, at start-up only. */
#ifndef CP_RELAY_LISTEN_H
#define CP_RELAY_LISTEN_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cp_listen_addr {
    int  family;            /* AF_INET or AF_INET6 */
    char addr[64];          /* numeric, no brackets: "127.0.0.1", "::1", "0.0.0.0", "::" */
    char name[256];         /* the host as given (a name, or the same literal) */
    bool wildcard;          /* 0.0.0.0 or :: */
    bool loopback;          /* 127.0.0.0/8 or ::1 */
} cp_listen_addr_t;

/* Splits "HOST:PORT", "[V6]:PORT" or "PORT" (host 127.0.0.1) and resolves
 * HOST to one numeric address (a name: its first address; "localhost":
 * 127.0.0.1). 0, or -1 with a message in err. */
int cp__listen_parse(const char *s, cp_listen_addr_t *a /* OUT */, int *port /* OUT */,
                     char *err, size_t errlen);

/* "127.0.0.1:7070" or "[::1]:7070" into buf. */
const char *cp__listen_format(const cp_listen_addr_t *a, int port, char *buf, size_t n);

/* Binds and closes a socket on a:port as lws will. 0, or -1 with err. */
int cp__listen_probe(const cp_listen_addr_t *a, int port, char *err, size_t errlen);

/* Sets info->iface and the address-family options for a. The string stays
 * borrowed from a (keep a alive as long as the vhost). */
void cp__listen_lws_info(const cp_listen_addr_t *a, struct lws_context_creation_info *info);

/* TCP_DEFER_ACCEPT on the listening socket(s) of port: the kernel hands a
 * connection to the relay only when its first bytes arrive (every client
 * of the relay speaks first: HTTP, websocket upgrade, TLS ClientHello), so
 * idle connections cost the relay nothing for `seconds` (the kernel keeps
 * them as half-done handshakes, then hands them over and --header-timeout
 * applies). Without it libwebsockets 4.1 accepts a burst of idle sockets
 * in one loop, with list walks per socket that grow with the number
 * pending, before it reads any request. Returns how many sockets got it. */
int cp__listen_defer_accept(int port, int seconds);

/* Locks DIR/relay.lock (creating DIR). Returns the descriptor (>= 0, keep
 * it open), or -1 with err ("in use by another relay, pid N"). */
int cp__datadir_lock(const char *dir, char *err, size_t errlen);

#endif
