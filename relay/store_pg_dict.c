/* store_pg_dict.c - the PostgreSQL engine's per-app dictionaries: the
 * interning callbacks of store_delta.h over a relay-local cache (content
 * hash -> app id) in front of the strings / frames / stacks tables.
 *
 * A cache miss takes the app's dictionary lock (a transaction advisory
 * lock on the aux connection, held until cp__pg_dict_end), then
 *   INSERT ... (app_id, id = next, h, content) ON CONFLICT (app_id, h) DO NOTHING RETURNING id
 * and, when another relay interned the content first, reads its id. Under
 * the lock `next` (max(id) + 1, read once per lock) is exact, so ids stay
 * dense; the dictionary commits (cp__pg_dict_end) before the batch that
 * uses it, so a reader never sees a window naming an id it cannot load.
 * Hash collisions (64-bit, per app) are not detected: at 10^6 entries per
 * app their odds are ~3e-8.
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
}

int cp__pg_dict_end(cp__pg_t *s, bool ok)
{
    if (!s->dict_tx)
        return 0;
    s->dict_tx = false;
    cp__pg_app_t *a = s->dict_app;
    s->dict_app = NULL;
    a->next_str = a->next_frame = a->next_stack = -1;
    int rc = ok ? cp__pg_cmd(s->aux, "COMMIT", NULL) : CP_EDB;
    if (rc) {
        /* ids handed out in it were never stored */
        PQclear(PQexec(s->aux, "ROLLBACK"));
        cp__pg_app_cache_clear(a);
    }
    return ok ? rc : 0;
}

static int dict_lock(cp__pg_t *s, cp__pg_app_t *a)
{
    if (s->dict_tx && s->dict_app == a)
        return 0;
    if (s->dict_tx && cp__pg_dict_end(s, true))
        return CP_EDB;
    cp__pgq_t q = {0};
    cp__pgq_i64(&q, CP__PG_LOCK_DICT);
    cp__pgq_i64(&q, a->id);
    if (cp__pg_cmd(s->aux, "BEGIN", NULL))
        return CP_EDB;
    s->dict_tx = true;
    s->dict_app = a;
    if (cp__pg_cmd(s->aux, "SELECT pg_advisory_xact_lock($1::int, $2::int)", &q)) {
        cp__pg_dict_end(s, false);
        return CP_EDB;
    }
    a->next_str = a->next_frame = a->next_stack = -1;
    return 0;
}

/* Interns one entry of `table` (its columns after app_id, id, h in cols,
 * their values in q after the first three): returns its id. */
static int intern(cp__pg_t *s, cp__pg_app_t *a, const char *table, const char *cols, int64_t *next,
                  cp__pgq_t *q, uint64_t h, uint32_t *id)
{
    int rc = dict_lock(s, a);
    if (rc)
        return rc;
    char sql[300];
    cp__pgq_t k = {0};
    cp__pgq_i64(&k, a->id);
    if (*next < 0) {
        snprintf(sql, sizeof sql, "SELECT coalesce(max(id)+1,0) FROM %s WHERE app_id=$1", table);
        bool err = false;
        *next = cp__pg_i64(s->aux, sql, &k, -1, &err);
        if (err || *next < 0)
            return CP_EDB;
    }
    /* q's first three values: app_id, id, h */
    snprintf(q->num[0], sizeof q->num[0], "%lld", (long long)a->id);
    snprintf(q->num[1], sizeof q->num[1], "%lld", (long long)*next);
    snprintf(q->num[2], sizeof q->num[2], "%lld", (long long)(int64_t)h);
    char vals[120] = "";
    for (int i = 1; i <= q->n; i++)
        snprintf(vals + strlen(vals), sizeof vals - strlen(vals), "%s$%d", i > 1 ? "," : "", i);
    snprintf(sql, sizeof sql, "INSERT INTO %s(app_id,id,h,%s) VALUES(%s) ON CONFLICT(app_id,h) DO NOTHING"
                              " RETURNING id", table, cols, vals);
    PGresult *r = cp__pg_run(s->aux, sql, q, false);
    if (!r)
        return CP_EDB;
    int64_t v = PQntuples(r) ? cp__pg_get_i64(r, 0, 0) : -1;
    PQclear(r);
    if (v >= 0) {
        (*next)++;
    } else {   /* another relay interned it first */
        cp__pgq_i64(&k, (int64_t)h);
        snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE app_id=$1 AND h=$2", table);
        bool err = false;
        v = cp__pg_i64(s->aux, sql, &k, -1, &err);
        if (err || v < 0)
            return CP_EDB;
    }
    *id = (uint32_t)v;
    return 0;
}

/* q with three placeholder values (app_id, id, h) filled by intern(). */
static void q_head(cp__pgq_t *q)
{
    cp__pgq_reset(q);
    cp__pgq_i64(q, 0);
    cp__pgq_i64(q, 0);
    cp__pgq_i64(q, 0);
}

static int i_string(void *ud, const char *str, size_t len, uint32_t *id)
{
    cp__pg_ictx_t *x = ud;
    uint64_t h = cp__hash_bytes(str, len);
    uint32_t *slot = cp__hmap_slot(&x->a->str_h, h, 0);
    if (slot && *slot) {
        *id = *slot - 1;
        return 0;
    }
    cp__pgq_t q;
    q_head(&q);
    cp__pgq_bytes(&q, str, len);
    int rc = intern(x->s, x->a, "strings", "s", &x->a->next_str, &q, h, id);
    if (!rc)
        *cp__hmap_slot(&x->a->str_h, h, 1) = *id + 1;
    return rc;
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
    uint32_t *slot = cp__hmap_slot(&x->a->frame_h, h, 0);
    if (slot && *slot) {
        *id = *slot - 1;
        return 0;
    }
    cp__pgq_t q;
    q_head(&q);
    cp__pgq_i64(&q, f->class_id);
    cp__pgq_i64(&q, f->method_id);
    cp__pgq_i64(&q, f->sig_id);
    cp__pgq_i64(&q, f->line);
    cp__pgq_i64(&q, f->kind);
    int rc = intern(x->s, x->a, "frames", "class_id,method_id,sig_id,line,kind", &x->a->next_frame, &q, h, id);
    if (!rc)
        *cp__hmap_slot(&x->a->frame_h, h, 1) = *id + 1;
    return rc;
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
    uint32_t *slot = cp__hmap_slot(&x->a->stack_h, h, 0);
    if (slot && *slot) {
        *id = *slot - 1;
        return 0;
    }
    cp_buf_t *b = &x->s->tmp;
    cp_buf_reset(b);
    cp_buf_reserve(b, (size_t)n * 5 + 1);
    for (uint32_t k = 0; k < n; k++)
        b->len += cp__uvarint_put(b->data + b->len, frames[k]);
    cp__pgq_t q;
    q_head(&q);
    cp__pgq_bytes(&q, b->data, b->len);
    int rc = intern(x->s, x->a, "stacks", "frames", &x->a->next_stack, &q, h, id);
    if (rc)
        return rc;
    *cp__hmap_slot(&x->a->stack_h, h, 1) = *id + 1;
    cache_frames(x->a, *id, frames, n);
    return 0;
}

static const uint32_t *i_stack_frames(void *ud, uint32_t id, uint32_t *n)
{
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
        const uint8_t *p = (const uint8_t *)PQgetvalue(r, 0, 0);
        size_t len = (size_t)PQgetlength(r, 0, 0), i = 0;
        cp__vu32_t fr = {0};
        while (i < len) {
            uint64_t v;
            size_t k = cp__uvarint_get(p + i, len - i, &v);
            if (!k)
                break;
            i += k;
            cp__vu32_push(&fr, (uint32_t)v);
        }
        PQclear(r);
        cache_frames(a, id, fr.v, (uint32_t)fr.n);
        free(fr.v);
        at = cp__hmap_slot(&a->stack_at, id, 0);
    }
    uint32_t k = *at;
    *n = a->stack_off.v[k] - a->stack_off.v[k - 1];
    return a->stack_frames.v + a->stack_off.v[k - 1];
}

const cp_store_intern_ops_t cp__pg_intern_ops = {i_string, i_frame, i_stack, i_stack_frames};
