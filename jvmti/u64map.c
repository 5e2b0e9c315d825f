/* u64map.c - open-addressing uint64 -> uint64 map. See u64map.h. */
#include "u64map.h"

#include "error.h"
#include "zalloc.h"

#include <stdlib.h>
#include <string.h>


static int map_grow(cp_u64map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    uint64_t *nk = cp_zalloc_written(ncap, sizeof *nk), *nv = malloc(ncap * sizeof *nv);   /* zalloc.h; vals read only where a key is */
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return CP_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = cp_u64map_mix(m->keys[i]) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

uint64_t *cp_u64map_slot(cp_u64map_t *m, uint64_t key, bool *created)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m))
        return NULL;
    uint64_t k = key + 1;
    size_t j = cp_u64map_mix(k) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != k)
        j = (j + 1) & (m->cap - 1);
    *created = !m->keys[j];
    if (*created) {
        m->keys[j] = k;
        m->vals[j] = 0;
        m->n++;
    }
    return &m->vals[j];
}

uint64_t *cp_u64map_find(const cp_u64map_t *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    uint64_t k = key + 1;
    size_t j = cp_u64map_mix(k) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == k)
            return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void cp_u64map_clear(cp_u64map_t *m)
{
    if (m->cap) {
        memset(m->keys, 0, m->cap * sizeof *m->keys);
    }
    m->n = 0;
}

void cp_u64map_free(cp_u64map_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}
