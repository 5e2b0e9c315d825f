/* lock.c - monitor contention and j.u.c parking as CP_SAMPLE_LOCK samples.
 *
 * Where it sits: a producer for the agent's ring, like alloc.c (see lock.h
 * for the sampling rule and the leaf frames).
 *
 * Threads: cb_enter/cb_entered run on the contending Java thread itself, so
 * the enter time is a thread-local (no table, no lock). The park native runs
 * on the parking thread. start/stop come from the agent lifecycle.
 *
 * Parking: LockSupport is rewritten by this module's own ClassFileLoadHook
 * (only that class, CP_CF_HOOK_PARK) and retransformed once at start; the
 * dev.cprof.Lock shim does the timing in Java and calls lock_park_record. */
#include "lock.h"
#include "clock.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jvmti.h>

#include "alloc.h"
#include "classfile.h"
#include "cost.h"
#include "error.h"
#include "log.h"
#include "shim.h"
#include "sigsafe.h"
#include "stack_dict.h"

#define LOCKSUPPORT "java/util/concurrent/locks/LockSupport"

static struct {
    JavaVM    *vm;
    jvmtiEnv  *env;
    cp_ring_t *ring;
    int64_t    threshold;
    bool       caps_monitor, caps_retransform;
    bool       want, running, park_hooked, park_tried;
    jclass     shim;
    _Atomic bool recording;
    _Atomic bool hook_on;
    _Atomic uint64_t contended, parks, samples, drops;
} g;

static CP_TLS uint64_t t_enter_ns;      /* MonitorContendedEnter time, this thread */
static CP_TLS uint64_t t_rand;


static double rand01(void)
{
    uint64_t x = t_rand;
    if (!x) x = 0x9E3779B97F4A7C15ull ^ cp_mono_ns() ^ (uint64_t)(uintptr_t)&t_rand;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    t_rand = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static void pretty_class(jvmtiEnv *e, jclass k, const char *none, char *out, size_t outsz)
{
    char *sig = NULL;
    if (!k || (*e)->GetClassSignature(e, k, &sig, NULL) != JVMTI_ERROR_NONE || !sig) {
        snprintf(out, outsz, "[lock] %s", none);
        return;
    }
    size_t n = (size_t)snprintf(out, outsz, "[lock] ");
    const char *s = sig;
    int dims = 0;
    while (*s == '[') { dims++; s++; }
    if (*s == 'L') s++;
    for (; *s && *s != ';' && n + 1 < outsz; s++) out[n++] = *s == '/' ? '.' : *s;
    for (int i = 0; i < dims && n + 3 < outsz; i++) { out[n++] = '['; out[n++] = ']'; }
    out[n] = 0;
    (*e)->Deallocate(e, (unsigned char *)sig);
}

static void record(jvmtiEnv *e, JNIEnv *jni, jobject obj, const char *none, uint64_t ns, uint64_t count, int skip)
{
    jvmtiFrameInfo fr[CP_RING_MAX_FRAMES + 8];
    jint n = 0;
    char leaf[CP_RING_LEAF_MAX];
    if ((*e)->GetStackTrace(e, NULL, 0, CP_RING_MAX_FRAMES + 8, fr, &n) != JVMTI_ERROR_NONE) {
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);   /* statistic */
        return;
    }
    jclass k = obj ? (*jni)->GetObjectClass(jni, obj) : NULL;
    pretty_class(e, k, none, leaf, sizeof leaf);
    if (k) (*jni)->DeleteLocalRef(jni, k);
    if (skip > n) skip = n;
    int m = n - skip > CP_RING_MAX_FRAMES ? CP_RING_MAX_FRAMES : n - skip;
    if (cp_ring_push_jvmti(g.ring, CP_SAMPLE_LOCK, ns, count, fr + skip, m, leaf, CP_FRAME_LOCK))
        atomic_fetch_add_explicit(&g.samples, 1, memory_order_relaxed); /* statistic */
    else
        atomic_fetch_add_explicit(&g.drops, 1, memory_order_relaxed);   /* statistic */
}

/* The sampling rule of lock.h. Returns false when this wait is not sampled. */
static bool pick(uint64_t d, uint64_t *ns, uint64_t *count)
{
    uint64_t th = (uint64_t)g.threshold;
    if (d == 0) return false;
    if (d >= th) { *ns = d; *count = 1; return true; }
    if (rand01() * (double)th >= (double)d) return false;
    *ns = th;
    *count = (th + d / 2) / d;
    return true;
}

static void JNICALL cb_enter(jvmtiEnv *e, JNIEnv *jni, jthread t, jobject obj)
{
    t_enter_ns = cp_mono_ns();
}

static void JNICALL cb_entered(jvmtiEnv *e, JNIEnv *jni, jthread t, jobject obj)
{
    uint64_t t0 = t_enter_ns, ns, count;
    t_enter_ns = 0;
    if (!t0 || !atomic_load_explicit(&g.recording, memory_order_relaxed))   /* flag only */
        return;
    atomic_fetch_add_explicit(&g.contended, 1, memory_order_relaxed);       /* statistic */
    if (pick(cp_mono_ns() - t0, &ns, &count)) {
        uint64_t c0 = cp_cost_now();
        record(e, jni, obj, "?", ns, count, 0);
        cp_cost_sample(c0, CP_ST_SAMPLING_LOCK_NS);
    }
}

/* dev.cprof.Lock.record(Object blocker, long ns, long count): frames 0..2 are
 * this native, Lock.parkExit and the LockSupport.park* method; keep the
 * park* frame (it says which park), drop the shim. */
static void JNICALL lock_park_record(JNIEnv *jni, jclass cls, jobject blocker, jlong ns, jlong count)
{
    if (!atomic_load_explicit(&g.recording, memory_order_relaxed) || ns <= 0)  /* flag only */
        return;
    atomic_fetch_add_explicit(&g.parks, 1, memory_order_relaxed);           /* statistic */
    uint64_t c0 = cp_cost_now();
    record(g.env, jni, blocker, "park", (uint64_t)ns, (uint64_t)(count > 0 ? count : 1), 2);
    cp_cost_sample(c0, CP_ST_SAMPLING_LOCK_NS);
}

static void *jvmti_alloc(void *ctx, size_t n)
{
    unsigned char *p = NULL;
    jvmtiEnv *e = ctx;
    return (*e)->Allocate(e, (jlong)n, &p) == JVMTI_ERROR_NONE ? p : NULL;
}

static void JNICALL cb_cflh(jvmtiEnv *e, JNIEnv *jni, jclass redefined, jobject loader,
                            const char *name, jobject pd, jint len, const unsigned char *data,
                            jint *new_len, unsigned char **new_data)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    cp_classfile_result_t res;
    if (!atomic_load_explicit(&g.hook_on, memory_order_relaxed) || loader || !name ||   /* flag only */
        strcmp(name, LOCKSUPPORT) != 0 || len <= 0)
        return;
    cp_classfile_rewrite(data, (size_t)len, CP_CF_HOOK_PARK, jvmti_alloc, e, &out, &olen, &res);
    if (!out || olen > INT_MAX) {
        CP_LOGW("lock: LockSupport left unchanged (%s); parking not profiled", cp_classfile_skip_name(res.skip));
        if (out) (*e)->Deallocate(e, out);
        return;
    }
    g.park_hooked = true;
    *new_data = out;
    *new_len = (jint)olen;
}

/* True when the last JNI call threw nothing; else clears it and returns false.
 * Called after every JNI call that can throw, so -Xcheck:jni stays quiet. */
static bool jni_ok(JNIEnv *jni)
{
    if (!(*jni)->ExceptionCheck(jni)) return true;
    (*jni)->ExceptionClear(jni);
    return false;
}

static void set_shim(JNIEnv *jni, bool on)
{
    if (!g.shim) return;
    jfieldID f = (*jni)->GetStaticFieldID(jni, g.shim, "threshold", "J");
    if (jni_ok(jni) && f) (*jni)->SetStaticLongField(jni, g.shim, f, g.threshold);
    jfieldID o = (*jni)->GetStaticFieldID(jni, g.shim, "on", "Z");
    if (jni_ok(jni) && o) (*jni)->SetStaticBooleanField(jni, g.shim, o, on ? JNI_TRUE : JNI_FALSE);
}

/* Live phase: shim natives + LockSupport retransform (once). */
static void hook_park(JNIEnv *jni)
{
    if (g.park_tried) return;
    g.park_tried = true;
    if (!g.caps_retransform || cp_shim_define(jni) != 0) return;   /* CDS stays on: shim.h */
    jclass c = (*jni)->FindClass(jni, "dev/cprof/Lock");
    if (!jni_ok(jni)) c = NULL;
    static const JNINativeMethod nm[] = {
        { "record", "(Ljava/lang/Object;JJ)V", (void *)lock_park_record },
    };
    if (!c || (*jni)->RegisterNatives(jni, c, nm, 1) != 0 || !jni_ok(jni)) {
        jni_ok(jni);
        CP_LOGW("lock: dev.cprof.Lock unusable (old shim jar?); parking not profiled");
        return;
    }
    g.shim = (*jni)->NewGlobalRef(jni, c);
    set_shim(jni, true);
    atomic_store(&g.hook_on, true);
    (*g.env)->SetEventNotificationMode(g.env, JVMTI_ENABLE, JVMTI_EVENT_CLASS_FILE_LOAD_HOOK, NULL);
    jclass ls = (*jni)->FindClass(jni, LOCKSUPPORT);
    if (!jni_ok(jni)) ls = NULL;
    if (!ls || (*g.env)->RetransformClasses(g.env, 1, &ls) != JVMTI_ERROR_NONE) {
        CP_LOGW("lock: cannot retransform LockSupport; parking not profiled");
    }
    atomic_store(&g.hook_on, false);    /* nothing else to rewrite */
    (*g.env)->SetEventNotificationMode(g.env, JVMTI_DISABLE, JVMTI_EVENT_CLASS_FILE_LOAD_HOOK, NULL);
}

static void apply(JNIEnv *jni)
{
    jvmtiEnv *e = g.env;
    if (!g.want) {
        atomic_store(&g.recording, false);
        (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_MONITOR_CONTENDED_ENTER, NULL);
        (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_MONITOR_CONTENDED_ENTERED, NULL);
        if (jni) set_shim(jni, false);
        g.running = false;
        return;
    }
    if (g.caps_monitor) {
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_MONITOR_CONTENDED_ENTER, NULL);
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_MONITOR_CONTENDED_ENTERED, NULL);
    }
    atomic_store(&g.recording, true);
    if (jni) {
        hook_park(jni);
        set_shim(jni, true);
    }
    g.running = true;
    CP_LOGI("lock: on, threshold %ld ns (monitors %s, parking %s)", (long)g.threshold,
            g.caps_monitor ? "yes" : "no", g.park_hooked ? "yes" : "no");
}

static void JNICALL cb_vminit(jvmtiEnv *e, JNIEnv *jni, jthread t)
{
    apply(jni);
}

int cp_lock_start(JavaVM *vm, const cp_options_t *o, cp_ring_t *ring)
{
    if (!vm || !o) return CP_EINVAL;
    g.ring = ring;
    g.want = o->lock_ns > 0;
    if (!g.env && !g.want) return 0;
    if (!g.env) {
        jvmtiEnv *e = NULL;
        if ((*vm)->GetEnv(vm, (void **)&e, JVMTI_VERSION_1_2) != JNI_OK || !e) return CP_EUNSUPP;
        jvmtiCapabilities pot, caps;
        (*e)->GetPotentialCapabilities(e, &pot);
        memset(&caps, 0, sizeof caps);
        caps.can_generate_monitor_events = pot.can_generate_monitor_events;
        caps.can_retransform_classes = pot.can_retransform_classes;
        if ((*e)->AddCapabilities(e, &caps) != JVMTI_ERROR_NONE) {
            caps.can_retransform_classes = 0;
            if ((*e)->AddCapabilities(e, &caps) != JVMTI_ERROR_NONE) memset(&caps, 0, sizeof caps);
        }
        g.caps_monitor = caps.can_generate_monitor_events;
        g.caps_retransform = caps.can_retransform_classes;
        jvmtiEventCallbacks cb;
        memset(&cb, 0, sizeof cb);
        cb.VMInit = cb_vminit;
        cb.MonitorContendedEnter = cb_enter;
        cb.MonitorContendedEntered = cb_entered;
        cb.ClassFileLoadHook = cb_cflh;
        (*e)->SetEventCallbacks(e, &cb, sizeof cb);
        g.env = e;
        g.vm = vm;
        if (!g.caps_monitor && !g.caps_retransform) {
            CP_LOGW("lock: neither monitor events nor retransformation available; lock profiling off");
            return CP_EUNSUPP;
        }
    }
    g.threshold = o->lock_ns > 0 ? o->lock_ns : 10000000;
    jvmtiPhase ph = JVMTI_PHASE_ONLOAD;
    (*g.env)->GetPhase(g.env, &ph);
    if (ph == JVMTI_PHASE_LIVE) {
        JNIEnv *jni = NULL;
        if ((*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK) jni = NULL;
        apply(jni);
    } else if (g.want) {
        (*g.env)->SetEventNotificationMode(g.env, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL);
    }
    return 0;
}

void cp_lock_stop(void)
{
    JNIEnv *jni = NULL;
    if (!g.env) return;
    if (g.vm && (*g.vm)->GetEnv(g.vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK) jni = NULL;
    g.want = false;
    apply(jni);
}

void cp_lock_detach(void)
{
    JNIEnv *jni = NULL;
    cp_lock_stop();
    if (!g.env || !g.park_hooked || !g.vm || (*g.vm)->GetEnv(g.vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK)
        return;
    /* hook off: LockSupport gets its original bytes back */
    atomic_store(&g.hook_on, false);
    jclass ls = (*jni)->FindClass(jni, LOCKSUPPORT);
    if (!jni_ok(jni)) ls = NULL;
    if (ls && (*g.env)->RetransformClasses(g.env, 1, &ls) == JVMTI_ERROR_NONE) {
        g.park_hooked = false;
        g.park_tried = false;   /* a later start hooks it again */
        CP_LOGI("lock: LockSupport restored to its original bytes");
    } else {
        CP_LOGW("lock: cannot restore LockSupport; its hook stays, quiet (shim off)");
    }
}

void cp_lock_report(cp_lock_report_t *r)
{
    r->contended = atomic_load_explicit(&g.contended, memory_order_relaxed);   /* statistics */
    r->parks = atomic_load_explicit(&g.parks, memory_order_relaxed);
    r->samples = atomic_load_explicit(&g.samples, memory_order_relaxed);
    r->drops = atomic_load_explicit(&g.drops, memory_order_relaxed);
    r->park_hooked = g.park_hooked;
}
