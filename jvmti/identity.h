/* identity.h - this JVM's identity and app name. Thread: the agent's
 * lifecycle (live phase: JVMTI system properties are readable). */
#ifndef CP_IDENTITY_H
#define CP_IDENTITY_H

#include <jvmti.h>
#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "sender.h"

/* Fills *id: host, pid, process start (ms since the epoch, from /proc),
 * a unique instance id, JVM vendor and version. */
void cp_identity_make(jvmtiEnv *jvmti, cp_sender_identity_t *id /* OUT */);

/* The app name into app[cap]: opts->app, else the main class or jar of
 * sun.java.command ("java" if none). On a Spark executor, adds the labels
 * spark.app.id, spark.executor.id and host to *opts. */
void cp_identity_app(jvmtiEnv *jvmti, cp_options_t *opts, char *app, size_t cap);

/* One agent per process: false when another copy of the library (loaded
 * from another path) already runs in this process. */
bool cp_identity_claim_process(void);

#endif
