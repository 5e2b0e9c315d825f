/* diff_api.h - the /api/v1/diff answer with per-method statistics
 * (docs/api.md "diff", docs/diff.md): both sides read window by window
 * through cp_store_profile_windows, keyed by method, tested by diffstat.h,
 * written after the merged diff document of cp_profile_write_diff (whose
 * fields stay as they were; "stats" and "methods" are added).
 *
 * Thread: a query worker (it uses that worker's store reader). */
#ifndef CP_RELAY_DIFF_API_H
#define CP_RELAY_DIFF_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "diffstat.h"
#include "store.h"

typedef struct cp_diff_api_params {
    cp_diffstat_opts_t opts;   /* threshold, q, normalize */
    int64_t  warmup_ms;        /* skipped at the start of each instance (60 s) */
    bool     stats;            /* false: the plain diff only (stats=off) */
    uint32_t limit;            /* methods listed besides the flagged ones (500) */
    uint32_t raw_max_windows;  /* a side estimated (the app's instances x
                                  range / 10 s) to hold more windows uses
                                  the store's minute/hour rows (10,000) */
} cp_diff_api_params_t;

/* Reads threshold=, q=, normalize=, warmup=, stats=, limit= from the
 * request's arguments (n pairs). Returns 0, or CP_EINVAL with err naming
 * the parameter and what it accepts. */
int cp_diff_api_params(char *const *keys, char *const *vals, int n, cp_diff_api_params_t *out /* OUT */,
                       char *err, size_t errlen);

/* Runs both sides and appends the diff document to out. Returns 0, or the
 * store's CP_E* (CP_ENOTFOUND: unknown app or type; CP_ETIMEOUT past the
 * reader's limit) with err set and out untouched, or CP_EINVAL when the
 * options do not fit (a pp threshold with normalize=per-second). */
int cp_diff_api_run(cp_store_reader_t *rd, const cp_store_query_t *base, const cp_store_query_t *cmp,
                    const cp_diff_api_params_t *prm, cp_buf_t *out, char *err, size_t errlen);

#endif
