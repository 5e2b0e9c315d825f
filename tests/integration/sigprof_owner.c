/* sigprof_owner.c - LD_PRELOAD helper for test_cpu_coexist: plays "another
 * profiler" that owns SIGPROF before the JVM and cprof start. Its
 * constructor installs a counting SIGPROF handler and arms ITIMER_PROF
 * (10 ms); its destructor prints OWNER_SIGPROF=<signals received> to
 * stderr. The test checks the owner kept receiving its signals while cprof
 * sampled on another signal. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static volatile sig_atomic_t g_hits;

static void on_prof(int sig)
{
    (void)sig;
    g_hits++;
}

__attribute__((constructor)) static void owner_start(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_PROF, &it, NULL);
}

__attribute__((destructor)) static void owner_stop(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &it, NULL);
    fprintf(stderr, "OWNER_SIGPROF=%d\n", (int)g_hits);
}
