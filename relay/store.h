/* store.h - the relay's storage interface; ingest and query code only see
 * this header. Engines behind it (store_engine.h, chosen at open from the
 * store's location): SQLite (store_sqlite*.c, the default) and PostgreSQL
 * (store_pg*.c, several relays on one database).
 * What every engine shares sits in its own files: the window blob codec
 * (store_blob.h), label sets (store_labels.h), tiers, rollups and the query
 * planner (store_tier.h), name resolution (store_names.h) and the apps /
 * instances documents (store_json.h); an engine adds its SQL and connection
 * handling.
 *
 * Two kinds of handle:
 *  - cp_store_t, the writer: owned by the single store worker thread
 *    (ingest.c). Registry updates, dictionary interning, window rows,
 *    downsampling and expiry all go through it, inside begin/commit, so a
 *    group of batches becomes durable with one commit (group commit); the
 *    caller acks only after cp_store_commit() returned 0.
 *  - cp_store_reader_t, one per query thread: reads a consistent snapshot
 *    (one read transaction per query) and resolves stacks to function names
 *    with a per-app cache that grows incrementally (ids are append-only).
 *
 * Data model (what any engine must keep):
 *   app -> instances (identity from hello, labels, JVM, first/last seen,
 *          connected, summed batch counters)
 *   per app: strings, frames, stacks interned to dense ids (stored once)
 *   full-resolution windows: one per (instance, window, type), a blob of
 *          varint (stack-id delta, value) pairs sorted by stack id
 *   aggregates: per (app, label set, type) pre-merged minute and hour rows
 *   series: time-series points (GC pauses, thread counts)
 * Retention tiers: full / minute / hour, each expired by cp_store_maintain.
 */
#ifndef CP_RELAY_STORE_H
#define CP_RELAY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

typedef struct cp_store cp_store_t;
typedef struct cp_store_reader cp_store_reader_t;
typedef struct cp_store_conn cp_store_conn_t;

typedef struct cp_store_config {
    int64_t full_ms;      /* keep full-resolution windows this long (default 14 d) */
    int64_t minute_ms;    /* keep minute aggregates (default 90 d) */
    int64_t hour_ms;      /* keep hour aggregates (default 2 y) */
    int64_t grace_ms;     /* a minute is aggregated once this old (default 2 min) */
    bool    sync_full;    /* synchronous=FULL (default) vs NORMAL: both survive kill -9 */
    uint32_t max_dict;    /* ids per dictionary table per connection (CP_ELIMIT past it) */
    /* Per tenant (the part of a qualified app name before CP_TENANT_SEP,
     * auth.h; "" for unqualified names): a NEW app, label set or profile
     * type past these counts is refused with CP_ELIMIT and
     * cp_store_refusal() says which. 0 = unlimited. */
    uint32_t max_apps, max_lsets, max_types;
    int64_t  wal_limit;   /* WAL bytes kept after a checkpoint; a bigger WAL is truncated (64 MiB) */
} cp_store_config_t;

void cp_store_config_default(cp_store_config_t *c);

/* Opens the store at `where`: "postgres://..." / "postgresql://..." (a
 * libpq URI; CP_EINVAL if this relay was built without PostgreSQL),
 * "sqlite:DIR" or a plain DIR (DIR/cprof.db, created). SQLite marks every
 * instance disconnected (a restarted relay has no connections); PostgreSQL
 * marks those this relay's previous run held (cp_store_heartbeat). Thread:
 * store worker. */
int  cp_store_open(const char *where, const cp_store_config_t *cfg, cp_store_t **out /* OUT */);
void cp_store_close(cp_store_t *s);
int  cp_store_begin(cp_store_t *s);
int  cp_store_commit(cp_store_t *s);      /* durable when it returns 0 */
void cp_store_rollback(cp_store_t *s);

/* A stored window, reported to the caller for live fan-out. */
typedef struct cp_store_event {
    const char *app, *instance, *type, *labels;   /* borrowed until the next batch call */
    int64_t     start_ms, end_ms;
    uint64_t    total;
} cp_store_event_t;
typedef void (*cp_store_event_fn)(void *ud, const cp_store_event_t *ev);

/* Registers the agent of a hello (creating app/instance as needed), marks it
 * connected. *last_seq = highest stored seq of that instance. Caller owns the
 * returned connection state (per-connection dictionary mapping). */
int cp_store_conn_open(cp_store_t *s, const cp_hello_t *h, int64_t now_ms,
                       cp_store_conn_t **out /* OUT */, uint64_t *last_seq /* OUT */);
/* Stores one decoded batch. Validates its dictionary delta against the
 * connection (CP_EGAP, CP_EDANGLING, CP_ELIMIT; honours
 * CP_BATCH_DICT_RESET) and interns the delta into the app dictionary (always, even
 * for duplicates, so later batches resolve). Returns 0 stored, 1 duplicate
 * (seq <= stored: not counted again), or CP_E*. Calls ev for each window. */
int cp_store_conn_batch(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b,
                        int64_t now_ms, cp_store_event_fn ev, void *ud);
uint64_t cp_store_conn_last_seq(const cp_store_conn_t *c);
/* Why the last cp_store_conn_open/cp_store_conn_batch returned CP_ELIMIT
 * for a tenant limit: what = CP_STORE_LIMIT_* (0 if it was not a tenant
 * limit), msg names the limit. Borrowed until the next call. */
enum { CP_STORE_LIMIT_APPS = 1, CP_STORE_LIMIT_LSETS, CP_STORE_LIMIT_TYPES };
typedef struct cp_store_refusal { int what; char msg[240]; } cp_store_refusal_t;
const cp_store_refusal_t *cp_store_refusal(const cp_store_t *s);
/* Forgets the connection; marks the instance disconnected when it was its
 * last connection. Frees c. */
void cp_store_conn_close(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms);

/* Downsampling + expiry; bounded work per call (returns 1 if more is
 * pending, 0 if done, CP_E* on error). Runs in its own transaction. */
int cp_store_maintain(cp_store_t *s, int64_t now_ms);

/* After churn (at least `min_closed` connections closed since the last
 * shrink), hands back the memory that departed apps left behind: the
 * writer's page cache (clean pages are re-read from the OS on demand).
 * Returns the bytes SQLite released, 0 when it did nothing. Call when the
 * store is idle, outside a transaction; malloc_trim(0) after it returns
 * the freed heap to the OS. Thread: store worker. */
int64_t cp_store_shrink(cp_store_t *s, uint32_t min_closed);

/* Bytes on disk (db + wal), and stored sample values (for figures). */
int64_t cp_store_disk_bytes(cp_store_t *s);

/* Registry liveness across relays: records that this relay is alive and
 * marks disconnected the instances held by relays silent for
 * CP_STORE_RELAY_STALE_MS. Call every CP_STORE_HEARTBEAT_MS, outside
 * begin/commit. SQLite (one relay): does nothing, returns 0. Thread: store
 * worker. */
#define CP_STORE_HEARTBEAT_MS   2000
#define CP_STORE_RELAY_STALE_MS (3 * CP_STORE_HEARTBEAT_MS)
int cp_store_heartbeat(cp_store_t *s, int64_t now_ms);

/* "sqlite" or "postgres". */
const char *cp_store_engine_name(const cp_store_t *s);

/* ---- query side ------------------------------------------------------- */
/* `where` as for cp_store_open (the store must exist). */
int  cp_store_reader_open(const char *where, cp_store_reader_t **out /* OUT */);
void cp_store_reader_close(cp_store_reader_t *r);
/* Bounds the reader's next queries: past deadline_ms (CLOCK_MONOTONIC ms;
 * 0 = none), or once *cancel (atomic load; NULL = never) is true, SQLite's
 * progress handler interrupts the statement and the merge loops stop;
 * cp_store_profile/timeline then return CP_ETIMEOUT. */
void cp_store_reader_set_limit(cp_store_reader_t *r, int64_t deadline_ms, const bool *cancel);

/* JSON documents of docs/api.md, appended to out. */
int cp_store_apps_json(cp_store_reader_t *r, cp_buf_t *out);
/* CP_ENOTFOUND if the app is unknown. */
int cp_store_instances_json(cp_store_reader_t *r, const char *app, cp_buf_t *out);

/* A merged profile: stacks of function indices (root first) with values.
 * All memory owned by the profile (cp_profile_free). */
typedef struct cp_profile {
    char     **names;    /* function names; names[i] for i < n_names */
    uint8_t   *kinds;    /* cp_frame_kind_t per name */
    uint32_t   n_names;
    uint32_t  *stack_off;   /* stack i: funcs[stack_off[i] .. stack_off[i+1]) */
    uint32_t  *funcs;
    uint64_t  *values;
    uint32_t   n_stacks;
    uint64_t   total;
    char      *unit;
} cp_profile_t;
void cp_profile_free(cp_profile_t *p);

typedef struct cp_store_query {
    const char *app, *type;
    const char *labels;     /* "k=v,k2=v2" or NULL */
    int64_t     from_ms, to_ms;
} cp_store_query_t;

/* CP_ENOTFOUND: unknown app (err says "unknown app") or type. */
int cp_store_profile(cp_store_reader_t *r, const cp_store_query_t *q,
                     cp_profile_t *out /* OUT */, char *err, size_t errlen);

/* One row of a cp_store_profile_windows answer: a full-resolution window
 * of one instance, or (where the planner answers from a coarser tier) one
 * minute/hour aggregate of one label set. All pointers are borrowed for
 * the callback only. */
typedef struct cp_store_window {
    int64_t     start_ms, end_ms;
    int64_t     instance;        /* instance row id, or -1 for an aggregate row */
    const char *instance_name;   /* the agent's instance id (as /instances "id"), NULL for aggregates */
    const char *labels;          /* canonical label set ("" for none) */
    int         tier;            /* CP_STORE_TIER_*: 0 full, 1 minute, 2 hour */
    /* the window's stacks as indices into the merged profile's stacks
     * (out->stack_off / out->values of cp_store_profile_windows),
     * strictly increasing, with their values in this window (> 0) */
    const uint32_t *stacks;
    const uint64_t *values;
    uint32_t    n;
    uint64_t    total;           /* sum of values */
} cp_store_window_t;
enum { CP_STORE_TIER_FULL = 0, CP_STORE_TIER_MINUTE = 1, CP_STORE_TIER_HOUR = 2 };
/* Non-0 stops the walk; cp_store_profile_windows then returns that value. */
typedef int (*cp_store_window_fn)(void *ud, const cp_store_window_t *w);

/* cp_store_profile_windows flags */
#define CP_STORE_WINDOWS_RAW 0x1   /* answer from full-resolution windows wherever
                                      they still exist (one row per instance
                                      window: instances and windows of one flush
                                      stay apart); minute/hour aggregates only
                                      where the raw windows expired. Without it
                                      the rows are those cp_store_profile merges
                                      (whole clean hours and minutes as
                                      aggregates): much fewer rows on long ranges */
#define CP_STORE_WINDOWS_BY_LSET 0x2  /* a raw window that request labels split
                                      (docs/context.md: one stored row per
                                      label set) comes as one row per label
                                      set; without it, as one row of its
                                      instance carrying the instance's label
                                      set (one row per instance window) */

/* The same query and the same merged *out as cp_store_profile (one read,
 * one snapshot), and then fn once per row, in time order (ties: raw before
 * aggregates, then instance, then label set), each row's stacks given as
 * indices into out's stacks: a caller classifies each merged stack once
 * and sums per window. fn runs after *out is complete; it may read *out.
 * Rows whose values are all zero are skipped. Honours the reader's limit
 * (CP_ETIMEOUT). Returns 0, CP_E* (CP_ENOTFOUND as cp_store_profile) or
 * the non-0 value fn stopped with. Whatever it returns the caller frees
 * *out with cp_profile_free (on CP_E* it is empty; after fn stopped it is
 * complete). Memory: every row's stored blob is held until fn has seen it
 * (~2.25 bytes a value), so raw rows of a long range over many instances
 * cost memory and time: see CP_STORE_WINDOWS_RAW. */
int cp_store_profile_windows(cp_store_reader_t *r, const cp_store_query_t *q, unsigned flags,
                             cp_profile_t *out /* OUT */, cp_store_window_fn fn, void *ud,
                             char *err, size_t errlen);

/* Totals per step: points[i] = total in [from + i*step, ...). n = steps.
 * Series (name -> per-step value) appended as JSON object to series_json. */
int cp_store_timeline(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms,
                      uint64_t *points, uint32_t n, cp_buf_t *series_json,
                      char *err, size_t errlen);

/* One time-series point (docs/protocol.md "Series"): borrowed for the
 * callback only. Series carry no instance: points of all instances of a
 * label set arrive interleaved. */
typedef struct cp_store_point {
    const char *name;      /* e.g. "gc.pause_ns", "threads.runnable" */
    const char *labels;    /* canonical label set ("" for none) */
    int64_t     t_ms;
    double      value;
} cp_store_point_t;
/* Non-0 stops the walk; cp_store_series then returns that value. */
typedef int (*cp_store_point_fn)(void *ud, const cp_store_point_t *pt);

/* Calls fn for every series point of q->app in [q->from_ms, q->to_ms) that
 * passes q->labels (q->type is ignored), in time order. Points
 * are kept for the full tier's retention only. Honours the reader's limit
 * (CP_ETIMEOUT); CP_ENOTFOUND for an unknown app. */
int cp_store_series(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                    char *err, size_t errlen);

/* One trace across apps (docs/context.md): the samples of trace id
 * (hi, lo) of sample type `type` in [from_ms, to_ms), of every app that
 * `view` shows (view returns the name to show for a stored app name, or
 * NULL to leave the app out: the caller's tenant), merged into one
 * profile whose stacks start with "[app] NAME", "[thread] NAME". Trace
 * ids are kept at full resolution only (store_trace.h). Honours the
 * reader's limit (CP_ETIMEOUT). An unknown trace is an empty profile. */
typedef struct cp_store_trace_query {
    uint64_t    hi, lo;
    const char *type;
    int64_t     from_ms, to_ms;
    const char *(*view)(void *ud, const char *stored_app);
    void       *ud;
} cp_store_trace_query_t;
int cp_store_trace_profile(cp_store_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out /* OUT */,
                           char *err, size_t errlen);

/* Every trace entry of q->app and q->type in [q->from_ms, q->to_ms)
 * (windows that start in the range; q->labels is ignored: trace entries
 * carry no label set), for OTLP links (otlp_query.h). Trace ids are kept
 * at full resolution only (store_trace.h): older ranges have none. An
 * entry and everything it points to is borrowed for the callback only. */
typedef struct cp_store_trace_entry {
    uint64_t hi, lo;            /* the trace id */
    uint64_t span;              /* the span id, 0 = none */
    int64_t  instance;          /* instance row id */
    int64_t  start_ms;          /* the window's start */
    const char *const *names;   /* the app's function names ... */
    const uint8_t *kinds;       /* ... and their cp_frame_kind_t */
    const uint32_t *funcs;      /* the stack: n indices into names, root first */
    uint32_t n;
    uint64_t value;
} cp_store_trace_entry_t;
typedef void (*cp_store_trace_entry_fn)(void *ud, const cp_store_trace_entry_t *e);
/* An unknown app or type has no entries. Honours the reader's limit
 * (CP_ETIMEOUT). CP_EUNSUPP from an engine without it. */
int cp_store_trace_entries(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                           char *err, size_t errlen);

/* Label-filter helper shared with live.c: does canonical label set
 * "a=1,b=2" satisfy filter "b=2"? NULL/empty filter matches everything. */
bool cp_store_labels_match(const char *canon, const char *filter);

#endif
