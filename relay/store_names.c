/* store_names.c - stack id -> function name resolution for query threads
 * (contract in store_names.h), and cp_profile_free.
 *
 * Thread: the owning query worker. Invariant: frame_func has one entry per
 * frame id loaded, stack_off one more than the stacks loaded, so every id
 * below the loaded counts resolves. */
#include "store_names.h"

#include <stdlib.h>
#include <string.h>

void cp_store_names_fini(cp_store_names_t *a)
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
    memset(a, 0, sizeof *a);
}

void cp_store_names_add_string(cp_store_names_t *a, const void *s, size_t n)
{
    if (a->n_strs == a->cap_strs) {
        a->cap_strs = a->cap_strs ? a->cap_strs * 2 : 256;
        a->strs = cp__xrealloc(a->strs, a->cap_strs * sizeof *a->strs);
    }
    char *c = cp__xrealloc(NULL, n + 1);
    if (n)
        memcpy(c, s, n);
    c[n] = 0;
    a->strs[a->n_strs++] = c;
}

/* The function index of name (hash -> index; equal hashes of different
 * names probe on to the next key, so two functions never share a name). */
static uint32_t names_func(cp_store_names_t *a, const char *name, uint8_t kind)
{
    size_t len = strlen(name);
    uint64_t h = a->hash ? a->hash(name, len) : cp__hash_bytes(name, len);
    uint32_t *slot;
    for (;;) {
        slot = cp__hmap_slot(&a->fidx, h, 1);
        if (!*slot || !strcmp(a->fnames[*slot - 1], name))
            break;
        h = h * 0x9E3779B97F4A7C15ull + 1;   /* collision: next probe key */
    }
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

void cp_store_names_add_frame(cp_store_names_t *a, uint32_t ci, uint32_t mi, uint8_t kind)
{
    const char *cls = ci < a->n_strs ? a->strs[ci] : "", *m = mi < a->n_strs ? a->strs[mi] : "?";
    cp_buf_t nm = CP_BUF_INIT;
    if (*cls)
        cp_buf_printf(&nm, "%s.%s", cls, m);
    else
        cp_buf_printf(&nm, "%s", m);
    cp__vu32_push(&a->frame_func, names_func(a, (const char *)nm.data, kind));
    cp_buf_fini(&nm);
}

void cp_store_names_add_stack(cp_store_names_t *a, const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (!a->stack_off.n)
        cp__vu32_push(&a->stack_off, 0);
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

void cp_store_names_profile(const cp_store_names_t *a, const cp_store_blob_acc_t *acc, cp_profile_t *out)
{
    uint32_t n_stacks = cp_store_names_n_stacks(a);
    uint32_t *name_map = cp__xcalloc(a->n_funcs + 1, sizeof *name_map);   /* func -> new idx + 1 */
    cp__vu32_t off = {0}, funcs = {0};
    cp__vu64_t vals = {0};
    cp__vu32_push(&off, 0);
    for (size_t sid = 0; sid < acc->n; sid++) {
        if (!acc->v[sid])
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
        cp__vu64_push(&vals, acc->v[sid]);
        out->total += acc->v[sid];
    }
    free(name_map);
    out->stack_off = off.v;
    out->funcs = funcs.v;
    out->values = vals.v;
    out->n_stacks = (uint32_t)vals.n;
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
