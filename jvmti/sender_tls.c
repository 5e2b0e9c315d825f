/* sender_tls.c - verify the relay, present a client certificate, say why a
 * TLS connection failed. See sender_tls.h. Thread: sender only. */
#include "sender_tls.h"

#include <openssl/x509.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"

static char ca[CP_OPT_STR_MAX], cert[CP_OPT_STR_MAX], key[CP_OPT_STR_MAX];
static int insecure;
static char last_why[160];
static uint64_t last_log_ms;
static uint64_t last_refusal_ms;
static bool tls_ctx;                    /* a wss:// context exists */
static char verify_err[128];            /* set by the verify callback, taken by the failure */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void cp_sender_tls_context(const cp_options_t *o, struct lws_context_creation_info *info)
{
    snprintf(ca, sizeof ca, "%s", o->tls_ca);
    snprintf(cert, sizeof cert, "%s", o->tls_cert);
    snprintf(key, sizeof key, "%s", o->tls_key);
    insecure = o->tls_insecure;
    tls_ctx = true;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info->client_ssl_ca_filepath = *ca ? ca : NULL;
    info->client_ssl_cert_filepath = *cert ? cert : NULL;
    info->client_ssl_private_key_filepath = *key ? key : NULL;
    if (insecure)
        CP_LOGW("tls.insecure=true: the relay's certificate is NOT verified; anyone on the path can "
                "read and redirect this JVM's profiles. Use tls.ca=FILE instead");
}

bool cp_sender_tls_changed(const cp_options_t *o)
{
    return strcmp(ca, o->tls_ca) || strcmp(cert, o->tls_cert) || strcmp(key, o->tls_key) ||
           insecure != o->tls_insecure;
}

int cp_sender_tls_flags(const cp_options_t *o)
{
    int f = LCCSCF_USE_SSL;
    if (o->tls_insecure)
        f |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED |
             LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    return f;
}

void cp_sender_tls_verify(void *x509_store_ctx, int preverify_ok)
{
    if (preverify_ok || !x509_store_ctx)
        return;
    X509_STORE_CTX *x = x509_store_ctx;
    snprintf(verify_err, sizeof verify_err, "the relay's certificate did not verify: %s",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
}

bool cp_sender_tls_failed(const char *why)
{
    if (why && strstr(why, "not 101") && tls_ctx && !*cert) {
        /* not a TLS failure, but the usual cause on a TLS relay */
        uint64_t now = mono_ms();
        if (!last_refusal_ms || now - last_refusal_ms >= 60000) {
            CP_LOGW("the relay refused the websocket upgrade; if it demands client certificates "
                    "(--tls-client-ca), give this agent tls.cert=FILE,tls.key=FILE");
            last_refusal_ms = now;
        }
        return false;
    }
    if (*verify_err) {
        why = verify_err;
    } else if (!why || !(strstr(why, "cert") || strstr(why, "SSL") || strstr(why, "ssl") || strstr(why, "tls") ||
                  strstr(why, "TLS") || strstr(why, "X509")))
        return false;
    cp_stats_add(CP_ST_TLS_FAILS, 1);
    uint64_t now = mono_ms();
    char w[sizeof last_why];
    snprintf(w, sizeof w, "%s", why);
    verify_err[0] = 0;
    size_t n = strlen(w);
    while (n && (w[n - 1] == '\n' || w[n - 1] == ' '))
        w[--n] = 0;
    if (strcmp(w, last_why) || !last_log_ms || now - last_log_ms >= 60000) {
        CP_LOGW("TLS connection to the relay failed: %s (%llu so far); nothing is sent until it "
                "succeeds. %s", w, (unsigned long long)cp_stats_get(CP_ST_TLS_FAILS),
                strstr(w, "cert") || strstr(w, "X509")
                    ? "If the relay's certificate is from a private CA, give it with tls.ca=FILE"
                    : "Check the relay's TLS setup (and tls.cert/tls.key if it demands client certificates)");
        snprintf(last_why, sizeof last_why, "%s", w);
        last_log_ms = now;
    }
    return true;
}
