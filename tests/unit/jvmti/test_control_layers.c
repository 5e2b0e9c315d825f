/* test_control_layers.c - jvmti/control_layers.c: app defaults and timed
 * changes layered over the agent's own options. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "control_layers.h"

static cp_options_t own(void)
{
    cp_options_t o;
    cp_options_defaults(&o);
    cp_options_parse(&o, "app=shop,cpu=10ms", NULL, NULL);
    return o;
}

START_TEST(test_control_layers_change_then_expiry_lands_on_defaults)
{
    cp_ctl_layers_t l;
    cp_ctl_layers_init(&l);
    cp_options_t base = own(), eff;
    const char *dk[] = {"alloc"}, *dv[] = {"1m"};
    cp_ctl_layers_set_defaults(&l, dk, dv, 1);
    const char *ck[] = {"alloc", "lock"}, *cv[] = {"256k", "10ms"};
    ck_assert_int_eq(cp_ctl_layers_add(&l, "c1", ck, cv, 2, 5000, NULL), 0);
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(eff.alloc_bytes, 256 << 10);
    ck_assert_int_eq(eff.lock_ns, 10000000);
    ck_assert_uint_eq(cp_ctl_layers_next_end(&l), 5000);
    char ids[4][CP_CTL_ID_MAX];
    ck_assert_uint_eq(cp_ctl_layers_expire(&l, 4999, ids, 4), 0);
    ck_assert_uint_eq(cp_ctl_layers_expire(&l, 5000, ids, 4), 1);
    ck_assert_str_eq(ids[0], "c1");
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(eff.alloc_bytes, 1 << 20);   /* the app's default, not the agent's own "off" */
    ck_assert_int_eq(eff.lock_ns, 0);
    ck_assert_uint_eq(cp_ctl_layers_next_end(&l), 0);
}
END_TEST

START_TEST(test_control_layers_later_change_wins_and_earlier_end_is_kept)
{
    cp_ctl_layers_t l;
    cp_ctl_layers_init(&l);
    cp_options_t base = own(), eff;
    const char *k[] = {"wall"}, *v1[] = {"20ms"}, *v2[] = {"5ms"};
    cp_ctl_layers_add(&l, "a", k, v1, 1, 9000, NULL);
    cp_ctl_layers_add(&l, "b", k, v2, 1, 3000, NULL);
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(eff.wall_ns, 5000000);
    char ids[2][CP_CTL_ID_MAX];
    ck_assert_uint_eq(cp_ctl_layers_expire(&l, 3000, ids, 2), 1);
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(eff.wall_ns, 20000000);
    ck_assert_uint_eq(cp_ctl_layers_remove(&l, "a"), 1);
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(eff.wall_ns, 0);
}
END_TEST

START_TEST(test_control_layers_same_id_replaces_and_full_table_ends_the_oldest)
{
    cp_ctl_layers_t l;
    cp_ctl_layers_init(&l);
    const char *k[] = {"cpu"}, *v[] = {"1ms"};
    char id[CP_CTL_ID_MAX], ended[CP_CTL_ID_MAX] = "";
    for (int i = 0; i < CP_CTL_MAX_CHANGES; i++) {
        snprintf(id, sizeof id, "c%d", i);
        ck_assert_int_eq(cp_ctl_layers_add(&l, id, k, v, 1, 0, ended), 0);
    }
    ck_assert_int_eq(cp_ctl_layers_add(&l, "c3", k, v, 1, 100, ended), 0);   /* replaced in place */
    ck_assert_uint_eq(l.n_changes, CP_CTL_MAX_CHANGES);
    ck_assert_int_eq(cp_ctl_layers_add(&l, "new", k, v, 1, 0, ended), 1);
    ck_assert_str_eq(ended, "c0");
    ck_assert_uint_eq(cp_ctl_layers_remove(&l, ""), CP_CTL_MAX_CHANGES);
    ck_assert_uint_eq(l.n_changes, 0);
}
END_TEST

START_TEST(test_control_layers_keep_relay_and_identity_untouchable)
{
    cp_ctl_layers_t l;
    cp_ctl_layers_init(&l);
    cp_options_t base = own(), eff;
    /* the layer stores what it is given; applying goes through the whitelist */
    const char *k[] = {"relay", "app"}, *v[] = {"ws://evil:1", "other"};
    cp_ctl_layers_add(&l, "x", k, v, 2, 0, NULL);
    cp_ctl_layers_apply(&l, &base, &eff);
    ck_assert_int_eq(memcmp(&eff, &base, sizeof eff), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("control_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, test_control_layers_change_then_expiry_lands_on_defaults);
    tcase_add_test(tc, test_control_layers_later_change_wins_and_earlier_end_is_kept);
    tcase_add_test(tc, test_control_layers_same_id_replaces_and_full_table_ends_the_oldest);
    tcase_add_test(tc, test_control_layers_keep_relay_and_identity_untouchable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
