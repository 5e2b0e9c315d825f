/* sender.h - ships batches to the relay over one outbound websocket.
 *
 * A JVMTI agent thread ("cprof-sender") runs a libwebsockets client context
 * (only ever connects out: ws:// or wss:// to <relay>/ingest, subprotocol
 * "cprof.v1"). Per connection: hello -> welcome(last_seq) -> batches; the
 * relay acks by seq once durable. Unacked batches stay queued (up to the
 * `buffer` option's bytes: beyond that the oldest are dropped and counted in
 * drop.buffer) and are resent after a reconnect; the relay drops duplicate
 * seqs, so nothing is counted twice. Reconnects back off exponentially
 * (0.5 s doubling to 30 s, with 50-100% jitter).
 *
 * Every connection starts an empty wire dictionary: the first batch sent on
 * it carries the harvester's whole dictionary (ids from 0), later ones only
 * the new entries. Batches are kept unencoded (cp_pending_t), so any batch
 * can be encoded for any connection.
 *
 * Threads: cp_sender_submit / configure / drain / stop from any non-signal
 * thread; they only touch the queue under its mutex and wake the service
 * thread with lws_cancel_service() (the one thread-safe lws call).
 * Everything else runs on the sender thread. */
#ifndef CP_SENDER_H
#define CP_SENDER_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "wire.h"

struct cp_pending;

typedef struct cp_sender_identity {
    char     instance[96];
    char     host[256];
    uint32_t pid;
    uint64_t start_ms;
    char     jvm_vendor[128];
    char     jvm_version[128];
} cp_sender_identity_t;

/* Starts the sender thread (idempotent: later calls act as configure).
 * app: resolved application name. defer: the thread is created by
 * cp_sender_spawn, on another thread (VMInit leaves it to the harvester:
 * creating a JVMTI agent thread takes ~1 ms of the JVM's main thread);
 * queue, drain and stop work meanwhile. Returns 0 or CP_E*. */
int  cp_sender_start(jvmtiEnv *jvmti, JNIEnv *jni, const cp_options_t *o, const char *app,
                     const cp_sender_identity_t *id, bool defer);
/* Creates the thread a deferred cp_sender_start left (no-op otherwise),
 * on a Java thread. Returns 0 or CP_ESTATE. */
int  cp_sender_spawn(JNIEnv *jni);

/* New options: reconnects if relay, app, labels, token or caps changed;
 * applies a new `buffer` limit at once. */
void cp_sender_configure(const cp_options_t *o, const char *app);

/* Takes ownership of p. Queues it (dropping the oldest beyond `buffer`). */
void cp_sender_submit(struct cp_pending *p);

/* Waits until every queued batch is acked, at most timeout_ms; returns as
 * soon as no connection is up or under way (a refused or failed attempt:
 * shutdown must never hang on a dead relay).
 * Returns the number of batches still unacked. */
int  cp_sender_drain(int timeout_ms);

/* Samples (samples.* counter deltas) in the batches still queued, i.e. not
 * yet acknowledged: what the JVM would lose if it exited now. Any thread. */
uint64_t cp_sender_queued_samples(void);
/* Memory estimate of the batches queued (the `buffer` measure). Any thread. */
size_t cp_sender_queued_bytes(void);
/* Batches queued and not yet written to the relay: a dictionary reset now
 * would make them unsendable (drop.dict). Any thread; takes the queue's
 * lock, so a caller holding the dictionary lock keeps the sender's order. */
uint32_t cp_sender_unsent(void);

/* Closes the connection and ends the sender thread (bounded wait). The
 * queue is kept; a later cp_sender_start resumes with it. */
void cp_sender_stop(int timeout_ms);

/* Handler for control messages from the relay, set by the agent. Runs on
 * the sender thread; c is borrowed for the call. A welcome is handed over
 * as a control "configure" with scope "defaults" and its key 7 as options
 * (none: the relay has no defaults for this app). */
typedef void (*cp_sender_control_fn)(const cp_control_t *c);
void cp_sender_set_control_handler(cp_sender_control_fn fn);

/* Wakes the sender thread (it then writes what waits: acks, batches). Any
 * non-signal thread. */
void cp_sender_wake(void);

/* For tests/logs: true while a welcomed connection is up. */
bool cp_sender_connected(void);

/* True when the last relay that welcomed us accepted "pykind1" (frame
 * kind 10, Python); false before any welcome. The harvester names Python
 * frames for it (wire.h cp_wire_frame_kind_out). Thread: any. */
bool cp_sender_python_kind(void);

#endif
