/* context.c - per-thread request context: the TLS slot the handlers read,
 * and the shim's natives (and fast path) that write it (see context.h, docs/context.md).
 *
 * The slot: rec[2] and cur. The writer (the thread itself, in
 * cp_context_set) fills rec[!cur] and then stores cur; a signal handler on
 * the same thread reads rec[cur]. Same-thread only, so compiler barriers
 * (atomic_signal_fence) order it: no CPU fence is needed between a thread
 * and its own signal handler.
 *
 * The fast path: a platform thread's shim writes its slot itself, through
 * a direct ByteBuffer over the slot (Ctx.slot0, once per thread), by the
 * same protocol: fill rec[!cur], then a release store of cur (a VarHandle
 * setRelease: the JIT may not move the record's stores after it). No JNI
 * transition per call; the layout below is fixed for the shim
 * (CP_CONTEXT_SLOT_* in context.h, checked by _Static_assert). Virtual
 * threads keep the JNI path (set0): their slot is the carrier's.
 *
 * Threads: cp_context_get on any thread, in handlers too; cp_context_set
 * and the natives on the thread whose context changes; start/stop on the
 * agent's lifecycle thread. */
#include "context.h"

#include "error.h"
#include "log.h"
#include "lsets.h"
#include "stats.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Both records and the index in one cache line: the shim writes it on
 * every scope's open and close, among the application's own misses. */
typedef struct slot {
    struct { uint64_t trace_hi, trace_lo, span; } ids[2];   /* record i's ids */
    uint32_t labels[2];                                     /* record i's label set */
    volatile int cur;                                       /* index of the record handlers read */
} __attribute__((aligned(64))) slot_t;

static CP_TLS slot_t tls_ctx;

/* The shim writes these offsets (Ctx.java: SLOT_*); keep them in step. */
_Static_assert(offsetof(slot_t, ids[1]) == 24 && offsetof(slot_t, ids[0].trace_lo) == 8 &&
               offsetof(slot_t, ids[0].span) == 16, "Ctx.java: record i's ids at 24 * i: hi, lo, span");
_Static_assert(offsetof(slot_t, labels[1]) == 52, "Ctx.java: record i's labels at 48 + 4 * i");
_Static_assert(offsetof(slot_t, cur) == 56 && sizeof(int) == 4, "Ctx.java: cur at 56, 4 bytes");
_Static_assert(sizeof(slot_t) == 64, "one cache line");

static jclass g_ctx_cls;    /* global ref to dev.cprof.Ctx */
static void (*g_first_use)(JNIEnv *);
static atomic_bool g_used;

void cp_context_on_first_use(void (*fn)(JNIEnv *jni))
{
    g_first_use = fn;
}

CP_SIGSAFE void cp_context_get(cp_context_t *out)
{
    int i = tls_ctx.cur & 1;
    atomic_signal_fence(memory_order_acquire);   /* read record i after cur: pairs with set's release */
    out->labels = tls_ctx.labels[i];
    out->trace_hi = tls_ctx.ids[i].trace_hi;
    out->trace_lo = tls_ctx.ids[i].trace_lo;
    out->span = tls_ctx.ids[i].span;
}

void cp_context_set(const cp_context_t *c)
{
    int n = !tls_ctx.cur;
    tls_ctx.labels[n] = c->labels;
    tls_ctx.ids[n].trace_hi = c->trace_hi;
    tls_ctx.ids[n].trace_lo = c->trace_lo;
    tls_ctx.ids[n].span = c->span;
    atomic_signal_fence(memory_order_release);   /* the record is whole before a handler can pick it */
    tls_ctx.cur = n;
}

/* The shim's natives are found by name: HotSpot looks a native method up
 * in the JVMTI agent libraries too (after the class loader's own), for
 * classes of any loader. So dev.cprof.Ctx works wherever the application
 * loaded cprof-shim.jar from, without the agent appending the jar to the
 * boot class path (which turns CDS off for non-boot classes and prints a
 * warning). exports.map exports exactly these four. */
#define CP_JNI_EXPORT __attribute__((visibility("default"))) JNIEXPORT
CP_JNI_EXPORT jboolean JNICALL Java_dev_cprof_Ctx_on0(JNIEnv *jni, jclass cls);
CP_JNI_EXPORT void JNICALL Java_dev_cprof_Ctx_set0(JNIEnv *jni, jclass cls, jint set, jlong hi, jlong lo,
                                                   jlong span);
CP_JNI_EXPORT jint JNICALL Java_dev_cprof_Ctx_define0(JNIEnv *jni, jclass cls, jobjectArray pairs);
CP_JNI_EXPORT jobject JNICALL Java_dev_cprof_Ctx_slot0(JNIEnv *jni, jclass cls);

/* dev.cprof.Ctx.on0(): the agent is here (the shim probes it once). */
CP_JNI_EXPORT jboolean JNICALL Java_dev_cprof_Ctx_on0(JNIEnv *jni, jclass cls)
{
    (void)jni; (void)cls;
    return JNI_TRUE;
}

static void first_use(JNIEnv *jni)
{
    /* relaxed: a second caller running fn too is harmless (fn is idempotent) */
    if (CP_UNLIKELY(!atomic_load_explicit(&g_used, memory_order_relaxed))) {
        atomic_store_explicit(&g_used, true, memory_order_relaxed);
        if (g_first_use)
            g_first_use(jni);
    }
}

/* dev.cprof.Ctx.slot0() -> a direct ByteBuffer over the calling thread's
 * slot (the fast path, see the file comment), or null. Valid while the
 * thread lives: the shim keeps it in the thread's own state only. The shim
 * asks when it first publishes a context on a platform thread, so this is
 * a first use too. */
CP_JNI_EXPORT jobject JNICALL Java_dev_cprof_Ctx_slot0(JNIEnv *jni, jclass cls)
{
    (void)cls;
    jobject b = (*jni)->NewDirectByteBuffer(jni, &tls_ctx, (jlong)sizeof tls_ctx);
    if ((*jni)->ExceptionCheck(jni)) {
        (*jni)->ExceptionClear(jni);
        b = NULL;
    }
    if (b)
        cp_stats_add(CP_ST_CONTEXT_FAST, 1);
    first_use(jni);
    return b;
}

/* dev.cprof.Ctx.set0(int set, long traceHi, long traceLo, long span) */
CP_JNI_EXPORT void JNICALL Java_dev_cprof_Ctx_set0(JNIEnv *jni, jclass cls, jint set, jlong hi, jlong lo, jlong span)
{
    (void)cls;
    cp_context_t c = {(uint32_t)(set > 0 ? set : 0), (uint64_t)hi, (uint64_t)lo, (uint64_t)span};
    cp_context_set(&c);
    if (set > 0 || hi || lo)
        first_use(jni);
}

/* dev.cprof.Ctx.define0(String[] pairs) -> id, -1 when the table is full */
CP_JNI_EXPORT jint JNICALL Java_dev_cprof_Ctx_define0(JNIEnv *jni, jclass cls, jobjectArray pairs)
{
    (void)cls;
    if (!pairs)
        return 0;
    jsize n = (*jni)->GetArrayLength(jni, pairs);
    if (n > CP_LSETS_MAX_PAIRS * 2)
        n = CP_LSETS_MAX_PAIRS * 2;
    cp_kv_t kv[CP_LSETS_MAX_PAIRS];
    jstring js[CP_LSETS_MAX_PAIRS * 2];
    const char *cs[CP_LSETS_MAX_PAIRS * 2];
    jsize got = 0;
    for (; got < n; got++) {
        js[got] = (jstring)(*jni)->GetObjectArrayElement(jni, pairs, got);
        cs[got] = js[got] ? (*jni)->GetStringUTFChars(jni, js[got], NULL) : NULL;
        if ((*jni)->ExceptionCheck(jni) || !cs[got]) {
            (*jni)->ExceptionClear(jni);
            break;
        }
    }
    uint32_t m = 0;
    for (jsize i = 0; i + 1 < got; i += 2)
        kv[m++] = (cp_kv_t){cs[i], cs[i + 1]};
    int32_t id = cp_lsets_intern(kv, m);
    for (jsize i = 0; i < got; i++)
        (*jni)->ReleaseStringUTFChars(jni, js[i], cs[i]);
    for (jsize i = 0; i < got && i < n; i++)
        if (js[i])
            (*jni)->DeleteLocalRef(jni, js[i]);
    return (jint)id;
}

static void set_on(JNIEnv *jni, bool on)
{
    if (!g_ctx_cls)
        return;
    jfieldID f = (*jni)->GetStaticFieldID(jni, g_ctx_cls, "on", "Z");
    if ((*jni)->ExceptionCheck(jni)) {
        (*jni)->ExceptionClear(jni);
        return;
    }
    (*jni)->SetStaticBooleanField(jni, g_ctx_cls, f, on ? JNI_TRUE : JNI_FALSE);
}

int cp_context_start(JNIEnv *jni)
{
    if (!g_ctx_cls) {
        jclass c = (*jni)->FindClass(jni, "dev/cprof/Ctx");
        if ((*jni)->ExceptionCheck(jni) || !c) {
            (*jni)->ExceptionClear(jni);
            CP_LOGW("context: dev.cprof.Ctx not found (an older cprof-shim.jar?); Cprof.context does nothing");
            return CP_ENOTFOUND;
        }
        static const JNINativeMethod nm[] = {
            {"define0", "([Ljava/lang/String;)I", (void *)Java_dev_cprof_Ctx_define0},
            {"set0", "(IJJJ)V", (void *)Java_dev_cprof_Ctx_set0},
            {"on0", "()Z", (void *)Java_dev_cprof_Ctx_on0},
            {"slot0", "()Ljava/nio/ByteBuffer;", (void *)Java_dev_cprof_Ctx_slot0},
        };
        int n = 4;
        if ((*jni)->RegisterNatives(jni, c, nm, n) != 0 || (*jni)->ExceptionCheck(jni)) {
            (*jni)->ExceptionClear(jni);   /* an older shim without slot0: the other three */
            n = 3;
        }
        if (n == 3 && ((*jni)->RegisterNatives(jni, c, nm, n) != 0 || (*jni)->ExceptionCheck(jni))) {
            (*jni)->ExceptionClear(jni);
            CP_LOGW("context: RegisterNatives on dev.cprof.Ctx failed; Cprof.context does nothing");
            return CP_ENOTFOUND;
        }
        g_ctx_cls = (*jni)->NewGlobalRef(jni, c);
        (*jni)->DeleteLocalRef(jni, c);
    }
    set_on(jni, true);
    return 0;
}
