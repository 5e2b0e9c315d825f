/* options.c - `cprof relay` command-line options into cp_relay_cfg_t.
 *
 * Only parsing and per-option validation live here (a bad value is a usage
 * error, exit 2). Checks that need the world (can the port be bound, is the
 * data directory free, do the TLS files load) happen in main.c's start-up,
 * in that order, before the store opens. Thread: main. */
#include <getopt.h>
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
        "  --sync full|normal       SQLite synchronous mode (default full; both survive kill -9,\n"
        "                           normal may lose the last commits on power loss)\n"
        "  -v, --verbose            log every connection and subscription\n"
        "  -h, --help               this text\n"
        "Durations: 500ms, 30s, 15m, 2h, 14d, 2w, 1y.\n"
        "Signals: SIGHUP re-reads --auth and the TLS certificate and key; SIGINT/SIGTERM stop.\n"
        "Environment: CPROF_RELAY_POLL=1 uses lws's poll(2) loop instead of libuv (epoll).\n");
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "cprof relay: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

int cp__relay_options_parse(cp_relay_cfg_t *c, int argc, char **argv)
{
    enum { OPT_LISTEN = 1000, OPT_DATA, OPT_UI, OPT_TOKEN, OPT_RFULL, OPT_RMIN, OPT_RHOUR, OPT_AGG, OPT_MAXMSG,
           OPT_MAXPAY, OPT_MAXDICT, OPT_QT, OPT_LQ, OPT_SYNC, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA,
           OPT_PUBLIC_URL, OPT_INSECURE_OPEN, OPT_AUTH };
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
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int64_t d;
        char *end, err[512];
        long long v;
        switch (o) {
        case OPT_LISTEN:
            if (cp__listen_parse(optarg, &c->listen, &c->port, err, sizeof err))
                return bad("%s", err);
            break;
        case OPT_DATA: c->data_dir = optarg; break;
        case OPT_UI: c->ui_dir = optarg; break;
        case OPT_TOKEN: c->token = optarg; break;
        case OPT_AUTH: c->auth_file = optarg; break;
        case OPT_TLS_CERT: c->tls_cert = optarg; break;
        case OPT_TLS_KEY: c->tls_key = optarg; break;
        case OPT_TLS_CA: c->tls_client_ca = optarg; break;
        case OPT_PUBLIC_URL:
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return bad("bad --public-url '%s' (want http://HOST[:PORT] or https://...)", optarg);
            c->public_url = optarg;
            break;
        case OPT_INSECURE_OPEN: c->insecure_open = true; break;
        case OPT_RFULL: case OPT_RMIN: case OPT_RHOUR: case OPT_AGG:
            if (cp_duration_parse(optarg, &d) || d <= 0)
                return bad("bad duration '%s'", optarg);
            if (o == OPT_RFULL) c->store.full_ms = d;
            else if (o == OPT_RMIN) c->store.minute_ms = d;
            else if (o == OPT_RHOUR) c->store.hour_ms = d;
            else c->store.grace_ms = d;
            break;
        case OPT_MAXMSG: case OPT_MAXPAY: case OPT_MAXDICT: case OPT_QT: case OPT_LQ:
            v = strtoll(optarg, &end, 10);
            if (*end || v <= 0)
                return bad("bad number '%s'", optarg);
            if (o == OPT_MAXMSG) c->limits.max_message = (size_t)v;
            else if (o == OPT_MAXPAY) c->limits.max_payload = (size_t)v;
            else if (o == OPT_MAXDICT) c->limits.max_dict = (uint32_t)v;
            else if (o == OPT_QT) c->query_threads = (int)v;
            else c->live_queue = (int)v;
            break;
        case OPT_SYNC:
            if (!strcmp(optarg, "full")) c->store.sync_full = true;
            else if (!strcmp(optarg, "normal")) c->store.sync_full = false;
            else return bad("%s", "--sync full|normal");
            break;
        case 'v': c->verbose++; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        bad("unexpected argument '%s'", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!c->tls_cert != !c->tls_key)
        return bad("%s", "--tls-cert and --tls-key go together");
    if (c->tls_client_ca && !c->tls_cert)
        return bad("%s", "--tls-client-ca needs --tls-cert and --tls-key");
    c->store.max_dict = c->limits.max_dict;
    return 0;
}
