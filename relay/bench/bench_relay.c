/* bench_relay.c - load generator and figures for the relay (scripts/bench-relay).
 *
 * Starts a real `cprof relay` (temp data dir, free port) and drives it with
 * simulated agents that speak the real protocol over real websockets (lws
 * client, one service thread): hello -> welcome, batches encoded with
 * cp_wire_encode (zlib level 1) carrying dictionary deltas + values, acks.
 *
 * Realistic batches: per app, a call graph of ~4000 methods; stacks are
 * random walks of depth 15-40 through it; each window holds ~300 distinct
 * stacks, ~90% from the app's known stacks (skewed) and ~10% new ones until
 * the app has MAX_STACKS distinct stacks, so batches carry dictionary
 * deltas for a while, then values only. All agents of one app share one
 * template dictionary (as JVMs running the same code do); each agent sends
 * the part it has not sent yet (its own watermarks), exactly the wire's
 * delta rule.
 *
 * Phases and figures:
 *  1. history: H instances x 24 h of 60 s windows, closed loop (8 batches in
 *     flight per agent) -> ingest batches/s, MB/s, relay CPU -> agents/core.
 *  2. wait for minute/hour aggregation, then /profile (and /diff: 24 h of
 *     all H instances against 24 h, target < 500 ms) over 24 h of all H
 *     instances (json), 20 runs -> p50/p99 latency (also with a label filter);
 *     /insights over the same 24 h, its rules and its profile fetch apart.
 *  3. live: N agents at one batch per 10 s (open loop, staggered) for S
 *     seconds -> relay CPU share -> agents per relay core; meanwhile a probe
 *     agent sends marker batches and a helper thread polls /profile until the
 *     marker is visible -> ingest-to-queryable p50/p99.
 *  4. disk bytes per stored value and per sample; relay RSS (VmRSS, VmHWM).
 *
 * Threads: main = lws service thread; one probe-query thread (blocking HTTP).
 * Modules: bench_app.c (the simulated apps), bench_proc.c (the relays under
 * test: one on SQLite or N on one PostgreSQL, --store), bench_query.c
 * (phase 2), bench_pg.c (PostgreSQL figures), bench_http.c (blocking GET).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_app.h"
#include "bench_http.h"
#include "bench_proc.h"
#include "bench_query.h"
#include "buf.h"
#include "error.h"
#include "stack_dict.h"
#include "wire.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* ---------------- agents ---------------- */

typedef struct agent {
    app_t      *app;
    char        inst[48];
    char        labels_env[8], labels_zone[8];
    struct lws *wsi;
    int         state;          /* 0 connecting, 1 hello sent, 2 welcomed, 3 closed */
    uint32_t    sent_str, sent_frame, sent_stack;
    uint64_t    seq, acked;
    int         inflight, max_inflight;
    int64_t     t0_ms, step_ms; /* window times for history */
    int         windows_left;   /* -1 = unlimited (live) */
    int         k;              /* template offset */
    cp_buf_t    out;            /* queued messages: [len u32][LWS_PRE][msg]... */
    size_t      out_off;
    lws_sorted_usec_list_t sul;
    bool        probe;
    uint64_t    probe_marker;
    double      probe_t_send;
    int         port;           /* its relay (0: g_port) */
} agent_t;

static struct lws_context *ctx;
static agent_t *agents;
static int n_agents;
static uint64_t g_batches, g_bytes, g_acks, g_values, g_errors, g_connected, g_closed;
static int g_port;
static volatile int g_stop;
static volatile int g_probe_on;   /* the probe agent sends only while this is set */

static void queue_msg(agent_t *a, const cp_msg_t *m)
{
    size_t at = a->out.len;
    uint32_t len = 0;
    uint8_t pre[LWS_PRE] = {0};
    cp_buf_append(&a->out, &len, 4);
    cp_buf_append(&a->out, pre, LWS_PRE);
    size_t before = a->out.len;
    if (cp_wire_encode(m, 1, &a->out)) {
        a->out.len = at;
        g_errors++;
        return;
    }
    len = (uint32_t)(a->out.len - before);
    memcpy(a->out.data + at, &len, 4);
    g_bytes += len;
    if (a->wsi)
        lws_callback_on_writable(a->wsi);
}

static void send_hello(agent_t *a)
{
    cp_msg_t m = {0};
    m.kind = CP_MSG_HELLO;
    cp_kv_t labels[2] = {{"env", a->labels_env}, {"zone", a->labels_zone}};
    static const char *caps[] = {"cpu"};
    m.u.hello = (cp_hello_t){1, a->app->name, a->inst, "benchhost", (uint32_t)(a - agents), (uint64_t)wall_ms(),
                             "Bench", "17.0.0", "bench", labels, 2, caps, 1, "", "jvm"};
    queue_msg(a, &m);
    a->state = 1;
}

static void send_batch(agent_t *a)
{
    app_t *ap = a->app;
    int k = a->k++ % K_WINDOWS;
    win_t *w = app_window(ap, k);
    cp_wire_value_t *vals = calloc(w->n + 1, sizeof *vals);
    uint32_t n = 0;
    uint64_t mult = 1 + (uint64_t)((a - agents) % 3);
    for (uint32_t i = 0; i < w->n; i++)
        vals[n++] = (cp_wire_value_t){w->stacks[i], 0, w->vals[i] * mult};
    if (a->probe) {   /* marker stack: a fresh stack unique to this probe batch; the probe
                       * sends only it, so polling its profile stays cheap */
        n = 0;
        uint32_t fr[2], id;
        char mk[64];
        snprintf(mk, sizeof mk, "marker%llu", (unsigned long long)a->probe_marker);
        cp_frame_t f = {0, 0, 0, 0, CP_FRAME_JAVA};
        cp_stack_dict_intern_string(ap->dict, "probe.Marker", 12, &f.class_id);
        cp_stack_dict_intern_string(ap->dict, mk, strlen(mk), &f.method_id);
        fr[0] = ap->method_frame[0];
        cp_stack_dict_intern_frame(ap->dict, &f, &fr[1]);
        cp_stack_dict_intern_stack(ap->dict, fr, 2, &id);
        vals[n++] = (cp_wire_value_t){id, 0, 1};
    }
    cp_sample_type_t types[] = {{"cpu", "ns"}};
    cp_counter_t ctr[] = {{"samples.cpu", 3000}, {"fail.unknown_Java", 12}};
    cp_msg_t m = {0};
    m.kind = CP_MSG_BATCH;
    cp_batch_t *b = &m.u.batch;
    b->seq = ++a->seq;
    int64_t start = a->windows_left >= 0 ? a->t0_ms + (int64_t)(a->seq - 1) * a->step_ms : wall_ms() - a->step_ms;
    b->start_ms = (uint64_t)start;
    b->end_ms = (uint64_t)(start + a->step_ms);
    b->types = types;
    b->n_types = 1;
    b->dict = ap->dict;
    b->str_first = a->sent_str;
    b->frame_first = a->sent_frame;
    b->stack_first = a->sent_stack;
    b->values = vals;
    b->n_values = n;
    b->counters = ctr;
    b->n_counters = 2;
    queue_msg(a, &m);
    a->sent_str = cp_stack_dict_strings(ap->dict);
    a->sent_frame = cp_stack_dict_frames(ap->dict);
    a->sent_stack = cp_stack_dict_stacks(ap->dict);
    a->inflight++;
    g_batches++;
    g_values += n;
    if (a->windows_left > 0)
        a->windows_left--;
    free(vals);
}

/* probe thread */
static pthread_mutex_t pmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pcv = PTHREAD_COND_INITIALIZER;
static uint64_t probe_want;          /* marker waiting to become visible */
static double probe_sent_at;
static double lat[4096], ack_lat[4096];
static int n_lat, n_ack_lat;

static bool g_tls;   /* --tls: the relay serves https/wss with a self-signed certificate */

static int http_get(const char *path, cp_buf_t *body)
{
    return cp_bench_http_get(g_port, g_tls, path, body);
}

static void *probe_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pmu);
        while (!probe_want && !g_stop)
            pthread_cond_wait(&pcv, &pmu);
        uint64_t want = probe_want;
        double t0 = probe_sent_at;
        pthread_mutex_unlock(&pmu);
        if (g_stop)
            break;
        char needle[64], path[256];
        snprintf(needle, sizeof needle, "probe.Marker.marker%llu", (unsigned long long)want);
        snprintf(path, sizeof path, "/api/v1/profile?app=probe&from=now-2m&to=now%%2B1m&format=collapsed");
        for (int tries = 0; tries < 2000; tries++) {
            cp_buf_t body = CP_BUF_INIT;
            int st = http_get(path, &body);
            cp_buf_append(&body, "", 1);
            bool seen = st == 200 && strstr((char *)body.data, needle);
            cp_buf_fini(&body);
            if (seen) {
                if (n_lat < 4096)
                    lat[n_lat++] = now_s() - t0;
                break;
            }
            usleep(2000);
        }
        pthread_mutex_lock(&pmu);
        probe_want = 0;
        pthread_mutex_unlock(&pmu);
    }
    return NULL;
}

static int g_fleet;   /* --target: agents reconnect after a close (scripts/faults) */
static void fleet_reconnect_later(agent_t *a);

static void connect_agent(agent_t *a)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = "127.0.0.1";
    ci.port = a->port ? a->port : g_port;
    ci.path = "/ingest";
    ci.host = "127.0.0.1";
    /* no Origin: agents are not browsers (the relay refuses foreign origins) */
    ci.protocol = "cprof.v1";
    if (g_tls)
        ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    ci.userdata = a;
    ci.pwsi = &a->wsi;
    a->state = 0;
    if (!lws_client_connect_via_info(&ci))
        a->state = 3;
}

static void live_tick(lws_sorted_usec_list_t *sul)
{
    agent_t *a = lws_container_of(sul, agent_t, sul);
    if (g_stop || a->state == 3)
        return;
    if (a->state == 2) {
        if (a->probe && !g_probe_on) {
            /* idle until the latency phase */
        } else if (a->probe) {
            pthread_mutex_lock(&pmu);
            bool busy = probe_want != 0;
            if (!busy) {
                a->probe_marker++;
                probe_want = a->probe_marker;
                probe_sent_at = now_s();
            }
            pthread_mutex_unlock(&pmu);
            if (!busy) {
                send_batch(a);
                pthread_cond_signal(&pcv);
            }
        } else {
            send_batch(a);
        }
    }
    lws_sul_schedule(ctx, 0, &a->sul, live_tick, a->step_ms * 1000);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    agent_t *a = (agent_t *)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        g_connected++;
        send_hello(a);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!g_fleet)
            fprintf(stderr, "bench: connect error: %s\n", in ? (char *)in : "?");
        if (a) {
            a->state = 3;
            a->wsi = NULL;
            if (g_fleet)
                fleet_reconnect_later(a);
        }
        g_closed++;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        cp_msg_t *m = NULL;
        if (cp_wire_decode(in, len, NULL, &m, NULL, 0))
            break;
        if (m->kind == CP_MSG_WELCOME) {
            a->state = 2;
            if (a->windows_left != 0 && a->windows_left > 0) {
                while (a->inflight < a->max_inflight && a->windows_left > 0)
                    send_batch(a);
            } else if (a->windows_left < 0) {
                lws_sul_schedule(ctx, 0, &a->sul, live_tick,
                                 (lws_usec_t)(rng_next(&(uint64_t){(uint64_t)(a - agents) * 7919 + 1}) %
                                              (uint64_t)(a->step_ms * 1000)));
            }
        } else if (m->kind == CP_MSG_ACK) {
            g_acks++;
            a->acked = m->u.ack.seq;
            if (a->probe && g_probe_on && n_ack_lat < 4096)
                ack_lat[n_ack_lat++] = now_s() - probe_sent_at;
            if (a->inflight)
                a->inflight--;
            while (a->windows_left > 0 && a->inflight < a->max_inflight)
                send_batch(a);
        } else if (m->kind == CP_MSG_ERROR) {
            fprintf(stderr, "bench: relay error: %s\n", m->u.error.message);
            g_errors++;
        }
        cp_msg_free(m);
        break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (a->out_off >= a->out.len)
            break;
        uint32_t l;
        memcpy(&l, a->out.data + a->out_off, 4);
        uint8_t *p = a->out.data + a->out_off + 4 + LWS_PRE;
        if (lws_write(wsi, p, l, LWS_WRITE_BINARY) < (int)l)
            return -1;
        a->out_off += 4 + LWS_PRE + l;
        if (a->out_off >= a->out.len) {
            a->out.len = 0;
            a->out_off = 0;
            if (a->out.cap > 65536)   /* first batches carry whole dictionaries: give it back */
                cp_buf_fini(&a->out);
        } else {
            lws_callback_on_writable(wsi);
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (a) {
            a->state = 3;
            a->wsi = NULL;
            lws_sul_cancel(&a->sul);
            if (g_fleet)
                fleet_reconnect_later(a);
        }
        g_closed++;
        break;
    default:
        break;
    }
    return 0;
}

static struct lws_protocols protos[] = {{"cprof.v1", cb, 0, 4096, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static cp_bench_relays_t relays;   /* the relays under test (bench_proc.h) */

/* keeps lws_service() returning at least every 50 ms */
static lws_sorted_usec_list_t tick_sul;
static void tick(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(ctx, 0, sul, tick, 50000);
}

static void service_until(bool (*done)(void), double timeout)
{
    double end = now_s() + timeout;
    while (!done() && now_s() < end)
        lws_service(ctx, 0);
}

static int hist_n, hist_windows;
static bool hist_done(void)
{
    for (int i = 0; i < hist_n; i++)
        if (agents[i].state != 3 && agents[i].acked < (uint64_t)hist_windows)
            return false;
    return true;
}
static bool all_welcomed(void)
{
    for (int i = 0; i < n_agents; i++)
        if (agents[i].state < 2)
            return false;
    return true;
}
static bool never(void) { return g_stop; }

/* ---------------- fleet mode (--target) ----------------
 * Background volume for scripts/faults: N simulated agents against a relay
 * that is already running (and that the fault suite kills, freezes and
 * starves). Each sends one batch per --step ms; after any close it
 * reconnects 1-3 s later with a fresh dictionary (as a real agent does).
 * Runs --seconds (0 = until SIGTERM/SIGINT), then prints one summary line. */
static void fleet_connect_cb(lws_sorted_usec_list_t *sul)
{
    agent_t *a = lws_container_of(sul, agent_t, sul);
    if (g_stop)
        return;
    a->sent_str = a->sent_frame = a->sent_stack = 0;
    a->inflight = 0;
    a->out.len = 0;
    a->out_off = 0;
    connect_agent(a);
    if (a->state == 3)
        fleet_reconnect_later(a);
}

static void fleet_reconnect_later(agent_t *a)
{
    if (g_stop)
        return;
    uint64_t r = rng_next(&(uint64_t){(uint64_t)(a - agents) * 131 + (uint64_t)wall_ms()});
    lws_sul_schedule(ctx, 0, &a->sul, fleet_connect_cb, (lws_usec_t)(1000000 + r % 2000000));
}

static void fleet_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int fleet_main(int port, int n, int step_ms, int seconds)
{
    static app_t fapps[4];
    g_fleet = 1;
    g_port = port;
    signal(SIGTERM, fleet_stop);
    signal(SIGINT, fleet_stop);
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protos;
    info.fd_limit_per_thread = (unsigned)(n + 64);
    ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    for (int i = 0; i < 4; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "fleet%d", i);
        app_init(&fapps[i], nm, 900 + (uint64_t)i);
    }
    agents = calloc((size_t)n, sizeof *agents);
    n_agents = n;
    for (int i = 0; i < n; i++) {
        agent_t *a = &agents[i];
        a->app = &fapps[i % 4];
        snprintf(a->inst, sizeof a->inst, "fleet-%05d", i);
        snprintf(a->labels_env, sizeof a->labels_env, "prod");
        snprintf(a->labels_zone, sizeof a->labels_zone, "z%d", i % 10);
        a->step_ms = step_ms;
        a->windows_left = -1;
        a->max_inflight = 1000;
        a->k = i;
        connect_agent(a);
        if (a->state == 3)
            fleet_reconnect_later(a);
    }
    double t0 = now_s();
    while (!g_stop && (seconds <= 0 || now_s() - t0 < seconds))
        lws_service(ctx, 0);
    g_stop = 1;
    int ready = 0;
    for (int i = 0; i < n; i++)
        ready += agents[i].state == 2;
    printf("fleet: %d agents, %.0f s: %llu batches sent, %llu acked, %llu connects, %llu closes, %d connected at the end\n",
           n, now_s() - t0, (unsigned long long)g_batches, (unsigned long long)g_acks,
           (unsigned long long)g_connected, (unsigned long long)g_closed, ready);
    lws_context_destroy(ctx);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cprof-bench-relay --cprof PATH [--instances 100] [--hours 24] [--agents 10000]\n"
            "                         [--live-seconds 40] [--keep DIR] [--sync full|normal] [--tls]\n"
            "       cprof-bench-relay --target PORT [--agents 100] [--step MS] [--seconds S]\n"
            "                         (fleet mode: load on a running relay at 127.0.0.1:PORT)\n"
            "  --tls   the relay serves https/wss (self-signed certificate made with openssl)\n"
            "  --store postgres://...  relays on that PostgreSQL database (--relays N of them, default 3;\n"
            "          history agents spread over them); phase 3 (live agents) is skipped\n"
            "  --ingest-only  phase 1 (history ingest) only\n");
}

int main(int argc, char **argv)
{
    const char *cprof = NULL, *keep = NULL, *sync = "full", *store = NULL;
    int n_relays = 3;   /* with --store */
    bool ingest_only = false;   /* phase 1 only (quick alternated pairs while tuning) */
    int H = 100, hours = 24, N = 10000, live_s = 40, target = 0, step = 2000, fleet_s = 0;
    static const struct option opts[] = {{"cprof", 1, 0, 'c'}, {"instances", 1, 0, 'i'}, {"hours", 1, 0, 'H'},
                                         {"agents", 1, 0, 'n'}, {"live-seconds", 1, 0, 's'}, {"keep", 1, 0, 'k'}, {"sync", 1, 0, 'y'},
                                         {"target", 1, 0, 't'}, {"step", 1, 0, 'p'}, {"seconds", 1, 0, 'S'},
                                         {"tls", 0, 0, 'T'}, {"store", 1, 0, 'D'}, {"relays", 1, 0, 'R'},
                                         {"ingest-only", 0, 0, 'I'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cprof = optarg; break;
        case 'i': H = atoi(optarg); break;
        case 'H': hours = atoi(optarg); break;
        case 'n': N = atoi(optarg); break;
        case 's': live_s = atoi(optarg); break;
        case 'k': keep = optarg; break;
        case 'y': sync = optarg; break;
        case 't': target = atoi(optarg); break;
        case 'p': step = atoi(optarg); break;
        case 'S': fleet_s = atoi(optarg); break;
        case 'T': g_tls = true; break;
        case 'D': store = optarg; break;
        case 'R': n_relays = atoi(optarg); break;
        case 'I': ingest_only = true; break;
        default: usage(); return 2;
        }
    }
    if (target) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        return fleet_main(target, N == 10000 ? 100 : N, step > 0 ? step : 2000, fleet_s);
    }
    if (!cprof) {
        usage();
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char dir[256];
    if (keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        mkdir(dir, 0755);
    }
    else {
        snprintf(dir, sizeof dir, "/tmp/cprof-bench-relay-XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    }
    char data[300], dbpath[340], listen[64], logp[320];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(dbpath, sizeof dbpath, "%s/cprof.db", data);
    snprintf(logp, sizeof logp, "%s/relay.log", dir);
    g_port = relays.port[0] = cp_bench_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_port);
    char cert[320], key[320];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (g_tls) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                 " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
                 key, cert);
        if (system(cmd)) {
            fprintf(stderr, "bench: openssl could not make a certificate\n");
            return 1;
        }
    }
    if (store && g_tls) {
        fprintf(stderr, "bench: --store with --tls is not supported\n");
        return 2;
    }
    cp_bench_relay_cfg_t rc = {cprof, dir, sync, store, cert, key, g_tls, n_relays};
    if (cp_bench_relays_start(&relays, &rc))
        return 1;
    if (store)
        printf("%d relays (pids %d..) on ports %d.., one PostgreSQL store %s\n", relays.n, relays.pid[0], g_port,
               store);
    printf("relay pid %d on %s, data %s, --sync %s, %s\n", relays.pid[0], listen, data, sync,
           g_tls ? "TLS (https/wss, ECDSA P-256 self-signed)" : "plain TCP");

    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protos;
    if (g_tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.fd_limit_per_thread = (unsigned)(N + H + 64);
    ctx = lws_create_context(&info);
    if (!ctx)
        return 1;

    tick(&tick_sul);
    static app_t hist_app, apps[10], probe_app;
    app_init(&hist_app, "hist", 12345);
    n_agents = H;
    agents = calloc((size_t)(N + H + 1), sizeof *agents);

    /* ---- phase 1: history ---- */
    hist_n = H;
    hist_windows = hours * 60;
    int64_t now = wall_ms();
    int64_t t0 = (now - (int64_t)hours * 3600000 - 180000) / 60000 * 60000;
    for (int i = 0; i < H; i++) {
        agent_t *a = &agents[i];
        a->app = &hist_app;
        snprintf(a->inst, sizeof a->inst, "hist-%03d", i);
        snprintf(a->labels_env, sizeof a->labels_env, "%s", i % 2 ? "dev" : "prod");
        snprintf(a->labels_zone, sizeof a->labels_zone, "z%d", i % 10);
        a->t0_ms = t0;
        a->step_ms = 60000;
        a->windows_left = hist_windows;
        a->max_inflight = 8;
        a->k = i;
        if (store)
            a->port = relays.port[i % relays.n];
        connect_agent(a);
    }
    double c0 = cp_bench_relays_cpu_s(&relays), w0 = now_s(), pg0 = store ? cp_bench_pg_cpu_s(store) : 0;
    double me0 = self_cpu_s();
    uint64_t b0 = g_batches, by0 = g_bytes;
    service_until(hist_done, 1800);
    double w1 = now_s(), c1 = cp_bench_relays_cpu_s(&relays), pg1 = store ? cp_bench_pg_cpu_s(store) : 0;
    double me1 = self_cpu_s();
    double hb = (double)(g_batches - b0), secs = w1 - w0, cpu = c1 - c0;
    printf("\n[1] history ingest: %d instances x %d h of 60 s windows = %.0f batches (%.0f values) in %.1f s\n",
           H, hours, hb, (double)g_values, secs);
    printf("    ingest rate      %.0f batches/s, %.2f MB/s on the wire (compressed), relay CPU %.2f cores\n",
           hb / secs, (double)(g_bytes - by0) / secs / 1e6, cpu / secs);
    printf("    => agents per relay core at 1 batch/10 s (closed loop): %.0f\n", hb / cpu * 10);
    if (store)   /* one sample type per batch: a batch is one window */
        printf("    => %.0f windows/s sustained by %d relays on one PostgreSQL (target >= 4000); relays %.2f cores\n",
               hb / secs, relays.n, cpu / secs);
    if (store)   /* where the machine's cores went: relays, server, the agents' simulator */
        printf("    CPU per window: relays %.0f us, PostgreSQL %.0f us, bench agents %.0f us"
               " (PostgreSQL %.2f cores, bench %.2f cores)\n", cpu / hb * 1e6, (pg1 - pg0) / hb * 1e6,
               (me1 - me0) / hb * 1e6, (pg1 - pg0) / secs, (me1 - me0) / secs);
    for (int i = 0; i < H; i++)
        if (agents[i].wsi)
            lws_set_timeout(agents[i].wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    double tq = now_s();
    while (now_s() - tq < 1)
        lws_service(ctx, 0);

    long rss_hist = 0;
    int welcomed = 0;
    long rss = 0, hwm = 0;
    if (ingest_only)
        goto phase4;
    /* ---- phase 2: aggregation + /profile latency ---- */
    double ta = now_s();
    while (now_s() - ta < 300 && cp_bench_agg_done(dbpath, store, 3600000) < now - 2 * 3600000)
        usleep(200000);
    printf("\n[2] minute+hour aggregation of 24 h caught up in %.1f s\n", now_s() - ta);
    cp_bench_queries(g_port, g_tls, hours, H);
    rss_hist = cp_bench_relay_status_kb(&relays, "VmRSS:");
    if (store)
        goto phase4;
    /* ---- phase 3: live, N agents at one batch / 10 s ---- */
    for (int i = 0; i < 10; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "live%d", i);
        app_init(&apps[i], nm, 777 + (uint64_t)i);
    }
    app_init(&probe_app, "probe", 4242);
    int base = H;
    n_agents = H + N + 1;
    for (int i = 0; i < N + 1; i++) {
        agent_t *a = &agents[base + i];
        bool probe = i == N;
        a->app = probe ? &probe_app : &apps[i % 10];
        snprintf(a->inst, sizeof a->inst, probe ? "probe" : "live-%05d", i);
        snprintf(a->labels_env, sizeof a->labels_env, "prod");
        snprintf(a->labels_zone, sizeof a->labels_zone, "z%d", i % 10);
        a->step_ms = probe ? 250 : 10000;
        a->windows_left = -1;
        a->max_inflight = 1000;
        a->k = i;
        a->probe = probe;
    }
    for (int i = 0; i < H; i++)
        agents[i].state = 3;
    double tc = now_s();
    for (int i = 0; i < N + 1; i++) {
        connect_agent(&agents[base + i]);
        if (i % 100 == 99) {   /* let each wave finish its handshakes and hellos */
            double tw0 = now_s();
            int ok;
            do {
                lws_service(ctx, 0);
                ok = 0;
                for (int k = i - 99; k <= i; k++)
                    ok += agents[base + k].state >= 2;
            } while (ok < 95 && now_s() - tw0 < 5);
        }
    }
    service_until(all_welcomed, 120);
    for (int i = 0; i < N + 1; i++)
        welcomed += agents[base + i].state == 2;
    printf("\n[3] live: %d of %d agents connected and welcomed in %.1f s\n", welcomed, N + 1, now_s() - tc);
    /* warm-up round (first batches carry the dictionaries), then measure
     * relay CPU with agents only */
    double tw = now_s();
    while (now_s() - tw < 12)
        lws_service(ctx, 0);
    double lc0 = cp_bench_relays_cpu_s(&relays), lw0 = now_s();
    uint64_t lb0 = g_batches, lby0 = g_bytes, la0 = g_acks;
    while (now_s() - lw0 < live_s)
        lws_service(ctx, 0);
    double lsecs = now_s() - lw0, lcpu = cp_bench_relays_cpu_s(&relays) - lc0;
    double lb = (double)(g_batches - lb0);
    printf("    %.0f batches in %.1f s (%.0f/s), %.0f acks, %.2f MB/s; relay CPU %.3f cores\n", lb, lsecs,
           lb / lsecs, (double)(g_acks - la0), (double)(g_bytes - lby0) / lsecs / 1e6, lcpu / lsecs);
    printf("    => agents sustained per relay core at 1 batch/10 s: %.0f (%d agents on %.3f cores)\n",
           welcomed / (lcpu / lsecs), welcomed, lcpu / lsecs);
    rss = cp_bench_relay_status_kb(&relays, "VmRSS:");
    hwm = cp_bench_relay_status_kb(&relays, "VmHWM:");
    /* ingest-to-queryable under the same load: a probe agent sends a marker
     * batch, a helper thread polls /profile (every 2 ms) until it shows */
    pthread_t pt;
    pthread_create(&pt, NULL, probe_main, NULL);
    n_lat = 0;
    g_probe_on = 1;
    double tp = now_s();
    while (now_s() - tp < 20 && n_lat < 200)
        lws_service(ctx, 0);
    g_stop = 1;
    pthread_mutex_lock(&pmu);
    pthread_cond_broadcast(&pcv);
    pthread_mutex_unlock(&pmu);
    pthread_join(pt, NULL);
    printf("    ingest-to-queryable (send -> visible in /profile, %d probes under load): p50 %.1f ms  p99 %.1f ms\n",
           n_lat, cp_bench_pct(lat, n_lat, 0.5) * 1e3, cp_bench_pct(lat, n_lat, 0.99) * 1e3);
    printf("    send -> ack (ack = durable commit = queryable): p50 %.1f ms  p99 %.1f ms\n",
           cp_bench_pct(ack_lat, n_ack_lat, 0.5) * 1e3, cp_bench_pct(ack_lat, n_ack_lat, 0.99) * 1e3);

    /* ---- phase 4: disk, RSS ---- */
phase4:
    printf("\n[4] relay RSS %.1f MB after history, %.1f MB with %d live agents (peak %.1f MB)\n", rss_hist / 1024.0,
           rss / 1024.0, welcomed, hwm / 1024.0);
    lws_context_destroy(ctx);
    cp_bench_relays_stop(&relays);
    FILE *lf = fopen(logp, "r");
    char line[512];
    while (lf && fgets(line, sizeof line, lf))
        if (strstr(line, "receive -> durable"))
            printf("    relay's own view (all phases): %s", strstr(line, "ingest:"));
    if (lf)
        fclose(lf);
    if (store)   /* each writer's time per stage (store_pg.c) */
        cp_bench_relays_log_lines(&relays, dir, "postgres writer", "    ");
    double disk, raw_bytes, agg_bytes, dict_bytes;
    cp_bench_store_sizes(data, store, &disk, &raw_bytes, &agg_bytes, &dict_bytes);
    printf("    disk %.1f MB (database after a clean stop) for %.0f stored (stack, value) pairs:\n"
           "      %.2f bytes/value all-in (raw windows + minute + hour aggregates + dictionaries + indexes)\n"
           "      %.2f bytes/value in raw window blobs alone; aggregate blobs %.1f MB, stack dictionary %.1f MB\n"
           "      %.3f bytes/sample all-in (values are 1-50 samples of 10 ms, mean 25.5)\n",
           disk / 1e6, (double)g_values, disk / (double)g_values, raw_bytes / (double)g_values,
           agg_bytes / 1e6, dict_bytes / 1e6, disk / ((double)g_values * 25.5));
    if (!keep) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) {
        }
    }
    (void)never;
    return 0;
}
