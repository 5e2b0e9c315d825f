/* store_blob.c - the window blob codec (layout in store_blob.h).
 *
 * Functions over caller-owned buffers; any thread (the merge's scratch is
 * per thread). Invariant of every encoded blob: stack ids strictly
 * increasing, divisor >= 1 divides every value, so decoding reproduces the
 * merged pairs exactly.
 *
 * Merging equal stacks is the writer's hottest loop (every window, and
 * every rollup bucket over thousands of pairs): stack ids are dense per
 * app, so pairs are summed into a scratch array indexed by id and read back
 * in id order, without sorting; only ids far sparser than the pairs (or
 * past DENSE_MAX) are sorted. */
#include "store_blob.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rutil.h"

void cp_store_blob_pairs_add(cp_store_blob_pairs_t *p, uint64_t stack, uint64_t value)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = cp__xrealloc(p->v, p->cap * 2 * sizeof *p->v);
    }
    p->v[2 * p->n] = stack;
    p->v[2 * p->n + 1] = value;
    p->n++;
}

void cp_store_blob_pairs_fini(cp_store_blob_pairs_t *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

static int cmp_pair(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define DENSE_MAX (1u << 18)   /* ids past this: sort (scratch <= 3 MB per thread) */

static __thread struct { uint64_t *acc; uint32_t *gen; size_t cap; uint32_t cur; } scr;

/* Merges p's pairs in id order through the scratch; false (p untouched)
 * when its ids are too sparse or too large for it. */
static bool merge_dense(cp_store_blob_pairs_t *p)
{
    uint64_t max = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[2 * i] > max)
            max = p->v[2 * i];
    if (max >= DENSE_MAX || max > 16 * (uint64_t)p->n + 4096)
        return false;
    if (max + 1 > scr.cap) {
        size_t cap = scr.cap ? scr.cap : 4096;
        while (cap < max + 1)
            cap *= 2;
        free(scr.gen);
        scr.acc = cp__xrealloc(scr.acc, cap * sizeof *scr.acc);
        scr.gen = cp__xcalloc(cap, sizeof *scr.gen);
        scr.cap = cap;
        scr.cur = 0;
    }
    if (++scr.cur == 0) {   /* generations wrapped: start over */
        memset(scr.gen, 0, scr.cap * sizeof *scr.gen);
        scr.cur = 1;
    }
    for (size_t i = 0; i < p->n; i++) {
        uint64_t id = p->v[2 * i];
        if (scr.gen[id] != scr.cur) {
            scr.gen[id] = scr.cur;
            scr.acc[id] = 0;
        }
        scr.acc[id] += p->v[2 * i + 1];
    }
    size_t m = 0;
    for (uint64_t id = 0; id <= max; id++)
        if (scr.gen[id] == scr.cur) {
            p->v[2 * m] = id;
            p->v[2 * m + 1] = scr.acc[id];
            m++;
        }
    p->n = m;
    return true;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint64_t cp_store_blob_encode(cp_store_blob_pairs_t *p, cp_buf_t *out)
{
    uint64_t total = 0, prev = 0, d = 0;
    out->len = 0;
    if (!p->n)
        return 0;
    if (!merge_dense(p)) {
        qsort(p->v, p->n, 2 * sizeof *p->v, cmp_pair);
        size_t m = 0;   /* merge equal stacks in place */
        for (size_t i = 0; i < p->n;) {
            uint64_t st = p->v[2 * i], val = 0;
            while (i < p->n && p->v[2 * i] == st)
                val += p->v[2 * i + 1], i++;
            p->v[2 * m] = st;
            p->v[2 * m + 1] = val;
            m++;
        }
        p->n = m;
    }
    for (size_t i = 0; i < p->n; i++) {
        d = gcd64(p->v[2 * i + 1], d);
        total += p->v[2 * i + 1];
    }
    if (!d)
        d = 1;
    cp_buf_reserve(out, p->n * 20 + 10);
    out->len += cp__uvarint_put(out->data + out->len, d);
    for (size_t i = 0; i < p->n; i++) {
        out->len += cp__uvarint_put(out->data + out->len, p->v[2 * i] - prev);
        out->len += cp__uvarint_put(out->data + out->len, p->v[2 * i + 1] / d);
        prev = p->v[2 * i];
    }
    return total;
}

bool cp_store_blob_each(const uint8_t *p, size_t n, void (*add)(void *, uint64_t, uint64_t), void *ud)
{
    uint64_t s = 0, d;
    size_t i = 0;
    if (!n)
        return true;
    if (!(i = cp__uvarint_get(p, n, &d)) || !d)
        return false;
    while (i < n) {
        uint64_t delta, v;
        size_t k = cp__uvarint_get(p + i, n - i, &delta);
        if (!k)
            return false;
        i += k;
        k = cp__uvarint_get(p + i, n - i, &v);
        if (!k)
            return false;
        i += k;
        s += delta;
        add(ud, s, v * d);
    }
    return true;
}

void cp_store_blob_add_to_pairs(void *pairs, uint64_t stack, uint64_t value)
{
    cp_store_blob_pairs_add(pairs, stack, value);
}

void cp_store_blob_acc_add(void *ud, uint64_t s, uint64_t v)
{
    cp_store_blob_acc_t *a = ud;
    if (s >= a->n) {
        size_t nn = s + 1 > a->n * 2 ? s + 1 : a->n * 2;
        a->v = cp__xrealloc(a->v, nn * sizeof *a->v);
        memset(a->v + a->n, 0, (nn - a->n) * sizeof *a->v);
        a->n = nn;
    }
    a->v[s] += v;
}

void cp_store_frames_encode(const uint32_t *frames, uint32_t n, cp_buf_t *out)
{
    cp_buf_reset(out);
    cp_buf_reserve(out, (size_t)n * 5 + 1);
    for (uint32_t k = 0; k < n; k++)
        out->len += cp__uvarint_put(out->data + out->len, frames[k]);
}

void cp_store_frames_decode(const uint8_t *p, size_t n, cp__vu32_t *out)
{
    size_t i = 0;
    while (i < n) {
        uint64_t v;
        size_t k = cp__uvarint_get(p + i, n - i, &v);
        if (!k)
            break;
        i += k;
        cp__vu32_push(out, (uint32_t)v);
    }
}
