/* sender_backoff.h - when the sender tries the relay again after a failed
 * or closed connection.
 *
 * Attempt n waits min(0.5 s x 2^n, 8 s), jittered to 50-100% of that, so
 * once a relay is back every agent of a fleet is sending within ~10 s and
 * they do not all arrive in the same second. A relay that says its tenant
 * is over budget (CP_ERATE) gives its own wait (retry_after, 1 s when it
 * gives none, capped at 120 s): that wait plus 0-50% jitter, and the
 * doubling starts again after it. A relay that refuses the agent outright
 * (a fatal error) is tried again only after the longest wait.
 *
 * Thread: the sender thread only (no locking). */
#ifndef CP_SENDER_BACKOFF_H
#define CP_SENDER_BACKOFF_H

#include <stdint.h>

#define CP_BACKOFF_MIN_MS         500
#define CP_BACKOFF_MAX_MS         8000
#define CP_BACKOFF_RETRY_AFTER_MAX_MS (120 * 1000)   /* cap on a relay's retry_after */

typedef struct cp_backoff {
    int      n;               /* attempts since the last reset */
    uint32_t retry_after_ms;  /* the relay's wait (CP_ERATE), for the next delay only */
    unsigned rnd;             /* rand_r state */
} cp_backoff_t;

/* Starts at attempt 0 with the jitter's seed. */
void cp_backoff_init(cp_backoff_t *b, unsigned seed);

/* Connected, or asked to connect now (new options): the next failure
 * waits the shortest time again. */
void cp_backoff_reset(cp_backoff_t *b);

/* The relay refused the agent (a fatal error other than CP_ERATE): the
 * next wait is the longest. */
void cp_backoff_refused(cp_backoff_t *b);

/* The relay is rate limiting (CP_ERATE) and asks for retry_after_ms (0: it
 * gave none, 1 s); the next wait is that, capped at 120 s. */
void cp_backoff_rate_limited(cp_backoff_t *b, uint32_t retry_after_ms);

/* The wait before the next attempt, in ms; counts the attempt. */
uint32_t cp_backoff_next_ms(cp_backoff_t *b);

#endif
