/* diff_report.c - the diff's statistics as text, Markdown and JUnit XML
 * (contract in diff_report.h).
 *
 * Every format lists the same rows: the methods the relay flagged
 * (REGRESSION, INCONCLUSIVE, significant changes) and then up to `limit`
 * more by size of change, each with its change in share points (or
 * percent for per-second), the 95% interval, q and the verdict. Markdown
 * says the verdict first, so a pull-request comment reads at a glance;
 * JUnit has one test case per listed method (REGRESSION is a failure,
 * INCONCLUSIVE is skipped with the reason) plus one for the gate.
 * Thread: main only. */
#include "diff_report.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

const char *cp_diff_report_verdict(const cp_json_t *d)
{
    return cp_json_str(cp_json_get(d, "stats"), "verdict");
}

static bool is_null(const cp_json_t *o, const char *k)
{
    const cp_json_t *v = cp_json_get(o, k);
    return !v || v->t == CP_JSON_NULL;
}

static double ci(const cp_json_t *m, size_t i)
{
    const cp_json_t *c = cp_json_get(m, "ci95");
    return c && c->n > i && c->kids[i].t == CP_JSON_NUM ? c->kids[i].num : NAN;
}

/* A value of the chosen normalisation: share points, or a relative change. */
typedef struct row {
    const cp_json_t *m;
    const char *name, *verdict, *change;
    char delta[32], interval[48], base[24], cmp[24], q[16], extra[48];
} row_t;

static void fill(row_t *r, const cp_json_t *m, bool share)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->name = cp_json_str(m, "name");
    r->verdict = cp_json_str(m, "verdict");
    r->change = cp_json_str(m, "change");
    double b = cp_json_num(m, "base"), c = cp_json_num(m, "cmp"), d = cp_json_num(m, "delta");
    if (share) {
        snprintf(r->delta, sizeof r->delta, "%+.2fpp", 100 * d);
        snprintf(r->interval, sizeof r->interval, "[%+.2f, %+.2f]", 100 * ci(m, 0), 100 * ci(m, 1));
        snprintf(r->base, sizeof r->base, "%.2f%%", 100 * b);
        snprintf(r->cmp, sizeof r->cmp, "%.2f%%", 100 * c);
    } else {
        double rel = b > 0 ? 100 * d / b : INFINITY;
        snprintf(r->delta, sizeof r->delta, isfinite(rel) ? "%+.1f%%" : "new", rel);
        if (b > 0)
            snprintf(r->interval, sizeof r->interval, "[%+.1f%%, %+.1f%%]", 100 * ci(m, 0) / b, 100 * ci(m, 1) / b);
        else
            snprintf(r->interval, sizeof r->interval, "-");
        snprintf(r->base, sizeof r->base, "%.4g/s", b);
        snprintf(r->cmp, sizeof r->cmp, "%.4g/s", c);
    }
    if (is_null(m, "q"))
        snprintf(r->q, sizeof r->q, "-");
    else
        snprintf(r->q, sizeof r->q, "%.2g", cp_json_num(m, "q"));
    if (!strcmp(r->verdict, "INCONCLUSIVE") && !is_null(m, "more_data"))
        snprintf(r->extra, sizeof r->extra, "needs ~%.1fx the data", cp_json_num(m, "more_data"));
    else if (!cp_json_get(m, "tested") || !cp_json_get(m, "tested")->num)
        snprintf(r->extra, sizeof r->extra, "too few samples to test");
}

/* The rows to show: the flagged ones, then up to limit more. */
static size_t rows(const cp_json_t *d, long limit, const cp_json_t **out, size_t cap)
{
    const cp_json_t *ms = cp_json_get(d, "methods");
    size_t n = 0;
    long plain = 0;
    for (size_t i = 0; ms && i < ms->n && n < cap; i++) {
        const cp_json_t *m = &ms->kids[i];
        bool flagged = strcmp(cp_json_str(m, "verdict"), "PASS") || strcmp(cp_json_str(m, "change"), "none");
        if (!flagged && plain++ >= limit)
            break;
        out[n++] = m;
    }
    return n;
}

static void xml_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* Markdown table cells: a '|' would end the cell, a backtick the code span */
static void md_code(FILE *f, const char *s)
{
    fputc('`', f);
    for (; *s; s++)
        fputc(*s == '`' ? '\'' : *s == '|' ? '/' : *s, f);
    fputc('`', f);
}

/* "GC pauses 0.05% -> 0.20% of the time; lock waits ..." or "" */
static void run_line(const cp_json_t *st, char *buf, size_t cap)
{
    static const char *const keys[] = {"gc_pause_share", "lock_wait_share"}, *const what[] = {"GC pauses", "lock waits"};
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < 2; i++) {
        const cp_json_t *b = cp_json_get(cp_json_get(st, "base"), keys[i]);
        const cp_json_t *c = cp_json_get(cp_json_get(st, "cmp"), keys[i]);
        if (!b || !c || b->t != CP_JSON_NUM || c->t != CP_JSON_NUM || n >= cap)
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s %.3g%% -> %.3g%% of the time", n ? "; " : "", what[i],
                              100 * b->num, 100 * c->num);
    }
}

int cp_diff_report_write(const cp_diff_report_t *r, const cp_json_t *d, cp_diff_fmt_t fmt, FILE *f)
{
    const cp_json_t *st = cp_json_get(d, "stats");
    if (!st)
        return -1;
    bool share = !strcmp(cp_json_str(st, "normalize"), "share");
    const char *verdict = cp_json_str(st, "verdict");
    const char *gate = r->gate ? r->gate : cp_json_str(st, "threshold");
    const cp_json_t *list[4096];
    size_t n = rows(d, r->limit, list, sizeof list / sizeof list[0]);
    const char *summary = cp_json_str(st, "summary");
    double q = cp_json_num(st, "q_level");

    char run[200];
    run_line(st, run, sizeof run);
    if (fmt == CP_DIFF_FMT_TEXT) {
        fprintf(f, "%s of app '%s'\nbase:     %s\ncompared: %s\n", r->type, r->app, r->base_range, r->cmp_range);
        if (*run)
            fprintf(f, "%s\n", run);
        fprintf(f, "%s (threshold %s, q %.3g, %s): %s\n", verdict, gate, q, share ? "share of total" : "per second",
                summary);
        fprintf(f, "%-12s %10s %20s %9s %9s %7s  %s\n", "verdict", "change", "95% interval", "base", "cmp", "q",
                "method");
        for (size_t i = 0; i < n; i++) {
            row_t w;
            fill(&w, list[i], share);
            fprintf(f, "%-12s %10s %20s %9s %9s %7s  %s%s%s%s\n", w.verdict, w.delta, w.interval, w.base, w.cmp, w.q,
                    w.name, w.extra[0] ? " (" : "", w.extra, w.extra[0] ? ")" : "");
        }
        return 0;
    }
    if (fmt == CP_DIFF_FMT_MD) {
        const char *icon = !strcmp(verdict, "PASS") ? "✅" : !strcmp(verdict, "REGRESSION") ? "❌" : "⚠️";
        fprintf(f, "### %s cprof diff: **%s** (`%s`, app `%s`)\n\n", icon, verdict, r->type, r->app);
        fprintf(f, "%s. Gate: a method's %s grows by %s or more with q ≤ %.3g.\n\n", summary,
                share ? "share of the profile" : "value per second", gate, q);
        fprintf(f, "- base: %s\n- compared: %s\n%s%s%s\n", r->base_range, r->cmp_range, *run ? "- " : "", run,
                *run ? "\n" : "");
        if (n) {
            fprintf(f, "| verdict | method | change | 95%% interval | base | compared | q |\n"
                       "|---|---|--:|--:|--:|--:|--:|\n");
            for (size_t i = 0; i < n; i++) {
                row_t w;
                fill(&w, list[i], share);
                fprintf(f, "| %s | ", w.verdict);
                md_code(f, w.name);
                fprintf(f, "%s%s%s | %s | %s | %s | %s | %s |\n", w.extra[0] ? " (" : "", w.extra,
                        w.extra[0] ? ")" : "", w.delta, w.interval, w.base, w.cmp, w.q);
            }
        }
        fprintf(f, "\n<sub>Statistics: docs/diff.md (windows of one flush per instance, cluster-robust "
                   "variance, Benjamini–Hochberg).</sub>\n");
        return 0;
    }
    /* JUnit */
    size_t failures = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = cp_json_str(list[i], "verdict");
        failures += !strcmp(v, "REGRESSION");
        skipped += !strcmp(v, "INCONCLUSIVE");
    }
    bool gate_fail = r->fails;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
               "<testsuite name=\"cprof diff ");
    xml_str(f, r->app);
    fprintf(f, " %s\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n", r->type, n + 1,
            failures + gate_fail, skipped);
    fprintf(f, "  <testcase classname=\"cprof.diff\" name=\"gate %s\">", gate);
    if (gate_fail) {
        fprintf(f, "<failure message=\"%s: ", verdict);
        xml_str(f, summary);
        fprintf(f, "\"/>");
    }
    fprintf(f, "</testcase>\n");
    for (size_t i = 0; i < n; i++) {
        row_t w;
        fill(&w, list[i], share);
        fprintf(f, "  <testcase classname=\"cprof.diff.method\" name=\"");
        xml_str(f, w.name);
        fprintf(f, "\">");
        char msg[256];
        snprintf(msg, sizeof msg, "%s %s, 95%% interval %s, base %s, compared %s, q %s%s%s", w.verdict, w.delta,
                 w.interval, w.base, w.cmp, w.q, w.extra[0] ? "; " : "", w.extra);
        if (!strcmp(w.verdict, "REGRESSION")) {
            fprintf(f, "<failure message=\"");
            xml_str(f, msg);
            fprintf(f, "\"/>");
        } else if (!strcmp(w.verdict, "INCONCLUSIVE")) {
            fprintf(f, "<skipped message=\"");
            xml_str(f, msg);
            fprintf(f, "\"/>");
        } else {
            fprintf(f, "<system-out>");
            xml_str(f, msg);
            fprintf(f, "</system-out>");
        }
        fprintf(f, "</testcase>\n");
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
    return 0;
}
