/* store_pg_control.c - the PostgreSQL rows of fleet control: audit,
 * control_ack, app defaults (tables and row contracts: store_control.h;
 * the same columns as SQLite's, store_sqlite_control.c).
 *
 * Several relays share these tables: a change POSTed on one relay is
 * audited here, and every relay reads the changes in force and the
 * defaults back every second (control_sync.c), so agents on any relay get
 * them; the acks of agents on any relay are rows here, so GET
 * /api/v1/control on any relay shows them. A revert row also ends the
 * change it names (until_ms = the revert's time): the other relays see
 * the change leave the active set and revert it on their agents.
 *
 * Rare writes (a control request, an agent's answer): statements are not
 * prepared. Every write is conflict-free (upserts, plain inserts), so it
 * cannot abort the group transaction it rides in. The tables are created
 * with the rest of the schema (store_pg.c check_schema, IF NOT EXISTS:
 * a database made by an older relay gets them on open, the layout
 * version stays).
 *
 * Thread: writer calls on the store worker inside its transaction (main
 * connection); row walks on the reader's thread, each in its own read
 * transaction. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_control.h"
#include "store_pg_int.h"
#include "store_pg_read.h"

#define W(x) ((cp__pg_t *)(x))
#define R(x) ((cp__pg_reader_t *)(x))

const char cp__pg_control_schema[] =
    "CREATE TABLE IF NOT EXISTS control_audit(id text PRIMARY KEY, app text NOT NULL, t_ms bigint NOT NULL,"
    " who text, action text, status int, reason text, request text, until_ms bigint, targets text,"
    " skipped text);"
    "CREATE INDEX IF NOT EXISTS control_audit_app ON control_audit(app, t_ms);"
    /* the changes in force, read by every relay every second */
    "CREATE INDEX IF NOT EXISTS control_audit_until ON control_audit(until_ms);"
    "CREATE TABLE IF NOT EXISTS control_ack(n bigserial PRIMARY KEY, id text NOT NULL, app text NOT NULL,"
    " instance text, t_ms bigint, event text, applied text, refused text, effective text, until_ms bigint);"
    "CREATE INDEX IF NOT EXISTS control_ack_id ON control_ack(id);"
    "CREATE INDEX IF NOT EXISTS control_ack_app ON control_ack(app, instance, t_ms);"
    "CREATE TABLE IF NOT EXISTS control_defaults(app text PRIMARY KEY, defaults text, t_ms bigint, who text);";

int cp__pg_control_audit(cp_store_t *s, const cp_store_audit_t *a)
{
    cp__pgq_t q = {0};
    cp__pgq_text(&q, a->id);
    cp__pgq_text(&q, a->app);
    cp__pgq_text(&q, a->who);
    cp__pgq_text(&q, a->action);
    cp__pgq_text(&q, a->reason);
    cp__pgq_text(&q, a->request);
    cp__pgq_text(&q, a->targets);
    cp__pgq_text(&q, a->skipped);
    cp__pgq_i64(&q, a->t_ms);
    cp__pgq_i64(&q, a->status);
    cp__pgq_i64(&q, a->until_ms);
    int rc = cp__pg_cmd(W(s)->db, "INSERT INTO control_audit(id, app, who, action, reason, request, targets, skipped,"
                        " t_ms, status, until_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT(id) DO UPDATE"
                        " SET app=excluded.app, who=excluded.who, action=excluded.action, reason=excluded.reason,"
                        " request=excluded.request, targets=excluded.targets, skipped=excluded.skipped,"
                        " t_ms=excluded.t_ms, status=excluded.status, until_ms=excluded.until_ms", &q);
    if (rc || !a->ends || !*a->ends)
        return rc;
    /* a revert: the change it names ends now, for every relay */
    cp__pgq_reset(&q);
    cp__pgq_text(&q, a->ends);
    cp__pgq_text(&q, a->app);
    cp__pgq_i64(&q, a->t_ms);
    return cp__pg_cmd(W(s)->db, "UPDATE control_audit SET until_ms=$3 WHERE id=$1 AND app=$2 AND until_ms>$3", &q);
}

int cp__pg_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a)
{
    cp__pgq_t q = {0};
    cp__pgq_text(&q, a->id);
    cp__pgq_text(&q, a->app);
    cp__pgq_text(&q, a->instance);
    cp__pgq_text(&q, a->event);
    cp__pgq_text(&q, a->applied);
    cp__pgq_text(&q, a->refused);
    cp__pgq_text(&q, a->effective);
    cp__pgq_i64(&q, a->t_ms);
    cp__pgq_i64(&q, a->until_ms);
    return cp__pg_cmd(W(s)->db, "INSERT INTO control_ack(id, app, instance, event, applied, refused, effective, t_ms,"
                      " until_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)", &q);
}

int cp__pg_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms, const char *who)
{
    cp__pgq_t q = {0};
    cp__pgq_text(&q, app);
    cp__pgq_text(&q, defaults);
    cp__pgq_text(&q, who);
    cp__pgq_i64(&q, t_ms);
    return cp__pg_cmd(W(s)->db, "INSERT INTO control_defaults(app, defaults, who, t_ms) VALUES($1,$2,$3,$4)"
                      " ON CONFLICT(app) DO UPDATE SET defaults=excluded.defaults, who=excluded.who,"
                      " t_ms=excluded.t_ms", &q);
}

/* Runs one walk's query in a read transaction ($1 app, $2 whether app
 * filters, $3.. the numbers): the rows, or NULL with *rc set (CP_EUNAVAIL
 * when the database is not there). */
static PGresult *walk(cp__pg_reader_t *r, const char *sql, const char *app, const int64_t *num, int n, int *rc)
{
    if ((*rc = cp__pg_read_begin(r)))
        return NULL;
    cp__pgq_t q = {0};
    cp__pgq_text(&q, app);
    cp__pgq_i64(&q, app != NULL);
    for (int i = 0; i < n; i++)
        cp__pgq_i64(&q, num[i]);
    PGresult *res = cp__pg_run(r->db, sql, &q, false);
    *rc = cp__pg_read_end(r, res ? 0 : CP_EDB, NULL, 0);
    if (*rc) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static const char *col(const PGresult *res, int row, int c) { return PQgetvalue(res, row, c); }

int cp__pg_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                              cp_store_audit_fn fn, void *ud)
{
    int rc;
    PGresult *res = walk(R(r), "SELECT id, app, who, action, reason, status, t_ms, until_ms, request, targets, skipped"
                         " FROM control_audit WHERE ($2::int=0 OR app=$1) AND ($3::bigint=0 OR until_ms>$3::bigint)"
                         " ORDER BY t_ms DESC, id COLLATE \"C\" DESC LIMIT CASE WHEN $4::bigint>0 THEN $4::bigint END",
                         app, (int64_t[]){active_since, limit}, 2, &rc);
    for (int i = 0; res && !rc && i < PQntuples(res); i++) {
        cp_store_audit_t a = {col(res, i, 0), col(res, i, 1), col(res, i, 2), col(res, i, 3), col(res, i, 4),
                              (int)cp__pg_get_i64(res, i, 5), cp__pg_get_i64(res, i, 6), cp__pg_get_i64(res, i, 7),
                              col(res, i, 8), col(res, i, 9), col(res, i, 10)};
        rc = fn(ud, &a);
    }
    PQclear(res);
    return rc;
}

int cp__pg_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                            void *ud)
{
    int rc;
    PGresult *res = walk(R(r), "SELECT id, app, instance, event, applied, refused, effective, t_ms, until_ms"
                         " FROM control_ack WHERE ($2::int=0 OR app=$1) AND t_ms>=$3::bigint ORDER BY t_ms, n",
                         app, &since_ms, 1, &rc);
    for (int i = 0; res && !rc && i < PQntuples(res); i++) {
        cp_store_ctl_ack_t a = {col(res, i, 0), col(res, i, 1), col(res, i, 2), col(res, i, 3), col(res, i, 4),
                                col(res, i, 5), col(res, i, 6), cp__pg_get_i64(res, i, 7), cp__pg_get_i64(res, i, 8)};
        rc = fn(ud, &a);
    }
    PQclear(res);
    return rc;
}

int cp__pg_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud)
{
    int rc;
    PGresult *res = walk(R(r), "SELECT app, defaults, t_ms, who FROM control_defaults"
                         " WHERE ($2::int=0 OR app=$1) ORDER BY app", app, NULL, 0, &rc);
    for (int i = 0; res && !rc && i < PQntuples(res); i++)
        rc = fn(ud, col(res, i, 0), col(res, i, 1), cp__pg_get_i64(res, i, 2), col(res, i, 3));
    PQclear(res);
    return rc;
}
