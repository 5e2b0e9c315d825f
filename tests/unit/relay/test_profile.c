/* test_profile.c - call trees and output formats from a hand-built profile. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.h"
#include "profile.pb-c.h"

/* names: 0 main, 1 a, 2 b, 3 rec */
static void make(cp_profile_t *p, const char *const *names, uint32_t nn,
                 const uint32_t *const *stacks, const uint32_t *lens, const uint64_t *vals, uint32_t ns)
{
    memset(p, 0, sizeof *p);
    p->names = calloc(nn, sizeof *p->names);
    p->kinds = calloc(nn, 1);
    for (uint32_t i = 0; i < nn; i++) {
        p->names[i] = strdup(names[i]);
        p->kinds[i] = (uint8_t)(i % 3);
    }
    p->n_names = nn;
    uint32_t tot = 0;
    for (uint32_t i = 0; i < ns; i++)
        tot += lens[i];
    p->stack_off = calloc(ns + 1, sizeof(uint32_t));
    p->funcs = calloc(tot + 1, sizeof(uint32_t));
    p->values = calloc(ns, sizeof(uint64_t));
    uint32_t k = 0;
    for (uint32_t i = 0; i < ns; i++) {
        p->stack_off[i] = k;
        for (uint32_t j = 0; j < lens[i]; j++)
            p->funcs[k++] = stacks[i][j];
        p->values[i] = vals[i];
        p->total += vals[i];
    }
    p->stack_off[ns] = k;
    p->n_stacks = ns;
    p->unit = strdup("ns");
}

static const char *const NAMES[] = {"x.Main.main", "x.A.a", "x.B.b", "x.R.rec"};
static const uint32_t S0[] = {0, 1}, S1[] = {0, 2}, S2[] = {0, 1, 2}, S3[] = {0, 3, 3, 3};
static const uint32_t *const STACKS[] = {S0, S1, S2, S3};
static const uint32_t LENS[] = {2, 2, 3, 4};
static const uint64_t VALS[] = {10, 50, 5, 7};

START_TEST(test_profile_tree_is_preorder_sorted_by_total)
{
    cp_profile_t p;
    cp_tree_t t;
    make(&p, NAMES, 4, STACKS, LENS, VALS, 4);
    cp_tree_build(&p, NULL, &t);
    /* root, main, b(50), a(15), a.b(5), rec(7), rec, rec */
    ck_assert_uint_eq(t.n, 8);
    ck_assert_int_eq(t.parent[0], -1);
    ck_assert_uint_eq(t.total[0][0], 72);
    ck_assert_uint_eq(t.name[1], 0);
    ck_assert_uint_eq(t.name[2], 2);
    ck_assert_uint_eq(t.total[0][2], 50);
    ck_assert_uint_eq(t.name[3], 1);
    ck_assert_uint_eq(t.total[0][3], 15);
    ck_assert_uint_eq(t.self[0][3], 10);
    ck_assert_int_eq(t.parent[4], 3);
    ck_assert_uint_eq(t.name[5], 3);
    for (uint32_t i = 1; i < t.n; i++)
        ck_assert_int_lt(t.parent[i], (int32_t)i);
    cp_tree_free(&t);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_profile_collapsed_lists_every_leaf)
{
    cp_profile_t p;
    cp_tree_t t;
    cp_buf_t b = CP_BUF_INIT;
    make(&p, NAMES, 4, STACKS, LENS, VALS, 4);
    cp_tree_build(&p, NULL, &t);
    cp_profile_write_collapsed(&p, &t, &b);
    cp_buf_append(&b, "", 1);
    ck_assert_str_eq((char *)b.data, "x.Main.main;x.B.b 50\n"
                                     "x.Main.main;x.A.a 10\n"
                                     "x.Main.main;x.A.a;x.B.b 5\n"
                                     "x.Main.main;x.R.rec;x.R.rec;x.R.rec 7\n");
    cp_buf_fini(&b);
    cp_tree_free(&t);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_profile_top_counts_recursion_once)
{
    cp_profile_t p;
    cp_tree_t t;
    cp_buf_t b = CP_BUF_INIT;
    make(&p, NAMES, 4, STACKS, LENS, VALS, 4);
    cp_tree_build(&p, NULL, &t);
    cp_profile_write_top(&p, &t, 10, &b);
    cp_buf_append(&b, "", 1);
    ck_assert_ptr_nonnull(strstr((char *)b.data, "{\"name\":\"x.R.rec\",\"kind\":0,\"self\":7,\"total\":7}"));
    ck_assert_ptr_nonnull(strstr((char *)b.data, "{\"name\":\"x.B.b\",\"kind\":2,\"self\":55,\"total\":55}"));
    ck_assert_ptr_nonnull(strstr((char *)b.data, "\"total\":72,\"functions\":[{\"name\":\"x.B.b\""));
    cp_buf_fini(&b);
    cp_tree_free(&t);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_profile_pprof_roundtrips_through_protobuf_c)
{
    cp_profile_t p;
    cp_tree_t t;
    cp_buf_t b = CP_BUF_INIT;
    make(&p, NAMES, 4, STACKS, LENS, VALS, 4);
    cp_tree_build(&p, NULL, &t);
    ck_assert_int_eq(cp_profile_write_pprof(&p, &t, "cpu", 1000, 61000, &b), 0);
    ck_assert_uint_eq(b.data[0], 0x1f);   /* gzip magic */
    ck_assert_uint_eq(b.data[1], 0x8b);
    uint8_t raw[65536];
    z_stream zs = {0};
    ck_assert_int_eq(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = b.data;
    zs.avail_in = (uInt)b.len;
    zs.next_out = raw;
    zs.avail_out = sizeof raw;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    inflateEnd(&zs);
    Perftools__Profiles__Profile *pr = perftools__profiles__profile__unpack(NULL, n, raw);
    ck_assert_ptr_nonnull(pr);
    ck_assert_str_eq(pr->string_table[0], "");
    ck_assert_str_eq(pr->string_table[pr->sample_type[0]->type], "cpu");
    ck_assert_str_eq(pr->string_table[pr->sample_type[0]->unit], "ns");
    ck_assert_int_eq(pr->duration_nanos, 60000000000LL);
    ck_assert_uint_eq(pr->n_sample, 4);
    int64_t sum = 0;
    for (size_t i = 0; i < pr->n_sample; i++)
        sum += pr->sample[i]->value[0];
    ck_assert_int_eq(sum, 72);
    /* the 50 sample: leaf b first, then main */
    Perftools__Profiles__Sample *s = pr->sample[0];
    ck_assert_int_eq(s->value[0], 50);
    ck_assert_uint_eq(s->n_location_id, 2);
    uint64_t fid = pr->location[s->location_id[0] - 1]->line[0]->function_id;
    ck_assert_str_eq(pr->string_table[pr->function[fid - 1]->name], "x.B.b");
    perftools__profiles__profile__free_unpacked(pr, NULL);
    cp_buf_fini(&b);
    cp_tree_free(&t);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_profile_diff_merges_names_of_both_sides)
{
    cp_profile_t a, b;
    cp_tree_t t;
    cp_buf_t o = CP_BUF_INIT;
    static const char *const NB[] = {"x.Main.main", "x.New.hot"};
    static const uint32_t T0[] = {0, 1};
    static const uint32_t *const SB[] = {T0};
    static const uint32_t LB[] = {2};
    static const uint64_t VB[] = {100};
    make(&a, NAMES, 4, STACKS, LENS, VALS, 4);
    make(&b, NB, 2, SB, LB, VB, 1);
    cp_tree_build(&a, &b, &t);
    ck_assert_uint_eq(a.n_names, 5);
    ck_assert_uint_eq(t.total[0][0], 72);
    ck_assert_uint_eq(t.total[1][0], 100);
    /* main is shared by both sides */
    ck_assert_uint_eq(t.total[0][1], 72);
    ck_assert_uint_eq(t.total[1][1], 100);
    cp_profile_write_diff(&a, &b, &t, &o);
    cp_buf_append(&o, "", 1);
    ck_assert_ptr_nonnull(strstr((char *)o.data, "\"functions\":[{\"name\":\"x.New.hot\",\"kind\":1,"
                                                 "\"base_self\":0,\"cmp_self\":100,\"base_pct\":0.0000,"
                                                 "\"cmp_pct\":100.0000,\"delta_pct\":100.0000}"));
    cp_buf_fini(&o);
    cp_tree_free(&t);
    cp_profile_free(&a);
    cp_profile_free(&b);
}
END_TEST

START_TEST(test_profile_empty_has_only_root)
{
    cp_profile_t p;
    cp_tree_t t;
    cp_buf_t b = CP_BUF_INIT;
    memset(&p, 0, sizeof p);
    cp_tree_build(&p, NULL, &t);
    ck_assert_uint_eq(t.n, 1);
    cp_profile_write_json(&p, &t, "a", "cpu", 0, 1000, &b);
    cp_buf_append(&b, "", 1);
    ck_assert_str_eq((char *)b.data, "{\"app\":\"a\",\"type\":\"cpu\",\"unit\":\"\",\"from\":0,\"to\":1,"
                                     "\"total\":0,\"names\":[\"<root>\"],\"kinds\":[6],\"tree\":[-1,0,0,0]}");
    cp_buf_fini(&b);
    cp_tree_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("tree");
    tcase_add_test(tc, test_profile_tree_is_preorder_sorted_by_total);
    tcase_add_test(tc, test_profile_empty_has_only_root);
    suite_add_tcase(s, tc);
    tc = tcase_create("formats");
    tcase_add_test(tc, test_profile_collapsed_lists_every_leaf);
    tcase_add_test(tc, test_profile_top_counts_recursion_once);
    tcase_add_test(tc, test_profile_pprof_roundtrips_through_protobuf_c);
    tcase_add_test(tc, test_profile_diff_merges_names_of_both_sides);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);   /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
