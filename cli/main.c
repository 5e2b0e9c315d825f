/* main.c - `cprof`: one executable, one subcommand per job.
 *
 *   cprof relay       run the relay server (relay/)
 *   cprof query/diff  read profiles from a relay, for terminals and CI
 *   cprof attach/detach/watch  load the agent into running JVMs
 *   cprof spark-conf  spark-submit flags that profile every executor
 *   cprof token new   a token for the relay's --auth file */
#include <stdio.h>
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
    {"attach",     cp_cmd_attach,     "load the agent into a running JVM (PID)"},
    {"detach",     cp_cmd_detach,     "stop the agent in a running JVM (PID)"},
    {"watch",      cp_cmd_watch,      "attach to every new matching JVM on this host"},
    {"spark-conf", cp_cmd_spark_conf, "print spark-submit flags that profile executors"},
    {"token",      cp_cmd_token,      "token new: create a relay token (tenant, role) in an auth file"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cprof COMMAND [ARGS...]   (cprof COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "  %-11s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "-h") || !strcmp(c, "--help") || !strcmp(c, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(c, "version") || !strcmp(c, "--version")) {
        printf("cprof %s\n", CPROF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(c, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cprof: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
