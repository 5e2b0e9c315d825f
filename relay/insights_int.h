/* insights_int.h - the insights engine's state, shared by its files:
 * insights.c (state, types, windows, ranking), insights_classify.c (the
 * stacks of a type against its rule rows), insights_evidence.c (candidate
 * -> finding), insights_series.c (the series rules), insights_json.c (the
 * document).
 * Nothing outside relay/insights*.c includes this.
 *
 * Thread: the engine's owner. */
#ifndef CP_RELAY_INSIGHTS_INT_H
#define CP_RELAY_INSIGHTS_INT_H

#include "insights.h"
#include "insights_rules.h"
#include "rutil.h"

#define CP__INSIGHTS_MAX_CANDS 64   /* candidates per type: one bit each per stack */
#define CP__INSIGHTS_WORST_MIN 20   /* samples a window needs to be the worst window */
#define CP__INSIGHTS_HIST_PER_OCTAVE 32
#define CP__INSIGHTS_HIST_BINS (64 * CP__INSIGHTS_HIST_PER_OCTAVE)

/* Log-scale histogram of values (insights.c hist_add/hist_low). */
typedef struct cp__ihist {
    uint32_t n[CP__INSIGHTS_HIST_BINS];
    double   sum[CP__INSIGHTS_HIST_BINS];
    uint64_t gcd;                      /* of every value added */
} cp__ihist_t;

/* How a type's sample unit is estimated (insights_classify.c). */
enum { CP__IQ_MODE = 0, CP__IQ_MIN, CP__IQ_GCD };

/* A possible finding of one rule row within one type, while evidence is
 * summed. group: the function (HOT_LEAF, HOT_SITE) or lock class frame
 * (LOCK_CLASS) it stands for, in the type's profile name indices; -1 for a
 * pattern row. */
typedef struct cp__icand {
    const cp_irule_t *rule;
    int64_t  group;
    double   value, samples;           /* matched */
    uint32_t best_stack;               /* the matched stack with the largest value */
    uint64_t best_value;
    struct { uint32_t name; double value; } frames[CP_INSIGHTS_MAX_FRAMES];
    uint32_t n_frames;
    cp__hmap_t callers;                /* caller name index -> slot + 1 */
    struct { uint32_t name; double value; } *cl;
    uint32_t n_cl, cap_cl;
    double   win_val;                  /* current window's matched value */
    double   worst_share;
    int64_t  worst_from, worst_to;
    bool     has_worst, worst_big;
    double  *inst_val;                 /* per instance slot (cap_inst of the engine) */
} cp__icand_t;

typedef struct cp__itype {
    char    *name;
    const char *unit;                  /* borrowed from the profile */
    const cp_profile_t *p, *counts;
    bool     ready;                    /* classified */
    double   q;                        /* value of one sample */
    cp__ihist_t hist_prof, hist_win;   /* stack values, merged and per window */
    int      qhow;                     /* CP__IQ_*: how q is estimated */
    double   total, samples;
    uint64_t *mask;                    /* per stack: candidates matched (bit i = cand i) */
    double   *count_of;                /* per stack sample counts from `counts`, or NULL */
    cp__icand_t cand[CP__INSIGHTS_MAX_CANDS];
    uint32_t n_cand;
    int64_t  span_lo, span_hi;         /* windows' first start, last end */
    double  *inst_total;               /* per instance slot */
    int64_t *inst_lo, *inst_hi;
    bool     any_instance;
} cp__itype_t;

/* One series, points in time order. */
typedef struct cp__iseries {
    char    *name;
    int64_t *t;
    double  *v;
    size_t   n, cap;
} cp__iseries_t;

struct cp_insights {
    char    *app, *labels;
    int64_t  from_ms, to_ms;
    cp__itype_t *types;
    uint32_t n_types, cap_types;
    cp__itype_t *cur;
    /* instances seen in raw windows: id -> slot + 1 */
    cp__hmap_t inst_idx;
    uint32_t n_inst, cap_inst;
    /* per 60 s bucket of the range: JVM-milliseconds covered by windows
     * (raw windows: per instance; aggregate rows: per label set), the max
     * over types; turns summed pauses into a per-JVM ratio */
    double  *bucket_cover, *bucket_cover_type;
    uint32_t n_buckets;
    int64_t  series_from_ms;           /* series were read from here (>= from_ms) */
    cp__iseries_t *series;
    uint32_t n_series, cap_series;
    cp_insights_finding_t *f;
    uint32_t n_f, cap_f;
    cp_insights_short_t *sh;
    uint32_t n_sh, cap_sh;
    bool     finished;
    /* strings the findings borrow (stacks, names): freed with the engine */
    char   **strs;
    size_t   n_strs, cap_strs;
    const char ***stacks;
    size_t   n_stacks, cap_stacks;
};

/* Adds a finding (copied); strings in it must live as long as the engine
 * (use cp__insights_keep). */
cp_insights_finding_t *cp__insights_add_finding(cp_insights_t *in);
void cp__insights_add_short(cp_insights_t *in, const char *rule, const char *type, double samples,
                            double needed);
/* Copies s into the engine; valid until it is destroyed. */
const char *cp__insights_keep(cp_insights_t *in, const char *s);
/* Severity for metric against a row's thresholds (0 = none); ci_lo of a
 * share metric must clear INFO for a WARN. */
int cp__insights_severity(const cp_irule_t *r, double metric, double ci_lo);
/* The row's normalised rank for a saving (docs/insights.md "Ranking"). */
double cp__insights_rank(double saving, const char *unit);
/* "about 0.28 CPU cores" style text. */
void cp__insights_saving_text(char *out, size_t n, double saving, const char *unit);

/* insights_classify.c: classifies type t's merged profile (once, on its
 * first window or at its end); after the windows, fixes the sample unit
 * and the candidates' sample counts. */
void cp__insights_classify(cp_insights_t *in, cp__itype_t *t);
void cp__insights_samples_final(cp__itype_t *t);
/* Adds a (stack, row) value to a histogram of values. */
void cp__insights_hist_add(cp__ihist_t *h, uint64_t v);

/* insights_evidence.c: candidate c of type t becomes a finding if it
 * passes (or a not-enough-data note); profile-quality's findings that are
 * about the whole type (row r). */
void cp__insights_cand_finish(cp_insights_t *in, cp__itype_t *t, cp__icand_t *c);
void cp__insights_quality_extra(cp_insights_t *in, cp__itype_t *t, const cp_irule_t *r);

/* insights_series.c: evaluates the series rules into findings. */
void cp__insights_series_rules(cp_insights_t *in);

#endif
