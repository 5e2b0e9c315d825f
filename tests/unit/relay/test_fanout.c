/* test_fanout.c - NATS subjects of the live fan-out (relay/fanout.h): one
 * qualified app, one subject; subjects of one tenant never match another's;
 * a subject no relay publishes is refused. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fanout.h"

static void roundtrip(const char *qapp, const char *type, const char *want)
{
    char subj[CP_FANOUT_SUBJECT_MAX + 1], qa[2048], ty[256];
    int n = cp_fanout_subject(qapp, type, subj, sizeof subj);
    ck_assert_int_gt(n, 0);
    if (want)
        ck_assert_str_eq(subj, want);
    ck_assert_ptr_null(strchr(subj + 6, '*'));
    ck_assert_ptr_null(strchr(subj, '>'));
    ck_assert_ptr_null(strchr(subj, ' '));
    ck_assert_int_eq(cp_fanout_subject_parse(subj, qa, sizeof qa, ty, sizeof ty), 0);
    ck_assert_str_eq(qa, qapp);
    ck_assert_str_eq(ty, type);
}

START_TEST(test_fanout_subject_plain_names_read_as_is)
{
    roundtrip("checkout", "cpu", "cprof.%.checkout.cpu");
    roundtrip("acme\x1f" "checkout", "alloc_bytes", "cprof.acme.checkout.alloc_bytes");
}
END_TEST

START_TEST(test_fanout_subject_dots_and_wildcards_escaped)
{
    roundtrip("acme.eu\x1f" "com.shop.api", "cpu", "cprof.acme%2Eeu.com%2Eshop%2Eapi.cpu");
    roundtrip("a*b>c d%e", "wall", "cprof.%.a%2Ab%3Ec%20d%25e.wall");
    roundtrip("t\x1f" "caf\xc3\xa9", "lock", "cprof.t.caf%C3%A9.lock");
}
END_TEST

START_TEST(test_fanout_subject_wildcard_is_the_apps_only)
{
    char w[512];
    ck_assert_int_gt(cp_fanout_subject("acme\x1f" "shop", NULL, w, sizeof w), 0);
    ck_assert_str_eq(w, "cprof.acme.shop.*");
    ck_assert_int_gt(cp_fanout_subject("shop", NULL, w, sizeof w), 0);
    ck_assert_str_eq(w, "cprof.%.shop.*");
}
END_TEST

/* Tenant "a" app "b.c" and tenant "a.b" app "c" once collided under a
 * naive join; the escapes keep every (tenant, app) pair apart. */
START_TEST(test_fanout_subject_tenants_never_collide)
{
    const char *q[] = {"a\x1f" "b.c", "a.b\x1f" "c", "a\x1f" "b%2Ec", "b.c", "a%1Fb", "a\x1f" "b"};
    char s[6][512];
    for (int i = 0; i < 6; i++)
        ck_assert_int_gt(cp_fanout_subject(q[i], "cpu", s[i], sizeof s[i]), 0);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            ck_assert_str_ne(s[i], s[j]);
}
END_TEST

START_TEST(test_fanout_subject_parse_refuses_foreign_subjects)
{
    char qa[512], ty[64];
    const char *bad[] = {
        "other.acme.shop.cpu",       /* prefix */
        "cprof.acme.shop",           /* too few tokens */
        "cprof.acme.shop.cpu.x",     /* too many */
        "cprof.acme.shop.*",         /* a wildcard is no message subject */
        "cprof.acme.sh%6Fp.cpu",     /* 'o' escaped: not canonical */
        "cprof.acme.shop%2.cpu",     /* short escape */
        "cprof.acme.shop%zz.cpu",    /* bad hex */
        "cprof.acme.a%1Fb.cpu",      /* control byte in an app name */
        "cprof.ac%21me.shop.cpu",    /* '!' is no tenant character */
        "cprof..shop.cpu",           /* empty token is written "%" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(cp_fanout_subject_parse(bad[i], qa, sizeof qa, ty, sizeof ty) == -1, "%s", bad[i]);
}
END_TEST

START_TEST(test_fanout_subject_too_long_refused)
{
    char *app = malloc(1100), subj[CP_FANOUT_SUBJECT_MAX + 1], small[24];
    memset(app, '.', 1099);
    app[1099] = 0;
    ck_assert_int_eq(cp_fanout_subject(app, "cpu", subj, sizeof subj), -1);   /* 3,297 bytes escaped */
    ck_assert_int_eq(cp_fanout_subject("checkout-service", "cpu", small, sizeof small), -1);
    free(app);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fanout");
    TCase *tc = tcase_create("subject");
    tcase_add_test(tc, test_fanout_subject_plain_names_read_as_is);
    tcase_add_test(tc, test_fanout_subject_dots_and_wildcards_escaped);
    tcase_add_test(tc, test_fanout_subject_wildcard_is_the_apps_only);
    tcase_add_test(tc, test_fanout_subject_tenants_never_collide);
    tcase_add_test(tc, test_fanout_subject_parse_refuses_foreign_subjects);
    tcase_add_test(tc, test_fanout_subject_too_long_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
