/* tls.h - the relay's TLS: https and wss on the one port (OpenSSL through
 * libwebsockets), certificate reload on SIGHUP, optional client
 * certificates for agents.
 *
 * --tls-cert/--tls-key are PEM files (the certificate file may hold the
 * chain). cp__tls_check() loads them (and --tls-client-ca) into a scratch
 * OpenSSL context first, so a wrong path, a key that does not match the
 * certificate or an unreadable CA is a clear error at start-up, and on
 * SIGHUP leaves the running certificate in place.
 *
 * Reload: cp__tls_reload() re-reads both files into the vhost's SSL_CTX
 * (lws_tls_cert_updated), and --tls-client-ca into a new X509_STORE and CA
 * name list of the same SSL_CTX (which lws hands to protocols[0] in
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: cp__tls_server_ctx).
 * Established connections keep the SSL objects they were made with (OpenSSL
 * copies the certificate into each SSL; a peer is verified once, at its
 * handshake), so no connected agent is dropped; new handshakes see the new
 * certificate and the new client CA.
 *
 * Client certificates (--tls-client-ca): the TLS layer asks every client for
 * a certificate and verifies any it gets against the CA (a bad one fails the
 * handshake), but does not demand one, so browsers and `cprof query` still
 * connect; cp__tls_client_cert_ok() then demands a verified certificate on
 * the agents' /ingest upgrade.
 *
 * Thread: main at start-up; service thread afterwards. */
#ifndef CP_RELAY_TLS_H
#define CP_RELAY_TLS_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct cp_relay_cfg;

/* 0 when TLS is off or every configured file loads and the key matches the
 * certificate; -1 with err otherwise. */
int cp__tls_check(const struct cp_relay_cfg *c, char *err, size_t errlen);

/* Sets the context/vhost creation fields for TLS (no-op when TLS is off). */
void cp__tls_info(const struct cp_relay_cfg *c, struct lws_context_creation_info *info);

/* SIGHUP: re-reads certificate and key (after cp__tls_check), and the
 * client CA. 0 or -1 (logged; what failed stays as it was). Thread: service. */
int cp__tls_reload(struct lws_context *ctx, const struct cp_relay_cfg *c);

/* Keeps the vhost's server SSL_CTX (an SSL_CTX *) for the client-CA
 * reload. Thread: main, at vhost creation. */
void cp__tls_server_ctx(void *ssl_ctx);

/* True when TLS client certificates are off, or wsi's peer showed one that
 * verified against --tls-client-ca. Thread: service. */
bool cp__tls_client_cert_ok(struct lws *wsi);

/* SHA-256 fingerprint of the certificate file's leaf ("AB:CD:..."), for logs. */
void cp__tls_fingerprint(const char *cert_file, char *out, size_t n);

#endif
