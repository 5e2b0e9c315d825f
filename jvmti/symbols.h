/* symbols.h - names for native program counters, on the harvester.
 *
 * pc -> (object, function): the object is found with dl_iterate_phdr
 * (loaded objects and their load bias, refreshed when a pc falls in no
 * known object), the function in the object's ELF symbol table: .symtab
 * when the file has one (Debian's and Temurin's libjvm.so do: thousands of
 * internal C++ functions such as G1ParScanThreadState::trim_queue), else
 * the .symtab of a separate debug file found by GNU build id under
 * /usr/lib/debug/.build-id (Debian's libc6-dbg names libc's start_thread,
 * __memmove_avx_unaligned_erms...), else .dynsym (exported functions
 * only). The file is mapped read-only and the symbol table is read in
 * place (page cache, no copy); only a sorted array of (address, size,
 * name offset) of the object's functions is allocated, once per object,
 * on first use. C++ names are demangled with the C++ runtime's
 * __cxa_demangle (found with dlsym: libjvm links libstdc++), or left
 * mangled if it is absent. Where the process has no C++ runtime loaded
 * (Temurin links it statically into libjvm), the system's libstdc++.so.6
 * is dlopened locally, once, on the harvester.
 *
 * Thread: harvester only (not thread-safe, not signal-safe). */
#ifndef CP_SYMBOLS_H
#define CP_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

/* Looks up pc. *object (OUT): the object's file name without directory
 * ("libjvm.so"), or "" if pc is in no loaded object. Writes the
 * (demangled) function name into name, truncated to cap, or "" when no
 * symbol covers pc. Borrowed *object: valid until cp_symbols_reset().
 * Returns 0, or CP_ENOTFOUND when pc is in no loaded object. */
int cp_symbols_lookup(uint64_t pc, const char **object /* OUT */, char *name, size_t cap);

/* The address of the function symbol covering pc, 0 when none does: two
 * pcs in one function name the same frame (a cache key that needs no
 * demangling). */
uint64_t cp_symbols_function(uint64_t pc);

/* The run-time address of the data (STT_OBJECT) symbol `name`, of `size`
 * bytes (0: any size), of the loaded object whose file name is `object`
 * ("libjvm.so"), from its
 * .symtab, else its .dynsym; local symbols count (HotSpot's -XX flags are
 * local objects in libjvm's .symtab). Reads the file each call and keeps
 * nothing, so any thread may call it (not handlers). Returns 0, or
 * CP_ENOTFOUND (*addr = 0). */
int cp_symbols_find_data(const char *object, const char *name, uint64_t size, uint64_t *addr /* OUT */);

/* The CPU time spent loading symbol tables so far (one-time work on the
 * first lookup in an object: ~10-30 ms for libjvm.so), so callers can
 * count it as fixed cost, not per-sample cost. Any thread. */
uint64_t cp_symbols_load_ns(void);

/* Loads the symbol table of the object holding pc now, so that the first
 * lookup in it later is quick (the harvester's first work: libjvm.so,
 * while the JVM's main thread runs, not in a short JVM's last window). */
void cp_symbols_preload(uint64_t pc);

/* Forgets every object (unmaps files). */
void cp_symbols_reset(void);

/* Objects with a symbol table loaded, and total symbols held. */
void cp_symbols_stats(uint32_t *objects /* OUT */, uint64_t *symbols /* OUT */);

#endif
