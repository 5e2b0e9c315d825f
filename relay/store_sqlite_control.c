/* store_sqlite_control.c - the SQLite rows of fleet control: audit,
 * control_acks, app defaults (schema and contracts: store_control.h).
 *
 * Rare writes (a control request, an agent's answer), so statements are
 * prepared per call. The tables are created with the rest of the schema
 * (cp__sqlite_control_schema, IF NOT EXISTS: a database made by an older
 * relay gets them on open, the layout version stays).
 *
 * Entries of the engine's table (store_engine.h), taking the generic
 * handles. Thread: writer calls on the store worker inside its
 * transaction; row walks on the reader's thread. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "store_control.h"
#include "store_sqlite_int.h"

#define W(x) ((cp__sqlite_t *)(x))
#define R(x) ((cp__sqlite_reader_t *)(x))

const char cp__sqlite_control_schema[] =
    "CREATE TABLE IF NOT EXISTS control_audit(id TEXT PRIMARY KEY, app TEXT NOT NULL, t_ms INTEGER NOT NULL,"
    " who TEXT, action TEXT, status INTEGER, reason TEXT, request TEXT, until_ms INTEGER,"
    " targets TEXT, skipped TEXT);"
    "CREATE INDEX IF NOT EXISTS control_audit_app ON control_audit(app, t_ms);"
    "CREATE INDEX IF NOT EXISTS control_audit_until ON control_audit(until_ms);"
    "CREATE TABLE IF NOT EXISTS control_ack(id TEXT NOT NULL, app TEXT NOT NULL, instance TEXT,"
    " t_ms INTEGER, event TEXT, applied TEXT, refused TEXT, effective TEXT, until_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS control_ack_id ON control_ack(id);"
    "CREATE INDEX IF NOT EXISTS control_ack_app ON control_ack(app, instance, t_ms);"
    "CREATE TABLE IF NOT EXISTS control_defaults(app TEXT PRIMARY KEY, defaults TEXT, t_ms INTEGER, who TEXT);";

static int run(sqlite3 *db, const char *sql, const char *const *txt, int nt, const int64_t *num, int nn)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) {
        fprintf(stderr, "cprof relay: store: %s\n", sqlite3_errmsg(db));
        return CP_EDB;
    }
    for (int i = 0; i < nt; i++)
        sqlite3_bind_text(st, i + 1, txt[i] ? txt[i] : "", -1, SQLITE_STATIC);
    for (int i = 0; i < nn; i++)
        sqlite3_bind_int64(st, nt + i + 1, num[i]);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : CP_EDB;
    if (rc)
        fprintf(stderr, "cprof relay: store: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

int cp__sqlite_control_audit(cp_store_t *s, const cp_store_audit_t *a)
{
    const char *t[] = {a->id, a->app, a->who, a->action, a->reason, a->request, a->targets, a->skipped};
    int64_t n[] = {a->t_ms, a->status, a->until_ms};
    int rc = run(W(s)->db, "INSERT OR REPLACE INTO control_audit(id, app, who, action, reason, request, targets,"
                 " skipped, t_ms, status, until_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)", t, 8, n, 3);
    if (rc || !a->ends || !*a->ends)
        return rc;
    /* a revert: the change it names ends now (it leaves the changes in force) */
    const char *e[] = {a->ends, a->app};
    return run(W(s)->db, "UPDATE control_audit SET until_ms=?3 WHERE id=?1 AND app=?2 AND until_ms>?3", e, 2,
               &a->t_ms, 1);
}

int cp__sqlite_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a)
{
    const char *t[] = {a->id, a->app, a->instance, a->event, a->applied, a->refused, a->effective};
    int64_t n[] = {a->t_ms, a->until_ms};
    return run(W(s)->db, "INSERT INTO control_ack(id, app, instance, event, applied, refused, effective, t_ms, until_ms)"
               " VALUES(?,?,?,?,?,?,?,?,?)", t, 7, n, 2);
}

int cp__sqlite_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                  const char *who)
{
    const char *t[] = {app, defaults, who};
    return run(W(s)->db, "INSERT OR REPLACE INTO control_defaults(app, defaults, who, t_ms) VALUES(?,?,?,?)", t, 3,
               &t_ms, 1);
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? v : "";
}

/* Walks sql's rows; a missing table (a store made before control) is
 * an empty walk. */
static int walk(sqlite3 *db, const char *sql, const char *app, int64_t a, int64_t b, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL))
        return strstr(sqlite3_errmsg(db), "no such table") ? 1 : CP_EDB;
    sqlite3_bind_text(*out, 1, app ? app : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(*out, 2, app != NULL);
    sqlite3_bind_int64(*out, 3, a);
    sqlite3_bind_int64(*out, 4, b);
    return 0;
}

int cp__sqlite_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                                 cp_store_audit_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = walk(R(r)->db, "SELECT id, app, who, action, reason, status, t_ms, until_ms, request, targets, skipped"
                  " FROM control_audit WHERE (?2=0 OR app=?1) AND (?3=0 OR until_ms>?3)"
                  " ORDER BY t_ms DESC, id DESC LIMIT ?4", app, active_since, limit ? (int64_t)limit : -1, &st);
    if (rc)
        return rc > 0 ? 0 : rc;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        cp_store_audit_t a = {col(st, 0), col(st, 1), col(st, 2), col(st, 3), col(st, 4),
                              sqlite3_column_int(st, 5), sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
                              col(st, 8), col(st, 9), col(st, 10)};
        rc = fn(ud, &a);
    }
    sqlite3_finalize(st);
    return rc;
}

int cp__sqlite_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                               void *ud)
{
    sqlite3_stmt *st;
    int rc = walk(R(r)->db, "SELECT id, app, instance, event, applied, refused, effective, t_ms, until_ms"
                  " FROM control_ack WHERE (?2=0 OR app=?1) AND t_ms>=?3 ORDER BY t_ms, rowid", app, since_ms, 0, &st);
    if (rc)
        return rc > 0 ? 0 : rc;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        cp_store_ctl_ack_t a = {col(st, 0), col(st, 1), col(st, 2), col(st, 3), col(st, 4), col(st, 5), col(st, 6),
                                sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8)};
        rc = fn(ud, &a);
    }
    sqlite3_finalize(st);
    return rc;
}

int cp__sqlite_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud)
{
    sqlite3_stmt *st;
    int rc = walk(R(r)->db, "SELECT app, defaults, t_ms, who FROM control_defaults WHERE (?2=0 OR app=?1)", app, 0, 0,
                  &st);
    if (rc)
        return rc > 0 ? 0 : rc;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ud, col(st, 0), col(st, 1), sqlite3_column_int64(st, 2), col(st, 3));
    sqlite3_finalize(st);
    return rc;
}
