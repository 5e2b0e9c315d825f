/* harvest.c - ring -> resolved, aggregated windows -> batches. See harvest.h.
 *
 * Thread: one JVMTI agent thread ("cprof-harvester") does everything here
 * except cp_points_add / cp_harvest_flush / dict lock (any thread).
 *
 * Every drain period (2-100 ms by how full the ring was, up to 400 ms while
 * the overhead budget stretches the intervals) it empties the ring. For each sample:
 *   - AGCT frames (leaf first) become frame ids through a cache keyed by
 *     (jmethodID, kind; bci too if SEND_LINES; harvest_names.c): a miss resolves the method
 *     once (declaring class signature -> "java.util.HashMap", name) and
 *     interns a cp_frame_t (sig "" and line 0: see SEND_LINES). Names are resolved within ~20 ms of the sample,
 *     while the class is almost surely still loaded; jmethodIDs are never
 *     reused by HotSpot, so cached entries stay valid.
 *   - samples without Java frames become "[GC] G1 Conc#0"-style stacks (the
 *     thread kind guessed from its name), AGCT failures "[unknown_Java]".
 *   - native pcs walked by the handler (unwind.h) are symbolised
 *     (symbols.h; cached per pc in native_cache) and appended under the
 *     Java leaf, the thread root or the failure frame: "libz.so.1" /
 *     "deflate_slow", kind CP_FRAME_NATIVE.
 *   - the stack is interned (root first) and its value added to the window.
 * Every `flush` the window becomes a cp_pending_t (values, counter deltas,
 * points) submitted to the sender; times (ns) are rounded to the us there.
 * The dictionary tracks stack prefixes (cp_stack_dict_track_prefixes) for
 * the wire's compact layout.
 *
 * Locks: dict_mu guards the dictionary against the sender's encoder (held
 * while interning one drain's samples, and while encoding). pts_mu guards
 * the point list. ctl_mu/ctl_cv carry flush requests and completion. */
#include "harvest.h"
#include "agent_thread.h"
#include "clock.h"
#include "harvest_int.h"

#include "codemap.h"
#include "harvest_ctx.h"
#include "cost.h"
#include "error.h"
#include "log.h"
#include "overhead.h"
#include "sampler.h"
#include "sender.h"
#include "sigcost.h"
#include "stats.h"
#include "symbols.h"
#include "u64map.h"
#include "unwind.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DICT_MAX_BYTES (24u << 20)   /* start a new dictionary beyond this */
static _Atomic size_t g_dict_max = DICT_MAX_BYTES;   /* memory budget; CPROF_TEST_DICT_MAX (bytes) in tests */
static bool g_dict_max_test;                          /* set by CPROF_TEST_DICT_MAX: the budget leaves it */
#define MAX_POINTS 4096
#define SCAN_MIN_NS  500000000ULL   /* the scan period, and the least time between two scans */
#define SCAN_BACKOFF 4              /* an idle period doubles up to 16 x */
#define PREFAULT_AHEAD 64   /* ring slots mapped ahead of the producers (~540 KB) */

const cp_sample_type_t cp_harvest_types[CP_TYPE__COUNT] = {
    [CP_TYPE_CPU] = {"cpu", "ns"},
    [CP_TYPE_WALL] = {"wall", "ns"},
    [CP_TYPE_ALLOC_BYTES] = {"alloc_bytes", "bytes"},
    [CP_TYPE_ALLOC_OBJECTS] = {"alloc_objects", "count"},
    [CP_TYPE_LOCK] = {"lock", "ns"},
    [CP_TYPE_LOCK_COUNT] = {"lock_count", "count"},
};

/* ---- state ---------------------------------------------------------------- */


static jvmtiEnv *g_jvmti;
static cp_ring_t *g_ring;
static bool g_inited;

static pthread_mutex_t dict_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_stack_dict_t *g_dict;            /* dict_mu */
static uint32_t g_dict_gen;                /* dict_mu */

/* harvester-thread-only state */
static cp_u64map_t window;        /* (stack << 3 | type) -> value */
static uint64_t win_start_ms;
static uint64_t last_stats[CP_ST__COUNT];
static uint64_t last_proc_cpu_ns;
static uint32_t *stack_buf;
static uint8_t kind_buf[CP_RING_MAX_FRAMES];

static pthread_mutex_t pts_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_point_t *pts;        /* pts_mu */
static uint32_t n_pts, pts_dropped;

static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_cv = PTHREAD_COND_INITIALIZER;
static cp_harvest_first_fn first_fn;   /* ctl_mu: once, at the thread's start */
static cp_harvest_tick_fn tick_fn;     /* set before the thread starts */

void cp_harvest_nudge(void)
{
    /* broadcast: flush waiters share ctl_cv and re-check their condition */
    if (pthread_mutex_trylock(&ctl_mu) == 0) {
        pthread_cond_broadcast(&ctl_cv);
        pthread_mutex_unlock(&ctl_mu);
    }
}
static bool running;           /* ctl_mu: thread alive */
static bool req_flush, req_final;
static uint64_t flush_done;    /* ctl_mu: completed flush requests */
static uint64_t flush_asked;
static int64_t g_flush_ns = 10000000000LL;
static uint64_t g_seq;         /* last seq used; ctl_mu */

uint64_t cp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


static uint64_t proc_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int cp_harvest_init(jvmtiEnv *jvmti, cp_ring_t *ring)
{
    if (g_inited)
        return 0;
    g_jvmti = jvmti;
    cp__names_init(jvmti);
    g_ring = ring;
    g_dict = cp_stack_dict_create();
    stack_buf = malloc(sizeof(uint32_t) * (CP_RING_MAX_FRAMES + CP_RING_MAX_NATIVE + 8));
    if (!g_dict || !stack_buf)
        return CP_ENOMEM;
    /* each new stack remembers the earlier stack sharing its longest
     * prefix: the wire's compact layout sends only the rest */
    cp_stack_dict_track_prefixes(g_dict);
    const char *tmax = getenv("CPROF_TEST_DICT_MAX");
    if (tmax && atoll(tmax) > 0) {
        g_dict_max = (size_t)atoll(tmax);
        g_dict_max_test = true;
    }
    g_inited = true;
    return 0;
}

const cp_stack_dict_t *cp_harvest_dict_lock(uint32_t *gen)
{
    pthread_mutex_lock(&dict_mu);
    *gen = g_dict_gen;
    return g_dict;
}

void cp_harvest_dict_unlock(void) { pthread_mutex_unlock(&dict_mu); }

void cp_points_add(const char *series, uint64_t t_ms, double value)
{
    pthread_mutex_lock(&pts_mu);
    if (!pts)
        pts = malloc(sizeof *pts * MAX_POINTS);
    char *s = pts && n_pts < MAX_POINTS ? strdup(series) : NULL;
    if (s) {
        pts[n_pts].series = s;
        pts[n_pts].t_ms = t_ms;
        pts[n_pts].value = value;
        n_pts++;
    } else {
        pts_dropped++;
    }
    pthread_mutex_unlock(&pts_mu);
}

uint64_t cp_harvest_last_seq(void)
{
    pthread_mutex_lock(&ctl_mu);
    uint64_t s = g_seq;
    pthread_mutex_unlock(&ctl_mu);
    return s;
}

/* ctx: the sample's request context; thread: its thread name's string id
 * (traced samples only) */
static void add_value(uint32_t stack, uint32_t type, uint64_t v, const cp_context_t *ctx, uint32_t thread)
{
    if (!v)
        return;
    if (ctx->labels | ctx->trace_hi | ctx->trace_lo)
        cp__hctx_add(stack, type, v, ctx, thread);
    bool created;
    uint64_t *slot = cp_u64map_slot(&window, ((uint64_t)stack << 3) | type, &created);
    if (slot)
        *slot += v;
}

/* dict_mu held. */
static void process(JNIEnv *jni, const cp_sample_t *s)
{
    static const cp_stat_id_t sample_stat[] = {CP_ST_SAMPLES_CPU, CP_ST_SAMPLES_WALL,
                                               CP_ST_SAMPLES_ALLOC, CP_ST_SAMPLES_LOCK};
    if (s->kind > CP_SAMPLE_KIND_MAX)
        return;
    if (s->value == 0 && s->count <= 1 && s->kind == CP_SAMPLE_WALL)
        return;   /* wall sample of a thread without Java frames: skipped */
    cp_stats_add(sample_stat[s->kind], 1);
    uint32_t n = 0;
    /* native frames first (root-most first), so a -3 can be judged by them */
    int nn = s->n_native > CP_RING_MAX_NATIVE ? CP_RING_MAX_NATIVE : s->n_native;
    uint32_t native_ids[CP_RING_MAX_NATIVE];
    bool whole_native_stack = false;
    for (int i = nn - 1; i >= 0; i--) {
        bool entry = false;
        native_ids[nn - 1 - i] = cp__names_native(s->native[i], i > 0, &entry);
        if (i >= nn - 2 && entry)   /* libc's start_thread has no exported name: look one frame up too */
            whole_native_stack = true;
    }
    if (s->num_frames > 0) {
        int nf = s->num_frames > CP_RING_MAX_FRAMES ? CP_RING_MAX_FRAMES : s->num_frames;
        if (s->truncated) {
            stack_buf[n++] = cp__names_synthetic("[truncated]", CP_FRAME_ERROR);
            cp_stats_add(CP_ST_TRUNCATED, 1);
        }
        cp_codemap_classify(s->frames, nf, kind_buf);
        for (int i = nf - 1; i >= 0; i--)
            stack_buf[n++] = cp__names_java(jni, s->frames[i].method, s->frames[i].lineno, kind_buf[i]);
    } else {
        /* No Java stack: the thread (kind guessed from its name) is the
         * root; an AGCT failure adds its kind as the leaf. */
        char t[48];
        snprintf(t, sizeof t, "[%s] %s", cp__names_thread_kind(s->thread), s->thread[0] ? cp__names_thread_display(s->thread) : "?");
        stack_buf[n++] = cp__names_synthetic(t, CP_FRAME_THREAD);
        /* -3 (unknown_not_Java) on a JIT/GC/VM/agent thread just means the
         * thread never runs Java code: not a failure. Nor on a thread whose
         * native walk reached its start routine (start_thread,
         * thread_native_entry) without meeting JIT code: AGCT answers -3
         * for any thread in the VM without a Java frame anchor, e.g. the
         * "Service Thread" or a Java thread still starting up. */
        bool vm_thread = strcmp(cp__names_thread_kind(s->thread), "native") != 0;
        if (s->num_frames == CP_SAMPLE_NOT_JAVA_THREAD || s->num_frames == 0 ||
            (s->num_frames == -3 && (vm_thread || whole_native_stack))) {
            cp_stats_add(CP_ST_SAMPLES_NOJAVA, 1);
        } else {
            cp_stats_add(cp_stats_agct_fail(s->num_frames), 1);
            stack_buf[n++] = cp__names_synthetic(cp__names_fail(s->num_frames), CP_FRAME_ERROR);
        }
    }
    /* native frames, root-most first, under whatever came before */
    for (int i = 0; i < nn; i++)
        stack_buf[n++] = native_ids[i];
    if (nn)
        cp_stats_add(CP_ST_NATIVE_FRAMES, (uint64_t)nn);
    if (s->leaf_kind && s->leaf[0])
        stack_buf[n++] = cp__names_synthetic(s->leaf, s->leaf_kind);
    uint32_t sid;
    if (cp_stack_dict_intern_stack(g_dict, stack_buf, n, &sid) != 0)
        return;
    const cp_context_t *c = &s->ctx;
    uint32_t th = (c->trace_hi | c->trace_lo) ? cp__names_str(s->thread[0] ? cp__names_thread_display(s->thread) : "?") : 0;
    switch (s->kind) {
    case CP_SAMPLE_CPU:   add_value(sid, CP_TYPE_CPU, s->value, c, th); break;
    case CP_SAMPLE_WALL:  add_value(sid, CP_TYPE_WALL, s->value, c, th); break;
    case CP_SAMPLE_ALLOC: add_value(sid, CP_TYPE_ALLOC_BYTES, s->value, c, th);
                          add_value(sid, CP_TYPE_ALLOC_OBJECTS, s->count, c, th); break;
    case CP_SAMPLE_LOCK:  add_value(sid, CP_TYPE_LOCK, s->value, c, th);
                          add_value(sid, CP_TYPE_LOCK_COUNT, s->count, c, th); break;
    }
}

uint32_t cp__harvest_frame(const char *cls, const char *method, uint8_t kind)
{
    cp_frame_t f = {cp__names_str(cls), cp__names_str(method), cp__names_str(""), 0, kind};
    uint32_t id = 0;
    cp_stack_dict_intern_frame(g_dict, &f, &id);
    return id;
}

void cp__harvest_add(const uint32_t *frames, uint32_t n, uint32_t type, uint64_t v, uint32_t labels)
{
    uint32_t sid;
    cp_context_t ctx = {.labels = labels};
    if (cp_stack_dict_intern_stack(g_dict, frames, n, &sid) == 0)
        add_value(sid, type, v, &ctx, 0);
}

uint32_t cp__harvest_gen(void) { return g_dict_gen; }
cp_stack_dict_t *cp__harvest_dict(void) { return g_dict; }

/* Returns the number of samples drained. */
/* Drains the ring; kinds[k] (cp_sample_kind_t) counts the samples of each
 * kind, to split the drain's cost among them (overhead.h). */
static int drain(JNIEnv *jni, int *kinds /* OUT */)
{
    pthread_mutex_lock(&dict_mu);
    cp__harvest_py_drain(g_jvmti, jni);   /* Python samples (pysample.h), if any */
    pthread_mutex_unlock(&dict_mu);
    const cp_sample_t *s = cp_ring_peek(g_ring);
    if (!s)
        return 0;
    int n = 0;
    pthread_mutex_lock(&dict_mu);
    for (; s && n < (1 << 16); n++) {
        kinds[s->kind <= CP_SAMPLE_KIND_MAX ? s->kind : CP_SAMPLE_CPU]++;
        process(jni, s);
        cp_ring_release(g_ring);
        s = cp_ring_peek(g_ring);
    }
    pthread_mutex_unlock(&dict_mu);
    return n;
}

/* dict_mu held: start a new dictionary generation. The closing window's
 * values (p) are moved into it - their stacks copied by content, ids
 * remapped - so the window that crossed the limit is sent like any other;
 * only batches of the old generation still queued (relay away) are lost,
 * counted as drop.dict by the sender. The new dictionary holds just this
 * window's stacks, so it starts far below the limit. */
static void dict_reset_locked(cp_pending_t *p)
{
    cp_stack_dict_t *nd = cp_stack_dict_create();
    if (!nd || cp_stack_dict_track_prefixes(nd) != 0) {
        cp_stack_dict_destroy(nd);
        return;   /* out of memory: keep the old dictionary, try again next window */
    }
    cp_u64map_t remap = {0};
    uint32_t kept = 0, lost = 0;
    for (uint32_t i = 0; i < p->n_values; i++) {
        bool created;
        uint64_t *slot = cp_u64map_slot(&remap, p->values[i].stack, &created);
        uint32_t nid;
        if (slot && created)
            *slot = cp_stack_dict_copy_stack(nd, g_dict, p->values[i].stack, &nid) == 0 ? (uint64_t)nid + 1 : 0;
        if (slot && *slot) {
            p->values[i].stack = (uint32_t)(*slot - 1);
            p->values[kept++] = p->values[i];
        } else {
            lost++;
        }
    }
    p->n_values = kept;
    cp__hctx_remap(p, &remap, g_dict, nd);
    cp_u64map_free(&remap);
    if (lost)
        cp_stats_add(CP_ST_DROP_DICT, lost);
    cp_stack_dict_destroy(g_dict);
    g_dict = nd;
    g_dict_gen++;
    cp__names_reset();   /* their caches hold ids of the old dictionary */
    CP_LOGI("dictionary over %zu KiB: new generation %u (%u stacks of the closing window kept)",
            g_dict_max >> 10, g_dict_gen, cp_stack_dict_stacks(nd));
}

static void close_window(void)
{
    uint64_t now = cp_now_ms();
    cp_pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return;
    pthread_mutex_lock(&dict_mu);
    p->values = malloc(sizeof *p->values * (window.n ? window.n : 1));
    for (size_t i = 0; p->values && i < window.cap; i++) {
        if (!window.keys[i])
            continue;
        uint64_t k = window.keys[i] - 1;
        uint32_t type = (uint32_t)(k & 7);
        uint64_t v = window.vals[i];
        /* Times (unit ns) go rounded to the microsecond (at least 1 us):
         * sub-us digits of summed CPU/wall/lock time are noise nobody
         * sees, and they cost ~1.5 bytes per value on the wire even
         * compressed (the compact layout then sends v / 1000). */
        if (type < CP_TYPE__COUNT && !strcmp(cp_harvest_types[type].unit, "ns"))
            v = v < 1000 ? 1000 : (v + 500) / 1000 * 1000;
        p->values[p->n_values++] = (cp_wire_value_t){(uint32_t)(k >> 3), type, v};
    }
    cp_u64map_clear(&window);
    cp__hctx_take(p);
    /* the reset waits while the sender still has batches of this generation
     * to write (they would be unsendable: drop.dict), up to twice the limit
     * (a relay that stays away must not grow the dictionary without bound) */
    size_t dict_mem = p->values ? cp_stack_dict_memory(g_dict) : 0;
    if (dict_mem > g_dict_max && (dict_mem > 2 * g_dict_max || cp_sender_unsent() == 0))
        dict_reset_locked(p);
    p->dict_gen = g_dict_gen;
    pthread_mutex_unlock(&dict_mu);

    /* counters: deltas since the last window, plus gauges */
    p->counters = malloc(sizeof *p->counters * (CP_ST__COUNT + 4));
    if (p->counters) {
        for (int i = 0; i < CP_ST__COUNT; i++) {
            uint64_t v = cp_stats_get((cp_stat_id_t)i);
            uint64_t d = v - last_stats[i];
            last_stats[i] = v;
            if (d)
                p->counters[p->n_counters++] = (cp_counter_t){cp_stats_name((cp_stat_id_t)i), d};
        }
        uint64_t cpu = proc_cpu_ns();
        uint64_t dcpu = cpu - last_proc_cpu_ns;
        last_proc_cpu_ns = cpu;
        uint64_t ncpu = 0;
        for (uint32_t i = 0; i < p->n_counters; i++)
            if (!strcmp(p->counters[i].name, "samples.cpu"))
                ncpu = p->counters[i].value;
        if (dcpu > 0)   /* effective rate: CPU samples per CPU-second, in millihertz */
            p->counters[p->n_counters++] = (cp_counter_t){"rate.cpu_mhz", (uint64_t)((double)ncpu * 1e12 / (double)dcpu)};
        p->counters[p->n_counters++] = (cp_counter_t){"cpu.process_ns", dcpu};
        p->counters[p->n_counters++] = (cp_counter_t){"threads", (uint64_t)cp_sampler_thread_count()};
        p->counters[p->n_counters++] = (cp_counter_t){"mem.dict_bytes", cp_stack_dict_memory(g_dict)};
    }
    /* agent state (wire key 18): intervals in force, overhead, memory */
    p->state = malloc(sizeof *p->state * CP_OVERHEAD_STATE_MAX);
    if (p->state)
        p->n_state = cp_overhead_state(p->state, CP_OVERHEAD_STATE_MAX);
    pthread_mutex_lock(&pts_mu);
    if (n_pts) {
        p->points = malloc(sizeof *p->points * n_pts);
        if (p->points) {
            memcpy(p->points, pts, sizeof *p->points * n_pts);
            p->n_points = n_pts;
        } else {
            for (uint32_t i = 0; i < n_pts; i++)
                free((char *)pts[i].series);
        }
        n_pts = 0;
    }
    pthread_mutex_unlock(&pts_mu);

    pthread_mutex_lock(&ctl_mu);
    p->seq = ++g_seq;
    pthread_mutex_unlock(&ctl_mu);
    p->start_ms = win_start_ms ? win_start_ms : now;
    p->end_ms = now >= p->start_ms ? now : p->start_ms;
    win_start_ms = now;
    p->bytes = sizeof *p + p->n_values * sizeof *p->values + p->n_counters * 48 + p->n_points * 48 +
               p->n_lvalues * sizeof *p->lvalues + p->n_traces * sizeof *p->traces;
    if (cp_log_level() >= CP_LOG_DEBUG) {
        char line[1024];
        size_t o = 0;
        for (uint32_t i = 0; i < p->n_counters && o < sizeof line - 64; i++)
            o += (size_t)snprintf(line + o, sizeof line - o, " %s=%llu", p->counters[i].name,
                                  (unsigned long long)p->counters[i].value);
        line[sizeof line - 1] = '\0';
        CP_LOGD("window seq=%llu values=%u%s", (unsigned long long)p->seq, p->n_values, line);
    }
    cp_sender_submit(p);
}

/* The agent's memory under the memory budget now: ring, dictionary, send
 * buffer (overhead.h). */
static size_t memory_used(void)
{
    pthread_mutex_lock(&dict_mu);
    size_t d = cp_stack_dict_memory(g_dict);
    pthread_mutex_unlock(&dict_mu);
    return cp_ring_memory(g_ring) + d + cp_sender_queued_bytes();
}

/* The wait of a nearly idle ring (under 16 samples a drain). A wake-up
 * costs ~50-100 us of CPU on a VM, so it is 100 ms, and longer while the
 * budget stretches the intervals (up to 400 ms), but never longer than
 * every CPU of the machine, each with a busy thread sampled at the CPU
 * interval in force, needs to fill half the ring (signal handlers cannot
 * wake the harvester; 50 ms at least, as before: 64 CPUs at 10 ms fill
 * 512 slots in 80 ms). The wall thread and JVMTI producers nudge when the
 * ring fills. */
static long idle_period_ms(int cap)
{
    static long ncpu;
    if (!ncpu) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (ncpu < 1)
            ncpu = 1;
    }
    uint32_t k = cp_overhead_scale();
    long ms = 100 * (k < 4 ? (long)k : 4);
    int64_t iv = cp_overhead_interval(CP_OVERHEAD_CPU);
    if (iv > 0) {
        long safe = (long)((int64_t)cap / 2 * (iv / 1000000) / ncpu);
        if (safe < 50)
            safe = 50;
        if (ms > safe)
            ms = safe;
    }
    return ms;
}

static void JNICALL harvester_main(jvmtiEnv *jvmti, JNIEnv *jni, void *arg)
{
    (void)jvmti; (void)arg;
    cp_sampler_ignore_current_thread();
    /* not nice +10 like the sender: with 2,000 busy threads the harvester
     * fell behind the ring (agent_wall_many: 4% dropped) */
    uint64_t next_flush = cp_mono_ns() + (uint64_t)g_flush_ns;
    uint64_t next_scan = 0, next_budget = 0, last_scan = 0;
    uint32_t scan_idle = 0;          /* scans in a row that found nothing new */
    bool prefaulted = false;
    unsigned long scan_unknown = 0;  /* cp_unwind_unknown_pcs() at the last scan */
    uint64_t cost_last = 0;   /* cost.h: this thread's CPU, from its start */
    pthread_mutex_lock(&ctl_mu);
    cp_harvest_first_fn first = first_fn;
    first_fn = NULL;
    pthread_mutex_unlock(&ctl_mu);
    if (first) {
        uint64_t c0 = cp_cost_now();
        /* the sampler's first start left the other threads' timers to this
         * thread (cp_sampler_start): before the rest of the first work,
         * which takes a few ms */
        cp_sampler_arm_started();
        /* the code ranges VMInit left to this thread (sampler.c), before
         * the first work's few ms */
        cp_sampler_scan();
        last_scan = cp_mono_ns();
        next_scan = last_scan + SCAN_MIN_NS;
        first(g_jvmti, jni);
        cp_overhead_oneoff(cp_cost_now() - c0);   /* once: not judged by the budget (overhead.h) */
    }
    cp_cost_thread(&cost_last);   /* the preload is fixed cost, not sampling (overhead.h) */
    win_start_ms = cp_now_ms();
    last_proc_cpu_ns = proc_cpu_ns();
    pthread_mutex_lock(&ctl_mu);
    for (;;) {
        bool do_flush = req_flush, final = req_final;
        uint64_t asked = flush_asked;
        req_flush = false;
        pthread_mutex_unlock(&ctl_mu);

        uint64_t now = cp_mono_ns();
        unsigned long unknown = cp_unwind_unknown_pcs();
        if (now >= next_scan || (unknown != scan_unknown && now >= last_scan + SCAN_MIN_NS)) {
            /* the scan (a /proc/self/task walk, /proc/self/maps for the
             * native walk, threads older than the agent) grows with the
             * thread count, not the sampling rate: fixed cost for the
             * overhead budget (overhead.h), which it stretches anyway (up
             * to 32 x 500 ms); and never more than 0.1% of a core (with
             * 2,000 threads a scan costs ~5-10 ms). A scan that finds
             * nothing new doubles the period (up to 16 x), one that does
             * resets it: a settled JVM is scanned every 8 s, not twice a
             * second (~1 ms of CPU a second on a 0.2-core JVM: 0.5% of
             * it). Threads found late lose no CPU (sampler.c), and a
             * sample that interrupted code the table does not know (a
             * library loaded since) asks for a scan at once. */
            uint64_t c0 = cp_cost_now();
            scan_idle = cp_sampler_scan() ? 0 : scan_idle < SCAN_BACKOFF ? scan_idle + 1 : SCAN_BACKOFF;
            scan_unknown = unknown;
            last_scan = now;
            uint64_t c1 = cp_cost_now(), c = c1 > c0 ? c1 - c0 : 0;
            uint32_t k = cp_overhead_scale() << scan_idle;
            uint64_t period = SCAN_MIN_NS * (k < 32 ? k : 32), fixed = cp_overhead_fixed_period_ns(c);
            if (period < 1000 * c)
                period = 1000 * c;
            if (period < fixed)   /* and at most an eighth of the budget (overhead.h) */
                period = fixed;
            next_scan = now + period;
        }
        /* Adaptive period: 50 ms while the ring stays under 1/8 full per
         * drain (cheap at cpu=10ms), 10 ms when samples pour in, 2 ms past
         * 1/4 (many busy threads at cpu=1ms), so the ring never fills from
         * signal handlers, which cannot wake us. The wall thread paces
         * itself on the ring and nudges us (cp_ring_nudge). */
        cp_sampler_arm_started();   /* threads started since the last pass (sampler.h) */
        uint64_t d0 = cp_cost_now(), l0 = cp_symbols_load_ns();
        int kinds[CP_SAMPLE_KIND_MAX + 1] = {0};
        int drained = drain(jni, kinds);
        if (drained > 0) {   /* the drains grow with the sampling rate, per kind (overhead.h); */
            uint64_t d = cp_cost_now() - d0, l = cp_symbols_load_ns() - l0;
            cp_cost_drain(d > l ? d - l : 0, kinds, drained);   /* loading a symbol table is fixed cost */
            if (l)
                cp_overhead_oneoff(l);   /* ... done once: not judged by the budget */
        }
        if (!prefaulted) {
            /* the ring's pages, a step ahead of the producers after each
             * drain (ring.h): the first lap's writes in signal handlers
             * were copy-on-write faults with a TLB flush (~9 ms of a javac
             * run's handlers); the whole ring at once (~2 ms) on the JVM's
             * start-up cost a trivial program ~3 ms of wall time to main */
            uint64_t c0 = cp_cost_now();
            prefaulted = cp_ring_prefault_ahead(g_ring, PREFAULT_AHEAD);
            cp_overhead_oneoff(cp_cost_now() - c0);   /* once per slot: not judged by the budget */
        }
        if (tick_fn)
            tick_fn();
        uint64_t s0 = cp_sigcost_calibrated() ? 0 : cp_cost_now();
        /* a calibration round when due (~12 ms once, in 5 rounds: not
         * judged by the budget); cpu.signal_ns for the window */
        if (cp_sigcost_step(final) && s0)
            cp_overhead_oneoff(cp_cost_now() - s0);
        int cap = (int)cp_ring_capacity(g_ring);
        long period_ms = drained > cap / 4 ? 2 : drained > cap / 8 ? 10 : 50;
        if (period_ms == 50 && drained < cap / 32)
            period_ms = idle_period_ms(cap);
        if (now >= next_budget) {   /* the overhead budget's tick (overhead.h), when it asks */
            cp_cost_thread(&cost_last);   /* sampling cost: its drains, counted as they go */
            next_budget = now + cp_overhead_tick(memory_used());
        }
        if (do_flush || now >= next_flush) {
            cp_cost_thread(&cost_last);   /* into the window it closes */
            close_window();
            next_flush = cp_mono_ns() + (uint64_t)g_flush_ns;
        }

        pthread_mutex_lock(&ctl_mu);
        if (do_flush) {
            flush_done = asked;
            pthread_cond_broadcast(&ctl_cv);
        }
        /* req_final, not the snapshot: a cp_harvest_start() may have
         * cancelled a final flush that timed out (the window is closed
         * either way) */
        if (final && req_final)
            break;
        if (!req_flush) {
            /* no later than the overhead budget's next tick; an idle wait
             * that would end within half a period before it waits for it
             * (one wake-up, not two 25 ms apart) */
            uint64_t t = cp_mono_ns();
            uint64_t lim = period_ms >= 50 ? (uint64_t)period_ms * 3 / 2 : (uint64_t)period_ms;
            if (next_budget > t && (next_budget - t) / 1000000 < lim)
                period_ms = (long)((next_budget - t) / 1000000) + 1;
            struct timespec ts;
            cp_deadline_in(&ts, period_ms);
            pthread_cond_timedwait(&ctl_cv, &ctl_mu, &ts);
        }
    }
    cp_cost_thread(&cost_last);
    cp_agent_thread_ending();
    running = false;
    req_final = false;
    pthread_cond_broadcast(&ctl_cv);
    pthread_mutex_unlock(&ctl_mu);
}

void cp_harvest_set_tick(cp_harvest_tick_fn fn)
{
    tick_fn = fn;
}

void cp_harvest_first(cp_harvest_first_fn fn)
{
    pthread_mutex_lock(&ctl_mu);
    first_fn = fn;
    pthread_mutex_unlock(&ctl_mu);
}

int cp_harvest_start(JNIEnv *jni, int64_t flush_ns)
{
    pthread_mutex_lock(&ctl_mu);
    g_flush_ns = flush_ns;
    if (running) {
        /* a final flush that timed out (detach) leaves the thread running
         * with req_final set: cancel it, or it would exit right after this
         * restart and nothing would be harvested */
        bool cancelled = req_final;
        req_final = false;
        pthread_mutex_unlock(&ctl_mu);
        if (cancelled)
            CP_LOGI("harvester: a stop that had not completed is cancelled; the thread carries on");
        return 0;
    }
    running = true;
    pthread_mutex_unlock(&ctl_mu);

    if (cp_agent_thread_start(g_jvmti, jni, "cprof-harvester", harvester_main, NULL) != 0) {
        CP_LOGE("cannot start the harvester thread");
        pthread_mutex_lock(&ctl_mu);
        running = false;
        pthread_mutex_unlock(&ctl_mu);
        return CP_ESTATE;
    }
    return 0;
}

void cp_harvest_set_dict_max(size_t bytes)
{
    if (!g_dict_max_test && bytes)
        g_dict_max = bytes;
}

void cp_harvest_set_flush(int64_t flush_ns)
{
    pthread_mutex_lock(&ctl_mu);
    g_flush_ns = flush_ns;
    pthread_mutex_unlock(&ctl_mu);
}

int cp_harvest_flush(bool final, int timeout_ms)
{
    struct timespec dl;
    cp_deadline_in(&dl, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&ctl_mu);
    if (!running) {
        pthread_mutex_unlock(&ctl_mu);
        return 0;
    }
    uint64_t my = ++flush_asked;
    req_flush = true;
    if (final)
        req_final = true;
    pthread_cond_broadcast(&ctl_cv);
    while ((final ? running : flush_done < my) && rc == 0)
        rc = pthread_cond_timedwait(&ctl_cv, &ctl_mu, &dl);
    pthread_mutex_unlock(&ctl_mu);
    return rc ? CP_ETIMEOUT : 0;
}
