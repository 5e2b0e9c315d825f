/* sampler_guard.c - the crash guard around a sample. See docs/agent.md.
 *
 * Around AGCT and the native walk the handler arms a sigsetjmp buffer in its
 * thread-table entry; this SIGSEGV/SIGBUS handler (installed once in the
 * live phase, over HotSpot's, with its flags and mask) jumps back for the
 * sample's own faults, offers faults in HotSpot's code to HotSpot first
 * (SafeFetch), and hands every other fault to HotSpot's handler. */
#include "sampler_int.h"

#include "error.h"
#include "jvm_args.h"
#include "log.h"
#include "stats.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

atomic_bool cp__guard_on;
static bool guard_skipped;     /* -Xcheck:jni: never install (lifecycle thread only) */
/* Test hook (CPROF_TEST_AGCT_FAULT=N): every Nth protected sample faults on
 * purpose inside the guarded region, to prove the recovery path in a real
 * JVM (tests/integration/test_agent_crash_guard.py). 0 = off. */
static unsigned test_fault_every;
static atomic_uint test_fault_n;

static __attribute__((noinline)) CP_SIGSAFE void test_fault(void)
{
    volatile int *volatile p = NULL;
    *p = 1;   /* SIGSEGV */
}
/* Test hook (CPROF_TEST_SAFEFETCH=<offset of SafeFetch32_impl in
 * libjvm.so>, with CPROF_TEST_AGCT_FAULT): the hook calls HotSpot's own
 * SafeFetch on an unmapped address instead of faulting in the agent, as
 * AGCT's frame checks may; HotSpot's handler must resolve it (returning the
 * error value), not the guard. */
typedef int (*safefetch32_fn)(int *adr, int err);
static safefetch32_fn test_safefetch;
static struct sigaction old_segv, old_bus;
/* HotSpot's exported signal entry point (libjsig's way in): with
 * abort_if_unrecognized = 0 it handles what HotSpot knows (SafeFetch,
 * implicit null checks, stack banging, safepoint polls) and returns 0
 * for anything else instead of reporting a crash. */
typedef int (*jvm_signal_fn)(int sig, siginfo_t *si, void *uc, int abort_if_unrecognized);
static jvm_signal_fn jvm_signal;
static uintptr_t self_lo, self_hi;   /* the agent's own executable segment */

/* Async-signal-safe: true if the fault is the sample's own: its pc is in
 * the agent's code (the native walk, the AGCT retries' reads, the test
 * fault), or it hit the stack just below sp (the handler and AGCT ran into
 * the thread's guard pages: HotSpot would answer that with a
 * StackOverflowError thrown from inside the signal handler; jumping back
 * unwinds the handler's frames instead). */
static CP_SIGSAFE bool fault_is_ours(const siginfo_t *si, const void *uc)
{
#if defined(__x86_64__)
    if (!uc)
        return true;
    const greg_t *g = ((const ucontext_t *)uc)->uc_mcontext.gregs;
    uintptr_t pc = (uintptr_t)g[REG_RIP], sp = (uintptr_t)g[REG_RSP];
    uintptr_t addr = si ? (uintptr_t)si->si_addr : 0;
    if (pc >= self_lo && pc < self_hi)
        return true;
    return addr + (64u << 10) >= sp && addr < sp + (64u << 10);
#else
    (void)si; (void)uc;
    return true;
#endif
}

/* SIGSEGV/SIGBUS: if this thread faulted inside a sample (its registry
 * entry has a jump buffer armed), either the fault is HotSpot's to handle -
 * AGCT's own SafeFetch reads of stack words (the fault pc is SafeFetch's,
 * HotSpot moves it to the continuation and the read returns the error
 * value) - or it is a real fault: one in the agent's own walk, or a crash
 * site inside AGCT that HotSpot would report as a JVM crash; those jump
 * back to cp__take_sample. A fault outside the agent's code is offered to
 * HotSpot first (JVM_handle_linux_signal without abort); only if HotSpot
 * does not know it is it recovered. Any other fault goes to the handler
 * that was there before (HotSpot's: implicit null checks, safepoint polls,
 * stack banging all come through here, so this path is kept short: one
 * atomic load while no sample is in flight). */
static CP_SIGSAFE void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (atomic_load_explicit(&cp__inflight, memory_order_acquire) > 0) { /* pairs with cp__take_sample */
        int saved = errno;
        cp__reg_entry_t *e = cp__reg_find(cp__tid());
        sigjmp_buf *jb = e ? atomic_load_explicit(&e->jmp, memory_order_relaxed) : NULL; /* own thread */
        if (jb && !fault_is_ours(si, uc) && jvm_signal && jvm_signal(sig, si, uc, 0)) {
            cp_stats_add(CP_ST_GUARD_JVM_HANDLED, 1);
            errno = saved;
            return;
        }
        errno = saved;
        if (jb)
            siglongjmp(*jb, 1);
    }
    struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        /* no previous handler: restore default and re-raise (a real crash) */
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        old->sa_handler(sig);
    }
}

/* dl_iterate_phdr callback: the executable PT_LOAD of the object at base. */
static int find_self(struct dl_phdr_info *info, size_t size, void *base)
{
    (void)size;
    if ((void *)info->dlpi_addr != base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            self_lo = info->dlpi_addr + ph->p_vaddr;
            self_hi = self_lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

/* Off the handler, once: where the agent's code is, HotSpot's entry point,
 * and the SafeFetch test hook. */
static void guard_locate(void)
{
    Dl_info di;
    if (dladdr((void *)on_fault, &di) && di.dli_fbase)
        dl_iterate_phdr(find_self, di.dli_fbase);
    jvm_signal = (jvm_signal_fn)dlsym(RTLD_DEFAULT, "JVM_handle_linux_signal");
    const char *sf = getenv("CPROF_TEST_SAFEFETCH");
    if (sf && dladdr((void *)cp__agct, &di) && di.dli_fbase)
        test_safefetch = (safefetch32_fn)(void *)((uintptr_t)di.dli_fbase + strtoull(sf, NULL, 0));
    if (!jvm_signal)
        CP_LOGW("JVM_handle_linux_signal not found: faults inside AGCT are all recovered by the crash guard");
}

static bool located;

/* -Xcheck:jni makes HotSpot warn (with a full handler dump) when its
 * SIGSEGV/SIGBUS handlers are replaced; users of that flag get no guard. */
void cp__guard_prepare(void)
{
    if (located)
        return;
    located = true;
    if (cp_jvm_args_mention("-Xcheck:jni")) {
        CP_LOGI("-Xcheck:jni: AGCT crash guard off (HotSpot would report its handlers as modified)");
        guard_skipped = true;
        return;
    }
    guard_locate();
}

/* Installs the fault handlers once, in the live phase (after the JVM put
 * its own in place, so we chain to them). */
void cp__guard_install(void)
{
    if (atomic_load_explicit(&cp__guard_on, memory_order_relaxed)) /* config flag */
        return;
    cp__guard_prepare();   /* normally done at init already */
    if (guard_skipped)
        return;
    if (sigaction(SIGSEGV, NULL, &old_segv) || sigaction(SIGBUS, NULL, &old_bus))
        return;
    /* same flags and mask as the JVM's handler: it must run as it did */
    struct sigaction sa = old_segv, sb = old_bus;
    sa.sa_sigaction = on_fault;
    sa.sa_flags = (old_segv.sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
    sb.sa_sigaction = on_fault;
    sb.sa_flags = (old_bus.sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
    if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sb, NULL)) {
        sigaction(SIGSEGV, &old_segv, NULL);
        return;
    }
    atomic_store_explicit(&cp__guard_on, true, memory_order_relaxed); /* config flag */
}

void cp__guard_configure(void)
{
    const char *tf = getenv("CPROF_TEST_AGCT_FAULT");
    test_fault_every = tf ? (unsigned)atoi(tf) : 0;
}

CP_SIGSAFE void cp__guard_test_hook(void)
{
    if (!test_fault_every ||
        atomic_fetch_add_explicit(&test_fault_n, 1, memory_order_relaxed) % test_fault_every != 0) /* counter */
        return;
    if (!test_safefetch)
        test_fault();
    else if (test_safefetch((int *)16, 0x5AFE) != 0x5AFE)   /* page 0: unmapped */
        cp_stats_add(CP_ST_FAIL_OTHER, 1);   /* SafeFetch read something: the test sees it */
}
