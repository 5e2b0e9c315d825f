/* agent.c - Agent_OnLoad / Agent_OnAttach / Agent_OnUnload, JVMTI callbacks,
 * jmethodID preloading and the agent's lifecycle. See agent.h for the
 * start-up order and the reasons behind each JVMTI event.
 *
 * Threads: Agent_On* run on the VM's loading thread (OnLoad: primordial;
 * OnAttach: the Attach Listener). JVMTI callbacks run on the Java thread
 * concerned (ClassPrepare, ThreadStart/End) or the VM's shutdown thread
 * (VMDeath). Control messages from the relay run on the sender thread.
 * life_mu serialises every lifecycle change (init, start, reconfigure,
 * detach, VM death); callbacks on hot paths (ClassPrepare, ThreadStart)
 * never take it.
 *
 * Never fatal: any failure is logged once and the feature turned off; the
 * JVM always runs on (Agent_OnLoad returns JNI_OK even when the agent
 * cannot work, except for a JVM without JVMTI at all). */
#include "agent.h"
#include "agent_thread.h"
#include "clock.h"

#include "alloc.h"
#include "class_events.h"
#include "codemap.h"
#include "cost.h"
#include "context.h"
#include "control.h"
#include "control_run.h"
#include "ctx_vthread.h"
#include "ctxhook.h"
#include "exit_report.h"
#include "error.h"
#include "gc.h"
#include "pysample.h"
#include "harvest.h"
#include "jit_debug.h"
#include "lock.h"
#include "log.h"
#include "overhead.h"
#include "sigcost.h"
#include "sampler.h"
#include "sender.h"
#include "identity.h"
#include "stats.h"
#include "symbols.h"
#include "verdict.h"

#include <jvmti.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#define RING_SLOTS 512     /* x ~8.4 KB; RSS only for the frames actually written */

/* The send buffer and dictionary caps of the memory budget (overhead.h);
 * returns the options the sender runs with (its buffer within the budget). */
static cp_options_t sender_opts(const cp_options_t *o)
{
    cp_options_t e = *o;
    cp_ring_t *r = cp_agent_ring();
    int64_t buffer;
    size_t dict;
    cp_overhead_memory_plan(o, r ? cp_ring_memory(r) : 0, &buffer, &dict);
    e.buffer_bytes = buffer;
    cp_harvest_set_dict_max(dict);
    return e;
}

static int64_t g_alloc_applied, g_lock_applied;   /* effective intervals alloc/lock run with (life_mu) */

/* o with the effective allocation and lock intervals (overhead.h). */
static cp_options_t effective_opts(const cp_options_t *o)
{
    cp_options_t e = *o;
    cp_overhead_configure(o);
    e.alloc_bytes = cp_overhead_interval(CP_OVERHEAD_ALLOC);
    e.lock_ns = cp_overhead_interval(CP_OVERHEAD_LOCK);
    return e;
}

/* Returns cp_alloc_start's result (CP_EUNSUPP: this JVM can sample no
 * allocation), for the verdict. */
static int alloc_start(JavaVM *vm, const cp_options_t *o, cp_ring_t *r)
{
    int rc = 0;
    if (r) {
        cp_options_t e = effective_opts(o);
        rc = cp_alloc_start(vm, &e, r);
        cp_lock_start(vm, &e, r);
        g_alloc_applied = e.alloc_bytes;
        g_lock_applied = e.lock_ns;
    }
    cp_ctxhook_start(vm, o);
    cp_gc_start(vm, o->gc != 0);
    return rc;
}

/* detach: also removes the bytecode hooks (alloc, lock); at VM death that
 * would be wasted work */
static void alloc_stop(bool detach)
{
    if (detach) {
        cp_alloc_detach();
        cp_lock_detach();
        cp_ctxhook_stop();
    } else {
        cp_alloc_stop();
        cp_lock_stop();
    }
    cp_gc_stop();
}

static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;
static JavaVM *g_vm;
static jvmtiEnv *g_jvmti;
static cp_options_t g_opts;              /* life_mu: in force (own options + relay layers) */
static cp_options_t g_base;              /* life_mu: the agent's own options (agentpath, attach, env) */
static char g_app[CP_OPT_VAL_MAX];       /* life_mu */
static _Atomic(cp_ring_t *) g_ring;
static bool g_initialized;               /* JVMTI env, events, ring: once per process */
static bool g_live;                      /* VMInit seen (or attached) */
static bool g_before_vminit;             /* loaded at start-up, VMInit not seen yet */
static bool g_running;                   /* harvester + sender threads up (life_mu) */
static bool g_sampling;                  /* timers armed (life_mu) */
static bool g_detached;                  /* stopped by command=detach, not started since (life_mu) */
static cp_verdict_t g_verdict;           /* life_mu: the verdict of the attach in progress */
static atomic_bool g_dead;               /* VMDeath seen */
static bool g_sampler_ok;
static bool g_cml_cap;                   /* CompiledMethodLoad available */
static bool g_cml_on;                    /* ... and enabled (jit.kinds, or no other way to the
                                            JIT's non-safepoint debug info: jit_debug.h) */
static bool g_dns_ok;                    /* DebugNonSafepoints on without the event */
static bool g_dns_pending;               /* its lookup thread not joined yet */
static bool g_events_on;                 /* ClassLoad/Prepare, CompiledMethodLoad enabled (life_mu) */
static uint64_t detached_at[5];          /* life_mu: the counts above + GC pauses at detach */
static cp_sender_identity_t g_ident;
static uint64_t g_start_ms;              /* when sampling first started, for the exit summary */

cp_ring_t *cp_agent_ring(void)
{
    return atomic_load_explicit(&g_ring, memory_order_acquire); /* pairs with init's release */
}

void cp_agent_options(cp_options_t *out)
{
    pthread_mutex_lock(&life_mu);
    *out = g_opts;
    pthread_mutex_unlock(&life_mu);
}

/* ---- JVMTI callbacks ------------------------------------------------------ */

static void JNICALL on_thread_start(jvmtiEnv *jvmti, JNIEnv *jni, jthread t)
{
    uint64_t c0 = cp_cost_now();
    cp_sampler_thread_start(jni);
    cp_cost_callback(c0);
}

static void JNICALL on_thread_end(jvmtiEnv *jvmti, JNIEnv *jni, jthread t)
{
    uint64_t c0 = cp_cost_now();
    cp_sampler_thread_end();
    cp_cost_callback(c0);
}

static void start_locked(JNIEnv *jni, bool vminit);
static void JNICALL on_vm_death(jvmtiEnv *jvmti, JNIEnv *jni);
static int enable(jvmtiEvent ev, const char *what);

static atomic_bool g_preload_jvm_symbols;   /* set at VMInit: native frames will be walked */

/* The harvester's first work, off the JVM's main thread. Classes loaded in
 * the primordial phase (java.lang.String & co) got no ClassPrepare event:
 * their jmethodIDs are created first (~1 ms for ~440 classes; a sample in
 * them before that names no method). Then libjvm.so's symbol table when
 * native frames are walked: nearly every JVM's first native frames are
 * libjvm's, and a JVM that ends within a second would otherwise load it
 * (~3-10 ms) in its last window, on its exit path; libc's next (its
 * debug file's table when installed, ~1 ms: the last window of 5 of 8
 * trivial programs had a libc frame). */
static void harvester_first(jvmtiEnv *jvmti, JNIEnv *jni)
{
    cp_sender_spawn(jni);   /* first: the relay connection takes the longest */
    cp_gc_spawn(jni);
    cp_class_events_load_all(jvmti, jni);
    if (atomic_load_explicit(&g_preload_jvm_symbols, memory_order_relaxed) && g_vm) { /* config flag */
        cp_symbols_preload((uint64_t)(uintptr_t)(*g_vm)->GetEnv);
        cp_symbols_preload((uint64_t)(uintptr_t)&getpid);
    }
}

static void JNICALL on_vm_init(jvmtiEnv *jvmti, JNIEnv *jni, jthread t)
{
    uint64_t c0 = cp_cost_now(), w0 = cp_mono_ns();
    /* without a harvester (command=detach) nothing samples */
    cp_harvest_first(harvester_first);
    pthread_mutex_lock(&life_mu);
    atomic_store_explicit(&g_preload_jvm_symbols, g_opts.cpu_ns > 0 && g_opts.cpu_native, /* config flag */
                          memory_order_relaxed);
    g_live = true;
    g_before_vminit = false;
    /* ClassPrepare from now on; the classes prepared in the start phase
     * (~450 before a trivial main) get their jmethodIDs from the
     * harvester's first work (cp_class_events_load_all), off this thread:
     * nothing samples before VMInit, and a sample in one of them before
     * the harvester reaches it names no method (counted as such) */
    if (g_events_on)
        enable(JVMTI_EVENT_CLASS_PREPARE, "ClassPrepare");
    if (g_opts.command != CP_CMD_DETACH)
        start_locked(jni, true);
    pthread_mutex_unlock(&life_mu);
    cp_cost_callback(c0);
    CP_LOGD("start: VMInit %.2f ms on the JVM's main thread", (cp_mono_ns() - w0) / 1e6);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* CompiledMethodLoad: its inline records tell compiled, inlined and
 * interpreted frames apart (jit.kinds=on), and it makes the JIT keep debug
 * info at non-safepoints; without jit.kinds the agent gets the latter from
 * DebugNonSafepoints (jit_debug.h), which costs the JIT far less. */
static bool cml_wanted(void)
{
    return g_cml_cap && (g_opts.jit_kinds || !g_dns_ok);
}

/* life_mu held. Switches the event (and frame kinds) to `on`. */
static void set_cml(bool on)
{
    if (on && !g_cml_on)
        enable(JVMTI_EVENT_COMPILED_METHOD_LOAD, "CompiledMethodLoad");
    else if (!on && g_cml_on)
        (*g_jvmti)->SetEventNotificationMode(g_jvmti, JVMTI_DISABLE, JVMTI_EVENT_COMPILED_METHOD_LOAD, NULL);
    g_cml_on = on;
    cp_codemap_set_active(on);
}

/* The events the agent needs only while attached: ClassLoad (AGCT fails
 * without it), ClassPrepare (jmethodIDs), CompiledMethodLoad (inline
 * records, and the JIT's debug info at non-safepoints). Off after a detach.
 * ThreadStart/ThreadEnd stay on: the thread table (each thread's JNIEnv)
 * must stay right for a later attach, and they arm no timer while nothing
 * samples; VMDeath stays on and finds nothing to do. life_mu held. */
static void set_running_events(bool on)
{
    if (on) {
        enable(JVMTI_EVENT_CLASS_LOAD, "ClassLoad");
        if (!g_before_vminit)
            enable(JVMTI_EVENT_CLASS_PREPARE, "ClassPrepare");
        set_cml(cml_wanted());
    } else {
        (*g_jvmti)->SetEventNotificationMode(g_jvmti, JVMTI_DISABLE, JVMTI_EVENT_CLASS_LOAD, NULL);
        (*g_jvmti)->SetEventNotificationMode(g_jvmti, JVMTI_DISABLE, JVMTI_EVENT_CLASS_PREPARE, NULL);
        set_cml(false);
    }
    g_events_on = on;
}

/* Callbacks so far: ClassLoad, ClassPrepare, CompiledMethodLoad, GC pauses,
 * ClassFileLoadHook. */
static void callback_counts(uint64_t out[5])
{
    cp_gc_report_t gr;
    cp_alloc_report_t ar;
    cp_gc_report(&gr);
    cp_alloc_report(&ar);
    cp_class_events_counts(out);   /* ClassLoad, ClassPrepare, CompiledMethodLoad */
    out[3] = gr.pauses;
    out[4] = ar.hook_calls;
}

/* life_mu held, live phase: back from a detach. Classes prepared and code
 * compiled while detached had no event: catch up as at attach. */
static void resume_events_locked(JNIEnv *jni)
{
    uint64_t c[5];
    callback_counts(c);
    CP_LOGI("re-attach: JVMTI callbacks while detached: ClassLoad=%llu ClassPrepare=%llu "
            "CompiledMethodLoad=%llu GarbageCollection=%llu ClassFileLoadHook=%llu",
            (unsigned long long)(c[0] - detached_at[0]), (unsigned long long)(c[1] - detached_at[1]),
            (unsigned long long)(c[2] - detached_at[2]), (unsigned long long)(c[3] - detached_at[3]),
            (unsigned long long)(c[4] - detached_at[4]));
    set_running_events(true);
    cp_class_events_load_all(g_jvmti, jni);
    if (g_cml_on && (*g_jvmti)->GenerateEvents(g_jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD) != JVMTI_ERROR_NONE)
        CP_LOGD("GenerateEvents(CompiledMethodLoad) failed");
}

/* life_mu held, live phase, threads up: the effective intervals
 * (overhead.h: the options' intervals stretched by the CPU budget) to the
 * sampler, and to alloc and lock when they run with another one. The one
 * way intervals change at runtime: change g_opts, then call this. full:
 * (re)start the sampler as a new start does (engine, threads older than
 * the agent, crash guard); else only its intervals change. */
static void apply_sampling_locked(bool full)
{
    cp_overhead_configure(&g_opts);
    int64_t cpu = cp_overhead_interval(CP_OVERHEAD_CPU), wall = cp_overhead_interval(CP_OVERHEAD_WALL);
    if (g_sampler_ok && g_opts.command == CP_CMD_START) {
        if (g_sampling && !full) {
            cp_sampler_set_intervals(cpu, wall);
        } else if (full || cpu || wall) {
            cp_sampler_configure(g_opts.cpu_engine, g_opts.cpu_native);
            cp_sampler_start(cpu, wall);
        }
        g_sampling = cpu || wall;
    } else if (g_sampling) {
        cp_sampler_stop();
        g_sampling = false;
    }
    /* Python children (issue 21): a thread of its own, at the CPU interval
     * asked for (its cost is cpu.python_ns, outside the JVM's budget) */
    cp_pysample_start(g_opts.command == CP_CMD_START ? g_opts.python : CP_PY_OFF, g_opts.cpu_ns);
    cp_ring_t *r = cp_agent_ring();
    int64_t alloc = cp_overhead_interval(CP_OVERHEAD_ALLOC), lock = cp_overhead_interval(CP_OVERHEAD_LOCK);
    if (r && g_live && ((g_alloc_applied && alloc != g_alloc_applied) || (g_lock_applied && lock != g_lock_applied))) {
        cp_options_t e = g_opts;
        e.alloc_bytes = alloc;
        e.lock_ns = lock;
        if (g_alloc_applied && alloc != g_alloc_applied)
            cp_alloc_start(g_vm, &e, r);
        if (g_lock_applied && lock != g_lock_applied)
            cp_lock_start(g_vm, &e, r);
        g_alloc_applied = g_alloc_applied ? alloc : 0;
        g_lock_applied = g_lock_applied ? lock : 0;
    }
}

/* The overhead budget's callback (cp_overhead_set_apply), on the harvester
 * thread: never waits for life_mu (a detach holding it waits for the
 * harvester); false = busy, retried at the next tick. */
static bool apply_budget(void)
{
    if (pthread_mutex_trylock(&life_mu) != 0)
        return false;
    if (!atomic_load(&g_dead) && g_running && g_live && !g_detached)
        apply_sampling_locked(false);
    pthread_mutex_unlock(&life_mu);
    return true;
}

/* life_mu held, live phase: threads up, timers armed as the options say.
 * vminit: on the JVM's main thread at VMInit, which starts only the
 * harvester: the sender and cprof-gc are created by its first work
 * (harvester_first), ~1 ms each off the JVM's start-up. */
static void start_locked(JNIEnv *jni, bool vminit)
{
    if (atomic_load(&g_dead))
        return;
    if (g_dns_pending) {
        const char *how = "";
        g_dns_ok = cp_jit_debug_nonsafepoints(&how) >= 0;
        g_dns_pending = false;
        CP_LOGD("JIT debug info at non-safepoints: %s%s", how,
                g_dns_ok ? "" : "; CompiledMethodLoad is enabled for it instead");
    }
    if (!g_events_on) {
        resume_events_locked(jni);
    } else if (cml_wanted() != g_cml_on) {   /* jit.kinds changed by a re-attach */
        set_cml(cml_wanted());
        if (g_cml_on && (*g_jvmti)->GenerateEvents(g_jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD) != JVMTI_ERROR_NONE)
            CP_LOGD("GenerateEvents(CompiledMethodLoad) failed");
    }
    if (!g_start_ms)
        g_start_ms = cp_now_ms();
    if (!g_running) {
        if (g_sampler_ok)
            cp_sampler_live();   /* before the agent's threads start: they bind VMStructs */
        cp_identity_app(g_jvmti, &g_opts, g_app, sizeof g_app);   /* life_mu held */
        if (!g_ident.pid)
            cp_identity_make(g_jvmti, &g_ident);
        cp_options_t so = sender_opts(&g_opts);
        if (cp_sender_start(g_jvmti, jni, &so, g_app, &g_ident, vminit) == 0 &&
            cp_harvest_start(jni, g_opts.flush_ns) == 0)
            g_running = true;
    } else {
        cp_identity_app(g_jvmti, &g_opts, g_app, sizeof g_app);   /* life_mu held */
        cp_options_t so = sender_opts(&g_opts);
        cp_sender_configure(&so, g_app);
        cp_harvest_set_flush(g_opts.flush_ns);
    }
    apply_sampling_locked(true);
    g_detached = false;
    char d[768];
    cp_options_describe(&g_opts, g_app, d, sizeof d);
    CP_LOGI("running: %s%s", d, g_opts.command == CP_CMD_STOP ? " (stopped)" : "");
}

/* life_mu held: stop sampling, remove the bytecode hooks, flush,
 * disconnect, turn the agent's JVMTI events off (detach). Bounded: a stop
 * that times out leaves a thread finishing on its own, and a later start
 * reuses it (cp_harvest_start, cp_sender_start). */
static void detach_locked(void)
{
    if (g_sampling) {
        cp_sampler_stop();
        g_sampling = false;
    }
    cp_pysample_stop();
    alloc_stop(true);
    if (g_running) {
        if (cp_harvest_flush(true, 1000) != 0)
            CP_LOGW("detach: the harvester did not stop within 1 s; it ends on its own");
        cp_sender_drain(1500);
        cp_sender_stop(1000);
        g_running = false;
    }
    set_running_events(false);
    callback_counts(detached_at);
    g_detached = true;
    CP_LOGI("detached: sampling stopped, bytecode hooks removed, last window flushed, relay "
            "disconnected, JVMTI events off (ThreadStart/ThreadEnd/VMDeath stay on)");
}

static void JNICALL on_vm_death(jvmtiEnv *jvmti, JNIEnv *jni)
{
    uint64_t t0 = cp_mono_ns(), t1 = t0, t2 = t0, t3 = t0, t4 = t0;
    pthread_mutex_lock(&life_mu);
    atomic_store(&g_dead, true);
    if (g_sampling) {
        cp_sampler_stop();
        g_sampling = false;
    }
    cp_pysample_stop();   /* its samples so far go into the last window */
    alloc_stop(false);
    t1 = t2 = t3 = t4 = cp_mono_ns();
    if (g_running) {
        uint64_t c0 = cp_cost_now();
        /* bounded: at most ~2 s in total, and no wait at all on a dead relay */
        cp_harvest_flush(true, 500);
        cp_sender_spawn(jni);   /* in case the harvester never got to it */
        t2 = cp_mono_ns();
        int left = cp_sender_drain(1500);
        t3 = cp_mono_ns();
        /* End the sender thread now: HotSpot's exit polls every 10 ms, up
         * to 300 ms, while any Java thread is in native code (VM_Exit::
         * wait_for_threads_in_native_to_block), and an agent thread in
         * poll() is one. The harvester ended with the final flush and
         * cprof-gc with alloc_stop(). */
        cp_sender_stop(200);
        t4 = cp_mono_ns();
        if (left)
            CP_LOGW("exit: %d window(s) of profile data never acknowledged by the relay at %s: the relay may "
                    "not have them", left, g_opts.relay);
        cp_exit_report(left, g_start_ms, c0);
    }
    /* Each stopped thread has said it is done but still runs a little
     * native code (its return, its ThreadEnd): wait until the JVM sees it
     * terminated, or the JVM's exit pays a whole 10 ms tick for it
     * (agent_thread.h). Bounded; usually well under a millisecond. */
    uint64_t w0 = cp_mono_ns();
    int ending = cp_agent_thread_wait_gone(jni, 100);
    uint64_t w1 = cp_mono_ns();
    CP_LOGI("exit: agent threads: %d alive as Java threads, %d of them ending (waited %.2f ms)",
            cp_agent_thread_alive(), ending, (w1 - w0) / 1e6);
    CP_LOGD("exit: VMDeath %.2f ms: samplers and cprof-gc stopped %.2f, last window %.2f, relay's ack %.2f, "
            "sender stopped %.2f, report %.2f, threads gone %.2f", (w1 - t0) / 1e6, (t1 - t0) / 1e6,
            (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6, (w0 - t4) / 1e6, (w1 - w0) / 1e6);
    pthread_mutex_unlock(&life_mu);
}

/* life_mu held: what the relay's layers changed, applied now. Only the
 * fields a control may change differ from old (cp_control_copy_fields).
 * Allocation and lock profiling on/off (JVMTI SetHeapSamplingInterval and
 * SampledObjectAlloc, monitor events and park hooks: alloc.h, lock.h)
 * through alloc_start; every interval through the budget
 * (apply_sampling_locked, overhead.h). */
static void apply_changes_locked(const cp_options_t *old)
{
    const cp_options_t *o = &g_opts;
    if (!o->alloc_bytes != !old->alloc_bytes || !o->lock_ns != !old->lock_ns ||
        strcmp(o->alloc_mode, old->alloc_mode))
        alloc_start(g_vm, o, cp_agent_ring());
    apply_sampling_locked(o->cpu_engine != old->cpu_engine || o->cpu_native != old->cpu_native);
    if (o->flush_ns != old->flush_ns)
        cp_harvest_set_flush(o->flush_ns);
    if (o->buffer_bytes != old->buffer_bytes) {
        cp_options_t s = g_opts;
        cp_control_copy_fields(&s, &g_base);   /* the hello's capabilities stay: no reconnect */
        s.buffer_bytes = o->buffer_bytes;
        cp_options_t so = sender_opts(&s);
        cp_sender_configure(&so, g_app);
    }
}

/* control_run.h's apply callback: options = own + the relay's layers. */
static int reapply_layers(bool try_lock, cp_options_t *eff)
{
    if (try_lock ? pthread_mutex_trylock(&life_mu) != 0 : pthread_mutex_lock(&life_mu) != 0)
        return CP_CONTROL_RUN_BUSY;
    cp_options_t old = g_opts, layered;
    cp_control_run_layer(&g_base, &layered);
    cp_control_copy_fields(&g_opts, &layered);
    int rc = 0;
    if (atomic_load(&g_dead) || !g_running || g_detached)
        rc = CP_ESTATE;   /* taken into g_opts; a later start applies them */
    else
        apply_changes_locked(&old);
    *eff = g_opts;
    pthread_mutex_unlock(&life_mu);
    return rc;
}

static void control_from_relay(const cp_control_t *c)
{
    /* configure / revert / app defaults: whitelisted keys, typed and
     * bounded values, layered over the agent's own options; the relay
     * tunes sampling but cannot move, re-identify or detach the agent
     * (control.h, control_run.h) */
    if (cp_control_run_message(c))
        return;
    const char *command = c->command;
    pthread_mutex_lock(&life_mu);
    if (atomic_load(&g_dead) || !g_running) {
        pthread_mutex_unlock(&life_mu);
        return;
    }
    if (!strcmp(command, "flush")) {
        pthread_mutex_unlock(&life_mu);
        cp_harvest_flush(false, 1000);
        return;
    }
    if (!strcmp(command, "stop")) {
        g_opts.command = CP_CMD_STOP;
    } else if (!strcmp(command, "start")) {
        g_opts.command = CP_CMD_START;
    } else {
        CP_LOGW("unknown control '%.32s' from relay ignored", command);
        pthread_mutex_unlock(&life_mu);
        return;
    }
    apply_sampling_locked(true);
    cp_harvest_set_flush(g_opts.flush_ns);
    cp_options_t so = sender_opts(&g_opts);
    cp_sender_configure(&so, g_app);
    pthread_mutex_unlock(&life_mu);
}

static int enable(jvmtiEvent ev, const char *what)
{
    jvmtiError e = (*g_jvmti)->SetEventNotificationMode(g_jvmti, JVMTI_ENABLE, ev, NULL);
    if (e != JVMTI_ERROR_NONE) {
        CP_LOGW("cannot enable %s events (jvmti error %d)", what, e);
        return -1;
    }
    return 0;
}

/* Once per process: JVMTI env, capabilities, callbacks, ring, handlers. */
/* Cprof.context's first use: context per virtual thread from then on. */
static void context_first_use(JNIEnv *jni)
{
    JavaVM *vm = NULL;
    if ((*jni)->GetJavaVM(jni, &vm) != 0 || !vm)
        return;
    /* called from a Ctx native: FindClass resolves through that Ctx's loader */
    jclass ctx = (*jni)->FindClass(jni, "dev/cprof/Ctx");
    if ((*jni)->ExceptionCheck(jni)) {
        (*jni)->ExceptionClear(jni);
        ctx = NULL;
    }
    cp_ctx_vthread_start(vm, jni, ctx);
}

static int init_once(JavaVM *vm, bool live)
{
    g_vm = vm;
    /* JVMTI first: a refusal here (-3) leaves no claim behind, so the
     * retried attach finds the process free whether or not the JVM
     * unloaded this copy in between */
    if ((*vm)->GetEnv(vm, (void **)&g_jvmti, JVMTI_VERSION_1_2) != JNI_OK || !g_jvmti) {
        g_jvmti = NULL;
        if (live) {
            /* JDK 17 answers an attach during its start phase (before
             * VMInit) and then refuses JVMTI: the attach is retried */
            CP_LOGW("no JVMTI environment yet: the JVM is not in its live phase; attach again");
            return -3;
        }
        CP_LOGE("no JVMTI 1.2 environment; the agent stays idle");
        return -1;
    }
    if (!cp_identity_claim_process()) {
        CP_LOGE("another copy of the cprof agent (loaded from another path) already runs in this JVM; "
                "attach with that copy's path to reconfigure it. This copy stays idle.");
        (*g_jvmti)->DisposeEnvironment(g_jvmti);
        g_jvmti = NULL;
        return -2;
    }
    jvmtiCapabilities caps;
    memset(&caps, 0, sizeof caps);
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    caps.can_generate_compiled_method_load_events = 1;
    if ((*g_jvmti)->AddCapabilities(g_jvmti, &caps) != JVMTI_ERROR_NONE) {
        caps.can_generate_compiled_method_load_events = 0;
        if ((*g_jvmti)->AddCapabilities(g_jvmti, &caps) != JVMTI_ERROR_NONE)
            CP_LOGW("line numbers unavailable (capabilities refused)");
        else
            CP_LOGW("CompiledMethodLoad unavailable: inlined frames may be attributed to callers");
    }
    jvmtiEventCallbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.VMInit = on_vm_init;
    cb.VMDeath = on_vm_death;
    cb.ClassLoad = cp_on_class_load;
    cb.ClassPrepare = cp_on_class_prepare;
    cb.ThreadStart = on_thread_start;
    cb.ThreadEnd = on_thread_end;
    cb.CompiledMethodLoad = cp_on_compiled_method_load;
    if ((*g_jvmti)->SetEventCallbacks(g_jvmti, &cb, sizeof cb) != JVMTI_ERROR_NONE) {
        CP_LOGE("cannot set JVMTI callbacks; the agent stays idle");
        return -1;
    }
    if (!live)
        enable(JVMTI_EVENT_VM_INIT, "VMInit");
    enable(JVMTI_EVENT_VM_DEATH, "VMDeath");
    enable(JVMTI_EVENT_THREAD_START, "ThreadStart");
    enable(JVMTI_EVENT_THREAD_END, "ThreadEnd");
    g_cml_cap = caps.can_generate_compiled_method_load_events;
    g_before_vminit = !live;
    g_dns_pending = true;   /* start_locked() sets the flag (live phase: VMStructs) */
    g_dns_ok = true;        /* until told otherwise: no CompiledMethodLoad */
    set_running_events(true);

    cp_ring_t *ring = cp_ring_create(RING_SLOTS);
    if (ring)
        cp_ring_set_nudge(ring, cp_harvest_nudge);   /* allocation samples can outrun the poll */
    cp_context_on_first_use(context_first_use);
    if (!ring || cp_harvest_init(g_jvmti, ring) != 0) {
        CP_LOGE("out of memory at start-up; the agent stays idle");
        return -1;
    }
    atomic_store_explicit(&g_ring, ring, memory_order_release); /* publish to producers */
    g_sampler_ok = cp_sampler_init(vm, ring) == 0;
    cp_control_run_init(reapply_layers);
    cp_harvest_set_tick(cp_control_run_tick);   /* timed changes end by the agent's clock */
    cp_sender_set_control_handler(control_from_relay);
    cp_overhead_set_apply(apply_budget);
    cp_overhead_set_signal_cost(cp_sigcost_ns);   /* the kernel's side of the signals (issue 14) */
    return 0;
}

static void parse_all(cp_options_t *o, const char *options, bool with_env)
{
    cp_options_sink_t sink = {cp_log_option_warning, NULL, cp_verdict_judge, &g_verdict};
    if (with_env)
        cp_options_from_env_to(o, &sink);
    cp_options_parse_to(o, options, &sink);
    /* the verdict file is this attach's, not a setting */
    snprintf(g_verdict.path, sizeof g_verdict.path, "%s", o->verdict);
    o->verdict[0] = '\0';
}

/* life_mu held. Log destination and level from g_opts; a log file that
 * cannot be opened is refused in the verdict and the log goes to stderr
 * (not retried at every later attach). */
static void configure_log(void)
{
    if (cp_log_configure(g_opts.log, g_opts.loglevel) != 0) {
        cp_verdict_refuse(&g_verdict, "log", "cannot open the file (%s); logging to stderr",
                          strerror(errno));
        snprintf(g_opts.log, sizeof g_opts.log, "stderr");   /* what is in effect */
    }
}

/* life_mu held, options applied: what only the running agent knows goes
 * into the verdict, which is then written for `cprof attach`. */
static void finish_verdict(int alloc_rc)
{
    cp_verdict_t *v = &g_verdict;
    if (alloc_rc == CP_EUNSUPP)
        cp_verdict_refuse(v, "alloc", "this JVM offers neither heap sampling nor retransformation");
    if (g_initialized && !g_sampler_ok) {
        cp_verdict_refuse(v, "cpu", "the sampler could not start in this JVM (its log says why)");
        cp_verdict_refuse(v, "wall", "the sampler could not start in this JVM (its log says why)");
    }
    if (atomic_load(&g_dead)) {
        cp_verdict_refuse(v, NULL, "the JVM is shutting down");
        cp_verdict_note(v, "shutting-down", "the JVM is shutting down: nothing was applied");
    }
    if (g_detached) {
        cp_verdict_state(v, "detached");
    } else if (!g_running) {
        cp_verdict_state(v, "not running (the JVM's log says why)");
    } else {
        char d[768], st[800];
        cp_options_describe(&g_opts, g_app, d, sizeof d);
        snprintf(st, sizeof st, "running: %s%s", d, g_opts.command == CP_CMD_STOP ? " (stopped)" : "");
        cp_verdict_state(v, st);
    }
    int rc = cp_verdict_write(v);
    if (rc == CP_EINVAL)
        CP_LOGW("verdict file '%s' refused: not an absolute path to a " CP_VERDICT_PREFIX "* file", v->path);
    else if (rc)
        CP_LOGW("cannot write the verdict file %s: %s", v->path, strerror(errno));
}

static jint agent_load(JavaVM *vm, char *options, bool live)
{
    pthread_mutex_lock(&life_mu);
    cp_verdict_init(&g_verdict);
    int alloc_rc = 0;
    if (g_initialized) {
        /* Re-attach: the same library, already running. New options apply
         * on top of the current ones; command=detach/stop/start act. */
        cp_options_t o = g_opts;
        cp_control_copy_fields(&o, &g_base);   /* new options go over the agent's own */
        o.command = CP_CMD_START;
        parse_all(&o, options, false);
        if (atomic_load(&g_dead)) {
            finish_verdict(0);
            pthread_mutex_unlock(&life_mu);
            return JNI_OK;
        }
        g_base = o;
        g_opts = o;
        cp_options_t layered;
        cp_control_run_layer(&g_base, &layered);   /* the relay's defaults and changes stay */
        cp_control_copy_fields(&g_opts, &layered);
        configure_log();
        CP_LOGI("re-attach with options '%s'", options ? options : "");
        if (o.command == CP_CMD_DETACH && g_detached) {
            CP_LOGI("detach: the agent is already detached; nothing to stop or flush");
            cp_verdict_note(&g_verdict, "already-detached",
                            "the agent was already detached: nothing to stop or flush");
        } else if (o.command == CP_CMD_DETACH) {
            detach_locked();
        } else {
            JNIEnv *jni = NULL;
            (*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_6);
            if (g_live && jni)
                start_locked(jni, false);
        }
        if (o.command != CP_CMD_DETACH)
            alloc_rc = alloc_start(vm, &g_opts, cp_agent_ring());
        finish_verdict(alloc_rc);
        pthread_mutex_unlock(&life_mu);
        return JNI_OK;
    }

    cp_options_defaults(&g_opts);
    /* log to stderr while parsing, so option warnings are seen */
    cp_log_configure("stderr", CP_LOG_WARN);
    parse_all(&g_opts, options, true);
    configure_log();
    g_base = g_opts;
    if (g_opts.command == CP_CMD_DETACH) {
        CP_LOGW("command=detach but the agent is not running: nothing to do");
        cp_verdict_note(&g_verdict, "already-detached", "the agent was not running: nothing to stop or flush");
        g_detached = true;
        finish_verdict(0);
        pthread_mutex_unlock(&life_mu);
        return JNI_OK;
    }
    int irc = init_once(vm, live);
    if (irc != 0) {
        cp_verdict_error(&g_verdict, "%s", irc == -2 ?
                         "another copy of the cprof agent (loaded from another path) already runs in this "
                         "JVM; attach with that copy's path to reconfigure it" : irc == -3 ?
                         "the JVM is starting: JVMTI is offered only in the live phase; attach again" :
                         "the agent could not start in this JVM and stays idle (its log says why)");
        cp_verdict_refuse(&g_verdict, NULL, "the agent is idle");
        finish_verdict(0);
        pthread_mutex_unlock(&life_mu);
        /* never stop the JVM from starting; an attach learns it failed */
        return live && irc != -1 ? JNI_ERR : JNI_OK;
    }
    g_initialized = true;
    if (live) {
        JNIEnv *jni = NULL;
        (*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_6);
        cp_class_events_load_all(g_jvmti, jni);
        /* code compiled before the attach: replay its CompiledMethodLoad */
        if (g_cml_on && (*g_jvmti)->GenerateEvents(g_jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD) != JVMTI_ERROR_NONE)
            CP_LOGD("GenerateEvents(CompiledMethodLoad) failed");
        g_live = true;
        if (jni)
            start_locked(jni, false);
    }
    alloc_rc = alloc_start(vm, &g_opts, cp_agent_ring());
    if (live)
        finish_verdict(alloc_rc);
    else if (g_verdict.path[0])
        CP_LOGW("verdict= is for attach only; ignored at start-up");
    pthread_mutex_unlock(&life_mu);
    return JNI_OK;
}

JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved)
{
    (void)reserved;
    uint64_t c0 = cp_cost_now();
    jint rc = agent_load(vm, options, false);
    cp_cost_callback(c0);
    return rc;
}

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved)
{
    (void)reserved;
    uint64_t c0 = cp_cost_now();
    jint rc = agent_load(vm, options, true);
    cp_cost_callback(c0);
    return rc;
}

JNIEXPORT void JNICALL Agent_OnUnload(JavaVM *vm)
{
    /* VMDeath already flushed. Nothing is freed: a late signal may still
     * reach the handlers, which need the ring (the .so is -z nodelete). */
    (void)vm;
}
