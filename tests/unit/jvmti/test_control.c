/* test_control.c - jvmti/control.c: what a relay's configure may change. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "control.h"

static int n_warned;
static char last_warn[256];

static void warn(void *ud, const char *line)
{
    (void)ud;
    n_warned++;
    snprintf(last_warn, sizeof last_warn, "%s", line);
}

static cp_options_t base(void)
{
    cp_options_t o;
    cp_options_defaults(&o);
    cp_options_parse(&o, "relay=ws://relay.internal:7070,token=secret,app=shop,label.env=prod,log=/var/log/cp",
                     NULL, NULL);
    n_warned = 0;
    return o;
}

/* Everything but the fields the test expects to change must be identical. */
static void assert_only_changed(const cp_options_t *before, const cp_options_t *after, size_t off, size_t len)
{
    ck_assert_int_eq(memcmp(before, after, off), 0);
    ck_assert_int_eq(memcmp((const char *)before + off + len, (const char *)after + off + len,
                            sizeof *before - off - len), 0);
}

START_TEST(test_control_value_with_comma_cannot_redirect_the_relay)
{
    cp_options_t o = base(), before = o;
    const char *k[] = {"cpu"}, *v[] = {"1ms,relay=ws://elsewhere:9"};
    ck_assert_int_eq(cp_control_configure(&o, k, v, 1, warn, NULL), 1);
    ck_assert_str_eq(o.relay, "ws://relay.internal:7070");
    ck_assert_int_eq(memcmp(&o, &before, sizeof o), 0);
    ck_assert_int_eq(n_warned, 1);
    ck_assert_ptr_nonnull(strstr(last_warn, "refused"));
}
END_TEST

START_TEST(test_control_forbidden_keys_are_refused)
{
    cp_options_t o = base(), before = o;
    const char *k[] = {"relay", "token", "log", "tls.insecure", "tls.ca", "app", "label.env", "command",
                       "loglevel", "frobnicate", "cpu=1ms,relay"};
    const char *v[] = {"ws://evil:1", "stolen", "/tmp/x", "true", "/tmp/ca", "other", "dev", "detach",
                       "debug", "1", "ws://evil:1"};
    uint32_t n = sizeof k / sizeof k[0];
    ck_assert_int_eq(cp_control_configure(&o, k, v, n, warn, NULL), (int)n);
    ck_assert_int_eq(memcmp(&o, &before, sizeof o), 0);
    ck_assert_int_eq(n_warned, (int)n);
}
END_TEST

START_TEST(test_control_values_checked_by_type)
{
    cp_options_t o = base(), before = o;
    const char *k[] = {"cpu", "wall", "flush", "buffer", "cpu.native", "cpu.engine", "cpu", "flush"};
    const char *v[] = {"fast", "1 ms", "", "lots", "yes", "kernel", "10ms=", "50ms"};
    uint32_t n = sizeof k / sizeof k[0];
    ck_assert_int_eq(cp_control_configure(&o, k, v, n, warn, NULL), (int)n);   /* flush 50ms: below 100ms */
    ck_assert_int_eq(memcmp(&o, &before, sizeof o), 0);
}
END_TEST

START_TEST(test_control_whitelisted_keys_change_only_their_field)
{
    cp_options_t o = base(), before = o;
    const char *k[] = {"cpu"}, *v[] = {"1ms"};
    ck_assert_int_eq(cp_control_configure(&o, k, v, 1, warn, NULL), 0);
    ck_assert_int_eq(o.cpu_ns, 1000000);
    assert_only_changed(&before, &o, offsetof(cp_options_t, cpu_ns), sizeof o.cpu_ns);

    const char *k2[] = {"wall", "flush", "buffer", "cpu.native", "cpu.engine"};
    const char *v2[] = {"20ms", "2s", "512k", "off", "timer"};
    ck_assert_int_eq(cp_control_configure(&o, k2, v2, 5, warn, NULL), 0);
    ck_assert_int_eq(o.wall_ns, 20000000);
    ck_assert_int_eq(o.flush_ns, 2000000000LL);
    ck_assert_int_eq(o.buffer_bytes, 512 << 10);
    ck_assert_int_eq(o.cpu_native, 0);
    ck_assert_int_eq(o.cpu_engine, 2);
    ck_assert_str_eq(o.relay, before.relay);
    ck_assert_str_eq(o.token, before.token);
    ck_assert_str_eq(o.log, before.log);
    ck_assert_int_eq(n_warned, 0);
}
END_TEST

START_TEST(test_control_mixed_message_applies_the_good_refuses_the_bad)
{
    cp_options_t o = base();
    const char *k[] = {"cpu", "relay", "wall"}, *v[] = {"5ms", "ws://evil:1", "off"};
    ck_assert_int_eq(cp_control_configure(&o, k, v, 3, warn, NULL), 1);
    ck_assert_int_eq(o.cpu_ns, 5000000);
    ck_assert_int_eq(o.wall_ns, 0);
    ck_assert_str_eq(o.relay, "ws://relay.internal:7070");
}
END_TEST

START_TEST(test_control_alloc_lock_and_bounds)
{
    cp_options_t o = base();
    const char *k[] = {"alloc", "lock", "alloc.mode", "wall"}, *v[] = {"256k", "10ms", "sample", "off"};
    ck_assert_int_eq(cp_control_configure(&o, k, v, 4, warn, NULL), 0);
    ck_assert_int_eq(o.alloc_bytes, 256 << 10);
    ck_assert_int_eq(o.lock_ns, 10000000);
    ck_assert_str_eq(cp_control_set(&o, "alloc", "1", warn, NULL), "out of bounds");
    ck_assert_str_eq(cp_control_set(&o, "cpu", "1ns", warn, NULL), "out of bounds");
    ck_assert_str_eq(cp_control_set(&o, "flush", "off", warn, NULL), "may not be off");
    ck_assert_str_eq(cp_control_set(&o, "alloc.mode", "fast", warn, NULL), "not one of the allowed values");
    ck_assert_int_eq(o.alloc_bytes, 256 << 10);
    char vals[8][CP_CONTROL_VALUE_MAX];
    const char *keys[8];
    uint32_t n = cp_control_effective(&o, vals, keys, 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_ptr_null(cp_control_set(&o, "overhead", "0.5%", warn, NULL));
    ck_assert_int_eq(o.overhead_ppm, 5000);
    ck_assert_str_eq(cp_control_set(&o, "overhead", "90%", warn, NULL), "rejected by the option parser");
    ck_assert_str_eq(cp_control_set(&o, "overhead", "1%,relay=x", warn, NULL), "not a plain value");
    ck_assert_str_eq(cp_control_set(&o, "cpu", "1.5ms", warn, NULL), "not a plain value");
    n = cp_control_effective(&o, vals, keys, 8);
    ck_assert_str_eq(keys[6], "overhead");
    ck_assert_str_eq(vals[6], "0.5%");
    ck_assert_str_eq(keys[2], "alloc");
    ck_assert_str_eq(vals[2], "256k");
    ck_assert_str_eq(vals[0], "10ms");
    ck_assert_str_eq(vals[1], "off");
}
END_TEST

START_TEST(test_control_python_on_children_off)
{
    cp_options_t o = base();
    char vals[8][CP_CONTROL_VALUE_MAX];
    const char *keys[8];
    ck_assert_int_eq(o.python, CP_PY_OFF);
    ck_assert_ptr_null(cp_control_set(&o, "python", "on", warn, NULL));
    ck_assert_int_eq(o.python, CP_PY_SPARK);
    ck_assert_uint_eq(cp_control_effective(&o, vals, keys, 8), 8);
    ck_assert_str_eq(keys[7], "python");
    ck_assert_str_eq(vals[7], "on");
    ck_assert_ptr_null(cp_control_set(&o, "python", "children", warn, NULL));
    ck_assert_int_eq(o.python, CP_PY_CHILDREN);
    cp_control_effective(&o, vals, keys, 8);
    ck_assert_str_eq(vals[7], "children");
    ck_assert_str_eq(cp_control_set(&o, "python", "all", warn, NULL), "not one of the allowed values");
    ck_assert_int_eq(o.python, CP_PY_CHILDREN);
    ck_assert_ptr_null(cp_control_set(&o, "python", "off", warn, NULL));
    ck_assert_int_eq(o.python, CP_PY_OFF);
    ck_assert_int_eq(o.cpu_ns, 10000000);   /* its own field only */
}
END_TEST

START_TEST(test_control_null_keys_and_values_are_refused)
{
    cp_options_t o = base(), before = o;
    const char *k[] = {NULL, "cpu"}, *v[] = {"1ms", NULL};
    ck_assert_int_eq(cp_control_configure(&o, k, v, 2, NULL, NULL), 2);
    ck_assert_int_eq(memcmp(&o, &before, sizeof o), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("configure");
    tcase_add_test(tc, test_control_value_with_comma_cannot_redirect_the_relay);
    tcase_add_test(tc, test_control_forbidden_keys_are_refused);
    tcase_add_test(tc, test_control_values_checked_by_type);
    tcase_add_test(tc, test_control_whitelisted_keys_change_only_their_field);
    tcase_add_test(tc, test_control_mixed_message_applies_the_good_refuses_the_bad);
    tcase_add_test(tc, test_control_null_keys_and_values_are_refused);
    tcase_add_test(tc, test_control_alloc_lock_and_bounds);
    tcase_add_test(tc, test_control_python_on_children_off);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
