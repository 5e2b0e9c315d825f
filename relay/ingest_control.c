/* ingest_control.c - the store worker's part of fleet control (control.c
 * posts, ingest_store.c runs): a request's audit row and the app's new
 * defaults, and an agent's acknowledgement kept with its change's row.
 * See ingest_store.h. Thread: cp__ingest_job_control on the service
 * thread; the rest on the store worker, inside its transaction. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ingest_store.h"
#include "rutil.h"
#include "store_control.h"

void cp__ingest_job_control(cp__ctl_job_t *c)
{
    ijob_t *j = cp__xcalloc(1, sizeof *j);
    j->kind = CP__JOB_CONTROL;
    j->ctl = c;
    cp__ingest_job_push(j);
}

void cp__ingest_ctl_free(cp__ctl_job_t *c)
{
    if (!c)
        return;
    free(c->id); free(c->app); free(c->who); free(c->action); free(c->reason);
    free(c->request); free(c->targets); free(c->skipped); free(c->defaults); free(c->ends);
    free(c);
}

int cp__ingest_ctl_audit(cp_store_t *st, const cp__ctl_job_t *c)
{
    cp_store_audit_t a = {c->id, c->app, c->who, c->action, c->reason, c->status, c->t_ms, c->until_ms,
                          c->request, c->targets, c->skipped, c->ends};
    int rc = cp_store_control_audit(st, &a);
    if (!rc && c->defaults)
        rc = cp_store_control_set_defaults(st, c->app, c->defaults, c->t_ms, c->who);
    return rc ? CP_EDB : 0;
}

static void kv_json(cp_buf_t *b, const cp_kv_t *kv, uint32_t n)
{
    cp_buf_reset(b);
    cp_buf_printf(b, "{");
    for (uint32_t i = 0; i < n; i++) {
        cp_buf_printf(b, "%s", i ? "," : "");
        cp_buf_json_str(b, kv[i].key, strlen(kv[i].key));
        cp_buf_printf(b, ":");
        cp_buf_json_str(b, kv[i].value, strlen(kv[i].value));
    }
    cp_buf_printf(b, "}");
}

int cp__ingest_ctl_ack(cp_store_t *st, const char *qapp, const char *instance, const cp_control_ack_t *a,
                       int64_t now)
{
    cp_buf_t ap = CP_BUF_INIT, rf = CP_BUF_INIT, ef = CP_BUF_INIT;
    kv_json(&ap, a->applied, a->n_applied);
    kv_json(&rf, a->refused, a->n_refused);
    kv_json(&ef, a->effective, a->n_effective);
    cp_store_ctl_ack_t k = {a->id, qapp, instance, *a->event ? a->event : "applied",
                            (const char *)ap.data, (const char *)rf.data, (const char *)ef.data,
                            a->t_ms ? (int64_t)a->t_ms : now, (int64_t)a->until_ms};   /* when the agent did it */
    int rc = cp_store_control_ack(st, &k);
    cp_buf_fini(&ap);
    cp_buf_fini(&rf);
    cp_buf_fini(&ef);
    return rc;
}
