/* store_sqlite_trace.c - the SQLite engine's trace query: one trace's rows
 * of every app (table traces, store_trace.h) merged into one profile.
 *
 * Thread: the reader's query worker; one read transaction per query. */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_names.h"
#include "store_trace.h"

int cp__sqlite_trace_profile(cp__sqlite_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out,
                             char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    cp_store_pbuild_t b = {0};
    sqlite3_stmt *st = NULL;
    int rc = CP_EDB;
    cp__vu64_t loaded = {0};   /* apps whose names were refreshed in this query */
    const char *type = strcmp(q->type, "alloc") ? q->type : "alloc_bytes";
    if (cp__sqlite_exec(r->db, "BEGIN"))
        return CP_EDB;
    if (sqlite3_prepare_v2(r->db, "SELECT t.app_id, a.name, t.data FROM traces t JOIN apps a ON a.id=t.app_id"
                                  " JOIN types y ON y.id=t.type_id WHERE t.trace_hi=?1 AND t.trace_lo=?2"
                                  " AND t.start_ms>=?3 AND t.start_ms<?4 AND y.name=?5 ORDER BY t.app_id",
                           -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, (int64_t)q->hi);
    sqlite3_bind_int64(st, 2, (int64_t)q->lo);
    sqlite3_bind_int64(st, 3, q->from_ms);
    sqlite3_bind_int64(st, 4, q->to_ms);
    sqlite3_bind_text(st, 5, type, -1, SQLITE_STATIC);
    rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        if (cp__sqlite_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
        int64_t app = sqlite3_column_int64(st, 0);
        const char *shown = q->view(q->ud, (const char *)sqlite3_column_text(st, 1));
        if (!shown)
            continue;
        cp__sqlite_rapp_t *a = cp__sqlite_reader_rapp(r, app);
        bool fresh = false;
        for (size_t i = 0; i < loaded.n && !fresh; i++)
            fresh = loaded.v[i] == (uint64_t)app;
        if (!fresh) {
            if ((rc = cp__sqlite_rapp_refresh(r, a)))
                break;
            cp__vu64_push(&loaded, (uint64_t)app);
        }
        cp_store_pbuild_row(&b, shown, app, &a->names, sqlite3_column_blob(st, 2),
                            (size_t)sqlite3_column_bytes(st, 2));
    }
    if (!rc) {
        cp_store_pbuild_finish(&b, out);
        out->unit = cp__xstrdup("");
        sqlite3_stmt *u = NULL;
        if (!sqlite3_prepare_v2(r->db, "SELECT unit FROM types WHERE name=?", -1, &u, NULL)) {
            sqlite3_bind_text(u, 1, type, -1, SQLITE_STATIC);
            if (sqlite3_step(u) == SQLITE_ROW && sqlite3_column_text(u, 0)) {
                free(out->unit);
                out->unit = cp__xstrdup((const char *)sqlite3_column_text(u, 0));
            }
        }
        sqlite3_finalize(u);
    }
out:
    sqlite3_finalize(st);
    cp_store_pbuild_fini(&b);
    free(loaded.v);
    return cp__sqlite_query_end(r, rc, err, errlen);
}

/* Every trace entry of one app and type in a range (cp_store_trace_entries):
 * rows through the traces_a index (app_id, start_ms). */
int cp__sqlite_trace_entries(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                             char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = CP_EDB;
    const char *type = strcmp(q->type, "alloc") ? q->type : "alloc_bytes";
    int64_t loaded = -1;   /* the app whose names were refreshed in this query */
    if (cp__sqlite_exec(r->db, "BEGIN"))
        return CP_EDB;
    if (sqlite3_prepare_v2(r->db, "SELECT t.app_id, t.instance_id, t.start_ms, t.trace_hi, t.trace_lo, t.data"
                                  " FROM traces t JOIN apps a ON a.id=t.app_id JOIN types y ON y.id=t.type_id"
                                  " WHERE a.name=?1 AND y.name=?2 AND t.start_ms>=?3 AND t.start_ms<?4"
                                  " ORDER BY t.start_ms, t.id",
                           -1, &st, NULL))
        goto out;
    sqlite3_bind_text(st, 1, q->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, q->from_ms);
    sqlite3_bind_int64(st, 4, q->to_ms);
    rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        if (cp__sqlite_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
        int64_t app = sqlite3_column_int64(st, 0);
        cp__sqlite_rapp_t *a = cp__sqlite_reader_rapp(r, app);
        if (loaded != app) {
            if ((rc = cp__sqlite_rapp_refresh(r, a)))
                break;
            loaded = app;
        }
        cp_store_trace_entry_t e = {
            .hi = (uint64_t)sqlite3_column_int64(st, 3), .lo = (uint64_t)sqlite3_column_int64(st, 4),
            .instance = sqlite3_column_int64(st, 1), .start_ms = sqlite3_column_int64(st, 2),
        };
        if (!cp_store_trace_resolve(sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5), &a->names, &e,
                                    fn, ud))
            fprintf(stderr, "cprof relay: a malformed trace row of app %lld skipped\n", (long long)app);
    }
out:
    sqlite3_finalize(st);
    return cp__sqlite_query_end(r, rc, err, errlen);
}
