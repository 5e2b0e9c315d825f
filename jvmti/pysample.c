/* pysample.c - the cprof-python thread (pysample.h).
 *
 * State by owner:
 *   sampler thread only: procs[] (one per Python process: its pyvm, task
 *     buffer, threads with their /proc fds and last CPU), the negative
 *     cache (processes that are not Python, or refused), the code caches
 *     and the function table's hash index;
 *   q_mu: the sample queue (thread -> harvester);
 *   ctl_mu/ctl_cv: running, stop request, mode, interval.
 * The function table is append-only: an entry is written before any
 * sample that names it is queued (under q_mu), and never changes, so the
 * harvester reads entries of drained samples without a lock.
 *
 * Process identity is (pid, start time): a reused pid is a new process. */
#include "pysample.h"
#include "clock.h"

#include "cost.h"
#include "jitter.h"
#include "pyfb.h"
#include "pyproc.h"
#include "error.h"
#include "log.h"
#include "options.h"
#include "sampler.h"
#include "stats.h"
#include "u64map.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS     128
#define MAX_KNOWN_NOT 512         /* negative cache: pids that are not Python (or refused) */
#define QUEUE_CAP     1024
#define FUNC_CHUNK    1024
#define FUNC_CHUNKS   64          /* 65,536 distinct Python functions at most */
#define SCAN_NS       500000000LL
#define REFRESH_TICKS 10          /* a quiet process's thread list and children: every 10th tick */

typedef struct pythread {
    int tid;
    int fd_sched, fd_stat;        /* /proc/PID/task/TID/{schedstat,stat}, -1 if closed */
    uint64_t last_ns;             /* schedstat run time at the last tick; 0 = no baseline */
    uint64_t cur_ns;              /* read this tick by the quiet check (valid when have_cur) */
    uint64_t look_ns;             /* monotonic time of last_ns */
    bool seen, have_cur;
} pythread_t;

typedef struct pyproc {
    pid_t pid;
    unsigned long long start;     /* /proc/PID/stat start time: identity with pid */
    cp_pyvm_t *vm;                /* NULL: the process samples itself (fb) */
    cp_pyfb_t *fb;
    cp_pytask_buf_t *task;
    int task_tries;               /* ticks until the next open attempt of the task file */
    int task_misses;
    bool jvm_child;               /* started by the JVM (a daemon): its children are looked for when it ran */
    bool moved;                   /* a thread of it ran during the last tick */
    unsigned scans;               /* passes since it was found */
    int quiet;                    /* ticks since its thread list was last read */
    int fd_alive;                 /* fb: /proc/PID/schedstat, fails once the process is reaped; -1 */
    cp_u64map_t codes;            /* code_key -> function index + 1 */
    pythread_t th[CP_PYVM_MAX_THREADS];
    int n_th;
} pyproc_t;

typedef struct known_not {
    pid_t pid;
    unsigned long long start;
    char comm[16];                /* an exec keeps pid and start time, not comm */
} known_not_t;

/* ---- control ------------------------------------------------------------ */
static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static pthread_t thr;
static bool running, stop_req;    /* ctl_mu */
static int g_mode;                /* ctl_mu */
static int64_t g_interval_ns;     /* ctl_mu */

/* ---- queue (q_mu) ------------------------------------------------------- */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_pysample_t *queue;
static uint32_t q_head, q_len;

/* ---- function table (append-only; see header comment) -------------------- */
static cp_pyfunc_t *chunks[FUNC_CHUNKS];
static _Atomic uint32_t n_funcs;  /* entries [0, n_funcs) are written and final */

/* ---- sampler-thread state ------------------------------------------------ */
static pyproc_t *procs[MAX_PROCS];
static int n_procs;
static known_not_t not_py[MAX_KNOWN_NOT];
static int n_not_py, not_py_next;
static cp_u64map_t func_index;    /* content hash -> index + 1 */
static bool warned_eperm, warned_unsupported;

static void cv_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctl_cv, &ca);
    pthread_condattr_destroy(&ca);
}


/* ---- process table ------------------------------------------------------- */

static pyproc_t *find_proc(pid_t pid)
{
    for (int i = 0; i < n_procs; i++)
        if (procs[i]->pid == pid)
            return procs[i];
    return NULL;
}

/* Known as not Python: same pid, start time and name. The name matters:
 * the JVM starts the daemon through jspawnhelper, which then execs
 * python (same pid and start time); a scan that met the helper must not
 * keep the daemon out (seen on a loaded machine: no Python sampled). */
static bool known_not_py(pid_t pid, unsigned long long start)
{
    char comm[16] = "";
    bool read = false;
    for (int i = 0; i < n_not_py; i++)
        if (not_py[i].pid == pid && not_py[i].start == start) {
            if (!read)
                cp_pyproc_comm(pid, comm);
            read = true;
            if (!strcmp(comm, not_py[i].comm))
                return true;   /* an older entry of the same pid (before its exec) may differ */
        }
    return false;
}

static void remember_not_py(pid_t pid, unsigned long long start)
{
    not_py[not_py_next] = (known_not_t){pid, start, ""};
    cp_pyproc_comm(pid, not_py[not_py_next].comm);
    not_py_next = (not_py_next + 1) % MAX_KNOWN_NOT;
    if (n_not_py < MAX_KNOWN_NOT)
        n_not_py++;
}

static void thread_close(pythread_t *t)
{
    if (t->fd_sched >= 0)
        close(t->fd_sched);
    if (t->fd_stat >= 0)
        close(t->fd_stat);
    t->fd_sched = t->fd_stat = -1;
}

static void proc_free(pyproc_t *p, bool gone)
{
    for (int i = 0; i < p->n_th; i++)
        thread_close(&p->th[i]);
    cp_pyvm_close(p->vm);
    cp_pyfb_close(p->fb);
    cp_pytask_close(p->task);
    cp_u64map_free(&p->codes);
    if (p->fd_alive >= 0)
        close(p->fd_alive);
    free(p);
}

static void proc_remove(int i, bool gone)
{
    proc_free(procs[i], gone);
    procs[i] = procs[--n_procs];
}

/* Said once, counted every time: process_vm_readv refused for pid. */
static void refused(pid_t pid)
{
    cp_stats_add(CP_ST_PY_EPERM, 1);
    if (!warned_eperm) {
        warned_eperm = true;
        CP_LOGW("python: cannot read the memory of Python process %d (process_vm_readv: permission denied: "
                "ptrace scope, seccomp or another user); cprof_pyspark's workers then sample themselves "
                "(py.fallback), other Python processes are not sampled (counted as py.refused; "
                "docs/pyspark.md, 'When the agent may not read the workers')", (int)pid);
    }
}

/* A new descendant: attach if it is Python (and PySpark for python=on). */
static void consider(pid_t pid, int mode, bool parent_accepted)
{
    unsigned long long start;
    if (find_proc(pid) || n_procs == MAX_PROCS || !cp_pyproc_start(pid, &start) || known_not_py(pid, start))
        return;
    cp_pyelf_t elf;
    if (cp_pyelf_find(pid, &elf) != 0 || (mode == CP_PY_SPARK && !parent_accepted && !cp_pyproc_is_pyspark(pid))) {
        remember_not_py(pid, start);
        return;
    }
    cp_pyvm_t *vm = NULL;
    int rc = cp_pyvm_open(pid, &elf, &vm);
    if (rc == CP_EPERM) {
        refused(pid);
        remember_not_py(pid, start);
        return;
    }
    if (rc != 0) {
        if (rc == CP_EUNSUPP) {
            cp_stats_add(CP_ST_PY_UNSUPPORTED, 1);
            if (!warned_unsupported) {
                warned_unsupported = true;
                CP_LOGW("python: process %d runs a Python (%s) this agent has no offsets for "
                        "(CPython 3.8-3.13); not sampled", (int)pid, elf.path);
            }
        }
        remember_not_py(pid, start);
        return;
    }
    pyproc_t *p = calloc(1, sizeof *p);
    if (!p) {
        cp_pyvm_close(vm);
        return;
    }
    p->pid = pid;
    p->start = start;
    p->vm = vm;
    p->fd_alive = -1;
    p->jvm_child = !parent_accepted;
    procs[n_procs++] = p;
    cp_stats_add(CP_ST_PY_PROCS, 1);
    CP_LOGI("python: sampling process %d (CPython %s, %s)", (int)pid, cp_pyvm_version(vm), elf.path);
}

/* A full scan (every 500 ms) looks at the children of every JVM thread
 * (each may have started one): a new daemon is found within 0.5 s, and CPU
 * its first workers spent before that is not charged. A pass runs after
 * the tick's sampling and looks at the children of the JVM's own Python
 * children (a daemon's forked workers) when one of their threads ran
 * during that tick (forking takes CPU: a worker is seen within one tick,
 * as when every pass looked) or every REFRESH_TICKS-th pass, and every
 * 25th pass at those of the other Python processes (workers seldom fork).
 * New entries are scanned in the same pass, so grandchildren come too.
 * Processes leave the table when a read fails and they are gone
 * (py_main). */
static void scan(int mode, bool full)
{
    pid_t kids[512];
    int n = full ? cp_pyproc_children(getpid(), true, kids, 0, 512) : 0;
    for (int j = 0; j < n; j++)
        consider(kids[j], mode, false);
    for (int i = 0; i < n_procs; i++) {
        unsigned k = procs[i]->scans++;
        if (procs[i]->jvm_child ? !procs[i]->moved && k % REFRESH_TICKS != 0 : k % 25 != 0)
            continue;
        n = cp_pyproc_children(procs[i]->pid, false, kids, 0, 64);
        for (int j = 0; j < n; j++)
            consider(kids[j], mode, true);
    }
}

/* ---- function table --------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

/* Index of (module, text) in the table, adding it; UINT32_MAX when full. */
static uint32_t func_intern(const char *module, const char *text)
{
    uint64_t h = cp_u64map_mix(hash_str(hash_str(0xcbf29ce484222325ULL, module), text));
    if (h == UINT64_MAX)
        h--;
    bool created;
    uint64_t *slot = cp_u64map_slot(&func_index, h, &created);
    if (slot && !created)
        return (uint32_t)(*slot - 1);
    uint32_t idx = atomic_load_explicit(&n_funcs, memory_order_relaxed);   /* our own writes */
    if (idx >= FUNC_CHUNK * FUNC_CHUNKS)
        return UINT32_MAX;
    if (!chunks[idx / FUNC_CHUNK] && !(chunks[idx / FUNC_CHUNK] = calloc(FUNC_CHUNK, sizeof(cp_pyfunc_t))))
        return UINT32_MAX;
    cp_pyfunc_t *f = &chunks[idx / FUNC_CHUNK][idx % FUNC_CHUNK];
    snprintf(f->module, sizeof f->module, "%s", module);
    snprintf(f->text, sizeof f->text, "%s", text);
    /* release: the entry's bytes before the count that publishes it */
    atomic_store_explicit(&n_funcs, idx + 1, memory_order_release);
    if (slot)
        *slot = (uint64_t)idx + 1;
    return idx;
}

const cp_pyfunc_t *cp_pysample_func(uint32_t idx)
{
    /* acquire: pairs with func_intern's release */
    uint32_t n = atomic_load_explicit(&n_funcs, memory_order_acquire);
    return idx < n ? &chunks[idx / FUNC_CHUNK][idx % FUNC_CHUNK] : NULL;
}

static uint32_t func_of(pyproc_t *p, const cp_pyvm_frame_t *fr)
{
    uint64_t key = fr->code_key == UINT64_MAX ? fr->code_key - 1 : fr->code_key;
    uint64_t *hit = cp_u64map_find(&p->codes, key);
    if (hit)
        return (uint32_t)(*hit - 1);
    cp_pyvm_name_t nm;
    char text[sizeof ((cp_pyfunc_t *)0)->text];
    uint32_t idx;
    if (cp_pyvm_code_name(p->vm, fr->code, &nm) != 0) {
        idx = func_intern("", "[unknown]");
        return idx;   /* not cached: the next read may succeed */
    }
    snprintf(text, sizeof text, "%.150s (%.60s:%d)", nm.function, nm.file, nm.line);
    idx = func_intern(nm.module, text);
    bool created;
    uint64_t *slot = idx != UINT32_MAX ? cp_u64map_slot(&p->codes, key, &created) : NULL;
    if (slot)
        *slot = (uint64_t)idx + 1;
    return idx;
}

/* ---- one tick ------------------------------------------------------------------ */

static int open_task_file(pid_t pid, int tid, const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/%s", (int)pid, tid, name);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* The thread's CPU time in ns (schedstat's first field); 0 on failure. */
static uint64_t thread_cpu(pythread_t *t)
{
    char buf[128];
    ssize_t n = t->fd_sched >= 0 ? pread(t->fd_sched, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* 'R' (running or runnable), 'S', 'D'...; '?' on failure. */
static char thread_state(pythread_t *t)
{
    char buf[512];
    ssize_t n = t->fd_stat >= 0 ? pread(t->fd_stat, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return '?';
    buf[n] = '\0';
    const char *r = cp_pyproc_stat_rest(buf);
    return r ? r[0] : '?';
}

static pythread_t *thread_get(pyproc_t *p, int tid)
{
    for (int i = 0; i < p->n_th; i++)
        if (p->th[i].tid == tid)
            return &p->th[i];
    if (p->n_th == CP_PYVM_MAX_THREADS)
        return NULL;
    pythread_t *t = &p->th[p->n_th++];
    *t = (pythread_t){.tid = tid, .fd_sched = open_task_file(p->pid, tid, "schedstat"),
                      .fd_stat = open_task_file(p->pid, tid, "stat")};
    return t;
}

static void push(const cp_pysample_t *s)
{
    pthread_mutex_lock(&q_mu);
    if (q_len == QUEUE_CAP) {
        pthread_mutex_unlock(&q_mu);
        cp_stats_add(CP_ST_PY_DROP_QUEUE, 1);
        return;
    }
    queue[(q_head + q_len) % QUEUE_CAP] = *s;
    q_len++;
    pthread_mutex_unlock(&q_mu);
}

/* ---- processes that sample themselves (pyfb.h) ------------------------------- */

typedef struct fb_ctx {
    pyproc_t *p;
    cp_pysample_t *s;
} fb_ctx_t;

/* The worker's function idx is the key of p->codes (its own numbering). */
static void fb_func(void *ud, uint32_t idx, const char *module, const char *text)
{
    fb_ctx_t *c = ud;
    uint32_t f = func_intern(module, text);
    bool created;
    uint64_t *slot = f != UINT32_MAX ? cp_u64map_slot(&c->p->codes, idx, &created) : NULL;
    if (slot)
        *slot = (uint64_t)f + 1;
}

static void fb_sample(void *ud, const cp_pyfb_sample_t *fs)
{
    fb_ctx_t *c = ud;
    cp_pysample_t *s = c->s;
    s->pid = (int32_t)c->p->pid;
    s->tid = fs->tid ? fs->tid : (int32_t)c->p->pid;
    s->weight_ns = fs->weight_ns;
    s->truncated = fs->truncated;
    s->has_task = fs->task.active;
    s->task = fs->task;
    s->n = 0;
    for (uint16_t i = 0; i < fs->n && i < CP_PYVM_MAX_DEPTH; i++) {
        uint64_t *hit = cp_u64map_find(&c->p->codes, fs->idx[i]);
        uint32_t f = hit ? (uint32_t)(*hit - 1) : func_intern("", "[unknown]");
        if (f != UINT32_MAX)
            s->funcs[s->n++] = f;
    }
    push(s);
    cp_stats_add(CP_ST_PY_SAMPLES, 1);
    cp_stats_add(CP_ST_PY_FB_SAMPLES, 1);
    cp_stats_add(CP_ST_PY_CPU_NS, fs->weight_ns);
    if (fs->truncated)
        cp_stats_add(CP_ST_PY_TRUNCATED, 1);
    if (s->has_task)
        cp_stats_add(CP_ST_PY_TASKS, 1);
}

/* Drains the ring; false once the process is gone. Whether it lives is
 * asked before the drain, so a worker that wrote its last records and
 * ended (os._exit) between the two loses nothing: the drain of the tick
 * that finds it gone reads them. One pread of a descriptor kept open
 * (reads fail once the process is reaped, whatever reuses its pid), not
 * an open and a parse of /proc/PID/stat per tick. */
static bool sample_fb(pyproc_t *p, cp_pysample_t *s, int64_t iv)
{
    char b[128];
    bool alive;
    if (p->fd_alive >= 0) {
        alive = pread(p->fd_alive, b, sizeof b, 0) > 0;
    } else {
        unsigned long long st;
        alive = cp_pyproc_start(p->pid, &st) && st == p->start;
    }
    fb_ctx_t c = {p, s};
    cp_pyfb_drain(p->fb, iv, fb_func, fb_sample, &c);
    return alive;
}

/* pyfb's probe: 0 when this thread reads pid itself. */
static int fb_probe(pid_t pid)
{
    cp_pyelf_t elf;
    cp_pyvm_t *vm = NULL;
    int rc = cp_pyelf_find(pid, &elf);
    if (rc == 0)
        rc = cp_pyvm_open(pid, &elf, &vm);
    cp_pyvm_close(vm);
    if (rc == CP_EPERM || rc == CP_EIO)   /* EIO: /proc/PID/maps refused (the process asked: it is alive) */
        refused(pid);
    return rc;
}

/* pyfb's registration: a ring of a process this thread does not read. */
static bool fb_ring(pid_t pid, cp_pyfb_t *ring)
{
    unsigned long long start;
    pyproc_t *p = find_proc(pid);
    if ((p && p->vm) || (!p && (n_procs == MAX_PROCS || !cp_pyproc_start(pid, &start))))
        return false;
    if (p) {   /* a second ring from the same process: the newer one wins */
        cp_pyfb_close(p->fb);
        p->fb = ring;
        return true;
    }
    if (!(p = calloc(1, sizeof *p)))
        return false;
    p->pid = pid;
    p->start = start;
    p->fb = ring;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    p->fd_alive = open(path, O_RDONLY | O_CLOEXEC);
    unsigned long long st;   /* the descriptor is of the process that asked, not a later one with its pid */
    if (p->fd_alive >= 0 && !(cp_pyproc_start(pid, &st) && st == start)) {
        close(p->fd_alive);
        p->fd_alive = -1;
    }
    procs[n_procs++] = p;
    return true;
}

/* Returns false when the process is gone or unreadable. */
static bool sample_proc(pyproc_t *p, cp_pysample_t *s, int64_t iv)
{
    if (!p->vm)
        return sample_fb(p, s, iv);
    /* The cheap look first: one pread of schedstat per known thread. A
     * process none of whose threads ran since the last tick (the daemon, a
     * worker between tasks) costs nothing more; its thread list is read
     * again every REFRESH_TICKS-th tick (new threads), and at once when a
     * clock cannot be read (a thread or the process ended). */
    bool look = p->n_th == 0 || ++p->quiet >= REFRESH_TICKS;
    p->moved = false;
    for (int i = 0; i < p->n_th; i++) {
        pythread_t *t = &p->th[i];
        t->cur_ns = thread_cpu(t);
        t->have_cur = true;
        if (!t->cur_ns || t->cur_ns != t->last_ns)
            look = p->moved = true;
    }
    if (!look)
        return true;
    p->quiet = 0;
    cp_pyvm_thread_t th[CP_PYVM_MAX_THREADS];
    int n = cp_pyvm_threads(p->vm, th, CP_PYVM_MAX_THREADS);
    if (n < 0) {
        cp_stats_add(CP_ST_PY_READ_FAIL, 1);
        return false;
    }
    if (!p->task && --p->task_tries <= 0) {
        p->task = cp_pytask_open(p->pid);
        /* the file appears with a worker's first task; a process that
         * never has one (the daemon, python=children) is asked less often */
        p->task_tries = ++p->task_misses < 20 ? 10 : 100;
    }
    cp_pytask_t task;
    bool has_task = p->task && cp_pytask_read(p->task, &task) && task.active;
    for (int i = 0; i < p->n_th; i++)
        p->th[i].seen = false;
    for (int i = 0; i < n; i++) {
        /* 3.8-3.10 record no kernel tid: a single thread is the main one */
        int tid = th[i].tid ? th[i].tid : (n == 1 ? (int)p->pid : 0);
        pythread_t *t = tid ? thread_get(p, tid) : NULL;
        if (!t)
            continue;
        t->seen = true;
        uint64_t cpu = t->have_cur ? t->cur_ns : thread_cpu(t), last = t->last_ns;
        uint64_t now = cp_mono_ns(), since = now - t->look_ns;
        t->have_cur = false;
        t->last_ns = cpu;
        t->look_ns = now;
        /* first sight: a thread younger than two ticks (a worker just
         * forked) is charged all its CPU; an older one only sets the
         * baseline (its past is not where its current stack is) */
        if (!last && cpu > 2 * (uint64_t)iv)
            continue;
        if (cpu <= last)
            continue;   /* did not run */
        uint64_t d = cpu - last;
        /* On CPU now? A thread that ran at least half the time since its
         * last look is taken as running without asking /proc (its stat is
         * the dearest read of the tick); any other is charged only if its
         * state is R (running or runnable): one that ran, then blocked
         * (a socket read between tasks) is not where its CPU went. */
        bool busy = last && 2 * d >= since;
        if (!th[i].frame || (!busy && thread_state(t) != 'R')) {
            cp_stats_add(CP_ST_PY_UNCHARGED_NS, d);
            continue;
        }
        cp_pyvm_frame_t fr[CP_PYVM_MAX_DEPTH];
        bool cut = false;
        int k = cp_pyvm_stack(p->vm, th[i].frame, fr, CP_PYVM_MAX_DEPTH, &cut);
        if (k <= 0) {
            cp_stats_add(CP_ST_PY_READ_FAIL, 1);
            continue;
        }
        s->pid = (int32_t)p->pid;
        s->tid = tid;
        s->weight_ns = d;
        s->has_task = has_task;
        s->truncated = cut;
        if (has_task)
            s->task = task;
        s->n = 0;
        for (int j = 0; j < k; j++) {
            uint32_t f = func_of(p, &fr[j]);
            if (f != UINT32_MAX)
                s->funcs[s->n++] = f;
        }
        push(s);
        cp_stats_add(CP_ST_PY_SAMPLES, 1);
        cp_stats_add(CP_ST_PY_CPU_NS, d);
        if (cut)
            cp_stats_add(CP_ST_PY_TRUNCATED, 1);
        if (has_task)
            cp_stats_add(CP_ST_PY_TASKS, 1);
    }
    for (int i = 0; i < p->n_th;) {   /* threads that ended */
        if (!p->th[i].seen) {
            thread_close(&p->th[i]);
            p->th[i] = p->th[--p->n_th];
        } else {
            i++;
        }
    }
    return true;
}

/* This thread's CPU since *last into cpu.python_ns. Not cpu.agent_threads_ns:
 * the overhead budget (overhead.h) weighs the agent against the JVM's own
 * CPU, and this thread's work scales with the Python workers' CPU, which
 * the JVM's does not include (py.cpu_ns vs cpu.python_ns is its cost). */
static void python_cost(uint64_t *last)
{
    uint64_t now = cp_cost_now();
    if (now > *last)
        cp_stats_add(CP_ST_PY_COST_NS, now - *last);
    *last = now;
}

static void *py_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &all, NULL);   /* the JVM's and the sampler's signals go elsewhere */
    cp_sampler_ignore_current_thread();
    uint64_t cost_last = 0, next_scan = 0, next = cp_mono_ns(), next_cost = 0, jitter = next;
    cp_pyfb_listen();
    cp_pysample_t *s = malloc(sizeof *s);
    pthread_mutex_lock(&ctl_mu);
    while (!stop_req && s) {
        int mode = g_mode;
        int64_t iv = g_interval_ns;
        pthread_mutex_unlock(&ctl_mu);

        uint64_t now = cp_mono_ns();
        bool full = now >= next_scan;
        if (full)
            next_scan = now + SCAN_NS;
        cp_pyfb_poll(iv, fb_probe, fb_ring);
        for (int i = 0; i < n_procs;) {
            if (!sample_proc(procs[i], s, iv)) {
                unsigned long long st;
                bool gone = !cp_pyproc_start(procs[i]->pid, &st) || st != procs[i]->start;
                proc_remove(i, gone);   /* unreadable but alive: reattached at the next scan */
                if (!gone)
                    continue;
            } else {
                i++;
            }
        }
        scan(mode, full);   /* after the sampling: it knows which daemons ran this tick */
        if (now >= next_cost) {
            python_cost(&cost_last);
            next_cost = now + 1000000000ULL;
        }
        /* the next look 0.5-1.5 intervals on (mean: one): a worker whose
         * work repeats with the interval's period would otherwise be seen
         * in one phase of it only (a sample weighs the CPU since the last
         * look, so the weights stay right) */
        next += cp_jitter_step(&jitter, (uint64_t)iv);
        now = cp_mono_ns();
        if (next < now)
            next = now;   /* behind: skip, do not burst */
        struct timespec dl = {(time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL)};
        pthread_mutex_lock(&ctl_mu);
        while (!stop_req && pthread_cond_timedwait(&ctl_cv, &ctl_mu, &dl) == 0)
            ;
    }
    pthread_mutex_unlock(&ctl_mu);
    cp_pyfb_unlisten();
    while (n_procs)
        proc_remove(n_procs - 1, false);
    free(s);
    python_cost(&cost_last);
    return NULL;
}

int cp_pysample_start(int mode, int64_t interval_ns)
{
    if (mode == CP_PY_OFF) {
        cp_pysample_stop();
        return 0;
    }
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&ctl_mu);
    g_mode = mode;
    g_interval_ns = interval_ns > 0 ? interval_ns : 10000000;
    if (running) {
        pthread_mutex_unlock(&ctl_mu);
        return 0;
    }
    pthread_mutex_unlock(&ctl_mu);
    pthread_mutex_lock(&q_mu);
    if (!queue)
        queue = malloc(sizeof *queue * QUEUE_CAP);
    pthread_mutex_unlock(&q_mu);
    if (!queue)
        return CP_ENOMEM;
    pthread_mutex_lock(&ctl_mu);
    stop_req = false;
    int rc = pthread_create(&thr, NULL, py_main, NULL);
    running = rc == 0;
    pthread_mutex_unlock(&ctl_mu);
    if (rc) {
        CP_LOGW("python: cannot start the cprof-python thread; Python stacks are not sampled");
        return CP_ESTATE;
    }
    pthread_setname_np(thr, "cprof-python");
    CP_LOGI("python: sampling %s every %lld us", mode == CP_PY_SPARK ? "PySpark workers" : "Python children",
            (long long)(g_interval_ns / 1000));
    return 0;
}

void cp_pysample_stop(void)
{
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&ctl_mu);
    if (!running) {
        pthread_mutex_unlock(&ctl_mu);
        return;
    }
    stop_req = true;
    pthread_cond_broadcast(&ctl_cv);
    pthread_mutex_unlock(&ctl_mu);
    pthread_join(thr, NULL);
    pthread_mutex_lock(&ctl_mu);
    running = false;
    pthread_mutex_unlock(&ctl_mu);
}

int cp_pysample_drain(cp_pysample_fn fn, void *ud)
{
    pthread_mutex_lock(&q_mu);
    int n = 0;
    while (q_len) {
        fn(&queue[q_head], ud);
        q_head = (q_head + 1) % QUEUE_CAP;
        q_len--;
        n++;
    }
    pthread_mutex_unlock(&q_mu);
    return n;
}
