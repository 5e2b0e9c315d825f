/* vmstructs.c - HotSpot field offsets from the JVM's VMStructs tables, and
 * the signal-safe anchor accessor built on them. See vmstructs.h for why.
 *
 * Threads: parse/load/measure run on agent threads and JVMTI callbacks
 * (bind serialises them with bind_mu). Handlers only call
 * cp_vmstructs_anchor / cp_vmstructs_ready / cp_vmstructs_in_vm.
 *
 * Invariant: g_vs is written only while g_ready is false (install stores it
 * and then publishes with a release store); handlers read it only after an
 * acquire load of g_ready saw true. Once published it is never rewritten
 * (cp_vmstructs_install(NULL) only clears g_ready). */
#include "vmstructs.h"

#include "error.h"
#include "log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static cp_vmstructs_t g_vs;
static atomic_bool g_ready;

/* ---- table parsing (pure) ------------------------------------------------ */

static const char *str_at(const char *entry, uint64_t off)
{
    const char *s;
    memcpy(&s, entry + off, sizeof s);
    return s;
}

int cp_vmstructs_parse(const cp_vmstructs_tables_t *t, cp_vmstructs_t *out)
{
    static const struct { const char *type, *field; size_t at; } want[] = {
        {"JavaThread", "_thread_state", offsetof(cp_vmstructs_t, thread_state)},
        {"JavaThread", "_anchor", offsetof(cp_vmstructs_t, thread_anchor)},
        {"JavaFrameAnchor", "_last_Java_sp", offsetof(cp_vmstructs_t, anchor_sp)},
        {"JavaFrameAnchor", "_last_Java_pc", offsetof(cp_vmstructs_t, anchor_pc)},
        {"JavaFrameAnchor", "_last_Java_fp", offsetof(cp_vmstructs_t, anchor_fp)},
        {"JavaThread", "_osthread", offsetof(cp_vmstructs_t, thread_osthread)},   /* JDK 17 */
        {"Thread", "_osthread", offsetof(cp_vmstructs_t, thread_osthread)},       /* JDK 21+ */
        {"OSThread", "_thread_id", offsetof(cp_vmstructs_t, osthread_tid)},
    };
    static const struct { const char *name; size_t at; } want_int[] = {
        {"_thread_in_native", offsetof(cp_vmstructs_t, in_native)},
        {"_thread_in_vm", offsetof(cp_vmstructs_t, in_vm)},
        {"_thread_in_vm_trans", offsetof(cp_vmstructs_t, in_vm_trans)},
        {"_thread_in_Java", offsetof(cp_vmstructs_t, in_java)},
    };
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        *(int32_t *)((char *)out + want[i].at) = -1;
    for (size_t i = 0; i < sizeof want_int / sizeof want_int[0]; i++)
        *(int32_t *)((char *)out + want_int[i].at) = -1;
    if (t->fields && t->f_stride) {
        for (const char *e = t->fields;; e += t->f_stride) {
            const char *type = str_at(e, t->f_type_name);
            if (!type)
                break;
            const char *field = str_at(e, t->f_field_name);
            int32_t is_static;
            uint64_t off;
            memcpy(&is_static, e + t->f_is_static, sizeof is_static);
            memcpy(&off, e + t->f_offset, sizeof off);
            if (!field || is_static || off > INT32_MAX)
                continue;
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                if (!strcmp(type, want[i].type) && !strcmp(field, want[i].field))
                    *(int32_t *)((char *)out + want[i].at) = (int32_t)off;
        }
    }
    if (t->ints && t->i_stride) {
        for (const char *e = t->ints;; e += t->i_stride) {
            const char *name = str_at(e, t->i_name);
            if (!name)
                break;
            int32_t v;
            memcpy(&v, e + t->i_value, sizeof v);
            for (size_t i = 0; i < sizeof want_int / sizeof want_int[0]; i++)
                if (!strcmp(name, want_int[i].name))
                    *(int32_t *)((char *)out + want_int[i].at) = v;
        }
    }
    /* _last_Java_fp is x86/aarch64 only and not needed by the fix */
    bool ok = out->thread_state >= 0 && out->thread_anchor >= 0 && out->anchor_sp >= 0 &&
              out->anchor_pc >= 0 && out->in_native >= 0 && out->in_vm >= 0 && out->in_java >= 0;
    return ok ? 0 : CP_ENOTFOUND;
}

static uint64_t u64_at(const char *entry, uint64_t off)
{
    uint64_t v;
    memcpy(&v, entry + off, sizeof v);
    return v;
}

int cp_vmstructs_find_flag(const cp_vmstructs_tables_t *t, const char *name, void **addr)
{
    *addr = NULL;
    if (!t->fields || !t->f_stride || !t->f_address || !t->types || !t->t_stride)
        return CP_ENOTFOUND;
    const char *flags_var = NULL, *num_var = NULL;   /* &JVMFlag::flags, &JVMFlag::numFlags */
    int64_t name_off = -1, addr_off = -1;
    for (const char *e = t->fields; str_at(e, t->f_type_name); e += t->f_stride) {
        const char *field = str_at(e, t->f_field_name);
        if (!field || strcmp(str_at(e, t->f_type_name), "JVMFlag") != 0)
            continue;
        int32_t is_static;
        memcpy(&is_static, e + t->f_is_static, sizeof is_static);
        if (is_static && !strcmp(field, "flags"))
            flags_var = str_at(e, t->f_address);
        else if (is_static && !strcmp(field, "numFlags"))
            num_var = str_at(e, t->f_address);
        else if (!is_static && !strcmp(field, "_name"))
            name_off = (int64_t)u64_at(e, t->f_offset);
        else if (!is_static && !strcmp(field, "_addr"))
            addr_off = (int64_t)u64_at(e, t->f_offset);
    }
    uint64_t size = 0;
    for (const char *e = t->types; str_at(e, t->t_type_name) && !size; e += t->t_stride)
        if (!strcmp(str_at(e, t->t_type_name), "JVMFlag"))
            size = u64_at(e, t->t_size);
    if (!flags_var || !num_var || name_off < 0 || addr_off < 0 || size < sizeof(void *) ||
        (uint64_t)name_off + sizeof(void *) > size || (uint64_t)addr_off + sizeof(void *) > size)
        return CP_ENOTFOUND;
    const char *flags = str_at(flags_var, 0);
    uint64_t n = u64_at(num_var, 0);
    if (!flags || n > 100000)
        return CP_ENOTFOUND;
    for (uint64_t i = 0; i < n; i++) {
        const char *f = flags + i * size, *fname = str_at(f, (uint64_t)name_off);
        if (fname && !strcmp(fname, name)) {
            void *a = (void *)str_at(f, (uint64_t)addr_off);
            if (!a)
                return CP_ENOTFOUND;
            *addr = a;
            return 0;
        }
    }
    return CP_ENOTFOUND;
}

/* ---- the running JVM ------------------------------------------------------ */

static bool sym_u64(const char *name, uint64_t *v)
{
    const uint64_t *p = dlsym(RTLD_DEFAULT, name);
    if (!p)
        return false;
    *v = *p;
    return true;
}

static bool sym_ptr(const char *name, const char **v)
{
    const char *const *p = dlsym(RTLD_DEFAULT, name);
    if (!p)
        return false;
    *v = *p;
    return true;
}

int cp_vmstructs_load(cp_vmstructs_tables_t *t)
{
    memset(t, 0, sizeof *t);
    bool ok = sym_ptr("gHotSpotVMStructs", &t->fields) &&
              sym_u64("gHotSpotVMStructEntryArrayStride", &t->f_stride) &&
              sym_u64("gHotSpotVMStructEntryTypeNameOffset", &t->f_type_name) &&
              sym_u64("gHotSpotVMStructEntryFieldNameOffset", &t->f_field_name) &&
              sym_u64("gHotSpotVMStructEntryIsStaticOffset", &t->f_is_static) &&
              sym_u64("gHotSpotVMStructEntryOffsetOffset", &t->f_offset) &&
              sym_ptr("gHotSpotVMIntConstants", &t->ints) &&
              sym_u64("gHotSpotVMIntConstantEntryArrayStride", &t->i_stride) &&
              sym_u64("gHotSpotVMIntConstantEntryNameOffset", &t->i_name) &&
              sym_u64("gHotSpotVMIntConstantEntryValueOffset", &t->i_value);
    /* the strides are 0 until vmStructs_init ran (VM start-up) */
    if (!ok || !t->fields || !t->ints || !t->f_stride || !t->i_stride)
        return CP_ENOTFOUND;
    /* optional, for cp_vmstructs_find_flag: left 0 / NULL if absent */
    if (!sym_u64("gHotSpotVMStructEntryAddressOffset", &t->f_address) ||
        !sym_ptr("gHotSpotVMTypes", &t->types) || !sym_u64("gHotSpotVMTypeEntryArrayStride", &t->t_stride) ||
        !sym_u64("gHotSpotVMTypeEntryTypeNameOffset", &t->t_type_name) ||
        !sym_u64("gHotSpotVMTypeEntrySizeOffset", &t->t_size))
        t->types = NULL;
    return 0;
}

int cp_vmstructs_measure_env(JNIEnv *jni, const cp_vmstructs_t *vs, int64_t *offset)
{
    int rc = CP_ENOTFOUND;
    jclass cls = (*jni)->FindClass(jni, "java/lang/Thread");
    jobject cur = NULL;
    jlong eetop = 0;
    if (!cls)
        goto out;
    jfieldID f = (*jni)->GetFieldID(jni, cls, "eetop", "J");
    jmethodID m = f ? (*jni)->GetStaticMethodID(jni, cls, "currentThread", "()Ljava/lang/Thread;") : NULL;
    if (!m)
        goto out;
    cur = (*jni)->CallStaticObjectMethod(jni, cls, m);
    if (!cur || (*jni)->ExceptionCheck(jni))
        goto out;
    eetop = (*jni)->GetLongField(jni, cur, f);
    rc = CP_ESTATE;
    if (!eetop)
        goto out;
    int64_t off = (int64_t)((intptr_t)jni - (intptr_t)eetop);
    /* JNIEnv is a field of JavaThread: a small positive, aligned offset */
    if (off <= 0 || off > (1 << 16) || (off & 7))
        goto out;
    const char *jt = (const char *)(intptr_t)eetop;
    int32_t state;
    memcpy(&state, jt + vs->thread_state, sizeof state);
    if (state != vs->in_native)   /* we are native code called by the JVM */
        goto out;
    uintptr_t sp;
    memcpy(&sp, jt + vs->thread_anchor + vs->anchor_sp, sizeof sp);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (sp && (sp < here || sp - here > (64u << 20)))   /* Java frames are our callers */
        goto out;
    *offset = off;
    rc = 0;
out:
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    if (cur)
        (*jni)->DeleteLocalRef(jni, cur);
    if (cls)
        (*jni)->DeleteLocalRef(jni, cls);
    return rc;
}

void cp_vmstructs_install(const cp_vmstructs_t *vs)
{
    if (!vs || vs->env_offset == 0) {
        atomic_store_explicit(&g_ready, false, memory_order_release); /* handlers stop using it */
        return;
    }
    if (atomic_load_explicit(&g_ready, memory_order_acquire)) /* published once, never rewritten */
        return;
    g_vs = *vs;
    atomic_store_explicit(&g_ready, true, memory_order_release); /* publishes g_vs */
}

/* bind state: 0 nothing yet, 1 first measurement pending, 2 published, -1 off */
static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER;
static int bind_phase;
static int bind_tries;
static long bind_tid;          /* thread of the first measurement: the check needs another one */
static cp_vmstructs_t bind_vs;

static void bind_off(const char *why, int rc)
{
    bind_phase = -1;
    CP_LOGI("HotSpot VMStructs: %s (%s); unknown_not_Java samples are not retried", why, cp_strerror(rc));
}

void cp_vmstructs_bind(JNIEnv *jni)
{
    if (!jni)
        return;
    /* another thread is measuring (a Java upcall: up to ms at start-up):
     * leave it to that one rather than wait; the caller binds again at its
     * next chance (thread start, harvester scan) */
    if (pthread_mutex_trylock(&bind_mu) != 0)
        return;
    int rc;
    int64_t off = 0;
    if (bind_phase == 0) {
        if (getenv("CPROF_NO_VMSTRUCTS")) {
            bind_off("off (CPROF_NO_VMSTRUCTS)", CP_EUNSUPP);
            goto out;
        }
        cp_vmstructs_tables_t t;
        if ((rc = cp_vmstructs_load(&t)) != 0) {
            bind_off("tables not found (not HotSpot?)", rc);
            goto out;
        }
        if ((rc = cp_vmstructs_parse(&t, &bind_vs)) != 0) {
            bind_off("a needed field is missing", rc);
            goto out;
        }
        if ((rc = cp_vmstructs_measure_env(jni, &bind_vs, &off)) != 0) {
            /* the first thread can be in an odd state (attach): try a few */
            if (++bind_tries >= 4)
                bind_off("JNIEnv offset in JavaThread not measurable", rc);
            goto out;
        }
        bind_vs.env_offset = off;
        bind_tid = syscall(SYS_gettid);
        bind_phase = 1;
        CP_LOGD("HotSpot VMStructs: JNIEnv at JavaThread+%lld, state +%d, anchor +%d (sp +%d, pc +%d); "
                "checking on a second thread", (long long)off, bind_vs.thread_state, bind_vs.thread_anchor,
                bind_vs.anchor_sp, bind_vs.anchor_pc);
    } else if (bind_phase == 1 && syscall(SYS_gettid) != bind_tid) {
        if ((rc = cp_vmstructs_measure_env(jni, &bind_vs, &off)) != 0) {
            if (++bind_tries >= 4)
                bind_off("JNIEnv offset not confirmed on a second thread", rc);
            goto out;
        }
        if (off != bind_vs.env_offset) {
            bind_off("JNIEnv offset differs between threads", CP_ESTATE);
            goto out;
        }
        cp_vmstructs_install(&bind_vs);
        bind_phase = 2;
        CP_LOGI("HotSpot VMStructs: JNIEnv at JavaThread+%lld (checked on two threads); "
                "failed AGCT samples of Java threads in the VM are retried with a walkable frame anchor%s",
                (long long)off, getenv("CPROF_NO_AGCT_RETRY") ? " (not now: CPROF_NO_AGCT_RETRY)" : "");
    }
out:
    pthread_mutex_unlock(&bind_mu);
}

bool cp_vmstructs_thread_of(const void *jt, int *tid, JNIEnv **env)
{
    if (!jt || !atomic_load_explicit(&g_ready, memory_order_acquire) || /* pairs with install */
        g_vs.thread_osthread < 0 || g_vs.osthread_tid < 0)
        return false;
    const char *os = *(const char *const volatile *)((const char *)jt + g_vs.thread_osthread);
    if (!os)
        return false;
    int t = *(const volatile int *)(os + g_vs.osthread_tid);   /* pid_t */
    if (t <= 0)
        return false;
    *tid = t;
    *env = (JNIEnv *)((char *)jt + g_vs.env_offset);
    return true;
}

/* ---- handler side ----------------------------------------------------------- */

CP_SIGSAFE bool cp_vmstructs_ready(void)
{
    return atomic_load_explicit(&g_ready, memory_order_acquire); /* pairs with install */
}

CP_SIGSAFE int32_t cp_vmstructs_in_java(void)
{
    return atomic_load_explicit(&g_ready, memory_order_acquire) ? g_vs.in_java : -1; /* as above */
}

CP_SIGSAFE bool cp_vmstructs_anchor(JNIEnv *env, cp_vm_anchor_t *out)
{
    if (!env || !atomic_load_explicit(&g_ready, memory_order_acquire)) /* pairs with install */
        return false;
    const char *jt = (const char *)env - g_vs.env_offset;
    const char *a = jt + g_vs.thread_anchor;
    /* volatile: the VM writes these fields behind the compiler's back */
    out->state = *(const volatile int32_t *)(jt + g_vs.thread_state);
    out->own = out->state == g_vs.in_vm || out->state == g_vs.in_java ||
               (g_vs.in_vm_trans >= 0 && out->state == g_vs.in_vm_trans);
    out->sp_slot = (uintptr_t *)(a + g_vs.anchor_sp);
    out->sp = *(const volatile uintptr_t *)out->sp_slot;
    out->pc_slot = (uintptr_t *)(a + g_vs.anchor_pc);
    out->pc = *(const volatile uintptr_t *)out->pc_slot;
    out->fp_slot = g_vs.anchor_fp >= 0 ? (uintptr_t *)(a + g_vs.anchor_fp) : NULL;
    out->fp = out->fp_slot ? *(const volatile uintptr_t *)out->fp_slot : 0;
    return true;
}
