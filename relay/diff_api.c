/* diff_api.c - /api/v1/diff with statistics (contract in diff_api.h,
 * format in docs/api.md, the statistics in docs/diff.md).
 *
 * Per side: one cp_store_profile_windows read (raw windows: one flush of
 * one instance each, while the app's instances x the range / 10 s stay
 * under raw_max_windows; else the minute/hour rows), the
 * merged profile for the tree, and a callback per window that adds each
 * method's inclusive value to the diffstat accumulator. Every merged stack
 * is classified once (its distinct method keys) before the first window;
 * a window then costs one pass over its stacks.
 *
 * Warm-up: windows of an instance that begin within warmup_ms of its
 * first_seen (the relay's instances document: its first hello) are
 * skipped; an instance that started well before the range loses nothing,
 * and one that ran (first to last_seen) less than twice warmup_ms keeps
 * them (counted as kept_warmup).
 *
 * Thread: a query worker; state lives in one cp_diff_run call. */
#include "diff_api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "profile.h"
#include "relay.h"
#include "rutil.h"

#define RAW_MAX_WINDOWS 10000   /* raw windows a side may read (memory: ~5 KB each) */

int cp_diff_api_params(char *const *keys, char *const *vals, int n, cp_diff_api_params_t *o, char *err,
                       size_t errlen)
{
    memset(o, 0, sizeof *o);
    cp_diffstat_opts_default(&o->opts);
    o->warmup_ms = 60000;
    o->stats = true;
    o->limit = 500;
    o->raw_max_windows = RAW_MAX_WINDOWS;
    for (int i = 0; i < n; i++) {
        const char *k = keys[i], *v = vals[i];
        char *e;
        if (!strcmp(k, "threshold")) {
            if (cp_diff_threshold_parse(v, &o->opts.threshold)) {
                snprintf(err, errlen, "bad 'threshold': '%s' (2pp: share points, or 10%%rel: relative)", v);
                return CP_EINVAL;
            }
        } else if (!strcmp(k, "q")) {
            double q = strtod(v, &e);
            if (!*v || *e || !(q > 0 && q < 1)) {
                snprintf(err, errlen, "bad 'q': '%s' (a false discovery rate between 0 and 1, e.g. 0.05)", v);
                return CP_EINVAL;
            }
            o->opts.q = q;
        } else if (!strcmp(k, "normalize")) {
            if (cp_diff_norm_parse(v, &o->opts.norm)) {
                snprintf(err, errlen, "bad 'normalize': '%s' (share or per-second)", v);
                return CP_EINVAL;
            }
        } else if (!strcmp(k, "warmup")) {
            int64_t ms = 0;
            if (strcmp(v, "0") && (cp_duration_parse(v, &ms) || ms < 0)) {
                snprintf(err, errlen, "bad 'warmup': '%s' (seconds, or 30s/2m; 0 keeps everything)", v);
                return CP_EINVAL;
            }
            o->warmup_ms = ms;
        } else if (!strcmp(k, "stats")) {
            if (strcmp(v, "on") && strcmp(v, "off")) {
                snprintf(err, errlen, "bad 'stats': '%s' (on or off)", v);
                return CP_EINVAL;
            }
            o->stats = !strcmp(v, "on");
        } else if (!strcmp(k, "limit")) {
            long l = strtol(v, &e, 10);
            if (!*v || *e || l < 0 || l > 100000) {
                snprintf(err, errlen, "bad 'limit': '%s' (methods listed besides the flagged ones, 0..100000)", v);
                return CP_EINVAL;
            }
            o->limit = (uint32_t)l;
        }
    }
    if (o->opts.norm == CP_DIFF_NORM_PER_SECOND && !o->opts.threshold.relative) {
        snprintf(err, errlen, "bad 'threshold': with normalize=per-second it must be relative (10%%rel)");
        return CP_EINVAL;
    }
    return 0;
}

/* ---- method keys: name -> key index, shared by both sides ---- */

typedef struct keys {
    cp__hmap_t idx;      /* hash of key text (probed on collision) -> index + 1 */
    char     **text;
    uint32_t   n, cap;
} keys_t;

static uint32_t key_of(keys_t *k, const char *name)
{
    char buf[1024];
    size_t len = cp_diffstat_method_key(name, buf, sizeof buf);
    uint64_t h = cp__hash_bytes(buf, len);
    uint32_t *slot;
    for (;;) {
        slot = cp__hmap_slot(&k->idx, h, 1);
        if (!*slot || !strcmp(k->text[*slot - 1], buf))
            break;
        h = h * 0x9E3779B97F4A7C15ull + 1;
    }
    if (*slot)
        return *slot - 1;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 1024;
        k->text = cp__xrealloc(k->text, k->cap * sizeof *k->text);
    }
    k->text[k->n] = cp__xstrdup(buf);
    *slot = ++k->n;
    return k->n - 1;
}

static void keys_free(keys_t *k)
{
    for (uint32_t i = 0; i < k->n; i++)
        free(k->text[i]);
    free(k->text);
    cp__hmap_free(&k->idx);
}

/* ---- instances' first and last_seen, from the instances document ---- */

typedef struct firsts {
    cp__hmap_t idx;      /* hash of instance id -> index + 1 into seen */
    int64_t   *seen;     /* [2 i] first_seen ms, [2 i + 1] last_seen ms */
    uint32_t   n;
} firsts_t;

static long long num_after(const char *from, const char *key)
{
    const char *k = strstr(from, key);
    return k ? strtoll(k + strlen(key), NULL, 10) : -1;
}

/* The document is the store's own (store_json.c): each instance object
 * starts with "id", and its top-level "first_seen" and "last_seen" follow
 * "connected" (a label may be named anything, but its value is a string). */
static void firsts_load(cp_store_reader_t *rd, const char *app, firsts_t *f)
{
    cp_buf_t doc = CP_BUF_INIT;
    if (cp_store_instances_json(rd, app, &doc) == 0 && cp_buf_append(&doc, "", 1) == 0) {
        const char *s = (const char *)doc.data;
        while ((s = strstr(s, "{\"id\":\""))) {
            s += 7;
            const char *e = strchr(s, '"');
            if (!e)
                break;
            uint64_t h = cp__hash_bytes(s, (size_t)(e - s));
            const char *c = e;
            while ((c = strstr(c, "\"connected\":")) && c[12] != 't' && c[12] != 'f')
                c += 12;
            if (!c)
                break;
            long long first = num_after(c, ",\"first_seen\":"), last = num_after(c, ",\"last_seen\":");
            if (first > 0) {
                f->seen = cp__xrealloc(f->seen, (size_t)(f->n + 1) * 2 * sizeof *f->seen);
                f->seen[2 * f->n] = first * 1000;
                f->seen[2 * f->n + 1] = last > first ? last * 1000 : first * 1000;
                *cp__hmap_slot(&f->idx, h, 1) = ++f->n;
            }
            s = c;
        }
    }
    cp_buf_fini(&doc);
}

/* first/last_seen (ms) of an instance; false if unknown. */
static bool seen_of(const firsts_t *f, const char *iid, int64_t *first, int64_t *last)
{
    if (!iid)
        return false;
    uint32_t *v = cp__hmap_slot((cp__hmap_t *)&f->idx, cp__hash_bytes(iid, strlen(iid)), 0);
    if (!v || !*v)
        return false;
    *first = f->seen[2 * (*v - 1)];
    *last = f->seen[2 * (*v - 1) + 1];
    return true;
}

/* ---- one side's windows ---- */

typedef struct side {
    int            side;
    keys_t        *keys;
    cp_diffstat_t *ds;
    const firsts_t *firsts;
    int64_t        warmup_ms;
    /* the merged stacks' distinct method keys, built at the first window */
    bool           ready;
    uint32_t      *koff, *kv;
    /* what happened */
    uint32_t       windows, skipped_warmup, kept_warmup, aggregates;
    double         all_seconds;   /* of every window in range, warm-up too */
    double         gc_ns, lock_ns;   /* GC pauses and lock waits in range (-1: none) */
    cp__hmap_t     instances;   /* instance id -> 1 */
} side_t;

static void classify(side_t *sd, const cp_profile_t *p)
{
    uint32_t *name_key = cp__xcalloc(p->n_names, sizeof *name_key);
    for (uint32_t i = 0; i < p->n_names; i++)
        name_key[i] = key_of(sd->keys, p->names[i]);
    cp_diffstat_reserve(sd->ds, sd->keys->n);
    uint32_t *stamp = cp__xcalloc(sd->keys->n, sizeof *stamp);
    sd->koff = cp__xcalloc((size_t)p->n_stacks + 1, sizeof *sd->koff);
    sd->kv = cp__xcalloc(p->stack_off[p->n_stacks] + 1, sizeof *sd->kv);
    uint32_t n = 0;
    for (uint32_t s = 0; s < p->n_stacks; s++) {
        sd->koff[s] = n;
        for (uint32_t k = p->stack_off[s]; k < p->stack_off[s + 1]; k++) {
            uint32_t key = name_key[p->funcs[k]];
            if (stamp[key] != s + 1) {   /* a recursive method counts once */
                stamp[key] = s + 1;
                sd->kv[n++] = key;
            }
        }
    }
    sd->koff[p->n_stacks] = n;
    free(stamp);
    free(name_key);
    sd->ready = true;
}

typedef struct walk { side_t *sd; const cp_profile_t *p; } walk_t;

static int on_window(void *ud, const cp_store_window_t *w)
{
    walk_t *wk = ud;
    side_t *sd = wk->sd;
    if (!sd->ready)
        classify(sd, wk->p);
    sd->all_seconds += (double)(w->end_ms - w->start_ms) / 1000;
    if (w->instance >= 0) {
        int64_t fs, ls;
        /* a run shorter than twice the warm-up keeps it: skipping would
         * leave little or nothing of it */
        if (sd->warmup_ms > 0 && seen_of(sd->firsts, w->instance_name, &fs, &ls) && w->start_ms < fs + sd->warmup_ms) {
            if (ls - fs >= 2 * sd->warmup_ms) {
                sd->skipped_warmup++;
                return 0;
            }
            sd->kept_warmup++;
        }
        *cp__hmap_slot(&sd->instances, (uint64_t)w->instance, 1) = 1;
    } else {
        sd->aggregates++;
    }
    uint64_t unit = UINT64_MAX;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->values[i] && w->values[i] < unit)
            unit = w->values[i];
    if (unit == UINT64_MAX)
        return 0;
    /* aggregates (one label set) are their own blocks */
    int64_t block = w->instance >= 0 ? w->instance
                                     : -(int64_t)(cp__hash_bytes(w->labels, strlen(w->labels)) >> 2) - 1;
    cp_diffstat_window_begin(sd->ds, sd->side, block, (double)w->total, (double)(w->end_ms - w->start_ms) / 1000,
                             (double)unit);
    for (uint32_t i = 0; i < w->n; i++) {
        uint32_t s = w->stacks[i];
        double v = (double)w->values[i];
        for (uint32_t k = sd->koff[s]; k < sd->koff[s + 1]; k++)
            cp_diffstat_window_add(sd->ds, sd->kv[k], v);
    }
    cp_diffstat_window_end(sd->ds);
    sd->windows++;
    return 0;
}

static void side_fini(side_t *sd)
{
    free(sd->koff);
    free(sd->kv);
    cp__hmap_free(&sd->instances);
}

/* ---- whole-run figures besides the compared type ---- */

/* Sum of the values of series `name` in a timeline's series document
 * ({"name":[[t,v],...],...}, store.h); -1 when absent. */
static double series_sum(const cp_buf_t *js, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":[", name);
    const char *s = js->data ? strstr((const char *)js->data, key) : NULL;
    if (!s)
        return -1;
    s += strlen(key);
    double sum = 0;
    while (*s == '[') {
        const char *comma = strchr(s, ',');
        if (!comma)
            break;
        char *e;
        sum += strtod(comma + 1, &e);
        s = *e == ']' ? e + 1 : e;
        if (*s == ',')
            s++;
    }
    return sum;
}

/* GC pause and lock wait nanoseconds of a side's whole range, from two
 * one-step timelines (series only, then the lock type's total). */
static void run_figures(cp_store_reader_t *rd, const cp_store_query_t *q, side_t *sd)
{
    cp_store_query_t t = *q;
    int64_t step = q->to_ms - q->from_ms;
    uint64_t pt = 0;
    cp_buf_t series = CP_BUF_INIT;
    char err[160];
    sd->gc_ns = sd->lock_ns = -1;
    t.type = NULL;
    if (cp_store_timeline(rd, &t, step, &pt, 1, &series, err, sizeof err) == 0 && cp_buf_append(&series, "", 1) == 0)
        sd->gc_ns = series_sum(&series, "gc.pause_ns");
    cp_buf_reset(&series);
    t.type = "lock";
    pt = 0;
    if (cp_store_timeline(rd, &t, step, &pt, 1, &series, err, sizeof err) == 0)
        sd->lock_ns = (double)pt;
    cp_buf_fini(&series);
}

/* ---- writing ---- */

static void put_num(cp_buf_t *o, double v)
{
    if (isfinite(v))
        cp_buf_printf(o, "%.6g", v);
    else
        cp_buf_printf(o, "null");
}

static const char *plural(uint32_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void write_side(cp_buf_t *o, const char *name, const side_t *sd, const cp_diffstat_side_t *st)
{
    cp_buf_printf(o, "\"%s\":{\"windows\":%u,\"instances\":%zu,\"skipped_warmup\":%u,\"kept_warmup\":%u,"
                     "\"aggregates\":%u,\"samples\":%.0f,\"seconds\":%.3f}",
                  name, st->windows, sd->instances.n, sd->skipped_warmup, sd->kept_warmup, sd->aggregates,
                  st->samples, st->seconds);
    /* shares of the instances' time in range (every window, warm-up too) */
    o->len--;
    cp_buf_printf(o, ",\"gc_pause_share\":");
    put_num(o, sd->gc_ns >= 0 && sd->all_seconds > 0 ? sd->gc_ns / 1e9 / sd->all_seconds : NAN);
    cp_buf_printf(o, ",\"lock_wait_share\":");
    put_num(o, sd->lock_ns >= 0 && sd->all_seconds > 0 ? sd->lock_ns / 1e9 / sd->all_seconds : NAN);
    cp_buf_printf(o, "}");
}

typedef struct order { const cp_diffstat_method_t *m; uint32_t i; int rank; } order_t;

static int cmp_order(const void *x, const void *y)
{
    const order_t *a = x, *b = y;
    if (a->rank != b->rank)
        return a->rank > b->rank ? -1 : 1;
    double da = fabs(a->m->delta), db = fabs(b->m->delta);
    if (da != db)
        return da > db ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void write_stats(cp_buf_t *o, const cp_diff_api_params_t *prm, const keys_t *keys, const side_t sd[2],
                        const cp_diffstat_result_t *r, const cp_profile_t *merged)
{
    char thr[32];
    cp_diff_threshold_format(&prm->opts.threshold, thr, sizeof thr);
    cp_buf_printf(o, ",\"stats\":{\"normalize\":\"%s\",\"threshold\":\"%s\",\"q_level\":",
                  cp_diff_norm_name(prm->opts.norm), thr);
    put_num(o, prm->opts.q);
    cp_buf_printf(o, ",\"warmup\":%.3f,\"min_samples\":%.0f,\"verdict\":\"%s\",\"tested\":%u,"
                     "\"regressions\":%u,\"improvements\":%u,\"unchanged\":%u,\"failing\":%u,\"inconclusive\":%u,",
                  (double)prm->warmup_ms / 1000, prm->opts.min_samples, cp_diff_verdict_name(r->verdict), r->tested,
                  r->rises, r->falls, r->unchanged, r->regressions, r->inconclusive);
    char sum[200];
    snprintf(sum, sizeof sum, "%u significant %s, %u %s, %u %s unchanged", r->rises,
             plural(r->rises, "regression", "regressions"), r->falls, plural(r->falls, "improvement", "improvements"),
             r->unchanged, plural(r->unchanged, "method", "methods"));
    cp_buf_printf(o, "\"summary\":");
    cp_buf_json_str(o, sum, strlen(sum));
    cp_buf_printf(o, ",");
    write_side(o, "base", &sd[0], &r->side[0]);
    cp_buf_printf(o, ",");
    write_side(o, "cmp", &sd[1], &r->side[1]);
    cp_buf_printf(o, ",\"total\":{\"unit\":\"per_second\",\"base\":");
    put_num(o, r->total.base);
    cp_buf_printf(o, ",\"cmp\":");
    put_num(o, r->total.cmp);
    cp_buf_printf(o, ",\"delta\":");
    put_num(o, r->total.delta);
    cp_buf_printf(o, ",\"ci95\":[");
    put_num(o, r->total.lo);
    cp_buf_printf(o, ",");
    put_num(o, r->total.hi);
    cp_buf_printf(o, "],\"p\":");
    put_num(o, r->total.p);
    cp_buf_printf(o, "}}");

    /* methods: every flagged one (significant, REGRESSION, INCONCLUSIVE),
     * then the biggest changes up to limit */
    order_t *ord = cp__xcalloc(r->n, sizeof *ord);
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        const cp_diffstat_method_t *m = &r->m[i];
        if (!(m->base_samples > 0 || m->cmp_samples > 0))
            continue;
        int rank = m->verdict == CP_DIFF_REGRESSION ? 4 : m->verdict == CP_DIFF_INCONCLUSIVE ? 3 : m->change ? 2 : 0;
        ord[n++] = (order_t){m, i, rank};
    }
    qsort(ord, n, sizeof *ord, cmp_order);
    /* the merged names of each key, for the UI (indices into "names") */
    uint32_t nk = keys->n;   /* a side without windows left its names unkeyed: new keys are skipped */
    uint32_t *first = cp__xcalloc(nk, sizeof *first), *next = cp__xcalloc(merged->n_names, sizeof *next);
    for (uint32_t i = merged->n_names; i-- > 0;) {
        uint32_t k = key_of((keys_t *)keys, merged->names[i]);
        if (k < nk) {
            next[i] = first[k];
            first[k] = i + 1;
        }
    }
    cp_buf_printf(o, ",\"methods\":[");
    uint32_t listed = 0, plain = 0;
    for (uint32_t j = 0; j < n; j++) {
        const cp_diffstat_method_t *m = ord[j].m;
        if (!ord[j].rank && plain++ >= prm->limit)
            break;
        const char *name = keys->text[ord[j].i];
        cp_buf_printf(o, "%s{\"name\":", listed++ ? "," : "");
        cp_buf_json_str(o, name, strlen(name));
        cp_buf_printf(o, ",\"frames\":[");
        bool firstf = true;
        for (uint32_t f = ord[j].i < nk ? first[ord[j].i] : 0; f; f = next[f - 1]) {
            cp_buf_printf(o, "%s%u", firstf ? "" : ",", f);   /* names[0] is <root>: name i is i + 1 */
            firstf = false;
        }
        cp_buf_printf(o, "],\"base\":");
        put_num(o, m->base);
        cp_buf_printf(o, ",\"cmp\":");
        put_num(o, m->cmp);
        cp_buf_printf(o, ",\"delta\":");
        put_num(o, m->delta);
        cp_buf_printf(o, ",\"ci95\":[");
        put_num(o, m->lo);
        cp_buf_printf(o, ",");
        put_num(o, m->hi);
        cp_buf_printf(o, "],\"p\":");
        put_num(o, m->p);
        cp_buf_printf(o, ",\"q\":");
        put_num(o, m->q);
        cp_buf_printf(o, ",\"base_samples\":%.0f,\"cmp_samples\":%.0f,\"tested\":%s,\"bootstrap\":%s,"
                         "\"change\":\"%s\",\"verdict\":\"%s\",\"more_data\":",
                      m->base_samples, m->cmp_samples, m->tested ? "true" : "false", m->bootstrap ? "true" : "false",
                      m->change > 0 ? "rise" : m->change < 0 ? "fall" : "none", cp_diff_verdict_name(m->verdict));
        if (m->verdict == CP_DIFF_INCONCLUSIVE)
            put_num(o, m->more_data);
        else
            cp_buf_printf(o, "null");
        cp_buf_printf(o, "}");
    }
    cp_buf_printf(o, "]");
    free(first);
    free(next);
    free(ord);
}

/* ---- the request ---- */

int cp_diff_api_run(cp_store_reader_t *rd, const cp_store_query_t *base, const cp_store_query_t *cmp,
                    const cp_diff_api_params_t *prm, cp_buf_t *out, char *err, size_t errlen)
{
    const cp_store_query_t *q[2] = {base, cmp};
    cp_profile_t p[2];
    memset(p, 0, sizeof p);
    keys_t keys = {0};
    firsts_t firsts = {0};
    side_t sd[2];
    memset(sd, 0, sizeof sd);
    cp_diffstat_t *ds = prm->stats ? cp_diffstat_create(0) : NULL;
    int rc = 0;
    if (prm->stats)
        firsts_load(rd, base->app, &firsts);
    for (int s = 0; s < 2 && !rc; s++) {
        if (!prm->stats) {
            rc = cp_store_profile(rd, q[s], &p[s], err, errlen);
            continue;
        }
        sd[s] = (side_t){.side = s, .keys = &keys, .ds = ds, .firsts = &firsts,
                         .warmup_ms = prm->warmup_ms};
        walk_t wk = {&sd[s], &p[s]};
        /* raw windows while a side holds few enough of them (an instance
         * flushes every 10 s by default), else the minute/hour rows */
        double est = (double)(firsts.n ? firsts.n : 1) * (double)(q[s]->to_ms - q[s]->from_ms) / 10000.0;
        unsigned flags = est <= prm->raw_max_windows ? CP_STORE_WINDOWS_RAW : 0;
        rc = cp_store_profile_windows(rd, q[s], flags, &p[s], on_window, &wk, err, errlen);
        if (!rc)
            run_figures(rd, q[s], &sd[s]);
    }
    cp_diffstat_result_t res;
    memset(&res, 0, sizeof res);
    if (!rc && prm->stats)
        rc = cp_diffstat_compute(ds, &prm->opts, &res);
    if (rc == CP_EINVAL)
        snprintf(err, errlen, "the statistics' options do not fit together");
    if (!rc) {
        cp_tree_t t;
        cp_tree_build(&p[0], &p[1], &t);
        cp_buf_t doc = CP_BUF_INIT;
        rc = cp_profile_write_diff(&p[0], &p[1], &t, &doc);
        if (!rc && prm->stats && doc.len && doc.data[doc.len - 1] == '}') {
            doc.len--;   /* reopen the document to add the statistics */
            write_stats(&doc, prm, &keys, sd, &res, &p[0]);
            cp_buf_printf(&doc, "}");
        }
        if (!rc)
            rc = cp_buf_append(out, doc.data, doc.len);
        cp_buf_fini(&doc);
        cp_tree_free(&t);
    }
    cp_diffstat_result_free(&res);
    for (int s = 0; s < 2; s++) {
        side_fini(&sd[s]);
        cp_profile_free(&p[s]);
    }
    cp_diffstat_destroy(ds);
    cp__hmap_free(&firsts.idx);
    free(firsts.seen);
    keys_free(&keys);
    return rc;
}
