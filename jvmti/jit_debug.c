/* jit_debug.c - DebugNonSafepoints through libjvm's symbol table. See
 * jit_debug.h. */
#include "jit_debug.h"

#include "error.h"
#include "jvm_args.h"
#include "symbols.h"
#include "vmflags.h"

#include <string.h>
#include <stdbool.h>
#include <stdint.h>

#define FLAG "DebugNonSafepoints"

int cp_jit_debug_nonsafepoints(const char **how)
{
    if (cp_jvm_args_mention(FLAG)) {
        *how = "-XX:" FLAG " given by the user: left as it is";
        return 1;
    }
    /* the JVM's flag table (VMStructs, live phase: microseconds), else
     * libjvm's ELF symbol table (3-5 ms: the whole .symtab scanned) */
    cp_vmflags_tables_t t;
    void *where = NULL;
    const char *via = "VMStructs";
    if (cp_vmflags_load(&t) != 0 || cp_vmflags_find(&t, FLAG, &where) != 0 || !where) {
        uint64_t addr = 0;
        via = "libjvm's symbol table";
        if (cp_symbols_find_data("libjvm.so", FLAG, sizeof(bool), &addr) != 0 || !addr) {
            *how = "libjvm.so names no " FLAG " flag";
            return CP_ENOTFOUND;
        }
        where = (void *)(uintptr_t)addr;
    }
    volatile bool *flag = (volatile bool *)where;
    if (*flag) {
        *how = strcmp(via, "VMStructs") ? FLAG " already on (found in libjvm's symbol table)"
                                       : FLAG " already on (found through VMStructs)";
        return 0;
    }
    *flag = true;
    *how = strcmp(via, "VMStructs") ? FLAG " switched on (found in libjvm's symbol table)"
                                   : FLAG " switched on (found through VMStructs)";
    return 0;
}
