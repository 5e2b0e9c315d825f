/* tls.c - https/wss on the relay's port, SIGHUP reload, agent client
 * certificates. See tls.h. Thread: main at start-up, then service. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "relay.h"

static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, file, *buf ? buf : "unreadable");
}

static bool client_ca_on;
static SSL_CTX *server_ctx;   /* the vhost's, from LOAD_EXTRA_SERVER_VERIFY_CERTS */

void cp__tls_server_ctx(void *ssl_ctx)
{
    server_ctx = ssl_ctx;
}

/* --tls-client-ca again into the live SSL_CTX: a new X509_STORE (the old
 * one is freed; established connections verified their peer at their
 * handshake and keep it) and the CA names sent in CertificateRequest. */
static int client_ca_reload(const char *file)
{
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
    if (!st || X509_STORE_load_locations(st, file, NULL) != 1 || !names) {
        char err[400];
        ssl_err(err, sizeof err, "cannot load --tls-client-ca", file);
        cp__log("TLS reload: %s; agents' certificates are still checked against the previous CA", err);
        X509_STORE_free(st);
        if (names)
            sk_X509_NAME_pop_free(names, X509_NAME_free);
        return -1;
    }
    SSL_CTX_set_cert_store(server_ctx, st);
    SSL_CTX_set_client_CA_list(server_ctx, names);
    cp__log("TLS client CA reloaded from %s: new agent connections are checked against it; "
            "connected agents keep their connections", file);
    return 0;
}


int cp__tls_check(const cp_relay_cfg_t *c, char *err, size_t errlen)
{
    if (!c->tls_cert)
        return 0;
    int rc = -1;
    SSL_CTX *x = SSL_CTX_new(TLS_server_method());
    if (!x) {
        ssl_err(err, errlen, "OpenSSL:", "SSL_CTX_new");
        return -1;
    }
    if (SSL_CTX_use_certificate_chain_file(x, c->tls_cert) != 1)
        ssl_err(err, errlen, "cannot load --tls-cert", c->tls_cert);
    else if (SSL_CTX_use_PrivateKey_file(x, c->tls_key, SSL_FILETYPE_PEM) != 1)
        ssl_err(err, errlen, "cannot load --tls-key", c->tls_key);
    else if (SSL_CTX_check_private_key(x) != 1)
        ssl_err(err, errlen, "--tls-key does not match --tls-cert", c->tls_key);
    else if (c->tls_client_ca && SSL_CTX_load_verify_locations(x, c->tls_client_ca, NULL) != 1)
        ssl_err(err, errlen, "cannot load --tls-client-ca", c->tls_client_ca);
    else
        rc = 0;
    SSL_CTX_free(x);
    return rc;
}

/* HSTS: browsers that saw the relay over https keep using https. No
 * includeSubDomains: the relay does not speak for its neighbours. */
static const struct lws_protocol_vhost_options hsts = {
    NULL, NULL, "Strict-Transport-Security:", "max-age=31536000"};

void cp__tls_info(const cp_relay_cfg_t *c, struct lws_context_creation_info *info)
{
    if (!c->tls_cert)
        return;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info->ssl_cert_filepath = c->tls_cert;
    info->ssl_private_key_filepath = c->tls_key;
    info->headers = &hsts;
    if (c->tls_client_ca) {
        /* verify what is shown, demand it only on /ingest (cp__tls_client_cert_ok) */
        info->ssl_ca_filepath = c->tls_client_ca;
        info->options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                         LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
        client_ca_on = true;
    }
}

void cp__tls_fingerprint(const char *cert_file, char *out, size_t n)
{
    snprintf(out, n, "?");
    FILE *f = fopen(cert_file, "r");
    if (!f)
        return;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(x, EVP_sha256(), md, &len) == 1) {
        size_t o = 0;
        for (unsigned i = 0; i < len && o + 4 < n; i++)
            o += (size_t)snprintf(out + o, n - o, i ? ":%02X" : "%02X", md[i]);
    }
    X509_free(x);
}

int cp__tls_reload(struct lws_context *ctx, const cp_relay_cfg_t *c)
{
    if (!c->tls_cert)
        return 0;
    char err[512];
    if (cp__tls_check(c, err, sizeof err)) {
        cp__log("TLS reload failed, keeping the current certificate: %s", err);
        return -1;
    }
    lws_tls_cert_updated(ctx, c->tls_cert, c->tls_key, NULL, 0, NULL, 0);
    char fp[128];
    cp__tls_fingerprint(c->tls_cert, fp, sizeof fp);
    cp__log("TLS certificate reloaded from %s (sha256 %s); connected agents keep their connections",
            c->tls_cert, fp);
    if (c->tls_client_ca && server_ctx)
        return client_ca_reload(c->tls_client_ca);
    return 0;
}

bool cp__tls_client_cert_ok(struct lws *wsi)
{
    if (!client_ca_on)
        return true;
    SSL *ssl = lws_get_ssl(lws_get_network_wsi(wsi));
    if (!ssl)
        return false;
    X509 *peer = SSL_get1_peer_certificate(ssl);
    bool ok = peer && SSL_get_verify_result(ssl) == X509_V_OK;
    X509_free(peer);
    return ok;
}
