/* otlp_query.c - format=otlp with request context (otlp_query.h).
 *
 * Where it sits: api_query.c (a query worker) -> two store reads -> the
 * OTLP encoder (otlp.h) -> the answer body.
 *
 * Why two reads and not one: trace entries are kept apart from the window
 * rows (store_trace.h: one row per trace and window, no label set), so a
 * link is attached after the fact to the samples of the same stack, the
 * label set holding the most of it first (cp_otlp_link). Links cannot add
 * value: an entry whose stack holds less than the entry (a labels= filter
 * left it out, or the range is partly read from aggregates, which have no
 * trace entries) links only what is there.
 *
 * Thread: the caller's (a query worker with its own reader). */
#include "otlp_query.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "otlp.h"

typedef struct qctx {
    cp_otlp_t          *o;
    const cp_profile_t *p;       /* the merged profile (complete when rows arrive) */
    cp_otlp_meta_t      meta;
    bool                begun;
    uint64_t            linked, offered;
} qctx_t;

static int add_row(void *ud, const cp_store_window_t *w)
{
    qctx_t *c = ud;
    if (!c->begun) {
        cp_otlp_begin(c->o, &c->meta, c->p);
        c->begun = true;
    }
    for (uint32_t k = 0; k < w->n; k++)
        cp_otlp_sample(c->o, w->stacks[k], w->labels, w->values[k]);
    return 0;
}

static void add_link(void *ud, const cp_store_trace_entry_t *e)
{
    qctx_t *c = ud;
    cp_otlp_link_t l = {e->hi, e->lo, e->span, e->names, e->kinds, e->funcs, e->n, e->value};
    c->offered += e->value;
    c->linked += cp_otlp_link(c->o, &l);
}

int cp_otlp_query(cp_store_reader_t *rd, const cp_store_query_t *q, const char *shown, cp_buf_t *out,
                  char *err, size_t errlen)
{
    cp_profile_t p;
    qctx_t c = {.o = cp_otlp_create(), .p = &p,
                .meta = {.app = shown, .type = q->type, .from_ms = q->from_ms, .to_ms = q->to_ms}};
    int rc = cp_store_profile_windows(rd, q, CP_STORE_WINDOWS_BY_LSET, &p, add_row, &c, err, errlen);
    if (!rc) {
        if (!c.begun)
            cp_otlp_begin(c.o, &c.meta, &p);   /* no rows: one empty profile */
        if (p.n_stacks) {
            rc = cp_store_trace_entries(rd, q, add_link, &c, err, errlen);
            if (rc == CP_EUNSUPP)
                rc = 0;   /* an engine without trace entries: samples without links */
        }
        cp_otlp_end(c.o);
    }
    if (!rc && cp_otlp_write(c.o, out)) {
        snprintf(err, errlen, "otlp encoding failed");
        rc = CP_ENOMEM;
    }
    cp_profile_free(&p);
    cp_otlp_destroy(c.o);
    return rc;
}
