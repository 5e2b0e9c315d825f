/* store_fixture.h - shared setup of the store unit tests
 * (test_store_sqlite.c, test_store_faults.c): a fresh data directory per
 * test, agent hellos, connections, and profile queries through store.h.
 *
 * Thread: the test's own; Check's fork mode gives each test a process. */
#ifndef CP_TEST_STORE_FIXTURE_H
#define CP_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "store.h"

/* The test's data directory, made by store_fixture_setup(). */
extern char store_fixture_dir[64];
/* Where the test's store is (cp_store_open): store_fixture_dir, or with
 * CPROF_TEST_PG set (a libpq URI) a fresh PostgreSQL database per test
 * (tests/unit/relay/run_pg.py starts a server and sets it). */
extern char store_fixture_where[512];

/* Check checked-fixture pair: mkdtemp a /tmp directory, rm -rf it. */
void store_fixture_setup(void);
void store_fixture_teardown(void);

/* A hello of app/inst from host "h", JVM "V 17", with the given labels
 * (borrowed: they must outlive the hello's use). */
cp_hello_t store_fixture_hello(const char *app, const char *inst, const cp_kv_t *labels, uint32_t n_labels);

/* Opens a connection for app/inst in its own transaction. */
cp_store_conn_t *store_fixture_open_conn(cp_store_t *s, const char *app, const char *inst);

/* A batch of window seq (10 s windows from t = 1,000 s) with the one
 * sample type *type (borrowed); the caller adds dictionary and values. */
cp_batch_t store_fixture_batch(uint64_t seq, const cp_sample_type_t *type);

/* Queries the whole time range of app/type (labels may be NULL) through a
 * reader on store_fixture_dir. Returns cp_store_profile()'s code; on 0 the
 * caller frees p with cp_profile_free(). */
int store_fixture_profile(const char *app, const char *type, const char *labels, cp_profile_t *p,
                          char *err, size_t errlen);

#endif
