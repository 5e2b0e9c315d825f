/* pending.h - the budget of connections that have not finished their
 * headers yet (--max-pending), oldest evicted first.
 *
 * Every TCP connection the relay accepts is "pending" from its creation
 * (LWS_CALLBACK_WSI_CREATE) until its first HTTP request or websocket
 * upgrade has complete headers (or it closes). Pending connections are the
 * cheap attack: 5,000 idle sockets each cost libwebsockets a wsi and a
 * timeout, and lws 4.1 keeps its timeouts in one sorted list that it walks
 * from the head on every insert, so accepting n idle sockets costs O(n^2)
 * (perf: ~47% of the relay's CPU in lws_dll2_add_sorted during the burst),
 * the listen queue backs up and a legitimate request made meanwhile waits
 * seconds for SYN retransmits. With at most budget.max_pending of them,
 * the (n+1)th closes the oldest one that has no unread bytes (FIONREAD;
 * among the 64 oldest, else the oldest), at once (LWS_TO_KILL_SYNC: lws
 * accepts a whole listen queue in one loop, before reading any request), so
 * accepting stays cheap, the listen queue drains, memory per idle socket is
 * bounded, and a legitimate client, whose request is waiting in its socket
 * when it is accepted, is not the one closed: it stops being pending as
 * soon as lws reads its headers.
 * Evictions are counted (stats.pending_evicted); stats.pending_now is the
 * gauge.
 *
 * Thread: service only (lws callbacks). */
#ifndef CP_RELAY_PENDING_H
#define CP_RELAY_PENDING_H

#include <libwebsockets.h>

/* A new connection: pending; evicts the oldest pending one past the cap. */
void cp__pending_add(struct lws *wsi);
/* Its headers are through, or it is going away: no longer pending. Any wsi
 * (one that is not pending, e.g. an HTTP/2 stream, is ignored). */
void cp__pending_done(struct lws *wsi);

#endif
