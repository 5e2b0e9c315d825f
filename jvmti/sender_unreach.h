/* sender_unreach.h - saying, at the default log level, that the relay
 * cannot be reached: nothing the agent holds is lost in silence.
 *
 * The first failed connection attempt after start (or after the relay was
 * last reached) logs one warning with the relay's address and the reason;
 * while it stays unreachable, one line a minute says for how long, what
 * the agent holds and what it has dropped; when a connection succeeds
 * again, one line says so. A `relay=` value that is not a relay address
 * is reported the same way (no connection is attempted).
 *
 * Thread: the sender thread only (no locking). */
#ifndef CP_SENDER_UNREACH_H
#define CP_SENDER_UNREACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_UNREACH_REPEAT_MS (60 * 1000)

typedef struct cp_unreach {
    uint64_t since_ms;     /* first failure of this outage; 0: reachable (or not tried) */
    uint64_t logged_ms;    /* last line logged about it */
} cp_unreach_t;

/* What the agent holds and has dropped, for the repeated line. */
typedef struct cp_unreach_held {
    uint32_t batches;
    size_t   bytes;
    uint64_t samples;
    uint64_t dropped_samples;   /* drop.buffer_samples + drop.unacked_samples so far */
} cp_unreach_held_t;

/* A connection attempt to url failed (why: the reason, or NULL). Returns
 * true when it logged a line. */
bool cp_unreach_failed(cp_unreach_t *u, const char *url, const char *why, uint64_t now_ms,
                       const cp_unreach_held_t *held);
/* The relay at url welcomed the agent. */
void cp_unreach_connected(cp_unreach_t *u, const char *url, uint64_t now_ms);
/* NULL when url can be connected to (ws:// or wss:// with a host), else why not. */
const char *cp_unreach_bad_url(const char *url);

#endif
