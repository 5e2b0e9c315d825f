/* sender_acks.c - control_acks waiting for a relay that reads them. See
 * sender_acks.h.
 *
 * A ring of CP_SENDER_ACKS_MAX encoded messages under acks_mu; the oldest
 * is overwritten when full. Thread: push any, next sender only. */
#include "sender_acks.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <string.h>

#include "error.h"
#include "sender.h"

static pthread_mutex_t acks_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_buf_t ring[CP_SENDER_ACKS_MAX];   /* encoded messages, no headroom */
static unsigned head, count;                 /* acks_mu */

int cp_sender_acks_push(const cp_control_ack_t *a)
{
    cp_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = CP_MSG_CONTROL_ACK;
    m.u.control_ack = *a;
    cp_buf_t b = CP_BUF_INIT;
    int rc = cp_wire_encode(&m, 0, &b);
    if (rc) {
        cp_buf_fini(&b);
        return rc;
    }
    pthread_mutex_lock(&acks_mu);
    if (count == CP_SENDER_ACKS_MAX) {   /* drop the oldest */
        cp_buf_fini(&ring[head]);
        head = (head + 1) % CP_SENDER_ACKS_MAX;
        count--;
    }
    unsigned slot = (head + count) % CP_SENDER_ACKS_MAX;
    cp_buf_fini(&ring[slot]);
    ring[slot] = b;
    count++;
    pthread_mutex_unlock(&acks_mu);
    cp_sender_wake();
    return 0;
}

bool cp_sender_acks_next(cp_buf_t *tx)
{
    pthread_mutex_lock(&acks_mu);
    if (!count) {
        pthread_mutex_unlock(&acks_mu);
        return false;
    }
    cp_buf_t b = ring[head];
    memset(&ring[head], 0, sizeof ring[head]);
    head = (head + 1) % CP_SENDER_ACKS_MAX;
    count--;
    pthread_mutex_unlock(&acks_mu);
    cp_buf_reset(tx);
    bool ok = cp_buf_reserve(tx, LWS_PRE + b.len) == 0;
    if (ok) {
        memset(tx->data, 0, LWS_PRE);
        memcpy(tx->data + LWS_PRE, b.data, b.len);
        tx->len = LWS_PRE + b.len;
    }
    cp_buf_fini(&b);
    return ok;
}
