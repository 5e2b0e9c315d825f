/* otlp_export.c - the OTLP/HTTP profiles exporter (otlp_export.h).
 *
 * Pipeline: store worker (window + commit) -> bounded ring X.q -> exporter
 * thread: read the windows back (store reader), encode (otlp.h), POST
 * (libcurl), retry with backoff.
 *
 * State by owner:
 *   store worker : X.pend (windows of the transaction in progress)
 *   X.mu         : X.q (ring of committed windows), X.stop
 *   exporter     : the reader, the curl handle, the batch being delivered
 * Invariants: the ring never holds more than cfg.queue windows (a push into
 * a full ring frees the oldest first and counts otlp_dropped); the store
 * worker holds X.mu only to move its pending windows into the ring, so it
 * never waits on the network, the store reader or the encoder. */
#include "otlp_export.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "error.h"
#include "otlp.h"
#include "relay.h"
#include "rutil.h"

#define EXPORT_BATCH      64       /* windows per request at most */
#define BACKOFF_MIN_MS    500
#define HTTP_TIMEOUT_MS   10000
#define CONNECT_TIMEOUT_MS 5000

typedef struct xwin {
    char   *app, *instance, *type, *labels;   /* app tenant-qualified */
    int64_t start_ms, end_ms;
} xwin_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    xwin_t   *q;                  /* ring: q[(head + i) % cap], i < n */
    uint32_t  cap, head, n;
    bool      stop;               /* atomic loads outside mu (curl progress, store reader) */
    xwin_t   *pend;               /* store worker only */
    size_t    n_pend, cap_pend;
    bool      started;            /* atomic: set by start, read by the store worker */
    pthread_t th;
    char     *endpoint;           /* URL + "/v1development/profiles" */
    int64_t   backoff_max_ms;
    const char *data_dir;
} X = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void xwin_free(xwin_t *w)
{
    free(w->app); free(w->instance); free(w->type); free(w->labels);
    memset(w, 0, sizeof *w);
}

/* ---- store worker side ---------------------------------------------- */

void cp_otlp_export_window(const cp_store_event_t *ev)
{
    if (!__atomic_load_n(&X.started, __ATOMIC_ACQUIRE))   /* acquire: pairs with start's release */
        return;
    if (X.n_pend == X.cap_pend) {
        X.cap_pend = X.cap_pend ? X.cap_pend * 2 : 64;
        X.pend = cp__xrealloc(X.pend, X.cap_pend * sizeof *X.pend);
    }
    xwin_t *w = &X.pend[X.n_pend++];
    w->app = cp__xstrdup(ev->app);
    w->instance = cp__xstrdup(ev->instance);
    w->type = cp__xstrdup(ev->type);
    w->labels = cp__xstrdup(ev->labels ? ev->labels : "");
    w->start_ms = ev->start_ms;
    w->end_ms = ev->end_ms;
}

void cp_otlp_export_commit(bool ok)
{
    if (!__atomic_load_n(&X.started, __ATOMIC_ACQUIRE) || !X.n_pend)
        return;
    if (!ok) {
        for (size_t i = 0; i < X.n_pend; i++)
            xwin_free(&X.pend[i]);
        X.n_pend = 0;
        return;
    }
    uint64_t dropped = 0;
    pthread_mutex_lock(&X.mu);
    for (size_t i = 0; i < X.n_pend; i++) {
        if (X.n == X.cap) {   /* full: the oldest window goes */
            xwin_free(&X.q[X.head]);
            X.head = (X.head + 1) % X.cap;
            X.n--;
            dropped++;
        }
        X.q[(X.head + X.n) % X.cap] = X.pend[i];
        X.n++;
    }
    __atomic_store_n(&cp__relay.stats.otlp_queue_now, X.n, __ATOMIC_RELAXED);
    pthread_cond_signal(&X.cv);
    pthread_mutex_unlock(&X.mu);
    X.n_pend = 0;
    if (dropped)
        CP_STAT_ADD(otlp_dropped, dropped);
}

/* ---- exporter: read windows back ------------------------------------ */

typedef struct rctx {
    xwin_t             *w;        /* the group's windows */
    bool               *done;
    size_t              n;
    cp_otlp_t          *req;
    const cp_profile_t *m;        /* the query's merged profile (complete when rows arrive) */
} rctx_t;

/* One stored row of the group's query: when it is one of the group's
 * windows, add it (a view of the merged profile's stacks) to the request. */
static int add_row(void *ud, const cp_store_window_t *row)
{
    rctx_t *c = ud;
    if (row->tier != CP_STORE_TIER_FULL || !row->instance_name)
        return 0;
    size_t i = 0;
    for (; i < c->n; i++)
        if (!c->done[i] && c->w[i].start_ms == row->start_ms && !strcmp(c->w[i].instance, row->instance_name))
            break;
    if (i == c->n)
        return 0;
    c->done[i] = true;
    const cp_profile_t *m = c->m;
    cp_profile_t v = {.names = m->names, .kinds = m->kinds, .n_names = m->n_names, .unit = m->unit};
    uint32_t nf = 0;
    for (uint32_t k = 0; k < row->n; k++)
        nf += m->stack_off[row->stacks[k] + 1] - m->stack_off[row->stacks[k]];
    v.stack_off = cp__xcalloc(row->n + 1, sizeof *v.stack_off);
    v.funcs = cp__xcalloc(nf + 1, sizeof *v.funcs);
    v.values = (uint64_t *)row->values;
    v.n_stacks = row->n;
    v.total = row->total;
    for (uint32_t k = 0, o = 0; k < row->n; k++) {
        uint32_t a = m->stack_off[row->stacks[k]], b = m->stack_off[row->stacks[k] + 1];
        v.stack_off[k] = o;
        memcpy(v.funcs + o, m->funcs + a, (b - a) * sizeof *v.funcs);
        o += b - a;
        v.stack_off[k + 1] = o;
    }
    const xwin_t *w = &c->w[i];
    const char *sep = strchr(w->app, CP_TENANT_SEP);
    char tenant[CP_TENANT_MAX + 1] = "";
    if (sep)
        snprintf(tenant, sizeof tenant, "%.*s", (int)(sep - w->app), w->app);
    cp_otlp_meta_t meta = {.app = sep ? sep + 1 : w->app, .tenant = tenant, .instance = w->instance,
                           .labels = row->labels, .type = w->type, .from_ms = w->start_ms, .to_ms = w->end_ms};
    cp_otlp_add(c->req, &meta, &v);
    free(v.stack_off);
    free(v.funcs);
    return 0;
}

/* Adds the windows w[0..n) (one app, one type) to req; returns how many
 * the store still had. */
static size_t read_group(cp_store_reader_t *rd, xwin_t *w, size_t n, cp_otlp_t *req)
{
    cp_store_query_t q = {.app = w[0].app, .type = w[0].type, .from_ms = w[0].start_ms, .to_ms = w[0].end_ms};
    for (size_t i = 1; i < n; i++) {
        if (w[i].start_ms < q.from_ms) q.from_ms = w[i].start_ms;
        if (w[i].end_ms > q.to_ms) q.to_ms = w[i].end_ms;
    }
    cp_profile_t merged;
    memset(&merged, 0, sizeof merged);
    rctx_t c = {w, cp__xcalloc(n, sizeof(bool)), n, req, &merged};
    char err[256] = "";
    int rc = cp_store_profile_windows(rd, &q, CP_STORE_WINDOWS_RAW, &merged, add_row, &c, err, sizeof err);
    if (rc && rc != CP_ENOTFOUND)
        cp__log("otlp export: reading windows of %s back failed: %s", w[0].app, err[0] ? err : cp_strerror(rc));
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        found += c.done[i];
    cp_profile_free(&merged);
    free(c.done);
    return found;
}

static int cmp_win(const void *x, const void *y)
{
    const xwin_t *a = x, *b = y;
    int r = strcmp(a->app, b->app);
    if (!r)
        r = strcmp(a->type, b->type);
    if (!r && a->start_ms / 60000 != b->start_ms / 60000)
        r = a->start_ms < b->start_ms ? -1 : 1;
    return r;
}

/* ---- exporter: deliver ---------------------------------------------- */

enum { POST_OK = 0, POST_RETRY = 1, POST_REJECTED = 2 };

static int progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud; (void)a; (void)b; (void)c; (void)d;
    return __atomic_load_n(&X.stop, __ATOMIC_RELAXED);   /* non-0 aborts the transfer */
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p; (void)ud;
    return sz * n;
}

/* POSTs body; *retry_after_ms = the answer's Retry-After (0 if none). */
static int post(CURL *h, const cp_buf_t *body, int64_t *retry_after_ms, char *why, size_t whylen)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    curl_easy_setopt(h, CURLOPT_URL, X.endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body->data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    *retry_after_ms = 0;
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
        return POST_RETRY;
    }
    long code = 0;
    curl_off_t ra = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra);
    snprintf(why, whylen, "HTTP %ld", code);
    if (code >= 200 && code < 300)
        return POST_OK;
    if (code == 429 || code == 502 || code == 503 || code == 504) {   /* OTLP/HTTP: retryable */
        *retry_after_ms = (int64_t)ra * 1000;
        return POST_RETRY;
    }
    return POST_REJECTED;
}

/* Waits ms or until stop. Returns false on stop. */
static bool sleep_unless_stopped(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&X.mu);
    while (!X.stop && pthread_cond_timedwait(&X.cv, &X.mu, &ts) == 0)
        ;
    bool go = !X.stop;
    pthread_mutex_unlock(&X.mu);
    return go;
}

/* Delivers body (count windows) until it is accepted, refused or stop. */
static void deliver(CURL *h, const cp_buf_t *body, size_t count)
{
    int64_t backoff = BACKOFF_MIN_MS;
    uint64_t failures = 0;
    char why[256];
    for (;;) {
        int64_t ra;
        int r = post(h, body, &ra, why, sizeof why);
        if (r == POST_OK) {
            CP_STAT_ADD(otlp_exported, count);
            CP_STAT_ADD(otlp_requests, 1);
            if (failures)
                cp__log("otlp export: %s accepts profiles again after %llu failed attempts", X.endpoint,
                        (unsigned long long)failures);
            return;
        }
        if (r == POST_REJECTED) {
            CP_STAT_ADD(otlp_rejected, count);
            cp__log("otlp export: %s refused %zu windows (%s); not retried", X.endpoint, count, why);
            return;
        }
        if (__atomic_load_n(&X.stop, __ATOMIC_RELAXED))
            return;
        CP_STAT_ADD(otlp_retries, 1);
        if (!failures++)
            cp__log("otlp export: %s: %s; retrying with backoff (up to %lld ms)", X.endpoint, why,
                    (long long)X.backoff_max_ms);
        int64_t wait = ra > 0 ? ra : backoff;
        if (wait > X.backoff_max_ms)
            wait = X.backoff_max_ms;
        if (!sleep_unless_stopped(wait))
            return;
        backoff = backoff * 2 > X.backoff_max_ms ? X.backoff_max_ms : backoff * 2;
    }
}

static void *export_main(void *arg)
{
    cp_store_reader_t *rd = NULL;
    CURL *h = curl_easy_init();
    xwin_t batch[EXPORT_BATCH];
    bool warned_missing = false;
    if (cp_store_reader_open(X.data_dir, &rd) || !h) {
        cp__log("otlp export: cannot open the store reader or an HTTP client; exporter off");
        goto out;
    }
    cp_store_reader_set_limit(rd, 0, &X.stop);
    for (;;) {
        pthread_mutex_lock(&X.mu);
        while (!X.n && !X.stop)
            pthread_cond_wait(&X.cv, &X.mu);
        if (X.stop) {
            pthread_mutex_unlock(&X.mu);
            break;
        }
        size_t n = 0;
        while (X.n && n < EXPORT_BATCH) {
            batch[n++] = X.q[X.head];
            X.head = (X.head + 1) % X.cap;
            X.n--;
        }
        __atomic_store_n(&cp__relay.stats.otlp_queue_now, X.n, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&X.mu);

        qsort(batch, n, sizeof *batch, cmp_win);
        cp_otlp_t *req = cp_otlp_create();
        size_t found = 0;
        for (size_t a = 0, b; a < n; a = b) {
            for (b = a + 1; b < n && !cmp_win(&batch[a], &batch[b]); b++)
                ;
            found += read_group(rd, batch + a, b - a, req);
        }
        if (found < n && !warned_missing) {
            cp__log("otlp export: %zu of %zu windows were no longer in the store", n - found, n);
            warned_missing = true;
        }
        if (found) {
            cp_buf_t body = CP_BUF_INIT;
            if (cp_otlp_write(req, &body) == 0)
                deliver(h, &body, found);
            cp_buf_fini(&body);
        }
        cp_otlp_destroy(req);
        for (size_t i = 0; i < n; i++)
            xwin_free(&batch[i]);
    }
out:
    if (h)
        curl_easy_cleanup(h);
    cp_store_reader_close(rd);
    return arg;
}

int cp_otlp_export_start(const cp_otlp_export_cfg_t *cfg)
{
    if (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8))
        return CP_EINVAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return CP_ENOMEM;
    size_t n = strlen(cfg->url);
    while (n && cfg->url[n - 1] == '/')
        n--;
    X.endpoint = cp__xcalloc(n + 32, 1);
    snprintf(X.endpoint, n + 32, "%.*s/v1development/profiles", (int)n, cfg->url);
    X.cap = cfg->queue ? cfg->queue : 1;
    X.q = cp__xcalloc(X.cap, sizeof *X.q);
    X.head = X.n = 0;
    X.stop = false;
    X.backoff_max_ms = cfg->backoff_max_ms > BACKOFF_MIN_MS ? cfg->backoff_max_ms : BACKOFF_MIN_MS;
    X.data_dir = cfg->data_dir;
    if (pthread_create(&X.th, NULL, export_main, NULL)) {
        free(X.q);
        free(X.endpoint);
        return CP_ENOMEM;
    }
    __atomic_store_n(&X.started, true, __ATOMIC_RELEASE);   /* release: the ring is ready */
    cp__log("otlp export: pushing every stored window to %s (queue %u windows)", X.endpoint, X.cap);
    return 0;
}

/* Called after the store worker was joined (cp__ingest_stop), so nobody
 * pushes any more. */
void cp_otlp_export_stop(void)
{
    if (!X.started)
        return;
    pthread_mutex_lock(&X.mu);
    __atomic_store_n(&X.stop, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&X.cv);
    pthread_mutex_unlock(&X.mu);
    pthread_join(X.th, NULL);
    X.started = false;
    for (uint32_t i = 0; i < X.n; i++)
        xwin_free(&X.q[(X.head + i) % X.cap]);
    for (size_t i = 0; i < X.n_pend; i++)
        xwin_free(&X.pend[i]);
    free(X.q);
    free(X.pend);
    free(X.endpoint);
    X.q = X.pend = NULL;
    X.n = X.n_pend = X.cap_pend = 0;
    X.endpoint = NULL;
    curl_global_cleanup();
}
