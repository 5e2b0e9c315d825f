/* test_origin.c - relay/origin.c (Host and Origin rules) and relay/listen.c
 * (--listen parsing), through their headers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "listen.h"
#include "origin.h"
#include "relay.h"

static void init(const char *listen, const char *public_url)
{
    cp_relay_cfg_t c;
    char err[256];
    int port;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(cp__listen_parse(listen, &c.listen, &port, err, sizeof err), 0);
    c.public_url = public_url;
    cp__origin_init(&c);
}

START_TEST(test_origin_host_loopback_and_literals_pass_names_do_not)
{
    char why[300];
    init("127.0.0.1:7070", NULL);
    const char *ok[] = {NULL, "", "127.0.0.1:7070", "127.0.0.1", "localhost:7070", "LOCALHOST",
                        "[::1]:7070", "app.localhost", "10.1.2.3:7070", "[fe80::1]"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(cp__origin_check_host(ok[i], why, sizeof why) == 0, "%s", ok[i] ? ok[i] : "(null)");
    ck_assert_int_eq(cp__origin_check_host("evil.example:7070", why, sizeof why), 421);
    ck_assert_ptr_nonnull(strstr(why, "--public-url"));
    ck_assert_int_eq(cp__origin_check_host("localhost.evil.example", why, sizeof why), 421);
    ck_assert_int_eq(cp__origin_check_host("127.0.0.1.nip.io", why, sizeof why), 421);
    ck_assert_int_eq(cp__origin_check_host("::1", why, sizeof why), 400);          /* unbracketed */
    ck_assert_int_eq(cp__origin_check_host("h:99999", why, sizeof why), 400);
}
END_TEST

START_TEST(test_origin_host_public_url_and_listen_name_pass)
{
    char why[300];
    init("localhost:7070", "https://Profiler.Example.com/cprof");
    ck_assert_int_eq(cp__origin_check_host("profiler.example.com", why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_host("profiler.example.com:443", why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_host("other.example.com", why, sizeof why), 421);
}
END_TEST

START_TEST(test_origin_same_origin_only)
{
    char why[300];
    init("127.0.0.1:7070", "https://profiler.example.com");
    const char *h = "127.0.0.1:7070";
    ck_assert_int_eq(cp__origin_check_origin(NULL, h, false, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("127.0.0.1:7070", h, false, why, sizeof why), 0);  /* not a browser */
    ck_assert_int_eq(cp__origin_check_origin("http://127.0.0.1:7070", h, false, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("http://127.0.0.1:7070", h, true, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("https://profiler.example.com", h, false, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("https://profiler.example.com:443", "x", false, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("http://profiler.example.com", h, false, why, sizeof why), 403);
    ck_assert_int_eq(cp__origin_check_origin("null", h, false, why, sizeof why), 403);
    ck_assert_int_eq(cp__origin_check_origin("http://evil.example", h, false, why, sizeof why), 403);
    ck_assert_ptr_nonnull(strstr(why, "evil.example"));
    ck_assert_int_eq(cp__origin_check_origin("http://127.0.0.1:7071", h, false, why, sizeof why), 403);
    ck_assert_int_eq(cp__origin_check_origin("http://127.0.0.1", "127.0.0.1", false, why, sizeof why), 0);
    ck_assert_int_eq(cp__origin_check_origin("https://127.0.0.1", "127.0.0.1", false, why, sizeof why), 403);
    /* rebinding: the page's origin equals its own foreign Host */
    ck_assert_int_eq(cp__origin_check_origin("http://evil.example:7070", "evil.example:7070", false, why,
                                             sizeof why), 403);
}
END_TEST

START_TEST(test_listen_parse_families_and_errors)
{
    cp_listen_addr_t a;
    int port;
    char err[256];
    ck_assert_int_eq(cp__listen_parse("127.0.0.1:7070", &a, &port, err, sizeof err), 0);
    ck_assert(a.family == AF_INET && a.loopback && !a.wildcard && port == 7070);
    ck_assert_int_eq(cp__listen_parse("[::1]:8080", &a, &port, err, sizeof err), 0);
    ck_assert(a.family == AF_INET6 && a.loopback && !strcmp(a.addr, "::1") && port == 8080);
    ck_assert_int_eq(cp__listen_parse("0.0.0.0:1", &a, &port, err, sizeof err), 0);
    ck_assert(a.wildcard && !a.loopback);
    ck_assert_int_eq(cp__listen_parse("[::]:1", &a, &port, err, sizeof err), 0);
    ck_assert(a.wildcard && a.family == AF_INET6);
    ck_assert_int_eq(cp__listen_parse("localhost:9", &a, &port, err, sizeof err), 0);
    ck_assert(!strcmp(a.addr, "127.0.0.1") && !strcmp(a.name, "localhost"));
    ck_assert_int_eq(cp__listen_parse("7071", &a, &port, err, sizeof err), 0);
    ck_assert(!strcmp(a.addr, "127.0.0.1") && port == 7071);
    ck_assert_int_eq(cp__listen_parse("10.0.0.5:7070", &a, &port, err, sizeof err), 0);
    ck_assert(!a.loopback && !a.wildcard);
    const char *bad[] = {"::1:7070", "[::1]7070", "[::1", "127.0.0.1:", "127.0.0.1:65536", ":7070", "h:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cp__listen_parse(bad[i], &a, &port, err, sizeof err) == -1, "%s", bad[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("origin");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, test_origin_host_loopback_and_literals_pass_names_do_not);
    tcase_add_test(tc, test_origin_host_public_url_and_listen_name_pass);
    suite_add_tcase(s, tc);
    tc = tcase_create("origin");
    tcase_add_test(tc, test_origin_same_origin_only);
    suite_add_tcase(s, tc);
    tc = tcase_create("listen");
    tcase_add_test(tc, test_listen_parse_families_and_errors);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
