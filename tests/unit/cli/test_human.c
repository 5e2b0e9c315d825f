/* test_human.c - numbers and times as a person reads them (cli/human.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "human.h"

static const char *v(double x, cp_unit_t u)
{
    static char b[64];
    return cp_human_value(x, u, b, sizeof b);
}

START_TEST(test_human_durations_pick_a_unit)
{
    ck_assert_str_eq(v(6734457000.0, CP_UNIT_NS), "6.73 s");
    ck_assert_str_eq(v(734457000.0, CP_UNIT_NS), "734 ms");
    ck_assert_str_eq(v(3400000.0, CP_UNIT_NS), "3.40 ms");
    ck_assert_str_eq(v(12500.0, CP_UNIT_NS), "12.5 us");
    ck_assert_str_eq(v(870.0, CP_UNIT_NS), "870 ns");
    ck_assert_str_eq(v(0, CP_UNIT_NS), "0");
    ck_assert_str_eq(v(42.1e9, CP_UNIT_NS), "42.1 s");
    ck_assert_str_eq(v(744e9, CP_UNIT_NS), "12.4 min");
    ck_assert_str_eq(v(9000e9, CP_UNIT_NS), "2.50 h");
    ck_assert_str_eq(v(999999.0, CP_UNIT_NS), "1.00 ms");   /* no "1000 us" */
}
END_TEST

START_TEST(test_human_sizes_and_counts)
{
    ck_assert_str_eq(v(512, CP_UNIT_BYTES), "512 B");
    ck_assert_str_eq(v(12 * 1024, CP_UNIT_BYTES), "12.0 KiB");
    ck_assert_str_eq(v(3.25 * 1048576, CP_UNIT_BYTES), "3.25 MiB");
    ck_assert_str_eq(v(1.2 * 1073741824.0, CP_UNIT_BYTES), "1.20 GiB");
    ck_assert_str_eq(v(1023 * 1024.0, CP_UNIT_BYTES), "1.00 MiB");   /* no "1023 KiB" */
    ck_assert_str_eq(v(950, CP_UNIT_COUNT), "950");
    ck_assert_str_eq(v(12300, CP_UNIT_COUNT), "12.3 k");
    ck_assert_str_eq(v(4560000, CP_UNIT_COUNT), "4.56 M");
    ck_assert_int_eq(cp_human_unit_of_type("cpu"), CP_UNIT_NS);
    ck_assert_int_eq(cp_human_unit_of_type("lock"), CP_UNIT_NS);
    ck_assert_int_eq(cp_human_unit_of_type("alloc"), CP_UNIT_BYTES);
    ck_assert_int_eq(cp_human_unit_of_type("alloc_objects"), CP_UNIT_COUNT);
    ck_assert_int_eq(cp_human_unit_of_type("lock_count"), CP_UNIT_COUNT);
}
END_TEST

START_TEST(test_human_times_are_local_with_the_zone)
{
    setenv("TZ", "XYZ-2", 1);
    tzset();
    char b[96];
    const long long at = 1763773200000LL;   /* 2025-11-22T01:00:00Z */
    ck_assert_str_eq(cp_human_time(at, b, sizeof b), "2025-11-22 03:00:00 XYZ");
    ck_assert_str_eq(cp_human_range(at - 900000, at, b, sizeof b), "2025-11-22 02:45:00 to 03:00:00 XYZ");
    ck_assert_str_eq(cp_human_range(at - 86400000, at, b, sizeof b),
                     "2025-11-21 03:00:00 XYZ to 2025-11-22 03:00:00 XYZ");
    ck_assert_str_eq(cp_human_age(8500, b, sizeof b), "8 s");
    ck_assert_str_eq(cp_human_age(180000, b, sizeof b), "3 min");
    ck_assert_str_eq(cp_human_age(5 * 86400000LL, b, sizeof b), "5 d");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("human");
    TCase *tc = tcase_create("units");
    tcase_add_test(tc, test_human_durations_pick_a_unit);
    tcase_add_test(tc, test_human_sizes_and_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("times");
    tcase_add_test(tc, test_human_times_are_local_with_the_zone);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
