/* ingest_store.c - the store worker behind /ingest: the job queue the
 * service thread (ingest.c) fills, and the one thread that owns the
 * cp_store_t writer. See ingest_store.h.
 *
 * Store worker (one thread): takes every queued job at once (at most
 * GROUP_MAX), processes them in ONE transaction (decode, dictionary apply,
 * store), commits, and only then posts the answers: an ack is never sent
 * for a batch that is not durable (group commit: one fsync for many
 * batches). If the transaction fails (disk full, read-only data dir)
 * nothing of the group is acked: every message of it is answered with
 * CP_ERATE (retry after a delay that grows with consecutive failures, then
 * resend), close jobs are still applied, and connections outside the group
 * are untouched (group_failed). Every message must be answered in order per
 * connection; the single worker keeps the order.
 *
 * The hello arrives already decoded and authenticated (ingest.c
 * hello_peek); the worker stores the app under the tenant-qualified name
 * and checks the tenant's app / label-set / type limits and windows/s
 * bucket (CP_ELIMIT, CP_ERATE). A batch whose seq is <= the instance's
 * stored seq is a duplicate: acked, not stored twice.
 *
 * Idle: every ~5 s the worker runs a bounded cp_store_maintain() pass
 * (downsampling + retention), and trims malloc's arenas when there is
 * nothing left to do. Every CP_STORE_HEARTBEAT_MS, busy or idle, it calls
 * cp_store_heartbeat (registry liveness across relays sharing a store).
 *
 * Threads: cp__ingest_job_push / cp__ingest_queued_bytes from the service
 * thread (W.mu); everything else on the store worker. */
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
#include "control.h"
#include "error.h"
#include "ingest_store.h"
#include "otlp_export.h"
#include "relay.h"
#include "rutil.h"

#define GROUP_MAX    512     /* bounds one transaction (and so ack latency) to ~0.25 s */

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

void cp__ingest_job_push(ijob_t *j)
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

uint64_t cp__ingest_queued_bytes(void)
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
    char            *qapp, *instance;   /* for its control_acks */
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
    free(c->qapp);
    free(c->instance);
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
    cp_otlp_export_window(e);   /* queued for the exporter if the group commits */
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
        c->qapp = cp__xstrdup(qapp);
        c->instance = cp__xstrdup(h->instance);
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
        /* fleet control (control.h): the app's defaults, and kind 8 read here */
        cp_kv_t defaults[CP_CTL_KEYS_MAX];
        static const char *const features[] = {CP_WIRE_FEATURE_CONTROL_ACK};
        w.u.welcome.defaults = defaults;
        w.u.welcome.n_defaults = j->defaults ? cp_ctl_kvs_view(j->defaults, defaults) : 0;
        w.u.welcome.features = features;
        w.u.welcome.n_features = 1;
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
    case CP_MSG_CONTROL_ACK: {
        if (!c->sc) {
            reply_error(c, d, CP_ESTATE, "control_ack before hello");
            break;
        }
        rc = cp__ingest_ctl_ack(W.store, c->qapp, c->instance, &m->u.control_ack, now);
        if (rc) {
            cp_msg_free(m);
            return CP_EDB;
        }
        if (cp__relay.cfg.verbose)
            cp__log("control %s: %s by instance %s (%u applied, %u refused)", m->u.control_ack.id,
                    m->u.control_ack.event, c->instance, m->u.control_ack.n_applied, m->u.control_ack.n_refused);
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
        if (j->kind == CP__JOB_CONTROL) {
            cp__log("control %s: audit row not stored (the transaction failed)", j->ctl->id);
            continue;
        }
        if (j->kind != CP__JOB_MESSAGE) {
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

/* Registry liveness across relays (store.h): every CP_STORE_HEARTBEAT_MS,
 * between groups. A failing heartbeat is logged when the streak starts and
 * when it ends, not every 2 s. */
static void heartbeat(int64_t now, int64_t *next_hb)
{
    static uint64_t failing;
    if (now < *next_hb)
        return;
    *next_hb = now + CP_STORE_HEARTBEAT_MS;
    int rc = cp_store_heartbeat(W.store, now);
    if (rc && !failing++)
        cp__log("store: heartbeat failed (%s); other relays will mark this relay's agents gone "
                "after %d s unless it recovers", cp_strerror(rc), CP_STORE_RELAY_STALE_MS / 1000);
    else if (!rc && failing) {
        cp__log("store: heartbeat recovered after %llu failures", (unsigned long long)failing);
        failing = 0;
    }
}

static void *store_main(void *arg)
{
    int64_t next_maint = cp__now_ms() + 2000, next_hb = 0;
    for (;;) {
        heartbeat(cp__now_ms(), &next_hb);
        pthread_mutex_lock(&W.mu);
        while (!W.head && !cp__relay.stop) {
            int64_t now = cp__now_ms();
            if (now >= next_maint || now >= next_hb)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = (next_maint < next_hb ? next_maint : next_hb) - now;
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
            if (now < next_maint)
                continue;   /* woken for the heartbeat */
            int more = cp_store_maintain(W.store, now);
            if (more < 0)
                cp__log("store: maintenance failed: %s", cp_strerror(more));
            next_maint = now + (more > 0 ? 50 : 5000);
            if (!more) {
                /* idle: after churn (a flood of one-shot connections, a
                 * fleet restart) the page cache holds the departed apps'
                 * pages; then give memory freed after a burst back */
                cp_store_shrink(W.store, 64);
                malloc_trim(0);
            }
            continue;
        }
        int rc = cp_store_begin(W.store);
        ijob_t *j = jobs;
        for (; j && rc == 0; j = j->next) {
            if (j->kind == CP__JOB_MESSAGE)
                rc = process_msg(j, now);
            else if (j->kind == CP__JOB_CONTROL)
                rc = cp__ingest_ctl_audit(W.store, j->ctl);
            else
                job_close(j, now);
        }
        if (rc == 0)
            rc = cp_store_commit(W.store);
        else
            cp_store_rollback(W.store);
        cp_otlp_export_commit(rc == 0);
        if (rc == 0) {
            cp__relay.stats.commits++;
            store_failures = 0;
            int64_t t_done = mono_us();
            for (ijob_t *k = jobs; k; k = k->next)
                if (k->kind == CP__JOB_MESSAGE)
                    lat_add(t_done - k->t_recv_us);
        } else {
            group_failed(jobs, rc == CP_EDB ? j : NULL, rc, now);
        }
        while (jobs) {
            ijob_t *nx = jobs->next;
            free(jobs->data);
            cp_msg_free(jobs->msg);   /* a hello the failed group did not reach */
            free(jobs->defaults);
            cp__ingest_ctl_free(jobs->ctl);
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
    int rc = cp_store_open(cp__relay_store_where(&cp__relay.cfg), &cp__relay.cfg.store, &W.store);
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
