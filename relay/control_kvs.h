/* control_kvs.h - the option pairs of fleet control (control.h): what a
 * change sets and an app's defaults, as fixed-size pairs, checked against
 * the relay's whitelist (cpu, wall, alloc, alloc.mode, lock, overhead,
 * flush, python) and read from / written as JSON objects of strings.
 *
 * Plain values, no threads of their own. */
#ifndef CP_RELAY_CONTROL_KVS_H
#define CP_RELAY_CONTROL_KVS_H

#include <stdbool.h>
#include <stdint.h>

#include "../cli/json.h"
#include "buf.h"
#include "wire.h"

#define CP_CTL_KEYS_MAX  16   /* options in one change / in an app's defaults */
#define CP_CTL_VAL_MAX   32   /* as the agent's CP_CONTROL_VALUE_MAX */

/* A fixed set of option pairs (defaults, a change's `set`). */
typedef struct cp_ctl_kvs {
    uint32_t n;
    char     key[CP_CTL_KEYS_MAX][CP_CTL_VAL_MAX];
    char     value[CP_CTL_KEYS_MAX][CP_CTL_VAL_MAX];
} cp_ctl_kvs_t;

/* kv[0..n) pointing into s (borrowed while s lives). */
uint32_t cp_ctl_kvs_view(const cp_ctl_kvs_t *s, cp_kv_t *kv /* OUT, CP_CTL_KEYS_MAX */);
/* Sets k (replacing its value); false when s is full. */
bool cp_ctl_kvs_put(cp_ctl_kvs_t *s, const char *k, const char *v);
void cp_ctl_kvs_del(cp_ctl_kvs_t *s, const char *k);
bool cp_ctl_kvs_equal(const cp_ctl_kvs_t *a, const cp_ctl_kvs_t *b);
/* Appends s as a JSON object. */
void cp_ctl_kvs_json(cp_buf_t *b, const cp_ctl_kvs_t *s);
/* Reads JSON object o of whitelisted keys and plain string values into s
 * (emptied first); "" when fine, else why not (static text). allow_empty:
 * "" values and no key at all pass (defaults: "" removes a key). */
const char *cp_ctl_kvs_from_json(const cp_json_t *o, cp_ctl_kvs_t *s, bool allow_empty);

#endif
