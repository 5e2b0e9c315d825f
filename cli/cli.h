/* cli.h - the `cprof` subcommands. Each returns the process exit code:
 * 0 success, 1 failure at run time, 2 usage error. Thread: main. */
#ifndef CP_CLI_H
#define CP_CLI_H

int cp_cmd_relay(int argc, char **argv);       /* relay/main.c */
int cp_cmd_query(int argc, char **argv);       /* cli/query.c */
int cp_cmd_diff(int argc, char **argv);        /* cli/query.c */
int cp_cmd_attach(int argc, char **argv);      /* cli/attach.c */
int cp_cmd_detach(int argc, char **argv);      /* cli/attach.c */
int cp_cmd_watch(int argc, char **argv);       /* cli/watch.c */
int cp_cmd_spark_conf(int argc, char **argv);  /* cli/spark.c */
int cp_cmd_token(int argc, char **argv);       /* cli/token.c */

#endif
