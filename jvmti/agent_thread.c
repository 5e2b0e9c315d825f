/* agent_thread.c - the agent's JVMTI agent threads: started by name, waited
 * for until the JVM counts them gone (see agent_thread.h for why).
 *
 * A small table of slots, one per thread started (a restart after a detach
 * takes a new slot; terminated ones are reused). Each thread runs
 * trampoline(), which calls the module's function. The thread marks its
 * slot ending just before it tells its stopper it is done
 * (cp_agent_thread_ending), and trampoline() again when the function
 * returns; the waiter polls GetThreadState for TERMINATED, which HotSpot
 * sets in JavaThread::exit after ThreadEnd and Thread.exit(), i.e. after the
 * last native code the thread will run.
 *
 * Threads: the table under mu; `ending` is also read by the waiter
 * without mu (atomic). */
#include "agent_thread.h"

#include "clock.h"
#include "error.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define SLOTS 16
#define POLL_NS 100000   /* 0.1 ms: the thread needs the CPU to finish */

typedef struct slot {
    bool               used;
    jvmtiEnv          *jvmti;      /* the env that started it */
    jthread            ref;        /* global ref */
    jvmtiStartFunction fn;
    void              *arg;
    atomic_bool        ending;     /* fn is returning: only the JVM's exit path is left */
} slot_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static slot_t slots[SLOTS];
static __thread slot_t *self __attribute__((tls_model("initial-exec")));

void cp_agent_thread_ending(void)
{
    /* release: pairs with the waiter's acquire (it then polls the JVM) */
    if (self)
        atomic_store_explicit(&self->ending, true, memory_order_release);
}

static void JNICALL trampoline(jvmtiEnv *jvmti, JNIEnv *jni, void *arg)
{
    slot_t *s = arg;
    self = s;
    s->fn(jvmti, jni, s->arg);
    cp_agent_thread_ending();
}

static bool terminated(const slot_t *s)
{
    jint st = 0;
    jvmtiError e = (*s->jvmti)->GetThreadState(s->jvmti, s->ref, &st);
    return e != JVMTI_ERROR_NONE || (st & JVMTI_THREAD_STATE_TERMINATED);
}

/* mu held: forget slots whose thread is gone. */
static void prune_locked(JNIEnv *jni)
{
    for (int i = 0; i < SLOTS; i++) {
        slot_t *s = &slots[i];
        if (s->used && atomic_load_explicit(&s->ending, memory_order_acquire) && terminated(s)) {
            (*jni)->DeleteGlobalRef(jni, s->ref);
            s->used = false;
        }
    }
}

int cp_agent_thread_start(jvmtiEnv *jvmti, JNIEnv *jni, const char *name, jvmtiStartFunction fn,
                          void *arg)
{
    jclass tc = (*jni)->FindClass(jni, "java/lang/Thread");
    jmethodID ctor = tc ? (*jni)->GetMethodID(jni, tc, "<init>", "(Ljava/lang/String;)V") : NULL;
    jstring jname = ctor ? (*jni)->NewStringUTF(jni, name) : NULL;
    jobject thr = jname ? (*jni)->NewObject(jni, tc, ctor, jname) : NULL;
    jthread ref = thr ? (*jni)->NewGlobalRef(jni, thr) : NULL;
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    if (!ref)
        return CP_ESTATE;
    pthread_mutex_lock(&mu);
    prune_locked(jni);
    slot_t *s = NULL;
    for (int i = 0; i < SLOTS && !s; i++)
        if (!slots[i].used)
            s = &slots[i];
    if (s) {
        s->used = true;
        s->jvmti = jvmti;
        s->ref = ref;
        s->fn = fn;
        s->arg = arg;
        atomic_store_explicit(&s->ending, false, memory_order_relaxed);   /* before the thread exists */
    }
    pthread_mutex_unlock(&mu);
    /* no free slot (16 restarts with none ended): run it unwatched */
    jvmtiError err = s ? (*jvmti)->RunAgentThread(jvmti, ref, trampoline, s, JVMTI_THREAD_NORM_PRIORITY)
                       : (*jvmti)->RunAgentThread(jvmti, ref, fn, arg, JVMTI_THREAD_NORM_PRIORITY);
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    if (err == JVMTI_ERROR_NONE && s)
        return 0;
    if (s) {
        pthread_mutex_lock(&mu);
        s->used = false;
        pthread_mutex_unlock(&mu);
    }
    (*jni)->DeleteGlobalRef(jni, ref);
    return err == JVMTI_ERROR_NONE ? 0 : CP_ESTATE;
}

int cp_agent_thread_wait_gone(JNIEnv *jni, int timeout_ms)
{
    uint64_t end = cp_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int pending = 0;
        pthread_mutex_lock(&mu);
        prune_locked(jni);
        for (int i = 0; i < SLOTS; i++)
            if (slots[i].used && atomic_load_explicit(&slots[i].ending, memory_order_acquire))
                pending++;
        pthread_mutex_unlock(&mu);
        if (!pending || cp_mono_ns() >= end)
            return pending;
        struct timespec ts = {0, POLL_NS};
        nanosleep(&ts, NULL);
    }
}

int cp_agent_thread_alive(void)
{
    int n = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].used && !terminated(&slots[i]))
            n++;
    pthread_mutex_unlock(&mu);
    return n;
}
