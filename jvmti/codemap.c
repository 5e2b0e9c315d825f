/* codemap.c - compiled/inlined/interpreted classification. See codemap.h.
 *
 * Set: open addressing over uint64 hashes (0 = empty), grown by doubling up
 * to 2 * CP_CODEMAP_MAX slots, under map_mu. */
#include "codemap.h"

#include "stack_dict.h"

#include <jvmticmlr.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 32   /* deeper inline chains are not matched (rare) */

static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *slots;
static size_t cap, count;
static uint64_t dropped;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t step(uint64_t h, jmethodID m, jint bci)
{
    return mix(h ^ mix((uint64_t)(uintptr_t)m * 31 + (uint64_t)(uint32_t)bci));
}

/* map_mu held */
static int grow(void)
{
    size_t ncap = cap ? cap * 2 : 4096;
    uint64_t *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < cap; i++) {
        if (!slots[i])
            continue;
        size_t j = slots[i] & (ncap - 1);
        while (n[j])
            j = (j + 1) & (ncap - 1);
        n[j] = slots[i];
    }
    free(slots);
    slots = n;
    cap = ncap;
    return 0;
}

/* map_mu held */
static void insert(uint64_t h)
{
    if (!h)
        h = 1;
    if (count >= CP_CODEMAP_MAX || ((count + 1) * 2 > cap && grow())) {
        dropped++;
        return;
    }
    size_t j = h & (cap - 1);
    while (slots[j]) {
        if (slots[j] == h)
            return;
        j = (j + 1) & (cap - 1);
    }
    slots[j] = h;
    count++;
}

/* map_mu held */
static int contains(uint64_t h)
{
    if (!h)
        h = 1;
    if (!cap)
        return 0;
    size_t j = h & (cap - 1);
    while (slots[j]) {
        if (slots[j] == h)
            return 1;
        j = (j + 1) & (cap - 1);
    }
    return 0;
}

void cp_codemap_add(const void *compile_info)
{
    const jvmtiCompiledMethodLoadRecordHeader *r = compile_info;
    pthread_mutex_lock(&map_mu);
    for (; r; r = r->next) {
        if (r->kind != JVMTI_CMLR_INLINE_INFO)
            continue;
        const jvmtiCompiledMethodLoadInlineRecord *ir = (const void *)r;
        for (jint p = 0; p < ir->numpcs; p++) {
            const PCStackInfo *pc = &ir->pcinfo[p];
            if (pc->numstackframes <= 0 || pc->numstackframes > MAX_CHAIN || !pc->methods || !pc->bcis)
                continue;
            uint64_t h = 0x9e3779b97f4a7c15ULL;
            for (jint k = 0; k < pc->numstackframes; k++)
                h = step(h, pc->methods[k], pc->bcis[k]);
            insert(h);
        }
    }
    pthread_mutex_unlock(&map_mu);
}

static atomic_bool active;

void cp_codemap_set_active(bool on)
{
    atomic_store(&active, on);
}

void cp_codemap_classify(const cp_ring_frame_t *f, int n, uint8_t *kinds)
{
    if (!atomic_load(&active)) {
        for (int i = 0; i < n; i++)
            kinds[i] = f[i].lineno == -3 ? CP_FRAME_NATIVE : CP_FRAME_JAVA;
        return;
    }
    pthread_mutex_lock(&map_mu);
    int i = 0;
    while (i < n) {
        if (f[i].lineno == -3) {          /* native method */
            kinds[i++] = CP_FRAME_NATIVE;
            continue;
        }
        int best = 0;
        uint64_t h = 0x9e3779b97f4a7c15ULL;
        for (int l = 1; l <= MAX_CHAIN && i + l <= n; l++) {
            const cp_ring_frame_t *fr = &f[i + l - 1];
            if (fr->lineno == -3)
                break;
            h = step(h, fr->method, fr->lineno);
            if (contains(h))
                best = l;
        }
        if (!best) {
            kinds[i++] = CP_FRAME_INTERPRETED;
            continue;
        }
        for (int k = 0; k < best - 1; k++)
            kinds[i + k] = CP_FRAME_INLINED;
        kinds[i + best - 1] = CP_FRAME_COMPILED;
        i += best;
    }
    pthread_mutex_unlock(&map_mu);
}

void cp_codemap_stats(uint64_t *chains, uint64_t *drops)
{
    pthread_mutex_lock(&map_mu);
    *chains = count;
    *drops = dropped;
    pthread_mutex_unlock(&map_mu);
}
