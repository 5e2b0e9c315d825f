/* insights.c - `cprof insights`: what the relay's rules found in an app's
 * profiles (GET /api/v1/insights, docs/insights.md), in a terminal, as JSON
 * for scripts, or as Markdown for a pull-request comment; its exit code
 * makes it a CI gate.
 *
 *   cprof insights --relay ADDR --app A [--type T] [--from F --to T]
 *                  [--labels k=v,...] [--format text|json|md] [--token T]
 *
 * Exit codes differ from query/diff on purpose (a gate reads one bit):
 *   0  no WARN finding (INFO findings may be printed)
 *   1  at least one WARN finding
 *   2  no verdict: wrong command line, relay unreachable or refusing, an
 *      unknown app, labels no instance has, a range without samples; the
 *      reason is said on stderr (explain.h's sentences) and stdout stays
 *      empty.
 * text: a header, then one block per finding in the relay's order (by
 * estimated saving): severity, rule, title, share +- half the 95% CI,
 * samples, top caller, saving, fix. md: a table of the findings and a
 * folded details section per finding (callers, worst window, instances,
 * example stack, fix). json: the relay's answer as it came.
 * Thread: main only. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "explain.h"
#include "human.h"
#include "json.h"
#include "relay_args.h"

#define EXIT_CLEAN 0   /* no WARN finding */
#define EXIT_WARN  1   /* at least one WARN finding */
#define EXIT_ERROR 2   /* no verdict (said on stderr) */

typedef enum { FMT_TEXT, FMT_JSON, FMT_MD } fmt_t;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof insights --app APP [--relay ADDR] [OPTIONS]\n"
        "Prints what the relay's rules found in the app's profiles: each finding with its\n"
        "severity (INFO or WARN), share of the profile with a 95%% confidence interval,\n"
        "top caller, estimated saving and fix, ordered by saving (docs/insights.md).\n\n"
        CP_RELAY_ARGS_HELP_WHERE
        "  --type T           only this profile type (cpu, wall, alloc, lock, ...;\n"
        "                     default: every type with data)\n"
        CP_RELAY_ARGS_HELP_ACCESS
        "  --from T --to T    time range (default now-15m .. now)\n"
        "  --labels k=v,...   only instances with these labels\n"
        "  --format F         text (default), json (the relay's answer) or md (Markdown:\n"
        "                     a table and details, for a pull-request comment)\n\n"
        CP_RELAY_ARGS_TIME_HELP "\n"
        "Exit codes: 0 no WARN finding, 1 at least one WARN finding, 2 no verdict (wrong\n"
        "command line, relay unreachable or refusing, unknown app, labels no instance has,\n"
        "no samples in the range: stderr says why, stdout stays empty).\n");
}

/* ---------------- reading the answer ---------------- */

static bool is_warn(const cp_json_t *f)
{
    const char *s = cp_json_str(f, "severity");
    return !strcmp(s, "WARN") || !strcmp(s, "warn");
}

static size_t count_warn(const cp_json_t *fs)
{
    size_t n = 0;
    for (size_t i = 0; fs && i < fs->n; i++)
        n += is_warn(&fs->kids[i]);
    return n;
}

static size_t len_of(const cp_json_t *a)
{
    return a && a->t == CP_JSON_ARR ? a->n : 0;
}

/* Member k of o when it is an object; NULL when missing or null. */
static const cp_json_t *obj(const cp_json_t *o, const char *k)
{
    const cp_json_t *v = cp_json_get(o, k);
    return v && v->t == CP_JSON_OBJ ? v : NULL;
}

/* Profile findings match frames and are judged by their share; series and
 * quality findings by a measurement, said in "detail" (docs/api.md). */
static bool matches_frames(const cp_json_t *f)
{
    return len_of(cp_json_get(f, "frames")) > 0;
}

/* Samples of every type in the answer; 0 when the range held none. */
static double all_samples(const cp_json_t *v)
{
    const cp_json_t *types = cp_json_get(v, "types");
    double n = 0;
    for (size_t i = 0; types && types->t == CP_JSON_OBJ && i < types->n; i++)
        n += cp_json_num(&types->kids[i], "samples");
    return n;
}

/* "14.2%" with a precision that suits the size. */
static char *pct(double frac, char *out, size_t n)
{
    double p = 100 * frac;
    if (p != 0 && p < 0.1)
        snprintf(out, n, "<0.1%%");
    else
        snprintf(out, n, p < 10 ? "%.2f%%" : "%.1f%%", p);
    return out;
}

/* "14.2% +- 0.7" (half the CI's width, in points) or just the share. */
static char *share_pm(const cp_json_t *f, const char *pm, char *out, size_t n)
{
    char s[32];
    const cp_json_t *ci = cp_json_get(f, "ci95");
    pct(cp_json_num(f, "share"), s, sizeof s);
    if (len_of(ci) == 2 && ci->kids[0].t == CP_JSON_NUM && ci->kids[1].t == CP_JSON_NUM) {
        double half = 100 * (ci->kids[1].num - ci->kids[0].num) / 2;
        snprintf(out, n, half < 1 ? "%s %s %.2f" : "%s %s %.1f", s, pm, half);
    }
    else
        snprintf(out, n, "%s", s);
    return out;
}

/* "95% CI 13.5% .. 14.9%" (without "95% CI " when bare) or "". */
static char *ci_text(const cp_json_t *f, bool bare, char *out, size_t n)
{
    const cp_json_t *ci = cp_json_get(f, "ci95");
    char a[16], b[16];
    if (len_of(ci) == 2)
        snprintf(out, n, "%s%s .. %s", bare ? "" : "95% CI ", pct(ci->kids[0].num, a, sizeof a), pct(ci->kids[1].num, b, sizeof b));
    else
        *out = 0;
    return out;
}

static const char *saving_text(const cp_json_t *f, char *out, size_t n)
{
    const cp_json_t *s = obj(f, "saving");
    if (!s)
        return "";     /* profile-quality: "" */
    const char *t = cp_json_str(s, "text");
    if (*t)
        return t;
    snprintf(out, n, "%.3g %s", cp_json_num(s, "value"), cp_json_str(s, "unit"));
    return out;
}

/* The range as the relay judged it (its from/to, unix seconds). */
static char *range_text(const cp_json_t *v, char *out, size_t n)
{
    return cp_human_range((int64_t)(cp_json_num(v, "from") * 1000), (int64_t)(cp_json_num(v, "to") * 1000), out, n);
}

/* "cpu 12.3 k samples, alloc 0 samples" */
static void types_text(const cp_json_t *v, cp_buf_t *out)
{
    const cp_json_t *types = cp_json_get(v, "types");
    for (size_t i = 0; types && types->t == CP_JSON_OBJ && i < types->n; i++) {
        char c[32];
        cp_buf_printf(out, "%s%s %s samples", i ? ", " : "", types->kids[i].key,
                      cp_human_value(cp_json_num(&types->kids[i], "samples"), CP_UNIT_COUNT, c, sizeof c));
    }
    cp_buf_append(out, "", 1);
}

/* ---------------- text ---------------- */

static void text_finding(const cp_json_t *f, FILE *o)
{
    char sh[64], ci[64], sv[64], n[32];
    fprintf(o, "%-4s  %s  %s  [%s]\n", is_warn(f) ? "WARN" : "INFO", cp_json_str(f, "rule"), cp_json_str(f, "title"),
            cp_json_str(f, "type"));
    if (matches_frames(f))
        fprintf(o, "      share    %s points (%s), %s samples\n", share_pm(f, "+-", sh, sizeof sh),
                ci_text(f, false, ci, sizeof ci), cp_human_value(cp_json_num(f, "samples"), CP_UNIT_COUNT, n, sizeof n));
    if (*cp_json_str(f, "detail"))
        fprintf(o, "      measured %s\n", cp_json_str(f, "detail"));
    const cp_json_t *callers = cp_json_get(f, "callers");
    if (len_of(callers)) {
        const cp_json_t *c = &callers->kids[0];
        char p[32];
        fprintf(o, "      caller   %s (%s, %s samples)\n", cp_json_str(c, "name"), pct(cp_json_num(c, "share"), p, sizeof p),
                cp_human_value(cp_json_num(c, "samples"), CP_UNIT_COUNT, n, sizeof n));
    }
    const cp_json_t *in = obj(f, "instances");
    if (in)
        fprintf(o, "      seen on  %.0f of %.0f instances\n", cp_json_num(in, "with"), cp_json_num(in, "of"));
    const char *s = saving_text(f, sv, sizeof sv);
    if (*s)
        fprintf(o, "      saving   %s\n", s);
    if (*cp_json_str(f, "fix"))
        fprintf(o, "      fix      %s\n", cp_json_str(f, "fix"));
}

static void print_text(const cp_relay_args_t *a, const char *labels, const cp_json_t *v, FILE *o)
{
    const cp_json_t *fs = cp_json_get(v, "findings"), *ned = cp_json_get(v, "not_enough_data");
    size_t warn = count_warn(fs), nf = len_of(fs);
    char r[128];
    cp_buf_t types = CP_BUF_INIT;
    types_text(v, &types);
    fprintf(o, "insights for app '%s', %s%s%s: %zu WARN, %zu INFO\n", a->ctx.app, range_text(v, r, sizeof r),
            labels ? ", labels " : "", labels ? labels : "", warn, nf - warn);
    fprintf(o, "checked: %s\n", (const char *)types.data);
    cp_buf_fini(&types);
    if (!nf)
        fprintf(o, "\nno findings: no rule passed its threshold\n");
    for (size_t i = 0; i < nf; i++) {
        fputc('\n', o);
        text_finding(&fs->kids[i], o);
    }
    if (len_of(ned)) {
        fprintf(o, "\nnot enough data (a finding needs the samples named):");
        for (size_t i = 0; i < ned->n; i++) {
            const cp_json_t *x = &ned->kids[i];
            fprintf(o, "%s %s (%s: %.0f of %.0f)", i ? ";" : "", cp_json_str(x, "rule"), cp_json_str(x, "type"),
                    cp_json_num(x, "samples"), cp_json_num(x, "needed"));
        }
        fputc('\n', o);
    }
}

/* ---------------- Markdown ---------------- */

/* s inside a table cell's code span: '|' escaped, newlines flattened. */
static void md_cell(const char *s, FILE *o)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", o);
        else
            fputc(*s == '\n' ? ' ' : *s, o);
    }
}

/* s as text inside HTML (a <summary>). */
static void md_html(const char *s, FILE *o)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", o);
        else if (*s == '>')
            fputs("&gt;", o);
        else if (*s == '&')
            fputs("&amp;", o);
        else
            fputc(*s == '\n' ? ' ' : *s, o);
    }
}

/* s as a code span: backticks in s need a longer fence. */
static void md_code(const char *s, FILE *o)
{
    const char *fence = strchr(s, '`') ? "`` " : "`";
    const char *end = strchr(s, '`') ? " ``" : "`";
    fputs(fence, o);
    md_cell(s, o);
    fputs(end, o);
}

static void md_finding(const cp_json_t *f, FILE *o)
{
    char ci[64], sv[64], n[32], p[32], r[128];
    fprintf(o, "<details><summary><b>%s %s</b>: ", is_warn(f) ? "WARN" : "INFO", cp_json_str(f, "rule"));
    md_html(cp_json_str(f, "title"), o);
    fprintf(o, " (%s)</summary>\n\n", cp_json_str(f, "type"));
    if (matches_frames(f))
        fprintf(o, "- **Share:** %s of %s (%s), %s samples\n", pct(cp_json_num(f, "share"), p, sizeof p),
                cp_json_str(f, "type"), ci_text(f, false, ci, sizeof ci),
                cp_human_value(cp_json_num(f, "samples"), CP_UNIT_COUNT, n, sizeof n));
    if (*cp_json_str(f, "detail")) {
        fputs("- **Measured:** ", o);
        md_cell(cp_json_str(f, "detail"), o);
        fputc('\n', o);
    }
    const cp_json_t *fr = cp_json_get(f, "frames");
    if (len_of(fr)) {
        fputs("- **Matched frames:** ", o);
        for (size_t i = 0; i < fr->n; i++) {
            fputs(i ? ", " : "", o);
            md_code(fr->kids[i].t == CP_JSON_STR ? fr->kids[i].str : "", o);
        }
        fputc('\n', o);
    }
    const cp_json_t *callers = cp_json_get(f, "callers");
    if (len_of(callers)) {
        fputs("- **Callers:**\n", o);
        for (size_t i = 0; i < callers->n; i++) {
            const cp_json_t *c = &callers->kids[i];
            fputs("  - ", o);
            md_code(cp_json_str(c, "name"), o);
            fprintf(o, " %s, %s samples\n", pct(cp_json_num(c, "share"), p, sizeof p),
                    cp_human_value(cp_json_num(c, "samples"), CP_UNIT_COUNT, n, sizeof n));
        }
    }
    const cp_json_t *w = obj(f, "worst_window");
    if (w)
        fprintf(o, "- **Worst window:** %s: %s\n",
                cp_human_range((int64_t)(cp_json_num(w, "from") * 1000), (int64_t)(cp_json_num(w, "to") * 1000), r,
                               sizeof r), pct(cp_json_num(w, "share"), p, sizeof p));
    const cp_json_t *in = obj(f, "instances");
    if (in)
        fprintf(o, "- **Instances:** %.0f of %.0f show it\n", cp_json_num(in, "with"), cp_json_num(in, "of"));
    const char *s = saving_text(f, sv, sizeof sv);
    if (*s)
        fprintf(o, "- **Saving:** %s\n", s);
    if (*cp_json_str(f, "fix"))
        fprintf(o, "- **Fix:** %s\n", cp_json_str(f, "fix"));
    const cp_json_t *st = cp_json_get(f, "stack");
    if (len_of(st)) {
        fputs("- **Example stack** (root first):\n\n  ```\n", o);
        for (size_t i = 0; i < st->n; i++)
            fprintf(o, "  %s\n", st->kids[i].t == CP_JSON_STR ? st->kids[i].str : "");
        fputs("  ```\n", o);
    }
    fputs("\n</details>\n\n", o);
}

static void print_md(const cp_relay_args_t *a, const char *labels, const cp_json_t *v, FILE *o)
{
    const cp_json_t *fs = cp_json_get(v, "findings"), *ned = cp_json_get(v, "not_enough_data");
    size_t warn = count_warn(fs), nf = len_of(fs);
    char r[128];
    cp_buf_t types = CP_BUF_INIT;
    types_text(v, &types);
    fprintf(o, "### cprof insights: `%s`: %zu WARN, %zu INFO\n\n", a->ctx.app, warn, nf - warn);
    fprintf(o, "%s%s%s%s; checked %s.\n\n", range_text(v, r, sizeof r), labels ? ", labels `" : "",
            labels ? labels : "", labels ? "`" : "", (const char *)types.data);
    cp_buf_fini(&types);
    if (!nf) {
        fputs("No findings: no rule passed its threshold.\n", o);
    } else {
        fputs("| Severity | Rule | Type | Share (95% CI) | Samples | Top caller | Saving |\n"
              "|---|---|---|---|---|---|---|\n", o);
        for (size_t i = 0; i < nf; i++) {
            const cp_json_t *f = &fs->kids[i], *callers = cp_json_get(f, "callers");
            char p[32], ci[64], n[32], sv[64];
            fprintf(o, "| %s | `%s` | %s | ", is_warn(f) ? "**WARN**" : "INFO", cp_json_str(f, "rule"),
                    cp_json_str(f, "type"));
            if (matches_frames(f))
                fprintf(o, "%s (%s) | %s | ", pct(cp_json_num(f, "share"), p, sizeof p), ci_text(f, true, ci, sizeof ci),
                        cp_human_value(cp_json_num(f, "samples"), CP_UNIT_COUNT, n, sizeof n));
            else
                fputs("– | – | ", o);
            if (len_of(callers))
                md_code(cp_json_str(&callers->kids[0], "name"), o);
            else
                fputs("–", o);
            fputs(" | ", o);
            const char *save = saving_text(f, sv, sizeof sv);
            md_cell(*save ? save : "–", o);
            fputs(" |\n", o);
        }
        fputc('\n', o);
        for (size_t i = 0; i < nf; i++)
            md_finding(&fs->kids[i], o);
    }
    if (len_of(ned)) {
        fputs("Not enough data to judge:", o);
        for (size_t i = 0; i < ned->n; i++) {
            const cp_json_t *x = &ned->kids[i];
            fprintf(o, "%s `%s` (%s: %.0f of %.0f samples)", i ? ";" : "", cp_json_str(x, "rule"),
                    cp_json_str(x, "type"), cp_json_num(x, "samples"), cp_json_num(x, "needed"));
        }
        fputs(".\n", o);
    }
}

/* ---------------- the command ---------------- */

int cp_cmd_insights(int argc, char **argv)
{
    cp_relay_args_t a;
    cp_relay_args_init(&a, "insights");
    const char *from = NULL, *to = NULL, *labels = NULL;
    fmt_t fmt = FMT_TEXT;
    static const struct option opts[] = {
        CP_RELAY_ARGS_LONGOPTS,
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 'T'},
        {"labels", required_argument, 0, 'l'}, {"format", required_argument, 0, 'F'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (cp_relay_args_option(&a, o, optarg))
            continue;
        switch (o) {
        case 'f': from = optarg; break;
        case 'T': to = optarg; break;
        case 'l': labels = *optarg ? optarg : NULL; break;
        case 'F':
            if (!strcmp(optarg, "text"))
                fmt = FMT_TEXT;
            else if (!strcmp(optarg, "json"))
                fmt = FMT_JSON;
            else if (!strcmp(optarg, "md") || !strcmp(optarg, "markdown"))
                fmt = FMT_MD;
            else
                return cp_cli_usage_error("insights", usage, "--format '%s' is not a format: text, json or md",
                                          optarg);
            break;
        case 'h': usage(stdout); return CP_EXIT_OK;
        default: return cp_cli_getopt_error("insights", usage, o, argv);
        }
    }
    if (cp_relay_args_finish(&a, usage, argc, argv))
        return EXIT_ERROR;
    if (!a.type_given)
        a.ctx.type = "any type";    /* for explain.h's sentences */
    cp_relay_time_t tf, tt;
    if (cp_relay_args_range("insights", usage, "--from", from, "--to", to, &tf, &tt))
        return EXIT_ERROR;

    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "/api/v1/insights");
    cp_http_url_add(&url, "app", a.ctx.app);
    cp_http_url_add(&url, "type", a.type_given ? a.ctx.type : NULL);
    cp_http_url_add(&url, "from", tf.send);
    cp_http_url_add(&url, "to", tt.send);
    cp_http_url_add(&url, "labels", labels);
    int rc = cp_explain_get(&a.ctx, (const char *)url.data, &body) ? EXIT_ERROR : EXIT_CLEAN;
    cp_buf_append(&body, "", 1);
    body.len--;
    cp_json_t v;
    memset(&v, 0, sizeof v);
    if (!rc && (!cp_json_parse((const char *)body.data, &v) || v.t != CP_JSON_OBJ)) {
        fprintf(stderr, "cprof insights: cannot parse the relay's answer\n");
        rc = EXIT_ERROR;
    }
    /* No samples at all: no verdict (a gate must not pass an app it could
     * not see); explain.h says whether the labels or the range are why. */
    if (!rc && all_samples(&v) <= 0) {
        cp_explain_empty(&a.ctx, NULL, labels, tf.ms, tt.ms);
        rc = EXIT_ERROR;
    }
    if (!rc) {
        if (fmt == FMT_JSON) {
            fwrite(body.data, 1, body.len, stdout);
            if (!body.len || body.data[body.len - 1] != '\n')
                putchar('\n');
        } else if (fmt == FMT_MD) {
            print_md(&a, labels, &v, stdout);
        } else {
            print_text(&a, labels, &v, stdout);
        }
        if (fflush(stdout) != 0) {
            perror("cprof insights: writing stdout");
            rc = EXIT_ERROR;
        } else {
            rc = count_warn(cp_json_get(&v, "findings")) ? EXIT_WARN : EXIT_CLEAN;
        }
    }
    cp_json_free(&v);
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return rc;
}
