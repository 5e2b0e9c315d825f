/* wire_err.c - error texts that say where (see wire_err.h).
 *
 * Thread: any; no global state. */
#include "wire_err.h"

#include <stdarg.h>
#include <stdio.h>

void cp__wire_errf(cp__wire_err_t *e, const char *fmt, ...)
{
    if (e->s && e->n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->s, e->n, fmt, ap);
        va_end(ap);
    }
}

void cp__wire_wheref(cp__wire_err_t *e, const char *fmt, ...)
{
    if (e->s && e->n) {
        char pre[128], old[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        snprintf(old, sizeof old, "%s", e->s);
        snprintf(e->s, e->n, "%s: %s", pre, old);
    }
}
