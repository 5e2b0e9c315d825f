/* store_pg_dict.c - the PostgreSQL engine's per-app dictionaries: the
 * interning callbacks of store_delta.h over a relay-local cache (content
 * hash -> app id) in front of the strings / frames / stacks tables.
 *
 * A hit costs nothing. On a miss the relay takes the app's dictionary lock
 * (pg_advisory_xact_lock on the aux connection, held until cp__pg_dict_end)
 * and brings its cache up to date: ids are dense and committed in order, so
 * the rows with id >= what it has are exactly what other relays added.
 * Under the lock the cache is complete, so an entry still missing is new:
 * it gets the app's next id, and its row goes into a buffer of VALUES
 * written just before the dictionary transaction commits - which is before the
 * batch that uses it commits (a reader never sees a window naming an id it
 * cannot load). Why a lock rather than INSERT ... ON CONFLICT alone: ids
 * from a sequence leave gaps and commit out of id order, which the
 * readers' incremental name caches (store_names.h) cannot follow; under
 * the lock the (app_id, h) UNIQUE key is the safety net (a violation fails
 * the batch and drops the cache). Hash collisions (64-bit, per app) are
 * not detected: at 10^6 entries per app their odds are ~3e-8.
 *
 * Thread: store worker only. */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void cp__pg_app_cache_clear(cp__pg_app_t *a)
{
    cp__hmap_free(&a->str_h);
    cp__hmap_free(&a->frame_h);
    cp__hmap_free(&a->stack_h);
    cp__hmap_free(&a->stack_at);
    free(a->stack_off.v);
    free(a->stack_frames.v);
    memset(&a->stack_off, 0, sizeof a->stack_off);
    memset(&a->stack_frames, 0, sizeof a->stack_frames);
    a->have_str = a->have_frame = a->have_stack = 0;
    cp_buf_fini(&a->copy_str);
    cp_buf_fini(&a->copy_frame);
    cp_buf_fini(&a->copy_stack);
}

/* Appends "INSERT INTO <head> VALUES <rows>;" for a table's new rows. */
static void insert_rows(cp_buf_t *sql, const char *head, cp_buf_t *rows)
{
    if (!rows->len)
        return;
    cp_buf_printf(sql, "INSERT INTO %s VALUES ", head);
    cp_buf_append(sql, rows->data, rows->len);
    cp_buf_append(sql, ";", 1);
    cp_buf_reset(rows);
}

int cp__pg_dict_end(cp__pg_t *s, bool ok)
{
    if (!s->dict_tx)
        return 0;
    s->dict_tx = false;
    cp__pg_app_t *a = s->dict_app;
    s->dict_app = NULL;
    int rc = ok ? 0 : CP_EDB;
    if (!rc) {
        /* the new rows and the commit in one round trip */
        cp_buf_t *sql = &s->tmp2;
        cp_buf_reset(sql);
        insert_rows(sql, "strings(app_id,id,h,s)", &a->copy_str);
        insert_rows(sql, "frames(app_id,id,h,class_id,method_id,sig_id,line,kind)", &a->copy_frame);
        insert_rows(sql, "stacks(app_id,id,h,frames)", &a->copy_stack);
        cp_buf_append(sql, "COMMIT", 7);   /* with the NUL */
        PGresult *r = PQexec(s->aux, (const char *)sql->data);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "cprof relay: postgres: %s(dictionary rows)\n", PQerrorMessage(s->aux));
            rc = CP_EDB;
        }
        PQclear(r);
    }
    if (rc) {
        /* ids handed out in it were never stored */
        PQclear(PQexec(s->aux, "ROLLBACK"));
        cp__pg_app_cache_clear(a);
        return ok ? rc : 0;
    }
    a->have_str = a->next_str;
    a->have_frame = a->next_frame;
    a->have_stack = a->next_stack;
    return 0;
}

/* Adds one table's rows (id, h) with id >= *have to the cache (id order;
 * stops at a gap, which cannot happen under the lock). */
static void refresh(const PGresult *r, uint32_t *have, cp__hmap_t *h)
{
    for (int i = 0; i < PQntuples(r) && cp__pg_get_i64(r, i, 0) == *have; i++) {
        *cp__hmap_slot(h, (uint64_t)cp__pg_get_i64(r, i, 1), 1) = *have + 1;
        (*have)++;
    }
}

/* Takes app a's dictionary lock on aux and brings the cache up to date,
 * in one round trip. The dictionary transaction commits asynchronously
 * (synchronous_commit=off): WAL is flushed in order, so the durable
 * commit of any batch that uses its ids, which comes later, makes it
 * durable too; a crash in between loses only ids that no acknowledged
 * batch uses, and every cache that may hold them goes with the session
 * (ensure_conns, cp__pg_read_begin). */
static int dict_lock(cp__pg_t *s, cp__pg_app_t *a)
{
    if (s->dict_tx && s->dict_app == a)
        return 0;
    if (s->dict_tx && cp__pg_dict_end(s, true))
        return CP_EDB;
    char sql[900];
    long long app = (long long)a->id;
    /* no lock_timeout here: the holder only interns (it waits for nothing) */
    snprintf(sql, sizeof sql,
             "BEGIN; SET LOCAL lock_timeout=0; SET LOCAL synchronous_commit=off;"
             " SELECT pg_advisory_xact_lock(%d, %d);"
             " SELECT id, h FROM strings WHERE app_id=%lld AND id>=%u ORDER BY id;"
             " SELECT id, h FROM frames WHERE app_id=%lld AND id>=%u ORDER BY id;"
             " SELECT id, h FROM stacks WHERE app_id=%lld AND id>=%u ORDER BY id",
             CP__PG_LOCK_DICT, (int)a->id, app, a->have_str, app, a->have_frame, app, a->have_stack);
    s->dict_tx = true;
    s->dict_app = a;
    int64_t t0 = cp__pg_mono_ns();
    s->prof.dict_locks++;
    bool ok = PQsendQuery(s->aux, sql) == 1;
    int n = 0;
    PGresult *r;
    while ((r = PQgetResult(s->aux))) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (ok)
                fprintf(stderr, "cprof relay: postgres: %s(dictionary lock)\n", PQerrorMessage(s->aux));
            ok = false;
        } else if (ok && n >= 4) {
            refresh(r, n == 4 ? &a->have_str : n == 5 ? &a->have_frame : &a->have_stack,
                    n == 4 ? &a->str_h : n == 5 ? &a->frame_h : &a->stack_h);
        }
        PQclear(r);
        n++;
    }
    cp__pg_prof_add(&s->prof, CP__PG_T_DICT_LOCK, &t0);
    if (ok && n != 7)
        fprintf(stderr, "cprof relay: postgres: dictionary lock: %d results\n", n);
    if (!ok || n != 7) {
        cp__pg_dict_end(s, false);
        return CP_EDB;
    }
    a->next_str = a->have_str;
    a->next_frame = a->have_frame;
    a->next_stack = a->have_stack;
    return 0;
}

/* The cached id of content hash h, after taking the lock on a miss;
 * *fresh when the content is new (the caller queues its row). */
static int lookup(cp__pg_ictx_t *x, cp__hmap_t *m, uint64_t h, uint32_t *next, uint32_t *id, bool *fresh)
{
    uint32_t *slot = cp__hmap_slot(m, h, 0);
    *fresh = false;
    if (slot && *slot) {
        *id = *slot - 1;
        return 0;
    }
    if (dict_lock(x->s, x->a))
        return CP_EDB;
    slot = cp__hmap_slot(m, h, 1);
    if (!*slot) {
        *slot = ++*next;   /* id + 1 */
        *fresh = true;
    }
    *id = *slot - 1;
    return 0;
}

/* A bytea literal: '\x<hex>' (standard_conforming_strings: conn_setup). */
static void lit_bytea(cp_buf_t *b, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cp_buf_append(b, "'\\x", 3);
    cp_buf_reserve(b, n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = (uint8_t)hex[((const uint8_t *)p)[i] >> 4];
        b->data[b->len++] = (uint8_t)hex[((const uint8_t *)p)[i] & 15];
    }
    cp_buf_append(b, "')", 2);
}

static int i_string(void *ud, const char *str, size_t len, uint32_t *id)
{
    cp__pg_ictx_t *x = ud;
    uint64_t h = cp__hash_bytes(str, len);
    bool fresh;
    if (lookup(x, &x->a->str_h, h, &x->a->next_str, id, &fresh))
        return CP_EDB;
    if (fresh) {
        cp_buf_printf(&x->a->copy_str, "%s(%lld,%u,%lld,", x->a->copy_str.len ? "," : "", (long long)x->a->id, *id,
                      (long long)(int64_t)h);
        lit_bytea(&x->a->copy_str, str, len);
    }
    return 0;
}

static int i_frame(void *ud, const cp_frame_t *f, uint32_t *id)
{
    cp__pg_ictx_t *x = ud;
    uint8_t key[17];
    memcpy(key, &f->class_id, 4);
    memcpy(key + 4, &f->method_id, 4);
    memcpy(key + 8, &f->sig_id, 4);
    memcpy(key + 12, &f->line, 4);
    key[16] = f->kind;
    uint64_t h = cp__hash_bytes(key, sizeof key);
    bool fresh;
    if (lookup(x, &x->a->frame_h, h, &x->a->next_frame, id, &fresh))
        return CP_EDB;
    if (fresh)
        cp_buf_printf(&x->a->copy_frame, "%s(%lld,%u,%lld,%u,%u,%u,%d,%u)", x->a->copy_frame.len ? "," : "",
                      (long long)x->a->id, *id, (long long)(int64_t)h, f->class_id, f->method_id, f->sig_id,
                      f->line, f->kind);
    return 0;
}

/* Remembers stack id's frames for compact references. */
static void cache_frames(cp__pg_app_t *a, uint32_t id, const uint32_t *frames, uint32_t n)
{
    uint32_t *at = cp__hmap_slot(&a->stack_at, id, 1);
    if (*at)
        return;
    if (!a->stack_off.n)
        cp__vu32_push(&a->stack_off, 0);
    for (uint32_t k = 0; k < n; k++)
        cp__vu32_push(&a->stack_frames, frames[k]);
    cp__vu32_push(&a->stack_off, (uint32_t)a->stack_frames.n);
    *at = (uint32_t)a->stack_off.n - 1;   /* frames [off[at - 1], off[at]) */
}

static int i_stack(void *ud, const uint32_t *frames, uint32_t n, uint32_t *id)
{
    cp__pg_ictx_t *x = ud;
    uint64_t h = cp__hash_bytes(frames, (size_t)n * sizeof *frames) ^ n;
    bool fresh;
    if (lookup(x, &x->a->stack_h, h, &x->a->next_stack, id, &fresh))
        return CP_EDB;
    if (fresh) {
        cp_buf_t *b = &x->s->tmp;
        cp_store_frames_encode(frames, n, b);
        cp_buf_printf(&x->a->copy_stack, "%s(%lld,%u,%lld,", x->a->copy_stack.len ? "," : "", (long long)x->a->id,
                      *id, (long long)(int64_t)h);
        lit_bytea(&x->a->copy_stack, b->data, b->len);
    }
    cache_frames(x->a, *id, frames, n);
    return 0;
}

static const uint32_t *i_stack_frames(void *ud, uint32_t id, uint32_t *n)
{
    static const uint32_t none[1];
    cp__pg_ictx_t *x = ud;
    cp__pg_app_t *a = x->a;
    uint32_t *at = cp__hmap_slot(&a->stack_at, id, 0);
    if (!at || !*at) {
        /* not cached (the cache was dropped): read it */
        cp__pgq_t q = {0};
        cp__pgq_i64(&q, a->id);
        cp__pgq_i64(&q, id);
        PGresult *r = cp__pg_run(x->s->aux, "SELECT frames FROM stacks WHERE app_id=$1 AND id=$2", &q, true);
        if (!r)
            return NULL;
        if (!PQntuples(r)) {
            PQclear(r);
            return NULL;
        }
        cp__vu32_t fr = {0};
        cp_store_frames_decode((const uint8_t *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), &fr);
        PQclear(r);
        cache_frames(a, id, fr.v, (uint32_t)fr.n);
        free(fr.v);
        at = cp__hmap_slot(&a->stack_at, id, 0);
    }
    uint32_t k = *at;
    *n = a->stack_off.v[k] - a->stack_off.v[k - 1];
    return *n ? a->stack_frames.v + a->stack_off.v[k - 1] : none;
}

const cp_store_intern_ops_t cp__pg_intern_ops = {i_string, i_frame, i_stack, i_stack_frames};
