/* control.h - fleet control: changes an admin sends to the running agents
 * of an app (POST /api/v1/control), the app's defaults every new instance
 * starts with (welcome key 7), and the audit of both (docs/api.md
 * "Control", docs/protocol.md "control (6)", "control_ack (8)").
 *
 * A change names an app of the caller's tenant and, optionally, an
 * instance and a label filter; it sets some of cpu, wall, alloc,
 * alloc.mode, lock, overhead, flush, python, for a time (`for`) or until the
 * agent ends. The relay sends it as a control (id, for_ms) to every
 * matching agent connected now that understands timed controls (hello
 * capability control1; older agents are listed as skipped: they would
 * keep a timed change forever); a timed change also reaches the matching
 * agents that connect before it ends (with the time left). Agents
 * validate it again and end it by their own clock. A change with
 * "default": true (no instance, labels or for) merges into the app's
 * defaults: sent to the connected agents (scope "defaults") and in every
 * later welcome.
 *
 * Every request with a valid token is audited - also those refused
 * (403: the role is not admin) - as a row of the store's control audit,
 * and every agent's control_ack is kept with it; GET /api/v1/control?app=
 * shows the defaults, the changes in force, the audit log with the acks
 * and each instance's latest effective settings (store_control.h).
 *
 * State: the active timed changes and the defaults, per tenant-qualified
 * app, live on the service thread, read from the store at start and every
 * second after (control_sync.h), so relays sharing a store (PostgreSQL,
 * docs/scaleout.md) send each other's changes and defaults to their own
 * agents; audit rows and acks are written by the store worker
 * (ingest_store.c).
 *
 * Thread: service, except cp__control_start and cp__control_stop (main,
 * before and after the loop). */
#ifndef CP_RELAY_CONTROL_H
#define CP_RELAY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "control_kvs.h"
#include "relay.h"
#include "store.h"
#include "wire.h"

#define CP_CTL_BODY_MAX  (16u << 10)   /* a POST body */

/* Loads the defaults and the timed changes still in force from the store.
 * 0 or CP_E*. Thread: main, after the store exists, before the loop. */
int  cp__control_start(void);
void cp__control_stop(void);

/* The done-queue's CP_DONE_CONTROL (frees d): applies the newest read of
 * the store's control state. Thread: service. */
void cp__control_done(cp_done_t *d);

/* An agent of tenant-qualified app qapp said hello: its app's defaults
 * (for the welcome). */
void cp__control_defaults(const char *qapp, cp_ctl_kvs_t *out /* OUT */);

/* An agent connection was welcomed: the timed changes in force that match
 * it are queued to it (cp__ingest_send). */
void cp__control_welcomed(uint64_t conn_id, const char *qapp, const char *instance, const char *labels,
                          bool control1);

/* POST /api/v1/control. who: the caller (any role: a non-admin is refused
 * with 403 and audited); who_text: how the audit names the caller
 * ("tenant=.. role=.. token=<sha256 prefix> from <peer>"). Appends the
 * JSON answer (or {"error":..}) to out; returns the HTTP status. */
int  cp__control_post(const cp_principal_t *who, const char *who_text, const char *body, size_t len,
                      cp_buf_t *out);

#endif
