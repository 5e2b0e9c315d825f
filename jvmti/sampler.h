/* sampler.h - CPU and wall-clock sampling: timers, signals, AsyncGetCallTrace.
 *
 * CPU engine (cpu.engine, issue 8): by default a perf_event_open cpu-clock
 * event per thread (perf.h), which delivers the asked rate (1 kHz at 1 ms);
 * where perf events are not permitted, or with cpu.engine=timer, the POSIX
 * timers below. After AGCT the handler walks native frames from the signal
 * context (unwind.h; cpu.native) and retries unknown_Java samples from an
 * adjusted copy of the context, and samples of Java threads in the VM with
 * their frame anchor made walkable for one AGCT call (vmstructs.h); all
 * inside the crash guard (no guard, no retries).
 *
 * CPU (timer engine): one POSIX timer per thread on that thread's CPU-time clock
 * (timer_create + SIGEV_THREAD_ID), delivering SIGPROF to the thread that
 * burnt the CPU; idle threads cost nothing. Falls back to a process-wide
 * ITIMER_PROF if per-thread timers cannot be created. Every thread of the
 * process gets a timer (JIT and GC threads too: their samples are kept as
 * "[GC] G1 Conc#0"-style stacks by the harvester, not counted as failures).
 * Sample weight = interval * (1 + timer overrun), so CPU time is right even
 * when the kernel (HZ=250 here) cannot fire as often as asked.
 *
 * Wall: a plain pthread ("cprof-wall") sends SIGVTALRM to every Java thread
 * each wall interval; the handler records the stack whatever the thread's
 * state. HotSpot does not use SIGVTALRM (it uses SIGUSR2 for suspend/resume
 * on Linux, SIGQUIT for dumps, SIGSEGV/SIGBUS/SIGILL/SIGFPE for checks).
 *
 * Threads are found by ThreadStart/ThreadEnd (Java threads, immediately) and
 * by a periodic /proc/self/task scan (threads that existed before the agent,
 * and non-Java threads), driven by the harvester.
 *
 * Handlers: CP_SIGSAFE; they touch only the ring, the stats and the fixed
 * thread table. They never restore SIG_DFL (a late SIGPROF would kill the
 * JVM): the handlers stay installed and do nothing while sampling is off.
 *
 * Thread: init/start/stop/scan from agent threads (serialised by the
 * agent's lifecycle lock); thread_start/thread_end from JVMTI callbacks on
 * the thread itself. */
#ifndef CP_SAMPLER_H
#define CP_SAMPLER_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

/* Preferred signals. If another handler owns one at init, the sampler
 * leaves it alone and uses the highest free real-time signal instead
 * (logged); only the ITIMER_PROF fallback cannot move off SIGPROF. */
#define CP_SAMPLER_CPU_SIGNAL  SIGPROF
#define CP_SAMPLER_WALL_SIGNAL SIGVTALRM

/* cpu.engine: how CPU time is measured (see perf.h). AUTO = perf events if
 * permitted, else POSIX per-thread CPU timers, else ITIMER_PROF. */
enum { CP_SAMPLER_ENGINE_AUTO = 0, CP_SAMPLER_ENGINE_PERF = 1, CP_SAMPLER_ENGINE_TIMER = 2 };

/* Finds AsyncGetCallTrace and installs the handlers. Returns 0,
 * CP_EUNSUPP (no AGCT) or CP_ESTATE (another handler owns SIGPROF or
 * SIGVTALRM and no real-time signal is free; nothing is changed then).
 * Idempotent. */
int  cp_sampler_init(JavaVM *vm, cp_ring_t *ring);

/* The VM is live (VMInit or attach), before the agent starts its threads:
 * from now on each Java thread that starts (the agent's own first) measures
 * and checks the VMStructs offsets on itself (vmstructs.h), so the JVM's
 * main thread never waits for that (up to ~5 ms at start-up). */
void cp_sampler_live(void);

/* Arms sampling with the given intervals (0 = off). May be called again to
 * change intervals (re-arms timers). Returns 0 or CP_E*. */
int  cp_sampler_start(int64_t cpu_ns, int64_t wall_ns);

/* Only the intervals (0 = off) of sampling that cp_sampler_start armed:
 * re-arms the CPU timers (each thread's weight chain is kept, so the first
 * sample after the change is weighted right: overhead.h) and starts or
 * stops the wall thread. Same thread rule as start. */
int  cp_sampler_set_intervals(int64_t cpu_ns, int64_t wall_ns);

/* Engine (CP_SAMPLER_ENGINE_*) and native frame walking (unwind.h) for
 * the next start; re-arms at once if sampling runs on another engine. */
void cp_sampler_configure(int engine, bool native_frames);

/* "perf", "timer" (per-thread POSIX timers) or "itimer". */
const char *cp_sampler_engine(void);

/* Disarms all timers, stops the wall thread, and waits (bounded, 200 ms)
 * until no handler is inside AGCT. After it returns, handlers that still
 * fire return at once. */
void cp_sampler_stop(void);

/* Rescans /proc/self/task: adds timers for new threads, forgets gone ones,
 * and refreshes the native-code table (unwind.h). True when it found
 * something new: a thread, or a changed table. */
bool cp_sampler_scan(void);

/* JVMTI ThreadStart / ThreadEnd, on the thread itself. jni: the thread's
 * JNIEnv, kept in the thread table for the handlers (they never call
 * GetEnv). */
void cp_sampler_thread_start(JNIEnv *jni);
void cp_sampler_thread_end(void);

/* Harvester, each pass: arms the CPU timers of the Java threads started
 * since the last call (ThreadStart only registers a thread: a thread that
 * ends before this costs no timer). One atomic load when none started. */
void cp_sampler_arm_started(void);

/* The calling thread is one of ours: never wall-sampled. */
void cp_sampler_ignore_current_thread(void);

/* Effective configuration for reports. */
bool cp_sampler_per_thread_timers(void);    /* false = ITIMER_PROF fallback */
int  cp_sampler_thread_count(void);

#endif
