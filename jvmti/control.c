/* control.c - validation of the relay's `configure` control. See control.h.
 *
 * Each whitelisted key names its value type and the one cp_options_t field
 * it may change. A value is checked twice: first as a token (at most 31
 * characters of [A-Za-z0-9]: intervals "10ms", sizes "512k", "on", "perf"),
 * then by its type; only then does it go through the one options parser,
 * on a scratch copy, and only the key's own field is copied back. So even
 * a parser that accepted more than it should could not move anything else.
 * Thread: any (no globals). */
#include "control.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum ctl_type { CTL_DURATION, CTL_SIZE, CTL_ONOFF, CTL_ENUM };

static const struct ctl_key {
    const char *key;
    enum ctl_type type;
    const char *const *choices;   /* CTL_ENUM: NULL-terminated */
    size_t off, len;              /* the cp_options_t field it may change */
} ctl_keys[] = {
#define F(field) offsetof(cp_options_t, field), sizeof(((cp_options_t *)0)->field)
    {"cpu", CTL_DURATION, NULL, F(cpu_ns)},
    {"cpu.engine", CTL_ENUM, (const char *const[]){"auto", "perf", "timer", NULL}, F(cpu_engine)},
    {"cpu.native", CTL_ONOFF, NULL, F(cpu_native)},
    {"wall", CTL_DURATION, NULL, F(wall_ns)},
    {"flush", CTL_DURATION, NULL, F(flush_ns)},
    {"buffer", CTL_SIZE, NULL, F(buffer_bytes)},
#undef F
};

#define CTL_VALUE_MAX 32

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
        if (!isalnum((unsigned char)v[i]))
            return "not a plain value";
    int64_t x;
    switch (k->type) {
    case CTL_DURATION:
        return cp_options_parse_duration(v, &x) ? "not an interval" : NULL;
    case CTL_SIZE:
        return cp_options_parse_size(v, &x) ? "not a size" : NULL;
    case CTL_ONOFF:
        return strcmp(v, "on") && strcmp(v, "off") ? "expected on or off" : NULL;
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

int cp_control_configure(cp_options_t *o, const char *const *keys, const char *const *values, uint32_t n,
                         cp_options_warn_fn warn, void *ud)
{
    int refused = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *key = keys[i] ? keys[i] : "", *val = values[i] ? values[i] : "";
        const struct ctl_key *k = NULL;
        for (size_t j = 0; j < sizeof ctl_keys / sizeof ctl_keys[0]; j++)
            if (!strcmp(key, ctl_keys[j].key))
                k = &ctl_keys[j];
        const char *why = k ? check_value(k, val) : "the relay may not change this option";
        if (!why) {
            cp_options_t tmp = *o;
            char kv[CP_OPT_KEY_MAX + CTL_VALUE_MAX + 2];
            snprintf(kv, sizeof kv, "%s=%s", k->key, val);
            struct relay_warn w = {warn, ud, 0};
            cp_options_parse(&tmp, kv, count_warn, &w);
            if (w.n == 0) {
                memcpy((char *)o + k->off, (const char *)&tmp + k->off, k->len);
                continue;
            }
            why = "rejected by the option parser";
        }
        warnf(warn, ud, key, val, why);
        refused++;
    }
    return refused;
}
