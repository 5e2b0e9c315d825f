/* store_sqlite.c - the SQLite engine behind store.h.
 *
 * One database file DIR/cprof.db in WAL mode. The writer connection belongs
 * to the store worker thread (ingest.c); each query thread opens its own
 * reader connection (WAL lets readers run beside the writer).
 *
 * Tables (see also store.h):
 *   apps(id, name)            lsets(id, app_id, canon "k=v,k2=v2" sorted)
 *   instances(id, app_id, iid, lset_id, host, pid, ..., last_seq, connected)
 *   counters(instance_id, name, value)     summed batch counters
 *   types(id, name, unit)     app_types(app_id, type_id)
 *   strings/frames/stacks(app_id, id, ...) per-app dictionary, dense ids
 *   windows(app_id, type_id, start_ms, instance_id, seq, lset_id, end_ms, total, data)
 *   agg(app_id, step, type_id, start_ms, lset_id, total, data)   step 60000 / 3600000
 *   agg_state(app_id, step, done_ms)   buckets < done_ms are aggregated
 *   dirty(app_id, step, start_ms)      aggregated buckets that got late data
 *   series(app_id, lset_id, name, t_ms, value)
 *
 * Blob layout of windows.data / agg.data: uvarint divisor d (>= 1), then
 * repeated (uvarint stack_id delta from the previous pair's stack id (first
 * from 0), uvarint value / d), stack ids strictly increasing. stacks.frames: repeated uvarint frame id, root
 * first.
 *
 * Query plan (cp_store_profile): hour rows for whole hours below the hour
 * watermark, minute rows for whole minutes below the minute watermark, raw
 * windows (by start_ms) for the rest. Raw windows older than the full
 * retention are deleted only once their minute is aggregated.
 *
 * Threads: the writer (store worker), one checkpoint thread (own connection,
 * PASSIVE checkpoints every second), readers (query workers, own connections).
 *
 * Invariant: the in-memory app dictionary of the writer (cp_stack_dict_t)
 * equals the strings/frames/stacks tables of that app (same dense ids),
 * because every new id is inserted in the same transaction that creates it;
 * on rollback the app's dictionary is dropped and reloaded. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "rutil.h"
#include "stack_dict.h"

#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

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
    "CREATE UNIQUE INDEX IF NOT EXISTS windows_k ON windows(app_id, type_id, start_ms, instance_id, seq);"
    "CREATE TABLE IF NOT EXISTS agg(id INTEGER PRIMARY KEY, app_id INTEGER, step INTEGER,"
    " type_id INTEGER, start_ms INTEGER, lset_id INTEGER, total INTEGER, data BLOB);"
    "CREATE UNIQUE INDEX IF NOT EXISTS agg_k ON agg(app_id, step, type_id, start_ms, lset_id);"
    "CREATE TABLE IF NOT EXISTS agg_state(app_id INTEGER, step INTEGER, done_ms INTEGER,"
    " PRIMARY KEY(app_id, step)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dirty(app_id INTEGER, step INTEGER, start_ms INTEGER,"
    " PRIMARY KEY(app_id, step, start_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS series(app_id INTEGER, lset_id INTEGER, name TEXT,"
    " t_ms INTEGER, value REAL);"
    "CREATE INDEX IF NOT EXISTS series_q ON series(app_id, t_ms);";

void cp_store_config_default(cp_store_config_t *c)
{
    c->full_ms = 14LL * 86400000;
    c->minute_ms = 90LL * 86400000;
    c->hour_ms = 730LL * 86400000;
    c->grace_ms = 2 * MIN_MS;
    c->sync_full = true;
    c->max_dict = 4u << 20;
}

/* ------------------------------------------------------------------ */
/* shared helpers                                                      */

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, "cprof relay: sqlite: %s (%.60s)\n", e ? e : "?", sql);
        sqlite3_free(e);
        return CP_EDB;
    }
    return 0;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "cprof relay: sqlite prepare: %s (%.80s)\n", sqlite3_errmsg(db), sql);
        return NULL;
    }
    return st;
}

/* Steps a statement with no result rows; resets it. */
static int step_done(sqlite3_stmt *st)
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
    return exec_sql(db, sql);
}

static int open_db(const char *dir, bool writer, sqlite3 **out)
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

/* Accumulator of (stack, value) pairs -> sorted, merged blob. */
typedef struct pairs { uint64_t *v; size_t n, cap; } pairs_t;   /* v[2i]=stack, v[2i+1]=value */

static void pairs_add(pairs_t *p, uint64_t stack, uint64_t value)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = cp__xrealloc(p->v, p->cap * 2 * sizeof *p->v);
    }
    p->v[2 * p->n] = stack;
    p->v[2 * p->n + 1] = value;
    p->n++;
}
static int cmp_pair(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Sorts, merges equal stacks, encodes into out; returns the total.
 * Layout: uvarint divisor d (>= 1, the gcd of all values: CPU values are
 * multiples of the sampling interval, so this usually turns 4-5 byte
 * nanosecond varints into 1 byte), then (stack delta, value / d) pairs. */
static uint64_t pairs_encode(pairs_t *p, cp_buf_t *out)
{
    uint64_t total = 0, prev = 0, d = 0;
    out->len = 0;
    if (!p->n)
        return 0;
    qsort(p->v, p->n, 2 * sizeof *p->v, cmp_pair);
    size_t m = 0;   /* merge equal stacks in place */
    for (size_t i = 0; i < p->n;) {
        uint64_t st = p->v[2 * i], val = 0;
        while (i < p->n && p->v[2 * i] == st)
            val += p->v[2 * i + 1], i++;
        p->v[2 * m] = st;
        p->v[2 * m + 1] = val;
        d = gcd64(val, d);
        total += val;
        m++;
    }
    p->n = m;
    if (!d)
        d = 1;
    cp_buf_reserve(out, p->n * 20 + 10);
    out->len += cp__uvarint_put(out->data + out->len, d);
    for (size_t i = 0; i < p->n; i++) {
        out->len += cp__uvarint_put(out->data + out->len, p->v[2 * i] - prev);
        out->len += cp__uvarint_put(out->data + out->len, p->v[2 * i + 1] / d);
        prev = p->v[2 * i];
    }
    return total;
}
/* Decodes a blob, calling add(ud, stack, value); returns false if corrupt. */
static bool blob_each(const uint8_t *p, size_t n, void (*add)(void *, uint64_t, uint64_t), void *ud)
{
    uint64_t s = 0, d;
    size_t i = 0;
    if (!n)
        return true;
    if (!(i = cp__uvarint_get(p, n, &d)) || !d)
        return false;
    while (i < n) {
        uint64_t delta, v;
        size_t k = cp__uvarint_get(p + i, n - i, &delta);
        if (!k)
            return false;
        i += k;
        k = cp__uvarint_get(p + i, n - i, &v);
        if (!k)
            return false;
        i += k;
        s += delta;
        add(ud, s, v * d);
    }
    return true;
}
static void add_to_pairs(void *ud, uint64_t s, uint64_t v) { pairs_add(ud, s, v); }

static int64_t floor_to(int64_t t, int64_t step) { return t >= 0 ? t / step * step : -((-t + step - 1) / step) * step; }
static int64_t ceil_to(int64_t t, int64_t step) { return floor_to(t + step - 1, step); }

/* Canonical label set: pairs sorted by key, "k=v" joined by ','. */
static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const cp_kv_t *)a)->key, ((const cp_kv_t *)b)->key);
}
static void labels_canon(const cp_kv_t *kv, uint32_t n, cp_buf_t *canon, cp_buf_t *json)
{
    cp_kv_t *s = cp__xcalloc(n, sizeof *s);
    if (n)  /* kv may be NULL when there are no labels */
        memcpy(s, kv, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_kv);
    cp_buf_append(json, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        cp_buf_printf(canon, "%s%s=%s", i ? "," : "", s[i].key, s[i].value);
        if (i)
            cp_buf_append(json, ",", 1);
        cp_buf_json_str(json, s[i].key, strlen(s[i].key));
        cp_buf_append(json, ":", 1);
        cp_buf_json_str(json, s[i].value, strlen(s[i].value));
    }
    cp_buf_append(json, "}", 1);
    cp_buf_append(canon, "", 1);
    canon->len--;
    cp_buf_append(json, "", 1);
    json->len--;
    free(s);
}

bool cp_store_labels_match(const char *canon, const char *filter)
{
    if (!filter || !*filter)
        return true;
    const char *f = filter;
    while (*f) {
        const char *end = strchr(f, ',');
        size_t n = end ? (size_t)(end - f) : strlen(f);
        if (n) {
            /* find "k=v" as a whole element of canon */
            bool found = false;
            const char *c = canon ? canon : "";
            while (*c) {
                const char *ce = strchr(c, ',');
                size_t cn = ce ? (size_t)(ce - c) : strlen(c);
                if (cn == n && !memcmp(c, f, n)) {
                    found = true;
                    break;
                }
                c += cn;
                if (*c == ',')
                    c++;
            }
            if (!found)
                return false;
        }
        f += n;
        if (*f == ',')
            f++;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* writer                                                              */

typedef struct wapp {
    int64_t          id;
    char            *name;
    cp_stack_dict_t *dict;
    int64_t          mdone, hdone;     /* aggregation watermarks */
    struct wapp     *next;
} wapp_t;

typedef struct wtype { int64_t id; char *name; } wtype_t;

struct cp_store {
    sqlite3          *db;
    /* WAL checkpoints run on their own thread and connection (PASSIVE: never
     * blocks the writer), so a commit never pays for copying the WAL back
     * into the database; the writer's auto-checkpoint is off. */
    pthread_t         ckpt_thread;
    bool              ckpt_started;
    pthread_mutex_t   ckpt_mu;
    pthread_cond_t    ckpt_cv;
    bool              ckpt_stop;
    cp_store_config_t cfg;
    char             *dir;
    wapp_t           *apps;
    wtype_t          *types;
    size_t            n_types;
    cp__hmap_t        inst_conns;     /* instance row id -> live connections */
    cp_buf_t          tmp, tmp2;
    pairs_t          *per_type;       /* scratch: one accumulator per batch type */
    size_t            n_per_type;
    bool              in_tx;
    sqlite3_stmt *ins_str, *ins_frame, *ins_stack, *ins_window, *upd_inst, *upsert_counter,
                 *ins_series, *ins_dirty, *ins_app_type;
};

struct cp_store_conn {
    wapp_t     *app;
    int64_t     inst_id, lset_id;
    char       *iid, *canon;
    uint64_t    last_seq;
    cp__vu32_t  str_map, frame_map, stack_map;   /* connection id -> app id */
};

static int store_prepare(cp_store_t *s)
{
    sqlite3 *db = s->db;
    if (!(s->ins_str = prep(db, "INSERT INTO strings(app_id,id,s) VALUES(?,?,?)")) ||
        !(s->ins_frame = prep(db, "INSERT INTO frames(app_id,id,class_id,method_id,sig_id,line,kind)"
                                  " VALUES(?,?,?,?,?,?,?)")) ||
        !(s->ins_stack = prep(db, "INSERT INTO stacks(app_id,id,frames) VALUES(?,?,?)")) ||
        !(s->ins_window = prep(db, "INSERT OR REPLACE INTO windows(app_id,type_id,start_ms,instance_id,"
                                   "seq,lset_id,end_ms,total,data) VALUES(?,?,?,?,?,?,?,?,?)")) ||
        !(s->upd_inst = prep(db, "UPDATE instances SET last_seq=max(last_seq,?), last_seen=?,"
                                 " covered_ms=covered_ms+? WHERE id=?")) ||
        !(s->upsert_counter = prep(db, "INSERT INTO counters(instance_id,name,value) VALUES(?,?,?)"
                                       " ON CONFLICT(instance_id,name) DO UPDATE SET value=CASE WHEN name LIKE 'rate.%'"
                                       " OR name LIKE 'mem.%' OR name='threads' THEN excluded.value"
                                       " ELSE value+excluded.value END")) ||
        !(s->ins_series = prep(db, "INSERT INTO series(app_id,lset_id,name,t_ms,value) VALUES(?,?,?,?,?)")) ||
        !(s->ins_dirty = prep(db, "INSERT OR IGNORE INTO dirty(app_id,step,start_ms) VALUES(?,?,?)")) ||
        !(s->ins_app_type = prep(db, "INSERT OR IGNORE INTO app_types(app_id,type_id) VALUES(?,?)")))
        return CP_EDB;
    return 0;
}

static void *ckpt_main(void *arg)
{
    cp_store_t *s = arg;
    sqlite3 *db = NULL;
    if (open_db(s->dir, true, &db))
        return NULL;
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
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    sqlite3_close(db);
    return NULL;
}

int cp_store_open(const char *dir, const cp_store_config_t *cfg, cp_store_t **out)
{
    cp_store_t *s = cp__xcalloc(1, sizeof *s);
    int rc;
    if (cfg)
        s->cfg = *cfg;
    else
        cp_store_config_default(&s->cfg);
    s->dir = cp__xstrdup(dir);
    if ((rc = open_db(dir, true, &s->db)) != 0)
        goto fail;
    rc = CP_EDB;
    if (exec_sql(s->db, "PRAGMA journal_mode=WAL") ||
        exec_sql(s->db, s->cfg.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") ||
        exec_sql(s->db, "PRAGMA cache_size=-65536") ||
        check_version(s->db) ||
        exec_sql(s->db, SCHEMA) ||
        exec_sql(s->db, "UPDATE instances SET connected=0 WHERE connected<>0") ||
        store_prepare(s))
        goto fail;
    sqlite3_wal_autocheckpoint(s->db, 0);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->ckpt_started = pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) == 0;
    if (!s->ckpt_started)
        sqlite3_wal_autocheckpoint(s->db, 1000);
    *out = s;
    return 0;
fail:
    cp_store_close(s);
    *out = NULL;
    return rc;
}

static void wapp_free(wapp_t *a)
{
    cp_stack_dict_destroy(a->dict);
    free(a->name);
    free(a);
}

void cp_store_close(cp_store_t *s)
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
                           s->upsert_counter, s->ins_series, s->ins_dirty, s->ins_app_type};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite3_finalize(sts[i]);
    if (s->db) {
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    while (s->apps) {
        wapp_t *n = s->apps->next;
        wapp_free(s->apps);
        s->apps = n;
    }
    for (size_t i = 0; i < s->n_types; i++)
        free(s->types[i].name);
    free(s->types);
    for (size_t i = 0; i < s->n_per_type; i++)
        free(s->per_type[i].v);
    free(s->per_type);
    cp__hmap_free(&s->inst_conns);
    cp_buf_fini(&s->tmp);
    cp_buf_fini(&s->tmp2);
    free(s->dir);
    free(s);
}

int cp_store_begin(cp_store_t *s)
{
    int rc = exec_sql(s->db, "BEGIN IMMEDIATE");
    s->in_tx = rc == 0;
    return rc;
}
int cp_store_commit(cp_store_t *s)
{
    int rc = exec_sql(s->db, "COMMIT");
    if (rc)
        cp_store_rollback(s);
    s->in_tx = false;
    return rc;
}
void cp_store_rollback(cp_store_t *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = false;
    /* In-memory dictionaries may hold ids that were never stored: drop all
     * of them; each app reloads from the database on next use. */
    while (s->apps) {
        wapp_t *n = s->apps->next;
        s->apps->id = -1;   /* conns still pointing here see a stale app */
        cp_stack_dict_clear(s->apps->dict);
        s->apps = n;        /* leaked deliberately if conns reference it; see conn_check */
    }
}

static int64_t query_i64(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t dflt)
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
static int wapp_load(cp_store_t *s, wapp_t *a)
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
        const uint8_t *p = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1), i = 0;
        fr.n = 0;
        while (i < n) {
            uint64_t v;
            size_t k = cp__uvarint_get(p + i, n - i, &v);
            if (!k)
                break;
            i += k;
            cp__vu32_push(&fr, (uint32_t)v);
        }
        if (cp_stack_dict_intern_stack(a->dict, fr.v, (uint32_t)fr.n, &id) ||
            id != (uint32_t)sqlite3_column_int64(st, 0)) {
            free(fr.v);
            goto corrupt;
        }
    }
    free(fr.v);
    a->mdone = query_i64(s->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?", a->id, MIN_MS, 0);
    a->hdone = query_i64(s->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?", a->id, HOUR_MS, 0);
    rc = 0;
    goto out;
corrupt:
    fprintf(stderr, "cprof relay: dictionary of app %lld is inconsistent\n", (long long)a->id);
    rc = CP_EDB;
out:
    sqlite3_finalize(st);
    return rc;
}

static int get_app(cp_store_t *s, const char *name, wapp_t **out)
{
    for (wapp_t *a = s->apps; a; a = a->next)
        if (!strcmp(a->name, name)) {
            *out = a;
            return 0;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO apps(name) VALUES(?) ON CONFLICT(name) DO UPDATE"
                                  " SET name=excluded.name RETURNING id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int64_t id = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (id < 0)
        return CP_EDB;
    wapp_t *a = cp__xcalloc(1, sizeof *a);
    a->id = id;
    a->name = cp__xstrdup(name);
    int rc = wapp_load(s, a);
    if (rc) {
        wapp_free(a);
        return rc;
    }
    a->next = s->apps;
    s->apps = a;
    *out = a;
    return 0;
}

static int get_type(cp_store_t *s, const char *name, const char *unit, int64_t *id)
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

int cp_store_conn_open(cp_store_t *s, const cp_hello_t *h, int64_t now_ms,
                       cp_store_conn_t **out, uint64_t *last_seq)
{
    wapp_t *a;
    int rc = get_app(s, h->app, &a);
    if (rc)
        return rc;
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    labels_canon(h->labels, h->n_labels, &canon, &json);
    sqlite3_stmt *st = NULL;
    int64_t lset = -1, inst = -1;
    uint64_t seq = 0;
    rc = CP_EDB;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO lsets(app_id,canon) VALUES(?,?) ON CONFLICT(app_id,canon)"
                                  " DO UPDATE SET canon=excluded.canon RETURNING id", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, (const char *)canon.data, (int)canon.len, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        lset = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (lset < 0)
        goto out;
    char jvm[512];
    snprintf(jvm, sizeof jvm, "%s%s%s", h->jvm_vendor, *h->jvm_vendor && *h->jvm_version ? " " : "",
             h->jvm_version);
    if (sqlite3_prepare_v2(s->db,
            "INSERT INTO instances(app_id,iid,lset_id,host,pid,start_ms,jvm,agent_version,labels,"
            "first_seen,last_seen,connected) VALUES(?,?,?,?,?,?,?,?,?,?,?,1)"
            " ON CONFLICT(app_id,iid) DO UPDATE SET lset_id=excluded.lset_id, host=excluded.host,"
            " pid=excluded.pid, start_ms=excluded.start_ms, jvm=excluded.jvm,"
            " agent_version=excluded.agent_version, labels=excluded.labels,"
            " last_seen=excluded.last_seen, connected=1 RETURNING id, last_seq", -1, &st, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, h->instance, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, lset);
    sqlite3_bind_text(st, 4, h->host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, h->pid);
    sqlite3_bind_int64(st, 6, (int64_t)h->start_ms);
    sqlite3_bind_text(st, 7, jvm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, h->agent_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, (const char *)json.data, (int)json.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now_ms);
    sqlite3_bind_int64(st, 11, now_ms);
    if (sqlite3_step(st) == SQLITE_ROW) {
        inst = sqlite3_column_int64(st, 0);
        seq = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (inst < 0)
        goto out;
    cp_store_conn_t *c = cp__xcalloc(1, sizeof *c);
    c->app = a;
    c->inst_id = inst;
    c->lset_id = lset;
    c->iid = cp__xstrdup(h->instance);
    c->canon = cp__xstrdup((const char *)canon.data);
    c->last_seq = seq;
    (*cp__hmap_slot(&s->inst_conns, (uint64_t)inst, 1))++;
    *out = c;
    *last_seq = seq;
    rc = 0;
out:
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    return rc;
}

uint64_t cp_store_conn_last_seq(const cp_store_conn_t *c) { return c->last_seq; }

void cp_store_conn_close(cp_store_t *s, cp_store_conn_t *c, int64_t now_ms)
{
    if (!c)
        return;
    uint32_t *n = cp__hmap_slot(&s->inst_conns, (uint64_t)c->inst_id, 0);
    if (n && *n)
        (*n)--;
    if (!n || !*n) {
        sqlite3_stmt *st = NULL;
        if (!sqlite3_prepare_v2(s->db, "UPDATE instances SET connected=0, last_seen=max(last_seen,?)"
                                       " WHERE id=?", -1, &st, NULL)) {
            sqlite3_bind_int64(st, 1, now_ms);
            sqlite3_bind_int64(st, 2, c->inst_id);
            sqlite3_step(st);
        }
        sqlite3_finalize(st);
    }
    free(c->str_map.v);
    free(c->frame_map.v);
    free(c->stack_map.v);
    free(c->iid);
    free(c->canon);
    free(c);
}

/* Interns the batch's dictionary delta into the app dictionary, extending
 * the connection's id maps; new app ids are inserted into the tables. */
static int intern_delta(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b)
{
    wapp_t *a = c->app;
    if (b->flags & CP_BATCH_DICT_RESET)
        c->str_map.n = c->frame_map.n = c->stack_map.n = 0;
    uint32_t lim = s->cfg.max_dict ? s->cfg.max_dict : UINT32_MAX;
    if (c->str_map.n + b->n_strs > lim || c->frame_map.n + b->n_frames > lim ||
        c->stack_map.n + b->n_stacks > lim)
        return CP_ELIMIT;
    if (b->n_strs && b->str_first != c->str_map.n)
        return CP_EGAP;
    for (uint32_t i = 0; i < b->n_strs; i++) {
        uint32_t before = cp_stack_dict_strings(a->dict), id;
        if (cp_stack_dict_intern_string(a->dict, b->strs[i].s, b->strs[i].len, &id))
            return CP_ENOMEM;
        if (id == before) {
            sqlite3_bind_int64(s->ins_str, 1, a->id);
            sqlite3_bind_int64(s->ins_str, 2, id);
            sqlite3_bind_blob(s->ins_str, 3, b->strs[i].s, (int)b->strs[i].len, SQLITE_STATIC);
            if (step_done(s->ins_str))
                return CP_EDB;
        }
        cp__vu32_push(&c->str_map, id);
    }
    if (b->n_frames && b->frame_first != c->frame_map.n)
        return CP_EGAP;
    for (uint32_t i = 0; i < b->n_frames; i++) {
        cp_frame_t f = b->frames[i];
        if (f.kind > CP_FRAME_KIND_MAX)
            return CP_ERANGE;
        if (f.class_id >= c->str_map.n || f.method_id >= c->str_map.n || f.sig_id >= c->str_map.n)
            return CP_EDANGLING;
        f.class_id = c->str_map.v[f.class_id];
        f.method_id = c->str_map.v[f.method_id];
        f.sig_id = c->str_map.v[f.sig_id];
        uint32_t before = cp_stack_dict_frames(a->dict), id;
        if (cp_stack_dict_intern_frame(a->dict, &f, &id))
            return CP_ENOMEM;
        if (id == before) {
            sqlite3_stmt *st = s->ins_frame;
            sqlite3_bind_int64(st, 1, a->id);
            sqlite3_bind_int64(st, 2, id);
            sqlite3_bind_int64(st, 3, f.class_id);
            sqlite3_bind_int64(st, 4, f.method_id);
            sqlite3_bind_int64(st, 5, f.sig_id);
            sqlite3_bind_int64(st, 6, f.line);
            sqlite3_bind_int64(st, 7, f.kind);
            if (step_done(st))
                return CP_EDB;
        }
        cp__vu32_push(&c->frame_map, id);
    }
    if (b->n_stacks && b->stack_first != c->stack_map.n)
        return CP_EGAP;
    cp__vu32_t fr = {0};
    int rc = 0;
    for (uint32_t i = 0; i < b->n_stacks && !rc; i++) {
        const cp_wire_stack_t *ws = &b->stacks[i];
        fr.n = 0;
        if (ws->keep) {
            /* compact layout: the first `keep` frames of an earlier stack of
             * this connection (already in app ids), then ws->frames */
            uint32_t rn = 0;
            const uint32_t *rf = ws->ref < c->stack_map.n
                                 ? cp_stack_dict_stack(a->dict, c->stack_map.v[ws->ref], &rn) : NULL;
            if (!rf) {
                rc = CP_EDANGLING;
                break;
            }
            if (ws->keep > rn || ws->n > cp_wire_default_limits.max_depth ||
                ws->keep > cp_wire_default_limits.max_depth - ws->n) {
                rc = ws->keep > rn ? CP_ERANGE : CP_ELIMIT;
                break;
            }
            for (uint32_t k = 0; k < ws->keep; k++)
                cp__vu32_push(&fr, rf[k]);   /* rf stays valid: no intern until after the copy */
        }
        for (uint32_t k = 0; k < ws->n; k++) {
            if (ws->frames[k] >= c->frame_map.n) {
                rc = CP_EDANGLING;
                break;
            }
            cp__vu32_push(&fr, c->frame_map.v[ws->frames[k]]);
        }
        if (rc)
            break;
        uint32_t before = cp_stack_dict_stacks(a->dict), id;
        if (cp_stack_dict_intern_stack(a->dict, fr.v, (uint32_t)fr.n, &id)) {
            rc = CP_ENOMEM;
            break;
        }
        if (id == before) {
            cp_buf_reset(&s->tmp);
            cp_buf_reserve(&s->tmp, fr.n * 5 + 1);
            for (size_t k = 0; k < fr.n; k++)
                s->tmp.len += cp__uvarint_put(s->tmp.data + s->tmp.len, fr.v[k]);
            sqlite3_bind_int64(s->ins_stack, 1, a->id);
            sqlite3_bind_int64(s->ins_stack, 2, id);
            sqlite3_bind_blob(s->ins_stack, 3, s->tmp.data ? (void *)s->tmp.data : (void *)"",
                              (int)s->tmp.len, SQLITE_STATIC);
            if (step_done(s->ins_stack))
                rc = CP_EDB;
        }
        cp__vu32_push(&c->stack_map, id);
    }
    free(fr.v);
    return rc;
}

int cp_store_conn_batch(cp_store_t *s, cp_store_conn_t *c, const cp_batch_t *b,
                        int64_t now_ms, cp_store_event_fn ev, void *ud)
{
    if (c->app->id < 0)
        return CP_ESTATE;   /* app dropped by a rollback: the connection must reconnect */
    int rc = intern_delta(s, c, b);
    if (rc)
        return rc;
    if (b->seq <= c->last_seq)
        return 1;
    wapp_t *a = c->app;

    if (s->n_per_type < b->n_types) {
        s->per_type = cp__xrealloc(s->per_type, b->n_types * sizeof *s->per_type);
        memset(s->per_type + s->n_per_type, 0, (b->n_types - s->n_per_type) * sizeof *s->per_type);
        s->n_per_type = b->n_types;
    }
    for (uint32_t t = 0; t < b->n_types; t++)
        s->per_type[t].n = 0;
    for (uint32_t i = 0; i < b->n_values; i++) {
        const cp_wire_value_t *v = &b->values[i];
        if (v->stack >= c->stack_map.n || v->type >= b->n_types)
            return CP_EDANGLING;
        pairs_add(&s->per_type[v->type], c->stack_map.v[v->stack], v->value);
    }
    int64_t start = (int64_t)b->start_ms, end = (int64_t)b->end_ms;
    for (uint32_t t = 0; t < b->n_types; t++) {
        if (!s->per_type[t].n)
            continue;
        int64_t tid;
        if ((rc = get_type(s, b->types[t].name, b->types[t].unit, &tid)))
            return rc;
        uint64_t total = pairs_encode(&s->per_type[t], &s->tmp);
        sqlite3_stmt *st = s->ins_window;
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_int64(st, 2, tid);
        sqlite3_bind_int64(st, 3, start);
        sqlite3_bind_int64(st, 4, c->inst_id);
        sqlite3_bind_int64(st, 5, (int64_t)b->seq);
        sqlite3_bind_int64(st, 6, c->lset_id);
        sqlite3_bind_int64(st, 7, end);
        sqlite3_bind_int64(st, 8, (int64_t)total);
        sqlite3_bind_blob(st, 9, s->tmp.data, (int)s->tmp.len, SQLITE_STATIC);
        if (step_done(st))
            return CP_EDB;
        sqlite3_bind_int64(s->ins_app_type, 1, a->id);
        sqlite3_bind_int64(s->ins_app_type, 2, tid);
        if (step_done(s->ins_app_type))
            return CP_EDB;
        if (ev) {
            cp_store_event_t e = {a->name, c->iid, b->types[t].name, c->canon, start, end, total};
            ev(ud, &e);
        }
    }
    if (start < a->mdone) {   /* late data for an aggregated minute: recompute it */
        sqlite3_bind_int64(s->ins_dirty, 1, a->id);
        sqlite3_bind_int64(s->ins_dirty, 2, MIN_MS);
        sqlite3_bind_int64(s->ins_dirty, 3, floor_to(start, MIN_MS));
        if (step_done(s->ins_dirty))
            return CP_EDB;
    }
    for (uint32_t i = 0; i < b->n_counters; i++) {
        sqlite3_stmt *st = s->upsert_counter;
        sqlite3_bind_int64(st, 1, c->inst_id);
        sqlite3_bind_text(st, 2, b->counters[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)b->counters[i].value);
        if (step_done(st))
            return CP_EDB;
    }
    for (uint32_t i = 0; i < b->n_points; i++) {
        sqlite3_stmt *st = s->ins_series;
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_int64(st, 2, c->lset_id);
        sqlite3_bind_text(st, 3, b->points[i].series, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)b->points[i].t_ms);
        sqlite3_bind_double(st, 5, b->points[i].value);
        if (step_done(st))
            return CP_EDB;
    }
    sqlite3_bind_int64(s->upd_inst, 1, (int64_t)b->seq);
    sqlite3_bind_int64(s->upd_inst, 2, now_ms);
    sqlite3_bind_int64(s->upd_inst, 3, end > start ? end - start : 0);
    sqlite3_bind_int64(s->upd_inst, 4, c->inst_id);
    if (step_done(s->upd_inst))
        return CP_EDB;
    c->last_seq = b->seq;
    return 0;
}

/* ---- downsampling ---- */

typedef struct grp { int64_t bucket, lset; pairs_t p; } grp_t;

/* Aggregates rows of src (step 0 = windows, else agg rows of that step) with
 * start in [lo, hi) into agg rows of dst_step, for every type of the app. */
static int downsample(cp_store_t *s, int64_t app, int64_t src_step, int64_t dst_step, int64_t lo, int64_t hi)
{
    sqlite3_stmt *types = NULL, *rd = NULL, *wr = NULL;
    int rc = CP_EDB;
    const char *q = src_step ? "SELECT start_ms, lset_id, data FROM agg WHERE app_id=?1 AND step=?4"
                               " AND type_id=?2 AND start_ms>=?3 AND start_ms<?5"
                             : "SELECT start_ms, lset_id, data FROM windows WHERE app_id=?1"
                               " AND type_id=?2 AND start_ms>=?3 AND start_ms<?5 AND ?4=?4";
    if (sqlite3_prepare_v2(s->db, "SELECT type_id FROM app_types WHERE app_id=?", -1, &types, NULL) ||
        sqlite3_prepare_v2(s->db, q, -1, &rd, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO agg(app_id,step,type_id,start_ms,lset_id,total,data)"
                                  " VALUES(?,?,?,?,?,?,?)", -1, &wr, NULL))
        goto out;
    sqlite3_bind_int64(types, 1, app);
    grp_t *g = NULL;
    size_t ng = 0, capg = 0;
    cp__hmap_t idx = {0};
    while (sqlite3_step(types) == SQLITE_ROW) {
        int64_t tid = sqlite3_column_int64(types, 0);
        sqlite3_reset(rd);
        sqlite3_bind_int64(rd, 1, app);
        sqlite3_bind_int64(rd, 2, tid);
        sqlite3_bind_int64(rd, 3, lo);
        sqlite3_bind_int64(rd, 4, src_step);
        sqlite3_bind_int64(rd, 5, hi);
        for (size_t i = 0; i < ng; i++)
            g[i].p.n = 0;
        ng = 0;
        cp__hmap_free(&idx);
        while (sqlite3_step(rd) == SQLITE_ROW) {
            int64_t b = floor_to(sqlite3_column_int64(rd, 0), dst_step), l = sqlite3_column_int64(rd, 1);
            uint64_t key = ((uint64_t)((b - lo) / dst_step) << 40) ^ (uint64_t)l;
            uint32_t *slot = cp__hmap_slot(&idx, key, 1);
            if (!*slot) {
                if (ng == capg) {
                    capg = capg ? capg * 2 : 16;
                    g = cp__xrealloc(g, capg * sizeof *g);
                    memset(g + ng, 0, (capg - ng) * sizeof *g);
                }
                g[ng].bucket = b;
                g[ng].lset = l;
                g[ng].p.n = 0;
                *slot = (uint32_t)++ng;
            }
            grp_t *gg = &g[*slot - 1];
            blob_each(sqlite3_column_blob(rd, 2), (size_t)sqlite3_column_bytes(rd, 2), add_to_pairs, &gg->p);
        }
        for (size_t i = 0; i < ng; i++) {
            uint64_t total = pairs_encode(&g[i].p, &s->tmp2);
            sqlite3_bind_int64(wr, 1, app);
            sqlite3_bind_int64(wr, 2, dst_step);
            sqlite3_bind_int64(wr, 3, tid);
            sqlite3_bind_int64(wr, 4, g[i].bucket);
            sqlite3_bind_int64(wr, 5, g[i].lset);
            sqlite3_bind_int64(wr, 6, (int64_t)total);
            sqlite3_bind_blob(wr, 7, s->tmp2.data ? (void *)s->tmp2.data : (void *)"", (int)s->tmp2.len,
                              SQLITE_STATIC);
            if (step_done(wr)) {
                rc = CP_EDB;
                goto free_g;
            }
        }
    }
    rc = 0;
free_g:
    for (size_t i = 0; i < capg; i++)
        free(g[i].p.v);
    free(g);
    cp__hmap_free(&idx);
out:
    sqlite3_finalize(types);
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    return rc;
}

static int set_done(cp_store_t *s, int64_t app, int64_t step, int64_t done)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO agg_state(app_id,step,done_ms) VALUES(?,?,?)",
                           -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, app);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int64(st, 3, done);
    int rc = step_done(st);
    sqlite3_finalize(st);
    return rc;
}

#define MAX_BUCKETS_PER_PASS 10   /* bounds how long one pass holds the writer */

/* One bounded pass for one app; returns 1 if more work is pending. */
static int maintain_app(cp_store_t *s, wapp_t *a, int64_t now)
{
    int rc, more = 0;
    /* dirty buckets (late data) */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT step, start_ms FROM dirty WHERE app_id=? ORDER BY step LIMIT 64",
                           -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    int64_t d[64][2];
    int nd = 0;
    while (nd < 64 && sqlite3_step(st) == SQLITE_ROW) {
        d[nd][0] = sqlite3_column_int64(st, 0);
        d[nd][1] = sqlite3_column_int64(st, 1);
        nd++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nd; i++) {
        int64_t step = d[i][0], b = d[i][1];
        if ((rc = downsample(s, a->id, step == MIN_MS ? 0 : MIN_MS, step, b, b + step)))
            return rc;
        char sql[200];
        snprintf(sql, sizeof sql, "DELETE FROM dirty WHERE app_id=%lld AND step=%lld AND start_ms=%lld",
                 (long long)a->id, (long long)step, (long long)b);
        if ((rc = exec_sql(s->db, sql)))
            return rc;
        if (step == MIN_MS && floor_to(b, HOUR_MS) < a->hdone) {
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO dirty(app_id,step,start_ms) VALUES(%lld,%lld,%lld)",
                     (long long)a->id, (long long)HOUR_MS, (long long)floor_to(b, HOUR_MS));
            if ((rc = exec_sql(s->db, sql)))
                return rc;
            more = 1;
        }
    }
    if (nd == 64)
        more = 1;

    /* minute aggregation up to now - grace */
    int64_t target = floor_to(now - s->cfg.grace_ms, MIN_MS);
    if (a->mdone == 0) {
        int64_t first = query_i64(s->db, "SELECT min(start_ms) FROM windows WHERE app_id=?1 AND ?2=?2",
                                  a->id, 0, INT64_MIN);
        a->mdone = first == INT64_MIN ? target : floor_to(first, MIN_MS);
    }
    if (a->mdone < target) {
        int64_t hi = a->mdone + MAX_BUCKETS_PER_PASS * MIN_MS;
        if (hi > target)
            hi = target;
        else
            more = 1;
        /* skip empty stretches quickly */
        int64_t next = query_i64(s->db, "SELECT min(start_ms) FROM windows WHERE app_id=? AND start_ms>=?",
                                 a->id, a->mdone, INT64_MIN);
        if (next == INT64_MIN || next >= target) {
            hi = target;
        } else if (floor_to(next, MIN_MS) > a->mdone) {
            a->mdone = floor_to(next, MIN_MS);
            hi = a->mdone + MAX_BUCKETS_PER_PASS * MIN_MS;
            if (hi > target)
                hi = target;
        }
        if ((rc = downsample(s, a->id, 0, MIN_MS, a->mdone, hi)))
            return rc;
        a->mdone = hi;
        if ((rc = set_done(s, a->id, MIN_MS, hi)))
            return rc;
    }
    /* hour aggregation up to the minute watermark */
    int64_t htarget = floor_to(a->mdone, HOUR_MS);
    if (a->hdone == 0)
        a->hdone = floor_to(query_i64(s->db, "SELECT min(start_ms) FROM agg WHERE app_id=? AND step=?",
                                      a->id, MIN_MS, htarget), HOUR_MS);
    if (a->hdone < htarget) {
        int64_t hi = a->hdone + 6 * HOUR_MS;
        if (hi > htarget)
            hi = htarget;
        else
            more = 1;
        if ((rc = downsample(s, a->id, MIN_MS, HOUR_MS, a->hdone, hi)))
            return rc;
        a->hdone = hi;
        if ((rc = set_done(s, a->id, HOUR_MS, hi)))
            return rc;
    }
    /* expiry: only what a coarser tier already covers */
    int64_t full_cut = now - s->cfg.full_ms, min_cut = now - s->cfg.minute_ms, hour_cut = now - s->cfg.hour_ms;
    if (full_cut > a->mdone)
        full_cut = a->mdone;
    if (min_cut > a->hdone)
        min_cut = a->hdone;
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM windows WHERE app_id=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;"
             "DELETE FROM series WHERE app_id=%lld AND t_ms<%lld;",
             (long long)a->id, (long long)a->id, (long long)full_cut, (long long)a->id,
             (long long)(now - s->cfg.full_ms));
    if ((rc = exec_sql(s->db, sql)))
        return rc;
    snprintf(sql, sizeof sql,
             "DELETE FROM agg WHERE app_id=%lld AND step=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;"
             "DELETE FROM agg WHERE app_id=%lld AND step=%lld AND type_id IN (SELECT type_id FROM app_types"
             " WHERE app_id=%lld) AND start_ms<%lld;",
             (long long)a->id, (long long)MIN_MS, (long long)a->id, (long long)min_cut,
             (long long)a->id, (long long)HOUR_MS, (long long)a->id, (long long)hour_cut);
    if ((rc = exec_sql(s->db, sql)))
        return rc;
    return more;
}

int cp_store_maintain(cp_store_t *s, int64_t now_ms)
{
    /* make sure every app in the database is known (apps seen in earlier runs) */
    sqlite3_stmt *st = NULL;
    char **names = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM apps", -1, &st, NULL))
        return CP_EDB;
    while (sqlite3_step(st) == SQLITE_ROW) {
        names = cp__xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = cp__xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    int rc = cp_store_begin(s), more = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        wapp_t *a;
        if ((rc = get_app(s, names[i], &a)) == 0) {
            rc = maintain_app(s, a, now_ms);
            if (rc > 0)
                more = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        cp_store_rollback(s);
        return rc;
    }
    rc = cp_store_commit(s);
    return rc < 0 ? rc : more;
}

int64_t cp_store_disk_bytes(cp_store_t *s)
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

/* ------------------------------------------------------------------ */
/* reader                                                              */

typedef struct rapp {
    int64_t     id;
    char      **strs;   uint32_t n_strs, cap_strs;
    char      **fnames; uint8_t *fkinds; uint32_t n_funcs, cap_funcs;
    cp__hmap_t  fidx;    /* hash(name) -> func index + 1 */
    cp__vu32_t  frame_func;
    cp__vu32_t  stack_off;   /* n_stacks + 1 entries once loaded */
    cp__vu32_t  stack_funcs;
    struct rapp *next;
} rapp_t;

struct cp_store_reader {
    sqlite3 *db;
    rapp_t  *apps;
    sqlite3_stmt *app_id, *type_id;
};

int cp_store_reader_open(const char *dir, cp_store_reader_t **out)
{
    cp_store_reader_t *r = cp__xcalloc(1, sizeof *r);
    int rc = open_db(dir, false, &r->db);
    if (rc) {
        free(r);
        return rc;
    }
    if (!(r->app_id = prep(r->db, "SELECT id FROM apps WHERE name=?")) ||
        !(r->type_id = prep(r->db, "SELECT t.id, t.unit FROM types t JOIN app_types a ON a.type_id=t.id"
                                   " WHERE a.app_id=? AND t.name=?"))) {
        cp_store_reader_close(r);
        return CP_EDB;
    }
    *out = r;
    return 0;
}

static void rapp_free(rapp_t *a)
{
    for (uint32_t i = 0; i < a->n_strs; i++)
        free(a->strs[i]);
    free(a->strs);
    for (uint32_t i = 0; i < a->n_funcs; i++)
        free(a->fnames[i]);
    free(a->fnames);
    free(a->fkinds);
    cp__hmap_free(&a->fidx);
    free(a->frame_func.v);
    free(a->stack_off.v);
    free(a->stack_funcs.v);
    free(a);
}

void cp_store_reader_close(cp_store_reader_t *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->app_id);
    sqlite3_finalize(r->type_id);
    sqlite3_close(r->db);
    while (r->apps) {
        rapp_t *n = r->apps->next;
        rapp_free(r->apps);
        r->apps = n;
    }
    free(r);
}

/* One kind per name: a method met as interpreted (or of unknown tier) and
 * later as JIT code (compiled or inlined) is shown as JIT code - its
 * interpreted samples are the warm-up before the JIT compiled it, and the
 * first sample of a hot method often lands there. Between compiled and
 * inlined the first seen stays. */
static uint32_t rapp_func(rapp_t *a, const char *name, uint8_t kind)
{
    uint64_t h = cp__hash_bytes(name, strlen(name));
    uint32_t *slot = cp__hmap_slot(&a->fidx, h, 1);
    if (*slot) {
        uint8_t *k = &a->fkinds[*slot - 1];
        if ((*k == CP_FRAME_JAVA || *k == CP_FRAME_INTERPRETED) &&
            (kind == CP_FRAME_COMPILED || kind == CP_FRAME_INLINED))
            *k = kind;
        return *slot - 1;
    }
    if (a->n_funcs == a->cap_funcs) {
        a->cap_funcs = a->cap_funcs ? a->cap_funcs * 2 : 256;
        a->fnames = cp__xrealloc(a->fnames, a->cap_funcs * sizeof *a->fnames);
        a->fkinds = cp__xrealloc(a->fkinds, a->cap_funcs);
    }
    a->fnames[a->n_funcs] = cp__xstrdup(name);
    a->fkinds[a->n_funcs] = kind;
    *slot = ++a->n_funcs;
    return a->n_funcs - 1;
}

/* Brings the app cache up to date with the database (inside the caller's
 * read transaction). */
static int rapp_refresh(cp_store_reader_t *r, rapp_t *a)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT id, s FROM strings WHERE app_id=? AND id>=? ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, a->n_strs);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (a->n_strs == a->cap_strs) {
            a->cap_strs = a->cap_strs ? a->cap_strs * 2 : 256;
            a->strs = cp__xrealloc(a->strs, a->cap_strs * sizeof *a->strs);
        }
        int n = sqlite3_column_bytes(st, 1);
        char *c = cp__xrealloc(NULL, (size_t)n + 1);
        if (n)
            memcpy(c, sqlite3_column_blob(st, 1), (size_t)n);
        c[n] = 0;
        a->strs[a->n_strs++] = c;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(r->db, "SELECT class_id, method_id, kind FROM frames WHERE app_id=? AND id>=?"
                                  " ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, (int64_t)a->frame_func.n);
    cp_buf_t nm = CP_BUF_INIT;
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint32_t ci = (uint32_t)sqlite3_column_int64(st, 0), mi = (uint32_t)sqlite3_column_int64(st, 1);
        const char *cls = ci < a->n_strs ? a->strs[ci] : "", *m = mi < a->n_strs ? a->strs[mi] : "?";
        cp_buf_reset(&nm);
        if (*cls)
            cp_buf_printf(&nm, "%s.%s", cls, m);
        else
            cp_buf_printf(&nm, "%s", m);
        cp__vu32_push(&a->frame_func, rapp_func(a, (const char *)nm.data, (uint8_t)sqlite3_column_int(st, 2)));
    }
    cp_buf_fini(&nm);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(r->db, "SELECT frames FROM stacks WHERE app_id=? AND id>=? ORDER BY id", -1, &st, NULL))
        return CP_EDB;
    if (!a->stack_off.n)
        cp__vu32_push(&a->stack_off, 0);
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int64(st, 2, (int64_t)a->stack_off.n - 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0), i = 0;
        while (i < n) {
            uint64_t v;
            size_t k = cp__uvarint_get(p + i, n - i, &v);
            if (!k)
                break;
            i += k;
            cp__vu32_push(&a->stack_funcs, v < a->frame_func.n ? a->frame_func.v[v] : 0);
        }
        cp__vu32_push(&a->stack_off, (uint32_t)a->stack_funcs.n);
    }
    sqlite3_finalize(st);
    return 0;
}

static int64_t reader_app(cp_store_reader_t *r, const char *name)
{
    int64_t id = -1;
    sqlite3_reset(r->app_id);
    sqlite3_bind_text(r->app_id, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(r->app_id) == SQLITE_ROW)
        id = sqlite3_column_int64(r->app_id, 0);
    sqlite3_reset(r->app_id);
    return id;
}

static rapp_t *reader_rapp(cp_store_reader_t *r, int64_t id)
{
    for (rapp_t *a = r->apps; a; a = a->next)
        if (a->id == id)
            return a;
    rapp_t *a = cp__xcalloc(1, sizeof *a);
    a->id = id;
    a->next = r->apps;
    r->apps = a;
    return a;
}

/* Dense accumulator over stack ids. */
typedef struct acc { uint64_t *v; size_t n; } acc_t;
static void acc_add(void *ud, uint64_t s, uint64_t v)
{
    acc_t *a = ud;
    if (s >= a->n) {
        size_t nn = s + 1 > a->n * 2 ? s + 1 : a->n * 2;
        a->v = cp__xrealloc(a->v, nn * sizeof *a->v);
        memset(a->v + a->n, 0, (nn - a->n) * sizeof *a->v);
        a->n = nn;
    }
    a->v[s] += v;
}

typedef struct plan_ctx {
    cp_store_reader_t *r;
    int64_t app, type;
    const uint8_t *lset_ok;   /* NULL = all */
    int64_t n_lset;
    /* profile mode */
    acc_t *acc;
    /* timeline mode */
    uint64_t *points;
    uint32_t npoints;
    int64_t from, step;
    int rc;
    /* buckets whose aggregate is stale (late data, recompute pending):
     * minutes answered from raw windows, hours from minutes/raw */
    int64_t *dirty_min, *dirty_hour;
    size_t n_dirty_min, n_dirty_hour;
} plan_ctx_t;

static bool lset_allowed(const plan_ctx_t *p, int64_t l)
{
    return !p->lset_ok || (l >= 0 && l < p->n_lset && p->lset_ok[l]);
}

/* Reads one tier (step 0 = raw windows) for [lo, hi). */
static void plan_read(plan_ctx_t *p, int64_t step, int64_t lo, int64_t hi)
{
    if (lo >= hi || p->rc)
        return;
    sqlite3_stmt *st = NULL;
    const char *cols = p->acc ? "start_ms, lset_id, data" : "start_ms, lset_id, total";
    char sql[300];
    if (step)
        snprintf(sql, sizeof sql, "SELECT %s FROM agg WHERE app_id=?1 AND step=?4 AND type_id=?2"
                                  " AND start_ms>=?3 AND start_ms<?5", cols);
    else
        snprintf(sql, sizeof sql, "SELECT %s FROM windows WHERE app_id=?1 AND type_id=?2"
                                  " AND start_ms>=?3 AND start_ms<?5 AND ?4=?4", cols);
    if (sqlite3_prepare_v2(p->r->db, sql, -1, &st, NULL)) {
        p->rc = CP_EDB;
        return;
    }
    sqlite3_bind_int64(st, 1, p->app);
    sqlite3_bind_int64(st, 2, p->type);
    sqlite3_bind_int64(st, 3, lo);
    sqlite3_bind_int64(st, 4, step);
    sqlite3_bind_int64(st, 5, hi);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!lset_allowed(p, sqlite3_column_int64(st, 1)))
            continue;
        if (p->acc) {
            blob_each(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2), acc_add, p->acc);
        } else {
            int64_t t = sqlite3_column_int64(st, 0);
            if (t < p->from)
                continue;
            uint64_t i = (uint64_t)((t - p->from) / p->step);
            if (i < p->npoints)
                p->points[i] += (uint64_t)sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_finalize(st);
}

/* Splits [lo, hi) into minute rows (whole minutes below mdone) and raw. */
static bool is_dirty(const int64_t *v, size_t n, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] >= lo && v[i] < hi)
            return true;
    return false;
}

/* Minute rows for whole clean minutes in [ms, me), raw windows for dirty ones. */
static void plan_minute_rows(plan_ctx_t *p, int64_t ms, int64_t me)
{
    if (!is_dirty(p->dirty_min, p->n_dirty_min, ms, me)) {
        plan_read(p, MIN_MS, ms, me);
        return;
    }
    int64_t run = ms;
    for (int64_t m = ms; m < me; m += MIN_MS) {
        if (is_dirty(p->dirty_min, p->n_dirty_min, m, m + MIN_MS)) {
            plan_read(p, MIN_MS, run, m);
            plan_read(p, 0, m, m + MIN_MS);
            run = m + MIN_MS;
        }
    }
    plan_read(p, MIN_MS, run, me);
}

/* Splits [lo, hi) into minute rows (whole minutes below mdone) and raw. */
static void plan_minutes(plan_ctx_t *p, int64_t lo, int64_t hi, int64_t mdone, bool use)
{
    if (lo >= hi)
        return;
    int64_t ms = ceil_to(lo, MIN_MS), me = floor_to(hi, MIN_MS);
    if (me > mdone)
        me = mdone;
    if (!use || ms >= me) {
        plan_read(p, 0, lo, hi);
        return;
    }
    plan_read(p, 0, lo, ms);
    plan_minute_rows(p, ms, me);
    plan_read(p, 0, me, hi);
}

static void load_dirty(plan_ctx_t *p)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->r->db, "SELECT step, start_ms FROM dirty WHERE app_id=?", -1, &st, NULL))
        return;
    sqlite3_bind_int64(st, 1, p->app);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t step = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 1);
        if (step == MIN_MS) {
            p->dirty_min = cp__xrealloc(p->dirty_min, (p->n_dirty_min + 1) * sizeof(int64_t));
            p->dirty_min[p->n_dirty_min++] = t;
        }
        /* a dirty minute also makes its hour stale until recomputed */
        p->dirty_hour = cp__xrealloc(p->dirty_hour, (p->n_dirty_hour + 1) * sizeof(int64_t));
        p->dirty_hour[p->n_dirty_hour++] = floor_to(t, HOUR_MS);
    }
    sqlite3_finalize(st);
}

static void plan_run(plan_ctx_t *p, int64_t lo, int64_t hi, bool use_min, bool use_hour)
{
    int64_t mdone = query_i64(p->r->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?",
                              p->app, MIN_MS, 0);
    int64_t hdone = query_i64(p->r->db, "SELECT done_ms FROM agg_state WHERE app_id=? AND step=?",
                              p->app, HOUR_MS, 0);
    load_dirty(p);
    int64_t hs = ceil_to(lo, HOUR_MS), he = floor_to(hi, HOUR_MS);
    if (he > hdone)
        he = hdone;
    if (!use_hour || hs >= he) {
        plan_minutes(p, lo, hi, mdone, use_min);
    } else {
        plan_minutes(p, lo, hs, mdone, use_min);
        int64_t run = hs;
        for (int64_t h = hs; h < he; h += HOUR_MS) {
            if (is_dirty(p->dirty_hour, p->n_dirty_hour, h, h + HOUR_MS)) {
                plan_read(p, HOUR_MS, run, h);
                plan_minutes(p, h, h + HOUR_MS, mdone, use_min);
                run = h + HOUR_MS;
            }
        }
        plan_read(p, HOUR_MS, run, he);
        plan_minutes(p, he, hi, mdone, use_min);
    }
    free(p->dirty_min);
    free(p->dirty_hour);
    p->dirty_min = p->dirty_hour = NULL;
    p->n_dirty_min = p->n_dirty_hour = 0;
}

/* Resolves app, type and label filter; begins a read transaction. */
static int query_setup(cp_store_reader_t *r, const cp_store_query_t *q, plan_ctx_t *p,
                       uint8_t **lset_ok, char **unit, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->r = r;
    if (exec_sql(r->db, "BEGIN"))
        return CP_EDB;
    p->app = reader_app(r, q->app);
    if (p->app < 0) {
        snprintf(err, errlen, "unknown app '%s'", q->app);
        return CP_ENOTFOUND;
    }
    sqlite3_reset(r->type_id);
    sqlite3_bind_int64(r->type_id, 1, p->app);
    /* "alloc" is the API's short name for the agent's "alloc_bytes" (docs/api.md) */
    sqlite3_bind_text(r->type_id, 2, strcmp(q->type, "alloc") ? q->type : "alloc_bytes", -1,
                      SQLITE_TRANSIENT);
    p->type = -1;
    if (sqlite3_step(r->type_id) == SQLITE_ROW) {
        p->type = sqlite3_column_int64(r->type_id, 0);
        if (unit)
            *unit = cp__xstrdup((const char *)sqlite3_column_text(r->type_id, 1));
    }
    sqlite3_reset(r->type_id);
    if (p->type < 0) {
        snprintf(err, errlen, "unknown type '%s' for app '%s'", q->type, q->app);
        return CP_ENOTFOUND;
    }
    *lset_ok = NULL;
    if (q->labels && *q->labels) {
        sqlite3_stmt *st = NULL;
        int64_t maxid = query_i64(r->db, "SELECT max(id) FROM lsets WHERE ?=?", 0, 0, 0);
        uint8_t *ok = cp__xcalloc((size_t)maxid + 1, 1);
        if (sqlite3_prepare_v2(r->db, "SELECT id, canon FROM lsets WHERE app_id=?", -1, &st, NULL)) {
            free(ok);
            return CP_EDB;
        }
        sqlite3_bind_int64(st, 1, p->app);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            if (id <= maxid && cp_store_labels_match((const char *)sqlite3_column_text(st, 1), q->labels))
                ok[id] = 1;
        }
        sqlite3_finalize(st);
        *lset_ok = ok;
        p->lset_ok = ok;
        p->n_lset = maxid + 1;
    }
    return 0;
}

void cp_profile_free(cp_profile_t *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_names; i++)
        free(p->names[i]);
    free(p->names);
    free(p->kinds);
    free(p->stack_off);
    free(p->funcs);
    free(p->values);
    free(p->unit);
    memset(p, 0, sizeof *p);
}

int cp_store_profile(cp_store_reader_t *r, const cp_store_query_t *q, cp_profile_t *out,
                     char *err, size_t errlen)
{
    plan_ctx_t p;
    uint8_t *lset_ok = NULL;
    char *unit = NULL;
    acc_t acc = {0};
    memset(out, 0, sizeof *out);
    int rc = query_setup(r, q, &p, &lset_ok, &unit, err, errlen);
    if (rc)
        goto out;
    rapp_t *a = reader_rapp(r, p.app);
    if ((rc = rapp_refresh(r, a)))
        goto out;
    p.acc = &acc;
    plan_run(&p, q->from_ms, q->to_ms, true, true);
    if ((rc = p.rc))
        goto out;
    /* compact: only used stacks and names */
    uint32_t n_stacks = (uint32_t)(a->stack_off.n ? a->stack_off.n - 1 : 0);
    uint32_t *name_map = cp__xcalloc(a->n_funcs + 1, sizeof *name_map);   /* func -> new idx + 1 */
    cp__vu32_t off = {0}, funcs = {0};
    cp__vu64_t vals = {0};
    cp__vu32_push(&off, 0);
    for (size_t sid = 0; sid < acc.n; sid++) {
        if (!acc.v[sid])
            continue;
        if (sid >= n_stacks)
            continue;   /* blob refers to a stack not yet visible: cannot happen in one snapshot */
        for (uint32_t k = a->stack_off.v[sid]; k < a->stack_off.v[sid + 1]; k++) {
            uint32_t f = a->stack_funcs.v[k];
            if (!name_map[f]) {
                out->names = cp__xrealloc(out->names, (out->n_names + 1) * sizeof *out->names);
                out->kinds = cp__xrealloc(out->kinds, out->n_names + 1);
                out->names[out->n_names] = cp__xstrdup(a->fnames[f]);
                out->kinds[out->n_names] = a->fkinds[f];
                name_map[f] = ++out->n_names;
            }
            cp__vu32_push(&funcs, name_map[f] - 1);
        }
        cp__vu32_push(&off, (uint32_t)funcs.n);
        cp__vu64_push(&vals, acc.v[sid]);
        out->total += acc.v[sid];
    }
    free(name_map);
    out->stack_off = off.v;
    out->funcs = funcs.v;
    out->values = vals.v;
    out->n_stacks = (uint32_t)vals.n;
    out->unit = unit;
    unit = NULL;
out:
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    free(acc.v);
    free(lset_ok);
    free(unit);
    if (rc && rc != CP_ENOTFOUND && !*err)
        snprintf(err, errlen, "%s", cp_strerror(rc));
    return rc;
}

int cp_store_timeline(cp_store_reader_t *r, const cp_store_query_t *q, int64_t step_ms,
                      uint64_t *points, uint32_t n, cp_buf_t *series, char *err, size_t errlen)
{
    plan_ctx_t p;
    uint8_t *lset_ok = NULL;
    int rc = query_setup(r, q, &p, &lset_ok, NULL, err, errlen);
    if (rc)
        goto out;
    p.points = points;
    p.npoints = n;
    p.from = q->from_ms;
    p.step = step_ms;
    plan_run(&p, q->from_ms, q->to_ms, step_ms % MIN_MS == 0, step_ms % HOUR_MS == 0);
    if ((rc = p.rc))
        goto out;
    /* series: per name, per step; sum for counters/durations, mean for gauges */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT name, t_ms, value, lset_id FROM series WHERE app_id=? AND t_ms>=?"
                                  " AND t_ms<? ORDER BY name", -1, &st, NULL)) {
        rc = CP_EDB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, p.app);
    sqlite3_bind_int64(st, 2, q->from_ms);
    sqlite3_bind_int64(st, 3, q->to_ms);
    double *sum = cp__xcalloc(n, sizeof *sum);
    uint32_t *cnt = cp__xcalloc(n, sizeof *cnt);
    char *cur = NULL;
    int nseries = 0;
    cp_buf_append(series, "{", 1);
    for (;;) {
        int sr = sqlite3_step(st);
        const char *name = sr == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (cur && (!name || strcmp(name, cur))) {
            bool mean = strncmp(cur, "threads.", 8) == 0 || strncmp(cur, "heap.", 5) == 0;
            if (nseries++)
                cp_buf_append(series, ",", 1);
            cp_buf_json_str(series, cur, strlen(cur));
            cp_buf_append(series, ":[", 2);
            int np = 0;
            for (uint32_t i = 0; i < n; i++)
                if (cnt[i])
                    cp_buf_printf(series, "%s[%lld,%.17g]", np++ ? "," : "",
                                  (long long)((q->from_ms + (int64_t)i * step_ms) / 1000),
                                  mean ? sum[i] / cnt[i] : sum[i]);
            cp_buf_append(series, "]", 1);
            memset(sum, 0, n * sizeof *sum);
            memset(cnt, 0, n * sizeof *cnt);
            free(cur);
            cur = NULL;
        }
        if (!name)
            break;
        if (!cur)
            cur = cp__xstrdup(name);
        if (!lset_allowed(&p, sqlite3_column_int64(st, 3)))
            continue;
        uint64_t i = (uint64_t)((sqlite3_column_int64(st, 1) - q->from_ms) / step_ms);
        if (i < n) {
            sum[i] += sqlite3_column_double(st, 2);
            cnt[i]++;
        }
    }
    cp_buf_append(series, "}", 1);
    free(cur);
    free(sum);
    free(cnt);
    sqlite3_finalize(st);
out:
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    free(lset_ok);
    if (rc && rc != CP_ENOTFOUND && !*err)
        snprintf(err, errlen, "%s", cp_strerror(rc));
    return rc;
}

int cp_store_apps_json(cp_store_reader_t *r, cp_buf_t *out)
{
    sqlite3_stmt *st = NULL, *ty = NULL;
    int rc = CP_EDB;
    if (sqlite3_prepare_v2(r->db,
            "SELECT a.id, a.name, count(i.id), coalesce(sum(i.connected),0), coalesce(max(i.last_seen),0)"
            " FROM apps a LEFT JOIN instances i ON i.app_id=a.id GROUP BY a.id ORDER BY a.name",
            -1, &st, NULL) ||
        sqlite3_prepare_v2(r->db, "SELECT t.name FROM app_types a JOIN types t ON t.id=a.type_id"
                                  " WHERE a.app_id=? ORDER BY t.id", -1, &ty, NULL))
        goto out;
    cp_buf_printf(out, "{\"apps\":[");
    for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        cp_buf_printf(out, "%s{\"name\":", n ? "," : "");
        cp_buf_json_str(out, name, strlen(name));
        cp_buf_printf(out, ",\"instances\":%lld,\"connected\":%lld,\"types\":[",
                      (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3));
        sqlite3_reset(ty);
        sqlite3_bind_int64(ty, 1, sqlite3_column_int64(st, 0));
        for (int k = 0; sqlite3_step(ty) == SQLITE_ROW; k++) {
            const char *t = (const char *)sqlite3_column_text(ty, 0);
            if (k)
                cp_buf_append(out, ",", 1);
            cp_buf_json_str(out, t, strlen(t));
        }
        cp_buf_printf(out, "],\"last_seen\":%lld}", (long long)(sqlite3_column_int64(st, 4) / 1000));
    }
    cp_buf_printf(out, "]}");
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ty);
    return rc;
}

static void json_kv_str(cp_buf_t *o, const char *k, const unsigned char *v)
{
    const char *s = v ? (const char *)v : "";
    cp_buf_printf(o, ",\"%s\":", k);
    cp_buf_json_str(o, s, strlen(s));
}

int cp_store_instances_json(cp_store_reader_t *r, const char *app, cp_buf_t *out)
{
    int64_t id = reader_app(r, app);
    if (id < 0)
        return CP_ENOTFOUND;
    sqlite3_stmt *st = NULL, *cn = NULL;
    int rc = CP_EDB;
    if (sqlite3_prepare_v2(r->db,
            "SELECT id, iid, host, pid, labels, jvm, agent_version, connected, first_seen, last_seen,"
            " covered_ms FROM instances WHERE app_id=? ORDER BY connected DESC, last_seen DESC",
            -1, &st, NULL) ||
        sqlite3_prepare_v2(r->db, "SELECT name, value FROM counters WHERE instance_id=?", -1, &cn, NULL))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    cp_buf_printf(out, "{\"instances\":[");
    for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
        cp_buf_printf(out, "%s{\"id\":", n ? "," : "");
        const char *iid = (const char *)sqlite3_column_text(st, 1);
        cp_buf_json_str(out, iid, strlen(iid));
        cp_buf_printf(out, ",\"app\":");
        cp_buf_json_str(out, app, strlen(app));
        json_kv_str(out, "host", sqlite3_column_text(st, 2));
        cp_buf_printf(out, ",\"pid\":%lld,\"labels\":%s", (long long)sqlite3_column_int64(st, 3),
                      sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "{}");
        json_kv_str(out, "jvm", sqlite3_column_text(st, 5));
        json_kv_str(out, "agent_version", sqlite3_column_text(st, 6));
        cp_buf_printf(out, ",\"connected\":%s,\"first_seen\":%lld,\"last_seen\":%lld",
                      sqlite3_column_int(st, 7) ? "true" : "false",
                      (long long)(sqlite3_column_int64(st, 8) / 1000),
                      (long long)(sqlite3_column_int64(st, 9) / 1000));
        /* quality from the counters (docs/protocol.md "Counters"): deltas are
         * summed (samples.<type>, fail.<kind>, drop.<where>), gauges
         * (rate.*, mem.*, threads) keep their latest value. */
        int64_t samples = 0, failed = 0, dropped = 0, covered = sqlite3_column_int64(st, 10);
        double rate = -1;
        cp_buf_t fail = CP_BUF_INIT;
        sqlite3_reset(cn);
        sqlite3_bind_int64(cn, 1, sqlite3_column_int64(st, 0));
        while (sqlite3_step(cn) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(cn, 0);
            int64_t v = sqlite3_column_int64(cn, 1);
            if (!strcmp(k, "samples") || !strcmp(k, "samples.cpu") || !strcmp(k, "samples.wall") ||
                !strcmp(k, "samples.alloc") || !strcmp(k, "samples.lock"))
                samples += v;
            else if (!strncmp(k, "drop.", 5) || !strncmp(k, "dropped", 7))
                dropped += v;
            else if (!strcmp(k, "rate.cpu_mhz"))
                rate = (double)v / 1000.0;
            else if (!strncmp(k, "fail.", 5)) {
                cp_buf_append(&fail, ",", fail.len ? 1 : 0);
                cp_buf_json_str(&fail, k + 5, strlen(k + 5));
                cp_buf_printf(&fail, ":%lld", (long long)v);
                failed += v;
            }
        }
        if (rate < 0)
            rate = covered > 0 ? (double)samples * 1000.0 / (double)covered : 0.0;
        cp_buf_printf(out, ",\"quality\":{\"samples\":%lld,\"failed\":%lld,\"fail\":{%.*s},"
                           "\"dropped\":%lld,\"rate_hz\":%.3f}}",
                      (long long)samples, (long long)failed,
                      (int)fail.len, fail.data ? (const char *)fail.data : "", (long long)dropped, rate);
        cp_buf_fini(&fail);
    }
    cp_buf_printf(out, "]}");
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cn);
    return rc;
}
