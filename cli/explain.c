/* explain.c - relay reads for cprof query/diff, with empty and refused
 * answers explained. See explain.h. Thread: main. */
#include "explain.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "human.h"
#include "json.h"
#include "store.h"
#include "store_labels.h"

static void say(const cp_explain_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const cp_explain_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cprof %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A plain GET whose body is JSON; false (quietly) on any failure. */
static bool get_json(const cp_explain_ctx_t *c, const char *path, const char *app, cp_json_t *v)
{
    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "%s", path);
    cp_http_url_add(&url, "app", app);
    char err[512];
    int st = cp_http_get(&c->relay, (const char *)url.data, &c->http, &body, err, sizeof err);
    cp_buf_append(&body, "", 1);
    memset(v, 0, sizeof *v);
    bool ok = st == 200 && cp_json_parse((const char *)body.data, v);
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return ok;
}

/* The option that makes an agent send samples of `type`, or NULL. */
static const char *type_hint(const char *type)
{
    if (!strcmp(type, "wall"))
        return "wall=20ms";
    if (!strcmp(type, "alloc") || !strcmp(type, "alloc_objects"))
        return "alloc=512k";
    if (!strcmp(type, "lock") || !strcmp(type, "lock_count"))
        return "lock=10ms";
    return NULL;
}

#define FIRST_FLUSH_MS 10000   /* the agent's default flush= period (jvmti/options.h) */

/* The app exists and has no types at all: no window has arrived yet. */
static void no_data_yet(const cp_explain_ctx_t *c)
{
    cp_json_t v;
    int64_t first = 0, now = now_ms();
    int connected = 0, n = 0;
    if (get_json(c, "/api/v1/instances", c->app, &v)) {
        const cp_json_t *in = cp_json_get(&v, "instances");
        for (size_t i = 0; in && i < in->n; i++) {
            const cp_json_t *x = &in->kids[i];
            const cp_json_t *con = cp_json_get(x, "connected");
            int64_t fs = (int64_t)(cp_json_num(x, "first_seen") * 1000);
            n++;
            if (con && con->num)
                connected++;
            if (fs && (!first || fs < first))
                first = fs;
        }
    }
    cp_json_free(&v);
    char when[64], age[32];
    if (!n || !first) {
        say(c, "no data yet for app '%s': an agent said hello, no window has arrived yet", c->app);
        return;
    }
    cp_human_time(first, when, sizeof when);
    cp_human_age(now - first, age, sizeof age);
    if (!connected) {
        say(c, "no data yet for app '%s': its %d instance(s) disconnected before sending a window (first "
            "connected %s, %s ago)", c->app, n, when, age);
    } else if (now - first < FIRST_FLUSH_MS) {
        say(c, "no data yet for app '%s': its first instance connected %s ago (%s); an agent sends its first "
            "window one flush period after it starts (10 s unless flush= says otherwise): expect data in ~%lld s",
            c->app, age, when, (long long)((FIRST_FLUSH_MS - (now - first) + 999) / 1000));
    } else {
        say(c, "no data yet for app '%s': its first instance connected %s ago (%s) and no window has arrived "
            "since; agents send one every flush period (10 s by default): see the agent's log", c->app, age, when);
    }
}

/* After a 404 on a profile read: which of unknown app / no data / no type. */
static int explain_404(const cp_explain_ctx_t *c, const char *relay_said)
{
    cp_json_t v;
    if (!get_json(c, "/api/v1/apps", NULL, &v)) {
        cp_json_free(&v);
        say(c, "relay answered 404: %s", relay_said);
        return CP_EXIT_FAIL;
    }
    const cp_json_t *apps = cp_json_get(&v, "apps"), *mine = NULL;
    cp_buf_t names = CP_BUF_INIT;
    for (size_t i = 0; apps && i < apps->n; i++) {
        const char *name = cp_json_str(&apps->kids[i], "name");
        if (!strcmp(name, c->app))
            mine = &apps->kids[i];
        if (i < 20)
            cp_buf_printf(&names, "%s%s", i ? ", " : "", name);
        else if (i == 20)
            cp_buf_printf(&names, ", ... (%zu in all)", apps->n);
    }
    cp_buf_append(&names, "", 1);
    int rc;
    if (!mine) {
        if (apps && apps->n)
            say(c, "unknown app '%s': the relay at %s has no app of that name (its apps: %s)", c->app,
                c->relay.url, (const char *)names.data);
        else
            say(c, "unknown app '%s': the relay at %s has no apps yet (no agent has connected to it)", c->app,
                c->relay.url);
        say(c, "an agent started or attached moments ago connects within seconds; its app appears then");
        rc = CP_EXIT_UNKNOWN_APP;
    } else {
        const cp_json_t *types = cp_json_get(mine, "types");
        bool has = false;
        cp_buf_t tl = CP_BUF_INIT;
        for (size_t i = 0; types && i < types->n; i++) {
            const char *t = types->kids[i].t == CP_JSON_STR ? types->kids[i].str : "";
            has |= !strcmp(t, c->type);
            cp_buf_printf(&tl, "%s%s", i ? ", " : "", t);
        }
        cp_buf_append(&tl, "", 1);
        if (!types || !types->n) {
            no_data_yet(c);
            rc = CP_EXIT_NO_DATA;
        } else if (!has) {
            const char *hint = type_hint(c->type);
            say(c, "app '%s' has no '%s' samples (it has: %s)%s%s%s", c->app, c->type, (const char *)tl.data,
                hint ? "; agents send them when started with " : "", hint ? hint : "",
                hint ? " (cprof attach PID OPTION works on running JVMs)" : "");
            rc = CP_EXIT_NO_DATA;
        } else {
            say(c, "relay answered 404: %s", relay_said);
            rc = CP_EXIT_FAIL;
        }
        cp_buf_fini(&tl);
    }
    cp_buf_fini(&names);
    cp_json_free(&v);
    return rc;
}

int cp_explain_get(const cp_explain_ctx_t *c, const char *path, cp_buf_t *body)
{
    char err[512] = "";
    int st = cp_http_get(&c->relay, path, &c->http, body, err, sizeof err);
    if (st < 0) {
        say(c, "%s", err);
        return CP_EXIT_FAIL;
    }
    if (st == 200)
        return CP_EXIT_OK;
    cp_buf_append(body, "", 1);
    cp_json_t v;
    char said[400];
    const char *msg = (const char *)body->data;
    if (cp_json_parse(msg, &v) && cp_json_get(&v, "error"))
        snprintf(said, sizeof said, "%s", cp_json_str(&v, "error"));
    else
        snprintf(said, sizeof said, "%.300s", msg ? msg : "");
    cp_json_free(&v);
    if (st == 404)
        return explain_404(c, said);
    say(c, "relay answered %d: %s", st, said);
    if (st == 401)
        say(c, "%s", c->http.token && c->http.token[0]
                         ? "the relay does not know this token"
                         : "this relay wants a token: --token, --token @FILE or CPROF_TOKEN");
    return CP_EXIT_FAIL;
}

/* The canonical label set of one /instances entry (caller frees canon). */
static void instance_canon(const cp_json_t *inst, cp_buf_t *canon)
{
    const cp_json_t *l = cp_json_get(inst, "labels");
    size_t n = l && l->t == CP_JSON_OBJ ? l->n : 0;
    cp_kv_t *kv = n ? calloc(n, sizeof *kv) : NULL;
    size_t k = 0;
    for (size_t i = 0; kv && i < n; i++)
        if (l->kids[i].t == CP_JSON_STR)
            kv[k++] = (cp_kv_t){l->kids[i].key, l->kids[i].str};
    cp_buf_t json = CP_BUF_INIT;
    cp_store_labels_canon(kv, (uint32_t)k, canon, &json);
    cp_buf_fini(&json);
    free(kv);
}

#define MAX_SETS 8   /* label sets listed when a filter matches none */

/* Walks the app's instances matching labels: counts, first/last seen. */
typedef struct seen {
    int     total, matching, connected;
    int64_t first_ms, last_ms;
    cp_buf_t sets;     /* distinct label sets of all instances, "; "-joined */
    char   *setv[MAX_SETS];
    int     nsets;
} seen_t;

static void seen_fini(seen_t *s)
{
    for (int k = 0; k < s->nsets && k < MAX_SETS; k++)
        free(s->setv[k]);
    cp_buf_fini(&s->sets);
}

static bool survey(const cp_explain_ctx_t *c, const char *labels, seen_t *s)
{
    memset(s, 0, sizeof *s);
    cp_json_t v;
    if (!get_json(c, "/api/v1/instances", c->app, &v)) {
        cp_json_free(&v);
        return false;
    }
    const cp_json_t *in = cp_json_get(&v, "instances");
    for (size_t i = 0; in && i < in->n; i++) {
        const cp_json_t *x = &in->kids[i];
        cp_buf_t canon = CP_BUF_INIT;
        instance_canon(x, &canon);
        const char *cs = canon.data ? (const char *)canon.data : "";
        s->total++;
        const char *shown = *cs ? cs : "(no labels)";
        bool dup = false;
        for (int k = 0; k < s->nsets && !dup; k++)
            dup = !strcmp(s->setv[k], shown);
        if (!dup && s->nsets < MAX_SETS) {
            s->setv[s->nsets] = strdup(shown);
            cp_buf_printf(&s->sets, "%s%s", s->nsets ? "; " : "", shown);
            s->nsets++;
        } else if (!dup && s->nsets == MAX_SETS) {
            cp_buf_printf(&s->sets, "; ...");
            s->nsets++;
        }
        if (cp_store_labels_match(cs, labels)) {
            const cp_json_t *con = cp_json_get(x, "connected");
            int64_t fs = (int64_t)(cp_json_num(x, "first_seen") * 1000);
            int64_t ls = (int64_t)(cp_json_num(x, "last_seen") * 1000);
            s->matching++;
            if (con && con->num)
                s->connected++;
            if (fs && (!s->first_ms || fs < s->first_ms))
                s->first_ms = fs;
            if (ls > s->last_ms)
                s->last_ms = ls;
        }
        cp_buf_fini(&canon);
    }
    cp_buf_append(&s->sets, "", 1);
    cp_json_free(&v);
    return true;
}

static int report_labels(const cp_explain_ctx_t *c, const char *side, const char *labels, seen_t *s)
{
    if (s->matching || !s->total)
        return CP_EXIT_OK;
    say(c, "no instance of app '%s' has %s%slabels %s (its instances have: %s)", c->app, side ? side : "",
        side ? " " : "", labels, (const char *)s->sets.data);
    return CP_EXIT_NO_INSTANCE;
}

int cp_explain_labels(const cp_explain_ctx_t *c, const char *side, const char *labels)
{
    if (!labels || !*labels)
        return CP_EXIT_OK;
    seen_t s;
    int rc = survey(c, labels, &s) ? report_labels(c, side, labels, &s) : CP_EXIT_OK;
    seen_fini(&s);
    return rc;
}

int cp_explain_empty(const cp_explain_ctx_t *c, const char *side, const char *labels, int64_t from_ms,
                     int64_t to_ms)
{
    seen_t s;
    bool known = survey(c, labels, &s);
    int rc = known && labels && *labels ? report_labels(c, side, labels, &s) : CP_EXIT_OK;
    if (rc) {
        seen_fini(&s);
        return rc;
    }
    char range[128], what[600], seen[256] = "";
    cp_human_range(from_ms, to_ms, range, sizeof range);
    snprintf(what, sizeof what, "app '%s', %s%s%s", c->app, c->type, labels && *labels ? ", labels " : "",
             labels && *labels ? labels : "");
    if (known && s.matching) {
        char f[64], l[64], age[32];
        cp_human_time(s.first_ms, f, sizeof f);
        if (s.connected)
            snprintf(seen, sizeof seen, "; its first instance connected %s and one is connected now", f);
        else
            snprintf(seen, sizeof seen, "; its instances were seen from %s to %s (%s ago)", f,
                     cp_human_time(s.last_ms, l, sizeof l), cp_human_age(now_ms() - s.last_ms, age, sizeof age));
    }
    if (side)
        say(c, "the %s range has no samples: %s (%s)%s", side, range, what, seen);
    else
        say(c, "no samples in the range %s (%s)%s", range, what, seen);
    seen_fini(&s);
    return CP_EXIT_EMPTY;
}
