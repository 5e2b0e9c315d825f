/* control_layers.h - the settings a relay layers over an agent's own
 * options, and when each layer ends (docs/protocol.md, "control (6)").
 *
 * Effective options = the agent's own options (agentpath, attach, env)
 *                   + the app's defaults (welcome key 7 / scope=defaults)
 *                   + each change still in force, in the order it came.
 * A change has an id and may end at until_ms (the agent's own clock): the
 * agent drops it by itself when that passes, whether or not a relay is
 * connected, and recomputes from the layers, so it lands on the app's
 * defaults rather than on whatever ran before the change. Layers hold only
 * options cp_control_set() accepted (whitelisted, typed, bounded), so
 * re-applying them cannot fail.
 *
 * Plain data, no locks, no JVM: the caller (control_run.c) serialises.
 * Thread: any. Not signal-safe. */
#ifndef CP_CONTROL_LAYERS_H
#define CP_CONTROL_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "options.h"

#define CP_CTL_MAX_KV      16    /* options per layer */
#define CP_CTL_MAX_CHANGES 8     /* changes in force at once; a 9th ends the oldest */
#define CP_CTL_ID_MAX      64

typedef struct cp_ctl_kv {
    char key[CP_CONTROL_VALUE_MAX];
    char value[CP_CONTROL_VALUE_MAX];
} cp_ctl_kv_t;

typedef struct cp_ctl_change {
    char        id[CP_CTL_ID_MAX];
    cp_ctl_kv_t kv[CP_CTL_MAX_KV];
    uint32_t    n;
    uint64_t    until_ms;          /* 0 = no end */
} cp_ctl_change_t;

typedef struct cp_ctl_layers {
    cp_ctl_kv_t     defaults[CP_CTL_MAX_KV];
    uint32_t        n_defaults;
    cp_ctl_change_t changes[CP_CTL_MAX_CHANGES];   /* oldest first */
    uint32_t        n_changes;
} cp_ctl_layers_t;

void cp_ctl_layers_init(cp_ctl_layers_t *l);

/* Replaces the defaults layer with the n pairs (beyond CP_CTL_MAX_KV
 * ignored). Pass only accepted options. */
void cp_ctl_layers_set_defaults(cp_ctl_layers_t *l, const char *const *keys, const char *const *values,
                                uint32_t n);

/* Adds a change (a change with the same id is replaced, keeping its
 * place; the anonymous change, id "", is merged into instead: options add
 * up as older relays' configure controls expect). With CP_CTL_MAX_CHANGES in force the oldest ends first: its id
 * is copied to ended (CP_CTL_ID_MAX bytes) and 1 returned; else 0. */
int  cp_ctl_layers_add(cp_ctl_layers_t *l, const char *id, const char *const *keys, const char *const *values,
                       uint32_t n, uint64_t until_ms, char *ended /* OUT */);

/* Ends the change `id` ("" or NULL: every change). Returns how many ended. */
uint32_t cp_ctl_layers_remove(cp_ctl_layers_t *l, const char *id);

/* Ends every change whose until_ms <= now_ms; their ids go to ids[0..max).
 * Returns how many ended (also past max: those ids are not reported). */
uint32_t cp_ctl_layers_expire(cp_ctl_layers_t *l, uint64_t now_ms, char ids[][CP_CTL_ID_MAX], uint32_t max);

/* The earliest until_ms of the changes in force, 0 if none ends. */
uint64_t cp_ctl_layers_next_end(const cp_ctl_layers_t *l);

/* out = base with the defaults and every change applied. */
void cp_ctl_layers_apply(const cp_ctl_layers_t *l, const cp_options_t *base, cp_options_t *out /* OUT */);

#endif
