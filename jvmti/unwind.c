/* unwind.c - bounded, validated frame-pointer walk. See unwind.h.
 *
 * Table: two buffers of sorted, merged [lo, hi) ranges. g_seq is even when
 * stable; the writer makes it odd, fills the idle buffer, flips g_cur and
 * makes it even again. A reader snapshots g_seq, reads, and discards its
 * answer (treating the pc as not native) if g_seq changed: a stale "no"
 * only ends a walk early. The idle buffer is refilled at most every 500 ms
 * (the harvester's scans, harvest.c), so a reader that is preempted mid-lookup for longer than
 * that is the only way to read a buffer being rewritten, and the sequence
 * check catches it. */
#include "unwind.h"

#include "error.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "table sequence must be lock-free for handlers");

/* kind: file-backed code (native), anonymous code (the code cache), or
 * other executable memory the walk does not enter ([vdso], [vsyscall]) */
enum { R_ANON = 0, R_NATIVE = 1, R_OTHER = 2 };
typedef struct { uint64_t lo, hi; uint8_t kind; } range_t;

#define LOOKUP_UNSTABLE (-1)   /* the table changed under the reader */
#define LOOKUP_NONE     (-2)   /* in no executable mapping the table knows */

static range_t g_tab[2][CP_UNWIND_MAX_RANGES];
static _Atomic int g_n[2];
static _Atomic int g_cur;
static _Atomic unsigned long g_seq;
static _Atomic unsigned long g_unknown;   /* interrupted pcs in no known mapping */
static _Atomic unsigned long g_gen;       /* tables published with different contents */
static pthread_mutex_t refresh_mu = PTHREAD_MUTEX_INITIALIZER;   /* one writer at a time */

static int refresh_locked(void);

int cp_unwind_refresh(void)
{
    pthread_mutex_lock(&refresh_mu);
    int rc = refresh_locked();
    pthread_mutex_unlock(&refresh_mu);
    return rc;
}

static int refresh_locked(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return CP_EIO;
    /* a JVM's maps are ~100 KB: read in 64 KB calls, not glibc's 1 KB
     * (st_blksize of a /proc file) */
    static char iobuf[64 << 10];   /* refresh_mu held */
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    int idle = 1 - atomic_load_explicit(&g_cur, memory_order_relaxed); /* single writer */
    /* odd: readers of either buffer retry; release orders it before our writes */
    atomic_fetch_add_explicit(&g_seq, 1, memory_order_acq_rel);
    range_t *t = g_tab[idle];
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8] = "";
        unsigned long off, inode;
        unsigned dmaj, dmin;
        int pos = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &off, &dmaj, &dmin, &inode, &pos) < 7)
            continue;
        /* executable: backed by a file (inode != 0: libraries, the
         * launcher) = native; anonymous (the JIT code cache with the
         * interpreter and stubs) = code but not native; [vdso] = neither */
        if (perms[2] != 'x')
            continue;
        uint8_t kind = inode != 0 ? R_NATIVE : strstr(line, "[v") ? R_OTHER : R_ANON;
        if (n > 0 && t[n - 1].hi == lo && t[n - 1].kind == kind) {
            t[n - 1].hi = hi;
            continue;
        }
        if (n == CP_UNWIND_MAX_RANGES)
            break;
        t[n].lo = lo;
        t[n].hi = hi;
        t[n].kind = kind;
        n++;
    }
    fclose(f);
    int was = 1 - idle;   /* the published table: a new generation only if it differs */
    int n_was = atomic_load_explicit(&g_n[was], memory_order_relaxed); /* single writer */
    if (n != n_was || memcmp(t, g_tab[was], (size_t)n * sizeof *t) != 0)
        atomic_fetch_add_explicit(&g_gen, 1, memory_order_relaxed); /* a counter */
    atomic_store_explicit(&g_n[idle], n, memory_order_relaxed); /* ordered by the seq release below */
    atomic_store_explicit(&g_cur, idle, memory_order_relaxed);  /* as above */
    atomic_fetch_add_explicit(&g_seq, 1, memory_order_release); /* publish the buffer (even again) */
    return n;
}

/* Async-signal-safe: the kind of the range holding pc (R_*), LOOKUP_NONE,
 * or LOOKUP_UNSTABLE (the table changed under us). */
static CP_SIGSAFE int lookup(uint64_t pc)
{
    unsigned long s0 = atomic_load_explicit(&g_seq, memory_order_acquire); /* pairs with refresh */
    if (s0 & 1)
        return LOOKUP_UNSTABLE;
    int cur = atomic_load_explicit(&g_cur, memory_order_relaxed);      /* ordered by g_seq */
    int n = atomic_load_explicit(&g_n[cur], memory_order_relaxed);     /* ordered by g_seq */
    const range_t *t = g_tab[cur];
    int lo = 0, hi = n;
    int found = LOOKUP_NONE;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pc < t[mid].lo)
            hi = mid;
        else if (pc >= t[mid].hi)
            lo = mid + 1;
        else {
            found = t[mid].kind;
            break;
        }
    }
    atomic_thread_fence(memory_order_acquire);   /* the reads above happen before the re-check */
    return atomic_load_explicit(&g_seq, memory_order_relaxed) == s0 ? found : LOOKUP_UNSTABLE; /* see fence */
}

/* Async-signal-safe: 1 native, 0 anonymous code, -1 not code (or the
 * table changed under us). */
static CP_SIGSAFE int classify(uint64_t pc)
{
    int k = lookup(pc);
    return k == R_NATIVE ? 1 : k == R_ANON ? 0 : -1;
}

unsigned long cp_unwind_unknown_pcs(void)
{
    return atomic_load_explicit(&g_unknown, memory_order_relaxed); /* a counter */
}

unsigned long cp_unwind_generation(void)
{
    return atomic_load_explicit(&g_gen, memory_order_relaxed); /* a counter */
}

CP_SIGSAFE bool cp_unwind_is_native(uint64_t pc) { return classify(pc) == 1; }

CP_SIGSAFE bool cp_unwind_is_code(uint64_t pc) { return classify(pc) >= 0; }

/* Async-signal-safe. ret is a plausible x86-64 return address: native code
 * right after a call instruction (E8 rel32; FF /2 register or memory
 * forms). Reads up to 7 code bytes before ret (in the same executable
 * mapping, checked). Filters stack words and stale frame slots that merely
 * point into code. */
static CP_SIGSAFE bool call_before(uint64_t ret)
{
#if defined(__x86_64__)
    const uint8_t *r = (const uint8_t *)(uintptr_t)ret;
    return r[-5] == 0xE8 ||                                     /* call rel32 */
           (r[-2] == 0xFF && (r[-1] & 0xF8) == 0xD0) ||         /* call *%reg */
           (r[-3] == 0xFF && (r[-2] & 0x38) == 0x10) ||         /* call *disp8(%reg), *(%reg,...) */
           (r[-6] == 0xFF && (r[-5] & 0x38) == 0x10) ||         /* call *disp32(%reg), *rip-rel */
           (r[-7] == 0xFF && (r[-6] & 0x38) == 0x10) ||         /* ... with a SIB byte */
           (r[-4] == 0xFF && (r[-3] & 0x38) == 0x10);           /* call *disp8(%reg,%idx) */
#else
    (void)ret;
    return false;
#endif
}

static CP_SIGSAFE bool is_call_site(uint64_t ret)
{
    return cp_unwind_is_native(ret) && cp_unwind_is_native(ret - 7) && call_before(ret);
}

CP_SIGSAFE bool cp_unwind_is_jit_call_site(uint64_t ret)
{
    return classify(ret) == 0 && classify(ret - 7) == 0 && call_before(ret);
}

CP_SIGSAFE bool cp_unwind_is_native_call_site(uint64_t ret)
{
    return is_call_site(ret);
}

CP_SIGSAFE int cp_unwind_walk_regs(uint64_t pc, uint64_t sp, uint64_t fp, uint64_t *pcs, int max,
                                   volatile int *n)
{
    *n = 0;
    int k = lookup(pc);
    if (k == LOOKUP_NONE)   /* the thread ran it, so it is code: the table is stale (a library loaded since) */
        atomic_fetch_add_explicit(&g_unknown, 1, memory_order_relaxed); /* a counter */
    if (max <= 0 || k != R_NATIVE)
        return 0;
    pcs[0] = pc;
    *n = 1;
    /* A leaf that has not pushed anything yet (syscall wrappers, memcpy,
     * any function in its first instruction) has its return address at
     * [sp] and the caller's frame pointer still in rbp: take the caller
     * from [sp], then follow rbp. A leaf that pushed rbp has a stack
     * address at [sp], which is no call site. */
    if (*n < max && sp && !(sp & 7)) {
        uint64_t ret0 = *(const uint64_t *)(uintptr_t)sp;
        if (ret0 != pc && is_call_site(ret0)) {
            pcs[*n] = ret0;
            *n = *n + 1;
        }
    }
    uint64_t lo = sp, hi = sp + CP_UNWIND_STACK_SPAN;
    while (*n < max) {
        if (fp < lo || fp + 16 > hi || (fp & 7))
            break;
        const uint64_t *frame = (const uint64_t *)(uintptr_t)fp;
        uint64_t next = frame[0], ret = frame[1];
        if (!is_call_site(ret))
            break;   /* Java code, a stub, or not a frame at all */
        pcs[*n] = ret;
        *n = *n + 1;
        if (next <= fp)
            break;
        lo = fp + 16;
        fp = next;
    }
    return *n;
}

CP_SIGSAFE int cp_unwind_walk(const void *ucontext, uint64_t *pcs, int max, volatile int *n)
{
#if defined(__x86_64__)
    const ucontext_t *uc = ucontext;
    if (!uc) {
        *n = 0;
        return 0;
    }
    return cp_unwind_walk_regs((uint64_t)uc->uc_mcontext.gregs[REG_RIP], (uint64_t)uc->uc_mcontext.gregs[REG_RSP],
                               (uint64_t)uc->uc_mcontext.gregs[REG_RBP], pcs, max, n);
#else
    (void)ucontext; (void)pcs; (void)max;
    *n = 0;
    return 0;
#endif
}
