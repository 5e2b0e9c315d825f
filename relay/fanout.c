/* fanout.c - live fan-out across relays through NATS (see fanout.h).
 *
 * Pipeline: the store worker commits a group and posts its live messages;
 * the service thread (live.c) hands each local one to its own UIs and to
 * cp_fanout_publish, which copies it into a bounded queue. The fan-out
 * thread drains the queue and makes every libnats call (publish, subscribe,
 * unsubscribe): libnats may write to its socket inline when its buffer
 * fills, and a frozen server must not stall the service thread. Incoming
 * messages arrive on libnats's delivery threads (on_msg), are checked and
 * posted to the service thread as CP_DONE_LIVE with remote set; live.c
 * matches them against its subscribers exactly like local windows.
 *
 * State: Q (two op queues) is shared under Q.mu; the watch table (app ->
 * reference count, subscription) belongs to the fan-out thread alone; the
 * connection pointer is written before the thread starts and cleared after
 * it stopped. Counters: nats_* in relay.h.
 *
 * While the connection is not up, publishes are dropped and counted rather
 * than kept in libnats's reconnect buffer: replaying stale windows into
 * remote UIs minutes later helps nobody (their history is in the store).
 * Subscriptions made meanwhile are kept by libnats and sent on reconnect. */
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "error.h"
#include "fanout.h"
#include "relay.h"
#include "rutil.h"

#define RECONNECT_WAIT_MS 500
#define SUBJECT_PREFIX    "cprof."

/* ---------------- subjects (pure) ---------------- */

static bool plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Appends the encoded token of s[0..n) at out+*at; false when it does not fit. */
static bool put_token(const char *s, size_t n, char *out, size_t outlen, size_t *at)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!n) {
        if (*at + 1 >= outlen)
            return false;
        out[(*at)++] = '%';
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = plain_byte(c) ? 1 : 3;
        if (*at + need >= outlen)
            return false;
        if (need == 1) {
            out[(*at)++] = (char)c;
        } else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[c >> 4];
            out[(*at)++] = hex[c & 15];
        }
    }
    return true;
}

static bool put_str(const char *s, char *out, size_t outlen, size_t *at)
{
    size_t n = strlen(s);
    if (*at + n >= outlen)
        return false;
    memcpy(out + *at, s, n);
    *at += n;
    return true;
}

int cp_fanout_subject(const char *qapp, const char *type, char *out, size_t outlen)
{
    if (outlen > CP_FANOUT_SUBJECT_MAX + 1)
        outlen = CP_FANOUT_SUBJECT_MAX + 1;
    const char *sep = strchr(qapp, CP_TENANT_SEP);
    const char *app = sep ? sep + 1 : qapp;
    size_t at = 0, tl = sep ? (size_t)(sep - qapp) : 0;
    bool ok = put_str(SUBJECT_PREFIX, out, outlen, &at) && put_token(qapp, tl, out, outlen, &at) &&
              put_str(".", out, outlen, &at) && put_token(app, strlen(app), out, outlen, &at) &&
              put_str(".", out, outlen, &at) &&
              (type ? put_token(type, strlen(type), out, outlen, &at) : put_str("*", out, outlen, &at));
    if (!ok)
        return -1;
    out[at] = 0;
    return (int)at;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes the token s[0..n) into out (NUL-terminated); false on a bad
 * escape, a byte that encoding never leaves plain, or no room. */
static bool get_token(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (n == 1 && s[0] == '%') {
        if (!outlen)
            return false;
        out[0] = 0;
        return true;
    }
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = h << 4 | l;
            if (plain_byte((unsigned char)c))
                return false;   /* not canonical: one name, one subject */
            i += 2;
        } else if (!plain_byte((unsigned char)c)) {
            return false;
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return true;
}

int cp_fanout_subject_parse(const char *subject, char *qapp, size_t qapp_len, char *type, size_t type_len)
{
    size_t pl = strlen(SUBJECT_PREFIX);
    if (strncmp(subject, SUBJECT_PREFIX, pl))
        return -1;
    const char *t = subject + pl, *a = strchr(t, '.');
    const char *y = a ? strchr(a + 1, '.') : NULL;
    if (!a || !y || strchr(y + 1, '.'))
        return -1;
    char tenant[CP_TENANT_MAX], app[1024];
    if (!get_token(t, (size_t)(a - t), tenant, sizeof tenant) ||
        !get_token(a + 1, (size_t)(y - a - 1), app, sizeof app) ||
        !get_token(y + 1, strlen(y + 1), type, type_len))
        return -1;
    if (*tenant && !cp_auth_tenant_valid(tenant))
        return -1;
    for (const char *p = type; *p; p++)
        if ((unsigned char)*p < 0x20)
            return -1;
    return cp_auth_qualify(tenant, app, qapp, qapp_len) ? -1 : 0;
}

/* ---------------- the fan-out thread ---------------- */

enum { OP_PUBLISH = 1, OP_WATCH, OP_UNWATCH };

typedef struct fop {
    int          kind;
    char        *subject;      /* PUBLISH: concrete; WATCH/UNWATCH: the app's wildcard */
    char        *body;         /* PUBLISH: labels NUL json */
    size_t       len;
    struct fop  *next;
} fop_t;

typedef struct fop_list { fop_t *head, *tail; size_t n; } fop_list_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    fop_list_t      ctl;          /* WATCH / UNWATCH: never dropped (one pair per UI subscription) */
    fop_list_t      pub;          /* PUBLISH: bounded, the oldest dropped past CP_FANOUT_QUEUE_MAX */
    bool            stop;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static natsConnection *nc;        /* set before the thread starts, cleared after it ends */
static pthread_t       thread;
static bool            started;
static char            url_shown[256];   /* host:port list without credentials (logs) */

/* Fan-out thread's own table: wildcard subject -> refs + subscription. */
typedef struct watch {
    char              *subject;
    int                refs;
    natsSubscription  *sub;
} watch_t;
static watch_t *watches;
static size_t   n_watches, cap_watches;

static void op_free(fop_t *o)
{
    free(o->subject);
    free(o->body);
    free(o);
}

static void list_push(fop_list_t *l, fop_t *o)
{
    o->next = NULL;
    if (l->tail)
        l->tail->next = o;
    else
        l->head = o;
    l->tail = o;
    l->n++;
}

static fop_t *list_take(fop_list_t *l)   /* the whole list */
{
    fop_t *h = l->head;
    l->head = l->tail = NULL;
    l->n = 0;
    return h;
}

static void enqueue(fop_t *o)
{
    fop_t *dropped = NULL;
    pthread_mutex_lock(&Q.mu);
    if (o->kind == OP_PUBLISH) {
        if (Q.pub.n >= CP_FANOUT_QUEUE_MAX) {   /* drop the oldest */
            dropped = Q.pub.head;
            Q.pub.head = dropped->next;
            if (!Q.pub.head)
                Q.pub.tail = NULL;
            Q.pub.n--;
        }
        list_push(&Q.pub, o);
    } else {
        list_push(&Q.ctl, o);
    }
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    if (dropped) {
        CP_STAT_ADD(nats_dropped, 1);
        op_free(dropped);
    }
}

/* libnats delivery thread: one message of a watched app from another relay. */
static void on_msg(natsConnection *c, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)c; (void)sub; (void)closure;
    char qapp[CP_TENANT_MAX + 1024], type[256];
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    const char *nul = data && len > 0 ? memchr(data, 0, (size_t)len) : NULL;
    if (!nul || cp_fanout_subject_parse(natsMsg_GetSubject(msg), qapp, sizeof qapp, type, sizeof type)) {
        CP_STAT_ADD(nats_bad, 1);
        natsMsg_Destroy(msg);
        return;
    }
    size_t ll = (size_t)(nul - data), jl = (size_t)len - ll - 1;
    cp_done_t *d = cp__xcalloc(1, sizeof *d);
    d->kind = CP_DONE_LIVE;
    d->remote = true;
    d->app = cp__xstrdup(qapp);
    d->type = cp__xstrdup(type);
    d->labels = cp__xcalloc(1, ll + 1);
    memcpy(d->labels, data, ll);
    d->data = cp__xcalloc(1, jl + 1);
    memcpy(d->data, nul + 1, jl);
    d->len = jl;
    natsMsg_Destroy(msg);
    CP_STAT_ADD(nats_received, 1);
    cp__done_post(d);
}

static void on_disconnected(natsConnection *c, void *closure)
{
    (void)c; (void)closure;
    __atomic_store_n(&cp__relay.stats.nats_connected, 0, __ATOMIC_RELAXED);   /* a gauge: orders nothing */
    if (__atomic_load_n(&Q.stop, __ATOMIC_RELAXED))   /* only silences the log of our own close */
        return;
    CP_STAT_ADD(nats_disconnects, 1);
    cp__log("nats: lost %s; live fan-out across relays paused (ingest, storage and queries go on), "
            "reconnecting every %d ms", url_shown, RECONNECT_WAIT_MS);
}

static void on_connected(natsConnection *c, void *closure)
{
    bool re = closure != NULL;
    __atomic_store_n(&cp__relay.stats.nats_connected, 1, __ATOMIC_RELAXED);
    (void)c;
    cp__log("nats: %s %s; live fan-out across relays %s", re ? "reconnected to" : "connected to",
            url_shown, re ? "resumed" : "on");
}

static void on_error(natsConnection *c, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)c; (void)sub; (void)closure;
    static int64_t last_ms;   /* one line a minute at most: slow-consumer storms */
    int64_t now = cp__now_ms();
    /* relaxed: a rate limit for a log line; two threads may both log once */
    if (now - __atomic_load_n(&last_ms, __ATOMIC_RELAXED) > 60000) {
        __atomic_store_n(&last_ms, now, __ATOMIC_RELAXED);
        cp__log("nats: %s", natsStatus_GetText(err));
    }
}

static watch_t *watch_find(const char *subject)
{
    for (size_t i = 0; i < n_watches; i++)
        if (!strcmp(watches[i].subject, subject))
            return &watches[i];
    return NULL;
}

static void do_watch(const char *subject)
{
    watch_t *w = watch_find(subject);
    if (w) {
        w->refs++;
        return;
    }
    if (n_watches == cap_watches) {
        cap_watches = cap_watches ? cap_watches * 2 : 16;
        watches = cp__xrealloc(watches, cap_watches * sizeof *watches);
    }
    w = &watches[n_watches++];
    memset(w, 0, sizeof *w);
    w->subject = cp__xstrdup(subject);
    w->refs = 1;
    natsStatus s = natsConnection_Subscribe(&w->sub, nc, subject, on_msg, NULL);
    if (s != NATS_OK) {
        w->sub = NULL;
        cp__log("nats: cannot subscribe to %s: %s", subject, natsStatus_GetText(s));
    } else if (cp__relay.cfg.verbose) {
        cp__log("nats: subscribed %s", subject);
    }
}

static void do_unwatch(const char *subject)
{
    watch_t *w = watch_find(subject);
    if (!w || --w->refs > 0)
        return;
    if (w->sub) {
        natsSubscription_Unsubscribe(w->sub);
        natsSubscription_Destroy(w->sub);
    }
    free(w->subject);
    *w = watches[--n_watches];
    if (cp__relay.cfg.verbose)
        cp__log("nats: unsubscribed %s", subject);
}

static void do_publish(fop_t *o)
{
    if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
        CP_STAT_ADD(nats_dropped, 1);
        return;
    }
    natsStatus s = natsConnection_Publish(nc, o->subject, o->body, (int)o->len);
    if (s == NATS_OK)
        CP_STAT_ADD(nats_published, 1);
    else
        CP_STAT_ADD(nats_dropped, 1);
}

static void run_ops(fop_t *ops, bool stop)
{
    while (ops) {
        fop_t *nx = ops->next;
        if (!stop) {
            if (ops->kind == OP_PUBLISH)
                do_publish(ops);
            else if (ops->kind == OP_WATCH)
                do_watch(ops->subject);
            else
                do_unwatch(ops->subject);
        }
        op_free(ops);
        ops = nx;
    }
}

static void *fanout_main(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&Q.mu);
        while (!Q.ctl.head && !Q.pub.head && !Q.stop)
            pthread_cond_wait(&Q.cv, &Q.mu);
        fop_t *ctl = list_take(&Q.ctl), *pub = list_take(&Q.pub);
        bool stop = Q.stop;
        pthread_mutex_unlock(&Q.mu);
        run_ops(ctl, stop);   /* subscriptions first: they gate what arrives */
        run_ops(pub, stop);
        if (stop)
            break;
    }
    for (size_t i = 0; i < n_watches; i++) {
        if (watches[i].sub)
            natsSubscription_Destroy(watches[i].sub);
        free(watches[i].subject);
    }
    free(watches);
    watches = NULL;
    n_watches = cap_watches = 0;
    return arg;
}

/* url without "user:pass@" parts, for the log. */
static void strip_credentials(const char *url, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = url; *p && o + 1 < outlen;) {
        const char *end = p + strcspn(p, ",");
        const char *scheme = strstr(p, "://");
        const char *host = scheme && scheme < end ? scheme + 3 : p;
        const char *at = memchr(host, '@', (size_t)(end - host));
        const char *from = at ? at + 1 : host;
        int n = snprintf(out + o, outlen - o, "%s%.*s%s%.*s", o ? "," : "",
                         (int)(host - p), p, at ? "***@" : "", (int)(end - from), from);
        if (n < 0 || (size_t)n >= outlen - o)
            break;
        o += (size_t)n;
        p = *end ? end + 1 : end;
    }
}

int cp_fanout_start(const char *url)
{
    natsOptions *opts = NULL;
    natsStatus s;
    strip_credentials(url, url_shown, sizeof url_shown);
    if ((s = natsOptions_Create(&opts)) != NATS_OK)
        goto bad;
    /* natsOptions_SetServers takes one URL per entry: split a list */
    {
        char *copy = cp__xstrdup(url), *save = NULL;
        const char *list[32];
        int n = 0;
        for (char *t = strtok_r(copy, ",", &save); t && n < 32; t = strtok_r(NULL, ",", &save))
            list[n++] = t;
        s = n ? natsOptions_SetServers(opts, list, n) : NATS_INVALID_ARG;
        free(copy);
        if (s != NATS_OK)
            goto bad;
    }
    natsOptions_SetName(opts, "cprof-relay");
    natsOptions_SetNoEcho(opts, true);
    natsOptions_SetAllowReconnect(opts, true);
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, RECONNECT_WAIT_MS);
    natsOptions_SetTimeout(opts, 2000);
    natsOptions_SetPingInterval(opts, 5000);   /* a half-open link is noticed in ~10 s */
    natsOptions_SetMaxPingsOut(opts, 2);
    natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    natsOptions_SetReconnectedCB(opts, on_connected, (void *)1);
    natsOptions_SetErrorHandler(opts, on_error, NULL);
    natsOptions_UseGlobalMessageDelivery(opts, true);   /* a thread pool, not a thread per watched app */
    natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
    s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    opts = NULL;
    if (s == NATS_OK) {
        __atomic_store_n(&cp__relay.stats.nats_connected, 1, __ATOMIC_RELAXED);
        cp__log("nats: connected to %s; live fan-out across relays on", url_shown);
    } else if (s == NATS_NOT_YET_CONNECTED) {
        cp__log("nats: %s not reachable yet; the relay runs without fan-out across relays and "
                "keeps trying every %d ms", url_shown, RECONNECT_WAIT_MS);
    } else {
        goto bad;
    }
    Q.stop = false;
    if (pthread_create(&thread, NULL, fanout_main, NULL)) {
        natsConnection_Destroy(nc);
        nc = NULL;
        return CP_ENOMEM;
    }
    started = true;
    return 0;
bad:
    cp__log("nats: cannot use --nats %s: %s", url_shown, natsStatus_GetText(s));
    natsOptions_Destroy(opts);
    return CP_EINVAL;
}

bool cp_fanout_enabled(void)
{
    return started;
}

void cp_fanout_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&Q.mu);
    __atomic_store_n(&Q.stop, true, __ATOMIC_RELAXED);
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    pthread_join(thread, NULL);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    nc = NULL;
    nats_CloseAndWait(2000);
    started = false;
}

void cp_fanout_publish(const char *qapp, const char *type, const char *labels, const char *json, size_t len)
{
    if (!started)
        return;
    char subject[CP_FANOUT_SUBJECT_MAX + 1];
    if (cp_fanout_subject(qapp, type, subject, sizeof subject) < 0) {
        CP_STAT_ADD(nats_dropped, 1);
        return;
    }
    size_t ll = labels ? strlen(labels) : 0;
    fop_t *o = cp__xcalloc(1, sizeof *o);
    o->kind = OP_PUBLISH;
    o->subject = cp__xstrdup(subject);
    o->len = ll + 1 + len;
    o->body = cp__xcalloc(1, o->len);
    if (ll)
        memcpy(o->body, labels, ll);
    memcpy(o->body + ll + 1, json, len);
    enqueue(o);
}

static void watch_op(int kind, const char *qapp)
{
    if (!started)
        return;
    char subject[CP_FANOUT_SUBJECT_MAX + 1];
    if (cp_fanout_subject(qapp, NULL, subject, sizeof subject) < 0)
        return;   /* both calls of a pair skip it alike */
    fop_t *o = cp__xcalloc(1, sizeof *o);
    o->kind = kind;
    o->subject = cp__xstrdup(subject);
    enqueue(o);
}

void cp_fanout_watch(const char *qapp)
{
    watch_op(OP_WATCH, qapp);
}

void cp_fanout_unwatch(const char *qapp)
{
    watch_op(OP_UNWATCH, qapp);
}
