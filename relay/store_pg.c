/* store_pg.c - the PostgreSQL engine behind store.h: connections and
 * statement helpers, the schema, the writer's transactions, apps, types,
 * tenant limits, day partitions, the relay heartbeat, and the engine's
 * table of operations. Tables, coordination and threads: store_pg_int.h.
 *
 * Failure: when the database goes away every writer call fails with CP_EDB
 * (ingest stops acking; agents keep their batches and resend) and the
 * next cp_store_begin reconnects; readers answer CP_EUNAVAIL (HTTP 503)
 * and reconnect on their next query. */
#include "store_pg_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "error.h"
#include "store_limits.h"
#include "store_tier.h"

/* Layout version in cprof_meta; a database of another layout is refused. */
#define SCHEMA_VERSION "1"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS cprof_meta(k text PRIMARY KEY, v text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS apps(id bigserial PRIMARY KEY, name text UNIQUE NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lsets(id bigserial PRIMARY KEY, app_id bigint NOT NULL, canon text NOT NULL,"
    " UNIQUE(app_id, canon));"
    "CREATE TABLE IF NOT EXISTS relays(id text PRIMARY KEY, host text, pid bigint, started_ms bigint,"
    " heartbeat_ms bigint);"
    "CREATE TABLE IF NOT EXISTS instances(id bigserial PRIMARY KEY, app_id bigint NOT NULL, iid text NOT NULL,"
    " lset_id bigint, host text, pid bigint, start_ms bigint, jvm text, agent_version text, labels text,"
    " first_seen bigint, last_seen bigint, connected int NOT NULL DEFAULT 0, relay text,"
    " last_seq bigint NOT NULL DEFAULT 0, covered_ms bigint NOT NULL DEFAULT 0, claim bigint NOT NULL DEFAULT 0,"
    " UNIQUE(app_id, iid));"
    /* the claim token of the last stored batch (store_pg_int.h: dedupe),
     * added to a database made before it (older relays ignore it) */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid='instances'::regclass AND"
    " attname='claim' AND NOT attisdropped) THEN ALTER TABLE instances ADD COLUMN claim bigint NOT NULL DEFAULT 0;"
    " END IF; END $$;"
    "CREATE INDEX IF NOT EXISTS instances_relay ON instances(relay) WHERE connected<>0;"
    "CREATE TABLE IF NOT EXISTS counters(instance_id bigint, name text, value bigint,"
    " PRIMARY KEY(instance_id, name));"
    "CREATE TABLE IF NOT EXISTS types(id bigserial PRIMARY KEY, name text UNIQUE NOT NULL, unit text);"
    "CREATE TABLE IF NOT EXISTS app_types(app_id bigint, type_id bigint, PRIMARY KEY(app_id, type_id));"
    "CREATE TABLE IF NOT EXISTS strings(app_id bigint, id int, h bigint NOT NULL, s bytea,"
    " PRIMARY KEY(app_id, id), UNIQUE(app_id, h));"
    "CREATE TABLE IF NOT EXISTS frames(app_id bigint, id int, h bigint NOT NULL, class_id int, method_id int,"
    " sig_id int, line int, kind int, PRIMARY KEY(app_id, id), UNIQUE(app_id, h));"
    "CREATE TABLE IF NOT EXISTS stacks(app_id bigint, id int, h bigint NOT NULL, frames bytea,"
    " PRIMARY KEY(app_id, id), UNIQUE(app_id, h));"
    "CREATE TABLE IF NOT EXISTS windows(app_id bigint, type_id bigint, start_ms bigint, instance_id bigint,"
    " seq bigint, lset_id bigint, end_ms bigint, total bigint, data bytea) PARTITION BY RANGE(start_ms);"
    "CREATE INDEX IF NOT EXISTS windows_q ON windows(app_id, type_id, start_ms);"
    "CREATE TABLE IF NOT EXISTS agg_m(app_id bigint, type_id bigint, start_ms bigint, lset_id bigint,"
    " total bigint, data bytea, PRIMARY KEY(app_id, type_id, start_ms, lset_id)) PARTITION BY RANGE(start_ms);"
    "CREATE TABLE IF NOT EXISTS agg_h(app_id bigint, type_id bigint, start_ms bigint, lset_id bigint,"
    " total bigint, data bytea, PRIMARY KEY(app_id, type_id, start_ms, lset_id)) PARTITION BY RANGE(start_ms);"
    "CREATE TABLE IF NOT EXISTS series(app_id bigint, lset_id bigint, name text, t_ms bigint,"
    " value double precision) PARTITION BY RANGE(t_ms);"
    "CREATE INDEX IF NOT EXISTS series_q ON series(app_id, t_ms);"
    "CREATE TABLE IF NOT EXISTS windows_default PARTITION OF windows DEFAULT;"
    "CREATE TABLE IF NOT EXISTS agg_m_default PARTITION OF agg_m DEFAULT;"
    "CREATE TABLE IF NOT EXISTS agg_h_default PARTITION OF agg_h DEFAULT;"
    "CREATE TABLE IF NOT EXISTS series_default PARTITION OF series DEFAULT;"
    /* the trace index (store_trace.h): full resolution only, capped */
    "CREATE TABLE IF NOT EXISTS traces(id bigserial PRIMARY KEY, trace_hi bigint NOT NULL, trace_lo bigint NOT NULL,"
    " app_id bigint NOT NULL, instance_id bigint NOT NULL, type_id bigint NOT NULL, start_ms bigint NOT NULL,"
    " end_ms bigint NOT NULL, total bigint, data bytea);"
    "CREATE INDEX IF NOT EXISTS traces_k ON traces(trace_hi, trace_lo, start_ms);"
    "CREATE INDEX IF NOT EXISTS traces_a ON traces(app_id, start_ms);"
    "CREATE TABLE IF NOT EXISTS agg_state(app_id bigint, step bigint, done_ms bigint NOT NULL,"
    " sealed_ms bigint NOT NULL DEFAULT 0, PRIMARY KEY(app_id, step));"
    /* no unique key: relays mark the same bucket at once without waiting for
     * each other (a duplicate only repeats a recompute) */
    "CREATE TABLE IF NOT EXISTS dirty(app_id bigint, step bigint, start_ms bigint);"
    "CREATE INDEX IF NOT EXISTS dirty_app ON dirty(app_id);";

/* ------------------------------------------------------------------ */
/* the writer's time per stage                                         */

int64_t cp__pg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cp__pg_prof_add(cp__pg_prof_t *p, int k, int64_t *t0)
{
    int64_t t = cp__pg_mono_ns();
    p->ns[k] += t - *t0;
    *t0 = t;
}

static void prof_log(const cp__pg_prof_t *p)
{
    static const char *const names[CP__PG_T__N] = {"begin", "dictionary", "of which lock", "claim", "seal",
                                                   "writes", "commit", "maintenance"};
    char line[600];
    int n = snprintf(line, sizeof line, "cprof relay: postgres writer: %llu transactions, %llu batches,"
                     " %llu dictionary locks, %llu maintenance passes; seconds in",
                     (unsigned long long)p->tx, (unsigned long long)p->batches,
                     (unsigned long long)p->dict_locks, (unsigned long long)p->maint);
    for (int k = 0; k < CP__PG_T__N && n > 0 && (size_t)n < sizeof line; k++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s %.2f%s", names[k], (double)p->ns[k] * 1e-9,
                      k + 1 < CP__PG_T__N ? "," : "\n");
    if (p->tx)
        fputs(line, stderr);
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

static int check_schema(PGconn *db)
{
    /* one relay at a time creates the schema */
    if (cp__pg_cmd(db, "BEGIN", NULL))
        return CP_EDB;
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, CP__PG_LOCK_PART);
    PGresult *r = NULL;
    int rc = CP_EDB;
    if (cp__pg_cmd(db, "SELECT pg_advisory_xact_lock($1::int, 0)", &q) || cp__pg_cmd(db, SCHEMA, NULL) ||
        cp__pg_cmd(db, cp__pg_control_schema, NULL))
        goto out;
    if (!(r = cp__pg_run(db, "SELECT v FROM cprof_meta WHERE k='layout'", NULL, false)))
        goto out;
    if (PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), SCHEMA_VERSION)) {
        fprintf(stderr, "cprof relay: the database holds storage layout %s, this relay writes %s\n",
                PQgetvalue(r, 0, 0), SCHEMA_VERSION);
        goto out;
    }
    if (!PQntuples(r) && cp__pg_cmd(db, "INSERT INTO cprof_meta VALUES('layout','" SCHEMA_VERSION "')", NULL))
        goto out;
    rc = cp__pg_cmd(db, "COMMIT", NULL);
out:
    PQclear(r);
    if (rc)
        PQclear(PQexec(db, "ROLLBACK"));
    return rc;
}

static int heartbeat(cp_store_t *s_, int64_t now_ms);

/* The statements of every batch, prepared once per session (parsing and
 * planning them per batch, partition routing included, cost more than
 * running them). Names: CP__PG_Q_* (store_pg_int.h). */
static const struct { const char *name, *sql; } PREPARED[] = {
    {CP__PG_Q_CLAIM, "UPDATE instances SET last_seq=$2, last_seen=$3, covered_ms=covered_ms+$4, connected=1,"
                     " relay=$5, claim=$6 WHERE id=$1 AND last_seq<$2 RETURNING 1"},
    {CP__PG_Q_WINDOW, "INSERT INTO windows(app_id,type_id,start_ms,instance_id,seq,lset_id,end_ms,total,data)"
                      " SELECT $1::bigint,$2::bigint,$3::bigint,$4::bigint,$5::bigint,$6::bigint,$7::bigint,"
                      "$8::bigint,$9::bytea WHERE EXISTS (SELECT 1 FROM instances WHERE id=$4 AND claim=$10)"},
    {CP__PG_Q_COUNTERS, "INSERT INTO counters AS k(instance_id,name,value) SELECT $1::bigint, n, v"
                        " FROM unnest($2::text[], $3::bigint[]) AS u(n, v)"
                        " WHERE EXISTS (SELECT 1 FROM instances WHERE id=$1 AND claim=$4)"
                        " ON CONFLICT(instance_id,name) DO UPDATE SET value=CASE WHEN k.name LIKE 'rate.%'"
                        " OR k.name LIKE 'mem.%' OR k.name='threads' OR k.name LIKE 'state.%' THEN excluded.value"
                        " ELSE k.value+excluded.value END"},
    {CP__PG_Q_SERIES, "INSERT INTO series(app_id,lset_id,name,t_ms,value) SELECT $1::bigint, $2::bigint, n, t, v"
                      " FROM unnest($3::text[], $4::bigint[], $5::float8[]) AS u(n, t, v)"
                      " WHERE EXISTS (SELECT 1 FROM instances WHERE id=$6 AND claim=$7)"},
    {CP__PG_Q_SEAL, "SELECT pg_advisory_xact_lock_shared($1::int, $2::int)"},
    {CP__PG_Q_MDONE, "SELECT greatest(done_ms, sealed_ms) FROM agg_state WHERE app_id=$1 AND step=60000"},
    {CP__PG_Q_TRACE, "INSERT INTO traces(trace_hi,trace_lo,app_id,instance_id,type_id,start_ms,end_ms,total,data)"
                     " SELECT $1::bigint,$2::bigint,$3::bigint,$4::bigint,$5::bigint,$6::bigint,$7::bigint,"
                     "$8::bigint,$9::bytea WHERE EXISTS (SELECT 1 FROM instances WHERE id=$4 AND claim=$10)"},
    {CP__PG_Q_DIRTY, "INSERT INTO dirty(app_id,step,start_ms) VALUES($1,60000,$2)"},
    {CP__PG_Q_DISC, "UPDATE instances SET connected=0, last_seen=greatest(last_seen,$1) WHERE id=$2 AND relay=$3"},
};

/* Session settings of the writer's connections (again after a reconnect). */
static int conn_setup(cp__pg_t *s)
{
    /* group commit is the relay's durability point: keep it synchronous */
    if (cp__pg_cmd(s->db, s->cfg.sync_full ? "SET synchronous_commit=on" : "SET synchronous_commit=local", NULL) ||
        cp__pg_cmd(s->aux, "SET lock_timeout='2s'; SET standard_conforming_strings=on", NULL))
        return CP_EDB;
    for (size_t i = 0; i < sizeof PREPARED / sizeof *PREPARED; i++) {
        PGresult *r = PQprepare(s->db, PREPARED[i].name, PREPARED[i].sql, 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "cprof relay: postgres: prepare %s: %s", PREPARED[i].name, PQerrorMessage(s->db));
        PQclear(r);
        if (!ok)
            return CP_EDB;
    }
    return 0;
}

/* Both connections usable: a lost one is reconnected (the database came
 * back) and set up again. */
static int ensure_conns(cp__pg_t *s)
{
    bool lost = PQstatus(s->db) != CONNECTION_OK || PQstatus(s->aux) != CONNECTION_OK;
    if (!cp__pg_ok(s->db) || !cp__pg_ok(s->aux))
        return CP_EDB;
    if (lost) {
        /* the server ended the dictionary transaction with the session:
         * what it handed out is gone (caches are rebuilt on the next miss) */
        for (cp__pg_app_t *a = s->apps; a; a = a->next)   /* dictionary commits are async */
            cp__pg_app_cache_clear(a);
        s->dict_tx = false;
        s->dict_app = NULL;
        if (conn_setup(s))
            return CP_EDB;
        fprintf(stderr, "cprof relay: postgres: reconnected\n");
    }
    return 0;
}

static void pg_close(cp_store_t *s_)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    prof_log(&s->prof);
    if (s->db && s->aux && PQstatus(s->aux) == CONNECTION_OK) {
        /* a relay that stops cleanly hands its instances back at once */
        cp__pgq_t q = {0};
        cp__pgq_text(&q, s->relay_id);
        cp__pg_cmd(s->aux, "UPDATE instances SET connected=0 WHERE relay=$1 AND connected<>0", &q);
        cp__pg_cmd(s->aux, "DELETE FROM relays WHERE id=$1", &q);
    }
    PQfinish(s->db);
    PQfinish(s->aux);
    while (s->apps) {
        cp__pg_app_t *n = s->apps->next;
        cp__pg_app_cache_clear(s->apps);
        cp__hmap_free(&s->apps->linked_types);
        cp__hmap_free(&s->apps->dirty_marked);
        free(s->apps->name);
        free(s->apps);
        s->apps = n;
    }
    for (size_t i = 0; i < s->n_types; i++)
        free(s->types[i].name);
    free(s->types);
    for (size_t i = 0; i < s->n_per_type; i++)
        free(s->per_type[i].v);
    free(s->per_type);
    cp_store_traces_fini(&s->traces);
    cp_store_discs_fini(&s->disc);
    cp__pg_pend_fini(s);
    free(s->tx_conns);
    cp__hmap_free(&s->parts);
    cp__hmap_free(&s->inst_conns);
    cp_buf_fini(&s->tmp);
    cp_buf_fini(&s->tmp2);
    free(s->uri);
    free(s);
}

static int pg_open(const char *uri, const cp_store_config_t *cfg, cp_store_t **out)
{
    cp__pg_t *s = cp__xcalloc(1, sizeof *s);
    s->base.eng = &cp__store_pg_engine;
    if (cfg)
        s->cfg = *cfg;
    else
        cp_store_config_default(&s->cfg);
    s->uri = cp__xstrdup(uri);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->relay_id, sizeof s->relay_id, "%s:%d:%lld", host, (int)getpid(),
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int rc = CP_EDB;
    if (!(s->db = cp__pg_connect(uri)) || !(s->aux = cp__pg_connect(uri)) || check_schema(s->db))
        goto fail;
    if (conn_setup(s))
        goto fail;
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if ((rc = heartbeat(&s->base, now)))
        goto fail;
    *out = &s->base;
    return 0;
fail:
    pg_close(&s->base);
    *out = NULL;
    return rc;
}

/* ------------------------------------------------------------------ */
/* transactions                                                        */

static int pg_begin(cp_store_t *s_)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    int64_t t0 = cp__pg_mono_ns();
    s->tx_gen++;
    s->n_tx_conns = 0;
    s->prof.tx++;
    if (ensure_conns(s))
        return CP_EDB;
    cp__pg_pend_reset(s, false);
    /* queued: it goes with the transaction's first round trip */
    int rc = cp__pg_send_sql(s->db, "BEGIN", NULL);
    s->in_tx = rc == 0;
    cp__pg_prof_add(&s->prof, CP__PG_T_BEGIN, &t0);
    return rc;
}

int cp__pg_tx_begin(cp__pg_t *s) { return pg_begin(&s->base); }

void cp__pg_touch_conn(cp__pg_t *s, cp__pg_conn_t *c)
{
    if (c->tx_gen == s->tx_gen)
        return;
    c->tx_gen = s->tx_gen;
    if (s->n_tx_conns == s->cap_tx_conns) {
        s->cap_tx_conns = s->cap_tx_conns ? s->cap_tx_conns * 2 : 16;
        s->tx_conns = cp__xrealloc(s->tx_conns, s->cap_tx_conns * sizeof *s->tx_conns);
    }
    s->tx_conns[s->n_tx_conns++] = &c->base;
}

void cp__pg_disconnect_later(cp__pg_t *s, int64_t id, int64_t ms) { cp_store_discs_add(&s->disc, id, ms); }

/* Pending disconnects: only where this relay still holds the instance (an
 * agent that moved to another relay stays connected there). */
static int flush_disconnects(cp__pg_t *s)
{
    for (size_t k = 0; k < s->disc.n; k++) {
        uint32_t *live = cp__hmap_slot(&s->inst_conns, (uint64_t)s->disc.v[k].id, 0);
        if (live && *live)
            continue;   /* reconnected meanwhile */
        cp__pgq_t q = {0};
        cp__pgq_i64(&q, s->disc.v[k].ms);
        cp__pgq_i64(&q, s->disc.v[k].id);
        cp__pgq_text(&q, s->relay_id);
        if (cp__pg_send(s->db, CP__PG_Q_DISC, &q))
            return CP_EDB;
    }
    return 0;
}

static void pg_rollback(cp_store_t *s_)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    if (s->dict_tx)
        cp__pg_dict_end(s, false);
    cp__pg_rollback_now(s->db);
    cp__pg_pend_reset(s, true);
    s->in_tx = false;
    /* connections that wrote into it: their last_seq may be ahead of the
     * database; they must reconnect (and learn it again) */
    for (size_t k = 0; k < s->n_tx_conns; k++) {
        ((cp__pg_conn_t *)s->tx_conns[k])->broken = true;
        ((cp__pg_conn_t *)s->tx_conns[k])->tx_gen = 0;
    }
    s->n_tx_conns = 0;
    for (cp__pg_app_t *a = s->apps; a; a = a->next)
        a->mdone_gen = 0;
}

static int pg_commit(cp_store_t *s_)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    int64_t t0 = cp__pg_mono_ns();
    /* the disconnects and the COMMIT join the queued writes: the group's
     * last round trip, which also brings every claim's result */
    int rc = flush_disconnects(s);
    if (!rc)
        rc = cp__pg_send_sql(s->db, "COMMIT", NULL);
    if (!rc)
        rc = cp__pg_sync(s->db);
    cp__pg_prof_add(&s->prof, CP__PG_T_COMMIT, &t0);
    if (rc) {
        pg_rollback(s_);
        return rc;
    }
    cp__pg_pend_report(s);
    s->in_tx = false;
    s->disc.n = 0;
    s->n_tx_conns = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* apps, types, tenant limits                                          */

int cp__pg_tenant_room(cp__pg_t *s, const char *qname, int what)
{
    uint32_t max = cp_store_limit_max(&s->cfg, what);
    cp_store_tenant_range_t t;
    if (!max)
        return 0;
    if (cp_store_tenant_range(qname, &t))
        return CP_EINVAL;
    char sqlbuf[300];
    /* byte order (COLLATE "C") as SQLite compares */
    snprintf(sqlbuf, sizeof sqlbuf, "%s%s", cp_store_limit_sql(what),
             t.tl ? "a.name COLLATE \"C\" >= $1 AND a.name COLLATE \"C\" < $2"
                  : "strpos(a.name, chr(31)) = 0 AND $1 <> $2");
    cp__pgq_t q = {0};
    cp__pgq_text(&q, t.lo);
    cp__pgq_text(&q, t.hi);
    bool err = false;
    int64_t n = cp__pg_i64(s->db, sqlbuf, &q, -1, &err);
    if (err || n < 0)
        return CP_EDB;
    return cp_store_limit_check(&s->refusal, qname, &t, max, what, n);
}

int cp__pg_get_app(cp__pg_t *s, const char *name, cp__pg_app_t **out)
{
    cp__pg_app_t *a;
    for (a = s->apps; a; a = a->next)
        if (!strcmp(a->name, name)) {
            *out = a;
            return 0;
        }
    cp__pgq_t q = {0};
    cp__pgq_text(&q, name);
    bool err = false;
    int64_t id = cp__pg_i64(s->db, "SELECT id FROM apps WHERE name=$1", &q, -1, &err);
    if (err)
        return CP_EDB;
    if (id < 0) {
        int rc;
        if (s->cfg.max_apps && (rc = cp__pg_tenant_room(s, name, CP_STORE_LIMIT_APPS)))
            return rc;
        /* on aux (autocommit): registry rows created inside group
         * transactions of several relays would deadlock on their keys */
        id = cp__pg_i64(s->aux, "INSERT INTO apps(name) VALUES($1) ON CONFLICT(name) DO UPDATE"
                                " SET name=excluded.name RETURNING id", &q, -1, &err);
        if (err || id < 0)
            return CP_EDB;
    }
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, id);
    if (cp__pg_cmd(s->aux, "INSERT INTO agg_state(app_id,step,done_ms) VALUES($1,60000,0),($1,3600000,0)"
                          " ON CONFLICT DO NOTHING", &q))
        return CP_EDB;
    a = cp__xcalloc(1, sizeof *a);
    a->id = id;
    a->name = cp__xstrdup(name);
    a->next = s->apps;
    s->apps = a;
    *out = a;
    return 0;
}

int cp__pg_get_type(cp__pg_t *s, const char *name, const char *unit, int64_t *id)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (!strcmp(s->types[i].name, name)) {
            *id = s->types[i].id;
            return 0;
        }
    /* on aux (autocommit): a type is global and harmless to keep */
    cp__pgq_t q = {0};
    cp__pgq_text(&q, name);
    cp__pgq_text(&q, unit ? unit : "");
    bool err = false;
    int64_t v = cp__pg_i64(s->aux, "INSERT INTO types(name,unit) VALUES($1,$2) ON CONFLICT(name)"
                                   " DO UPDATE SET name=excluded.name RETURNING id", &q, -1, &err);
    if (err || v < 0)
        return CP_EDB;
    s->types = cp__xrealloc(s->types, (s->n_types + 1) * sizeof *s->types);
    s->types[s->n_types].id = v;
    s->types[s->n_types].name = cp__xstrdup(name);
    s->n_types++;
    *id = v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* day partitions                                                      */

static int64_t day_of(int64_t t) { return cp_store_tier_floor(t, CP__PG_DAY_MS) / CP__PG_DAY_MS; }

/* Creates table's partition of day d on aux, under the partition lock.
 * Rows of that day already in the default partition make it fail: they
 * stay there (still found, expired by DELETE). */
static int make_partition(cp__pg_t *s, const char *table, int64_t d)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%d, 0);"
             " CREATE TABLE IF NOT EXISTS %s_d%lld PARTITION OF %s FOR VALUES FROM (%lld) TO (%lld); COMMIT",
             CP__PG_LOCK_PART, table, (long long)d, table, (long long)(d * CP__PG_DAY_MS),
             (long long)((d + 1) * CP__PG_DAY_MS));
    PGresult *r = PQexec(s->aux, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        PQclear(PQexec(s->aux, "ROLLBACK"));
    return ok ? 0 : CP_EDB;
}

int cp__pg_partition(cp__pg_t *s, const char *table, int64_t t_ms)
{
    int64_t d = day_of(t_ms);
    uint64_t key = cp__hash_bytes(table, strlen(table)) ^ (uint64_t)d * 0x9e3779b97f4a7c15ULL;
    uint32_t *slot = cp__hmap_slot(&s->parts, key, 1);
    if (*slot)
        return 0;
    *slot = 1;   /* tried: a failure leaves the day to the default partition */
    return make_partition(s, table, d);
}

/* Partitions from yesterday to the day after tomorrow, ahead of the data.
 * Only here, outside transactions: the DDL locks the parent table, which
 * the writer's own open transaction would hold against it. Rows of other
 * days (late or skewed agents) go to the default partition. */
static void partitions_ahead(cp__pg_t *s, int64_t now)
{
    static const char *const tables[] = {"windows", "agg_m", "agg_h", "series"};
    if (now - s->last_part_ms < 3600000)
        return;
    s->last_part_ms = now;
    for (int d = -1; d < 3; d++)
        for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
            cp__pg_partition(s, tables[t], now + d * CP__PG_DAY_MS);
}

/* ------------------------------------------------------------------ */
/* heartbeat                                                           */

static int heartbeat(cp_store_t *s_, int64_t now_ms)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    if (!s->in_tx && ensure_conns(s))
        return CP_EDB;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    cp__pgq_t q = {0};
    cp__pgq_text(&q, s->relay_id);
    cp__pgq_text(&q, host);
    cp__pgq_i64(&q, getpid());
    cp__pgq_i64(&q, now_ms);
    if (cp__pg_cmd(s->aux, "INSERT INTO relays(id,host,pid,started_ms,heartbeat_ms) VALUES($1,$2,$3,$4,$4)"
                           " ON CONFLICT(id) DO UPDATE SET heartbeat_ms=excluded.heartbeat_ms", &q))
        return CP_EDB;
    /* instances held by relays that stopped beating (killed, cut off) */
    cp__pgq_reset(&q);
    cp__pgq_i64(&q, now_ms - CP_STORE_RELAY_STALE_MS);
    if (cp__pg_cmd(s->aux, "UPDATE instances i SET connected=0 WHERE connected<>0 AND NOT EXISTS"
                           " (SELECT 1 FROM relays r WHERE r.id=i.relay AND r.heartbeat_ms>=$1)", &q) ||
        cp__pg_cmd(s->aux, "DELETE FROM relays WHERE heartbeat_ms < $1::bigint - 86400000", &q))
        return CP_EDB;
    if (!s->in_tx)
        partitions_ahead(s, now_ms);
    return 0;
}

/* ------------------------------------------------------------------ */
/* misc                                                                */

static const cp_store_refusal_t *pg_refusal(const cp_store_t *s) { return &((const cp__pg_t *)s)->refusal; }

static int64_t pg_shrink(cp_store_t *s_, uint32_t min_closed)
{
    (void)s_;
    (void)min_closed;
    return 0;   /* dictionaries go with their app's last connection */
}

static int pg_maintain(cp_store_t *s_, int64_t now_ms)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    int64_t t0 = cp__pg_mono_ns();
    int rc = cp__pg_maintain(s_, now_ms);
    s->prof.maint++;
    cp__pg_prof_add(&s->prof, CP__PG_T_MAINT, &t0);
    return rc;
}

static int64_t pg_disk_bytes(cp_store_t *s_)
{
    cp__pg_t *s = (cp__pg_t *)s_;
    return cp__pg_i64(s->aux, "SELECT pg_database_size(current_database())", NULL, 0, NULL);
}

const cp_store_engine_t cp__store_pg_engine = {
    .name = "postgres",
    .open = pg_open, .close = pg_close, .begin = pg_begin, .commit = pg_commit, .rollback = pg_rollback,
    .conn_open = cp__pg_conn_open, .conn_batch = cp__pg_conn_batch, .conn_last_seq = cp__pg_conn_last_seq,
    .conn_close = cp__pg_conn_close, .refusal = pg_refusal, .maintain = pg_maintain,
    .heartbeat = heartbeat, .shrink = pg_shrink, .disk_bytes = pg_disk_bytes,
    .reader_open = cp__pg_reader_open, .reader_close = cp__pg_reader_close,
    .reader_set_limit = cp__pg_reader_set_limit, .apps_json = cp__pg_apps_json,
    .instances_json = cp__pg_instances_json, .profile = cp__pg_profile,
    .profile_windows = cp__pg_profile_windows, .timeline = cp__pg_timeline, .series = cp__pg_series,
    .trace_profile = cp__pg_trace_profile,
    .trace_entries = cp__pg_trace_entries,
    .control_audit = cp__pg_control_audit, .control_ack = cp__pg_control_ack,
    .control_set_defaults = cp__pg_control_set_defaults, .control_audit_rows = cp__pg_control_audit_rows,
    .control_ack_rows = cp__pg_control_ack_rows, .control_defaults_rows = cp__pg_control_defaults_rows,
};
