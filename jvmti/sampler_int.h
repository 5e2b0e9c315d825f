/* sampler_int.h - internals shared by the sampler's files (sampler.h is
 * the public interface). One concept per file:
 *   sampler.c        lifecycle: init (signals, handlers), start/stop, the
 *                    /proc/self/task scan, ThreadStart/End, adopting
 *                    threads older than the agent (VMStructs)
 *   sampler_table.c  the fixed thread table the handlers read
 *   sampler_cpu.c    CPU engines: perf events, POSIX CPU timers,
 *                    ITIMER_PROF; the CPU signal handler and sample weight
 *   sampler_wall.c   the wall-clock thread and the wall signal handler
 *   sampler_agct.c   one sample: AsyncGetCallTrace, its retries (adjusted
 *                    context, frame anchor), the native walk
 *   sampler_guard.c  the crash guard (SIGSEGV/SIGBUS around a sample)
 * CP_SIGSAFE marks what the handlers reach (scripts/check-sigsafe.sh checks
 * every .c file of jvmti/). "cp__reg_mu held" means the caller holds the table
 * lock; handlers never take it. */
#ifndef CP_SAMPLER_INT_H
#define CP_SAMPLER_INT_H

#include "sampler.h"
#include "sigsafe.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- state set by the lifecycle (sampler.c) ----------------------------- */
extern cp_ring_t *cp__ring;
extern atomic_bool cp__cpu_on, cp__wall_on;                     /* handlers bail out while false */
extern _Atomic int64_t cp__cpu_interval_ns, cp__wall_interval_ns; /* published by cp__*_on */
extern int cp__cpu_sig;    /* SIGPROF, or a free real-time signal when SIGPROF is taken */
extern int cp__wall_sig;   /* SIGVTALRM, or a free real-time signal */

/* ---- thread table (sampler_table.c) -------------------------------------- */
#define CP__REG_SLOTS 8192          /* power of two; threads beyond ~6000 go unsampled */
#define CP__F_JAVA    0x01          /* seen by ThreadStart: a Java thread */
#define CP__F_NOTJAVA 0x02          /* AGCT said: no Java frames / not a JavaThread */
#define CP__F_IGNORE  0x04          /* one of the agent's own threads */

typedef struct reg_entry {
    _Atomic int tid;            /* 0 empty, -1 tombstone */
    _Atomic uint8_t flags;
    bool has_timer;
    bool arm_pending;           /* a started Java thread waiting for its deferred arm (cp__reg_mu) */
    bool arm_fresh;             /* ... whose chain starts at last_cpu, its CPU clock when its
                                 * arm was deferred (cp__reg_mu): threads older than the
                                 * first start (cp__cpu_defer) */
    int perf_fd1;               /* cpu-clock perf event's fd + 1, 0 = none: a zeroed
                                 * (never used) slot holds no fd (cp__reg_mu) */
    uint32_t gen;               /* last scan generation that saw it (cp__reg_mu) */
    timer_t timer;
    _Atomic(sigjmp_buf *) jmp;  /* set while this thread is inside AGCT */
    _Atomic uint64_t last_cpu;  /* thread CPU ns at its last CPU sample; 0 = none (own thread; reset on arm) */
    _Atomic(JNIEnv *) env;      /* this thread's JNIEnv; NULL = not a known Java thread */
} cp__reg_entry_t;

extern cp__reg_entry_t cp__reg[CP__REG_SLOTS];
extern pthread_mutex_t cp__reg_mu;

/* Each slot's thread name as its own handler last read it (prctl
 * PR_GET_NAME, a system call: 2-4 us in a handler on this project's VMs,
 * taken by every sample of a thread without Java frames, e.g. the JIT's
 * compiler threads, and by every trace sample). Apart from cp__reg so the
 * table's walks touch no more pages. Written only by the thread's own
 * handlers; epoch 0 = none (reset when the slot is taken). */
typedef struct reg_name {
    _Atomic uint32_t epoch;     /* the ~1 s period it was read in: a renamed thread shows within ~1 s */
    char name[16];
} cp__reg_name_t;
extern cp__reg_name_t cp__reg_names[CP__REG_SLOTS];
/* Async-signal-safe: the calling thread's name into out[16] (NUL-terminated),
 * from its slot's cache when read in this period; self may be NULL. */
CP_SIGSAFE void cp__thread_name(cp__reg_entry_t *self, char *out);

/* Slots in blocks of CP__REG_BLOCK; a block's bit is set (under cp__reg_mu,
 * never cleared) once one of its slots is used. Walks over the table skip
 * the other blocks: their pages were never touched, and a walk of all
 * 8,192 slots faulted ~96 zero pages in (~1.5-2 ms on the JVM's main
 * thread at VMInit on this project's VMs). With tids as their own hash, a
 * process's threads (tids in a run) fill a few blocks. */
#define CP__REG_BLOCK 64
extern _Atomic uint64_t cp__reg_used[CP__REG_SLOTS / CP__REG_BLOCK / 64];
/* The first slot >= i of a used block, or CP__REG_SLOTS:
 *   for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) */
static inline int cp__reg_walk(int i)
{
    while (i < CP__REG_SLOTS) {
        int b = i / CP__REG_BLOCK;
        if ((atomic_load_explicit(&cp__reg_used[b / 64], memory_order_relaxed) >> (b % 64)) & 1) /* hint */
            return i;
        i = (b + 1) * CP__REG_BLOCK;
    }
    return CP__REG_SLOTS;
}
extern uint32_t cp__reg_gen;    /* scan generation (cp__reg_mu) */
extern int cp__reg_count;       /* live entries (cp__reg_mu) */

/* Async-signal-safe: the calling thread's kernel tid (a system call). */
CP_SIGSAFE int cp__tid(void);
/* Async-signal-safe: read-only probe with atomic loads; NULL if unknown. */
CP_SIGSAFE cp__reg_entry_t *cp__reg_find(int tid);
/* cp__reg_mu held. Finds or inserts; NULL when full (drop.threads). *created set if new. */
cp__reg_entry_t *cp__reg_get(int tid, bool *created);
/* Once, before any other use of the table: every slot holds no timer. */
void cp__reg_init(void);
/* cp__reg_mu held. Closes the entry's timer and forgets it (a tombstone). */
void cp__reg_remove(cp__reg_entry_t *e);
/* cp__reg_mu held. Marks e as the Java thread whose JNIEnv is env. */
void cp__reg_set_env(cp__reg_entry_t *e, JNIEnv *env);

/* ---- CPU engines (sampler_cpu.c) ---------------------------------------- */
extern int64_t cp__cpu_armed_ns;      /* what the timers are armed with (cp__reg_mu) */
extern bool cp__cpu_engine_decided;   /* perf probed for the current request (cp__reg_mu) */
/* cp__reg_mu held: arm / close the CPU timer or perf event of one thread. */
void cp__cpu_arm(cp__reg_entry_t *e, int64_t ns);
void cp__cpu_disarm(cp__reg_entry_t *e);
/* Java threads started since the last cp__cpu_arm_pending() (any thread;
 * relaxed: a hint, the pass re-checks each entry under cp__reg_mu). */
extern atomic_int cp__arm_pending_n;
/* last_cpu of a thread armed late: its chain starts at its birth (CPU 0). */
#define CP__CPU_SINCE_START 1
/* Takes cp__reg_mu: arms the CPU timers of the threads whose arm was
 * deferred (ThreadStart), a chunk at a time. */
void cp__cpu_arm_pending(void);
/* cp__reg_mu held: every thread for interval ns (0 = all off). */
void cp__cpu_rearm_all(int64_t ns);
/* cp__reg_mu held, nothing armed yet: as cp__cpu_rearm_all(ns), but the
 * calling thread (tid self) is armed now and every other one by the
 * harvester's next pass (cp__cpu_arm_pending, cp__cpu_defer), with its
 * first sample weighing its CPU since now. */
void cp__cpu_defer_all(int64_t ns, int self);
/* cp__reg_mu held: e's arm waits for the harvester's next pass; its first
 * sample then weighs the CPU it uses from now (its clock read here). */
void cp__cpu_defer(cp__reg_entry_t *e);
/* cp__reg_mu held: perf events or POSIX timers for the requested engine. */
void cp__cpu_decide_engine(void);
/* The CPU signal's handler. */
CP_SIGSAFE void cp__cpu_on_signal(int sig, siginfo_t *si, void *uc);

/* ---- wall clock (sampler_wall.c) ---------------------------------------- */
void cp__wall_init(void);    /* once, from cp_sampler_init */
void cp__wall_start(void);   /* starts the cprof-wall thread if it is not running */
void cp__wall_stop(void);    /* stops and joins it */
CP_SIGSAFE void cp__wall_on_signal(int sig, siginfo_t *si, void *uc);

/* ---- one sample (sampler_agct.c) ---------------------------------------- */
typedef struct {
    JNIEnv *env_id;
    jint num_frames;
    cp_ring_frame_t *frames;
} cp__asgct_trace_t;
typedef void (*cp__asgct_fn)(cp__asgct_trace_t *, jint, void *);

extern cp__asgct_fn cp__agct;
extern atomic_int cp__inflight;      /* handlers between reserve and commit; stop() waits */
extern atomic_bool cp__native_on;    /* walk native frames in the CPU handler */
extern atomic_bool cp__retry_on;     /* retry failed AGCT samples */
/* Async-signal-safe. Samples the current thread into the ring; self is its
 * table entry (NULL: unknown thread). */
CP_SIGSAFE void cp__take_sample(cp_sample_kind_t kind, uint64_t weight, void *uc, int tid,
                                cp__reg_entry_t *self);
CP_SIGSAFE uint64_t cp__ts_ns(const struct timespec *t);
/* Async-signal-safe: true for the one sample in CP__HANDLER_PROBE whose cost is measured. */
#define CP__HANDLER_PROBE 8
CP_SIGSAFE bool cp__probe_cost(void);

/* ---- crash guard (sampler_guard.c) -------------------------------------- */
extern atomic_bool cp__guard_on;
void cp__guard_prepare(void);     /* once, at init: dladdr/dlsym/dl_iterate_phdr take the
                                    loader's lock, which the sender's dlopen holds ~5 ms
                                    at start-up: not on the JVM's main thread at VMInit */
void cp__guard_install(void);     /* once, live phase (after HotSpot's handlers) */
void cp__guard_configure(void);   /* test hooks from the environment, at each start */
/* Async-signal-safe: inside the guarded region; faults on purpose when a test asks. */
CP_SIGSAFE void cp__guard_test_hook(void);

#endif
