/* insights_classify.c - the insights engine's classification of one
 * profile type (insights_int.h): the sample unit of the type, the
 * candidates of its rule rows (one per pattern row, the five largest groups
 * of a grouped row), a bit mask per merged stack saying which candidates
 * it matches, and the evidence each matched stack adds (value, samples,
 * matched frames, the user-code caller, the example stack).
 *
 * Matching: each function name gets bit masks over the candidates (matches
 * a plain pattern, the A or the B side of an "A > B" pair, an exclude); a
 * stack's mask is the OR of its frames' masks with the order rule for
 * "A > B", minus excluded candidates, plus the candidate its group key
 * selects (hot leaf, hot site, lock class).
 *
 * Samples: a type's values are not sample counts (ns, bytes); one sample
 * is estimated as q. For cpu q = the most frequent per-window stack value
 * (2 % bins; of the merged values without windows), capped at the median:
 * one sample weighs about the interval (the CPU time measured between two
 * ticks, never exactly the same) and most windows hold many stacks seen
 * once. For wall q = the gcd of the values: every wall sample weighs
 * exactly the interval. For allocations q =
 * the smallest value: a sample weighs s/p >= the sampling interval, about
 * the interval for small objects, while hot sites gather many samples per
 * window. Exact counts come from a companion profile where the agent
 * sends one (lock_count for lock).
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stack_dict.h"

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Log-scale histogram of (stack, row) values: 32 bins per octave, each
 * with the sum of its values (so a bin of equal values gives them back
 * exactly), and the values' gcd. */
void cp__insights_hist_add(cp__ihist_t *h, uint64_t v)
{
    if (!v)
        return;
    int bin = (int)(log2((double)v) * CP__INSIGHTS_HIST_PER_OCTAVE);
    bin = bin < 0 ? 0 : bin >= CP__INSIGHTS_HIST_BINS ? CP__INSIGHTS_HIST_BINS - 1 : bin;
    h->n[bin]++;
    h->sum[bin] += (double)v;
    h->gcd = gcd64(h->gcd, v);
}

/* The sample unit from a histogram, 0 if empty. CP__IQ_GCD: the gcd;
 * CP__IQ_MIN: the mean of the lowest bin; CP__IQ_MODE: the mean of the
 * most populated bin (ties: the lower), never above the median's bin. */
static double hist_unit(const cp__ihist_t *h, int how)
{
    uint64_t n = 0, k = 0;
    int mode = -1, median = -1;
    if (how == CP__IQ_GCD)
        return (double)h->gcd;
    for (int i = 0; i < CP__INSIGHTS_HIST_BINS; i++)
        n += h->n[i];
    if (!n)
        return 0;
    for (int i = 0; i < CP__INSIGHTS_HIST_BINS; i++) {
        if (!h->n[i])
            continue;
        if (how == CP__IQ_MIN)
            return h->sum[i] / h->n[i];
        if (median < 0 && (k += h->n[i]) * 2 >= n)
            median = i;
        if (mode < 0 || h->n[i] > h->n[mode])
            mode = i;
    }
    int i = mode <= median ? mode : median;
    return h->sum[i] / h->n[i];
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
    t->qhow = !strcmp(t->name, "cpu") ? CP__IQ_MODE : !strcmp(t->name, "wall") ? CP__IQ_GCD : CP__IQ_MIN;
    for (uint32_t s = 0; s < p->n_stacks; s++)
        cp__insights_hist_add(&t->hist_prof, p->values[s]);
    t->q = hist_unit(&t->hist_prof, t->qhow);
    if (t->q <= 0)
        t->q = 1;
    t->samples = t->total / t->q;
}

/* The final sample unit, from the windows' values where there were
 * windows (finer: more single samples); candidates' samples from their
 * values. */
void cp__insights_samples_final(cp__itype_t *t)
{
    if (t->count_of)
        return;
    double q = hist_unit(&t->hist_win, t->qhow);
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

void cp__insights_classify(cp_insights_t *in, cp__itype_t *t)
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
