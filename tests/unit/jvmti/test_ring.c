/* test_ring.c - jvmti/ring.c: the lock-free sample ring. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ring.h"
#include "stats.h"

static cp_sample_t mk(uint64_t value, int nframes)
{
    cp_sample_t s;
    memset(&s, 0, offsetof(cp_sample_t, frames));
    s.kind = CP_SAMPLE_CPU;
    s.value = value;
    s.count = 1;
    s.num_frames = nframes;
    for (int i = 0; i < nframes && i < CP_RING_MAX_FRAMES; i++) {
        s.frames[i].lineno = i;
        s.frames[i].method = (jmethodID)(uintptr_t)(0x1000 + i);
    }
    return s;
}

static long resident_pages(void)
{
    long size = 0, res = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = -1;
        fclose(f);
    }
    return res;
}

/* Creating the ring writes nothing into its slots (each ~8.4 KB): the JVM's
 * main thread pays no page faults at start-up and the RSS grows only with
 * the slots samples actually use. It used to touch every slot: 512 pages. */
START_TEST(test_ring_create_touches_no_slot_page)
{
    long before = resident_pages();
    cp_ring_t *r = cp_ring_create(512);
    long after = resident_pages();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_ge(before, 0);
    /* before: 512+ pages (one per slot); allow for the allocator's own first pages */
    ck_assert_msg(after - before < 200, "creating the ring made %ld pages resident", after - before);
    /* and the zero-filled slots are free, in order, lap after lap */
    for (uint64_t i = 0; i < 3 * 512 + 7; i++) {
        cp_sample_t s = mk(i, 1);
        ck_assert(cp_ring_try_push(r, &s));
        const cp_sample_t *p = cp_ring_peek(r);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->value, i);
        cp_ring_release(r);
    }
    ck_assert_ptr_null(cp_ring_peek(r));
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_push_then_peek_returns_samples_in_order)
{
    cp_ring_t *r = cp_ring_create(8);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(cp_ring_capacity(r), 8);
    ck_assert_ptr_null(cp_ring_peek(r));
    cp_sample_t s = mk(0, 3);
    for (uint64_t i = 1; i <= 5; i++) {
        s.value = i;
        ck_assert(cp_ring_try_push(r, &s));
    }
    for (uint64_t i = 1; i <= 5; i++) {
        const cp_sample_t *p = cp_ring_peek(r);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->value, i);
        ck_assert_int_eq(p->num_frames, 3);
        ck_assert_int_eq(p->frames[2].lineno, 2);
        cp_ring_release(r);
    }
    ck_assert_ptr_null(cp_ring_peek(r));
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_has_room_tracks_free_slots)
{
    cp_ring_t *r = cp_ring_create(8);
    cp_sample_t s = mk(1, 1);
    ck_assert(cp_ring_has_room(r, 8));
    ck_assert(!cp_ring_has_room(r, 9));
    for (int i = 0; i < 5; i++)
        ck_assert(cp_ring_try_push(r, &s));
    ck_assert(cp_ring_has_room(r, 3));
    ck_assert(!cp_ring_has_room(r, 4));
    ck_assert_ptr_nonnull(cp_ring_peek(r));
    cp_ring_release(r);
    ck_assert(cp_ring_has_room(r, 4));
    for (int i = 0; i < 4; i++)
        ck_assert(cp_ring_try_push(r, &s));
    ck_assert(!cp_ring_has_room(r, 1));
    while (cp_ring_peek(r))
        cp_ring_release(r);
    ck_assert(cp_ring_has_room(r, 8));   /* wrapped around */
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_push_when_full_returns_false_and_counts_drop)
{
    cp_ring_t *r = cp_ring_create(5);    /* rounds up to 8 */
    ck_assert_uint_eq(cp_ring_capacity(r), 8);
    cp_sample_t s = mk(1, 1);
    uint64_t before = cp_stats_get(CP_ST_DROP_RING);
    for (int i = 0; i < 8; i++)
        ck_assert(cp_ring_try_push(r, &s));
    ck_assert(!cp_ring_try_push(r, &s));
    ck_assert(!cp_ring_try_push(r, &s));
    ck_assert_uint_eq(cp_stats_get(CP_ST_DROP_RING) - before, 2);
    cp_ring_release(r);                  /* one free slot again */
    ck_assert(cp_ring_try_push(r, &s));
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_wraps_many_times_without_loss)
{
    cp_ring_t *r = cp_ring_create(4);
    cp_sample_t s = mk(0, 2);
    for (uint64_t i = 0; i < 10000; i++) {
        s.value = i;
        ck_assert(cp_ring_try_push(r, &s));
        const cp_sample_t *p = cp_ring_peek(r);
        ck_assert_uint_eq(p->value, i);
        cp_ring_release(r);
    }
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_reserved_but_uncommitted_slot_blocks_reader_only)
{
    cp_ring_t *r = cp_ring_create(4);
    uint64_t t1, t2;
    cp_sample_t *a = cp_ring_reserve(r, &t1);
    cp_sample_t *b = cp_ring_reserve(r, &t2);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    b->value = 2;
    cp_ring_commit(r, t2);
    ck_assert_ptr_null(cp_ring_peek(r));  /* a not committed yet: order kept */
    a->value = 1;
    cp_ring_commit(r, t1);
    ck_assert_uint_eq(cp_ring_peek(r)->value, 1);
    cp_ring_release(r);
    ck_assert_uint_eq(cp_ring_peek(r)->value, 2);
    cp_ring_release(r);
    cp_ring_destroy(r);
}
END_TEST

START_TEST(test_ring_push_jvmti_converts_frames_and_leaf)
{
    cp_ring_t *r = cp_ring_create(4);
    jvmtiFrameInfo fr[3] = {{(jmethodID)0x10, 7}, {(jmethodID)0x20, -1}, {(jmethodID)0x30, 42}};
    ck_assert(cp_ring_push_jvmti(r, CP_SAMPLE_ALLOC, 4096, 3, fr, 3, "java.lang.String", 7));
    const cp_sample_t *p = cp_ring_peek(r);
    ck_assert_int_eq(p->kind, CP_SAMPLE_ALLOC);
    ck_assert_uint_eq(p->value, 4096);
    ck_assert_uint_eq(p->count, 3);
    ck_assert_int_eq(p->num_frames, 3);
    ck_assert_int_eq(p->frames[0].lineno, 7);
    ck_assert_int_eq(p->frames[1].lineno, -3);   /* native method */
    ck_assert_ptr_eq(p->frames[2].method, (jmethodID)0x30);
    ck_assert_str_eq(p->leaf, "java.lang.String");
    ck_assert_int_eq(p->leaf_kind, 7);
    ck_assert_int_gt(p->tid, 0);
    cp_ring_release(r);
    ck_assert(!cp_ring_push_jvmti(NULL, CP_SAMPLE_LOCK, 1, 1, fr, 1, NULL, 0));
    cp_ring_destroy(r);
}
END_TEST

/* Several producer threads; every sample arrives exactly once and each
 * producer's samples stay in its own order. */
#define PRODUCERS 4
#define PER_PRODUCER 20000
static cp_ring_t *shared;

static void *producer(void *arg)
{
    uint64_t id = (uintptr_t)arg;
    cp_sample_t s = mk(0, 1);
    for (uint64_t i = 0; i < PER_PRODUCER;) {
        s.value = (id << 32) | i;
        if (cp_ring_try_push(shared, &s))
            i++;
        else
            sched_yield();   /* full: let the consumer run (2 busy cores) */
    }
    return NULL;
}

START_TEST(test_ring_many_producers_deliver_each_sample_once_in_order)
{
    shared = cp_ring_create(256);
    pthread_t th[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, (void *)i);
    uint64_t next[PRODUCERS] = {0};
    uint64_t got = 0;
    while (got < (uint64_t)PRODUCERS * PER_PRODUCER) {
        const cp_sample_t *p = cp_ring_peek(shared);
        if (!p) {
            sched_yield();
            continue;
        }
        uint64_t id = p->value >> 32, seq = p->value & 0xffffffffu;
        ck_assert_uint_lt(id, PRODUCERS);
        ck_assert_uint_eq(seq, next[id]);
        next[id]++;
        got++;
        cp_ring_release(shared);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_ptr_null(cp_ring_peek(shared));
    cp_ring_destroy(shared);
}
END_TEST

/* A signal handler pushes while the interrupted thread is itself pushing:
 * the CAS design must not deadlock or lose samples. */
static volatile sig_atomic_t handler_pushes, handler_fails;

static void on_alarm(int sig)
{
    cp_sample_t s = mk(7, 1);   /* on the handler's stack: no malloc */
    if (cp_ring_try_push(shared, &s))
        handler_pushes = handler_pushes + 1;
    else
        handler_fails = handler_fails + 1;
}

START_TEST(test_ring_push_from_signal_handler_while_thread_pushes)
{
    shared = cp_ring_create(1 << 14);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_PROF, &it, NULL);
    cp_sample_t s = mk(1, 1);
    uint64_t mine = 0, seen = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 50; i++)
            if (cp_ring_try_push(shared, &s))
                mine++;
        const cp_sample_t *p;
        while ((p = cp_ring_peek(shared)) != NULL) {
            seen++;
            cp_ring_release(shared);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    const cp_sample_t *p;
    while ((p = cp_ring_peek(shared)) != NULL) {
        seen++;
        cp_ring_release(shared);
    }
    ck_assert_uint_eq(seen, mine + (uint64_t)handler_pushes);
    ck_assert_int_eq(handler_fails, 0);
    cp_ring_destroy(shared);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("basic");
    tcase_add_test(tc, test_ring_push_then_peek_returns_samples_in_order);
    tcase_add_test(tc, test_ring_create_touches_no_slot_page);
    tcase_add_test(tc, test_ring_wraps_many_times_without_loss);
    tcase_add_test(tc, test_ring_reserved_but_uncommitted_slot_blocks_reader_only);
    tcase_add_test(tc, test_ring_push_jvmti_converts_frames_and_leaf);
    suite_add_tcase(s, tc);
    TCase *to = tcase_create("overflow");
    tcase_add_test(to, test_ring_push_when_full_returns_false_and_counts_drop);
    tcase_add_test(to, test_ring_has_room_tracks_free_slots);
    suite_add_tcase(s, to);
    TCase *tm = tcase_create("concurrency");
    tcase_set_timeout(tm, 60);
    tcase_add_test(tm, test_ring_many_producers_deliver_each_sample_once_in_order);
    tcase_add_test(tm, test_ring_push_from_signal_handler_while_thread_pushes);
    suite_add_tcase(s, tm);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
