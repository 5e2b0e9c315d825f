/* query.c - `cprof query` and `cprof diff`: the relay's query API in a
 * terminal, for scripts and CI.
 *
 *   cprof query --relay URL --app A [--type T --from F --to T --labels k=v]
 *               [--top N | --collapsed | --format json|pprof|speedscope [-o FILE]]
 *   cprof diff  --relay URL --app A [--type T] --base-from F [--base-to T]
 *               [--base-labels L] --cmp-from F [--cmp-to T] [--cmp-labels L]
 *               [--limit N] [--json]
 *
 * A relay running with --auth wants a read token: --token TOKEN, --token
 * @FILE (first line of FILE, so the token stays out of `ps`) or the
 * CPROF_TOKEN environment variable; it is sent as "Authorization: Bearer".
 *
 * A minimal blocking HTTP/1.1 client (one GET per run, Connection: close,
 * Content-Length or chunked bodies) and a small JSON reader for the two
 * documents it prints as tables (/top and /diff). Exit codes: 0 ok, 1 the
 * relay answered an error or could not be reached, 2 usage.
 * Thread: main only. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conn.h"

/* ---------------- HTTP ---------------- */

static char g_token[1024];   /* "" = send no Authorization header */

/* --token VALUE or @FILE (first line), else CPROF_TOKEN. 0 or 2 (usage). */
static int token_set(const char *arg)
{
    if (!arg)
        arg = getenv("CPROF_TOKEN");
    g_token[0] = 0;
    if (!arg || !*arg)
        return 0;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "r");
        if (!f || !fgets(g_token, sizeof g_token, f)) {
            fprintf(stderr, "cprof: --token %s: %s\n", arg, f ? "empty file" : strerror(errno));
            if (f)
                fclose(f);
            return 2;
        }
        fclose(f);
        g_token[strcspn(g_token, "\r\n")] = 0;
    } else {
        snprintf(g_token, sizeof g_token, "%s", arg);
    }
    for (const char *c = g_token; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            fprintf(stderr, "cprof: the token contains a space or control character\n");
            return 2;
        }
    return 0;
}

/* --ca FILE / --insecure, for https:// relays (conn.h) */
static cp_conn_tls_opts_t tls_opts;

static void url_add(cp_buf_t *u, const char *k, const char *v)
{
    if (!v)
        return;
    cp_buf_printf(u, "%c%s=", strchr((const char *)u->data, '?') ? '&' : '?', k);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            cp_buf_append(u, p, 1);
        else
            cp_buf_printf(u, "%%%02X", *p);
    }
    cp_buf_append(u, "", 1);
    u->len--;
}

/* GET relay+path; returns HTTP status (or -1) and the body in out. */
static int http_get(const char *relay, const char *path, cp_buf_t *out, char *err, size_t errlen)
{
    char host[256], port[16] = "80";
    const char *p = relay;
    bool tls = !strncmp(p, "https://", 8);
    if (!strncmp(p, "http://", 7))
        p += 7;
    else if (tls) {
        p += 8;
        snprintf(port, sizeof port, "443");
    } else if (strstr(p, "://")) {
        snprintf(err, errlen, "only http:// and https:// relays are supported: %s", relay);
        return -1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "bad relay URL: %s", relay);
        return -1;
    }
    memcpy(host, p, hl);
    host[hl] = 0;
    p += hl;
    if (*p == ':') {
        size_t pl = strcspn(p + 1, "/");
        if (pl == 0 || pl >= sizeof port) {
            snprintf(err, errlen, "bad port in %s", relay);
            return -1;
        }
        memcpy(port, p + 1, pl);
        port[pl] = 0;
        p += 1 + pl;
    }
    const char *prefix = p;   /* path prefix of the relay URL, if any */
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        plen--;

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
        return -1;
    }
    cp_conn_t conn;
    if (cp_conn_open(&conn, fd, host, tls ? &tls_opts : NULL, err, errlen))
        return -1;
    cp_buf_t req = CP_BUF_INIT;
    cp_buf_printf(&req, "GET %.*s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: cprof/%s\r\n"
                        "Accept-Encoding: identity\r\nConnection: close\r\n",
                  (int)plen, prefix, path, host, port, CPROF_VERSION);
    if (g_token[0])
        cp_buf_printf(&req, "Authorization: Bearer %s\r\n", g_token);
    cp_buf_printf(&req, "\r\n");
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = cp_conn_write(&conn, req.data + off, req.len - off);
        if (n <= 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "write: %s", strerror(errno));
            cp_conn_close(&conn);
            cp_buf_fini(&req);
            return -1;
        }
        off += (size_t)n;
    }
    cp_buf_fini(&req);
    cp_buf_t raw = CP_BUF_INIT;
    char tmp[65536];
    for (;;) {
        ssize_t n = cp_conn_read(&conn, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        cp_buf_append(&raw, tmp, (size_t)n);
    }
    cp_conn_close(&conn);
    cp_buf_append(&raw, "", 1);
    raw.len--;
    const char *r = (const char *)raw.data;
    int status = -1;
    const char *hend = r ? strstr(r, "\r\n\r\n") : NULL;
    if (!r || sscanf(r, "HTTP/1.%*d %d", &status) != 1 || !hend) {
        snprintf(err, errlen, "bad HTTP answer from %s", relay);
        cp_buf_fini(&raw);
        return -1;
    }
    const uint8_t *body = (const uint8_t *)hend + 4;
    size_t blen = raw.len - (size_t)(body - raw.data);
    bool chunked = false;
    for (const char *h = strstr(r, "\r\n"); h && h < hend; h = strstr(h + 2, "\r\n"))
        if (!strncasecmp(h + 2, "transfer-encoding:", 18) && strstr(h + 2, "chunked") &&
            strstr(h + 2, "chunked") < strstr(h + 2, "\r\n"))
            chunked = true;
    if (!chunked) {
        cp_buf_append(out, body, blen);
    } else {
        size_t i = 0;
        while (i < blen) {
            char *e;
            unsigned long n = strtoul((const char *)body + i, &e, 16);
            const char *crlf = strstr((const char *)body + i, "\r\n");
            if (!crlf || n == 0)
                break;
            i = (size_t)((const uint8_t *)crlf + 2 - body);
            if (i + n > blen)
                n = blen - i;
            cp_buf_append(out, body + i, n);
            i += n + 2;
            (void)e;
        }
    }
    cp_buf_fini(&raw);
    return status;
}

/* ---------------- tiny JSON reader ---------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;
typedef struct jv {
    jtype_t     t;
    double      num;
    char       *str;        /* J_STR; also key when inside an object */
    char       *key;
    struct jv  *kids;
    size_t      n;
} jv_t;

static const char *jws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *jparse(const char *p, jv_t *v, int depth);

static const char *jstring(const char *p, char **out)
{
    cp_buf_t b = CP_BUF_INIT;
    p++;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            char c = *p;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'r') c = '\r';
            else if (c == 'b') c = '\b';
            else if (c == 'f') c = '\f';
            else if (c == 'u') {
                unsigned cp = 0;
                if (sscanf(p + 1, "%4x", &cp) != 1) {
                    cp_buf_fini(&b);
                    return NULL;
                }
                p += 4;
                char u[4];
                int n = 0;
                if (cp < 0x80) u[n++] = (char)cp;
                else if (cp < 0x800) { u[n++] = (char)(0xC0 | (cp >> 6)); u[n++] = (char)(0x80 | (cp & 0x3F)); }
                else { u[n++] = (char)(0xE0 | (cp >> 12)); u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                       u[n++] = (char)(0x80 | (cp & 0x3F)); }
                cp_buf_append(&b, u, (size_t)n);
                p++;
                continue;
            }
            cp_buf_append(&b, &c, 1);
            p++;
        } else {
            cp_buf_append(&b, p++, 1);
        }
    }
    if (*p != '"') {
        cp_buf_fini(&b);
        return NULL;
    }
    cp_buf_append(&b, "", 1);
    *out = (char *)cp_buf_steal(&b, NULL);
    return p + 1;
}

static const char *jparse(const char *p, jv_t *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > 64)
        return NULL;
    p = jws(p);
    if (*p == '{' || *p == '[') {
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        v->t = obj ? J_OBJ : J_ARR;
        p = jws(p + 1);
        size_t cap = 0;
        if (*p == close)
            return p + 1;
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->kids = realloc(v->kids, cap * sizeof *v->kids);
                if (!v->kids)
                    return NULL;
            }
            char *key = NULL;
            if (obj) {
                p = jws(p);
                if (*p != '"' || !(p = jstring(p, &key)))
                    return NULL;
                p = jws(p);
                if (*p++ != ':') {
                    free(key);
                    return NULL;
                }
            }
            if (!(p = jparse(p, &v->kids[v->n], depth + 1))) {
                free(key);
                return NULL;
            }
            v->kids[v->n++].key = key;
            p = jws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == close)
                return p + 1;
            return NULL;
        }
    }
    if (*p == '"') {
        v->t = J_STR;
        return jstring(p, &v->str);
    }
    if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        v->t = J_BOOL;
        v->num = *p == 't';
        return p + (*p == 't' ? 4 : 5);
    }
    if (!strncmp(p, "null", 4)) {
        v->t = J_NULL;
        return p + 4;
    }
    char *e;
    v->t = J_NUM;
    v->num = strtod(p, &e);
    return e == p ? NULL : e;
}

static void jfree(jv_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->kids[i].key);
        jfree(&v->kids[i]);
    }
    free(v->kids);
    free(v->str);
}

static const jv_t *jget(const jv_t *o, const char *k)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (o->kids[i].key && !strcmp(o->kids[i].key, k))
            return &o->kids[i];
    return NULL;
}
static double jnum(const jv_t *o, const char *k)
{
    const jv_t *v = jget(o, k);
    return v && v->t == J_NUM ? v->num : 0;
}
static const char *jstr(const jv_t *o, const char *k)
{
    const jv_t *v = jget(o, k);
    return v && v->t == J_STR ? v->str : "";
}

/* ---------------- commands ---------------- */

static void tls_option(int o, const char *arg)
{
    if (o == 'C') {
        tls_opts.ca_file = arg;
    } else {
        tls_opts.insecure = true;
        fprintf(stderr, "cprof: warning: --insecure: the relay's certificate is not verified\n");
    }
}

static int fetch(const char *relay, cp_buf_t *url, cp_buf_t *body)
{
    char err[512] = "";
    cp_buf_append(url, "", 1);
    int st = http_get(relay, (const char *)url->data, body, err, sizeof err);
    if (st < 0) {
        fprintf(stderr, "cprof: %s\n", err);
        return 1;
    }
    if (st != 200) {
        cp_buf_append(body, "", 1);
        jv_t v;
        const char *msg = (const char *)body->data;
        if (jparse(msg, &v, 0) && jget(&v, "error")) {
            fprintf(stderr, "cprof: relay answered %d: %s\n", st, jstr(&v, "error"));
            jfree(&v);
        } else {
            fprintf(stderr, "cprof: relay answered %d: %.300s\n", st, msg);
        }
        if (st == 401)
            fprintf(stderr, "cprof: %s\n", g_token[0] ? "the relay does not know this token"
                                                      : "this relay wants a token: --token, --token @FILE or CPROF_TOKEN");
        return 1;
    }
    return 0;
}

static void human(double v, const char *unit, char *out, size_t n)
{
    if (!strcmp(unit, "ns")) {
        if (v >= 1e9) snprintf(out, n, "%.2fs", v / 1e9);
        else if (v >= 1e6) snprintf(out, n, "%.1fms", v / 1e6);
        else snprintf(out, n, "%.0fus", v / 1e3);
    } else if (!strcmp(unit, "bytes")) {
        if (v >= 1 << 30) snprintf(out, n, "%.2fGiB", v / (1 << 30));
        else if (v >= 1 << 20) snprintf(out, n, "%.1fMiB", v / (1 << 20));
        else snprintf(out, n, "%.0fKiB", v / 1024);
    } else {
        snprintf(out, n, "%.0f", v);
    }
}

static void query_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof query --relay URL --app APP [OPTIONS]\n"
        "Prints a merged profile from a relay.\n\n"
        "  --relay URL        relay base URL (default http://127.0.0.1:7070, env CPROF_RELAY_URL)\n"
        "  --app APP          application name (required)\n"
        "  --type T           cpu (default), wall, alloc, lock, ...\n"
        "  --from T --to T    time range: unix seconds, RFC 3339 or now-15m (default now-15m..now)\n"
        "  --labels k=v,...   only instances with these labels\n"
        "  --top N            N functions by self value, as a table (default, N=20)\n"
        "  --collapsed        collapsed stacks: frames;root;first value (for flamegraph.pl)\n"
        "  --format F         raw API output: json, pprof, speedscope, collapsed\n"
        "  -o FILE            write the output to FILE instead of stdout\n"
        "  --token T|@FILE    read token for a relay with --auth (default: env CPROF_TOKEN)\n"
        "  --ca FILE          PEM CA to verify an https:// relay (besides the system store)\n"
        "  --insecure         do not verify an https:// relay's certificate (warns)\n");
}

int cp_cmd_query(int argc, char **argv)
{
    const char *relay = getenv("CPROF_RELAY_URL"), *app = NULL, *type = "cpu", *from = NULL, *to = NULL,
               *labels = NULL, *format = NULL, *outpath = NULL, *token = NULL;
    long top = 20;
    bool collapsed = false;
    if (!relay)
        relay = "http://127.0.0.1:7070";
    static const struct option opts[] = {
        {"relay", required_argument, 0, 'r'}, {"app", required_argument, 0, 'a'},
        {"type", required_argument, 0, 't'}, {"from", required_argument, 0, 'f'},
        {"to", required_argument, 0, 'T'}, {"labels", required_argument, 0, 'l'},
        {"top", required_argument, 0, 'n'}, {"collapsed", no_argument, 0, 'c'},
        {"format", required_argument, 0, 'F'}, {"token", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},
        {"ca", required_argument, 0, 'C'}, {"insecure", no_argument, 0, 'K'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (o) {
        case 'r': relay = optarg; break;
        case 'a': app = optarg; break;
        case 't': type = optarg; break;
        case 'f': from = optarg; break;
        case 'T': to = optarg; break;
        case 'l': labels = optarg; break;
        case 'n': top = strtol(optarg, NULL, 10); if (top <= 0) { query_usage(stderr); return 2; } break;
        case 'c': collapsed = true; break;
        case 'F': format = optarg; break;
        case 'o': outpath = optarg; break;
        case 'k': token = optarg; break;
        case 'C': case 'K': tls_option(o, optarg); break;
        case 'h': query_usage(stdout); return 0;
        default: query_usage(stderr); return 2;
        }
    }
    if (!app || optind < argc) {
        query_usage(stderr);
        return 2;
    }
    if (token_set(token))
        return 2;
    if (collapsed)
        format = "collapsed";
    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "%s", format ? "/api/v1/profile" : "/api/v1/top");
    url_add(&url, "app", app);
    url_add(&url, "type", type);
    url_add(&url, "from", from);
    url_add(&url, "to", to);
    url_add(&url, "labels", labels);
    if (format)
        url_add(&url, "format", format);
    else {
        char n[32];
        snprintf(n, sizeof n, "%ld", top);
        url_add(&url, "limit", n);
    }
    int rc = fetch(relay, &url, &body);
    FILE *out = stdout;
    if (!rc && outpath && !(out = fopen(outpath, "wb"))) {
        fprintf(stderr, "cprof: %s: %s\n", outpath, strerror(errno));
        rc = 1;
    }
    if (!rc && format) {
        fwrite(body.data, 1, body.len, out);
    } else if (!rc) {
        cp_buf_append(&body, "", 1);
        jv_t v;
        if (!jparse((const char *)body.data, &v, 0)) {
            fprintf(stderr, "cprof: cannot parse the relay's answer\n");
            rc = 1;
        } else {
            double total = jnum(&v, "total");
            const jv_t *fn = jget(&v, "functions");
            fprintf(out, "%-8s %-8s %-8s %-8s  %s   (%s, total %.0f)\n", "self%", "total%", "self", "total",
                    "function", type, total);
            for (size_t i = 0; fn && i < fn->n; i++) {
                const jv_t *f = &fn->kids[i];
                char s[32], t[32];
                const char *unit = !strcmp(type, "cpu") || !strcmp(type, "wall") || !strcmp(type, "lock") ? "ns"
                                   : !strcmp(type, "alloc") ? "bytes" : "";
                human(jnum(f, "self"), unit, s, sizeof s);
                human(jnum(f, "total"), unit, t, sizeof t);
                fprintf(out, "%7.2f%% %7.2f%% %-8s %-8s  %s\n", total ? 100 * jnum(f, "self") / total : 0,
                        total ? 100 * jnum(f, "total") / total : 0, s, t, jstr(f, "name"));
            }
            jfree(&v);
        }
    }
    if (out && out != stdout)
        fclose(out);
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return rc;
}

static void diff_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof diff --relay URL --app APP --base-from T [--cmp-from T] [OPTIONS]\n"
        "Compares two time ranges and/or label sets of one app; prints the functions\n"
        "whose share of the profile changed most (percentage points, cmp - base).\n\n"
        "  --relay URL                 relay base URL (default http://127.0.0.1:7070)\n"
        "  --app APP --type T          application, profile type (default cpu)\n"
        "  --base-from T --base-to T   base range (default now-15m..now)\n"
        "  --base-labels k=v,...       base label filter\n"
        "  --cmp-from T --cmp-to T     compared range (default now-15m..now)\n"
        "  --cmp-labels k=v,...        compared label filter\n"
        "  --limit N                   rows to print (default 20)\n"
        "  --json                      print the API's JSON instead of a table\n"
        "  --token T|@FILE             read token for a relay with --auth (default: env CPROF_TOKEN)\n"
        "  --ca FILE                   PEM CA to verify an https:// relay (besides the system store)\n"
        "  --insecure                  do not verify an https:// relay's certificate (warns)\n");
}

int cp_cmd_diff(int argc, char **argv)
{
    const char *relay = getenv("CPROF_RELAY_URL"), *app = NULL, *type = "cpu";
    const char *bf = NULL, *bt = NULL, *bl = NULL, *cf = NULL, *ct = NULL, *cl = NULL, *token = NULL;
    long limit = 20;
    bool json = false;
    if (!relay)
        relay = "http://127.0.0.1:7070";
    static const struct option opts[] = {
        {"relay", required_argument, 0, 'r'}, {"app", required_argument, 0, 'a'},
        {"type", required_argument, 0, 't'}, {"base-from", required_argument, 0, 1},
        {"base-to", required_argument, 0, 2}, {"base-labels", required_argument, 0, 3},
        {"cmp-from", required_argument, 0, 4}, {"cmp-to", required_argument, 0, 5},
        {"cmp-labels", required_argument, 0, 6}, {"limit", required_argument, 0, 'n'},
        {"json", no_argument, 0, 'j'}, {"token", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},
        {"ca", required_argument, 0, 'C'}, {"insecure", no_argument, 0, 'K'}, {0, 0, 0, 0}};
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'r': relay = optarg; break;
        case 'a': app = optarg; break;
        case 't': type = optarg; break;
        case 1: bf = optarg; break;
        case 2: bt = optarg; break;
        case 3: bl = optarg; break;
        case 4: cf = optarg; break;
        case 5: ct = optarg; break;
        case 6: cl = optarg; break;
        case 'n': limit = strtol(optarg, NULL, 10); if (limit <= 0) { diff_usage(stderr); return 2; } break;
        case 'j': json = true; break;
        case 'k': token = optarg; break;
        case 'C': case 'K': tls_option(o, optarg); break;
        case 'h': diff_usage(stdout); return 0;
        default: diff_usage(stderr); return 2;
        }
    }
    if (!app || optind < argc) {
        diff_usage(stderr);
        return 2;
    }
    if (token_set(token))
        return 2;
    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "/api/v1/diff");
    url_add(&url, "app", app);
    url_add(&url, "type", type);
    url_add(&url, "base.from", bf);
    url_add(&url, "base.to", bt);
    url_add(&url, "base.labels", bl);
    url_add(&url, "cmp.from", cf);
    url_add(&url, "cmp.to", ct);
    url_add(&url, "cmp.labels", cl);
    int rc = fetch(relay, &url, &body);
    if (!rc && json) {
        fwrite(body.data, 1, body.len, stdout);
        putchar('\n');
    } else if (!rc) {
        cp_buf_append(&body, "", 1);
        jv_t v;
        if (!jparse((const char *)body.data, &v, 0)) {
            fprintf(stderr, "cprof: cannot parse the relay's answer\n");
            rc = 1;
        } else {
            printf("base total %.0f, cmp total %.0f (%s)\n", jnum(jget(&v, "base"), "total"),
                   jnum(jget(&v, "cmp"), "total"), type);
            printf("%-9s %-8s %-8s  %s\n", "delta", "base%", "cmp%", "function");
            const jv_t *fn = jget(&v, "functions");
            for (size_t i = 0; fn && i < fn->n && (long)i < limit; i++) {
                const jv_t *f = &fn->kids[i];
                printf("%+8.2f  %7.2f%% %7.2f%%  %s\n", jnum(f, "delta_pct"), jnum(f, "base_pct"),
                       jnum(f, "cmp_pct"), jstr(f, "name"));
            }
            jfree(&v);
        }
    }
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return rc;
}
