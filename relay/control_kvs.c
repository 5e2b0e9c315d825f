/* control_kvs.c - the option pairs of fleet control (control_kvs.h): the
 * relay's whitelist of what a change may set, and the pairs' JSON. */
#include "control_kvs.h"

#include <stdio.h>
#include <string.h>

static const char *const KEYS[] = {"cpu", "wall", "alloc", "alloc.mode", "lock", "overhead", "flush", "python"};

uint32_t cp_ctl_kvs_view(const cp_ctl_kvs_t *s, cp_kv_t *kv)
{
    for (uint32_t i = 0; i < s->n; i++)
        kv[i] = (cp_kv_t){s->key[i], s->value[i]};
    return s->n;
}

bool cp_ctl_kvs_put(cp_ctl_kvs_t *s, const char *k, const char *v)
{
    uint32_t i = 0;
    while (i < s->n && strcmp(s->key[i], k))
        i++;
    if (i == s->n) {
        if (s->n == CP_CTL_KEYS_MAX)
            return false;
        s->n++;
    }
    snprintf(s->key[i], CP_CTL_VAL_MAX, "%s", k);
    snprintf(s->value[i], CP_CTL_VAL_MAX, "%s", v);
    return true;
}

void cp_ctl_kvs_del(cp_ctl_kvs_t *s, const char *k)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], k)) {
            memmove(s->key[i], s->key[i + 1], (s->n - i - 1) * sizeof s->key[0]);
            memmove(s->value[i], s->value[i + 1], (s->n - i - 1) * sizeof s->value[0]);
            s->n--;
            return;
        }
}

void cp_ctl_kvs_json(cp_buf_t *b, const cp_ctl_kvs_t *s)
{
    cp_buf_printf(b, "{");
    for (uint32_t i = 0; i < s->n; i++) {
        cp_buf_printf(b, "%s", i ? "," : "");
        cp_buf_json_str(b, s->key[i], strlen(s->key[i]));
        cp_buf_printf(b, ":");
        cp_buf_json_str(b, s->value[i], strlen(s->value[i]));
    }
    cp_buf_printf(b, "}");
}

const char *cp_ctl_kvs_from_json(const cp_json_t *o, cp_ctl_kvs_t *s, bool allow_empty)
{
    static char why[160];
    memset(s, 0, sizeof *s);
    if (!o || o->t != CP_JSON_OBJ)
        return "'set' must be an object of option -> value strings";
    for (size_t i = 0; i < o->n; i++) {
        const cp_json_t *m = &o->kids[i];
        bool known = false;
        for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++)
            known |= !strcmp(m->key, KEYS[k]);
        if (!known) {
            snprintf(why, sizeof why, "'set': '%.40s' cannot be changed from the relay (cpu, wall, alloc, "
                     "alloc.mode, lock, overhead, flush, python)", m->key);
            return why;
        }
        const char *v = m->t == CP_JSON_STR ? m->str : NULL;
        size_t n = v ? strlen(v) : 0;
        bool plain = v && n < CP_CTL_VAL_MAX && (n || allow_empty);
        for (size_t j = 0; plain && j < n; j++)
            plain = (v[j] >= '0' && v[j] <= '9') || (v[j] >= 'a' && v[j] <= 'z') || (v[j] >= 'A' && v[j] <= 'Z') ||
                    v[j] == '.' || v[j] == '%';
        if (!plain) {
            snprintf(why, sizeof why, "'set': '%s' needs a plain string value such as \"256k\", \"10ms\" "
                     "or \"off\" (at most %d letters, digits, '.' or '%%')", m->key, CP_CTL_VAL_MAX - 1);
            return why;
        }
        cp_ctl_kvs_put(s, m->key, v);
    }
    return s->n || allow_empty ? "" : "'set' names no option";
}

bool cp_ctl_kvs_equal(const cp_ctl_kvs_t *a, const cp_ctl_kvs_t *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (strcmp(a->key[i], b->key[i]) || strcmp(a->value[i], b->value[i]))
            return false;
    return true;
}
