/* bench_proc.h - the relays under test of scripts/bench-relay: starting
 * them (one on SQLite, or N on one PostgreSQL database), their CPU time and
 * memory from /proc, stopping them, and the store figures read back from
 * the SQLite file or the PostgreSQL database (bench_pg.c).
 *
 * Thread: the bench's main thread. */
#ifndef CP_BENCH_PROC_H
#define CP_BENCH_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CP_BENCH_MAX_RELAYS 8

typedef struct cp_bench_relays {
    int   n;
    pid_t pid[CP_BENCH_MAX_RELAYS];
    int   port[CP_BENCH_MAX_RELAYS];
} cp_bench_relays_t;

/* What to start: cprof binary, the bench's temp dir (relay 0: DIR/data and
 * DIR/relay.log; relay k > 0 of a PostgreSQL store: DIR/data<k>,
 * DIR/relay<k>.log), --sync, and either store NULL (one relay on SQLite,
 * TLS with cert/key when tls) or a postgres:// URI (n relays on it, no
 * TLS). r->port[0] must be set (a free port); the others are picked. */
typedef struct cp_bench_relay_cfg {
    const char *cprof, *dir, *sync, *store, *cert, *key;
    bool        tls;
    int         n;
} cp_bench_relay_cfg_t;

int  cp_bench_free_port(void);
/* Forks and execs the relays, waits until each answers /api/v1/apps
 * (10 s at most). Returns 0, -1 if a fork failed. */
int  cp_bench_relays_start(cp_bench_relays_t *r, const cp_bench_relay_cfg_t *c);
/* User + system CPU seconds of all relays so far. */
double cp_bench_relays_cpu_s(const cp_bench_relays_t *r);
/* A /proc/PID/status field of relay 0 in kB ("VmRSS:"), -1 if absent. */
long cp_bench_relay_status_kb(const cp_bench_relays_t *r, const char *key);
/* SIGTERM (a clean stop) and wait, every relay. */
void cp_bench_relays_stop(cp_bench_relays_t *r);

/* min(done_ms) of tier `step` from the SQLite file db or, with store, the
 * PostgreSQL database; 0 if unknown. */
int64_t cp_bench_agg_done(const char *db, const char *store, int64_t step);
/* Bytes of the store after a clean stop (SQLite: the files in data_dir;
 * PostgreSQL: every table, index and TOAST), and of the raw window blobs,
 * the minute + hour blobs and the stack dictionary. */
void cp_bench_store_sizes(const char *data_dir, const char *store, double *disk, double *raw, double *agg,
                          double *dict);

/* bench_pg.c */
int64_t cp_bench_pg_agg_done(const char *url, int64_t step);
int     cp_bench_pg_sizes(const char *url, double *db, double *raw, double *agg, double *dict);
/* CPU seconds (user + system) of the PostgreSQL server behind url so far:
 * its postmaster, live backends and reaped ones (same machine only; 0 if
 * unknown). */
double  cp_bench_pg_cpu_s(const char *url);
/* Prints each line of the relays' logs that contains needle, prefixed. */
void    cp_bench_relays_log_lines(const cp_bench_relays_t *r, const char *dir, const char *needle,
                                  const char *prefix);

#endif
