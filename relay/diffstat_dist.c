/* diffstat_dist.c - the distributions behind the diff's tests (diffstat.h):
 * Student's t (two-sided tail and quantile, through the regularised
 * incomplete beta function) and Benjamini-Hochberg q-values.
 *
 * Accuracy: the continued fraction converges to ~1e-12 relative; the
 * quantile is a bisection on the tail to 1e-10. Large df (> 1e7) uses the
 * normal tail. Thread: any; no state. */
#include "diffstat.h"

#include <math.h>
#include <stdlib.h>

#include "rutil.h"

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 400; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-13)
            break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double betai(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double bt = exp(lbt);
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

double cp_diffstat_t_sf2(double t, double df)
{
    if (isnan(t))
        return NAN;
    if (isinf(t))
        return 0;
    if (!(df > 0))
        return 1;
    if (df > 1e7)
        return erfc(fabs(t) / sqrt(2.0));
    return betai(df / 2, 0.5, df / (df + t * t));
}

double cp_diffstat_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1))
        return p <= 0 ? -INFINITY : INFINITY;
    if (p == 0.5)
        return 0;
    double tail = 2 * (p > 0.5 ? 1 - p : p);   /* two-sided tail at |x| */
    double lo = 0, hi = 1;
    while (cp_diffstat_t_sf2(hi, df) > tail && hi < 1e12)
        hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-10 * (1 + hi); i++) {
        double mid = (lo + hi) / 2;
        if (cp_diffstat_t_sf2(mid, df) > tail)
            lo = mid;
        else
            hi = mid;
    }
    double x = (lo + hi) / 2;
    return p > 0.5 ? x : -x;
}

static int cmp_p(const void *x, const void *y, void *ctx)
{
    const double *p = ctx;
    double a = p[*(const uint32_t *)x], b = p[*(const uint32_t *)y];
    return a < b ? -1 : a > b;
}

void cp_diffstat_bh(const double *p, uint32_t n, double *q)
{
    uint32_t *ix = cp__xcalloc(n, sizeof *ix), m = 0;
    for (uint32_t i = 0; i < n; i++) {
        q[i] = NAN;
        if (!isnan(p[i]))
            ix[m++] = i;
    }
    qsort_r(ix, m, sizeof *ix, cmp_p, (void *)p);
    double run = 1;
    for (uint32_t k = m; k-- > 0;) {
        double v = p[ix[k]] * m / (k + 1);
        if (v < run)
            run = v;
        q[ix[k]] = run;
    }
    free(ix);
}
