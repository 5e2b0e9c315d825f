/* harvest_names.c - names for what a sample holds: Java methods (cached
 * per jmethodID, resolved once through JVMTI), native pcs (symbols.h,
 * cached per pc), synthetic frames, thread kinds and AGCT failure names,
 * each interned into the harvester's dictionary (harvest_int.h).
 *
 * Thread: the harvester, with dict_mu held (inside a drain). The caches
 * hold ids of the current dictionary: cp__names_reset when it is replaced. */
#include "harvest_int.h"

#include "sampler.h"
#include "stack_dict.h"
#include "stats.h"
#include "symbols.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

/* Java line numbers in frames (1) or line 0 = unknown (0). The relay names
 * frames by class + method (+ kind) and never reads the line, while
 * per-line frames multiply distinct frames and stacks: without lines, an
 * H2 run's first batch held 1269 frames / 614 stacks instead of 1715 / 743,
 * and the run sent 34 KB instead of 44 KB (docs/agent.md, wire volume). */
#define SEND_LINES 0

typedef struct minfo {           /* resolved method, cached per jmethodID */
    uint32_t class_id, method_id, sig_id;
    jint n_lines;
    jvmtiLineNumberEntry *lines; /* JVMTI-allocated; NULL if none */
    bool ok;
} minfo_t;

static jvmtiEnv *g_jvmti;
static cp_u64map_t frame_cache;   /* (method ^ bci ^ kind) key -> frame id */
static cp_u64map_t method_cache;  /* jmethodID -> index into minfos */
static cp_u64map_t native_cache;  /* native pc -> frame id (| NATIVE_THREAD_ENTRY) */
static cp_u64map_t function_cache;   /* a native function's address -> the same */
static minfo_t *minfos;
static size_t n_minfos, cap_minfos;

void cp__names_init(jvmtiEnv *jvmti) { g_jvmti = jvmti; }

void cp__names_reset(void)
{
    cp_u64map_clear(&frame_cache);
    /* method infos hold dictionary string ids: forget them too */
    for (size_t i = 0; i < n_minfos; i++)
        if (minfos[i].lines)
            (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)minfos[i].lines);
    n_minfos = 0;
    cp_u64map_clear(&method_cache);
    cp_u64map_clear(&native_cache);
    cp_u64map_clear(&function_cache);
}


uint32_t cp__names_str(const char *s)
{
    uint32_t id = 0;
    if (cp_stack_dict_intern_string(cp__harvest_dict(), s, strlen(s), &id) != 0)
        return 0;
    return id;
}

/* "Ljava/util/HashMap;" -> "java.util.HashMap"; hidden-class address
 * suffixes ("/0x0000000800c0b2a8" or ".0x...") are cut so names stay
 * stable across runs and instances. */
static void class_name(const char *sig, char *out, size_t cap)
{
    size_t n = strlen(sig);
    const char *p = sig;
    if (n >= 2 && sig[0] == 'L' && sig[n - 1] == ';') {
        p = sig + 1;
        n -= 2;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if ((p[i] == '/' || p[i] == '.') && i + 2 < n && p[i + 1] == '0' && p[i + 2] == 'x')
            break;
        out[o++] = p[i] == '/' ? '.' : p[i];
    }
    out[o] = '\0';
}

static minfo_t *resolve_method(JNIEnv *jni, jmethodID m)
{
    bool created;
    uint64_t *slot = cp_u64map_slot(&method_cache, (uint64_t)(uintptr_t)m, &created);
    if (!slot)
        return NULL;
    if (!created)
        return &minfos[*slot];
    if (n_minfos == cap_minfos) {
        size_t nc = cap_minfos ? cap_minfos * 2 : 1024;
        minfo_t *nm = realloc(minfos, nc * sizeof *nm);
        if (!nm) {
            *slot = 0;   /* entry 0 may be wrong; accept a misattribution over a crash */
            return NULL;
        }
        minfos = nm;
        cap_minfos = nc;
    }
    minfo_t *mi = &minfos[n_minfos];
    *slot = n_minfos++;
    memset(mi, 0, sizeof *mi);

    jclass cls = NULL;
    char *csig = NULL, *name = NULL, *msig = NULL;
    if ((*g_jvmti)->GetMethodDeclaringClass(g_jvmti, m, &cls) != JVMTI_ERROR_NONE ||
        (*g_jvmti)->GetClassSignature(g_jvmti, cls, &csig, NULL) != JVMTI_ERROR_NONE ||
        (*g_jvmti)->GetMethodName(g_jvmti, m, &name, &msig, NULL) != JVMTI_ERROR_NONE) {
        cp_stats_add(CP_ST_RESOLVE_FAIL, 1);
        mi->class_id = cp__names_str("");
        mi->method_id = cp__names_str("[unloaded method]");
        mi->sig_id = cp__names_str("");
    } else {
        char cname[512];
        class_name(csig, cname, sizeof cname);
        mi->class_id = cp__names_str(cname);
        mi->method_id = cp__names_str(name);
        /* signature not sent: the relay merges frames by class + method
         * name (overloads too), so it would only cost wire bytes */
        mi->sig_id = cp__names_str("");
        mi->ok = true;
        if (SEND_LINES && (*g_jvmti)->GetLineNumberTable(g_jvmti, m, &mi->n_lines, &mi->lines) != JVMTI_ERROR_NONE) {
            mi->n_lines = 0;
            mi->lines = NULL;
        }
    }
    if (csig) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)csig);
    if (name) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)name);
    if (msig) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)msig);
    if (cls && jni)
        (*jni)->DeleteLocalRef(jni, cls);
    return mi;
}

static int32_t line_of(const minfo_t *mi, jint bci)
{
    if (!mi->lines || bci < 0)
        return 0;
    int32_t line = 0;
    jlocation best = -1;
    for (jint i = 0; i < mi->n_lines; i++) {   /* tables are short and not always sorted */
        jlocation s = mi->lines[i].start_location;
        if (s <= bci && s > best) {
            best = s;
            line = mi->lines[i].line_number;
        }
    }
    return line;
}

uint32_t cp__names_synthetic(const char *text, uint8_t kind)
{
    cp_frame_t f = {cp__names_str(""), cp__names_str(text), cp__names_str(""), 0, kind};
    uint32_t id = 0;
    cp_stack_dict_intern_frame(cp__harvest_dict(), &f, &id);
    return id;
}

uint32_t cp__names_java(JNIEnv *jni, jmethodID m, jint lineno, uint8_t kind)
{
    if (!m)
        return cp__names_synthetic("[unknown method]", CP_FRAME_ERROR);
    /* key: a 64-bit hash of (method, bci, kind); a collision (~2^-64 per
     * pair) would only mislabel one frame */
    jint bci = SEND_LINES || lineno == -3 ? lineno : 0;   /* -3: native method */
    uint64_t key = cp_u64map_mix((uint64_t)(uintptr_t)m) ^ cp_u64map_mix(((uint64_t)(uint32_t)bci << 8) | kind);
    uint64_t *hit = cp_u64map_find(&frame_cache, key);
    if (hit)
        return (uint32_t)*hit;
    minfo_t *mi = resolve_method(jni, m);
    cp_frame_t f;
    if (!mi) {
        f = (cp_frame_t){cp__names_str(""), cp__names_str("[unresolved]"), cp__names_str(""), 0, CP_FRAME_ERROR};
    } else {
        bool native = lineno == -3;
        f.class_id = mi->class_id;
        f.method_id = mi->method_id;
        f.sig_id = mi->sig_id;
        f.line = native ? 0 : line_of(mi, lineno);
        f.kind = native ? CP_FRAME_NATIVE : kind;
    }
    uint32_t id = 0;
    if (cp_stack_dict_intern_frame(cp__harvest_dict(), &f, &id) != 0)
        return 0;
    bool created;
    uint64_t *slot = cp_u64map_slot(&frame_cache, key, &created);
    if (slot)
        *slot = id;
    return id;
}

/* A native frame for pc. ret: pc is a return address (every frame but the
 * leaf), so the call instruction is at pc - 1: look that up, or a call at
 * the very end of a function would name the next one. */
#define NATIVE_THREAD_ENTRY (1ULL << 32)   /* native_cache flag: a thread's first frame */

/* Functions that start a thread: a walk that reaches one has seen the
 * whole stack, so a thread with no Java frame below it really has none. */
static bool is_thread_entry(const char *name)
{
    return !strcmp(name, "start_thread") || !strncmp(name, "thread_native_entry", 19) ||
           !strcmp(name, "_ZL19thread_native_entryP6Thread") ||
           !strncmp(name, "clone", 5) || !strncmp(name, "__clone", 7) ||
           !strcmp(name, "Thread::call_run()") || !strcmp(name, "JavaMain");
}

/* Cuts a demangled C++ name in place: "ns::f(int, char*) const [clone
 * .part.0]" -> "ns::f". The parameter list is dropped, not sent as the
 * frame's signature: the relay names frames by library + function only,
 * and long parameter lists were the biggest part of the first batch's
 * strings. GCC's clone suffixes are dropped so clones of one function
 * merge. */
static void cut_params(char *name)
{
    char *clone = strstr(name, " [clone ");
    if (clone)
        *clone = '\0';
    /* the parameter list is the last balanced (...) group */
    char *close = strrchr(name, ')');
    if (!close)
        return;
    int depth = 0;
    for (char *p = close; p >= name; p--) {
        if (*p == ')')
            depth++;
        else if (*p == '(' && --depth == 0) {
            if (p != name && strncmp(p, "(anonymous namespace)", 21) != 0)
                *p = '\0';
            return;
        }
    }
}

/* Frame id of a native pc; *entry (OUT, may be NULL): it is a thread entry. */
uint32_t cp__names_native(uint64_t pc, bool ret, bool *entry)
{
    uint64_t key = pc - (ret ? 1 : 0);
    uint64_t *hit = cp_u64map_find(&native_cache, key);
    if (hit) {
        if (entry)
            *entry = (*hit & NATIVE_THREAD_ENTRY) != 0;
        return (uint32_t)*hit;
    }
    /* a new pc in a function already named (a JIT or GC thread's samples
     * land on many pcs of few functions): no demangling, no interning
     * (perf: __cxa_demangle was ~5% of a javac run's harvester) */
    bool created;
    uint64_t fn = cp_symbols_function(key), v;
    uint64_t *known = fn ? cp_u64map_find(&function_cache, fn) : NULL;
    if (known) {
        v = *known;
    } else {
        const char *obj = "";
        char name[512];
        cp_symbols_lookup(key, &obj, name, sizeof name);
        bool is_entry = is_thread_entry(name);
        cut_params(name);   /* the sig string stays "" (see cut_params) */
        cp_frame_t f = {cp__names_str(obj), cp__names_str(name[0] ? name : "[unknown]"), cp__names_str(""), 0,
                        CP_FRAME_NATIVE};
        uint32_t id = 0;
        if (cp_stack_dict_intern_frame(cp__harvest_dict(), &f, &id) != 0)
            return 0;
        v = id | (is_entry ? NATIVE_THREAD_ENTRY : 0);
        uint64_t *fslot = fn ? cp_u64map_slot(&function_cache, fn, &created) : NULL;
        if (fslot)
            *fslot = v;
    }
    if (entry)
        *entry = (v & NATIVE_THREAD_ENTRY) != 0;
    uint64_t *slot = cp_u64map_slot(&native_cache, key, &created);
    if (slot)
        *slot = v;
    return (uint32_t)v;
}

const char *cp__names_thread_kind(const char *name)
{
    if (!strncmp(name, "C1 ", 3) || !strncmp(name, "C2 ", 3) || strstr(name, "Compiler") || !strncmp(name, "JVMCI", 5))
        return "JIT";
    if (!strncmp(name, "GC ", 3) || !strncmp(name, "G1 ", 3) || !strncmp(name, "ZWorker", 7) ||
        !strncmp(name, "ZDriver", 7) || !strncmp(name, "ZDirector", 9) || !strncmp(name, "Shenandoah", 10) ||
        !strncmp(name, "Parallel GC", 11) || strstr(name, "GC Thread"))
        return "GC";
    if (!strncmp(name, "VM ", 3) || !strcmp(name, "Service Thread") || !strncmp(name, "Sweeper thread", 14) ||
        !strncmp(name, "Monitor Deflati", 15) || !strncmp(name, "Notification Th", 15) ||
        !strncmp(name, "Signal Dispatch", 15))
        return "VM";   /* HotSpot's own threads (some are JavaThreads that never run Java code) */
    if (!strncmp(name, "cprof-", 6))
        return "cprof";
    return "native";
}

/* Kernel thread names are cut at 15 characters; HotSpot's compiler
 * threads ("C2 CompilerThread0") lose their number that way: show the
 * whole word rather than "C2 CompilerThre". */
const char *cp__names_thread_display(const char *comm)
{
    if (!strcmp(comm, "C2 CompilerThre"))
        return "C2 CompilerThread";
    if (!strcmp(comm, "C1 CompilerThre"))
        return "C1 CompilerThread";
    return comm;
}

const char *cp__names_fail(int n)
{
    switch (n) {
    case -1: return "[no_class_load]";
    case -2: return "[GC_active]";
    case -3: return "[unknown_not_Java]";
    case -4: return "[not_walkable_not_Java]";
    case -5: return "[unknown_Java]";
    case -6: return "[not_walkable_Java]";
    case -7: return "[unknown_state]";
    case -8: return "[thread_exit]";
    case -9: return "[deopt]";
    case -10: return "[safepoint]";
    case -11: return "[crash_recovered]";
    default: return "[agct_error]";
    }
}
