/* sender_acks.h - control_acks (docs/protocol.md, kind 8) waiting to be
 * sent to a relay that reads them.
 *
 * An ack is encoded when it is made (any thread) and kept until a
 * connection whose welcome listed "control_ack" is ready; the sender
 * thread then writes them before the next batch. A relay older than kind
 * 8 would close the connection on one (CP_EKIND), so none goes to it. At
 * most CP_SENDER_ACKS_MAX wait; a newer one pushes the oldest out (acks
 * describe state that the newest supersedes).
 *
 * Thread: push from any non-signal thread; next from the sender thread. */
#ifndef CP_SENDER_ACKS_H
#define CP_SENDER_ACKS_H

#include <stdbool.h>

#include "buf.h"
#include "wire.h"

#define CP_SENDER_ACKS_MAX 16

/* Encodes a and queues it. Returns 0 or CP_E*. Wakes the sender. */
int  cp_sender_acks_push(const cp_control_ack_t *a);

/* Moves the oldest queued ack into tx (reset, LWS_PRE bytes of headroom,
 * then the message). false when none waits. Thread: sender. */
bool cp_sender_acks_next(cp_buf_t *tx);

#endif
