/* wire_arena.c - chunked arena for decoded messages (see wire_arena.h).
 *
 * Small allocations share 32 KiB chunks; one larger than a quarter chunk
 * gets a block of its own, linked behind the current chunk so the chunk's
 * free space stays usable.
 *
 * Thread: one at a time (the arena's owner). */
#include "wire_arena.h"

#include <stdlib.h>

typedef struct cp__achunk {
    struct cp__achunk *next;
    size_t             used, cap;
    max_align_t        data[];
} achunk_t;

#define ARENA_CHUNK (32 * 1024)

void *cp__arena_alloc(cp__arena_t *a, size_t n, size_t align)
{
    achunk_t *c = a->head;
    size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || off > c->cap || c->cap - off < n) {
        size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        if (a->limit && (cap > a->limit || a->held > a->limit - cap)) {
            a->over = true;
            return NULL;
        }
        achunk_t *nc = malloc(sizeof(achunk_t) + (cap ? cap : 1));
        if (!nc)
            return NULL;
        a->held += cap;
        nc->used = 0;
        nc->cap = cap;
        if (c && cap != ARENA_CHUNK) {       /* big block behind the current chunk */
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = c;
        a->head = nc;
        c = nc;
        off = 0;
    }
    void *p = (char *)c->data + off;
    c->used = off + n;
    return p;
}

void cp__arena_free(cp__arena_t *a)
{
    achunk_t *c = a->head;
    while (c) {
        achunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}
