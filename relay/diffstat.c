/* diffstat.c - per-method tests of a diff (diffstat.h; the design and its
 * reasons are in docs/diff.md).
 *
 * Accumulation is one pass and O(methods) memory per side: for each method
 * the sums over windows of x, x^2, x*t, x*d and x/unit (x the method's
 * inclusive value in a window, t the window's total, d its seconds), which
 * is all the cluster-robust variance of a ratio estimator needs. The first
 * CP__DIFFSTAT_SMALL windows of each side are also kept whole, for the
 * block bootstrap used when a side has fewer than opts.boot_below windows.
 *
 * Invariants: between window_begin and window_end, cur[m] holds method m's
 * value so far and m is listed in touched iff cur[m] != 0 or it was added;
 * outside a window cur is all zeros and touched empty.
 * Thread: the owner of the cp_diffstat_t. */
#include "diffstat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rutil.h"

#define CP__DIFFSTAT_SMALL 16    /* windows kept whole per side (bootstrap) */
#define DF_INF 1e9               /* a side whose variance is the binomial floor */

typedef struct side_acc {
    uint32_t W;
    double   St, Stt, Sd, Sdd, Std, Sn;           /* totals, seconds, samples */
    double  *Sx, *Sxx, *Sxt, *Sxd, *Sxn;          /* per method */
    /* the first windows, whole */
    double  *wx[CP__DIFFSTAT_SMALL];
    double   wt[CP__DIFFSTAT_SMALL], wd[CP__DIFFSTAT_SMALL];
    int64_t  wblock[CP__DIFFSTAT_SMALL];
} side_acc_t;

struct cp_diffstat {
    uint32_t   n;
    side_acc_t s[2];
    /* the open window */
    int        side;          /* -1: none open or ignored */
    double     t, d, unit;
    int64_t    block;
    double    *cur;
    uint32_t  *touched;
    uint32_t   n_touched;
    uint8_t   *mark;
};

void cp_diffstat_opts_default(cp_diffstat_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->norm = CP_DIFF_NORM_SHARE;
    o->threshold.value = 0.02;
    o->threshold.relative = false;
    o->q = 0.05;
    o->min_samples = 30;
    o->boot_below = 10;
    o->boot_reps = 1000;
    o->seed = 0x6a09e667f3bcc908ull;
}

cp_diffstat_t *cp_diffstat_create(uint32_t n_methods)
{
    cp_diffstat_t *d = cp__xcalloc(1, sizeof *d);
    d->n = n_methods;
    d->side = -1;
    for (int s = 0; s < 2; s++) {
        side_acc_t *a = &d->s[s];
        a->Sx = cp__xcalloc(n_methods, sizeof(double));
        a->Sxx = cp__xcalloc(n_methods, sizeof(double));
        a->Sxt = cp__xcalloc(n_methods, sizeof(double));
        a->Sxd = cp__xcalloc(n_methods, sizeof(double));
        a->Sxn = cp__xcalloc(n_methods, sizeof(double));
    }
    d->cur = cp__xcalloc(n_methods, sizeof *d->cur);
    d->touched = cp__xcalloc(n_methods, sizeof *d->touched);
    d->mark = cp__xcalloc(n_methods, 1);
    return d;
}

void cp_diffstat_destroy(cp_diffstat_t *d)
{
    if (!d)
        return;
    for (int s = 0; s < 2; s++) {
        side_acc_t *a = &d->s[s];
        free(a->Sx);
        free(a->Sxx);
        free(a->Sxt);
        free(a->Sxd);
        free(a->Sxn);
        for (int w = 0; w < CP__DIFFSTAT_SMALL; w++)
            free(a->wx[w]);
    }
    free(d->cur);
    free(d->touched);
    free(d->mark);
    free(d);
}

static double *grow(double *v, uint32_t old, uint32_t n)
{
    v = cp__xrealloc(v, (size_t)n * sizeof *v);
    memset(v + old, 0, (size_t)(n - old) * sizeof *v);
    return v;
}

void cp_diffstat_reserve(cp_diffstat_t *d, uint32_t n)
{
    if (n <= d->n)
        return;
    for (int s = 0; s < 2; s++) {
        side_acc_t *a = &d->s[s];
        a->Sx = grow(a->Sx, d->n, n);
        a->Sxx = grow(a->Sxx, d->n, n);
        a->Sxt = grow(a->Sxt, d->n, n);
        a->Sxd = grow(a->Sxd, d->n, n);
        a->Sxn = grow(a->Sxn, d->n, n);
        for (int w = 0; w < CP__DIFFSTAT_SMALL; w++)
            if (a->wx[w])
                a->wx[w] = grow(a->wx[w], d->n, n);
    }
    d->cur = grow(d->cur, d->n, n);
    d->touched = cp__xrealloc(d->touched, (size_t)n * sizeof *d->touched);
    d->mark = cp__xrealloc(d->mark, n);
    memset(d->mark + d->n, 0, n - d->n);
    d->n = n;
}

void cp_diffstat_window_begin(cp_diffstat_t *d, int side, int64_t block, double total, double seconds,
                              double unit)
{
    d->side = (side == CP_DIFF_BASE || side == CP_DIFF_CMP) && total > 0 && unit > 0 ? side : -1;
    d->t = total;
    d->d = seconds > 0 ? seconds : 0;
    d->unit = unit;
    d->block = block;
    d->n_touched = 0;
}

void cp_diffstat_window_add(cp_diffstat_t *d, uint32_t m, double v)
{
    if (d->side < 0 || m >= d->n || !(v > 0))
        return;
    if (!d->mark[m]) {
        d->mark[m] = 1;
        d->touched[d->n_touched++] = m;
    }
    d->cur[m] += v;
}

void cp_diffstat_window_end(cp_diffstat_t *d)
{
    if (d->side < 0)
        return;
    side_acc_t *a = &d->s[d->side];
    double t = d->t, dd = d->d;
    double *keep = NULL;
    if (a->W < CP__DIFFSTAT_SMALL) {
        keep = a->wx[a->W] = cp__xcalloc(d->n, sizeof(double));
        a->wt[a->W] = t;
        a->wd[a->W] = dd;
        a->wblock[a->W] = d->block;
    }
    for (uint32_t i = 0; i < d->n_touched; i++) {
        uint32_t m = d->touched[i];
        double x = d->cur[m];
        a->Sx[m] += x;
        a->Sxx[m] += x * x;
        a->Sxt[m] += x * t;
        a->Sxd[m] += x * dd;
        a->Sxn[m] += x / d->unit;
        if (keep)
            keep[m] = x;
        d->cur[m] = 0;
        d->mark[m] = 0;
    }
    a->W++;
    a->St += t;
    a->Stt += t * t;
    a->Sd += dd;
    a->Sdd += dd * dd;
    a->Std += t * dd;
    a->Sn += t / d->unit;
    d->n_touched = 0;
    d->side = -1;
}

/* ---- estimates ---- */

/* One side's estimate of one quantity: value, variance, degrees of freedom. */
typedef struct est { double r, v, df; } est_t;

/* Ratio estimator r = Sx/Se with the cluster-robust (over windows)
 * variance W/(W-1) * sum (x - r e)^2 / Se^2, floored at `floor`. */
static est_t ratio_est(uint32_t W, double Sx, double Sxx, double Sxe, double Se, double See, double floor)
{
    est_t e = {0, 0, DF_INF};
    if (!(Se > 0))
        return e;
    e.r = Sx / Se;
    double v = 0;
    if (W >= 2) {
        double resid = Sxx - 2 * e.r * Sxe + e.r * e.r * See;
        v = resid > 0 ? (double)W / (W - 1) * resid / (Se * Se) : 0;
    }
    if (v > floor) {
        e.v = v;
        e.df = W >= 2 ? W - 1 : 1;
    } else {
        e.v = floor;   /* the sampling noise alone: counts are (nearly) binomial */
    }
    return e;
}

/* The variance floor: binomial for a share, Poisson for a rate. */
static double floor_of(const side_acc_t *a, cp_diff_norm_t norm, double r)
{
    if (!(a->Sn > 0))
        return 0;
    if (norm == CP_DIFF_NORM_SHARE) {
        double p = r < 0 ? 0 : r > 1 ? 1 : r;
        return p * (1 - p) / a->Sn;
    }
    double unit = a->St / a->Sn;   /* mean value of one sample */
    return a->Sd > 0 ? r * unit / a->Sd : 0;
}

static est_t method_est(const side_acc_t *a, uint32_t m, cp_diff_norm_t norm)
{
    bool share = norm == CP_DIFF_NORM_SHARE;
    double Se = share ? a->St : a->Sd, See = share ? a->Stt : a->Sdd;
    double Sxe = share ? a->Sxt[m] : a->Sxd[m];
    double r = Se > 0 ? a->Sx[m] / Se : 0;
    return ratio_est(a->W, a->Sx[m], a->Sxx[m], Sxe, Se, See, floor_of(a, norm, r));
}

/* Welch: delta's se, df, p and 95% interval from two estimates. */
static void two_sample(est_t b, est_t c, cp_diffstat_method_t *o)
{
    o->delta = c.r - b.r;
    double v = b.v + c.v;
    o->se = sqrt(v);
    double den = (b.v > 0 ? b.v * b.v / b.df : 0) + (c.v > 0 ? c.v * c.v / c.df : 0);
    o->df = den > 0 ? v * v / den : DF_INF;
    if (o->df > DF_INF)
        o->df = DF_INF;
    if (!(o->se > 0)) {
        o->p = o->delta == 0 ? 1 : 0;
        o->lo = o->hi = o->delta;
        return;
    }
    o->p = cp_diffstat_t_sf2(o->delta / o->se, o->df);
    double tq = cp_diffstat_t_quantile(0.975, o->df);
    o->lo = o->delta - tq * o->se;
    o->hi = o->delta + tq * o->se;
}

/* ---- block bootstrap (few windows) ---- */

static uint64_t rng_next(uint64_t *s)   /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A side's blocks: its instances, or its windows when it has one instance. */
typedef struct blocks {
    uint32_t nb;
    double  *x[CP__DIFFSTAT_SMALL];   /* borrowed or owned per-method sums */
    bool     own[CP__DIFFSTAT_SMALL];
    double   e[CP__DIFFSTAT_SMALL];
} blocks_t;

/* The side's instances among its first windows (keys[], their count
 * returned) and how many of them are blocks in their own right: an
 * instance whose exposure is under a quarter of the largest one's (it
 * started or ended inside the range) is too small to stand for how
 * instances differ; with one instance block, two blocks where one is a
 * single window gave df = 1 and an interval made of that window's noise. */
static uint32_t side_instances(const side_acc_t *a, cp_diff_norm_t norm, int64_t *keys, uint32_t *big)
{
    uint32_t W = a->W < CP__DIFFSTAT_SMALL ? a->W : CP__DIFFSTAT_SMALL, nk = 0;
    double e[CP__DIFFSTAT_SMALL] = {0}, top = 0;
    for (uint32_t w = 0; w < W; w++) {
        uint32_t k = 0;
        while (k < nk && keys[k] != a->wblock[w])
            k++;
        if (k == nk)
            keys[nk++] = a->wblock[w];
        e[k] += norm == CP_DIFF_NORM_SHARE ? a->wt[w] : a->wd[w];
        if (e[k] > top)
            top = e[k];
    }
    *big = 0;
    for (uint32_t k = 0; k < nk; k++)
        if (e[k] >= top / 4)
            ++*big;
    return nk;
}

static void blocks_make(const side_acc_t *a, uint32_t n, cp_diff_norm_t norm, blocks_t *b)
{
    memset(b, 0, sizeof *b);
    uint32_t W = a->W < CP__DIFFSTAT_SMALL ? a->W : CP__DIFFSTAT_SMALL, big;
    int64_t keys[CP__DIFFSTAT_SMALL];
    side_instances(a, norm, keys, &big);
    bool by_window = big < 2;
    for (uint32_t w = 0; w < W; w++) {
        uint32_t k = 0;
        if (by_window) {
            k = b->nb++;
        } else {
            while (keys[k] != a->wblock[w])
                k++;
            if (k >= b->nb)
                b->nb = k + 1;
        }
        double e = norm == CP_DIFF_NORM_SHARE ? a->wt[w] : a->wd[w];
        if (!b->x[k]) {
            b->x[k] = a->wx[w];   /* borrowed */
            b->e[k] = e;
            continue;
        }
        if (!b->own[k]) {
            double *c = cp__xcalloc(n, sizeof(double));
            memcpy(c, b->x[k], n * sizeof(double));
            b->x[k] = c;
            b->own[k] = true;
        }
        for (uint32_t m = 0; m < n; m++)
            b->x[k][m] += a->wx[w][m];
        b->e[k] += e;
    }
}

static void blocks_free(blocks_t *b)
{
    for (uint32_t k = 0; k < b->nb; k++)
        if (b->own[k])
            free(b->x[k]);
}

/* Bootstrap variances of each tested method's estimate on both sides;
 * replaces v and df in est[side][m] where the bootstrap variance is above
 * the floor already there. */
static void bootstrap(const cp_diffstat_t *d, const cp_diffstat_opts_t *o, const uint32_t *tested,
                      uint32_t nt, est_t *est[2])
{
    blocks_t bl[2];
    for (int s = 0; s < 2; s++)
        blocks_make(&d->s[s], d->n, o->norm, &bl[s]);
    double *sum = cp__xcalloc((size_t)nt * 2, sizeof(double));
    double *sum2 = cp__xcalloc((size_t)nt * 2, sizeof(double));
    uint32_t reps = o->boot_reps ? o->boot_reps : 1000, used[2] = {0, 0};
    uint64_t rng = o->seed;
    for (uint32_t r = 0; r < reps; r++) {
        for (int s = 0; s < 2; s++) {
            uint32_t nb = bl[s].nb, mult[CP__DIFFSTAT_SMALL] = {0};
            if (nb < 2)
                continue;
            double e = 0;
            for (uint32_t k = 0; k < nb; k++) {
                uint32_t pick = (uint32_t)(rng_next(&rng) % nb);
                mult[pick]++;
                e += bl[s].e[pick];
            }
            if (!(e > 0))
                continue;
            used[s]++;
            for (uint32_t i = 0; i < nt; i++) {
                double x = 0;
                for (uint32_t k = 0; k < nb; k++)
                    if (mult[k])
                        x += mult[k] * bl[s].x[k][tested[i]];
                double v = x / e;
                sum[(size_t)i * 2 + s] += v;
                sum2[(size_t)i * 2 + s] += v * v;
            }
        }
    }
    for (int s = 0; s < 2; s++) {
        if (used[s] < 2)
            continue;
        for (uint32_t i = 0; i < nt; i++) {
            double mean = sum[(size_t)i * 2 + s] / used[s];
            double var = (sum2[(size_t)i * 2 + s] / used[s] - mean * mean) * used[s] / (used[s] - 1);
            est_t *e = &est[s][tested[i]];
            if (var > e->v) {   /* the blocks differ more than windows do */
                e->v = var;
                e->df = bl[s].nb - 1;
            }
        }
    }
    blocks_free(&bl[0]);
    blocks_free(&bl[1]);
    free(sum);
    free(sum2);
}

/* ---- verdicts ---- */

static bool exceeds(const cp_diffstat_method_t *m, const cp_diff_threshold_t *t)
{
    if (!(m->delta > 0))
        return false;
    if (!t->relative)
        return m->delta >= t->value;
    if (m->base > 0)
        return m->delta / m->base >= t->value;
    return true;   /* from nothing to something */
}

int cp_diffstat_compute(const cp_diffstat_t *d, const cp_diffstat_opts_t *o, cp_diffstat_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (!(o->q > 0 && o->q < 1) || (o->norm == CP_DIFF_NORM_PER_SECOND && !o->threshold.relative))
        return CP_EINVAL;
    uint32_t n = d->n;
    out->n = n;
    out->m = cp__xcalloc(n, sizeof *out->m);
    for (int s = 0; s < 2; s++) {
        const side_acc_t *a = &d->s[s];
        uint32_t big;
        int64_t keys[CP__DIFFSTAT_SMALL];
        side_instances(a, o->norm, keys, &big);
        out->side[s] = (cp_diffstat_side_t){a->W, a->W <= CP__DIFFSTAT_SMALL ? big : 0, a->St, a->Sd, a->Sn};
    }
    est_t *est[2] = {cp__xcalloc(n, sizeof(est_t)), cp__xcalloc(n, sizeof(est_t))};
    uint32_t *tested = cp__xcalloc(n, sizeof *tested), nt = 0;
    for (uint32_t m = 0; m < n; m++) {
        cp_diffstat_method_t *r = &out->m[m];
        for (int s = 0; s < 2; s++)
            est[s][m] = method_est(&d->s[s], m, o->norm);
        r->base = est[0][m].r;
        r->cmp = est[1][m].r;
        r->base_samples = d->s[0].Sxn[m];
        r->cmp_samples = d->s[1].Sxn[m];
        r->p = r->q = NAN;
        r->tested = (r->base_samples >= o->min_samples || r->cmp_samples >= o->min_samples) &&
                    d->s[0].W && d->s[1].W;
        if (r->tested)
            tested[nt++] = m;
    }
    uint32_t small = o->boot_below < CP__DIFFSTAT_SMALL ? o->boot_below : CP__DIFFSTAT_SMALL;
    bool boot = nt && (d->s[0].W < small || d->s[1].W < small);
    if (boot)
        bootstrap(d, o, tested, nt, est);
    double *p = cp__xcalloc(n, sizeof *p), *q = cp__xcalloc(n, sizeof *q);
    for (uint32_t m = 0; m < n; m++) {
        cp_diffstat_method_t *r = &out->m[m];
        two_sample(est[0][m], est[1][m], r);
        if (!r->tested)
            r->p = NAN;
        r->bootstrap = boot && r->tested;
        p[m] = r->p;
    }
    cp_diffstat_bh(p, n, q);
    for (uint32_t i = 0; i < n; i++)
        out->m[i].q = q[i];
    for (uint32_t m = 0; m < n; m++) {
        cp_diffstat_method_t *r = &out->m[m];
        bool seen = r->base_samples > 0 || r->cmp_samples > 0;
        bool sig = r->tested && r->q <= o->q;
        if (sig && r->delta != 0) {
            r->change = r->delta > 0 ? 1 : -1;
            if (r->change > 0)
                out->rises++;
            else
                out->falls++;
        } else if (seen) {
            out->unchanged++;
        }
        if (r->tested)
            out->tested++;
        if (!exceeds(r, &o->threshold)) {
            r->verdict = CP_DIFF_PASS;
        } else if (sig) {
            r->verdict = CP_DIFF_REGRESSION;
            out->regressions++;
        } else {
            r->verdict = CP_DIFF_INCONCLUSIVE;
            out->inconclusive++;
            if (!r->tested) {
                double mx = r->base_samples > r->cmp_samples ? r->base_samples : r->cmp_samples;
                r->more_data = mx > 0 ? o->min_samples / mx : INFINITY;
            } else {
                /* BH at this p's rank lets it through at p <= q*rank/tested;
                 * the se shrinks with the square root of the data */
                uint32_t rank = 1;
                for (uint32_t k = 0; k < n; k++)
                    if (out->m[k].tested && p[k] < r->p)
                        rank++;
                double alpha = o->q * rank / nt;
                double z = cp_diffstat_t_quantile(1 - alpha / 2, DF_INF);
                double k = z * r->se / r->delta;
                r->more_data = k * k > 1 ? k * k : 1;
                /* few windows: the bootstrap's degrees of freedom (blocks - 1,
                 * 1 with two instances), not the se, may be what keeps it
                 * unsettled; with small/W times the windows the side leaves
                 * the bootstrap and its windows give the degrees of freedom */
                for (int s = 0; boot && s < 2; s++) {
                    uint32_t W = d->s[s].W;
                    if (W && W < small && (double)small / W > r->more_data)
                        r->more_data = (double)small / W;
                }
            }
        }
    }
    out->verdict = out->regressions ? CP_DIFF_REGRESSION : out->inconclusive ? CP_DIFF_INCONCLUSIVE : CP_DIFF_PASS;
    /* whole-run totals, per second of windows */
    est_t te[2];
    for (int s = 0; s < 2; s++) {
        const side_acc_t *a = &d->s[s];
        double r = a->Sd > 0 ? a->St / a->Sd : 0;
        te[s] = ratio_est(a->W, a->St, a->Stt, a->Std, a->Sd, a->Sdd, floor_of(a, CP_DIFF_NORM_PER_SECOND, r));
    }
    cp_diffstat_method_t tm = {0};
    two_sample(te[0], te[1], &tm);
    out->total = (cp_diffstat_total_t){te[0].r, te[1].r, tm.delta, tm.lo, tm.hi,
                                       d->s[0].W && d->s[1].W ? tm.p : NAN};
    free(p);
    free(q);
    free(tested);
    free(est[0]);
    free(est[1]);
    return 0;
}

void cp_diffstat_result_free(cp_diffstat_result_t *r)
{
    free(r->m);
    memset(r, 0, sizeof *r);
}
