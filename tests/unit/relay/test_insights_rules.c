/* test_insights_rules.c - every rule of the table triggers on its own
 * pattern (WARN, charged to the user-code caller) and stays quiet on a
 * clean profile of its type; excludes and "A > B" order patterns; the
 * grouped rules (lock classes with exact counts); the series rules (GC
 * pause ratio per JVM, long pauses, live-set and thread growth, too few
 * points). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insights.h"
#include "insights_fixture.h"
#include "insights_rules.h"

#define N_SAMPLES 10000
static const char *const ROOT = "[Java] main;java.lang.Thread.run;com.acme.App.main";

/* One sample's value per type: 512 KiB allocated, 10 us waited for a
 * lock (a clean lock profile blocks 0.01 threads), 10 ms of CPU or wall. */
static uint64_t unit_of(const char *type)
{
    return !strcmp(type, "alloc") ? 524288 : !strcmp(type, "lock") ? 10000 : 10000000;
}

/* A clean profile of a type: eight user methods/sites, twelve single samples. */
static void clean(cp_profile_t *p, const char *type, uint64_t samples)
{
    memset(p, 0, sizeof *p);
    p->unit = strdup(!strcmp(type, "alloc") ? "bytes" : "ns");
    uint64_t q = unit_of(type);
    char buf[256];
    ifx_singles(p, 12, q);
    samples -= 12;
    for (int i = 0; i < 8; i++) {
        if (!strcmp(type, "alloc"))
            snprintf(buf, sizeof buf, "%s;com.acme.Work.step;com.acme.Work.part%d;[alloc] byte[]", ROOT, i);
        else if (!strcmp(type, "lock"))
            snprintf(buf, sizeof buf, "%s;com.acme.Work.step;com.acme.Work.part%d;[lock] com.acme.L%d", ROOT, i, i);
        else
            snprintf(buf, sizeof buf, "%s;com.acme.Work.step;com.acme.Work.part%d", ROOT, i);
        ifx_add(p, buf, (samples / 8 + (i == 0 ? samples % 8 : 0)) * q);
    }
}

/* A frame name one pattern form matches. */
static void name_for(const char *pat, size_t len, char *out, size_t n)
{
    if (len && pat[len - 1] == '*')
        snprintf(out, n, "%.*sImpl.run", (int)len - 1, pat);
    else if (len && pat[0] == '*')
        snprintf(out, n, "java.lang.Impl%.*s", (int)len - 1, pat + 1);
    else
        snprintf(out, n, "%.*s", (int)len, pat);
}

START_TEST(test_insights_rules_each_pattern_row_triggers_and_clean_is_quiet)
{
    int checked = 0;
    for (size_t i = 0; i < cp_n_irules; i++) {
        const cp_irule_t *r = &cp_irules[i];
        if (r->kind != CP_IRULE_PATTERN)
            continue;
        cp_profile_t p;
        clean(&p, r->type, N_SAMPLES);
        cp_insights_t *in = ifx_run(r->type, &p);
        for (uint32_t k = 0; k < cp_insights_n_findings(in); k++)
            ck_assert_msg(cp_insights_finding(in, k)->severity != CP_INSIGHTS_WARN, "clean %s: WARN %s", r->type,
                          cp_insights_finding(in, k)->rule);
        ck_assert_ptr_null(cp_insights_find(in, r->id));
        cp_insights_destroy(in);
        /* the row's first pattern under a user method, at 1.5 x WARN */
        const char *pat = r->patterns[0], *gt = strstr(pat, CP_IRULE_ORDER);
        char a[160], b[160], stack[600];
        if (gt) {
            name_for(pat, (size_t)(gt - pat), a, sizeof a);
            name_for(gt + 3, strlen(gt + 3), b, sizeof b);
            snprintf(stack, sizeof stack, "%s;com.acme.Caller.run;%s;%s", ROOT, a, b);
        } else {
            name_for(pat, strlen(pat), a, sizeof a);
            snprintf(stack, sizeof stack, "%s;com.acme.Caller.run;%s", ROOT, a);
        }
        double want = r->warn * 1.5;   /* share, or blocked threads over the 10 s window */
        uint64_t bad = r->metric == CP_IMETRIC_SHARE ? (uint64_t)(want / (1 - want) * N_SAMPLES)
                                                     : (uint64_t)(want * 10e9 / (double)unit_of(r->type));
        if (bad < 60)
            bad = 60;
        ifx_add(&p, stack, bad * unit_of(r->type));
        in = ifx_run(r->type, &p);
        const cp_insights_finding_t *f = NULL;
        for (uint32_t k = 0; k < cp_insights_n_findings(in); k++)
            if (!strcmp(cp_insights_finding(in, k)->rule, r->id) && !strcmp(cp_insights_finding(in, k)->type, r->type))
                f = cp_insights_finding(in, k);
        ck_assert_msg(f != NULL, "%s/%s did not trigger on %s", r->id, r->type, stack);
        ck_assert_msg(f->severity == CP_INSIGHTS_WARN, "%s/%s: INFO", r->id, r->type);
        ck_assert_str_eq(f->callers[0].name, "com.acme.Caller.run");
        ck_assert_str_eq(f->stack[f->stack_len - 1], gt ? b : a);
        cp_insights_destroy(in);
        cp_profile_free(&p);
        checked++;
    }
    ck_assert_int_ge(checked, 20);
}
END_TEST

START_TEST(test_insights_rules_excludes_and_order)
{
    cp_profile_t p;
    /* reflection inside class initialisation is start-up work, not a finding */
    clean(&p, "cpu", N_SAMPLES);
    ifx_add(&p, "[Java] main;com.acme.Plugin.<clinit>;java.lang.Class.forName", 2000 * 10000000ull);
    cp_insights_t *in = ifx_run("cpu", &p);
    ck_assert_ptr_null(cp_insights_find(in, "reflection-after-warmup"));
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* reflection inside java.io serialization, a DecimalFormat built by
     * MessageFormat, a hot native leaf of a GC thread: none of them */
    clean(&p, "cpu", N_SAMPLES);
    ifx_add(&p, "[Java] main;com.acme.Copy.deep;java.io.ObjectInputStream.readObject;java.lang.reflect.Method.invoke",
            2000 * 10000000ull);
    ifx_add(&p, "[Java] main;com.acme.Log.line;java.text.MessageFormat.format;java.text.DecimalFormat.<init>",
            2000 * 10000000ull);
    ifx_add(&p, "[GC] G1 Conc#0;libjvm.so.G1ConcurrentMark::mark", 6000 * 10000000ull);
    p.kinds[p.funcs[p.stack_off[p.n_stacks] - 1]] = 4;   /* native */
    in = ifx_run("cpu", &p);
    ck_assert_ptr_null(cp_insights_find(in, "reflection-after-warmup"));
    ck_assert_ptr_null(cp_insights_find(in, "recreated-objects"));
    ck_assert_ptr_null(cp_insights_find(in, "hot-method"));
    ck_assert_ptr_nonnull(cp_insights_find(in, "serialization"));
    ck_assert_ptr_nonnull(cp_insights_find(in, "string-format"));
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* StringBuilder growth needs the copy below ensureCapacityInternal */
    clean(&p, "cpu", N_SAMPLES);
    ifx_add(&p, "[Java] main;com.acme.Csv.row;java.lang.AbstractStringBuilder.ensureCapacityInternal",
            2000 * 10000000ull);
    in = ifx_run("cpu", &p);
    ck_assert_ptr_null(cp_insights_find(in, "collection-misuse"));
    cp_insights_destroy(in);
    ifx_add(&p, "[Java] main;com.acme.Csv.row;java.lang.AbstractStringBuilder.ensureCapacityInternal;"
                "java.util.Arrays.copyOf", 2000 * 10000000ull);
    in = ifx_run("cpu", &p);
    const cp_insights_finding_t *f = cp_insights_find(in, "collection-misuse");
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->frames[0], "java.util.Arrays.copyOf");
    ck_assert_str_eq(f->callers[0].name, "com.acme.Csv.row");
    cp_insights_destroy(in);
    cp_profile_free(&p);
}
END_TEST

/* Lock classes: blocked time per second; sample counts from lock_count. */
START_TEST(test_insights_rules_lock_contention_uses_counts)
{
    cp_profile_t lk, cnt;
    memset(&lk, 0, sizeof lk);
    memset(&cnt, 0, sizeof cnt);
    lk.unit = strdup("ns");
    cnt.unit = strdup("count");
    const char *hot = "[Java] pool-1;com.acme.Cache.get;[lock] com.acme.Cache";
    const char *cold = "[Java] pool-2;com.acme.Other.put;[lock] java.lang.Object";
    ifx_add(&lk, hot, 8000000000ull);   /* 8 s blocked in a 10 s window: 0.8 threads */
    ifx_add(&lk, cold, 100000000ull);
    ifx_add(&cnt, cold, 3);
    ifx_add(&cnt, hot, 400);
    cp_insights_t *in = cp_insights_create("app", "", 0, 10000);
    cp_insights_begin_type(in, "lock", &lk, &cnt);
    uint32_t st[2];
    uint64_t va[2];
    cp_store_window_t w = ifx_window(&lk, 0, 1, st, va);
    cp_insights_add_window(in, &w);
    cp_insights_end_type(in);
    cp_insights_finish(in);
    const cp_insights_finding_t *f = cp_insights_find(in, "lock-contention");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->frames[0], "[lock] com.acme.Cache");
    ck_assert_str_eq(f->callers[0].name, "com.acme.Cache.get");
    ck_assert_double_eq_tol(f->samples, 400, 0.5);
    ck_assert_double_eq_tol(f->metric, 0.8, 1e-9);
    ck_assert_str_eq(f->saving_unit, "threads");
    /* the cold lock: 3 events, not enough data, not a finding */
    ck_assert_uint_eq(cp_insights_n_findings(in), 1);
    cp_insights_destroy(in);
    cp_profile_free(&lk);
    cp_profile_free(&cnt);
}
END_TEST

static void point(cp_insights_t *in, const char *name, int64_t t, double v)
{
    cp_store_point_t pt = {name, "", t, v};
    cp_insights_add_point(in, &pt);
}

START_TEST(test_insights_rules_gc_pause_ratio_per_jvm)
{
    /* 60 pauses of 120 ms in the first minute: 12 % paused */
    cp_insights_t *in = cp_insights_create("app", "", 0, 120000);
    for (int i = 0; i < 60; i++)
        point(in, "gc.pause_ns", i * 1000, 120e6);
    cp_insights_finish(in);
    const cp_insights_finding_t *f = cp_insights_find(in, "gc-pause-ratio");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_double_eq_tol(f->metric, 0.12, 1e-9);
    ck_assert_int_eq(f->worst_from_ms, 0);
    ck_assert_str_eq(f->type, "gc");
    ck_assert_ptr_null(cp_insights_find(in, "long-gc"));
    cp_insights_destroy(in);
    /* the same pauses from two JVMs whose windows cover the minute: 6 %
     * each, INFO */
    in = cp_insights_create("app", "", 0, 120000);
    cp_profile_t p;
    clean(&p, "cpu", 1000);
    cp_insights_begin_type(in, "cpu", &p, NULL);
    uint32_t st[32];
    uint64_t va[32];
    for (int inst = 1; inst <= 2; inst++)
        for (int k = 0; k < 6; k++) {
            cp_store_window_t w = ifx_window(&p, k * 10000, inst, st, va);
            cp_insights_add_window(in, &w);
        }
    cp_insights_end_type(in);
    for (int i = 0; i < 60; i++)
        point(in, "gc.pause_ns", i * 1000, 120e6);
    cp_insights_finish(in);
    f = cp_insights_find(in, "gc-pause-ratio");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_INFO);
    ck_assert_double_eq_tol(f->metric, 0.06, 1e-9);
    cp_insights_destroy(in);
    /* a JVM that lived 10 s of the minute and paused 6 s of them: 60 % */
    in = cp_insights_create("app", "", 0, 120000);
    cp_insights_begin_type(in, "cpu", &p, NULL);
    cp_store_window_t w = ifx_window(&p, 0, 1, st, va);
    cp_insights_add_window(in, &w);
    cp_insights_end_type(in);
    for (int i = 0; i < 60; i++)
        point(in, "gc.pause_ns", i * 150, 100e6);
    cp_insights_finish(in);
    f = cp_insights_find(in, "gc-pause-ratio");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_double_eq_tol(f->metric, 0.6, 1e-9);
    cp_insights_destroy(in);
    /* one second of a JVM in the next minute with a 300 ms pause is not a
     * 30 % minute: too thin to be the worst */
    in = cp_insights_create("app", "", 0, 120000);
    cp_insights_begin_type(in, "cpu", &p, NULL);
    for (int k = 0; k < 6; k++) {
        cp_store_window_t wk = ifx_window(&p, 5000 + k * 10000, 1, st, va);
        wk.end_ms = wk.start_ms + (k == 5 ? 6000 : 10000);   /* the last ends at 61 s */
        cp_insights_add_window(in, &wk);
    }
    cp_insights_end_type(in);
    for (int i = 0; i < 59; i++)
        point(in, "gc.pause_ns", 5000 + i * 900, 1e6);
    point(in, "gc.pause_ns", 60500, 300e6);
    cp_insights_finish(in);
    ck_assert_ptr_null(cp_insights_find(in, "gc-pause-ratio"));
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* series read from the second minute on: the first minute's JVM time
     * does not thin out the ratio over the range */
    in = cp_insights_create("app", "", 0, 120000);
    clean(&p, "cpu", 1000);
    cp_insights_begin_type(in, "cpu", &p, NULL);
    for (int k = 0; k < 12; k++) {
        cp_store_window_t wk = ifx_window(&p, k * 10000, 1, st, va);
        cp_insights_add_window(in, &wk);
    }
    cp_insights_end_type(in);
    cp_insights_series_from(in, 60000);
    for (int i = 0; i < 60; i++)
        point(in, "gc.pause_ns", 60000 + i * 1000, 120e6);
    cp_insights_finish(in);
    f = cp_insights_find(in, "gc-pause-ratio");
    ck_assert_ptr_nonnull(f);
    ck_assert_double_eq_tol(f->share, 0.12, 1e-9);
    cp_insights_destroy(in);
    cp_profile_free(&p);
    /* ten pauses: not enough data */
    in = cp_insights_create("app", "", 0, 120000);
    for (int i = 0; i < 10; i++)
        point(in, "gc.pause_ns", i * 1000, 300e6);
    cp_insights_finish(in);
    ck_assert_ptr_null(cp_insights_find(in, "gc-pause-ratio"));
    ck_assert_uint_eq(cp_insights_n_short(in), 1);
    ck_assert_str_eq(cp_insights_short(in, 0)->rule, "gc-pause-ratio");
    ck_assert_double_eq(cp_insights_short(in, 0)->needed, 50);
    /* ... but 300 ms pauses are long ones (one pause is a measurement), and
     * taking 3 s of the 9 s they span they are a WARN */
    f = cp_insights_find(in, "long-gc");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_double_eq_tol(f->metric, 0.3, 1e-9);
    cp_insights_destroy(in);
}
END_TEST

START_TEST(test_insights_rules_long_gc_warns_on_a_full_pause)
{
    /* one 300 ms pause in five minutes: INFO */
    cp_insights_t *one = cp_insights_create("app", "", 0, 600000);
    point(one, "gc.pause_ns", 100000, 5e6);
    point(one, "gc.pause_ns", 400000, 300e6);
    cp_insights_finish(one);
    ck_assert_ptr_nonnull(cp_insights_find(one, "long-gc"));
    ck_assert_int_eq(cp_insights_find(one, "long-gc")->severity, CP_INSIGHTS_INFO);
    cp_insights_destroy(one);
    cp_insights_t *in = cp_insights_create("app", "", 0, 600000);
    point(in, "gc.pause_ns", 100000, 5e6);
    point(in, "gc.pause_ns", 200000, 1.5e9);
    cp_insights_finish(in);
    const cp_insights_finding_t *f = cp_insights_find(in, "long-gc");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_int_eq(f->worst_to_ms, 200000);
    ck_assert_int_eq(f->worst_from_ms, 198500);
    ck_assert_ptr_nonnull(strstr(f->detail, "1.50 s"));
    cp_insights_destroy(in);
}
END_TEST

START_TEST(test_insights_rules_growth_of_heap_and_threads)
{
    cp_insights_t *in = cp_insights_create("app", "", 0, 600000);
    for (int i = 0; i < 30; i++) {
        int64_t t = i * 10000;
        point(in, "gc.heap_after_bytes", t, 100e6 + i * 3.5e6 + (i % 3) * 1e6);
        point(in, "threads.runnable", t, 10 + i * 3);
        point(in, "threads.waiting", t, 5);
    }
    cp_insights_finish(in);
    const cp_insights_finding_t *f = cp_insights_find(in, "live-set-growth");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->saving_unit, "leak bytes/s");
    ck_assert_double_eq_tol(f->saving, 3.5e6 / 10, 2e4);   /* 3.5 MB per 10 s */
    f = cp_insights_find(in, "thread-growth");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->severity, CP_INSIGHTS_WARN);
    ck_assert_str_eq(f->type, "threads");
    ck_assert_double_eq_tol(f->saving, 3 * 360, 1);   /* threads per hour */
    cp_insights_destroy(in);
    /* a leak under allocation noise: heap after GC read with up to 200 MB
     * of new allocation on top; the lower envelope still shows 0.35 MB/s */
    in = cp_insights_create("app", "", 0, 600000);
    for (int i = 0; i < 60; i++)
        point(in, "gc.heap_after_bytes", i * 5000, 100e6 + 0.35e6 * i * 5 + (i * 37 % 11) / 10.0 * 200e6);
    cp_insights_finish(in);
    f = cp_insights_find(in, "live-set-growth");
    ck_assert_ptr_nonnull(f);
    ck_assert_double_eq_tol(f->saving, 0.35e6, 0.05e6);
    cp_insights_destroy(in);
    /* flat or noisy: nothing */
    in = cp_insights_create("app", "", 0, 600000);
    for (int i = 0; i < 30; i++) {
        point(in, "gc.heap_after_bytes", i * 10000, i % 2 ? 100e6 : 140e6);
        point(in, "threads.runnable", i * 10000, 20);
    }
    cp_insights_finish(in);
    ck_assert_ptr_null(cp_insights_find(in, "live-set-growth"));
    ck_assert_ptr_null(cp_insights_find(in, "thread-growth"));
    cp_insights_destroy(in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("insights_rules");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_insights_rules_each_pattern_row_triggers_and_clean_is_quiet);
    tcase_add_test(tc, test_insights_rules_excludes_and_order);
    tcase_add_test(tc, test_insights_rules_lock_contention_uses_counts);
    tcase_add_test(tc, test_insights_rules_gc_pause_ratio_per_jvm);
    tcase_add_test(tc, test_insights_rules_long_gc_warns_on_a_full_pause);
    tcase_add_test(tc, test_insights_rules_growth_of_heap_and_threads);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
