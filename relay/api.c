/* api.c - the HTTP JSON API under /api/v1/ (docs/api.md): the service
 * thread's half and the query workers' queue (what a worker runs:
 * api_query.c; the request they share: api_int.h).
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "auth.h"
#include "control.h"
#include "error.h"
#include "relay.h"
#include "rutil.h"

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

int64_t cp__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cp__qreq_free(cp_qreq_t *r)
{
    for (int i = 0; i < r->n_args; i++) {
        free(r->keys[i]);
        free(r->vals[i]);
    }
    cp_buf_fini(&r->body);
    free(r);
}

const char *cp__qreq_arg(const cp_qreq_t *r, const char *k)
{
    for (int i = 0; i < r->n_args; i++)
        if (!strcmp(r->keys[i], k))
            return r->vals[i];
    return NULL;
}

void cp__qreq_error(cp_qreq_t *r, int status, const char *fmt, ...)
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
        } else if (cp__mono_ms() >= r->deadline_ms) {
            CP_STAT_ADD(query_timeouts, 1);
            cp__qreq_error(r, 503, "query waited past its deadline (--query-timeout %d ms); retry later",
                      cp__relay.cfg.budget.query_timeout_ms);
        } else {
            if (rd)
                cp_store_reader_set_limit(rd, r->deadline_ms, &r->cancelled);
            cp__api_execute(r, rd);
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
        cp__qreq_free(r);
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
        cp__qreq_error(r, 401, "%s token: send 'Authorization: Bearer TOKEN' with a read token "
                  "(docs/security.md)", has ? "unknown" : "missing");
        r->www_auth = true;
    } else if (!cp_auth_allows(r->who.role, CP_ROLE_READ)) {
        cp__relay.stats.auth_denied++;
        cp__qreq_error(r, 403, "a '%s' token may not read (needs read or admin)", cp_auth_role_name(r->who.role));
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
        cp__qreq_error(r, 401, "%s token: send 'Authorization: Bearer TOKEN' with an admin token "
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
                cp__qreq_error(r, 405, "POST only to /api/v1/control; the rest of the API is GET");
            else if (authorize_post(wsi, p, r)) {
                p->posting = true;   /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION */
                return 0;
            }
            p->ready = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
            cp__qreq_error(r, 405, "only GET is supported");
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
                        cp__qreq_error(r, 400, "query argument %d is over %d KiB", i + 1, MAX_ARG_BYTES / 1024);
                    break;
                }
                if (r->n_args == MAX_ARGS) {
                    cp__qreq_error(r, 400, "more than %d query arguments", MAX_ARGS);
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
            const char *f = cp__qreq_arg(r, "format");
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
        r->deadline_ms = cp__mono_ms() + cp__relay.cfg.budget.query_timeout_ms;
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
            cp__qreq_error(r, 503, "query queue full (%d waiting, --query-queue); retry later",
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
        cp__qreq_free(r);
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
            cp__qreq_error(r, 413, "body over %u KiB", CP_CTL_BODY_MAX >> 10);
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
            cp__qreq_free(p->req);
            p->req = NULL;
            p->posting = false;
        }
        if (p && p->req) {
            if (p->ready)
                cp__qreq_free(p->req);
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
