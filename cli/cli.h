/* cli.h - the `cprof` subcommands and what they share: exit codes and the
 * usage-error line. Thread: main. */
#ifndef CP_CLI_H
#define CP_CLI_H

#include <stdio.h>

/* Exit codes of every subcommand (README "Exit codes", `cprof help`). */
enum {
    CP_EXIT_OK          = 0,  /* done */
    CP_EXIT_FAIL        = 1,  /* failed at run time: relay unreachable or answered an error,
                                 the JVM refused the attach, a file could not be written */
    CP_EXIT_USAGE       = 2,  /* the command line was wrong; the line before the usage says what */
    CP_EXIT_UNKNOWN_APP = 3,  /* query/diff: the relay has no app of that name */
    CP_EXIT_NO_DATA     = 4,  /* query/diff: the app has no samples of that type (yet) */
    CP_EXIT_NO_INSTANCE = 5,  /* query/diff: no instance of the app has the given labels */
    CP_EXIT_EMPTY       = 6,  /* query/diff: the time range holds no samples (a diff: either side) */
    CP_EXIT_REGRESSION  = 1,  /* diff --fail-on: a method regressed (REGRESSION) */
    CP_EXIT_INCONCLUSIVE = 3, /* diff --fail-on: INCONCLUSIVE; the gate reports an unknown
                                 app (and every other data error) as 2 */
    CP_EXIT_REFUSED     = 7,  /* attach/detach: the agent refused an option (named on stderr);
                                 the others were applied */
};

int cp_cmd_relay(int argc, char **argv);       /* relay/main.c */
int cp_cmd_query(int argc, char **argv);       /* cli/query.c */
int cp_cmd_diff(int argc, char **argv);        /* cli/query.c */
int cp_cmd_insights(int argc, char **argv);    /* cli/insights.c (exit codes of its own: 0, 1 WARN, 2) */
int cp_cmd_attach(int argc, char **argv);      /* cli/attach.c */
int cp_cmd_detach(int argc, char **argv);      /* cli/attach.c */
int cp_cmd_watch(int argc, char **argv);       /* cli/watch.c */
int cp_cmd_spark_conf(int argc, char **argv);  /* cli/spark.c */
int cp_cmd_token(int argc, char **argv);       /* cli/token.c */

typedef void (*cp_cli_usage_fn)(FILE *f);

/* Prints "cprof CMD: <what was wrong>", a blank line and the command's
 * usage to stderr. Returns CP_EXIT_USAGE. (cli/main.c) */
int cp_cli_usage_error(const char *cmd, cp_cli_usage_fn usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For getopt_long run with opterr = 0 and an optstring starting with ':':
 * names the unknown option or the option missing its value (o is '?' or
 * ':'; argv and optind as getopt left them). Returns CP_EXIT_USAGE. */
int cp_cli_getopt_error(const char *cmd, cp_cli_usage_fn usage, int o, char **argv);

/* Parses a whole number >= 1 for option `opt`; on anything else reports a
 * usage error naming opt and the value and returns CP_EXIT_USAGE. */
int cp_cli_positive(const char *cmd, cp_cli_usage_fn usage, const char *opt, const char *val,
                    long *out /* OUT */);

#endif
