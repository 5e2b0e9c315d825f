/* sigcost.h - what the kernel spends on each sampling signal, measured at
 * run time, so the agent's own account of its cost includes it.
 *
 * The handlers time themselves (cpu.handler_ns), but the work around a
 * handler runs in the kernel, on the sampled thread's CPU clock, where no
 * probe inside the handler can see it: for the perf engine the cpu-clock
 * hrtimer interrupt, queueing the signal and building its frame, and the
 * rt_sigreturn after it. On this project's VMs that is 26-43 us per signal,
 * twice the handler. Signals delivered so far x a per-signal cost
 * calibrated once per JVM is the "signal delivery" part of the agent's
 * cost (exit line, counter cpu.signal_ns, the overhead budget).
 *
 * Calibration (cp_sigcost_step, on the harvester): from 0.5 s after the
 * harvester starts, one round per call at least 50 ms apart, 3 rounds;
 * up to two more sets of 3 while the CPU signal's estimate is <= 0 (the
 * rounds failed, or a neighbour's noise swamped the spins: it happened in
 * ~1 of 10 runs of test_agent_accounting).
 * A round spins a fixed loop (~1 ms of CPU) once bare and once with the
 * CPU engine's own mechanism signalling this thread at 10 kHz (perf: a
 * cpu-clock event of period 100 us on the CPU signal; POSIX timers and
 * ITIMER_PROF: the signal sent to itself, which is the expiry's signal
 * without the tick, which runs anyway); the handler returns at once for a
 * calibrating thread. Per-signal cost = (CPU with - CPU bare) / (signals
 * with - signals bare), the median of the rounds. Wall signals are sent
 * with tgkill by the cprof-wall thread: their cost is a tgkill to itself
 * (it includes the send, which the wall thread's own CPU already counts:
 * ~1 us over). About 7.5 ms of the harvester's CPU, once, counted as its
 * own (cpu.agent_threads_ns); a JVM that ends before 0.5 s never pays it
 * (and its signals stay uncounted). A failed calibration (no perf event,
 * no signal arrived, an implausible result) counts cpu.signal_calib_fail
 * and leaves that kind's cost at 0. CPROF_NO_SIGCOST=1 in the environment
 * skips calibration (every cost 0: the accounting as it was without it).
 *
 * Threads: cp_sigcost_on_signal from the handlers; cp_sigcost_step from
 * the harvester only; the rest from any thread, lock-free. */
#ifndef CP_SIGCOST_H
#define CP_SIGCOST_H

#include <stdbool.h>
#include <stdint.h>

#include "sigsafe.h"

typedef enum { CP_SIGCOST_CPU, CP_SIGCOST_WALL, CP_SIGCOST__KINDS } cp_sigcost_kind_t;

/* Async-signal-safe: the first call of a handler of kind k. True when the
 * signal is the calibration's (this thread is calibrating): the handler
 * returns at once. Otherwise counts one delivered signal of kind k. */
CP_SIGSAFE bool cp_sigcost_on_signal(cp_sigcost_kind_t k);

/* The kernel's cost of the signals of kind k delivered so far, in ns:
 * signals x the calibrated cost (0 before calibration or when it failed;
 * it jumps by the backlog when calibration ends). Cumulative, monotonic.
 * Any thread. */
uint64_t cp_sigcost_ns(cp_sigcost_kind_t k);

/* The calibrated cost of one signal of kind k, ns (0: not calibrated). */
uint64_t cp_sigcost_per_signal_ns(cp_sigcost_kind_t k);

/* Signals of kind k delivered so far. */
uint64_t cp_sigcost_signals(cp_sigcost_kind_t k);

/* True once calibration has ended (successfully or not). */
bool cp_sigcost_calibrated(void);

/* Thread: harvester only. Runs the next calibration round when one is
 * due (a few ms of CPU), then publishes cp_sigcost_ns() of both kinds into
 * the counter cpu.signal_ns. `final`: the agent is stopping: no round.
 * True when a round ran. */
bool cp_sigcost_step(bool final);

/* Publishes into cpu.signal_ns what cp_sigcost_step has not yet (the exit
 * report, before it reads the counters). Any non-signal thread. */
void cp_sigcost_publish(void);

#endif
