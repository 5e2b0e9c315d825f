/* stack_dict.c - interning of strings, frames and stacks to dense ids.
 *
 * Where it sits: the agent's harvester thread turns sampled stacks into ids
 * here before cp_wire_encode() ships the dictionary delta; the relay keeps one
 * per app so stored windows hold small dense stack ids.
 *
 * Layout (three tables, the same scheme each):
 *   - an entry array indexed by id (dense, append-only until clear);
 *   - an open-addressing hash index (linear probing, power-of-two capacity,
 *     load <= 1/2) whose slots hold id+1, 0 = empty. Each entry keeps its
 *     32-bit hash, so growing the index never rehashes keys and a probe
 *     compares keys only when the hashes match.
 *   Strings live in a chunked arena (chunks never move, so a string pointer
 *   stays put until clear); stack frame lists live in one flat uint32 pool
 *   (it may move when it grows: lookups are borrowed until the next intern).
 *
 * Prefix tracking (optional, agent only): a fourth open-addressing table
 * maps each distinct stack prefix (64-bit hash of frames[0..len), len) to
 * the first stack that had it; a new stack looks up its prefixes from the
 * longest down (every prefix of a known prefix is known, so the first hit
 * that verifies is the longest) and records (ref, keep) per stack. Hash
 * collisions are caught by comparing frames, at worst giving a shorter
 * keep: the result is a size optimisation, never a correctness matter.
 *
 * Invariants: count(table) == next id; every id < count is in the index
 * exactly once; index capacity >= 2 * count.
 *
 * Thread: one owner (agent: harvester; relay: store worker). Not signal-safe. */
#include "stack_dict.h"
#include "error.h"
#include "zalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK   (64 * 1024)    /* bytes per string chunk */
#define MAX_ID        (UINT32_MAX - 1) /* ids are stored as id+1 in slots */

typedef struct index {
    uint32_t *slots;     /* id + 1, 0 = empty */
    uint32_t  mask;      /* capacity - 1; capacity 0 => slots NULL, mask 0 */
} index_t;

typedef struct str_ent {
    const char *s;
    uint32_t    len;
    uint32_t    hash;
} str_ent_t;

typedef struct stack_ent {
    size_t   off;        /* into frame pool */
    uint32_t n;
    uint32_t hash;
} stack_ent_t;

typedef struct chunk {
    struct chunk *next;
    size_t        used, cap;
    char          data[];
} chunk_t;

typedef struct pfx_ent {
    uint64_t hash;       /* 0 = empty slot */
    uint32_t stack;      /* first stack with this prefix */
    uint32_t len;        /* prefix length, frames */
} pfx_ent_t;

typedef struct stack_ref {
    uint32_t ref, keep;
} stack_ref_t;

struct cp_stack_dict {
    /* strings */
    str_ent_t *strs;     uint32_t n_strs, cap_strs;   index_t str_ix;
    chunk_t   *chunks;   size_t   chunk_bytes;
    /* frames */
    cp_frame_t *frames;  uint32_t *frame_hash; uint32_t n_frames, cap_frames; index_t frame_ix;
    /* stacks */
    stack_ent_t *stacks; uint32_t n_stacks, cap_stacks; index_t stack_ix;
    uint32_t *pool;      size_t   pool_len, pool_cap;
    /* prefix tracking (cp_stack_dict_track_prefixes) */
    bool        track;
    stack_ref_t *refs;   uint32_t cap_refs;           /* per stack id */
    pfx_ent_t  *pfx;     size_t   pfx_mask, n_pfx;    /* capacity pfx_mask + 1, or pfx NULL */
};

/* ---- hashing: 64-bit multiply-xorshift over 8-byte words, folded to 32 -- */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t hash_bytes(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
        b += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, b, len);
    h = mix64(h ^ w ^ ((uint64_t)len << 56));
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hash_frame(const cp_frame_t *f)
{
    uint64_t h = mix64(((uint64_t)f->class_id << 32) | f->method_id);
    h = mix64(h ^ (((uint64_t)f->sig_id << 32) | (uint32_t)f->line));
    h = mix64(h ^ f->kind);
    return (uint32_t)(h ^ (h >> 32));
}

static inline bool frame_eq(const cp_frame_t *a, const cp_frame_t *b)
{
    return a->class_id == b->class_id && a->method_id == b->method_id &&
           a->sig_id == b->sig_id && a->line == b->line && a->kind == b->kind;
}

/* ---- index ---------------------------------------------------------------- */

static size_t index_cap(const index_t *ix) { return ix->slots ? (size_t)ix->mask + 1 : 0; }

/* Makes room for count+1 entries at load <= 1/2. hashes[id] gives each id's
 * hash, via a stride so one helper serves all three entry layouts. */
static int index_grow(index_t *ix, uint32_t count, const void *hashes, size_t stride)
{
    size_t cap = index_cap(ix);
    if ((size_t)count + 1 <= cap / 2)
        return 0;
    size_t ncap = cap ? cap * 2 : 64;
    while ((size_t)count + 1 > ncap / 2)
        ncap *= 2;
    if (ncap > ((size_t)1 << 33))
        return CP_ENOMEM;
    uint32_t *s = cp_zalloc_written(ncap, sizeof *s);   /* probed before filled: zalloc.h */
    if (!s)
        return CP_ENOMEM;
    uint32_t mask = (uint32_t)(ncap - 1);
    const char *hp = hashes;
    for (uint32_t id = 0; id < count; id++) {
        uint32_t h;
        memcpy(&h, hp + (size_t)id * stride, sizeof h);
        uint32_t i = h & mask;
        while (s[i])
            i = (i + 1) & mask;
        s[i] = id + 1;
    }
    free(ix->slots);
    ix->slots = s;
    ix->mask = mask;
    return 0;
}

/* Generic array growth: *arr holds *cap elements of size el. */
static int grow_array(void **arr, uint32_t *cap, uint32_t need, size_t el)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? (size_t)*cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    if (ncap > MAX_ID)
        ncap = MAX_ID;
    void *p = realloc(*arr, ncap * el);
    if (!p)
        return CP_ENOMEM;
    *arr = p;
    *cap = (uint32_t)ncap;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

cp_stack_dict_t *cp_stack_dict_create(void)
{
    return calloc(1, sizeof(cp_stack_dict_t));
}

static void free_chunks(cp_stack_dict_t *d)
{
    chunk_t *c = d->chunks;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    d->chunks = NULL;
    d->chunk_bytes = 0;
}

/* Frees everything d holds (not d itself) and zeroes it. */
static void release(cp_stack_dict_t *d)
{
    free_chunks(d);
    free(d->strs);
    free(d->str_ix.slots);
    free(d->frames);
    free(d->frame_hash);
    free(d->frame_ix.slots);
    free(d->stacks);
    free(d->stack_ix.slots);
    free(d->pool);
    free(d->refs);
    free(d->pfx);
    memset(d, 0, sizeof *d);
}

void cp_stack_dict_destroy(cp_stack_dict_t *d)
{
    if (!d)
        return;
    release(d);
    free(d);
}

void cp_stack_dict_clear(cp_stack_dict_t *d)
{
    /* Release the capacity too: cp_stack_dict_memory() counts it, and a
     * dictionary cleared for being over a limit must come back under it
     * (deep stacks make the entry arrays, pool and indexes most of it). */
    bool track = d->track;
    release(d);
    d->track = track;
}

/* ---- strings -------------------------------------------------------------- */

static char *arena_alloc(cp_stack_dict_t *d, size_t n)
{
    chunk_t *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        chunk_t *nc = malloc(sizeof(chunk_t) + cap);
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        d->chunk_bytes += sizeof(chunk_t) + cap;
        if (c && cap != ARENA_CHUNK) {
            /* A big string gets its own chunk behind the current one, so
             * the current chunk's free space is not wasted. */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            d->chunks = nc;
        }
        nc->used = n;
        return nc->data;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

int cp_stack_dict_intern_string(cp_stack_dict_t *d, const char *s, size_t len, uint32_t *id)
{
    if (len > UINT32_MAX - 1 || (len && !s))
        return CP_EINVAL;
    if (!s)
        s = "";   /* memcmp/memcpy must not see NULL, even for 0 bytes */
    uint32_t h = hash_bytes(s, len, 0x5354);
    if (d->str_ix.slots) {
        uint32_t mask = d->str_ix.mask;
        for (uint32_t i = h & mask; d->str_ix.slots[i]; i = (i + 1) & mask) {
            const str_ent_t *e = &d->strs[d->str_ix.slots[i] - 1];
            if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0) {
                *id = d->str_ix.slots[i] - 1;
                return 0;
            }
        }
    }
    if (d->n_strs >= MAX_ID)
        return CP_ELIMIT;
    int rc;
    if ((rc = grow_array((void **)&d->strs, &d->cap_strs, d->n_strs + 1, sizeof(str_ent_t))) != 0)
        return rc;
    if ((rc = index_grow(&d->str_ix, d->n_strs, &d->strs[0].hash, sizeof(str_ent_t))) != 0)
        return rc;
    char *p = arena_alloc(d, len + 1);
    if (!p)
        return CP_ENOMEM;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    uint32_t nid = d->n_strs++;
    d->strs[nid] = (str_ent_t){ .s = p, .len = (uint32_t)len, .hash = h };
    uint32_t mask = d->str_ix.mask, i = h & mask;
    while (d->str_ix.slots[i])
        i = (i + 1) & mask;
    d->str_ix.slots[i] = nid + 1;
    *id = nid;
    return 0;
}

/* ---- frames --------------------------------------------------------------- */

int cp_stack_dict_intern_frame(cp_stack_dict_t *d, const cp_frame_t *f, uint32_t *id)
{
    uint32_t h = hash_frame(f);
    if (d->frame_ix.slots) {
        uint32_t mask = d->frame_ix.mask;
        for (uint32_t i = h & mask; d->frame_ix.slots[i]; i = (i + 1) & mask) {
            uint32_t cand = d->frame_ix.slots[i] - 1;
            if (d->frame_hash[cand] == h && frame_eq(&d->frames[cand], f)) {
                *id = cand;
                return 0;
            }
        }
    }
    if (d->n_frames >= MAX_ID)
        return CP_ELIMIT;
    int rc;
    uint32_t cap = d->cap_frames;
    if ((rc = grow_array((void **)&d->frames, &cap, d->n_frames + 1, sizeof(cp_frame_t))) != 0)
        return rc;
    if (cap != d->cap_frames) {
        uint32_t hcap = d->cap_frames;
        if ((rc = grow_array((void **)&d->frame_hash, &hcap, cap, sizeof(uint32_t))) != 0)
            return rc;   /* frames got bigger but cap_frames is unchanged: harmless */
        d->cap_frames = cap;
    }
    if ((rc = index_grow(&d->frame_ix, d->n_frames, d->frame_hash, sizeof(uint32_t))) != 0)
        return rc;
    uint32_t nid = d->n_frames++;
    cp_frame_t *nf = &d->frames[nid];
    memset(nf, 0, sizeof *nf);   /* no stray padding bytes */
    nf->class_id = f->class_id;
    nf->method_id = f->method_id;
    nf->sig_id = f->sig_id;
    nf->line = f->line;
    nf->kind = f->kind;
    d->frame_hash[nid] = h;
    uint32_t mask = d->frame_ix.mask, i = h & mask;
    while (d->frame_ix.slots[i])
        i = (i + 1) & mask;
    d->frame_ix.slots[i] = nid + 1;
    *id = nid;
    return 0;
}

/* ---- stack prefixes (optional) -------------------------------------------- */

int cp_stack_dict_track_prefixes(cp_stack_dict_t *d)
{
    if (d->n_stacks)
        return CP_ESTATE;
    d->track = true;
    return 0;
}

static inline uint64_t pfx_step(uint64_t h, uint32_t frame)
{
    return mix64(h ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)frame + 1)));
}

static int pfx_grow(cp_stack_dict_t *d)
{
    size_t cap = d->pfx ? d->pfx_mask + 1 : 0;
    if ((d->n_pfx + 1) * 2 <= cap)
        return 0;
    size_t ncap = cap ? cap * 2 : 1024;
    pfx_ent_t *np = cp_zalloc_written(ncap, sizeof *np);   /* probed before filled: zalloc.h */
    if (!np)
        return CP_ENOMEM;
    for (size_t i = 0; i < cap; i++) {
        if (!d->pfx[i].hash)
            continue;
        size_t j = d->pfx[i].hash & (ncap - 1);
        while (np[j].hash)
            j = (j + 1) & (ncap - 1);
        np[j] = d->pfx[i];
    }
    free(d->pfx);
    d->pfx = np;
    d->pfx_mask = ncap - 1;
    return 0;
}

/* The stack holding frames[0..len) as an indexed prefix, or -1. */
static int64_t pfx_find(const cp_stack_dict_t *d, uint64_t hash, uint32_t len, const uint32_t *frames)
{
    for (size_t i = hash & d->pfx_mask; d->pfx[i].hash; i = (i + 1) & d->pfx_mask) {
        const pfx_ent_t *e = &d->pfx[i];
        if (e->hash != hash || e->len != len)
            continue;
        const stack_ent_t *se = &d->stacks[e->stack];
        if (se->n >= len && memcmp(d->pool + se->off, frames, (size_t)len * sizeof(uint32_t)) == 0)
            return e->stack;
    }
    return -1;
}

/* Records (ref, keep) of the new stack nid and indexes its prefixes. On
 * OOM the stack simply gets keep 0 (and fewer prefixes are indexed). */
static void pfx_add(cp_stack_dict_t *d, uint32_t nid, const uint32_t *frames, uint32_t n)
{
    stack_ref_t r = {0, 0};
    uint64_t hs[64];
    uint64_t *h = n <= 64 ? hs : malloc((size_t)n * sizeof *h);
    if (grow_array((void **)&d->refs, &d->cap_refs, nid + 1, sizeof(stack_ref_t)) != 0) {
        free(h == hs ? NULL : h);
        d->track = false;     /* refs can no longer be kept for every id */
        return;
    }
    if (!h) {
        d->refs[nid] = r;
        return;
    }
    uint64_t x = 0x5354ac;
    for (uint32_t k = 0; k < n; k++)
        h[k] = (x = pfx_step(x, frames[k])) | 1;     /* never 0 (= empty slot) */
    /* The longest known prefix, by binary search on its length: every
     * prefix of an interned stack is indexed (below), so the known lengths
     * of one stack's prefixes are 0..L with no gaps, and ~log2(n) probes
     * find L where a walk down from n took up to n (each a cache miss in a
     * table of megabytes: javac's 100-frame stacks). After an OOM left
     * gaps it may find a shorter prefix: less sharing, still right. */
    for (uint32_t lo = 0, hi = d->pfx ? n : 0; lo < hi;) {
        uint32_t len = lo + (hi - lo + 1) / 2;   /* in (lo, hi] */
        int64_t st = pfx_find(d, h[len - 1], len, frames);
        if (st >= 0) {
            r = (stack_ref_t){(uint32_t)st, len};
            lo = len;
        } else {
            hi = len - 1;
        }
    }
    d->refs[nid] = r;
    /* index the prefixes longer than the shared one (the shorter ones are known) */
    for (uint32_t k = r.keep; k < n; k++) {
        if (pfx_grow(d) != 0)
            break;
        size_t i = h[k] & d->pfx_mask;
        while (d->pfx[i].hash)
            i = (i + 1) & d->pfx_mask;
        d->pfx[i] = (pfx_ent_t){h[k], nid, k + 1};
        d->n_pfx++;
    }
    if (h != hs)
        free(h);
}

void cp_stack_dict_stack_ref(const cp_stack_dict_t *d, uint32_t id, uint32_t *ref, uint32_t *keep)
{
    *ref = 0;
    *keep = 0;
    if (!d->track || id >= d->n_stacks || id >= d->cap_refs)
        return;
    *ref = d->refs[id].ref;
    *keep = d->refs[id].keep;
}

/* ---- stacks --------------------------------------------------------------- */

int cp_stack_dict_intern_stack(cp_stack_dict_t *d, const uint32_t *frames, uint32_t n, uint32_t *id)
{
    if (n && !frames)
        return CP_EINVAL;
    uint32_t h = hash_bytes(n ? (const void *)frames : "", (size_t)n * sizeof(uint32_t), 0x5354ac);
    if (d->stack_ix.slots) {
        uint32_t mask = d->stack_ix.mask;
        for (uint32_t i = h & mask; d->stack_ix.slots[i]; i = (i + 1) & mask) {
            uint32_t cand = d->stack_ix.slots[i] - 1;
            const stack_ent_t *e = &d->stacks[cand];
            if (e->hash == h && e->n == n &&
                (n == 0 || memcmp(d->pool + e->off, frames, (size_t)n * sizeof(uint32_t)) == 0)) {
                *id = cand;
                return 0;
            }
        }
    }
    if (d->n_stacks >= MAX_ID)
        return CP_ELIMIT;
    int rc;
    if ((rc = grow_array((void **)&d->stacks, &d->cap_stacks, d->n_stacks + 1, sizeof(stack_ent_t))) != 0)
        return rc;
    if ((rc = index_grow(&d->stack_ix, d->n_stacks, &d->stacks[0].hash, sizeof(stack_ent_t))) != 0)
        return rc;
    if (d->pool_cap - d->pool_len < n) {
        size_t ncap = d->pool_cap ? d->pool_cap * 2 : 1024;
        while (ncap - d->pool_len < n)
            ncap *= 2;
        /* frames may point into our own pool (a caller re-interning a
         * borrowed stack): realloc would free it, so copy via offset. */
        const uint32_t *old = d->pool;
        bool inside = n && old && frames >= old && frames < old + d->pool_len;
        size_t foff = inside ? (size_t)(frames - old) : 0;
        uint32_t *p = realloc(d->pool, ncap * sizeof(uint32_t));
        if (!p)
            return CP_ENOMEM;
        d->pool = p;
        d->pool_cap = ncap;
        if (inside)
            frames = p + foff;
    }
    if (n)
        memcpy(d->pool + d->pool_len, frames, (size_t)n * sizeof(uint32_t));
    uint32_t nid = d->n_stacks++;
    d->stacks[nid] = (stack_ent_t){ .off = d->pool_len, .n = n, .hash = h };
    d->pool_len += n;
    uint32_t mask = d->stack_ix.mask, i = h & mask;
    while (d->stack_ix.slots[i])
        i = (i + 1) & mask;
    d->stack_ix.slots[i] = nid + 1;
    if (d->track)
        pfx_add(d, nid, d->pool + d->stacks[nid].off, n);
    *id = nid;
    return 0;
}

/* ---- lookups -------------------------------------------------------------- */

const char *cp_stack_dict_string(const cp_stack_dict_t *d, uint32_t id, size_t *len)
{
    if (id >= d->n_strs)
        return NULL;
    if (len)
        *len = d->strs[id].len;
    return d->strs[id].s;
}

const cp_frame_t *cp_stack_dict_frame(const cp_stack_dict_t *d, uint32_t id)
{
    return id < d->n_frames ? &d->frames[id] : NULL;
}

const uint32_t *cp_stack_dict_stack(const cp_stack_dict_t *d, uint32_t id, uint32_t *n)
{
    if (id >= d->n_stacks) {
        if (n)
            *n = 0;
        return NULL;
    }
    const stack_ent_t *e = &d->stacks[id];
    if (n)
        *n = e->n;
    /* The empty stack has no frames but is a valid id: return a non-NULL
     * pointer so callers can tell it from an unknown id. */
    static const uint32_t empty[1] = {0};
    return e->n ? d->pool + e->off : empty;
}

uint32_t cp_stack_dict_strings(const cp_stack_dict_t *d) { return d->n_strs; }
uint32_t cp_stack_dict_frames(const cp_stack_dict_t *d)  { return d->n_frames; }
uint32_t cp_stack_dict_stacks(const cp_stack_dict_t *d)  { return d->n_stacks; }

size_t cp_stack_dict_memory(const cp_stack_dict_t *d)
{
    return sizeof *d + d->chunk_bytes +
           (size_t)d->cap_strs * sizeof(str_ent_t) +
           (size_t)d->cap_frames * (sizeof(cp_frame_t) + sizeof(uint32_t)) +
           (size_t)d->cap_stacks * sizeof(stack_ent_t) +
           d->pool_cap * sizeof(uint32_t) +
           (index_cap(&d->str_ix) + index_cap(&d->frame_ix) + index_cap(&d->stack_ix)) * sizeof(uint32_t) +
           (size_t)d->cap_refs * sizeof(stack_ref_t) + (d->pfx ? (d->pfx_mask + 1) * sizeof(pfx_ent_t) : 0);
}

int cp_stack_dict_copy_stack(cp_stack_dict_t *dst, const cp_stack_dict_t *src, uint32_t id, uint32_t *out)
{
    uint32_t n = 0;
    const uint32_t *fs = cp_stack_dict_stack(src, id, &n);
    if (!fs || dst == src)
        return CP_EINVAL;
    uint32_t small[256], *ids = n <= 256 ? small : malloc((size_t)n * sizeof *ids);
    if (!ids)
        return CP_ENOMEM;
    int rc = 0;
    for (uint32_t k = 0; k < n && rc == 0; k++) {
        const cp_frame_t *f = cp_stack_dict_frame(src, fs[k]);
        if (!f) {
            rc = CP_EINVAL;
            break;
        }
        cp_frame_t g = *f;
        const uint32_t sids[3] = {f->class_id, f->method_id, f->sig_id};
        uint32_t *dids[3] = {&g.class_id, &g.method_id, &g.sig_id};
        for (int j = 0; j < 3 && rc == 0; j++) {
            size_t len = 0;
            const char *s = cp_stack_dict_string(src, sids[j], &len);
            rc = s ? cp_stack_dict_intern_string(dst, s, len, dids[j]) : CP_EINVAL;
        }
        if (rc == 0)
            rc = cp_stack_dict_intern_frame(dst, &g, &ids[k]);
    }
    if (rc == 0)
        rc = cp_stack_dict_intern_stack(dst, ids, n, out);
    if (ids != small)
        free(ids);
    return rc;
}
