/* insights_fixture.c - synthetic profiles for the insights tests (see
 * insights_fixture.h). */
#include "insights_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_dict.h"

static uint8_t kind_of(const char *n)
{
    if (!strncmp(n, "[alloc] ", 8))
        return CP_FRAME_ALLOC;
    if (!strncmp(n, "[lock] ", 7))
        return CP_FRAME_LOCK;
    if (!strncmp(n, "[unknown", 8) || !strcmp(n, "[truncated]") || !strncmp(n, "[not_walkable", 13))
        return CP_FRAME_ERROR;
    if (n[0] == '[')
        return CP_FRAME_THREAD;
    size_t len = strlen(n);
    if (len > 5 && !strcmp(n + len - 5, ".step"))
        return CP_FRAME_INLINED;
    return CP_FRAME_COMPILED;
}

static uint32_t intern(cp_profile_t *p, const char *n, size_t len)
{
    for (uint32_t i = 0; i < p->n_names; i++)
        if (strlen(p->names[i]) == len && !memcmp(p->names[i], n, len))
            return i;
    p->names = realloc(p->names, (p->n_names + 1) * sizeof *p->names);
    p->kinds = realloc(p->kinds, p->n_names + 1);
    p->names[p->n_names] = strndup(n, len);
    p->kinds[p->n_names] = kind_of(p->names[p->n_names]);
    return p->n_names++;
}

void ifx_add(cp_profile_t *p, const char *frames, uint64_t value)
{
    if (!p->stack_off) {
        p->stack_off = calloc(1, sizeof *p->stack_off);
    }
    uint32_t n = p->stack_off[p->n_stacks];
    const char *s = frames;
    while (*s) {
        const char *e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        p->funcs = realloc(p->funcs, (n + 1) * sizeof *p->funcs);
        p->funcs[n++] = intern(p, s, len);
        s += len;
        if (*s)
            s++;
    }
    p->stack_off = realloc(p->stack_off, (p->n_stacks + 2) * sizeof *p->stack_off);
    p->values = realloc(p->values, (p->n_stacks + 1) * sizeof *p->values);
    p->values[p->n_stacks] = value;
    p->stack_off[++p->n_stacks] = n;
    p->total += value;
}

void ifx_singles(cp_profile_t *p, int n, uint64_t q)
{
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "[JIT] C2 CompilerThre;[c2] phase%d", i);
        ifx_add(p, buf, q);
    }
}

void ifx_profile(cp_profile_t *p, const ifx_stack_t *s, size_t n, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->unit = strdup(unit);
    for (size_t i = 0; i < n; i++)
        ifx_add(p, s[i].frames, s[i].value);
}

cp_store_window_t ifx_window(const cp_profile_t *p, int64_t start_ms, int64_t instance, uint32_t *stacks,
                             uint64_t *values)
{
    cp_store_window_t w = {.start_ms = start_ms, .end_ms = start_ms + 10000, .instance = instance,
                           .instance_name = instance >= 0 ? "i" : NULL, .labels = "", .tier = 0,
                           .stacks = stacks, .values = values};
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        if (!p->values[i])
            continue;
        stacks[w.n] = i;
        values[w.n++] = p->values[i];
        w.total += p->values[i];
    }
    return w;
}

cp_insights_t *ifx_run(const char *type, const cp_profile_t *p)
{
    cp_insights_t *in = cp_insights_create("app", "", 1000000, 1000000 + 10000);
    cp_insights_begin_type(in, type, p, NULL);
    uint32_t *st = calloc(p->n_stacks + 1, sizeof *st);
    uint64_t *va = calloc(p->n_stacks + 1, sizeof *va);
    cp_store_window_t w = ifx_window(p, 1000000, 7, st, va);
    cp_insights_add_window(in, &w);
    free(st);
    free(va);
    cp_insights_end_type(in);
    cp_insights_finish(in);
    return in;
}
