/* hotspot_int.h - what the two halves of the HotSpot attach client share:
 * hotspot_attach.c (inspect the target, send the load command) and
 * hotspot_stage.c (put the agent library where the target can read it).
 * Not for other modules: they use hotspot_attach.h. */
#ifndef CP_CLI_HOTSPOT_INT_H
#define CP_CLI_HOTSPOT_INT_H

#include <stddef.h>

#define AGENT_BASENAME "libcprof-jvm"

/* snprintf into err (if err and errlen). */
void cp__hs_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
