/* test_budget.c - token buckets and the per-tenant budget table. */
#include <check.h>
#include <stdlib.h>

#include "budget.h"

START_TEST(test_budget_bucket_starts_full_then_refuses)
{
    cp_bucket_t b;
    uint32_t retry = 0;
    cp_bucket_init(&b, 100, 1000, 0);          /* 100/s, burst 1000 */
    ck_assert(cp_bucket_take(&b, 600, 0, &retry));
    ck_assert(cp_bucket_take(&b, 400, 0, &retry));
    ck_assert(!cp_bucket_take(&b, 50, 0, &retry));
    ck_assert_uint_eq(retry, 500);             /* 50 tokens at 100/s */
    /* a refused take takes nothing */
    ck_assert(!cp_bucket_take(&b, 50, 499, &retry));
    ck_assert_uint_eq(retry, 1);
    ck_assert(cp_bucket_take(&b, 50, 500, &retry));
}
END_TEST

START_TEST(test_budget_bucket_refills_at_rate_up_to_burst)
{
    cp_bucket_t b;
    uint32_t retry;
    cp_bucket_init(&b, 1000, 2000, 0);
    ck_assert(cp_bucket_take(&b, 2000, 0, &retry));
    ck_assert(!cp_bucket_take(&b, 1, 0, &retry));
    ck_assert(cp_bucket_take(&b, 1000, 1000, &retry));   /* 1 s later: 1000 back */
    ck_assert(!cp_bucket_take(&b, 1, 1000, &retry));
    /* an hour idle refills only to the burst */
    ck_assert(cp_bucket_take(&b, 2000, 3601000, &retry));
    ck_assert(!cp_bucket_take(&b, 1, 3601000, &retry));
    /* a clock going back does not add or remove tokens */
    ck_assert(!cp_bucket_take(&b, 1, 5, &retry));
}
END_TEST

START_TEST(test_budget_bucket_sustained_rate_is_the_rate)
{
    cp_bucket_t b;
    uint32_t retry;
    cp_bucket_init(&b, 50, 100, 0);
    uint64_t got = 0;
    for (int64_t t = 0; t < 10000; t += 10)   /* 10 s, asking 10 per ms-step: far over */
        if (cp_bucket_take(&b, 10, t, &retry))
            got += 10;
    ck_assert_uint_ge(got, 50 * 10 + 100 - 10);
    ck_assert_uint_le(got, 50 * 10 + 100);
}
END_TEST

START_TEST(test_budget_bucket_oversized_take_waits_for_full_bucket)
{
    cp_bucket_t b;
    uint32_t retry = 0;
    cp_bucket_init(&b, 10, 100, 0);
    ck_assert(cp_bucket_take(&b, 50, 0, &retry));
    ck_assert(!cp_bucket_take(&b, 500, 0, &retry));      /* over the burst: needs a full bucket */
    ck_assert_uint_eq(retry, 5000);
    ck_assert(cp_bucket_take(&b, 500, 5000, &retry));    /* taken, bucket in debt */
    ck_assert(!cp_bucket_take(&b, 1, 5000, &retry));
    ck_assert_uint_eq(retry, 40100);                     /* 400 debt + 1, at 10/s */
}
END_TEST

START_TEST(test_budget_bucket_rate_zero_is_unlimited)
{
    cp_bucket_t b;
    uint32_t retry;
    cp_bucket_init(&b, 0, 0, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert(cp_bucket_take(&b, 1e12, 0, &retry));
}
END_TEST

START_TEST(test_budget_tenants_are_separate)
{
    cp_budget_cfg_t c;
    cp_budget_cfg_default(&c);
    c.tenant_bytes_s = 100;
    c.burst_s = 1;
    cp_budget_t *b = cp_budget_create(&c);
    cp_budget_tenant_t *a = cp_budget_tenant(b, "a", 0), *x = cp_budget_tenant(b, "b", 0);
    ck_assert_ptr_ne(a, x);
    ck_assert_ptr_eq(cp_budget_tenant(b, "a", 0), a);
    uint32_t retry;
    ck_assert(cp_bucket_take(&a->bytes, 100, 0, &retry));
    ck_assert(!cp_bucket_take(&a->bytes, 1, 0, &retry));
    ck_assert(cp_bucket_take(&x->bytes, 100, 0, &retry));   /* b has its own budget */
    cp_budget_destroy(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, test_budget_bucket_starts_full_then_refuses);
    tcase_add_test(tc, test_budget_bucket_refills_at_rate_up_to_burst);
    tcase_add_test(tc, test_budget_bucket_sustained_rate_is_the_rate);
    tcase_add_test(tc, test_budget_bucket_oversized_take_waits_for_full_bucket);
    tcase_add_test(tc, test_budget_bucket_rate_zero_is_unlimited);
    suite_add_tcase(s, tc);
    tc = tcase_create("tenants");
    tcase_add_test(tc, test_budget_tenants_are_separate);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
