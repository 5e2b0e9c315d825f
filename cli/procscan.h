/* procscan.h - what `cprof watch` needs to know about processes, from /proc.
 *
 * The pure parsers (cp_procscan_java_app, cp_procscan_container_id,
 * cp_procscan_parse_stat) work on strings so unit tests can feed them
 * fake command lines and cgroup files; the readers wrap them around
 * /proc/PID/... Thread: any (no global state). */
#ifndef CP_PROCSCAN_H
#define CP_PROCSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Numeric entries of /proc, sorted ascending. *pids is malloc'd (caller
 * frees, also on error: NULL then). Returns 0 or CP_EIO / CP_ENOMEM. */
int cp_procscan_list(pid_t **pids /* OUT */, size_t *n /* OUT */);

/* From the text of /proc/PID/stat: comm (without parentheses, truncated to
 * commlen-1) and start time (field 22, clock ticks since boot). (pid, start
 * time) names one process across pid reuse; comm changes on exec.
 * Returns 0 or CP_EINVAL. */
int cp_procscan_parse_stat(const char *stat, char *comm /* OUT */, size_t commlen,
                           unsigned long long *start /* OUT */);

/* Reads /proc/PID/stat and parses it. CP_ENOTFOUND if the process is gone. */
int cp_procscan_stat(pid_t pid, char *comm /* OUT */, size_t commlen,
                     unsigned long long *start /* OUT */);

/* Seconds the process has been running (from its start time and
 * /proc/uptime); -1 on error. */
double cp_procscan_age(unsigned long long start);

/* Application name of a java command line (argv[0] is the launcher):
 * the value of -Dcprof.app=NAME if given, else the main class (also for
 * -m module/class), else the jar's file name without ".jar" for -jar.
 * Writes "" if none (e.g. `java -version`). Options that take a separate
 * value (-cp, --module-path, ...) are skipped correctly. */
void cp_procscan_java_app(int argc, const char *const *argv, char *out /* OUT */,
                          size_t outlen);

/* Container id from the text of /proc/PID/cgroup: the last 64-hex-digit
 * run (docker, containerd/cri, podman/libpod, kubepods paths), shortened
 * to 12 digits as `docker ps` shows it. Returns true and fills out, or
 * false (not in a container, or not visible). */
bool cp_procscan_container_id(const char *cgroup, char *out /* OUT */, size_t outlen);

/* A process as watch sees it. */
typedef struct cp_proc_info {
    pid_t pid;
    char *cmdline;           /* whole argv joined with spaces; owned, see fini */
    char  app[256];          /* see cp_procscan_java_app */
    char  container[16];     /* short container id, "" if none */
    bool  cprof_app;         /* app came from -Dcprof.app= */
} cp_proc_info_t;

/* Reads cmdline (all of it: classpaths can be long) and cgroup of a
 * process. app: cp_procscan_java_app when argv[0] is "java", else argv[0]'s
 * base name (javac, a custom launcher). Returns 0 (caller then owes
 * cp_procscan_info_fini), CP_ENOTFOUND if gone, CP_ENOMEM. */
int cp_procscan_read(pid_t pid, cp_proc_info_t *out /* OUT */);

/* Frees what cp_procscan_read allocated; safe twice. */
void cp_procscan_info_fini(cp_proc_info_t *o);

#endif
