/* store_pg_read.c - the PostgreSQL engine's other queries: per-window
 * profiles (rows kept and delivered by store_rows.c), series points, the
 * timeline's series object, and the apps / instances documents
 * (store_json.h). Each runs in one read transaction (store_pg_query.c).
 *
 * Thread: the reader's query worker. */
#include "store_pg_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_json.h"
#include "store_steps.h"
#include "store_trace.h"
#include "store_tier.h"

/* id -> text for a query's instances and label sets (small tables). */
typedef struct names_ud {
    cp__pg_reader_t *r;
    PGresult *insts, *lsets, *inst_lsets;
} names_ud_t;

static const char *nbi_get(PGresult *res, int64_t id)
{
    for (int i = 0; res && i < PQntuples(res); i++)
        if (cp__pg_get_i64(res, i, 0) == id)
            return PQgetvalue(res, i, 1);
    return NULL;
}

static const char *row_name(void *ud, int what, int64_t id)
{
    names_ud_t *n = ud;
    return nbi_get(what == CP_STORE_ROWS_LSET ? n->lsets : what == CP_STORE_ROWS_INSTANCE ? n->insts : n->inst_lsets,
                   id);
}

static bool row_over(void *ud) { return cp__pg_reader_over(((names_ud_t *)ud)->r); }

int cp__pg_profile_windows(cp_store_reader_t *r_, const cp_store_query_t *q, unsigned flags, cp_profile_t *out,
                           cp_store_window_fn fn, void *ud, char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    cp__pg_plan_t p;
    char *unit = NULL;
    bool stopped = false;
    names_ud_t nu = {r, NULL, NULL, NULL};
    memset(out, 0, sizeof *out);
    int rc = cp__pg_query_setup(r, q, &p, &unit, err, errlen);
    if (rc)
        goto out;
    cp__pg_rapp_t *a = cp__pg_rapp_refresh(r, p.app, &rc);
    if (rc)
        goto out;
    p.rows.keep = true;
    bool agg = !(flags & CP_STORE_WINDOWS_RAW);
    cp__pg_plan_run(&p, q->from_ms, q->to_ms, agg, agg);
    if ((rc = p.rc))
        goto out;
    cp_store_names_profile(&a->names, &p.rows.acc, out);
    out->unit = unit;
    unit = NULL;
    if (fn) {   /* the snapshot is still open: names match the rows */
        cp__pgq_t k = {0};
        cp__pgq_i64(&k, p.app);
        nu.insts = cp__pg_run(r->db, "SELECT id, iid FROM instances WHERE app_id=$1", &k, false);
        nu.lsets = cp__pg_run(r->db, "SELECT id, canon FROM lsets WHERE app_id=$1", &k, false);
        nu.inst_lsets = cp__pg_run(r->db, "SELECT i.id, l.canon FROM instances i JOIN lsets l ON l.id=i.lset_id"
                                          " WHERE i.app_id=$1", &k, false);
        if (!nu.insts || !nu.lsets || !nu.inst_lsets)
            rc = CP_EDB;
        else
            rc = cp_store_rows_deliver(&p.rows, &a->names, flags, row_name, row_over, &nu, fn, ud, &stopped);
    }
out:
    PQclear(nu.insts);
    PQclear(nu.lsets);
    PQclear(nu.inst_lsets);
    cp__pg_query_fini(&p);
    free(unit);
    if (stopped) {   /* fn's own stop value: not a store failure */
        cp__pg_read_end(r, 0, err, errlen);
        return rc;
    }
    if ((rc = cp__pg_read_end(r, rc, err, errlen)))
        cp_profile_free(out);
    return rc;
}

int cp__pg_series(cp_store_reader_t *r_, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                  char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    cp__pg_plan_t p;
    cp_store_query_t qq = *q;
    qq.type = NULL;
    PGresult *ls = NULL, *st = NULL;
    int rc = cp__pg_query_setup(r, &qq, &p, NULL, err, errlen);
    if (rc)
        goto out;
    cp__pgq_t k = {0};
    cp__pgq_i64(&k, p.app);
    ls = cp__pg_run(r->db, "SELECT id, canon FROM lsets WHERE app_id=$1", &k, false);
    cp__pgq_i64(&k, q->from_ms);
    cp__pgq_i64(&k, q->to_ms);
    st = cp__pg_run(r->db, "SELECT name, t_ms, value, lset_id FROM series WHERE app_id=$1 AND t_ms>=$2"
                           " AND t_ms<$3 ORDER BY t_ms", &k, false);
    if (!ls || !st) {
        rc = CP_EDB;
        goto out;
    }
    for (int i = 0; i < PQntuples(st); i++) {
        int64_t l = cp__pg_get_i64(st, i, 3);
        if (!cp_store_rows_lset_ok(&p.rows, l))
            continue;
        const char *txt = nbi_get(ls, l);
        cp_store_point_t pt = {PQgetvalue(st, i, 0), txt ? txt : "", cp__pg_get_i64(st, i, 1),
                               strtod(PQgetvalue(st, i, 2), NULL)};
        if ((rc = fn(ud, &pt)))
            break;
        if ((i & 1023) == 1023 && cp__pg_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
    }
out:
    PQclear(ls);
    PQclear(st);
    cp__pg_query_fini(&p);
    if (rc > 0) {   /* fn's own stop value */
        cp__pg_read_end(r, 0, err, errlen);
        return rc;
    }
    return cp__pg_read_end(r, rc, err, errlen);
}

int cp__pg_series_steps(cp__pg_reader_t *r, cp__pg_plan_t *p, const cp_store_query_t *q, int64_t step_ms,
                        uint32_t n, cp_buf_t *series)
{
    /* per name, per step: sum for counters/durations, mean for gauges */
    cp__pgq_t k = {0};
    cp__pgq_i64(&k, p->app);
    cp__pgq_i64(&k, q->from_ms);
    cp__pgq_i64(&k, q->to_ms);
    PGresult *st = cp__pg_run(r->db, "SELECT name, t_ms, value, lset_id FROM series WHERE app_id=$1"
                                     " AND t_ms>=$2 AND t_ms<$3 ORDER BY name", &k, false);
    if (!st)
        return CP_EDB;
    cp_store_steps_t w;
    cp_store_steps_init(&w, series, q->from_ms, step_ms, n);
    for (int i = 0; i < PQntuples(st); i++) {
        cp_store_steps_name(&w, PQgetvalue(st, i, 0));
        if (cp_store_rows_lset_ok(&p->rows, cp__pg_get_i64(st, i, 3)))
            cp_store_steps_point(&w, cp__pg_get_i64(st, i, 1), strtod(PQgetvalue(st, i, 2), NULL));
    }
    cp_store_steps_fini(&w);
    PQclear(st);
    return cp__pg_reader_over(r) ? CP_ETIMEOUT : 0;
}

int cp__pg_apps_json(cp_store_reader_t *r_, cp_buf_t *out)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    int rc = cp__pg_read_begin(r);
    PGresult *st = NULL;
    cp_buf_t first;
    cp_buf_init(&first);
    if (rc)
        goto out;
    rc = CP_EDB;
    /* per app, per type, the earliest row of each tier (cp_store_tier_first) */
    st = cp__pg_run(r->db,
        "SELECT a.id, a.name, (SELECT count(*) FROM instances i WHERE i.app_id=a.id),"
        " (SELECT coalesce(sum(connected),0) FROM instances i WHERE i.app_id=a.id),"
        " (SELECT coalesce(max(last_seen),0) FROM instances i WHERE i.app_id=a.id),"
        " t.name, t.id,"
        " (SELECT min(start_ms) FROM windows w WHERE w.app_id=a.id AND w.type_id=t.id),"
        " (SELECT min(start_ms) FROM agg_m w WHERE w.app_id=a.id AND w.type_id=t.id),"
        " (SELECT min(start_ms) FROM agg_h w WHERE w.app_id=a.id AND w.type_id=t.id)"
        " FROM apps a LEFT JOIN app_types x ON x.app_id=a.id LEFT JOIN types t ON t.id=x.type_id"
        " ORDER BY a.name COLLATE \"C\", a.id, t.id", NULL, false);
    if (!st)
        goto out;
    cp_store_json_apps_begin(out);
    int n = 0, k = 0;
    for (int i = 0; i < PQntuples(st); i++) {
        bool new_app = i == 0 || cp__pg_get_i64(st, i, 0) != cp__pg_get_i64(st, i - 1, 0);
        if (new_app) {
            if (i)
                cp_store_json_app_end(out, &first, cp__pg_get_i64(st, i - 1, 4));
            cp_store_json_app_begin(out, n++ == 0, PQgetvalue(st, i, 1), cp__pg_get_i64(st, i, 2),
                                    cp__pg_get_i64(st, i, 3));
            cp_buf_reset(&first);
            k = 0;
        }
        if (PQgetisnull(st, i, 6))
            continue;
        int64_t t[3];
        for (int c = 0; c < 3; c++)
            t[c] = PQgetisnull(st, i, 7 + c) ? -1 : cp__pg_get_i64(st, i, 7 + c);
        cp_store_json_app_type(out, &first, k++ == 0, PQgetvalue(st, i, 5), cp_store_tier_first(t[0], t[1], t[2]));
    }
    if (PQntuples(st))
        cp_store_json_app_end(out, &first, cp__pg_get_i64(st, PQntuples(st) - 1, 4));
    cp_store_json_apps_end(out);
    rc = 0;
out:
    PQclear(st);
    cp_buf_fini(&first);
    return cp__pg_read_end(r, rc, NULL, 0);
}

int cp__pg_instances_json(cp_store_reader_t *r_, const char *app, cp_buf_t *out)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    PGresult *st = NULL, *cn = NULL;
    int rc = cp__pg_read_begin(r);
    if (rc)
        goto out;
    bool err = false;
    int64_t id = cp__pg_read_app(r, app, &err);
    rc = err ? CP_EDB : id < 0 ? CP_ENOTFOUND : 0;
    if (rc)
        goto out;
    rc = CP_EDB;
    cp__pgq_t k = {0};
    cp__pgq_i64(&k, id);
    st = cp__pg_run(r->db, "SELECT id, iid, host, pid, labels, jvm, agent_version, connected, first_seen,"
                           " last_seen, covered_ms FROM instances WHERE app_id=$1"
                           " ORDER BY connected DESC, last_seen DESC", &k, false);
    cn = cp__pg_run(r->db, "SELECT c.instance_id, c.name, c.value FROM counters c JOIN instances i"
                           " ON i.id=c.instance_id WHERE i.app_id=$1 ORDER BY c.instance_id, c.name COLLATE \"C\"", &k, false);
    if (!st || !cn)
        goto out;
    cp_store_json_instances_begin(out);
    for (int i = 0; i < PQntuples(st); i++) {
        cp_store_inst_row_t row = {
            .iid = PQgetvalue(st, i, 1), .host = PQgetvalue(st, i, 2), .pid = cp__pg_get_i64(st, i, 3),
            .labels_json = PQgetvalue(st, i, 4), .jvm = PQgetvalue(st, i, 5),
            .agent_version = PQgetvalue(st, i, 6), .connected = cp__pg_get_i64(st, i, 7) != 0,
            .first_seen_ms = cp__pg_get_i64(st, i, 8), .last_seen_ms = cp__pg_get_i64(st, i, 9),
            .covered_ms = cp__pg_get_i64(st, i, 10),
        };
        cp_store_quality_t qa = {0};
        int64_t iid = cp__pg_get_i64(st, i, 0);
        for (int j = 0; j < PQntuples(cn); j++)
            if (cp__pg_get_i64(cn, j, 0) == iid)
                cp_store_quality_counter(&qa, PQgetvalue(cn, j, 1), cp__pg_get_i64(cn, j, 2));
        cp_store_json_instance(out, i == 0, app, &row, &qa);
        cp_store_quality_fini(&qa);
    }
    cp_store_json_instances_end(out);
    rc = 0;
out:
    PQclear(st);
    PQclear(cn);
    return cp__pg_read_end(r, rc, NULL, 0);
}

/* ---- one trace across apps (store_trace.h) ---- */

int cp__pg_trace_profile(cp_store_reader_t *r_, const cp_store_trace_query_t *q, cp_profile_t *out,
                         char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    memset(out, 0, sizeof *out);
    cp_store_pbuild_t b = {0};
    PGresult *st = NULL, *u = NULL;
    cp__vu64_t loaded = {0};   /* apps whose names were refreshed in this query */
    const char *type = strcmp(q->type, "alloc") ? q->type : "alloc_bytes";
    int rc = cp__pg_read_begin(r);
    if (rc)
        goto out;
    cp__pgq_t k = {0};
    cp__pgq_i64(&k, (int64_t)q->hi);
    cp__pgq_i64(&k, (int64_t)q->lo);
    cp__pgq_i64(&k, q->from_ms);
    cp__pgq_i64(&k, q->to_ms);
    cp__pgq_text(&k, type);
    st = cp__pg_run(r->db, "SELECT t.app_id, a.name, t.data FROM traces t JOIN apps a ON a.id=t.app_id"
                           " JOIN types y ON y.id=t.type_id WHERE t.trace_hi=$1 AND t.trace_lo=$2"
                           " AND t.start_ms>=$3 AND t.start_ms<$4 AND y.name=$5 ORDER BY t.app_id", &k, true);
    if (!st) {
        rc = CP_EDB;
        goto out;
    }
    for (int i = 0; i < PQntuples(st) && !rc; i++) {
        if (cp__pg_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
        uint64_t v;
        memcpy(&v, PQgetvalue(st, i, 0), 8);
        int64_t app = (int64_t)be64toh(v);
        char name[1100];
        snprintf(name, sizeof name, "%.*s", PQgetlength(st, i, 1), PQgetvalue(st, i, 1));
        const char *shown = q->view(q->ud, name);
        if (!shown)
            continue;
        bool fresh = false;
        for (size_t j = 0; j < loaded.n && !fresh; j++)
            fresh = loaded.v[j] == (uint64_t)app;
        cp__pg_rapp_t *a = cp__pg_rapp_refresh(r, app, &rc);   /* cheap when current */
        if (rc)
            break;
        if (!fresh)
            cp__vu64_push(&loaded, (uint64_t)app);
        cp_store_pbuild_row(&b, shown, app, &a->names, PQgetvalue(st, i, 2),
                            (size_t)PQgetlength(st, i, 2));
    }
    if (!rc) {
        cp_store_pbuild_finish(&b, out);
        cp__pgq_reset(&k);
        cp__pgq_text(&k, type);
        u = cp__pg_run(r->db, "SELECT unit FROM types WHERE name=$1", &k, false);
        out->unit = cp__xstrdup(u && PQntuples(u) ? PQgetvalue(u, 0, 0) : "");
    }
out:
    PQclear(st);
    PQclear(u);
    cp_store_pbuild_fini(&b);
    free(loaded.v);
    return cp__pg_read_end(r, rc, err, errlen);
}
