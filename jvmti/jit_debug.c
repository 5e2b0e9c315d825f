/* jit_debug.c - DebugNonSafepoints through libjvm's symbol table. See
 * jit_debug.h. */
#include "jit_debug.h"

#include "error.h"
#include "jvm_args.h"
#include "symbols.h"
#include "vmstructs.h"

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
    cp_vmstructs_tables_t t;
    void *where = NULL;
    bool by_vmstructs = cp_vmstructs_load(&t) == 0 && cp_vmstructs_find_flag(&t, FLAG, &where) == 0;
    if (!by_vmstructs) {
        uint64_t addr = 0;
        if (cp_symbols_find_data("libjvm.so", FLAG, sizeof(bool), &addr) != 0 || !addr) {
            *how = "libjvm.so names no " FLAG " flag";
            return CP_ENOTFOUND;
        }
        where = (void *)(uintptr_t)addr;
    }
    volatile bool *flag = (volatile bool *)where;
    if (*flag) {
        *how = by_vmstructs ? FLAG " already on (found through VMStructs)"
                            : FLAG " already on (found in libjvm's symbol table)";
        return 0;
    }
    *flag = true;
    *how = by_vmstructs ? FLAG " switched on (found through VMStructs)"
                        : FLAG " switched on (found in libjvm's symbol table)";
    return 0;
}
