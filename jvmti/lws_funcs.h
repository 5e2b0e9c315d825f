/* lws_funcs.h - the libwebsockets calls the sender makes, as one table
 * (lws_lazy.h): filled from libwebsockets itself (wss://, or when the
 * plain transport is unavailable) or from the plain ws:// transport
 * (ws_plain.h), which implements the same calls over a TCP socket. */
#ifndef CP_LWS_FUNCS_H
#define CP_LWS_FUNCS_H

#include <libwebsockets.h>
#include <openssl/x509.h>

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
typedef struct cp_lws_fns {
    CP_LWS_FUNCS(CP__PTR, CP__VPTR)
} cp_lws_fns_t;
#undef CP__PTR
#undef CP__VPTR

#endif
