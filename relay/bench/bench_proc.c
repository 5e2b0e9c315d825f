/* bench_proc.c - the relays under test of scripts/bench-relay
 * (bench_proc.h): processes, /proc figures and store sizes.
 *
 * Thread: the bench's main thread. */
#include "bench_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_http.h"

int cp_bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t l = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &l);
    close(fd);
    return ntohs(sa.sin_port);
}

/* The child: relay k with its listen address, data dir and log. */
static void exec_relay(const cp_bench_relay_cfg_t *c, int k, int port)
{
    char listen[64], data[340], logp[340];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(data, sizeof data, k ? "%s/data%d" : "%s/data", c->dir, k);
    snprintf(logp, sizeof logp, k ? "%s/relay%d.log" : "%s/relay.log", c->dir, k);
    if (!freopen(logp, "w", stderr))
        _exit(126);
    if (c->store)
        execl(c->cprof, c->cprof, "relay", "--listen", listen, "--data", data, "--store", c->store,
              "--aggregate-after", "1m", "--ui", "/nonexistent", "--sync", c->sync, (char *)NULL);
    else if (c->tls)
        execl(c->cprof, c->cprof, "relay", "--listen", listen, "--data", data, "--aggregate-after", "1m",
              "--ui", "/nonexistent", "--sync", c->sync, "--tls-cert", c->cert, "--tls-key", c->key, (char *)NULL);
    else
        execl(c->cprof, c->cprof, "relay", "--listen", listen, "--data", data, "--aggregate-after", "1m",
              "--ui", "/nonexistent", "--sync", c->sync, (char *)NULL);
    _exit(127);
}

int cp_bench_relays_start(cp_bench_relays_t *r, const cp_bench_relay_cfg_t *c)
{
    r->n = c->store ? (c->n < 1 ? 1 : c->n > CP_BENCH_MAX_RELAYS ? CP_BENCH_MAX_RELAYS : c->n) : 1;
    for (int k = 0; k < r->n; k++) {
        if (k)
            r->port[k] = cp_bench_free_port();
        r->pid[k] = fork();
        if (r->pid[k] < 0)
            return -1;
        if (r->pid[k] == 0)
            exec_relay(c, k, r->port[k]);
        for (int i = 0; i < 100; i++) {
            if (cp_bench_http_get(r->port[k], c->tls, "/api/v1/apps", NULL) == 200)
                break;
            usleep(100000);
        }
    }
    return 0;
}

static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double cp_bench_relays_cpu_s(const cp_bench_relays_t *r)
{
    double t = 0;
    for (int k = 0; k < r->n; k++)
        t += cpu_s(r->pid[k]);
    return t;
}

void cp_bench_relays_log_lines(const cp_bench_relays_t *r, const char *dir, const char *needle,
                               const char *prefix)
{
    for (int k = 0; k < r->n; k++) {
        char path[340], line[600];
        snprintf(path, sizeof path, k ? "%s/relay%d.log" : "%s/relay.log", dir, k);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, needle))
                printf("%s[relay %d] %s", prefix, k, line);
        if (f)
            fclose(f);
    }
}

long cp_bench_relay_status_kb(const cp_bench_relays_t *r, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", r->pid[0]);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = strtol(line + strlen(key) + 1, NULL, 10);
    fclose(f);
    return v;
}

void cp_bench_relays_stop(cp_bench_relays_t *r)
{
    int st;
    for (int k = 0; k < r->n; k++) {
        kill(r->pid[k], SIGTERM);   /* a clean stop checkpoints (SQLite: truncates the WAL) */
        waitpid(r->pid[k], &st, 0);
    }
}

int64_t cp_bench_agg_done(const char *db, const char *store, int64_t step)
{
    if (store)
        return cp_bench_pg_agg_done(store, step);
    sqlite3 *d;
    int64_t v = 0;
    if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        sqlite3_busy_timeout(d, 2000);
        if (sqlite3_prepare_v2(d, "SELECT min(done_ms) FROM agg_state WHERE step=?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, step);
            if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(d);
    return v;
}

void cp_bench_store_sizes(const char *data_dir, const char *store, double *disk, double *raw, double *agg,
                          double *dict)
{
    *disk = *raw = *agg = *dict = 0;
    if (store) {
        cp_bench_pg_sizes(store, disk, raw, agg, dict);
        return;
    }
    char p[512];
    struct stat sb;
    const char *f[] = {"cprof.db", "cprof.db-wal", "cprof.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", data_dir, f[i]);
        if (stat(p, &sb) == 0)
            *disk += (double)sb.st_blocks * 512;
    }
    sqlite3 *d = NULL;
    snprintf(p, sizeof p, "%s/cprof.db", data_dir);
    if (sqlite3_open_v2(p, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(d, "SELECT (SELECT coalesce(sum(length(data)),0) FROM windows),"
                                  " (SELECT coalesce(sum(length(data)),0) FROM agg),"
                                  " (SELECT coalesce(sum(length(frames)),0) FROM stacks)", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            *raw = sqlite3_column_double(q, 0);
            *agg = sqlite3_column_double(q, 1);
            *dict = sqlite3_column_double(q, 2);
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(d);
}
