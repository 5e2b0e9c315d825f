/* test_sender_queue.c - jvmti/sender_queue.c: the sender's batch queue and
 * what a full buffer gives up (unsent first, counted as lost; sent but
 * unacknowledged last, counted as possibly stored). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sender_queue.h"
#include "stats.h"

/* A batch of `bytes` holding `samples` cpu samples. */
static cp_pending_t *mk(uint64_t seq, size_t bytes, uint64_t samples, uint32_t gen)
{
    cp_pending_t *p = calloc(1, sizeof *p);
    p->seq = seq;
    p->bytes = bytes;
    p->dict_gen = gen;
    p->counters = calloc(1, sizeof *p->counters);
    p->counters[0].name = "samples.cpu";
    p->counters[0].value = samples;
    p->n_counters = 1;
    return p;
}

static void reset_stats(void)
{
    for (int i = 0; i < CP_ST__COUNT; i++)
        atomic_store(&cp_stats[i], 0);
}

static uint64_t seqs(const cp_sender_queue_t *q)   /* digits of the queued seqs, e.g. 345 */
{
    uint64_t v = 0;
    for (const cp_pending_t *p = q->head; p; p = p->next)
        v = v * 10 + p->seq;
    return v;
}

START_TEST(test_sender_queue_overflow_drops_oldest_unsent_first)
{
    reset_stats();
    cp_sender_queue_t q = CP_SENDER_QUEUE_INIT;
    for (uint64_t s = 1; s <= 3; s++)
        cp_sender_queue_push(&q, mk(s, 100, 10, 0), 1000);
    q.sent_upto = 2;                       /* 1 and 2 written, not acked */
    for (uint64_t s = 4; s <= 6; s++)
        cp_sender_queue_push(&q, mk(s, 100, 10, 0), 300);
    /* 3, 4, 5 (unsent) went first; 1 and 2 (sent) are kept */
    ck_assert_uint_eq(seqs(&q), 126);
    ck_assert_uint_eq(q.count, 3);
    ck_assert_uint_eq(q.bytes, 300);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_BUFFER), 3);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_BUFFER_SAMPLES), 30);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_UNACKED), 0);
    cp_sender_queue_ack(&q, 100);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
}
END_TEST

START_TEST(test_sender_queue_overflow_all_sent_counts_unacked)
{
    reset_stats();
    cp_sender_queue_t q = CP_SENDER_QUEUE_INIT;
    for (uint64_t s = 1; s <= 3; s++)
        cp_sender_queue_push(&q, mk(s, 100, 7, 0), 1000);
    q.sent_upto = 3;                       /* every batch written */
    cp_sender_queue_push(&q, mk(4, 100, 7, 0), 250);
    ck_assert_uint_eq(seqs(&q), 34);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_BUFFER), 0);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_UNACKED), 2);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_UNACKED_SAMPLES), 14);
    /* the newest batch is never given up by its own push */
    cp_sender_queue_push(&q, mk(5, 5000, 7, 0), 10);
    ck_assert_uint_eq(seqs(&q), 5);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_UNACKED), 3);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_BUFFER), 1);   /* 4 was unsent */
    cp_sender_queue_ack(&q, 5);
}
END_TEST

START_TEST(test_sender_queue_next_skips_sent_and_drops_stale_generation)
{
    reset_stats();
    cp_sender_queue_t q = CP_SENDER_QUEUE_INIT;
    cp_sender_queue_push(&q, mk(1, 10, 1, 0), 1000);
    cp_sender_queue_push(&q, mk(2, 10, 2, 0), 1000);
    cp_sender_queue_push(&q, mk(3, 10, 4, 0), 1000);
    cp_sender_queue_push(&q, mk(4, 10, 8, 1), 1000);
    q.sent_upto = 1;
    cp_pending_t *p = cp_sender_queue_next(&q, 1);   /* 2 and 3 are of generation 0 */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->seq, 4);
    ck_assert_uint_eq(seqs(&q), 14);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_DICT), 2);
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_DICT_SAMPLES), 6);
    q.sent_upto = 4;
    ck_assert_ptr_null(cp_sender_queue_next(&q, 1));
    ck_assert_uint_eq(cp_sender_queue_samples(&q), 9);
    cp_sender_queue_ack(&q, 1);
    ck_assert_uint_eq(seqs(&q), 4);
    cp_sender_queue_ack(&q, 4);
    ck_assert_uint_eq(q.count, 0);
    ck_assert_uint_eq(q.bytes, 0);
}
END_TEST

/* What the harvester asks before a dictionary reset (harvest.c): batches
 * not yet written would become unsendable. */
START_TEST(test_sender_queue_unsent_counts_batches_after_sent_upto)
{
    reset_stats();
    cp_sender_queue_t q = CP_SENDER_QUEUE_INIT;
    ck_assert_uint_eq(cp_sender_queue_unsent(&q), 0);
    cp_sender_queue_push(&q, mk(1, 10, 1, 0), 1000);
    cp_sender_queue_push(&q, mk(2, 10, 2, 0), 1000);
    cp_sender_queue_push(&q, mk(3, 10, 4, 0), 1000);
    ck_assert_uint_eq(cp_sender_queue_unsent(&q), 3);
    q.sent_upto = 2;
    ck_assert_uint_eq(cp_sender_queue_unsent(&q), 1);
    q.sent_upto = 3;
    ck_assert_uint_eq(cp_sender_queue_unsent(&q), 0);   /* sent, not acked: sendable ids no longer needed */
    cp_sender_queue_ack(&q, 3);
    ck_assert_uint_eq(q.count, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sender_queue");
    TCase *tc = tcase_create("overflow");
    tcase_add_test(tc, test_sender_queue_overflow_drops_oldest_unsent_first);
    tcase_add_test(tc, test_sender_queue_overflow_all_sent_counts_unacked);
    suite_add_tcase(s, tc);
    tc = tcase_create("send");
    tcase_add_test(tc, test_sender_queue_next_skips_sent_and_drops_stale_generation);
    tcase_add_test(tc, test_sender_queue_unsent_counts_batches_after_sent_upto);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
