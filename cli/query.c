/* query.c - placeholder until its issue lands. */
#include <stdio.h>
#include "cli.h"
int cp_cmd_query(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof: not built yet\n");
    return 2;
}
int cp_cmd_diff(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof: not built yet\n");
    return 2;
}
