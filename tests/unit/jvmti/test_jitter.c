/* test_jitter.c - Check tests for jvmti/jitter.h: every gap within 0.5-1.5
 * intervals, their mean one interval, spread over the whole range for any
 * interval (an earlier version drew 31 bits: above 2.1 s its gaps stopped
 * at 2.1 s past the half, mean 0.71 interval at 5 s), and no period. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "jitter.h"

static void check_interval(uint64_t iv)
{
    uint64_t s = 12345, lo = UINT64_MAX, hi = 0;
    double sum = 0;
    unsigned quarter[4] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        uint64_t g = cp_jitter_step(&s, iv);
        if (g < iv / 2 || g > iv / 2 + iv)
            ck_abort_msg("interval %llu: gap %llu", (unsigned long long)iv, (unsigned long long)g);
        lo = g < lo ? g : lo;
        hi = g > hi ? g : hi;
        sum += (double)g;
        quarter[iv >= 4 ? (g - iv / 2) / ((iv + 1 + 3) / 4) : 0]++;
    }
    double mean = sum / n / (double)iv;
    ck_assert_msg(mean > 0.99 && mean < 1.01, "interval %llu: mean gap %.4f intervals",
                  (unsigned long long)iv, mean);
    ck_assert_msg((double)hi > 1.49 * (double)iv && (double)lo < 0.51 * (double)iv,
                  "interval %llu: gaps %llu..%llu", (unsigned long long)iv,
                  (unsigned long long)lo, (unsigned long long)hi);
    for (int q = 0; iv >= 4 && q < 4; q++)
        ck_assert_msg(quarter[q] > n / 4 * 0.97 && quarter[q] < n / 4 * 1.03,
                      "interval %llu: quarter %d has %u of %d", (unsigned long long)iv, q,
                      quarter[q], n);
}

START_TEST(test_jitter_range_and_mean)
{
    check_interval(1000000ULL);          /* 1 ms */
    check_interval(10000000ULL);         /* 10 ms */
    check_interval(5000000000ULL);       /* 5 s */
    check_interval(3600000000000ULL);    /* 1 h */
}
END_TEST

START_TEST(test_jitter_zero_and_tiny_intervals)
{
    uint64_t s = 0;
    ck_assert_uint_eq(cp_jitter_step(&s, 0), 0);
    for (int i = 0; i < 100; i++) {
        uint64_t g = cp_jitter_step(&s, 1);
        ck_assert_uint_le(g, 1);
    }
}
END_TEST

/* Consecutive gaps are not in step: the sum of 2 gaps is not one value. */
START_TEST(test_jitter_no_short_period)
{
    uint64_t s = 1, iv = 10000000ULL, prev = cp_jitter_step(&s, iv);
    int same = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t g = cp_jitter_step(&s, iv);
        same += g == prev;
        prev = g;
    }
    ck_assert_int_lt(same, 5);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("jitter");
    TCase *tc = tcase_create("step");
    tcase_add_test(tc, test_jitter_range_and_mean);
    tcase_add_test(tc, test_jitter_zero_and_tiny_intervals);
    tcase_add_test(tc, test_jitter_no_short_period);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
