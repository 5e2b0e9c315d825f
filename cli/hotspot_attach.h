/* hotspot_attach.h - load a JVMTI agent into a running HotSpot JVM, in C.
 *
 * The same protocol jcmd and jattach speak (see shared/FACTS.md and
 * docs/attach.md): create `.attach_pid<nspid>` in the target's /tmp, send
 * SIGQUIT, wait for the UNIX socket `/tmp/.java_pid<nspid>`, write
 * `1\0load\0<path>\0true\0<options>\0`, read the status.
 *
 * Works across users (switches euid/egid to the target's, as the JVM checks
 * its peer's credentials and the trigger file's owner) and across
 * containers / PID namespaces (files and socket are reached through
 * /proc/PID/root, the JVM is told its own namespace pid, the agent .so is
 * copied where the target can see it). All credential changes happen in a
 * short-lived forked child, so the caller (e.g. `cprof watch`, a long-running
 * daemon) keeps its own identity and namespace.
 *
 * Thread: any, but not thread-safe against concurrent fork-sensitive code
 * (uses fork()). Errors: negative CP_E* codes plus a human sentence in the
 * caller's `err` buffer (always NUL-terminated). */
#ifndef CP_HOTSPOT_ATTACH_H
#define CP_HOTSPOT_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What /proc says about a process, from the attacher's point of view. */
typedef struct cp_hsattach_target {
    pid_t pid;                /* host pid (our /proc) */
    pid_t nspid;              /* pid inside its innermost PID namespace */
    uid_t uid;                /* effective uid of the target */
    gid_t gid;                /* effective gid of the target */
    bool  mntns_differs;      /* runs in another mount namespace (container) */
    bool  quit_caught;        /* SIGQUIT handler installed (JVM is up, no -Xrs) */
    bool  attach_disabled;    /* -XX:+DisableAttachMechanism on cmdline or in env */
    int   java_major;         /* 8, 17, 25...; 0 when unknown */
    char  libjvm[PATH_MAX];   /* libjvm.so path (target's view), "" if none */
    char  agent[PATH_MAX];    /* loaded libcprof-jvm*.so (target's view), "" if none */
} cp_hsattach_target_t;

/* Reads /proc/PID/{status,maps,cmdline,environ,ns/mnt}. Fails with
 * CP_ENOTFOUND (no such process), CP_EUNSUPP (not a HotSpot JVM, or one
 * older than Java 6: message says which), CP_EPERM (cannot read it).
 * Never signals the process. */
int cp_hsattach_inspect(pid_t pid, cp_hsattach_target_t *t /* OUT */,
                        char *err, size_t errlen);

/* Makes the agent at `host_path` (a path in our mount namespace) loadable by
 * the target and writes the path the target must use into `out`.
 * Same mount namespace and the target's uid can read it: out = realpath.
 * Otherwise copies it to the target's /tmp as
 * `/tmp/cprof-agent-<uid>/libcprof-jvm-<content hash>.so` (mode 0644; an
 * existing copy is reused only if its bytes match and nobody but root or
 * the target owns it), so re-attaching names the same file and the JVM's
 * dlopen returns the already-loaded agent instead of a second copy. */
int cp_hsattach_stage_agent(const cp_hsattach_target_t *t, const char *host_path,
                            char *out /* OUT */, size_t outlen,
                            char *err, size_t errlen);

/* Result of a load command. */
typedef struct cp_hsattach_result {
    int  agent_rc;            /* Agent_OnAttach's return value */
    char text[512];           /* the JVM's raw answer after the status line */
} cp_hsattach_result_t;

/* Sends `load <agent_path> true <options>` to the target (starting its
 * attach listener first if needed) and waits up to timeout_ms in all.
 * `agent_path` is in the target's view (see cp_hsattach_stage_agent).
 * Returns 0 when the JVM loaded the library and Agent_OnAttach returned 0;
 * CP_ESTATE when Agent_OnAttach returned non-zero (res->agent_rc); CP_EIO
 * when the JVM refused (message in err); CP_ETIMEOUT when no listener came
 * up or no answer arrived (err names the likely reasons); CP_EPERM;
 * CP_EUNSUPP (-XX:+DisableAttachMechanism seen, or no SIGQUIT handler yet:
 * still starting); CP_ETOOBIG
 * (path or options longer than the protocol's 1024 bytes). */
int cp_hsattach_load(const cp_hsattach_target_t *t, const char *agent_path,
                     const char *options, int timeout_ms,
                     cp_hsattach_result_t *res /* OUT */, char *err, size_t errlen);

/* Parses a JVM's answer to `load` (the bytes read from the socket):
 * status line, then "return code: N" (JDK 9+), a bare number (JDK 8), or an
 * error text. Returns 0 and sets *agent_rc when the library was loaded
 * (whatever Agent_OnAttach returned); CP_EIO when the JVM reports an error
 * (its text copied to err). Pure function, exposed for unit tests. */
int cp_hsattach_parse_reply(const char *reply, size_t len, int *agent_rc /* OUT */,
                            char *err, size_t errlen);

/* Default agent path: $CPROF_AGENT, else libcprof-jvm.so found relative to
 * the running cprof executable (build tree: ../jvmti/; installed: ../lib/,
 * ../lib/<multiarch>/; or the same directory). Returns 0 or CP_ENOTFOUND
 * (err lists where it looked). */
int cp_hsattach_default_agent(char *out /* OUT */, size_t outlen, char *err, size_t errlen);

/* Java major version from a JAVA_VERSION string ("1.8.0_392" -> 8,
 * "17.0.9" -> 17, "25" -> 25); 0 if unparsable. Pure, for unit tests. */
int cp_hsattach_java_major(const char *version);

#endif
