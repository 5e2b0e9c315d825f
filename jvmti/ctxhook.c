/* ctxhook.c - automatic request context: wraps HTTP entry points and
 * executor submissions at class load (design and rules in ctxhook.h).
 *
 * Where it sits: a ClassFileLoadHook on its own jvmtiEnv. The hook looks at
 * the class name first (a few string compares: this runs for every class
 * the program loads); only the hooked classes are parsed and rewritten, by
 * classfile_wrap.c (HTTP: a try/finally around the whole method) and
 * classfile.c (CP_CF_HOOK_EXEC: the task argument replaced at entry).
 *
 * When the hook is on: with context.http=on (the default) only from the
 * first class of an HTTP API package on (com/sun/net/httpserver/,
 * javax/servlet/, jakarta/servlet/: a ClassLoad event on this env, one
 * GetClassSignature per class until then). An enabled ClassFileLoadHook
 * makes HotSpot read every CDS-shared class's bytes from the runtime image
 * to hand them over (~125 classes between VMInit and a trivial main: ~5 ms
 * of its start-up, ~10 ms of CPU), so a JVM without an HTTP server must not
 * have it on. The wrapped classes load after their package's first class:
 * HttpServlet after the container's ServletContext & co, Filter$Chain at
 * the first request, a handler after the HttpHandler interface it
 * implements is resolved... except the class that pulls that interface in
 * (a handler loaded before any com.sun.net.httpserver class, such as a main
 * class that is its own handler): Filter$Chain still gives its requests
 * their context. A hooked class that is itself the first of its package is
 * loaded before the hook: warned about and counted as skipped.
 * context.http=eager and context.executors=on hook from VMInit.
 *
 * The first hooked class loads the shim (cprof-shim.jar's classes defined
 * in the boot loader, shim.h, then the context natives, context.h) before
 * its bytes are handed back, so the calls it gets always resolve. A class of a named module
 * (the JDK's jdk.httpserver) does not read the boot loader's unnamed
 * module where the shim lives: the hook adds that read edge (AddModuleReads)
 * before the class can run. Classes of a loader that cannot see the shim
 * (OSGi-style isolation) are left alone and counted.
 *
 * Threads: cp_ctxhook_start/stop on the agent lifecycle; the hook and the
 * trigger on any Java thread, several at once: the flags are atomics, shim
 * loading and the loader cache hold a mutex (class loading is not a hot
 * path). */
#include "ctxhook.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <jvmti.h>

#include "classfile.h"
#include "context.h"
#include "ctx_vthread.h"
#include "error.h"
#include "log.h"
#include "shim.h"
#include "stats.h"

#define HTTP_CLASS     "dev/cprof/Http"
#define JDK_EXCHANGE   "(Lcom/sun/net/httpserver/HttpExchange;)V"
#define JDK_CHAIN      "com/sun/net/httpserver/Filter$Chain"
#define JDK_PACKAGE    "com/sun/net/httpserver"
#define LOADER_CACHE   32

static struct {
    JavaVM   *vm;
    jvmtiEnv *env;
    _Atomic bool http, executors;     /* what applies to classes loaded from now on */
    _Atomic bool hook_on;
    _Atomic bool armed;               /* ClassLoad on: waiting for an HTTP API class (lazy context.http) */
    pthread_mutex_t mu;               /* below: shim state, loader cache */
    bool      shim_tried, shim_ok;
    jclass    http_cls;               /* global ref: dev.cprof.Http (boot loader) */
    jobject   shim_module;            /* global ref: the boot loader's unnamed module */
    jweak     loader[LOADER_CACHE];
    bool      loader_ok[LOADER_CACHE];
    int       nloaders;
    jmethodID load_class;
    bool      http_eager;             /* context.http=eager: hook from VMInit */
    _Atomic uint64_t wrapped, executors_n, skipped;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER };

static bool jni_ok(JNIEnv *jni)
{
    if (!(*jni)->ExceptionCheck(jni)) return true;
    (*jni)->ExceptionClear(jni);
    return false;
}

static void *jvmti_alloc(void *ctx, size_t n)
{
    unsigned char *p = NULL;
    jvmtiEnv *e = ctx;
    return (*e)->Allocate(e, (jlong)n, &p) == JVMTI_ERROR_NONE ? p : NULL;
}

/* Boot class path + context natives + dev.cprof.Http, once. Caller holds g.mu. */
static bool shim_locked(JNIEnv *jni)
{
    if (g.shim_tried) return g.shim_ok;
    g.shim_tried = true;
    if (cp_shim_define(jni) != 0) return false;
    if (cp_context_start(jni) != 0)
        CP_LOGW("context: the shim's context API is off; HTTP entries get no context");
    jclass c = (*jni)->FindClass(jni, HTTP_CLASS);
    if (!jni_ok(jni) || !c) {
        CP_LOGW("context: %s not found (an older cprof-shim.jar?); context.http off", HTTP_CLASS);
        return false;
    }
    g.http_cls = (*jni)->NewGlobalRef(jni, c);
    jobject m = (*jni)->GetModule(jni, c);
    if (!jni_ok(jni)) m = NULL;
    g.shim_module = m ? (*jni)->NewGlobalRef(jni, m) : NULL;
    g.shim_ok = g.http_cls != NULL;
    jclass ctx = (*jni)->FindClass(jni, "dev/cprof/Ctx");
    if (!jni_ok(jni)) ctx = NULL;
    cp_ctx_vthread_start(g.vm, jni, ctx);          /* context per virtual thread from now on (JDK 21+) */
    CP_LOGI("context: shim loaded for HTTP/executor hooks");
    return g.shim_ok;
}

/* Can classes of `loader` link against dev.cprof.Http? Asked once per
 * loader (loadClass), answers cached under weak references. Caller holds g.mu. */
static bool loader_ok_locked(JNIEnv *jni, jobject loader)
{
    if (!loader) return true;
    for (int i = 0; i < g.nloaders; i++)
        if ((*jni)->IsSameObject(jni, g.loader[i], loader)) return g.loader_ok[i];
    if (!g.load_class) {
        jclass cl = (*jni)->FindClass(jni, "java/lang/ClassLoader");
        if (!jni_ok(jni)) cl = NULL;
        g.load_class = cl ? (*jni)->GetMethodID(jni, cl, "loadClass", "(Ljava/lang/String;)Ljava/lang/Class;") : NULL;
        if (!jni_ok(jni)) g.load_class = NULL;
        if (!g.load_class) return false;
    }
    jstring nm = (*jni)->NewStringUTF(jni, "dev.cprof.Http");
    if (!jni_ok(jni)) nm = NULL;
    jobject c = nm ? (*jni)->CallObjectMethod(jni, loader, g.load_class, nm) : NULL;
    if (!jni_ok(jni)) c = NULL;
    bool ok = c && (*jni)->IsSameObject(jni, c, g.http_cls);
    int slot = g.nloaders < LOADER_CACHE ? g.nloaders++ : -1;
    for (int i = 0; i < LOADER_CACHE && slot < 0; i++)          /* full: a slot whose loader is gone */
        if ((*jni)->IsSameObject(jni, g.loader[i], NULL)) slot = i;
    if (slot >= 0) {
        if (g.loader[slot]) (*jni)->DeleteWeakGlobalRef(jni, g.loader[slot]);
        g.loader[slot] = (*jni)->NewWeakGlobalRef(jni, loader);
        g.loader_ok[slot] = ok;
    }
    if (!ok) CP_LOGI("context: a class loader cannot see %s; its HTTP entries get no context", HTTP_CLASS);
    return ok;
}

/* The shim is usable by classes of `loader` in package `pkg` (named
 * modules get a read edge to the shim's module). */
static bool prepare(JNIEnv *jni, jobject loader, const char *pkg)
{
    bool ok;
    if (!jni) return false;
    pthread_mutex_lock(&g.mu);
    ok = shim_locked(jni) && loader_ok_locked(jni, loader);
    if (ok && pkg && g.shim_module) {
        jobject mod = NULL;
        if ((*g.env)->GetNamedModule(g.env, loader, pkg, &mod) == JVMTI_ERROR_NONE && mod) {
            if ((*g.env)->AddModuleReads(g.env, mod, g.shim_module) != JVMTI_ERROR_NONE) {
                CP_LOGW("context: cannot let the module of %s read the shim; not hooked", pkg);
                ok = false;
            }
        }
    }
    pthread_mutex_unlock(&g.mu);
    return ok;
}

/* The package of an internal class name ("a/b/C" -> "a/b"), into buf. */
static const char *package_of(const char *name, char *buf, size_t n)
{
    const char *s = strrchr(name, '/');
    size_t len = s ? (size_t)(s - name) : 0;
    if (!s || len >= n) return NULL;
    memcpy(buf, name, len);
    buf[len] = 0;
    return buf;
}

static bool system_class(const char *name)
{
    static const char *const pre[] = { "java/", "jdk/", "sun/", "com/sun/", "javax/", "jakarta/", "dev/cprof/" };
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        if (strncmp(name, pre[i], strlen(pre[i])) == 0) return true;
    return false;
}

static bool exec_class(const char *name)
{
    return strcmp(name, "java/util/concurrent/ThreadPoolExecutor") == 0 ||
           strcmp(name, "java/util/concurrent/ScheduledThreadPoolExecutor") == 0 ||
           strcmp(name, "java/util/concurrent/ForkJoinPool") == 0;
}

static void hand_back(jvmtiEnv *e, const char *name, uint8_t *out, size_t olen, const cp_classfile_result_t *res,
                      _Atomic uint64_t *count, jint *new_len, unsigned char **new_data)
{
    if (!out) {
        if (res->skip != CP_CF_OK) {
            atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed);      /* statistic */
            CP_LOGW("context: %s left unchanged: %s", name, cp_classfile_skip_name(res->skip));
        }
        return;
    }
    if (olen > INT_MAX) { (*e)->Deallocate(e, out); return; }
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);                   /* statistic */
    CP_LOGI("context: hooked %s", name);
    *new_data = out;
    *new_len = (jint)olen;
}

static void JNICALL cb_cflh(jvmtiEnv *e, JNIEnv *jni, jclass redefined, jobject loader,
                            const char *name, jobject pd, jint len, const unsigned char *data,
                            jint *new_len, unsigned char **new_data)
{
    cp_classfile_result_t res;
    uint8_t *out = NULL;
    size_t olen = 0;
    char pkg[256];

    /* flags only: a class loaded while they change gets either setting */
    if (!atomic_load_explicit(&g.hook_on, memory_order_relaxed) || !name || redefined || len <= 0)
        return;
    cp_stats_add(CP_ST_CTX_CLASS_HOOK, 1);
    bool http = atomic_load_explicit(&g.http, memory_order_relaxed);
    if (atomic_load_explicit(&g.executors, memory_order_relaxed) && !loader && exec_class(name)) {
        if (!prepare(jni, NULL, NULL)) { atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed); return; }
        cp_classfile_rewrite(data, (size_t)len, CP_CF_HOOK_EXEC, jvmti_alloc, e, &out, &olen, &res);
        hand_back(e, name, out, olen, &res, &g.executors_n, new_len, new_data);
        return;
    }
    if (!http) return;
    cp_cf_wrap_t w = { .enter_class = HTTP_CLASS, .enter = "enter", .exit = "exit" };
    const char *module_pkg = NULL;
    if (strcmp(name, JDK_CHAIN) == 0) {
        w.method = "doFilter"; w.desc = JDK_EXCHANGE;
        module_pkg = JDK_PACKAGE;
    } else if (strcmp(name, "javax/servlet/http/HttpServlet") == 0) {
        w.method = "service"; w.desc = "(Ljavax/servlet/ServletRequest;Ljavax/servlet/ServletResponse;)V";
        module_pkg = package_of(name, pkg, sizeof pkg);     /* unnamed unless on the module path */
    } else if (strcmp(name, "jakarta/servlet/http/HttpServlet") == 0) {
        w.method = "service"; w.desc = "(Ljakarta/servlet/ServletRequest;Ljakarta/servlet/ServletResponse;)V";
        module_pkg = package_of(name, pkg, sizeof pkg);
    } else if (!system_class(name) && memmem(data, (size_t)len, JDK_EXCHANGE, sizeof JDK_EXCHANGE - 1)) {
        w.method = "handle"; w.desc = JDK_EXCHANGE;         /* any HttpHandler implementation */
        module_pkg = package_of(name, pkg, sizeof pkg);
    } else {
        return;
    }
    if (!prepare(jni, loader, module_pkg)) { atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed); return; }
    cp_classfile_wrap(data, (size_t)len, &w, jvmti_alloc, e, &out, &olen, &res);
    hand_back(e, name, out, olen, &res, &g.wrapped, new_len, new_data);
}

static void hook(bool on)
{
    atomic_store(&g.hook_on, on);
    (*g.env)->SetEventNotificationMode(g.env, on ? JVMTI_ENABLE : JVMTI_DISABLE,
                                       JVMTI_EVENT_CLASS_FILE_LOAD_HOOK, NULL);
}

static void arm(bool on)
{
    atomic_store(&g.armed, on);
    (*g.env)->SetEventNotificationMode(g.env, on ? JVMTI_ENABLE : JVMTI_DISABLE, JVMTI_EVENT_CLASS_LOAD, NULL);
}

/* "Lcom/sun/net/httpserver/HttpServer;": is it a class of an HTTP API
 * package (the lazy hook's trigger)? */
static bool http_api_class(const char *sig)
{
    static const char *const pkg[] = { "Lcom/sun/net/httpserver/", "Ljavax/servlet/", "Ljakarta/servlet/" };
    for (size_t i = 0; i < sizeof pkg / sizeof *pkg; i++)
        if (strncmp(sig, pkg[i], strlen(pkg[i])) == 0) return true;
    return false;
}

/* A class the HTTP hook wraps by name (internal form), loaded before it. */
static bool http_target(const char *name)
{
    return strcmp(name, JDK_CHAIN) == 0 || strcmp(name, "javax/servlet/http/HttpServlet") == 0 ||
           strcmp(name, "jakarta/servlet/http/HttpServlet") == 0;
}

/* Lazy context.http: the first class of an HTTP API package turns the hook
 * on for every class loaded after it, and this event off. */
static void JNICALL cb_class_load(jvmtiEnv *e, JNIEnv *jni, jthread t, jclass k)
{
    char *sig = NULL;
    (void)jni; (void)t;
    if (!atomic_load_explicit(&g.armed, memory_order_relaxed) ||
        (*e)->GetClassSignature(e, k, &sig, NULL) != JVMTI_ERROR_NONE || !sig)
        return;
    if (http_api_class(sig) && atomic_exchange(&g.armed, false)) {
        size_t n = strlen(sig);
        if (n > 2) sig[n - 1] = 0;                 /* "La/b/C;" -> "a/b/C" */
        const char *name = n > 2 ? sig + 1 : sig;
        hook(true);
        arm(false);
        if (http_target(name)) {
            atomic_fetch_add_explicit(&g.skipped, 1, memory_order_relaxed);      /* statistic */
            CP_LOGW("context: %s loaded before any other class of its package, so before the HTTP hook: its "
                    "requests get no automatic context (context.http=eager hooks from the JVM's start)", name);
        } else {
            CP_LOGI("context: %s loaded: HTTP entry points are hooked from now on", name);
        }
    }
    (*e)->Deallocate(e, (unsigned char *)sig);
}

/* Hook from now on (eager, executors, an attach), or wait for a trigger. */
static void apply(bool live_now)
{
    bool http = atomic_load(&g.http), exec = atomic_load(&g.executors);
    bool eager = exec || (http && (g.http_eager || live_now));
    if (eager || !http) {
        arm(false);
        hook(eager);
    } else if (!atomic_load(&g.hook_on)) {
        arm(true);
    }
}

static void JNICALL cb_vminit(jvmtiEnv *e, JNIEnv *jni, jthread t)
{
    apply(false);
}

int cp_ctxhook_start(JavaVM *vm, const cp_options_t *o)
{
    if (!vm || !o) return CP_EINVAL;
    bool want = o->context_http || o->context_executors;
    atomic_store(&g.http, o->context_http != 0);
    g.http_eager = o->context_http == CP_CTX_HTTP_EAGER;
    atomic_store(&g.executors, o->context_executors != 0);
    if (!g.env && !want) return 0;
    if (!g.env) {
        jvmtiEnv *e = NULL;
        if ((*vm)->GetEnv(vm, (void **)&e, JVMTI_VERSION_9) != JNI_OK || !e) {
            CP_LOGW("context: no JVMTI 9 environment; HTTP/executor context off");
            return CP_EUNSUPP;
        }
        jvmtiEventCallbacks cb;
        memset(&cb, 0, sizeof cb);
        cb.VMInit = cb_vminit;
        cb.ClassLoad = cb_class_load;
        cb.ClassFileLoadHook = cb_cflh;
        (*e)->SetEventCallbacks(e, &cb, sizeof cb);
        g.env = e;
        g.vm = vm;
    }
    jvmtiPhase ph = JVMTI_PHASE_ONLOAD;
    (*g.env)->GetPhase(g.env, &ph);
    if (ph == JVMTI_PHASE_ONLOAD && o->context_vthreads)
        cp_ctx_vthread_init(vm);        /* the capability counts only from OnLoad (ctx_vthread.h) */
    if (ph == JVMTI_PHASE_LIVE) apply(true);         /* attached: classes come and go no more in bursts */
    else (*g.env)->SetEventNotificationMode(g.env, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL);
    return 0;
}

void cp_ctxhook_stop(void)
{
    if (!g.env) return;
    arm(false);
    hook(false);
}

void cp_ctxhook_report(cp_ctxhook_report_t *r)
{
    r->wrapped = atomic_load_explicit(&g.wrapped, memory_order_relaxed);        /* statistics */
    r->executors = atomic_load_explicit(&g.executors_n, memory_order_relaxed);
    r->skipped = atomic_load_explicit(&g.skipped, memory_order_relaxed);
}
