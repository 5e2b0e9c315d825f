/* harvest_ctx.c - labelled parts and trace entries of the harvester's
 * window (see harvest_ctx.h).
 *
 * Two arrays of entries with a u64map index each: parts keyed by
 * (stack << 19 | label set << 3 | type) exactly (label-set ids fit 16
 * bits, types 3); trace entries by a 64-bit hash of their fields, checked
 * against the entry (a colliding different entry is appended unindexed,
 * so values are never merged wrongly).
 *
 * Thread: the harvester only. */
#include "harvest_ctx.h"

#include "harvest.h"
#include "lsets.h"
#include "stats.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

static cp_u64map_t lindex;          /* part key -> index + 1 */
static cp_wire_lvalue_t *lparts;
static uint32_t n_lparts, cap_lparts;
static cp_u64map_t tindex;          /* entry hash -> index + 1 */
static cp_wire_trace_t *tents;
static uint32_t n_tents, cap_tents;

_Static_assert(CP_LSETS_MAX < (1u << 16), "label-set ids must fit 16 bits of the part key");
_Static_assert(CP_TYPE__COUNT <= 8, "types must fit 3 bits of the part key");

static int grow(void **a, uint32_t *cap, size_t el)
{
    uint32_t nc = *cap ? *cap * 2 : 256;
    void *na = realloc(*a, (size_t)nc * el);
    if (!na)
        return -1;
    *a = na;
    *cap = nc;
    return 0;
}

static void add_part(uint32_t stack, uint32_t type, uint32_t lset, uint64_t v)
{
    uint64_t key = ((uint64_t)stack << 19) | ((uint64_t)lset << 3) | type;
    uint64_t *hit = cp_u64map_find(&lindex, key);
    if (hit) {
        lparts[*hit - 1].value += v;
        return;
    }
    if (n_lparts >= CP__HCTX_MAX_LVALUES || (n_lparts == cap_lparts && grow((void **)&lparts, &cap_lparts, sizeof *lparts))) {
        cp_stats_add(CP_ST_DROP_LABELS, 1);
        return;
    }
    bool created;
    uint64_t *slot = cp_u64map_slot(&lindex, key, &created);
    if (!slot) {
        cp_stats_add(CP_ST_DROP_LABELS, 1);
        return;
    }
    lparts[n_lparts] = (cp_wire_lvalue_t){stack, type, lset - 1, v};   /* wire id = agent id - 1 */
    *slot = ++n_lparts;
}

static void add_trace(const cp_context_t *c, uint32_t thread, uint32_t stack, uint32_t type, uint64_t v)
{
    uint64_t h = cp_u64map_mix(c->trace_hi ^ cp_u64map_mix(c->trace_lo ^ cp_u64map_mix(c->span)));
    h = cp_u64map_mix(h ^ (((uint64_t)stack << 32) | ((uint64_t)thread << 3) | type));
    if (h == UINT64_MAX)
        h = 0;
    uint64_t *hit = cp_u64map_find(&tindex, h);
    if (hit) {
        cp_wire_trace_t *t = &tents[*hit - 1];
        if (t->trace_hi == c->trace_hi && t->trace_lo == c->trace_lo && t->span == c->span &&
            t->thread == thread && t->stack == stack && t->type == type) {
            t->value += v;
            return;
        }
    }
    if (n_tents >= CP__HCTX_MAX_TRACES || (n_tents == cap_tents && grow((void **)&tents, &cap_tents, sizeof *tents))) {
        cp_stats_add(CP_ST_DROP_TRACE, 1);
        return;
    }
    tents[n_tents] = (cp_wire_trace_t){c->trace_hi, c->trace_lo, c->span, thread, stack, type, v};
    n_tents++;
    if (!hit) {
        bool created;
        uint64_t *slot = cp_u64map_slot(&tindex, h, &created);
        if (slot)
            *slot = n_tents;
    }
}

void cp__hctx_add(uint32_t stack, uint32_t type, uint64_t v, const cp_context_t *ctx, uint32_t thread)
{
    if (!v)
        return;
    if (ctx->labels && ctx->labels <= CP_LSETS_MAX)
        add_part(stack, type, ctx->labels, v);
    if (ctx->trace_hi | ctx->trace_lo)
        add_trace(ctx, thread, stack, type, v);
}

/* As close_window rounds totals: ns values to the us, at least 1 us. */
static uint64_t round_value(uint32_t type, uint64_t v)
{
    if (type < CP_TYPE__COUNT && !strcmp(cp_harvest_types[type].unit, "ns"))
        return v < 1000 ? 1000 : (v + 500) / 1000 * 1000;
    return v;
}

void cp__hctx_take(cp_pending_t *p)
{
    for (uint32_t i = 0; i < n_lparts; i++)
        lparts[i].value = round_value(lparts[i].type, lparts[i].value);
    for (uint32_t i = 0; i < n_tents; i++)
        tents[i].value = round_value(tents[i].type, tents[i].value);
    /* hand the arrays over; the next window starts new ones */
    p->lvalues = n_lparts ? lparts : NULL;
    p->n_lvalues = n_lparts;
    if (!n_lparts)
        free(lparts);
    p->traces = n_tents ? tents : NULL;
    p->n_traces = n_tents;
    if (!n_tents)
        free(tents);
    lparts = NULL;
    tents = NULL;
    n_lparts = cap_lparts = n_tents = cap_tents = 0;
    cp_u64map_clear(&lindex);
    cp_u64map_clear(&tindex);
}

void cp__hctx_remap(cp_pending_t *p, const cp_u64map_t *remap, const cp_stack_dict_t *od, cp_stack_dict_t *nd)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < p->n_lvalues; i++) {
        uint64_t *slot = cp_u64map_find(remap, p->lvalues[i].stack);
        if (slot && *slot) {
            p->lvalues[i].stack = (uint32_t)(*slot - 1);
            p->lvalues[kept++] = p->lvalues[i];
        }
    }
    p->n_lvalues = kept;
    kept = 0;
    for (uint32_t i = 0; i < p->n_traces; i++) {
        uint64_t *slot = cp_u64map_find(remap, p->traces[i].stack);
        size_t len = 0;
        const char *th = cp_stack_dict_string(od, p->traces[i].thread, &len);
        uint32_t nth;
        if (slot && *slot && th && cp_stack_dict_intern_string(nd, th, len, &nth) == 0) {
            p->traces[i].stack = (uint32_t)(*slot - 1);
            p->traces[i].thread = nth;
            p->traces[kept++] = p->traces[i];
        }
    }
    p->n_traces = kept;
}
