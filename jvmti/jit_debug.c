/* jit_debug.c - DebugNonSafepoints through libjvm's symbol table. See
 * jit_debug.h. */
#include "jit_debug.h"

#include "error.h"
#include "jvm_args.h"
#include "symbols.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FLAG "DebugNonSafepoints"

int cp_jit_debug_nonsafepoints(const char **how)
{
    if (cp_jvm_args_mention(FLAG)) {
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
