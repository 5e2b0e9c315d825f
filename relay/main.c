/* main.c - `cprof relay`: options, the libwebsockets context, the protocol
 * table, the done-queue and the main loop.
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
 * re-reads what can change under a running relay (reload(): the --auth
 * file), on the service thread: a uv_signal under libuv, a flag checked
 * after each lws_service() under the poll loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../cli/cli.h"
#include "auth.h"
#include "error.h"
#include "relay.h"
#include "rutil.h"

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
        default:             free(d); break;
        }
        d = n;
    }
}

/* protocols[0]: HTTP API + the place where the done-queue is drained */
static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        done_drain();
        return 0;
    }
    return cp__api_callback(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[4];

/* The service loop. Debian's lws 4.1 polls with poll(2) by default, whose
 * cost grows with every connected agent on every wake-up (at a few thousand
 * agents that was most of the relay's CPU). With a libuv loop (lws's evlib
 * plugin, epoll underneath) the cost follows activity instead. The poll loop
 * stays as a fallback (plugin missing, or CPROF_RELAY_POLL=1). */
static uv_loop_t uvloop;
static uv_signal_t uv_sigint, uv_sigterm, uv_sighup;
static volatile sig_atomic_t hup_pending;   /* poll loop: set by on_hup, cleared by the service thread */
static uv_timer_t uv_stats;

static void log_stats(void)
{
    cp_relay_stats_t *s = &cp__relay.stats;
    cp__log("stats: agents=%llu batches=%llu dup=%llu bytes_in=%llu errors=%llu commits=%llu "
            "queries=%llu live_dropped=%llu auth_denied=%llu hello_rejected=%llu",
            (unsigned long long)s->agents_now, (unsigned long long)s->batches,
            (unsigned long long)s->dup_batches, (unsigned long long)s->bytes_in,
            (unsigned long long)s->errors, (unsigned long long)s->commits,
            (unsigned long long)s->queries, (unsigned long long)s->live_dropped,
            (unsigned long long)s->auth_denied, (unsigned long long)s->hello_rejected);
}

/* SIGHUP: the one place that re-reads configuration. Thread: service. */
static void reload(void)
{
    cp__log("SIGHUP: reloading");
    cp__auth_reload();
}
static void uv_on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    cp__relay.stop = 1;
    uv_stop(h->loop);
}
static void uv_on_stats(uv_timer_t *t)
{
    (void)t;
    log_stats();
}

static void uv_on_hup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    reload();
}

static void on_hup(int sig)
{
    (void)sig;
    hup_pending = 1;
    if (cp__relay.ctx)
        lws_cancel_service(cp__relay.ctx);
}

static void on_signal(int sig)
{
    (void)sig;
    cp__relay.stop = 1;
    if (cp__relay.ctx)
        lws_cancel_service(cp__relay.ctx);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof relay [OPTIONS]\n"
        "Runs the relay: agent ingest (/ingest), storage, query API (/api/v1/), live\n"
        "websocket (/api/v1/live) and the web UI (/), all on one port.\n\n"
        "  --listen HOST:PORT       address to listen on (default 127.0.0.1:7070)\n"
        "  --data DIR               data directory, SQLite database cprof.db (default ./cprof-data)\n"
        "  --ui DIR                 web UI files to serve at / (default: relay/ui of the source\n"
        "                           tree, else the installed share/cprof/ui)\n"
        "  --auth FILE              tokens with tenants and roles (docs/security.md); re-read on\n"
        "                           SIGHUP. Without it the relay is open: one tenant, no tokens\n"
        "  --token TOKEN            deprecated: one ingest token for agents, API left open\n"
        "  --retention-full DUR     keep full-resolution windows (default 14d)\n"
        "  --retention-minute DUR   keep per-minute aggregates (default 90d)\n"
        "  --retention-hour DUR     keep per-hour aggregates (default 2y = 730d)\n"
        "  --aggregate-after DUR    aggregate a minute once it is this old (default 2m)\n"
        "  --max-message BYTES      largest agent message accepted (default 16777216)\n"
        "  --max-payload BYTES      largest uncompressed payload (default 67108864)\n"
        "  --max-dict N             dictionary ids per table per connection (default 4194304)\n"
        "  --query-threads N        query worker threads (default 2)\n"
        "  --live-queue N           queued live messages per UI before dropping oldest (default 256)\n"
        "  --sync full|normal       SQLite synchronous mode (default full; both survive kill -9,\n"
        "                           normal may lose the last commits on power loss)\n"
        "  -v, --verbose            log every connection and subscription\n"
        "  -h, --help               this text\n"
        "Durations: 500ms, 30s, 15m, 2h, 14d, 2w, 1y.\n"
        "Environment: CPROF_RELAY_POLL=1 uses lws's poll(2) loop instead of libuv (epoll).\n");
}

static int parse_listen(const char *s, cp_relay_cfg_t *c)
{
    const char *colon = strrchr(s, ':');
    if (!colon) {
        snprintf(c->host, sizeof c->host, "127.0.0.1");
        colon = s - 1;
    } else {
        size_t n = (size_t)(colon - s);
        if (n >= sizeof c->host)
            return -1;
        memcpy(c->host, s, n);
        c->host[n] = 0;
        if (c->host[0] == '[') {   /* [::1]:7070 */
            memmove(c->host, c->host + 1, n);
            char *e = strchr(c->host, ']');
            if (e)
                *e = 0;
        }
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    c->port = (int)p;
    return 0;
}

static int dir_exists(const char *d)
{
    struct stat sb;
    return d && *d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int cp_cmd_relay(int argc, char **argv)
{
    cp_relay_cfg_t *c = &cp__relay.cfg;
    memset(&cp__relay, 0, sizeof cp__relay);
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 7070;
    c->data_dir = "./cprof-data";
    c->limits = cp_wire_default_limits;
    cp_store_config_default(&c->store);
    c->query_threads = 2;
    c->live_queue = 256;

    enum { OPT_LISTEN = 1000, OPT_DATA, OPT_UI, OPT_TOKEN, OPT_RFULL, OPT_RMIN, OPT_RHOUR, OPT_AGG, OPT_MAXMSG,
           OPT_MAXPAY, OPT_MAXDICT, OPT_QT, OPT_LQ, OPT_SYNC, OPT_AUTH };
    static const struct option opts[] = {
        {"listen", required_argument, 0, OPT_LISTEN}, {"data", required_argument, 0, OPT_DATA},
        {"ui", required_argument, 0, OPT_UI}, {"token", required_argument, 0, OPT_TOKEN},
        {"retention-full", required_argument, 0, OPT_RFULL},
        {"retention-minute", required_argument, 0, OPT_RMIN},
        {"retention-hour", required_argument, 0, OPT_RHOUR},
        {"aggregate-after", required_argument, 0, OPT_AGG},
        {"max-message", required_argument, 0, OPT_MAXMSG}, {"max-payload", required_argument, 0, OPT_MAXPAY},
        {"max-dict", required_argument, 0, OPT_MAXDICT},
        {"query-threads", required_argument, 0, OPT_QT}, {"live-queue", required_argument, 0, OPT_LQ},
        {"sync", required_argument, 0, OPT_SYNC}, {"auth", required_argument, 0, OPT_AUTH},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int64_t d;
        char *end;
        long long v;
        switch (o) {
        case OPT_LISTEN:
            if (parse_listen(optarg, c)) {
                fprintf(stderr, "cprof relay: bad --listen '%s' (want HOST:PORT)\n", optarg);
                return 2;
            }
            break;
        case OPT_DATA: c->data_dir = optarg; break;
        case OPT_UI: c->ui_dir = optarg; break;
        case OPT_TOKEN: c->token = optarg; break;
        case OPT_AUTH: c->auth_file = optarg; break;
        case OPT_RFULL: case OPT_RMIN: case OPT_RHOUR: case OPT_AGG:
            if (cp_duration_parse(optarg, &d) || d <= 0) {
                fprintf(stderr, "cprof relay: bad duration '%s'\n", optarg);
                return 2;
            }
            if (o == OPT_RFULL) c->store.full_ms = d;
            else if (o == OPT_RMIN) c->store.minute_ms = d;
            else if (o == OPT_RHOUR) c->store.hour_ms = d;
            else c->store.grace_ms = d;
            break;
        case OPT_MAXMSG: case OPT_MAXPAY: case OPT_MAXDICT: case OPT_QT: case OPT_LQ:
            v = strtoll(optarg, &end, 10);
            if (*end || v <= 0) {
                fprintf(stderr, "cprof relay: bad number '%s'\n", optarg);
                return 2;
            }
            if (o == OPT_MAXMSG) c->limits.max_message = (size_t)v;
            else if (o == OPT_MAXPAY) c->limits.max_payload = (size_t)v;
            else if (o == OPT_MAXDICT) c->limits.max_dict = (uint32_t)v;
            else if (o == OPT_QT) c->query_threads = (int)v;
            else c->live_queue = (int)v;
            break;
        case OPT_SYNC:
            if (!strcmp(optarg, "full")) c->store.sync_full = true;
            else if (!strcmp(optarg, "normal")) c->store.sync_full = false;
            else {
                fprintf(stderr, "cprof relay: --sync full|normal\n");
                return 2;
            }
            break;
        case 'v': c->verbose++; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cprof relay: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    c->store.max_dict = c->limits.max_dict;
    if (c->store.minute_ms < c->store.full_ms || c->store.hour_ms < c->store.minute_ms)
        cp__log("warning: retention tiers usually grow: full <= minute <= hour");

    static char ui_abs[PATH_MAX];
    const char *ui = c->ui_dir;
    if (!ui)
        ui = dir_exists(CPROF_UI_SRC_DIR) ? CPROF_UI_SRC_DIR : CPROF_UI_INSTALL_DIR;
    if (dir_exists(ui) && realpath(ui, ui_abs))
        ui = ui_abs;
    else
        cp__log("warning: UI directory '%s' not found; / will answer 404", ui);
    c->ui_dir = ui;

    char aerr[512] = "";
    if (cp_auth_init(c->auth_file, c->token, aerr, sizeof aerr)) {
        fprintf(stderr, "cprof relay: %s\n", aerr);
        return 1;
    }
    if (c->token)
        cp__log("warning: --token is deprecated (use --auth FILE, docs/security.md); it stays one "
                "ingest token for agents and leaves the API open");

    lws_set_log_level(LLL_ERR | (c->verbose > 1 ? LLL_WARN | LLL_NOTICE : 0), NULL);
    if (cp__ingest_start()) {
        cp__log("cannot open the store in %s", c->data_dir);
        return 1;
    }
    if (cp__api_start()) {
        cp__log("cannot start query workers");
        cp__relay.stop = 1;
        cp__ingest_stop();
        return 1;
    }

    protocols[0] = (struct lws_protocols){"http", http_cb, cp__api_pss_size(), 0, 0, NULL, 0};
    protocols[1] = (struct lws_protocols){"cprof.v1", cp__ingest_callback, cp__ingest_pss_size(),
                                          4096, 0, NULL, 0};   /* per-connection rx buffer; larger
                                                                   messages arrive in fragments */
    protocols[2] = (struct lws_protocols){"cprof.live", cp__live_callback, cp__live_pss_size(),
                                          4096, 0, NULL, 0};
    memset(&protocols[3], 0, sizeof protocols[3]);

    static struct lws_http_mount m_ui, m_api;
    memset(&m_ui, 0, sizeof m_ui);
    m_ui.mountpoint = "/";
    m_ui.mountpoint_len = 1;
    m_ui.origin = ui;
    m_ui.def = "index.html";
    m_ui.origin_protocol = LWSMPRO_FILE;
    memset(&m_api, 0, sizeof m_api);
    m_api.mount_next = &m_ui;
    m_api.mountpoint = "/api/v1";
    m_api.mountpoint_len = 7;
    m_api.origin = "http";
    m_api.origin_protocol = LWSMPRO_CALLBACK;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = c->port;
    info.iface = c->host;
    info.protocols = protocols;
    info.mounts = &m_api;
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.vhost_name = "default";
    info.ka_time = 60;
    info.ka_probes = 3;
    info.ka_interval = 10;
    info.fd_limit_per_thread = 0;
    info.timeout_secs = 60;
    info.max_http_header_pool = 256;   /* handshakes in flight at once (default 32): a
                                          fleet reconnecting after a relay restart arrives at once */

    bool use_uv = !getenv("CPROF_RELAY_POLL");
    static void *foreign[1];
    struct lws_context *ctx = NULL;
    if (use_uv && uv_loop_init(&uvloop) == 0) {
        foreign[0] = &uvloop;
        info.foreign_loops = foreign;
        info.options |= LWS_SERVER_OPTION_LIBUV;
        ctx = lws_create_context(&info);
        if (!ctx) {
            cp__log("libuv event loop unavailable; falling back to poll");
            uv_loop_close(&uvloop);
        }
    }
    if (!ctx) {
        use_uv = false;
        info.foreign_loops = NULL;
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBUV;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sa.sa_handler = on_hup;
        sigaction(SIGHUP, &sa, NULL);
        ctx = lws_create_context(&info);
    }
    if (!ctx) {
        cp__log("cannot listen on %s:%d", c->host, c->port);
        cp__relay.stop = 1;
        cp__api_stop();
        cp__ingest_stop();
        return 1;
    }
    pthread_mutex_lock(&done_mu);
    cp__relay.ctx = ctx;
    pthread_mutex_unlock(&done_mu);
    struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
    cp__log("listening on http://%s:%d (data %s, ui %s)", c->host,
            vh ? lws_get_vhost_listen_port(vh) : c->port, c->data_dir, ui);

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
                reload();
            }
            if (c->verbose && cp__now_ms() >= next_stats) {
                log_stats();
                next_stats = cp__now_ms() + 60000;
            }
        }
    }
    cp__log("stopping");
    log_stats();
    cp__api_stop();
    lws_context_destroy(ctx);      /* closes every session: queues close jobs */
    if (use_uv) {
        uv_run(&uvloop, UV_RUN_DEFAULT);   /* lets lws close its handles on our loop */
        uv_loop_close(&uvloop);
    }
    pthread_mutex_lock(&done_mu);
    cp__relay.ctx = NULL;
    pthread_mutex_unlock(&done_mu);
    cp__ingest_stop();             /* stores what is queued, commits, exits */
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
    return 0;
}
