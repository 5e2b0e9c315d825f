/* options.c - agent options and CPROF_* environment variables. See options.h.
 *
 * One table (keys[]) knows every key; the option string and the environment
 * both go through set_key(), so they accept exactly the same values.
 * Thread: any (no globals). Not signal-safe. */
#include "options.h"

#include "error.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void warnf(cp_options_warn_fn warn, void *ud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warnf(cp_options_warn_fn warn, void *ud, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (warn)
        warn(ud, line);
}

void cp_options_defaults(cp_options_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->relay, sizeof o->relay, "%s", "ws://127.0.0.1:7070");
    o->cpu_ns = 10 * 1000000LL;
    o->wall_ns = 0;
    o->flush_ns = 10 * 1000000000LL;
    o->buffer_bytes = 8 << 20;
    snprintf(o->log, sizeof o->log, "%s", "stderr");
    o->loglevel = CP_LOG_WARN;
    o->command = CP_CMD_START;
    o->gc = 1;
    o->cpu_native = 1;
    o->context_http = 1;
    o->context_vthreads = 1;
    o->jit_kinds = 0;
    o->overhead_ppm = 10000;
    o->memory_bytes = 32 << 20;
}

int cp_options_parse_percent(const char *s, int64_t *ppm)
{
    if (!strcmp(s, "off")) {
        *ppm = 0;
        return 0;
    }
    /* digits, at most one '.' with up to 4 decimals, an optional '%' */
    int64_t whole = 0, frac = 0, scale = 10000;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return CP_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 100)
            return CP_EINVAL;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return CP_EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            if (scale == 1)
                return CP_EINVAL;
            scale /= 10;
            frac += (*p - '0') * scale;
        }
    }
    if (*p == '%')
        p++;
    if (*p)
        return CP_EINVAL;
    *ppm = whole * 10000 + frac;
    return 0;
}

/* Parses "<digits>[suffix]"; *num and the suffix pointer out. */
static int split_num(const char *s, int64_t *num, const char **suffix)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return CP_EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0)
        return CP_EINVAL;
    *num = v;
    *suffix = end;
    return 0;
}

int cp_options_parse_duration(const char *s, int64_t *ns)
{
    int64_t v;
    const char *suf;
    if (!strcasecmp(s, "off") || !strcasecmp(s, "no") || !strcasecmp(s, "false")) {
        *ns = 0;
        return 0;
    }
    if (split_num(s, &v, &suf))
        return CP_EINVAL;
    int64_t mul;
    if (!*suf || !strcasecmp(suf, "ms")) mul = 1000000LL;
    else if (!strcasecmp(suf, "ns"))     mul = 1;
    else if (!strcasecmp(suf, "us"))     mul = 1000LL;
    else if (!strcasecmp(suf, "s"))      mul = 1000000000LL;
    else if (!strcasecmp(suf, "m") || !strcasecmp(suf, "min")) mul = 60000000000LL;
    else return CP_EINVAL;
    if (v > INT64_MAX / mul)
        return CP_EINVAL;
    *ns = v * mul;
    return 0;
}

int cp_options_parse_size(const char *s, int64_t *bytes)
{
    int64_t v;
    const char *suf;
    if (!strcasecmp(s, "off") || !strcasecmp(s, "no") || !strcasecmp(s, "false")) {
        *bytes = 0;
        return 0;
    }
    if (split_num(s, &v, &suf))
        return CP_EINVAL;
    int64_t mul;
    if (!*suf || !strcasecmp(suf, "b")) mul = 1;
    else if (!strcasecmp(suf, "k") || !strcasecmp(suf, "kb") || !strcasecmp(suf, "kib")) mul = 1LL << 10;
    else if (!strcasecmp(suf, "m") || !strcasecmp(suf, "mb") || !strcasecmp(suf, "mib")) mul = 1LL << 20;
    else if (!strcasecmp(suf, "g") || !strcasecmp(suf, "gb") || !strcasecmp(suf, "gib")) mul = 1LL << 30;
    else return CP_EINVAL;
    if (v > INT64_MAX / mul)
        return CP_EINVAL;
    *bytes = v * mul;
    return 0;
}

bool cp_options_set_label(cp_options_t *o, const char *key, const char *value)
{
    for (uint32_t i = 0; i < o->n_labels; i++)
        if (!strcmp(o->labels[i].key, key)) {
            snprintf(o->labels[i].value, sizeof o->labels[i].value, "%s", value);
            return true;
        }
    if (o->n_labels >= CP_OPT_MAX_LABELS)
        return false;
    cp_opt_label_t *l = &o->labels[o->n_labels++];
    snprintf(l->key, sizeof l->key, "%s", key);
    snprintf(l->value, sizeof l->value, "%s", value);
    return true;
}

static int copy_str(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return CP_EINVAL;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* token=@FILE: the file's first line, trailing whitespace cut. */
static int read_token(char *dst, size_t cap, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return CP_EIO;
    char line[CP_OPT_VAL_MAX + 2];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got)
        return CP_EINVAL;
    size_t n = strlen(line);
    bool whole = n && line[n - 1] == '\n';
    while (n && isspace((unsigned char)line[n - 1]))
        line[--n] = 0;
    if (!n || (!whole && n >= cap))
        return CP_EINVAL;
    return copy_str(dst, cap, line);
}

/* Reasons a value is refused, by the kind of value a key takes. */
#define WHY_DURATION_OFF "not a duration (10ms, 1ms, 500us) or off"
#define WHY_SIZE_OFF     "not a size (512k, 8m) or off"
#define WHY_TOO_LONG     "empty or too long"
#define WHY_UNKNOWN      ((const char *)1)   /* sentinel: not a key the agent knows */

/* Applies one key. Returns NULL when applied, else why not (WHY_UNKNOWN
 * for a key the agent does not know). */
static const char *set_key(cp_options_t *o, const char *key, const char *val)
{
    int rc = 0;
    const char *why = "malformed value";

    if (!strncmp(key, "label.", 6)) {
        const char *k = key + 6;
        if (!*k || strlen(k) >= CP_OPT_KEY_MAX || strlen(val) >= CP_OPT_VAL_MAX) {
            rc = CP_EINVAL;
            why = "label key or value empty or too long";
        } else if (!cp_options_set_label(o, k, val)) {
            rc = CP_EINVAL;
            why = "too many labels";
        }
    } else if (!strcmp(key, "relay")) {
        if (strncmp(val, "ws://", 5) && strncmp(val, "wss://", 6)) {
            /* kept, so that nothing goes to the default relay instead: the
             * sender says why it sends nothing (sender_unreach.h) */
            rc = CP_EINVAL;
            why = "must start with ws:// or wss://; nothing will be sent until it is corrected";
            copy_str(o->relay, sizeof o->relay, val);
        } else {
            rc = copy_str(o->relay, sizeof o->relay, val);
            why = WHY_TOO_LONG;
        }
    } else if (!strcmp(key, "app")) {
        rc = *val ? copy_str(o->app, sizeof o->app, val) : CP_EINVAL;
        why = WHY_TOO_LONG;
    } else if (!strcmp(key, "cpu")) {
        int64_t ns;
        why = WHY_DURATION_OFF;
        if ((rc = cp_options_parse_duration(val, &ns)) == 0) {
            if (ns != 0 && ns < 100000) { rc = CP_EINVAL; why = "below 100us"; }
            else o->cpu_ns = ns;
        }
    } else if (!strcmp(key, "wall")) {
        int64_t ns;
        why = WHY_DURATION_OFF;
        if ((rc = cp_options_parse_duration(val, &ns)) == 0) {
            if (ns != 0 && ns < 1000000) { rc = CP_EINVAL; why = "below 1ms"; }
            else o->wall_ns = ns;
        }
    } else if (!strcmp(key, "flush")) {
        int64_t ns;
        why = "not a duration (10s, 500ms)";
        if ((rc = cp_options_parse_duration(val, &ns)) == 0) {
            if (ns < 100000000LL) { rc = CP_EINVAL; why = "below 100ms"; }
            else o->flush_ns = ns;
        }
    } else if (!strcmp(key, "buffer")) {
        int64_t b;
        why = "not a size (8m, 512k)";
        if ((rc = cp_options_parse_size(val, &b)) == 0) {
            if (b < 4096) { rc = CP_EINVAL; why = "below 4k"; }
            else o->buffer_bytes = b;
        }
    } else if (!strcmp(key, "token")) {
        if (val[0] == '@') {
            rc = read_token(o->token, sizeof o->token, val + 1);
            why = rc == CP_EIO ? "cannot read the token file" : "token file empty or too long";
        } else {
            rc = copy_str(o->token, sizeof o->token, val);
            why = "too long";
        }
    } else if (!strcmp(key, "tls.ca")) {
        rc = copy_str(o->tls_ca, sizeof o->tls_ca, val);
        why = "too long";
    } else if (!strcmp(key, "tls.cert")) {
        rc = copy_str(o->tls_cert, sizeof o->tls_cert, val);
        why = "too long";
    } else if (!strcmp(key, "tls.key")) {
        rc = copy_str(o->tls_key, sizeof o->tls_key, val);
        why = "too long";
    } else if (!strcmp(key, "tls.insecure")) {
        if (!strcmp(val, "true") || !strcmp(val, "on")) o->tls_insecure = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "off")) o->tls_insecure = 0;
        else { rc = CP_EINVAL; why = "expected true or false"; }
    } else if (!strcmp(key, "log")) {
        rc = *val ? copy_str(o->log, sizeof o->log, val) : CP_EINVAL;
        why = WHY_TOO_LONG;
    } else if (!strcmp(key, "loglevel")) {
        if (!strcasecmp(val, "error")) o->loglevel = CP_LOG_ERROR;
        else if (!strcasecmp(val, "warn") || !strcasecmp(val, "warning")) o->loglevel = CP_LOG_WARN;
        else if (!strcasecmp(val, "info")) o->loglevel = CP_LOG_INFO;
        else if (!strcasecmp(val, "debug")) o->loglevel = CP_LOG_DEBUG;
        else { rc = CP_EINVAL; why = "expected error, warn, info or debug"; }
    } else if (!strcmp(key, "alloc")) {
        rc = cp_options_parse_size(val, &o->alloc_bytes);
        why = WHY_SIZE_OFF;
    } else if (!strcmp(key, "alloc.mode")) {
        rc = copy_str(o->alloc_mode, sizeof o->alloc_mode, val);
        why = "too long";
    } else if (!strcmp(key, "lock")) {
        rc = cp_options_parse_duration(val, &o->lock_ns);
        why = WHY_DURATION_OFF;
    } else if (!strcmp(key, "overhead")) {
        int64_t ppm;
        why = "not a share (1%, 0.5%) or off";
        if ((rc = cp_options_parse_percent(val, &ppm)) == 0) {
            if (ppm != 0 && (ppm < 1000 || ppm > 500000)) { rc = CP_EINVAL; why = "outside 0.1% to 50%"; }
            else o->overhead_ppm = ppm;
        }
    } else if (!strcmp(key, "memory")) {
        int64_t b;
        why = "not a size (32m, 64m)";
        if ((rc = cp_options_parse_size(val, &b)) == 0) {
            if (b < (16 << 20) || b > (1LL << 30)) { rc = CP_EINVAL; why = "outside 16m to 1g"; }
            else o->memory_bytes = b;
        }
    } else if (!strcmp(key, "cpu.engine")) {
        if (!strcmp(val, "auto")) o->cpu_engine = 0;
        else if (!strcmp(val, "perf")) o->cpu_engine = 1;
        else if (!strcmp(val, "timer")) o->cpu_engine = 2;
        else { rc = CP_EINVAL; why = "expected auto, perf or timer"; }
    } else if (!strcmp(key, "cpu.native")) {
        if (!strcmp(val, "on")) o->cpu_native = 1;
        else if (!strcmp(val, "off")) o->cpu_native = 0;
        else { rc = CP_EINVAL; why = "expected on or off"; }
    } else if (!strcmp(key, "jit.kinds")) {
        if (!strcmp(val, "on")) o->jit_kinds = 1;
        else if (!strcmp(val, "off")) o->jit_kinds = 0;
        else { rc = CP_EINVAL; why = "expected on or off"; }
    } else if (!strcmp(key, "gc")) {
        if (!strcmp(val, "on")) o->gc = 1;
        else if (!strcmp(val, "off")) o->gc = 0;
        else { rc = CP_EINVAL; why = "expected on or off"; }
    } else if (!strcmp(key, "context.http") || !strcmp(key, "context.executors") || !strcmp(key, "context.vthreads")) {
        int *dst = key[8] == 'h' ? &o->context_http : key[8] == 'e' ? &o->context_executors : &o->context_vthreads;
        if (!strcmp(val, "on") || !strcmp(val, "true")) *dst = 1;
        else if (!strcmp(val, "off") || !strcmp(val, "false")) *dst = 0;
        else if (key[8] == 'h' && !strcmp(val, "eager")) *dst = CP_CTX_HTTP_EAGER;
        else { rc = CP_EINVAL; why = key[8] == 'h' ? "expected on, off or eager" : "expected on or off"; }
    } else if (!strcmp(key, "python")) {
        if (!strcmp(val, "off")) o->python = CP_PY_OFF;
        else if (!strcmp(val, "on")) o->python = CP_PY_SPARK;
        else if (!strcmp(val, "children")) o->python = CP_PY_CHILDREN;
        else { rc = CP_EINVAL; why = "expected off, on or children"; }
    } else if (!strcmp(key, "command")) {
        if (!strcmp(val, "start")) o->command = CP_CMD_START;
        else if (!strcmp(val, "stop")) o->command = CP_CMD_STOP;
        else if (!strcmp(val, "detach")) o->command = CP_CMD_DETACH;
        else { rc = CP_EINVAL; why = "expected start, stop or detach"; }
    } else if (!strcmp(key, "verdict")) {
        /* internal to `cprof attach` (verdict.h): an absolute path */
        rc = val[0] == '/' ? copy_str(o->verdict, sizeof o->verdict, val) : CP_EINVAL;
        why = "not an absolute path";
    } else {
        return WHY_UNKNOWN;
    }
    return rc ? why : NULL;
}

/* One key through set_key, reported: a warning line for a refusal (src is
 * "option" or the variable's name, e.g. "CPROF_CPU") and the verdict.
 * Returns 1 when refused. */
static int judge_key(cp_options_t *o, const char *key, const char *val, const char *src,
                     const cp_options_sink_t *s)
{
    const char *why = set_key(o, key, val);
    if (why == WHY_UNKNOWN) {
        warnf(s->warn, s->warn_ud, "cprof: warning: unknown %s '%s' ignored", src, key);
        why = "unknown option";
    } else if (why) {
        warnf(s->warn, s->warn_ud, "cprof: warning: %s '%s=%s' ignored: %s", src, key, val, why);
    }
    if (s->judge)
        s->judge(s->judge_ud, src, key, val, why);
    return why != NULL;
}

int cp_options_parse_to(cp_options_t *o, const char *str, const cp_options_sink_t *s)
{
    if (!str || !*str)
        return 0;
    char *copy = strdup(str);
    if (!copy) {
        warnf(s->warn, s->warn_ud, "cprof: warning: out of memory parsing options");
        return 1;
    }
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        if (!*tok)
            continue;
        char *eq = strchr(tok, '=');
        if (!eq) {
            warnf(s->warn, s->warn_ud, "cprof: warning: option '%s' ignored: expected key=value", tok);
            if (s->judge)
                s->judge(s->judge_ud, "option", tok, NULL, "expected key=value");
            n++;
            continue;
        }
        *eq = '\0';
        n += judge_key(o, tok, eq + 1, "option", s);
    }
    free(copy);
    return n;
}

int cp_options_parse(cp_options_t *o, const char *str, cp_options_warn_fn warn, void *ud)
{
    cp_options_sink_t s = {warn, ud, NULL, NULL};
    return cp_options_parse_to(o, str, &s);
}

void cp_options_format_element(const char *src, const char *key, const char *value,
                               char *out, size_t outlen)
{
    bool secret = !strcmp(key, "token") && value && value[0] != '@';
    if (!strcmp(src, "CPROF_LABELS"))   /* key is label.K, or the entry without '=' */
        snprintf(out, outlen, "CPROF_LABELS entry %s%s%s", strncmp(key, "label.", 6) ? key : key + 6,
                 value ? "=" : "", value ? value : "");
    else if (!value)
        snprintf(out, outlen, "%s", key);
    else
        snprintf(out, outlen, "%s=%s", strcmp(src, "option") ? src : key, secret ? "(hidden)" : value);
}

/* Environment names for the plain keys (labels handled separately). */
static const struct { const char *env, *key; } env_keys[] = {
    {"CPROF_RELAY", "relay"},     {"CPROF_APP", "app"},
    {"CPROF_CPU", "cpu"},         {"CPROF_WALL", "wall"},
    {"CPROF_FLUSH", "flush"},     {"CPROF_BUFFER", "buffer"},
    {"CPROF_TOKEN", "token"},     {"CPROF_LOG", "log"},
    {"CPROF_LOGLEVEL", "loglevel"}, {"CPROF_ALLOC", "alloc"},
    {"CPROF_ALLOC_MODE", "alloc.mode"}, {"CPROF_LOCK", "lock"},
    {"CPROF_GC", "gc"},           {"CPROF_CPU_ENGINE", "cpu.engine"},
    {"CPROF_CPU_NATIVE", "cpu.native"}, {"CPROF_JIT_KINDS", "jit.kinds"},
    {"CPROF_TLS_CA", "tls.ca"},   {"CPROF_TLS_INSECURE", "tls.insecure"},
    {"CPROF_TLS_CERT", "tls.cert"}, {"CPROF_TLS_KEY", "tls.key"},
    {"CPROF_OVERHEAD", "overhead"}, {"CPROF_MEMORY", "memory"},
};

int cp_options_from_env_to(cp_options_t *o, const cp_options_sink_t *s)
{
    int n = 0;
    for (size_t i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *v = getenv(env_keys[i].env);
        if (v && *v)
            n += judge_key(o, env_keys[i].key, v, env_keys[i].env, s);
    }
    const char *labels = getenv("CPROF_LABELS");
    if (labels && *labels) {
        char *copy = strdup(labels);
        char *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ";", &save) : NULL; tok;
             tok = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq || eq == tok) {
                warnf(s->warn, s->warn_ud,
                      "cprof: warning: CPROF_LABELS entry '%s' ignored: expected key=value", tok);
                if (s->judge)
                    s->judge(s->judge_ud, "CPROF_LABELS", tok, NULL, "expected key=value");
                n++;
                continue;
            }
            *eq = '\0';
            char key[CP_OPT_KEY_MAX + 8];
            snprintf(key, sizeof key, "label.%s", tok);
            n += judge_key(o, key, eq + 1, "CPROF_LABELS", s);
        }
        free(copy);
    }
    return n;
}

int cp_options_from_env(cp_options_t *o, cp_options_warn_fn warn, void *ud)
{
    cp_options_sink_t s = {warn, ud, NULL, NULL};
    return cp_options_from_env_to(o, &s);
}

static void fmt_dur(char *b, size_t n, int64_t ns)
{
    if (ns == 0) snprintf(b, n, "off");
    else if (ns % 1000000000LL == 0) snprintf(b, n, "%llds", (long long)(ns / 1000000000LL));
    else if (ns % 1000000LL == 0) snprintf(b, n, "%lldms", (long long)(ns / 1000000LL));
    else snprintf(b, n, "%lldus", (long long)(ns / 1000LL));
}

void cp_options_describe(const cp_options_t *o, const char *app, char *out, size_t outlen)
{
    char cpu[32], wall[32], flush[32];
    fmt_dur(cpu, sizeof cpu, o->cpu_ns);
    fmt_dur(wall, sizeof wall, o->wall_ns);
    fmt_dur(flush, sizeof flush, o->flush_ns);
    if (!app || !*app)
        app = o->app[0] ? o->app : "(auto)";
    snprintf(out, outlen, "relay=%s app=%s cpu=%s wall=%s flush=%s buffer=%lld labels=%u",
             o->relay, app, cpu, wall, flush, (long long)o->buffer_bytes, o->n_labels);
}
