/* test_options.c - jvmti/options.c: option string and CPROF_* environment. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

static char warned[8][256];
static int n_warned;

static void warn(void *ud, const char *line)
{
    (void)ud;
    if (n_warned < 8)
        snprintf(warned[n_warned], sizeof warned[0], "%s", line);
    n_warned++;
}

static void setup(void)
{
    n_warned = 0;
    static const char *envs[] = {"CPROF_RELAY", "CPROF_APP", "CPROF_CPU", "CPROF_WALL", "CPROF_FLUSH",
                                 "CPROF_BUFFER", "CPROF_TOKEN", "CPROF_LOG", "CPROF_LOGLEVEL",
                                 "CPROF_ALLOC", "CPROF_ALLOC_MODE", "CPROF_LOCK", "CPROF_LABELS"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
}

START_TEST(test_options_defaults_match_the_issue)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_str_eq(o.relay, "ws://127.0.0.1:7070");
    ck_assert_str_eq(o.app, "");
    ck_assert_int_eq(o.cpu_ns, 10000000);
    ck_assert_int_eq(o.wall_ns, 0);
    ck_assert_int_eq(o.flush_ns, 10000000000LL);
    ck_assert_int_eq(o.buffer_bytes, 8 << 20);
    ck_assert_str_eq(o.log, "stderr");
    ck_assert_int_eq(o.loglevel, CP_LOG_WARN);
    ck_assert_int_eq(o.command, CP_CMD_START);
}
END_TEST

START_TEST(test_options_overhead_and_memory_budgets_parse_within_bounds)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(o.overhead_ppm, 10000);          /* overhead=1% */
    ck_assert_int_eq(o.memory_bytes, 32 << 20);       /* memory=32m */
    ck_assert_int_eq(cp_options_parse(&o, "overhead=0.5%,memory=64m", NULL, NULL), 0);
    ck_assert_int_eq(o.overhead_ppm, 5000);
    ck_assert_int_eq(o.memory_bytes, 64 << 20);
    ck_assert_int_eq(cp_options_parse(&o, "overhead=2", NULL, NULL), 0);
    ck_assert_int_eq(o.overhead_ppm, 20000);
    ck_assert_int_eq(cp_options_parse(&o, "overhead=off", NULL, NULL), 0);
    ck_assert_int_eq(o.overhead_ppm, 0);
    /* out of bounds or malformed: warned, value kept */
    o.overhead_ppm = 10000;
    ck_assert_int_eq(cp_options_parse(&o, "overhead=0.01%", NULL, NULL), 1);
    ck_assert_int_eq(cp_options_parse(&o, "overhead=60%", NULL, NULL), 1);
    ck_assert_int_eq(cp_options_parse(&o, "overhead=1.5.%", NULL, NULL), 1);
    ck_assert_int_eq(cp_options_parse(&o, "overhead=%", NULL, NULL), 1);
    ck_assert_int_eq(cp_options_parse(&o, "memory=8m", NULL, NULL), 1);
    ck_assert_int_eq(cp_options_parse(&o, "memory=2g", NULL, NULL), 1);
    ck_assert_int_eq(o.overhead_ppm, 10000);
    ck_assert_int_eq(o.memory_bytes, 64 << 20);
}
END_TEST

START_TEST(test_options_parse_full_string_sets_every_key)
{
    cp_options_t o;
    cp_options_defaults(&o);
    int w = cp_options_parse(&o, "relay=wss://relay:7443/x,app=checkout,label.env=prod,label.v=1.4,"
                                 "cpu=1ms,wall=50ms,flush=2s,buffer=512k,token=t0k,log=off,loglevel=debug,"
                                 "alloc=256k,alloc.mode=sample,lock=10ms,command=stop", warn, NULL);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(n_warned, 0);
    ck_assert_str_eq(o.relay, "wss://relay:7443/x");
    ck_assert_str_eq(o.app, "checkout");
    ck_assert_uint_eq(o.n_labels, 2);
    ck_assert_str_eq(o.labels[0].key, "env");
    ck_assert_str_eq(o.labels[0].value, "prod");
    ck_assert_str_eq(o.labels[1].value, "1.4");
    ck_assert_int_eq(o.cpu_ns, 1000000);
    ck_assert_int_eq(o.wall_ns, 50000000);
    ck_assert_int_eq(o.flush_ns, 2000000000LL);
    ck_assert_int_eq(o.buffer_bytes, 512 * 1024);
    ck_assert_str_eq(o.token, "t0k");
    ck_assert_str_eq(o.log, "off");
    ck_assert_int_eq(o.loglevel, CP_LOG_DEBUG);
    ck_assert_int_eq(o.alloc_bytes, 256 * 1024);
    ck_assert_str_eq(o.alloc_mode, "sample");
    ck_assert_int_eq(o.lock_ns, 10000000);
    ck_assert_int_eq(o.command, CP_CMD_STOP);
}
END_TEST

START_TEST(test_options_unknown_key_warns_once_naming_it)
{
    cp_options_t o;
    cp_options_defaults(&o);
    int w = cp_options_parse(&o, "cpu=5ms,frobnicate=3,app=x", warn, NULL);
    ck_assert_int_eq(w, 1);
    ck_assert_int_eq(n_warned, 1);
    ck_assert_ptr_nonnull(strstr(warned[0], "'frobnicate'"));
    ck_assert_int_eq(o.cpu_ns, 5000000);   /* the rest still applies */
    ck_assert_str_eq(o.app, "x");
}
END_TEST

START_TEST(test_options_malformed_values_warn_and_keep_previous)
{
    cp_options_t o;
    cp_options_defaults(&o);
    int w = cp_options_parse(&o, "cpu=fast,relay=http://x,buffer=12q,flush=10ms,loglevel=loud,noequals", warn, NULL);
    ck_assert_int_eq(w, 6);
    ck_assert_int_eq(o.cpu_ns, 10000000);
    /* a bad relay is kept (and refused by the sender), never replaced by the
     * default: the data must not go to some other relay */
    ck_assert_str_eq(o.relay, "http://x");
    ck_assert_int_eq(o.buffer_bytes, 8 << 20);
    ck_assert_int_eq(o.flush_ns, 10000000000LL);
    ck_assert_ptr_nonnull(strstr(warned[0], "cpu=fast"));
    ck_assert_ptr_nonnull(strstr(warned[5], "noequals"));
}
END_TEST

START_TEST(test_options_cpu_engine_and_native_parse_and_reject_junk)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(o.cpu_engine, 0);   /* auto */
    ck_assert_int_eq(o.cpu_native, 1);
    ck_assert_int_eq(cp_options_parse(&o, "cpu.engine=perf,cpu.native=off", warn, NULL), 0);
    ck_assert_int_eq(o.cpu_engine, 1);
    ck_assert_int_eq(o.cpu_native, 0);
    ck_assert_int_eq(cp_options_parse(&o, "cpu.engine=timer", warn, NULL), 0);
    ck_assert_int_eq(o.cpu_engine, 2);
    ck_assert_int_eq(cp_options_parse(&o, "cpu.engine=turbo,cpu.native=maybe", warn, NULL), 2);
    ck_assert_int_eq(o.cpu_engine, 2);
    ck_assert_int_eq(o.cpu_native, 0);
    ck_assert_ptr_nonnull(strstr(warned[0], "cpu.engine"));
    setenv("CPROF_CPU_ENGINE", "perf", 1);
    ck_assert_int_eq(cp_options_from_env(&o, warn, NULL), 0);
    ck_assert_int_eq(o.cpu_engine, 1);
    unsetenv("CPROF_CPU_ENGINE");
}
END_TEST

START_TEST(test_options_context_http_on_off_eager)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(o.context_http, 1);   /* on: hooked from the first HTTP API class (ctxhook.h) */
    ck_assert_int_eq(cp_options_parse(&o, "context.http=eager", warn, NULL), 0);
    ck_assert_int_eq(o.context_http, CP_CTX_HTTP_EAGER);
    ck_assert_int_eq(cp_options_parse(&o, "context.http=off", warn, NULL), 0);
    ck_assert_int_eq(o.context_http, 0);
    ck_assert_int_eq(cp_options_parse(&o, "context.executors=eager", warn, NULL), 1);   /* http only */
    ck_assert_int_eq(o.context_executors, 0);
    ck_assert_ptr_nonnull(strstr(warned[0], "expected on or off"));
    ck_assert_int_eq(cp_options_parse(&o, "context.http=lazy", warn, NULL), 1);
    ck_assert_ptr_nonnull(strstr(warned[1], "expected on, off or eager"));
    ck_assert_int_eq(o.context_http, 0);
}
END_TEST

START_TEST(test_options_off_turns_samplers_off)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(cp_options_parse(&o, "cpu=off,wall=off,alloc=off", warn, NULL), 0);
    ck_assert_int_eq(o.cpu_ns, 0);
    ck_assert_int_eq(o.wall_ns, 0);
    ck_assert_int_eq(o.alloc_bytes, 0);
}
END_TEST

START_TEST(test_options_durations_and_sizes_parse_units)
{
    int64_t v;
    ck_assert_int_eq(cp_options_parse_duration("500us", &v), 0); ck_assert_int_eq(v, 500000);
    ck_assert_int_eq(cp_options_parse_duration("250", &v), 0);   ck_assert_int_eq(v, 250000000);
    ck_assert_int_eq(cp_options_parse_duration("2m", &v), 0);    ck_assert_int_eq(v, 120000000000LL);
    ck_assert_int_eq(cp_options_parse_duration("7ns", &v), 0);   ck_assert_int_eq(v, 7);
    ck_assert_int_ne(cp_options_parse_duration("-1ms", &v), 0);
    ck_assert_int_ne(cp_options_parse_duration("ms", &v), 0);
    ck_assert_int_ne(cp_options_parse_duration("99999999999999999999s", &v), 0);
    ck_assert_int_eq(cp_options_parse_size("8m", &v), 0);    ck_assert_int_eq(v, 8 << 20);
    ck_assert_int_eq(cp_options_parse_size("1GiB", &v), 0);  ck_assert_int_eq(v, 1LL << 30);
    ck_assert_int_eq(cp_options_parse_size("4096", &v), 0);  ck_assert_int_eq(v, 4096);
    ck_assert_int_ne(cp_options_parse_size("3x", &v), 0);
}
END_TEST

START_TEST(test_options_env_applies_and_options_win)
{
    setenv("CPROF_RELAY", "ws://relay:7070", 1);
    setenv("CPROF_APP", "from-env", 1);
    setenv("CPROF_CPU", "20ms", 1);
    setenv("CPROF_LABELS", "env=prod;version=1.4", 1);
    setenv("CPROF_ALLOC_MODE", "instrument", 1);
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(cp_options_from_env(&o, warn, NULL), 0);
    ck_assert_int_eq(cp_options_parse(&o, "app=from-option,label.env=dev", warn, NULL), 0);
    ck_assert_str_eq(o.relay, "ws://relay:7070");
    ck_assert_str_eq(o.app, "from-option");
    ck_assert_int_eq(o.cpu_ns, 20000000);
    ck_assert_str_eq(o.alloc_mode, "instrument");
    ck_assert_uint_eq(o.n_labels, 2);
    ck_assert_str_eq(o.labels[0].key, "env");
    ck_assert_str_eq(o.labels[0].value, "dev");      /* replaced, not duplicated */
    ck_assert_str_eq(o.labels[1].key, "version");
    ck_assert_str_eq(o.labels[1].value, "1.4");
}
END_TEST

START_TEST(test_options_env_malformed_warns_naming_variable)
{
    setenv("CPROF_CPU", "often", 1);
    setenv("CPROF_LABELS", "good=1;bad", 1);
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(cp_options_from_env(&o, warn, NULL), 2);
    ck_assert_ptr_nonnull(strstr(warned[0], "CPROF_CPU"));
    ck_assert_ptr_nonnull(strstr(warned[1], "bad"));
    ck_assert_uint_eq(o.n_labels, 1);
}
END_TEST

START_TEST(test_options_label_table_full_warns)
{
    cp_options_t o;
    cp_options_defaults(&o);
    char buf[64];
    for (int i = 0; i < CP_OPT_MAX_LABELS; i++) {
        snprintf(buf, sizeof buf, "label.k%d=v", i);
        ck_assert_int_eq(cp_options_parse(&o, buf, warn, NULL), 0);
    }
    ck_assert_int_eq(cp_options_parse(&o, "label.one_too_many=v", warn, NULL), 1);
    ck_assert_uint_eq(o.n_labels, CP_OPT_MAX_LABELS);
}
END_TEST

START_TEST(test_options_tls_keys_and_token_file)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(o.tls_insecure, 0);
    ck_assert_str_eq(o.tls_ca, "");
    char path[] = "/tmp/cprof-test-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("s3cret-token \nsecond line\n", f);
    fclose(f);
    char opts[512];
    snprintf(opts, sizeof opts, "relay=wss://r:7443,tls.ca=/etc/ca.pem,tls.cert=/c.pem,tls.key=/k.pem,"
             "tls.insecure=true,token=@%s", path);
    ck_assert_int_eq(cp_options_parse(&o, opts, warn, NULL), 0);
    ck_assert_str_eq(o.tls_ca, "/etc/ca.pem");
    ck_assert_str_eq(o.tls_cert, "/c.pem");
    ck_assert_str_eq(o.tls_key, "/k.pem");
    ck_assert_int_eq(o.tls_insecure, 1);
    ck_assert_str_eq(o.token, "s3cret-token");        /* first line, trailing space cut */
    ck_assert_int_eq(cp_options_parse(&o, "tls.insecure=maybe,token=@/nonexistent/x", warn, NULL), 2);
    ck_assert_int_eq(o.tls_insecure, 1);               /* kept */
    ck_assert_str_eq(o.token, "s3cret-token");
    ck_assert_ptr_nonnull(strstr(warned[1], "cannot read the token file"));
    f = fopen(path, "w");                               /* an empty file is refused too */
    fclose(f);
    ck_assert_int_eq(cp_options_parse(&o, opts, warn, NULL), 1);
    ck_assert_str_eq(o.token, "s3cret-token");
    unlink(path);
    setenv("CPROF_TLS_CA", "/env/ca.pem", 1);
    ck_assert_int_eq(cp_options_from_env(&o, warn, NULL), 0);
    ck_assert_str_eq(o.tls_ca, "/env/ca.pem");
    unsetenv("CPROF_TLS_CA");
}
END_TEST

START_TEST(test_options_reparse_merges_onto_current)
{
    cp_options_t o;
    cp_options_defaults(&o);
    cp_options_parse(&o, "app=a,cpu=1ms,wall=10ms", warn, NULL);
    cp_options_parse(&o, "command=detach", warn, NULL);
    ck_assert_str_eq(o.app, "a");
    ck_assert_int_eq(o.cpu_ns, 1000000);
    ck_assert_int_eq(o.command, CP_CMD_DETACH);
    ck_assert_int_eq(cp_options_parse(&o, NULL, warn, NULL), 0);
    ck_assert_int_eq(cp_options_parse(&o, " , ,", warn, NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_options_defaults_match_the_issue);
    tcase_add_test(tc, test_options_parse_full_string_sets_every_key);
    tcase_add_test(tc, test_options_unknown_key_warns_once_naming_it);
    tcase_add_test(tc, test_options_malformed_values_warn_and_keep_previous);
    tcase_add_test(tc, test_options_off_turns_samplers_off);
    tcase_add_test(tc, test_options_context_http_on_off_eager);
    tcase_add_test(tc, test_options_cpu_engine_and_native_parse_and_reject_junk);
    tcase_add_test(tc, test_options_durations_and_sizes_parse_units);
    tcase_add_test(tc, test_options_label_table_full_warns);
    tcase_add_test(tc, test_options_reparse_merges_onto_current);
    tcase_add_test(tc, test_options_tls_keys_and_token_file);
    tcase_add_test(tc, test_options_overhead_and_memory_budgets_parse_within_bounds);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("env");
    tcase_add_checked_fixture(te, setup, NULL);
    tcase_add_test(te, test_options_env_applies_and_options_win);
    tcase_add_test(te, test_options_env_malformed_warns_naming_variable);
    suite_add_tcase(s, te);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
