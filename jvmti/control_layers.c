/* control_layers.c - relay settings layered over the agent's own options,
 * with the end time of each change. See control_layers.h.
 *
 * Invariant: changes[0..n_changes) are in arrival order; ids are unique
 * among them (a repeated id replaces in place). Thread: caller's lock. */
#include "control_layers.h"

#include <stdio.h>
#include <string.h>

void cp_ctl_layers_init(cp_ctl_layers_t *l)
{
    memset(l, 0, sizeof *l);
}

static uint32_t copy_kv(cp_ctl_kv_t *dst, const char *const *keys, const char *const *values, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n && k < CP_CTL_MAX_KV; i++) {
        if (!keys[i] || !values[i])
            continue;
        snprintf(dst[k].key, sizeof dst[k].key, "%s", keys[i]);
        snprintf(dst[k].value, sizeof dst[k].value, "%s", values[i]);
        k++;
    }
    return k;
}

void cp_ctl_layers_set_defaults(cp_ctl_layers_t *l, const char *const *keys, const char *const *values,
                                uint32_t n)
{
    l->n_defaults = copy_kv(l->defaults, keys, values, n);
}

static void drop_at(cp_ctl_layers_t *l, uint32_t i)
{
    memmove(&l->changes[i], &l->changes[i + 1], (l->n_changes - i - 1) * sizeof l->changes[0]);
    l->n_changes--;
}

int cp_ctl_layers_add(cp_ctl_layers_t *l, const char *id, const char *const *keys, const char *const *values,
                      uint32_t n, uint64_t until_ms, char *ended)
{
    int rc = 0;
    id = id ? id : "";
    cp_ctl_change_t *c = NULL;
    for (uint32_t i = 0; i < l->n_changes; i++)
        if (!strcmp(l->changes[i].id, id))
            c = &l->changes[i];
    if (!c) {
        if (l->n_changes == CP_CTL_MAX_CHANGES) {
            if (ended)
                snprintf(ended, CP_CTL_ID_MAX, "%s", l->changes[0].id);
            drop_at(l, 0);
            rc = 1;
        }
        c = &l->changes[l->n_changes++];
    }
    if (!*id && c->id[0] == 0 && c->n) {
        /* the anonymous change (a configure without id, as older relays
         * send): options add up, a key given again takes the new value */
        cp_ctl_kv_t add[CP_CTL_MAX_KV];
        uint32_t na = copy_kv(add, keys, values, n);
        for (uint32_t i = 0; i < na; i++) {
            uint32_t j = 0;
            while (j < c->n && strcmp(c->kv[j].key, add[i].key))
                j++;
            if (j == c->n && c->n < CP_CTL_MAX_KV)
                c->n++;
            if (j < c->n)
                c->kv[j] = add[i];
        }
        c->until_ms = until_ms;
        return rc;
    }
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->n = copy_kv(c->kv, keys, values, n);
    c->until_ms = until_ms;
    return rc;
}

uint32_t cp_ctl_layers_remove(cp_ctl_layers_t *l, const char *id)
{
    uint32_t n = 0;
    for (uint32_t i = l->n_changes; i-- > 0;)
        if (!id || !*id || !strcmp(l->changes[i].id, id)) {
            drop_at(l, i);
            n++;
        }
    return n;
}

uint32_t cp_ctl_layers_expire(cp_ctl_layers_t *l, uint64_t now_ms, char ids[][CP_CTL_ID_MAX], uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->n_changes;) {
        const cp_ctl_change_t *c = &l->changes[i];
        if (c->until_ms && c->until_ms <= now_ms) {
            if (n < max)
                snprintf(ids[n], CP_CTL_ID_MAX, "%s", c->id);
            n++;
            drop_at(l, i);
        } else {
            i++;
        }
    }
    return n;
}

uint64_t cp_ctl_layers_next_end(const cp_ctl_layers_t *l)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < l->n_changes; i++)
        if (l->changes[i].until_ms && (!t || l->changes[i].until_ms < t))
            t = l->changes[i].until_ms;
    return t;
}

static void apply_kv(cp_options_t *o, const cp_ctl_kv_t *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        cp_control_set(o, kv[i].key, kv[i].value, NULL, NULL);
}

void cp_ctl_layers_apply(const cp_ctl_layers_t *l, const cp_options_t *base, cp_options_t *out)
{
    *out = *base;
    apply_kv(out, l->defaults, l->n_defaults);
    for (uint32_t i = 0; i < l->n_changes; i++)
        apply_kv(out, l->changes[i].kv, l->changes[i].n);
}
