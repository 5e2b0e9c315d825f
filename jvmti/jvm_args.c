/* jvm_args.c - the JVM's command line and option variables. See jvm_args.h. */
#include "jvm_args.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cp_jvm_args_mention(const char *needle)
{
    static const char *const vars[] = {"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && strstr(v, needle))
            return true;
    }
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)   /* NUL-separated arguments */
        if (strstr(buf + i, needle))
            return true;
    return false;
}
