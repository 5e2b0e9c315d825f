/* pyelf.h - find a CPython interpreter inside another process.
 *
 * CPython keeps all interpreter state reachable from one global,
 * `_PyRuntime`, exported in the dynamic symbol table of the `python3.X`
 * binary (statically linked builds, Debian's /usr/bin/python3.11) or of
 * `libpython3.X.so` (shared builds, pyenv's). This module reads
 * /proc/PID/maps, picks the mapping of either file, opens it through
 * /proc/PID/root (so a process in another mount namespace is read from its
 * own files), walks its ELF program headers to PT_DYNAMIC and looks the
 * symbols up in .dynsym (the hash table gives its size), then adds the
 * mapping's load bias. No section headers are needed: a stripped binary
 * works as long as it exports the symbol, which CPython always does.
 *
 * The minor version comes from the file name (`python3.11`,
 * `libpython3.12.so.1.0`), else from the exported `Py_Version` (3.11+),
 * which the caller reads from the process.
 *
 * Thread: any; no global state. Not signal-safe (opens files, allocates). */
#ifndef CP_PYELF_H
#define CP_PYELF_H

#include <stdint.h>
#include <sys/types.h>

typedef struct cp_pyelf {
    uint64_t runtime;      /* run-time address of _PyRuntime in the process */
    uint64_t py_version;   /* run-time address of Py_Version (uint32), 0 if not exported */
    int major, minor;      /* from the file name; 0 when the name does not say */
    char path[256];        /* the file that exports _PyRuntime, as mapped */
} cp_pyelf_t;

/* Finds the interpreter of process pid. Returns 0 and fills *out;
 * CP_ENOTFOUND when no mapping looks like python or libpython, or when it
 * does not export _PyRuntime; CP_EIO when /proc cannot be read (the
 * process is gone or not ours). */
int cp_pyelf_find(pid_t pid, cp_pyelf_t *out /* OUT */);

/* The address of dynamic symbol `name` in the ELF file at `file`, relative
 * to its first PT_LOAD's page (add the load base of the file's mapping at
 * offset 0 to get a run-time address). For the unit test and for
 * cp_pyelf_find. Returns 0, CP_ENOTFOUND, CP_EIO or CP_EINVAL (not a
 * 64-bit little-endian ELF). */
int cp_pyelf_dynsym(const char *file, const char *name, uint64_t *off /* OUT */);

#endif
