/* insights_series.c - the series rules of the insights engine: GC pause
 * ratio, long GC pauses, live-set growth and thread growth, read from the
 * agent's time series (docs/protocol.md "Series": gc.pause_ns one point per
 * pause, gc.heap_after_bytes after GCs at most once a second, threads.<state>
 * every 5 s). Thresholds, fix texts and fixable fractions come from the
 * rules table (insights_rules.c); what each metric means is here and in
 * docs/insights.md.
 *
 * Series carry no instance: points of several JVMs of one label set arrive
 * interleaved. The pause ratio divides by the number of instances that sent
 * windows in the same minute (the engine counts them from raw windows; 1
 * where unknown); the growth fits run over the mixed points, where JVMs that
 * differ a lot make the fit poor (R^2 gate) rather than wrong.
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_FIT_POINTS 12     /* a slope needs this many points ... */
#define MIN_FIT_SPAN_MS 50000 /* ... over at least this long */
#define MIN_R2 0.5            /* and must explain half the variance */
#define LONG_SHARE_WARN 0.10  /* long-gc: pauses >= INFO taking this share of the time */
#define ENVELOPE_BINS 12       /* live-set-growth fits the minima of 12 slices */
#define MIN_MINUTE_COVER_MS 10000.0   /* a minute needs this much JVM time to be the worst */

static const cp_irule_t *row(const char *id, const char *type)
{
    for (size_t i = 0; i < cp_n_irules; i++)
        if (!strcmp(cp_irules[i].id, id) && !strcmp(cp_irules[i].type, type))
            return &cp_irules[i];
    return NULL;
}

static const cp__iseries_t *series(const cp_insights_t *in, const char *name)
{
    for (uint32_t i = 0; i < in->n_series; i++)
        if (!strcmp(in->series[i].name, name))
            return &in->series[i];
    return NULL;
}

static cp_insights_finding_t *finding(cp_insights_t *in, const cp_irule_t *r, int sev, double metric,
                                      const char *metric_unit, double samples, double saving,
                                      const char *saving_unit)
{
    cp_insights_finding_t *f = cp__insights_add_finding(in);
    f->rule = r->id;
    f->title = r->title;
    f->type = r->type;
    f->fix = r->fix;
    f->severity = sev;
    f->metric = metric;
    f->metric_unit = metric_unit;
    f->samples = samples;
    f->info = r->info;
    f->warn = r->warn;
    f->saving = saving * r->fixable;
    f->saving_unit = saving_unit;
    cp__insights_saving_text(f->saving_text, sizeof f->saving_text, f->saving, saving_unit);
    f->rank = cp__insights_rank(f->saving, saving_unit);
    return f;
}

/* The first minute bucket the series were read for (cp_insights_series_from). */
static uint32_t first_bucket(const cp_insights_t *in)
{
    int64_t b = (in->series_from_ms - in->from_ms) / 60000;
    return b > 0 ? (uint32_t)b : 0;
}

/* Seconds of data: the profile types' windows, else the series' own
 * first to last point, else the range. */
static double data_span_s(const cp_insights_t *in, const cp__iseries_t *s)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint32_t i = 0; i < in->n_types; i++)
        if (in->types[i].span_lo < in->types[i].span_hi) {
            lo = in->types[i].span_lo < lo ? in->types[i].span_lo : lo;
            hi = in->types[i].span_hi > hi ? in->types[i].span_hi : hi;
        }
    if (lo >= hi && s && s->n > 1) {
        lo = s->t[0];
        hi = s->t[s->n - 1];
    }
    if (lo >= hi) {
        lo = in->from_ms;
        hi = in->to_ms;
    }
    return (double)(hi - lo) / 1000.0;
}

/* gc-pause-ratio: the worst minute's paused fraction per JVM (JMC's
 * GcPauseRatio: 60 s window, 5 % / 10 %): a minute's summed pauses over
 * the JVM time the windows covered in it (a JVM that lived 4 s of the
 * minute paused for 3 s is 75 % paused), one JVM's whole minute where no
 * window says otherwise. Minutes with less than 10 s of JVM time (a JVM's
 * first or last second) are too thin to be the worst; without any minute
 * of 10 s the ratio over the whole range counts. */
static void pause_ratio(cp_insights_t *in, const cp__iseries_t *s)
{
    const cp_irule_t *r = row("gc-pause-ratio", "gc");
    if (!r || !s || !s->n)
        return;
    if (s->n < CP_INSIGHTS_MIN_SAMPLES) {
        cp__insights_add_short(in, r->id, r->type, (double)s->n, CP_INSIGHTS_MIN_SAMPLES);
        return;
    }
    double *sum = cp__xcalloc(in->n_buckets + 1, sizeof *sum);
    for (size_t i = 0; i < s->n; i++) {
        int64_t b = (s->t[i] - in->from_ms) / 60000;
        if (s->t[i] >= in->from_ms && b < in->n_buckets)
            sum[b] += s->v[i] / 1e6;   /* ms */
    }
    double worst = 0, paused = 0, covered = 0;
    int64_t wb = -1;
    for (uint32_t b = first_bucket(in); b < in->n_buckets; b++) {
        int64_t lo = in->from_ms + (int64_t)b * 60000, hi = lo + 60000 < in->to_ms ? lo + 60000 : in->to_ms;
        double cover = in->bucket_cover[b] > 0 ? in->bucket_cover[b] : sum[b] > 0 ? (double)(hi - lo) : 0;
        if (cover <= 0)
            continue;
        double ratio = sum[b] / cover;
        paused += sum[b];
        covered += cover;
        if (cover >= MIN_MINUTE_COVER_MS && ratio > worst) {
            worst = ratio;
            wb = b;
        }
    }
    free(sum);
    if (wb < 0 && covered > 0)   /* no minute with enough JVM time: the whole range */
        worst = paused / covered;
    if (worst > 1)
        worst = 1;
    double overall = covered > 0 ? paused / covered : 0;
    if (overall > 1)
        overall = 1;
    int sev = cp__insights_severity(r, worst, 0);
    if (!sev)
        return;
    cp_insights_finding_t *f = finding(in, r, sev, worst, "paused", (double)s->n, overall, "paused");
    f->share = overall;
    f->ci_lo = f->ci_hi = overall;
    f->has_worst = wb >= 0;
    f->worst_from_ms = in->from_ms + wb * 60000;
    f->worst_to_ms = f->worst_from_ms + 60000;
    f->worst_share = worst;
    f->frames[f->n_frames++] = "gc.pause_ns";
    snprintf(f->detail, sizeof f->detail, "%.1f%% of the time paused in the worst minute, %.1f%% over the range "
             "(%zu pauses)", worst * 100, overall * 100, s->n);
}

/* long-gc: the longest pause, in seconds. A pause is a measurement, not
 * an estimate: one is enough. Also WARN when pauses of INFO length or more
 * take LONG_SHARE_WARN of the JVM time: frequent full collections, the
 * mark of System.gc() in a loop or a heap too small for its live set. */
static void long_pause(cp_insights_t *in, const cp__iseries_t *s)
{
    const cp_irule_t *r = row("long-gc", "gc");
    if (!r || !s || !s->n)
        return;
    double worst = 0, over = 0, n_over = 0;
    int64_t wt = 0;
    for (size_t i = 0; i < s->n; i++) {
        double sec = s->v[i] / 1e9;
        if (sec > worst) {
            worst = sec;
            wt = s->t[i];
        }
        if (sec >= r->info) {
            over += sec;
            n_over++;
        }
    }
    double covered = 0;
    for (uint32_t b = first_bucket(in); b < in->n_buckets; b++)
        covered += in->bucket_cover[b] / 1000.0;
    double span = covered > 0 ? covered : data_span_s(in, s), share = span > 0 ? over / span : 0;
    if (share > 1)
        share = 1;
    int sev = cp__insights_severity(r, worst, 0);
    if (sev == CP_INSIGHTS_INFO && share >= LONG_SHARE_WARN)
        sev = CP_INSIGHTS_WARN;
    if (!sev)
        return;
    cp_insights_finding_t *f = finding(in, r, sev, worst, "s", n_over, share, "paused");
    f->share = share;
    f->ci_lo = f->ci_hi = f->share;
    f->has_worst = true;
    f->worst_to_ms = wt;
    f->worst_from_ms = wt - (int64_t)(worst * 1000);
    f->worst_share = 1;
    f->frames[f->n_frames++] = "gc.pause_ns";
    snprintf(f->detail, sizeof f->detail, "longest pause %.2f s; %.0f pauses of %.1f s or more, %.1f%% of the time",
             worst, n_over, r->info, share * 100);
}

/* Least-squares fit of v over t (hours). */
typedef struct fit { double slope_h, mean, r2, span_ms; size_t n; } fit_t;

static fit_t fit_line(const int64_t *t, const double *v, size_t n)
{
    fit_t f = {0};
    f.n = n;
    if (n < 2)
        return f;
    double t0 = (double)t[0], st = 0, sv = 0, stt = 0, stv = 0, svv = 0;
    for (size_t i = 0; i < n; i++) {
        double x = ((double)t[i] - t0) / 3600000.0;
        st += x;
        sv += v[i];
        stt += x * x;
        stv += x * v[i];
        svv += v[i] * v[i];
    }
    double dn = (double)n, vx = stt - st * st / dn, vy = svv - sv * sv / dn, cxy = stv - st * sv / dn;
    f.mean = sv / dn;
    f.span_ms = (double)(t[n - 1] - t[0]);
    if (vx <= 0)
        return f;
    f.slope_h = cxy / vx;
    f.r2 = vy > 0 ? cxy * cxy / (vx * vy) : 0;
    return f;
}

/* A growth rule over one fitted series: metric = relative growth per hour
 * (slope / mean); min_growth = growth over the span it needs besides. */
/* The lower envelope of points in time order: the smallest of each of
 * ENVELOPE_BINS equal slices of their span (empty slices left out). Heap
 * after GC is read by the agent's thread a moment after the collection,
 * with new allocation on top: the minima are the live set. Returns how
 * many points went to et/ev (room for ENVELOPE_BINS). */
static size_t lower_envelope(const int64_t *t, const double *v, size_t n, int64_t *et, double *ev)
{
    size_t k = 0;
    double span = (double)(t[n - 1] - t[0]) + 1;
    int last = -1;
    for (size_t i = 0; i < n; i++) {
        int bin = (int)((double)(t[i] - t[0]) / span * ENVELOPE_BINS);
        if (bin != last) {
            et[k] = t[i];
            ev[k++] = v[i];
            last = bin;
        } else if (v[i] < ev[k - 1]) {
            et[k - 1] = t[i];
            ev[k - 1] = v[i];
        }
    }
    return k;
}

static void growth(cp_insights_t *in, const char *id, const char *type, const int64_t *t, const double *v,
                   size_t n, double min_growth, double saving_per_h, const char *saving_unit, const char *what,
                   bool envelope)
{
    const cp_irule_t *r = row(id, type);
    if (!r || !n)
        return;
    if (n < MIN_FIT_POINTS) {
        cp__insights_add_short(in, r->id, r->type, (double)n, MIN_FIT_POINTS);
        return;
    }
    int64_t et[ENVELOPE_BINS];
    double ev[ENVELOPE_BINS];
    if (envelope) {
        size_t k = lower_envelope(t, v, n, et, ev);
        if (k < ENVELOPE_BINS / 2)
            return;
        t = et;
        v = ev;
        n = k;
    }
    fit_t f = fit_line(t, v, n);
    if (f.span_ms < MIN_FIT_SPAN_MS || f.mean <= 0 || f.r2 < MIN_R2 || f.slope_h <= 0)
        return;
    double rel = f.slope_h / f.mean, grown = f.slope_h * f.span_ms / 3600000.0;
    if (grown < min_growth)
        return;
    int sev = cp__insights_severity(r, rel, 0);
    if (!sev)
        return;
    cp_insights_finding_t *x = finding(in, r, sev, rel, "share/h", (double)n, f.slope_h * saving_per_h,
                                       saving_unit);
    x->share = rel;
    x->ci_lo = x->ci_hi = rel;
    x->frames[x->n_frames++] = what;
    x->has_worst = true;
    x->worst_from_ms = t[0];
    x->worst_to_ms = t[n - 1];
    x->worst_share = f.r2;
    snprintf(x->detail, sizeof x->detail, "%s grew by %.3g (%.0f%% of its mean) over %.0f min, "
             "%.1f%% per hour, R^2 %.2f, %zu points", what, grown, grown / f.mean * 100, f.span_ms / 60000.0,
             rel * 100, f.r2, n);
}

typedef struct tv { int64_t t; double v; } tv_t;

static int tv_cmp(const void *a, const void *b)
{
    const tv_t *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* threads.<state> points of one time summed: the live threads then (one
 * JVM samples all states at the same t_ms). */
static void thread_totals(const cp_insights_t *in, int64_t **t, double **v, size_t *n)
{
    size_t all = 0;
    for (uint32_t i = 0; i < in->n_series; i++)
        if (!strncmp(in->series[i].name, "threads.", 8))
            all += in->series[i].n;
    tv_t *p = cp__xcalloc(all + 1, sizeof *p);
    size_t k = 0;
    for (uint32_t i = 0; i < in->n_series; i++) {
        const cp__iseries_t *s = &in->series[i];
        if (strncmp(s->name, "threads.", 8) || !strcmp(s->name, "threads.terminated") ||
            !strcmp(s->name, "threads.new"))
            continue;
        for (size_t j = 0; j < s->n; j++)
            p[k++] = (tv_t){s->t[j], s->v[j]};
    }
    qsort(p, k, sizeof *p, tv_cmp);
    *t = cp__xcalloc(k + 1, sizeof **t);
    *v = cp__xcalloc(k + 1, sizeof **v);
    *n = 0;
    for (size_t j = 0; j < k; j++) {
        if (*n && (*t)[*n - 1] == p[j].t) {
            (*v)[*n - 1] += p[j].v;
            continue;
        }
        (*t)[*n] = p[j].t;
        (*v)[(*n)++] = p[j].v;
    }
    free(p);
}

void cp__insights_series_rules(cp_insights_t *in)
{
    const cp__iseries_t *p = series(in, "gc.pause_ns");
    pause_ratio(in, p);
    long_pause(in, p);
    const cp__iseries_t *h = series(in, "gc.heap_after_bytes");
    if (h)   /* saving: the slope itself, bytes per second */
        growth(in, "live-set-growth", "gc", h->t, h->v, h->n, 0, 1.0 / 3600, "leak bytes/s", "gc.heap_after_bytes",
               true);
    int64_t *t;
    double *v;
    size_t n;
    thread_totals(in, &t, &v, &n);
    growth(in, "thread-growth", "threads", t, v, n, 10, 1.0, "threads/h", "threads", false);
    free(t);
    free(v);
}
