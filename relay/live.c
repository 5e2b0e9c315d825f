/* live.c - the UI's live websocket (/api/v1/live, subprotocol "cprof.live").
 *
 * A UI sends {"subscribe":{"app":A,"type":T,"labels":"k=v"}} (type and
 * labels optional; a new subscribe replaces the old). The store worker posts
 * one CP_DONE_LIVE per stored window after its commit; the service thread
 * (the only thread here) copies the JSON into the queue of every matching
 * subscriber and asks for a writable callback.
 *
 * Each UI has a bounded ring (cfg.live_queue messages): when it is full the
 * oldest message is dropped and counted, so a slow UI never holds memory or
 * slows ingest or other UIs. The drop count rides along in the next push
 * as "dropped":N.
 *
 * Across relays (--nats, fanout.h): every local window is also handed to
 * cp_fanout_publish, and each subscription watches its app there, so the
 * windows other relays ingest come back as CP_DONE_LIVE with `remote` set
 * and are matched exactly like local ones (same tenant-qualified names).
 *
 * Auth (auth.h): the upgrade is checked in LWS_CALLBACK_FILTER_PROTOCOL_
 * CONNECTION, before the connection is accepted. The token comes from
 * "Authorization: Bearer TOKEN" or, for browsers (which cannot set headers
 * on a WebSocket), from a subprotocol entry "bearer.TOKEN" offered next to
 * "cprof.live" (the relay answers with "cprof.live" only). Either way it
 * stays out of URLs and logs. The role must allow reading. A subscription
 * names an app of the caller's tenant: it is qualified here and matched
 * against the qualified names the store worker posts, so a UI never sees
 * another tenant's windows.
 *
 * Thread: service only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fanout.h"
#include "relay.h"
#include "rutil.h"

typedef struct live_pss {
    struct lws      *wsi;
    cp_principal_t   who;                   /* set when the upgrade was accepted */
    char            *app, *type, *labels;   /* subscription; app NULL = none */
    char           **ring;
    size_t          *lens;
    int              head, count, cap;
    uint64_t         dropped;
    cp_buf_t         rx;
    int64_t          last_rx_ms;            /* last message or pong (idle timeout) */
    int64_t          ping_ms;               /* last ping sent */
    bool             want_ping;             /* silent for --ping: SERVER_WRITEABLE pings it */
    bool             closing;               /* closed for --idle-timeout */
    struct live_pss *next, *prev;
} live_pss_t;

size_t cp__live_pss_size(void) { return sizeof(live_pss_t); }

static live_pss_t *subs;

/* Extracts the string value of "key": in a flat JSON object (enough for the
 * subscribe message); returns a malloc'd copy or NULL. */
static char *json_str(const char *js, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(js, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != '"')
        return NULL;
    cp_buf_t b = CP_BUF_INIT;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1]) {
            p++;
            char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            cp_buf_append(&b, &c, 1);
        } else {
            cp_buf_append(&b, p, 1);
        }
        p++;
    }
    cp_buf_append(&b, "", 1);
    return (char *)cp_buf_steal(&b, NULL);
}

static void push(live_pss_t *p, const char *text, size_t len)
{
    if (!p->cap) {
        p->cap = cp__relay.cfg.live_queue > 0 ? cp__relay.cfg.live_queue : 256;
        p->ring = cp__xcalloc((size_t)p->cap, sizeof *p->ring);
        p->lens = cp__xcalloc((size_t)p->cap, sizeof *p->lens);
    }
    if (p->count == p->cap) {   /* drop the oldest */
        free(p->ring[p->head]);
        p->ring[p->head] = NULL;
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->dropped++;
        cp__relay.stats.live_dropped++;
    }
    int i = (p->head + p->count) % p->cap;
    p->ring[i] = cp__xrealloc(NULL, len + 1);
    memcpy(p->ring[i], text, len);
    p->ring[i][len] = 0;
    p->lens[i] = len;
    p->count++;
    lws_callback_on_writable(p->wsi);
}

void cp__live_done(cp_done_t *d)
{
    if (!d->remote)   /* ingested here: other relays' UIs get it through NATS */
        cp_fanout_publish(d->app, d->type, d->labels, (const char *)d->data, d->len);
    for (live_pss_t *p = subs; p; p = p->next) {
        if (!p->app || strcmp(p->app, d->app))
            continue;
        if (p->type && *p->type && strcmp(p->type, d->type))
            continue;
        if (!cp_store_labels_match(d->labels, p->labels))
            continue;
        push(p, (const char *)d->data, d->len);
    }
    free(d->data);
    free(d->app);
    free(d->type);
    free(d->labels);
    free(d);
}

static void unsubscribe(live_pss_t *p)
{
    if (p->app)
        cp_fanout_unwatch(p->app);
    free(p->app);
    free(p->type);
    free(p->labels);
    p->app = p->type = p->labels = NULL;
}

int cp__live_authorize(struct lws *wsi, cp_principal_t *who)
{
    memset(who, 0, sizeof *who);
    if (!cp_auth_readers_need_token()) {
        cp_auth_open_admin(who);
        return 0;
    }
    char h[2048] = "", tok[CP_AUTH_TOKEN_MAX + 1] = "";
    bool has = false;
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof h) {
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION);
        has = cp_auth_bearer(h, tok, sizeof tok);
    }
    n = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
    if (!has && n > 0 && n < (int)sizeof h) {
        lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_PROTOCOL);
        for (char *save = NULL, *e = strtok_r(h, ", ", &save); e && !has; e = strtok_r(NULL, ", ", &save))
            if (!strncmp(e, "bearer.", 7) && e[7] && strlen(e + 7) < sizeof tok) {
                snprintf(tok, sizeof tok, "%s", e + 7);
                has = true;
            }
    }
    bool known = has && cp_auth_check(tok, who);
    bool ok = known && cp_auth_allows(who->role, CP_ROLE_READ);
    explicit_bzero(tok, sizeof tok);
    explicit_bzero(h, sizeof h);
    if (ok)
        return 0;
    memset(who, 0, sizeof *who);
    return known ? 403 : 401;
}

/* Every CP_SWEEP_MS (relay.h: no timer per connection): pings UIs silent
 * for --ping (browsers answer pings) and drops those silent past
 * --idle-timeout with no message and no pong. */
static lws_sorted_usec_list_t sweep_sul;
static bool sweep_on;

static void sweep(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    int64_t now = cp__now_ms();
    for (live_pss_t *p = subs; p; p = p->next) {
        if (!p->wsi || p->closing || !cp__ws_idle_due(p->wsi, now, p->last_rx_ms, &p->ping_ms, &p->want_ping))
            continue;
        if (cp__relay.cfg.verbose)
            cp__log("live: closing a UI silent for %d s (--idle-timeout)", cp__relay.cfg.budget.idle_secs);
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        p->closing = true;
    }
    cp__sweep_schedule(&sweep_sul, sweep);
}

int cp__live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    live_pss_t *p = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* api.c answered 401/403 already in HTTP_CONFIRM_UPGRADE; this sets
         * the principal, and refuses an upgrade that reached us anyway: an
         * HTTP/2 websocket (RFC 8441) comes here without the HTTP checks
         * (main.c closes that stream alone, with 1008 and the reason) */
        int st = cp__live_authorize(wsi, &p->who);
        if (!st)
            return 0;
        cp__relay.stats.auth_denied++;
        return cp__ws_refuse(wsi, st, st == 401 ? "401 Unauthorized: missing or unknown token (send "
                             "'Authorization: Bearer TOKEN' or the subprotocol bearer.TOKEN)"
                             : "403 Forbidden: this token may not read");
    }
    case LWS_CALLBACK_ESTABLISHED: {
        cp_principal_t who = p->who;
        memset(p, 0, sizeof *p);
        p->who = who;
        p->wsi = wsi;
        p->next = subs;
        if (subs)
            subs->prev = p;
        subs = p;
        CP_STAT_ADD(connections_now, 1);
        p->last_rx_ms = cp__now_ms();
        if (!sweep_on) {
            sweep_on = true;
            cp__sweep_schedule(&sweep_sul, sweep);
        }
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        p->last_rx_ms = cp__now_ms();
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        p->last_rx_ms = cp__now_ms();
        if (lws_is_first_fragment(wsi))
            cp_buf_reset(&p->rx);
        if (p->rx.len + len > 65536)
            return -1;   /* a subscribe message is small */
        cp_buf_append(&p->rx, in, len);
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        cp_buf_append(&p->rx, "", 1);
        const char *js = (const char *)p->rx.data;
        if (strstr(js, "\"subscribe\"")) {
            unsubscribe(p);
            char *app = json_str(js, "app"), q[CP_TENANT_MAX + 1024];
            if (app && !cp_auth_qualify(p->who.tenant, app, q, sizeof q)) {
                p->app = cp__xstrdup(q);
                cp_fanout_watch(p->app);   /* windows of this app from other relays */
            }
            free(app);
            p->type = json_str(js, "type");
            p->labels = json_str(js, "labels");
            if (cp__relay.cfg.verbose)
                cp__log("live: subscribe app=%s type=%s labels=%s", p->app ? p->app : "",
                        p->type ? p->type : "", p->labels ? p->labels : "");
        } else if (strstr(js, "\"unsubscribe\"")) {
            unsubscribe(p);
        }
        cp_buf_reset(&p->rx);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (p->want_ping) {
            p->want_ping = false;
            if (cp__ws_ping(wsi))
                return -1;
            if (p->count)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (!p->count)
            return 0;
        int i = p->head;
        char *msg = p->ring[i];
        size_t n = p->lens[i];
        p->ring[i] = NULL;
        p->head = (p->head + 1) % p->cap;
        p->count--;
        cp_buf_t b = CP_BUF_INIT;
        static const uint8_t pre[LWS_PRE];
        cp_buf_append(&b, pre, LWS_PRE);
        if (p->dropped && n > 1 && msg[n - 1] == '}') {
            cp_buf_append(&b, msg, n - 1);
            cp_buf_printf(&b, ",\"dropped\":%llu}", (unsigned long long)p->dropped);
        } else {
            cp_buf_append(&b, msg, n);
        }
        free(msg);
        int w = lws_write(wsi, b.data + LWS_PRE, b.len - LWS_PRE, LWS_WRITE_TEXT);
        cp_buf_fini(&b);
        if (w < 0)
            return -1;
        if (p->count)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        if (p->wsi)
            CP_STAT_SUB(connections_now, 1);
        if (p->prev)
            p->prev->next = p->next;
        else if (subs == p)
            subs = p->next;
        if (p->next)
            p->next->prev = p->prev;
        unsubscribe(p);
        for (int k = 0; k < p->count; k++)
            free(p->ring[(p->head + k) % p->cap]);
        free(p->ring);
        free(p->lens);
        cp_buf_fini(&p->rx);
        memset(p, 0, sizeof *p);
        return 0;
    default:
        return 0;
    }
}
