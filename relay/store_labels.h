/* store_labels.h - the canonical form of an instance's label set, and label
 * filters over it. One rule, one place: the store keys label sets by this
 * form and live.c filters live pushes with the same matcher
 * (cp_store_labels_match, declared in store.h).
 *
 * Canonical form: pairs sorted by key, "k=v" joined by ','; in keys and
 * values '\', ',' and '=' are escaped with a backslash, so a value cannot
 * forge another pair (env="x,region=prod" is "env=x\,region\=prod").
 * A filter ("k=v,k2=v2") is written the same way; in a filter, every '='
 * after an element's first belongs to the value.
 *
 * Thread: any; no global state. */
#ifndef CP_RELAY_STORE_LABELS_H
#define CP_RELAY_STORE_LABELS_H

#include <stdint.h>

#include "buf.h"
#include "wire.h"

/* Appends the canonical form of kv[0..n) to canon and the label object as
 * JSON ({"k":"v",...}, keys sorted) to json; both stay NUL-terminated
 * (the NUL is not counted in len). kv may be NULL when n is 0. */
void cp_store_labels_canon(const cp_kv_t *kv, uint32_t n, cp_buf_t *canon, cp_buf_t *json);

/* Calls fn for each pair of canonical label set `canon` ("k=v,k2=v2",
 * escapes undone), in order. Thread: any. */
typedef void (*cp_store_labels_fn)(void *ud, const char *key, const char *value);
void cp_store_labels_each(const char *canon, cp_store_labels_fn fn, void *ud);

#endif
