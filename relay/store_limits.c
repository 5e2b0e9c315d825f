/* store_limits.c - tenant limits shared by the store engines
 * (store_limits.h).
 *
 * Thread: the store worker. */
#include "store_limits.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "error.h"

uint32_t cp_store_limit_max(const cp_store_config_t *cfg, int what)
{
    return what == CP_STORE_LIMIT_APPS ? cfg->max_apps : what == CP_STORE_LIMIT_LSETS ? cfg->max_lsets
                                                                                       : cfg->max_types;
}

int cp_store_tenant_range(const char *qname, cp_store_tenant_range_t *t)
{
    const char *sep = strchr(qname, CP_TENANT_SEP);
    t->tl = sep ? (size_t)(sep - qname) : 0;
    if (t->tl + 2 > sizeof t->lo)
        return CP_EINVAL;
    memcpy(t->lo, qname, t->tl);
    memcpy(t->hi, qname, t->tl);
    t->lo[t->tl] = CP_TENANT_SEP;
    t->hi[t->tl] = CP_TENANT_SEP + 1;
    t->lo[t->tl + 1] = t->hi[t->tl + 1] = 0;
    return 0;
}

const char *cp_store_limit_sql(int what)
{
    static const char *const sql[] = {
        [CP_STORE_LIMIT_APPS] = "SELECT count(*) FROM apps a WHERE ",
        [CP_STORE_LIMIT_LSETS] = "SELECT count(*) FROM lsets l JOIN apps a ON a.id=l.app_id WHERE ",
        [CP_STORE_LIMIT_TYPES] = "SELECT count(DISTINCT t.type_id) FROM app_types t JOIN apps a ON a.id=t.app_id WHERE ",
    };
    return sql[what];
}

int cp_store_limit_check(cp_store_refusal_t *r, const char *qname, const cp_store_tenant_range_t *t, uint32_t max,
                         int what, int64_t n)
{
    static const char *const names[] = {"", "apps", "label sets", "profile types"};
    static const char *const opts[] = {"", "--max-apps", "--max-label-sets", "--max-types"};
    if ((uint64_t)n < max)
        return 0;
    r->what = what;
    snprintf(r->msg, sizeof r->msg, "tenant '%.*s' is at its limit of %u %s (%s)", (int)t->tl, qname, max,
             names[what], opts[what]);
    return CP_ELIMIT;
}
