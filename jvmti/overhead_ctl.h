/* overhead_ctl.h - the overhead budget's controller: from the agent's
 * measured CPU and the JVM's, once a tick (about a second; faster while the
 * agent starts), the factor by which each kind's sampling interval (cpu,
 * wall, alloc, lock) is stretched. Pure logic, no clocks, no globals:
 * overhead.c feeds it, tests/unit/jvmti/test_overhead_ctl.c drives it.
 *
 * Share: agent CPU / JVM process CPU (the agent's CPU is part of the
 * process'). An almost idle JVM is judged against a floor of 0.1 core
 * (CP_OVERHEAD_CTL_FLOOR_PERMILLE of the tick's length), so the agent's
 * fixed cost (harvester wake-ups, the sender) never drives the intervals to
 * their bounds on a JVM that does nothing.
 *
 * The agent's CPU has two parts: what grows with the sampling rate, per
 * kind (sampling_ns[k]: the kind's signal handlers or callbacks, the wall
 * thread, the harvester's drains of the kind's samples) and fixed cost
 * (class and JIT callbacks, the sender, thread start-up). The controller
 * scales only the first: stretching kind k's interval by f divides its
 * sampling_ns[k] by f (at most: it may fall less), shrinking it by f
 * multiplies it by f (at most).
 *
 * Each kind has its own factor scale[k], a power of two, 1 (the interval
 * asked for) to max_scale[k] (the kind's bound); a kind that is off has
 * max_scale 1. Judged over the ticks since the last change (up to 3), with
 * T = 50% of the budget, S = the sum of the kinds' sampling shares and
 * room = T - fixed (at least T / 2: a fixed cost over T - thread start-up
 * storms, class loading - cannot be helped by sampling less, so sampling
 * keeps half of T; overhead.minute_ppm shows the excess):
 *   - up (fewer samples), at once, when the share is above 90% of the
 *     budget and S > room: the most expensive kind first, by the smallest
 *     f with S - s_k + s_k / f <= room or s_k / f <= room / 4 (what a kind
 *     at its bound still costs is not another's fault); if its bound stops it short, the
 *     next most expensive kind that costs T (half the budget) or more
 *     takes what is left, down to room / 4 at most, and so on (only on a
 *     3 s of evidence). So a wall or allocation storm stretches wall or
 *     alloc, and cpu keeps its interval unless cpu sampling alone costs
 *     half the budget (then it is stretched so far, not to its bound).
 *     What a kind at its bound still costs shows in overhead.minute_ppm.
 *     A kind whose last step up (by 2 or more) did not halve its cost
 *     is not stretched further (what is left is not the rate's: a few
 *     probed handlers, samples of threads that barely run), unless the
 *     sampling is far over; a step down of the kind forgets this. Not
 *     alloc and lock: their samples are timed one by one, so what is left
 *     is theirs (sparse samples cost more each: cold caches).
 *   - down (more samples), after 5 ticks and 5 s in a row in which
 *     S x 1.25 x 2 <= room: the cheapest stretched kind first, each by the largest f
 *     (at most 4, at most its scale) with 1.25 x (S + s_k (f - 1)) <= room
 *     (stretched intervals take few samples, whose cost says little about
 *     the cost at short intervals: an allocation storm measured ~0 at 8 MiB
 *     and cost 43% at 1 KiB; so the way back is gradual, 4x per 5 s).
 * The tick right after a change straddles it and is not judged, unless
 * sampling alone costs over 2 budgets (far over); nor is the agent's first
 * tick (the JVM's and the agent's start-up: class loading, the first drains
 * load symbol tables), nor does it count in the ticks judged after it.
 * A step up rests on 3 s of ticks at least (a short tick holds few
 * samples: one probed handler counts 8 times), unless far over, or on 1 s
 * when the costliest kind is alloc or lock (every one of their samples is
 * timed: their cost is exact, and an allocation storm's rate rises 40x
 * when the JIT compiles its loop); in those two cases only the costliest
 * kind is stretched.
 * Hysteresis: after a step up, S <= room and (for the kind that took the
 * step) S >= room / 2 unless a bound stopped it, so a step down (it needs
 * S <= room / 2.5) does not follow; after a step down, S <= room / 1.25,
 * so a step up would need S > room: none. Measurement noise below 25%
 * does not make it oscillate.
 *
 * The minute: the last 60 s of ticks' sums (a ring of buckets, one per
 * tick), reported as the share over the minute (what the budget promises:
 * "under the budget over every minute" holds while the fixed cost stays
 * under the budget). Short start-up ticks add up into the same ring: the
 * window holds the ticks of the last 60 s, at most CP_OVERHEAD_CTL_BUCKETS.
 *
 * Thread: the caller serialises (overhead.c's lock). */
#ifndef CP_OVERHEAD_CTL_H
#define CP_OVERHEAD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#define CP_OVERHEAD_CTL_KINDS           4    /* cpu, wall, alloc, lock (overhead.h's order) */
#define CP_OVERHEAD_CTL_MINUTE_NS       60000000000ULL   /* the promise's window */
#define CP_OVERHEAD_CTL_BUCKETS         160  /* ticks it can hold (80 short start-up ticks + a minute) */
#define CP_OVERHEAD_CTL_FLOOR_PERMILLE  100  /* judged against >= 0.1 core */
#define CP_OVERHEAD_CTL_QUIET_TICKS     5    /* ticks below the low mark before a step down */

typedef struct cp_overhead_ctl_bucket {
    uint64_t agent_ns, proc_ns, denom_ns, tick_ns;   /* denom: the floored process CPU */
    uint64_t oneoff_ns;   /* one-off agent CPU (cp_overhead_ctl_add_oneoff): in the minute, never judged */
    uint64_t sampling_ns[CP_OVERHEAD_CTL_KINDS];
} cp_overhead_ctl_bucket_t;

typedef struct cp_overhead_ctl {
    uint32_t budget_ppm;                          /* share promised, ppm of process CPU */
    uint32_t max_scale[CP_OVERHEAD_CTL_KINDS];    /* powers of two >= 1 */
    uint32_t scale[CP_OVERHEAD_CTL_KINDS];        /* powers of two, 1..max_scale[k] */
    cp_overhead_ctl_bucket_t b[CP_OVERHEAD_CTL_BUCKETS];
    uint32_t head, filled;        /* next bucket; buckets in use */
    uint32_t since_change;        /* ticks since a scale last changed */
    uint32_t quiet;               /* consecutive ticks below the low mark */
    uint64_t quiet_ns;            /* ... and their length */
    double up_cost[CP_OVERHEAD_CTL_KINDS];   /* a kind's sampling share when it last stepped up (0: none since) */
    double judged[CP_OVERHEAD_CTL_KINDS];    /* each kind's sampling share the last judgement saw (for the log) */
    uint64_t changes;             /* scale changes so far (a tick that changes several kinds: one) */
} cp_overhead_ctl_t;

/* budget_ppm 0 = off: the scales stay 1. Each max_scale[k] is rounded down
 * to a power of two (at least 1); NULL = all 1. */
void cp_overhead_ctl_init(cp_overhead_ctl_t *c, uint32_t budget_ppm, const uint32_t *max_scale);

/* The bounds changed (intervals reconfigured): clamps the scales. */
void cp_overhead_ctl_set_max(cp_overhead_ctl_t *c, const uint32_t *max_scale);

/* One tick: agent_ns and proc_ns are the agent's and the process' CPU in
 * it, sampling_ns[k] the part of agent_ns that grows with kind k's sampling
 * rate (their sum clamped to agent_ns), tick_ns its length. Returns true
 * when a scale changed. */
bool cp_overhead_ctl_tick(cp_overhead_ctl_t *c, uint64_t agent_ns, const uint64_t *sampling_ns, uint64_t proc_ns,
                          uint64_t tick_ns);

/* One-off agent CPU of the last tick (start-up work that never recurs:
 * symbol tables loaded, the ring's pages mapped, the signal cost's
 * calibration), not part of the agent_ns given to the tick: it counts in
 * the minute's share (what the agent cost) but no judgement sees it.
 * Sampling less later cannot give it back, and judged it made a short or
 * calm JVM (0.2 core: ~40 ms of one-off work is 1% of its first 20 s)
 * stretch its CPU interval x4-x8, keeping too few samples for a profile. */
void cp_overhead_ctl_add_oneoff(cp_overhead_ctl_t *c, uint64_t ns);

/* The largest of the scales (1 = every interval as asked). */
uint32_t cp_overhead_ctl_max_scale(const cp_overhead_ctl_t *c);

/* The sums of the minute window's buckets. */
cp_overhead_ctl_bucket_t cp_overhead_ctl_minute(const cp_overhead_ctl_t *c);

/* The agent's share of the process' CPU over the minute window (no floor,
 * one-off work included), in ppm; 0 before the first tick. */
uint32_t cp_overhead_ctl_minute_ppm(const cp_overhead_ctl_t *c);

/* Kind k's sampling cost over the minute window, ppm of the process' CPU. */
uint32_t cp_overhead_ctl_minute_kind_ppm(const cp_overhead_ctl_t *c, int k);

/* The agent's share over the last tick. */
uint32_t cp_overhead_ctl_last_ppm(const cp_overhead_ctl_t *c);

#endif
