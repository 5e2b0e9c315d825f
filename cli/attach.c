/* attach.c - `cprof attach PID [options]` and `cprof detach PID`.
 *
 *   cprof attach [--agent PATH] [--timeout 10s] PID [KEY=VALUE[,KEY=VALUE]...]...
 *   cprof detach [--timeout 10s] PID
 *
 * Attach loads libcprof-jvm.so into a running HotSpot JVM through HotSpot's
 * own attach mechanism (cli/hotspot_attach.c), as the JVM's user and across
 * containers. Option words are joined with ',' into the agent's option
 * string (see jvmti/options.h). If the agent already runs there, the same
 * library path is loaded again, which HotSpot turns into a second
 * Agent_OnAttach call on the loaded agent: it applies the new options
 * (reconfigure) instead of starting a second copy. Detach is a re-attach
 * with `command=detach`: the agent stops sampling, flushes and disconnects;
 * the .so stays mapped (HotSpot never unloads agents) and a later attach
 * starts it again.
 *
 * Before anything is sent, the options go through the agent's own parser
 * (jvmti/options.c, compiled into cprof): an option the agent would refuse
 * is reported with the agent's reason and nothing is sent (exit 2), so the
 * verdict is on the terminal, not only on the JVM's stderr. token=@FILE is
 * left to the agent: the file is read inside the JVM's filesystem.
 *
 * The agent's own verdict comes back through a file it writes in the
 * JVM's /tmp (jvmti/verdict.h, cli/verdict_file.h): what only the running
 * agent can tell (a token file it cannot read, a log file it cannot open,
 * allocation sampling the JVM lacks, an agent already detached), and every
 * option when --no-check skipped the local check (an agent of another
 * version). An agent that writes no verdict (an older one) still works:
 * cprof says there was none.
 *
 * Thread: main only. Exit codes: 0 ok, 1 failure, 2 usage or an option
 * refused before sending, 7 an option refused by the agent (cli.h). */
#include "attach.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../jvmti/options.h"   /* the agent's own option rules, compiled in (cli/meson.build) */
#include "cli.h"
#include "error.h"
#include "hotspot_attach.h"
#include "verdict_file.h"

#define DEFAULT_TIMEOUT_MS 10000

int cp_attach_parse_ms(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    double v = strtod(s, &end);
    double ms;
    if (!*end || !strcmp(end, "s"))
        ms = v * 1000;
    else if (!strcmp(end, "ms"))
        ms = v;
    else if (!strcmp(end, "m"))
        ms = v * 60000;
    else
        return -1;
    if (ms < 1 || ms > 86400000)
        return -1;
    return (int)ms;
}

/* Options plus the internal verdict=PATH (jvmti/verdict.h) into `out`;
 * returns false (and sends the options alone) when they would not fit the
 * attach protocol's argument limit with it. */
static bool with_verdict(const char *options, const char *vpath, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%sverdict=%s", options, options[0] ? "," : "", vpath);
    return n > 0 && (size_t)n < outlen && n < 1024;
}

/* One load command with a verdict file; reads and removes the file after. */
static int load_once(const cp_hsattach_target_t *t, const char *path, const char *options,
                     const char *vpath, int timeout_ms, cp_attach_outcome_t *o, char *err, size_t errlen)
{
    char opts[1100];
    bool asked = vpath[0] && with_verdict(options ? options : "", vpath, opts, sizeof opts);
    cp_hsattach_result_t res;
    int rc = cp_hsattach_load(t, path, asked ? opts : options, timeout_ms, &res, err, errlen);
    snprintf(o->reply, sizeof o->reply, "%s", res.text);
    o->has_verdict = false;
    if (!asked) {
        snprintf(o->no_verdict, sizeof o->no_verdict, "%s", vpath[0] ? "the options leave no room for "
                 "the verdict file's name" : "no random name for the verdict file");
    } else if (rc == 0 || rc == CP_ESTATE) {   /* Agent_OnAttach ran */
        int vr = cp_verdict_file_take(t->pid, t->uid, vpath, &o->verdict, o->no_verdict,
                                      sizeof o->no_verdict);
        o->has_verdict = vr == 0;
        if (vr == CP_ENOTFOUND)
            snprintf(o->no_verdict, sizeof o->no_verdict, "an agent older than this cprof?");
    } else {
        cp_verdict_file_discard(t->pid, vpath);   /* in case the agent ran after all */
        snprintf(o->no_verdict, sizeof o->no_verdict, "the attach failed");
    }
    if (rc == CP_ESTATE && o->has_verdict && o->verdict.error[0])
        snprintf(err, errlen, "the agent could not start: %s", o->verdict.error);
    return rc;
}

int cp_attach_pid(pid_t pid, const char *agent, const char *options, int timeout_ms,
                  cp_attach_outcome_t *o, char *err, size_t errlen)
{
    cp_hsattach_target_t t;
    memset(o, 0, sizeof *o);
    int rc = cp_hsattach_inspect(pid, &t, err, errlen);
    if (rc != 0)
        return rc;
    o->java_major = t.java_major;
    o->uid = t.uid;
    o->nspid = t.nspid;
    if (t.agent[0]) {
        o->reconfigured = true;
        snprintf(o->agent, sizeof o->agent, "%s", t.agent);
    } else {
        rc = cp_hsattach_stage_agent(&t, agent, o->agent, sizeof o->agent, err, errlen);
        if (rc != 0)
            return rc;
    }
    char vpath[128] = "";
    cp_verdict_file_name(t.nspid, vpath, sizeof vpath);
    /* A JVM caught right after start answers (JDK 21+) "Dynamic agent
     * loading is only permitted in the live phase": VMInit has not run yet.
     * JDK 17 loads the agent, which finds no JVMTI yet and says "live
     * phase" in its verdict (CP_ESTATE). That passes within moments, so
     * retry until the timeout. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        rc = load_once(&t, o->agent, options, vpath, timeout_ms, o, err, errlen);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if ((rc != CP_EIO && rc != CP_ESTATE) || !strstr(err, "live phase") || spent + 100 >= timeout_ms)
            return rc;
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
        timeout_ms -= (int)spent;
        t0 = t1;
    }
}

int cp_attach_detach_pid(pid_t pid, int timeout_ms, cp_attach_outcome_t *o,
                         char *err, size_t errlen)
{
    cp_hsattach_target_t t;
    memset(o, 0, sizeof *o);
    int rc = cp_hsattach_inspect(pid, &t, err, errlen);
    if (rc != 0)
        return rc;
    o->java_major = t.java_major;
    o->uid = t.uid;
    o->nspid = t.nspid;
    if (!t.agent[0]) {
        snprintf(err, errlen, "no cprof agent is loaded in pid %d", (int)pid);
        return CP_ENOTFOUND;
    }
    o->reconfigured = true;
    snprintf(o->agent, sizeof o->agent, "%s", t.agent);
    char vpath[128] = "";
    cp_verdict_file_name(t.nspid, vpath, sizeof vpath);
    return load_once(&t, t.agent, "command=detach", vpath, timeout_ms, o, err, errlen);
}

/* ---- option check ------------------------------------------------------- */

typedef struct refusals {
    const char *cmd;
    int n;
} refusals_t;

static void refused(void *ud, const char *src, const char *key, const char *value, const char *reason)
{
    refusals_t *r = ud;
    if (!reason)
        return;
    char opt[512];
    cp_options_format_element(src, key, value, opt, sizeof opt);
    fprintf(stderr, "cprof %s: refused: option '%s': %s\n", r->cmd, opt, reason);
    r->n++;
}

int cp_attach_check_options(const char *cmd, const char *options)
{
    refusals_t r = {cmd, 0};
    cp_options_sink_t sink = {NULL, NULL, refused, &r};
    char *copy = strdup(options ? options : "");
    if (!copy)
        return 0;
    char *save = NULL;
    /* one element at a time, split as cp_options_parse splits */
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        if (!strncmp(tok, "token=@", 7))
            continue;   /* read by the agent, in the JVM's filesystem */
        cp_options_t o;
        cp_options_defaults(&o);
        cp_options_parse_to(&o, tok, &sink);
    }
    free(copy);
    return r.n;
}

/* Prints the agent's verdict of one attach to stderr: refusals always, the
 * applied options and the agent's state with -v, "no verdict" when there is
 * none. Returns the number of refused options. */
static int print_verdict(const char *cmd, pid_t pid, const cp_attach_outcome_t *o, bool verbose)
{
    if (!o->has_verdict) {
        fprintf(stderr, "cprof %s: the agent did not report a verdict (%s); its warnings, if any, are in "
                "the JVM's log\n", cmd, o->no_verdict);
        return 0;
    }
    const cp_verdict_t *v = &o->verdict;
    int n = 0;
    if (v->error[0])
        fprintf(stderr, "cprof %s: the agent could not start: %s\n", cmd, v->error);
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->e[i].reason[0]) {
            fprintf(stderr, "cprof %s: the agent refused option '%s': %s\n", cmd, v->e[i].option, v->e[i].reason);
            n++;
        } else if (verbose) {
            fprintf(stderr, "cprof %s: the agent applied option '%s'\n", cmd, v->e[i].option);
        }
    }
    if (v->note_kind[0] && strcmp(v->note_kind, "already-detached"))
        fprintf(stderr, "cprof %s: the agent says: %s\n", cmd, v->note);
    if (verbose && v->state[0])
        fprintf(stderr, "cprof %s: the agent in pid %d is now %s\n", cmd, (int)pid, v->state);
    if (n)
        fprintf(stderr, "cprof %s: pid %d: %d of %u option(s) refused by the agent; the others were applied\n",
                cmd, (int)pid, n, v->n);
    return n;
}

/* ---- command line ----------------------------------------------------- */

static void attach_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof attach [--agent PATH] [--timeout DUR] [--no-check] [-v] PID [OPTION...]\n"
        "\n"
        "Loads the cprof agent into the running JVM PID (HotSpot 8+), or\n"
        "reconfigures the agent already running there. OPTIONs are the agent's\n"
        "key=value options, as words or comma-separated, e.g.\n"
        "  cprof attach 4242 relay=ws://relay:7070 app=checkout label.env=prod cpu=10ms\n"
        "\n"
        "  --agent PATH    libcprof-jvm.so to load [$CPROF_AGENT, else next to cprof]\n"
        "  --timeout DUR   give up after DUR (e.g. 10s, 500ms) [10s]\n"
        "  --no-check      send the OPTIONs unchecked and let the agent judge them\n"
        "                  (an agent newer than this cprof knows options it does not)\n"
        "  -v, --verbose   also list the options the agent applied, its state and the\n"
        "                  JVM's raw answer\n"
        "\n"
        "The OPTIONs are checked with the agent's own rules first: one the agent\n"
        "would refuse is named with the reason, nothing is sent, and the exit code is 2.\n"
        "The agent then reports its own verdict on each option; one it refused (a token\n"
        "file it cannot read, a log file it cannot open, allocation sampling this JVM\n"
        "lacks, ...) is named with the reason and the exit code is 7; the others apply.\n"
        "Exit codes: 0 attached, 1 the JVM could not be attached, 2 wrong command line\n"
        "or an option refused before sending, 7 the agent refused an option.\n"
        "\n"
        "Works on JVMs of other users (run as root) and in containers (the\n"
        "agent is copied into the container's /tmp). See also: cprof detach.\n");
}

static void detach_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof detach [--timeout DUR] PID\n"
        "\n"
        "Tells the cprof agent in JVM PID to stop sampling, flush its last\n"
        "window and disconnect. The JVM runs on; `cprof attach` starts it again.\n"
        "An agent already detached is left as it is (exit 0; it says so).\n");
}

/* Joins words into "a,b,c"; returns malloc'd string (caller frees) or NULL. */
static char *join_options(int n, char **words)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!words[i][0])
            continue;
        if (s[0])
            strcat(s, ",");
        strcat(s, words[i]);
    }
    return s;
}

static int parse_pid(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v <= 0 || v > 0x3fffffff)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

static const char *java_desc(int major, char *buf, size_t len)
{
    if (major > 0)
        snprintf(buf, len, "Java %d", major);
    else
        snprintf(buf, len, "Java");
    return buf;
}

int cp_cmd_attach(int argc, char **argv)
{
    const char *agent = NULL;
    int timeout_ms = DEFAULT_TIMEOUT_MS;
    bool verbose = false, check = true;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            attach_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (!strcmp(a, "--no-check")) {
            check = false;
        } else if (!strcmp(a, "--agent") && i + 1 < argc) {
            agent = argv[++i];
        } else if (!strncmp(a, "--agent=", 8)) {
            agent = a + 8;
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            if ((timeout_ms = cp_attach_parse_ms(argv[++i])) < 0)
                return cp_cli_usage_error("attach", attach_usage, "--timeout '%s' is not a duration "
                                          "(e.g. 10s, 500ms, 2m)", argv[i]);
        } else if (!strcmp(a, "--agent") || !strcmp(a, "--timeout")) {
            return cp_cli_usage_error("attach", attach_usage, "option '%s' needs a value", a);
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (a[0] == '-') {
            return cp_cli_usage_error("attach", attach_usage, "unknown option '%s'", a);
        } else {
            break;
        }
    }
    pid_t pid;
    if (i >= argc)
        return cp_cli_usage_error("attach", attach_usage, "which JVM? give its PID");
    if (parse_pid(argv[i], &pid) != 0)
        return cp_cli_usage_error("attach", attach_usage, "'%s' is not a process id", argv[i]);
    i++;
    char path[4096], err[1024];
    if (!agent) {
        if (cp_hsattach_default_agent(path, sizeof path, err, sizeof err) != 0) {
            fprintf(stderr, "cprof attach: %s\n", err);
            return 1;
        }
        agent = path;
    }
    char *opts = join_options(argc - i, argv + i);
    if (!opts) {
        fprintf(stderr, "cprof attach: out of memory\n");
        return 1;
    }
    int bad = check ? cp_attach_check_options("attach", opts) : 0;
    if (bad) {
        fprintf(stderr, "cprof attach: pid %d left as it was: %d option(s) refused by the agent's rules "
                "(jvmti/options.h, README \"Agent options\")\n", (int)pid, bad);
        free(opts);
        return CP_EXIT_USAGE;
    }
    cp_attach_outcome_t o;
    int rc = cp_attach_pid(pid, agent, opts, timeout_ms, &o, err, sizeof err);
    char jd[32];
    if (verbose)
        fprintf(stderr, "cprof attach: pid %d (ns pid %d) answered: \"%s\"\n", (int)pid,
                (int)o.nspid, o.reply);
    if (rc != 0) {
        fprintf(stderr, "cprof attach: pid %d: %s\n", (int)pid, err);
        free(opts);
        return CP_EXIT_FAIL;
    }
    if (o.reconfigured) {
        printf("cprof: reconfigured the agent in pid %d (%s, uid %lu) with options '%s'\n",
               (int)pid, java_desc(o.java_major, jd, sizeof jd), (unsigned long)o.uid, opts);
    } else {
        printf("cprof: attached to pid %d (%s, uid %lu): loaded %s with options '%s'\n",
               (int)pid, java_desc(o.java_major, jd, sizeof jd), (unsigned long)o.uid,
               o.agent, opts);
    }
    fflush(stdout);
    free(opts);
    int refused = print_verdict("attach", pid, &o, verbose);
    if (o.has_verdict && o.verdict.error[0])
        return CP_EXIT_FAIL;   /* loaded, but the agent stays idle */
    return refused ? CP_EXIT_REFUSED : CP_EXIT_OK;
}

int cp_cmd_detach(int argc, char **argv)
{
    int timeout_ms = DEFAULT_TIMEOUT_MS;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            detach_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            if ((timeout_ms = cp_attach_parse_ms(argv[++i])) < 0)
                return cp_cli_usage_error("detach", detach_usage, "--timeout '%s' is not a duration "
                                          "(e.g. 10s, 500ms, 2m)", argv[i]);
        } else if (!strcmp(a, "--timeout")) {
            return cp_cli_usage_error("detach", detach_usage, "option '%s' needs a value", a);
        } else if (a[0] == '-') {
            return cp_cli_usage_error("detach", detach_usage, "unknown option '%s'", a);
        } else {
            break;
        }
    }
    pid_t pid;
    if (i >= argc)
        return cp_cli_usage_error("detach", detach_usage, "which JVM? give its PID");
    if (i + 1 < argc)
        return cp_cli_usage_error("detach", detach_usage, "one PID at a time: '%s' follows PID %s", argv[i + 1],
                                  argv[i]);
    if (parse_pid(argv[i], &pid) != 0)
        return cp_cli_usage_error("detach", detach_usage, "'%s' is not a process id", argv[i]);
    char err[1024];
    cp_attach_outcome_t o;
    int rc = cp_attach_detach_pid(pid, timeout_ms, &o, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cprof detach: pid %d: %s\n", (int)pid, err);
        return CP_EXIT_FAIL;
    }
    if (o.has_verdict && !strcmp(o.verdict.note_kind, "already-detached"))
        printf("cprof: the agent in pid %d was already detached: nothing to stop or flush\n", (int)pid);
    else
        printf("cprof: detached the agent in pid %d (sampling stopped, data flushed)\n", (int)pid);
    if (o.has_verdict && cp_verdict_refused(&o.verdict)) {   /* the JVM shutting down */
        fflush(stdout);
        print_verdict("detach", pid, &o, false);
        return CP_EXIT_REFUSED;
    }
    return CP_EXIT_OK;
}
