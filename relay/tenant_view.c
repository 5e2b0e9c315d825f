/* tenant_view.c - the store's answers as one tenant sees them (tenant_view.h).
 *
 * Works on the JSON text the store produced (store_json.c), so the store
 * stays tenant-unaware: no SQL knows about tenants. Thread: any (pure). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "error.h"
#include "tenant_view.h"

/* Scans a JSON string starting at s (the opening quote) into out (escapes
 * decoded; \u00XX only). Returns the byte after the closing quote, or NULL. */
static const char *json_string(const char *s, const char *end, cp_buf_t *out)
{
    if (s >= end || *s != '"')
        return NULL;
    for (s++; s < end && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            if (++s >= end)
                return NULL;
            c = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
            if (*s == 'u') {
                if (end - s < 5)
                    return NULL;
                char hex[5] = {s[1], s[2], s[3], s[4], 0};
                c = (char)strtol(hex, NULL, 16);
                s += 4;
            }
        }
        cp_buf_append(out, &c, 1);
    }
    if (s >= end)
        return NULL;
    cp_buf_append(out, "", 1);
    return s + 1;
}

/* Objects of the apps array are found by bracket depth, skipping strings;
 * each must start with its "name" (the store writes it first). */
int cp_tenant_apps_json(const cp_buf_t *in, const char *tenant, cp_buf_t *out)
{
    const char *s = (const char *)in->data, *end = s + in->len;
    const char *arr = in->len ? strstr(s, "[") : NULL;
    if (!arr)
        return CP_EINVAL;
    cp_buf_printf(out, "{\"apps\":[");
    int kept = 0;
    for (const char *p = arr + 1; p < end;) {
        if (*p != '{') {
            if (*p == ']')
                break;
            p++;
            continue;
        }
        /* the object's extent, skipping strings */
        const char *o = p;
        int depth = 0;
        bool in_str = false;
        for (; p < end; p++) {
            if (in_str) {
                if (*p == '\\')
                    p++;
                else if (*p == '"')
                    in_str = false;
            } else if (*p == '"') {
                in_str = true;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if ((*p == '}' || *p == ']') && --depth == 0) {
                p++;
                break;
            }
        }
        static const char key[] = "{\"name\":";
        if (strncmp(o, key, sizeof key - 1))
            return CP_EINVAL;
        cp_buf_t name = CP_BUF_INIT;
        const char *after = json_string(o + sizeof key - 1, p, &name);
        const char *shown = after ? cp_auth_unqualify(tenant, (const char *)name.data) : NULL;
        if (shown) {
            cp_buf_printf(out, "%s{\"name\":", kept++ ? "," : "");
            cp_buf_json_str(out, shown, strlen(shown));
            cp_buf_append(out, after, (size_t)(p - after));
        }
        cp_buf_fini(&name);
        if (!after)
            return CP_EINVAL;
    }
    cp_buf_printf(out, "]}");
    return 0;
}

void cp_tenant_rename_app(const cp_buf_t *doc, const char *qapp, const char *app, cp_buf_t *out)
{
    cp_buf_t qj = CP_BUF_INIT, sj = CP_BUF_INIT;
    cp_buf_printf(&qj, "\"app\":");
    cp_buf_json_str(&qj, qapp, strlen(qapp));
    cp_buf_printf(&sj, "\"app\":");
    cp_buf_json_str(&sj, app, strlen(app));
    size_t run = 0;   /* bytes copied in one go between matches */
    for (size_t i = 0; i < doc->len;) {
        if (doc->len - i >= qj.len && !memcmp(doc->data + i, qj.data, qj.len)) {
            cp_buf_append(out, doc->data + i - run, run);
            cp_buf_append(out, sj.data, sj.len);
            i += qj.len;
            run = 0;
        } else {
            i++;
            run++;
        }
    }
    cp_buf_append(out, doc->data + doc->len - run, run);
    cp_buf_fini(&qj);
    cp_buf_fini(&sj);
}

void cp_tenant_err_text(char *err, size_t errlen, const char *qapp, const char *app)
{
    size_t ql = strlen(qapp);
    if (!ql || !strcmp(app, qapp) || !errlen)
        return;
    char out[512];
    size_t o = 0;
    for (const char *s = err; *s && o + 1 < sizeof out;) {
        if (!strncmp(s, qapp, ql)) {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", app);
            s += ql;
        } else {
            out[o++] = *s++;
        }
    }
    if (o >= sizeof out)
        o = sizeof out - 1;
    if (o >= errlen)
        o = errlen - 1;
    memcpy(err, out, o);
    err[o] = 0;
}
