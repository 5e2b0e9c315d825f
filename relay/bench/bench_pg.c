/* bench_pg.c - figures read from the relays' PostgreSQL database for
 * scripts/bench-relay --store postgres (declared in bench_proc.h).
 *
 * Thread: the bench's main thread; one short connection per call. */
#include "bench_proc.h"

#include <libpq-fe.h>
#include <stdlib.h>

static double one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    double v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) && !PQgetisnull(r, 0, 0)
               ? strtod(PQgetvalue(r, 0, 0), NULL) : 0;
    PQclear(r);
    return v;
}

int64_t cp_bench_pg_agg_done(const char *url, int64_t step)
{
    PGconn *c = PQconnectdb(url);
    int64_t v = 0;
    if (PQstatus(c) == CONNECTION_OK)
        v = (int64_t)one(c, step == 3600000 ? "SELECT min(done_ms) FROM agg_state WHERE step=3600000"
                                            : "SELECT min(done_ms) FROM agg_state WHERE step=60000");
    PQfinish(c);
    return v;
}

int cp_bench_pg_sizes(const char *url, double *db, double *raw, double *agg, double *dict)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return -1;
    }
    PQclear(PQexec(c, "CHECKPOINT"));
    /* every table, partition, index and TOAST of the store (not the
     * empty database's own catalogs) */
    *db = one(c, "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                 " ON n.oid=c.relnamespace WHERE n.nspname='public' AND c.relkind='r'");
    *raw = one(c, "SELECT coalesce(sum(length(data)),0) FROM windows");
    *agg = one(c, "SELECT (SELECT coalesce(sum(length(data)),0) FROM agg_m) +"
                  " (SELECT coalesce(sum(length(data)),0) FROM agg_h)");
    *dict = one(c, "SELECT coalesce(sum(length(frames)),0) FROM stacks");
    PQfinish(c);
    return 0;
}
