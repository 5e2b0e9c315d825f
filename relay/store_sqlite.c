/* store_sqlite.c - the SQLite engine behind store.h: the database
 * connection (schema, layout version, WAL and its checkpoint thread), the
 * writer's transactions, and the writer's per-app dictionaries and type ids.
 * Tables and invariants: store_sqlite_int.h. The rest of the engine:
 * store_sqlite_ingest.c (connections, batches), store_sqlite_rollup.c
 * (downsampling, expiry), store_sqlite_query.c (readers). What does not
 * depend on SQLite lives in store_blob.c, store_labels.c, store_tier.c,
 * store_names.c and store_json.c.
 *
 * Threads: the writer (store worker), one checkpoint thread (own connection,
 * PASSIVE checkpoints every second), readers (query workers, own
 * connections). */
#include "store_sqlite_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth.h"
#include "error.h"
#include "store_limits.h"
#include "store_tier.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS apps(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lsets(id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL,"
    " canon TEXT NOT NULL, UNIQUE(app_id, canon));"
    "CREATE TABLE IF NOT EXISTS instances(id INTEGER PRIMARY KEY, app_id INTEGER NOT NULL,"
    " iid TEXT NOT NULL, lset_id INTEGER, host TEXT, pid INTEGER, start_ms INTEGER,"
    " jvm TEXT, agent_version TEXT, labels TEXT, first_seen INTEGER, last_seen INTEGER,"
    " connected INTEGER DEFAULT 0, last_seq INTEGER DEFAULT 0, covered_ms INTEGER DEFAULT 0,"
    " UNIQUE(app_id, iid));"
    "CREATE TABLE IF NOT EXISTS counters(instance_id INTEGER, name TEXT, value INTEGER,"
    " PRIMARY KEY(instance_id, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS types(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, unit TEXT);"
    "CREATE TABLE IF NOT EXISTS app_types(app_id INTEGER, type_id INTEGER,"
    " PRIMARY KEY(app_id, type_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS strings(app_id INTEGER, id INTEGER, s BLOB,"
    " PRIMARY KEY(app_id, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS frames(app_id INTEGER, id INTEGER, class_id INTEGER,"
    " method_id INTEGER, sig_id INTEGER, line INTEGER, kind INTEGER,"
    " PRIMARY KEY(app_id, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS stacks(app_id INTEGER, id INTEGER, frames BLOB,"
    " PRIMARY KEY(app_id, id)) WITHOUT ROWID;"
    /* rowid tables for the blobs: a WITHOUT ROWID row spills to overflow
     * pages past ~1 KB (4 KB pages), a rowid row only past ~4 KB */
    "CREATE TABLE IF NOT EXISTS windows(id INTEGER PRIMARY KEY, app_id INTEGER, type_id INTEGER,"
    " start_ms INTEGER, instance_id INTEGER, seq INTEGER, lset_id INTEGER, end_ms INTEGER,"
    " total INTEGER, data BLOB);"
    /* one row per (instance window, type, label set): request labels
     * split a window (store_ctx.h); windows_k (without lset_id) was the
     * key of stores written before them */
    "DROP INDEX IF EXISTS windows_k;"
    "CREATE UNIQUE INDEX IF NOT EXISTS windows_kl ON windows(app_id, type_id, start_ms, instance_id, seq, lset_id);"
    "CREATE TABLE IF NOT EXISTS agg(id INTEGER PRIMARY KEY, app_id INTEGER, step INTEGER,"
    " type_id INTEGER, start_ms INTEGER, lset_id INTEGER, total INTEGER, data BLOB);"
    "CREATE UNIQUE INDEX IF NOT EXISTS agg_k ON agg(app_id, step, type_id, start_ms, lset_id);"
    "CREATE TABLE IF NOT EXISTS agg_state(app_id INTEGER, step INTEGER, done_ms INTEGER,"
    " PRIMARY KEY(app_id, step)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dirty(app_id INTEGER, step INTEGER, start_ms INTEGER,"
    " PRIMARY KEY(app_id, step, start_ms)) WITHOUT ROWID;"
    /* trace index (store_trace.h): full resolution only, bounded */
    "CREATE TABLE IF NOT EXISTS traces(id INTEGER PRIMARY KEY, trace_hi INTEGER NOT NULL,"
    " trace_lo INTEGER NOT NULL, app_id INTEGER NOT NULL, instance_id INTEGER NOT NULL,"
    " type_id INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, total INTEGER, data BLOB);"
    "CREATE INDEX IF NOT EXISTS traces_k ON traces(trace_hi, trace_lo, start_ms);"
    "CREATE INDEX IF NOT EXISTS traces_a ON traces(app_id, start_ms);"
    "CREATE TABLE IF NOT EXISTS series(app_id INTEGER, lset_id INTEGER, name TEXT,"
    " t_ms INTEGER, value REAL);"
    "CREATE INDEX IF NOT EXISTS series_q ON series(app_id, t_ms);";

/* ------------------------------------------------------------------ */
/* shared helpers                                                      */

int cp__sqlite_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, "cprof relay: sqlite: %s (%.60s)\n", e ? e : "?", sql);
        sqlite3_free(e);
        return CP_EDB;
    }
    return 0;
}

sqlite3_stmt *cp__sqlite_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "cprof relay: sqlite prepare: %s (%.80s)\n", sqlite3_errmsg(db), sql);
        return NULL;
    }
    return st;
}

/* Steps a statement with no result rows; resets it. */
int cp__sqlite_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "cprof relay: sqlite step: %s\n", sqlite3_errmsg(sqlite3_db_handle(st)));
        return CP_EDB;
    }
    return 0;
}

/* user_version 2 = this layout (rowid blob tables, blobs with a divisor).
 * A data dir of another layout is refused rather than misread. */
#define SCHEMA_VERSION 2
static int check_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1, tables = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name='apps'", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (tables && v != SCHEMA_VERSION) {
        fprintf(stderr, "cprof relay: the data directory holds storage layout %d, this relay writes %d;"
                        " use another --data directory\n", v, SCHEMA_VERSION);
        return CP_EDB;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
    return cp__sqlite_exec(db, sql);
}

int cp__sqlite_open_db(const char *dir, bool writer, sqlite3 **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cprof.db", dir);
    if (writer && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cprof relay: cannot create %s: %s\n", dir, strerror(errno));
        return CP_EIO;
    }
    int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "cprof relay: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return CP_EDB;
    }
    sqlite3_busy_timeout(db, 5000);
    *out = db;
    return 0;
}

static int store_prepare(cp__sqlite_t *s)
{
    sqlite3 *db = s->db;
    if (!(s->ins_str = cp__sqlite_prep(db, "INSERT INTO strings(app_id,id,s) VALUES(?,?,?)")) ||
        !(s->ins_frame = cp__sqlite_prep(db, "INSERT INTO frames(app_id,id,class_id,method_id,sig_id,line,kind)"
                                         " VALUES(?,?,?,?,?,?,?)")) ||
        !(s->ins_stack = cp__sqlite_prep(db, "INSERT INTO stacks(app_id,id,frames) VALUES(?,?,?)")) ||
        !(s->ins_window = cp__sqlite_prep(db, "INSERT OR REPLACE INTO windows(app_id,type_id,start_ms,instance_id,"
                                          "seq,lset_id,end_ms,total,data) VALUES(?,?,?,?,?,?,?,?,?)")) ||
        !(s->upd_inst = cp__sqlite_prep(db, "UPDATE instances SET last_seq=max(last_seq,?), last_seen=?,"
                                        " covered_ms=covered_ms+? WHERE id=?")) ||
        !(s->upsert_counter = cp__sqlite_prep(db, "INSERT INTO counters(instance_id,name,value) VALUES(?,?,?)"
                                              " ON CONFLICT(instance_id,name) DO UPDATE SET value=CASE WHEN name LIKE 'rate.%'"
                                              " OR name LIKE 'mem.%' OR name='threads' OR name LIKE 'state.%' THEN excluded.value"
                                              " ELSE value+excluded.value END")) ||
        !(s->ins_series = cp__sqlite_prep(db, "INSERT INTO series(app_id,lset_id,name,t_ms,value) VALUES(?,?,?,?,?)")) ||
        !(s->ins_dirty = cp__sqlite_prep(db, "INSERT OR IGNORE INTO dirty(app_id,step,start_ms) VALUES(?,?,?)")) ||
        !(s->ins_app_type = cp__sqlite_prep(db, "INSERT OR IGNORE INTO app_types(app_id,type_id) VALUES(?,?)")) ||
        !(s->ins_trace = cp__sqlite_prep(db, "INSERT INTO traces(trace_hi,trace_lo,app_id,instance_id,type_id,"
                                         "start_ms,end_ms,total,data) VALUES(?,?,?,?,?,?,?,?,?)")))
        return CP_EDB;
    return 0;
}

static int64_t wal_size(cp__sqlite_t *s)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/cprof.db-wal", s->dir);
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void *ckpt_main(void *arg)
{
    cp__sqlite_t *s = arg;
    sqlite3 *db = NULL;
    if (cp__sqlite_open_db(s->dir, true, &db))
        return NULL;
    /* a connection that never read the database has not opened its WAL, and
     * a checkpoint on it does nothing (returns OK, log and checkpointed
     * frames -1): read once */
    sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &ts);
        if (s->ckpt_stop)
            break;
        pthread_mutex_unlock(&s->ckpt_mu);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (s->cfg.wal_limit > 0 && wal_size(s) > s->cfg.wal_limit) {
            /* PASSIVE never shrinks the file (journal_size_limit does when
             * the writer restarts the WAL, which a long reader can
             * prevent): truncate it, waiting at most 200 ms for readers
             * and the writer (a busy result just means: next second) */
            sqlite3_busy_timeout(db, 200);
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
            sqlite3_busy_timeout(db, 5000);
        }
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    sqlite3_close(db);
    return NULL;
}

int cp__sqlite_open(const char *dir, const cp_store_config_t *cfg, cp__sqlite_t **out)
{
    cp__sqlite_t *s = cp__xcalloc(1, sizeof *s);
    s->base.eng = &cp__store_sqlite_engine;
    int rc;
    if (cfg)
        s->cfg = *cfg;
    else
        cp_store_config_default(&s->cfg);
    s->dir = cp__xstrdup(dir);
    if ((rc = cp__sqlite_open_db(dir, true, &s->db)) != 0)
        goto fail;
    rc = CP_EDB;
    if (cp__sqlite_exec(s->db, "PRAGMA journal_mode=WAL") ||
        cp__sqlite_exec(s->db, s->cfg.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") ||
        cp__sqlite_exec(s->db, "PRAGMA cache_size=-65536") ||
        check_version(s->db) ||
        cp__sqlite_exec(s->db, SCHEMA) ||
        cp__sqlite_exec(s->db, cp__sqlite_control_schema) ||
        cp__sqlite_exec(s->db, "UPDATE instances SET connected=0 WHERE connected<>0") ||
        store_prepare(s))
        goto fail;
    sqlite3_wal_autocheckpoint(s->db, 0);
    if (s->cfg.wal_limit > 0) {   /* the writer trims the WAL to this when it restarts it */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%lld", (long long)s->cfg.wal_limit);
        if (cp__sqlite_exec(s->db, sql))
            goto fail;
    }
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->ckpt_started = pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) == 0;
    if (!s->ckpt_started)
        sqlite3_wal_autocheckpoint(s->db, 1000);
    *out = s;
    return 0;
fail:
    cp__sqlite_close(s);
    *out = NULL;
    return rc;
}

static void wapp_free(cp__sqlite_app_t *a)
{
    cp__hmap_free(&a->linked_types);
    cp_stack_dict_destroy(a->dict);
    free(a->name);
    free(a);
}

void cp__sqlite_close(cp__sqlite_t *s)
{
    if (!s)
        return;
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_thread, NULL);
    }
    sqlite3_stmt *sts[] = {s->ins_str, s->ins_frame, s->ins_stack, s->ins_window, s->upd_inst,
                           s->upsert_counter, s->ins_series, s->ins_dirty, s->ins_app_type, s->ins_trace};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite3_finalize(sts[i]);
    if (s->db) {
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    while (s->apps) {
        cp__sqlite_app_t *n = s->apps->next;
        wapp_free(s->apps);
        s->apps = n;
    }
    for (size_t i = 0; i < s->n_types; i++)
        free(s->types[i].name);
    free(s->types);
    for (size_t i = 0; i < s->n_per_type; i++)
        free(s->per_type[i].v);
    free(s->per_type);
    cp_store_traces_fini(&s->traces);
    for (size_t i = 0; i < s->n_insts; i++)
        free(s->insts[i]);
    free(s->insts);
    cp__hmap_free(&s->inst_idx);
    cp_store_discs_fini(&s->disc);
    free(s->j.apps);
    free(s->j.insts);
    free(s->j.conns);
    cp_buf_fini(&s->tmp);
    cp_buf_fini(&s->tmp2);
    free(s->dir);
    free(s);
}

/* ---- transactions and their journal ---- */

int cp__sqlite_begin(cp__sqlite_t *s)
{
    s->tx_gen++;
    s->j.n_apps = s->j.n_insts = s->j.n_conns = 0;
    s->j.n_types = s->n_types;
    int rc = cp__sqlite_exec(s->db, "BEGIN IMMEDIATE");
    s->in_tx = rc == 0;
    return rc;
}

void cp__sqlite_touch_app(cp__sqlite_t *s, cp__sqlite_app_t *a)
{
    if (a->tx_gen == s->tx_gen)
        return;
    a->tx_gen = s->tx_gen;
    cp__sqlite_journal_t *j = &s->j;
    if (j->n_apps == j->cap_apps) {
        j->cap_apps = j->cap_apps ? j->cap_apps * 2 : 16;
        j->apps = cp__xrealloc(j->apps, j->cap_apps * sizeof *j->apps);
    }
    j->apps[j->n_apps].app = a;
    j->apps[j->n_apps].strs = a->dict ? cp_stack_dict_strings(a->dict) : 0;
    j->apps[j->n_apps].frames = a->dict ? cp_stack_dict_frames(a->dict) : 0;
    j->apps[j->n_apps].stacks = a->dict ? cp_stack_dict_stacks(a->dict) : 0;
    j->apps[j->n_apps].mdone = a->mdone;
    j->apps[j->n_apps].hdone = a->hdone;
    j->apps[j->n_apps].created = false;
    j->n_apps++;
}

void cp__sqlite_touch_inst(cp__sqlite_t *s, cp__sqlite_inst_t *i)
{
    if (i->tx_gen == s->tx_gen)
        return;
    i->tx_gen = s->tx_gen;
    cp__sqlite_journal_t *j = &s->j;
    if (j->n_insts == j->cap_insts) {
        j->cap_insts = j->cap_insts ? j->cap_insts * 2 : 16;
        j->insts = cp__xrealloc(j->insts, j->cap_insts * sizeof *j->insts);
    }
    j->insts[j->n_insts].id = i->id;
    j->insts[j->n_insts].last_seq = i->last_seq;
    j->n_insts++;
}

void cp__sqlite_touch_conn(cp__sqlite_t *s, cp__sqlite_conn_t *c)
{
    if (c->tx_gen == s->tx_gen)
        return;
    c->tx_gen = s->tx_gen;
    cp__sqlite_journal_t *j = &s->j;
    if (j->n_conns == j->cap_conns) {
        j->cap_conns = j->cap_conns ? j->cap_conns * 2 : 16;
        j->conns = cp__xrealloc(j->conns, j->cap_conns * sizeof *j->conns);
    }
    j->conns[j->n_conns++] = c;
}

/* ---- live instances ---- */

cp__sqlite_inst_t *cp__sqlite_inst_get(cp__sqlite_t *s, int64_t id, bool create, uint64_t last_seq)
{
    uint32_t *slot = cp__hmap_slot(&s->inst_idx, (uint64_t)id, create);
    if (slot && *slot)
        return s->insts[*slot - 1];
    if (!create)
        return NULL;
    size_t k;
    for (k = 0; k < s->n_insts && s->insts[k]; k++)
        ;
    if (k == s->n_insts) {
        s->insts = cp__xrealloc(s->insts, (s->n_insts + 1) * sizeof *s->insts);
        s->n_insts++;
    }
    cp__sqlite_inst_t *i = cp__xcalloc(1, sizeof *i);
    i->id = id;
    i->last_seq = last_seq;
    s->insts[k] = i;
    *slot = (uint32_t)k + 1;
    return i;
}

/* Drops one live connection of i; frees i with its last. */
void cp__sqlite_inst_release(cp__sqlite_t *s, cp__sqlite_inst_t *i)
{
    if (i->conns)
        i->conns--;
    if (i->conns)
        return;
    uint32_t *slot = cp__hmap_slot(&s->inst_idx, (uint64_t)i->id, 0);
    if (slot && *slot)
        s->insts[*slot - 1] = NULL;
    cp__hmap_del(&s->inst_idx, (uint64_t)i->id);
    free(i);
}

void cp__sqlite_disconnect_later(cp__sqlite_t *s, int64_t id, int64_t ms) { cp_store_discs_add(&s->disc, id, ms); }

/* Writes the pending disconnects of instances that still have no live
 * connection (one that reconnected meanwhile stays connected). */
static int flush_disconnects(cp__sqlite_t *s)
{
    if (!s->disc.n)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE instances SET connected=0, last_seen=max(last_seen,?) WHERE id=?",
                           -1, &st, NULL))
        return CP_EDB;
    int rc = 0;
    for (size_t k = 0; k < s->disc.n && !rc; k++) {
        if (cp__sqlite_inst_get(s, s->disc.v[k].id, false, 0))
            continue;
        sqlite3_bind_int64(st, 1, s->disc.v[k].ms);
        sqlite3_bind_int64(st, 2, s->disc.v[k].id);
        rc = cp__sqlite_step_done(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int cp__sqlite_commit(cp__sqlite_t *s)
{
    int rc = flush_disconnects(s);
    if (!rc)
        rc = cp__sqlite_exec(s->db, "COMMIT");
    if (rc) {
        cp__sqlite_rollback(s);
        return rc;
    }
    s->in_tx = false;
    s->disc.n = 0;
    s->j.n_apps = s->j.n_insts = s->j.n_conns = 0;
    return 0;
}

void cp__sqlite_rollback(cp__sqlite_t *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = false;
    cp__sqlite_journal_t *j = &s->j;
    for (size_t k = 0; k < j->n_apps; k++) {
        cp__sqlite_app_t *a = j->apps[k].app;
        a->mdone = j->apps[k].mdone;
        a->hdone = j->apps[k].hdone;
        if (j->apps[k].created)
            a->id = -1;    /* its row is gone; recreated by name on next use */
        if (j->apps[k].created || !a->dict || cp_stack_dict_strings(a->dict) != j->apps[k].strs ||
            cp_stack_dict_frames(a->dict) != j->apps[k].frames ||
            cp_stack_dict_stacks(a->dict) != j->apps[k].stacks) {
            /* ids interned in the transaction were never stored: reload
             * (lazily, cp__sqlite_app_ready), keeping the struct that
             * connections point to */
            cp_stack_dict_destroy(a->dict);
            a->dict = NULL;
        }
        a->tx_gen = 0;
    }
    /* instances: the stored seq is what the database says now (an instance
     * first seen in the transaction may have read uncommitted seqs) */
    for (size_t k = 0; k < j->n_insts; k++) {
        cp__sqlite_inst_t *i = cp__sqlite_inst_get(s, j->insts[k].id, false, 0);
        if (i) {
            i->last_seq = (uint64_t)cp__sqlite_i64(s->db, "SELECT last_seq FROM instances WHERE id=? AND ?=?",
                                                   i->id, 0, (int64_t)j->insts[k].last_seq);
            i->tx_gen = 0;
        }
    }
    /* connections that opened or wrote in it: their id maps may name
     * rolled-back ids, and their hello may not be stored */
    for (size_t k = 0; k < j->n_conns; k++) {
        j->conns[k]->broken = true;
        j->conns[k]->tx_gen = 0;
    }
    for (size_t k = j->n_types; k < s->n_types; k++)
        free(s->types[k].name);
    s->n_types = j->n_types;
    j->n_apps = j->n_insts = j->n_conns = 0;
}

int64_t cp__sqlite_i64(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t dflt)
{
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return dflt;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Loads an app's dictionary from the database into a fresh stack dict. */
static int wapp_load(cp__sqlite_t *s, cp__sqlite_app_t *a)
{
    sqlite3_stmt *st = NULL;
    int rc = CP_EDB;
    a->dict = cp_stack_dict_create();
    if (!a->dict)
        return CP_ENOMEM;
    uint32_t id;
    if (sqlite3_prepare_v2(s->db, "SELECT id, s FROM strings WHERE app_id=? ORDER BY id", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (cp_stack_dict_intern_string(a->dict, sqlite3_column_blob(st, 1),
                                        (size_t)sqlite3_column_bytes(st, 1), &id) ||
            id != (uint32_t)sqlite3_column_int64(st, 0))
            goto corrupt;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(s->db, "SELECT id,class_id,method_id,sig_id,line,kind FROM frames"
                                  " WHERE app_id=? ORDER BY id", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cp_frame_t f = {(uint32_t)sqlite3_column_int64(st, 1), (uint32_t)sqlite3_column_int64(st, 2),
                        (uint32_t)sqlite3_column_int64(st, 3), sqlite3_column_int(st, 4),
                        (uint8_t)sqlite3_column_int(st, 5)};
        if (cp_stack_dict_intern_frame(a->dict, &f, &id) || id != (uint32_t)sqlite3_column_int64(st, 0))
            goto corrupt;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(s->db, "SELECT id, frames FROM stacks WHERE app_id=? ORDER BY id", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    cp__vu32_t fr = {0};
    while (sqlite3_step(st) == SQLITE_ROW) {
        fr.n = 0;
        cp_store_frames_decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &fr);
        if (cp_stack_dict_intern_stack(a->dict, fr.v, (uint32_t)fr.n, &id) ||
            id != (uint32_t)sqlite3_column_int64(st, 0)) {
            free(fr.v);
            goto corrupt;
        }
    }
    free(fr.v);
    rc = 0;
    goto out;
corrupt:
    fprintf(stderr, "cprof relay: dictionary of app %lld is inconsistent\n", (long long)a->id);
    rc = CP_EDB;
out:
    sqlite3_finalize(st);
    return rc;
}

const cp_store_refusal_t *cp__sqlite_refusal(const cp__sqlite_t *s) { return &s->refusal; }

bool cp__sqlite_exists(sqlite3 *db, const char *sql, int64_t a, const char *text)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
        return true;   /* cannot tell: do not refuse */
    int k = 1;
    if (strchr(sql, '?') != strrchr(sql, '?'))
        sqlite3_bind_int64(st, k++, a);
    sqlite3_bind_text(st, k, text, -1, SQLITE_STATIC);
    bool r = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return r;
}

int cp__sqlite_tenant_room(cp__sqlite_t *s, const char *qname, int what)
{
    uint32_t max = cp_store_limit_max(&s->cfg, what);
    cp_store_tenant_range_t t;
    if (!max)
        return 0;
    if (cp_store_tenant_range(qname, &t))
        return CP_EINVAL;
    char q[300];
    snprintf(q, sizeof q, "%s%s", cp_store_limit_sql(what),
             t.tl ? "a.name >= ?1 AND a.name < ?2" : "instr(a.name, char(31)) = 0 AND ?1 = ?1 AND ?2 = ?2");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_text(st, 1, t.lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t.hi, -1, SQLITE_STATIC);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (n < 0)
        return CP_EDB;
    return cp_store_limit_check(&s->refusal, qname, &t, max, what, n);
}

/* The app's row id (inserting the row if missing); *created when inserted. */
static int64_t app_row(cp__sqlite_t *s, const char *name, bool *created)
{
    *created = false;
    int64_t id = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM apps WHERE name=?", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (id >= 0)
        return id;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO apps(name) VALUES(?) RETURNING id", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *created = id >= 0;
    return id;
}

int cp__sqlite_app_ready(cp__sqlite_t *s, cp__sqlite_app_t *a, bool dict)
{
    if (a->id < 0) {
        bool created;
        int64_t id = app_row(s, a->name, &created);
        if (id < 0)
            return CP_EDB;
        cp__sqlite_touch_app(s, a);
        if (created)
            s->j.apps[s->j.n_apps - 1].created = true;
        a->id = id;
        a->mdone = cp__sqlite_i64(s->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?", id,
                                  CP_STORE_MIN_MS, 0);
        a->hdone = cp__sqlite_i64(s->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?", id,
                                  CP_STORE_HOUR_MS, 0);
        cp_stack_dict_destroy(a->dict);
        a->dict = NULL;
    }
    if (a->dict || !dict)
        return 0;
    int rc = wapp_load(s, a);
    if (rc) {
        cp_stack_dict_destroy(a->dict);
        a->dict = NULL;
    }
    return rc;
}

int cp__sqlite_get_app(cp__sqlite_t *s, const char *name, bool dict, cp__sqlite_app_t **out)
{
    cp__sqlite_app_t *a;
    for (a = s->apps; a; a = a->next)
        if (!strcmp(a->name, name))
            break;
    if (!a && s->cfg.max_apps && !cp__sqlite_exists(s->db, "SELECT 1 FROM apps WHERE name=?", 0, name)) {
        int rc = cp__sqlite_tenant_room(s, name, CP_STORE_LIMIT_APPS);   /* a new app */
        if (rc)
            return rc;
    }
    if (!a) {
        a = cp__xcalloc(1, sizeof *a);
        a->id = -1;
        a->name = cp__xstrdup(name);
        a->next = s->apps;
        s->apps = a;
    }
    int rc = cp__sqlite_app_ready(s, a, dict);
    if (rc)
        return rc;
    *out = a;
    return 0;
}

int cp__sqlite_get_type(cp__sqlite_t *s, const char *name, const char *unit, int64_t *id)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (!strcmp(s->types[i].name, name)) {
            *id = s->types[i].id;
            return 0;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO types(name,unit) VALUES(?,?) ON CONFLICT(name)"
                                  " DO UPDATE SET name=excluded.name RETURNING id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, unit ? unit : "", -1, SQLITE_STATIC);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (v < 0)
        return CP_EDB;
    s->types = cp__xrealloc(s->types, (s->n_types + 1) * sizeof *s->types);
    s->types[s->n_types].id = v;
    s->types[s->n_types].name = cp__xstrdup(name);
    s->n_types++;
    *id = v;
    return 0;
}

int64_t cp__sqlite_shrink(cp__sqlite_t *s, uint32_t min_closed)
{
    if (s->in_tx || s->closed_since_shrink < min_closed)
        return 0;
    s->closed_since_shrink = 0;
    /* the journal's and pending disconnects' arrays are empty between
     * transactions; after a burst they keep the burst's capacity */
    free(s->j.apps);
    free(s->j.insts);
    free(s->j.conns);
    s->j.apps = NULL;
    s->j.insts = NULL;
    s->j.conns = NULL;
    s->j.cap_apps = s->j.cap_insts = s->j.cap_conns = 0;
    if (!s->disc.n) {
        cp_store_discs_fini(&s->disc);
    }
    int64_t before = sqlite3_memory_used();
    sqlite3_db_release_memory(s->db);
    int64_t freed = before - sqlite3_memory_used();
    return freed > 0 ? freed : 0;
}

int64_t cp__sqlite_disk_bytes(cp__sqlite_t *s)
{
    char path[4200];
    struct stat sb;
    int64_t t = 0;
    const char *sfx[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/cprof.db%s", s->dir, sfx[i]);
        if (stat(path, &sb) == 0)
            t += sb.st_size;
    }
    return t;
}
