/* store_steps.h - the timeline's "series" object, shared by every store
 * engine: series points read in name order, summed per step (counters,
 * durations) or averaged per step (gauges: threads.*, heap.*), written as
 * {"name":[[t_s,v],...],...} (docs/api.md). A name whose points were all
 * filtered out still appears, with no points.
 *
 * Thread: the owning query worker. */
#ifndef CP_RELAY_STORE_STEPS_H
#define CP_RELAY_STORE_STEPS_H

#include <stdint.h>

#include "buf.h"

typedef struct cp_store_steps {
    cp_buf_t *out;
    int64_t   from, step;
    uint32_t  n;
    double   *sum;
    uint32_t *cnt;
    char     *cur;
    int       nseries;
} cp_store_steps_t;

/* Starts the object in out: n steps of step ms from `from`. */
void cp_store_steps_init(cp_store_steps_t *w, cp_buf_t *out, int64_t from, int64_t step, uint32_t n);
/* The next row's series name (rows come in name order). */
void cp_store_steps_name(cp_store_steps_t *w, const char *name);
/* A point of the current series (outside the steps: ignored). */
void cp_store_steps_point(cp_store_steps_t *w, int64_t t_ms, double v);
/* Ends the last series and the object; frees w's memory. */
void cp_store_steps_fini(cp_store_steps_t *w);

#endif
