/* test_insights.c - the insights engine on synthetic profiles: a rule
 * triggers on its pattern with the evidence (share, Wilson interval,
 * callers charged to user code, example stack), a clean profile gives no
 * finding, too few samples give "not enough data", findings are ranked by
 * saving and cut at five per type, windows give the worst window and the
 * instances, and the JSON document carries it all. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insights.h"
#include "insights_fixture.h"
#include "insights_rules.h"

#define MS10 10000000ull   /* one 10 ms CPU sample, in ns */

static const char *const REST = "[Java] main;java.lang.Thread.run;com.acme.App.main;com.acme.Work.step";

/* A cpu profile: `bad` samples of the given stack, the rest spread over
 * eight healthy user methods and twelve single JIT-thread samples, 10,000
 * samples in all (as in real profiles, many stacks are seen once). */
static void profile_with(cp_profile_t *p, const char *stack, uint64_t bad)
{
    memset(p, 0, sizeof *p);
    p->unit = strdup("ns");
    if (bad)
        ifx_add(p, stack, bad * MS10);
    ifx_singles(p, 12, MS10);
    uint64_t rest = 10000 - bad - 12;
    char buf[256];
    for (int i = 0; i < 8; i++) {
        snprintf(buf, sizeof buf, "%s;com.acme.Work.part%d", REST, i);
        ifx_add(p, buf, (rest / 8 + (i == 0 ? rest % 8 : 0)) * MS10);
    }
}

START_TEST(test_insights_regex_compile_warns_with_evidence)
{
    cp_profile_t p;
    profile_with(&p, "[Java] main;java.lang.Thread.run;com.acme.Parser.parse;java.lang.String.split;"
                     "java.util.regex.Pattern.compile;java.util.regex.Pattern.<init>", 2000);
    cp_insights_t *in = ifx_run("cpu", &p);
    const cp_insights_finding_t *f = cp_insights_find(in, "regex-compile");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->type, "cpu");
    ck_assert_double_eq_tol(f->share, 0.2, 1e-9);
    ck_assert_double_eq_tol(f->samples, 2000, 0.5);
    ck_assert(f->ci_lo < 0.2 && f->ci_hi > 0.2);
    ck_assert_double_eq_tol(f->ci_hi - f->ci_lo, 2 * 1.96 * sqrt(0.2 * 0.8 / 10000), 1e-3);
    ck_assert_uint_ge(f->n_frames, 1);
    ck_assert_str_eq(f->frames[0], "java.util.regex.Pattern.compile");
    /* JDK frames (String.split) are charged to the first user-code frame */
    ck_assert_uint_eq(f->n_callers, 1);
    ck_assert_str_eq(f->callers[0].name, "com.acme.Parser.parse");
    ck_assert_double_eq_tol(f->callers[0].share, 0.2, 1e-9);
    ck_assert_uint_eq(f->stack_len, 6);
    ck_assert_str_eq(f->stack[0], "[Java] main");
    ck_assert_str_eq(f->stack[5], "java.util.regex.Pattern.<init>");
    /* 2000 x 10 ms over a 10 s window = 2 cores; 90 % of it avoidable */
    ck_assert_str_eq(f->saving_unit, "cores");
    ck_assert_double_eq_tol(f->saving, 1.8, 1e-6);
    ck_assert_ptr_nonnull(strstr(f->saving_text, "1.8 CPU cores"));
    ck_assert(f->fix && strstr(f->fix, "static final Pattern"));
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_insights_clean_profile_has_no_findings)
{
    cp_profile_t p;
    profile_with(&p, NULL, 0);
    cp_insights_t *in = ifx_run("cpu", &p);
    for (uint32_t i = 0; i < cp_insights_n_findings(in); i++)
        ck_abort_msg("unexpected finding %s", cp_insights_finding(in, i)->rule);
    ck_assert_uint_eq(cp_insights_n_short(in), 0);
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_insights_below_50_samples_is_not_enough_data)
{
    cp_profile_t p;
    profile_with(&p, "[Java] main;com.acme.Parser.parse;java.util.regex.Pattern.compile", 49);
    cp_insights_t *in = ifx_run("cpu", &p);
    ck_assert_ptr_null(cp_insights_find(in, "regex-compile"));
    ck_assert_uint_eq(cp_insights_n_short(in), 1);
    ck_assert_str_eq(cp_insights_short(in, 0)->rule, "regex-compile");
    ck_assert_str_eq(cp_insights_short(in, 0)->type, "cpu");
    ck_assert_double_eq_tol(cp_insights_short(in, 0)->samples, 49, 0.5);
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* 50 samples at 0.5 % are enough data, but under INFO (2 %): nothing */
    profile_with(&p, "[Java] main;com.acme.Parser.parse;java.util.regex.Pattern.compile", 50);
    in = ifx_run("cpu", &p);
    ck_assert_ptr_null(cp_insights_find(in, "regex-compile"));
    ck_assert_uint_eq(cp_insights_n_short(in), 0);
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_insights_wilson_bounds)
{
    double lo, hi;
    cp_insights_wilson(50, 100, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.4038, 1e-4);
    ck_assert_double_eq_tol(hi, 0.5962, 1e-4);
    cp_insights_wilson(0, 10, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0, 1e-12);
    ck_assert_double_eq_tol(hi, 0.2775, 1e-4);
    cp_insights_wilson(10, 10, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.7225, 1e-4);
    ck_assert_double_eq_tol(hi, 1, 1e-12);
    cp_insights_wilson(1, 0, &lo, &hi);
    ck_assert(lo == 0 && hi == 1);
}
END_TEST

/* Seven rules hit at different shares: the five largest savings stay, in
 * order. */
START_TEST(test_insights_ranked_by_saving_five_per_type)
{
    static const struct { const char *leaf, *rule; uint64_t n; } hits[] = {
        {"java.util.regex.Pattern.compile", "regex-compile", 300},
        {"java.lang.Throwable.fillInStackTrace", "exception-cost", 900},
        {"java.lang.String.format", "string-format", 1200},
        {"java.lang.Integer.valueOf", "boxing", 800},
        {"java.lang.Class.forName", "reflection-after-warmup", 700},
        {"java.util.LinkedList.node", "collection-misuse", 1500},
        {"sun.security.ssl.SSLSocketImpl.startHandshake", "tls-handshake", 400},
    };
    cp_profile_t p;
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    uint64_t used = 0;
    char buf[256];
    for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
        snprintf(buf, sizeof buf, "%s;com.acme.Caller%zu.run;%s", REST, i, hits[i].leaf);
        ifx_add(&p, buf, hits[i].n * MS10);
        used += hits[i].n;
    }
    ifx_singles(&p, 12, MS10);
    used += 12;
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "%s;com.acme.Work.part%d", REST, i);
        ifx_add(&p, buf, (20000 - used) / 10 * MS10);
    }
    cp_insights_t *in = ifx_run("cpu", &p);
    ck_assert_uint_eq(cp_insights_n_findings(in), CP_INSIGHTS_MAX_PER_TYPE);
    for (uint32_t i = 1; i < cp_insights_n_findings(in); i++)
        ck_assert(cp_insights_finding(in, i - 1)->rank >= cp_insights_finding(in, i)->rank);
    /* savings: share x fixable; collection-misuse 1500 x 0.8 ranks first */
    ck_assert_str_eq(cp_insights_finding(in, 0)->rule, "collection-misuse");
    ck_assert_ptr_null(cp_insights_find(in, "regex-compile"));   /* 300 x 0.9: sixth */
    ck_assert_ptr_null(cp_insights_find(in, "tls-handshake"));   /* 400 x 0.8: seventh */
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

/* Two instances, three windows: the worst window and instances with/of. */
START_TEST(test_insights_windows_give_worst_window_and_instances)
{
    cp_profile_t p;
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    const char *bad = "[Java] main;com.acme.Log.line;java.lang.String.format;java.util.Formatter.format";
    ifx_add(&p, bad, 700 * MS10);
    ifx_add(&p, "[Java] main;com.acme.Work.a", 1300 * MS10);
    ifx_add(&p, "[Java] main;com.acme.Work.b", 999 * MS10);
    ifx_add(&p, "[JIT] C2 CompilerThre", MS10);
    cp_insights_t *in = cp_insights_create("app", "", 0, 30000);
    cp_insights_begin_type(in, "cpu", &p, NULL);
    /* instance 1: window 0 = 100 bad of 1000, window 1 = 600 bad of 1000;
     * instance 2: 1000 clean */
    uint32_t s1[] = {0, 1}, s2[] = {0, 1}, s3[] = {2, 3};
    uint64_t v1[] = {100 * MS10, 900 * MS10}, v2[] = {600 * MS10, 400 * MS10}, v3[] = {999 * MS10, MS10};
    cp_store_window_t w1 = {0, 10000, 1, "i1", "", 0, s1, v1, 2, 1000 * MS10};
    cp_store_window_t w2 = {10000, 20000, 1, "i1", "", 0, s2, v2, 2, 1000 * MS10};
    cp_store_window_t w3 = {10000, 20000, 2, "i2", "", 0, s3, v3, 2, 1000 * MS10};
    cp_insights_add_window(in, &w1);
    cp_insights_add_window(in, &w2);
    cp_insights_add_window(in, &w3);
    cp_insights_end_type(in);
    cp_insights_finish(in);
    const cp_insights_finding_t *f = cp_insights_find(in, "string-format");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_double_eq_tol(f->share, 700.0 / 3000, 1e-9);
    ck_assert(f->has_worst);
    ck_assert_int_eq(f->worst_from_ms, 10000);
    ck_assert_int_eq(f->worst_to_ms, 20000);
    ck_assert_double_eq_tol(f->worst_share, 0.6, 1e-9);
    ck_assert(f->has_instances);
    ck_assert_uint_eq(f->inst_with, 1);
    ck_assert_uint_eq(f->inst_of, 2);
    ck_assert_str_eq(f->callers[0].name, "com.acme.Log.line");
    /* 700 x 10 ms over the windows' 20 s = 0.35 cores, 80 % avoidable */
    ck_assert_double_eq_tol(f->saving, 0.35 * 0.8, 1e-6);
    cp_buf_t b = CP_BUF_INIT;
    cp_insights_write_json(in, 1.5, 1.0, 0.5, &b);
    cp_buf_append(&b, "", 1);
    const char *j = (const char *)b.data;
    ck_assert_ptr_nonnull(strstr(j, "\"app\":\"app\",\"from\":0,\"to\":30,\"labels\":\"\""));
    ck_assert_ptr_nonnull(strstr(j, "\"types\":{\"cpu\":{\"total\":30000000000,\"samples\":3000,\"unit\":\"ns\"}}"));
    ck_assert_ptr_nonnull(strstr(j, "\"rule\":\"string-format\""));
    ck_assert_ptr_nonnull(strstr(j, "\"severity\":\"WARN\""));
    ck_assert_ptr_nonnull(strstr(j, "\"worst_window\":{\"from\":10.000,\"to\":20.000,\"share\":0.6}"));
    ck_assert_ptr_nonnull(strstr(j, "\"instances\":{\"with\":1,\"of\":2}"));
    ck_assert_ptr_nonnull(strstr(j, "\"callers\":[{\"name\":\"com.acme.Log.line\""));
    ck_assert_ptr_nonnull(strstr(j, "\"link\":\"/api/v1/profile?app=app&type=cpu&from=0&to=30\""));
    ck_assert_ptr_nonnull(strstr(j, "\"not_enough_data\":[]"));
    cp_buf_fini(&b);
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_insights_hot_method_names_leaf_and_caller)
{
    cp_profile_t p;
    profile_with(&p, NULL, 0);
    ifx_add(&p, "[Java] main;com.acme.App.main;com.acme.Matrix.multiply;com.acme.Matrix.dot", 9000 * MS10);
    cp_insights_t *in = ifx_run("cpu", &p);
    const cp_insights_finding_t *f = cp_insights_find(in, "hot-method");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->frames[0], "com.acme.Matrix.dot");
    ck_assert_str_eq(f->callers[0].name, "com.acme.Matrix.multiply");
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_insights_profile_quality_failed_and_too_few)
{
    cp_profile_t p;
    profile_with(&p, "[Java] main;[unknown_Java]", 2500);
    cp_insights_t *in = ifx_run("cpu", &p);
    const cp_insights_finding_t *f = cp_insights_find(in, "profile-quality");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->frames[0], "[unknown_Java]");
    ck_assert_double_eq_tol(f->share, 0.25, 1e-9);
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* 412 samples: an INFO that says the data is thin */
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    ifx_singles(&p, 12, MS10);
    for (int i = 0; i < 8; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s;com.acme.Work.part%d", REST, i);
        ifx_add(&p, buf, 50 * MS10);
    }
    in = ifx_run("cpu", &p);
    f = cp_insights_find(in, "profile-quality");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_INFO);
    ck_assert_str_eq(f->title, "Too few samples");
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* 20 samples: nothing can be judged, a WARN */
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    ifx_singles(&p, 12, MS10);
    ifx_add(&p, "[Java] main;com.acme.Work.step;com.acme.Work.a", 8 * MS10);
    in = ifx_run("cpu", &p);
    f = cp_insights_find(in, "profile-quality");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_double_eq_tol(f->samples, 20, 0.5);
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

/* Sample counts per type: wall samples weigh exactly the interval (idle
 * threads pile hundreds into one stack), CPU samples about the interval. */
START_TEST(test_insights_sample_counts_per_type)
{
    cp_profile_t p;
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    char buf[128];
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "[Java] pool-%d;java.lang.Thread.run;java.lang.Object.wait", i);
        ifx_add(&p, buf, 200 * 50000000ull);
    }
    ifx_add(&p, "[Java] main;com.acme.App.main", 3 * 50000000ull);
    cp_insights_t *in = ifx_run("wall", &p);
    cp_buf_t b = CP_BUF_INIT;
    cp_insights_write_json(in, 0, 0, 0, &b);
    cp_buf_append(&b, "", 1);
    ck_assert_ptr_nonnull(strstr((const char *)b.data, "\"wall\":{\"total\":100150000000,\"samples\":2003,"));
    cp_buf_fini(&b);
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* cpu: measured CPU time per tick, 9.9..10.1 ms */
    memset(&p, 0, sizeof p);
    p.unit = strdup("ns");
    for (int i = 0; i < 30; i++) {
        snprintf(buf, sizeof buf, "[Java] main;com.acme.App.main;com.acme.W.f%d", i);
        ifx_add(&p, buf, 9900000 + (uint64_t)(i % 5) * 50000);
    }
    ifx_add(&p, "[Java] main;com.acme.App.main;com.acme.W.hot", 970 * 10000000ull);
    in = ifx_run("cpu", &p);
    cp_insights_write_json(in, 0, 0, 0, &b);
    cp_buf_append(&b, "", 1);
    const char *j = strstr((const char *)b.data, "\"samples\":");
    ck_assert_ptr_nonnull(j);
    double n = strtod(j + 10, NULL);
    ck_assert_msg(n > 980 && n < 1020, "cpu samples %f, want ~1000", n);
    cp_buf_fini(&b);
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("insights");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_insights_regex_compile_warns_with_evidence);
    tcase_add_test(tc, test_insights_clean_profile_has_no_findings);
    tcase_add_test(tc, test_insights_below_50_samples_is_not_enough_data);
    tcase_add_test(tc, test_insights_wilson_bounds);
    tcase_add_test(tc, test_insights_ranked_by_saving_five_per_type);
    tcase_add_test(tc, test_insights_windows_give_worst_window_and_instances);
    tcase_add_test(tc, test_insights_hot_method_names_leaf_and_caller);
    tcase_add_test(tc, test_insights_profile_quality_failed_and_too_few);
    tcase_add_test(tc, test_insights_sample_counts_per_type);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
