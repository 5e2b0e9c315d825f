/* harvest.c - ring -> resolved, aggregated windows -> batches. See harvest.h.
 *
 * Thread: one JVMTI agent thread ("cprof-harvester") does everything here
 * except cp_points_add / cp_harvest_flush / dict lock (any thread).
 *
 * Every drain period (10 ms with wall sampling, 20 ms otherwise) it empties
 * the ring. For each sample:
 *   - AGCT frames (leaf first) become frame ids through a cache keyed by
 *     (jmethodID, kind; bci too if SEND_LINES): a miss resolves the method
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
#include "harvest_int.h"

#include "codemap.h"
#include "harvest_ctx.h"
#include "cost.h"
#include "error.h"
#include "log.h"
#include "overhead.h"
#include "sampler.h"
#include "sender.h"
#include "stats.h"
#include "symbols.h"
#include "u64map.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DICT_MAX_BYTES (24u << 20)   /* start a new dictionary beyond this */
static _Atomic size_t g_dict_max = DICT_MAX_BYTES;   /* memory budget; CPROF_TEST_DICT_MAX (bytes) in tests */
static bool g_dict_max_test;                          /* set by CPROF_TEST_DICT_MAX: the budget leaves it */
#define MAX_POINTS 4096
/* Java line numbers in frames (1) or line 0 = unknown (0). The relay names
 * frames by class + method (+ kind) and never reads the line, while
 * per-line frames multiply distinct frames and stacks: without lines, an
 * H2 run's first batch held 1269 frames / 614 stacks instead of 1715 / 743,
 * and the run sent 34 KB instead of 44 KB (docs/agent.md, wire volume). */
#define SEND_LINES 0

const cp_sample_type_t cp_harvest_types[CP_TYPE__COUNT] = {
    [CP_TYPE_CPU] = {"cpu", "ns"},
    [CP_TYPE_WALL] = {"wall", "ns"},
    [CP_TYPE_ALLOC_BYTES] = {"alloc_bytes", "bytes"},
    [CP_TYPE_ALLOC_OBJECTS] = {"alloc_objects", "count"},
    [CP_TYPE_LOCK] = {"lock", "ns"},
    [CP_TYPE_LOCK_COUNT] = {"lock_count", "count"},
};

/* ---- state ---------------------------------------------------------------- */

typedef struct minfo {           /* resolved method, cached per jmethodID */
    uint32_t class_id, method_id, sig_id;
    jint n_lines;
    jvmtiLineNumberEntry *lines; /* JVMTI-allocated; NULL if none */
    bool ok;
} minfo_t;

static jvmtiEnv *g_jvmti;
static cp_ring_t *g_ring;
static bool g_inited;

static pthread_mutex_t dict_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_stack_dict_t *g_dict;            /* dict_mu */
static uint32_t g_dict_gen;                /* dict_mu */

/* harvester-thread-only state */
static cp_u64map_t frame_cache;   /* (method ^ bci) key -> frame id; verified by fc_method */
static cp_u64map_t method_cache;  /* jmethodID -> index into minfos */
static cp_u64map_t native_cache;  /* native pc -> frame id */
static minfo_t *minfos;
static size_t n_minfos, cap_minfos;
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

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
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

/* ---- name resolution (harvester thread; dict_mu held) ---------------------- */

static uint32_t intern_str(const char *s)
{
    uint32_t id = 0;
    if (cp_stack_dict_intern_string(g_dict, s, strlen(s), &id) != 0)
        return 0;
    return id;
}

/* "Ljava/util/HashMap;" -> "java.util.HashMap"; hidden-class address
 * suffixes ("/0x0000000800c0b2a8" or ".0x...") are cut so names stay
 * stable across runs and instances. */
static void class_name(const char *sig, char *out, size_t cap)
{
    size_t n = strlen(sig);
    const char *p = sig;
    if (n >= 2 && sig[0] == 'L' && sig[n - 1] == ';') {
        p = sig + 1;
        n -= 2;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if ((p[i] == '/' || p[i] == '.') && i + 2 < n && p[i + 1] == '0' && p[i + 2] == 'x')
            break;
        out[o++] = p[i] == '/' ? '.' : p[i];
    }
    out[o] = '\0';
}

static minfo_t *resolve_method(JNIEnv *jni, jmethodID m)
{
    bool created;
    uint64_t *slot = cp_u64map_slot(&method_cache, (uint64_t)(uintptr_t)m, &created);
    if (!slot)
        return NULL;
    if (!created)
        return &minfos[*slot];
    if (n_minfos == cap_minfos) {
        size_t nc = cap_minfos ? cap_minfos * 2 : 1024;
        minfo_t *nm = realloc(minfos, nc * sizeof *nm);
        if (!nm) {
            *slot = 0;   /* entry 0 may be wrong; accept a misattribution over a crash */
            return NULL;
        }
        minfos = nm;
        cap_minfos = nc;
    }
    minfo_t *mi = &minfos[n_minfos];
    *slot = n_minfos++;
    memset(mi, 0, sizeof *mi);

    jclass cls = NULL;
    char *csig = NULL, *name = NULL, *msig = NULL;
    if ((*g_jvmti)->GetMethodDeclaringClass(g_jvmti, m, &cls) != JVMTI_ERROR_NONE ||
        (*g_jvmti)->GetClassSignature(g_jvmti, cls, &csig, NULL) != JVMTI_ERROR_NONE ||
        (*g_jvmti)->GetMethodName(g_jvmti, m, &name, &msig, NULL) != JVMTI_ERROR_NONE) {
        cp_stats_add(CP_ST_RESOLVE_FAIL, 1);
        mi->class_id = intern_str("");
        mi->method_id = intern_str("[unloaded method]");
        mi->sig_id = intern_str("");
    } else {
        char cname[512];
        class_name(csig, cname, sizeof cname);
        mi->class_id = intern_str(cname);
        mi->method_id = intern_str(name);
        /* signature not sent: the relay merges frames by class + method
         * name (overloads too), so it would only cost wire bytes */
        mi->sig_id = intern_str("");
        mi->ok = true;
        if (SEND_LINES && (*g_jvmti)->GetLineNumberTable(g_jvmti, m, &mi->n_lines, &mi->lines) != JVMTI_ERROR_NONE) {
            mi->n_lines = 0;
            mi->lines = NULL;
        }
    }
    if (csig) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)csig);
    if (name) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)name);
    if (msig) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)msig);
    if (cls && jni)
        (*jni)->DeleteLocalRef(jni, cls);
    return mi;
}

static int32_t line_of(const minfo_t *mi, jint bci)
{
    if (!mi->lines || bci < 0)
        return 0;
    int32_t line = 0;
    jlocation best = -1;
    for (jint i = 0; i < mi->n_lines; i++) {   /* tables are short and not always sorted */
        jlocation s = mi->lines[i].start_location;
        if (s <= bci && s > best) {
            best = s;
            line = mi->lines[i].line_number;
        }
    }
    return line;
}

static uint32_t synthetic_frame(const char *text, uint8_t kind)
{
    cp_frame_t f = {intern_str(""), intern_str(text), intern_str(""), 0, kind};
    uint32_t id = 0;
    cp_stack_dict_intern_frame(g_dict, &f, &id);
    return id;
}

static uint32_t java_frame(JNIEnv *jni, jmethodID m, jint lineno, uint8_t kind)
{
    if (!m)
        return synthetic_frame("[unknown method]", CP_FRAME_ERROR);
    /* key: a 64-bit hash of (method, bci, kind); a collision (~2^-64 per
     * pair) would only mislabel one frame */
    jint bci = SEND_LINES || lineno == -3 ? lineno : 0;   /* -3: native method */
    uint64_t key = cp_u64map_mix((uint64_t)(uintptr_t)m) ^ cp_u64map_mix(((uint64_t)(uint32_t)bci << 8) | kind);
    uint64_t *hit = cp_u64map_find(&frame_cache, key);
    if (hit)
        return (uint32_t)*hit;
    minfo_t *mi = resolve_method(jni, m);
    cp_frame_t f;
    if (!mi) {
        f = (cp_frame_t){intern_str(""), intern_str("[unresolved]"), intern_str(""), 0, CP_FRAME_ERROR};
    } else {
        bool native = lineno == -3;
        f.class_id = mi->class_id;
        f.method_id = mi->method_id;
        f.sig_id = mi->sig_id;
        f.line = native ? 0 : line_of(mi, lineno);
        f.kind = native ? CP_FRAME_NATIVE : kind;
    }
    uint32_t id = 0;
    if (cp_stack_dict_intern_frame(g_dict, &f, &id) != 0)
        return 0;
    bool created;
    uint64_t *slot = cp_u64map_slot(&frame_cache, key, &created);
    if (slot)
        *slot = id;
    return id;
}

/* A native frame for pc. ret: pc is a return address (every frame but the
 * leaf), so the call instruction is at pc - 1: look that up, or a call at
 * the very end of a function would name the next one. */
#define NATIVE_THREAD_ENTRY (1ULL << 32)   /* native_cache flag: a thread's first frame */

/* Functions that start a thread: a walk that reaches one has seen the
 * whole stack, so a thread with no Java frame below it really has none. */
static bool is_thread_entry(const char *name)
{
    return !strcmp(name, "start_thread") || !strncmp(name, "thread_native_entry", 19) ||
           !strcmp(name, "_ZL19thread_native_entryP6Thread") ||
           !strncmp(name, "clone", 5) || !strncmp(name, "__clone", 7) ||
           !strcmp(name, "Thread::call_run()") || !strcmp(name, "JavaMain");
}

/* Cuts a demangled C++ name in place: "ns::f(int, char*) const [clone
 * .part.0]" -> "ns::f". The parameter list is dropped, not sent as the
 * frame's signature: the relay names frames by library + function only,
 * and long parameter lists were the biggest part of the first batch's
 * strings. GCC's clone suffixes are dropped so clones of one function
 * merge. */
static void cut_params(char *name)
{
    char *clone = strstr(name, " [clone ");
    if (clone)
        *clone = '\0';
    /* the parameter list is the last balanced (...) group */
    char *close = strrchr(name, ')');
    if (!close)
        return;
    int depth = 0;
    for (char *p = close; p >= name; p--) {
        if (*p == ')')
            depth++;
        else if (*p == '(' && --depth == 0) {
            if (p != name && strncmp(p, "(anonymous namespace)", 21) != 0)
                *p = '\0';
            return;
        }
    }
}

/* Frame id of a native pc; *entry (OUT, may be NULL): it is a thread entry. */
static uint32_t native_frame_ex(uint64_t pc, bool ret, bool *entry)
{
    uint64_t key = pc - (ret ? 1 : 0);
    uint64_t *hit = cp_u64map_find(&native_cache, key);
    if (hit) {
        if (entry)
            *entry = (*hit & NATIVE_THREAD_ENTRY) != 0;
        return (uint32_t)*hit;
    }
    const char *obj = "";
    char name[512];
    cp_symbols_lookup(key, &obj, name, sizeof name);
    bool is_entry = is_thread_entry(name);
    if (entry)
        *entry = is_entry;
    cut_params(name);   /* the sig string stays "" (see cut_params) */
    cp_frame_t f = {intern_str(obj), intern_str(name[0] ? name : "[unknown]"), intern_str(""), 0, CP_FRAME_NATIVE};
    uint32_t id = 0;
    if (cp_stack_dict_intern_frame(g_dict, &f, &id) != 0)
        return 0;
    bool created;
    uint64_t *slot = cp_u64map_slot(&native_cache, key, &created);
    if (slot)
        *slot = id | (is_entry ? NATIVE_THREAD_ENTRY : 0);
    return id;
}

static const char *thread_kind(const char *name)
{
    if (!strncmp(name, "C1 ", 3) || !strncmp(name, "C2 ", 3) || strstr(name, "Compiler") || !strncmp(name, "JVMCI", 5))
        return "JIT";
    if (!strncmp(name, "GC ", 3) || !strncmp(name, "G1 ", 3) || !strncmp(name, "ZWorker", 7) ||
        !strncmp(name, "ZDriver", 7) || !strncmp(name, "ZDirector", 9) || !strncmp(name, "Shenandoah", 10) ||
        !strncmp(name, "Parallel GC", 11) || strstr(name, "GC Thread"))
        return "GC";
    if (!strncmp(name, "VM ", 3) || !strcmp(name, "Service Thread") || !strncmp(name, "Sweeper thread", 14) ||
        !strncmp(name, "Monitor Deflati", 15) || !strncmp(name, "Notification Th", 15) ||
        !strncmp(name, "Signal Dispatch", 15))
        return "VM";   /* HotSpot's own threads (some are JavaThreads that never run Java code) */
    if (!strncmp(name, "cprof-", 6))
        return "cprof";
    return "native";
}

/* Kernel thread names are cut at 15 characters; HotSpot's compiler
 * threads ("C2 CompilerThread0") lose their number that way: show the
 * whole word rather than "C2 CompilerThre". */
static const char *thread_display(const char *comm)
{
    if (!strcmp(comm, "C2 CompilerThre"))
        return "C2 CompilerThread";
    if (!strcmp(comm, "C1 CompilerThre"))
        return "C1 CompilerThread";
    return comm;
}

static const char *fail_name(int n)
{
    switch (n) {
    case -1: return "[no_class_load]";
    case -2: return "[GC_active]";
    case -3: return "[unknown_not_Java]";
    case -4: return "[not_walkable_not_Java]";
    case -5: return "[unknown_Java]";
    case -6: return "[not_walkable_Java]";
    case -7: return "[unknown_state]";
    case -8: return "[thread_exit]";
    case -9: return "[deopt]";
    case -10: return "[safepoint]";
    case -11: return "[crash_recovered]";
    default: return "[agct_error]";
    }
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
        native_ids[nn - 1 - i] = native_frame_ex(s->native[i], i > 0, &entry);
        if (i >= nn - 2 && entry)   /* libc's start_thread has no exported name: look one frame up too */
            whole_native_stack = true;
    }
    if (s->num_frames > 0) {
        int nf = s->num_frames > CP_RING_MAX_FRAMES ? CP_RING_MAX_FRAMES : s->num_frames;
        if (s->truncated) {
            stack_buf[n++] = synthetic_frame("[truncated]", CP_FRAME_ERROR);
            cp_stats_add(CP_ST_TRUNCATED, 1);
        }
        cp_codemap_classify(s->frames, nf, kind_buf);
        for (int i = nf - 1; i >= 0; i--)
            stack_buf[n++] = java_frame(jni, s->frames[i].method, s->frames[i].lineno, kind_buf[i]);
    } else {
        /* No Java stack: the thread (kind guessed from its name) is the
         * root; an AGCT failure adds its kind as the leaf. */
        char t[48];
        snprintf(t, sizeof t, "[%s] %s", thread_kind(s->thread), s->thread[0] ? thread_display(s->thread) : "?");
        stack_buf[n++] = synthetic_frame(t, CP_FRAME_THREAD);
        /* -3 (unknown_not_Java) on a JIT/GC/VM/agent thread just means the
         * thread never runs Java code: not a failure. Nor on a thread whose
         * native walk reached its start routine (start_thread,
         * thread_native_entry) without meeting JIT code: AGCT answers -3
         * for any thread in the VM without a Java frame anchor, e.g. the
         * "Service Thread" or a Java thread still starting up. */
        bool vm_thread = strcmp(thread_kind(s->thread), "native") != 0;
        if (s->num_frames == CP_SAMPLE_NOT_JAVA_THREAD || s->num_frames == 0 ||
            (s->num_frames == -3 && (vm_thread || whole_native_stack))) {
            cp_stats_add(CP_ST_SAMPLES_NOJAVA, 1);
        } else {
            cp_stats_add(cp_stats_agct_fail(s->num_frames), 1);
            stack_buf[n++] = synthetic_frame(fail_name(s->num_frames), CP_FRAME_ERROR);
        }
    }
    /* native frames, root-most first, under whatever came before */
    for (int i = 0; i < nn; i++)
        stack_buf[n++] = native_ids[i];
    if (nn)
        cp_stats_add(CP_ST_NATIVE_FRAMES, (uint64_t)nn);
    if (s->leaf_kind && s->leaf[0])
        stack_buf[n++] = synthetic_frame(s->leaf, s->leaf_kind);
    uint32_t sid;
    if (cp_stack_dict_intern_stack(g_dict, stack_buf, n, &sid) != 0)
        return;
    const cp_context_t *c = &s->ctx;
    uint32_t th = (c->trace_hi | c->trace_lo) ? intern_str(s->thread[0] ? thread_display(s->thread) : "?") : 0;
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
    cp_frame_t f = {intern_str(cls), intern_str(method), intern_str(""), 0, kind};
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

/* Returns the number of samples drained. */
static int drain(JNIEnv *jni)
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
    cp_u64map_clear(&frame_cache);
    /* method infos hold dictionary string ids: forget them too */
    for (size_t i = 0; i < n_minfos; i++)
        if (minfos[i].lines)
            (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)minfos[i].lines);
    n_minfos = 0;
    cp_u64map_clear(&method_cache);
    cp_u64map_clear(&native_cache);
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
    if (p->values && cp_stack_dict_memory(g_dict) > g_dict_max)
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

static void JNICALL harvester_main(jvmtiEnv *jvmti, JNIEnv *jni, void *arg)
{
    (void)jvmti; (void)arg;
    cp_sampler_ignore_current_thread();
    /* not nice +10 like the sender: with 2,000 busy threads the harvester
     * fell behind the ring (agent_wall_many: 4% dropped) */
    uint64_t next_flush = mono_ns() + (uint64_t)g_flush_ns;
    uint64_t next_scan = 0, next_budget = 0;
    uint64_t cost_last = 0;   /* cost.h: this thread's CPU, from its start */
    pthread_mutex_lock(&ctl_mu);
    cp_harvest_first_fn first = first_fn;
    first_fn = NULL;
    pthread_mutex_unlock(&ctl_mu);
    if (first)
        first(g_jvmti, jni);
    cp_cost_thread(&cost_last);   /* the preload is fixed cost, not sampling (overhead.h) */
    win_start_ms = cp_now_ms();
    last_proc_cpu_ns = proc_cpu_ns();
    pthread_mutex_lock(&ctl_mu);
    for (;;) {
        bool do_flush = req_flush, final = req_final;
        uint64_t asked = flush_asked;
        req_flush = false;
        pthread_mutex_unlock(&ctl_mu);

        uint64_t now = mono_ns();
        if (now >= next_scan) {
            /* the scan (a /proc/self/task walk, /proc/self/maps for the
             * native walk, threads older than the agent) grows with the
             * thread count, not the sampling rate: fixed cost for the
             * overhead budget (overhead.h), which it stretches anyway (up
             * to 32 x 500 ms); and never more than 0.1% of a core (with
             * 2,000 threads a scan costs ~5-10 ms) */
            uint64_t c0 = cp_cost_now();
            cp_sampler_scan();
            uint64_t c1 = cp_cost_now(), c = c1 > c0 ? c1 - c0 : 0;
            uint32_t k = cp_overhead_scale();
            uint64_t period = 500000000ULL * (k < 32 ? k : 32);
            next_scan = now + (period > 1000 * c ? period : 1000 * c);
        }
        /* Adaptive period: 50 ms while the ring stays under 1/8 full per
         * drain (cheap at cpu=10ms), 10 ms when samples pour in, 2 ms past
         * 1/4 (many busy threads at cpu=1ms), so the ring never fills from
         * signal handlers, which cannot wake us. The wall thread paces
         * itself on the ring and nudges us (cp_ring_nudge). */
        uint64_t d0 = cp_cost_now();
        int drained = drain(jni);
        if (drained > 0)   /* the drains grow with the sampling rate (overhead.h) */
            cp_stats_add(CP_ST_SAMPLING_NS, cp_cost_now() - d0);
        if (tick_fn)
            tick_fn();
        int cap = (int)cp_ring_capacity(g_ring);
        long period_ms = drained > cap / 4 ? 2 : drained > cap / 8 ? 10 : 50;
        /* a wake-up costs ~50-100 us of CPU on a VM: with intervals
         * stretched by the budget, an idle ring is polled less often (up
         * to 400 ms; at scale 8 the CPU interval is >= 80 ms, and the wall
         * thread and JVMTI producers nudge when the ring fills) */
        if (period_ms == 50 && drained < cap / 32) {
            uint32_t k = cp_overhead_scale();
            period_ms *= k < 8 ? k : 8;
        }
        if (now >= next_budget) {   /* the overhead budget's tick (overhead.h), once a second */
            cp_cost_thread(&cost_last);   /* sampling cost: its drains, counted as they go */
            cp_overhead_tick(memory_used());
            next_budget = now + 1000000000ULL;
        }
        if (do_flush || now >= next_flush) {
            cp_cost_thread(&cost_last);   /* into the window it closes */
            close_window();
            next_flush = mono_ns() + (uint64_t)g_flush_ns;
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
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += period_ms * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&ctl_cv, &ctl_mu, &ts);
        }
    }
    cp_cost_thread(&cost_last);
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

    jclass tc = (*jni)->FindClass(jni, "java/lang/Thread");
    jmethodID ctor = tc ? (*jni)->GetMethodID(jni, tc, "<init>", "(Ljava/lang/String;)V") : NULL;
    jstring name = (*jni)->NewStringUTF(jni, "cprof-harvester");
    jobject thr = ctor && name ? (*jni)->NewObject(jni, tc, ctor, name) : NULL;
    jvmtiError err = thr ? (*g_jvmti)->RunAgentThread(g_jvmti, thr, harvester_main, NULL, JVMTI_THREAD_NORM_PRIORITY)
                         : JVMTI_ERROR_INTERNAL;
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    if (err != JVMTI_ERROR_NONE) {
        CP_LOGE("cannot start the harvester thread (jvmti error %d)", err);
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
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
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
