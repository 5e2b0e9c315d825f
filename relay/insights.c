/* insights.c - the insights engine (insights.h): the engine's state and
 * its lifecycle. Per profile type it hands the merged profile to the
 * classification (insights_classify.c: every merged stack once against the
 * type's rule rows), sums each window's matched values per candidate,
 * per window (the worst window) and per instance, and at the end of the
 * type turns candidates into findings (insights_evidence.c); series points
 * are kept for the series rules (insights_series.c). finish ranks the
 * findings and keeps at most CP_INSIGHTS_MAX_PER_TYPE per type.
 * A window costs one mask lookup per stack.
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- engine bookkeeping ---------------------------------------------- */

cp_insights_t *cp_insights_create(const char *app, const char *labels, int64_t from_ms, int64_t to_ms)
{
    cp_insights_t *in = cp__xcalloc(1, sizeof *in);
    in->app = cp__xstrdup(app ? app : "");
    in->labels = cp__xstrdup(labels ? labels : "");
    in->from_ms = from_ms;
    in->to_ms = to_ms > from_ms ? to_ms : from_ms + 1;
    in->series_from_ms = from_ms;
    int64_t nb = (in->to_ms - in->from_ms + 59999) / 60000;
    in->n_buckets = nb > 0 && nb < (1 << 22) ? (uint32_t)nb : 0;
    in->bucket_cover = cp__xcalloc(in->n_buckets + 1, sizeof *in->bucket_cover);
    in->bucket_cover_type = cp__xcalloc(in->n_buckets + 1, sizeof *in->bucket_cover_type);
    return in;
}

static void cand_fini(cp__icand_t *c)
{
    cp__hmap_free(&c->callers);
    free(c->cl);
    free(c->inst_val);
    memset(c, 0, sizeof *c);
}

static void type_fini(cp__itype_t *t)
{
    for (uint32_t i = 0; i < t->n_cand; i++)
        cand_fini(&t->cand[i]);
    t->n_cand = 0;
    free(t->mask);
    free(t->count_of);
    free(t->inst_total);
    free(t->inst_lo);
    free(t->inst_hi);
    t->mask = NULL;
    t->count_of = NULL;
    t->inst_total = NULL;
    t->inst_lo = t->inst_hi = NULL;
    t->p = t->counts = NULL;
}

void cp_insights_destroy(cp_insights_t *in)
{
    if (!in)
        return;
    for (uint32_t i = 0; i < in->n_types; i++) {
        type_fini(&in->types[i]);
        free(in->types[i].name);
    }
    free(in->types);
    for (uint32_t i = 0; i < in->n_series; i++) {
        free(in->series[i].name);
        free(in->series[i].t);
        free(in->series[i].v);
    }
    free(in->series);
    for (size_t i = 0; i < in->n_strs; i++)
        free(in->strs[i]);
    free(in->strs);
    for (size_t i = 0; i < in->n_stacks; i++)
        free(in->stacks[i]);
    free(in->stacks);
    cp__hmap_free(&in->inst_idx);
    free(in->bucket_cover);
    free(in->bucket_cover_type);
    free(in->f);
    free(in->sh);
    free(in->app);
    free(in->labels);
    free(in);
}

const char *cp__insights_keep(cp_insights_t *in, const char *s)
{
    if (in->n_strs == in->cap_strs) {
        in->cap_strs = in->cap_strs ? in->cap_strs * 2 : 64;
        in->strs = cp__xrealloc(in->strs, in->cap_strs * sizeof *in->strs);
    }
    return in->strs[in->n_strs++] = cp__xstrdup(s);
}

cp_insights_finding_t *cp__insights_add_finding(cp_insights_t *in)
{
    if (in->n_f == in->cap_f) {
        in->cap_f = in->cap_f ? in->cap_f * 2 : 16;
        in->f = cp__xrealloc(in->f, in->cap_f * sizeof *in->f);
    }
    cp_insights_finding_t *f = &in->f[in->n_f++];
    memset(f, 0, sizeof *f);
    return f;
}

void cp__insights_add_short(cp_insights_t *in, const char *rule, const char *type, double samples, double needed)
{
    for (uint32_t i = 0; i < in->n_sh; i++)
        if (!strcmp(in->sh[i].rule, rule) && !strcmp(in->sh[i].type, type)) {
            if (samples > in->sh[i].samples)
                in->sh[i].samples = samples;
            return;
        }
    if (in->n_sh == in->cap_sh) {
        in->cap_sh = in->cap_sh ? in->cap_sh * 2 : 16;
        in->sh = cp__xrealloc(in->sh, in->cap_sh * sizeof *in->sh);
    }
    in->sh[in->n_sh++] = (cp_insights_short_t){rule, cp__insights_keep(in, type), samples, needed};
}

void cp_insights_wilson(double k, double n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (k > n)
        k = n;
    const double z = 1.959963984540054, z2 = z * z;
    double p = k / n, d = 1 + z2 / n;
    double c = (p + z2 / (2 * n)) / d, h = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / d;
    *lo = c - h < 0 ? 0 : c - h;
    *hi = c + h > 1 ? 1 : c + h;
}

int cp__insights_severity(const cp_irule_t *r, double metric, double ci_lo)
{
    if (metric >= r->warn && (r->metric != CP_IMETRIC_SHARE || ci_lo >= r->info))
        return CP_INSIGHTS_WARN;
    if (metric >= r->info)
        return CP_INSIGHTS_INFO;
    return 0;
}

/* Weights that make savings of different units comparable, in "cores": an
 * allocation rate of 1 GB/s costs about half a core in allocation and
 * young-GC work; a thread blocked all the time is counted as a quarter of
 * a core (latency, not CPU); a JVM paused 10 % of the time as 0.4 cores
 * (every thread stops); a leak of 1 MB/s as 0.5 cores (it ends in an
 * OutOfMemoryError); thread growth of 100 threads/h as 0.1 cores. */
double cp__insights_rank(double saving, const char *unit)
{
    static const struct { const char *unit; double w; } W[] = {
        {"cores", 1.0}, {"bytes/s", 0.5e-9}, {"threads", 0.25}, {"paused", 4.0},
        {"leak bytes/s", 0.5e-6}, {"threads/h", 0.001},
    };
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
        if (!strcmp(unit, W[i].unit))
            return saving * W[i].w;
    return 0;
}

static void human(char *out, size_t n, double v, const char *const *suffix, double step)
{
    int i = 0;
    while (v >= step && suffix[i + 1]) {
        v /= step;
        i++;
    }
    snprintf(out, n, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, suffix[i]);
}

void cp__insights_saving_text(char *out, size_t n, double s, const char *unit)
{
    static const char *const bytes[] = {"B/s", "KB/s", "MB/s", "GB/s", NULL};
    char h[48];
    if (!strcmp(unit, "cores"))
        snprintf(out, n, "about %.2g CPU cores", s);
    else if (!strcmp(unit, "bytes/s")) {
        human(h, sizeof h, s, bytes, 1000);
        snprintf(out, n, "about %s less allocation", h);
    } else if (!strcmp(unit, "leak bytes/s")) {
        human(h, sizeof h, s, bytes, 1000);
        snprintf(out, n, "a heap growing by %s", h);
    } else if (!strcmp(unit, "threads"))
        snprintf(out, n, "about %.2g fewer threads waiting on average", s);
    else if (!strcmp(unit, "paused"))
        snprintf(out, n, "up to %.1f%% of the time no longer paused", s * 100);
    else if (!strcmp(unit, "threads/h"))
        snprintf(out, n, "%.0f new threads per hour avoided", s);
    else
        snprintf(out, n, "more precise findings");
}

/* ---- instances -------------------------------------------------------- */

static void inst_grow_type(cp__itype_t *t, uint32_t old, uint32_t cap)
{
    t->inst_total = cp__xrealloc(t->inst_total, cap * sizeof *t->inst_total);
    t->inst_lo = cp__xrealloc(t->inst_lo, cap * sizeof *t->inst_lo);
    t->inst_hi = cp__xrealloc(t->inst_hi, cap * sizeof *t->inst_hi);
    for (uint32_t i = old; i < cap; i++) {
        t->inst_total[i] = 0;
        t->inst_lo[i] = INT64_MAX;
        t->inst_hi[i] = INT64_MIN;
    }
    for (uint32_t c = 0; c < t->n_cand; c++) {
        t->cand[c].inst_val = cp__xrealloc(t->cand[c].inst_val, cap * sizeof(double));
        memset(t->cand[c].inst_val + old, 0, (cap - old) * sizeof(double));
    }
}

static uint32_t inst_slot(cp_insights_t *in, int64_t id)
{
    uint32_t *s = cp__hmap_slot(&in->inst_idx, (uint64_t)id, 1);
    if (*s)
        return *s - 1;
    if (in->n_inst == in->cap_inst) {
        uint32_t old = in->cap_inst;
        in->cap_inst = old ? old * 2 : 16;
        for (uint32_t i = 0; i < in->n_types; i++)
            if (in->types[i].p || &in->types[i] == in->cur)
                inst_grow_type(&in->types[i], old, in->cap_inst);
    }
    *s = ++in->n_inst;
    return in->n_inst - 1;
}

/* ---- types and windows ------------------------------------------------ */

void cp_insights_begin_type(cp_insights_t *in, const char *type, const cp_profile_t *p, const cp_profile_t *counts)
{
    if (in->n_types == in->cap_types) {
        in->cap_types = in->cap_types ? in->cap_types * 2 : 8;
        in->types = cp__xrealloc(in->types, in->cap_types * sizeof *in->types);
    }
    cp__itype_t *t = &in->types[in->n_types++];
    memset(t, 0, sizeof *t);
    t->name = cp__xstrdup(type);
    t->p = p;
    t->counts = counts;
    t->span_lo = INT64_MAX;
    t->span_hi = INT64_MIN;
    in->cur = t;
    if (in->cap_inst)
        inst_grow_type(t, 0, in->cap_inst);
    memset(in->bucket_cover_type, 0, (in->n_buckets + 1) * sizeof *in->bucket_cover_type);
}

int cp_insights_add_window(void *ud, const cp_store_window_t *w)
{
    cp_insights_t *in = ud;
    cp__itype_t *t = in->cur;
    if (!t || !w->total)
        return 0;
    if (!t->ready)
        cp__insights_classify(in, t);
    int64_t slot = w->instance >= 0 ? (int64_t)inst_slot(in, w->instance) : -1;
    for (uint32_t c = 0; c < t->n_cand; c++)
        t->cand[c].win_val = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        cp__insights_hist_add(&t->hist_win, w->values[i]);
        if (w->stacks[i] >= t->p->n_stacks)
            continue;
        for (uint64_t m = t->mask[w->stacks[i]]; m; m &= m - 1)
            t->cand[__builtin_ctzll(m)].win_val += (double)w->values[i];
    }
    /* the worst window: the highest share among windows with enough
     * samples to mean something, else among all */
    bool big = (double)w->total / (t->q > 0 ? t->q : 1) >= CP__INSIGHTS_WORST_MIN;
    for (uint32_t c = 0; c < t->n_cand; c++) {
        cp__icand_t *k = &t->cand[c];
        double share = k->win_val / (double)w->total;
        if (k->win_val > 0 && (!k->has_worst || (big && !k->worst_big) ||
                               (big == k->worst_big && share > k->worst_share))) {
            k->worst_share = share;
            k->worst_from = w->start_ms;
            k->worst_to = w->end_ms;
            k->has_worst = true;
            k->worst_big = big;
        }
        if (slot >= 0)
            k->inst_val[slot] += k->win_val;
    }
    if (w->start_ms < t->span_lo)
        t->span_lo = w->start_ms;
    if (w->end_ms > t->span_hi)
        t->span_hi = w->end_ms;
    if (slot >= 0) {
        t->any_instance = true;
        t->inst_total[slot] += (double)w->total;
        if (w->start_ms < t->inst_lo[slot])
            t->inst_lo[slot] = w->start_ms;
        if (w->end_ms > t->inst_hi[slot])
            t->inst_hi[slot] = w->end_ms;
    }
    /* the JVM time this row covers, per minute of the range */
    for (int64_t x = w->start_ms > in->from_ms ? w->start_ms : in->from_ms; x < w->end_ms;) {
        int64_t b = (x - in->from_ms) / 60000, be = in->from_ms + (b + 1) * 60000;
        int64_t e = w->end_ms < be ? w->end_ms : be;
        if (b >= in->n_buckets)
            break;
        in->bucket_cover_type[b] += (double)(e - x);
        x = e;
    }
    return 0;
}

void cp_insights_end_type(cp_insights_t *in)
{
    cp__itype_t *t = in->cur;
    if (!t)
        return;
    for (uint32_t b = 0; b < in->n_buckets; b++)
        if (in->bucket_cover_type[b] > in->bucket_cover[b])
            in->bucket_cover[b] = in->bucket_cover_type[b];
    if (!t->ready)
        cp__insights_classify(in, t);
    cp__insights_samples_final(t);
    if (t->p && t->p->total) {
        for (uint32_t c = 0; c < t->n_cand; c++)
            cp__insights_cand_finish(in, t, &t->cand[c]);
        for (size_t i = 0; i < cp_n_irules; i++)
            if (cp_irules[i].kind == CP_IRULE_QUALITY && !strcmp(cp_irules[i].type, t->name))
                cp__insights_quality_extra(in, t, &cp_irules[i]);
    }
    type_fini(t);
    in->cur = NULL;
}

void cp_insights_cancel_type(cp_insights_t *in)
{
    cp__itype_t *t = in->cur;
    if (!t)
        return;
    type_fini(t);
    free(t->name);
    in->n_types--;
    in->cur = NULL;
}

void cp_insights_series_from(cp_insights_t *in, int64_t t_ms)
{
    in->series_from_ms = t_ms > in->from_ms ? t_ms : in->from_ms;
}

/* ---- series points ---------------------------------------------------- */

int cp_insights_add_point(void *ud, const cp_store_point_t *pt)
{
    cp_insights_t *in = ud;
    cp__iseries_t *s = NULL;
    for (uint32_t i = 0; i < in->n_series; i++)
        if (!strcmp(in->series[i].name, pt->name))
            s = &in->series[i];
    if (!s) {
        if (in->n_series == in->cap_series) {
            in->cap_series = in->cap_series ? in->cap_series * 2 : 8;
            in->series = cp__xrealloc(in->series, in->cap_series * sizeof *in->series);
        }
        s = &in->series[in->n_series++];
        memset(s, 0, sizeof *s);
        s->name = cp__xstrdup(pt->name);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->t = cp__xrealloc(s->t, s->cap * sizeof *s->t);
        s->v = cp__xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->t[s->n] = pt->t_ms;
    s->v[s->n++] = pt->value;
    return 0;
}

/* ---- finish ----------------------------------------------------------- */

static int cmp_rank(const void *a, const void *b)
{
    const cp_insights_finding_t *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? 1 : -1;
    if (x->severity != y->severity)
        return y->severity - x->severity;
    return strcmp(x->rule, y->rule);
}

void cp_insights_finish(cp_insights_t *in)
{
    if (in->finished)
        return;
    in->finished = true;
    if (in->cur)
        cp_insights_end_type(in);
    cp__insights_series_rules(in);
    if (in->n_f)   /* qsort(NULL, 0, ...) is undefined (UBSan says so) */
        qsort(in->f, in->n_f, sizeof *in->f, cmp_rank);
    /* at most CP_INSIGHTS_MAX_PER_TYPE per type, best ranked first */
    uint32_t out = 0;
    for (uint32_t i = 0; i < in->n_f; i++) {
        uint32_t same = 0;
        for (uint32_t k = 0; k < out; k++)
            same += !strcmp(in->f[k].type, in->f[i].type);
        if (same < CP_INSIGHTS_MAX_PER_TYPE)
            in->f[out++] = in->f[i];
    }
    in->n_f = out;
    /* a rule with a finding of its type is not also "not enough data" */
    uint32_t k = 0;
    for (uint32_t i = 0; i < in->n_sh; i++) {
        bool has = false;
        for (uint32_t j = 0; j < in->n_f; j++)
            has |= !strcmp(in->f[j].rule, in->sh[i].rule) && !strcmp(in->f[j].type, in->sh[i].type);
        if (!has)
            in->sh[k++] = in->sh[i];
    }
    in->n_sh = k;
}

uint32_t cp_insights_n_findings(const cp_insights_t *in) { return in->n_f; }
const cp_insights_finding_t *cp_insights_finding(const cp_insights_t *in, uint32_t i)
{
    return i < in->n_f ? &in->f[i] : NULL;
}
uint32_t cp_insights_n_short(const cp_insights_t *in) { return in->n_sh; }
const cp_insights_short_t *cp_insights_short(const cp_insights_t *in, uint32_t i)
{
    return i < in->n_sh ? &in->sh[i] : NULL;
}

const cp_insights_finding_t *cp_insights_find(const cp_insights_t *in, const char *rule)
{
    for (uint32_t i = 0; i < in->n_f; i++)
        if (!strcmp(in->f[i].rule, rule))
            return &in->f[i];
    return NULL;
}
