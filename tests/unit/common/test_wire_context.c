/* test_wire_context.c - Check tests for the request-context keys of a
 * batch (wire.h keys 15-17: label-set delta, labelled values, trace
 * entries) and their receiver-side rules (cp_wire_dict_apply).
 *
 * Through the public headers only: valid batches come from cp_wire_encode
 * (plain and compact layout), bad references are built as structs and
 * checked by the encoder/decoder pair and by the dictionary. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "wire.h"

static char ERR[256];

#define ck_assert_err(rc, code) \
    ck_assert_msg((rc) == (code), "got %s (%s), want %s", cp_errname(rc), ERR, cp_errname(code))

static const cp_sample_type_t TYPES[] = {{"cpu", "ns"}, {"wall", "ns"}};
static const cp_str_t STRS[] = {{"", 0}, {"A", 1}, {"run", 3}, {"main", 4}};
static const cp_frame_t FRAMES[] = {{1, 2, 0, 0, 0}, {1, 3, 0, 0, 0}};
static const uint32_t ST0[] = {0}, ST1[] = {0, 1};
static const cp_wire_stack_t STACKS[] = {{ST0, 1, 0, 0}, {ST1, 2, 0, 0}};
static const cp_wire_value_t VALUES[] = {{0, 0, 30000}, {1, 0, 70000}};
static const cp_kv_t L0[] = {{"endpoint", "GET /a"}};
static const cp_kv_t L1[] = {{"endpoint", "GET /b"}, {"tenant", "acme,x=y"}};
static const cp_wire_lset_t LSETS[] = {{L0, 1}, {L1, 2}};
static const cp_wire_lvalue_t LVALUES[] = {{0, 0, 0, 20000}, {1, 0, 1, 50000}, {1, 0, 0, 10000}};
static const cp_wire_trace_t TRACES[] = {
    {0x0af7651916cd43ddULL, 0x8448eb211c80319cULL, 0xb7ad6b7169203331ULL, 3, 1, 0, 40000},
};

static cp_msg_t batch(void)
{
    cp_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = CP_MSG_BATCH;
    cp_batch_t *b = &m.u.batch;
    b->seq = 1; b->start_ms = 1000; b->end_ms = 2000;
    b->types = TYPES; b->n_types = 2;
    b->strs = STRS; b->n_strs = 4;
    b->frames = FRAMES; b->n_frames = 2;
    b->stacks = STACKS; b->n_stacks = 2;
    b->values = VALUES; b->n_values = 2;
    b->lsets = LSETS; b->n_lsets = 2;
    b->lvalues = LVALUES; b->n_lvalues = 3;
    b->traces = TRACES; b->n_traces = 1;
    return m;
}

static cp_msg_t *roundtrip(const cp_msg_t *m, uint32_t enc)
{
    cp_buf_t out = CP_BUF_INIT;
    cp_wire_encopt_t o = {6, enc};
    ck_assert_int_eq(cp_wire_encode_ex(m, &o, &out), 0);
    cp_msg_t *d = NULL;
    int rc = cp_wire_decode(out.data, out.len, NULL, &d, ERR, sizeof ERR);
    ck_assert_msg(rc == 0, "decode: %s: %s", cp_errname(rc), ERR);
    cp_buf_fini(&out);
    return d;
}

static void check_context_keys(const cp_batch_t *b)
{
    ck_assert_uint_eq(b->lset_first, 0);
    ck_assert_uint_eq(b->n_lsets, 2);
    ck_assert_uint_eq(b->lsets[1].n, 2);
    ck_assert_str_eq(b->lsets[1].kv[1].key, "tenant");
    ck_assert_str_eq(b->lsets[1].kv[1].value, "acme,x=y");
    ck_assert_uint_eq(b->n_lvalues, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(b->lvalues[i].stack, LVALUES[i].stack);
        ck_assert_uint_eq(b->lvalues[i].lset, LVALUES[i].lset);
        ck_assert_uint_eq(b->lvalues[i].value, LVALUES[i].value);
    }
    ck_assert_uint_eq(b->n_traces, 1);
    ck_assert(b->traces[0].trace_hi == TRACES[0].trace_hi && b->traces[0].trace_lo == TRACES[0].trace_lo);
    ck_assert(b->traces[0].span == TRACES[0].span);
    ck_assert_uint_eq(b->traces[0].thread, 3);
    ck_assert_uint_eq(b->traces[0].value, 40000);
}

START_TEST(test_wire_context_roundtrip_keeps_keys_15_to_17)
{
    cp_msg_t m = batch();
    uint32_t encs[] = {0, CP_WIRE_ENC_COMPACT1, CP_WIRE_ENC_ALL};
    for (int i = 0; i < 3; i++) {
        cp_msg_t *d = roundtrip(&m, encs[i]);
        check_context_keys(&d->u.batch);
        ck_assert_uint_eq(d->u.batch.n_values, 2);   /* totals untouched */
        cp_msg_free(d);
    }
}
END_TEST

START_TEST(test_wire_context_dict_apply_resolves_label_sets)
{
    cp_msg_t m = batch();
    cp_msg_t *d = roundtrip(&m, 0);
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    ck_assert_int_eq(cp_wire_dict_apply(wd, &d->u.batch, ERR, sizeof ERR), 0);
    cp_kv_t kv[4];
    ck_assert_uint_eq(cp_wire_dict_lsets(wd), 2);
    ck_assert_uint_eq(cp_wire_dict_lset(wd, 1, kv, 4), 2);
    ck_assert_str_eq(kv[0].value, "GET /b");
    ck_assert_uint_eq(cp_wire_dict_lset(wd, 2, kv, 4), 0);
    /* the next batch must continue at label set 2, and may use 0..1 */
    cp_batch_t b2 = d->u.batch;
    b2.seq = 2; b2.n_strs = b2.n_frames = b2.n_stacks = 0;
    b2.lset_first = 1;
    ck_assert_err(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), CP_EGAP);
    b2.n_lsets = 0;
    ck_assert_int_eq(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), 0);
    /* a reset forgets them */
    b2.flags = CP_BATCH_DICT_RESET;
    b2.n_lvalues = 0; b2.n_traces = 0; b2.n_values = 0;
    ck_assert_int_eq(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), 0);
    ck_assert_uint_eq(cp_wire_dict_lsets(wd), 0);
    cp_wire_dict_destroy(wd);
    cp_msg_free(d);
}
END_TEST

START_TEST(test_wire_context_dangling_label_set_is_refused)
{
    cp_msg_t m = batch();
    cp_wire_lvalue_t bad[] = {{0, 0, 2, 5}};    /* label set 2: not defined */
    m.u.batch.lvalues = bad;
    m.u.batch.n_lvalues = 1;
    cp_buf_t out = CP_BUF_INIT;
    ck_assert_int_eq(cp_wire_encode(&m, 0, &out), 0);   /* the encoder does not check refs */
    cp_msg_t *d = NULL;
    ck_assert_err(cp_wire_decode(out.data, out.len, NULL, &d, ERR, sizeof ERR), CP_EDANGLING);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(ERR, "key 16"));
    cp_buf_reset(&out);
    /* across batches: the dictionary knows 2 sets */
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    cp_msg_t ok = batch();
    ck_assert_int_eq(cp_wire_dict_apply(wd, &ok.u.batch, ERR, sizeof ERR), 0);
    cp_batch_t b2 = ok.u.batch;
    b2.seq = 2; b2.n_strs = b2.n_frames = b2.n_stacks = b2.n_lsets = 0;
    b2.lvalues = bad;
    b2.n_lvalues = 1;
    ck_assert_err(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), CP_EDANGLING);
    cp_wire_trace_t badt[] = {{1, 2, 3, 99, 0, 0, 5}};   /* thread string 99 */
    b2.n_lvalues = 0;
    b2.traces = badt;
    b2.n_traces = 1;
    ck_assert_err(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), CP_EDANGLING);
    cp_wire_dict_destroy(wd);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_wire_context_bad_shapes_are_refused)
{
    cp_msg_t m = batch();
    cp_kv_t many[CP_WIRE_LSET_MAX_PAIRS + 1];
    for (int i = 0; i <= CP_WIRE_LSET_MAX_PAIRS; i++)
        many[i] = (cp_kv_t){"k", "v"};
    cp_wire_lset_t big[] = {{many, CP_WIRE_LSET_MAX_PAIRS + 1}};
    m.u.batch.lsets = big;
    m.u.batch.n_lsets = 1;
    m.u.batch.n_lvalues = 0;
    cp_buf_t out = CP_BUF_INIT;
    ck_assert_int_eq(cp_wire_encode(&m, 0, &out), CP_EINVAL);
    cp_buf_reset(&out);
    /* an empty key */
    cp_kv_t empty[] = {{"", "v"}};
    cp_wire_lset_t e1[] = {{empty, 1}};
    m.u.batch.lsets = e1;
    ck_assert_int_eq(cp_wire_encode(&m, 0, &out), 0);
    cp_msg_t *d = NULL;
    ck_assert_err(cp_wire_decode(out.data, out.len, NULL, &d, ERR, sizeof ERR), CP_EMISSING);
    cp_buf_reset(&out);
    /* a trace type past key 5 */
    m = batch();
    cp_wire_trace_t t[] = {{1, 2, 3, 0, 0, 7, 5}};
    m.u.batch.traces = t;
    ck_assert_int_eq(cp_wire_encode(&m, 0, &out), 0);
    ck_assert_err(cp_wire_decode(out.data, out.len, NULL, &d, ERR, sizeof ERR), CP_EDANGLING);
    ck_assert_ptr_nonnull(strstr(ERR, "key 17"));
    cp_buf_fini(&out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("wire_context");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_wire_context_roundtrip_keeps_keys_15_to_17);
    tcase_add_test(tc, test_wire_context_dict_apply_resolves_label_sets);
    tcase_add_test(tc, test_wire_context_dangling_label_set_is_refused);
    tcase_add_test(tc, test_wire_context_bad_shapes_are_refused);
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
