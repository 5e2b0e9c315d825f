/* auth.c - tokens, roles and tenants behind auth.h (format in docs/security.md).
 *
 * The table is an array of (SHA-256, principal) read from the --auth file;
 * tokens are never held in clear. A check hashes the presented token once
 * and compares the digest with every line with CRYPTO_memcmp, keeping the
 * matching index with a mask instead of a branch, so the time taken does
 * not depend on which line (if any) matched or how many bytes agreed.
 *
 * Process-wide state: the current table behind a mutex with a reference
 * count. cp__auth_reload() (service thread, on SIGHUP) parses the file
 * into a new table and swaps it in only when the whole file is valid; a
 * check that already took a reference finishes on the old table.
 * Connections authenticated before a reload keep their principal (a removed
 * token stops working for new connections and requests). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "error.h"
#include "relay.h"

#define AUTH_FILE_MAX (16u << 20)

typedef struct entry {
    uint8_t        hash[CP_AUTH_HASH_LEN];
    cp_principal_t who;
} entry_t;

struct cp_auth_table {
    int     refs;          /* under mu (process table) or 1 (caller-owned) */
    size_t  n;
    entry_t e[];
};

/* ---------------- pure helpers ---------------- */

static void sha256(const char *s, size_t len, uint8_t out[CP_AUTH_HASH_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) || n != CP_AUTH_HASH_LEN)
        memset(out, 0, CP_AUTH_HASH_LEN);   /* never matches a real line: all-zero is refused on parse */
}

void cp_auth_hash_hex(const char *token, size_t len, char hex[2 * CP_AUTH_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[CP_AUTH_HASH_LEN];
    sha256(token, len, h);
    for (int i = 0; i < CP_AUTH_HASH_LEN; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[2 * CP_AUTH_HASH_LEN] = 0;
}

int cp_auth_token_new(char out[CP_AUTH_TOKEN_NEW_LEN + 1])
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[33];   /* 256 bits used; the 33rd byte pads the last group */
    if (RAND_bytes(r, 32) != 1)
        return CP_EIO;
    r[32] = 0;
    memcpy(out, "cpt_", 4);
    size_t k = 4;
    for (int i = 0; i < 33 && k < CP_AUTH_TOKEN_NEW_LEN; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        for (int s = 18; s >= 0 && k < CP_AUTH_TOKEN_NEW_LEN; s -= 6)
            out[k++] = b64url[(v >> s) & 63];
    }
    out[k] = 0;
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

bool cp_auth_bearer(const char *h, char *out, size_t outlen)
{
    if (!h)
        return false;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "bearer", 6) || (h[6] != ' ' && h[6] != '\t'))
        return false;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t n = strcspn(h, " \t\r\n");
    if (!n || n >= outlen || h[n + strspn(h + n, " \t\r\n")])
        return false;
    memcpy(out, h, n);
    out[n] = 0;
    return true;
}

const char *cp_auth_role_name(cp_role_t r)
{
    switch (r) {
    case CP_ROLE_INGEST: return "ingest";
    case CP_ROLE_READ:   return "read";
    case CP_ROLE_ADMIN:  return "admin";
    default:             return "none";
    }
}

cp_role_t cp_auth_role_parse(const char *s)
{
    if (!strcmp(s, "ingest")) return CP_ROLE_INGEST;
    if (!strcmp(s, "read"))   return CP_ROLE_READ;
    if (!strcmp(s, "admin"))  return CP_ROLE_ADMIN;
    return CP_ROLE_NONE;
}

bool cp_auth_allows(cp_role_t have, cp_role_t need)
{
    if (have == CP_ROLE_NONE || need == CP_ROLE_NONE)
        return false;
    return have == CP_ROLE_ADMIN || have == need;
}

bool cp_auth_tenant_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n >= CP_TENANT_MAX)
        return false;
    for (const char *c = t; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return false;
    return true;
}

bool cp_auth_app_valid(const char *app)
{
    if (!app || !*app)
        return false;
    for (const unsigned char *c = (const unsigned char *)app; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

int cp_auth_qualify(const char *tenant, const char *app, char *out, size_t outlen)
{
    if (!cp_auth_app_valid(app))
        return CP_EINVAL;
    int n = *tenant ? snprintf(out, outlen, "%s%c%s", tenant, CP_TENANT_SEP, app)
                    : snprintf(out, outlen, "%s", app);
    return n < 0 || (size_t)n >= outlen ? CP_ETOOBIG : 0;
}

const char *cp_auth_unqualify(const char *tenant, const char *stored)
{
    if (!stored)
        return NULL;
    const char *sep = strchr(stored, CP_TENANT_SEP);
    if (!*tenant)
        return sep ? NULL : stored;
    size_t tl = strlen(tenant);
    if (!sep || (size_t)(sep - stored) != tl || memcmp(stored, tenant, tl))
        return NULL;
    return sep + 1;
}

/* ---------------- the table ---------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cp_auth_table_parse(const char *text, size_t len, const char *name, cp_auth_table_t **out, char *err,
                        size_t errlen)
{
    size_t cap = 16;
    cp_auth_table_t *t = calloc(1, sizeof *t + cap * sizeof(entry_t));
    if (!t)
        return CP_ENOMEM;
    t->refs = 1;
    const char *p = text, *end = text + len;
    int lineno = 0, rc = 0;
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        char line[512];
        size_t ll = (size_t)(le - p);
        if (ll >= sizeof line) {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", name, lineno, sizeof line - 1);
            rc = CP_EINVAL;
            break;
        }
        memcpy(line, p, ll);
        line[ll] = 0;
        p = nl ? nl + 1 : end;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *f[4] = {0}, *save = NULL;
        int nf = 0;
        for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save))
            if (nf < 4)
                f[nf++] = tok;
            else
                nf++;
        if (nf == 0)
            continue;
        if (nf != 3) {
            snprintf(err, errlen, "%s:%d: want 'TENANT ROLE SHA256-HEX' (3 fields), found %d", name, lineno, nf);
            rc = CP_EINVAL;
            break;
        }
        entry_t e;
        memset(&e, 0, sizeof e);
        if (!strcmp(f[0], "-")) {
            e.who.tenant[0] = 0;
        } else if (cp_auth_tenant_valid(f[0])) {
            snprintf(e.who.tenant, sizeof e.who.tenant, "%s", f[0]);
        } else {
            snprintf(err, errlen, "%s:%d: bad tenant '%.64s' (letters, digits, '.', '_', '-'; at most %d; "
                     "'-' is the default tenant)", name, lineno, f[0], CP_TENANT_MAX - 1);
            rc = CP_EINVAL;
            break;
        }
        e.who.role = cp_auth_role_parse(f[1]);
        if (e.who.role == CP_ROLE_NONE) {
            snprintf(err, errlen, "%s:%d: unknown role '%.32s' (ingest, read, admin)", name, lineno, f[1]);
            rc = CP_EINVAL;
            break;
        }
        bool ok = strlen(f[2]) == 2 * CP_AUTH_HASH_LEN, nonzero = false;
        for (int i = 0; ok && i < CP_AUTH_HASH_LEN; i++) {
            int hi = hexval(f[2][2 * i]), lo = hexval(f[2][2 * i + 1]);
            if (hi < 0 || lo < 0)
                ok = false;
            else
                e.hash[i] = (uint8_t)(hi << 4 | lo);
            nonzero |= e.hash[i] != 0;
        }
        if (!ok || !nonzero) {
            snprintf(err, errlen, "%s:%d: bad hash: want the token's SHA-256 as 64 hex digits "
                     "(cprof token new writes it; never the token itself)", name, lineno);
            rc = CP_EINVAL;
            break;
        }
        for (size_t i = 0; i < t->n; i++)
            if (!memcmp(t->e[i].hash, e.hash, CP_AUTH_HASH_LEN)) {
                snprintf(err, errlen, "%s:%d: the same token hash appears twice", name, lineno);
                rc = CP_EINVAL;
                break;
            }
        if (rc)
            break;
        if (t->n == cap) {
            cap *= 2;
            cp_auth_table_t *nt = realloc(t, sizeof *t + cap * sizeof(entry_t));
            if (!nt) {
                rc = CP_ENOMEM;
                break;
            }
            t = nt;
        }
        t->e[t->n++] = e;
    }
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

size_t cp_auth_table_count(const cp_auth_table_t *t) { return t ? t->n : 0; }

void cp_auth_table_release(cp_auth_table_t *t)
{
    if (t && --t->refs == 0) {
        OPENSSL_cleanse(t->e, t->n * sizeof(entry_t));
        free(t);
    }
}

bool cp_auth_table_check(const cp_auth_table_t *t, const char *token, size_t len, cp_principal_t *out)
{
    if (!t || !token || !len || len > CP_AUTH_TOKEN_MAX)
        return false;
    uint8_t h[CP_AUTH_HASH_LEN];
    sha256(token, len, h);
    size_t found = 0, idx = 0;
    for (size_t i = 0; i < t->n; i++) {
        /* eq is 1 or 0; m is all ones or all zeros: no branch on the result */
        size_t eq = (size_t)(CRYPTO_memcmp(h, t->e[i].hash, CP_AUTH_HASH_LEN) == 0);
        size_t m = (size_t)0 - eq;
        idx = (idx & ~m) | (i & m);
        found |= eq;
    }
    OPENSSL_cleanse(h, sizeof h);
    if (!found)
        return false;
    *out = t->e[idx].who;
    return true;
}

/* ---------------- process-wide state ---------------- */

static struct {
    pthread_mutex_t  mu;
    cp_auth_table_t *cur;     /* NULL = open mode */
    char            *path;    /* --auth FILE, NULL in legacy/open mode */
    bool             legacy;  /* --token: readers stay open */
} A = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, false};

static int load_file(const char *path, cp_auth_table_t **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CP_EIO;
    }
    char *buf = malloc(AUTH_FILE_MAX);
    size_t n = buf ? fread(buf, 1, AUTH_FILE_MAX, f) : 0;
    int rc = 0;
    if (!buf)
        rc = CP_ENOMEM;
    else if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = CP_EIO;
    } else if (n == AUTH_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, AUTH_FILE_MAX);
        rc = CP_ETOOBIG;
    }
    fclose(f);
    if (!rc)
        rc = cp_auth_table_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

int cp_auth_init(const char *path, const char *legacy_token, char *err, size_t errlen)
{
    cp_auth_table_t *t = NULL;
    if (path && legacy_token) {
        snprintf(err, errlen, "--token and --auth exclude each other: put the agents' token in the auth file");
        return CP_EINVAL;
    }
    if (path) {
        int rc = load_file(path, &t, err, errlen);
        if (rc)
            return rc;
    } else if (legacy_token) {
        if (!*legacy_token || strlen(legacy_token) > CP_AUTH_TOKEN_MAX) {
            snprintf(err, errlen, "--token: empty or longer than %d bytes", CP_AUTH_TOKEN_MAX);
            return CP_EINVAL;
        }
        t = calloc(1, sizeof *t + sizeof(entry_t));
        if (!t)
            return CP_ENOMEM;
        t->refs = 1;
        t->n = 1;
        sha256(legacy_token, strlen(legacy_token), t->e[0].hash);
        t->e[0].who.role = CP_ROLE_INGEST;
    }
    pthread_mutex_lock(&A.mu);
    cp_auth_table_release(A.cur);
    A.cur = t;
    free(A.path);
    A.path = path ? strdup(path) : NULL;
    A.legacy = !path && legacy_token;
    pthread_mutex_unlock(&A.mu);
    return 0;
}

void cp_auth_fini(void)
{
    pthread_mutex_lock(&A.mu);
    cp_auth_table_release(A.cur);
    A.cur = NULL;
    free(A.path);
    A.path = NULL;
    A.legacy = false;
    pthread_mutex_unlock(&A.mu);
}

int cp__auth_reload(void)
{
    pthread_mutex_lock(&A.mu);
    char *path = A.path ? strdup(A.path) : NULL;
    size_t old_n = A.cur ? A.cur->n : 0;
    pthread_mutex_unlock(&A.mu);
    if (!path)
        return 0;   /* open or legacy mode: nothing to re-read */
    char err[512] = "";
    cp_auth_table_t *t = NULL;
    int rc = load_file(path, &t, err, sizeof err);
    if (rc) {
        cp__log("auth: reload failed, keeping the previous %zu tokens: %s", old_n, err);
        free(path);
        return rc;
    }
    pthread_mutex_lock(&A.mu);
    cp_auth_table_t *old = A.cur;
    A.cur = t;
    cp_auth_table_release(old);
    pthread_mutex_unlock(&A.mu);
    cp__log("auth: reloaded %s: %zu tokens (was %zu)", path, t->n, old_n);
    free(path);
    return 0;
}

bool cp_auth_readers_need_token(void)
{
    pthread_mutex_lock(&A.mu);
    bool need = A.cur && !A.legacy;
    pthread_mutex_unlock(&A.mu);
    return need;
}

void cp_auth_open_admin(cp_principal_t *out)
{
    memset(out, 0, sizeof *out);
    out->role = CP_ROLE_ADMIN;
}

bool cp_auth_check(const char *token, cp_principal_t *out)
{
    pthread_mutex_lock(&A.mu);
    cp_auth_table_t *t = A.cur;
    if (t)
        t->refs++;
    pthread_mutex_unlock(&A.mu);
    if (!t) {
        cp_auth_open_admin(out);
        return true;
    }
    bool ok = cp_auth_table_check(t, token, token ? strlen(token) : 0, out);
    pthread_mutex_lock(&A.mu);
    cp_auth_table_release(t);
    pthread_mutex_unlock(&A.mu);
    return ok;
}
