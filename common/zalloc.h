/* zalloc.h - zeroed memory for hash tables that are probed before they are
 * filled.
 *
 * calloc of a large block returns fresh mmap'ed pages without writing them.
 * A probe that reads an untouched page maps the shared zero page; the first
 * insert into that page then takes a copy-on-write fault, which must flush
 * the old mapping from every CPU's TLB: an IPI to the CPUs running the
 * process's other threads, ~5-15 us on these VMs. perf on the harvester of
 * a javac run (issue 14): 39 of the prefix index's 60 samples were such
 * faults. Writing the zeroes at allocation takes one plain fault per page
 * instead (no earlier mapping, no flush).
 *
 * Thread: any; not async-signal-safe (malloc). */
#ifndef CP_ZALLOC_H
#define CP_ZALLOC_H

#include <stdlib.h>

/* Like calloc(n, size), with every page written. NULL on overflow or OOM.
 * Not malloc + memset: GCC turns that pair into calloc. One volatile store
 * per page: a fresh page takes its fault now; a recycled one is already
 * there. */
static inline void *cp_zalloc_written(size_t n, size_t size)
{
    volatile unsigned char *p = calloc(n, size);
    size_t bytes = n * size;   /* calloc checked the product */
    if (p && bytes) {
        for (size_t off = 0; off < bytes; off += 4096)
            p[off] = 0;
        p[bytes - 1] = 0;
    }
    return (void *)p;
}

#endif
