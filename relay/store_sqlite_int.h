/* store_sqlite_int.h - internals shared by the SQLite engine's files
 * (store_sqlite.c: connection, schema, transactions, writer dictionary;
 * store_sqlite_ingest.c: connections and batches; store_sqlite_rollup.c:
 * downsampling and expiry; store_sqlite_query.c: readers;
 * store_sqlite_windows.c: the per-window profile query). Nothing outside
 * store_sqlite*.c includes this.
 *
 * One database file DIR/cprof.db in WAL mode. The writer connection belongs
 * to the store worker thread (ingest.c); each query thread opens its own
 * reader connection (WAL lets readers run beside the writer); one checkpoint
 * thread has its own connection.
 *
 * Tables (see also store.h):
 *   apps(id, name)            lsets(id, app_id, canon: store_labels.h)
 *   instances(id, app_id, iid, lset_id, host, pid, ..., last_seq, connected)
 *   counters(instance_id, name, value)     summed batch counters
 *   types(id, name, unit)     app_types(app_id, type_id)
 *   strings/frames/stacks(app_id, id, ...) per-app dictionary, dense ids
 *   windows(app_id, type_id, start_ms, instance_id, seq, lset_id, end_ms, total, data)
 *   agg(app_id, step, type_id, start_ms, lset_id, total, data)   step 60000 / 3600000
 *   agg_state(app_id, step, done_ms)   buckets < done_ms are aggregated
 *   dirty(app_id, step, start_ms)      aggregated buckets that got late data
 *   series(app_id, lset_id, name, t_ms, value)
 * windows.data / agg.data: the blob of store_blob.h. stacks.frames: repeated
 * uvarint frame id, root first.
 *
 * Invariant: the in-memory app dictionary of the writer (cp_stack_dict_t)
 * equals the strings/frames/stacks tables of that app (same dense ids),
 * because every new id is inserted in the same transaction that creates it.
 *
 * Rollback (a failed transaction: disk full, read-only dir, I/O error)
 * restores exactly what the transaction touched, from a journal kept while
 * it ran: the dictionaries that grew are reloaded (lazily, on next use),
 * watermarks and instance seqs get their old values, apps and types created
 * in it are forgotten, and the connections that sent into it are broken
 * (their id maps may name rolled-back ids: CP_ESTATE until they reconnect).
 * Every other connection and app goes on untouched. Disconnects are
 * written at the next successful commit (pending until then), so a failed
 * transaction cannot leave an instance "connected". */
#ifndef CP_RELAY_STORE_SQLITE_INT_H
#define CP_RELAY_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "rutil.h"
#include "stack_dict.h"
#include "store.h"
#include "store_blob.h"
#include "store_ctx.h"
#include "store_delta.h"
#include "store_trace.h"
#include "store_engine.h"
#include "store_names.h"

typedef struct cp__sqlite cp__sqlite_t;                 /* the writer (cp_store_t) */
typedef struct cp__sqlite_reader cp__sqlite_reader_t;   /* a reader (cp_store_reader_t) */
typedef struct cp__sqlite_conn cp__sqlite_conn_t;       /* a connection (cp_store_conn_t) */

/* ---- the operations of store_engine.h, as this engine's functions (the
 * table is in store_sqlite_engine.c) ---- */
int  cp__sqlite_open(const char *dir, const cp_store_config_t *cfg, cp__sqlite_t **out);
void cp__sqlite_close(cp__sqlite_t *s);
int  cp__sqlite_begin(cp__sqlite_t *s);
int  cp__sqlite_commit(cp__sqlite_t *s);
void cp__sqlite_rollback(cp__sqlite_t *s);
int  cp__sqlite_conn_open(cp__sqlite_t *s, const cp_hello_t *h, int64_t now_ms, cp__sqlite_conn_t **out,
                          uint64_t *last_seq);
int  cp__sqlite_conn_batch(cp__sqlite_t *s, cp__sqlite_conn_t *c, const cp_batch_t *b, int64_t now_ms,
                           cp_store_event_fn ev, void *ud);
uint64_t cp__sqlite_conn_last_seq(const cp__sqlite_conn_t *c);
void cp__sqlite_conn_close(cp__sqlite_t *s, cp__sqlite_conn_t *c, int64_t now_ms);
const cp_store_refusal_t *cp__sqlite_refusal(const cp__sqlite_t *s);
int  cp__sqlite_maintain(cp__sqlite_t *s, int64_t now_ms);
int64_t cp__sqlite_shrink(cp__sqlite_t *s, uint32_t min_closed);
int64_t cp__sqlite_disk_bytes(cp__sqlite_t *s);
int  cp__sqlite_trace_profile(cp__sqlite_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out,
                              char *err, size_t errlen);
int  cp__sqlite_trace_entries(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn,
                              void *ud, char *err, size_t errlen);
int  cp__sqlite_reader_open(const char *dir, cp__sqlite_reader_t **out);
void cp__sqlite_reader_close(cp__sqlite_reader_t *r);
void cp__sqlite_reader_set_limit(cp__sqlite_reader_t *r, int64_t deadline_ms, const bool *cancel);
int  cp__sqlite_apps_json(cp__sqlite_reader_t *r, cp_buf_t *out);
int  cp__sqlite_instances_json(cp__sqlite_reader_t *r, const char *app, cp_buf_t *out);
int  cp__sqlite_profile(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_profile_t *out, char *err,
                        size_t errlen);
int  cp__sqlite_profile_windows(cp__sqlite_reader_t *r, const cp_store_query_t *q, unsigned flags,
                                cp_profile_t *out, cp_store_window_fn fn, void *ud, char *err, size_t errlen);
int  cp__sqlite_timeline(cp__sqlite_reader_t *r, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                         uint32_t n, cp_buf_t *series_json, char *err, size_t errlen);
int  cp__sqlite_series(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                       char *err, size_t errlen);

/* ---- connection helpers (store_sqlite.c); any thread, on its own db ---- */

/* Runs sql (may hold several statements); logs and returns CP_EDB on error. */
int cp__sqlite_exec(sqlite3 *db, const char *sql);
/* Prepares a persistent statement; logs and returns NULL on error. */
sqlite3_stmt *cp__sqlite_prep(sqlite3 *db, const char *sql);
/* Steps a statement with no result rows; resets it. */
int cp__sqlite_step_done(sqlite3_stmt *st);
/* First column of the first row of sql bound with (a, b), or dflt. */
int64_t cp__sqlite_i64(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t dflt);
/* Opens DIR/cprof.db: the writer creates DIR and the file, readers open it
 * read-only. */
int cp__sqlite_open_db(const char *dir, bool writer, sqlite3 **out /* OUT */);

/* The fleet control tables and rows (store_sqlite_control.c,
 * store_control.h); the engine table's entries. */
extern const char cp__sqlite_control_schema[];
int cp__sqlite_control_audit(cp_store_t *s, const cp_store_audit_t *a);
int cp__sqlite_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a);
int cp__sqlite_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                    const char *who);
int cp__sqlite_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                                  cp_store_audit_fn fn, void *ud);
int cp__sqlite_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                                void *ud);
int cp__sqlite_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud);

/* ---- the writer (store worker thread only) ---- */

typedef struct cp__sqlite_app {
    int64_t          id;               /* -1: not in the database (rolled back) */
    char            *name;
    cp_stack_dict_t *dict;             /* NULL: reload from the database before use */
    int64_t          mdone, hdone;     /* aggregation watermarks */
    uint64_t         tx_gen;           /* == store's tx_gen: journaled in this transaction */
    cp__hmap_t       linked_types;     /* hash of type names known linked to the app */
    uint32_t         conns;            /* live connections: the dictionary is dropped with the last */
    struct cp__sqlite_app *next;
} cp__sqlite_app_t;

/* An instance with live connections: duplicates are judged against its
 * last_seq, whichever connection sent them. Freed when its last connection
 * closes (the database holds last_seq). */
typedef struct cp__sqlite_inst {
    int64_t  id;
    uint32_t conns;        /* live connections: memory truth, not transactional */
    uint64_t last_seq;     /* highest stored seq, as of the open transaction */
    uint64_t tx_gen;       /* == store's tx_gen: journaled in this transaction */
} cp__sqlite_inst_t;

/* What a transaction changed in memory, undone by cp_store_rollback. */
typedef struct cp__sqlite_journal {
    struct { cp__sqlite_app_t *app; uint32_t strs, frames, stacks; int64_t mdone, hdone; bool created; }
                     *apps;
    size_t            n_apps, cap_apps;
    struct { int64_t id; uint64_t last_seq; } *insts;
    size_t            n_insts, cap_insts;
    cp__sqlite_conn_t **conns;           /* connections opened or written in it */
    size_t            n_conns, cap_conns;
    size_t            n_types;         /* types cached before it began */
} cp__sqlite_journal_t;

typedef struct cp__sqlite_type { int64_t id; char *name; } cp__sqlite_type_t;

struct cp__sqlite {
    cp_store_t        base;           /* engine header (store_engine.h) */
    sqlite3          *db;
    /* WAL checkpoints run on their own thread and connection (PASSIVE: never
     * blocks the writer), so a commit never pays for copying the WAL back
     * into the database; the writer's auto-checkpoint is off. */
    pthread_t         ckpt_thread;
    bool              ckpt_started;
    pthread_mutex_t   ckpt_mu;
    pthread_cond_t    ckpt_cv;
    bool              ckpt_stop;
    cp_store_config_t cfg;
    char             *dir;
    cp__sqlite_app_t *apps;
    cp__sqlite_type_t *types;
    size_t            n_types;
    cp__hmap_t        inst_idx;       /* instance row id -> insts slot + 1 */
    cp__sqlite_inst_t **insts;        /* slots; NULL = free */
    size_t            n_insts;
    cp_store_discs_t  disc;              /* pending disconnects (written at commit) */
    uint64_t          tx_gen;         /* bumped by every cp_store_begin */
    cp__sqlite_journal_t j;
    cp_buf_t          tmp, tmp2;
    cp_store_blob_pairs_t *per_type;  /* scratch: one accumulator per batch type */
    size_t            n_per_type;
    cp_store_traces_t traces;          /* scratch: a batch's trace rows (store_trace.h) */
    bool              in_tx;
    uint32_t          closed_since_shrink;   /* connections closed since cp_store_shrink released memory */
    cp_store_refusal_t refusal;       /* why the last tenant limit refused */
    sqlite3_stmt *ins_str, *ins_frame, *ins_stack, *ins_window, *upd_inst, *upsert_counter,
                 *ins_series, *ins_dirty, *ins_app_type, *ins_trace;
};

struct cp__sqlite_conn {
    cp_store_conn_t    base;
    cp__sqlite_app_t  *app;
    cp__sqlite_inst_t *inst;      /* NULL once broken by a rollback of its hello */
    int64_t     inst_id, lset_id;
    char       *iid, *canon;
    bool        broken;           /* sent into a rolled-back transaction */
    uint64_t    tx_gen;           /* == store's tx_gen: journaled in this transaction */
    cp_store_idmap_t map;         /* connection id -> app id (store_delta.h) */
    cp_store_ctx_t   ctx;         /* instance labels, the agent's label sets (store_ctx.h) */
};

/* The writer's state of app `name`, created (row + empty dictionary) or
 * loaded from the database on first use; with dict, its dictionary is
 * loaded too. Borrowed until the store closes (never freed before). */
int cp__sqlite_get_app(cp__sqlite_t *s, const char *name, bool dict, cp__sqlite_app_t **out /* OUT */);
/* Tenant limits (cp_store_config_t.max_*): 0 if `qname` (a qualified app
 * name) may add one more app (CP_STORE_LIMIT_APPS), label set or type;
 * CP_ELIMIT with s->refusal set if its tenant is at the limit; CP_EDB. */
int cp__sqlite_tenant_room(cp__sqlite_t *s, const char *qname, int what);
/* Does `sql` (one text parameter, or an int64 then a text) return a row? */
bool cp__sqlite_exists(sqlite3 *db, const char *sql, int64_t a, const char *text);
/* The id of sample type `name`, created on first use. */
int cp__sqlite_get_type(cp__sqlite_t *s, const char *name, const char *unit, int64_t *id /* OUT */);
/* Journals app / instance / connection state before the transaction
 * changes it (once per transaction each). */
void cp__sqlite_touch_app(cp__sqlite_t *s, cp__sqlite_app_t *a);
void cp__sqlite_touch_inst(cp__sqlite_t *s, cp__sqlite_inst_t *i);
void cp__sqlite_touch_conn(cp__sqlite_t *s, cp__sqlite_conn_t *c);
/* Makes sure a has a database row (after a rollback removed it) and, with
 * dict, a loaded dictionary (after a rollback dropped it). */
int cp__sqlite_app_ready(cp__sqlite_t *s, cp__sqlite_app_t *a, bool dict);
/* Live instance state: lookup, or create with last_seq. */
cp__sqlite_inst_t *cp__sqlite_inst_get(cp__sqlite_t *s, int64_t id, bool create, uint64_t last_seq);
void cp__sqlite_inst_release(cp__sqlite_t *s, cp__sqlite_inst_t *i);
/* Queues "instance id disconnected at ms" for the next commit. */
void cp__sqlite_disconnect_later(cp__sqlite_t *s, int64_t id, int64_t ms);

/* ---- readers (store_sqlite_query.c); the owning query thread only ---- */

/* One app's name cache in a reader. */
typedef struct cp__sqlite_rapp {
    int64_t          id;
    cp_store_names_t names;
    struct cp__sqlite_rapp *next;
} cp__sqlite_rapp_t;

struct cp__sqlite_reader {
    cp_store_reader_t base;
    sqlite3 *db;
    cp__sqlite_rapp_t *apps;
    sqlite3_stmt *app_id, *type_id;
    int64_t     deadline_ms;     /* monotonic; 0 = none */
    const bool *cancel;
};

/* One query's state while the tier planner runs. Exactly one mode: acc
 * (merge every row into a dense accumulator), row (hand each row to the
 * callback) or points (timeline totals per step). */
typedef struct cp__sqlite_plan {
    cp__sqlite_reader_t *r;
    int64_t app, type;
    const uint8_t *lset_ok;   /* NULL = all */
    int64_t n_lset;
    /* profile mode */
    cp_store_blob_acc_t *acc;
    /* row mode: st's columns are start_ms, lset_id, data (blob), end_ms,
     * instance_id (-1 for an aggregate row); step 0 = a raw window */
    void (*row)(struct cp__sqlite_plan *p, int64_t step, sqlite3_stmt *st);
    void *row_ud;
    /* timeline mode */
    uint64_t *points;
    uint32_t npoints;
    int64_t from, step;
    int rc;
} cp__sqlite_plan_t;

/* Past the reader's deadline or cancelled (cp_store_reader_set_limit). */
bool cp__sqlite_reader_over(const cp__sqlite_reader_t *r);
/* Resolves app, type and label filter into p (zeroed first; *lset_ok is
 * the filter, caller frees; *unit the type's unit if unit != NULL, caller
 * frees) and begins the read transaction: cp__sqlite_query_end ends it,
 * whatever this returned. CP_ENOTFOUND with err set for an unknown app or
 * type. q->type NULL resolves no type (p->type = -1: series queries). */
int cp__sqlite_query_setup(cp__sqlite_reader_t *r, const cp_store_query_t *q, cp__sqlite_plan_t *p,
                           uint8_t **lset_ok, char **unit, char *err, size_t errlen);
/* Ends the read transaction; maps an interrupted statement to CP_ETIMEOUT
 * and fills err for failures other than CP_ENOTFOUND. Returns the code. */
int cp__sqlite_query_end(cp__sqlite_reader_t *r, int rc, char *err, size_t errlen);
/* Does label set l pass the query's filter? */
bool cp__sqlite_lset_allowed(const cp__sqlite_plan_t *p, int64_t l);
/* Runs the tier planner over [lo, hi) with the app's watermarks and dirty
 * buckets as of this read transaction; use_min/use_hour as in
 * cp_store_plan_t. Failures and the deadline land in p->rc. */
void cp__sqlite_plan_run(cp__sqlite_plan_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour);
/* The reader's cache of app id (created empty on first use); borrowed
 * until the reader closes. */
cp__sqlite_rapp_t *cp__sqlite_reader_rapp(cp__sqlite_reader_t *r, int64_t id);
/* Brings the app cache up to date with the database (inside the caller's
 * read transaction). */
int cp__sqlite_rapp_refresh(cp__sqlite_reader_t *r, cp__sqlite_rapp_t *a);

#endif
