/* store_rows.h - what a query does with the tier rows the planner hands
 * it, shared by every store engine: merge them into a dense per-stack
 * accumulator (profiles), sum their totals per step (timelines), or merge
 * them AND keep them to hand each row to a callback afterwards, its stacks
 * renumbered to the merged profile's (cp_store_profile_windows).
 *
 * Keeping rows: each row's blob is kept as it is (~2.25 bytes a value);
 * once the merged profile is built (store_names.h) a map from app stack id
 * to merged index follows from the same walk cp_store_names_profile does
 * (non-zero stacks in id order), and the rows are decoded again one at a
 * time, in time order (ties: raw before aggregates, then instance, then
 * label set, then read order). Invariant: a row's pairs are sorted by app
 * stack id and the map is increasing, so each row's merged indices are
 * strictly increasing.
 *
 * Thread: the owning query worker. */
#ifndef CP_RELAY_STORE_ROWS_H
#define CP_RELAY_STORE_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"
#include "store_blob.h"
#include "store_names.h"

typedef struct cp_store_row {
    int64_t start, end, instance, lset;
    int     tier;
    size_t  off, len;        /* its blob in the kept blobs */
    uint32_t seq;
} cp_store_row_t;

/* Zero-initialise, set the mode fields, feed rows, fini. */
typedef struct cp_store_rows {
    /* modes: keep (rows mode), else points != NULL (timeline), else merge */
    bool      keep;
    uint64_t *points;
    uint32_t  npoints;
    int64_t   from, step;
    /* label filter: lset_ok[l] for l < n_lset; NULL = all */
    const uint8_t *lset_ok;
    int64_t   n_lset;
    /* state */
    cp_store_blob_acc_t acc;
    cp_buf_t  blobs;
    cp_store_row_t *rows;
    size_t    n_rows, cap_rows;
} cp_store_rows_t;

bool cp_store_rows_lset_ok(const cp_store_rows_t *w, int64_t lset);
/* One row of tier step (0 raw, else CP_STORE_MIN_MS / CP_STORE_HOUR_MS):
 * instance -1 for aggregates; blob/len its data; total its sum (timeline
 * mode reads only start and total). Rows of filtered label sets are
 * ignored. */
void cp_store_rows_add(cp_store_rows_t *w, int64_t step, int64_t start, int64_t end, int64_t instance,
                       int64_t lset, const uint8_t *blob, size_t len, uint64_t total);

/* Names for a row (borrowed for the call): of instance id, of label set
 * id, or of the label set of instance id (its own, without request
 * labels). */
enum { CP_STORE_ROWS_INSTANCE = 0, CP_STORE_ROWS_LSET, CP_STORE_ROWS_INSTANCE_LSET };
typedef const char *(*cp_store_rows_name_fn)(void *ud, int what, int64_t id);
/* Hands each kept row to fn in time order (rows mode, after
 * cp_store_names_profile built the merged profile from w->acc with nm).
 * flags as cp_store_profile_windows's: without CP_STORE_WINDOWS_BY_LSET
 * the raw rows of one instance window that request labels split (one per
 * label set, store_ctx.h) go as one row carrying the instance's label set.
 * Returns 0, fn's non-0 stop value (*stopped set) or CP_ETIMEOUT once
 * over(ud) says so. */
int cp_store_rows_deliver(cp_store_rows_t *w, const cp_store_names_t *nm, unsigned flags,
                          cp_store_rows_name_fn name, bool (*over)(void *ud), void *ud,
                          cp_store_window_fn fn, void *fn_ud, bool *stopped);
void cp_store_rows_fini(cp_store_rows_t *w);

#endif
