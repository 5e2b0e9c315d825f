/* store_rows.c - merging, summing and keeping the planner's tier rows for a
 * query (store_rows.h), shared by every store engine.
 *
 * Thread: the owning query worker. */
#include "store_rows.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rutil.h"
#include "store_tier.h"

bool cp_store_rows_lset_ok(const cp_store_rows_t *w, int64_t l)
{
    return !w->lset_ok || (l >= 0 && l < w->n_lset && w->lset_ok[l]);
}

void cp_store_rows_add(cp_store_rows_t *w, int64_t step, int64_t start, int64_t end, int64_t instance,
                       int64_t lset, const uint8_t *blob, size_t len, uint64_t total)
{
    if (!cp_store_rows_lset_ok(w, lset))
        return;
    if (!w->keep && w->points) {
        if (start < w->from)
            return;
        uint64_t i = (uint64_t)((start - w->from) / w->step);
        if (i < w->npoints)
            w->points[i] += total;
        return;
    }
    if (!len)
        return;
    cp_store_blob_each(blob, len, cp_store_blob_acc_add, &w->acc);
    if (!w->keep)
        return;
    if (w->n_rows == w->cap_rows) {
        w->cap_rows = w->cap_rows ? w->cap_rows * 2 : 256;
        w->rows = cp__xrealloc(w->rows, w->cap_rows * sizeof *w->rows);
    }
    cp_store_row_t *r = &w->rows[w->n_rows];
    r->start = start;
    r->end = end;
    r->lset = lset;
    r->instance = step ? -1 : instance;
    r->tier = step == CP_STORE_HOUR_MS ? CP_STORE_TIER_HOUR : step ? CP_STORE_TIER_MINUTE : CP_STORE_TIER_FULL;
    r->off = w->blobs.len;
    r->len = len;
    cp_buf_append(&w->blobs, blob, len);
    r->seq = (uint32_t)w->n_rows++;
}

static int row_cmp(const void *a, const void *b)
{
    const cp_store_row_t *x = a, *y = b;
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

int cp_store_rows_deliver(cp_store_rows_t *w, const cp_store_names_t *nm, unsigned flags,
                          cp_store_rows_name_fn name, bool (*over)(void *ud), void *ud,
                          cp_store_window_fn fn, void *fn_ud, bool *stopped)
{
    bool merge = !(flags & CP_STORE_WINDOWS_BY_LSET);
    uint32_t n_stacks = cp_store_names_n_stacks(nm);
    uint32_t *map = cp__xcalloc(w->acc.n + 1, sizeof *map);
    uint32_t k = 0;
    for (size_t sid = 0; sid < w->acc.n; sid++)
        map[sid] = w->acc.v[sid] && sid < n_stacks ? k++ : UINT32_MAX;
    qsort(w->rows, w->n_rows, sizeof *w->rows, row_cmp);
    size_t cap = 0;
    uint32_t *stacks = NULL;
    uint64_t *values = NULL;
    cp_store_blob_pairs_t pairs = {0};
    int rc = 0;
    for (size_t i = 0; i < w->n_rows && !rc; i++) {
        const cp_store_row_t *r = &w->rows[i];
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
            .instance_name = r->instance >= 0 ? name(ud, CP_STORE_ROWS_INSTANCE, r->instance) : NULL,
            .labels = merged ? name(ud, CP_STORE_ROWS_INSTANCE_LSET, r->instance) : name(ud, CP_STORE_ROWS_LSET, r->lset),
            .tier = r->tier,
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
        if (win.n && (rc = fn(fn_ud, &win)))
            *stopped = true;
        else if ((i & 255) == 255 && over(ud))
            rc = CP_ETIMEOUT;
    }
    free(stacks);
    free(values);
    cp_store_blob_pairs_fini(&pairs);
    free(map);
    return rc;
}

void cp_store_rows_fini(cp_store_rows_t *w)
{
    free(w->acc.v);
    cp_buf_fini(&w->blobs);
    free(w->rows);
    memset(w, 0, sizeof *w);
}
