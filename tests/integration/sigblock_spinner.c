/* sigblock_spinner.c - LD_PRELOAD helper of test_cpu_siglimits: a native
 * thread of the JVM's process that blocks every signal while it burns CPU,
 * as some native libraries do around critical sections. The agent arms a
 * CPU event for it like for any thread; the signals it cannot take stay
 * pending. Its constructor starts the thread, which waits
 * SPINNER_DELAY_MS (default 2000: the agent's thread scan has found it),
 * spins SPINNER_MS (default 3000) with all signals blocked, unblocks them
 * and exits; it prints SPINNER_DONE to stderr. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long env_ms(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v ? atol(v) : dflt;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void *spin(void *arg)
{
    (void)arg;
    usleep((useconds_t)env_ms("SPINNER_DELAY_MS", 2000) * 1000);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    volatile unsigned long x = 0;
    long long end = now_ms() + env_ms("SPINNER_MS", 3000);
    while (now_ms() < end)
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr, "SPINNER_DONE\n");
    return NULL;
}

__attribute__((constructor)) static void spinner_start(void)
{
    if (!getenv("SPINNER_MS"))
        return;   /* only in the test's JVM, not in its javac */
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, spin, NULL);
    pthread_attr_destroy(&a);
}
