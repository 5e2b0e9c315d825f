/* ingest.c - the agent websocket (/ingest, subprotocol "cprof.v1") and the
 * store worker behind it.
 *
 * Service thread: reassembles each websocket message (bounded by
 * limits.max_message), hands the bytes to the store worker as a job tagged
 * with the session's 64-bit id, and sends back what the worker answers
 * (welcome / ack / heartbeat / error). It pauses reading from an agent
 * (lws_rx_flow_control) while that agent has more than PENDING_HIGH jobs
 * queued, so a fast agent cannot flood the worker.
 *
 * Store worker (one thread, owns the cp_store_t writer): takes every queued
 * job at once, processes them in ONE transaction (decode, dictionary apply,
 * store), commits, and only then posts the answers: an ack is never sent for
 * a batch that is not durable (group commit: one fsync for many batches).
 * If the transaction fails (disk full, read-only data dir) nothing of the
 * group is acked: every message of it is answered with CP_ERATE (retry
 * after a delay that grows with consecutive failures, then resend), close
 * jobs are still applied, and connections outside the group are untouched
 * (group_failed). Every message must be answered in order per connection;
 * the single worker keeps the order.
 *
 * Authentication happens on the service thread, before anything reaches the
 * store worker: the first message of a connection is peeked there. Only a
 * small one (HELLO_MAX bytes, inflated to at most HELLO_PAYLOAD_MAX) that
 * decodes as a hello is accepted; its token is checked (auth.h, constant
 * time), the role must allow ingest and the app name must have no control
 * character. The connection then holds its principal (pss `who`) and the
 * hello goes to the worker tagged with the tenant, which stores the app
 * under its tenant-qualified name. Anything else first (a batch, a big
 * message, a bad token) is answered with an error and closed, and counted
 * (stats.hello_rejected, stats.auth_denied).
 *
 * Protocol rules enforced here (docs/protocol.md): the first message is a
 * hello; a second hello, an unknown kind, a relay-only kind from an agent,
 * a dictionary gap/dangling id or an oversized message closes that one
 * connection with an error message and a logged reason. A batch whose seq
 * is <= the instance's stored seq is a duplicate: acked, not stored twice.
 *
 * Budgets (budget.h, docs/relay.md "Budgets"; each refusal is an error
 * message, a logged reason and a counter): a connection that is not
 * authenticated within budget.hello_timeout_ms is closed (CP_ETIMEOUT); an
 * authenticated one counts against its tenant's connection cap and bytes/s
 * bucket (service thread), and its batches against the tenant's windows/s
 * bucket (store worker), answered CP_ERATE with a retry-after: the agent
 * keeps its unacked batches and resends them after reconnecting. Bytes
 * queued for the store worker are capped globally: past
 * budget.max_store_queue every connection that delivers a message stops
 * being read (lws_rx_flow_control) until the worker has drained the queue
 * to half the cap, so the queue holds at most the cap plus one message per
 * connection, and nothing is dropped.
 *
 * Idle: every ~5 s the worker runs a bounded cp_store_maintain() pass
 * (downsampling + retention). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "error.h"
#include "relay.h"
#include "rutil.h"

#define PENDING_HIGH 8
#define PENDING_LOW  2
#define GROUP_MAX    512     /* bounds one transaction (and so ack latency) to ~0.25 s */
#define HELLO_MAX          (64u << 10)   /* first message of a connection, compressed */
#define HELLO_PAYLOAD_MAX  (256u << 10)  /* ... and inflated, while still unauthenticated */

/* ---------------- shared between threads ---------------- */

enum { JOB_MESSAGE = 1, JOB_CLOSE = 2 };

typedef struct ijob {
    int          kind;          /* JOB_MESSAGE, JOB_CLOSE */
    int64_t      t_recv_us;     /* when the service thread had the whole message */
    uint64_t     conn_id;
    char         tenant[CP_TENANT_MAX];   /* of the connection's principal */
    uint8_t     *data;
    size_t       len;
    cp_msg_t    *msg;           /* the connection's hello, decoded and checked by the
                                   service thread (hello_peek), or NULL: decode data */
    struct ijob *next;
} ijob_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    ijob_t         *head, *tail;
    size_t          n;
    uint64_t        bytes;          /* message bytes queued (budget.max_store_queue) */
    pthread_t       thread;
    bool            started;
    cp_store_t     *store;
    cp_budget_t    *budget;         /* store worker's: windows/s per tenant */
} W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Receive -> durable latency of batches (store worker only): buckets of
 * 10^(1/20) (~12%) over microseconds, reported at shutdown. */
#define LAT_BUCKETS 160
static uint64_t lat_hist[LAT_BUCKETS], lat_n;
static void lat_add(int64_t us)
{
    int b = us <= 1 ? 0 : (int)(20.0 * log10((double)us));
    lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
    lat_n++;
}
static double lat_pct(double q)
{
    uint64_t want = (uint64_t)(q * (double)lat_n), acc = 0;
    for (int b = 0; b < LAT_BUCKETS; b++) {
        acc += lat_hist[b];
        if (acc > want || acc == lat_n)
            return pow(10.0, (b + 1) / 20.0) / 1000.0;   /* bucket's upper bound, ms */
    }
    return 0;
}

static uint64_t store_failures;   /* consecutive failed transactions (store worker) */

static void job_push(ijob_t *j)
{
    j->t_recv_us = mono_us();
    pthread_mutex_lock(&W.mu);
    if (W.tail)
        W.tail->next = j;
    else
        W.head = j;
    W.tail = j;
    W.n++;
    W.bytes += j->len;
    __atomic_store_n(&cp__relay.stats.store_queue_bytes, W.bytes, __ATOMIC_RELAXED);
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static uint64_t queued_bytes(void)
{
    pthread_mutex_lock(&W.mu);
    uint64_t b = W.bytes;
    pthread_mutex_unlock(&W.mu);
    return b;
}

/* ---------------- store worker ---------------- */

typedef struct wconn {
    uint64_t         id;
    cp_store_conn_t *sc;
    bool             dead;       /* an error was answered; ignore the rest */
    char             peer_app[128];
} wconn_t;

static cp__hmap_t wconn_idx;     /* conn id -> slot + 1 */
static wconn_t  **wconns;
static size_t     n_wconns, cap_wconns;

static wconn_t *wconn_get(uint64_t id, bool create)
{
    uint32_t *slot = cp__hmap_slot(&wconn_idx, id, create);
    if (!slot)
        return NULL;
    if (*slot && wconns[*slot - 1])
        return wconns[*slot - 1];
    if (!create)
        return NULL;
    wconn_t *c = cp__xcalloc(1, sizeof *c);
    c->id = id;
    size_t i;
    for (i = 0; i < n_wconns && wconns[i]; i++)
        ;
    if (i == n_wconns) {
        if (n_wconns == cap_wconns) {
            cap_wconns = cap_wconns ? cap_wconns * 2 : 64;
            wconns = cp__xrealloc(wconns, cap_wconns * sizeof *wconns);
        }
        n_wconns++;
    }
    wconns[i] = c;
    *slot = (uint32_t)i + 1;
    return c;
}

static void wconn_drop(wconn_t *c, int64_t now)
{
    uint32_t *slot = cp__hmap_slot(&wconn_idx, c->id, 0);
    if (slot && *slot)
        wconns[*slot - 1] = NULL;
    cp__hmap_del(&wconn_idx, c->id);   /* ids are never reused */
    if (c->sc)
        cp_store_conn_close(W.store, c->sc, now);
    free(c);
}

/* Answers to post after the commit. */
static cp_done_t *out_head, *out_tail;

static cp_done_t *reply_new(uint64_t conn)
{
    cp_done_t *d = cp__xcalloc(1, sizeof *d);
    d->kind = CP_DONE_INGEST;
    d->conn_id = conn;
    if (out_tail)
        out_tail->next = d;
    else
        out_head = d;
    out_tail = d;
    return d;
}

static void reply_msg(cp_done_t *d, const cp_msg_t *m)
{
    cp_buf_t b = CP_BUF_INIT;
    static const uint8_t pre[LWS_PRE];
    cp_buf_append(&b, pre, LWS_PRE);
    if (cp_wire_encode(m, 0, &b) == 0) {
        d->len = b.len - LWS_PRE;
        d->data = cp_buf_steal(&b, NULL);
    } else {
        cp_buf_fini(&b);
    }
}

/* Error message to the agent (with a retry-after for CP_ERATE), then close;
 * logs the reason. */
/* Queues a fatal error carrying d->reason on d and marks the connection
 * dead: the one place that builds the relay's closing error message. */
static void reply_fatal(wconn_t *c, cp_done_t *d, int code, uint32_t retry_ms)
{
    cp_msg_t m = {0};
    m.kind = CP_MSG_ERROR;
    m.u.error.code = code;
    m.u.error.message = d->reason;
    m.u.error.fatal = true;
    m.u.error.retry_after_ms = retry_ms;
    reply_msg(d, &m);
    d->close = true;
    if (c)
        c->dead = true;
}

static void reply_error_v(wconn_t *c, cp_done_t *d, int code, uint32_t retry_ms, const char *fmt, va_list ap)
{
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    reply_fatal(c, d, code, retry_ms);
    CP_STAT_ADD(errors, 1);
    cp__log("ingest: closing connection %" PRIu64 "%s%s: %s", d->conn_id,
            c && c->peer_app[0] ? " app=" : "", c ? c->peer_app : "", d->reason);
}
static void reply_error(wconn_t *c, cp_done_t *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(wconn_t *c, cp_done_t *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, d, code, 0, fmt, ap);
    va_end(ap);
}
static void reply_rate(wconn_t *c, cp_done_t *d, uint32_t retry_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_rate(wconn_t *c, cp_done_t *d, uint32_t retry_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, d, CP_ERATE, retry_ms, fmt, ap);
    va_end(ap);
}

/* Windows a batch would store: one per profile type it has values for. */
static uint32_t batch_windows(const cp_batch_t *b)
{
    uint64_t seen[4] = {0};   /* types past 256 are counted once each value: an upper bound */
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->n_values; i++) {
        uint32_t t = b->values[i].type;
        if (t >= 256) {
            n++;
        } else if (!(seen[t >> 6] & (1ull << (t & 63)))) {
            seen[t >> 6] |= 1ull << (t & 63);
            n++;
        }
    }
    return n;
}

static void live_event(void *ud, const cp_store_event_t *e)
{
    cp_done_t *d = cp__xcalloc(1, sizeof *d);
    d->kind = CP_DONE_LIVE;
    d->app = cp__xstrdup(e->app);   /* qualified: live.c matches it against the subscriber's tenant */
    const char *sep = strchr(e->app, CP_TENANT_SEP), *shown = sep ? sep + 1 : e->app;
    d->type = cp__xstrdup(e->type);
    d->labels = cp__xstrdup(e->labels);
    cp_buf_t b = CP_BUF_INIT;
    cp_buf_printf(&b, "{\"kind\":\"window\",\"app\":");
    cp_buf_json_str(&b, shown, strlen(shown));
    cp_buf_printf(&b, ",\"instance\":");
    cp_buf_json_str(&b, e->instance, strlen(e->instance));
    cp_buf_printf(&b, ",\"type\":");
    cp_buf_json_str(&b, e->type, strlen(e->type));
    cp_buf_printf(&b, ",\"labels\":");
    cp_buf_json_str(&b, e->labels, strlen(e->labels));
    cp_buf_printf(&b, ",\"start\":%lld,\"end\":%lld,\"total\":%llu}", (long long)e->start_ms,
                  (long long)e->end_ms, (unsigned long long)e->total);
    d->data = cp_buf_steal(&b, &d->len);
    if (out_tail)
        out_tail->next = d;
    else
        out_head = d;
    out_tail = d;
    (void)ud;
}

/* Batch encodings this relay accepts (docs/protocol.md "Encodings"): every
 * one the wire library decodes; env CPROF_RELAY_ENC (comma-separated names,
 * or "none") narrows the list, so tests can play an older relay. */
static uint32_t relay_encodings(void)
{
    static int cached = -1;
    if (cached >= 0)
        return (uint32_t)cached;
    const char *env = getenv("CPROF_RELAY_ENC");
    uint32_t enc = CP_WIRE_ENC_ALL;
    if (env) {
        char buf[256];
        const char *names[16];
        uint32_t n = 0;
        snprintf(buf, sizeof buf, "%s", env);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
            names[n++] = t;
        enc = cp_wire_enc_parse(names, n);
    }
    cached = (int)enc;
    return enc;
}

/* Processes one message job inside the open transaction. Returns CP_EDB if
 * the transaction is broken (caller rolls back the whole group). */
static int process_msg(ijob_t *j, int64_t now)
{
    wconn_t *c = wconn_get(j->conn_id, true);
    cp_done_t *d = reply_new(j->conn_id);
    if (c->dead)
        return 0;
    cp_msg_t *m = j->msg;      /* the hello: decoded once, by hello_peek */
    j->msg = NULL;
    char err[160] = "";
    int rc = m ? 0 : cp_wire_decode(j->data, j->len, &cp__relay.cfg.limits, &m, err, sizeof err);
    if (rc) {
        reply_error(c, d, rc, "malformed message: %s (%s)", cp_strerror(rc), err);
        return 0;
    }
    cp__relay.stats.bytes_in += j->len;
    switch (m->kind) {
    case CP_MSG_HELLO: {
        const cp_hello_t *h = &m->u.hello;
        snprintf(c->peer_app, sizeof c->peer_app, "%s", h->app ? h->app : "");
        if (c->sc) {
            reply_error(c, d, CP_ESTATE, "second hello on one connection");
            break;
        }
        if (h->proto != CP_WIRE_VERSION) {
            reply_error(c, d, CP_EVERSION, "hello: protocol %u not supported (want %d)", h->proto,
                        CP_WIRE_VERSION);
            break;
        }
        if (!h->app || !*h->app || !h->instance || !*h->instance) {
            reply_error(c, d, CP_EMISSING, "hello: app and instance are required");
            break;
        }
        /* the token was checked on the service thread (hello_peek); the
         * app is stored under the name qualified with the tenant */
        char qapp[CP_TENANT_MAX + 1024];
        cp_hello_t qh = *h;
        if (cp_auth_qualify(j->tenant, h->app, qapp, sizeof qapp)) {
            reply_error(c, d, CP_EINVAL, "hello: bad app name");
            break;
        }
        qh.app = qapp;
        uint64_t last = 0;
        rc = cp_store_conn_open(W.store, &qh, now, &c->sc, &last);
        if (rc) {
            if (rc == CP_EDB) {
                cp_msg_free(m);
                return CP_EDB;
            }
            const cp_store_refusal_t *why = cp_store_refusal(W.store);
            if (rc == CP_ELIMIT && why->what) {
                if (why->what == CP_STORE_LIMIT_APPS)
                    CP_STAT_ADD(limit_apps, 1);
                else
                    CP_STAT_ADD(limit_label_sets, 1);
                reply_error(c, d, rc, "hello: %s; new %s '%s' refused", why->msg,
                            why->what == CP_STORE_LIMIT_APPS ? "app" : "label set of app", h->app);
            } else {
                reply_error(c, d, rc, "hello: %s", cp_strerror(rc));
            }
            cp_msg_free(m);
            return 0;
        }
        char session[32];
        snprintf(session, sizeof session, "%" PRIu64, j->conn_id);
        cp_msg_t w = {0};
        w.kind = CP_MSG_WELCOME;
        w.u.welcome.proto = CP_WIRE_VERSION;
        w.u.welcome.relay_version = CPROF_VERSION;
        w.u.welcome.session = session;
        w.u.welcome.last_seq = last;
        w.u.welcome.max_message = (uint32_t)cp__relay.cfg.limits.max_message;
        /* batch encodings: those of the hello's this relay accepts (all it
         * knows, unless CPROF_RELAY_ENC narrows them, for interop tests) */
        const char *enc_names[8];
        uint32_t enc = cp_wire_enc_parse(h->enc, h->n_enc) & relay_encodings();
        w.u.welcome.enc = enc_names;
        w.u.welcome.n_enc = cp_wire_enc_names(enc, enc_names);
        reply_msg(d, &w);
        cp__relay.stats.agents_now++;
        if (cp__relay.cfg.verbose)
            cp__log("ingest: hello app=%s instance=%s host=%s pid=%u last_seq=%" PRIu64 " enc=0x%x", h->app,
                    h->instance, h->host, h->pid, last, enc);
        break;
    }
    case CP_MSG_BATCH: {
        const cp_batch_t *b = &m->u.batch;
        if (!c->sc) {
            reply_error(c, d, CP_ESTATE, "batch before hello");
            break;
        }
        uint32_t retry, nwin = batch_windows(b);
        cp_budget_tenant_t *bt = cp_budget_tenant(W.budget, j->tenant, now);
        if (nwin && !cp_bucket_take(&bt->windows, nwin, now, &retry)) {
            CP_STAT_ADD(rate_limited_windows, 1);
            reply_rate(c, d, retry, "batch seq %" PRIu64 ": tenant '%s' is over its %" PRIu64 " windows/s "
                       "(--tenant-windows-per-s); rate limited, retry in %u ms", b->seq, j->tenant,
                       cp__relay.cfg.budget.tenant_windows_s, retry);
            break;
        }
        /* The dictionary delta is validated (gaps, dangling ids, limits) and
         * mapped in one pass by the store, which keeps only a 4-byte
         * connection-id -> app-id map per entry: no per-connection copy of
         * the agent's dictionary (cp_wire_dict) is needed. */
        rc = cp_store_conn_batch(W.store, c->sc, b, now, live_event, NULL);
        if (rc == CP_EDB || rc == CP_ENOMEM) {
            cp_msg_free(m);
            return CP_EDB;
        }
        if (rc < 0) {
            const cp_store_refusal_t *why = cp_store_refusal(W.store);
            if (rc == CP_ELIMIT && why->what == CP_STORE_LIMIT_TYPES) {
                CP_STAT_ADD(limit_types, 1);
                reply_error(c, d, rc, "batch seq %" PRIu64 ": %s; a new profile type refused", b->seq, why->msg);
            } else {
                reply_error(c, d, rc, "batch seq %" PRIu64 ": %s", b->seq, cp_strerror(rc));
            }
            break;
        }
        if (rc == 1)
            cp__relay.stats.dup_batches++;
        else
            cp__relay.stats.batches++;
        cp_msg_t a = {0};
        a.kind = CP_MSG_ACK;
        a.u.ack.seq = cp_store_conn_last_seq(c->sc);
        reply_msg(d, &a);
        break;
    }
    case CP_MSG_HEARTBEAT: {
        cp_msg_t h = {0};
        h.kind = CP_MSG_HEARTBEAT;
        h.u.heartbeat.t_ms = (uint64_t)now;
        reply_msg(d, &h);
        break;
    }
    case CP_MSG_ERROR:
        snprintf(d->reason, sizeof d->reason, "agent sent error %d: %s", m->u.error.code,
                 m->u.error.message ? m->u.error.message : "");
        cp__log("ingest: connection %" PRIu64 ": %s", j->conn_id, d->reason);
        if (m->u.error.fatal) {
            d->close = true;
            c->dead = true;
        }
        break;
    default:
        reply_error(c, d, CP_EKIND, "unexpected message kind %s from an agent", cp_wire_kind_name(m->kind));
        break;
    }
    cp_msg_free(m);
    return 0;
}

/* Forgets a closed connection (its instance is marked disconnected at the
 * next successful commit, even if this transaction fails). */
static void job_close(ijob_t *j, int64_t now)
{
    wconn_t *c = wconn_get(j->conn_id, false);
    if (c) {
        if (c->sc && cp__relay.stats.agents_now)
            cp__relay.stats.agents_now--;
        wconn_drop(c, now);
    }
}

/* Error to the agent, then close, asking it to come back after retry_ms
 * and resend what was not acked (CP_ERATE: the agent keeps its unacked
 * batches, waits retry_ms plus jitter, reconnects). Not logged per
 * connection: the caller logs once per failed group. */
static void reply_retry(wconn_t *c, cp_done_t *d, uint32_t retry_ms, const char *reason)
{
    free(d->data);
    d->data = NULL;
    d->len = 0;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    reply_fatal(c, d, CP_ERATE, retry_ms);
}

/* The group's transaction failed (disk full, read-only data dir, I/O
 * error) and was rolled back: nothing of it is durable, so nothing is
 * acked. Every job still gets its answer - the connections that had a
 * message in the group are told to retry later and resend (the store broke
 * their dictionary maps), the jobs after the failing one (`rest`, NULL if
 * all ran) are answered the same way, close jobs are still applied - so no
 * hello waits forever for its welcome, no paused agent stays paused and no
 * instance stays "connected". Other connections are not touched. The
 * retry delay grows with consecutive failures (1 s .. 5 s, the agent adds
 * 0-50% jitter), so a fleet comes back spread out, not as a storm. */
static void group_failed(ijob_t *jobs, ijob_t *rest, int rc, int64_t now)
{
    store_failures++;
    cp__relay.stats.store_failures++;
    uint32_t retry_ms = store_failures >= 5 ? 5000 : 1000u * store_failures;
    size_t conns = 0, refused = 0;
    for (cp_done_t *d = out_head; d; d = d->next) {
        if (d->kind != CP_DONE_INGEST)
            continue;
        if (d->close)
            continue;   /* a protocol error answered in the group stays */
        wconn_t *c = wconn_get(d->conn_id, false);
        if (!c || c->dead) {   /* an earlier answer closed it: no ack, nothing */
            free(d->data);
            d->data = NULL;
            continue;
        }
        conns++;
        refused++;
        reply_retry(c, d, retry_ms, "relay storage failed; retry later and resend");
    }
    for (ijob_t *j = rest; j; j = j->next) {
        if (j->kind != JOB_MESSAGE) {
            job_close(j, now);
            continue;
        }
        wconn_t *c = wconn_get(j->conn_id, true);   /* a hello in the tail has none yet */
        cp_done_t *d = reply_new(j->conn_id);
        if (c->dead)
            continue;   /* already answered with a close */
        conns++;
        refused++;
        reply_retry(c, d, retry_ms, "relay storage failed; retry later and resend");
    }
    cp__relay.stats.store_refused += refused;
    /* live events of the failed group were never stored */
    cp_done_t **pp = &out_head;
    out_tail = NULL;
    while (*pp) {
        if ((*pp)->kind == CP_DONE_LIVE) {
            cp_done_t *x = *pp;
            *pp = x->next;
            free(x->data); free(x->app); free(x->type); free(x->labels); free(x);
        } else {
            out_tail = *pp;
            pp = &(*pp)->next;
        }
    }
    cp__log("store: transaction failed (%s), %llu in a row: %zu messages not stored, %zu connections"
            " told to resend in %u ms; other connections unaffected", cp_strerror(rc),
            (unsigned long long)store_failures, refused, conns, retry_ms);
    (void)jobs;
}

static void *store_main(void *arg)
{
    int64_t next_maint = cp__now_ms() + 2000;
    for (;;) {
        pthread_mutex_lock(&W.mu);
        while (!W.head && !cp__relay.stop) {
            int64_t now = cp__now_ms();
            if (now >= next_maint)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next_maint - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&W.cv, &W.mu, &ts);
        }
        ijob_t *jobs = W.head, *last = NULL;
        size_t n = 0;
        for (ijob_t *j = W.head; j && n < GROUP_MAX; j = j->next) {
            last = j;
            n++;
        }
        if (last) {
            W.head = last->next;
            if (!W.head)
                W.tail = NULL;
            last->next = NULL;
            W.n -= n;
            for (ijob_t *j = jobs; j; j = j->next)
                W.bytes -= j->len;
            __atomic_store_n(&cp__relay.stats.store_queue_bytes, W.bytes, __ATOMIC_RELAXED);
        }
        int stop = cp__relay.stop;
        pthread_mutex_unlock(&W.mu);

        int64_t now = cp__now_ms();
        if (!jobs) {
            if (stop)
                break;
            int more = cp_store_maintain(W.store, now);
            if (more < 0)
                cp__log("store: maintenance failed: %s", cp_strerror(more));
            next_maint = now + (more > 0 ? 50 : 5000);
            if (!more)
                malloc_trim(0);   /* idle: give memory freed after a burst (or an attack) back */
            continue;
        }
        int rc = cp_store_begin(W.store);
        ijob_t *j = jobs;
        for (; j && rc == 0; j = j->next) {
            if (j->kind == JOB_MESSAGE)
                rc = process_msg(j, now);
            else
                job_close(j, now);
        }
        if (rc == 0)
            rc = cp_store_commit(W.store);
        else
            cp_store_rollback(W.store);
        if (rc == 0) {
            cp__relay.stats.commits++;
            store_failures = 0;
            int64_t t_done = mono_us();
            for (ijob_t *k = jobs; k; k = k->next)
                if (k->kind == JOB_MESSAGE)
                    lat_add(t_done - k->t_recv_us);
        } else {
            group_failed(jobs, rc == CP_EDB ? j : NULL, rc, now);
        }
        while (jobs) {
            ijob_t *nx = jobs->next;
            free(jobs->data);
            cp_msg_free(jobs->msg);   /* a hello the failed group did not reach */
            free(jobs);
            jobs = nx;
        }
        if (out_head)
            cp__done_post_list(out_head);
        out_head = out_tail = NULL;
        if (now >= next_maint) {
            int more = cp_store_maintain(W.store, cp__now_ms());
            next_maint = cp__now_ms() + (more > 0 ? 50 : 5000);
        }
    }
    /* shutdown: forget the remaining connections (marks them disconnected) */
    cp_store_begin(W.store);
    for (size_t i = 0; i < n_wconns; i++)
        if (wconns[i])
            wconn_drop(wconns[i], cp__now_ms());
    cp_store_commit(W.store);
    if (lat_n)
        cp__log("ingest: %llu messages, receive -> durable commit: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms",
                (unsigned long long)lat_n, lat_pct(0.5), lat_pct(0.99), lat_pct(0.999));
    free(wconns);
    cp__hmap_free(&wconn_idx);
    cp_budget_destroy(W.budget);
    W.budget = NULL;
    return arg;
}

int cp__ingest_start(void)
{
    int rc = cp_store_open(cp__relay.cfg.data_dir, &cp__relay.cfg.store, &W.store);
    if (rc)
        return rc;
    W.budget = cp_budget_create(&cp__relay.cfg.budget);
    if (pthread_create(&W.thread, NULL, store_main, NULL)) {
        cp_store_close(W.store);
        return CP_ENOMEM;
    }
    W.started = true;
    return 0;
}

void cp__ingest_stop(void)
{
    if (!W.started)
        return;
    pthread_mutex_lock(&W.mu);
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    cp_store_close(W.store);
    W.started = false;
}

/* ---------------- service thread ---------------- */

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
    txm_t     *txh, *txt;
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

void cp__ingest_done(cp_done_t *d)
{
    if (n_gpaused && queued_bytes() <= cp__relay.cfg.budget.max_store_queue / 2)
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
    if (d->data || d->close) {
        txm_t *t = cp__xcalloc(1, sizeof *t);
        t->data = d->data;
        t->len = d->len;
        t->close = d->close;
        if (p->txt)
            p->txt->next = t;
        else
            p->txh = t;
        p->txt = t;
        lws_callback_on_writable(p->wsi);
    }
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

int cp__ingest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    ingest_pss_t *p = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        char uri[64] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        p->id = next_conn_id++;
        reg_add(p);
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
        /* the hello deadline: LWS_CALLBACK_TIMER closes it if still unauthenticated */
        lws_set_timer_usecs(wsi, (lws_usec_t)cp__relay.cfg.budget.hello_timeout_ms * LWS_US_PER_MS);
        if (cp__relay.cfg.verbose)
            cp__log("ingest: connection %" PRIu64 " opened", p->id);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
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
        j->kind = JOB_MESSAGE;
        j->msg = hello;
        j->conn_id = p->id;
        memcpy(j->tenant, p->who.tenant, sizeof j->tenant);
        j->data = cp_buf_steal(&p->rx, &j->len);
        p->pending++;
        job_push(j);
        bool was_held = p->paused || p->gpaused;
        if (p->pending >= PENDING_HIGH && !p->paused)
            p->paused = true;
        if (!p->gpaused && queued_bytes() > cp__relay.cfg.budget.max_store_queue) {
            p->gpaused = true;   /* read no more from it until the worker catches up */
            n_gpaused++;
            CP_STAT_ADD(store_queue_pauses, 1);
        }
        flow_update(p, was_held);
        return 0;
    }
    case LWS_CALLBACK_TIMER:
        if (p->id && !p->closing && p->who.role == CP_ROLE_NONE) {
            char why[160];
            snprintf(why, sizeof why, "no valid hello within %d ms (--hello-timeout)",
                     cp__relay.cfg.budget.hello_timeout_ms);
            CP_STAT_ADD(hello_timeouts, 1);
            close_with(p, CP_ETIMEOUT, why);
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
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
        while (p->txh) {
            txm_t *t = p->txh;
            p->txh = t->next;
            free(t->data);
            free(t);
        }
        ijob_t *j = cp__xcalloc(1, sizeof *j);
        j->kind = JOB_CLOSE;
        j->conn_id = p->id;
        job_push(j);
        if (cp__relay.cfg.verbose)
            cp__log("ingest: connection %" PRIu64 " closed", p->id);
        p->id = 0;
        return 0;
    }
    default:
        return 0;
    }
}
