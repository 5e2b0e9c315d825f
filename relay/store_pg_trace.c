/* store_pg_trace.c - the PostgreSQL engine's trace-entry scan
 * (cp_store_trace_entries, store.h): every trace row of one app and type
 * in a range, through the traces_a index (app_id, start_ms), each entry's
 * stack resolved by the reader's per-app names (store_trace.h). Used by
 * OTLP links (otlp_query.c).
 *
 * Thread: the reader's query worker; one read transaction. */
#include "store_pg_read.h"

#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "store_trace.h"

static int64_t bin_i64(const PGresult *st, int row, int col)
{
    uint64_t v;
    memcpy(&v, PQgetvalue(st, row, col), 8);
    return (int64_t)be64toh(v);
}

int cp__pg_trace_entries(cp_store_reader_t *r_, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                         char *err, size_t errlen)
{
    cp__pg_reader_t *r = (cp__pg_reader_t *)r_;
    PGresult *st = NULL;
    const char *type = strcmp(q->type, "alloc") ? q->type : "alloc_bytes";
    int rc = cp__pg_read_begin(r);
    if (rc)
        goto out;
    cp__pgq_t k = {0};
    cp__pgq_text(&k, q->app);
    cp__pgq_text(&k, type);
    cp__pgq_i64(&k, q->from_ms);
    cp__pgq_i64(&k, q->to_ms);
    st = cp__pg_run(r->db, "SELECT t.app_id, t.instance_id, t.start_ms, t.trace_hi, t.trace_lo, t.data"
                           " FROM traces t JOIN apps a ON a.id=t.app_id JOIN types y ON y.id=t.type_id"
                           " WHERE a.name=$1 AND y.name=$2 AND t.start_ms>=$3 AND t.start_ms<$4"
                           " ORDER BY t.start_ms, t.id", &k, true);
    if (!st) {
        rc = CP_EDB;
        goto out;
    }
    for (int i = 0; i < PQntuples(st) && !rc; i++) {
        if (cp__pg_reader_over(r)) {
            rc = CP_ETIMEOUT;
            break;
        }
        int64_t app = bin_i64(st, i, 0);
        cp__pg_rapp_t *a = cp__pg_rapp_refresh(r, app, &rc);   /* cheap when current */
        if (rc)
            break;
        cp_store_trace_entry_t e = {
            .hi = (uint64_t)bin_i64(st, i, 3), .lo = (uint64_t)bin_i64(st, i, 4),
            .instance = bin_i64(st, i, 1), .start_ms = bin_i64(st, i, 2),
        };
        if (!cp_store_trace_resolve(PQgetvalue(st, i, 5), (size_t)PQgetlength(st, i, 5), &a->names, &e, fn, ud))
            fprintf(stderr, "cprof relay: a malformed trace row of app %lld skipped\n", (long long)app);
    }
out:
    PQclear(st);
    return cp__pg_read_end(r, rc, err, errlen);
}
