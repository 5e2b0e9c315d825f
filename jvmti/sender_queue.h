/* sender_queue.h - the sender's queue of closed windows waiting for the
 * relay's ack, and what a full queue gives up.
 *
 * Batches (cp_pending_t) enter in seq order from the harvester and leave
 * when the relay acknowledges them (durable at the relay) or when the
 * `buffer` limit forces the queue to give one up. A batch is "sent" once it
 * has been written on the current connection (seq <= sent_upto); a sent but
 * unacknowledged batch may well be stored at the relay already, so giving
 * one up is not a loss for sure. Overflow therefore gives up, in order:
 *   1. the oldest unsent batch (drop.buffer / drop.buffer_samples: lost);
 *   2. only when every other batch has been sent, the oldest sent one
 *      (drop.unacked / drop.unacked_samples: possibly stored).
 * The newest batch is never given up by its own push.
 *
 * Not thread-safe: the caller serialises every call (the sender's q_mu).
 * No JVMTI calls: unit-tested on its own (tests/unit/jvmti/test_sender_queue.c). */
#ifndef CP_SENDER_QUEUE_H
#define CP_SENDER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* One closed window waiting to be sent (and acked). Owned by the queue
 * after cp_sender_submit(). Values refer to dictionary ids of generation
 * dict_gen. */
typedef struct cp_pending {
    uint64_t seq, start_ms, end_ms;
    uint32_t dict_gen;
    cp_wire_value_t *values;  uint32_t n_values;
    cp_counter_t    *counters; uint32_t n_counters;  /* names: static strings */
    cp_point_t      *points;  uint32_t n_points;     /* series: owned (malloc) */
    cp_wire_lvalue_t *lvalues; uint32_t n_lvalues;   /* labelled parts (wire key 16; lset = agent id - 1) */
    cp_wire_trace_t  *traces;  uint32_t n_traces;    /* trace entries (wire key 17) */
    cp_counter_t    *state;   uint32_t n_state;      /* wire key 18; names: static strings */
    size_t bytes;                                    /* memory estimate for `buffer` */
    uint32_t sends;                                  /* sender only: times written */
    struct cp_pending *next;
} cp_pending_t;

void cp_pending_free(cp_pending_t *p);   /* NULL is a no-op */

/* Samples a batch carries: its samples.{cpu,wall,alloc,lock} counter deltas
 * (the harvester counts a sample in the window that holds its value). */
uint64_t cp_pending_samples(const cp_pending_t *p);

typedef struct cp_sender_queue {
    cp_pending_t *head, *tail;   /* seq order */
    size_t   bytes;              /* sum of the batches' `bytes` */
    uint32_t count;
    uint64_t sent_upto;          /* batches with seq <= it were written on this connection */
} cp_sender_queue_t;

#define CP_SENDER_QUEUE_INIT {NULL, NULL, 0, 0, 0}

/* Takes ownership of p (seq above every queued one). Then, while the queue
 * holds more than limit_bytes and more than one batch, gives batches up as
 * the file header says, counting them. */
void cp_sender_queue_push(cp_sender_queue_t *q, cp_pending_t *p, size_t limit_bytes);

/* The next batch to write: the first with seq > sent_upto. Batches of
 * another dictionary generation than gen are given up on the way (their
 * ids are gone; drop.dict / drop.dict_samples). NULL if none. Borrowed:
 * valid until the next call that changes q. */
cp_pending_t *cp_sender_queue_next(cp_sender_queue_t *q, uint32_t gen);
/* Queued batches not yet written on the current connection (seq > sent_upto). */
uint32_t cp_sender_queue_unsent(const cp_sender_queue_t *q);

/* The relay has every batch with seq <= seq: frees them. */
void cp_sender_queue_ack(cp_sender_queue_t *q, uint64_t seq);

/* Samples (cp_pending_samples) in every queued batch. */
uint64_t cp_sender_queue_samples(const cp_sender_queue_t *q);

#endif
