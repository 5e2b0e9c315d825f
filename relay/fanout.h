/* fanout.h - live fan-out across relays through NATS (`--nats URL`).
 *
 * Every relay publishes the live messages of what it ingests (the JSON
 * window summary live.c sends to UIs) on the subject
 *     cprof.<tenant>.<app>.<type>
 * and subscribes to cprof.<tenant>.<app>.* while at least one of its own
 * UIs watches that app, so a UI on relay B sees the agents of relay A. The
 * connection is made with NATS "no echo": a relay never receives what it
 * published itself, so windows ingested locally reach local UIs once (live.c
 * delivers them directly, without a round trip).
 *
 * Subject tokens: each of tenant, app and type is encoded byte by byte,
 * [A-Za-z0-9_-] kept, every other byte as %XX (upper-case hex), the empty
 * string as a lone "%". The encoding is injective and never yields '.', '*',
 * '>' or white space, so one qualified app name maps to exactly one subject
 * and a subscription of tenant X can never match a subject of tenant Y.
 *
 * Message body (one byte layout, version 1):
 *     offset 0      labels, canonical "k=v,k2=v2" ("" for none), no NUL
 *     next          0x00
 *     next .. end   the live message, JSON text as live.c sends it
 *
 * NATS down (at start or later): ingest, storage and queries go on; local
 * UIs still get local windows; publishing pauses (counted: nats_dropped),
 * the client reconnects by itself every 500 ms and re-subscribes. Each
 * disconnect and each reconnect is logged once and counted.
 *
 * Threads: cp_fanout_start/stop on main; publish, watch and unwatch on the
 * service thread, which only copies into a queue: one fan-out thread makes
 * every libnats call (a slow or frozen NATS server never stalls the service
 * thread). libnats's own threads deliver incoming messages to the service
 * thread through the done-queue (cp__done_post, CP_DONE_LIVE, remote). */
#ifndef CP_RELAY_FANOUT_H
#define CP_RELAY_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#define CP_FANOUT_QUEUE_MAX 8192      /* messages waiting for the fan-out thread; past it
                                         the oldest is dropped (nats_dropped) */
#define CP_FANOUT_SUBJECT_MAX 3072    /* longest subject published or subscribed */

/* Connects to url (nats://[user:pass@]host:port, comma-separated for a
 * cluster) in the background and starts the fan-out thread. A server that
 * is down is not an error: the relay starts and the client keeps trying.
 * Returns 0, or CP_EINVAL (url malformed; logged). Thread: main. */
int  cp_fanout_start(const char *url);
/* Unsubscribes, closes the connection, joins the thread. No-op when not
 * started. Thread: main, after the service loop ended. */
void cp_fanout_stop(void);
/* True between a successful cp_fanout_start and cp_fanout_stop. */
bool cp_fanout_enabled(void);

/* Queues one locally ingested live message for publishing (copied).
 * qapp is the tenant-qualified app name (auth.h). Thread: service. */
void cp_fanout_publish(const char *qapp, const char *type, const char *labels,
                       const char *json, size_t len);
/* A local UI started / stopped watching qualified app qapp: the first
 * watch subscribes to the app's subjects, the last unwatch unsubscribes.
 * Calls must pair. Thread: service. */
void cp_fanout_watch(const char *qapp);
void cp_fanout_unwatch(const char *qapp);

/* ---- pure helpers (any thread), exposed for the unit test ---------------- */

/* The subject of (qapp, type) into out: "cprof.<tenant>.<app>.<type>", or,
 * with type NULL, the app's wildcard "cprof.<tenant>.<app>.*". Returns the
 * length, or -1 when it does not fit in outlen (or CP_FANOUT_SUBJECT_MAX). */
int cp_fanout_subject(const char *qapp, const char *type, char *out, size_t outlen);
/* The inverse: a concrete subject back into the qualified app and the type
 * (NUL-terminated). Returns 0, or -1 for a subject this relay would never
 * publish (wrong prefix or token count, bad escapes, a control byte in
 * a name, a tenant that is not [A-Za-z0-9._-]+). */
int cp_fanout_subject_parse(const char *subject, char *qapp, size_t qapp_len, char *type, size_t type_len);

#endif
