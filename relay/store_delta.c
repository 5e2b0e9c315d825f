/* store_delta.c - a connection's dictionary delta and the per-type split of
 * a batch (rules in store_delta.h), shared by every store engine; the
 * engine's callbacks write its own tables.
 *
 * Thread: the store worker. Invariant: every app id a map holds was
 * returned by the engine's interning, so it names a row of the app's
 * dictionary as of the engine's transaction. */
#include "store_delta.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void cp_store_idmap_fini(cp_store_idmap_t *m)
{
    free(m->strs.v);
    free(m->frames.v);
    free(m->stacks.v);
    memset(m, 0, sizeof *m);
}

static int apply_strings(cp_store_idmap_t *m, const cp_batch_t *b, const cp_store_intern_ops_t *ops, void *ud)
{
    if (b->n_strs && b->str_first != m->strs.n)
        return CP_EGAP;
    for (uint32_t i = 0; i < b->n_strs; i++) {
        uint32_t id;
        int rc = ops->string(ud, b->strs[i].s, b->strs[i].len, &id);
        if (rc)
            return rc;
        cp__vu32_push(&m->strs, id);
    }
    return 0;
}

static int apply_frames(cp_store_idmap_t *m, const cp_batch_t *b, const cp_store_intern_ops_t *ops, void *ud)
{
    if (b->n_frames && b->frame_first != m->frames.n)
        return CP_EGAP;
    for (uint32_t i = 0; i < b->n_frames; i++) {
        cp_frame_t f = b->frames[i];
        if (f.kind > CP_FRAME_KIND_MAX)
            return CP_ERANGE;
        if (f.class_id >= m->strs.n || f.method_id >= m->strs.n || f.sig_id >= m->strs.n)
            return CP_EDANGLING;
        f.class_id = m->strs.v[f.class_id];
        f.method_id = m->strs.v[f.method_id];
        f.sig_id = m->strs.v[f.sig_id];
        uint32_t id;
        int rc = ops->frame(ud, &f, &id);
        if (rc)
            return rc;
        cp__vu32_push(&m->frames, id);
    }
    return 0;
}

/* Builds stack ws's frames in app ids into fr. */
static int stack_frames(cp_store_idmap_t *m, const cp_wire_stack_t *ws, const cp_store_intern_ops_t *ops,
                        void *ud, cp__vu32_t *fr)
{
    fr->n = 0;
    if (ws->keep) {
        /* compact layout: the first `keep` frames of an earlier stack of
         * this connection (already in app ids), then ws->frames */
        uint32_t rn = 0;
        const uint32_t *rf = ws->ref < m->stacks.n ? ops->stack_frames(ud, m->stacks.v[ws->ref], &rn) : NULL;
        if (!rf)
            return CP_EDANGLING;
        if (ws->keep > rn)
            return CP_ERANGE;
        if (ws->n > cp_wire_default_limits.max_depth || ws->keep > cp_wire_default_limits.max_depth - ws->n)
            return CP_ELIMIT;
        for (uint32_t k = 0; k < ws->keep; k++)
            cp__vu32_push(fr, rf[k]);   /* rf stays valid: no intern until after the copy */
    }
    for (uint32_t k = 0; k < ws->n; k++) {
        if (ws->frames[k] >= m->frames.n)
            return CP_EDANGLING;
        cp__vu32_push(fr, m->frames.v[ws->frames[k]]);
    }
    return 0;
}

static int apply_stacks(cp_store_idmap_t *m, const cp_batch_t *b, const cp_store_intern_ops_t *ops, void *ud)
{
    if (b->n_stacks && b->stack_first != m->stacks.n)
        return CP_EGAP;
    cp__vu32_t fr = {0};
    int rc = 0;
    for (uint32_t i = 0; i < b->n_stacks && !rc; i++) {
        uint32_t id;
        if ((rc = stack_frames(m, &b->stacks[i], ops, ud, &fr)) ||
            (rc = ops->stack(ud, fr.v, (uint32_t)fr.n, &id)))
            break;
        cp__vu32_push(&m->stacks, id);
    }
    free(fr.v);
    return rc;
}

int cp_store_delta_apply(cp_store_idmap_t *m, const cp_batch_t *b, uint32_t max_dict,
                         const cp_store_intern_ops_t *ops, void *ud)
{
    if (b->flags & CP_BATCH_DICT_RESET)
        m->strs.n = m->frames.n = m->stacks.n = 0;
    uint32_t lim = max_dict ? max_dict : UINT32_MAX;
    if (m->strs.n + b->n_strs > lim || m->frames.n + b->n_frames > lim || m->stacks.n + b->n_stacks > lim)
        return CP_ELIMIT;
    int rc;
    if ((rc = apply_strings(m, b, ops, ud)) || (rc = apply_frames(m, b, ops, ud)) ||
        (rc = apply_stacks(m, b, ops, ud)))
        return rc;
    return 0;
}

int cp_store_delta_split(const cp_store_idmap_t *m, const cp_batch_t *b,
                         cp_store_blob_pairs_t **per_type, size_t *n)
{
    if (*n < b->n_types) {
        *per_type = cp__xrealloc(*per_type, b->n_types * sizeof **per_type);
        memset(*per_type + *n, 0, (b->n_types - *n) * sizeof **per_type);
        *n = b->n_types;
    }
    for (uint32_t t = 0; t < b->n_types; t++)
        (*per_type)[t].n = 0;
    for (uint32_t i = 0; i < b->n_values; i++) {
        const cp_wire_value_t *v = &b->values[i];
        if (v->stack >= m->stacks.n || v->type >= b->n_types)
            return CP_EDANGLING;
        cp_store_blob_pairs_add(&(*per_type)[v->type], m->stacks.v[v->stack], v->value);
    }
    return 0;
}

void cp_store_discs_add(cp_store_discs_t *d, int64_t id, int64_t ms)
{
    for (size_t k = 0; k < d->n; k++)
        if (d->v[k].id == id) {
            if (ms > d->v[k].ms)
                d->v[k].ms = ms;
            return;
        }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = cp__xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n].id = id;
    d->v[d->n++].ms = ms;
}

void cp_store_discs_fini(cp_store_discs_t *d)
{
    free(d->v);
    memset(d, 0, sizeof *d);
}
