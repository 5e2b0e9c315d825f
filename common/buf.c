/* buf.c - growable byte buffer. See buf.h. */
#include "buf.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cp_buf_init(cp_buf_t *b) { b->data = NULL; b->len = b->cap = 0; }

void cp_buf_fini(cp_buf_t *b)
{
    free(b->data);
    cp_buf_init(b);
}

void cp_buf_reset(cp_buf_t *b) { b->len = 0; }

int cp_buf_reserve(cp_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return CP_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return CP_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cp_buf_append(cp_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = cp_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int cp_buf_printf(cp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CP_EINVAL;
    int rc = cp_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int cp_buf_json_str(cp_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = cp_buf_reserve(b, n + 2);
    if (rc)
        return rc;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c == '\n') {
            esc[k++] = '\\'; esc[k++] = 'n';
        } else if (c == '\t') {
            esc[k++] = '\\'; esc[k++] = 't';
        } else if (c == '\r') {
            esc[k++] = '\\'; esc[k++] = 'r';
        } else if (c < 0x20 || c == 0x7f) {
            esc[k++] = '\\'; esc[k++] = 'u'; esc[k++] = '0'; esc[k++] = '0';
            esc[k++] = hex[c >> 4]; esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
        }
        if ((rc = cp_buf_append(b, esc, k)) != 0)
            return rc;
    }
    return cp_buf_append(b, "\"", 1);
}

uint8_t *cp_buf_steal(cp_buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    cp_buf_init(b);
    return p;
}
