/* store_ctx.c - request context at ingest, engine-neutral (see store_ctx.h).
 *
 * Thread: the store worker. */
#include "store_ctx.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_labels.h"

static void kv_copy(cp_kv_t *dst, const cp_kv_t *src, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        dst[i] = (cp_kv_t){cp__xstrdup(src[i].key), cp__xstrdup(src[i].value)};
}

static void kv_free(cp_kv_t *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

void cp_store_ctx_init(cp_store_ctx_t *c, const cp_kv_t *inst, uint32_t n_inst)
{
    memset(c, 0, sizeof *c);
    c->inst = cp__xcalloc(n_inst ? n_inst : 1, sizeof *c->inst);
    kv_copy(c->inst, inst, n_inst);
    c->n_inst = n_inst;
}

static void sets_clear(cp_store_ctx_t *c)
{
    for (uint32_t i = 0; i < c->n_sets; i++)
        kv_free(c->sets[i].kv, c->sets[i].n);
    c->n_sets = 0;
}

void cp_store_ctx_fini(cp_store_ctx_t *c)
{
    if (!c)
        return;
    kv_free(c->inst, c->n_inst);
    sets_clear(c);
    free(c->sets);
    for (uint32_t i = 0; i < c->cap_parts; i++)
        cp_store_blob_pairs_fini(&c->parts[i].pairs);
    free(c->parts);
    cp__hmap_free(&c->pidx);
    cp__hmap_free(&c->lidx);
    free(c->lsum.v);
    memset(c, 0, sizeof *c);
}

int cp_store_ctx_apply(cp_store_ctx_t *c, const cp_batch_t *b, uint32_t max_dict)
{
    if (b->flags & CP_BATCH_DICT_RESET)
        sets_clear(c);
    if (!b->n_lsets)
        return 0;
    if (b->lset_first != c->n_sets)
        return CP_EGAP;
    if (max_dict && (uint64_t)c->n_sets + b->n_lsets > max_dict)
        return CP_ELIMIT;
    if (c->n_sets + b->n_lsets > c->cap_sets) {
        c->cap_sets = (c->n_sets + b->n_lsets) * 2;
        c->sets = cp__xrealloc(c->sets, c->cap_sets * sizeof *c->sets);
    }
    for (uint32_t i = 0; i < b->n_lsets; i++) {
        const cp_wire_lset_t *l = &b->lsets[i];
        cp_store_ctx_set_t *s = &c->sets[c->n_sets++];
        s->kv = cp__xcalloc(l->n ? l->n : 1, sizeof *s->kv);
        kv_copy(s->kv, l->kv, l->n);
        s->n = l->n;
        s->app_lset = -1;
    }
    return 0;
}

/* The part of (set, type), created empty. */
static cp_store_ctx_part_t *part(cp_store_ctx_t *c, uint32_t set, uint32_t type)
{
    uint32_t *slot = cp__hmap_slot(&c->pidx, ((uint64_t)set << 32) | type, 1);
    if (*slot)
        return &c->parts[*slot - 1];
    if (c->n_parts == c->cap_parts) {
        uint32_t nc = c->cap_parts ? c->cap_parts * 2 : 16;
        c->parts = cp__xrealloc(c->parts, nc * sizeof *c->parts);
        memset(c->parts + c->cap_parts, 0, (nc - c->cap_parts) * sizeof *c->parts);
        c->cap_parts = nc;
    }
    cp_store_ctx_part_t *p = &c->parts[c->n_parts++];
    p->set = set;
    p->type = type;
    p->pairs.n = 0;
    *slot = c->n_parts;
    return p;
}

int cp_store_ctx_split(cp_store_ctx_t *c, const cp_store_idmap_t *m, const cp_batch_t *b,
                       cp_store_blob_pairs_t *per_type)
{
    c->n_parts = 0;
    if (!b->n_lvalues)
        return 0;
    if (c->pidx.n)
        cp__hmap_free(&c->pidx);
    if (c->lidx.n)
        cp__hmap_free(&c->lidx);
    c->lsum.n = 0;
    /* 1. parts per (set, type); labelled sums per (app stack, type) */
    for (uint32_t i = 0; i < b->n_lvalues; i++) {
        const cp_wire_lvalue_t *v = &b->lvalues[i];
        if (v->stack >= m->stacks.n || v->type >= b->n_types || v->lset >= c->n_sets)
            return CP_EDANGLING;
        uint32_t stack = m->stacks.v[v->stack];
        cp_store_blob_pairs_add(&part(c, v->lset, v->type)->pairs, stack, v->value);
        uint32_t *slot = cp__hmap_slot(&c->lidx, ((uint64_t)stack << 24) ^ v->type, 1);
        if (!*slot) {
            cp__vu64_push(&c->lsum, 0);
            *slot = (uint32_t)c->lsum.n;
        }
        c->lsum.v[*slot - 1] += v->value;
    }
    /* 2. the unlabelled rest of each total */
    for (uint32_t t = 0; t < b->n_types; t++) {
        cp_store_blob_pairs_t *p = &per_type[t];
        size_t o = 0;
        for (size_t i = 0; i < p->n; i++) {
            uint64_t stack = p->v[2 * i], val = p->v[2 * i + 1];
            uint32_t *slot = cp__hmap_slot(&c->lidx, (stack << 24) ^ t, 0);
            if (slot) {
                uint64_t *lab = &c->lsum.v[*slot - 1];
                uint64_t d = *lab < val ? *lab : val;
                val -= d;
                *lab -= d;
            }
            if (val) {
                p->v[2 * o] = stack;
                p->v[2 * o + 1] = val;
                o++;
            }
        }
        p->n = o;
    }
    return 0;
}

void cp_store_ctx_canon(const cp_store_ctx_t *c, uint32_t set, cp_buf_t *canon, cp_buf_t *json)
{
    const cp_store_ctx_set_t *s = set < c->n_sets ? &c->sets[set] : NULL;
    uint32_t ns = s ? s->n : 0;
    cp_kv_t *kv = cp__xcalloc(c->n_inst + ns + 1, sizeof *kv);
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n_inst; i++) {
        bool over = false;
        for (uint32_t j = 0; j < ns && !over; j++)
            over = !strcmp(c->inst[i].key, s->kv[j].key);
        if (!over)
            kv[n++] = c->inst[i];
    }
    for (uint32_t j = 0; j < ns; j++)
        kv[n++] = s->kv[j];
    cp_store_labels_canon(kv, n, canon, json);
    free(kv);
}

int cp_store_ctx_put(cp_store_ctx_t *c, cp_store_blob_pairs_t *per_type, const cp_store_ctx_ops_t *ops, void *ud)
{
    cp_buf_t canon = CP_BUF_INIT, json = CP_BUF_INIT;
    int rc = 0;
    for (uint32_t i = 0; i < c->n_parts && !rc; i++) {
        cp_store_ctx_part_t *p = &c->parts[i];
        cp_store_ctx_set_t *set = &c->sets[p->set];
        cp_buf_reset(&canon);
        cp_buf_reset(&json);
        cp_store_ctx_canon(c, p->set, &canon, &json);
        if (set->app_lset == -1 && (rc = ops->lset(ud, (const char *)canon.data, &set->app_lset))) {
            if (rc != CP_ELIMIT)
                break;
            set->app_lset = -2;   /* past the tenant's label sets: stays unlabelled */
            rc = 0;
        }
        if (set->app_lset == -2) {
            for (size_t k = 0; k < p->pairs.n; k++)
                cp_store_blob_pairs_add(&per_type[p->type], p->pairs.v[2 * k], p->pairs.v[2 * k + 1]);
            continue;
        }
        rc = ops->put(ud, p, set->app_lset, (const char *)canon.data);
    }
    cp_buf_fini(&canon);
    cp_buf_fini(&json);
    return rc;
}
