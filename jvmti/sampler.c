/* sampler.c - SIGPROF / SIGVTALRM sampling with AsyncGetCallTrace: the
 * lifecycle. See sampler.h; the parts are listed in sampler_int.h.
 *
 * init picks the signals (SIGPROF / SIGVTALRM, or free real-time signals
 * when somebody else owns them) and installs the handlers once; start arms
 * the engines and the wall thread; stop disarms them and waits for the
 * handlers in flight. Threads are found by ThreadStart/ThreadEnd, by a
 * /proc/self/task scan driven by the harvester, and - for threads older
 * than the agent - from java.lang.Thread.eetop and VMStructs, which also
 * gives their JNIEnv (the handlers never call GetEnv: sampler_agct.c). */
#include "sampler_int.h"

#include "clock.h"
#include "error.h"
#include "log.h"
#include "stats.h"
#include "unwind.h"
#include "vmstructs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static JavaVM *g_vm;
static bool g_inited;
cp_ring_t *cp__ring;
atomic_bool cp__cpu_on, cp__wall_on;
_Atomic int64_t cp__cpu_interval_ns, cp__wall_interval_ns;
int cp__cpu_sig = SIGPROF;  /* SIGPROF, or a free real-time signal when SIGPROF is taken */
int cp__wall_sig = SIGVTALRM; /* SIGVTALRM, or a free real-time signal */

static bool handler_is_free(int sig, void (*ours)(int, siginfo_t *, void *))
{
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0)
        return false;
    if (old.sa_flags & SA_SIGINFO)
        return old.sa_sigaction == ours;
    return old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN;
}

static int install(int sig, int other, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, other);   /* never run both handlers nested on one thread */
    return sigaction(sig, &sa, NULL);
}

/* The highest real-time signal with no handler (SIGRTMAX down to
 * SIGRTMIN + 4: glibc and some runtimes use the lowest ones), other than
 * `not`; -1 if none. */
static int free_rt_signal(int not)
{
    for (int sig = SIGRTMAX; sig >= SIGRTMIN + 4; sig--) {
        struct sigaction old;
        if (sig != not && sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            return sig;
    }
    return -1;
}

int cp_sampler_init(JavaVM *vm, cp_ring_t *ring)
{
    if (g_inited)
        return 0;
    cp__reg_init();
    cp__agct = (cp__asgct_fn)dlsym(RTLD_DEFAULT, "AsyncGetCallTrace");
    if (!cp__agct) {
        CP_LOGE("AsyncGetCallTrace not found in this JVM; CPU/wall sampling disabled");
        return CP_EUNSUPP;
    }
    if (!getenv("CPROF_NO_CRASH_GUARD"))
        cp__guard_prepare();   /* needs cp__agct (its test hook is relative to libjvm) */
    /* Coexistence: a signal somebody else handles (another profiler, the
     * application) is left alone; we take the highest free real-time
     * signal instead (timer_create and perf events can deliver any signal;
     * only the ITIMER_PROF fallback needs SIGPROF itself). */
    if (!handler_is_free(SIGPROF, cp__cpu_on_signal)) {
        cp__cpu_sig = free_rt_signal(0);
        if (cp__cpu_sig < 0) {
            CP_LOGE("SIGPROF already has a handler (another profiler?) and no real-time signal is free; "
                    "CPU/wall sampling disabled, the other handler is left alone");
            return CP_ESTATE;
        }
        CP_LOGW("SIGPROF already has a handler (another profiler?): left alone; CPU sampling uses signal %d",
                cp__cpu_sig);
    }
    if (!handler_is_free(SIGVTALRM, cp__wall_on_signal)) {
        cp__wall_sig = free_rt_signal(cp__cpu_sig);
        if (cp__wall_sig < 0) {
            CP_LOGE("SIGVTALRM already has a handler and no real-time signal is free; "
                    "CPU/wall sampling disabled, the other handler is left alone");
            return CP_ESTATE;
        }
        CP_LOGW("SIGVTALRM already has a handler: left alone; wall sampling uses signal %d", cp__wall_sig);
    }
    g_vm = vm;
    cp__ring = ring;
    cp__wall_init();
    if (install(cp__cpu_sig, cp__wall_sig, cp__cpu_on_signal) ||
        install(cp__wall_sig, cp__cpu_sig, cp__wall_on_signal)) {
        CP_LOGE("sigaction failed: %s", strerror(errno));
        return CP_ESTATE;
    }
    g_inited = true;
    return 0;
}

static atomic_bool vm_live;
static atomic_bool adopt_pending;   /* threads older than the agent still to register */
static void register_current(JNIEnv *jni);
static void adopt_java_threads(bool defer);   /* cp_sampler_start ran: live phase, VMStructs readable */

/* Not a handler: a Java thread in the live phase (cp_sampler_start,
 * ThreadStart). Feeds vmstructs.h's two-thread check until it is done. */
static void vmstructs_bind_current(void)
{
    if (!atomic_load_explicit(&vm_live, memory_order_relaxed) || cp_vmstructs_ready()) /* config flag */
        return;
    JNIEnv *jni = NULL;
    if ((*g_vm)->GetEnv(g_vm, (void **)&jni, JNI_VERSION_1_6) == JNI_OK && jni)
        cp_vmstructs_bind(jni);
}

/* defer: the first start's scan, whose new threads the harvester arms (cp__cpu_defer) */
static bool scan(bool bind, bool defer);
static int set_intervals(int64_t cpu_ns, int64_t wall_ns, int defer_for);

void cp_sampler_live(void)
{
    atomic_store_explicit(&vm_live, true, memory_order_relaxed); /* config flag */
}

int cp_sampler_start(int64_t cpu_ns, int64_t wall_ns)
{
    if (!g_inited)
        return CP_ESTATE;
    /* no vmstructs_bind_current() here: the agent's threads, started just
     * before, bind at their ThreadStart and the harvester at its scans */
    atomic_store_explicit(&vm_live, true, memory_order_relaxed); /* config flag */
    JNIEnv *self_env = NULL;
    if ((*g_vm)->GetEnv(g_vm, (void **)&self_env, JNI_VERSION_1_6) == JNI_OK)
        register_current(self_env);   /* VMInit / attach thread */
    atomic_store_explicit(&adopt_pending, true, memory_order_relaxed); /* flag */
    if (!getenv("CPROF_NO_CRASH_GUARD"))
        cp__guard_install();
    atomic_store_explicit(&cp__retry_on, getenv("CPROF_NO_AGCT_RETRY") == NULL, memory_order_relaxed); /* config */
    cp__guard_configure();
    /* The first start (VMInit, or an attach) arms only the calling thread
     * (the JVM's main thread at VMInit) and leaves the other threads'
     * timers (~20-40 us of system calls each) to the harvester's first
     * pass, right after it starts, off the JVM's start-up (issue 14). Each
     * of them is registered here with its CPU clock, and its first sample
     * weighs the CPU it used since (cp__cpu_defer): none is lost. */
    static bool started;
    bool first = !started;
    started = true;
    return set_intervals(cpu_ns, wall_ns, first ? cp__tid() : 0);
}

int cp_sampler_set_intervals(int64_t cpu_ns, int64_t wall_ns)
{
    return set_intervals(cpu_ns, wall_ns, 0);
}

/* defer_for: a first start on thread defer_for (cp_sampler_start); 0: now */
static int set_intervals(int64_t cpu_ns, int64_t wall_ns, int defer_for)
{
    if (!g_inited)
        return CP_ESTATE;
    atomic_store_explicit(&cp__cpu_interval_ns, cpu_ns, memory_order_relaxed); /* published by cp__cpu_on */
    atomic_store_explicit(&cp__wall_interval_ns, wall_ns, memory_order_relaxed); /* published by cp__wall_on */
    atomic_store_explicit(&cp__cpu_on, cpu_ns > 0, memory_order_release); /* publish interval */
    atomic_store_explicit(&cp__wall_on, wall_ns > 0, memory_order_release); /* publish interval */
    pthread_mutex_lock(&cp__reg_mu);
    if (cpu_ns > 0 && !cp__cpu_engine_decided)
        cp__cpu_decide_engine();
    bool deferred = cp__cpu_armed_ns != cpu_ns && defer_for && cpu_ns > 0;
    if (deferred)
        cp__cpu_defer_all(cpu_ns, defer_for);
    else if (cp__cpu_armed_ns != cpu_ns)
        cp__cpu_rearm_all(cpu_ns);
    pthread_mutex_unlock(&cp__reg_mu);
    scan(false, deferred);
    if (wall_ns > 0) {
        cp__wall_start();
    } else {
        cp__wall_stop();
    }
    return 0;
}

void cp_sampler_stop(void)
{
    if (!g_inited)
        return;
    atomic_store_explicit(&cp__cpu_on, false, memory_order_release); /* handlers bail out */
    atomic_store_explicit(&cp__wall_on, false, memory_order_release); /* handlers bail out */
    cp__wall_stop();
    pthread_mutex_lock(&cp__reg_mu);
    cp__cpu_rearm_all(0);
    pthread_mutex_unlock(&cp__reg_mu);
    for (int i = 0; i < 200 && atomic_load_explicit(&cp__inflight, memory_order_acquire) > 0; i++) /* pairs with handler */
        usleep(1000);
}

bool cp_sampler_scan(void)
{
    return scan(true, false);
}

/* bind: also bind VMStructs on this thread (not on the JVM's main thread at
 * VMInit: cp_sampler_start) */
static bool scan(bool bind, bool defer)
{
    static bool scanned;   /* a first scan ended: threads found later were born since */
    if (!g_inited)
        return false;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;
    bool fresh = false;
    unsigned long maps_gen = cp_unwind_generation();
    pthread_mutex_lock(&cp__reg_mu);
    uint32_t gen = ++cp__reg_gen;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int tid = atoi(de->d_name);
        if (tid <= 0)
            continue;
        bool created;
        cp__reg_entry_t *e = cp__reg_get(tid, &created);
        if (!e)
            continue;
        e->gen = gen;
        fresh |= created;
        if (created && cp__cpu_armed_ns > 0 && defer) {
            cp__cpu_defer(e);   /* the first start: armed by the harvester (cp_sampler_start) */
        } else if (created && cp__cpu_armed_ns > 0) {
            /* a thread born since the last scan (scans back off while
             * nothing changes: harvest.c) weighs all its CPU since its
             * start in its first sample, so a late find loses none */
            e->arm_pending = scanned;
            cp__cpu_arm(e, cp__cpu_armed_ns);
        }
    }
    scanned = true;
    closedir(d);
    for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
        cp__reg_entry_t *e = &cp__reg[i];
        if (atomic_load_explicit(&e->tid, memory_order_relaxed) > 0 && e->gen != gen) /* cp__reg_mu held */
            cp__reg_remove(e);
    }
    pthread_mutex_unlock(&cp__reg_mu);
    /* code ranges for the handler's native walk and AGCT retries; not on
     * the JVM's main thread at VMInit (defer: 0.4-2 ms of its start-up for
     * /proc/self/maps), where the harvester's first scan, right after,
     * reads them (harvest.c) */
    if (!defer)
        cp_unwind_refresh();
    /* the harvester (a Java thread) confirms the VMStructs offsets if no
     * other Java thread started since cp_sampler_start (attach) */
    if (bind)
        vmstructs_bind_current();
    adopt_java_threads(defer);
    return fresh || cp_unwind_generation() != maps_gen;
}


/* The calling Java thread (not a handler) registers its own JNIEnv. */
static void register_current(JNIEnv *jni)
{
    if (!jni)
        return;
    int tid = cp__tid();
    pthread_mutex_lock(&cp__reg_mu);
    bool created;
    cp__reg_entry_t *e = cp__reg_get(tid, &created);
    if (e) {
        cp__reg_set_env(e, jni);
        if (created && cp__cpu_armed_ns > 0)
            cp__cpu_arm(e, cp__cpu_armed_ns);
    }
    pthread_mutex_unlock(&cp__reg_mu);
}

/* Threads older than the agent (JVM boot threads, every thread at attach)
 * got no ThreadStart: find their tid and JNIEnv from java.lang.Thread.eetop
 * and VMStructs. Runs on a Java thread (harvester or the starting thread)
 * once VMStructs is ready, after each cp_sampler_start. */
static void adopt_java_threads(bool defer)
{
    if (!atomic_load_explicit(&adopt_pending, memory_order_relaxed) || !cp_vmstructs_ready()) /* flag */
        return;
    JNIEnv *jni = NULL;
    static jvmtiEnv *jvmti;
    if ((*g_vm)->GetEnv(g_vm, (void **)&jni, JNI_VERSION_1_6) != JNI_OK || !jni)
        return;
    if (!jvmti && (*g_vm)->GetEnv(g_vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK)
        return;
    atomic_store_explicit(&adopt_pending, false, memory_order_relaxed); /* flag */
    jint n = 0;
    jthread *ts = NULL;
    if ((*jvmti)->GetAllThreads(jvmti, &n, &ts) != JVMTI_ERROR_NONE)
        return;
    jclass tc = (*jni)->FindClass(jni, "java/lang/Thread");
    jfieldID eetop = tc ? (*jni)->GetFieldID(jni, tc, "eetop", "J") : NULL;
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    int adopted = 0;
    for (jint i = 0; i < n; i++) {
        int tid;
        JNIEnv *env;
        jlong jt = eetop ? (*jni)->GetLongField(jni, ts[i], eetop) : 0;
        /* eetop is cleared when the thread exits: read it again after */
        if (jt && cp_vmstructs_thread_of((const void *)(intptr_t)jt, &tid, &env) &&
            (*jni)->GetLongField(jni, ts[i], eetop) == jt) {
            pthread_mutex_lock(&cp__reg_mu);
            bool created;
            cp__reg_entry_t *e = cp__reg_get(tid, &created);
            if (e && !atomic_load_explicit(&e->env, memory_order_relaxed)) { /* cp__reg_mu held */
                cp__reg_set_env(e, env);
                adopted++;
                if (created && cp__cpu_armed_ns > 0 && defer)
                    cp__cpu_defer(e);
                else if (created && cp__cpu_armed_ns > 0)
                    cp__cpu_arm(e, cp__cpu_armed_ns);
            }
            pthread_mutex_unlock(&cp__reg_mu);
        }
        (*jni)->DeleteLocalRef(jni, ts[i]);
    }
    if (tc)
        (*jni)->DeleteLocalRef(jni, tc);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)ts);
    CP_LOGI("sampler: %d running Java thread(s) registered from VMStructs (of %d)", adopted, (int)n);
}

/* cp__reg_mu held. Whether a starting thread's CPU timer is armed in its
 * ThreadStart: yes for the first ARM_AT_START_PER_S threads of each
 * second (~20 us each: at most ~1.3 ms a second), then the harvester's
 * next pass arms those still alive. Deferring them all lost short
 * threads' CPU: 100 threads of 15 ms CPU each, started one after another
 * at ~40 a second, gave 33 CPU samples instead of ~117, as most ended
 * before the pass; a storm of thousands still pays for 64 a second. */
#define ARM_AT_START_PER_S 64
static bool arm_at_start_allowed(void)
{
    static int64_t sec = -1;
    static int n;
    int64_t now = (int64_t)(cp_mono_ns() / 1000000000u);
    if (now != sec) {
        sec = now;
        n = 0;
    }
    return n++ < ARM_AT_START_PER_S;
}

void cp_sampler_thread_start(JNIEnv *jni)
{
    if (!g_inited)
        return;
    vmstructs_bind_current();
    int tid = cp__tid();
    pthread_mutex_lock(&cp__reg_mu);
    bool created;
    cp__reg_entry_t *e = cp__reg_get(tid, &created);
    if (e) {
        /* clear a stale NOTJAVA hint of a previous thread with this tid */
        cp__reg_set_env(e, jni);
        e->gen = cp__reg_gen;
        static int arm_now = -1;   /* CPROF_ARM_AT_START=1: arm here, always (A/B measurements) */
        if (arm_now < 0)
            arm_now = getenv("CPROF_ARM_AT_START") != NULL;
        if (cp__cpu_armed_ns > 0 && (arm_now || arm_at_start_allowed())) {
            cp__cpu_arm(e, cp__cpu_armed_ns);
        } else if (cp__cpu_armed_ns > 0 && !e->arm_pending) {
            cp__cpu_disarm(e);   /* the tid may be reused: a stale timer (none: no call) */
            /* armed by the harvester's next pass (cp__cpu_arm_pending): a
             * thread that ends before it costs no timer */
            e->arm_pending = true;
            atomic_fetch_add_explicit(&cp__arm_pending_n, 1, memory_order_relaxed); /* a hint */
        }
    }
    pthread_mutex_unlock(&cp__reg_mu);
}

void cp_sampler_arm_started(void)
{
    if (g_inited)
        cp__cpu_arm_pending();
}

void cp_sampler_thread_end(void)
{
    if (!g_inited)
        return;
    int tid = cp__tid();
    pthread_mutex_lock(&cp__reg_mu);
    cp__reg_entry_t *e = cp__reg_find(tid);
    if (e)
        cp__reg_remove(e);   /* clears env first: the JavaThread is about to go */
    pthread_mutex_unlock(&cp__reg_mu);
}

void cp_sampler_ignore_current_thread(void)
{
    int tid = cp__tid();
    pthread_mutex_lock(&cp__reg_mu);
    bool created;
    cp__reg_entry_t *e = cp__reg_get(tid, &created);
    if (e) {
        atomic_fetch_or_explicit(&e->flags, CP__F_IGNORE, memory_order_relaxed); /* hint */
        if (created && cp__cpu_armed_ns > 0)
            cp__cpu_arm(e, cp__cpu_armed_ns);
    }
    pthread_mutex_unlock(&cp__reg_mu);
}

