/* store_sqlite_query.c - the SQLite engine's query side: reader
 * connections, the incremental name cache per app (store_names.h), profile
 * and timeline queries through the tier planner (store_tier.h), and the
 * apps/instances documents (store_json.h).
 *
 * Thread: each cp__sqlite_reader_t belongs to one query worker; every query
 * runs in one read transaction, so it sees one consistent snapshot while
 * the writer goes on (WAL). */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "store_json.h"
#include "store_names.h"
#include "store_steps.h"
#include "store_tier.h"

bool cp__sqlite_reader_over(const cp__sqlite_reader_t *r)
{
    if (r->cancel && __atomic_load_n(r->cancel, __ATOMIC_RELAXED))
        return true;
    if (!r->deadline_ms)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= r->deadline_ms;
}
static int reader_progress(void *ud) { return cp__sqlite_reader_over(ud); }

void cp__sqlite_reader_set_limit(cp__sqlite_reader_t *r, int64_t deadline_ms, const bool *cancel)
{
    r->deadline_ms = deadline_ms;
    r->cancel = cancel;
    sqlite3_progress_handler(r->db, deadline_ms || cancel ? 1000 : 0, reader_progress, r);
}

int cp__sqlite_reader_open(const char *dir, cp__sqlite_reader_t **out)
{
    cp__sqlite_reader_t *r = cp__xcalloc(1, sizeof *r);
    r->base.eng = &cp__store_sqlite_engine;
    int rc = cp__sqlite_open_db(dir, false, &r->db);
    if (rc) {
        free(r);
        return rc;
    }
    if (!(r->app_id = cp__sqlite_prep(r->db, "SELECT id FROM apps WHERE name=?")) ||
        !(r->type_id = cp__sqlite_prep(r->db, "SELECT t.id, t.unit FROM types t JOIN app_types a ON a.type_id=t.id"
                                       " WHERE a.app_id=? AND t.name=?"))) {
        cp__sqlite_reader_close(r);
        return CP_EDB;
    }
    *out = r;
    return 0;
}

void cp__sqlite_reader_close(cp__sqlite_reader_t *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->app_id);
    sqlite3_finalize(r->type_id);
    sqlite3_close(r->db);
    while (r->apps) {
        cp__sqlite_rapp_t *n = r->apps->next;
        cp_store_names_fini(&r->apps->names);
        free(r->apps);
        r->apps = n;
    }
    free(r);
}

int cp__sqlite_rapp_refresh(cp__sqlite_reader_t *r, cp__sqlite_rapp_t *a)
{
    cp_store_names_t *nm = &a->names;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT id, s FROM strings WHERE app_id=? AND id>=? ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, cp_store_names_n_strings(nm));
    while (sqlite3_step(st) == SQLITE_ROW)
        cp_store_names_add_string(nm, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(r->db, "SELECT class_id, method_id, kind FROM frames WHERE app_id=? AND id>=?"
                                  " ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, cp_store_names_n_frames(nm));
    while (sqlite3_step(st) == SQLITE_ROW)
        cp_store_names_add_frame(nm, (uint32_t)sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
                                 (uint8_t)sqlite3_column_int(st, 2));
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(r->db, "SELECT frames FROM stacks WHERE app_id=? AND id>=? ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, cp_store_names_n_stacks(nm));
    while (sqlite3_step(st) == SQLITE_ROW)
        cp_store_names_add_stack(nm, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    return 0;
}

static int64_t reader_app(cp__sqlite_reader_t *r, const char *name)
{
    int64_t id = -1;
    sqlite3_reset(r->app_id);
    sqlite3_bind_text(r->app_id, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(r->app_id) == SQLITE_ROW)
        id = sqlite3_column_int64(r->app_id, 0);
    sqlite3_reset(r->app_id);
    return id;
}

cp__sqlite_rapp_t *cp__sqlite_reader_rapp(cp__sqlite_reader_t *r, int64_t id)
{
    for (cp__sqlite_rapp_t *a = r->apps; a; a = a->next)
        if (a->id == id)
            return a;
    cp__sqlite_rapp_t *a = cp__xcalloc(1, sizeof *a);
    a->id = id;
    a->next = r->apps;
    r->apps = a;
    return a;
}

bool cp__sqlite_lset_allowed(const cp__sqlite_plan_t *p, int64_t l)
{
    return !p->lset_ok || (l >= 0 && l < p->n_lset && p->lset_ok[l]);
}

/* cp_store_plan_read_fn: reads one tier (step 0 = raw windows) for [lo, hi). */
static void plan_read(void *ud, int64_t step, int64_t lo, int64_t hi)
{
    cp__sqlite_plan_t *p = ud;
    if (lo >= hi || p->rc)
        return;
    sqlite3_stmt *st = NULL;
    const char *cols = p->row ? (step ? "start_ms, lset_id, data, start_ms + step, -1"
                                      : "start_ms, lset_id, data, end_ms, instance_id")
                     : p->acc ? "start_ms, lset_id, data" : "start_ms, lset_id, total";
    char sql[300];
    if (step)
        snprintf(sql, sizeof sql, "SELECT %s FROM agg WHERE app_id=?1 AND step=?4 AND type_id=?2"
                                  " AND start_ms>=?3 AND start_ms<?5", cols);
    else
        snprintf(sql, sizeof sql, "SELECT %s FROM windows WHERE app_id=?1 AND type_id=?2"
                                  " AND start_ms>=?3 AND start_ms<?5 AND ?4=?4", cols);
    if (sqlite3_prepare_v2(p->r->db, sql, -1, &st, NULL)) {
        p->rc = CP_EDB;
        return;
    }
    sqlite3_bind_int64(st, 1, p->app);
    sqlite3_bind_int64(st, 2, p->type);
    sqlite3_bind_int64(st, 3, lo);
    sqlite3_bind_int64(st, 4, step);
    sqlite3_bind_int64(st, 5, hi);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (cp__sqlite_reader_over(p->r))
            break;
        if (!cp__sqlite_lset_allowed(p, sqlite3_column_int64(st, 1)))
            continue;
        if (p->row) {
            p->row(p, step, st);
        } else if (p->acc) {
            cp_store_blob_each(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                               cp_store_blob_acc_add, p->acc);
        } else {
            int64_t t = sqlite3_column_int64(st, 0);
            if (t < p->from)
                continue;
            uint64_t i = (uint64_t)((t - p->from) / p->step);
            if (i < p->npoints)
                p->points[i] += (uint64_t)sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_finalize(st);
    if (cp__sqlite_reader_over(p->r))
        p->rc = CP_ETIMEOUT;
}

/* cp_store_plan_t.stop: the deadline passed or a read failed. */
static bool plan_stop(void *ud)
{
    cp__sqlite_plan_t *p = ud;
    if (!p->rc && cp__sqlite_reader_over(p->r))
        p->rc = CP_ETIMEOUT;
    return p->rc != 0;
}

void cp__sqlite_plan_run(cp__sqlite_plan_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour)
{
    cp_store_plan_t pl = {0};
    pl.mdone = cp__sqlite_i64(p->r->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?",
                              p->app, CP_STORE_MIN_MS, 0);
    pl.hdone = cp__sqlite_i64(p->r->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?",
                              p->app, CP_STORE_HOUR_MS, 0);
    pl.use_min = use_min;
    pl.use_hour = use_hour;
    pl.raw_from = pl.min_from = INT64_MAX;
    if (!use_min)
        pl.raw_from = cp__sqlite_i64(p->r->db, "SELECT min(start_ms) FROM windows WHERE app_id=?1 AND type_id=?2",
                                     p->app, p->type, INT64_MAX);
    if (!use_hour)
        pl.min_from = cp__sqlite_i64(p->r->db, "SELECT min(start_ms) FROM agg WHERE app_id=?1 AND step=60000"
                                     " AND type_id=?2", p->app, p->type, INT64_MAX);
    if (p->row)
        cp_store_plan_raw_start(&pl);
    pl.read = plan_read;
    pl.stop = plan_stop;
    pl.ud = p;
    sqlite3_stmt *st = NULL;
    if (!sqlite3_prepare_v2(p->r->db, "SELECT step, start_ms FROM dirty WHERE app_id=?", -1, &st, NULL)) {
        sqlite3_bind_int64(st, 1, p->app);
        while (sqlite3_step(st) == SQLITE_ROW)
            cp_store_plan_dirty(&pl, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    cp_store_plan_run(&pl, lo, hi);
    cp_store_plan_fini(&pl);
}

int cp__sqlite_query_setup(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp__sqlite_plan_t *p,
                           uint8_t **lset_ok, char **unit, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->r = r;
    if (cp__sqlite_exec(r->db, "BEGIN"))
        return CP_EDB;
    p->app = reader_app(r, q->app);
    if (p->app < 0) {
        snprintf(err, errlen, "unknown app '%s'", q->app);
        return CP_ENOTFOUND;
    }
    p->type = -1;
    if (q->type) {   /* NULL: a query of series only */
        sqlite3_reset(r->type_id);
        sqlite3_bind_int64(r->type_id, 1, p->app);
        /* "alloc" is the API's short name for the agent's "alloc_bytes" (docs/api.md) */
        sqlite3_bind_text(r->type_id, 2, strcmp(q->type, "alloc") ? q->type : "alloc_bytes", -1,
                          SQLITE_TRANSIENT);
        if (sqlite3_step(r->type_id) == SQLITE_ROW) {
            p->type = sqlite3_column_int64(r->type_id, 0);
            if (unit)
                *unit = cp__xstrdup((const char *)sqlite3_column_text(r->type_id, 1));
        }
        sqlite3_reset(r->type_id);
        if (p->type < 0) {
            snprintf(err, errlen, "unknown type '%s' for app '%s'", q->type, q->app);
            return CP_ENOTFOUND;
        }
    }
    *lset_ok = NULL;
    if (q->labels && *q->labels) {
        sqlite3_stmt *st = NULL;
        int64_t maxid = cp__sqlite_i64(r->db, "SELECT max(id) FROM lsets WHERE ?=?", 0, 0, 0);
        uint8_t *ok = cp__xcalloc((size_t)maxid + 1, 1);
        if (sqlite3_prepare_v2(r->db, "SELECT id, canon FROM lsets WHERE app_id=?", -1, &st, NULL)) {
            free(ok);
            return CP_EDB;
        }
        sqlite3_bind_int64(st, 1, p->app);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            if (id <= maxid && cp_store_labels_match((const char *)sqlite3_column_text(st, 1), q->labels))
                ok[id] = 1;
        }
        sqlite3_finalize(st);
        *lset_ok = ok;
        p->lset_ok = ok;
        p->n_lset = maxid + 1;
    }
    return 0;
}

int cp__sqlite_profile(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_profile_t *out,
                     char *err, size_t errlen)
{
    cp__sqlite_plan_t p;
    uint8_t *lset_ok = NULL;
    char *unit = NULL;
    cp_store_blob_acc_t acc = {0};
    memset(out, 0, sizeof *out);
    int rc = cp__sqlite_query_setup(r, q, &p, &lset_ok, &unit, err, errlen);
    if (rc)
        goto out;
    cp__sqlite_rapp_t *a = cp__sqlite_reader_rapp(r, p.app);
    if ((rc = cp__sqlite_rapp_refresh(r, a)))
        goto out;
    p.acc = &acc;
    cp__sqlite_plan_run(&p, q->from_ms, q->to_ms, true, true);
    if ((rc = p.rc))
        goto out;
    cp_store_names_profile(&a->names, &acc, out);
    out->unit = unit;
    unit = NULL;
out:
    free(acc.v);
    free(lset_ok);
    free(unit);
    return cp__sqlite_query_end(r, rc, err, errlen);
}

int cp__sqlite_query_end(cp__sqlite_reader_t *r, int rc, char *err, size_t errlen)
{
    if (rc && rc != CP_ENOTFOUND && cp__sqlite_reader_over(r))
        rc = CP_ETIMEOUT;   /* an interrupted statement fails as CP_EDB */
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    if (rc && rc != CP_ENOTFOUND && !*err)
        snprintf(err, errlen, "%s", cp_strerror(rc));
    return rc;
}

int cp__sqlite_timeline(cp__sqlite_reader_t *r, const cp_store_query_t *q, int64_t step_ms,
                      uint64_t *points, uint32_t n, cp_buf_t *series, char *err, size_t errlen)
{
    cp__sqlite_plan_t p;
    uint8_t *lset_ok = NULL;
    int rc = cp__sqlite_query_setup(r, q, &p, &lset_ok, NULL, err, errlen);
    if (rc)
        goto out;
    p.points = points;
    p.npoints = n;
    p.from = q->from_ms;
    p.step = step_ms;
    cp__sqlite_plan_run(&p, q->from_ms, q->to_ms, step_ms % CP_STORE_MIN_MS == 0, step_ms % CP_STORE_HOUR_MS == 0);
    if ((rc = p.rc))
        goto out;
    /* series: per name, per step; sum for counters/durations, mean for gauges */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT name, t_ms, value, lset_id FROM series WHERE app_id=? AND t_ms>=?"
                                  " AND t_ms<? ORDER BY name", -1, &st, NULL)) {
        rc = CP_EDB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, p.app);
    sqlite3_bind_int64(st, 2, q->from_ms);
    sqlite3_bind_int64(st, 3, q->to_ms);
    cp_store_steps_t w;
    cp_store_steps_init(&w, series, q->from_ms, step_ms, n);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        cp_store_steps_name(&w, name ? name : "");
        if (cp__sqlite_lset_allowed(&p, sqlite3_column_int64(st, 3)))
            cp_store_steps_point(&w, sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2));
    }
    cp_store_steps_fini(&w);
    sqlite3_finalize(st);
    if (cp__sqlite_reader_over(r))
        rc = CP_ETIMEOUT;   /* the series were cut short */
out:
    free(lset_ok);
    return cp__sqlite_query_end(r, rc, err, errlen);
}


/* Earliest row start of each tier for (app, type), -1 where none; each a
 * min() over an index prefix (windows_kl, agg_k): a few b-tree steps. */
static int64_t first_sample_ms(sqlite3_stmt *fs, int64_t app_id, int64_t type_id)
{
    sqlite3_reset(fs);
    sqlite3_bind_int64(fs, 1, app_id);
    sqlite3_bind_int64(fs, 2, type_id);
    sqlite3_bind_int64(fs, 3, CP_STORE_MIN_MS);
    sqlite3_bind_int64(fs, 4, CP_STORE_HOUR_MS);
    if (sqlite3_step(fs) != SQLITE_ROW)
        return -1;
    int64_t t[3];
    for (int k = 0; k < 3; k++)
        t[k] = sqlite3_column_type(fs, k) == SQLITE_NULL ? -1 : sqlite3_column_int64(fs, k);
    return cp_store_tier_first(t[0], t[1], t[2]);
}

int cp__sqlite_apps_json(cp__sqlite_reader_t *r, cp_buf_t *out)
{
    sqlite3_stmt *st = NULL, *ty = NULL, *fs = NULL;
    cp_buf_t first;
    cp_buf_init(&first);
    int rc = CP_EDB;
    if (sqlite3_prepare_v2(r->db,
            "SELECT a.id, a.name, count(i.id), coalesce(sum(i.connected),0), coalesce(max(i.last_seen),0)"
            " FROM apps a LEFT JOIN instances i ON i.app_id=a.id GROUP BY a.id ORDER BY a.name",
            -1, &st, NULL) ||
        sqlite3_prepare_v2(r->db, "SELECT t.name, t.id FROM app_types a JOIN types t ON t.id=a.type_id"
                                  " WHERE a.app_id=? ORDER BY t.id", -1, &ty, NULL) ||
        sqlite3_prepare_v2(r->db,
            "SELECT (SELECT min(start_ms) FROM windows WHERE app_id=?1 AND type_id=?2),"
            " (SELECT min(start_ms) FROM agg WHERE app_id=?1 AND step=?3 AND type_id=?2),"
            " (SELECT min(start_ms) FROM agg WHERE app_id=?1 AND step=?4 AND type_id=?2)",
            -1, &fs, NULL))
        goto out;
    cp_store_json_apps_begin(out);
    for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
        int64_t app_id = sqlite3_column_int64(st, 0);
        cp_store_json_app_begin(out, n == 0, (const char *)sqlite3_column_text(st, 1),
                                sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
        cp_buf_reset(&first);
        sqlite3_reset(ty);
        sqlite3_bind_int64(ty, 1, app_id);
        for (int k = 0; sqlite3_step(ty) == SQLITE_ROW; k++)
            cp_store_json_app_type(out, &first, k == 0, (const char *)sqlite3_column_text(ty, 0),
                                   first_sample_ms(fs, app_id, sqlite3_column_int64(ty, 1)));
        cp_store_json_app_end(out, &first, sqlite3_column_int64(st, 4));
    }
    cp_store_json_apps_end(out);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ty);
    sqlite3_finalize(fs);
    cp_buf_fini(&first);
    return rc;
}

int cp__sqlite_instances_json(cp__sqlite_reader_t *r, const char *app, cp_buf_t *out)
{
    int64_t id = reader_app(r, app);
    if (id < 0)
        return CP_ENOTFOUND;
    sqlite3_stmt *st = NULL, *cn = NULL;
    int rc = CP_EDB;
    if (sqlite3_prepare_v2(r->db,
            "SELECT id, iid, host, pid, labels, jvm, agent_version, connected, first_seen, last_seen,"
            " covered_ms FROM instances WHERE app_id=? ORDER BY connected DESC, last_seen DESC",
            -1, &st, NULL) ||
        sqlite3_prepare_v2(r->db, "SELECT name, value FROM counters WHERE instance_id=?", -1, &cn, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    cp_store_json_instances_begin(out);
    for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
        cp_store_inst_row_t row = {
            .iid = (const char *)sqlite3_column_text(st, 1),
            .host = (const char *)sqlite3_column_text(st, 2),
            .pid = sqlite3_column_int64(st, 3),
            .labels_json = (const char *)sqlite3_column_text(st, 4),
            .jvm = (const char *)sqlite3_column_text(st, 5),
            .agent_version = (const char *)sqlite3_column_text(st, 6),
            .connected = sqlite3_column_int(st, 7) != 0,
            .first_seen_ms = sqlite3_column_int64(st, 8),
            .last_seen_ms = sqlite3_column_int64(st, 9),
            .covered_ms = sqlite3_column_int64(st, 10),
        };
        cp_store_quality_t q = {0};
        sqlite3_reset(cn);
        sqlite3_bind_int64(cn, 1, sqlite3_column_int64(st, 0));
        while (sqlite3_step(cn) == SQLITE_ROW)
            cp_store_quality_counter(&q, (const char *)sqlite3_column_text(cn, 0), sqlite3_column_int64(cn, 1));
        cp_store_json_instance(out, n == 0, app, &row, &q);
        cp_store_quality_fini(&q);
    }
    cp_store_json_instances_end(out);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cn);
    return rc;
}
