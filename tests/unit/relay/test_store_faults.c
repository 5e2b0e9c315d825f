/* test_store_faults.c - the store when a transaction fails (disk full,
 * read-only data dir, database gone: the store worker rolls back), through
 * store.h on a real database (SQLite in a temp dir; PostgreSQL as
 * store_faults_pg): a rollback touches only what the
 * transaction touched, nothing it created survives in memory, and
 * duplicates are judged per instance. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "store.h"
#include "store_fixture.h"

/* One batch of one stack "p.C.<method>" with value v, of sample type
 * `type`. The connection's dictionary: with_dict sends the 3 strings, the
 * frame and the stack as ids 0.. (a fresh connection, or after a reset). */
static int batch(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, const char *type, const char *method,
                 uint64_t v, bool with_dict)
{
    cp_str_t strs[] = {{"", 0}, {"p.C", 3}, {method, strlen(method)}};
    cp_frame_t fr[] = {{1, 2, 0, 0, CP_FRAME_COMPILED}};
    static const uint32_t st0[] = {0};
    cp_wire_stack_t stk[] = {{st0, 1}};
    cp_sample_type_t types[] = {{type, "ns"}};
    cp_wire_value_t vals[] = {{0, 0, v}};
    cp_batch_t b = store_fixture_batch(seq, types);
    if (with_dict) {
        b.flags = CP_BATCH_DICT_RESET;
        b.strs = strs;
        b.n_strs = 3;
        b.frames = fr;
        b.n_frames = 1;
        b.stacks = stk;
        b.n_stacks = 1;
    }
    b.values = vals;
    b.n_values = 1;
    return cp_store_conn_batch(s, c, &b, 5000, NULL, NULL);
}

static cp_store_conn_t *open_conn_in_tx(cp_store_t *s, const char *app, const char *inst)
{
    cp_store_conn_t *c;
    uint64_t last;
    cp_hello_t h = store_fixture_hello(app, inst, NULL, 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &c, &last), 0);
    return c;
}

static int commit_batch(cp_store_t *s, cp_store_conn_t *c, uint64_t seq, const char *type, const char *method,
                        uint64_t v, bool with_dict)
{
    ck_assert_int_eq(cp_store_begin(s), 0);
    int rc = batch(s, c, seq, type, method, v, with_dict);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return rc;
}

/* Total of app/type, and the value of function `fn` (-1 if absent). */
static uint64_t total(const char *app, const char *type, const char *fn, int64_t *fn_value)
{
    char err[128] = "";
    cp_profile_t p;
    int rc = store_fixture_profile(app, type, NULL, &p, err, sizeof err);
    if (rc == CP_ENOTFOUND)
        return 0;
    ck_assert_msg(rc == 0, "profile %s/%s: %s", app, type, err);
    uint64_t t = p.total;
    if (fn_value) {
        *fn_value = -1;
        for (uint32_t i = 0; i < p.n_stacks; i++)
            if (!strcmp(p.names[p.funcs[p.stack_off[i + 1] - 1]], fn))
                *fn_value = (int64_t)p.values[i];
    }
    cp_profile_free(&p);
    return t;
}

/* A failed transaction in one app must not break the connections of other
 * apps (nor the others of the same app): the old rollback dropped every
 * app's dictionary and failed every connection of every app. */
START_TEST(test_store_rollback_keeps_untouched_connections)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *a1 = store_fixture_open_conn(s, "a", "a1"), *a2 = store_fixture_open_conn(s, "a", "a2"),
                    *b1 = store_fixture_open_conn(s, "b", "b1");
    ck_assert_int_eq(commit_batch(s, a1, 1, "cpu", "m", 10, true), 0);
    ck_assert_int_eq(commit_batch(s, a2, 1, "cpu", "m", 20, true), 0);
    ck_assert_int_eq(commit_batch(s, b1, 1, "cpu", "m", 30, true), 0);

    /* a1's next batch adds a new method, then the transaction fails */
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(batch(s, a1, 2, "cpu", "new", 1000, true), 0);
    cp_store_rollback(s);

    /* b1 (other app) and a2 (same app, not in the transaction) go on */
    ck_assert_int_eq(commit_batch(s, b1, 2, "cpu", "m", 30, false), 0);
    ck_assert_int_eq(commit_batch(s, a2, 2, "cpu", "m", 20, false), 0);
    /* a1 sent into the failed transaction: it must reconnect and resend */
    ck_assert_int_eq(commit_batch(s, a1, 3, "cpu", "m", 1, false), CP_ESTATE);
    cp_store_conn_close(s, a1, 9);
    a1 = store_fixture_open_conn(s, "a", "a1");
    ck_assert_int_eq(commit_batch(s, a1, 2, "cpu", "new", 1000, true), 0);

    int64_t v_new, v_m;
    ck_assert_uint_eq(total("a", "cpu", "p.C.new", &v_new), 10 + 20 + 20 + 1000);
    ck_assert_int_eq(v_new, 1000);
    ck_assert_uint_eq(total("a", "cpu", "p.C.m", &v_m), 1050);
    ck_assert_int_eq(v_m, 50);
    ck_assert_uint_eq(total("b", "cpu", NULL, NULL), 60);
    cp_store_conn_close(s, a1, 10);
    cp_store_conn_close(s, a2, 10);
    cp_store_conn_close(s, b1, 10);
    cp_store_close(s);
}
END_TEST

/* A sample type first seen in a failed transaction is forgotten with it:
 * otherwise its cached id is reused by the next new type and two types
 * share one id (the stored data of one shows up under the other). */
START_TEST(test_store_rollback_forgets_new_type_ids)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *a1 = store_fixture_open_conn(s, "a", "a1");
    ck_assert_int_eq(commit_batch(s, a1, 1, "cpu", "m", 10, true), 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(batch(s, a1, 2, "wall", "m", 1000, false), 0);
    cp_store_rollback(s);
    cp_store_conn_close(s, a1, 2);
    a1 = store_fixture_open_conn(s, "a", "a1");
    ck_assert_int_eq(commit_batch(s, a1, 2, "alloc_bytes", "m", 7, true), 0);
    ck_assert_int_eq(commit_batch(s, a1, 3, "wall", "m", 1000, false), 0);
    ck_assert_uint_eq(total("a", "alloc", NULL, NULL), 7);
    ck_assert_uint_eq(total("a", "wall", NULL, NULL), 1000);
    ck_assert_uint_eq(total("a", "cpu", NULL, NULL), 10);
    cp_store_conn_close(s, a1, 10);
    cp_store_close(s);
}
END_TEST

/* An app created in a failed transaction is gone from the database; its
 * name must map to a fresh row next time (not to the rolled-back id,
 * which the next new app would get). */
START_TEST(test_store_rollback_forgets_new_apps)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *x;
    uint64_t last;
    cp_hello_t h = store_fixture_hello("x", "x1", NULL, 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &x, &last), 0);
    ck_assert_int_eq(batch(s, x, 1, "cpu", "m", 5, true), 0);
    cp_store_rollback(s);
    cp_store_conn_close(s, x, 2);   /* its hello was never committed */
    cp_store_conn_t *y = store_fixture_open_conn(s, "y", "y1");
    ck_assert_int_eq(commit_batch(s, y, 1, "cpu", "m", 3, true), 0);
    x = store_fixture_open_conn(s, "x", "x1");
    ck_assert_int_eq(commit_batch(s, x, 1, "cpu", "m", 5, true), 0);
    ck_assert_uint_eq(total("x", "cpu", NULL, NULL), 5);
    ck_assert_uint_eq(total("y", "cpu", NULL, NULL), 3);
    cp_store_conn_close(s, x, 3);
    cp_store_conn_close(s, y, 3);
    cp_store_close(s);
}
END_TEST

/* Repeated failures must not grow memory: the old rollback unlinked every
 * app's writer state without freeing it. Many rollbacks with 50 apps:
 * the relay's RSS stays flat. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &rss), 2);
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

START_TEST(test_store_rollbacks_do_not_leak)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    enum { APPS = 50 };
    cp_store_conn_t *c[APPS];
    for (int i = 0; i < APPS; i++) {
        char app[16];
        snprintf(app, sizeof app, "app%d", i);
        c[i] = store_fixture_open_conn(s, app, "i");
        ck_assert_int_eq(commit_batch(s, c[i], 1, "cpu", "m", 1, true), 0);
    }
    long before = 0;
    for (int round = 0; round < 400; round++) {
        if (round == 100)
            before = rss_kb();
        ck_assert_int_eq(cp_store_begin(s), 0);
        int i = round % APPS;
        ck_assert_int_eq(batch(s, c[i], (uint64_t)round + 2, "cpu", "m", 1, false), 0);
        cp_store_rollback(s);
        char app[16];   /* as the relay does: that connection is closed, the agent reconnects */
        snprintf(app, sizeof app, "app%d", i);
        cp_store_conn_close(s, c[i], 9);
        c[i] = store_fixture_open_conn(s, app, "i");
        ck_assert_int_eq(commit_batch(s, c[i], (uint64_t)round + 2, "cpu", "m", 1, true), 0);
        /* every app is used again (the old code reloaded each one) */
        ck_assert_int_eq(cp_store_maintain(s, 2000000) >= 0, 1);
    }
    long after = rss_kb();
    ck_assert_msg(after - before < 2048, "RSS grew %ld kB over 300 rollbacks", after - before);
    for (int i = 0; i < APPS; i++)
        cp_store_conn_close(s, c[i], 9);
    cp_store_close(s);
}
END_TEST

/* Two connections of one instance (an agent that reconnected while its old
 * connection is still open on the relay) resend the same seqs: stored once. */
START_TEST(test_store_duplicates_are_per_instance)
{
    cp_store_t *s;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &s), 0);
    cp_store_conn_t *old = store_fixture_open_conn(s, "a", "i1"), *nw = store_fixture_open_conn(s, "a", "i1");
    ck_assert_int_eq(commit_batch(s, old, 1, "cpu", "m", 10, true), 0);
    ck_assert_int_eq(commit_batch(s, old, 2, "cpu", "m", 10, false), 0);
    ck_assert_int_eq(commit_batch(s, nw, 1, "cpu", "m", 10, true), 1);
    ck_assert_int_eq(commit_batch(s, nw, 2, "cpu", "m", 10, false), 1);
    ck_assert_int_eq(commit_batch(s, nw, 3, "cpu", "m", 10, false), 0);
    ck_assert_uint_eq(cp_store_conn_last_seq(nw), 3);
    ck_assert_int_eq(commit_batch(s, old, 3, "cpu", "m", 10, false), 1);
    ck_assert_uint_eq(total("a", "cpu", NULL, NULL), 30);
    cp_store_conn_close(s, old, 9);
    cp_store_conn_close(s, nw, 9);
    cp_store_close(s);
}
END_TEST

static void count_event(void *ud, const cp_store_event_t *e)
{
    (void)e;
    ++*(int *)ud;
}

/* Two relays on one database (PostgreSQL): an agent that moved from relay
 * A to relay B resends what A stored; B learns it from the database (its
 * claims do not match, in the same transaction as a new batch), stores it
 * once, reports only the new window to live subscribers, and acks all. */
START_TEST(test_store_resent_batches_on_another_relay_are_stored_once)
{
    cp_store_t *a, *b;
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &a), 0);
    ck_assert_int_eq(cp_store_open(store_fixture_where, NULL, &b), 0);
    cp_store_conn_t *ca = store_fixture_open_conn(a, "a", "i1"), *cb = store_fixture_open_conn(b, "a", "i1");
    ck_assert_int_eq(commit_batch(a, ca, 1, "cpu", "m", 10, true), 0);
    ck_assert_int_eq(commit_batch(a, ca, 2, "cpu", "m", 10, false), 0);
    ck_assert_uint_eq(cp_store_conn_last_seq(cb), 0);   /* opened before A stored */
    cp_str_t strs[] = {{"", 0}, {"p.C", 3}, {"m", 1}};
    cp_frame_t fr[] = {{1, 2, 0, 0, CP_FRAME_COMPILED}};
    static const uint32_t st0[] = {0};
    cp_wire_stack_t stk[] = {{st0, 1}};
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_wire_value_t vals[] = {{0, 0, 10}};
    int events = 0;
    ck_assert_int_eq(cp_store_begin(b), 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        cp_batch_t x = store_fixture_batch(seq, types);
        if (seq == 1) {
            x.flags = CP_BATCH_DICT_RESET;
            x.strs = strs, x.n_strs = 3, x.frames = fr, x.n_frames = 1, x.stacks = stk, x.n_stacks = 1;
        }
        x.values = vals;
        x.n_values = 1;
        int rc = cp_store_conn_batch(b, cb, &x, 5000, count_event, &events);
        ck_assert_msg(rc == 0 || rc == 1, "batch %d: %d", (int)seq, rc);
    }
    ck_assert_int_eq(cp_store_commit(b), 0);
    ck_assert_int_eq(events, 1);                  /* seq 3 only */
    ck_assert_uint_eq(cp_store_conn_last_seq(cb), 3);
    ck_assert_uint_eq(total("a", "cpu", NULL, NULL), 30);
    ck_assert_int_eq(commit_batch(b, cb, 3, "cpu", "m", 10, false), 1);   /* B knows it now */
    ck_assert_uint_eq(total("a", "cpu", NULL, NULL), 30);
    cp_store_conn_close(a, ca, 9);
    cp_store_conn_close(b, cb, 9);
    cp_store_close(a);
    cp_store_close(b);
}
END_TEST

static long wal_bytes(void)
{
    char path[128];
    struct stat sb;
    snprintf(path, sizeof path, "%s/cprof.db-wal", store_fixture_dir);
    return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

/* The WAL does not keep the size of its biggest burst for ever: the
 * checkpoint thread truncates it once it is over the limit. */
START_TEST(test_store_wal_is_truncated)
{
    cp_store_t *s;
    cp_store_config_t cfg;
    cp_store_config_default(&cfg);
    cfg.wal_limit = 256 * 1024;
    ck_assert_int_eq(cp_store_open(store_fixture_where, &cfg, &s), 0);
    cp_store_conn_t *c = store_fixture_open_conn(s, "a", "i1");
    char name[200];
    ck_assert_int_eq(commit_batch(s, c, 1, "cpu", "m", 1, true), 0);
    for (uint64_t seq = 2; wal_bytes() < 3 * 1024 * 1024; seq++) {
        ck_assert_int_eq(cp_store_begin(s), 0);
        for (int k = 0; k < 50; k++) {   /* new methods: new strings, frames, stacks */
            snprintf(name, sizeof name, "method_%llu_%d_%0120d", (unsigned long long)seq, k, 0);
            cp_store_conn_close(s, c, 1);
            c = open_conn_in_tx(s, "a", "i1");
            ck_assert_int_eq(batch(s, c, seq * 100 + (uint64_t)k, "cpu", name, 1, true), 0);
        }
        ck_assert_int_eq(cp_store_commit(s), 0);
    }
    long big = wal_bytes();
    for (int i = 0; i < 40 && wal_bytes() > cfg.wal_limit; i++)
        usleep(100000);
    ck_assert_msg(wal_bytes() <= cfg.wal_limit, "WAL still %ld bytes (was %ld)", wal_bytes(), big);
    cp_store_conn_close(s, c, 9);
    cp_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_faults");
    TCase *tc = tcase_create("rollback");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_store_rollback_keeps_untouched_connections);
    tcase_add_test(tc, test_store_rollback_forgets_new_type_ids);
    tcase_add_test(tc, test_store_rollback_forgets_new_apps);
    /* on PostgreSQL (store_faults_pg, run_pg.py) the engine-neutral cases;
     * the leak loop (400 rounds, each a maintenance pass over 50 apps) and
     * the WAL are SQLite's */
    bool pg = getenv("CPROF_TEST_PG") != NULL;
    if (!pg)
        tcase_add_test(tc, test_store_rollbacks_do_not_leak);
    suite_add_tcase(s, tc);
    tc = tcase_create("dedupe");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 30);   /* two stores opened on a loaded machine */
    tcase_add_test(tc, test_store_duplicates_are_per_instance);
    if (pg)   /* several relays share only a server's database */
        tcase_add_test(tc, test_store_resent_batches_on_another_relay_are_stored_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("wal");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 60);
    if (!pg)
        tcase_add_test(tc, test_store_wal_is_truncated);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_ENV);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
