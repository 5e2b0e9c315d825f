/* harvest_py.c - Python samples (pysample.h) into the harvester's window.
 *
 * A Python sample becomes the stack (root first)
 *
 *   "Executor task launch worker for task 3.0 in stage 1.0 (TID 7)"  thread frame:
 *                                   the JVM thread running the sample's task
 *   "[python] 4242"                 thread frame: the worker (pid, "/tid" for
 *                                   threads other than its main one)
 *   "[truncated]"                   only when the walk was cut
 *   worker.score (job.py:12) ...    Python frames, kind 10 (python)
 *
 * so in a flame graph a task's Python time sits under the JVM task thread
 * that waits for it. The JVM thread is found by the task's TID: Spark
 * names executor task threads "... (TID N)"; their names are read with
 * JVMTI GetAllThreads/GetThreadInfo when a TID is first seen (at most
 * every 200 ms) and kept per TID. A sample without a task (the daemon, a
 * worker between tasks, python=children) starts at "[python] PID"; a TID
 * no JVM thread carries gives "[python task] TID N".
 *
 * Labels (lsets.h, docs/context.md): every Python sample carries
 * runtime=python; with a task also stage, partition and tid (interned once
 * per task). Label sets live for the JVM's lifetime (65,535 at most), so
 * past PER_TASK_SETS distinct tasks new tasks get runtime=python and stage
 * only: an executor that runs for days keeps its labels bounded.
 *
 * Frame kind: 10 when the relay accepted "pykind1"
 * (cp_sender_python_kind), else 4 (native) with class "[py] module", so an
 * older relay shows the frames instead of refusing the batch. Frame ids
 * are cached per (function, kind) and forgotten with a dictionary
 * generation.
 *
 * Thread: harvester only, dict_mu held (harvest_int.h). */
#include "harvest.h"
#include "clock.h"
#include "harvest_int.h"

#include "lsets.h"
#include "pysample.h"
#include "sender.h"
#include "u64map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TID_NAMES 8192
#define PER_TASK_SETS 30000       /* label sets with partition and tid, at most */
#define REFRESH_NS 200000000ULL

static cp_u64map_t frame_ids;     /* func index << 1 | python kind -> frame id + 1 */
static uint32_t cache_gen;
static cp_u64map_t tid_names;     /* task TID -> index into names + 1 */
static char **names;
static size_t n_names, cap_names;
static uint64_t last_refresh;
static cp_u64map_t task_labels;   /* task TID -> label set id + 1 */
static cp_u64map_t stage_labels;  /* stage -> label set id + 1 (past PER_TASK_SETS) */
static uint32_t per_task_sets;
static int32_t plain_labels = -2; /* runtime=python alone; -2 = not interned yet */

typedef struct drain_ctx {
    jvmtiEnv *jvmti;
    JNIEnv *jni;
    bool pykind;
} drain_ctx_t;


/* "... (TID 7)" -> 7; -1 if the name carries no TID. */
static long long tid_in_name(const char *name)
{
    const char *p = strstr(name, "(TID ");
    if (!p)
        return -1;
    char *e;
    long long v = strtoll(p + 5, &e, 10);
    return e != p + 5 && *e == ')' ? v : -1;
}

static void forget_names(void)
{
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    n_names = 0;
    cp_u64map_clear(&tid_names);
}

static void remember(long long tid, const char *name)
{
    bool created;
    uint64_t *slot = cp_u64map_slot(&tid_names, (uint64_t)tid, &created);
    if (!slot)
        return;
    if (!created && !strcmp(names[*slot - 1], name))
        return;
    if (n_names == cap_names) {
        size_t nc = cap_names ? cap_names * 2 : 64;
        char **nn = realloc(names, nc * sizeof *nn);
        if (!nn)
            return;
        names = nn;
        cap_names = nc;
    }
    char *c = strdup(name);
    if (!c)
        return;
    names[n_names++] = c;   /* an older entry for the TID stays until forget_names */
    *slot = n_names;
}

/* Reads every live thread's name; keeps those that carry a TID. */
static void refresh_names(jvmtiEnv *jvmti, JNIEnv *jni)
{
    if (!jvmti || !jni)
        return;
    if (n_names > MAX_TID_NAMES)
        forget_names();
    jint n = 0;
    jthread *ts = NULL;
    if ((*jvmti)->GetAllThreads(jvmti, &n, &ts) != JVMTI_ERROR_NONE)
        return;
    for (jint i = 0; i < n; i++) {
        /* a frame per thread: GetThreadInfo hands back local references
         * (group, loader) that would pile up on this never-returning thread */
        if ((*jni)->PushLocalFrame(jni, 8) != 0)
            break;
        jvmtiThreadInfo info;
        if ((*jvmti)->GetThreadInfo(jvmti, ts[i], &info) == JVMTI_ERROR_NONE) {
            long long tid = info.name ? tid_in_name(info.name) : -1;
            if (tid >= 0)
                remember(tid, info.name);
            if (info.name)
                (*jvmti)->Deallocate(jvmti, (unsigned char *)info.name);
        }
        (*jni)->PopLocalFrame(jni, NULL);
        (*jni)->DeleteLocalRef(jni, ts[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)ts);
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
}

static const char *jvm_thread_of(drain_ctx_t *c, long long tid)
{
    uint64_t *hit = cp_u64map_find(&tid_names, (uint64_t)tid);
    if (!hit) {
        uint64_t now = cp_mono_ns();
        if (now - last_refresh < REFRESH_NS)
            return NULL;
        last_refresh = now;
        refresh_names(c->jvmti, c->jni);
        hit = cp_u64map_find(&tid_names, (uint64_t)tid);
    }
    return hit ? names[*hit - 1] : NULL;
}

static uint32_t py_frame(uint32_t func, bool pykind)
{
    uint64_t key = (uint64_t)func << 1 | pykind;
    uint64_t *hit = cp_u64map_find(&frame_ids, key);
    if (hit)
        return (uint32_t)(*hit - 1);
    const cp_pyfunc_t *f = cp_pysample_func(func);
    if (!f)
        return cp__harvest_frame("", "[unknown]", CP_FRAME_ERROR);
    uint32_t id;
    if (pykind) {
        id = cp__harvest_frame(f->module, f->text, CP_FRAME_PYTHON);
    } else {
        char cls[sizeof f->module + 8];
        snprintf(cls, sizeof cls, "[py] %s", f->module);
        id = cp__harvest_frame(cls, f->text, CP_FRAME_NATIVE);
    }
    bool created;
    uint64_t *slot = cp_u64map_slot(&frame_ids, key, &created);
    if (slot)
        *slot = (uint64_t)id + 1;
    return id;
}

static uint32_t intern_cached(cp_u64map_t *m, uint64_t key, const cp_kv_t *kv, uint32_t n)
{
    bool created;
    uint64_t *slot = cp_u64map_slot(m, key, &created);
    if (slot && !created)
        return (uint32_t)(*slot - 1);
    int32_t id = cp_lsets_intern(kv, n);   /* -1: table full (counted): unlabelled */
    uint32_t v = id > 0 ? (uint32_t)id : 0;
    if (slot)
        *slot = (uint64_t)v + 1;
    return v;
}

/* The sample's label set id (0 = none). */
static uint32_t labels_of(const cp_pysample_t *s)
{
    if (!s->has_task) {
        if (plain_labels == -2) {
            cp_kv_t kv = {"runtime", "python"};
            plain_labels = cp_lsets_intern(&kv, 1);
        }
        return plain_labels > 0 ? (uint32_t)plain_labels : 0;
    }
    char stage[24], part[24], tid[24];
    snprintf(stage, sizeof stage, "%lld", (long long)s->task.stage);
    snprintf(part, sizeof part, "%lld", (long long)s->task.partition);
    snprintf(tid, sizeof tid, "%lld", (long long)s->task.tid);
    cp_kv_t kv[4] = {{"runtime", "python"}, {"stage", stage}, {"partition", part}, {"tid", tid}};
    uint64_t *hit = cp_u64map_find(&task_labels, (uint64_t)s->task.tid);
    if (hit)
        return (uint32_t)(*hit - 1);
    if (per_task_sets >= PER_TASK_SETS)
        return intern_cached(&stage_labels, (uint64_t)s->task.stage, kv, 2);
    per_task_sets++;
    return intern_cached(&task_labels, (uint64_t)s->task.tid, kv, 4);
}

static void one(const cp_pysample_t *s, void *ud)
{
    drain_ctx_t *c = ud;
    uint32_t fr[CP_PYVM_MAX_DEPTH + 4];
    uint32_t n = 0;
    char text[320];
    if (s->has_task) {
        const char *jt = jvm_thread_of(c, (long long)s->task.tid);
        if (jt) {
            fr[n++] = cp__harvest_frame("", jt, CP_FRAME_THREAD);
        } else {
            snprintf(text, sizeof text, "[python task] TID %lld", (long long)s->task.tid);
            fr[n++] = cp__harvest_frame("", text, CP_FRAME_THREAD);
        }
    }
    if (s->tid == s->pid)
        snprintf(text, sizeof text, "[python] %d", (int)s->pid);
    else
        snprintf(text, sizeof text, "[python] %d/%d", (int)s->pid, (int)s->tid);
    fr[n++] = cp__harvest_frame("", text, CP_FRAME_THREAD);
    if (s->truncated)
        fr[n++] = cp__harvest_frame("", "[truncated]", CP_FRAME_ERROR);
    for (int i = (int)s->n - 1; i >= 0; i--)
        fr[n++] = py_frame(s->funcs[i], c->pykind);
    cp__harvest_add(fr, n, CP_TYPE_CPU, s->weight_ns, labels_of(s));
}

void cp__harvest_py_drain(jvmtiEnv *jvmti, JNIEnv *jni)
{
    if (cache_gen != cp__harvest_gen()) {   /* a new dictionary: its frame ids are new */
        cp_u64map_clear(&frame_ids);
        cache_gen = cp__harvest_gen();
    }
    drain_ctx_t c = {jvmti, jni, cp_sender_python_kind()};
    cp_pysample_drain(one, &c);
}
