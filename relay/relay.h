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

#include "buf.h"
#include "listen.h"
#include "store.h"
#include "wire.h"

typedef struct cp_relay_cfg {
    cp_listen_addr_t listen;           /* --listen, resolved (listen.h) */
    int              port;
    const char      *data_dir;
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
} cp_relay_cfg_t;

/* ---- done-queue: worker -> service thread ---- */
enum { CP_DONE_INGEST = 1, CP_DONE_HTTP, CP_DONE_LIVE };

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
    struct cp_done *next;
} cp_done_t;

void cp__done_post(cp_done_t *d);     /* any thread; wakes the service thread */
void cp__done_post_list(cp_done_t *head);

typedef struct cp_relay_stats {
    uint64_t batches, dup_batches, bytes_in, errors, agents_now, commits;
    uint64_t live_dropped, queries;
    uint64_t auth_denied;              /* unknown/missing token or role too small (ingest, HTTP, live) */
    uint64_t hello_rejected;           /* first ingest message not a small valid hello */
} cp_relay_stats_t;

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
struct cp_principal;
int    cp__live_authorize(struct lws *wsi, struct cp_principal *who /* OUT */);

/* timeparse.c: "now-15m", unix seconds, RFC 3339 -> unix ms. 0 or CP_EINVAL. */
int cp_time_parse(const char *s, int64_t now_ms, int64_t *out_ms /* OUT */);
/* "30s", "1m", "2h", "7d", "500ms", bare number = seconds -> ms. */
int cp_duration_parse(const char *s, int64_t *out_ms /* OUT */);

#endif
