/* auth.h - who is calling: tokens, roles and tenants (docs/security.md).
 *
 * The relay's --auth FILE holds one token per line: its tenant, its role and
 * the SHA-256 of the token (never the token itself). A caller presents the
 * token (agent: in its hello; HTTP and the live feed: "Authorization: Bearer
 * TOKEN"); cp_auth_check() hashes it and compares against every line in
 * constant time, and answers with a principal: the tenant the caller acts in
 * and its role.
 *
 * Roles (each includes nothing of the others except admin):
 *   ingest - may send profiles (agents) into its tenant; nothing else
 *   read   - may read its tenant's apps, profiles, live feed
 *   admin  - read + control (configure agents) in its tenant
 *
 * Tenants: every app belongs to exactly one tenant. The store is
 * tenant-unaware: an app is stored under its qualified name,
 * cp_auth_qualify(tenant, app) = app for the open tenant "" and
 * tenant "\x1f" app otherwise (agents may not use control characters in
 * app names, so a qualified name never collides). Every reader filters
 * and strips with cp_auth_unqualify().
 *
 * Without --auth the relay runs open: one tenant "", every caller is admin.
 *
 * Threads: the table is loaded at start-up and swapped on SIGHUP by the
 * service thread; cp_auth_check() may run on any thread (it takes a
 * reference on the current table). */
#ifndef CP_RELAY_AUTH_H
#define CP_RELAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define CP_TENANT_MAX 64          /* bytes incl. NUL; [A-Za-z0-9._-]+ */
#define CP_TENANT_SEP '\x1f'

typedef enum cp_role {
    CP_ROLE_NONE = 0,             /* unauthenticated */
    CP_ROLE_INGEST = 1,
    CP_ROLE_READ = 2,
    CP_ROLE_ADMIN = 3,
} cp_role_t;

typedef struct cp_principal {
    char      tenant[CP_TENANT_MAX];   /* "" = the open tenant */
    cp_role_t role;
} cp_principal_t;

#endif
