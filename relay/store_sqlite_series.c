/* store_sqlite_series.c - the SQLite engine's raw series walk
 * (cp_store_series, store.h): every point of an app's series in a range,
 * in time order (the series_q index), through the label filter. The
 * timeline (store_sqlite_query.c) sums or averages points per step; this
 * hands them out one by one for callers that need single events (one GC
 * pause) or their own fits (heap after GC over time).
 *
 * Thread: the reader's query worker; one read transaction (one snapshot). */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int cp__sqlite_series(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                    char *err, size_t errlen)
{
    cp__sqlite_plan_t p;
    uint8_t *lset_ok = NULL;
    sqlite3_stmt *st = NULL, *ls = NULL;
    cp_store_query_t qq = *q;
    qq.type = NULL;
    int rc = cp__sqlite_query_setup(r, &qq, &p, &lset_ok, NULL, err, errlen);
    if (rc)
        goto out;
    /* label sets: id -> canon, few per app */
    int64_t n_ls = 0, cap = 0, *ls_id = NULL;
    char **ls_txt = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT id, canon FROM lsets WHERE app_id=?", -1, &ls, NULL) ||
        sqlite3_prepare_v2(r->db, "SELECT name, t_ms, value, lset_id FROM series WHERE app_id=?"
                                  " AND t_ms>=? AND t_ms<? ORDER BY t_ms", -1, &st, NULL)) {
        rc = CP_EDB;
        goto out;
    }
    sqlite3_bind_int64(ls, 1, p.app);
    while (sqlite3_step(ls) == SQLITE_ROW) {
        if (n_ls == cap) {
            cap = cap ? cap * 2 : 16;
            ls_id = cp__xrealloc(ls_id, (size_t)cap * sizeof *ls_id);
            ls_txt = cp__xrealloc(ls_txt, (size_t)cap * sizeof *ls_txt);
        }
        ls_id[n_ls] = sqlite3_column_int64(ls, 0);
        ls_txt[n_ls++] = cp__xstrdup((const char *)sqlite3_column_text(ls, 1));
    }
    sqlite3_bind_int64(st, 1, p.app);
    sqlite3_bind_int64(st, 2, q->from_ms);
    sqlite3_bind_int64(st, 3, q->to_ms);
    int64_t last = -1;
    const char *last_txt = "";
    for (uint64_t n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
        int64_t l = sqlite3_column_int64(st, 3);
        if (!cp__sqlite_lset_allowed(&p, l))
            continue;
        if (l != last) {
            last = l;
            last_txt = "";
            for (int64_t i = 0; i < n_ls; i++)
                if (ls_id[i] == l)
                    last_txt = ls_txt[i];
        }
        cp_store_point_t pt = {(const char *)sqlite3_column_text(st, 0), last_txt, sqlite3_column_int64(st, 1),
                               sqlite3_column_double(st, 2)};
        if ((rc = fn(ud, &pt)))
            break;
        if ((n & 1023) == 1023 && cp__sqlite_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
    }
    if (!rc && cp__sqlite_reader_over(r))
        rc = CP_ETIMEOUT;   /* the statement was interrupted */
    for (int64_t i = 0; i < n_ls; i++)
        free(ls_txt[i]);
    free(ls_txt);
    free(ls_id);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ls);
    free(lset_ok);
    if (rc > 0) {   /* fn's own stop value */
        cp__sqlite_query_end(r, 0, err, errlen);
        return rc;
    }
    return cp__sqlite_query_end(r, rc, err, errlen);
}
