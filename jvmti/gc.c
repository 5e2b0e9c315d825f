/* gc.c - GC pause events and heap/thread time series (see gc.h).
 *
 * Producer: GarbageCollectionStart/Finish on the VM thread during a
 * safepoint. JVMTI allows only raw-monitor and memory functions there, so the
 * callbacks touch nothing but clock_gettime, a preallocated single-producer
 * ring (pauses[]) and the raw monitor used to wake the reader.
 * Consumer: the "cprof-gc" agent thread (JVMTI RunAgentThread): drains the
 * ring into points, reads the heap through java.lang.Runtime (JNI) and the
 * thread states (GetAllThreads + GetThreadState), and calls cp_points_add.
 * It lives while GC reporting is on: cp_gc_stop() asks it to end (quit,
 * under the raw monitor) and waits a bounded time; a cp_gc_start() before it
 * has ended clears quit again and the same thread carries on.
 *
 * Ring invariant: head is written only by the VM thread, tail only by the
 * reader; slot i is readable iff tail <= i < head. A full ring drops the new
 * pause and counts it (the VM thread must never wait on us). */
#include "gc.h"
#include "clock.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <jvmti.h>

#include "agent_thread.h"
#include "cost.h"
#include "overhead.h"
#include "error.h"
#include "harvest.h"
#include "log.h"
#include "sampler.h"
#include "stats.h"

#define GC_RING        1024          /* power of two */
#define GC_TICK_MS     1000          /* reader wake-up period */
#define GC_SERIES_MS   5000          /* heap / thread-state period */
#define GC_POINTS_PER_TICK 16        /* gc.pause_ns points per wake-up, then summed */

typedef struct pause {
    uint64_t start_ns;               /* CLOCK_MONOTONIC */
    uint64_t dur_ns;
    uint64_t end_ms;                 /* unix ms at the end */
} pause_t;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "ring indices must be lock-free");

static struct {
    JavaVM          *vm;
    jvmtiEnv        *env;
    jrawMonitorID    mon;
    bool             enabled;         /* events on (lifecycle thread only) */
    bool             thread_alive;    /* mon: the cprof-gc thread runs */
    bool             spawn_pending;   /* mon: VMInit left the thread to cp_gc_spawn */
    bool             quit;            /* mon: the thread is asked to end */
    _Atomic bool     active;          /* the thread emits series only while set */
    uint64_t         gc_start_ns;     /* VM thread only */
    pause_t          pauses[GC_RING];
    _Atomic uint64_t head, tail;
    _Atomic uint64_t n_pauses, total_ns, dropped;
    jobject          runtime;         /* global ref to Runtime.getRuntime() */
    jmethodID        m_total, m_free;
} g;


static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* VM thread, inside the safepoint: clock only. */
static void JNICALL cb_gc_start(jvmtiEnv *e)
{
    g.gc_start_ns = cp_mono_ns();
}

/* VM thread, inside the safepoint: ring + raw monitor only. */
static void JNICALL cb_gc_finish(jvmtiEnv *e)
{
    uint64_t end = cp_mono_ns();
    uint64_t h = atomic_load_explicit(&g.head, memory_order_relaxed);   /* we are the only writer */
    uint64_t t = atomic_load_explicit(&g.tail, memory_order_acquire);   /* reader's progress */
    uint64_t dur = g.gc_start_ns && end > g.gc_start_ns ? end - g.gc_start_ns : 0;
    atomic_fetch_add_explicit(&g.n_pauses, 1, memory_order_relaxed);    /* statistic */
    atomic_fetch_add_explicit(&g.total_ns, dur, memory_order_relaxed);  /* statistic */
    if (h - t >= GC_RING) {
        atomic_fetch_add_explicit(&g.dropped, 1, memory_order_relaxed); /* statistic */
        cp_stats_add(CP_ST_GC_DROPPED, 1);
    } else {
        pause_t *p = &g.pauses[h & (GC_RING - 1)];
        p->start_ns = g.gc_start_ns;
        p->dur_ns = dur;
        p->end_ms = unix_ms();
        atomic_store_explicit(&g.head, h + 1, memory_order_release);    /* publishes the slot */
    }
    g.gc_start_ns = 0;
    if ((*e)->RawMonitorEnter(e, g.mon) == JVMTI_ERROR_NONE) {
        (*e)->RawMonitorNotify(e, g.mon);
        (*e)->RawMonitorExit(e, g.mon);
    }
}

static bool heap_used(JNIEnv *jni, double *used, double *committed)
{
    if (!g.runtime) return false;
    jlong tot = (*jni)->CallLongMethod(jni, g.runtime, g.m_total);
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); return false; }
    jlong fre = (*jni)->CallLongMethod(jni, g.runtime, g.m_free);
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); return false; }
    *used = (double)(tot - fre);
    *committed = (double)tot;
    return true;
}

static void thread_states(jvmtiEnv *e, JNIEnv *jni, uint64_t now)
{
    jint n = 0;
    jthread *ts = NULL;
    double run = 0, blocked = 0, waiting = 0, timed = 0;
    if ((*e)->GetAllThreads(e, &n, &ts) != JVMTI_ERROR_NONE) return;
    for (jint i = 0; i < n; i++) {
        jint st = 0;
        if ((*e)->GetThreadState(e, ts[i], &st) == JVMTI_ERROR_NONE && (st & JVMTI_THREAD_STATE_ALIVE)) {
            if (st & JVMTI_THREAD_STATE_BLOCKED_ON_MONITOR_ENTER) blocked++;
            else if (st & JVMTI_THREAD_STATE_WAITING_WITH_TIMEOUT) timed++;
            else if (st & JVMTI_THREAD_STATE_WAITING_INDEFINITELY) waiting++;
            else if (st & JVMTI_THREAD_STATE_RUNNABLE) run++;
        }
        (*jni)->DeleteLocalRef(jni, ts[i]);
    }
    (*e)->Deallocate(e, (unsigned char *)ts);
    cp_points_add("threads.runnable", now, run);
    cp_points_add("threads.blocked", now, blocked);
    cp_points_add("threads.waiting", now, waiting);
    cp_points_add("threads.timed_waiting", now, timed);
}

static void JNICALL gc_thread(jvmtiEnv *e, JNIEnv *jni, void *arg)
{
    uint64_t last_series = 0, cost_last = 0, series_cost_us = 0;
    cp_sampler_ignore_current_thread();   /* our own thread: never in wall profiles */
    cp_cost_background_thread();
    for (;;) {                        /* until cp_gc_stop (or the VM's end: a daemon agent thread) */
        cp_cost_thread(&cost_last);
        if ((*e)->RawMonitorEnter(e, g.mon) != JVMTI_ERROR_NONE) return;
        if (g.quit) {
            cp_agent_thread_ending();
            g.thread_alive = false;
            (*e)->RawMonitorNotifyAll(e, g.mon);
            (*e)->RawMonitorExit(e, g.mon);
            return;
        }
        if (atomic_load_explicit(&g.head, memory_order_acquire) ==
            atomic_load_explicit(&g.tail, memory_order_relaxed))
            (*e)->RawMonitorWait(e, g.mon, GC_TICK_MS);
        (*e)->RawMonitorExit(e, g.mon);

        uint64_t h = atomic_load_explicit(&g.head, memory_order_acquire);   /* pairs with the release */
        uint64_t t = atomic_load_explicit(&g.tail, memory_order_relaxed);   /* only we write it */
        uint64_t now = unix_ms();
        if (h != t) {
            /* one point per pause, but at most GC_POINTS_PER_TICK of them per
             * wake-up: a GC-storm's extra pauses go into one summed point, so
             * the wire stays small (gc.count keeps the true count) */
            uint32_t k = 0;
            double rest = 0;
            uint64_t rest_ms = 0;
            for (; t != h; t++, k++) {
                const pause_t *p = &g.pauses[t & (GC_RING - 1)];
                if (k < GC_POINTS_PER_TICK) {
                    cp_points_add("gc.pause_ns", p->end_ms, (double)p->dur_ns);
                } else {
                    rest += (double)p->dur_ns;
                    rest_ms = p->end_ms;
                }
            }
            if (rest > 0)
                cp_points_add("gc.pause_ns", rest_ms, rest);
            cp_points_add("gc.count", now, (double)(h - atomic_load_explicit(&g.tail, memory_order_relaxed)));
            atomic_store_explicit(&g.tail, h, memory_order_release);         /* frees the slots */
            double used, committed;
            if (heap_used(jni, &used, &committed))
                cp_points_add("gc.heap_after_bytes", now, used);
        }
        /* the thread-state census walks every thread (2,000 of them cost
         * ~2-10 ms): it stretches with the overhead budget's factor (up to
         * a minute) and never takes more than 0.1% of a core; fixed cost
         * for the budget's model (overhead.h), as it grows with the thread
         * count, not the sampling rate */
        uint32_t k = cp_overhead_scale();
        uint64_t period = GC_SERIES_MS * (uint64_t)(k < 12 ? k : 12);
        if (period < series_cost_us)   /* ms = us / 1000: at most 0.1% of a core */
            period = series_cost_us;
        uint64_t fixed_ms = cp_overhead_fixed_period_ns(series_cost_us * 1000) / 1000000;
        if (period < fixed_ms)   /* and at most an eighth of the budget (overhead.h) */
            period = fixed_ms;
        if (atomic_load(&g.active) && now - last_series >= period) {
            double used, committed;
            last_series = now;
            if (heap_used(jni, &used, &committed)) {
                cp_points_add("heap.used_bytes", now, used);
                cp_points_add("heap.committed_bytes", now, committed);
            }
            uint64_t c0 = cp_cost_now();
            thread_states(e, jni, now);
            uint64_t c1 = cp_cost_now();
            series_cost_us = c1 > c0 ? (c1 - c0) / 1000 : 0;
        }
    }
}

/* spawn: a deferred start (cp_gc_spawn), which a stop since cancels. */
static void start_thread(JNIEnv *jni, bool spawn)
{
    if ((*g.env)->RawMonitorEnter(g.env, g.mon) != JVMTI_ERROR_NONE) return;
    if (spawn && !g.spawn_pending) {
        (*g.env)->RawMonitorExit(g.env, g.mon);
        return;
    }
    g.spawn_pending = false;
    bool alive = g.thread_alive;
    g.quit = false;                   /* cancels a stop the thread has not acted on */
    if (!alive)
        g.thread_alive = true;        /* claimed: reset below if the thread cannot start */
    (*g.env)->RawMonitorExit(g.env, g.mon);
    if (alive) return;
    /* every JNI call that can throw is checked before the next (-Xcheck:jni) */
    jclass rc = (*jni)->FindClass(jni, "java/lang/Runtime");
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); rc = NULL; }
    jmethodID get = rc ? (*jni)->GetStaticMethodID(jni, rc, "getRuntime", "()Ljava/lang/Runtime;") : NULL;
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); get = NULL; }
    jobject rt = get && !g.runtime ? (*jni)->CallStaticObjectMethod(jni, rc, get) : NULL;   /* once */
    if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); rt = NULL; }
    if (rt) {
        g.m_total = (*jni)->GetMethodID(jni, rc, "totalMemory", "()J");
        if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); g.m_total = NULL; }
        g.m_free = (*jni)->GetMethodID(jni, rc, "freeMemory", "()J");
        if ((*jni)->ExceptionCheck(jni)) { (*jni)->ExceptionClear(jni); g.m_free = NULL; }
        if (g.m_total && g.m_free) g.runtime = (*jni)->NewGlobalRef(jni, rt);
    }
    if (cp_agent_thread_start(g.env, jni, "cprof-gc", gc_thread, NULL) != 0) {
        CP_LOGW("gc: cannot start the cprof-gc thread; GC series off");
        if ((*g.env)->RawMonitorEnter(g.env, g.mon) == JVMTI_ERROR_NONE) {
            g.thread_alive = false;
            (*g.env)->RawMonitorExit(g.env, g.mon);
        }
    }
}

/* Asks the cprof-gc thread to end and waits for it, at most timeout_ms. */
static void end_thread(int timeout_ms)
{
    jvmtiEnv *e = g.env;
    if ((*e)->RawMonitorEnter(e, g.mon) != JVMTI_ERROR_NONE) return;
    g.quit = true;
    (*e)->RawMonitorNotifyAll(e, g.mon);
    uint64_t end = cp_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (g.thread_alive) {
        uint64_t now = cp_mono_ns();
        if (now >= end) break;
        (*e)->RawMonitorWait(e, g.mon, (jlong)((end - now) / 1000000u) + 1);
    }
    bool alive = g.thread_alive;
    (*e)->RawMonitorExit(e, g.mon);
    if (alive) CP_LOGW("gc: the cprof-gc thread did not end within %d ms", timeout_ms);
}

/* The thread is created by the agent's harvester (cp_gc_spawn), not on
 * the JVM's main thread at VMInit: ~1 ms of its start-up. */
static void JNICALL cb_vminit(jvmtiEnv *e, JNIEnv *jni, jthread t)
{
    if (!g.enabled || (*e)->RawMonitorEnter(e, g.mon) != JVMTI_ERROR_NONE) return;
    g.spawn_pending = true;
    (*e)->RawMonitorExit(e, g.mon);
}

void cp_gc_spawn(JNIEnv *jni)
{
    if (g.env && jni) start_thread(jni, true);
}

int cp_gc_start(JavaVM *vm, bool on)
{
    jvmtiEnv *e = g.env;
    if (!on) { cp_gc_stop(); return 0; }
    if (!e) {
        jvmtiCapabilities caps;
        if ((*vm)->GetEnv(vm, (void **)&e, JVMTI_VERSION_1_2) != JNI_OK || !e) return CP_EUNSUPP;
        memset(&caps, 0, sizeof caps);
        caps.can_generate_garbage_collection_events = 1;
        if ((*e)->AddCapabilities(e, &caps) != JVMTI_ERROR_NONE ||
            (*e)->CreateRawMonitor(e, "cprof-gc", &g.mon) != JVMTI_ERROR_NONE) {
            CP_LOGW("gc: GC events unavailable in this JVM; GC series off");
            (*e)->DisposeEnvironment(e);
            return CP_EUNSUPP;
        }
        jvmtiEventCallbacks cb;
        memset(&cb, 0, sizeof cb);
        cb.GarbageCollectionStart = cb_gc_start;
        cb.GarbageCollectionFinish = cb_gc_finish;
        cb.VMInit = cb_vminit;
        (*e)->SetEventCallbacks(e, &cb, sizeof cb);
        g.env = e;
        g.vm = vm;
    }
    if (g.enabled) return 0;
    g.enabled = true;
    atomic_store(&g.active, true);
    (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_GARBAGE_COLLECTION_START, NULL);
    (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_GARBAGE_COLLECTION_FINISH, NULL);
    jvmtiPhase ph = JVMTI_PHASE_ONLOAD;
    (*e)->GetPhase(e, &ph);
    if (ph == JVMTI_PHASE_LIVE) {
        JNIEnv *jni = NULL;
        if ((*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_8) == JNI_OK) start_thread(jni, false);
    } else {
        (*e)->SetEventNotificationMode(e, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL);
    }
    return 0;
}

void cp_gc_stop(void)
{
    jvmtiEnv *e = g.env;
    if (!e || !g.enabled) return;
    g.enabled = false;
    if ((*e)->RawMonitorEnter(e, g.mon) == JVMTI_ERROR_NONE) {
        g.spawn_pending = false;      /* a thread not created yet never will be */
        (*e)->RawMonitorExit(e, g.mon);
    }
    (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_GARBAGE_COLLECTION_START, NULL);
    (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_GARBAGE_COLLECTION_FINISH, NULL);
    (*e)->SetEventNotificationMode(e, JVMTI_DISABLE, JVMTI_EVENT_VM_INIT, NULL);
    atomic_store(&g.active, false);
    end_thread(1000);
}

void cp_gc_report(cp_gc_report_t *r)
{
    r->pauses = atomic_load_explicit(&g.n_pauses, memory_order_relaxed);    /* statistics */
    r->pause_ns = atomic_load_explicit(&g.total_ns, memory_order_relaxed);
    r->dropped = atomic_load_explicit(&g.dropped, memory_order_relaxed);
}
