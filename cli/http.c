/* http.c - relay addresses, tokens and one blocking GET for cprof query
 * and diff. See http.h. Thread: the caller's. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_RELAY_PORT "7070"   /* the relay's default --listen port */

int cp_http_relay_parse(const char *addr, cp_http_relay_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    const char *p = addr ? addr : "";
    bool ws = false;
    const char *defport = NULL;
    if (!strncasecmp(p, "http://", 7)) {
        p += 7;
        defport = "80";
    } else if (!strncasecmp(p, "https://", 8)) {
        p += 8;
        r->tls = true;
        defport = "443";
    } else if (!strncasecmp(p, "ws://", 5)) {
        p += 5;
        ws = true;
        defport = "80";
    } else if (!strncasecmp(p, "wss://", 6)) {
        p += 6;
        ws = r->tls = true;
        defport = "443";
    } else if (strstr(p, "://")) {
        snprintf(err, errlen, "relay address '%s': the scheme must be http://, https://, ws:// or wss:// "
                 "(or give HOST:PORT)", addr);
        return -1;
    } else {
        defport = DEFAULT_RELAY_PORT;
    }
    size_t hl;
    if (*p == '[') {   /* [IPv6] */
        const char *e = strchr(p, ']');
        if (!e || e == p + 1 || (size_t)(e - p - 1) >= sizeof r->host) {
            snprintf(err, errlen, "relay address '%s': bad [IPv6] host", addr);
            return -1;
        }
        memcpy(r->host, p + 1, (size_t)(e - p - 1));
        p = e + 1;
    } else {
        hl = strcspn(p, ":/?#");
        if (hl == 0 || hl >= sizeof r->host) {
            snprintf(err, errlen, "relay address '%s': no host name", addr);
            return -1;
        }
        memcpy(r->host, p, hl);
        p += hl;
    }
    snprintf(r->port, sizeof r->port, "%s", defport);
    if (*p == ':') {
        size_t pl = strcspn(p + 1, "/?#");
        char *end;
        long v = pl && pl < 6 ? strtol(p + 1, &end, 10) : -1;
        if (v < 1 || v > 65535 || end != p + 1 + pl) {
            snprintf(err, errlen, "relay address '%s': the port must be a number from 1 to 65535", addr);
            return -1;
        }
        snprintf(r->port, sizeof r->port, "%ld", v);
        p += 1 + pl;
    }
    if (*p && *p != '/') {
        snprintf(err, errlen, "relay address '%s': unexpected '%s' after the host and port", addr, p);
        return -1;
    }
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    if (ws && plen >= 7 && !strncmp(p + plen - 7, "/ingest", 7))
        plen -= 7;   /* the agents' websocket path; the API lives next to it */
    if (plen >= sizeof r->prefix) {
        snprintf(err, errlen, "relay address '%s': path too long", addr);
        return -1;
    }
    memcpy(r->prefix, p, plen);
    bool v6 = strchr(r->host, ':') != NULL;
    snprintf(r->url, sizeof r->url, "%s://%s%s%s:%s%s", r->tls ? "https" : "http", v6 ? "[" : "", r->host,
             v6 ? "]" : "", r->port, r->prefix);
    return 0;
}

int cp_http_token_read(const char *arg, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!arg)
        arg = getenv("CPROF_TOKEN");
    out[0] = 0;
    if (!arg || !*arg)
        return 0;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "r");
        if (!f || !fgets(out, (int)outlen, f)) {
            snprintf(err, errlen, "--token %s: %s", arg, f ? "empty file" : strerror(errno));
            if (f)
                fclose(f);
            out[0] = 0;
            return -1;
        }
        fclose(f);
        out[strcspn(out, "\r\n")] = 0;
    } else {
        snprintf(out, outlen, "%s", arg);
    }
    for (const char *c = out; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            snprintf(err, errlen, "the token contains a space or control character");
            out[0] = 0;
            return -1;
        }
    return 0;
}

void cp_http_url_add(cp_buf_t *u, const char *k, const char *v)
{
    if (!v)
        return;
    cp_buf_printf(u, "%c%s=", u->data && strchr((const char *)u->data, '?') ? '&' : '?', k);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            cp_buf_append(u, p, 1);
        else
            cp_buf_printf(u, "%%%02X", *p);
    }
    cp_buf_append(u, "", 1);
    u->len--;
}

static int connect_to(const cp_http_relay_t *r, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(r->host, r->port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "cannot reach the relay at %s: %s: %s", r->url, r->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to the relay at %s: %s", r->url, strerror(e ? e : errno));
    return fd;
}

/* Decodes a chunked body into out. */
static void unchunk(const uint8_t *body, size_t blen, cp_buf_t *out)
{
    size_t i = 0;
    while (i < blen) {
        unsigned long n = strtoul((const char *)body + i, NULL, 16);
        const char *crlf = strstr((const char *)body + i, "\r\n");
        if (!crlf || n == 0)
            break;
        i = (size_t)((const uint8_t *)crlf + 2 - body);
        if (i + n > blen)
            n = blen - i;
        cp_buf_append(out, body + i, n);
        i += n + 2;
    }
}

int cp_http_get(const cp_http_relay_t *r, const char *path, const cp_http_opts_t *o, cp_buf_t *out,
                char *err, size_t errlen)
{
    int fd = connect_to(r, err, errlen);
    if (fd < 0)
        return -1;
    cp_conn_t conn;
    if (cp_conn_open(&conn, fd, r->host, r->tls ? &o->tls : NULL, err, errlen))
        return -1;
    bool v6 = strchr(r->host, ':') != NULL;
    cp_buf_t req = CP_BUF_INIT;
    cp_buf_printf(&req, "GET %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: cprof/%s\r\n"
                        "Accept-Encoding: identity\r\nConnection: close\r\n",
                  r->prefix, path, v6 ? "[" : "", r->host, v6 ? "]" : "", r->port, CPROF_VERSION);
    if (o->token && o->token[0])
        cp_buf_printf(&req, "Authorization: Bearer %s\r\n", o->token);
    cp_buf_printf(&req, "\r\n");
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = cp_conn_write(&conn, req.data + off, req.len - off);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            snprintf(err, errlen, "sending to the relay at %s: %s", r->url, strerror(errno));
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
    const char *t = (const char *)raw.data;
    int status = -1;
    const char *hend = t ? strstr(t, "\r\n\r\n") : NULL;
    if (!t || sscanf(t, "HTTP/1.%*d %d", &status) != 1 || !hend) {
        snprintf(err, errlen, "%s did not answer like a cprof relay (no HTTP answer)", r->url);
        cp_buf_fini(&raw);
        return -1;
    }
    const uint8_t *body = (const uint8_t *)hend + 4;
    size_t blen = raw.len - (size_t)(body - raw.data);
    bool chunked = false;
    for (const char *h = strstr(t, "\r\n"); h && h < hend; h = strstr(h + 2, "\r\n")) {
        const char *eol = strstr(h + 2, "\r\n");
        const char *c = strstr(h + 2, "chunked");
        if (!strncasecmp(h + 2, "transfer-encoding:", 18) && c && c < eol)
            chunked = true;
    }
    if (chunked)
        unchunk(body, blen, out);
    else
        cp_buf_append(out, body, blen);
    cp_buf_fini(&raw);
    return status;
}
