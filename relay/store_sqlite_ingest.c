/* store_sqlite_ingest.c - the SQLite writer's ingest path: registering an
 * agent's connection (app, label set, instance rows) and storing its
 * batches (dictionary delta, one window row per type, counters, series,
 * dirty marks for late data).
 *
 * Thread: store worker only, inside cp_store_begin/commit. Invariant: a
 * connection's str/frame/stack maps translate the agent's dense ids to the
 * app's, and every app id they hold is in the app's tables (inserted in the
 * same transaction that interned it). */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_ctx.h"
#include "store_delta.h"
#include "store_labels.h"
#include "store_tier.h"

/* An app without live connections keeps only its small struct (name, id,
 * aggregation watermarks: maintenance needs those); its dictionary, which
 * can be megabytes for a big app, is reloaded from the database by the next
 * connection (cp__sqlite_app_ready). So apps that went away, or a flood of
 * one-shot app names, do not hold memory. The reload inside an open
 * transaction sees that transaction's rows; cp_store_rollback copes with
 * a dictionary that is gone. */
static void app_drop_dict_if_unused(cp__sqlite_app_t *a)
{
    if (a->conns)
        return;
    cp_stack_dict_destroy(a->dict);
    a->dict = NULL;
    cp__hmap_free(&a->linked_types);
}

/* The id of label set `canon` of app a, created if new (within the
 * tenant's label-set limit: CP_ELIMIT with s->refusal). */
static int lset_intern(cp__sqlite_t *s, cp__sqlite_app_t *a, const char *canon, int64_t *out)
{
    int rc;
    if (s->cfg.max_lsets &&
        !cp__sqlite_exists(s->db, "SELECT 1 FROM lsets WHERE app_id=? AND canon=?", a->id, canon) &&
        (rc = cp__sqlite_tenant_room(s, a->name, CP_STORE_LIMIT_LSETS)))
        return rc;
    sqlite3_stmt *st = NULL;
    *out = -1;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO lsets(app_id,canon) VALUES(?,?) ON CONFLICT(app_id,canon)"
                                  " DO UPDATE SET canon=excluded.canon RETURNING id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, canon, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return *out < 0 ? CP_EDB : 0;
}

int cp__sqlite_conn_open(cp__sqlite_t *s, const cp_hello_t *h, int64_t now_ms,
                       cp__sqlite_conn_t **out, uint64_t *last_seq)
{
    cp__sqlite_app_t *a;
    s->refusal.what = 0;
    int rc = cp__sqlite_get_app(s, h->app, true, &a);
    if (rc)
        return rc;
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    cp_store_labels_canon(h->labels, h->n_labels, &canon, &json);
    sqlite3_stmt *st = NULL;
    int64_t lset = -1, inst = -1;
    uint64_t seq = 0;
    if ((rc = lset_intern(s, a, (const char *)canon.data, &lset)))
        goto out;
    rc = CP_EDB;
    char jvm[512];
    snprintf(jvm, sizeof jvm, "%s%s%s", h->jvm_vendor, *h->jvm_vendor && *h->jvm_version ? " " : "",
             h->jvm_version);
    if (sqlite3_prepare_v2(s->db,
            "INSERT INTO instances(app_id,iid,lset_id,host,pid,start_ms,jvm,agent_version,labels,"
            "first_seen,last_seen,connected) VALUES(?,?,?,?,?,?,?,?,?,?,?,1)"
            " ON CONFLICT(app_id,iid) DO UPDATE SET lset_id=excluded.lset_id, host=excluded.host,"
            " pid=excluded.pid, start_ms=excluded.start_ms, jvm=excluded.jvm,"
            " agent_version=excluded.agent_version, labels=excluded.labels,"
            " last_seen=excluded.last_seen, connected=1 RETURNING id, last_seq", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, h->instance, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, lset);
    sqlite3_bind_text(st, 4, h->host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, h->pid);
    sqlite3_bind_int64(st, 6, (int64_t)h->start_ms);
    sqlite3_bind_text(st, 7, jvm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, h->agent_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, (const char *)json.data, (int)json.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now_ms);
    sqlite3_bind_int64(st, 11, now_ms);
    if (sqlite3_step(st) == SQLITE_ROW) {
        inst = sqlite3_column_int64(st, 0);
        seq = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (inst < 0)
        goto out;
    cp__sqlite_conn_t *c = cp__xcalloc(1, sizeof *c);
    c->base.eng = &cp__store_sqlite_engine;
    c->app = a;
    c->inst_id = inst;
    c->lset_id = lset;
    c->iid = cp__xstrdup(h->instance);
    c->canon = cp__xstrdup((const char *)canon.data);
    cp_store_ctx_init(&c->ctx, h->labels, h->n_labels);
    /* an instance with live connections keeps its in-memory seq (the same
     * as the database's within this transaction) */
    c->inst = cp__sqlite_inst_get(s, inst, true, seq);
    c->inst->conns++;
    a->conns++;
    cp__sqlite_touch_inst(s, c->inst);
    cp__sqlite_touch_conn(s, c);
    *out = c;
    *last_seq = c->inst->last_seq;
    rc = 0;
out:
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    if (rc)
        app_drop_dict_if_unused(a);
    return rc;
}

uint64_t cp__sqlite_conn_last_seq(const cp__sqlite_conn_t *c) { return c->inst->last_seq; }

void cp__sqlite_conn_close(cp__sqlite_t *s, cp__sqlite_conn_t *c, int64_t now_ms)
{
    if (!c)
        return;
    if (c->tx_gen == s->tx_gen)   /* leave the journal of the open transaction */
        for (size_t k = 0; k < s->j.n_conns; k++)
            if (s->j.conns[k] == c)
                s->j.conns[k] = s->j.conns[--s->j.n_conns];
    bool last = c->inst->conns <= 1;
    cp__sqlite_inst_release(s, c->inst);
    if (last)   /* written at the next successful commit */
        cp__sqlite_disconnect_later(s, c->inst_id, now_ms);
    if (c->app->conns)
        c->app->conns--;
    app_drop_dict_if_unused(c->app);
    s->closed_since_shrink++;
    cp_store_idmap_fini(&c->map);
    cp_store_ctx_fini(&c->ctx);
    free(c->iid);
    free(c->canon);
    free(c);
}

/* ---- interning callbacks (store_delta.h): the app's in-memory
 * dictionary, and a row for every id new to it ---- */

typedef struct intern_ctx { cp__sqlite_t *s; cp__sqlite_app_t *a; } intern_ctx_t;

static int intern_string(void *ud, const char *str, size_t len, uint32_t *id)
{
    intern_ctx_t *x = ud;
    uint32_t before = cp_stack_dict_strings(x->a->dict);
    if (cp_stack_dict_intern_string(x->a->dict, str, len, id))
        return CP_ENOMEM;
    if (*id != before)
        return 0;
    sqlite3_stmt *st = x->s->ins_str;
    sqlite3_bind_int64(st, 1, x->a->id);
    sqlite3_bind_int64(st, 2, *id);
    sqlite3_bind_blob(st, 3, str, (int)len, SQLITE_STATIC);
    return cp__sqlite_step_done(st) ? CP_EDB : 0;
}

static int intern_frame(void *ud, const cp_frame_t *f, uint32_t *id)
{
    intern_ctx_t *x = ud;
    uint32_t before = cp_stack_dict_frames(x->a->dict);
    if (cp_stack_dict_intern_frame(x->a->dict, f, id))
        return CP_ENOMEM;
    if (*id != before)
        return 0;
    sqlite3_stmt *st = x->s->ins_frame;
    sqlite3_bind_int64(st, 1, x->a->id);
    sqlite3_bind_int64(st, 2, *id);
    sqlite3_bind_int64(st, 3, f->class_id);
    sqlite3_bind_int64(st, 4, f->method_id);
    sqlite3_bind_int64(st, 5, f->sig_id);
    sqlite3_bind_int64(st, 6, f->line);
    sqlite3_bind_int64(st, 7, f->kind);
    return cp__sqlite_step_done(st) ? CP_EDB : 0;
}

static int intern_stack(void *ud, const uint32_t *frames, uint32_t n, uint32_t *id)
{
    intern_ctx_t *x = ud;
    cp__sqlite_t *s = x->s;
    uint32_t before = cp_stack_dict_stacks(x->a->dict);
    if (cp_stack_dict_intern_stack(x->a->dict, frames, n, id))
        return CP_ENOMEM;
    if (*id != before)
        return 0;
    cp_store_frames_encode(frames, n, &s->tmp);
    sqlite3_bind_int64(s->ins_stack, 1, x->a->id);
    sqlite3_bind_int64(s->ins_stack, 2, *id);
    sqlite3_bind_blob(s->ins_stack, 3, s->tmp.data ? (void *)s->tmp.data : (void *)"", (int)s->tmp.len,
                      SQLITE_STATIC);
    return cp__sqlite_step_done(s->ins_stack) ? CP_EDB : 0;
}

static const uint32_t *intern_stack_frames(void *ud, uint32_t id, uint32_t *n)
{
    intern_ctx_t *x = ud;
    return cp_stack_dict_stack(x->a->dict, id, n);
}

static const cp_store_intern_ops_t intern_ops = {
    intern_string, intern_frame, intern_stack, intern_stack_frames,
};

/* Adds pairs w (merged) to the aggregate row (app, step, type, bucket,
 * lset), creating it. */
static int agg_add(cp__sqlite_t *s, int64_t app, int64_t step, int64_t tid, int64_t bucket, int64_t lset,
                   const cp_store_blob_pairs_t *w)
{
    sqlite3_stmt *rd = NULL, *wr = NULL;
    cp_store_blob_pairs_t p = {0};
    int rc = CP_EDB;
    if (sqlite3_prepare_v2(s->db, "SELECT data FROM agg WHERE app_id=? AND step=? AND type_id=? AND start_ms=?"
                                  " AND lset_id=?", -1, &rd, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO agg(app_id,step,type_id,start_ms,lset_id,total,data)"
                                  " VALUES(?,?,?,?,?,?,?)", -1, &wr, NULL))
        goto out;
    sqlite3_bind_int64(rd, 1, app);
    sqlite3_bind_int64(rd, 2, step);
    sqlite3_bind_int64(rd, 3, tid);
    sqlite3_bind_int64(rd, 4, bucket);
    sqlite3_bind_int64(rd, 5, lset);
    if (sqlite3_step(rd) == SQLITE_ROW &&
        !cp_store_blob_each(sqlite3_column_blob(rd, 0), (size_t)sqlite3_column_bytes(rd, 0),
                            cp_store_blob_add_to_pairs, &p))
        goto out;
    for (size_t i = 0; i < w->n; i++)
        cp_store_blob_pairs_add(&p, w->v[2 * i], w->v[2 * i + 1]);
    uint64_t total = cp_store_blob_encode(&p, &s->tmp2);
    sqlite3_bind_int64(wr, 1, app);
    sqlite3_bind_int64(wr, 2, step);
    sqlite3_bind_int64(wr, 3, tid);
    sqlite3_bind_int64(wr, 4, bucket);
    sqlite3_bind_int64(wr, 5, lset);
    sqlite3_bind_int64(wr, 6, (int64_t)total);
    sqlite3_bind_blob(wr, 7, s->tmp2.data ? (void *)s->tmp2.data : (void *)"", (int)s->tmp2.len, SQLITE_STATIC);
    rc = cp__sqlite_step_done(wr);
out:
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    cp_store_blob_pairs_fini(&p);
    return rc;
}

/* One window row: type t of b, label set lset (canonical form canon),
 * values w; also the app's type link, the aggregates of late data and
 * the live event. */
static int put_window(cp__sqlite_t *s, cp__sqlite_conn_t *c, const cp_batch_t *b, uint32_t t, int64_t lset,
                      const char *canon, cp_store_blob_pairs_t *w, int late, cp_store_event_fn ev, void *ud)
{
    cp__sqlite_app_t *a = c->app;
    int64_t start = (int64_t)b->start_ms, end = (int64_t)b->end_ms;
    int64_t tid;
    int rc;
    if ((rc = cp__sqlite_get_type(s, b->types[t].name, b->types[t].unit, &tid)))
        return rc;
    uint64_t total = cp_store_blob_encode(w, &s->tmp);
    sqlite3_stmt *st = s->ins_window;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, tid);
    sqlite3_bind_int64(st, 3, start);
    sqlite3_bind_int64(st, 4, c->inst_id);
    sqlite3_bind_int64(st, 5, (int64_t)b->seq);
    sqlite3_bind_int64(st, 6, lset);
    sqlite3_bind_int64(st, 7, end);
    sqlite3_bind_int64(st, 8, (int64_t)total);
    sqlite3_bind_blob(st, 9, s->tmp.data, (int)s->tmp.len, SQLITE_STATIC);
    if (late == CP_STORE_LATE_ADD)
        sqlite3_reset(st);   /* no raw row: its minute is answered by aggregates only */
    else if (cp__sqlite_step_done(st))
        return CP_EDB;
    sqlite3_bind_int64(s->ins_app_type, 1, a->id);
    sqlite3_bind_int64(s->ins_app_type, 2, tid);
    if (cp__sqlite_step_done(s->ins_app_type))
        return CP_EDB;
    if (late == CP_STORE_LATE_ADD) {
        /* its minute's raw windows may be expired: add it to the
         * aggregates instead of recomputing them from raw */
        int64_t m = cp_store_tier_floor(start, CP_STORE_MIN_MS), h = cp_store_tier_floor(start, CP_STORE_HOUR_MS);
        if ((rc = agg_add(s, a->id, CP_STORE_MIN_MS, tid, m, lset, w)) ||
            (h < a->hdone && (rc = agg_add(s, a->id, CP_STORE_HOUR_MS, tid, h, lset, w))))
            return rc;
    }
    if (ev) {
        cp_store_event_t e = {a->name, c->iid, b->types[t].name, canon, start, end, total};
        ev(ud, &e);
    }
    return 0;
}

/* The labelled parts of the batch (store_ctx.h): a window row per (label
 * set, type), through cp_store_ctx_put. */
typedef struct parts_ud {
    cp__sqlite_t *s;
    cp__sqlite_conn_t *c;
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

static int put_parts(cp__sqlite_t *s, cp__sqlite_conn_t *c, const cp_batch_t *b, int late, cp_store_event_fn ev, void *ud)
{
    parts_ud_t x = {s, c, b, late, ev, ud};
    return cp_store_ctx_put(&c->ctx, s->per_type, &parts_ops, &x);
}

/* The batch's trace entries (store_trace.h): a row per (trace, type). */
static int put_traces(cp__sqlite_t *s, cp__sqlite_conn_t *c, const cp_batch_t *b)
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
        if ((rc = cp__sqlite_get_type(s, b->types[r->type].name, b->types[r->type].unit, &tid)))
            return rc;
        sqlite3_stmt *st = s->ins_trace;
        sqlite3_bind_int64(st, 1, (int64_t)r->hi);
        sqlite3_bind_int64(st, 2, (int64_t)r->lo);
        sqlite3_bind_int64(st, 3, c->app->id);
        sqlite3_bind_int64(st, 4, c->inst_id);
        sqlite3_bind_int64(st, 5, tid);
        sqlite3_bind_int64(st, 6, (int64_t)b->start_ms);
        sqlite3_bind_int64(st, 7, (int64_t)b->end_ms);
        sqlite3_bind_int64(st, 8, (int64_t)r->total);
        sqlite3_bind_blob(st, 9, r->blob.data ? (void *)r->blob.data : (void *)"", (int)r->blob.len, SQLITE_STATIC);
        if (cp__sqlite_step_done(st))
            return CP_EDB;
    }
    return 0;
}

int cp__sqlite_conn_batch(cp__sqlite_t *s, cp__sqlite_conn_t *c, const cp_batch_t *b,
                        int64_t now_ms, cp_store_event_fn ev, void *ud)
{
    s->refusal.what = 0;
    if (c->broken)
        return CP_ESTATE;   /* sent into a rolled-back transaction: must reconnect */
    cp__sqlite_app_t *a = c->app;
    int rc = cp__sqlite_app_ready(s, a, true);
    if (rc)
        return rc;
    cp__sqlite_touch_conn(s, c);
    cp__sqlite_touch_app(s, a);
    cp__sqlite_touch_inst(s, c->inst);
    intern_ctx_t ix = {s, a};
    if ((rc = cp_store_delta_apply(&c->map, b, s->cfg.max_dict, &intern_ops, &ix)) ||
        (rc = cp_store_ctx_apply(&c->ctx, b, s->cfg.max_dict)))
        return rc;
    if (cp_store_seq_is_dup(b->seq, c->inst->last_seq))
        return 1;   /* stored already, by this or another connection of the instance */
    if ((rc = cp_store_delta_split(&c->map, b, &s->per_type, &s->n_per_type)))
        return rc;
    /* tenant type limit, before anything of the batch is written */
    for (uint32_t t = 0; s->cfg.max_types && t < b->n_types; t++) {
        uint64_t th = cp__hash_bytes(b->types[t].name, strlen(b->types[t].name));
        if (!s->per_type[t].n || cp__hmap_slot(&a->linked_types, th, 0))
            continue;
        /* first window of this type for the app since it was loaded */
        if (!cp__sqlite_exists(s->db, "SELECT 1 FROM app_types x JOIN types y ON y.id=x.type_id"
                                      " WHERE x.app_id=? AND y.name=?", a->id, b->types[t].name) &&
            (rc = cp__sqlite_tenant_room(s, a->name, CP_STORE_LIMIT_TYPES)))
            return rc;
        *cp__hmap_slot(&a->linked_types, th, 1) = 1;
    }
    int64_t start = (int64_t)b->start_ms, end = (int64_t)b->end_ms;
    int late = cp_store_tier_late(&s->cfg, now_ms, start, a->mdone);
    if ((rc = cp_store_ctx_split(&c->ctx, &c->map, b, s->per_type)) || (rc = put_parts(s, c, b, late, ev, ud)))
        return rc;
    for (uint32_t t = 0; t < b->n_types; t++)
        if (s->per_type[t].n &&
            (rc = put_window(s, c, b, t, c->lset_id, c->canon, &s->per_type[t], late, ev, ud)))
            return rc;
    if ((rc = put_traces(s, c, b)))
        return rc;
    if (late == CP_STORE_LATE_DIRTY) {   /* late data for an aggregated minute: recompute it */
        sqlite3_bind_int64(s->ins_dirty, 1, a->id);
        sqlite3_bind_int64(s->ins_dirty, 2, CP_STORE_MIN_MS);
        sqlite3_bind_int64(s->ins_dirty, 3, cp_store_tier_floor(start, CP_STORE_MIN_MS));
        if (cp__sqlite_step_done(s->ins_dirty))
            return CP_EDB;
    }
    for (uint32_t i = 0; i < b->n_counters; i++) {
        sqlite3_stmt *st = s->upsert_counter;
        sqlite3_bind_int64(st, 1, c->inst_id);
        sqlite3_bind_text(st, 2, b->counters[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)b->counters[i].value);
        if (cp__sqlite_step_done(st))
            return CP_EDB;
    }
    for (uint32_t i = 0; i < b->n_points; i++) {
        sqlite3_stmt *st = s->ins_series;
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_int64(st, 2, c->lset_id);
        sqlite3_bind_text(st, 3, b->points[i].series, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)b->points[i].t_ms);
        sqlite3_bind_double(st, 5, b->points[i].value);
        if (cp__sqlite_step_done(st))
            return CP_EDB;
    }
    sqlite3_bind_int64(s->upd_inst, 1, (int64_t)b->seq);
    sqlite3_bind_int64(s->upd_inst, 2, now_ms);
    sqlite3_bind_int64(s->upd_inst, 3, end > start ? end - start : 0);
    sqlite3_bind_int64(s->upd_inst, 4, c->inst_id);
    if (cp__sqlite_step_done(s->upd_inst))
        return CP_EDB;
    c->inst->last_seq = b->seq;
    return 0;
}
