/* test_store_sqlite.c - the store through store.h: registry, per-app
 * interning across connections and restarts, duplicates, label filters.
 * Engine-neutral: it runs on SQLite (store_sqlite) and on PostgreSQL
 * (store_sqlite_pg, run_pg.py). */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "store_fixture.h"
#include "store_labels.h"

/* One batch: strings/frames/stacks in the given order (so two connections
 * can define the same stacks with different ids). reversed=1 swaps order. */
static int send(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, int reversed, uint64_t va, uint64_t vb,
                bool with_dict)
{
    static const cp_str_t strs_f[] = {{"", 0}, {"p.Main", 6}, {"main", 4}, {"p.A", 3}, {"hot", 3}};
    static const cp_str_t strs_r[] = {{"hot", 3}, {"p.A", 3}, {"main", 4}, {"p.Main", 6}, {"", 0}};
    cp_frame_t fr_f[] = {{1, 2, 0, 1, 0}, {3, 4, 0, 2, 2}};
    cp_frame_t fr_r[] = {{1, 0, 4, 2, 2}, {3, 2, 4, 1, 0}};
    static const uint32_t st_f0[] = {0}, st_f1[] = {0, 1};
    static const uint32_t st_r0[] = {1, 0}, st_r1[] = {1};
    cp_wire_stack_t stk_f[] = {{st_f0, 1}, {st_f1, 2}};
    cp_wire_stack_t stk_r[] = {{st_r0, 2}, {st_r1, 1}};
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    /* f: stack 0 = main, 1 = main;hot.  r: stack 0 = main;hot, 1 = main */
    cp_wire_value_t vals[2];
    vals[0] = (cp_wire_value_t){reversed ? 1u : 0u, 0, va};
    vals[1] = (cp_wire_value_t){reversed ? 0u : 1u, 0, vb};
    cp_batch_t b = store_fixture_batch(seq, types);
    if (with_dict) {
        b.strs = reversed ? strs_r : strs_f;
        b.n_strs = 5;
        b.frames = reversed ? fr_r : fr_f;
        b.n_frames = 2;
        b.stacks = reversed ? stk_r : stk_f;
        b.n_stacks = 2;
    }
    b.values = vals;
    b.n_values = 2;
    cp_counter_t ctr[] = {{"samples.cpu", 3}};
    b.counters = ctr;
    b.n_counters = 1;
    ck_assert_int_eq(cp_store_begin(s), 0);
    int rc = cp_store_conn_batch(s, c, &b, 5000, NULL, NULL);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return rc;
}

static uint64_t value_of(const cp_profile_t *p, const char *leaf, uint32_t depth)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        uint32_t n = p->stack_off[i + 1] - p->stack_off[i];
        if (n == depth && !strcmp(p->names[p->funcs[p->stack_off[i + 1] - 1]], leaf))
            v += p->values[i];
    }
    return v;
}

static void query(const char *labels, cp_profile_t *p)
{
    char err[128] = "";
    ck_assert_int_eq(store_fixture_profile("app1", "cpu", labels, p, err, sizeof err), 0);
}

START_TEST(test_store_two_connections_intern_into_one_app_dictionary)
{
    cp_store_t *s;
    cp_store_conn_t *c1, *c2;
    uint64_t last;
    cp_kv_t l1[] = {{"env", "prod"}}, l2[] = {{"env", "dev"}};
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_hello_t h1 = store_fixture_hello("app1", "i1", l1, 1), h2 = store_fixture_hello("app1", "i2", l2, 1);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h1, 1, &c1, &last), 0);
    ck_assert_int_eq(last, 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h2, 1, &c2, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_eq(send(s, c1, 1, 0, 10, 100, true), 0);
    ck_assert_int_eq(send(s, c2, 1, 1, 20, 200, true), 0);
    ck_assert_int_eq(send(s, c1, 2, 0, 1, 1, false), 0);
    ck_assert_int_eq(send(s, c1, 2, 0, 1000, 1000, false), 1);   /* duplicate */
    cp_profile_t p;
    query(NULL, &p);
    ck_assert_uint_eq(p.n_stacks, 2);   /* same stacks from both connections */
    ck_assert_uint_eq(value_of(&p, "p.Main.main", 1), 10 + 20 + 1);
    ck_assert_uint_eq(value_of(&p, "p.A.hot", 2), 100 + 200 + 1);
    ck_assert_uint_eq(p.total, 332);
    ck_assert_str_eq(p.unit, "ns");
    cp_profile_free(&p);
    query("env=dev", &p);
    ck_assert_uint_eq(p.total, 220);
    cp_profile_free(&p);
    query("env=prod,x=y", &p);
    ck_assert_uint_eq(p.total, 0);
    cp_profile_free(&p);

    /* restart: the dictionary reloads, a new connection maps onto the same ids */
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 6);
    cp_store_conn_close(s, c2, 6);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h1, 7, &c1, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_eq(last, 2);
    ck_assert_int_eq(send(s, c1, 2, 1, 5, 5, true), 1);   /* dict applied, values dropped */
    ck_assert_int_eq(send(s, c1, 3, 1, 5, 5, false), 0);
    query(NULL, &p);
    ck_assert_uint_eq(p.n_stacks, 2);
    ck_assert_uint_eq(p.total, 342);
    cp_profile_free(&p);

    cp_store_reader_t *r;
    cp_buf_t b = CP_BUF_INIT;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    ck_assert_int_eq(cp_store_apps_json(r, &b), 0);
    cp_buf_append(&b, "", 1);
    ck_assert_str_eq((char *)b.data, "{\"apps\":[{\"name\":\"app1\",\"instances\":2,\"connected\":1,"
                                     "\"types\":[\"cpu\"],\"first_sample\":{\"cpu\":1010},\"last_seen\":5}]}");
    cp_buf_reset(&b);
    ck_assert_int_eq(cp_store_instances_json(r, "nope", &b), CP_ENOTFOUND);
    cp_store_query_t q = {"app1", "wall", NULL, 0, 1000};
    cp_profile_t p2;
    char err[128] = "";
    ck_assert_int_eq(cp_store_profile(r, &q, &p2, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "unknown type"));
    cp_buf_fini(&b);
    cp_store_reader_close(r);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 8);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
}
END_TEST

/* The agent's state (batch key 18) is kept per instance, the latest value
 * winning, beside summed counters, and shown as "state" in /instances. */
START_TEST(test_store_agent_state_is_kept_per_instance_latest_wins)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *c = store_fixture_open_conn(s, "budget", "i1");
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    for (uint64_t seq = 1; seq <= 2; seq++) {
        cp_counter_t ctr[] = {{"samples.cpu", 5}};
        cp_counter_t st[] = {{"interval.cpu_ns", seq == 1 ? 10000000 : 80000000}, {"overhead.minute_ppm", 4000 + seq}};
        cp_batch_t b = store_fixture_batch(seq, types);
        b.counters = ctr;
        b.n_counters = 1;
        b.state = st;
        b.n_state = 2;
        ck_assert_int_eq(cp_store_begin(s), 0);
        ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 5000, NULL, NULL), 0);
        ck_assert_int_eq(cp_store_commit(s), 0);
    }
    cp_store_reader_t *r;
    cp_buf_t doc = CP_BUF_INIT;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    ck_assert_int_eq(cp_store_instances_json(r, "budget", &doc), 0);
    cp_buf_append(&doc, "", 1);
    const char *j = (const char *)doc.data;
    ck_assert_msg(strstr(j, "\"samples\":10,") != NULL, "%s", j);   /* counters still summed */
    ck_assert_msg(strstr(j, "\"state\":{") != NULL, "%s", j);
    ck_assert_msg(strstr(j, "\"interval.cpu_ns\":80000000") != NULL, "%s", j);   /* the latest */
    ck_assert_msg(strstr(j, "\"overhead.minute_ppm\":4002") != NULL, "%s", j);
    cp_buf_fini(&doc);
    cp_store_reader_close(r);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c, 9);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
}
END_TEST

/* A batch of seq that only adds n strings "s<seq>-<i>" (after the first `first` ones). */
static int send_strings(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, uint32_t first, uint32_t n)
{
    static char buf[40000][16];
    static cp_str_t strs[40000];
    ck_assert_uint_le(n, 40000);
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(buf[i], sizeof buf[i], "s%llu-%u", (unsigned long long)seq, i);
        strs[i] = (cp_str_t){buf[i], (uint32_t)len};
    }
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_batch_t b = store_fixture_batch(seq, types);
    b.strs = strs;
    b.n_strs = n;
    b.str_first = first;
    ck_assert_int_eq(cp_store_begin(s), 0);
    int rc = cp_store_conn_batch(s, c, &b, 5000, NULL, NULL);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return rc;
}

/* An app whose last connection closed keeps no dictionary in memory (a
 * flood of one-shot app names, or apps that went away, held it forever);
 * the next connection reloads it, with the same ids. */
START_TEST(test_store_app_dictionary_dropped_with_its_last_connection)
{
    cp_store_t *s;
    cp_store_conn_t *c1, *c2;
    uint64_t last;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_hello_t h1 = store_fixture_hello("app1", "i1", NULL, 0), h2 = store_fixture_hello("app1", "i2", NULL, 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h1, 1, &c1, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_eq(send(s, c1, 1, 0, 10, 100, true), 0);
    ck_assert_int_eq(send_strings(s, c1, 2, 5, 40000), 0);
    malloc_trim(0);
    size_t held = mallinfo2().uordblks;
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 6);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_ge(cp_store_shrink(s, 1), 0);
    malloc_trim(0);
    size_t after = mallinfo2().uordblks;
    /* sanitizer allocators report no mallinfo (0): the check needs glibc's;
     * PostgreSQL's writer caches content hashes only, not the strings */
    bool pg = !strncmp(store_fixture_where, "postgres", 8);
    ck_assert_msg(held == 0 || pg || held > after + 1000000, "40,000 strings: %zu bytes in use before the close, %zu after",
                  held, after);
    /* the next connection (another instance) maps onto the stored ids */
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h2, 7, &c2, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_eq(send(s, c2, 1, 1, 20, 200, true), 0);
    cp_profile_t p;
    query(NULL, &p);
    ck_assert_uint_eq(p.n_stacks, 2);
    ck_assert_uint_eq(value_of(&p, "p.Main.main", 1), 10 + 20);
    ck_assert_uint_eq(value_of(&p, "p.A.hot", 2), 100 + 200);
    cp_profile_free(&p);
    /* closed and reopened inside one transaction that then rolls back */
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c2, 8);
    ck_assert_int_eq(cp_store_conn_open(s, &h1, 8, &c1, &last), 0);
    cp_store_rollback(s);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 9);   /* broken by the rollback */
    ck_assert_int_eq(cp_store_conn_open(s, &h2, 9, &c2, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    ck_assert_int_eq(send(s, c2, 2, 0, 1, 1, true), 0);
    query(NULL, &p);
    ck_assert_uint_eq(p.n_stacks, 2);
    ck_assert_uint_eq(p.total, 332);
    cp_profile_free(&p);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c2, 10);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
}
END_TEST

START_TEST(test_store_gap_in_delta_is_rejected)
{
    cp_store_t *s;
    cp_store_conn_t *c;
    uint64_t last;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_hello_t h = store_fixture_hello("app1", "i1", NULL, 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &c, &last), 0);
    cp_str_t strs[] = {{"x", 1}};
    cp_batch_t b;
    memset(&b, 0, sizeof b);
    b.seq = 1;
    b.str_first = 3;   /* nothing sent before: must be 0 */
    b.strs = strs;
    b.n_strs = 1;
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 1, NULL, NULL), CP_EGAP);
    cp_store_conn_close(s, c, 2);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
}
END_TEST

START_TEST(test_store_labels_match_whole_pairs)
{
    ck_assert(cp_store_labels_match("a=1,b=2", NULL));
    ck_assert(cp_store_labels_match("a=1,b=2", ""));
    ck_assert(cp_store_labels_match("a=1,b=2", "b=2"));
    ck_assert(cp_store_labels_match("a=1,b=2", "b=2,a=1"));
    ck_assert(!cp_store_labels_match("a=1,b=2", "b=22"));
    ck_assert(!cp_store_labels_match("a=1,b=22", "b=2"));
    ck_assert(!cp_store_labels_match("", "a=1"));
}
END_TEST

/* ',' and '=' inside a key or value are escaped in the canonical form, so
 * a value cannot forge another pair: env="x,region=prod" is one pair. */
START_TEST(test_store_labels_escape_separators)
{
    cp_kv_t kv[] = {{"env", "x,region=prod"}, {"a\\b", "1"}};
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    cp_store_labels_canon(kv, 2, &canon, &json);
    ck_assert_str_eq((const char *)canon.data, "a\\\\b=1,env=x\\,region\\=prod");
    ck_assert(!cp_store_labels_match((const char *)canon.data, "region=prod"));
    ck_assert(!cp_store_labels_match((const char *)canon.data, "env=x"));
    ck_assert(cp_store_labels_match((const char *)canon.data, "env=x\\,region\\=prod"));
    /* an '=' after the first one belongs to the value */
    ck_assert(cp_store_labels_match((const char *)canon.data, "env=x\\,region=prod"));
    ck_assert(cp_store_labels_match((const char *)canon.data, "a\\\\b=1,env=x\\,region=prod"));
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
}
END_TEST

/* A method met first interpreted (its warm-up) and then as JIT code is
 * shown with the JIT kind; one met compiled first stays compiled. */
START_TEST(test_store_name_kind_prefers_jit_code)
{
    cp_store_t *s;
    cp_store_conn_t *c;
    uint64_t last;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_hello_t h = store_fixture_hello("app1", "i1", NULL, 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &c, &last), 0);
    static const cp_str_t strs[] = {{"p.A", 3}, {"warm", 4}, {"cold", 4}, {"", 0}};
    /* warm: interpreted, then compiled; cold: compiled, then interpreted */
    cp_frame_t fr[] = {{0, 1, 3, 0, CP_FRAME_INTERPRETED}, {0, 1, 3, 0, CP_FRAME_COMPILED},
                       {0, 2, 3, 0, CP_FRAME_COMPILED}, {0, 2, 3, 0, CP_FRAME_INTERPRETED}};
    static const uint32_t s0[] = {0}, s1[] = {1}, s2[] = {2}, s3[] = {3};
    cp_wire_stack_t stk[] = {{s0, 1}, {s1, 1}, {s2, 1}, {s3, 1}};
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_wire_value_t vals[] = {{0, 0, 1}, {1, 0, 99}, {2, 0, 99}, {3, 0, 1}};
    cp_counter_t ctr[] = {{"samples.cpu", 4}};
    cp_batch_t b;
    memset(&b, 0, sizeof b);
    b.seq = 1;
    b.start_ms = 1000000;
    b.end_ms = 1010000;
    b.types = types;
    b.n_types = 1;
    b.strs = strs;
    b.n_strs = 4;
    b.frames = fr;
    b.n_frames = 4;
    b.stacks = stk;
    b.n_stacks = 4;
    b.values = vals;
    b.n_values = 4;
    b.counters = ctr;
    b.n_counters = 1;
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 5000, NULL, NULL), 0);
    cp_store_conn_close(s, c, 2);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
    cp_profile_t p;
    query(NULL, &p);
    ck_assert_uint_eq(p.n_names, 2);
    for (uint32_t i = 0; i < p.n_names; i++)
        ck_assert_msg(p.kinds[i] == CP_FRAME_COMPILED, "%s has kind %u", p.names[i], p.kinds[i]);
    ck_assert_uint_eq(value_of(&p, "p.A.warm", 1), 100);
    cp_profile_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_sqlite");
    TCase *tc = tcase_create("ingest");
    tcase_set_timeout(tc, 60);   /* 40,000 strings into PostgreSQL take over 4 s at load 20 */
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_add_test(tc, test_store_two_connections_intern_into_one_app_dictionary);
    tcase_add_test(tc, test_store_agent_state_is_kept_per_instance_latest_wins);
    tcase_add_test(tc, test_store_gap_in_delta_is_rejected);
    tcase_add_test(tc, test_store_app_dictionary_dropped_with_its_last_connection);
    tcase_add_test(tc, test_store_name_kind_prefers_jit_code);
    suite_add_tcase(s, tc);
    tc = tcase_create("labels");
    tcase_add_test(tc, test_store_labels_match_whole_pairs);
    tcase_add_test(tc, test_store_labels_escape_separators);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);   /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
