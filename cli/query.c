/* query.c - `cprof query` and `cprof diff`: the relay's query API in a
 * terminal, for people, scripts and CI.
 *
 *   cprof query --relay ADDR --app A [--type T --from F --to T --labels k=v]
 *               [--top N | --collapsed | --format json|pprof|speedscope|collapsed]
 *               [-o FILE|-]
 *   cprof diff  --relay ADDR --app A [--type T] --base-from F [--base-to T]
 *               [--base-labels L] [--cmp-from F --cmp-to T --cmp-labels L]
 *               [--limit N] [--json] [--fail-on 2pp|10%rel [--metric M]
 *               [--normalize share|per-second] [--q Q] [--warmup S]
 *               [--format text|json|md|junit] [--inconclusive pass|fail]]
 *
 * ADDR: any form http.h accepts (http://, https://, the agents' ws:// or
 * wss://, HOST:PORT). Times: anything cp_time_parse_local accepts; relative
 * forms (now-15m) go to the relay as typed, the rest as unix seconds, so
 * the local zone is the terminal's, not the relay's.
 *
 * Tables show values in human units (human.h) and times as local
 * date-times with the zone; --format/--json keep the relay's exact values.
 * Every wrong argument is a usage error naming it (exit 2); an unknown
 * app, an app without data, labels that match no instance and an empty
 * range each get a sentence and their own exit code (cli.h, explain.h),
 * and then nothing is written to stdout or the -o file. Binary formats are
 * not written to a terminal unless -o - asks for it.
 * The diff gate (--fail-on) exits with its verdict instead: 0 PASS,
 * 1 REGRESSION, 3 INCONCLUSIVE, and 2 for anything that leaves nothing to
 * judge (a wrong command line, no relay, no data on a side).
 * Thread: main only. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "diff_report.h"
#include "diffstat.h"
#include "explain.h"
#include "http.h"
#include "human.h"
#include "json.h"
#include "relay.h"
#include "relay_args.h"

#define COMMON_HELP                                                                                  \
    CP_RELAY_ARGS_HELP_WHERE                                                                        \
    "  --type T           cpu (default), wall, alloc, alloc_objects, lock, lock_count\n"            \
    CP_RELAY_ARGS_HELP_ACCESS

#define EXIT_HELP                                                                                    \
    "Exit codes: 0 ok, 1 relay unreachable or error, 2 wrong command line, 3 unknown app,\n"        \
    "4 no data of this type (yet), 5 no instance has the labels, 6 no samples in the range;\n"       \
    "with 3 to 6 nothing is written to stdout (or -o FILE) and stderr says why.\n"

/* ---------------- query ---------------- */

static void query_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof query --app APP [--relay ADDR] [OPTIONS]\n"
        "Prints a merged profile from a relay: its top functions as a table (default),\n"
        "or the whole profile in an export format.\n\n"
        COMMON_HELP
        "  --from T --to T    time range (default now-15m .. now)\n"
        "  --labels k=v,...   only instances with these labels\n"
        "  --top N            the N functions with the most self time (default 20)\n"
        "  --collapsed        collapsed stacks (flamegraph.pl): --format collapsed\n"
        "  --format F         the relay's exact output: json, collapsed, speedscope, pprof\n"
        "                     (pprof is binary: written to a terminal only with -o -)\n"
        "  -o FILE            write to FILE instead of stdout; -o - is stdout\n\n"
        CP_RELAY_ARGS_TIME_HELP "\n" EXIT_HELP);
}

static bool format_known(const char *f)
{
    return !strcmp(f, "json") || !strcmp(f, "pprof") || !strcmp(f, "speedscope") || !strcmp(f, "collapsed");
}

static bool format_binary(const char *f)
{
    return !strcmp(f, "pprof");
}

/* Prints the /top answer as a table; 0, or an explained exit code. */
static int print_top(const cp_relay_args_t *c, const cp_buf_t *body, const char *labels, const cp_relay_time_t *from,
                     const cp_relay_time_t *to, FILE *out)
{
    cp_json_t v;
    if (!cp_json_parse((const char *)body->data, &v)) {
        cp_json_free(&v);
        fprintf(stderr, "cprof query: cannot parse the relay's answer\n");
        return CP_EXIT_FAIL;
    }
    double total = cp_json_num(&v, "total");
    const cp_json_t *fn = cp_json_get(&v, "functions");
    if (total <= 0) {
        cp_json_free(&v);
        return cp_explain_empty(&c->ctx, NULL, labels, from->ms, to->ms);
    }
    cp_unit_t unit = cp_human_unit_of_type(c->ctx.type);
    char range[128], tot[32];
    fprintf(out, "%s of app '%s', %s%s%s: total %s\n", c->ctx.type, c->ctx.app,
            cp_human_range(from->ms, to->ms, range, sizeof range), labels ? ", labels " : "", labels ? labels : "",
            cp_human_value(total, unit, tot, sizeof tot));
    fprintf(out, "%7s %7s %10s %10s  %s\n", "self%", "total%", "self", "total", "function");
    for (size_t i = 0; fn && i < fn->n; i++) {
        const cp_json_t *f = &fn->kids[i];
        char s[32], t[32];
        fprintf(out, "%6.2f%% %6.2f%% %10s %10s  %s\n", 100 * cp_json_num(f, "self") / total,
                100 * cp_json_num(f, "total") / total, cp_human_value(cp_json_num(f, "self"), unit, s, sizeof s),
                cp_human_value(cp_json_num(f, "total"), unit, t, sizeof t), cp_json_str(f, "name"));
    }
    cp_json_free(&v);
    return CP_EXIT_OK;
}

int cp_cmd_query(int argc, char **argv)
{
    cp_relay_args_t c;
    cp_relay_args_init(&c, "query");
    const char *from = NULL, *to = NULL, *labels = NULL, *format = NULL, *outpath = NULL;
    long top = 20;
    bool top_given = false;
    static const struct option opts[] = {
        CP_RELAY_ARGS_LONGOPTS,
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 'T'},
        {"labels", required_argument, 0, 'l'}, {"top", required_argument, 0, 'n'},
        {"collapsed", no_argument, 0, 'c'}, {"format", required_argument, 0, 'F'},
        {"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (cp_relay_args_option(&c, o, optarg))
            continue;
        switch (o) {
        case 'f': from = optarg; break;
        case 'T': to = optarg; break;
        case 'l': labels = *optarg ? optarg : NULL; break;
        case 'n':
            if (cp_cli_positive("query", query_usage, "--top", optarg, &top))
                return CP_EXIT_USAGE;
            top_given = true;
            break;
        case 'c': format = "collapsed"; break;
        case 'F':
            if (!format_known(optarg))
                return cp_cli_usage_error("query", query_usage,
                                          "--format '%s' is not a format: json, collapsed, speedscope or pprof",
                                          optarg);
            format = optarg;
            break;
        case 'o': outpath = optarg; break;
        case 'h': query_usage(stdout); return CP_EXIT_OK;
        default: return cp_cli_getopt_error("query", query_usage, o, argv);
        }
    }
    int rc = cp_relay_args_finish(&c, query_usage, argc, argv);
    if (rc)
        return rc;
    if (top_given && format)
        return cp_cli_usage_error("query", query_usage, "--top makes a table; it does not go with --format %s "
                                  "(or --collapsed), which prints the whole profile", format);
    cp_relay_time_t tf, tt;
    if ((rc = cp_relay_args_range("query", query_usage, "--from", from, "--to", to, &tf, &tt)))
        return rc;
    bool to_stdout = !outpath || !strcmp(outpath, "-");
    if (format && format_binary(format) && !outpath && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "cprof query: --format %s is binary; it is not written to a terminal: give -o FILE, "
                "redirect stdout, or -o - to write it here anyway\n", format);
        return CP_EXIT_USAGE;
    }
    if (format && (rc = cp_explain_labels(&c.ctx, NULL, labels)))
        return rc;

    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "%s", format ? "/api/v1/profile" : "/api/v1/top");
    cp_http_url_add(&url, "app", c.ctx.app);
    cp_http_url_add(&url, "type", c.ctx.type);
    cp_http_url_add(&url, "from", tf.send);
    cp_http_url_add(&url, "to", tt.send);
    cp_http_url_add(&url, "labels", labels);
    if (format) {
        cp_http_url_add(&url, "format", format);
    } else {
        char n[32];
        snprintf(n, sizeof n, "%ld", top);
        cp_http_url_add(&url, "limit", n);
    }
    rc = cp_explain_get(&c.ctx, (const char *)url.data, &body);
    cp_buf_append(&body, "", 1);
    body.len--;
    /* the table is checked before anything is written; exports are written as they came */
    cp_buf_t table = CP_BUF_INIT;
    if (!rc && !format) {
        char *tp = NULL;
        size_t tn = 0;
        FILE *mem = open_memstream(&tp, &tn);
        rc = mem ? print_top(&c, &body, labels, &tf, &tt, mem) : CP_EXIT_FAIL;
        if (mem)
            fclose(mem);
        if (!rc)
            cp_buf_append(&table, tp, tn);
        free(tp);
    }
    if (!rc) {
        FILE *out = to_stdout ? stdout : fopen(outpath, "wb");
        const cp_buf_t *what = format ? &body : &table;
        if (!out) {
            fprintf(stderr, "cprof query: -o %s: %s\n", outpath, strerror(errno));
            rc = CP_EXIT_FAIL;
        } else {
            if (what->len && fwrite(what->data, 1, what->len, out) != what->len)
                rc = CP_EXIT_FAIL;
            if ((out != stdout ? fclose(out) : fflush(out)) != 0)
                rc = CP_EXIT_FAIL;
            if (rc)
                fprintf(stderr, "cprof query: writing %s: %s\n", to_stdout ? "stdout" : outpath, strerror(errno));
        }
    }
    cp_buf_fini(&table);
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return rc;
}

/* ---------------- diff ---------------- */

static void diff_usage(FILE *f)
{
    fprintf(f,
        "usage: cprof diff --app APP --base-from T [--relay ADDR] [OPTIONS]\n"
        "Compares two time ranges and/or label sets of one app; prints the functions\n"
        "whose share of the profile changed most (percentage points, compared - base),\n"
        "or, with --fail-on or --format, the methods whose change is beyond noise\n"
        "(docs/diff.md) and a verdict: a gate for CI.\n\n"
        COMMON_HELP
        "  --base-from T      start of the base range (required)\n"
        "  --base-to T        end of the base range (default now)\n"
        "  --base-labels L    base label filter (k=v,...)\n"
        "  --cmp-from T       start of the compared range (default now-15m)\n"
        "  --cmp-to T         end of the compared range (default now)\n"
        "  --cmp-labels L     compared label filter\n"
        "  --limit N          rows to print besides the flagged methods (default 20)\n"
        "  --json             print the relay's JSON (exact values) instead of a table\n\n"
        "Gate (docs/diff.md):\n"
        "  --fail-on X        fail when a method grows by X and the change is significant:\n"
        "                     2pp (share points) or 10%%rel (relative to base)\n"
        "  --metric M         what to compare: cpu (default), wall, alloc, lock (= --type)\n"
        "  --normalize N      share (of the total, default) or per-second (needs %%rel)\n"
        "  --q Q              false discovery rate, Benjamini-Hochberg (default 0.05)\n"
        "  --warmup S         seconds skipped after each instance starts (default 60)\n"
        "  --format F         text (default), json, md (a pull-request comment), junit\n"
        "  --inconclusive A   pass or fail: what INCONCLUSIVE exits with (default: 3)\n\n"
        CP_RELAY_ARGS_TIME_HELP "\n" EXIT_HELP
        "With --fail-on: 0 PASS, 1 REGRESSION, 2 wrong command line or no data to compare\n"
        "(relay unreachable, unknown app, empty side), 3 INCONCLUSIVE.\n");
}

typedef struct gate_opts {
    const char *fail_on, *metric, *normalize, *q, *warmup, *format, *inconclusive;
} gate_opts_t;

/* Checks the gate options; 0 or a usage error. */
static int gate_check(cp_relay_args_t *c, bool type_given, const gate_opts_t *g, cp_diff_fmt_t *fmt)
{
    cp_diff_threshold_t thr;
    cp_diff_norm_t norm = CP_DIFF_NORM_SHARE;
    if (g->fail_on && cp_diff_threshold_parse(g->fail_on, &thr))
        return cp_cli_usage_error("diff", diff_usage, "--fail-on '%s' is not a threshold: give 2pp (share points) "
                                  "or 10%%rel (relative to base)", g->fail_on);
    if (g->metric) {
        static const char *const ok[] = {"cpu", "wall", "alloc", "lock"};
        bool known = false;
        for (size_t i = 0; i < 4; i++)
            known |= !strcmp(g->metric, ok[i]);
        if (!known)
            return cp_cli_usage_error("diff", diff_usage, "--metric '%s': cpu, wall, alloc or lock", g->metric);
        if (type_given && strcmp(c->ctx.type, g->metric))
            return cp_cli_usage_error("diff", diff_usage, "--metric %s and --type %s disagree: give one",
                                      g->metric, c->ctx.type);
        c->ctx.type = g->metric;
    }
    if (g->normalize && !strcmp(g->normalize, "per-op"))
        return cp_cli_usage_error("diff", diff_usage, "--normalize per-op is not available: the agent reports no "
                                  "operation counter; use share or per-second");
    if (g->normalize && cp_diff_norm_parse(g->normalize, &norm))
        return cp_cli_usage_error("diff", diff_usage, "--normalize '%s': share or per-second", g->normalize);
    if (norm == CP_DIFF_NORM_PER_SECOND && g->fail_on && !thr.relative)
        return cp_cli_usage_error("diff", diff_usage, "--normalize per-second needs a relative threshold "
                                  "(--fail-on 10%%rel), not '%s'", g->fail_on);
    if (g->q) {
        char *e;
        double q = strtod(g->q, &e);
        if (!*g->q || *e || !(q > 0 && q < 1))
            return cp_cli_usage_error("diff", diff_usage, "--q '%s': a rate between 0 and 1, e.g. 0.05", g->q);
    }
    int64_t ms;
    if (g->warmup && strcmp(g->warmup, "0") && cp_duration_parse(g->warmup, &ms))
        return cp_cli_usage_error("diff", diff_usage, "--warmup '%s': seconds, or 30s/2m; 0 keeps everything",
                                  g->warmup);
    if (g->inconclusive && strcmp(g->inconclusive, "pass") && strcmp(g->inconclusive, "fail"))
        return cp_cli_usage_error("diff", diff_usage, "--inconclusive '%s': pass or fail", g->inconclusive);
    if (g->inconclusive && !g->fail_on)
        return cp_cli_usage_error("diff", diff_usage, "--inconclusive goes with --fail-on");
    *fmt = CP_DIFF_FMT_TEXT;
    if (g->format) {
        static const char *const names[] = {"text", "json", "md", "junit"};
        size_t i = 0;
        while (i < 4 && strcmp(g->format, names[i]))
            i++;
        if (i == 4)
            return cp_cli_usage_error("diff", diff_usage, "--format '%s': text, json, md or junit", g->format);
        *fmt = (cp_diff_fmt_t)i;
    }
    return CP_EXIT_OK;
}

/* The gate's exit code for the relay's verdict. */
static int gate_exit(const char *verdict, const char *inconclusive)
{
    if (!strcmp(verdict, "PASS"))
        return CP_EXIT_OK;
    if (!strcmp(verdict, "REGRESSION"))
        return CP_EXIT_REGRESSION;
    if (!strcmp(verdict, "INCONCLUSIVE"))
        return !inconclusive ? CP_EXIT_INCONCLUSIVE : !strcmp(inconclusive, "pass") ? CP_EXIT_OK : CP_EXIT_REGRESSION;
    return CP_EXIT_USAGE;
}

static void side_text(const cp_relay_time_t *f, const cp_relay_time_t *t, const char *labels, char *buf, size_t n)
{
    char r[128];
    snprintf(buf, n, "%s%s%s", cp_human_range(f->ms, t->ms, r, sizeof r), labels ? ", labels " : "",
             labels ? labels : "");
}

int cp_cmd_diff(int argc, char **argv)
{
    cp_relay_args_t c;
    cp_relay_args_init(&c, "diff");
    const char *bf = NULL, *bt = NULL, *bl = NULL, *cf = NULL, *ct = NULL, *cl = NULL;
    long limit = 20;
    bool json = false, type_given = false;
    gate_opts_t g = {0};
    static const struct option opts[] = {
        CP_RELAY_ARGS_LONGOPTS,
        {"base-from", required_argument, 0, 1}, {"base-to", required_argument, 0, 2},
        {"base-labels", required_argument, 0, 3}, {"cmp-from", required_argument, 0, 4},
        {"cmp-to", required_argument, 0, 5}, {"cmp-labels", required_argument, 0, 6},
        {"limit", required_argument, 0, 'n'}, {"json", no_argument, 0, 'j'},
        {"fail-on", required_argument, 0, 10}, {"metric", required_argument, 0, 11},
        {"normalize", required_argument, 0, 12}, {"q", required_argument, 0, 13},
        {"warmup", required_argument, 0, 14}, {"format", required_argument, 0, 15},
        {"inconclusive", required_argument, 0, 16}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 't')
            type_given = true;
        if (cp_relay_args_option(&c, o, optarg))
            continue;
        switch (o) {
        case 1: bf = optarg; break;
        case 2: bt = optarg; break;
        case 3: bl = *optarg ? optarg : NULL; break;
        case 4: cf = optarg; break;
        case 5: ct = optarg; break;
        case 6: cl = *optarg ? optarg : NULL; break;
        case 'n':
            if (cp_cli_positive("diff", diff_usage, "--limit", optarg, &limit))
                return CP_EXIT_USAGE;
            break;
        case 'j': json = true; break;
        case 10: g.fail_on = optarg; break;
        case 11: g.metric = optarg; break;
        case 12: g.normalize = optarg; break;
        case 13: g.q = optarg; break;
        case 14: g.warmup = optarg; break;
        case 15: g.format = optarg; break;
        case 16: g.inconclusive = optarg; break;
        case 'h': diff_usage(stdout); return CP_EXIT_OK;
        default: return cp_cli_getopt_error("diff", diff_usage, o, argv);
        }
    }
    cp_diff_fmt_t fmt;
    int rc = gate_check(&c, type_given, &g, &fmt);
    if (!rc)
        rc = cp_relay_args_finish(&c, diff_usage, argc, argv);
    if (!rc && !bf)
        rc = cp_cli_usage_error("diff", diff_usage, "--base-from is required: the start of the range to "
                                "compare against (e.g. --base-from now-2h --base-to now-1h)");
    if (!rc && json && g.format && fmt != CP_DIFF_FMT_JSON)
        rc = cp_cli_usage_error("diff", diff_usage, "--json and --format %s disagree: give one", g.format);
    cp_relay_time_t b0, b1, c0, c1;
    if (!rc)
        rc = cp_relay_args_range("diff", diff_usage, "--base-from", bf, "--base-to", bt, &b0, &b1);
    if (!rc)
        rc = cp_relay_args_range("diff", diff_usage, "--cmp-from", cf, "--cmp-to", ct, &c0, &c1);
    if (rc)
        return rc;
    if (json)
        fmt = CP_DIFF_FMT_JSON;
    bool stats = g.fail_on || g.format;

    cp_buf_t url = CP_BUF_INIT, body = CP_BUF_INIT;
    cp_buf_printf(&url, "/api/v1/diff");
    cp_http_url_add(&url, "app", c.ctx.app);
    cp_http_url_add(&url, "type", c.ctx.type);
    cp_http_url_add(&url, "base.from", b0.send);
    cp_http_url_add(&url, "base.to", b1.send);
    cp_http_url_add(&url, "base.labels", bl);
    cp_http_url_add(&url, "cmp.from", c0.send);
    cp_http_url_add(&url, "cmp.to", c1.send);
    cp_http_url_add(&url, "cmp.labels", cl);
    if (stats) {
        cp_http_url_add(&url, "threshold", g.fail_on);
        cp_http_url_add(&url, "normalize", g.normalize);
        cp_http_url_add(&url, "q", g.q);
        cp_http_url_add(&url, "warmup", g.warmup);
        char n[32];
        snprintf(n, sizeof n, "%ld", limit);
        cp_http_url_add(&url, "limit", n);
    } else {
        cp_http_url_add(&url, "stats", json ? NULL : "off");
    }
    rc = cp_explain_get(&c.ctx, (const char *)url.data, &body);
    cp_buf_append(&body, "", 1);
    body.len--;
    cp_json_t v;
    memset(&v, 0, sizeof v);
    if (!rc && !cp_json_parse((const char *)body.data, &v)) {
        fprintf(stderr, "cprof diff: cannot parse the relay's answer\n");
        rc = CP_EXIT_FAIL;
    }
    double bt_total = cp_json_num(cp_json_get(&v, "base"), "total");
    double ct_total = cp_json_num(cp_json_get(&v, "cmp"), "total");
    if (!rc && bt_total <= 0)
        rc = cp_explain_empty(&c.ctx, "base", bl, b0.ms, b1.ms);
    if (!rc && ct_total <= 0)
        rc = cp_explain_empty(&c.ctx, "compared", cl, c0.ms, c1.ms);
    const char *verdict = stats ? cp_diff_report_verdict(&v) : "";
    if (!rc && stats && !*verdict) {
        fprintf(stderr, "cprof diff: the relay sent no statistics (a relay older than this cprof?)\n");
        rc = CP_EXIT_FAIL;
    }
    const cp_json_t *st = cp_json_get(&v, "stats");
    if (!rc && g.fail_on && (!cp_json_num(cp_json_get(st, "base"), "windows") ||
                             !cp_json_num(cp_json_get(st, "cmp"), "windows"))) {
        fprintf(stderr, "cprof diff: the %s side has samples but no window after each instance's warm-up "
                "(--warmup, default 60 s): nothing to judge; lower --warmup or widen the range\n",
                !cp_json_num(cp_json_get(st, "base"), "windows") ? "base" : "compared");
        rc = CP_EXIT_USAGE;
    }
    if (!rc && fmt == CP_DIFF_FMT_JSON) {
        fwrite(body.data, 1, body.len, stdout);
        putchar('\n');
    } else if (!rc && stats) {
        char bs[300], cs[300];
        side_text(&b0, &b1, bl, bs, sizeof bs);
        side_text(&c0, &c1, cl, cs, sizeof cs);
        cp_diff_report_t rep = {c.ctx.app, c.ctx.type, bs, cs, g.fail_on, limit,
                                g.fail_on && gate_exit(verdict, g.inconclusive) != CP_EXIT_OK};
        cp_diff_report_write(&rep, &v, fmt, stdout);
    } else if (!rc) {
        cp_unit_t unit = cp_human_unit_of_type(c.ctx.type);
        char r[128], t[32];
        printf("%s of app '%s'\n", c.ctx.type, c.ctx.app);
        printf("base:     %s%s%s: total %s\n", cp_human_range(b0.ms, b1.ms, r, sizeof r), bl ? ", labels " : "",
               bl ? bl : "", cp_human_value(bt_total, unit, t, sizeof t));
        printf("compared: %s%s%s: total %s\n", cp_human_range(c0.ms, c1.ms, r, sizeof r), cl ? ", labels " : "",
               cl ? cl : "", cp_human_value(ct_total, unit, t, sizeof t));
        printf("%8s %7s %7s  %s\n", "delta", "base%", "cmp%", "function");
        const cp_json_t *fn = cp_json_get(&v, "functions");
        for (size_t i = 0; fn && i < fn->n && (long)i < limit; i++) {
            const cp_json_t *f = &fn->kids[i];
            printf("%+8.2f %6.2f%% %6.2f%%  %s\n", cp_json_num(f, "delta_pct"), cp_json_num(f, "base_pct"),
                   cp_json_num(f, "cmp_pct"), cp_json_str(f, "name"));
        }
    }
    if (g.fail_on)   /* the gate: a verdict, or 2 when there is nothing to judge */
        rc = rc ? CP_EXIT_USAGE : gate_exit(verdict, g.inconclusive);
    cp_json_free(&v);
    cp_buf_fini(&url);
    cp_buf_fini(&body);
    return rc;
}
