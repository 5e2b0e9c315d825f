/* lsets.h - the agent's table of label sets: the per-JVM dictionary of
 * request-context labels (docs/context.md).
 *
 * A label set is up to CP_LSETS_MAX_PAIRS (key, value) pairs, canonical:
 * sorted by key, each key once, keys non-empty, keys and values cut at
 * CP_LSETS_MAX_LEN bytes. Interning gives it a dense id for the agent's
 * lifetime (1, 2, ...; 0 is the empty set), the same for equal content.
 * Ids never change or go away (the wire sends "every set from id k on" per
 * connection, see sender_conn.c), so the table is bounded: past
 * CP_LSETS_MAX sets cp_lsets_intern answers -1 and counts context.overflow (stats.h).
 *
 * Who interns: the shim's Ctx.define0 (Java threads, cache misses only),
 * and agent-internal samplers that label their own samples (e.g. Python
 * stacks: runtime=python). Who reads: the harvester and the sender.
 *
 * Thread: any thread but a signal handler (a mutex, malloc). No JVMTI:
 * unit-tested alone (tests/unit/jvmti/test_lsets.c). */
#ifndef CP_LSETS_H
#define CP_LSETS_H

#include <stdint.h>

#include "wire.h"

#define CP_LSETS_MAX_PAIRS 8
#define CP_LSETS_MAX_LEN   200
#define CP_LSETS_MAX       65535

/* Interns the set of kv[0..n) (any order; a repeated key keeps its last
 * value; empty keys and pairs past CP_LSETS_MAX_PAIRS distinct keys are
 * left out; NULL values count as absent). Returns its id (0 for the empty
 * set), or -1 when the table is full or out of memory (counted). */
int32_t cp_lsets_intern(const cp_kv_t *kv, uint32_t n);

/* The pairs of set id (canonical order) and their count. Borrowed: valid
 * for the agent's lifetime. NULL with *n = 0 for id 0 or an unknown id. */
const cp_kv_t *cp_lsets_get(uint32_t id, uint32_t *n /* OUT */);

/* Number of ids handed out so far, the empty set included (next id). */
uint32_t cp_lsets_count(void);

#endif
