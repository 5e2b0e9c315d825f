/* alloc.c - allocation profiling: JVMTI heap sampling or bytecode instrumentation.
 *
 * Where it sits: a producer for the agent's ring (CP_SAMPLE_ALLOC samples:
 * value = estimated bytes, count = estimated objects, leaf = "[alloc] <class>").
 * The harvester turns them into "alloc_bytes"/"alloc_objects" values.
 *
 * Threads:
 *   - cp_alloc_start/stop: the agent's lifecycle (OnLoad/OnAttach/VMDeath),
 *     serialised by the agent; the VMInit callback finishes a start made in
 *     the OnLoad phase.
 *   - cb_sampled (SampledObjectAlloc), cb_cflh (ClassFileLoadHook) and the
 *     shim natives (alloc_record/alloc_record_object) run on Java threads, any number
 *     at once: they only read settled state and bump atomic counters.
 *
 * Own jvmtiEnv: capabilities and callbacks here are independent of agent.c.
 *
 * Sample weights (see alloc.h): sample mode weights s/p bytes and 1/p objects
 * with p = 1 - exp(-s/interval), interval being the one the sample's point
 * was drawn with (the thread's previous sample's; overhead.h); instrument mode gets its weights from the
 * shim (arrays: k sample points in the allocation -> k*interval bytes;
 * objects: charged a fixed estimate by the countdown, weighted by their real
 * size here, see Alloc.object()).
 *
 * Instrument mode, which frames are dropped from a sample's stack: the
 * native record frame and the shim (dev.cprof.Alloc.*), then for objects
 * java.lang.Object.<init> and the <init> frames of the object's own
 * superclass chain (the constructors running for *this* object), so the leaf
 * Java frame is the method that said `new`. */
#include "alloc.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jvmti.h>

#include "classfile.h"
#include "cost.h"
#include "error.h"
#include "log.h"
#include "shim.h"
#include "stack_dict.h"
#include "stats.h"

enum { MODE_OFF = 0, MODE_SAMPLE = 1, MODE_INSTRUMENT = 2 };
#define EXTRA_FRAMES 16   /* shim + constructor frames dropped from the top */

static struct {
    JavaVM    *vm;
    jvmtiEnv  *env;
    cp_ring_t *ring;
    int        want_mode;        /* what the options ask for */
    int        mode;             /* what runs (MODE_*) */
    int64_t    interval;
    bool       caps_sample, caps_retransform;
    bool       live;             /* VMInit seen or attached live */
    bool       shim_loaded;
    jclass     shim;             /* global ref to dev.cprof.Alloc */
    jclass     object_cls;       /* global ref to java.lang.Object */
    jmethodID  object_init;
    bool       retransformed;
    _Atomic bool recording;      /* natives and callbacks record only while set */
    _Atomic bool hook_on;        /* ClassFileLoadHook rewrites only while set */
    _Atomic uint64_t samples, drops, rewritten, skipped, sites, rt_failed;
    _Atomic uint64_t hook_calls;   /* ClassFileLoadHook callbacks, rewriting or not */
    _Atomic uint64_t skip_reason[CP_CF_SKIP_MAX];
    _Atomic uint64_t skip_loader;  /* classes of loaders that cannot see the shim */
} g;

/* True when the last JNI call threw nothing; else clears it and returns false.
 * Called after every JNI call that can throw, so -Xcheck:jni stays quiet. */
static bool jni_ok(JNIEnv *jni)
{
    if (!(*jni)->ExceptionCheck(jni)) return true;
    (*jni)->ExceptionClear(jni);
    return false;
}

/* ---- naming ------------------------------------------------------------ */

/* JVM signature -> Java name: "Ljava/lang/String;" -> "java.lang.String",
 * "[I" -> "int[]", "[[Ljava/lang/Object;" -> "java.lang.Object[][]". */
static void pretty_sig(const char *sig, char *out, size_t outsz)
{
    int dims = 0;
    size_t n = 0;
    while (sig[0] == '[') { dims++; sig++; }
    const char *prim = NULL;
    switch (sig[0]) {
    case 'Z': prim = "boolean"; break;  case 'B': prim = "byte"; break;
    case 'C': prim = "char"; break;     case 'S': prim = "short"; break;
    case 'I': prim = "int"; break;      case 'J': prim = "long"; break;
    case 'F': prim = "float"; break;    case 'D': prim = "double"; break;
    case 'V': prim = "void"; break;
    }
    if (prim) {
        n = (size_t)snprintf(out, outsz, "%s", prim);
    } else {
        if (sig[0] == 'L') sig++;
        for (; *sig && *sig != ';' && n + 1 < outsz; sig++)
            out[n++] = *sig == '/' ? '.' : *sig;
        out[n] = 0;
    }
    for (int i = 0; i < dims && n + 3 < outsz; i++) {
        out[n++] = '['; out[n++] = ']'; out[n] = 0;
    }
}

static void class_leaf(jvmtiEnv *e, jclass k, char *out, size_t outsz)
{
    char *sig = NULL;
    char name[CP_RING_LEAF_MAX];
    if (k && (*e)->GetClassSignature(e, k, &sig, NULL) == JVMTI_ERROR_NONE && sig) {
        pretty_sig(sig, name, sizeof name);
        (*e)->Deallocate(e, (unsigned char *)sig);
    } else {
        snprintf(name, sizeof name, "?");
    }
    snprintf(out, outsz, "[alloc] %s", name);
}

static void push(jvmtiEnv *e, const jvmtiFrameInfo *fr, int n, jclass k, uint64_t bytes, uint64_t objects)
{
    char leaf[CP_RING_LEAF_MAX];
    class_leaf(e, k, leaf, sizeof leaf);
    if (cp_ring_push_jvmti(g.ring, CP_SAMPLE_ALLOC, bytes, objects, fr, n, leaf, CP_FRAME_ALLOC))
        atomic_fetch_add_explicit(&g.samples, 1, memory_order_relaxed);   /* statistic only */
    else
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);     /* statistic only */
}

/* ---- sample mode --------------------------------------------------------- */

/* The sampling interval this thread's current sample point was drawn
 * with (0: none seen yet); sample mode only. */
static CP_TLS int64_t t_drawn;

static void sampled(jvmtiEnv *e, jclass klass, jlong size)
{
    jvmtiFrameInfo fr[CP_RING_MAX_FRAMES];
    jint n = 0;
    if (!atomic_load_explicit(&g.recording, memory_order_relaxed) || size <= 0)  /* flag only */
        return;
    if ((*e)->GetStackTrace(e, NULL, 0, CP_RING_MAX_FRAMES, fr, &n) != JVMTI_ERROR_NONE) {
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);      /* statistic only */
        return;
    }
    /* this sample's point was drawn with the interval in force at the
     * thread's previous sample (HotSpot draws the next point when it takes
     * one, before this event): after a change, the first sample of each
     * thread stands for the old mean, not the new one */
    int64_t now_iv = g.interval > 0 ? g.interval : 1, drawn = t_drawn > 0 ? t_drawn : now_iv;
    t_drawn = now_iv;
    double s = (double)size, iv = (double)drawn;
    double p = -expm1(-s / iv);                 /* 1 - exp(-s/I), exact for tiny s */
    if (p <= 0) p = 1e-12;
    double bytes = s / p, objs = 1.0 / p;
    push(e, fr, n, klass, (uint64_t)llround(bytes), (uint64_t)llround(objs < 1 ? 1 : objs));
}

static void JNICALL cb_sampled(jvmtiEnv *e, JNIEnv *jni, jthread thread, jobject object,
                               jclass klass, jlong size)
{
    uint64_t c0 = cp_cost_now();
    sampled(e, klass, size);
    cp_cost_sample(c0, CP_ST_SAMPLING_ALLOC_NS);
}

/* ---- instrument mode: shim natives ---------------------------------------- */

static bool is_shim_frame(jvmtiEnv *e, JNIEnv *jni, jmethodID m)
{
    jclass dc = NULL;
    bool r = false;
    if ((*e)->GetMethodDeclaringClass(e, m, &dc) == JVMTI_ERROR_NONE && dc) {
        r = (*jni)->IsSameObject(jni, dc, g.shim);
        (*jni)->DeleteLocalRef(jni, dc);
    }
    return r;
}

/* A constructor of (a superclass of) k: part of constructing this object. */
static bool is_own_init(jvmtiEnv *e, JNIEnv *jni, jmethodID m, jclass k)
{
    char *name = NULL;
    jclass dc = NULL;
    bool r = false;
    if (m == g.object_init) return true;
    if ((*e)->GetMethodName(e, m, &name, NULL, NULL) != JVMTI_ERROR_NONE || !name) return false;
    if (strcmp(name, "<init>") == 0 && (*e)->GetMethodDeclaringClass(e, m, &dc) == JVMTI_ERROR_NONE && dc) {
        r = (*jni)->IsAssignableFrom(jni, k, dc);
        (*jni)->DeleteLocalRef(jni, dc);
    }
    (*e)->Deallocate(e, (unsigned char *)name);
    return r;
}

static void JNICALL alloc_record(JNIEnv *jni, jclass cls, jobject o, jlong bytes, jlong objects)
{
    jvmtiEnv *e = g.env;
    jvmtiFrameInfo fr[CP_RING_MAX_FRAMES + EXTRA_FRAMES];
    jint n = 0;
    if (!atomic_load_explicit(&g.recording, memory_order_relaxed) || !o || bytes <= 0)  /* flag only */
        return;
    if ((*e)->GetStackTrace(e, NULL, 0, CP_RING_MAX_FRAMES + EXTRA_FRAMES, fr, &n) != JVMTI_ERROR_NONE) {
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);      /* statistic only */
        return;
    }
    jclass k = (*jni)->GetObjectClass(jni, o);
    int i = 0;
    /* frame 0 is this native; then the shim */
    while (i < n && i < EXTRA_FRAMES && (i == 0 || is_shim_frame(e, jni, fr[i].method)))
        i++;
    while (i < n && i < EXTRA_FRAMES && is_own_init(e, jni, fr[i].method, k))
        i++;
    int m = n - i;
    if (m > CP_RING_MAX_FRAMES) m = CP_RING_MAX_FRAMES;
    push(e, fr + i, m, k, (uint64_t)bytes, (uint64_t)(objects > 0 ? objects : 1));
    (*jni)->DeleteLocalRef(jni, k);
}

/* dev.cprof.Alloc.recordObject(o, objects): the shim sampled o with a fixed
 * size estimate; the bytes are objects x o's real size. */
static void JNICALL alloc_record_object(JNIEnv *jni, jclass cls, jobject o, jlong objects)
{
    jlong sz = 0;
    if (!o || objects <= 0 || !atomic_load_explicit(&g.recording, memory_order_relaxed))  /* flag only */
        return;
    if ((*g.env)->GetObjectSize(g.env, o, &sz) != JVMTI_ERROR_NONE || sz <= 0) {
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);      /* statistic only */
        return;
    }
    alloc_record(jni, cls, o, objects * sz, objects);
}

/* ---- instrument mode: class-file hook ------------------------------------- */

static void *jvmti_alloc(void *ctx, size_t n)
{
    unsigned char *p = NULL;
    jvmtiEnv *e = ctx;
    if ((*e)->Allocate(e, (jlong)n, &p) != JVMTI_ERROR_NONE)
        return NULL;
    return p;
}

/* Can classes of `loader` link against dev.cprof.Alloc? Built-in loaders
 * delegate to the boot loader, but OSGi-style loaders may not: rewriting
 * their classes would make them fail with NoClassDefFoundError. Asked once
 * per loader with loader.loadClass("dev.cprof.Alloc") (re-entrant loads
 * from a ClassFileLoadHook are what superclass resolution does anyway);
 * answers are cached under weak references. */
#define LOADER_CACHE 128
static struct {
    pthread_mutex_t mu;
    jweak loader[LOADER_CACHE];
    bool ok[LOADER_CACHE];
    int n;
    jmethodID load_class;
} lc = { PTHREAD_MUTEX_INITIALIZER };

static bool loader_sees_shim(JNIEnv *jni, jobject loader)
{
    bool ok = false, found = false;
    if (!loader) return true;                   /* the boot loader holds the shim */
    if (!jni || !g.shim) return false;
    pthread_mutex_lock(&lc.mu);
    for (int i = 0; i < lc.n && !found; i++)
        if ((*jni)->IsSameObject(jni, lc.loader[i], loader)) { ok = lc.ok[i]; found = true; }
    pthread_mutex_unlock(&lc.mu);
    if (found) return ok;
    if (!lc.load_class) {
        jclass cl = (*jni)->FindClass(jni, "java/lang/ClassLoader");
        if (!jni_ok(jni)) cl = NULL;
        lc.load_class = cl ? (*jni)->GetMethodID(jni, cl, "loadClass", "(Ljava/lang/String;)Ljava/lang/Class;") : NULL;
        if (!jni_ok(jni)) lc.load_class = NULL;
        if (cl) (*jni)->DeleteLocalRef(jni, cl);
        if (!lc.load_class) return false;
    }
    jstring nm = (*jni)->NewStringUTF(jni, "dev.cprof.Alloc");
    if (!jni_ok(jni)) nm = NULL;
    jobject c = nm ? (*jni)->CallObjectMethod(jni, loader, lc.load_class, nm) : NULL;
    if (!jni_ok(jni)) c = NULL;
    ok = c && (*jni)->IsSameObject(jni, c, g.shim);
    if (c) (*jni)->DeleteLocalRef(jni, c);
    if (nm) (*jni)->DeleteLocalRef(jni, nm);
    pthread_mutex_lock(&lc.mu);
    int slot = lc.n < LOADER_CACHE ? lc.n++ : -1;
    if (slot < 0) {                             /* full: reuse a slot whose loader is gone */
        for (int i = 0; i < LOADER_CACHE && slot < 0; i++)
            if ((*jni)->IsSameObject(jni, lc.loader[i], NULL)) slot = i;
    }
    if (slot >= 0) {
        if (lc.loader[slot]) (*jni)->DeleteWeakGlobalRef(jni, lc.loader[slot]);
        lc.loader[slot] = (*jni)->NewWeakGlobalRef(jni, loader);
        lc.ok[slot] = ok;
    }
    pthread_mutex_unlock(&lc.mu);
    if (!ok) CP_LOGI("alloc: a class loader cannot see dev.cprof.Alloc; its classes are not instrumented");
    return ok;
}

static void cflh(jvmtiEnv *e, JNIEnv *jni, jobject loader, const char *name, jint len,
                 const unsigned char *data, jint *new_len, unsigned char **new_data)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    cp_classfile_result_t res;
    atomic_fetch_add_explicit(&g.hook_calls, 1, memory_order_relaxed);                 /* statistic */
    if (!atomic_load_explicit(&g.hook_on, memory_order_relaxed) || len <= 0)  /* flag only */
        return;
    if (!loader_sees_shim(jni, loader)) {
        atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed);                 /* statistic */
        atomic_fetch_add_explicit(&g.skip_loader, 1, memory_order_relaxed);             /* statistic */
        cp_stats_add(CP_ST_ALLOC_SKIPPED, 1);
        return;
    }
    cp_classfile_rewrite(data, (size_t)len, CP_CF_HOOK_ARRAYS | CP_CF_HOOK_OBJECT,
                         jvmti_alloc, e, &out, &olen, &res);
    if (res.skip != CP_CF_OK) {
        atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed);                 /* statistic */
        atomic_fetch_add_explicit(&g.skip_reason[res.skip], 1, memory_order_relaxed);  /* statistic */
        cp_stats_add(CP_ST_ALLOC_SKIPPED, 1);
        CP_LOGD("alloc: left %s unchanged: %s", name ? name : "?", cp_classfile_skip_name(res.skip));
    }
    if (!out)
        return;
    if (olen > INT_MAX) { (*e)->Deallocate(e, out); return; }
    atomic_fetch_add_explicit(&g.rewritten, 1, memory_order_relaxed);                  /* statistic */
    cp_stats_add(CP_ST_ALLOC_REWRITTEN, 1);
    atomic_fetch_add_explicit(&g.sites, res.sites, memory_order_relaxed);              /* statistic */
    *new_data = out;
    *new_len = (jint)olen;
}

static void JNICALL cb_cflh(jvmtiEnv *e, JNIEnv *jni, jclass redefined, jobject loader,
                            const char *name, jobject pd, jint len, const unsigned char *data,
                            jint *new_len, unsigned char **new_data)
{
    uint64_t c0 = atomic_load_explicit(&g.hook_on, memory_order_relaxed) ? cp_cost_now() : 0;  /* flag only */
    cflh(e, jni, loader, name, len, data, new_len, new_data);
    cp_cost_callback(c0);
}

/* ---- shim loading ----------------------------------------------------------- */

static void set_static_int(JNIEnv *jni, const char *f, const char *sig, jlong v)
{
    jfieldID id = (*jni)->GetStaticFieldID(jni, g.shim, f, sig);
    if (!jni_ok(jni) || !id) return;
    if (sig[0] == 'J') (*jni)->SetStaticLongField(jni, g.shim, id, v);
    else if (sig[0] == 'I') (*jni)->SetStaticIntField(jni, g.shim, id, (jint)v);
    else (*jni)->SetStaticBooleanField(jni, g.shim, id, v ? JNI_TRUE : JNI_FALSE);
}

/* The shim's classes are defined in the boot loader (shim.h), not added
 * to the boot class path, which would turn CDS off for the application's
 * classes. */
static int load_shim(JNIEnv *jni)
{
    if (g.shim_loaded) return 0;
    if (cp_shim_define(jni) != 0)
        return CP_ENOTFOUND;
    jclass c = (*jni)->FindClass(jni, "dev/cprof/Alloc");
    if (!jni_ok(jni) || !c) {
        CP_LOGW("alloc: dev.cprof.Alloc not in cprof-shim.jar (an older jar?)");
        return CP_ENOTFOUND;
    }
    static const JNINativeMethod nm[] = {
        { "record", "(Ljava/lang/Object;JJ)V", (void *)alloc_record },
        { "recordObject", "(Ljava/lang/Object;J)V", (void *)alloc_record_object },
    };
    if ((*jni)->RegisterNatives(jni, c, nm, 2) != 0 || !jni_ok(jni)) {
        jni_ok(jni);
        CP_LOGW("alloc: RegisterNatives on dev.cprof.Alloc failed (an older shim jar?)");
        return CP_ESTATE;
    }
    g.shim = (*jni)->NewGlobalRef(jni, c);
    jclass oc = (*jni)->FindClass(jni, "java/lang/Object");
    if (!jni_ok(jni)) oc = NULL;
    g.object_cls = oc ? (*jni)->NewGlobalRef(jni, oc) : NULL;
    g.object_init = oc ? (*jni)->GetMethodID(jni, oc, "<init>", "()V") : NULL;
    if (!jni_ok(jni)) g.object_init = NULL;

    /* sizes the shim cannot know: array header and reference size */
    jobject probe = (*jni)->NewIntArray(jni, 0);
    if (!jni_ok(jni)) probe = NULL;
    jobject probe2 = oc ? (*jni)->NewObjectArray(jni, 2, oc, NULL) : NULL;
    if (!jni_ok(jni)) probe2 = NULL;
    jlong h = 16, r2 = 24;
    if (probe) (*g.env)->GetObjectSize(g.env, probe, &h);
    if (probe2) (*g.env)->GetObjectSize(g.env, probe2, &r2);
    set_static_int(jni, "arrayHeader", "I", h);
    set_static_int(jni, "refSize", "I", (r2 - h) >= 8 ? 8 : 4);
    g.shim_loaded = true;
    CP_LOGI("alloc: shim loaded (array header %ld bytes)", (long)h);
    return 0;
}

/* Retransforms every modifiable class loaded so far: with the hook on, so
 * it gets the hooks; with it off, back to its original bytes. */
static void retransform_loaded(void)
{
    jint n = 0;
    jclass *cls = NULL;
    jvmtiEnv *e = g.env;
    if ((*e)->GetLoadedClasses(e, &n, &cls) != JVMTI_ERROR_NONE) return;
    jclass *mod = malloc(sizeof *mod * (size_t)(n > 0 ? n : 1));
    jint m = 0;
    for (jint i = 0; mod && i < n; i++) {
        jboolean ok = JNI_FALSE;
        if ((*e)->IsModifiableClass(e, cls[i], &ok) == JVMTI_ERROR_NONE && ok)
            mod[m++] = cls[i];
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (jint i = 0; i < m; i += 64) {
        jint k = m - i < 64 ? m - i : 64;
        if ((*e)->RetransformClasses(e, k, mod + i) == JVMTI_ERROR_NONE) continue;
        for (jint j = 0; j < k; j++)           /* one bad class must not stop the rest */
            if ((*e)->RetransformClasses(e, 1, mod + i + j) != JVMTI_ERROR_NONE) {
                atomic_fetch_add_explicit(&g.rt_failed, 1, memory_order_relaxed);  /* statistic */
                cp_stats_add(CP_ST_ALLOC_RT_FAILED, 1);
            }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CP_LOGI("alloc: retransformed %d of %d loaded classes %s in %.0f ms (%lu failed)", (int)m, (int)n,
            atomic_load(&g.hook_on) ? "with allocation hooks" : "back to their original bytes",
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
            (unsigned long)atomic_load(&g.rt_failed));
    free(mod);
    (*e)->Deallocate(e, (unsigned char *)cls);
}

/* ---- lifecycle ------------------------------------------------------------- */

/* One INFO line with what instrument mode did (skip count by reason). */
static void log_summary(void)
{
    char why[512];
    size_t n = 0;
    why[0] = 0;
    for (int k = 1; k < CP_CF_SKIP_MAX; k++) {
        uint64_t c = atomic_load_explicit(&g.skip_reason[k], memory_order_relaxed);   /* statistic */
        if (c && n < sizeof why)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%lu %s", n ? ", " : " (",
                                  (unsigned long)c, cp_classfile_skip_name((cp_cf_skip_t)k));
    }
    uint64_t sl = atomic_load_explicit(&g.skip_loader, memory_order_relaxed);          /* statistic */
    if (sl && n < sizeof why)
        n += (size_t)snprintf(why + n, sizeof why - n, "%s%lu class loader cannot see the shim",
                              n ? ", " : " (", (unsigned long)sl);
    if (n && n < sizeof why - 1) snprintf(why + n, sizeof why - n, ")");
    CP_LOGI("alloc: instrument summary: %lu classes rewritten, %lu call sites, %lu skipped%s, "
            "%lu retransform failures, %lu samples, %lu dropped",
            (unsigned long)atomic_load(&g.rewritten), (unsigned long)atomic_load(&g.sites),
            (unsigned long)atomic_load(&g.skipped), why, (unsigned long)atomic_load(&g.rt_failed),
            (unsigned long)atomic_load(&g.samples), (unsigned long)atomic_load(&g.drops));
}

static void stop_running(JNIEnv *jni)
{
    jvmtiEnv *e = g.env;
    if (g.mode == MODE_INSTRUMENT) log_summary();
    atomic_store(&g.recording, false);
    if (g.mode == MODE_SAMPLE && e)
        (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_SAMPLED_OBJECT_ALLOC, NULL);
    if (g.mode == MODE_INSTRUMENT) {
        atomic_store(&g.hook_on, false);
        if (jni && g.shim) set_static_int(jni, "on", "Z", 0);
    }
    g.mode = MODE_OFF;
}

/* Live phase: makes the wanted mode run. */
static void apply(JNIEnv *jni)
{
    jvmtiEnv *e = g.env;
    int want = g.want_mode;
    if (want == g.mode && want != MODE_OFF) {           /* same engine: new interval */
        if (want == MODE_SAMPLE) (*e)->SetHeapSamplingInterval(e, (jint)g.interval);
        else set_static_int(jni, "interval", "J", g.interval);
        return;
    }
    stop_running(jni);
    if (want == MODE_INSTRUMENT) {
        if (!g.caps_retransform || load_shim(jni) != 0) {
            CP_LOGW("alloc: instrument mode unavailable%s", g.caps_sample ? "; using sample mode" : "");
            want = g.caps_sample ? MODE_SAMPLE : MODE_OFF;
        }
    }
    if (want == MODE_SAMPLE) {
        if ((*e)->SetHeapSamplingInterval(e, (jint)g.interval) != JVMTI_ERROR_NONE ||
            (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_SAMPLED_OBJECT_ALLOC, NULL) != JVMTI_ERROR_NONE) {
            CP_LOGW("alloc: heap sampling cannot be enabled; allocation profiling off");
            return;
        }
        atomic_store(&g.recording, true);
        g.mode = MODE_SAMPLE;
    } else if (want == MODE_INSTRUMENT) {
        set_static_int(jni, "interval", "J", g.interval);
        atomic_store(&g.hook_on, true);
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_CLASS_FILE_LOAD_HOOK, NULL);
        g.mode = MODE_INSTRUMENT;
        if (!g.retransformed) {
            g.retransformed = true;
            retransform_loaded();
        }
        /* record only once every loaded class has its hooks: while the
         * retransform runs, some sites would count and others not, which
         * would skew the profile towards the classes done first */
        atomic_store(&g.recording, true);
        set_static_int(jni, "on", "Z", 1);
    }
    CP_LOGI("alloc: %s mode, interval %ld bytes", g.mode == MODE_SAMPLE ? "sample" :
            g.mode == MODE_INSTRUMENT ? "instrument" : "off", (long)g.interval);
}

static void JNICALL cb_vminit(jvmtiEnv *e, JNIEnv *jni, jthread t)
{
    g.live = true;
    apply(jni);
}

static int setup_env(JavaVM *vm)
{
    jvmtiEnv *e = NULL;
    if (g.env) return 0;
    /* JVMTI 11 has heap sampling; an older JVM (8) still offers instrument mode */
    if ((*vm)->GetEnv(vm, (void **)&e, JVMTI_VERSION_11) != JNI_OK || !e) {
        e = NULL;
        if ((*vm)->GetEnv(vm, (void **)&e, JVMTI_VERSION_1_2) != JNI_OK || !e) {
            CP_LOGW("alloc: no JVMTI environment; allocation profiling off");
            return CP_EUNSUPP;
        }
    }
    jvmtiCapabilities pot, want;
    memset(&want, 0, sizeof want);
    (*e)->GetPotentialCapabilities(e, &pot);
    want.can_generate_sampled_object_alloc_events = pot.can_generate_sampled_object_alloc_events;
    want.can_retransform_classes = pot.can_retransform_classes;
    want.can_generate_all_class_hook_events = pot.can_generate_all_class_hook_events;
    if ((*e)->AddCapabilities(e, &want) != JVMTI_ERROR_NONE) {
        want.can_generate_all_class_hook_events = 0;
        if ((*e)->AddCapabilities(e, &want) != JVMTI_ERROR_NONE)
            memset(&want, 0, sizeof want);
    }
    g.caps_sample = want.can_generate_sampled_object_alloc_events;
    g.caps_retransform = want.can_retransform_classes;
    jvmtiEventCallbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.VMInit = cb_vminit;
    cb.SampledObjectAlloc = cb_sampled;
    cb.ClassFileLoadHook = cb_cflh;
    (*e)->SetEventCallbacks(e, &cb, sizeof cb);
    g.env = e;
    g.vm = vm;
    return 0;
}

int cp_alloc_start(JavaVM *vm, const cp_options_t *o, cp_ring_t *ring)
{
    JNIEnv *jni = NULL;
    if (!vm || !o) return CP_EINVAL;
    g.ring = ring;
    if (o->alloc_bytes <= 0) {
        g.want_mode = MODE_OFF;
        if (g.env && g.live) {
            (*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_8);
            stop_running(jni);
        }
        return 0;
    }
    int rc = setup_env(vm);
    if (rc) return rc;
    g.interval = o->alloc_bytes > INT_MAX ? INT_MAX : o->alloc_bytes;
    if (strcmp(o->alloc_mode, "instrument") == 0) g.want_mode = MODE_INSTRUMENT;
    else if (o->alloc_mode[0] == 0 || strcmp(o->alloc_mode, "sample") == 0)
        g.want_mode = g.caps_sample ? MODE_SAMPLE : MODE_INSTRUMENT;
    else {
        CP_LOGW("alloc.mode=%s: unknown mode (sample or instrument); using sample", o->alloc_mode);
        g.want_mode = g.caps_sample ? MODE_SAMPLE : MODE_INSTRUMENT;
    }
    if (!g.caps_sample && !g.caps_retransform) {
        CP_LOGW("alloc: this JVM offers neither heap sampling nor retransformation; allocation profiling off");
        return CP_EUNSUPP;
    }
    jvmtiPhase ph = JVMTI_PHASE_ONLOAD;
    (*g.env)->GetPhase(g.env, &ph);
    if (ph == JVMTI_PHASE_LIVE) {
        g.live = true;
        if ((*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK) return CP_ESTATE;
        apply(jni);
    } else {
        (*g.env)->SetEventNotificationMode(g.env, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL);
    }
    return 0;
}

void cp_alloc_stop(void)
{
    JNIEnv *jni = NULL;
    if (!g.env) return;
    if (g.vm && (*g.vm)->GetEnv(g.vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK) jni = NULL;
    g.want_mode = MODE_OFF;
    stop_running(jni);
}

void cp_alloc_detach(void)
{
    cp_alloc_stop();
    if (!g.env || !g.retransformed)
        return;
    /* the hook is off: retransformation hands every class its original
     * bytes, so no instrumented code calls into the shim any more */
    retransform_loaded();
    (*g.env)->SetEventNotificationMode(g.env, JVMTI_DISABLE, JVMTI_EVENT_CLASS_FILE_LOAD_HOOK, NULL);
    g.retransformed = false;   /* a later instrument start hooks every class again */
}

void cp_alloc_report(cp_alloc_report_t *r)
{
    r->mode = g.mode == MODE_SAMPLE ? "sample" : g.mode == MODE_INSTRUMENT ? "instrument" : "off";
    r->samples = atomic_load_explicit(&g.samples, memory_order_relaxed);          /* statistics */
    r->drops = atomic_load_explicit(&g.drops, memory_order_relaxed);
    r->classes_rewritten = atomic_load_explicit(&g.rewritten, memory_order_relaxed);
    r->classes_skipped = atomic_load_explicit(&g.skipped, memory_order_relaxed);
    r->sites = atomic_load_explicit(&g.sites, memory_order_relaxed);
    r->retransform_failed = atomic_load_explicit(&g.rt_failed, memory_order_relaxed);
    r->hook_calls = atomic_load_explicit(&g.hook_calls, memory_order_relaxed);
}
