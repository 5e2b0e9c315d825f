/* bench_app.h - the simulated applications of scripts/bench-relay: per app
 * a call graph of N_METHODS methods, stacks as random walks of depth 15-40
 * through it, and K_WINDOWS window templates of PER_WINDOW distinct stacks,
 * ~90% from the app's known stacks (skewed to hot ones) and ~10% new ones
 * until the app has MAX_STACKS, so batches carry dictionary deltas for a
 * while, then values only. All agents of one app share its dictionary (as
 * JVMs running the same code do).
 *
 * Thread: the bench's main thread. */
#ifndef CP_BENCH_APP_H
#define CP_BENCH_APP_H

#include <stdint.h>

#include "stack_dict.h"

#define N_METHODS   4000
#define MAX_STACKS  5000
#define PER_WINDOW  300
#define K_WINDOWS   64          /* distinct window templates per app, cycled */

typedef struct win { uint32_t *stacks; uint64_t *vals; uint32_t n; } win_t;

typedef struct app {
    char             name[64];
    cp_stack_dict_t *dict;
    uint32_t         method_frame[N_METHODS];   /* frame id per method */
    uint16_t         callees[N_METHODS][4];
    win_t            win[K_WINDOWS];
    int              n_win;                     /* generated so far */
    uint64_t         rng;
} app_t;

/* xorshift64: the next pseudo-random number of state *s. */
uint64_t rng_next(uint64_t *s);
void     app_init(app_t *a, const char *name, uint64_t seed);
/* Window template k (< K_WINDOWS), generated on first use. */
win_t   *app_window(app_t *a, int k);

#endif
