/* wire_dict.c - the receiver's dictionary of one agent connection.
 *
 * Where it sits: the relay's ingest keeps one cp_wire_dict_t per agent
 * connection and applies every decoded batch to it (declared in wire.h).
 * An append-only copy of what the agent sent (not interning: the agent
 * already interned): strings in one char pool, frames in one array, stacks
 * as (offset, length) into one frame-id pool. Compact stack references
 * (wire_compact.h) are resolved here by copying the referenced prefix.
 *
 * Invariant: cp_wire_dict_apply() checks everything (order, limits,
 * references) and reserves all memory before it changes anything, so a
 * failed apply leaves the dictionary as it was.
 *
 * Thread: one at a time (the connection's owner); no global state. */
#include "wire.h"
#include "error.h"
#include "wire_err.h"

#include <stdlib.h>
#include <string.h>

typedef struct wstr {
    size_t   off;      /* into chars */
    uint32_t len;
} wstr_t;

typedef struct wstack {
    size_t   off;      /* into pool */
    uint32_t n;
} wstack_t;

typedef struct wlset {
    size_t   off;      /* into lkv: n (key offset, value offset) pairs into chars */
    uint32_t n;
} wlset_t;

struct cp_wire_dict {
    cp_wire_limits_t lim;
    wlset_t    *lsets;  uint32_t n_lsets, cap_lsets;
    size_t     *lkv;    size_t   n_lkv, cap_lkv;
    wstr_t     *strs;   uint32_t n_strs, cap_strs;
    char       *chars;  size_t   n_chars, cap_chars;
    cp_frame_t *frames; uint32_t n_frames, cap_frames;
    wstack_t   *stacks; uint32_t n_stacks, cap_stacks;
    uint32_t   *pool;   size_t   n_pool, cap_pool;
};

cp_wire_dict_t *cp_wire_dict_create(const cp_wire_limits_t *lim)
{
    cp_wire_dict_t *d = calloc(1, sizeof *d);
    if (d)
        d->lim = lim ? *lim : cp_wire_default_limits;
    return d;
}

void cp_wire_dict_destroy(cp_wire_dict_t *d)
{
    if (!d)
        return;
    free(d->strs);
    free(d->chars);
    free(d->frames);
    free(d->stacks);
    free(d->pool);
    free(d->lsets);
    free(d->lkv);
    free(d);
}

/* Grows *p (cap elements of el bytes) to hold need elements. */
static int reserve(void **p, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > SIZE_MAX / el)
        return CP_ENOMEM;
    void *np = realloc(*p, nc * el);
    if (!np)
        return CP_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int reserve32(void **p, uint32_t *cap, uint32_t need, size_t el)
{
    size_t c = *cap;
    int rc = reserve(p, &c, need, el);
    if (!rc)
        *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return rc;
}

size_t cp_wire_dict_memory(const cp_wire_dict_t *d)
{
    return sizeof *d + (size_t)d->cap_strs * sizeof(wstr_t) + d->cap_chars +
           (size_t)d->cap_frames * sizeof(cp_frame_t) + (size_t)d->cap_stacks * sizeof(wstack_t) +
           d->cap_pool * sizeof(uint32_t) + (size_t)d->cap_lsets * sizeof(wlset_t) + d->cap_lkv * sizeof(size_t);
}

int cp_wire_dict_apply(cp_wire_dict_t *d, const cp_batch_t *b, char *err, size_t errlen)
{
    cp__wire_err_t e = {err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!d || !b)
        return cp__wire_fail(&e, CP_EINVAL, "no dictionary or batch");
    bool reset = b->flags & CP_BATCH_DICT_RESET;
    uint32_t ns = reset ? 0 : d->n_strs, nf = reset ? 0 : d->n_frames, nk = reset ? 0 : d->n_stacks;
    size_t nchars = reset ? 0 : d->n_chars, npool = reset ? 0 : d->n_pool;
    uint32_t nl = reset ? 0 : d->n_lsets;
    size_t nlkv = reset ? 0 : d->n_lkv;

    /* 1. Order and size. */
    if (b->n_strs && b->str_first != ns)
        return cp__wire_fail(&e, CP_EGAP, "batch key 6: first string id %u, receiver has %u", b->str_first, ns);
    if (b->n_frames && b->frame_first != nf)
        return cp__wire_fail(&e, CP_EGAP, "batch key 7: first frame id %u, receiver has %u", b->frame_first, nf);
    if (b->n_stacks && b->stack_first != nk)
        return cp__wire_fail(&e, CP_EGAP, "batch key 8: first stack id %u, receiver has %u", b->stack_first, nk);
    if (b->n_lsets && b->lset_first != nl)
        return cp__wire_fail(&e, CP_EGAP, "batch key 15: first label set id %u, receiver has %u", b->lset_first, nl);
    uint64_t ns2 = (uint64_t)ns + b->n_strs, nf2 = (uint64_t)nf + b->n_frames, nk2 = (uint64_t)nk + b->n_stacks;
    uint64_t nl2 = (uint64_t)nl + b->n_lsets;
    if (ns2 > d->lim.max_dict || nf2 > d->lim.max_dict || nk2 > d->lim.max_dict || nl2 > d->lim.max_dict)
        return cp__wire_fail(&e, CP_ELIMIT, "dictionary over its limit of %u ids per table", d->lim.max_dict);
    size_t add_chars = 0, add_pool = 0;
    for (uint32_t i = 0; i < b->n_strs; i++)
        add_chars += (size_t)b->strs[i].len + 1;
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        /* a reference (compact layout) takes the first `keep` frames of an
         * earlier stack: known here, or earlier in this batch */
        const cp_wire_stack_t *s = &b->stacks[i];
        if (s->keep) {
            uint32_t rn;
            if (s->ref >= nk + i)
                return cp__wire_fail(&e, CP_EDANGLING, "batch key 13: stack %u: refers to stack %u, not defined before it",
                                     nk + i, s->ref);
            rn = s->ref < nk ? d->stacks[s->ref].n : b->stacks[s->ref - nk].keep + b->stacks[s->ref - nk].n;
            if (s->keep > rn)
                return cp__wire_fail(&e, CP_ERANGE, "batch key 13: stack %u: keeps %u frames of stack %u, which has %u",
                                     nk + i, s->keep, s->ref, rn);
            if (s->n > d->lim.max_depth || s->keep > d->lim.max_depth - s->n)
                return cp__wire_fail(&e, CP_ELIMIT, "batch key 13: stack %u: %u frames over the depth limit of %u",
                                     nk + i, s->keep + s->n, d->lim.max_depth);
        }
        add_pool += (size_t)s->keep + s->n;
    }
    size_t add_lkv = 0;
    for (uint32_t i = 0; i < b->n_lsets; i++) {
        add_lkv += (size_t)b->lsets[i].n * 2;
        for (uint32_t j = 0; j < b->lsets[i].n; j++)
            add_chars += strlen(b->lsets[i].kv[j].key) + strlen(b->lsets[i].kv[j].value) + 2;
    }
    size_t bytes = (nchars + add_chars) + (npool + add_pool) * sizeof(uint32_t) +
                   (nlkv + add_lkv) * sizeof(size_t) + (size_t)nl2 * sizeof(wlset_t) +
                   (size_t)ns2 * sizeof(wstr_t) + (size_t)nf2 * sizeof(cp_frame_t) +
                   (size_t)nk2 * sizeof(wstack_t);
    if (d->lim.max_dict_bytes && bytes > d->lim.max_dict_bytes)
        return cp__wire_fail(&e, CP_ELIMIT, "dictionary of %zu bytes over its limit of %zu", bytes,
                             d->lim.max_dict_bytes);

    /* 2. References, against the dictionary as it will be. */
    for (uint32_t i = 0; i < b->n_frames; i++) {
        const cp_frame_t *f = &b->frames[i];
        if (f->class_id >= ns2 || f->method_id >= ns2 || f->sig_id >= ns2)
            return cp__wire_fail(&e, CP_EDANGLING, "batch key 7: frame %u: string id %u unknown", nf + i,
                                 f->class_id >= ns2 ? f->class_id : f->method_id >= ns2 ? f->method_id : f->sig_id);
    }
    for (uint32_t i = 0; i < b->n_stacks; i++)
        for (uint32_t j = 0; j < b->stacks[i].n; j++)
            if (b->stacks[i].frames[j] >= nf2)
                return cp__wire_fail(&e, CP_EDANGLING, "batch key 8: stack %u: frame id %u unknown", nk + i,
                                     b->stacks[i].frames[j]);
    for (uint32_t i = 0; i < b->n_values; i++)
        if (b->values[i].stack >= nk2)
            return cp__wire_fail(&e, CP_EDANGLING, "batch key 9: value %u: stack id %u unknown", i, b->values[i].stack);

    for (uint32_t i = 0; i < b->n_lvalues; i++) {
        const cp_wire_lvalue_t *v = &b->lvalues[i];
        if (v->stack >= nk2 || v->lset >= nl2)
            return cp__wire_fail(&e, CP_EDANGLING, "batch key 16: value %u: %s id %u unknown", i,
                                 v->stack >= nk2 ? "stack" : "label set", v->stack >= nk2 ? v->stack : v->lset);
    }
    for (uint32_t i = 0; i < b->n_traces; i++) {
        const cp_wire_trace_t *t = &b->traces[i];
        if (t->stack >= nk2 || t->thread >= ns2)
            return cp__wire_fail(&e, CP_EDANGLING, "batch key 17: entry %u: %s id %u unknown", i,
                                 t->stack >= nk2 ? "stack" : "string", t->stack >= nk2 ? t->stack : t->thread);
    }

    /* 3. Memory, before anything changes. */
    if (reserve32((void **)&d->strs, &d->cap_strs, (uint32_t)ns2, sizeof(wstr_t)) ||
        reserve((void **)&d->chars, &d->cap_chars, nchars + add_chars, 1) ||
        reserve32((void **)&d->frames, &d->cap_frames, (uint32_t)nf2, sizeof(cp_frame_t)) ||
        reserve32((void **)&d->stacks, &d->cap_stacks, (uint32_t)nk2, sizeof(wstack_t)) ||
        reserve((void **)&d->pool, &d->cap_pool, npool + add_pool, sizeof(uint32_t)) ||
        reserve32((void **)&d->lsets, &d->cap_lsets, (uint32_t)nl2, sizeof(wlset_t)) ||
        reserve((void **)&d->lkv, &d->cap_lkv, nlkv + add_lkv, sizeof(size_t)))
        return cp__wire_fail(&e, CP_ENOMEM, "out of memory");

    /* 4. Commit. */
    d->n_strs = ns; d->n_chars = nchars; d->n_frames = nf; d->n_stacks = nk; d->n_pool = npool;
    d->n_lsets = nl; d->n_lkv = nlkv;
    for (uint32_t i = 0; i < b->n_strs; i++) {
        const cp_str_t *s = &b->strs[i];
        if (s->len)
            memcpy(d->chars + d->n_chars, s->s, s->len);
        d->chars[d->n_chars + s->len] = '\0';
        d->strs[d->n_strs++] = (wstr_t){ d->n_chars, s->len };
        d->n_chars += (size_t)s->len + 1;
    }
    if (b->n_frames)
        memcpy(d->frames + d->n_frames, b->frames, (size_t)b->n_frames * sizeof(cp_frame_t));
    d->n_frames += b->n_frames;
    for (uint32_t i = 0; i < b->n_stacks; i++) {
        const cp_wire_stack_t *s = &b->stacks[i];
        size_t off = d->n_pool;
        if (s->keep)     /* the ref is committed already (earlier id); pool has room */
            memcpy(d->pool + d->n_pool, d->pool + d->stacks[s->ref].off, (size_t)s->keep * sizeof(uint32_t));
        d->n_pool += s->keep;
        if (s->n)
            memcpy(d->pool + d->n_pool, s->frames, (size_t)s->n * sizeof(uint32_t));
        d->n_pool += s->n;
        d->stacks[d->n_stacks++] = (wstack_t){ off, s->keep + s->n };
    }
    for (uint32_t i = 0; i < b->n_lsets; i++) {
        const cp_wire_lset_t *l = &b->lsets[i];
        d->lsets[d->n_lsets++] = (wlset_t){ d->n_lkv, l->n };
        for (uint32_t j = 0; j < l->n; j++) {
            const char *kv[2] = {l->kv[j].key, l->kv[j].value};
            for (int h = 0; h < 2; h++) {
                size_t len = strlen(kv[h]);
                memcpy(d->chars + d->n_chars, kv[h], len + 1);
                d->lkv[d->n_lkv++] = d->n_chars;
                d->n_chars += len + 1;
            }
        }
    }
    return 0;
}

const char *cp_wire_dict_string(const cp_wire_dict_t *d, uint32_t id, uint32_t *len)
{
    if (id >= d->n_strs)
        return NULL;
    if (len)
        *len = d->strs[id].len;
    return d->chars + d->strs[id].off;
}

const cp_frame_t *cp_wire_dict_frame(const cp_wire_dict_t *d, uint32_t id)
{
    return id < d->n_frames ? &d->frames[id] : NULL;
}

const uint32_t *cp_wire_dict_stack(const cp_wire_dict_t *d, uint32_t id, uint32_t *n)
{
    static const uint32_t empty[1] = {0};
    if (id >= d->n_stacks) {
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = d->stacks[id].n;
    return d->stacks[id].n ? d->pool + d->stacks[id].off : empty;
}

uint32_t cp_wire_dict_lset(const cp_wire_dict_t *d, uint32_t id, cp_kv_t *out, uint32_t cap)
{
    if (id >= d->n_lsets)
        return 0;
    const wlset_t *l = &d->lsets[id];
    for (uint32_t j = 0; j < l->n && j < cap; j++)
        out[j] = (cp_kv_t){ d->chars + d->lkv[l->off + 2 * j], d->chars + d->lkv[l->off + 2 * j + 1] };
    return l->n;
}

uint32_t cp_wire_dict_lsets(const cp_wire_dict_t *d)   { return d->n_lsets; }
uint32_t cp_wire_dict_strings(const cp_wire_dict_t *d) { return d->n_strs; }
uint32_t cp_wire_dict_frames(const cp_wire_dict_t *d)  { return d->n_frames; }
uint32_t cp_wire_dict_stacks(const cp_wire_dict_t *d)  { return d->n_stacks; }
