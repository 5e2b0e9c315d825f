/* profile.c - call trees from merged profiles, and every output format.
 *
 * Where it sits: query workers call cp_store_profile(), build a tree here and
 * write JSON (docs/api.md), collapsed text, speedscope JSON or gzipped pprof.
 * All formats are written from the same tree, merged by function name, so
 * they agree with each other and with /top.
 *
 * Thread: any query worker; no shared state. */
#include "profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "profile.pb-c.h"
#include "rutil.h"

#define ROOT_NAME UINT32_MAX

typedef struct bnode {
    int32_t  parent;
    uint32_t name;
    uint64_t self[2], total[2];
    int32_t  first, next;     /* child list */
} bnode_t;

typedef struct builder {
    bnode_t   *v;
    uint32_t   n, cap;
    cp__hmap_t kids;          /* (parent << 32 | name) -> node + 1 */
} builder_t;

static uint32_t child(builder_t *b, uint32_t parent, uint32_t name)
{
    uint64_t key = ((uint64_t)parent << 32) | name;
    uint32_t *slot = cp__hmap_slot(&b->kids, key, 1);
    if (*slot)
        return *slot - 1;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->v = cp__xrealloc(b->v, b->cap * sizeof *b->v);
    }
    bnode_t *nd = &b->v[b->n];
    memset(nd, 0, sizeof *nd);
    nd->parent = (int32_t)parent;
    nd->name = name;
    nd->first = -1;
    nd->next = b->v[parent].first;
    b->v[parent].first = (int32_t)b->n;
    *slot = ++b->n;
    return b->n - 1;
}

static void add_profile(builder_t *b, const cp_profile_t *p, const uint32_t *map, int side)
{
    for (uint32_t s = 0; s < p->n_stacks; s++) {
        uint64_t v = p->values[s];
        uint32_t node = 0;
        b->v[0].total[side] += v;
        for (uint32_t k = p->stack_off[s]; k < p->stack_off[s + 1]; k++) {
            uint32_t nm = map ? map[p->funcs[k]] : p->funcs[k];
            node = child(b, node, nm);
            b->v[node].total[side] += v;
        }
        b->v[node].self[side] += v;
    }
}

static int cmp_node(const void *x, const void *y, void *ctx)
{
    const builder_t *bl = ctx;
    const bnode_t *a = &bl->v[*(const int32_t *)x], *b = &bl->v[*(const int32_t *)y];
    uint64_t ta = a->total[0] + a->total[1], tb = b->total[0] + b->total[1];
    if (ta != tb)
        return ta > tb ? -1 : 1;
    return a->name < b->name ? -1 : a->name > b->name;
}

void cp_tree_build(cp_profile_t *a, cp_profile_t *b, cp_tree_t *t)
{
    builder_t bl = {0};
    bl.cap = 1024;
    bl.v = cp__xcalloc(bl.cap, sizeof *bl.v);
    bl.n = 1;
    bl.v[0].parent = -1;
    bl.v[0].name = ROOT_NAME;
    bl.v[0].first = -1;
    add_profile(&bl, a, NULL, 0);
    if (b) {
        /* map b's names onto a's, appending the ones a lacks */
        cp__hmap_t idx = {0};
        for (uint32_t i = 0; i < a->n_names; i++)
            *cp__hmap_slot(&idx, cp__hash_bytes(a->names[i], strlen(a->names[i])), 1) = i + 1;
        uint32_t *map = cp__xcalloc(b->n_names + 1, sizeof *map);
        for (uint32_t i = 0; i < b->n_names; i++) {
            uint32_t *slot = cp__hmap_slot(&idx, cp__hash_bytes(b->names[i], strlen(b->names[i])), 1);
            if (!*slot) {
                a->names = cp__xrealloc(a->names, (a->n_names + 1) * sizeof *a->names);
                a->kinds = cp__xrealloc(a->kinds, a->n_names + 1);
                a->names[a->n_names] = cp__xstrdup(b->names[i]);
                a->kinds[a->n_names] = b->kinds[i];
                *slot = ++a->n_names;
            }
            map[i] = *slot - 1;
        }
        add_profile(&bl, b, map, 1);
        free(map);
        cp__hmap_free(&idx);
    }
    /* pre-order with sorted children */
    memset(t, 0, sizeof *t);
    t->n = bl.n;
    t->parent = cp__xcalloc(bl.n, sizeof *t->parent);
    t->name = cp__xcalloc(bl.n, sizeof *t->name);
    t->depth = cp__xcalloc(bl.n, sizeof *t->depth);
    for (int s = 0; s < 2; s++) {
        t->self[s] = cp__xcalloc(bl.n, sizeof(uint64_t));
        t->total[s] = cp__xcalloc(bl.n, sizeof(uint64_t));
    }
    int32_t *stack = cp__xcalloc(bl.n, sizeof *stack), *newpar = cp__xcalloc(bl.n, sizeof *newpar);
    int32_t *kids = cp__xcalloc(bl.n, sizeof *kids);
    uint32_t *dep = cp__xcalloc(bl.n, sizeof *dep);
    size_t sp = 0;
    uint32_t out = 0;
    stack[sp++] = 0;
    newpar[0] = -1;
    while (sp) {
        int32_t nd = stack[--sp];
        uint32_t me = out++;
        t->parent[me] = newpar[nd];
        t->name[me] = bl.v[nd].name;
        t->depth[me] = dep[nd];
        for (int s = 0; s < 2; s++) {
            t->self[s][me] = bl.v[nd].self[s];
            t->total[s][me] = bl.v[nd].total[s];
        }
        size_t nk = 0;
        for (int32_t c = bl.v[nd].first; c >= 0; c = bl.v[c].next)
            kids[nk++] = c;
        qsort_r(kids, nk, sizeof *kids, cmp_node, &bl);   /* descending total */
        for (size_t i = nk; i-- > 0;) {
            newpar[kids[i]] = (int32_t)me;
            dep[kids[i]] = dep[nd] + 1;
            stack[sp++] = kids[i];
        }
    }
    free(stack);
    free(newpar);
    free(kids);
    free(dep);
    free(bl.v);
    cp__hmap_free(&bl.kids);
}

void cp_tree_free(cp_tree_t *t)
{
    free(t->parent);
    free(t->name);
    free(t->depth);
    for (int s = 0; s < 2; s++) {
        free(t->self[s]);
        free(t->total[s]);
    }
    memset(t, 0, sizeof *t);
}

/* names array as output: index 0 = "<root>", then the profile's names. */
static void write_names(const cp_profile_t *p, cp_buf_t *out)
{
    cp_buf_printf(out, "\"names\":[\"<root>\"");
    for (uint32_t i = 0; i < p->n_names; i++) {
        cp_buf_append(out, ",", 1);
        cp_buf_json_str(out, p->names[i], strlen(p->names[i]));
    }
    cp_buf_printf(out, "],\"kinds\":[6");
    for (uint32_t i = 0; i < p->n_names; i++)
        cp_buf_printf(out, ",%u", p->kinds[i]);
    cp_buf_printf(out, "]");
}

/* Appends a decimal integer (the tree arrays are ~100k numbers: printf per
 * number would dominate the query). Caller reserved 21 bytes. */
static inline void put_u64(cp_buf_t *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        b->data[b->len++] = (uint8_t)tmp[--n];
}
static inline void put_i64(cp_buf_t *b, int64_t v)
{
    if (v < 0) {
        b->data[b->len++] = '-';
        put_u64(b, (uint64_t)(-v));
    } else {
        put_u64(b, (uint64_t)v);
    }
}
static inline void put_c(cp_buf_t *b, char c) { b->data[b->len++] = (uint8_t)c; }

static uint32_t out_name(const cp_tree_t *t, uint32_t i) { return t->name[i] == ROOT_NAME ? 0 : t->name[i] + 1; }

int cp_profile_write_json(const cp_profile_t *p, const cp_tree_t *t, const char *app, const char *type,
                          int64_t from_ms, int64_t to_ms, cp_buf_t *out)
{
    cp_buf_printf(out, "{\"app\":");
    cp_buf_json_str(out, app, strlen(app));
    cp_buf_printf(out, ",\"type\":");
    cp_buf_json_str(out, type, strlen(type));
    cp_buf_printf(out, ",\"unit\":");
    cp_buf_json_str(out, p->unit ? p->unit : "", p->unit ? strlen(p->unit) : 0);
    cp_buf_printf(out, ",\"from\":%lld,\"to\":%lld,\"total\":%llu,", (long long)(from_ms / 1000),
                  (long long)(to_ms / 1000), (unsigned long long)p->total);
    write_names(p, out);
    cp_buf_printf(out, ",\"tree\":[");
    for (uint32_t i = 0; i < t->n; i++) {
        if (cp_buf_reserve(out, 100))
            return CP_ENOMEM;
        if (i)
            put_c(out, ',');
        put_i64(out, t->parent[i]);
        put_c(out, ',');
        put_u64(out, out_name(t, i));
        put_c(out, ',');
        put_u64(out, t->self[0][i]);
        put_c(out, ',');
        put_u64(out, t->total[0][i]);
    }
    cp_buf_printf(out, "]}");
    return 0;
}

/* Calls fn for every node with self > 0, with the path of name indices. */
typedef void (*leaf_fn)(void *ud, const uint32_t *path, uint32_t depth, uint64_t self);
static void each_leaf(const cp_tree_t *t, int side, leaf_fn fn, void *ud)
{
    uint32_t maxd = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->depth[i] > maxd)
            maxd = t->depth[i];
    uint32_t *path = cp__xcalloc(maxd + 1, sizeof *path);
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t d = t->depth[i];
        path[d] = t->name[i];
        if (i && t->self[side][i])
            fn(ud, path + 1, d, t->self[side][i]);
    }
    free(path);
}

typedef struct wctx { const cp_profile_t *p; cp_buf_t *out; int n; } wctx_t;

static void collapsed_leaf(void *ud, const uint32_t *path, uint32_t depth, uint64_t self)
{
    wctx_t *w = ud;
    for (uint32_t k = 0; k < depth; k++) {
        const char *nm = w->p->names[path[k]];
        if (k)
            cp_buf_append(w->out, ";", 1);
        /* ';' and '\n' would break the format: replace them */
        size_t st = w->out->len;
        cp_buf_append(w->out, nm, strlen(nm));
        for (size_t j = st; j < w->out->len; j++)
            if (w->out->data[j] == ';' || w->out->data[j] == '\n')
                w->out->data[j] = '_';
    }
    cp_buf_printf(w->out, " %llu\n", (unsigned long long)self);
}

int cp_profile_write_collapsed(const cp_profile_t *p, const cp_tree_t *t, cp_buf_t *out)
{
    wctx_t w = {p, out, 0};
    each_leaf(t, 0, collapsed_leaf, &w);
    return 0;
}

static void ss_sample(void *ud, const uint32_t *path, uint32_t depth, uint64_t self)
{
    wctx_t *w = ud;
    cp_buf_printf(w->out, "%s[", w->n++ ? "," : "");
    for (uint32_t k = 0; k < depth; k++)
        cp_buf_printf(w->out, "%s%u", k ? "," : "", path[k]);
    cp_buf_append(w->out, "]", 1);
}
static void ss_weight(void *ud, const uint32_t *path, uint32_t depth, uint64_t self)
{
    wctx_t *w = ud;
    cp_buf_printf(w->out, "%s%llu", w->n++ ? "," : "", (unsigned long long)self);
}

int cp_profile_write_speedscope(const cp_profile_t *p, const cp_tree_t *t, const char *name, cp_buf_t *out)
{
    const char *u = p->unit ? p->unit : "";
    const char *unit = !strcmp(u, "ns") ? "nanoseconds" : !strcmp(u, "bytes") ? "bytes" : "none";
    cp_buf_printf(out, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
                       "\"exporter\":\"cprof %s\",\"name\":", CPROF_VERSION);
    cp_buf_json_str(out, name, strlen(name));
    cp_buf_printf(out, ",\"activeProfileIndex\":0,\"shared\":{\"frames\":[");
    for (uint32_t i = 0; i < p->n_names; i++) {
        cp_buf_printf(out, "%s{\"name\":", i ? "," : "");
        cp_buf_json_str(out, p->names[i], strlen(p->names[i]));
        cp_buf_append(out, "}", 1);
    }
    cp_buf_printf(out, "]},\"profiles\":[{\"type\":\"sampled\",\"name\":");
    cp_buf_json_str(out, name, strlen(name));
    cp_buf_printf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%llu,\"samples\":[", unit,
                  (unsigned long long)p->total);
    wctx_t w = {p, out, 0};
    each_leaf(t, 0, ss_sample, &w);
    cp_buf_printf(out, "],\"weights\":[");
    w.n = 0;
    each_leaf(t, 0, ss_weight, &w);
    cp_buf_printf(out, "]}]}");
    return 0;
}

/* ---- pprof ---- */
typedef struct pctx {
    Perftools__Profiles__Sample **samples;
    size_t n;
} pctx_t;

static void pp_leaf(void *ud, const uint32_t *path, uint32_t depth, uint64_t self)
{
    pctx_t *c = ud;
    Perftools__Profiles__Sample *s = cp__xcalloc(1, sizeof *s);
    perftools__profiles__sample__init(s);
    s->n_location_id = depth;
    s->location_id = cp__xcalloc(depth, sizeof(uint64_t));
    for (uint32_t k = 0; k < depth; k++)
        s->location_id[k] = (uint64_t)path[depth - 1 - k] + 1;   /* leaf first */
    s->n_value = 1;
    s->value = cp__xcalloc(1, sizeof(int64_t));
    s->value[0] = (int64_t)self;
    c->samples = cp__xrealloc(c->samples, (c->n + 1) * sizeof *c->samples);
    c->samples[c->n++] = s;
}

static int gzip_buf(const uint8_t *in, size_t n, cp_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return CP_EZLIB;
    size_t bound = deflateBound(&zs, n) + 32;
    if (cp_buf_reserve(out, bound)) {
        deflateEnd(&zs);
        return CP_ENOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    int r = deflate(&zs, Z_FINISH);
    if (r != Z_STREAM_END) {
        deflateEnd(&zs);
        return CP_EZLIB;
    }
    out->len += zs.total_out;
    deflateEnd(&zs);
    return 0;
}

int cp_profile_write_pprof(const cp_profile_t *p, const cp_tree_t *t, const char *type,
                           int64_t from_ms, int64_t to_ms, cp_buf_t *out)
{
    Perftools__Profiles__Profile pr;
    perftools__profiles__profile__init(&pr);
    /* string table: "", type, unit, then names */
    size_t ns = 3 + p->n_names;
    char **st = cp__xcalloc(ns, sizeof *st);
    st[0] = "";
    st[1] = (char *)type;
    st[2] = p->unit && *p->unit ? p->unit : "count";
    for (uint32_t i = 0; i < p->n_names; i++)
        st[3 + i] = p->names[i];
    pr.n_string_table = ns;
    pr.string_table = st;
    Perftools__Profiles__ValueType vt;
    perftools__profiles__value_type__init(&vt);
    vt.type = 1;
    vt.unit = 2;
    Perftools__Profiles__ValueType *vts[1] = {&vt};
    pr.n_sample_type = 1;
    pr.sample_type = vts;
    pr.period_type = &vt;
    pr.time_nanos = from_ms * 1000000;
    pr.duration_nanos = (to_ms - from_ms) * 1000000;
    Perftools__Profiles__Function *fn = cp__xcalloc(p->n_names, sizeof *fn);
    Perftools__Profiles__Function **fnp = cp__xcalloc(p->n_names, sizeof *fnp);
    Perftools__Profiles__Location *loc = cp__xcalloc(p->n_names, sizeof *loc);
    Perftools__Profiles__Location **locp = cp__xcalloc(p->n_names, sizeof *locp);
    Perftools__Profiles__Line *ln = cp__xcalloc(p->n_names, sizeof *ln);
    Perftools__Profiles__Line **lnp = cp__xcalloc(p->n_names, sizeof *lnp);
    for (uint32_t i = 0; i < p->n_names; i++) {
        perftools__profiles__function__init(&fn[i]);
        fn[i].id = i + 1;
        fn[i].name = 3 + i;
        fn[i].system_name = 3 + i;
        fnp[i] = &fn[i];
        perftools__profiles__line__init(&ln[i]);
        ln[i].function_id = i + 1;
        lnp[i] = &ln[i];
        perftools__profiles__location__init(&loc[i]);
        loc[i].id = i + 1;
        loc[i].n_line = 1;
        loc[i].line = &lnp[i];
        locp[i] = &loc[i];
    }
    pr.n_function = p->n_names;
    pr.function = fnp;
    pr.n_location = p->n_names;
    pr.location = locp;
    pctx_t c = {0};
    each_leaf(t, 0, pp_leaf, &c);
    pr.n_sample = c.n;
    pr.sample = c.samples;
    size_t len = perftools__profiles__profile__get_packed_size(&pr);
    uint8_t *raw = cp__xrealloc(NULL, len);
    perftools__profiles__profile__pack(&pr, raw);
    int rc = gzip_buf(raw, len, out);
    free(raw);
    for (size_t i = 0; i < c.n; i++) {
        free(c.samples[i]->location_id);
        free(c.samples[i]->value);
        free(c.samples[i]);
    }
    free(c.samples);
    free(st);
    free(fn);
    free(fnp);
    free(loc);
    free(locp);
    free(ln);
    free(lnp);
    return rc;
}

/* ---- top / diff ---- */
typedef struct fstat { uint32_t name; uint64_t self[2], total[2]; double key; } fstat_t;

/* Per-function self and total (each stack counted once per function). */
static fstat_t *func_stats(const cp_profile_t *p, const cp_tree_t *t, uint32_t n_names)
{
    fstat_t *f = cp__xcalloc(n_names + 1, sizeof *f);
    for (uint32_t i = 0; i < n_names; i++)
        f[i].name = i;
    /* walk the tree: total counts a node unless an ancestor has the same name */
    uint32_t maxd = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->depth[i] > maxd)
            maxd = t->depth[i];
    uint32_t *path = cp__xcalloc(maxd + 1, sizeof *path);
    for (uint32_t i = 1; i < t->n; i++) {
        uint32_t d = t->depth[i], nm = t->name[i];
        path[d] = nm;
        bool rec = false;
        for (uint32_t k = 1; k < d; k++)
            if (path[k] == nm) {
                rec = true;
                break;
            }
        for (int s = 0; s < 2; s++) {
            f[nm].self[s] += t->self[s][i];
            if (!rec)
                f[nm].total[s] += t->total[s][i];
        }
    }
    free(path);
    (void)p;
    return f;
}

static int cmp_key(const void *x, const void *y)
{
    double a = ((const fstat_t *)x)->key, b = ((const fstat_t *)y)->key;
    if (a != b)
        return a > b ? -1 : 1;
    return ((const fstat_t *)x)->name < ((const fstat_t *)y)->name ? -1 : 1;
}

int cp_profile_write_top(const cp_profile_t *p, const cp_tree_t *t, uint32_t limit, cp_buf_t *out)
{
    fstat_t *f = func_stats(p, t, p->n_names);
    for (uint32_t i = 0; i < p->n_names; i++)
        f[i].key = (double)f[i].self[0] + (double)f[i].total[0] * 1e-12;
    qsort(f, p->n_names, sizeof *f, cmp_key);
    cp_buf_printf(out, "{\"total\":%llu,\"functions\":[", (unsigned long long)p->total);
    for (uint32_t i = 0; i < p->n_names && i < limit; i++) {
        cp_buf_printf(out, "%s{\"name\":", i ? "," : "");
        cp_buf_json_str(out, p->names[f[i].name], strlen(p->names[f[i].name]));
        cp_buf_printf(out, ",\"kind\":%u,\"self\":%llu,\"total\":%llu}", p->kinds[f[i].name],
                      (unsigned long long)f[i].self[0], (unsigned long long)f[i].total[0]);
    }
    cp_buf_printf(out, "]}");
    free(f);
    return 0;
}

int cp_profile_write_diff(const cp_profile_t *a, const cp_profile_t *b, const cp_tree_t *t, cp_buf_t *out)
{
    /* a holds the merged name table after cp_tree_build(a, b) */
    cp_buf_printf(out, "{\"base\":{\"total\":%llu},\"cmp\":{\"total\":%llu},",
                  (unsigned long long)a->total, (unsigned long long)b->total);
    write_names(a, out);
    cp_buf_printf(out, ",\"tree\":[");
    for (uint32_t i = 0; i < t->n; i++) {
        if (cp_buf_reserve(out, 140))
            return CP_ENOMEM;
        if (i)
            put_c(out, ',');
        put_i64(out, t->parent[i]);
        put_c(out, ',');
        put_u64(out, out_name(t, i));
        for (int s = 0; s < 2; s++) {
            put_c(out, ',');
            put_u64(out, t->self[s][i]);
            put_c(out, ',');
            put_u64(out, t->total[s][i]);
        }
    }
    cp_buf_printf(out, "],\"functions\":[");
    fstat_t *f = func_stats(a, t, a->n_names);
    double ta = a->total ? (double)a->total : 1, tb = b->total ? (double)b->total : 1;
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->n_names; i++) {
        double pa = 100.0 * (double)f[i].self[0] / ta, pb = 100.0 * (double)f[i].self[1] / tb;
        f[i].key = fabs(pb - pa);
        if (f[i].self[0] || f[i].self[1])
            f[n++] = f[i];
    }
    qsort(f, n, sizeof *f, cmp_key);
    for (uint32_t i = 0; i < n && i < 500; i++) {
        double pa = 100.0 * (double)f[i].self[0] / ta, pb = 100.0 * (double)f[i].self[1] / tb;
        cp_buf_printf(out, "%s{\"name\":", i ? "," : "");
        cp_buf_json_str(out, a->names[f[i].name], strlen(a->names[f[i].name]));
        cp_buf_printf(out, ",\"kind\":%u,\"base_self\":%llu,\"cmp_self\":%llu,\"base_pct\":%.4f,"
                           "\"cmp_pct\":%.4f,\"delta_pct\":%.4f}",
                      a->kinds[f[i].name], (unsigned long long)f[i].self[0], (unsigned long long)f[i].self[1],
                      pa, pb, pb - pa);
    }
    cp_buf_printf(out, "]}");
    free(f);
    return 0;
}
