/* bench_pg.h - the PostgreSQL side of scripts/bench-relay --store postgres
 * (issue 20): reads the shared database for the figures the SQLite run
 * takes from cprof.db. Thread: the bench's main thread. */
#ifndef CP_BENCH_PG_H
#define CP_BENCH_PG_H

#include <stdint.h>

/* min(done_ms) of the tier `step` over all apps; 0 if unknown. */
int64_t cp_bench_pg_agg_done(const char *url, int64_t step);

/* Bytes: the whole database, raw window blobs, minute + hour blobs, stack
 * dictionary blobs. Returns 0, -1 if the database cannot be read. */
int cp_bench_pg_sizes(const char *url, double *db, double *raw, double *agg, double *dict);

#endif
