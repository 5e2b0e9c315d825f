/* ws_plain.h - the sender's transport for a relay at ws://, without
 * libwebsockets and OpenSSL (issue 14).
 *
 * It implements the libwebsockets calls the sender makes (lws_funcs.h)
 * with the same contract, for one client connection at a time: a
 * non-blocking TCP socket (TCP_NODELAY), the opening handshake
 * (ws_handshake.h), frames by wslay (libwslay, dlopened here: the agent
 * does not link it, so a machine without it still starts its JVMs), poll()
 * with an eventfd for lws_cancel_service, and the timers of
 * lws_sul_schedule. The sender's callback sees the reasons it handles:
 * CLIENT_ESTABLISHED, CLIENT_CONNECTION_ERROR (with why), CLIENT_RECEIVE
 * (whole messages: first and final fragment at once), CLIENT_WRITEABLE
 * (when the socket and wslay's queue are empty), CLIENT_CLOSED,
 * WSI_DESTROY and EVENT_WAIT_CANCELLED. A callback's nonzero return closes
 * the connection (with the lws_close_reason status, else 1000).
 *
 * Why not libwebsockets for ws:// too: it links OpenSSL, whose loading in
 * a starting JVM costs 6-11 ms of CPU and holds glibc's loader lock
 * (lws_lazy.h); wslay is 26 KB with no dependencies.
 *
 * Thread: the sender thread, except lws_cancel_service (any thread, while
 * the context lives: lws_lazy.h). */
#ifndef CP_WS_PLAIN_H
#define CP_WS_PLAIN_H

#include "lws_funcs.h"

/* Fills *t with this transport's calls (dlopens wslay once). 0, or
 * CP_EUNSUPP with *why set. */
int cp_ws_plain_load(cp_lws_fns_t *t, const char **why);

#endif
