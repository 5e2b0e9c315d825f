/* test_store_tier.c - the tier rules shared by store engines (store_tier.h):
 * the earliest stored sample of an app's type, from each tier's first row. */
#include <check.h>
#include <stdlib.h>

#include "store_tier.h"

START_TEST(test_store_tier_first_is_the_raw_start_when_raw_rows_cover_it)
{
    /* a minute row of the same minute starts earlier (bucket start): the
     * raw window is the more exact answer */
    ck_assert_int_eq(cp_store_tier_first(3725500, 3720000, 3600000), 3725500);
    ck_assert_int_eq(cp_store_tier_first(3725500, -1, -1), 3725500);
}
END_TEST

START_TEST(test_store_tier_first_falls_back_to_older_aggregates)
{
    /* raw rows expired below 2 h: the minute tier holds older buckets */
    ck_assert_int_eq(cp_store_tier_first(7200000, 3660000, 3600000), 3660000);
    /* minutes expired too: the hour bucket */
    ck_assert_int_eq(cp_store_tier_first(7200000, 7200000, 0), 0);
    ck_assert_int_eq(cp_store_tier_first(-1, -1, 3600000), 3600000);
}
END_TEST

START_TEST(test_store_tier_first_of_nothing_is_minus_one)
{
    ck_assert_int_eq(cp_store_tier_first(-1, -1, -1), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_tier");
    TCase *tc = tcase_create("first");
    tcase_add_test(tc, test_store_tier_first_is_the_raw_start_when_raw_rows_cover_it);
    tcase_add_test(tc, test_store_tier_first_falls_back_to_older_aggregates);
    tcase_add_test(tc, test_store_tier_first_of_nothing_is_minus_one);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
