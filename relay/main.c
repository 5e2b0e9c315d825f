/* main.c - `cprof relay`: placeholder until the relay lands (issue 5). */
#include <stdio.h>
#include "../cli/cli.h"

int cp_cmd_relay(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "cprof relay: not built yet\n");
    return 2;
}
