/* control_run.c - relay controls applied to the running agent; timed
 * changes ended by the agent's own clock. See control_run.h.
 *
 * State (run_mu): the layers, and the ids of changes that ended while the
 * lifecycle lock was busy (acked once the apply went through). next_end
 * mirrors the layers' earliest end so the harvester's tick costs one
 * atomic load when nothing is due.
 * Thread: see control_run.h. */
#include "control_run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "control_layers.h"
#include "error.h"
#include "harvest.h"
#include "log.h"
#include "sender_acks.h"

#define MAX_OPTS 32

static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_ctl_layers_t layers;                 /* run_mu */
static char ended_ids[CP_CTL_MAX_CHANGES][CP_CTL_ID_MAX];   /* run_mu: ended, not acked yet */
static uint32_t n_ended;
static _Atomic uint64_t next_end;              /* earliest end, 0 = none */
static atomic_bool apply_due;                  /* an apply was put off (lock busy) */
static cp_control_run_apply_fn apply_fn;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "next_end is read on every harvester tick");

void cp_control_run_init(cp_control_run_apply_fn apply)
{
    pthread_mutex_lock(&run_mu);
    apply_fn = apply;
    pthread_mutex_unlock(&run_mu);
}

void cp_control_run_layer(const cp_options_t *base, cp_options_t *out)
{
    pthread_mutex_lock(&run_mu);
    cp_ctl_layers_apply(&layers, base, out);
    pthread_mutex_unlock(&run_mu);
}

/* run_mu held. */
static void publish_end(void)
{
    atomic_store_explicit(&next_end, cp_ctl_layers_next_end(&layers), memory_order_relaxed); /* a hint; run_mu orders the layers */
}

/* Sends a control_ack: what happened to change `id`, and the settings now
 * in force. */
static void ack(const char *id, const char *event, const cp_kv_t *applied, uint32_t n_applied,
                const cp_kv_t *refused, uint32_t n_refused, const cp_options_t *eff, uint64_t until_ms)
{
    char vals[8][CP_CONTROL_VALUE_MAX];
    const char *keys[8];
    cp_kv_t e[8];
    uint32_t ne = eff ? cp_control_effective(eff, vals, keys, 8) : 0;
    for (uint32_t i = 0; i < ne; i++)
        e[i] = (cp_kv_t){keys[i], vals[i]};
    cp_control_ack_t a = {.id = id, .event = event, .applied = applied, .n_applied = n_applied,
                          .refused = refused, .n_refused = n_refused, .effective = e, .n_effective = ne,
                          .until_ms = until_ms, .t_ms = cp_now_ms()};
    int rc = cp_sender_acks_push(&a);
    if (rc)
        CP_LOGW("control %s: cannot queue its acknowledgement: %s", id, cp_strerror(rc));
}

static void warn_line(void *ud, const char *line)
{
    (void)ud;
    CP_LOGW("%s", line + (strncmp(line, "cprof: warning: ", 16) ? 0 : 16));
}

bool cp_control_run_message(const cp_control_t *c)
{
    bool configure = !strcmp(c->command, "configure"), revert = !strcmp(c->command, "revert");
    if (!configure && !revert)
        return false;
    const char *id = c->id ? c->id : "";
    cp_kv_t applied[MAX_OPTS], refused[MAX_OPTS];
    const char *ak[MAX_OPTS], *av[MAX_OPTS];
    uint32_t na = 0, nr = 0;
    uint64_t until = 0;
    if (configure) {
        cp_options_t scratch;
        cp_options_defaults(&scratch);
        for (uint32_t i = 0; i < c->n_options && i < MAX_OPTS; i++) {
            const cp_kv_t *kv = &c->options[i];
            const char *why = cp_control_set(&scratch, kv->key, kv->value, warn_line, NULL);
            if (why) {
                refused[nr++] = (cp_kv_t){kv->key, why};
            } else {
                applied[na] = *kv;
                ak[na] = kv->key;
                av[na] = kv->value;
                na++;
            }
        }
        for (uint32_t i = MAX_OPTS; i < c->n_options && nr < MAX_OPTS; i++)
            refused[nr++] = (cp_kv_t){c->options[i].key, "too many options in one control"};
    }
    bool defaults = configure && c->scope && !strcmp(c->scope, "defaults");
    if (configure && !defaults && c->for_ms)
        until = cp_now_ms() + c->for_ms;
    pthread_mutex_lock(&run_mu);
    char dropped[CP_CTL_ID_MAX] = "";
    bool ended = false;
    if (revert)
        cp_ctl_layers_remove(&layers, id);
    else if (defaults)
        cp_ctl_layers_set_defaults(&layers, ak, av, na);
    else if (na)
        ended = cp_ctl_layers_add(&layers, id, ak, av, na, until, dropped) == 1;
    publish_end();
    cp_control_run_apply_fn fn = apply_fn;
    pthread_mutex_unlock(&run_mu);

    /* never wait for the agent's lifecycle lock here (the sender thread):
     * the JVM's exit holds it while it waits for the sender to deliver the
     * last window, so a control or a welcome's defaults arriving then would
     * hold that window until the exit gives up on it. Busy: the harvester's
     * next tick applies it. */
    cp_options_t eff;
    int rc = fn ? fn(true, &eff) : CP_ESTATE;
    if (rc == CP_CONTROL_RUN_BUSY)
        atomic_store_explicit(&apply_due, true, memory_order_relaxed);
    if (defaults)
        CP_LOGI("app defaults from the relay: %u option(s) taken, %u refused", na, nr);
    else
        CP_LOGI("control %s%s: %s, %u option(s) taken, %u refused%s", *id ? "id=" : "(no id)", id, c->command,
                na, nr, until ? " (timed)" : "");
    if (ended)
        ack(dropped, "reverted", NULL, 0, NULL, 0, rc ? NULL : &eff, 0);
    if (*id)
        ack(id, revert ? "reverted" : "applied", applied, na, refused, nr, rc ? NULL : &eff, until);
    return true;
}

void cp_control_run_tick(void)
{
    uint64_t ne = atomic_load_explicit(&next_end, memory_order_relaxed);   /* a hint, see publish_end */
    /* taken before applying: one put off meanwhile (by the sender) stays due */
    bool due = atomic_exchange_explicit(&apply_due, false, memory_order_relaxed);
    uint64_t now = cp_now_ms();
    if (!due && (!ne || ne > now))
        return;
    pthread_mutex_lock(&run_mu);
    char ids[CP_CTL_MAX_CHANGES][CP_CTL_ID_MAX];
    uint32_t n = cp_ctl_layers_expire(&layers, now, ids, CP_CTL_MAX_CHANGES);
    for (uint32_t i = 0; i < n && i < CP_CTL_MAX_CHANGES && n_ended < CP_CTL_MAX_CHANGES; i++)
        memcpy(ended_ids[n_ended++], ids[i], CP_CTL_ID_MAX);
    publish_end();
    cp_control_run_apply_fn fn = apply_fn;
    pthread_mutex_unlock(&run_mu);

    cp_options_t eff;
    int rc = fn ? fn(true, &eff) : CP_ESTATE;
    if (rc == CP_CONTROL_RUN_BUSY) {   /* the lifecycle is busy (a detach, an attach): next tick */
        atomic_store_explicit(&apply_due, true, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&run_mu);
    uint32_t k = n_ended;
    memcpy(ids, ended_ids, k * sizeof ids[0]);
    n_ended = 0;
    pthread_mutex_unlock(&run_mu);
    for (uint32_t i = 0; i < k; i++) {
        CP_LOGI("control id=%s ended (its time ran out): back to the app's defaults", ids[i]);
        ack(ids[i], "expired", NULL, 0, NULL, 0, rc ? NULL : &eff, 0);
    }
}
