/* error.h - cprof error codes, shared by agent, relay and CLI.
 *
 * Functions return 0 on success or a negative CP_E* code (libuv style).
 * cp_strerror() never returns NULL and is async-signal-safe (static table). */
#ifndef CP_ERROR_H
#define CP_ERROR_H

#define CP_ERRORS(X)                                                        \
    X(CP_ENOMEM,      -1,  "out of memory")                                 \
    X(CP_EINVAL,      -2,  "invalid argument")                              \
    X(CP_ETRUNC,      -3,  "message truncated")                             \
    X(CP_ETOOBIG,     -4,  "message or field over its size limit")          \
    X(CP_EMAGIC,      -5,  "bad magic: not a cprof message")                \
    X(CP_EVERSION,    -6,  "unsupported protocol version")                  \
    X(CP_EKIND,       -7,  "unknown message kind")                          \
    X(CP_EZLIB,       -8,  "corrupt compressed payload")                    \
    X(CP_ETYPE,       -9,  "field has the wrong msgpack type")              \
    X(CP_EMISSING,    -10, "required field missing")                        \
    X(CP_EDANGLING,   -11, "reference to an unknown dictionary id")         \
    X(CP_EGAP,        -12, "dictionary delta out of order")                 \
    X(CP_ELIMIT,      -13, "count or dictionary size over its limit")       \
    X(CP_ENEST,       -14, "nesting too deep")                              \
    X(CP_ETRAILING,   -15, "trailing bytes after message")                  \
    X(CP_EMSGPACK,    -16, "malformed msgpack")                             \
    X(CP_ERANGE,      -17, "value out of range")                            \
    X(CP_EIO,         -18, "I/O error")                                     \
    X(CP_ENOTFOUND,   -19, "not found")                                     \
    X(CP_EDB,         -20, "database error")                                \
    X(CP_EUNSUPP,     -21, "not supported")                                 \
    X(CP_ETIMEOUT,    -22, "timed out")                                     \
    X(CP_EPERM,       -23, "permission denied")                             \
    X(CP_ESTATE,      -24, "invalid state")                                 \
    X(CP_ERATE,       -25, "rate limited, retry later")                     \
    X(CP_EUNAVAIL,    -26, "storage unavailable, retry later")

enum {
#define CP__ERR_ENUM(name, val, msg) name = (val),
    CP_ERRORS(CP__ERR_ENUM)
#undef CP__ERR_ENUM
};

/* Human-readable text for a CP_E* code (or "unknown error").
 * Async-signal-safe: returns a pointer into a static table. */
const char *cp_strerror(int code);
/* Symbolic name, e.g. "CP_EDANGLING". */
const char *cp_errname(int code);

#endif
