/* control_run.h - the relay's controls applied to the running agent, and
 * the timer that ends timed changes (docs/protocol.md "control (6)",
 * "control_ack (8)"; docs/agent.md "Control from the relay").
 *
 * configure / revert controls and the welcome's app defaults go into the
 * layers (control_layers.h) after each option passed the whitelist
 * (control.h); the agent then recomputes its options from its own and the
 * layers and applies what changed at runtime (the apply callback: sampler
 * intervals, allocation and lock profiling on/off, flush). A control with
 * an id is answered with a control_ack (applied, refused and why,
 * effective settings, end time), and again when the change ends.
 *
 * The end of a timed change is the agent's own business: the harvester
 * thread, which runs whether or not a relay is connected, calls
 * cp_control_run_tick() every <= 50 ms, and the change is dropped when
 * the agent's clock passes its end. No relay message is needed.
 *
 * Lock order: the agent's lifecycle lock, then this module's lock (apply
 * callbacks call cp_control_run_layer under the former). The tick only
 * try-locks the lifecycle (through the apply callback's try_lock): a
 * detach holding it waits for the harvester, so the tick must not block.
 *
 * Thread: message from the sender thread; tick from the harvester; layer
 * from whoever holds the agent's lifecycle lock. Not signal-safe. */
#ifndef CP_CONTROL_RUN_H
#define CP_CONTROL_RUN_H

#include <stdbool.h>

#include "error.h"
#include "options.h"
#include "wire.h"

/* Recomputes the agent's options (cp_control_run_layer over its own) and
 * applies what changed. try_lock: give up (return CP_CONTROL_RUN_BUSY)
 * rather than wait for the lifecycle lock. On 0, *eff = the options now in
 * force; CP_ESTATE when the agent is not running (nothing applied). */
#define CP_CONTROL_RUN_BUSY CP_ETIMEOUT
typedef int (*cp_control_run_apply_fn)(bool try_lock, cp_options_t *eff /* OUT */);

void cp_control_run_init(cp_control_run_apply_fn apply);

/* Handles a configure (scope "" or "defaults") or revert control. Returns
 * false for other commands (the caller handles start/stop/flush). */
bool cp_control_run_message(const cp_control_t *c);

/* Ends timed changes whose time has come (and retries an apply the
 * lifecycle lock put off). Cheap when nothing is due. Thread: harvester. */
void cp_control_run_tick(void);

/* out = base with the app's defaults and the changes in force. */
void cp_control_run_layer(const cp_options_t *base, cp_options_t *out /* OUT */);

#endif
