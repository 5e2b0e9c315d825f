/* otlp.c - the OTLP profiles encoder (otlp.h): cp_profile_t ->
 * ExportProfilesServiceRequest, opentelemetry-proto v1.10 (v1development).
 *
 * Where it sits: a query worker (format=otlp) or the exporter thread adds
 * merged profiles to a request; cp_otlp_write() packs it with protobuf-c
 * from relay/proto/otlp_profiles.proto, as profile.c packs pprof.
 *
 * Message layout written (field numbers in the .proto):
 *
 *   ExportProfilesServiceRequest
 *   ├─ resource_profiles[i]          one per cp_otlp_add()
 *   │   ├─ resource.attributes       service.name, service.namespace? (tenant),
 *   │   │                            service.instance.id?, the instance's labels
 *   │   └─ scope_profiles[0]         scope {name "cprof", version}
 *   │       └─ profiles[0]           sample_type [type, unit], time, duration
 *   │           └─ samples[j]        {stack_index, attribute_indices (its label set),
 *   │                                 link_index (0 = none), values [v]}
 *   └─ dictionary (shared)
 *       string_table   [0] ""        every name, type and unit once
 *       function_table [0] {}        one per function name (name = system name)
 *       location_table [0] {}        one per (function, frame type): lines [function]
 *       attribute_table[0] {}        profile.frame.type = jvm | native | kernel, and
 *                                    every label key = value of a sample's label set
 *       stack_table    [0] {}        location indices, leaf first, each path once
 *       mapping_table  [0] {}        (no mappings: JVM frames have no binary)
 *       link_table     [0] {16 zero bytes, 8 zero bytes}, then one per (trace, span)
 *                                    linked: trace_id 16 bytes, span_id 8 bytes
 *                                    (big-endian, as in the hex; span 0 = 8 zero bytes)
 *
 * Invariants: entry 0 of every table is the zero value and nothing refers
 * to it except as "not set"; no table holds duplicates (strings, stacks and
 * locations, attributes, label sets and links are interned, colliding
 * hashes probe to the next key); within one profile a (stack, label set,
 * link) has at most one sample (values of equal keys summed), and no sample
 * has a zero value. Links only move value between samples of one stack
 * (cp_otlp_link), so every stack's sum is what cp_otlp_sample added.
 *
 * Thread: the caller's; no global state. */
#include "otlp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "otlp_profiles.pb-c.h"
#include "rutil.h"
#include "stack_dict.h"
#include "store_labels.h"

#define PB(x)  Opentelemetry__Proto__Profiles__V1development__##x
#define PBI(x) opentelemetry__proto__profiles__v1development__##x##__init

typedef struct prof {
    char      *app, *tenant, *instance, *labels, *type;
    int64_t    from_ms, to_ms;
    uint32_t   type_s, unit_s;     /* string indices */
    /* sample j: (stack, label set, link) -> value; values of one key summed */
    cp__vu32_t stack, lset, link;
    cp__vu64_t value;
    /* kept until destroy, for cp_otlp_link_to */
    cp__hmap_t sample_of;          /* pair << 32 | stack -> sample + 1 */
    cp__hmap_t pair_of;            /* lset << 32 | link -> pair id + 1 */
    cp__hmap_t unlinked;           /* stack -> first unlinked sample + 1 */
    cp__vu32_t next;               /* sample -> next unlinked sample of its stack + 1 */
} prof_t;

typedef struct attr { uint32_t key_s; char *val; } attr_t;   /* val owned */
typedef struct link { uint64_t hi, lo, span; } link_t;

/* The profile being added (cp_otlp_begin .. cp_otlp_end). */
typedef struct build {
    const cp_profile_t *p;         /* borrowed until cp_otlp_end */
    uint32_t  *loc_of;             /* p's name -> location + 1 */
    uint32_t  *st_of;              /* p's stack -> OTLP stack + 1 */
    uint32_t  *path;               /* scratch: one stack's locations */
    uint32_t   cap_path;
    bool       open;
} build_t;

struct cp_otlp {
    char     **str;                /* string_table (owned copies) */
    size_t     n_str, cap_str;
    cp__hmap_t str_idx;            /* hash (probed) -> index + 1 */
    cp__vu32_t fn_name;            /* function i -> name string index */
    cp__hmap_t fn_idx;             /* name string index -> function index */
    cp__vu32_t loc_fn, loc_attr;   /* location i -> function, attribute (0 = none) */
    cp__hmap_t loc_idx;            /* fn << 8 | attr -> location index */
    attr_t    *attr;               /* attribute_table; [0] zero */
    uint32_t   n_attr, cap_attr;
    cp__hmap_t attr_idx;           /* key_s << 32 ^ hash(val) (probed) -> index */
    cp__vu32_t ls_off, ls_attr;    /* label set i: ls_attr[ls_off[i] .. ls_off[i+1]); [0] empty */
    char     **ls_canon;           /* label set i's canonical text (owned) */
    cp__hmap_t ls_idx;             /* hash (probed) -> label set index */
    link_t    *link;               /* link_table; [0] zero */
    uint32_t   n_link, cap_link;
    cp__hmap_t link_idx;           /* hash (probed) -> link index */
    uint64_t   links_dropped;      /* entries left unlinked: table full */
    cp__vu32_t stk_off, stk_loc;   /* stack i: stk_loc[stk_off[i] .. stk_off[i+1]) */
    cp__hmap_t stk_idx;            /* hash (probed) -> stack index */
    prof_t    *prof;
    size_t     n_prof;
    build_t    b;
};

/* String index of s, or with !create UINT32_MAX when s is not interned. */
static uint32_t find_str(cp_otlp_t *o, const char *s, bool create)
{
    size_t n = strlen(s);
    for (uint64_t k = cp__hash_bytes(s, n);; k++) {
        uint32_t *slot = cp__hmap_slot(&o->str_idx, k, create);
        if (!slot)
            return UINT32_MAX;
        if (*slot && !strcmp(o->str[*slot - 1], s))
            return *slot - 1;
        if (*slot)
            continue;   /* another string with this hash: probe the next key */
        if (o->n_str == o->cap_str) {
            o->cap_str = o->cap_str ? o->cap_str * 2 : 256;
            o->str = cp__xrealloc(o->str, o->cap_str * sizeof *o->str);
        }
        o->str[o->n_str] = cp__xstrdup(s);
        *slot = (uint32_t)++o->n_str;
        return *slot - 1;
    }
}

static uint32_t intern_str(cp_otlp_t *o, const char *s) { return find_str(o, s, true); }

cp_otlp_t *cp_otlp_create(void)
{
    cp_otlp_t *o = cp__xcalloc(1, sizeof *o);
    intern_str(o, "");            /* string_table[0] */
    cp__vu32_push(&o->fn_name, 0);   /* function_table[0] */
    cp__vu32_push(&o->loc_fn, 0);    /* location_table[0] */
    cp__vu32_push(&o->loc_attr, 0);
    o->cap_attr = 16;
    o->attr = cp__xcalloc(o->cap_attr, sizeof *o->attr);
    o->n_attr = 1;                   /* attribute_table[0] */
    cp__vu32_push(&o->ls_off, 0);    /* label set 0: no attributes */
    cp__vu32_push(&o->ls_off, 0);
    o->ls_canon = cp__xcalloc(1, sizeof *o->ls_canon);
    o->ls_canon[0] = cp__xstrdup("");
    o->cap_link = 16;
    o->link = cp__xcalloc(o->cap_link, sizeof *o->link);
    o->n_link = 1;                   /* link_table[0]: the zero link */
    cp__vu32_push(&o->stk_off, 0);   /* stack_table[0]: empty */
    cp__vu32_push(&o->stk_off, 0);
    return o;
}

static void build_free(build_t *b)
{
    free(b->loc_of); free(b->st_of);
    b->loc_of = b->st_of = NULL;
    b->p = NULL;
    b->open = false;   /* path stays: scratch for cp_otlp_link_to */
}

void cp_otlp_destroy(cp_otlp_t *o)
{
    if (!o)
        return;
    build_free(&o->b);
    free(o->b.path);
    for (size_t i = 0; i < o->n_str; i++)
        free(o->str[i]);
    free(o->str);
    for (size_t i = 0; i < o->n_prof; i++) {
        prof_t *p = &o->prof[i];
        free(p->app); free(p->tenant); free(p->instance); free(p->labels); free(p->type);
        free(p->stack.v); free(p->lset.v); free(p->link.v); free(p->value.v); free(p->next.v);
        cp__hmap_free(&p->sample_of); cp__hmap_free(&p->pair_of); cp__hmap_free(&p->unlinked);
    }
    free(o->prof);
    for (uint32_t i = 1; i < o->n_attr; i++)
        free(o->attr[i].val);
    free(o->attr);
    for (size_t i = 0; i + 1 < o->ls_off.n; i++)
        free(o->ls_canon[i]);
    free(o->ls_canon);
    free(o->link);
    free(o->fn_name.v); free(o->loc_fn.v); free(o->loc_attr.v);
    free(o->ls_off.v); free(o->ls_attr.v);
    free(o->stk_off.v); free(o->stk_loc.v);
    cp__hmap_free(&o->str_idx); cp__hmap_free(&o->fn_idx);
    cp__hmap_free(&o->loc_idx); cp__hmap_free(&o->stk_idx);
    cp__hmap_free(&o->attr_idx); cp__hmap_free(&o->ls_idx); cp__hmap_free(&o->link_idx);
    free(o);
}

size_t cp_otlp_count(const cp_otlp_t *o) { return o->n_prof; }

uint64_t cp_otlp_links_dropped(const cp_otlp_t *o) { return o->links_dropped; }

/* profile.frame.type (OpenTelemetry semantic conventions) of a frame kind;
 * NULL for cprof's synthetic frames. */
static const char *frame_type(uint8_t kind)
{
    switch (kind) {
    case CP_FRAME_JAVA: case CP_FRAME_INTERPRETED: case CP_FRAME_COMPILED: case CP_FRAME_INLINED:
        return "jvm";
    case CP_FRAME_NATIVE: return "native";
    case CP_FRAME_KERNEL: return "kernel";
    case CP_FRAME_PYTHON: return "cpython";
    default: return NULL;
    }
}

/* Attribute key = val (a string value), or with !create 0 when absent. */
static uint32_t find_attr(cp_otlp_t *o, const char *key, const char *val, bool create)
{
    uint32_t k = find_str(o, key, create);
    if (k == UINT32_MAX)
        return 0;
    for (uint64_t h = (uint64_t)k << 32 ^ cp__hash_bytes(val, strlen(val));; h++) {
        uint32_t *slot = cp__hmap_slot(&o->attr_idx, h, create);
        if (!slot)
            return 0;
        if (*slot && o->attr[*slot].key_s == k && !strcmp(o->attr[*slot].val, val))
            return *slot;
        if (*slot)
            continue;
        if (o->n_attr == o->cap_attr) {
            o->cap_attr *= 2;
            o->attr = cp__xrealloc(o->attr, o->cap_attr * sizeof *o->attr);
        }
        o->attr[o->n_attr] = (attr_t){k, cp__xstrdup(val)};
        *slot = o->n_attr++;
        return *slot;
    }
}

/* Location of function name `name` with frame kind `kind`; with !create 0
 * when the request has none. */
static uint32_t find_loc(cp_otlp_t *o, const char *name, uint8_t kind, bool create)
{
    uint32_t s = find_str(o, name, create);
    if (s == UINT32_MAX)
        return 0;
    uint32_t *fslot = cp__hmap_slot(&o->fn_idx, s, create);
    if (!fslot)
        return 0;
    if (!*fslot) {
        *fslot = (uint32_t)o->fn_name.n;
        cp__vu32_push(&o->fn_name, s);
    }
    const char *ft = frame_type(kind);
    uint32_t a = ft ? find_attr(o, "profile.frame.type", ft, create) : 0;
    if (ft && !a)
        return 0;
    uint32_t *lslot = cp__hmap_slot(&o->loc_idx, (uint64_t)*fslot << 8 | a, create);
    if (!lslot)
        return 0;
    if (!*lslot) {
        *lslot = (uint32_t)o->loc_fn.n;
        cp__vu32_push(&o->loc_fn, *fslot);
        cp__vu32_push(&o->loc_attr, a);
    }
    return *lslot;
}

/* Stack of locations locs[0..n) (leaf first); with !create 0 when absent. */
static uint32_t find_stack(cp_otlp_t *o, const uint32_t *locs, uint32_t n, bool create)
{
    if (!n)
        return 0;   /* stack_table[0], the empty stack */
    for (uint64_t k = cp__hash_bytes(locs, n * sizeof *locs);; k++) {
        uint32_t *slot = cp__hmap_slot(&o->stk_idx, k, create);
        if (!slot)
            return 0;
        if (*slot) {
            uint32_t a = o->stk_off.v[*slot], b = o->stk_off.v[*slot + 1];
            if (b - a == n && !memcmp(o->stk_loc.v + a, locs, n * sizeof *locs))
                return *slot;
            continue;
        }
        for (uint32_t i = 0; i < n; i++)
            cp__vu32_push(&o->stk_loc, locs[i]);
        *slot = (uint32_t)o->stk_off.n - 1;
        cp__vu32_push(&o->stk_off, (uint32_t)o->stk_loc.n);
        return *slot;
    }
}

/* One pair of a label set: its attribute index appended to ls_attr. */
static void ls_attr_add(void *ud, const char *key, const char *val)
{
    cp_otlp_t *o = ud;
    if (*key)
        cp__vu32_push(&o->ls_attr, find_attr(o, key, val, true));
}

/* Label set of canonical text canon ("k=v,k2=v\,x", store_labels.h): its
 * attributes interned once per request. NULL or "" is label set 0. */
static uint32_t intern_lset(cp_otlp_t *o, const char *canon)
{
    if (!canon || !*canon)
        return 0;
    size_t len = strlen(canon);
    uint32_t *slot;
    for (uint64_t k = cp__hash_bytes(canon, len);; k++) {
        slot = cp__hmap_slot(&o->ls_idx, k, 1);
        if (!*slot)
            break;
        if (!strcmp(o->ls_canon[*slot], canon))
            return *slot;
    }
    uint32_t id = (uint32_t)o->ls_off.n - 1;
    *slot = id;
    o->ls_canon = cp__xrealloc(o->ls_canon, (id + 1) * sizeof *o->ls_canon);
    o->ls_canon[id] = cp__xstrdup(canon);
    cp_store_labels_each(canon, ls_attr_add, o);
    cp__vu32_push(&o->ls_off, (uint32_t)o->ls_attr.n);
    return id;
}

/* Link (hi, lo, span); 0 once the table holds CP_OTLP_MAX_LINKS and this
 * one is not in it. */
static uint32_t intern_link(cp_otlp_t *o, uint64_t hi, uint64_t lo, uint64_t span)
{
    bool full = o->n_link >= CP_OTLP_MAX_LINKS;
    for (uint64_t k = cp__hash64(hi ^ cp__hash64(lo ^ cp__hash64(span)));; k++) {
        uint32_t *slot = cp__hmap_slot(&o->link_idx, k, !full);
        if (!slot)
            return 0;
        if (*slot) {
            const link_t *l = &o->link[*slot];
            if (l->hi == hi && l->lo == lo && l->span == span)
                return *slot;
            continue;
        }
        if (o->n_link == o->cap_link) {
            o->cap_link *= 2;
            o->link = cp__xrealloc(o->link, o->cap_link * sizeof *o->link);
        }
        o->link[o->n_link] = (link_t){hi, lo, span};
        *slot = o->n_link++;
        return *slot;
    }
}

static const char *unit_name(const char *u)
{
    if (!u || !*u)
        return "count";
    return !strcmp(u, "ns") ? "nanoseconds" : u;
}

void cp_otlp_begin(cp_otlp_t *o, const cp_otlp_meta_t *m, const cp_profile_t *p)
{
    if (o->b.open)
        cp_otlp_end(o);
    o->prof = cp__xrealloc(o->prof, (o->n_prof + 1) * sizeof *o->prof);
    prof_t *pr = &o->prof[o->n_prof++];
    memset(pr, 0, sizeof *pr);
    pr->app = cp__xstrdup(m->app ? m->app : "");
    pr->tenant = m->tenant && *m->tenant ? cp__xstrdup(m->tenant) : NULL;
    pr->instance = m->instance && *m->instance ? cp__xstrdup(m->instance) : NULL;
    pr->labels = m->labels && *m->labels ? cp__xstrdup(m->labels) : NULL;
    pr->type = cp__xstrdup(m->type ? m->type : "");
    pr->from_ms = m->from_ms;
    pr->to_ms = m->to_ms;
    pr->type_s = intern_str(o, pr->type);
    pr->unit_s = intern_str(o, unit_name(p->unit));
    build_t *b = &o->b;
    b->p = p;
    b->loc_of = cp__xcalloc(p->n_names + 1, sizeof *b->loc_of);
    b->st_of = cp__xcalloc(p->n_stacks + 1, sizeof *b->st_of);
    b->open = true;
}

/* Room for a path of n locations in b->path. */
static uint32_t *path_room(build_t *b, uint32_t n)
{
    if (n + 1 > b->cap_path) {
        b->cap_path = n + 16;
        b->path = cp__xrealloc(b->path, b->cap_path * sizeof *b->path);
    }
    return b->path;
}

/* Adds v to profile pr's sample (st, ls, lk). */
static void add_value(prof_t *pr, uint32_t st, uint32_t ls, uint32_t lk, uint64_t v)
{
    uint32_t *ps = cp__hmap_slot(&pr->pair_of, (uint64_t)ls << 32 | lk, 1);
    if (!*ps)
        *ps = (uint32_t)pr->pair_of.n;
    uint32_t *slot = cp__hmap_slot(&pr->sample_of, (uint64_t)(*ps - 1) << 32 | st, 1);
    if (!*slot) {
        cp__vu32_push(&pr->stack, st);
        cp__vu32_push(&pr->lset, ls);
        cp__vu32_push(&pr->link, lk);
        cp__vu64_push(&pr->value, 0);
        *slot = (uint32_t)pr->stack.n;
        cp__vu32_push(&pr->next, 0);
        if (!lk) {   /* chain it into its stack's unlinked samples */
            uint32_t *head = cp__hmap_slot(&pr->unlinked, st, 1);
            pr->next.v[*slot - 1] = *head;
            *head = *slot;
        }
    }
    pr->value.v[*slot - 1] += v;
}

void cp_otlp_sample(cp_otlp_t *o, uint32_t stack, const char *labels, uint64_t value)
{
    build_t *b = &o->b;
    const cp_profile_t *p = b->p;
    if (!value || stack >= p->n_stacks)
        return;
    if (!b->st_of[stack]) {
        uint32_t a = p->stack_off[stack], n = p->stack_off[stack + 1] - a;
        uint32_t *path = path_room(b, n);
        for (uint32_t k = 0; k < n; k++) {   /* the store's stacks are root first */
            uint32_t f = p->funcs[a + n - 1 - k];
            if (!b->loc_of[f])
                b->loc_of[f] = find_loc(o, p->names[f], p->kinds[f], true) + 1;
            path[k] = b->loc_of[f] - 1;
        }
        b->st_of[stack] = find_stack(o, path, n, true) + 1;
    }
    add_value(&o->prof[o->n_prof - 1], b->st_of[stack] - 1, intern_lset(o, labels), 0, value);
}

uint64_t cp_otlp_link(cp_otlp_t *o, const cp_otlp_link_t *l)
{
    return o->n_prof ? cp_otlp_link_to(o, o->n_prof - 1, l) : 0;
}

uint64_t cp_otlp_link_to(cp_otlp_t *o, size_t prof, const cp_otlp_link_t *l)
{
    build_t *b = &o->b;
    if (prof >= o->n_prof || !l->value || (!l->hi && !l->lo))
        return 0;
    prof_t *pr = &o->prof[prof];
    uint32_t *path = path_room(b, l->n);
    for (uint32_t k = 0; k < l->n; k++) {   /* root first -> leaf first */
        uint32_t f = l->funcs[l->n - 1 - k];
        if (!(path[k] = find_loc(o, l->names[f], l->kinds[f], false)))
            return 0;   /* a function no sample has: nothing to link */
    }
    uint32_t st = find_stack(o, path, l->n, false);
    uint32_t *head = st ? cp__hmap_slot(&pr->unlinked, st, 0) : NULL;
    if (!head)
        return 0;
    uint32_t lk = 0;
    uint64_t left = l->value, moved = 0;
    while (left) {
        uint32_t best = 0;   /* the unlinked sample of this stack with the most value left */
        for (uint32_t s = *head; s; s = pr->next.v[s - 1])
            if (pr->value.v[s - 1] && (!best || pr->value.v[s - 1] > pr->value.v[best - 1]))
                best = s;
        if (!best)
            break;
        uint64_t take = pr->value.v[best - 1] < left ? pr->value.v[best - 1] : left;
        if (!lk && !(lk = intern_link(o, l->hi, l->lo, l->span))) {
            o->links_dropped++;
            break;   /* the link table is full: this value stays unlinked */
        }
        pr->value.v[best - 1] -= take;
        add_value(pr, st, pr->lset.v[best - 1], lk, take);
        left -= take;
        moved += take;
    }
    return moved;
}

void cp_otlp_end(cp_otlp_t *o)
{
    build_free(&o->b);
}

int cp_otlp_add(cp_otlp_t *o, const cp_otlp_meta_t *m, const cp_profile_t *p)
{
    cp_otlp_begin(o, m, p);
    for (uint32_t s = 0; s < p->n_stacks; s++)
        cp_otlp_sample(o, s, NULL, p->values[s]);
    cp_otlp_end(o);
    return 0;
}

/* ---- packing -------------------------------------------------------- */

static PB(AnyValue) *str_value(const char *s)
{
    PB(AnyValue) *v = cp__xcalloc(1, sizeof *v);
    PBI(any_value)(v);
    v->value_case = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    return v;
}

static void kv_add(PB(Resource) *r, const char *key, const char *val)
{
    PB(KeyValue) *kv = cp__xcalloc(1, sizeof *kv);
    PBI(key_value)(kv);
    kv->key = (char *)key;
    kv->value = str_value(val);
    r->attributes = cp__xrealloc(r->attributes, (r->n_attributes + 1) * sizeof *r->attributes);
    r->attributes[r->n_attributes++] = kv;
}

/* Resource attributes of a canonical label set "k=v,k2=v\,x": unescaped
 * copies appended to *keep (freed by the caller). */
typedef struct res_labels {
    PB(Resource) *r;
    char ***keep;
    size_t *n_keep;
} res_labels_t;

static char *kept(res_labels_t *u, const char *s)
{
    char *c = cp__xstrdup(s);
    *u->keep = cp__xrealloc(*u->keep, (*u->n_keep + 1) * sizeof **u->keep);
    (*u->keep)[(*u->n_keep)++] = c;
    return c;
}

static void res_label(void *ud, const char *key, const char *val)
{
    res_labels_t *u = ud;
    if (*key)
        kv_add(u->r, kept(u, key), kept(u, val));
}

static void labels_add(PB(Resource) *r, const char *canon, char ***keep, size_t *n_keep)
{
    res_labels_t u = {r, keep, n_keep};
    cp_store_labels_each(canon, res_label, &u);
}

static void resource_free(PB(Resource) *r)
{
    for (size_t i = 0; i < r->n_attributes; i++) {
        free(r->attributes[i]->value);
        free(r->attributes[i]);
    }
    free(r->attributes);
}

int cp_otlp_write(const cp_otlp_t *o, cp_buf_t *out)
{
    PB(ProfilesDictionary) d;
    PBI(profiles_dictionary)(&d);
    d.n_string_table = o->n_str;
    d.string_table = o->str;

    size_t nf = o->fn_name.n, nl = o->loc_fn.n, ns = o->stk_off.n - 1, na = o->n_attr;
    PB(Function) *fn = cp__xcalloc(nf, sizeof *fn), **fnp = cp__xcalloc(nf, sizeof *fnp);
    for (size_t i = 0; i < nf; i++) {
        PBI(function)(&fn[i]);
        fn[i].name_strindex = (int32_t)o->fn_name.v[i];
        fn[i].system_name_strindex = (int32_t)o->fn_name.v[i];
        fnp[i] = &fn[i];
    }
    PB(Location) *loc = cp__xcalloc(nl, sizeof *loc), **locp = cp__xcalloc(nl, sizeof *locp);
    PB(Line) *ln = cp__xcalloc(nl, sizeof *ln), **lnp = cp__xcalloc(nl, sizeof *lnp);
    int32_t *lattr = cp__xcalloc(nl, sizeof *lattr);
    for (size_t i = 0; i < nl; i++) {
        PBI(location)(&loc[i]);
        PBI(line)(&ln[i]);
        locp[i] = &loc[i];
        lnp[i] = &ln[i];
        if (i == 0)
            continue;   /* location_table[0] = Location{} */
        ln[i].function_index = (int32_t)o->loc_fn.v[i];
        loc[i].n_lines = 1;
        loc[i].lines = &lnp[i];
        if (o->loc_attr.v[i]) {
            lattr[i] = (int32_t)o->loc_attr.v[i];
            loc[i].n_attribute_indices = 1;
            loc[i].attribute_indices = &lattr[i];
        }
    }
    PB(Stack) *stk = cp__xcalloc(ns, sizeof *stk), **stkp = cp__xcalloc(ns, sizeof *stkp);
    for (size_t i = 0; i < ns; i++) {
        PBI(stack)(&stk[i]);
        stk[i].n_location_indices = o->stk_off.v[i + 1] - o->stk_off.v[i];
        stk[i].location_indices = (int32_t *)(o->stk_loc.v + o->stk_off.v[i]);   /* same layout */
        stkp[i] = &stk[i];
    }
    PB(KeyValueAndUnit) *at = cp__xcalloc(na, sizeof *at), **atp = cp__xcalloc(na, sizeof *atp);
    PB(AnyValue) *av = cp__xcalloc(na, sizeof *av);
    for (size_t i = 0; i < na; i++) {
        PBI(key_value_and_unit)(&at[i]);
        atp[i] = &at[i];
        if (i == 0)
            continue;
        PBI(any_value)(&av[i]);
        av[i].value_case = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__ANY_VALUE__VALUE_STRING_VALUE;
        av[i].string_value = o->attr[i].val;
        at[i].key_strindex = (int32_t)o->attr[i].key_s;
        at[i].value = &av[i];
    }
    PB(Mapping) map0, *mapp = &map0;
    PBI(mapping)(&map0);
    size_t nk = o->n_link;
    PB(Link) *lk = cp__xcalloc(nk, sizeof *lk), **lkp = cp__xcalloc(nk, sizeof *lkp);
    uint8_t (*ids)[24] = cp__xcalloc(nk, sizeof *ids);   /* trace id (16) + span id (8), big-endian */
    for (size_t i = 0; i < nk; i++) {
        PBI(link)(&lk[i]);
        lkp[i] = &lk[i];
        uint64_t w[3] = {o->link[i].hi, o->link[i].lo, o->link[i].span};
        for (int k = 0; k < 24; k++)
            ids[i][k] = (uint8_t)(w[k / 8] >> (56 - 8 * (k % 8)));
        lk[i].trace_id = (ProtobufCBinaryData){16, ids[i]};
        lk[i].span_id = (ProtobufCBinaryData){8, ids[i] + 16};
    }
    d.n_function_table = nf;
    d.function_table = fnp;
    d.n_location_table = nl;
    d.location_table = locp;
    d.n_stack_table = ns;
    d.stack_table = stkp;
    d.n_attribute_table = na;
    d.attribute_table = atp;
    d.n_mapping_table = 1;
    d.mapping_table = &mapp;
    d.n_link_table = nk;
    d.link_table = lkp;

    /* one ResourceProfiles -> ScopeProfiles -> Profile per added profile */
    size_t np = o->n_prof;
    PB(ResourceProfiles) *rp = cp__xcalloc(np + 1, sizeof *rp), **rpp = cp__xcalloc(np + 1, sizeof *rpp);
    PB(Resource) *res = cp__xcalloc(np + 1, sizeof *res);
    PB(ScopeProfiles) *sp = cp__xcalloc(np + 1, sizeof *sp), **spp = cp__xcalloc(np + 1, sizeof *spp);
    PB(InstrumentationScope) scope;
    PBI(instrumentation_scope)(&scope);
    scope.name = "cprof";
    scope.version = CPROF_VERSION;
    PB(Profile) *pf = cp__xcalloc(np + 1, sizeof *pf), **pfp = cp__xcalloc(np + 1, sizeof *pfp);
    PB(ValueType) *vt = cp__xcalloc(np + 1, sizeof *vt);
    char **keep = NULL;
    size_t n_keep = 0, n_samples = 0;
    for (size_t i = 0; i < np; i++)
        n_samples += o->prof[i].stack.n;
    PB(Sample) *sm = cp__xcalloc(n_samples + 1, sizeof *sm), **smp = cp__xcalloc(n_samples + 1, sizeof *smp);
    int64_t *vals = cp__xcalloc(n_samples + 1, sizeof *vals);
    size_t si = 0;
    for (size_t i = 0; i < np; i++) {
        const prof_t *p = &o->prof[i];
        PBI(resource)(&res[i]);
        kv_add(&res[i], "service.name", p->app);
        if (p->tenant)
            kv_add(&res[i], "service.namespace", p->tenant);
        if (p->instance)
            kv_add(&res[i], "service.instance.id", p->instance);
        if (p->labels)
            labels_add(&res[i], p->labels, &keep, &n_keep);
        PBI(value_type)(&vt[i]);
        vt[i].type_strindex = (int32_t)p->type_s;
        vt[i].unit_strindex = (int32_t)p->unit_s;
        PBI(profile)(&pf[i]);
        pf[i].sample_type = &vt[i];
        pf[i].time_unix_nano = (uint64_t)p->from_ms * 1000000u;
        pf[i].duration_nano = (uint64_t)(p->to_ms - p->from_ms) * 1000000u;
        pf[i].samples = smp + si;
        size_t first = si;
        for (size_t j = 0; j < p->stack.n; j++) {
            if (!p->value.v[j])
                continue;   /* a sample whose value all moved to linked samples */
            PBI(sample)(&sm[si]);
            sm[si].stack_index = (int32_t)p->stack.v[j];
            uint32_t ls = p->lset.v[j];
            sm[si].n_attribute_indices = o->ls_off.v[ls + 1] - o->ls_off.v[ls];
            sm[si].attribute_indices = (int32_t *)(o->ls_attr.v + o->ls_off.v[ls]);   /* same layout */
            sm[si].link_index = (int32_t)p->link.v[j];
            vals[si] = (int64_t)p->value.v[j];
            sm[si].n_values = 1;
            sm[si].values = &vals[si];
            smp[si] = &sm[si];
            si++;
        }
        pf[i].n_samples = si - first;
        pfp[i] = &pf[i];
        PBI(scope_profiles)(&sp[i]);
        sp[i].scope = &scope;
        sp[i].n_profiles = 1;
        sp[i].profiles = &pfp[i];
        spp[i] = &sp[i];
        PBI(resource_profiles)(&rp[i]);
        rp[i].resource = &res[i];
        rp[i].n_scope_profiles = 1;
        rp[i].scope_profiles = &spp[i];
        rpp[i] = &rp[i];
    }
    PB(ExportProfilesServiceRequest) req;
    PBI(export_profiles_service_request)(&req);
    req.n_resource_profiles = np;
    req.resource_profiles = rpp;
    req.dictionary = &d;

    int rc = 0;
    size_t len = opentelemetry__proto__profiles__v1development__export_profiles_service_request__get_packed_size(&req);
    if (cp_buf_reserve(out, len)) {
        rc = CP_ENOMEM;
    } else {
        opentelemetry__proto__profiles__v1development__export_profiles_service_request__pack(&req, out->data + out->len);
        out->len += len;
    }
    for (size_t i = 0; i < np; i++)
        resource_free(&res[i]);
    for (size_t i = 0; i < n_keep; i++)
        free(keep[i]);
    free(keep);
    free(fn); free(fnp); free(loc); free(locp); free(ln); free(lnp); free(lattr);
    free(stk); free(stkp); free(at); free(atp); free(av); free(lk); free(lkp); free(ids);
    free(rp); free(rpp); free(res); free(sp); free(spp); free(pf); free(pfp); free(vt);
    free(sm); free(smp); free(vals);
    return rc;
}

int cp_otlp_write_profile(const cp_profile_t *p, const char *app, const char *type,
                          int64_t from_ms, int64_t to_ms, cp_buf_t *out)
{
    cp_otlp_t *o = cp_otlp_create();
    cp_otlp_meta_t m = {.app = app, .type = type, .from_ms = from_ms, .to_ms = to_ms};
    int rc = cp_otlp_add(o, &m, p);
    if (!rc)
        rc = cp_otlp_write(o, out);
    cp_otlp_destroy(o);
    return rc;
}
