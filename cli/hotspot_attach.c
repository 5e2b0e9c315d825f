/* hotspot_attach.c - HotSpot dynamic-attach client (see hotspot_attach.h).
 *
 * Sequence for one `load`:
 *   parent: inspect /proc/PID (is it a HotSpot JVM? uid/gid, namespace pid,
 *           SIGQUIT caught?), stage the agent .so where the target sees it,
 *           fork a child, wait for its report on a pipe (bounded by timeout).
 *   child:  open /proc/PID/root (the target's filesystem, also across mount
 *           namespaces) while still privileged; switch egid/euid to the
 *           target's; if /tmp/.java_pid<nspid> does not answer, create
 *           /tmp/.attach_pid<nspid> (owned by the target's euid, which the
 *           JVM checks), SIGQUIT the JVM, poll for the socket; connect with
 *           a path relative to the target root (fchdir), send the request,
 *           read the answer to EOF, pipe it back to the parent.
 *
 * Why a child: seteuid and fchdir change the whole process; `cprof watch`
 * must keep root and its own cwd between attaches. Why /proc/PID/root
 * instead of setns(CLONE_NEWNS): it reaches the target's /tmp and cwd from
 * the host without needing the container to mount its own /proc, and
 * filesystem UNIX sockets connect across network namespaces.
 *
 * Safety: SIGQUIT is only sent to a process that maps libjvm.so and has a
 * SIGQUIT handler installed (SigCgt in /proc/PID/status); to anything else
 * the default action would kill it. */
#include "hotspot_attach.h"
#include "hotspot_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "procfile.h"


#define ARG_MAX_LEN 1024          /* HotSpot's per-argument limit (protocol v1) */

void cp__hs_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int cp_hsattach_java_major(const char *v)
{
    if (!v)
        return 0;
    while (*v == '"' || *v == ' ')
        v++;
    if (!isdigit((unsigned char)*v))
        return 0;
    long a = strtol(v, (char **)&v, 10);
    if (a == 1 && *v == '.') {       /* 1.8.0_392 */
        v++;
        if (!isdigit((unsigned char)*v))
            return 0;
        a = strtol(v, NULL, 10);
    }
    return (a > 0 && a < 1000) ? (int)a : 0;
}

/* "-XX:+DisableAttachMechanism" / "-XX:-DisableAttachMechanism" inside a
 * whitespace-separated option string: updates *state (last one wins). */
static void scan_disable_flag(const char *s, bool *state)
{
    static const char flag[] = "DisableAttachMechanism";
    for (const char *p = s; (p = strstr(p, flag)) != NULL; p += sizeof flag - 1) {
        if (p - s >= 5 && !strncmp(p - 5, "-XX:", 4)) {
            char sign = p[-1];
            if (sign == '+')
                *state = true;
            else if (sign == '-')
                *state = false;
        }
    }
}

static void scan_env(const char *env, size_t n, const char *name, bool *state)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n;) {
        const char *e = env + i;
        size_t el = strnlen(e, n - i);
        if (el > nl && !strncmp(e, name, nl) && e[nl] == '=')
            scan_disable_flag(e + nl + 1, state);
        i += el + 1;
    }
}

/* Finds the java home for a libjvm path and reads JAVA_VERSION from its
 * `release` file (through /proc/PID/root). */
static int read_java_major(pid_t pid, const char *libjvm)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", libjvm);
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return 0;
        *slash = '\0';
        char path[PATH_MAX + 64], buf[4096];
        snprintf(path, sizeof path, "/proc/%d/root%s/release", (int)pid, dir);
        if (cp_procfile_read(path, buf, sizeof buf) > 0) {
            char *v = strstr(buf, "JAVA_VERSION=");
            if (v)
                return cp_hsattach_java_major(v + strlen("JAVA_VERSION="));
        }
    }
    return 0;
}

int cp_hsattach_inspect(pid_t pid, cp_hsattach_target_t *t, char *err, size_t errlen)
{
    char path[64], buf[8192];
    memset(t, 0, sizeof *t);
    t->pid = pid;
    t->nspid = pid;
    if (pid <= 0) {
        cp__hs_seterr(err, errlen, "invalid pid %d", (int)pid);
        return CP_EINVAL;
    }

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    ssize_t n = cp_procfile_read(path, buf, sizeof buf);
    if (n < 0) {
        cp__hs_seterr(err, errlen, "no process with pid %d", (int)pid);
        return CP_ENOTFOUND;
    }
    bool have_uid = false, have_gid = false;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        unsigned long a, b;
        if (sscanf(line, "Uid: %lu %lu", &a, &b) == 2) {
            t->uid = (uid_t)b;
            have_uid = true;
        } else if (sscanf(line, "Gid: %lu %lu", &a, &b) == 2) {
            t->gid = (gid_t)b;
            have_gid = true;
        } else if (!strncmp(line, "NStgid:", 7)) {
            /* one pid per nested namespace, innermost last */
            char *last = NULL, *save = NULL;
            for (char *tok = strtok_r(line + 7, " \t", &save); tok;
                 tok = strtok_r(NULL, " \t", &save))
                last = tok;
            if (last && atoi(last) > 0)
                t->nspid = (pid_t)atoi(last);
        } else if (!strncmp(line, "SigCgt:", 7)) {
            unsigned long long mask = strtoull(line + 7, NULL, 16);
            t->quit_caught = (mask >> (SIGQUIT - 1)) & 1;
        } else if (!strncmp(line, "State:", 6) && strchr(line, 'Z')) {
            cp__hs_seterr(err, errlen, "pid %d is a zombie (exited)", (int)pid);
            return CP_ENOTFOUND;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!have_uid || !have_gid) {
        cp__hs_seterr(err, errlen, "cannot parse /proc/%d/status", (int)pid);
        return CP_EIO;
    }

    /* Mapped libraries: libjvm.so says HotSpot; our agent may already be in. */
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == EACCES || errno == EPERM) {
            cp__hs_seterr(err, errlen, "permission denied reading /proc/%d/maps "
                   "(run as root or as the JVM's user, uid %lu)", (int)pid,
                   (unsigned long)t->uid);
            return CP_EPERM;
        }
        cp__hs_seterr(err, errlen, "no process with pid %d", (int)pid);
        return CP_ENOTFOUND;
    }
    bool openj9 = false, any_line = false;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        any_line = true;
        char *p = strchr(line, '/');
        if (!p)
            continue;
        p[strcspn(p, "\n")] = '\0';
        char *del = strstr(p, " (deleted)");
        if (del)
            *del = '\0';
        const char *base = strrchr(p, '/') + 1;
        if (!t->libjvm[0] && !strcmp(base, "libjvm.so"))
            snprintf(t->libjvm, sizeof t->libjvm, "%s", p);
        else if (!t->agent[0] && !strncmp(base, AGENT_BASENAME, strlen(AGENT_BASENAME)) &&
                 strstr(base, ".so"))
            snprintf(t->agent, sizeof t->agent, "%s", p);
        else if (!strncmp(base, "libj9vm", 7))
            openj9 = true;
    }
    free(line);
    fclose(f);
    if (!any_line) {
        /* Empty maps: kernel thread, or a process we may not inspect. */
        cp__hs_seterr(err, errlen, "pid %d is not a JVM (no memory maps visible; "
               "kernel thread or no permission)", (int)pid);
        return CP_EUNSUPP;
    }
    if (!t->libjvm[0]) {
        char comm[64] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        cp_procfile_read(path, comm, sizeof comm);
        comm[strcspn(comm, "\n")] = '\0';
        if (openj9)
            cp__hs_seterr(err, errlen, "pid %d (%s) is an OpenJ9 JVM; cprof attach speaks "
                   "HotSpot's attach protocol only (start it with -agentpath instead)",
                   (int)pid, comm);
        else
            cp__hs_seterr(err, errlen, "pid %d (%s) is not a JVM (no libjvm.so mapped)",
                   (int)pid, comm);
        return CP_EUNSUPP;
    }

    /* -XX:+DisableAttachMechanism: cmdline, and the env variables the
     * launcher/JVM read (JAVA_TOOL_OPTIONS first, _JAVA_OPTIONS last). */
    bool disabled = false;
    char *env = NULL, *cmd = NULL;
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    ssize_t en = cp_procfile_read_all(path, &env, 1u << 17);
    if (en > 0) {
        scan_env(env, (size_t)en, "JAVA_TOOL_OPTIONS", &disabled);
        scan_env(env, (size_t)en, "JDK_JAVA_OPTIONS", &disabled);
    }
    /* the whole command line: a long classpath must not hide the flag */
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    ssize_t cn = cp_procfile_read_all(path, &cmd, 4u << 20);
    for (ssize_t i = 0; i < cn;) {
        scan_disable_flag(cmd + i, &disabled);
        i += (ssize_t)strlen(cmd + i) + 1;
    }
    free(cmd);
    if (en > 0)
        scan_env(env, (size_t)en, "_JAVA_OPTIONS", &disabled);
    free(env);
    t->attach_disabled = disabled;

    struct stat a, b;
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
    if (stat("/proc/self/ns/mnt", &a) == 0 && stat(path, &b) == 0)
        t->mntns_differs = a.st_ino != b.st_ino || a.st_dev != b.st_dev;

    t->java_major = read_java_major(pid, t->libjvm);
    if (t->java_major > 0 && t->java_major < 6) {
        cp__hs_seterr(err, errlen, "pid %d runs Java %d, too old for dynamic attach (Java 6+); "
               "start it with -agentpath instead", (int)pid, t->java_major);
        return CP_EUNSUPP;
    }
    return 0;
}

/* ---- the load command -------------------------------------------------- */

int cp_hsattach_parse_reply(const char *reply, size_t len, int *agent_rc,
                            char *err, size_t errlen)
{
    char buf[1024];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, reply, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)      /* NULs never belong to the text */
        if (buf[i] == '\0')
            buf[i] = ' ';
    char *nl = strchr(buf, '\n');
    char *rest = nl ? nl + 1 : buf + n;
    if (nl)
        *nl = '\0';
    char *end;
    long status = strtol(buf, &end, 10);
    while (*rest && isspace((unsigned char)rest[strlen(rest) - 1]))
        rest[strlen(rest) - 1] = '\0';
    if (end == buf) {
        cp__hs_seterr(err, errlen, "unexpected answer from the JVM: \"%s\"", buf);
        return CP_EIO;
    }
    if (status != 0) {
        cp__hs_seterr(err, errlen, "the JVM refused the load command (status %ld)%s%s",
               status, *rest ? ": " : "", rest);
        return CP_EIO;
    }
    /* JDK 9+: "return code: N"; JDK 21+ may add text after it. */
    char *rcp = strstr(rest, "return code:");
    if (rcp) {
        *agent_rc = (int)strtol(rcp + strlen("return code:"), NULL, 10);
        return 0;
    }
    /* JDK 8: a bare number */
    long v = strtol(rest, &end, 10);
    if (end != rest) {
        *agent_rc = (int)v;
        return 0;
    }
    if (!*rest) {
        *agent_rc = 0;
        return 0;
    }
    cp__hs_seterr(err, errlen, "the JVM could not load the agent: %s", rest);
    return CP_EIO;
}

/* Child -> parent report: one kind byte, then text. */
enum { R_REPLY = 0, R_PERM, R_NOLISTENER, R_IO, R_UNSUPP, R_NOREPLY, R_GONE };

static void child_report(int fd, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void child_report(int fd, int kind, const char *fmt, ...)
{
    char msg[1024];
    msg[0] = (char)kind;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + 1, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    ssize_t w = write(fd, msg, (size_t)n + 1);
    (void)w;
}

static int try_connect(const char *rel)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", rel);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0)
        return s;
    close(s);
    return -1;
}

static void child_main(int wfd, const cp_hsattach_target_t *t, const char *agent,
                       const char *options, int64_t deadline)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/root", (int)t->pid);
    int rootfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof p, "/proc/%d/cwd", (int)t->pid);
    int cwdfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        child_report(wfd, errno == ENOENT ? R_GONE : R_PERM,
                     "cannot open /proc/%d/root: %s", (int)t->pid, strerror(errno));
        return;
    }
    /* Work from the target's root: relative paths below resolve in its
     * filesystem; as root in another mount namespace also chroot there, so
     * an absolute symlink such as /tmp -> /private/tmp resolves in the
     * target's tree, not ours. */
    if (fchdir(rootfd) != 0) {
        child_report(wfd, R_PERM, "cannot enter the JVM's root directory: %s", strerror(errno));
        return;
    }
    if (t->mntns_differs && geteuid() == 0) {
        int rc = chroot(".");   /* best effort: relative paths suffice for usual layouts */
        (void)rc;
    }
    /* The JVM accepts peers with its own euid/egid (or root), and starts the
     * listener only if the trigger file is owned by its euid. */
    if (getegid() != t->gid && setegid(t->gid) != 0) {
        child_report(wfd, R_PERM, "cannot switch to the JVM's group %lu: %s "
                     "(run as root or as the JVM's user)", (unsigned long)t->gid,
                     strerror(errno));
        return;
    }
    if (geteuid() != t->uid && seteuid(t->uid) != 0) {
        child_report(wfd, R_PERM, "cannot switch to the JVM's user %lu: %s "
                     "(run as root or as the JVM's user)", (unsigned long)t->uid,
                     strerror(errno));
        return;
    }
    char sock[64], trig[64];
    snprintf(sock, sizeof sock, "tmp/.java_pid%d", (int)t->nspid);
    snprintf(trig, sizeof trig, ".attach_pid%d", (int)t->nspid);

    int s = try_connect(sock);
    if (s < 0) {
        if (t->attach_disabled) {
            /* Fail fast: a SIGQUIT would only print a thread dump there. */
            child_report(wfd, R_UNSUPP, "the JVM runs with -XX:+DisableAttachMechanism: "
                         "attach is disabled; restart it with -agentpath instead");
            return;
        }
        if (!t->quit_caught) {
            child_report(wfd, R_UNSUPP, "the JVM has no SIGQUIT handler, so its attach "
                         "listener cannot be started (it runs with -Xrs, or is still "
                         "starting up: retry in a second)");
            return;
        }
        /* Trigger file: the JVM looks in its cwd and in /tmp. */
        int trig_dir = -1, tfd;
        char tpath[80];
        snprintf(tpath, sizeof tpath, "tmp/%s", trig);
        unlinkat(rootfd, tpath, 0);
        tfd = openat(rootfd, tpath, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0660);
        if (tfd >= 0) {
            trig_dir = rootfd;
        } else if (cwdfd >= 0) {
            snprintf(tpath, sizeof tpath, "%s", trig);
            unlinkat(cwdfd, tpath, 0);
            tfd = openat(cwdfd, tpath, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0660);
            if (tfd >= 0)
                trig_dir = cwdfd;
        }
        if (tfd < 0) {
            child_report(wfd, R_PERM, "cannot create the attach trigger file %s in the "
                         "JVM's /tmp or working directory: %s", trig, strerror(errno));
            return;
        }
        close(tfd);
        if (kill(t->pid, SIGQUIT) != 0) {
            unlinkat(trig_dir, tpath, 0);
            child_report(wfd, errno == ESRCH ? R_GONE : R_PERM, "cannot signal pid %d: %s",
                         (int)t->pid, strerror(errno));
            return;
        }
        int delay = 5;
        while ((s = try_connect(sock)) < 0) {
            if (kill(t->pid, 0) != 0 && errno == ESRCH) {
                unlinkat(trig_dir, tpath, 0);
                child_report(wfd, R_GONE, "pid %d exited while attaching", (int)t->pid);
                return;
            }
            if (now_ms() >= deadline) {
                unlinkat(trig_dir, tpath, 0);
                child_report(wfd, R_NOLISTENER, "no attach listener appeared at "
                                 "/tmp/.java_pid%d: attach disabled "
                                 "(-XX:+DisableAttachMechanism), a JVM too old for "
                                 "dynamic attach, or the JVM is hung", (int)t->nspid);
                return;
            }
            sleep_ms(delay);
            if (delay < 100)
                delay *= 2;
        }
        unlinkat(trig_dir, tpath, 0);
    }

    /* Request: protocol 1, command, exactly three arguments. */
    char req[3 * ARG_MAX_LEN + 32];
    size_t rl = 0;
    const char *parts[] = {"1", "load", agent, "true", options ? options : ""};
    for (size_t i = 0; i < 5; i++) {
        size_t l = strlen(parts[i]);
        memcpy(req + rl, parts[i], l + 1);
        rl += l + 1;
    }
    for (size_t off = 0; off < rl;) {
        ssize_t w = send(s, req + off, rl - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            child_report(wfd, R_IO, "writing to the attach socket: %s", strerror(errno));
            close(s);
            return;
        }
        off += (size_t)w;
    }
    char reply[1024];
    size_t n = 0;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            child_report(wfd, R_NOREPLY, "the JVM accepted the command but did not "
                         "answer in time (Agent_OnAttach still running?)");
            close(s);
            return;
        }
        struct pollfd pfd = {s, POLLIN, 0};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(s, reply + n, sizeof reply - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) >= sizeof reply - 1)
            break;
    }
    close(s);
    char msg[1024];
    msg[0] = R_REPLY;
    memcpy(msg + 1, reply, n);
    ssize_t w = write(wfd, msg, n + 1);
    (void)w;
}

int cp_hsattach_load(const cp_hsattach_target_t *t, const char *agent_path,
                     const char *options, int timeout_ms,
                     cp_hsattach_result_t *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (strlen(agent_path) >= ARG_MAX_LEN) {
        cp__hs_seterr(err, errlen, "agent path longer than %d bytes", ARG_MAX_LEN - 1);
        return CP_ETOOBIG;
    }
    if (options && strlen(options) >= ARG_MAX_LEN) {
        cp__hs_seterr(err, errlen, "agent options longer than %d bytes (the attach protocol's "
               "limit)", ARG_MAX_LEN - 1);
        return CP_ETOOBIG;
    }
    if (timeout_ms <= 0)
        timeout_ms = 10000;
    int64_t deadline = now_ms() + timeout_ms;

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cp__hs_seterr(err, errlen, "pipe: %s", strerror(errno));
        return CP_EIO;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        close(pfd[0]);
        close(pfd[1]);
        cp__hs_seterr(err, errlen, "fork: %s", strerror(errno));
        return CP_EIO;
    }
    if (child == 0) {
        close(pfd[0]);
        signal(SIGPIPE, SIG_IGN);
        child_main(pfd[1], t, agent_path, options, deadline);
        _exit(0);
    }
    close(pfd[1]);

    char msg[1100];
    size_t n = 0;
    bool killed = false;
    for (;;) {
        int left = (int)(deadline + 2000 - now_ms());
        if (left <= 0) {
            kill(child, SIGKILL);
            killed = true;
            break;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(pfd[0], msg + n, sizeof msg - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) >= sizeof msg - 1)
            break;
    }
    close(pfd[0]);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    msg[n] = '\0';
    if (killed || n == 0) {
        cp__hs_seterr(err, errlen, "attach to pid %d timed out", (int)t->pid);
        return CP_ETIMEOUT;
    }
    int kind = msg[0];
    const char *text = msg + 1;
    switch (kind) {
    case R_REPLY: {
        size_t tl = n - 1;
        size_t cl = tl < sizeof res->text - 1 ? tl : sizeof res->text - 1;
        memcpy(res->text, text, cl);
        res->text[cl] = '\0';
        int rc = cp_hsattach_parse_reply(text, tl, &res->agent_rc, err, errlen);
        if (rc != 0)
            return rc;
        if (res->agent_rc != 0) {
            cp__hs_seterr(err, errlen, "the agent was loaded but Agent_OnAttach returned %d "
                   "(see the JVM's stderr or the agent log)", res->agent_rc);
            return CP_ESTATE;
        }
        return 0;
    }
    case R_PERM:
        cp__hs_seterr(err, errlen, "%s", text);
        return CP_EPERM;
    case R_NOLISTENER:
    case R_NOREPLY:
        cp__hs_seterr(err, errlen, "%s", text);
        return CP_ETIMEOUT;
    case R_UNSUPP:
        cp__hs_seterr(err, errlen, "%s", text);
        return CP_EUNSUPP;
    case R_GONE:
        cp__hs_seterr(err, errlen, "%s", text);
        return CP_ENOTFOUND;
    default:
        cp__hs_seterr(err, errlen, "%s", text);
        return CP_EIO;
    }
}

int cp_hsattach_default_agent(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *env = getenv("CPROF_AGENT");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            cp__hs_seterr(err, errlen, "CPROF_AGENT=%s: %s", env, strerror(errno));
            return CP_ENOTFOUND;
        }
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        cp__hs_seterr(err, errlen, "cannot find the cprof executable; use --agent PATH");
        return CP_ENOTFOUND;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    static const char *const rel[] = {
        "../jvmti/" AGENT_BASENAME ".so",           /* build tree: build/cli/cprof */
        "../lib/" AGENT_BASENAME ".so",             /* installed: PREFIX/bin/cprof */
        "../lib/x86_64-linux-gnu/" AGENT_BASENAME ".so",
        "../lib/aarch64-linux-gnu/" AGENT_BASENAME ".so",
        "../lib64/" AGENT_BASENAME ".so",
        AGENT_BASENAME ".so",
    };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX + 64], real[PATH_MAX];
        snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
        if (access(cand, R_OK) == 0 && realpath(cand, real)) {
            snprintf(out, outlen, "%s", real);
            return 0;
        }
    }
    cp__hs_seterr(err, errlen, "cannot find " AGENT_BASENAME ".so next to %s (looked in "
           "../jvmti, ../lib, ../lib/<arch>, .); use --agent PATH or CPROF_AGENT", exe);
    return CP_ENOTFOUND;
}
