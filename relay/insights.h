/* insights.h - the insights engine: rules that read a merged profile range
 * (an app, a label filter, a time range) and say what is wrong, with the
 * evidence (docs/insights.md, GET /api/v1/insights in docs/api.md).
 *
 * Flow: the caller (insights_query.c from the API, or a test with
 * synthetic data) creates an engine for a range, then per profile type
 * begins the type with its merged profile, feeds the type's windows
 * (cp_store_window_t, any order), ends the type; feeds series points; then
 * finishes the engine and reads the findings or writes the JSON document.
 * The rules themselves are a data table (insights_rules.h); the engine
 * classifies every merged stack once, against every rule of its type, and
 * then sums per window and per instance.
 *
 * Thread: any; an engine belongs to one thread. Profiles given to
 * cp_insights_begin_type are borrowed until cp_insights_end_type. */
#ifndef CP_RELAY_INSIGHTS_H
#define CP_RELAY_INSIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

#define CP_INSIGHTS_MIN_SAMPLES 50   /* matched samples a finding needs */
#define CP_INSIGHTS_MAX_PER_TYPE 5   /* findings per profile type */
#define CP_INSIGHTS_MAX_CALLERS 3
#define CP_INSIGHTS_MAX_FRAMES 8     /* matched frame names listed per finding */

typedef enum { CP_INSIGHTS_INFO = 1, CP_INSIGHTS_WARN = 2 } cp_insights_severity_t;

typedef struct cp_insights_caller {
    const char *name;       /* borrowed from the engine */
    double      share;      /* of the type's total */
    double      samples;
} cp_insights_caller_t;

/* One finding; strings borrowed from the engine until it is destroyed. */
typedef struct cp_insights_finding {
    const char *rule, *title, *type, *fix;
    cp_insights_severity_t severity;
    double      share, ci_lo, ci_hi;   /* share of the type's total, Wilson 95% */
    double      samples;               /* matched samples (estimated, see docs/insights.md) */
    double      metric;                /* what the thresholds compare: the share, or a rate */
    const char *metric_unit;           /* "share" or the rate's unit */
    double      info, warn;            /* thresholds on metric */
    const char *frames[CP_INSIGHTS_MAX_FRAMES];
    uint32_t    n_frames;
    cp_insights_caller_t callers[CP_INSIGHTS_MAX_CALLERS];
    uint32_t    n_callers;
    const char **stack;                /* example stack, root first */
    uint32_t    stack_len;
    bool        has_worst;             /* worst window found */
    int64_t     worst_from_ms, worst_to_ms;
    double      worst_share;
    bool        has_instances;         /* some rows were per instance */
    uint32_t    inst_with, inst_of;
    double      saving;                /* in saving_unit */
    const char *saving_unit;           /* "cores", "bytes/s", "threads", "paused", "threads/h", "" */
    char        saving_text[96];
    char        detail[160];           /* series rules: what was measured, "" otherwise */
    double      rank;                  /* saving normalised across units (docs/insights.md) */
} cp_insights_finding_t;

/* A rule whose type has data but which matched too few samples (1..49;
 * series rules: too few points, see docs/insights.md). */
typedef struct cp_insights_short {
    const char *rule, *type;
    double      samples, needed;
} cp_insights_short_t;

typedef struct cp_insights cp_insights_t;

/* A range: app as shown to the caller, labels "" or a filter. Strings are
 * copied. */
cp_insights_t *cp_insights_create(const char *app, const char *labels, int64_t from_ms, int64_t to_ms);
void cp_insights_destroy(cp_insights_t *in);   /* NULL is a no-op */

/* Starts profile type `type` (the API's name: cpu, wall, alloc, lock, ...)
 * whose merged profile is p; p may still be empty here and filled before
 * the first cp_insights_add_window or cp_insights_end_type (as
 * cp_store_profile_windows does). counts: an optional profile of sample
 * counts of the same stacks (lock_count for lock), NULL to estimate
 * counts from p's values. */
void cp_insights_begin_type(cp_insights_t *in, const char *type, const cp_profile_t *p,
                            const cp_profile_t *counts);
/* cp_store_window_fn for the current type (ud = the engine); returns 0. */
int  cp_insights_add_window(void *in, const cp_store_window_t *w);
void cp_insights_end_type(cp_insights_t *in);
/* Forgets the current type (its profile turned out not to exist). */
void cp_insights_cancel_type(cp_insights_t *in);
/* The series points fed start at t_ms, later than the range's start (a
 * long range reads only its last hours of series): the pause rules judge
 * only the JVM time from there. */
void cp_insights_series_from(cp_insights_t *in, int64_t t_ms);
/* cp_store_point_fn (ud = the engine); returns 0. */
int  cp_insights_add_point(void *in, const cp_store_point_t *pt);
/* Evaluates the series rules, ranks and cuts the findings. */
void cp_insights_finish(cp_insights_t *in);

uint32_t cp_insights_n_findings(const cp_insights_t *in);
const cp_insights_finding_t *cp_insights_finding(const cp_insights_t *in, uint32_t i);
uint32_t cp_insights_n_short(const cp_insights_t *in);
const cp_insights_short_t *cp_insights_short(const cp_insights_t *in, uint32_t i);
/* The finding of rule id (first of it), or NULL. */
const cp_insights_finding_t *cp_insights_find(const cp_insights_t *in, const char *rule);

/* The /api/v1/insights document (docs/api.md), appended to out.
 * elapsed/fetch/rules in ms. */
void cp_insights_write_json(const cp_insights_t *in, double elapsed_ms, double fetch_ms, double rules_ms,
                            cp_buf_t *out);

/* Wilson score interval for k successes of n at 95% (z = 1.96). n <= 0
 * gives [0, 1]. */
void cp_insights_wilson(double k, double n, double *lo /* OUT */, double *hi /* OUT */);

/* ---- from the store (insights_query.c) ---- */

typedef struct cp_insights_query {
    const char *app;          /* qualified name for the store */
    const char *shown_app;    /* as the caller wrote it (JSON, links) */
    const char *type;         /* NULL or "": every type with data */
    const char *labels;
    int64_t     from_ms, to_ms;
} cp_insights_query_t;

/* Runs every rule over the range and appends the JSON document to out.
 * CP_ENOTFOUND (unknown app or type, err says which), CP_ETIMEOUT (the
 * reader's limit), CP_EDB. */
int cp_insights_run(cp_store_reader_t *r, const cp_insights_query_t *q, cp_buf_t *out,
                    char *err, size_t errlen);

#endif
