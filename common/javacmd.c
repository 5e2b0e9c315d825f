/* javacmd.c - the java launcher's options that take a separate value.
 * One list, so the CLI's process scanner and the agent's Spark detection
 * skip the same words when they look for the main class. */
#include "javacmd.h"

#include <string.h>

bool cp_javacmd_takes_value(const char *a)
{
    static const char *const opts[] = {
        "-cp", "-classpath", "--class-path", "-p", "--module-path",
        "--upgrade-module-path", "--add-modules", "--limit-modules", "--add-reads",
        "--add-exports", "--add-opens", "--patch-module", "--source",
        "--enable-native-access", "--illegal-native-access", "-splash",
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(a, opts[i]))
            return true;
    return false;
}
