/* test_store_ctx.c - Check tests for request context in the store
 * (relay/store_ctx.h, relay/store_trace.h) and through the SQLite engine:
 * labelled parts become their own label sets next to the instance's,
 * labels= selects them, the unlabelled rest keeps the totals, trace rows
 * come back as one profile rooted by app and thread. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "otlp_query.h"
#include "store.h"
#include "store_ctx.h"
#include "store_fixture.h"
#include "store_trace.h"

static char ERR[256];

START_TEST(test_store_ctx_split_takes_labelled_parts_out_of_totals)
{
    static const cp_kv_t inst[] = {{"env", "prod"}, {"endpoint", "none"}};
    static const cp_kv_t l0[] = {{"endpoint", "GET /a"}};
    static const cp_wire_lset_t ls[] = {{l0, 1}};
    cp_store_ctx_t c;
    cp_store_ctx_init(&c, inst, 2);
    cp_batch_t b = {.seq = 1, .n_types = 1, .lsets = ls, .n_lsets = 1, .lset_first = 1};
    ck_assert_int_eq(cp_store_ctx_apply(&c, &b, 0), CP_EGAP);
    b.lset_first = 0;
    ck_assert_int_eq(cp_store_ctx_apply(&c, &b, 0), 0);
    /* stacks 0, 1 of the connection are app stacks 7, 9 */
    cp_store_idmap_t m = {0};
    cp__vu32_push(&m.stacks, 7);
    cp__vu32_push(&m.stacks, 9);
    cp_wire_lvalue_t lv[] = {{0, 0, 0, 30}, {1, 0, 0, 50}};
    b.lvalues = lv;
    b.n_lvalues = 2;
    cp_store_blob_pairs_t per[1] = {{0}};
    cp_store_blob_pairs_add(&per[0], 7, 100);
    cp_store_blob_pairs_add(&per[0], 9, 40);     /* a part over its total: the rest clamps at 0 */
    ck_assert_int_eq(cp_store_ctx_split(&c, &m, &b, per), 0);
    ck_assert_uint_eq(c.n_parts, 1);
    ck_assert_uint_eq(c.parts[0].pairs.n, 2);
    ck_assert_uint_eq(per[0].n, 1);              /* stack 9 fully labelled: removed */
    ck_assert_uint_eq(per[0].v[0], 7);
    ck_assert_uint_eq(per[0].v[1], 70);
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    cp_store_ctx_canon(&c, 0, &canon, &json);
    ck_assert_str_eq((const char *)canon.data, "endpoint=GET /a,env=prod");   /* the sample's value wins */
    /* a label set past the connection's: dangling */
    lv[1].lset = 1;
    ck_assert_int_eq(cp_store_ctx_split(&c, &m, &b, per), CP_EDANGLING);
    /* a reset forgets the sets */
    cp_batch_t r = {.seq = 2, .flags = CP_BATCH_DICT_RESET};
    ck_assert_int_eq(cp_store_ctx_apply(&c, &r, 0), 0);
    ck_assert_uint_eq(c.n_sets, 0);
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    cp_store_blob_pairs_fini(&per[0]);
    cp_store_idmap_fini(&m);
    cp_store_ctx_fini(&c);
}
END_TEST

typedef struct seen { uint64_t span, value; uint32_t thread, stack, n; } seen_t;
static void on_entry(void *ud, uint64_t span, uint32_t thread, uint32_t stack, uint64_t value)
{
    seen_t *s = ud;
    s->span = span; s->thread = thread; s->stack = stack; s->value += value; s->n++;
}

START_TEST(test_store_trace_rows_roundtrip)
{
    cp_store_idmap_t m = {0};
    cp__vu32_push(&m.stacks, 7);
    cp__vu32_push(&m.strs, 3);
    cp_wire_trace_t tr[] = {{1, 2, 99, 0, 0, 0, 10}, {1, 2, 99, 0, 0, 0, 5}, {1, 3, 0, 0, 0, 0, 4}};
    cp_batch_t b = {.seq = 1, .n_types = 1, .traces = tr, .n_traces = 3};
    cp_store_traces_t t = {0};
    uint64_t dropped;
    ck_assert_int_eq(cp_store_traces_split(&t, &m, &b, &dropped), 0);
    ck_assert_uint_eq(t.n, 2);
    ck_assert_uint_eq(dropped, 0);
    ck_assert_uint_eq(t.rows[0].total, 15);
    seen_t s = {0};
    ck_assert(cp_store_trace_each(t.rows[0].blob.data, t.rows[0].blob.len, on_entry, &s));
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.span, 99);
    ck_assert_uint_eq(s.thread, 3);
    ck_assert_uint_eq(s.stack, 7);
    ck_assert_uint_eq(s.value, 15);
    ck_assert(!cp_store_trace_each("\xff", 1, on_entry, &s));   /* truncated varint */
    tr[0].stack = 5;
    ck_assert_int_eq(cp_store_traces_split(&t, &m, &b, &dropped), CP_EDANGLING);
    uint64_t hi, lo;
    ck_assert(cp_store_trace_parse("0AF7651916CD43DD8448EB211C80319C", &hi, &lo));
    ck_assert(hi == 0x0af7651916cd43ddULL && lo == 0x8448eb211c80319cULL);
    ck_assert(!cp_store_trace_parse("00000000000000000000000000000000", &hi, &lo));
    ck_assert(!cp_store_trace_parse("0af7651916cd43dd8448eb211c80319", &hi, &lo));
    cp_store_traces_fini(&t);
    cp_store_idmap_fini(&m);
}
END_TEST

/* ---- through the SQLite engine ---- */

static const cp_sample_type_t CPU[] = {{"cpu", "ns"}};
static const cp_str_t STRS[] = {{"", 0}, {"A", 1}, {"a", 1}, {"b", 1}, {"worker-1", 8}};
static const cp_frame_t FRAMES[] = {{1, 2, 0, 0, 0}, {1, 3, 0, 0, 0}};
static const uint32_t ST0[] = {0}, ST1[] = {0, 1};
static const cp_wire_stack_t STACKS[] = {{ST0, 1, 0, 0}, {ST1, 2, 0, 0}};
static const cp_kv_t LA[] = {{"endpoint", "GET /a"}};
static const cp_wire_lset_t LSETS[] = {{LA, 1}};

typedef struct rows { uint32_t n; uint64_t total; char labels[64]; } rows_t;
static int count_row(void *ud, const cp_store_window_t *w)
{
    rows_t *r = ud;
    r->n++;
    r->total += w->total;
    snprintf(r->labels, sizeof r->labels, "%s", w->labels);
    return 0;
}

static const char *no_apps(void *ud, const char *stored)
{
    (void)ud; (void)stored;
    return NULL;
}

static const char *all_apps(void *ud, const char *stored)
{
    (void)ud;
    return stored;
}

START_TEST(test_store_ctx_labels_and_trace_through_sqlite)
{
    cp_store_config_t cfg;
    cp_store_config_default(&cfg);
    cp_store_t *s = NULL;
    ck_assert_int_eq(cp_store_open(store_fixture_where, &cfg, &s), 0);
    cp_store_conn_t *c = store_fixture_open_conn(s, "shop", "i-1");
    ck_assert_ptr_nonnull(c);
    cp_batch_t b = store_fixture_batch(1, CPU);
    b.strs = STRS; b.n_strs = 5;
    b.frames = FRAMES; b.n_frames = 2;
    b.stacks = STACKS; b.n_stacks = 2;
    cp_wire_value_t v[] = {{0, 0, 1000}, {1, 0, 3000}};
    b.values = v; b.n_values = 2;
    b.lsets = LSETS; b.n_lsets = 1;
    cp_wire_lvalue_t lv[] = {{1, 0, 0, 2000}};
    b.lvalues = lv; b.n_lvalues = 1;
    cp_wire_trace_t tr[] = {{0xab, 0xcd, 7, 4, 1, 0, 1500}};
    b.traces = tr; b.n_traces = 1;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 1000000, NULL, NULL), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);

    cp_profile_t p;
    ck_assert_int_eq(store_fixture_profile("shop", "cpu", NULL, &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 4000);                      /* totals exact */
    cp_profile_free(&p);
    ck_assert_int_eq(store_fixture_profile("shop", "cpu", "endpoint=GET /a", &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 2000);                      /* the labelled part */
    ck_assert_uint_eq(p.n_stacks, 1);
    cp_profile_free(&p);

    cp_store_reader_t *r = NULL;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    /* rows: one per instance window by default, one per label set on request */
    cp_store_query_t wq = {"shop", "cpu", NULL, 0, INT64_MAX / 2};
    rows_t rows = {0};
    ck_assert_int_eq(cp_store_profile_windows(r, &wq, CP_STORE_WINDOWS_RAW, &p, count_row, &rows, ERR, sizeof ERR), 0);
    cp_profile_free(&p);
    ck_assert_uint_eq(rows.n, 1);
    ck_assert_uint_eq(rows.total, 4000);
    ck_assert_str_eq(rows.labels, "");
    rows = (rows_t){0};
    ck_assert_int_eq(cp_store_profile_windows(r, &wq, CP_STORE_WINDOWS_RAW | CP_STORE_WINDOWS_BY_LSET, &p, count_row,
                                              &rows, ERR, sizeof ERR), 0);
    cp_profile_free(&p);
    ck_assert_uint_eq(rows.n, 2);
    ck_assert_uint_eq(rows.total, 4000);
    cp_store_trace_query_t q = {0xab, 0xcd, "cpu", 0, INT64_MAX / 2, all_apps, NULL};
    ck_assert_int_eq(cp_store_trace_profile(r, &q, &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 1500);
    ck_assert_uint_eq(p.n_stacks, 1);
    ck_assert_uint_eq(p.stack_off[1] - p.stack_off[0], 4);   /* app, thread, A.a, A.b */
    ck_assert_str_eq(p.names[p.funcs[0]], "[app] shop");
    ck_assert_str_eq(p.names[p.funcs[1]], "[thread] worker-1");
    ck_assert_str_eq(p.names[p.funcs[3]], "A.b");
    cp_profile_free(&p);
    q.view = no_apps;                                      /* another tenant's view: empty */
    ck_assert_int_eq(cp_store_trace_profile(r, &q, &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 0);
    cp_profile_free(&p);
    q.view = all_apps;
    q.lo = 0xce;                                           /* another trace: empty */
    ck_assert_int_eq(cp_store_trace_profile(r, &q, &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 0);
    cp_profile_free(&p);
    cp_store_reader_close(r);
    cp_store_conn_close(s, c, 2000000);
    cp_store_close(s);
}
END_TEST

typedef struct tentries { uint32_t n; uint64_t hi, lo, span, value; int64_t start; char path[64]; } tentries_t;
static void on_tentry(void *ud, const cp_store_trace_entry_t *e)
{
    tentries_t *t = ud;
    t->n++;
    t->hi = e->hi; t->lo = e->lo; t->span = e->span; t->value = e->value; t->start = e->start_ms;
    t->path[0] = 0;
    for (uint32_t k = 0; k < e->n; k++)
        snprintf(t->path + strlen(t->path), sizeof t->path - strlen(t->path), "%s%s", k ? ";" : "",
                 e->names[e->funcs[k]]);
}

/* cp_store_trace_entries (every engine) and format=otlp on top of it: the
 * labelled 2000 of stack A.a;A.b take the trace's 1500 (the larger label
 * set first), the unlabelled 1000 stay unlinked. */
START_TEST(test_store_trace_entries_and_otlp_query)
{
    cp_store_config_t cfg;
    cp_store_config_default(&cfg);
    cp_store_t *s = NULL;
    ck_assert_int_eq(cp_store_open(store_fixture_where, &cfg, &s), 0);
    cp_store_conn_t *c = store_fixture_open_conn(s, "shop", "i-1");
    ck_assert_ptr_nonnull(c);
    cp_batch_t b = store_fixture_batch(1, CPU);
    b.strs = STRS; b.n_strs = 5;
    b.frames = FRAMES; b.n_frames = 2;
    b.stacks = STACKS; b.n_stacks = 2;
    cp_wire_value_t v[] = {{0, 0, 1000}, {1, 0, 3000}};
    b.values = v; b.n_values = 2;
    b.lsets = LSETS; b.n_lsets = 1;
    cp_wire_lvalue_t lv[] = {{1, 0, 0, 2000}};
    b.lvalues = lv; b.n_lvalues = 1;
    cp_wire_trace_t tr[] = {{0xab, 0xcd, 7, 4, 1, 0, 1500}};
    b.traces = tr; b.n_traces = 1;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 1000000, NULL, NULL), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);

    cp_store_reader_t *r = NULL;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    cp_store_query_t q = {"shop", "cpu", NULL, 0, INT64_MAX / 2};
    tentries_t t = {0};
    ck_assert_int_eq(cp_store_trace_entries(r, &q, on_tentry, &t, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(t.n, 1);
    ck_assert_uint_eq(t.hi, 0xab);
    ck_assert_uint_eq(t.lo, 0xcd);
    ck_assert_uint_eq(t.span, 7);
    ck_assert_uint_eq(t.value, 1500);
    ck_assert_int_eq(t.start, (int64_t)b.start_ms);
    ck_assert_str_eq(t.path, "A.a;A.b");
    cp_store_query_t none[] = {{"shop", "alloc", NULL, 0, INT64_MAX / 2}, {"nope", "cpu", NULL, 0, INT64_MAX / 2},
                               {"shop", "cpu", NULL, 0, (int64_t)b.start_ms}};
    for (int i = 0; i < 3; i++) {   /* another type, an unknown app, a range before the window */
        t = (tentries_t){0};
        ck_assert_int_eq(cp_store_trace_entries(r, &none[i], on_tentry, &t, ERR, sizeof ERR), 0);
        ck_assert_uint_eq(t.n, 0);
    }

    cp_buf_t out;
    cp_buf_init(&out);
    ck_assert_int_eq(cp_otlp_query(r, &q, "shop", &out, ERR, sizeof ERR), 0);
    static const uint8_t tid[16] = {0, 0, 0, 0, 0, 0, 0, 0xab, 0, 0, 0, 0, 0, 0, 0, 0xcd};
    ck_assert_ptr_nonnull(memmem(out.data, out.len, tid, sizeof tid));
    ck_assert_ptr_nonnull(memmem(out.data, out.len, "GET /a", 6));
    ck_assert_ptr_nonnull(memmem(out.data, out.len, "endpoint", 8));
    cp_buf_fini(&out);
    cp_buf_init(&out);
    cp_store_query_t bad = {"nope", "cpu", NULL, 0, INT64_MAX / 2};
    ck_assert_int_eq(cp_otlp_query(r, &bad, "nope", &out, ERR, sizeof ERR), CP_ENOTFOUND);
    cp_buf_fini(&out);
    cp_store_reader_close(r);
    cp_store_conn_close(s, c, 2000000);
    cp_store_close(s);
}
END_TEST

START_TEST(test_store_ctx_refused_label_set_keeps_values_unlabelled)
{
    cp_store_config_t cfg;
    cp_store_config_default(&cfg);
    cfg.max_lsets = 1;                                     /* the instance's own set only */
    cp_store_t *s = NULL;
    ck_assert_int_eq(cp_store_open(store_fixture_where, &cfg, &s), 0);
    cp_store_conn_t *c = store_fixture_open_conn(s, "shop", "i-1");
    ck_assert_ptr_nonnull(c);
    cp_batch_t b = store_fixture_batch(1, CPU);
    b.strs = STRS; b.n_strs = 5;
    b.frames = FRAMES; b.n_frames = 2;
    b.stacks = STACKS; b.n_stacks = 2;
    cp_wire_value_t v[] = {{0, 0, 1000}, {1, 0, 3000}};
    b.values = v; b.n_values = 2;
    b.lsets = LSETS; b.n_lsets = 1;
    cp_wire_lvalue_t lv[] = {{1, 0, 0, 2000}};
    b.lvalues = lv; b.n_lvalues = 1;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 1000000, NULL, NULL), 0);   /* stored, not refused */
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_profile_t p;
    ck_assert_int_eq(store_fixture_profile("shop", "cpu", NULL, &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 4000);
    cp_profile_free(&p);
    ck_assert_int_eq(store_fixture_profile("shop", "cpu", "endpoint=GET /a", &p, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(p.total, 0);
    cp_profile_free(&p);
    cp_store_conn_close(s, c, 2000000);
    cp_store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_ctx");
    TCase *tc = tcase_create("ctx");
    tcase_add_test(tc, test_store_ctx_split_takes_labelled_parts_out_of_totals);
    tcase_add_test(tc, test_store_trace_rows_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_add_test(tc, test_store_ctx_labels_and_trace_through_sqlite);
    tcase_add_test(tc, test_store_trace_entries_and_otlp_query);
    tcase_add_test(tc, test_store_ctx_refused_label_set_keeps_values_unlabelled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
