/* sender_backoff.c - the sender's reconnect delays. See sender_backoff.h. */
#include "sender_backoff.h"

#include <stdlib.h>

#define N_MAX 16   /* the count stops growing long after the cap is reached */

void cp_backoff_init(cp_backoff_t *b, unsigned seed)
{
    b->n = 0;
    b->retry_after_ms = 0;
    b->rnd = seed;
}

void cp_backoff_reset(cp_backoff_t *b)
{
    b->n = 0;
}

void cp_backoff_refused(cp_backoff_t *b)
{
    b->n = 8;   /* 0.5 s x 2^8 is past the cap */
}

void cp_backoff_rate_limited(cp_backoff_t *b, uint32_t retry_after_ms)
{
    if (!retry_after_ms)
        retry_after_ms = 1000;
    b->retry_after_ms = retry_after_ms > CP_BACKOFF_RETRY_AFTER_MAX_MS ? CP_BACKOFF_RETRY_AFTER_MAX_MS
                                                                        : retry_after_ms;
}

uint32_t cp_backoff_next_ms(cp_backoff_t *b)
{
    uint32_t d;
    if (b->retry_after_ms) {   /* the relay's wait plus 0-50% jitter, no escalation */
        d = b->retry_after_ms + (uint32_t)rand_r(&b->rnd) % (b->retry_after_ms / 2 + 1);
        b->retry_after_ms = 0;
        b->n = 0;
    } else {
        d = CP_BACKOFF_MIN_MS;
        for (int i = 0; i < b->n && d < CP_BACKOFF_MAX_MS; i++)
            d *= 2;
        if (d > CP_BACKOFF_MAX_MS)
            d = CP_BACKOFF_MAX_MS;
        d = d / 2 + (uint32_t)rand_r(&b->rnd) % (d / 2 + 1);   /* 50-100% */
    }
    if (b->n < N_MAX)
        b->n++;
    return d;
}
