/* gen_corpus.c - writes fuzz_wire's seed corpus from valid encoded messages.
 *
 * Usage: wire_fuzz_gen_corpus DIR. Each file is a fuzz_wire input: messages
 * with 16-bit little-endian length prefixes. Seeds cover every kind, both
 * compressed and not, and batch sequences with dictionary deltas and a
 * reset, as an agent would send them (through a cp_stack_dict). */
#include "error.h"
#include "stack_dict.h"
#include "wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cp_buf_t seq;   /* current seed */

static void add_ex(const cp_msg_t *m, int level, uint32_t enc)
{
    cp_buf_t b = CP_BUF_INIT;
    cp_wire_encopt_t o = {level, enc};
    int rc = cp_wire_encode_ex(m, &o, &b);
    if (rc || b.len > 0xffff) {
        fprintf(stderr, "gen_corpus: encode %s: %s\n", cp_wire_kind_name(m->kind), cp_errname(rc));
        exit(1);
    }
    uint8_t lp[2] = {(uint8_t)b.len, (uint8_t)(b.len >> 8)};
    cp_buf_append(&seq, lp, 2);
    cp_buf_append(&seq, b.data, b.len);
    cp_buf_fini(&b);
}

static void add(const cp_msg_t *m, int level)
{
    add_ex(m, level, 0);
}

static void save(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/seed-%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(seq.data, 1, seq.len, f) != seq.len || fclose(f) != 0) {
        perror(p);
        exit(1);
    }
    cp_buf_reset(&seq);
}

static uint32_t stack(cp_stack_dict_t *sd, uint32_t seed, uint32_t depth, bool jvm)
{
    uint32_t fr[8];
    for (uint32_t i = 0; i < depth && i < 8; i++) {
        char c[32], m[32];
        /* jvm: names of the static string table too (strtab1 references) */
        snprintf(c, sizeof c, "%s", jvm && i < 2 ? "libjvm.so" : "a.C");
        if (!jvm || i >= 2)
            snprintf(c, sizeof c, "a.C%u", (seed + i) % 3);
        snprintf(m, sizeof m, "%s", jvm && i == 0 ? "start_thread" : jvm && i == 1 ? "Thread::call_run" : "m");
        if (!jvm || i >= 2)
            snprintf(m, sizeof m, "m%u", (seed + 2 * i) % 4);
        cp_frame_t f = { .line = (int32_t)i - 1, .kind = (uint8_t)(i % (CP_FRAME_KIND_MAX + 1)) };
        cp_stack_dict_intern_string(sd, c, strlen(c), &f.class_id);
        cp_stack_dict_intern_string(sd, m, strlen(m), &f.method_id);
        cp_stack_dict_intern_string(sd, "()V", 3, &f.sig_id);
        cp_stack_dict_intern_frame(sd, &f, &fr[i]);
    }
    uint32_t id;
    cp_stack_dict_intern_stack(sd, fr, depth, &id);
    return id;
}

/* Four batches through one agent dictionary: new stacks, some repeats plus
 * new ones, repeats only (no delta at all: the steady state), then a reset.
 * enc: the encodings (compact1 needs a dictionary tracking prefixes). */
static void batches(int level, uint32_t enc)
{
    static const cp_sample_type_t types[] = {{"cpu", "ns"}, {"alloc_bytes", "bytes"}};
    static const cp_counter_t ctr[] = {{"samples.cpu", 9}, {"fail.unknown_Java", 2}, {"drop.ring", 0}};
    static const cp_point_t pts[] = {{"gc.pause_ns", 1700000000100ull, 1.5e6}, {"threads.runnable", 1700000000200ull, 7}};
    cp_stack_dict_t *sd = cp_stack_dict_create();
    if (enc)
        cp_stack_dict_track_prefixes(sd);
    uint32_t sent_s = 0, sent_f = 0, sent_k = 0;
    for (int round = 0; round < 4; round++) {
        if (round == 3) {
            cp_stack_dict_clear(sd);
            sent_s = sent_f = sent_k = 0;
        }
        cp_wire_value_t v[6];
        uint32_t nv = 0;
        for (uint32_t s = 0; s < (round == 1 ? 6u : round == 2 ? 5u : 4u); s++)
            v[nv++] = (cp_wire_value_t){ stack(sd, s, 1 + s % 5, enc != 0), s % 2, 1000u * (s + 1) };
        /* request context (keys 15-17): sets defined in rounds 1 and 3
         * (after the reset), used in rounds 1-3 */
        static const cp_kv_t l0[] = {{"endpoint", "GET /orders/{n}"}};
        static const cp_kv_t l1[] = {{"endpoint", "POST /pay"}, {"tenant", "acme"}};
        static const cp_wire_lset_t ls[] = {{l0, 1}, {l1, 2}};
        cp_wire_lvalue_t lv[2] = {{v[0].stack, v[0].type, 0, 500}, {v[1].stack, v[1].type, 1, 1000}};
        cp_wire_trace_t tr[1] = {{0x0af7651916cd43ddull, 0x8448eb211c80319cull, 0xb7ad6b7169203331ull,
                                  0, v[0].stack, v[0].type, 400}};
        cp_msg_t m = { .kind = CP_MSG_BATCH };
        m.u.batch = (cp_batch_t){ .seq = 1 + (uint64_t)round, .start_ms = 1700000000000ull + 10000u * round,
                                  .end_ms = 1700000010000ull + 10000u * round,
                                  .flags = round == 3 ? CP_BATCH_DICT_RESET : 0,
                                  .types = types, .n_types = 2, .values = v, .n_values = nv,
                                  .counters = ctr, .n_counters = round ? 3 : 0,
                                  .points = pts, .n_points = round == 1 ? 2 : 0,
                                  .str_first = sent_s, .frame_first = sent_f, .stack_first = sent_k,
                                  .dict = sd };
        if (round >= 1) {
            m.u.batch.lsets = ls;
            m.u.batch.n_lsets = round == 2 ? 0 : 2;
            m.u.batch.lvalues = lv;
            m.u.batch.n_lvalues = 2;
            m.u.batch.traces = tr;
            m.u.batch.n_traces = 1;
        }
        static const cp_counter_t st[] = {{"interval.cpu_ns", 80000000}, {"overhead.minute_ppm", 4200}};
        if (round == 2) {   /* key 18: the agent's state */
            m.u.batch.state = st;
            m.u.batch.n_state = 2;
        }
        add_ex(&m, level, enc);
        sent_s = cp_stack_dict_strings(sd);
        sent_f = cp_stack_dict_frames(sd);
        sent_k = cp_stack_dict_stacks(sd);
    }
    cp_stack_dict_destroy(sd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    static const cp_kv_t labels[] = {{"env", "prod"}};
    static const char *const caps[] = {"cpu", "alloc"};
    cp_msg_t hello = { .kind = CP_MSG_HELLO };
    hello.u.hello = (cp_hello_t){ .proto = 1, .app = "shop", .instance = "i-1", .host = "h",
                                  .pid = 42, .start_ms = 1700000000000ull, .jvm_vendor = "v",
                                  .jvm_version = "17", .agent_version = "0.1.0", .labels = labels,
                                  .n_labels = 1, .caps = caps, .n_caps = 2, .token = "",
                                  .runtime = "jvm" };
    add(&hello, 0);
    save(dir, "hello");
    add(&hello, 6);
    save(dir, "hello-zlib");

    cp_msg_t w = { .kind = CP_MSG_WELCOME };
    w.u.welcome = (cp_welcome_t){ .proto = 1, .relay_version = "0.1.0", .session = "s", .last_seq = 3,
                                  .max_message = 1u << 24 };
    add(&w, 0);
    cp_msg_t a = { .kind = CP_MSG_ACK };
    a.u.ack.seq = 3;
    add(&a, 0);
    cp_msg_t h = { .kind = CP_MSG_HEARTBEAT };
    h.u.heartbeat.t_ms = 1700000000000ull;
    add(&h, 1);
    static const cp_kv_t opts[] = {{"cpu", "10ms"}};
    cp_msg_t c = { .kind = CP_MSG_CONTROL };
    c.u.control = (cp_control_t){ .command = "configure", .options = opts, .n_options = 1 };
    add(&c, 0);
    cp_msg_t e = { .kind = CP_MSG_ERROR };
    e.u.error = (cp_error_msg_t){ .code = CP_EGAP, .message = "batch key 6", .fatal = true };
    add(&e, 0);
    save(dir, "relay-side");

    add(&hello, 0);
    batches(0, 0);
    save(dir, "session");
    batches(6, 0);
    save(dir, "batches-zlib");

    /* negotiated encodings: hello offers, welcome accepts, batches use them */
    static const char *const encs[] = {"zdict1", "compact1", "strtab1"};
    hello.u.hello.enc = encs;
    hello.u.hello.n_enc = 3;
    add(&hello, 0);
    w.u.welcome.enc = encs;
    w.u.welcome.n_enc = 3;
    add(&w, 0);
    save(dir, "negotiation");
    add(&hello, 0);
    batches(0, CP_WIRE_ENC_COMPACT1 | CP_WIRE_ENC_STRTAB1);
    save(dir, "session-compact");
    batches(6, CP_WIRE_ENC_ALL);
    save(dir, "batches-all-encodings");
    cp_buf_fini(&seq);
    return 0;
}
