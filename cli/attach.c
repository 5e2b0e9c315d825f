/* attach.c - placeholder until its issue lands. */
#include <stdio.h>
#include "cli.h"
int cp_cmd_attach(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof: not built yet\n");
    return 2;
}
int cp_cmd_detach(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof: not built yet\n");
    return 2;
}
