/* test_diffstat.c - the diff's statistics (relay/diffstat.h) on synthetic
 * data with known answers: method keys, thresholds, the t distribution,
 * Benjamini-Hochberg, the cluster-robust variance and its binomial floor,
 * verdicts, the INCONCLUSIVE data factor, the block bootstrap, and a
 * simulated calibration (A/A false positives, A/B detection). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffstat.h"
#include "error.h"

static const char *key(const char *name)
{
    static char buf[256];
    cp_diffstat_method_key(name, buf, sizeof buf);
    return buf;
}

START_TEST(test_diffstat_key_strips_lines_and_generated_numbers)
{
    ck_assert_str_eq(key("com.acme.Parser.parse"), "com.acme.Parser.parse");
    ck_assert_str_eq(key("com.acme.Parser.parse:42"), "com.acme.Parser.parse");
    ck_assert_str_eq(key("com.acme.Parser.parse@17"), "com.acme.Parser.parse");
    ck_assert_str_eq(key("com.acme.Parser.parse (Parser.java:42)"), "com.acme.Parser.parse");
    ck_assert_str_eq(key("com.acme.Parser.parse(Parser.java)"), "com.acme.Parser.parse");
    ck_assert_str_eq(key("com.acme.Parser.parse(Unknown Source)"), "com.acme.Parser.parse");
    /* a signature is part of the method, not a location */
    ck_assert_str_eq(key("com.acme.Parser.parse(Ljava/lang/String;)V"), "com.acme.Parser.parse(Ljava/lang/String;)V");
    ck_assert_str_eq(key("com.acme.Web$$Lambda$123/0x0000000800c0b840.apply"), "com.acme.Web$$Lambda.apply");
    ck_assert_str_eq(key("com.acme.Web$$Lambda$7/0x0000000800066840.apply"), "com.acme.Web$$Lambda.apply");
    ck_assert_str_eq(key("com.acme.Web$$Lambda/0x000071f3c8012a00.apply"), "com.acme.Web$$Lambda.apply");
    ck_assert_str_eq(key("java.lang.invoke.LambdaForm$MH/0x0000000800c0c000.invoke"),
                     "java.lang.invoke.LambdaForm$MH.invoke");
    ck_assert_str_eq(key("jdk.proxy2.$Proxy12.handle"), "jdk.proxy.$Proxy.handle");
    ck_assert_str_eq(key("com.sun.proxy.$Proxy7.handle"), "com.sun.proxy.$Proxy.handle");
    ck_assert_str_eq(key("jdk.internal.reflect.GeneratedMethodAccessor31.invoke"),
                     "jdk.internal.reflect.GeneratedMethodAccessor.invoke");
    ck_assert_str_eq(key("com.acme.Svc$$EnhancerBySpringCGLIB$$1a2b3c4d.run"),
                     "com.acme.Svc$$EnhancerBySpringCGLIB$$.run");
    /* ordinary digits stay */
    ck_assert_str_eq(key("com.acme.Md5.digest128"), "com.acme.Md5.digest128");
    ck_assert_str_eq(key("libc.so.6.memcpy"), "libc.so.6.memcpy");
    char small[8];
    ck_assert_uint_eq(cp_diffstat_method_key("com.acme.Long.name", small, sizeof small), 7);
    ck_assert_str_eq(small, "com.acm");
}
END_TEST

START_TEST(test_diffstat_threshold_parses_pp_and_rel)
{
    cp_diff_threshold_t t;
    ck_assert_int_eq(cp_diff_threshold_parse("2pp", &t), 0);
    ck_assert(fabs(t.value - 0.02) < 1e-12 && !t.relative);
    ck_assert_int_eq(cp_diff_threshold_parse("0.5pp", &t), 0);
    ck_assert(fabs(t.value - 0.005) < 1e-12);
    ck_assert_int_eq(cp_diff_threshold_parse("10%rel", &t), 0);
    ck_assert(fabs(t.value - 0.10) < 1e-12 && t.relative);
    ck_assert_int_eq(cp_diff_threshold_parse("25%", &t), 0);
    ck_assert(t.relative);
    char b[32];
    ck_assert_str_eq(cp_diff_threshold_format(&t, b, sizeof b), "25%rel");
    const char *bad[] = {"", "2", "pp", "-1pp", "0pp", "101pp", "2 pp", "nanpp", "1e999pp", "3x", " 2pp", "2ppx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cp_diff_threshold_parse(bad[i], &t) == CP_EINVAL, "%s", bad[i]);
    cp_diff_norm_t n;
    ck_assert_int_eq(cp_diff_norm_parse("per-second", &n), 0);
    ck_assert_int_eq(n, CP_DIFF_NORM_PER_SECOND);
    ck_assert_int_eq(cp_diff_norm_parse("per-op", &n), CP_EINVAL);
}
END_TEST

START_TEST(test_diffstat_t_distribution_matches_tables)
{
    ck_assert(fabs(cp_diffstat_t_sf2(2.0, 10) - 0.073388) < 1e-5);
    ck_assert(fabs(cp_diffstat_t_sf2(1.959964, 1e12) - 0.05) < 1e-6);
    ck_assert(fabs(cp_diffstat_t_sf2(12.706205, 1) - 0.05) < 1e-6);
    ck_assert(fabs(cp_diffstat_t_sf2(0, 5) - 1) < 1e-12);
    ck_assert(fabs(cp_diffstat_t_quantile(0.975, 10) - 2.228139) < 1e-5);
    ck_assert(fabs(cp_diffstat_t_quantile(0.975, 1e12) - 1.959964) < 1e-5);
    ck_assert(fabs(cp_diffstat_t_quantile(0.025, 4) + 2.776445) < 1e-5);
    ck_assert(fabs(cp_diffstat_t_quantile(0.9995, 30) - 3.645959) < 1e-4);
}
END_TEST

START_TEST(test_diffstat_bh_matches_hand_computation)
{
    double p[] = {0.01, 0.04, NAN, 0.03, 0.005}, q[5];
    cp_diffstat_bh(p, 5, q);
    /* sorted .005 .01 .03 .04 (m = 4): .02 .02 .04 .04 */
    ck_assert(fabs(q[0] - 0.02) < 1e-12);
    ck_assert(fabs(q[1] - 0.04) < 1e-12);
    ck_assert(isnan(q[2]));
    ck_assert(fabs(q[3] - 0.04) < 1e-12);
    ck_assert(fabs(q[4] - 0.02) < 1e-12);
    double p2[] = {0.9, 0.5};   /* monotone from the top, capped at 1 */
    cp_diffstat_bh(p2, 2, q);
    ck_assert(fabs(q[0] - 0.9) < 1e-12 && fabs(q[1] - 0.9) < 1e-12);
}
END_TEST

/* W windows of total 1000 (unit 1, 10 s) on instance `inst`; method 0 gets
 * shares[w % ns] of each, method 1 the rest. */
static void windows(cp_diffstat_t *d, int side, int W, const double *shares, int ns, int64_t inst)
{
    for (int w = 0; w < W; w++) {
        cp_diffstat_window_begin(d, side, inst, 1000, 10, 1);
        cp_diffstat_window_add(d, 0, 1000 * shares[w % ns]);
        cp_diffstat_window_add(d, 1, 1000 * (1 - shares[w % ns]));
        cp_diffstat_window_end(d);
    }
}

START_TEST(test_diffstat_variance_is_clustered_over_windows)
{
    /* shares alternate .1/.3: r = .2, sum (x - r t)^2 = W * 1e4,
     * V = W/(W-1) * W*1e4 / (W*1000)^2 = .01/(W-1) per side */
    cp_diffstat_t *d = cp_diffstat_create(2);
    double sh[] = {0.1, 0.3};
    windows(d, CP_DIFF_BASE, 20, sh, 2, 1);
    windows(d, CP_DIFF_CMP, 20, sh, 2, 2);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    const cp_diffstat_method_t *m = &r.m[0];
    ck_assert(fabs(m->base - 0.2) < 1e-12 && fabs(m->cmp - 0.2) < 1e-12);
    ck_assert(fabs(m->se - sqrt(2 * 0.01 / 19)) < 1e-9);
    ck_assert(fabs(m->df - 38) < 1e-6);   /* Welch with equal variances: 19 + 19 */
    ck_assert(fabs(m->p - 1) < 1e-9);
    ck_assert(m->tested && !m->bootstrap);
    ck_assert_int_eq(m->verdict, CP_DIFF_PASS);
    ck_assert_int_eq(r.verdict, CP_DIFF_PASS);
    ck_assert_uint_eq(r.side[0].windows, 20);
    ck_assert(fabs(r.side[1].samples - 20000) < 1e-9);
    ck_assert_uint_eq(r.unchanged, 2);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_variance_is_floored_at_binomial)
{
    /* a share that is exactly .2 in every window has no window variance:
     * the floor p(1-p)/N = .16/20000 per side remains */
    cp_diffstat_t *d = cp_diffstat_create(2);
    double a[] = {0.2}, b[] = {0.21};
    windows(d, CP_DIFF_BASE, 20, a, 1, 1);
    windows(d, CP_DIFF_CMP, 20, b, 1, 1);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    const cp_diffstat_method_t *m = &r.m[0];
    double v = 0.2 * 0.8 / 20000 + 0.21 * 0.79 / 20000;
    ck_assert(fabs(m->se - sqrt(v)) < 1e-12);
    ck_assert(m->df >= 1e8);   /* binomial: normal */
    ck_assert(fabs(m->delta - 0.01) < 1e-12);
    double z = 0.01 / sqrt(v);
    ck_assert(fabs(m->p - erfc(z / sqrt(2))) < 1e-9);
    ck_assert(fabs(m->lo - (0.01 - 1.959964 * sqrt(v))) < 1e-6);
    /* significant, but 1pp is under the 2pp threshold */
    ck_assert_int_eq(m->change, 1);
    ck_assert_int_eq(m->verdict, CP_DIFF_PASS);
    ck_assert_uint_eq(r.rises, 1);
    ck_assert_uint_eq(r.falls, 1);   /* method 1 lost what method 0 gained */
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_verdict_follows_threshold_and_significance)
{
    cp_diffstat_t *d = cp_diffstat_create(2);
    double a[] = {0.18, 0.22}, b[] = {0.23, 0.27};   /* +5pp, +25% rel */
    windows(d, CP_DIFF_BASE, 30, a, 2, 1);
    windows(d, CP_DIFF_CMP, 30, b, 2, 1);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    ck_assert(r.m[0].lo < 0.05 && r.m[0].hi > 0.05);
    ck_assert(r.m[0].q <= 0.05);
    ck_assert_int_eq(r.m[1].verdict, CP_DIFF_PASS);   /* it fell: an improvement */
    ck_assert_int_eq(r.m[1].change, -1);
    ck_assert_int_eq(r.verdict, CP_DIFF_REGRESSION);
    ck_assert_uint_eq(r.regressions, 1);
    cp_diffstat_result_free(&r);
    ck_assert_int_eq(cp_diff_threshold_parse("10pp", &o.threshold), 0);
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_PASS);
    ck_assert_int_eq(r.verdict, CP_DIFF_PASS);
    cp_diffstat_result_free(&r);
    ck_assert_int_eq(cp_diff_threshold_parse("20%rel", &o.threshold), 0);
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    cp_diffstat_result_free(&r);
    /* pp with per-second is refused; rel works */
    o.norm = CP_DIFF_NORM_PER_SECOND;
    ck_assert_int_eq(cp_diff_threshold_parse("2pp", &o.threshold), 0);
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), CP_EINVAL);
    ck_assert_int_eq(cp_diff_threshold_parse("10%rel", &o.threshold), 0);
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert(fabs(r.m[0].base - 20) < 1e-9);   /* 200 per 10 s window */
    ck_assert(fabs(r.m[0].cmp - 25) < 1e-9);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    ck_assert(fabs(r.total.base - 100) < 1e-9 && fabs(r.total.delta) < 1e-9);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_inconclusive_says_how_much_data_settles_it)
{
    /* +4pp over a noisy method: over the 2pp threshold, not significant */
    double a[] = {0.05, 0.35}, b[] = {0.09, 0.39};
    cp_diffstat_t *d = cp_diffstat_create(2);
    windows(d, CP_DIFF_BASE, 12, a, 2, 1);
    windows(d, CP_DIFF_CMP, 12, b, 2, 1);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_INCONCLUSIVE);
    ck_assert_int_eq(r.verdict, CP_DIFF_INCONCLUSIVE);
    double k = r.m[0].more_data;
    ck_assert(k > 1 && k < 100);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
    /* with that much more data (and a margin for W/(W-1)) it is settled */
    int W = (int)ceil(12 * k * 1.2);
    W += W % 2;
    d = cp_diffstat_create(2);
    windows(d, CP_DIFF_BASE, W, a, 2, 1);
    windows(d, CP_DIFF_CMP, W, b, 2, 1);
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_few_windows_inconclusive_asks_for_enough_windows)
{
    /* CI's A/B run of diff_calibration: 2 instances a side, 10 and 9
     * windows, +8pp on the method, the cmp side's two instances 6pp
     * apart. Few windows: the bootstrap over the 2 instances gives df 1,
     * the interval spans ~+-9pp, INCONCLUSIVE. Its data factor said 1
     * ("no more data needed"): the se alone would settle it, the degrees
     * of freedom do not. It must ask for enough windows to leave the
     * few-window regime (10 / 9), and that much more data must settle it. */
    double b1[] = {0.24, 0.25}, b2[] = {0.25, 0.24}, c1[] = {0.30, 0.31}, c2[] = {0.36, 0.37};
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    double k = 0;
    for (int round = 0; round < 2; round++) {
        int wb = round ? (int)ceil(10 * k) : 10, wc = round ? (int)ceil(9 * k) : 9;
        cp_diffstat_t *d = cp_diffstat_create(2);
        windows(d, CP_DIFF_BASE, (wb + 1) / 2, b1, 2, 1);
        windows(d, CP_DIFF_BASE, wb / 2, b2, 2, 2);
        windows(d, CP_DIFF_CMP, (wc + 1) / 2, c1, 2, 3);
        windows(d, CP_DIFF_CMP, wc / 2, c2, 2, 4);
        ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
        if (round == 0) {
            ck_assert(r.m[0].bootstrap);
            ck_assert_int_eq(r.m[0].verdict, CP_DIFF_INCONCLUSIVE);
            k = r.m[0].more_data;
            ck_assert_msg(k >= 10.0 / 9 - 1e-9 && k < 3, "more_data %g", k);
        } else {
            ck_assert(!r.m[0].bootstrap);
            ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
        }
        cp_diffstat_result_free(&r);
        cp_diffstat_destroy(d);
    }
}
END_TEST

START_TEST(test_diffstat_few_samples_are_not_tested)
{
    cp_diffstat_t *d = cp_diffstat_create(3);
    for (int side = 0; side < 2; side++)
        for (int w = 0; w < 12; w++) {
            cp_diffstat_window_begin(d, side, 1, 100, 10, 1);
            cp_diffstat_window_add(d, 0, 100 - 2 * side);
            cp_diffstat_window_add(d, 2, 2 * side);   /* 24 samples on cmp only */
            cp_diffstat_window_end(d);
        }
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert(!r.m[2].tested && isnan(r.m[2].p) && isnan(r.m[2].q));
    ck_assert(fabs(r.m[2].cmp_samples - 24) < 1e-9);
    ck_assert_int_eq(r.m[2].verdict, CP_DIFF_INCONCLUSIVE);   /* +2pp, too few samples to say */
    ck_assert(fabs(r.m[2].more_data - 30.0 / 24) < 1e-9);
    ck_assert(r.m[0].tested);
    ck_assert_uint_eq(r.tested, 1);
    ck_assert_uint_eq(r.unchanged + r.rises + r.falls, 2);   /* method 1 never seen */
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_bootstrap_by_instance_when_few_windows)
{
    /* 4 windows per side on 2 instances whose levels differ (.1 vs .3):
     * the bootstrap resamples instances, so the instance effect counts */
    cp_diffstat_t *d = cp_diffstat_create(2);
    double lo[] = {0.1}, hi[] = {0.3};
    for (int side = 0; side < 2; side++) {
        windows(d, side, 2, lo, 1, 10 + side * 2);
        windows(d, side, 2, hi, 1, 11 + side * 2);
    }
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r, r2;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert(r.m[0].bootstrap);
    ck_assert_uint_eq(r.side[0].blocks, 2);
    ck_assert(r.m[0].df >= 1 && r.m[0].df <= 2 + 1e-9);   /* Welch over 1 + 1 */
    /* bootstrap variance of the mean of 2 instances: about .1^2/2 per side */
    ck_assert(r.m[0].se > 0.08 && r.m[0].se < 0.2);
    /* deterministic: same seed, same answer */
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r2), 0);
    ck_assert(r.m[0].se == r2.m[0].se);
    cp_diffstat_result_free(&r);
    cp_diffstat_result_free(&r2);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_bootstrap_single_instance_uses_windows)
{
    cp_diffstat_t *d = cp_diffstat_create(2);
    double a[] = {0.2, 0.22, 0.18}, b[] = {0.4, 0.42, 0.38};
    windows(d, CP_DIFF_BASE, 6, a, 3, 1);
    windows(d, CP_DIFF_CMP, 6, b, 3, 1);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert(r.m[0].bootstrap);
    ck_assert_uint_eq(r.side[0].blocks, 1);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    ck_assert_int_eq(r.m[1].change, -1);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

START_TEST(test_diffstat_bootstrap_tiny_instance_does_not_make_two_blocks)
{
    /* each side: one instance of 8 windows and one of a single window (it
     * started at the range's end): two blocks would give df = 1 and a huge
     * interval from one window's noise, so a +.2 regression read as
     * INCONCLUSIVE. An instance under a quarter of the largest one's
     * exposure is not a block of its own: the side is resampled by windows. */
    cp_diffstat_t *d = cp_diffstat_create(2);
    double a[] = {0.2, 0.22, 0.18}, a1[] = {0.3}, b[] = {0.4, 0.42, 0.38}, b1[] = {0.5};
    windows(d, CP_DIFF_BASE, 8, a, 3, 1);
    windows(d, CP_DIFF_BASE, 1, a1, 1, 2);
    windows(d, CP_DIFF_CMP, 8, b, 3, 3);
    windows(d, CP_DIFF_CMP, 1, b1, 1, 4);
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    cp_diffstat_result_t r;
    ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
    ck_assert(r.m[0].bootstrap);
    ck_assert_uint_eq(r.side[0].blocks, 1);   /* one instance counts */
    ck_assert_msg(r.m[0].df > 2, "df %g", r.m[0].df);
    ck_assert_int_eq(r.m[0].verdict, CP_DIFF_REGRESSION);
    cp_diffstat_result_free(&r);
    cp_diffstat_destroy(d);
}
END_TEST

/* ---- simulated calibration ---- */

static uint64_t Rng = 12345;
static double urand(void)
{
    Rng ^= Rng << 13;
    Rng ^= Rng >> 7;
    Rng ^= Rng << 17;
    return (double)(Rng >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand());
}

enum { NM = 20 };

/* One side: 2 instances x 15 windows of 400 samples over NM methods with
 * base shares w[]; each window's shares are jittered (sd 25% relative), so
 * windows are overdispersed as bursty real programs are. slow: method 3's
 * weight times this. */
static void sim_side(cp_diffstat_t *d, int side, double slow)
{
    double w[NM];
    for (int m = 0; m < NM; m++)
        w[m] = 1.0 / (m + 2);
    w[3] *= slow;
    for (int inst = 0; inst < 2; inst++)
        for (int win = 0; win < 15; win++) {
            double ww[NM], sum = 0, cum[NM];
            for (int m = 0; m < NM; m++) {
                ww[m] = w[m] * exp(0.25 * nrand());
                sum += ww[m];
            }
            double c = 0;
            for (int m = 0; m < NM; m++)
                cum[m] = (c += ww[m] / sum);
            double cnt[NM] = {0};
            for (int s = 0; s < 400; s++) {
                double u = urand();
                int m = 0;
                while (m < NM - 1 && u > cum[m])
                    m++;
                cnt[m]++;
            }
            cp_diffstat_window_begin(d, side, inst + side * 10, 400 * 1e7, 10, 1e7);
            for (int m = 0; m < NM; m++)
                cp_diffstat_window_add(d, (uint32_t)m, cnt[m] * 1e7);
            cp_diffstat_window_end(d);
        }
}

START_TEST(test_diffstat_simulated_aa_passes_and_ab_detects)
{
    cp_diffstat_opts_t o;
    cp_diffstat_opts_default(&o);
    o.threshold.value = 0.005;   /* 0.5pp: a low bar, so noise would show */
    int aa_fail = 0, ab_found = 0, ab_covered = 0, N = 100;
    for (int pair = 0; pair < N; pair++) {
        cp_diffstat_t *d = cp_diffstat_create(NM);
        sim_side(d, CP_DIFF_BASE, 1);
        sim_side(d, CP_DIFF_CMP, 1);
        cp_diffstat_result_t r;
        ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
        aa_fail += r.verdict == CP_DIFF_REGRESSION;
        cp_diffstat_result_free(&r);
        cp_diffstat_destroy(d);

        d = cp_diffstat_create(NM);
        sim_side(d, CP_DIFF_BASE, 1);
        sim_side(d, CP_DIFF_CMP, 1.5);   /* method 3 does 50% more work */
        ck_assert_int_eq(cp_diffstat_compute(d, &o, &r), 0);
        ab_found += r.m[3].verdict == CP_DIFF_REGRESSION;
        /* the true delta of shares: w3 = 1/5 of H = sum 1/(m+2) */
        double H = 0;
        for (int m = 0; m < NM; m++)
            H += 1.0 / (m + 2);
        double truth = 0.3 / (H + 0.1) - 0.2 / H;
        ab_covered += r.m[3].lo <= truth && truth <= r.m[3].hi;
        cp_diffstat_result_free(&r);
        cp_diffstat_destroy(d);
    }
    fprintf(stderr, "# simulated: A/A gates failed %d/%d, A/B detected %d/%d, interval covered %d/%d\n",
            aa_fail, N, ab_found, N, ab_covered, N);
    /* gates: q = .05 over 20 methods, so the false-gate rate stays <= ~5%;
     * the +3.4pp change is ~4.8 se: BH at rank 1-2 of 20 finds ~97% */
    ck_assert_msg(aa_fail <= 8, "A/A gates failed: %d of %d", aa_fail, N);
    ck_assert_msg(ab_found >= 88, "A/B detected: %d of %d", ab_found, N);
    ck_assert_msg(ab_covered >= 85, "A/B interval covered the truth: %d of %d", ab_covered, N);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("diffstat");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_diffstat_key_strips_lines_and_generated_numbers);
    tcase_add_test(tc, test_diffstat_threshold_parses_pp_and_rel);
    suite_add_tcase(s, tc);
    tc = tcase_create("distributions");
    tcase_add_test(tc, test_diffstat_t_distribution_matches_tables);
    tcase_add_test(tc, test_diffstat_bh_matches_hand_computation);
    suite_add_tcase(s, tc);
    tc = tcase_create("tests");
    tcase_add_test(tc, test_diffstat_variance_is_clustered_over_windows);
    tcase_add_test(tc, test_diffstat_variance_is_floored_at_binomial);
    tcase_add_test(tc, test_diffstat_verdict_follows_threshold_and_significance);
    tcase_add_test(tc, test_diffstat_inconclusive_says_how_much_data_settles_it);
    tcase_add_test(tc, test_diffstat_few_windows_inconclusive_asks_for_enough_windows);
    tcase_add_test(tc, test_diffstat_few_samples_are_not_tested);
    tcase_add_test(tc, test_diffstat_bootstrap_by_instance_when_few_windows);
    tcase_add_test(tc, test_diffstat_bootstrap_single_instance_uses_windows);
    tcase_add_test(tc, test_diffstat_bootstrap_tiny_instance_does_not_make_two_blocks);
    suite_add_tcase(s, tc);
    tc = tcase_create("calibration");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_diffstat_simulated_aa_passes_and_ab_detects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
