/* store_pg_ingest.c - the PostgreSQL writer's ingest path: registering an
 * agent's connection (app, label set, instance rows; the instance is marked
 * held by this relay) and storing its batches (dictionary delta through
 * store_delta.c, the dedupe claim on the instance row, one window row per
 * type, late-data handling by store_tier.h's rule, counters, series).
 *
 * Thread: store worker only, inside cp_store_begin/commit. */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "store_ctx.h"
#include "store_labels.h"
#include "store_trace.h"
#include "store_tier.h"

static void inst_conns_add(cp__pg_t *s, int64_t id, int d)
{
    uint32_t *n = cp__hmap_slot(&s->inst_conns, (uint64_t)id, d > 0);
    if (!n)
        return;
    if (d > 0)
        (*n)++;
    else if (*n && !--*n)
        cp__hmap_del(&s->inst_conns, (uint64_t)id);
}

static void app_drop_cache_if_unused(cp__pg_app_t *a)
{
    if (!a->conns)
        cp__pg_app_cache_clear(a);
}

/* ---- the open transaction's batches ---- */

typedef struct cp__pg_pend {
    int8_t            claimed;   /* 1 stored, 0 another relay had, -1 not judged yet */
    size_t            ev0, ev1;  /* its events: evs[ev0, ev1) */
    cp_store_event_fn ev;
    void             *ud;
} cp__pg_pend_t;

typedef struct cp__pg_ev {
    size_t   app, instance, type, labels;   /* offsets in ev_text */
    int64_t  start_ms, end_ms;
    uint64_t total;
} cp__pg_ev_t;

/* A claim's result (claims are answered in the order they were queued). */
static void on_claim(void *ud, const PGresult *r)
{
    cp__pg_t *s = ud;
    if (s->n_judged < s->n_pend)
        s->pend[s->n_judged++].claimed = r && PQntuples(r) > 0 ? 1 : 0;
}

static size_t ev_str(cp__pg_t *s, const char *v)
{
    size_t at = s->ev_text.len;
    cp_buf_append(&s->ev_text, v ? v : "", strlen(v ? v : "") + 1);
    return at;
}

/* Keeps a window's event until its batch's claim is judged. */
static void ev_keep(cp__pg_t *s, const cp_store_event_t *e)
{
    if (s->n_evs == s->cap_evs) {
        s->cap_evs = s->cap_evs ? s->cap_evs * 2 : 64;
        s->evs = cp__xrealloc(s->evs, s->cap_evs * sizeof *s->evs);
    }
    cp__pg_ev_t *k = &s->evs[s->n_evs++];
    k->app = ev_str(s, e->app);
    k->instance = ev_str(s, e->instance);
    k->type = ev_str(s, e->type);
    k->labels = ev_str(s, e->labels);
    k->start_ms = e->start_ms;
    k->end_ms = e->end_ms;
    k->total = e->total;
}

void cp__pg_pend_reset(cp__pg_t *s, bool rolled_back)
{
    s->n_pend = s->n_judged = s->n_evs = 0;
    cp_buf_reset(&s->ev_text);
    if (rolled_back) {   /* its claims never happened */
        cp__hmap_free(&s->inst_seq_at);
        s->n_inst_seq = 0;
    }
}

void cp__pg_pend_report(cp__pg_t *s)
{
    const char *t = (const char *)s->ev_text.data;
    for (size_t i = 0; i < s->n_pend; i++) {
        const cp__pg_pend_t *p = &s->pend[i];
        for (size_t k = p->ev0; p->claimed == 1 && p->ev && k < p->ev1; k++) {
            const cp__pg_ev_t *v = &s->evs[k];
            cp_store_event_t e = {t + v->app, t + v->instance, t + v->type, t + v->labels, v->start_ms,
                                  v->end_ms, v->total};
            p->ev(p->ud, &e);
        }
    }
    cp__pg_pend_reset(s, false);
}

void cp__pg_pend_fini(cp__pg_t *s)
{
    free(s->pend);
    free(s->evs);
    free(s->inst_seq);
    cp_buf_fini(&s->ev_text);
    cp__hmap_free(&s->inst_seq_at);
}

/* The highest seq of instance id this relay claimed (0: none known). */
static uint64_t *inst_seq(cp__pg_t *s, int64_t id, bool create)
{
    uint32_t *at = cp__hmap_slot(&s->inst_seq_at, (uint64_t)id, create);
    if (!at)
        return NULL;
    if (!*at) {
        if (s->n_inst_seq == s->cap_inst_seq) {
            s->cap_inst_seq = s->cap_inst_seq ? s->cap_inst_seq * 2 : 64;
            s->inst_seq = cp__xrealloc(s->inst_seq, s->cap_inst_seq * sizeof *s->inst_seq);
        }
        s->inst_seq[s->n_inst_seq++] = 0;
        *at = (uint32_t)s->n_inst_seq;
    }
    return &s->inst_seq[*at - 1];
}

/* A fresh claim token: never 0 (the column's default), never one another
 * relay or batch holds (64 random bits per relay start, then a counter). */
static int64_t next_token(cp__pg_t *s)
{
    if (!s->claim_tok) {
        uint64_t x = (uint64_t)cp__pg_mono_ns() ^ (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)s;
        x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ULL;   /* splitmix64's finaliser */
        x = (x ^ x >> 27) * 0x94d049bb133111ebULL;
        s->claim_tok = x ^ x >> 31;
        s->claim_tok ^= cp__hash_bytes(s->relay_id, strlen(s->relay_id));
    }
    int64_t t = (int64_t)(++s->claim_tok & INT64_MAX);
    return t ? t : (int64_t)(++s->claim_tok & INT64_MAX);
}

/* The id of label set `canon` of app a, created if new (within the
 * tenant's label-set limit: CP_ELIMIT with s->refusal). On aux
 * (autocommit), as apps: registry keys inserted by group transactions of
 * several relays would deadlock. */
static int lset_intern(cp__pg_t *s, cp__pg_app_t *a, const char *canon, int64_t *out)
{
    cp__pgq_t q = {0};
    bool err = false;
    int rc;
    cp__pgq_i64(&q, a->id);
    cp__pgq_text(&q, canon);
    if (s->cfg.max_lsets &&
        cp__pg_i64(s->aux, "SELECT id FROM lsets WHERE app_id=$1 AND canon=$2", &q, -1, &err) < 0 &&
        (rc = err ? CP_EDB : cp__pg_tenant_room(s, a->name, CP_STORE_LIMIT_LSETS)))
        return rc;
    *out = cp__pg_i64(s->aux, "INSERT INTO lsets(app_id,canon) VALUES($1,$2) ON CONFLICT(app_id,canon)"
                              " DO UPDATE SET canon=excluded.canon RETURNING id", &q, -1, &err);
    return err || *out < 0 ? CP_EDB : 0;
}

int cp__pg_conn_open(cp_store_t *s_, const cp_hello_t *h, int64_t now_ms, cp_store_conn_t **out, uint64_t *last_seq)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    cp__pg_app_t *a;
    s->refusal.what = 0;
    int rc = cp__pg_get_app(s, h->app, &a);
    if (rc)
        return rc;
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    cp_store_labels_canon(h->labels, h->n_labels, &canon, &json);
    cp__pgq_t q = {0};
    PGresult *r = NULL;
    int64_t lset = -1;
    if ((rc = lset_intern(s, a, (const char *)canon.data, &lset)))
        goto out;
    rc = CP_EDB;
    char jvm[512];
    snprintf(jvm, sizeof jvm, "%s%s%s", h->jvm_vendor, *h->jvm_vendor && *h->jvm_version ? " " : "",
             h->jvm_version);
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, a->id);
    cp__pgq_text(&q, h->instance);
    cp__pgq_i64(&q, lset);
    cp__pgq_text(&q, h->host);
    cp__pgq_i64(&q, h->pid);
    cp__pgq_i64(&q, (int64_t)h->start_ms);
    cp__pgq_text(&q, jvm);
    cp__pgq_text(&q, h->agent_version);
    cp__pgq_text(&q, (const char *)json.data);
    cp__pgq_i64(&q, now_ms);
    cp__pgq_text(&q, s->relay_id);
    r = cp__pg_run(s->db,
        "INSERT INTO instances(app_id,iid,lset_id,host,pid,start_ms,jvm,agent_version,labels,"
        "first_seen,last_seen,connected,relay) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10,1,$11)"
        " ON CONFLICT(app_id,iid) DO UPDATE SET lset_id=excluded.lset_id, host=excluded.host,"
        " pid=excluded.pid, start_ms=excluded.start_ms, jvm=excluded.jvm,"
        " agent_version=excluded.agent_version, labels=excluded.labels,"
        " last_seen=excluded.last_seen, connected=1, relay=excluded.relay RETURNING id, last_seq", &q, false);
    if (!r || !PQntuples(r))
        goto out;
    cp__pg_conn_t *c = cp__xcalloc(1, sizeof *c);
    c->base.eng = &cp__store_pg_engine;
    c->app = a;
    c->inst_id = cp__pg_get_i64(r, 0, 0);
    c->last_seq = (uint64_t)cp__pg_get_i64(r, 0, 1);
    c->lset_id = lset;
    c->iid = cp__xstrdup(h->instance);
    c->canon = cp__xstrdup((const char *)canon.data);
    cp_store_ctx_init(&c->ctx, h->labels, h->n_labels);
    a->conns++;
    inst_conns_add(s, c->inst_id, 1);
    cp__pg_touch_conn(s, c);
    *out = &c->base;
    *last_seq = c->last_seq;
    rc = 0;
out:
    PQclear(r);
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    if (rc)
        app_drop_cache_if_unused(a);
    return rc;
}

uint64_t cp__pg_conn_last_seq(const cp_store_conn_t *c) { return ((const cp__pg_conn_t *)c)->last_seq; }

void cp__pg_conn_close(cp_store_t *s_, cp_store_conn_t *c_, int64_t now_ms)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    cp__pg_conn_t *c = (cp__pg_conn_t *)c_;
    for (size_t k = 0; k < s->n_tx_conns; k++)   /* leave the open transaction's list */
        if (s->tx_conns[k] == c_)
            s->tx_conns[k] = s->tx_conns[--s->n_tx_conns];
    inst_conns_add(s, c->inst_id, -1);
    cp__pg_disconnect_later(s, c->inst_id, now_ms);   /* skipped if it reconnected */
    if (c->app->conns)
        c->app->conns--;
    app_drop_cache_if_unused(c->app);
    cp_store_idmap_fini(&c->map);
    cp_store_ctx_fini(&c->ctx);
    free(c->iid);
    free(c->canon);
    free(c);
}

/* Adds pairs w to the aggregate row (app, step, type, bucket, lset). */
int cp__pg_agg_add(cp__pg_t *s, int64_t app, int64_t step, int64_t tid, int64_t bucket, int64_t lset,
                   const cp_store_blob_pairs_t *w)
{
    const char *table = step == CP_STORE_MIN_MS ? "agg_m" : "agg_h";
    char sql[300];
    cp__pgq_t q = {0};
    cp_store_blob_pairs_t p = {0};
    int rc = CP_EDB;
    cp__pgq_i64(&q, app);
    cp__pgq_i64(&q, tid);
    cp__pgq_i64(&q, bucket);
    cp__pgq_i64(&q, lset);
    snprintf(sql, sizeof sql, "SELECT data FROM %s WHERE app_id=$1 AND type_id=$2 AND start_ms=$3 AND lset_id=$4"
                              " FOR UPDATE", table);
    PGresult *r = cp__pg_run(s->db, sql, &q, true);
    if (!r)
        goto out;
    if (PQntuples(r) && !cp_store_blob_each((const uint8_t *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                                            cp_store_blob_add_to_pairs, &p)) {
        PQclear(r);
        goto out;
    }
    PQclear(r);
    for (size_t i = 0; i < w->n; i++)
        cp_store_blob_pairs_add(&p, w->v[2 * i], w->v[2 * i + 1]);
    uint64_t total = cp_store_blob_encode(&p, &s->tmp2);
    cp__pgq_i64(&q, (int64_t)total);
    cp__pgq_bytes(&q, s->tmp2.data, s->tmp2.len);
    snprintf(sql, sizeof sql, "INSERT INTO %s(app_id,type_id,start_ms,lset_id,total,data) VALUES($1,$2,$3,$4,$5,$6)"
                              " ON CONFLICT(app_id,type_id,start_ms,lset_id) DO UPDATE SET total=excluded.total,"
                              " data=excluded.data", table);
    rc = cp__pg_cmd(s->db, sql, &q);
out:
    cp_store_blob_pairs_fini(&p);
    return rc;
}

static void on_mdone(void *ud, const PGresult *r)
{
    *(int64_t *)ud = !r ? -1 : PQntuples(r) ? cp__pg_get_i64(r, 0, 0) : 0;
}

/* Minutes below this are (being) aggregated: the app's seal, read once per
 * transaction under the shared seal lock (store_pg_int.h). */
static int app_mdone(cp__pg_t *s, cp__pg_app_t *a, int64_t *mdone)
{
    if (a->mdone_gen == s->tx_gen) {
        *mdone = a->mdone;
        return 0;
    }
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, CP__PG_LOCK_SEAL);
    cp__pgq_i64(&q, a->id);
    /* two statements (the read needs a snapshot taken after the lock), one
     * round trip, which also carries what the transaction queued so far */
    int64_t got = -1;
    if (cp__pg_send(s->db, CP__PG_Q_SEAL, &q))
        return CP_EDB;
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, a->id);
    if (cp__pg_send_fn(s->db, CP__PG_Q_MDONE, &q, on_mdone, &got) || cp__pg_sync(s->db) || got < 0)
        return CP_EDB;
    a->mdone = got;
    a->mdone_gen = s->tx_gen;
    *mdone = a->mdone;
    return 0;
}

/* Tenant type limit for the batch's types, before anything is written. */
static int check_types(cp__pg_t *s, cp__pg_app_t *a, const cp_batch_t *b)
{
    for (uint32_t t = 0; s->cfg.max_types && t < b->n_types; t++) {
        uint64_t th = cp__hash_bytes(b->types[t].name, strlen(b->types[t].name));
        if (!s->per_type[t].n || cp__hmap_slot(&a->linked_types, th, 0))
            continue;
        cp__pgq_t q = {0};
        cp__pgq_i64(&q, a->id);
        cp__pgq_text(&q, b->types[t].name);
        bool err = false;
        int rc;
        if (cp__pg_i64(s->db, "SELECT 1 FROM app_types x JOIN types y ON y.id=x.type_id"
                              " WHERE x.app_id=$1 AND y.name=$2", &q, -1, &err) < 0 &&
            (rc = err ? CP_EDB : cp__pg_tenant_room(s, a->name, CP_STORE_LIMIT_TYPES)))
            return rc;
        *cp__hmap_slot(&a->linked_types, th, 1) = 1;
    }
    return 0;
}

/* Appends a PostgreSQL array literal element: a quoted string. */
static void arr_str(cp_buf_t *b, bool first, const char *v)
{
    cp_buf_append(b, first ? "{\"" : ",\"", 2);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            cp_buf_append(b, "\\", 1);
        cp_buf_append(b, v, 1);
    }
    cp_buf_append(b, "\"", 1);
}

static void arr_end(cp_buf_t *b, bool empty)
{
    cp_buf_append(b, empty ? "{}" : "}", empty ? 3 : 2);   /* with the NUL */
}

/* Counters and series points of a batch: one statement each. */
static int put_counters_series(cp__pg_t *s, cp__pg_conn_t *c, const cp_batch_t *b)
{
    cp_buf_t n = CP_BUF_INIT, v = CP_BUF_INIT, t = CP_BUF_INIT;
    int rc = 0;
    cp__pgq_t q = {0};
    if (b->n_counters) {
        for (uint32_t i = 0; i < b->n_counters; i++) {
            arr_str(&n, i == 0, b->counters[i].name);
            cp_buf_printf(&v, "%s%lld", i ? "," : "{", (long long)(int64_t)b->counters[i].value);
        }
        arr_end(&n, false);
        arr_end(&v, false);
        cp__pgq_i64(&q, c->inst_id);
        cp__pgq_text(&q, (const char *)n.data);
        cp__pgq_text(&q, (const char *)v.data);
        cp__pgq_i64(&q, s->tok);
        rc = cp__pg_send(s->db, CP__PG_Q_COUNTERS, &q);
    }
    if (!rc && b->n_points) {
        cp_buf_reset(&n);
        cp_buf_reset(&v);
        for (uint32_t i = 0; i < b->n_points; i++) {
            arr_str(&n, i == 0, b->points[i].series);
            cp_buf_printf(&t, "%s%lld", i ? "," : "{", (long long)b->points[i].t_ms);
            cp_buf_printf(&v, "%s%.17g", i ? "," : "{", b->points[i].value);
        }
        arr_end(&n, false);
        arr_end(&t, false);
        arr_end(&v, false);
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, c->app->id);
        cp__pgq_i64(&q, c->lset_id);
        cp__pgq_text(&q, (const char *)n.data);
        cp__pgq_text(&q, (const char *)t.data);
        cp__pgq_text(&q, (const char *)v.data);
        cp__pgq_i64(&q, c->inst_id);
        cp__pgq_i64(&q, s->tok);
        rc = cp__pg_send(s->db, CP__PG_Q_SERIES, &q);
    }
    cp_buf_fini(&n);
    cp_buf_fini(&v);
    cp_buf_fini(&t);
    return rc;
}

/* One window row: type t of b, label set lset (canonical form canon),
 * values w; also the app's type link, the aggregates of late data and the
 * live event. */
static int put_window(cp__pg_t *s, cp__pg_conn_t *c, const cp_batch_t *b, uint32_t t, int64_t lset,
                      const char *canon, cp_store_blob_pairs_t *w, int late, cp_store_event_fn ev, void *ud)
{
    cp__pg_app_t *a = c->app;
    int64_t start = (int64_t)b->start_ms, end = (int64_t)b->end_ms;
    cp__pgq_t q = {0};
    int rc;
    int64_t tid;
    if ((rc = cp__pg_get_type(s, b->types[t].name, b->types[t].unit, &tid)))
        return rc;
    uint64_t th = (uint64_t)tid * 0x9e3779b97f4a7c15ULL + 1;
    uint32_t *linked = cp__hmap_slot(&a->linked_types, th, 1);
    if (!*linked) {
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, a->id);
        cp__pgq_i64(&q, tid);
        if (cp__pg_cmd(s->aux, "INSERT INTO app_types(app_id,type_id) VALUES($1,$2) ON CONFLICT DO NOTHING", &q))
            return CP_EDB;
        *linked = 1;
    }
    uint64_t total = cp_store_blob_encode(w, &s->tmp);
    if (late != CP_STORE_LATE_ADD) {
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, a->id);
        cp__pgq_i64(&q, tid);
        cp__pgq_i64(&q, start);
        cp__pgq_i64(&q, c->inst_id);
        cp__pgq_i64(&q, (int64_t)b->seq);
        cp__pgq_i64(&q, lset);
        cp__pgq_i64(&q, end);
        cp__pgq_i64(&q, (int64_t)total);
        cp__pgq_bytes(&q, s->tmp.data, s->tmp.len);
        cp__pgq_i64(&q, s->tok);
        if (cp__pg_send(s->db, CP__PG_Q_WINDOW, &q))
            return CP_EDB;
    } else if (cp__pg_sync(s->db) || s->pend[s->n_pend - 1].claimed < 0) {
        return CP_EDB;   /* the aggregates are not guarded by the claim: judge it first */
    } else if (s->pend[s->n_pend - 1].claimed) {
        /* its minute may be older than raw retention: add it to the
         * aggregates instead of recomputing them from raw */
        int64_t m = cp_store_tier_floor(start, CP_STORE_MIN_MS), h = cp_store_tier_floor(start, CP_STORE_HOUR_MS);
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, a->id);
        bool err = false;
        int64_t hdone = cp__pg_i64(s->db, "SELECT done_ms FROM agg_state WHERE app_id=$1 AND step=3600000",
                                   &q, 0, &err);
        if (err || (rc = cp__pg_agg_add(s, a->id, CP_STORE_MIN_MS, tid, m, lset, w)) ||
            (h < hdone && (rc = cp__pg_agg_add(s, a->id, CP_STORE_HOUR_MS, tid, h, lset, w))))
            return rc ? rc : CP_EDB;
    }
    if (ev) {   /* reported at commit if the claim matched */
        cp_store_event_t e = {a->name, c->iid, b->types[t].name, canon, start, end, total};
        ev_keep(s, &e);
    }
    (void)ud;
    return 0;
}

/* The labelled parts of the batch (store_ctx.h): a window row per (label
 * set, type), through cp_store_ctx_put. */
typedef struct parts_ud {
    cp__pg_t *s;
    cp__pg_conn_t *c;
    const cp_batch_t *b;
    int late;
    cp_store_event_fn ev;
    void *ud;
} parts_ud_t;

static int part_lset(void *ud, const char *canon, int64_t *id)
{
    parts_ud_t *x = ud;
    int rc = lset_intern(x->s, x->c->app, canon, id);
    if (rc == CP_ELIMIT)
        x->s->refusal.what = 0;   /* not the batch's refusal */
    return rc;
}

static int part_put(void *ud, const cp_store_ctx_part_t *p, int64_t lset, const char *canon)
{
    parts_ud_t *x = ud;
    return put_window(x->s, x->c, x->b, p->type, lset, canon, (cp_store_blob_pairs_t *)&p->pairs, x->late, x->ev,
                      x->ud);
}

static const cp_store_ctx_ops_t parts_ops = {part_lset, part_put};

static int put_parts(cp__pg_t *s, cp__pg_conn_t *c, const cp_batch_t *b, int late, cp_store_event_fn ev, void *ud)
{
    parts_ud_t x = {s, c, b, late, ev, ud};
    return cp_store_ctx_put(&c->ctx, s->per_type, &parts_ops, &x);
}

/* The batch's trace entries (store_trace.h): a row per (trace, type). */
static int put_traces(cp__pg_t *s, cp__pg_conn_t *c, const cp_batch_t *b)
{
    uint64_t dropped;
    int rc;
    if (!b->n_traces)
        return 0;
    if ((rc = cp_store_traces_split(&s->traces, &c->map, b, &dropped)))
        return rc;
    for (uint32_t i = 0; i < s->traces.n; i++) {
        cp_store_trace_row_t *r = &s->traces.rows[i];
        int64_t tid;
        if ((rc = cp__pg_get_type(s, b->types[r->type].name, b->types[r->type].unit, &tid)))
            return rc;
        cp__pgq_t q = {0};
        cp__pgq_i64(&q, (int64_t)r->hi);
        cp__pgq_i64(&q, (int64_t)r->lo);
        cp__pgq_i64(&q, c->app->id);
        cp__pgq_i64(&q, c->inst_id);
        cp__pgq_i64(&q, tid);
        cp__pgq_i64(&q, (int64_t)b->start_ms);
        cp__pgq_i64(&q, (int64_t)b->end_ms);
        cp__pgq_i64(&q, (int64_t)r->total);
        cp__pgq_bytes(&q, r->blob.data, r->blob.len);
        cp__pgq_i64(&q, s->tok);
        if (cp__pg_send(s->db, CP__PG_Q_TRACE, &q))
            return CP_EDB;
    }
    return 0;
}

int cp__pg_conn_batch(cp_store_t *s_, cp_store_conn_t *c_, const cp_batch_t *b, int64_t now_ms,
                      cp_store_event_fn ev, void *ud)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    cp__pg_conn_t *c = (cp__pg_conn_t *)c_;
    cp__pg_app_t *a = c->app;
    s->refusal.what = 0;
    if (c->broken)
        return CP_ESTATE;   /* wrote into a rolled-back transaction: must reconnect */
    cp__pg_touch_conn(s, c);
    cp__pg_ictx_t ix = {s, a};
    int64_t t0 = cp__pg_mono_ns();
    s->prof.batches++;
    int rc = cp_store_delta_apply(&c->map, b, s->cfg.max_dict, &cp__pg_intern_ops, &ix);
    rc = cp__pg_dict_end(s, rc == 0) ? CP_EDB : rc;
    cp__pg_prof_add(&s->prof, CP__PG_T_DICT, &t0);
    if (rc || (rc = cp_store_ctx_apply(&c->ctx, b, s->cfg.max_dict)))
        return rc;
    /* judged per instance: another connection of it on this relay may have
     * stored the seq (an agent that reconnected while its old connection
     * is still open), perhaps in this very transaction */
    uint64_t *known = inst_seq(s, c->inst_id, true);
    if (*known > c->last_seq)
        c->last_seq = *known;
    if (cp_store_seq_is_dup(b->seq, c->last_seq))
        return 1;
    if ((rc = cp_store_delta_split(&c->map, b, &s->per_type, &s->n_per_type)) || (rc = check_types(s, a, b)))
        return rc;
    int64_t start = (int64_t)b->start_ms, end = (int64_t)b->end_ms, mdone;
    /* the dedupe claim, queued: stores only if no relay stored this seq
     * (the row lock makes a concurrent claim wait for this transaction);
     * the batch's writes below store only if it matched (its token) */
    if (s->n_pend == s->cap_pend) {
        s->cap_pend = s->cap_pend ? s->cap_pend * 2 : 64;
        s->pend = cp__xrealloc(s->pend, s->cap_pend * sizeof *s->pend);
    }
    s->pend[s->n_pend++] = (cp__pg_pend_t){-1, s->n_evs, s->n_evs, ev, ud};
    s->tok = next_token(s);
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, c->inst_id);
    cp__pgq_i64(&q, (int64_t)b->seq);
    cp__pgq_i64(&q, now_ms);
    cp__pgq_i64(&q, end > start ? end - start : 0);
    cp__pgq_text(&q, s->relay_id);
    cp__pgq_i64(&q, s->tok);
    rc = cp__pg_send_fn(s->db, CP__PG_Q_CLAIM, &q, on_claim, s);
    cp__pg_prof_add(&s->prof, CP__PG_T_CLAIM, &t0);
    if (rc)
        return CP_EDB;
    rc = app_mdone(s, a, &mdone);
    cp__pg_prof_add(&s->prof, CP__PG_T_SEAL, &t0);
    if (rc)
        return rc;
    int late = cp_store_tier_late(&s->cfg, now_ms, start, mdone);
    /* the labelled parts first: those of a refused label set go back to
     * the unlabelled rest */
    if ((rc = cp_store_ctx_split(&c->ctx, &c->map, b, s->per_type)) || (rc = put_parts(s, c, b, late, ev, ud)))
        return rc;
    for (uint32_t t = 0; t < b->n_types; t++)
        if (s->per_type[t].n &&
            (rc = put_window(s, c, b, t, c->lset_id, c->canon, &s->per_type[t], late, ev, ud)))
            return rc;
    if ((rc = put_traces(s, c, b)))
        return rc;
    if (late == CP_STORE_LATE_DIRTY) {   /* late data for an aggregated minute: recompute it */
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, a->id);
        cp__pgq_i64(&q, cp_store_tier_floor(start, CP_STORE_MIN_MS));
        uint32_t *marked = cp__hmap_slot(&a->dirty_marked, (uint64_t)cp_store_tier_floor(start, CP_STORE_MIN_MS), 1);
        if (a->dirty_gen != s->tx_gen) {   /* the marks of an earlier transaction */
            cp__hmap_free(&a->dirty_marked);
            a->dirty_gen = s->tx_gen;
            marked = cp__hmap_slot(&a->dirty_marked, (uint64_t)cp_store_tier_floor(start, CP_STORE_MIN_MS), 1);
        }
        if (!*marked && cp__pg_send(s->db, CP__PG_Q_DIRTY, &q))
            return CP_EDB;
        *marked = 1;
    }
    rc = put_counters_series(s, c, b);
    cp__pg_prof_add(&s->prof, CP__PG_T_WRITE, &t0);
    if (rc)
        return rc;
    s->pend[s->n_pend - 1].ev1 = s->n_evs;
    /* acked after the commit: stored by this batch, or, if the claim did
     * not match, by another relay's committed one (the seq is durable) */
    c->last_seq = b->seq;
    *inst_seq(s, c->inst_id, true) = b->seq;
    return 0;
}
