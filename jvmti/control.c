/* control.c - validation of the relay's `configure` control. See control.h.
 *
 * Each whitelisted key names its value type, its bounds and the one
 * cp_options_t field it may change. A value is checked three times: first
 * as a token (at most 31 characters of [A-Za-z0-9]: intervals "10ms", sizes
 * "512k", "on", "perf"), then by its type and bounds; only then does it go
 * through the one options parser, on a scratch copy, and only the key's
 * own field is copied back. So even a parser that accepted more than it
 * should could not move anything else.
 * Thread: any (no globals). */
#include "control.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctl_type { CTL_DURATION, CTL_SIZE, CTL_ONOFF, CTL_ENUM, CTL_PERCENT };

#define US 1000LL
#define MS 1000000LL
#define SEC 1000000000LL

static const struct ctl_key {
    const char *key;
    enum ctl_type type;
    const char *const *choices;   /* CTL_ENUM: NULL-terminated */
    size_t off, len;              /* the cp_options_t field it may change */
    int64_t lo, hi;               /* CTL_DURATION (ns) / CTL_SIZE (bytes): bounds of a value
                                     that is not "off" */
    bool may_off;                 /* "off" (0) is allowed */
} ctl_keys[] = {
#define F(field) offsetof(cp_options_t, field), sizeof(((cp_options_t *)0)->field)
    {"cpu", CTL_DURATION, NULL, F(cpu_ns), 100 * US, 10 * SEC, true},
    {"cpu.engine", CTL_ENUM, (const char *const[]){"auto", "perf", "timer", NULL}, F(cpu_engine), 0, 0, false},
    {"cpu.native", CTL_ONOFF, NULL, F(cpu_native), 0, 0, false},
    {"wall", CTL_DURATION, NULL, F(wall_ns), 1 * MS, 10 * SEC, true},
    {"alloc", CTL_SIZE, NULL, F(alloc_bytes), 1 << 10, 1LL << 30, true},
    {"alloc.mode", CTL_ENUM, (const char *const[]){"sample", "instrument", NULL}, F(alloc_mode), 0, 0, false},
    {"lock", CTL_DURATION, NULL, F(lock_ns), 10 * US, 10 * SEC, true},
    {"overhead", CTL_PERCENT, NULL, F(overhead_ppm), 0, 0, true},   /* bounds: the option parser's */
    {"flush", CTL_DURATION, NULL, F(flush_ns), 1 * SEC, 600 * SEC, false},
    {"buffer", CTL_SIZE, NULL, F(buffer_bytes), 64 << 10, 1LL << 30, false},
    {"python", CTL_ENUM, (const char *const[]){"off", "on", "children", NULL}, F(python), 0, 0, false},
#undef F
};

#define CTL_VALUE_MAX CP_CONTROL_VALUE_MAX

static void warnf(cp_options_warn_fn warn, void *ud, const char *key, const char *val, const char *why)
{
    char line[256];
    snprintf(line, sizeof line, "cprof: warning: relay configure '%.48s=%.64s' refused: %s", key,
             val, why);
    if (warn)
        warn(ud, line);
}

static const char *check_value(const struct ctl_key *k, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= CTL_VALUE_MAX)
        return "empty or too long";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !(k->type == CTL_PERCENT && (v[i] == '.' || v[i] == '%')))
            return "not a plain value";
    int64_t x;
    switch (k->type) {
    case CTL_DURATION:
    case CTL_SIZE:
        if (k->type == CTL_DURATION ? cp_options_parse_duration(v, &x) : cp_options_parse_size(v, &x))
            return k->type == CTL_DURATION ? "not an interval" : "not a size";
        if (x == 0)
            return k->may_off ? NULL : "may not be off";
        return x < k->lo || x > k->hi ? "out of bounds" : NULL;
    case CTL_ONOFF:
        return strcmp(v, "on") && strcmp(v, "off") ? "expected on or off" : NULL;
    case CTL_PERCENT: {
        if (!strcmp(v, "off"))
            return NULL;
        char *end;
        double d = strtod(v, &end);
        return end == v || strcmp(end, "%") || !(d > 0) ? "not a percentage (e.g. 1% or off)" : NULL;
    }
    case CTL_ENUM:
        for (const char *const *c = k->choices; *c; c++)
            if (!strcmp(v, *c))
                return NULL;
        return "not one of the allowed values";
    }
    return "unknown type";
}

/* Counts the parser's warnings (relayed to the caller's callback). */
struct relay_warn { cp_options_warn_fn warn; void *ud; int n; };

static void count_warn(void *ud, const char *line)
{
    struct relay_warn *w = ud;
    w->n++;
    if (w->warn)
        w->warn(w->ud, line);
}

static const struct ctl_key *find_key(const char *key)
{
    for (size_t j = 0; j < sizeof ctl_keys / sizeof ctl_keys[0]; j++)
        if (!strcmp(key, ctl_keys[j].key))
            return &ctl_keys[j];
    return NULL;
}

const char *cp_control_set(cp_options_t *o, const char *key, const char *val, cp_options_warn_fn warn, void *ud)
{
    key = key ? key : "";
    val = val ? val : "";
    const struct ctl_key *k = find_key(key);
    const char *why = k ? check_value(k, val) : "the relay may not change this option";
    if (!why) {
        cp_options_t tmp = *o;
        char kv[CP_OPT_KEY_MAX + CTL_VALUE_MAX + 2];
        snprintf(kv, sizeof kv, "%s=%s", k->key, val);
        struct relay_warn w = {warn, ud, 0};
        cp_options_parse(&tmp, kv, count_warn, &w);
        if (w.n == 0) {
            memcpy((char *)o + k->off, (const char *)&tmp + k->off, k->len);
            return NULL;
        }
        why = "rejected by the option parser";
    }
    warnf(warn, ud, key, val, why);
    return why;
}

void cp_control_copy_fields(cp_options_t *dst, const cp_options_t *src)
{
    for (size_t j = 0; j < sizeof ctl_keys / sizeof ctl_keys[0]; j++)
        memcpy((char *)dst + ctl_keys[j].off, (const char *)src + ctl_keys[j].off, ctl_keys[j].len);
}

int cp_control_configure(cp_options_t *o, const char *const *keys, const char *const *values, uint32_t n,
                         cp_options_warn_fn warn, void *ud)
{
    int refused = 0;
    for (uint32_t i = 0; i < n; i++)
        refused += cp_control_set(o, keys[i], values[i], warn, ud) != NULL;
    return refused;
}

static void fmt_dur(char *b, size_t n, int64_t ns)
{
    if (ns <= 0)
        snprintf(b, n, "off");
    else if (ns % SEC == 0)
        snprintf(b, n, "%llds", (long long)(ns / SEC));
    else if (ns % MS == 0)
        snprintf(b, n, "%lldms", (long long)(ns / MS));
    else if (ns % US == 0)
        snprintf(b, n, "%lldus", (long long)(ns / US));
    else
        snprintf(b, n, "%lldns", (long long)ns);
}

static void fmt_size(char *b, size_t n, int64_t v)
{
    if (v <= 0)
        snprintf(b, n, "off");
    else if (v % (1LL << 30) == 0)
        snprintf(b, n, "%lldg", (long long)(v >> 30));
    else if (v % (1LL << 20) == 0)
        snprintf(b, n, "%lldm", (long long)(v >> 20));
    else if (v % (1LL << 10) == 0)
        snprintf(b, n, "%lldk", (long long)(v >> 10));
    else
        snprintf(b, n, "%lld", (long long)v);
}

uint32_t cp_control_effective(const cp_options_t *o, char values[][CP_CONTROL_VALUE_MAX], const char **keys,
                              uint32_t max)
{
    static const char *const shown[] = {"cpu", "wall", "alloc", "alloc.mode", "lock", "flush", "overhead", "python"};
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof shown / sizeof shown[0] && n < max; i++, n++) {
        keys[n] = shown[i];
        char *v = values[n];
        switch (i) {
        case 0: fmt_dur(v, CP_CONTROL_VALUE_MAX, o->cpu_ns); break;
        case 1: fmt_dur(v, CP_CONTROL_VALUE_MAX, o->wall_ns); break;
        case 2: fmt_size(v, CP_CONTROL_VALUE_MAX, o->alloc_bytes); break;
        case 3: snprintf(v, CP_CONTROL_VALUE_MAX, "%.31s", o->alloc_mode[0] ? o->alloc_mode : "sample"); break;
        case 4: fmt_dur(v, CP_CONTROL_VALUE_MAX, o->lock_ns); break;
        case 5: fmt_dur(v, CP_CONTROL_VALUE_MAX, o->flush_ns); break;
        case 7:
            snprintf(v, CP_CONTROL_VALUE_MAX, "%s", o->python == CP_PY_SPARK ? "on" : o->python == CP_PY_CHILDREN ?
                     "children" : "off");
            break;
        default:
            if (o->overhead_ppm <= 0)
                snprintf(v, CP_CONTROL_VALUE_MAX, "off");
            else
                snprintf(v, CP_CONTROL_VALUE_MAX, "%g%%", (double)o->overhead_ppm / 10000.0);
            break;
        }
    }
    return n;
}
