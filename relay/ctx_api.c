/* ctx_api.c - /api/v1/labels and group_by= (see ctx_api.h).
 *
 * Each answer walks the rows of cp_store_profile_windows once and sums
 * per label value: a row's labels are its canonical label set, parsed by
 * cp_store_labels_each (store_labels.h), so escaping rules stay in one
 * place.
 *
 * Thread: a query worker. */
#include "ctx_api.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "profile.h"
#include "rutil.h"
#include "store_labels.h"

/* ---- a small string -> index table ---- */
typedef struct strtab {
    char     **s;
    uint32_t   n, cap;
    cp__hmap_t idx;
} strtab_t;

static uint32_t strtab_get(strtab_t *t, const char *s)
{
    uint64_t h = cp__hash_bytes(s, strlen(s));
    for (;; h = cp__hash64(h + 1)) {
        uint32_t *slot = cp__hmap_slot(&t->idx, h, 1);
        if (*slot) {
            if (!strcmp(t->s[*slot - 1], s))
                return *slot - 1;
            continue;
        }
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 16;
            t->s = cp__xrealloc(t->s, t->cap * sizeof *t->s);
        }
        t->s[t->n] = cp__xstrdup(s);
        *slot = ++t->n;
        return *slot - 1;
    }
}

static void strtab_fini(strtab_t *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    cp__hmap_free(&t->idx);
}

typedef struct order { uint32_t i; uint64_t total; } order_t;

static int cmp_order(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    return x->total < y->total ? 1 : x->total > y->total ? -1 : (x->i > y->i) - (x->i < y->i);
}

/* ---- /api/v1/labels ---------------------------------------------------- */

typedef struct labels_ud {
    strtab_t  keys, vals;             /* key names; "key\x1fvalue" pairs */
    cp__vu64_t key_total, val_total;
    cp__vu32_t val_key;               /* pair -> key index */
    uint64_t   total, row_total;
} labels_ud_t;

static void labels_pair(void *ud, const char *k, const char *v)
{
    labels_ud_t *u = ud;
    uint32_t ki = strtab_get(&u->keys, k);
    while (u->key_total.n <= ki)
        cp__vu64_push(&u->key_total, 0);
    u->key_total.v[ki] += u->row_total;
    size_t kl = strlen(k), vl = strlen(v);
    char *kv = cp__xcalloc(kl + vl + 2, 1);
    memcpy(kv, k, kl);
    kv[kl] = '\x1f';
    memcpy(kv + kl + 1, v, vl);
    uint32_t vi = strtab_get(&u->vals, kv);
    free(kv);
    while (u->val_total.n <= vi) {
        cp__vu64_push(&u->val_total, 0);
        cp__vu32_push(&u->val_key, ki);
    }
    u->val_total.v[vi] += u->row_total;
}

static int labels_row(void *ud, const cp_store_window_t *w)
{
    labels_ud_t *u = ud;
    u->total += w->total;
    u->row_total = w->total;
    cp_store_labels_each(w->labels, labels_pair, u);
    return 0;
}

int cp_ctx_api_labels(cp_store_reader_t *rd, const cp_store_query_t *q, uint32_t limit, cp_buf_t *out,
                      char *err, size_t errlen)
{
    labels_ud_t u = {0};
    cp_profile_t p;
    int rc = cp_store_profile_windows(rd, q, CP_STORE_WINDOWS_BY_LSET, &p, labels_row, &u, err, errlen);
    cp_profile_free(&p);
    if (!rc) {
        order_t *ko = cp__xcalloc(u.keys.n + 1, sizeof *ko), *vo = cp__xcalloc(u.vals.n + 1, sizeof *vo);
        for (uint32_t i = 0; i < u.keys.n; i++)
            ko[i] = (order_t){i, u.key_total.v[i]};
        qsort(ko, u.keys.n, sizeof *ko, cmp_order);
        for (uint32_t i = 0; i < u.vals.n; i++)
            vo[i] = (order_t){i, u.val_total.v[i]};
        qsort(vo, u.vals.n, sizeof *vo, cmp_order);
        cp_buf_printf(out, "{\"total\":%llu,\"keys\":[", (unsigned long long)u.total);
        for (uint32_t a = 0; a < u.keys.n; a++) {
            uint32_t k = ko[a].i, shown = 0, more = 0;
            cp_buf_printf(out, "%s{\"key\":", a ? "," : "");
            cp_buf_json_str(out, u.keys.s[k], strlen(u.keys.s[k]));
            cp_buf_printf(out, ",\"total\":%llu,\"values\":[", (unsigned long long)ko[a].total);
            for (uint32_t b = 0; b < u.vals.n; b++) {
                if (u.val_key.v[vo[b].i] != k)
                    continue;
                if (shown >= limit) {
                    more++;
                    continue;
                }
                const char *v = strchr(u.vals.s[vo[b].i], '\x1f') + 1;
                cp_buf_printf(out, "%s{\"value\":", shown++ ? "," : "");
                cp_buf_json_str(out, v, strlen(v));
                cp_buf_printf(out, ",\"total\":%llu}", (unsigned long long)vo[b].total);
            }
            cp_buf_printf(out, "],\"more\":%u}", more);
        }
        cp_buf_printf(out, "]}");
        free(ko);
        free(vo);
    }
    strtab_fini(&u.keys);
    strtab_fini(&u.vals);
    free(u.key_total.v);
    free(u.val_total.v);
    free(u.val_key.v);
    return rc;
}

/* ---- group_by ------------------------------------------------------------ */

typedef struct group_ud {
    const char *key;
    strtab_t    vals;
    const char *found;            /* the row's value of key, or NULL */
    char       *found_buf;
    /* top: per group, a value per merged stack; timeline: per group, n points */
    cp__vu64_t *per;              /* per[g] */
    uint32_t    cap_per;
    size_t      width;            /* elements per group */
    cp__vu64_t  totals;
    int64_t     from, step;       /* timeline */
    bool        timeline;
} group_ud_t;

static void group_pair(void *ud, const char *k, const char *v)
{
    group_ud_t *u = ud;
    if (!u->found && !strcmp(k, u->key)) {
        free(u->found_buf);
        u->found = u->found_buf = cp__xstrdup(v);
    }
}

static uint32_t group_of(group_ud_t *u, const char *labels)
{
    u->found = NULL;
    cp_store_labels_each(labels, group_pair, u);
    uint32_t g = strtab_get(&u->vals, u->found ? u->found : "");
    while (u->cap_per <= g) {
        u->per = cp__xrealloc(u->per, (u->cap_per + 1) * sizeof *u->per);
        u->per[u->cap_per] = (cp__vu64_t){0};
        u->per[u->cap_per].v = cp__xcalloc(u->width ? u->width : 1, sizeof(uint64_t));
        u->per[u->cap_per].n = u->width;
        u->cap_per++;
        cp__vu64_push(&u->totals, 0);
    }
    return g;
}

static int group_row(void *ud, const cp_store_window_t *w)
{
    group_ud_t *u = ud;
    uint32_t g = group_of(u, w->labels);
    u->totals.v[g] += w->total;
    if (u->timeline) {
        if (w->start_ms >= u->from) {
            uint64_t i = (uint64_t)((w->start_ms - u->from) / u->step);
            if (i < u->width)
                u->per[g].v[i] += w->total;
        }
    } else {
        for (uint32_t k = 0; k < w->n; k++)
            if (w->stacks[k] < u->width)
                u->per[g].v[w->stacks[k]] += w->values[k];
    }
    return 0;
}

static void group_fini(group_ud_t *u)
{
    for (uint32_t i = 0; i < u->cap_per; i++)
        free(u->per[i].v);
    free(u->per);
    free(u->totals.v);
    free(u->found_buf);
    strtab_fini(&u->vals);
}

/* Groups by descending total. Caller frees. */
static order_t *group_order(const group_ud_t *u)
{
    order_t *o = cp__xcalloc(u->vals.n + 1, sizeof *o);
    for (uint32_t i = 0; i < u->vals.n; i++)
        o[i] = (order_t){i, u->totals.v[i]};
    qsort(o, u->vals.n, sizeof *o, cmp_order);
    return o;
}

/* The callback runs after the merged profile is complete (store.h): the
 * first row sets the width (its stack count). */
typedef struct top_ud { group_ud_t g; const cp_profile_t *p; } top_ud_t;

static int top_row(void *ud, const cp_store_window_t *w)
{
    top_ud_t *t = ud;
    if (!t->g.width)
        t->g.width = t->p->n_stacks;
    return group_row(&t->g, w);
}

int cp_ctx_api_top(cp_store_reader_t *rd, const cp_store_query_t *q, const char *key, uint32_t limit,
                   cp_buf_t *out, char *err, size_t errlen)
{
    cp_profile_t p;
    top_ud_t t = {{.key = key}, &p};
    int rc = cp_store_profile_windows(rd, q, CP_STORE_WINDOWS_BY_LSET, &p, top_row, &t, err, errlen);
    if (!rc) {
        order_t *o = group_order(&t.g);
        cp_buf_printf(out, "{\"group_by\":");
        cp_buf_json_str(out, key, strlen(key));
        cp_buf_printf(out, ",\"total\":%llu,\"unit\":", (unsigned long long)p.total);
        cp_buf_json_str(out, p.unit ? p.unit : "", p.unit ? strlen(p.unit) : 0);
        cp_buf_printf(out, ",\"groups\":[");
        for (uint32_t i = 0; i < t.g.vals.n; i++) {
            uint32_t g = o[i].i;
            cp_buf_printf(out, "%s{\"value\":", i ? "," : "");
            cp_buf_json_str(out, t.g.vals.s[g], strlen(t.g.vals.s[g]));
            cp_buf_printf(out, ",\"total\":%llu,\"share\":%.6f,\"top\":", (unsigned long long)o[i].total,
                          p.total ? (double)o[i].total / (double)p.total : 0.0);
            /* this group's profile: the merged stacks with its own values */
            cp_profile_t gp = p;
            gp.values = t.g.per[g].v;
            gp.total = o[i].total;
            cp_tree_t tree;
            cp_tree_build(&gp, NULL, &tree);
            cp_profile_write_top(&gp, &tree, limit, out);
            cp_tree_free(&tree);
            cp_buf_printf(out, "}");
        }
        cp_buf_printf(out, "]}");
        free(o);
    }
    cp_profile_free(&p);
    group_fini(&t.g);
    return rc;
}

int cp_ctx_api_timeline(cp_store_reader_t *rd, const cp_store_query_t *q, const char *key, int64_t step_ms,
                        uint32_t n, cp_buf_t *out, char *err, size_t errlen)
{
    group_ud_t u = {.key = key, .width = n, .from = q->from_ms, .step = step_ms, .timeline = true};
    cp_profile_t p;
    /* raw windows where they exist, so sub-minute steps place each window
     * at its own time (aggregates start on their minute or hour) */
    int rc = cp_store_profile_windows(rd, q, CP_STORE_WINDOWS_BY_LSET | (step_ms < 3600000 ? CP_STORE_WINDOWS_RAW : 0),
                                      &p, group_row, &u,
                                      err, errlen);
    cp_profile_free(&p);
    if (!rc) {
        order_t *o = group_order(&u);
        cp_buf_printf(out, "{\"step\":%lld,\"group_by\":", (long long)(step_ms / 1000));
        cp_buf_json_str(out, key, strlen(key));
        cp_buf_printf(out, ",\"groups\":[");
        for (uint32_t i = 0; i < u.vals.n; i++) {
            uint32_t g = o[i].i;
            cp_buf_printf(out, "%s{\"value\":", i ? "," : "");
            cp_buf_json_str(out, u.vals.s[g], strlen(u.vals.s[g]));
            cp_buf_printf(out, ",\"total\":%llu,\"points\":[", (unsigned long long)o[i].total);
            for (uint32_t k = 0; k < n; k++)
                cp_buf_printf(out, "%s[%lld,%llu]", k ? "," : "", (long long)((q->from_ms + (int64_t)k * step_ms) / 1000),
                              (unsigned long long)u.per[g].v[k]);
            cp_buf_printf(out, "]}");
        }
        cp_buf_printf(out, "]}");
        free(o);
    }
    group_fini(&u);
    return rc;
}
