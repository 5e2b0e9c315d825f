/* store_sqlite_windows.c - the SQLite engine's per-window profile query
 * (cp_store_profile_windows, store.h): the merged profile of a range plus
 * every row that went into it (a raw window of one instance, or a minute /
 * hour aggregate of one label set), each row's stacks renumbered to the
 * merged profile's stack indices.
 *
 * One pass over the planner's rows (the same planner as cp_store_profile,
 * store_tier.h): each row's blob is merged into the dense accumulator and
 * kept as it is (~2.25 bytes a value, 7x less than decoded pairs); once all
 * rows are read the merged profile is built (store_names.h), a map from app
 * stack id to merged index follows from the same walk
 * cp_store_names_profile does (non-zero stacks in id order), and the rows
 * are decoded again, one at a time, and handed to the callback in time
 * order with their ids mapped.
 *
 * Invariant: a row's pairs are sorted by app stack id (the blob's order,
 * store_blob.h) and the map is increasing, so each row's merged indices are
 * strictly increasing.
 *
 * Thread: the reader's query worker; one read transaction (one snapshot). */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_names.h"
#include "store_tier.h"

typedef struct wrow {
    int64_t start, end, instance, lset;
    int     tier;
    size_t  off, len;        /* its blob: blobs.data[off .. off + len) */
    uint32_t seq;            /* read order, the last tie-break */
} wrow_t;

typedef struct wctx {
    cp_store_blob_acc_t   acc;
    cp_buf_t blobs;          /* every row's blob, row after row */
    wrow_t *rows;
    size_t  n_rows, cap_rows;
} wctx_t;

/* cp__sqlite_plan_t.row: merges one row and keeps its blob. */
static void wrow_read(cp__sqlite_plan_t *p, int64_t step, sqlite3_stmt *st)
{
    wctx_t *w = p->row_ud;
    const void *blob = sqlite3_column_blob(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    if (!len)
        return;
    cp_store_blob_each(blob, len, cp_store_blob_acc_add, &w->acc);
    if (w->n_rows == w->cap_rows) {
        w->cap_rows = w->cap_rows ? w->cap_rows * 2 : 256;
        w->rows = cp__xrealloc(w->rows, w->cap_rows * sizeof *w->rows);
    }
    wrow_t *r = &w->rows[w->n_rows];
    r->start = sqlite3_column_int64(st, 0);
    r->lset = sqlite3_column_int64(st, 1);
    r->end = sqlite3_column_int64(st, 3);
    r->instance = step ? -1 : sqlite3_column_int64(st, 4);
    r->tier = step == CP_STORE_HOUR_MS ? CP_STORE_TIER_HOUR : step ? CP_STORE_TIER_MINUTE : CP_STORE_TIER_FULL;
    r->off = w->blobs.len;
    r->len = len;
    cp_buf_append(&w->blobs, blob, len);
    r->seq = (uint32_t)w->n_rows++;
}

static int wrow_cmp(const void *a, const void *b)
{
    const wrow_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    if (x->instance != y->instance)
        return x->instance < y->instance ? -1 : 1;
    if (x->lset != y->lset)
        return x->lset < y->lset ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* id -> text for the rows' instances and label sets (small tables). */
typedef struct names_by_id { int64_t *id; char **s; size_t n; } names_by_id_t;

static void nbi_load(sqlite3 *db, const char *sql, int64_t app, names_by_id_t *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
        return;
    sqlite3_bind_int64(st, 1, app);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (m->n == cap) {
            cap = cap ? cap * 2 : 16;
            m->id = cp__xrealloc(m->id, cap * sizeof *m->id);
            m->s = cp__xrealloc(m->s, cap * sizeof *m->s);
        }
        const char *t = (const char *)sqlite3_column_text(st, 1);
        m->id[m->n] = sqlite3_column_int64(st, 0);
        m->s[m->n++] = cp__xstrdup(t ? t : "");
    }
    sqlite3_finalize(st);
}

static const char *nbi_get(const names_by_id_t *m, int64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->id[i] == id)
            return m->s[i];
    return NULL;
}

static void nbi_free(names_by_id_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->s[i]);
    free(m->id);
    free(m->s);
}

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sorts pairs by stack and adds up repeated stacks. */
static void pairs_merge(cp_store_blob_pairs_t *p)
{
    qsort(p->v, p->n, 2 * sizeof *p->v, cmp_pair);
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (o && p->v[2 * (o - 1)] == p->v[2 * i]) {
            p->v[2 * (o - 1) + 1] += p->v[2 * i + 1];
        } else {
            p->v[2 * o] = p->v[2 * i];
            p->v[2 * o + 1] = p->v[2 * i + 1];
            o++;
        }
    }
    p->n = o;
}

/* Calls fn per row in time order with ids mapped to merged indices. The
 * raw rows of one instance window that request labels split (one per label
 * set, store_ctx.h) go as one row carrying the instance's label set,
 * unless flags has CP_STORE_WINDOWS_BY_LSET. */
static int deliver(wctx_t *w, const cp_store_names_t *nm, cp__sqlite_reader_t *rd, int64_t app, unsigned flags,
                   cp_store_window_fn fn, void *ud, bool *stopped)
{
    uint32_t n_stacks = cp_store_names_n_stacks(nm);
    /* app stack id -> merged index, as cp_store_names_profile numbers them */
    uint32_t *map = cp__xcalloc(w->acc.n + 1, sizeof *map);
    uint32_t k = 0;
    for (size_t sid = 0; sid < w->acc.n; sid++)
        map[sid] = w->acc.v[sid] && sid < n_stacks ? k++ : UINT32_MAX;
    names_by_id_t insts = {0}, lsets = {0}, inst_lsets = {0};
    nbi_load(rd->db, "SELECT id, iid FROM instances WHERE app_id=?", app, &insts);
    nbi_load(rd->db, "SELECT id, canon FROM lsets WHERE app_id=?", app, &lsets);
    bool merge = !(flags & CP_STORE_WINDOWS_BY_LSET);
    if (merge)
        nbi_load(rd->db, "SELECT i.id, l.canon FROM instances i JOIN lsets l ON l.id=i.lset_id WHERE i.app_id=?",
                 app, &inst_lsets);
    qsort(w->rows, w->n_rows, sizeof *w->rows, wrow_cmp);
    size_t cap = 0;
    uint32_t *stacks = NULL;
    uint64_t *values = NULL;
    cp_store_blob_pairs_t pairs = {0};
    int rc = 0;
    for (size_t i = 0; i < w->n_rows && !rc; i++) {
        const wrow_t *r = &w->rows[i];
        pairs.n = 0;
        cp_store_blob_each(w->blobs.data + r->off, r->len, cp_store_blob_add_to_pairs, &pairs);
        size_t j = i + 1;
        int64_t end = r->end;
        while (merge && r->tier == CP_STORE_TIER_FULL && j < w->n_rows && w->rows[j].tier == r->tier &&
               w->rows[j].start == r->start && w->rows[j].instance == r->instance) {
            cp_store_blob_each(w->blobs.data + w->rows[j].off, w->rows[j].len, cp_store_blob_add_to_pairs, &pairs);
            if (w->rows[j].end > end)
                end = w->rows[j].end;
            j++;
        }
        bool merged = j > i + 1;
        if (merged)
            pairs_merge(&pairs);
        i = j - 1;
        if (pairs.n > cap) {
            cap = pairs.n;
            stacks = cp__xrealloc(stacks, cap * sizeof *stacks);
            values = cp__xrealloc(values, cap * sizeof *values);
        }
        cp_store_window_t win = {
            .start_ms = r->start, .end_ms = end, .instance = r->instance,
            .instance_name = r->instance >= 0 ? nbi_get(&insts, r->instance) : NULL,
            .labels = merged ? nbi_get(&inst_lsets, r->instance) : nbi_get(&lsets, r->lset), .tier = r->tier,
            .stacks = stacks, .values = values,
        };
        if (!win.labels)
            win.labels = "";
        for (size_t e = 0; e < pairs.n; e++) {
            uint64_t sid = pairs.v[2 * e], v = pairs.v[2 * e + 1];
            if (!v || sid >= w->acc.n || map[sid] == UINT32_MAX)
                continue;
            stacks[win.n] = map[sid];
            values[win.n++] = v;
            win.total += v;
        }
        if (win.n && (rc = fn(ud, &win)))
            *stopped = true;
        else if ((i & 255) == 255 && cp__sqlite_reader_over(rd))
            rc = CP_ETIMEOUT;
    }
    free(stacks);
    free(values);
    cp_store_blob_pairs_fini(&pairs);
    free(map);
    nbi_free(&insts);
    nbi_free(&lsets);
    nbi_free(&inst_lsets);
    return rc;
}

int cp__sqlite_profile_windows(cp__sqlite_reader_t *r, const cp_store_query_t *q, unsigned flags,
                             cp_profile_t *out, cp_store_window_fn fn, void *ud,
                             char *err, size_t errlen)
{
    cp__sqlite_plan_t p;
    uint8_t *lset_ok = NULL;
    char *unit = NULL;
    wctx_t w = {0};
    bool stopped = false;
    memset(out, 0, sizeof *out);
    int rc = cp__sqlite_query_setup(r, q, &p, &lset_ok, &unit, err, errlen);
    if (rc)
        goto out;
    cp__sqlite_rapp_t *a = cp__sqlite_reader_rapp(r, p.app);
    if ((rc = cp__sqlite_rapp_refresh(r, a)))
        goto out;
    p.row = wrow_read;
    p.row_ud = &w;
    bool agg = !(flags & CP_STORE_WINDOWS_RAW);
    cp__sqlite_plan_run(&p, q->from_ms, q->to_ms, agg, agg);
    if ((rc = p.rc))
        goto out;
    cp_store_names_profile(&a->names, &w.acc, out);
    out->unit = unit;
    unit = NULL;
    /* the snapshot is still open: the instance and label names match the rows */
    if (fn)
        rc = deliver(&w, &a->names, r, p.app, flags, fn, ud, &stopped);
out:
    free(w.acc.v);
    cp_buf_fini(&w.blobs);
    free(w.rows);
    free(lset_ok);
    free(unit);
    if (stopped) {   /* fn's own stop value: not a store failure */
        cp__sqlite_query_end(r, 0, err, errlen);
        return rc;
    }
    if ((rc = cp__sqlite_query_end(r, rc, err, errlen)))
        cp_profile_free(out);
    return rc;
}
