/* store_pg_read.h - internals of the PostgreSQL engine's readers
 * (store_pg_query.c, store_pg_read.c): one query's state and the helpers
 * both files use. Nothing outside store_pg*.c includes this.
 *
 * Thread: the reader's query worker. */
#ifndef CP_RELAY_STORE_PG_READ_H
#define CP_RELAY_STORE_PG_READ_H

#include "store_pg_int.h"
#include "store_rows.h"

/* One query while the tier planner runs; rows holds its mode. */
typedef struct cp__pg_plan {
    cp__pg_reader_t *r;
    int64_t          app, type;
    uint8_t         *lset_ok;   /* label filter (owned), NULL = all */
    cp_store_rows_t  rows;
    struct { int64_t step, lo, hi; } *reads;   /* the planner's reads, fetched at once */
    size_t           n_reads, cap_reads;
    int              rc;
} cp__pg_plan_t;

/* Begins the read transaction (reconnecting a broken connection:
 * CP_EUNAVAIL when the database is not there). */
int cp__pg_read_begin(cp__pg_reader_t *r);
/* Ends it; maps a lost connection to CP_EUNAVAIL and a cancelled
 * statement past the deadline to CP_ETIMEOUT; fills err. */
int cp__pg_read_end(cp__pg_reader_t *r, int rc, char *err, size_t errlen);
/* App id by name, -1 if unknown (*err on a failed statement). */
int64_t cp__pg_read_app(cp__pg_reader_t *r, const char *name, bool *err);
/* Begins the read and resolves app, type (and its unit, caller frees)
 * and label filter into p. cp__pg_query_fini and cp__pg_read_end after,
 * whatever it returned. */
int cp__pg_query_setup(cp__pg_reader_t *r, const cp_store_query_t *q, cp__pg_plan_t *p, char **unit,
                       char *err, size_t errlen);
void cp__pg_query_fini(cp__pg_plan_t *p);
/* Runs the planner over [lo, hi) into p->rows; failures land in p->rc. */
void cp__pg_plan_run(cp__pg_plan_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour);
/* The app's name cache, brought up to date in this snapshot. */
cp__pg_rapp_t *cp__pg_rapp_refresh(cp__pg_reader_t *r, int64_t app, int *rc /* OUT */);
/* The timeline's series object (name -> per-step points) into series. */
int cp__pg_series_steps(cp__pg_reader_t *r, cp__pg_plan_t *p, const cp_store_query_t *q, int64_t step_ms,
                        uint32_t n, cp_buf_t *series);

#endif
