/* budget.c - token buckets and the per-tenant budget table (budget.h).
 *
 * A bucket refills continuously at `rate` tokens/s up to `burst`; a take
 * that does not fit is refused whole (nothing partial), so an agent's
 * message is either accepted or answered CP_ERATE, never half counted.
 * The tenant table is a plain array searched linearly: tenants are the few
 * named in the auth file. Owned by one thread (see budget.h); no locks. */
#include "budget.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rutil.h"

void cp_budget_cfg_default(cp_budget_cfg_t *c)
{
    memset(c, 0, sizeof *c);
    c->hello_timeout_ms = 10000;
    c->ping_secs = 30;
    c->idle_secs = 90;
    c->header_secs = 10;
    c->max_conns = 20000;
    c->max_pending = 1024;
    c->max_tenant_conns = 0;       /* = max_conns: open mode has one tenant */
    c->max_store_queue = 256u << 20;
    c->tenant_bytes_s = 64u << 20;
    c->tenant_windows_s = 50000;
    c->burst_s = 10;
    c->max_apps = 1000;
    c->max_label_sets = 1000000;   /* label sets are never expired, and pid/host labels
                                      make one per JVM start: years of a big fleet */
    c->max_types = 64;
    c->query_timeout_ms = 10000;
    c->query_queue = 64;
    c->max_points = 10000;
}

bool cp_idle_check(int64_t last_ms, const cp_budget_cfg_t *c, int64_t now_ms, bool *ping, int64_t *next_ms)
{
    int64_t silent = now_ms - last_ms, ping_ms = (int64_t)c->ping_secs * 1000,
            idle_ms = (int64_t)c->idle_secs * 1000;
    *ping = false;
    if (silent >= idle_ms) {
        *next_ms = 0;
        return true;
    }
    if (silent < ping_ms && ping_ms < idle_ms) {
        *next_ms = ping_ms - silent;
        return false;
    }
    *ping = true;
    *next_ms = idle_ms - silent;
    return false;
}

void cp_bucket_init(cp_bucket_t *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate;
    b->burst = burst > 0 ? burst : rate;
    b->tokens = b->burst;
    b->t_ms = now_ms;
}

bool cp_bucket_take(cp_bucket_t *b, double n, int64_t now_ms, uint32_t *retry_ms)
{
    if (b->rate <= 0)
        return true;
    if (now_ms > b->t_ms) {
        b->tokens += (double)(now_ms - b->t_ms) * b->rate / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->t_ms = now_ms;
    }
    double need = n < b->burst ? n : b->burst;   /* oversized: wait for a full bucket */
    if (b->tokens >= need) {
        b->tokens -= n;                           /* may go negative: debt */
        return true;
    }
    double wait = ceil((need - b->tokens) * 1000.0 / b->rate - 1e-6);   /* float noise */
    *retry_ms = wait > 3600e3 ? 3600000u : wait < 1 ? 1u : (uint32_t)wait;
    return false;
}

struct cp_budget {
    cp_budget_cfg_t     cfg;
    cp_budget_tenant_t **t;
    size_t              n;
};

cp_budget_t *cp_budget_create(const cp_budget_cfg_t *cfg)
{
    cp_budget_t *b = cp__xcalloc(1, sizeof *b);
    b->cfg = *cfg;
    return b;
}

void cp_budget_destroy(cp_budget_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->t[i]);
    free(b->t);
    free(b);
}

cp_budget_tenant_t *cp_budget_tenant(cp_budget_t *b, const char *tenant, int64_t now_ms)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->t[i]->name, tenant))
            return b->t[i];
    cp_budget_tenant_t *t = cp__xcalloc(1, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", tenant);
    cp_bucket_init(&t->bytes, (double)b->cfg.tenant_bytes_s, (double)b->cfg.tenant_bytes_s * b->cfg.burst_s,
                   now_ms);
    cp_bucket_init(&t->windows, (double)b->cfg.tenant_windows_s,
                   (double)b->cfg.tenant_windows_s * b->cfg.burst_s, now_ms);
    b->t = cp__xrealloc(b->t, (b->n + 1) * sizeof *b->t);
    b->t[b->n++] = t;
    return t;
}
