/* insights_query.c - runs the insights engine over the store
 * (cp_insights_run, insights.h): per profile type one
 * cp_store_profile_windows pass (the merged profile and its windows), the
 * lock type with its lock_count companion for exact sample counts, then
 * the series points, then the rules; writes the JSON document with the
 * time spent fetching and the time spent in the rules apart.
 *
 * Rows: ranges up to RAW_MAX_MS are read as raw windows (per instance: the
 * worst 10 s window, instances with/of); longer ranges as the minute/hour
 * aggregates /profile uses (fast on days of data; then the worst window is
 * a minute or an hour and instances are counted over the raw windows of
 * the range's unaggregated tail only). Series are read for the last
 * SERIES_MAX_MS of the range at most.
 *
 * Thread: the caller's query worker (owner of the reader). */
#include "insights.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"

#define RAW_MAX_MS (60 * 60000LL)
#define SERIES_MAX_MS (6 * 3600000LL)

static const char *const ALL_TYPES[] = {"cpu", "wall", "alloc", "lock", NULL};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct run {
    cp_insights_t *in;
    double rules_ms;
} run_t;

/* cp_store_window_fn: the engine's window step, timed as rules work. */
static int timed_window(void *ud, const cp_store_window_t *w)
{
    run_t *r = ud;
    double t = mono_ms();
    cp_insights_add_window(r->in, w);
    r->rules_ms += mono_ms() - t;
    return 0;
}

/* One type: 0, 1 if the app has no such type, CP_E*. */
static int run_type(cp_store_reader_t *rd, const cp_insights_query_t *q, const char *type, unsigned flags,
                    run_t *run, char *err, size_t errlen)
{
    cp_store_query_t sq = {q->app, type, q->labels, q->from_ms, q->to_ms};
    cp_profile_t p, counts;
    bool have_counts = false;
    memset(&counts, 0, sizeof counts);
    if (!strcmp(type, "lock")) {
        cp_store_query_t cq = sq;
        char e2[256] = "";
        cq.type = "lock_count";
        int rc = cp_store_profile(rd, &cq, &counts, e2, sizeof e2);
        if (rc && rc != CP_ENOTFOUND) {
            snprintf(err, errlen, "%s", e2);
            return rc;
        }
        have_counts = rc == 0;
    }
    cp_insights_begin_type(run->in, type, &p, have_counts ? &counts : NULL);
    int rc = cp_store_profile_windows(rd, &sq, flags, &p, timed_window, run, err, errlen);
    if (rc == CP_ENOTFOUND && !strstr(err, "unknown app")) {
        cp_insights_cancel_type(run->in);
        rc = 1;
    } else if (rc) {
        cp_insights_cancel_type(run->in);
    } else {
        double t = mono_ms();
        cp_insights_end_type(run->in);
        run->rules_ms += mono_ms() - t;
    }
    cp_profile_free(&p);
    cp_profile_free(&counts);
    return rc;
}

int cp_insights_run(cp_store_reader_t *rd, const cp_insights_query_t *q, cp_buf_t *out, char *err, size_t errlen)
{
    double t0 = mono_ms();
    run_t run = {cp_insights_create(q->shown_app ? q->shown_app : q->app, q->labels, q->from_ms, q->to_ms), 0};
    unsigned flags = q->to_ms - q->from_ms <= RAW_MAX_MS ? CP_STORE_WINDOWS_RAW : 0;
    /* the engine's rules name the API's "alloc" (the store takes both) */
    const char *one[] = {q->type && !strcmp(q->type, "alloc_bytes") ? "alloc" : q->type, NULL};
    const char *const *types = q->type && *q->type ? one : ALL_TYPES;
    int rc = 0;
    for (size_t i = 0; types[i] && rc <= 0; i++) {
        err[0] = 0;
        rc = run_type(rd, q, types[i], flags, &run, err, errlen);
        if (rc == 1)
            rc = types == one ? CP_ENOTFOUND : 0;   /* a type asked for must exist */
    }
    if (!rc) {
        /* series have no minute/hour tiers: a long range reads the last
         * SERIES_MAX_MS of them (a point per pause and ~1 per second of
         * gauges per JVM: 10 M rows for a day of 100 JVMs) */
        int64_t sfrom = q->to_ms - q->from_ms > SERIES_MAX_MS ? q->to_ms - SERIES_MAX_MS : q->from_ms;
        cp_store_query_t sq = {q->app, NULL, q->labels, sfrom, q->to_ms};
        cp_insights_series_from(run.in, sfrom);
        rc = cp_store_series(rd, &sq, cp_insights_add_point, run.in, err, errlen);
    }
    if (!rc) {
        double t = mono_ms();
        cp_insights_finish(run.in);
        run.rules_ms += mono_ms() - t;
        double elapsed = mono_ms() - t0;
        cp_insights_write_json(run.in, elapsed, elapsed - run.rules_ms, run.rules_ms, out);
    }
    cp_insights_destroy(run.in);
    return rc;
}
