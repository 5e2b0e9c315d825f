/* procfile.h - reading small files of /proc (stat, cmdline, environ, maps
 * lines) without guessing their size up front.
 *
 * /proc files report st_size 0 and are produced on read, so both readers
 * loop on read(2) until EOF. cp_procfile_read_all grows its buffer from
 * 4 KB: a command line of a few hundred bytes costs a few hundred bytes,
 * not the 4 MB a long classpath may need (a 4 MB malloc per look is an
 * mmap + munmap, and with MALLOC_PERTURB_ a 4 MB memset).
 * Thread: any (no global state). */
#ifndef CP_PROCFILE_H
#define CP_PROCFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads up to cap-1 bytes of path into buf and NUL-terminates it.
 * Returns the length, or -errno (nothing read: buf is "" if cap > 0). */
ssize_t cp_procfile_read(const char *path, char *buf /* OUT */, size_t cap);

/* Reads the whole of path into a malloc'd, NUL-terminated buffer (*out,
 * caller frees), up to max-1 bytes (a longer file is cut there).
 * Returns the length, or -errno (*out NULL; -ENOMEM if out of memory). */
ssize_t cp_procfile_read_all(const char *path, char **out /* OUT */, size_t max);

#endif
