/* perf.h - per-thread CPU sampling clock from perf_event_open (cpu-clock).
 *
 * Why: POSIX CPU timers (timer_create on a thread CPU clock, ITIMER_PROF)
 * expire on the scheduler tick, so with HZ=250 `cpu=1ms` fires only ~250
 * times per CPU-second. The perf software event PERF_COUNT_SW_CPU_CLOCK is
 * driven by an hrtimer and delivers the asked period (measured: 1001 signals
 * per CPU-second at 1 ms). One event per thread (pid = tid, cpu = -1); its
 * fd is set O_ASYNC with F_SETSIG = the sampler's signal and F_SETOWN_EX
 * F_OWNER_TID, so each overflow signals the thread that burnt the CPU. No
 * ring buffer is mapped: only the signal is wanted (si_code POLL_IN,
 * si_fd = the event's fd).
 *
 * Blocked by perf_event_paranoid > 2, by seccomp (default Docker profile)
 * or by a missing syscall: cp_perf_probe() says so and the sampler falls
 * back to timer_create/ITIMER_PROF.
 *
 * Thread: any non-signal thread (the sampler calls these under its
 * registry lock). Not async-signal-safe. */
#ifndef CP_PERF_H
#define CP_PERF_H

#include <stdint.h>

/* Tries to open (and closes) an event on the calling thread. Returns 0 if
 * perf cpu-clock events work here, else a negative errno-derived CP_E*
 * code; *why (OUT, static string) names the reason. */
int cp_perf_probe(const char **why /* OUT */);

/* Opens a cpu-clock event on thread tid with period ns, delivering signal
 * sig to that thread on every overflow. Returns the fd (>= 0; the caller
 * closes it with cp_perf_close) or -errno. */
int cp_perf_open(int tid, int64_t period_ns, int sig);

/* Changes the period of an open event (PERF_EVENT_IOC_PERIOD). 0 or -errno. */
int cp_perf_set_period(int fd, int64_t period_ns);

/* Disables and closes. A negative fd is a no-op. */
void cp_perf_close(int fd);

#endif
