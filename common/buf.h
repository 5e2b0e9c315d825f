/* buf.h - growable byte buffer (caller-owned struct).
 *
 * Not for signal handlers: grows with realloc. Thread: whoever owns it.
 * Invariant: len <= cap; data is NULL iff cap == 0. */
#ifndef CP_BUF_H
#define CP_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_buf {
    uint8_t *data;
    size_t   len;
    size_t   cap;
} cp_buf_t;

#define CP_BUF_INIT {NULL, 0, 0}

void cp_buf_init(cp_buf_t *b);
void cp_buf_fini(cp_buf_t *b);                 /* frees data; b reusable after init */
int  cp_buf_reserve(cp_buf_t *b, size_t extra); /* ensure cap >= len + extra; 0 or CP_ENOMEM */
int  cp_buf_append(cp_buf_t *b, const void *p, size_t n);
int  cp_buf_printf(cp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259 asks. */
int  cp_buf_json_str(cp_buf_t *b, const char *s, size_t n);
void cp_buf_reset(cp_buf_t *b);                /* len = 0, keeps memory */
/* Takes the bytes out: returns data (caller frees), leaves b empty. */
uint8_t *cp_buf_steal(cp_buf_t *b, size_t *len /* OUT */);

#endif
