/* insights_json.c - the /api/v1/insights document of an engine's findings
 * (layout in docs/api.md "Insights"). Times are unix seconds like the rest
 * of the API; shares are fractions (0.142 = 14.2 %).
 *
 * Thread: the engine's owner. */
#include "insights_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void jstr(cp_buf_t *b, const char *s)
{
    if (!s) {
        cp_buf_printf(b, "null");
        return;
    }
    cp_buf_json_str(b, s, strlen(s));
}

/* Appends s percent-encoded for a query string. */
static void urlenc(cp_buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            cp_buf_append(b, s, 1);
        else
            cp_buf_printf(b, "%%%02X", c);
    }
}

static double secs(int64_t ms) { return (double)ms / 1000.0; }

/* The views that show a finding: "link" the API's (the flame graph data
 * of its type over the range, or the timeline for series findings), "ui"
 * the web UI's hash route (relay/ui/js/state.js) of the same view. */
static void links(cp_buf_t *b, const cp_insights_t *in, const char *type)
{
    cp_buf_t u = CP_BUF_INIT;
    bool series = !strcmp(type, "gc") || !strcmp(type, "threads");
    for (int ui = 0; ui < 2; ui++) {
        cp_buf_reset(&u);
        cp_buf_printf(&u, ui ? "/#app=" : "/api/v1/%s?app=", series ? "timeline" : "profile");
        urlenc(&u, in->app);
        if (!series) {
            cp_buf_printf(&u, "&type=");
            urlenc(&u, type);
        }
        cp_buf_printf(&u, "&from=%lld&to=%lld", (long long)(in->from_ms / 1000),
                      (long long)((in->to_ms + 999) / 1000));
        if (*in->labels) {
            cp_buf_printf(&u, "&labels=");
            urlenc(&u, in->labels);
        }
        cp_buf_printf(b, ui ? ",\"ui\":" : ",\"link\":");
        cp_buf_json_str(b, (const char *)u.data, u.len);
    }
    cp_buf_fini(&u);
}

static void finding_json(cp_buf_t *b, const cp_insights_t *in, const cp_insights_finding_t *f)
{
    cp_buf_printf(b, "{\"rule\":");
    jstr(b, f->rule);
    cp_buf_printf(b, ",\"title\":");
    jstr(b, f->title);
    cp_buf_printf(b, ",\"severity\":\"%s\",\"type\":", f->severity == CP_INSIGHTS_WARN ? "WARN" : "INFO");
    jstr(b, f->type);
    cp_buf_printf(b, ",\"share\":%.6g,\"ci95\":[%.6g,%.6g],\"samples\":%.0f", f->share, f->ci_lo, f->ci_hi,
                  f->samples);
    cp_buf_printf(b, ",\"metric\":{\"value\":%.6g,\"unit\":", f->metric);
    jstr(b, f->metric_unit);
    cp_buf_printf(b, "},\"frames\":[");
    for (uint32_t i = 0; i < f->n_frames; i++) {
        if (i)
            cp_buf_printf(b, ",");
        jstr(b, f->frames[i]);
    }
    cp_buf_printf(b, "],\"callers\":[");
    for (uint32_t i = 0; i < f->n_callers; i++) {
        cp_buf_printf(b, "%s{\"name\":", i ? "," : "");
        jstr(b, f->callers[i].name);
        cp_buf_printf(b, ",\"share\":%.6g,\"samples\":%.0f}", f->callers[i].share, f->callers[i].samples);
    }
    cp_buf_printf(b, "],\"stack\":[");
    for (uint32_t i = 0; i < f->stack_len; i++) {
        if (i)
            cp_buf_printf(b, ",");
        jstr(b, f->stack[i]);
    }
    cp_buf_printf(b, "],\"worst_window\":");
    if (f->has_worst)
        cp_buf_printf(b, "{\"from\":%.3f,\"to\":%.3f,\"share\":%.6g}", secs(f->worst_from_ms), secs(f->worst_to_ms),
                      f->worst_share);
    else
        cp_buf_printf(b, "null");
    cp_buf_printf(b, ",\"instances\":");
    if (f->has_instances)
        cp_buf_printf(b, "{\"with\":%u,\"of\":%u}", f->inst_with, f->inst_of);
    else
        cp_buf_printf(b, "null");
    cp_buf_printf(b, ",\"saving\":{\"value\":%.6g,\"unit\":", f->saving);
    jstr(b, f->saving_unit);
    cp_buf_printf(b, ",\"text\":");
    jstr(b, f->saving_text);
    cp_buf_printf(b, "},\"rank\":%.6g,\"fix\":", f->rank);
    jstr(b, f->fix);
    if (*f->detail) {
        cp_buf_printf(b, ",\"detail\":");
        jstr(b, f->detail);
    }
    cp_buf_printf(b, ",\"thresholds\":{\"info\":%.6g,\"warn\":%.6g}", f->info, f->warn);
    links(b, in, f->type);
    cp_buf_printf(b, "}");
}

void cp_insights_write_json(const cp_insights_t *in, double elapsed_ms, double fetch_ms, double rules_ms,
                            cp_buf_t *b)
{
    cp_buf_printf(b, "{\"app\":");
    jstr(b, in->app);
    cp_buf_printf(b, ",\"from\":%lld,\"to\":%lld,\"labels\":", (long long)(in->from_ms / 1000),
                  (long long)((in->to_ms + 999) / 1000));
    jstr(b, in->labels);
    cp_buf_printf(b, ",\"elapsed_ms\":%.3f,\"fetch_ms\":%.3f,\"rules_ms\":%.3f,\"types\":{", elapsed_ms, fetch_ms,
                  rules_ms);
    for (uint32_t i = 0; i < in->n_types; i++) {
        const cp__itype_t *t = &in->types[i];
        if (i)
            cp_buf_printf(b, ",");
        jstr(b, t->name);
        cp_buf_printf(b, ":{\"total\":%.0f,\"samples\":%.0f,\"unit\":", t->total, t->samples);
        jstr(b, t->unit ? t->unit : "");
        cp_buf_printf(b, "}");
    }
    cp_buf_printf(b, "},\"findings\":[");
    for (uint32_t i = 0; i < in->n_f; i++) {
        if (i)
            cp_buf_printf(b, ",");
        finding_json(b, in, &in->f[i]);
    }
    cp_buf_printf(b, "],\"not_enough_data\":[");
    for (uint32_t i = 0; i < in->n_sh; i++)
        cp_buf_printf(b, "%s{\"rule\":\"%s\",\"type\":\"%s\",\"samples\":%.0f,\"needed\":%.0f}", i ? "," : "",
                      in->sh[i].rule, in->sh[i].type, in->sh[i].samples, in->sh[i].needed);
    cp_buf_printf(b, "]}");
}
