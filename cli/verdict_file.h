/* verdict_file.h - the agent's verdict file, from `cprof attach`'s side:
 * name it, then read and remove it through /proc/PID/root (the format and
 * the agent's side: jvmti/verdict.h).
 *
 * The file lives in the JVM's own /tmp, which a JVM in a container or with
 * PrivateTmp sees differently from us: it is reached as
 * /proc/PID/root/tmp/NAME, opened with O_NOFOLLOW under a /tmp opened with
 * O_NOFOLLOW too (a symlinked /tmp would lead out of the JVM's tree), and
 * trusted only if it is a regular file with one link, owned by the JVM's
 * user, readable by nobody else. Thread: main (or a watch worker). */
#ifndef CP_VERDICT_FILE_H
#define CP_VERDICT_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "../jvmti/verdict.h"

/* Writes "/tmp/.cprof-verdict-<nspid>-<16 random hex digits>" (the JVM's
 * view) into out. Returns 0 or CP_EIO (no randomness). */
int cp_verdict_file_name(pid_t nspid, char *out /* OUT */, size_t outlen);

/* Reads the verdict the agent in host pid `pid` (running as `uid`) wrote to
 * `path` (the JVM's view, as named above), removes the file, parses it into
 * v. Returns 0; CP_ENOTFOUND when there is no file (an agent that writes no
 * verdict); CP_EPERM when the file is not to be trusted (left alone); CP_EIO;
 * or cp_verdict_parse's error. `why` gets a sentence on failure. */
int cp_verdict_file_take(pid_t pid, uid_t uid, const char *path, cp_verdict_t *v /* OUT */,
                         char *why, size_t whylen);

/* Removes the file if it is there (an attach that timed out: the agent may
 * still write it later, then it stays behind). */
void cp_verdict_file_discard(pid_t pid, const char *path);

#endif
