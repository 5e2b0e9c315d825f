/* control.c - fleet control on the service thread: POST /api/v1/control,
 * the timed changes in force and the apps' defaults. See control.h.
 *
 * State (service thread only): `active` holds the timed changes that have
 * not ended (pruned as they end), `defs` the defaults per qualified app.
 * Writes (audit rows, defaults) go to the store worker as jobs
 * (ingest_store.h) and are durable with its next commit. The store is the
 * truth shared by every relay on it: both lists are read from it at start
 * and again every second (control_sync.h), and each read is applied here:
 *  - a change in force that this relay does not know (POSTed to another
 *    relay) is adopted and sent to the matching agents connected here, with
 *    the time left;
 *  - a change this relay saw in the store that has left the changes in
 *    force before its end (a whole revert on another relay: the revert's
 *    audit row ends it, store_control.h) is reverted on the agents here;
 *  - a narrow revert (instance or labels) on another relay is applied to
 *    the matching agents here, and keeps them out of the change (`excls`);
 *  - an app's defaults newer (t_ms) than this relay's go to its agents here.
 * Races with this relay's own writes, not yet committed when a read ran:
 * a change POSTed here counts as seen in the store only once a read showed
 * it (`stored`), so it is not taken for reverted before its audit row is
 * committed; a change reverted here is remembered (`tombs`, until its end)
 * so a read from before the revert's commit does not bring it back; defaults
 * are applied only when newer than the ones this relay has.
 *
 * The relay checks only what it can: the key whitelist and that a value is
 * a short plain token; types and bounds are the agent's to check (it
 * answers each refusal in its control_ack), so an agent never takes a
 * value it does not understand, whatever the relay's age. */
#include "control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/json.h"
#include "control_sync.h"
#include "error.h"
#include "ingest_store.h"
#include "relay.h"
#include "rutil.h"
#include "store_control.h"
#include "store_labels.h"

#define FOR_MIN_MS 1000LL
#define FOR_MAX_MS (24LL * 3600 * 1000)

typedef struct change {
    char         id[48];
    char        *qapp, *instance, *labels;   /* instance/labels "" = any */
    cp_ctl_kvs_t set;
    int64_t      until_ms;
    bool         stored;                     /* a read of the store showed it */
} change_t;

typedef struct defs {
    char        *qapp;
    cp_ctl_kvs_t kv;
    int64_t      t_ms;                       /* when they were set (any relay) */
    char         id[48];                     /* by which request ("" unknown) */
} defs_t;

typedef struct tomb {
    char    id[48];
    int64_t until_ms;
} tomb_t;

static change_t *active;
static size_t n_active;
static defs_t *defs;
static size_t n_defs;
static tomb_t *tombs;                        /* changes reverted here */
static size_t n_tombs;
static uint32_t id_seq;

/* A revert that names an instance or labels: the agents it matches drop the
 * change and do not get it again (on any relay: its audit row stays in
 * force until the change's end, store_control.h) while others keep it. */
typedef struct excl {
    char     id[48];                         /* the revert request's */
    char     change[48];                     /* the change it narrows */
    char    *instance, *labels;              /* "" = any */
    int64_t  until_ms;
} excl_t;

static excl_t *excls;
static size_t n_excls;

static void excl_add(const char *id, const char *change, const char *instance, const char *labels, int64_t until)
{
    excls = cp__xrealloc(excls, (n_excls + 1) * sizeof *excls);
    excl_t *e = &excls[n_excls++];
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->change, sizeof e->change, "%s", change);
    e->instance = cp__xstrdup(instance);
    e->labels = cp__xstrdup(labels);
    e->until_ms = until;
}

static bool excl_matches(const excl_t *e, const char *instance, const char *labels)
{
    return (!*e->instance || !strcmp(e->instance, instance)) && cp_store_labels_match(labels, e->labels);
}

static defs_t *defs_find(const char *qapp, bool create)
{
    for (size_t i = 0; i < n_defs; i++)
        if (!strcmp(defs[i].qapp, qapp))
            return &defs[i];
    if (!create)
        return NULL;
    defs = cp__xrealloc(defs, (n_defs + 1) * sizeof *defs);
    defs_t *d = &defs[n_defs++];
    memset(d, 0, sizeof *d);
    d->qapp = cp__xstrdup(qapp);
    return d;
}

void cp__control_defaults(const char *qapp, cp_ctl_kvs_t *out)
{
    const defs_t *d = defs_find(qapp, false);
    if (d)
        *out = d->kv;
    else
        memset(out, 0, sizeof *out);
}

static void change_fini(change_t *c)
{
    free(c->qapp);
    free(c->instance);
    free(c->labels);
}

static void prune(int64_t now)
{
    for (size_t i = 0; i < n_active;) {
        if (active[i].until_ms <= now) {
            change_fini(&active[i]);
            active[i] = active[--n_active];
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < n_tombs;)
        if (tombs[i].until_ms <= now)
            tombs[i] = tombs[--n_tombs];
        else
            i++;
    for (size_t i = 0; i < n_excls;)
        if (excls[i].until_ms <= now) {
            free(excls[i].instance);
            free(excls[i].labels);
            excls[i] = excls[--n_excls];
        } else {
            i++;
        }
}

/* Does the change apply to this agent (not excluded by a narrow revert)? */
static bool change_matches(const change_t *c, const char *qapp, const char *instance, const char *labels)
{
    if (strcmp(c->qapp, qapp) || (*c->instance && strcmp(c->instance, instance)) ||
        !cp_store_labels_match(labels, c->labels))
        return false;
    for (size_t i = 0; i < n_excls; i++)
        if (!strcmp(excls[i].change, c->id) && excl_matches(&excls[i], instance, labels))
            return false;
    return true;
}

/* An encoded control with LWS_PRE bytes of headroom (cp__ingest_send). */
static uint8_t *encode_control(const char *command, const cp_ctl_kvs_t *set, const char *id, int64_t for_ms,
                               const char *scope, size_t *len)
{
    cp_kv_t kv[CP_CTL_KEYS_MAX];
    cp_msg_t m = {0};
    m.kind = CP_MSG_CONTROL;
    m.u.control = (cp_control_t){.command = command, .options = kv, .n_options = set ? cp_ctl_kvs_view(set, kv) : 0,
                                 .id = id, .for_ms = for_ms > 0 ? (uint64_t)for_ms : 0, .scope = scope};
    cp_buf_t b = CP_BUF_INIT;
    static const uint8_t pre[LWS_PRE];
    cp_buf_append(&b, pre, LWS_PRE);
    if (cp_wire_encode(&m, 0, &b)) {
        cp_buf_fini(&b);
        return NULL;
    }
    *len = b.len - LWS_PRE;
    return cp_buf_steal(&b, NULL);
}

static bool send_control(uint64_t conn, const char *command, const cp_ctl_kvs_t *set, const char *id,
                         int64_t for_ms, const char *scope)
{
    size_t len;
    uint8_t *data = encode_control(command, set, id, for_ms, scope, &len);
    return data && cp__ingest_send(conn, data, len);
}

void cp__control_welcomed(uint64_t conn_id, const char *qapp, const char *instance, const char *labels,
                          bool control1)
{
    int64_t now = cp__now_ms();
    prune(now);
    if (!control1)
        return;
    for (size_t i = 0; i < n_active; i++) {
        const change_t *c = &active[i];
        if (!change_matches(c, qapp, instance, labels))
            continue;
        send_control(conn_id, "configure", &c->set, c->id, c->until_ms - now, "");
        if (cp__relay.cfg.verbose)
            cp__log("control %s: sent to instance %s, connected with %lld ms to go", c->id, instance,
                    (long long)(c->until_ms - now));
    }
}

/* ---- POST ---------------------------------------------------------------- */

typedef struct post {
    const cp_principal_t *who;
    const char  *who_text;
    char         id[48];
    const char  *app, *instance, *labels, *revert;
    char         qapp[CP_TENANT_MAX + 1024];
    cp_ctl_kvs_t set;
    bool         is_default;
    int64_t      for_ms, until_ms, now;
    cp_buf_t     targets, skipped;     /* JSON arrays */
    uint32_t     n_targets, n_skipped;
} post_t;

/* What the request asked, as the audit keeps it. */
static void request_json(const post_t *p, cp_buf_t *b)
{
    cp_buf_printf(b, "{\"set\":");
    cp_ctl_kvs_json(b, &p->set);
    if (p->instance && *p->instance) {
        cp_buf_printf(b, ",\"instance\":");
        cp_buf_json_str(b, p->instance, strlen(p->instance));
    }
    if (p->labels && *p->labels) {
        cp_buf_printf(b, ",\"labels\":");
        cp_buf_json_str(b, p->labels, strlen(p->labels));
    }
    if (p->revert) {
        cp_buf_printf(b, ",\"revert\":");
        cp_buf_json_str(b, p->revert, strlen(p->revert));
    }
    cp_buf_printf(b, ",\"for_ms\":%lld,\"default\":%s}", (long long)p->for_ms, p->is_default ? "true" : "false");
}

/* Queues the audit row (and the new defaults) for the store worker. */
static void audit(const post_t *p, const char *action, int status, const char *reason, const defs_t *d)
{
    cp_buf_t req = CP_BUF_INIT;
    request_json(p, &req);
    cp__ctl_job_t *j = cp__xcalloc(1, sizeof *j);
    j->id = cp__xstrdup(p->id);
    j->app = cp__xstrdup(p->qapp[0] ? p->qapp : "");
    j->who = cp__xstrdup(p->who_text);
    j->action = cp__xstrdup(action);
    j->reason = cp__xstrdup(reason ? reason : "");
    j->status = status;
    j->t_ms = p->now;
    j->until_ms = p->until_ms;
    j->request = cp__xstrdup(req.len ? (const char *)req.data : "{}");
    j->targets = cp__xstrdup(p->targets.len ? (const char *)p->targets.data : "[]");
    j->skipped = cp__xstrdup(p->skipped.len ? (const char *)p->skipped.data : "[]");
    if (status == 200 && p->revert && !*p->instance && !*p->labels)
        j->ends = cp__xstrdup(p->revert);   /* a whole revert: every relay sees the change end */
    if (d) {
        cp_buf_t dj = CP_BUF_INIT;
        cp_ctl_kvs_json(&dj, &d->kv);
        j->defaults = (char *)cp_buf_steal(&dj, NULL);
    }
    cp_buf_fini(&req);
    cp__ingest_job_control(j);
    cp__log("control %s: %s app=%s by %s: %d%s%s", p->id, action, p->app ? p->app : "", p->who_text, status,
            reason ? ": " : "", reason ? reason : "");
}

static void add_json_str(cp_buf_t *b, uint32_t *n, const char *s)
{
    cp_buf_printf(b, "%s", (*n)++ ? "," : "[");
    cp_buf_json_str(b, s, strlen(s));
}

static void each_target(void *ud, const cp__ingest_agent_t *a)
{
    post_t *p = ud;
    if (strcmp(a->qapp, p->qapp) || (p->instance && *p->instance && strcmp(p->instance, a->instance)) ||
        !cp_store_labels_match(a->labels, p->labels))
        return;
    const char *why = NULL;
    if (!a->control1)
        why = "agent too old for timed controls (no control1 capability)";
    else if (p->is_default) {
        const defs_t *d = defs_find(p->qapp, false);
        if (!send_control(a->conn_id, "configure", d ? &d->kv : NULL, p->id, 0, "defaults"))
            why = "connection closing";
    } else if (p->revert) {
        if (!send_control(a->conn_id, "revert", NULL, p->revert, 0, ""))
            why = "connection closing";
    } else if (!send_control(a->conn_id, "configure", &p->set, p->id, p->for_ms, "")) {
        why = "connection closing";
    }
    if (!why) {
        add_json_str(&p->targets, &p->n_targets, a->instance);
        return;
    }
    cp_buf_printf(&p->skipped, "%s{\"instance\":", p->n_skipped++ ? "," : "[");
    cp_buf_json_str(&p->skipped, a->instance, strlen(a->instance));
    cp_buf_printf(&p->skipped, ",\"why\":");
    cp_buf_json_str(&p->skipped, why, strlen(why));
    cp_buf_printf(&p->skipped, "}");
}

static int fail(post_t *p, cp_buf_t *out, int status, const char *msg, bool audited)
{
    if (audited)
        audit(p, "refused", status, msg, NULL);
    cp_buf_printf(out, "{\"error\":");
    cp_buf_json_str(out, msg, strlen(msg));
    if (audited)
        cp_buf_printf(out, ",\"id\":\"%s\"", p->id);
    cp_buf_printf(out, "}");
    return status;
}

/* Validates the parsed body into p; "" or why it is a bad request. */
static const char *read_request(post_t *p, const cp_json_t *root)
{
    static char why[200];
    if (root->t != CP_JSON_OBJ)
        return "the body must be a JSON object";
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->kids[i].key;
        if (strcmp(k, "app") && strcmp(k, "labels") && strcmp(k, "instance") && strcmp(k, "set") &&
            strcmp(k, "for") && strcmp(k, "default") && strcmp(k, "revert")) {
            snprintf(why, sizeof why, "unknown member '%.40s' (app, labels, instance, set, for, default, revert)", k);
            return why;
        }
    }
    const cp_json_t *app = cp_json_get(root, "app"), *fr = cp_json_get(root, "for"),
                    *def = cp_json_get(root, "default"), *rv = cp_json_get(root, "revert");
    p->app = app && app->t == CP_JSON_STR ? app->str : NULL;
    p->instance = cp_json_str(root, "instance");
    p->labels = cp_json_str(root, "labels");
    p->is_default = def && def->t == CP_JSON_BOOL && def->num != 0;
    p->revert = rv && rv->t == CP_JSON_STR && *rv->str ? rv->str : NULL;
    if (!p->app || cp_auth_qualify(p->who->tenant, p->app, p->qapp, sizeof p->qapp))
        return "missing or bad 'app'";
    if (fr && (fr->t != CP_JSON_STR || cp_duration_parse(fr->str, &p->for_ms) || p->for_ms < FOR_MIN_MS ||
               p->for_ms > FOR_MAX_MS))
        return "'for' must be a duration from 1s to 24h, e.g. \"15s\", \"10m\"";
    if (p->revert)
        return cp_json_get(root, "set") || fr || p->is_default ? "'revert' takes only app (and instance, labels)" : "";
    const char *bad = cp_ctl_kvs_from_json(cp_json_get(root, "set"), &p->set, p->is_default);
    if (*bad)
        return bad;
    if (p->is_default && (fr || *p->instance || *p->labels))
        return "\"default\": true applies to the whole app: no instance, labels or for";
    return "";
}

int cp__control_post(const cp_principal_t *who, const char *who_text, const char *body, size_t len, cp_buf_t *out)
{
    post_t p = {.who = who, .who_text = who_text, .now = cp__now_ms(), .targets = CP_BUF_INIT,
                .skipped = CP_BUF_INIT};
    snprintf(p.id, sizeof p.id, "c%" PRId64 "-%u", p.now, ++id_seq);
    cp_json_t root = {0};
    char *text = cp__xcalloc(1, len + 1);
    memcpy(text, body, len);
    bool parsed = cp_json_parse(text, &root);
    free(text);
    int status;
    if (!cp_auth_allows(who->role, CP_ROLE_ADMIN)) {
        if (parsed)
            read_request(&p, &root);   /* what was asked, as far as it reads, for the audit */
        char msg[160];
        snprintf(msg, sizeof msg, "a '%s' token may not control agents (needs admin)", cp_auth_role_name(who->role));
        cp__relay.stats.auth_denied++;
        status = fail(&p, out, 403, msg, true);
        goto out;
    }
    const char *bad = parsed ? read_request(&p, &root) : "the body is not JSON";
    if (*bad) {
        status = fail(&p, out, 400, bad, false);
        goto out;
    }
    prune(p.now);
    const defs_t *d = NULL;
    const char *action = "change";
    if (p.revert && (*p.instance || *p.labels)) {
        action = "revert";   /* only the matching agents drop it; it stays in force for the rest */
        for (size_t i = 0; i < n_active; i++)
            if (!strcmp(active[i].id, p.revert) && !strcmp(active[i].qapp, p.qapp)) {
                p.until_ms = active[i].until_ms;   /* the audit row is in force as long */
                excl_add(p.id, p.revert, p.instance, p.labels, p.until_ms);
            }
    } else if (p.revert) {
        action = "revert";   /* the change ends, on every relay */
        int64_t ends = p.now + FOR_MAX_MS;   /* unknown here: it may still be in a read of the store */
        for (size_t i = 0; i < n_active; i++)
            if (!strcmp(active[i].id, p.revert) && !strcmp(active[i].qapp, p.qapp)) {
                ends = active[i].until_ms;
                active[i].until_ms = p.now;   /* pruned below: no new instance gets it */
            }
        prune(p.now);
        tombs = cp__xrealloc(tombs, (n_tombs + 1) * sizeof *tombs);
        snprintf(tombs[n_tombs].id, sizeof tombs[0].id, "%s", p.revert);
        tombs[n_tombs++].until_ms = ends;
    } else if (p.is_default) {
        action = "defaults";
        defs_t *dd = defs_find(p.qapp, true);
        for (uint32_t i = 0; i < p.set.n; i++) {
            if (p.set.value[i][0])
                cp_ctl_kvs_put(&dd->kv, p.set.key[i], p.set.value[i]);
            else
                cp_ctl_kvs_del(&dd->kv, p.set.key[i]);   /* "" = back to the agent's own option */
        }
        dd->t_ms = p.now;
        snprintf(dd->id, sizeof dd->id, "%s", p.id);
        d = dd;
    } else if (p.for_ms) {
        p.until_ms = p.now + p.for_ms;
        active = cp__xrealloc(active, (n_active + 1) * sizeof *active);
        change_t *c = &active[n_active++];
        memset(c, 0, sizeof *c);
        snprintf(c->id, sizeof c->id, "%s", p.id);
        c->qapp = cp__xstrdup(p.qapp);
        c->instance = cp__xstrdup(p.instance);
        c->labels = cp__xstrdup(p.labels);
        c->set = p.set;
        c->until_ms = p.until_ms;
    }
    cp__ingest_each_agent(each_target, &p);
    if (p.n_targets)
        cp_buf_printf(&p.targets, "]");
    if (p.n_skipped)
        cp_buf_printf(&p.skipped, "]");
    audit(&p, action, 200, NULL, d);
    cp_buf_printf(out, "{\"id\":\"%s\",\"app\":", p.id);
    cp_buf_json_str(out, p.app, strlen(p.app));
    cp_buf_printf(out, ",\"action\":\"%s\",\"request\":", action);
    request_json(&p, out);
    cp_buf_printf(out, ",\"until\":%lld,\"instances\":%s,\"skipped\":%s", (long long)p.until_ms,
                  p.n_targets ? (const char *)p.targets.data : "[]", p.n_skipped ? (const char *)p.skipped.data : "[]");
    if (d) {
        cp_buf_printf(out, ",\"defaults\":");
        cp_ctl_kvs_json(out, &d->kv);
    }
    cp_buf_printf(out, "}");
    status = 200;
out:
    cp_json_free(&root);
    cp_buf_fini(&p.targets);
    cp_buf_fini(&p.skipped);
    return status;
}

/* ---- the store's state, read at start and every second ------------------- */

typedef struct snap {
    change_t *changes;      /* in force at the read */
    size_t    n_changes;
    defs_t   *defs;
    size_t    n_defs;
    excl_t   *excls;        /* narrow reverts in force */
    size_t    n_excls;
} snap_t;

static void snap_free(void *v)
{
    snap_t *s = v;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_changes; i++)
        change_fini(&s->changes[i]);
    free(s->changes);
    for (size_t i = 0; i < s->n_defs; i++)
        free(s->defs[i].qapp);
    free(s->defs);
    for (size_t i = 0; i < s->n_excls; i++) {
        free(s->excls[i].instance);
        free(s->excls[i].labels);
    }
    free(s->excls);
    free(s);
}

static int read_defaults(void *ud, const char *app, const char *json, int64_t t_ms, const char *who)
{
    snap_t *s = ud;
    (void)who;
    cp_json_t v = {0};
    if (cp_json_parse(json, &v) && v.t == CP_JSON_OBJ) {
        s->defs = cp__xrealloc(s->defs, (s->n_defs + 1) * sizeof *s->defs);
        defs_t *d = &s->defs[s->n_defs++];
        memset(d, 0, sizeof *d);
        d->qapp = cp__xstrdup(app);
        d->t_ms = t_ms;
        cp_ctl_kvs_from_json(&v, &d->kv, true);
    }
    cp_json_free(&v);
    return 0;
}

static int read_change(void *ud, const cp_store_audit_t *a)
{
    snap_t *s = ud;
    bool change = !strcmp(a->action, "change");
    if ((!change && strcmp(a->action, "revert")) || a->status != 200)
        return 0;
    cp_json_t v = {0};
    bool parsed = cp_json_parse(a->request, &v) && v.t == CP_JSON_OBJ;
    const char *inst = parsed ? cp_json_str(&v, "instance") : "", *labels = parsed ? cp_json_str(&v, "labels") : "";
    if (!change && (*inst || *labels)) {
        s->excls = cp__xrealloc(s->excls, (s->n_excls + 1) * sizeof *s->excls);
        excl_t *e = &s->excls[s->n_excls++];
        snprintf(e->id, sizeof e->id, "%s", a->id);
        snprintf(e->change, sizeof e->change, "%s", cp_json_str(&v, "revert"));
        e->instance = cp__xstrdup(inst);
        e->labels = cp__xstrdup(labels);
        e->until_ms = a->until_ms;
    } else if (change && parsed) {
        s->changes = cp__xrealloc(s->changes, (s->n_changes + 1) * sizeof *s->changes);
        change_t *c = &s->changes[s->n_changes];
        memset(c, 0, sizeof *c);
        if (!*cp_ctl_kvs_from_json(cp_json_get(&v, "set"), &c->set, false)) {
            snprintf(c->id, sizeof c->id, "%s", a->id);
            c->qapp = cp__xstrdup(a->app);
            c->instance = cp__xstrdup(cp_json_str(&v, "instance"));
            c->labels = cp__xstrdup(cp_json_str(&v, "labels"));
            c->until_ms = a->until_ms;
            c->stored = true;
            s->n_changes++;
        }
    }
    cp_json_free(&v);
    return 0;
}

/* Which request set an app's defaults (its agents' acks name it): the
 * audit row of action "defaults" at the defaults' t_ms. Looked up only
 * when they change; remembered per app. Thread: the reader's (start, then
 * the sync thread; never both at once). */
static struct { char *qapp; int64_t t_ms; char id[48]; } *ids;
static size_t n_ids;

typedef struct id_find { int64_t t_ms; char *id; } id_find_t;

static int find_defaults_id(void *ud, const cp_store_audit_t *a)
{
    id_find_t *f = ud;
    if (a->t_ms != f->t_ms || strcmp(a->action, "defaults") || a->status != 200)
        return 0;
    snprintf(f->id, 48, "%s", a->id);
    return 1;
}

static void defaults_id(cp_store_reader_t *rd, defs_t *d)
{
    size_t i = 0;
    while (i < n_ids && strcmp(ids[i].qapp, d->qapp))
        i++;
    if (i == n_ids) {
        ids = cp__xrealloc(ids, (n_ids + 1) * sizeof *ids);
        ids[n_ids].qapp = cp__xstrdup(d->qapp);
        ids[n_ids].t_ms = -1;
        n_ids++;
    }
    if (ids[i].t_ms != d->t_ms) {
        id_find_t f = {d->t_ms, ids[i].id};
        ids[i].id[0] = 0;
        if (cp__store_control_audit_rows(rd, d->qapp, 0, 50, find_defaults_id, &f) >= 0)
            ids[i].t_ms = d->t_ms;
    }
    snprintf(d->id, sizeof d->id, "%s", ids[i].id);
}

/* cp__ctl_read_fn: the changes in force at now and every app's defaults. */
static void *read_state(cp_store_reader_t *rd, int64_t now)
{
    snap_t *s = cp__xcalloc(1, sizeof *s);
    int rc = cp__store_control_defaults_rows(rd, NULL, read_defaults, s);
    if (!rc)
        rc = cp__store_control_audit_rows(rd, NULL, now, 0, read_change, s);
    for (size_t i = 0; !rc && i < s->n_defs; i++)
        defaults_id(rd, &s->defs[i]);
    if (rc) {
        snap_free(s);
        return NULL;
    }
    return s;
}

typedef struct fan {
    const change_t *c;       /* a change, or NULL: defaults */
    const excl_t   *e;       /* and only the agents of this narrow revert */
    const defs_t   *d;
    const char     *command;
    int64_t         now;
    uint32_t        n;
} fan_t;

static void fan_one(void *ud, const cp__ingest_agent_t *a)
{
    fan_t *f = ud;
    if (!a->control1)
        return;
    bool sent;
    if (f->c) {
        if (!change_matches(f->c, a->qapp, a->instance, a->labels) ||
            (f->e && !excl_matches(f->e, a->instance, a->labels)))
            return;
        sent = !strcmp(f->command, "revert") ? send_control(a->conn_id, "revert", NULL, f->c->id, 0, "")
                                             : send_control(a->conn_id, "configure", &f->c->set, f->c->id,
                                                            f->c->until_ms - f->now, "");
    } else {
        if (strcmp(f->d->qapp, a->qapp))
            return;
        sent = send_control(a->conn_id, "configure", &f->d->kv, f->d->id, 0, "defaults");
    }
    f->n += sent;
}

static bool in_snap(const snap_t *s, const char *id)
{
    for (size_t i = 0; i < s->n_changes; i++)
        if (!strcmp(s->changes[i].id, id))
            return true;
    return false;
}

static bool tombed(const char *id)
{
    for (size_t i = 0; i < n_tombs; i++)
        if (!strcmp(tombs[i].id, id))
            return true;
    return false;
}

/* Brings active and defs in step with what the store said (see the
 * header); quiet: at start (nobody connected yet). */
static void apply(snap_t *s, int64_t now, bool quiet)
{
    prune(now);
    for (size_t i = 0; i < s->n_excls; i++) {
        const excl_t *se = &s->excls[i];
        size_t k = 0;
        while (k < n_excls && strcmp(excls[k].id, se->id))
            k++;
        if (k < n_excls || se->until_ms <= now)
            continue;
        /* a narrow revert on another relay: its agents here drop the change */
        for (size_t j = 0; j < n_active; j++)
            if (!strcmp(active[j].id, se->change)) {
                fan_t f = {.c = &active[j], .e = se, .command = "revert", .now = now};
                cp__ingest_each_agent(fan_one, &f);
                cp__log("control %s: reverted on %s%s%s (from the store): sent to %u instance(s) here",
                        se->change, se->instance, *se->instance && *se->labels ? " " : "", se->labels, f.n);
            }
        excl_add(se->id, se->change, se->instance, se->labels, se->until_ms);
    }
    for (size_t i = 0; i < s->n_changes; i++) {
        change_t *sc = &s->changes[i];
        if (sc->until_ms <= now || tombed(sc->id))
            continue;
        size_t k = 0;
        while (k < n_active && strcmp(active[k].id, sc->id))
            k++;
        if (k < n_active) {
            active[k].stored = true;
            continue;
        }
        active = cp__xrealloc(active, (n_active + 1) * sizeof *active);
        active[n_active++] = *sc;   /* moved: the snapshot forgets it */
        sc->qapp = sc->instance = sc->labels = NULL;
        sc->until_ms = 0;
        fan_t f = {.c = &active[n_active - 1], .command = "configure", .now = now};
        cp__ingest_each_agent(fan_one, &f);
        if (!quiet)
            cp__log("control %s: in force (from the store): sent to %u instance(s) here, %lld ms to go",
                    f.c->id, f.n, (long long)(f.c->until_ms - now));
    }
    for (size_t i = 0; i < n_active;) {
        change_t *c = &active[i];
        if (!c->stored || in_snap(s, c->id)) {
            i++;
            continue;
        }
        /* ended before its time by a revert on another relay */
        fan_t f = {.c = c, .command = "revert", .now = now};
        cp__ingest_each_agent(fan_one, &f);
        cp__log("control %s: reverted (from the store): sent to %u instance(s) here", c->id, f.n);
        change_fini(c);
        active[i] = active[--n_active];
    }
    for (size_t i = 0; i < s->n_defs; i++) {
        const defs_t *sd = &s->defs[i];
        defs_t *d = defs_find(sd->qapp, false);
        if (d && d->t_ms >= sd->t_ms)
            continue;   /* these or newer, set here */
        bool same = d && cp_ctl_kvs_equal(&d->kv, &sd->kv);
        d = d ? d : defs_find(sd->qapp, true);
        d->kv = sd->kv;
        d->t_ms = sd->t_ms;
        snprintf(d->id, sizeof d->id, "%s", sd->id);
        if (same || quiet)
            continue;
        fan_t f = {.d = d, .now = now};
        cp__ingest_each_agent(fan_one, &f);
        cp__log("control %s: defaults of %s (from the store): sent to %u instance(s) here", d->id, d->qapp, f.n);
    }
}

void cp__control_done(cp_done_t *d)
{
    free(d);
    snap_t *s = cp__control_sync_take();
    if (s)
        apply(s, cp__now_ms(), false);
    snap_free(s);
}

int cp__control_start(void)
{
    const char *where = cp__relay_store_where(&cp__relay.cfg);
    cp_store_reader_t *rd = NULL;
    int rc = cp_store_reader_open(where, &rd);
    if (!rc) {
        snap_t *s = read_state(rd, cp__now_ms());
        rc = s ? 0 : CP_EDB;
        if (s)
            apply(s, cp__now_ms(), true);
        snap_free(s);
        cp_store_reader_close(rd);
    }
    if (n_active || n_defs)
        cp__log("control: %zu timed change(s) in force, defaults for %zu app(s)", n_active, n_defs);
    /* later changes, also those made through other relays on the same store */
    int sync = cp__control_sync_start(where, read_state, snap_free);
    if (sync)
        cp__log("control: cannot follow the store (%s): changes made through other relays are not seen",
                cp_strerror(sync));
    return rc;
}

void cp__control_stop(void)
{
    cp__control_sync_stop();
    prune(INT64_MAX);
    free(active);
    active = NULL;
    for (size_t i = 0; i < n_defs; i++)
        free(defs[i].qapp);
    free(defs);
    defs = NULL;
    n_defs = 0;
    free(tombs);
    tombs = NULL;
    n_tombs = 0;
    free(excls);   /* pruned above */
    excls = NULL;
    for (size_t i = 0; i < n_ids; i++)
        free(ids[i].qapp);
    free(ids);
    ids = NULL;
    n_ids = 0;
}
