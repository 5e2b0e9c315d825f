/* sampler.c - SIGPROF / SIGVTALRM sampling with AsyncGetCallTrace. See sampler.h.
 *
 * Thread table: a fixed open-addressing table keyed by tid (REG_SLOTS
 * entries, reserved at load). Writers (scan, ThreadStart/End, start/stop)
 * hold reg_mu; the signal handlers only read it (atomic tid/flags loads),
 * to mark a thread that turned out not to be a Java thread. Deleted
 * entries become tombstones (-1) and are reused by later inserts.
 *
 * Invariant: an entry has a live timer iff has_timer; timers are created
 * and deleted only under reg_mu. Handlers never call timer functions.
 *
 * AGCT safety: the handler checks `cpu_on`/`wall_on` first; `inflight`
 * counts handlers between reserve and commit so stop() can wait for them.
 *
 * JNIEnv: the handler takes the interrupted thread's JNIEnv from its table
 * entry, never from JNI GetEnv. GetEnv reads HotSpot's Thread::current
 * (`Thread::_thr_current`, a __thread variable of libjvm.so, which the
 * launcher dlopen()s: the dynamic TLS model, R_X86_64_DTPMOD64 relocations
 * and __tls_get_addr on OpenJDK 17 and Temurin 25). On a thread that has
 * not touched libjvm's TLS yet - a thread being created, a native thread
 * the JVM never saw - __tls_get_addr allocates the block with malloc: not
 * async-signal-safe (a thread interrupted inside malloc deadlocks on
 * itself), which is why async-profiler avoids GetEnv in handlers
 * (JDK-8132510). The entry's env is filled on the thread itself at
 * ThreadStart and at sampler start, and for threads older than the agent
 * (attach, JVM boot) from java.lang.Thread.eetop and VMStructs
 * (cp_vmstructs_thread_of); ThreadEnd clears it before the JavaThread
 * goes away. A thread without an env is sampled as a non-Java thread. */
#include "sampler.h"

#include "error.h"
#include "log.h"
#include "perf.h"
#include "stats.h"
#include "unwind.h"
#include "vmstructs.h"

#include <dirent.h>
#include <link.h>
#include <setjmp.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

typedef struct {
    JNIEnv *env_id;
    jint num_frames;
    cp_ring_frame_t *frames;
} asgct_trace_t;
typedef void (*asgct_fn)(asgct_trace_t *, jint, void *);

#define REG_SLOTS 8192          /* power of two; threads beyond ~6000 go unsampled */
#define F_JAVA    0x01          /* seen by ThreadStart: a Java thread */
#define F_NOTJAVA 0x02          /* AGCT said: no Java frames / not a JavaThread */
#define F_IGNORE  0x04          /* one of the agent's own threads */

typedef struct reg_entry {
    _Atomic int tid;            /* 0 empty, -1 tombstone */
    _Atomic uint8_t flags;
    bool has_timer;
    int perf_fd;                /* cpu-clock perf event, or -1 (reg_mu) */
    uint32_t gen;               /* last scan generation that saw it (reg_mu) */
    timer_t timer;
    _Atomic(sigjmp_buf *) jmp;  /* set while this thread is inside AGCT */
    _Atomic uint64_t last_cpu;  /* thread CPU ns at its last CPU sample; 0 = none (own thread; reset on arm) */
    _Atomic(JNIEnv *) env;      /* this thread's JNIEnv; NULL = not a known Java thread */
} reg_entry_t;

static JavaVM *g_vm;
static cp_ring_t *g_ring;
static asgct_fn g_agct;
static bool g_inited;

static reg_entry_t g_reg[REG_SLOTS];
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_gen;
static int g_nthreads;

static atomic_bool cpu_on, wall_on;
static _Atomic int64_t cpu_interval_ns, wall_interval_ns;
static atomic_int inflight;
static atomic_bool cpu_delta_on; /* per-thread clocks: weigh CPU samples by the thread's CPU delta */
static bool use_itimer;          /* per-thread timers failed: ITIMER_PROF (reg_mu) */
static int64_t armed_cpu_ns;     /* what the timers are armed with (reg_mu) */
static int g_engine_req = CP_SAMPLER_ENGINE_AUTO;  /* asked (reg_mu) */
static bool use_perf;            /* perf cpu-clock events in use (reg_mu) */
static int g_perf_fds;            /* perf events open (reg_mu) */
static bool engine_decided;      /* perf probed for the current request (reg_mu) */
static atomic_bool native_on = true;  /* walk native frames in the CPU handler */
static atomic_bool retry_on = true;   /* retry failed AGCT samples (CPROF_NO_AGCT_RETRY=1: off) */
static int g_cpu_sig = SIGPROF;  /* SIGPROF, or a free real-time signal when SIGPROF is taken */
static int g_wall_sig = SIGVTALRM; /* SIGVTALRM, or a free real-time signal */

static pthread_t wall_thr;
static bool wall_running;
static pthread_mutex_t wall_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wall_cv;      /* CLOCK_MONOTONIC; initialised in cp_sampler_init */
static bool wall_stop;

static CP_SIGSAFE int my_tid(void) { return (int)syscall(SYS_gettid); }

static CP_SIGSAFE uint32_t tid_hash(int tid) { return ((uint32_t)tid * 2654435761u) & (REG_SLOTS - 1); }

/* Async-signal-safe: read-only probe with atomic loads. */
static CP_SIGSAFE reg_entry_t *reg_find(int tid)
{
    uint32_t h = tid_hash(tid);
    for (uint32_t i = 0; i < REG_SLOTS; i++) {
        reg_entry_t *e = &g_reg[(h + i) & (REG_SLOTS - 1)];
        int t = atomic_load_explicit(&e->tid, memory_order_acquire); /* pairs with insert's release */
        if (t == tid)
            return e;
        if (t == 0)
            return NULL;
    }
    return NULL;
}

/* reg_mu held. Finds or inserts; NULL when full. *created set if new. */
static reg_entry_t *reg_get(int tid, bool *created)
{
    *created = false;
    reg_entry_t *e = reg_find(tid);
    if (e)
        return e;
    uint32_t h = tid_hash(tid);
    for (uint32_t i = 0; i < REG_SLOTS; i++) {
        e = &g_reg[(h + i) & (REG_SLOTS - 1)];
        int t = atomic_load_explicit(&e->tid, memory_order_relaxed); /* writers serialised by reg_mu */
        if (t == 0 || t == -1) {
            e->has_timer = false;
            e->perf_fd = -1;
            e->gen = g_gen;
            atomic_store_explicit(&e->last_cpu, 0, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&e->flags, 0, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&e->env, NULL, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&e->tid, tid, memory_order_release); /* publish the entry to handlers */
            *created = true;
            g_nthreads++;
            return e;
        }
    }
    cp_stats_add(CP_ST_DROP_THREADS, 1);
    return NULL;
}

/* reg_mu held. */
static void timer_disarm(reg_entry_t *e)
{
    if (e->perf_fd >= 0) {
        cp_perf_close(e->perf_fd);
        e->perf_fd = -1;
        g_perf_fds--;
    }
    if (e->has_timer) {
        timer_delete(e->timer);
        e->has_timer = false;
    }
}

/* reg_mu held. The application's file descriptors come first: one perf fd
 * per thread counts against the process' RLIMIT_NOFILE, so a JVM with a
 * low `ulimit -n` and many threads would find open() failing (EMFILE)
 * because of the profiler. A new perf fd is kept only if it leaves a
 * reserve of a quarter of the soft limit (at least 16): the kernel hands
 * out the lowest free number, so an fd numbered `fd` means 0..fd-1 are all
 * taken; and the agent never holds more than half the limit in perf fds
 * (holes below high-numbered application fds). A thread refused here gets
 * a POSIX timer (no fd), counted in cpu.perf_fd_reserve. */
static bool perf_fd_fits(int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
        return true;
    long lim = (long)rl.rlim_cur;
    long reserve = lim / 4 > 16 ? lim / 4 : 16;
    return fd < lim - reserve && g_perf_fds < lim / 2;
}

/* reg_mu held. Per-thread CPU timers failed for a reason that is not the
 * thread's (timer_create: EAGAIN from RLIMIT_SIGPENDING, which counts every
 * POSIX timer of the user; ENOTSUP; ...). ITIMER_PROF is process-wide: it
 * samples whichever thread burns CPU, so it must not run beside per-thread
 * timers or perf events - a thread with both would be counted twice. Every
 * per-thread timer and perf event is closed and ITIMER_PROF armed at once
 * (not at the next re-arm: until then the threads without a timer would
 * go unsampled). */
static void switch_to_itimer(int64_t ns, int err)
{
    CP_LOGW("per-thread CPU timers unavailable (%s); every thread moves to ITIMER_PROF", strerror(err));
    use_itimer = true;
    cp_stats_add(CP_ST_ITIMER_SWITCH, 1);
    for (int i = 0; i < REG_SLOTS; i++)
        timer_disarm(&g_reg[i]);
    atomic_store_explicit(&cpu_delta_on, false, memory_order_relaxed); /* config flag */
    if (g_cpu_sig != SIGPROF) {
        CP_LOGE("no per-thread CPU timers and SIGPROF is taken: CPU sampling off");
        return;
    }
    struct itimerval it = {{0, 0}, {0, 0}};
    it.it_interval.tv_sec = ns / 1000000000LL;
    it.it_interval.tv_usec = (ns % 1000000000LL) / 1000;
    it.it_value = it.it_interval;
    setitimer(ITIMER_PROF, &it, NULL);
}

/* reg_mu held. Creates and arms the CPU timer of thread e->tid. */
static void timer_arm(reg_entry_t *e, int64_t ns)
{
    if (use_itimer || ns <= 0)
        return;
    timer_disarm(e);
    atomic_store_explicit(&e->last_cpu, 0, memory_order_relaxed); /* next sample starts a new delta chain */
    int tid = atomic_load_explicit(&e->tid, memory_order_relaxed); /* reg_mu held */
    if (use_perf) {
        int fd = cp_perf_open(tid, ns, g_cpu_sig);
        if (fd >= 0 && perf_fd_fits(fd)) {
            e->perf_fd = fd;
            g_perf_fds++;
            return;
        }
        if (fd >= 0) {
            cp_perf_close(fd);
            cp_stats_add(CP_ST_PERF_FD_RESERVE, 1);
        } else if (fd == -ESRCH) {   /* thread already gone */
            return;
        }
        cp_stats_add(CP_ST_PERF_FALLBACK, 1);   /* e.g. EMFILE: this thread gets a POSIX timer */
    }
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_cpu_sig;
    sev._sigev_un._tid = tid;
    /* The kernel's per-thread CPU clock id: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED). */
    clockid_t clk = ((~(clockid_t)tid) << 3) | 6;
    if (timer_create(clk, &sev, &e->timer) != 0) {
        if (errno == EINVAL || errno == ESRCH)   /* thread already gone */
            return;
        switch_to_itimer(ns, errno);
        return;
    }
    struct itimerspec its;
    its.it_interval.tv_sec = ns / 1000000000LL;
    its.it_interval.tv_nsec = ns % 1000000000LL;
    /* Random first expiry: threads started together do not tick together. */
    int64_t first = ns / 2 + (int64_t)((uint32_t)tid * 2654435761u % (uint64_t)(ns / 2 + 1));
    its.it_value.tv_sec = first / 1000000000LL;
    its.it_value.tv_nsec = first % 1000000000LL;
    if (timer_settime(e->timer, 0, &its, NULL) != 0) {
        timer_delete(e->timer);
        return;
    }
    e->has_timer = true;
}

/* reg_mu held. */
static void reg_remove(reg_entry_t *e)
{
    timer_disarm(e);
    atomic_store_explicit(&e->env, NULL, memory_order_release); /* before the tid: no stale env */
    atomic_store_explicit(&e->tid, -1, memory_order_release); /* handlers stop matching it */
    g_nthreads--;
}

/* ---- signal handlers ---------------------------------------------------- */

static atomic_bool crash_guard_on;
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
 * back to take_sample. A fault outside the agent's code is offered to
 * HotSpot first (JVM_handle_linux_signal without abort); only if HotSpot
 * does not know it is it recovered. Any other fault goes to the handler
 * that was there before (HotSpot's: implicit null checks, safepoint polls,
 * stack banging all come through here, so this path is kept short: one
 * atomic load while no sample is in flight). */
static CP_SIGSAFE void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (atomic_load_explicit(&inflight, memory_order_acquire) > 0) { /* pairs with take_sample */
        int saved = errno;
        reg_entry_t *e = reg_find(my_tid());
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
    if (sf && dladdr((void *)g_agct, &di) && di.dli_fbase)
        test_safefetch = (safefetch32_fn)(void *)((uintptr_t)di.dli_fbase + strtoull(sf, NULL, 0));
    if (!jvm_signal)
        CP_LOGW("JVM_handle_linux_signal not found: faults inside AGCT are all recovered by the crash guard");
}

/* Installs the fault handlers once, in the live phase (after the JVM put
 * its own in place, so we chain to them). */
/* -Xcheck:jni makes HotSpot warn (with a full handler dump) when its
 * SIGSEGV/SIGBUS handlers are replaced; users of that flag get no guard. */
static bool xcheck_jni(void)
{
    const char *jto = getenv("JAVA_TOOL_OPTIONS");
    if (jto && strstr(jto, "-Xcheck:jni"))
        return true;
    FILE *f = fopen("/proc/self/cmdline", "re");
    if (!f)
        return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        buf[n] = '\0';
        if (!strcmp(buf + i, "-Xcheck:jni"))
            return true;
    }
    return false;
}

static void crash_guard_install(void)
{
    if (atomic_load_explicit(&crash_guard_on, memory_order_relaxed)) /* config flag */
        return;
    static bool checked;
    if (!checked) {
        checked = true;
        if (xcheck_jni()) {
            CP_LOGI("-Xcheck:jni: AGCT crash guard off (HotSpot would report its handlers as modified)");
            guard_skipped = true;
        }
    }
    if (guard_skipped)
        return;
    guard_locate();
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
    atomic_store_explicit(&crash_guard_on, true, memory_order_relaxed); /* config flag */
}

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
        asgct_trace_t tr = {env, 0, frames};
        g_agct(&tr, CP_RING_MAX_FRAMES, &c);
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
 * path of take_sample can put them back if AGCT faults. */
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
 *
 * Never in other states: native and blocked threads were made walkable by
 * the VM on their transition and may be walked by other threads (GC,
 * handshakes). A thread in_vm(_trans) or in_Java is not safepoint-safe,
 * so no other thread walks it; JFR's sampler may read an in_Java thread's anchor
 * while it is suspended, and then sees either the VM's values or ours,
 * both describing real frames. The stub itself is no Java frame, and the
 * VM frames under it are in the sample's native frames. Returns the new
 * num_frames (> 0) or `fail`. */
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
    asgct_trace_t tr = {env, 0, frames};
    if ((nf == -3 || nf == -5) && !pc) {
        pc = ((const uintptr_t *)a.sp)[-1];
        if (!cp_unwind_is_code(pc))
            return fail;
        patch->active = true;
        __atomic_store_n(a.pc_slot, pc, __ATOMIC_RELAXED);   /* read by AGCT on this thread only */
        g_agct(&tr, CP_RING_MAX_FRAMES, uc);
        nf = tr.num_frames;
        if (nf > 0)
            cp_stats_add(CP_ST_RECOVERED_ANCHOR, 1);
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
            g_agct(&tr, CP_RING_MAX_FRAMES, uc);
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
 * thread's table entry (reg_find(tid), looked up once by the handler), or
 * NULL for a thread the agent does not know. */
static CP_SIGSAFE void take_sample(cp_sample_kind_t kind, uint64_t weight, void *uc, int tid,
                                   reg_entry_t *self)
{
    atomic_fetch_add_explicit(&inflight, 1, memory_order_acq_rel); /* stop() waits on it */
    uint64_t ticket;
    cp_sample_t *s = cp_ring_reserve(g_ring, &ticket);
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
    /* the JNIEnv from the thread table, never GetEnv (see the file header) */
    JNIEnv *env = self ? atomic_load_explicit(&self->env, memory_order_acquire) : NULL; /* pairs with set_env */
    bool java = env != NULL;
    /* Crash protection: AGCT has known crash sites on some JDK builds, and
     * a frame-pointer walk may read a bad address. If either faults, our
     * SIGSEGV/SIGBUS handler jumps back here. sigsetjmp saves the mask so
     * the jump unblocks SIGSEGV again. */
    reg_entry_t *volatile me = atomic_load_explicit(&crash_guard_on, memory_order_relaxed) /* config flag */
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
            asgct_trace_t tr = {env, 0, s->frames};
            if (me && test_fault_every &&
                atomic_fetch_add_explicit(&test_fault_n, 1, memory_order_relaxed) % test_fault_every == 0) { /* counter */
                if (!test_safefetch)
                    test_fault();
                else if (test_safefetch((int *)16, 0x5AFE) != 0x5AFE)   /* page 0: unmapped */
                    cp_stats_add(CP_ST_FAIL_OTHER, 1);   /* SafeFetch read something: the test sees it */
            }
            g_agct(&tr, CP_RING_MAX_FRAMES, uc);
            nf = tr.num_frames;
            if ((nf == -5 || nf == -6) && uc && me && atomic_load_explicit(&retry_on, memory_order_relaxed)) /* config */
                nf = agct_retry(env, s->frames, uc, nf);
            if (nf >= -6 && nf <= -3 && me && atomic_load_explicit(&retry_on, memory_order_relaxed)) /* config */
                nf = agct_anchor_retry(env, s->frames, uc, nf, &patch);
            else if (nf == -2)
                nf = gc_active_no_java(env, nf);
        }
        phase = 1;
        /* CPU samples only: a wall sample of a blocked thread would end in
         * the same futex frames everywhere and change its Java leaf */
        if (me && kind == CP_SAMPLE_CPU && atomic_load_explicit(&native_on, memory_order_relaxed)) /* config flag */
            cp_unwind_walk(uc, s->native, CP_RING_MAX_NATIVE, &nn);
        if (me)
            atomic_store_explicit(&me->jmp, NULL, memory_order_relaxed); /* as above */
    }
    s->num_frames = nf;
    s->truncated = nf == CP_RING_MAX_FRAMES;
    s->n_native = (uint8_t)nn;
    if (s->num_frames <= 0) {
        prctl(PR_GET_NAME, s->thread, 0, 0, 0);   /* a syscall: safe */
        s->thread[15] = '\0';
        if (kind == CP_SAMPLE_WALL && (nf == CP_SAMPLE_NOT_JAVA_THREAD || nf == 0)) {
            /* A thread with no Java frames (or not Java at all) has no
             * wall story to tell: stop signalling it unless it is a known
             * Java thread. An AGCT failure (GC_active during a pause,
             * ...) proves nothing about the thread: it keeps its weight
             * and is counted as fail.<kind> by the harvester. */
            if (self && !(atomic_load_explicit(&self->flags, memory_order_relaxed) & F_JAVA)) /* hint only */
                atomic_fetch_or_explicit(&self->flags, F_NOTJAVA, memory_order_relaxed); /* hint only */
            s->value = 0;   /* harvester skips zero-weight samples */
        }
    } else {
        s->thread[0] = '\0';
    }
    cp_ring_commit(g_ring, ticket);
out:
    atomic_fetch_sub_explicit(&inflight, 1, memory_order_acq_rel); /* see above */
}

static CP_SIGSAFE uint64_t ts_ns(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/* Weight of a CPU sample. With per-thread clocks (perf cpu-clock or POSIX
 * thread CPU timers) it is the CPU the thread used since its previous
 * sample, read from CLOCK_THREAD_CPUTIME_ID: the same clock ThreadMXBean and
 * top report. A fixed interval per sample would drift from it: perf's
 * cpu-clock runs while the task is on a CPU, including time the hypervisor
 * stole (5% on a loaded VM), and POSIX CPU timers fire late by up to a
 * scheduler tick. The first sample of a chain, a delta over 8 intervals
 * (the chain broke: timer re-armed, signals lost for long) and ITIMER_PROF
 * (process-wide: the delta would not be this signal's share) keep the
 * nominal weight. */
/* e: the thread's table entry, NULL for a thread the agent does not know. */
static CP_SIGSAFE uint64_t cpu_weight(reg_entry_t *e, uint64_t now, uint64_t nominal)
{
    if (!atomic_load_explicit(&cpu_delta_on, memory_order_relaxed)) /* config flag */
        return nominal;
    if (!e)
        return nominal;
    uint64_t prev = atomic_exchange_explicit(&e->last_cpu, now, memory_order_relaxed); /* own thread */
    if (prev == 0 || now <= prev || now - prev > 8 * nominal)
        return nominal;
    return now - prev;
}

/* The handlers' own CPU (cpu.handler_ns, the exit line's "signal handlers"
 * figure) is measured on one sample in HANDLER_PROBE and scaled up: reading
 * CLOCK_THREAD_CPUTIME_ID is a system call (no vDSO fast path for thread
 * clocks), as dear as AGCT itself on shallow stacks at 1 kHz. Which sample
 * is probed does not depend on its cost, so the estimate is unbiased. */
#define HANDLER_PROBE 8
static atomic_uint probe_n;

static CP_SIGSAFE bool probe_cost(void)
{
    return atomic_fetch_add_explicit(&probe_n, 1, memory_order_relaxed) % HANDLER_PROBE == 0; /* counter */
}

static CP_SIGSAFE void on_cpu_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (atomic_load_explicit(&cpu_on, memory_order_acquire)) { /* sees ring/agct set before start */
        uint64_t ns = (uint64_t)atomic_load_explicit(&cpu_interval_ns, memory_order_relaxed); /* paired with cpu_on */
        uint64_t ticks = 1;
        if (si && si->si_code == SI_TIMER && si->si_overrun > 0)   /* perf events: POLL_IN, no overrun */
            ticks += (uint64_t)si->si_overrun;
        cp_stats_add(CP_ST_CPU_TICKS, ticks);
        bool probe = probe_cost();
        struct timespec t0 = {0, 0}, t1;   /* clock_gettime is async-signal-safe */
        if (probe || atomic_load_explicit(&cpu_delta_on, memory_order_relaxed)) /* config flag */
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        int tid = my_tid();
        reg_entry_t *self = reg_find(tid);
        take_sample(CP_SAMPLE_CPU, cpu_weight(self, ts_ns(&t0), ns * ticks), uc, tid, self);
        if (probe) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
            cp_stats_add(CP_ST_HANDLER_NS, (ts_ns(&t1) - ts_ns(&t0)) * HANDLER_PROBE);
        }
    }
    errno = saved;
}

static CP_SIGSAFE void on_wall_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (atomic_load_explicit(&wall_on, memory_order_acquire)) { /* as above */
        bool probe = probe_cost();
        struct timespec t0, t1;
        if (probe)
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        int tid = my_tid();
        take_sample(CP_SAMPLE_WALL,
                    (uint64_t)atomic_load_explicit(&wall_interval_ns, memory_order_relaxed), /* paired with wall_on */
                    uc, tid, reg_find(tid));
        if (probe) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
            cp_stats_add(CP_ST_HANDLER_NS, (ts_ns(&t1) - ts_ns(&t0)) * HANDLER_PROBE);
        }
    }
    errno = saved;
}

/* ---- lifecycle ---------------------------------------------------------- */

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
    g_agct = (asgct_fn)dlsym(RTLD_DEFAULT, "AsyncGetCallTrace");
    if (!g_agct) {
        CP_LOGE("AsyncGetCallTrace not found in this JVM; CPU/wall sampling disabled");
        return CP_EUNSUPP;
    }
    /* Coexistence: a signal somebody else handles (another profiler, the
     * application) is left alone; we take the highest free real-time
     * signal instead (timer_create and perf events can deliver any signal;
     * only the ITIMER_PROF fallback needs SIGPROF itself). */
    if (!handler_is_free(SIGPROF, on_cpu_signal)) {
        g_cpu_sig = free_rt_signal(0);
        if (g_cpu_sig < 0) {
            CP_LOGE("SIGPROF already has a handler (another profiler?) and no real-time signal is free; "
                    "CPU/wall sampling disabled, the other handler is left alone");
            return CP_ESTATE;
        }
        CP_LOGW("SIGPROF already has a handler (another profiler?): left alone; CPU sampling uses signal %d",
                g_cpu_sig);
    }
    if (!handler_is_free(SIGVTALRM, on_wall_signal)) {
        g_wall_sig = free_rt_signal(g_cpu_sig);
        if (g_wall_sig < 0) {
            CP_LOGE("SIGVTALRM already has a handler and no real-time signal is free; "
                    "CPU/wall sampling disabled, the other handler is left alone");
            return CP_ESTATE;
        }
        CP_LOGW("SIGVTALRM already has a handler: left alone; wall sampling uses signal %d", g_wall_sig);
    }
    g_vm = vm;
    g_ring = ring;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* wall_main's deadlines are monotonic */
    pthread_cond_init(&wall_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (install(g_cpu_sig, g_wall_sig, on_cpu_signal) ||
        install(g_wall_sig, g_cpu_sig, on_wall_signal)) {
        CP_LOGE("sigaction failed: %s", strerror(errno));
        return CP_ESTATE;
    }
    g_inited = true;
    return 0;
}

/* reg_mu held: arm/disarm every thread for the current cpu interval. */
static void rearm_all(int64_t ns)
{
    for (int i = 0; i < REG_SLOTS; i++) {
        reg_entry_t *e = &g_reg[i];
        if (atomic_load_explicit(&e->tid, memory_order_relaxed) <= 0) /* reg_mu held */
            continue;
        if (ns > 0)
            timer_arm(e, ns);
        else
            timer_disarm(e);
    }
    if (use_itimer) {
        struct itimerval it = {{0, 0}, {0, 0}};
        if (ns > 0) {
            it.it_interval.tv_sec = ns / 1000000000LL;
            it.it_interval.tv_usec = (ns % 1000000000LL) / 1000;
            it.it_value = it.it_interval;
        }
        if (g_cpu_sig == SIGPROF)
            setitimer(ITIMER_PROF, &it, NULL);
        else if (ns > 0)   /* ITIMER_PROF signals SIGPROF, which is somebody else's */
            CP_LOGE("no per-thread CPU timers and SIGPROF is taken: CPU sampling off");
        if (ns <= 0) {   /* drop per-thread timers made before the fallback */
            for (int i = 0; i < REG_SLOTS; i++)
                timer_disarm(&g_reg[i]);
        }
    }
    armed_cpu_ns = ns;
    atomic_store_explicit(&cpu_delta_on, !use_itimer, memory_order_relaxed); /* config flag */
}

/* Sends the wall signal to tids[0..n) starting at *start (rotating, so
 * the threads left out when the harvester cannot keep up differ from round
 * to round), in chunks that fit in the ring: a chunk goes out only when
 * the ring has room for it plus a margin for CPU samples; otherwise the
 * harvester is nudged and the rest of the round is left out, counted in
 * drop.wall_behind (as are whole rounds the thread falls behind, in
 * wall_main): wall samples taken + drop.wall_behind = rounds x threads.
 * A burst of signals to hundreds of threads used to overflow the ring at
 * once: the samples were taken (AGCT run) and then thrown away. */
static void wall_signal_round(const int *tids, int n, int *start, pid_t pid)
{
    size_t cap = cp_ring_capacity(g_ring);
    int chunk = (int)(cap / 4) > 0 ? (int)(cap / 4) : 1;
    int sent = 0;
    while (sent < n) {
        int m = n - sent < chunk ? n - sent : chunk;
        if (!cp_ring_has_room(g_ring, (size_t)m + cap / 16)) {
            /* the harvester is behind: wake it, leave the rest of this
             * round out (counted) rather than wait or overflow the ring */
            cp_ring_nudge(g_ring);
            cp_stats_add(CP_ST_DROP_WALL_BEHIND, (uint64_t)(n - sent));
            break;
        }
        for (int i = 0; i < m; i++)
            syscall(SYS_tgkill, pid, tids[(*start + sent + i) % n], g_wall_sig);
        sent += m;
        if (sent < n)
            cp_ring_nudge(g_ring);
    }
    *start = n ? (*start + sent) % n : 0;
}

static void *wall_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "cprof-wall", 0, 0, 0);
    int *tids = malloc(sizeof(int) * REG_SLOTS);
    if (!tids)
        return NULL;
    pid_t pid = getpid();
    int start = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&wall_mu);
    while (!wall_stop) {
        int64_t ns = atomic_load_explicit(&wall_interval_ns, memory_order_relaxed); /* config value */
        next.tv_nsec += ns % 1000000000LL;
        next.tv_sec += ns / 1000000000LL + next.tv_nsec / 1000000000LL;
        next.tv_nsec %= 1000000000LL;
        while (!wall_stop && pthread_cond_timedwait(&wall_cv, &wall_mu, &next) != ETIMEDOUT)
            ;
        if (wall_stop)
            break;
        pthread_mutex_unlock(&wall_mu);
        int n = 0;
        pthread_mutex_lock(&reg_mu);
        for (int i = 0; i < REG_SLOTS; i++) {
            int t = atomic_load_explicit(&g_reg[i].tid, memory_order_relaxed); /* reg_mu held */
            uint8_t f = atomic_load_explicit(&g_reg[i].flags, memory_order_relaxed); /* hint */
            if (t > 0 && !(f & (F_NOTJAVA | F_IGNORE)))
                tids[n++] = t;
        }
        pthread_mutex_unlock(&reg_mu);
        if (n) {
            if (start >= n)
                start = 0;
            wall_signal_round(tids, n, &start, pid);
        }
        /* Behind by whole rounds (the signals and the harvester cost more
         * than one interval): skip them, counted, instead of bursting. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t late = (now.tv_sec - next.tv_sec) * 1000000000LL + (now.tv_nsec - next.tv_nsec);
        if (ns > 0 && late >= ns) {
            cp_stats_add(CP_ST_DROP_WALL_BEHIND, (uint64_t)(late / ns) * (uint64_t)n);
            next = now;
        }
        pthread_mutex_lock(&wall_mu);
    }
    pthread_mutex_unlock(&wall_mu);
    free(tids);
    return NULL;
}

static void wall_thread_stop(void)
{
    if (!wall_running)
        return;
    pthread_mutex_lock(&wall_mu);
    wall_stop = true;
    pthread_cond_signal(&wall_cv);
    pthread_mutex_unlock(&wall_mu);
    pthread_join(wall_thr, NULL);
    wall_running = false;
}

/* reg_mu held, timers disarmed or about to be re-armed: picks perf events
 * or POSIX timers for the requested engine. */
static void decide_engine(void)
{
    engine_decided = true;
    use_perf = false;
    if (g_engine_req == CP_SAMPLER_ENGINE_TIMER)
        return;
    const char *why = "";
    if (g_cpu_sig >= SIGRTMIN) {
        /* perf events signal through O_ASYNC/F_SETSIG. A real-time signal
         * is queued once per sample; when the queue reaches
         * RLIMIT_SIGPENDING (a CPU-bound thread that blocks signals, a low
         * `ulimit -i`) the kernel falls back to SIGIO, whose default action
         * kills the JVM. SIGPROF does not queue (one pending at most, no
         * fallback); POSIX timers preallocate their one signal and count
         * overruns. So with SIGPROF taken, CPU sampling uses timers. */
        CP_LOGI("CPU sampling on real-time signal %d: POSIX CPU timers, not perf events (a perf signal queue "
                "that overflows RLIMIT_SIGPENDING makes the kernel send SIGIO, which kills the process)", g_cpu_sig);
        return;
    }
    if (cp_perf_probe(&why) == 0) {
        use_perf = true;
        CP_LOGI("CPU sampling: perf_event_open cpu-clock per thread (signal %d)", g_cpu_sig);
    } else if (g_engine_req == CP_SAMPLER_ENGINE_PERF) {
        CP_LOGW("cpu.engine=perf: %s; using POSIX CPU timers (the kernel tick limits the rate: see rate.cpu_mhz)", why);
    } else {
        CP_LOGI("perf events unavailable (%s); CPU sampling with POSIX CPU timers", why);
    }
}

void cp_sampler_configure(int engine, bool native_frames)
{
    atomic_store_explicit(&native_on, native_frames, memory_order_relaxed); /* config flag */
    pthread_mutex_lock(&reg_mu);
    if (engine != g_engine_req) {
        g_engine_req = engine;
        if (engine_decided) {
            int64_t ns = armed_cpu_ns;
            rearm_all(0);          /* close events / timers of the old engine */
            engine_decided = false;
            if (ns > 0) {
                decide_engine();
                rearm_all(ns);
            }
        }
    }
    pthread_mutex_unlock(&reg_mu);
}

const char *cp_sampler_engine(void)
{
    pthread_mutex_lock(&reg_mu);
    const char *e = use_perf ? "perf" : use_itimer ? "itimer" : "timer";
    pthread_mutex_unlock(&reg_mu);
    return e;
}

static atomic_bool vm_live;
static atomic_bool adopt_pending;   /* threads older than the agent still to register */
static void register_current(JNIEnv *jni);
static void adopt_java_threads(void);   /* cp_sampler_start ran: live phase, VMStructs readable */

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

int cp_sampler_start(int64_t cpu_ns, int64_t wall_ns)
{
    if (!g_inited)
        return CP_ESTATE;
    atomic_store_explicit(&vm_live, true, memory_order_relaxed); /* config flag */
    vmstructs_bind_current();
    JNIEnv *self_env = NULL;
    if ((*g_vm)->GetEnv(g_vm, (void **)&self_env, JNI_VERSION_1_6) == JNI_OK)
        register_current(self_env);   /* VMInit / attach thread */
    atomic_store_explicit(&adopt_pending, true, memory_order_relaxed); /* flag */
    if (!getenv("CPROF_NO_CRASH_GUARD"))
        crash_guard_install();
    atomic_store_explicit(&retry_on, getenv("CPROF_NO_AGCT_RETRY") == NULL, memory_order_relaxed); /* config */
    const char *tf = getenv("CPROF_TEST_AGCT_FAULT");
    test_fault_every = tf ? (unsigned)atoi(tf) : 0;
    atomic_store_explicit(&cpu_interval_ns, cpu_ns, memory_order_relaxed); /* published by cpu_on */
    atomic_store_explicit(&wall_interval_ns, wall_ns, memory_order_relaxed); /* published by wall_on */
    atomic_store_explicit(&cpu_on, cpu_ns > 0, memory_order_release); /* publish interval */
    atomic_store_explicit(&wall_on, wall_ns > 0, memory_order_release); /* publish interval */
    pthread_mutex_lock(&reg_mu);
    if (cpu_ns > 0 && !engine_decided)
        decide_engine();
    if (armed_cpu_ns != cpu_ns)
        rearm_all(cpu_ns);
    pthread_mutex_unlock(&reg_mu);
    cp_sampler_scan();
    if (wall_ns > 0 && !wall_running) {
        wall_stop = false;
        if (pthread_create(&wall_thr, NULL, wall_main, NULL) == 0)
            wall_running = true;
        else
            CP_LOGW("cannot start the wall-clock thread; wall sampling off");
    } else if (wall_ns <= 0) {
        wall_thread_stop();
    }
    return 0;
}

void cp_sampler_stop(void)
{
    if (!g_inited)
        return;
    atomic_store_explicit(&cpu_on, false, memory_order_release); /* handlers bail out */
    atomic_store_explicit(&wall_on, false, memory_order_release); /* handlers bail out */
    wall_thread_stop();
    pthread_mutex_lock(&reg_mu);
    rearm_all(0);
    pthread_mutex_unlock(&reg_mu);
    for (int i = 0; i < 200 && atomic_load_explicit(&inflight, memory_order_acquire) > 0; i++) /* pairs with handler */
        usleep(1000);
}

void cp_sampler_scan(void)
{
    if (!g_inited)
        return;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    pthread_mutex_lock(&reg_mu);
    uint32_t gen = ++g_gen;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int tid = atoi(de->d_name);
        if (tid <= 0)
            continue;
        bool created;
        reg_entry_t *e = reg_get(tid, &created);
        if (!e)
            continue;
        e->gen = gen;
        if (created && armed_cpu_ns > 0)
            timer_arm(e, armed_cpu_ns);
    }
    closedir(d);
    for (int i = 0; i < REG_SLOTS; i++) {
        reg_entry_t *e = &g_reg[i];
        if (atomic_load_explicit(&e->tid, memory_order_relaxed) > 0 && e->gen != gen) /* reg_mu held */
            reg_remove(e);
    }
    pthread_mutex_unlock(&reg_mu);
    /* code ranges for the handler's native walk and AGCT retries */
    cp_unwind_refresh();
    /* the harvester (a Java thread) confirms the VMStructs offsets if no
     * other Java thread started since cp_sampler_start (attach) */
    vmstructs_bind_current();
    adopt_java_threads();
}

/* reg_mu held. Marks e as the Java thread whose JNIEnv is env. */
static void set_env(reg_entry_t *e, JNIEnv *env)
{
    /* keep F_IGNORE (agent threads), drop a stale NOTJAVA hint */
    uint8_t f = atomic_load_explicit(&e->flags, memory_order_relaxed) & F_IGNORE; /* hint */
    atomic_store_explicit(&e->flags, f | F_JAVA, memory_order_relaxed); /* hint */
    atomic_store_explicit(&e->env, env, memory_order_release); /* handlers read it with acquire */
}

/* The calling Java thread (not a handler) registers its own JNIEnv. */
static void register_current(JNIEnv *jni)
{
    if (!jni)
        return;
    int tid = my_tid();
    pthread_mutex_lock(&reg_mu);
    bool created;
    reg_entry_t *e = reg_get(tid, &created);
    if (e) {
        set_env(e, jni);
        if (created && armed_cpu_ns > 0)
            timer_arm(e, armed_cpu_ns);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* Threads older than the agent (JVM boot threads, every thread at attach)
 * got no ThreadStart: find their tid and JNIEnv from java.lang.Thread.eetop
 * and VMStructs. Runs on a Java thread (harvester or the starting thread)
 * once VMStructs is ready, after each cp_sampler_start. */
static void adopt_java_threads(void)
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
            pthread_mutex_lock(&reg_mu);
            bool created;
            reg_entry_t *e = reg_get(tid, &created);
            if (e && !atomic_load_explicit(&e->env, memory_order_relaxed)) { /* reg_mu held */
                set_env(e, env);
                adopted++;
                if (created && armed_cpu_ns > 0)
                    timer_arm(e, armed_cpu_ns);
            }
            pthread_mutex_unlock(&reg_mu);
        }
        (*jni)->DeleteLocalRef(jni, ts[i]);
    }
    if (tc)
        (*jni)->DeleteLocalRef(jni, tc);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)ts);
    CP_LOGI("sampler: %d running Java thread(s) registered from VMStructs (of %d)", adopted, (int)n);
}

void cp_sampler_thread_start(JNIEnv *jni)
{
    if (!g_inited)
        return;
    vmstructs_bind_current();
    int tid = my_tid();
    pthread_mutex_lock(&reg_mu);
    bool created;
    reg_entry_t *e = reg_get(tid, &created);
    if (e) {
        /* clear a stale NOTJAVA hint of a previous thread with this tid */
        set_env(e, jni);
        e->gen = g_gen;
        if (armed_cpu_ns > 0)
            timer_arm(e, armed_cpu_ns);   /* re-create: the tid may be reused */
    }
    pthread_mutex_unlock(&reg_mu);
}

void cp_sampler_thread_end(void)
{
    if (!g_inited)
        return;
    int tid = my_tid();
    pthread_mutex_lock(&reg_mu);
    reg_entry_t *e = reg_find(tid);
    if (e)
        reg_remove(e);   /* clears env first: the JavaThread is about to go */
    pthread_mutex_unlock(&reg_mu);
}

void cp_sampler_ignore_current_thread(void)
{
    int tid = my_tid();
    pthread_mutex_lock(&reg_mu);
    bool created;
    reg_entry_t *e = reg_get(tid, &created);
    if (e) {
        atomic_fetch_or_explicit(&e->flags, F_IGNORE, memory_order_relaxed); /* hint */
        if (created && armed_cpu_ns > 0)
            timer_arm(e, armed_cpu_ns);
    }
    pthread_mutex_unlock(&reg_mu);
}

bool cp_sampler_per_thread_timers(void) { return !use_itimer; }

int cp_sampler_thread_count(void)
{
    pthread_mutex_lock(&reg_mu);
    int n = g_nthreads;
    pthread_mutex_unlock(&reg_mu);
    return n;
}
