/* conn.c - plain or TLS client connection for cprof query/diff. See conn.h. */
#include "conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cp_conn_open(cp_conn_t *c, int fd, const char *host, const cp_conn_tls_opts_t *tls, char *err,
                 size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    if (!tls)
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    c->ssl_ctx = ctx;
    c->ssl = ssl;
    if (!ssl) {
        snprintf(err, errlen, "OpenSSL: cannot create a TLS context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!tls->insecure) {
        SSL_CTX_set_default_verify_paths(ctx);
        if (tls->ca_file && SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1) {
            snprintf(err, errlen, "cannot load CA file %s", tls->ca_file);
            goto fail;
        }
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            X509_VERIFY_PARAM_set1_host(vp, host, 0);
    }
    SSL_set_tlsext_host_name(ssl, host);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            snprintf(err, errlen, "TLS: cannot verify the relay's certificate: %s (give its CA with --ca "
                     "FILE)", X509_verify_cert_error_string(v));
        else {
            char e[256] = "handshake failed";
            unsigned long code = ERR_get_error();
            if (code)
                ERR_error_string_n(code, e, sizeof e);
            snprintf(err, errlen, "TLS: %s", e);
        }
        goto fail;
    }
    return 0;
fail:
    cp_conn_close(c);
    return -1;
}

ssize_t cp_conn_write(cp_conn_t *c, const void *p, size_t n)
{
    if (!c->ssl)
        return write(c->fd, p, n);
    int r = SSL_write(c->ssl, p, (int)(n > 1 << 30 ? 1 << 30 : n));
    return r > 0 ? r : -1;
}

ssize_t cp_conn_read(cp_conn_t *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    int r = SSL_read(c->ssl, p, (int)(n > 1 << 30 ? 1 << 30 : n));
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
}

void cp_conn_close(cp_conn_t *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ssl_ctx)
        SSL_CTX_free(c->ssl_ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = c->ssl_ctx = NULL;
    c->fd = -1;
}
