/* store_limits.h - the tenant limits every store engine enforces
 * (--max-apps, --max-label-sets, --max-types; store.h's refusal): which
 * limit applies, the tenant's apps as a range of names, the count query's
 * head, and the refusal. The engine only runs the count.
 *
 * A tenant's apps are named "<tenant>\x1f<app>" (CP_TENANT_SEP): they are
 * the names in [lo, hi) in byte order; the default tenant's are the names
 * without a separator.
 *
 * Thread: the store worker. */
#ifndef CP_RELAY_STORE_LIMITS_H
#define CP_RELAY_STORE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct cp_store_tenant_range {
    char   lo[80], hi[80];
    size_t tl;             /* the tenant name's length; 0: the default tenant */
} cp_store_tenant_range_t;

/* The limit `what` (CP_STORE_LIMIT_*) of cfg; 0 = none. */
uint32_t cp_store_limit_max(const cp_store_config_t *cfg, int what);
/* The range of app qname's tenant; CP_EINVAL if its name is too long. */
int cp_store_tenant_range(const char *qname, cp_store_tenant_range_t *t /* OUT */);
/* "SELECT count(...) FROM ... a ... WHERE ", to be followed by the
 * engine's condition on a.name (its tenant). */
const char *cp_store_limit_sql(int what);
/* n entries against max: 0 under it, else fills r and returns CP_ELIMIT. */
int cp_store_limit_check(cp_store_refusal_t *r, const char *qname, const cp_store_tenant_range_t *t, uint32_t max,
                         int what, int64_t n);

#endif
