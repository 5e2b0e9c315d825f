/* sender_tls.h - the agent's side of TLS to the relay (wss://).
 *
 * A wss:// relay's certificate is verified against the system store plus
 * tls.ca=FILE, host name (or IP address) included. tls.insecure=true skips
 * verification and logs a warning at every context start; nothing else
 * does. tls.cert/tls.key present a client certificate to relays started
 * with --tls-client-ca.
 *
 * A connection that fails for a TLS reason (verification, handshake) is
 * counted (net.tls_failures) and logged as a warning that names the fix;
 * repeated identical failures are logged at most once a minute.
 *
 * Thread: sender only (the strings handed to lws live here, in static
 * storage, for the context's lifetime). */
#ifndef CP_SENDER_TLS_H
#define CP_SENDER_TLS_H

#include <libwebsockets.h>
#include <stdbool.h>

#include "options.h"

/* Fills info's TLS fields for a wss:// context from o. */
void cp_sender_tls_context(const cp_options_t *o, struct lws_context_creation_info *info);

/* True when a context made by cp_sender_tls_context(o) would differ from
 * the current one (the TLS options changed: make a new context). */
bool cp_sender_tls_changed(const cp_options_t *o);

/* LCCSCF_* flags for a wss:// connection. */
int cp_sender_tls_flags(const cp_options_t *o);

/* LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: remembers why
 * OpenSSL rejected the relay's certificate (lws only reports "SSL err 1"). */
void cp_sender_tls_verify(void *x509_store_ctx, int preverify_ok);

/* A connection failed with lws' reason why (may be NULL): counts and warns
 * when it is a TLS failure. Returns true if it was one. */
bool cp_sender_tls_failed(const char *why);

#endif
