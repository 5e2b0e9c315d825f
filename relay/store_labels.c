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

void cp_store_labels_canon(const cp_kv_t *kv, uint32_t n, cp_buf_t *canon, cp_buf_t *json)
{
    cp_kv_t *s = cp__xcalloc(n, sizeof *s);
    if (n)  /* kv may be NULL when there are no labels */
        memcpy(s, kv, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_kv);
    cp_buf_append(json, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        cp_buf_printf(canon, "%s%s=%s", i ? "," : "", s[i].key, s[i].value);
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

bool cp_store_labels_match(const char *canon, const char *filter)
{
    if (!filter || !*filter)
        return true;
    const char *f = filter;
    while (*f) {
        const char *end = strchr(f, ',');
        size_t n = end ? (size_t)(end - f) : strlen(f);
        if (n) {
            /* find "k=v" as a whole element of canon */
            bool found = false;
            const char *c = canon ? canon : "";
            while (*c) {
                const char *ce = strchr(c, ',');
                size_t cn = ce ? (size_t)(ce - c) : strlen(c);
                if (cn == n && !memcmp(c, f, n)) {
                    found = true;
                    break;
                }
                c += cn;
                if (*c == ',')
                    c++;
            }
            if (!found)
                return false;
        }
        f += n;
        if (*f == ',')
            f++;
    }
    return true;
}
