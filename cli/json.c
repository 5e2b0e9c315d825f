/* json.c - the CLI's small JSON reader. See json.h.
 * Recursive descent over a NUL-terminated string; strings are unescaped
 * (\uXXXX to UTF-8, surrogate pairs not joined). Thread: any. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

typedef cp_json_t jv_t;

static const char *jws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *jparse(const char *p, jv_t *v, int depth);

static const char *jstring(const char *p, char **out)
{
    cp_buf_t b = CP_BUF_INIT;
    p++;
    while (*p && *p != '"') {
        if (*p == '\\') {
            p++;
            char c = *p;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'r') c = '\r';
            else if (c == 'b') c = '\b';
            else if (c == 'f') c = '\f';
            else if (c == 'u') {
                unsigned cp = 0;
                if (sscanf(p + 1, "%4x", &cp) != 1) {
                    cp_buf_fini(&b);
                    return NULL;
                }
                p += 4;
                char u[4];
                int n = 0;
                if (cp < 0x80) u[n++] = (char)cp;
                else if (cp < 0x800) { u[n++] = (char)(0xC0 | (cp >> 6)); u[n++] = (char)(0x80 | (cp & 0x3F)); }
                else { u[n++] = (char)(0xE0 | (cp >> 12)); u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                       u[n++] = (char)(0x80 | (cp & 0x3F)); }
                cp_buf_append(&b, u, (size_t)n);
                p++;
                continue;
            }
            cp_buf_append(&b, &c, 1);
            p++;
        } else {
            cp_buf_append(&b, p++, 1);
        }
    }
    if (*p != '"') {
        cp_buf_fini(&b);
        return NULL;
    }
    cp_buf_append(&b, "", 1);
    *out = (char *)cp_buf_steal(&b, NULL);
    return p + 1;
}

static const char *jparse(const char *p, jv_t *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > 64)
        return NULL;
    p = jws(p);
    if (*p == '{' || *p == '[') {
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        v->t = obj ? CP_JSON_OBJ : CP_JSON_ARR;
        p = jws(p + 1);
        size_t cap = 0;
        if (*p == close)
            return p + 1;
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                jv_t *k = realloc(v->kids, cap * sizeof *v->kids);
                if (!k)
                    return NULL;
                v->kids = k;
            }
            char *key = NULL;
            if (obj) {
                p = jws(p);
                if (*p != '"' || !(p = jstring(p, &key)))
                    return NULL;
                p = jws(p);
                if (*p++ != ':') {
                    free(key);
                    return NULL;
                }
            }
            if (!(p = jparse(p, &v->kids[v->n], depth + 1))) {
                free(key);
                return NULL;
            }
            v->kids[v->n++].key = key;
            p = jws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == close)
                return p + 1;
            return NULL;
        }
    }
    if (*p == '"') {
        v->t = CP_JSON_STR;
        return jstring(p, &v->str);
    }
    if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        v->t = CP_JSON_BOOL;
        v->num = *p == 't';
        return p + (*p == 't' ? 4 : 5);
    }
    if (!strncmp(p, "null", 4)) {
        v->t = CP_JSON_NULL;
        return p + 4;
    }
    char *e;
    v->t = CP_JSON_NUM;
    v->num = strtod(p, &e);
    return e == p ? NULL : e;
}

void cp_json_free(jv_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->kids[i].key);
        cp_json_free(&v->kids[i]);
    }
    free(v->kids);
    free(v->str);
}

const jv_t *cp_json_get(const jv_t *o, const char *k)
{
    if (!o || o->t != CP_JSON_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (o->kids[i].key && !strcmp(o->kids[i].key, k))
            return &o->kids[i];
    return NULL;
}
double cp_json_num(const jv_t *o, const char *k)
{
    const jv_t *v = cp_json_get(o, k);
    return v && v->t == CP_JSON_NUM ? v->num : 0;
}
const char *cp_json_str(const jv_t *o, const char *k)
{
    const jv_t *v = cp_json_get(o, k);
    return v && v->t == CP_JSON_STR ? v->str : "";
}

bool cp_json_parse(const char *text, cp_json_t *v)
{
    const char *e = jparse(text, v, 0);
    return e && !*jws(e);
}
