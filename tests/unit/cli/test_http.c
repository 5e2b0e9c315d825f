/* test_http.c - relay addresses in every form a person has (cli/http.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static cp_http_relay_t r;
static char err[512];

static int parse(const char *a)
{
    err[0] = 0;
    return cp_http_relay_parse(a, &r, err, sizeof err);
}

START_TEST(test_http_agent_forms_map_to_http)
{
    ck_assert_int_eq(parse("ws://127.0.0.1:7480"), 0);
    ck_assert_str_eq(r.url, "http://127.0.0.1:7480");
    ck_assert(!r.tls);
    ck_assert_int_eq(parse("wss://relay.example:7443/ingest"), 0);
    ck_assert_str_eq(r.url, "https://relay.example:7443");
    ck_assert(r.tls);
    ck_assert_str_eq(r.prefix, "");
    ck_assert_int_eq(parse("wss://relay.example"), 0);
    ck_assert_str_eq(r.port, "443");
    ck_assert_int_eq(parse("ws://h:1/cprof/ingest/"), 0);
    ck_assert_str_eq(r.prefix, "/cprof");
}
END_TEST

START_TEST(test_http_api_and_bare_forms)
{
    ck_assert_int_eq(parse("http://127.0.0.1:7070/"), 0);
    ck_assert_str_eq(r.url, "http://127.0.0.1:7070");
    ck_assert_int_eq(parse("https://h/proxy/cprof"), 0);
    ck_assert_str_eq(r.url, "https://h:443/proxy/cprof");
    ck_assert_int_eq(parse("127.0.0.1:7480"), 0);
    ck_assert_str_eq(r.url, "http://127.0.0.1:7480");
    ck_assert_int_eq(parse("relayhost"), 0);
    ck_assert_str_eq(r.url, "http://relayhost:7070");
    ck_assert_int_eq(parse("[::1]:7070"), 0);
    ck_assert_str_eq(r.host, "::1");
    ck_assert_str_eq(r.url, "http://[::1]:7070");
    ck_assert_int_eq(parse("HTTP://H:80"), 0);
}
END_TEST

START_TEST(test_http_bad_addresses_say_why)
{
    ck_assert_int_eq(parse("ftp://h:1"), -1);
    ck_assert_ptr_nonnull(strstr(err, "the scheme must be"));
    ck_assert_int_eq(parse("127.0.0.1:99999"), -1);
    ck_assert_ptr_nonnull(strstr(err, "port must be a number from 1 to 65535"));
    ck_assert_int_eq(parse("h:abc"), -1);
    ck_assert_int_eq(parse("h:0"), -1);
    ck_assert_int_eq(parse("http://"), -1);
    ck_assert_ptr_nonnull(strstr(err, "no host"));
    ck_assert_int_eq(parse("h:80x"), -1);
    ck_assert_int_eq(parse("[::1"), -1);
}
END_TEST

START_TEST(test_http_url_add_encodes)
{
    cp_buf_t u = CP_BUF_INIT;
    cp_buf_printf(&u, "/api/v1/top");
    cp_http_url_add(&u, "app", "a b");
    cp_http_url_add(&u, "labels", "env=x\\,y");
    cp_http_url_add(&u, "none", NULL);
    ck_assert_str_eq((const char *)u.data, "/api/v1/top?app=a%20b&labels=env%3Dx%5C%2Cy");
    cp_buf_fini(&u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("relay_address");
    tcase_add_test(tc, test_http_agent_forms_map_to_http);
    tcase_add_test(tc, test_http_api_and_bare_forms);
    tcase_add_test(tc, test_http_bad_addresses_say_why);
    tcase_add_test(tc, test_http_url_add_encodes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
