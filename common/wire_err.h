/* wire_err.h - error texts that say where, for the wire codec's modules.
 *
 * Private to common/wire*.c. A failed decode reports the CP_E* code of the
 * first malformation plus a short text saying where ("batch key 7: frame 3:
 * line is not an int"): the innermost reader writes the message with
 * cp__wire_fail(), each caller on the way out prepends its part of the
 * location with cp__wire_where(). Both format only on the error path.
 *
 * Thread: any; the text buffer belongs to the caller. */
#ifndef CP_WIRE_ERR_H
#define CP_WIRE_ERR_H

#include <stddef.h>

typedef struct cp__wire_err {
    char  *s;      /* caller's buffer, NULL = no text wanted */
    size_t n;      /* its size */
} cp__wire_err_t;

/* Record the text in e and evaluate to code. Macros, not functions, so
 * that the compiler sees the code every error path returns (a CP_E*
 * constant, never 0 at the call sites): a caller that reads outputs only on
 * success is then visibly correct to it too. */
#define cp__wire_fail(e, code, ...)  (cp__wire_errf((e), __VA_ARGS__), (code))
#define cp__wire_where(e, code, ...) (cp__wire_wheref((e), __VA_ARGS__), (code))

/* Writes the message into e. */
void cp__wire_errf(cp__wire_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "where: " to the message already in e. */
void cp__wire_wheref(cp__wire_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
