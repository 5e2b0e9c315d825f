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

#define TICK_NS 1000000000ULL

static const int64_t bound[CP_OVERHEAD__KINDS] = {
    CP_OVERHEAD_MAX_CPU_NS, CP_OVERHEAD_MAX_WALL_NS, CP_OVERHEAD_MAX_ALLOC, CP_OVERHEAD_MAX_LOCK_NS,
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t base[CP_OVERHEAD__KINDS];           /* mu */
static _Atomic int64_t eff[CP_OVERHEAD__KINDS];    /* written under mu */
static cp_overhead_ctl_t ctl;                      /* mu */
static int64_t budget_ppm = -1;                    /* mu; -1 = never configured */
static int64_t memory_bytes;                       /* mu */
static cp_overhead_apply_fn apply_fn;              /* set once at start-up */
static bool apply_pending;                         /* mu: effective changed, not applied yet */
static uint64_t last_tick_ns, last_agent_ns, last_sampling_ns, last_proc_ns;  /* mu */
static size_t mem_used;                            /* mu */
static uint64_t apply_ns;                          /* mu: CPU of applying the last change, not judged */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec t;
    if (clock_gettime(id, &t) != 0)
        return 0;
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static uint64_t agent_cpu_ns(void)
{
    return cp_stats_get(CP_ST_HANDLER_NS) + cp_stats_get(CP_ST_CALLBACK_NS) +
           cp_stats_get(CP_ST_AGENT_THREADS_NS);
}

/* What grows with the sampling rate: the handlers, and the rest counted
 * in cpu.sampling_ns (the wall thread, the drains, alloc and lock samples). */
static uint64_t sampling_cpu_ns(void)
{
    return cp_stats_get(CP_ST_HANDLER_NS) + cp_stats_get(CP_ST_SAMPLING_NS);
}

static int64_t cap_of(int k)
{
    return base[k] > bound[k] ? base[k] : bound[k];
}

/* mu held: the largest scale that still stretches some active kind. */
static uint32_t max_scale(void)
{
    uint64_t m = 1;
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++) {
        if (base[k] <= 0)
            continue;
        uint64_t need = (uint64_t)((cap_of(k) + base[k] - 1) / base[k]);
        uint64_t p = 1;
        while (p < need && p < (1u << 30))
            p *= 2;
        if (p > m)
            m = p;
    }
    return (uint32_t)m;
}

/* mu held: effective intervals from base and scale; true if any changed. */
static bool recompute(void)
{
    bool changed = false;
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++) {
        int64_t v = 0;
        if (base[k] > 0) {
            int64_t cap = cap_of(k);
            v = base[k] > cap / (int64_t)ctl.scale ? cap : base[k] * (int64_t)ctl.scale;
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

void cp_overhead_configure(const cp_options_t *o)
{
    pthread_mutex_lock(&mu);
    base[CP_OVERHEAD_CPU] = o->cpu_ns;
    base[CP_OVERHEAD_WALL] = o->wall_ns;
    base[CP_OVERHEAD_ALLOC] = o->alloc_bytes;
    base[CP_OVERHEAD_LOCK] = o->lock_ns;
    memory_bytes = o->memory_bytes;
    if (o->overhead_ppm != budget_ppm) {
        budget_ppm = o->overhead_ppm;
        cp_overhead_ctl_init(&ctl, (uint32_t)budget_ppm, max_scale());
        CP_LOGI("overhead budget: %s%.2f%% of the JVM's CPU", budget_ppm ? "" : "off (fixed intervals) ",
                (double)budget_ppm / 10000.0);
    } else {
        cp_overhead_ctl_set_max(&ctl, max_scale());
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
    uint32_t k = ctl.scale ? ctl.scale : 1;
    pthread_mutex_unlock(&mu);
    return k;
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

void cp_overhead_tick(size_t used)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&mu);
    mem_used = used;
    if (!last_tick_ns) {
        last_tick_ns = now;
        last_agent_ns = agent_cpu_ns();
        last_sampling_ns = sampling_cpu_ns();
        last_proc_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        pthread_mutex_unlock(&mu);
        return;
    }
    if (now - last_tick_ns < TICK_NS && !apply_pending) {
        pthread_mutex_unlock(&mu);
        return;
    }
    bool apply = apply_pending;
    if (now - last_tick_ns >= TICK_NS) {
        uint64_t a = agent_cpu_ns(), sm = sampling_cpu_ns(), p = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        uint32_t old = ctl.scale;
        /* applying a change (re-arming every thread's timer) is the change's
         * cost, not the sampling's: left out of the judged tick */
        uint64_t da = a - last_agent_ns, ds = sm - last_sampling_ns;
        uint64_t x = apply_ns < ds ? apply_ns : ds;
        apply_ns = 0;
        cp_overhead_ctl_tick(&ctl, da - x, ds - x, p > last_proc_ns ? p - last_proc_ns : 0, now - last_tick_ns);
        double pd = p > last_proc_ns ? (double)(p - last_proc_ns) : 1;
        CP_LOGD("overhead tick: agent %.3f%% (sampling %.3f%%) of %.0f ms process CPU, x%u",
                (double)(a - last_agent_ns) * 100 / pd, (double)(sm - last_sampling_ns) * 100 / pd, pd / 1e6,
                ctl.scale);
        last_tick_ns = now;
        last_agent_ns = a;
        last_sampling_ns = sm;
        last_proc_ns = p;
        if (ctl.scale != old) {
            CP_LOGI("overhead: agent at %.2f%% of the JVM's CPU (budget %.2f%%): intervals x%u (was x%u)",
                    cp_overhead_ctl_last_ppm(&ctl) / 10000.0, (double)budget_ppm / 10000.0, ctl.scale, old);
            if (recompute())
                apply = true;
        }
    }
    cp_overhead_apply_fn fn = apply_fn;
    apply_pending = false;
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
    }
}

uint32_t cp_overhead_state(cp_counter_t *out, uint32_t max)
{
    static const char *const names[CP_OVERHEAD__KINDS] = {
        "interval.cpu_ns", "interval.wall_ns", "interval.alloc_bytes", "interval.lock_ns",
    };
    cp_counter_t tmp[CP_OVERHEAD_STATE_MAX];
    uint32_t n = 0;
    pthread_mutex_lock(&mu);
    for (int k = 0; k < CP_OVERHEAD__KINDS; k++)
        tmp[n++] = (cp_counter_t){names[k], (uint64_t)cp_overhead_interval((cp_overhead_kind_t)k)};
    tmp[n++] = (cp_counter_t){"overhead.budget_ppm", (uint64_t)(budget_ppm > 0 ? budget_ppm : 0)};
    tmp[n++] = (cp_counter_t){"overhead.minute_ppm", cp_overhead_ctl_minute_ppm(&ctl)};
    tmp[n++] = (cp_counter_t){"overhead.last_ppm", cp_overhead_ctl_last_ppm(&ctl)};
    tmp[n++] = (cp_counter_t){"overhead.scale", ctl.scale};
    tmp[n++] = (cp_counter_t){"overhead.changes", ctl.changes};
    tmp[n++] = (cp_counter_t){"memory.budget_bytes", (uint64_t)memory_bytes};
    tmp[n++] = (cp_counter_t){"memory.used_bytes", (uint64_t)mem_used};
    pthread_mutex_unlock(&mu);
    if (n > max)
        n = max;
    memcpy(out, tmp, n * sizeof *out);
    return n;
}
