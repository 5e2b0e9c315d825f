/* store_pg_int.h - internals shared by the PostgreSQL engine's files
 * (store_pg.c: connections, schema, transactions, partitions, heartbeat;
 * store_pg_pipe.c: statement helpers and the writer's pipeline;
 * store_pg_dict.c: per-app dictionaries; store_pg_ingest.c: agent
 * connections and batches; store_pg_rollup.c: rollups and retention;
 * store_pg_query.c, store_pg_read.c: readers). Nothing outside store_pg*.c
 * includes this.
 *
 * Several relays write one database and read it, with no coordination but
 * the database's: every relay is stateless apart from caches.
 *
 * Tables (the same data model as SQLite's, store_sqlite_int.h):
 *   apps(id, name)   lsets(id, app_id, canon)   types(id, name, unit)
 *   app_types(app_id, type_id)   relays(id, host, pid, started_ms, heartbeat_ms)
 *   instances(id, app_id, iid, lset_id, host, ..., connected, relay, last_seq, covered_ms)
 *   counters(instance_id, name, value)
 *   strings/frames/stacks(app_id, id, h, ...): per-app dictionary; h is the
 *          64-bit hash of the content (UNIQUE(app_id, h)), id a dense per-app
 *          id (PRIMARY KEY(app_id, id))
 *   windows(app_id, type_id, start_ms, instance_id, seq, lset_id, end_ms, total, data)
 *   agg_m / agg_h(app_id, type_id, start_ms, lset_id, total, data): minute / hour tiers
 *   agg_state(app_id, step, done_ms)   dirty(app_id, step, start_ms)
 *   series(app_id, lset_id, name, t_ms, value)
 *   traces(id, trace_hi, trace_lo, app_id, instance_id, type_id, start_ms, end_ms, total, data):
 *          the trace index (store_trace.h), full resolution only, capped
 * windows, agg_m, agg_h and series are partitioned by day of start_ms / t_ms
 * (tables <name>_d<day>, plus a DEFAULT partition for rows of days without
 * one); retention drops whole day partitions.
 *
 * Coordination, all in the database:
 *  - dictionary ids: a relay that misses an entry in its cache takes the
 *    app's dictionary lock (a transaction advisory lock on its aux
 *    connection), brings its cache up to date (ids are dense: rows with id
 *    >= what it has), gives each entry still missing the next id and
 *    writes the new rows before it commits: ids stay dense and are
 *    committed in id order, before any window that uses them (readers load
 *    them incrementally, store_names.h);
 *  - dedupe: the instance row's last_seq. A batch stores only if its claim
 *    UPDATE instances SET last_seq=seq, claim=token ... WHERE last_seq < seq
 *    matched: the row lock orders two relays that got the same batch (an
 *    agent that moved), and the second sees the first's commit. The claim
 *    is queued in the group's pipeline, not waited for: each of the batch's
 *    writes carries the same fresh token and stores only where the instance
 *    row holds it (WHERE EXISTS ... claim=token), i.e. only if the claim
 *    matched; the claims' results are read at commit, and only then are the
 *    stored windows reported (live events);
 *  - late data vs rollups: before it aggregates minutes up to T, the
 *    rollup seals them (agg_state.sealed_ms = T) in a short transaction
 *    that holds the app's seal lock exclusively; ingest holds it shared
 *    and judges lateness by the seal: a window is either committed before
 *    the seal (so in the rollup's reads) or sees it (late: dirty);
 *  - rollups: whichever relay gets pg_try_advisory_xact_lock builds them;
 *  - registry: instances.relay names the relay holding the connection;
 *    relays.heartbeat_ms says who is alive (cp_store_heartbeat).
 *
 * Threads: the writer (store worker) owns cp__pg_t and its two connections
 * (main: group transactions; aux: dictionary, partitions, heartbeat);
 * each reader owns its connection. */
#ifndef CP_RELAY_STORE_PG_INT_H
#define CP_RELAY_STORE_PG_INT_H

#include <endian.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "rutil.h"
#include "store.h"
#include "store_blob.h"
#include "store_ctx.h"
#include "store_delta.h"
#include "store_engine.h"
#include "store_names.h"
#include "store_trace.h"

#define CP__PG_DAY_MS 86400000LL
#define CP__PG_LOCK_DICT 0x63700001   /* advisory lock class: (this, app id) */
#define CP__PG_LOCK_ROLLUP 0x63700002 /* (this, 0): the relay that builds rollups */
#define CP__PG_LOCK_PART 0x63700003   /* (this, 0): partition DDL */
#define CP__PG_LOCK_SEAL 0x63700004   /* (this, app id): ingest shared, the seal exclusive */

/* ---- statements (store_pg_pipe.c) ---- */

/* Parameters of one statement: text values, bytea in binary. */
typedef struct cp__pgq {
    const char *v[64];
    int         len[64], fmt[64];
    int         n;
    char        num[64][24];
} cp__pgq_t;
void cp__pgq_reset(cp__pgq_t *q);
void cp__pgq_i64(cp__pgq_t *q, int64_t x);
void cp__pgq_f64(cp__pgq_t *q, double x);
void cp__pgq_text(cp__pgq_t *q, const char *s);       /* borrowed until run */
void cp__pgq_bytes(cp__pgq_t *q, const void *p, size_t n);   /* borrowed until run */
/* Runs sql with q's parameters (NULL: none). Returns the result (caller
 * PQclear) when its status is ok, else logs, clears and returns NULL.
 * Binary results with bin. */
PGresult *cp__pg_run(PGconn *db, const char *sql, const cp__pgq_t *q, bool bin);
/* Prepared statements of the writer's main connection (store_pg.c). */
#define CP__PG_Q_CLAIM    "claim"      /* $1 instance $2 seq $3 now $4 covered $5 relay $6 token -> 1 row if stored */
/* ... and the batch's writes, each stored only where instance $i holds claim token $t: */
#define CP__PG_Q_WINDOW   "window"     /* one windows row (9 values, $9 bytea), $10 token */
#define CP__PG_Q_COUNTERS "counters"   /* $1 instance, $2 text[] names, $3 bigint[] values, $4 token */
#define CP__PG_Q_SERIES   "series"     /* $1 app $2 lset, $3 text[] $4 bigint[] $5 float8[], $6 instance $7 token */
#define CP__PG_Q_SEAL     "seal"       /* $1 lock class $2 app: the shared seal lock */
#define CP__PG_Q_MDONE    "mdone"      /* $1 app -> the minute seal */
#define CP__PG_Q_TRACE    "trace"      /* one traces row (9 values, $9 bytea), $10 token */
#define CP__PG_Q_DIRTY    "dirty"      /* $1 app $2 minute: recompute it */
#define CP__PG_Q_DISC     "disc"       /* $1 ms $2 instance $3 relay: disconnected */
PGresult *cp__pg_exec(PGconn *db, const char *name, const cp__pgq_t *q);
/* Queues prepared statement `name` on db without waiting for it (libpq
 * pipeline mode, store_pg_pipe.c): its outcome arrives with the next
 * statement run on db (cp__pg_run/exec/cmd/i64 or cp__pg_sync first end
 * the pipeline), which fails if a queued one failed. For the statements of
 * a group transaction: a whole group costs one round trip. q is copied by
 * libpq. */
int cp__pg_send(PGconn *db, const char *name, const cp__pgq_t *q);
/* The same, and fn(ud, result) is called with its result when the
 * pipeline ends (result NULL: it failed, was skipped after a failure, or
 * the connection was lost; borrowed for the call). Also on failure to
 * queue it. */
typedef void (*cp__pg_res_fn)(void *ud, const PGresult *r);
int cp__pg_send_fn(PGconn *db, const char *name, const cp__pgq_t *q, cp__pg_res_fn fn, void *ud);
/* Queues an unprepared statement (q NULL: no parameters, as BEGIN, COMMIT). */
int cp__pg_send_sql(PGconn *db, const char *sql, const cp__pgq_t *q);
/* Ends db's pipeline: 0, or CP_EDB if a queued statement failed. */
int cp__pg_sync(PGconn *db);
/* Runs n statements (q[i] NULL: no parameters) in one round trip; out[i]
 * their results (caller PQclear), all NULL when any failed (CP_EDB). */
int cp__pg_run_many(PGconn *db, int n, const char *const *sql, const cp__pgq_t *const *q, bool bin,
                    PGresult **out /* OUT */);
/* Ends db's pipeline and rolls its transaction back. */
void cp__pg_rollback_now(PGconn *db);
/* Runs a statement without rows; CP_EDB on error. */
int cp__pg_cmd(PGconn *db, const char *sql, const cp__pgq_t *q);
/* First column of the first row as int64 (text results), or dflt; *err
 * set on a failed statement (may be NULL). */
int64_t cp__pg_i64(PGconn *db, const char *sql, const cp__pgq_t *q, int64_t dflt, bool *err);
int64_t cp__pg_get_i64(const PGresult *r, int row, int col);   /* text result; NULL -> 0 */
/* Connects to uri; NULL (logged) on failure. */
PGconn *cp__pg_connect(const char *uri);
/* Is the connection usable (reconnects a broken one once)? */
bool cp__pg_ok(PGconn *db);

/* ---- the writer ---- */

/* One app as the writer knows it: its id, dictionary cache and counts. */
typedef struct cp__pg_app {
    int64_t     id;
    char       *name;
    cp__hmap_t  str_h, frame_h, stack_h;   /* content hash -> app id + 1 */
    cp__hmap_t  stack_at;                  /* app stack id -> stack_frames index + 1 */
    cp__vu32_t  stack_off, stack_frames;   /* frames of cached stacks */
    uint32_t    have_str, have_frame, have_stack;   /* ids [0, have) are in the cache */
    uint32_t    next_str, next_frame, next_stack;   /* under the dict lock: the next new id */
    cp_buf_t    copy_str, copy_frame, copy_stack;   /* new rows (VALUES tuples), written at dict_end */
    cp__hmap_t  linked_types;              /* type ids known in app_types */
    int64_t     mdone;                     /* minute seal read in tx mdone_gen */
    uint64_t    mdone_gen;
    cp__hmap_t  dirty_marked;              /* minutes marked dirty in transaction dirty_gen */
    uint64_t    dirty_gen;
    uint32_t    conns;
    struct cp__pg_app *next;
} cp__pg_app_t;

/* Where the writer's time goes (wall clock, per stage), logged at close:
 * the evidence for tuning round trips and lock waits. */
enum { CP__PG_T_BEGIN, CP__PG_T_DICT, CP__PG_T_DICT_LOCK, CP__PG_T_CLAIM, CP__PG_T_SEAL, CP__PG_T_WRITE,
       CP__PG_T_COMMIT, CP__PG_T_MAINT, CP__PG_T__N };
typedef struct cp__pg_prof {
    uint64_t tx, batches, dict_locks, maint;
    int64_t  ns[CP__PG_T__N];
} cp__pg_prof_t;
int64_t cp__pg_mono_ns(void);
/* Adds the time since *t0 to stage k and moves *t0 to now. */
void    cp__pg_prof_add(cp__pg_prof_t *p, int k, int64_t *t0);

typedef struct cp__pg {
    cp_store_t        base;
    cp_store_config_t cfg;
    char             *uri;
    char              relay_id[96];
    PGconn           *db;      /* group transactions */
    PGconn           *aux;     /* autocommit: dictionary, partitions, heartbeat */
    bool              in_tx, dict_tx;
    uint64_t          tx_gen;
    cp__pg_app_t     *apps;
    struct { int64_t id; char *name; } *types;
    size_t            n_types;
    cp__hmap_t        parts;   /* (table, day) known to exist */
    cp__hmap_t        inst_conns;   /* instance id -> live connections on this relay */
    cp_store_discs_t  disc;              /* pending disconnects (written at commit) */
    cp__pg_app_t     *dict_app;          /* app whose dictionary lock aux holds */
    cp_store_conn_t **tx_conns;          /* connections that wrote in the open transaction */
    size_t            n_tx_conns, cap_tx_conns;
    cp_buf_t          tmp, tmp2;
    cp_store_blob_pairs_t *per_type;
    size_t            n_per_type;
    cp_store_traces_t traces;            /* scratch: a batch's trace rows */
    cp_store_refusal_t refusal;
    int64_t           last_part_ms;      /* last partition upkeep */
    int64_t           maint_ms;          /* start of the last maintenance pass */
    uint64_t          maint_tx_gen;      /* tx_gen at the last cp__pg_maintain call */
    cp__pg_prof_t     prof;
    /* the open transaction's batches, in claim order (store_pg_ingest.c) */
    struct cp__pg_pend *pend;
    size_t            n_pend, cap_pend, n_judged;   /* judged: claims whose result arrived */
    struct cp__pg_ev *evs;               /* their windows' live events, reported at commit */
    size_t            n_evs, cap_evs;
    cp_buf_t          ev_text;           /* the events' strings */
    uint64_t          claim_tok;         /* the last claim token handed out */
    int64_t           tok;               /* the token of the batch being stored */
    cp__hmap_t        inst_seq_at;       /* instance id -> inst_seq index + 1 */
    uint64_t         *inst_seq;          /* highest seq this relay claimed per instance (committed
                                          * or in the open transaction; cleared by a rollback) */
    size_t            n_inst_seq, cap_inst_seq;
} cp__pg_t;

typedef struct cp__pg_conn {
    cp_store_conn_t  base;
    cp__pg_app_t    *app;
    int64_t          inst_id, lset_id;
    char            *iid, *canon;
    uint64_t         last_seq;   /* highest seq this relay knows stored */
    bool             broken;     /* wrote into a rolled-back transaction */
    uint64_t         tx_gen;
    cp_store_idmap_t map;
    cp_store_ctx_t   ctx;        /* request label sets (store_ctx.h) */
} cp__pg_conn_t;

/* store_pg.c */
int  cp__pg_tx_begin(cp__pg_t *s);
void cp__pg_touch_conn(cp__pg_t *s, cp__pg_conn_t *c);
int  cp__pg_get_app(cp__pg_t *s, const char *name, cp__pg_app_t **out);
int  cp__pg_get_type(cp__pg_t *s, const char *name, const char *unit, int64_t *id);
int  cp__pg_tenant_room(cp__pg_t *s, const char *qname, int what);
/* Makes sure table's partition of the day holding t_ms exists (aux). */
int  cp__pg_partition(cp__pg_t *s, const char *table, int64_t t_ms);
void cp__pg_disconnect_later(cp__pg_t *s, int64_t id, int64_t ms);

/* store_pg_dict.c: the intern callbacks of store_delta.h; ud = the app */
extern const cp_store_intern_ops_t cp__pg_intern_ops;
typedef struct cp__pg_ictx { cp__pg_t *s; cp__pg_app_t *a; } cp__pg_ictx_t;
/* Ends the dictionary transaction of aux (commit, or rollback with ok false:
 * the app's cache is then dropped). */
int  cp__pg_dict_end(cp__pg_t *s, bool ok);
void cp__pg_app_cache_clear(cp__pg_app_t *a);

/* store_pg_ingest.c / store_pg_rollup.c */
int  cp__pg_conn_open(cp_store_t *s, const cp_hello_t *h, int64_t now_ms, cp_store_conn_t **out, uint64_t *last_seq);
int  cp__pg_conn_batch(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b, int64_t now_ms,
                       cp_store_event_fn ev, void *ud);
uint64_t cp__pg_conn_last_seq(const cp_store_conn_t *c);
void cp__pg_conn_close(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms);
int  cp__pg_maintain(cp_store_t *s, int64_t now_ms);
/* The open transaction's batches: forgets them (rollback: with what this
 * relay knew of their instances), or, once the COMMIT succeeded, reports
 * the windows of those whose claims matched (store_pg_ingest.c). */
void cp__pg_pend_reset(cp__pg_t *s, bool rolled_back);
void cp__pg_pend_report(cp__pg_t *s);
void cp__pg_pend_fini(cp__pg_t *s);
int  cp__pg_agg_add(cp__pg_t *s, int64_t app, int64_t step, int64_t tid, int64_t bucket, int64_t lset,
                    const cp_store_blob_pairs_t *w);

/* ---- readers (store_pg_query.c, store_pg_read.c) ---- */

typedef struct cp__pg_rapp { int64_t id; cp_store_names_t names; struct cp__pg_rapp *next; } cp__pg_rapp_t;

typedef struct cp__pg_reader {
    cp_store_reader_t base;
    char          *uri;
    PGconn        *db;
    cp__pg_rapp_t *apps;
    int64_t        deadline_ms;
    const bool    *cancel;
} cp__pg_reader_t;

int  cp__pg_reader_open(const char *where, cp_store_reader_t **out);
void cp__pg_reader_close(cp_store_reader_t *r);
void cp__pg_reader_set_limit(cp_store_reader_t *r, int64_t deadline_ms, const bool *cancel);
bool cp__pg_reader_over(const cp__pg_reader_t *r);
int  cp__pg_apps_json(cp_store_reader_t *r, cp_buf_t *out);
int  cp__pg_instances_json(cp_store_reader_t *r, const char *app, cp_buf_t *out);
int  cp__pg_profile(cp_store_reader_t *r, const cp_store_query_t *q, cp_profile_t *out, char *err, size_t errlen);
int  cp__pg_profile_windows(cp_store_reader_t *r, const cp_store_query_t *q, unsigned flags, cp_profile_t *out,
                            cp_store_window_fn fn, void *ud, char *err, size_t errlen);
int  cp__pg_timeline(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                     uint32_t n, cp_buf_t *series_json, char *err, size_t errlen);
int  cp__pg_series(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                   char *err, size_t errlen);
int  cp__pg_trace_profile(cp_store_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out,
                          char *err, size_t errlen);
int  cp__pg_trace_entries(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                          char *err, size_t errlen);   /* store_pg_trace.c */

/* ---- fleet control (store_pg_control.c; tables: store_control.h) ---- */

extern const char cp__pg_control_schema[];
int  cp__pg_control_audit(cp_store_t *s, const cp_store_audit_t *a);
int  cp__pg_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a);
int  cp__pg_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                 const char *who);
int  cp__pg_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                               cp_store_audit_fn fn, void *ud);
int  cp__pg_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                             void *ud);
int  cp__pg_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud);

#endif
