/* store_trace.h - trace entries (wire key 17, docs/context.md) as every
 * store engine keeps them: engine-neutral grouping and blob codec.
 *
 * Trace ids are kept at full resolution only: one row per (trace id, app,
 * instance, window, type) holding a blob of (span, thread, stack, value)
 * entries over the app's string and stack ids; they expire with the full
 * tier's windows and are never rolled up. The index is bounded: at most
 * CP_STORE_TRACE_MAX_ROWS rows in a store (the oldest go first) and
 * CP_STORE_TRACE_MAX_BATCH per batch (the rest is not indexed; its values
 * are in the windows anyway).
 *
 * Blob layout: a sequence of entries, each four uvarints
 *   span        the span id (0 = none)
 *   thread      app string id of the sampled thread's name
 *   stack       app stack id
 *   value       in the type's unit
 *
 * Thread: any; a cp_store_traces_t belongs to one thread. */
#ifndef CP_RELAY_STORE_TRACE_H
#define CP_RELAY_STORE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rutil.h"
#include "store_delta.h"
#include "store_names.h"
#include "wire.h"

#define CP_STORE_TRACE_MAX_ROWS  1000000
#define CP_STORE_TRACE_MAX_BATCH 4096

typedef struct cp_store_trace_row {
    uint64_t hi, lo;       /* the trace id */
    uint32_t type;         /* index into the batch's types */
    uint64_t total;
    cp_buf_t blob;
} cp_store_trace_row_t;

typedef struct cp_store_traces {
    cp_store_trace_row_t *rows;
    uint32_t n, cap;
    cp__hmap_t idx;
} cp_store_traces_t;   /* zero-initialise; cp_store_traces_fini */

/* Groups b's trace entries into rows (ids through m: app stack and string
 * ids). Rows past CP_STORE_TRACE_MAX_BATCH are left out (*dropped counts
 * their entries). CP_EDANGLING for an unknown stack, string or type. */
int  cp_store_traces_split(cp_store_traces_t *t, const cp_store_idmap_t *m, const cp_batch_t *b,
                           uint64_t *dropped /* OUT */);
void cp_store_traces_fini(cp_store_traces_t *t);

typedef void (*cp_store_trace_fn)(void *ud, uint64_t span, uint32_t thread, uint32_t stack, uint64_t value);
/* Calls fn for each entry of a row's blob; false if the blob is malformed. */
bool cp_store_trace_each(const void *blob, size_t n, cp_store_trace_fn fn, void *ud);

/* Calls fn for each entry of a row's blob with its stack resolved through
 * names (an app's cache, refreshed by the caller); e's hi, lo, instance
 * and start_ms are the row's (filled by the caller), the rest is set per
 * entry. Entries whose stack the cache does not know are skipped. False if
 * the blob is malformed. */
bool cp_store_trace_resolve(const void *blob, size_t n, const cp_store_names_t *names, cp_store_trace_entry_t *e,
                            cp_store_trace_entry_fn fn, void *ud);

/* A merged profile built from entries of many apps: each stack gets
 * synthetic root frames ("[app] NAME", "[thread] NAME", kind
 * CP_FRAME_THREAD) before the app's functions. Zero-initialise. */
typedef struct cp_store_pbuild {
    cp_profile_t p;
    cp__hmap_t   nidx;          /* hash(kind, name) -> name index + 1 */
    cp__vu32_t   off, funcs;
    cp__vu64_t   vals;
} cp_store_pbuild_t;
/* Adds value under app / thread / stack `stack` of names (an app's cache). */
void cp_store_pbuild_add(cp_store_pbuild_t *b, const char *app, const char *thread,
                         const cp_store_names_t *names, uint32_t stack, uint64_t value);
/* Moves the result into out (zeroed before); b is empty again. */
void cp_store_pbuild_finish(cp_store_pbuild_t *b, cp_profile_t *out /* OUT */);
/* Adds one stored trace row (blob of cp_store_traces_split) of app `app`
 * (the name shown, borrowed for the call) to b, its ids named by nm.
 * false (logged, the row skipped) if the row is malformed; app_id only
 * names it in that line. */
bool cp_store_pbuild_row(cp_store_pbuild_t *b, const char *app, int64_t app_id, const cp_store_names_t *nm,
                         const void *blob, size_t n);
void cp_store_pbuild_fini(cp_store_pbuild_t *b);

/* "0af7651916cd43dd8448eb211c80319c" (32 hex digits, any case; 16 give
 * hi = 0) -> the two halves; false if malformed or all zero. */
bool cp_store_trace_parse(const char *hex, uint64_t *hi /* OUT */, uint64_t *lo /* OUT */);

#endif
