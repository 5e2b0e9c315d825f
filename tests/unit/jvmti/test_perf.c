/* test_perf.c - jvmti/perf.c: a per-thread cpu-clock perf event delivers
 * the asked rate to the thread that burns CPU. Skips (passes with a note)
 * where perf events are not permitted (containers, perf_event_paranoid 3). */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "perf.h"

static volatile int g_hits, g_wrong_tid, g_tid;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)si; (void)uc;
    if ((int)syscall(SYS_gettid) != g_tid)
        g_wrong_tid++;
    g_hits++;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_perf_cpu_clock_delivers_the_asked_rate)
{
    const char *why = NULL;
    if (cp_perf_probe(&why) != 0) {
        fprintf(stderr, "# perf events not permitted here (%s): rate not tested\n", why);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMAX, &sa, NULL);
    g_tid = (int)syscall(SYS_gettid);
    int fd = cp_perf_open(g_tid, 1000000, SIGRTMAX);   /* 1 ms */
    ck_assert_int_ge(fd, 0);
    double t0 = thread_cpu_s();
    volatile double x = 0;
    while (thread_cpu_s() - t0 < 0.4)
        for (int i = 0; i < 10000; i++)
            x += i;
    double cpu = thread_cpu_s() - t0;
    cp_perf_close(fd);
    int hits = g_hits;
    double rate = hits / cpu;
    fprintf(stderr, "# perf cpu-clock 1ms: %d signals in %.3f CPU-s = %.0f Hz\n", hits, cpu, rate);
    ck_assert_msg(rate > 800 && rate < 1200, "rate %.0f Hz, asked 1000", rate);
    ck_assert_int_eq(g_wrong_tid, 0);
    /* closed: no more signals */
    int before = g_hits;
    t0 = thread_cpu_s();
    while (thread_cpu_s() - t0 < 0.05)
        x += 1;
    ck_assert_int_eq(g_hits, before);
}
END_TEST

START_TEST(test_perf_open_on_missing_thread_fails)
{
    const char *why;
    if (cp_perf_probe(&why) != 0)
        return;
    ck_assert_int_lt(cp_perf_open(0x3fffffff, 1000000, SIGRTMAX), 0);
    ck_assert_int_lt(cp_perf_open((int)syscall(SYS_gettid), 0, SIGRTMAX), 0);
    cp_perf_close(-1);   /* no-op */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("perf");
    TCase *tc = tcase_create("cpu_clock");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_perf_cpu_clock_delivers_the_asked_rate);
    tcase_add_test(tc, test_perf_open_on_missing_thread_fails);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
