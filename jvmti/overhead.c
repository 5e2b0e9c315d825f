/* overhead.c - effective sampling intervals and the CPU and memory budgets.
 * See overhead.h (what is decided, and why weights stay right) and
 * overhead_ctl.h (the controller).
 *
 * Threads: cp_overhead_configure from the agent lifecycle (life_mu held
 * by agent.c), cp_overhead_tick from the harvester, cp_overhead_interval /
 * cp_overhead_state from any thread. mu guards the base intervals, the
 * controller and the measurements; the effective intervals are atomics so
 * readers never wait. Lock order: agent's life_mu -> mu; the tick releases
 * mu before it calls the apply callback, which only try-locks life_mu. */
#include "overhead.h"

#include "overhead_ctl.h"
#include "log.h"
#include "stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define TICK_NS       1000000000ULL   /* the controller's tick once started */
#define START_TICK_NS 125000000ULL    /* ... and while the agent starts: a storm from the */
#define START_NS      10000000000ULL  /* first second costs the minute little (overhead.h) */
#define FIXED_JOB_PARTS 8             /* a periodic fixed-cost job may use 1/8 of the budget */
#define ATTACH_CPU_NS 30000000000ULL  /* more process CPU than this at the first tick: attached */

_Static_assert(CP_OVERHEAD__KINDS == CP_OVERHEAD_CTL_KINDS, "the controller's kinds are overhead.h's");

static const int64_t bound[CP_OVERHEAD__KINDS] = {
    CP_OVERHEAD_MAX_CPU_NS, CP_OVERHEAD_MAX_WALL_NS, CP_OVERHEAD_MAX_ALLOC, CP_OVERHEAD_MAX_LOCK_NS,
};

/* Each kind's sampling cost so far (cost.h), in overhead.h's kind order. */
static const cp_stat_id_t kind_stat[CP_OVERHEAD__KINDS] = {
    CP_ST_SAMPLING_CPU_NS, CP_ST_SAMPLING_WALL_NS, CP_ST_SAMPLING_ALLOC_NS, CP_ST_SAMPLING_LOCK_NS,
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t base[CP_OVERHEAD__KINDS];           /* mu */
static _Atomic int64_t eff[CP_OVERHEAD__KINDS];    /* written under mu */
static cp_overhead_ctl_t ctl;                      /* mu */
static int64_t budget_ppm = -1;                    /* mu; -1 = never configured */
static int64_t memory_bytes;                       /* mu */
static cp_overhead_apply_fn apply_fn;              /* set once at start-up */
static cp_overhead_signal_fn signal_fn;            /* mu; set once at start-up */
static bool apply_pending;                         /* mu: effective changed, not applied yet */
static bool started;                               /* mu: the first tick began */
static uint64_t first_tick_ns, last_tick_ns;       /* mu: CLOCK_MONOTONIC */
static uint64_t last_agent_ns, last_proc_ns;       /* mu */
static uint64_t last_kind_ns[CP_OVERHEAD__KINDS];  /* mu */
static uint64_t last_sig_ns[CP_OVERHEAD__KINDS];   /* mu: signal_kernel_ns at the last tick */
static size_t mem_used;                            /* mu */
static uint64_t apply_ns;                          /* mu: CPU of applying the last change, not judged */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec t;
    if (clock_gettime(id, &t) != 0)
        return 0;
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* The kernel's side of delivering kind k's sampling signals (cpu, wall:
 * signal set-up, sigreturn, timer interrupts), which no handler probe
 * sees; cumulative ns since the agent started. The ONE hook for the
 * estimate of issue 14 (jvmti/sigcost.h: cp_sigcost_ns, registered by
 * agent.c; sigcost.c needs the sampler, which the unit tests do not link):
 * it is added to the kind's sampling cost and to the agent's total below,
 * so the budget judges it and the share shows it. mu held. */
static uint64_t signal_kernel_ns(cp_overhead_kind_t k)
{
    if (!signal_fn || (k != CP_OVERHEAD_CPU && k != CP_OVERHEAD_WALL))
        return 0;   /* allocation and lock samples are taken without a signal */
    return signal_fn(k == CP_OVERHEAD_CPU ? CP_SIGCOST_CPU : CP_SIGCOST_WALL);
}

/* Kind k's sampling cost so far: what grows with its sampling rate. */
static uint64_t kind_cpu_ns(cp_overhead_kind_t k)
{
    return cp_stats_get(kind_stat[k]) + signal_kernel_ns(k);
}

/* The agent's CPU so far: handlers, callbacks, its threads, and the
 * kernel's side of its signals. */
static uint64_t agent_cpu_ns(void)
{
    return cp_stats_get(CP_ST_HANDLER_NS) + cp_stats_get(CP_ST_CALLBACK_NS) +
           cp_stats_get(CP_ST_AGENT_THREADS_NS) + signal_kernel_ns(CP_OVERHEAD_CPU) +
           signal_kernel_ns(CP_OVERHEAD_WALL);
}

static int64_t cap_of(int k)
{
    return base[k] > bound[k] ? base[k] : bound[k];
}

/* mu held: per kind, the largest scale that still stretches it (1 when it
 * is off). */
static void max_scales(uint32_t *m /* OUT */)
{
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++) {
        m[k] = 1;
        if (base[k] <= 0)
            continue;
        uint64_t need = (uint64_t)((cap_of(k) + base[k] - 1) / base[k]);
        uint64_t p = 1;
        while (p < need && p < (1u << 30))
            p *= 2;
        m[k] = (uint32_t)p;
    }
}

/* mu held: effective intervals from base and the scales; true if any
 * changed. */
static bool recompute(void)
{
    bool changed = false;
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++) {
        int64_t v = 0;
        if (base[k] > 0) {
            int64_t cap = cap_of(k), f = ctl.scale[k] ? (int64_t)ctl.scale[k] : 1;
            v = base[k] > cap / f ? cap : base[k] * f;
        }
        if (atomic_exchange_explicit(&eff[k], v, memory_order_relaxed) != v) /* mu held: writers serialised */
            changed = true;
    }
    return changed;
}

void cp_overhead_set_apply(cp_overhead_apply_fn fn)
{
    pthread_mutex_lock(&mu);
    apply_fn = fn;
    pthread_mutex_unlock(&mu);
}

void cp_overhead_set_signal_cost(cp_overhead_signal_fn fn)
{
    pthread_mutex_lock(&mu);
    signal_fn = fn;
    pthread_mutex_unlock(&mu);
}

void cp_overhead_configure(const cp_options_t *o)
{
    pthread_mutex_lock(&mu);
    base[CP_OVERHEAD_CPU] = o->cpu_ns;
    base[CP_OVERHEAD_WALL] = o->wall_ns;
    base[CP_OVERHEAD_ALLOC] = o->alloc_bytes;
    base[CP_OVERHEAD_LOCK] = o->lock_ns;
    memory_bytes = o->memory_bytes;
    uint32_t m[CP_OVERHEAD__KINDS];
    max_scales(m);
    if (o->overhead_ppm != budget_ppm) {
        budget_ppm = o->overhead_ppm;
        cp_overhead_ctl_init(&ctl, (uint32_t)budget_ppm, m);
        CP_LOGI("overhead budget: %s%.2f%% of the JVM's CPU", budget_ppm ? "" : "off (fixed intervals) ",
                (double)budget_ppm / 10000.0);
    } else {
        cp_overhead_ctl_set_max(&ctl, m);
    }
    recompute();
    apply_pending = false;   /* the caller applies what recompute() published */
    pthread_mutex_unlock(&mu);
}

int64_t cp_overhead_interval(cp_overhead_kind_t kind)
{
    if ((unsigned)kind >= CP_OVERHEAD__KINDS)
        return 0;
    return atomic_load_explicit(&eff[kind], memory_order_relaxed); /* a value, publishes nothing */
}

uint32_t cp_overhead_scale(void)
{
    pthread_mutex_lock(&mu);
    uint32_t k = cp_overhead_ctl_max_scale(&ctl);
    pthread_mutex_unlock(&mu);
    return k;
}

uint32_t cp_overhead_kind_scale(cp_overhead_kind_t kind)
{
    if ((unsigned)kind >= CP_OVERHEAD__KINDS)
        return 1;
    pthread_mutex_lock(&mu);
    uint32_t k = ctl.scale[kind] ? ctl.scale[kind] : 1;
    pthread_mutex_unlock(&mu);
    return k;
}

uint64_t cp_overhead_fixed_period_ns(uint64_t cost_ns)
{
    pthread_mutex_lock(&mu);
    int64_t b = budget_ppm;
    cp_overhead_ctl_bucket_t r = cp_overhead_ctl_minute(&ctl);
    pthread_mutex_unlock(&mu);
    if (b <= 0 || !cost_ns)
        return 0;
    /* the JVM's CPU rate over the minute (cores), at least 0.1 core */
    double rate = r.tick_ns ? (double)r.proc_ns / (double)r.tick_ns : 1.0;
    if (rate < CP_OVERHEAD_CTL_FLOOR_PERMILLE / 1000.0)
        rate = CP_OVERHEAD_CTL_FLOOR_PERMILLE / 1000.0;
    double share = (double)b / 1e6 / FIXED_JOB_PARTS;
    double period = (double)cost_ns / (share * rate);
    return period > 3.6e12 ? 3600000000000ULL : (uint64_t)period;
}

void cp_overhead_memory_plan(const cp_options_t *o, size_t ring_bytes, int64_t *buffer_bytes, size_t *dict_bytes)
{
    int64_t m = o->memory_bytes > 0 ? o->memory_bytes : (32LL << 20);
    int64_t b = o->buffer_bytes < m / 4 ? o->buffer_bytes : m / 4;
    int64_t d = m - (int64_t)ring_bytes - b;
    if (d < (4LL << 20))   /* memory >= 16m keeps this for the default ring */
        d = 4LL << 20;
    *buffer_bytes = b;
    *dict_bytes = (size_t)d;
}

/* mu held: the process' and the agent's CPU so far become the baselines
 * of the next tick. */
static void mark(uint64_t now, uint64_t agent, uint64_t proc, const uint64_t *kinds)
{
    last_tick_ns = now;
    last_agent_ns = agent;
    last_proc_ns = proc;
    memcpy(last_kind_ns, kinds, sizeof last_kind_ns);
}

static _Atomic uint64_t oneoff_total;   /* cp_overhead_oneoff's sum */
static uint64_t last_oneoff;            /* ... at the last tick (mu) */

void cp_overhead_oneoff(uint64_t ns)
{
    atomic_fetch_add_explicit(&oneoff_total, ns, memory_order_relaxed); /* a counter */
}

uint64_t cp_overhead_tick(size_t used)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&mu);
    mem_used = used;
    if (!started) {
        /* the first tick counts from the process' start, on both sides:
         * the JVM's start-up and the agent's (Agent_OnLoad, VMInit, the
         * first ClassPrepares) are part of the first minute */
        started = true;
        first_tick_ns = last_tick_ns = now;
        uint64_t p = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        if (p > ATTACH_CPU_NS) {   /* attached to a running JVM: from now on */
            uint64_t k[CP_OVERHEAD__KINDS];
            for (int i = 0; i < CP_OVERHEAD__KINDS; i++)
                k[i] = kind_cpu_ns((cp_overhead_kind_t)i);
            mark(now, agent_cpu_ns(), p, k);
        }
        pthread_mutex_unlock(&mu);
        return START_TICK_NS;
    }
    uint64_t period = now - first_tick_ns < START_NS ? START_TICK_NS : TICK_NS;
    if (now - last_tick_ns < period && !apply_pending) {
        pthread_mutex_unlock(&mu);
        return period - (now - last_tick_ns);
    }
    bool apply = apply_pending;
    if (now - last_tick_ns >= period) {
        uint64_t a = agent_cpu_ns(), p = clock_ns(CLOCK_PROCESS_CPUTIME_ID), k[CP_OVERHEAD__KINDS],
                 dk[CP_OVERHEAD__KINDS], ds = 0;
        /* the signal cost's estimate starts with the backlog of every
         * signal before its calibration (~0.5 s in): not this tick's cost,
         * so it moves the baselines instead (the windows' cpu.signal_ns
         * carry it) */
        for (int i = 0; i < CP_OVERHEAD__KINDS; i++) {
            uint64_t sig = signal_kernel_ns((cp_overhead_kind_t)i);
            if (sig && !last_sig_ns[i]) {
                last_kind_ns[i] += sig;
                last_agent_ns += sig;
            }
            last_sig_ns[i] = sig;
        }
        for (int i = 0; i < CP_OVERHEAD__KINDS; i++) {
            k[i] = kind_cpu_ns((cp_overhead_kind_t)i);
            dk[i] = k[i] > last_kind_ns[i] ? k[i] - last_kind_ns[i] : 0;
            ds += dk[i];
        }
        /* applying a change (re-arming every thread's timer) is the change's
         * cost, not the sampling's: left out of the judged tick (taken
         * from the kinds in proportion) */
        uint64_t da = a > last_agent_ns ? a - last_agent_ns : 0, x = apply_ns < ds ? apply_ns : ds;
        /* one-off start-up work: in the minute, not judged (overhead_ctl.h) */
        uint64_t oo_total = atomic_load_explicit(&oneoff_total, memory_order_relaxed); /* a counter */
        uint64_t oo = oo_total - last_oneoff, judged = da > x ? da - x : 0;
        last_oneoff = oo_total;
        if (oo > judged)
            oo = judged;
        for (int i = 0; i < CP_OVERHEAD__KINDS && x; i++)
            dk[i] -= (uint64_t)((double)dk[i] * (double)x / (double)ds);
        apply_ns = 0;
        uint64_t dp = p > last_proc_ns ? p - last_proc_ns : 0;
        uint32_t was[CP_OVERHEAD__KINDS];
        memcpy(was, ctl.scale, sizeof was);
        bool changed = cp_overhead_ctl_tick(&ctl, judged - oo, dk, dp, now - last_tick_ns);
        cp_overhead_ctl_add_oneoff(&ctl, oo);
        double pd = dp ? (double)dp : 1;
        CP_LOGD("overhead tick: agent %.3f%% (sampling cpu %.3f%% wall %.3f%% alloc %.3f%% lock %.3f%%) of %.0f ms"
                " process CPU, x%u/x%u/x%u/x%u", (double)da * 100 / pd, (double)dk[0] * 100 / pd,
                (double)dk[1] * 100 / pd, (double)dk[2] * 100 / pd, (double)dk[3] * 100 / pd, pd / 1e6,
                ctl.scale[0], ctl.scale[1], ctl.scale[2], ctl.scale[3]);
        mark(now, a, p, k);
        if (changed) {
            CP_LOGI("overhead: agent at %.2f%% of the JVM's CPU (budget %.2f%%): intervals cpu x%u wall x%u"
                    " alloc x%u lock x%u (step %s; judged sampling cpu %.3f%% wall %.3f%% alloc %.3f%% lock %.3f%%)",
                    cp_overhead_ctl_last_ppm(&ctl) / 10000.0, (double)budget_ppm / 10000.0, ctl.scale[0],
                    ctl.scale[1], ctl.scale[2], ctl.scale[3], ctl.scale[0] > was[0] || ctl.scale[1] > was[1] ||
                    ctl.scale[2] > was[2] || ctl.scale[3] > was[3] ? "up" : "down", ctl.judged[0] * 100,
                    ctl.judged[1] * 100, ctl.judged[2] * 100, ctl.judged[3] * 100);
            if (recompute())
                apply = true;
        }
    }
    cp_overhead_apply_fn fn = apply_fn;
    apply_pending = false;
    period = now - first_tick_ns < START_NS ? START_TICK_NS : TICK_NS;
    pthread_mutex_unlock(&mu);
    if (apply && fn) {
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        bool done = fn();
        uint64_t c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        pthread_mutex_lock(&mu);
        if (!done)
            apply_pending = true;   /* the lifecycle was busy: again at the next call */
        apply_ns += c1 > c0 ? c1 - c0 : 0;
        pthread_mutex_unlock(&mu);
        if (!done)
            return 0;
    }
    return period;
}

uint32_t cp_overhead_state(cp_counter_t *out, uint32_t max)
{
    static const char *const names[CP_OVERHEAD__KINDS] = {
        "interval.cpu_ns", "interval.wall_ns", "interval.alloc_bytes", "interval.lock_ns",
    };
    static const char *const scales[CP_OVERHEAD__KINDS] = {
        "overhead.scale.cpu", "overhead.scale.wall", "overhead.scale.alloc", "overhead.scale.lock",
    };
    static const char *const costs[CP_OVERHEAD__KINDS] = {
        "overhead.minute_ppm.cpu", "overhead.minute_ppm.wall", "overhead.minute_ppm.alloc",
        "overhead.minute_ppm.lock",
    };
    cp_counter_t tmp[CP_OVERHEAD_STATE_MAX];
    uint32_t n = 0;
    pthread_mutex_lock(&mu);
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++)
        tmp[n++] = (cp_counter_t){names[k], (uint64_t)cp_overhead_interval((cp_overhead_kind_t)k)};
    tmp[n++] = (cp_counter_t){"overhead.budget_ppm", (uint64_t)(budget_ppm > 0 ? budget_ppm : 0)};
    tmp[n++] = (cp_counter_t){"overhead.minute_ppm", cp_overhead_ctl_minute_ppm(&ctl)};
    tmp[n++] = (cp_counter_t){"overhead.last_ppm", cp_overhead_ctl_last_ppm(&ctl)};
    tmp[n++] = (cp_counter_t){"overhead.scale", cp_overhead_ctl_max_scale(&ctl)};
    tmp[n++] = (cp_counter_t){"overhead.changes", ctl.changes};
    tmp[n++] = (cp_counter_t){"memory.budget_bytes", (uint64_t)memory_bytes};
    tmp[n++] = (cp_counter_t){"memory.used_bytes", (uint64_t)mem_used};
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++)
        tmp[n++] = (cp_counter_t){scales[k], ctl.scale[k] ? ctl.scale[k] : 1};
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++)
        tmp[n++] = (cp_counter_t){costs[k], cp_overhead_ctl_minute_kind_ppm(&ctl, k)};
    pthread_mutex_unlock(&mu);
    if (n > max)
        n = max;
    memcpy(out, tmp, n * sizeof *out);
    return n;
}
