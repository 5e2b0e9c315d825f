/* tenant_view.h - the store's answers as one tenant sees them.
 *
 * The store keeps apps under tenant-qualified names (auth.h) and knows
 * nothing of tenants. These helpers turn its documents into what a caller
 * of one tenant may see: only that tenant's apps, each named as its agents
 * sent it, and messages that never show a qualified name. Pure functions,
 * any thread (api.c calls them on query workers). */
#ifndef CP_RELAY_TENANT_VIEW_H
#define CP_RELAY_TENANT_VIEW_H

#include <stddef.h>

#include "buf.h"

/* The store's apps document ({"apps":[{"name":N,...},...]}) filtered to the
 * apps of tenant, names unqualified, appended to out. 0 or CP_EINVAL when
 * the document is not of that shape. */
int  cp_tenant_apps_json(const cp_buf_t *all, const char *tenant, cp_buf_t *out);
/* doc with every "app":<qualified> replaced by "app":<app>, appended to out. */
void cp_tenant_rename_app(const cp_buf_t *doc, const char *qapp, const char *app, cp_buf_t *out);
/* Rewrites err in place: each occurrence of qapp becomes app (truncated to errlen). */
void cp_tenant_err_text(char *err, size_t errlen, const char *qapp, const char *app);

#endif
