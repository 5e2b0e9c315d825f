/* store_tier.c - retention tiers, rollup merging, expiry cuts and the query
 * planner (rules in store_tier.h). No SQL here: an engine reads and writes
 * rows, these functions decide which rows and what they become.
 *
 * Thread: any; each cp_store_rollup_t / cp_store_plan_t owned by one thread.
 * Invariant of the planner: the ranges it hands to read() are disjoint and
 * their union is exactly [lo, hi), so no sample is counted twice or missed
 * as long as every tier row holds exactly the raw windows of its bucket. */
#include "store_tier.h"

#include <stdlib.h>
#include <string.h>

void cp_store_config_default(cp_store_config_t *c)
{
    c->full_ms = 14LL * 86400000;
    c->minute_ms = 90LL * 86400000;
    c->hour_ms = 730LL * 86400000;
    c->grace_ms = 2 * CP_STORE_MIN_MS;
    c->sync_full = true;
    c->max_dict = 4u << 20;
    c->wal_limit = 64LL << 20;
}

int64_t cp_store_tier_floor(int64_t t, int64_t step)
{
    return t >= 0 ? t / step * step : -((-t + step - 1) / step) * step;
}

int64_t cp_store_tier_ceil(int64_t t, int64_t step)
{
    return cp_store_tier_floor(t + step - 1, step);
}

int64_t cp_store_tier_first(int64_t raw_ms, int64_t minute_ms, int64_t hour_ms)
{
    int64_t first = raw_ms;
    if (minute_ms >= 0 && (first < 0 || minute_ms < cp_store_tier_floor(first, CP_STORE_MIN_MS)))
        first = minute_ms;
    if (hour_ms >= 0 && (first < 0 || hour_ms < cp_store_tier_floor(first, CP_STORE_HOUR_MS)))
        first = hour_ms;
    return first;
}

/* ---- rollup ---- */

void cp_store_rollup_begin(cp_store_rollup_t *r, int64_t lo, int64_t dst_step)
{
    for (size_t i = 0; i < r->n; i++)
        r->g[i].p.n = 0;
    r->n = 0;
    r->lo = lo;
    r->step = dst_step;
    cp__hmap_free(&r->idx);
}

void cp_store_rollup_add(cp_store_rollup_t *r, int64_t start_ms, int64_t lset,
                         const uint8_t *blob, size_t n)
{
    int64_t b = cp_store_tier_floor(start_ms, r->step);
    uint64_t key = ((uint64_t)((b - r->lo) / r->step) << 40) ^ (uint64_t)lset;
    uint32_t *slot = cp__hmap_slot(&r->idx, key, 1);
    if (!*slot) {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->g = cp__xrealloc(r->g, r->cap * sizeof *r->g);
            memset(r->g + r->n, 0, (r->cap - r->n) * sizeof *r->g);
        }
        r->g[r->n].bucket = b;
        r->g[r->n].lset = lset;
        r->g[r->n].p.n = 0;
        *slot = (uint32_t)++r->n;
    }
    cp_store_blob_each(blob, n, cp_store_blob_add_to_pairs, &r->g[*slot - 1].p);
}

uint64_t cp_store_rollup_encode(cp_store_rollup_t *r, size_t i, int64_t *bucket, int64_t *lset,
                                cp_buf_t *out)
{
    *bucket = r->g[i].bucket;
    *lset = r->g[i].lset;
    return cp_store_blob_encode(&r->g[i].p, out);
}

void cp_store_rollup_fini(cp_store_rollup_t *r)
{
    for (size_t i = 0; i < r->cap; i++)
        free(r->g[i].p.v);
    free(r->g);
    cp__hmap_free(&r->idx);
    memset(r, 0, sizeof *r);
}

/* ---- late windows ---- */

int cp_store_tier_late(const cp_store_config_t *cfg, int64_t now, int64_t start, int64_t mdone)
{
    if (start >= mdone)
        return CP_STORE_LATE_NONE;
    /* expiry deletes raw windows with start < now' - full_ms (now' <= now),
     * so every window of a minute that starts at or after now - full_ms is
     * still there */
    if (cp_store_tier_floor(start, CP_STORE_MIN_MS) >= now - cfg->full_ms)
        return CP_STORE_LATE_DIRTY;
    return CP_STORE_LATE_ADD;
}

/* ---- expiry ---- */

void cp_store_tier_cuts(const cp_store_config_t *cfg, int64_t now, int64_t mdone, int64_t hdone,
                        cp_store_cuts_t *out)
{
    out->windows = now - cfg->full_ms;
    if (out->windows > mdone)
        out->windows = mdone;
    out->series = now - cfg->full_ms;
    out->minutes = now - cfg->minute_ms;
    if (out->minutes > hdone)
        out->minutes = hdone;
    out->hours = now - cfg->hour_ms;
}

/* ---- planner ---- */

void cp_store_plan_dirty(cp_store_plan_t *p, int64_t step, int64_t t)
{
    if (step == CP_STORE_MIN_MS) {
        p->dirty_min = cp__xrealloc(p->dirty_min, (p->n_dirty_min + 1) * sizeof(int64_t));
        p->dirty_min[p->n_dirty_min++] = t;
    }
    /* a dirty minute also makes its hour stale until recomputed */
    p->dirty_hour = cp__xrealloc(p->dirty_hour, (p->n_dirty_hour + 1) * sizeof(int64_t));
    p->dirty_hour[p->n_dirty_hour++] = cp_store_tier_floor(t, CP_STORE_HOUR_MS);
}

/* Ceil of t to step; INT64_MAX stays (no limit). */
static int64_t ceil_or_max(int64_t t, int64_t step)
{
    return t > INT64_MAX - step ? INT64_MAX : cp_store_tier_ceil(t, step);
}

static void plan_read(cp_store_plan_t *p, int64_t step, int64_t lo, int64_t hi)
{
    if (lo < hi)
        p->read(p->ud, step, lo, hi);
}

static bool is_dirty(const int64_t *v, size_t n, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] >= lo && v[i] < hi)
            return true;
    return false;
}

/* Minute rows for whole clean minutes in [ms, me), raw windows for dirty ones. */
static void plan_minute_rows(cp_store_plan_t *p, int64_t ms, int64_t me)
{
    if (!is_dirty(p->dirty_min, p->n_dirty_min, ms, me)) {
        plan_read(p, CP_STORE_MIN_MS, ms, me);
        return;
    }
    int64_t run = ms;
    for (int64_t m = ms; m < me; m += CP_STORE_MIN_MS) {
        if (is_dirty(p->dirty_min, p->n_dirty_min, m, m + CP_STORE_MIN_MS)) {
            plan_read(p, CP_STORE_MIN_MS, run, m);
            plan_read(p, 0, m, m + CP_STORE_MIN_MS);
            run = m + CP_STORE_MIN_MS;
        }
    }
    plan_read(p, CP_STORE_MIN_MS, run, me);
}

/* Splits [lo, hi) into minute rows (whole minutes below mdone) and raw. */
static void plan_minutes(cp_store_plan_t *p, int64_t lo, int64_t hi)
{
    if (lo >= hi)
        return;
    int64_t ms = cp_store_tier_ceil(lo, CP_STORE_MIN_MS), me = cp_store_tier_floor(hi, CP_STORE_MIN_MS);
    if (me > p->mdone)
        me = p->mdone;
    if (!p->use_min && me > ceil_or_max(p->raw_from, CP_STORE_MIN_MS))
        me = ceil_or_max(p->raw_from, CP_STORE_MIN_MS);   /* only where raw is gone */
    if (ms >= me) {
        plan_read(p, 0, lo, hi);
        return;
    }
    plan_read(p, 0, lo, ms);
    plan_minute_rows(p, ms, me);
    plan_read(p, 0, me, hi);
}

void cp_store_plan_run(cp_store_plan_t *p, int64_t lo, int64_t hi)
{
    int64_t hs = cp_store_tier_ceil(lo, CP_STORE_HOUR_MS), he = cp_store_tier_floor(hi, CP_STORE_HOUR_MS);
    if (he > p->hdone)
        he = p->hdone;
    if (!p->use_hour && he > ceil_or_max(p->min_from, CP_STORE_HOUR_MS))
        he = ceil_or_max(p->min_from, CP_STORE_HOUR_MS);  /* only where minutes are gone */
    if (hs >= he) {
        plan_minutes(p, lo, hi);
        return;
    }
    plan_minutes(p, lo, hs);
    int64_t run = hs;
    for (int64_t h = hs; h < he; h += CP_STORE_HOUR_MS) {
        if (p->stop && p->stop(p->ud))
            return;
        if (is_dirty(p->dirty_hour, p->n_dirty_hour, h, h + CP_STORE_HOUR_MS)) {
            plan_read(p, CP_STORE_HOUR_MS, run, h);
            plan_minutes(p, h, h + CP_STORE_HOUR_MS);
            run = h + CP_STORE_HOUR_MS;
        }
    }
    plan_read(p, CP_STORE_HOUR_MS, run, he);
    plan_minutes(p, he, hi);
}

void cp_store_plan_fini(cp_store_plan_t *p)
{
    free(p->dirty_min);
    free(p->dirty_hour);
    p->dirty_min = p->dirty_hour = NULL;
    p->n_dirty_min = p->n_dirty_hour = 0;
}

void cp_store_plan_raw_start(cp_store_plan_t *p)
{
    if (!p->use_min && p->raw_from != INT64_MAX && p->min_from >= cp_store_tier_floor(p->raw_from, CP_STORE_MIN_MS))
        p->raw_from = cp_store_tier_floor(p->raw_from, CP_STORE_MIN_MS);
}
