/* store_sqlite_engine.c - the SQLite engine's table of operations
 * (store_engine.h): each entry casts the generic handle to the engine's
 * struct (whose first member it is) and calls the cp__sqlite_ function of
 * the same name. Thread: as the operation's (store.h). */
#include "store_sqlite_int.h"

#define S(x)  ((cp__sqlite_t *)(x))
#define R(x)  ((cp__sqlite_reader_t *)(x))
#define C(x)  ((cp__sqlite_conn_t *)(x))

static int e_open(const char *where, const cp_store_config_t *cfg, cp_store_t **out)
{
    cp__sqlite_t *s = NULL;
    int rc = cp__sqlite_open(where, cfg, &s);
    *out = s ? &s->base : NULL;
    return rc;
}
static void e_close(cp_store_t *s) { cp__sqlite_close(S(s)); }
static int  e_begin(cp_store_t *s) { return cp__sqlite_begin(S(s)); }
static int  e_commit(cp_store_t *s) { return cp__sqlite_commit(S(s)); }
static void e_rollback(cp_store_t *s) { cp__sqlite_rollback(S(s)); }
static int  e_conn_open(cp_store_t *s, const cp_hello_t *h, int64_t now_ms, cp_store_conn_t **out,
                        uint64_t *last_seq)
{
    cp__sqlite_conn_t *c = NULL;
    int rc = cp__sqlite_conn_open(S(s), h, now_ms, &c, last_seq);
    *out = rc || !c ? NULL : &c->base;
    return rc;
}
static int e_conn_batch(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b, int64_t now_ms,
                        cp_store_event_fn ev, void *ud)
{
    return cp__sqlite_conn_batch(S(s), C(c), b, now_ms, ev, ud);
}
static uint64_t e_conn_last_seq(const cp_store_conn_t *c) { return cp__sqlite_conn_last_seq((const cp__sqlite_conn_t *)c); }
static void e_conn_close(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms) { cp__sqlite_conn_close(S(s), C(c), now_ms); }
static const cp_store_refusal_t *e_refusal(const cp_store_t *s) { return cp__sqlite_refusal((const cp__sqlite_t *)s); }
static int e_maintain(cp_store_t *s, int64_t now_ms) { return cp__sqlite_maintain(S(s), now_ms); }
static int64_t e_shrink(cp_store_t *s, uint32_t min_closed) { return cp__sqlite_shrink(S(s), min_closed); }
static int64_t e_disk_bytes(cp_store_t *s) { return cp__sqlite_disk_bytes(S(s)); }

static int e_reader_open(const char *where, cp_store_reader_t **out)
{
    cp__sqlite_reader_t *r = NULL;
    int rc = cp__sqlite_reader_open(where, &r);
    *out = rc || !r ? NULL : &r->base;
    return rc;
}
static void e_reader_close(cp_store_reader_t *r) { cp__sqlite_reader_close(R(r)); }
static void e_reader_set_limit(cp_store_reader_t *r, int64_t deadline_ms, const bool *cancel)
{
    cp__sqlite_reader_set_limit(R(r), deadline_ms, cancel);
}
static int e_apps_json(cp_store_reader_t *r, cp_buf_t *out) { return cp__sqlite_apps_json(R(r), out); }
static int e_instances_json(cp_store_reader_t *r, const char *app, cp_buf_t *out)
{
    return cp__sqlite_instances_json(R(r), app, out);
}
static int e_profile(cp_store_reader_t *r, const cp_store_query_t *q, cp_profile_t *out, char *err, size_t errlen)
{
    return cp__sqlite_profile(R(r), q, out, err, errlen);
}
static int e_profile_windows(cp_store_reader_t *r, const cp_store_query_t *q, unsigned flags, cp_profile_t *out,
                             cp_store_window_fn fn, void *ud, char *err, size_t errlen)
{
    return cp__sqlite_profile_windows(R(r), q, flags, out, fn, ud, err, errlen);
}
static int e_timeline(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                      uint32_t n, cp_buf_t *series_json, char *err, size_t errlen)
{
    return cp__sqlite_timeline(R(r), q, step_ms, points, n, series_json, err, errlen);
}
static int e_series(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud, char *err,
                    size_t errlen)
{
    return cp__sqlite_series(R(r), q, fn, ud, err, errlen);
}

static int e_trace_profile(cp_store_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out, char *err,
                           size_t errlen)
{
    return cp__sqlite_trace_profile(R(r), q, out, err, errlen);
}

static int e_trace_entries(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                           char *err, size_t errlen)
{
    return cp__sqlite_trace_entries(R(r), q, fn, ud, err, errlen);
}

const cp_store_engine_t cp__store_sqlite_engine = {
    .name = "sqlite",
    .open = e_open, .close = e_close, .begin = e_begin, .commit = e_commit, .rollback = e_rollback,
    .conn_open = e_conn_open, .conn_batch = e_conn_batch, .conn_last_seq = e_conn_last_seq,
    .conn_close = e_conn_close, .refusal = e_refusal, .maintain = e_maintain, .heartbeat = NULL,
    .shrink = e_shrink, .disk_bytes = e_disk_bytes,
    .reader_open = e_reader_open, .reader_close = e_reader_close, .reader_set_limit = e_reader_set_limit,
    .apps_json = e_apps_json, .instances_json = e_instances_json, .profile = e_profile,
    .profile_windows = e_profile_windows, .timeline = e_timeline, .series = e_series,
    .trace_profile = e_trace_profile,
    .trace_entries = e_trace_entries,
    .control_audit = cp__sqlite_control_audit, .control_ack = cp__sqlite_control_ack,
    .control_set_defaults = cp__sqlite_control_set_defaults, .control_audit_rows = cp__sqlite_control_audit_rows,
    .control_ack_rows = cp__sqlite_control_ack_rows, .control_defaults_rows = cp__sqlite_control_defaults_rows,
};
