/* otlp_export.c - the OTLP/HTTP profiles exporter (otlp_export.h).
 *
 * Pipeline: store worker (window + commit) -> bounded ring X.q -> exporter
 * thread: read the windows back (store reader), encode (otlp.h), POST
 * (libcurl), retry with backoff.
 *
 * A stored window is one row per (instance, window, type, label set): the
 * request labels split an instance's flush (store_ctx.h), and each row is
 * queued on its own. Read back, the rows of one instance window become one
 * Profile: samples carry their row's label set as attributes (as in
 * format=otlp), the resource the labels all its rows share, and the
 * window's trace entries link their samples (cp_otlp_link_to).
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

/* One row of the group's query kept until its window's rows are complete:
 * the store hands rows of one instance window one after another (one per
 * label set, store.h CP_STORE_WINDOWS_BY_LSET). */
typedef struct krow {
    size_t    wi;                 /* its xwin */
    char     *labels;
    uint32_t *stacks;
    uint64_t *values;
    uint32_t  n;
} krow_t;

typedef struct pmap { int64_t instance, start_ms; size_t prof; } pmap_t;   /* window -> profile */

typedef struct rctx {
    xwin_t             *w;        /* the group's windows */
    bool               *done;
    size_t              n;
    cp_otlp_t          *req;
    const cp_profile_t *m;        /* the query's merged profile (complete when rows arrive) */
    /* the instance window being collected */
    int64_t             instance, start_ms, end_ms;
    size_t              wi;       /* one of its xwin (names, type) */
    krow_t             *rows;
    size_t              n_rows, cap_rows;
    pmap_t             *pm;       /* profiles added, for the links */
    size_t              n_pm;
} rctx_t;

/* The labels every row of the window shares ("k=v" items of canonical
 * label sets, store_labels.h): the instance's own labels whenever part of
 * the window ran outside a request context; written as resource
 * attributes. Returned owned. */
static char *common_labels(const krow_t *rows, size_t n)
{
    cp_buf_t b = CP_BUF_INIT;
    const char *c = rows[0].labels;
    while (*c) {
        const char *e = c;
        while (*e && *e != ',')
            e += e[0] == '\\' && e[1] ? 2 : 1;
        size_t len = (size_t)(e - c);
        bool all = true;
        for (size_t r = 1; r < n && all; r++) {   /* item c[0..len) in every row's set? */
            const char *x = rows[r].labels;
            bool found = false;
            while (*x && !found) {
                const char *y = x;
                while (*y && *y != ',')
                    y += y[0] == '\\' && y[1] ? 2 : 1;
                found = (size_t)(y - x) == len && !memcmp(x, c, len);
                x = *y ? y + 1 : y;
            }
            all = found;
        }
        if (all) {
            if (b.len)
                cp_buf_append(&b, ",", 1);
            cp_buf_append(&b, c, len);
        }
        c = *e ? e + 1 : e;
    }
    cp_buf_append(&b, "", 1);
    size_t len;
    return (char *)cp_buf_steal(&b, &len);
}

/* Adds the collected instance window as one profile (its rows as samples
 * under their label sets). */
static void flush_window(rctx_t *c)
{
    if (!c->n_rows)
        return;
    const xwin_t *w = &c->w[c->wi];
    const char *sep = strchr(w->app, CP_TENANT_SEP);
    char tenant[CP_TENANT_MAX + 1] = "";
    if (sep)
        snprintf(tenant, sizeof tenant, "%.*s", (int)(sep - w->app), w->app);
    char *common = common_labels(c->rows, c->n_rows);
    cp_otlp_meta_t meta = {.app = sep ? sep + 1 : w->app, .tenant = tenant, .instance = w->instance,
                           .labels = common, .type = w->type, .from_ms = c->start_ms, .to_ms = c->end_ms};
    c->pm = cp__xrealloc(c->pm, (c->n_pm + 1) * sizeof *c->pm);
    c->pm[c->n_pm++] = (pmap_t){c->instance, c->start_ms, cp_otlp_count(c->req)};
    cp_otlp_begin(c->req, &meta, c->m);
    for (size_t r = 0; r < c->n_rows; r++) {
        krow_t *k = &c->rows[r];
        for (uint32_t j = 0; j < k->n; j++)
            cp_otlp_sample(c->req, k->stacks[j], k->labels, k->values[j]);
        free(k->labels); free(k->stacks); free(k->values);
    }
    cp_otlp_end(c->req);
    free(common);
    c->n_rows = 0;
}

/* One stored row of the group's query: when it is one of the group's
 * windows (instance, start, label set), keep it for its instance window. */
static int add_row(void *ud, const cp_store_window_t *row)
{
    rctx_t *c = ud;
    if (row->tier != CP_STORE_TIER_FULL || !row->instance_name)
        return 0;
    size_t i = 0;
    for (; i < c->n; i++)
        if (!c->done[i] && c->w[i].start_ms == row->start_ms && !strcmp(c->w[i].instance, row->instance_name) &&
            !strcmp(c->w[i].labels, row->labels))
            break;
    if (i == c->n)
        return 0;
    c->done[i] = true;
    if (c->n_rows && (c->instance != row->instance || c->start_ms != row->start_ms))
        flush_window(c);
    if (!c->n_rows) {
        c->instance = row->instance;
        c->start_ms = row->start_ms;
        c->end_ms = row->end_ms;
        c->wi = i;
    }
    if (row->end_ms > c->end_ms)
        c->end_ms = row->end_ms;
    if (c->n_rows == c->cap_rows) {
        c->cap_rows = c->cap_rows ? c->cap_rows * 2 : 8;
        c->rows = cp__xrealloc(c->rows, c->cap_rows * sizeof *c->rows);
    }
    krow_t *k = &c->rows[c->n_rows++];
    k->wi = i;
    k->labels = cp__xstrdup(row->labels);
    k->n = row->n;
    k->stacks = cp__xcalloc(row->n + 1, sizeof *k->stacks);
    k->values = cp__xcalloc(row->n + 1, sizeof *k->values);
    memcpy(k->stacks, row->stacks, row->n * sizeof *k->stacks);
    memcpy(k->values, row->values, row->n * sizeof *k->values);
    return 0;
}

/* A trace entry of the group's range: linked in its window's profile. */
static void add_link(void *ud, const cp_store_trace_entry_t *e)
{
    rctx_t *c = ud;
    for (size_t i = 0; i < c->n_pm; i++)
        if (c->pm[i].instance == e->instance && c->pm[i].start_ms == e->start_ms) {
            cp_otlp_link_t l = {e->hi, e->lo, e->span, e->names, e->kinds, e->funcs, e->n, e->value};
            cp_otlp_link_to(c->req, c->pm[i].prof, &l);
            return;
        }
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
    rctx_t c = {.w = w, .done = cp__xcalloc(n, sizeof(bool)), .n = n, .req = req, .m = &merged};
    char err[256] = "";
    int rc = cp_store_profile_windows(rd, &q, CP_STORE_WINDOWS_RAW | CP_STORE_WINDOWS_BY_LSET, &merged, add_row, &c,
                                      err, sizeof err);
    if (!rc) {
        flush_window(&c);
    } else {   /* the merged profile is gone (store.h): the window being collected is not sent */
        for (size_t k = 0; k < c.n_rows; k++) {
            c.done[c.rows[k].wi] = false;
            free(c.rows[k].labels); free(c.rows[k].stacks); free(c.rows[k].values);
        }
        c.n_rows = 0;
    }
    if (rc && rc != CP_ENOTFOUND)
        cp__log("otlp export: reading windows of %s back failed: %s", w[0].app, err[0] ? err : cp_strerror(rc));
    if (!rc && c.n_pm) {
        rc = cp_store_trace_entries(rd, &q, add_link, &c, err, sizeof err);
        if (rc && rc != CP_EUNSUPP)
            cp__log("otlp export: reading trace links of %s failed: %s", w[0].app, err[0] ? err : cp_strerror(rc));
    }
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        found += c.done[i];
    cp_profile_free(&merged);
    free(c.done);
    free(c.rows);
    free(c.pm);
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
