/* control_sync.c - the thread that reads the fleet control state from the
 * store every second and hands it to the service thread (control_sync.h).
 *
 * Handover: one slot under a mutex; a newer snapshot replaces one the
 * service thread has not taken yet (only the newest matters), so a slow
 * service thread never makes the queue grow. Each read is bounded (5 s) so
 * a hung database cannot hold the thread past stop for long. */
#include "control_sync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "relay.h"
#include "rutil.h"

#define READ_LIMIT_MS 5000

static struct {
    pthread_t         th;
    bool              started;
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    bool              stop;       /* under mu */
    void             *ready;      /* under mu: the snapshot not taken yet */
    cp_store_reader_t *rd;        /* the thread's */
    cp__ctl_read_fn   read;
    cp__ctl_drop_fn   drop;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sync_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&S.mu);
    while (!S.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CP_CTL_SYNC_MS / 1000;
        until.tv_nsec += (long)(CP_CTL_SYNC_MS % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&S.cv, &S.mu, &until);
        if (S.stop)
            break;
        pthread_mutex_unlock(&S.mu);
        cp_store_reader_set_limit(S.rd, mono_ms() + READ_LIMIT_MS, NULL);
        void *snap = S.read(S.rd, cp__now_ms());
        pthread_mutex_lock(&S.mu);
        if (!snap)
            continue;
        void *old = S.ready;
        S.ready = snap;
        if (old)
            S.drop(old);
        cp_done_t *d = cp__xcalloc(1, sizeof *d);
        d->kind = CP_DONE_CONTROL;
        cp__done_post(d);   /* done_mu: nobody takes S.mu while holding it */
    }
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

int cp__control_sync_start(const char *where, cp__ctl_read_fn read, cp__ctl_drop_fn drop)
{
    int rc = cp_store_reader_open(where, &S.rd);
    if (rc)
        return rc;
    S.read = read;
    S.drop = drop;
    S.stop = false;
    if (pthread_create(&S.th, NULL, sync_main, NULL)) {
        cp_store_reader_close(S.rd);
        S.rd = NULL;
        return CP_ENOMEM;
    }
    S.started = true;
    return 0;
}

void cp__control_sync_stop(void)
{
    if (!S.started)
        return;
    pthread_mutex_lock(&S.mu);
    S.stop = true;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mu);
    pthread_join(S.th, NULL);
    S.started = false;
    cp_store_reader_close(S.rd);
    S.rd = NULL;
    if (S.ready)
        S.drop(S.ready);
    S.ready = NULL;
}

void *cp__control_sync_take(void)
{
    pthread_mutex_lock(&S.mu);
    void *snap = S.ready;
    S.ready = NULL;
    pthread_mutex_unlock(&S.mu);
    return snap;
}
