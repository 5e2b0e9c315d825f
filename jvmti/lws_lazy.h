/* lws_lazy.h - libwebsockets (and through it OpenSSL) loaded when the
 * sender thread starts, not when the JVM loads the agent (issue 14).
 *
 * The agent is not linked against libwebsockets or libcrypto: loading and
 * relocating them (libcrypto is BIND_NOW) cost ~5 ms on the JVM's main
 * thread before Agent_OnLoad, on every JVM start. lws_lazy.c defines the
 * few lws_* (and X509_*) functions the sender uses, with their header
 * prototypes, as calls through pointers that cp_lws_load() resolves with
 * dlopen/dlsym on the sender thread, where it overlaps the JVM's own start.
 * Until cp_lws_load() succeeded none of them may be called; every caller
 * is on the sender thread after it, or (lws_cancel_service) holds a
 * context that only exists after it.
 *
 * Thread: cp_lws_load() from the sender thread; idempotent. */
#ifndef CP_LWS_LAZY_H
#define CP_LWS_LAZY_H

/* 0, or CP_EUNSUPP with *why set to a static or dlerror() text. */
int cp_lws_load(const char **why);

/* After cp_lws_load: libwebsockets' errors and warnings (and notices at
 * loglevel=debug) go to the agent's log, as debug lines "lws: ...". */
void cp_lws_log_to_agent(void);

#endif
