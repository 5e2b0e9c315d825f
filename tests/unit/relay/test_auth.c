/* test_auth.c - tokens, roles and tenants (relay/auth.h): the auth file's
 * parser and its errors, the constant-time lookup, reload keeping the old
 * table on a bad file, and tenant-qualified app names. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "error.h"

/* sha256("test"), sha256("hunter2"), sha256("other") */
#define H_TEST    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define H_HUNTER2 "f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"

static cp_auth_table_t *parse_ok(const char *text)
{
    cp_auth_table_t *t = NULL;
    char err[256] = "";
    int rc = cp_auth_table_parse(text, strlen(text), "auth.txt", &t, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    return t;
}

static void parse_bad(const char *text, const char *want_in_err)
{
    cp_auth_table_t *t = NULL;
    char err[256] = "";
    ck_assert_int_eq(cp_auth_table_parse(text, strlen(text), "auth.txt", &t, err, sizeof err), CP_EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, want_in_err), "error '%s' lacks '%s'", err, want_in_err);
}

START_TEST(test_auth_parse_reads_lines_comments_and_blanks)
{
    cp_auth_table_t *t = parse_ok("# cprof tokens\n"
                                  "\n"
                                  "acme  ingest " H_TEST "   # the shop's agents\n"
                                  "\tbeta\tread\t" H_HUNTER2 "\r\n");
    ck_assert_uint_eq(cp_auth_table_count(t), 2);
    cp_principal_t who;
    ck_assert(cp_auth_table_check(t, "test", 4, &who));
    ck_assert_str_eq(who.tenant, "acme");
    ck_assert_int_eq(who.role, CP_ROLE_INGEST);
    ck_assert(cp_auth_table_check(t, "hunter2", 7, &who));
    ck_assert_str_eq(who.tenant, "beta");
    ck_assert_int_eq(who.role, CP_ROLE_READ);
    cp_auth_table_release(t);
}
END_TEST

START_TEST(test_auth_check_unknown_or_empty_token_fails)
{
    cp_auth_table_t *t = parse_ok("acme admin " H_TEST "\n");
    cp_principal_t who = {"untouched", CP_ROLE_READ};
    ck_assert(!cp_auth_table_check(t, "tes", 3, &who));
    ck_assert(!cp_auth_table_check(t, "test ", 5, &who));
    ck_assert(!cp_auth_table_check(t, "", 0, &who));
    ck_assert(!cp_auth_table_check(t, NULL, 0, &who));
    ck_assert_str_eq(who.tenant, "untouched");
    /* the file holds the hash, not the token: presenting the hash fails */
    ck_assert(!cp_auth_table_check(t, H_TEST, 64, &who));
    ck_assert(cp_auth_table_check(t, "test", 4, &who));
    ck_assert_int_eq(who.role, CP_ROLE_ADMIN);
    cp_auth_table_release(t);
}
END_TEST

START_TEST(test_auth_check_finds_the_last_line_too)
{
    /* the match is kept by mask across all lines: first, middle and last */
    char text[8192] = "";
    char tok[32], hex[65];
    for (int i = 0; i < 50; i++) {
        snprintf(tok, sizeof tok, "tok-%d", i);
        cp_auth_hash_hex(tok, strlen(tok), hex);
        char line[128];
        snprintf(line, sizeof line, "t%d %s %s\n", i, i % 2 ? "read" : "ingest", hex);
        strcat(text, line);
    }
    cp_auth_table_t *t = parse_ok(text);
    for (int i = 0; i < 50; i += 7) {
        cp_principal_t who;
        snprintf(tok, sizeof tok, "tok-%d", i);
        ck_assert(cp_auth_table_check(t, tok, strlen(tok), &who));
        char want[16];
        snprintf(want, sizeof want, "t%d", i);
        ck_assert_str_eq(who.tenant, want);
    }
    cp_principal_t who;
    ck_assert(cp_auth_table_check(t, "tok-49", 6, &who));
    ck_assert_str_eq(who.tenant, "t49");
    cp_auth_table_release(t);
}
END_TEST

START_TEST(test_auth_parse_default_tenant_dash)
{
    cp_auth_table_t *t = parse_ok("- read " H_TEST "\n");
    cp_principal_t who;
    ck_assert(cp_auth_table_check(t, "test", 4, &who));
    ck_assert_str_eq(who.tenant, "");
    cp_auth_table_release(t);
}
END_TEST

START_TEST(test_auth_parse_bad_lines_name_file_and_line)
{
    parse_bad("# ok\nacme ingest\n", "auth.txt:2: want 'TENANT ROLE SHA256-HEX'");
    parse_bad("acme ingest " H_TEST " extra\n", "auth.txt:1: want");
    parse_bad("acme writer " H_TEST "\n", "auth.txt:1: unknown role 'writer'");
    parse_bad("\n\nac/me read " H_TEST "\n", "auth.txt:3: bad tenant 'ac/me'");
    parse_bad("acme read 9f86d08\n", "auth.txt:1: bad hash");
    parse_bad("acme read " H_TEST "0\n", "auth.txt:1: bad hash");
    parse_bad("acme read zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n", "auth.txt:1: bad hash");
    parse_bad("acme read 0000000000000000000000000000000000000000000000000000000000000000\n", "bad hash");
    parse_bad("acme read " H_TEST "\nbeta admin " H_TEST "\n", "auth.txt:2: the same token hash appears twice");
    /* a token in clear is not a hash */
    parse_bad("acme read cpt_AhC0S3YKWVMNIyc3nTbxklmjbB0O0W8vAXonJpqMk_0\n", "bad hash");
}
END_TEST

START_TEST(test_auth_roles_include_what_they_should)
{
    ck_assert(cp_auth_allows(CP_ROLE_INGEST, CP_ROLE_INGEST));
    ck_assert(!cp_auth_allows(CP_ROLE_INGEST, CP_ROLE_READ));
    ck_assert(!cp_auth_allows(CP_ROLE_READ, CP_ROLE_INGEST));
    ck_assert(cp_auth_allows(CP_ROLE_READ, CP_ROLE_READ));
    ck_assert(!cp_auth_allows(CP_ROLE_READ, CP_ROLE_ADMIN));
    ck_assert(cp_auth_allows(CP_ROLE_ADMIN, CP_ROLE_INGEST));
    ck_assert(cp_auth_allows(CP_ROLE_ADMIN, CP_ROLE_READ));
    ck_assert(cp_auth_allows(CP_ROLE_ADMIN, CP_ROLE_ADMIN));
    ck_assert(!cp_auth_allows(CP_ROLE_NONE, CP_ROLE_READ));
    ck_assert_int_eq(cp_auth_role_parse("read"), CP_ROLE_READ);
    ck_assert_int_eq(cp_auth_role_parse("Read"), CP_ROLE_NONE);
    ck_assert_str_eq(cp_auth_role_name(CP_ROLE_ADMIN), "admin");
}
END_TEST

START_TEST(test_auth_bearer_header_parsing)
{
    char tok[64];
    ck_assert(cp_auth_bearer("Bearer abc", tok, sizeof tok));
    ck_assert_str_eq(tok, "abc");
    ck_assert(cp_auth_bearer("bearer   abc  ", tok, sizeof tok));
    ck_assert_str_eq(tok, "abc");
    ck_assert(!cp_auth_bearer("Basic abc", tok, sizeof tok));
    ck_assert(!cp_auth_bearer("Bearer", tok, sizeof tok));
    ck_assert(!cp_auth_bearer("Bearer a b", tok, sizeof tok));
    ck_assert(!cp_auth_bearer("Bearerabc", tok, sizeof tok));
    ck_assert(!cp_auth_bearer(NULL, tok, sizeof tok));
    ck_assert(!cp_auth_bearer("Bearer 0123456789", tok, 8));   /* too long for out */
}
END_TEST

START_TEST(test_auth_token_new_is_random_base64url)
{
    char a[CP_AUTH_TOKEN_NEW_LEN + 1], b[CP_AUTH_TOKEN_NEW_LEN + 1], hex[65];
    ck_assert_int_eq(cp_auth_token_new(a), 0);
    ck_assert_int_eq(cp_auth_token_new(b), 0);
    ck_assert_uint_eq(strlen(a), CP_AUTH_TOKEN_NEW_LEN);
    ck_assert(!strncmp(a, "cpt_", 4));
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      CP_AUTH_TOKEN_NEW_LEN - 4);
    cp_auth_hash_hex("test", 4, hex);
    ck_assert_str_eq(hex, H_TEST);
}
END_TEST

START_TEST(test_auth_qualify_and_unqualify)
{
    char q[128];
    ck_assert_int_eq(cp_auth_qualify("acme", "checkout", q, sizeof q), 0);
    ck_assert_str_eq(q, "acme\x1f" "checkout");
    ck_assert_str_eq(cp_auth_unqualify("acme", q), "checkout");
    ck_assert_ptr_null(cp_auth_unqualify("beta", q));
    ck_assert_ptr_null(cp_auth_unqualify("acm", q));
    ck_assert_ptr_null(cp_auth_unqualify("", q));           /* default tenant sees no qualified app */
    ck_assert_ptr_null(cp_auth_unqualify("acme", "checkout"));
    ck_assert_int_eq(cp_auth_qualify("", "checkout", q, sizeof q), 0);
    ck_assert_str_eq(q, "checkout");
    ck_assert_str_eq(cp_auth_unqualify("", q), "checkout");
    /* control characters cannot be used to forge another tenant's name */
    ck_assert_int_eq(cp_auth_qualify("", "beta\x1f" "checkout", q, sizeof q), CP_EINVAL);
    ck_assert_int_eq(cp_auth_qualify("acme", "a\nb", q, sizeof q), CP_EINVAL);
    ck_assert_int_eq(cp_auth_qualify("acme", "", q, sizeof q), CP_EINVAL);
    ck_assert_int_eq(cp_auth_qualify("acme", "checkout", q, 8), CP_ETOOBIG);
    ck_assert(cp_auth_tenant_valid("a.b_c-9"));
    ck_assert(!cp_auth_tenant_valid(""));
    ck_assert(!cp_auth_tenant_valid("a b"));
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_auth_reload_keeps_old_table_on_a_bad_file)
{
    char path[] = "/tmp/cprof-test-auth-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_file(path, "acme read " H_TEST "\n");
    char err[256] = "";
    ck_assert_int_eq(cp_auth_init(path, NULL, err, sizeof err), 0);
    ck_assert(cp_auth_readers_need_token());
    cp_principal_t who;
    ck_assert(cp_auth_check("test", &who));
    ck_assert(!cp_auth_check("hunter2", &who));
    ck_assert(!cp_auth_check(NULL, &who));

    write_file(path, "acme read " H_TEST "\nbroken line\n");
    ck_assert_int_ne(cp__auth_reload(), 0);
    ck_assert(cp_auth_check("test", &who));             /* old table kept */

    write_file(path, "beta admin " H_HUNTER2 "\n");
    ck_assert_int_eq(cp__auth_reload(), 0);
    ck_assert(!cp_auth_check("test", &who));             /* removed */
    ck_assert(cp_auth_check("hunter2", &who));
    ck_assert_str_eq(who.tenant, "beta");
    cp_auth_fini();
    unlink(path);

    ck_assert_int_ne(cp_auth_init("/nonexistent/auth.txt", NULL, err, sizeof err), 0);
    ck_assert(strstr(err, "/nonexistent/auth.txt"));
}
END_TEST

START_TEST(test_auth_open_and_legacy_modes)
{
    char err[256] = "";
    cp_principal_t who;
    ck_assert_int_eq(cp_auth_init(NULL, NULL, err, sizeof err), 0);
    ck_assert(!cp_auth_readers_need_token());
    ck_assert(cp_auth_check(NULL, &who));
    ck_assert_str_eq(who.tenant, "");
    ck_assert_int_eq(who.role, CP_ROLE_ADMIN);
    /* deprecated --token: agents need it (as ingest of ""), readers do not */
    ck_assert_int_eq(cp_auth_init(NULL, "s3cret", err, sizeof err), 0);
    ck_assert(!cp_auth_readers_need_token());
    ck_assert(!cp_auth_check("wrong", &who));
    ck_assert(cp_auth_check("s3cret", &who));
    ck_assert_int_eq(who.role, CP_ROLE_INGEST);
    ck_assert_str_eq(who.tenant, "");
    ck_assert_int_ne(cp_auth_init("/tmp/x", "s3cret", err, sizeof err), 0);   /* not both */
    cp_auth_fini();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("file");
    tcase_add_test(tc, test_auth_parse_reads_lines_comments_and_blanks);
    tcase_add_test(tc, test_auth_parse_default_tenant_dash);
    tcase_add_test(tc, test_auth_parse_bad_lines_name_file_and_line);
    tcase_add_test(tc, test_auth_reload_keeps_old_table_on_a_bad_file);
    tcase_add_test(tc, test_auth_open_and_legacy_modes);
    suite_add_tcase(s, tc);
    tc = tcase_create("check");
    tcase_add_test(tc, test_auth_check_unknown_or_empty_token_fails);
    tcase_add_test(tc, test_auth_check_finds_the_last_line_too);
    tcase_add_test(tc, test_auth_roles_include_what_they_should);
    tcase_add_test(tc, test_auth_bearer_header_parsing);
    tcase_add_test(tc, test_auth_token_new_is_random_base64url);
    suite_add_tcase(s, tc);
    tc = tcase_create("tenants");
    tcase_add_test(tc, test_auth_qualify_and_unqualify);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
