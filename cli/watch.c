/* watch.c - `cprof watch`: a host daemon that finds new JVMs and attaches.
 *
 *   cprof watch --match REGEX [--exclude REGEX] [--interval 2s]
 *               [--timeout 10s] [--agent PATH] [--once] [OPTION...]
 *
 * Every interval it lists /proc, and for each process it has not judged yet
 * (new pid, or same pid after an exec: comm changed) decides:
 *   not a JVM (no "java" comm/exe, no libjvm.so mapped)      -> ignore
 *   JVM not ready (no SIGQUIT handler yet)                    -> retry later
 *   app name / command line do not match --match, or match
 *   --exclude                                                 -> skip (logged)
 *   libcprof-jvm.so already mapped (-agentpath, or attached)  -> skip (logged)
 *   otherwise -> cprof attach with the OPTIONs plus label.host, label.pid,
 *   label.container (when /proc/PID/cgroup shows one) and app=<-Dcprof.app>.
 * A JVM is judged once; pids that vanish are forgotten at the next scan,
 * so memory is bounded by the number of live processes.
 *
 * Cost per scan: one readdir of /proc and one read of /proc/PID/stat per
 * process (pid reuse is detected by start time, exec by comm); the heavier
 * reads (maps, cmdline, cgroup) happen once per new process.
 *
 * Attaches run in forked worker processes (at most MAX_INFLIGHT at once),
 * so a hung JVM costs its own --timeout, not everyone's; workers log their
 * own result line (one write(2) per line), the main loop reaps them and
 * counts. Thread: main only. SIGINT/SIGTERM end the loop at the next
 * wake-up; running workers are waited for (each bounded by --timeout). */
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "error.h"
#include "hotspot_attach.h"
#include "procscan.h"

#define YOUNG_SECS   3.0    /* re-check a young non-JVM: a launcher may load libjvm late */
#define READY_SECS  60.0    /* give up on a JVM that never installs SIGQUIT */

enum { S_IGNORED, S_PENDING, S_DONE };

typedef struct entry {
    pid_t pid;
    unsigned long long start;
    char comm[16];
    int state;
} entry_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* "2026-12-03 14:00:05.123 CET watch: ...": local date-time with the zone,
 * to the millisecond, as the agent's log lines (jvmti/log.c). */
static void wlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void wlog(const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char line[2048];
    size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ld", ts.tv_nsec / 1000000);
    n += strftime(line + n, sizeof line - n, " %Z watch: ", &tm);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = w < 0 ? n : (n + (size_t)w < sizeof line - 1 ? n + (size_t)w : sizeof line - 2);
    line[n++] = '\n';
    /* one write per line: attach workers log concurrently */
    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r;
}

#define MAX_INFLIGHT 8      /* concurrent attach workers */

typedef struct watch_cfg {
    regex_t match;
    regex_t exclude;
    bool has_exclude;
    const char *agent;
    const char *options;     /* user's options, joined */
    int timeout_ms;
    char host[256];
    unsigned attached, skipped, failed;
    pid_t inflight[MAX_INFLIGHT];   /* attach workers not reaped yet */
    int ninflight;
} watch_cfg_t;

/* Collects finished attach workers (all of them, or at least one when
 * `block`) and counts their results. */
static void reap(watch_cfg_t *c, bool block)
{
    while (c->ninflight > 0) {
        int st;
        pid_t r = waitpid(-1, &st, block ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        for (int i = 0; i < c->ninflight; i++) {
            if (c->inflight[i] != r)
                continue;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                c->attached++;
            else
                c->failed++;
            c->inflight[i] = c->inflight[--c->ninflight];
            break;
        }
        if (block)
            return;
    }
}

static bool has_key(const char *opts, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = opts; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=')
            return true;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

static bool maps_have_libjvm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/libjvm.so") != NULL;
    fclose(f);
    return found;
}

static bool looks_like_java(pid_t pid, const char *comm)
{
    if (!strcmp(comm, "java"))
        return true;
    char path[64], exe[4096];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *b = strrchr(exe, '/');
        if (b && !strcmp(b + 1, "java"))
            return true;
    }
    return maps_have_libjvm(pid);
}

/* Judges one process; returns its new state. */
static int judge(watch_cfg_t *c, entry_t *e)
{
    double age = cp_procscan_age(e->start);
    if (!looks_like_java(e->pid, e->comm))
        return (age >= 0 && age < YOUNG_SECS) ? S_PENDING : S_IGNORED;

    char err[1024];
    cp_hsattach_target_t t;
    int rc = cp_hsattach_inspect(e->pid, &t, err, sizeof err);
    if (rc == CP_EUNSUPP)        /* java-named but no libjvm yet, or not HotSpot */
        return (age >= 0 && age < YOUNG_SECS) ? S_PENDING : S_IGNORED;
    if (rc != 0)
        return S_IGNORED;        /* gone, or unreadable */

    cp_proc_info_t info;
    if (cp_procscan_read(e->pid, &info) != 0)
        return S_IGNORED;
    const char *app = info.app[0] ? info.app : e->comm;

    bool match = regexec(&c->match, info.app, 0, NULL, 0) == 0 ||
                 regexec(&c->match, info.cmdline, 0, NULL, 0) == 0;
    bool excluded = c->has_exclude && (regexec(&c->exclude, info.app, 0, NULL, 0) == 0 ||
                                       regexec(&c->exclude, info.cmdline, 0, NULL, 0) == 0);
    cp_procscan_info_fini(&info);     /* only app and container are used below */
    if (!match) {
        wlog("skip pid %d (%s): does not match --match", (int)e->pid, app);
        c->skipped++;
        return S_DONE;
    }
    if (excluded) {
        wlog("skip pid %d (%s): matches --exclude", (int)e->pid, app);
        c->skipped++;
        return S_DONE;
    }
    if (t.agent[0]) {
        wlog("skip pid %d (%s): the cprof agent already runs there (%s)", (int)e->pid, app,
             t.agent);
        c->skipped++;
        return S_DONE;
    }
    if (t.attach_disabled) {
        wlog("skip pid %d (%s): started with -XX:+DisableAttachMechanism", (int)e->pid, app);
        c->skipped++;
        return S_DONE;
    }
    if (!t.quit_caught) {
        if (age >= 0 && age > READY_SECS) {
            wlog("skip pid %d (%s): no SIGQUIT handler after %.0f s, cannot attach",
                 (int)e->pid, app, age);
            c->skipped++;
            return S_DONE;
        }
        return S_PENDING;        /* still starting up */
    }

    /* Options: the user's, then labels that say where this instance runs. */
    char opts[1024];
    size_t ol = (size_t)snprintf(opts, sizeof opts, "%s", c->options);
#define ADD(...) do { if (ol < sizeof opts) \
        ol += (size_t)snprintf(opts + ol, sizeof opts - ol, __VA_ARGS__); } while (0)
    const char *sep = ol ? "," : "";
    if (info.cprof_app && !has_key(c->options, "app")) {
        ADD("%sapp=%s", sep, info.app);
        sep = ",";
    }
    if (!has_key(c->options, "label.host")) {
        ADD("%slabel.host=%s", sep, c->host);
        sep = ",";
    }
    if (!has_key(c->options, "label.pid")) {
        ADD("%slabel.pid=%d", sep, (int)e->pid);
        sep = ",";
    }
    if (info.container[0] && !has_key(c->options, "label.container"))
        ADD("%slabel.container=%s", sep, info.container);
#undef ADD
    if (ol >= sizeof opts) {
        wlog("skip pid %d (%s): agent options too long", (int)e->pid, app);
        c->failed++;
        return S_DONE;
    }

    /* Attach in a worker process, so one slow or hung JVM (up to
     * --timeout) does not hold up the others; at most MAX_INFLIGHT at once.
     * The worker logs its own result; its exit status feeds the counters. */
    while (c->ninflight >= MAX_INFLIGHT)
        reap(c, true);
    pid_t worker = fork();
    if (worker > 0) {
        c->inflight[c->ninflight++] = worker;
        return S_DONE;
    }
    cp_attach_outcome_t o;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = cp_attach_pid(e->pid, c->agent, opts, c->timeout_ms, &o, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (rc != 0) {
        wlog("failed pid %d (%s): %s", (int)e->pid, app, err);
    } else {
        char jv[16] = "?";
        if (o.java_major)
            snprintf(jv, sizeof jv, "%d", o.java_major);
        wlog("attached pid %d (%s, Java %s, uid %lu%s%s, started %.1f s ago) in %ld ms, "
             "options '%s'", (int)e->pid, app, jv, (unsigned long)o.uid,
             info.container[0] ? ", container " : "", info.container, age, ms, opts);
        for (uint32_t i = 0; o.has_verdict && i < o.verdict.n; i++)
            if (o.verdict.e[i].reason[0])
                wlog("pid %d (%s): the agent refused option '%s': %s", (int)e->pid, app,
                     o.verdict.e[i].option, o.verdict.e[i].reason);
    }
    if (worker == 0)
        _exit(rc == 0 ? 0 : 1);
    /* fork failed: we did the work inline */
    if (rc == 0)
        c->attached++;
    else
        c->failed++;
    return S_DONE;
}

/* One scan: merge the sorted live pid list with the sorted known entries. */
static int scan(watch_cfg_t *c, entry_t **known, size_t *nknown)
{
    pid_t *pids;
    size_t n;
    int rc = cp_procscan_list(&pids, &n);
    if (rc != 0)
        return rc;
    entry_t *next = malloc((n ? n : 1) * sizeof *next);
    if (!next) {
        free(pids);
        return CP_ENOMEM;
    }
    size_t k = 0, nn = 0;
    pid_t self = getpid();
    for (size_t i = 0; i < n && !stop_flag; i++) {
        pid_t pid = pids[i];
        while (k < *nknown && (*known)[k].pid < pid)
            k++;                           /* exited: forgotten */
        entry_t e = {.pid = pid};
        if (pid == self || cp_procscan_stat(pid, e.comm, sizeof e.comm, &e.start) != 0)
            continue;
        const entry_t *old = (k < *nknown && (*known)[k].pid == pid) ? &(*known)[k] : NULL;
        if (old && old->start == e.start && !strcmp(old->comm, e.comm) &&
            old->state != S_PENDING) {
            next[nn++] = *old;            /* already judged, nothing changed */
            continue;
        }
        e.state = judge(c, &e);
        next[nn++] = e;
    }
    free(pids);
    free(*known);
    *known = next;
    *nknown = nn;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof watch --match REGEX [--exclude REGEX] [--interval DUR]\n"
        "                   [--timeout DUR] [--agent PATH] [--once] [OPTION...]\n"
        "\n"
        "Scans /proc every interval and attaches the cprof agent to each new\n"
        "JVM whose app name (-Dcprof.app=NAME, else main class, else jar name)\n"
        "or command line matches REGEX (POSIX extended). OPTIONs are agent\n"
        "options (relay=..., app=..., label.k=v, cpu=...); watch adds\n"
        "label.host, label.pid and label.container (when visible). JVMs that\n"
        "already run the agent are skipped. Logs every decision to stderr.\n"
        "\n"
        "  --match REGEX     JVMs to profile (required; '.' for all)\n"
        "  --exclude REGEX   JVMs to leave alone even if they match\n"
        "  --interval DUR    time between scans [2s]\n"
        "  --timeout DUR     per-attach timeout [10s]\n"
        "  --agent PATH      libcprof-jvm.so [$CPROF_AGENT, else next to cprof]\n"
        "  --once            scan once and exit (cron, tests)\n");
}

int cp_cmd_watch(int argc, char **argv)
{
    watch_cfg_t c = {.timeout_ms = 10000};
    const char *match = NULL, *exclude = NULL;
    int interval_ms = 2000;
    bool once = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--match") && v) {
            match = v;
            i++;
        } else if (!strcmp(a, "--exclude") && v) {
            exclude = v;
            i++;
        } else if (!strcmp(a, "--agent") && v) {
            c.agent = v;
            i++;
        } else if ((!strcmp(a, "--interval") || !strcmp(a, "--timeout")) && v) {
            int ms = cp_attach_parse_ms(v);
            if (ms < 0)
                return cp_cli_usage_error("watch", usage, "%s wants a duration (500ms, 2s, 1m), not '%s'", a, v);
            *(a[2] == 'i' ? &interval_ms : &c.timeout_ms) = ms;
            i++;
        } else if (!strcmp(a, "--once")) {
            once = true;
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (a[0] == '-') {
            bool known = !strcmp(a, "--match") || !strcmp(a, "--exclude") || !strcmp(a, "--agent") ||
                         !strcmp(a, "--interval") || !strcmp(a, "--timeout");
            return cp_cli_usage_error("watch", usage, known ? "option '%s' needs a value" : "unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (!match)
        return cp_cli_usage_error("watch", usage, "--match REGEX is required ('.' matches every JVM)");
    char rerr[256];
    int rc = regcomp(&c.match, match, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &c.match, rerr, sizeof rerr);
        fprintf(stderr, "cprof watch: bad --match regex '%s': %s\n", match, rerr);
        return 2;
    }
    if (exclude) {
        rc = regcomp(&c.exclude, exclude, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &c.exclude, rerr, sizeof rerr);
            fprintf(stderr, "cprof watch: bad --exclude regex '%s': %s\n", exclude, rerr);
            regfree(&c.match);
            return 2;
        }
        c.has_exclude = true;
    }

    /* Agent options: the remaining words, joined with ','. */
    char opts[1024] = "";
    size_t ol = 0;
    for (; i < argc; i++) {
        if (!argv[i][0])
            continue;
        int w = snprintf(opts + ol, sizeof opts - ol, "%s%s", ol ? "," : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof opts - ol) {
            fprintf(stderr, "cprof watch: agent options too long\n");
            return 2;
        }
        ol += (size_t)w;
    }
    c.options = opts;
    int bad = cp_attach_check_options("watch", opts);
    if (bad) {
        fprintf(stderr, "cprof watch: not started: %d agent option(s) refused by the agent's rules\n", bad);
        regfree(&c.match);
        if (c.has_exclude)
            regfree(&c.exclude);
        return 2;
    }

    char agent[4096], err[1024];
    if (!c.agent) {
        if (cp_hsattach_default_agent(agent, sizeof agent, err, sizeof err) != 0) {
            fprintf(stderr, "cprof watch: %s\n", err);
            return 1;
        }
        c.agent = agent;
    }
    if (gethostname(c.host, sizeof c.host) != 0)
        snprintf(c.host, sizeof c.host, "unknown");
    c.host[sizeof c.host - 1] = '\0';

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;      /* no SA_RESTART: the sleep must wake up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    wlog("watching for JVMs matching '%s'%s%s%s every %d ms; agent %s; options '%s'",
         match, exclude ? " (excluding '" : "", exclude ? exclude : "", exclude ? "')" : "",
         interval_ms, c.agent, opts);
    if (geteuid() != 0)
        wlog("not running as root: only JVMs of uid %lu can be attached (others are ignored "
             "silently)", (unsigned long)geteuid());
    entry_t *known = NULL;
    size_t nknown = 0;
    int status = 0;
    while (!stop_flag) {
        reap(&c, false);
        rc = scan(&c, &known, &nknown);
        if (rc != 0) {
            wlog("scan failed: %s", cp_strerror(rc));
            status = 1;
            if (once)
                break;
        }
        if (once)
            break;
        struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);     /* EINTR on SIGINT/SIGTERM: loop checks the flag */
    }
    while (c.ninflight > 0)
        reap(&c, true);          /* each worker ends within --timeout */
    wlog("stopping: %u attached, %u skipped, %u failed; %zu processes tracked",
         c.attached, c.skipped, c.failed, nknown);
    free(known);
    regfree(&c.match);
    if (c.has_exclude)
        regfree(&c.exclude);
    return status;
}
