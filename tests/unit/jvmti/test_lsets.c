/* test_lsets.c - Check tests for jvmti/lsets (the agent's label-set table)
 * and the context slot of jvmti/context (cp_context_get/set on the calling
 * thread, also from a signal handler that lands mid-way).
 *
 * Through the public headers only. Check's fork mode gives each test a
 * fresh table (a process). */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "context.h"
#include "lsets.h"

START_TEST(test_lsets_intern_is_canonical_and_stable)
{
    cp_kv_t a[] = {{"tenant", "acme"}, {"endpoint", "GET /a"}};
    cp_kv_t b[] = {{"endpoint", "GET /a"}, {"tenant", "acme"}};
    int32_t ia = cp_lsets_intern(a, 2), ib = cp_lsets_intern(b, 2);
    ck_assert_int_gt(ia, 0);
    ck_assert_int_eq(ia, ib);                       /* order does not matter */
    uint32_t n;
    const cp_kv_t *kv = cp_lsets_get((uint32_t)ia, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(kv[0].key, "endpoint");        /* sorted by key */
    ck_assert_str_eq(kv[1].value, "acme");
    ck_assert_int_eq(cp_lsets_intern(NULL, 0), 0);  /* the empty set */
    cp_kv_t dup[] = {{"k", "1"}, {"k", "2"}, {"", "x"}, {"gone", NULL}};
    int32_t id = cp_lsets_intern(dup, 4);
    kv = cp_lsets_get((uint32_t)id, &n);
    ck_assert_uint_eq(n, 1);                        /* last value wins; empty key, NULL value left out */
    ck_assert_str_eq(kv[0].value, "2");
    ck_assert_uint_eq(cp_lsets_count(), 3);         /* ids 0, 1, 2 */
}
END_TEST

START_TEST(test_lsets_cut_long_values_and_many_pairs)
{
    char longv[CP_LSETS_MAX_LEN + 50];
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    cp_kv_t kv[12];
    char keys[12][4];
    for (int i = 0; i < 12; i++) {
        keys[i][0] = (char)('a' + i); keys[i][1] = '\0';
        kv[i] = (cp_kv_t){keys[i], longv};
    }
    uint32_t n;
    const cp_kv_t *got = cp_lsets_get((uint32_t)cp_lsets_intern(kv, 12), &n);
    ck_assert_uint_eq(n, CP_LSETS_MAX_PAIRS);
    ck_assert_uint_eq(strlen(got[0].value), CP_LSETS_MAX_LEN);
}
END_TEST

START_TEST(test_lsets_full_table_answers_minus_one)
{
    char v[16];
    cp_kv_t kv = {"id", v};
    int32_t last = 0;
    for (int i = 0; i < CP_LSETS_MAX + 10; i++) {
        snprintf(v, sizeof v, "%d", i);
        last = cp_lsets_intern(&kv, 1);
        if (i < CP_LSETS_MAX)
            ck_assert_int_eq(last, i + 1);
    }
    ck_assert_int_eq(last, -1);
    snprintf(v, sizeof v, "%d", 5);
    ck_assert_int_eq(cp_lsets_intern(&kv, 1), 6);   /* known sets still answer */
}
END_TEST

/* ---- the slot: a handler on the same thread sees whole records ---- */
static volatile sig_atomic_t bad, seen;

static void on_alarm(int sig)
{
    (void)sig;
    cp_context_t c;
    cp_context_get(&c);
    seen++;
    /* every record written has trace_lo == labels * 7 and span == labels + 1 */
    if (c.labels && (c.trace_lo != (uint64_t)c.labels * 7 || c.span != (uint64_t)c.labels + 1 || c.trace_hi != 1))
        bad++;
}

START_TEST(test_context_handler_never_sees_a_torn_record)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 100}, {0, 100}};   /* as often as the kernel allows (HZ: 4 ms here) */
    setitimer(ITIMER_PROF, &it, NULL);
    for (uint32_t i = 1; seen < 250 && i < 2000000000u; i++) {
        cp_context_t c = {i, 1, (uint64_t)i * 7, (uint64_t)i + 1};
        cp_context_set(&c);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    ck_assert_int_ge(seen, 250);
    ck_assert_int_eq(bad, 0);
}
END_TEST

static void *other_thread(void *arg)
{
    cp_context_t c;
    cp_context_get(&c);
    *(uint32_t *)arg = c.labels;
    return NULL;
}

START_TEST(test_context_is_per_thread)
{
    cp_context_t c = {5, 0, 0, 0};
    cp_context_set(&c);
    uint32_t theirs = 99;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &theirs);
    pthread_join(t, NULL);
    ck_assert_uint_eq(theirs, 0);
    cp_context_get(&c);
    ck_assert_uint_eq(c.labels, 5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lsets");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_lsets_intern_is_canonical_and_stable);
    tcase_add_test(tc, test_lsets_cut_long_values_and_many_pairs);
    tcase_add_test(tc, test_lsets_full_table_answers_minus_one);
    suite_add_tcase(s, tc);
    tc = tcase_create("slot");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_context_handler_never_sees_a_torn_record);
    tcase_add_test(tc, test_context_is_per_thread);
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
