/* lws_lazy.h - libwebsockets (and through it OpenSSL) loaded when the
 * sender thread needs it, not when the JVM loads the agent (issue 14).
 *
 * The agent is not linked against libwebsockets or libcrypto: loading and
 * relocating them (libcrypto is BIND_NOW) cost ~5 ms on the JVM's main
 * thread before Agent_OnLoad, on every JVM start. lws_lazy.c defines the
 * few lws_* (and X509_*) functions the sender uses, with their header
 * prototypes, as calls through pointers that cp_lws_load() resolves with
 * dlopen/dlsym on the sender thread, where it overlaps the JVM's own start.
 *
 * A relay at ws:// does not need libwebsockets at all: the same calls are
 * served by the plain transport (ws_plain.h: a TCP socket, wslay for the
 * frames), which costs a fraction of loading libcrypto (6-11 ms of CPU in
 * a starting JVM, ~200 page faults, and glibc's loader lock held all the
 * while, which the JVM's main thread waits for when it links a native
 * method). wss:// loads libwebsockets; so does ws:// when wslay cannot be
 * loaded, or with CPROF_TRANSPORT=lws in the JVM's environment (a way
 * around the plain transport, should a proxy disagree with it).
 *
 * Until cp_lws_load() succeeded none of them may be called; every caller
 * is on the sender thread after it, or (lws_cancel_service) holds a
 * context that only exists after it. The calls go to the table chosen by
 * the last cp_lws_load(), so the sender calls it only with no context
 * alive (before each lws_create_context).
 *
 * Thread: cp_lws_load() from the sender thread; idempotent per kind. */
#ifndef CP_LWS_LAZY_H
#define CP_LWS_LAZY_H

#include <stdbool.h>

/* Chooses the calls for a context with TLS (`tls`: libwebsockets) or
 * without (the plain transport, else libwebsockets). 0, or CP_EUNSUPP with
 * *why set to a static or dlerror() text. */
int cp_lws_load(bool tls, const char **why);

/* After cp_lws_load: libwebsockets' errors and warnings (and notices at
 * loglevel=debug) go to the agent's log, as debug lines "lws: ...". */
void cp_lws_log_to_agent(void);

#endif
