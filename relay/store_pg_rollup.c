/* store_pg_rollup.c - the PostgreSQL engine's maintenance: minute and hour
 * rollups (rules and merging in store_tier.c), recomputing dirty buckets,
 * and retention by dropping day partitions.
 *
 * Of several relays, whichever holds the rollup advisory lock
 * (pg_try_advisory_lock, for the pass) builds the rollups; the others skip.
 * Per app a pass first seals the minutes it will aggregate (a short
 * transaction under the app's exclusive seal lock, see store_pg_int.h:
 * late data), then aggregates them and expires in a second transaction,
 * bounded (MAX_BUCKETS_PER_PASS), so ingest of the app waits only for the
 * seal. While group transactions keep coming, a relay starts at most one
 * pass per BUSY_PASS_MS (the pass runs on the store worker, so it stops
 * that relay's ingest); a backlog is caught up back to back once ingest
 * pauses. Partitions wholly past every
 * app's retention cut are dropped after the commit, on the aux connection
 * (the DDL needs the parent's lock: lock_timeout keeps it from waiting
 * long; it is retried on the next pass); rows below the cut in the
 * partition that holds it, and in the default partitions, are deleted.
 *
 * Thread: store worker only, outside group transactions. */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_tier.h"

#define MAX_BUCKETS_PER_PASS 10
#define BUSY_PASS_MS 2000

static const char *tier_table(int64_t step)
{
    return step == CP_STORE_HOUR_MS ? "agg_h" : step ? "agg_m" : "windows";
}

/* Aggregates rows of src (step 0 = windows) with start in [lo, hi) into
 * rows of dst_step, for every type of the app. */
static int downsample(cp__pg_t *s, int64_t app, int64_t src_step, int64_t dst_step, int64_t lo, int64_t hi)
{
    cp_store_rollup_t ru = {0};
    cp__pgq_t q = {0};
    int rc = CP_EDB;
    char sql[300];
    cp__pgq_i64(&q, app);
    PGresult *types = cp__pg_run(s->db, "SELECT type_id FROM app_types WHERE app_id=$1", &q, false);
    if (!types)
        return CP_EDB;
    for (int t = 0; t < PQntuples(types); t++) {
        int64_t tid = cp__pg_get_i64(types, t, 0);
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, app);
        cp__pgq_i64(&q, tid);
        cp__pgq_i64(&q, lo);
        cp__pgq_i64(&q, hi);
        snprintf(sql, sizeof sql, "SELECT start_ms, lset_id, data FROM %s WHERE app_id=$1 AND type_id=$2"
                                  " AND start_ms>=$3 AND start_ms<$4", tier_table(src_step));
        PGresult *r = cp__pg_run(s->db, sql, &q, true);
        if (!r)
            goto out;
        cp_store_rollup_begin(&ru, lo, dst_step);
        for (int i = 0; i < PQntuples(r); i++)
            cp_store_rollup_add(&ru, (int64_t)be64toh(*(const uint64_t *)PQgetvalue(r, i, 0)),
                                (int64_t)be64toh(*(const uint64_t *)PQgetvalue(r, i, 1)),
                                (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
        PQclear(r);
        snprintf(sql, sizeof sql, "INSERT INTO %s(app_id,type_id,start_ms,lset_id,total,data)"
                                  " VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(app_id,type_id,start_ms,lset_id)"
                                  " DO UPDATE SET total=excluded.total, data=excluded.data", tier_table(dst_step));
        for (size_t i = 0; i < ru.n; i++) {
            int64_t bucket, lset;
            uint64_t total = cp_store_rollup_encode(&ru, i, &bucket, &lset, &s->tmp2);
            cp__pgq_reset(&q);
            cp__pgq_i64(&q, app);
            cp__pgq_i64(&q, tid);
            cp__pgq_i64(&q, bucket);
            cp__pgq_i64(&q, lset);
            cp__pgq_i64(&q, (int64_t)total);
            cp__pgq_bytes(&q, s->tmp2.data, s->tmp2.len);   /* copied by libpq */
            if (cp__pg_send_sql(s->db, sql, &q))   /* queued: answered with the next read */
                goto out;
        }
    }
    rc = 0;
out:
    PQclear(types);
    cp_store_rollup_fini(&ru);
    return rc;
}

static int set_done(cp__pg_t *s, int64_t app, int64_t step, int64_t done)
{
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, app);
    cp__pgq_i64(&q, step);
    cp__pgq_i64(&q, done);
    return cp__pg_send_sql(s->db, "UPDATE agg_state SET done_ms=$3 WHERE app_id=$1 AND step=$2", &q);
}

static int64_t q_i64(cp__pg_t *s, const char *sql, int64_t a, int64_t b, int64_t dflt, bool *err)
{
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, a);
    cp__pgq_i64(&q, b);
    return cp__pg_i64(s->db, sql, &q, dflt, err);
}

/* The app's retention cuts, for the partition drops after the commit. */
typedef struct cuts_acc { cp_store_cuts_t min; bool any; } cuts_acc_t;

/* Dirty buckets: recompute from the finer tier. */
static int redo_dirty(cp__pg_t *s, int64_t app, int64_t hdone, int *more)
{
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, app);
    PGresult *r = cp__pg_run(s->db, "DELETE FROM dirty WHERE ctid IN (SELECT ctid FROM dirty WHERE app_id=$1"
                                    " ORDER BY step, start_ms LIMIT 256) RETURNING step, start_ms", &q, false);
    if (!r)
        return CP_EDB;
    int rc = 0, n = PQntuples(r);
    cp__hmap_t seen = {0};   /* the table may hold a bucket twice */
    for (int i = 0; i < n && !rc; i++) {
        int64_t step = cp__pg_get_i64(r, i, 0), b = cp__pg_get_i64(r, i, 1);
        uint32_t *dup = cp__hmap_slot(&seen, (uint64_t)b ^ (uint64_t)step << 1, 1);
        if (*dup)
            continue;
        *dup = 1;
        if ((rc = downsample(s, app, step == CP_STORE_MIN_MS ? 0 : CP_STORE_MIN_MS, step, b, b + step)))
            break;
        if (step == CP_STORE_MIN_MS && cp_store_tier_floor(b, CP_STORE_HOUR_MS) < hdone) {
            cp__pgq_reset(&q);
            cp__pgq_i64(&q, app);
            cp__pgq_i64(&q, cp_store_tier_floor(b, CP_STORE_HOUR_MS));
            rc = cp__pg_cmd(s->db, "INSERT INTO dirty(app_id,step,start_ms) VALUES($1,3600000,$2)", &q);
            *more = 1;
        }
    }
    if (n == 256)
        *more = 1;
    cp__hmap_free(&seen);
    PQclear(r);
    return rc;
}

/* The seal transaction of one app: under the exclusive seal lock (every
 * ingest transaction of the app that judged lateness before it has
 * committed), picks this pass's minute range [*lo, *hi) and seals it. */
static int seal(cp__pg_t *s, int64_t app, int64_t now, int64_t *lo, int64_t *hi, int64_t *hdone, int *more)
{
    bool err = false;
    int rc = CP_EDB;
    cp__pgq_t q = {0};
    /* nothing to seal (the minutes are done up to the target: a pass of
     * the steady state, or a relay's every 5 s): no exclusive lock, which
     * would make every relay's ingest of the app wait for the group
     * transactions in flight */
    cp__pgq_i64(&q, app);
    PGresult *r = cp__pg_run(s->db, "SELECT step, done_ms FROM agg_state WHERE app_id=$1", &q, false);
    if (!r)
        return CP_EDB;
    int64_t m0 = 0, h0 = 0;
    for (int i = 0; i < PQntuples(r); i++)
        *(cp__pg_get_i64(r, i, 0) == CP_STORE_MIN_MS ? &m0 : &h0) = cp__pg_get_i64(r, i, 1);
    PQclear(r);
    if (m0 && m0 >= cp_store_tier_floor(now - s->cfg.grace_ms, CP_STORE_MIN_MS)) {
        *lo = *hi = m0;
        *hdone = h0;
        return 0;
    }
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, CP__PG_LOCK_SEAL);
    cp__pgq_i64(&q, app);
    if (cp__pg_send_sql(s->db, "BEGIN", NULL) ||
        cp__pg_send_sql(s->db, "SELECT pg_advisory_xact_lock($1::int, $2::int)", &q))
        goto out;
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, app);
    if (!(r = cp__pg_run(s->db, "SELECT step, done_ms FROM agg_state WHERE app_id=$1", &q, false)))
        goto out;
    int64_t mdone = 0;
    *hdone = 0;
    for (int i = 0; i < PQntuples(r); i++)
        *(cp__pg_get_i64(r, i, 0) == CP_STORE_MIN_MS ? &mdone : hdone) = cp__pg_get_i64(r, i, 1);
    PQclear(r);
    int64_t target = cp_store_tier_floor(now - s->cfg.grace_ms, CP_STORE_MIN_MS);
    if (mdone == 0) {
        int64_t first = q_i64(s, "SELECT min(start_ms) FROM windows WHERE app_id=$1 AND $2=$2", app, 0, INT64_MIN, &err);
        /* no window yet: nothing to seal (a seal at `target` would make an
         * agent's first hour of backlog late data) */
        mdone = first == INT64_MIN ? 0 : cp_store_tier_floor(first, CP_STORE_MIN_MS);
    }
    *lo = *hi = mdone;
    if (!mdone)
        target = 0;
    if (mdone < target) {
        *hi = mdone + MAX_BUCKETS_PER_PASS * CP_STORE_MIN_MS;
        if (*hi > target)
            *hi = target;
        else
            *more = 1;
        /* skip empty stretches quickly */
        int64_t next = q_i64(s, "SELECT min(start_ms) FROM windows WHERE app_id=$1 AND start_ms>=$2", app, mdone,
                             INT64_MIN, &err);
        if (next == INT64_MIN || next >= target) {
            *hi = target;
        } else if (cp_store_tier_floor(next, CP_STORE_MIN_MS) > mdone) {
            *lo = cp_store_tier_floor(next, CP_STORE_MIN_MS);
            *hi = *lo + MAX_BUCKETS_PER_PASS * CP_STORE_MIN_MS;
            if (*hi > target)
                *hi = target;
        }
    }
    cp__pgq_i64(&q, *hi);
    if (err || cp__pg_send_sql(s->db, "UPDATE agg_state SET sealed_ms=greatest(sealed_ms,$2) WHERE app_id=$1"
                                      " AND step=60000", &q))
        goto out;
    rc = cp__pg_send_sql(s->db, "COMMIT", NULL) || cp__pg_sync(s->db) ? CP_EDB : 0;
out:
    if (rc)
        cp__pg_rollback_now(s->db);
    return rc;
}

/* One bounded pass for one app (its own transactions); returns 1 if more
 * work is pending. */
static int maintain_app(cp__pg_t *s, int64_t app, int64_t now, cuts_acc_t *cuts)
{
    int rc, more = 0;
    bool err = false;
    int64_t lo, hi, hdone;
    if ((rc = seal(s, app, now, &lo, &hi, &hdone, &more)))
        return rc;
    if (cp__pg_send_sql(s->db, "BEGIN", NULL))
        return CP_EDB;
    cp__pgq_t q = {0};
    if ((rc = redo_dirty(s, app, hdone, &more)))
        goto fail;
    int64_t mdone = hi;
    if (lo < hi) {
        if ((rc = downsample(s, app, 0, CP_STORE_MIN_MS, lo, hi)) || (rc = set_done(s, app, CP_STORE_MIN_MS, hi)))
            goto fail;
    }
    int64_t htarget = cp_store_tier_floor(mdone, CP_STORE_HOUR_MS);
    if (hdone == 0)
        hdone = cp_store_tier_floor(q_i64(s, "SELECT min(start_ms) FROM agg_m WHERE app_id=$1 AND $2=$2", app, 0,
                                          htarget, &err), CP_STORE_HOUR_MS);
    if (hdone < htarget) {
        int64_t h_hi = hdone + 6 * CP_STORE_HOUR_MS;
        if (h_hi > htarget)
            h_hi = htarget;
        else
            more = 1;
        if ((rc = downsample(s, app, CP_STORE_MIN_MS, CP_STORE_HOUR_MS, hdone, h_hi)) ||
            (rc = set_done(s, app, CP_STORE_HOUR_MS, h_hi)))
            goto fail;
        hdone = h_hi;
    }
    rc = CP_EDB;
    if (err)
        goto fail;
    /* expiry: whole days go with their partition (after the pass); the
     * rows below the cut in the day that holds it (and in the default
     * partition) are deleted here, pruned to those partitions */
    cp_store_cuts_t cut;
    cp_store_tier_cuts(&s->cfg, now, mdone, hdone, &cut);
    static const struct { const char *sql; size_t off; } del[] = {
        {"DELETE FROM windows WHERE app_id=$1 AND type_id IN (SELECT type_id FROM app_types WHERE app_id=$1)"
         " AND start_ms<$2", offsetof(cp_store_cuts_t, windows)},
        {"DELETE FROM series WHERE app_id=$1 AND t_ms<$2", offsetof(cp_store_cuts_t, series)},
        {"DELETE FROM traces WHERE app_id=$1 AND start_ms<$2", offsetof(cp_store_cuts_t, windows)},
        {"DELETE FROM agg_m WHERE app_id=$1 AND type_id IN (SELECT type_id FROM app_types WHERE app_id=$1)"
         " AND start_ms<$2", offsetof(cp_store_cuts_t, minutes)},
        {"DELETE FROM agg_h WHERE app_id=$1 AND type_id IN (SELECT type_id FROM app_types WHERE app_id=$1)"
         " AND start_ms<$2", offsetof(cp_store_cuts_t, hours)},
    };
    for (size_t i = 0; i < sizeof del / sizeof *del; i++) {
        int64_t c = *(const int64_t *)((const char *)&cut + del[i].off);
        cp__pgq_reset(&q);
        cp__pgq_i64(&q, app);
        cp__pgq_i64(&q, c);
        if (cp__pg_send_sql(s->db, del[i].sql, &q))
            goto fail;
        int64_t *m = (int64_t *)((char *)&cuts->min + del[i].off);
        if (!cuts->any || c < *m)
            *m = c;
    }
    cuts->any = true;
    if (cp__pg_send_sql(s->db, "COMMIT", NULL) || cp__pg_sync(s->db))
        goto fail;
    return more;
fail:
    cp__pg_rollback_now(s->db);
    return rc < 0 ? rc : CP_EDB;
}

/* Drops the day partitions of table that end at or before cut. */
static void drop_partitions(cp__pg_t *s, const char *table, int64_t cut)
{
    cp__pgq_t q = {0};
    cp__pgq_text(&q, table);
    PGresult *r = cp__pg_run(s->aux, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid=i.inhrelid"
                                     " WHERE i.inhparent=$1::regclass", &q, false);
    if (!r)
        return;
    size_t tl = strlen(table);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (strncmp(name, table, tl) || strncmp(name + tl, "_d", 2))
            continue;
        char *end;
        long long day = strtoll(name + tl + 2, &end, 10);
        if (*end || (day + 1) * CP__PG_DAY_MS > cut)
            continue;
        char sql[200];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", name);
        cp__pg_cmd(s->aux, sql, NULL);   /* lock_timeout: retried next pass */
    }
    PQclear(r);
}

static int maintain_pass(cp__pg_t *s, int64_t now_ms);

int cp__pg_maintain(cp_store_t *s_, int64_t now_ms)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    /* while batches keep coming (a group transaction since the last call),
     * at most one pass per BUSY_PASS_MS: a pass stops this relay's ingest
     * (same worker) and its seal makes every relay's ingest of the app wait;
     * a backlog is caught up back to back once ingest pauses */
    bool busy = s->tx_gen != s->maint_tx_gen;
    s->maint_tx_gen = s->tx_gen;
    if (busy && s->maint_ms && now_ms - s->maint_ms < BUSY_PASS_MS && now_ms >= s->maint_ms)
        return 1;
    s->maint_ms = now_ms;
    int rc = maintain_pass(s, now_ms);
    s->maint_tx_gen = s->tx_gen;   /* the pass's own transactions are not ingest */
    return rc;
}

static int maintain_pass(cp__pg_t *s, int64_t now_ms)
{
    int rc = cp__pg_tx_begin(s), more = 0;   /* reconnects a lost session */
    if (rc)
        return rc;
    s->in_tx = false;
    cp__pg_rollback_now(s->db);
    /* a session lock: the pass commits per app */
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, CP__PG_LOCK_ROLLUP);
    bool err = false;
    int64_t mine = cp__pg_i64(s->db, "SELECT pg_try_advisory_lock($1::int, 0)::int", &q, 0, &err);
    if (err || !mine)   /* another relay builds the rollups */
        return err ? CP_EDB : 0;
    PGresult *apps = cp__pg_run(s->db, "SELECT id FROM apps ORDER BY id", NULL, false);
    cuts_acc_t cuts = {0};
    rc = apps ? 0 : CP_EDB;
    for (int i = 0; apps && i < PQntuples(apps) && rc >= 0; i++) {
        rc = maintain_app(s, cp__pg_get_i64(apps, i, 0), now_ms, &cuts);
        if (rc > 0)
            more = 1;
    }
    PQclear(apps);
    cp__pg_cmd(s->db, "SELECT pg_advisory_unlock($1::int, 0)", &q);
    for (cp__pg_app_t *a = s->apps; a; a = a->next)
        a->mdone_gen = 0;
    if (rc < 0)
        return rc;
    /* the trace index is bounded: the oldest rows past the cap go */
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM traces WHERE id <= (SELECT max(id) FROM traces) - %d",
             CP_STORE_TRACE_MAX_ROWS);
    cp__pg_cmd(s->aux, sql, NULL);
    if (cuts.any) {
        drop_partitions(s, "windows", cuts.min.windows);
        drop_partitions(s, "series", cuts.min.series);
        drop_partitions(s, "agg_m", cuts.min.minutes);
        drop_partitions(s, "agg_h", cuts.min.hours);
    }
    return more;
}
