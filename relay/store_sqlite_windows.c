/* store_sqlite_windows.c - the SQLite engine's per-window profile query
 * (cp_store_profile_windows, store.h): the merged profile of a range plus
 * every row that went into it (a raw window of one instance, or a minute /
 * hour aggregate of one label set), each row's stacks renumbered to the
 * merged profile's stack indices.
 *
 * One pass over the planner's rows (the same planner as cp_store_profile,
 * store_tier.h) into the engine-neutral row keeper (store_rows.h: merge,
 * keep the blobs, deliver in time order with ids mapped); this file only
 * reads the rows and names instances and label sets.
 *
 * Thread: the reader's query worker; one read transaction (one snapshot). */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_names.h"
#include "store_rows.h"
#include "store_tier.h"

/* cp__sqlite_plan_t.row: one row into the keeper. */
static void wrow_read(cp__sqlite_plan_t *p, int64_t step, sqlite3_stmt *st)
{
    cp_store_rows_add(p->row_ud, step, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 3),
                      step ? -1 : sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 1),
                      sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2), 0);
}

/* id -> text for the rows' instances and label sets (small tables). */
typedef struct names_by_id { int64_t *id; char **s; size_t n; } names_by_id_t;

static void nbi_load(sqlite3 *db, const char *sql, int64_t app, names_by_id_t *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
        return;
    sqlite3_bind_int64(st, 1, app);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (m->n == cap) {
            cap = cap ? cap * 2 : 16;
            m->id = cp__xrealloc(m->id, cap * sizeof *m->id);
            m->s = cp__xrealloc(m->s, cap * sizeof *m->s);
        }
        const char *t = (const char *)sqlite3_column_text(st, 1);
        m->id[m->n] = sqlite3_column_int64(st, 0);
        m->s[m->n++] = cp__xstrdup(t ? t : "");
    }
    sqlite3_finalize(st);
}

static const char *nbi_get(const names_by_id_t *m, int64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->id[i] == id)
            return m->s[i];
    return NULL;
}

static void nbi_free(names_by_id_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->s[i]);
    free(m->id);
    free(m->s);
}

/* Names of the rows' instances and label sets (store_rows.h). */
typedef struct wnames {
    cp__sqlite_reader_t *rd;
    names_by_id_t insts, lsets, inst_lsets;
} wnames_t;

static const char *wname(void *ud, int what, int64_t id)
{
    wnames_t *n = ud;
    return nbi_get(what == CP_STORE_ROWS_LSET ? &n->lsets : what == CP_STORE_ROWS_INSTANCE ? &n->insts
                                                                                          : &n->inst_lsets, id);
}

static bool wover(void *ud) { return cp__sqlite_reader_over(((wnames_t *)ud)->rd); }

/* Hands the kept rows to fn (store_rows.h), the names read in the same
 * snapshot as the rows. */
static int deliver(cp_store_rows_t *w, const cp_store_names_t *nm, cp__sqlite_reader_t *rd, int64_t app,
                   unsigned flags, cp_store_window_fn fn, void *ud, bool *stopped)
{
    wnames_t n = {rd, {0}, {0}, {0}};
    nbi_load(rd->db, "SELECT id, iid FROM instances WHERE app_id=?", app, &n.insts);
    nbi_load(rd->db, "SELECT id, canon FROM lsets WHERE app_id=?", app, &n.lsets);
    if (!(flags & CP_STORE_WINDOWS_BY_LSET))
        nbi_load(rd->db, "SELECT i.id, l.canon FROM instances i JOIN lsets l ON l.id=i.lset_id WHERE i.app_id=?",
                 app, &n.inst_lsets);
    int rc = cp_store_rows_deliver(w, nm, flags, wname, wover, &n, fn, ud, stopped);
    nbi_free(&n.insts);
    nbi_free(&n.lsets);
    nbi_free(&n.inst_lsets);
    return rc;
}

int cp__sqlite_profile_windows(cp__sqlite_reader_t *r, const cp_store_query_t *q, unsigned flags,
                             cp_profile_t *out, cp_store_window_fn fn, void *ud,
                             char *err, size_t errlen)
{
    cp__sqlite_plan_t p;
    uint8_t *lset_ok = NULL;
    char *unit = NULL;
    cp_store_rows_t w = {0};
    bool stopped = false;
    memset(out, 0, sizeof *out);
    int rc = cp__sqlite_query_setup(r, q, &p, &lset_ok, &unit, err, errlen);
    if (rc)
        goto out;
    cp__sqlite_rapp_t *a = cp__sqlite_reader_rapp(r, p.app);
    if ((rc = cp__sqlite_rapp_refresh(r, a)))
        goto out;
    w.keep = true;
    p.row = wrow_read;
    p.row_ud = &w;
    bool agg = !(flags & CP_STORE_WINDOWS_RAW);
    cp__sqlite_plan_run(&p, q->from_ms, q->to_ms, agg, agg);
    if ((rc = p.rc))
        goto out;
    cp_store_names_profile(&a->names, &w.acc, out);
    out->unit = unit;
    unit = NULL;
    /* the snapshot is still open: the instance and label names match the rows */
    if (fn)
        rc = deliver(&w, &a->names, r, p.app, flags, fn, ud, &stopped);
out:
    cp_store_rows_fini(&w);
    free(lset_ok);
    free(unit);
    if (stopped) {   /* fn's own stop value: not a store failure */
        cp__sqlite_query_end(r, 0, err, errlen);
        return rc;
    }
    if ((rc = cp__sqlite_query_end(r, rc, err, errlen)))
        cp_profile_free(out);
    return rc;
}
