/* ingest_store.h - between the /ingest websocket (ingest.c, service thread)
 * and the store worker (ingest_store.c): the job queue.
 *
 * The service thread pushes one job per complete agent message (and one
 * when a connection closes), tagged with the connection's 64-bit id and its
 * tenant; the worker answers through cp__done_post_list() (CP_DONE_INGEST,
 * in order per connection) after its transaction commits. Ownership: a
 * pushed job, its data and its msg belong to the worker.
 *
 * cp__ingest_start()/cp__ingest_stop() (relay.h) open the store and start /
 * join the worker. */
#ifndef CP_RELAY_INGEST_STORE_H
#define CP_RELAY_INGEST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "store.h"
#include "../common/wire.h"

enum { CP__JOB_MESSAGE = 1, CP__JOB_CLOSE = 2, CP__JOB_CONTROL = 3 };

struct cp_ctl_kvs;

/* A control request's audit row (and an app's new defaults) for the store
 * (store_control.h); every string owned by the job. */
typedef struct cp__ctl_job {
    char    *id, *app, *who, *action, *reason, *request, *targets, *skipped;
    char    *defaults;            /* JSON object: the app's new defaults, or NULL */
    char    *ends;                /* a revert: the change it ends (store_control.h), or NULL */
    int      status;
    int64_t  t_ms, until_ms;
} cp__ctl_job_t;

typedef struct cp__ijob {
    int          kind;          /* CP__JOB_MESSAGE, CP__JOB_CLOSE */
    int64_t      t_recv_us;     /* when the service thread had the whole message (set by push) */
    uint64_t     conn_id;
    char         tenant[CP_TENANT_MAX];   /* of the connection's principal */
    uint8_t     *data;
    size_t       len;
    cp_msg_t    *msg;           /* the connection's hello, decoded and checked by the
                                   service thread (hello_peek), or NULL: decode data */
    struct cp_ctl_kvs *defaults; /* hello: the app's defaults for the welcome (control.h), or NULL */
    cp__ctl_job_t *ctl;         /* CP__JOB_CONTROL */
    struct cp__ijob *next;
} ijob_t;

/* Takes ownership of j (calloc'ed). Thread: service. */
void cp__ingest_job_push(ijob_t *j);

/* Takes ownership of c: written in the worker's next transaction.
 * Thread: service. */
void cp__ingest_job_control(cp__ctl_job_t *c);

/* Frees a control job and its strings (NULL is fine). Any thread. */
void cp__ingest_ctl_free(cp__ctl_job_t *c);

/* Store worker, inside its transaction: c's audit row (and the app's new
 * defaults); an agent's control_ack kept with its change's row.
 * 0 or a CP_E* code. */
int cp__ingest_ctl_audit(cp_store_t *st, const cp__ctl_job_t *c);
int cp__ingest_ctl_ack(cp_store_t *st, const char *qapp, const char *instance, const cp_control_ack_t *a,
                       int64_t now);

/* Message bytes queued for the worker (budget.max_store_queue). Any thread. */
uint64_t cp__ingest_queued_bytes(void);

#endif
