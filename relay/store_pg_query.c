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
    if (!cp__pg_ok(r->db))
        return CP_EUNAVAIL;
    if (cp__pg_cmd(r->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL))
        return PQstatus(r->db) == CONNECTION_OK ? CP_EDB : CP_EUNAVAIL;
    if (r->deadline_ms) {
        int64_t left = r->deadline_ms - mono_ms();
        char sql[64];
        snprintf(sql, sizeof sql, "SET LOCAL statement_timeout=%lld", (long long)(left > 1 ? left : 1));
        cp__pg_cmd(r->db, sql, NULL);
    }
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

/* Reads the rows of one dictionary table with id >= the cached count, in
 * id order, stopping at a gap (ids are committed in order, store_pg_dict.c). */
static PGresult *dict_rows(cp__pg_reader_t *r, const char *sql, int64_t app, uint32_t from)
{
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, app);
    cp__pgq_i64(&q, from);
    return cp__pg_run(r->db, sql, &q, true);
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
    PGresult *res;
    *rc = CP_EDB;
    if (!(res = dict_rows(r, "SELECT id, s FROM strings WHERE app_id=$1 AND id>=$2 ORDER BY id", app,
                          cp_store_names_n_strings(nm))))
        return NULL;
    for (int i = 0; i < PQntuples(res) && be32(PQgetvalue(res, i, 0)) == cp_store_names_n_strings(nm); i++)
        cp_store_names_add_string(nm, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
    PQclear(res);
    if (!(res = dict_rows(r, "SELECT id, class_id, method_id, kind FROM frames WHERE app_id=$1 AND id>=$2"
                             " ORDER BY id", app, cp_store_names_n_frames(nm))))
        return NULL;
    for (int i = 0; i < PQntuples(res) && be32(PQgetvalue(res, i, 0)) == cp_store_names_n_frames(nm); i++)
        cp_store_names_add_frame(nm, be32(PQgetvalue(res, i, 1)), be32(PQgetvalue(res, i, 2)),
                                 (uint8_t)be32(PQgetvalue(res, i, 3)));
    PQclear(res);
    if (!(res = dict_rows(r, "SELECT id, frames FROM stacks WHERE app_id=$1 AND id>=$2 ORDER BY id", app,
                          cp_store_names_n_stacks(nm))))
        return NULL;
    for (int i = 0; i < PQntuples(res) && be32(PQgetvalue(res, i, 0)) == cp_store_names_n_stacks(nm); i++)
        cp_store_names_add_stack(nm, (const uint8_t *)PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
    PQclear(res);
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
    bool e = false;
    p->app = cp__pg_read_app(r, q->app, &e);
    if (e)
        return CP_EDB;
    if (p->app < 0) {
        snprintf(err, errlen, "unknown app '%s'", q->app);
        return CP_ENOTFOUND;
    }
    p->type = -1;
    if (q->type) {   /* NULL: a query of series only */
        cp__pgq_t k = {0};
        cp__pgq_i64(&k, p->app);
        /* "alloc" is the API's short name for the agent's "alloc_bytes" (docs/api.md) */
        cp__pgq_text(&k, strcmp(q->type, "alloc") ? q->type : "alloc_bytes");
        PGresult *res = cp__pg_run(r->db, "SELECT t.id, t.unit FROM types t JOIN app_types a ON a.type_id=t.id"
                                          " WHERE a.app_id=$1 AND t.name=$2", &k, false);
        if (!res)
            return CP_EDB;
        if (PQntuples(res)) {
            p->type = cp__pg_get_i64(res, 0, 0);
            if (unit)
                *unit = cp__xstrdup(PQgetvalue(res, 0, 1));
        }
        PQclear(res);
        if (p->type < 0) {
            snprintf(err, errlen, "unknown type '%s' for app '%s'", q->type, q->app);
            return CP_ENOTFOUND;
        }
    }
    if (q->labels && *q->labels) {
        cp__pgq_t k = {0};
        cp__pgq_i64(&k, p->app);
        PGresult *res = cp__pg_run(r->db, "SELECT id, canon FROM lsets WHERE app_id=$1", &k, false);
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
    cp_store_rows_fini(&p->rows);
}

static int64_t bin_i64(const PGresult *res, int row, int col)
{
    uint64_t v;
    memcpy(&v, PQgetvalue(res, row, col), 8);
    return (int64_t)be64toh(v);
}

/* cp_store_plan_read_fn: one tier (step 0 = raw windows) for [lo, hi). */
static void plan_read(void *ud, int64_t step, int64_t lo, int64_t hi)
{
    cp__pg_plan_t *p = ud;
    if (lo >= hi || p->rc)
        return;
    if (cp__pg_reader_over(p->r)) {
        p->rc = CP_ETIMEOUT;
        return;
    }
    char sql[300];
    const char *data = p->rows.keep || !p->rows.points ? "data" : "''::bytea";
    if (step)
        snprintf(sql, sizeof sql, "SELECT start_ms, lset_id, %s, start_ms+%lld, -1::bigint, total FROM %s"
                                  " WHERE app_id=$1 AND type_id=$2 AND start_ms>=$3 AND start_ms<$4", data,
                 (long long)step, step == CP_STORE_HOUR_MS ? "agg_h" : "agg_m");
    else
        snprintf(sql, sizeof sql, "SELECT start_ms, lset_id, %s, end_ms, instance_id, total FROM windows"
                                  " WHERE app_id=$1 AND type_id=$2 AND start_ms>=$3 AND start_ms<$4", data);
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, p->app);
    cp__pgq_i64(&q, p->type);
    cp__pgq_i64(&q, lo);
    cp__pgq_i64(&q, hi);
    PGresult *res = cp__pg_run(p->r->db, sql, &q, true);
    if (!res) {
        p->rc = CP_EDB;
        return;
    }
    for (int i = 0; i < PQntuples(res); i++)
        cp_store_rows_add(&p->rows, step, bin_i64(res, i, 0), bin_i64(res, i, 3), bin_i64(res, i, 4),
                          bin_i64(res, i, 1), (const uint8_t *)PQgetvalue(res, i, 2),
                          (size_t)PQgetlength(res, i, 2), (uint64_t)bin_i64(res, i, 5));
    PQclear(res);
}

static bool plan_stop(void *ud)
{
    cp__pg_plan_t *p = ud;
    if (!p->rc && cp__pg_reader_over(p->r))
        p->rc = CP_ETIMEOUT;
    return p->rc != 0;
}

static int64_t q2(cp__pg_plan_t *p, const char *sql, int64_t dflt)
{
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, p->app);
    cp__pgq_i64(&q, p->type);
    bool err = false;
    int64_t v = cp__pg_i64(p->r->db, sql, &q, dflt, &err);
    if (err && !p->rc)
        p->rc = CP_EDB;
    return v;
}

void cp__pg_plan_run(cp__pg_plan_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour)
{
    cp_store_plan_t pl = {0};
    pl.mdone = q2(p, "SELECT done_ms FROM agg_state WHERE app_id=$1 AND step=60000 AND $2=$2", 0);
    pl.hdone = q2(p, "SELECT done_ms FROM agg_state WHERE app_id=$1 AND step=3600000 AND $2=$2", 0);
    pl.use_min = use_min;
    pl.use_hour = use_hour;
    pl.raw_from = pl.min_from = INT64_MAX;
    if (!use_min)
        pl.raw_from = q2(p, "SELECT min(start_ms) FROM windows WHERE app_id=$1 AND type_id=$2", INT64_MAX);
    if (!use_hour)
        pl.min_from = q2(p, "SELECT min(start_ms) FROM agg_m WHERE app_id=$1 AND type_id=$2", INT64_MAX);
    /* rows mode asks for raw windows: the minute of the first raw window is
     * raw-complete when no minute row precedes it */
    if (p->rows.keep && !use_min && pl.raw_from != INT64_MAX &&
        pl.min_from >= cp_store_tier_floor(pl.raw_from, CP_STORE_MIN_MS))
        pl.raw_from = cp_store_tier_floor(pl.raw_from, CP_STORE_MIN_MS);
    pl.read = plan_read;
    pl.stop = plan_stop;
    pl.ud = p;
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, p->app);
    PGresult *res = cp__pg_run(p->r->db, "SELECT step, start_ms FROM dirty WHERE app_id=$1", &q, false);
    if (!res && !p->rc)
        p->rc = CP_EDB;
    for (int i = 0; res && i < PQntuples(res); i++)
        cp_store_plan_dirty(&pl, cp__pg_get_i64(res, i, 0), cp__pg_get_i64(res, i, 1));
    PQclear(res);
    if (!p->rc)
        cp_store_plan_run(&pl, lo, hi);
    cp_store_plan_fini(&pl);
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
