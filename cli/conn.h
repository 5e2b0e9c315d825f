/* conn.h - one blocking client connection for the CLI's HTTP client:
 * plain TCP or TLS (OpenSSL) over an already connected socket.
 *
 * TLS verifies the server against the system store plus ca_file (if any),
 * host name or IP address included, unless insecure is set (the caller warns).
 * Thread: the caller's; one connection per struct. */
#ifndef CP_CLI_CONN_H
#define CP_CLI_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct cp_conn_tls_opts {
    const char *ca_file;     /* NULL = system store only */
    bool        insecure;    /* skip verification */
} cp_conn_tls_opts_t;

typedef struct cp_conn {
    int   fd;
    void *ssl_ctx, *ssl;     /* NULL for plain TCP */
} cp_conn_t;

/* Takes ownership of fd. tls NULL = plain TCP. 0, or -1 with err (fd closed). */
int     cp_conn_open(cp_conn_t *c, int fd, const char *host, const cp_conn_tls_opts_t *tls,
                     char *err, size_t errlen);
ssize_t cp_conn_write(cp_conn_t *c, const void *p, size_t n);   /* like write(2) */
ssize_t cp_conn_read(cp_conn_t *c, void *p, size_t n);          /* like read(2); 0 = end */
void    cp_conn_close(cp_conn_t *c);

#endif
