/* api_query.c - the query workers' half of the HTTP API (docs/api.md):
 * parameters parsed and checked (400), the store asked (404 for unknown
 * apps and types, 503 past the deadline), the answer written in the format
 * asked for. One request at a time per worker, never a wsi (api.c has the
 * service thread's half and the file's notes on auth, tenants and bounds). */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "auth.h"
#include "control.h"
#include "ctx_api.h"
#include "diff_api.h"
#include "error.h"
#include "insights.h"
#include "otlp.h"
#include "otlp_query.h"
#include "profile.h"
#include "relay.h"
#include "rutil.h"
#include "store_control.h"
#include "store_trace.h"
#include "tenant_view.h"

static bool range_error(cp_qreq_t *r, const char *key, const char *val)
{
    CP_STAT_ADD(query_bad_range, 1);
    cp__qreq_error(r, 400, "bad '%s': '%s' is out of range (durations up to 100y, times 1970..9999)", key, val);
    return false;
}

/* Common query parameters. prefix: "" or "base." / "cmp.". Returns false
 * (and sets a 400) on a malformed one. */
static bool parse_query(cp_qreq_t *r, const char *prefix, cp_store_query_t *q, int64_t now)
{
    char k[32];
    if (!r->app) {
        cp__qreq_error(r, 400, "missing parameter 'app'");
        return false;
    }
    q->app = r->qapp;
    q->type = cp__qreq_arg(r, "type");
    if (!q->type || !*q->type)
        q->type = "cpu";
    snprintf(k, sizeof k, "%slabels", prefix);
    q->labels = cp__qreq_arg(r, k);
    if (!q->labels && *prefix)
        q->labels = cp__qreq_arg(r, "labels");
    if (q->labels && *q->labels) {
        /* every element must be k=v */
        const char *s = q->labels;
        while (*s) {
            const char *e = strchr(s, ',');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            const char *eq = memchr(s, '=', n);
            if (n && (!eq || eq == s)) {
                cp__qreq_error(r, 400, "bad '%s': want k=v,k2=v2", k);
                return false;
            }
            s += n;
            if (*s)
                s++;
        }
    }
    const char *from, *to;
    snprintf(k, sizeof k, "%sfrom", prefix);
    from = cp__qreq_arg(r, k);
    if (!from && *prefix)
        from = cp__qreq_arg(r, "from");
    q->from_ms = now - 15 * 60000;
    int rc;
    if (from && (rc = cp_time_parse(from, now, &q->from_ms))) {
        if (rc == CP_ERANGE)
            return range_error(r, k, from);
        cp__qreq_error(r, 400, "bad '%s': '%s' (unix seconds, RFC 3339 or now-15m)", k, from);
        return false;
    }
    char kto[32];
    snprintf(kto, sizeof kto, "%sto", prefix);
    to = cp__qreq_arg(r, kto);
    if (!to && *prefix)
        to = cp__qreq_arg(r, "to");
    q->to_ms = now;
    if (to && (rc = cp_time_parse(to, now, &q->to_ms))) {
        if (rc == CP_ERANGE)
            return range_error(r, kto, to);
        cp__qreq_error(r, 400, "bad '%s': '%s' (unix seconds, RFC 3339 or now)", kto, to);
        return false;
    }
    if (q->to_ms <= q->from_ms) {
        cp__qreq_error(r, 400, "empty time range: %sto must be after %sfrom", prefix, prefix);
        return false;
    }
    /* nothing older than the hour tier's retention exists: a longer range
     * is a mistake (or an attempt to make the planner walk it) */
    int64_t keep = cp__relay.cfg.store.hour_ms;
    if (keep > 0 && q->to_ms - q->from_ms > keep) {
        CP_STAT_ADD(query_bad_range, 1);
        cp__qreq_error(r, 400, "bad '%s': the range %s..%s spans %lld h, longer than the retention "
                  "(--retention-hour, %lld h); narrow '%s'", k, from ? from : "now-15m", to ? to : "now",
                  (long long)((q->to_ms - q->from_ms) / 3600000), (long long)(keep / 3600000), k);
        return false;
    }
    return true;
}

/* Content-Disposition with a file name made of safe characters only. */
static void set_download(cp_qreq_t *r, const char *how, const char *app, const char *type, const char *ext)
{
    char name[160];
    snprintf(name, sizeof name, "%s-%s", app, type);
    for (char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_'))
            *c = '_';
    snprintf(r->disposition, sizeof r->disposition, "%s; filename=\"%s%s\"", how, name, ext);
}

/* The store's message, naming the app as the caller wrote it. */
static void err_unqualify(const cp_qreq_t *r, char *err, size_t errlen)
{
    if (r->app)
        cp_tenant_err_text(err, errlen, r->qapp, r->app);
}

/* A store failure: past the deadline (or the client left), or a store that
 * is not there (a PostgreSQL store that went away), is 503. */
static void store_error(cp_qreq_t *r, int rc, const char *err)
{
    if (rc == CP_EUNAVAIL) {
        cp__qreq_error(r, 503, "storage unavailable; retry later");
        return;
    }
    if (rc == CP_ETIMEOUT) {
        if (__atomic_load_n(&r->cancelled, __ATOMIC_RELAXED)) {
            CP_STAT_ADD(query_cancelled, 1);
            cp__qreq_error(r, 503, "client left; query abandoned");
        } else {
            CP_STAT_ADD(query_timeouts, 1);
            cp__qreq_error(r, 503, "query over its deadline (--query-timeout %d ms); narrow the range or filter",
                      cp__relay.cfg.budget.query_timeout_ms);
        }
        return;
    }
    cp__qreq_error(r, 500, "query failed: %s", err);
}

static bool run_profile(cp_qreq_t *r, cp_store_reader_t *rd, const cp_store_query_t *q, cp_profile_t *p)
{
    char err[256] = "";
    int rc = cp_store_profile(rd, q, p, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND) {
        cp__qreq_error(r, 404, "%s", err);
        return false;
    }
    if (rc) {
        store_error(r, rc, err);
        return false;
    }
    return true;
}

static void write_profile(cp_qreq_t *r, cp_profile_t *p, const char *fmt, const char *name, const char *type,
                          int64_t from_ms, int64_t to_ms);

/* The answer of a query that wrote its JSON into r->body: 200, or its
 * error (404 unknown app/type, 400 bad parameter, else store_error); err
 * (errlen bytes) is shown with the caller's app name. */
static void json_answer(cp_qreq_t *r, int rc, char *err, size_t errlen)
{
    err_unqualify(r, err, errlen);
    if (rc == CP_ENOTFOUND) {
        cp__qreq_error(r, 404, "%s", err);
    } else if (rc == CP_EINVAL) {
        cp__qreq_error(r, 400, "%s", err);
    } else if (rc) {
        store_error(r, rc, err);
    } else {
        r->status = 200;
        r->ctype = "application/json";
    }
}

/* GET /api/v1/labels: label keys and their top values (ctx_api.h). */
static void do_labels(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now)
{
    cp_store_query_t q;
    if (!parse_query(r, "", &q, now))
        return;
    uint32_t limit = 10;
    const char *ls = cp__qreq_arg(r, "limit");
    if (ls) {
        char *e;
        long v = strtol(ls, &e, 10);
        if (*e || v <= 0 || v > 10000) {
            cp__qreq_error(r, 400, "bad 'limit': '%s'", ls);
            return;
        }
        limit = (uint32_t)v;
    }
    char err[256] = "";
    int rc = cp_ctx_api_labels(rd, &q, limit, &r->body, err, sizeof err);
    json_answer(r, rc, err, sizeof err);
}

/* Which stored apps a trace query shows: the caller's tenant's. */
static const char *trace_view(void *ud, const char *stored)
{
    const cp_qreq_t *r = ud;
    return cp_auth_unqualify(r->who.tenant, stored);
}

/* GET /api/v1/profile?trace_id=HEX: one trace across every app of the
 * caller's tenant (store.h cp_store_trace_profile); app= is not needed. */
static void do_trace(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now, const char *tid, const char *fmt)
{
    cp_store_trace_query_t q = {.view = trace_view, .ud = r};
    if (!cp_store_trace_parse(tid, &q.hi, &q.lo)) {
        cp__qreq_error(r, 400, "bad 'trace_id': '%.64s' (32 hex digits, not all zero)", tid);
        return;
    }
    q.type = cp__qreq_arg(r, "type");
    if (!q.type || !*q.type)
        q.type = "cpu";
    const char *from = cp__qreq_arg(r, "from"), *to = cp__qreq_arg(r, "to");
    q.from_ms = now - 3600000;
    q.to_ms = now;
    if ((from && cp_time_parse(from, now, &q.from_ms)) || (to && cp_time_parse(to, now, &q.to_ms)) ||
        q.to_ms <= q.from_ms) {
        cp__qreq_error(r, 400, "bad 'from'/'to': unix seconds, RFC 3339 or now-15m, from before to");
        return;
    }
    cp_profile_t p;
    char err[256] = "";
    int rc = cp_store_trace_profile(rd, &q, &p, err, sizeof err);
    if (rc) {
        if (rc == CP_EUNSUPP)
            cp__qreq_error(r, 501, "%s", err);
        else
            store_error(r, rc, err);
        return;
    }
    char name[48];
    snprintf(name, sizeof name, "trace-%.32s", tid);
    write_profile(r, &p, fmt, name, q.type, q.from_ms, q.to_ms);
}

/* Writes profile p (consumed) as `fmt` (checked by the caller); name:
 * the app, or what the profile is of. */
static void write_profile(cp_qreq_t *r, cp_profile_t *p, const char *fmt, const char *name, const char *type,
                          int64_t from_ms, int64_t to_ms)
{
    cp_tree_t t;
    cp_tree_build(p, NULL, &t);
    r->status = 200;
    r->ctype = "application/json";
    if (!strcmp(fmt, "json")) {
        cp_profile_write_json(p, &t, name, type, from_ms, to_ms, &r->body);
    } else if (!strcmp(fmt, "collapsed")) {
        r->ctype = "text/plain; charset=utf-8";
        set_download(r, "inline", name, type, ".collapsed.txt");
        cp_profile_write_collapsed(p, &t, &r->body);
    } else if (!strcmp(fmt, "speedscope")) {
        char title[300];
        snprintf(title, sizeof title, "%s %s", name, type);
        cp_profile_write_speedscope(p, &t, title, &r->body);
        set_download(r, "inline", name, type, ".speedscope.json");
    } else if (!strcmp(fmt, "otlp")) {
        r->ctype = "application/x-protobuf";
        set_download(r, "attachment", name, type, ".otlp.pb");
        if (cp_otlp_write_profile(p, name, type, from_ms, to_ms, &r->body))
            cp__qreq_error(r, 500, "otlp encoding failed");
    } else {
        r->ctype = "application/octet-stream";
        set_download(r, "attachment", name, type, ".pb.gz");
        if (cp_profile_write_pprof(p, &t, type, from_ms, to_ms, &r->body))
            cp__qreq_error(r, 500, "pprof encoding failed");
    }
    cp_tree_free(&t);
    cp_profile_free(p);
}

static void do_trace(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now, const char *tid, const char *fmt);

static void do_profile(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now, bool top)
{
    cp_store_query_t q;
    const char *fmt = cp__qreq_arg(r, "format");
    if (!fmt || !*fmt)
        fmt = "json";
    if (!top && strcmp(fmt, "json") && strcmp(fmt, "collapsed") && strcmp(fmt, "pprof") &&
        strcmp(fmt, "speedscope") && strcmp(fmt, "otlp")) {
        cp__qreq_error(r, 400, "bad 'format': '%s' (json, collapsed, pprof, speedscope, otlp)", fmt);
        return;
    }
    const char *tid = cp__qreq_arg(r, "trace_id");
    if (!top && tid && *tid) {
        do_trace(r, rd, now, tid, fmt);
        return;
    }
    if (!parse_query(r, "", &q, now))
        return;
    uint32_t limit = 50;
    const char *ls = cp__qreq_arg(r, "limit");
    if (top && ls) {
        char *e;
        long v = strtol(ls, &e, 10);
        if (*e || v <= 0 || v > 1000000) {
            cp__qreq_error(r, 400, "bad 'limit': '%s'", ls);
            return;
        }
        limit = (uint32_t)v;
    }
    const char *gb = cp__qreq_arg(r, "group_by");
    if (top && gb && *gb) {
        char err[256] = "";
        int rc = cp_ctx_api_top(rd, &q, gb, limit, &r->body, err, sizeof err);
        json_answer(r, rc, err, sizeof err);
        return;
    }
    if (!top && !strcmp(fmt, "otlp")) {   /* samples with request labels and trace links */
        char err[256] = "";
        int rc = cp_otlp_query(rd, &q, r->app, &r->body, err, sizeof err);
        if (rc) {
            cp_buf_reset(&r->body);
            json_answer(r, rc, err, sizeof err);
            return;
        }
        r->status = 200;
        r->ctype = "application/x-protobuf";
        set_download(r, "attachment", r->app, q.type, ".otlp.pb");
        return;
    }
    cp_profile_t p;
    if (!run_profile(r, rd, &q, &p))
        return;
    if (top) {
        cp_tree_t t;
        cp_tree_build(&p, NULL, &t);
        r->status = 200;
        r->ctype = "application/json";
        cp_profile_write_top(&p, &t, limit, &r->body);
        cp_tree_free(&t);
        cp_profile_free(&p);
        return;
    }
    write_profile(r, &p, fmt, r->app, q.type, q.from_ms, q.to_ms);
}

static void do_diff(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now)
{
    cp_store_query_t qa, qb;
    if (!parse_query(r, "base.", &qa, now) || !parse_query(r, "cmp.", &qb, now))
        return;
    cp_diff_api_params_t prm;
    char err[512] = "";
    if (cp_diff_api_params(r->keys, r->vals, r->n_args, &prm, err, sizeof err)) {
        cp__qreq_error(r, 400, "%s", err);
        return;
    }
    json_answer(r, cp_diff_api_run(rd, &qa, &qb, &prm, &r->body, err, sizeof err), err, sizeof err);
}

static void do_timeline(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now)
{
    cp_store_query_t q;
    if (!parse_query(r, "", &q, now))
        return;
    int64_t range = q.to_ms - q.from_ms, step;
    const char *ss = cp__qreq_arg(r, "step");
    if (ss && *ss) {
        if (cp_duration_parse(ss, &step) || step < 1000) {
            cp__qreq_error(r, 400, "bad 'step': '%s' (seconds >= 1, or 30s/1m/1h)", ss);
            return;
        }
    } else {
        static const int64_t nice[] = {1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
                                       3600000, 21600000, 86400000};
        step = nice[sizeof nice / sizeof nice[0] - 1];
        for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
            if (range / nice[i] <= 300) {
                step = nice[i];
                break;
            }
    }
    if (range / step >= (int64_t)cp__relay.cfg.budget.max_points) {
        cp__qreq_error(r, 400, "bad 'step': %" PRId64 " points, over the limit of %u (--max-points); use a larger 'step'",
                  range / step + 1, cp__relay.cfg.budget.max_points);
        return;
    }
    /* align to the step so points are stable while a live view scrolls */
    q.from_ms = q.from_ms / step * step;
    uint32_t n = (uint32_t)((q.to_ms - q.from_ms + step - 1) / step);
    const char *gb = cp__qreq_arg(r, "group_by");
    if (gb && *gb) {
        char gerr[256] = "";
        int grc = cp_ctx_api_timeline(rd, &q, gb, step, n, &r->body, gerr, sizeof gerr);
        json_answer(r, grc, gerr, sizeof gerr);
        return;
    }
    uint64_t *pts = cp__xcalloc(n, sizeof *pts);
    cp_buf_t series = CP_BUF_INIT;
    char err[256] = "";
    int rc = cp_store_timeline(rd, &q, step, pts, n, &series, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND)
        cp__qreq_error(r, 404, "%s", err);
    else if (rc)
        store_error(r, rc, err);
    else {
        r->status = 200;
        r->ctype = "application/json";
        cp_buf_printf(&r->body, "{\"step\":%lld,\"points\":[", (long long)(step / 1000));
        for (uint32_t i = 0; i < n; i++)
            cp_buf_printf(&r->body, "%s[%lld,%llu]", i ? "," : "",
                          (long long)((q.from_ms + (int64_t)i * step) / 1000), (unsigned long long)pts[i]);
        cp_buf_printf(&r->body, "],\"series\":%.*s}", (int)series.len, (const char *)series.data);
    }
    free(pts);
    cp_buf_fini(&series);
}

/* GET /api/v1/insights: the rules of relay/insights*.c over the range;
 * `type` is optional (every type with data). */
static void do_insights(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now)
{
    cp_store_query_t sq;
    if (!parse_query(r, "", &sq, now))
        return;
    const char *type = cp__qreq_arg(r, "type");
    cp_insights_query_t q = {sq.app, r->app, type && *type ? type : NULL, sq.labels, sq.from_ms, sq.to_ms};
    char err[256] = "";
    cp_buf_t doc = CP_BUF_INIT;
    int rc = cp_insights_run(rd, &q, &doc, err, sizeof err);
    json_answer(r, rc, err, sizeof err);
    if (!rc)
        cp_buf_append(&r->body, doc.data, doc.len);
    cp_buf_fini(&doc);
}

void cp__api_execute(cp_qreq_t *r, cp_store_reader_t *rd)
{
    int64_t now = cp__now_ms();
    const char *ep = r->path + strlen("/api/v1/");
    r->app = cp__qreq_arg(r, "app");
    if (r->app && !*r->app)
        r->app = NULL;
    if (r->app && cp_auth_qualify(r->who.tenant, r->app, r->qapp, sizeof r->qapp)) {
        cp__qreq_error(r, 400, "bad 'app': empty, too long or with control characters");
        return;
    }
    if (!rd) {
        cp__qreq_error(r, 503, "no database yet");
    } else if (!strcmp(ep, "apps")) {
        r->status = 200;
        r->ctype = "application/json";
        cp_buf_t all = CP_BUF_INIT;
        int rc = cp_store_apps_json(rd, &all);
        if (rc || cp_tenant_apps_json(&all, r->who.tenant, &r->body))
            store_error(r, rc ? rc : CP_EINVAL, "apps");
        cp_buf_fini(&all);
    } else if (!strcmp(ep, "instances")) {
        if (!r->app) {
            cp__qreq_error(r, 400, "missing parameter 'app'");
            return;
        }
        r->status = 200;
        r->ctype = "application/json";
        cp_buf_t doc = CP_BUF_INIT;
        int rc = cp_store_instances_json(rd, r->qapp, &doc);
        if (rc == CP_ENOTFOUND)
            cp__qreq_error(r, 404, "unknown app '%s'", r->app);
        else if (rc)
            store_error(r, rc, "instances");
        else
            cp_tenant_rename_app(&doc, r->qapp, r->app, &r->body);
        cp_buf_fini(&doc);
    } else if (!strcmp(ep, "profile")) {
        do_profile(r, rd, now, false);
    } else if (!strcmp(ep, "top")) {
        do_profile(r, rd, now, true);
    } else if (!strcmp(ep, "timeline")) {
        do_timeline(r, rd, now);
    } else if (!strcmp(ep, "labels")) {
        do_labels(r, rd, now);
    } else if (!strcmp(ep, "diff")) {
        do_diff(r, rd, now);
    } else if (!strcmp(ep, "insights")) {
        do_insights(r, rd, now);
    } else if (!strcmp(ep, "control")) {
        if (!r->app) {
            cp__qreq_error(r, 400, "missing parameter 'app'");
            return;
        }
        r->status = 200;
        r->ctype = "application/json";
        if (cp_store_control_json(rd, r->qapp, r->app, now, 50, &r->body))
            cp__qreq_error(r, 500, "query failed");
    } else {
        cp__qreq_error(r, 404, "no such endpoint: %s", r->path);
    }
}
