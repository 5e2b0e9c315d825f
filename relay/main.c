/* main.c - `cprof relay`: start-up in order, the libwebsockets context, the
 * protocol table, the done-queue, signals and the main loop.
 *
 * One port serves everything (docs/api.md):
 *   /ingest        agents, subprotocol "cprof.v1"      -> ingest.c
 *   /api/v1/live   UIs, subprotocol "cprof.live"        -> live.c
 *   /api/v1/...    HTTP JSON API (callback mount)       -> api.c
 *   /              web UI static files (file mount, --ui DIR)
 * The context runs with lws's security-headers best practice (strict CSP:
 * the UI keeps scripts and styles in files).
 *
 * Threads: main = the lws service thread. Workers (store, query) hand
 * results back through cp__done_post(), which queues them and calls
 * lws_cancel_service(); the service thread drains the queue in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED. SIGINT/SIGTERM stop the loop; the store
 * worker finishes (commits) what it has before the process exits. SIGHUP
 * calls reload_all() on the service thread (auth file, TLS certificate,
 * key and client CA) (a uv_signal under libuv; a flag
 * checked after each lws_service() under the poll loop).
 *
 * Start-up order (cp_cmd_relay): options; refuse an unauthenticated
 * non-loopback address; TLS files; the data-directory lock; the listening
 * socket (an explicit vhost, checked); only then the store and the query
 * workers. Anything that fails before the store opens exits 1 having written
 * nothing.
 *
 * Browser safety (origin.h) and agent client certificates (tls.h) are
 * checked here, around the modules' callbacks: every HTTP request in
 * LWS_CALLBACK_FILTER_HTTP_CONNECTION (before the mounts, so the static UI
 * too), every websocket upgrade in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (403
 * with a body) and again, bound to its protocol, in
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION (HTTP/2 websockets). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../cli/cli.h"
#include "auth.h"
#include "control.h"
#include "control_sync.h"
#include "error.h"
#include "fanout.h"
#include "origin.h"
#include "otlp_export.h"
#include "pending.h"
#include "relay.h"
#include "rutil.h"
#include "tls.h"

#ifndef CPROF_UI_SRC_DIR
#define CPROF_UI_SRC_DIR ""
#endif
#ifndef CPROF_UI_INSTALL_DIR
#define CPROF_UI_INSTALL_DIR ""
#endif

cp_relay_t cp__relay;

int64_t cp__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cp__log(const char *fmt, ...)
{
    char msg[1024], when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s cprof relay: %s\n", when, msg);
}

/* ---- done-queue ---- */
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_done_t *done_head, *done_tail;

void cp__done_post_list(cp_done_t *head)
{
    cp_done_t *tail = head;
    while (tail->next)
        tail = tail->next;
    pthread_mutex_lock(&done_mu);
    if (done_tail)
        done_tail->next = head;
    else
        done_head = head;
    done_tail = tail;
    if (cp__relay.ctx)
        lws_cancel_service(cp__relay.ctx);
    pthread_mutex_unlock(&done_mu);
}

void cp__done_post(cp_done_t *d)
{
    d->next = NULL;
    cp__done_post_list(d);
}

int cp__ws_ping(struct lws *wsi)
{
    uint8_t buf[LWS_PRE + sizeof CP_IDLE_PING_PAYLOAD];
    memcpy(buf + LWS_PRE, CP_IDLE_PING_PAYLOAD, sizeof CP_IDLE_PING_PAYLOAD - 1);
    return lws_write(wsi, buf + LWS_PRE, sizeof CP_IDLE_PING_PAYLOAD - 1, LWS_WRITE_PING) < 0 ? -1 : 0;
}

bool cp__ws_idle_due(struct lws *wsi, int64_t now_ms, int64_t last_rx_ms, int64_t *ping_ms, bool *want_ping)
{
    bool ping;
    int64_t next;
    if (cp_idle_check(last_rx_ms, &cp__relay.cfg.budget, now_ms, &ping, &next)) {
        CP_STAT_ADD(idle_timeouts, 1);
        return true;
    }
    if (ping && *ping_ms <= last_rx_ms) {
        *ping_ms = now_ms;
        *want_ping = true;
        lws_callback_on_writable(wsi);
    }
    return false;
}

void cp__sweep_schedule(lws_sorted_usec_list_t *sul, sul_cb_t cb)
{
    if (cp__relay.ctx)
        lws_sul_schedule(cp__relay.ctx, 0, sul, cb, (lws_usec_t)CP_SWEEP_MS * LWS_US_PER_MS);
}

static void done_drain(void)
{
    pthread_mutex_lock(&done_mu);
    cp_done_t *d = done_head;
    done_head = done_tail = NULL;
    pthread_mutex_unlock(&done_mu);
    while (d) {
        cp_done_t *n = d->next;
        d->next = NULL;
        switch (d->kind) {
        case CP_DONE_INGEST: cp__ingest_done(d); break;
        case CP_DONE_HTTP:   cp__api_done(d); break;
        case CP_DONE_LIVE:   cp__live_done(d); break;
        case CP_DONE_CONTROL: cp__control_done(d); break;
        default:             free(d); break;
        }
        d = n;
    }
}

/* The checks every request goes through before a module sees it (see the
 * file header). Returns 0, or non-zero after answering. */
/* At most one line a second: a hostile page must not flood the log. */
static void log_refusal(int status, const char *why)
{
    static int64_t last_ms;
    static unsigned quiet;
    int64_t now = cp__now_ms();
    if (now - last_ms < 1000) {
        quiet++;
        return;
    }
    if (quiet)
        cp__log("refused %d %s (and %u more in the last second)", status, why, quiet);
    else
        cp__log("refused %d %s", status, why);
    last_ms = now;
    quiet = 0;
}

static int refuse(struct lws *wsi, int status, const char *why)
{
    char html[600];
    log_refusal(status, why);
    lws_snprintf(html, sizeof html, "%s", why);   /* lws wraps it in a small page */
    lws_return_http_status(wsi, (unsigned)status, html);
    return 1;
}

static int upgrade_check(struct lws *wsi)
{
    char why[400];
    int st = cp__origin_check_wsi(wsi, why, sizeof why);
    if (st)
        return refuse(wsi, st, why);
    char proto[64] = "";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0)
        lws_hdr_copy(wsi, proto, sizeof proto, WSI_TOKEN_PROTOCOL);
    if (strstr(proto, "cprof.v1") && !cp__tls_client_cert_ok(wsi))
        return refuse(wsi, 403, "agents must present a client certificate signed by --tls-client-ca");
    return 0;
}

/* protocols[0]: HTTP API + the place where the done-queue is drained */
static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    char why[400];
    int st;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        done_drain();
        return 0;
    case LWS_CALLBACK_WSI_CREATE:      /* a new TCP connection: pending until its headers */
        cp__pending_add(wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        cp__pending_done(wsi);
        return cp__api_callback(wsi, reason, user, in, len);
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        cp__pending_done(lws_get_network_wsi(wsi));
        st = cp__origin_check_wsi(wsi, why, sizeof why);
        return st ? refuse(wsi, st, why) : 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:   /* Host/Origin, then the live feed's token (api.c) */
        cp__pending_done(lws_get_network_wsi(wsi));
        return (st = upgrade_check(wsi)) ? st : cp__api_callback(wsi, reason, user, in, len);
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        cp__tls_server_ctx(user);    /* user = the vhost's SSL_CTX: --tls-client-ca reloads into it */
        return 0;
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        return len ? 0 : 1;          /* len = OpenSSL's preverify_ok: keep its verdict */
    default:
        return cp__api_callback(wsi, reason, user, in, len);
    }
}

/* The websocket protocols, behind the same checks once bound (HTTP/2
 * upgrades do not pass LWS_CALLBACK_HTTP_CONFIRM_UPGRADE).
 *
 * An HTTP/2 websocket is one stream of a connection that may carry others
 * (the UI's requests). libwebsockets 4.1 answers a refusal anywhere in the
 * upgrade (FILTER_PROTOCOL_CONNECTION, ESTABLISHED) by closing the whole
 * connection, every stream on it. So a refused h2 stream is let through the
 * upgrade, then closed on its own at its first writable callback with 1008
 * (policy violation) and the reason, before its module ever sees it. At most
 * REFUSED_MAX such streams wait at once; past that a refusal closes the
 * connection as before. The modules refuse the same way (cp__ws_refuse:
 * the live feed's token check). Thread: service. */
#define REFUSED_MAX 64
static struct { struct lws *wsi; char why[124]; } refused[REFUSED_MAX];   /* a close reason: 123 bytes at most */
static int n_refused;   /* slots in use: every other ws callback skips the scan */

static int refused_find(struct lws *wsi)
{
    for (int i = 0; i < REFUSED_MAX; i++)
        if (refused[i].wsi == wsi)
            return i;
    return -1;
}

int cp__ws_refuse(struct lws *wsi, int status, const char *why)
{
    log_refusal(status, why);
    int k = lws_get_network_wsi(wsi) != wsi ? refused_find(NULL) : -1;   /* an h2 stream: close it alone */
    if (k < 0)
        return -1;
    refused[k].wsi = wsi;
    n_refused++;
    snprintf(refused[k].why, sizeof refused[k].why, "%.123s", why);
    return 0;
}

static int ws_filter(struct lws *wsi, bool ingest)
{
    char why[400];
    cp__pending_done(lws_get_network_wsi(wsi));
    bool nocert = ingest && !cp__tls_client_cert_ok(wsi);
    if (!cp__origin_check_wsi(wsi, why, sizeof why) && !nocert)
        return 0;
    if (nocert)
        snprintf(why, sizeof why, "agents must present a client certificate signed by --tls-client-ca");
    return cp__ws_refuse(wsi, 403, why);
}

/* 1: the callback of a refused h2 stream, handled here (the module never
 * sees the stream); *ret is what to return. */
static bool ws_refused_cb(struct lws *wsi, enum lws_callback_reasons reason, int *ret)
{
    if (!n_refused || !wsi)
        return false;   /* the common case: no refused stream waits */
    int k = refused_find(wsi);
    if (k < 0)
        return false;
    *ret = 0;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)refused[k].why,
                         strlen(refused[k].why));
        *ret = -1;
        break;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        refused[k].wsi = NULL;
        n_refused--;
        break;
    default:
        break;
    }
    return true;
}

static int ingest_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    int ret;
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION && ws_filter(wsi, true))
        return -1;
    if (ws_refused_cb(wsi, reason, &ret))
        return ret;
    return cp__ingest_callback(wsi, reason, user, in, len);
}
static int live_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    int ret;
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION && ws_filter(wsi, false))
        return -1;
    if (ws_refused_cb(wsi, reason, &ret))
        return ret;
    return cp__live_callback(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[4];
static struct lws_http_mount m_ui, m_api;

/* SIGHUP: the one place that re-reads what may change under a running
 * relay: the --auth file and the TLS certificate, key and client CA.
 * Thread: service. */
static void reload_all(void)
{
    cp__log("SIGHUP: reloading");
    cp__auth_reload();
    cp__tls_reload(cp__relay.ctx, &cp__relay.cfg);
}

/* The service loop. Debian's lws 4.1 polls with poll(2) by default, whose
 * cost grows with every connected agent on every wake-up (at a few thousand
 * agents that was most of the relay's CPU). With a libuv loop (lws's evlib
 * plugin, epoll underneath) the cost follows activity instead. The poll loop
 * stays as a fallback (plugin missing, or CPROF_RELAY_POLL=1). */
static uv_loop_t uvloop;
static uv_signal_t uv_sigint, uv_sigterm, uv_sighup;
static uv_timer_t uv_stats;
static volatile sig_atomic_t hup_pending;   /* poll loop: set by on_hup, taken by the service thread */

void cp__stats_write(cp_buf_t *out, bool json)
{
    int n = 0;
    if (json)
        cp_buf_printf(out, "{");
#define CP__STAT_OUT(name, gauge, help)                                                      \
    {                                                                                         \
        unsigned long long v = __atomic_load_n(&cp__relay.stats.name, __ATOMIC_RELAXED);     \
        if (json)                                                                             \
            cp_buf_printf(out, "%s\"%s\":%llu", n++ ? "," : "", #name, v);                   \
        else                                                                                  \
            cp_buf_printf(out, "# HELP cprof_relay_%s %s\n# TYPE cprof_relay_%s %s\n"         \
                          "cprof_relay_%s %llu\n", #name, help, #name,                        \
                          gauge ? "gauge" : "counter", #name, v);                             \
    }
    CP_RELAY_STATS(CP__STAT_OUT)
#undef CP__STAT_OUT
    (void)n;
    if (json)
        cp_buf_printf(out, "}");
}

/* One line with every counter that is not zero. */
static void log_stats(void)
{
    cp_buf_t b = CP_BUF_INIT;
#define CP__STAT_LOG(name, gauge, help)                                                       \
    {                                                                                         \
        unsigned long long v = __atomic_load_n(&cp__relay.stats.name, __ATOMIC_RELAXED);     \
        if (v)                                                                                \
            cp_buf_printf(&b, " %s=%llu", #name, v);                                          \
    }
    CP_RELAY_STATS(CP__STAT_LOG)
#undef CP__STAT_LOG
    cp__log("stats:%.*s", (int)b.len, b.len ? (const char *)b.data : "");
    cp_buf_fini(&b);
}
static void uv_on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    cp__relay.stop = 1;
    uv_stop(h->loop);
}
static void uv_on_hup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    reload_all();
}
static void uv_on_stats(uv_timer_t *t)
{
    (void)t;
    log_stats();
}

static void on_signal(int sig)
{
    (void)sig;
    cp__relay.stop = 1;
    if (cp__relay.ctx)
        lws_cancel_service(cp__relay.ctx);
}
static void on_hup(int sig)
{
    (void)sig;
    hup_pending = 1;
    if (cp__relay.ctx)
        lws_cancel_service(cp__relay.ctx);
}

/* Raises the soft fd limit to hold `want` descriptors (up to the hard
 * limit) and returns what the process may hold; lws sizes its tables
 * from fd_limit_per_thread and stops accepting when they are full. */
static rlim_t raise_nofile(rlim_t want, bool asked)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return want;
    if (rl.rlim_cur >= want)
        return want;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        getrlimit(RLIMIT_NOFILE, &rl);
    /* the default (20,000) is a ceiling nobody asked for: a hard limit
     * under it is the normal case, not something to warn a newcomer about */
    if (rl.rlim_cur < want && asked)
        cp__log("warning: fd limit %llu is below --max-connections + 64; connections are capped "
                "there (raise ulimit -n)", (unsigned long long)rl.rlim_cur);
    return rl.rlim_cur;
}

static int dir_exists(const char *d)
{
    struct stat sb;
    return d && *d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* --ui, else the source tree's relay/ui, else the installed share/cprof/ui. */
static void find_ui(cp_relay_cfg_t *c)
{
    static char ui_abs[PATH_MAX];
    const char *ui = c->ui_dir;
    if (!ui)
        ui = dir_exists(CPROF_UI_SRC_DIR) ? CPROF_UI_SRC_DIR : CPROF_UI_INSTALL_DIR;
    if (dir_exists(ui) && realpath(ui, ui_abs))
        ui = ui_abs;
    else
        cp__log("warning: UI directory '%s' not found; / will answer 404", ui);
    c->ui_dir = ui;
}

/* Protocols, mounts and vhost options into info (all static storage). */
static void build_vhost_info(const cp_relay_cfg_t *c, struct lws_context_creation_info *info)
{
    protocols[0] = (struct lws_protocols){"http", http_cb, cp__api_pss_size(), 0, 0, NULL, 0};
    protocols[1] = (struct lws_protocols){"cprof.v1", ingest_cb, cp__ingest_pss_size(),
                                          4096, 0, NULL, 0};   /* per-connection rx buffer; larger
                                                                   messages arrive in fragments */
    protocols[2] = (struct lws_protocols){"cprof.live", live_cb, cp__live_pss_size(), 4096, 0, NULL, 0};
    memset(&protocols[3], 0, sizeof protocols[3]);

    memset(&m_ui, 0, sizeof m_ui);
    m_ui.mountpoint = "/";
    m_ui.mountpoint_len = 1;
    m_ui.origin = c->ui_dir;
    m_ui.def = "index.html";
    m_ui.origin_protocol = LWSMPRO_FILE;
    memset(&m_api, 0, sizeof m_api);
    m_api.mount_next = &m_ui;
    m_api.mountpoint = "/api/v1";
    m_api.mountpoint_len = 7;
    m_api.origin = "http";
    m_api.origin_protocol = LWSMPRO_CALLBACK;

    memset(info, 0, sizeof *info);
    info->port = c->port;
    cp__listen_lws_info(&c->listen, info);
    cp__tls_info(c, info);
    info->protocols = protocols;
    info->mounts = &m_api;
    info->options |= LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                     LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info->vhost_name = "default";
    info->ka_time = 60;
    info->ka_probes = 3;
    info->ka_interval = 10;
    /* budgets at the socket level: every TCP connection (also ones that
     * never finish their HTTP headers) holds an fd below fd_limit, and must
     * finish its headers / upgrade within header_secs; websockets are
     * pinged after ping_secs of silence and closed after idle_secs */
    info->fd_limit_per_thread = (unsigned)raise_nofile((rlim_t)c->budget.max_conns + 64, c->budget.max_conns_given);
    info->timeout_secs = (unsigned)c->budget.header_secs;
    info->timeout_secs_ah_idle = (unsigned)c->budget.header_secs;
    /* no lws validity timer (retry_and_idle_policy): the modules ping a
     * silent websocket (with a payload, so they see the pong) and close one
     * silent for idle_secs themselves, from one sweep each (relay.h) */
    /* handshakes in flight at once (default 32): a fleet reconnecting after
     * a relay restart arrives at once, and connections that never send
     * their headers hold a header table until --header-timeout; with too
     * few tables every other client (a UI, a query) waits behind them.
     * lws allocates the tables lazily, so the size costs memory only when
     * that many are in use. */
    info->max_http_header_pool = (unsigned short)(c->budget.max_conns < 8192 ? c->budget.max_conns : 8192);
    /* request line + headers of one table (default 4096): room for a query
     * argument just over api.c's 4 KiB limit, so it gets a 400 that says
     * so rather than a closed connection; 8 KiB keeps the worst case of a
     * full pool (slow clients holding every table) at 64 MiB */
    info->max_http_header_data = 8192;
}

/* The context on libuv, else on poll(2); then the one vhost, which binds
 * the listening socket. Returns NULL (logged) when it cannot listen. */
static struct lws_context *make_context(struct lws_context_creation_info *info, bool *use_uv)
{
    static void *foreign[1];
    struct lws_context *ctx = NULL;
    *use_uv = !getenv("CPROF_RELAY_POLL");
    if (*use_uv && uv_loop_init(&uvloop) == 0) {
        foreign[0] = &uvloop;
        info->foreign_loops = foreign;
        info->options |= LWS_SERVER_OPTION_LIBUV;
        ctx = lws_create_context(info);
        if (!ctx) {
            cp__log("libuv event loop unavailable; falling back to poll");
            uv_loop_close(&uvloop);
        }
    }
    if (!ctx) {
        *use_uv = false;
        info->foreign_loops = NULL;
        info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBUV;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sa.sa_handler = on_hup;
        sigaction(SIGHUP, &sa, NULL);
        ctx = lws_create_context(info);
    }
    if (!ctx) {
        cp__log("cannot create the libwebsockets context");
        return NULL;
    }
    struct lws_vhost *vh = lws_create_vhost(ctx, info);
    char where[320];
    cp__listen_format(&cp__relay.cfg.listen, cp__relay.cfg.port, where, sizeof where);
    if (!vh || lws_get_vhost_listen_port(vh) <= 0) {
        cp__log("cannot listen on %s (libwebsockets could not bind it%s)", where,
                cp__relay.cfg.tls_cert ? " or load the TLS files" : "");
        lws_context_destroy(ctx);
        if (*use_uv) {
            uv_run(&uvloop, UV_RUN_DEFAULT);
            uv_loop_close(&uvloop);
        }
        return NULL;
    }
    cp__relay.cfg.port = lws_get_vhost_listen_port(vh);
    if (cp__listen_defer_accept(cp__relay.cfg.port, cp__relay.cfg.budget.header_secs) <= 0)
        cp__log("warning: TCP_DEFER_ACCEPT not set on %s: idle connections are accepted at once", where);
    return ctx;
}

static void run_loop(struct lws_context *ctx, bool use_uv)
{
    const cp_relay_cfg_t *c = &cp__relay.cfg;
    if (use_uv) {
        uv_signal_init(&uvloop, &uv_sigint);
        uv_signal_start(&uv_sigint, uv_on_signal, SIGINT);
        uv_signal_init(&uvloop, &uv_sigterm);
        uv_signal_start(&uv_sigterm, uv_on_signal, SIGTERM);
        uv_signal_init(&uvloop, &uv_sighup);
        uv_signal_start(&uv_sighup, uv_on_hup, SIGHUP);
        uv_timer_init(&uvloop, &uv_stats);
        if (c->verbose)
            uv_timer_start(&uv_stats, uv_on_stats, 60000, 60000);
        if (!cp__relay.stop)
            uv_run(&uvloop, UV_RUN_DEFAULT);
        uv_signal_stop(&uv_sigint);
        uv_signal_stop(&uv_sigterm);
        uv_signal_stop(&uv_sighup);
        uv_timer_stop(&uv_stats);
        uv_close((uv_handle_t *)&uv_sigint, NULL);
        uv_close((uv_handle_t *)&uv_sigterm, NULL);
        uv_close((uv_handle_t *)&uv_sighup, NULL);
        uv_close((uv_handle_t *)&uv_stats, NULL);
    } else {
        int64_t next_stats = cp__now_ms() + 60000;
        while (!cp__relay.stop) {
            if (lws_service(ctx, 0) < 0)
                break;
            if (hup_pending) {
                hup_pending = 0;
                reload_all();
            }
            if (c->verbose && cp__now_ms() >= next_stats) {
                log_stats();
                next_stats = cp__now_ms() + 60000;
            }
        }
    }
}

/* Stops what started (store, api), in the order that loses nothing. */
static void teardown(struct lws_context *ctx, bool use_uv, bool store, bool api)
{
    cp__log("stopping");
    log_stats();
    cp__control_sync_stop();       /* it wakes the service thread: before the context goes */
    if (api)
        cp__api_stop();
    lws_context_destroy(ctx);      /* closes every session: queues close jobs */
    cp__control_stop();
    if (use_uv) {
        uv_run(&uvloop, UV_RUN_DEFAULT);   /* lets lws close its handles on our loop */
        uv_loop_close(&uvloop);
    }
    pthread_mutex_lock(&done_mu);
    cp__relay.ctx = NULL;
    pthread_mutex_unlock(&done_mu);
    cp_fanout_stop();              /* no more remote live messages */
    if (store)
        cp__ingest_stop();         /* stores what is queued, commits, exits */
    cp_otlp_export_stop();         /* after the store worker: nobody queues windows any more */
    cp_auth_fini();
    /* answers nobody will read */
    for (cp_done_t *d = done_head; d;) {
        cp_done_t *n = d->next;
        if (d->kind == CP_DONE_HTTP)
            free(d->req);
        free(d->data);
        free(d->app);
        free(d->type);
        free(d->labels);
        free(d);
        d = n;
    }
}

/* Everything that can refuse to start, before anything is written. */
static int preflight(cp_relay_cfg_t *c)
{
    char err[600];
    if (!c->listen.loopback && !c->auth_file && !c->insecure_open) {
        fprintf(stderr, "cprof relay: refusing to listen on %s without authentication: anyone who "
                "reaches it could read every profile and send data. Use --auth FILE "
                "(docs/security.md), or --insecure-open if the network itself is trusted.\n",
                c->listen.name);
        return 1;
    }
    if (!c->listen.loopback && !c->auth_file)
        cp__log("warning: --insecure-open: %s is reachable beyond this machine with no "
                "authentication", c->listen.name);
    if (cp_auth_init(c->auth_file, c->token, err, sizeof err)) {
        fprintf(stderr, "cprof relay: %s\n", err);
        return 1;
    }
    if (c->token)
        cp__log("warning: --token is deprecated (use --auth FILE, docs/security.md); it stays one "
                "ingest token for agents and leaves the API open");
    if (cp__tls_check(c, err, sizeof err)) {
        fprintf(stderr, "cprof relay: %s\n", err);
        return 1;
    }
    if (cp__datadir_lock(c->data_dir, err, sizeof err) < 0 ||
        cp__listen_probe(&c->listen, c->port, err, sizeof err)) {
        fprintf(stderr, "cprof relay: %s\n", err);
        return 1;
    }
    return 0;
}

int cp_cmd_relay(int argc, char **argv)
{
    cp_relay_cfg_t *c = &cp__relay.cfg;
    memset(&cp__relay, 0, sizeof cp__relay);
    cp__relay_options_default(c);
    int rc = cp__relay_options_parse(c, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (c->store.minute_ms < c->store.full_ms || c->store.hour_ms < c->store.minute_ms)
        cp__log("warning: retention tiers usually grow: full <= minute <= hour");
    signal(SIGHUP, SIG_IGN);   /* until the loop's handler is in place: a reload request
                                  (logrotate, an operator) must never kill a starting relay */
    if (preflight(c))
        return 1;
    find_ui(c);
    cp__origin_init(c);
    lws_set_log_level(LLL_ERR | (c->verbose > 1 ? LLL_WARN | LLL_NOTICE : 0), NULL);

    struct lws_context_creation_info info;
    bool use_uv;
    build_vhost_info(c, &info);
    struct lws_context *ctx = make_context(&info, &use_uv);
    if (!ctx)
        return 1;
    pthread_mutex_lock(&done_mu);
    cp__relay.ctx = ctx;
    pthread_mutex_unlock(&done_mu);

    if (cp__ingest_start()) {
        cp__log("cannot open the store in %s", cp__relay_store_where(c));
        cp__relay.stop = 1;
        teardown(ctx, use_uv, false, false);
        return 1;
    }
    if (cp__control_start())
        cp__log("control: cannot read the stored defaults and timed changes; starting without them");
    cp_otlp_export_cfg_t xc = {c->otlp_export, cp__relay_store_where(c), (uint32_t)c->otlp_queue, c->otlp_backoff_max_ms};
    if (c->otlp_export && cp_otlp_export_start(&xc))
        cp__log("otlp export: cannot start for %s; relay runs without it", c->otlp_export);
    if (c->nats_url && cp_fanout_start(c->nats_url)) {
        cp__relay.stop = 1;
        teardown(ctx, use_uv, true, false);
        return 1;
    }
    if (cp__api_start()) {
        cp__log("cannot start query workers");
        cp__relay.stop = 1;
        teardown(ctx, use_uv, true, false);
        return 1;
    }
    char where[320], fp[128] = "";
    if (c->tls_cert)
        cp__tls_fingerprint(c->tls_cert, fp, sizeof fp);
    cp__log("listening on %s://%s (data %s, ui %s%s%s%s)", c->tls_cert ? "https" : "http",
            cp__listen_format(&c->listen, c->port, where, sizeof where), c->data_dir, c->ui_dir,
            c->tls_cert ? ", certificate sha256 " : "", fp,
            c->tls_client_ca ? ", agents need client certificates" : "");
    run_loop(ctx, use_uv);
    teardown(ctx, use_uv, true, true);
    return 0;
}
