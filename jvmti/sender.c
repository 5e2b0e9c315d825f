/* sender.c - libwebsockets client that ships batches to the relay. See sender.h.
 *
 * Threads: the sender thread (a JVMTI agent thread) owns the lws context,
 * the connection and every lws call except lws_cancel_service(). Other
 * threads touch only what q_mu guards (queue, config, requests) and then
 * call lws_cancel_service(); the service thread reacts in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * Connection states: IDLE (no wsi; a reconnect is scheduled) -> CONNECTING
 * (wsi exists, handshake) -> HELLO (established, hello to write) -> WAIT
 * (hello written, waiting for welcome) -> READY (welcome received: batches
 * flow). Any close or error goes back to IDLE with a backoff timer.
 * Every state with a connection has a deadline, checked by a 1 s tick, so
 * no peer (a relay or proxy that accepts and hangs, a partition) can keep
 * the agent waiting: CONNECTING and HELLO/WAIT 10 s each (TCP, TLS and
 * upgrade; hello to welcome), READY 60 s without a byte from the relay
 * (heartbeats every 15 s are answered), a close 3 s. The reconnect backoff
 * doubles from 0.5 s up to 8 s with 50-100% jitter (sender_backoff.h): once
 * the relay is back, every agent is sending within ~10 s.
 *
 * The queue of unacknowledged batches and what overflow gives up live in
 * sender_queue.c (here guarded by q_mu); the messages written on one
 * connection (hello, heartbeat, batches with their dictionary delta) are
 * encoded by sender_conn.c. This file: the thread, lws, states, deadlines.
 *
 * Stop and restart: cp_sender_stop() waits a bounded time. A stop that
 * times out (a frozen relay never completes the close) leaves the thread
 * running with stop_req set; a cp_sender_start() meanwhile clears stop_req
 * and the same thread carries on: it re-checks stop_req under q_mu before
 * it exits, so a cancelled stop never leaves the agent without a sender. */
#include "sender.h"
#include "sender_acks.h"
#include "sender_backoff.h"
#include "sender_conn.h"
#include "sender_queue.h"
#include "sender_tls.h"
#include "sender_unreach.h"

#include "agent_thread.h"
#include "clock.h"
#include "cost.h"
#include "error.h"
#include "harvest.h"
#include "lws_lazy.h"
#include "log.h"
#include "sampler.h"
#include "stats.h"
#include "wire.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ST_IDLE, ST_CONNECTING, ST_HELLO, ST_WAIT, ST_READY };

#define TICK_US            LWS_USEC_PER_SEC
#define HEARTBEAT_MS       (15 * 1000)
#define RX_TIMEOUT_MS      (60 * 1000)   /* READY: relay silent */
#define CONNECT_TIMEOUT_MS (10 * 1000)   /* CONNECTING: TCP + TLS + upgrade */
#define CONNECT_GRACE_MS   (5 * 1000)    /* lws' own timeout (the same 10 s) closes
                                            a stuck connect first; ours is the backstop */
#define WELCOME_TIMEOUT_MS (10 * 1000)   /* HELLO/WAIT: established -> welcome */
#define CLOSE_TIMEOUT_MS   (3 * 1000)    /* closing: writable never came */

/* ---- shared state (q_mu) ----------------------------------------------- */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static cp_sender_queue_t q = CP_SENDER_QUEUE_INIT;   /* sender_queue.h */
static cp_options_t cfg;               /* relay, labels, token, caps source */
static char cfg_app[CP_OPT_VAL_MAX];
static cp_sender_identity_t ident;
static bool cfg_changed;               /* reconnect with the new hello */
static bool stop_req;
static bool thread_running;            /* claimed by cp_sender_start, even before spawn */
static bool spawn_pending;             /* a deferred start: cp_sender_spawn creates the thread */
static jvmtiEnv *spawn_jvmti;
static bool ctx_failed;                /* no lws context: the thread gives up */
static bool ready_shared;              /* mirror of state == ST_READY */
static bool trying_shared;             /* mirror of state != ST_IDLE: connected or
                                          a connection attempt under way */
static struct lws_context *ctx_shared; /* for lws_cancel_service (q_mu) */
static cp_sender_control_fn control_fn;

/* ---- sender-thread state ------------------------------------------------ */
static struct lws_context *ctx;
static struct lws *g_wsi;
static int state = ST_IDLE;
static cp_sender_conn_t conn;          /* what this connection's relay has (sender_conn.h) */
static cp_buf_t txbuf = CP_BUF_INIT;
static cp_buf_t rxbuf = CP_BUF_INIT;
static lws_sorted_usec_list_t sul_connect, sul_tick;
static cp_backoff_t backoff;           /* when to try again (sender_backoff.h) */
static uint64_t cost_last;             /* cost.h */
static bool hb_due, closing, loop_exit;
static uint64_t state_since_ms, closing_since_ms, last_hb_ms;
static bool ctx_tls;                   /* the context was created with TLS */
static bool restart_ctx;               /* leave the loop and make a new context */
static uint64_t last_rx_ms;
static uint32_t max_message = 16u << 20;
/* connection parameters, kept alive while connecting (lws keeps pointers) */
static char url_copy[CP_OPT_STR_MAX];
static char host_hdr[300];
static cp_unreach_t unreach;           /* the relay could not be reached (sender_unreach.h) */

static uint64_t now_ms(void) { return cp_now_ms(); }

/* Any thread, q_mu NOT held. ctx_shared is read and used under q_mu so the
 * sender thread cannot destroy the context in between. */
static void wake(void)
{
    pthread_mutex_lock(&q_mu);
    if (ctx_shared)
        lws_cancel_service(ctx_shared);
    pthread_mutex_unlock(&q_mu);
}

void cp_sender_wake(void)
{
    wake();
}

void cp_sender_set_control_handler(cp_sender_control_fn fn)
{
    pthread_mutex_lock(&q_mu);
    control_fn = fn;
    pthread_mutex_unlock(&q_mu);
}

static atomic_bool py_kind;   /* relaxed: a naming hint for the harvester, nothing published through it */

bool cp_sender_python_kind(void)
{
    return atomic_load_explicit(&py_kind, memory_order_relaxed);
}

bool cp_sender_connected(void)
{
    pthread_mutex_lock(&q_mu);
    bool r = ready_shared;
    pthread_mutex_unlock(&q_mu);
    return r;
}

size_t cp_sender_queued_bytes(void)
{
    pthread_mutex_lock(&q_mu);
    size_t b = q.bytes;
    pthread_mutex_unlock(&q_mu);
    return b;
}

uint32_t cp_sender_unsent(void)
{
    pthread_mutex_lock(&q_mu);
    uint32_t n = cp_sender_queue_unsent(&q);
    pthread_mutex_unlock(&q_mu);
    return n;
}

void cp_sender_submit(cp_pending_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&q_mu);
    cp_sender_queue_push(&q, p, (size_t)cfg.buffer_bytes);
    pthread_mutex_unlock(&q_mu);
    wake();
}

/* ---- sender thread ------------------------------------------------------ */

static void set_state(int s)
{
    if (s != state)
        state_since_ms = now_ms();
    state = s;
    pthread_mutex_lock(&q_mu);
    ready_shared = s == ST_READY;
    trying_shared = s != ST_IDLE;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
}

static void connect_cb(lws_sorted_usec_list_t *sul);

/* A connection attempt to url_copy failed: warn (once, then once a minute). */
static void report_unreachable(const char *why)
{
    cp_unreach_held_t h;
    pthread_mutex_lock(&q_mu);
    h.batches = q.count;
    h.bytes = q.bytes;
    h.samples = cp_sender_queue_samples(&q);
    pthread_mutex_unlock(&q_mu);
    h.dropped_samples = cp_stats_get(CP_ST_DROP_BUFFER_SAMPLES) + cp_stats_get(CP_ST_DROP_UNACKED_SAMPLES);
    cp_unreach_failed(&unreach, url_copy, why, now_ms(), &h);
}

static void schedule_reconnect(void)
{
    if (loop_exit || stop_req)
        return;
    int64_t d = cp_backoff_next_ms(&backoff);
    CP_LOGD("reconnect in %lld ms", (long long)d);
    lws_sul_schedule(ctx, 0, &sul_connect, connect_cb, d * LWS_US_PER_MS);
}

static void connect_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (g_wsi || stop_req)
        return;
    pthread_mutex_lock(&q_mu);
    snprintf(url_copy, sizeof url_copy, "%s", cfg.relay);
    cfg_changed = false;
    bool tls_changed = cp_sender_tls_changed(&cfg);
    int tls_flags = cp_sender_tls_flags(&cfg);
    pthread_mutex_unlock(&q_mu);

    char parse[CP_OPT_STR_MAX];
    snprintf(parse, sizeof parse, "%s", url_copy);
    const char *prot = NULL, *ads = NULL, *path = NULL;
    int port = 0;
    const char *bad = cp_unreach_bad_url(url_copy);
    if (bad || lws_parse_uri(parse, &prot, &ads, &port, &path)) {
        /* nothing is sent anywhere else: a later relay= (attach) fixes it */
        report_unreachable(bad ? bad : "not a valid URL");
        schedule_reconnect();
        return;
    }
    bool tls = !strcmp(prot, "wss");
    if (tls != ctx_tls || (tls && tls_changed)) {          /* context made without (or with) TLS: make a new one */
        restart_ctx = true;
        loop_exit = true;
        return;
    }
    if (port == 80 && !strstr(url_copy + (tls ? 6 : 5), ":"))
        port = tls ? 443 : 80;
    static char addr[256], pathbuf[256];
    snprintf(addr, sizeof addr, "%s", ads);
    while (path && *path == '/')   /* lws_parse_uri gives "/" or the path without its '/' */
        path++;
    snprintf(pathbuf, sizeof pathbuf, "/%s", (path && *path) ? path : "ingest");
    snprintf(host_hdr, sizeof host_hdr, "%s:%d", addr, port);

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = addr;
    ci.port = port;
    ci.path = pathbuf;
    ci.host = host_hdr;
    ci.protocol = "cprof.v1";
    ci.local_protocol_name = "cprof.v1";
    ci.ssl_connection = tls ? tls_flags : 0;
    ci.pwsi = &g_wsi;
    cp_stats_add(CP_ST_CONNECTS, 1);
    set_state(ST_CONNECTING);
    if (!lws_client_connect_via_info(&ci)) {
        g_wsi = NULL;
        set_state(ST_IDLE);
        cp_stats_add(CP_ST_CONNECT_FAILS, 1);
        schedule_reconnect();
    }
}

/* The 1 s tick: per-state deadlines and heartbeats. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    cp_cost_thread(&cost_last);   /* this thread's CPU, once a second (and at its end) */
    uint64_t now = now_ms();
    const char *late = NULL;
    if (!g_wsi)
        ;
    else if (closing && now - closing_since_ms > CLOSE_TIMEOUT_MS)
        late = "closing";
    else if (state == ST_CONNECTING && now - state_since_ms > CONNECT_TIMEOUT_MS + CONNECT_GRACE_MS)
        late = "connecting";
    else if ((state == ST_HELLO || state == ST_WAIT) && now - state_since_ms > WELCOME_TIMEOUT_MS)
        late = "no welcome";
    else if (state == ST_READY && now - last_rx_ms > RX_TIMEOUT_MS)
        late = "relay silent";
    if (late) {
        CP_LOGW("relay connection timed out (%s after %llu s); reconnecting", late,
                (unsigned long long)(now - (closing ? closing_since_ms : state == ST_READY ? last_rx_ms
                                                                                          : state_since_ms)) / 1000);
        cp_stats_add(CP_ST_NET_TIMEOUTS, 1);
        lws_set_timeout(g_wsi, 1, LWS_TO_KILL_ASYNC);
    } else if (g_wsi && state == ST_READY && now - last_hb_ms >= HEARTBEAT_MS) {
        last_hb_ms = now;
        hb_due = true;
        lws_callback_on_writable(g_wsi);
    }
    lws_sul_schedule(ctx, 0, &sul_tick, tick_cb, TICK_US);
}

/* Asks for an orderly close; the tick kills the connection if it stalls. */
static void begin_close(struct lws *wsi)
{
    if (!closing)
        closing_since_ms = now_ms();
    closing = true;
    lws_callback_on_writable(wsi);
}

static int write_tx(struct lws *wsi)
{
    size_t n = txbuf.len - LWS_PRE;
    int w = lws_write(wsi, txbuf.data + LWS_PRE, n, LWS_WRITE_BINARY);
    if (w < (int)n)
        return -1;
    cp_stats_add(CP_ST_BYTES_SENT, n);
    return 0;
}

static int send_hello(struct lws *wsi)
{
    pthread_mutex_lock(&q_mu);
    int rc = cp_sender_conn_hello(&txbuf, &cfg, cfg_app, &ident);
    pthread_mutex_unlock(&q_mu);
    if (rc) {
        CP_LOGE("cannot encode hello: %s", cp_strerror(rc));
        return -1;
    }
    return write_tx(wsi);
}

static int send_heartbeat(struct lws *wsi)
{
    if (cp_sender_conn_heartbeat(&txbuf, &conn, now_ms()))
        return -1;
    return write_tx(wsi);
}

/* Encodes and writes one batch. 1 = wrote one, 0 = nothing to send, -1 = error. */
static int send_next_batch(struct lws *wsi)
{
    uint32_t gen;
    const cp_stack_dict_t *d = cp_harvest_dict_lock(&gen);
    pthread_mutex_lock(&q_mu);
    cp_pending_t *p = cp_sender_queue_next(&q, gen);
    if (!p) {
        pthread_mutex_unlock(&q_mu);
        cp_harvest_dict_unlock();
        return 0;
    }
    if (p->sends++ > 0)
        cp_stats_add(CP_ST_BATCHES_RESENT, 1);
    int rc = cp_sender_conn_batch(&txbuf, &conn, p, d, gen);
    uint64_t seq = p->seq;
    if (rc == 0)
        q.sent_upto = seq;   /* written below; an overflow now counts it as drop.unacked */
    pthread_mutex_unlock(&q_mu);
    cp_harvest_dict_unlock();
    if (rc) {
        CP_LOGE("cannot encode batch %llu: %s", (unsigned long long)seq, cp_strerror(rc));
        return -1;
    }
    if (txbuf.len - LWS_PRE > max_message)
        CP_LOGW("batch %llu is %zu bytes, over the relay's limit %u", (unsigned long long)seq,
                txbuf.len - LWS_PRE, max_message);
    CP_LOGD("sent batch %llu (%zu bytes)", (unsigned long long)seq, txbuf.len - LWS_PRE);
    return write_tx(wsi) ? -1 : 1;
}

static void ack_upto(uint64_t seq)
{
    pthread_mutex_lock(&q_mu);
    cp_sender_queue_ack(&q, seq);
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
}

static void handle_message(struct lws *wsi, const uint8_t *data, size_t len)
{
    cp_msg_t *m = NULL;
    char err[160];
    int rc = cp_wire_decode(data, len, NULL, &m, err, sizeof err);
    if (rc) {
        CP_LOGW("bad message from relay: %s (%s)", cp_strerror(rc), err);
        return;
    }
    switch (m->kind) {
    case CP_MSG_WELCOME: {
        uint64_t last = m->u.welcome.last_seq;
        if (m->u.welcome.max_message)
            max_message = m->u.welcome.max_message;
        ack_upto(last);
        /* resend everything still queued (and not durable at the relay) */
        pthread_mutex_lock(&q_mu);
        q.sent_upto = last;
        pthread_mutex_unlock(&q_mu);
        uint32_t gen;
        cp_harvest_dict_lock(&gen);
        cp_harvest_dict_unlock();
        cp_sender_conn_welcome(&conn, cp_wire_enc_parse(m->u.welcome.enc, m->u.welcome.n_enc) & CP_WIRE_ENC_ALL,
                               m->u.welcome.features, m->u.welcome.n_features, gen);
        atomic_store_explicit(&py_kind, (conn.enc & CP_WIRE_ENC_PYKIND1) != 0, memory_order_relaxed);
        cp_backoff_reset(&backoff);
        pthread_mutex_lock(&q_mu);
        uint32_t pending = q.count;
        pthread_mutex_unlock(&q_mu);
        cp_unreach_connected(&unreach, url_copy, now_ms());
        CP_LOGI("connected to relay %s (session %s, last_seq %llu, %u queued, encodings 0x%x)", url_copy,
                m->u.welcome.session, (unsigned long long)last, pending, conn.enc);
        cp_control_t dc = {.command = "configure", .options = m->u.welcome.defaults,
                           .n_options = m->u.welcome.n_defaults, .id = "", .scope = "defaults"};
        pthread_mutex_lock(&q_mu);
        cp_sender_control_fn dfn = control_fn;
        pthread_mutex_unlock(&q_mu);
        if (dfn)
            dfn(&dc);   /* the app's defaults at this relay (none: an older relay) */
        set_state(ST_READY);
        lws_callback_on_writable(wsi);
        break;
    }
    case CP_MSG_ACK:
        ack_upto(m->u.ack.seq);
        break;
    case CP_MSG_HEARTBEAT:
        break;
    case CP_MSG_CONTROL: {
        pthread_mutex_lock(&q_mu);
        cp_sender_control_fn fn = control_fn;
        pthread_mutex_unlock(&q_mu);
        CP_LOGI("control from relay: %s%s%s", m->u.control.command, *m->u.control.id ? " id=" : "",
                m->u.control.id);
        if (fn)
            fn(&m->u.control);
        if (conn.control_acks && g_wsi)
            lws_callback_on_writable(g_wsi);   /* its ack */
        break;
    }
    case CP_MSG_ERROR:
        CP_LOGW("relay error %d: %s%s", m->u.error.code, m->u.error.message,
                m->u.error.fatal ? " (closing)" : "");
        if (m->u.error.code == CP_ERATE) {
            /* over the tenant's budget: unacked batches stay queued and are
             * resent after the reconnect (welcome's last_seq) */
            cp_stats_add(CP_ST_RATE_LIMITED, 1);
            cp_backoff_rate_limited(&backoff, m->u.error.retry_after_ms);
        }
        if (m->u.error.fatal) {
            if (m->u.error.code != CP_ERATE)
                cp_backoff_refused(&backoff);   /* do not hammer a relay that refuses us */
            begin_close(wsi);
        }
        break;
    default:
        break;
    }
    cp_msg_free(m);
}

static void on_closed(struct lws *wsi, const char *why)
{
    if (wsi != g_wsi && g_wsi)
        return;
    g_wsi = NULL;
    bool was_ready = state == ST_READY;
    if (!why && (state == ST_HELLO || state == ST_WAIT))
        why = "the connection closed before the relay welcomed the agent";
    set_state(ST_IDLE);
    closing = false;
    hb_due = false;
    cp_buf_reset(&rxbuf);
    if (was_ready) {
        CP_LOGI("relay connection closed%s%s", why ? ": " : "", why ? why : "");
    } else {
        cp_stats_add(CP_ST_CONNECT_FAILS, 1);
        report_unreachable(why);
    }
    pthread_mutex_lock(&q_mu);
    bool stop = stop_req;
    pthread_mutex_unlock(&q_mu);
    if (stop)
        loop_exit = true;
    else
        schedule_reconnect();
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        last_rx_ms = last_hb_ms = now_ms();
        set_state(ST_HELLO);
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        cp_sender_tls_verify(user, (int)len);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!cp_sender_tls_failed(in))
            CP_LOGD("relay connect failed: %s", in ? (const char *)in : "?");
        on_closed(wsi, in ? (const char *)in : NULL);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        on_closed(wsi, NULL);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        /* lws frees a client wsi whose connect or upgrade timed out
         * without CLIENT_CONNECTION_ERROR or CLIENT_CLOSED: forget it here,
         * or g_wsi dangles (no reconnect, and the deadline tick would
         * touch freed memory) */
        if (wsi == g_wsi)
            on_closed(wsi, "connection timed out");
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        last_rx_ms = now_ms();
        if (lws_is_first_fragment(wsi))
            cp_buf_reset(&rxbuf);
        if (rxbuf.len + len > (64u << 20) || cp_buf_append(&rxbuf, in, len)) {
            cp_buf_reset(&rxbuf);
            return -1;
        }
        if (lws_is_final_fragment(wsi)) {
            handle_message(wsi, rxbuf.data, rxbuf.len);
            cp_buf_reset(&rxbuf);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        if (state == ST_HELLO) {
            if (send_hello(wsi))
                return -1;
            set_state(ST_WAIT);
            break;
        }
        if (state != ST_READY)
            break;
        if (hb_due) {
            hb_due = false;
            if (send_heartbeat(wsi))
                return -1;
            lws_callback_on_writable(wsi);
            break;
        }
        if (conn.control_acks && cp_sender_acks_next(&txbuf)) {
            if (write_tx(wsi))
                return -1;
            lws_callback_on_writable(wsi);
            break;
        }
        {
            int r = send_next_batch(wsi);
            if (r < 0)
                return -1;
            if (r > 0)
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        pthread_mutex_lock(&q_mu);
        bool stop = stop_req, changed = cfg_changed;
        pthread_mutex_unlock(&q_mu);
        if (stop || changed) {
            if (g_wsi) {
                begin_close(g_wsi);
            } else if (stop) {
                lws_sul_cancel(&sul_connect);
                loop_exit = true;
            } else {
                cp_backoff_reset(&backoff);
                lws_sul_schedule(ctx, 0, &sul_connect, connect_cb, 1);
            }
            if (changed && !stop)
                cp_backoff_reset(&backoff);
        } else if (g_wsi && state == ST_READY) {
            lws_callback_on_writable(g_wsi);
        }
        break;
    }
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"cprof.v1", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* One context lifetime: create, service until asked to stop (or to
 * restart because the relay URL switched between ws:// and wss://),
 * destroy. Returns true to run again. */
static bool run_context(void)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    /* OpenSSL's global init costs a few MB of RSS: only for wss:// */
    pthread_mutex_lock(&q_mu);
    ctx_tls = !strncmp(cfg.relay, "wss://", 6);
    if (ctx_tls)
        cp_sender_tls_context(&cfg, &info);
    pthread_mutex_unlock(&q_mu);
    /* here, not at the JVM's start; ws:// without libwebsockets (lws_lazy.h) */
    const char *why = NULL;
    if (cp_lws_load(ctx_tls, &why) != 0) {
        CP_LOGE("cannot load libwebsockets (%s); no data will be sent", why);
        pthread_mutex_lock(&q_mu);
        ctx_failed = true;
        pthread_mutex_unlock(&q_mu);
        return false;
    }
    cp_lws_log_to_agent();
    info.gid = -1;
    info.uid = -1;
    info.timeout_secs = CONNECT_TIMEOUT_MS / 1000;   /* lws' own connect/handshake timeouts */
    /* lws sets SIGPIPE to SIG_IGN; the JVM's -Xcheck:jni complains if its
     * handler changes, so put back whatever was there. */
    struct sigaction old_pipe;
    sigaction(SIGPIPE, NULL, &old_pipe);
    ctx = lws_create_context(&info);
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (!ctx) {
        CP_LOGE("cannot create the libwebsockets context; no data will be sent");
        pthread_mutex_lock(&q_mu);
        ctx_failed = true;
        pthread_mutex_unlock(&q_mu);
        return false;
    }
    pthread_mutex_lock(&q_mu);
    ctx_shared = ctx;               /* other threads may now wake us */
    pthread_mutex_unlock(&q_mu);
    loop_exit = false;
    restart_ctx = false;
    cp_backoff_reset(&backoff);
    lws_sul_schedule(ctx, 0, &sul_connect, connect_cb, 1);
    lws_sul_schedule(ctx, 0, &sul_tick, tick_cb, TICK_US);
    while (!loop_exit) {
        if (lws_service(ctx, 0) < 0)
            break;
        pthread_mutex_lock(&q_mu);
        bool stop = stop_req;
        pthread_mutex_unlock(&q_mu);
        if (stop && !g_wsi)
            loop_exit = true;
    }
    pthread_mutex_lock(&q_mu);
    ctx_shared = NULL;              /* no more wakes */
    bool stop = stop_req;
    pthread_mutex_unlock(&q_mu);
    lws_sul_cancel(&sul_connect);
    lws_sul_cancel(&sul_tick);
    lws_context_destroy(ctx);
    ctx = NULL;
    g_wsi = NULL;
    set_state(ST_IDLE);
    return restart_ctx && !stop;
}

static void JNICALL sender_main(jvmtiEnv *jvmti, JNIEnv *jni, void *arg)
{
    cost_last = 0;   /* cost.h: this thread's CPU, from its start */
    (void)jvmti; (void)jni; (void)arg;
    cp_sampler_ignore_current_thread();
    cp_cost_background_thread();
    cp_backoff_init(&backoff, (unsigned)(now_ms() ^ (uint64_t)getpid() << 16));
    for (;;) {
        bool again = run_context();
        pthread_mutex_lock(&q_mu);
        if (!again && !stop_req && !ctx_failed) {
            /* a stop that timed out was cancelled by cp_sender_start */
            pthread_mutex_unlock(&q_mu);
            CP_LOGI("sender restarted before its stop completed: carrying on");
            continue;
        }
        if (!again) {
            cp_cost_thread(&cost_last);
            cp_agent_thread_ending();
            thread_running = false;
            pthread_cond_broadcast(&q_cv);
            pthread_mutex_unlock(&q_mu);
            break;
        }
        pthread_mutex_unlock(&q_mu);
        CP_LOGI("relay URL switched between ws:// and wss://: new connection context");
    }
}

void cp_sender_configure(const cp_options_t *o, const char *app)
{
    pthread_mutex_lock(&q_mu);
    bool changed = cp_sender_conn_hello_differs(&cfg, o) || strcmp(cfg_app, app);
    cfg = *o;
    snprintf(cfg_app, sizeof cfg_app, "%s", app);
    if (changed)
        cfg_changed = true;
    pthread_mutex_unlock(&q_mu);
    if (changed)
        wake();
}

/* Creates the thread thread_running already claims. */
static int spawn(jvmtiEnv *jvmti, JNIEnv *jni)
{
    if (cp_agent_thread_start(jvmti, jni, "cprof-sender", sender_main, NULL) == 0)
        return 0;
    CP_LOGE("cannot start the sender thread");
    pthread_mutex_lock(&q_mu);
    thread_running = false;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
    return CP_ESTATE;
}

int cp_sender_start(jvmtiEnv *jvmti, JNIEnv *jni, const cp_options_t *o, const char *app,
                    const cp_sender_identity_t *id, bool defer)
{
    pthread_mutex_lock(&q_mu);
    ident = *id;
    bool running = thread_running, cancelled = running && stop_req;
    if (cancelled)   /* the last stop timed out and the thread still runs:
                        sender_main re-checks stop_req before it exits */
        stop_req = false;
    if (!running) {
        cfg = *o;
        snprintf(cfg_app, sizeof cfg_app, "%s", app);
        cfg_changed = false;
        stop_req = false;
        ctx_failed = false;
        thread_running = true;
        trying_shared = true;   /* the first attempt is about to start */
        spawn_pending = defer;
        spawn_jvmti = jvmti;
    }
    pthread_mutex_unlock(&q_mu);
    if (cancelled)
        CP_LOGI("sender: a stop that had not completed is cancelled; the thread carries on");
    if (running) {
        cp_sender_configure(o, app);
        wake();   /* a cancelled stop: reconnect if the close went through */
        return 0;
    }
    return defer ? 0 : spawn(jvmti, jni);
}

int cp_sender_spawn(JNIEnv *jni)
{
    pthread_mutex_lock(&q_mu);
    bool pending = spawn_pending;
    spawn_pending = false;
    jvmtiEnv *jvmti = spawn_jvmti;
    pthread_mutex_unlock(&q_mu);
    return pending ? spawn(jvmti, jni) : 0;
}

int cp_sender_drain(int timeout_ms)
{
    struct timespec dl;
    cp_deadline_in(&dl, timeout_ms);
    wake();
    pthread_mutex_lock(&q_mu);
    /* an attempt under way (TCP, upgrade, hello) may still deliver: a JVM
     * that ends right after start-up waits for it; a refused or failed
     * attempt (state IDLE) ends the wait at once, and so does a thread
     * never created (cp_sender_spawn not called) */
    while (q.head && trying_shared && thread_running && !spawn_pending) {
        if (pthread_cond_timedwait(&q_cv, &q_mu, &dl) != 0)
            break;
    }
    int left = (int)q.count;
    pthread_mutex_unlock(&q_mu);
    return left;
}

uint64_t cp_sender_queued_samples(void)
{
    pthread_mutex_lock(&q_mu);
    uint64_t n = cp_sender_queue_samples(&q);
    pthread_mutex_unlock(&q_mu);
    return n;
}

void cp_sender_stop(int timeout_ms)
{
    struct timespec dl;
    cp_deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&q_mu);
    if (!thread_running) {
        pthread_mutex_unlock(&q_mu);
        return;
    }
    if (spawn_pending) {   /* never created: nothing runs */
        spawn_pending = false;
        thread_running = false;
        pthread_cond_broadcast(&q_cv);
        pthread_mutex_unlock(&q_mu);
        return;
    }
    stop_req = true;
    pthread_mutex_unlock(&q_mu);
    wake();
    pthread_mutex_lock(&q_mu);
    while (thread_running)
        if (pthread_cond_timedwait(&q_cv, &q_mu, &dl) != 0)
            break;
    if (thread_running)
        CP_LOGW("sender thread did not stop within %d ms", timeout_ms);
    pthread_mutex_unlock(&q_mu);
}
