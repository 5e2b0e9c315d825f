/* sampler_agct.c - one sample: AsyncGetCallTrace, its retries, the native
 * walk. See sampler_int.h.
 *
 * Runs in the CPU and wall handlers only (everything here is CP_SIGSAFE).
 * The JNIEnv comes from the thread table, never from JNI GetEnv: GetEnv
 * reads HotSpot's Thread::current (`Thread::_thr_current`, a __thread of
 * libjvm.so, which the launcher dlopen()s: dynamic TLS, __tls_get_addr on
 * OpenJDK 17 and Temurin 25). On a thread that has not touched libjvm's TLS
 * yet - a thread being created, a native thread the JVM never saw -
 * __tls_get_addr allocates with malloc: not async-signal-safe (a thread
 * interrupted inside malloc deadlocks on itself), which is why
 * async-profiler avoids GetEnv in handlers (JDK-8132510). The entry's env
 * is filled on the thread itself at ThreadStart and at sampler start, and
 * for threads older than the agent from java.lang.Thread.eetop and
 * VMStructs; ThreadEnd clears it before the JavaThread goes away.
 * `cp__inflight` counts handlers between reserve and commit so stop() can
 * wait for them. */
#include "sampler_int.h"

#include "error.h"
#include "log.h"
#include "stats.h"

#include "unwind.h"
#include "vmstructs.h"

#include <errno.h>
#include <string.h>
#include <ucontext.h>

cp__asgct_fn cp__agct;
atomic_int cp__inflight;
atomic_bool cp__native_on = true;  /* walk native frames in the CPU handler */
atomic_bool cp__retry_on = true;   /* retry failed AGCT samples (CPROF_NO_AGCT_RETRY=1: off) */

/* Async-signal-safe; runs inside the crash guard (it reads stack words
 * that may be garbage). AGCT said unknown_Java (-5: the top frame is not
 * "safe for sender": a stub, an nmethod prologue/epilogue, an interpreter
 * entry) or not_walkable_Java (-6). Retry from an adjusted copy of the
 * context, as async-profiler does (JDK-8178287), trying in turn:
 *   A. the return address at sp (pc is at a call target's first
 *      instructions, before it pushed a frame): pc = [sp], sp + 8;
 *   B. a prologue that pushed rbp but has not set up its frame yet:
 *      pc = [sp+8], sp + 16, fp = [sp];
 *   C. the frame pointer's frame, after following the rbp chain through
 *      at most 8 native frames (a leaf call from Java into libjvm, e.g. a
 *      GC barrier, stays _thread_in_Java without a frame anchor):
 *      pc = [fp+8], sp = fp+16, fp = [fp];
 *   D. an interpreter method entry part way through building its frame
 *      (rbp set, the sender's sp saved just below it): pc = [fp+8],
 *      sp = [fp-8], fp = [fp];
 *   E. a stub or prologue that pushed a few words (registers, part of a
 *      frame) before its return address: the first of [sp+16] ..
 *      [sp+56] that is a return address into the code cache, with
 *      sp just above it and fp = the word below it (as async-profiler's
 *      sp probing; one AGCT try).
 * A candidate pc must lie in executable memory (cp_unwind_is_code); for
 * B-D it must also follow a call instruction. The interrupted method (or
 * stub) itself is lost; its callers are kept. Returns the new num_frames
 * (> 0) or `fail`. The real context is never modified, so a fault here
 * cannot change where the thread resumes. */
static CP_SIGSAFE jint agct_retry(JNIEnv *env, cp_ring_frame_t *frames, void *ucv, jint fail)
{
#if defined(__x86_64__)
    ucontext_t c;
    memcpy(&c, ucv, sizeof c);   /* memcpy: async-signal-safe */
    uint64_t sp = (uint64_t)c.uc_mcontext.gregs[REG_RSP], fp = (uint64_t)c.uc_mcontext.gregs[REG_RBP];
    bool sp_ok = sp && !(sp & 7);
    for (int attempt = 0; attempt < 5; attempt++) {
        uint64_t npc, nsp, nfp;
        if (attempt == 0) {          /* A */
            if (!sp_ok)
                continue;
            npc = *(const uint64_t *)(uintptr_t)sp;
            nsp = sp + 8;
            nfp = fp;
            if (!cp_unwind_is_code(npc))
                continue;
        } else if (attempt == 1) {   /* B */
            if (!sp_ok)
                continue;
            npc = ((const uint64_t *)(uintptr_t)sp)[1];
            nfp = ((const uint64_t *)(uintptr_t)sp)[0];
            nsp = sp + 16;
            if (!cp_unwind_is_jit_call_site(npc) && !cp_unwind_is_native_call_site(npc))
                continue;
        } else if (attempt == 2) {   /* C */
            uint64_t f = fp;
            int hops = 0;
            for (;;) {
                if (f <= sp || f - sp > (1u << 20) || (f & 7))
                    break;
                npc = ((const uint64_t *)(uintptr_t)f)[1];
                if (!cp_unwind_is_native_call_site(npc) || ++hops > 8)
                    break;
                uint64_t up = ((const uint64_t *)(uintptr_t)f)[0];
                if (up <= f)
                    break;
                f = up;
            }
            if (f <= sp || f - sp > (1u << 20) || (f & 7))
                continue;
            npc = ((const uint64_t *)(uintptr_t)f)[1];
            nfp = ((const uint64_t *)(uintptr_t)f)[0];
            nsp = f + 16;
            if (!cp_unwind_is_code(npc) || (hops > 0 && !cp_unwind_is_jit_call_site(npc)))
                continue;
        } else if (attempt == 3) {   /* D */
            if (fp <= sp || fp - sp > (1u << 20) || (fp & 7))
                continue;
            npc = ((const uint64_t *)(uintptr_t)fp)[1];
            nfp = ((const uint64_t *)(uintptr_t)fp)[0];
            nsp = ((const uint64_t *)(uintptr_t)fp)[-1];
            if (nsp <= fp + 8 || nsp - fp > (1u << 20) || (nsp & 7) || !cp_unwind_is_jit_call_site(npc))
                continue;
        } else {                     /* E */
            if (!sp_ok)
                continue;
            const uint64_t *w = (const uint64_t *)(uintptr_t)sp;
            int k = 2;
            while (k < 8 && !cp_unwind_is_jit_call_site(w[k]))
                k++;
            if (k == 8)
                continue;
            npc = w[k];
            nfp = w[k - 1];
            nsp = sp + 8 * (uint64_t)(k + 1);
        }
        c.uc_mcontext.gregs[REG_RIP] = (greg_t)npc;
        c.uc_mcontext.gregs[REG_RSP] = (greg_t)nsp;
        c.uc_mcontext.gregs[REG_RBP] = (greg_t)nfp;
        cp__asgct_trace_t tr = {env, 0, frames};
        cp__agct(&tr, CP_RING_MAX_FRAMES, &c);
        if (tr.num_frames > 0) {
            cp_stats_add(attempt < 2 || attempt == 4 ? CP_ST_RECOVERED_SP : CP_ST_RECOVERED_FP, 1);
            return tr.num_frames;
        }
    }
#else
    (void)env; (void)frames; (void)ucv;
#endif
    return fail;
}

/* The frame-anchor fields of the current thread changed for one AGCT call
 * and their values before; `active` while they differ, so the crash-guard
 * path of cp__take_sample can put them back if AGCT faults. */
typedef struct anchor_patch {
    uintptr_t *sp_slot, *pc_slot, *fp_slot;
    uintptr_t sp, pc, fp;
    bool active;
} anchor_patch_t;

/* Async-signal-safe: puts the thread's own anchor back as the VM left it. */
static CP_SIGSAFE void anchor_restore(volatile anchor_patch_t *p)
{
    if (!p->active)
        return;
    /* this thread's anchor: only AGCT on this thread read the changed values */
    __atomic_store_n(p->pc_slot, p->pc, __ATOMIC_RELAXED);
    __atomic_store_n(p->sp_slot, p->sp, __ATOMIC_RELAXED);
    if (p->fp_slot)
        __atomic_store_n(p->fp_slot, p->fp, __ATOMIC_RELAXED);
    p->active = false;
}

/* Async-signal-safe; runs inside the crash guard. Retries AGCT answers
 * about a Java thread that called from Java code into the VM
 * (_thread_in_vm or _thread_in_vm_trans, or still _thread_in_Java in a
 * stub or a JRT_BLOCK_ENTRY prologue, with the anchor set; cp_vm_anchor_t
 * `own`) by adjusting its frame
 * anchor for one AGCT call, then restoring it (vmstructs.h says why no
 * other thread can see the change):
 *
 *   -3 unknown_not_Java (-5 unknown_Java in _thread_in_Java, after
 *      agct_retry): last_Java_sp is set but last_Java_pc is NULL (the
 *      interpreter's and C2 stubs' calls into the VM), so the anchor is
 *      "not walkable". Do what HotSpot's JavaFrameAnchor::make_walkable
 *      does: pc = the return address just below last_Java_sp.
 *   -4 not_walkable_not_Java (-6 not_walkable_Java; also when the first
 *      retry ends there): the anchor's top frame is a VM stub AGCT will
 *      not step over (C1's Runtime1 stubs, e.g. counter_overflow, are
 *      created "never safe" for a sender walk). Such a stub saved the
 *      caller's rbp and set last_Java_fp: pop its frame (pc = [fp+8],
 *      sp = fp+16, fp = [fp]) so the anchor names its caller, the Java
 *      method; that return address must follow a call instruction in the
 *      code cache.
 *   -4 after the first retry, with neither pc nor fp in the anchor: a C2
 *      runtime stub (_new_array_Java and the other slow paths of compiled
 *      code; measured: 88% of a loop allocating 256 KiB arrays failed so,
 *      zeroing the array in the VM). C2 stores only last_Java_sp, and the
 *      stub's own frame is one AGCT does not get past. The caller's return
 *      address lies a few words up the stub's frame: the first JIT call
 *      site within STUB_SCAN_WORDS of sp becomes pc, the word above it sp
 *      (the compiled caller as it will be when the stub returns).
 *
 * Never in other states: native and blocked threads were made walkable by
 * the VM on their transition and may be walked by other threads (GC,
 * handshakes). A thread in_vm(_trans) or in_Java is not safepoint-safe,
 * so no other thread walks it; JFR's sampler may read an in_Java thread's anchor
 * while it is suspended, and then sees either the VM's values or ours,
 * both describing real frames. The stub itself is no Java frame, and the
 * VM frames under it are in the sample's native frames. Returns the new
 * num_frames (> 0) or `fail`. */
#define STUB_SCAN_WORDS 16   /* C2 runtime stubs' frames are a few words */

static CP_SIGSAFE jint agct_anchor_retry(JNIEnv *env, cp_ring_frame_t *frames, void *uc, jint fail,
                                         volatile anchor_patch_t *patch)
{
#if !defined(__x86_64__)
    /* make_walkable and the stub frames below are x86-64's layout */
    (void)env; (void)frames; (void)uc; (void)patch;
    return fail;
#endif
    cp_vm_anchor_t a;
    if (!cp_vmstructs_anchor(env, &a) || !a.own || !a.sp || (a.sp & 7))
        return fail;
    patch->sp_slot = a.sp_slot;
    patch->pc_slot = a.pc_slot;
    patch->fp_slot = a.fp_slot;
    patch->sp = a.sp;
    patch->pc = a.pc;
    patch->fp = a.fp;
    jint nf = fail;
    uintptr_t pc = a.pc;
    cp__asgct_trace_t tr = {env, 0, frames};
    if ((nf == -3 || nf == -5) && !pc) {
        pc = ((const uintptr_t *)a.sp)[-1];
        if (!cp_unwind_is_code(pc))
            return fail;
        patch->active = true;
        __atomic_store_n(a.pc_slot, pc, __ATOMIC_RELAXED);   /* read by AGCT on this thread only */
        cp__agct(&tr, CP_RING_MAX_FRAMES, uc);
        nf = tr.num_frames;
        if (nf > 0)
            cp_stats_add(CP_ST_RECOVERED_ANCHOR, 1);
    }
    if (nf == -4 && !a.pc && !a.fp && pc && a.fp_slot) {
        /* A C2 runtime stub (the slow path of an allocation, ...): C2's
         * stubs store last_Java_sp but neither pc nor fp, so the frame made
         * from [sp-8] is the stub's own, which AGCT cannot get past. The
         * compiled caller's return address is a few words up the stub's
         * frame: the first JIT call site there, with the sp just above it,
         * is the caller's frame as it will be when the stub returns. */
        const uintptr_t *w = (const uintptr_t *)a.sp;
        for (int i = 0; i < STUB_SCAN_WORDS; i++) {
            if (!cp_unwind_is_jit_call_site(w[i]))
                continue;
            patch->active = true;
            __atomic_store_n(a.pc_slot, w[i], __ATOMIC_RELAXED);   /* as above */
            __atomic_store_n(a.sp_slot, (uintptr_t)&w[i + 1], __ATOMIC_RELAXED);
            tr.num_frames = 0;
            cp__agct(&tr, CP_RING_MAX_FRAMES, uc);
            nf = tr.num_frames;
            if (nf > 0)
                cp_stats_add(CP_ST_RECOVERED_C2_STUB, 1);
            break;
        }
    }
    if ((nf == -4 || nf == -6) && pc && a.fp_slot && a.fp >= a.sp && a.fp - a.sp < (64u << 10) && !(a.fp & 7)) {
        const uintptr_t *f = (const uintptr_t *)a.fp;
        uintptr_t cpc = f[1], cfp = f[0];
        if (cp_unwind_is_jit_call_site(cpc)) {
            patch->active = true;
            __atomic_store_n(a.pc_slot, cpc, __ATOMIC_RELAXED);   /* as above */
            __atomic_store_n(a.fp_slot, cfp, __ATOMIC_RELAXED);
            __atomic_store_n(a.sp_slot, a.fp + 16, __ATOMIC_RELAXED);
            tr.num_frames = 0;
            cp__agct(&tr, CP_RING_MAX_FRAMES, uc);
            nf = tr.num_frames;
            if (nf > 0)
                cp_stats_add(CP_ST_RECOVERED_STUB, 1);
        }
    }
    anchor_restore(patch);
    return nf > 0 ? nf : fail;
}

/* Async-signal-safe. AGCT checks "GC active" before anything else, so a
 * JavaThread that has no Java frame at all - a JIT compiler thread, which
 * compiles in _thread_in_native, or an agent thread - gets GC_active (-2)
 * for every sample during a GC pause. Its anchor says there is no Java
 * frame (last_Java_sp NULL, and not _thread_in_Java): report it as such
 * (0, a thread without Java frames), as it is outside GC pauses.
 * async-profiler does the same. Java threads with Java frames keep -2. */
static CP_SIGSAFE jint gc_active_no_java(JNIEnv *env, jint fail)
{
    cp_vm_anchor_t a;
    if (cp_vmstructs_anchor(env, &a) && !a.sp && a.state != cp_vmstructs_in_java())
        return 0;
    return fail;
}

/* Async-signal-safe. Samples the current thread: AGCT for Java threads,
 * then (if on) the native frames from the signal context. Both run under
 * the crash guard: a fault inside AGCT becomes fail.crash_recovered, a
 * fault in the native walk (a bad frame pointer) just ends the walk. The
 * native walk needs the guard; without it, it is skipped. self is the
 * thread's table entry (cp__reg_find(tid), looked up once by the handler), or
 * NULL for a thread the agent does not know. */
CP_SIGSAFE void cp__take_sample(cp_sample_kind_t kind, uint64_t weight, void *uc, int tid,
                                   cp__reg_entry_t *self)
{
    atomic_fetch_add_explicit(&cp__inflight, 1, memory_order_acq_rel); /* stop() waits on it */
    uint64_t ticket;
    cp_sample_t *s = cp_ring_reserve(cp__ring, &ticket);
    if (!s)
        goto out;
    s->kind = (uint8_t)kind;
    s->leaf_kind = 0;
    s->leaf[0] = '\0';
    s->truncated = 0;
    s->tid = tid;
    s->value = weight;
    s->count = 1;
    s->n_native = 0;
    cp_context_get(&s->ctx);
    /* the JNIEnv from the thread table, never GetEnv (see the file header) */
    JNIEnv *env = self ? atomic_load_explicit(&self->env, memory_order_acquire) : NULL; /* pairs with cp__reg_set_env */
    bool java = env != NULL;
    /* Crash protection: AGCT has known crash sites on some JDK builds, and
     * a frame-pointer walk may read a bad address. If either faults, our
     * SIGSEGV/SIGBUS handler jumps back here. sigsetjmp saves the mask so
     * the jump unblocks SIGSEGV again. */
    cp__reg_entry_t *volatile me = atomic_load_explicit(&cp__guard_on, memory_order_relaxed) /* config flag */
                      ? self : NULL;
    volatile int phase = 0;            /* 0: AGCT, 1: native walk */
    volatile jint nf = CP_SAMPLE_NOT_JAVA_THREAD;
    volatile int nn = 0;
    volatile anchor_patch_t patch = {0};   /* anchor fields changed by agct_anchor_retry */
    sigjmp_buf jb;
    if (me && sigsetjmp(jb, 1) != 0) {
        atomic_store_explicit(&me->jmp, NULL, memory_order_relaxed); /* own thread only */
        anchor_restore(&patch);   /* AGCT faulted on an adjusted anchor: put it back */
        if (phase == 0) {
            cp_stats_add(CP_ST_FAIL_CRASH, 1);
            nf = -11;
        } else {
            cp_stats_add(CP_ST_NATIVE_FAULT, 1);   /* keep the frames walked so far */
        }
    } else {
        if (me)
            atomic_store_explicit(&me->jmp, &jb, memory_order_relaxed); /* read by this thread's SEGV handler */
        if (java) {
            cp__asgct_trace_t tr = {env, 0, s->frames};
            if (me)
                cp__guard_test_hook();
            cp__agct(&tr, CP_RING_MAX_FRAMES, uc);
            nf = tr.num_frames;
            if ((nf == -5 || nf == -6) && uc && me && atomic_load_explicit(&cp__retry_on, memory_order_relaxed)) /* config */
                nf = agct_retry(env, s->frames, uc, nf);
            if (nf >= -6 && nf <= -3 && me && atomic_load_explicit(&cp__retry_on, memory_order_relaxed)) /* config */
                nf = agct_anchor_retry(env, s->frames, uc, nf, &patch);
            else if (nf == -2)
                nf = gc_active_no_java(env, nf);
        }
        phase = 1;
        /* CPU samples only: a wall sample of a blocked thread would end in
         * the same futex frames everywhere and change its Java leaf */
        if (me && kind == CP_SAMPLE_CPU && atomic_load_explicit(&cp__native_on, memory_order_relaxed)) /* config flag */
            cp_unwind_walk(uc, s->native, CP_RING_MAX_NATIVE, &nn);
        if (me)
            atomic_store_explicit(&me->jmp, NULL, memory_order_relaxed); /* as above */
    }
    s->num_frames = nf;
    s->truncated = nf == CP_RING_MAX_FRAMES;
    s->n_native = (uint8_t)nn;
    if (s->num_frames <= 0) {
        cp__thread_name(self, s->thread);
        if (kind == CP_SAMPLE_WALL && (nf == CP_SAMPLE_NOT_JAVA_THREAD || nf == 0)) {
            /* A thread with no Java frames (or not Java at all) has no
             * wall story to tell: stop signalling it unless it is a known
             * Java thread. An AGCT failure (GC_active during a pause,
             * ...) proves nothing about the thread: it keeps its weight
             * and is counted as fail.<kind> by the harvester. */
            if (self && !(atomic_load_explicit(&self->flags, memory_order_relaxed) & CP__F_JAVA)) /* hint only */
                atomic_fetch_or_explicit(&self->flags, CP__F_NOTJAVA, memory_order_relaxed); /* hint only */
            s->value = 0;   /* harvester skips zero-weight samples */
        }
    } else if (s->ctx.trace_hi | s->ctx.trace_lo) {
        cp__thread_name(self, s->thread);   /* trace samples are rooted by thread */
    } else {
        s->thread[0] = '\0';
    }
    cp_ring_commit(cp__ring, ticket);
out:
    atomic_fetch_sub_explicit(&cp__inflight, 1, memory_order_acq_rel); /* see above */
}

CP_SIGSAFE uint64_t cp__ts_ns(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/* The handlers' own CPU (cpu.handler_ns, the exit line's "signal handlers"
 * figure) is measured on one sample in CP__HANDLER_PROBE and scaled up: reading
 * CLOCK_THREAD_CPUTIME_ID is a system call (no vDSO fast path for thread
 * clocks), as dear as AGCT itself on shallow stacks at 1 kHz. Which sample
 * is probed does not depend on its cost, so the estimate is unbiased. */
static atomic_uint probe_n;

CP_SIGSAFE bool cp__probe_cost(void)
{
    return atomic_fetch_add_explicit(&probe_n, 1, memory_order_relaxed) % CP__HANDLER_PROBE == 0; /* counter */
}
