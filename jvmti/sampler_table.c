/* sampler_table.c - the sampler's thread table. See sampler_int.h.
 *
 * A fixed open-addressing table keyed by tid (CP__REG_SLOTS entries,
 * reserved at load). Writers (scan, ThreadStart/End, start/stop) hold
 * cp__reg_mu; the signal handlers only read it (atomic tid/flags loads),
 * and mark a thread that turned out not to be a Java thread. Deleted
 * entries become tombstones (-1) and are reused by later inserts.
 *
 * Invariant: an entry has a live timer iff has_timer (or perf_fd1 != 0);
 * timers are created and deleted only under cp__reg_mu (sampler_cpu.c).
 * Handlers never call timer functions. */
#include "sampler_int.h"

#include "error.h"
#include "log.h"
#include "stats.h"

#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

cp__reg_entry_t cp__reg[CP__REG_SLOTS];
cp__reg_name_t cp__reg_names[CP__REG_SLOTS];
_Atomic uint64_t cp__reg_used[CP__REG_SLOTS / CP__REG_BLOCK / 64];
pthread_mutex_t cp__reg_mu = PTHREAD_MUTEX_INITIALIZER;
uint32_t cp__reg_gen;
int cp__reg_count;


void cp__reg_init(void)
{
    /* nothing to write: static storage is zeroes, which every field reads
     * as "none" (perf_fd1 is the fd + 1, so a never-used slot cannot look
     * like it holds fd 0, the application's stdin). Writing the 8192 slots
     * here faulted in ~400 KB at OnLoad: ~1.5 ms of every JVM's start-up. */
}

CP_SIGSAFE int cp__tid(void) { return (int)syscall(SYS_gettid); }

/* The tid itself: a process's tids come in runs (one after another as its
 * threads start), so its entries share a few pages instead of one each,
 * and consecutive tids never collide. */
static CP_SIGSAFE uint32_t tid_hash(int tid) { return (uint32_t)tid & (CP__REG_SLOTS - 1); }

/* Async-signal-safe: read-only probe with atomic loads. */
CP_SIGSAFE cp__reg_entry_t *cp__reg_find(int tid)
{
    uint32_t h = tid_hash(tid);
    for (uint32_t i = 0; i < CP__REG_SLOTS; i++) {
        cp__reg_entry_t *e = &cp__reg[(h + i) & (CP__REG_SLOTS - 1)];
        int t = atomic_load_explicit(&e->tid, memory_order_acquire); /* pairs with insert's release */
        if (t == tid)
            return e;
        if (t == 0)
            return NULL;
    }
    return NULL;
}

/* cp__reg_mu held. Finds or inserts; NULL when full. *created set if new. */
cp__reg_entry_t *cp__reg_get(int tid, bool *created)
{
    *created = false;
    cp__reg_entry_t *e = cp__reg_find(tid);
    if (e)
        return e;
    uint32_t h = tid_hash(tid);
    for (uint32_t i = 0; i < CP__REG_SLOTS; i++) {
        e = &cp__reg[(h + i) & (CP__REG_SLOTS - 1)];
        int t = atomic_load_explicit(&e->tid, memory_order_relaxed); /* writers serialised by cp__reg_mu */
        if (t == 0 || t == -1) {
            e->has_timer = false;
            e->arm_pending = false;
            e->arm_fresh = false;
            e->perf_fd1 = 0;
            e->gen = cp__reg_gen;
            atomic_store_explicit(&e->last_cpu, 0, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&e->flags, 0, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&e->env, NULL, memory_order_relaxed); /* published by the tid store */
            atomic_store_explicit(&cp__reg_names[e - cp__reg].epoch, 0, memory_order_relaxed); /* as above */
            atomic_store_explicit(&e->tid, tid, memory_order_release); /* publish the entry to handlers */
            int b = (int)(e - cp__reg) / CP__REG_BLOCK;
            atomic_fetch_or_explicit(&cp__reg_used[b / 64], 1ull << (b % 64), memory_order_relaxed); /* hint */
            *created = true;
            cp__reg_count++;
            return e;
        }
    }
    cp_stats_add(CP_ST_DROP_THREADS, 1);
    return NULL;
}

/* cp__reg_mu held. */
void cp__reg_remove(cp__reg_entry_t *e)
{
    if (e->arm_pending) {   /* ended before its deferred arm: the system calls saved */
        e->arm_pending = false;
        cp_stats_add(CP_ST_CPU_ARM_SKIPPED, 1);
    }
    cp__cpu_disarm(e);
    atomic_store_explicit(&e->env, NULL, memory_order_release); /* before the tid: no stale env */
    atomic_store_explicit(&e->tid, -1, memory_order_release); /* handlers stop matching it */
    cp__reg_count--;
}

/* cp__reg_mu held. Marks e as the Java thread whose JNIEnv is env. */
void cp__reg_set_env(cp__reg_entry_t *e, JNIEnv *env)
{
    /* keep CP__F_IGNORE (agent threads), drop a stale NOTJAVA hint */
    uint8_t f = atomic_load_explicit(&e->flags, memory_order_relaxed) & CP__F_IGNORE; /* hint */
    atomic_store_explicit(&e->flags, f | CP__F_JAVA, memory_order_relaxed); /* hint */
    atomic_store_explicit(&e->env, env, memory_order_release); /* handlers read it with acquire */
}

int cp_sampler_thread_count(void)
{
    pthread_mutex_lock(&cp__reg_mu);
    int n = cp__reg_count;
    pthread_mutex_unlock(&cp__reg_mu);
    return n;
}

CP_SIGSAFE void cp__thread_name(cp__reg_entry_t *self, char *out)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);   /* vDSO; async-signal-safe */
    uint32_t ep = (uint32_t)now.tv_sec * 2 + 1;   /* this second; odd: never 0 */
    cp__reg_name_t *c = self ? &cp__reg_names[self - cp__reg] : NULL;
    if (c && atomic_load_explicit(&c->epoch, memory_order_acquire) == ep) { /* pairs with the release below */
        memcpy(out, c->name, 16);
        /* a nested handler of this thread (the wall signal in the middle
         * of a cpu sample's copy) rewrote it meanwhile: read it afresh */
        if (atomic_load_explicit(&c->epoch, memory_order_acquire) == ep) /* as above */
            return;
    }
    prctl(PR_GET_NAME, out, 0, 0, 0);   /* a system call: safe */
    out[15] = '\0';
    if (c) {
        atomic_store_explicit(&c->epoch, 0, memory_order_relaxed); /* a reader in between sees "none" */
        memcpy(c->name, out, 16);
        atomic_store_explicit(&c->epoch, ep, memory_order_release); /* the name before the epoch */
    }
}
