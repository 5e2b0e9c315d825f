/* test_overhead.c - jvmti/overhead.c: effective intervals within their
 * bounds, the memory budget's split, the state a batch carries, and a tick
 * that stretches the costly kind's interval and calls the agent back. */
#include <check.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "overhead.h"
#include "stats.h"

static cp_options_t opts(const char *s)
{
    cp_options_t o;
    cp_options_defaults(&o);
    ck_assert_int_eq(cp_options_parse(&o, s, NULL, NULL), 0);
    return o;
}

static uint64_t state_of(const char *name)
{
    cp_counter_t st[CP_OVERHEAD_STATE_MAX];
    uint32_t n = cp_overhead_state(st, CP_OVERHEAD_STATE_MAX);
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(st[i].name, name))
            return st[i].value;
    ck_abort_msg("no state %s", name);
    return 0;
}

START_TEST(test_overhead_configure_uses_asked_intervals_at_first)
{
    cp_options_t o = opts("cpu=1ms,wall=5ms,alloc=1k,lock=2ms");
    cp_overhead_configure(&o);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_CPU), 1000000);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_WALL), 5000000);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_ALLOC), 1024);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_LOCK), 2000000);
    ck_assert_uint_eq(cp_overhead_scale(), 1);
    ck_assert_uint_eq(state_of("overhead.budget_ppm"), 10000);   /* overhead=1% by default */
    ck_assert_uint_eq(state_of("interval.wall_ns"), 5000000);
    o = opts("cpu=10ms,wall=off,overhead=off");
    cp_overhead_configure(&o);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_WALL), 0);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_ALLOC), 0);
    ck_assert_uint_eq(state_of("overhead.budget_ppm"), 0);
}
END_TEST

START_TEST(test_overhead_memory_plan_stays_inside_the_budget)
{
    cp_options_t o = opts("memory=32m");
    int64_t buffer;
    size_t dict, ring = 4456448;
    cp_overhead_memory_plan(&o, ring, &buffer, &dict);
    ck_assert_int_eq(buffer, 8 << 20);                         /* buffer=8m fits a quarter */
    ck_assert_uint_eq(ring + (size_t)buffer + dict, 32u << 20);
    o = opts("memory=16m,buffer=64m");
    cp_overhead_memory_plan(&o, ring, &buffer, &dict);
    ck_assert_int_eq(buffer, 4 << 20);                         /* capped at a quarter */
    ck_assert_uint_le(ring + (size_t)buffer + dict, 16u << 20);
}
END_TEST

/* A fixed-cost job (a 10 ms scan of 2,000 threads) may use an eighth of
 * the budget: every 8 s on a JVM using a core, not at all with overhead=off. */
START_TEST(test_overhead_fixed_job_gets_an_eighth_of_the_budget)
{
    cp_options_t o = opts("overhead=1%");
    cp_overhead_configure(&o);
    ck_assert_uint_eq(cp_overhead_fixed_period_ns(10000000), 8000000000ULL);
    ck_assert_uint_eq(cp_overhead_fixed_period_ns(0), 0);
    o = opts("overhead=off");
    cp_overhead_configure(&o);
    ck_assert_uint_eq(cp_overhead_fixed_period_ns(10000000), 0);
}
END_TEST

static uint64_t fake_wall_signals_ns;
static uint64_t fake_signal_cost(cp_sigcost_kind_t k)
{
    return k == CP_SIGCOST_WALL ? fake_wall_signals_ns : 0;
}

/* The kernel's side of the wall signals is the wall kind's cost, not the
 * allocation's or lock's; its first value (the calibration's backlog) is
 * not a tick's cost. */
START_TEST(test_overhead_signal_cost_goes_to_its_kind)
{
    cp_options_t o = opts("cpu=10ms,wall=1ms,alloc=1k,lock=1ms,overhead=1%");
    cp_overhead_configure(&o);
    cp_overhead_set_signal_cost(fake_signal_cost);
    cp_overhead_tick(0);
    usleep(130000);
    cp_overhead_tick(0);
    fake_wall_signals_ns = 500000000;   /* the backlog at calibration */
    usleep(130000);
    cp_overhead_tick(0);
    ck_assert_uint_eq(state_of("overhead.minute_ppm.wall"), 0);
    fake_wall_signals_ns += 2000000;   /* 2 ms in the next tick */
    cp_stats_add(CP_ST_AGENT_THREADS_NS, 5000000);   /* and 5 ms of fixed cost */
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);   /* some process CPU to divide by */
    while ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) < 130000000LL);
    cp_overhead_tick(0);
    ck_assert_uint_gt(state_of("overhead.minute_ppm.wall"), 0);
    ck_assert_uint_eq(state_of("overhead.minute_ppm.alloc"), 0);
    ck_assert_uint_eq(state_of("overhead.minute_ppm.lock"), 0);
}
END_TEST

static int applied;
static bool apply(void)
{
    applied++;
    return true;
}

START_TEST(test_overhead_tick_stretches_the_costly_kind_within_bounds)
{
    cp_options_t o = opts("cpu=1ms,wall=1ms,alloc=1k,lock=2s,overhead=1%");
    cp_overhead_configure(&o);
    cp_overhead_set_apply(apply);
    ck_assert_uint_eq(cp_overhead_tick(0), 125000000);   /* the first call starts; ticks of 125 ms at start */
    usleep(130000);
    cp_overhead_tick(0);   /* the first tick (the JVM's start-up) judges nothing here */
    ck_assert_int_eq(applied, 0);
    /* a tick in which the CPU samples' handlers cost far more than the
     * process could have used: the controller must stretch cpu at once,
     * and only cpu */
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);   /* some process CPU to divide by */
    while ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) < 200000000LL);
    cp_stats_add(CP_ST_HANDLER_NS, 100000000);
    cp_stats_add(CP_ST_SAMPLING_CPU_NS, 100000000);
    usleep(100000);
    cp_overhead_tick(1234);
    ck_assert_int_eq(applied, 1);
    uint32_t k = cp_overhead_kind_scale(CP_OVERHEAD_CPU);
    ck_assert_uint_ge(k, 64);
    ck_assert_uint_eq(cp_overhead_scale(), k);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_CPU), k * 1000000LL > 1000000000LL ? 1000000000LL : k * 1000000LL);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_WALL), 1000000);   /* wall cost nothing: as asked */
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_ALLOC), 1024);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_LOCK), 2000000000LL);
    ck_assert_uint_eq(state_of("overhead.scale"), k);
    ck_assert_uint_eq(state_of("overhead.scale.cpu"), k);
    ck_assert_uint_eq(state_of("overhead.scale.wall"), 1);
    ck_assert_uint_gt(state_of("overhead.minute_ppm.cpu"), 10000);
    ck_assert_uint_eq(state_of("memory.used_bytes"), 1234);
    ck_assert_uint_gt(state_of("overhead.last_ppm"), 10000);
    /* a reconfiguration with the same budget keeps the controller's scales */
    cp_overhead_configure(&o);
    ck_assert_uint_eq(cp_overhead_kind_scale(CP_OVERHEAD_CPU), k);
    /* overhead=off: fixed intervals at once */
    o = opts("cpu=1ms,wall=1ms,alloc=1k,lock=2s,overhead=off");
    cp_overhead_configure(&o);
    ck_assert_int_eq(cp_overhead_interval(CP_OVERHEAD_CPU), 1000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overhead");
    TCase *tc = tcase_create("intervals");
    tcase_add_test(tc, test_overhead_configure_uses_asked_intervals_at_first);
    tcase_add_test(tc, test_overhead_memory_plan_stays_inside_the_budget);
    tcase_add_test(tc, test_overhead_fixed_job_gets_an_eighth_of_the_budget);
    tcase_add_test(tc, test_overhead_signal_cost_goes_to_its_kind);
    tcase_add_test(tc, test_overhead_tick_stretches_the_costly_kind_within_bounds);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
