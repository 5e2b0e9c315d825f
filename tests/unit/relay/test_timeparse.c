/* test_timeparse.c - the query API's time and duration syntax. */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "relay.h"

#define NOW 1763773000000LL

START_TEST(test_timeparse_relative_subtracts_duration)
{
    int64_t t;
    ck_assert_int_eq(cp_time_parse("now", NOW, &t), 0);
    ck_assert_int_eq(t, NOW);
    ck_assert_int_eq(cp_time_parse("now-15m", NOW, &t), 0);
    ck_assert_int_eq(t, NOW - 15 * 60000);
    ck_assert_int_eq(cp_time_parse("now-24h", NOW, &t), 0);
    ck_assert_int_eq(t, NOW - 86400000);
    ck_assert_int_eq(cp_time_parse("now+1m", NOW, &t), 0);
    ck_assert_int_eq(t, NOW + 60000);
}
END_TEST

START_TEST(test_timeparse_unix_seconds_become_ms)
{
    int64_t t;
    ck_assert_int_eq(cp_time_parse("1763773000", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773000000LL);
    ck_assert_int_eq(cp_time_parse("1763773000.25", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773000250LL);
}
END_TEST

START_TEST(test_timeparse_rfc3339_with_offsets)
{
    int64_t t;
    ck_assert_int_eq(cp_time_parse("2025-11-22T01:00:00Z", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773200000LL);
    ck_assert_int_eq(cp_time_parse("2025-11-22T03:00:00+02:00", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773200000LL);
    ck_assert_int_eq(cp_time_parse("2025-11-22T01:00:00.5Z", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773200500LL);
}
END_TEST

START_TEST(test_timeparse_garbage_is_einval)
{
    int64_t t;
    const char *bad[] = {"", "yesterday", "now-", "now-5x", "now*2", "12abc", "-5",
                         "2025-11-22T01:00:00", "2025-13-22T01:00:00Z", "2025-11-22T01:00Z", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(cp_time_parse(bad[i], NOW, &t) == CP_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_duration_units)
{
    int64_t d;
    ck_assert_int_eq(cp_duration_parse("500ms", &d), 0);
    ck_assert_int_eq(d, 500);
    ck_assert_int_eq(cp_duration_parse("30", &d), 0);
    ck_assert_int_eq(d, 30000);
    ck_assert_int_eq(cp_duration_parse("14d", &d), 0);
    ck_assert_int_eq(d, 14LL * 86400000);
    ck_assert_int_eq(cp_duration_parse("2w", &d), 0);
    ck_assert_int_eq(d, 14LL * 86400000);
    ck_assert_int_eq(cp_duration_parse("1x", &d), CP_EINVAL);
    ck_assert_int_eq(cp_duration_parse("-1s", &d), CP_EINVAL);
}
END_TEST

/* A duration whose milliseconds do not fit (or are absurd: over
 * CP_DURATION_MAX_MS) is CP_ERANGE, never an overflowed int64. */
START_TEST(test_duration_overflow_is_erange)
{
    int64_t d = 42;
    ck_assert_int_eq(cp_duration_parse("3000000000000h", &d), CP_ERANGE);
    ck_assert_int_eq(cp_duration_parse("10000000000000m", &d), CP_ERANGE);
    ck_assert_int_eq(cp_duration_parse("1e300y", &d), CP_ERANGE);
    ck_assert_int_eq(cp_duration_parse("101y", &d), CP_ERANGE);
    ck_assert_int_eq(d, 42);   /* untouched on error */
    ck_assert_int_eq(cp_duration_parse("100y", &d), 0);
    ck_assert_int_eq(d, CP_DURATION_MAX_MS);
}
END_TEST

START_TEST(test_duration_not_a_number_is_einval)
{
    int64_t d;
    const char *bad[] = {"nan", "inf", "infinity", "nanh", "-inf", "0x10s", " 5s", "5 s", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(cp_duration_parse(bad[i], &d) == CP_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_timeparse_relative_overflow_is_erange)
{
    int64_t t = 42;
    ck_assert_int_eq(cp_time_parse("now-3000000000000h", NOW, &t), CP_ERANGE);
    ck_assert_int_eq(cp_time_parse("now-10000000000000m", NOW, &t), CP_ERANGE);
    ck_assert_int_eq(cp_time_parse("now+3000000000000h", NOW, &t), CP_ERANGE);
    ck_assert_int_eq(t, 42);
    /* before the epoch is out of range too */
    ck_assert_int_eq(cp_time_parse("now-99y", NOW, &t), CP_ERANGE);
    ck_assert_int_eq(cp_time_parse("now-50y", NOW, &t), 0);
    ck_assert_int_eq(cp_time_parse("nan", NOW, &t), CP_EINVAL);
    ck_assert_int_eq(cp_time_parse("1e300", NOW, &t), CP_EINVAL);
}
END_TEST

/* cp_time_parse_local reads zone-less forms in TZ; XYZ-2 is UTC+2 named XYZ. */
static void zone_xyz(void)
{
    setenv("TZ", "XYZ-2", 1);
    tzset();
}

START_TEST(test_timeparse_local_datetime_uses_tz)
{
    zone_xyz();
    int64_t t;
    const int64_t at = 1763773200000LL;   /* 2025-11-22T01:00:00Z = 03:00 XYZ */
    ck_assert_int_eq(cp_time_parse_local("2025-11-22 03:00", NOW, &t), 0);
    ck_assert_int_eq(t, at);
    ck_assert_int_eq(cp_time_parse_local("2025-11-22T03:00:00", NOW, &t), 0);
    ck_assert_int_eq(t, at);
    ck_assert_int_eq(cp_time_parse_local("2025-11-22 03:00:00.250", NOW, &t), 0);
    ck_assert_int_eq(t, at + 250);
    ck_assert_int_eq(cp_time_parse_local("2025-11-22", NOW, &t), 0);
    ck_assert_int_eq(t, at - 3 * 3600000LL);
}
END_TEST

START_TEST(test_timeparse_local_zone_names_and_offsets)
{
    zone_xyz();
    int64_t t;
    const int64_t at = 1763773200000LL;
    const char *same[] = {"2025-11-22 03:00 XYZ", "2025-11-22 03:00 +02:00", "2025-11-22 03:00+0200",
                          "2025-11-22 03:00 +02", "2025-11-22 01:00 UTC", "2025-11-22 01:00Z",
                          "2025-11-22 01:00 GMT", "2025-11-22T03:00:00+02:00", NULL};
    for (int i = 0; same[i]; i++) {
        ck_assert_msg(cp_time_parse_local(same[i], NOW, &t) == 0, "refused '%s'", same[i]);
        ck_assert_msg(t == at, "'%s' -> %lld", same[i], (long long)t);
    }
    ck_assert_int_eq(cp_time_parse_local("2025-11-22 UTC", NOW, &t), 0);
    ck_assert_int_eq(t, at - 3600000LL);
}
END_TEST

START_TEST(test_timeparse_local_keeps_api_forms)
{
    zone_xyz();
    int64_t t;
    ck_assert_int_eq(cp_time_parse_local("now-15m", NOW, &t), 0);
    ck_assert_int_eq(t, NOW - 15 * 60000);
    ck_assert_int_eq(cp_time_parse_local("1763773000", NOW, &t), 0);
    ck_assert_int_eq(t, 1763773000000LL);
    /* NOW = 2025-11-22T00:56:40Z = 02:56:40 XYZ: today starts 00:00 XYZ */
    ck_assert_int_eq(cp_time_parse_local("today", NOW, &t), 0);
    ck_assert_int_eq(t, 1763762400000LL);
    ck_assert_int_eq(cp_time_parse_local("yesterday", NOW, &t), 0);
    ck_assert_int_eq(t, 1763762400000LL - 86400000LL);
}
END_TEST

START_TEST(test_timeparse_local_garbage_is_einval)
{
    zone_xyz();
    int64_t t;
    const char *bad[] = {"2025-11-31", "2025-02-29", "2025-11-22 25:00", "2025-11-22 03:00 PST",
                         "2025-11-22 03", "2025-11-22 03:00:", "2025-11-22 03:00 +2", "2025/11/22",
                         "last tuesday", "1969-12-31", "2025-11-22 03:00 +02:00 XYZ", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(cp_time_parse_local(bad[i], NOW, &t) != 0, "accepted '%s'", bad[i]);
    /* the API itself stays zone-explicit */
    ck_assert_int_eq(cp_time_parse("2025-11-22", NOW, &t), CP_EINVAL);
    ck_assert_int_eq(cp_time_parse("2025-11-22 03:00", NOW, &t), CP_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeparse");
    TCase *tc = tcase_create("times");
    tcase_add_test(tc, test_timeparse_relative_subtracts_duration);
    tcase_add_test(tc, test_timeparse_unix_seconds_become_ms);
    tcase_add_test(tc, test_timeparse_rfc3339_with_offsets);
    tcase_add_test(tc, test_timeparse_garbage_is_einval);
    suite_add_tcase(s, tc);
    tc = tcase_create("local");
    tcase_add_test(tc, test_timeparse_local_datetime_uses_tz);
    tcase_add_test(tc, test_timeparse_local_zone_names_and_offsets);
    tcase_add_test(tc, test_timeparse_local_keeps_api_forms);
    tcase_add_test(tc, test_timeparse_local_garbage_is_einval);
    suite_add_tcase(s, tc);
    tc = tcase_create("durations");
    tcase_add_test(tc, test_duration_units);
    tcase_add_test(tc, test_duration_overflow_is_erange);
    tcase_add_test(tc, test_duration_not_a_number_is_einval);
    tcase_add_test(tc, test_timeparse_relative_overflow_is_erange);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);   /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
