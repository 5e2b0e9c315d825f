/* test_rutil.c - relay helpers: varints, the u64 hash map (with deletion). */
#include <check.h>
#include <stdlib.h>

#include "rutil.h"

START_TEST(test_rutil_varint_roundtrips)
{
    uint8_t b[10];
    uint64_t vs[] = {0, 1, 127, 128, 300, 1ULL << 35, UINT64_MAX};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        size_t n = cp__uvarint_put(b, vs[i]);
        uint64_t v = 7;
        ck_assert_uint_eq(cp__uvarint_get(b, n, &v), n);
        ck_assert_uint_eq(v, vs[i]);
        ck_assert_uint_eq(cp__uvarint_get(b, n - 1, &v), 0);   /* truncated */
    }
}
END_TEST

START_TEST(test_rutil_hmap_delete_keeps_other_keys_reachable)
{
    cp__hmap_t m = {0};
    enum { N = 20000 };
    for (uint32_t i = 0; i < N; i++)
        *cp__hmap_slot(&m, (uint64_t)i * 2654435761u, 1) = i + 1;
    for (uint32_t i = 0; i < N; i += 3)
        cp__hmap_del(&m, (uint64_t)i * 2654435761u);
    cp__hmap_del(&m, 12345678901ULL);   /* absent: no-op */
    for (uint32_t i = 0; i < N; i++) {
        uint32_t *v = cp__hmap_slot(&m, (uint64_t)i * 2654435761u, 0);
        if (i % 3 == 0)
            ck_assert_ptr_null(v);
        else {
            ck_assert_ptr_nonnull(v);
            ck_assert_uint_eq(*v, i + 1);
        }
    }
    ck_assert_uint_eq(m.n, N - (N + 2) / 3);
    /* churn: insert/delete many times, the table must not grow */
    size_t cap = m.cap;
    for (uint64_t k = 1; k < 200000; k++) {
        *cp__hmap_slot(&m, (k << 32) | 7, 1) = 1;
        cp__hmap_del(&m, (k << 32) | 7);
    }
    ck_assert_uint_eq(m.cap, cap);
    cp__hmap_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rutil");
    TCase *tc = tcase_create("rutil");
    tcase_add_test(tc, test_rutil_varint_roundtrips);
    tcase_add_test(tc, test_rutil_hmap_delete_keeps_other_keys_reachable);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);   /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
