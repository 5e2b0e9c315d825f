/* store_control.h - what the store keeps for fleet control (control.h):
 * the audit of every control request, each agent's control_ack, and the
 * apps' defaults. Part of the storage interface (store.h): these calls
 * dispatch to the engine's table (store_engine.h: control_* entries; an
 * engine without them keeps nothing), the document of GET
 * /api/v1/control is built engine-neutrally from the rows
 * (store_control.c), the rows are each engine's SQL
 * (store_sqlite_control.c, store_pg_control.c: the same tables).
 *
 * Tables (columns; JSON columns hold the engine-neutral text as is):
 *   control_audit    id TEXT PK, app TEXT (tenant-qualified), t_ms INT,
 *                    who TEXT, action TEXT (change|defaults|revert|refused),
 *                    status INT (HTTP), reason TEXT, request TEXT (JSON:
 *                    set, labels, instance, for_ms), until_ms INT (0 =
 *                    none), targets TEXT (JSON array of instance ids),
 *                    skipped TEXT (JSON array of {instance, why});
 *                    a revert naming an instance or labels is in force
 *                    (until_ms) as long as the change it narrows;
 *                    index (app, t_ms), (until_ms): the changes in force
 *                    are read by every relay every second (control_sync.h)
 *   control_ack      id TEXT, app TEXT, instance TEXT, t_ms INT, event
 *                    TEXT, applied TEXT, refused TEXT, effective TEXT (JSON
 *                    objects), until_ms INT; index (id), (app, instance, t_ms)
 *   control_defaults app TEXT PK, defaults TEXT (JSON object), t_ms INT,
 *                    who TEXT
 *
 * Writer calls: store worker, inside cp_store_begin/commit. Reader calls:
 * any thread with its own reader. */
#ifndef CP_RELAY_STORE_CONTROL_H
#define CP_RELAY_STORE_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

typedef struct cp_store_audit {
    const char *id, *app, *who, *action, *reason;
    int         status;
    int64_t     t_ms, until_ms;
    const char *request, *targets, *skipped;   /* JSON text */
    const char *ends;   /* writes: a revert's change id, whose until_ms becomes
                           t_ms (it leaves the changes in force); NULL = none */
} cp_store_audit_t;

typedef struct cp_store_ctl_ack {
    const char *id, *app, *instance, *event;
    const char *applied, *refused, *effective;  /* JSON objects */
    int64_t     t_ms, until_ms;
} cp_store_ctl_ack_t;

int cp_store_control_audit(cp_store_t *s, const cp_store_audit_t *a);
int cp_store_control_ack(cp_store_t *s, const cp_store_ctl_ack_t *a);
/* Replaces app's defaults (JSON object text; "{}" = none). */
int cp_store_control_set_defaults(cp_store_t *s, const char *app, const char *defaults, int64_t t_ms,
                                  const char *who);

/* Rows for readers. Every pointer is borrowed for the callback only.
 * Non-0 from a callback stops the walk and is returned. */
typedef int (*cp_store_audit_fn)(void *ud, const cp_store_audit_t *a);
typedef int (*cp_store_ctl_ack_fn)(void *ud, const cp_store_ctl_ack_t *a);
typedef int (*cp_store_defaults_fn)(void *ud, const char *app, const char *defaults, int64_t t_ms,
                                    const char *who);

/* app NULL = every app. Audit rows newest first, at most limit (0 = all);
 * with active_since > 0 only changes with until_ms > active_since. */
int cp__store_control_audit_rows(cp_store_reader_t *r, const char *app, int64_t active_since, uint32_t limit,
                                 cp_store_audit_fn fn, void *ud);
/* Acks of app, oldest first; since_ms: only those at or after it. */
int cp__store_control_ack_rows(cp_store_reader_t *r, const char *app, int64_t since_ms, cp_store_ctl_ack_fn fn,
                               void *ud);
int cp__store_control_defaults_rows(cp_store_reader_t *r, const char *app, cp_store_defaults_fn fn, void *ud);

/* GET /api/v1/control?app= for the stored (qualified) app; shown = the
 * name the caller uses. Appends the document (docs/api.md "Control").
 * limit: audit rows. Engine-neutral (store_control.c). */
int cp_store_control_json(cp_store_reader_t *r, const char *app, const char *shown, int64_t now_ms,
                          uint32_t limit, cp_buf_t *out);

#endif
