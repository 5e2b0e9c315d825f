/* test_sender_backoff.c - the sender's reconnect delays (jvmti/sender_backoff.h):
 * doubling from 0.5 s to the 8 s cap with 50-100% jitter, reset, a
 * refusing relay, and a rate-limiting relay's own wait. */
#include <check.h>
#include <stdlib.h>

#include "sender_backoff.h"

static void in_range(uint32_t v, uint32_t lo, uint32_t hi)
{
    ck_assert_msg(v >= lo && v <= hi, "%u not in [%u, %u]", v, lo, hi);
}
#define IN(v, lo, hi) in_range((v), (lo), (hi))   /* v evaluated once: it is a call */

/* A backoff that has already waited after n failed attempts. */
static cp_backoff_t after_failures(unsigned seed, int n)
{
    cp_backoff_t b;
    cp_backoff_init(&b, seed);
    for (int i = 0; i < n; i++)
        cp_backoff_next_ms(&b);
    return b;
}

START_TEST(test_doubles_to_the_cap_with_jitter)
{
    for (unsigned seed = 1; seed < 200; seed++) {
        cp_backoff_t b;
        cp_backoff_init(&b, seed);
        uint32_t full = 500;
        for (int i = 0; i < 30; i++) {
            IN(cp_backoff_next_ms(&b), full / 2, full);
            full = full * 2 > 8000 ? 8000 : full * 2;
        }
    }
}
END_TEST

START_TEST(test_jitter_spreads_a_fleet)
{
    /* 200 agents failing at once: their first retries spread over 250-500 ms */
    uint32_t lo = 1000, hi = 0;
    for (unsigned seed = 1; seed <= 200; seed++) {
        cp_backoff_t b;
        cp_backoff_init(&b, seed * 7919u);
        uint32_t d = cp_backoff_next_ms(&b);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_le(lo, 300);
    ck_assert_uint_ge(hi, 450);
}
END_TEST

START_TEST(test_reset_and_refused)
{
    cp_backoff_t b = after_failures(42, 10);
    cp_backoff_reset(&b);
    IN(cp_backoff_next_ms(&b), 250, 500);
    cp_backoff_refused(&b);
    IN(cp_backoff_next_ms(&b), 4000, 8000);
    IN(cp_backoff_next_ms(&b), 4000, 8000);
}
END_TEST

START_TEST(test_rate_limited_waits_what_the_relay_asks)
{
    cp_backoff_t b = after_failures(7, 10);
    cp_backoff_rate_limited(&b, 3000);
    IN(cp_backoff_next_ms(&b), 3000, 4500);
    IN(cp_backoff_next_ms(&b), 500, 1000);   /* once; then the doubling starts again */
    cp_backoff_rate_limited(&b, 0);           /* no wait given: 1 s */
    IN(cp_backoff_next_ms(&b), 1000, 1500);
    cp_backoff_rate_limited(&b, 3600 * 1000); /* an hour: capped */
    IN(cp_backoff_next_ms(&b), 120000, 180000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sender_backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_doubles_to_the_cap_with_jitter);
    tcase_add_test(tc, test_jitter_spreads_a_fleet);
    tcase_add_test(tc, test_reset_and_refused);
    tcase_add_test(tc, test_rate_limited_waits_what_the_relay_asks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
