/* diffstat.h - the statistics of a diff (design: docs/diff.md): which
 * methods changed their share of a profile by more than noise, and the
 * gate's verdict.
 *
 * Input, per side (base, cmp): windows (one flush of one instance), each
 * with its total, its length in seconds, the value of one sample (so that
 * values convert to sample counts) and a block key (the instance); within a
 * window, the inclusive value of each method (every stack that contains the
 * method counts once). The caller keys frames by method with
 * cp_diffstat_method_key and numbers the keys 0..n_methods-1.
 *
 * Output, per method: base and cmp estimates (share 0..1 or value per
 * second), delta = cmp - base with its 95% interval, p, q
 * (Benjamini-Hochberg), the direction of a significant change and the
 * gate's verdict (PASS / INCONCLUSIVE with the factor of more data that
 * would settle it / REGRESSION).
 *
 * Pure computation: no I/O, no global state; deterministic (the bootstrap
 * uses a seeded generator). Thread: any; one cp_diffstat_t per thread.
 * Allocation failure exits through cp__xrealloc (relay rule). */
#ifndef CP_RELAY_DIFFSTAT_H
#define CP_RELAY_DIFFSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CP_DIFF_BASE = 0, CP_DIFF_CMP = 1 };

typedef enum cp_diff_verdict {
    CP_DIFF_PASS = 0,
    CP_DIFF_INCONCLUSIVE,
    CP_DIFF_REGRESSION,
} cp_diff_verdict_t;
const char *cp_diff_verdict_name(cp_diff_verdict_t v);   /* "PASS", ...; static */

typedef enum cp_diff_norm {
    CP_DIFF_NORM_SHARE = 0,       /* inclusive value / side total (default) */
    CP_DIFF_NORM_PER_SECOND,      /* inclusive value / seconds of windows */
} cp_diff_norm_t;
/* "share" or "per-second" -> *out; CP_EINVAL for anything else. */
int cp_diff_norm_parse(const char *s, cp_diff_norm_t *out /* OUT */);
const char *cp_diff_norm_name(cp_diff_norm_t n);

/* A gate threshold: "2pp" (absolute, share points: value 0.02) or
 * "10%rel" (relative to the base estimate: value 0.10). */
typedef struct cp_diff_threshold {
    double value;
    bool   relative;
} cp_diff_threshold_t;
/* Parses "2pp", "0.5pp", "10%rel", "10%" (= 10%rel). The number must be
 * > 0 and finite (pp <= 100). Returns 0 or CP_EINVAL. */
int cp_diff_threshold_parse(const char *s, cp_diff_threshold_t *out /* OUT */);
/* "2pp" / "10%rel" for messages; returns buf. */
const char *cp_diff_threshold_format(const cp_diff_threshold_t *t, char *buf, size_t cap);

/* The method a frame name stands for: line numbers and BCIs stripped,
 * lambda, proxy, hidden-class and reflection-accessor numbers removed, so
 * the same method of two runs (or two instances) gets the same key. Writes
 * a NUL-terminated key (truncated to cap-1 bytes) and returns its length. */
size_t cp_diffstat_method_key(const char *name, char *out, size_t cap);

typedef struct cp_diffstat_opts {
    cp_diff_norm_t      norm;
    cp_diff_threshold_t threshold;     /* default 2pp */
    double   q;                        /* FDR level, default 0.05 */
    double   min_samples;              /* tested iff >= this on one side (30) */
    uint32_t boot_below;               /* bootstrap when a side has fewer windows (10) */
    uint32_t boot_reps;                /* bootstrap replicates (1000) */
    uint64_t seed;                     /* bootstrap generator seed */
} cp_diffstat_opts_t;
void cp_diffstat_opts_default(cp_diffstat_opts_t *o /* OUT */);

typedef struct cp_diffstat cp_diffstat_t;   /* opaque accumulator */

/* n_methods: keys are 0..n_methods-1. Caller owns; cp_diffstat_destroy. */
cp_diffstat_t *cp_diffstat_create(uint32_t n_methods);
void cp_diffstat_destroy(cp_diffstat_t *d);   /* NULL is a no-op */
/* Grows the key space to n_methods (new keys start empty): for callers that
 * learn the second side's methods after the first side's windows. Not
 * inside a window. */
void cp_diffstat_reserve(cp_diffstat_t *d, uint32_t n_methods);

/* One window of side (CP_DIFF_BASE/CMP): begin, add each method's
 * inclusive value (several adds to one method sum up), end. total: the
 * window's whole value; seconds: its length; unit: the value of one sample
 * (> 0; e.g. the sampling interval in ns for cpu); block: the bootstrap
 * block it belongs to (the instance). Windows with total <= 0 are ignored. */
void cp_diffstat_window_begin(cp_diffstat_t *d, int side, int64_t block, double total, double seconds,
                              double unit);
void cp_diffstat_window_add(cp_diffstat_t *d, uint32_t method, double value);
void cp_diffstat_window_end(cp_diffstat_t *d);

typedef struct cp_diffstat_method {
    double base, cmp;               /* estimates (share 0..1, or value per second) */
    double base_samples, cmp_samples;
    double delta, lo, hi;           /* cmp - base and its 95% interval */
    double se, df;                  /* standard error of delta, degrees of freedom */
    double p, q;                    /* NaN when not tested */
    bool   tested;                  /* >= min_samples on one side */
    bool   bootstrap;               /* se from the block bootstrap */
    int    change;                  /* +1 significant rise, -1 significant fall, 0 none */
    cp_diff_verdict_t verdict;
    double more_data;               /* INCONCLUSIVE: data x this would settle it; else 0 */
} cp_diffstat_method_t;

typedef struct cp_diffstat_side {
    uint32_t windows, blocks;
    double   total, seconds, samples;
} cp_diffstat_side_t;

/* A whole-run figure compared across sides (value per second of windows). */
typedef struct cp_diffstat_total {
    double base, cmp, delta, lo, hi, p;   /* per second; p NaN if not testable */
} cp_diffstat_total_t;

typedef struct cp_diffstat_result {
    cp_diffstat_method_t *m;        /* n entries, by method key index */
    uint32_t n;
    cp_diffstat_side_t side[2];
    cp_diffstat_total_t total;      /* the sides' totals per second */
    uint32_t tested, rises, falls, unchanged;   /* unchanged = n_seen - rises - falls */
    uint32_t regressions, inconclusive;         /* verdict counts */
    cp_diff_verdict_t verdict;      /* REGRESSION if any, else INCONCLUSIVE if any, else PASS */
} cp_diffstat_result_t;

/* Computes every method's statistics. Methods seen on neither side keep
 * zeros (verdict PASS) and are not counted in `unchanged`. CP_EINVAL:
 * an absolute (pp) threshold with per-second normalisation, or q outside
 * (0, 1). Caller frees out with cp_diffstat_result_free. */
int cp_diffstat_compute(const cp_diffstat_t *d, const cp_diffstat_opts_t *o,
                        cp_diffstat_result_t *out /* OUT */);
void cp_diffstat_result_free(cp_diffstat_result_t *r);

/* ---- the distributions used, exposed for tests ---- */
double cp_diffstat_t_sf2(double t, double df);   /* two-sided P(|T| >= |t|) */
double cp_diffstat_t_quantile(double p, double df);   /* P(T <= x) = p */
void   cp_diffstat_bh(const double *p, uint32_t n, double *q /* OUT */);   /* NaN p: skipped */

#endif
