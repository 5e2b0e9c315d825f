/* jitter.h - the gap to a sampler's next look: 0.5-1.5 intervals, mean one.
 *
 * A sampler that looks exactly every interval sees work that repeats with
 * that period (a 10 ms tick, a scheduled task) in one phase only: a
 * Python worker busy in the first half of every 10 ms had 0.0% of the
 * profile for half of its CPU. Each sample weighs the time since the
 * previous look (the step returned here), so the totals stay right.
 * State: any nonzero-or-zero seed, one per sampler thread (an LCG).
 * Thread: the caller's; async-signal-safe (pure arithmetic). */
#ifndef CP_JITTER_H
#define CP_JITTER_H

#include <stdint.h>

/* The next gap for interval iv (ns): uniform in [iv/2, iv/2 + iv]. */
static inline uint64_t cp_jitter_step(uint64_t *state, uint64_t iv)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return iv / 2 + (*state >> 11) % (iv + 1);    /* 53 bits: any interval */
}

#endif
