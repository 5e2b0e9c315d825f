/* store_steps.c - the timeline's series object (store_steps.h).
 *
 * Thread: the owning query worker. */
#include "store_steps.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rutil.h"

void cp_store_steps_init(cp_store_steps_t *w, cp_buf_t *out, int64_t from, int64_t step, uint32_t n)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->from = from;
    w->step = step;
    w->n = n;
    w->sum = cp__xcalloc(n ? n : 1, sizeof *w->sum);
    w->cnt = cp__xcalloc(n ? n : 1, sizeof *w->cnt);
    cp_buf_append(out, "{", 1);
}

static void series_end(cp_store_steps_t *w)
{
    if (!w->cur)
        return;
    bool mean = strncmp(w->cur, "threads.", 8) == 0 || strncmp(w->cur, "heap.", 5) == 0;
    if (w->nseries++)
        cp_buf_append(w->out, ",", 1);
    cp_buf_json_str(w->out, w->cur, strlen(w->cur));
    cp_buf_append(w->out, ":[", 2);
    int np = 0;
    for (uint32_t j = 0; j < w->n; j++)
        if (w->cnt[j])
            cp_buf_printf(w->out, "%s[%lld,%.17g]", np++ ? "," : "",
                          (long long)((w->from + (int64_t)j * w->step) / 1000),
                          mean ? w->sum[j] / w->cnt[j] : w->sum[j]);
    cp_buf_append(w->out, "]", 1);
    memset(w->sum, 0, (w->n ? w->n : 1) * sizeof *w->sum);
    memset(w->cnt, 0, (w->n ? w->n : 1) * sizeof *w->cnt);
    free(w->cur);
    w->cur = NULL;
}

void cp_store_steps_name(cp_store_steps_t *w, const char *name)
{
    if (w->cur && !strcmp(w->cur, name))
        return;
    series_end(w);
    w->cur = cp__xstrdup(name);
}

void cp_store_steps_point(cp_store_steps_t *w, int64_t t_ms, double v)
{
    if (t_ms < w->from)
        return;
    uint64_t j = (uint64_t)((t_ms - w->from) / w->step);
    if (j < w->n) {
        w->sum[j] += v;
        w->cnt[j]++;
    }
}

void cp_store_steps_fini(cp_store_steps_t *w)
{
    series_end(w);
    cp_buf_append(w->out, "}", 1);
    free(w->sum);
    free(w->cnt);
    memset(w, 0, sizeof *w);
}
