/* store_labels.c - canonical label sets and filter matching (contract in
 * store_labels.h and store.h). Pure functions; any thread. */
#include "store_labels.h"

#include <stdlib.h>
#include <string.h>

#include "rutil.h"
#include "store.h"

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const cp_kv_t *)a)->key, ((const cp_kv_t *)b)->key);
}

/* Appends s with '\', ',' and '=' escaped by a backslash. */
static void put_escaped(cp_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == ',' || *s == '=')
            cp_buf_append(b, "\\", 1);
        cp_buf_append(b, s, 1);
    }
}

void cp_store_labels_canon(const cp_kv_t *kv, uint32_t n, cp_buf_t *canon, cp_buf_t *json)
{
    cp_kv_t *s = cp__xcalloc(n, sizeof *s);
    if (n)  /* kv may be NULL when there are no labels */
        memcpy(s, kv, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_kv);
    cp_buf_append(json, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            cp_buf_append(canon, ",", 1);
        put_escaped(canon, s[i].key);
        cp_buf_append(canon, "=", 1);
        put_escaped(canon, s[i].value);
        if (i)
            cp_buf_append(json, ",", 1);
        cp_buf_json_str(json, s[i].key, strlen(s[i].key));
        cp_buf_append(json, ":", 1);
        cp_buf_json_str(json, s[i].value, strlen(s[i].value));
    }
    cp_buf_append(json, "}", 1);
    cp_buf_append(canon, "", 1);
    canon->len--;
    cp_buf_append(json, "", 1);
    json->len--;
    free(s);
}

/* Length of the element at p: up to the first unescaped ',' or the end. */
static size_t elem_len(const char *p)
{
    size_t i = 0;
    while (p[i] && p[i] != ',') {
        if (p[i] == '\\' && p[i + 1])
            i++;
        i++;
    }
    return i;
}

/* Rewrites filter element f[0..n) in canonical form into out: the key up
 * to the first unescaped '=', the value after it; in both, escaped
 * characters stay escaped (a needless escape is dropped) and in the value
 * a bare '=' is escaped. Returns the length (out holds at least 2n+1). */
static size_t elem_canon(const char *f, size_t n, char *out)
{
    size_t o = 0;
    bool in_value = false;
    for (size_t i = 0; i < n; i++) {
        char ch = f[i];
        if (ch == '\\' && i + 1 < n) {
            ch = f[++i];
            if (ch == '\\' || ch == ',' || ch == '=')
                out[o++] = '\\';
            out[o++] = ch;
        } else if (ch == '=') {
            if (in_value)
                out[o++] = '\\';
            in_value = true;
            out[o++] = '=';
        } else {
            out[o++] = ch;
        }
    }
    return o;
}

bool cp_store_labels_match(const char *canon, const char *filter)
{
    if (!filter || !*filter)
        return true;
    char small[512], *buf = small;
    size_t cap = sizeof small;
    bool ok = true;
    for (const char *f = filter; *f && ok;) {
        size_t n = elem_len(f);
        if (n) {
            if (2 * n + 1 > cap) {
                if (buf != small)
                    free(buf);
                cap = 2 * n + 1;
                buf = cp__xrealloc(NULL, cap);
            }
            size_t fn = elem_canon(f, n, buf);
            /* find it as a whole element of canon */
            ok = false;
            for (const char *c = canon ? canon : ""; *c && !ok;) {
                size_t cn = elem_len(c);
                if (cn == fn && !memcmp(c, buf, fn))
                    ok = true;
                c += cn;
                if (*c == ',')
                    c++;
            }
        }
        f += n;
        if (*f == ',')
            f++;
    }
    if (buf != small)
        free(buf);
    return ok;
}

void cp_store_labels_each(const char *canon, cp_store_labels_fn fn, void *ud)
{
    const char *p = canon;
    while (p && *p) {
        size_t n = elem_len(p);
        char *k = cp__xcalloc(n + 1, 1), *v = cp__xcalloc(n + 1, 1), *o = k;
        bool in_value = false;
        for (size_t i = 0; i < n; i++) {
            char ch = p[i];
            if (ch == '\\' && i + 1 < n) {
                *o++ = p[++i];
            } else if (ch == '=' && !in_value) {
                *o = '\0';
                o = v;
                in_value = true;
            } else {
                *o++ = ch;
            }
        }
        *o = '\0';
        fn(ud, k, v);
        free(k);
        free(v);
        p += n;
        if (*p == ',')
            p++;
    }
}
