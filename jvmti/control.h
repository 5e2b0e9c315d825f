/* control.h - what a relay's `configure` control may change in a running
 * agent (docs/protocol.md, "control (6)").
 *
 * The relay is trusted to tune sampling, not to re-point or re-identify
 * the agent. A configure message is applied key by key: the key must be in
 * a fixed whitelist (cpu, cpu.engine, cpu.native, wall, flush, buffer) and
 * its value must be a plain token of that key's type (an interval, a size,
 * on/off, one of an enum), so no value can smuggle a second `key=value`
 * into the option parser. Everything else - relay, token, log, tls.*, app,
 * labels, command, unknown keys, malformed values - is refused with one
 * warning line and changes nothing. Only the field of an accepted key is
 * copied into the options.
 *
 * Thread: any; no globals. Not signal-safe. */
#ifndef CP_CONTROL_H
#define CP_CONTROL_H

#include <stdint.h>

#include "options.h"

/* Applies a configure control's options onto o. Returns the number of
 * options refused (each warned through warn). */
int cp_control_configure(cp_options_t *o, const char *const *keys, const char *const *values, uint32_t n,
                         cp_options_warn_fn warn, void *ud);

#endif
