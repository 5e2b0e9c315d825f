/* test_tenant_view.c - the store's documents as one tenant sees them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tenant_view.h"

static const char APPS[] =
    "{\"apps\":[{\"name\":\"acme\\u001fcheckout\",\"instances\":1,\"connected\":1,\"types\":[\"cpu\",\"wall\"],"
    "\"last_seen\":5},{\"name\":\"beta\\u001fcheckout\",\"instances\":2,\"connected\":0,\"types\":[\"cpu\"],"
    "\"last_seen\":6},{\"name\":\"plain \\\"q\\\"\",\"instances\":3,\"connected\":3,\"types\":[],\"last_seen\":7}]}";

static char *apps_for(const char *tenant)
{
    cp_buf_t in = CP_BUF_INIT, out = CP_BUF_INIT;
    cp_buf_append(&in, APPS, strlen(APPS));
    ck_assert_int_eq(cp_tenant_apps_json(&in, tenant, &out), 0);
    cp_buf_append(&out, "", 1);
    cp_buf_fini(&in);
    return (char *)cp_buf_steal(&out, NULL);
}

START_TEST(test_tenant_view_apps_keeps_only_the_tenant)
{
    char *a = apps_for("acme");
    ck_assert_str_eq(a, "{\"apps\":[{\"name\":\"checkout\",\"instances\":1,\"connected\":1,"
                        "\"types\":[\"cpu\",\"wall\"],\"last_seen\":5}]}");
    free(a);
    a = apps_for("beta");
    ck_assert_ptr_nonnull(strstr(a, "\"instances\":2"));
    ck_assert_ptr_null(strstr(a, "\"instances\":1"));
    free(a);
    a = apps_for("");   /* the default tenant: unqualified names only */
    ck_assert_str_eq(a, "{\"apps\":[{\"name\":\"plain \\\"q\\\"\",\"instances\":3,\"connected\":3,"
                        "\"types\":[],\"last_seen\":7}]}");
    free(a);
    a = apps_for("acm");
    ck_assert_str_eq(a, "{\"apps\":[]}");
    free(a);
}
END_TEST

START_TEST(test_tenant_view_apps_refuses_other_shapes)
{
    cp_buf_t in = CP_BUF_INIT, out = CP_BUF_INIT;
    cp_buf_printf(&in, "{\"apps\":[{\"instances\":1,\"name\":\"x\"}]}");
    ck_assert_int_eq(cp_tenant_apps_json(&in, "", &out), CP_EINVAL);
    cp_buf_fini(&in);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_tenant_view_rename_and_error_text)
{
    cp_buf_t in = CP_BUF_INIT, out = CP_BUF_INIT;
    cp_buf_printf(&in, "{\"instances\":[{\"id\":\"a\",\"app\":\"acme\\u001fshop\"},{\"id\":\"b\",\"app\":\"acme\\u001fshop\"}]}");
    cp_tenant_rename_app(&in, "acme\x1fshop", "shop", &out);
    cp_buf_append(&out, "", 1);
    ck_assert_str_eq((char *)out.data, "{\"instances\":[{\"id\":\"a\",\"app\":\"shop\"},{\"id\":\"b\",\"app\":\"shop\"}]}");
    cp_buf_fini(&in);
    cp_buf_fini(&out);
    char err[64] = "unknown type 'x' for app 'acme\x1fshop'";
    cp_tenant_err_text(err, sizeof err, "acme\x1fshop", "shop");
    ck_assert_str_eq(err, "unknown type 'x' for app 'shop'");
    char small[8] = "acme\x1fs";
    cp_tenant_err_text(small, sizeof small, "acme\x1fs", "a-long-name");
    ck_assert_str_eq(small, "a-long-");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tenant_view");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, test_tenant_view_apps_keeps_only_the_tenant);
    tcase_add_test(tc, test_tenant_view_apps_refuses_other_shapes);
    tcase_add_test(tc, test_tenant_view_rename_and_error_text);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
