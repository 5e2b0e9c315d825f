/* test_wire.c - Check tests for common/wire (wire format v1).
 *
 * Through the public headers only. Valid messages come from cp_wire_encode;
 * malformed ones are built by hand with msgpack-c's packer plus a hand-made
 * envelope (raw_msg), so the decoder is tested against bytes it did not
 * produce itself. */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <zlib.h>

#include "error.h"
#include "stack_dict.h"
#include "wire.h"
#include "wire_strtab.h"
#include "wire_zdict.h"

/* Check's ck_assert_* records a mark point (a write) on every pass; in hot
 * loops use REQ, which only calls into Check when it fails. */
#define REQ(expr) do { if (!(expr)) ck_abort_msg("failed: %s", #expr); } while (0)

static char ERR[256];

/* ---- helpers ------------------------------------------------------------- */

static cp_buf_t enc(const cp_msg_t *m, int level)
{
    cp_buf_t b = CP_BUF_INIT;
    int rc = cp_wire_encode(m, level, &b);
    ck_assert_msg(rc == 0, "encode: %s", cp_errname(rc));
    return b;
}

static cp_msg_t *dec_ok(const cp_buf_t *b)
{
    cp_msg_t *m = NULL;
    int rc = cp_wire_decode(b->data, b->len, NULL, &m, ERR, sizeof ERR);
    ck_assert_msg(rc == 0, "decode: %s: %s", cp_errname(rc), ERR);
    ck_assert_ptr_nonnull(m);
    return m;
}

static int dec_rc(const uint8_t *p, size_t n, const cp_wire_limits_t *lim)
{
    cp_msg_t *m = (cp_msg_t *)1;
    ERR[0] = '\0';
    int rc = cp_wire_decode(p, n, lim, &m, ERR, sizeof ERR);
    if (rc == 0)
        cp_msg_free(m);
    else
        ck_assert_ptr_null(m);
    return rc;
}

#define ck_assert_err(rc, code) \
    ck_assert_msg((rc) == (code), "got %s (%s), want %s", cp_errname(rc), ERR, cp_errname(code))

/* A packer over an sbuffer, for hand-made payloads. */
typedef struct raw {
    msgpack_sbuffer sb;
    msgpack_packer  pk;
} raw_t;

static void raw_init(raw_t *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static void raw_str(raw_t *r, const char *s)
{
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

/* Envelope + payload as given; declared = payload length in the header. */
static cp_buf_t raw_msg(int kind, int flags, const void *payload, size_t n, uint32_t declared)
{
    cp_buf_t b = CP_BUF_INIT;
    uint8_t h[12] = {'C', 'P', 1, (uint8_t)kind, (uint8_t)flags, 0, 0, 0,
                     (uint8_t)(declared >> 24), (uint8_t)(declared >> 16), (uint8_t)(declared >> 8),
                     (uint8_t)declared};
    cp_buf_append(&b, h, 12);
    cp_buf_append(&b, payload, n);
    return b;
}

static cp_buf_t raw_done(raw_t *r, int kind)
{
    cp_buf_t b = raw_msg(kind, 0, r->sb.data, r->sb.size, (uint32_t)r->sb.size);
    msgpack_sbuffer_destroy(&r->sb);
    return b;
}

/* A minimal valid batch payload prefix: map of n+3 keys with seq/start/end. */
static void raw_batch_head(raw_t *r, uint32_t extra_keys)
{
    msgpack_pack_map(&r->pk, 3 + extra_keys);
    msgpack_pack_uint8(&r->pk, 1); msgpack_pack_uint64(&r->pk, 7);
    msgpack_pack_uint8(&r->pk, 2); msgpack_pack_uint64(&r->pk, 1000);
    msgpack_pack_uint8(&r->pk, 3); msgpack_pack_uint64(&r->pk, 2000);
}

static cp_msg_t hello_msg(void)
{
    static const cp_kv_t labels[] = {{"env", "prod"}, {"zone", "eu-1"}};
    static const char *const caps[] = {"cpu", "wall", "alloc"};
    cp_msg_t m = { .kind = CP_MSG_HELLO };
    m.u.hello = (cp_hello_t){
        .proto = CP_WIRE_VERSION, .app = "shop", .instance = "i-123", .host = "h1",
        .pid = 4242, .start_ms = 1700000000123ull, .jvm_vendor = "Eclipse Adoptium",
        .jvm_version = "25", .agent_version = "0.1.0", .labels = labels, .n_labels = 2,
        .caps = caps, .n_caps = 3, .token = "s3cret", .runtime = "jvm",
    };
    return m;
}

/* A batch with explicit arrays: 3 strings, 2 frames, 2 stacks, values over 2 types. */
static const cp_str_t B_STRS[] = {{"com.Foo", 7}, {"bar", 3}, {"", 0}};
static const cp_frame_t B_FRAMES[] = {
    {.class_id = 0, .method_id = 1, .sig_id = 2, .line = 12, .kind = CP_FRAME_COMPILED},
    {.class_id = 2, .method_id = 1, .sig_id = 2, .line = -1, .kind = CP_FRAME_THREAD},
};
static const uint32_t B_ST0[] = {1, 0}, B_ST1[] = {1};
static const cp_wire_stack_t B_STACKS[] = {{B_ST0, 2}, {B_ST1, 1}};
static const cp_sample_type_t B_TYPES[] = {{"cpu", "ns"}, {"alloc_bytes", "bytes"}};
static const cp_wire_value_t B_VALUES[] = {{0, 0, 10000000}, {1, 0, 5}, {0, 1, 1ull << 40}};
static const cp_counter_t B_COUNTERS[] = {{"samples.cpu", 3}, {"fail.unknown_Java", 1}};
static const cp_point_t B_POINTS[] = {{"gc.pause_ns", 1500, 2.5e6}, {"threads.runnable", 1600, 12}};

static cp_msg_t batch_msg(void)
{
    cp_msg_t m = { .kind = CP_MSG_BATCH };
    m.u.batch = (cp_batch_t){
        .seq = 7, .start_ms = 1000, .end_ms = 2000, .flags = 0,
        .types = B_TYPES, .n_types = 2,
        .str_first = 0, .strs = B_STRS, .n_strs = 3,
        .frame_first = 0, .frames = B_FRAMES, .n_frames = 2,
        .stack_first = 0, .stacks = B_STACKS, .n_stacks = 2,
        .values = B_VALUES, .n_values = 3,
        .counters = B_COUNTERS, .n_counters = 2,
        .points = B_POINTS, .n_points = 2,
    };
    return m;
}

/* ---- round trips --------------------------------------------------------- */

START_TEST(test_wire_hello_round_trips)
{
    for (int level = 0; level <= 9; level += 9) {
        cp_msg_t in = hello_msg();
        cp_buf_t b = enc(&in, level);
        ck_assert_uint_eq(b.data[4], level ? CP_WIRE_FLAG_ZLIB : 0);
        cp_msg_t *m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_HELLO);
        const cp_hello_t *h = &m->u.hello;
        ck_assert_uint_eq(h->proto, 1);
        ck_assert_str_eq(h->app, "shop");
        ck_assert_str_eq(h->instance, "i-123");
        ck_assert_str_eq(h->host, "h1");
        ck_assert_uint_eq(h->pid, 4242);
        ck_assert_uint_eq(h->start_ms, 1700000000123ull);
        ck_assert_str_eq(h->jvm_vendor, "Eclipse Adoptium");
        ck_assert_str_eq(h->jvm_version, "25");
        ck_assert_str_eq(h->agent_version, "0.1.0");
        ck_assert_uint_eq(h->n_labels, 2);
        ck_assert_str_eq(h->labels[1].key, "zone");
        ck_assert_str_eq(h->labels[1].value, "eu-1");
        ck_assert_uint_eq(h->n_caps, 3);
        ck_assert_str_eq(h->caps[2], "alloc");
        ck_assert_str_eq(h->token, "s3cret");
        ck_assert_str_eq(h->runtime, "jvm");
        cp_msg_free(m);
        cp_buf_fini(&b);
    }
}
END_TEST

START_TEST(test_wire_hello_absent_strings_decode_as_empty)
{
    cp_msg_t in = { .kind = CP_MSG_HELLO };
    in.u.hello.app = "a";
    in.u.hello.instance = "";
    cp_buf_t b = enc(&in, 0);       /* proto 0 is sent as CP_WIRE_VERSION */
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.hello.proto, CP_WIRE_VERSION);
    ck_assert_str_eq(m->u.hello.host, "");
    ck_assert_str_eq(m->u.hello.token, "");
    ck_assert_str_eq(m->u.hello.runtime, "");
    ck_assert_uint_eq(m->u.hello.n_labels, 0);
    ck_assert_uint_eq(m->u.hello.n_caps, 0);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_small_kinds_round_trip)
{
    cp_msg_t w = { .kind = CP_MSG_WELCOME };
    w.u.welcome = (cp_welcome_t){ .proto = 1, .relay_version = "0.1.0", .session = "s-9",
                                  .last_seq = 1ull << 33, .max_message = 16u << 20 };
    cp_msg_t a = { .kind = CP_MSG_ACK };
    a.u.ack.seq = 99;
    cp_msg_t h = { .kind = CP_MSG_HEARTBEAT };
    h.u.heartbeat.t_ms = 1700000000000ull;
    static const cp_kv_t opts[] = {{"cpu", "1ms"}, {"wall", "off"}};
    cp_msg_t c = { .kind = CP_MSG_CONTROL };
    c.u.control = (cp_control_t){ .command = "configure", .options = opts, .n_options = 2 };
    cp_msg_t e = { .kind = CP_MSG_ERROR };
    e.u.error = (cp_error_msg_t){ .code = CP_EDANGLING, .message = "batch key 9: value 3", .fatal = true };

    for (int level = 0; level <= 1; level++) {
        cp_buf_t b;
        cp_msg_t *m;

        b = enc(&w, level); m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_WELCOME);
        ck_assert_str_eq(m->u.welcome.relay_version, "0.1.0");
        ck_assert_str_eq(m->u.welcome.session, "s-9");
        ck_assert_uint_eq(m->u.welcome.last_seq, 1ull << 33);
        ck_assert_uint_eq(m->u.welcome.max_message, 16u << 20);
        cp_msg_free(m); cp_buf_fini(&b);

        b = enc(&a, level); m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_ACK);
        ck_assert_uint_eq(m->u.ack.seq, 99);
        cp_msg_free(m); cp_buf_fini(&b);

        b = enc(&h, level); m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_HEARTBEAT);
        ck_assert_uint_eq(m->u.heartbeat.t_ms, 1700000000000ull);
        cp_msg_free(m); cp_buf_fini(&b);

        b = enc(&c, level); m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_CONTROL);
        ck_assert_str_eq(m->u.control.command, "configure");
        ck_assert_uint_eq(m->u.control.n_options, 2);
        ck_assert_str_eq(m->u.control.options[0].key, "cpu");
        ck_assert_str_eq(m->u.control.options[0].value, "1ms");
        cp_msg_free(m); cp_buf_fini(&b);

        b = enc(&e, level); m = dec_ok(&b);
        ck_assert_int_eq(m->kind, CP_MSG_ERROR);
        ck_assert_int_eq(m->u.error.code, CP_EDANGLING);
        ck_assert_str_eq(m->u.error.message, "batch key 9: value 3");
        ck_assert(m->u.error.fatal);
        ck_assert_uint_eq(m->u.error.retry_after_ms, 0);
        cp_msg_free(m); cp_buf_fini(&b);

        cp_msg_t r = { .kind = CP_MSG_ERROR };
        r.u.error = (cp_error_msg_t){ .code = CP_ERATE, .message = "rate", .fatal = true,
                                      .retry_after_ms = 2500 };
        b = enc(&r, level); m = dec_ok(&b);
        ck_assert_int_eq(m->u.error.code, CP_ERATE);
        ck_assert_uint_eq(m->u.error.retry_after_ms, 2500);
        ck_assert_str_eq(cp_errname(CP_ERATE), "CP_ERATE");
        cp_msg_free(m); cp_buf_fini(&b);
    }
}
END_TEST

START_TEST(test_wire_control_keys_and_ack_round_trip)
{
    static const cp_kv_t opts[] = {{"alloc", "256k"}};
    static const cp_kv_t why[] = {{"relay", "the relay may not change this option"}};
    static const cp_kv_t eff[] = {{"alloc", "256k"}, {"cpu", "10ms"}};
    static const char *const feats[] = {CP_WIRE_FEATURE_CONTROL_ACK, "later-feature"};
    cp_msg_t c = { .kind = CP_MSG_CONTROL };
    c.u.control = (cp_control_t){ .command = "configure", .options = opts, .n_options = 1,
                                  .id = "c-7", .for_ms = 15000, .scope = "" };
    cp_msg_t w = { .kind = CP_MSG_WELCOME };
    w.u.welcome = (cp_welcome_t){ .proto = 1, .defaults = opts, .n_defaults = 1,
                                  .features = feats, .n_features = 2 };
    cp_msg_t a = { .kind = CP_MSG_CONTROL_ACK };
    a.u.control_ack = (cp_control_ack_t){ .id = "c-7", .event = "applied", .applied = opts, .n_applied = 1,
                                          .refused = why, .n_refused = 1, .effective = eff, .n_effective = 2,
                                          .until_ms = 1700000015000ull, .t_ms = 1700000000000ull };
    cp_buf_t b = enc(&c, 1);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_str_eq(m->u.control.id, "c-7");
    ck_assert_uint_eq(m->u.control.for_ms, 15000);
    ck_assert_str_eq(m->u.control.scope, "");
    cp_msg_free(m); cp_buf_fini(&b);

    b = enc(&w, 0); m = dec_ok(&b);
    ck_assert_uint_eq(m->u.welcome.n_defaults, 1);
    ck_assert_str_eq(m->u.welcome.defaults[0].value, "256k");
    ck_assert_uint_eq(m->u.welcome.n_features, 2);
    ck_assert_str_eq(m->u.welcome.features[0], "control_ack");
    cp_msg_free(m); cp_buf_fini(&b);

    b = enc(&a, 0); m = dec_ok(&b);
    ck_assert_int_eq(m->kind, CP_MSG_CONTROL_ACK);
    ck_assert_str_eq(cp_wire_kind_name(m->kind), "control_ack");
    ck_assert_str_eq(m->u.control_ack.id, "c-7");
    ck_assert_str_eq(m->u.control_ack.event, "applied");
    ck_assert_uint_eq(m->u.control_ack.n_refused, 1);
    ck_assert_str_eq(m->u.control_ack.refused[0].key, "relay");
    ck_assert_uint_eq(m->u.control_ack.n_effective, 2);
    ck_assert_uint_eq(m->u.control_ack.until_ms, 1700000015000ull);
    cp_msg_free(m); cp_buf_fini(&b);

    /* an older relay's control: no keys 3-5 decode as "" / 0 */
    c.u.control = (cp_control_t){ .command = "configure", .options = opts, .n_options = 1 };
    b = enc(&c, 0); m = dec_ok(&b);
    ck_assert_str_eq(m->u.control.id, "");
    ck_assert_uint_eq(m->u.control.for_ms, 0);
    cp_msg_free(m); cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_batch_round_trips)
{
    for (int level = 0; level <= 6; level += 6) {
        cp_msg_t in = batch_msg();
        cp_buf_t b = enc(&in, level);
        cp_msg_t *m = dec_ok(&b);
        const cp_batch_t *x = &m->u.batch;
        ck_assert_uint_eq(x->seq, 7);
        ck_assert_uint_eq(x->start_ms, 1000);
        ck_assert_uint_eq(x->end_ms, 2000);
        ck_assert_uint_eq(x->n_types, 2);
        ck_assert_str_eq(x->types[1].name, "alloc_bytes");
        ck_assert_str_eq(x->types[1].unit, "bytes");
        ck_assert_uint_eq(x->n_strs, 3);
        ck_assert_str_eq(x->strs[0].s, "com.Foo");
        ck_assert_uint_eq(x->strs[0].len, 7);
        ck_assert_str_eq(x->strs[2].s, "");
        ck_assert_uint_eq(x->n_frames, 2);
        ck_assert_int_eq(x->frames[0].line, 12);
        ck_assert_uint_eq(x->frames[0].kind, CP_FRAME_COMPILED);
        ck_assert_int_eq(x->frames[1].line, -1);
        ck_assert_uint_eq(x->frames[1].class_id, 2);
        ck_assert_uint_eq(x->n_stacks, 2);
        ck_assert_uint_eq(x->stacks[0].n, 2);
        ck_assert_uint_eq(x->stacks[0].frames[0], 1);
        ck_assert_uint_eq(x->stacks[0].frames[1], 0);
        ck_assert_uint_eq(x->n_values, 3);
        ck_assert_uint_eq(x->values[2].stack, 0);
        ck_assert_uint_eq(x->values[2].type, 1);
        ck_assert_uint_eq(x->values[2].value, 1ull << 40);
        ck_assert_uint_eq(x->n_counters, 2);
        ck_assert_str_eq(x->counters[1].name, "fail.unknown_Java");
        ck_assert_uint_eq(x->counters[1].value, 1);
        ck_assert_uint_eq(x->n_points, 2);
        ck_assert_str_eq(x->points[0].series, "gc.pause_ns");
        ck_assert_uint_eq(x->points[0].t_ms, 1500);
        ck_assert(x->points[0].value == 2.5e6);
        ck_assert(x->points[1].value == 12.0);
        cp_msg_free(m);
        cp_buf_fini(&b);
    }
}
END_TEST

START_TEST(test_wire_batch_agent_state_round_trips_and_is_optional)
{
    static const cp_counter_t st[] = {{"interval.cpu_ns", 160000000}, {"overhead.minute_ppm", 8700}};
    cp_msg_t in = batch_msg();
    cp_buf_t b = enc(&in, 0);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.batch.n_state, 0);   /* key 18 absent: no state */
    cp_msg_free(m);
    cp_buf_fini(&b);
    in.u.batch.state = st;
    in.u.batch.n_state = 2;
    b = enc(&in, 6);
    m = dec_ok(&b);
    ck_assert_uint_eq(m->u.batch.n_state, 2);
    ck_assert_str_eq(m->u.batch.state[0].name, "interval.cpu_ns");
    ck_assert_uint_eq(m->u.batch.state[0].value, 160000000);
    ck_assert_uint_eq(m->u.batch.state[1].value, 8700);
    ck_assert_uint_eq(m->u.batch.n_counters, 2);   /* key 10 unchanged beside it */
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_encode_appends_after_headroom)
{
    cp_buf_t b = CP_BUF_INIT;
    cp_buf_append(&b, "0123456789", 10);   /* e.g. LWS_PRE */
    cp_msg_t in = batch_msg();
    ck_assert_int_eq(cp_wire_encode(&in, 3, &b), 0);
    ck_assert_mem_eq(b.data, "0123456789", 10);
    cp_msg_kind_t k;
    uint32_t pl;
    ck_assert_int_eq(cp_wire_peek(b.data + 10, b.len - 10, &k, &pl), 0);
    ck_assert_int_eq(k, CP_MSG_BATCH);
    ck_assert_uint_gt(pl, 0);
    cp_msg_t *m = NULL;
    ck_assert_int_eq(cp_wire_decode(b.data + 10, b.len - 10, NULL, &m, NULL, 0), 0);
    ck_assert_uint_eq(m->u.batch.n_values, 3);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_encode_rejects_bad_input_and_leaves_out_alone)
{
    cp_buf_t b = CP_BUF_INIT;
    cp_buf_append(&b, "xy", 2);
    cp_msg_t h = hello_msg();
    h.u.hello.app = "";
    ck_assert_int_eq(cp_wire_encode(&h, 0, &b), CP_EINVAL);
    h.u.hello.app = NULL;
    ck_assert_int_eq(cp_wire_encode(&h, 0, &b), CP_EINVAL);
    h = hello_msg();
    h.u.hello.instance = NULL;
    ck_assert_int_eq(cp_wire_encode(&h, 0, &b), CP_EINVAL);
    h = hello_msg();
    h.u.hello.proto = 2;
    ck_assert_int_eq(cp_wire_encode(&h, 0, &b), CP_EINVAL);
    cp_msg_t bt = batch_msg();
    bt.u.batch.seq = 0;
    ck_assert_int_eq(cp_wire_encode(&bt, 0, &b), CP_ERANGE);
    bt = batch_msg();
    bt.u.batch.end_ms = 999;
    ck_assert_int_eq(cp_wire_encode(&bt, 0, &b), CP_ERANGE);
    bt = batch_msg();
    bt.u.batch.values = NULL;
    ck_assert_int_eq(cp_wire_encode(&bt, 0, &b), CP_EINVAL);
    cp_stack_dict_t *sd = cp_stack_dict_create();
    uint32_t sid;
    cp_stack_dict_intern_string(sd, "x", 1, &sid);
    bt = batch_msg();
    bt.u.batch.dict = sd;
    bt.u.batch.str_first = 2;    /* past the dictionary's 1 string */
    ck_assert_int_eq(cp_wire_encode(&bt, 0, &b), CP_EINVAL);
    bt.u.batch.str_first = 1;    /* nothing new: fine */
    bt.u.batch.n_values = 0;
    cp_buf_t ok = CP_BUF_INIT;
    ck_assert_int_eq(cp_wire_encode(&bt, 0, &ok), 0);
    cp_buf_fini(&ok);
    cp_stack_dict_destroy(sd);
    cp_msg_t bad = { .kind = 0 };
    ck_assert_int_eq(cp_wire_encode(&bad, 0, &b), CP_EINVAL);
    ck_assert_int_eq(cp_wire_encode(&h, 10, &b), CP_EINVAL);
    ck_assert_uint_eq(b.len, 2);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_kind_names)
{
    ck_assert_str_eq(cp_wire_kind_name(CP_MSG_HELLO), "hello");
    ck_assert_str_eq(cp_wire_kind_name(CP_MSG_ERROR), "error");
    ck_assert_str_eq(cp_wire_kind_name(0), "?");
    ck_assert_str_eq(cp_wire_kind_name(8), "control_ack");
    ck_assert_str_eq(cp_wire_kind_name(9), "?");
}
END_TEST

/* ---- dictionary deltas across batches ----------------------------------- */

/* Agent side: interns a synthetic stack "app.C<a>.m<b> ... depth d". */
static uint32_t intern_stack(cp_stack_dict_t *sd, uint32_t seed, uint32_t depth)
{
    uint32_t fr[16];
    for (uint32_t i = 0; i < depth; i++) {
        char cls[32], meth[32];
        snprintf(cls, sizeof cls, "app.C%u", (seed + i) % 7);
        snprintf(meth, sizeof meth, "m%u", (seed * 3 + i) % 11);
        cp_frame_t f = { .kind = CP_FRAME_COMPILED, .line = (int32_t)i };
        REQ(cp_stack_dict_intern_string(sd, cls, strlen(cls), &f.class_id) == 0);
        REQ(cp_stack_dict_intern_string(sd, meth, strlen(meth), &f.method_id) == 0);
        REQ(cp_stack_dict_intern_string(sd, "()V", 3, &f.sig_id) == 0);
        REQ(cp_stack_dict_intern_frame(sd, &f, &fr[i]) == 0);
    }
    uint32_t id;
    REQ(cp_stack_dict_intern_stack(sd, fr, depth, &id) == 0);
    return id;
}

/* Receiver side: the stack as text, resolved through the wire dictionary. */
static void resolve(const cp_wire_dict_t *wd, uint32_t stack, char *out, size_t n)
{
    uint32_t k;
    const uint32_t *fr = cp_wire_dict_stack(wd, stack, &k);
    ck_assert_ptr_nonnull(fr);
    out[0] = '\0';
    for (uint32_t i = 0; i < k; i++) {
        const cp_frame_t *f = cp_wire_dict_frame(wd, fr[i]);
        ck_assert_ptr_nonnull(f);
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s.%s:%d;", cp_wire_dict_string(wd, f->class_id, NULL),
                 cp_wire_dict_string(wd, f->method_id, NULL), f->line);
    }
}

static void resolve_agent(const cp_stack_dict_t *sd, uint32_t stack, char *out, size_t n)
{
    uint32_t k;
    const uint32_t *fr = cp_stack_dict_stack(sd, stack, &k);
    out[0] = '\0';
    for (uint32_t i = 0; i < k; i++) {
        const cp_frame_t *f = cp_stack_dict_frame(sd, fr[i]);
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s.%s:%d;", cp_stack_dict_string(sd, f->class_id, NULL),
                 cp_stack_dict_string(sd, f->method_id, NULL), f->line);
    }
}

START_TEST(test_wire_dict_deltas_across_batches_resend_nothing)
{
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_stack_dict_t *sd = cp_stack_dict_create();
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    uint32_t sent_s = 0, sent_f = 0, sent_k = 0;
    cp_wire_value_t vals[64];

    for (int round = 0; round < 3; round++) {
        /* round 0: 20 new stacks; round 1: the same 20 + 3 new; round 2: repeats only */
        uint32_t nv = 0;
        uint32_t lo = 0, hi = round == 0 ? 20 : 23;
        for (uint32_t s = lo; s < hi; s++)
            vals[nv++] = (cp_wire_value_t){ intern_stack(sd, s, 1 + s % 9), 0, 1000 + s };
        cp_msg_t m = { .kind = CP_MSG_BATCH };
        m.u.batch = (cp_batch_t){ .seq = 1 + (uint64_t)round, .start_ms = 10, .end_ms = 20,
                                  .types = types, .n_types = 1, .values = vals, .n_values = nv,
                                  .str_first = sent_s, .frame_first = sent_f, .stack_first = sent_k,
                                  .dict = sd };
        cp_buf_t b = enc(&m, round == 1 ? 6 : 0);
        cp_msg_t *d = dec_ok(&b);
        const cp_batch_t *x = &d->u.batch;
        /* The delta is exactly what the agent interned since the last batch. */
        ck_assert_uint_eq(x->n_strs, cp_stack_dict_strings(sd) - sent_s);
        ck_assert_uint_eq(x->n_frames, cp_stack_dict_frames(sd) - sent_f);
        ck_assert_uint_eq(x->n_stacks, cp_stack_dict_stacks(sd) - sent_k);
        if (round == 1)
            ck_assert_uint_eq(x->n_stacks, 3);
        if (round == 2) {
            ck_assert_uint_eq(x->n_strs + x->n_frames + x->n_stacks, 0);
        }
        if (x->n_stacks)
            ck_assert_uint_eq(x->stack_first, sent_k);
        ck_assert_int_eq(cp_wire_dict_apply(wd, x, ERR, sizeof ERR), 0);
        ck_assert_uint_eq(cp_wire_dict_strings(wd), cp_stack_dict_strings(sd));
        ck_assert_uint_eq(cp_wire_dict_frames(wd), cp_stack_dict_frames(sd));
        ck_assert_uint_eq(cp_wire_dict_stacks(wd), cp_stack_dict_stacks(sd));
        for (uint32_t i = 0; i < x->n_values; i++) {
            char a[1024], r[1024];
            resolve_agent(sd, vals[i].stack, a, sizeof a);
            resolve(wd, x->values[i].stack, r, sizeof r);
            ck_assert_str_eq(a, r);
            ck_assert_uint_eq(x->values[i].value, vals[i].value);
        }
        sent_s = cp_stack_dict_strings(sd);
        sent_f = cp_stack_dict_frames(sd);
        sent_k = cp_stack_dict_stacks(sd);
        cp_msg_free(d);
        cp_buf_fini(&b);
    }
    ck_assert_uint_eq(cp_wire_dict_stacks(wd), 23);
    ck_assert_uint_gt(cp_wire_dict_memory(wd), 0);
    cp_wire_dict_destroy(wd);
    cp_stack_dict_destroy(sd);
}
END_TEST

/* A decoded batch whose delta is copied from arrays (receiver tests). */
static int apply_raw(cp_wire_dict_t *wd, uint32_t flags, uint32_t sf, uint32_t ns, uint32_t ff,
                     const cp_frame_t *frames, uint32_t nf, uint32_t kf,
                     const cp_wire_stack_t *stacks, uint32_t nk, const cp_wire_value_t *v, uint32_t nv)
{
    static const cp_str_t strs[] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    ck_assert_uint_le(ns, 4);
    cp_batch_t b = { .seq = 1, .flags = flags, .str_first = sf, .strs = strs, .n_strs = ns,
                     .frame_first = ff, .frames = frames, .n_frames = nf,
                     .stack_first = kf, .stacks = stacks, .n_stacks = nk,
                     .values = v, .n_values = nv };
    return cp_wire_dict_apply(wd, &b, ERR, sizeof ERR);
}

START_TEST(test_wire_dict_gap_and_dangling_are_rejected_unchanged)
{
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    cp_frame_t f01 = { .class_id = 0, .method_id = 1 };
    uint32_t fr0[] = {0};
    cp_wire_stack_t st0 = { fr0, 1 };
    cp_wire_value_t v0 = { 0, 0, 1 };
    ck_assert_int_eq(apply_raw(wd, 0, 0, 2, 0, &f01, 1, 0, &st0, 1, &v0, 1), 0);

    /* gap: strings must continue at 2 */
    ck_assert_err(apply_raw(wd, 0, 3, 1, 0, NULL, 0, 0, NULL, 0, NULL, 0), CP_EGAP);
    ck_assert_ptr_nonnull(strstr(ERR, "key 6"));
    ck_assert_err(apply_raw(wd, 0, 0, 1, 0, NULL, 0, 0, NULL, 0, NULL, 0), CP_EGAP);
    ck_assert_err(apply_raw(wd, 0, 2, 0, 5, &f01, 1, 0, NULL, 0, NULL, 0), CP_EGAP);
    ck_assert_err(apply_raw(wd, 0, 2, 0, 1, NULL, 0, 0, &st0, 1, NULL, 0), CP_EGAP);
    /* dangling: frame -> string 2 (unknown), stack -> frame 1, value -> stack 1 */
    cp_frame_t f2 = { .class_id = 2 };
    ck_assert_err(apply_raw(wd, 0, 2, 0, 1, &f2, 1, 0, NULL, 0, NULL, 0), CP_EDANGLING);
    ck_assert_ptr_nonnull(strstr(ERR, "string id 2"));
    uint32_t fr1[] = {0, 1};
    cp_wire_stack_t st1 = { fr1, 2 };
    ck_assert_err(apply_raw(wd, 0, 2, 0, 1, NULL, 0, 1, &st1, 1, NULL, 0), CP_EDANGLING);
    cp_wire_value_t v1 = { 1, 0, 1 };
    ck_assert_err(apply_raw(wd, 0, 2, 0, 1, NULL, 0, 1, NULL, 0, &v1, 1), CP_EDANGLING);
    /* ... but defining them in the same batch is fine, and the string
     * defined alongside counts. (Also: on every error above, d unchanged.) */
    ck_assert_uint_eq(cp_wire_dict_strings(wd), 2);
    ck_assert_uint_eq(cp_wire_dict_frames(wd), 1);
    ck_assert_uint_eq(cp_wire_dict_stacks(wd), 1);
    ck_assert_int_eq(apply_raw(wd, 0, 2, 1, 1, &f2, 1, 1, &st1, 1, &v1, 1), 0);
    ck_assert_uint_eq(cp_wire_dict_strings(wd), 3);
    uint32_t n;
    const uint32_t *p = cp_wire_dict_stack(wd, 1, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(p[1], 1);
    ck_assert_str_eq(cp_wire_dict_string(wd, 2, NULL), "a");
    ck_assert_ptr_null(cp_wire_dict_string(wd, 3, NULL));
    ck_assert_ptr_null(cp_wire_dict_frame(wd, 2));
    ck_assert_ptr_null(cp_wire_dict_stack(wd, 2, &n));
    cp_wire_dict_destroy(wd);
}
END_TEST

START_TEST(test_wire_dict_reset_restarts_ids)
{
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    cp_frame_t f = { .class_id = 1, .method_id = 1 };
    ck_assert_int_eq(apply_raw(wd, 0, 0, 3, 0, &f, 1, 0, NULL, 0, NULL, 0), 0);
    /* without reset, first ids 0 are a gap */
    ck_assert_err(apply_raw(wd, 0, 0, 2, 0, NULL, 0, 0, NULL, 0, NULL, 0), CP_EGAP);
    /* a reset batch that is itself bad leaves the old dictionary intact */
    cp_frame_t bad = { .class_id = 3 };
    ck_assert_err(apply_raw(wd, CP_BATCH_DICT_RESET, 0, 2, 0, &bad, 1, 0, NULL, 0, NULL, 0), CP_EDANGLING);
    ck_assert_uint_eq(cp_wire_dict_strings(wd), 3);
    ck_assert_uint_eq(cp_wire_dict_frames(wd), 1);
    /* with reset, ids restart at 0 and old ids are gone */
    ck_assert_int_eq(apply_raw(wd, CP_BATCH_DICT_RESET, 0, 2, 0, NULL, 0, 0, NULL, 0, NULL, 0), 0);
    ck_assert_uint_eq(cp_wire_dict_strings(wd), 2);
    ck_assert_uint_eq(cp_wire_dict_frames(wd), 0);
    ck_assert_ptr_null(cp_wire_dict_frame(wd, 0));
    ck_assert_ptr_null(cp_wire_dict_string(wd, 2, NULL));
    cp_wire_dict_destroy(wd);
}
END_TEST

START_TEST(test_wire_dict_reset_round_trips_through_encoder)
{
    cp_stack_dict_t *sd = cp_stack_dict_create();
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    for (int round = 0; round < 2; round++) {
        if (round)
            cp_stack_dict_clear(sd);   /* agent restarts its dictionary */
        cp_wire_value_t v = { intern_stack(sd, 5 + (uint32_t)round, 4), 0, 1 };
        cp_msg_t m = { .kind = CP_MSG_BATCH };
        m.u.batch = (cp_batch_t){ .seq = 1 + (uint64_t)round, .start_ms = 1, .end_ms = 2,
                                  .flags = round ? CP_BATCH_DICT_RESET : 0,
                                  .types = types, .n_types = 1, .values = &v, .n_values = 1,
                                  .dict = sd };
        cp_buf_t b = enc(&m, 0);
        cp_msg_t *d = dec_ok(&b);
        ck_assert_uint_eq(d->u.batch.flags, m.u.batch.flags);
        ck_assert_int_eq(cp_wire_dict_apply(wd, &d->u.batch, ERR, sizeof ERR), 0);
        char a[512], r[512];
        resolve_agent(sd, v.stack, a, sizeof a);
        resolve(wd, d->u.batch.values[0].stack, r, sizeof r);
        ck_assert_str_eq(a, r);
        ck_assert_uint_eq(cp_wire_dict_stacks(wd), 1);
        cp_msg_free(d);
        cp_buf_fini(&b);
    }
    cp_wire_dict_destroy(wd);
    cp_stack_dict_destroy(sd);
}
END_TEST

START_TEST(test_wire_dict_limits_apply)
{
    cp_wire_limits_t lim = cp_wire_default_limits;
    lim.max_dict = 3;
    cp_wire_dict_t *wd = cp_wire_dict_create(&lim);
    ck_assert_int_eq(apply_raw(wd, 0, 0, 2, 0, NULL, 0, 0, NULL, 0, NULL, 0), 0);
    ck_assert_err(apply_raw(wd, 0, 2, 2, 0, NULL, 0, 0, NULL, 0, NULL, 0), CP_ELIMIT);
    ck_assert_int_eq(apply_raw(wd, 0, 2, 1, 0, NULL, 0, 0, NULL, 0, NULL, 0), 0);
    cp_wire_dict_destroy(wd);

    lim = cp_wire_default_limits;
    lim.max_dict_bytes = 64;
    wd = cp_wire_dict_create(&lim);
    ck_assert_int_eq(apply_raw(wd, 0, 0, 2, 0, NULL, 0, 0, NULL, 0, NULL, 0), 0);
    cp_frame_t fr[4] = {{0}};
    ck_assert_err(apply_raw(wd, 0, 2, 0, 0, fr, 4, 0, NULL, 0, NULL, 0), CP_ELIMIT);
    cp_wire_dict_destroy(wd);
}
END_TEST

/* ---- malformed input ---------------------------------------------------- */

START_TEST(test_wire_every_truncation_is_rejected)
{
    for (int level = 0; level <= 6; level += 6) {
        cp_msg_t in = batch_msg();
        cp_buf_t b = enc(&in, level);
        for (size_t n = 0; n < b.len; n++) {
            int rc = dec_rc(b.data, n, NULL);
            /* uncompressed: the header says more bytes come; compressed: the
             * zlib stream ends early (or its checksum is cut). */
            if (!(rc == CP_ETRUNC || (level && n > 12 && rc == CP_EZLIB))) ck_abort_msg(
                          "prefix %zu of %zu: %s (%s)", n, b.len, cp_errname(rc), ERR);
        }
        cp_buf_fini(&b);
    }
}
END_TEST

START_TEST(test_wire_truncated_payload_with_matching_header_is_rejected)
{
    /* Header and payload agree on the length, but the msgpack inside is cut. */
    cp_msg_t in = hello_msg();
    cp_buf_t b = enc(&in, 0);
    for (size_t cut = 1; cut < b.len - 12; cut++) {
        size_t pl = b.len - 12 - cut;
        cp_buf_t r = raw_msg(CP_MSG_HELLO, 0, b.data + 12, pl, (uint32_t)pl);
        int rc = dec_rc(r.data, r.len, NULL);
        ck_assert_msg(rc == CP_ETRUNC || rc == CP_EMISSING, "cut %zu: %s (%s)", cut, cp_errname(rc), ERR);
        cp_buf_fini(&r);
    }
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_envelope_errors_have_their_codes)
{
    cp_msg_t in = { .kind = CP_MSG_ACK };
    in.u.ack.seq = 5;
    cp_buf_t b = enc(&in, 0);
    uint8_t *p = malloc(b.len + 4);
    cp_msg_kind_t k;
    uint32_t pl;

    memcpy(p, b.data, b.len); p[0] = 'X';
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EMAGIC);
    ck_assert_int_eq(cp_wire_peek(p, b.len, &k, &pl), CP_EMAGIC);
    ck_assert_err(dec_rc(p, 1, NULL), CP_EMAGIC);
    memcpy(p, b.data, b.len); p[1] = 'Q';
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EMAGIC);
    memcpy(p, b.data, b.len); p[2] = 2;
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EVERSION);
    memcpy(p, b.data, b.len); p[3] = 0;
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EKIND);
    memcpy(p, b.data, b.len); p[3] = CP_MSG_KIND_MAX + 1;
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EKIND);
    ck_assert_int_eq(cp_wire_peek(p, b.len, &k, &pl), CP_EKIND);
    memcpy(p, b.data, b.len); p[4] = 0x02;
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EUNSUPP);
    memcpy(p, b.data, b.len); p[6] = 1;
    ck_assert_err(dec_rc(p, b.len, NULL), CP_EUNSUPP);
    ck_assert_err(dec_rc(b.data, 0, NULL), CP_ETRUNC);
    ck_assert_err(dec_rc(b.data, 11, NULL), CP_ETRUNC);
    ck_assert_int_eq(cp_wire_peek(b.data, 11, &k, &pl), CP_ETRUNC);
    /* trailing bytes after the declared payload */
    memcpy(p, b.data, b.len); p[b.len] = 0xc0;
    ck_assert_err(dec_rc(p, b.len + 1, NULL), CP_ETRAILING);
    /* declared payload shorter than the map: bytes after the map */
    cp_buf_t r = raw_msg(CP_MSG_ACK, 0, b.data + 12, b.len - 12, (uint32_t)(b.len - 12));
    cp_buf_append(&r, "\xc0", 1);
    r.data[11]++;
    ck_assert_err(dec_rc(r.data, r.len, NULL), CP_ETRAILING);
    ck_assert_ptr_nonnull(strstr(ERR, "after the payload map"));
    ck_assert_int_eq(cp_wire_peek(b.data, b.len, &k, &pl), 0);
    ck_assert_int_eq(k, CP_MSG_ACK);
    ck_assert_uint_eq(pl, b.len - 12);
    cp_buf_fini(&r);
    free(p);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_bad_zlib_is_rejected)
{
    cp_msg_t in = batch_msg();
    cp_buf_t b = enc(&in, 6);
    /* corrupt the deflate header */
    cp_buf_t c = CP_BUF_INIT;
    cp_buf_append(&c, b.data, b.len);
    c.data[12] ^= 0xff;
    ck_assert_err(dec_rc(c.data, c.len, NULL), CP_EZLIB);
    /* corrupt the adler32 trailer */
    cp_buf_reset(&c);
    cp_buf_append(&c, b.data, b.len);
    c.data[c.len - 1] ^= 0x55;
    ck_assert_err(dec_rc(c.data, c.len, NULL), CP_EZLIB);
    /* declared length larger / smaller than what inflates */
    cp_buf_reset(&c);
    cp_buf_append(&c, b.data, b.len);
    c.data[11]++;
    ck_assert_err(dec_rc(c.data, c.len, NULL), CP_EZLIB);
    c.data[11] -= 2;
    ck_assert_err(dec_rc(c.data, c.len, NULL), CP_EZLIB);
    ck_assert_ptr_nonnull(strstr(ERR, "longer than"));
    /* bytes after the zlib stream */
    cp_buf_reset(&c);
    cp_buf_append(&c, b.data, b.len);
    cp_buf_append(&c, "zz", 2);
    ck_assert_err(dec_rc(c.data, c.len, NULL), CP_ETRAILING);
    /* not zlib at all, flag set */
    cp_buf_t r = raw_msg(CP_MSG_ACK, CP_WIRE_FLAG_ZLIB, "\x81\x01\x05", 3, 3);
    ck_assert_err(dec_rc(r.data, r.len, NULL), CP_EZLIB);
    cp_buf_fini(&r);
    cp_buf_fini(&c);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_zlib_bomb_is_bounded_by_declared_length)
{
    /* 16 MiB of zeros compresses to ~16 KiB; declare only 1 MiB. */
    size_t big = 16u << 20;
    uint8_t *zeros = calloc(1, big);
    uLongf zl = compressBound(big);
    uint8_t *z = malloc(zl);
    ck_assert_int_eq(compress2(z, &zl, zeros, big, 9), Z_OK);
    cp_buf_t r = raw_msg(CP_MSG_ACK, CP_WIRE_FLAG_ZLIB, z, zl, 1u << 20);
    ck_assert_err(dec_rc(r.data, r.len, NULL), CP_EZLIB);
    /* declaring it all runs into max_payload */
    cp_wire_limits_t lim = cp_wire_default_limits;
    lim.max_payload = 8u << 20;
    cp_buf_fini(&r);
    r = raw_msg(CP_MSG_ACK, CP_WIRE_FLAG_ZLIB, z, zl, (uint32_t)big);
    ck_assert_err(dec_rc(r.data, r.len, &lim), CP_ETOOBIG);
    cp_buf_fini(&r);
    free(z);
    free(zeros);
}
END_TEST

START_TEST(test_wire_wrong_types_are_rejected_with_location)
{
    raw_t r;
    cp_buf_t b;

    /* hello app as an int */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 2); msgpack_pack_uint8(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, 3); raw_str(&r, "i");
    b = raw_done(&r, CP_MSG_HELLO);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    ck_assert_ptr_nonnull(strstr(ERR, "hello key 2 (app)"));
    cp_buf_fini(&b);

    /* payload is an array, not a map */
    raw_init(&r);
    msgpack_pack_array(&r.pk, 0);
    b = raw_done(&r, CP_MSG_ACK);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    cp_buf_fini(&b);

    /* map key is a string */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "seq"); msgpack_pack_uint8(&r.pk, 1);
    b = raw_done(&r, CP_MSG_ACK);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    cp_buf_fini(&b);

    /* frame line is a string */
    raw_init(&r);
    raw_batch_head(&r, 1);
    msgpack_pack_uint8(&r.pk, 7);
    msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_array(&r.pk, 3);
    for (int i = 0; i < 3; i++) {
        msgpack_pack_array(&r.pk, 5);
        msgpack_pack_uint8(&r.pk, 0); msgpack_pack_uint8(&r.pk, 0); msgpack_pack_uint8(&r.pk, 0);
        if (i == 2) raw_str(&r, "12"); else msgpack_pack_int8(&r.pk, -3);
        msgpack_pack_uint8(&r.pk, 0);
    }
    b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    ck_assert_msg(strstr(ERR, "batch key 7 (frames): frame 2: line") != NULL, "%s", ERR);
    cp_buf_fini(&b);

    /* frame tuple too short */
    raw_init(&r);
    raw_batch_head(&r, 1);
    msgpack_pack_uint8(&r.pk, 7);
    msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 4);
    for (int i = 0; i < 4; i++) msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_nil(&r.pk); msgpack_pack_nil(&r.pk);   /* padding so the count guard passes */
    b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    cp_buf_fini(&b);

    /* values array not a multiple of 3 */
    raw_init(&r);
    raw_batch_head(&r, 1);
    msgpack_pack_uint8(&r.pk, 9);
    msgpack_pack_array(&r.pk, 4);
    for (int i = 0; i < 4; i++) msgpack_pack_uint8(&r.pk, 0);
    b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    cp_buf_fini(&b);

    /* error.fatal as an int */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_int8(&r.pk, -3);
    msgpack_pack_uint8(&r.pk, 3); msgpack_pack_uint8(&r.pk, 1);
    b = raw_done(&r, CP_MSG_ERROR);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETYPE);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_ranges_are_checked)
{
    raw_t r;
    cp_buf_t b;

    /* negative seq */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_int8(&r.pk, -1);
    b = raw_done(&r, CP_MSG_ACK);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ERANGE);
    cp_buf_fini(&b);

    /* uint32 field with a 64-bit value */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint64(&r.pk, 1ull << 32);
    b = raw_done(&r, CP_MSG_WELCOME);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ERANGE);
    cp_buf_fini(&b);

    /* seq 0 and end before start */
    cp_msg_t in = batch_msg();
    cp_buf_t ok = enc(&in, 0);
    /* seq is key 1 encoded as positive fixint 7 right after "\x8b\x01" */
    ck_assert_uint_eq(ok.data[13], 1);
    ck_assert_uint_eq(ok.data[14], 7);
    ok.data[14] = 0;
    ck_assert_err(dec_rc(ok.data, ok.len, NULL), CP_ERANGE);
    cp_buf_fini(&ok);

    raw_init(&r);
    msgpack_pack_map(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 2); msgpack_pack_uint16(&r.pk, 500);
    msgpack_pack_uint8(&r.pk, 3); msgpack_pack_uint16(&r.pk, 400);
    b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ERANGE);
    cp_buf_fini(&b);

    /* frame kind past CP_FRAME_KIND_MAX; frame line past int32 */
    for (int which = 0; which < 2; which++) {
        raw_init(&r);
        raw_batch_head(&r, 1);
        msgpack_pack_uint8(&r.pk, 7);
        msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0);
        msgpack_pack_array(&r.pk, 1);
        msgpack_pack_array(&r.pk, 5);
        msgpack_pack_uint8(&r.pk, 0); msgpack_pack_uint8(&r.pk, 0); msgpack_pack_uint8(&r.pk, 0);
        if (which) msgpack_pack_uint64(&r.pk, 1ull << 31); else msgpack_pack_uint8(&r.pk, 1);
        msgpack_pack_uint8(&r.pk, which ? 0 : CP_FRAME_KIND_MAX + 1);
        b = raw_done(&r, CP_MSG_BATCH);
        ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ERANGE);
        cp_buf_fini(&b);
    }

    /* hello with another protocol version inside */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, 2); raw_str(&r, "app");
    msgpack_pack_uint8(&r.pk, 3); raw_str(&r, "i");
    b = raw_done(&r, CP_MSG_HELLO);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EVERSION);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_missing_required_fields_are_rejected)
{
    raw_t r;
    cp_buf_t b;
    raw_init(&r);
    msgpack_pack_map(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 2); raw_str(&r, "app");
    b = raw_done(&r, CP_MSG_HELLO);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMISSING);
    ck_assert_ptr_nonnull(strstr(ERR, "key 3 (instance)"));
    cp_buf_fini(&b);

    /* app present but empty */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 2); raw_str(&r, "");
    msgpack_pack_uint8(&r.pk, 3); raw_str(&r, "i");
    b = raw_done(&r, CP_MSG_HELLO);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMISSING);
    cp_buf_fini(&b);

    /* nil counts as absent */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_nil(&r.pk);
    b = raw_done(&r, CP_MSG_ACK);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMISSING);
    cp_buf_fini(&b);

    /* empty batch map */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 0);
    b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMISSING);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_unknown_keys_and_extra_tuple_elements_are_skipped)
{
    raw_t r;
    raw_init(&r);
    raw_batch_head(&r, 4);
    /* unknown key 40 with a nested value of every kind */
    msgpack_pack_uint8(&r.pk, 40);
    msgpack_pack_map(&r.pk, 2);
    raw_str(&r, "x");
    msgpack_pack_array(&r.pk, 6);
    msgpack_pack_bin(&r.pk, 3); msgpack_pack_bin_body(&r.pk, "abc", 3);
    msgpack_pack_ext(&r.pk, 5, 1); msgpack_pack_ext_body(&r.pk, "hello", 5);
    msgpack_pack_double(&r.pk, 1.5);
    msgpack_pack_float(&r.pk, 2.5f);
    msgpack_pack_int64(&r.pk, -1234567890123ll);
    msgpack_pack_true(&r.pk);
    msgpack_pack_uint16(&r.pk, 300);
    msgpack_pack_str(&r.pk, 300);
    char big[300];
    memset(big, 'q', sizeof big);
    msgpack_pack_str_body(&r.pk, big, 300);
    /* known key 5 with tuples longer than needed */
    msgpack_pack_uint8(&r.pk, 5);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 3); raw_str(&r, "cpu"); raw_str(&r, "ns"); raw_str(&r, "future");
    /* a point with an int value and a 4th element */
    msgpack_pack_uint8(&r.pk, 11);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 4); raw_str(&r, "gc.count"); msgpack_pack_uint8(&r.pk, 9);
    msgpack_pack_int8(&r.pk, -4); msgpack_pack_map(&r.pk, 0);
    /* an unknown huge key number */
    msgpack_pack_uint64(&r.pk, 1ull << 60);
    msgpack_pack_nil(&r.pk);
    cp_buf_t b = raw_done(&r, CP_MSG_BATCH);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.batch.seq, 7);
    ck_assert_uint_eq(m->u.batch.n_types, 1);
    ck_assert_str_eq(m->u.batch.types[0].unit, "ns");
    ck_assert_uint_eq(m->u.batch.n_points, 1);
    ck_assert(m->u.batch.points[0].value == -4.0);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_any_int_encoding_and_float32_are_accepted)
{
    /* Other encoders pick other int widths (signed for non-negatives,
     * wider than needed) and float32: all fine when the value fits. */
    raw_t r;
    raw_init(&r);
    msgpack_pack_map(&r.pk, 4);
    msgpack_pack_uint8(&r.pk, 1);
    uint8_t seq[] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 9};         /* int64 9 */
    msgpack_sbuffer_write(&r.sb, (const char *)seq, sizeof seq);
    msgpack_pack_uint8(&r.pk, 2);
    uint8_t st[] = {0xcf, 0, 0, 0, 0, 0, 0, 0x03, 0xe8};     /* uint64 1000 */
    msgpack_sbuffer_write(&r.sb, (const char *)st, sizeof st);
    msgpack_pack_uint8(&r.pk, 3);
    uint8_t en[] = {0xd1, 0x07, 0xd0};                        /* int16 2000 */
    msgpack_sbuffer_write(&r.sb, (const char *)en, sizeof en);
    msgpack_pack_uint8(&r.pk, 11);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 3); raw_str(&r, "gc.count");
    uint8_t t[] = {0xd2, 0, 0, 0, 5};                         /* int32 5 */
    msgpack_sbuffer_write(&r.sb, (const char *)t, sizeof t);
    msgpack_pack_float(&r.pk, 0.5f);
    cp_buf_t b = raw_done(&r, CP_MSG_BATCH);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.batch.seq, 9);
    ck_assert_uint_eq(m->u.batch.start_ms, 1000);
    ck_assert_uint_eq(m->u.batch.end_ms, 2000);
    ck_assert_uint_eq(m->u.batch.points[0].t_ms, 5);
    ck_assert(m->u.batch.points[0].value == 0.5);
    cp_msg_free(m);
    cp_buf_fini(&b);

    /* error.code: negative fixint and int32 both decode */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1);
    uint8_t code[] = {0xd2, 0xff, 0xff, 0xff, 0xf5};          /* int32 -11 */
    msgpack_sbuffer_write(&r.sb, (const char *)code, sizeof code);
    b = raw_done(&r, CP_MSG_ERROR);
    m = dec_ok(&b);
    ck_assert_int_eq(m->u.error.code, CP_EDANGLING);
    ck_assert_str_eq(m->u.error.message, "");
    ck_assert(!m->u.error.fatal);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_duplicate_key_and_reserved_byte_are_malformed)
{
    raw_t r;
    cp_buf_t b;
    raw_init(&r);
    msgpack_pack_map(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1); msgpack_pack_uint8(&r.pk, 2);
    b = raw_done(&r, CP_MSG_ACK);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMSGPACK);
    cp_buf_fini(&b);

    uint8_t bad[] = {0x81, 0x09, 0xc1};   /* unknown key 9 -> 0xc1 */
    b = raw_msg(CP_MSG_ACK, 0, bad, sizeof bad, sizeof bad);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMSGPACK);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_deep_nesting_in_unknown_key_is_rejected)
{
    uint8_t p[3 + 64];
    p[0] = 0x82; p[1] = 0x01; p[2] = 0x05;   /* {1: 5, 9: [[[[...]]]]} */
    uint8_t *q = p + 3;
    *q++ = 0x09;
    for (int i = 0; i < 17; i++)
        *q++ = 0x91;
    *q++ = 0xc0;
    cp_buf_t b = raw_msg(CP_MSG_ACK, 0, p, (size_t)(q - p), (uint32_t)(q - p));
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ENEST);
    cp_buf_fini(&b);
    /* 16 deep is fine */
    q = p + 4;
    for (int i = 0; i < 16; i++)
        *q++ = 0x91;
    *q++ = 0xc0;
    b = raw_msg(CP_MSG_ACK, 0, p, (size_t)(q - p), (uint32_t)(q - p));
    ck_assert_int_eq(dec_rc(b.data, b.len, NULL), 0);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_claimed_counts_beyond_input_are_truncation)
{
    /* A 20-byte message claiming 4 billion values: rejected before any
     * memory is reserved for them. */
    uint8_t p[] = {0x84, 0x01, 0x07, 0x02, 0x01, 0x03, 0x02, 0x09, 0xdd, 0x00, 0x3f, 0xff, 0xff, 0x00};
    cp_buf_t b = raw_msg(CP_MSG_BATCH, 0, p, sizeof p, sizeof p);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETRUNC);
    ck_assert_ptr_nonnull(strstr(ERR, "claims"));
    cp_buf_fini(&b);
    /* over max_count is a limit error */
    p[10] = 0xff;
    b = raw_msg(CP_MSG_BATCH, 0, p, sizeof p, sizeof p);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ELIMIT);
    cp_buf_fini(&b);
    /* frames need >= 6 bytes each */
    uint8_t f[] = {0x84, 0x01, 0x07, 0x02, 0x01, 0x03, 0x02, 0x07, 0x92, 0x00, 0x93,
                   0x95, 0, 0, 0, 0, 0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    b = raw_msg(CP_MSG_BATCH, 0, f, sizeof f, sizeof f);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_ETRUNC);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_in_message_dangling_references_are_rejected)
{
    cp_msg_t in = batch_msg();
    /* value with a type index past key 5 */
    cp_wire_value_t v[] = {{0, 2, 1}};
    in.u.batch.values = v;
    in.u.batch.n_values = 1;
    cp_buf_t b = enc(&in, 0);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EDANGLING);
    ck_assert_ptr_nonnull(strstr(ERR, "type 2"));
    cp_buf_fini(&b);
    /* value with a stack past this batch's stacks */
    v[0] = (cp_wire_value_t){5, 0, 1};
    b = enc(&in, 0);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EDANGLING);
    cp_buf_fini(&b);
    /* frame with a string past this batch's strings */
    in = batch_msg();
    cp_frame_t fr[2] = {B_FRAMES[0], B_FRAMES[1]};
    fr[1].sig_id = 3;
    in.u.batch.frames = fr;
    b = enc(&in, 0);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EDANGLING);
    ck_assert_ptr_nonnull(strstr(ERR, "key 7"));
    cp_buf_fini(&b);
    /* stack with a frame past this batch's frames */
    in = batch_msg();
    uint32_t sf[] = {0, 2};
    cp_wire_stack_t st[] = {{sf, 2}};
    in.u.batch.stacks = st;
    in.u.batch.n_stacks = 1;
    v[0] = (cp_wire_value_t){0, 0, 1};
    in.u.batch.values = v;
    in.u.batch.n_values = 1;
    b = enc(&in, 0);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EDANGLING);
    ck_assert_ptr_nonnull(strstr(ERR, "key 8"));
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_limits_are_respected)
{
    cp_msg_t in = batch_msg();
    cp_buf_t b = enc(&in, 0);
    cp_wire_limits_t lim = cp_wire_default_limits;

    lim.max_message = b.len - 1;
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ETOOBIG);
    lim.max_message = b.len;
    ck_assert_int_eq(dec_rc(b.data, b.len, &lim), 0);

    lim = cp_wire_default_limits;
    lim.max_payload = b.len - 13;
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ETOOBIG);

    lim = cp_wire_default_limits;
    lim.max_string = 16;   /* "threads.runnable" is 16: fits; "fail.unknown_Java" is 17 */
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(ERR, "key 10"));
    lim.max_string = 17;
    ck_assert_int_eq(dec_rc(b.data, b.len, &lim), 0);

    lim = cp_wire_default_limits;
    lim.max_count = 8;     /* the values array has 9 elements */
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ELIMIT);

    lim = cp_wire_default_limits;
    lim.max_depth = 1;     /* stack 0 has 2 frames */
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(ERR, "depth"));

    lim = cp_wire_default_limits;
    lim.max_dict = 2;      /* 3 strings */
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ELIMIT);

    lim = cp_wire_default_limits;
    lim.max_decoded = 1000;   /* the first arena chunk alone is 32 KiB */
    ck_assert_err(dec_rc(b.data, b.len, &lim), CP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(ERR, "max_decoded"));
    lim.max_decoded = 64 << 10;
    ck_assert_int_eq(dec_rc(b.data, b.len, &lim), 0);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_big_batch_round_trips_compressed)
{
    /* ~100k values over 20k stacks, through a stack_dict, compressed. */
    cp_stack_dict_t *sd = cp_stack_dict_create();
    enum { NV = 100000 };
    cp_wire_value_t *v = malloc(NV * sizeof *v);
    for (uint32_t i = 0; i < NV; i++)
        v[i] = (cp_wire_value_t){ intern_stack(sd, i % 20000, 1 + i % 13), i % 2, i };
    static const cp_sample_type_t types[] = {{"cpu", "ns"}, {"wall", "ns"}};
    cp_msg_t m = { .kind = CP_MSG_BATCH };
    m.u.batch = (cp_batch_t){ .seq = 1, .start_ms = 1, .end_ms = 2, .types = types, .n_types = 2,
                              .values = v, .n_values = NV, .dict = sd };
    cp_buf_t b = enc(&m, 1);
    cp_msg_t *d = dec_ok(&b);
    ck_assert_uint_eq(d->u.batch.n_values, NV);
    ck_assert_uint_eq(d->u.batch.n_stacks, cp_stack_dict_stacks(sd));
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    ck_assert_int_eq(cp_wire_dict_apply(wd, &d->u.batch, ERR, sizeof ERR), 0);
    for (uint32_t i = 0; i < NV; i += 4999) {
        char a[2048], r[2048];
        resolve_agent(sd, v[i].stack, a, sizeof a);
        resolve(wd, d->u.batch.values[i].stack, r, sizeof r);
        ck_assert_str_eq(a, r);
    }
    cp_wire_dict_destroy(wd);
    cp_msg_free(d);
    cp_buf_fini(&b);
    free(v);
    cp_stack_dict_destroy(sd);
}
END_TEST

START_TEST(test_wire_err_buffer_is_always_terminated)
{
    raw_t r;
    raw_init(&r);
    raw_batch_head(&r, 1);
    msgpack_pack_uint8(&r.pk, 7);
    msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 5);
    for (int i = 0; i < 3; i++) msgpack_pack_uint8(&r.pk, 0);
    raw_str(&r, "x");
    msgpack_pack_uint8(&r.pk, 0);
    cp_buf_t b = raw_done(&r, CP_MSG_BATCH);
    for (size_t n = 1; n < 40; n++) {
        char small[40];
        memset(small, 'Z', sizeof small);
        cp_msg_t *m = NULL;
        ck_assert_int_eq(cp_wire_decode(b.data, b.len, NULL, &m, small, n), CP_ETYPE);
        ck_assert_uint_lt(strnlen(small, n), n);
        ck_assert_int_eq(small[n < 40 ? n : 39] , 'Z');
    }
    cp_msg_t *m = NULL;
    ck_assert_int_eq(cp_wire_decode(b.data, b.len, NULL, &m, NULL, 0), CP_ETYPE);
    cp_buf_fini(&b);
}
END_TEST


/* ---- negotiated encodings (zdict1, compact1, strtab1) --------------------- */

static cp_buf_t enc_ex(const cp_msg_t *m, int level, uint32_t encs)
{
    cp_buf_t b = CP_BUF_INIT;
    cp_wire_encopt_t o = {level, encs};
    int rc = cp_wire_encode_ex(m, &o, &b);
    ck_assert_msg(rc == 0, "encode_ex(level %d, enc 0x%x): %s", level, encs, cp_errname(rc));
    return b;
}

START_TEST(test_wire_encodings_are_named_and_negotiated)
{
    const char *names[8];
    ck_assert_uint_eq(cp_wire_enc_names(CP_WIRE_ENC_ALL, names), 4);
    static const char *const offer[] = {"compact1", "bogus9", "zdict1", "strtab1", "pykind1"};
    ck_assert_uint_eq(cp_wire_enc_parse(offer, 5), CP_WIRE_ENC_ALL);
    ck_assert_uint_eq(cp_wire_enc_parse(offer, 2), CP_WIRE_ENC_COMPACT1);
    ck_assert_uint_eq(cp_wire_enc_parse(NULL, 0), 0);

    cp_msg_t h = hello_msg();
    h.u.hello.enc = offer;
    h.u.hello.n_enc = 5;
    cp_buf_t b = enc(&h, 0);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.hello.n_enc, 5);
    ck_assert_str_eq(m->u.hello.enc[1], "bogus9");      /* kept: the relay ignores what it does not know */
    ck_assert_uint_eq(cp_wire_enc_parse(m->u.hello.enc, m->u.hello.n_enc), CP_WIRE_ENC_ALL);
    cp_msg_free(m);
    cp_buf_fini(&b);

    cp_msg_t w = { .kind = CP_MSG_WELCOME };
    w.u.welcome.enc = names;
    w.u.welcome.n_enc = cp_wire_enc_names(CP_WIRE_ENC_ZDICT1 | CP_WIRE_ENC_STRTAB1, names);
    b = enc(&w, 0);
    m = dec_ok(&b);
    ck_assert_uint_eq(cp_wire_enc_parse(m->u.welcome.enc, m->u.welcome.n_enc),
                      CP_WIRE_ENC_ZDICT1 | CP_WIRE_ENC_STRTAB1);
    cp_msg_free(m);
    cp_buf_fini(&b);

    /* an older peer's welcome: no key 6, no encodings */
    w.u.welcome.n_enc = 0;
    b = enc(&w, 0);
    m = dec_ok(&b);
    ck_assert_uint_eq(m->u.welcome.n_enc, 0);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

/* A stack of JVM-ish frames (some names in the static table): root is a
 * thread, then `depth` frames chosen by seed. */
static uint32_t intern_jvm_stack(cp_stack_dict_t *sd, uint32_t seed, uint32_t depth)
{
    static const char *const natives[] = {"start_thread", "thread_native_entry", "Thread::call_run",
                                          "JavaThread::thread_main_inner", "Compile::Compile"};
    uint32_t fr[24], n = 0;
    cp_frame_t t = { .kind = CP_FRAME_THREAD };
    REQ(cp_stack_dict_intern_string(sd, "", 0, &t.class_id) == 0);
    REQ(cp_stack_dict_intern_string(sd, "[JIT] C2 CompilerThread", 23, &t.method_id) == 0);
    t.sig_id = t.class_id;
    REQ(cp_stack_dict_intern_frame(sd, &t, &fr[n++]) == 0);
    for (uint32_t i = 0; i < depth && n < 24; i++) {
        cp_frame_t f = { .kind = i < 5 ? CP_FRAME_NATIVE : CP_FRAME_INLINED, .line = -(int32_t)i };
        char cls[32], meth[40];
        if (i < 5) {
            snprintf(cls, sizeof cls, "libjvm.so");
            snprintf(meth, sizeof meth, "%s", natives[i]);
        } else {
            snprintf(cls, sizeof cls, "app.K%u", (seed + i) % 5);
            snprintf(meth, sizeof meth, "m%u_%u", (seed >> (i % 3)) % 9, i);
        }
        REQ(cp_stack_dict_intern_string(sd, cls, strlen(cls), &f.class_id) == 0);
        REQ(cp_stack_dict_intern_string(sd, meth, strlen(meth), &f.method_id) == 0);
        REQ(cp_stack_dict_intern_string(sd, "", 0, &f.sig_id) == 0);
        REQ(cp_stack_dict_intern_frame(sd, &f, &fr[n++]) == 0);
    }
    uint32_t id;
    REQ(cp_stack_dict_intern_stack(sd, fr, n, &id) == 0);
    return id;
}

static int cmp_val(const void *a, const void *b)
{
    const cp_wire_value_t *x = a, *y = b;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    if (x->stack != y->stack) return x->stack < y->stack ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

/* Kind 10 (Python) goes out as 10 only when "pykind1" was negotiated,
 * else as 4 (native), in both layouts; decoders accept 10 and refuse 11. */
START_TEST(test_wire_python_kind_only_to_relays_that_accept_it)
{
    cp_stack_dict_t *sd = cp_stack_dict_create();
    cp_frame_t f = { .kind = CP_FRAME_PYTHON };
    uint32_t fid, sid;
    REQ(cp_stack_dict_intern_string(sd, "worker", 6, &f.class_id) == 0);
    REQ(cp_stack_dict_intern_string(sd, "compute (worker.py:12)", 22, &f.method_id) == 0);
    f.sig_id = f.class_id;
    REQ(cp_stack_dict_intern_frame(sd, &f, &fid) == 0);
    REQ(cp_stack_dict_intern_stack(sd, &fid, 1, &sid) == 0);
    cp_wire_value_t v = {sid, 0, 5};
    cp_sample_type_t ty = {"cpu", "ns"};
    for (int compact = 0; compact < 2; compact++) {
        for (int py = 0; py < 2; py++) {
            cp_msg_t m = { .kind = CP_MSG_BATCH };
            cp_batch_t *b = &m.u.batch;
            b->seq = 1; b->start_ms = 1; b->end_ms = 2;
            b->dict = sd;
            b->n_strs = cp_stack_dict_strings(sd);
            b->n_frames = 1; b->n_stacks = 1;
            b->types = &ty; b->n_types = 1;
            b->values = &v; b->n_values = 1;
            uint32_t encs = (compact ? CP_WIRE_ENC_COMPACT1 : 0) | (py ? CP_WIRE_ENC_PYKIND1 : 0);
            cp_buf_t buf = enc_ex(&m, 0, encs);
            cp_msg_t *d = dec_ok(&buf);
            ck_assert_uint_eq(d->u.batch.n_frames, 1);
            ck_assert_uint_eq(d->u.batch.frames[0].kind, py ? CP_FRAME_PYTHON : CP_FRAME_NATIVE);
            cp_msg_free(d);
            cp_buf_fini(&buf);
        }
    }
    ck_assert_int_eq(cp_wire_frame_kind_out(CP_FRAME_PYTHON, 0), CP_FRAME_NATIVE);
    ck_assert_int_eq(cp_wire_frame_kind_out(CP_FRAME_COMPILED, 0), CP_FRAME_COMPILED);
    cp_stack_dict_destroy(sd);
}
END_TEST

START_TEST(test_wire_encodings_round_trip_in_every_combination)
{
    static const cp_sample_type_t types[] = {{"cpu", "ns"}, {"alloc_bytes", "bytes"}};
    for (uint32_t encs = 0; encs <= CP_WIRE_ENC_ALL; encs++) {
        for (int level = 0; level <= 9; level += 9) {
            if ((encs & CP_WIRE_ENC_ZDICT1) && !level)
                continue;
            cp_stack_dict_t *sd = cp_stack_dict_create();
            ck_assert_int_eq(cp_stack_dict_track_prefixes(sd), 0);
            cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
            uint32_t ss = 0, sf = 0, sk = 0, refs = 0, table_strs = 0;
            for (int round = 0; round < 3; round++) {
                cp_wire_value_t v[90];
                uint32_t nv = 0;
                for (uint32_t i = 0; i < 30; i++) {
                    uint32_t st = intern_jvm_stack(sd, i + 17u * (uint32_t)round, 3 + (i * 7 + (uint32_t)round) % 18);
                    v[nv++] = (cp_wire_value_t){st, 0, (i + 1) * 1000000ull + (round == 1 ? 0 : i)};
                    if (i % 3 == 0)
                        v[nv++] = (cp_wire_value_t){st, 1, 1ull << (20 + i)};
                }
                v[nv++] = v[0];             /* the same (stack, type) twice is kept as sent */
                cp_msg_t m = { .kind = CP_MSG_BATCH };
                m.u.batch = (cp_batch_t){ .seq = (uint64_t)round + 1, .start_ms = 1, .end_ms = 2,
                                          .types = types, .n_types = 2, .str_first = ss, .frame_first = sf,
                                          .stack_first = sk, .values = v, .n_values = nv, .dict = sd };
                cp_buf_t b = enc_ex(&m, level, encs);
                if (encs & CP_WIRE_ENC_ZDICT1) {   /* FDICT set, the stream names zdict1 */
                    ck_assert(b.data[13] & 0x20);
                    uint32_t id = (uint32_t)b.data[14] << 24 | (uint32_t)b.data[15] << 16 |
                                  (uint32_t)b.data[16] << 8 | b.data[17];
                    ck_assert_uint_eq(id, cp_wire_zdict1.id);
                }
                cp_msg_t *d = dec_ok(&b);
                const cp_batch_t *x = &d->u.batch;
                ck_assert_uint_eq(x->n_strs, cp_stack_dict_strings(sd) - ss);
                ck_assert_uint_eq(x->n_stacks, cp_stack_dict_stacks(sd) - sk);
                for (uint32_t i = 0; i < x->n_stacks; i++)
                    refs += x->stacks[i].keep > 0;
                for (uint32_t i = 0; i < x->n_strs; i++)
                    for (uint32_t t = 0; t < cp_wire_strtab1.n && t < 64; t++)
                        table_strs += x->strs[i].s == cp_wire_strtab1.strs[t];
                ck_assert_int_eq(cp_wire_dict_apply(wd, x, ERR, sizeof ERR), 0);
                /* same values (order may differ), same stacks by name */
                ck_assert_uint_eq(x->n_values, nv);
                cp_wire_value_t *got = malloc(nv * sizeof *got);
                memcpy(got, x->values, nv * sizeof *got);
                qsort(got, nv, sizeof *got, cmp_val);
                qsort(v, nv, sizeof *v, cmp_val);
                for (uint32_t i = 0; i < nv; i++) {
                    REQ(got[i].type == v[i].type && got[i].value == v[i].value && got[i].stack == v[i].stack);
                    char a[4096], r[4096];
                    resolve_agent(sd, v[i].stack, a, sizeof a);
                    resolve(wd, got[i].stack, r, sizeof r);
                    ck_assert_str_eq(a, r);
                }
                free(got);
                ss = cp_stack_dict_strings(sd);
                sf = cp_stack_dict_frames(sd);
                sk = cp_stack_dict_stacks(sd);
                cp_msg_free(d);
                cp_buf_fini(&b);
            }
            /* the levers were really used */
            ck_assert_msg(!(encs & CP_WIRE_ENC_COMPACT1) == !refs, "enc 0x%x: %u prefix references", encs, refs);
            ck_assert_msg(!(encs & CP_WIRE_ENC_STRTAB1) == !table_strs, "enc 0x%x: %u table strings", encs,
                          table_strs);
            cp_wire_dict_destroy(wd);
            cp_stack_dict_destroy(sd);
        }
    }
}
END_TEST

START_TEST(test_wire_encodings_shrink_a_jvm_like_batch)
{
    static const cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_stack_dict_t *sd = cp_stack_dict_create();
    cp_stack_dict_track_prefixes(sd);
    cp_wire_value_t v[400];
    for (uint32_t i = 0; i < 400; i++)
        v[i] = (cp_wire_value_t){intern_jvm_stack(sd, i, 6 + i % 17), 0, 1000ull * (9000 + i * 37 % 2000)};
    cp_msg_t m = { .kind = CP_MSG_BATCH };
    m.u.batch = (cp_batch_t){ .seq = 1, .start_ms = 1, .end_ms = 2, .types = types, .n_types = 1,
                              .values = v, .n_values = 400, .dict = sd };
    cp_buf_t plain = enc_ex(&m, 9, 0), all = enc_ex(&m, 9, CP_WIRE_ENC_ALL);
    ck_assert_msg(all.len * 10 < plain.len * 9, "all encodings %zu bytes, v1 %zu", all.len, plain.len);
    cp_buf_fini(&plain);
    cp_buf_fini(&all);
    cp_stack_dict_destroy(sd);
}
END_TEST

START_TEST(test_wire_encode_ex_rejects_what_it_cannot_send)
{
    cp_msg_t m = batch_msg();
    cp_buf_t b = CP_BUF_INIT;
    cp_wire_encopt_t o = {0, CP_WIRE_ENC_ZDICT1};            /* a dictionary needs zlib */
    ck_assert_int_eq(cp_wire_encode_ex(&m, &o, &b), CP_EINVAL);
    o = (cp_wire_encopt_t){1, 0x80};                          /* unknown encoding bit */
    ck_assert_int_eq(cp_wire_encode_ex(&m, &o, &b), CP_EINVAL);
    /* a stack reference cannot go in the v1 layout */
    static const uint32_t tail[] = {0};
    cp_wire_stack_t st[] = {{B_ST0, 2, 0, 0}, {tail, 1, 1, 0}};
    m.u.batch.stacks = st;
    o = (cp_wire_encopt_t){0, 0};
    ck_assert_int_eq(cp_wire_encode_ex(&m, &o, &b), CP_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    /* ... but does in the compact one, and resolves on the receiver */
    o.enc = CP_WIRE_ENC_COMPACT1;
    ck_assert_int_eq(cp_wire_encode_ex(&m, &o, &b), 0);
    cp_msg_t *d = dec_ok(&b);
    ck_assert_uint_eq(d->u.batch.stacks[1].keep, 1);
    ck_assert_uint_eq(d->u.batch.stacks[1].ref, 0);
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    ck_assert_int_eq(cp_wire_dict_apply(wd, &d->u.batch, ERR, sizeof ERR), 0);
    uint32_t n;
    const uint32_t *fr = cp_wire_dict_stack(wd, 1, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(fr[0], 1);     /* B_ST0[0] */
    ck_assert_uint_eq(fr[1], 0);     /* tail */
    cp_wire_dict_destroy(wd);
    cp_msg_free(d);
    cp_buf_fini(&b);
}
END_TEST

/* Hand-made compact keys: every malformation has its code. */
static int compact_rc(int key, void (*body)(msgpack_packer *), const cp_wire_limits_t *lim)
{
    raw_t r;
    raw_init(&r);
    raw_batch_head(&r, 2);
    msgpack_pack_uint8(&r.pk, 5);                           /* types: one */
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_array(&r.pk, 2); raw_str(&r, "cpu"); raw_str(&r, "ns");
    msgpack_pack_uint8(&r.pk, (uint8_t)key);
    body(&r.pk);
    cp_buf_t b = raw_done(&r, CP_MSG_BATCH);
    int rc = dec_rc(b.data, b.len, lim);
    cp_buf_fini(&b);
    return rc;
}

static void pk_ints(msgpack_packer *pk, int n, const int64_t *v)
{
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_int64(pk, v[i]);
}

static void cf_unequal(msgpack_packer *pk)
{
    static const int64_t a[] = {0, 1}, k[] = {0};
    msgpack_pack_array(pk, 6); msgpack_pack_uint8(pk, 0);
    pk_ints(pk, 2, a); pk_ints(pk, 2, a); pk_ints(pk, 2, a); pk_ints(pk, 2, a); pk_ints(pk, 1, k);
}
static void cf_negative(msgpack_packer *pk)
{
    static const int64_t c[] = {1, -2}, z[] = {0, 0};
    msgpack_pack_array(pk, 6); msgpack_pack_uint8(pk, 0);
    pk_ints(pk, 2, c); pk_ints(pk, 2, z); pk_ints(pk, 2, z); pk_ints(pk, 2, z); pk_ints(pk, 2, z);
}
static void cf_kind(msgpack_packer *pk)
{
    static const int64_t z[] = {0}, k[] = {CP_FRAME_KIND_MAX + 1};
    msgpack_pack_array(pk, 6); msgpack_pack_uint8(pk, 0);
    pk_ints(pk, 1, z); pk_ints(pk, 1, z); pk_ints(pk, 1, z); pk_ints(pk, 1, z); pk_ints(pk, 1, k);
}
static void cf_line(msgpack_packer *pk)
{
    static const int64_t z[] = {0, 0}, l[] = {INT32_MAX, 1}, k[] = {0, 0};
    msgpack_pack_array(pk, 6); msgpack_pack_uint8(pk, 0);
    pk_ints(pk, 2, z); pk_ints(pk, 2, z); pk_ints(pk, 2, z); pk_ints(pk, 2, l); pk_ints(pk, 2, k);
}
static void cs_stack(msgpack_packer *pk, uint32_t first, uint32_t back, uint32_t keep, int n, const int64_t *fr)
{
    msgpack_pack_array(pk, 2); msgpack_pack_uint32(pk, first);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 2 + (size_t)n);
    msgpack_pack_uint32(pk, back); msgpack_pack_uint32(pk, keep);
    for (int i = 0; i < n; i++)
        msgpack_pack_int64(pk, fr[i]);
}
static void cs_back_too_far(msgpack_packer *pk) { static const int64_t f[] = {0}; cs_stack(pk, 3, 4, 1, 1, f); }
static void cs_keep_no_back(msgpack_packer *pk) { static const int64_t f[] = {0}; cs_stack(pk, 3, 0, 2, 1, f); }
static void cs_deep(msgpack_packer *pk) { static const int64_t f[] = {0, 1}; cs_stack(pk, 3, 1, 7, 2, f); }
static void cs_neg_frame(msgpack_packer *pk) { static const int64_t f[] = {2, -3}; cs_stack(pk, 0, 0, 0, 2, f); }
static void cs_short(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2); msgpack_pack_uint8(pk, 0);
    msgpack_pack_array(pk, 1); msgpack_pack_array(pk, 1); msgpack_pack_uint32(pk, 70000);  /* back only */
}
static void cv_group(msgpack_packer *pk, uint64_t scale, int n, const uint64_t *pairs)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 3); msgpack_pack_uint8(pk, 0); msgpack_pack_uint64(pk, scale);
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_uint64(pk, pairs[i]);
}
static void cv_scale0(msgpack_packer *pk) { static const uint64_t p[] = {0, 5}; cv_group(pk, 0, 2, p); }
static void cv_odd(msgpack_packer *pk) { static const uint64_t p[] = {0, 5, 1}; cv_group(pk, 1, 3, p); }
static void cv_overflow(msgpack_packer *pk) { static const uint64_t p[] = {0, 1ull << 62}; cv_group(pk, 1000, 2, p); }
static void cv_stack_wraps(msgpack_packer *pk)
{
    static const uint64_t p[] = {UINT32_MAX, 1, 1, 1};
    cv_group(pk, 1, 4, p);
}
static void cv_type(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 3); msgpack_pack_uint8(pk, 3); msgpack_pack_uint8(pk, 1);
    msgpack_pack_array(pk, 2); msgpack_pack_uint8(pk, 0); msgpack_pack_uint8(pk, 1);
}
static void ds_ext(msgpack_packer *pk, int8_t type, uint32_t ix)
{
    char be[2] = {(char)(ix >> 8), (char)ix};
    msgpack_pack_array(pk, 2); msgpack_pack_uint8(pk, 0);
    msgpack_pack_array(pk, 1);
    msgpack_pack_ext(pk, 2, type);
    msgpack_pack_ext_body(pk, be, 2);
}
static void ds_unknown_table(msgpack_packer *pk) { ds_ext(pk, 9, 0); }
static void ds_past_table(msgpack_packer *pk) { ds_ext(pk, 1, 65535); }
static void ds_table_ok(msgpack_packer *pk) { ds_ext(pk, 1, 0); }

START_TEST(test_wire_compact_malformations_have_their_codes)
{
    cp_wire_limits_t lim = cp_wire_default_limits;
    ck_assert_err(compact_rc(12, cf_unequal, NULL), CP_ETYPE);
    ck_assert_err(compact_rc(12, cf_negative, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(12, cf_kind, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(12, cf_line, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(13, cs_back_too_far, NULL), CP_EDANGLING);
    ck_assert_err(compact_rc(13, cs_keep_no_back, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(13, cs_neg_frame, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(13, cs_short, NULL), CP_ETYPE);
    lim.max_depth = 8;
    ck_assert_err(compact_rc(13, cs_deep, &lim), CP_ELIMIT);
    ck_assert_err(compact_rc(13, cs_deep, NULL), 0);
    ck_assert_err(compact_rc(14, cv_scale0, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(14, cv_odd, NULL), CP_ETYPE);
    ck_assert_err(compact_rc(14, cv_overflow, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(14, cv_stack_wraps, NULL), CP_ERANGE);
    ck_assert_err(compact_rc(14, cv_type, NULL), CP_EDANGLING);    /* type 3 of 1 */
    ck_assert_err(compact_rc(6, ds_unknown_table, NULL), CP_EUNSUPP);
    ck_assert_err(compact_rc(6, ds_past_table, NULL), CP_EDANGLING);
    ck_assert_err(compact_rc(6, ds_table_ok, NULL), 0);
}
END_TEST

START_TEST(test_wire_plain_and_compact_key_together_are_malformed)
{
    raw_t r;
    raw_init(&r);
    raw_batch_head(&r, 2);
    msgpack_pack_uint8(&r.pk, 8);                     /* stacks, v1 */
    msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0); msgpack_pack_array(&r.pk, 0);
    msgpack_pack_uint8(&r.pk, 13);                    /* stacks, compact */
    msgpack_pack_array(&r.pk, 2); msgpack_pack_uint8(&r.pk, 0); msgpack_pack_array(&r.pk, 0);
    cp_buf_t b = raw_done(&r, CP_MSG_BATCH);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EMSGPACK);
    ck_assert_ptr_nonnull(strstr(ERR, "key 8"));
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_unknown_preset_dictionary_is_rejected)
{
    static const unsigned char other[] = "not the wire dictionary";
    const char payload[] = "\x81\x01\x05";                  /* ack {seq: 5} */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit(&zs, 6), Z_OK);
    ck_assert_int_eq(deflateSetDictionary(&zs, other, sizeof other), Z_OK);
    uint8_t out[128];
    zs.next_in = (Bytef *)payload; zs.avail_in = 3;
    zs.next_out = out; zs.avail_out = sizeof out;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t zl = sizeof out - zs.avail_out;
    deflateEnd(&zs);
    cp_buf_t b = raw_msg(CP_MSG_ACK, CP_WIRE_FLAG_ZLIB, out, zl, 3);
    ck_assert_err(dec_rc(b.data, b.len, NULL), CP_EZLIB);
    ck_assert_ptr_nonnull(strstr(ERR, "unknown preset dictionary"));
    cp_buf_fini(&b);
    /* the same with zdict1 decodes */
    cp_msg_t a = { .kind = CP_MSG_ACK };
    a.u.ack.seq = 5;
    b = enc_ex(&a, 6, CP_WIRE_ENC_ZDICT1);
    cp_msg_t *m = dec_ok(&b);
    ck_assert_uint_eq(m->u.ack.seq, 5);
    cp_msg_free(m);
    cp_buf_fini(&b);
}
END_TEST

START_TEST(test_wire_dict_apply_checks_stack_references)
{
    static const uint32_t f0[] = {0, 0, 0}, f1[] = {0};
    static const cp_str_t strs[] = {{"", 0}};
    static const cp_frame_t frames[] = {{0, 0, 0, 0, CP_FRAME_JAVA}};
    cp_wire_stack_t st[] = {{f0, 3, 0, 0}, {f1, 1, 4, 0}};      /* keeps 4 of a 3-frame stack */
    cp_batch_t b = { .seq = 1, .end_ms = 1, .strs = strs, .n_strs = 1, .frames = frames, .n_frames = 1,
                     .stacks = st, .n_stacks = 2 };
    cp_wire_dict_t *wd = cp_wire_dict_create(NULL);
    ck_assert_err(cp_wire_dict_apply(wd, &b, ERR, sizeof ERR), CP_ERANGE);
    ck_assert_uint_eq(cp_wire_dict_stacks(wd), 0);
    st[1] = (cp_wire_stack_t){f1, 1, 2, 1};                     /* refers to itself */
    ck_assert_err(cp_wire_dict_apply(wd, &b, ERR, sizeof ERR), CP_EDANGLING);
    ck_assert_uint_eq(cp_wire_dict_stacks(wd), 0);
    st[1] = (cp_wire_stack_t){f1, 1, 3, 0};                     /* whole stack 0 + one frame */
    ck_assert_int_eq(cp_wire_dict_apply(wd, &b, ERR, sizeof ERR), 0);
    uint32_t n;
    cp_wire_dict_stack(wd, 1, &n);
    ck_assert_uint_eq(n, 4);
    /* a later batch refers back to stack 1 */
    cp_wire_stack_t st2[] = {{NULL, 0, 2, 1}};
    cp_batch_t b2 = { .seq = 2, .end_ms = 1, .stack_first = 2, .stacks = st2, .n_stacks = 1 };
    ck_assert_int_eq(cp_wire_dict_apply(wd, &b2, ERR, sizeof ERR), 0);
    cp_wire_dict_stack(wd, 2, &n);
    ck_assert_uint_eq(n, 2);
    cp_wire_dict_destroy(wd);
}
END_TEST

START_TEST(test_wire_strtab_finds_every_entry)
{
    const cp_wire_strtab_t *t = &cp_wire_strtab1;
    ck_assert_uint_gt(t->n, 100);
    for (uint32_t i = 0; i < t->n; i++)
        REQ(cp_wire_strtab_find(t, t->strs[i], strlen(t->strs[i])) == (int32_t)i);
    ck_assert_int_eq(cp_wire_strtab_find(t, "no.such.Klass", 13), -1);
    ck_assert_int_eq(cp_wire_strtab_find(t, "libjvm.so", 8), -1);   /* a prefix is not a hit */
    ck_assert_uint_le(cp_wire_zdict1.len, 32768);
    ck_assert_uint_eq(adler32(1, cp_wire_zdict1.data, (uInt)cp_wire_zdict1.len), cp_wire_zdict1.id);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_test(tc, test_wire_hello_round_trips);
    tcase_add_test(tc, test_wire_hello_absent_strings_decode_as_empty);
    tcase_add_test(tc, test_wire_small_kinds_round_trip);
    tcase_add_test(tc, test_wire_control_keys_and_ack_round_trip);
    tcase_add_test(tc, test_wire_batch_round_trips);
    tcase_add_test(tc, test_wire_batch_agent_state_round_trips_and_is_optional);
    tcase_add_test(tc, test_wire_encode_appends_after_headroom);
    tcase_add_test(tc, test_wire_encode_rejects_bad_input_and_leaves_out_alone);
    tcase_add_test(tc, test_wire_kind_names);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wire_big_batch_round_trips_compressed);
    suite_add_tcase(s, tc);

    tc = tcase_create("dict");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wire_dict_deltas_across_batches_resend_nothing);
    tcase_add_test(tc, test_wire_dict_gap_and_dangling_are_rejected_unchanged);
    tcase_add_test(tc, test_wire_dict_reset_restarts_ids);
    tcase_add_test(tc, test_wire_dict_reset_round_trips_through_encoder);
    tcase_add_test(tc, test_wire_dict_limits_apply);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wire_every_truncation_is_rejected);
    tcase_add_test(tc, test_wire_truncated_payload_with_matching_header_is_rejected);
    tcase_add_test(tc, test_wire_envelope_errors_have_their_codes);
    tcase_add_test(tc, test_wire_bad_zlib_is_rejected);
    tcase_add_test(tc, test_wire_zlib_bomb_is_bounded_by_declared_length);
    tcase_add_test(tc, test_wire_wrong_types_are_rejected_with_location);
    tcase_add_test(tc, test_wire_ranges_are_checked);
    tcase_add_test(tc, test_wire_missing_required_fields_are_rejected);
    tcase_add_test(tc, test_wire_unknown_keys_and_extra_tuple_elements_are_skipped);
    tcase_add_test(tc, test_wire_any_int_encoding_and_float32_are_accepted);
    tcase_add_test(tc, test_wire_duplicate_key_and_reserved_byte_are_malformed);
    tcase_add_test(tc, test_wire_deep_nesting_in_unknown_key_is_rejected);
    tcase_add_test(tc, test_wire_claimed_counts_beyond_input_are_truncation);
    tcase_add_test(tc, test_wire_in_message_dangling_references_are_rejected);
    tcase_add_test(tc, test_wire_limits_are_respected);
    tcase_add_test(tc, test_wire_err_buffer_is_always_terminated);
    suite_add_tcase(s, tc);

    tc = tcase_create("encodings");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wire_encodings_are_named_and_negotiated);
    tcase_add_test(tc, test_wire_python_kind_only_to_relays_that_accept_it);
    tcase_add_test(tc, test_wire_encodings_round_trip_in_every_combination);
    tcase_add_test(tc, test_wire_encodings_shrink_a_jvm_like_batch);
    tcase_add_test(tc, test_wire_encode_ex_rejects_what_it_cannot_send);
    tcase_add_test(tc, test_wire_compact_malformations_have_their_codes);
    tcase_add_test(tc, test_wire_plain_and_compact_key_together_are_malformed);
    tcase_add_test(tc, test_wire_unknown_preset_dictionary_is_rejected);
    tcase_add_test(tc, test_wire_dict_apply_checks_stack_references);
    tcase_add_test(tc, test_wire_strtab_finds_every_entry);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
