/* rutil.h - small helpers private to the relay: LEB128 varints, an
 * open-addressing hash map from uint64 keys to uint32 values, growable
 * uint32/uint64 vectors, and a string -> index map.
 *
 * All header-only (static inline), no global state; each map/vector is owned
 * by one thread at a time. Allocation failure exits through cp__xrealloc
 * (the relay may exit on OOM, see STYLE.md section 2). */
#ifndef CP_RELAY_RUTIL_H
#define CP_RELAY_RUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *cp__xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "cprof relay: out of memory (%zu bytes)\n", n);
        exit(70);
    }
    return q;
}
static inline void *cp__xcalloc(size_t n, size_t sz)
{
    void *q = calloc(n ? n : 1, sz ? sz : 1);
    if (!q) {
        fprintf(stderr, "cprof relay: out of memory\n");
        exit(70);
    }
    return q;
}
static inline char *cp__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cp__xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

/* ---- varints (unsigned LEB128) ---- */
static inline size_t cp__uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}
/* Returns bytes read, 0 on truncation/overflow. */
static inline size_t cp__uvarint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* ---- vectors ---- */
typedef struct { uint32_t *v; size_t n, cap; } cp__vu32_t;
typedef struct { uint64_t *v; size_t n, cap; } cp__vu64_t;

static inline void cp__vu32_push(cp__vu32_t *a, uint32_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = cp__xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}
static inline void cp__vu64_push(cp__vu64_t *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = cp__xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

/* ---- u64 -> u32 hash map (open addressing, linear probing) ---- */
typedef struct {
    uint64_t *keys;
    uint32_t *vals;
    uint8_t  *used;
    size_t    n, cap;   /* cap is a power of two */
} cp__hmap_t;

static inline uint64_t cp__hash64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
static inline void cp__hmap_free(cp__hmap_t *m)
{
    free(m->keys); free(m->vals); free(m->used);
    memset(m, 0, sizeof *m);
}
static inline uint32_t *cp__hmap_slot(cp__hmap_t *m, uint64_t k, int create);
static inline void cp__hmap_grow(cp__hmap_t *m)
{
    cp__hmap_t o = *m;
    m->cap = o.cap ? o.cap * 2 : 64;
    m->n = 0;
    m->keys = cp__xcalloc(m->cap, sizeof *m->keys);
    m->vals = cp__xcalloc(m->cap, sizeof *m->vals);
    m->used = cp__xcalloc(m->cap, 1);
    for (size_t i = 0; i < o.cap; i++)
        if (o.used[i])
            *cp__hmap_slot(m, o.keys[i], 1) = o.vals[i];
    free(o.keys); free(o.vals); free(o.used);
}
/* Returns the value slot for k; with create, inserts k (value 0) if absent;
 * without, returns NULL if absent. */
static inline uint32_t *cp__hmap_slot(cp__hmap_t *m, uint64_t k, int create)
{
    if (!m->cap) {
        if (!create)
            return NULL;
        cp__hmap_grow(m);
    }
    if (create && (m->n + 1) * 4 > m->cap * 3)
        cp__hmap_grow(m);
    size_t mask = m->cap - 1, i = cp__hash64(k) & mask;
    while (m->used[i]) {
        if (m->keys[i] == k)
            return &m->vals[i];
        i = (i + 1) & mask;
    }
    if (!create)
        return NULL;
    m->used[i] = 1;
    m->keys[i] = k;
    m->vals[i] = 0;
    m->n++;
    return &m->vals[i];
}

/* Removes k if present (backward-shift deletion keeps probe chains intact,
 * so long-running maps do not fill with tombstones). */
static inline void cp__hmap_del(cp__hmap_t *m, uint64_t k)
{
    if (!m->cap)
        return;
    size_t mask = m->cap - 1, i = cp__hash64(k) & mask;
    while (m->used[i] && m->keys[i] != k)
        i = (i + 1) & mask;
    if (!m->used[i])
        return;
    m->used[i] = 0;
    m->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->used[j])
            break;
        size_t home = cp__hash64(m->keys[j]) & mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            m->used[i] = 1;
            m->used[j] = 0;
            i = j;
        }
    }
}

/* FNV-1a over bytes, for string maps. */
static inline uint64_t cp__hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
