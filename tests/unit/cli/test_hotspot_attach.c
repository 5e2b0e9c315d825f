/* test_hotspot_attach.c - Check tests for cli/hotspot_attach.c: parsing the
 * JVM's answers to `load` as JDK 8, 17 and 21+ write them (captured from
 * real JVMs), Java version strings, and inspect() refusing non-JVMs
 * (this test process) without signalling them. The live protocol is
 * covered by tests/integration/test_attach_*.py against real JVMs. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "hotspot_attach.h"

static int parse(const char *s, int *rc, char *err)
{
    return cp_hsattach_parse_reply(s, strlen(s), rc, err, 256);
}

START_TEST(test_hotspot_attach_reply_jdk17_success)
{
    int rc = -99;
    char err[256];
    ck_assert_int_eq(parse("0\nreturn code: 0\n", &rc, err), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(parse("0\nreturn code: -1\n", &rc, err), 0);
    ck_assert_int_eq(rc, -1);
}
END_TEST

START_TEST(test_hotspot_attach_reply_jdk17_load_failure)
{
    int rc = -99;
    char err[256];
    ck_assert_int_eq(parse("-1\n/tmp/x.so was not loaded.\n/tmp/x.so: file too short\n",
                           &rc, err), CP_EIO);
    ck_assert_ptr_nonnull(strstr(err, "file too short"));
    ck_assert_ptr_nonnull(strstr(err, "status -1"));
}
END_TEST

START_TEST(test_hotspot_attach_reply_jdk25_failure_has_status_zero)
{
    /* JDK 21+: status 0, then the error text instead of "return code" */
    int rc = -99;
    char err[256];
    ck_assert_int_eq(parse("0\n/tmp/x.so was not loaded.\n/tmp/x.so: file too short\n",
                           &rc, err), CP_EIO);
    ck_assert_ptr_nonnull(strstr(err, "was not loaded"));
}
END_TEST

START_TEST(test_hotspot_attach_reply_jdk8_bare_number_and_garbage)
{
    int rc = -99;
    char err[256];
    ck_assert_int_eq(parse("0\n0\n", &rc, err), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(parse("0\n", &rc, err), 0);
    ck_assert_int_eq(parse("", &rc, err), CP_EIO);
    ck_assert_int_eq(parse("hello", &rc, err), CP_EIO);
    /* embedded NULs do not cut the text short */
    ck_assert_int_eq(cp_hsattach_parse_reply("0\nreturn\0code: 5", 17, &rc, err, 256), 0);
}
END_TEST

START_TEST(test_hotspot_attach_java_major_versions)
{
    ck_assert_int_eq(cp_hsattach_java_major("\"1.8.0_392\""), 8);
    ck_assert_int_eq(cp_hsattach_java_major("\"17.0.9\""), 17);
    ck_assert_int_eq(cp_hsattach_java_major("25"), 25);
    ck_assert_int_eq(cp_hsattach_java_major("\"21-ea\""), 21);
    ck_assert_int_eq(cp_hsattach_java_major("x"), 0);
    ck_assert_int_eq(cp_hsattach_java_major(NULL), 0);
}
END_TEST

static volatile sig_atomic_t got_quit;
static void on_quit(int s) { (void)s; got_quit = 1; }

START_TEST(test_hotspot_attach_inspect_refuses_non_jvm_without_signal)
{
    signal(SIGQUIT, on_quit);
    cp_hsattach_target_t t;
    char err[512];
    ck_assert_int_eq(cp_hsattach_inspect(getpid(), &t, err, sizeof err), CP_EUNSUPP);
    ck_assert_ptr_nonnull(strstr(err, "not a JVM"));
    cp_hsattach_result_t res;
    ck_assert_int_eq(got_quit, 0);
    ck_assert_int_eq(cp_hsattach_inspect(0x3ffffff0, &t, err, sizeof err), CP_ENOTFOUND);
    ck_assert_int_eq(cp_hsattach_inspect(-1, &t, err, sizeof err), CP_EINVAL);
    /* over-long options are refused before anything is sent */
    memset(&t, 0, sizeof t);
    t.pid = getpid();
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(cp_hsattach_load(&t, "/x.so", big, 100, &res, err, sizeof err),
                     CP_ETOOBIG);
    ck_assert_int_eq(got_quit, 0);
}
END_TEST

START_TEST(test_hotspot_attach_default_agent_honours_env)
{
    char out[4096], err[512];
    setenv("CPROF_AGENT", "/proc/self/exe", 1);
    ck_assert_int_eq(cp_hsattach_default_agent(out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "/proc/self/exe");
    setenv("CPROF_AGENT", "/nonexistent/libcprof-jvm.so", 1);
    ck_assert_int_eq(cp_hsattach_default_agent(out, sizeof out, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "CPROF_AGENT"));
    unsetenv("CPROF_AGENT");
}
END_TEST

static Suite *hotspot_attach_suite(void)
{
    Suite *s = suite_create("hotspot_attach");
    TCase *tc = tcase_create("reply");
    tcase_add_test(tc, test_hotspot_attach_reply_jdk17_success);
    tcase_add_test(tc, test_hotspot_attach_reply_jdk17_load_failure);
    tcase_add_test(tc, test_hotspot_attach_reply_jdk25_failure_has_status_zero);
    tcase_add_test(tc, test_hotspot_attach_reply_jdk8_bare_number_and_garbage);
    tcase_add_test(tc, test_hotspot_attach_java_major_versions);
    suite_add_tcase(s, tc);
    tc = tcase_create("safety");
    tcase_add_test(tc, test_hotspot_attach_inspect_refuses_non_jvm_without_signal);
    tcase_add_test(tc, test_hotspot_attach_default_agent_honours_env);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hotspot_attach_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
