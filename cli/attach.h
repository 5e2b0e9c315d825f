/* attach.h - attach/re-attach/detach logic shared by `cprof attach`,
 * `cprof detach` and `cprof watch` (cli/attach.c).
 *
 * One agent per JVM: when /proc/PID/maps already shows a libcprof-jvm*.so,
 * the load command names that same path, so HotSpot's dlopen returns the
 * loaded library and its Agent_OnAttach reconfigures the running agent
 * (options.h: a later attach's options replace the earlier ones;
 * `command=detach` stops it). Thread: main. */
#ifndef CP_ATTACH_H
#define CP_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../jvmti/verdict.h"

typedef struct cp_attach_outcome {
    bool reconfigured;          /* the agent was already loaded */
    int  java_major;            /* 0 when unknown */
    uid_t uid;                  /* the JVM's effective uid */
    pid_t nspid;                /* pid inside the JVM's PID namespace */
    char agent[PATH_MAX];       /* path loaded, as the JVM sees it */
    char reply[512];            /* the JVM's raw answer after its status line */
    bool has_verdict;           /* the agent reported its verdict (below) */
    char no_verdict[256];       /* else why not, a sentence */
    cp_verdict_t verdict;       /* the agent's own verdict on each option */
} cp_attach_outcome_t;

/* Loads (or reconfigures) the agent at host path `agent` in `pid` with
 * `options` (comma-separated key=value, may be ""). Adds the internal
 * option verdict=PATH, so the agent reports its verdict on each option
 * (jvmti/verdict.h), read back into o->verdict. Returns 0 or a CP_E*
 * code with a sentence in err; CP_ESTATE when Agent_OnAttach failed (the
 * verdict's error, when there is one, says why). */
int cp_attach_pid(pid_t pid, const char *agent, const char *options, int timeout_ms,
                  cp_attach_outcome_t *o /* OUT */, char *err, size_t errlen);

/* Sends `command=detach` to the agent running in `pid` (with a verdict
 * file, as above: its note says whether it was already detached).
 * CP_ENOTFOUND when no cprof agent is loaded there. */
int cp_attach_detach_pid(pid_t pid, int timeout_ms, cp_attach_outcome_t *o /* OUT */,
                         char *err, size_t errlen);

/* Checks agent options ("k=v,k=v") with the agent's own parser, element
 * by element; prints "cprof CMD: refused: <the agent's reason>" for each
 * it would refuse and returns how many (0 = all would be applied).
 * token=@FILE is not checked (the agent reads FILE in the JVM's
 * filesystem). */
int cp_attach_check_options(const char *cmd, const char *options);

/* Parses "2s", "500ms", "10" (seconds) into milliseconds; -1 if malformed. */
int cp_attach_parse_ms(const char *s);

#endif
