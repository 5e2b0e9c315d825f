/* control_sync.h - keeps a relay's copy of the fleet control state (the
 * timed changes in force and the apps' defaults, control.h) in step with
 * the store, so several relays on one store (docs/scaleout.md) act as one:
 * a change POSTed to relay A reaches the agents connected to relay B, and
 * the agents that connect to B later, within about a second.
 *
 * The store is the truth. A thread with its own store reader calls `read`
 * every CP_CTL_SYNC_MS; each result (a snapshot, opaque here) replaces the
 * one not yet taken, and the service thread is woken (done-queue kind
 * CP_DONE_CONTROL) to take it (cp__control_sync_take) and apply it. A
 * failed read (the store away) gives NULL: nothing changes until the next
 * one succeeds.
 *
 * Thread: start/stop on main (before / after the service loop); the
 * thread calls read; take on the service thread. */
#ifndef CP_RELAY_CONTROL_SYNC_H
#define CP_RELAY_CONTROL_SYNC_H

#include <stdint.h>

#include "store.h"

#define CP_CTL_SYNC_MS 1000

/* A snapshot of the store's control state at now_ms, or NULL. */
typedef void *(*cp__ctl_read_fn)(cp_store_reader_t *r, int64_t now_ms);
typedef void (*cp__ctl_drop_fn)(void *snapshot);

/* Opens a reader on `where` and starts the thread. 0 or CP_E*. */
int   cp__control_sync_start(const char *where, cp__ctl_read_fn read, cp__ctl_drop_fn drop);
/* Stops and joins the thread; drops a snapshot not taken. */
void  cp__control_sync_stop(void);
/* The newest snapshot not taken yet (the caller owns it), or NULL. */
void *cp__control_sync_take(void);

#endif
