/* store_state.h - the agent's state (batch key 18: intervals in force,
 * measured overhead, memory budget; docs/protocol.md "Agent state") kept
 * per instance by every store engine, engine-neutrally: each entry becomes
 * an instance counter named CP_STORE_STATE_PREFIX + name, which the
 * engines' counter upsert treats as a gauge (the latest value wins:
 * cp_store_state_is_gauge names the rule their SQL mirrors), and the
 * instances document shows them as "state":{name: value}.
 *
 * Thread: any; no globals. */
#ifndef CP_RELAY_STORE_STATE_H
#define CP_RELAY_STORE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define CP_STORE_STATE_PREFIX "state."

/* A batch whose counters are b's followed by b's state entries, renamed.
 * *out borrows b's arrays; *mem (free with cp_store_state_free) owns the
 * new counter array and names. Returns 0, or CP_ENOMEM. With no state,
 * *out = *b and *mem = NULL. */
int  cp_store_state_merge(const cp_batch_t *b, cp_batch_t *out /* OUT */, void **mem /* OUT */);
void cp_store_state_free(void *mem);   /* NULL is a no-op */

/* Counters that hold their latest value instead of a sum: rate.*, mem.*,
 * threads and the agent's state. The engines' upserts say the same in SQL
 * (`name LIKE 'rate.%' OR name LIKE 'mem.%' OR name='threads' OR name LIKE
 * 'state.%'`). */
bool cp_store_state_is_gauge(const char *name);

#endif
