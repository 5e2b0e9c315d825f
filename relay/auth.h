/* auth.h - who is calling: tokens, roles and tenants (docs/security.md).
 *
 * The relay's --auth FILE holds one token per line: its tenant, its role and
 * the SHA-256 of the token (never the token itself):
 *
 *     # TENANT  ROLE    SHA256-OF-TOKEN (64 hex digits)
 *     shop      ingest  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *
 * A caller presents the token (agent: in its hello; HTTP and the live feed:
 * "Authorization: Bearer TOKEN", or the websocket subprotocol entry
 * "bearer.TOKEN" for browsers); cp_auth_check() hashes it and compares
 * against every line in constant time, and answers with a principal: the
 * tenant the caller acts in and its role.
 *
 * Roles:
 *   ingest - may send profiles (agents) into its tenant; nothing else
 *   read   - may read its tenant's apps, profiles, live feed
 *   admin  - ingest + read + control (configure agents) in its tenant
 *
 * Tenants: every app belongs to exactly one tenant. The store is
 * tenant-unaware: an app is stored under its qualified name,
 * cp_auth_qualify(tenant, app) = app for the default tenant "" and
 * tenant "\x1f" app otherwise (agents and readers may not use control
 * characters in app names, so a qualified name never collides). Every
 * reader filters and strips with cp_auth_unqualify(). In the file the
 * default tenant is written "-" (the apps a relay stored without --auth).
 *
 * Modes (cp_auth_init):
 *   open   - no --auth: one tenant "", every caller is admin.
 *   legacy - the deprecated --token T: agents must present T (tenant "",
 *            role ingest); readers stay open (admin of "").
 *   file   - --auth FILE: every caller needs a token.
 *
 * Threads: the table is loaded at start-up and swapped by
 * cp__auth_reload() (SIGHUP, service thread); cp_auth_check() may run on
 * any thread (it takes a reference on the current table, so a reload never
 * frees a table under a reader). */
#ifndef CP_RELAY_AUTH_H
#define CP_RELAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_TENANT_MAX 64          /* bytes incl. NUL; [A-Za-z0-9._-]+ */
#define CP_TENANT_SEP '\x1f'
#define CP_AUTH_HASH_LEN 32       /* SHA-256 */
#define CP_AUTH_TOKEN_MAX 512     /* longest token accepted from a caller */
#define CP_AUTH_TOKEN_NEW_LEN 47  /* "cpt_" + 43 base64url characters (256 random bits) */

typedef enum cp_role {
    CP_ROLE_NONE = 0,             /* unauthenticated */
    CP_ROLE_INGEST = 1,
    CP_ROLE_READ = 2,
    CP_ROLE_ADMIN = 3,
} cp_role_t;

typedef struct cp_principal {
    char      tenant[CP_TENANT_MAX];   /* "" = the default (open) tenant */
    cp_role_t role;
} cp_principal_t;

/* ---- the token table (pure: parse and look up; unit-tested) ---- */
typedef struct cp_auth_table cp_auth_table_t;

/* Parses the auth file's text (name is used in messages only). On error
 * returns CP_EINVAL and err says "NAME:LINE: why". Caller owns *out
 * (cp_auth_table_release). */
int  cp_auth_table_parse(const char *text, size_t len, const char *name, cp_auth_table_t **out /* OUT */,
                         char *err, size_t errlen);
void cp_auth_table_release(cp_auth_table_t *t);   /* NULL is a no-op */
size_t cp_auth_table_count(const cp_auth_table_t *t);
/* Hashes the token and compares it with every line in constant time
 * (CRYPTO_memcmp, no early exit). true + *out on a match. */
bool cp_auth_table_check(const cp_auth_table_t *t, const char *token, size_t len, cp_principal_t *out /* OUT */);

/* ---- process-wide state (relay) ---- */
/* path = --auth FILE (or NULL), legacy_token = --token (or NULL); both NULL
 * is open mode. Returns 0 or CP_E* with err filled ("FILE:LINE: why"). */
int  cp_auth_init(const char *path, const char *legacy_token, char *err, size_t errlen);
void cp_auth_fini(void);
/* Re-reads the --auth file; on any error keeps the current table and logs
 * why. Returns 0 or CP_E*. Thread: service (called on SIGHUP). */
int  cp__auth_reload(void);
/* true when readers (HTTP API, live feed) must present a token. */
bool cp_auth_readers_need_token(void);
/* Any thread. NULL/empty token never matches. In open mode every caller is
 * the admin of tenant "". Returns true + *out, or false (unknown token). */
bool cp_auth_check(const char *token, cp_principal_t *out /* OUT */);
/* The principal of every caller in open mode (and of readers under the
 * deprecated --token): admin of the default tenant "". */
void cp_auth_open_admin(cp_principal_t *out /* OUT */);
/* Does role `have` include what `need` asks for? */
bool cp_auth_allows(cp_role_t have, cp_role_t need);
const char *cp_auth_role_name(cp_role_t r);
cp_role_t   cp_auth_role_parse(const char *s);      /* CP_ROLE_NONE if unknown */
bool        cp_auth_tenant_valid(const char *t);    /* [A-Za-z0-9._-]{1,63} */

/* ---- tenant-qualified app names ---- */
/* true if app is non-empty and has no control character (< 0x20, 0x7f). */
bool cp_auth_app_valid(const char *app);
/* out = qualified name of app in tenant. CP_EINVAL for an invalid app name,
 * CP_ETOOBIG if it does not fit in outlen. */
int  cp_auth_qualify(const char *tenant, const char *app, char *out, size_t outlen);
/* The app part of a stored (qualified) name if it belongs to tenant, else
 * NULL. Borrowed: points into stored. */
const char *cp_auth_unqualify(const char *tenant, const char *stored);

/* ---- tokens (for `cprof token new`) ---- */
/* hex = lowercase SHA-256 of the token (65 bytes with the NUL). */
void cp_auth_hash_hex(const char *token, size_t len, char hex[2 * CP_AUTH_HASH_LEN + 1]);
/* A new random token (RAND_bytes), NUL-terminated. 0 or CP_EIO. */
int  cp_auth_token_new(char out[CP_AUTH_TOKEN_NEW_LEN + 1]);
/* The bearer token of an "Authorization: Bearer X" value, copied into out
 * (false if absent or malformed or longer than outlen-1). */
bool cp_auth_bearer(const char *header, char *out, size_t outlen);

#endif
