/* bench_query.c - phase 2 of scripts/bench-relay: query latency over the
 * history the bench stored (bench_query.h).
 *
 * Thread: the bench's main thread (blocking HTTP). */
#include "bench_query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_http.h"
#include "buf.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
double cp_bench_pct(double *v, int n, double p)
{
    if (!n)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}


void cp_bench_queries(int port, bool tls, int hours, int H)
{
    const char *qs[] = {"/api/v1/profile?app=hist&from=now-24h&to=now",
                        "/api/v1/profile?app=hist&from=now-24h&to=now&labels=env=prod",
                        "/api/v1/profile?app=hist&from=now-1h&to=now",
                        "/api/v1/top?app=hist&from=now-24h&to=now",
                        /* the statistical diff (docs/diff.md), target < 500 ms: all H instances
                         * x 24 h on each side (the history holds one 24 h, so both sides read
                         * it), and the two halves of the fleet by label */
                        "/api/v1/diff?app=hist&base.from=now-24h&base.to=now&cmp.from=now-24h&cmp.to=now",
                        "/api/v1/diff?app=hist&base.from=now-24h&base.to=now&base.labels=env=prod"
                        "&cmp.from=now-24h&cmp.to=now&cmp.labels=env=dev"};
    for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
        double l[20];
        size_t bytes = 0;
        for (int i = 0; i < 20; i++) {
            cp_buf_t body = CP_BUF_INIT;
            double t = now_s();
            int st = cp_bench_http_get(port, tls, qs[q], &body);
            l[i] = now_s() - t;
            bytes = body.len;
            if (st != 200)
                printf("    %s -> HTTP %d\n", qs[q], st);
            cp_buf_fini(&body);
        }
        printf("    GET %-62s p50 %6.1f ms  p99 %6.1f ms  (%zu bytes)\n", qs[q], cp_bench_pct(l, 20, 0.5) * 1e3,
               cp_bench_pct(l, 20, 0.99) * 1e3, bytes);
    }
    /* insights over the same 24 h (minute/hour aggregates) and the last
     * hour (raw windows of every instance): the relay's own split of each
     * answer into fetching (profiles, windows, series) and the rules */
    for (int h = 24; h >= 1; h -= 23) {
        double l[20], fetch[20], rules[20];
        size_t bytes = 0;
        int nf = 0;
        char iq[128];
        snprintf(iq, sizeof iq, "/api/v1/insights?app=hist&from=now-%dh&to=now", h);
        for (int i = 0; i < 20; i++) {
            cp_buf_t body = CP_BUF_INIT;
            double t = now_s();
            int st = cp_bench_http_get(port, tls, iq, &body);
            l[i] = now_s() - t;
            bytes = body.len;
            cp_buf_append(&body, "", 1);
            const char *f = strstr((const char *)body.data, "\"fetch_ms\":");
            const char *r = strstr((const char *)body.data, "\"rules_ms\":");
            fetch[i] = f ? strtod(f + 11, NULL) : 0;
            rules[i] = r ? strtod(r + 11, NULL) : 0;
            nf = 0;
            for (const char *k = (const char *)body.data; (k = strstr(k, "\"rule\":")); k++)
                nf++;
            if (st != 200)
                printf("    %s -> HTTP %d\n", iq, st);
            cp_buf_fini(&body);
        }
        printf("    GET %-62s p50 %6.1f ms  p99 %6.1f ms  (%zu bytes, %d findings)\n", iq, cp_bench_pct(l, 20, 0.5) * 1e3,
               cp_bench_pct(l, 20, 0.99) * 1e3, bytes, nf);
        printf("    => insights on %d h x %d instances: rules p50 %.1f ms p99 %.1f ms (target < 200 ms); "
               "profile fetch p50 %.1f ms p99 %.1f ms\n", h < hours ? h : hours, H, cp_bench_pct(rules, 20, 0.5),
               cp_bench_pct(rules, 20, 0.99), cp_bench_pct(fetch, 20, 0.5), cp_bench_pct(fetch, 20, 0.99));
    }
}
