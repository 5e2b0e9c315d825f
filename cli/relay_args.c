/* relay_args.c - the options of the commands that read from a relay. See
 * relay_args.h. Thread: main. */
#include "relay_args.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "human.h"
#include "relay.h"

void cp_relay_args_init(cp_relay_args_t *a, const char *cmd)
{
    memset(a, 0, sizeof *a);
    a->relay_arg = getenv("CPROF_RELAY_URL");
    if (!a->relay_arg || !*a->relay_arg)
        a->relay_arg = CP_RELAY_ARGS_DEFAULT;
    a->ctx.cmd = cmd;
    a->ctx.type = "cpu";
}

bool cp_relay_args_option(cp_relay_args_t *a, int o, const char *arg)
{
    switch (o) {
    case 'r': a->relay_arg = arg; return true;
    case 'k': a->token_arg = arg; return true;
    case 'C': a->ctx.http.tls.ca_file = arg; return true;
    case 'K': a->ctx.http.tls.insecure = true; return true;
    case 'a': a->ctx.app = arg; return true;
    case 't': a->ctx.type = arg; a->type_given = true; return true;
    default: return false;
    }
}

int cp_relay_args_finish(cp_relay_args_t *a, cp_cli_usage_fn usage, int argc, char **argv)
{
    const char *cmd = a->ctx.cmd;
    if (optind < argc)
        return cp_cli_usage_error(cmd, usage, "unexpected argument '%s' (every value goes after an option)",
                                  argv[optind]);
    if (!a->ctx.app || !*a->ctx.app)
        return cp_cli_usage_error(cmd, usage, "--app APP is required (the app name the agents report)");
    if (!*a->ctx.type)
        return cp_cli_usage_error(cmd, usage, "--type must not be empty (cpu, wall, alloc, lock, ...)");
    char err[600];
    if (cp_http_relay_parse(a->relay_arg, &a->ctx.relay, err, sizeof err))
        return cp_cli_usage_error(cmd, usage, "--relay: %s", err);
    if (cp_http_token_read(a->token_arg, a->token, sizeof a->token, err, sizeof err)) {
        fprintf(stderr, "cprof %s: %s\n", cmd, err);
        return CP_EXIT_USAGE;
    }
    a->ctx.http.token = a->token;
    if (a->ctx.http.tls.insecure)
        fprintf(stderr, "cprof %s: warning: --insecure: the relay's certificate is not verified\n", cmd);
    return CP_EXIT_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int time_arg(const char *cmd, cp_cli_usage_fn usage, const char *opt, const char *val, int64_t now,
                    cp_relay_time_t *t)
{
    int rc = cp_time_parse_local(val, now, &t->ms);
    if (rc == CP_ERANGE)
        return cp_cli_usage_error(cmd, usage, "%s '%s' is out of range (times 1970..9999, durations up to 100y)",
                                  opt, val);
    if (rc)
        return cp_cli_usage_error(cmd, usage, "%s '%s' is not a time: give now-15m, today, 2026-12-03, "
                                  "'2026-12-03 14:00' (local time; a zone may follow), RFC 3339 or unix seconds",
                                  opt, val);
    if (!strncmp(val, "now", 3))
        snprintf(t->send, sizeof t->send, "%s", val);
    else
        snprintf(t->send, sizeof t->send, "%lld.%03lld", (long long)(t->ms / 1000), (long long)(t->ms % 1000));
    return CP_EXIT_OK;
}

int cp_relay_args_range(const char *cmd, cp_cli_usage_fn usage, const char *fopt, const char *from,
                        const char *topt, const char *to, cp_relay_time_t *f, cp_relay_time_t *t)
{
    int64_t now = now_ms();
    int rc = time_arg(cmd, usage, fopt, from ? from : "now-15m", now, f);
    if (!rc)
        rc = time_arg(cmd, usage, topt, to ? to : "now", now, t);
    if (!rc && f->ms >= t->ms) {
        char x[64], y[64];
        return cp_cli_usage_error(cmd, usage, "%s (%s) is not before %s (%s)", fopt,
                                  cp_human_time(f->ms, x, sizeof x), topt, cp_human_time(t->ms, y, sizeof y));
    }
    return rc;
}
