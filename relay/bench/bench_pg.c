/* bench_pg.c - figures read from the relays' PostgreSQL database for
 * scripts/bench-relay --store postgres (declared in bench_proc.h).
 *
 * Thread: the bench's main thread; one short connection per call. */
#include "bench_proc.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    double v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) && !PQgetisnull(r, 0, 0)
               ? strtod(PQgetvalue(r, 0, 0), NULL) : 0;
    PQclear(r);
    return v;
}

int64_t cp_bench_pg_agg_done(const char *url, int64_t step)
{
    PGconn *c = PQconnectdb(url);
    int64_t v = 0;
    if (PQstatus(c) == CONNECTION_OK)
        v = (int64_t)one(c, step == 3600000 ? "SELECT min(done_ms) FROM agg_state WHERE step=3600000"
                                            : "SELECT min(done_ms) FROM agg_state WHERE step=60000");
    PQfinish(c);
    return v;
}

int cp_bench_pg_sizes(const char *url, double *db, double *raw, double *agg, double *dict)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return -1;
    }
    PQclear(PQexec(c, "CHECKPOINT"));
    /* every table, partition, index and TOAST of the store (not the
     * empty database's own catalogs) */
    *db = one(c, "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                 " ON n.oid=c.relnamespace WHERE n.nspname='public' AND c.relkind='r'");
    *raw = one(c, "SELECT coalesce(sum(length(data)),0) FROM windows");
    *agg = one(c, "SELECT (SELECT coalesce(sum(length(data)),0) FROM agg_m) +"
                  " (SELECT coalesce(sum(length(data)),0) FROM agg_h)");
    *dict = one(c, "SELECT coalesce(sum(length(frames)),0) FROM stacks");
    PQfinish(c);
    return 0;
}

/* utime + stime (+ cutime + cstime with children) of pid, in clock ticks;
 * *ppid its parent. -1 if gone. */
static long long proc_ticks(long pid, bool children, long *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
    long pp = 0;
    if (!p || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &pp, &ut, &st, &cut,
                     &cst) != 5)
        return -1;
    if (ppid)
        *ppid = pp;
    return (long long)(ut + st + (children ? cut + cst : 0));
}

double cp_bench_pg_cpu_s(const char *url)
{
    static long postmaster;
    if (!postmaster) {   /* the server's data directory names its postmaster */
        PGconn *c = PQconnectdb(url);
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SHOW data_directory") : NULL;
        if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r)) {
            char path[600];
            snprintf(path, sizeof path, "%s/postmaster.pid", PQgetvalue(r, 0, 0));
            FILE *f = fopen(path, "r");
            if (f && fscanf(f, "%ld", &postmaster) != 1)
                postmaster = 0;
            if (f)
                fclose(f);
        }
        PQclear(r);
        PQfinish(c);
        if (!postmaster)
            return 0;
    }
    /* the postmaster with its reaped children, plus the live ones */
    long long t = proc_ticks(postmaster, true, NULL);
    if (t < 0)
        return 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        long pid = strtol(e->d_name, NULL, 10), ppid = 0;
        long long v = pid > 0 ? proc_ticks(pid, false, &ppid) : -1;
        if (v > 0 && ppid == postmaster)
            t += v;
    }
    if (d)
        closedir(d);
    return (double)t / (double)sysconf(_SC_CLK_TCK);
}
