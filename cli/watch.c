/* watch.c - placeholder until its issue lands. */
#include <stdio.h>
#include "cli.h"
int cp_cmd_watch(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof: not built yet\n");
    return 2;
}
