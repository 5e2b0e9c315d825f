/* test_insights_run.c - cp_insights_run over a real store: the document
 * of a range read from raw windows (instances, worst window, types) and
 * the errors (unknown app, unknown type). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "insights.h"
#include "store.h"
#include "store_fixture.h"

#define MS10 10000000ull

/* stack 0 = Main.main;Parser.parse;String.split;Pattern.compile,
 * 1 = Main.main;Work.run, 2 = Main.main */
static void send(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, bool dict, uint64_t vregex, uint64_t vwork)
{
    static const cp_str_t strs[] = {{"", 0}, {"p.Main", 6}, {"main", 4}, {"p.Parser", 8}, {"parse", 5},
                                    {"java.lang.String", 16}, {"split", 5}, {"java.util.regex.Pattern", 23},
                                    {"compile", 7}, {"p.Work", 6}, {"run", 3}};
    static const cp_frame_t fr[] = {{1, 2, 0, 0, 2}, {3, 4, 0, 0, 2}, {5, 6, 0, 0, 3}, {7, 8, 0, 0, 3},
                                    {9, 10, 0, 0, 2}};
    static const uint32_t s0[] = {0, 1, 2, 3}, s1[] = {0, 4}, s2[] = {0};
    static const cp_wire_stack_t stk[] = {{s0, 4}, {s1, 2}, {s2, 1}};
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_wire_value_t vals[] = {{0, 0, vregex}, {1, 0, vwork}, {2, 0, MS10}};
    cp_batch_t b = store_fixture_batch(seq, types);
    if (dict) {
        b.strs = strs;
        b.n_strs = 11;
        b.frames = fr;
        b.n_frames = 5;
        b.stacks = stk;
        b.n_stacks = 3;
    }
    b.values = vals;
    b.n_values = 3;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 5000, NULL, NULL), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
}

static int run(const char *app, const char *type, cp_buf_t *out, char *err, size_t errlen)
{
    cp_store_reader_t *r;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_dir, &r), 0);
    cp_insights_query_t q = {app, "shown", type, NULL, 1000000, 1100000};
    int rc = cp_insights_run(r, &q, out, err, errlen);
    cp_store_reader_close(r);
    return rc;
}

START_TEST(test_insights_run_reads_windows_and_writes_the_document)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_dir, NULL, &s), 0);
    cp_store_conn_t *c1 = store_fixture_open_conn(s, "app1", "i1"), *c2 = store_fixture_open_conn(s, "app1", "i2");
    send(s, c1, 1, true, 100 * MS10, 400 * MS10);
    send(s, c1, 2, false, 300 * MS10, 200 * MS10);
    send(s, c2, 1, true, 1 * MS10, 499 * MS10);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 6);
    cp_store_conn_close(s, c2, 6);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
    cp_buf_t b = CP_BUF_INIT;
    char err[256] = "";
    ck_assert_int_eq(run("app1", NULL, &b, err, sizeof err), 0);
    cp_buf_append(&b, "", 1);
    const char *j = (const char *)b.data;
    ck_assert_ptr_nonnull(strstr(j, "{\"app\":\"shown\",\"from\":1000,\"to\":1100,"));
    ck_assert_ptr_nonnull(strstr(j, "\"types\":{\"cpu\":{\"total\":15030000000,\"samples\":1503,\"unit\":\"ns\"}}"));
    ck_assert_ptr_nonnull(strstr(j, "\"rule\":\"regex-compile\""));
    ck_assert_ptr_nonnull(strstr(j, "\"callers\":[{\"name\":\"p.Parser.parse\""));
    ck_assert_ptr_nonnull(strstr(j, "\"instances\":{\"with\":1,\"of\":2}"));
    ck_assert_ptr_nonnull(strstr(j, "\"worst_window\":{\"from\":1020.000,\"to\":1030.000,\"share\":0.598802}"));
    ck_assert_ptr_nonnull(strstr(j, "\"link\":\"/api/v1/profile?app=shown&type=cpu&from=1000&to=1100\""));
    cp_buf_fini(&b);
    /* unknown app; a type the app does not have */
    err[0] = 0;
    ck_assert_int_eq(run("nope", NULL, &b, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "unknown app"));
    err[0] = 0;
    ck_assert_int_eq(run("app1", "wall", &b, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "unknown type"));
    cp_buf_fini(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("insights_run");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_add_test(tc, test_insights_run_reads_windows_and_writes_the_document);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
