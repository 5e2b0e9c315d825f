/* options.c - `cprof relay` command-line options into cp_relay_cfg_t.
 *
 * Only parsing and per-option validation live here (a bad value is a usage
 * error, exit 2: one line naming the option and the value, then the usage,
 * as every cprof subcommand does). Checks that need the world (can the port be bound, is the
 * data directory free, do the TLS files load) happen in main.c's start-up,
 * in that order, before the store opens. Thread: main. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

void cp__relay_options_default(cp_relay_cfg_t *c)
{
    char err[16];
    memset(c, 0, sizeof *c);
    cp__listen_parse("127.0.0.1:7070", &c->listen, &c->port, err, sizeof err);
    c->data_dir = "./cprof-data";
    c->limits = cp_wire_default_limits;
    cp_store_config_default(&c->store);
    c->query_threads = 2;
    c->live_queue = 256;
    c->otlp_queue = 4096;
    c->otlp_backoff_max_ms = 30000;
    cp_budget_cfg_default(&c->budget);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof relay [OPTIONS]\n"
        "Runs the relay: agent ingest (/ingest), storage, query API (/api/v1/), live\n"
        "websocket (/api/v1/live) and the web UI (/), all on one port.\n\n"
        "  --listen HOST:PORT       address to listen on, exactly (default 127.0.0.1:7070);\n"
        "                           [::1]:PORT for IPv6, 0.0.0.0:PORT every IPv4 address,\n"
        "                           [::]:PORT every address. Without auth, a non-loopback\n"
        "                           address needs --insecure-open\n"
        "  --insecure-open          allow a non-loopback --listen without authentication\n"
        "  --data DIR               data directory, SQLite database cprof.db (default ./cprof-data);\n"
        "                           one relay per directory (DIR/relay.lock)\n"
        "  --store WHERE            sqlite:DIR (the same as --data DIR) or postgres://USER@HOST:PORT/DB\n"
        "                           (a libpq URI): several relays on one PostgreSQL database\n"
        "                           (docs/scaleout.md); --data then holds only local files\n"
        "  --ui DIR                 web UI files to serve at / (default: relay/ui of the source\n"
        "                           tree, else the installed share/cprof/ui)\n"
        "  --auth FILE              tokens with tenants and roles (docs/security.md); re-read on\n"
        "                           SIGHUP. Without it the relay is open: one tenant, no tokens\n"
        "  --token TOKEN            deprecated: one ingest token for agents, API left open\n"
        "  --tls-cert FILE          PEM certificate (chain): serve https and wss on the one port\n"
        "  --tls-key FILE           PEM private key of --tls-cert; both re-read on SIGHUP\n"
        "  --tls-client-ca FILE     PEM CA: agents (/ingest) must show a certificate it signed\n"
        "  --public-url URL         the URL browsers use (behind a proxy/load balancer); its host\n"
        "                           is accepted in Host and Origin headers besides loopback names\n"
        "                           and IP addresses\n"
        "  --retention-full DUR     keep full-resolution windows (default 14d)\n"
        "  --retention-minute DUR   keep per-minute aggregates (default 90d)\n"
        "  --retention-hour DUR     keep per-hour aggregates (default 2y = 730d)\n"
        "  --aggregate-after DUR    aggregate a minute once it is this old (default 2m)\n"
        "  --max-message BYTES      largest agent message accepted (default 16777216)\n"
        "  --max-payload BYTES      largest uncompressed payload (default 67108864)\n"
        "  --max-dict N             dictionary ids per table per connection (default 4194304)\n"
        "  --query-threads N        query worker threads (default 2)\n"
        "  --live-queue N           queued live messages per UI before dropping oldest (default 256)\n"
        "  --otlp-export URL        push every stored window to an OpenTelemetry collector:\n"
        "                           OTLP profiles (v1.10), protobuf POST to URL/v1development/profiles\n"
        "  --otlp-queue N           windows queued for the collector before dropping the oldest\n"
        "                           (default 4096)\n"
        "  --otlp-backoff-max DUR   longest wait between retries of a failed export (default 30s)\n"
"  --nats URL               live fan-out across relays: publish what this relay ingests\n"
        "                           and feed its live UIs from other relays (nats://HOST:PORT,\n"
        "                           comma-separated for a NATS cluster; docs/scaleout.md)\n"
        "  --sync full|normal       SQLite synchronous mode (default full; both survive kill -9,\n"
        "                           normal may lose the last commits on power loss)\n"
        "Budgets against hostile or runaway clients (docs/relay.md \"Budgets\"; counters at\n"
        "/api/v1/metrics; rates and per-tenant limits accept 0 = unlimited):\n"
        "  --hello-timeout DUR      an agent must be welcomed within (default 10s)\n"
        "  --ping DUR               websocket ping after this much silence (default 30s)\n"
        "  --idle-timeout DUR       close a websocket silent this long (default 90s)\n"
        "  --header-timeout DUR     HTTP headers / upgrade must arrive within (default 10s)\n"
        "  --max-connections N      TCP connections of every kind (default 20000)\n"
        "  --max-pending N          connections without complete headers yet; past it the\n"
        "                           oldest is closed (default 1024)\n"
        "  --max-tenant-connections N  agent connections per tenant (default 0 =\n"
        "                           --max-connections only)\n"
        "  --max-store-queue BYTES  agent bytes queued for the store; past it agents are\n"
        "                           read no further until it drains (default 268435456)\n"
        "  --tenant-bytes-per-s N   agent bytes/s per tenant, CP_ERATE past it (default 67108864)\n"
        "  --tenant-windows-per-s N stored windows/s per tenant (default 50000)\n"
        "  --burst DUR              rate buckets hold this much of their rate (default 10s)\n"
        "  --max-apps N             apps per tenant (default 1000)\n"
        "  --max-label-sets N       label sets per tenant (default 1000000)\n"
        "  --max-types N            profile types per tenant (default 64)\n"
        "  --query-timeout DUR      deadline of one query, 503 past it (default 10s)\n"
        "  --query-queue N          requests waiting for a query worker, 503 past it (default 64)\n"
        "  --max-points N           timeline points per query (default 10000)\n"
        "  -v, --verbose            log every connection and subscription\n"
        "  -h, --help               this text\n"
        "Durations: 500ms, 30s, 15m, 2h, 14d, 2w, 1y.\n"
        "Signals: SIGHUP re-reads --auth and the TLS certificate, key and client CA;\n"
        "SIGINT/SIGTERM stop.\n"
        "Environment: CPROF_RELAY_POLL=1 uses lws's poll(2) loop instead of libuv (epoll).\n");
}

/* "cprof relay: <what was wrong>", a blank line, the usage. Returns 2. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cprof relay: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

#define DURATIONS "500ms, 30s, 15m, 2h, 14d"

/* The long name of option value `val` in table t ("max-apps"). */
static const char *opt_name(const struct option *t, int val)
{
    while (t->name && t->val != val)
        t++;
    return t->name ? t->name : "?";
}

/* What a budget option takes, for its error line (order of OPT_BUDGET). */
static void budget_expect(int i, char *out, size_t n)
{
    if (i <= 3 || i == 9 || i == 13)
        snprintf(out, n, "a duration from 1ms to 1d (" DURATIONS ")");
    else if (i == 7 || i == 8 || i == 10 || i == 11 || i == 12)
        snprintf(out, n, "a whole number from 0 (unlimited) to %llu", i == 7 ? (1ULL << 50) : 100000000ULL);
    else
        snprintf(out, n, "a whole number from 1 to %llu", i == 6 ? (1ULL << 50) : 100000000ULL);
}

/* Budget option i (the order of the OPT_BUDGET entries below): durations
 * for the time limits, counts for the rest (0 = unlimited for the rates and
 * the per-tenant limits). */
static int parse_budget_opt(int i, const char *v, cp_budget_cfg_t *b)
{
    int64_t d;
    if (i <= 3 || i == 9 || i == 13) {
        if (cp_duration_parse(v, &d) || d <= 0 || d > 86400000)
            return -1;
        switch (i) {
        case 0: b->hello_timeout_ms = (int)d; break;
        case 1: b->ping_secs = (int)((d + 999) / 1000); break;
        case 2: b->idle_secs = (int)((d + 999) / 1000); break;
        case 3: b->header_secs = (int)((d + 999) / 1000); break;
        case 9: b->burst_s = (double)d / 1000.0; break;
        default: b->query_timeout_ms = (int)d; break;
        }
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || *v == '-')
        return -1;
    bool zero_ok = i == 7 || i == 8 || i == 10 || i == 11 || i == 12;
    if ((!n && !zero_ok) || n > (i == 6 || i == 7 ? (1ULL << 50) : 100000000ULL))
        return -1;
    switch (i) {
    case 4: b->max_conns = (int)n; b->max_conns_given = true; break;
    case 5: b->max_tenant_conns = (int)n; break;
    case 6: b->max_store_queue = n; break;
    case 7: b->tenant_bytes_s = n; break;
    case 8: b->tenant_windows_s = n; break;
    case 10: b->max_apps = (uint32_t)n; break;
    case 11: b->max_label_sets = (uint32_t)n; break;
    case 12: b->max_types = (uint32_t)n; break;
    case 14: b->query_queue = (int)n; break;
    case 16: b->max_pending = (int)n; break;
    default: b->max_points = (uint32_t)n; break;
    }
    return 0;
}

int cp__relay_options_parse(cp_relay_cfg_t *c, int argc, char **argv)
{
    enum { OPT_LISTEN = 1000, OPT_DATA, OPT_UI, OPT_TOKEN, OPT_RFULL, OPT_RMIN, OPT_RHOUR, OPT_AGG, OPT_MAXMSG,
           OPT_MAXPAY, OPT_MAXDICT, OPT_QT, OPT_LQ, OPT_SYNC, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA,
           OPT_PUBLIC_URL, OPT_INSECURE_OPEN, OPT_AUTH, OPT_OTLP, OPT_OTLP_Q, OPT_OTLP_BO, OPT_NATS, OPT_BUDGET = 2000,
           OPT_STORE = 3000 };
    static const struct option opts[] = {
        {"listen", required_argument, 0, OPT_LISTEN}, {"data", required_argument, 0, OPT_DATA},
        {"ui", required_argument, 0, OPT_UI}, {"token", required_argument, 0, OPT_TOKEN},
        {"retention-full", required_argument, 0, OPT_RFULL},
        {"retention-minute", required_argument, 0, OPT_RMIN},
        {"retention-hour", required_argument, 0, OPT_RHOUR},
        {"aggregate-after", required_argument, 0, OPT_AGG},
        {"max-message", required_argument, 0, OPT_MAXMSG}, {"max-payload", required_argument, 0, OPT_MAXPAY},
        {"max-dict", required_argument, 0, OPT_MAXDICT},
        {"query-threads", required_argument, 0, OPT_QT}, {"live-queue", required_argument, 0, OPT_LQ},
        {"sync", required_argument, 0, OPT_SYNC}, {"auth", required_argument, 0, OPT_AUTH},
        {"tls-cert", required_argument, 0, OPT_TLS_CERT}, {"tls-key", required_argument, 0, OPT_TLS_KEY},
        {"tls-client-ca", required_argument, 0, OPT_TLS_CA},
        {"public-url", required_argument, 0, OPT_PUBLIC_URL},
        {"insecure-open", no_argument, 0, OPT_INSECURE_OPEN},
        {"otlp-export", required_argument, 0, OPT_OTLP}, {"otlp-queue", required_argument, 0, OPT_OTLP_Q},
        {"otlp-backoff-max", required_argument, 0, OPT_OTLP_BO},
        {"nats", required_argument, 0, OPT_NATS},
        {"hello-timeout", required_argument, 0, OPT_BUDGET + 0}, {"ping", required_argument, 0, OPT_BUDGET + 1},
        {"idle-timeout", required_argument, 0, OPT_BUDGET + 2},
        {"header-timeout", required_argument, 0, OPT_BUDGET + 3},
        {"max-connections", required_argument, 0, OPT_BUDGET + 4},
        {"max-tenant-connections", required_argument, 0, OPT_BUDGET + 5},
        {"max-store-queue", required_argument, 0, OPT_BUDGET + 6},
        {"tenant-bytes-per-s", required_argument, 0, OPT_BUDGET + 7},
        {"tenant-windows-per-s", required_argument, 0, OPT_BUDGET + 8},
        {"burst", required_argument, 0, OPT_BUDGET + 9}, {"max-apps", required_argument, 0, OPT_BUDGET + 10},
        {"max-label-sets", required_argument, 0, OPT_BUDGET + 11},
        {"max-types", required_argument, 0, OPT_BUDGET + 12},
        {"query-timeout", required_argument, 0, OPT_BUDGET + 13},
        {"query-queue", required_argument, 0, OPT_BUDGET + 14},
        {"max-points", required_argument, 0, OPT_BUDGET + 15},
        {"max-pending", required_argument, 0, OPT_BUDGET + 16},
        {"store", required_argument, 0, OPT_STORE},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;   /* errors are named below, before the usage */
    int o;
    while ((o = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
        int64_t d;
        char *end, err[512];
        long long v;
        switch (o) {
        case OPT_LISTEN:
            if (cp__listen_parse(optarg, &c->listen, &c->port, err, sizeof err))
                return bad("%s", err);
            break;
        case OPT_DATA: c->data_dir = optarg; break;
        case OPT_STORE:
            if (!strncmp(optarg, "sqlite:", 7) && optarg[7]) {
                c->data_dir = optarg + 7;
                c->store_url = NULL;
            } else if (!strncmp(optarg, "postgres://", 11) || !strncmp(optarg, "postgresql://", 13)) {
                c->store_url = optarg;
            } else {
                return bad("--store: want sqlite:DIR or postgres://..., got '%s'", optarg);
            }
            break;
        case OPT_UI: c->ui_dir = optarg; break;
        case OPT_TOKEN: c->token = optarg; break;
        case OPT_AUTH: c->auth_file = optarg; break;
        case OPT_TLS_CERT: c->tls_cert = optarg; break;
        case OPT_TLS_KEY: c->tls_key = optarg; break;
        case OPT_TLS_CA: c->tls_client_ca = optarg; break;
        case OPT_PUBLIC_URL:
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return bad("--public-url '%s' is not an http://HOST[:PORT] or https://... URL", optarg);
            c->public_url = optarg;
            break;
        case OPT_INSECURE_OPEN: c->insecure_open = true; break;
        case OPT_OTLP:
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return bad("--otlp-export '%s' is not an http://HOST[:PORT][/PATH] or https://... URL", optarg);
            c->otlp_export = optarg;
            break;
        case OPT_NATS:
            if (strncmp(optarg, "nats://", 7) && strncmp(optarg, "tls://", 6))
                return bad("--nats '%s' is not a nats://HOST:PORT URL", optarg);
            c->nats_url = optarg;
            break;
        case OPT_OTLP_Q:
            errno = 0;
            v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || errno || v <= 0 || v > 10000000)
                return bad("--otlp-queue wants a whole number from 1 to 10000000, not '%s'", optarg);
            c->otlp_queue = (int)v;
            break;
        case OPT_OTLP_BO:
            if (cp_duration_parse(optarg, &d) || d < 500)
                return bad("--otlp-backoff-max '%s' is not a duration of at least 500ms", optarg);
            c->otlp_backoff_max_ms = d;
            break;
        case OPT_RFULL: case OPT_RMIN: case OPT_RHOUR: case OPT_AGG:
            if (cp_duration_parse(optarg, &d) || d <= 0)
                return bad("--%s '%s' is not a duration (" DURATIONS ", 2w, 1y)", opt_name(opts, o), optarg);
            if (o == OPT_RFULL) c->store.full_ms = d;
            else if (o == OPT_RMIN) c->store.minute_ms = d;
            else if (o == OPT_RHOUR) c->store.hour_ms = d;
            else c->store.grace_ms = d;
            break;
        case OPT_MAXMSG: case OPT_MAXPAY: case OPT_MAXDICT: case OPT_QT: case OPT_LQ:
            errno = 0;
            v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || errno || v <= 0 || (o == OPT_MAXDICT && v > UINT32_MAX) ||
                ((o == OPT_QT || o == OPT_LQ) && v > 100000))
                return bad("--%s wants a whole number of at least 1%s, not '%s'", opt_name(opts, o),
                           o == OPT_QT || o == OPT_LQ ? " (at most 100000)" : "", optarg);
            if (o == OPT_MAXMSG) c->limits.max_message = (size_t)v;
            else if (o == OPT_MAXPAY) c->limits.max_payload = (size_t)v;
            else if (o == OPT_MAXDICT) c->limits.max_dict = (uint32_t)v;
            else if (o == OPT_QT) c->query_threads = (int)v;
            else c->live_queue = (int)v;
            break;
        case OPT_SYNC:
            if (!strcmp(optarg, "full")) c->store.sync_full = true;
            else if (!strcmp(optarg, "normal")) c->store.sync_full = false;
            else return bad("--sync '%s' is neither full nor normal", optarg);
            break;
        case 'v': c->verbose++; break;
        case 'h': usage(stdout); return 1;
        default:
            if (o >= OPT_BUDGET && o < OPT_BUDGET + 17) {
                if (parse_budget_opt(o - OPT_BUDGET, optarg, &c->budget)) {
                    budget_expect(o - OPT_BUDGET, err, sizeof err);
                    return bad("--%s wants %s, not '%s'", opt_name(opts, o), err, optarg);
                }
                break;
            }
            {   /* '?' unknown option, ':' missing value: getopt names a
                 * short option through optopt, a long one only in argv */
                const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
                char shortopt[3] = {'-', (char)optopt, 0};
                const char *name = optopt && strncmp(arg, "--", 2) ? shortopt : arg;
                int len = (int)strcspn(name, "=");
                if (o == ':')
                    return bad("option '%.*s' needs a value", len, name);
                return bad("unknown option '%.*s'", len, name);
            }
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s' (every value goes after an option)", argv[optind]);
    if (!c->tls_cert != !c->tls_key)
        return bad("%s", "--tls-cert and --tls-key go together");
    if (c->tls_client_ca && !c->tls_cert)
        return bad("%s", "--tls-client-ca needs --tls-cert and --tls-key");
    c->store.max_dict = c->limits.max_dict;
    c->store.max_apps = c->budget.max_apps;
    c->store.max_lsets = c->budget.max_label_sets;
    c->store.max_types = c->budget.max_types;
    return 0;
}
