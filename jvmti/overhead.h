/* overhead.h - the sampling intervals in force, and the budgets that set
 * them: the one place that decides the effective CPU, wall, allocation and
 * lock intervals at runtime.
 *
 * Base intervals are what the options ask for (-agentpath, a re-attach, a
 * relay's control). The effective interval of each kind is
 *     min(base x scale[kind], max(base, bound))  (0 when the kind is off)
 * where scale[kind] (a power of two, 1 = as asked) comes from the CPU
 * budget's controller (overhead_ctl.h) and the bounds are
 *     cpu 1 s, wall 4 s, alloc 1 GiB, lock 1 s
 * so an interval is never shorter than asked and never stretched past its
 * bound. Wall's is 4 s: a sample per thread a second, with its kernel
 * signal and stack walk (~12 us), cost 0.5-0.7% of the JVM's CPU with 500
 * mostly sleeping threads, so a wall storm could not stay under 1% with it
 * (scripts/bench budget, agent_budget: first minute 0.77-1.04%). overhead=off keeps every scale at 1 (fixed intervals).
 *
 * CPU budget (overhead=1%): once a second (every 125 ms in the agent's
 * first 10 s, so that a storm from the start costs the first minute
 * little; cp_overhead_tick, from the harvester) the agent's CPU - handlers
 * (probed, cpu.handler_ns), JVMTI callbacks (cpu.callback_ns) and its
 * threads (cpu.agent_threads_ns, each thread reading its own
 * CLOCK_THREAD_CPUTIME_ID) - is compared with the process' CPU
 * (CLOCK_PROCESS_CPUTIME_ID), from the process' start for the first tick
 * (the start-up belongs to the first minute). What grows with each kind's
 * sampling rate is counted per kind (cpu.sampling.{cpu,wall,alloc,lock}_ns,
 * cost.h); the controller stretches or shrinks each kind's interval by
 * powers of two, the most expensive kind first, so that the share stays
 * under the budget over every minute: a wall or allocation storm
 * stretches wall or alloc, not cpu.
 *
 * Weights stay right across a change: each sample is weighted by the
 * interval in force when it was taken. CPU samples carry the thread's CPU
 * since its previous sample (the chain is kept across a re-arm: sampler_cpu.c),
 * wall samples the interval of their round (sampler_wall.c), lock samples
 * the threshold read for that very decision (lock.c, Lock.java), allocation
 * samples s/p with p from the interval their point was drawn with (alloc.c:
 * HotSpot draws each thread's next sample point when it takes a sample, so
 * the sample per thread that straddles a change stands for the old mean,
 * which the thread remembers; weighting it by the new one gave each thread
 * one sample of the new, much larger weight per step up: the 70/30 split of
 * two allocating threads read 0.65).
 *
 * Memory budget (memory=32m): the sample ring (fixed at start-up), the send
 * buffer (at most a quarter of the budget, or `buffer` if smaller) and the
 * stack dictionary (the rest) together. What is shed to stay inside is
 * counted as before: drop.buffer / drop.unacked (send buffer), drop.dict
 * (dictionary generation reset), drop.ring (ring full).
 *
 * How to change intervals at runtime (the relay's control, a re-attach):
 * change the options under the agent's lifecycle lock and let agent.c
 * apply them (its apply_sampling_locked(): cp_overhead_configure, then the
 * sampler, alloc and lock with cp_overhead_interval()). Never arm the
 * sampler, alloc or lock with an option's value directly.
 *
 * Thread: configure from the agent lifecycle (its lock held); tick from the
 * harvester; interval/state from any thread (not signal handlers). */
#ifndef CP_OVERHEAD_H
#define CP_OVERHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "sigcost.h"
#include "wire.h"

typedef enum cp_overhead_kind {
    CP_OVERHEAD_CPU = 0,    /* ns of CPU */
    CP_OVERHEAD_WALL,       /* ns */
    CP_OVERHEAD_ALLOC,      /* bytes */
    CP_OVERHEAD_LOCK,       /* ns waited */
    CP_OVERHEAD__KINDS
} cp_overhead_kind_t;

/* Upper bounds of the budget's stretching, per kind (see above). */
#define CP_OVERHEAD_MAX_CPU_NS     1000000000LL
#define CP_OVERHEAD_MAX_WALL_NS    4000000000LL
#define CP_OVERHEAD_MAX_ALLOC      (1LL << 30)
#define CP_OVERHEAD_MAX_LOCK_NS    1000000000LL

/* Registered once by agent.c: re-applies cp_overhead_interval() to the
 * sampler, alloc and lock. Must not block: it returns false when the
 * lifecycle is busy, and the change is retried at the next tick. Called on
 * the harvester thread (a Java thread). */
typedef bool (*cp_overhead_apply_fn)(void);
void cp_overhead_set_apply(cp_overhead_apply_fn fn);

/* Registered once by agent.c: the kernel's cost of the sampling signals of
 * a kind delivered so far (cumulative ns; sigcost.h's cp_sigcost_ns),
 * added to that kind's sampling cost and to the agent's total. Unset: 0. */
typedef uint64_t (*cp_overhead_signal_fn)(cp_sigcost_kind_t kind);
void cp_overhead_set_signal_cost(cp_overhead_signal_fn fn);

/* Takes the base intervals and the budgets from o (a new overhead value
 * restarts the controller at scale 1). Does not apply anything: the caller
 * (agent lifecycle) applies the effective intervals right after. */
void cp_overhead_configure(const cp_options_t *o);

/* The interval in force for kind (0 = off). */
int64_t cp_overhead_interval(cp_overhead_kind_t kind);

/* The budget's largest factor over the kinds (1 = every interval as
 * asked): how hard the budget presses, for the agent's fixed-cost work that
 * follows it (the harvester's scans and idle polls, the thread census).
 * Any thread. */
uint32_t cp_overhead_scale(void);

/* Kind's factor (1 = as asked). Any thread. */
uint32_t cp_overhead_kind_scale(cp_overhead_kind_t kind);

/* The shortest period for a periodic job of the agent whose cost does not
 * grow with the sampling rate but with the JVM's size (the harvester's
 * thread scan, the thread-state census: ~5-10 ms with 2,000 threads) and
 * that last cost cost_ns: so that it uses at most an eighth of the budget
 * of the JVM's CPU over the last minute (at least 0.1 core). 0 with
 * overhead=off. Callers keep their own shortest period too. Any thread. */
uint64_t cp_overhead_fixed_period_ns(uint64_t cost_ns);

/* The memory budget's split: the send buffer limit and the dictionary's
 * cap, given the ring's size. */
void cp_overhead_memory_plan(const cp_options_t *o, size_t ring_bytes, int64_t *buffer_bytes /* OUT */,
                             size_t *dict_bytes /* OUT */);

/* Harvester: measures and judges when a tick has passed (a second, 125 ms
 * in the agent's first 10 s), else only records mem_used (the agent's
 * memory now: ring + dictionary + send buffer, for the report). Returns
 * the ns until the next tick is due (0: call again at once, a change
 * waits to be applied). */
uint64_t cp_overhead_tick(size_t mem_used);

/* Counts ns of the agent's threads' CPU (already in cpu.agent_threads_ns)
 * as one-off start-up work: in the minute's share, never judged
 * (overhead_ctl.h, cp_overhead_ctl_add_oneoff). Any thread. */
void cp_overhead_oneoff(uint64_t ns);

/* The agent's state for a batch (wire key 18): effective intervals, the
 * budget, the measured share over the last minute and tick, the largest
 * scale, the memory budget and use, then each kind's scale and sampling
 * cost over the minute. Fills up to max entries (names are static
 * strings); returns how many. */
uint32_t cp_overhead_state(cp_counter_t *out /* OUT */, uint32_t max);
#define CP_OVERHEAD_STATE_MAX 20

#endif
