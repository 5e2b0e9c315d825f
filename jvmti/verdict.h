/* verdict.h - the agent's verdict on one attach's options, handed back to
 * `cprof attach`.
 *
 * HotSpot's attach `load` command answers only with Agent_OnAttach's return
 * code, so an option the agent refuses would be reported only on the JVM's
 * stderr. `cprof attach` therefore adds the internal option
 * verdict=/tmp/.cprof-verdict-<nspid>-<random> (a path in the JVM's own
 * filesystem); the agent collects a verdict on every element it parsed
 * (applied, or refused and why: the parser's rules, and what only the
 * running agent knows, such as a token file it cannot read, a log file it
 * cannot open, a JVM without allocation sampling, a detach of an agent
 * already detached) and writes it there before Agent_OnAttach returns. The
 * CLI reads and removes the file (cli/verdict_file.h). An agent that knows
 * nothing of verdicts writes nothing and the CLI says so.
 *
 * The file is created by the agent with O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0600, owned by the JVM's user; only a path whose last component starts
 * with ".cprof-verdict-" is written, so the option cannot be used to create
 * files elsewhere. The reader checks owner, type, mode and link count.
 *
 * File format (UTF-8 text, one record per line, fields separated by one TAB;
 * TABs and line breaks inside fields are written as spaces):
 *
 *   cprof-verdict 1          first line: magic and format version
 *   applied  OPTION          the option took effect
 *   refused  OPTION  REASON  it did not; REASON says why
 *   note     KIND    TEXT    the state the attach met; KIND is
 *                            already-detached (a detach of an agent that
 *                            was not running: nothing stopped or flushed),
 *                            shutting-down (VM death began: nothing applied)
 *   state    TEXT            the agent afterwards: "running: relay=... app=...",
 *                            "detached" or "not running (...)"
 *   error    TEXT            the agent could not start at all
 *   end                      last line: the file is complete
 *
 * OPTION is the element as the user wrote it (cp_options_format_element).
 * Readers skip record kinds they do not know (a newer agent).
 *
 * Thread: the agent's lifecycle (serialised by agent.c's life_mu); the
 * parser is pure (the CLI uses it). Not signal-safe. */
#ifndef CP_VERDICT_H
#define CP_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define CP_VERDICT_MAX        64      /* options kept; more are counted in `lost` */
#define CP_VERDICT_OPTION_MAX 320
#define CP_VERDICT_REASON_MAX 192
#define CP_VERDICT_PREFIX     ".cprof-verdict-"

typedef struct cp_verdict_entry {
    char key[CP_OPT_KEY_MAX];               /* option key (cpu, label.env); "" when unknown */
    char option[CP_VERDICT_OPTION_MAX];     /* as written: "cpu=bogus" */
    char reason[CP_VERDICT_REASON_MAX];     /* "" = applied */
} cp_verdict_entry_t;

typedef struct cp_verdict {
    char     path[CP_OPT_STR_MAX];          /* where to write; "" = nobody asked */
    uint32_t n;
    uint32_t lost;                          /* entries past CP_VERDICT_MAX */
    cp_verdict_entry_t e[CP_VERDICT_MAX];
    char     note_kind[32];                 /* "" = no note */
    char     note[256];
    char     state[768];
    char     error[256];                    /* "" = started */
} cp_verdict_t;

void cp_verdict_init(cp_verdict_t *v);

/* cp_options_judge_fn: records one element. ud is the cp_verdict_t. The
 * internal key `verdict` is not recorded. */
void cp_verdict_judge(void *ud, const char *src, const char *key, const char *value,
                      const char *reason);

/* Turns every applied entry of `key` (NULL: every entry) into a refusal
 * with the given reason: for what only the running agent can tell. */
void cp_verdict_refuse(cp_verdict_t *v, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether an applied entry of `key` exists. */
bool cp_verdict_applied(const cp_verdict_t *v, const char *key);

void cp_verdict_note(cp_verdict_t *v, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cp_verdict_error(cp_verdict_t *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cp_verdict_state(cp_verdict_t *v, const char *text);

/* Number of refused entries. */
uint32_t cp_verdict_refused(const cp_verdict_t *v);

/* Writes v to v->path (nothing when it is ""). Returns 0; CP_EINVAL when the
 * path is not absolute or its name does not start with CP_VERDICT_PREFIX;
 * CP_EIO (errno kept) when the file cannot be created or written (an
 * existing file is never opened). */
int cp_verdict_write(const cp_verdict_t *v);

/* Renders v in the file format into out (NUL-terminated, cut at outlen:
 * then without its "end" line). Returns the length written. */
size_t cp_verdict_format(const cp_verdict_t *v, char *out, size_t outlen);

/* Parses a file's text into v (path left ""). Returns 0; CP_EMAGIC when it
 * is not a verdict (a later format version is read: unknown records are
 * skipped); CP_ETRUNC when the "end" line is missing (the entries read so
 * far are kept). */
int cp_verdict_parse(const char *text, size_t len, cp_verdict_t *v /* OUT */);

#endif
