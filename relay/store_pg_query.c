/* store_pg_query.c - the PostgreSQL engine's readers: connections, one
 * REPEATABLE READ read-only transaction per query (one snapshot), the
 * deadline as statement_timeout, the incremental name cache per app
 * (store_names.h), and the tier planner (store_tier.h) feeding the shared
 * row handling (store_rows.h). Profile and timeline queries here; the
 * per-window query, series and the apps / instances documents in
 * store_pg_read.c.
 *
 * A reader whose connection broke answers CP_EUNAVAIL (HTTP 503) and
 * reconnects on its next query.
 *
 * Thread: each reader belongs to one query worker. */
#include "store_pg_read.h"

#include <endian.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "store_tier.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cp__pg_reader_over(const cp__pg_reader_t *r)
{
    if (r->cancel && __atomic_load_n(r->cancel, __ATOMIC_RELAXED))
        return true;
    return r->deadline_ms && mono_ms() >= r->deadline_ms;
}

void cp__pg_reader_set_limit(cp_store_reader_t *r_, int64_t deadline_ms, const bool *cancel)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    r->deadline_ms = deadline_ms;
    r->cancel = cancel;
}

int cp__pg_reader_open(const char *where, cp_store_reader_t **out)
{
    cp__pg_reader_t *r = cp__xcalloc(1, sizeof *r);
    r->base.eng = &cp__store_pg_engine;
    r->uri = cp__xstrdup(where);
    r->db = cp__pg_connect(where);   /* NULL: connect on the first query */
    *out = &r->base;
    return 0;
}

void cp__pg_reader_close(cp_store_reader_t *r_)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    PQfinish(r->db);
    while (r->apps) {
        cp__pg_rapp_t *n = r->apps->next;
        cp_store_names_fini(&r->apps->names);
        free(r->apps);
        r->apps = n;
    }
    free(r->uri);
    free(r);
}

int cp__pg_read_begin(cp__pg_reader_t *r)
{
    if (!r->db)
        r->db = cp__pg_connect(r->uri);
    if (r->db && PQstatus(r->db) != CONNECTION_OK) {
        /* a new session: names cached from the old one may name
         * dictionary rows a crash lost (their commit is async) */
        while (r->apps) {
            cp__pg_rapp_t *n = r->apps->next;
            cp_store_names_fini(&r->apps->names);
            free(r->apps);
            r->apps = n;
        }
    }
    if (!cp__pg_ok(r->db))
        return CP_EUNAVAIL;
    /* one round trip: the simple protocol runs both */
    char sql[128];
    int64_t left = r->deadline_ms ? r->deadline_ms - mono_ms() : 0;
    snprintf(sql, sizeof sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout=%lld",
             (long long)(r->deadline_ms ? (left > 1 ? left : 1) : 0));
    if (cp__pg_cmd(r->db, sql, NULL))
        return PQstatus(r->db) == CONNECTION_OK ? CP_EDB : CP_EUNAVAIL;
    return 0;
}

int cp__pg_read_end(cp__pg_reader_t *r, int rc, char *err, size_t errlen)
{
    if (rc == CP_EDB && r->db && PQstatus(r->db) != CONNECTION_OK)
        rc = CP_EUNAVAIL;
    else if (rc && rc != CP_ENOTFOUND && rc != CP_EUNAVAIL && cp__pg_reader_over(r))
        rc = CP_ETIMEOUT;   /* a cancelled statement fails as CP_EDB */
    if (r->db && PQstatus(r->db) == CONNECTION_OK)
        PQclear(PQexec(r->db, "COMMIT"));
    if (rc && rc != CP_ENOTFOUND && err && !*err)
        snprintf(err, errlen, "%s", cp_strerror(rc));
    return rc;
}

int64_t cp__pg_read_app(cp__pg_reader_t *r, const char *name, bool *err)
{
    cp__pgq_t q = {0};
    cp__pgq_text(&q, name);
    return cp__pg_i64(r->db, "SELECT id FROM apps WHERE name=$1", &q, -1, err);
}

static cp__pg_rapp_t *reader_rapp(cp__pg_reader_t *r, int64_t id)
{
    for (cp__pg_rapp_t *a = r->apps; a; a = a->next)
        if (a->id == id)
            return a;
    cp__pg_rapp_t *a = cp__xcalloc(1, sizeof *a);
    a->id = id;
    a->next = r->apps;
    r->apps = a;
    return a;
}

static uint32_t be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

cp__pg_rapp_t *cp__pg_rapp_refresh(cp__pg_reader_t *r, int64_t app, int *rc)
{
    cp__pg_rapp_t *a = reader_rapp(r, app);
    cp_store_names_t *nm = &a->names;
    /* the rows of each dictionary table with id >= the cached count, in id
     * order, stopping at a gap (ids are committed in order,
     * store_pg_dict.c): three statements, one round trip */
    static const char *const sql[3] = {
        "SELECT id, s FROM strings WHERE app_id=$1 AND id>=$2 ORDER BY id",
        "SELECT id, class_id, method_id, kind FROM frames WHERE app_id=$1 AND id>=$2 ORDER BY id",
        "SELECT id, frames FROM stacks WHERE app_id=$1 AND id>=$2 ORDER BY id",
    };
    cp__pgq_t q[3];
    memset(q, 0, sizeof q);
    const cp__pgq_t *qp[3] = {&q[0], &q[1], &q[2]};
    uint32_t from[3] = {cp_store_names_n_strings(nm), cp_store_names_n_frames(nm), cp_store_names_n_stacks(nm)};
    for (int i = 0; i < 3; i++) {
        cp__pgq_i64(&q[i], app);
        cp__pgq_i64(&q[i], from[i]);
    }
    PGresult *res[3];
    *rc = CP_EDB;
    if (cp__pg_run_many(r->db, 3, sql, qp, true, res))
        return NULL;
    for (int i = 0; i < PQntuples(res[0]) && be32(PQgetvalue(res[0], i, 0)) == cp_store_names_n_strings(nm); i++)
        cp_store_names_add_string(nm, PQgetvalue(res[0], i, 1), (size_t)PQgetlength(res[0], i, 1));
    for (int i = 0; i < PQntuples(res[1]) && be32(PQgetvalue(res[1], i, 0)) == cp_store_names_n_frames(nm); i++)
        cp_store_names_add_frame(nm, be32(PQgetvalue(res[1], i, 1)), be32(PQgetvalue(res[1], i, 2)),
                                 (uint8_t)be32(PQgetvalue(res[1], i, 3)));
    for (int i = 0; i < PQntuples(res[2]) && be32(PQgetvalue(res[2], i, 0)) == cp_store_names_n_stacks(nm); i++)
        cp_store_names_add_stack(nm, (const uint8_t *)PQgetvalue(res[2], i, 1), (size_t)PQgetlength(res[2], i, 1));
    for (int i = 0; i < 3; i++)
        PQclear(res[i]);
    *rc = 0;
    return a;
}

int cp__pg_query_setup(cp__pg_reader_t *r, const cp_store_query_t *q, cp__pg_plan_t *p, char **unit,
                       char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->r = r;
    int rc = cp__pg_read_begin(r);
    if (rc)
        return rc;
    /* app and type in one round trip */
    cp__pgq_t k = {0};
    cp__pgq_text(&k, q->app);
    /* "alloc" is the API's short name for the agent's "alloc_bytes" (docs/api.md);
     * no type: a query of series only */
    cp__pgq_text(&k, !q->type ? "" : strcmp(q->type, "alloc") ? q->type : "alloc_bytes");
    PGresult *res = cp__pg_run(r->db, "SELECT a.id, t.id, t.unit FROM apps a LEFT JOIN (app_types x JOIN types t"
                                      " ON t.id=x.type_id AND t.name=$2) ON x.app_id=a.id WHERE a.name=$1", &k, false);
    if (!res)
        return CP_EDB;
    p->app = PQntuples(res) ? cp__pg_get_i64(res, 0, 0) : -1;
    p->type = PQntuples(res) && !PQgetisnull(res, 0, 1) ? cp__pg_get_i64(res, 0, 1) : -1;
    if (p->type >= 0 && unit)
        *unit = cp__xstrdup(PQgetvalue(res, 0, 2));
    PQclear(res);
    if (p->app < 0) {
        snprintf(err, errlen, "unknown app '%s'", q->app);
        return CP_ENOTFOUND;
    }
    if (q->type && p->type < 0) {
        snprintf(err, errlen, "unknown type '%s' for app '%s'", q->type, q->app);
        return CP_ENOTFOUND;
    }
    if (q->labels && *q->labels) {
        cp__pgq_reset(&k);
        cp__pgq_i64(&k, p->app);
        res = cp__pg_run(r->db, "SELECT id, canon FROM lsets WHERE app_id=$1", &k, false);
        if (!res)
            return CP_EDB;
        int64_t maxid = 0;
        for (int i = 0; i < PQntuples(res); i++)
            if (cp__pg_get_i64(res, i, 0) > maxid)
                maxid = cp__pg_get_i64(res, i, 0);
        p->lset_ok = cp__xcalloc((size_t)maxid + 1, 1);
        for (int i = 0; i < PQntuples(res); i++)
            if (cp_store_labels_match(PQgetvalue(res, i, 1), q->labels))
                p->lset_ok[cp__pg_get_i64(res, i, 0)] = 1;
        PQclear(res);
        p->rows.lset_ok = p->lset_ok;
        p->rows.n_lset = maxid + 1;
    }
    return 0;
}

void cp__pg_query_fini(cp__pg_plan_t *p)
{
    free(p->lset_ok);
    free(p->reads);
    cp_store_rows_fini(&p->rows);
}

static int64_t bin_i64(const PGresult *res, int row, int col)
{
    uint64_t v;
    memcpy(&v, PQgetvalue(res, row, col), 8);
    return (int64_t)be64toh(v);
}

/* cp_store_plan_read_fn: one tier (step 0 = raw windows) for [lo, hi),
 * noted; plan_fetch reads them all at once. */
static void plan_read(void *ud, int64_t step, int64_t lo, int64_t hi)
{
    cp__pg_plan_t *p = ud;
    if (lo >= hi || p->rc)
        return;
    if (p->n_reads == p->cap_reads) {
        p->cap_reads = p->cap_reads ? p->cap_reads * 2 : 16;
        p->reads = cp__xrealloc(p->reads, p->cap_reads * sizeof *p->reads);
    }
    p->reads[p->n_reads].step = step;
    p->reads[p->n_reads].lo = lo;
    p->reads[p->n_reads++].hi = hi;
}

/* The planner's reads in one statement (a UNION ALL of one range each:
 * literal bounds let PostgreSQL prune day partitions), its rows fed to
 * p->rows. */
static void plan_fetch(cp__pg_plan_t *p)
{
    if (!p->n_reads || p->rc)
        return;
    if (cp__pg_reader_over(p->r)) {
        p->rc = CP_ETIMEOUT;
        return;
    }
    const char *data = p->rows.keep || !p->rows.points ? "data" : "''::bytea";
    cp_buf_t sql = CP_BUF_INIT;
    for (size_t i = 0; i < p->n_reads; i++) {
        int64_t step = p->reads[i].step;
        if (step)
            cp_buf_printf(&sql, "%sSELECT %lld::bigint, start_ms, lset_id, %s, start_ms+%lld, -1::bigint, total FROM %s"
                                " WHERE app_id=$1 AND type_id=$2 AND start_ms>=%lld AND start_ms<%lld",
                          i ? " UNION ALL " : "", (long long)step, data, (long long)step,
                          step == CP_STORE_HOUR_MS ? "agg_h" : "agg_m", (long long)p->reads[i].lo,
                          (long long)p->reads[i].hi);
        else
            cp_buf_printf(&sql, "%sSELECT 0::bigint, start_ms, lset_id, %s, end_ms, instance_id, total FROM windows"
                                " WHERE app_id=$1 AND type_id=$2 AND start_ms>=%lld AND start_ms<%lld",
                          i ? " UNION ALL " : "", data, (long long)p->reads[i].lo, (long long)p->reads[i].hi);
    }
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, p->app);
    cp__pgq_i64(&q, p->type);
    PGresult *res = cp__pg_run(p->r->db, (const char *)sql.data, &q, true);
    cp_buf_fini(&sql);
    if (!res) {
        p->rc = CP_EDB;
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        if ((i & 1023) == 1023 && cp__pg_reader_over(p->r)) {
            p->rc = CP_ETIMEOUT;
            break;
        }
        cp_store_rows_add(&p->rows, bin_i64(res, i, 0), bin_i64(res, i, 1), bin_i64(res, i, 4), bin_i64(res, i, 5),
                          bin_i64(res, i, 2), (const uint8_t *)PQgetvalue(res, i, 3),
                          (size_t)PQgetlength(res, i, 3), (uint64_t)bin_i64(res, i, 6));
    }
    PQclear(res);
}

static bool plan_stop(void *ud)
{
    cp__pg_plan_t *p = ud;
    if (!p->rc && cp__pg_reader_over(p->r))
        p->rc = CP_ETIMEOUT;
    return p->rc != 0;
}

void cp__pg_plan_run(cp__pg_plan_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour)
{
    cp_store_plan_t pl = {0};
    p->n_reads = 0;
    pl.use_min = use_min;
    pl.use_hour = use_hour;
    pl.raw_from = pl.min_from = INT64_MAX;
    /* the tiers' state in one round trip: kind 0 = done_ms per step, 1 = a
     * dirty bucket, 2 / 3 = the first raw window / minute row (only when
     * that tier is not used: rows mode) */
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, p->app);
    cp__pgq_i64(&q, p->type);
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT 0::bigint, step, done_ms FROM agg_state WHERE app_id=$1"
             " UNION ALL SELECT 1, step, start_ms FROM dirty WHERE app_id=$1%s%s",
             use_min ? "" : " UNION ALL SELECT 2, 0, min(start_ms) FROM windows WHERE app_id=$1 AND type_id=$2",
             use_hour ? " AND $2=$2" : " UNION ALL SELECT 3, 0, min(start_ms) FROM agg_m WHERE app_id=$1 AND type_id=$2");
    PGresult *res = cp__pg_run(p->r->db, sql, &q, false);
    if (!res && !p->rc)
        p->rc = CP_EDB;
    for (int i = 0; res && i < PQntuples(res); i++) {
        int64_t kind = cp__pg_get_i64(res, i, 0), step = cp__pg_get_i64(res, i, 1);
        bool null = PQgetisnull(res, i, 2);
        int64_t v = cp__pg_get_i64(res, i, 2);
        if (kind == 0 && step == CP_STORE_MIN_MS)
            pl.mdone = v;
        else if (kind == 0 && step == CP_STORE_HOUR_MS)
            pl.hdone = v;
        else if (kind == 1)
            cp_store_plan_dirty(&pl, step, v);
        else if (kind == 2 && !null)
            pl.raw_from = v;
        else if (kind == 3 && !null)
            pl.min_from = v;
    }
    PQclear(res);
    if (p->rows.keep)
        cp_store_plan_raw_start(&pl);
    pl.read = plan_read;
    pl.stop = plan_stop;
    pl.ud = p;
    if (!p->rc)
        cp_store_plan_run(&pl, lo, hi);
    cp_store_plan_fini(&pl);
    plan_fetch(p);
}

int cp__pg_profile(cp_store_reader_t *r_, const cp_store_query_t *q, cp_profile_t *out, char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    cp__pg_plan_t p;
    char *unit = NULL;
    memset(out, 0, sizeof *out);
    int rc = cp__pg_query_setup(r, q, &p, &unit, err, errlen);
    if (rc)
        goto out;
    cp__pg_rapp_t *a = cp__pg_rapp_refresh(r, p.app, &rc);
    if (rc)
        goto out;
    cp__pg_plan_run(&p, q->from_ms, q->to_ms, true, true);
    if ((rc = p.rc))
        goto out;
    cp_store_names_profile(&a->names, &p.rows.acc, out);
    out->unit = unit;
    unit = NULL;
out:
    cp__pg_query_fini(&p);
    free(unit);
    return cp__pg_read_end(r, rc, err, errlen);
}

int cp__pg_timeline(cp_store_reader_t *r_, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                    uint32_t n, cp_buf_t *series, char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    cp__pg_plan_t p;
    int rc = cp__pg_query_setup(r, q, &p, NULL, err, errlen);
    if (rc)
        goto out;
    p.rows.points = points;
    p.rows.npoints = n;
    p.rows.from = q->from_ms;
    p.rows.step = step_ms;
    cp__pg_plan_run(&p, q->from_ms, q->to_ms, step_ms % CP_STORE_MIN_MS == 0, step_ms % CP_STORE_HOUR_MS == 0);
    if ((rc = p.rc))
        goto out;
    rc = cp__pg_series_steps(r, &p, q, step_ms, n, series);
out:
    cp__pg_query_fini(&p);
    return cp__pg_read_end(r, rc, err, errlen);
}
