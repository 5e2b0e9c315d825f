/* store_state.c - the agent's state as per-instance gauge counters. See
 * store_state.h.
 *
 * Thread: any; no globals. */
#include "store_state.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

int cp_store_state_merge(const cp_batch_t *b, cp_batch_t *out, void **mem)
{
    *out = *b;
    *mem = NULL;
    if (!b->n_state)
        return 0;
    size_t names = 0, n = (size_t)b->n_counters + b->n_state;
    for (uint32_t i = 0; i < b->n_state; i++)
        names += sizeof CP_STORE_STATE_PREFIX + strlen(b->state[i].name ? b->state[i].name : "");
    /* one block: the counter array, then the renamed names */
    char *blk = malloc(n * sizeof(cp_counter_t) + names);
    if (!blk)
        return CP_ENOMEM;
    cp_counter_t *c = (cp_counter_t *)blk;
    char *p = blk + n * sizeof(cp_counter_t);
    if (b->n_counters)
        memcpy(c, b->counters, b->n_counters * sizeof *c);
    for (uint32_t i = 0; i < b->n_state; i++) {
        const char *nm = b->state[i].name ? b->state[i].name : "";
        size_t l = strlen(nm);
        memcpy(p, CP_STORE_STATE_PREFIX, sizeof CP_STORE_STATE_PREFIX - 1);
        memcpy(p + sizeof CP_STORE_STATE_PREFIX - 1, nm, l + 1);
        c[b->n_counters + i] = (cp_counter_t){p, b->state[i].value};
        p += sizeof CP_STORE_STATE_PREFIX + l;
    }
    out->counters = c;
    out->n_counters = (uint32_t)n;
    out->state = NULL;
    out->n_state = 0;
    *mem = blk;
    return 0;
}

void cp_store_state_free(void *mem)
{
    free(mem);
}

bool cp_store_state_is_gauge(const char *name)
{
    return !strncmp(name, "rate.", 5) || !strncmp(name, "mem.", 4) || !strcmp(name, "threads") ||
           !strncmp(name, CP_STORE_STATE_PREFIX, sizeof CP_STORE_STATE_PREFIX - 1);
}
