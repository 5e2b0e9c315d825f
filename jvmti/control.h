/* control.h - what a relay's `configure` control may change in a running
 * agent (docs/protocol.md, "control (6)").
 *
 * The relay is trusted to tune sampling, not to re-point or re-identify
 * the agent. A configure message is applied key by key: the key must be in
 * a fixed whitelist (cpu, cpu.engine, cpu.native, wall, alloc, alloc.mode,
 * lock, overhead, flush, buffer) and its value must be a plain token of
 * that key's type (an interval, a size, on/off, one of an enum, a
 * percentage) within the key's bounds (cpu 100us-10s, wall 1ms-10s, alloc
 * 1k-1g, lock 10us-10s, overhead 0.1%-50%, flush 1s-10m, buffer 64k-1g;
 * "off" where a feature may be off), so no value can smuggle a second
 * `key=value` into the option parser. Everything else - relay, token, log, tls.*, app,
 * labels, command, unknown keys, malformed values - is refused with one
 * warning line and changes nothing. Only the field of an accepted key is
 * copied into the options.
 *
 * Thread: any; no globals. Not signal-safe. */
#ifndef CP_CONTROL_H
#define CP_CONTROL_H

#include <stdint.h>

#include "options.h"

#define CP_CONTROL_VALUE_MAX 32   /* longest accepted value + 1 */

/* Applies one option onto o, or refuses it: returns NULL when applied, else
 * why not (static text: "the relay may not change this option", "out of
 * bounds", ...), warned through warn. */
const char *cp_control_set(cp_options_t *o, const char *key, const char *value, cp_options_warn_fn warn,
                           void *ud);

/* Applies a configure control's options onto o. Returns the number of
 * options refused (each warned through warn). */
int cp_control_configure(cp_options_t *o, const char *const *keys, const char *const *values, uint32_t n,
                         cp_options_warn_fn warn, void *ud);

/* Copies the fields a control may change (and only those) from src. */
void cp_control_copy_fields(cp_options_t *dst, const cp_options_t *src);

/* The settings a control can change, as the agent runs them, in option
 * syntax ("10ms", "256k", "off"): keys[i] (static) = values[i]. Returns the
 * count (at most max). */
uint32_t cp_control_effective(const cp_options_t *o, char values[][CP_CONTROL_VALUE_MAX], const char **keys,
                              uint32_t max);

#endif
