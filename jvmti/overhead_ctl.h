/* overhead_ctl.h - the overhead budget's controller: from the agent's
 * measured CPU and the JVM's, once a tick (about a second), the factor by
 * which every sampling interval is stretched. Pure logic, no clocks, no
 * globals: overhead.c feeds it, tests/unit/jvmti/test_overhead_ctl.c drives it.
 *
 * Share: agent CPU / JVM process CPU (the agent's CPU is part of the
 * process'). An almost idle JVM is judged against a floor of 0.1 core
 * (CP_OVERHEAD_CTL_FLOOR_PERMILLE of the tick's length), so the agent's
 * fixed cost (harvester wake-ups, the sender) never drives the intervals to
 * their bounds on a JVM that does nothing.
 *
 * The agent's CPU has two parts: what grows with the sampling rate
 * (sampling_ns: handlers, the wall thread, the harvester's drains,
 * allocation and lock samples) and fixed cost (class and JIT callbacks,
 * the sender, thread start-up). The controller scales only the first:
 * stretching the intervals by f divides it by f (at most: it may fall
 * less), shrinking them by f multiplies it by f (at most).
 *
 * The factor `scale` is a power of two, 1 (the intervals asked for) to
 * max_scale (every interval at its bound). Judged over the ticks since the
 * last change (up to 3), with T = 50% of the budget and room = T - fixed
 * (at least T / 2: a fixed cost over T - thread start-up storms, class
 * loading - cannot be helped by sampling less, so sampling keeps half of T;
 * overhead.minute_ppm shows the excess):
 *   - up (fewer samples), at once, when the share is above 90% of the
 *     budget and sampling costs more than room: the smallest f with
 *     sampling / f <= room.
 *   - down (more samples), after 5 ticks in a row in which it would be by
 *     2 or more: the largest f with 1.25 x sampling x f <= room, at most 4
 *     (stretched intervals take few samples, whose cost says little about
 *     the cost at short intervals: an allocation storm measured ~0 at 8 MiB
 *     and cost 43% at 1 KiB; so the way back is gradual, 4x per 5 ticks).
 * The tick right after a change straddles it and is not judged, unless the
 * share is over 4 budgets; nor is the agent's first tick (the JVM's and the
 * agent's start-up: class loading, first symbol tables), nor does it count
 * in the ticks judged after it.
 * Hysteresis: after a step up, sampling >= room / 2 (f is at most twice
 * what was needed), so a step down (it needs sampling <= room / 2.5) does
 * not follow; after a step down, sampling <= room / 1.25, so the share is
 * <= T (or fixed + 2T / 5 when fixed > T/2) and a step up would need
 * sampling > room: none. Measurement noise below 25% does not make it
 * oscillate.
 *
 * The minute: the last 60 ticks' sums (a ring of buckets), reported as the
 * share over the minute (what the budget promises: "under the budget over
 * every minute" holds while the fixed cost stays under the budget).
 *
 * Thread: the caller serialises (overhead.c's lock). */
#ifndef CP_OVERHEAD_CTL_H
#define CP_OVERHEAD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#define CP_OVERHEAD_CTL_MINUTE          60   /* ticks of the minute window */
#define CP_OVERHEAD_CTL_FLOOR_PERMILLE  100  /* judged against >= 0.1 core */
#define CP_OVERHEAD_CTL_QUIET_TICKS     5    /* ticks below the low mark before a step down */

typedef struct cp_overhead_ctl {
    uint32_t budget_ppm;          /* share promised, parts per million of process CPU */
    uint32_t max_scale;           /* power of two >= 1 */
    uint32_t scale;               /* power of two, 1..max_scale */
    /* the minute: per tick, agent CPU, its sampling part, process CPU and
     * the floored denominator */
    uint64_t agent_ns[CP_OVERHEAD_CTL_MINUTE], sampling_ns[CP_OVERHEAD_CTL_MINUTE],
             proc_ns[CP_OVERHEAD_CTL_MINUTE], denom_ns[CP_OVERHEAD_CTL_MINUTE];
    uint32_t head, filled;        /* next bucket; buckets in use */
    uint32_t since_change;        /* ticks since scale last changed */
    uint32_t quiet;               /* consecutive ticks below the low mark */
    uint64_t changes;             /* scale changes so far */
} cp_overhead_ctl_t;

/* budget_ppm 0 = off: the scale stays 1. max_scale is rounded down to a
 * power of two (at least 1). */
void cp_overhead_ctl_init(cp_overhead_ctl_t *c, uint32_t budget_ppm, uint32_t max_scale);

/* The bounds changed (intervals reconfigured): clamps the scale. */
void cp_overhead_ctl_set_max(cp_overhead_ctl_t *c, uint32_t max_scale);

/* One tick: agent_ns and proc_ns are the agent's and the process' CPU in
 * it, sampling_ns the part of agent_ns that grows with the sampling rate
 * (clamped to agent_ns), tick_ns its length. Returns the scale to use from
 * now on. */
uint32_t cp_overhead_ctl_tick(cp_overhead_ctl_t *c, uint64_t agent_ns, uint64_t sampling_ns, uint64_t proc_ns,
                              uint64_t tick_ns);

/* The agent's share of the process' CPU over the minute window (no floor),
 * in ppm; 0 before the first tick. */
uint32_t cp_overhead_ctl_minute_ppm(const cp_overhead_ctl_t *c);

/* The same over the last tick. */
uint32_t cp_overhead_ctl_last_ppm(const cp_overhead_ctl_t *c);

#endif
