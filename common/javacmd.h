/* javacmd.h - facts about the `java` launcher's command line, shared by the
 * agent (jvmti/spark.c: is this JVM a Spark executor?) and the CLI
 * (cli/procscan.c: which main class or jar does this process run?).
 * Pure functions; any thread; not for signal handlers (strcmp only, but
 * nothing there needs it). */
#ifndef CP_JAVACMD_H
#define CP_JAVACMD_H

#include <stdbool.h>

/* True when launcher option a ("-cp", "--module-path", ...) takes the next
 * word as its value, so that word is not the main class. */
bool cp_javacmd_takes_value(const char *a);

#endif
