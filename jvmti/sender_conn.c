/* sender_conn.c - the messages the sender writes on one connection (see
 * sender_conn.h): hello, heartbeat, and batches with the dictionary delta
 * this connection has not seen yet.
 *
 * Thread: sender only (the caller holds the dictionary lock for batches).
 * Invariant: c->strs/frames/stacks only grow within one generation, and
 * only after a batch carrying those entries was encoded. */
#include "sender_conn.h"

#include "error.h"
#include "harvest.h"
#include "log.h"
#include "lsets.h"
#include "wire.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#define BIG_DELTA 20000   /* dictionary entries: deflate at level 1 */
/* Batches: zlib level 6. Against 9, over every batch of a javac run
 * (jdk.compiler, cpu=10ms, overhead=off) 64,436 B vs 64,083 (+0.55%) in
 * 11.1 ms of the sender's CPU vs 18.9; H2: +0.3%, 3.4 vs 5.2 ms. Level 5
 * and below lose 1.2-11%. */
#define LEVEL 6

void cp_sender_conn_welcome(cp_sender_conn_t *c, uint32_t enc, const char *const *features, uint32_t n,
                            uint32_t gen)
{
    c->strs = c->frames = c->stacks = c->lsets = 0;
    c->enc = enc;
    c->gen = gen;
    c->control_acks = false;
    for (uint32_t i = 0; i < n; i++)
        c->control_acks |= !strcmp(features[i], CP_WIRE_FEATURE_CONTROL_ACK);
}

bool cp_sender_conn_hello_differs(const cp_options_t *a, const cp_options_t *b)
{
    if (strcmp(a->relay, b->relay) || strcmp(a->token, b->token) || a->n_labels != b->n_labels ||
        !a->cpu_ns != !b->cpu_ns || !a->wall_ns != !b->wall_ns ||
        !a->alloc_bytes != !b->alloc_bytes || !a->lock_ns != !b->lock_ns)
        return true;
    for (uint32_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i].key, b->labels[i].key) || strcmp(a->labels[i].value, b->labels[i].value))
            return true;
    return false;
}

/* Encodes m into tx after LWS_PRE bytes of headroom. */
static int encode(cp_buf_t *tx, const cp_msg_t *m, int level, uint32_t enc)
{
    cp_buf_reset(tx);
    if (cp_buf_reserve(tx, LWS_PRE) != 0)
        return CP_ENOMEM;
    memset(tx->data, 0, LWS_PRE);
    tx->len = LWS_PRE;
    cp_wire_encopt_t o = {level, enc};
    return cp_wire_encode_ex(m, &o, tx);
}

int cp_sender_conn_hello(cp_buf_t *tx, const cp_options_t *cfg, const char *app,
                         const cp_sender_identity_t *id)
{
    cp_kv_t labels[CP_OPT_MAX_LABELS];
    const char *caps[8], *enc[8];
    uint32_t ncaps = 0;
    cp_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = CP_MSG_HELLO;
    cp_hello_t *h = &m.u.hello;
    h->proto = CP_WIRE_VERSION;
    h->app = app;
    h->instance = id->instance;
    h->host = id->host;
    h->pid = id->pid;
    h->start_ms = id->start_ms;
    h->jvm_vendor = id->jvm_vendor;
    h->jvm_version = id->jvm_version;
    h->agent_version = CPROF_VERSION;
    for (uint32_t i = 0; i < cfg->n_labels; i++)
        labels[i] = (cp_kv_t){cfg->labels[i].key, cfg->labels[i].value};
    h->labels = labels;
    h->n_labels = cfg->n_labels;
    if (cfg->cpu_ns) caps[ncaps++] = "cpu";
    if (cfg->wall_ns) caps[ncaps++] = "wall";
    if (cfg->alloc_bytes) caps[ncaps++] = "alloc";
    if (cfg->lock_ns) caps[ncaps++] = "lock";
    caps[ncaps++] = CP_WIRE_CAP_CONTROL1;   /* timed controls and control_ack (control_run.h) */
    h->caps = caps;
    h->n_caps = ncaps;
    h->token = cfg->token;
    h->runtime = "jvm";
    h->enc = enc;
    h->n_enc = cp_wire_enc_names(CP_WIRE_ENC_ALL, enc);
    return encode(tx, &m, LEVEL, 0);
}

int cp_sender_conn_heartbeat(cp_buf_t *tx, const cp_sender_conn_t *c, uint64_t t_ms)
{
    cp_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = CP_MSG_HEARTBEAT;
    m.u.heartbeat.t_ms = t_ms;
    return encode(tx, &m, LEVEL, c->enc);
}

/* Debug log: what one batch's dictionary delta holds (where the bytes go).
 * tx holds the encoded batch; its envelope carries the payload length
 * before compression (bytes 8..11, big-endian). */
static void log_dict_delta(const cp_buf_t *tx, const cp_stack_dict_t *d, uint64_t seq, uint32_t s0,
                           uint32_t f0, uint32_t k0, const cp_batch_t *b)
{
    size_t str_bytes = 0, stack_ids = 0;
    uint32_t ns = cp_stack_dict_strings(d), nf = cp_stack_dict_frames(d), nk = cp_stack_dict_stacks(d);
    for (uint32_t i = s0; i < ns; i++) {
        size_t len = 0;
        cp_stack_dict_string(d, i, &len);
        str_bytes += len;
    }
    for (uint32_t i = k0; i < nk; i++) {
        uint32_t n = 0;
        cp_stack_dict_stack(d, i, &n);
        stack_ids += n;
    }
    const uint8_t *h = tx->data + LWS_PRE;
    uint32_t raw = tx->len - LWS_PRE >= 12 ? (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11] : 0;
    CP_LOGD("batch %llu delta: %u strings (%zu bytes), %u frames, %u stacks (%zu frame ids), %u label sets,"
            " %u values (%u labelled parts, %u trace entries); payload %u bytes raw, %zu on the wire",
            (unsigned long long)seq, ns - s0, str_bytes, nf - f0, nk - k0, stack_ids, b->n_lsets, b->n_values,
            b->n_lvalues, b->n_traces, raw, tx->len - LWS_PRE);
}

int cp_sender_conn_batch(cp_buf_t *tx, cp_sender_conn_t *c, const cp_pending_t *p,
                         const cp_stack_dict_t *d, uint32_t gen)
{
    cp_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = CP_MSG_BATCH;
    cp_batch_t *b = &m.u.batch;
    if (c->gen != gen) {           /* dictionary was cleared since this connection began */
        b->flags |= CP_BATCH_DICT_RESET;
        c->strs = c->frames = c->stacks = c->lsets = 0;
        c->gen = gen;
    }
    b->seq = p->seq;
    b->start_ms = p->start_ms;
    b->end_ms = p->end_ms;
    b->types = cp_harvest_types;
    b->n_types = CP_TYPE__COUNT;
    b->str_first = c->strs;
    b->frame_first = c->frames;
    b->stack_first = c->stacks;
    b->values = p->values;
    b->n_values = p->n_values;
    b->counters = p->counters;
    b->n_counters = p->n_counters;
    b->points = p->points;
    b->n_points = p->n_points;
    b->lvalues = p->lvalues;
    b->n_lvalues = p->n_lvalues;
    b->traces = p->traces;
    b->n_traces = p->n_traces;
    b->state = p->state;
    b->n_state = p->n_state;
    b->dict = d;
    /* label sets the relay lacks: every set the agent has (wire id = agent
     * id - 1), so any batch still queued finds its sets */
    uint32_t nl = cp_lsets_count() - 1;
    cp_wire_lset_t *ls = NULL;
    if (nl > c->lsets) {
        ls = malloc(sizeof *ls * (nl - c->lsets));
        if (!ls)
            return CP_ENOMEM;
        for (uint32_t i = c->lsets; i < nl; i++)
            ls[i - c->lsets].kv = cp_lsets_get(i + 1, &ls[i - c->lsets].n);
        b->lset_first = c->lsets;
        b->lsets = ls;
        b->n_lsets = nl - c->lsets;
    }
    /* The harvester waits on the dictionary lock while we encode. A batch
     * carrying a big dictionary delta (the first one after a reconnect
     * resends the whole dictionary) is deflated at level 1: level 9 took
     * several times longer, long enough to stall the harvester's drain. */
    uint32_t delta = (cp_stack_dict_strings(d) - c->strs) + (cp_stack_dict_frames(d) - c->frames) +
                     (cp_stack_dict_stacks(d) - c->stacks);
    uint64_t t_enc = cp_now_ms();
    int rc = encode(tx, &m, delta > BIG_DELTA ? 1 : LEVEL, c->enc);
    free(ls);
    t_enc = cp_now_ms() - t_enc;
    if (t_enc >= 50)
        CP_LOGI("batch %llu: %u dictionary entries encoded in %llu ms (dictionary locked meanwhile)",
                (unsigned long long)p->seq, delta, (unsigned long long)t_enc);
    if (rc)
        return rc;
    if (cp_log_level() >= CP_LOG_DEBUG)
        log_dict_delta(tx, d, p->seq, b->str_first, b->frame_first, b->stack_first, b);
    c->strs = cp_stack_dict_strings(d);
    c->frames = cp_stack_dict_frames(d);
    c->stacks = cp_stack_dict_stacks(d);
    if (nl > c->lsets)
        c->lsets = nl;
    return 0;
}
