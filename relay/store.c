/* store.c - store.h's functions: picks the engine from the store's location
 * (cp_store_engine_for) and dispatches every call to it through the handle's
 * engine header (store_engine.h). No storage logic here (the agent's state
 * is handed to the engine as counters: store_state.h).
 *
 * Thread: whatever the called operation allows (store.h). */
#include "store_engine.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "store_state.h"

const cp_store_engine_t *cp_store_engine_for(const char *where, const char **rest)
{
    if (!strncmp(where, "postgres://", 11) || !strncmp(where, "postgresql://", 13)) {
        *rest = where;
#ifdef CPROF_WITH_PG
        return &cp__store_pg_engine;
#else
        return NULL;
#endif
    }
    *rest = !strncmp(where, "sqlite:", 7) ? where + 7 : where;
    return &cp__store_sqlite_engine;
}

int cp_store_open(const char *where, const cp_store_config_t *cfg, cp_store_t **out)
{
    const char *rest;
    const cp_store_engine_t *e = cp_store_engine_for(where, &rest);
    *out = NULL;
    return e ? e->open(rest, cfg, out) : CP_EINVAL;
}

void cp_store_close(cp_store_t *s)
{
    if (s)
        s->eng->close(s);
}

int  cp_store_begin(cp_store_t *s) { return s->eng->begin(s); }
int  cp_store_commit(cp_store_t *s) { return s->eng->commit(s); }
void cp_store_rollback(cp_store_t *s) { s->eng->rollback(s); }

int cp_store_conn_open(cp_store_t *s, const cp_hello_t *h, int64_t now_ms, cp_store_conn_t **out,
                       uint64_t *last_seq)
{
    return s->eng->conn_open(s, h, now_ms, out, last_seq);
}

int cp_store_conn_batch(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b, int64_t now_ms,
                        cp_store_event_fn ev, void *ud)
{
    /* the agent's state (key 18) travels to the engine as gauge counters */
    cp_batch_t m;
    void *mem;
    int rc = cp_store_state_merge(b, &m, &mem);
    if (rc)
        return rc;
    rc = s->eng->conn_batch(s, c, &m, now_ms, ev, ud);
    cp_store_state_free(mem);
    return rc;
}

uint64_t cp_store_conn_last_seq(const cp_store_conn_t *c) { return c->eng->conn_last_seq(c); }

void cp_store_conn_close(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms)
{
    if (c)
        s->eng->conn_close(s, c, now_ms);
}

const cp_store_refusal_t *cp_store_refusal(const cp_store_t *s) { return s->eng->refusal(s); }
int cp_store_maintain(cp_store_t *s, int64_t now_ms) { return s->eng->maintain(s, now_ms); }

int cp_store_heartbeat(cp_store_t *s, int64_t now_ms)
{
    return s->eng->heartbeat ? s->eng->heartbeat(s, now_ms) : 0;
}

int64_t cp_store_shrink(cp_store_t *s, uint32_t min_closed) { return s->eng->shrink(s, min_closed); }
int64_t cp_store_disk_bytes(cp_store_t *s) { return s->eng->disk_bytes(s); }

const char *cp_store_engine_name(const cp_store_t *s) { return s->eng->name; }

int cp_store_reader_open(const char *where, cp_store_reader_t **out)
{
    const char *rest;
    const cp_store_engine_t *e = cp_store_engine_for(where, &rest);
    *out = NULL;
    return e ? e->reader_open(rest, out) : CP_EINVAL;
}

void cp_store_reader_close(cp_store_reader_t *r)
{
    if (r)
        r->eng->reader_close(r);
}

void cp_store_reader_set_limit(cp_store_reader_t *r, int64_t deadline_ms, const bool *cancel)
{
    r->eng->reader_set_limit(r, deadline_ms, cancel);
}

int cp_store_apps_json(cp_store_reader_t *r, cp_buf_t *out) { return r->eng->apps_json(r, out); }

int cp_store_instances_json(cp_store_reader_t *r, const char *app, cp_buf_t *out)
{
    return r->eng->instances_json(r, app, out);
}

int cp_store_profile(cp_store_reader_t *r, const cp_store_query_t *q, cp_profile_t *out, char *err,
                     size_t errlen)
{
    return r->eng->profile(r, q, out, err, errlen);
}

int cp_store_profile_windows(cp_store_reader_t *r, const cp_store_query_t *q, unsigned flags,
                             cp_profile_t *out, cp_store_window_fn fn, void *ud, char *err, size_t errlen)
{
    return r->eng->profile_windows(r, q, flags, out, fn, ud, err, errlen);
}

int cp_store_timeline(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms, uint64_t *points,
                      uint32_t n, cp_buf_t *series_json, char *err, size_t errlen)
{
    return r->eng->timeline(r, q, step_ms, points, n, series_json, err, errlen);
}

int cp_store_series(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_point_fn fn, void *ud,
                    char *err, size_t errlen)
{
    return r->eng->series(r, q, fn, ud, err, errlen);
}

int cp_store_trace_profile(cp_store_reader_t *r, const cp_store_trace_query_t *q, cp_profile_t *out,
                           char *err, size_t errlen)
{
    if (!r->eng->trace_profile) {
        snprintf(err, errlen, "trace queries are not supported by the %s store", r->eng->name);
        return CP_EUNSUPP;
    }
    return r->eng->trace_profile(r, q, out, err, errlen);
}

int cp_store_trace_entries(cp_store_reader_t *r, const cp_store_query_t *q, cp_store_trace_entry_fn fn, void *ud,
                           char *err, size_t errlen)
{
    if (!r->eng->trace_entries) {
        snprintf(err, errlen, "trace queries are not supported by the %s store", r->eng->name);
        return CP_EUNSUPP;
    }
    return r->eng->trace_entries(r, q, fn, ud, err, errlen);
}
