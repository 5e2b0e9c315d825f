/* otlp_export.h - `cprof relay --otlp-export URL`: every stored window
 * pushed to an OpenTelemetry collector as OTLP profiles over HTTP
 * (protobuf POST to URL/v1development/profiles; encoder: otlp.h).
 *
 * The store worker reports each window it stores (cp_otlp_export_window,
 * before its commit) and the commit's outcome (cp_otlp_export_commit):
 * windows of a committed group enter a bounded queue, those of a failed
 * group are forgotten. Neither call blocks on the network or the exporter:
 * a full queue drops its oldest window and counts it (otlp_dropped in
 * /api/v1/metrics), so a slow or absent collector never slows ingest.
 *
 * The exporter thread owns a store reader and a libcurl handle: it takes
 * up to EXPORT_BATCH windows, reads each one back from the store (one
 * query per app, type and minute), encodes them into one request (one
 * ResourceProfiles per window: service.name, service.namespace = tenant,
 * service.instance.id, the instance's labels) and POSTs it. Connection
 * errors, timeouts and 429/502/503/504 are retried with exponential
 * backoff (0.5 s doubling to --otlp-backoff-max, default 30 s, or the
 * answer's Retry-After) until they succeed, while newer windows wait in the
 * queue; any other non-2xx answer drops the request (otlp_rejected). Windows
 * still queued when the relay stops are not sent.
 *
 * Threads: start/stop from the main thread; window/commit from the store
 * worker; everything else on the exporter thread. */
#ifndef CP_RELAY_OTLP_EXPORT_H
#define CP_RELAY_OTLP_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

typedef struct cp_otlp_export_cfg {
    const char *url;          /* base URL, http:// or https://; "/v1development/profiles" is appended */
    const char *data_dir;     /* the store to read windows back from */
    uint32_t    queue;        /* windows queued at most (then the oldest is dropped) */
    int64_t     backoff_max_ms;
} cp_otlp_export_cfg_t;

/* Starts the exporter thread. 0 or CP_E* (bad URL, no store). Borrows
 * cfg's strings until cp_otlp_export_stop(). */
int  cp_otlp_export_start(const cp_otlp_export_cfg_t *cfg);
/* Stops and joins the thread (an HTTP request in flight is aborted). No-op
 * when not started. */
void cp_otlp_export_stop(void);

/* A window the store worker is storing in the current transaction (copied;
 * ev is borrowed for the call). No-op when not started. Thread: store worker. */
void cp_otlp_export_window(const cp_store_event_t *ev);
/* The current transaction committed (ok) or was rolled back: its windows
 * enter the queue or are forgotten. Never blocks on the exporter for longer
 * than a queue push. Thread: store worker. */
void cp_otlp_export_commit(bool ok);

#endif
