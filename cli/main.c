/* main.c - `cprof`: one executable, one subcommand per job.
 *
 *   cprof relay       run the relay server (relay/)
 *   cprof query/diff  read profiles from a relay, for terminals and CI
 *   cprof insights    what the relay's rules found (exit 1 on a WARN: a CI gate)
 *   cprof attach/detach/watch  load the agent into running JVMs
 *   cprof spark-conf  spark-submit flags that profile every executor
 *   cprof token new   a token for the relay's --auth file
 *   cprof help [CMD]  this list, or CMD's usage
 *
 * Also the helpers every subcommand uses to report a wrong command line
 * (cli.h): the line that says what was wrong comes before the usage.
 * Thread: main only. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"relay",      cp_cmd_relay,      "run the relay: ingest, storage, query API, web UI"},
    {"query",      cp_cmd_query,      "print a merged profile or its top functions"},
    {"diff",       cp_cmd_diff,       "compare two time ranges or label sets"},
    {"insights",   cp_cmd_insights,   "known problems found in an app's profiles (exit 1 on a WARN)"},
    {"attach",     cp_cmd_attach,     "load the agent into a running JVM (PID)"},
    {"detach",     cp_cmd_detach,     "stop the agent in a running JVM (PID)"},
    {"watch",      cp_cmd_watch,      "attach to every new matching JVM on this host"},
    {"spark-conf", cp_cmd_spark_conf, "print spark-submit flags that profile executors"},
    {"token",      cp_cmd_token,      "token new: create a relay token (tenant, role) in an auth file"},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: cprof COMMAND [ARGS...]   (cprof help COMMAND, or cprof COMMAND --help)\n\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "  %-11s %s\n", "help", "this list; help COMMAND prints that command's usage");
    fprintf(f, "  %-11s %s\n", "version", "print the version");
    fprintf(f,
        "\nExit codes:\n"
        "  0  done\n"
        "  1  failed at run time (relay unreachable or answered an error, JVM refused, file not written)\n"
        "  2  wrong command line (the first line printed says what)\n"
        "  3  query/diff: the relay has no app of that name\n"
        "  4  query/diff: the app has no samples of that type yet\n"
        "  5  query/diff: no instance of the app has the given labels\n"
        "  6  query/diff: the time range holds no samples (for diff: either side)\n"
        "  7  attach: the agent refused an option (named, with the reason); the others apply\n"
        "diff --fail-on (a CI gate) exits with its verdict instead: 0 PASS, 1 REGRESSION,\n"
        "3 INCONCLUSIVE (or 0/1 with --inconclusive pass/fail), 2 for a wrong command line\n"
        "or nothing to compare (relay unreachable, unknown app, a side without samples)\n"
        "insights (a CI gate too) exits 0 without a WARN finding, 1 with one, 2 for a wrong\n"
        "command line or no verdict (relay unreachable, unknown app, no samples in the range)\n");
}

int cp_cli_usage_error(const char *cmd, cp_cli_usage_fn u, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cprof %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    if (u)
        u(stderr);
    return CP_EXIT_USAGE;
}

int cp_cli_getopt_error(const char *cmd, cp_cli_usage_fn u, int o, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char shortopt[3] = {'-', (char)optopt, 0};
    /* getopt names a short option through optopt; a long one only in argv */
    const char *name = optopt && strncmp(arg, "--", 2) ? shortopt : arg;
    int len = (int)strcspn(name, "=");
    if (o == ':')
        return cp_cli_usage_error(cmd, u, "option '%.*s' needs a value", len, name);
    return cp_cli_usage_error(cmd, u, "unknown option '%.*s'", len, name);
}

int cp_cli_positive(const char *cmd, cp_cli_usage_fn u, const char *opt, const char *val, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || *end || errno || v < 1)
        return cp_cli_usage_error(cmd, u, "%s wants a whole number of at least 1, not '%s'", opt, val);
    *out = v;
    return 0;
}

static int help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return CP_EXIT_OK;
    }
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            char *a[] = {argv[1], "--help", NULL};
            return cmds[i].fn(2, a);
        }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "version")) {
        usage(stdout);
        return CP_EXIT_OK;
    }
    fprintf(stderr, "cprof help: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CP_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "cprof: which command? (cprof help lists them)\n\n");
        usage(stderr);
        return CP_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "-h") || !strcmp(c, "--help") || !strcmp(c, "help"))
        return help(argc - 1, argv + 1);
    if (!strcmp(c, "version") || !strcmp(c, "--version")) {
        printf("cprof %s\n", CPROF_VERSION);
        return CP_EXIT_OK;
    }
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(c, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cprof: unknown command '%s'\n\n", c);
    usage(stderr);
    return CP_EXIT_USAGE;
}
