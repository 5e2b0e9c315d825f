/* wire_layout.c - the payload layout of every message kind, and the
 * semantic rules both sides check (see wire_layout.h).
 *
 * Batch dictionary fields (keys 6-8, 12-13) carry off = first-id member and
 * off_n = count member; the array member is found by type. Keys 12-14 are
 * the compact forms (compact1, wire_compact.c) of keys 7-9: a batch
 * carries one of each pair.
 *
 * Thread: any; constant tables only. */
#include "wire_layout.h"
#include "error.h"

#define FLD(k, t, fl, S, m)        { k, t, fl, #m, offsetof(S, m), 0 }
#define FLDN(k, t, fl, S, m, n)    { k, t, fl, #m, offsetof(S, m), offsetof(S, n) }
#define FLDD(k, t, S, m, n, name)  { k, t, 0, name, offsetof(S, m), offsetof(S, n) }

static const cp__wire_field_t FIELDS_HELLO[] = {
    FLD(1,  FT_U32, F_REQ, cp_hello_t, proto),
    FLD(2,  FT_STR, F_REQ | F_NONEMPTY, cp_hello_t, app),
    FLD(3,  FT_STR, F_REQ, cp_hello_t, instance),
    FLD(4,  FT_STR, 0, cp_hello_t, host),
    FLD(5,  FT_U32, 0, cp_hello_t, pid),
    FLD(6,  FT_U64, 0, cp_hello_t, start_ms),
    FLD(7,  FT_STR, 0, cp_hello_t, jvm_vendor),
    FLD(8,  FT_STR, 0, cp_hello_t, jvm_version),
    FLD(9,  FT_STR, 0, cp_hello_t, agent_version),
    FLDN(10, FT_KV, 0, cp_hello_t, labels, n_labels),
    FLDN(11, FT_STRARR, 0, cp_hello_t, caps, n_caps),
    FLD(12, FT_STR, 0, cp_hello_t, token),
    FLD(13, FT_STR, 0, cp_hello_t, runtime),
    FLDN(14, FT_STRARR, 0, cp_hello_t, enc, n_enc),
};

static const cp__wire_field_t FIELDS_WELCOME[] = {
    FLD(1, FT_U32, F_REQ, cp_welcome_t, proto),
    FLD(2, FT_STR, 0, cp_welcome_t, relay_version),
    FLD(3, FT_STR, 0, cp_welcome_t, session),
    FLD(4, FT_U64, 0, cp_welcome_t, last_seq),
    FLD(5, FT_U32, 0, cp_welcome_t, max_message),
    FLDN(6, FT_STRARR, 0, cp_welcome_t, enc, n_enc),
    FLDN(7, FT_KV, 0, cp_welcome_t, defaults, n_defaults),
    FLDN(8, FT_STRARR, 0, cp_welcome_t, features, n_features),
};

/* Batch dictionary fields: off = first-id member, off_n = count member; the
 * array member is found by type. */
static const cp__wire_field_t FIELDS_BATCH[] = {
    FLD(1,  FT_U64, F_REQ, cp_batch_t, seq),
    FLD(2,  FT_U64, F_REQ, cp_batch_t, start_ms),
    FLD(3,  FT_U64, F_REQ, cp_batch_t, end_ms),
    FLD(4,  FT_U32, 0, cp_batch_t, flags),
    FLDN(5,  FT_TYPES, 0, cp_batch_t, types, n_types),
    FLDD(6,  FT_DSTRS, cp_batch_t, str_first, n_strs, "strings"),
    FLDD(7,  FT_DFRAMES, cp_batch_t, frame_first, n_frames, "frames"),
    FLDD(8,  FT_DSTACKS, cp_batch_t, stack_first, n_stacks, "stacks"),
    FLDN(9,  FT_VALUES, 0, cp_batch_t, values, n_values),
    FLDN(10, FT_COUNTERS, 0, cp_batch_t, counters, n_counters),
    FLDN(11, FT_POINTS, 0, cp_batch_t, points, n_points),
    FLDD(12, FT_CFRAMES, cp_batch_t, frame_first, n_frames, "frames (compact)"),
    FLDD(13, FT_CSTACKS, cp_batch_t, stack_first, n_stacks, "stacks (compact)"),
    FLDN(14, FT_CVALUES, 0, cp_batch_t, values, n_values),
    FLDD(15, FT_DLSETS, cp_batch_t, lset_first, n_lsets, "label sets"),
    FLDN(16, FT_LVALUES, 0, cp_batch_t, lvalues, n_lvalues),
    FLDN(17, FT_TRACES, 0, cp_batch_t, traces, n_traces),
    FLDN(18, FT_COUNTERS, 0, cp_batch_t, state, n_state),
};

static const cp__wire_field_t FIELDS_ACK[] = {
    FLD(1, FT_U64, F_REQ, cp_ack_t, seq),
};

static const cp__wire_field_t FIELDS_HEARTBEAT[] = {
    FLD(1, FT_U64, 0, cp_heartbeat_t, t_ms),
};

static const cp__wire_field_t FIELDS_CONTROL[] = {
    FLD(1, FT_STR, F_REQ | F_NONEMPTY, cp_control_t, command),
    FLDN(2, FT_KV, 0, cp_control_t, options, n_options),
    FLD(3, FT_STR, 0, cp_control_t, id),
    FLD(4, FT_U64, 0, cp_control_t, for_ms),
    FLD(5, FT_STR, 0, cp_control_t, scope),
};

static const cp__wire_field_t FIELDS_CONTROL_ACK[] = {
    FLD(1, FT_STR, F_REQ, cp_control_ack_t, id),
    FLD(2, FT_STR, 0, cp_control_ack_t, event),
    FLDN(3, FT_KV, 0, cp_control_ack_t, applied, n_applied),
    FLDN(4, FT_KV, 0, cp_control_ack_t, refused, n_refused),
    FLDN(5, FT_KV, 0, cp_control_ack_t, effective, n_effective),
    FLD(6, FT_U64, 0, cp_control_ack_t, until_ms),
    FLD(7, FT_U64, 0, cp_control_ack_t, t_ms),
};

static const cp__wire_field_t FIELDS_ERROR[] = {
    FLD(1, FT_I32, F_REQ, cp_error_msg_t, code),
    FLD(2, FT_STR, 0, cp_error_msg_t, message),
    FLD(3, FT_BOOL, 0, cp_error_msg_t, fatal),
    FLD(4, FT_U32, 0, cp_error_msg_t, retry_after_ms),
};

#define LAYOUT(a) { a, sizeof(a) / sizeof(a[0]) }
const cp__wire_layout_t cp__wire_layouts[CP_MSG_KIND_MAX + 1] = {
    [CP_MSG_HELLO] = LAYOUT(FIELDS_HELLO),     [CP_MSG_WELCOME] = LAYOUT(FIELDS_WELCOME),
    [CP_MSG_BATCH] = LAYOUT(FIELDS_BATCH),     [CP_MSG_ACK] = LAYOUT(FIELDS_ACK),
    [CP_MSG_HEARTBEAT] = LAYOUT(FIELDS_HEARTBEAT), [CP_MSG_CONTROL] = LAYOUT(FIELDS_CONTROL),
    [CP_MSG_ERROR] = LAYOUT(FIELDS_ERROR),     [CP_MSG_CONTROL_ACK] = LAYOUT(FIELDS_CONTROL_ACK),
};

/* Number of dictionary entries the encoder will send for a delta field. */
uint32_t cp__wire_delta_count(const cp_batch_t *b, uint8_t type)
{
    if (type == FT_CFRAMES)
        type = FT_DFRAMES;
    else if (type == FT_CSTACKS)
        type = FT_DSTACKS;
    if (!b->dict) {
        switch (type) {
        case FT_DSTRS:   return b->n_strs;
        case FT_DFRAMES: return b->n_frames;
        default:         return b->n_stacks;
        }
    }
    uint32_t first, count;
    switch (type) {
    case FT_DSTRS:   first = b->str_first;   count = cp_stack_dict_strings(b->dict); break;
    case FT_DFRAMES: first = b->frame_first; count = cp_stack_dict_frames(b->dict); break;
    default:         first = b->stack_first; count = cp_stack_dict_stacks(b->dict); break;
    }
    return count > first ? count - first : 0;
}

static int validate_batch(const cp_batch_t *b, bool refs, const cp_wire_limits_t *lim, cp__wire_err_t *e)
{
    if (b->seq == 0)
        return cp__wire_fail(e, CP_ERANGE, "batch key 1: seq is 0 (seqs start at 1)");
    if (b->end_ms < b->start_ms)
        return cp__wire_fail(e, CP_ERANGE, "batch key 3: end_ms %llu before start_ms %llu",
                             (unsigned long long)b->end_ms, (unsigned long long)b->start_ms);
    if (!refs)
        return 0;
    /* Inside one message an id is surely dangling when this batch defines
     * part of its table and the id is past the end of that part; ids below
     * the first one are earlier batches' business (cp_wire_dict_apply). */
    uint64_t str_end = (uint64_t)b->str_first + b->n_strs;
    uint64_t frame_end = (uint64_t)b->frame_first + b->n_frames;
    uint64_t stack_end = (uint64_t)b->stack_first + b->n_stacks;
    for (uint32_t i = 0; i < b->n_frames; i++) {
        const cp_frame_t *f = &b->frames[i];
        if (b->n_strs && (f->class_id >= str_end || f->method_id >= str_end || f->sig_id >= str_end))
            return cp__wire_fail(e, CP_EDANGLING, "batch key 7: frame %u: string id %u not defined",
                                 b->frame_first + i,
                                 f->class_id >= str_end ? f->class_id : f->method_id >= str_end ? f->method_id : f->sig_id);
    }
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        const cp_wire_stack_t *s = &b->stacks[i];
        if (!b->n_frames)
            break;
        for (uint32_t j = 0; j < s->n; j++)
            if (s->frames[j] >= frame_end)
                return cp__wire_fail(e, CP_EDANGLING, "batch key 8: stack %u: frame id %u not defined",
                                     b->stack_first + i, s->frames[j]);
    }
    for (uint32_t i = 0; i < b->n_values; i++) {
        const cp_wire_value_t *v = &b->values[i];
        if (v->type >= b->n_types)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 9: value %u: type %u not in key 5 (%u types)",
                                 i, v->type, b->n_types);
        if (b->n_stacks && v->stack >= stack_end)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 9: value %u: stack id %u not defined", i, v->stack);
    }
    uint64_t lset_end = (uint64_t)b->lset_first + b->n_lsets;
    for (uint32_t i = 0; i < b->n_lvalues; i++) {
        const cp_wire_lvalue_t *v = &b->lvalues[i];
        if (v->type >= b->n_types)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 16: value %u: type %u not in key 5 (%u types)",
                                 i, v->type, b->n_types);
        if (b->n_stacks && v->stack >= stack_end)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 16: value %u: stack id %u not defined", i, v->stack);
        if (b->n_lsets && v->lset >= lset_end)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 16: value %u: label set %u not defined", i, v->lset);
    }
    for (uint32_t i = 0; i < b->n_traces; i++) {
        const cp_wire_trace_t *t = &b->traces[i];
        if (t->type >= b->n_types)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 17: entry %u: type %u not in key 5 (%u types)",
                                 i, t->type, b->n_types);
        if (b->n_stacks && t->stack >= stack_end)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 17: entry %u: stack id %u not defined", i, t->stack);
        if (b->n_strs && t->thread >= str_end)
            return cp__wire_fail(e, CP_EDANGLING, "batch key 17: entry %u: string id %u not defined", i, t->thread);
    }
    (void)lim;
    return 0;
}

int cp__wire_validate(const cp_msg_t *m, bool refs, const cp_wire_limits_t *lim, cp__wire_err_t *e)
{
    switch (m->kind) {
    case CP_MSG_HELLO:
        if (m->u.hello.proto != CP_WIRE_VERSION)
            return cp__wire_fail(e, CP_EVERSION, "hello key 1: proto %u, this side speaks %d",
                                 m->u.hello.proto, CP_WIRE_VERSION);
        return 0;
    case CP_MSG_WELCOME:
        if (m->u.welcome.proto != CP_WIRE_VERSION)
            return cp__wire_fail(e, CP_EVERSION, "welcome key 1: proto %u, this side speaks %d",
                                 m->u.welcome.proto, CP_WIRE_VERSION);
        return 0;
    case CP_MSG_BATCH:
        return validate_batch(&m->u.batch, refs, lim, e);
    default:
        return 0;
    }
}
