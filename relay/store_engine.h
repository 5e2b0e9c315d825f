/* store_engine.h - the interface a storage engine implements behind
 * store.h: one table of operations, chosen when the store is opened from
 * its location (store.c: "postgres://..." or "postgresql://..." selects
 * PostgreSQL, "sqlite:DIR" or a plain DIR selects SQLite).
 *
 * Each engine defines its own writer, reader and connection structs whose
 * FIRST member is the matching header below, so store.c can find the
 * operations from any handle; the engine casts back to its struct. The
 * operations have exactly the contracts of the store.h functions of the
 * same name (threads, ownership, codes); store.c adds nothing but the
 * dispatch.
 *
 * What every engine shares (call it, do not copy it): store_blob.h (window
 * blob codec), store_delta.h (a connection's dictionary delta and the
 * per-type split of a batch), store_tier.h (tiers, rollups, late data,
 * expiry cuts, planner), store_names.h (stack ids -> names), store_labels.h
 * (label sets), store_json.h (apps / instances documents).
 *
 * Nothing outside store*.c includes this. */
#ifndef CP_RELAY_STORE_ENGINE_H
#define CP_RELAY_STORE_ENGINE_H

#include "store.h"
#include "store_control.h"

typedef struct cp_store_engine cp_store_engine_t;

struct cp_store        { const cp_store_engine_t *eng; };
struct cp_store_reader { const cp_store_engine_t *eng; };
struct cp_store_conn   { const cp_store_engine_t *eng; };

struct cp_store_engine {
    const char *name;                          /* "sqlite", "postgres" */
    /* writer */
    int  (*open)(const char *where, const cp_store_config_t *cfg, cp_store_t **out);
    void (*close)(cp_store_t *s);
    int  (*begin)(cp_store_t *s);
    int  (*commit)(cp_store_t *s);
    void (*rollback)(cp_store_t *s);
    int  (*conn_open)(cp_store_t *s, const cp_hello_t *h, int64_t now_ms, cp_store_conn_t **out,
                      uint64_t *last_seq);
    int  (*conn_batch)(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b, int64_t now_ms,
                       cp_store_event_fn ev, void *ud);
    uint64_t (*conn_last_seq)(const cp_store_conn_t *c);
    void (*conn_close)(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms);
    const cp_store_refusal_t *(*refusal)(const cp_store_t *s);
    int  (*maintain)(cp_store_t *s, int64_t now_ms);
    int  (*heartbeat)(cp_store_t *s, int64_t now_ms);     /* NULL: nothing to do */
    int64_t (*shrink)(cp_store_t *s, uint32_t min_closed);
    int64_t (*disk_bytes)(cp_store_t *s);
    /* readers */
    int  (*reader_open)(const char *where, cp_store_reader_t **out);
    void (*reader_close)(cp_store_reader_t *r);
    void (*reader_set_limit)(cp_store_reader_t *r, int64_t deadline_ms, const bool *cancel);
    int  (*apps_json)(cp_store_reader_t *r, cp_buf_t *out);
    int  (*instances_json)(cp_store_reader_t *r, const char *app, cp_buf_t *out);
    int  (*profile)(cp_store_reader_t *r, const cp_store_query_t *q, cp_profile_t *out, char *err,
                    size_t errlen);
    int  (*profile_windows)(cp_store_reader_t *r, const cp_store_query_t *q, unsigned flags,
                            cp_profile_t *out, cp_store_window_fn fn, void *ud, char *err, size_t errlen);
    int  (*timeline)(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                     uint32_t n, cp_buf_t *series_json, char *err, size_t errlen);
    int  (*series)(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                   char *err, size_t errlen);
    int  (*trace_profile)(cp_store_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out,
                          char *err, size_t errlen);
    int  (*trace_entries)(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                          char *err, size_t errlen);   /* NULL: CP_EUNSUPP */
    /* fleet control (store_control.h; the tables are listed there). NULL:
     * this engine keeps none (writes succeed and are lost, walks are empty) */
    int  (*control_audit)(cp_store_t *s, const cp_store_audit_t *a);
    int  (*control_ack)(cp_store_t *s, const cp_store_ctl_ack_t *a);
    int  (*control_set_defaults)(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                 const char *who);
    int  (*control_audit_rows)(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                               cp_store_audit_fn fn, void *ud);
    int  (*control_ack_rows)(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                             void *ud);
    int  (*control_defaults_rows)(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud);
};

/* The engine of location `where` (NULL: PostgreSQL asked of a relay built
 * without it); *rest is what the engine opens (the DIR of "sqlite:DIR",
 * the whole URI for PostgreSQL). */
const cp_store_engine_t *cp_store_engine_for(const char *where, const char **rest /* OUT */);

extern const cp_store_engine_t cp__store_sqlite_engine;
#ifdef CPROF_WITH_PG
extern const cp_store_engine_t cp__store_pg_engine;
#endif

#endif
