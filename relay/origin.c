/* origin.c - Host and Origin checks against DNS rebinding and cross-origin
 * websockets. See origin.h. Thread: service. */
#include "origin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay.h"

static char listen_name[256];        /* --listen's host as given */
static char public_host[256];        /* --public-url's host, lower case, no port */
static char public_origin[320];      /* scheme://host:port, default port filled in */
static char host_names[2][256];      /* this machine: gethostname() and its canonical name */

/* Splits "host[:port]" / "[v6][:port]" into host (brackets kept off) and
 * port (def when absent). false on a malformed value. */
static bool split_hostport(const char *s, char *host, size_t hn, int def, int *port)
{
    const char *p;
    size_t len;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (!e)
            return false;
        len = (size_t)(e - s - 1);
        s++;
        p = e + 1;
    } else {
        p = strchr(s, ':');
        if (p && strchr(p + 1, ':'))
            return false;            /* an unbracketed IPv6 literal is not a Host */
        len = p ? (size_t)(p - s) : strlen(s);
        if (!p)
            p = s + len;
    }
    if (len == 0 || len >= hn)
        return false;
    memcpy(host, s, len);
    host[len] = 0;
    *port = def;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v <= 0 || v > 65535)
            return false;
        *port = (int)v;
    } else if (*p) {
        return false;
    }
    return true;
}

/* "https://h:p/..." -> scheme default port, host, port. */
static bool split_url(const char *url, char *scheme, size_t sn, char *host, size_t hn, int *port)
{
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= sn)
        return false;
    memcpy(scheme, url, (size_t)(sep - url));
    scheme[sep - url] = 0;
    int def = !strcasecmp(scheme, "https") || !strcasecmp(scheme, "wss") ? 443 : 80;
    char hp[300];
    size_t len = strcspn(sep + 3, "/?#");
    if (len == 0 || len >= sizeof hp)
        return false;
    memcpy(hp, sep + 3, len);
    hp[len] = 0;
    return split_hostport(hp, host, hn, def, port);
}

void cp__origin_init(const cp_relay_cfg_t *c)
{
    memset(host_names, 0, sizeof host_names);
    if (gethostname(host_names[0], sizeof host_names[0] - 1) == 0) {
        struct addrinfo hints = {0}, *ai = NULL;
        hints.ai_flags = AI_CANONNAME;
        if (getaddrinfo(host_names[0], NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
            snprintf(host_names[1], sizeof host_names[1], "%s", ai->ai_canonname);
        if (ai)
            freeaddrinfo(ai);
    }
    snprintf(listen_name, sizeof listen_name, "%s", c->listen.name);
    public_host[0] = public_origin[0] = 0;
    char scheme[16];
    int port;
    if (c->public_url && split_url(c->public_url, scheme, sizeof scheme, public_host, sizeof public_host, &port))
        snprintf(public_origin, sizeof public_origin, "%s://%s:%d", scheme, public_host, port);
}

static bool is_ip_literal(const char *h)
{
    unsigned char b[16];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

static bool host_name_ok(const char *h)
{
    size_t n = strlen(h);
    if (is_ip_literal(h) || !strcasecmp(h, "localhost") ||
        (n > 10 && !strcasecmp(h + n - 10, ".localhost")))
        return true;
    for (int i = 0; i < 2; i++)
        if (*host_names[i] && !strcasecmp(h, host_names[i]))
            return true;
    return (*listen_name && !strcasecmp(h, listen_name)) || (*public_host && !strcasecmp(h, public_host));
}

int cp__origin_check_host(const char *host, char *why, size_t n)
{
    if (!host || !*host)
        return 0;
    char h[256];
    int port;
    if (!split_hostport(host, h, sizeof h, 80, &port)) {
        snprintf(why, n, "malformed Host header '%.100s'", host);
        return 400;
    }
    if (host_name_ok(h))
        return 0;
    snprintf(why, n, "Host '%.100s' is not a name of this relay (loopback names, IP addresses and the "
             "host of --public-url are; start the relay with --public-url to serve it)", h);
    return 421;
}

int cp__origin_check_origin(const char *origin, const char *host, bool tls, char *why, size_t n)
{
    if (!origin || !*origin || !strstr(origin, "://")) {
        if (origin && !strcmp(origin, "null")) {
            snprintf(why, n, "Origin 'null' refused");
            return 403;
        }
        return 0;                    /* not a browser */
    }
    char scheme[16], oh[256];
    int oport;
    if (!split_url(origin, scheme, sizeof scheme, oh, sizeof oh, &oport)) {
        snprintf(why, n, "malformed Origin '%.100s'", origin);
        return 403;
    }
    char canon[320];
    snprintf(canon, sizeof canon, "%s://%s:%d", scheme, oh, oport);
    if (*public_origin && !strcasecmp(canon, public_origin))
        return 0;
    char hh[256];
    int hport;
    /* host and port, not the scheme: the relay's port speaks only one of
     * http/https, so no page can have the other scheme's origin on it (and
     * agents before this check sent "http://host:port" over wss too) */
    if (host && split_hostport(host, hh, sizeof hh, tls ? 443 : 80, &hport) && !strcasecmp(hh, oh) &&
        hport == oport && host_name_ok(hh))
        return 0;
    snprintf(why, n, "cross-origin request from '%.100s' refused (only this relay's own origin%s may "
             "use it)", origin, *public_origin ? " or --public-url" : "");
    return 403;
}

static const char *hdr(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t n)
{
    if (lws_hdr_total_length(wsi, t) <= 0 || lws_hdr_copy(wsi, buf, (int)n, t) < 0)
        return NULL;
    return buf;
}

int cp__origin_check_wsi(struct lws *wsi, char *why, size_t n)
{
    char host[300], origin[300];
    const char *h = hdr(wsi, WSI_TOKEN_HOST, host, sizeof host);
    if (!h)
        h = hdr(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, host, sizeof host);
    const char *o = hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    /* a websocket upgrade without a browser Origin is not a browser (browsers
     * always send one): rebinding needs a browser, so any Host will do, and
     * agents may dial the relay by whatever name reaches it */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) > 0 && (!o || !strstr(o, "://")) &&
        !(o && !strcmp(o, "null")))
        return 0;
    int rc = cp__origin_check_host(h, why, n);
    if (rc)
        return rc;
    return cp__origin_check_origin(o, h, lws_is_ssl(lws_get_network_wsi(wsi)), why, n);
}
