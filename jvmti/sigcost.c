/* sigcost.c - the kernel's cost per sampling signal, calibrated on the
 * harvester. See sigcost.h (what is measured, and why).
 *
 * State: the signal counts are relaxed atomics bumped by the handlers; the
 * per-signal costs are written once, when calibration ends, and read by
 * anyone; the calibration's own state is the harvester's alone. A thread
 * is "calibrating" through a thread-local flag that only the handlers on
 * that same thread read, so no ordering is needed beyond the signal
 * boundary (a signal handler sees its own thread's earlier stores). */
#include "sigcost.h"
#include "clock.h"

#include "log.h"
#include "perf.h"
#include "sampler.h"
#include "sampler_int.h"
#include "stats.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS        3             /* ~2.5 ms each; rounds of one JVM spread by ~4 us (of ~30):
                                     * the median of 3 moves by ~2 us from that of 5 */
#define START_NS      500000000ULL  /* after the harvester's first step: past the JVM's start-up */
#define GAP_NS        50000000ULL   /* between rounds: the harvester keeps draining */
#define SPIN_NS       1000000ULL    /* CPU of one bare spin */
#define PERF_PERIOD   100000        /* 10 kHz: ~14 signals per spin (5 kHz gave 5-9: too few to resolve
                                     * the spin's own noise; at 1 kHz the path may be colder: docs/agent.md) */
#define SELF_SIGNALS  32            /* tgkill round trips per round */
#define MAX_NS        1000000       /* a per-signal cost above 1 ms is a broken measurement */
#define MIN_SIGNALS   4             /* fewer signals in a round: no estimate */
#define ATTEMPTS      3             /* sets of rounds while the CPU signal's cost comes out <= 0 */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "read by any thread, bumped by handlers");

static _Atomic uint64_t signals[CP_SIGCOST__KINDS];     /* delivered, outside calibration */
static _Atomic uint64_t per_signal[CP_SIGCOST__KINDS];  /* ns; written once at the end */
static atomic_bool done;                                /* calibration ended */
static _Atomic uint64_t published;                      /* of cp_sigcost_ns(both), into cpu.signal_ns */

static CP_TLS volatile int calibrating;           /* this thread is calibrating: handlers return at once */
static CP_TLS volatile uint64_t calib_signals;    /* signals it received meanwhile */

/* harvester only */
static uint64_t first_ns, last_round_ns, spin_iters;
static int rounds, attempts;
static int64_t est[CP_SIGCOST__KINDS][ROUNDS];
static int n_est[CP_SIGCOST__KINDS];
static volatile uint64_t sink;

CP_SIGSAFE bool cp_sigcost_on_signal(cp_sigcost_kind_t k)
{
    if (CP_UNLIKELY(calibrating)) {
        calib_signals++;   /* own thread's TLS: the harvester reads it after the signal returned */
        return true;
    }
    atomic_fetch_add_explicit(&signals[k], 1, memory_order_relaxed); /* statistic only */
    return false;
}

uint64_t cp_sigcost_signals(cp_sigcost_kind_t k)
{
    return atomic_load_explicit(&signals[k], memory_order_relaxed); /* statistic only */
}

uint64_t cp_sigcost_per_signal_ns(cp_sigcost_kind_t k)
{
    return atomic_load_explicit(&per_signal[k], memory_order_relaxed); /* a value, publishes nothing */
}

uint64_t cp_sigcost_ns(cp_sigcost_kind_t k)
{
    return cp_sigcost_signals(k) * cp_sigcost_per_signal_ns(k);
}

bool cp_sigcost_calibrated(void)
{
    return atomic_load_explicit(&done, memory_order_relaxed); /* a flag, publishes nothing */
}

void cp_sigcost_publish(void)
{
    uint64_t total = cp_sigcost_ns(CP_SIGCOST_CPU) + cp_sigcost_ns(CP_SIGCOST_WALL);
    uint64_t old = atomic_load_explicit(&published, memory_order_relaxed); /* CAS below orders it */
    /* both terms only grow, so does total: whoever moves `published` adds the difference once */
    while (total > old) {
        if (atomic_compare_exchange_weak_explicit(&published, &old, total, memory_order_relaxed,
                                                  memory_order_relaxed)) { /* a statistic */
            cp_stats_add(CP_ST_SIGNAL_NS, total - old);
            break;
        }
    }
}


static uint64_t thread_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* A fixed amount of work the compiler cannot drop. */
static __attribute__((noinline)) void spin(uint64_t n)
{
    uint64_t x = sink | 1;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink = x;
}

/* Spins spin_iters in 16 chunks; gives up (false) past `limit` ns of CPU,
 * so a VM where signals cost more than the period cannot hold the
 * harvester. *cpu (OUT) the CPU it took, *sigs (OUT) signals received. */
static bool timed_spin(uint64_t limit, uint64_t *cpu, uint64_t *sigs)
{
    uint64_t s0 = calib_signals, c0 = thread_ns();
    for (int i = 0; i < 16; i++) {
        spin(spin_iters / 16);
        if (thread_ns() - c0 > limit)
            return false;
    }
    *cpu = thread_ns() - c0;
    *sigs = calib_signals - s0;
    return true;
}

/* The perf engine's cost: the spin bare and under a cpu-clock event of
 * PERF_PERIOD on this thread, in an order that alternates by round. */
static bool round_perf(int tid, int64_t *ns)
{
    uint64_t cb = 0, sb = 0, cw = 0, sw = 0;
    bool with_first = rounds & 1, ok = true;
    for (int phase = 0; phase < 2 && ok; phase++) {
        if ((phase == 0) == with_first) {
            int fd = cp_perf_open(tid, PERF_PERIOD, cp__cpu_sig);
            if (fd < 0)
                return false;
            ok = timed_spin(20 * SPIN_NS, &cw, &sw);
            cp_perf_close(fd);   /* a signal still pending arrives before this returns */
        } else {
            ok = timed_spin(20 * SPIN_NS, &cb, &sb);
        }
    }
    CP_LOGD("signal cost round %d (perf): bare %llu ns %llu signals, with %llu ns %llu signals%s", rounds,
            (unsigned long long)cb, (unsigned long long)sb, (unsigned long long)cw, (unsigned long long)sw,
            ok ? "" : " (over the CPU limit)");
    if (!ok || sw < sb + MIN_SIGNALS)
        return false;
    *ns = ((int64_t)cw - (int64_t)cb) / (int64_t)(sw - sb);
    return true;
}

/* A signal sent to this thread by itself: the whole round trip. */
static bool round_self(int tid, int sig, int64_t *ns)
{
    pid_t pid = getpid();
    uint64_t s0 = calib_signals, c0 = thread_ns();
    for (int i = 0; i < SELF_SIGNALS; i++)
        syscall(SYS_tgkill, pid, tid, sig);
    uint64_t c1 = thread_ns(), s = calib_signals - s0;
    if (s < MIN_SIGNALS)
        return false;
    *ns = (int64_t)(c1 - c0) / (int64_t)s;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of kind k's rounds, -1 if too few. */
static int64_t median_of(int k)
{
    int n = n_est[k];
    if (n < (ROUNDS + 1) / 2)
        return -1;
    qsort(est[k], (size_t)n, sizeof est[k][0], cmp_i64);
    return est[k][n / 2];
}

static void finish(void)
{
    /* a signal costs the kernel tens of us: a CPU estimate <= 0 (the
     * rounds failed, or a neighbour's noise swamped the spins) is retried
     * with a new set of rounds, twice, before it is left at 0 */
    if (median_of(CP_SIGCOST_CPU) <= 0 && ++attempts < ATTEMPTS) {
        CP_LOGD("signal cost: CPU rounds gave no estimate (%d of %d); another set", n_est[CP_SIGCOST_CPU], ROUNDS);
        rounds = 0;
        memset(n_est, 0, sizeof n_est);
        return;
    }
    for (int k = 0; k < CP_SIGCOST__KINDS; k++) {
        int64_t v = median_of(k);
        if (v < 0 && n_est[k] >= (ROUNDS + 1) / 2)
            v = 0;   /* below what the spin's noise resolves: nothing to add */
        if (v < 0 || v > MAX_NS) {
            cp_stats_add(CP_ST_SIGCOST_FAIL, 1);
            v = 0;
        }
        atomic_store_explicit(&per_signal[k], (uint64_t)v, memory_order_relaxed); /* read as a value */
    }
    atomic_store_explicit(&done, true, memory_order_relaxed); /* a flag */
    CP_LOGI("signal delivery cost: cpu %.1f us (%d of %d rounds), wall %.1f us (%d of %d rounds)",
            cp_sigcost_per_signal_ns(CP_SIGCOST_CPU) / 1e3, n_est[CP_SIGCOST_CPU], ROUNDS,
            cp_sigcost_per_signal_ns(CP_SIGCOST_WALL) / 1e3, n_est[CP_SIGCOST_WALL], ROUNDS);
}

static void calibrate_round(void)
{
    int tid = cp__tid();
    bool perf = !strcmp(cp_sampler_engine(), "perf");
    calibrating = 1;
    if (!spin_iters) {   /* size the spin to SPIN_NS on this CPU */
        uint64_t c0 = thread_ns();
        spin(1 << 16);
        uint64_t d = thread_ns() - c0;
        spin_iters = d ? (uint64_t)(1 << 16) * SPIN_NS / d : (1 << 20);
        if (spin_iters < (1 << 14))
            spin_iters = 1 << 14;
        if (spin_iters > (1 << 26))
            spin_iters = 1 << 26;
    }
    int64_t ns = 0;
    if (perf ? round_perf(tid, &ns) : round_self(tid, cp__cpu_sig, &ns))
        est[CP_SIGCOST_CPU][n_est[CP_SIGCOST_CPU]++] = ns;
    if (round_self(tid, cp__wall_sig, &ns))
        est[CP_SIGCOST_WALL][n_est[CP_SIGCOST_WALL]++] = ns;
    calibrating = 0;
    if (++rounds == ROUNDS)
        finish();
}

bool cp_sigcost_step(bool final)
{
    bool ran = false;
    uint64_t now = cp_mono_ns();
    if (!first_ns) {
        first_ns = now;
        if (getenv("CPROF_NO_SIGCOST")) {   /* benches and tests: the accounting without it */
            atomic_store_explicit(&done, true, memory_order_relaxed); /* a flag */
            CP_LOGI("signal delivery cost: not calibrated (CPROF_NO_SIGCOST)");
        }
    }
    if (!final && !cp_sigcost_calibrated() && now - first_ns >= START_NS && now - last_round_ns >= GAP_NS &&
        (atomic_load_explicit(&cp__cpu_on, memory_order_relaxed) || /* a hint: sampling is on */
         atomic_load_explicit(&cp__wall_on, memory_order_relaxed))) {
        calibrate_round();
        last_round_ns = cp_mono_ns();
        ran = true;
    }
    cp_sigcost_publish();
    return ran;
}
