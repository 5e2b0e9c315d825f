/* bench_app.c - the simulated applications of scripts/bench-relay
 * (bench_app.h).
 *
 * Thread: the bench's main thread. */
#include "bench_app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

void app_init(app_t *a, const char *name, uint64_t seed)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->dict = cp_stack_dict_create();
    a->rng = seed;
    char cls[128], meth[64];
    uint32_t empty, sid;
    cp_stack_dict_intern_string(a->dict, "", 0, &empty);
    for (int m = 0; m < N_METHODS; m++) {
        int pkg = m / 200, c = m / 8;
        snprintf(cls, sizeof cls, "com.bench.%s.pkg%d.Class%d", name, pkg, c);
        snprintf(meth, sizeof meth, m == 0 ? "run" : "method%d", m % 8);
        cp_frame_t f = {0, 0, empty, 10 + m % 300, (uint8_t)(m % 3 == 0 ? CP_FRAME_INLINED : CP_FRAME_COMPILED)};
        cp_stack_dict_intern_string(a->dict, cls, strlen(cls), &f.class_id);
        cp_stack_dict_intern_string(a->dict, meth, strlen(meth), &f.method_id);
        cp_stack_dict_intern_frame(a->dict, &f, &a->method_frame[m]);
        for (int k = 0; k < 4; k++)   /* callees go "deeper" mostly, sometimes sideways */
            a->callees[m][k] = (uint16_t)((m + 1 + rng_next(&a->rng) % 300) % N_METHODS);
    }
    (void)sid;
}

/* A new random stack: a walk from method 0. */
static uint32_t new_stack(app_t *a)
{
    uint32_t fr[64], n = 0, m = 0, depth = 15 + (uint32_t)(rng_next(&a->rng) % 26), id;
    while (n < depth) {
        fr[n++] = a->method_frame[m];
        m = a->callees[m][rng_next(&a->rng) % 4];
    }
    cp_stack_dict_intern_stack(a->dict, fr, n, &id);
    return id;
}

win_t *app_window(app_t *a, int k)
{
    while (a->n_win <= k) {
        win_t *w = &a->win[a->n_win++];
        w->stacks = calloc(PER_WINDOW, sizeof *w->stacks);
        w->vals = calloc(PER_WINDOW, sizeof *w->vals);
        for (int i = 0; i < PER_WINDOW; i++) {
            uint32_t have = cp_stack_dict_stacks(a->dict);
            uint64_t r = rng_next(&a->rng);
            uint32_t s;
            if (have < 20 || (have < MAX_STACKS && r % 10 == 0))
                s = new_stack(a);
            else {   /* skewed towards low ids (hot stacks) */
                double u = (double)(rng_next(&a->rng) % 1000000) / 1e6;
                s = (uint32_t)(pow(u, 2.5) * have);
                if (s >= have)
                    s = have - 1;
            }
            w->stacks[w->n] = s;
            w->vals[w->n] = (1 + rng_next(&a->rng) % 50) * 10000000ULL;   /* 10 ms samples */
            w->n++;
        }
    }
    return &a->win[k];
}

