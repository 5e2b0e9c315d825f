/* sampler_cpu.c - the CPU engines and the CPU signal handler. See sampler.h
 * (cpu.engine) and sampler_int.h.
 *
 * perf: a perf_event_open cpu-clock event per thread (perf.h), signalling
 * through O_ASYNC/F_SETSIG, used only on SIGPROF (a real-time signal
 * would queue and overflow into SIGIO; see cp__cpu_decide_engine). timer:
 * a POSIX timer on each thread's CPU clock. itimer: the process-wide
 * ITIMER_PROF when per-thread timers cannot be created, never beside them.
 * Timers change only under cp__reg_mu; the handler only reads. */
#include "sampler_int.h"

#include "error.h"
#include "log.h"
#include "stats.h"

#include "perf.h"
#include "sigcost.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

static atomic_bool cpu_delta_on; /* per-thread clocks: weigh CPU samples by the thread's CPU delta */
/* The longer of the current and the previous interval: a delta chain kept
 * across a change to a shorter interval spans up to the old one. */
static _Atomic int64_t cpu_prev_ns;
static bool use_itimer;          /* per-thread timers failed: ITIMER_PROF (cp__reg_mu) */
int64_t cp__cpu_armed_ns;        /* what the timers are armed with (cp__reg_mu) */
static int g_engine_req = CP_SAMPLER_ENGINE_AUTO;  /* asked (cp__reg_mu) */
static bool use_perf;            /* perf cpu-clock events in use (cp__reg_mu) */
static int g_perf_fds;           /* perf events open (cp__reg_mu) */
bool cp__cpu_engine_decided;     /* perf probed for the current request (cp__reg_mu) */

/* cp__reg_mu held. */
void cp__cpu_disarm(cp__reg_entry_t *e)
{
    if (e->perf_fd1) {
        cp_perf_close(e->perf_fd1 - 1);
        e->perf_fd1 = 0;
        g_perf_fds--;
    }
    if (e->has_timer) {
        timer_delete(e->timer);
        e->has_timer = false;
    }
}

/* cp__reg_mu held. Disarms every registered thread's timer (free slots and
 * tombstones hold none: cp__reg_init, cp__reg_remove). */
static void disarm_all(void)
{
    for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1))
        if (atomic_load_explicit(&cp__reg[i].tid, memory_order_relaxed) > 0) /* cp__reg_mu held */
            cp__cpu_disarm(&cp__reg[i]);
}

/* cp__reg_mu held. The application's file descriptors come first: one perf fd
 * per thread counts against the process' RLIMIT_NOFILE, so a JVM with a
 * low `ulimit -n` and many threads would find open() failing (EMFILE)
 * because of the profiler. A new perf fd is kept only if it leaves a
 * reserve of a quarter of the soft limit (at least 16): the kernel hands
 * out the lowest free number, so an fd numbered `fd` means 0..fd-1 are all
 * taken; and the agent never holds more than half the limit in perf fds
 * (holes below high-numbered application fds). A thread refused here gets
 * a POSIX timer (no fd), counted in cpu.perf_fd_reserve. */
static bool perf_fd_fits(int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
        return true;
    long lim = (long)rl.rlim_cur;
    long reserve = lim / 4 > 16 ? lim / 4 : 16;
    return fd < lim - reserve && g_perf_fds < lim / 2;
}

/* cp__reg_mu held. Per-thread CPU timers failed for a reason that is not the
 * thread's (timer_create: EAGAIN from RLIMIT_SIGPENDING, which counts every
 * POSIX timer of the user; ENOTSUP; ...). ITIMER_PROF is process-wide: it
 * samples whichever thread burns CPU, so it must not run beside per-thread
 * timers or perf events - a thread with both would be counted twice. Every
 * per-thread timer and perf event is closed and ITIMER_PROF armed at once
 * (not at the next re-arm: until then the threads without a timer would
 * go unsampled). */
static void switch_to_itimer(int64_t ns, int err)
{
    CP_LOGW("per-thread CPU timers unavailable (%s); every thread moves to ITIMER_PROF", strerror(err));
    use_itimer = true;
    cp_stats_add(CP_ST_ITIMER_SWITCH, 1);
    disarm_all();
    atomic_store_explicit(&cpu_delta_on, false, memory_order_relaxed); /* config flag */
    if (cp__cpu_sig != SIGPROF) {
        CP_LOGE("no per-thread CPU timers and SIGPROF is taken: CPU sampling off");
        return;
    }
    struct itimerval it = {{0, 0}, {0, 0}};
    it.it_interval.tv_sec = ns / 1000000000LL;
    it.it_interval.tv_usec = (ns % 1000000000LL) / 1000;
    it.it_value = it.it_interval;
    setitimer(ITIMER_PROF, &it, NULL);
}

/* cp__reg_mu held. Creates and arms the CPU timer of thread e->tid. A
 * thread whose arm was deferred (cp__cpu_arm_pending) starts its delta
 * chain at its birth (CP__CPU_SINCE_START): its first sample weighs all
 * the CPU it used before, so a late arm loses no CPU time. One deferred
 * at the first start (cp__cpu_defer) starts it at its clock then. */
void cp__cpu_arm(cp__reg_entry_t *e, int64_t ns)
{
    bool born = e->arm_pending && !e->arm_fresh, fresh = e->arm_fresh;
    e->arm_pending = false;
    e->arm_fresh = false;
    if (use_itimer || ns <= 0)
        return;
    cp__cpu_disarm(e);
    /* next sample starts a new delta chain (a deferred one: where it was deferred) */
    if (!fresh)
        atomic_store_explicit(&e->last_cpu, born ? CP__CPU_SINCE_START : 0, memory_order_relaxed);
    int tid = atomic_load_explicit(&e->tid, memory_order_relaxed); /* cp__reg_mu held */
    if (use_perf) {
        int fd = cp_perf_open(tid, ns, cp__cpu_sig);
        if (fd >= 0 && perf_fd_fits(fd)) {
            e->perf_fd1 = fd + 1;
            g_perf_fds++;
            cp_stats_add(CP_ST_CPU_ARMED, 1);
            return;
        }
        if (fd >= 0) {
            cp_perf_close(fd);
            cp_stats_add(CP_ST_PERF_FD_RESERVE, 1);
        } else if (fd == -ESRCH) {   /* thread already gone */
            return;
        }
        cp_stats_add(CP_ST_PERF_FALLBACK, 1);   /* e.g. EMFILE: this thread gets a POSIX timer */
    }
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = cp__cpu_sig;
    sev._sigev_un._tid = tid;
    /* The kernel's per-thread CPU clock id: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED). */
    clockid_t clk = ((~(clockid_t)tid) << 3) | 6;
    if (timer_create(clk, &sev, &e->timer) != 0) {
        if (errno == EINVAL || errno == ESRCH)   /* thread already gone */
            return;
        switch_to_itimer(ns, errno);
        return;
    }
    struct itimerspec its;
    its.it_interval.tv_sec = ns / 1000000000LL;
    its.it_interval.tv_nsec = ns % 1000000000LL;
    /* Random first expiry: threads started together do not tick together. */
    int64_t first = ns / 2 + (int64_t)((uint32_t)tid * 2654435761u % (uint64_t)(ns / 2 + 1));
    its.it_value.tv_sec = first / 1000000000LL;
    its.it_value.tv_nsec = first % 1000000000LL;
    if (timer_settime(e->timer, 0, &its, NULL) != 0) {
        timer_delete(e->timer);
        return;
    }
    e->has_timer = true;
    cp_stats_add(CP_ST_CPU_ARMED, 1);
}

atomic_int cp__arm_pending_n;

/* Harvester. A Java thread's timer is armed here, not in its ThreadStart:
 * a perf event costs ~20 us of system calls to open, set up and close
 * (a POSIX timer ~10 us), which a JVM that starts and joins many short
 * threads paid for every one of them, mostly for threads that end before
 * they use an interval of CPU (a perf cpu-clock event's first sample needs
 * a whole interval of the thread's CPU). Threads still alive at the next
 * pass (the harvester polls every 2-50 ms, up to 400 ms when the budget
 * stretched the intervals) are armed; their CPU before it is counted by
 * their first sample. Chunks of 256 slots per lock hold, so ThreadStarts
 * never wait long for the table. */
void cp__cpu_arm_pending(void)
{
    if (atomic_exchange_explicit(&cp__arm_pending_n, 0, memory_order_relaxed) == 0) /* a hint */
        return;
    for (int base = cp__reg_walk(0); base < CP__REG_SLOTS; base = cp__reg_walk(base + 256)) {
        pthread_mutex_lock(&cp__reg_mu);
        int64_t ns = cp__cpu_armed_ns;
        for (int i = base; i < base + 256 && i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
            cp__reg_entry_t *e = &cp__reg[i];
            if (!e->arm_pending)
                continue;
            if (atomic_load_explicit(&e->tid, memory_order_relaxed) > 0 && ns > 0) /* cp__reg_mu held */
                cp__cpu_arm(e, ns);
            e->arm_pending = false;
            e->arm_fresh = false;
        }
        pthread_mutex_unlock(&cp__reg_mu);
    }
}

/* Weight of a CPU sample. With per-thread clocks (perf cpu-clock or POSIX
 * thread CPU timers) it is the CPU the thread used since its previous
 * sample, read from CLOCK_THREAD_CPUTIME_ID: the same clock ThreadMXBean and
 * top report. A fixed interval per sample would drift from it: perf's
 * cpu-clock runs while the task is on a CPU, including time the hypervisor
 * stole (5% on a loaded VM), and POSIX CPU timers fire late by up to a
 * scheduler tick. The first sample of a chain, a delta over 8 intervals
 * (the chain broke: timer re-armed, signals lost for long) and ITIMER_PROF
 * (process-wide: the delta would not be this signal's share) keep the
 * nominal weight. */
/* e: the thread's table entry, NULL for a thread the agent does not know. */
static CP_SIGSAFE uint64_t cpu_weight(cp__reg_entry_t *e, uint64_t now, uint64_t nominal)
{
    if (!atomic_load_explicit(&cpu_delta_on, memory_order_relaxed)) /* config flag */
        return nominal;
    if (!e)
        return nominal;
    uint64_t prev = atomic_exchange_explicit(&e->last_cpu, now, memory_order_relaxed); /* own thread */
    /* after a change to a shorter interval the first delta spans the old one */
    uint64_t span = (uint64_t)atomic_load_explicit(&cpu_prev_ns, memory_order_relaxed); /* a bound */
    if (span < nominal)
        span = nominal;
    if (prev == CP__CPU_SINCE_START && now > prev)
        return now;   /* first sample after a deferred arm: all the thread's CPU so far */
    if (prev == 0 || now <= prev || now - prev > 8 * span)
        return nominal;
    return now - prev;
}

CP_SIGSAFE void cp__cpu_on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (cp_sigcost_on_signal(CP_SIGCOST_CPU))   /* the calibration's signal: its cost is what is measured */
        return;
    if (atomic_load_explicit(&cp__cpu_on, memory_order_acquire)) { /* sees ring/agct set before start */
        uint64_t ns = (uint64_t)atomic_load_explicit(&cp__cpu_interval_ns, memory_order_relaxed); /* paired with cp__cpu_on */
        uint64_t ticks = 1;
        if (si && si->si_code == SI_TIMER && si->si_overrun > 0)   /* perf events: POLL_IN, no overrun */
            ticks += (uint64_t)si->si_overrun;
        cp_stats_add(CP_ST_CPU_TICKS, ticks);
        bool probe = cp__probe_cost();
        struct timespec t0 = {0, 0}, t1;   /* clock_gettime is async-signal-safe */
        if (probe || atomic_load_explicit(&cpu_delta_on, memory_order_relaxed)) /* config flag */
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        int tid = cp__tid();
        cp__reg_entry_t *self = cp__reg_find(tid);
        cp__take_sample(CP_SAMPLE_CPU, cpu_weight(self, cp__ts_ns(&t0), ns * ticks), uc, tid, self);
        if (probe) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
            uint64_t spent = (cp__ts_ns(&t1) - cp__ts_ns(&t0)) * CP__HANDLER_PROBE;
            cp_stats_add(CP_ST_HANDLER_NS, spent);
            cp_stats_add(CP_ST_SAMPLING_CPU_NS, spent);   /* the budget's per-kind part (overhead.h) */
        }
    }
    errno = saved;
}

/* cp__reg_mu held. A new period for the thread's armed timer or perf event,
 * in place: one system call instead of closing and creating it (with 2,000
 * threads a re-arm cost ~20-50 ms of CPU). False when it has neither or the
 * call failed (the caller re-arms it). */
static bool change_period(cp__reg_entry_t *e, int64_t ns)
{
    if (e->perf_fd1)
        return cp_perf_set_period(e->perf_fd1 - 1, ns) == 0;
    if (!e->has_timer)
        return false;
    struct itimerspec its;
    its.it_interval.tv_sec = ns / 1000000000LL;
    its.it_interval.tv_nsec = ns % 1000000000LL;
    its.it_value = its.it_interval;
    return timer_settime(e->timer, 0, &its, NULL) == 0;
}

/* cp__reg_mu held: arm/disarm every thread for the current cpu interval.
 * An interval change (armed before, armed after) keeps each thread's delta
 * chain: its first sample on the new timer is weighted by the thread's CPU
 * since its last sample on the old one, so no CPU time is lost or counted
 * twice across the change (overhead.h). */
void cp__cpu_rearm_all(int64_t ns)
{
    bool keep = ns > 0 && cp__cpu_armed_ns > 0;
    if (keep && cp__cpu_armed_ns > ns)
        atomic_store_explicit(&cpu_prev_ns, cp__cpu_armed_ns, memory_order_relaxed); /* a bound, publishes nothing */
    else if (ns > 0)
        atomic_store_explicit(&cpu_prev_ns, ns, memory_order_relaxed); /* a bound, publishes nothing */
    for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
        cp__reg_entry_t *e = &cp__reg[i];
        if (atomic_load_explicit(&e->tid, memory_order_relaxed) <= 0) /* cp__reg_mu held */
            continue;
        if (ns > 0) {
            if (keep && change_period(e, ns))
                continue;   /* the timer or event runs on with the new period */
            uint64_t last = atomic_load_explicit(&e->last_cpu, memory_order_relaxed); /* own thread's chain */
            cp__cpu_arm(e, ns);
            if (keep && last != 0)
                atomic_store_explicit(&e->last_cpu, last, memory_order_relaxed); /* see above */
        } else {
            cp__cpu_disarm(e);
        }
    }
    if (use_itimer) {
        struct itimerval it = {{0, 0}, {0, 0}};
        if (ns > 0) {
            it.it_interval.tv_sec = ns / 1000000000LL;
            it.it_interval.tv_usec = (ns % 1000000000LL) / 1000;
            it.it_value = it.it_interval;
        }
        if (cp__cpu_sig == SIGPROF)
            setitimer(ITIMER_PROF, &it, NULL);
        else if (ns > 0)   /* ITIMER_PROF signals SIGPROF, which is somebody else's */
            CP_LOGE("no per-thread CPU timers and SIGPROF is taken: CPU sampling off");
        if (ns <= 0) {   /* drop per-thread timers made before the fallback */
            disarm_all();
        }
    }
    cp__cpu_armed_ns = ns;
    atomic_store_explicit(&cpu_delta_on, !use_itimer, memory_order_relaxed); /* config flag */
}

void cp__cpu_defer(cp__reg_entry_t *e)
{
    int tid = atomic_load_explicit(&e->tid, memory_order_relaxed); /* cp__reg_mu held */
    clockid_t clk = ((~(clockid_t)tid) << 3) | 6;   /* its CPU clock (cp__cpu_arm) */
    struct timespec ts;
    uint64_t now = clock_gettime(clk, &ts) == 0 ? (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec : 0;
    /* 0 or 1 would read as "no chain" / "since birth" (cpu_weight) */
    atomic_store_explicit(&e->last_cpu, now > CP__CPU_SINCE_START ? now : 0, memory_order_relaxed); /* no signal yet */
    e->arm_pending = true;
    e->arm_fresh = true;
    atomic_fetch_add_explicit(&cp__arm_pending_n, 1, memory_order_relaxed); /* a hint */
}

void cp__cpu_defer_all(int64_t ns, int self)
{
    if (use_itimer || ns <= 0 || cp__cpu_armed_ns != 0) {
        cp__cpu_rearm_all(ns);
        return;
    }
    atomic_store_explicit(&cpu_prev_ns, ns, memory_order_relaxed); /* a bound, publishes nothing */
    for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
        cp__reg_entry_t *e = &cp__reg[i];
        int tid = atomic_load_explicit(&e->tid, memory_order_relaxed); /* cp__reg_mu held */
        if (tid <= 0)
            continue;
        if (tid == self)
            cp__cpu_arm(e, ns);
        else
            cp__cpu_defer(e);
    }
    cp__cpu_armed_ns = ns;
    atomic_store_explicit(&cpu_delta_on, true, memory_order_relaxed); /* config flag */
}

/* cp__reg_mu held, timers disarmed or about to be re-armed: picks perf events
 * or POSIX timers for the requested engine. */
void cp__cpu_decide_engine(void)
{
    cp__cpu_engine_decided = true;
    use_perf = false;
    if (g_engine_req == CP_SAMPLER_ENGINE_TIMER)
        return;
    const char *why = "";
    if (cp__cpu_sig >= SIGRTMIN) {
        /* perf events signal through O_ASYNC/F_SETSIG. A real-time signal
         * is queued once per sample; when the queue reaches
         * RLIMIT_SIGPENDING (a CPU-bound thread that blocks signals, a low
         * `ulimit -i`) the kernel falls back to SIGIO, whose default action
         * kills the JVM. SIGPROF does not queue (one pending at most, no
         * fallback); POSIX timers preallocate their one signal and count
         * overruns. So with SIGPROF taken, CPU sampling uses timers. */
        CP_LOGI("CPU sampling on real-time signal %d: POSIX CPU timers, not perf events (a perf signal queue "
                "that overflows RLIMIT_SIGPENDING makes the kernel send SIGIO, which kills the process)", cp__cpu_sig);
        return;
    }
    if (cp_perf_probe(&why) == 0) {
        use_perf = true;
        CP_LOGI("CPU sampling: perf_event_open cpu-clock per thread (signal %d)", cp__cpu_sig);
    } else if (g_engine_req == CP_SAMPLER_ENGINE_PERF) {
        CP_LOGW("cpu.engine=perf: %s; using POSIX CPU timers (the kernel tick limits the rate: see rate.cpu_mhz)", why);
    } else {
        CP_LOGI("perf events unavailable (%s); CPU sampling with POSIX CPU timers", why);
    }
}

void cp_sampler_configure(int engine, bool native_frames)
{
    atomic_store_explicit(&cp__native_on, native_frames, memory_order_relaxed); /* config flag */
    pthread_mutex_lock(&cp__reg_mu);
    if (engine != g_engine_req) {
        g_engine_req = engine;
        if (cp__cpu_engine_decided) {
            int64_t ns = cp__cpu_armed_ns;
            cp__cpu_rearm_all(0);          /* close events / timers of the old engine */
            cp__cpu_engine_decided = false;
            if (ns > 0) {
                cp__cpu_decide_engine();
                cp__cpu_rearm_all(ns);
            }
        }
    }
    pthread_mutex_unlock(&cp__reg_mu);
}

const char *cp_sampler_engine(void)
{
    pthread_mutex_lock(&cp__reg_mu);
    const char *e = use_perf ? "perf" : use_itimer ? "itimer" : "timer";
    pthread_mutex_unlock(&cp__reg_mu);
    return e;
}

bool cp_sampler_per_thread_timers(void) { return !use_itimer; }
