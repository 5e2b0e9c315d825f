/* api_int.h - what the two halves of the HTTP API share: the request
 * (api.c: the service thread reads it, queues it and writes its answer;
 * api_query.c: a query worker runs it against the store). Not a public
 * interface. */
#ifndef CP_RELAY_API_INT_H
#define CP_RELAY_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "store.h"

#define MAX_ARGS 32          /* query arguments per request (more: 400) */
#define MAX_ARG_BYTES 4096   /* bytes per argument, with its NUL (more: 400) */

typedef struct cp_qreq {
    char     path[128];
    char    *keys[MAX_ARGS], *vals[MAX_ARGS];
    int      n_args;
    int      status;
    const char *ctype;
    char     disposition[200];   /* Content-Disposition for downloads, "" if none */
    bool     www_auth;           /* 401: send WWW-Authenticate */
    cp_principal_t who;          /* the caller (service thread sets it before queueing) */
    const char *app;             /* the 'app' parameter as the caller wrote it, or NULL */
    char     qapp[CP_TENANT_MAX + 1024];   /* ... qualified with the caller's tenant */
    cp_buf_t body;
    bool     cancelled;          /* set by the service thread, polled by the worker (atomics) */
    int64_t  deadline_ms;        /* monotonic ms */
    void    *pss;
    struct cp_qreq *next;
} cp_qreq_t;

/* CLOCK_MONOTONIC in ms (deadlines). */
int64_t cp__mono_ms(void);
/* Frees a request and everything it holds. */
void cp__qreq_free(cp_qreq_t *r);
/* The (url-decoded) value of query argument k, or NULL. */
const char *cp__qreq_arg(const cp_qreq_t *r, const char *k);
/* Replaces the answer with {"error": message} and the status. */
void cp__qreq_error(cp_qreq_t *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs one request on a query worker (rd NULL: no database yet): sets
 * status, content type and body. api_query.c. */
void cp__api_execute(cp_qreq_t *r, cp_store_reader_t *rd);

#endif
