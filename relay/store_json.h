/* store_json.h - the /api/apps and /api/apps/{app}/instances documents
 * (docs/api.md), written from plain rows so every store engine emits the
 * same JSON; the engine only runs its queries and calls these in order.
 *
 * Thread: any; no global state. */
#ifndef CP_RELAY_STORE_JSON_H
#define CP_RELAY_STORE_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* {"apps":[ app, app, ... ]}: _apps_begin, then per app _app_begin, one
 * _app_type per type, _app_end; then _apps_end. _app_type also writes the
 * type's first sample (unix ms, -1 = none) into first_samples, a buffer the
 * caller resets per app and hands to _app_end ("first_sample":{type: s}). */
void cp_store_json_apps_begin(cp_buf_t *out);
void cp_store_json_app_begin(cp_buf_t *out, bool first, const char *name, int64_t instances,
                             int64_t connected);
void cp_store_json_app_type(cp_buf_t *out, cp_buf_t *first_samples, bool first, const char *type,
                            int64_t first_sample_ms);
void cp_store_json_app_end(cp_buf_t *out, const cp_buf_t *first_samples, int64_t last_seen_ms);
void cp_store_json_apps_end(cp_buf_t *out);

/* Collection quality of one instance, from its summed counters
 * (docs/protocol.md "Counters"): deltas are summed (samples.<type>,
 * fail.<kind>, drop.<what>), gauges (rate.*, mem.*, threads) hold their
 * latest value. Zero-initialise, feed every counter, emit, fini.
 * dropped counts samples only (drop.ring + every drop.*_samples but
 * drop.unacked_samples, which goes to possibly_dropped); drop.* counters
 * of other units (batches, threads) appear only by name in drop. */
typedef struct cp_store_quality {
    int64_t  samples, failed;
    int64_t  dropped;           /* samples lost for sure */
    int64_t  possibly_dropped;  /* samples of sent batches given up before their ack */
    double   rate_hz;     /* the latest rate.cpu_mhz gauge, if have_rate */
    bool     have_rate;   /* else the rate is samples / covered time */
    cp_buf_t fail;        /* "kind":n,... */
    cp_buf_t drop;        /* "what":n,... for every drop.<what> */
    cp_buf_t state;       /* "name":n,... the agent's latest state (store_state.h) */
} cp_store_quality_t;
void cp_store_quality_counter(cp_store_quality_t *q, const char *name, int64_t value);
void cp_store_quality_fini(cp_store_quality_t *q);

typedef struct cp_store_inst_row {
    const char *iid, *host, *labels_json, *jvm, *agent_version;   /* NULL = "" ({} for labels) */
    int64_t     pid, first_seen_ms, last_seen_ms, covered_ms;
    bool        connected;
} cp_store_inst_row_t;

/* {"instances":[ instance, ... ]}; an instance whose agent sent its state
 * (batch key 18) gets "state":{name: value} after "quality". */
void cp_store_json_instances_begin(cp_buf_t *out);
void cp_store_json_instance(cp_buf_t *out, bool first, const char *app, const cp_store_inst_row_t *r,
                            const cp_store_quality_t *q);
void cp_store_json_instances_end(cp_buf_t *out);

#endif
