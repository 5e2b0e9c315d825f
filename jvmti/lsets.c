/* lsets.c - the agent's label-set table (see lsets.h).
 *
 * Storage: sets[id] points to one malloc'd block holding the pairs and
 * their strings; a block never moves or changes once published, which is
 * why cp_lsets_get can hand out pointers without the lock held. The
 * pointer array grows (realloc) under mu; readers copy the block pointer
 * under mu. An open-addressing index of (hash -> id) finds equal content.
 *
 * Thread: any non-signal thread; one mutex (mu) around everything. */
#include "lsets.h"

#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct lset {
    uint32_t n;
    uint64_t hash;
    cp_kv_t  kv[];          /* then the strings */
} lset_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static lset_t **sets;           /* mu; sets[0] = NULL (the empty set) */
static uint32_t n_sets = 1, cap_sets;
static uint32_t *index_ids;     /* mu; open addressing, 0 = empty slot */
static uint32_t index_cap;

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static size_t cut_len(const char *s)
{
    size_t n = strnlen(s, CP_LSETS_MAX_LEN);
    /* do not cut a UTF-8 sequence in half */
    while (n == CP_LSETS_MAX_LEN && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const cp_kv_t *)a)->key, ((const cp_kv_t *)b)->key);
}

/* Canonical pairs of kv into out (pointers into the input). Returns count. */
static uint32_t canon(const cp_kv_t *kv, uint32_t n, cp_kv_t *out)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].key[0])
            continue;
        uint32_t j = 0;
        while (j < m && strcmp(out[j].key, kv[i].key) != 0)
            j++;
        if (j < m)
            out[j].value = kv[i].value;     /* last value wins (NULL: absent) */
        else if (m < CP_LSETS_MAX_PAIRS * 4)
            out[m++] = kv[i];
    }
    uint32_t o = 0;
    for (uint32_t i = 0; i < m; i++)
        if (out[i].value)
            out[o++] = out[i];
    qsort(out, o, sizeof *out, cmp_kv);
    return o > CP_LSETS_MAX_PAIRS ? CP_LSETS_MAX_PAIRS : o;
}

static uint64_t hash_of(const cp_kv_t *kv, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < n; i++) {
        h = fnv(h, kv[i].key, cut_len(kv[i].key));
        h = fnv(h, "=", 1);
        h = fnv(h, kv[i].value, cut_len(kv[i].value));
        h = fnv(h, ",", 1);
    }
    return h;
}

static int same(const lset_t *s, const cp_kv_t *kv, uint32_t n)
{
    if (s->n != n)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t kl = cut_len(kv[i].key), vl = cut_len(kv[i].value);
        if (strlen(s->kv[i].key) != kl || memcmp(s->kv[i].key, kv[i].key, kl) ||
            strlen(s->kv[i].value) != vl || memcmp(s->kv[i].value, kv[i].value, vl))
            return 0;
    }
    return 1;
}

/* mu held: index sized for n_sets + 1 at load <= 1/2. */
static int index_grow(void)
{
    if (index_cap && (uint64_t)(n_sets + 1) * 2 <= index_cap)
        return 0;
    uint32_t nc = index_cap ? index_cap * 2 : 256;
    uint32_t *ni = calloc(nc, sizeof *ni);
    if (!ni)
        return -1;
    for (uint32_t id = 1; id < n_sets; id++) {
        uint32_t i = (uint32_t)sets[id]->hash & (nc - 1);
        while (ni[i])
            i = (i + 1) & (nc - 1);
        ni[i] = id;
    }
    free(index_ids);
    index_ids = ni;
    index_cap = nc;
    return 0;
}

static lset_t *make(const cp_kv_t *kv, uint32_t n, uint64_t hash)
{
    size_t bytes = sizeof(lset_t) + n * sizeof(cp_kv_t);
    for (uint32_t i = 0; i < n; i++)
        bytes += cut_len(kv[i].key) + cut_len(kv[i].value) + 2;
    lset_t *s = malloc(bytes);
    if (!s)
        return NULL;
    s->n = n;
    s->hash = hash;
    char *p = (char *)&s->kv[n];
    for (uint32_t i = 0; i < n; i++) {
        size_t kl = cut_len(kv[i].key), vl = cut_len(kv[i].value);
        memcpy(p, kv[i].key, kl);
        p[kl] = '\0';
        s->kv[i].key = p;
        p += kl + 1;
        memcpy(p, kv[i].value, vl);
        p[vl] = '\0';
        s->kv[i].value = p;
        p += vl + 1;
    }
    return s;
}

int32_t cp_lsets_intern(const cp_kv_t *kv, uint32_t n)
{
    cp_kv_t tmp[CP_LSETS_MAX_PAIRS * 4];
    if (!kv)
        n = 0;
    /* more input pairs than canon() looks at are cut before sorting */
    if (n > CP_LSETS_MAX_PAIRS * 4)
        n = CP_LSETS_MAX_PAIRS * 4;
    uint32_t m = canon(kv, n, tmp);
    if (m == 0)
        return 0;
    uint64_t h = hash_of(tmp, m);
    int32_t id = -1;
    pthread_mutex_lock(&mu);
    if (index_cap) {
        for (uint32_t i = (uint32_t)h & (index_cap - 1); index_ids[i]; i = (i + 1) & (index_cap - 1)) {
            const lset_t *s = sets[index_ids[i]];
            if (s->hash == h && same(s, tmp, m)) {
                id = (int32_t)index_ids[i];
                goto out;
            }
        }
    }
    if (n_sets > CP_LSETS_MAX || index_grow() != 0)
        goto full;
    if (n_sets == cap_sets || !sets) {
        uint32_t nc = cap_sets ? cap_sets * 2 : 64;
        lset_t **ns = realloc(sets, nc * sizeof *ns);
        if (!ns)
            goto full;
        if (!sets)
            ns[0] = NULL;
        sets = ns;
        cap_sets = nc;
    }
    lset_t *s = make(tmp, m, h);
    if (!s)
        goto full;
    id = (int32_t)n_sets;
    sets[n_sets++] = s;
    uint32_t i = (uint32_t)h & (index_cap - 1);
    while (index_ids[i])
        i = (i + 1) & (index_cap - 1);
    index_ids[i] = (uint32_t)id;
    goto out;
full:
    cp_stats_add(CP_ST_CONTEXT_OVERFLOW, 1);
out:
    pthread_mutex_unlock(&mu);
    return id;
}

const cp_kv_t *cp_lsets_get(uint32_t id, uint32_t *n)
{
    const lset_t *s = NULL;
    pthread_mutex_lock(&mu);
    if (id > 0 && id < n_sets)
        s = sets[id];
    pthread_mutex_unlock(&mu);
    *n = s ? s->n : 0;
    return s ? s->kv : NULL;
}

uint32_t cp_lsets_count(void)
{
    pthread_mutex_lock(&mu);
    uint32_t n = n_sets;
    pthread_mutex_unlock(&mu);
    return n;
}
