/* wire.h - cprof wire format v1: the one definition of every message.
 *
 * One message per websocket binary frame. docs/protocol.md is the reader's
 * version of this header (byte layout, field table per kind); keep them equal.
 *
 * Envelope (12 bytes, then the payload):
 *
 *   offset size  field
 *   0      2     magic 'C' 'P' (0x43 0x50)
 *   2      1     protocol version, CP_WIRE_VERSION (1)
 *   3      1     kind (cp_msg_kind_t)
 *   4      1     flags: bit 0 = payload is a zlib stream (RFC 1950); others 0
 *   5      3     reserved, 0
 *   8      4     payload length once uncompressed, big-endian uint32
 *   12     ...   payload: one msgpack map {uint key -> value}; keys per kind
 *                below; unknown keys are skipped (forward compatibility)
 *
 * Dictionary deltas (batch): each connection has its own dictionary of
 * strings, frames and stacks with dense ids starting at 0. A batch carries
 * the entries the receiver has not seen yet, as "first id + list"; the first
 * id must equal the receiver's current count (else CP_EGAP; an absent or
 * empty list adds nothing and is not checked). Frames refer to
 * strings, stacks to frames, values to stacks: by id, defined in this batch
 * or an earlier one of the same connection (else CP_EDANGLING). A new
 * connection starts an empty dictionary; so does a batch with
 * CP_BATCH_DICT_RESET.
 *
 * Encodings (hello key 14 / welcome key 6, CP_WIRE_ENC_*): zdict1 (zlib
 * preset dictionary), strtab1 (static string table references in key 6),
 * compact1 (batch keys 12-14 for 7-9). Opt-in per connection; the
 * protocol version stays 1.
 *
 * Decoding never trusts input: every size and count is checked against
 * cp_wire_limits_t before memory is reserved for it.
 *
 * Thread: any; no global state. Not signal-safe (allocates). */
#ifndef CP_WIRE_H
#define CP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stack_dict.h"

#define CP_WIRE_VERSION     1
#define CP_WIRE_HEADER_SIZE 12
#define CP_WIRE_FLAG_ZLIB   0x01

typedef enum cp_msg_kind {
    CP_MSG_HELLO     = 1,   /* agent -> relay, first message of a connection */
    CP_MSG_WELCOME   = 2,   /* relay -> agent, answer to hello */
    CP_MSG_BATCH     = 3,   /* agent -> relay, one aggregated time window */
    CP_MSG_ACK       = 4,   /* relay -> agent, highest seq durably stored */
    CP_MSG_HEARTBEAT = 5,   /* either way, keeps idle connections honest */
    CP_MSG_CONTROL   = 6,   /* relay -> agent, start/stop/reconfigure */
    CP_MSG_ERROR     = 7,   /* either way, then usually close */
    CP_MSG_CONTROL_ACK = 8, /* agent -> relay, answer to a control with an id; sent only
                               when the welcome lists CP_WIRE_FEATURE_CONTROL_ACK
                               (a relay older than kind 8 closes on it: CP_EKIND) */
    CP_MSG_KIND_MAX  = 8
} cp_msg_kind_t;

typedef struct cp_kv {
    const char *key;
    const char *value;
} cp_kv_t;

typedef struct cp_str {          /* a string of known length, NUL-terminated when decoded */
    const char *s;
    uint32_t    len;
} cp_str_t;

/* hello: who the agent is. Strings are never NULL once decoded ("" if absent). */
typedef struct cp_hello {
    uint32_t        proto;          /* key 1  uint, required: CP_WIRE_VERSION (encoder: 0 -> 1) */
    const char     *app;            /* key 2  str, required, non-empty */
    const char     *instance;       /* key 3  str, required: stable id of this JVM run */
    const char     *host;           /* key 4  str */
    uint32_t        pid;            /* key 5  uint */
    uint64_t        start_ms;       /* key 6  uint: process start, unix ms */
    const char     *jvm_vendor;     /* key 7  str */
    const char     *jvm_version;    /* key 8  str */
    const char     *agent_version;  /* key 9  str */
    const cp_kv_t  *labels;         /* key 10 map str->str */
    uint32_t        n_labels;
    const char *const *caps;        /* key 11 array of str: "cpu","wall","alloc","lock","gc","native" */
    uint32_t        n_caps;
    const char     *token;          /* key 12 str: auth token, "" if none */
    const char     *runtime;        /* key 13 str: "jvm" (room for "python" workers later) */
    const char *const *enc;         /* key 14 array of str: batch encodings this agent can send
                                       (CP_WIRE_ENC_*: "zdict1", "compact1") */
    uint32_t        n_enc;
} cp_hello_t;

typedef struct cp_welcome {
    uint32_t    proto;              /* key 1 uint, required: CP_WIRE_VERSION (encoder: 0 -> 1) */
    const char *relay_version;      /* key 2 str */
    const char *session;            /* key 3 str: relay's id for this connection */
    uint64_t    last_seq;           /* key 4 uint: highest seq already durable for this instance, 0 = none;
                                       the agent drops buffered batches with seq <= last_seq */
    uint32_t    max_message;        /* key 5 uint: largest message the relay accepts, bytes */
    const char *const *enc;         /* key 6 array of str: the hello's encodings this relay
                                       accepts; the agent uses only these (none if absent) */
    uint32_t    n_enc;
    const cp_kv_t *defaults;        /* key 7 map str->str: the app's defaults (control keys,
                                       e.g. {"alloc": "512k"}) the agent applies over its own
                                       options; none = no defaults at this relay */
    uint32_t    n_defaults;
    const char *const *features;    /* key 8 array of str: what this relay understands beyond
                                       v1 (CP_WIRE_FEATURE_*); unknown names are ignored */
    uint32_t    n_features;
} cp_welcome_t;

/* welcome key 8: the relay reads control_ack (kind 8) */
#define CP_WIRE_FEATURE_CONTROL_ACK "control_ack"
/* hello key 11 capability: the agent honours control keys 3-5 (id, for_ms,
 * scope: it reverts a timed change by itself) and acks controls */
#define CP_WIRE_CAP_CONTROL1 "control1"

/* Standard sample type names and units (cp_sample_type_t.name / .unit):
 *   "cpu" "ns", "wall" "ns", "alloc_bytes" "bytes", "alloc_objects" "count",
 *   "lock" "ns", "lock_count" "count", "samples" "count". */
typedef struct cp_sample_type {
    const char *name;
    const char *unit;
} cp_sample_type_t;

/* One stack of a dictionary delta: frame ids, root first. In the compact
 * layout (key 13) a stack may start with the first `keep` frames of an
 * earlier stack `ref` (an id below its own, from this batch or an earlier
 * one); `frames` then holds only the rest. keep == 0: frames is the whole
 * stack and ref is unused. The decoder leaves references as they are: the
 * receiver's dictionary resolves them (cp_wire_dict_apply, relay store). */
typedef struct cp_wire_stack {
    const uint32_t *frames;
    uint32_t        n;
    uint32_t        keep;        /* frames taken from stack `ref` before `frames` */
    uint32_t        ref;
} cp_wire_stack_t;

typedef struct cp_wire_value {
    uint32_t stack;              /* stack id */
    uint32_t type;               /* index into cp_batch_t.types */
    uint64_t value;
} cp_wire_value_t;

typedef struct cp_counter {
    const char *name;            /* see docs/protocol.md "Counters" */
    uint64_t    value;
} cp_counter_t;

typedef struct cp_point {        /* time-series point (GC pauses, thread counts, heap) */
    const char *series;          /* e.g. "gc.pause_ns", "threads.runnable" */
    uint64_t    t_ms;            /* unix ms */
    double      value;
} cp_point_t;

/* Request context (docs/context.md). A label set of the batch's key 15:
 * up to CP_WIRE_LSET_MAX_PAIRS pairs, keys distinct and sorted (the
 * agent's canonical form; receivers must not rely on it). */
#define CP_WIRE_LSET_MAX_PAIRS 64
typedef struct cp_wire_lset {
    const cp_kv_t *kv;
    uint32_t       n;
} cp_wire_lset_t;

/* Key 16: part of a key 9/14 value that carried label set `lset`. The
 * labelled parts of one (stack, type) sum to at most its key 9/14 value;
 * the rest carried no labels. So a receiver that ignores key 16 keeps
 * exact totals. */
typedef struct cp_wire_lvalue {
    uint32_t stack, type, lset;
    uint64_t value;
} cp_wire_lvalue_t;

/* Key 17: value of samples taken under a trace: trace id (128 bits, two
 * big-endian halves), span id, the sampled thread's name (a string id of
 * the dictionary), stack and type. Also counted in key 9/14 (and 16). */
typedef struct cp_wire_trace {
    uint64_t trace_hi, trace_lo, span;
    uint32_t thread, stack, type;
    uint64_t value;
} cp_wire_trace_t;

#define CP_BATCH_DICT_RESET 0x01 /* receiver drops this connection's dictionary
                                    (label sets included) first */

typedef struct cp_batch {
    uint64_t seq;                   /* key 1 uint, required, > 0, strictly increasing per instance */
    uint64_t start_ms;              /* key 2 uint, required: window start, unix ms */
    uint64_t end_ms;                /* key 3 uint, required: window end (>= start) */
    uint32_t flags;                 /* key 4 uint: CP_BATCH_* */
    const cp_sample_type_t *types;  /* key 5 array of [name, unit] */
    uint32_t n_types;
    /* Dictionary delta. key 6: [first_string_id, [str...]]
     *                   key 7: [first_frame_id, [[class, method, sig, line, kind]...]]
     *                   key 8: [first_stack_id, [[frame_id...]...]] */
    uint32_t str_first;    const cp_str_t        *strs;   uint32_t n_strs;
    uint32_t frame_first;  const cp_frame_t      *frames; uint32_t n_frames;
    uint32_t stack_first;  const cp_wire_stack_t *stacks; uint32_t n_stacks;
    /* key 9: flat array [stack, type, value, stack, type, value, ...]
     * Compact layout ("compact1", chosen by the encoder option, accepted
     * by every decoder): key 12 frames as delta-coded columns, key 13
     * stacks as (reference to an earlier stack's prefix + delta-coded
     * rest), key 14 values grouped by type, sorted by stack, delta-coded,
     * with a per-type scale. Decoded into the same arrays as keys 7-9;
     * a batch carries keys 7/12, 8/13 or 9/14, never both of a pair. */
    const cp_wire_value_t *values; uint32_t n_values;
    /* key 10: map str -> uint */
    const cp_counter_t *counters;   uint32_t n_counters;
    /* key 11: array of [series, t_ms, value(float64)] */
    const cp_point_t *points;       uint32_t n_points;
    /* key 15: label-set dictionary delta [first_lset_id, [[k, v, k, v...]...]]
     * (ids dense from 0 per connection, like strings; reset with the
     * dictionary). Not taken from `dict`: the encoder sends these arrays. */
    uint32_t lset_first;  const cp_wire_lset_t *lsets; uint32_t n_lsets;
    /* key 16: flat [stack, type, lset, value, ...] (cp_wire_lvalue_t) */
    const cp_wire_lvalue_t *lvalues; uint32_t n_lvalues;
    /* key 17: flat [trace_hi, trace_lo, span, thread, stack, type, value, ...] */
    const cp_wire_trace_t *traces;  uint32_t n_traces;
    /* key 18: map str -> uint, the agent's state at window close (gauges:
     * intervals in force, measured overhead, memory budget) */
    const cp_counter_t *state;      uint32_t n_state;

    /* Encoder only (ignored by the decoder, which fills the arrays above):
     * when dict is set, the delta is taken from it instead of strs/frames/
     * stacks: strings [str_first, count), frames [frame_first, count),
     * stacks [stack_first, count). Borrowed for the call. */
    const cp_stack_dict_t *dict;
} cp_batch_t;

typedef struct cp_ack {
    uint64_t seq;                   /* key 1 uint, required: every batch with seq <= this is durable */
} cp_ack_t;

typedef struct cp_heartbeat {
    uint64_t t_ms;                  /* key 1 uint: sender's clock, unix ms */
} cp_heartbeat_t;

typedef struct cp_control {
    const char    *command;         /* key 1 str, required, non-empty: "configure", "start", "stop", "flush",
                                       "revert" (drop the timed/instance change `id`, "" = all) */
    const cp_kv_t *options;         /* key 2 map str->str: agent options, e.g. {"cpu": "1ms"} */
    uint32_t       n_options;
    const char    *id;              /* key 3 str: the change's id; the agent answers a control with
                                       a non-empty id with control_ack (when the relay reads it) */
    uint64_t       for_ms;          /* key 4 uint: configure: the change lasts this long, then the
                                       agent reverts it by itself (its own clock); 0 = until the
                                       agent ends or the change is reverted */
    const char    *scope;           /* key 5 str: "" = a change over the defaults; "defaults" =
                                       options REPLACE the app's defaults (as welcome key 7) */
} cp_control_t;

/* control_ack (8): what an agent did with a control that had an id. */
typedef struct cp_control_ack {
    const char    *id;              /* key 1 str, required: the control's id */
    const char    *event;           /* key 2 str: "applied" (answer to the control), "expired"
                                       (its for_ms ran out: reverted), "reverted" (by a revert) */
    const cp_kv_t *applied;         /* key 3 map str->str: options taken, as given */
    uint32_t       n_applied;
    const cp_kv_t *refused;         /* key 4 map str->str: option -> why it was refused */
    uint32_t       n_refused;
    const cp_kv_t *effective;       /* key 5 map str->str: the agent's settings after it
                                       (cpu, wall, alloc, alloc.mode, lock, flush, ...) */
    uint32_t       n_effective;
    uint64_t       until_ms;        /* key 6 uint: when the change ends, agent's unix ms; 0 = none */
    uint64_t       t_ms;            /* key 7 uint: agent's clock when it answered, unix ms */
} cp_control_ack_t;

typedef struct cp_error_msg {
    int32_t     code;               /* key 1 int, required: a CP_E* code */
    const char *message;            /* key 2 str */
    bool        fatal;              /* key 3 bool: the sender closes after this */
    uint32_t    retry_after_ms;     /* key 4 uint: with CP_ERATE, reconnect no sooner */
} cp_error_msg_t;

typedef struct cp_msg {
    cp_msg_kind_t kind;
    union {
        cp_hello_t     hello;
        cp_welcome_t   welcome;
        cp_batch_t     batch;
        cp_ack_t       ack;
        cp_heartbeat_t heartbeat;
        cp_control_t   control;
        cp_error_msg_t error;
        cp_control_ack_t control_ack;
    } u;
    void *_arena;                   /* private: decoder-owned memory */
} cp_msg_t;

typedef struct cp_wire_limits {
    size_t   max_message;   /* envelope + payload as received; default 16 MiB */
    size_t   max_payload;   /* payload once uncompressed; default 64 MiB */
    uint32_t max_string;    /* bytes in one string; default 64 KiB */
    uint32_t max_count;     /* elements in one array or map; default 4 Mi */
    uint32_t max_depth;     /* frames in one stack; default 4096 */
    uint32_t max_dict;      /* ids per dictionary table per connection; default 4 Mi */
    size_t   max_dict_bytes;/* bytes one cp_wire_dict may hold (strings, frames,
                               stacks); default 512 MiB; 0 = no byte limit */
    size_t   max_decoded;   /* bytes one decoded message may hold in memory (its
                               arrays and strings, ~1-2x the payload for real
                               batches, up to ~17x for hostile ones); default
                               256 MiB; 0 = no limit */
} cp_wire_limits_t;

extern const cp_wire_limits_t cp_wire_default_limits;

/* Batch encodings beyond the v1 layout, negotiated per connection: the
 * agent lists the ones it can send in hello key 14, the relay answers the
 * ones it accepts in welcome key 6, the agent then uses only those.
 * Decoders accept all of them whatever was negotiated. */
#define CP_WIRE_ENC_ZDICT1   0x01u  /* "zdict1": zlib streams use the preset dictionary
                                       cp_wire_zdict1 (wire_zdict.h) */
#define CP_WIRE_ENC_COMPACT1 0x02u  /* "compact1": batch keys 12-14 instead of 7-9 */
#define CP_WIRE_ENC_STRTAB1  0x04u  /* "strtab1": key 6 strings found in cp_wire_strtab1
                                       (wire_strtab.h) go as msgpack ext 1 references */
#define CP_WIRE_ENC_PYKIND1  0x08u  /* "pykind1": frames may carry kind 10 (CP_FRAME_PYTHON);
                                       without it the encoder sends kind 10 as 4 (native) */
#define CP_WIRE_ENC_ALL      0x0fu

/* The kind a frame goes out with under encodings enc (one rule for both
 * layouts): kind 10 only to receivers that accepted "pykind1". */
static inline uint8_t cp_wire_frame_kind_out(uint8_t kind, uint32_t enc)
{
    return kind == 10 && !(enc & CP_WIRE_ENC_PYKIND1) ? 4 : kind;
}

/* Names <-> bits. cp_wire_enc_names fills names[] (room for 8) and returns
 * their count; cp_wire_enc_parse ignores names it does not know. */
uint32_t cp_wire_enc_names(uint32_t enc, const char *names[8]);
uint32_t cp_wire_enc_parse(const char *const *names, uint32_t n);

typedef struct cp_wire_encopt {
    int      zlib_level;   /* 0 = uncompressed, 1..9 = deflate */
    uint32_t enc;          /* CP_WIRE_ENC_* to use (ZDICT1 needs zlib_level > 0) */
} cp_wire_encopt_t;

/* cp_wire_encode with encodings: as below; with CP_WIRE_ENC_STRTAB1
 * dictionary strings present in the static table go as references; with
 * CP_WIRE_ENC_COMPACT1 a
 * batch's frames, stacks and values go as keys 12-14 (stack references
 * are taken from batch.dict when it tracks prefixes, see
 * cp_stack_dict_track_prefixes; values are sent sorted by type and
 * stack, so their order is not kept); with CP_WIRE_ENC_ZDICT1 the zlib stream uses the preset
 * dictionary. Lossless: the decoder gives back the same values. */
int cp_wire_encode_ex(const cp_msg_t *m, const cp_wire_encopt_t *opt, cp_buf_t *out);

/* Appends one encoded message to out (after whatever out holds, so a caller
 * can leave LWS_PRE bytes of headroom first). zlib_level: 0 = store the
 * payload uncompressed (flag clear), 1..9 = deflate. Returns 0 or CP_E*:
 * CP_EINVAL for a required string that is NULL (or "" where non-empty is
 * required), a NULL array with a non-zero count, or hello/welcome proto
 * other than 0 or CP_WIRE_VERSION (0 is sent as CP_WIRE_VERSION);
 * CP_EINVAL also for a batch with dict set whose str_first/frame_first/
 * stack_first is past the dictionary's count;
 * CP_ERANGE for a batch with seq 0 or end_ms < start_ms; CP_ENOMEM.
 * On failure out is left as it was. NULL strings in optional fields are
 * left out of the message (the decoder gives ""); numbers are always sent. */
int cp_wire_encode(const cp_msg_t *m, int zlib_level, cp_buf_t *out);

/* Decodes one message. On success *out is a new message; the caller frees it
 * with cp_msg_free(); every pointer inside lives until then. On failure
 * returns the CP_E* code of the first malformation found, *out is NULL, and
 * if err is not NULL a short text says where ("batch key 7: frame 3: line
 * is not an int") into err[0..errlen). lim NULL = cp_wire_default_limits.
 * Checks structure, types, limits and references inside the message; the
 * cross-message dictionary rules are checked by cp_wire_dict_apply(). */
int  cp_wire_decode(const uint8_t *data, size_t len, const cp_wire_limits_t *lim,
                    cp_msg_t **out /* OUT */, char *err, size_t errlen);
void cp_msg_free(cp_msg_t *m);     /* NULL is a no-op */

/* Reads only the envelope: kind and sizes, for routing and early limits. */
int cp_wire_peek(const uint8_t *data, size_t len, cp_msg_kind_t *kind /* OUT */,
                 uint32_t *payload_len /* OUT */);

/* Name of a message kind ("hello", ...), "?" if unknown. */
const char *cp_wire_kind_name(int kind);

/* The receiver-side dictionary (cp_wire_dict_*) is part of this API. */
#include "wire_dict.h"

#endif
