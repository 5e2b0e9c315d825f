/* relay.h - internals shared by the relay's modules (not a public API).
 *
 * Threads:
 *   service  - the one libwebsockets thread: moves bytes, owns every wsi and
 *              every per-session struct (pss). Nothing else touches lws
 *              except lws_cancel_service().
 *   store    - one worker (ingest.c) owning the SQLite writer: decodes agent
 *              messages, stores batches with group commit, maintenance.
 *   query    - N workers (api.c), each with its own SQLite reader.
 * Work goes to workers through mutex+cond queues; results come back through
 * the done-queue below and are picked up by the service thread in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED. Results name their session by a 64-bit
 * id (ingest) or a request struct the service thread can cancel (http), so
 * a session that closed while its job was running is never touched. */
#ifndef CP_RELAY_RELAY_H
#define CP_RELAY_RELAY_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "budget.h"
#include "buf.h"
#include "listen.h"
#include "store.h"
#include "wire.h"

typedef struct cp_relay_cfg {
    cp_listen_addr_t listen;           /* --listen, resolved (listen.h) */
    int              port;
    const char      *data_dir;
    const char      *store_url;        /* --store postgres://...: the store (NULL: SQLite in data_dir) */
    const char      *ui_dir;
    const char      *token;            /* deprecated --token: one ingest token of tenant "" */
    const char      *auth_file;        /* --auth FILE (auth.h); NULL and no token = open mode */
    bool             insecure_open;    /* --insecure-open: no auth on a non-loopback address */
    const char      *tls_cert;         /* --tls-cert/--tls-key: https + wss (tls.c) */
    const char      *tls_key;
    const char      *tls_client_ca;    /* --tls-client-ca: agents must show a cert of this CA */
    const char      *public_url;       /* --public-url: the Host browsers use (origin.c) */
    cp_wire_limits_t limits;
    cp_store_config_t store;
    int              query_threads;
    int              live_queue;       /* messages per UI */
    int              verbose;
    cp_budget_cfg_t  budget;           /* limits against hostile input (budget.h) */
    const char      *otlp_export;      /* --otlp-export URL (otlp_export.h), or NULL */
    int              otlp_queue;       /* --otlp-queue: windows */
    int64_t          otlp_backoff_max_ms;   /* --otlp-backoff-max */
    const char      *nats_url;         /* --nats URL: live fan-out across relays (fanout.h), or NULL */
} cp_relay_cfg_t;

/* Where the store lives (store.h cp_store_open): --store, else data_dir. */
static inline const char *cp__relay_store_where(const cp_relay_cfg_t *c)
{
    return c->store_url ? c->store_url : c->data_dir;
}

/* ---- done-queue: worker -> service thread ---- */
enum { CP_DONE_INGEST = 1, CP_DONE_HTTP, CP_DONE_LIVE, CP_DONE_CONTROL /* control_sync.h */ };

struct cp_qreq;

typedef struct cp_done {
    int       kind;
    uint64_t  conn_id;                 /* INGEST */
    uint8_t  *data;                    /* INGEST: LWS_PRE + message, or NULL; LIVE: JSON text */
    size_t    len;                     /* bytes after LWS_PRE (INGEST) / text length (LIVE) */
    bool      close;                   /* INGEST: close after sending */
    char      reason[200];
    struct cp_qreq *req;               /* HTTP */
    char     *app, *type, *labels;     /* LIVE: for subscription matching */
    bool      remote;                  /* LIVE: from another relay (fanout.h): not published again */
    struct cp_done *next;
} cp_done_t;

void cp__done_post(cp_done_t *d);     /* any thread; wakes the service thread */
void cp__done_post_list(cp_done_t *head);

/* Writes one websocket ping carrying CP_IDLE_PING_PAYLOAD (budget.h), so
 * the pong reaches the protocol's LWS_CALLBACK_RECEIVE_PONG. Only from
 * SERVER_WRITEABLE. 0, or -1 (close). Thread: service. */
int cp__ws_ping(struct lws *wsi);
/* Signs of life of the relay's websockets are checked by one sweep per
 * module every CP_SWEEP_MS over its own list of connections, not by a
 * timer per connection: libwebsockets 4.1 keeps every timer of a thread in
 * one sorted list and walks it from the head on each insert, and a timer
 * re-armed per message or per ping period is inserted at the far end, so
 * with n connections each insert cost O(n) (perf, 5,000 agents: 64% of the
 * relay's CPU in lws_dll2_add_sorted). For the same reason the relay sets
 * no lws validity (retry_and_idle_policy) timer.
 * cp__ws_idle_due: for an authenticated websocket whose last message or
 * pong came at last_rx_ms: past --idle-timeout counts idle_timeouts and
 * returns true (the caller logs and closes); silent for --ping with no
 * ping sent since its last sign of life, asks for one (*ping_ms = now,
 * *want_ping and a writable callback). Thread: service. */
#define CP_SWEEP_MS 200
/* Refuses a websocket upgrade from LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION
 * (logged, at most a line a second): an HTTP/2 stream is let through and
 * closed on its own with 1008 and why, before its module sees it again
 * (returns 0: the caller returns 0); anything else returns -1 (the caller
 * returns -1: lws refuses the upgrade). Thread: service. */
int cp__ws_refuse(struct lws *wsi, int status, const char *why);
bool cp__ws_idle_due(struct lws *wsi, int64_t now_ms, int64_t last_rx_ms, int64_t *ping_ms /* IN/OUT */,
                     bool *want_ping /* OUT */);
/* (Re)schedules a module's sweep CP_SWEEP_MS from now. Thread: service. */
void cp__sweep_schedule(lws_sorted_usec_list_t *sul, sul_cb_t cb);

/* The relay's own counters, shown by GET /api/v1/metrics and the periodic
 * stats log. Each is written by one thread (or with CP_STAT_ADD where
 * several threads count, e.g. the query workers) and read anywhere with
 * relaxed loads: they are statistics, not synchronisation.
 * X(name, gauge?, help) */
#define CP_RELAY_STATS(X)                                                                  \
    X(agents_now, 1, "agent connections that said hello and are open")                     \
    X(connections_now, 1, "websocket connections open (agents + live UIs)")                 \
    X(batches, 0, "batches stored")                                                         \
    X(dup_batches, 0, "duplicate batches acked, not stored again")                         \
    X(bytes_in, 0, "agent message bytes decoded")                                           \
    X(errors, 0, "agent connections closed with an error")                                 \
    X(commits, 0, "store transactions committed")                                           \
    X(queries, 0, "HTTP API requests answered")                                             \
    X(live_dropped, 0, "live messages dropped for slow UIs")                               \
    X(auth_denied, 0, "unknown/missing token or role too small (ingest, HTTP, live)")      \
    X(hello_rejected, 0, "first ingest message not a small valid hello")                   \
    X(hello_timeouts, 0, "connections closed for no valid hello in time")                  \
    X(idle_timeouts, 0, "websockets (agents, live UIs) closed: no message or pong for --idle-timeout") \
    X(pending_now, 1, "connections without complete headers yet (--max-pending)")           \
    X(pending_evicted, 0, "connections closed: the oldest of more than --max-pending without headers") \
    X(conn_refused_global, 0, "agent connections refused: relay connection cap")           \
    X(conn_refused_tenant, 0, "agent connections refused: tenant connection cap")          \
    X(rate_limited_bytes, 0, "agent messages refused: tenant bytes/s budget (CP_ERATE)")   \
    X(rate_limited_windows, 0, "agent batches refused: tenant windows/s budget (CP_ERATE)")\
    X(limit_apps, 0, "hellos refused: tenant app limit")                                   \
    X(limit_label_sets, 0, "hellos refused: tenant label-set limit")                       \
    X(limit_types, 0, "batches refused: tenant profile-type limit")                        \
    X(store_queue_bytes, 1, "bytes queued for the store worker")                           \
    X(store_queue_pauses, 0, "times agent reads were paused: store queue over its cap")    \
    X(query_queue_now, 1, "HTTP requests waiting for a query worker")                      \
    X(query_rejected_full, 0, "HTTP requests answered 503: query queue full")              \
    X(query_timeouts, 0, "queries answered 503: over --query-timeout")                     \
    X(query_bad_range, 0, "queries answered 400: time out of range / over retention")      \
    X(query_cancelled, 0, "queries dropped or abandoned: the client left")                 \
    X(store_failures, 0, "store transactions that failed and were rolled back (disk full, read-only)") \
    X(store_refused, 0, "agent messages not stored because their transaction failed (CP_ERATE, resent)") \
    X(otlp_exported, 0, "windows delivered to the --otlp-export collector")                \
    X(otlp_requests, 0, "OTLP export requests the collector accepted")                     \
    X(otlp_retries, 0, "OTLP export attempts that failed and were retried with backoff")   \
    X(otlp_rejected, 0, "windows in OTLP export requests the collector refused (not retried)") \
    X(otlp_dropped, 0, "windows dropped from a full OTLP export queue (oldest first)")     \
    X(otlp_queue_now, 1, "windows waiting for the OTLP exporter")                          \
    X(nats_connected, 1, "1 while the --nats connection is up (live fan-out across relays)") \
    X(nats_published, 0, "live messages published to NATS for other relays")              \
    X(nats_received, 0, "live messages received from other relays through NATS")          \
    X(nats_dropped, 0, "live messages not published: NATS down or the fan-out queue full") \
    X(nats_disconnects, 0, "NATS connection losses (fan-out paused until it came back)")   \
    X(nats_bad, 0, "NATS messages ignored: a subject or body no relay publishes")

typedef struct cp_relay_stats {
#define CP__STAT_FIELD(name, gauge, help) uint64_t name;
    CP_RELAY_STATS(CP__STAT_FIELD)
#undef CP__STAT_FIELD
} cp_relay_stats_t;

/* For counters several threads bump (relaxed: a statistic orders nothing). */
#define CP_STAT_ADD(name, n) __atomic_fetch_add(&cp__relay.stats.name, (uint64_t)(n), __ATOMIC_RELAXED)
#define CP_STAT_SUB(name, n) __atomic_fetch_sub(&cp__relay.stats.name, (uint64_t)(n), __ATOMIC_RELAXED)
/* Appends every counter (format "prometheus" text or "json"). Any thread. */
void cp__stats_write(cp_buf_t *out, bool json);

/* Global relay state (one relay per process). */
typedef struct cp_relay {
    cp_relay_cfg_t       cfg;
    struct lws_context  *ctx;
    volatile int         stop;
    cp_relay_stats_t     stats;        /* written by the thread that owns each counter */
} cp_relay_t;

extern cp_relay_t cp__relay;

int64_t cp__now_ms(void);
void    cp__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* options.c: defaults, then argv. 0 = run; 1 = done (--help), exit 0;
 * 2 = bad usage (message printed), exit 2. */
void cp__relay_options_default(cp_relay_cfg_t *c);
int  cp__relay_options_parse(cp_relay_cfg_t *c, int argc, char **argv);

/* ingest.c */
int  cp__ingest_start(void);                 /* opens the store, starts the store worker */
void cp__ingest_stop(void);
void cp__ingest_done(cp_done_t *d);          /* service thread */
int  cp__ingest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
size_t cp__ingest_pss_size(void);
/* An agent connection that said hello (control.c matches changes on it). */
typedef struct cp__ingest_agent {
    uint64_t    conn_id;
    const char *qapp, *instance, *labels;   /* tenant-qualified app; canonical label set */
    bool        control1;                   /* hello capability: timed controls + control_ack */
} cp__ingest_agent_t;
void cp__ingest_each_agent(void (*fn)(void *ud, const cp__ingest_agent_t *a), void *ud);   /* service thread */
/* Queues data (LWS_PRE + message, ownership taken) to connection conn_id;
 * false (data freed) when it is gone or closing. Service thread. */
bool cp__ingest_send(uint64_t conn_id, uint8_t *data, size_t len);

/* api.c */
int  cp__api_start(void);
void cp__api_stop(void);
void cp__api_done(cp_done_t *d);             /* service thread */
int  cp__api_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
size_t cp__api_pss_size(void);

/* live.c */
void cp__live_done(cp_done_t *d);            /* service thread */
int  cp__live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
size_t cp__live_pss_size(void);
/* The principal of a live-feed upgrade (Authorization: Bearer or a
 * "bearer.TOKEN" subprotocol entry): 0 and *who, or 401 / 403. Service thread. */
int    cp__live_authorize(struct lws *wsi, cp_principal_t *who /* OUT */);

/* timeparse.c: "now-15m", unix seconds, RFC 3339 -> unix ms. 0 or CP_EINVAL. */
int cp_time_parse(const char *s, int64_t now_ms, int64_t *out_ms /* OUT */);
/* "30s", "1m", "2h", "7d", "500ms", bare number = seconds -> ms. */
int cp_duration_parse(const char *s, int64_t *out_ms /* OUT */);
#define CP_DURATION_MAX_MS (100LL * 365 * 86400000)   /* CP_ERANGE past it */
/* cp_time_parse plus the forms a person types (the CLI's --from/--to), read
 * in the local time zone (TZ) unless they name one: "2026-12-03" (local
 * midnight), "today", "yesterday", "2026-12-03 14:00[:05[.250]]" (or with
 * 'T'), each optionally followed by a zone: Z, UTC, GMT, +01:00, +0100, +01
 * or the local zone's abbreviation as strftime's %Z prints it (CET, CEST).
 * Not thread-safe (tzset/mktime read the process' TZ). */
int cp_time_parse_local(const char *s, int64_t now_ms, int64_t *out_ms /* OUT */);

#endif
