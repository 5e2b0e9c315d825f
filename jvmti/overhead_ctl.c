/* overhead_ctl.c - the overhead budget's controller. See overhead_ctl.h for
 * the rule, why it stretches the kinds that cost and why it does not
 * oscillate.
 *
 * Thread: the caller serialises; no globals. */
#include "overhead_ctl.h"

#include <string.h>

#define K          CP_OVERHEAD_CTL_KINDS
#define HIGH_PCT   90   /* step up above this share of the budget */
#define TARGET_PCT 50   /* a step aims at this share */
#define MARGIN     1.25 /* a step down assumes sampling costs this much more (noise) */
#define RECENT     3    /* ticks since the last change that judge the present */
#define SETTLE_X   4    /* the tick after a change acts only above this many budgets */
#define MAX_DOWN   4    /* a step down shrinks an interval by at most this */
#define EVIDENCE_NS 3000000000ULL   /* a step up is judged on at least this much (unless far over) */
#define EXACT_EVIDENCE_NS 1000000000ULL   /* ... or this, when the costliest kind is measured exactly */
enum { KIND_CPU, KIND_WALL, KIND_ALLOC, KIND_LOCK };   /* overhead.h's order */
#define EXACT_KINDS ((1u << KIND_ALLOC) | (1u << KIND_LOCK))   /* every sample's callback is timed */
#define QUIET_NS   5000000000ULL    /* ... a step down on this much quiet (and QUIET_TICKS ticks) */
#define DEBT_NS    10000000000ULL   /* a first minute's debt is judged in its first 10 s */

static uint32_t pow2_floor(uint32_t x)
{
    uint32_t p = 1;
    while (x >= 2 * p && p < (1u << 30))
        p *= 2;
    return p;
}

void cp_overhead_ctl_set_max(cp_overhead_ctl_t *c, const uint32_t *max_scale)
{
    for (int k = 0; k < K; k++) {
        c->max_scale[k] = pow2_floor(max_scale && max_scale[k] ? max_scale[k] : 1);
        if (c->scale[k] > c->max_scale[k])
            c->scale[k] = c->max_scale[k];
    }
}

void cp_overhead_ctl_init(cp_overhead_ctl_t *c, uint32_t budget_ppm, const uint32_t *max_scale)
{
    memset(c, 0, sizeof *c);
    c->budget_ppm = budget_ppm;
    for (int k = 0; k < K; k++)
        c->scale[k] = 1;
    cp_overhead_ctl_set_max(c, max_scale);
}

/* The sums of the last n buckets (n <= filled), or, with n = 0, of the
 * buckets of the last minute. */
static cp_overhead_ctl_bucket_t recent(const cp_overhead_ctl_t *c, uint32_t n)
{
    cp_overhead_ctl_bucket_t s;
    memset(&s, 0, sizeof s);
    uint32_t lim = n ? n : c->filled;
    for (uint32_t i = 1; i <= lim; i++) {
        const cp_overhead_ctl_bucket_t *b = &c->b[(c->head + CP_OVERHEAD_CTL_BUCKETS - i) % CP_OVERHEAD_CTL_BUCKETS];
        if (!n && s.tick_ns >= CP_OVERHEAD_CTL_MINUTE_NS)
            break;
        s.agent_ns += b->agent_ns;
        s.oneoff_ns += b->oneoff_ns;
        s.proc_ns += b->proc_ns;
        s.denom_ns += b->denom_ns;
        s.tick_ns += b->tick_ns;
        for (int k = 0; k < K; k++)
            s.sampling_ns[k] += b->sampling_ns[k];
    }
    return s;
}

/* Kinds by cost, most expensive first (ties: cpu, wall, alloc, lock). */
static void by_cost(const double *cost, int *order)
{
    for (int i = 0; i < K; i++)
        order[i] = i;
    for (int i = 1; i < K; i++)
        for (int j = i; j > 0 && cost[order[j]] > cost[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* Step up: stretch the most expensive kinds until S <= room; full: the
 * judgement rests on 3 s of evidence or more; only: the one kind that may
 * be stretched (-1: any; a first minute's debt: overhead_ctl_tick). */
static void step_up(cp_overhead_ctl_t *c, const double *s, double total, double room, double target, bool full,
                    bool far, int only)
{
    int order[K];
    by_cost(s, order);
    for (int i = 0; i < K && total > room; i++) {
        int k = order[i];
        /* the kind's last step up (by 2 or more) did not halve its cost
         * (what is left is not the rate's: noise of a few probed handlers,
         * samples of threads that barely run): no further, unless the
         * sampling is far over. Not for alloc and lock: their cost is
         * timed sample by sample, so it is the rate's, and a step that did
         * not halve it met a rising rate (a loop the JIT compiled) or
         * costlier samples (sparse samples find their code and data cold:
         * 7 us each at 10,000 a second, 20-25 us at 300) */
        if (c->up_cost[k] > 0 && !far && s[k] >= c->up_cost[k] / 2 && !(EXACT_KINDS >> k & 1u))
            continue;
        /* beyond the costliest kind, one whose sampling costs less than
         * half the budget (the target) is not why the agent is over:
         * stretching it would lose its profile for what a costlier kind at
         * its bound still costs (a wall storm must not stretch cpu); nor
         * on less than 3 s of evidence (a far-over
         * tick right after a change or at start-up, whose drains resolve
         * the first names of whichever kind came first): few samples of a
         * kind in a short tick are noise (one probed handler counts 8) */
        if (s[k] <= room / 4 || (only >= 0 && k != only) || c->scale[k] >= c->max_scale[k] ||
            (i > 0 && only < 0 && (s[k] < target || !full)))
            continue;
        uint32_t lim = c->max_scale[k] / c->scale[k], f = 2;
        double rest = total - s[k];   /* what the other kinds cost */
        /* a kind is brought to a quarter of room at most: what a kind at
         * its bound still costs is not its fault */
        while (f < lim && rest + s[k] / f > room && s[k] / f > room / 4)
            f *= 2;
        c->scale[k] *= f;
        c->up_cost[k] = s[k];
        total = rest + s[k] / f;
    }
}

/* Step down: bring back the cheapest stretched kinds while 1.25 x S stays
 * within room. */
static void step_down(cp_overhead_ctl_t *c, const double *s, double total, double room)
{
    int order[K];
    by_cost(s, order);
    for (int i = K - 1; i >= 0; i--) {
        int k = order[i];
        if (c->scale[k] <= 1)
            continue;
        uint32_t f = MAX_DOWN < c->scale[k] ? MAX_DOWN : c->scale[k];
        while (f > 1 && (total + s[k] * (f - 1)) * MARGIN > room)
            f /= 2;
        if (f > 1) {
            c->scale[k] /= f;
            c->up_cost[k] = 0;   /* judged afresh */
            total += s[k] * (f - 1);
        }
    }
}

static bool any_stretched(const cp_overhead_ctl_t *c)
{
    for (int k = 0; k < K; k++)
        if (c->scale[k] > 1)
            return true;
    return false;
}

bool cp_overhead_ctl_tick(cp_overhead_ctl_t *c, uint64_t agent_ns, const uint64_t *sampling_ns, uint64_t proc_ns,
                          uint64_t tick_ns)
{
    uint64_t floor = tick_ns / 1000 * CP_OVERHEAD_CTL_FLOOR_PERMILLE;
    cp_overhead_ctl_bucket_t *b = &c->b[c->head];
    b->agent_ns = agent_ns;
    b->oneoff_ns = 0;
    b->proc_ns = proc_ns;
    b->denom_ns = proc_ns > floor ? proc_ns : floor;
    b->tick_ns = tick_ns;
    uint64_t left = agent_ns;   /* the kinds' sum is at most the agent's CPU */
    for (int k = 0; k < K; k++) {
        uint64_t v = sampling_ns ? sampling_ns[k] : 0;
        b->sampling_ns[k] = v < left ? v : left;
        left -= b->sampling_ns[k];
    }
    c->head = (c->head + 1) % CP_OVERHEAD_CTL_BUCKETS;
    if (c->filled < CP_OVERHEAD_CTL_BUCKETS)
        c->filled++;
    c->since_change++;
    if (!c->budget_ppm)
        return false;

    /* the ticks since the last change, the last RECENT of them, or more
     * if those cover less than EVIDENCE_NS (short start-up ticks) */
    uint32_t n = 0;
    uint64_t span = 0;
    while (n < c->since_change && n < c->filled && (n < RECENT || span < EVIDENCE_NS)) {
        span += c->b[(c->head + CP_OVERHEAD_CTL_BUCKETS - 1 - n) % CP_OVERHEAD_CTL_BUCKETS].tick_ns;
        n++;
    }
    cp_overhead_ctl_bucket_t r = recent(c, n);
    /* shares of the (floored) process CPU, as fractions */
    double d = r.denom_ns ? (double)r.denom_ns : 1, share = (double)r.agent_ns / d, s[K], total = 0;
    for (int k = 0; k < K; k++)
        total += c->judged[k] = s[k] = (double)r.sampling_ns[k] / d;
    double fixed = share - total, budget = c->budget_ppm / 1e6, target = budget * TARGET_PCT / 100;
    uint32_t old[K];
    memcpy(old, c->scale, sizeof old);

    /* what sampling may cost: the target less the fixed cost, but at least
     * half the target (fixed cost alone over it cannot be helped) */
    double room = target - fixed;
    if (room < target / 2)
        room = target / 2;
    /* the first minute: in its first 10 s (steps later than that would
     * leave a storm's profile unsettled for long), what the rest of it
     * may cost for the minute to hold, at the process' rate
     * of the recent ticks. A share over that (a costly start-up, the ticks
     * before the first steps) is a debt: the room shrinks by the excess
     * (to half the target at least) and a step up needs no more than that,
     * for the kind whose sampling cost the minute most, if it still costs
     * at least a quarter of the budget (a wall storm's debt never stretches
     * cpu); otherwise a storm just under the step-up line kept its start in the
     * first minute (1.12% once in a wall storm). Later minutes slide: the
     * recent share alone decides. */
    cp_overhead_ctl_bucket_t m = recent(c, 0);
    bool debt = false;
    int debtor = 0;
    for (int k = 1; k < K; k++)
        if (m.sampling_ns[k] > m.sampling_ns[debtor])
            debtor = k;
    if (m.tick_ns < DEBT_NS && r.tick_ns > 0 && s[debtor] >= target / 2) {
        double fut = (double)r.denom_ns / (double)r.tick_ns * (double)(CP_OVERHEAD_CTL_MINUTE_NS - m.tick_ns);
        double may = (budget * ((double)m.denom_ns + fut) - (double)m.agent_ns) / fut;
        /* over the step-up line, a step aims at the target anyway */
        if (share > may && share > target && share <= budget * HIGH_PCT / 100) {
            debt = true;
            room -= share - may;
            if (room < target / 2)
                room = target / 2;
        }
    }
    /* the first tick after a change straddles it (the old intervals ran
     * for part of it, the harvester drained their samples): judged only
     * when far over, that is when the sampling alone (not a burst of fixed
     * cost, such as a window's close) costs more than SETTLE_X / 2 budgets */
    bool far = total > budget * SETTLE_X / 2;
    bool settled = c->filled >= 2 && (c->since_change >= 2 || c->changes == 0 || far);
    /* a step up needs 3 s of evidence (few samples in a short tick
     * are noise: one probed handler counts 8 times), unless far over, or
     * 1 s when the costliest kind is one whose every sample is timed
     * (alloc, lock: exact, not probed), and then only it is stretched.
     * An allocation storm's loop allocates 40x faster once the JIT has
     * compiled it (0.6-1 GB/s, then 43 GB/s: BudgetStorm alloc); judged
     * on 3 s, alloc sampling cost 1.5% for 3 s after each rise. */
    int costliest = 0;
    for (int k = 1; k < K; k++)
        if (s[k] > s[costliest])
            costliest = k;
    bool full = span >= EVIDENCE_NS;
    bool quick = !full && span >= EXACT_EVIDENCE_NS && (EXACT_KINDS >> costliest & 1u);
    bool enough = full || far || quick;
    /* a step that worked (its kind's cost fell below half of what it was
     * judged at): a later rise is the program's rate, not noise the step
     * could not touch, so it is judged afresh (an alloc storm whose loop
     * allocated 13x more once warm stayed at 1.7% with no further step) */
    if (settled)
        for (int k = 0; k < K; k++)
            if (c->up_cost[k] > 0 && s[k] < c->up_cost[k] / 2)
                c->up_cost[k] = 0;
    if (!settled) {
        c->quiet = 0;
        c->quiet_ns = 0;
    } else if ((share > budget * HIGH_PCT / 100 || debt) && total > room) {
        c->quiet = 0;
        c->quiet_ns = 0;
        if (enough)
            step_up(c, s, total, room, target, full, far, debt ? debtor : -1);
    } else if (any_stretched(c) && total * MARGIN * 2 <= room) {
        c->quiet_ns += tick_ns;
        if (++c->quiet >= CP_OVERHEAD_CTL_QUIET_TICKS && c->quiet_ns >= QUIET_NS) {
            c->quiet = 0;
            c->quiet_ns = 0;
            step_down(c, s, total, room);
        }
    } else {
        c->quiet = 0;
        c->quiet_ns = 0;
    }
    bool changed = memcmp(old, c->scale, sizeof old) != 0;
    if (changed) {
        c->since_change = 0;
        c->changes++;
    } else if (c->filled == 1) {
        c->since_change = 0;   /* the start-up tick judges nothing after it either */
    }
    return changed;
}

void cp_overhead_ctl_add_oneoff(cp_overhead_ctl_t *c, uint64_t ns)
{
    if (c->filled)
        c->b[(c->head + CP_OVERHEAD_CTL_BUCKETS - 1) % CP_OVERHEAD_CTL_BUCKETS].oneoff_ns += ns;
}

uint32_t cp_overhead_ctl_max_scale(const cp_overhead_ctl_t *c)
{
    uint32_t m = 1;
    for (int k = 0; k < K; k++)
        if (c->scale[k] > m)
            m = c->scale[k];
    return m;
}

static uint32_t ppm_of(uint64_t part, uint64_t proc)
{
    if (!proc)
        return 0;
    double v = (double)part * 1e6 / (double)proc;
    return v > 4e9 ? 4000000000u : (uint32_t)(v + 0.5);
}

cp_overhead_ctl_bucket_t cp_overhead_ctl_minute(const cp_overhead_ctl_t *c)
{
    return recent(c, 0);
}

uint32_t cp_overhead_ctl_minute_ppm(const cp_overhead_ctl_t *c)
{
    cp_overhead_ctl_bucket_t r = recent(c, 0);
    return ppm_of(r.agent_ns + r.oneoff_ns, r.proc_ns);
}

uint32_t cp_overhead_ctl_minute_kind_ppm(const cp_overhead_ctl_t *c, int k)
{
    if (k < 0 || k >= K)
        return 0;
    cp_overhead_ctl_bucket_t r = recent(c, 0);
    return ppm_of(r.sampling_ns[k], r.proc_ns);
}

uint32_t cp_overhead_ctl_last_ppm(const cp_overhead_ctl_t *c)
{
    if (!c->filled)
        return 0;
    cp_overhead_ctl_bucket_t r = recent(c, 1);
    return ppm_of(r.agent_ns + r.oneoff_ns, r.proc_ns);
}
