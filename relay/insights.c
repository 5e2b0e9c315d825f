/* insights.c - the insights engine (insights.h): per profile type it
 * classifies every merged stack once against the type's rule rows
 * (insights_rules.h), sums the matched value per candidate finding, per
 * window and per instance, and turns candidates into findings with their
 * evidence; at the end it ranks them and keeps at most
 * CP_INSIGHTS_MAX_PER_TYPE per type.
 *
 * Classification: each function name gets three bit masks over the type's
 * candidates (matches a plain pattern, the A or the B side of an "A > B"
 * pattern, an exclude); a stack's mask is the OR of its frames' masks
 * (with the order rule for A > B), minus excluded candidates, plus the
 * candidate its group key selects (hot leaf, hot site, lock class). A
 * window then costs one mask lookup per stack.
 *
 * Samples: a type's values are not sample counts (ns, bytes); one sample
 * is estimated as q. For cpu and wall q = the 5th percentile of the
 * per-window stack values (of the merged values without windows): one
 * sample weighs about the interval (the CPU time measured between two
 * ticks) and most windows hold many stacks seen once. For allocations q =
 * the smallest value: a sample weighs s/p >= the sampling interval, about
 * the interval for small objects, while hot sites gather many samples per
 * window. Exact counts come from a companion profile where the agent
 * sends one (lock_count for lock).
 * docs/insights.md explains the estimates.
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_dict.h"
#include "store_tier.h"

/* ---- engine bookkeeping ---------------------------------------------- */

cp_insights_t *cp_insights_create(const char *app, const char *labels, int64_t from_ms, int64_t to_ms)
{
    cp_insights_t *in = cp__xcalloc(1, sizeof *in);
    in->app = cp__xstrdup(app ? app : "");
    in->labels = cp__xstrdup(labels ? labels : "");
    in->from_ms = from_ms;
    in->to_ms = to_ms > from_ms ? to_ms : from_ms + 1;
    int64_t nb = (in->to_ms - in->from_ms + 59999) / 60000;
    in->n_buckets = nb > 0 && nb < (1 << 22) ? (uint32_t)nb : 0;
    in->bucket_inst = cp__xcalloc(in->n_buckets + 1, sizeof *in->bucket_inst);
    in->bucket_seen_type = cp__xcalloc(in->n_buckets + 1, sizeof *in->bucket_seen_type);
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
    free(in->inst_last_bucket);
    free(in->bucket_inst);
    free(in->bucket_seen_type);
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
        in->inst_last_bucket = cp__xrealloc(in->inst_last_bucket, in->cap_inst * sizeof(int64_t));
        for (uint32_t i = old; i < in->cap_inst; i++)
            in->inst_last_bucket[i] = -1;
        for (uint32_t i = 0; i < in->n_types; i++)
            if (in->types[i].p || &in->types[i] == in->cur)
                inst_grow_type(&in->types[i], old, in->cap_inst);
    }
    *s = ++in->n_inst;
    return in->n_inst - 1;
}

/* ---- classification --------------------------------------------------- */

/* Log-scale histogram of (stack, row) values: 32 bins per octave, each
 * with the sum of its values (so a bin of equal values gives them back
 * exactly). */
static void hist_add(cp__ihist_t *h, uint64_t v)
{
    if (!v)
        return;
    int bin = (int)(log2((double)v) * CP__INSIGHTS_HIST_PER_OCTAVE);
    bin = bin < 0 ? 0 : bin >= CP__INSIGHTS_HIST_BINS ? CP__INSIGHTS_HIST_BINS - 1 : bin;
    h->n[bin]++;
    h->sum[bin] += (double)v;
}

/* The mean value of the bin holding the 5th percentile (by_min: the
 * lowest bin), 0 if empty. */
static double hist_low(const cp__ihist_t *h, bool by_min)
{
    uint64_t n = 0, k = 0;
    for (int i = 0; i < CP__INSIGHTS_HIST_BINS; i++)
        n += h->n[i];
    if (!n)
        return 0;
    uint64_t want = by_min ? 1 : (n + 19) / 20;
    for (int i = 0; i < CP__INSIGHTS_HIST_BINS; i++)
        if ((k += h->n[i]) >= want)
            return h->sum[i] / h->n[i];
    return 0;
}

static uint64_t stack_hash(const cp_profile_t *p, uint32_t s)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t k = p->stack_off[s]; k < p->stack_off[s + 1]; k++) {
        const char *nm = p->names[p->funcs[k]];
        h = (h ^ cp__hash_bytes(nm, strlen(nm))) * 1099511628211ull;
    }
    return h;
}

/* Samples per stack from the companion counts profile (same stacks by
 * their names), and q. */
static void sample_unit(cp__itype_t *t)
{
    const cp_profile_t *p = t->p;
    t->total = (double)p->total;
    if (t->counts && t->counts->total) {
        cp__hmap_t idx = {0};
        for (uint32_t s = 0; s < t->counts->n_stacks; s++)
            *cp__hmap_slot(&idx, stack_hash(t->counts, s), 1) = s + 1;
        t->count_of = cp__xcalloc(p->n_stacks + 1, sizeof *t->count_of);
        double sum = 0;
        for (uint32_t s = 0; s < p->n_stacks; s++) {
            uint32_t *c = cp__hmap_slot(&idx, stack_hash(p, s), 0);
            t->count_of[s] = c ? (double)t->counts->values[*c - 1] : 1;
            sum += t->count_of[s];
        }
        cp__hmap_free(&idx);
        t->samples = sum;
        t->q = sum > 0 ? t->total / sum : 1;
        return;
    }
    t->by_min = strcmp(t->name, "cpu") && strcmp(t->name, "wall");
    for (uint32_t s = 0; s < p->n_stacks; s++)
        hist_add(&t->hist_prof, p->values[s]);
    t->q = hist_low(&t->hist_prof, t->by_min);
    if (t->q <= 0)
        t->q = 1;
    t->samples = t->total / t->q;
}

/* The final sample unit, from the windows' values where there were
 * windows (finer: more single samples); candidates' samples from their
 * values. */
static void samples_final(cp__itype_t *t)
{
    if (t->count_of)
        return;
    double q = hist_low(&t->hist_win, t->by_min);
    if (q > 0)
        t->q = q;
    t->samples = t->total / t->q;
    for (uint32_t c = 0; c < t->n_cand; c++)
        t->cand[c].samples = t->cand[c].value / t->q;
}


static bool kind_is_java(uint8_t k) { return k <= CP_FRAME_NATIVE; }

/* Group key of stack s for a grouped row, or -1. */
static int64_t group_key(const cp_profile_t *p, uint32_t s, cp_irule_kind_t kind)
{
    uint32_t a = p->stack_off[s], b = p->stack_off[s + 1];
    if (a == b)
        return -1;
    uint32_t leaf = p->funcs[b - 1];
    switch (kind) {
    case CP_IRULE_HOT_LEAF:   /* a Java or native leaf of a stack with Java frames
                               * (GC and JIT threads have their own rules) */
        if (!kind_is_java(p->kinds[leaf]))
            return -1;
        for (uint32_t k = a; k < b; k++)
            if (p->kinds[p->funcs[k]] <= CP_FRAME_INLINED)
                return leaf;
        return -1;
    case CP_IRULE_LOCK_CLASS:
        return p->kinds[leaf] == CP_FRAME_LOCK ? (int64_t)leaf : -1;
    case CP_IRULE_HOT_SITE:
        for (uint32_t k = b; k-- > a;)
            if (cp_irule_is_user(p->names[p->funcs[k]], p->kinds[p->funcs[k]]))
                return p->funcs[k];
        return -1;
    default:
        return -1;
    }
}

static bool stack_failed(const cp_profile_t *p, uint32_t s)
{
    for (uint32_t k = p->stack_off[s]; k < p->stack_off[s + 1]; k++)
        if (p->kinds[p->funcs[k]] == CP_FRAME_ERROR)
            return true;
    return false;
}

static cp__icand_t *add_cand(cp__itype_t *t, const cp_irule_t *r, int64_t group)
{
    if (t->n_cand == CP__INSIGHTS_MAX_CANDS)
        return NULL;
    cp__icand_t *c = &t->cand[t->n_cand++];
    memset(c, 0, sizeof *c);
    c->rule = r;
    c->group = group;
    return c;
}

/* The top groups of a grouped row by value: candidates. */
static void add_group_cands(cp__itype_t *t, const cp_irule_t *r)
{
    const cp_profile_t *p = t->p;
    double *by = cp__xcalloc(p->n_names + 1, sizeof *by);
    for (uint32_t s = 0; s < p->n_stacks; s++) {
        int64_t g = group_key(p, s, r->kind);
        if (g >= 0)
            by[g] += (double)p->values[s];
    }
    for (int k = 0; k < CP_INSIGHTS_MAX_PER_TYPE; k++) {
        int64_t best = -1;
        for (uint32_t n = 0; n < p->n_names; n++)
            if (by[n] > 0 && (best < 0 || by[n] > by[best]))
                best = n;
        if (best < 0)
            break;
        add_cand(t, r, best);
        by[best] = 0;
    }
    free(by);
}

/* Does name match the plain forms of a pattern list (A > B pairs: the side
 * asked: 0 plain, 1 A, 2 B)? */
static bool list_match(const char *const *pats, const char *name, size_t nlen, int side)
{
    for (; *pats; pats++) {
        const char *gt = strstr(*pats, CP_IRULE_ORDER);
        if (!gt) {
            if (side == 0 && cp_irule_name_match(*pats, strlen(*pats), name, nlen))
                return true;
        } else if (side == 1 && cp_irule_name_match(*pats, (size_t)(gt - *pats), name, nlen)) {
            return true;
        } else if (side == 2 && cp_irule_name_match(gt + 3, strlen(gt + 3), name, nlen)) {
            return true;
        }
    }
    return false;
}

/* The caller charged for a match at position pos of stack s: the first
 * user-code frame at or nearer the root than pos (from pos - 1 when
 * from_parent), else the matched frame itself. */
static uint32_t caller_of(const cp_profile_t *p, uint32_t s, uint32_t pos, bool from_parent)
{
    uint32_t a = p->stack_off[s];
    for (uint32_t k = from_parent ? pos : pos + 1; k-- > a;)
        if (cp_irule_is_user(p->names[p->funcs[k]], p->kinds[p->funcs[k]]))
            return p->funcs[k];
    return p->funcs[pos];
}

static void cand_caller(cp__icand_t *c, uint32_t name, double v)
{
    uint32_t *slot = cp__hmap_slot(&c->callers, name, 1);
    if (!*slot) {
        if (c->n_cl == c->cap_cl) {
            c->cap_cl = c->cap_cl ? c->cap_cl * 2 : 8;
            c->cl = cp__xrealloc(c->cl, c->cap_cl * sizeof *c->cl);
        }
        c->cl[c->n_cl] = (typeof(c->cl[0])){name, 0};
        *slot = ++c->n_cl;
    }
    c->cl[*slot - 1].value += v;
}

static void cand_frame(cp__icand_t *c, uint32_t name, double v)
{
    for (uint32_t i = 0; i < c->n_frames; i++)
        if (c->frames[i].name == name) {
            c->frames[i].value += v;
            return;
        }
    if (c->n_frames < CP_INSIGHTS_MAX_FRAMES)
        c->frames[c->n_frames++] = (typeof(c->frames[0])){name, v};
}

/* Records the evidence of stack s for candidate c. */
static void cand_stack(cp__itype_t *t, cp__icand_t *c, uint32_t s, const uint64_t *plain, const uint64_t *pa,
                       const uint64_t *pb, uint64_t bit)
{
    const cp_profile_t *p = t->p;
    uint32_t a = p->stack_off[s], b = p->stack_off[s + 1];
    double v = (double)p->values[s];
    c->value += v;
    if (t->count_of)
        c->samples += t->count_of[s];   /* else value / q once q is final */
    if (p->values[s] > c->best_value) {
        c->best_value = p->values[s];
        c->best_stack = s;
    }
    uint32_t pos = b - 1;
    bool from_parent = true;
    if (c->rule->kind == CP_IRULE_PATTERN) {
        /* the outermost matched frame (or B frame of an A > B pair) */
        bool seen_a = false;
        for (uint32_t k = a; k < b; k++) {
            uint32_t f = p->funcs[k];
            if ((plain[f] & bit) || (seen_a && (pb[f] & bit))) {
                pos = k;
                break;
            }
            seen_a |= (pa[f] & bit) != 0;
        }
        from_parent = false;
    } else if (c->rule->kind == CP_IRULE_QUALITY) {
        for (uint32_t k = a; k < b; k++)
            if (p->kinds[p->funcs[k]] == CP_FRAME_ERROR) {
                pos = k;
                break;
            }
    } else if (c->rule->kind == CP_IRULE_HOT_SITE) {
        for (uint32_t k = b; k-- > a;)
            if ((int64_t)p->funcs[k] == c->group) {
                pos = k;
                break;
            }
    }
    cand_frame(c, p->funcs[pos], v);
    cand_caller(c, caller_of(p, s, pos, from_parent), v);
}

static void classify(cp_insights_t *in, cp__itype_t *t)
{
    const cp_profile_t *p = t->p;
    t->ready = true;
    t->unit = cp__insights_keep(in, p->unit ? p->unit : "");
    sample_unit(t);
    for (size_t i = 0; i < cp_n_irules; i++) {
        const cp_irule_t *r = &cp_irules[i];
        if (strcmp(r->type, t->name) || r->kind == CP_IRULE_SERIES)
            continue;
        if (r->kind == CP_IRULE_PATTERN || r->kind == CP_IRULE_QUALITY)
            add_cand(t, r, -1);
        else
            add_group_cands(t, r);
    }
    for (uint32_t c = 0; c < t->n_cand; c++)
        t->cand[c].inst_val = cp__xcalloc(in->cap_inst + 1, sizeof(double));
    uint64_t *plain = cp__xcalloc(p->n_names + 1, sizeof *plain), *pa = cp__xcalloc(p->n_names + 1, sizeof *pa);
    uint64_t *pb = cp__xcalloc(p->n_names + 1, sizeof *pb), *ex = cp__xcalloc(p->n_names + 1, sizeof *ex);
    uint64_t grouped = 0, quality = 0;
    size_t *nlen = cp__xcalloc(p->n_names + 1, sizeof *nlen);
    for (uint32_t n = 0; n < p->n_names; n++)
        nlen[n] = strlen(p->names[n]);
    for (uint32_t c = 0; c < t->n_cand; c++) {
        const cp_irule_t *r = t->cand[c].rule;
        uint64_t bit = 1ull << c;
        if (r->kind == CP_IRULE_QUALITY)
            quality |= bit;
        if (r->kind != CP_IRULE_PATTERN) {
            grouped |= r->kind == CP_IRULE_QUALITY ? 0 : bit;
            continue;
        }
        bool ordered = false;
        for (const char *const *q = r->patterns; *q; q++)
            ordered |= strstr(*q, CP_IRULE_ORDER) != NULL;
        for (uint32_t n = 0; n < p->n_names; n++) {
            const char *nm = p->names[n];
            size_t len = nlen[n];
            plain[n] |= list_match(r->patterns, nm, len, 0) ? bit : 0;
            if (ordered) {
                pa[n] |= list_match(r->patterns, nm, len, 1) ? bit : 0;
                pb[n] |= list_match(r->patterns, nm, len, 2) ? bit : 0;
            }
            ex[n] |= list_match(r->excludes, nm, len, 0) ? bit : 0;
        }
    }
    t->mask = cp__xcalloc(p->n_stacks + 1, sizeof *t->mask);
    for (uint32_t s = 0; s < p->n_stacks; s++) {
        uint64_t m = 0, seen_a = 0, excl = 0;
        for (uint32_t k = p->stack_off[s]; k < p->stack_off[s + 1]; k++) {
            uint32_t f = p->funcs[k];
            m |= plain[f] | (pb[f] & seen_a);
            seen_a |= pa[f];
            excl |= ex[f];
        }
        m &= ~excl;
        if (grouped) {
            for (uint32_t c = 0; c < t->n_cand; c++)
                if ((grouped >> c & 1) && group_key(p, s, t->cand[c].rule->kind) == t->cand[c].group)
                    m |= 1ull << c;
        }
        if (quality && stack_failed(p, s))
            m |= quality;
        t->mask[s] = m;
        for (uint64_t mm = m; mm; mm &= mm - 1) {
            uint32_t c = (uint32_t)__builtin_ctzll(mm);
            cand_stack(t, &t->cand[c], s, plain, pa, pb, 1ull << c);
        }
    }
    free(nlen);
    free(plain);
    free(pa);
    free(pb);
    free(ex);
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
    for (uint32_t i = 0; i < in->cap_inst; i++)
        in->inst_last_bucket[i] = -1;
    memset(in->bucket_seen_type, 0, (in->n_buckets + 1) * sizeof *in->bucket_seen_type);
}

int cp_insights_add_window(void *ud, const cp_store_window_t *w)
{
    cp_insights_t *in = ud;
    cp__itype_t *t = in->cur;
    if (!t || !w->total)
        return 0;
    if (!t->ready)
        classify(in, t);
    int64_t slot = w->instance >= 0 ? (int64_t)inst_slot(in, w->instance) : -1;
    for (uint32_t c = 0; c < t->n_cand; c++)
        t->cand[c].win_val = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        hist_add(&t->hist_win, w->values[i]);
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
        int64_t b = (w->start_ms - in->from_ms) / 60000;
        if (b >= 0 && b < in->n_buckets && in->inst_last_bucket[slot] != b) {
            in->inst_last_bucket[slot] = b;
            if (++in->bucket_seen_type[b] > in->bucket_inst[b])
                in->bucket_inst[b] = in->bucket_seen_type[b];
        }
    }
    return 0;
}

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
static void cand_finish(cp_insights_t *in, cp__itype_t *t, cp__icand_t *c)
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
static void quality_extra(cp_insights_t *in, cp__itype_t *t, const cp_irule_t *r)
{
    const cp_profile_t *p = t->p;
    const char *what = NULL;
    char detail[160];
    if (t->samples > 0 && t->samples < 1000) {
        double lo, hi;
        cp_insights_wilson(t->samples * 0.1, t->samples, &lo, &hi);
        snprintf(detail, sizeof detail, "only %.0f samples in the range: a 10%% share is known to +-%.1f%%",
                 t->samples, (hi - lo) * 50);
        what = "Too few samples";
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
    f->severity = CP_INSIGHTS_INFO;
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

void cp_insights_end_type(cp_insights_t *in)
{
    cp__itype_t *t = in->cur;
    if (!t)
        return;
    if (!t->ready)
        classify(in, t);
    samples_final(t);
    if (t->p && t->p->total) {
        for (uint32_t c = 0; c < t->n_cand; c++)
            cand_finish(in, t, &t->cand[c]);
        for (size_t i = 0; i < cp_n_irules; i++)
            if (cp_irules[i].kind == CP_IRULE_QUALITY && !strcmp(cp_irules[i].type, t->name))
                quality_extra(in, t, &cp_irules[i]);
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
