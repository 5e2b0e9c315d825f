/* sender_conn.h - what the sender writes on one relay connection: the
 * hello, heartbeats and batches, encoded against that connection's view of
 * the harvester's dictionary and with the batch encodings it negotiated.
 *
 * Every connection starts an empty wire dictionary: the first batch sent
 * on it carries the whole dictionary (ids from 0), later ones only the
 * entries added since (cp_sender_conn_t counts what the relay has). A
 * dictionary generation change (harvest.h) starts over with
 * CP_BATCH_DICT_RESET.
 *
 * Output: tx is reset and holds LWS_PRE bytes of headroom, then the
 * message (what lws_write needs). Thread: sender only. */
#ifndef CP_SENDER_CONN_H
#define CP_SENDER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "options.h"
#include "sender.h"
#include "sender_queue.h"
#include "stack_dict.h"

typedef struct cp_sender_conn {
    uint32_t strs, frames, stacks;   /* dictionary entries the relay has */
    uint32_t lsets;                  /* label sets (wire ids) the relay has (lsets.h) */
    uint32_t gen;                    /* their dictionary generation */
    uint32_t enc;                    /* CP_WIRE_ENC_* the welcome accepted */
    bool control_acks;               /* the welcome listed CP_WIRE_FEATURE_CONTROL_ACK */
} cp_sender_conn_t;

/* A welcome arrived: the relay has no dictionary entry yet; enc: the
 * encodings it accepted; features: the n features it listed; gen: the
 * harvester's current generation. */
void cp_sender_conn_welcome(cp_sender_conn_t *c, uint32_t enc, const char *const *features, uint32_t n,
                            uint32_t gen);

/* True when options b need another hello than a (the relay, the token,
 * the labels, which kinds are on): the connection is made again. */
bool cp_sender_conn_hello_differs(const cp_options_t *a, const cp_options_t *b);

/* The hello (no batch encodings yet). Returns 0 or CP_E*. */
int  cp_sender_conn_hello(cp_buf_t *tx, const cp_options_t *cfg, const char *app,
                          const cp_sender_identity_t *id);

int  cp_sender_conn_heartbeat(cp_buf_t *tx, const cp_sender_conn_t *c, uint64_t t_ms);

/* Batch p against dictionary d of generation gen (caller holds
 * cp_harvest_dict_lock). On success c counts the entries sent. Returns 0
 * or CP_E*. */
int  cp_sender_conn_batch(cp_buf_t *tx, cp_sender_conn_t *c, const cp_pending_t *p,
                          const cp_stack_dict_t *d, uint32_t gen);

#endif
