/* listen.c - resolve --listen, probe the port, lock the data directory.
 * See listen.h. Thread: main, at start-up only. */
#include "listen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void classify(cp_listen_addr_t *a)
{
    if (a->family == AF_INET) {
        struct in_addr in;
        inet_pton(AF_INET, a->addr, &in);
        uint32_t h = ntohl(in.s_addr);
        a->wildcard = h == 0;
        a->loopback = (h >> 24) == 127;
    } else {
        struct in6_addr in6;
        inet_pton(AF_INET6, a->addr, &in6);
        a->wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6);
        a->loopback = IN6_IS_ADDR_LOOPBACK(&in6);
    }
}

static int resolve(const char *host, cp_listen_addr_t *a, char *err, size_t errlen)
{
    struct in_addr in;
    struct in6_addr in6;
    snprintf(a->name, sizeof a->name, "%s", host);
    if (!strcasecmp(host, "localhost"))
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in) == 1) {
        a->family = AF_INET;
        inet_ntop(AF_INET, &in, a->addr, sizeof a->addr);
    } else if (inet_pton(AF_INET6, host, &in6) == 1) {
        a->family = AF_INET6;
        inet_ntop(AF_INET6, &in6, a->addr, sizeof a->addr);
    } else {
        struct addrinfo hints = {0}, *ai = NULL;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host, NULL, &hints, &ai);
        if (rc || !ai) {
            snprintf(err, errlen, "cannot resolve listen host '%s': %s", host,
                     rc ? gai_strerror(rc) : "no address");
            return -1;
        }
        a->family = ai->ai_family;
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, a->addr, sizeof a->addr);
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, a->addr, sizeof a->addr);
        freeaddrinfo(ai);
    }
    classify(a);
    return 0;
}

int cp__listen_parse(const char *s, cp_listen_addr_t *a, int *port, char *err, size_t errlen)
{
    char host[256] = "127.0.0.1";
    const char *ps = s;
    memset(a, 0, sizeof *a);
    if (s[0] == '[') {                       /* [v6]:port */
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) {
            snprintf(err, errlen, "bad --listen '%s' (want [IPV6]:PORT)", s);
            return -1;
        }
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        ps = e + 2;
    } else if (strchr(s, ':')) {
        const char *colon = strrchr(s, ':');
        size_t n = (size_t)(colon - s);
        if (n == 0 || n >= sizeof host || memchr(s, ':', n)) {
            snprintf(err, errlen, "bad --listen '%s' (want HOST:PORT, or [IPV6]:PORT)", s);
            return -1;
        }
        memcpy(host, s, n);
        host[n] = 0;
        ps = colon + 1;
    }
    char *end;
    errno = 0;
    long p = strtol(ps, &end, 10);
    if (!*ps || *end || errno || p < 0 || p > 65535) {
        snprintf(err, errlen, "bad port in --listen '%s' (0-65535)", s);
        return -1;
    }
    *port = (int)p;
    return resolve(host, a, err, errlen);
}

const char *cp__listen_format(const cp_listen_addr_t *a, int port, char *buf, size_t n)
{
    snprintf(buf, n, a->family == AF_INET6 ? "[%s]:%d" : "%s:%d", a->addr, port);
    return buf;
}

/* IPV6_V6ONLY: a specific IPv6 address is that address only; [::] takes
 * IPv4 too (the Linux default, made explicit). */
static int v6only(const cp_listen_addr_t *a)
{
    return a->wildcard ? 0 : 1;
}

int cp__listen_probe(const cp_listen_addr_t *a, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, a->addr, &s4->sin_addr);
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, a->addr, &s6->sin6_addr);
        sl = sizeof *s6;
    }
    int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, v6 = v6only(a);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(fd);
    if (rc) {
        char where[128];
        snprintf(err, errlen, "cannot listen on %s: %s%s", cp__listen_format(a, port, where, sizeof where),
                 strerror(e), e == EADDRINUSE ? " (another process holds this port)"
                              : e == EADDRNOTAVAIL ? " (no such address on this machine)" : "");
        return -1;
    }
    return 0;
}

void cp__listen_lws_info(const cp_listen_addr_t *a, struct lws_context_creation_info *info)
{
    /* NULL iface = the family's wildcard; a literal = exactly that address */
    info->iface = a->wildcard ? NULL : a->addr;
    info->options |= LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    if (a->family == AF_INET) {
        info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    } else {
        info->options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
        if (v6only(a))
            info->options |= LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
    }
}

int cp__datadir_lock(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/relay.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\r\n")] = 0;
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "data directory %s is in use by another relay%s%s (lock %s)", dir,
                     *pid ? ", pid " : "", pid, path);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
        (void)0;   /* the pid is only for the message above */
    return fd;
}

/* lws 4.1 does not hand out its listening socket: find ours among the
 * process's descriptors (listening, bound to port) and set the option. */
int cp__listen_defer_accept(int port, int seconds)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int set = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || fd < 0 || fd == dirfd(d))
            continue;
        int acc = 0;
        socklen_t len = sizeof acc;
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) || !acc)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname((int)fd, (struct sockaddr *)&ss, &sl))
            continue;
        int p = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
              : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : -1;
        if (p == port && !setsockopt((int)fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds))
            set++;
    }
    closedir(d);
    return set;
}
