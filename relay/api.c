/* api.c - the HTTP JSON API under /api/v1/ (docs/api.md) and its query
 * workers.
 *
 * Service thread: on LWS_CALLBACK_HTTP reads the path and the (url-decoded)
 * arguments into a request, queues it for a query worker and returns; when
 * the worker is done (done-queue, CP_DONE_HTTP) it writes the status,
 * headers and body in chunks from LWS_CALLBACK_HTTP_WRITEABLE.
 * If the connection closes while the request is queued or running, the
 * service thread marks it cancelled and frees it when it comes back: the
 * worker never touches a wsi.
 *
 * Query workers (cfg.query_threads): each owns a cp_store_reader_t (its own
 * SQLite connection and dictionary cache) and runs one request at a time:
 * parse + validate parameters (400), run the store query (404 for unknown
 * app/type), build the tree and write the chosen format.
 *
 * Auth and tenants (auth.h): the service thread checks the request's
 * "Authorization: Bearer" token before queueing it (401 with
 * WWW-Authenticate when absent or unknown, 403 when the role may not read)
 * and stores the caller's principal in the request. Workers qualify the
 * `app` parameter with the caller's tenant before asking the store and
 * show it unqualified in every answer (documents, file names, errors); the
 * apps list keeps only the tenant's apps. A caller of tenant A cannot tell
 * whether tenant B has an app of the same name.
 *
 * Bounds (docs/relay.md "Budgets"): at most budget.query_queue requests
 * wait (503 + Retry-After past it); a time that overflows or a range longer
 * than the hour tier's retention is a 400 naming the parameter; a timeline
 * has at most budget.max_points points; each query has a deadline
 * (budget.query_timeout_ms from when it was queued) that the store enforces
 * through SQLite's progress handler and its merge loops (503 past it); a
 * request whose client left is dropped before it runs, and the store
 * abandons it while it runs (it polls `cancelled`). /api/v1/metrics is
 * answered on the service thread, so it works while the workers are busy. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "control.h"
#include "ctx_api.h"
#include "diff_api.h"
#include "error.h"
#include "insights.h"
#include "otlp.h"
#include "profile.h"
#include "relay.h"
#include "rutil.h"
#include "store_control.h"
#include "store_trace.h"
#include "tenant_view.h"

#define MAX_ARGS 32          /* query arguments per request (more: 400) */
#define MAX_ARG_BYTES 4096   /* bytes per argument, with its NUL (more: 400) */

typedef struct cp_qreq {
    char     path[128];
    char    *keys[MAX_ARGS], *vals[MAX_ARGS];
    int      n_args;
    int      status;
    const char *ctype;
    char     disposition[200];   /* Content-Disposition for downloads, "" if none */
    bool     www_auth;           /* 401: send WWW-Authenticate */
    cp_principal_t who;          /* the caller (service thread sets it before queueing) */
    const char *app;             /* the 'app' parameter as the caller wrote it, or NULL */
    char     qapp[CP_TENANT_MAX + 1024];   /* ... qualified with the caller's tenant */
    cp_buf_t body;
    bool     cancelled;          /* set by the service thread, polled by the worker (atomics) */
    int64_t  deadline_ms;        /* monotonic ms */
    void    *pss;
    struct cp_qreq *next;
} cp_qreq_t;

typedef struct http_pss {
    struct lws *wsi;
    cp_qreq_t *req;          /* queued/running, or finished and being written */
    bool       ready, headers_sent;
    size_t     off;
    bool       posting;      /* POST /api/v1/control: reading its body */
    bool       in_too_big;
    cp_buf_t   in;           /* the POST body */
    char       who_text[200];   /* the caller, as the audit names it */
} http_pss_t;

size_t cp__api_pss_size(void) { return sizeof(http_pss_t); }

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    cp_qreq_t      *head, *tail;
    size_t          n;              /* queued, not yet taken */
    pthread_t       th[16];
    int             n_th;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void req_free(cp_qreq_t *r)
{
    for (int i = 0; i < r->n_args; i++) {
        free(r->keys[i]);
        free(r->vals[i]);
    }
    cp_buf_fini(&r->body);
    free(r);
}

static const char *arg(const cp_qreq_t *r, const char *k)
{
    for (int i = 0; i < r->n_args; i++)
        if (!strcmp(r->keys[i], k))
            return r->vals[i];
    return NULL;
}

static void set_error(cp_qreq_t *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(cp_qreq_t *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->ctype = "application/json";
    cp_buf_reset(&r->body);
    cp_buf_printf(&r->body, "{\"error\":");
    cp_buf_json_str(&r->body, msg, strlen(msg));
    cp_buf_printf(&r->body, "}");
}

static bool range_error(cp_qreq_t *r, const char *key, const char *val)
{
    CP_STAT_ADD(query_bad_range, 1);
    set_error(r, 400, "bad '%s': '%s' is out of range (durations up to 100y, times 1970..9999)", key, val);
    return false;
}

/* Common query parameters. prefix: "" or "base." / "cmp.". Returns false
 * (and sets a 400) on a malformed one. */
static bool parse_query(cp_qreq_t *r, const char *prefix, cp_store_query_t *q, int64_t now)
{
    char k[32];
    if (!r->app) {
        set_error(r, 400, "missing parameter 'app'");
        return false;
    }
    q->app = r->qapp;
    q->type = arg(r, "type");
    if (!q->type || !*q->type)
        q->type = "cpu";
    snprintf(k, sizeof k, "%slabels", prefix);
    q->labels = arg(r, k);
    if (!q->labels && *prefix)
        q->labels = arg(r, "labels");
    if (q->labels && *q->labels) {
        /* every element must be k=v */
        const char *s = q->labels;
        while (*s) {
            const char *e = strchr(s, ',');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            const char *eq = memchr(s, '=', n);
            if (n && (!eq || eq == s)) {
                set_error(r, 400, "bad '%s': want k=v,k2=v2", k);
                return false;
            }
            s += n;
            if (*s)
                s++;
        }
    }
    const char *from, *to;
    snprintf(k, sizeof k, "%sfrom", prefix);
    from = arg(r, k);
    if (!from && *prefix)
        from = arg(r, "from");
    q->from_ms = now - 15 * 60000;
    int rc;
    if (from && (rc = cp_time_parse(from, now, &q->from_ms))) {
        if (rc == CP_ERANGE)
            return range_error(r, k, from);
        set_error(r, 400, "bad '%s': '%s' (unix seconds, RFC 3339 or now-15m)", k, from);
        return false;
    }
    char kto[32];
    snprintf(kto, sizeof kto, "%sto", prefix);
    to = arg(r, kto);
    if (!to && *prefix)
        to = arg(r, "to");
    q->to_ms = now;
    if (to && (rc = cp_time_parse(to, now, &q->to_ms))) {
        if (rc == CP_ERANGE)
            return range_error(r, kto, to);
        set_error(r, 400, "bad '%s': '%s' (unix seconds, RFC 3339 or now)", kto, to);
        return false;
    }
    if (q->to_ms <= q->from_ms) {
        set_error(r, 400, "empty time range: %sto must be after %sfrom", prefix, prefix);
        return false;
    }
    /* nothing older than the hour tier's retention exists: a longer range
     * is a mistake (or an attempt to make the planner walk it) */
    int64_t keep = cp__relay.cfg.store.hour_ms;
    if (keep > 0 && q->to_ms - q->from_ms > keep) {
        CP_STAT_ADD(query_bad_range, 1);
        set_error(r, 400, "bad '%s': the range %s..%s spans %lld h, longer than the retention "
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
        set_error(r, 503, "storage unavailable; retry later");
        return;
    }
    if (rc == CP_ETIMEOUT) {
        if (__atomic_load_n(&r->cancelled, __ATOMIC_RELAXED)) {
            CP_STAT_ADD(query_cancelled, 1);
            set_error(r, 503, "client left; query abandoned");
        } else {
            CP_STAT_ADD(query_timeouts, 1);
            set_error(r, 503, "query over its deadline (--query-timeout %d ms); narrow the range or filter",
                      cp__relay.cfg.budget.query_timeout_ms);
        }
        return;
    }
    set_error(r, 500, "query failed: %s", err);
}

static bool run_profile(cp_qreq_t *r, cp_store_reader_t *rd, const cp_store_query_t *q, cp_profile_t *p)
{
    char err[256] = "";
    int rc = cp_store_profile(rd, q, p, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND) {
        set_error(r, 404, "%s", err);
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

/* The answer of a ctx_api.h call: 200 with what it wrote, or its error. */
static void ctx_answer(cp_qreq_t *r, int rc, char *err)
{
    err_unqualify(r, err, 256);
    if (rc == CP_ENOTFOUND) {
        set_error(r, 404, "%s", err);
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
    const char *ls = arg(r, "limit");
    if (ls) {
        char *e;
        long v = strtol(ls, &e, 10);
        if (*e || v <= 0 || v > 10000) {
            set_error(r, 400, "bad 'limit': '%s'", ls);
            return;
        }
        limit = (uint32_t)v;
    }
    char err[256] = "";
    int rc = cp_ctx_api_labels(rd, &q, limit, &r->body, err, sizeof err);
    ctx_answer(r, rc, err);
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
        set_error(r, 400, "bad 'trace_id': '%.64s' (32 hex digits, not all zero)", tid);
        return;
    }
    q.type = arg(r, "type");
    if (!q.type || !*q.type)
        q.type = "cpu";
    const char *from = arg(r, "from"), *to = arg(r, "to");
    q.from_ms = now - 3600000;
    q.to_ms = now;
    if ((from && cp_time_parse(from, now, &q.from_ms)) || (to && cp_time_parse(to, now, &q.to_ms)) ||
        q.to_ms <= q.from_ms) {
        set_error(r, 400, "bad 'from'/'to': unix seconds, RFC 3339 or now-15m, from before to");
        return;
    }
    cp_profile_t p;
    char err[256] = "";
    int rc = cp_store_trace_profile(rd, &q, &p, err, sizeof err);
    if (rc) {
        if (rc == CP_EUNSUPP)
            set_error(r, 501, "%s", err);
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
            set_error(r, 500, "otlp encoding failed");
    } else {
        r->ctype = "application/octet-stream";
        set_download(r, "attachment", name, type, ".pb.gz");
        if (cp_profile_write_pprof(p, &t, type, from_ms, to_ms, &r->body))
            set_error(r, 500, "pprof encoding failed");
    }
    cp_tree_free(&t);
    cp_profile_free(p);
}

static void do_trace(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now, const char *tid, const char *fmt);

static void do_profile(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now, bool top)
{
    cp_store_query_t q;
    const char *fmt = arg(r, "format");
    if (!fmt || !*fmt)
        fmt = "json";
    if (!top && strcmp(fmt, "json") && strcmp(fmt, "collapsed") && strcmp(fmt, "pprof") &&
        strcmp(fmt, "speedscope") && strcmp(fmt, "otlp")) {
        set_error(r, 400, "bad 'format': '%s' (json, collapsed, pprof, speedscope, otlp)", fmt);
        return;
    }
    const char *tid = arg(r, "trace_id");
    if (!top && tid && *tid) {
        do_trace(r, rd, now, tid, fmt);
        return;
    }
    if (!parse_query(r, "", &q, now))
        return;
    uint32_t limit = 50;
    const char *ls = arg(r, "limit");
    if (top && ls) {
        char *e;
        long v = strtol(ls, &e, 10);
        if (*e || v <= 0 || v > 1000000) {
            set_error(r, 400, "bad 'limit': '%s'", ls);
            return;
        }
        limit = (uint32_t)v;
    }
    const char *gb = arg(r, "group_by");
    if (top && gb && *gb) {
        char err[256] = "";
        int rc = cp_ctx_api_top(rd, &q, gb, limit, &r->body, err, sizeof err);
        ctx_answer(r, rc, err);
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
        set_error(r, 400, "%s", err);
        return;
    }
    int rc = cp_diff_api_run(rd, &qa, &qb, &prm, &r->body, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND) {
        set_error(r, 404, "%s", err);
    } else if (rc == CP_EINVAL) {
        set_error(r, 400, "%s", err);
    } else if (rc) {
        store_error(r, rc, err);
    } else {
        r->status = 200;
        r->ctype = "application/json";
    }
}

static void do_timeline(cp_qreq_t *r, cp_store_reader_t *rd, int64_t now)
{
    cp_store_query_t q;
    if (!parse_query(r, "", &q, now))
        return;
    int64_t range = q.to_ms - q.from_ms, step;
    const char *ss = arg(r, "step");
    if (ss && *ss) {
        if (cp_duration_parse(ss, &step) || step < 1000) {
            set_error(r, 400, "bad 'step': '%s' (seconds >= 1, or 30s/1m/1h)", ss);
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
        set_error(r, 400, "bad 'step': %" PRId64 " points, over the limit of %u (--max-points); use a larger 'step'",
                  range / step + 1, cp__relay.cfg.budget.max_points);
        return;
    }
    /* align to the step so points are stable while a live view scrolls */
    q.from_ms = q.from_ms / step * step;
    uint32_t n = (uint32_t)((q.to_ms - q.from_ms + step - 1) / step);
    const char *gb = arg(r, "group_by");
    if (gb && *gb) {
        char gerr[256] = "";
        int grc = cp_ctx_api_timeline(rd, &q, gb, step, n, &r->body, gerr, sizeof gerr);
        ctx_answer(r, grc, gerr);
        return;
    }
    uint64_t *pts = cp__xcalloc(n, sizeof *pts);
    cp_buf_t series = CP_BUF_INIT;
    char err[256] = "";
    int rc = cp_store_timeline(rd, &q, step, pts, n, &series, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND)
        set_error(r, 404, "%s", err);
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
    const char *type = arg(r, "type");
    cp_insights_query_t q = {sq.app, r->app, type && *type ? type : NULL, sq.labels, sq.from_ms, sq.to_ms};
    char err[256] = "";
    cp_buf_t doc = CP_BUF_INIT;
    int rc = cp_insights_run(rd, &q, &doc, err, sizeof err);
    err_unqualify(r, err, sizeof err);
    if (rc == CP_ENOTFOUND) {
        set_error(r, 404, "%s", err);
    } else if (rc) {
        store_error(r, rc, err);
    } else {
        r->status = 200;
        r->ctype = "application/json";
        cp_buf_append(&r->body, doc.data, doc.len);
    }
    cp_buf_fini(&doc);
}

static void execute(cp_qreq_t *r, cp_store_reader_t *rd)
{
    int64_t now = cp__now_ms();
    const char *ep = r->path + strlen("/api/v1/");
    r->app = arg(r, "app");
    if (r->app && !*r->app)
        r->app = NULL;
    if (r->app && cp_auth_qualify(r->who.tenant, r->app, r->qapp, sizeof r->qapp)) {
        set_error(r, 400, "bad 'app': empty, too long or with control characters");
        return;
    }
    if (!rd) {
        set_error(r, 503, "no database yet");
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
            set_error(r, 400, "missing parameter 'app'");
            return;
        }
        r->status = 200;
        r->ctype = "application/json";
        cp_buf_t doc = CP_BUF_INIT;
        int rc = cp_store_instances_json(rd, r->qapp, &doc);
        if (rc == CP_ENOTFOUND)
            set_error(r, 404, "unknown app '%s'", r->app);
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
            set_error(r, 400, "missing parameter 'app'");
            return;
        }
        r->status = 200;
        r->ctype = "application/json";
        if (cp_store_control_json(rd, r->qapp, r->app, now, 50, &r->body))
            set_error(r, 500, "query failed");
    } else {
        set_error(r, 404, "no such endpoint: %s", r->path);
    }
}

static void *query_main(void *arg)
{
    cp_store_reader_t *rd = NULL;
    while (!cp__relay.stop) {
        pthread_mutex_lock(&Q.mu);
        while (!Q.head && !cp__relay.stop)
            pthread_cond_wait(&Q.cv, &Q.mu);
        cp_qreq_t *r = Q.head;
        if (r) {
            Q.head = r->next;
            if (!Q.head)
                Q.tail = NULL;
            r->next = NULL;
            Q.n--;
            CP_STAT_SUB(query_queue_now, 1);
        }
        pthread_mutex_unlock(&Q.mu);
        if (!r)
            break;
        if (!rd && cp_store_reader_open(cp__relay_store_where(&cp__relay.cfg), &rd))
            rd = NULL;
        if (__atomic_load_n(&r->cancelled, __ATOMIC_RELAXED)) {
            CP_STAT_ADD(query_cancelled, 1);   /* the client left while it waited */
        } else if (mono_ms() >= r->deadline_ms) {
            CP_STAT_ADD(query_timeouts, 1);
            set_error(r, 503, "query waited past its deadline (--query-timeout %d ms); retry later",
                      cp__relay.cfg.budget.query_timeout_ms);
        } else {
            if (rd)
                cp_store_reader_set_limit(rd, r->deadline_ms, &r->cancelled);
            execute(r, rd);
            if (rd)
                cp_store_reader_set_limit(rd, 0, NULL);
        }
        cp_done_t *d = cp__xcalloc(1, sizeof *d);
        d->kind = CP_DONE_HTTP;
        d->req = r;
        cp__done_post(d);
    }
    cp_store_reader_close(rd);
    return arg;
}

int cp__api_start(void)
{
    int n = cp__relay.cfg.query_threads;
    if (n < 1)
        n = 1;
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&Q.th[i], NULL, query_main, NULL))
            return CP_ENOMEM;
        Q.n_th++;
    }
    return 0;
}

void cp__api_stop(void)
{
    pthread_mutex_lock(&Q.mu);
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < Q.n_th; i++)
        pthread_join(Q.th[i], NULL);
    Q.n_th = 0;
}

void cp__api_done(cp_done_t *d)
{
    cp_qreq_t *r = d->req;
    free(d);
    if (__atomic_load_n(&r->cancelled, __ATOMIC_RELAXED)) {
        req_free(r);
        return;
    }
    http_pss_t *p = r->pss;
    p->ready = true;
    cp__relay.stats.queries++;
    lws_callback_on_writable(p->wsi);
}

/* ---- service thread ---- */

/* A websocket upgrade to the live feed: refuse it here, with a real HTTP
 * 401 (and WWW-Authenticate) or 403, when its token is missing, unknown or
 * may not read. live.c checks again when it binds the connection. Returns
 * 0 to let the upgrade go on, 1 when answered. */
static int confirm_upgrade(struct lws *wsi)
{
    char uri[64] = "";
    lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    if (strncmp(uri, "/api/v1/live", 12))
        return 0;   /* agents (/ingest) authenticate in their hello */
    cp_principal_t who;
    int st = cp__live_authorize(wsi, &who);
    if (!st)
        return 0;
    cp__relay.stats.auth_denied++;
    /* written by hand: lws's header helpers say HTTP/1.0 at this stage,
     * which websocket clients refuse to read */
    uint8_t buf[LWS_PRE + 256];
    int n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", st,
                     st == 401 ? "Unauthorized" : "Forbidden",
                     st == 401 ? "WWW-Authenticate: Bearer realm=\"cprof\"\r\n" : "");
    if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    return 1;
}

/* Sets r->who from the Authorization header, or answers 401/403. */
static void authorize(struct lws *wsi, cp_qreq_t *r)
{
    if (!cp_auth_readers_need_token()) {
        cp_auth_open_admin(&r->who);
        return;
    }
    char h[CP_AUTH_TOKEN_MAX + 64] = "", tok[CP_AUTH_TOKEN_MAX + 1];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof h)
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION);
    bool has = cp_auth_bearer(h, tok, sizeof tok);
    if (!has || !cp_auth_check(tok, &r->who)) {
        cp__relay.stats.auth_denied++;
        set_error(r, 401, "%s token: send 'Authorization: Bearer TOKEN' with a read token "
                  "(docs/security.md)", has ? "unknown" : "missing");
        r->www_auth = true;
    } else if (!cp_auth_allows(r->who.role, CP_ROLE_READ)) {
        cp__relay.stats.auth_denied++;
        set_error(r, 403, "a '%s' token may not read (needs read or admin)", cp_auth_role_name(r->who.role));
    }
    explicit_bzero(tok, sizeof tok);   /* the token lives no longer than the check */
}

/* POST /api/v1/control: the caller (401 for no or an unknown token; any
 * role goes on, control.c refuses and audits a non-admin), named for the
 * audit by tenant, role, a prefix of its token's SHA-256 and its peer
 * address. Returns true to read the body. */
static bool authorize_post(struct lws *wsi, http_pss_t *p, cp_qreq_t *r)
{
    char peer[64] = "?", h[CP_AUTH_TOKEN_MAX + 64] = "", tok[CP_AUTH_TOKEN_MAX + 1];
    lws_get_peer_simple(wsi, peer, sizeof peer);
    if (!cp_auth_readers_need_token()) {
        cp_auth_open_admin(&r->who);
        snprintf(p->who_text, sizeof p->who_text, "open mode (no --auth) from %s", peer);
        return true;
    }
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof h)
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION);
    bool has = cp_auth_bearer(h, tok, sizeof tok);
    bool ok = has && cp_auth_check(tok, &r->who);
    if (ok) {
        char hex[2 * CP_AUTH_HASH_LEN + 1];
        cp_auth_hash_hex(tok, strlen(tok), hex);
        snprintf(p->who_text, sizeof p->who_text, "tenant=%s role=%s token=sha256:%.12s from %s",
                 *r->who.tenant ? r->who.tenant : "-", cp_auth_role_name(r->who.role), hex, peer);
    } else {
        cp__relay.stats.auth_denied++;
        set_error(r, 401, "%s token: send 'Authorization: Bearer TOKEN' with an admin token "
                  "(docs/security.md)", has ? "unknown" : "missing");
        r->www_auth = true;
    }
    explicit_bzero(tok, sizeof tok);
    return ok;
}

int cp__api_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    http_pss_t *p = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        cp_qreq_t *r = cp__xcalloc(1, sizeof *r);
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
            lws_hdr_copy(wsi, r->path, sizeof r->path, WSI_TOKEN_POST_URI);
            r->pss = p;
            p->req = r;
            if (strcmp(r->path, "/api/v1/control"))
                set_error(r, 405, "POST only to /api/v1/control; the rest of the API is GET");
            else if (authorize_post(wsi, p, r)) {
                p->posting = true;   /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION */
                return 0;
            }
            p->ready = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
            set_error(r, 405, "only GET is supported");
        } else {
            lws_hdr_copy(wsi, r->path, sizeof r->path, WSI_TOKEN_GET_URI);
            /* every argument is read, or the request is refused: a query
             * silently missing an argument (a label filter) would answer
             * with unfiltered data */
            char frag[MAX_ARG_BYTES];
            for (int i = 0;; i++) {
                int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
                if (n < 0) {
                    if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                        set_error(r, 400, "query argument %d is over %d KiB", i + 1, MAX_ARG_BYTES / 1024);
                    break;
                }
                if (r->n_args == MAX_ARGS) {
                    set_error(r, 400, "more than %d query arguments", MAX_ARGS);
                    break;
                }
                char *eq = strchr(frag, '=');
                if (eq)
                    *eq = 0;
                r->keys[r->n_args] = cp__xstrdup(frag);
                r->vals[r->n_args] = cp__xstrdup(eq ? eq + 1 : "");
                r->n_args++;
            }
        }
        if (!r->status)
            authorize(wsi, r);
        r->pss = p;
        p->req = r;
        if (!r->status && !strcmp(r->path, "/api/v1/metrics")) {
            /* the relay's own counters, answered here (no worker needed) */
            const char *f = arg(r, "format");
            bool json = f && !strcmp(f, "json");
            r->status = 200;
            r->ctype = json ? "application/json" : "text/plain; version=0.0.4";
            cp__stats_write(&r->body, json);
        }
        if (r->status) {   /* answered already */
            p->ready = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        r->deadline_ms = mono_ms() + cp__relay.cfg.budget.query_timeout_ms;
        pthread_mutex_lock(&Q.mu);
        bool full = Q.n >= (size_t)cp__relay.cfg.budget.query_queue;
        if (!full) {
            if (Q.tail)
                Q.tail->next = r;
            else
                Q.head = r;
            Q.tail = r;
            Q.n++;
            CP_STAT_ADD(query_queue_now, 1);
            pthread_cond_signal(&Q.cv);
        }
        pthread_mutex_unlock(&Q.mu);
        if (full) {
            CP_STAT_ADD(query_rejected_full, 1);
            set_error(r, 503, "query queue full (%d waiting, --query-queue); retry later",
                      cp__relay.cfg.budget.query_queue);
            p->ready = true;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        cp_qreq_t *r = p->req;
        if (!r || !p->ready)
            return 0;
        uint8_t buf[LWS_PRE + 16384], *start = buf + LWS_PRE, *q = start, *end = buf + sizeof buf - 1;
        if (!p->headers_sent) {
            if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, (lws_filepos_t)r->body.len,
                                            &q, end) ||
                lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                            (const unsigned char *)"no-store", 8, &q, end) ||
                (r->www_auth &&
                 lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                             (const unsigned char *)"Bearer realm=\"cprof\"", 20, &q, end)) ||
                (r->disposition[0] &&
                 lws_add_http_header_by_name(wsi, (const unsigned char *)"content-disposition:",
                                             (const unsigned char *)r->disposition,
                                             (int)strlen(r->disposition), &q, end)) ||
                (r->status == 503 &&
                 lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                             (const unsigned char *)"1", 1, &q, end)) ||
                lws_finalize_write_http_header(wsi, start, &q, end))
                return 1;
            p->headers_sent = true;
            if (r->body.len) {
                lws_callback_on_writable(wsi);
                return 0;
            }
        }
        size_t left = r->body.len - p->off, n = left > 16384 ? 16384 : left;
        bool final = n == left;
        if (n) {
            memcpy(start, r->body.data + p->off, n);
            if (lws_write(wsi, start, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
                return -1;
            p->off += n;
        }
        if (!final) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        req_free(r);
        p->req = NULL;
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (p && p->posting) {
            if (p->in.len + len > CP_CTL_BODY_MAX)
                p->in_too_big = true;
            else
                cp_buf_append(&p->in, in, len);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        if (!p || !p->posting || !p->req)
            return 0;
        cp_qreq_t *r = p->req;
        p->posting = false;
        if (p->in_too_big) {
            set_error(r, 413, "body over %u KiB", CP_CTL_BODY_MAX >> 10);
        } else {
            r->ctype = "application/json";
            r->status = cp__control_post(&r->who, p->who_text, p->in.len ? (const char *)p->in.data : "",
                                         p->in.len, &r->body);
        }
        cp_buf_fini(&p->in);
        p->ready = true;
        cp__relay.stats.queries++;
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p)
            cp_buf_fini(&p->in);
        if (p && p->req && p->posting) {   /* never queued: ours to free */
            req_free(p->req);
            p->req = NULL;
            p->posting = false;
        }
        if (p && p->req) {
            if (p->ready)
                req_free(p->req);
            else
                /* the worker drops or abandons it; its answer is freed on arrival */
                __atomic_store_n(&p->req->cancelled, true, __ATOMIC_RELAXED);
            p->req = NULL;
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
