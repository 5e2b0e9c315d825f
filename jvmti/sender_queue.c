/* sender_queue.c - the sender's queue of unacknowledged batches and its
 * overflow policy (see sender_queue.h).
 *
 * Threads: none of its own; every call runs under the sender's q_mu.
 * Invariants: head..tail in seq order; bytes and count are the sums over
 * the list; a batch leaves the list only through free_batch(), so every
 * batch given up is counted exactly once by its caller. */
#include "sender_queue.h"

#include "stats.h"

#include <stdlib.h>
#include <string.h>

void cp_pending_free(cp_pending_t *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_points; i++)
        free((char *)p->points[i].series);
    free(p->points);
    free(p->values);
    free(p->lvalues);
    free(p->traces);
    free(p->counters);
    free(p->state);
    free(p);
}

uint64_t cp_pending_samples(const cp_pending_t *p)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < p->n_counters; i++) {
        const char *nm = p->counters[i].name;
        if (!strcmp(nm, "samples.cpu") || !strcmp(nm, "samples.wall") ||
            !strcmp(nm, "samples.alloc") || !strcmp(nm, "samples.lock"))
            n += p->counters[i].value;
    }
    return n;
}

/* Unlinks p (prev: its predecessor, NULL for the head) and frees it. */
static void free_batch(cp_sender_queue_t *q, cp_pending_t *prev, cp_pending_t *p)
{
    if (prev)
        prev->next = p->next;
    else
        q->head = p->next;
    if (q->tail == p)
        q->tail = prev;
    q->bytes -= p->bytes;
    q->count--;
    cp_pending_free(p);
}

/* Gives up p, counting it under (batches, samples). */
static void give_up(cp_sender_queue_t *q, cp_pending_t *prev, cp_pending_t *p, cp_stat_id_t batches,
                    cp_stat_id_t samples)
{
    cp_stats_add(samples, cp_pending_samples(p));
    cp_stats_add(batches, 1);
    free_batch(q, prev, p);
}

void cp_sender_queue_push(cp_sender_queue_t *q, cp_pending_t *p, size_t limit_bytes)
{
    if (!p)
        return;
    p->next = NULL;
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->bytes += p->bytes;
    q->count++;
    while (q->head != q->tail && q->bytes > limit_bytes) {
        cp_pending_t *prev = NULL, *u = q->head;
        while (u != q->tail && u->seq <= q->sent_upto) {   /* the oldest unsent, never p */
            prev = u;
            u = u->next;
        }
        if (u != q->tail)
            give_up(q, prev, u, CP_ST_DROP_BUFFER, CP_ST_DROP_BUFFER_SAMPLES);
        else   /* everything older than p was sent: may be stored already */
            give_up(q, NULL, q->head, CP_ST_DROP_UNACKED, CP_ST_DROP_UNACKED_SAMPLES);
    }
}

cp_pending_t *cp_sender_queue_next(cp_sender_queue_t *q, uint32_t gen)
{
    cp_pending_t *prev = NULL, *p = q->head;
    while (p && p->seq <= q->sent_upto) {
        prev = p;
        p = p->next;
    }
    while (p && p->dict_gen != gen) {
        /* an older dictionary generation: its ids are gone, never sendable
         * (generations grow with seq, so these are the oldest unsent) */
        cp_pending_t *next = p->next;
        give_up(q, prev, p, CP_ST_DROP_DICT, CP_ST_DROP_DICT_SAMPLES);
        p = next;
    }
    return p;
}

uint32_t cp_sender_queue_unsent(const cp_sender_queue_t *q)
{
    uint32_t n = 0;
    for (const cp_pending_t *p = q->head; p; p = p->next)
        n += p->seq > q->sent_upto;
    return n;
}

void cp_sender_queue_ack(cp_sender_queue_t *q, uint64_t seq)
{
    while (q->head && q->head->seq <= seq)
        free_batch(q, NULL, q->head);
}

uint64_t cp_sender_queue_samples(const cp_sender_queue_t *q)
{
    uint64_t n = 0;
    for (const cp_pending_t *p = q->head; p; p = p->next)
        n += cp_pending_samples(p);
    return n;
}
