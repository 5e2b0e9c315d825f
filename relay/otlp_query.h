/* otlp_query.h - GET /api/v1/profile?format=otlp: one app's range as an
 * OTLP profiles request (otlp.h) whose samples carry the request context.
 *
 * One store read gives the merged profile and its rows by label set
 * (cp_store_profile_windows with CP_STORE_WINDOWS_BY_LSET): each row's
 * stacks become samples under the row's label set (sample attributes).
 * A second read gives the range's trace entries (cp_store_trace_entries,
 * full resolution only), which move value from those samples to samples
 * linked to their (trace id, span id) (cp_otlp_link). The per-stack sums,
 * and so the per-function totals, are those of format=pprof for the same
 * query.
 *
 * Thread: a query worker (its own reader). */
#ifndef CP_RELAY_OTLP_QUERY_H
#define CP_RELAY_OTLP_QUERY_H

#include <stddef.h>

#include "buf.h"
#include "store.h"

/* Appends the encoded request to out; `shown` is the app name written as
 * service.name. Returns 0 or the store's code (CP_ENOTFOUND for an unknown
 * app or type, CP_ETIMEOUT, ...) with err filled. */
int cp_otlp_query(cp_store_reader_t *rd, const cp_store_query_t *q, const char *shown, cp_buf_t *out,
                  char *err, size_t errlen);

#endif
