/* handler_malloc.c - LD_PRELOAD probe for test_agent_handler_malloc: counts
 * memory allocations made inside the agent's sampling signal handlers.
 *
 * - sigaction() is wrapped: a SA_SIGINFO handler installed for SIGPROF,
 *   SIGVTALRM or a real-time signal runs inside a wrapper that sets a
 *   thread-local flag around it (queries return the real handler, so the
 *   agent still recognises its own).
 * - malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign count calls
 *   made while the flag is set (glibc's ld.so allocates through the
 *   interposed malloc too, e.g. for a dynamic TLS block in __tls_get_addr).
 * - A constructor starts plain pthreads that burn CPU and never enter the
 *   JVM, so their first access to libjvm's TLS (if any) would happen in a
 *   handler: four threads in turn, ~1.2 s of CPU each.
 * At exit it prints "handler_malloc: N allocations inside signal handlers". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int in_handler __attribute__((tls_model("initial-exec")));
static atomic_ulong n_alloc;
static void (*real_handler[72])(int, siginfo_t *, void *);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void note(void) { if (in_handler) atomic_fetch_add(&n_alloc, 1); }
void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n);
void *memalign(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
    note();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}

static void wrapper(int sig, siginfo_t *si, void *uc)
{
    in_handler++;
    real_handler[sig](sig, si, uc);
    in_handler--;
}

static int watched(int sig) { return sig == SIGPROF || sig == SIGVTALRM || (sig >= SIGRTMIN && sig <= SIGRTMAX); }

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    int rc;
    if (act && watched(sig) && (act->sa_flags & SA_SIGINFO) && act->sa_sigaction != wrapper) {
        struct sigaction w = *act;
        void (*prev)(int, siginfo_t *, void *) = real_handler[sig];
        real_handler[sig] = act->sa_sigaction;
        w.sa_sigaction = wrapper;
        rc = real_sigaction(sig, &w, old);
        if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction == wrapper)
            old->sa_sigaction = prev;
        return rc;
    }
    rc = real_sigaction(sig, act, old);
    if (old && watched(sig) && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction == wrapper)
        old->sa_sigaction = real_handler[sig];
    return rc;
}

static void *burn(void *arg)
{
    (void)arg;
    struct timespec t;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 1000000; i++)
            x += (unsigned long)i * 2654435761u;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < 1200);
    return NULL;
}

static void *spawner(void *arg)
{
    (void)arg;
    sleep(2);   /* the JVM and the agent are up */
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, burn, NULL) == 0)
            pthread_join(t, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void start(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, spawner, NULL) == 0)
        pthread_detach(t);
}

__attribute__((destructor)) static void report(void)
{
    char b[96];
    int n = snprintf(b, sizeof b, "handler_malloc: %lu allocations inside signal handlers\n",
                     (unsigned long)atomic_load(&n_alloc));
    if (write(2, b, (size_t)n) < 0)
        return;
}
