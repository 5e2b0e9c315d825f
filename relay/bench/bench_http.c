/* bench_http.c - blocking HTTP/1.1 GET over TCP or TLS for bench_relay.c.
 *
 * One connection per request ("Connection: close"), read to EOF: the
 * benchmark measures query latency as a client would see it, handshake
 * included. TLS uses one process-wide SSL_CTX (created on first use, never
 * freed) without certificate verification: the peer is the relay the
 * benchmark started on loopback with a throw-away self-signed certificate. */
#include "bench_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static SSL_CTX *tls_ctx;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (tls_ctx)
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int cp_bench_http_get(int port, bool tls, const char *path, cp_buf_t *body)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    SSL *ssl = NULL;
    if (tls) {
        pthread_once(&tls_once, tls_init);
        if (!tls_ctx || !(ssl = SSL_new(tls_ctx)) || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
            SSL_free(ssl);
            close(fd);
            return -1;
        }
    }
    char req[2048];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                     path, port);
    int w = tls ? SSL_write(ssl, req, n) : (int)write(fd, req, (size_t)n);
    cp_buf_t raw = CP_BUF_INIT;
    if (w == n) {
        char tmp[65536];
        int r;
        while ((r = tls ? SSL_read(ssl, tmp, sizeof tmp) : (int)read(fd, tmp, sizeof tmp)) > 0)
            cp_buf_append(&raw, tmp, (size_t)r);
    }
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    cp_buf_append(&raw, "", 1);
    int st = -1;
    sscanf((char *)raw.data, "HTTP/1.1 %d", &st);
    char *b = strstr((char *)raw.data, "\r\n\r\n");
    if (b && body)
        cp_buf_append(body, b + 4, strlen(b + 4));
    cp_buf_fini(&raw);
    return st;
}
