/* store_tier.h - retention tiers, rollups and the query planner: the rules
 * every store engine shares, apart from its SQL.
 *
 * Tiers: raw windows (step 0), minute aggregates (step CP_STORE_MIN_MS) and
 * hour aggregates (step CP_STORE_HOUR_MS), keyed by (app, step, type,
 * bucket start, label set). Per app two watermarks say how far each tier is
 * built: minute buckets < mdone and hour buckets < hdone are aggregated.
 * A bucket that got late data after it was aggregated is "dirty" until it
 * is recomputed; a dirty minute also makes its hour stale.
 *
 * Planner: which rows answer [lo, hi). Hour rows for whole clean hours below
 * hdone, minute rows for whole clean minutes below mdone, raw windows for the
 * rest; the engine supplies the row reader as a callback.
 *
 * Expiry: a tier's rows are deleted once older than its retention AND a
 * coarser tier covers them (raw below mdone, minutes below hdone), so no
 * range is ever answered by nothing.
 *
 * Thread: any; no global state, each object owned by one thread. */
#ifndef CP_RELAY_STORE_TIER_H
#define CP_RELAY_STORE_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rutil.h"
#include "store.h"
#include "store_blob.h"

#define CP_STORE_MIN_MS  60000LL
#define CP_STORE_HOUR_MS 3600000LL

/* Floor/ceil of t to a multiple of step (also for negative t). */
int64_t cp_store_tier_floor(int64_t t, int64_t step);
int64_t cp_store_tier_ceil(int64_t t, int64_t step);

/* The earliest stored sample of one (app, type), from each tier's earliest
 * row start (-1 where a tier has none): the raw window start, unless a
 * coarser tier holds a bucket before the raw data's bucket (the raw rows
 * there expired), then that bucket's start. -1 when no tier has a row. */
int64_t cp_store_tier_first(int64_t raw_ms, int64_t minute_ms, int64_t hour_ms);

/* ---- rollup: merging rows of one tier into buckets of the next ---- */

/* Groups source rows by (bucket of dst_step, label set) and merges their
 * blobs. Zero-initialise; reusable across cp_store_rollup_begin calls. */
typedef struct cp_store_rollup {
    int64_t lo, step;
    struct cp_store_rollup_grp { int64_t bucket, lset; cp_store_blob_pairs_t p; } *g;
    size_t  n, cap;
    cp__hmap_t idx;
} cp_store_rollup_t;

/* Starts a new grouping of rows with start >= lo into dst_step buckets. */
void cp_store_rollup_begin(cp_store_rollup_t *r, int64_t lo, int64_t dst_step);
/* Adds one source row (its start, label set and blob). */
void cp_store_rollup_add(cp_store_rollup_t *r, int64_t start_ms, int64_t lset,
                         const uint8_t *blob, size_t n);
/* Encodes group i (< r->n) into out; returns its total. */
uint64_t cp_store_rollup_encode(cp_store_rollup_t *r, size_t i, int64_t *bucket /* OUT */,
                                int64_t *lset /* OUT */, cp_buf_t *out);
void cp_store_rollup_fini(cp_store_rollup_t *r);

/* ---- late windows ---- */

/* What a window starting at start_ms does to the tiers: nothing (its
 * minute is not aggregated yet), mark the minute dirty (recomputed from raw
 * windows, which are all still there), or add it to the minute and hour
 * rows directly (its minute may be older than raw retention: recomputing
 * from raw would replace the minute with what expiry left of it). */
enum { CP_STORE_LATE_NONE = 0, CP_STORE_LATE_DIRTY, CP_STORE_LATE_ADD };
int cp_store_tier_late(const cp_store_config_t *cfg, int64_t now_ms, int64_t start_ms, int64_t mdone);

/* ---- expiry ---- */

typedef struct cp_store_cuts {
    int64_t windows;   /* delete raw windows with start < this */
    int64_t series;    /* delete series points with t < this */
    int64_t minutes;   /* delete minute rows with start < this */
    int64_t hours;     /* delete hour rows with start < this */
} cp_store_cuts_t;
void cp_store_tier_cuts(const cp_store_config_t *cfg, int64_t now_ms, int64_t mdone, int64_t hdone,
                        cp_store_cuts_t *out /* OUT */);

/* ---- query planner ---- */

/* Reads the rows of one tier (step 0 = raw windows) with start in [lo, hi)
 * into the engine's accumulator. */
typedef void (*cp_store_plan_read_fn)(void *ud, int64_t step, int64_t lo, int64_t hi);

typedef struct cp_store_plan {
    int64_t mdone, hdone;          /* the app's watermarks (set by the engine) */
    /* may this query use minute / hour rows where the finer tier also has
     * the data? (a timeline whose step is not a multiple of the tier would
     * smear it). Where the finer tier was expired they are used anyway:
     * coarse data beats none. */
    bool    use_min, use_hour;
    int64_t raw_from;              /* earliest raw window start (INT64_MAX: none) */
    int64_t min_from;              /* earliest minute row start (INT64_MAX: none) */
    cp_store_plan_read_fn read;
    bool  (*stop)(void *ud);       /* optional: true abandons the walk (query deadline) */
    void   *ud;
    /* stale buckets, filled by cp_store_plan_dirty; freed by _fini */
    int64_t *dirty_min, *dirty_hour;
    size_t   n_dirty_min, n_dirty_hour;
} cp_store_plan_t;

/* Records a dirty bucket (a row of the engine's dirty table). */
void cp_store_plan_dirty(cp_store_plan_t *p, int64_t step, int64_t start_ms);
/* For a query that wants raw windows (rows mode, use_min false): the
 * minute holding the first raw window (raw_from) is raw-complete when no
 * minute row precedes it (min_from: the data began there, nothing expired
 * yet), so it is read raw instead of as an aggregate. */
void cp_store_plan_raw_start(cp_store_plan_t *p);
/* Calls p->read for a set of disjoint ranges covering [lo, hi) exactly once. */
void cp_store_plan_run(cp_store_plan_t *p, int64_t lo, int64_t hi);
void cp_store_plan_fini(cp_store_plan_t *p);

#endif
