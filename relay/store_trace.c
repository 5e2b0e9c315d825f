/* store_trace.c - trace entries: grouping per row and the blob codec (see
 * store_trace.h).
 *
 * Thread: the caller's; no global state. */
#include "store_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void put(cp_buf_t *b, uint64_t v)
{
    cp_buf_reserve(b, 10);
    b->len += cp__uvarint_put(b->data + b->len, v);
}

int cp_store_traces_split(cp_store_traces_t *t, const cp_store_idmap_t *m, const cp_batch_t *b,
                          uint64_t *dropped)
{
    for (uint32_t i = 0; i < t->n; i++)
        cp_buf_reset(&t->rows[i].blob);
    t->n = 0;
    *dropped = 0;
    if (t->idx.n)
        cp__hmap_free(&t->idx);
    for (uint32_t i = 0; i < b->n_traces; i++) {
        const cp_wire_trace_t *e = &b->traces[i];
        if (e->stack >= m->stacks.n || e->thread >= m->strs.n || e->type >= b->n_types)
            return CP_EDANGLING;
        uint64_t key = cp__hash64(e->trace_hi ^ cp__hash64(e->trace_lo)) ^ e->type;
        uint32_t *slot = cp__hmap_slot(&t->idx, key, 1);
        cp_store_trace_row_t *r = NULL;
        /* a hash collision between two rows: scan (rare) */
        if (*slot) {
            r = &t->rows[*slot - 1];
            if (r->hi != e->trace_hi || r->lo != e->trace_lo || r->type != e->type) {
                r = NULL;
                for (uint32_t k = 0; k < t->n && !r; k++)
                    if (t->rows[k].hi == e->trace_hi && t->rows[k].lo == e->trace_lo && t->rows[k].type == e->type)
                        r = &t->rows[k];
            }
        }
        if (!r) {
            if (t->n >= CP_STORE_TRACE_MAX_BATCH) {
                (*dropped)++;
                continue;
            }
            if (t->n == t->cap) {
                uint32_t nc = t->cap ? t->cap * 2 : 16;
                t->rows = cp__xrealloc(t->rows, nc * sizeof *t->rows);
                memset(t->rows + t->cap, 0, (nc - t->cap) * sizeof *t->rows);
                t->cap = nc;
            }
            r = &t->rows[t->n++];
            r->hi = e->trace_hi;
            r->lo = e->trace_lo;
            r->type = e->type;
            r->total = 0;
            cp_buf_reset(&r->blob);
            if (!*slot)
                *slot = t->n;
        }
        put(&r->blob, e->span);
        put(&r->blob, m->strs.v[e->thread]);
        put(&r->blob, m->stacks.v[e->stack]);
        put(&r->blob, e->value);
        r->total += e->value;
    }
    return 0;
}

void cp_store_traces_fini(cp_store_traces_t *t)
{
    for (uint32_t i = 0; i < t->cap; i++)
        cp_buf_fini(&t->rows[i].blob);
    free(t->rows);
    cp__hmap_free(&t->idx);
    memset(t, 0, sizeof *t);
}

bool cp_store_trace_each(const void *blob, size_t n, cp_store_trace_fn fn, void *ud)
{
    const uint8_t *p = blob;
    size_t i = 0;
    while (i < n) {
        uint64_t v[4];
        for (int k = 0; k < 4; k++) {
            size_t got = cp__uvarint_get(p + i, n - i, &v[k]);
            if (!got || v[k] > (k == 1 || k == 2 ? UINT32_MAX : UINT64_MAX))
                return false;
            i += got;
        }
        fn(ud, v[0], (uint32_t)v[1], (uint32_t)v[2], v[3]);
    }
    return true;
}

typedef struct resolve_ud {
    const cp_store_names_t *names;
    cp_store_trace_entry_t *e;
    cp_store_trace_entry_fn fn;
    void *ud;
} resolve_ud_t;

static void resolve_one(void *ud, uint64_t span, uint32_t thread, uint32_t stack, uint64_t value)
{
    resolve_ud_t *r = ud;
    (void)thread;
    if (stack >= cp_store_names_n_stacks(r->names) || !value)
        return;
    uint32_t a = r->names->stack_off.v[stack], b = r->names->stack_off.v[stack + 1];
    r->e->span = span;
    r->e->funcs = r->names->stack_funcs.v + a;
    r->e->n = b - a;
    r->e->value = value;
    r->fn(r->ud, r->e);
}

bool cp_store_trace_resolve(const void *blob, size_t n, const cp_store_names_t *names, cp_store_trace_entry_t *e,
                            cp_store_trace_entry_fn fn, void *ud)
{
    e->names = (const char *const *)names->fnames;
    e->kinds = names->fkinds;
    resolve_ud_t r = {names, e, fn, ud};
    return cp_store_trace_each(blob, n, resolve_one, &r);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool cp_store_trace_parse(const char *hex, uint64_t *hi, uint64_t *lo)
{
    size_t n = hex ? strlen(hex) : 0;
    if (n != 32 && n != 16)
        return false;
    uint64_t h = 0, l = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval(hex[i]);
        if (d < 0)
            return false;
        if (n == 32 && i < 16)
            h = h << 4 | (uint64_t)d;
        else
            l = l << 4 | (uint64_t)d;
    }
    if (!h && !l)
        return false;
    *hi = h;
    *lo = l;
    return true;
}

static uint32_t name_index(cp_store_pbuild_t *b, const char *name, uint8_t kind)
{
    uint64_t h = cp__hash_bytes(name, strlen(name)) ^ kind;
    for (;; h = cp__hash64(h + 1)) {   /* probe on a (rare) collision of two names */
        uint32_t *slot = cp__hmap_slot(&b->nidx, h, 1);
        if (*slot) {
            if (b->p.kinds[*slot - 1] == kind && !strcmp(b->p.names[*slot - 1], name))
                return *slot - 1;
            continue;
        }
        b->p.names = cp__xrealloc(b->p.names, (b->p.n_names + 1) * sizeof *b->p.names);
        b->p.kinds = cp__xrealloc(b->p.kinds, b->p.n_names + 1);
        b->p.names[b->p.n_names] = cp__xstrdup(name);
        b->p.kinds[b->p.n_names] = kind;
        *slot = ++b->p.n_names;
        return *slot - 1;
    }
}

void cp_store_pbuild_add(cp_store_pbuild_t *b, const char *app, const char *thread,
                         const cp_store_names_t *names, uint32_t stack, uint64_t value)
{
    char root[300];
    if (!value || stack >= cp_store_names_n_stacks(names))
        return;
    if (!b->off.n)
        cp__vu32_push(&b->off, 0);
    snprintf(root, sizeof root, "[app] %s", app);
    cp__vu32_push(&b->funcs, name_index(b, root, CP_FRAME_THREAD));
    snprintf(root, sizeof root, "[thread] %s", thread && *thread ? thread : "?");
    cp__vu32_push(&b->funcs, name_index(b, root, CP_FRAME_THREAD));
    for (uint32_t k = names->stack_off.v[stack]; k < names->stack_off.v[stack + 1]; k++) {
        uint32_t f = names->stack_funcs.v[k];
        cp__vu32_push(&b->funcs, name_index(b, names->fnames[f], names->fkinds[f]));
    }
    cp__vu32_push(&b->off, (uint32_t)b->funcs.n);
    cp__vu64_push(&b->vals, value);
    b->p.total += value;
}

void cp_store_pbuild_finish(cp_store_pbuild_t *b, cp_profile_t *out)
{
    *out = b->p;
    if (!b->off.n)
        cp__vu32_push(&b->off, 0);
    out->stack_off = b->off.v;
    out->funcs = b->funcs.v;
    out->values = b->vals.v;
    out->n_stacks = (uint32_t)b->vals.n;
    cp__hmap_free(&b->nidx);
    memset(b, 0, sizeof *b);
}

void cp_store_pbuild_fini(cp_store_pbuild_t *b)
{
    cp_profile_free(&b->p);
    cp__hmap_free(&b->nidx);
    free(b->off.v);
    free(b->funcs.v);
    free(b->vals.v);
    memset(b, 0, sizeof *b);
}

typedef struct row_ud {
    cp_store_pbuild_t      *b;
    const char             *app;
    const cp_store_names_t *names;
} row_ud_t;

static void row_entry(void *ud, uint64_t span, uint32_t thread, uint32_t stack, uint64_t value)
{
    row_ud_t *t = ud;
    (void)span;
    const char *th = thread < cp_store_names_n_strings(t->names) ? t->names->strs[thread] : "?";
    cp_store_pbuild_add(t->b, t->app, th, t->names, stack, value);
}

bool cp_store_pbuild_row(cp_store_pbuild_t *b, const char *app, int64_t app_id, const cp_store_names_t *nm,
                         const void *blob, size_t n)
{
    row_ud_t ud = {b, app, nm};
    if (cp_store_trace_each(blob, n, row_entry, &ud))
        return true;
    fprintf(stderr, "cprof relay: a malformed trace row of app %lld skipped\n", (long long)app_id);
    return false;
}
