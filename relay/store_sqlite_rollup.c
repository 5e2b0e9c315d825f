/* store_sqlite_rollup.c - the SQLite writer's maintenance: building minute
 * and hour aggregates (rules and merging in store_tier.c), recomputing dirty
 * buckets, and expiring each tier once a coarser one covers it.
 *
 * Thread: store worker only; cp_store_maintain runs its own transaction and
 * does bounded work per call (MAX_BUCKETS_PER_PASS) so ingest is not held
 * up for long. */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_tier.h"

/* Aggregates rows of src (step 0 = windows, else agg rows of that step) with
 * start in [lo, hi) into agg rows of dst_step, for every type of the app. */
static int downsample(cp__sqlite_t *s, int64_t app, int64_t src_step, int64_t dst_step, int64_t lo, int64_t hi)
{
    sqlite3_stmt *types = NULL, *rd = NULL, *wr = NULL;
    cp_store_rollup_t ru = {0};
    int rc = CP_EDB;
    const char *q = src_step ? "SELECT start_ms, lset_id, data FROM agg WHERE app_id=?1 AND step=?4"
                               " AND type_id=?2 AND start_ms>=?3 AND start_ms<?5"
                             : "SELECT start_ms, lset_id, data FROM windows WHERE app_id=?1"
                               " AND type_id=?2 AND start_ms>=?3 AND start_ms<?5 AND ?4=?4";
    if (sqlite3_prepare_v2(s->db, "SELECT type_id FROM app_types WHERE app_id=?", -1, &types, NULL) ||
        sqlite3_prepare_v2(s->db, q, -1, &rd, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO agg(app_id,step,type_id,start_ms,lset_id,total,data)"
                                  " VALUES(?,?,?,?,?,?,?)", -1, &wr, NULL))
        goto out;
    sqlite3_bind_int64(types, 1, app);
    while (sqlite3_step(types) == SQLITE_ROW) {
        int64_t tid = sqlite3_column_int64(types, 0);
        sqlite3_reset(rd);
        sqlite3_bind_int64(rd, 1, app);
        sqlite3_bind_int64(rd, 2, tid);
        sqlite3_bind_int64(rd, 3, lo);
        sqlite3_bind_int64(rd, 4, src_step);
        sqlite3_bind_int64(rd, 5, hi);
        cp_store_rollup_begin(&ru, lo, dst_step);
        while (sqlite3_step(rd) == SQLITE_ROW)
            cp_store_rollup_add(&ru, sqlite3_column_int64(rd, 0), sqlite3_column_int64(rd, 1),
                                sqlite3_column_blob(rd, 2), (size_t)sqlite3_column_bytes(rd, 2));
        for (size_t i = 0; i < ru.n; i++) {
            int64_t bucket, lset;
            uint64_t total = cp_store_rollup_encode(&ru, i, &bucket, &lset, &s->tmp2);
            sqlite3_bind_int64(wr, 1, app);
            sqlite3_bind_int64(wr, 2, dst_step);
            sqlite3_bind_int64(wr, 3, tid);
            sqlite3_bind_int64(wr, 4, bucket);
            sqlite3_bind_int64(wr, 5, lset);
            sqlite3_bind_int64(wr, 6, (int64_t)total);
            sqlite3_bind_blob(wr, 7, s->tmp2.data ? (void *)s->tmp2.data : (void *)"", (int)s->tmp2.len,
                              SQLITE_STATIC);
            if (cp__sqlite_step_done(wr))
                goto out;
        }
    }
    rc = 0;
out:
    cp_store_rollup_fini(&ru);
    sqlite3_finalize(types);
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    return rc;
}

static int set_done(cp__sqlite_t *s, int64_t app, int64_t step, int64_t done)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO agg_state(app_id,step,done_ms) VALUES(?,?,?)",
                           -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, app);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int64(st, 3, done);
    int rc = cp__sqlite_step_done(st);
    sqlite3_finalize(st);
    return rc;
}

#define MAX_BUCKETS_PER_PASS 10   /* bounds how long one pass holds the writer */

/* One bounded pass for one app; returns 1 if more work is pending. */
static int maintain_app(cp__sqlite_t *s, cp__sqlite_app_t *a, int64_t now)
{
    int rc, more = 0;
    /* dirty buckets (late data) */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT step, start_ms FROM dirty WHERE app_id=? ORDER BY step LIMIT 64",
                           -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    int64_t d[64][2];
    int nd = 0;
    while (nd < 64 && sqlite3_step(st) == SQLITE_ROW) {
        d[nd][0] = sqlite3_column_int64(st, 0);
        d[nd][1] = sqlite3_column_int64(st, 1);
        nd++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nd; i++) {
        int64_t step = d[i][0], b = d[i][1];
        if ((rc = downsample(s, a->id, step == CP_STORE_MIN_MS ? 0 : CP_STORE_MIN_MS, step, b, b + step)))
            return rc;
        char sql[200];
        snprintf(sql, sizeof sql, "DELETE FROM dirty WHERE app_id=%lld AND step=%lld AND start_ms=%lld",
                 (long long)a->id, (long long)step, (long long)b);
        if ((rc = cp__sqlite_exec(s->db, sql)))
            return rc;
        if (step == CP_STORE_MIN_MS && cp_store_tier_floor(b, CP_STORE_HOUR_MS) < a->hdone) {
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO dirty(app_id,step,start_ms) VALUES(%lld,%lld,%lld)",
                     (long long)a->id, (long long)CP_STORE_HOUR_MS, (long long)cp_store_tier_floor(b, CP_STORE_HOUR_MS));
            if ((rc = cp__sqlite_exec(s->db, sql)))
                return rc;
            more = 1;
        }
    }
    if (nd == 64)
        more = 1;

    /* minute aggregation up to now - grace */
    int64_t target = cp_store_tier_floor(now - s->cfg.grace_ms, CP_STORE_MIN_MS);
    if (a->mdone == 0) {
        int64_t first = cp__sqlite_i64(s->db, "SELECT min(start_ms) FROM windows WHERE app_id=?1 AND ?2=?2",
                                  a->id, 0, INT64_MIN);
        a->mdone = first == INT64_MIN ? target : cp_store_tier_floor(first, CP_STORE_MIN_MS);
    }
    if (a->mdone < target) {
        int64_t hi = a->mdone + MAX_BUCKETS_PER_PASS * CP_STORE_MIN_MS;
        if (hi > target)
            hi = target;
        else
            more = 1;
        /* skip empty stretches quickly */
        int64_t next = cp__sqlite_i64(s->db, "SELECT min(start_ms) FROM windows WHERE app_id=? AND start_ms>=?",
                                 a->id, a->mdone, INT64_MIN);
        if (next == INT64_MIN || next >= target) {
            hi = target;
        } else if (cp_store_tier_floor(next, CP_STORE_MIN_MS) > a->mdone) {
            a->mdone = cp_store_tier_floor(next, CP_STORE_MIN_MS);
            hi = a->mdone + MAX_BUCKETS_PER_PASS * CP_STORE_MIN_MS;
            if (hi > target)
                hi = target;
        }
        if ((rc = downsample(s, a->id, 0, CP_STORE_MIN_MS, a->mdone, hi)))
            return rc;
        a->mdone = hi;
        if ((rc = set_done(s, a->id, CP_STORE_MIN_MS, hi)))
            return rc;
    }
    /* hour aggregation up to the minute watermark */
    int64_t htarget = cp_store_tier_floor(a->mdone, CP_STORE_HOUR_MS);
    if (a->hdone == 0)
        a->hdone = cp_store_tier_floor(cp__sqlite_i64(s->db, "SELECT min(start_ms) FROM agg WHERE app_id=? AND step=?",
                                      a->id, CP_STORE_MIN_MS, htarget), CP_STORE_HOUR_MS);
    if (a->hdone < htarget) {
        int64_t hi = a->hdone + 6 * CP_STORE_HOUR_MS;
        if (hi > htarget)
            hi = htarget;
        else
            more = 1;
        if ((rc = downsample(s, a->id, CP_STORE_MIN_MS, CP_STORE_HOUR_MS, a->hdone, hi)))
            return rc;
        a->hdone = hi;
        if ((rc = set_done(s, a->id, CP_STORE_HOUR_MS, hi)))
            return rc;
    }
    /* expiry: only what a coarser tier already covers */
    cp_store_cuts_t cut;
    cp_store_tier_cuts(&s->cfg, now, a->mdone, a->hdone, &cut);
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM windows WHERE app_id=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;"
             "DELETE FROM series WHERE app_id=%lld AND t_ms<%lld;"
             "DELETE FROM traces WHERE app_id=%lld AND start_ms<%lld;",
             (long long)a->id, (long long)a->id, (long long)cut.windows, (long long)a->id,
             (long long)cut.series, (long long)a->id, (long long)cut.windows);
    if ((rc = cp__sqlite_exec(s->db, sql)))
        return rc;
    snprintf(sql, sizeof sql,
             "DELETE FROM agg WHERE app_id=%lld AND step=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;"
             "DELETE FROM agg WHERE app_id=%lld AND step=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;",
             (long long)a->id, (long long)CP_STORE_MIN_MS, (long long)a->id, (long long)cut.minutes,
             (long long)a->id, (long long)CP_STORE_HOUR_MS, (long long)a->id, (long long)cut.hours);
    if ((rc = cp__sqlite_exec(s->db, sql)))
        return rc;
    return more;
}

int cp__sqlite_maintain(cp__sqlite_t *s, int64_t now_ms)
{
    /* make sure every app in the database is known (apps seen in earlier runs) */
    sqlite3_stmt *st = NULL;
    char **names = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM apps", -1, &st, NULL))
        return CP_EDB;
    while (sqlite3_step(st) == SQLITE_ROW) {
        names = cp__xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = cp__xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    int rc = cp__sqlite_begin(s), more = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        cp__sqlite_app_t *a;
        if ((rc = cp__sqlite_get_app(s, names[i], false, &a)) == 0) {
            cp__sqlite_touch_app(s, a);
            rc = maintain_app(s, a, now_ms);
            if (rc > 0)
                more = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    /* the trace index is bounded: the oldest rows past the cap go */
    if (rc >= 0) {
        char sql[160];
        snprintf(sql, sizeof sql, "DELETE FROM traces WHERE id <= (SELECT max(id) FROM traces) - %d",
                 CP_STORE_TRACE_MAX_ROWS);
        if (cp__sqlite_exec(s->db, sql))
            rc = CP_EDB;
    }
    if (rc < 0) {
        cp__sqlite_rollback(s);
        return rc;
    }
    rc = cp__sqlite_commit(s);
    return rc < 0 ? rc : more;
}
