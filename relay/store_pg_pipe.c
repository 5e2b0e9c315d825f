/* store_pg_pipe.c - the PostgreSQL engine's statement helpers: parameters,
 * running a statement, and libpq pipeline mode for the writer.
 *
 * Pipeline: cp__pg_send* queue statements on a connection without waiting;
 * the next statement run on it (cp__pg_run/exec/cmd/i64) or cp__pg_sync
 * ends the pipeline with one sync and reads every queued result in order.
 * A statement queued with a handler (cp__pg_send_fn) gets its result there
 * (NULL when it failed or was skipped after a failure): how a group
 * transaction learns its dedupe claims and its seal without a round trip
 * of their own. The handlers of a connection live with it (libpq instance
 * data of an event procedure), so any helper that ends its pipeline
 * answers them.
 *
 * libpq's blocking sends read the server's answers while the socket is full,
 * so a long pipeline cannot deadlock (fe-misc.c, pqSendSome).
 *
 * Thread: whoever owns the connection. */
#include "store_pg_int.h"

#include <libpq-events.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void cp__pgq_reset(cp__pgq_t *q) { q->n = 0; }

void cp__pgq_i64(cp__pgq_t *q, int64_t x)
{
    snprintf(q->num[q->n], sizeof q->num[0], "%lld", (long long)x);
    q->v[q->n] = q->num[q->n];
    q->len[q->n] = 0;
    q->fmt[q->n++] = 0;
}

void cp__pgq_f64(cp__pgq_t *q, double x)
{
    snprintf(q->num[q->n], sizeof q->num[0], "%.17g", x);
    q->v[q->n] = q->num[q->n];
    q->len[q->n] = 0;
    q->fmt[q->n++] = 0;
}

void cp__pgq_text(cp__pgq_t *q, const char *s)
{
    q->v[q->n] = s ? s : "";
    q->len[q->n] = 0;
    q->fmt[q->n++] = 0;
}

void cp__pgq_bytes(cp__pgq_t *q, const void *p, size_t n)
{
    q->v[q->n] = n ? p : "";
    q->len[q->n] = (int)n;
    q->fmt[q->n++] = 1;
}

/* The handlers of the statements queued on one connection, in order. */
typedef struct pipe_q {
    struct pipe_h { cp__pg_res_fn fn; void *ud; } *v;
    size_t head, n, cap;
} pipe_q_t;

static void pipe_answer(pipe_q_t *q, const PGresult *r)
{
    if (!q || q->head == q->n)
        return;
    struct pipe_h h = q->v[q->head++];
    if (q->head == q->n)
        q->head = q->n = 0;
    if (h.fn)
        h.fn(h.ud, r);
}

/* A lost connection: what was queued never ran. */
static void pipe_answer_all(pipe_q_t *q)
{
    while (q && q->n)
        pipe_answer(q, NULL);
}

static int pipe_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    PGconn *db = id == PGEVT_CONNDESTROY ? ((PGEventConnDestroy *)info)->conn
               : id == PGEVT_CONNRESET ? ((PGEventConnReset *)info)->conn : NULL;
    pipe_q_t *q = db ? PQinstanceData(db, pipe_event) : NULL;
    pipe_answer_all(q);
    if (q && id == PGEVT_CONNDESTROY) {
        PQsetInstanceData(db, pipe_event, NULL);
        free(q->v);
        free(q);
    }
    return 1;
}

static pipe_q_t *pipe_q(PGconn *db)
{
    pipe_q_t *q = PQinstanceData(db, pipe_event);
    if (q)
        return q;
    if (!PQregisterEventProc(db, pipe_event, "cprof pipeline", NULL))
        return NULL;
    q = cp__xcalloc(1, sizeof *q);
    PQsetInstanceData(db, pipe_event, q);
    return q;
}

/* Ends db's pipeline, if statements were queued (cp__pg_send*): one sync,
 * then their results, each to its handler. Returns false if any of them
 * failed (the transaction is then aborted: the caller's statement fails
 * too). */
static bool pipe_flush(PGconn *db)
{
    if (PQpipelineStatus(db) == PQ_PIPELINE_OFF)
        return true;
    pipe_q_t *q = PQinstanceData(db, pipe_event);
    bool ok = PQpipelineSync(db) == 1;
    for (bool more = ok; more;) {
        PGresult *r = PQgetResult(db);
        if (!r) {
            if (PQstatus(db) != CONNECTION_OK)
                ok = more = false;
            continue;   /* else: between two statements' results */
        }
        ExecStatusType st = PQresultStatus(r);
        bool good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (st == PGRES_PIPELINE_SYNC) {
            more = false;
        } else {
            if (st == PGRES_FATAL_ERROR && ok)
                fprintf(stderr, "cprof relay: postgres: %s(queued statement)\n", PQerrorMessage(db));
            if (!good)
                ok = false;   /* PGRES_PIPELINE_ABORTED: after a failed one */
            pipe_answer(q, good ? r : NULL);
        }
        PQclear(r);
    }
    pipe_answer_all(q);
    if (PQexitPipelineMode(db) != 1) {
        fprintf(stderr, "cprof relay: postgres: pipeline end: %s", PQerrorMessage(db));
        ok = false;
    }
    return ok;
}

static int pipe_queued(PGconn *db, const char *what, cp__pg_res_fn fn, void *ud, int sent)
{
    pipe_q_t *q = pipe_q(db);
    if (sent != 1 || !q) {
        fprintf(stderr, "cprof relay: postgres: %s(%s)\n", PQerrorMessage(db), what);
        if (fn)
            fn(ud, NULL);
        pipe_flush(db);
        return CP_EDB;
    }
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->v = cp__xrealloc(q->v, q->cap * sizeof *q->v);
    }
    q->v[q->n++] = (struct pipe_h){fn, ud};
    return 0;
}

static bool pipe_enter(PGconn *db)
{
    if (PQpipelineStatus(db) != PQ_PIPELINE_OFF || PQenterPipelineMode(db) == 1)
        return true;
    fprintf(stderr, "cprof relay: postgres: pipeline: %s", PQerrorMessage(db));
    return false;
}

int cp__pg_send_fn(PGconn *db, const char *name, const cp__pgq_t *q, cp__pg_res_fn fn, void *ud)
{
    if (!pipe_enter(db)) {
        if (fn)
            fn(ud, NULL);
        return CP_EDB;
    }
    return pipe_queued(db, name, fn, ud, PQsendQueryPrepared(db, name, q->n, q->v, q->len, q->fmt, 0));
}

int cp__pg_send(PGconn *db, const char *name, const cp__pgq_t *q) { return cp__pg_send_fn(db, name, q, NULL, NULL); }

int cp__pg_send_sql(PGconn *db, const char *sql, const cp__pgq_t *q)
{
    if (!pipe_enter(db))
        return CP_EDB;
    return pipe_queued(db, sql, NULL, NULL, PQsendQueryParams(db, sql, q ? q->n : 0, NULL, q ? q->v : NULL,
                                                              q ? q->len : NULL, q ? q->fmt : NULL, 0));
}

int cp__pg_sync(PGconn *db) { return pipe_flush(db) ? 0 : CP_EDB; }

int cp__pg_run_many(PGconn *db, int n, const char *const *sql, const cp__pgq_t *const *q, bool bin, PGresult **out)
{
    int got = 0;
    bool ok = pipe_flush(db) && PQenterPipelineMode(db) == 1;
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    for (int i = 0; ok && i < n; i++)
        ok = PQsendQueryParams(db, sql[i], q[i] ? q[i]->n : 0, NULL, q[i] ? q[i]->v : NULL,
                               q[i] ? q[i]->len : NULL, q[i] ? q[i]->fmt : NULL, bin ? 1 : 0) == 1;
    if (PQpipelineStatus(db) != PQ_PIPELINE_OFF) {
        bool more = PQpipelineSync(db) == 1;
        ok = ok && more;
        while (more) {
            PGresult *r = PQgetResult(db);
            if (!r) {
                if (PQstatus(db) != CONNECTION_OK)
                    ok = more = false;
                continue;
            }
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_SYNC) {
                more = false;
            } else if ((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && got < n) {
                out[got++] = r;
                continue;
            } else {
                const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                if (ok && st == PGRES_FATAL_ERROR && (!code || strcmp(code, "57014")))
                    fprintf(stderr, "cprof relay: postgres: %s(%.80s)\n", PQerrorMessage(db), sql[got]);
                ok = false;
            }
            PQclear(r);
        }
        if (PQexitPipelineMode(db) != 1)
            ok = false;
    }
    if (ok && got == n)
        return 0;
    for (int i = 0; i < n; i++) {
        PQclear(out[i]);
        out[i] = NULL;
    }
    return CP_EDB;
}

PGresult *cp__pg_run(PGconn *db, const char *sql, const cp__pgq_t *q, bool bin)
{
    if (!pipe_flush(db))
        return NULL;
    /* without parameters: the simple protocol, which runs several statements */
    PGresult *r = !q && !bin ? PQexec(db, sql)
                             : PQexecParams(db, sql, q ? q->n : 0, NULL, q ? q->v : NULL, q ? q->len : NULL,
                                            q ? q->fmt : NULL, bin ? 1 : 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    /* 55P03 lock_not_available, 57014 query_canceled: expected, the caller copes */
    if (!code || (strcmp(code, "55P03") && strcmp(code, "57014")))
        fprintf(stderr, "cprof relay: postgres: %s(%.80s)\n", PQerrorMessage(db), sql);
    PQclear(r);
    return NULL;
}

void cp__pg_rollback_now(PGconn *db)
{
    pipe_flush(db);
    PQclear(PQexec(db, "ROLLBACK"));
}

int cp__pg_cmd(PGconn *db, const char *sql, const cp__pgq_t *q)
{
    PGresult *r = cp__pg_run(db, sql, q, false);
    PQclear(r);
    return r ? 0 : CP_EDB;
}

int64_t cp__pg_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int64_t cp__pg_i64(PGconn *db, const char *sql, const cp__pgq_t *q, int64_t dflt, bool *err)
{
    PGresult *r = cp__pg_run(db, sql, q, false);
    if (!r) {
        if (err)
            *err = true;
        return dflt;
    }
    int64_t v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? cp__pg_get_i64(r, 0, 0) : dflt;
    PQclear(r);
    return v;
}

static void quiet_notice(void *arg, const char *msg) { (void)arg; (void)msg; }

PGconn *cp__pg_connect(const char *uri)
{
    PGconn *db = PQconnectdb(uri);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "cprof relay: postgres: cannot connect: %s", PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    PQsetNoticeProcessor(db, quiet_notice, NULL);   /* "already exists, skipping" */
    return db;
}

bool cp__pg_ok(PGconn *db)
{
    if (!db)
        return false;
    if (PQstatus(db) == CONNECTION_OK)
        return true;
    PQreset(db);
    return PQstatus(db) == CONNECTION_OK;
}

PGresult *cp__pg_exec(PGconn *db, const char *name, const cp__pgq_t *q)
{
    if (!pipe_flush(db))
        return NULL;
    PGresult *r = PQexecPrepared(db, name, q->n, q->v, q->len, q->fmt, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    fprintf(stderr, "cprof relay: postgres: %s(%s)\n", PQerrorMessage(db), name);
    PQclear(r);
    return NULL;
}

