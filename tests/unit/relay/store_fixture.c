/* store_fixture.c - shared setup of the store unit tests (see
 * store_fixture.h). */
#include "store_fixture.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char store_fixture_dir[64];
char store_fixture_where[512];
static char pg_db[64];

/* CPROF_TEST_PG (a libpq URI of a server's "postgres" database): each test
 * gets a fresh database there, dropped after it. */
static void pg_cmd(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("CPROF_TEST_PG"));
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "CPROF_TEST_PG: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void store_fixture_setup(void)
{
    snprintf(store_fixture_dir, sizeof store_fixture_dir, "/tmp/cprof-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(store_fixture_dir));
    snprintf(store_fixture_where, sizeof store_fixture_where, "%s", store_fixture_dir);
    const char *pg = getenv("CPROF_TEST_PG");
    if (pg && *pg) {
        static int n;
        char sql[128];
        snprintf(pg_db, sizeof pg_db, "cprof_unit_%d_%d", (int)getpid(), n++);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
        pg_cmd(sql);
        const char *slash = strrchr(pg, '/');
        ck_assert_ptr_nonnull(slash);
        snprintf(store_fixture_where, sizeof store_fixture_where, "%.*s/%s", (int)(slash - pg), pg, pg_db);
    }
}

void store_fixture_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", store_fixture_dir);
    ck_assert_int_eq(system(cmd), 0);
    if (*pg_db) {
        snprintf(cmd, sizeof cmd, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
        pg_cmd(cmd);
        *pg_db = 0;
    }
}

cp_hello_t store_fixture_hello(const char *app, const char *inst, const cp_kv_t *labels, uint32_t n_labels)
{
    cp_hello_t h;
    memset(&h, 0, sizeof h);
    h.proto = 1;
    h.app = app;
    h.instance = inst;
    h.host = "h";
    h.jvm_vendor = "V";
    h.jvm_version = "17";
    h.agent_version = "t";
    h.token = "";
    h.runtime = "jvm";
    h.labels = labels;
    h.n_labels = n_labels;
    return h;
}

cp_store_conn_t *store_fixture_open_conn(cp_store_t *s, const char *app, const char *inst)
{
    cp_store_conn_t *c;
    uint64_t last;
    cp_hello_t h = store_fixture_hello(app, inst, NULL, 0);
    ck_assert_int_eq(cp_store_begin(s), 0);
    ck_assert_int_eq(cp_store_conn_open(s, &h, 1, &c, &last), 0);
    ck_assert_int_eq(cp_store_commit(s), 0);
    return c;
}

cp_batch_t store_fixture_batch(uint64_t seq, const cp_sample_type_t *type)
{
    cp_batch_t b;
    memset(&b, 0, sizeof b);
    b.seq = seq;
    b.start_ms = 1000000 + seq * 10000;
    b.end_ms = b.start_ms + 10000;
    b.types = type;
    b.n_types = 1;
    return b;
}

int store_fixture_profile(const char *app, const char *type, const char *labels, cp_profile_t *p,
                          char *err, size_t errlen)
{
    cp_store_reader_t *r;
    ck_assert_int_eq(cp_store_reader_open(store_fixture_where, &r), 0);
    cp_store_query_t q = {app, type, labels, 0, 1LL << 50};
    int rc = cp_store_profile(r, &q, p, err, errlen);
    cp_store_reader_close(r);
    return rc;
}
