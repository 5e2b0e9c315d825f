/* cost.h - the agent's own CPU, counted where it is spent (issue 14).
 *
 * Four parts, each a counter (stats.h) sent per window and summed in the
 * exit line "agent cost":
 *   cpu.handler_ns        signal handlers (probed: sampler_int.h)
 *   cpu.callback_ns       JVMTI callbacks and the agent's work on the JVM's
 *                         own threads: Agent_OnLoad/OnAttach, VMInit,
 *                         ClassPrepare (jmethodIDs), CompiledMethodLoad
 *                         (inline records), ThreadStart/ThreadEnd (timers)
 *   cpu.agent_threads_ns  the agent's threads (harvester, sender, cprof-gc,
 *                         wall): each adds its own CPU time as it goes
 *   cpu.signal_ns         the kernel's part of each sampling signal, which
 *                         no probe in the handler sees: signals x a cost
 *                         calibrated at run time (sigcost.h)
 * and, overlapping them, cpu.sampling_ns: the part that grows with the
 * sampling rate (handlers, the wall thread, the harvester's drains,
 * allocation and lock samples), which the overhead budget can scale
 * (overhead.h); the rest is fixed cost. That part is also counted per kind
 * (cpu.sampling.{cpu,wall,alloc,lock}_ns, whose sum is cpu.handler_ns +
 * cpu.sampling_ns): the budget stretches the kinds that cost.
 *
 * CLOCK_THREAD_CPUTIME_ID is a system call (~0.2-0.5 us; no vDSO path), so
 * only events that are rare or already cost microseconds are timed; the
 * per-class ClassLoad callback, which does nothing, is not.
 *
 * Thread: any, not signal handlers (they have their own probe). */
#ifndef CP_COST_H
#define CP_COST_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

static inline uint64_t cp_cost_now(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        return 0;
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Adds this thread's CPU since `start` (a cp_cost_now()) to cpu.callback_ns. */
static inline void cp_cost_callback(uint64_t start)
{
    uint64_t now = cp_cost_now();
    if (start && now > start)
        cp_stats_add(CP_ST_CALLBACK_NS, now - start);
}

/* The same for a sample's own work (an allocation or lock sample): also
 * counted in cpu.sampling_ns, the part the overhead budget can scale, and
 * in its kind's share of it (kind: CP_ST_SAMPLING_ALLOC_NS or _LOCK_NS). */
static inline void cp_cost_sample(uint64_t start, cp_stat_id_t kind)
{
    uint64_t now = cp_cost_now();
    if (start && now > start) {
        cp_stats_add(CP_ST_CALLBACK_NS, now - start);
        cp_stats_add(CP_ST_SAMPLING_NS, now - start);
        cp_stats_add(kind, now - start);
    }
}

/* The harvester's drain of n samples (kinds[k]: how many of each
 * cp_sample_kind_t, cpu, wall, alloc, lock) cost ns: into cpu.sampling_ns,
 * split among the kinds by their counts. */
static inline void cp_cost_drain(uint64_t ns, const int *kinds, int n)
{
    static const cp_stat_id_t per_kind[4] = {CP_ST_SAMPLING_CPU_NS, CP_ST_SAMPLING_WALL_NS,
                                             CP_ST_SAMPLING_ALLOC_NS, CP_ST_SAMPLING_LOCK_NS};
    if (n <= 0)
        return;
    cp_stats_add(CP_ST_SAMPLING_NS, ns);
    uint64_t left = ns;
    for (int k = 0; k < 4; k++) {
        uint64_t part = k == 3 ? left : ns * (uint64_t)kinds[k] / (uint64_t)n;
        if (part > left)
            part = left;
        cp_stats_add(per_kind[k], part);
        left -= part;
    }
}

/* For the agent's threads: adds this thread's CPU since *last (0 at the
 * thread's start: then it counts from the thread's birth) to
 * cpu.agent_threads_ns and moves *last on. */
static inline void cp_cost_thread(uint64_t *last)
{
    uint64_t now = cp_cost_now();
    if (now > *last)
        cp_stats_add(CP_ST_AGENT_THREADS_NS, now - *last);
    *last = now;
}

/* cp_cost_thread for a thread whose whole work is sampling (cprof-wall):
 * also counted in cpu.sampling_ns and its kind's part, wall. */
static inline void cp_cost_thread_sampling(uint64_t *last)
{
    uint64_t now = cp_cost_now();
    if (now > *last && *last) {
        cp_stats_add(CP_ST_AGENT_THREADS_NS, now - *last);
        cp_stats_add(CP_ST_SAMPLING_NS, now - *last);
        cp_stats_add(CP_ST_SAMPLING_WALL_NS, now - *last);
    } else if (now > *last) {
        cp_stats_add(CP_ST_AGENT_THREADS_NS, now - *last);
    }
    *last = now;
}

/* For the agent's threads that may lag (sender, cprof-gc), at their start:
 * nice +10 for this thread only (Linux: a thread is a task with its own
 * nice value). When the machine is busy, as it is while a JVM starts (its
 * main thread and its JIT compilers), their work (the sender's dlopen and
 * TLS set-up) yields to the application's; on an idle core it runs as soon
 * as before. Not the harvester: it must keep up with the sample ring.
 * Raising a nice value needs no privilege; a failure changes nothing. */
static inline void cp_cost_background_thread(void)
{
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
}

#endif
