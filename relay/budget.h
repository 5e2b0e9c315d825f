/* budget.h - the relay's limits against hostile or runaway clients
 * (docs/relay.md "Budgets"): the options, a token bucket and a per-tenant
 * table of budgets.
 *
 * Every refusal is a clear error to the peer (CP_ERATE with a retry-after
 * for rates and caps, CP_ELIMIT for app/label-set/type limits, HTTP 400/503
 * for queries) and a counter in the relay's metrics (relay.h).
 *
 * Threads: cp_budget_cfg_t is read-only after start-up. A cp_budget_t and
 * the buckets in it belong to ONE thread (the service thread keeps one for
 * connections and bytes/s, the store worker one for windows/s); nothing
 * here locks. */
#ifndef CP_RELAY_BUDGET_H
#define CP_RELAY_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cp_budget_cfg {
    int      hello_timeout_ms;    /* a connection must be welcomed within (default 10 s) */
    int      ping_secs;           /* websocket ping after this much silence (default 30) */
    int      idle_secs;           /* hang up after this much silence (default 90) */
    int      header_secs;         /* HTTP headers / upgrade must complete within (default 10) */
    int      max_conns;           /* TCP connections of every kind (default 20000) */
    bool     max_conns_given;     /* --max-connections was on the command line */
    int      max_pending;         /* connections without complete headers; oldest evicted (1024) */
    int      max_tenant_conns;    /* agent connections per tenant (default 0: max_conns only) */
    uint64_t max_store_queue;     /* bytes queued for the store worker (default 256 MiB) */
    uint64_t tenant_bytes_s;      /* agent message bytes/s per tenant (default 64 MiB/s) */
    uint64_t tenant_windows_s;    /* stored windows/s per tenant (default 50000) */
    double   burst_s;             /* buckets hold this many seconds of rate (default 10) */
    uint32_t max_apps;            /* apps per tenant (default 1000) */
    uint32_t max_label_sets;      /* label sets per tenant (default 1000000) */
    uint32_t max_types;           /* profile types per tenant (default 64) */
    int      query_timeout_ms;    /* deadline of one query (default 10 s) */
    int      query_queue;         /* HTTP requests waiting for a worker (default 64) */
    uint32_t max_points;          /* timeline points per query (default 10000) */
} cp_budget_cfg_t;

void cp_budget_cfg_default(cp_budget_cfg_t *c);

/* ---- token bucket ------------------------------------------------------ */
typedef struct cp_bucket {
    double  rate;       /* tokens per second; 0 = unlimited */
    double  burst;      /* capacity */
    double  tokens;
    int64_t t_ms;       /* last refill */
} cp_bucket_t;

/* A full bucket. rate 0 = unlimited (every take succeeds). */
void cp_bucket_init(cp_bucket_t *b, double rate, double burst, int64_t now_ms);
/* Takes n tokens if the bucket holds them (a request larger than the burst
 * is taken from a full bucket, leaving it in debt, so it is not refused
 * forever). Otherwise takes nothing, returns false and sets *retry_ms to
 * the wait until n tokens (at most the burst) are there. Monotonic or
 * wall ms; a clock going back only delays the refill. */
bool cp_bucket_take(cp_bucket_t *b, double n, int64_t now_ms, uint32_t *retry_ms /* OUT */);

/* ---- websocket pings and idle timeout ---------------------------------- */
/* ingest.c and live.c note each sign of life of a websocket (a message, a
 * pong) and, from their LWS_CALLBACK_TIMER, ask this what to do: a socket
 * silent for ping_secs gets ONE ping (*ping set; the module writes it with
 * a payload: libwebsockets 4.1 hides pongs without one from the protocol
 * callback), and one silent (no message, no pong) for idle_secs is closed
 * (returns true; the module counts stats.idle_timeouts). *next_ms: when to
 * check again. */
bool cp_idle_check(int64_t last_ms, const cp_budget_cfg_t *c, int64_t now_ms, bool *ping /* OUT */,
                   int64_t *next_ms /* OUT */);
#define CP_IDLE_PING_PAYLOAD "cprof-idle"   /* what the relay's pings carry */

/* ---- per-tenant table -------------------------------------------------- */
typedef struct cp_budget_tenant {
    char        name[64];         /* CP_TENANT_MAX; "" = the open tenant */
    int         conns;            /* agent connections (service thread table) */
    cp_bucket_t bytes;            /* service thread table */
    cp_bucket_t windows;          /* store worker table */
} cp_budget_tenant_t;

typedef struct cp_budget cp_budget_t;
cp_budget_t *cp_budget_create(const cp_budget_cfg_t *cfg);
void         cp_budget_destroy(cp_budget_t *b);
/* The tenant's entry, created (full buckets) on first use. Borrowed: valid
 * until cp_budget_destroy(). Tenants come from the auth file, so the
 * table stays small. */
cp_budget_tenant_t *cp_budget_tenant(cp_budget_t *b, const char *tenant, int64_t now_ms);

#endif
