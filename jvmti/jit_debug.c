/* jit_debug.c - DebugNonSafepoints through libjvm's symbol table. See
 * jit_debug.h. */
#include "jit_debug.h"

#include "error.h"
#include "symbols.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLAG "DebugNonSafepoints"

/* Does the JVM's command line (NUL-separated /proc/self/cmdline) or one of
 * the launcher's option variables mention the flag? */
static bool user_set_flag(void)
{
    static const char *const vars[] = {"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && strstr(v, FLAG))
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
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (strstr(buf + i, FLAG))
            return true;
    return false;
}

int cp_jit_debug_nonsafepoints(const char **how)
{
    if (user_set_flag()) {
        *how = "-XX:" FLAG " given by the user: left as it is";
        return 1;
    }
    uint64_t addr = 0;
    if (cp_symbols_find_data("libjvm.so", FLAG, sizeof(bool), &addr) != 0 || !addr) {
        *how = "libjvm.so names no " FLAG " flag";
        return CP_ENOTFOUND;
    }
    volatile bool *flag = (volatile bool *)(uintptr_t)addr;
    if (*flag) {
        *how = FLAG " already on";
        return 0;
    }
    *flag = true;
    *how = FLAG " switched on";
    return 0;
}

static pthread_t lookup_thread;
static bool lookup_started;
static int lookup_rc;
static const char *lookup_how;

static void *lookup_main(void *arg)
{
    (void)arg;
    lookup_rc = cp_jit_debug_nonsafepoints(&lookup_how);
    return NULL;
}

void cp_jit_debug_start(void)
{
    if (!lookup_started)
        lookup_started = pthread_create(&lookup_thread, NULL, lookup_main, NULL) == 0;
}

int cp_jit_debug_wait(const char **how)
{
    if (!lookup_started)
        return cp_jit_debug_nonsafepoints(how);
    pthread_join(lookup_thread, NULL);   /* publishes lookup_rc/how */
    lookup_started = false;
    *how = lookup_how;
    return lookup_rc;
}
