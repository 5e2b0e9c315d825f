/* overhead_ctl.c - the overhead budget's controller. See overhead_ctl.h for
 * the rule and why it does not oscillate.
 *
 * Thread: the caller serialises; no globals. */
#include "overhead_ctl.h"

#include <string.h>

#define HIGH_PCT   90   /* step up above this share of the budget */
#define TARGET_PCT 50   /* a step aims at this share */
#define MARGIN     1.25 /* a step down assumes sampling costs this much more (noise) */
#define RECENT     3    /* ticks since the last change that judge the present */
#define SETTLE_X   4    /* the tick after a change acts only above this many budgets */
#define MAX_DOWN   4    /* a step down shrinks the intervals by at most this */

static uint32_t pow2_floor(uint32_t x)
{
    uint32_t p = 1;
    while (x >= 2 * p && p < (1u << 30))
        p *= 2;
    return p;
}

void cp_overhead_ctl_init(cp_overhead_ctl_t *c, uint32_t budget_ppm, uint32_t max_scale)
{
    memset(c, 0, sizeof *c);
    c->budget_ppm = budget_ppm;
    c->max_scale = pow2_floor(max_scale ? max_scale : 1);
    c->scale = 1;
}

void cp_overhead_ctl_set_max(cp_overhead_ctl_t *c, uint32_t max_scale)
{
    c->max_scale = pow2_floor(max_scale ? max_scale : 1);
    if (c->scale > c->max_scale)
        c->scale = c->max_scale;
}

/* Sums of the last n buckets (n <= filled). */
static void recent(const cp_overhead_ctl_t *c, uint32_t n, uint64_t *agent, uint64_t *sampling, uint64_t *proc,
                   uint64_t *denom)
{
    *agent = *sampling = *proc = *denom = 0;
    for (uint32_t i = 1; i <= n; i++) {
        uint32_t k = (c->head + CP_OVERHEAD_CTL_MINUTE - i) % CP_OVERHEAD_CTL_MINUTE;
        *agent += c->agent_ns[k];
        *sampling += c->sampling_ns[k];
        *proc += c->proc_ns[k];
        *denom += c->denom_ns[k];
    }
}

uint32_t cp_overhead_ctl_tick(cp_overhead_ctl_t *c, uint64_t agent_ns, uint64_t sampling_ns, uint64_t proc_ns,
                              uint64_t tick_ns)
{
    uint64_t floor = tick_ns / 1000 * CP_OVERHEAD_CTL_FLOOR_PERMILLE;
    c->agent_ns[c->head] = agent_ns;
    c->sampling_ns[c->head] = sampling_ns < agent_ns ? sampling_ns : agent_ns;
    c->proc_ns[c->head] = proc_ns;
    c->denom_ns[c->head] = proc_ns > floor ? proc_ns : floor;
    c->head = (c->head + 1) % CP_OVERHEAD_CTL_MINUTE;
    if (c->filled < CP_OVERHEAD_CTL_MINUTE)
        c->filled++;
    c->since_change++;
    if (!c->budget_ppm)
        return c->scale;

    uint64_t a, smp, p, d;
    uint32_t n = c->since_change < RECENT ? c->since_change : RECENT;
    recent(c, n, &a, &smp, &p, &d);
    /* shares of the (floored) process CPU, as fractions */
    double share = (double)a / (double)d, sampling = (double)smp / (double)d, fixed = share - sampling;
    double budget = c->budget_ppm / 1e6, target = budget * TARGET_PCT / 100;
    uint32_t old = c->scale;

    /* what sampling may cost: the target less the fixed cost, but at least
     * half the target (fixed cost alone over it cannot be helped) */
    double room = target - fixed;
    if (room < target / 2)
        room = target / 2;
    /* the first tick after a change straddles it (the old intervals ran
     * for part of it, the harvester drained their samples): judged only
     * when the share is far over the budget */
    bool settled = c->filled >= 2 && (c->since_change >= 2 || c->changes == 0 || share > budget * SETTLE_X);
    if (!settled) {
        c->quiet = 0;
    } else if (share > budget * HIGH_PCT / 100 && sampling > room) {
        c->quiet = 0;
        uint32_t f = 2;   /* the smallest power of two with sampling / f <= room */
        while (sampling / f > room && f < (1u << 30))
            f *= 2;
        uint64_t s = (uint64_t)c->scale * f;
        c->scale = s > c->max_scale ? c->max_scale : (uint32_t)s;
    } else if (c->scale > 1 && sampling * MARGIN * 2 <= room) {
        if (++c->quiet >= CP_OVERHEAD_CTL_QUIET_TICKS) {
            c->quiet = 0;
            /* the largest power of two with MARGIN x sampling x f <= room */
            double ratio = sampling > 0 ? room / (sampling * MARGIN) : (double)c->scale;
            uint32_t f = pow2_floor(ratio > 1e9 ? 1000000000u : (uint32_t)ratio);
            if (f > MAX_DOWN)   /* few samples measure little: come back gradually */
                f = MAX_DOWN;
            c->scale = c->scale / f > 1 ? c->scale / f : 1;
        }
    } else {
        c->quiet = 0;
    }
    if (c->scale != old) {
        c->since_change = 0;
        c->changes++;
    } else if (c->filled == 1) {
        c->since_change = 0;   /* the start-up tick judges nothing after it either */
    }
    return c->scale;
}

static uint32_t ppm_of(uint64_t agent, uint64_t proc)
{
    if (!proc)
        return 0;
    double v = (double)agent * 1e6 / (double)proc;
    return v > 4e9 ? 4000000000u : (uint32_t)(v + 0.5);
}

uint32_t cp_overhead_ctl_minute_ppm(const cp_overhead_ctl_t *c)
{
    uint64_t a, smp, p, d;
    recent(c, c->filled, &a, &smp, &p, &d);
    return ppm_of(a, p);
}

uint32_t cp_overhead_ctl_last_ppm(const cp_overhead_ctl_t *c)
{
    uint64_t a, smp, p, d;
    recent(c, c->filled ? 1 : 0, &a, &smp, &p, &d);
    return ppm_of(a, p);
}
