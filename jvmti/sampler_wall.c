/* sampler_wall.c - wall-clock sampling. See sampler.h.
 *
 * A plain pthread ("cprof-wall") sends the wall signal to every Java thread
 * each wall interval, paced on the ring (a chunk goes out only when the
 * ring has room; what is left out is counted in drop.wall_behind). The
 * handler records the stack whatever the thread's state. */
#include "sampler_int.h"
#include "sigcost.h"

#include "cost.h"
#include "jitter.h"

#include "error.h"
#include "log.h"
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_t wall_thr;
static bool wall_running;
static pthread_mutex_t wall_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wall_cv;      /* CLOCK_MONOTONIC; initialised in cp__wall_init */
static bool wall_stop;
/* The gap the current round waited for (0.5-1.5 intervals, jitter.h): the
 * weight of its samples.
 * Stored before the round's tgkill calls, which order it before the
 * signal's delivery (a system call is a full barrier on the sending side,
 * and the handler runs after the kernel queued the signal). */
static _Atomic int64_t wall_round_ns;

CP_SIGSAFE void cp__wall_on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (cp_sigcost_on_signal(CP_SIGCOST_WALL))   /* the calibration's signal */
        return;
    if (atomic_load_explicit(&cp__wall_on, memory_order_acquire)) { /* as above */
        bool probe = cp__probe_cost();
        struct timespec t0, t1;
        if (probe)
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        int tid = cp__tid();
        /* the interval of the round that sent this signal, not the
         * newest setting: a sample stands for the time since the previous
         * round (overhead.h) */
        cp__take_sample(CP_SAMPLE_WALL, (uint64_t)atomic_load_explicit(&wall_round_ns, memory_order_relaxed), /* set before the round's signals */
                        uc, tid, cp__reg_find(tid));
        if (probe) {
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
            uint64_t spent = (cp__ts_ns(&t1) - cp__ts_ns(&t0)) * CP__HANDLER_PROBE;
            cp_stats_add(CP_ST_HANDLER_NS, spent);
            cp_stats_add(CP_ST_SAMPLING_WALL_NS, spent);   /* the budget's per-kind part (overhead.h) */
        }
    }
    errno = saved;
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
    size_t cap = cp_ring_capacity(cp__ring);
    int chunk = (int)(cap / 4) > 0 ? (int)(cap / 4) : 1;
    int sent = 0;
    while (sent < n) {
        int m = n - sent < chunk ? n - sent : chunk;
        if (!cp_ring_has_room(cp__ring, (size_t)m + cap / 16)) {
            /* the harvester is behind: wake it, leave the rest of this
             * round out (counted) rather than wait or overflow the ring */
            cp_ring_nudge(cp__ring);
            cp_stats_add(CP_ST_DROP_WALL_BEHIND, (uint64_t)(n - sent));
            break;
        }
        for (int i = 0; i < m; i++)
            syscall(SYS_tgkill, pid, tids[(*start + sent + i) % n], cp__wall_sig);
        sent += m;
        if (sent < n)
            cp_ring_nudge(cp__ring);
    }
    *start = n ? (*start + sent) % n : 0;
}

static void *wall_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "cprof-wall", 0, 0, 0);
    int *tids = malloc(sizeof(int) * CP__REG_SLOTS);
    if (!tids)
        return NULL;
    pid_t pid = getpid();
    int start = 0;
    uint64_t cost_last = 0;   /* cost.h: this thread's CPU, from its start */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t jitter = (uint64_t)next.tv_nsec ^ (uint64_t)pid << 32;
    pthread_mutex_lock(&wall_mu);
    while (!wall_stop) {
        cp_cost_thread_sampling(&cost_last);
        int64_t iv = atomic_load_explicit(&cp__wall_interval_ns, memory_order_relaxed); /* config value */
        /* this round's gap, not exactly one interval: no aliasing with periodic work */
        int64_t ns = iv > 0 ? (int64_t)cp_jitter_step(&jitter, (uint64_t)iv) : iv;
        next.tv_nsec += ns % 1000000000LL;
        next.tv_sec += ns / 1000000000LL + next.tv_nsec / 1000000000LL;
        next.tv_nsec %= 1000000000LL;
        while (!wall_stop && pthread_cond_timedwait(&wall_cv, &wall_mu, &next) != ETIMEDOUT)
            ;
        if (wall_stop)
            break;
        pthread_mutex_unlock(&wall_mu);
        atomic_store_explicit(&wall_round_ns, ns, memory_order_release); /* before the round's signals */
        int n = 0;
        pthread_mutex_lock(&cp__reg_mu);
        for (int i = cp__reg_walk(0); i < CP__REG_SLOTS; i = cp__reg_walk(i + 1)) {
            int t = atomic_load_explicit(&cp__reg[i].tid, memory_order_relaxed); /* cp__reg_mu held */
            uint8_t f = atomic_load_explicit(&cp__reg[i].flags, memory_order_relaxed); /* hint */
            if (t > 0 && !(f & (CP__F_NOTJAVA | CP__F_IGNORE)))
                tids[n++] = t;
        }
        pthread_mutex_unlock(&cp__reg_mu);
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
        if (iv > 0 && late >= iv) {
            cp_stats_add(CP_ST_DROP_WALL_BEHIND, (uint64_t)(late / iv) * (uint64_t)n);
            next = now;
        }
        pthread_mutex_lock(&wall_mu);
    }
    pthread_mutex_unlock(&wall_mu);
    cp_cost_thread_sampling(&cost_last);
    free(tids);
    return NULL;
}

void cp__wall_stop(void)
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

void cp__wall_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* wall_main's deadlines are monotonic */
    pthread_cond_init(&wall_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void cp__wall_start(void)
{
    if (wall_running)
        return;
    wall_stop = false;
    if (pthread_create(&wall_thr, NULL, wall_main, NULL) == 0)
        wall_running = true;
    else
        CP_LOGW("cannot start the wall-clock thread; wall sampling off");
}
