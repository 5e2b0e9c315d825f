/* lws_lazy.c - the sender's websocket calls, resolved when the sender
 * makes a connection context. See lws_lazy.h. Each wrapper has the exact
 * prototype of its header declaration (the compiler checks it); the
 * agent's version script keeps them local, so nothing else in the JVM
 * binds to them. */
#include "lws_lazy.h"

#include "error.h"
#include "lws_funcs.h"
#include "log.h"
#include "ws_plain.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CP_LWS_SONAME
#error "CP_LWS_SONAME (libwebsockets' soname) comes from jvmti/meson.build"
#endif

static cp_lws_fns_t lws_fn;       /* libwebsockets itself, once loaded */
static cp_lws_fns_t plain_fn;     /* ws_plain.h, once loaded */
static const cp_lws_fns_t *cur;   /* the table of the sender's current context */

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int lws_rc = 1;            /* 1: not tried yet */
static int plain_rc = 1;
static const char *lws_why, *plain_why;
static char why_buf[256];         /* dlerror()'s text, kept */

/* load_mu held */
static int load_lws(void)
{
    if (lws_rc != 1)
        return lws_rc;
    /* RTLD_LOCAL: lws and OpenSSL stay out of the JVM's global namespace */
    void *h = dlopen(CP_LWS_SONAME, RTLD_NOW | RTLD_LOCAL);
    lws_rc = 0;
    if (!h) {
        const char *e = dlerror();
        snprintf(why_buf, sizeof why_buf, "%s", e ? e : "dlopen(" CP_LWS_SONAME ") failed");
        lws_why = why_buf;
        lws_rc = CP_EUNSUPP;
    }
#define CP__SYM(name, ret, params, args)                                             \
    if (!lws_rc && !(*(void **)&lws_fn.name = dlsym(h, #name))) {                    \
        lws_why = "a libwebsockets or OpenSSL function is missing: " #name;          \
        lws_rc = CP_EUNSUPP;                                                         \
    }
#define CP__VSYM(name, params, args) CP__SYM(name, void, params, args)
    CP_LWS_FUNCS(CP__SYM, CP__VSYM)
#undef CP__SYM
#undef CP__VSYM
    return lws_rc;
}

int cp_lws_load(bool tls, const char **why)
{
    pthread_mutex_lock(&load_mu);
    int rc;
    const char *force = getenv("CPROF_TRANSPORT");   /* "lws": ws:// through libwebsockets too */
    if (!tls && plain_rc == 1 && force && !strcmp(force, "lws")) {
        plain_rc = CP_EUNSUPP;
        CP_LOGI("CPROF_TRANSPORT=lws: ws:// through libwebsockets");
    }
    if (!tls && plain_rc == 1) {
        plain_rc = cp_ws_plain_load(&plain_fn, &plain_why);
        if (plain_rc)
            CP_LOGI("plain ws:// transport unavailable (%s): using libwebsockets", plain_why);
    }
    if (!tls && plain_rc == 0) {
        if (cur != &plain_fn)
            CP_LOGD("transport: plain ws:// (wslay)");
        cur = &plain_fn;
        rc = 0;
    } else {
        rc = load_lws();
        if (rc == 0)
            cur = &lws_fn;
    }
    if (why)
        *why = rc == 0 ? "" : lws_why ? lws_why : "";
    pthread_mutex_unlock(&load_mu);
    return rc;
}

#define CP__WRAP(name, ret, params, args) \
    ret name params { return cur->name args; }
#define CP__VWRAP(name, params, args) \
    void name params { cur->name args; }
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
