/* relay_args.h - the command-line options the `cprof` commands that read
 * from a relay (query, diff, insights) share: --relay, --token, --ca,
 * --insecure, --app, --type; the time options (--from/--to forms) and
 * their help texts.
 *
 * Use: cp_relay_args_init, then in the getopt_long loop (with
 * CP_RELAY_ARGS_LONGOPTS in the option table, opterr = 0)
 * cp_relay_args_option for each option, then cp_relay_args_finish; the
 * ctx member then holds the relay, TLS and token for explain.h's reads.
 * Thread: main. */
#ifndef CP_CLI_RELAY_ARGS_H
#define CP_CLI_RELAY_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "explain.h"

#define CP_RELAY_ARGS_DEFAULT "http://127.0.0.1:7070"

typedef struct cp_relay_args {
    const char      *relay_arg, *token_arg;
    char             token[1024];
    bool             type_given;     /* --type was on the command line */
    cp_explain_ctx_t ctx;            /* after finish: relay, http (token, TLS), app, type */
} cp_relay_args_t;

/* Defaults: relay from CPROF_RELAY_URL or CP_RELAY_ARGS_DEFAULT, type
 * "cpu". cmd names the command in messages ("insights"). */
void cp_relay_args_init(cp_relay_args_t *a, const char *cmd);

/* getopt_long's o and optarg: true when o was one of the shared options
 * (the values stay borrowed from argv). */
bool cp_relay_args_option(cp_relay_args_t *a, int o, const char *arg);

/* After the getopt loop: no stray argument, --app given, the relay address
 * and the token readable. CP_EXIT_OK, or CP_EXIT_USAGE after saying why. */
int cp_relay_args_finish(cp_relay_args_t *a, cp_cli_usage_fn usage, int argc, char **argv);

/* One time argument: its instant in ms (for messages) and the text sent
 * to the relay (relative forms as typed, the rest as unix seconds, so the
 * zone is the terminal's, not the relay's). */
typedef struct cp_relay_time {
    int64_t ms;
    char    send[48];
} cp_relay_time_t;

/* Parses two optional time options (defaults now-15m and now) and checks
 * that the start is before the end. CP_EXIT_OK or CP_EXIT_USAGE (said). */
int cp_relay_args_range(const char *cmd, cp_cli_usage_fn usage, const char *fopt, const char *from,
                        const char *topt, const char *to, cp_relay_time_t *f /* OUT */,
                        cp_relay_time_t *t /* OUT */);

/* Option table entries of the shared options: values 'r' 'a' 't' 'k' 'C'
 * 'K' and 'h' (--help) are taken. */
#define CP_RELAY_ARGS_LONGOPTS                                                                       \
    {"relay", required_argument, 0, 'r'}, {"app", required_argument, 0, 'a'},                    \
    {"type", required_argument, 0, 't'}, {"token", required_argument, 0, 'k'},                   \
    {"ca", required_argument, 0, 'C'}, {"insecure", no_argument, 0, 'K'},                        \
    {"help", no_argument, 0, 'h'}

/* Help lines of the shared options: where (--relay, --app) and access
 * (--token, --ca, --insecure); each command adds its own --type line
 * between them. */
#define CP_RELAY_ARGS_HELP_WHERE                                                                     \
    "  --relay ADDR       the relay: http[s]://HOST:PORT, the agents' ws[s]://HOST:PORT, or\n"     \
    "                     HOST:PORT (default http://127.0.0.1:7070, env CPROF_RELAY_URL)\n"           \
    "  --app APP          application name (required)\n"

#define CP_RELAY_ARGS_HELP_ACCESS                                                                    \
    "  --token T|@FILE    read token for a relay with --auth (default: env CPROF_TOKEN)\n"         \
    "  --ca FILE          PEM CA to verify an https:// relay (besides the system store)\n"          \
    "  --insecure         do not verify an https:// relay's certificate (warns)\n"

#define CP_RELAY_ARGS_TIME_HELP                                                                      \
    "Times: now, now-15m, now-2h, now-7d; today, yesterday; 2026-12-03 (local midnight);\n"          \
    "'2026-12-03 14:00' or '2026-12-03 14:00:05' (local time, or followed by a zone: UTC,\n"         \
    "+01:00, CET); RFC 3339; unix seconds.\n"

#endif
