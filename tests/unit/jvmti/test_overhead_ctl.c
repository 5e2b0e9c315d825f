/* test_overhead_ctl.c - jvmti/overhead_ctl.c: the overhead budget's
 * controller, driven by a simulated agent whose sampling cost falls in
 * proportion to the scale (the model overhead_ctl.h assumes), with noise. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "overhead_ctl.h"

#define TICK 1000000000ULL   /* 1 s */
#define PPM(x) ((uint32_t)((x) * 10000))   /* percent -> ppm */

/* A JVM using proc_ms of CPU a second; the agent's sampling costs
 * sampling_pct of it at scale 1 (divided by the scale), plus fixed_pct. */
typedef struct plant {
    double proc_ms, sampling_pct, fixed_pct, noise;   /* noise: +- fraction on sampling */
    unsigned seed;
} plant_t;

static double frand(unsigned *seed)
{
    return (double)rand_r(seed) / RAND_MAX;
}

/* One tick of the plant at the controller's scale; returns the share (%). */
static double step(cp_overhead_ctl_t *c, plant_t *p)
{
    double proc = p->proc_ms * 1e6;
    double n = 1 + p->noise * (2 * frand(&p->seed) - 1);
    double sampling = proc * p->sampling_pct / 100 / c->scale * n, fixed = proc * p->fixed_pct / 100;
    cp_overhead_ctl_tick(c, (uint64_t)(sampling + fixed), (uint64_t)sampling, (uint64_t)proc, TICK);
    return (sampling + fixed) * 100 / proc;
}

START_TEST(test_overhead_ctl_off_keeps_intervals)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, 0, 1024);
    plant_t p = {1000, 40, 1, 0, 1};
    for (int i = 0; i < 30; i++)
        step(&c, &p);
    ck_assert_uint_eq(c.scale, 1);
    ck_assert_uint_eq(c.changes, 0);
    /* the share is still measured and reported */
    ck_assert_uint_gt(cp_overhead_ctl_minute_ppm(&c), PPM(40));
}
END_TEST

START_TEST(test_overhead_ctl_converges_under_budget_within_three_ticks)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1024);
    plant_t p = {1000, 30, 0.1, 0, 1};   /* wall=1ms on many threads: 30% */
    double share = step(&c, &p);
    ck_assert(share > 1);
    ck_assert_uint_eq(c.scale, 1);   /* the agent's first tick (start-up) is not judged */
    for (int i = 0; i < 2; i++)
        share = step(&c, &p);
    ck_assert_msg(share <= 0.9, "share %.3f%% after 3 ticks (scale %u)", share, c.scale);
    uint32_t scale = c.scale;
    uint64_t changes = c.changes;
    for (int i = 0; i < 120; i++) {
        share = step(&c, &p);
        ck_assert_msg(share <= 0.9, "tick %d: share %.3f%%", i, share);
    }
    ck_assert_uint_eq(c.scale, scale);      /* steady load: no further change */
    ck_assert_uint_eq(c.changes, changes);
    ck_assert_uint_le(cp_overhead_ctl_minute_ppm(&c), PPM(1));
}
END_TEST

START_TEST(test_overhead_ctl_noise_does_not_make_it_oscillate)
{
    for (unsigned seed = 1; seed <= 20; seed++) {
        cp_overhead_ctl_t c;
        cp_overhead_ctl_init(&c, PPM(1), 1 << 16);
        plant_t p = {1000, 5 + seed * 3, 0.2, 0.2, seed};   /* +-20% noise */
        for (int i = 0; i < 10; i++)
            step(&c, &p);
        uint64_t changes = c.changes;
        double worst = 0;
        for (int i = 0; i < 300; i++) {
            double s = step(&c, &p);
            if (s > worst)
                worst = s;
        }
        ck_assert_msg(c.changes - changes <= 1, "seed %u: %llu changes in 300 ticks of a steady load", seed,
                      (unsigned long long)(c.changes - changes));
        ck_assert_msg(worst <= 1.0, "seed %u: share reached %.3f%%", seed, worst);
    }
}
END_TEST

START_TEST(test_overhead_ctl_rates_return_when_load_falls)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1 << 16);
    plant_t p = {1000, 50, 0.1, 0, 1};
    for (int i = 0; i < 10; i++)
        step(&c, &p);
    ck_assert_uint_ge(c.scale, 64);
    p.sampling_pct = 0.05;   /* the storm is over */
    int ticks = 0;
    while (c.scale > 1 && ticks < 120) {
        step(&c, &p);
        ticks++;
    }
    ck_assert_msg(c.scale == 1, "scale %u after %d quiet ticks", c.scale, ticks);
    ck_assert_msg(ticks <= 30, "took %d ticks to return to the asked intervals", ticks);
}
END_TEST

/* A storm that costs nothing measurable at long intervals (few samples)
 * and much at short ones: the way back is gradual, so the controller does
 * not jump from the bound to the asked intervals and back. */
START_TEST(test_overhead_ctl_steps_down_at_most_four_times)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1 << 16);
    plant_t p = {1000, 40, 0.1, 0, 1};
    for (int i = 0; i < 10; i++)
        step(&c, &p);
    uint32_t high = c.scale;
    ck_assert_uint_ge(high, 64);
    p.sampling_pct = 0;   /* nothing measured at the long intervals */
    uint32_t prev = c.scale;
    for (int i = 0; i < 12; i++) {
        step(&c, &p);
        ck_assert_msg(c.scale * 4 >= prev, "stepped down from x%u to x%u at once", prev, c.scale);
        prev = c.scale;
    }
    ck_assert_uint_lt(c.scale, high);
}
END_TEST

START_TEST(test_overhead_ctl_step_down_keeps_share_under_target)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1 << 16);
    plant_t p = {1000, 60, 0.1, 0, 1};
    for (int i = 0; i < 10; i++)
        step(&c, &p);
    p.sampling_pct = 6;   /* a tenth of the load: the rates come back part way */
    double worst = 0;
    for (int i = 0; i < 100; i++) {
        double s = step(&c, &p);
        if (i > 3 && s > worst)
            worst = s;
    }
    ck_assert_msg(worst <= 0.9, "share %.3f%% after stepping down", worst);
    ck_assert_uint_lt(c.scale, 64);
}
END_TEST

START_TEST(test_overhead_ctl_fixed_cost_over_budget_does_not_starve_sampling)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1 << 16);
    plant_t p = {1000, 0.1, 2, 0, 1};   /* class loading storm: 2% fixed, sampling tiny */
    for (int i = 0; i < 30; i++)
        step(&c, &p);
    ck_assert_uint_eq(c.scale, 1);   /* sampling less would not help */
    p.sampling_pct = 5;
    for (int i = 0; i < 30; i++)
        step(&c, &p);
    /* sampling brought to at most half the 0.5% target, not to the bound */
    double sampling = 5.0 / c.scale;
    ck_assert_msg(sampling <= 0.25 && sampling > 0.125, "sampling %.4f%% at scale %u", sampling, c.scale);
}
END_TEST

START_TEST(test_overhead_ctl_scale_stays_within_max)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 100);   /* rounded down to 64 */
    ck_assert_uint_eq(c.max_scale, 64);
    plant_t p = {1000, 500, 0, 0, 1};
    for (int i = 0; i < 20; i++)
        step(&c, &p);
    ck_assert_uint_eq(c.scale, 64);
    cp_overhead_ctl_set_max(&c, 8);
    ck_assert_uint_eq(c.scale, 8);
}
END_TEST

START_TEST(test_overhead_ctl_idle_jvm_is_judged_against_a_floor)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, PPM(1), 1024);
    /* 2 ms of process CPU a second, the agent's 0.5 ms of it sampling:
     * 25% of the process, but 0.5% of the 0.1-core floor */
    for (int i = 0; i < 20; i++)
        cp_overhead_ctl_tick(&c, 500000, 500000, 2000000, TICK);
    ck_assert_uint_eq(c.scale, 1);
    ck_assert_uint_eq(cp_overhead_ctl_last_ppm(&c), 250000);   /* reported unfloored */
}
END_TEST

START_TEST(test_overhead_ctl_minute_share_covers_sixty_ticks)
{
    cp_overhead_ctl_t c;
    cp_overhead_ctl_init(&c, 0, 1);
    cp_overhead_ctl_tick(&c, 90000000, 0, 1000000000, TICK);   /* 9% */
    for (int i = 0; i < 59; i++)
        cp_overhead_ctl_tick(&c, 0, 0, 1000000000, TICK);
    ck_assert_uint_eq(cp_overhead_ctl_minute_ppm(&c), 1500);   /* 9% / 60 */
    cp_overhead_ctl_tick(&c, 0, 0, 1000000000, TICK);         /* the 9% tick leaves the minute */
    ck_assert_uint_eq(cp_overhead_ctl_minute_ppm(&c), 0);
    ck_assert_uint_eq(cp_overhead_ctl_last_ppm(&c), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overhead_ctl");
    TCase *tc = tcase_create("budget");
    tcase_add_test(tc, test_overhead_ctl_off_keeps_intervals);
    tcase_add_test(tc, test_overhead_ctl_converges_under_budget_within_three_ticks);
    tcase_add_test(tc, test_overhead_ctl_fixed_cost_over_budget_does_not_starve_sampling);
    tcase_add_test(tc, test_overhead_ctl_scale_stays_within_max);
    tcase_add_test(tc, test_overhead_ctl_idle_jvm_is_judged_against_a_floor);
    tcase_add_test(tc, test_overhead_ctl_minute_share_covers_sixty_ticks);
    suite_add_tcase(s, tc);
    TCase *st = tcase_create("stability");
    tcase_add_test(st, test_overhead_ctl_noise_does_not_make_it_oscillate);
    tcase_add_test(st, test_overhead_ctl_rates_return_when_load_falls);
    tcase_add_test(st, test_overhead_ctl_step_down_keeps_share_under_target);
    tcase_add_test(st, test_overhead_ctl_steps_down_at_most_four_times);
    suite_add_tcase(s, st);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
