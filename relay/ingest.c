/* ingest.c - the agent websocket (/ingest, subprotocol "cprof.v1") on the
 * service thread. The store worker behind it is ingest_store.c.
 *
 * Reassembles each websocket message (bounded by limits.max_message), hands
 * the bytes to the store worker as a job tagged with the session's 64-bit id
 * (ingest_store.h), and sends back what the worker answers (welcome / ack /
 * heartbeat / error). It pauses reading from an agent (lws_rx_flow_control)
 * while that agent has more than PENDING_HIGH jobs queued, so a fast agent
 * cannot flood the worker.
 *
 * Authentication happens here, before anything reaches the store worker:
 * the first message of a connection is peeked. Only a small one (HELLO_MAX
 * bytes, inflated to at most HELLO_PAYLOAD_MAX) that decodes as a hello is
 * accepted; its token is checked (auth.h, constant time), the role must
 * allow ingest and the app name must have no control character. The
 * connection then holds its principal (pss `who`) and the hello goes to the
 * worker, decoded, tagged with the tenant. Anything else first (a batch, a
 * big message, a bad token) is answered with an error and closed, and
 * counted (stats.hello_rejected, stats.auth_denied).
 *
 * Protocol rules enforced (docs/protocol.md): the first message is a hello;
 * a second hello, an unknown kind, a relay-only kind from an agent, a
 * dictionary gap/dangling id or an oversized message closes that one
 * connection with an error message and a logged reason.
 *
 * Budgets (budget.h, docs/relay.md "Budgets"; each refusal is an error
 * message, a logged reason and a counter): a connection that is not
 * authenticated within budget.hello_timeout_ms is closed (CP_ETIMEOUT); an
 * authenticated one counts against its tenant's connection cap and bytes/s
 * bucket, answered CP_ERATE with a retry-after: the agent keeps its unacked
 * batches and resends them after reconnecting. Bytes queued for the store
 * worker are capped globally: past budget.max_store_queue every connection
 * that delivers a message stops being read (lws_rx_flow_control) until the
 * worker has drained the queue to half the cap, so the queue holds at most
 * the cap plus one message per connection, and nothing is dropped.
 *
 * Thread: service only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "control.h"
#include "error.h"
#include "ingest_store.h"
#include "relay.h"
#include "rutil.h"
#include "store_labels.h"

#define PENDING_HIGH 8
#define PENDING_LOW  2
#define HELLO_MAX          (64u << 10)   /* first message of a connection, compressed */
#define HELLO_PAYLOAD_MAX  (256u << 10)  /* ... and inflated, while still unauthenticated */

typedef struct txm {
    uint8_t     *data;     /* LWS_PRE + message */
    size_t       len;
    bool         close;
    struct txm  *next;
} txm_t;

typedef struct ingest_pss {
    uint64_t   id;
    struct lws *wsi;
    cp_principal_t who;        /* set by hello_peek; role NONE until then */
    cp_budget_tenant_t *tenant; /* counted in its connection cap once authenticated */
    cp_buf_t   rx;
    bool       rx_too_big;
    int        pending;
    bool       paused;          /* too many of its own jobs queued */
    bool       gpaused;         /* the store queue is over budget.max_store_queue */
    bool       closing;
    bool       close_flushed;   /* close once lws has written the last frame's buffered rest */
    int64_t    opened_ms;       /* the upgrade (hello deadline) */
    int64_t    last_rx_ms;      /* last message or pong (idle timeout) */
    int64_t    ping_ms;         /* last ping sent */
    bool       want_ping;       /* silent for --ping: SERVER_WRITEABLE pings it */
    txm_t     *txh, *txt;
    char      *qapp, *instance, *labels;   /* from the hello (control.c matches on them) */
    bool       control1;        /* hello capability: timed controls + control_ack */
    bool       welcome_wait;    /* the hello's answer has not come back yet */
} ingest_pss_t;

size_t cp__ingest_pss_size(void) { return sizeof(ingest_pss_t); }

static uint64_t next_conn_id = 1;
static cp_budget_t *svc_budget;      /* connections and bytes/s per tenant (service thread) */
static size_t n_gpaused, n_ingest_conns;
static cp__hmap_t live_idx;          /* conn id -> slot + 1 (service thread only) */
static ingest_pss_t **slots;
static size_t n_slots, cap_slots;

static void reg_add(ingest_pss_t *p)
{
    size_t i;
    for (i = 0; i < n_slots && slots[i]; i++)
        ;
    if (i == n_slots) {
        if (n_slots == cap_slots) {
            cap_slots = cap_slots ? cap_slots * 2 : 64;
            slots = cp__xrealloc(slots, cap_slots * sizeof *slots);
        }
        n_slots++;
    }
    slots[i] = p;
    *cp__hmap_slot(&live_idx, p->id, 1) = (uint32_t)i + 1;
}
static ingest_pss_t *reg_get(uint64_t id)
{
    uint32_t *s = cp__hmap_slot(&live_idx, id, 0);
    return s && *s ? slots[*s - 1] : NULL;
}
static void reg_del(ingest_pss_t *p)
{
    uint32_t *s = cp__hmap_slot(&live_idx, p->id, 0);
    if (s && *s)
        slots[*s - 1] = NULL;
    cp__hmap_del(&live_idx, p->id);
}

/* Reads from p resume when neither its own queue nor the global one holds
 * it back. */
static void flow_update(ingest_pss_t *p, bool was_held)
{
    bool held = p->paused || p->gpaused;
    if (held != was_held)
        lws_rx_flow_control(p->wsi, held ? 0 : 1);
}

/* The store queue drained to half its cap: every globally paused
 * connection is read again. */
static void gresume_all(void)
{
    for (size_t i = 0; i < n_slots && n_gpaused; i++) {
        ingest_pss_t *p = slots[i];
        if (p && p->gpaused) {
            p->gpaused = false;
            n_gpaused--;
            flow_update(p, true);
        }
    }
    n_gpaused = 0;
}

static void tx_push(ingest_pss_t *p, uint8_t *data, size_t len, bool close)
{
    txm_t *t = cp__xcalloc(1, sizeof *t);
    t->data = data;
    t->len = len;
    t->close = close;
    if (p->txt)
        p->txt->next = t;
    else
        p->txh = t;
    p->txt = t;
    lws_callback_on_writable(p->wsi);
}

bool cp__ingest_send(uint64_t conn_id, uint8_t *data, size_t len)
{
    ingest_pss_t *p = reg_get(conn_id);
    if (!p || p->closing || !p->qapp || p->welcome_wait) {
        free(data);
        return false;
    }
    tx_push(p, data, len, false);
    return true;
}

void cp__ingest_each_agent(void (*fn)(void *ud, const cp__ingest_agent_t *a), void *ud)
{
    for (size_t i = 0; i < n_slots; i++) {
        ingest_pss_t *p = slots[i];
        if (!p || p->closing || !p->qapp || p->welcome_wait)
            continue;
        cp__ingest_agent_t a = {p->id, p->qapp, p->instance, p->labels, p->control1};
        fn(ud, &a);
    }
}

/* The hello passed hello_peek: what control.c matches changes on. */
static void remember_hello(ingest_pss_t *p, const cp_hello_t *h)
{
    char q[CP_TENANT_MAX + 1024];
    if (cp_auth_qualify(p->who.tenant, h->app, q, sizeof q))
        return;
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    cp_store_labels_canon(h->labels, h->n_labels, &canon, &json);
    p->qapp = cp__xstrdup(q);
    p->instance = cp__xstrdup(h->instance ? h->instance : "");
    p->labels = cp__xstrdup(canon.len ? (const char *)canon.data : "");
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    for (uint32_t i = 0; i < h->n_caps; i++)
        p->control1 |= !strcmp(h->caps[i], CP_WIRE_CAP_CONTROL1);
    p->welcome_wait = true;
}

void cp__ingest_done(cp_done_t *d)
{
    if (n_gpaused && cp__ingest_queued_bytes() <= cp__relay.cfg.budget.max_store_queue / 2)
        gresume_all();
    ingest_pss_t *p = reg_get(d->conn_id);
    if (!p) {
        free(d->data);
        free(d);
        return;
    }
    if (p->pending > 0)
        p->pending--;
    if (p->paused && p->pending <= PENDING_LOW) {
        p->paused = false;
        flow_update(p, true);
    }
    bool welcomed = p->welcome_wait && d->data && !d->close;
    if (d->data || d->close)
        tx_push(p, d->data, d->len, d->close);
    if (p->welcome_wait && (d->data || d->close))
        p->welcome_wait = false;   /* the hello's answer: a welcome, or an error */
    if (welcomed)   /* the timed changes in force that match it follow the welcome */
        cp__control_welcomed(p->id, p->qapp, p->instance, p->labels, p->control1);
    free(d);
}

static void close_rate(ingest_pss_t *p, int code, uint32_t retry_ms, const char *reason)
{
    /* service-side error (protocol, budget): queue an error and close */
    cp_msg_t m = {0};
    m.kind = CP_MSG_ERROR;
    m.u.error.code = code;
    m.u.error.message = reason;
    m.u.error.fatal = true;
    m.u.error.retry_after_ms = retry_ms;
    cp_buf_t b = CP_BUF_INIT;
    static const uint8_t pre[LWS_PRE];
    cp_buf_append(&b, pre, LWS_PRE);
    txm_t *t = cp__xcalloc(1, sizeof *t);
    if (cp_wire_encode(&m, 0, &b) == 0) {
        t->len = b.len - LWS_PRE;
        t->data = cp_buf_steal(&b, NULL);
    } else {
        cp_buf_fini(&b);
    }
    t->close = true;
    if (p->txt)
        p->txt->next = t;
    else
        p->txh = t;
    p->txt = t;
    p->closing = true;
    CP_STAT_ADD(errors, 1);
    cp__log("ingest: closing connection %" PRIu64 ": %s", p->id, reason);
    lws_callback_on_writable(p->wsi);
}
static void close_with(ingest_pss_t *p, int code, const char *reason)
{
    close_rate(p, code, 0, reason);
}

/* An authenticated connection joins its tenant: refused (CP_ERATE) past
 * the tenant's connection cap. */
static bool tenant_admit(ingest_pss_t *p)
{
    int64_t now = cp__now_ms();
    if (!svc_budget)
        svc_budget = cp_budget_create(&cp__relay.cfg.budget);
    cp_budget_tenant_t *t = cp_budget_tenant(svc_budget, p->who.tenant, now);
    int cap = cp__relay.cfg.budget.max_tenant_conns;
    if (cap && t->conns >= cap) {
        char why[200];
        snprintf(why, sizeof why, "tenant '%s' is at its cap of %d agent connections "
                 "(--max-tenant-connections); retry later", p->who.tenant, cap);
        CP_STAT_ADD(conn_refused_tenant, 1);
        close_rate(p, CP_ERATE, 10000, why);
        return false;
    }
    t->conns++;
    p->tenant = t;
    return true;
}

/* The first message of a connection, still unauthenticated: accept only a
 * small hello with a token whose role may ingest. Nothing bigger than
 * HELLO_PAYLOAD_MAX is inflated for a peer we do not know yet. Returns
 * the decoded hello (p->who set; the caller owns it and hands it to the
 * store worker, which does not decode it again) or NULL (error queued,
 * connection closing). */
static cp_msg_t *hello_peek(ingest_pss_t *p)
{
    cp_wire_limits_t lim = cp__relay.cfg.limits;
    lim.max_message = HELLO_MAX;
    lim.max_payload = HELLO_PAYLOAD_MAX;
    lim.max_decoded = 4 * HELLO_PAYLOAD_MAX;
    lim.max_count = 4096;
    cp_msg_t *m = NULL;
    char err[160] = "", why[256];
    int rc = cp_wire_decode(p->rx.data, p->rx.len, &lim, &m, err, sizeof err);
    cp_principal_t who;
    if (rc) {
        snprintf(why, sizeof why, "first message is not a valid hello: %s (%s)", cp_strerror(rc), err);
    } else if (m->kind != CP_MSG_HELLO) {
        rc = CP_ESTATE;
        snprintf(why, sizeof why, "%s before hello: a connection starts with a hello",
                 cp_wire_kind_name(m->kind));
    } else if (!cp_auth_check(m->u.hello.token, &who)) {
        rc = CP_EPERM;
        cp__relay.stats.auth_denied++;
        snprintf(why, sizeof why, "hello: %s token (set token= or CPROF_TOKEN to an ingest token; "
                 "docs/security.md)", m->u.hello.token && *m->u.hello.token ? "unknown" : "missing");
    } else if (!cp_auth_allows(who.role, CP_ROLE_INGEST)) {
        rc = CP_EPERM;
        cp__relay.stats.auth_denied++;
        snprintf(why, sizeof why, "hello: a '%s' token may not send profiles (needs ingest or admin)",
                 cp_auth_role_name(who.role));
    } else if (m->u.hello.app && *m->u.hello.app && !cp_auth_app_valid(m->u.hello.app)) {
        rc = CP_EINVAL;
        snprintf(why, sizeof why, "hello: app name must not contain control characters");
    }
    if (rc) {
        cp_msg_free(m);
        if (rc != CP_EPERM)
            cp__relay.stats.hello_rejected++;
        close_with(p, rc, why);
        return NULL;
    }
    p->who = who;
    return m;
}

/* Every CP_SWEEP_MS (relay.h: no timer per connection): closes the
 * connections without a valid hello past --hello-timeout, pings the silent
 * ones and closes those past --idle-timeout. */
static lws_sorted_usec_list_t sweep_sul;
static bool sweep_on;

static void sweep(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    int64_t now = cp__now_ms();
    for (size_t i = 0; i < n_slots; i++) {
        ingest_pss_t *p = slots[i];
        if (!p || p->closing)
            continue;
        if (p->who.role == CP_ROLE_NONE) {
            if (now - p->opened_ms >= cp__relay.cfg.budget.hello_timeout_ms) {
                char why[160];
                snprintf(why, sizeof why, "no valid hello within %d ms (--hello-timeout)",
                         cp__relay.cfg.budget.hello_timeout_ms);
                CP_STAT_ADD(hello_timeouts, 1);
                close_with(p, CP_ETIMEOUT, why);
            }
            continue;
        }
        /* authenticated: pinged after --ping of silence, dropped after
         * --idle-timeout with no message and no pong; a peer that answers
         * nothing gets no error message or close handshake */
        if (!cp__ws_idle_due(p->wsi, now, p->last_rx_ms, &p->ping_ms, &p->want_ping))
            continue;
        p->closing = true;
        cp__log("ingest: closing connection %" PRIu64 ": no message or pong for %d s (--idle-timeout)",
                p->id, cp__relay.cfg.budget.idle_secs);
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    cp__sweep_schedule(&sweep_sul, sweep);
}

int cp__ingest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    ingest_pss_t *p = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        char uri[64] = "";
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)   /* HTTP/2: ":path" */
            lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_HTTP_COLON_PATH);
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        p->id = next_conn_id++;
        p->opened_ms = p->last_rx_ms = cp__now_ms();
        reg_add(p);
        if (!sweep_on) {
            sweep_on = true;
            cp__sweep_schedule(&sweep_sul, sweep);
        }
        CP_STAT_ADD(connections_now, 1);
        n_ingest_conns++;
        if (strcmp(uri, "/ingest")) {
            close_with(p, CP_EINVAL, "agents connect to /ingest");
            return 0;
        }
        if (n_ingest_conns > (size_t)cp__relay.cfg.budget.max_conns) {
            CP_STAT_ADD(conn_refused_global, 1);
            close_rate(p, CP_ERATE, 10000, "relay at its connection cap (--max-connections); retry later");
            return 0;
        }
        /* the hello deadline and later the idle timeout: sweep() */
        if (cp__relay.cfg.verbose)
            cp__log("ingest: connection %" PRIu64 " opened", p->id);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        p->last_rx_ms = cp__now_ms();
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        p->last_rx_ms = cp__now_ms();
        if (p->closing)
            return 0;
        if (lws_is_first_fragment(wsi)) {
            cp_buf_reset(&p->rx);
            p->rx_too_big = false;
        }
        if (!lws_frame_is_binary(wsi)) {
            close_with(p, CP_EMAGIC, "text frame on /ingest: messages are binary");
            return 0;
        }
        bool authed = p->who.role != CP_ROLE_NONE;
        size_t max = authed ? cp__relay.cfg.limits.max_message : HELLO_MAX;
        if (p->rx.len + len > max) {
            char why[128];
            snprintf(why, sizeof why, authed ? "message over %zu bytes"
                     : "first message over %zu bytes: a connection starts with a small hello", max);
            if (!authed)
                cp__relay.stats.hello_rejected++;
            close_with(p, CP_ETOOBIG, why);
            return 0;
        }
        cp_buf_append(&p->rx, in, len);
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        cp_msg_t *hello = NULL;
        if (!authed && (!(hello = hello_peek(p)) || !tenant_admit(p))) {
            cp_msg_free(hello);
            return 0;
        }
        uint32_t retry;
        if (!cp_bucket_take(&p->tenant->bytes, (double)p->rx.len, cp__now_ms(), &retry)) {
            char why[200];
            snprintf(why, sizeof why, "tenant '%s' is over its %" PRIu64 " bytes/s (--tenant-bytes-per-s); "
                     "rate limited, retry in %u ms", p->who.tenant, cp__relay.cfg.budget.tenant_bytes_s, retry);
            CP_STAT_ADD(rate_limited_bytes, 1);
            close_rate(p, CP_ERATE, retry, why);
            cp_msg_free(hello);
            return 0;
        }
        ijob_t *j = cp__xcalloc(1, sizeof *j);
        j->kind = CP__JOB_MESSAGE;
        j->msg = hello;
        if (hello) {
            remember_hello(p, &hello->u.hello);
            if (p->qapp) {
                j->defaults = cp__xcalloc(1, sizeof *j->defaults);
                cp__control_defaults(p->qapp, j->defaults);
            }
        }
        j->conn_id = p->id;
        memcpy(j->tenant, p->who.tenant, sizeof j->tenant);
        j->data = cp_buf_steal(&p->rx, &j->len);
        p->pending++;
        cp__ingest_job_push(j);
        bool was_held = p->paused || p->gpaused;
        if (p->pending >= PENDING_HIGH && !p->paused)
            p->paused = true;
        if (!p->gpaused && cp__ingest_queued_bytes() > cp__relay.cfg.budget.max_store_queue) {
            p->gpaused = true;   /* read no more from it until the worker catches up */
            n_gpaused++;
            CP_STAT_ADD(store_queue_pauses, 1);
        }
        flow_update(p, was_held);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (p->close_flushed) {   /* lws calls this only once its buffered rest is written */
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"protocol error", 14);
            return -1;
        }
        if (p->want_ping) {
            p->want_ping = false;
            if (cp__ws_ping(wsi))
                return -1;
            if (p->txh)
                lws_callback_on_writable(wsi);
            return 0;
        }
        txm_t *t = p->txh;
        if (!t)
            return 0;
        p->txh = t->next;
        if (!p->txh)
            p->txt = NULL;
        bool close = t->close;
        int n = t->data ? lws_write(wsi, t->data + LWS_PRE, t->len, LWS_WRITE_BINARY) : 0;
        free(t->data);
        free(t);
        if (n < 0)
            return -1;
        if (close) {
            p->closing = true;
            /* an error frame that did not fit the socket (a client that
             * pipelines and does not read) would be dropped by closing now:
             * relay_diskfull's agent saw the close without the CP_ERATE */
            if (lws_partial_buffered(wsi)) {
                p->close_flushed = true;
                lws_callback_on_writable(wsi);
                return 0;
            }
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"protocol error", 14);
            return -1;
        }
        if (p->txh)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED: {
        if (!p->id)
            return 0;
        reg_del(p);
        CP_STAT_SUB(connections_now, 1);
        n_ingest_conns--;
        if (p->tenant)
            p->tenant->conns--;
        if (p->gpaused && n_gpaused)
            n_gpaused--;
        cp_buf_fini(&p->rx);
        free(p->qapp);
        free(p->instance);
        free(p->labels);
        while (p->txh) {
            txm_t *t = p->txh;
            p->txh = t->next;
            free(t->data);
            free(t);
        }
        ijob_t *j = cp__xcalloc(1, sizeof *j);
        j->kind = CP__JOB_CLOSE;
        j->conn_id = p->id;
        cp__ingest_job_push(j);
        if (cp__relay.cfg.verbose)
            cp__log("ingest: connection %" PRIu64 " closed", p->id);
        p->id = 0;
        return 0;
    }
    default:
        return 0;
    }
}
