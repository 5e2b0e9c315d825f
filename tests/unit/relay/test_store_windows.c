/* test_store_windows.c - cp_store_profile_windows through store.h: the
 * merged profile equals cp_store_profile's, every row comes once in time
 * order with its stacks as merged indices, label filters, raw vs aggregate
 * rows, stopping, errors; and cp_store_series, the raw series points. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store.h"
#include "store_fixture.h"

/* stack 0 = Main.main, 1 = Main.main;A.hot, 2 = Main.main;A.cold */
static void send(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, bool dict, uint64_t vmain,
                 uint64_t vhot, uint64_t vcold)
{
    static const cp_str_t strs[] = {{"", 0}, {"p.Main", 6}, {"main", 4}, {"p.A", 3}, {"hot", 3}, {"cold", 4}};
    static const cp_frame_t fr[] = {{1, 2, 0, 0, 2}, {3, 4, 0, 0, 2}, {3, 5, 0, 0, 2}};
    static const uint32_t s0[] = {0}, s1[] = {0, 1}, s2[] = {0, 2};
    static const cp_wire_stack_t stk[] = {{s0, 1}, {s1, 2}, {s2, 2}};
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_wire_value_t vals[3];
    uint32_t n = 0;
    if (vmain)
        vals[n++] = (cp_wire_value_t){0, 0, vmain};
    if (vhot)
        vals[n++] = (cp_wire_value_t){1, 0, vhot};
    if (vcold)
        vals[n++] = (cp_wire_value_t){2, 0, vcold};
    cp_batch_t b = store_fixture_batch(seq, types);
    if (dict) {
        b.strs = strs;
        b.n_strs = 6;
        b.frames = fr;
        b.n_frames = 3;
        b.stacks = stk;
        b.n_stacks = 3;
    }
    b.values = vals;
    b.n_values = n;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c, &b, 5000, NULL, NULL), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
}

static cp_store_conn_t *open_conn(cp_store_t *s, const char *inst, const cp_kv_t *l)
{
    cp_store_conn_t *c;
    uint64_t last;
    cp_hello_t h = store_fixture_hello("app1", inst, l, 1);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &c, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return c;
}

/* Two instances: i1 (env=prod) windows 1..3, i2 (env=dev) windows 2..3. */
static cp_store_t *fill(void)
{
    cp_store_t *s;
    static const cp_kv_t l1[] = {{"env", "prod"}}, l2[] = {{"env", "dev"}};
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *c1 = open_conn(s, "i1", l1), *c2 = open_conn(s, "i2", l2);
    send(s, c1, 1, true, 10, 100, 0);
    send(s, c1, 2, false, 20, 200, 5);
    send(s, c1, 3, false, 30, 300, 0);
    send(s, c2, 2, true, 0, 1000, 0);
    send(s, c2, 3, false, 7, 0, 3);
    ck_assert_int_eq(cp_store_begin(s), 0);
    cp_store_conn_close(s, c1, 6);
    cp_store_conn_close(s, c2, 6);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return s;
}

#define MAXW 16
typedef struct seen {
    const cp_profile_t *p;
    int n, stop_at;
    struct { int64_t start, end, inst; int tier; char name[32], labels[32]; uint64_t total, hot, main_, cold; } w[MAXW];
} seen_t;

static const char *leaf(const cp_profile_t *p, uint32_t s)
{
    return p->names[p->funcs[p->stack_off[s + 1] - 1]];
}

static int collect(void *ud, const cp_store_window_t *w)
{
    seen_t *c = ud;
    ck_assert_int_lt(c->n, MAXW);
    typeof(c->w[0]) *x = &c->w[c->n++];
    x->start = w->start_ms;
    x->end = w->end_ms;
    x->inst = w->instance;
    x->tier = w->tier;
    snprintf(x->name, sizeof x->name, "%s", w->instance_name ? w->instance_name : "-");
    snprintf(x->labels, sizeof x->labels, "%s", w->labels);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        ck_assert_uint_lt(w->stacks[i], c->p->n_stacks);
        if (i)
            ck_assert_uint_gt(w->stacks[i], w->stacks[i - 1]);
        ck_assert_uint_gt(w->values[i], 0);
        const char *l = leaf(c->p, w->stacks[i]);
        if (!strcmp(l, "p.A.hot"))
            x->hot += w->values[i];
        else if (!strcmp(l, "p.A.cold"))
            x->cold += w->values[i];
        else
            x->main_ += w->values[i];
        sum += w->values[i];
    }
    ck_assert_uint_eq(sum, w->total);
    x->total = w->total;
    return c->n == c->stop_at ? 42 : 0;
}

static int query(const char *labels, unsigned flags, cp_profile_t *p, seen_t *c, int64_t from, int64_t to)
{
    cp_store_reader_t *r;
    char err[128] = "";
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    cp_store_query_t q = {"app1", "cpu", labels, from, to};
    memset(c, 0, sizeof *c);
    c->p = p;
    c->stop_at = -1;
    int rc = cp_store_profile_windows(r, &q, flags, p, collect, c, err, sizeof err);
    cp_store_reader_close(r);
    return rc;
}

START_TEST(test_store_windows_merged_profile_equals_profile)
{
    cp_store_close(fill());
    cp_profile_t a, b;
    seen_t c;
    char err[128];
    ck_assert_int_eq(store_fixture_profile("app1", "cpu", NULL, &a, err, sizeof err), 0);
    ck_assert_int_eq(query(NULL, CP_STORE_WINDOWS_RAW, &b, &c, 0, 1LL << 50), 0);
    ck_assert_uint_eq(a.n_stacks, b.n_stacks);
    ck_assert_uint_eq(a.total, b.total);
    ck_assert_uint_eq(a.total, 10 + 100 + 20 + 200 + 5 + 30 + 300 + 1000 + 7 + 3);
    for (uint32_t i = 0; i < a.n_stacks; i++) {
        ck_assert_uint_eq(a.values[i], b.values[i]);
        ck_assert_str_eq(leaf(&a, i), leaf(&b, i));
    }
    ck_assert_str_eq(b.unit, "ns");
    cp_profile_free(&a);
    cp_profile_free(&b);
}
END_TEST

START_TEST(test_store_windows_each_window_once_in_time_order)
{
    cp_store_close(fill());
    cp_profile_t p;
    seen_t c;
    ck_assert_int_eq(query(NULL, CP_STORE_WINDOWS_RAW, &p, &c, 0, 1LL << 50), 0);
    ck_assert_int_eq(c.n, 5);
    uint64_t sum = 0;
    for (int i = 0; i < c.n; i++) {
        if (i)
            ck_assert_int_ge(c.w[i].start, c.w[i - 1].start);
        ck_assert_int_eq(c.w[i].tier, CP_STORE_TIER_FULL);
        ck_assert_int_ge(c.w[i].inst, 0);
        ck_assert_int_eq(c.w[i].end - c.w[i].start, 10000);
        sum += c.w[i].total;
    }
    ck_assert_uint_eq(sum, p.total);
    /* window 1: i1 only; window 2: i1 then i2 (instance order) */
    ck_assert_str_eq(c.w[0].name, "i1");
    ck_assert_str_eq(c.w[0].labels, "env=prod");
    ck_assert_uint_eq(c.w[0].hot, 100);
    ck_assert_uint_eq(c.w[0].main_, 10);
    ck_assert_int_eq(c.w[1].start, c.w[2].start);
    ck_assert_str_eq(c.w[1].name, "i1");
    ck_assert_uint_eq(c.w[1].cold, 5);
    ck_assert_str_eq(c.w[2].name, "i2");
    ck_assert_str_eq(c.w[2].labels, "env=dev");
    ck_assert_uint_eq(c.w[2].hot, 1000);
    ck_assert_uint_eq(c.w[2].total, 1000);
    ck_assert_str_eq(c.w[4].name, "i2");
    ck_assert_uint_eq(c.w[4].cold, 3);
    ck_assert_uint_eq(c.w[4].main_, 7);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_store_windows_label_filter_and_range)
{
    cp_store_close(fill());
    cp_profile_t p;
    seen_t c;
    ck_assert_int_eq(query("env=dev", CP_STORE_WINDOWS_RAW, &p, &c, 0, 1LL << 50), 0);
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.w[0].name, "i2");
    ck_assert_str_eq(c.w[1].name, "i2");
    ck_assert_uint_eq(p.total, 1010);
    cp_profile_free(&p);
    /* [window 2, window 3): both instances' window 2 */
    ck_assert_int_eq(query(NULL, CP_STORE_WINDOWS_RAW, &p, &c, 1020000, 1030000), 0);
    ck_assert_int_eq(c.n, 2);
    ck_assert_uint_eq(p.total, 20 + 200 + 5 + 1000);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_store_windows_aggregates_unless_raw_asked)
{
    cp_store_t *s = fill();
    /* windows are at 1,010..1,040 s; aggregate their minutes and hours */
    int64_t now = 1000000 + 3 * 3600000;
    int rc;
    while ((rc = cp_store_maintain(s, now)) == 1)
        ;
    ck_assert_int_eq(rc, 0);
    cp_store_close(s);
    cp_profile_t p;
    seen_t c;
    /* a range of whole minutes: minute rows, one per label set */
    ck_assert_int_eq(query(NULL, 0, &p, &c, 960000, 1080000), 0);
    ck_assert_uint_eq(p.total, 1675);
    ck_assert_int_gt(c.n, 0);
    for (int i = 0; i < c.n; i++) {
        ck_assert_int_eq(c.w[i].tier, CP_STORE_TIER_MINUTE);
        ck_assert_int_eq(c.w[i].inst, -1);
        ck_assert_str_eq(c.w[i].name, "-");
        ck_assert_int_eq(c.w[i].end - c.w[i].start, 60000);
    }
    cp_profile_free(&p);
    ck_assert_int_eq(query(NULL, CP_STORE_WINDOWS_RAW, &p, &c, 960000, 1080000), 0);
    ck_assert_uint_eq(p.total, 1675);
    ck_assert_int_eq(c.n, 5);
    for (int i = 0; i < c.n; i++)
        ck_assert_int_eq(c.w[i].tier, CP_STORE_TIER_FULL);
    cp_profile_free(&p);
}
END_TEST

START_TEST(test_store_windows_callback_stop_returns_its_value)
{
    cp_store_close(fill());
    cp_store_reader_t *r;
    char err[128] = "";
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    cp_store_query_t q = {"app1", "cpu", NULL, 0, 1LL << 50};
    cp_profile_t p;
    seen_t c = {0};
    c.p = &p;
    c.stop_at = 2;
    ck_assert_int_eq(cp_store_profile_windows(r, &q, CP_STORE_WINDOWS_RAW, &p, collect, &c, err, sizeof err), 42);
    ck_assert_int_eq(c.n, 2);
    ck_assert_uint_eq(p.total, 1675);   /* the profile is complete */
    cp_profile_free(&p);
    /* unknown app / type: CP_ENOTFOUND, empty profile; the reader still works */
    q.app = "nope";
    ck_assert_int_eq(cp_store_profile_windows(r, &q, 0, &p, collect, &c, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "unknown app"));
    ck_assert_uint_eq(p.n_stacks, 0);
    cp_profile_free(&p);
    q.app = "app1";
    q.type = "wall";
    err[0] = 0;
    ck_assert_int_eq(cp_store_profile_windows(r, &q, 0, &p, collect, &c, err, sizeof err), CP_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "unknown type"));
    cp_profile_free(&p);
    q.type = "cpu";
    ck_assert_int_eq(cp_store_profile_windows(r, &q, 0, &p, NULL, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(p.total, 1675);
    cp_profile_free(&p);
    cp_store_reader_close(r);
}
END_TEST

START_TEST(test_store_windows_deadline_times_out)
{
    cp_store_close(fill());
    cp_store_reader_t *r;
    char err[128] = "";
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    bool cancel = true;
    cp_store_reader_set_limit(r, 0, &cancel);
    cp_store_query_t q = {"app1", "cpu", NULL, 0, 1LL << 50};
    cp_profile_t p;
    seen_t c = {0};
    c.p = &p;
    ck_assert_int_eq(cp_store_profile_windows(r, &q, CP_STORE_WINDOWS_RAW, &p, collect, &c, err, sizeof err),
                     CP_ETIMEOUT);
    ck_assert_int_eq(c.n, 0);
    ck_assert_uint_eq(p.n_stacks, 0);
    cp_profile_free(&p);
    cp_store_reader_close(r);
}
END_TEST

typedef struct pts { int n; char name[8][32], labels[8][32]; int64_t t[8]; double v[8]; } pts_t;

static int collect_point(void *ud, const cp_store_point_t *pt)
{
    pts_t *c = ud;
    ck_assert_int_lt(c->n, 8);
    snprintf(c->name[c->n], sizeof c->name[0], "%s", pt->name);
    snprintf(c->labels[c->n], sizeof c->labels[0], "%s", pt->labels);
    c->t[c->n] = pt->t_ms;
    c->v[c->n++] = pt->value;
    return 0;
}

START_TEST(test_store_series_points_in_time_order_through_label_filter)
{
    cp_store_t *s = fill();
    cp_store_conn_t *c1 = store_fixture_open_conn(s, "app1", "i3");   /* no labels */
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_point_t pts[] = {{"gc.pause_ns", 1050000, 5e6}, {"threads.runnable", 1041000, 12}, {"gc.pause_ns", 1060000, 7e6}};
    cp_batch_t b = store_fixture_batch(5, types);
    b.points = pts;
    b.n_points = 3;
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_batch(s, c1, &b, 5000, NULL, NULL), 0);
    cp_store_conn_close(s, c1, 5000);
    ck_assert_int_eq(cp_store_commit(s), 0);
    cp_store_close(s);
    cp_store_reader_t *r;
    char err[128] = "";
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    cp_store_query_t q = {"app1", "ignored", NULL, 0, 1LL << 50};
    pts_t c = {0};
    ck_assert_int_eq(cp_store_series(r, &q, collect_point, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 3);
    ck_assert_str_eq(c.name[0], "threads.runnable");
    ck_assert_int_eq(c.t[0], 1041000);
    ck_assert_str_eq(c.name[1], "gc.pause_ns");
    ck_assert_double_eq(c.v[2], 7e6);
    ck_assert_str_eq(c.labels[2], "");
    /* range and label filter */
    memset(&c, 0, sizeof c);
    q.from_ms = 1045000;
    ck_assert_int_eq(cp_store_series(r, &q, collect_point, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 2);
    memset(&c, 0, sizeof c);
    q.labels = "env=prod";
    ck_assert_int_eq(cp_store_series(r, &q, collect_point, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.n, 0);
    q.app = "nope";
    ck_assert_int_eq(cp_store_series(r, &q, collect_point, &c, err, sizeof err), CP_ENOTFOUND);
    cp_store_reader_close(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_windows");
    TCase *tc = tcase_create("windows");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_add_test(tc, test_store_windows_merged_profile_equals_profile);
    tcase_add_test(tc, test_store_windows_each_window_once_in_time_order);
    tcase_add_test(tc, test_store_windows_label_filter_and_range);
    tcase_add_test(tc, test_store_windows_aggregates_unless_raw_asked);
    tcase_add_test(tc, test_store_windows_callback_stop_returns_its_value);
    tcase_add_test(tc, test_store_windows_deadline_times_out);
    tcase_add_test(tc, test_store_series_points_in_time_order_through_label_filter);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
