/* lws_lazy.c - libwebsockets resolved at the sender thread's start. See
 * lws_lazy.h. Each wrapper has the exact prototype of its header
 * declaration (the compiler checks it); the agent's version script keeps
 * them local, so nothing else in the JVM binds to them. */
#include "lws_lazy.h"

#include "error.h"
#include "log.h"

#include <dlfcn.h>
#include <libwebsockets.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef CP_LWS_SONAME
#error "CP_LWS_SONAME (libwebsockets' soname) comes from jvmti/meson.build"
#endif

/* X(name, return type, (params), (args)) for every function the agent
 * calls that returns a value, V(name, (params), (args)) for the void ones */
#define CP_LWS_FUNCS(X, V)                                                                              \
    X(lws_create_context, struct lws_context *, (const struct lws_context_creation_info *info), (info))  \
    V(lws_context_destroy, (struct lws_context *context), (context))                                    \
    X(lws_service, int, (struct lws_context *context, int timeout_ms), (context, timeout_ms))             \
    V(lws_cancel_service, (struct lws_context *context), (context))                                     \
    V(lws_set_log_level, (int level, void (*log_emit_function)(int level, const char *line)),            \
      (level, log_emit_function))                                                                        \
    X(lws_client_connect_via_info, struct lws *, (const struct lws_client_connect_info *ccinfo), (ccinfo)) \
    X(lws_callback_on_writable, int, (struct lws *wsi), (wsi))                                            \
    X(lws_write, int, (struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol),  \
      (wsi, buf, len, protocol))                                                                          \
    X(lws_is_final_fragment, int, (struct lws *wsi), (wsi))                                               \
    X(lws_is_first_fragment, int, (struct lws *wsi), (wsi))                                               \
    V(lws_close_reason, (struct lws *wsi, enum lws_close_status status, unsigned char *buf, size_t len),   \
      (wsi, status, buf, len))                                                                            \
    V(lws_set_timeout, (struct lws *wsi, enum pending_timeout reason, int secs), (wsi, reason, secs))      \
    V(lws_sul_schedule, (struct lws_context *ctx, int tsi, lws_sorted_usec_list_t *sul, sul_cb_t _cb,     \
                         lws_usec_t _us), (ctx, tsi, sul, _cb, _us))                                      \
    V(lws_sul_cancel, (lws_sorted_usec_list_t *sul), (sul))                                               \
    X(lws_parse_uri, int, (char *p, const char **prot, const char **ads, int *port, const char **path),   \
      (p, prot, ads, port, path))                                                                         \
    X(X509_verify_cert_error_string, const char *, (long n), (n))                                        \
    X(X509_STORE_CTX_get_error, int, (const X509_STORE_CTX *ctx), (ctx))

#define CP__PTR(name, ret, params, args) ret(*name) params;
#define CP__VPTR(name, params, args) void(*name) params;
static struct {
    CP_LWS_FUNCS(CP__PTR, CP__VPTR)
} fn;
#undef CP__PTR
#undef CP__VPTR

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int load_rc = 1;           /* 1: not tried yet */
static const char *load_why;
static char why_buf[256];         /* dlerror()'s text, kept */

int cp_lws_load(const char **why)
{
    pthread_mutex_lock(&load_mu);
    if (load_rc == 1) {
        /* RTLD_LOCAL: lws and OpenSSL stay out of the JVM's global namespace */
        void *h = dlopen(CP_LWS_SONAME, RTLD_NOW | RTLD_LOCAL);
        load_rc = 0;
        if (!h) {
            const char *e = dlerror();
            snprintf(why_buf, sizeof why_buf, "%s", e ? e : "dlopen(" CP_LWS_SONAME ") failed");
            load_why = why_buf;
            load_rc = CP_EUNSUPP;
        }
#define CP__SYM(name, ret, params, args)                                         \
        if (!load_rc && !(*(void **)&fn.name = dlsym(h, #name))) {                \
            load_why = "a libwebsockets or OpenSSL function is missing: " #name; \
            load_rc = CP_EUNSUPP;                                                \
        }
#define CP__VSYM(name, params, args) CP__SYM(name, void, params, args)
        CP_LWS_FUNCS(CP__SYM, CP__VSYM)
#undef CP__SYM
#undef CP__VSYM
    }
    int rc = load_rc;
    if (why)
        *why = load_why ? load_why : "";
    pthread_mutex_unlock(&load_mu);
    return rc;
}

#define CP__WRAP(name, ret, params, args) \
    ret name params { return fn.name args; }
#define CP__VWRAP(name, params, args) \
    void name params { fn.name args; }
CP_LWS_FUNCS(CP__WRAP, CP__VWRAP)
#undef CP__WRAP
#undef CP__VWRAP

static void log_line(int level, const char *line)
{
    (void)level;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    CP_LOGD("lws: %.*s", (int)n, line);
}

void cp_lws_log_to_agent(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN | (cp_log_level() >= CP_LOG_DEBUG ? LLL_NOTICE : 0), log_line);
}
