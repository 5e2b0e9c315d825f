/* insights_evidence.c - turns a candidate of the insights engine into a
 * finding (insights_int.h): share and its Wilson interval, the metric
 * against the row's thresholds, matched frames and callers by value, the
 * example stack, worst window, instances with/of, the saving; and the
 * profile-quality findings that are not about matched stacks (too few
 * samples, no inlined frames).
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_dict.h"

/* profile-quality: under this many samples "Too few samples" is an INFO
 * (a 10 % share is then known to about +-3 %), under CP_INSIGHTS_MIN_SAMPLES
 * a WARN (no rule can judge anything) */
#define FEW_SAMPLES 500

/* Seconds the type's data covers: its windows' span, else the range. */
static double type_span_s(const cp_insights_t *in, const cp__itype_t *t)
{
    int64_t lo = t->span_lo, hi = t->span_hi;
    if (lo >= hi) {
        lo = in->from_ms;
        hi = in->to_ms;
    }
    return (double)(hi - lo) / 1000.0;
}

/* The saving unit of a type, and its cost rate per value and second. */
static const char *type_unit(const char *type, double *per_value)
{
    if (!strcmp(type, "cpu")) {
        *per_value = 1e-9;
        return "cores";
    }
    if (!strcmp(type, "alloc")) {
        *per_value = 1;
        return "bytes/s";
    }
    *per_value = 1e-9;   /* wall, lock: ns -> thread-seconds */
    return "threads";
}

static int cmp_val_desc(const void *a, const void *b)
{
    double x = ((const double *)a)[1], y = ((const double *)b)[1];
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Turns candidate c into a finding if it passes; else maybe a short note. */
void cp__insights_cand_finish(cp_insights_t *in, cp__itype_t *t, cp__icand_t *c)
{
    const cp_irule_t *r = c->rule;
    const cp_profile_t *p = t->p;
    if (c->samples < CP_INSIGHTS_MIN_SAMPLES) {
        /* a pattern row that matched at all; a group (hot method, site,
         * lock) only if its share would have been a finding */
        bool would = r->metric == CP_IMETRIC_SHARE && t->total > 0 && c->value / t->total >= r->info;
        if (c->samples >= 0.5 && (r->kind == CP_IRULE_PATTERN || (r->kind != CP_IRULE_QUALITY && would)))
            cp__insights_add_short(in, r->id, t->name, floor(c->samples + 0.5), CP_INSIGHTS_MIN_SAMPLES);
        return;
    }
    double per_value, span = type_span_s(in, t);
    const char *unit = type_unit(t->name, &per_value);
    double share = t->total > 0 ? c->value / t->total : 0, lo, hi;
    cp_insights_wilson(c->samples, t->samples, &lo, &hi);
    double rate = span > 0 ? c->value * per_value / span : 0;
    double metric = r->metric == CP_IMETRIC_SHARE ? share : rate;
    int sev = cp__insights_severity(r, metric, lo);
    if (!sev)
        return;
    cp_insights_finding_t *f = cp__insights_add_finding(in);
    f->rule = r->id;
    f->title = r->title;
    f->type = cp__insights_keep(in, t->name);
    f->fix = r->fix;
    f->severity = sev;
    f->share = share;
    f->ci_lo = lo;
    f->ci_hi = hi;
    f->samples = floor(c->samples + 0.5);
    f->metric = metric;
    f->metric_unit = r->metric == CP_IMETRIC_SHARE ? "share" : unit;
    f->info = r->info;
    f->warn = r->warn;
    /* frames by value */
    double fr[CP_INSIGHTS_MAX_FRAMES][2];
    for (uint32_t i = 0; i < c->n_frames; i++) {
        fr[i][0] = c->frames[i].name;
        fr[i][1] = c->frames[i].value;
    }
    qsort(fr, c->n_frames, sizeof fr[0], cmp_val_desc);
    for (uint32_t i = 0; i < c->n_frames; i++)
        f->frames[f->n_frames++] = cp__insights_keep(in, p->names[(uint32_t)fr[i][0]]);
    /* top callers */
    double (*cl)[2] = cp__xcalloc(c->n_cl + 1, sizeof *cl);
    for (uint32_t i = 0; i < c->n_cl; i++) {
        cl[i][0] = c->cl[i].name;
        cl[i][1] = c->cl[i].value;
    }
    qsort(cl, c->n_cl, sizeof cl[0], cmp_val_desc);
    for (uint32_t i = 0; i < c->n_cl && i < CP_INSIGHTS_MAX_CALLERS; i++) {
        cp_insights_caller_t *k = &f->callers[f->n_callers++];
        k->name = cp__insights_keep(in, p->names[(uint32_t)cl[i][0]]);
        k->share = t->total > 0 ? cl[i][1] / t->total : 0;
        k->samples = floor(cl[i][1] / (c->value > 0 ? c->value : 1) * c->samples + 0.5);
    }
    free(cl);
    /* example stack, root first */
    uint32_t a = p->stack_off[c->best_stack], b = p->stack_off[c->best_stack + 1];
    const char **st = cp__xcalloc(b - a + 1, sizeof *st);
    for (uint32_t k = a; k < b; k++)
        st[k - a] = cp__insights_keep(in, p->names[p->funcs[k]]);
    if (in->n_stacks == in->cap_stacks) {
        in->cap_stacks = in->cap_stacks ? in->cap_stacks * 2 : 16;
        in->stacks = cp__xrealloc(in->stacks, in->cap_stacks * sizeof *in->stacks);
    }
    in->stacks[in->n_stacks++] = st;
    f->stack = st;
    f->stack_len = b - a;
    f->has_worst = c->has_worst;
    f->worst_from_ms = c->worst_from;
    f->worst_to_ms = c->worst_to;
    f->worst_share = c->worst_share;
    if (t->any_instance) {
        f->has_instances = true;
        for (uint32_t i = 0; i < in->n_inst; i++) {
            if (t->inst_total[i] <= 0)
                continue;
            f->inst_of++;
            double ispan = (double)(t->inst_hi[i] - t->inst_lo[i]) / 1000.0;
            double im = r->metric == CP_IMETRIC_SHARE ? c->inst_val[i] / t->inst_total[i]
                                                      : (ispan > 0 ? c->inst_val[i] * per_value / ispan : 0);
            if (im >= r->info)
                f->inst_with++;
        }
    }
    f->saving = rate * r->fixable;
    f->saving_unit = r->fixable > 0 ? unit : "";
    cp__insights_saving_text(f->saving_text, sizeof f->saving_text, f->saving, f->saving_unit);
    f->rank = cp__insights_rank(f->saving, f->saving_unit);
}

/* profile-quality beyond failed samples: too few samples, no inlined frames. */
void cp__insights_quality_extra(cp_insights_t *in, cp__itype_t *t, const cp_irule_t *r)
{
    const cp_profile_t *p = t->p;
    const char *what = NULL;
    char detail[160];
    int sev = CP_INSIGHTS_INFO;
    if (t->samples > 0 && t->samples < FEW_SAMPLES) {
        double lo, hi;
        cp_insights_wilson(t->samples * 0.1, t->samples, &lo, &hi);
        snprintf(detail, sizeof detail, "only %.0f samples in the range: a 10%% share is known to +-%.1f%%%s",
                 t->samples, (hi - lo) * 50,
                 t->samples < CP_INSIGHTS_MIN_SAMPLES ? "; no rule can judge fewer than 50" : "");
        what = "Too few samples";
        if (t->samples < CP_INSIGHTS_MIN_SAMPLES)
            sev = CP_INSIGHTS_WARN;
    } else {
        bool compiled = false, inlined = false;
        for (uint32_t n = 0; n < p->n_names; n++) {
            compiled |= p->kinds[n] == CP_FRAME_COMPILED;
            inlined |= p->kinds[n] == CP_FRAME_INLINED;
        }
        if (compiled && !inlined && t->samples >= 1000) {
            snprintf(detail, sizeof detail, "no inlined frames among %.0f samples of JIT-compiled code: "
                     "DebugNonSafepoints is probably off, so time is charged to callers", t->samples);
            what = "Inlined frames are not seen";
        }
    }
    if (!what)
        return;
    cp_insights_finding_t *f = cp__insights_add_finding(in);
    f->rule = r->id;
    f->title = what;
    f->type = cp__insights_keep(in, t->name);
    f->fix = r->fix;
    f->severity = sev;
    f->samples = floor(t->samples + 0.5);
    f->share = 1;
    f->ci_lo = f->ci_hi = 1;
    f->metric_unit = "share";
    f->info = r->info;
    f->warn = r->warn;
    f->saving_unit = "";
    cp__insights_saving_text(f->saving_text, sizeof f->saving_text, 0, "");
    snprintf(f->detail, sizeof f->detail, "%s", detail);
}
