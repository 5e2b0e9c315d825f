/* bench_query.h - phase 2 of scripts/bench-relay: /profile, /top, /diff and
 * /insights latency (p50/p99 of 20 runs each) over the 24 h history of H
 * instances of app "hist", printed.
 *
 * Thread: the bench's main thread. */
#ifndef CP_BENCH_QUERY_H
#define CP_BENCH_QUERY_H

#include <stdbool.h>

/* The p-quantile of v[0..n) (sorts v); NAN for n = 0. */
double cp_bench_pct(double *v, int n, double p);
void   cp_bench_queries(int port, bool tls, int hours, int H);

#endif
