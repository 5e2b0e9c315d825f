/* store_control.c - GET /api/v1/control's document, built from the rows
 * any engine gives (store_control.h); engine-neutral.
 *
 * The newest `limit` audit rows, each with the acks of its change; the
 * changes still in force; the app's defaults; and per instance the last
 * ack it sent (its effective settings). JSON columns are stored as
 * documents already and copied in as they are.
 * Thread: the reader's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rutil.h"
#include "store_control.h"
#include "store_engine.h"

/* ---- dispatch to the engine (store_engine.h) ---- */

static void unkept(const char *eng)
{
    static bool said;
    if (!said)
        fprintf(stderr, "cprof relay: store: the %s engine keeps no control audit, acks or defaults\n", eng);
    said = true;
}

int cp_store_control_audit(cp_store_t *s, const cp_store_audit_t *a)
{
    if (!s->eng->control_audit) {
        unkept(s->eng->name);
        return 0;
    }
    return s->eng->control_audit(s, a);
}

int cp_store_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a)
{
    return s->eng->control_ack ? s->eng->control_ack(s, a) : 0;
}

int cp_store_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                  const char *who)
{
    return s->eng->control_set_defaults ? s->eng->control_set_defaults(s, app, defaults, t_ms, who) : 0;
}

int cp__store_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                                 cp_store_audit_fn fn, void *ud)
{
    return r->eng->control_audit_rows ? r->eng->control_audit_rows(r, app, active_since, limit, fn, ud) : 0;
}

int cp__store_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                               void *ud)
{
    return r->eng->control_ack_rows ? r->eng->control_ack_rows(r, app, since_ms, fn, ud) : 0;
}

int cp__store_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud)
{
    return r->eng->control_defaults_rows ? r->eng->control_defaults_rows(r, app, fn, ud) : 0;
}

/* ---- GET /api/v1/control's document ---- */

typedef struct arow {
    cp_store_audit_t a;     /* strings owned (strdup) */
    cp_buf_t         acks;  /* JSON array body, "" = none */
} arow_t;

typedef struct inst {
    char    *instance;
    cp_buf_t last;          /* JSON object of its last ack */
} inst_t;

typedef struct doc {
    arow_t  *rows;
    size_t   n, cap;
    inst_t  *insts;
    size_t   n_insts;
    cp_buf_t defaults;
} doc_t;

static char *dup0(const char *s) { return cp__xstrdup(s ? s : ""); }

static int on_audit(void *ud, const cp_store_audit_t *a)
{
    doc_t *d = ud;
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->rows = cp__xrealloc(d->rows, d->cap * sizeof *d->rows);
    }
    arow_t *r = &d->rows[d->n++];
    memset(r, 0, sizeof *r);
    r->a = *a;
    r->a.id = dup0(a->id); r->a.app = dup0(a->app); r->a.who = dup0(a->who); r->a.action = dup0(a->action);
    r->a.reason = dup0(a->reason); r->a.request = dup0(a->request); r->a.targets = dup0(a->targets);
    r->a.skipped = dup0(a->skipped);
    return 0;
}

static void ack_json(cp_buf_t *b, const cp_store_ctl_ack_t *k, bool with_id)
{
    cp_buf_printf(b, "{");
    if (with_id) {
        cp_buf_printf(b, "\"id\":");
        cp_buf_json_str(b, k->id, strlen(k->id));
        cp_buf_printf(b, ",");
    }
    cp_buf_printf(b, "\"instance\":");
    cp_buf_json_str(b, k->instance, strlen(k->instance));
    cp_buf_printf(b, ",\"t\":%lld,\"event\":", (long long)k->t_ms);
    cp_buf_json_str(b, k->event, strlen(k->event));
    cp_buf_printf(b, ",\"applied\":%s,\"refused\":%s,\"effective\":%s,\"until\":%lld}",
                  *k->applied ? k->applied : "{}", *k->refused ? k->refused : "{}",
                  *k->effective ? k->effective : "{}", (long long)k->until_ms);
}

static int on_ack(void *ud, const cp_store_ctl_ack_t *k)
{
    doc_t *d = ud;
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->rows[i].a.id, k->id)) {
            cp_buf_printf(&d->rows[i].acks, "%s", d->rows[i].acks.len ? "," : "");
            ack_json(&d->rows[i].acks, k, false);
            break;
        }
    inst_t *in = NULL;
    for (size_t i = 0; i < d->n_insts && !in; i++)
        if (!strcmp(d->insts[i].instance, k->instance))
            in = &d->insts[i];
    if (!in) {
        d->insts = cp__xrealloc(d->insts, (d->n_insts + 1) * sizeof *d->insts);
        in = &d->insts[d->n_insts++];
        in->instance = dup0(k->instance);
        cp_buf_init(&in->last);
    }
    cp_buf_reset(&in->last);
    ack_json(&in->last, k, true);   /* acks come oldest first: the last one wins */
    return 0;
}

static int on_defaults(void *ud, const char *app, const char *defaults, int64_t t_ms, const char *who)
{
    doc_t *d = ud;
    (void)app;
    cp_buf_reset(&d->defaults);
    cp_buf_printf(&d->defaults, "{\"set\":%s,\"t\":%lld,\"who\":", *defaults ? defaults : "{}", (long long)t_ms);
    cp_buf_json_str(&d->defaults, who, strlen(who));
    cp_buf_printf(&d->defaults, "}");
    return 0;
}

static void row_json(cp_buf_t *out, const arow_t *r)
{
    const cp_store_audit_t *a = &r->a;
    cp_buf_printf(out, "{\"id\":");
    cp_buf_json_str(out, a->id, strlen(a->id));
    cp_buf_printf(out, ",\"t\":%lld,\"who\":", (long long)a->t_ms);
    cp_buf_json_str(out, a->who, strlen(a->who));
    cp_buf_printf(out, ",\"action\":");
    cp_buf_json_str(out, a->action, strlen(a->action));
    cp_buf_printf(out, ",\"status\":%d,\"reason\":", a->status);
    cp_buf_json_str(out, a->reason, strlen(a->reason));
    cp_buf_printf(out, ",\"request\":%s,\"until\":%lld,\"instances\":%s,\"skipped\":%s,\"acks\":[%s]}",
                  *a->request ? a->request : "{}", (long long)a->until_ms, *a->targets ? a->targets : "[]",
                  *a->skipped ? a->skipped : "[]", r->acks.len ? (const char *)r->acks.data : "");
}

int cp_store_control_json(cp_store_reader_t *r, const char *app, const char *shown, int64_t now_ms,
                          uint32_t limit, cp_buf_t *out)
{
    doc_t d = {0};
    cp_buf_init(&d.defaults);
    int rc = cp__store_control_audit_rows(r, app, 0, limit, on_audit, &d);
    if (!rc)
        rc = cp__store_control_ack_rows(r, app, d.n ? d.rows[d.n - 1].a.t_ms : now_ms - 86400000LL, on_ack, &d);
    if (!rc)
        rc = cp__store_control_defaults_rows(r, app, on_defaults, &d);
    if (!rc) {
        cp_buf_printf(out, "{\"app\":");
        cp_buf_json_str(out, shown, strlen(shown));
        cp_buf_printf(out, ",\"now\":%lld,\"defaults\":%s,\"active\":[", (long long)now_ms,
                      d.defaults.len ? (const char *)d.defaults.data : "{\"set\":{}}");
        int k = 0;
        for (size_t i = 0; i < d.n; i++)
            if (!strcmp(d.rows[i].a.action, "change") && d.rows[i].a.status == 200 && d.rows[i].a.until_ms > now_ms) {
                cp_buf_printf(out, "%s", k++ ? "," : "");
                row_json(out, &d.rows[i]);
            }
        cp_buf_printf(out, "],\"audit\":[");
        for (size_t i = 0; i < d.n; i++) {
            cp_buf_printf(out, "%s", i ? "," : "");
            row_json(out, &d.rows[i]);
        }
        cp_buf_printf(out, "],\"instances\":{");
        for (size_t i = 0; i < d.n_insts; i++) {
            cp_buf_printf(out, "%s", i ? "," : "");
            cp_buf_json_str(out, d.insts[i].instance, strlen(d.insts[i].instance));
            cp_buf_printf(out, ":%s", (const char *)d.insts[i].last.data);
        }
        cp_buf_printf(out, "}}");
    }
    for (size_t i = 0; i < d.n; i++) {
        cp_store_audit_t *a = &d.rows[i].a;
        free((char *)a->id); free((char *)a->app); free((char *)a->who); free((char *)a->action);
        free((char *)a->reason); free((char *)a->request); free((char *)a->targets); free((char *)a->skipped);
        cp_buf_fini(&d.rows[i].acks);
    }
    free(d.rows);
    for (size_t i = 0; i < d.n_insts; i++) {
        free(d.insts[i].instance);
        cp_buf_fini(&d.insts[i].last);
    }
    free(d.insts);
    cp_buf_fini(&d.defaults);
    return rc;
}
